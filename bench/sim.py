"""Fyers simulator: day generation and socket publishing throughput.

1. Generating a default universe's day (20 equities, 2 indices, 1 future) with the table-driven
   generator, against a straightforward one (random.gauss / expovariate per trade) run here on the
   same instruments. Target: the whole universe in well under a second.
2. Publishing every trade of a day over a real websocket (every-trade mode, clock far ahead so the
   whole day is due at once) against encoding the same blocks with the codec alone, and against
   the rate a 400x day needs (the demo's speed).
"""

from __future__ import annotations

import datetime as dt
import math
import random
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
    ours = time.perf_counter() - t0
    trades = sum(len(market.timeline(s).times) for s in symbols)
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


def main() -> None:
    bench_generation()
    bench_socket()


if __name__ == "__main__":
    main()
