"""market.bars_fold: the handler's fold (native accelerator or Python) is add_fields tick by tick."""

from __future__ import annotations

import random
import re
import shutil
import sysconfig
from pathlib import Path

import msgspec
import orjson
import pytest
from bars_reference import OPEN, synthetic_day
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import market.bars as mb
from consumers.bars.decode import NOT_PARSED, TickFields
from market.bars import BarBuilder, BarConfig
from market.bars_fold import NATIVE, fold_values
from market.errors import TickError

NATIVE_SOURCE = Path(__file__).parents[2] / "native" / "bars_fold.c"
WAYS = [pytest.param(True, id="native", marks=pytest.mark.skipif(not NATIVE, reason="accelerator not built")),
        pytest.param(False, id="python")]

# what setup.py needs to build an accelerator: a C compiler and Python's headers
CAN_BUILD = shutil.which("cc") is not None and (Path(sysconfig.get_paths()["include"]) / "Python.h").exists()


def fields(t: dict) -> TickFields:
    return msgspec.convert(t, TickFields)


def unchecked(t: dict) -> TickFields:
    """Fields the decoder would refuse (its bounds are checked on decode, not on construction):
    what add_fields' own checks are for."""
    return TickFields(**t)


def one_by_one(builder: BarBuilder, values: list) -> list[tuple[int, str]]:
    rejected = []
    for i, v in enumerate(values):
        try:
            builder.add_fields(v.sym, v.ts, v.ltt, v.ltp, v.vol, v.atp, v.dh, v.dl, v.oi, v.v, v)
        except TickError as exc:
            rejected.append((i, str(exc)))
    return rejected


def messy_stream(seed: int) -> list[dict]:
    """Two days of three symbols and an index, with late, out-of-order and repeated ticks."""
    rng = random.Random(seed)
    ticks = []
    for d in range(rng.randint(1, 2)):
        ticks += synthetic_day(seed + d, symbols=3, trades=150, start=OPEN + d * 86_400, span=1800)
    for _ in range(rng.randint(0, 30)):
        i = rng.randrange(len(ticks))
        ticks.insert(min(len(ticks) - 1, i + rng.randint(1, 200)), ticks.pop(i))
    for _ in range(rng.randint(0, 30)):
        i = rng.randrange(len(ticks))
        ticks.insert(i + 1, dict(ticks[i], rx=1))
    # feed times that run ahead of or behind the traded time, and so not always in order
    return [dict(t, ts=t["ts"] + rng.choice((0, 0, -2, 1, 3))) for t in ticks]


@pytest.mark.parametrize("native", WAYS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), batch=st.integers(1, 150), carry=st.booleans())
def test_the_fold_gives_what_add_fields_gives_tick_by_tick(native, seed, batch, carry):
    values = [fields(t) for t in messy_stream(seed)]
    config = BarConfig(amend_bars=1)  # some ticks too late as well
    ref, got = BarBuilder(config), BarBuilder(config)
    out_ref, out_got = [], []
    counts = (0, 0, 0, 0, 0)
    for i in range(0, len(values), max(batch, 10) if carry else batch):
        if carry:  # state through JSON between batches, as across Lambda invocations
            counts = tuple(map(sum, zip(counts, counters(got), strict=True)))
            got = BarBuilder.from_state(orjson.loads(orjson.dumps(got.to_state())), config)
        assert fold_values(got, values[i:i + batch], native=native) == one_by_one(ref, values[i:i + batch])
        out_ref += ref.take()
        out_got += got.take()
        assert got.take_too_late() == ref.take_too_late()
    assert out_got == out_ref  # the same bars, revs and order
    assert got.to_state() == ref.to_state()
    assert tuple(map(sum, zip(counts, counters(got), strict=True))) == counters(ref)


def counters(b: BarBuilder) -> tuple[int, ...]:
    return b.ticks, b.duplicates, b.late, b.amended, b.emitted


