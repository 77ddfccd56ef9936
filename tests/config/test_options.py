"""The one configuration helper (tickpipe/options.py): typed from annotations, ranges, explicit wins.

Each component's options are a frozen dataclass deriving from Options; these tests pin the rules
every one of them inherits, on a small dataclass of the same kind and on Settings itself.
"""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError, dataclass
from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickpipe.config import Settings
from tickpipe.errors import ConfigError, TickpipeError
from tickpipe.options import Options, option


@dataclass(frozen=True)
class Knobs(Options):
    ENV_PREFIX: ClassVar[str] = "TEST_"

    interval: float = option(60.0, gt=0, le=3600, unit="seconds")
    port: int = option(8080, ge=0, le=65535, also=(-1,))
    size: int = option(1 << 20, ge=1)
    mode: str = option("full", choices=("full", "lite"))
    name: str = "x"
    flag: bool = False


def test_values_are_typed_from_the_annotations():
    k = Knobs.from_env({"TEST_INTERVAL": "2.5", "TEST_PORT": "9000", "TEST_FLAG": "true", "TEST_NAME": "7"})
    assert (k.interval, k.port, k.flag, k.name) == (2.5, 9000, True, "7")


def test_explicit_arguments_win_over_the_environment_and_none_means_not_given():
    k = Knobs.from_env({"TEST_PORT": "9000", "TEST_MODE": "lite"}, port=9100, mode=None)
    assert (k.port, k.mode) == (9100, "lite")


def test_an_empty_variable_means_the_default():
    assert Knobs.from_env({"TEST_INTERVAL": ""}).interval == 60.0


def test_options_are_frozen():
    with pytest.raises(FrozenInstanceError):
        Knobs().port = 1  # type: ignore[misc]


@pytest.mark.parametrize(("var", "raw", "says"), [
    ("TEST_PORT", "80.5", "TEST_PORT must be a whole number, got '80.5'"),
    ("TEST_PORT", "65536", "TEST_PORT must be >= 0 and <= 65535 (or -1), got 65536"),
    ("TEST_PORT", "-2", "TEST_PORT must be >= 0 and <= 65535 (or -1), got -2"),
    ("TEST_INTERVAL", "nan", "TEST_INTERVAL must be > 0 and <= 3600 seconds, got nan"),
    ("TEST_INTERVAL", "inf", "TEST_INTERVAL must be > 0 and <= 3600 seconds, got inf"),
    ("TEST_INTERVAL", "0", "TEST_INTERVAL must be > 0"),
    ("TEST_INTERVAL", "soon", "TEST_INTERVAL must be a number, got 'soon'"),
    ("TEST_SIZE", "0", "TEST_SIZE must be >= 1, got 0"),
    ("TEST_MODE", "fast", "TEST_MODE must be one of 'full', 'lite', got 'fast'"),
    ("TEST_FLAG", "maybe", "TEST_FLAG must be true or false, got 'maybe'"),
])
def test_a_bad_variable_is_a_config_error_naming_it_the_rule_and_the_value(var, raw, says):
    with pytest.raises(ConfigError) as err:
        Knobs.from_env({var: raw})
    assert says in str(err.value)
    assert isinstance(err.value, TickpipeError)


def test_the_same_rules_hold_when_code_builds_the_options():
    with pytest.raises(ConfigError, match="TEST_INTERVAL"):
        Knobs(interval=float("nan"))
    with pytest.raises(ConfigError, match="TEST_PORT must be a number, got True"):
        Knobs(port=True)  # a bool is not a port
    assert Knobs(interval=5).interval == 5.0 and isinstance(Knobs(interval=5).interval, float)
    with pytest.raises(ConfigError, match="TEST_PORT"):
        Knobs().with_(port=70000)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_a_float_option_holds_only_finite_values_in_its_range(value):
    inside = math.isfinite(value) and 0 < value <= 3600
    try:
        k = Knobs(interval=value)
    except ConfigError:
        assert not inside
    else:
        assert inside and k.interval == value


@given(st.integers())
def test_an_int_option_holds_only_values_in_its_range_or_its_extra_values(value):
    try:
        Knobs(port=value)
    except ConfigError:
        assert not (0 <= value <= 65535 or value == -1)
    else:
        assert 0 <= value <= 65535 or value == -1


@given(st.text())
def test_any_text_in_a_variable_gives_options_or_a_config_error(raw):
    for var in ("TEST_INTERVAL", "TEST_PORT", "TEST_SIZE", "TEST_MODE", "TEST_FLAG", "TEST_NAME"):
        try:
            Knobs.from_env({var: raw})
        except ConfigError:
            pass


# --- Settings, the shared configuration, is built by the same helper ---------------------------

@pytest.mark.parametrize("region", ["ap-south-1", "us-east-1", "eu-central-2", "us-gov-west-1", "cn-northwest-1",
                                    "ap-southeast-7", "il-central-1", "eu-isoe-west-1"])
def test_real_region_names_are_accepted(region):
    assert Settings.from_env({"AWS_REGION": region}).region == region


@pytest.mark.parametrize("region", ["mars-1", "ap-mars-1", "AP-SOUTH-1", "ap-south", "ap_south_1", "ap-south-1 "])
def test_a_region_that_is_not_an_aws_region_name_is_a_config_error(region):
    with pytest.raises(ConfigError, match=r"AWS_REGION \(or TICKPIPE_REGION\) must be an AWS region name"):
        Settings.from_env({"AWS_REGION": region})


def test_tickpipe_region_wins_over_aws_region_and_an_explicit_value_over_both():
    env = {"AWS_REGION": "us-east-1", "TICKPIPE_REGION": "eu-west-1"}
    assert Settings.from_env(env).region == "eu-west-1"
    assert Settings.from_env(env, region="ap-south-1").region == "ap-south-1"
