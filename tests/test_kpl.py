"""tickpipe.kpl: aggregated Kinesis records read back, against aws-kinesis-agg as the independent writer."""

from __future__ import annotations

import hashlib

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator
from hypothesis import given, settings
from hypothesis import strategies as st

from tickpipe.errors import AggregateError
from tickpipe.kpl import MAGIC, aggregate_body, frame, keyed_records, user_records

KEYS = st.sampled_from(["NSE:SBIN-EQ", "NSE:TCS-EQ", "BSE:SENSEX-INDEX", "NSE:Ü-EQ", "wm:p1:0"])
USER_RECORDS = st.lists(st.tuples(KEYS, st.binary(max_size=300)), min_size=1, max_size=40)


def kpl_aggregate(records: list[tuple[str, bytes]]) -> bytes:
    """One aggregated record written by aws-kinesis-agg (the KPL format's reference writer in Python)."""
    agg = RecordAggregator()
    for pk, data in records:
        assert agg.add_user_record(pk, data) is None  # all fit in one aggregate
    return agg.clear_and_get().get_contents()[2]


@settings(max_examples=50)
@given(USER_RECORDS)
def test_an_aggregate_gives_back_its_user_records_and_their_keys_in_order(records):
    data = kpl_aggregate(records)
    assert user_records(data) == [d for _, d in records]
    assert keyed_records(data) == records


@given(st.binary(max_size=200).filter(lambda d: not d.startswith(MAGIC)))
def test_a_plain_record_is_its_own_single_user_record(data):
    assert user_records(data) == [data] and aggregate_body(data) is None


def test_a_plain_record_has_no_partition_keys_to_give():
    with pytest.raises(AggregateError, match="no KPL magic"):
        keyed_records(b'{"sym":"NSE:SBIN-EQ"}\n')


def test_frame_is_magic_body_and_the_bodys_md5():
    data = kpl_aggregate([("NSE:SBIN-EQ", b"x\n")])
    body = bytes(aggregate_body(data))
    assert frame(body) == data == MAGIC + body + hashlib.md5(body).digest()


@pytest.mark.parametrize(("damage", "why"), [
    (lambda d: d[:-1] + bytes([d[-1] ^ 1]), "md5 does not match"),
    (lambda d: d[: len(MAGIC) + 10], "too short|md5"),
    (lambda d: MAGIC, "too short"),
    (lambda d: frame(b"\xff\xff\xff"), "protobuf does not parse"),
])
def test_a_broken_aggregate_is_refused_with_the_reason(damage, why):
    data = damage(kpl_aggregate([("NSE:SBIN-EQ", b"a\n"), ("NSE:TCS-EQ", b"b\n")]))
    for read in (user_records, keyed_records):
        with pytest.raises(AggregateError, match=why):
            read(data)


def test_a_record_pointing_past_the_key_table_is_refused():
    body = b"\x0a\x01k" + b"\x1a\x05\x08\x01\x1a\x01x"  # key table ["k"], one record with key index 1
    with pytest.raises(AggregateError, match="partition key index 1 outside the table of 1"):
        keyed_records(frame(body))


@given(st.binary(max_size=300))
def test_any_bytes_after_the_magic_give_records_or_an_aggregate_error(tail):
    for data in (MAGIC + tail, frame(tail)):
        try:
            assert all(isinstance(r, bytes) for r in user_records(data))
        except AggregateError:
            pass
