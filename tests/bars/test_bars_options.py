"""The bars handler's options (consumers/bars/options.py): TICKPIPE_BARS_* through the configuration
helper, the bar builder's defaults written once (market.bars.BarConfig), a bad value a BarsConfigError
naming the variable before the function handles anything."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumers.bars.errors import BarsConfigError
from consumers.bars.handler import BarsConsumer
from consumers.bars.options import ENV_VARS, BarsOptions
from market.bars import BarConfig
from tickpipe.config import Settings
from tickpipe.errors import ConfigError

NO_CLIENTS = {"s3": object(), "firehose": object(), "kinesis": object()}


def consumer(monkeypatch, env: dict[str, str], settings: Settings | None = None, **kw) -> BarsConsumer:
    for var in ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    return BarsConsumer(settings or Settings(env="test"), **NO_CLIENTS, **kw)


def test_without_variables_the_handler_runs_with_the_bar_builders_defaults(monkeypatch):
    c = consumer(monkeypatch, {})
    assert (c.config.grace_s, c.config.amend_bars) == (BarConfig().grace_s, BarConfig().amend_bars)
    assert c.state_budget == 600_000


def test_the_variables_set_the_handlers_options(monkeypatch):
    c = consumer(monkeypatch, {"TICKPIPE_BARS_GRACE_S": "5", "TICKPIPE_BARS_AMEND_BARS": "3",
                               "TICKPIPE_BARS_STATE_BUDGET": "200000"})
    assert (c.config.grace_s, c.config.amend_bars, c.state_budget) == (5, 3, 200_000)


def test_keywords_win_over_the_variables(monkeypatch):
    c = consumer(monkeypatch, {"TICKPIPE_BARS_STATE_BUDGET": "200000", "TICKPIPE_BARS_GRACE_S": "5"},
                 state_budget=1_000, config=BarConfig(grace_s=9))
    assert (c.state_budget, c.config.grace_s) == (1_000, 9)


def test_the_session_overrides_come_from_the_settings(monkeypatch):
    c = consumer(monkeypatch, {}, Settings(env="test", session_overrides="2026-11-08=18:00-19:15"))
    assert dt.date(2026, 11, 8) in c.config.overrides


@pytest.mark.parametrize(("option", "value"), [
    ("grace_s", "-1"), ("grace_s", "300"), ("grace_s", "2.5"), ("grace_s", "two"),
    ("amend_bars", "0"), ("amend_bars", "76"),
    ("state_budget", "999"), ("state_budget", "900001"), ("state_budget", "1e6"),
])
def test_a_bad_variable_is_an_error_naming_it(monkeypatch, option, value):
    with pytest.raises(BarsConfigError, match=ENV_VARS[option]) as err:
        consumer(monkeypatch, {ENV_VARS[option]: value})
    assert value in str(err.value)
    assert isinstance(err.value, ConfigError)  # every command reports it as a usage error


def test_malformed_session_overrides_are_a_bars_configuration_error_naming_the_variable(monkeypatch):
    with pytest.raises(BarsConfigError, match="TICKPIPE_SESSION_OVERRIDES: .*2026-13-01"):
        consumer(monkeypatch, {}, Settings(env="test", session_overrides="2026-13-01=closed"))


@given(st.integers(min_value=-10**6, max_value=10**7))
def test_a_state_budget_is_accepted_exactly_inside_its_range(budget):
    inside = 1_000 <= budget <= 900_000
    try:
        assert BarsOptions(state_budget=budget).state_budget == budget and inside
    except BarsConfigError:
        assert not inside
