"""Helpers for tests and demos: read a stream back as user records, group ticks by symbol."""

from __future__ import annotations

import base64
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import orjson
from aws_kinesis_agg import MAGIC
from aws_kinesis_agg.deaggregator import iter_deaggregate_records

from market.watermark import is_watermark
from tickpipe.kinesis import list_shards

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_kinesis.type_defs import ShardTypeDef


def read_user_records(kinesis: KinesisClient, stream: str) -> list[tuple[str, str, bytes]]:
    """(shard id, partition key, data) of every user record, shard by shard, parents before children.

    De-aggregates with aws-kinesis-agg, not tickpipe.kpl: an independent reader proves the producer's
    hand-written aggregates are what the KPL format's own tools read.
    """
    shards = list_shards(kinesis, stream)
    by_id = {s["ShardId"]: s for s in shards}

    def depth(s: ShardTypeDef) -> int:
        d = 0
        while s.get("ParentShardId") in by_id:
            s, d = by_id[s["ParentShardId"]], d + 1
        return d

    out = []
    for shard in sorted(shards, key=lambda s: (depth(s), s["ShardId"])):
        it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            resp = kinesis.get_records(ShardIterator=it, Limit=10000)
            for raw in resp["Records"]:
                if not raw["Data"].startswith(MAGIC):  # a plain record is its own user record
                    out.append((shard["ShardId"], raw["PartitionKey"], raw["Data"]))
                    continue
                for rec in iter_deaggregate_records(raw, data_format="Boto3"):
                    data = rec["kinesis"]["data"]  # the deaggregator hands user records back base64-encoded
                    out.append((shard["ShardId"], rec["kinesis"]["partitionKey"], base64.b64decode(data)))
            if not resp["Records"]:
                break
            it = resp.get("NextShardIterator")
    return out


def ticks_by_symbol(records: list[tuple[str, str, bytes]]) -> dict[str, list[dict[str, Any]]]:
    """Decoded ticks per partition key, in stream order (watermarks left out). Raises if a tick's sym
    is not its key."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, pk, data in records:
        if is_watermark(data):
            continue
        tick = orjson.loads(data)
        if tick["sym"] != pk:
            raise AssertionError(f"tick of {tick['sym']} stored under partition key {pk}")
        out[pk].append(tick)
    return dict(out)


class FlakyKinesis:
    """A real Kinesis client whose ``put_records`` fails the records ``fail(call, index, entry)`` picks.

    Chosen records get the error Kinesis returns for them (default: throttled); the others go to
    the real client, so what lands in the stream is what Kinesis would hold.
    """

    def __init__(self, real: Any, fail: Any, error_code: str = "ProvisionedThroughputExceededException") -> None:
        self.real = real
        self.fail = fail
        self.error_code = error_code
        self.calls = 0
        self.failed = 0

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        keep = [i for i, e in enumerate(Records) if not self.fail(self.calls, i, e)]
        results: list[dict[str, Any]] = [
            {"ErrorCode": self.error_code, "ErrorMessage": "Rate exceeded for shard (injected)"}
        ] * len(Records)
        if keep:
            resp = self.real.put_records(StreamName=StreamName, Records=[Records[i] for i in keep])
            for i, r in zip(keep, resp["Records"], strict=True):
                results[i] = r
        self.failed += len(Records) - len(keep)
        return {"FailedRecordCount": len(Records) - len(keep), "Records": results}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)
