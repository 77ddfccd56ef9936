"""What the socket publishes: every trade in every-trade mode (bars equal history candles exactly),
quote snapshots at a cadence otherwise, snapshots again after a reconnect, nothing after the close."""

from __future__ import annotations

import datetime as dt
import time

import websocket

from fyers import codec
from fyers.sim.testing import RawHsmClient

SBIN, INDEX = "NSE:SBIN-EQ", "NSE:NIFTY50-INDEX"
LTP, VOL, LTT, FEED = 0, 1, 2, 3  # positions in codec.SCRIP_FIELDS
INDEX_FEED = 2  # exch_feed_time in codec.INDEX_FIELDS


class Ticks:
    """Independent merge of data blocks into per-topic state, one tick per block."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self.state: dict[str, list[int]] = {}
        self.ticks: dict[str, list[tuple[int, ...]]] = {}
        self.kinds: dict[str, list[int]] = {}

    def add(self, msg: codec.DataFeed) -> None:
        for b in msg.blocks:
            if isinstance(b, codec.Snapshot):
                self.names[b.topic_id] = b.topic
                self.state[b.topic] = list(b.values)
                kind = codec.BLOCK_SNAPSHOT
            else:
                st = self.state[self.names[b.topic_id]]
                for j, v in enumerate(b.values):
                    if v != codec.NO_VALUE:
                        st[j] = v
                kind = codec.BLOCK_FULL
            topic = self.names[b.topic_id]
            self.ticks.setdefault(topic, []).append(tuple(self.state[topic]))
            self.kinds.setdefault(topic, []).append(kind)


def _collect(client: RawHsmClient, done, ticks: Ticks, ack_count: int, deadline: float = 90.0) -> None:
    end = time.monotonic() + deadline
    seen = 0
    while not done(ticks):
        assert time.monotonic() < end, "the simulator stopped publishing before the expected end"
        msg = client.recv()
        if isinstance(msg, codec.DataFeed):
            ticks.add(msg)
            seen += 1
            if ack_count and seen % ack_count == 0:
                client.send(codec.encode_ack(msg.message_number))


def _bars(ticks: list[tuple[int, ...]], price_at: int, ts_at: int, vol_at: int | None) -> list[list]:
    """5-minute bars the way the pipeline builds them: OHLC of ltp, volume from the change of cumulative vol."""
    bars: dict[int, list] = {}
    vol_before: dict[int, int] = {}
    last_vol = 0
    for t in ticks:
        start = t[ts_at] - t[ts_at] % 300
        p = t[price_at] / 100
        vol = t[vol_at] if vol_at is not None else 0
        bar = bars.get(start)
        if bar is None:
            vol_before[start] = last_vol
            bars[start] = bar = [start, p, p, p, p, vol]
        bar[2], bar[3], bar[4], bar[5] = max(bar[2], p), min(bar[3], p), p, vol
        last_vol = vol
    out = []
    for start in sorted(bars):
        bar = bars[start]
        bar[5] -= vol_before[start]
        out.append(bar)
    return out


def test_every_trade_mode_bars_equal_history_candles(fyers_sim):
    fut = "NSE:NIFTY26NOVFUT"
    sim = fyers_sim(speed=8000, every_trade=True, symbols=[SBIN, INDEX, fut], start_time=dt.time(9, 14),
                    day=dt.date(2026, 11, 26), ack_count=10, hold_clock=True)
    last = {s: sim.market.timeline(s) for s in (SBIN, INDEX, fut)}
    topics = {sim.topic(s): s for s in last}

    def feed_at(sym: str) -> int:
        return INDEX_FEED if sym == INDEX else FEED

    def done(t: Ticks) -> bool:
        return all(t.ticks.get(topic) and t.ticks[topic][-1][feed_at(sym)] == int(last[sym].times[-1])
                   and t.ticks[topic][-1][LTP] == last[sym].prices[-1] for topic, sym in topics.items())

    ticks = Ticks()
    with RawHsmClient(sim.ws_url) as c:
        c.login(sim.issue_tokens()["access_token"], list(topics))
        _collect(c, done, ticks, ack_count=10)

    for topic, sym in topics.items():
        published = ticks.ticks[topic]
        trades = sim.trades(sym)
        # One snapshot from before the open, then exactly one update per trade.
        assert ticks.kinds[topic].count(codec.BLOCK_SNAPSHOT) == 1
        assert len(published) == 1 + len(trades)
        index = sym == INDEX
        bars = _bars(published, LTP, feed_at(sym), None if index else VOL)
        history = [c for c in sim.candles(sym, 5)]
        traded = [b for b in bars if b[0] >= sim.market.session.open_ts]
        if index:
            assert [b[:5] for b in traded] == [c[:5] for c in history]
        else:
            assert traded == history
            assert history[0][5] >= trades[0].qty  # the 09:15 bar includes the pre-open auction volume


def test_snapshot_mode_publishes_quotes_not_every_trade(fyers_sim):
    sim = fyers_sim(speed=400, symbols=[SBIN], snapshot_interval=5.0, ack_count=0)
    topic = sim.topic(SBIN)
    ticks = Ticks()
    with RawHsmClient(sim.ws_url) as c:
        c.login(sim.issue_tokens()["access_token"], [topic])
        _collect(c, lambda t: len(t.ticks.get(topic, ())) >= 40, ticks, ack_count=0)
    published = ticks.ticks[topic]
    tl = sim.market.timeline(SBIN)
    last_seen = published[-1][LTT]
    assert len(published) < tl.index_at(last_seen) + 1  # fewer quotes than trades
    feeds = [t[FEED] for t in published[1:]]
    assert all(b - a >= 4 for a, b in zip(feeds, feeds[1:], strict=False))  # ~5 s cadence (int seconds)
    for t in published:  # every quote is the true state at an instant within its feed-time second
        states = {tl.cum_vol[i] for i in range(tl.index_at(t[FEED]), tl.index_at(t[FEED] + 1) + 1)}
        assert t[VOL] in states


def test_reconnect_gets_snapshots_again(fyers_sim):
    sim = fyers_sim(speed=400, symbols=[SBIN], ack_count=0)
    token = sim.issue_tokens()["access_token"]
    kinds = []
    for _ in range(2):
        with RawHsmClient(sim.ws_url) as c:
            c.login(token, [sim.topic(SBIN)])
            kinds.append(type(_until(c, codec.DataFeed).blocks[0]))
    assert kinds == [codec.Snapshot, codec.Snapshot]


def _drain(client: RawHsmClient, quiet: float = 0.5) -> list:
    """Every message until the server has been quiet for ``quiet`` seconds."""
    client.ws.settimeout(quiet)
    out = []
    try:
        while True:
            out.append(client.recv())
    except websocket.WebSocketTimeoutException:
        return out


def test_nothing_is_published_after_the_close(fyers_sim):
    sim = fyers_sim(speed=100, symbols=[SBIN], start_time=dt.time(15, 29, 58), ack_count=0, hold_clock=True)
    ticks = Ticks()
    with RawHsmClient(sim.ws_url) as c:
        c.login(sim.issue_tokens()["access_token"], [sim.topic(SBIN)])
        for msg in _drain(c):
            ticks.add(msg)
    assert sim.session_over()
    published = ticks.ticks[sim.topic(SBIN)]
    assert all(t[FEED] <= sim.market.session.close_ts for t in published)
    assert published[-1][VOL] == sim.market.timeline(SBIN).cum_vol[-1]


def test_subscribing_after_the_close_publishes_nothing(fyers_sim):
    sim = fyers_sim(speed=1, symbols=[SBIN], start_time=dt.time(15, 31), ack_count=0)
    with RawHsmClient(sim.ws_url) as c:
        assert c.login(sim.issue_tokens()["access_token"], [sim.topic(SBIN)])[2] == codec.SubscribeResponse(True)
        assert _drain(c, quiet=0.3) == []


def _until(client: RawHsmClient, kind: type):
    msg = client.recv()
    while not isinstance(msg, kind):
        msg = client.recv()
    return msg


def test_pause_stops_and_resume_restarts_a_channel(fyers_sim):
    sim = fyers_sim(speed=400, symbols=[SBIN], ack_count=0)
    with RawHsmClient(sim.ws_url) as c:
        c.login(sim.issue_tokens()["access_token"], [sim.topic(SBIN)])
        c.send(codec.encode_pause(codec.DEFAULT_CHANNEL))
        assert _until(c, codec.PauseResponse) == codec.PauseResponse(True)
        assert not any(isinstance(m, codec.DataFeed) for m in _drain(c, quiet=0.3))
        c.ws.settimeout(5)
        c.send(codec.encode_resume(codec.DEFAULT_CHANNEL))
        assert c.recv() == codec.ResumeResponse(True)
        assert isinstance(c.recv(), codec.DataFeed)


def test_unsubscribe_stops_a_topic(fyers_sim):
    sim = fyers_sim(speed=400, symbols=[SBIN], ack_count=0)
    with RawHsmClient(sim.ws_url) as c:
        c.login(sim.issue_tokens()["access_token"], [sim.topic(SBIN)])
        c.send(codec.encode_unsubscribe([sim.topic(SBIN)]))
        assert _until(c, codec.SubscribeResponse) == codec.SubscribeResponse(True, unsubscribe=True)
        assert not any(isinstance(m, codec.DataFeed) for m in _drain(c, quiet=0.3))
