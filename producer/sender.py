"""PutRecords with per-shard order, partial-failure retries, shard-map refresh and journal spill.

Order: a PutRecords call carries at most one record per shard. Kinesis may accept a shard's
later record and reject an earlier one in the same call, and then the later one has overtaken;
with one record per shard per call a failed record simply stays at the head of its shard's queue
and is retried (capped exponential backoff with jitter, per shard) before anything behind it.
Records are up to one PUT payload unit (25 KiB), so a shard gets about 25 KiB per round trip,
around its 1 MiB/s limit at in-region latencies.

Shard map: refreshed every ``map_refresh`` seconds, when a record lands on a shard other than
the one it was aggregated for (``ShardId`` in the response: the map is stale), and after
``ResourceNotFound``/``InvalidArgument`` errors. Records built for the old map ("old generation":
their shard id is not in the new map) are delivered before any record of the new map, so a
symbol whose shard changed keeps its order.

Journal: when the records waiting in memory pass ``max_pending_bytes``, or the oldest waits
longer than ``spill_after`` seconds (Kinesis unreachable or throttling for long), everything
waiting and everything that arrives after goes to the journal instead. Once memory is empty the
journal is read back in chunks, re-aggregated with the current shard map, delivered, and
committed; when it is empty the sender goes back to memory. If the journal is full (or its disk
fails) the record is handed to ``on_dropped`` (which records the gap) — loudly, never silently.

Faults: every exception a PutRecords call can raise is a failed call, retried: botocore's errors
without a response (a connection reset mid-request is ``ConnectionClosedError``, a Kinesis that
stops answering ``ReadTimeoutError``, a closed port ``EndpointConnectionError``; their ``response``
is missing or None), ``ClientError`` with any status, and a response that does not match the call
(a result per record is the contract). Stopping keeps a call from outlasting the stop deadline:
:meth:`Sender.drain` starts no call that could end after it (``call_timeout``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from producer.aggregator import PUT_UNIT_BYTES, AggRecord, Aggregator
from producer.errors import BadResponseError, JournalError
from producer.journal import Journal, Position
from producer.metrics import Metrics
from producer.shards import ShardMap
from tickpipe.aws_errors import error_code
from tickpipe.backoff import Backoff
from tickpipe.kpl import keyed_records

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient

log = logging.getLogger(__name__)

MAX_CALL_RECORDS: Final = 500
MAX_CALL_BYTES: Final = 5 * 1024 * 1024
THROTTLED: Final = "ProvisionedThroughputExceededException"
DROP_LOG_EVERY: Final = 10.0  # s between "journal full" log lines


@dataclass
class SenderStats:
    records_sent: int = 0
    ticks_sent: int = 0
    bytes_sent: int = 0
    calls: int = 0
    retries: int = 0
    throttles: int = 0
    call_errors: int = 0
    spilled_records: int = 0
    replayed_records: int = 0
    dropped_records: int = 0
    dropped_ticks: int = 0
    map_refreshes: int = 0
    kept_ticks: int = 0  # journalled by close() at stop
    lost_ticks: int = 0  # neither delivered, journalled nor handed to on_dropped (no journal)




def _results(resp: Any, batch_size: int) -> list[dict[str, Any]]:
    records = resp.get("Records") if isinstance(resp, dict) else None
    if not isinstance(records, list) or len(records) != batch_size or not all(isinstance(r, dict) for r in records):
        got = len(records) if isinstance(records, list) else type(records).__name__
        raise BadResponseError(f"PutRecords answered {got} results for {batch_size} records")
    return records


class Sender:
    def __init__(self, kinesis: KinesisClient, stream: str, shard_map: ShardMap, *, journal: Journal | None = None,
                 metrics: Metrics | None = None,
                 on_map_change: Callable[[ShardMap], None] | None = None,
                 on_dropped: Callable[[AggRecord], None] | None = None,
                 load_map: Callable[[], ShardMap] | None = None,
                 max_pending_bytes: int = 16 << 20, spill_after: float = 10.0,
                 backoff_base: float = 0.05, backoff_cap: float = 5.0, map_refresh: float = 60.0,
                 record_bytes: int = PUT_UNIT_BYTES, call_timeout: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.kinesis = kinesis
        self.stream = stream
        self.shard_map = shard_map
        self.journal = journal
        self.metrics = metrics or Metrics()
        self.on_map_change = on_map_change
        self.on_dropped = on_dropped
        self.load_map = load_map
        self.max_pending_bytes = max_pending_bytes
        self.spill_after = spill_after
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._retry_backoff = Backoff(backoff_base, backoff_cap)
        self.map_refresh = map_refresh
        self.call_timeout = call_timeout  # the longest a PutRecords call can take (connect + read timeouts)
        self.clock = clock
        self.stats = SenderStats()
        self._mem_oldest: float | None = None  # oldest record in the queues that is not in the journal
        self._drop_log_at = -1e9  # journal-full log lines are rate limited
        self._drops_unlogged = 0
        self._cond = threading.Condition()
        self._inbox: deque[AggRecord] = deque()
        self._queues: dict[str, deque[AggRecord]] = {}
        self._retry_at: dict[str, float] = {}
        self._attempts: dict[str, int] = {}
        self.pending_bytes = 0
        self.pending_records = 0
        self._replay_pos: Position | None = None
        self._replay_agg = Aggregator(shard_map, self._enqueue, max_bytes=record_bytes, max_age=0, clock=clock)
        self._next_refresh = clock() + map_refresh
        self._refresh_wanted = False
        self._last_refresh = clock()
        self.spilling = bool(journal and journal.unread) or not shard_map.known
        if not shard_map.known:
            self._next_refresh = clock() + 2.0
        if journal and journal.unread:
            log.warning("journal holds %d entries from an earlier run: replaying them first", journal.unread)
        elif not shard_map.known:
            log.warning("the stream's shard map is not known yet (Kinesis unreachable?): journaling until it is")

    # -- input (any thread) -------------------------------------------------------------------
    def submit(self, rec: AggRecord) -> None:
        with self._cond:
            self._inbox.append(rec)
            self._cond.notify()

    @property
    def idle(self) -> bool:
        """Nothing waiting anywhere (memory, inbox, journal)."""
        return not self._inbox and not self.pending_records and not (self.journal and self.journal.pending_entries)

    def oldest_in_memory(self) -> float | None:
        """Monotonic creation time of the oldest record held only in memory (not delivered, not in
        the journal), or None. Any thread; it may err early (never late) while the sender works."""
        with self._cond:
            inbox = self._inbox[0].created if self._inbox else None
            queued = self._mem_oldest
        times = [t for t in (inbox, queued) if t is not None]
        return min(times) if times else None

    def pending_ticks_estimate(self) -> int:
        """Ticks in memory (inbox and queues), read from another thread: an estimate for loss reports."""
        with self._cond:
            n = sum(r.count for r in self._inbox)
        if not self.spilling:
            for q in list(self._queues.values()):
                n += sum(r.count for r in list(q))
        return n

    # -- internals ----------------------------------------------------------------------------
    def _enqueue(self, rec: AggRecord) -> None:
        q = self._queues.get(rec.shard_id)
        if q is None:
            q = self._queues[rec.shard_id] = deque()
        q.append(rec)
        self.pending_bytes += len(rec.data)
        self.pending_records += 1

    def _to_journal(self, rec: AggRecord) -> bool:
        """Journal a record; if it cannot be kept, count it and hand it to ``on_dropped``. True if kept."""
        assert self.journal is not None
        try:
            if self.journal.append(rec.data):
                self.stats.spilled_records += 1
                return True
            why = f"JOURNAL FULL ({self.journal.max_bytes} bytes at {self.journal.dir})"
        except (JournalError, OSError) as exc:  # the disk failed: the same loss as a full journal, reported as such
            why = f"JOURNAL WRITE FAILED ({exc})"
        self.stats.dropped_records += 1
        self.stats.dropped_ticks += rec.count
        self.metrics.add("TicksDropped", rec.count)
        self._drops_unlogged += rec.count
        now = self.clock()
        if now - self._drop_log_at >= DROP_LOG_EVERY:  # one line per interval, not one per record
            log.error("%s: %d ticks cannot be kept (%d in all so far); recording a gap", why, self._drops_unlogged,
                      self.stats.dropped_ticks)
            self._drop_log_at, self._drops_unlogged = now, 0
        if self.on_dropped:
            self.on_dropped(rec)
        return False

    def _take_inbox(self) -> None:
        with self._cond:
            items, self._inbox = self._inbox, deque()
            if items and not self.spilling and self._mem_oldest is None:
                self._mem_oldest = items[0].created  # set before the inbox looks empty to other threads
        for rec in items:
            if self.spilling:
                self._to_journal(rec)
            else:
                self._enqueue(rec)

    def _oldest_age(self, now: float) -> float:
        heads = [q[0].created for q in self._queues.values() if q]
        return now - min(heads) if heads else 0.0

    def _maybe_spill(self, now: float) -> None:
        if self.journal is None or self.spilling or not self.pending_records:
            return
        too_big = self.pending_bytes > self.max_pending_bytes
        too_old = self._oldest_age(now) > self.spill_after
        if not (too_big or too_old):
            return
        log.warning("Kinesis is not keeping up (%d records, %d bytes waiting, oldest %.1f s): spilling to the "
                    "journal at %s", self.pending_records, self.pending_bytes, self._oldest_age(now), self.journal.dir)
        self.spilling = True
        queues, self._queues = self._queues, {}
        self.pending_bytes = self.pending_records = 0
        self._retry_at.clear()
        self._attempts.clear()
        for q in queues.values():
            for rec in q:
                self._to_journal(rec)
        self._mem_oldest = None  # what memory holds from now on is a replay chunk, already in the journal

    def _replay(self) -> None:
        """While spilling and memory is empty: commit the delivered chunk, load the next."""
        if not self.spilling or self.pending_records or self.journal is None or not self.shard_map.known:
            return
        if self._replay_pos is not None:
            self.journal.commit(self._replay_pos)
            self._replay_pos = None
        if self.journal.unread:
            entries, pos = self.journal.read(max_bytes=4 << 20)
            for payload in entries:
                try:
                    for pk, data in keyed_records(payload):
                        self._replay_agg.add(pk, data)
                except ValueError as exc:
                    log.error("journal entry cannot be read back (%s); skipped", exc)
            self._replay_agg.flush()
            self._replay_pos = pos
            self.stats.replayed_records += len(entries)
            return
        with self._cond:  # inbox is empty here or it would have been journaled: safe to switch back
            if not self._inbox:
                self.spilling = False
                log.info("journal drained; sending from memory again")

    def _set_map(self, new_map: ShardMap) -> None:
        if new_map == self.shard_map:
            return
        log.info("shard map changed: %s -> %s", self.shard_map, new_map)
        self.stats.map_refreshes += 1
        self.shard_map = new_map
        self._replay_agg.set_shard_map(new_map)
        if self.on_map_change:
            self.on_map_change(new_map)  # flushes the live aggregator's old buffers into the inbox
        self._take_inbox()

    def refresh_map(self) -> None:
        if self.load_map is None:
            return
        try:
            new_map = self.load_map()
        except Exception as exc:  # noqa: BLE001 - retried at the next refresh
            log.warning("cannot refresh the shard map (%s); keeping %s", exc, self.shard_map)
            self._next_refresh = self.clock() + min(self.map_refresh, 2.0 if not self.shard_map.known else 5.0)
            return
        self._refresh_wanted = False
        self._last_refresh = self.clock()
        self._next_refresh = self._last_refresh + (self.map_refresh if new_map.known else 2.0)
        self._set_map(new_map)

    def _backoff(self, attempt: int) -> float:
        return self._retry_backoff.delay(attempt)  # attempt >= 1: the first retry waits up to 2 * base

    def _batch(self, now: float) -> list[AggRecord]:
        ids = self.shard_map.ids
        shards = [sid for sid, q in self._queues.items() if q]
        old = [sid for sid in shards if sid not in ids]
        if old:
            shards = old  # the previous map's records go first
        batch: list[AggRecord] = []
        size = 0
        for sid in shards:
            if self._retry_at.get(sid, 0.0) > now:
                continue
            rec = self._queues[sid][0]
            if batch and (len(batch) >= MAX_CALL_RECORDS or size + rec.size > MAX_CALL_BYTES):
                break
            batch.append(rec)
            size += rec.size
        return batch

    def _next_wakeup(self, now: float) -> float:
        times = [self._retry_at.get(sid, 0.0) for sid, q in self._queues.items() if q]
        return max(0.0, min(times) - now) if times else 1.0

    def _put(self, batch: list[AggRecord]) -> None:
        t0 = self.clock()
        self.stats.calls += 1
        self.metrics.add("PutCalls")
        try:
            resp = self.kinesis.put_records(StreamName=self.stream, Records=[r.entry() for r in batch])
            results = _results(resp, len(batch))
        except Exception as exc:  # noqa: BLE001 - reset, timeout, unreachable, 5xx, throttled call: retry all of it
            self.stats.call_errors += 1
            self.metrics.add("PutErrors")
            code = error_code(exc)
            if code in ("ResourceNotFoundException", "InvalidArgumentException"):
                self._refresh_wanted = True
            elif code in (THROTTLED, "LimitExceededException", "ThrottlingException"):
                self.stats.throttles += 1
                self.metrics.add("Throttles")
            now = self.clock()
            for rec in batch:
                n = self._attempts[rec.shard_id] = self._attempts.get(rec.shard_id, 0) + 1
                self._retry_at[rec.shard_id] = now + self._backoff(n)
            self.stats.retries += len(batch)
            self.metrics.add("Retries", len(batch))
            log.warning("PutRecords failed (%s%s: %s); %d records will be retried", type(exc).__name__,
                        f" {code}" if code else "", exc, len(batch))
            return
        now = self.clock()
        self.metrics.observe("PutLatency", (now - t0) * 1000)
        ids = self.shard_map.ids
        sent_records = sent_ticks = sent_bytes = 0
        for rec, result in zip(batch, results, strict=True):
            sid = rec.shard_id
            if "ErrorCode" in result:
                if result["ErrorCode"] == THROTTLED:
                    self.stats.throttles += 1
                    self.metrics.add("Throttles")
                n = self._attempts[sid] = self._attempts.get(sid, 0) + 1
                self._retry_at[sid] = now + self._backoff(n)
                self.stats.retries += 1
                self.metrics.add("Retries")
                continue
            self._queues[sid].popleft()
            self._attempts.pop(sid, None)
            self._retry_at.pop(sid, None)
            self.pending_records -= 1
            self.pending_bytes -= len(rec.data)
            sent_records += 1
            sent_ticks += rec.count
            sent_bytes += rec.size
            self.metrics.observe("RecordFill", 100.0 * rec.size / (-(-rec.size // PUT_UNIT_BYTES) * PUT_UNIT_BYTES))
            if result.get("ShardId") and result["ShardId"] != sid and sid in ids:
                self._refresh_wanted = True  # landed elsewhere: the map is stale (a reshard)
        if sent_records and not self.spilling:
            heads = [q[0].created for q in self._queues.values() if q]
            self._mem_oldest = min(heads) if heads else None
        self.stats.records_sent += sent_records
        self.stats.ticks_sent += sent_ticks
        self.stats.bytes_sent += sent_bytes
        self.metrics.add("Records", sent_records)
        self.metrics.add("TicksSent", sent_ticks)
        self.metrics.add("Bytes", sent_bytes)

    # -- the loop -----------------------------------------------------------------------------
    def step(self, wait: float = 0.05) -> bool:
        """One round: take input, maybe spill/replay/refresh, make at most one call. True if it called."""
        self._take_inbox()
        now = self.clock()
        if now >= self._next_refresh or (self._refresh_wanted and now - self._last_refresh >= 1.0):
            self.refresh_map()  # a wanted refresh waits 1 s after the last, so a stale map costs one ListShards/s
        self._maybe_spill(now)
        self._replay()
        if self.journal:
            self.journal.maybe_sync()
        batch = self._batch(now)
        if batch:
            self._put(batch)
            return True
        with self._cond:
            if not self._inbox:
                self._cond.wait(min(wait, self._next_wakeup(now)) if self.pending_records else wait)
        return False

    def run(self, stop: threading.Event) -> None:
        """Send until ``stop`` is set (the caller then calls :meth:`drain` and :meth:`close`)."""
        while not stop.is_set():
            self.step()

    def drain(self, timeout: float) -> bool:
        """Deliver what is waiting within ``timeout`` seconds; True if everything got out.

        No call starts that could outlast the deadline (``call_timeout``): what is left then is
        journalled by :meth:`close` in time, instead of a hung call holding it past a SIGKILL.
        """
        deadline = self.clock() + timeout
        while self.clock() + self.call_timeout < deadline:
            self.step(wait=0.01)
            if self.idle:
                return True
        return self.idle

    def close(self) -> tuple[int, int]:
        """Keep whatever is still undelivered in the journal for the next start, and close it.

        Call it from the thread that ran the sender, or after that thread has ended. Returns
        (ticks journalled now, ticks lost: there is no journal to keep them). Ticks the journal
        cannot hold go to ``on_dropped`` and count in neither.
        """
        kept = lost = 0
        with self._cond:
            items, self._inbox = self._inbox, deque()
        records: list[AggRecord] = []
        if not self.spilling:  # when spilling, memory holds a replay chunk still uncommitted in the journal
            for q in self._queues.values():
                records.extend(q)
        records.extend(items)  # after the queues: the inbox is newer
        self._queues = {}
        self.pending_records = self.pending_bytes = 0
        for rec in records:
            if self.journal is None:
                lost += rec.count
            elif self._to_journal(rec):
                kept += rec.count
        if lost:
            log.error("%d ticks undelivered at stop and no journal to keep them: LOST", lost)
        if self.journal is not None:
            self.journal.close()
        self.stats.kept_ticks += kept
        self.stats.lost_ticks += lost
        return kept, lost
