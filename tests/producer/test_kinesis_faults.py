"""A real producer process against the simulator, with Kinesis faults injected by a proxy.

For each fault the producer's own accounting must close: every tick it read is on the stream (after
a replay of its journal if it stopped mid-fault) or counted in a gap record; no (pid, seq) twice;
each symbol's ticks in order; /health and the exit code tell the truth.

One simulator and the moto server serve the whole module; each test has its own stream, producer
id and journal, so tests share nothing that could leak from one into another.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
import requests

from fyers.sim import SimConfig, Simulator
from fyers.token_store import FyersToken, TokenStore
from local.moto_server import free_port
from market.watermark import is_watermark
from producer.faultproxy import KinesisFaultProxy
from producer.journal import Journal
from producer.testing import read_user_records, ticks_by_symbol
from tickpipe import names
from tickpipe.config import Settings
from tickpipe.kpl import keyed_records

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "tickpipe-faults-lake"
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def world(moto_server):
    """The simulator, a lake bucket and the token in SSM, shared by the module's tests."""
    sim = Simulator(SimConfig(speed=20, snapshot_interval=0.5)).start()
    s3 = boto3.client("s3", region_name=moto_server.region)
    try:
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": moto_server.region})
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    base = Settings(env="faults", bucket=BUCKET, fyers_api_url=sim.api_url, fyers_ws_url=sim.ws_url)
    now = int(time.time())
    TokenStore(boto3.client("ssm", region_name=moto_server.region), base.ssm_prefix).save(
        FyersToken(sim.issue_tokens()["access_token"], "r", now, now + 86400, now + 15 * 86400))
    yield sim, base
    sim.stop()


class Run:
    """One producer process and everything a test needs to judge it."""

    def __init__(self, world: Any, moto_server: Any, tmp_path: Path) -> None:
        sim, base = world
        n = next(_ids)
        self.kinesis = boto3.client("kinesis", region_name=moto_server.region)
        self.s3 = boto3.client("s3", region_name=moto_server.region)
        self.stream = f"tickpipe-faults-{n}"
        self.kinesis.create_stream(StreamName=self.stream, ShardCount=2)
        self.kinesis.get_waiter("stream_exists").wait(StreamName=self.stream, WaiterConfig={"Delay": 0.1})
        symbols = tmp_path / "symbols.txt"
        symbols.write_text("\n".join(sim.symbols) + "\n")
        self.pid = f"faults-{n}"
        self.settings = Settings(env="faults", stream=self.stream, bucket=BUCKET, fyers_api_url=sim.api_url,
                                 fyers_ws_url=sim.ws_url, producer_id=self.pid, symbols=str(symbols),
                                 ssm_prefix=base.ssm_prefix)
        self.proxy = KinesisFaultProxy(moto_server.endpoint).start()
        self.moto = moto_server
        self.journal = tmp_path / "journal"
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.summaries: list[dict[str, Any]] = []
        self.logs: list[str] = []

    def spawn(self, argv: list[str] | None = None, **extra_env: str) -> None:
        port = free_port()
        environ = {**os.environ, **self.moto.environ(), **self.settings.environ(),
                   "AWS_ENDPOINT_URL_KINESIS": self.proxy.url,
                   "TICKPIPE_PRODUCER_SESSION": "always", "TICKPIPE_PRODUCER_HEALTH_PORT": str(port),
                   "TICKPIPE_PRODUCER_JOURNAL_DIR": str(self.journal), "TICKPIPE_PRODUCER_STOP_TIMEOUT": "12",
                   "TICKPIPE_PRODUCER_PUT_TIMEOUT": "1.5", "TICKPIPE_PRODUCER_SPILL_AFTER": "2",
                   "TICKPIPE_PRODUCER_METRICS_INTERVAL": "3600", **extra_env}
        argv = argv or [sys.executable, "-m", "tickpipe", "produce", "--json-logs"]
        self.proc = subprocess.Popen(argv, cwd=ROOT,
                                     env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = f"http://127.0.0.1:{port}/health"

    def health(self) -> tuple[int, dict[str, Any]]:
        resp = requests.get(self.url, timeout=5)
        return resp.status_code, resp.json()

    def until(self, condition: Callable[[dict[str, Any]], bool], timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"producer exited {self.proc.returncode}: {self.proc.stderr.read()[-3000:]}")
            try:
                body = self.health()[1]
                if condition(body):
                    return body
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"health never reached the condition; last {body}")

    def terminate(self, timeout: float = 60.0, signum: int | None = signal.SIGTERM) -> int:
        assert self.proc is not None
        if signum is not None:
            self.proc.send_signal(signum)
        out, err = self.proc.communicate(timeout=timeout)
        self.logs.append(err)
        self.summaries.append(orjson.loads(out.strip().splitlines()[-1]))
        return self.proc.returncode

    def gaps(self) -> list[dict[str, Any]]:
        listed = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=names.GAPS).get("Contents", [])
        docs = [orjson.loads(self.s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()) for o in listed]
        return [g for g in docs if g["pid"] == self.pid]

    def journal_ticks(self) -> list[bytes]:
        """The ticks in the journal directory, as the next start would replay them."""
        journal = Journal(self.journal)
        entries, _ = journal.read(max_entries=1_000_000, max_bytes=1 << 30)
        journal.close()
        return [data for e in entries for _, data in keyed_records(e) if not is_watermark(data)]  # no tick

    def check_stream(self) -> list[dict[str, Any]]:
        """Every tick read is on the stream once, in order per symbol; returns them."""
        by_sym = ticks_by_symbol(read_user_records(self.kinesis, self.stream))
        ticks = [t for v in by_sym.values() for t in v]
        ids = [(t["pid"], t["seq"]) for t in ticks]
        assert len(ids) == len(set(ids)), "a tick is on the stream twice"
        for sym, got in by_sym.items():
            seqs = [t["seq"] for t in got]
            assert seqs == sorted(seqs), f"{sym} out of order"
        read = sum(s["ticks_read"] for s in self.summaries)
        dropped = sum(g.get("ticks", 0) for g in self.gaps() if g["reason"] == "journal_full")
        assert len(ticks) + dropped == read, (len(ticks), dropped, read)
        return ticks

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proxy.stop()


