"""Fyers simulator: day generation, socket publishing throughput, and a 5,000-symbol universe.

1. Generating a default universe's day (20 equities, 2 indices, 1 future) with the table-driven
   generator, against a straightforward one (random.gauss / expovariate per trade) run here on the
   same instruments. Target: the whole universe in well under a second.
2. Publishing every trade of a day over a real websocket (every-trade mode, clock far ahead so the
   whole day is due at once) against encoding the same blocks with the codec alone, and against
   the rate a 400x day needs (the demo's speed).
3. A 5,000-symbol universe (one connection's worth): start time and RSS of the lazy market model
   (in a child process), the rate it produces quotes when every symbol is quoted every second,
   and the snapshot-mode socket's rate over a real websocket, each against the 5,000 updates a
   second a real open needs (every symbol updated every second).
"""

from __future__ import annotations

import datetime as dt
import math
import random
import resource
import subprocess
import sys
import time

from fyers import codec
from fyers.sim import SimConfig, Simulator
from fyers.sim.instruments import default_symbols, instrument
from fyers.sim.market import Market, generate, quote_values
from fyers.sim.testing import RawHsmClient
from market.session import normal_session

DAY = dt.date(2026, 11, 26)
SOCKET_SYMBOLS = ["NSE:SBIN-EQ", "NSE:INFY-EQ", "NSE:ITC-EQ", "NSE:TCS-EQ", "NSE:NIFTY50-INDEX"]


def naive_day(symbol: str, seed: int) -> int:
    """The straightforward generator: one gauss and two expovariate calls per trade."""
    inst = instrument(symbol)
    s = normal_session(DAY)
    rng = random.Random(f"{seed}|{symbol}")
    rate, sigma = rng.uniform(0.15, 0.6), 2.0
    t, price, n = float(s.open_ts), inst.prev_close, 0
    trades = []
    while True:
        frac = (t - s.open_ts) / (s.close_ts - s.open_ts)
        t += rng.expovariate(rate * (0.55 + 1.35 * (2 * frac - 1) ** 2))
        if t >= s.close_ts:
            break
        price += 5 * round(rng.gauss(0, sigma))
        trades.append((t, price, 1 + int(rng.expovariate(0.1))))
        n += 1
    return n


def bench_generation() -> None:
    symbols = default_symbols(DAY)
    generate.cache_clear()
    t0 = time.perf_counter()
    market = Market(symbols, DAY, 1)
    market.generate_all()
    trades = sum(len(market.timeline(s).times) for s in symbols)  # every slice of the day
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s in symbols:
        naive_day(s, 1)
    naive = time.perf_counter() - t0
    print(f"   day generation: {len(symbols)} symbols, {trades:,} trades/moves in {ours:.2f} s "
          f"({trades / ours:,.0f}/s); {naive / ours:.2f}x the straightforward generator's speed")


def bench_socket() -> None:
    with Simulator(SimConfig(speed=1e6, every_trade=True, symbols=SOCKET_SYMBOLS, ack_count=0, hold_clock=True,
                             day=DAY, start_time=dt.time(9, 14))) as sim:
        expected = sum(len(sim.market.timeline(s).times) for s in SOCKET_SYMBOLS) + len(SOCKET_SYMBOLS)
        with RawHsmClient(sim.ws_url, timeout=60) as c:
            c.login(sim.issue_tokens()["access_token"], [sim.topic(s) for s in SOCKET_SYMBOLS])
            t0 = time.perf_counter()
            got = 0
            while got < expected:
                frame = c.recv_raw()
                if frame[2] == codec.T_DATA:
                    got += int.from_bytes(frame[7:9], "big")
            wire = time.perf_counter() - t0
        # Baseline: the codec alone encoding the same updates in frames of the same size.
        per = sim.config.max_blocks_per_message
        blocks = []
        for topic_id, s in enumerate(SOCKET_SYMBOLS):
            tl = sim.market.timeline(s)
            blocks += [codec.FullUpdate(topic_id, quote_values(tl, k, int(tl.times[k]))) for k in range(len(tl.times))]
        t0 = time.perf_counter()
        for i in range(0, len(blocks), per):
            codec.encode_data(i, blocks[i:i + per])
        encode = time.perf_counter() - t0
    rate = expected / wire
    s = normal_session(DAY)
    need = 400 * sum(len(Market(default_symbols(DAY), DAY, 1).timeline(x).times) for x in default_symbols(DAY)) / (
        s.close_ts - s.open_ts)
    print(f"   socket, every trade: {expected:,} blocks in {wire:.2f} s = {rate:,.0f} blocks/s; "
          f"{rate / (len(blocks) / encode):.2f}x the codec's bare encode rate; "
          f"{rate / need:.2f}x what a 400x default-universe day needs ({math.ceil(need):,}/s)")


