"""Gap records: intervals in which the producer has no data for some symbols, for backfill to fill.

A gap is one JSON object ``{"symbols": [...], "from": epoch s, "to": epoch s, "reason": ...,
"pid": producer id, "recorded": epoch s, "v": 1}`` stored at
``state/gaps/dt=<UTC date of from>/<pid>-<from>-<reason>-<n>.json`` (``names.GAPS``).

Reasons: ``disconnect`` (socket down: from the last frame received, not from when the loss was
noticed), ``auth`` (cannot authenticate), ``journal_full`` (ticks that could not be kept; one record
per interval of drops, with ``ticks``, the exact count), ``restart`` (the producer was not reading:
from the moment a clean stop stopped reading, or from the oldest tick a killed run held only in
memory, to the first subscription after the start; found in the journal directory's heartbeat). A write that fails is kept in memory and retried by
:meth:`GapRecorder.retry`, so an S3 outage does not lose the gap either.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import orjson

from tickpipe import names

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

REASONS = ("disconnect", "auth", "journal_full", "restart")


def gap_key(gap: dict[str, Any], n: int) -> str:
    day = dt.datetime.fromtimestamp(gap["from"], dt.UTC).date().isoformat()
    return f"{names.partition(names.GAPS, day)}{gap['pid']}-{int(gap['from'])}-{gap['reason']}-{n}.json"


class GapRecorder:
    """Writes gap records to the lake; tracks open intervals by reason."""

    def __init__(self, s3: S3Client, bucket: str, producer_id: str, *, clock: Callable[[], float],
                 on_gap: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.pid = producer_id
        self.clock = clock
        self.on_gap = on_gap
        self._open: dict[str, tuple[float, frozenset[str]]] = {}
        self._unsent: list[tuple[str, bytes]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self.recorded: list[dict[str, Any]] = []

    def open(self, reason: str, symbols: Iterable[str], at: float | None = None) -> None:
        """Start an interval without data (no-op if one for this reason is already open)."""
        with self._lock:
            if reason not in self._open:
                self._open[reason] = (self.clock() if at is None else at, frozenset(symbols))

    def is_open(self, reason: str) -> bool:
        return reason in self._open

    def oldest_open(self) -> float | None:
        """Start of the earliest interval still open (not yet recorded), or None."""
        with self._lock:
            return min((start for start, _ in self._open.values()), default=None)

    def oldest_unsent(self) -> float | None:
        """``from`` of the earliest gap not yet stored, or None."""
        with self._lock:
            return min((orjson.loads(body)["from"] for _, body in self._unsent), default=None)

    def close(self, reason: str, at: float | None = None) -> dict[str, Any] | None:
        """End the open interval for ``reason`` and record it."""
        with self._lock:
            opened = self._open.pop(reason, None)
        if opened is None:
            return None
        start, symbols = opened
        return self.record(symbols, start, self.clock() if at is None else at, reason)

    def close_all(self, at: float | None = None) -> None:
        for reason in list(self._open):
            self.close(reason, at)

    def record(self, symbols: Iterable[str], start: float, end: float, reason: str,
               ticks: int | None = None) -> dict[str, Any]:
        """Store one gap; ``ticks`` is the exact number of ticks lost in it, where that is known."""
        gap: dict[str, Any] = {"symbols": sorted(set(symbols)), "from": int(start), "to": int(end) + (end > int(end)),
               "reason": reason, "pid": self.pid, "recorded": int(self.clock()), "v": 1}
        if ticks is not None:
            gap["ticks"] = ticks
        key = gap_key(gap, next(self._seq))
        log.warning("gap recorded: %d symbols, %s for %.0f s (%s)", len(gap["symbols"]), reason, end - start, key)
        self.recorded.append(gap)
        if self.on_gap:
            self.on_gap(gap)
        with self._lock:
            self._unsent.append((key, orjson.dumps(gap) + b"\n"))
        self.retry()
        return gap

    def retry(self) -> int:
        """Write gaps not yet stored. Returns how many are still unsent."""
        with self._lock:
            pending, self._unsent = self._unsent, []
        failed = []
        for key, body in pending:
            try:
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
            except Exception as exc:  # noqa: BLE001 - kept and retried; the producer goes on
                log.error("cannot store gap %s in s3://%s (%s); will retry", key, self.bucket, exc)
                failed.append((key, body))
        with self._lock:
            self._unsent[:0] = failed
            return len(self._unsent)
