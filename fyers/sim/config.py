"""Simulator settings: the seed, the universe, the simulated day and clock, the test account."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from market.session import CLOSE, DAY, IST, OPEN, Session, epoch

# The test account the login page and token endpoints accept (printed by `tickpipe sim`).
TEST_APP_ID = "SIMTEST1-100"
TEST_SECRET_KEY = "SIMSECRET0KEY"
TEST_FY_ID = "XS00001"
TEST_PIN = "1234"

MAX_SYMBOLS_PER_CONNECTION = 5000  # the data socket's limit per connection (FYERS.md)
MAX_SYMBOLS_PER_TOKEN_CALL = 500  # symbol-token accepts this many symbols a call


class SimConfigError(ValueError):
    """A simulator setting that cannot work; the message names it."""


def default_day(today: dt.date | None = None) -> dt.date:
    """The latest weekday on or before today (IST), so a default run is a plausible session."""
    day = today or dt.datetime.now(IST).date()
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


@dataclass
class SimConfig:
    seed: int = 1
    symbols: list[str] | None = None  # None: ~20 NSE equities, 2 indices and the NIFTY future
    day: dt.date | None = None  # None: the latest weekday (today on the real clock)
    start_time: dt.time = OPEN  # IST; 09:00 includes the pre-open, where nothing trades yet
    close_time: dt.time | None = None  # IST; a shorter session closing here (a bounded run); None: 15:30
    speed: float | None = 1.0  # exchange seconds per wall second; None or 0: the real clock
    hold_clock: bool = False  # the simulated clock stands at start_time until the first snapshot is sent
    hold_topics: int = 0  # with hold_clock: until snapshots of this many topics went out (several connections)
    every_trade: bool = False  # publish every trade instead of quote snapshots at a cadence
    snapshot_interval: float = 1.0  # exchange seconds between a symbol's quote updates
    app_id: str = TEST_APP_ID
    secret_key: str = TEST_SECRET_KEY
    fy_id: str = TEST_FY_ID
    pin: str = TEST_PIN
    redirect_uri: str | None = None  # None: the login page accepts any http(s) redirect URI
    token_ttl: float = float(DAY)  # access token lifetime (wall s)
    refresh_ttl: float = 15.0 * DAY  # refresh token lifetime (wall s)
    ack_count: int = 10  # the auth response asks the client to ack every N-th data message
    ack_window: int | None = None  # unacked messages before publishing waits; None: 8 × ack_count
    max_symbols: int = MAX_SYMBOLS_PER_CONNECTION
    rate_limits: bool = False  # enforce Fyers' 10/s, 200/min, 100,000/day REST limits (HTTP 429)
    publish_interval: float = 0.02  # wall seconds between publisher passes
    max_blocks_per_message: int = 64
    api_port: int = 0  # 0: any free port
    ws_port: int = 0

    def __post_init__(self) -> None:
        if self.speed is not None and self.speed < 0:
            raise SimConfigError(f"speed must be positive (or 0/None for the real clock), got {self.speed}")
        if self.snapshot_interval <= 0:
            raise SimConfigError(f"snapshot_interval must be positive, got {self.snapshot_interval}")
        if self.ack_count < 0:
            raise SimConfigError(f"ack_count must be 0 (no acks) or more, got {self.ack_count}")
        if not (len(self.pin) == 4 and self.pin.isdigit()):
            raise SimConfigError("pin must be 4 digits")
        if self.real_clock and self.day is not None and self.day != dt.datetime.now(IST).date():
            raise SimConfigError(f"day={self.day} needs a simulated clock (speed > 0); the real clock runs today")
        if self.close_time is not None and not OPEN < self.close_time <= CLOSE:
            raise SimConfigError(f"close_time must be after {OPEN:%H:%M} and at most {CLOSE:%H:%M}, got {self.close_time}")
        if self.symbols is not None and not self.symbols:
            raise SimConfigError("symbols must not be empty (None means the default universe)")

    @property
    def real_clock(self) -> bool:
        return not self.speed

    def session_day(self) -> dt.date:
        if self.real_clock:
            return dt.datetime.now(IST).date()
        return self.day or default_day()

    def session(self, day: dt.date) -> Session | None:
        """The simulated session when ``close_time`` shortens it; None: the normal session."""
        if self.close_time is None:
            return None
        return Session(day, epoch(day, OPEN), epoch(day, self.close_time), special=True)

    def unacked_limit(self) -> int:
        return self.ack_window if self.ack_window is not None else 8 * self.ack_count
