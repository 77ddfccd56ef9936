"""Every producer option has a range; a value outside it (negative, zero where zero breaks something,
NaN, infinite, a port past 65535) is a usage error (exit 2) naming the variable or the flag."""

from __future__ import annotations

import argparse
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producer import cli
from producer.errors import OptionsError
from producer.options import ENV_VARS, ProducerOptions


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tickpipe")
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


BAD = [  # (option, value): each one was accepted before and broke something or meant nothing
    ("metrics_interval", "0"),  # 0 logged 4,218 lines in 5 s
    ("token_retry_cap", "0"),  # a busy loop on SSM
    ("map_refresh", "0"), ("map_refresh", "-5"),
    ("health_grace", "0"), ("health_grace", "nan"),
    ("stop_timeout", "inf"), ("stop_timeout", "-1"),
    ("spill_after", "0"), ("spill_after", "-1"), ("spill_after", "nan"),
    ("journal_max_bytes", "0"), ("journal_max_bytes", "-1"),
    ("max_pending_bytes", "0"),
    ("journal_fsync_interval", "0"),
    ("health_port", "65536"), ("health_port", "-2"),
    ("max_buffer_ms", "-1"),
    ("record_bytes", "100"),
    ("margin_before", "-1"), ("margin_after", "inf"),
    ("session", "sometimes"), ("mode", "loud"),
]


@pytest.mark.parametrize(("option", "value"), BAD)
def test_an_out_of_range_variable_is_a_usage_error_naming_it(monkeypatch, capsys, option, value):
    monkeypatch.setenv(ENV_VARS[option], value)
    assert main(["produce"]) == 2
    err = capsys.readouterr().err
    assert ENV_VARS[option] in err and "Traceback" not in err


@pytest.mark.parametrize(("argv", "flag"), [
    (["--sessions", "0"], "--sessions"), (["--sessions", "-1"], "--sessions"),
    (["--stop-timeout", "nan"], "--stop-timeout"), (["--stop-timeout", "0"], "--stop-timeout"),
    (["--health-port", "70000"], "--health-port"), (["--max-buffer-ms", "-1"], "--max-buffer-ms"),
])
def test_an_out_of_range_flag_is_a_usage_error_naming_it(capsys, argv, flag):
    with pytest.raises(SystemExit) as exit_:
        main(["produce", *argv])
    assert exit_.value.code == 2
    assert f"argument {flag}" in capsys.readouterr().err


def test_a_flag_and_its_variable_share_one_rule():
    # the flag's type is built from the option's rule, so they cannot drift apart
    for value in ("65535", "-1", "0"):
        assert ProducerOptions.flag_type("health_port")(value) == ProducerOptions(health_port=int(value)).health_port


def test_the_defaults_are_valid():
    ProducerOptions()


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_spill_after_holds_only_a_finite_positive_number(value):
    try:
        ProducerOptions(spill_after=value)
    except OptionsError:
        assert not (math.isfinite(value) and 0 < value <= 3600)
    else:
        assert math.isfinite(value) and 0 < value <= 3600


@given(st.integers(min_value=-(2**70), max_value=2**70))
def test_health_port_holds_a_port_or_minus_one(value):
    try:
        ProducerOptions(health_port=value)
    except OptionsError:
        assert not (0 <= value <= 65535 or value == -1)
    else:
        assert 0 <= value <= 65535 or value == -1


@given(st.dictionaries(st.sampled_from(sorted(ENV_VARS.values())), st.text(max_size=12), max_size=4))
def test_any_environment_gives_options_or_an_options_error(environ):
    try:
        ProducerOptions.from_env(environ)
    except OptionsError as exc:
        assert any(var in str(exc) for var in environ)
