"""The service's gap records end at each symbol's first tick after the loss, on a clock that moves
only when the script says so: the socket is a script of events and frames (the callbacks
fyers.socket.DataSocket calls), the rest is the real producer on the moto server."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from fyers.socket import EventKind, SocketEvent
from market.session import IST
from producer.clock import FakeClock
from producer.gaps import EDGE_WAIT
from producer.options import ProducerOptions
from producer.service import FEED_MARGIN, HEARTBEAT_FILE, Producer
from tickpipe.config import Settings

T0 = int(dt.datetime(2026, 11, 20, 12, 0, tzinfo=IST).timestamp())  # a bucket start
A, B, C = "NSE:AAA-EQ", "NSE:BBB-EQ", "NSE:CCC-EQ"
BUCKET = "tickpipe-test-lake"


def tick(sym: str, ts: int, vol: int = 1000, ltt: int | None = None) -> dict:
    return {"sym": sym, "ts": ts, "ltt": ts if ltt is None else ltt, "ltp": 100.0, "ltq": 1, "vol": vol,
            "src": "ws", "v": 1}


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


class ScriptedSocket:
    """Plays ``script(socket)`` in the socket thread, then idles until the producer stops it."""

    def __init__(self, script: Callable[[ScriptedSocket], None], *, on_ticks, on_event, **_) -> None:
        self.script, self.on_ticks, self.on_event = script, on_ticks, on_event

    def event(self, kind: EventKind) -> None:
        self.on_event(SocketEvent(kind))

    def run(self, stop: threading.Event) -> None:
        self.script(self)
        stop.wait()


@pytest.fixture
def run_script(aws, make_stream, tmp_path):
    """run_script(symbols, script, start=..., beat=None) -> the stopped Producer. ``script(sock, clock,
    producer)`` drives the socket; a heartbeat dict ``beat`` is left in the journal directory first."""
    stream = make_stream("tickpipe-test-ticks", shards=1)
    aws.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": aws.region_name})
    settings = Settings(env="test", stream=stream, bucket=BUCKET, producer_id="p-gaps")

    def run(symbols: list[str], script, start: float, beat: dict | None = None) -> Producer:
        journal = Path(tmp_path / "journal")
        journal.mkdir(exist_ok=True)
        if beat is not None:
            (journal / HEARTBEAT_FILE).write_bytes(orjson.dumps(beat))
        stop, failures = threading.Event(), []
        clock = FakeClock(start)
        options = ProducerOptions(journal_dir=str(journal), health_port=-1, metrics_interval=3600, session="always")

        def play(sock: ScriptedSocket) -> None:
            try:
                script(sock, clock, producer)
            except BaseException as exc:  # noqa: BLE001 - reported by the test, not restarted by the session loop
                failures.append(exc)
            finally:
                stop.set()

        producer = Producer(settings, stop=stop, symbols=symbols, options=options, clock=clock,
                            access_token=lambda: "token",
                            socket_factory=lambda **kw: ScriptedSocket(play, **kw))
        thread = threading.Thread(target=producer.run, daemon=True)
        thread.start()
        thread.join(timeout=120)
        assert not thread.is_alive()
        if failures:
            raise failures[0]
        return producer

    return run


def recorded(producer: Producer, reason: str) -> list[dict]:
    return [g for g in producer.gaps.recorded if g["reason"] == reason]


def test_a_disconnect_gap_ends_at_the_first_ticks_after_the_resubscription_in_the_next_bucket(run_script):
    def script(sock, clock, producer):
        clock.now = T0 + 100
        sock.event(EventKind.CONNECTED)
        sock.event(EventKind.SUBSCRIBED)
        clock.now = T0 + 179
        sock.on_ticks([tick(A, T0 + 178, vol=500), tick(B, T0 + 178, vol=700)])
        clock.now = T0 + 200
        sock.event(EventKind.DISCONNECTED)  # a stall noticed 21 s after the last frame
        clock.now = T0 + 266  # 12:04:26: connected and subscribed again
        sock.event(EventKind.CONNECTED)
        sock.event(EventKind.SUBSCRIBED)
        assert not producer.gaps.is_open("disconnect") and producer.gaps.waiting() == {A, B}
        clock.now = T0 + 300  # 12:05:00: the subscription snapshots, carrying the outage's volume
        sock.on_ticks([tick(A, T0 + 300, vol=900)])
        clock.now = T0 + 301
        sock.on_ticks([tick(B, T0 + 301, vol=800)])
        wait_for(lambda: recorded(producer, "disconnect"))  # by the service's loop, before any stop

    producer = run_script([A, B], script, start=T0 + 90)
    (gap,) = recorded(producer, "disconnect")
    assert (gap["from"], gap["to"], gap["symbols"]) == (T0 + 178 - FEED_MARGIN, T0 + 301, [A, B])
    stored = producer.s3.list_objects_v2(Bucket=BUCKET, Prefix="state/gaps/")["Contents"]
    assert [orjson.loads(producer.s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()) for o in stored] == [gap]


def test_an_illiquid_symbol_is_covered_up_to_its_first_tick_long_after_the_others(run_script):
    def script(sock, clock, producer):
        clock.now = T0 + 100
        sock.event(EventKind.CONNECTED)
        sock.event(EventKind.SUBSCRIBED)
        sock.on_ticks([tick(A, T0 + 99), tick(C, T0 + 99, ltt=T0 + 60), tick(B, T0 + 99)])  # C last traded at 60
        clock.now = T0 + 120
        sock.event(EventKind.DISCONNECTED)
        clock.now = T0 + 266
        sock.event(EventKind.CONNECTED)
        sock.event(EventKind.SUBSCRIBED)
        clock.now = T0 + 300
        sock.on_ticks([tick(A, T0 + 300), tick(B, T0 + 300)])
        clock.now = T0 + 266 + EDGE_WAIT  # C has not traded since
        wait_for(lambda: recorded(producer, "disconnect"))
        assert producer.gaps.waiting() == {C}
        clock.now = T0 + 3000  # 45 minutes on, C trades
        sock.on_ticks([tick(C, T0 + 2999)])
        wait_for(lambda: len(recorded(producer, "disconnect")) == 2)

    producer = run_script([A, B, C], script, start=T0 + 90)
    first, second = recorded(producer, "disconnect")
    start = T0 + 99 - FEED_MARGIN
    assert (first["symbols"], first["from"], first["to"]) == ([A, B], start, T0 + 300)
    assert (second["symbols"], second["from"], second["to"]) == ([C], start, T0 + 3000)


def test_a_restart_gap_ends_at_the_first_ticks_after_the_subscription(run_script):
    def script(sock, clock, producer):
        assert producer.gaps.is_open("restart")
        clock.now = T0 + 266
        sock.event(EventKind.CONNECTED)
        sock.event(EventKind.SUBSCRIBED)
        assert producer.gaps.oldest_open() == T0 - 50  # the heartbeat keeps the gap's start until it is recorded
        clock.now = T0 + 305
        sock.on_ticks([tick(A, T0 + 304)])
        wait_for(lambda: recorded(producer, "restart"))

    producer = run_script([A], script, start=T0 + 200, beat={"at": T0 - 50, "in_session": True})
    (gap,) = recorded(producer, "restart")
    assert (gap["from"], gap["to"]) == (T0 - 50, T0 + 305)


def test_a_stop_records_a_gap_still_waiting_for_first_ticks_up_to_the_stop(run_script):
    def script(sock, clock, producer):
        clock.now = T0 + 266
        sock.event(EventKind.CONNECTED)
        sock.event(EventKind.SUBSCRIBED)
        clock.now = T0 + 280  # stopped before A's first tick: the next run's restart gap goes on from here

    producer = run_script([A], script, start=T0 + 200, beat={"at": T0 - 50, "in_session": True})
    (gap,) = recorded(producer, "restart")
    assert (gap["from"], gap["to"]) == (T0 - 50, T0 + 280)
    beat = orjson.loads((Path(producer.options.journal_dir) / HEARTBEAT_FILE).read_bytes())
    assert beat["in_session"] and beat["at"] <= gap["to"]  # the next restart gap joins this one


def test_a_disconnect_gap_starts_at_the_last_frames_feed_time_when_it_was_read_late(run_script):
    # A busy machine reads the simulator's frames late: on the producer's clock (the feed's, in the
    # demo) the frame of 12:04:50 arrives at 12:06:40. The ticks lost after it belong to bucket 12:00.
    def script(sock, clock, producer):
        clock.now = T0 + 100
        sock.event(EventKind.CONNECTED)
        sock.event(EventKind.SUBSCRIBED)
        clock.now = T0 + 400
        sock.on_ticks([tick(A, T0 + 290)])
        sock.event(EventKind.DISCONNECTED)
        clock.now = T0 + 420
        sock.event(EventKind.CONNECTED)
        sock.event(EventKind.SUBSCRIBED)
        clock.now = T0 + 421
        sock.on_ticks([tick(A, T0 + 421)])
        wait_for(lambda: recorded(producer, "disconnect"))

    producer = run_script([A], script, start=T0 + 90)
    (gap,) = recorded(producer, "disconnect")
    assert (gap["from"], gap["to"]) == (T0 + 290 - FEED_MARGIN, T0 + 421)


def test_a_feed_replaying_another_day_does_not_move_the_gap_to_that_day(run_script):
    # A simulator replaying Friday against Sunday's wall clock: the gap stays on the producer's day.
    friday = T0 - 2 * 86400

    def script(sock, clock, producer):
        clock.now = T0 + 100
        sock.event(EventKind.CONNECTED)
        sock.event(EventKind.SUBSCRIBED)
        clock.now = T0 + 150
        sock.on_ticks([tick(A, friday + 150)])
        sock.event(EventKind.DISCONNECTED)
        clock.now = T0 + 160
        sock.event(EventKind.CONNECTED)
        sock.event(EventKind.SUBSCRIBED)
        sock.on_ticks([tick(A, friday + 160)])
        wait_for(lambda: recorded(producer, "disconnect"))

    producer = run_script([A], script, start=T0 + 90)
    (gap,) = recorded(producer, "disconnect")
    assert (gap["from"], gap["to"]) == (T0 + 150 - FEED_MARGIN, T0 + 160)
