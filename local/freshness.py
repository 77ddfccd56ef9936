"""Bar freshness: how long after its bucket's end each bar reached the bars Firehose.

For every bar's first emission (``rev`` 0) the collector notes the exchange time and the wall time
at which the bars handler handed it to Firehose (``BarsConsumer.on_delivered``). The delay from the
bucket's end is split into the rule's wait (the grace: a bar is final at end + grace) and the
pipeline's share (the rest: producer → Kinesis → poller → handler → Firehose call). Exchange
seconds convert to wall time at the simulator's speed; at 1× (AWS) they are the same.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import orjson

from market.session import BAR_SECONDS


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0..1) of ``values`` (not empty)."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


class Freshness:
    """Collects (bucket end, exchange time, wall time) of first emissions; thread-safe."""

    def __init__(self, exchange_now: Callable[[], float], wall_seconds: Callable[[float], float]) -> None:
        self.exchange_now = exchange_now
        self.wall_seconds = wall_seconds  # exchange seconds → wall seconds at the clock's speed
        self.delays: list[float] = []  # exchange seconds from bucket end to hand-off
        self._lock = threading.Lock()

    def delivered(self, lines: list[bytes]) -> None:
        """BarsConsumer.on_delivered: the lines Firehose just took."""
        now = self.exchange_now()
        ends = [b["start"] + BAR_SECONDS for b in map(orjson.loads, lines) if b["rev"] == 0]
        with self._lock:
            self.delays.extend(now - end for end in ends)

    def summary(self, grace_s: float) -> dict[str, Any]:
        """p50/p99/max of the delay in exchange seconds and wall ms, with the grace's and the
        pipeline's share of each (empty when no bar was delivered)."""
        with self._lock:
            delays = list(self.delays)
        if not delays:
            return {}
        out: dict[str, Any] = {"bars": len(delays), "grace_s": grace_s}
        for name, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
            d = percentile(delays, q)
            grace = min(d, grace_s)
            out[name] = {
                "exchange_s": round(d, 3), "wall_ms": round(self.wall_seconds(d) * 1000, 1),
                "grace_wall_ms": round(self.wall_seconds(grace) * 1000, 1),
                "pipeline_wall_ms": round(self.wall_seconds(d - grace) * 1000, 1),
            }
        return out


def describe(summary: dict[str, Any]) -> str:
    """One line for a summary: p50 / p99 / max."""
    if not summary:
        return "no bars delivered"
    parts = [f"{q} {summary[q]['exchange_s']:.1f} s exchange = {summary[q]['wall_ms']:,.0f} ms wall "
             f"(grace {summary[q]['grace_wall_ms']:,.0f} + pipeline {summary[q]['pipeline_wall_ms']:,.0f})"
             for q in ("p50", "p99", "max")]
    return "; ".join(parts)
