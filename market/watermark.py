"""Watermark records: a producer's promise that it has sent every tick up to a feed time.

Stream contract (docs/DESIGN.md "Watermark record"): one JSON object on a line of its own,
``{"kind":"wm","pid":…,"ts":…,"state":…,"v":1}``, a user record of its own (a plain Kinesis record, or
one inside a KPL aggregate behind that shard's ticks it follows) in each shard the producer writes to
(``ExplicitHashKey`` inside the shard's range), after every tick it read before. ``pid`` is the producer id (``ANY`` = every producer on the shard: the
scheduled safety net), ``ts`` the feed's exchange time (epoch s), ``state`` ``open`` while the
session runs and ``closed`` for the last one of a session. ``kind`` tells it from a tick, which has
none: Firehose lands watermarks in raw/ticks beside the ticks, and every reader of raw/ticks skips
them (they are no tick and count in no tick total).

Pure: bytes in, values out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import orjson

from market.errors import WatermarkError

KIND: Final = "wm"
ANY: Final = "*"  # pid of a watermark for every producer on the shard (the end-of-session safety net)
STATES: Final = ("open", "closed")
WATERMARK_VERSION: Final = 1
MAX_WATERMARK_BYTES: Final = 1024
# every watermark line holds this, and no tick does (a tick has no "kind")
MARKER: Final = b'"kind":"wm"'
# partition keys of watermark records start so (a symbol's key is EXCHANGE:NAME; no exchange is "wm")
KEY_PREFIX: Final = "wm:"


@dataclass(frozen=True)
class Watermark:
    pid: str
    ts: int
    state: str = "open"

    def encode(self) -> bytes:
        """The record's bytes (JSON + newline, so that raw objects stay one record a line)."""
        return orjson.dumps({"kind": KIND, "pid": self.pid, "ts": self.ts, "state": self.state,
                             "v": WATERMARK_VERSION}, option=orjson.OPT_APPEND_NEWLINE)


def is_watermark(data: bytes) -> bool:
    """Whether a record or line claims to be a watermark (cheap: no parsing)."""
    return MARKER in data


def decode(data: bytes) -> Watermark:
    """Parse and check one watermark record. Raises WatermarkError with the reason."""
    if len(data) > MAX_WATERMARK_BYTES:
        raise WatermarkError(f"watermark record of {len(data)} bytes (at most {MAX_WATERMARK_BYTES})")
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise WatermarkError(f"watermark record is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise WatermarkError("not a watermark record (kind is not 'wm')")
    if doc.get("v") != WATERMARK_VERSION:
        raise WatermarkError(f"unsupported watermark version {doc.get('v')!r} (this reader knows {WATERMARK_VERSION})")
    pid, ts, state = doc.get("pid"), doc.get("ts"), doc.get("state")
    if not isinstance(pid, str) or not pid:
        raise WatermarkError(f"watermark field 'pid' must be a non-empty string, got {pid!r}")
    if type(ts) is not int or not 0 <= ts < 1 << 40:
        raise WatermarkError(f"watermark field 'ts' must be epoch seconds, got {ts!r}")
    if state not in STATES:
        raise WatermarkError(f"watermark field 'state' must be one of {STATES}, got {state!r}")
    return Watermark(pid, ts, state)


def drop_watermark_lines(data: bytes) -> tuple[bytes, int]:
    """Raw JSON lines without the watermark lines: (the other lines, how many watermarks were dropped).

    Only a line that decodes as a valid watermark goes; a line that merely contains the marker
    stays, so the reader's own check quarantines it with its reason instead of losing it silently."""
    if MARKER not in data:
        return data, 0
    lines = data.split(b"\n")
    keep = [line for line in lines if MARKER not in line or not _valid(line)]
    return b"\n".join(keep), len(lines) - len(keep)


def _valid(line: bytes) -> bool:
    try:
        decode(line)
    except WatermarkError:
        return False
    return True
