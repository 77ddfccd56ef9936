"""Helpers of the bars tests: put ticks on the stream as the producer does, read bars from the lake."""

from __future__ import annotations

from typing import Any

import orjson
from aws_kinesis_agg.aggregator import RecordAggregator

from market.tick import encode
from tickpipe import names


def kpl_records(ticks: list[dict[str, Any]], per_record: int = 40, *,
                mix_symbols: bool = False) -> list[tuple[str, bytes]]:
    """(partition key, data) records: runs of one symbol's consecutive ticks (or of any symbols, for a
    one-shard stream, as the producer packs a shard's records), KPL-aggregated with aws-kinesis-agg
    (an independent writer of the format the handler reads)."""
    return [(pk, data) for pk, data, _ in kpl_runs(ticks, per_record, mix_symbols=mix_symbols)]


def kpl_runs(ticks: list[dict[str, Any]], per_record: int = 40, *,
             mix_symbols: bool = False) -> list[tuple[str, bytes, list[dict[str, Any]]]]:
    """Like kpl_records, with the ticks each record holds."""
    out: list[tuple[str, bytes, list[dict[str, Any]]]] = []
    run: list[dict[str, Any]] = []

    def close() -> None:
        if run:
            agg = RecordAggregator()
            for t in run:
                assert agg.add_user_record(t["sym"], encode(t)) is None
            pk, _, data = agg.clear_and_get().get_contents()
            out.append((pk, data, list(run)))
            run.clear()

    for t in ticks:
        if run and ((not mix_symbols and run[0]["sym"] != t["sym"]) or len(run) >= per_record):
            close()
        run.append(t)
    close()
    return out


def put(kinesis: Any, stream: str, records: list[tuple[str, bytes]]) -> None:
    """PutRecords in order (a shard keeps a request's order), within 500 records and 5 MiB a call."""
    i = 0
    while i < len(records):
        j, size = i, 0
        while j < len(records) and j - i < 500 and size + len(records[j][1]) + len(records[j][0]) <= 5 * 2**20:
            size += len(records[j][1]) + len(records[j][0])
            j += 1
        resp = kinesis.put_records(StreamName=stream, Records=[
            {"PartitionKey": pk, "Data": data} for pk, data in records[i:j]])
        assert not resp.get("FailedRecordCount")
        i = j


def lake_bars(s3: Any, bucket: str) -> list[dict[str, Any]]:
    """Every bar record the bars delivery stream wrote (moto writes each PutRecordBatch as one object)."""
    out: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=names.RAW_BARS):
        for obj in sorted(page.get("Contents", []), key=lambda o: (o["LastModified"], o["Key"])):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            out += [orjson.loads(line) for line in body.splitlines() if line.strip()]
    return out


def lake_objects(s3: Any, bucket: str, prefix: str) -> dict[str, dict[str, Any]]:
    keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in p.get("Contents", [])]
    return {k: orjson.loads(s3.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in keys}
