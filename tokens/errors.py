"""Errors of the token service: the login page, its links and state, the terminal login, the refresh."""

from __future__ import annotations

from tickpipe.errors import TickpipeError


class TokenRefreshError(TickpipeError):
    """The token cannot be refreshed; the message says what a person has to do."""


class LoginSetupError(TickpipeError):
    """Something the operator has to set up first (the link key, the app id); the message says what."""


class LoginCredentialError(TickpipeError):
    """A login link, session or CSRF token that does not verify; the message says which check failed
    (never the value)."""


class LinkExpiredError(LoginCredentialError):
    """A genuine login link whose time is up: mint a new one."""


class StateError(TickpipeError):
    """The callback's ``state`` is missing, unknown, reused, expired or from another browser."""


class LinkReusedError(TickpipeError):
    """The login link was used before: links work once."""


class LinkError(TickpipeError):
    """No link can be minted; the message says why."""


class LoginError(TickpipeError):
    """The terminal login cannot go on; the message says what to do."""
