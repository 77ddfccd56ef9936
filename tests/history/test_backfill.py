"""Backfill: Fyers history (the simulator) into curated candles_1m/_5m/_1d on the moto server."""

from __future__ import annotations

import datetime as dt
import io

import pyarrow.parquet as pq
import pytest

from consumers.history.backfill import PREFIX, Backfill, BackfillRequest
from consumers.history.candles import CANDLES_1D, CANDLES_1M, CANDLES_5M, CandleWriter
from consumers.history.errors import BackfillError
from fyers.sim.instruments import KNOWN_EQUITIES, instrument
from fyers.sim.market import candles as trade_candles
from fyers.sim.market import generate
from market.session import CLOSE, NseCalendar, epoch, trading_date

from .conftest import AFTER, SIM_DAY, client

TWENTY = list(KNOWN_EQUITIES)[:20]
SBIN, TCS = "NSE:SBIN-EQ", "NSE:TCS-EQ"
MONTH = (dt.date(2026, 10, 28), dt.date(2026, 11, 27))
WEEK = (dt.date(2026, 11, 16), dt.date(2026, 11, 20))
ALL = ("1", "5", "15", "60", "D")


def request(symbols, first, last, resolutions=ALL) -> BackfillRequest:
    return BackfillRequest.make(symbols, first, last, resolutions, today=SIM_DAY)


def objects(store, prefix: str) -> dict[str, str]:
    return {o["Key"]: o["ETag"] for o in store.list(prefix)}


def table_rows(store, table, day: str) -> list[dict]:
    t = CandleWriter(store).read_day(table, day)
    return [] if t is None else t.to_pylist()


def test_a_month_of_20_symbols_at_every_resolution_lands_and_a_second_run_does_nothing(history_sim, store,
                                                                                       limiter_path):
    sim = history_sim(TWENTY)
    history = client(sim, limiter_path)
    first = Backfill(history, store, clock=lambda: AFTER).run(request(TWENTY, *MONTH))
    assert first.ok and first.failed == [] and first.pending == 0
    assert first.chunks == first.fetched == first.requests == first.marked == 20 * 5  # a month fits one request
    sessions = [s.day.isoformat() for s in NseCalendar().sessions(*MONTH)]
    for table in (CANDLES_1M, CANDLES_5M, CANDLES_1D):
        days = sorted(k.split("/")[2].removeprefix("dt=") for k in objects(store, table.prefix))
        assert days == sessions  # holidays and weekends have no partition
    # Every resolution agrees with the day's trades (an independent path: candles from every trade).
    day = dt.date(2026, 11, 12)
    truth = generate(instrument(SBIN), day, sim.config.seed, NseCalendar().session(day))
    rows = table_rows(store, CANDLES_5M, day.isoformat())
    for res in ("5", "15", "60"):
        got = [[r["start"], r["o"], r["h"], r["l"], r["c"], r["vol"]] for r in rows if r["sym"] == SBIN and r["res"] == int(res)]
        assert got == trade_candles(truth, res)
    daily = [r for r in table_rows(store, CANDLES_1D, day.isoformat()) if r["sym"] == SBIN]
    assert [[r["start"], r["o"], r["h"], r["l"], r["c"], r["vol"]] for r in daily] == trade_candles(truth, "D")
    assert daily[0]["day"] == day.isoformat() and daily[0]["src"] == "history"
    minutes = [r for r in table_rows(store, CANDLES_1M, day.isoformat()) if r["sym"] == SBIN]
    assert sum(r["vol"] for r in minutes) == daily[0]["vol"]

    before = objects(store, "")
    second = Backfill(history, store, clock=lambda: AFTER).run(request(TWENTY, *MONTH))
    assert second.already_done == second.chunks == 100
    assert second.requests == second.fetched == second.objects_written == 0
    assert objects(store, "") == before  # not one object rewritten


