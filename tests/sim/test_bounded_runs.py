"""Simulator settings for bounded, multi-connection runs: a session cut short, a clock held for every connection."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from fyers import codec
from fyers.sim.config import SimConfig, SimConfigError
from fyers.sim.testing import RawHsmClient
from market.session import epoch

DAY = dt.date(2026, 11, 26)
SBIN, INFY = "NSE:SBIN-EQ", "NSE:INFY-EQ"


def test_close_time_cuts_the_session(fyers_sim):
    sim = fyers_sim(speed=1, day=DAY, symbols=[SBIN], close_time=dt.time(9, 45))
    assert sim.market.session.close_ts == epoch(DAY, dt.time(9, 45))
    assert sim.trades(SBIN)[-1].ts < epoch(DAY, dt.time(9, 45))
    assert sim.session_over(epoch(DAY, dt.time(9, 45)))


@pytest.mark.parametrize("close", [dt.time(9, 15), dt.time(9, 0), dt.time(15, 31)])
def test_a_close_outside_the_session_is_refused(close):
    with pytest.raises(SimConfigError, match="close_time"):
        SimConfig(day=DAY, close_time=close)


def _first_snapshot(client: RawHsmClient) -> None:
    while True:
        frame = client.recv_raw()
        if frame[2] == codec.T_DATA:
            return


def test_a_held_clock_waits_for_the_snapshots_of_every_topic_it_was_told_of(fyers_sim):
    sim = fyers_sim(speed=100, day=DAY, symbols=[SBIN, INFY], ack_count=0, hold_clock=True, hold_topics=2,
                    start_time=dt.time(9, 15))
    token = sim.issue_tokens()["access_token"]
    with RawHsmClient(sim.ws_url) as one, RawHsmClient(sim.ws_url) as two:
        one.login(token, [sim.topic(SBIN)])
        _first_snapshot(one)
        time.sleep(0.2)  # publishing passes go on; the clock must not move with one topic out
        assert sim.clock.held and sim.clock.now() == epoch(DAY, dt.time(9, 15))
        two.login(token, [sim.topic(INFY)])
        _first_snapshot(two)
        deadline = time.monotonic() + 10
        while sim.clock.held and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not sim.clock.held
