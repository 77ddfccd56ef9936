"""Tick sequence numbers unique per producer id across restarts: ``(pid, seq)`` identifies a tick.

``seq`` counts ticks, starting each socket run at ``max(last seq handed out, wall second << 31)``:
a virtual clock in units of 2**-31 s. A run hands out fewer than 2**31 ticks per second, so its
seqs stay below ``(now + 1) << 31``, and a run started a second or more later starts above every
seq the earlier one used, in this process or any earlier one (crash, kill -9, a replaced task).
The last seq is also kept in the journal directory (``seq`` file), so a clock stepped backwards
or a restart within the same second still cannot reuse one while that directory persists.

Range: ``seq < 2**63`` (a signed int64, Parquet/Athena ``bigint``) until the year 2106.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

SEQ_SHIFT: Final = 31
SEQ_FILE: Final = "seq"


def seq_floor(wall: float) -> int:
    """The lowest seq a run starting at ``wall`` (epoch s) may hand out (minus one)."""
    return int(wall) << SEQ_SHIFT


class SeqStore:
    """The last seq handed out, kept in ``directory`` (best effort: the clock is the main guarantee)."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / SEQ_FILE
        self.last = self._read()

    def _read(self) -> int:
        try:
            return max(0, int(self.path.read_text().strip()))
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:
            log.warning("cannot read the last tick seq from %s (%s); the clock alone keeps seq unique", self.path, exc)
            return 0

    def start(self, wall: float | None = None) -> int:
        """The seq_start of a new socket run (its first tick gets this + 1)."""
        self.last = max(self.last, seq_floor(time.time() if wall is None else wall))
        self.save(self.last)
        return self.last

    def save(self, last: int) -> None:
        self.last = max(self.last, last)
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(f"{self.last}\n")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("cannot keep the last tick seq in %s (%s)", self.path, exc)