def test_candle_objects_are_sorted_deduplicated_zstd_parquet(history_sim, store, limiter_path):
    sim = history_sim([TCS, SBIN])
    history = client(sim, limiter_path)
    backfill = Backfill(history, store, clock=lambda: AFTER)
    backfill.run(request([TCS, SBIN], *WEEK, ["5", "15"]))
    for marker in objects(store, PREFIX):  # forget the progress: the same candles are fetched and merged again
        store.delete([marker])
    backfill.run(request([TCS, SBIN], *WEEK, ["5", "15"]))
    body = store.get(CANDLES_5M.key("2026-11-18"))
    meta = pq.ParquetFile(io.BytesIO(body)).metadata
    assert {meta.row_group(0).column(i).compression for i in range(meta.num_columns)} == {"ZSTD"}
    rows = pq.read_table(io.BytesIO(body)).to_pylist()
    keys = [(r["sym"], r["res"], r["start"]) for r in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys) == 2 * (75 + 25)
    assert {trading_date(r["start"]).isoformat() for r in rows} == {"2026-11-18"}


def test_an_interrupted_run_resumes_where_it_stopped(history_sim, store, limiter_path):
    syms = TWENTY[:6]
    sim = history_sim(syms)
    history = client(sim, limiter_path)
    seen = []

    def interrupt_after_seven(stage, done, total):
        seen.append(done)
        if done == 7:
            raise KeyboardInterrupt  # Ctrl-C after the 7th chunk arrived

    with pytest.raises(KeyboardInterrupt):
        Backfill(history, store, clock=lambda: AFTER, flush_symbols=4, progress=interrupt_after_seven).run(
            request(syms, *WEEK, ["5", "D"]))
    saved = len(objects(store, PREFIX))
    assert saved == 7  # what was fetched before the interrupt was written and recorded
    resumed = Backfill(history, store, clock=lambda: AFTER).run(request(syms, *WEEK, ["5", "D"]))
    assert resumed.already_done == 7 and resumed.requests == resumed.fetched == 12 - 7 and resumed.ok
    # The same lake as one uninterrupted run: every (sym, res) of every day once.
    rows = table_rows(store, CANDLES_5M, "2026-11-19")
    assert sorted({r["sym"] for r in rows}) == sorted(syms) and len(rows) == 6 * 75


def test_a_run_stopped_by_its_time_limit_continues_next_time(history_sim, store, limiter_path):
    sim = history_sim([SBIN, TCS])
    history = client(sim, limiter_path)
    calls = iter(range(100))
    stopped = Backfill(history, store, clock=lambda: AFTER, deadline=lambda: next(calls) >= 3).run(
        request([SBIN, TCS], *WEEK, ["1", "5", "D"]))
    assert stopped.fetched == 3 and stopped.pending == 3 and "time limit" in stopped.stopped and not stopped.ok
    rest = Backfill(history, store, clock=lambda: AFTER).run(request([SBIN, TCS], *WEEK, ["1", "5", "D"]))
    assert rest.already_done == 3 and rest.fetched == 3 and rest.pending == 0


def test_transient_errors_are_retried(history_sim, store, limiter_path):
    sim = history_sim([SBIN])
    history = client(sim, limiter_path)
    sim.faults.http_5xx(2, 503)
    sim.faults.rate_limit(1)
    report = Backfill(history, store, clock=lambda: AFTER).run(request([SBIN], *WEEK, ["5"]))
    assert report.ok and report.fetched == 1 and history.rest.retried == 3
    assert len(table_rows(store, CANDLES_5M, "2026-11-20")) == 75


def test_an_unknown_symbol_fails_its_chunks_and_the_others_land(history_sim, store, limiter_path):
    sim = history_sim([SBIN])
    report = Backfill(client(sim, limiter_path), store, clock=lambda: AFTER).run(
        request(["NSE:NOSUCH-EQ", SBIN], *WEEK, ["5"]))
    assert not report.ok and len(report.failed) == 1 and "NSE:NOSUCH-EQ" in report.failed[0]
    assert "Invalid symbol" in report.failed[0] and report.marked == 1 and report.pending == 1


