"""Fyers symbols → data-socket topics.

``NSE:SBIN-EQ`` resolves (through the symbol-token endpoint) to a *fytoken* such as
``10100000003045``: its first 4 digits name the exchange segment and the digits from position 10 on
are the exchange token, giving the scrip topic ``sf|nse_cm|3045``. Indices subscribe by name
(``if|nse_cm|Nifty 50``) from :data:`INDEX_NAMES`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from fyers.bodies import SymbolTokenBody, convert
from fyers.errors import SymbolError
from fyers.rest import RestClient

log = logging.getLogger(__name__)

# fytoken prefix → segment name used in topics (FYERS.md).
SEGMENTS: Final[dict[str, str]] = {
    "1010": "nse_cm",
    "1011": "nse_fo",
    "1012": "cde_fo",
    "1020": "nse_com",
    "1120": "mcx_fo",
    "1210": "bse_cm",
    "1211": "bse_fo",
    "1212": "bcs_fo",
}

# Fyers index symbol → the index name its socket topic carries.
INDEX_NAMES: Final[dict[str, str]] = {
    "NSE:NIFTY50-INDEX": "Nifty 50",
    "NSE:NIFTYBANK-INDEX": "Nifty Bank",
    "NSE:FINNIFTY-INDEX": "Nifty Fin Service",
    "NSE:MIDCPNIFTY-INDEX": "NIFTY MID SELECT",
    "NSE:NIFTYNXT50-INDEX": "Nifty Next 50",
    "NSE:INDIAVIX-INDEX": "India VIX",
    "NSE:NIFTY100-INDEX": "Nifty 100",
    "NSE:NIFTY200-INDEX": "Nifty 200",
    "NSE:NIFTY500-INDEX": "Nifty 500",
    "NSE:NIFTYMIDCAP50-INDEX": "Nifty Midcap 50",
    "NSE:NIFTYMIDCAP100-INDEX": "NIFTY MIDCAP 100",
    "NSE:NIFTYSMLCAP100-INDEX": "NIFTY SMLCAP 100",
    "NSE:NIFTYIT-INDEX": "Nifty IT",
    "NSE:NIFTYAUTO-INDEX": "Nifty Auto",
    "NSE:NIFTYPHARMA-INDEX": "Nifty Pharma",
    "NSE:NIFTYFMCG-INDEX": "Nifty FMCG",
    "NSE:NIFTYMETAL-INDEX": "Nifty Metal",
    "NSE:NIFTYREALTY-INDEX": "Nifty Realty",
    "NSE:NIFTYENERGY-INDEX": "Nifty Energy",
    "NSE:NIFTYMEDIA-INDEX": "Nifty Media",
    "NSE:NIFTYPSUBANK-INDEX": "Nifty PSU Bank",
    "NSE:NIFTYPVTBANK-INDEX": "Nifty Pvt Bank",
    "NSE:NIFTYINFRA-INDEX": "Nifty Infra",
    "NSE:NIFTYCPSE-INDEX": "Nifty CPSE",
    "BSE:SENSEX-INDEX": "SENSEX",
    "BSE:BANKEX-INDEX": "BANKEX",
    "BSE:BSE100-INDEX": "BSE100",
    "BSE:BSE500-INDEX": "BSE500",
    "BSE:SENSEX50-INDEX": "SNSX50",
}

INDEX_SUFFIX: Final = "-INDEX"
MAX_SYMBOLS_PER_REQUEST: Final = 500  # the symbol-token endpoint's batch size
EXCHANGE_TOKEN_OFFSET: Final = 10


def is_index(symbol: str) -> bool:
    return symbol.endswith(INDEX_SUFFIX)


def topic_for(symbol: str, fytoken: str, depth: bool = False) -> str:
    """The socket topic for ``symbol`` with ``fytoken``: ``sf|…`` (scrip), ``if|…`` (index), ``dp|…`` (depth)."""
    segment = SEGMENTS.get(fytoken[:4])
    if segment is None or len(fytoken) <= EXCHANGE_TOKEN_OFFSET:
        raise SymbolError(f"{symbol}: fytoken {fytoken!r} has no known segment prefix ({', '.join(SEGMENTS)})")
    if is_index(symbol):
        if depth:
            raise SymbolError(f"{symbol}: an index has no market depth")
        name = INDEX_NAMES.get(symbol)
        if name is None:
            raise SymbolError(f"{symbol}: index not in fyers.symbols.INDEX_NAMES; add its Fyers index name")
        return f"if|{segment}|{name}"
    return f"{'dp' if depth else 'sf'}|{segment}|{fytoken[EXCHANGE_TOKEN_OFFSET:]}"


@dataclass
class Resolution:
    """The outcome of resolving symbols: topics for the good ones, the rest by name and reason."""

    topics: dict[str, str] = field(default_factory=dict)  # symbol → socket topic
    fytokens: dict[str, str] = field(default_factory=dict)  # symbol → fytoken
    unknown: list[str] = field(default_factory=list)  # Fyers does not know them
    unmappable: dict[str, str] = field(default_factory=dict)  # known, but no topic (reason)


def fytokens_from_body(body: Any) -> dict[str, str | int | None]:
    """``validSymbol`` of an ok answer of symbol-token (absent: no symbol is known). Raises
    :class:`SymbolError` when it is not an object of symbol → fytoken."""
    try:
        return convert(body, SymbolTokenBody).valid_symbol or {}
    except msgspec.ValidationError as exc:
        got = body.get("validSymbol") if isinstance(body, dict) else body
        raise SymbolError(f"symbol-token answered validSymbol={got!r}, expected an object of symbol → "
                          f"fytoken ({exc})") from None


class SymbolClient:
    """Resolves symbols through ``POST /data/symbol-token`` in batches of 500."""

    PATH: Final = "/data/symbol-token"

    def __init__(self, rest: RestClient, access_token: Callable[[], str]) -> None:
        self.rest = rest
        self._access_token = access_token

    def fytokens(self, symbols: Sequence[str]) -> tuple[dict[str, str], list[str]]:
        """(symbol → fytoken for valid symbols, invalid symbols), in input order."""
        wanted = list(dict.fromkeys(symbols))
        valid: dict[str, str] = {}
        invalid: list[str] = []
        for start in range(0, len(wanted), MAX_SYMBOLS_PER_REQUEST):
            batch = wanted[start : start + MAX_SYMBOLS_PER_REQUEST]
            # The SDK sends the bare access token on this call (FYERS.md, observed).
            body = self.rest.request("POST", self.PATH, json={"symbols": batch},
                                     headers={"Authorization": self._access_token()})
            got = fytokens_from_body(body)
            for symbol in batch:
                fytoken = got.get(symbol)
                if fytoken is not None and str(fytoken):
                    valid[symbol] = str(fytoken)
                else:
                    invalid.append(symbol)
        return valid, invalid

    def resolve(self, symbols: Sequence[str], depth: bool = False) -> Resolution:
        """Topics for ``symbols``; unknown or unmappable ones are reported by name and the rest go on."""
        valid, invalid = self.fytokens(symbols)
        out = Resolution(fytokens=valid, unknown=invalid)
        for symbol, fytoken in valid.items():
            try:
                out.topics[symbol] = topic_for(symbol, fytoken, depth)
            except SymbolError as exc:
                out.unmappable[symbol] = str(exc)
        if out.unknown or out.unmappable:
            log.warning("%d unknown symbols (%s); %d without a topic (%s)", len(out.unknown),
                        ", ".join(out.unknown[:10]), len(out.unmappable), "; ".join(list(out.unmappable.values())[:5]))
        return out

    def topics(self, symbols: Sequence[str]) -> dict[str, str]:
        """symbol → topic for the symbols that resolve (DataSocket's ``resolve_topics``)."""
        return self.resolve(symbols).topics
