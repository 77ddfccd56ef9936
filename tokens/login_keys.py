"""The login page's credentials: signed login links, session cookies and CSRF tokens (pure, no I/O).

One secret, the *link key* (32 random bytes in SSM at ``<prefix>login/link_key``), signs all three
with HMAC-SHA256 under separate derived keys, so a value of one kind never passes as another:

- a **login link** ``<exp>.<nonce>.<mac>`` is minted by an operator with IAM access to the key
  (``tickpipe login-link``) or by the reminder e-mail; it expires at ``exp`` and works once (the
  page records its nonce in SSM, :mod:`tokens.login_state`);
- a **session** ``<exp>.<sid>.<mac>`` is the cookie a redeemed link leaves in the browser;
- a **CSRF token** is the MAC of the session id, put in every form.

Every comparison of a MAC is constant-time (``hmac.compare_digest``). Rotating the key (``tickpipe
login-link --rotate-key``) invalidates every link and session at once. docs/login.md has the threat
model.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Final

from market.session import DAY
from tokens.errors import LinkExpiredError, LoginCredentialError

KEY_BYTES: Final = 32
LINK_TTL: Final = 15 * 60  # what `tickpipe login-link` gives by default
LINK_TTL_MAX: Final = 3 * DAY  # the reminder e-mail's link lives up to this; nothing longer
SESSION_TTL: Final = 30 * 60  # a browser session after a redeemed link
_NONCE_BYTES: Final = 18


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode()


def decode_key(text: str) -> bytes:
    """The key as stored in SSM (base64). Raises ValueError if it is not KEY_BYTES of base64."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (ValueError, TypeError):
        raise ValueError("the login link key is not base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"the login link key must be {KEY_BYTES} bytes, got {len(key)}")
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class Link:
    """A verified login link: its nonce (recorded once used) and expiry (epoch s)."""

    nonce: str
    expires_at: int


@dataclass(frozen=True)
class LoginSession:
    """A verified browser session."""

    sid: str = field(repr=False)
    expires_at: int

    @property
    def sid_hash(self) -> str:
        """What server-side records keep instead of the session id itself."""
        return hashlib.sha256(self.sid.encode()).hexdigest()


class Signer:
    """Mints and verifies links, sessions and CSRF tokens with one link key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the login link key must be {KEY_BYTES} bytes")
        self._keys = {purpose: hmac.new(key, purpose.encode(), hashlib.sha256).digest()
                      for purpose in ("link", "session", "csrf")}

    def __repr__(self) -> str:
        return "Signer(<key hidden>)"

    def _mac(self, purpose: str, text: str) -> str:
        return _b64(hmac.new(self._keys[purpose], text.encode(), hashlib.sha256).digest())

    def _sign(self, purpose: str, expires_at: int, ident: str) -> str:
        body = f"{expires_at}.{ident}"
        return f"{body}.{self._mac(purpose, body)}"

    def _verify(self, purpose: str, value: str | None, now: float, what: str) -> tuple[int, str]:
        if not value:
            raise LoginCredentialError(f"no {what}")
        parts = value.split(".")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1] or len(value) > 200:
            raise LoginCredentialError(f"the {what} is malformed")
        exp_text, ident, mac = parts
        if not hmac.compare_digest(mac.encode(), self._mac(purpose, f"{exp_text}.{ident}").encode()):
            raise LoginCredentialError(f"the {what} has a wrong signature")
        expires_at = int(exp_text)
        if now >= expires_at:
            raise LinkExpiredError(f"the {what} has expired")
        return expires_at, ident

    # -- links ------------------------------------------------------------------------------------
    def mint_link(self, now: float, ttl: int = LINK_TTL) -> str:
        """A new login link value (the ``link`` query parameter), valid ``ttl`` seconds, once."""
        if not 0 < ttl <= LINK_TTL_MAX:
            raise ValueError(f"a login link lives 1 s to {LINK_TTL_MAX // 3600} h, not {ttl} s")
        return self._sign("link", int(now) + ttl, _b64(secrets.token_bytes(_NONCE_BYTES)))

    def verify_link(self, value: str | None, now: float) -> Link:
        """The link's nonce and expiry. Raises LinkExpiredError or LoginCredentialError. A link
        claiming to live past LINK_TTL_MAX from now is refused as forged."""
        expires_at, nonce = self._verify("link", value, now, "login link")
        if expires_at > now + LINK_TTL_MAX:
            raise LoginCredentialError("the login link claims a lifetime longer than any link gets")
        return Link(nonce, expires_at)

    # -- sessions ---------------------------------------------------------------------------------
    def mint_session(self, now: float, ttl: int = SESSION_TTL) -> tuple[str, LoginSession]:
        sid = _b64(secrets.token_bytes(_NONCE_BYTES))
        expires_at = int(now) + ttl
        return self._sign("session", expires_at, sid), LoginSession(sid, expires_at)

    def verify_session(self, value: str | None, now: float) -> LoginSession:
        expires_at, sid = self._verify("session", value, now, "session")
        return LoginSession(sid, expires_at)

    # -- CSRF -------------------------------------------------------------------------------------
    def csrf_token(self, session: LoginSession) -> str:
        return self._mac("csrf", session.sid)

    def check_csrf(self, session: LoginSession, given: str | None) -> None:
        if not given or not hmac.compare_digest(given.encode(), self.csrf_token(session).encode()):
            raise LoginCredentialError("the form's CSRF token does not match this session")
