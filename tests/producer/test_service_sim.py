"""The producer end to end, in process: Fyers simulator → socket → aggregation → Kinesis on moto."""

from __future__ import annotations

import threading
import time

import orjson
import pytest

from fyers.token_store import FyersToken, TokenStore
from producer.clock import Clock
from producer.journal import Journal
from producer.options import ProducerOptions
from producer.service import Producer, run_producer
from producer.testing import read_user_records, ticks_by_symbol
from tickpipe import names
from tickpipe.config import Settings
from tickpipe.universe import slice_of

BUCKET = "tickpipe-test-lake"


def save_token(ssm, settings: Settings, access_token: str) -> None:
    now = int(time.time())
    TokenStore(ssm, settings.ssm_prefix).save(FyersToken(
        access_token=access_token, refresh_token="r", issued_at=now, expires_at=now + 86400,
        refresh_expires_at=now + 15 * 86400))


@pytest.fixture
def env(aws, make_stream, fyers_sim):
    sim = fyers_sim(speed=20, snapshot_interval=0.5)
    stream = make_stream("tickpipe-test-ticks", shards=3)
    aws.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": aws.region_name})
    settings = Settings(env="test", stream=stream, bucket=BUCKET, fyers_api_url=sim.api_url, fyers_ws_url=sim.ws_url,
                        producer_id="test-producer")
    save_token(aws.client("ssm"), settings, sim.issue_tokens()["access_token"])
    return sim, settings


@pytest.fixture
def start(tmp_path):
    """Start a producer in a thread: start(settings, symbols, **options) -> (producer, finish())."""
    running = []

    def start_(settings, symbols, **opts):
        stop = threading.Event()
        options = ProducerOptions(journal_dir=str(tmp_path / "journal"), health_port=-1, metrics_interval=3600,
                                  session="always").with_(**opts)
        producer = Producer(settings, stop=stop, symbols=symbols, options=options)
        result = {}
        thread = threading.Thread(target=lambda: result.update(stats=producer.run()), daemon=True)
        thread.start()
        running.append((stop, thread))

        def finish():
            stop.set()
            thread.join(timeout=60)
            assert not thread.is_alive()
            return result["stats"]

        return producer, finish

    yield start_
    for stop, thread in running:
        stop.set()
        thread.join(timeout=60)


@pytest.fixture
def boto_dead_kinesis(tmp_path, kinesis):
    """A Kinesis client pointed at a port nobody listens on, and a journal directory."""
    import types

    import boto3

    from local.moto_server import free_port

    client = boto3.client("kinesis", endpoint_url=f"http://127.0.0.1:{free_port()}", config=kinesis.meta.config)
    return types.SimpleNamespace(client=client, journal=tmp_path / "dead-journal")


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_every_tick_read_lands_on_the_stream_in_order_per_symbol(env, kinesis, start):
    sim, settings = env
    producer, finish = start(settings, sim.symbols)
    wait_for(lambda: producer.ticks_read > 300)
    stats = finish()
    got = ticks_by_symbol(read_user_records(kinesis, settings.stream))
    assert sum(len(v) for v in got.values()) == stats.ticks_read == stats.ticks_sent
    for sym, ticks in got.items():
        seqs = [t["seq"] for t in ticks]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), sym
        assert all(t["pid"] == "test-producer" for t in ticks)
    assert stats.delivered_at_stop and producer.journal.pending_entries == 0


def test_a_slice_streams_only_its_symbols(env, kinesis, start):
    sim, settings = env
    producer, finish = start(settings, sim.symbols, slice="2/3")
    wait_for(lambda: producer.ticks_read > 50)
    finish()
    got = ticks_by_symbol(read_user_records(kinesis, settings.stream))
    assert got and all(slice_of(sym, 3) == 2 for sym in got)
    assert set(producer.symbols) == {s for s in sim.symbols if slice_of(s, 3) == 2}


def test_an_expired_token_is_replaced_from_ssm_and_the_gap_recorded(env, aws, start):
    sim, settings = env
    producer, finish = start(settings, sim.symbols, health_grace=0.5)
    wait_for(lambda: producer.ticks_read > 50)
    sim.faults.expire_tokens()  # the socket is told "token expired" and closed; SSM still has the old one
    wait_for(lambda: producer.state.auth_failing or producer.tokens.reads > 2)
    assert producer.metrics.gauges["AuthFailing"] == 1
    # past the health grace, still ready: SSM answers with the refused token, and a replacement
    # cannot mend a token
    wait_for(lambda: producer.status()["reason"] == "token refused; waiting for a new one in SSM")
    assert producer.status()["ready"] is True and producer.status()["auth_failing"] is True
    save_token(aws.client("ssm"), settings, sim.issue_tokens()["access_token"])  # the token service refreshed it
    wait_for(lambda: producer.state.subscribed and not producer.state.auth_failing)
    before = producer.ticks_read
    wait_for(lambda: producer.ticks_read > before + 20)
    stats = finish()
    auth_gaps = [g for g in stats.gaps if g["reason"] == "auth"]
    assert len(auth_gaps) == 1 and auth_gaps[0]["symbols"] == sorted(sim.symbols)
    assert auth_gaps[0]["from"] <= auth_gaps[0]["to"]
    s3 = aws.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=names.GAPS)["Contents"]]
    stored = [orjson.loads(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()) for k in keys]
    assert auth_gaps[0] in stored


