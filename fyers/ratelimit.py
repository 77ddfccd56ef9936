"""A thread-safe sliding-window rate limiter shared by every REST call of one app.

Fyers allows 10 requests/s and 200/min per app (FYERS.md); one :class:`RateLimiter` per process is
passed to every client (auth, symbols, history) so the limits hold across calls and threads.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Final, Protocol

FYERS_LIMITS: Final = ((10, 1.0), (200, 60.0))  # (requests, per seconds)


class Limiter(Protocol):
    """What a REST client needs of a limiter: :class:`RateLimiter` (one process) or
    fyers.shared_limiter.FileRateLimiter (processes sharing a file)."""

    def acquire(self) -> None:
        """Block until one more request fits the limits, and count it."""


class RateLimiter:
    """Blocks in :meth:`acquire` until a request fits every (count, window) limit."""

    def __init__(self, limits: Sequence[tuple[int, float]] = FYERS_LIMITS,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if not limits or any(n <= 0 or w <= 0 for n, w in limits):
            raise ValueError(f"limits must be positive (count, seconds) pairs, got {limits!r}")
        self.limits = tuple(limits)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()  # start times of recent requests, oldest first
        self._horizon = max(w for _, w in self.limits)
        self.waited = 0.0  # total seconds callers were held back (for logs and tests)

    def _delay(self, now: float) -> float:
        while self._sent and self._sent[0] <= now - self._horizon:
            self._sent.popleft()
        delay = 0.0
        for count, window in self.limits:
            if len(self._sent) >= count:
                # The request `count` back must leave the window before another may start.
                delay = max(delay, self._sent[-count] + window - now)
        return delay

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                delay = self._delay(now)
                if delay <= 0:
                    self._sent.append(now)
                    return
            self.waited += delay
            self._sleep(delay)

    def recent(self, window: float) -> int:
        """Requests started within the last ``window`` seconds."""
        with self._lock:
            now = self._clock()
            return sum(1 for t in self._sent if t > now - window)


_shared: RateLimiter | None = None
_shared_lock = threading.Lock()


def shared() -> RateLimiter:
    """The process-wide limiter for Fyers' per-app limits; every RestClient uses it unless given one."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = RateLimiter()
        return _shared
