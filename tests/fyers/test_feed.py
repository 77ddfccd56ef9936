"""Feed: data frames → normalized ticks, merging updates into per-topic state."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fyers import codec
from fyers.errors import FeedFrameError
from fyers.feed import Feed
from market import tick as tickrec

NV = codec.NO_VALUE
TOPIC = "sf|nse_cm|3045"
SYM = "NSE:SBIN-EQ"
# ltp, vol, ltt, ts, bq, aq, bid, ask, ltq, tbq, tsq, atp, oi, low, high, yh, yl, lc, uc, open, prev_close
BASE = (81_250, 1_000, 1_764_130_500, 1_764_130_501, 10, 12, 81_245, 81_255, 5, 5_000, 6_000, 81_100, 0,
        80_500, 81_900, 90_000, 60_000, 73_000, 89_000, 80_800, 80_600)


def snapshot(values=BASE, topic_id=7, topic=TOPIC, multiplier=1, precision=2, symbol=SYM):
    return codec.Snapshot(topic_id, topic, tuple(values), multiplier, precision, "NSE", "3045", symbol)


def frame(*blocks, number=1):
    return codec.encode_data(number, list(blocks))


def test_snapshot_gives_a_tick_with_decimal_prices():
    feed = Feed({TOPIC: SYM}, "p1")
    [t] = feed.on_frame(frame(snapshot()), rx_ms=1_764_130_501_123)
    assert t["sym"] == SYM and t["ts"] == 1_764_130_501 and t["ltt"] == 1_764_130_500
    assert (t["ltp"], t["bid"], t["ask"], t["atp"]) == (812.5, 812.45, 812.55, 811.0)
    assert (t["dh"], t["dl"], t["op"], t["pc"]) == (819.0, 805.0, 808.0, 806.0)
    assert (t["vol"], t["ltq"], t["bq"], t["aq"], t["tbq"], t["tsq"], t["oi"]) == (1000, 5, 10, 12, 5000, 6000, 0)
    assert (t["src"], t["pid"], t["rx"], t["v"]) == ("ws", "p1", 1_764_130_501_123, 1)
    assert list(t) == list(tickrec.FIELDS)
    tickrec.validate(t)


def test_update_keeps_old_value_where_no_value_is_sent():
    feed = Feed({TOPIC: SYM}, "p1")
    feed.on_frame(frame(snapshot()), 0)
    update = [NV] * 21
    update[0], update[1] = 81_300, 1_050
    [t] = feed.on_frame(frame(codec.FullUpdate(7, tuple(update))), 0)
    assert (t["ltp"], t["vol"], t["bid"], t["ts"]) == (813.0, 1_050, 812.45, 1_764_130_501)


@given(st.lists(st.lists(st.one_of(st.just(NV), st.integers(-(2**31) + 1, 2**31 - 1)), min_size=21,
                         max_size=21), max_size=8))
def test_merged_state_matches_a_value_by_value_merge(updates):
    feed = Feed({TOPIC: SYM}, "p1")
    feed.on_frame(frame(snapshot()), 0)
    expected = list(BASE)
    for u in updates:
        feed.on_frame(frame(codec.FullUpdate(7, tuple(u))), 0)
        expected = [o if v == NV else v for v, o in zip(u, expected, strict=True)]
    assert list(feed.values(TOPIC).values()) == expected


def test_lite_update_changes_only_the_last_price():
    feed = Feed({TOPIC: SYM}, "p1")
    [before] = feed.on_frame(frame(snapshot()), 0)
    [after] = feed.on_frame(frame(codec.LiteUpdate(7, 81_400)), 0)
    assert after["ltp"] == 814.0
    assert {k: v for k, v in after.items() if k not in ("ltp", "seq")} == \
           {k: v for k, v in before.items() if k not in ("ltp", "seq")}


def test_index_tick_carries_index_fields_only():
    feed = Feed({"if|nse_cm|Nifty 50": "NSE:NIFTY50-INDEX"}, "p1")
    values = (2_601_255, 2_590_000, 1_764_130_501, 2_610_000, 2_580_000, 2_595_000)
    [t] = feed.on_frame(frame(snapshot(values, topic="if|nse_cm|Nifty 50", symbol="NIFTY50-INDEX")), 0)
    assert (t["sym"], t["ltp"], t["pc"], t["ts"], t["dh"], t["dl"], t["op"]) == \
           ("NSE:NIFTY50-INDEX", 26012.55, 25900.0, 1_764_130_501, 26100.0, 25800.0, 25950.0)
    assert t["vol"] is None and t["bid"] is None
    tickrec.validate(t)


def test_depth_updates_state_without_ticks():
    feed = Feed({"dp|nse_cm|3045": SYM}, "p1")
    values = tuple(range(1, 31))
    assert feed.on_frame(frame(snapshot(values, topic="dp|nse_cm|3045")), 0) == []
    assert feed.values("dp|nse_cm|3045")["ask_price1"] == 6


def test_price_uses_precision_and_multiplier():
    feed = Feed({TOPIC: SYM}, "p1")
    values = list(BASE)
    values[0] = 8_312_345
    [t] = feed.on_frame(frame(snapshot(values, precision=4, multiplier=1)), 0)
    assert t["ltp"] == 831.2345
    feed = Feed({TOPIC: SYM}, "p1")
    values[0] = 1
    [t] = feed.on_frame(frame(snapshot(values, precision=2, multiplier=25)), 0)
    assert t["ltp"] == 0.0004  # 1 / (100 * 25)


def test_missing_snapshot_values_are_null_until_an_update_fills_them():
    feed = Feed({TOPIC: SYM}, "p1")
    values = list(BASE)
    values[6] = NV  # no bid yet
    [t] = feed.on_frame(frame(snapshot(values)), 0)
    assert t["bid"] is None and t["ltp"] == 812.5
    update = [NV] * 21
    update[6] = 81_240
    [t] = feed.on_frame(frame(codec.FullUpdate(7, tuple(update))), 0)
    assert t["bid"] == 812.4


def test_sequence_is_strictly_increasing_across_frames():
    feed = Feed({TOPIC: SYM}, "p1")
    seqs = [t["seq"] for t in feed.on_frame(frame(snapshot(), codec.LiteUpdate(7, 81_260)), 0)]
    seqs += [t["seq"] for t in feed.on_frame(frame(codec.LiteUpdate(7, 81_270)), 0)]
    assert seqs == [1, 2, 3]


def test_update_for_unbound_topic_is_counted_and_skipped():
    feed = Feed({TOPIC: SYM}, "p1")
    ticks = feed.on_frame(frame(codec.LiteUpdate(99, 1), snapshot()), 0)
    assert [t["sym"] for t in ticks] == [SYM]
    assert feed.stats.unknown_topic_updates == 1


def test_truncated_frame_raises_with_the_ticks_before_the_fault():
    feed = Feed({TOPIC: SYM}, "p1")
    good = frame(snapshot(), codec.FullUpdate(7, (NV,) * 21))
    with pytest.raises(FeedFrameError, match="block 1 of 2") as err:
        feed.on_frame(good[:-10], 0)
    assert [t["sym"] for t in err.value.ticks] == [SYM]


def test_non_data_frame_is_rejected():
    with pytest.raises(FeedFrameError, match="not a data-feed frame"):
        Feed({}, "p1").on_frame(codec.encode_auth_response(True), 0)


def test_resent_snapshot_rebinds_topic_id():
    feed = Feed({TOPIC: SYM, "sf|nse_cm|2885": "NSE:RELIANCE-EQ"}, "p1")
    feed.on_frame(frame(snapshot(topic_id=1)), 0)
    feed.on_frame(frame(snapshot(topic_id=1, topic="sf|nse_cm|2885", symbol="NSE:RELIANCE-EQ")), 0)
    [t] = feed.on_frame(frame(codec.LiteUpdate(1, 250_000)), 0)
    assert (t["sym"], t["ltp"]) == ("NSE:RELIANCE-EQ", 2500.0)


def test_unmapped_topic_falls_back_to_the_snapshot_symbol():
    feed = Feed({}, "p1")
    [t] = feed.on_frame(frame(snapshot(symbol="SBIN-EQ")), 0)
    assert t["sym"] == "NSE:SBIN-EQ"
    assert feed.stats.unmapped_topics == {TOPIC}


def test_frame_mixing_fast_and_general_blocks_gives_every_tick_in_order():
    # Three 21-value updates (the fast path's shape); the middle topic still lacks a bid, so the
    # general path takes over from there.
    topics = {f"sf|nse_cm|{i}": f"NSE:S{i}-EQ" for i in range(3)}
    feed = Feed(topics, "p1")
    incomplete = list(BASE)
    incomplete[6] = NV
    feed.on_frame(frame(*[snapshot(incomplete if i == 1 else BASE, topic_id=i, topic=f"sf|nse_cm|{i}")
                          for i in range(3)]), 0)
    update = [NV] * 21
    update[0] = 90_000
    ticks = feed.on_frame(frame(*[codec.FullUpdate(i, tuple(update)) for i in range(3)]), 0)
    assert [(t["sym"], t["ltp"], t["seq"]) for t in ticks] == [
        ("NSE:S0-EQ", 900.0, 4), ("NSE:S1-EQ", 900.0, 5), ("NSE:S2-EQ", 900.0, 6)]
    assert ticks[1]["bid"] is None and ticks[2]["bid"] == 812.45


@given(st.binary(max_size=400), st.booleans(), st.booleans())
def test_arbitrary_bytes_give_ticks_or_a_feed_frame_error_and_nothing_else(body, with_header, native):
    """Hostile input at the socket boundary: a frame is decoded or rejected with a reason."""
    feed = Feed({TOPIC: SYM}, "p1", native=native)
    feed.on_frame(frame(snapshot()), rx_ms=0)  # a bound topic, so updates reach the merge paths
    data = (b"\x00\x00\x06\x00\x00\x00\x01" + body) if with_header else body
    try:
        ticks = feed.on_frame(data, rx_ms=0)
    except FeedFrameError:
        return
    for t in ticks:
        assert t["sym"] and isinstance(t["seq"], int)
