"""Fixtures for the lake tests: a provisioned account on the moto server, realistic ticks and bars,
and a helper that lands raw objects the way Firehose names them."""

from __future__ import annotations

import gzip
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from local.firehose_pump import evaluate_prefix, object_suffix
from local.provision import RAW_BARS_PREFIX, RAW_TICKS_PREFIX, provision
from market import tick as tickmod
from tickpipe.config import Settings

# 2026-11-26 09:15 IST = 03:45 UTC.
OPEN = int(datetime(2026, 11, 26, 3, 45, tzinfo=UTC).timestamp())
DAY = "2026-11-26"


class Factory:
    """Seeded, realistic ticks (a quote snapshot per step) and 5-minute bar records."""

    OPEN = OPEN
    DAY = DAY

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.seq = 0

    def symbols(self, n: int) -> list[str]:
        return [f"NSE:SYM{i:04d}-EQ" for i in range(n)]

    def ticks(self, syms: list[str], per_sym: int, *, start: int = OPEN, step: int = 3) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for sym in syms:
            price = round(self.rng.uniform(50, 3000), 2)
            vol = self.rng.randint(1000, 50_000)  # opening auction volume
            turnover = price * vol
            hi = lo = op = price
            pc = round(price * self.rng.uniform(0.97, 1.03), 2)
            ts = start
            for _ in range(per_sym):
                ts += self.rng.randint(1, step)
                price = max(round(round(price * (1 + self.rng.gauss(0, 0.0008)) / 0.05) * 0.05, 2), 0.05)
                q = self.rng.randint(1, 500)
                vol += q
                turnover += price * q
                hi, lo = max(hi, price), min(lo, price)
                self.seq += 1
                out.append(
                    tickmod.make(
                        sym, ts, price, ltt=ts - self.rng.randint(0, 1), ltq=q, vol=vol,
                        atp=round(turnover / vol, 2), bid=round(price - 0.05, 2), ask=round(price + 0.05, 2),
                        bq=self.rng.randint(1, 900), aq=self.rng.randint(1, 900), tbq=self.rng.randint(1000, 90_000),
                        tsq=self.rng.randint(1000, 90_000), oi=None, dh=hi, dl=lo, op=op, pc=pc, src="ws",
                        pid="test-producer", seq=self.seq, rx=ts * 1000 + self.rng.randint(5, 400),
                    )
                )
        return out

    def bars(self, syms: list[str], buckets: int, *, start: int = OPEN) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for sym in syms:
            price = round(self.rng.uniform(50, 3000), 2)
            vol_cum = 0
            for b in range(buckets):
                o = price
                path = [o] + [round(o * (1 + self.rng.gauss(0, 0.002)), 2) for _ in range(4)]
                c = path[-1]
                vol = self.rng.randint(100, 100_000)
                vol_cum += vol
                bstart = start + 300 * b
                out.append({
                    "sym": sym, "start": bstart, "o": o, "h": max(path), "l": min(path), "c": c, "vol": vol,
                    "vwap": round(sum(path) / len(path), 2), "n": self.rng.randint(20, 300), "vol_cum": vol_cum,
                    "first_ts": bstart + self.rng.randint(0, 5), "last_ts": bstart + 299 - self.rng.randint(0, 5),
                    "oi": None, "rev": 0, "v": 1,
                })
                price = c
        return out




class RawLander:
    """Puts raw objects where Firehose would: evaluated prefix, Firehose object name, gzip."""

    def __init__(self, s3: Any, settings: Settings) -> None:
        self.s3 = s3
        self.settings = settings

    def put(self, table: str, body: bytes, *, at: datetime, compress: bool = True) -> str:
        prefix, stream = {
            "ticks": (RAW_TICKS_PREFIX, self.settings.raw_firehose),
            "bars": (RAW_BARS_PREFIX, self.settings.bars_firehose),
        }[table]
        key = evaluate_prefix(prefix, at) + object_suffix(stream, "1", at, "GZIP" if compress else "UNCOMPRESSED")
        if compress:
            key_body = gzip.compress(body)
        else:
            key_body = body
        self.s3.put_object(Bucket=self.settings.bucket, Key=key, Body=key_body)
        return key


@pytest.fixture
def lake(aws):
    """An empty account with the stream, delivery streams, bucket and topic created; yields Settings."""
    settings = Settings(env="test", region=aws.region_name)
    provision(settings, shards=2)
    return settings


@pytest.fixture
def s3(aws):
    return aws.client("s3")


@pytest.fixture
def factory() -> Factory:
    return Factory(seed=7)


@pytest.fixture
def raw(s3, lake) -> RawLander:
    return RawLander(s3, lake)


@pytest.fixture(scope="module")
def module_lake(moto_server):
    """Like ``lake`` but shared by one module's tests (for modules that only read what they set up)."""
    import boto3

    moto_server.reset()
    settings = Settings(env="test", region=moto_server.region)
    provision(settings, shards=1)
    s3 = boto3.session.Session(region_name=moto_server.region).client("s3")
    return settings, RawLander(s3, settings), Factory(seed=11)
