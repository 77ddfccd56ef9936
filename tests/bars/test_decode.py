"""consumers.bars.decode: user records in, tick fields and poison out (KPL reading: tests/test_kpl.py)."""

from __future__ import annotations

import base64
import hashlib

import orjson
import pytest
from aws_kinesis_agg import MAGIC
from aws_kinesis_agg.aggregator import RecordAggregator
from hypothesis import given
from hypothesis import strategies as st

import consumers.bars.decode as decode_mod
from consumers.bars.decode import BAR_INPUT_FIELDS, NOT_PARSED, b64decode, fast_ticks, parse_ticks
from market.errors import TickError
from market.tick import EARLIEST_TS, FIELDS, decode, encode, make
from market.watermark import Watermark
from tickpipe.errors import AggregateError
from tickpipe.kpl import user_records


def ticks(n=5):
    return [make("NSE:SBIN-EQ", 1_700_000_000 + i, 800.0 + i, ltt=1_700_000_000 + i, vol=10 * i, atp=800.5,
                 dh=810.0, dl=790.0, oi=None, src="ws", pid="p", seq=i) for i in range(n)]


def test_bad_user_records_are_poison_with_market_ticks_reason_and_the_rest_parse():
    good = [encode(t) for t in ticks(3)]
    bad_type = orjson.dumps(dict(ticks(1)[0], vol="ten")) + b"\n"
    records = [good[0], b"{not json\n", bad_type, good[1], b"[1,2]\n", good[2]]
    values, poison = parse_ticks(records)
    assert [v is NOT_PARSED for v in values] == [False, True, True, False, True, False]
    for p in poison:
        with pytest.raises(TickError) as exc:
            decode(records[p.sub])
        assert p.reason == str(exc.value) and p.data == records[p.sub]
    assert [v.ltp for v in values if v is not NOT_PARSED] == [800.0, 801.0, 802.0]


def test_bar_input_fields_are_tick_fields():
    assert set(BAR_INPUT_FIELDS) <= set(FIELDS)


@given(st.lists(st.tuples(st.integers(EARLIEST_TS, 2**40), st.floats(0.05, 1e6, allow_nan=False),
                          st.none() | st.integers(0, 2**50), st.none() | st.integers(0, 2**31)), min_size=1,
                max_size=30))
def test_decoded_fields_equal_the_ticks_fields(rows):
    ts = [make("NSE:X-EQ", t, p, ltt=t, vol=v, atp=p, oi=oi) for t, p, v, oi in rows]
    values, poison = parse_ticks([encode(t) for t in ts])
    assert not poison
    for t, v in zip(ts, values, strict=True):
        assert {f: getattr(v, f) for f in BAR_INPUT_FIELDS} == {f: t[f] for f in BAR_INPUT_FIELDS}


def _std_b64(data):
    try:
        return base64.b64decode(data)
    except ValueError as exc:  # binascii.Error, or a str that is not ASCII
        return (type(exc), str(exc))


def _our_b64(data):
    try:
        return b64decode(data)
    except ValueError as exc:  # binascii.Error, or a str that is not ASCII
        return (type(exc), str(exc))


@given(st.binary(max_size=200), st.lists(st.tuples(st.integers(0, 300), st.sampled_from(" \n=!-_*\u00e9"))),
       st.integers(0, 3))
def test_b64decode_is_the_standard_librarys_for_any_input(raw, junk, cut):
    good = base64.b64encode(raw).decode()
    bad = list(good[: len(good) - cut])
    for pos, ch in junk:  # characters outside the alphabet, padding in the middle, cut ends
        bad.insert(min(pos, len(bad)), ch)
    for data in (good, good.encode(), "".join(bad), "".join(bad).encode()):
        assert _our_b64(data) == _std_b64(data)


def test_one_bad_record_in_a_batch_is_poison_alone():
    # the whole-batch decode fails on it; each record is then decoded alone
    good = [encode(t) for t in ticks(40)]
    records = good[:17] + [b'{"sym":"NSE:X-EQ","ts":1700000000,"ltp":"1.0"}\n'] + good[17:]
    values, poison = parse_ticks(records)
    assert [p.sub for p in poison] == [17] and "ltp" in poison[0].reason
    assert values[17] is NOT_PARSED
    assert [v.ts for v in values[:17] + values[18:]] == [t["ts"] for t in ticks(40)]