def test_a_chunk_reaching_into_an_open_session_is_fetched_but_not_recorded(history_sim, store, limiter_path):
    sim = history_sim([SBIN])
    history = client(sim, limiter_path)
    during = epoch(SIM_DAY, dt.time(12, 0))
    report = Backfill(history, store, clock=lambda: during).run(request([SBIN], SIM_DAY, SIM_DAY, ["5"]))
    assert report.fetched == 1 and report.marked == 0 and report.pending == 1
    again = Backfill(history, store, clock=lambda: epoch(SIM_DAY, CLOSE) + 1800).run(
        request([SBIN], SIM_DAY, SIM_DAY, ["5"]))
    assert again.fetched == 1 and again.marked == 1


def test_chunks_stay_inside_the_history_api_range_caps():
    req = BackfillRequest.make([SBIN, TCS], dt.date(2025, 3, 1), dt.date(2025, 11, 6), ["1", "D"],
                               today=SIM_DAY)  # 251 days
    intraday = [c for c in req.chunks() if c.res == "1"]
    daily = [c for c in req.chunks() if c.res == "D"]
    assert len(intraday) == 2 * 3 and len(daily) == 2
    for c in req.chunks():
        start, end = c.range
        cap = 366 if c.res == "D" else 100
        assert end - start < cap * 86_400
    assert intraday[0].first == dt.date(2025, 3, 1) and intraday[-1].last == dt.date(2025, 11, 6)


@pytest.mark.parametrize(("args", "message"), [
    (([], dt.date(2026, 11, 2), dt.date(2026, 11, 6), ["5"]), "no symbols"),
    (([SBIN], dt.date(2026, 11, 6), dt.date(2026, 11, 2), ["5"]), "before --from"),
    (([SBIN], dt.date(2026, 12, 2), dt.date(2026, 12, 6), ["5"]), "in the future"),
    (([SBIN], dt.date(2026, 11, 2), dt.date(2026, 11, 6), ["7"]), "not served by Fyers"),
    (([SBIN], dt.date(2026, 11, 2), dt.date(2026, 11, 6), ["30"]), "no candle table"),
    ((["SBIN"], dt.date(2026, 11, 2), dt.date(2026, 11, 6), ["5"]), "not a Fyers symbol"),
])
def test_a_bad_request_is_refused_with_what_to_change(args, message):
    with pytest.raises(BackfillError, match=message):
        BackfillRequest.make(*args, today=SIM_DAY)


def test_a_range_ending_in_the_future_stops_today():
    req = BackfillRequest.make([SBIN], dt.date(2026, 11, 20), dt.date(2026, 12, 31), ["D"], today=SIM_DAY)
    assert req.last == SIM_DAY


def test_a_corrupt_day_object_is_reported_and_the_message_says_how_to_get_the_day_back(history_sim, store,
                                                                                     limiter_path):
    """The day's chunks already have markers, so deleting the object alone brings nothing back: the
    message names --force, and following it restores the day."""
    from consumers.history.errors import CandleTableError

    sim = history_sim([SBIN, TCS])
    day = WEEK[0].isoformat()
    Backfill(client(sim, limiter_path), store, clock=lambda: AFTER).run(request([SBIN], *WEEK, ["5"]))
    want = table_rows(store, CANDLES_5M, day)
    store.put(CANDLES_5M.key(day), b"not parquet")
    with pytest.raises(CandleTableError, match="--force") as err:
        Backfill(client(sim, limiter_path), store, clock=lambda: AFTER).run(request([TCS], *WEEK, ["5"]))
    assert "tickpipe backfill --from " + day in str(err.value)
    store.delete([CANDLES_5M.key(day)])
    Backfill(client(sim, limiter_path), store, clock=lambda: AFTER, force=True).run(
        BackfillRequest.make([SBIN, TCS], WEEK[0], WEEK[0], ["5"], today=SIM_DAY))
    got = table_rows(store, CANDLES_5M, day)
    assert [r for r in got if r["sym"] == SBIN] == want and {r["sym"] for r in got} == {SBIN, TCS}
