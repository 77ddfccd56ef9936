"""Kinesis facts the producer, the consumers and the local stand-ins share: the hash key a partition key
routes by, and the stream's shards from every page of ``ListShards``.

Kinesis routes a record by ``md5(partition key)`` read as a 128-bit big-endian integer (or by an
explicit hash key, a decimal string in the same space) to the open shard whose
``[StartingHashKey, EndingHashKey]`` range holds it (Kinesis API reference, PutRecord,
"PartitionKey"). The producer groups ticks by it; the bars handler uses it to hand a split parent's
symbols to the child that now receives them.

No I/O of its own: :func:`list_shards` pages through the client it is given.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_kinesis.type_defs import ShardTypeDef

HASH_KEY_MAX: Final = (1 << 128) - 1


def hash_key(partition_key: str) -> int:
    """The 128-bit hash key Kinesis computes for a partition key (0 .. HASH_KEY_MAX)."""
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")


def list_shards(kinesis: KinesisClient, stream: str) -> list[ShardTypeDef]:
    """Every shard of ``stream``, open and closed, in ListShards order, from all its pages.

    The first call names the stream; the next ones pass only ``NextToken`` ("Don't specify
    StreamName ... if you specify NextToken", Kinesis API reference, ListShards). moto differs: it
    pages only past 10,000 shards and then wants the stream name with the token, so
    tests/test_kinesis.py checks the loop against AWS's rule with a paging stand-in.
    Whatever the client raises (a missing stream, throttling) reaches the caller unchanged, for it
    to say what that means where it is."""
    kwargs: dict[str, Any] = {"StreamName": stream}
    shards: list[ShardTypeDef] = []
    while True:
        page = kinesis.list_shards(**kwargs)
        shards.extend(page.get("Shards", []))
        token = page.get("NextToken")
        if not token:
            return shards
        kwargs = {"NextToken": token}


def is_open(shard: ShardTypeDef) -> bool:
    """Whether a ListShards item is open: a closed shard (a reshard's parent) has an ending sequence number."""
    return "EndingSequenceNumber" not in shard.get("SequenceNumberRange", {})
