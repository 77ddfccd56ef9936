"""Every file in sql/ runs locally (DuckDB over the moto server) and returns what the data says."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pytest

from consumers.lake.compact import CompactOptions, Compactor
from consumers.lake.errors import QueryError
from consumers.lake.query import render
from consumers.lake.schema import BARS, TICKS
from consumers.lake.store import LakeStore
from local.query import DDL_DIR, QUERY_DIR, LocalEngine, parse_ddl, query_file

DAY = "2026-11-26"
PREV = "2026-11-25"
OPEN = int(datetime(2026, 11, 26, 3, 45, tzinfo=UTC).timestamp())
ARRIVAL = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def lines(records) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


@pytest.fixture(scope="module")
def world(module_lake):
    """Two days of ticks (two symbols stop ticking on the second day) and a day of bars with gaps,
    compacted once for the module."""
    lake, raw, factory = module_lake
    syms = factory.symbols(14)
    prev = factory.ticks(syms, 8, start=OPEN - 86_400)
    today = factory.ticks(syms[:12], 25)
    bars = factory.bars(syms[:6], 12)
    holes = {(syms[1], OPEN + 300 * 3), (syms[1], OPEN + 300 * 4), (syms[4], OPEN + 300 * 9)}
    bars = [b for b in bars if (b["sym"], b["start"]) not in holes]
    raw.put("ticks", lines(prev), at=ARRIVAL.replace(day=25))
    raw.put("ticks", lines(today), at=ARRIVAL)
    raw.put("bars", lines(bars), at=ARRIVAL)
    for spec in (TICKS, BARS):
        Compactor(lake, spec, store=LakeStore(lake.bucket), options=CompactOptions(), today=date(2026, 11, 26)).run()
    return lake, {"syms": syms, "prev": prev, "today": today, "bars": bars}


@pytest.fixture(scope="module")
def data(world):
    return world[1]


@pytest.fixture(scope="module")
def engine(world):
    return LocalEngine(world[0])

def last_tick(ticks, sym):
    return max((t for t in ticks if t["sym"] == sym), key=lambda t: t["ts"])


def expect_daily_ohlcv(d):
    out = []
    for sym in sorted({b["sym"] for b in d["bars"]}):
        bs = sorted((b for b in d["bars"] if b["sym"] == sym), key=lambda b: b["start"])
        vol = sum(b["vol"] for b in bs)
        vwap = round(sum(b["vwap"] * b["vol"] for b in bs) / vol, 4)
        out.append((sym, bs[0]["o"], max(b["h"] for b in bs), min(b["l"] for b in bs), bs[-1]["c"], vol, vwap, len(bs)))
    return out


def expect_vwap(d):
    out = []
    for sym in sorted({b["sym"] for b in d["bars"]}):
        bs = [b for b in d["bars"] if b["sym"] == sym]
        vol = sum(b["vol"] for b in bs)
        bar_vwap = sum(b["vwap"] * b["vol"] for b in bs) / vol
        atp = last_tick(d["today"], sym)["atp"]
        out.append((sym, round(bar_vwap, 4), atp, round(100 * (bar_vwap - atp) / atp, 4), vol))
    return out


def expect_gaps(d):
    out = []
    for sym in sorted({b["sym"] for b in d["bars"]}):
        starts = sorted(b["start"] for b in d["bars"] if b["sym"] == sym)
        for a, b in zip(starts, starts[1:], strict=False):
            if b - a > 300:
                out.append((sym, a + 300, b, (b - a) // 300 - 1))
    return out


def expect_symbols_without_ticks(d):
    return [(s,) for s in sorted({t["sym"] for t in d["prev"]} - {t["sym"] for t in d["today"]})]


def expect_top_movers(d):
    rows = []
    for sym in sorted({t["sym"] for t in d["today"]}):
        t = last_tick(d["today"], sym)
        vol = max(x["vol"] for x in d["today"] if x["sym"] == sym)
        rows.append((abs(t["ltp"] - t["pc"]) / t["pc"], sym, t["ltp"], t["pc"], round(100 * (t["ltp"] - t["pc"]) / t["pc"], 2), vol))
    rows.sort(key=lambda r: (-r[0], r[1]))
    return [r[1:] for r in rows[:10]]


EXPECTED = {
    "daily_ohlcv": expect_daily_ohlcv,
    "vwap": expect_vwap,
    "gaps": expect_gaps,
    "symbols_without_ticks": expect_symbols_without_ticks,
    "top_movers": expect_top_movers,
}


def approx_rows(rows):
    return [tuple(pytest.approx(v, rel=1e-9) if isinstance(v, float) else v for v in r) for r in rows]


# Queries over the history tables are run in tests/history/test_reconcile.py.
HISTORY_QUERIES = {"candles_daily", "reconcile_causes", "final_bar_sources"}
HISTORY_DDL = ("candles_", "reconcile")


def test_every_query_file_has_an_expected_result():
    assert sorted(p.stem for p in QUERY_DIR.glob("*.sql") if p.stem not in HISTORY_QUERIES) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_query_returns_what_the_data_says(engine, data, name):
    result = query_file(engine, QUERY_DIR / f"{name}.sql", {"day": DAY})
    expected = EXPECTED[name](data)
    assert expected, f"the fixture gives {name} nothing to find"
    assert [tuple(r) for r in result.rows] == approx_rows(expected)


@pytest.mark.parametrize("path", [p for p in sorted(DDL_DIR.glob("*.sql")) if not p.stem.startswith(HISTORY_DDL)],
                         ids=lambda p: p.stem)
def test_every_ddl_file_runs_locally_and_matches_the_lake_schema(engine, path: Path):
    table = parse_ddl(path.read_text())
    spec = TICKS if "tick" in table.name else BARS
    assert [c for c, _ in table.columns] == spec.read_schema.names
    query_file(engine, path, {})  # creates (replaces) the view
    cols = [r[0] for r in engine.db.execute(f'DESCRIBE "{table.name}"').fetchall()]
    assert cols == spec.read_schema.names + table.partitions


def test_raw_and_curated_tables_agree_on_a_day_without_duplicates(engine, data):
    raw = engine.run(f"SELECT count(*) FROM raw_ticks WHERE dt = '{DAY}'").rows[0][0]
    curated = engine.run(f"SELECT count(*) FROM ticks WHERE dt = '{DAY}'").rows[0][0]
    assert raw == curated == len(data["today"])


def test_a_missing_parameter_is_named():
    with pytest.raises(QueryError, match="--param day="):
        render("SELECT 1 WHERE dt = '{{day}}'", {})


def test_a_parameter_cannot_inject_sql():
    with pytest.raises(QueryError, match="only letters"):
        render("SELECT 1 WHERE dt = '{{day}}'", {"day": "x' OR '1'='1"})


def test_query_cli_prints_a_table(world, capsys, monkeypatch):
    lake = world[0]
    import argparse

    from local import query_cli

    monkeypatch.setenv("TICKPIPE_ENV", lake.env)
    parser = argparse.ArgumentParser(prog="tickpipe")
    query_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["query", "daily_ohlcv", "--param", f"day={DAY}"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["sym", "open", "high", "low", "close", "volume", "vwap", "bars"]
    assert "(6 rows)" in out


@pytest.fixture
def listener(monkeypatch):
    """An 'AWS endpoint' that only counts connections: the query must not reach it."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{sock.getsockname()[1]}")
    monkeypatch.setenv("TICKPIPE_ENV", "dev")
    import boto3  # a client made now would send its requests there

    assert boto3.client("athena", region_name="ap-south-1").meta.endpoint_url.endswith(
        f":{sock.getsockname()[1]}")
    yield sock
    sock.close()


def connections(sock) -> int:
    n = 0
    while True:
        try:
            sock.accept()[0].close()
        except BlockingIOError:
            return n
        n += 1


@pytest.mark.parametrize(("argv", "says"), [
    (["nonesuch", "--engine", "athena"], "no query 'nonesuch'"),
    (["-e", "SELECT '{{sym}}'", "--engine", "athena"], "needs parameter 'sym'"),
    (["daily_ohlcv", "--param", "day=x' OR '1'='1", "--engine", "athena"], "only letters"),
    (["daily_ohlcv", "--param", "day=x' OR '1'='1"], "only letters"),
])
def test_query_checks_the_name_and_parameters_before_connecting(listener, capsys, argv, says):
    import argparse

    from local import query_cli

    parser = argparse.ArgumentParser(prog="tickpipe")
    query_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["query", *argv])
    assert args.func(args) == 2
    assert says in capsys.readouterr().err
    assert connections(listener) == 0
