"""NSE/BSE cash-market sessions and 5-minute buckets, in exchange time (IST).

Facts (DESIGN.md): pre-open 09:00–09:08, normal market 09:15–15:30 IST, Monday–Friday except
exchange holidays. IST is UTC+05:30 with no DST, and 19,800 s is a multiple of 300 s, so 5-minute
IST buckets are epoch multiples of 300 s: ``bucket_start`` needs no time zone at all.

Holidays come from exchange_calendars' XBOM calendar, loaded lazily (it imports pandas: a second
of cold start that the bars Lambda, which only needs bucket math, never pays). Special sessions
(Muhurat trading) and ad-hoc closures come from an override list, e.g.
``"2026-11-08=18:00-19:15;2026-12-24=closed"``.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Final
from zoneinfo import ZoneInfo

from market.errors import CalendarError

IST: Final = ZoneInfo("Asia/Kolkata")
DAY: Final = 86_400  # seconds in a day (IST has no DST, so also in every IST day)
BAR_SECONDS: Final = 300
PREOPEN: Final = dt.time(9, 0)
OPEN: Final = dt.time(9, 15)
CLOSE: Final = dt.time(15, 30)
BARS_PER_NORMAL_SESSION: Final = 75

log = logging.getLogger(__name__)


def bucket_start(ts: int) -> int:
    """Start (epoch s) of the 5-minute bucket holding ``ts``. IST buckets are epoch multiples of 300."""
    return ts - ts % BAR_SECONDS


def ist_datetime(ts: float) -> dt.datetime:
    """Epoch seconds as an aware IST datetime."""
    return dt.datetime.fromtimestamp(ts, IST)


def trading_date(ts: float) -> dt.date:
    """The IST calendar date of an instant (also the UTC date during NSE hours)."""
    return ist_datetime(ts).date()


def epoch(day: dt.date, at: dt.time) -> int:
    """Epoch seconds of an IST wall-clock time on a day."""
    return int(dt.datetime.combine(day, at, IST).timestamp())


@dataclass(frozen=True)
class Session:
    """One trading session: the continuous market from ``open_ts`` to ``close_ts`` (epoch s)."""

    day: dt.date
    open_ts: int
    close_ts: int
    special: bool = False

    @property
    def preopen_ts(self) -> int:
        """Start of the pre-open call auction (15 minutes before the open)."""
        return self.open_ts - 15 * 60

    def bucket_starts(self) -> list[int]:
        """Every 5-minute bucket of the session, e.g. 75 for a normal day (09:15 … 15:25)."""
        first = bucket_start(self.open_ts)
        return list(range(first, self.close_ts, BAR_SECONDS))

    def contains(self, ts: float, margin_before: float = 0, margin_after: float = 0) -> bool:
        return self.open_ts - margin_before <= ts < self.close_ts + margin_after

    def __str__(self) -> str:
        o, c = ist_datetime(self.open_ts), ist_datetime(self.close_ts)
        kind = " (special)" if self.special else ""
        return f"{self.day.isoformat()} {o:%H:%M}–{c:%H:%M} IST{kind}"


def normal_session(day: dt.date) -> Session:
    """The 09:15–15:30 session on ``day``, whether or not the exchange is open that day."""
    return Session(day, epoch(day, OPEN), epoch(day, CLOSE))


def parse_overrides(text: str | None) -> dict[dt.date, Session | None]:
    """Parse ``"YYYY-MM-DD=HH:MM-HH:MM;YYYY-MM-DD=closed"`` into {day: session or None (closed)}."""
    out: dict[dt.date, Session | None] = {}
    for raw in (text or "").replace(",", ";").split(";"):
        item = raw.strip()
        if not item:
            continue
        try:
            day_s, _, spec = item.partition("=")
            day = dt.date.fromisoformat(day_s.strip())
            spec = spec.strip().lower()
            if spec in ("closed", "holiday"):
                out[day] = None
                continue
            if not spec or spec == "normal":
                out[day] = normal_session(day)
                continue
            o_s, _, c_s = spec.partition("-")
            o, c = dt.time.fromisoformat(o_s.strip()), dt.time.fromisoformat(c_s.strip())
        except ValueError as exc:
            raise CalendarError(
                f"bad session override {item!r} ({exc}); expected 'YYYY-MM-DD=HH:MM-HH:MM', "
                "'YYYY-MM-DD=normal' or 'YYYY-MM-DD=closed'"
            ) from None
        if c <= o:
            raise CalendarError(f"bad session override {item!r}: close {c} is not after open {o}")
        out[day] = Session(day, epoch(day, o), epoch(day, c), special=True)
    return out


class NseCalendar:
    """Which days NSE/BSE cash markets trade, and when.

    Uses the maintained XBOM holiday calendar. Outside its range (a package older than the year)
    it falls back to Monday–Friday and logs a warning once: trading on a holiday costs an idle
    connection, missing a session costs data.
    """

    def __init__(self, overrides: dict[dt.date, Session | None] | str | None = None) -> None:
        self.overrides = parse_overrides(overrides) if isinstance(overrides, (str, type(None))) else overrides
        self._warned = False

    @cached_property
    def _xbom(self):
        import exchange_calendars

        return exchange_calendars.get_calendar("XBOM")

    def is_trading_day(self, day: dt.date) -> bool:
        if day in self.overrides:
            return self.overrides[day] is not None
        if day.weekday() >= 5:
            return False
        cal = self._xbom
        first, last = cal.first_session.date(), cal.last_session.date()
        if not first <= day <= last:
            if not self._warned:
                advice = "Upgrade exchange-calendars or add overrides." if day > last else "Add overrides."
                log.warning("the XBOM holiday calendar covers %s to %s; treating %s as a weekday session. %s",
                            first, last, day, advice)
                self._warned = True
            return True
        return bool(cal.is_session(day.isoformat()))

    def coverage(self) -> tuple[dt.date, dt.date]:
        """First and last day the holiday calendar knows (outside it, every weekday counts as open)."""
        cal = self._xbom
        return cal.first_session.date(), cal.last_session.date()

    def session(self, day: dt.date) -> Session | None:
        """The session on ``day``, or None when the exchange is closed."""
        if day in self.overrides:
            return self.overrides[day]
        return normal_session(day) if self.is_trading_day(day) else None

    def next_session(self, after_ts: float, margin_after: float = 0) -> Session:
        """The session in progress at ``after_ts`` (within ``margin_after`` of its close) or the next one."""
        day = trading_date(after_ts)
        for _ in range(400):
            s = self.session(day)
            if s is not None and after_ts < s.close_ts + margin_after:
                return s
            day += dt.timedelta(days=1)
        raise CalendarError(f"no trading session within 400 days after {ist_datetime(after_ts)}")

    def sessions(self, start: dt.date, end: dt.date) -> list[Session]:
        """Sessions from ``start`` to ``end`` inclusive."""
        out, day = [], start
        while day <= end:
            s = self.session(day)
            if s is not None:
                out.append(s)
            day += dt.timedelta(days=1)
        return out

    def last_session_on_or_before(self, day: dt.date) -> Session:
        for _ in range(400):
            s = self.session(day)
            if s is not None:
                return s
            day -= dt.timedelta(days=1)
        raise CalendarError(f"no trading session within 400 days before {day}")
