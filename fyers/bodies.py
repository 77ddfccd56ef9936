"""The JSON bodies of the Fyers REST answers the client reads, as msgspec structs (FYERS.md).

:class:`fyers.rest.RestClient` checks the envelope every answer shares (``s``, ``code``,
``message``) and hands back the body as a dict; each client converts it here into the struct of its
endpoint, so a body of the wrong shape is one clear error at the boundary instead of a
``TypeError`` somewhere after it. Fields the client does not read are not declared (msgspec skips
unknown fields); every declared field has a default, so an absent one is the caller's to report with
its own message. Conversion is lax (``strict=False``): a number sent as a numeric string is taken,
as ``int()``/``float()`` took it before.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

T = TypeVar("T")


class TokenBody(msgspec.Struct):
    """``POST /api/v3/validate-authcode`` (both tokens) and ``/api/v3/validate-refresh-token``
    (``access_token`` only)."""

    access_token: str | None = None
    refresh_token: str | None = None


class SymbolTokenBody(msgspec.Struct):
    """``POST /data/symbol-token``: ``validSymbol`` maps each known symbol to its fytoken (a string;
    an integer or a null is taken too, as a fytoken and as "not known")."""

    valid_symbol: dict[str, str | int | None] | None = msgspec.field(default=None, name="validSymbol")


# One candle of ``GET /data/history`` (``date_format=0``): epoch s, open, high, low, close, volume.
# Volume is a whole number (a float is taken when it is one: 10.0, not 10.5, nor infinity).
CandleRow = tuple[int, float, float, float, float, int]


class HistoryBody(msgspec.Struct):
    """``GET /data/history``: the candles, oldest first (absent or null on ``s: no_data``)."""

    candles: list[CandleRow] | None = None


def convert(body: Any, kind: type[T]) -> T:
    """``body`` (decoded JSON) as ``kind``; raises :class:`msgspec.ValidationError` naming the path
    of the first value of the wrong type (``Expected `str`, got `int` - at `$.access_token```)."""
    return msgspec.convert(body, kind, strict=False)
