"""The native decoder (native/bars_fold.c ``kpl_ticks``, behind consumers.bars.decode.fast_ticks)
accepts exactly the aggregates whose every record the general path (msgspec + market.tick) accepts,
with the same values, and leaves every other one to it: so the handler quarantines the same records
with the same reasons, native or not. Its bounds are market.tick's, handed over by native_rules()."""

from __future__ import annotations

import base64
import json
import math

import orjson
import pytest
from aws_kinesis_agg.aggregator import RecordAggregator
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import consumers.bars.decode as decode_mod
import market.bars_fold as fold_mod
from consumers.bars.decode import BAR_INPUT_FIELDS, fast_ticks, native_rules, parse_ticks
from consumers.bars.handler import BarsConsumer
from market import tick as tickmod
from market.bars import BarBuilder
from market.tick import CLOCK_SKEW_S, EARLIEST_TS, FIELDS, INT64_MAX, MAX_PRICE, UINT64_MAX, make
from market.watermark import Watermark
from tickpipe.config import Settings
from tickpipe.errors import AggregateError
from tickpipe.kpl import user_records

native = pytest.importorskip("_tickpipe_bars", reason="accelerator not built")
pytestmark = pytest.mark.skipif(decode_mod._kpl_ticks is None, reason="accelerator not built")

ARRIVAL = 1_764_130_000  # 2025-11-26 04:06:40 UTC
LATEST = ARRIVAL + CLOCK_SKEW_S
LATEST_MS = LATEST * 1000 + 999
SYMS = ("NSE:SBIN-EQ", "NSE:M&M-EQ", "BSE:SENSEX-INDEX")
READ: tuple[str, ...] = (*BAR_INPUT_FIELDS, "pid")  # what the native values carry


def good(i: int = 0, sym: str = SYMS[0]) -> dict:
    t = ARRIVAL - 60 + i
    return make(sym, t, 800.05 + i, ltt=t, ltq=5, vol=100 + i, atp=800.1, bid=800.0, ask=800.1, bq=10, aq=11,
                tbq=1000, tsq=900, oi=None, dh=810.0, dl=790.5, op=795.0, pc=799.0, src="ws", pid="p-1", seq=i,
                rx=t * 1000 + 5)


def shown(values: list | None) -> list | None:
    """Values as comparable facts: each read field's type and repr (so 0.0 is not -0.0, 1 not 1.0)."""
    if values is None:
        return None
    return [[(type(getattr(v, f)).__name__, repr(getattr(v, f))) for f in READ] for v in values]


def aggregate(records: list[bytes]) -> bytes:
    agg = RecordAggregator()
    for r in records:
        agg.add_user_record("pk", r)
    return agg.clear_and_get().get_contents()[2]


def general(data: bytes, arrival: float | None = ARRIVAL) -> list | None:
    """The general path's values for an aggregate whose every record is a tick, else None."""
    try:
        values, poison = parse_ticks(user_records(data), arrival)
    except AggregateError:
        return None
    return None if poison else values


# ----- records as a hostile or sloppy writer could send them, at every edge of every bound -------

INT_EDGES = [0, 1, -1, 5, EARLIEST_TS - 1, EARLIEST_TS, LATEST, LATEST + 1, LATEST_MS, LATEST_MS + 1, 2**31,
             2**53 + 1, INT64_MAX, INT64_MAX + 1, UINT64_MAX, UINT64_MAX + 1, 10**30, -(2**63), -(2**63) - 1]
FLOAT_EDGES = [0.0, -0.0, 5e-324, 1e-300, 0.05, 1.0, 99.95, 100.14999999999999, MAX_PRICE,
               math.nextafter(MAX_PRICE, 0), math.nextafter(MAX_PRICE, math.inf), 1e308, math.inf, -math.inf,
               math.nan, -1.5, 123456789.12345679]
# numbers as text, as no encoder of ours would write them: many digits, exponents, at the bounds
NUMBER_TEXT = st.from_regex(r"\A-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,24})?([eE][+-]?[0-9]{1,3})?\Z") | st.sampled_from(
    ["1e9", "1000000000.0000000001", "999999999.99999999999", "1E+9", "0.0", "0e5", "00", "1.", ".5", "01",
     "1e-400", "2.4703282292062328e-324", "9007199254740993", "9007199254740993.0", "1e22", "1e23",
     "1795664700", "1795664700.0", "4e-324", "-0", "NaN", "Infinity", "true", "\"1\""])
STRINGS = st.text(max_size=70) | st.sampled_from(["", "ws", "p" * 64, "p" * 65, "NSE:SBIN-EQ", "SBIN", "nse:x",
                                                  "NSE:É-EQ", "NSE:A\\u0042-EQ", "a\"b", "\x00", "\u00e9"])


