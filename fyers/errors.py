"""Errors of the fyers package (the REST client, the data-socket codec and feed, the token store, the
shared request budget), and the error codes the client and the simulator share.

REST errors arrive as an HTTP status plus ``{"s": "error", "code": CODE, "message": TEXT}``;
:func:`error_for` turns one into the specific exception a caller can act on. On the data socket a
refused auth is a custom message (type 51) with one of these codes followed by a failed auth response.
"""

from __future__ import annotations

from typing import Any, Final

from tickpipe.errors import TickpipeError

TOKEN_EXPIRED: Final = -8
INVALID_TOKEN: Final = -15
AUTH_FAILED: Final = -16
# "Token is invalid or expired" (Fyers API v3 error-code table); answered for a stale or reused auth code.
TOKEN_INVALID_OR_EXPIRED: Final = -17
WRONG_PIN: Final = -5
REFRESH_EXPIRED: Final = -9
RATE_LIMITED: Final = -429
SYMBOL_LIMIT: Final = 51001


class FyersError(TickpipeError):
    """An error reported by Fyers (or found in what Fyers sent). ``code`` is Fyers' code or 0."""

    def __init__(self, code: int, message: str, status: int | None = None) -> None:
        super().__init__(f"Fyers error {code}: {message}" + (f" (HTTP {status})" if status else ""))
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = 0.0  # seconds the server asked us to wait (Retry-After), if it did


class TokenExpiredError(FyersError):
    """The access token has expired: refresh it (or log in again) and retry."""


class InvalidTokenError(FyersError):
    """The access token (or auth code) is not valid: log in again."""


class AuthFailedError(FyersError):
    """Fyers refused the credentials (app id, secret, auth code): check the app configuration."""


class WrongPinError(FyersError):
    """Refreshing failed because the PIN is wrong: fix the stored PIN."""


class RefreshTokenExpiredError(FyersError):
    """The refresh token (15 days) has expired: a user must log in through the browser again."""


class RateLimitedError(FyersError):
    """Fyers' rate limit was hit (HTTP 429): slow down and retry later."""


class FyersServerError(FyersError):
    """Fyers answered with a 5xx status or could not be reached: transient, retry with backoff."""


class SymbolLimitError(FyersError):
    """More symbols than one data-socket connection (or the plan) carries."""


class StateMismatchError(FyersError):
    """The login redirect's ``state`` is not the one we issued: possible forgery, do not use the code."""


_BY_CODE: Final[dict[int, type[FyersError]]] = {
    TOKEN_EXPIRED: TokenExpiredError,
    INVALID_TOKEN: InvalidTokenError,
    TOKEN_INVALID_OR_EXPIRED: InvalidTokenError,
    AUTH_FAILED: AuthFailedError,
    WRONG_PIN: WrongPinError,
    REFRESH_EXPIRED: RefreshTokenExpiredError,
    RATE_LIMITED: RateLimitedError,
    SYMBOL_LIMIT: SymbolLimitError,
}


def error_for(code: int, message: str, status: int | None = None) -> FyersError:
    """The specific exception for a Fyers error code (or HTTP status), else a plain FyersError."""
    if status == 429:
        return RateLimitedError(code or RATE_LIMITED, message, status)
    if status is not None and status >= 500:
        return FyersServerError(code, message, status)
    cls = _BY_CODE.get(code, FyersError)
    return cls(code, message, status)


# --- what Fyers sent that cannot be read, the stored token, the shared request budget


class FrameError(TickpipeError, ValueError):
    """A malformed frame. The message says what is wrong and at which byte offset."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message if offset is None else f"{message} (at offset {offset})")
        self.offset = offset


class FeedFrameError(FrameError):
    """A malformed data frame. ``ticks`` holds the ticks of the blocks decoded before the fault."""

    def __init__(self, message: str, offset: int | None, ticks: list[dict[str, Any]]) -> None:
        super().__init__(message, offset)
        self.ticks = ticks


class SymbolError(TickpipeError, ValueError):
    """A symbol or fytoken that cannot be turned into a topic; the message says why."""


class TokenStoreError(TickpipeError):
    """The stored token cannot be read or written; the message names the parameter and why."""


class TokenNotFoundError(TokenStoreError):
    """No token stored yet: a user must log in once (docs/deploy.md, 'First token')."""


class DailyLimitError(TickpipeError, RuntimeError):
    """The app's requests for today are used up: stop now, resume after midnight IST."""
