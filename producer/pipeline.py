"""Ticks in, Kinesis records out: aggregator + flush timer + sender thread, owned together.

``on_ticks`` is called from the socket thread with each frame's ticks. The aggregator runs under a
lock (the flush timer and a shard-map change touch it too); finished records go to the sender's
inbox, and the sender thread does all network and disk work, so the socket thread never waits for
Kinesis.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from producer.aggregator import AggRecord, Aggregator
from producer.errors import ShardMapError
from producer.journal import Journal
from producer.metrics import Metrics
from producer.sender import Sender
from producer.shards import ShardMap, load_shard_map, unknown_map

log = logging.getLogger(__name__)


class Pipeline:
    def __init__(self, kinesis: Any, stream: str, *, journal: Journal | None, metrics: Metrics,
                 max_buffer_ms: int = 100, record_bytes: int = 25 * 1024, max_pending_bytes: int = 16 << 20,
                 spill_after: float = 10.0, map_refresh: float = 60.0, on_dropped: Any = None,
                 shard_map: ShardMap | None = None) -> None:
        self.metrics = metrics
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
                             spill_after=spill_after, map_refresh=map_refresh, record_bytes=record_bytes)
        self.aggregator = Aggregator(shard_map, self._emit, max_bytes=record_bytes, max_age=max_buffer_ms / 1000)
        self.ticks_read = 0
        self.last_tick_at: float | None = None  # monotonic
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
        with self._lock:
            self.aggregator.add_ticks(ticks)
        n = len(ticks)
        self.ticks_read += n
        self.last_tick_at = time.monotonic()
        self.metrics.add("Ticks", n)
        last = ticks[-1]
        ts = last.get("ts")
        if ts:
            if ts > self.last_tick_ts:
                self.last_tick_ts = ts
            if last.get("rx"):
                self.metrics.observe("FeedLag", last["rx"] - ts * 1000, n)

    def _flush_loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                self.aggregator.flush_due()
                due = self.aggregator.next_due()
            wait = 0.01 if due is None else min(0.01, max(0.0005, due - time.monotonic()))
            self._stop.wait(wait)

    def _send_loop(self) -> None:
        # The sender's state belongs to this thread alone: it also drains and closes at stop.
        try:
            self.sender.run(self._stop_sending)
            self.delivered = self.sender.drain(max(0.0, self._drain_until - time.monotonic()))
        except Exception:
            log.exception("sender thread failed; what is left goes to the journal")
        finally:
            self.sender.close()

    def start(self) -> Pipeline:
        for name, target in (("flush", self._flush_loop), ("sender", self._send_loop)):
            t = threading.Thread(target=target, name=f"producer-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout: float) -> bool:
        """Flush, deliver within ``timeout`` seconds, journal the rest. True if all was delivered."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        flush, sender = self._threads
        flush.join(timeout=max(0.1, deadline - time.monotonic()))
        with self._lock:
            self.aggregator.flush()
        # leave a little time to write the journal: it is what makes stopping lossless
        self._drain_until = deadline - min(2.0, timeout / 5)
        self._stop_sending.set()
        sender.join(timeout=max(0.1, deadline - time.monotonic()))
        if sender.is_alive():  # stuck in a network call past the deadline; it closes the journal after
            log.error("sender still busy at the stop deadline; it journals what is left when the call returns")
            sender.join(timeout=15)
        if not self.delivered:
            log.warning("stop timeout: undelivered records kept in the journal for the next start")
        return self.delivered

    def status(self) -> dict[str, Any]:
        s = self.sender
        return {
            "pending_records": s.pending_records,
            "spilling": s.spilling,
            "journal_depth": s.journal.pending_entries if s.journal else 0,
            "shards": len(s.shard_map),
        }
