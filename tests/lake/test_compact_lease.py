"""consumers/lake/lease.py: one compaction at a time, through an S3 conditional write (moto)."""

from __future__ import annotations

import pytest

from consumers.lake.errors import CompactionBusyError
from consumers.lake.lease import LEASE_KEY, lease

BUCKET = "lease-test"


@pytest.fixture
def s3(aws):
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": aws.region_name})
    return client


def test_a_second_compaction_is_refused_while_the_first_holds_the_lease(s3):
    with lease(s3, BUCKET, owner="first"):
        with pytest.raises(CompactionBusyError, match="another compaction \\(first\\) holds"):
            with lease(s3, BUCKET, owner="second"):
                pass


def test_the_lease_is_released_at_the_end_of_the_block(s3):
    with lease(s3, BUCKET, owner="first"):
        pass
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    with lease(s3, BUCKET, owner="second") as owner:
        assert owner == "second"


def test_the_lease_is_released_when_the_compaction_fails(s3):
    with pytest.raises(ValueError), lease(s3, BUCKET, owner="first"):
        raise ValueError("boom")
    with lease(s3, BUCKET, owner="second"):
        pass


def test_a_lease_left_by_a_run_that_died_is_taken_over_after_it_expires(s3):
    s3.put_object(Bucket=BUCKET, Key=LEASE_KEY, Body=b'{"owner": "dead", "taken": 0, "expires": 100}')
    with lease(s3, BUCKET, owner="next", clock=lambda: 101.0):
        body = s3.get_object(Bucket=BUCKET, Key=LEASE_KEY)["Body"].read()
        assert b'"owner":"next"' in body


def test_an_unexpired_lease_of_another_run_is_not_taken_over_nor_released(s3):
    s3.put_object(Bucket=BUCKET, Key=LEASE_KEY, Body=b'{"owner": "alive", "taken": 0, "expires": 100}')
    with pytest.raises(CompactionBusyError):
        with lease(s3, BUCKET, owner="next", clock=lambda: 99.0):
            pass
    assert b"alive" in s3.get_object(Bucket=BUCKET, Key=LEASE_KEY)["Body"].read()
