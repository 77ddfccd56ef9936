"""sql/views/bars_5m_final.sql on DuckDB over small in-memory tables: which rows it takes from where,
and when it flags a live bar as one the exchange has no candle for."""

from __future__ import annotations

import duckdb
import pytest

from local.query import VIEW_DIR

DONE, TODAY = "2026-11-26", "2026-11-27"  # a reconciled day, and one with live bars only (not yet)
SBIN = "NSE:SBIN-EQ"


@pytest.fixture
def db():
    con = duckdb.connect()
    con.execute("CREATE TABLE candles_5m (sym VARCHAR, start BIGINT, res BIGINT, o DOUBLE, h DOUBLE, l DOUBLE, "
                "c DOUBLE, vol BIGINT, dt VARCHAR)")
    con.execute("CREATE TABLE bars_5m (sym VARCHAR, start BIGINT, o DOUBLE, h DOUBLE, l DOUBLE, c DOUBLE, "
                "vol BIGINT, dt VARCHAR)")
    con.execute(f"INSERT INTO candles_5m VALUES ('{SBIN}', 100, 5, 1, 2, 1, 2, 50, '{DONE}')")
    con.execute(f"INSERT INTO bars_5m VALUES ('{SBIN}', 100, 1, 2, 1, 1.5, 40, '{DONE}'), "
                f"('{SBIN}', 400, 2, 2, 2, 2, 7, '{DONE}'), ('{SBIN}', 900, 3, 3, 3, 3, 9, '{TODAY}')")
    con.execute((VIEW_DIR / "bars_5m_final.sql").read_text())
    return con


def rows(db, day):
    return db.execute(f"SELECT start, vol, source, live_without_candle FROM bars_5m_final WHERE dt = '{day}' "
                      "ORDER BY start").fetchall()


def test_a_reconciled_day_takes_the_candle_and_flags_a_live_bar_the_exchange_has_no_candle_for(db):
    assert rows(db, DONE) == [(100, 50, "candle", False), (400, 7, "live", True)]


def test_a_day_without_candles_yet_serves_its_live_bars_unflagged(db):
    """Nobody asked the exchange about this day yet: no candle is not 'the exchange has none'."""
    assert rows(db, TODAY) == [(900, 9, "live", False)]
