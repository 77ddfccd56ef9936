"""Fyers' REST rate limits (FYERS.md): 10 requests/s, 200/min, 100,000/day per app.

Off by default (tests would wait on them); ``SimConfig(rate_limits=True)`` answers HTTP 429 past
any of them, as Fyers does, so a client's limiter can be checked against the real numbers.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from fyers import errors
from market.session import DAY

WINDOWS = ((1.0, 10, "10 requests per second"), (60.0, 200, "200 requests per minute"),
           (float(DAY), 100_000, "100,000 requests per day"))


class RateLimits:
    def __init__(self, windows: tuple[tuple[float, int, str], ...] = WINDOWS) -> None:
        self.windows = windows
        self._lock = threading.Lock()
        self._times: deque[float] = deque()
        self._longest = max(w for w, _, _ in windows)

    def check(self, now: float | None = None) -> tuple[int, int, str] | None:
        """Count one request; (429, code, message) when it exceeds a limit (refused ones count too)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._times
            while times and times[0] <= now - self._longest:
                times.popleft()
            times.append(now)
            for window, limit, text in self.windows:
                # Count the requests inside this window, newest first, stopping once past the limit.
                n = 0
                for t in reversed(times):
                    if t <= now - window:
                        break
                    n += 1
                    if n > limit:
                        return 429, errors.RATE_LIMITED, f"request limit reached: {text}"
        return None
