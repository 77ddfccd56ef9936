"""tickpipe.backoff: the retry delay every retry loop uses (bounds, growth, jitter, bad numbers)."""

from __future__ import annotations

import math
import random
import sys
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickpipe.backoff import Backoff, Jitter
from tickpipe.errors import ConfigError

bases = st.floats(min_value=0, max_value=1e6, allow_nan=False)
caps = st.floats(min_value=0, max_value=1e9, allow_nan=False) | st.just(math.inf)
retries = st.integers(min_value=0, max_value=5000)
any_jitter = st.sampled_from(Jitter)


@st.composite
def policies(draw, jitter=any_jitter):
    base = draw(bases)
    cap = draw(caps.filter(lambda c: c >= base))
    return Backoff(base, cap, draw(jitter))


@given(policies(), retries)
def test_the_ceiling_is_base_doubled_per_retry_and_never_above_the_cap(policy, retry):
    exact = Fraction(policy.base) * 2**retry  # no float overflow: the arithmetic the policy promises
    capped = exact >= policy.cap or exact > sys.float_info.max  # past the float range counts as past any cap
    assert policy.ceiling(retry) == (policy.cap if capped else float(exact))


@given(policies(), retries)
def test_the_ceiling_never_shrinks_from_one_retry_to_the_next(policy, retry):
    assert policy.ceiling(retry) <= policy.ceiling(retry + 1)


@given(policies(st.just(Jitter.EQUAL)), retries, st.randoms(use_true_random=False))
def test_equal_jitter_waits_between_half_the_ceiling_and_the_ceiling(policy, retry, rng):
    top = policy.ceiling(retry)
    wait = policy.delay(retry, rng.uniform)
    assert top / 2 <= wait <= top or (math.isinf(top) and wait == top)


@given(policies(st.just(Jitter.EQUAL)), retries)
def test_equal_jitter_reaches_both_ends_of_its_range(policy, retry):
    top = policy.ceiling(retry)
    if math.isfinite(top):
        assert policy.delay(retry, lambda lo, hi: lo) == top / 2
        assert policy.delay(retry, lambda lo, hi: hi) == top


@given(policies(st.just(Jitter.NONE)), retries)
def test_no_jitter_waits_exactly_the_ceiling(policy, retry):
    assert policy.delay(retry, lambda lo, hi: pytest.fail("no draw without jitter")) == policy.ceiling(retry)


def test_equal_jitter_draws_different_waits_so_clients_spread_out():
    policy = Backoff(0.5, 30.0)
    assert len({policy.delay(3, random.Random(seed).uniform) for seed in range(20)}) > 1


def test_the_callers_numbers_give_the_waits_they_always_had():
    # fyers.socket: 0.5 s doubling to 30 s; the producer's token re-read: 1 s doubling to 60 s
    assert [Backoff(0.5, 30.0).ceiling(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert [Backoff(1.0, 60.0, Jitter.NONE).delay(n) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_a_huge_retry_number_is_the_cap_not_an_overflow():
    assert Backoff(0.05, 5.0).ceiling(10**6) == 5.0
    assert Backoff(0.05).ceiling(10**6) == math.inf and Backoff(0.05).delay(10**6) == math.inf


@pytest.mark.parametrize(("base", "cap", "why"), [
    (-1.0, 5.0, "base must be a finite number of seconds >= 0"),
    (math.nan, 5.0, "base must be a finite number"),
    (math.inf, math.inf, "base must be a finite number"),
    (2.0, 1.0, "cap must be >= its base"),
    (0.5, math.nan, "cap must be >= its base"),
])
def test_a_policy_with_impossible_numbers_is_refused_with_what_to_change(base, cap, why):
    with pytest.raises(ConfigError, match=why):
        Backoff(base, cap)


def test_a_negative_retry_number_is_refused():
    with pytest.raises(ValueError, match="retry number must be >= 0"):
        Backoff(0.5, 8.0).delay(-1)
