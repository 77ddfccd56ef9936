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

**Where a gap ends.** A bar's volume is the change of the cumulative ``vol`` between a symbol's
consecutive ticks, so the first tick of a symbol after a loss carries every trade of the loss, in
the bucket of that tick, which may be minutes after the loss ended (the subscription snapshot comes
one publish later; an illiquid symbol's first tick much later). So ``to`` is not the moment the loss
ended but the latest *first tick* of the gap's symbols after it: :meth:`GapRecorder.seen` (called
with every frame's ticks) notes each symbol's first tick since the interval opened, at the later of
the producer's clock then and the tick's own event time (``ts``, ``ltt``: bars bucket by ``ltt``;
capped at ``market.tick.latest_time``, beyond which readers refuse the tick). :meth:`settle`
records an interval once it is closed and every symbol has ticked. Symbols still silent
``EDGE_WAIT`` s after the close are left for a record of their own: the others are recorded then,
and the silent ones with the same ``from`` when they tick (those of each further ``EDGE_WAIT`` s
together), so an illiquid symbol is covered up to its first tick without holding back everyone
else's record. At the session's end or at stop (:meth:`close_all`, :meth:`settle` ``final``) what
still waits is recorded up to that moment: no tick of it was read since, and the next run's
``restart`` gap starts no later.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import orjson

from market.session import BAR_SECONDS
from market.tick import latest_time
from tickpipe import names

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

REASONS = ("disconnect", "auth", "journal_full", "restart")
# How long (producer clock s) after a loss ends its record waits for every symbol's first tick
# before the symbols that ticked are recorded without the silent ones: one bar. Readers (backfill,
# reconcile) run after the session; a record a few minutes late costs nothing there.
EDGE_WAIT: Final = float(BAR_SECONDS)


@dataclass
class _Interval:
    """One loss: open (``end`` None) or over and waiting for its symbols' first ticks."""

    reason: str
    start: float
    symbols: set[str]
    waiting: set[str]  # symbols without a tick since the loss began
    edge: float | None = None  # the latest first tick (its time) among those that came
    end: float | None = None  # when the loss ended (None: still going on)
    last_lost: float | None = None  # journal_full: the last dropped tick's time
    ticks: int | None = None  # journal_full: ticks lost
    deadline: float = 0.0  # record who ticked by then, even if some symbols are still silent
    ticked: set[str] = field(default_factory=set)


def gap_key(gap: dict[str, Any], n: int) -> str:
    day = dt.datetime.fromtimestamp(gap["from"], dt.UTC).date().isoformat()
    return f"{names.partition(names.GAPS, day)}{gap['pid']}-{int(gap['from'])}-{gap['reason']}-{n}.json"


def tick_edge(tick: dict[str, Any], now: float) -> float:
    """Where a symbol's first tick after a loss puts the loss's end: the later of the producer's
    clock ``now`` and the tick's event time (``ts``, ``ltt``; at most ``latest_time(now)``)."""
    times = [float(t) for t in (tick.get("ts"), tick.get("ltt")) if isinstance(t, int | float) and not isinstance(t, bool)]
    return max(now, min(max(times), latest_time(now))) if times else now


class GapRecorder:
    """Writes gap records to the lake; tracks open intervals by reason, and closed ones until their
    symbols' first ticks came (module docstring)."""

    def __init__(self, s3: S3Client, bucket: str, producer_id: str, *, clock: Callable[[], float],
                 on_gap: Callable[[dict[str, Any]], None] | None = None, edge_wait: float = EDGE_WAIT) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.pid = producer_id
        self.clock = clock
        self.on_gap = on_gap
        self.edge_wait = edge_wait
        self._open: dict[str, _Interval] = {}
        self._ending: list[_Interval] = []
        self._awaited: frozenset[str] = frozenset()  # every waiting symbol: read by seen() without the lock
        self._unsent: list[tuple[str, bytes]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self.recorded: list[dict[str, Any]] = []

    # -- intervals ------------------------------------------------------------------------------
    def open(self, reason: str, symbols: Iterable[str], at: float | None = None) -> None:
        """Start an interval without data (no-op if one for this reason is already open)."""
        with self._lock:
            if reason not in self._open:
                syms = set(symbols)
                self._open[reason] = _Interval(reason, self.clock() if at is None else at, syms, set(syms))
                self._update_awaited()

    def add_drops(self, symbols: Iterable[str], first: float, last: float, ticks: int) -> None:
        """Ticks of ``symbols`` from ``first`` to ``last`` could not be kept: into the open
        ``journal_full`` interval (opened here). Each of these symbols waits for a tick read from
        now on: the next one of it that is kept carries the lost volume."""
        syms = set(symbols)
        with self._lock:
            iv = self._open.get("journal_full")
            if iv is None:
                iv = self._open["journal_full"] = _Interval("journal_full", first, set(), set(), ticks=0)
            iv.start = min(iv.start, first)
            iv.last_lost = last if iv.last_lost is None else max(iv.last_lost, last)
            iv.ticks = (iv.ticks or 0) + ticks
            iv.symbols |= syms
            iv.waiting |= syms
            iv.ticked -= syms
            self._update_awaited()

    def is_open(self, reason: str) -> bool:
        """The loss of this reason is going on (its interval is not closed)."""
        return reason in self._open

    def waiting(self) -> set[str]:
        """Symbols whose first tick after a loss has not come yet (their gap's ``to`` is not known)."""
        return set(self._awaited)

    def oldest_open(self) -> float | None:
        """Start of the earliest interval not yet recorded (open, or waiting for first ticks), or None."""
        with self._lock:
            return min((iv.start for iv in (*self._open.values(), *self._ending)), default=None)

    def oldest_unsent(self) -> float | None:
        """``from`` of the earliest gap not yet stored, or None."""
        with self._lock:
            return min((orjson.loads(body)["from"] for _, body in self._unsent), default=None)

    def seen(self, ticks: Sequence[dict[str, Any]]) -> None:
        """A frame's ticks were read (socket thread; cheap when no symbol waits): the first tick of
        each waiting symbol sets where its loss ends. Records nothing (no I/O here): see settle()."""
        awaited = self._awaited
        if not awaited:
            return
        hits = [t for t in ticks if t.get("sym") in awaited]
        if not hits:
            return
        now = self.clock()
        with self._lock:
            for t in hits:
                sym, edge = t["sym"], tick_edge(t, now)
                for iv in (*self._open.values(), *self._ending):
                    if sym in iv.waiting:
                        iv.waiting.discard(sym)
                        iv.ticked.add(sym)
                        iv.edge = edge if iv.edge is None else max(iv.edge, edge)
            self._update_awaited()

    def close(self, reason: str, at: float | None = None, *, wait: bool = True) -> dict[str, Any] | None:
        """End the open interval for ``reason`` (at ``at``; a journal_full one at its last dropped
        tick). With ``wait`` it is recorded by :meth:`settle` once its symbols' first ticks came
        (returns None unless they all did); without, now, ending at ``at`` (no tick follows: outside
        the session). Returns the record when one was made."""
        with self._lock:
            iv = self._open.pop(reason, None)
            if iv is None:
                return None
            now = self.clock()
            iv.end = at if at is not None else iv.last_lost if iv.last_lost is not None else now
            iv.deadline = max(now, iv.end) + self.edge_wait
            self._ending.append(iv)
        done = self._settle(final=not wait, at=iv.end, only=iv)
        return done[0] if done else None

    def settle(self, final: bool = False, at: float | None = None) -> list[dict[str, Any]]:
        """Record the closed intervals whose symbols all ticked; past an interval's deadline, its
        symbols that ticked (the silent ones wait on). ``final`` (the session's end, stop): record
        every closed interval, the silent symbols up to ``at`` (now by default). Returns the records."""
        return self._settle(final, at)

    def _settle(self, final: bool, at: float | None, only: _Interval | None = None) -> list[dict[str, Any]]:
        now = self.clock()
        ready: list[tuple[set[str], float, float, str, int | None]] = []
        with self._lock:
            for iv in list(self._ending):
                if only is not None and iv is not only:
                    continue
                end = iv.start if iv.end is None else iv.end
                if iv.edge is not None:
                    end = max(end, iv.edge)
                if not iv.waiting or final:
                    if iv.waiting:
                        end = max(end, now if at is None else at)
                    ready.append((iv.symbols | iv.waiting, iv.start, end, iv.reason, iv.ticks))
                    self._ending.remove(iv)
                elif now >= iv.deadline:
                    if iv.ticked:  # the silent symbols go on waiting, in a record of their own
                        ready.append((set(iv.ticked), iv.start, end, iv.reason, iv.ticks))
                        iv.symbols, iv.ticked, iv.edge, iv.ticks = set(iv.waiting), set(), None, None
                    iv.deadline = now + self.edge_wait
            self._update_awaited()
        return [self.record(syms, start, end, reason, ticks) for syms, start, end, reason, ticks in ready]

    def close_all(self, at: float | None = None) -> None:
        """Stop: end every open interval and record everything still waiting, up to ``at`` (now)."""
        for reason in list(self._open):
            self.close(reason, at)
        self.settle(final=True, at=at)

    def _update_awaited(self) -> None:  # under the lock
        self._awaited = frozenset().union(*(iv.waiting for iv in (*self._open.values(), *self._ending)))

    # -- records --------------------------------------------------------------------------------
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
