"""Synthetic data-socket frames for the benchmarks: one snapshot binding ``topics`` scrip topics,
then data frames of full-mode updates in which, as on the real feed, only changed values are sent
and the rest carry the no-value sentinel."""

from __future__ import annotations

import random

from fyers import codec

NV = codec.NO_VALUE


def make_frames(frames: int, *, topics: int = 200, blocks: int | None = None, seed: int = 7,
                start_ts: int = 1_795_700_000) -> tuple[dict[str, str], bytes, list[bytes]]:
    """(topic → symbol, snapshot frame, data frames). ``blocks`` updates per frame, drawn from the
    topics at random (default: every topic once per frame)."""
    rng = random.Random(seed)
    names = {f"sf|nse_cm|{1000 + i}": f"NSE:SYM{i}-EQ" for i in range(topics)}
    states, snaps = [], []
    for i, topic in enumerate(names):
        p = rng.randint(5_000, 500_000)
        values = [p, 1_000, start_ts, start_ts, 10, 12, p - 5, p + 5, 1, 5_000, 6_000, p, 0,
                  p - 100, p + 100, p + 900, p - 900, p - 5_000, p + 5_000, p - 50, p - 20]
        states.append(values)
        snaps.append(codec.Snapshot(i, topic, tuple(values), 1, 2, "NSE", topic.rsplit("|", 1)[1], names[topic]))
    snapshot = codec.encode_data(0, snaps)
    out = []
    for n in range(1, frames + 1):
        chosen = range(topics) if blocks is None else rng.sample(range(topics), blocks)
        bl = []
        for i in chosen:
            st = states[i]
            upd = [NV] * len(st)
            st[0] += rng.randint(-10, 10)  # ltp
            st[1] += rng.randint(1, 50)  # volume
            st[2] = st[3] = st[2] + rng.randint(0, 2)  # ltt, feed time
            st[6], st[7] = st[0] - 5, st[0] + 5  # bid, ask
            st[8] = rng.randint(1, 50)  # ltq
            for k in (0, 1, 2, 3, 6, 7, 8):
                upd[k] = st[k]
            if rng.random() < 0.3:  # total buy/sell quantity moves now and then
                st[9] += 1
                st[10] += 1
                upd[9], upd[10] = st[9], st[10]
            bl.append(codec.FullUpdate(i, tuple(upd)))
        out.append(codec.encode_data(n, bl))
    return names, snapshot, out