def test_a_full_journal_is_reported_as_one_gap_with_every_dropped_tick_not_corruption(env, aws, start,
                                                                                       boto_dead_kinesis, caplog):
    sim, settings = env
    caplog.set_level("ERROR", logger="producer.sender")
    stop = threading.Event()
    options = ProducerOptions(journal_dir=str(boto_dead_kinesis.journal), health_port=-1, session="always",
                              metrics_interval=3600, journal_max_bytes=30_000, stop_timeout=2)
    producer = Producer(settings, stop=stop, symbols=sim.symbols, options=options, kinesis=boto_dead_kinesis.client)
    thread = threading.Thread(target=producer.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: producer.metrics.totals["TicksDropped"] > 0)
    finally:
        stop.set()
        thread.join(timeout=60)
    full = [g for g in producer.stats.gaps if g["reason"] == "journal_full"]
    # one interval of drops: one gap (not one per record), with the exact count, and one log line
    assert len(full) == 1 and set(full[0]["symbols"]) <= set(sim.symbols) and full[0]["from"] <= full[0]["to"]
    assert full[0]["ticks"] == producer.stats.dropped_ticks > 0
    assert len([r for r in caplog.records if "JOURNAL FULL" in r.getMessage()]) == 1
    assert producer.journal.disk_bytes <= 30_000
    reopened = Journal(boto_dead_kinesis.journal)  # what was kept is intact
    entries, _ = reopened.read(max_entries=10_000)
    assert reopened.truncated_bytes == 0 and entries


class SimClock(Clock):
    """The simulator's exchange clock: the producer follows the calendar at the simulator's speed."""

    def __init__(self, sim) -> None:
        self.sim = sim

    def time(self) -> float:
        return self.sim.clock.now()

    def sleep(self, seconds, stop):
        return stop.wait(max(0.0, self.sim.clock.wall_seconds(seconds)))


def test_the_session_ends_after_its_last_ticks_are_read(aws, make_stream, fyers_sim, kinesis, tmp_path):
    import datetime as dt

    from market.session import CLOSE, epoch

    sim = fyers_sim(speed=30, start_time=dt.time(15, 28), snapshot_interval=0.5, hold_clock=True)
    stream = make_stream("tickpipe-test-ticks", shards=2)
    aws.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": aws.region_name})
    settings = Settings(env="test", stream=stream, bucket=BUCKET, fyers_api_url=sim.api_url, fyers_ws_url=sim.ws_url)
    save_token(aws.client("ssm"), settings, sim.issue_tokens()["access_token"])
    options = ProducerOptions(journal_dir=str(tmp_path / "j"), health_port=-1, metrics_interval=3600, margin_after=0)
    stats = run_producer(settings, stop=threading.Event(), symbols=sim.symbols, options=options, clock=SimClock(sim),
                         sessions=1)
    close = epoch(sim.config.session_day(), CLOSE)
    ticks = [t for v in ticks_by_symbol(read_user_records(kinesis, stream)).values() for t in v]
    assert stats.sessions == 1 and len(ticks) == stats.ticks_read > 0
    assert max(t["ts"] for t in ticks) >= close - 1  # it read the feed up to the close, not just the clock


def test_health_is_unready_when_no_connection_reached_fyers_for_the_grace(env, tmp_path):
    sim, settings = env
    options = ProducerOptions(journal_dir=str(tmp_path / "journal"), health_port=-1, session="always",
                              health_grace=1.0)
    producer = Producer(settings, stop=threading.Event(), symbols=sim.symbols, options=options)
    st = producer.state
    st.state, st.connected, st.subscribed = "connecting", False, False
    st.disconnected_at = time.monotonic() - 0.5
    assert producer.status()["ready"] is True  # within the grace: a reconnect is under way
    st.disconnected_at = time.monotonic() - 5
    assert (producer.status()["ready"], producer.status()["reason"]) == (False, "disconnected")  # ECS replaces it
    st.auth_failing = True  # an SSM read error is not a refused token: it may be the network
    assert (producer.status()["ready"], producer.status()["reason"]) == (False, "disconnected")


