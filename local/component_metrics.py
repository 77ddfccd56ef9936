"""Per-component figures of a demo run: ticks/s sustained, CPU seconds per million ticks, peak RSS.

The demo runs the simulator, the producers, the bars runner and the Firehose pump as threads of one
process, and moto as a child process. CPU time is counted per thread from Linux's per-thread
counters (``/proc/self/task/<tid>/stat``), sampled while the run goes on and grouped by thread name
into components; the bars handler's CPU is counted exactly around each invocation; compaction runs
on the calling thread. Memory is per process: threads share one, so the demo process's peak RSS
covers simulator, producers and handlers together, and moto's is its own. Where /proc is missing
(not Linux) the CPU figures are absent, never guessed.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from producer.aggregator import PUT_UNIT_BYTES

PROC = Path("/proc")
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# Thread name → component. Producer threads: run_producer's own ("producer-1" …, named by the demo),
# the socket reader, the pipeline's ("producer-sender" …) and the metrics flusher.
COMPONENTS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("simulator", lambda n: n.startswith("fyers-sim")),
    ("producers", lambda n: n.startswith("producer") or n in ("fyers-socket", "metrics")),
    ("bars runner", lambda n: n == "bars-runner"),
    ("firehose pump", lambda n: n == "firehose-pump"),
)


def component_of(thread_name: str) -> str:
    for name, match in COMPONENTS:
        if match(thread_name):
            return name
    return "other"


def _cpu_seconds(stat: str) -> float:
    """utime + stime of a /proc stat line (fields 14 and 15; the name in parentheses may hold spaces)."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def thread_cpu(native_id: int) -> float | None:
    try:
        return _cpu_seconds((PROC / "self" / "task" / str(native_id) / "stat").read_text())
    except (OSError, IndexError, ValueError):
        return None


def process_cpu(pid: int) -> float | None:
    try:
        return _cpu_seconds((PROC / str(pid) / "stat").read_text())
    except (OSError, IndexError, ValueError):
        return None


def process_peak_rss_mib(pid: int | None = None) -> float | None:
    """Peak RSS (VmHWM) of ``pid``; of this process (getrusage) when None."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


class ThreadCpu:
    """CPU seconds per component, from the threads alive at each ``sample()``.

    A thread's counter only grows, so the last value read is its total up to then; a thread that ends
    between two samples loses what it used since the last one (sample often: the demo does it on each
    progress tick, 4 a second)."""

    def __init__(self, classify: Callable[[str], str] = component_of) -> None:
        self.classify = classify
        self._seen: dict[int, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.available = (PROC / "self" / "task").is_dir()

    def sample(self) -> None:
        if not self.available:
            return
        for th in threading.enumerate():
            tid = th.native_id
            if tid is None:
                continue
            cpu = thread_cpu(tid)
            if cpu is not None:
                with self._lock:
                    self._seen[tid] = (self.classify(th.name), cpu)

    def totals(self) -> dict[str, float]:
        out: dict[str, float] = {}
        with self._lock:
            for component, cpu in self._seen.values():
                out[component] = out.get(component, 0.0) + cpu
        return out


def child_pids() -> list[int]:
    """This process's child processes (the demo's: the moto server)."""
    pids: list[int] = []
    for task in (PROC / "self" / "task").glob("*"):
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return sorted(set(pids))


class MeteredHandler:
    """A Lambda handler wrapped to count its CPU time, the largest state it carried per shard and
    the PUT payload units of the records it was given (each record once, as Kinesis billed it)."""

    def __init__(self, handler: Callable[[Mapping[str, Any], Any], dict[str, Any]],
                 state_bytes: Callable[[], int]) -> None:
        self.handler = handler
        self.state_bytes = state_bytes  # the handler's last carried state (BarsConsumer.counters)
        self.cpu = 0.0
        self.invocations = 0
        self.peak_state: dict[str, int] = {}
        self.put_units = 0
        self.records = 0
        self._seen: set[str] = set()  # the eventID (shard and sequence number) of every record counted

    def _count(self, event: Mapping[str, Any]) -> None:
        for record in event.get("Records") or []:
            kin = record["kinesis"]
            key = record.get("eventID") or kin["sequenceNumber"]  # "shardId-…:sequence number"
            if key in self._seen:
                continue  # a retried batch: billed once, when it was put
            self._seen.add(key)
            data = kin["data"]
            size = len(data) * 3 // 4 - data[-2:].count("=") + len(kin["partitionKey"].encode())
            self.put_units += -(-size // PUT_UNIT_BYTES)
            self.records += 1

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        self._count(event)
        c0 = time.thread_time()
        try:
            return self.handler(event, context)
        finally:
            self.cpu += time.thread_time() - c0
            self.invocations += 1
            shard = str(event.get("shardId", ""))
            self.peak_state[shard] = max(self.peak_state.get(shard, 0), self.state_bytes())


def per_million(cpu: float | None, ticks: int) -> float | None:
    return None if cpu is None or not ticks else round(cpu * 1e6 / ticks, 2)


def rate(ticks: int, seconds: float) -> float | None:
    return round(ticks / seconds, 1) if seconds > 0 else None
