"""`tickpipe demo` refuses values it cannot run with as a usage error (exit 2), before starting anything."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from local.demo import DemoOptions
from tickpipe import cli
from tickpipe.errors import ConfigError


@pytest.mark.parametrize(("argv", "says"), [
    (["--day", "1990-01-01"], "--day 1990-01-01 is outside the NSE holiday calendar"),
    (["--day", "2026-11-29"], "is not an NSE trading day"),  # a Sunday
    (["--speed", "nan"], "--speed must be > 0"),
    (["--speed", "inf"], "--speed must be > 0"),
    (["--speed", "-1"], "--speed must be > 0"),
    (["--shards", "0"], "--shards must be >= 1"),
    (["--symbols", "0"], "--symbols must be >= 1"),
])
def test_a_value_the_demo_cannot_run_with_is_a_usage_error(capsys, argv, says):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["demo", *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_the_demo_speed_is_a_finite_positive_number(speed):
    try:
        DemoOptions(speed=speed)
    except ConfigError:
        assert not (speed == speed and 0 < speed <= 100_000)
    else:
        assert 0 < speed <= 100_000
