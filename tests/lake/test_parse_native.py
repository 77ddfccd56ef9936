"""The native JSON-lines reader (native/json_columns.c) reads what pyarrow's reader reads, the same.

It takes only the plain shape the producer writes and hands anything else back (None) to the
general path, so the rule is: whenever it gives a table, pyarrow's reader gives the equal table."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.json as pj
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import consumers.lake.compact as compact_mod
from consumers.lake.schema import BARS, TICKS
from market import tick as tickmod
from tests.lake.conftest import Factory

FIXED = Factory(seed=5).ticks([f"NSE:S{i}-EQ" for i in range(3)], 4)


def pyarrow_reads(spec, data: bytes) -> pa.Table | None:
    try:
        table = pj.read_json(pa.BufferReader(data), parse_options=pj.ParseOptions(
            explicit_schema=spec.read_schema, unexpected_field_behavior="ignore"))
    except pa.ArrowInvalid:
        return None
    return table.select(spec.read_schema.names)


def test_the_accelerator_is_built():
    assert compact_mod.NATIVE, "pip install -e . should have built _tickpipe_lines (native/json_columns.c); see its output"


def test_the_producers_lines_are_read_natively_as_pyarrow_reads_them():
    data = tickmod.encode_many(FIXED)
    table = compact_mod._parse_native(TICKS, data)
    assert table is not None and table.equals(pyarrow_reads(TICKS, data))
    table.validate(full=True)


def test_bar_lines_are_read_natively_as_pyarrow_reads_them():
    bars = [{"sym": "NSE:S1-EQ", "start": 1_764_128_700 + 300 * i, "o": 10.5, "h": 11.0, "l": 10.0, "c": 10.75,
             "vol": 1000 + i, "n": 3, "rev": 1, "v": 1} for i in range(5)]
    data = b"".join(json.dumps(b).encode() + b"\n" for b in bars)
    table = compact_mod._parse_native(BARS, data)
    assert table is not None and table.equals(pyarrow_reads(BARS, data))


def test_missing_null_and_unknown_fields():
    data = (b'{"sym":"NSE:A-EQ","ts":1764128700,"ltp":1.5,"oi":null,"kind":"tick","extra":[1]}\n'
            b'{"sym":"NSE:B-EQ","ts":1764128701,"ltp":2,"kind":"tick","n":-1.5e3}\n')
    assert compact_mod._parse_native(TICKS, data) is None  # an unknown field holding a list: the general path
    data = data.replace(b',"extra":[1]', b"")
    table = compact_mod._parse_native(TICKS, data)
    assert table is not None and table.equals(pyarrow_reads(TICKS, data))
    assert table["oi"].null_count == 2 and table["ltp"].to_pylist() == [1.5, 2.0]


number_token = st.one_of(
    st.integers(-(2**64), 2**64 + 1).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(json.dumps),
    st.sampled_from(["-0", "0.0", "-0.0", "1e22", "1e23", "9007199254740993", "0.1000000000000000055511151231257827",
                     "5E-3", "5e+3", "1.5e-22", "123456789012345678.5", "01", "1.", ".5", "-", "1e", "+1", "0x10"]),
)
string_token = st.one_of(st.sampled_from(['"NSE:S1-EQ"', '"ws"', '"\\u0041"', '"caf\u00e9"', '"a\\"b"', '""']),
                         st.text(max_size=8).map(json.dumps))
value_token = st.one_of(number_token, string_token, st.sampled_from(["null", "true", "false", "[]", "{}"]))
space = st.sampled_from(["", "", "", " ", "\t", "\r"])


@st.composite
def a_line(draw) -> bytes:
    record = {k: json.dumps(v) for k, v in draw(st.sampled_from(FIXED)).items()}
    for name in draw(st.lists(st.sampled_from([*tickmod.FIELDS, "kind", "x"]), max_size=3)):
        record[name] = draw(value_token)
    for name in draw(st.lists(st.sampled_from(tickmod.FIELDS), max_size=2)):
        record.pop(name, None)
    gap = draw(space)
    body = ("," + gap).join(f'"{k}"{draw(space)}:{gap}{v}' for k, v in record.items())
    line = gap + "{" + body + "}" + draw(space)
    return line.encode()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(a_line() | st.sampled_from([b"", b"null", b"{}", b'{"ts":1}{"ts":2}', b"[1]"]), min_size=1, max_size=8),
       st.booleans())
def test_whatever_the_native_reader_accepts_pyarrow_reads_the_same(raw_lines, last_newline):
    data = b"\n".join(raw_lines) + (b"\n" if last_newline else b"")
    if data.count(b"\n") + (not data.endswith(b"\n")) != data.startswith(b"{") + data.count(b"\n{"):
        # a blank or non-object line, which pyarrow's reader must not see (it can crash on `null`)
        assert compact_mod._parse_native(TICKS, data) is None
        return
    native = compact_mod._parse_native(TICKS, data)
    if native is not None:
        native.validate(full=True)
        expected = pyarrow_reads(TICKS, data)
        assert native.equals(expected)
        assert repr(native.to_pylist()) == repr(expected.to_pylist())  # also the sign of a zero