def value_text(draw) -> str:
    """One field's value as JSON text (or not quite JSON)."""
    kind = draw(st.sampled_from(["int", "float", "number text", "string", "null", "other"]))
    if kind == "int":
        return str(draw(st.sampled_from(INT_EDGES) | st.integers()))
    if kind == "float":
        x = draw(st.sampled_from(FLOAT_EDGES) | st.floats())
        return json.dumps(x)  # NaN and Infinity come out as no JSON reader takes them
    if kind == "number text":
        return draw(NUMBER_TEXT)
    if kind == "string":
        s = draw(STRINGS)
        return f'"{s}"' if s.startswith("NSE:A\\") else json.dumps(s, ensure_ascii=draw(st.booleans()))
    if kind == "null":
        return "null"
    return draw(st.sampled_from(["true", "false", "[]", "{}", "[1]", '{"a":1}', "nul", ""]))


@st.composite
def record(draw) -> bytes:
    """A good tick with some fields changed, dropped, repeated or added, in some JSON spelling."""
    t = {k: json.dumps(v) for k, v in good(draw(st.integers(0, 50)), draw(st.sampled_from(SYMS))).items()}
    pairs = list(t.items())
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["change", "change", "change", "drop", "repeat", "add", "rename"]))
        i = draw(st.integers(0, len(pairs) - 1))
        name = pairs[i][0]
        if action == "change":
            pairs[i] = (name, value_text(draw))
        elif action == "drop":
            del pairs[i]
        elif action == "repeat":
            pairs.insert(draw(st.integers(0, len(pairs))), (name, value_text(draw)))
        elif action == "add":
            pairs.insert(i, (draw(st.sampled_from(["extra", "Sym", "ts ", "v2", ""])), value_text(draw)))
        else:
            pairs[i] = (json.dumps(name)[1:-1].replace("s", "\\u0073"), pairs[i][1])  # the same name, escaped
        if not pairs:
            break
    if draw(st.booleans()):
        pairs = draw(st.permutations(pairs))
    sep, colon = draw(st.sampled_from([(",", ":"), (", ", ": "), (",\n", ":\t"), (" ,", " :")]))
    text = "{" + sep.join(f'"{k}"{colon}{v}' for k, v in pairs) + "}"
    return (draw(st.sampled_from(["", " ", "\r\n"])) + text + draw(st.sampled_from(["\n", "", " \n", "\n\n", "x",
                                                                                      "{}", ",1"]))).encode()


def known(*syms: str) -> None:
    decode_mod._SYMBOLS_OK.update(syms)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(record(), min_size=1, max_size=4), st.booleans())
@example([b'{"sym":"NSE:SBIN-EQ","ts":1764129940,"ltp":1e9}'], True)
@example([b'{"sym":"NSE:SBIN-EQ","ts":1764129940,"ltp":1000000000.0000000001}'], True)
@example([b'{"sym":"NSE:SBIN-EQ","ts":1764129940,"ltp":5e-324,"bid":999999999.99999999999}'], True)
@example([b'{"sym":"NSE:SBIN-EQ","ts":1764129940,"ltp":1,"seq":18446744073709551615,"v":null}'], True)
@example([b'{"sym":"NSE:SBIN-EQ","ts":1764130300,"ltp":1,"rx":1764130300999}'], True)
@example([b'{"sym":"NSE:SBIN-EQ","ts":1764130300,"ltp":1,"rx":1764130301000}'], True)
@example([b'{"sym":"NSE:SBIN-EQ","ts":1764130301,"ltp":1}'], True)
def test_native_accepts_only_what_the_general_path_accepts_with_the_same_values(records, symbols_known):
    if symbols_known:
        known(*SYMS)
    data = aggregate(records)
    got = fast_ticks(data, ARRIVAL)
    if got is not None:
        assert shown(got) == shown(general(data))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(EARLIEST_TS, LATEST), st.none() | st.integers(EARLIEST_TS, LATEST),
                          st.floats(0, MAX_PRICE, exclude_min=True), st.none() | st.floats(0, MAX_PRICE).map(abs),
                          st.none() | st.integers(0, INT64_MAX), st.none() | st.integers(0, UINT64_MAX),
                          st.none() | st.integers(0, LATEST_MS), st.none() | st.text("abc-_1", max_size=64),
                          st.sampled_from(SYMS), st.sampled_from([1, None])), min_size=1, max_size=20))
def test_native_accepts_every_valid_tick_in_the_producers_shape(rows):
    """Producers write no -0.0 (prices are round(raw / divisor)): the one valid value it leaves to msgspec."""
    known(*SYMS)
    ticks = [make(sym, ts, ltp, ltt=ltt, vol=vol, atp=price, bid=price, dh=price, dl=price, oi=vol, seq=seq,
                  rx=rx, pid=pid, src="ws", v=v)
             for ts, ltt, ltp, price, vol, seq, rx, pid, sym, v in rows]
    data = aggregate([orjson.dumps(t) + b"\n" for t in ticks])
    got = fast_ticks(data, ARRIVAL)
    assert got is not None
    assert shown(got) == shown(general(data))
    for t, v in zip(ticks, got, strict=True):
        assert v.ltp == t["ltp"] and v.v == 1 and v.pid == t["pid"]


