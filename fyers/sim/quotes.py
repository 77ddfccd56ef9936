"""The ``v`` object of one entry of ``GET /data/quotes``, from a quote's wire values.

Fyers API v3 (docs, "Market Data → Quotes"; the SDK's ``fyers.quotes({"symbols": "A,B"})``):
``GET /data/quotes?symbols=NSE:SBIN-EQ,NSE:TCS-EQ`` answers
``{"s": "ok", "code": 200, "d": [{"n": symbol, "s": "ok", "v": {...}}, ...]}`` for up to 50 symbols
a call; prices are rupees, ``tt`` the last update time (epoch s), ``ch``/``chp`` the change from the
previous close. The wire values are the socket's (FYERS.md field order), so the REST quote and the
socket agree at every instant.
"""

from __future__ import annotations

from typing import Any, Final

from fyers.sim.instruments import Instrument

MAX_QUOTE_SYMBOLS: Final = 50


def quote_fields(inst: Instrument, values: tuple[int, ...]) -> dict[str, Any]:
    """``values`` are scrip fields (21) or index fields (6) in FYERS.md order, as integers."""
    d = 10**inst.precision * inst.multiplier

    def p(x: int) -> float:
        return round(x / d, inst.precision)

    if inst.kind == "index":
        ltp, pc, feed_time, high, low, open_ = values
        bid = ask = 0
        volume = 0
        atp = ltp
    else:
        ltp, volume, _ltt, feed_time, _bq, _aq, bid, ask = values[:8]
        atp, low, high, open_, pc = values[11], values[13], values[14], values[19], values[20]
    ch = p(ltp) - p(pc)
    exchange, short_name = inst.symbol.split(":", 1)
    return {
        "ch": round(ch, inst.precision),
        "chp": round(100 * ch / p(pc), 2) if pc else 0.0,
        "lp": p(ltp),
        "spread": round(p(ask) - p(bid), inst.precision) if bid and ask else 0.0,
        "ask": p(ask),
        "bid": p(bid),
        "open_price": p(open_),
        "high_price": p(high),
        "low_price": p(low),
        "prev_close_price": p(pc),
        "atp": p(atp),
        "volume": int(volume),
        "short_name": short_name,
        "exchange": exchange,
        "description": inst.symbol,
        "original_name": inst.symbol,
        "symbol": inst.symbol,
        "fyToken": inst.fytoken,
        "tt": str(int(feed_time)),
    }
