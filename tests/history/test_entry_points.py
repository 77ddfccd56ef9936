"""`tickpipe backfill`, `tickpipe reconcile` and the two Lambda handlers running the same code."""

from __future__ import annotations

import datetime as dt
import io

import boto3
import pyarrow.parquet as pq
import pytest

from consumers.history import backfill as backfill_mod
from consumers.history import reconcile as reconcile_mod
from consumers.history.candles import CANDLES_5M, CandleWriter
from consumers.history.errors import BackfillError, ReconcileIncompleteError
from fyers.auth import Tokens
from fyers.token_store import FyersToken
from local.demo import store_credentials
from market.session import epoch
from tickpipe import names
from tickpipe.cli import main

SBIN, TCS = "NSE:SBIN-EQ", "NSE:TCS-EQ"


@pytest.fixture(autouse=True)
def own_limiter(tmp_path, monkeypatch):
    monkeypatch.setenv("TICKPIPE_FYERS_LIMITER", str(tmp_path / "fyers-requests.json"))


def test_backfill_command_from_the_simulator_then_nothing_to_do(tmp_path, capsys):
    args = ["backfill", "--sim", "--lake-dir", str(tmp_path / "lake"), "--symbols", f"{SBIN},{TCS}",
            "--from", "2026-11-16", "--to", "2026-11-20", "--resolution", "5,D"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "4 chunks: 0 already done, 4 fetched (4 requests" in out and "0 failed, 0 pending" in out
    assert (tmp_path / "lake" / "curated" / "candles_5m" / "dt=2026-11-18" / "candles.parquet").exists()
    assert main(args) == 0
    assert "4 chunks: 4 already done, 0 fetched (0 requests" in capsys.readouterr().out


def test_backfill_command_explains_a_bad_range_on_stderr(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["backfill", "--sim", "--lake-dir", str(tmp_path), "--symbols", SBIN, "--from", "2026-11-20",
              "--to", "2026-11-16"])
    out = capsys.readouterr()
    assert exc.value.code == 2 and "before --from" in out.err and not out.out


def test_backfill_command_without_symbols_or_a_universe_is_a_usage_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TICKPIPE_SYMBOLS", raising=False)
    with pytest.raises(SystemExit) as exc:
        main(["backfill", "--lake-dir", str(tmp_path), "--from", "2026-11-16", "--to", "2026-11-20"])
    out = capsys.readouterr()
    assert exc.value.code == 2 and "set TICKPIPE_SYMBOLS" in out.err and not out.out


def test_backfill_command_refuses_an_unknown_resolution(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["backfill", "--resolution", "7"])
    assert exc.value.code == 2 and "1|5|15|60|D" in capsys.readouterr().err


def test_backfill_help_states_fyers_limits_from_the_clients_own_figures(capsys):
    with pytest.raises(SystemExit):
        main(["backfill", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(100 days a request intraday, 366 daily; 10/s, 200/min, 100,000/day shared" in text


def test_backfill_help_names_the_limiters_variable(capsys):
    with pytest.raises(SystemExit):
        main(["backfill", "--help"])
    assert "TICKPIPE_FYERS_LIMITER" in capsys.readouterr().out


def test_backfill_command_with_a_limiter_path_that_is_a_directory_says_so_and_writes_nothing(tmp_path, capsys,
                                                                                             monkeypatch):
    monkeypatch.setenv("TICKPIPE_FYERS_LIMITER", str(tmp_path))
    assert main(["backfill", "--sim", "--lake-dir", str(tmp_path / "lake"), "--symbols", SBIN,
                 "--from", "2026-11-16", "--to", "2026-11-20", "--resolution", "D"]) == 2  # a usage error
    err = capsys.readouterr().err
    assert f"TICKPIPE_FYERS_LIMITER={str(tmp_path)!r} cannot hold" in err and "Is a directory" in err
    assert not (tmp_path / "lake").exists()


class Context:
    def __init__(self, millis: int) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


@pytest.fixture
def deployed_sim(history_sim, settings, monkeypatch):
    """SSM credentials as Terraform and the token service lay them out, the handlers' environment;
    yields the simulator the deployment talks to."""
    sim = history_sim([SBIN, TCS])
    monkeypatch.setenv("TICKPIPE_FYERS_API_URL", sim.api_url)
    monkeypatch.setenv("TICKPIPE_ENV", settings.env)
    monkeypatch.setenv("TICKPIPE_REGION", settings.region)
    store_credentials(settings.__class__.from_env(), sim, fresh_token(sim))
    return sim


@pytest.fixture
def deployed(deployed_sim, settings):
    return settings


def fresh_token(sim) -> FyersToken:
    issued = sim.issue_tokens()
    return FyersToken.from_tokens(Tokens(issued["access_token"], issued["refresh_token"], 2_000_000_000))


def test_backfill_lambda_runs_the_same_job(deployed, store):
    event = {"symbols": [SBIN, TCS], "from": "2026-11-16", "to": "2026-11-20", "resolutions": ["5"]}
    report = backfill_mod.handler(event, Context(600_000))
    assert report["fetched"] == report["marked"] == 2 and report["failed"] == [] and report["stopped"] == ""
    rows = CandleWriter(store).read_day(CANDLES_5M, "2026-11-17").to_pylist()
    assert {r["sym"] for r in rows} == {SBIN, TCS} and len(rows) == 150
    again = backfill_mod.handler(event, Context(600_000))
    assert again["already_done"] == 2 and again["requests"] == 0


def test_backfill_lambda_stops_before_its_timeout(deployed):
    report = backfill_mod.handler({"symbols": [SBIN], "from": "2026-11-16", "to": "2026-11-20"}, Context(30_000))
    assert report["fetched"] == 0 and report["pending"] == 5 and "time limit" in report["stopped"]


@pytest.mark.parametrize("event", [{}, {"symbols": [SBIN], "from": "16/11/2026", "to": "2026-11-20"}])
def test_backfill_lambda_needs_its_dates(deployed, event):
    with pytest.raises(BackfillError, match="yyyy-MM-dd"):
        backfill_mod.handler(event, Context(600_000))


def test_reconcile_lambda_reconciles_a_given_day(deployed, store):
    out = reconcile_mod.handler({"day": "2026-11-18", "symbols": [SBIN]}, Context(600_000))
    # No live bars that day: every exchange candle is a missing bar (no gap record explains it).
    assert out["summary"]["candles"] == 75 and out["summary"]["missing_bars"] == 75
    assert store.get(reconcile_mod.summary_key("2026-11-18"))


def test_reconcile_lambda_skips_a_day_without_a_session(deployed, monkeypatch):
    monkeypatch.setattr(reconcile_mod.time, "time", lambda: dt.datetime(2026, 11, 21, 12, 0).timestamp())  # Saturday
    assert reconcile_mod.handler({}, None)["skipped"] == "not a trading day"


def test_reconcile_command_reports_the_day(deployed, capsys):
    settings = deployed
    assert main(["reconcile", "--day", "2026-11-18", "--symbols", TCS]) == 0
    out = capsys.readouterr().out
    assert "reconcile 2026-11-18: 1 symbols, 75 candles, 0 bars" in out and "75 missing" in out
    assert boto3.client("s3", region_name=settings.region).list_objects_v2(
        Bucket=settings.bucket, Prefix="curated/reconcile_daily/dt=2026-11-18/")["KeyCount"] == 1




def whole_day_gap(store, day: str, sym: str) -> None:
    """A gap record covering ``sym``'s whole session of ``day``: the day has something to reconcile."""
    d = dt.date.fromisoformat(day)
    gap = {"symbols": [sym], "from": epoch(d, dt.time(9, 15)), "to": epoch(d, dt.time(15, 30)),
           "reason": "disconnect", "pid": "dev-producer", "recorded": epoch(d, dt.time(15, 30)), "v": 1}
    store.put_json(f"{names.partition(names.GAPS, day)}dev-producer-{gap['from']}-disconnect-0.json", gap)


def reconcile_rows(store, day: str) -> list[dict]:
    return pq.read_table(io.BytesIO(store.get(reconcile_mod.diff_key(day)))).to_pylist()


def test_reconcile_lambda_reports_a_universe_symbol_without_bars_or_gaps_as_missing(deployed, store, tmp_path,
                                                                                    monkeypatch):
    """TCS is in the configured universe but has no bar and no gap record that day: its candles are
    all missing bars, counted in the summary (and so in the ReconcileMissingBars alarm)."""
    universe = tmp_path / "symbols.txt"
    universe.write_text(f"{SBIN}\n{TCS}\n")
    monkeypatch.setenv("TICKPIPE_SYMBOLS", str(universe))
    whole_day_gap(store, "2026-11-18", SBIN)
    out = reconcile_mod.handler({"day": "2026-11-18"}, Context(600_000))
    s = out["summary"]
    assert (s["symbols"], s["candles"], s["missing_bars"], s["gap_bars"]) == (2, 150, 75, 75)
    tcs = [r for r in reconcile_rows(store, "2026-11-18") if r["sym"] == TCS]
    assert len(tcs) == 75 and {(r["status"], r["cause"]) for r in tcs} == {("missing_bar", "missing_bar")}


def test_reconcile_command_checks_the_universe_in_s3(deployed, store, capsys, monkeypatch):
    settings = deployed
    store.put("state/symbols/main.txt", f"{TCS}\n".encode())
    monkeypatch.setenv("TICKPIPE_SYMBOLS", f"s3://{settings.bucket}/state/symbols/main.txt")
    whole_day_gap(store, "2026-11-18", SBIN)
    assert main(["reconcile", "--day", "2026-11-18"]) == 0
    assert "2 symbols, 150 candles, 0 bars" in capsys.readouterr().out
    assert {r["sym"] for r in reconcile_rows(store, "2026-11-18") if r["cause"] == "missing_bar"} == {TCS}


def test_reconcile_stops_without_writing_when_the_candles_are_incomplete(deployed, store):
    with pytest.raises(ReconcileIncompleteError, match="run it again"):
        reconcile_mod.handler({"day": "2026-11-18", "symbols": [SBIN, TCS]}, Context(30_000))
    assert not list(store.list("curated/reconcile"))
    out = reconcile_mod.handler({"day": "2026-11-18", "symbols": [SBIN, TCS]}, Context(600_000))
    assert out["summary"]["candles"] == 150


def test_a_token_refreshed_in_ssm_during_a_run_is_picked_up(deployed_sim, settings, store):
    from consumers.history.client import history_client
    from fyers.token_store import TokenStore

    history = history_client(settings.__class__.from_env())
    history.access_token_source()  # the run has read the token ...
    deployed_sim.faults.expire_tokens()  # ... Fyers expires it, and the token service stores a new one
    TokenStore(boto3.client("ssm", region_name=settings.region), settings.ssm_prefix).save(fresh_token(deployed_sim))
    req = backfill_mod.BackfillRequest.make([SBIN], dt.date(2026, 11, 16), dt.date(2026, 11, 16), ["5"],
                                            today=dt.date(2026, 11, 27))
    report = backfill_mod.Backfill(history, store).run(req)
    assert report.ok and report.fetched == 1 and report.requests == 2  # refused once, then the new token


def test_a_refused_token_with_no_new_one_stops_the_run(history_sim, store, tmp_path):
    from .conftest import AFTER, client

    sim = history_sim([SBIN])
    history = client(sim, str(tmp_path / "lim.json"))
    sim.faults.expire_tokens()
    req = backfill_mod.BackfillRequest.make([SBIN, TCS], dt.date(2026, 11, 16), dt.date(2026, 11, 16), ["5"],
                                            today=dt.date(2026, 11, 27))
    report = backfill_mod.Backfill(history, store, clock=lambda: AFTER).run(req)
    assert "token was refused" in report.stopped and report.fetched == 0 and report.pending == 2
