"""Fyers' per-app rate limits held across processes: a sliding window kept in a locked file.

:class:`fyers.ratelimit.RateLimiter` holds the limits inside one process. Two backfills (or a
backfill and a reconcile) on one machine share the app's 10/s, 200/min and 100,000/day
(FYERS.md), so each request first takes an exclusive ``flock`` on a small JSON file holding the
recent request times and the day's count, and waits while another request would break a limit.
Past the day's budget it raises :class:`DailyLimitError` instead of waiting for midnight: a
resumable job stops and continues the next day.

Wall time (not a monotonic clock) is stored, because several processes compare it. The day is the
IST date, when Fyers' day counter turns over (the trading day).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

import orjson

from fyers.errors import DailyLimitError
from fyers.ratelimit import FYERS_LIMITS
from market.session import trading_date
from tickpipe.errors import ConfigError
from tickpipe.options import Options

FYERS_DAILY_LIMIT: Final = 100_000
# Fyers counts arrivals, this limiter departures: a request held up on its way (a busy machine, a new
# connection) lands closer to the next window's requests than it left. Each window is this much
# longer, so the server still sees at most its limit; the minute limit sets the pace anyway.
SLACK_SECONDS: Final = 0.25


class FileRateLimiter:
    """``acquire()`` as :class:`fyers.ratelimit.RateLimiter`, shared by every process using ``path``."""

    def __init__(self, path: str, limits: Sequence[tuple[int, float]] = FYERS_LIMITS,
                 daily_limit: int = FYERS_DAILY_LIMIT, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not limits or any(n <= 0 or w <= 0 for n, w in limits):
            raise ValueError(f"limits must be positive (count, seconds) pairs, got {limits!r}")
        if daily_limit <= 0:
            raise ValueError(f"daily_limit must be positive, got {daily_limit}")
        self.path = path
        self.limits = tuple(limits)
        self.daily_limit = daily_limit
        self._clock = clock
        self._sleep = sleep
        self._horizon = max(w for _, w in self.limits) + SLACK_SECONDS
        self.waited = 0.0
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        except OSError as exc:
            raise _unusable(path, exc) from None
        os.close(self._open())  # a path that cannot hold the file fails here, before any work

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise _unusable(self.path, exc) from None

    def acquire(self) -> None:
        while True:
            delay = self._try()
            if delay <= 0:
                return
            self.waited += delay
            self._sleep(delay)

    def _try(self) -> float:
        """Record a request and return 0, or return how long to wait before trying again."""
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            state = _load(fd)
            now = self._clock()
            today = trading_date(now).isoformat()
            sent = [t for t in state.get("sent", []) if t > now - self._horizon]
            count = state.get("count", 0) if state.get("day") == today else 0
            if count >= self.daily_limit:
                raise DailyLimitError(
                    f"{count:,} Fyers requests today ({today} IST) reached the daily limit of "
                    f"{self.daily_limit:,}; run again after midnight IST (finished work is kept)")
            delay = 0.0
            for n, limit_window in self.limits:
                window = limit_window + SLACK_SECONDS
                inside = [t for t in sent if t > now - window]
                if len(inside) >= n:
                    delay = max(delay, inside[-n] + window - now)
            if delay > 0:
                return delay
            sent.append(now)
            _store(fd, {"sent": sent, "day": today, "count": count + 1})
            return 0.0
        finally:
            os.close(fd)  # closing releases the lock

    def used_today(self) -> int:
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            state = _load(fd)
        finally:
            os.close(fd)
        return state.get("count", 0) if state.get("day") == trading_date(self._clock()).isoformat() else 0


def _unusable(path: str, exc: OSError) -> ConfigError:
    return ConfigError(f"{LIMITER_VAR}={path!r} cannot hold the Fyers rate limiter's file "
                       f"({exc.strerror or exc}); set it to a file path in a writable directory, "
                       "or unset it for the user's cache directory")


def _load(fd: int) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = b""
    while chunk := os.read(fd, 65536):
        raw += chunk
    try:
        state = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        state = {}  # a torn or foreign file: start afresh (at worst a few requests too early)
    if not isinstance(state, dict):
        return {}
    # Another program's file, or a hand edit: keep only what has the right shape.
    sent = state.get("sent")
    count = state.get("count")
    return {"sent": [t for t in sent if isinstance(t, int | float) and not isinstance(t, bool)]
            if isinstance(sent, list) else [],
            "count": count if isinstance(count, int) and not isinstance(count, bool) else 0,
            "day": state.get("day") if isinstance(state.get("day"), str) else None}


def _store(fd: int, state: dict) -> None:
    data = orjson.dumps(state)
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    os.write(fd, data)


@dataclass(frozen=True)
class LimiterOptions(Options):
    """``TICKPIPE_FYERS_LIMITER``: the limiter file (Terraform: in the history functions' /tmp)."""

    ENV_PREFIX: ClassVar[str] = "TICKPIPE_FYERS_"

    limiter: str = ""  # a file path; empty: tickpipe/fyers-requests.json in the user's cache directory


ENV_VARS: dict[str, str] = LimiterOptions.env_vars()
LIMITER_VAR: Final = ENV_VARS["limiter"]


def default_path(environ: Mapping[str, str] | None = None) -> str:
    """Where the limiter file lives: ``$TICKPIPE_FYERS_LIMITER`` or the user's cache directory."""
    environ = os.environ if environ is None else environ
    path = LimiterOptions.from_env(environ).limiter
    if path:
        return path
    # XDG_CACHE_HOME is the desktop's rule for where caches go (XDG Base Directory specification), not
    # a tickpipe option: read as it is, as expanduser reads HOME.
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tickpipe", "fyers-requests.json")
