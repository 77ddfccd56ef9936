"""Where a gap ends: at each symbol's first tick after the loss, whose volume change spans it.

A bar's volume is the change of the cumulative ``vol`` between a symbol's consecutive ticks, so the
first tick after a loss carries every trade of the loss into its own bucket (producer/gaps.py). These
tests drive the recorder on a clock that moves only when told to.
"""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.reconcile import compare_symbol
from market.session import BAR_SECONDS, IST
from market.tick import CLOCK_SKEW_S
from producer.gaps import EDGE_WAIT, GapRecorder

T0 = int(dt.datetime(2026, 11, 20, 12, 0, tzinfo=IST).timestamp())  # a bucket start
A, B, C = "NSE:AAA-EQ", "NSE:BBB-EQ", "NSE:CCC-EQ"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now


class NoLake:
    """An S3 client that is not there: records stay unsent (what is recorded is in .recorded)."""

    def put_object(self, **kw):
        raise ConnectionError("no lake in this test")


def recorder(clock: Clock, s3=None) -> GapRecorder:
    return GapRecorder(s3 or NoLake(), "lake", "p-1", clock=clock)


def tick(sym: str, ts: int, **kw) -> dict:
    return {"sym": sym, "ts": ts, "ltt": kw.pop("ltt", ts), "ltp": 100.0, "vol": kw.pop("vol", 1000), **kw}


def test_a_gap_ends_at_the_first_tick_after_the_reconnect_even_past_a_bucket_boundary():
    clock = Clock(T0 + 180)
    gaps = recorder(clock)
    gaps.open("disconnect", [A, B], at=T0 + 179)
    clock.now = T0 + 266  # 12:04:26: subscribed again
    assert gaps.close("disconnect") is None  # not recorded yet: no symbol has ticked
    assert gaps.settle() == [] and gaps.waiting() == {A, B}
    clock.now = T0 + 300  # 12:05:00, the next bucket: the subscription snapshots
    gaps.seen([tick(A, T0 + 300)])
    clock.now = T0 + 302
    gaps.seen([tick(B, T0 + 301), tick(A, T0 + 302)])
    (gap,) = gaps.settle()
    assert (gap["from"], gap["to"], gap["symbols"]) == (T0 + 179, T0 + 302, [A, B])
    assert gaps.waiting() == set() and gaps.oldest_open() is None


def test_the_outage_volume_in_the_first_bar_after_the_gap_is_inside_the_gap_for_reconcile():
    # The failed demo run: the gap ended 12:04:26, the first tick came 12:05:00 carrying the outage's volume.
    clock = Clock(T0 - 600)
    gaps = recorder(clock)
    gaps.open("disconnect", [A], at=T0 - 601)
    clock.now = T0 + 266
    gaps.close("disconnect")
    clock.now = T0 + 300
    gaps.seen([tick(A, T0 + 300)])
    (gap,) = gaps.settle()
    bars = {T0 + 300: {"o": 100, "h": 100, "l": 100, "c": 100, "vol": 5000}}  # all the outage's volume
    candles = {T0 + 300: {"o": 100, "h": 100, "l": 100, "c": 100, "vol": 40}}
    (diff,) = compare_symbol(A, bars, candles, [(gap["from"], gap["to"])])
    assert diff.cause == "partial_in_gap"
    (before,) = compare_symbol(A, bars, candles, [(gap["from"], T0 + 266)])  # where the gap used to end
    assert before.cause == "unexplained"


def test_an_illiquid_symbol_gets_its_own_record_up_to_its_first_tick_much_later():
    clock = Clock(T0)
    gaps = recorder(clock)
    gaps.open("disconnect", [A, B, C], at=T0)
    clock.now = T0 + 60
    gaps.close("disconnect")
    clock.now = T0 + 61
    gaps.seen([tick(A, T0 + 61), tick(B, T0 + 61)])
    assert gaps.settle() == []  # C has not ticked: the record waits, up to EDGE_WAIT
    clock.now = T0 + 60 + EDGE_WAIT
    (first,) = gaps.settle()  # the liquid symbols' record does not wait for C any longer
    assert (first["symbols"], first["from"], first["to"]) == ([A, B], T0, T0 + 61)
    assert gaps.waiting() == {C} and gaps.oldest_open() == T0  # C's record is still to come, from T0
    clock.now = T0 + 2400  # 40 minutes later C trades
    gaps.seen([tick(C, T0 + 2399)])
    (second,) = gaps.settle()
    assert (second["symbols"], second["from"], second["to"]) == ([C], T0, T0 + 2400)
    assert gaps.oldest_open() is None


