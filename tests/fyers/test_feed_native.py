"""fyers.feed with the native accelerator (_tickpipe_feed) gives what the Python loop gives."""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fyers import codec, feed
from fyers.errors import FrameError
from fyers.feed import Feed

NV = codec.NO_VALUE
needs_native = pytest.mark.skipif(not feed.NATIVE, reason="accelerator not built (no C compiler)")

TOPICS = {f"sf|nse_cm|{i}": f"NSE:S{i}-EQ" for i in range(1, 5)}
value = st.one_of(st.just(NV), st.integers(-(2**31) + 1, 2**31 - 1))
values21 = st.lists(value, min_size=21, max_size=21)
full_values21 = st.lists(st.integers(-(2**31) + 1, 2**31 - 1), min_size=21, max_size=21)

# what setup.py needs to build an accelerator: a C compiler and Python's headers
CAN_BUILD = shutil.which("cc") is not None and (Path(sysconfig.get_paths()["include"]) / "Python.h").exists()


@st.composite
def sessions(draw):
    """Snapshots of four topics (some needing the general path: a multiplier, a missing value),
    then frames of full updates (the accelerated kind), sometimes mixed with other blocks."""
    snaps = []
    for i, topic in enumerate(TOPICS, start=1):
        vals = draw(full_values21 if i < 3 else values21)
        snaps.append(codec.Snapshot(i, topic, tuple(vals), draw(st.sampled_from([1, 1, 2, 100])),
                                    draw(st.integers(0, 4)), "NSE", str(i), TOPICS[topic]))
    frames = [codec.encode_data(1, snaps)]
    for n in range(draw(st.integers(1, 12))):
        blocks = [codec.FullUpdate(draw(st.integers(1, 5)), tuple(draw(values21)))
                  for _ in range(draw(st.integers(1, 6)))]
        if draw(st.booleans()):
            blocks.insert(draw(st.integers(0, len(blocks))), codec.LiteUpdate(draw(st.integers(1, 4)), draw(value)))
        frames.append(codec.encode_data(n + 2, blocks))
    return frames


def decode_all(frames, native):
    f = Feed(TOPICS, "p1", native=native)
    out = []
    for i, fr in enumerate(frames):
        try:
            out.append(f.on_frame(fr, rx_ms=1_000 + i))
        except FrameError as exc:
            out.append(("error", str(exc), exc.ticks))
    states = {topic: f.values(topic) for topic in TOPICS}
    return out, states, f.seq, f.stats


@needs_native
@settings(max_examples=150, deadline=None)
@given(frames=sessions())
def test_native_and_python_give_the_same_ticks_state_and_counts(frames):
    got, want = decode_all(frames, True), decode_all(frames, False)
    # the same keys in the same order and the same float bits: compare the JSON the producer sends
    assert orjson.dumps(got[0]) == orjson.dumps(want[0])
    assert got[1:] == want[1:]


@needs_native
def test_a_frame_of_full_updates_is_decoded_by_the_accelerator(monkeypatch):
    calls = []
    real = feed._native_full_updates
    monkeypatch.setattr(Feed, "__init__", _wrapping_init(calls, real))
    f = Feed(TOPICS, "p1")
    snap = codec.Snapshot(1, "sf|nse_cm|1", tuple(range(1, 22)), 1, 2, "NSE", "1", "NSE:S1-EQ")
    f.on_frame(codec.encode_data(1, [snap]), 0)
    ticks = f.on_frame(codec.encode_data(2, [codec.FullUpdate(1, (500,) + (NV,) * 20)] * 3), 0)
    assert len(calls) == 1 and [t["ltp"] for t in ticks] == [5.0] * 3 and [t["vol"] for t in ticks] == [2] * 3


def _wrapping_init(calls, real):
    original = Feed.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)

        def counted(*a):
            calls.append(a)
            return real(*a)

        self._native = counted

    return init


@pytest.mark.skipif(not CAN_BUILD, reason="no C compiler or no Python.h here: Python does the work")
def test_the_accelerator_is_built_where_there_is_a_compiler():
    assert feed.NATIVE, "pip install -e . should have built _tickpipe_feed (native/feed_decode.c); see its output"
