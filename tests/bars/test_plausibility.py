"""The bars handler against hostile input (issue #10): an implausible tick is quarantined with its
reason, never raised (no Lambda retry or bisect), and every good tick is folded in once."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re

import boto3
import pytest
from aws_kinesis_agg.aggregator import RecordAggregator
from bars_reference import OPEN, reference_bars, strip, synthetic_day
from bars_stream import lake_bars, lake_objects, put
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.bars.decode import NOT_PARSED, parse_ticks
from consumers.bars.handler import BarsConsumer
from consumers.bars.io import QUARANTINE
from local.kinesis_runner import KinesisRunner
from market import tick as tickmod
from market.bars import BarBuilder, curated
from market.errors import TickError
from tickpipe.config import Settings

ARRIVAL = OPEN + 3600  # the records reached Kinesis an hour after the open of the synthetic day
YEAR_9999 = int(dt.datetime(9999, 12, 31, tzinfo=dt.UTC).timestamp())


def line(record) -> bytes:
    """A JSON line as a hostile writer could send it (the standard library writes any integer)."""
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


GOOD = synthetic_day(21, symbols=2, trades=20, span=1200, with_index=False)

BAD = [
    ("ts", YEAR_9999, "'ts' is more than 300 s after"), ("ts", 10**12, "'ts' is more than"),
    ("ts", 2**63 - 1, "'ts' is more than"), ("ts", 2**63, "'ts'"), ("ltt", -1, "'ltt' must be in"),
    ("ts", ARRIVAL + 30 * 86_400, "'ts' is more than"), ("ts", 0, "'ts' must be in 946684800"),
    ("ltt", ARRIVAL + 301, "'ltt' is more than"), ("ltp", 0, "'ltp' must be > 0"), ("ltp", -1.5, "'ltp' must be > 0"),
    ("ltp", 1e308, "'ltp'"), ("vol", 2**63, "'vol'"), ("oi", -1, "'oi'"), ("seq", 2**64, "'seq'"),
    ("sym", "NSE:" + "A" * 3000, "EXCHANGE:NAME"), ("sym", "SBIN", "EXCHANGE:NAME"), ("pid", "p" * 65, "'pid'"),
    ("rx", (ARRIVAL + 301) * 1000, "'rx' is more than"), ("v", 2, "schema version"),
]


@pytest.mark.parametrize(("name", "value", "reason"), BAD)
@pytest.mark.parametrize("batch", [True, False], ids=["in-a-batch", "alone"])
def test_an_implausible_tick_is_poison_with_its_reason(name, value, reason, batch):
    bad = line({**GOOD[0], name: value})
    records = [line(t) for t in GOOD[1:4]] + [bad] if batch else [bad]
    values, poison = parse_ticks(records, ARRIVAL)
    [p] = poison
    assert p.sub == len(records) - 1 and p.data == bad and values[p.sub] is NOT_PARSED
    assert re.search(reason, p.reason), p.reason
    assert [v.ts for v in values[:-1]] == [t["ts"] for t in GOOD[1:len(records)]]


def test_values_at_their_bounds_are_ticks():
    edge = [{**GOOD[0], "seq": 2**64 - 1}, {**GOOD[0], "vol": 2**63 - 1}, {**GOOD[0], "ts": ARRIVAL + 300},
            {**GOOD[0], "ltp": tickmod.MAX_PRICE}, {**GOOD[0], "v": None}, {**GOOD[0], "sym": "NSE:M&M_.-EQ"}]
    values, poison = parse_ticks([line(t) for t in edge], ARRIVAL)
    assert not poison and [v.v for v in values] == [1] * len(edge)


def test_a_ten_megabyte_record_is_poison_unparsed():
    huge = line({**GOOD[0], "pid": "x" * 10_000_000})
    _, [p] = parse_ticks([line(GOOD[1]), huge], ARRIVAL)
    assert p.sub == 1 and "exceeds 4096" in p.reason


# ---- arbitrary records through the handler's fold: nothing escapes, nothing is lost --------------

json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=3,
)
int_edges = st.sampled_from([-1, 0, tickmod.EARLIEST_TS - 1, ARRIVAL + 300, ARRIVAL + 301, 10**12, 2**63 - 1,
                             2**63, 2**64 - 1, 2**64, YEAR_9999])


@st.composite
def user_record(draw) -> bytes:
    base = draw(st.sampled_from(GOOD))
    kind = draw(st.sampled_from(["good", "changed", "bytes", "json"]))
    if kind == "good":
        return line(base)
    if kind == "bytes":
        return draw(st.binary(max_size=60))
    if kind == "json":
        try:
            return line(draw(json_value))
        except ValueError:  # NaN is not JSON
            return b"{}"
    changes = draw(st.dictionaries(st.sampled_from(tickmod.FIELDS), json_value | int_edges, max_size=3))
    try:
        return json.dumps({**base, **changes}, allow_nan=False).encode() + b"\n"
    except ValueError:
        return line(base)


def kinesis_records(groups: list[tuple[bool, list[bytes]]]) -> list[dict]:
    """Lambda-shaped records: each group KPL-aggregated, or its first user record sent plain."""
    out = []
    for n, (aggregate, users) in enumerate(groups, start=1):
        if aggregate:
            agg = RecordAggregator()
            for u in users:
                agg.add_user_record("pk", u)
            data = agg.clear_and_get().get_contents()[2]
        else:
            data = users[0]
        out.append({"kinesis": {"sequenceNumber": str(n), "data": base64.b64encode(data).decode(),
                                "approximateArrivalTimestamp": ARRIVAL}})
    return out


def accepted(rec: bytes) -> bool:
    try:
        tickmod.decode(rec, arrival=ARRIVAL)
    except TickError:
        return False
    return True


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.booleans(), st.lists(user_record(), min_size=1, max_size=6)), max_size=6))
def test_any_records_fold_into_bars_or_poison_with_a_reason(groups):
    consumer = BarsConsumer(Settings(env="test"), s3=object(), firehose=object(), kinesis=object())
    builder = BarBuilder(consumer.config)
    records = kinesis_records(groups)
    _, poison, _ = consumer.fold(builder, records, -1, "shardId-000000000000", until=len(records))  # no exception
    sent = [users if aggregate else users[:1] for aggregate, users in groups]
    bad = {(i, j) for i, users in enumerate(sent) for j, u in enumerate(users) if not accepted(u)}
    assert {(i, sub) for i, _, sub, _, _, kind in poison if kind == "poison"} == bad  # every bad one ...
    assert all(reason for *_, reason, _ in poison)  # ... with its reason
    assert builder.ticks == sum(map(len, sent)) - len(bad)  # every good one folded in, once


# ---- the handler on the stream: quarantine, no retry, the good ticks' bars -----------------------


def test_out_of_range_times_are_quarantined_without_retries(lake):
    bad = [{**GOOD[0], "ts": YEAR_9999}, {**GOOD[1], "ts": 10**12}, {**GOOD[2], "ts": 2**63 - 1},
           {**GOOD[3], "ltt": -1}, {**GOOD[4], "ts": int(dt.datetime.now(dt.UTC).timestamp()) + 30 * 86_400}]
    agg = RecordAggregator()
    for t in GOOD[:10] + bad[:3]:
        agg.add_user_record(t["sym"], line(t))
    pk, _, data = agg.clear_and_get().get_contents()
    put(boto3.client("kinesis"), lake.stream, [(pk, data)] + [(t["sym"], line(t)) for t in bad[3:] + GOOD[10:]])
    consumer = BarsConsumer(lake)
    runner = KinesisRunner(lake.stream, consumer.handle, batch_size=5, tumbling_window_s=60)
    runner.drain()
    consumer.flush("shardId-000000000000")
    assert runner.counters.failed_invocations == 0 and runner.counters.bisects == 0 and not runner.discarded
    reasons = sorted(doc["reason"] for doc in lake_objects(boto3.client("s3"), lake.bucket, QUARANTINE).values())
    assert len(reasons) == len(bad) == consumer.counters["quarantined"]
    assert sum("'ts' is more than 300 s after" in r for r in reasons) == 4 and any("'ltt'" in r for r in reasons)
    assert strip(curated(lake_bars(boto3.client("s3"), lake.bucket))) == reference_bars(GOOD)
