"""The simulator's clock: real time, or a simulated day at N× that can be held at its start."""

from __future__ import annotations

import datetime as dt
import time

from fyers.sim import SimConfig, Simulator
from fyers.sim.clock import SimClock
from market.session import IST, epoch


def test_real_clock_is_wall_time():
    clock = SimClock(speed=None)
    before = time.time()
    now = clock.now()
    assert clock.real and before <= now <= time.time()


def test_simulated_clock_starts_at_its_start_and_runs_faster_than_wall_time():
    clock = SimClock(start=1_000_000.0, speed=1000)
    wall0 = time.monotonic()
    first = clock.now()
    time.sleep(0.01)
    elapsed_wall = time.monotonic() - wall0
    assert first >= 1_000_000.0
    assert clock.now() - 1_000_000.0 >= 1000 * 0.01 and clock.now() - first <= 1000 * (elapsed_wall + 1)


def test_held_clock_stands_still_until_released():
    clock = SimClock(start=5_000.0, speed=400, held=True)
    time.sleep(0.01)
    assert clock.now() == 5_000.0
    clock.release()
    time.sleep(0.01)
    assert clock.now() > 5_000.0


def test_wall_seconds_converts_exchange_time():
    assert SimClock(start=0, speed=400).wall_seconds(22_500) == 56.25
    assert SimClock(speed=None).wall_seconds(3) == 3


def test_simulator_on_the_real_clock_simulates_today():
    sim = Simulator(SimConfig(speed=None, symbols=["NSE:SBIN-EQ"]))
    assert sim.market.day == dt.datetime.now(IST).date()


def test_simulator_starts_its_clock_at_the_configured_day_and_time():
    sim = Simulator(SimConfig(speed=1, day=dt.date(2026, 3, 2), start_time=dt.time(9, 0), hold_clock=True,
                              symbols=["NSE:SBIN-EQ"]))
    with sim:
        assert sim.clock.now() == epoch(dt.date(2026, 3, 2), dt.time(9, 0))
        assert not sim.session_over()
