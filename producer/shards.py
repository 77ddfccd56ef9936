"""The stream's shard map: which open shard owns which range of the 128-bit hash key space.

Kinesis routes a record by its hash key (:func:`tickpipe.kinesis.hash_key`, or an explicit hash key
in the same space) to the open shard whose ``[StartingHashKey, EndingHashKey]`` range holds it. The
aggregator groups user records by that
shard, so each aggregated record only holds user records that belong where it lands.

After a reshard (on-demand streams do it by themselves) the parents are closed and the children
own their ranges. ``ListShards`` returns both; a shard with an ``EndingSequenceNumber`` is closed.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from producer.errors import ShardMapError
from tickpipe.kinesis import HASH_KEY_MAX, hash_key, is_open, list_shards

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_kinesis.type_defs import ShardTypeDef


@dataclass(frozen=True)
class Shard:
    shard_id: str
    start: int
    end: int

    @property
    def explicit_hash_key(self) -> str:
        """A hash key inside this shard's range, sent with every aggregated record for it.

        The shard's first key, so that if the map goes stale (a split we have not seen yet)
        every record of this buffer still lands on one shard, in order, until we refresh.
        """
        return str(self.start)


class ShardMap:
    """Open shards sorted by starting hash key, with a bisect lookup."""

    def __init__(self, shards: Iterable[Shard]) -> None:
        self.shards: tuple[Shard, ...] = tuple(sorted(shards, key=lambda s: s.start))
        if not self.shards:
            raise ShardMapError("the stream has no open shards")
        self._starts = [s.start for s in self.shards]
        self.ids = frozenset(s.shard_id for s in self.shards)
        self._by_id = {s.shard_id: s for s in self.shards}

    def shard_for_hash(self, key: int) -> Shard:
        return self.shards[bisect.bisect_right(self._starts, key) - 1]

    def shard_for(self, partition_key: str) -> Shard:
        return self.shard_for_hash(hash_key(partition_key))

    def get(self, shard_id: str) -> Shard | None:
        return self._by_id.get(shard_id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ShardMap) and self.shards == other.shards

    def __hash__(self) -> int:
        return hash(self.shards)

    @property
    def known(self) -> bool:
        return UNKNOWN_SHARD not in self.ids

    def __len__(self) -> int:
        return len(self.shards)

    def __repr__(self) -> str:
        return f"ShardMap({', '.join(s.shard_id for s in self.shards)})"

    @classmethod
    def from_list_shards(cls, shards: Iterable[ShardTypeDef]) -> ShardMap:
        """Build from ``ListShards`` items, keeping the open shards only."""
        open_shards = [
            Shard(s["ShardId"], int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]))
            for s in shards
            if is_open(s)
        ]
        return cls(open_shards)


UNKNOWN_SHARD = "unknown"


def unknown_map() -> ShardMap:
    """Stand-in while ListShards cannot be reached: one pseudo shard; the sender journals everything."""
    return ShardMap([Shard(UNKNOWN_SHARD, 0, HASH_KEY_MAX)])


def load_shard_map(kinesis: KinesisClient, stream: str) -> ShardMap:
    """Read the stream's open shards with ``ListShards`` (paginated)."""
    try:
        items = list_shards(kinesis, stream)
    except kinesis.exceptions.ResourceNotFoundException:
        raise ShardMapError(
            f"Kinesis stream {stream!r} does not exist; create it (terraform apply, or `tickpipe demo` "
            "locally) or set TICKPIPE_STREAM"
        ) from None
    return ShardMap.from_list_shards(items)
