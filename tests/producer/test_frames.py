"""Malformed frames are kept in the lake, bounded per hour."""

from __future__ import annotations

import base64

import orjson

from producer.frames import FrameQuarantine

BUCKET = "tickpipe-test-lake"


def test_the_first_frames_of_each_hour_are_kept_the_rest_counted(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": aws.region_name})
    now = [1_795_000_000.0]
    q = FrameQuarantine(s3, BUCKET, "p1", clock=lambda: now[0], per_hour=3)
    kept = [q.keep(bytes([i]) * 10, f"bad {i}") for i in range(5)]
    assert kept == [True, True, True, False, False]
    now[0] += 3600  # a new hour: a new quota
    assert q.keep(b"\x00\x09\x06late", "bad late")
    assert q.flush() == 0
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="quarantine/frames/")["Contents"])
    assert len(keys) == 4 and all(k.startswith("quarantine/frames/dt=2026-11-18/p1-") for k in keys)
    docs = [orjson.loads(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()) for k in keys]
    assert {d["reason"] for d in docs} == {"bad 0", "bad 1", "bad 2", "bad late"}
    assert all(base64.b64decode(d["data"]) and d["v"] == 1 for d in docs)


def test_a_failed_write_is_retried_at_the_next_flush(aws):
    s3 = aws.client("s3")
    q = FrameQuarantine(s3, BUCKET, "p1", clock=lambda: 1_795_000_000.0)
    q.keep(b"\x01\x02", "bad")
    assert q.flush() == 1  # the bucket does not exist yet
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": aws.region_name})
    assert q.flush() == 0 and q.kept == 1
