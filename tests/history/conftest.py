"""Fixtures for backfill and reconcile: a lake bucket on the moto server and a simulator with history."""

from __future__ import annotations

import datetime as dt
from typing import Any

import boto3
import pytest

from consumers.lake.store import LakeStore
from fyers.history import HistoryClient
from fyers.rest import RestClient
from fyers.shared_limiter import FileRateLimiter
from local.provision import _bucket
from market.session import CLOSE, epoch
from tickpipe.config import Settings

SIM_DAY = dt.date(2026, 11, 27)  # the simulated (latest) day, a Friday
AFTER = epoch(SIM_DAY, CLOSE) + 3600  # "now" for the backfill: every day up to SIM_DAY is final


@pytest.fixture
def settings(aws) -> Settings:
    s = Settings(env="test", region=aws.region_name)
    _bucket(boto3.client("s3", region_name=s.region), s)
    return s


@pytest.fixture
def store(settings) -> LakeStore:
    return LakeStore(settings.bucket, boto3.client("s3", region_name=settings.region))


@pytest.fixture
def limiter_path(tmp_path) -> str:
    return str(tmp_path / "fyers-requests.json")


@pytest.fixture
def history_sim(fyers_sim):
    """A started simulator of SIM_DAY (clock after the close, Fyers' rate limits on); a factory for
    more symbols."""

    def make(symbols: list[str], **settings: Any):
        return fyers_sim(speed=1, day=SIM_DAY, start_time=dt.time(16, 0), rate_limits=True, symbols=symbols,
                         **settings)

    return make


def client(sim, limiter_path: str, retries: int = 4) -> HistoryClient:
    token = sim.issue_tokens()["access_token"]
    rest = RestClient(sim.api_url, limiter=FileRateLimiter(limiter_path), retries=retries, backoff=0.01,
                      backoff_max=0.05)
    return HistoryClient(rest, sim.config.app_id, lambda: token)