@pytest.fixture
def run(world, moto_server, tmp_path):
    r = Run(world, moto_server, tmp_path)
    yield r
    r.close()


def streaming(h: dict[str, Any]) -> bool:
    return h["ticks_sent"] > 100


KINESIS_FAULTS = ("reset", "hang", "503", "throttle", "closed", "garbage")


def test_every_kinesis_fault_in_turn_loses_nothing_and_health_stays_ready(run):
    """One producer through every fault, each held until the journal takes over, then lifted."""
    run.spawn()
    run.until(streaming)
    figures = []
    for fault in KINESIS_FAULTS:
        before = run.health()[1]
        faulted_before = run.proxy.faulted
        run.proxy.set(fault)
        body = run.until(lambda h: h["spilling"] and h["journal_depth"] > 0, timeout=60)
        assert run.proxy.faulted > faulted_before or fault == "closed", fault
        status, body = run.health()
        assert status == 200 and body["ready"], (fault, body)  # a Kinesis outage is the journal's job
        run.proxy.set("pass")
        body = run.until(lambda h: not h["spilling"] and h["journal_depth"] == 0
                         and h["ticks_sent"] > body["ticks_read"])  # noqa: B023 - read at once, in this turn
        figures.append({"fault": fault, "ticks_read": body["ticks_read"] - before["ticks_read"],
                        "faulted_calls": run.proxy.faulted - faulted_before})
    assert run.terminate() == 0, run.logs[-1][-3000:]
    summary = run.summaries[-1]
    assert summary["delivered_at_stop"] and summary["lost_ticks"] == 0 and summary["fatal"] is None
    assert summary["ticks_read"] == summary["ticks_sent"]
    ticks = run.check_stream()
    assert "Traceback" not in run.logs[-1]
    print("FIGURES", orjson.dumps({"faults": figures, "ticks_read": summary["ticks_read"], "on_stream": len(ticks),
                                   "retries": summary["retries"], "throttles": summary["throttles"],
                                   "spilled_records": summary["spilled_records"],
                                   "replayed_records": summary["replayed_records"]}).decode())


