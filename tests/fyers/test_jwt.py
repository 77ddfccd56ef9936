"""base64url as JWTs write it (RFC 7515 §2, no padding) and a JWT segment's JSON object: one set of functions for client and simulator."""

from __future__ import annotations

import binascii

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fyers.jwt import b64url_decode, b64url_encode, decode_json


@given(st.binary())
def test_encoding_round_trips_and_has_no_padding_or_unsafe_characters(data):
    text = b64url_encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64url_decode(text) == data


@given(st.binary())
def test_padded_text_decodes_too(data):
    import base64

    assert b64url_decode(base64.urlsafe_b64encode(data).decode()) == data


@pytest.mark.parametrize("text", ["a", "abcde", "ab!c"])
def test_text_that_is_not_base64url_raises_a_value_error(text):
    with pytest.raises((binascii.Error, ValueError)):
        b64url_decode(text)


@given(st.dictionaries(st.text(), st.integers(-(2**63), 2**63 - 1) | st.text()))
def test_a_segment_holding_a_json_object_reads_back_as_that_object(obj):
    assert decode_json(b64url_encode(orjson.dumps(obj))) == obj


@pytest.mark.parametrize(("segment", "why"), [
    ("ab!c", "not base64url JSON"),  # not base64url
    (b64url_encode(b"\xff\xfe"), "not base64url JSON"),  # not UTF-8
    (b64url_encode(b"{\"exp\":"), "not base64url JSON"),  # truncated JSON
    (b64url_encode(b"[1,2]"), "not a JSON object"),
    (b64url_encode(b"\"exp\""), "not a JSON object"),
])
def test_a_segment_that_is_not_a_json_object_says_what_it_is_not(segment, why):
    with pytest.raises(ValueError, match=why):
        decode_json(segment)


@given(st.binary())
def test_any_segment_bytes_give_an_object_or_a_value_error(data):
    try:
        assert isinstance(decode_json(b64url_encode(data)), dict)
    except ValueError as exc:
        assert str(exc) in ("not base64url JSON", "not a JSON object")