@pytest.mark.parametrize("native", WAYS)
def test_bad_values_are_returned_by_index_and_the_rest_folded(native):
    good = [fields(t) for t in synthetic_day(5, symbols=2, trades=40, with_index=False)]
    bad = [unchecked({"sym": "NSE:X-EQ", "ts": -1, "ltp": 1.0}),
           unchecked({"sym": "NOCOLON", "ts": OPEN, "ltp": 1.0}),
           unchecked({"sym": "NSE:Y-EQ", "ts": OPEN, "ltp": 1.0, "vol": -5}),
           unchecked({"sym": "NSE:Z-EQ", "ts": OPEN, "ltp": 1.0, "v": 99})]
    values = good[:10] + [NOT_PARSED] + bad + good[10:]
    builder, ref = BarBuilder(), BarBuilder()
    rejected = fold_values(builder, values, skip=NOT_PARSED, native=native)
    assert [i for i, _ in rejected] == [11, 12, 13, 14]
    assert "'ts' must be epoch seconds" in rejected[0][1] and "EXCHANGE:NAME" in rejected[1][1]
    assert "'vol' must not be negative" in rejected[2][1] and "schema version 99" in rejected[3][1]
    one_by_one(ref, good)
    assert builder.take() == ref.take()
    assert builder.to_state() == ref.to_state() and builder.ticks == len(good)


@pytest.mark.parametrize("native", WAYS)
def test_ticks_of_other_types_take_the_python_path_with_the_same_result(native):
    # add_fields accepts ints where floats are usual (a tick built in Python rather than decoded)
    class Loose:
        def __init__(self, **kw):
            self.__dict__.update(dict.fromkeys(("ltt", "vol", "atp", "dh", "dl", "oi"), None), v=1, **kw)

    values = [Loose(sym="NSE:A-EQ", ts=OPEN + i, ltt=OPEN + i, ltp=100 + i % 3, vol=10 * (i + 1), atp=100,
                    dh=103, dl=99) for i in range(50)]
    ref = BarBuilder()
    one_by_one(ref, values)
    got = BarBuilder()
    assert fold_values(got, values, native=native) == []
    assert got.to_state() == ref.to_state()


def test_the_native_list_positions_are_market_bars_ones():
    # native/bars_fold.c names the state and bar list positions in two enums; they must be these
    text = NATIVE_SOURCE.read_text()
    builder = BarBuilder()
    builder.add_fields("NSE:A-EQ", OPEN, OPEN, 1.0, 1, 1.0, None, None, None, 1, None)
    s = builder.syms["NSE:A-EQ"]
    for first, length in (("S_DAY", len(s)), ("B_START", len(s[mb.S_BARS][0]))):
        names = [n.strip() for n in re.search(rf"enum \{{ ({first}[^}}]*) \}}", text).group(1).split(",")]
        assert [getattr(mb, n) for n in names[:-1]] == list(range(len(names) - 1))
        assert names[-1].endswith("_LEN") and len(names) - 1 == length


@pytest.mark.skipif(not CAN_BUILD, reason="no C compiler or no Python.h here: Python does the work")
def test_the_accelerator_is_built_where_there_is_a_compiler():
    assert NATIVE, "pip install -e . should have built _tickpipe_bars (native/bars_fold.c); see its output"


@pytest.mark.parametrize("native", WAYS)
def test_a_builder_with_a_float_watermark_is_folded_all_the_same(native):
    # the accelerator reads the builder's bounds as ints; otherwise it leaves every tick to add_fields
    values = [fields(t) for t in synthetic_day(9, symbols=2, trades=80)]
    ref, got = BarBuilder(), BarBuilder()
    one_by_one(ref, values[:1])
    fold_values(got, values[:1], native=native)
    got.wm = float(got.wm)
    one_by_one(ref, values[1:])
    assert fold_values(got, values[1:], native=native) == []
    assert got.take() == ref.take() and got.to_state() == ref.to_state()
