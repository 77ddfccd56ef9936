"""Shard-aware KPL aggregation: user records grouped by destination shard into 25 KiB records.

The wire format is the Kinesis Producer Library's, as read by aws-kinesis-agg's deaggregator, the
KCL, Lambda consumers using it, and Firehose: ``MAGIC · AggregatedRecord (protobuf) · md5(protobuf)``.
``AggregatedRecord`` is ``repeated string partition_key_table = 1; repeated Record records = 3``,
``Record`` is ``uint64 partition_key_index = 1; bytes data = 3``.

aws-kinesis-agg's own RecordAggregator builds a protobuf message per user record and re-measures
it; in pure Python that is several times too slow for 100k ticks/s, so the protobuf bytes are
written here directly (the same bytes ``messages_pb2`` serialises; tests deaggregate them with
aws-kinesis-agg) and framed by :func:`tickpipe.kpl.frame`; :mod:`tickpipe.kpl` reads them back.
Size is tracked exactly, so a record never exceeds its budget.

Why per shard: an aggregated record lands on one shard, so it must only hold user records whose
partition keys hash to that shard, or a consumer that filters by hash range (the KCL does) drops
them and per-symbol order across shards is lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import orjson

from market.watermark import KEY_PREFIX
from producer.shards import Shard, ShardMap
from tickpipe.kpl import DIGEST_SIZE, MAGIC, frame

if TYPE_CHECKING:
    from mypy_boto3_kinesis.type_defs import PutRecordsRequestEntryTypeDef

# One PUT payload unit: Kinesis bills (and throttles) a record's data + partition key in 25 KiB units.
PUT_UNIT_BYTES: Final = 25 * 1024
WATERMARK_KEY_PREFIX: Final = KEY_PREFIX  # partition keys of watermark records (market/watermark.py)
MAX_RECORD_BYTES: Final = 1024 * 1024  # Kinesis per-record limit (data + partition key)
_OVERHEAD: Final = len(MAGIC) + DIGEST_SIZE


def varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_VARINT: Final = [varint(i) for i in range(1 << 14)]  # every length a tick or a 25 KiB record can have
# A user record's head: the Record tag (3, bytes) and its length, precomputed for each length.
_RECORD_TAG: Final = [b"\x1a" + v for v in _VARINT]
# A user record's fields before its data: partition_key_index = i, then the data tag (3, bytes).
_PREFIX: Final = [b"\x08" + v + b"\x1a" for v in _VARINT]


def _v(value: int) -> bytes:
    return _VARINT[value] if value < 16384 else varint(value)


def _prefix(index: int) -> bytes:
    return _PREFIX[index] if index < 16384 else b"\x08" + varint(index) + b"\x1a"


class AggRecord:
    """One aggregated Kinesis record, ready for PutRecords."""

    __slots__ = ("shard_id", "explicit_hash_key", "partition_key", "data", "count", "created")

    def __init__(self, shard_id: str, explicit_hash_key: str, partition_key: str, data: bytes, count: int,
                 created: float) -> None:
        self.shard_id = shard_id
        self.explicit_hash_key = explicit_hash_key
        self.partition_key = partition_key
        self.data = data
        self.count = count  # user records (ticks) inside
        self.created = created  # monotonic time the first user record arrived (for latency)

    @property
    def size(self) -> int:
        """Payload bytes Kinesis counts: data + partition key."""
        return len(self.data) + len(self.partition_key.encode())

    def entry(self) -> PutRecordsRequestEntryTypeDef:
        """The PutRecords entry."""
        return {"Data": self.data, "PartitionKey": self.partition_key, "ExplicitHashKey": self.explicit_hash_key}

    def __repr__(self) -> str:
        return f"AggRecord({self.shard_id}, {self.count} records, {len(self.data)} bytes)"


class _Buffer:
    """User records for one shard, as protobuf pieces: ``pk_table`` entries and ``parts`` (one per
    user record, so their count is ``len(parts)``). ``room`` is what the budget still allows once
    the buffer holds a record: max bytes − overhead − the record's partition key − body so far."""

    __slots__ = ("shard", "pk_table", "prefixes", "parts", "room", "created", "first_pk", "marks")

    def __init__(self, shard: Shard) -> None:
        self.shard = shard
        self.created = 0.0
        self.reset()

    def reset(self) -> None:
        self.pk_table: list[bytes] = []
        self.prefixes: dict[str, bytes] = {}  # partition key -> its user records' prefix (table index)
        self.parts: list[bytes] = []
        self.room = 0
        self.first_pk = ""
        self.marks = 0  # user records that are no tick (watermarks, producer/watermarks.py)

    def build(self) -> AggRecord:
        body = b"".join(self.pk_table) + b"".join(self.parts)
        data = frame(body)
        rec = AggRecord(self.shard.shard_id, self.shard.explicit_hash_key, self.first_pk, data,
                        len(self.parts) - self.marks, self.created)
        self.reset()
        return rec


