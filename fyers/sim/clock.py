"""Exchange time for the simulator: the real clock, or a simulated session running N× faster."""

from __future__ import annotations

import time


class SimClock:
    """``now()`` is exchange time (epoch s). ``speed`` None or 0 means the real clock.

    A simulated clock starts at ``start`` (exchange epoch s) when created and advances ``speed``
    exchange seconds per wall second; speed 400 runs 09:15–15:30 in about 56 s.
    """

    def __init__(self, start: float | None = None, speed: float | None = None, held: bool = False) -> None:
        self.speed = float(speed) if speed else 0.0
        self._wall0 = time.monotonic()
        self._start = float(start) if (start is not None and self.speed) else time.time()
        self.held = held and not self.real  # a held clock stands at its start until release()

    def release(self) -> None:
        """Start a held clock now (the simulator does this on the first subscription)."""
        if self.held:
            self._wall0 = time.monotonic()
            self.held = False

    @property
    def real(self) -> bool:
        return not self.speed

    def now(self) -> float:
        if self.real:
            return time.time()
        if self.held:
            return self._start
        return self._start + (time.monotonic() - self._wall0) * self.speed

    def wall_seconds(self, exchange_seconds: float) -> float:
        """How long (wall s) it takes for ``exchange_seconds`` to pass on this clock."""
        return exchange_seconds / self.speed if self.speed else exchange_seconds

    def __repr__(self) -> str:
        return f"SimClock(now={self.now():.1f}, speed={self.speed or 'real'})"
