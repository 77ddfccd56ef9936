"""Settings that cannot work are refused with a message naming the setting."""

from __future__ import annotations

import datetime as dt

import pytest

from fyers.sim import SimConfig, SimConfigError, Simulator
from fyers.sim.instruments import UnknownSymbolError


@pytest.mark.parametrize(("settings", "names"), [
    ({"speed": -1}, "speed"), ({"snapshot_interval": 0}, "snapshot_interval"), ({"ack_count": -1}, "ack_count"),
    ({"pin": "12"}, "pin"), ({"symbols": []}, "symbols"),
    ({"speed": 0, "day": dt.date(2020, 1, 1)}, "day"),
])
def test_bad_settings_are_refused_by_name(settings, names):
    with pytest.raises(SimConfigError, match=names):
        SimConfig(**settings)


@pytest.mark.parametrize("symbol", ["SBIN", "NSE:FOO-INDEX", "XYZ:ABC-EQ", "NSE:SBIN"])
def test_symbols_the_simulator_cannot_model_are_refused(symbol):
    with pytest.raises(UnknownSymbolError, match="SBIN|FOO|XYZ"):
        Simulator(SimConfig(symbols=[symbol]))


def test_default_universe_has_equities_indices_and_a_future():
    kinds = [i.kind for i in Simulator(SimConfig()).market.instruments.values()]
    assert kinds.count("equity") == 20 and kinds.count("index") == 2 and kinds.count("future") == 1
