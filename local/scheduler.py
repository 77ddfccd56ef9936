"""EventBridge on one machine: invoke handlers on a fixed rate, like a `rate(N minutes)` schedule.

In AWS an EventBridge rule invokes the compact Lambda (see infra/); locally the demo starts a
Scheduler with the same handler. Each invocation gets an EventBridge "Scheduled Event" shaped event.
A failing invocation is logged and the schedule goes on, as EventBridge would try again next time.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]


def scheduled_event(rule: str, at: float | None = None) -> dict[str, Any]:
    """The event EventBridge sends a target of a schedule rule."""
    when = datetime.fromtimestamp(at if at is not None else time.time(), UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resources": [f"arn:aws:events:local:000000000000:rule/{rule}"],
        "detail": {},
    }


@dataclass
class Job:
    rule: str
    every: float  # seconds
    handler: Handler
    runs: int = 0
    failures: int = 0
    last_result: Any = None
    _next: float = field(default=0.0, repr=False)


class Scheduler:
    """Runs jobs at a fixed rate on one daemon thread until stopped. Runs do not overlap."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.jobs: list[Job] = []
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def every(self, seconds: float, rule: str, handler: Handler) -> Job:
        if seconds <= 0:
            raise ValueError(f"schedule rate must be positive, got {seconds}")
        job = Job(rule, seconds, handler, _next=self.clock() + seconds)
        self.jobs.append(job)
        return job

    def run_pending(self) -> int:
        """Invoke every job that is due; returns how many ran."""
        ran = 0
        for job in self.jobs:
            if self.clock() >= job._next:
                self.invoke(job)
                job._next = self.clock() + job.every
                ran += 1
        return ran

    def invoke(self, job: Job) -> None:
        try:
            job.last_result = job.handler(scheduled_event(job.rule), None)
        except Exception:
            job.failures += 1
            log.exception("scheduled %s failed; next run in %.0f s", job.rule, job.every)
        finally:
            job.runs += 1

    def start(self) -> Scheduler:
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_pending()
            self._stop.wait(0.2)

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