def test_a_stalled_socket_is_a_gap_from_its_last_frame_not_from_when_the_stall_was_noticed(env, kinesis, tmp_path):
    from fyers.rest import RestClient
    from fyers.socket import DataSocket
    from fyers.symbols import SymbolClient

    sim, settings = env
    stop = threading.Event()
    options = ProducerOptions(journal_dir=str(tmp_path / "journal"), health_port=-1, metrics_interval=3600,
                              session="always")

    def socket(**kw):  # the production socket, noticing a stall after 2 s instead of 30
        resolve = SymbolClient(RestClient(sim.api_url), kw["access_token"]).topics
        return DataSocket(sim.ws_url, resolve_topics=resolve, stall_timeout=2.0, producer_id="test-producer", **kw)

    producer = Producer(settings, stop=stop, symbols=sim.symbols, options=options, socket_factory=socket)
    thread = threading.Thread(target=producer.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: producer.ticks_read > 100)
        sim.faults.stall(4)
        wait_for(lambda: producer.gaps.is_open("disconnect"))
        wait_for(lambda: not producer.gaps.is_open("disconnect"))
        resumed = producer.ticks_read
        wait_for(lambda: producer.ticks_read > resumed + 50)
    finally:
        stop.set()
        thread.join(timeout=60)
    ticks = [t for v in ticks_by_symbol(read_user_records(kinesis, settings.stream)).values() for t in v]
    (gap,) = [g for g in producer.stats.gaps if g["reason"] == "disconnect"]
    rx = sorted(t["rx"] / 1000 for t in ticks)
    i = max(range(1, len(rx)), key=lambda k: rx[k] - rx[k - 1])  # the stall: the longest silence
    last_before, first_after = rx[i - 1], rx[i]
    assert first_after - last_before >= 2  # noticed 2 s after the last frame at the earliest
    assert gap["from"] <= last_before and gap["to"] >= first_after - 1


def test_rate_limits_and_5xx_at_start_up_are_retried_not_taken_for_a_bad_token(env, start):
    sim, settings = env
    sim.faults.rate_limit(6)  # more than the REST client's own retries: the socket's backoff goes on
    sim.faults.http_5xx(3, status=503)
    producer, finish = start(settings, sim.symbols)
    wait_for(lambda: producer.ticks_read > 50, timeout=60)
    stats = finish()
    assert producer.metrics.totals["AuthFailures"] == 0  # no auth alarm, no wait for a new token
    assert not [g for g in stats.gaps if g["reason"] == "auth"]


def test_a_short_auth_refusal_is_retried_with_the_same_token(env, start):
    """Fyers may refuse a valid token for a while: the producer tries it again (paced by the
    socket's backoff) instead of waiting minutes for a new one in SSM."""
    sim, settings = env
    producer, finish = start(settings, sim.symbols)
    wait_for(lambda: producer.ticks_read > 50)
    sim.faults.refuse_auth(True)
    sim.faults.drop_connections()
    wait_for(lambda: producer.metrics.totals["AuthFailures"] >= 2)
    sim.faults.refuse_auth(False)  # SSM still holds the same token
    wait_for(lambda: producer.state.subscribed and not producer.state.auth_failing, timeout=40)
    before = producer.ticks_read
    wait_for(lambda: producer.ticks_read > before + 20)
    stats = finish()
    (gap,) = [g for g in stats.gaps if g["reason"] == "auth"]
    assert gap["from"] <= gap["to"]


def test_a_malformed_frame_is_quarantined_with_its_reason_and_none_of_it_forwarded(env, aws, kinesis, start):
    import base64

    sim, settings = env
    producer, finish = start(settings, sim.symbols)
    wait_for(lambda: producer.ticks_read > 50)
    sim.faults.malformed_frame()  # a copy of a real block, then a truncated one
    wait_for(lambda: producer.frames.kept == 1)
    before = producer.ticks_read
    wait_for(lambda: producer.ticks_read > before + 20)
    stats = finish()
    s3 = aws.client("s3")
    (obj,) = s3.list_objects_v2(Bucket=BUCKET, Prefix="quarantine/frames/")["Contents"]
    doc = orjson.loads(s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
    assert "truncated" in doc["reason"] and doc["pid"] == "test-producer"
    assert len(base64.b64decode(doc["data"])) == doc["size"] > 7
    ticks = [t for v in ticks_by_symbol(read_user_records(kinesis, settings.stream)).values() for t in v]
    assert len(ticks) == stats.ticks_read
    states = [tuple(v for k, v in t.items() if k not in ("seq", "rx")) for t in ticks]
    assert len(states) == len(set(states))  # the salvaged block would have repeated a tick exactly