# ----- the native fast path (fast_ticks): the same ticks as user_records + parse_ticks, or None ---------
# (and tests/bars/test_decode_native.py: every record at every bound)

def read(values):
    """The fields the bars read, of each value (fast_ticks' values are not TickFields)."""
    return None if values is None else [[getattr(v, f) for f in (*BAR_INPUT_FIELDS, "pid")] for v in values]


def slow_values(data: bytes):
    """What the general path makes of a record: its values when every user record is a tick, else None."""
    try:
        values, bad = parse_ticks(user_records(data))
    except AggregateError:
        return None
    return None if bad else values


@pytest.mark.skipif(decode_mod._kpl_ticks is None, reason="accelerator not built")
@given(n=st.integers(1, 40), cut=st.integers(0, 10_000), flip=st.integers(0, 10_000), byte=st.integers(0, 255),
       mode=st.sampled_from(["intact", "flip", "truncate", "flip and fix md5", "watermark"]))
def test_fast_ticks_decodes_what_the_general_path_decodes_or_leaves_it_to_it(n, cut, flip, byte, mode):
    ts = ticks(n)
    agg = RecordAggregator()
    for i, t in enumerate(ts):
        agg.add_user_record(t["sym"], encode(t))
        if mode == "watermark" and i == n // 2:
            agg.add_user_record("wm:p:0", Watermark("p", t["ts"]).encode())
    data = agg.clear_and_get().get_contents()[2]
    body = bytearray(data[len(MAGIC):-16])
    if mode == "flip":
        data = bytearray(data)
        data[flip % len(data)] ^= byte or 1
        data = bytes(data)
    elif mode == "truncate":
        data = data[:cut % len(data)]
    elif mode == "flip and fix md5":  # corrupt protobuf or JSON with a valid checksum
        body[flip % len(body)] = byte
        data = MAGIC + bytes(body) + hashlib.md5(bytes(body)).digest()
    slow = slow_values(data)  # first: it checks the symbol's shape, which the native decoder then knows
    got = fast_ticks(data)
    if mode == "intact":
        assert got is not None and read(got) == read(slow)
    elif mode == "watermark":
        assert got is None  # a watermark among the ticks: the general path splits them
    else:
        assert got is None or read(got) == read(slow)


@pytest.mark.skipif(decode_mod._kpl_ticks is None, reason="accelerator not built")
def test_kpl_ticks_refuses_what_it_does_not_expect():
    from _tickpipe_bars import kpl_ticks

    def native(buffer):
        return kpl_ticks(buffer, 0, len(buffer), 2**62, 2**62, {"NSE:SBIN-EQ"})

    tick = b'{"sym":"NSE:SBIN-EQ","ts":1700000000,"ltp":1.5}\n'
    record = b"\x1a" + bytes([len(tick)]) + tick  # a Record with only its data (field 3), < 128 bytes
    assert len(native(b"\x1a" + bytes([len(record)]) + record)) == 1
    assert native(b"") is None  # no records
    assert native(b"\x1a\x05\x08\x00") is None  # a record longer than the buffer
    assert native(b"\x1a\x02\x08\x00") is None  # a record without data
    assert native(b"\x1a\x04\x1a\x02{}") is None  # data that is not a tick
    with pytest.raises(ValueError, match="outside the buffer"):
        kpl_ticks(b"abc", 0, 9, 0, 0, set())


def test_invalid_utf8_inside_a_string_is_poison_not_a_crash():
    # msgspec raises UnicodeDecodeError (not DecodeError) for it
    good = encode(ticks(1)[0])
    bad = good.replace(b'"ws"', b'"w\x80"')
    values, poison = parse_ticks([bad, good])
    assert values[0] is NOT_PARSED and values[1] is not NOT_PARSED
    assert [p.sub for p in poison] == [0] and "UTF-8" in poison[0].reason
