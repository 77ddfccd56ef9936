"""How long to wait before the n-th retry: capped exponential backoff, with or without jitter.

Every retry loop in tickpipe (Fyers REST and data socket, the producer's PutRecords, the bars
handler's Firehose and watermark writes, the local Firehose pump, the producer's token re-read)
waits ``min(cap, base * 2**retry)`` before retry number ``retry`` (0 for the first), then applies
its jitter:

- ``Jitter.EQUAL``: a uniform draw in ``[ceiling / 2, ceiling]``. Half fixed, half random, so many
  clients that failed together spread out, yet none retries at once ("equal jitter", AWS
  Architecture Blog, "Exponential Backoff And Jitter", 2015).
- ``Jitter.NONE``: exactly the ceiling. For a loop that is the only writer to what it retries (one
  Lambda invocation's own batch), where spreading out buys nothing and a test wants the same waits.

Pure: the random draw comes from ``uniform`` (``random.uniform`` unless a caller passes another), and
nothing here sleeps. Each caller keeps its own numbers; this module only holds the arithmetic.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from tickpipe.errors import ConfigError


class Jitter(Enum):
    """How a delay is drawn below its ceiling."""

    NONE = "none"  # the ceiling itself
    EQUAL = "equal"  # uniform in [ceiling / 2, ceiling]


@dataclass(frozen=True)
class Backoff:
    """A retry delay policy: ``base`` seconds before the first retry, doubling, at most ``cap``."""

    base: float
    cap: float = math.inf  # no cap: for a loop with a small, fixed number of attempts
    jitter: Jitter = Jitter.EQUAL

    def __post_init__(self) -> None:
        if not (math.isfinite(self.base) and self.base >= 0):
            raise ConfigError(f"backoff base must be a finite number of seconds >= 0, not {self.base!r}")
        if math.isnan(self.cap) or self.cap < self.base:
            raise ConfigError(f"backoff cap must be >= its base ({self.base!r} s), not {self.cap!r}")

    def ceiling(self, retry: int) -> float:
        """The longest wait before retry number ``retry`` (0 for the first): ``min(cap, base * 2**retry)``."""
        if retry < 0:
            raise ValueError(f"retry number must be >= 0, not {retry}")
        if self.base == 0:
            return 0.0
        try:
            raw = math.ldexp(self.base, retry)  # base * 2**retry, exactly
        except OverflowError:  # past the float range: beyond any finite cap
            return self.cap
        return min(self.cap, raw)

    def delay(self, retry: int, uniform: Callable[[float, float], float] = random.uniform) -> float:
        """The wait before retry number ``retry``, jittered; never above :meth:`ceiling`."""
        top = self.ceiling(retry)
        if self.jitter is Jitter.NONE or math.isinf(top):
            return top
        return uniform(top / 2, top)
