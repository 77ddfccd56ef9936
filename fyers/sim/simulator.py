"""The Fyers simulator: market model + clock + credentials + REST server + data socket + faults."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import Counter
from typing import Any

from fyers.sim.clock import SimClock
from fyers.sim.config import SimConfig
from fyers.sim.credentials import Account, CredentialIssuer
from fyers.sim.faults import Faults
from fyers.sim.hsm import WS_PATH, HsmServer
from fyers.sim.instruments import default_symbols
from fyers.sim.limits import RateLimits
from fyers.sim.market import Market, Trade, bar_vwaps, candles
from fyers.sim.rest import RestServer
from market.session import IST, PREOPEN, epoch

log = logging.getLogger(__name__)

# Fyers' exchange / segment codes in marketStatus.
_STATUS_ROWS = ((10, 10, "NSE CM"), (10, 11, "NSE FO"), (12, 10, "BSE CM"), (12, 11, "BSE FO"))


class Simulator:
    """A running Fyers stand-in on 127.0.0.1. Use as a context manager, or ``start()`` / ``stop()``."""

    def __init__(self, config: SimConfig | None = None, **overrides: Any) -> None:
        if config is None:
            config = SimConfig(**overrides)
        elif overrides:
            raise TypeError("pass either a SimConfig or keyword settings, not both")
        self.config = config
        day = config.session_day()
        self.market = Market(config.symbols or default_symbols(day), day, config.seed, config.session(day))
        self.credentials = CredentialIssuer(Account(config.app_id, config.secret_key, config.fy_id, config.pin,
                                               config.token_ttl, config.refresh_ttl))
        self.faults = Faults(self.credentials.expire_all)
        self.stats: Counter[str] = Counter()  # REST threads count through count(); the socket loop directly
        self._stats_lock = threading.Lock()
        self._held_snapshots = 0
        self.rate_limits = RateLimits() if config.rate_limits else None
        self.clock = SimClock(epoch(day, config.start_time), config.speed)
        self._rest: RestServer | None = None
        self._hsm: HsmServer | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> Simulator:
        if self._rest is not None:
            return self
        self.market.generate_all()  # before the clock starts, so the first pass is not delayed
        self.clock = SimClock(epoch(self.market.day, self.config.start_time), self.config.speed,
                              held=self.config.hold_clock)
        rest = RestServer(self, self.config.api_port)
        hsm = HsmServer(self, self.config.ws_port)
        try:
            rest.start()
            hsm.start()
        except BaseException:
            rest.stop()
            raise
        self._rest, self._hsm = rest, hsm
        log.info("Fyers simulator up: %s and %s (%s)", self.api_url, self.ws_url, self.describe_clock())
        return self

    def stop(self) -> None:
        if self._hsm is not None:
            self._hsm.stop()
        if self._rest is not None:
            self._rest.stop()
        self._hsm = self._rest = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        if self._rest is None:
            raise RuntimeError("simulator not started")
        return f"http://127.0.0.1:{self._rest.port}"

    @property
    def ws_url(self) -> str:
        if self._hsm is None:
            raise RuntimeError("simulator not started")
        return f"ws://127.0.0.1:{self._hsm.port}{WS_PATH}"

    # -- time -----------------------------------------------------------------------------------
    def snapshots_sent(self, topics: int) -> None:
        """Count first snapshots while the clock is held; release it once ``hold_topics`` went out
        (the first snapshot when 0), so that every connection of a run sees the open."""
        with self._stats_lock:
            self._held_snapshots += topics
            if self._held_snapshots >= max(1, self.config.hold_topics):
                self.clock.release()

    def session_over(self, at: float | None = None) -> bool:
        """True once exchange time reaches the close (15:30): nothing more is published."""
        return (self.clock.now() if at is None else at) >= self.market.session.close_ts

    def describe_clock(self) -> str:
        speed = "real clock" if self.clock.real else f"{self.clock.speed:g}x"
        return f"session {self.market.session}, {speed}"

    def market_status(self) -> list[dict[str, Any]]:
        now = self.clock.now()
        s = self.market.session
        preopen = epoch(s.day, PREOPEN)
        if preopen <= now < s.open_ts:
            status = "PREOPEN"
        elif s.open_ts <= now < s.close_ts:
            status = "OPEN"
        elif s.close_ts <= now < s.close_ts + 30 * 60:
            status = "POSTCLOSE"
        else:
            status = "CLOSED"
        return [{"exchange": ex, "segment": seg, "market_type": "NORMAL", "status": status}
                for ex, seg, _ in _STATUS_ROWS]

    # -- credentials for tests --------------------------------------------------------------------
    def issue_tokens(self) -> dict[str, str]:
        """A fresh access and refresh token without the browser login (for tests and the demo)."""
        return {"access_token": self.credentials.issue_access_token(),
                "refresh_token": self.credentials.issue_refresh_token()}

    # -- ground truth -----------------------------------------------------------------------------
    def trades(self, symbol: str) -> list[Trade]:
        """Every trade of the simulated day for ``symbol`` (index moves for an index)."""
        return self.market.timeline(symbol).trades()

    def candles(self, symbol: str, resolution: int | str = 5) -> list[list[float | int]]:
        """The whole day's candles from every trade, as the history endpoint returns them."""
        return candles(self.market.timeline(symbol), resolution)

    def bar_vwaps(self, symbol: str, seconds: int = 300) -> dict[int, float]:
        """The true VWAP of each bar of the day, from every trade: {bar start: vwap}."""
        return bar_vwaps(self.market.timeline(symbol), seconds)

    def count(self, name: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[name] += n

    @property
    def published_ticks(self) -> int:
        """Data blocks (snapshots and updates) sent so far over every connection."""
        return self.stats["published_ticks"]

    @property
    def symbols(self) -> list[str]:
        return list(self.market.instruments)

    def topic(self, symbol: str) -> str:
        return self.market.instruments[symbol].topic

    def status(self) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "api_url": self.api_url, "ws_url": self.ws_url, "clock": now,
            "clock_ist": dt.datetime.fromtimestamp(now, IST).isoformat(timespec="seconds"),
            "session": str(self.market.session), "session_over": self.session_over(now),
            "symbols": len(self.market.instruments), "connections": len(self._hsm.connections) if self._hsm else 0,
            "stats": dict(self.stats),
        }
