"""Signed links, sessions and CSRF tokens (tokens/login_keys.py): properties over any input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokens.errors import LinkExpiredError, LoginCredentialError
from tokens.login_keys import LINK_TTL_MAX, Signer, decode_key, encode_key, new_key

NOW = 1_800_000_000.0
SIGNER = Signer(b"k" * 32)


@given(st.integers(1, LINK_TTL_MAX))
def test_a_minted_link_verifies_until_it_expires(ttl):
    link = SIGNER.mint_link(NOW, ttl)
    assert SIGNER.verify_link(link, NOW + ttl - 1).expires_at == int(NOW) + ttl
    with pytest.raises(LinkExpiredError):
        SIGNER.verify_link(link, NOW + ttl)


@given(st.data())
def test_changing_any_character_of_a_link_breaks_it(data):
    link = SIGNER.mint_link(NOW)
    i = data.draw(st.integers(0, len(link) - 1))
    c = data.draw(st.sampled_from("0123456789abcdefABCDEF-_.x").filter(lambda ch: ch != link[i]))
    with pytest.raises(LoginCredentialError):
        SIGNER.verify_link(link[:i] + c + link[i + 1:], NOW)


@given(st.text(max_size=300))
def test_any_text_is_refused_with_the_one_error_type(text):
    for verify in (SIGNER.verify_link, SIGNER.verify_session):
        with pytest.raises(LoginCredentialError):
            verify(text, NOW)


def test_a_link_from_another_key_is_refused():
    with pytest.raises(LoginCredentialError, match="signature"):
        Signer(b"o" * 32).verify_link(SIGNER.mint_link(NOW), NOW)


def test_kinds_do_not_pass_for_each_other():
    cookie, session = SIGNER.mint_session(NOW)
    with pytest.raises(LoginCredentialError):
        SIGNER.verify_link(cookie, NOW)
    with pytest.raises(LoginCredentialError):
        SIGNER.verify_session(SIGNER.mint_link(NOW), NOW)
    with pytest.raises(LoginCredentialError):
        SIGNER.check_csrf(session, cookie)


def test_a_link_claiming_a_longer_life_than_any_link_gets_is_refused():
    far = SIGNER._sign("link", int(NOW) + LINK_TTL_MAX + 60, "nonce")
    with pytest.raises(LoginCredentialError, match="longer"):
        SIGNER.verify_link(far, NOW)


def test_csrf_tokens_belong_to_their_session():
    _, one = SIGNER.mint_session(NOW)
    _, two = SIGNER.mint_session(NOW)
    SIGNER.check_csrf(one, SIGNER.csrf_token(one))
    with pytest.raises(LoginCredentialError):
        SIGNER.check_csrf(one, SIGNER.csrf_token(two))


@given(st.text(max_size=60))
def test_a_stored_key_must_be_32_bytes_of_base64(text):
    try:
        key = decode_key(text)
    except ValueError:
        return
    assert len(key) == 32


def test_keys_round_trip_and_reprs_hide_them():
    key = new_key()
    assert decode_key(encode_key(key)) == key
    assert encode_key(key) not in repr(Signer(key))
    _, session = SIGNER.mint_session(NOW)
    assert session.sid not in repr(session)
