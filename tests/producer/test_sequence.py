"""(pid, seq) is unique across restarts: each run starts above every seq an earlier run handed out."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fyers.feed import Feed
from producer.sequence import SEQ_SHIFT, SeqStore, seq_floor

NOW = 1_795_000_000.0  # 2026


def test_a_restart_starts_above_the_last_seq_even_within_the_same_second(tmp_path):
    first = SeqStore(tmp_path)
    start = first.start(NOW)
    first.save(start + 5_000)  # the run handed out 5,000 seqs
    again = SeqStore(tmp_path).start(NOW)  # a restart in the same second (or a clock stepped back)
    assert again >= start + 5_000


def test_without_the_file_the_clock_alone_keeps_a_later_run_above(tmp_path):
    start = SeqStore(tmp_path / "a").start(NOW)
    used = start + (1 << SEQ_SHIFT) - 1  # fewer than 2**31 ticks in that second
    assert SeqStore(tmp_path / "b").start(NOW + 1) > used


@given(st.floats(min_value=0, max_value=2**32 - 1))
def test_seq_fits_a_signed_int64_until_2106(wall):
    assert 0 <= seq_floor(wall) + (1 << SEQ_SHIFT) - 1 < 2**63  # the last seq a run may use in that second


def test_an_unreadable_seq_file_falls_back_to_the_clock(tmp_path):
    (tmp_path / "seq").write_text("not a number")
    assert SeqStore(tmp_path).start(NOW) == seq_floor(NOW)


def test_the_feed_numbers_ticks_from_its_seq_start():
    from fyers import codec

    start = seq_floor(NOW)
    feed = Feed({"sf|nse_cm|3045": "NSE:SBIN-EQ"}, "p", seq_start=start)
    values = [81180, 7471, 1795751212, 1795751216, 10, 20, 81175, 81185, 37, 100, 200, 81100, 0,
              80000, 82000, 82000, 80000, 70000, 90000, 81000, 80900]
    snap = codec.Snapshot(1, "sf|nse_cm|3045", tuple(values), 1, 2, "NSE", "3045", "SBIN-EQ")
    update = codec.FullUpdate(1, tuple(values))
    ticks = feed.on_frame(codec.encode_data(1, [snap, update, update]), 0)
    assert [t["seq"] for t in ticks] == [start + 1, start + 2, start + 3] and feed.seq == start + 3