@pytest.mark.parametrize("fault", ["hang", "closed"])
def test_sigterm_during_a_fault_journals_what_it_says_and_the_next_start_delivers_it(run, fault):
    run.spawn()
    run.until(streaming)
    run.proxy.set(fault)
    run.until(lambda h: h["ticks_read"] > h["ticks_sent"] + 50)
    assert run.terminate() == 0, run.logs[-1][-3000:]
    first = run.summaries[-1]
    assert first["lost_ticks"] == 0 and not first["delivered_at_stop"]
    kept = run.journal_ticks()  # what the summary says is journalled is on disk
    assert first["ticks_sent"] + len(kept) == first["ticks_read"]
    run.proxy.set("pass")
    run.spawn()  # replays the journal first
    run.until(lambda h: h["journal_depth"] == 0 and h["ticks_sent"] >= len(kept) + 50)
    assert run.terminate() == 0
    ticks = run.check_stream()
    on_stream = {orjson.dumps(t) for t in ticks}
    assert {orjson.dumps(orjson.loads(d)) for d in kept} <= on_stream


BROKEN_SENDER = """
import os, pathlib, sys
import producer.sender
trigger = pathlib.Path(os.environ["TEST_BREAK_SENDER"])
works = producer.sender.Sender._batch
def _batch(self, now):
    if trigger.exists():
        raise RuntimeError("injected bug in the sender")
    return works(self, now)
producer.sender.Sender._batch = _batch
from tickpipe.cli import main
sys.exit(main(["produce", "--json-logs"]))
"""


def test_a_dead_sender_thread_stops_the_process_journals_everything_and_exits_1(run, tmp_path):
    """A bug in a worker thread (injected into this process: the sender raises what nobody expects)
    stops the producer by itself, after it journals every record in memory, with exit code 1."""
    trigger = tmp_path / "break-sender"
    run.spawn(argv=[sys.executable, "-c", BROKEN_SENDER], TEST_BREAK_SENDER=str(trigger))
    run.until(streaming)
    run.proxy.set("closed")  # records wait in memory ...
    run.until(lambda h: h["pending_records"] > 0 and not h["spilling"])
    trigger.touch()  # ... when the sender thread dies
    assert run.terminate(signum=None) == 1  # it stops by itself
    summary, err = run.summaries[-1], run.logs[-1]
    assert summary["fatal"].startswith("sender thread died: RuntimeError: injected bug")
    assert summary["lost_ticks"] == 0 and summary["kept_ticks"] > 0
    assert "sender thread died" in err and '"level":"CRITICAL"' in err
    run.proxy.set("pass")
    kept = run.journal_ticks()
    assert summary["ticks_sent"] + len(kept) == summary["ticks_read"]