class Aggregator:
    """Groups user records by destination shard; emits a record when it is full or old.

    ``max_bytes`` bounds data + partition key of each aggregated record (default one PUT unit).
    ``emit`` receives each finished :class:`AggRecord`. Not thread-safe: call from one thread or
    under one lock.
    """

    def __init__(self, shard_map: ShardMap, emit: Callable[[AggRecord], None], *, max_bytes: int = PUT_UNIT_BYTES,
                 max_age: float = 0.1, clock: Callable[[], float] = time.monotonic) -> None:
        if not 512 <= max_bytes <= MAX_RECORD_BYTES:
            raise ValueError(f"max_bytes must be between 512 and {MAX_RECORD_BYTES}, got {max_bytes}")
        self.emit = emit
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.clock = clock
        self.user_records = 0
        self._set_map(shard_map)

    def _set_map(self, shard_map: ShardMap) -> None:
        self.shard_map = shard_map
        self._buffers = {s.shard_id: _Buffer(s) for s in shard_map.shards}
        # partition key -> (its shard's buffer, its partition_key_table entry): md5 once per key and map
        self._route: dict[str, tuple[_Buffer, bytes]] = {}

    def set_shard_map(self, shard_map: ShardMap) -> None:
        """Switch to a new map: what is buffered for the old shards is emitted first (keeps order)."""
        if shard_map == self.shard_map:
            return
        self.flush()
        self._set_map(shard_map)

    def _slot(self, pk: str) -> tuple[_Buffer, bytes]:
        pkb = pk.encode()
        slot = (self._buffers[self.shard_map.shard_for(pk).shard_id], b"\x0a" + _v(len(pkb)) + pkb)
        if len(self._route) > 100_000:  # a bound in case keys are not a finite symbol set
            self._route.clear()
        self._route[pk] = slot
        return slot

    def add(self, pk: str, data: bytes) -> None:
        """Add one user record (partition key, bytes)."""
        self._add(pk, data)
        self.user_records += 1

    def _add(self, pk: str, data: bytes) -> None:
        buf, entry = self._route.get(pk) or self._slot(pk)
        prefix = buf.prefixes.get(pk)
        extra = 0
        if prefix is None:
            prefix = _prefix(len(buf.pk_table))
            extra = len(entry)
        n = len(data)
        inner = len(prefix) + len(_v(n)) + n
        added = 1 + len(_v(inner)) + inner + extra
        if buf.parts:
            if added > buf.room:
                self.emit(buf.build())
                self._add(pk, data)  # starts a fresh buffer; the key gets index 0 there
                return
            buf.room -= added
        else:
            buf.first_pk = pk
            buf.created = self.clock()
            buf.room = self.max_bytes - _OVERHEAD - len(pk.encode()) - added
        if extra:
            buf.pk_table.append(entry)
            buf.prefixes[pk] = prefix
        buf.parts.append(b"\x1a" + _v(inner) + prefix + _v(n) + data)
        if pk.startswith(WATERMARK_KEY_PREFIX):  # no tick: counts in no tick total (a journal replay too)
            buf.marks += 1

    def add_ticks(self, ticks: list[dict[str, Any]]) -> None:
        """Add ticks, each encoded as in market.tick.encode (JSON + newline), keyed by ``sym``.

        The hot path: :meth:`add` inlined for a key whose shard is known and whose shard's buffer
        already holds a record and has room, which is almost every tick; anything else (a new key,
        the first record of a buffer, a full buffer, a huge tick) takes :meth:`_add`. Same bytes.
        """
        dumps, nl = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        V, P, R = _VARINT, _PREFIX, _RECORD_TAG  # noqa: N806
        route = self._route
        join = b"".join
        for t in ticks:
            pk = t["sym"]
            data = dumps(t, option=nl)
            slot = route.get(pk)
            if slot is not None:
                n = len(data)
                if n < 8192:
                    buf, entry = slot
                    prefixes = buf.prefixes
                    prefix = prefixes.get(pk)
                    vn = V[n]
                    if prefix is None:
                        table = buf.pk_table
                        idx = len(table)
                        if 0 < idx < 16384:  # the buffer holds records (an empty one has an empty table)
                            prefix = P[idx]
                            inner = len(prefix) + len(vn) + n
                            head = R[inner]
                            added = len(head) + inner + len(entry)
                            room = buf.room
                            if added <= room:
                                buf.room = room - added
                                table.append(entry)
                                prefixes[pk] = prefix
                                buf.parts.append(join((head, prefix, vn, data)))
                                continue
                    else:
                        inner = len(prefix) + len(vn) + n
                        head = R[inner]
                        added = len(head) + inner
                        room = buf.room
                        if added <= room:
                            buf.room = room - added
                            buf.parts.append(join((head, prefix, vn, data)))
                            continue
            self._add(pk, data)
        self.user_records += len(ticks)

    def flush_due(self, now: float | None = None) -> int:
        """Emit every buffer whose first record is older than ``max_age``. Returns records emitted."""
        now = self.clock() if now is None else now
        n = 0
        for buf in self._buffers.values():
            if buf.parts and now - buf.created >= self.max_age:
                self.emit(buf.build())
                n += 1
        return n

    def next_due(self) -> float | None:
        """Monotonic time the oldest buffer falls due, or None when all are empty."""
        times = [b.created for b in self._buffers.values() if b.parts]
        return min(times) + self.max_age if times else None

    def flush(self) -> int:
        """Emit every non-empty buffer."""
        n = 0
        for buf in self._buffers.values():
            if buf.parts:
                self.emit(buf.build())
                n += 1
        return n

    @property
    def buffered(self) -> int:
        """User records waiting in buffers."""
        return sum(len(b.parts) for b in self._buffers.values())
