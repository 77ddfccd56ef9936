"""A clock that moves only when something sleeps on it: rate limits and backoffs tested whatever the
machine's speed."""

from __future__ import annotations


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
