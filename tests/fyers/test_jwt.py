"""base64url as JWTs write it (RFC 7515 §2, no padding): one pair of functions for client and simulator."""

from __future__ import annotations

import binascii

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fyers.jwt import b64url_decode, b64url_encode


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