def test_symbols_still_silent_at_the_session_end_are_recorded_up_to_it():
    clock = Clock(T0)
    gaps = recorder(clock)
    gaps.open("auth", [A, B], at=T0)
    clock.now = T0 + 30
    gaps.close("auth")
    gaps.seen([tick(A, T0 + 31)])
    clock.now = T0 + 40
    (gap,) = gaps.settle(final=True)
    assert (gap["symbols"], gap["from"], gap["to"]) == ([A, B], T0, T0 + 40)


def test_a_gap_closed_outside_the_session_ends_where_it_is_closed():
    clock = Clock(T0 + 5000)
    gaps = recorder(clock)
    gaps.open("restart", [A], at=T0)
    gap = gaps.close("restart", at=T0 + 4000, wait=False)
    assert (gap["from"], gap["to"]) == (T0, T0 + 4000)


def test_a_tick_whose_event_time_is_ahead_of_the_producer_clock_moves_the_end_to_it():
    clock = Clock(T0 + 298)
    gaps = recorder(clock)
    gaps.open("disconnect", [A, B], at=T0)
    gaps.close("disconnect")
    # The exchange's clock runs ahead of the producer's: A's first tick is in the next bucket.
    gaps.seen([tick(A, T0 + 301), tick(B, T0 + 10_000, ltt=T0 + 10_000)])  # B's time is implausible
    (gap,) = gaps.settle()
    # ... but never past what readers accept (they quarantine such a tick, it makes no bar)
    assert gap["to"] == T0 + 298 + CLOCK_SKEW_S
    assert gap["to"] >= T0 + 301


def test_a_tick_seen_before_the_subscription_ends_the_gap_no_earlier_than_the_subscription():
    clock = Clock(T0 + 10)
    gaps = recorder(clock)
    gaps.open("disconnect", [A], at=T0)
    gaps.seen([tick(A, T0 + 10)])  # a snapshot of a first subscribe batch, before the last one is accepted
    clock.now = T0 + 20
    (gap,) = [gaps.close("disconnect")]
    assert (gap["from"], gap["to"]) == (T0, T0 + 20)


def test_a_symbol_dropped_again_waits_again_for_its_next_kept_tick():
    clock = Clock(T0 + 100)
    gaps = recorder(clock)
    gaps.add_drops([A, B], T0 + 95, T0 + 99, ticks=7)
    gaps.seen([tick(A, T0 + 100), tick(B, T0 + 100)])
    clock.now = T0 + 110
    gaps.add_drops([A], T0 + 105, T0 + 109, ticks=3)  # A's tick of T0+100 was dropped later too
    clock.now = T0 + 320
    gaps.close("journal_full")
    assert gaps.waiting() == {A}
    gaps.seen([tick(A, T0 + 320)])
    (gap,) = gaps.settle()
    assert (gap["symbols"], gap["from"], gap["to"], gap["ticks"]) == ([A, B], T0 + 95, T0 + 320, 10)


def test_the_lost_ticks_count_stays_on_the_first_record_when_a_silent_symbol_is_split_off():
    clock = Clock(T0 + 10)
    gaps = recorder(clock)
    gaps.add_drops([A, B], T0 + 5, T0 + 9, ticks=4)
    gaps.close("journal_full")
    gaps.seen([tick(A, T0 + 10)])
    clock.now = T0 + 10 + EDGE_WAIT  # EDGE_WAIT after the close
    (first,) = gaps.settle()
    clock.now += 1
    gaps.seen([tick(B, int(clock.now))])
    (second,) = gaps.settle()
    assert (first["symbols"], first["ticks"]) == ([A], 4) and "ticks" not in second
    assert second["symbols"] == [B] and second["from"] == first["from"] == T0 + 5


