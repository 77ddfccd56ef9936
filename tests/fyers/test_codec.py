"""The data-socket codec: every message round-trips, and malformed frames fail with a located reason."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fyers import codec
from fyers.errors import FrameError

ascii_text = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=60)
topics = st.lists(ascii_text, min_size=0, max_size=30).map(tuple)
channels = st.integers(0, 63)
int32 = st.integers(codec.INT32_MIN, codec.INT32_MAX)
uint16 = st.integers(0, 0xFFFF)
short_text = st.text(max_size=20).filter(lambda s: len(s.encode()) <= 255)


@given(ascii_text, st.text(max_size=40))
def test_auth_round_trips(hsm_key, source):
    assert codec.decode_client(codec.encode_auth(hsm_key, source)) == codec.Auth(hsm_key, "P", source)


@given(channels, st.booleans())
def test_mode_round_trips(channel, full):
    assert codec.decode_client(codec.encode_mode(channel, full)) == codec.Mode(1 << channel, full)


@given(topics, channels)
def test_subscribe_round_trips(names, channel):
    assert codec.decode_client(codec.encode_subscribe(names, channel)) == codec.Subscribe(names, channel)


@given(topics, channels)
def test_unsubscribe_round_trips(names, channel):
    assert codec.decode_client(codec.encode_unsubscribe(names, channel)) == codec.Unsubscribe(names, channel)


@given(channels)
def test_pause_and_resume_round_trip(channel):
    assert codec.decode_client(codec.encode_pause(channel)) == codec.Pause(1 << channel)
    assert codec.decode_client(codec.encode_resume(channel)) == codec.Resume(1 << channel)


@given(st.integers(0, 0xFFFFFFFF))
def test_ack_round_trips(number):
    frame = codec.encode_ack(number)
    assert frame[:2] == b"\x00\x09"  # the length the SDK sends
    assert codec.decode_client(frame) == codec.Ack(number)


def test_ping_is_three_bytes():
    assert codec.decode_client(codec.PING) == codec.Ping()


@given(st.sampled_from([codec.encode_auth("k"), codec.encode_mode(11, False), codec.encode_subscribe(["a|b|1"])]),
       uint16)
def test_client_length_prefix_is_ignored(frame, bogus_length):
    # The SDK sends a wrong length (e.g. 0) in some messages: the server parses by fields.
    assert codec.decode_client(struct.pack(">H", bogus_length) + frame[2:]) == codec.decode_client(frame)


@given(st.booleans(), st.integers(0, 0xFFFFFFFF))
def test_auth_response_round_trips(ok, ack_count):
    assert codec.decode_server(codec.encode_auth_response(ok, ack_count)) == codec.AuthResponse(ok, ack_count)


@given(st.booleans(), st.booleans())
def test_subscribe_response_round_trips(ok, unsubscribe):
    frame = codec.encode_subscribe_response(ok, unsubscribe)
    assert codec.decode_server(frame) == codec.SubscribeResponse(ok, unsubscribe)


def test_subscribe_response_status_length_may_be_little_endian():
    # The SDK reads this field's length in native byte order, so a server may write it either way.
    frame = b"\x00\x06\x04\x01\x01\x01\x00K"
    assert codec.decode_server(frame) == codec.SubscribeResponse(True, False)


@given(st.booleans())
def test_mode_pause_resume_responses_round_trip(ok):
    assert codec.decode_server(codec.encode_mode_response(ok)) == codec.ModeResponse(ok)
    assert codec.decode_server(codec.encode_pause_response(ok)) == codec.PauseResponse(ok)
    assert codec.decode_server(codec.encode_resume_response(ok)) == codec.ResumeResponse(ok)


@given(int32, st.text(max_size=200), st.integers(0, 255))
def test_custom_message_round_trips(code, text, ref):
    assert codec.decode_server(codec.encode_custom(code, text, ref)) == codec.Custom(code, text, ref)


def _values(n):
    return st.lists(int32, min_size=n, max_size=n).map(tuple)


snapshots = st.builds(
    codec.Snapshot,
    topic_id=uint16,
    topic=st.sampled_from(["sf|nse_cm|3045", "if|nse_cm|Nifty 50", "dp|nse_cm|2885"]),
    values=st.sampled_from([21, 6, 30]).flatmap(_values),
    multiplier=uint16,
    precision=st.integers(0, 255),
    exchange=short_text,
    token=short_text,
    symbol=short_text,
)
full_updates = st.builds(codec.FullUpdate, topic_id=uint16, values=st.integers(0, 40).flatmap(_values))
lite_updates = st.builds(codec.LiteUpdate, topic_id=uint16, ltp=int32)
blocks = st.lists(st.one_of(snapshots, full_updates, lite_updates), max_size=20).map(tuple)


@given(st.integers(0, 0xFFFFFFFF), blocks)
def test_data_feed_round_trips(number, items):
    assert codec.decode_server(codec.encode_data(number, items)) == codec.DataFeed(number, items)


def test_no_value_survives_the_wire():
    update = codec.FullUpdate(1, (codec.NO_VALUE,) * len(codec.SCRIP_FIELDS))
    assert codec.decode_server(codec.encode_data(1, [update])).blocks == (update,)


def test_topic_id_is_little_endian_on_the_wire():
    frame = codec.encode_data(0, [codec.LiteUpdate(0x0102, 7)])
    assert frame[codec.DATA_HEADER_SIZE:] == bytes([codec.BLOCK_LITE, 0x02, 0x01]) + struct.pack(">i", 7)


def test_field_lists_follow_fyers_order():
    assert len(codec.SCRIP_FIELDS) == 21 and codec.SCRIP_FIELDS[0] == "ltp"
    assert codec.SCRIP_FIELDS[-1] == "prev_close_price"
    assert len(codec.INDEX_FIELDS) == 6 and len(codec.DEPTH_FIELDS) == 30


@given(st.integers(0, 0xFFFFFFFF), st.lists(st.one_of(snapshots, full_updates, lite_updates), min_size=1,
                                             max_size=5), st.data())
def test_truncated_data_frame_is_a_frame_error(number, items, data):
    frame = codec.encode_data(number, items)
    cut = data.draw(st.integers(0, len(frame) - 1))
    with pytest.raises(FrameError):
        codec.decode_server(frame[:cut])


def test_unknown_block_type_names_the_offset():
    frame = codec.encode_data(1, [codec.LiteUpdate(1, 1)])
    bad = frame[: codec.DATA_HEADER_SIZE] + b"\x99" + frame[codec.DATA_HEADER_SIZE + 1 :]
    with pytest.raises(FrameError, match=r"unknown type 153 \(at offset 9\)"):
        codec.decode_server(bad)


def test_trailing_garbage_is_a_frame_error():
    with pytest.raises(FrameError, match="trailing"):
        codec.decode_server(codec.encode_data(1, [codec.LiteUpdate(1, 1)]) + b"\x00")


def test_unknown_message_types_are_frame_errors():
    with pytest.raises(FrameError, match="unknown server message type 99"):
        codec.decode_server(b"\x00\x01\x63")
    with pytest.raises(FrameError, match="unknown client message type 99"):
        codec.decode_client(b"\x00\x01\x63")
    with pytest.raises(FrameError, match="too short"):
        codec.decode_server(b"\x00")


@given(st.binary(max_size=200))
def test_random_bytes_never_raise_anything_but_frame_error(blob):
    for decode in (codec.decode_server, codec.decode_client):
        try:
            decode(blob)
        except FrameError:
            pass


def test_encoders_reject_values_that_do_not_fit():
    with pytest.raises(ValueError, match="ASCII"):
        codec.encode_subscribe(["sf|nse_cm|ü"])
    with pytest.raises(ValueError, match="channel"):
        codec.encode_mode(64, True)
    with pytest.raises(ValueError, match="int32"):
        codec.encode_data(1, [codec.FullUpdate(1, (2**31,))])
    with pytest.raises(ValueError, match="uint32"):
        codec.encode_ack(-1)
