"""Fixtures for producer tests: a Kinesis stream on the moto server."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from botocore.config import Config

# No client-side retries: the producer does its own, and tests of failures want to see them.
NO_RETRY = Config(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=5)


@pytest.fixture
def kinesis(aws):
    return aws.client("kinesis", config=NO_RETRY)


@pytest.fixture
def make_stream(kinesis) -> Callable[..., str]:
    def make(name: str = "tickpipe-test-ticks", shards: int = 4) -> str:
        kinesis.create_stream(StreamName=name, ShardCount=shards)
        for _ in range(100):
            summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
            if summary["StreamStatus"] == "ACTIVE":
                break
            time.sleep(0.05)
        return name

    return make