def test_stop_records_everything_still_open_or_waiting(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": aws.region_name})
    clock = Clock(T0)
    gaps = recorder(clock, s3)
    gaps.open("disconnect", [A], at=T0 - 5)
    gaps.open("restart", [A, B], at=T0 - 500)
    gaps.close("restart")
    clock.now = T0 + 50
    gaps.close_all()
    assert sorted((g["reason"], g["from"], g["to"]) for g in gaps.recorded) == [
        ("disconnect", T0 - 5, T0 + 50), ("restart", T0 - 500, T0 + 50)]
    assert gaps.retry() == 0 and gaps.oldest_open() is None
    stored = [orjson.loads(s3.get_object(Bucket="lake", Key=o["Key"])["Body"].read())
              for o in s3.list_objects_v2(Bucket="lake")["Contents"]]
    assert sorted(stored, key=lambda g: g["from"]) == sorted(gaps.recorded, key=lambda g: g["from"])


def test_reading_frames_costs_no_lookup_when_no_symbol_waits():
    class Frame(list):
        def __iter__(self):
            raise AssertionError("the frame was scanned")

    gaps = recorder(Clock(T0))
    gaps.seen(Frame([tick(A, T0)]))


@settings(max_examples=200, deadline=None)
@given(symbols=st.integers(1, 6),
       first_ticks=st.lists(st.one_of(st.none(), st.integers(0, 4 * int(EDGE_WAIT))), min_size=6, max_size=6),
       settle_every=st.integers(1, 400), outage=st.integers(0, 3 * BAR_SECONDS))
def test_every_symbol_is_covered_from_the_loss_to_its_first_tick_whatever_the_timing(symbols, first_ticks,
                                                                                    settle_every, outage):
    syms = [f"NSE:S{i}-EQ" for i in range(symbols)]
    clock = Clock(T0)
    gaps = recorder(clock)
    gaps.open("disconnect", syms, at=T0)
    clock.now = T0 + outage
    gaps.close("disconnect")
    after = {s: first_ticks[i] for i, s in enumerate(syms)}  # s after the close; None: never again
    horizon = 5 * int(EDGE_WAIT)
    for dt_ in range(0, horizon + 1):
        clock.now = T0 + outage + dt_
        gaps.seen([tick(s, int(clock.now)) for s, at in after.items() if at == dt_])
        if dt_ % settle_every == 0:
            gaps.settle()
    gaps.settle(final=True)  # the session's end
    end = T0 + outage + horizon
    covered: dict[str, list[tuple[int, int]]] = {}
    for g in gaps.recorded:
        assert g["from"] == T0
        for s in g["symbols"]:
            covered.setdefault(s, []).append((g["from"], g["to"]))
    for s, at in after.items():
        (span,) = covered[s]  # one record per symbol, from the loss's start ...
        first = T0 + outage + at if at is not None else end
        assert span[0] == T0 and span[1] >= max(first, T0 + outage)  # ... to its first tick at least
    assert all(g["to"] <= g["recorded"] for g in gaps.recorded)  # and no further than was known
    assert gaps.oldest_open() is None and not gaps.waiting()
    assert len(gaps.recorded) <= 1 + horizon // int(EDGE_WAIT) + 1


@pytest.mark.parametrize("reason", ["disconnect", "auth", "restart"])
def test_every_reason_waits_for_the_first_ticks(reason):
    clock = Clock(T0)
    gaps = recorder(clock)
    gaps.open(reason, [A], at=T0 - 1)
    gaps.close(reason)
    assert gaps.oldest_open() == T0 - 1 and gaps.settle() == []
    clock.now = T0 + 400
    gaps.seen([tick(A, T0 + 400)])
    (gap,) = gaps.settle()
    assert gap["to"] == T0 + 400 and gap["reason"] == reason