def test_a_tick_of_a_symbol_not_yet_checked_is_left_to_the_general_path():
    decode_mod._SYMBOLS_OK.discard("NSE:NEWSYM-EQ")
    data = aggregate([orjson.dumps(good(0, "NSE:NEWSYM-EQ")) + b"\n"])
    assert fast_ticks(data, ARRIVAL) is None
    assert general(data) is not None  # which checks its shape, and remembers it
    assert shown(fast_ticks(data, ARRIVAL)) == shown(general(data))


def test_a_watermark_among_the_ticks_is_left_to_the_general_path():
    known(*SYMS)
    data = aggregate([orjson.dumps(good(0)) + b"\n", Watermark("p-1", ARRIVAL).encode()])
    assert fast_ticks(data, ARRIVAL) is None


@pytest.mark.parametrize("arrival", [None, 1e30, -1e30, 0.0])
def test_any_arrival_time_is_checked_as_the_general_path_does(arrival):
    known(*SYMS)
    data = aggregate([orjson.dumps(good(0)) + b"\n"])
    got = fast_ticks(data, arrival)
    assert got is None or shown(got) == shown(general(data, arrival))
    assert (got is None) == (general(data, arrival) is None)


# ----- the handler: the same bars and the same quarantine (reasons included), native or not -------

def lambda_records(groups: list[list[bytes]]) -> list[dict]:
    return [{"kinesis": {"sequenceNumber": str(n), "data": base64.b64encode(aggregate(users)).decode(),
                         "approximateArrivalTimestamp": ARRIVAL}} for n, users in enumerate(groups, start=1)]


def handler_fold(records: list[dict]) -> tuple:
    consumer = BarsConsumer(Settings(env="test"), s3=object(), firehose=object(), kinesis=object())
    builder = BarBuilder(consumer.config)
    bars, poison, seq = consumer.fold(builder, records, -1, "shardId-000000000000", until=len(records))
    builder.close_all()
    bars += [(-1, orjson.dumps(b)) for b in builder.take()]
    return bars, poison, seq, builder.ticks, builder.duplicates, orjson.dumps(builder.to_state())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(record() | st.builds(lambda i, s: orjson.dumps(good(i, s)) + b"\n",
                                             st.integers(0, 50), st.sampled_from(SYMS)), min_size=1, max_size=5),
                min_size=1, max_size=5))
def test_the_handler_quarantines_the_same_records_for_the_same_reasons_native_or_not(groups):
    records = lambda_records(groups)
    with_native = handler_fold(records)
    with pytest.MonkeyPatch.context() as mp:  # as where the accelerator is not built
        mp.setattr(decode_mod, "_kpl_ticks", None)
        mp.setattr(fold_mod, "_native_fold", None)
        python_only = handler_fold(records)
    assert with_native == python_only


# ----- the rules: market.tick's, handed over once; nothing the C cannot hold ----------------------

def test_the_native_rules_are_market_ticks_fields_and_bounds():
    rules = {r[0]: r for r in native_rules()}
    assert tuple(rules) == FIELDS
    assert rules["ts"][3:6] == (EARLIEST_TS, INT64_MAX, 1) and rules["rx"][5] == 2
    assert rules["seq"][3:5] == tickmod.INT_RANGES["seq"]
    assert rules["ltp"][1:5] == ("F", True, 0.0, MAX_PRICE) and rules["bid"][1:5] == ("f", False, 0.0, MAX_PRICE)
    assert rules["sym"][1:3] == ("y", True) and rules["pid"][4] == tickmod.MAX_TEXT_CHARS
    assert rules["v"][3:] == (1, 1, 0, 1)


@pytest.fixture
def restore_rules():
    yield
    native.configure(native_rules(), tickmod.MAX_RECORD_BYTES)


@pytest.mark.parametrize("change, error", [
    (lambda rules: rules[1:], "no rule for field sym"),
    (lambda rules: ((*rules[0][:1], "x", *rules[0][2:]),) + rules[1:], "bad rule for field sym"),
    (lambda rules: ((*rules[0][:1], "i", True, -1, 5, 0, None),) + rules[1:], "negative"),
    (lambda rules: (("a b", *rules[0][1:]),) + rules, "bad rule for field a b"),
])
def test_rules_the_native_decoder_cannot_hold_are_refused(change, error, restore_rules):
    with pytest.raises((ValueError, OverflowError), match=error):
        native.configure(change(native_rules()), tickmod.MAX_RECORD_BYTES)
    with pytest.raises(RuntimeError, match="configure"):  # and nothing half-configured is used
        native.kpl_ticks(aggregate([orjson.dumps(good())]), 4, 10, LATEST, LATEST_MS, set())


def test_its_ticks_are_read_only_and_made_only_by_the_decoder():
    known(*SYMS)
    [t] = fast_ticks(aggregate([orjson.dumps(good(3))]), ARRIVAL)
    with pytest.raises(AttributeError):
        t.ltp = 1.0
    with pytest.raises(TypeError):
        type(t)()
