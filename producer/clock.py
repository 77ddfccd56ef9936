"""Clocks: the wall clock for production, a fake one for tests of the session schedule."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Clock:
    """Wall-clock time (epoch s) and a stop-aware sleep."""

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        """Sleep up to ``seconds``; True if ``stop`` was set meanwhile."""
        return stop.wait(max(0.0, seconds))


class FakeClock(Clock):
    """Time that moves only when someone sleeps. ``on_sleep(clock, seconds)`` sees every sleep."""

    def __init__(self, start: float, on_sleep: Callable[[FakeClock, float], None] | None = None) -> None:
        self.now = float(start)
        self.sleeps: list[tuple[float, float]] = []  # (when, seconds)
        self.on_sleep = on_sleep

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        self.sleeps.append((self.now, seconds))
        if self.on_sleep:
            self.on_sleep(self, seconds)
        self.now += max(0.0, seconds)
        return stop.is_set()
