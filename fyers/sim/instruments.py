"""The simulated instrument universe: symbol → fytoken, topic, kind and price parameters.

Known names carry their real NSE/BSE exchange tokens so topics look like the real ones
(``sf|nse_cm|3045`` for SBIN); any other well-formed symbol gets a stable token and price from a
hash of its name, so a test can simulate whatever universe it needs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Final

from fyers.symbols import INDEX_NAMES, SEGMENTS, is_index, topic_for

# Symbol → (exchange token, previous close in rupees). Prices are rough levels, not quotes.
KNOWN_EQUITIES: Final[dict[str, tuple[str, float]]] = {
    "NSE:SBIN-EQ": ("3045", 812.40),
    "NSE:RELIANCE-EQ": ("2885", 1295.35),
    "NSE:TCS-EQ": ("11536", 3487.10),
    "NSE:INFY-EQ": ("1594", 1612.55),
    "NSE:HDFCBANK-EQ": ("1333", 1702.80),
    "NSE:ICICIBANK-EQ": ("4963", 1268.45),
    "NSE:ITC-EQ": ("1660", 468.20),
    "NSE:LT-EQ": ("11483", 3598.00),
    "NSE:AXISBANK-EQ": ("5900", 1141.65),
    "NSE:KOTAKBANK-EQ": ("1922", 1755.30),
    "NSE:BHARTIARTL-EQ": ("10604", 1598.90),
    "NSE:HINDUNILVR-EQ": ("1394", 2384.15),
    "NSE:BAJFINANCE-EQ": ("317", 6890.50),
    "NSE:MARUTI-EQ": ("10999", 11120.00),
    "NSE:ASIANPAINT-EQ": ("236", 2431.75),
    "NSE:TATASTEEL-EQ": ("3499", 142.35),
    "NSE:SUNPHARMA-EQ": ("3351", 1795.60),
    "NSE:WIPRO-EQ": ("3787", 291.85),
    "NSE:HCLTECH-EQ": ("7229", 1842.10),
    "NSE:NTPC-EQ": ("11630", 362.70),
    "NSE:ONGC-EQ": ("2475", 251.40),
    "NSE:TITAN-EQ": ("3506", 3321.25),
}
KNOWN_INDICES: Final[dict[str, tuple[str, float]]] = {
    "NSE:NIFTY50-INDEX": ("26000", 24310.45),
    "NSE:NIFTYBANK-INDEX": ("26009", 52190.80),
    "BSE:SENSEX-INDEX": ("1", 80110.25),
}
# Front-month NIFTY future: exchange token and price level (its name depends on the day).
NIFTY_FUTURE: Final = ("52212", 24380.00)

EXCHANGE_SEGMENT: Final[dict[tuple[str, str], str]] = {
    ("NSE", "cm"): "1010", ("NSE", "fo"): "1011", ("BSE", "cm"): "1210", ("BSE", "fo"): "1211",
    ("MCX", "fo"): "1120",
}
SEGMENT_CODE: Final[dict[str, str]] = {name: code for code, name in SEGMENTS.items()}
PRECISION: Final = 2
TICK_PAISE: Final = 5  # NSE/BSE tick size 0.05 in units of 10**-PRECISION
MONTHS: Final = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


class UnknownSymbolError(ValueError):
    """A symbol the simulator cannot model (not ``EXCHANGE:NAME-SERIES`` or an index it has no name for)."""


@dataclass(frozen=True)
class Instrument:
    symbol: str
    kind: str  # "equity", "index" or "future"
    segment: str  # fytoken prefix, e.g. "1010"
    token: str  # exchange token
    prev_close: int  # in units of 10**-precision (paise)
    precision: int = PRECISION
    multiplier: int = 1

    @property
    def exchange(self) -> str:
        return self.symbol.split(":", 1)[0]

    @property
    def fytoken(self) -> str:
        # Segment (4) + 6 digits + exchange token: the token starts at position 10 (FYERS.md).
        return f"{self.segment}000000{self.token}"

    @property
    def topic(self) -> str:
        return topic_for(self.symbol, self.fytoken)

    @property
    def name(self) -> str:
        """The symbol without its exchange, as the snapshot block carries it."""
        return self.symbol.split(":", 1)[1]


def nifty_future_symbol(day: dt.date) -> str:
    """The front-month NIFTY future's symbol on ``day``, e.g. ``NSE:NIFTY25DECFUT``."""
    return f"NSE:NIFTY{day:%y}{MONTHS[day.month - 1]}FUT"


def default_symbols(day: dt.date) -> list[str]:
    """About 20 NSE equities, two NSE indices and the NIFTY future with open interest."""
    equities = list(KNOWN_EQUITIES)[:20]
    return equities + ["NSE:NIFTY50-INDEX", "NSE:NIFTYBANK-INDEX", nifty_future_symbol(day)]


def _hash_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _to_paise(rupees: float) -> int:
    paise = round(rupees * 10**PRECISION)
    return paise - paise % TICK_PAISE


def instrument(symbol: str) -> Instrument:
    """The instrument for ``symbol``. Raises :class:`UnknownSymbolError` for names it cannot model."""
    exchange, sep, rest = symbol.partition(":")
    if not sep or not exchange.isalpha() or not exchange.isupper() or not rest:
        raise UnknownSymbolError(f"{symbol!r} is not a Fyers symbol like 'NSE:SBIN-EQ'")
    if is_index(symbol):
        if symbol not in INDEX_NAMES:
            raise UnknownSymbolError(f"{symbol!r}: no Fyers index name known for it")
        token, close = KNOWN_INDICES.get(symbol, (str(26100 + _hash_int(symbol) % 800), 0.0))
        close = close or 5000 + _hash_int(symbol + "/p") % 40000
        segment = EXCHANGE_SEGMENT.get((exchange, "cm"))
        kind = "index"
    elif rest.endswith("FUT"):
        segment = EXCHANGE_SEGMENT.get((exchange, "fo"))
        token, close = NIFTY_FUTURE if rest.startswith("NIFTY") and len(rest) == 13 else (
            str(40000 + _hash_int(symbol) % 20000), 100 + _hash_int(symbol + "/p") % 5000)
        kind = "future"
    elif "-" in rest:
        segment = EXCHANGE_SEGMENT.get((exchange, "cm"))
        token, close = KNOWN_EQUITIES.get(symbol, (str(20000 + _hash_int(symbol) % 900000), 0.0))
        close = close or 50 + (_hash_int(symbol + "/p") % 300000) / 100
        kind = "equity"
    else:
        raise UnknownSymbolError(f"{symbol!r}: expected a series suffix such as '-EQ', '-INDEX' or 'FUT'")
    if segment is None:
        raise UnknownSymbolError(f"{symbol!r}: exchange {exchange!r} is not simulated (NSE, BSE, MCX futures)")
    return Instrument(symbol, kind, segment, token, _to_paise(close))
