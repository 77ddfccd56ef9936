"""NSE session calendar and 5-minute IST buckets."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.errors import CalendarError
from market.session import BARS_PER_NORMAL_SESSION, NseCalendar, bucket_start, ist_datetime


@given(st.integers(min_value=0, max_value=2**33))
def test_bucket_start_is_an_ist_five_minute_boundary(ts):
    start = bucket_start(ts)
    assert start <= ts < start + 300
    local = ist_datetime(start)
    assert local.minute % 5 == 0 and local.second == 0


def test_a_normal_day_has_75_bars_from_0915_to_1525():
    s = NseCalendar().session(dt.date(2026, 11, 26))
    starts = s.bucket_starts()
    assert len(starts) == BARS_PER_NORMAL_SESSION
    assert f"{ist_datetime(starts[0]):%H:%M}" == "09:15"
    assert f"{ist_datetime(starts[-1]):%H:%M}" == "15:25"


def test_weekends_and_exchange_holidays_are_closed():
    cal = NseCalendar()
    assert cal.session(dt.date(2026, 11, 28)) is None  # Saturday
    assert cal.session(dt.date(2026, 1, 26)) is None  # Republic Day


def test_overrides_add_special_sessions_and_closures():
    cal = NseCalendar("2026-11-08=18:00-19:15; 2026-11-26=closed")
    muhurat = cal.session(dt.date(2026, 11, 8))
    assert muhurat.special and f"{ist_datetime(muhurat.open_ts):%H:%M}" == "18:00"
    assert cal.session(dt.date(2026, 11, 26)) is None


def test_next_session_skips_weekend_and_holiday():
    cal = NseCalendar()
    friday_after_close = NseCalendar().session(dt.date(2026, 11, 20)).close_ts + 60
    nxt = cal.next_session(friday_after_close)
    assert nxt.day == dt.date(2026, 11, 23)  # Monday


@pytest.mark.parametrize("bad", ["2026-13-01=closed", "2026-11-08=19:00-18:00", "2026-11-08=9am"])
def test_bad_overrides_name_the_entry(bad):
    with pytest.raises(CalendarError, match="override"):
        NseCalendar(bad)


def test_a_day_outside_the_holiday_calendar_is_a_weekday_session_with_a_warning(caplog):
    cal = NseCalendar()
    with caplog.at_level("WARNING"):
        assert cal.session(dt.date(1990, 1, 2)) is not None  # a Tuesday before XBOM's first session
    assert "covers" in caplog.text and "1990-01-02" in caplog.text
