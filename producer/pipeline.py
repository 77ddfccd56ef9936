"""Ticks in, Kinesis records out: aggregator + flush timer + sender thread, owned together.

``on_ticks`` is called from the socket thread with each frame's ticks. The aggregator runs under a
lock (the flush timer and a shard-map change touch it too); finished records go to the sender's
inbox, and the sender thread does all network and disk work, so the socket thread never waits for
Kinesis.

A worker thread that dies (an exception nobody expected: a bug) is not restarted: its state may be
half-changed. It records :attr:`Pipeline.failure` and calls ``on_fatal``, which stops the producer;
:meth:`Pipeline.stop` then journals every record still in memory from the stopping thread and
reports exactly what it kept and what it could not (:class:`StopReport`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from producer.aggregator import AggRecord, Aggregator
from producer.errors import ShardMapError
from producer.journal import Journal
from producer.metrics import Metrics
from producer.sender import Sender
from producer.shards import ShardMap, load_shard_map, unknown_map
from producer.watermarks import Watermark, Watermarks, add_watermark

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient

log = logging.getLogger(__name__)


@dataclass
class StopReport:
    """What :meth:`Pipeline.stop` achieved, in ticks; nothing here is claimed that did not happen."""

    delivered: bool = False  # everything read reached Kinesis
    kept_ticks: int = 0  # journalled at stop, replayed at the next start
    lost_ticks: int = 0  # neither delivered nor journalled (no journal, or the sender never returned)


class Pipeline:
    def __init__(self, kinesis: KinesisClient, stream: str, *, journal: Journal | None, metrics: Metrics,
                 max_buffer_ms: int = 100, record_bytes: int = 25 * 1024, max_pending_bytes: int = 16 << 20,
                 spill_after: float = 10.0, map_refresh: float = 60.0, on_dropped: Any = None,
                 shard_map: ShardMap | None = None, call_timeout: float = 0.0,
                 on_fatal: Callable[[str], None] | None = None, clock: Callable[[], float] = time.time,
                 watermarks: Watermarks | None = None) -> None:
        self.metrics = metrics
        self.watermarks = watermarks  # producer/watermarks.py: sent by the flush thread
        self.clock = clock  # the producer's clock (gap times): wall time, or the simulator's
        self.on_fatal = on_fatal
        self.failure: str | None = None  # set when a worker thread died
        if shard_map is None:
            try:
                shard_map = load_shard_map(kinesis, stream)
            except ShardMapError:
                raise
            except Exception as exc:  # unreachable: start anyway, journal until it is back
                if journal is None:
                    raise
                log.warning("cannot read the shard map of %s (%s): journaling ticks until Kinesis answers",
                            stream, exc)
                shard_map = unknown_map()
        self._lock = threading.Lock()
        self.sender = Sender(kinesis, stream, shard_map, journal=journal, metrics=metrics,
                             on_map_change=self._map_changed, on_dropped=on_dropped,
                             load_map=lambda: load_shard_map(kinesis, stream), max_pending_bytes=max_pending_bytes,
                             spill_after=spill_after, map_refresh=map_refresh, record_bytes=record_bytes,
                             call_timeout=call_timeout)
        self.aggregator = Aggregator(shard_map, self._emit, max_bytes=record_bytes, max_age=max_buffer_ms / 1000)
        self.ticks_read = 0
        self.failed_ticks = 0  # read but never aggregated (a bug stopped the producer)
        self.last_tick_at: float | None = None  # monotonic
        self.last_tick_clock: float | None = None  # the producer clock's time of the latest frame
        self.last_tick_ts = 0  # exchange time (epoch s) of the latest tick
        self._stop = threading.Event()
        self._stop_sending = threading.Event()
        self._drain_until = 0.0
        self.delivered = False
        self._threads: list[threading.Thread] = []

    def _emit(self, rec: AggRecord) -> None:
        self.sender.submit(rec)

    def _map_changed(self, shard_map: ShardMap) -> None:
        with self._lock:
            self.aggregator.set_shard_map(shard_map)

    def on_ticks(self, ticks: list[dict[str, Any]]) -> None:
        """Take a frame's ticks (socket thread). Never blocks on the network."""
        if not ticks:
            return
        n = len(ticks)
        try:
            with self._lock:
                self.aggregator.add_ticks(ticks)
        except Exception as exc:  # noqa: BLE001 - a bug: stop the producer rather than go on losing ticks
            self.ticks_read += n
            self.failed_ticks += n
            self._died(f"aggregation failed: {type(exc).__name__}: {exc}")
            return
        self.ticks_read += n
        self.last_tick_at = time.monotonic()
        self.last_tick_clock = self.clock()
        self.metrics.add("Ticks", n)
        last = ticks[-1]
        ts = last.get("ts")
        if ts:
            if ts > self.last_tick_ts:
                self.last_tick_ts = ts
                if self.watermarks is not None:
                    self._feed_moved()
            if last.get("rx"):
                self.metrics.observe("FeedLag", last["rx"] - ts * 1000, n)

    def _flush_loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                self.aggregator.flush_due()
                if self.watermarks is not None:
                    self._send_watermark(self.watermarks.due(self.last_tick_ts, self.last_tick_at))
                due = self.aggregator.next_due()
            wait = 0.01 if due is None else min(0.01, max(0.0005, due - time.monotonic()))
            self._stop.wait(wait)

    def _feed_moved(self) -> None:
        """A tick moved the feed time: a watermark that is now due goes at once, not at the flush
        thread's next poll (socket thread; a failure stops the producer like any other bug)."""
        assert self.watermarks is not None
        try:
            with self._lock:
                self._send_watermark(self.watermarks.due(self.last_tick_ts, self.last_tick_at))
        except Exception as exc:  # noqa: BLE001 - a bug: stop the producer rather than go on without watermarks
            self._died(f"watermark failed: {type(exc).__name__}: {exc}")

    def _send_watermark(self, wm: Watermark | None) -> None:
        """Behind every tick read so far, to every open shard, in the same record as each shard's
        buffered ticks (producer/watermarks.py). Call under the lock."""
        if wm is not None:
            add_watermark(self.aggregator, wm)

    def final_watermark(self) -> None:
        """The session's last watermark (producer/watermarks.py), after its last tick."""
        if self.watermarks is not None:
            with self._lock:
                self._send_watermark(self.watermarks.final(self.last_tick_ts))

    def _send_loop(self) -> None:
        # The sender's state belongs to this thread alone until it ends; stop() then closes it.
        self.sender.run(self._stop_sending)
        self.delivered = self.sender.drain(max(0.0, self._drain_until - time.monotonic()))

    def _guarded(self, name: str, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:  # noqa: BLE001 - a dead worker must stop the producer, loudly
                self._died(f"{name} thread died: {type(exc).__name__}: {exc}")

        return run

    def _died(self, reason: str) -> None:
        log.critical("%s; stopping the producer after journalling what is in memory", reason, exc_info=True)
        if self.failure is None:
            self.failure = reason
        if self.on_fatal:
            self.on_fatal(reason)

    def start(self) -> Pipeline:
        for name, target in (("flush", self._flush_loop), ("sender", self._send_loop)):
            t = threading.Thread(target=self._guarded(name, target), name=f"producer-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def oldest_in_memory(self) -> float | None:
        """Monotonic time the oldest tick held only in memory (aggregator, sender) arrived, or None."""
        with self._lock:
            due = self.aggregator.next_due()
        times = [t for t in (None if due is None else due - self.aggregator.max_age,
                             self.sender.oldest_in_memory()) if t is not None]
        return min(times) if times else None

    @property
    def alive(self) -> bool:
        """Every worker thread is running (False once one has died)."""
        return self.failure is None

    def stop(self, timeout: float) -> StopReport:
        """Flush, deliver within ``timeout`` seconds, journal the rest; says what happened."""
        deadline = time.monotonic() + timeout
        report = StopReport(lost_ticks=self.failed_ticks)
        self._stop.set()
        flush, sender = self._threads
        flush.join(timeout=max(0.1, deadline - time.monotonic()))
        with self._lock:
            try:
                self.aggregator.flush()
            except Exception:
                lost = self.aggregator.buffered
                report.lost_ticks += lost
                log.critical("cannot flush the aggregator at stop: %d ticks LOST", lost, exc_info=True)
        # leave time to write the journal: it is what makes stopping lossless
        self._drain_until = deadline - min(2.0, timeout / 5)
        self._stop_sending.set()
        sender.join(timeout=max(0.1, deadline - time.monotonic()))
        if sender.is_alive():  # in a call that outlasts its timeout: wait for it, once more that long
            log.error("sender still busy at the stop deadline; waiting up to %.0f s for its call to end",
                      self.sender.call_timeout + 1)
            sender.join(timeout=self.sender.call_timeout + 1)
        if sender.is_alive():  # its records cannot be touched safely from here
            lost = self.sender.pending_ticks_estimate()
            report.lost_ticks += lost
            log.critical("the sender never returned: %d ticks in memory are LOST (not journalled)", lost)
            return report
        try:
            kept, lost = self.sender.close()
        except Exception:
            kept, lost = 0, self.sender.pending_ticks_estimate()
            log.critical("closing the journal failed: up to %d ticks may be LOST", lost, exc_info=True)
        report.kept_ticks, report.lost_ticks = kept, report.lost_ticks + lost
        report.delivered = self.delivered and not kept and not report.lost_ticks
        if kept:
            log.warning("stop: %d undelivered ticks kept in the journal %s for the next start", kept,
                        self.sender.journal.dir if self.sender.journal else "")
        return report

    def status(self) -> dict[str, Any]:
        s = self.sender
        return {
            "pending_records": s.pending_records,
            "spilling": s.spilling,
            "journal_depth": s.journal.pending_entries if s.journal else 0,
            "shards": len(s.shard_map),
        }
