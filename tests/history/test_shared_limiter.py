"""Fyers' per-app limits held across processes (fyers/shared_limiter.py): 10/s, 200/min, 100,000/day."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from consumers.history.backfill import Backfill, BackfillRequest
from fyers.errors import DailyLimitError
from fyers.shared_limiter import SLACK_SECONDS, FileRateLimiter, default_path
from market.session import epoch
from tickpipe.errors import ConfigError

from .conftest import AFTER, SIM_DAY, client

NOON = float(epoch(dt.date(2026, 11, 26), dt.time(12, 0)))


class FakeTime:
    def __init__(self, now: float = NOON) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_two_limiters_on_one_file_share_ten_requests_a_second(tmp_path):
    clock = FakeTime()
    a, b = (FileRateLimiter(str(tmp_path / "lim.json"), clock=clock, sleep=clock.sleep) for _ in range(2))
    for i in range(10):
        (a if i % 2 else b).acquire()
    assert clock.slept == []
    a.acquire()  # the 11th within the same second waits for the first to leave the window, and the slack
    assert clock.slept == [pytest.approx(1.0 + SLACK_SECONDS)]


def test_the_minute_limit_is_200(tmp_path):
    clock = FakeTime()
    lim = FileRateLimiter(str(tmp_path / "lim.json"), clock=clock, sleep=clock.sleep)
    for _ in range(200):
        lim.acquire()
        clock.now += 0.15  # under 10/s with the slack: never the per-second limit
    waited = sum(clock.slept)
    lim.acquire()
    assert sum(clock.slept) - waited == pytest.approx(60.0 + SLACK_SECONDS - 200 * 0.15 + 0.15, abs=0.2)


def test_another_process_counts_against_the_same_limits(tmp_path):
    path = str(tmp_path / "lim.json")
    child = ("import sys; from fyers.shared_limiter import FileRateLimiter as L; "
             "lim = L(sys.argv[1], limits=((3, 600.0),)); [lim.acquire() for _ in range(3)]")
    subprocess.run([sys.executable, "-c", child, path], check=True, timeout=120)
    slept: list[float] = []
    FileRateLimiter(path, limits=((3, 600.0),), sleep=slept.append, clock=_clock_then_later()).acquire()
    assert slept and 0 < slept[0] <= 600.0 + SLACK_SECONDS  # the child's three requests fill the window


def _clock_then_later():
    import time

    calls = iter([time.time(), time.time() + 601.0])
    return lambda: next(calls)


def test_past_the_daily_limit_requests_stop_until_midnight_ist(tmp_path):
    clock = FakeTime()
    lim = FileRateLimiter(str(tmp_path / "lim.json"), daily_limit=5, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        lim.acquire()
        clock.now += 1
    assert lim.used_today() == 5
    with pytest.raises(DailyLimitError, match="daily limit of 5"):
        lim.acquire()
    clock.now = float(epoch(dt.date(2026, 11, 27), dt.time(0, 0, 1)))  # a new IST day
    lim.acquire()
    assert lim.used_today() == 1


@pytest.mark.parametrize("text", [b'{"sent": "abc", "count": "x", "day": 5}', b'{"sent": [1, null, "a"], "count": 1.5}',
                                  b'[1, 2]', b'"text"'])
def test_a_limiter_file_of_the_wrong_shape_starts_afresh(tmp_path, text):
    path = tmp_path / "lim.json"
    path.write_bytes(text)
    FileRateLimiter(str(path)).acquire()
    assert FileRateLimiter(str(path)).used_today() == 1


def test_a_torn_limiter_file_starts_afresh(tmp_path):
    path = tmp_path / "lim.json"
    path.write_bytes(b'{"sent": [1, 2')
    FileRateLimiter(str(path)).acquire()
    assert FileRateLimiter(str(path)).used_today() == 1


@pytest.mark.parametrize("kwargs", [{"limits": ()}, {"limits": ((0, 1.0),)}, {"daily_limit": 0}])
def test_limits_must_be_positive(tmp_path, kwargs):
    with pytest.raises(ValueError):
        FileRateLimiter(str(tmp_path / "lim.json"), **kwargs)


def test_a_backfill_out_of_daily_requests_stops_and_keeps_what_it_fetched(history_sim, store, tmp_path):
    sim = history_sim(["NSE:SBIN-EQ", "NSE:TCS-EQ"])
    history = client(sim, str(tmp_path / "lim.json"))
    history.rest.limiter = FileRateLimiter(str(tmp_path / "lim.json"), daily_limit=3)
    req = BackfillRequest.make(["NSE:SBIN-EQ", "NSE:TCS-EQ"], dt.date(2026, 11, 16), dt.date(2026, 11, 20),
                               ["5", "D"], today=SIM_DAY)
    report = Backfill(history, store, clock=lambda: AFTER).run(req)
    assert report.fetched == report.marked == 3 and "daily limit" in report.stopped and report.pending == 1


def test_the_limiter_file_is_the_variables_else_in_the_users_cache_directory():
    assert default_path({"TICKPIPE_FYERS_LIMITER": "/tmp/fyers.json", "XDG_CACHE_HOME": "/c"}) == "/tmp/fyers.json"
    assert default_path({"XDG_CACHE_HOME": "/c"}) == "/c/tickpipe/fyers-requests.json"


@pytest.mark.parametrize(("where", "says"), [
    ("", "Is a directory"),  # IsADirectoryError: the path is a directory
    ("file/lim.json", "File exists"),  # FileExistsError: its parent is a file
    ("file/sub/lim.json", "Not a directory"),  # NotADirectoryError: a parent's parent is a file
])
def test_a_path_that_cannot_hold_the_limiter_file_is_a_config_error_naming_the_variable(tmp_path, where, says):
    (tmp_path / "file").write_text("x")
    path = str(tmp_path / where) if where else str(tmp_path)
    with pytest.raises(ConfigError, match=rf"TICKPIPE_FYERS_LIMITER={path!r} cannot hold") as info:
        FileRateLimiter(path)
    assert f"({says})" in str(info.value) and info.value.__suppress_context__
