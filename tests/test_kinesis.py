"""tickpipe.kinesis: the hash key Kinesis routes by, and every page of ListShards (on the moto server)."""

from __future__ import annotations

import hashlib

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from tickpipe.kinesis import HASH_KEY_MAX, hash_key, is_open, list_shards

SYMBOLS = ["NSE:SBIN-EQ", "NSE:RELIANCE-EQ", "NSE:NIFTY50-INDEX", "BSE:SENSEX-INDEX", "NSE:TCS-EQ", "wm:p1:0"]


@pytest.fixture
def kinesis(aws):
    return aws.client("kinesis")


def make_stream(kinesis, name: str, shards: int) -> str:
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    return name


@given(st.text(min_size=1, max_size=256))
def test_the_hash_key_is_the_partition_keys_md5_as_a_128_bit_integer(key):
    # Kinesis API reference, PutRecord: "MD5 hash function is used to map partition keys to 128-bit integer values"
    assert hash_key(key) == int(hashlib.md5(key.encode()).hexdigest(), 16)
    assert 0 <= hash_key(key) <= HASH_KEY_MAX


def test_a_record_lands_on_the_shard_whose_range_holds_its_hash_key(kinesis):
    stream = make_stream(kinesis, "routing", 4)
    ranges = {s["ShardId"]: (int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]))
              for s in list_shards(kinesis, stream)}
    for sym in SYMBOLS:
        put = kinesis.put_record(StreamName=stream, PartitionKey=sym, Data=b"x")
        lo, hi = ranges[put["ShardId"]]
        assert lo <= hash_key(sym) <= hi


class PagedKinesis:
    """ListShards paged by AWS's rule (Kinesis API reference, ListShards: "Don't specify StreamName or
    StreamCreationTimestamp if you specify NextToken"), serving the moto stream's shards two a page.
    moto pages only past 10,000 shards, and then wants StreamName with the token (its paginator's
    checksum covers the stream name, moto/kinesis/models.py), so it cannot show the loop itself."""

    def __init__(self, real, page: int = 2) -> None:
        self.real, self.page, self.calls = real, page, []

    def list_shards(self, **kwargs):
        self.calls.append(kwargs)
        if "NextToken" in kwargs and "StreamName" in kwargs:
            raise ClientError({"Error": {"Code": "InvalidArgumentException",
                                         "Message": "NextToken and StreamName cannot be provided together."}}, "ListShards")
        stream, start = kwargs["NextToken"].split("|") if "NextToken" in kwargs else (kwargs["StreamName"], 0)
        shards = self.real.list_shards(StreamName=stream)["Shards"]
        end = int(start) + self.page
        return {"Shards": shards[int(start):end], **({"NextToken": f"{stream}|{end}"} if end < len(shards) else {})}


def test_every_page_of_list_shards_is_read_passing_only_the_token_after_the_first(kinesis):
    stream = make_stream(kinesis, "paged", 5)
    paged = PagedKinesis(kinesis)
    shards = list_shards(paged, stream)
    assert [s["ShardId"] for s in shards] == [s["ShardId"] for s in kinesis.list_shards(StreamName=stream)["Shards"]]
    assert len(shards) == 5 and len(paged.calls) == 3
    assert paged.calls[0] == {"StreamName": stream} and all(set(c) == {"NextToken"} for c in paged.calls[1:])


def test_a_split_parent_is_listed_closed_and_its_children_open(kinesis):
    stream = make_stream(kinesis, "split", 1)
    (parent,) = list_shards(kinesis, stream)
    middle = (int(parent["HashKeyRange"]["StartingHashKey"]) + int(parent["HashKeyRange"]["EndingHashKey"])) // 2
    kinesis.split_shard(StreamName=stream, ShardToSplit=parent["ShardId"], NewStartingHashKey=str(middle))
    after = {s["ShardId"]: is_open(s) for s in list_shards(kinesis, stream)}
    assert after.pop(parent["ShardId"]) is False
    assert list(after.values()) == [True, True]


def test_a_missing_stream_reaches_the_caller_as_the_clients_own_error(kinesis):
    with pytest.raises(ClientError) as caught:
        list_shards(kinesis, "no-such-stream")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
