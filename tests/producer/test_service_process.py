"""The producer as a process (what ECS runs): SIGTERM flushes everything; a crash leaves a journal that the
next start replays."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
import requests

from fyers.token_store import FyersToken, TokenStore
from local.moto_server import free_port
from producer.journal import Journal
from producer.options import ProducerOptions
from producer.service import Producer
from producer.testing import read_user_records, ticks_by_symbol
from tickpipe.config import Settings
from tickpipe.kpl import keyed_records

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "tickpipe-test-lake"


@pytest.fixture
def env(aws, moto_server, make_stream, fyers_sim, tmp_path):
    sim = fyers_sim(speed=20, snapshot_interval=0.5)
    stream = make_stream("tickpipe-test-ticks", shards=2)
    aws.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": aws.region_name})
    symbols = tmp_path / "symbols.txt"
    symbols.write_text("\n".join(sim.symbols) + "\n")
    settings = Settings(env="test", stream=stream, bucket=BUCKET, fyers_api_url=sim.api_url, fyers_ws_url=sim.ws_url,
                        producer_id="proc-producer", symbols=str(symbols))
    now = int(time.time())
    token = sim.issue_tokens()["access_token"]
    TokenStore(aws.client("ssm"), settings.ssm_prefix).save(FyersToken(token, "r", now, now + 86400, now + 15 * 86400))
    return sim, settings, moto_server, token


@pytest.fixture
def spawn(tmp_path):
    procs = []

    def spawn_(settings: Settings, moto_server, **extra_env: str):
        port = free_port()
        environ = {**os.environ, **moto_server.environ(), **settings.environ(),
                   "TICKPIPE_PRODUCER_SESSION": "always", "TICKPIPE_PRODUCER_HEALTH_PORT": str(port),
                   "TICKPIPE_PRODUCER_JOURNAL_DIR": str(tmp_path / "journal"),
                   "TICKPIPE_PRODUCER_STOP_TIMEOUT": "15", **extra_env}
        proc = subprocess.Popen([sys.executable, "-m", "tickpipe", "produce", "--json-logs"], cwd=ROOT, env=environ,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        return proc, f"http://127.0.0.1:{port}/health"

    yield spawn_
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def health_until(proc, url: str, condition, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        try:
            body = requests.get(url, timeout=2).json()
            if condition(body):
                return body
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"health never satisfied the condition; last {url}")


def test_sigterm_stops_reading_flushes_and_every_tick_read_is_in_the_stream(env, spawn, kinesis):
    sim, settings, moto, token = env
    proc, url = spawn(settings, moto)
    health = health_until(proc, url, lambda h: h["ticks_read"] > 200)
    assert health["ready"] and health["connected"] and health["subscribed"] and health["state"] == "streaming"
    assert health["last_tick_age_s"] is not None and health["journal_depth"] == 0
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    summary = orjson.loads(out.strip().splitlines()[-1])
    got = ticks_by_symbol(read_user_records(kinesis, settings.stream))
    assert sum(map(len, got.values())) == summary["ticks_read"] == summary["ticks_sent"], (summary, err[-3000:])
    assert summary["delivered_at_stop"] is True
    assert all(orjson.loads(line)["level"] for line in err.strip().splitlines())  # JSON log lines
    assert token not in err and token.split(".")[1] not in err  # no secret in any log line


def test_after_a_crash_the_journal_is_replayed_at_the_next_start(env, spawn, kinesis, tmp_path):
    sim, settings, moto, _ = env
    dead = f"http://127.0.0.1:{free_port()}"  # Kinesis unreachable: the producer journals what it reads
    proc, url = spawn(settings, moto, AWS_ENDPOINT_URL_KINESIS=dead)
    health_until(proc, url, lambda h: h["journal_depth"] >= 5)
    proc.kill()  # a crash: no flush, no clean shutdown
    proc.wait(timeout=10)

    journal = Journal(tmp_path / "journal")
    entries, _ = journal.read(max_entries=100_000, max_bytes=1 << 30)
    journal.close()
    kept = [data for e in entries for _, data in keyed_records(e)]
    assert kept

    stop = threading.Event()
    options = ProducerOptions(journal_dir=str(tmp_path / "journal"), health_port=-1, session="always",
                              metrics_interval=3600)
    producer = Producer(settings, stop=stop, options=options)
    thread = threading.Thread(target=producer.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while producer.pipeline is None or producer.journal.pending_entries or producer.ticks_read < 20:
        assert time.monotonic() < deadline, "journal not replayed"
        time.sleep(0.1)
    stop.set()
    thread.join(timeout=60)

    in_stream = [data for _, _, data in read_user_records(kinesis, settings.stream)]
    assert set(kept) <= set(in_stream)
    first_run = {}
    for data in kept:
        tick = orjson.loads(data)
        first_run.setdefault(tick["sym"], []).append(data)
    for sym, lines in first_run.items():  # the replayed ticks keep their order per symbol
        stream_lines = [d for d in in_stream if d in set(lines)]
        assert stream_lines == lines, sym
    assert [g["reason"] for g in producer.stats.gaps] == ["restart"]