def split_runs(ticks: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Ticks of two runs, told apart by seq: the second starts at least 2**31 per second later."""
    ticks = sorted(ticks, key=lambda t: t["seq"])
    cut = next(i for i in range(1, len(ticks)) if ticks[i]["seq"] - ticks[i - 1]["seq"] > 1 << 30)
    return ticks[:cut], ticks[cut:]


def test_a_clean_stop_and_restart_is_a_restart_gap_from_the_last_tick_read_to_the_resubscription(run):
    run.spawn()
    run.until(streaming)
    assert run.terminate() == 0
    time.sleep(2)  # the feed goes on while no producer reads it
    run.spawn()
    run.until(lambda h: h["ticks_sent"] > 20)
    assert run.terminate() == 0
    before, after = split_runs(run.check_stream())
    (gap,) = [g for g in run.gaps() if g["reason"] == "restart"]
    assert gap["from"] <= max(t["rx"] for t in before) / 1000  # from the last tick read ...
    assert gap["to"] >= min(t["rx"] for t in after) / 1000 - 1  # ... to the next run's first ticks
    assert len(gap["symbols"]) == 23


def test_after_kill_9_the_restart_gap_starts_at_the_oldest_tick_held_only_in_memory(run):
    run.spawn(TICKPIPE_PRODUCER_SPILL_AFTER="60")  # records wait in memory while Kinesis hangs
    run.until(streaming)
    run.proxy.set("hang")
    run.until(lambda h: h["ticks_read"] > h["ticks_sent"] + 200)
    time.sleep(1.5)  # a heartbeat or more while ticks are held only in memory
    run.proxy.set("closed")  # nothing more gets out before the kill
    run.proc.kill()
    run.proc.wait(timeout=10)
    run.proxy.set("pass")
    run.spawn()
    run.until(lambda h: h["ticks_sent"] > 20)
    assert run.terminate() == 0
    ticks = [t for v in ticks_by_symbol(read_user_records(run.kinesis, run.stream)).values() for t in v]
    killed, restarted = split_runs(ticks)
    # The killed run numbered every tick it read, in the order read: the first seq missing from the
    # stream is the oldest tick it lost, read no earlier than the tick before it.
    seqs = [t["seq"] for t in killed]
    last_kept = next((i for i in range(len(seqs) - 1) if seqs[i + 1] != seqs[i] + 1), len(seqs) - 1)
    (gap,) = [g for g in run.gaps() if g["reason"] == "restart"]
    assert gap["from"] <= killed[last_kept]["rx"] / 1000
    assert gap["to"] >= min(t["rx"] for t in restarted) / 1000 - 1


@pytest.mark.parametrize("fault", ["drop", "malformed", "refuse"])
def test_a_fyers_fault_is_counted_in_gaps_or_quarantine_and_the_accounting_closes(run, world, fault):
    sim, _ = world
    run.spawn()
    run.until(streaming)
    if fault == "drop":
        sim.faults.drop_connections()
    elif fault == "malformed":
        sim.faults.malformed_frame()
    else:
        sim.faults.refuse_auth(True)
        sim.faults.drop_connections()
        run.until(lambda h: h["auth_failing"])
        assert run.health()[0] == 200  # within the grace, and a refused token is no reason to restart
        sim.faults.refuse_auth(False)
    before = run.until(lambda h: h["subscribed"])["ticks_sent"]
    run.until(lambda h: h["ticks_sent"] > before + 50 and not h["auth_failing"])
    assert run.terminate() == 0, run.logs[-1][-3000:]
    run.check_stream()
    reasons = sorted(g["reason"] for g in run.gaps())
    if fault == "drop":
        assert reasons == ["disconnect"]
    elif fault == "refuse":
        assert "auth" in reasons and "disconnect" in reasons
    else:
        assert reasons == []
        listed = run.s3.list_objects_v2(Bucket=BUCKET, Prefix="quarantine/frames/").get("Contents", [])
        assert [o for o in listed if f"/{run.pid}-" in o["Key"]]


def test_a_lost_response_makes_exact_resends_that_readers_drop_by_pid_and_seq(run):
    """Kinesis stored the records but the answer never came: the producer cannot know and sends
    them again. Nothing is lost; the copies carry the same (pid, seq) and bytes (DESIGN.md)."""
    run.spawn()
    run.until(streaming)
    run.proxy.set("lost_response", calls=3)
    run.until(lambda h: run.proxy.mode == "pass" and h["ticks_sent"] >= h["ticks_read"] - 200)
    assert run.terminate() == 0
    records = [data for _, _, data in read_user_records(run.kinesis, run.stream) if not is_watermark(data)]
    by_id: dict[tuple[str, int], set[bytes]] = {}
    for data in records:
        tick = orjson.loads(data)
        by_id.setdefault((tick["pid"], tick["seq"]), set()).add(data)
    assert all(len(copies) == 1 for copies in by_id.values())  # a re-send is byte for byte the same tick
    assert len(records) > len(by_id) == run.summaries[-1]["ticks_read"]  # copies, and nothing lost
