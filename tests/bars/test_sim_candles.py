"""End to end in every-trade mode: the simulator's ticks, through the data socket, the stream and the
bars handler, give exactly the simulator's own history candles (built from every trade)."""

from __future__ import annotations

import threading
import time

import boto3
from bars_stream import kpl_records, lake_bars, put

from consumers.bars.handler import BarsConsumer
from fyers.ratelimit import RateLimiter
from fyers.rest import RestClient
from fyers.socket import DataSocket
from fyers.symbols import SymbolClient
from local.kinesis_runner import KinesisRunner
from market.bars import curated

SYMBOLS = ["NSE:SBIN-EQ", "NSE:TCS-EQ", "NSE:NIFTY50-INDEX"]
SPEED = 3000  # a whole session in ~8 s


def collect_session(sim) -> list[dict]:
    """Every tick the socket delivers from the open to the close."""
    tokens = sim.issue_tokens()
    token = lambda: tokens["access_token"]  # noqa: E731
    topics = SymbolClient(RestClient(sim.api_url, RateLimiter(), backoff=0.01), token).topics
    ticks: list[dict] = []
    lock = threading.Lock()

    def on_ticks(batch):
        with lock:
            ticks.extend(batch)

    socket = DataSocket(sim.ws_url, token, SYMBOLS, topics, on_ticks, producer_id="bars-test",
                        backoff_initial=0.05, backoff_max=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=socket.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not sim.session_over() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # the last messages in flight
    stop.set()
    socket.close()
    thread.join(timeout=10)
    assert sim.session_over(), "the simulated session did not end in time"
    with lock:
        return list(ticks)


def test_every_trade_bars_equal_the_simulators_history_candles(lake, fyers_sim):
    sim = fyers_sim(every_trade=True, speed=SPEED, hold_clock=True, symbols=SYMBOLS)
    ticks = collect_session(sim)
    put(boto3.client("kinesis"), lake.stream, kpl_records(ticks, per_record=200, mix_symbols=True))
    consumer = BarsConsumer(lake)
    runner = KinesisRunner(lake.stream, consumer.handle, batch_size=1000, tumbling_window_s=60)
    runner.drain()
    for shard in runner.checkpoints():
        consumer.flush(shard)
    bars = curated(lake_bars(boto3.client("s3"), lake.bucket))
    compared = 0
    for sym in SYMBOLS:
        candles = sim.candles(sym, 5)
        assert candles, f"no candles for {sym}"
        got = {start: (b["o"], b["h"], b["l"], b["c"], b["vol"]) for (s, start), b in bars.items() if s == sym}
        want = {c[0]: (c[1], c[2], c[3], c[4], c[5]) for c in candles}
        assert got == want, sym
        compared += len(want)
    assert compared >= 3 * 70  # (nearly) every bucket of the session, for every symbol
    assert consumer.counters["quarantined"] == 0 and consumer.counters["too_late_ticks"] == 0