SCALE = 5000
NEED = SCALE  # updates a second: every symbol once a second
SCALE_MINUTES = 30


def scale_symbols() -> list[str]:
    return [f"NSE:SCALE{i:04d}-EQ" for i in range(SCALE)]


def _scale_child() -> None:
    """Start the 5,000-symbol market, then quote every symbol every second for SCALE_MINUTES."""
    t0 = time.perf_counter()
    market = Market(scale_symbols(), DAY, 1)
    market.generate_all()
    start = time.perf_counter() - t0
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tls = [market.timeline(s) for s in market.instruments]
    open_ts = normal_session(DAY).open_ts
    t0, n = time.perf_counter(), 0
    for ts in range(open_ts, open_ts + SCALE_MINUTES * 60):
        for tl in tls:
            quote_values(tl, tl.index_at(ts), ts)
            n += 1
    rate = n / (time.perf_counter() - t0)
    print(start, rss_start, rate, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def bench_scale() -> None:
    out = subprocess.run([sys.executable, "-m", "bench.sim", "--scale-child"], check=True, capture_output=True,
                         text=True).stdout.split()
    start, rss_start, rate, rss_end = float(out[0]), int(out[1]) // 1024, float(out[2]), int(out[3]) // 1024
    print(f"   {SCALE:,} symbols: market ready in {start:.1f} s, {rss_start} MiB; quoting every symbol every second "
          f"for {SCALE_MINUTES} min: {rate:,.0f} quotes/s ({rate / NEED:.1f}x the {NEED:,}/s an open needs), "
          f"peak RSS {rss_end} MiB")
    symbols = scale_symbols()
    window = 10.0
    with Simulator(SimConfig(speed=20, symbols=symbols, ack_count=0, hold_clock=True, day=DAY,
                             start_time=dt.time(9, 15))) as sim:
        topics = [sim.topic(s) for s in symbols]
        with RawHsmClient(sim.ws_url, timeout=60) as c:
            c.login(sim.issue_tokens()["access_token"], topics[:1000])
            for k in range(1000, len(topics), 1000):  # a subscribe message holds at most 64 KiB of topics
                c.send(codec.encode_subscribe(topics[k:k + 1000], codec.DEFAULT_CHANNEL))
            got, t0 = 0, None
            while t0 is None or time.perf_counter() - t0 < window:
                frame = c.recv_raw()
                if frame[2] == codec.T_DATA:
                    if t0 is None:
                        t0 = time.perf_counter()  # from the first data frame: the snapshots
                    got += int.from_bytes(frame[7:9], "big")
            wall = time.perf_counter() - t0
    print(f"   socket, snapshot mode, {SCALE:,} topics on one connection at 20x: {got / wall:,.0f} updates/s "
          f"({got / wall / NEED:.1f}x the {NEED:,}/s of every symbol updated every second)")


def main() -> None:
    bench_generation()
    bench_socket()
    bench_scale()


if __name__ == "__main__":
    if sys.argv[1:] == ["--scale-child"]:
        _scale_child()
    else:
        main()
