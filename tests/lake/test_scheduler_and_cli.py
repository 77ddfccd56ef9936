"""The local EventBridge stand-in, and `tickpipe compact` end to end on the moto server."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import orjson

from consumers.lake import compact_cli
from consumers.lake.compact import handler
from local.scheduler import Scheduler, scheduled_event


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_job_runs_at_its_rate_with_a_scheduled_event():
    clock, seen = Clock(), []
    sched = Scheduler(clock=clock)
    sched.every(60, "compact", lambda event, ctx: seen.append(event))
    assert sched.run_pending() == 0
    clock.now = 61
    assert sched.run_pending() == 1 and sched.run_pending() == 0
    clock.now = 125
    sched.run_pending()
    assert len(seen) == 2
    assert seen[0]["detail-type"] == "Scheduled Event" and seen[0]["source"] == "aws.events"


def test_a_failing_run_is_counted_and_the_schedule_goes_on():
    clock = Clock()
    sched = Scheduler(clock=clock)

    def boom(event, ctx):
        raise RuntimeError("lake unavailable")

    job = sched.every(10, "compact", boom)
    for t in (11, 22, 33):
        clock.now = t
        sched.run_pending()
    assert job.runs == 3 and job.failures == 3


def test_the_handler_takes_the_scheduled_event_and_compacts(lake, raw, factory, monkeypatch, capsys):
    monkeypatch.setenv("TICKPIPE_ENV", lake.env)
    now = datetime.now(UTC)
    ticks = factory.ticks(factory.symbols(2), 5, start=int(now.timestamp()) - 600)
    raw.put("ticks", b"".join(orjson.dumps(t) + b"\n" for t in ticks), at=now)
    result = handler(scheduled_event("compact"), None)
    by_table = {r["table"]: r for r in result["tables"]}
    assert by_table["ticks"]["rows_out"] == len(ticks) and by_table["bars_5m"]["raw_objects_new"] == 0
    emf = [orjson.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    rows = {m["table"]: m["RowsCompacted"] for m in emf if "RowsCompacted" in m}
    assert rows == {"ticks": [float(len(ticks))], "bars_5m": [0.0]}


def test_the_handler_summary_reaches_a_root_logger_at_warning_as_in_lambda(lake, monkeypatch):
    import logging

    # the Python runtime's setup: one handler on the root logger, level WARNING (text log format)
    records: list[logging.LogRecord] = []
    handler_ = logging.Handler()
    handler_.emit = records.append
    root = logging.getLogger()
    monkeypatch.setattr(root, "level", logging.WARNING)
    monkeypatch.setattr(root, "handlers", [handler_])
    monkeypatch.setattr(logging.getLogger("consumers.lake.compact"), "level", logging.NOTSET)
    monkeypatch.setenv("TICKPIPE_ENV", lake.env)
    handler(scheduled_event("compact"), None)
    assert any(r.getMessage().startswith("compaction: ") for r in records)


def test_a_scheduled_run_while_another_compaction_works_is_skipped_not_failed(lake, monkeypatch):
    import boto3

    from consumers.lake.lease import lease

    monkeypatch.setenv("TICKPIPE_ENV", lake.env)
    with lease(boto3.client("s3"), lake.bucket, owner="manual-run"):
        result = handler(scheduled_event("compact"), None)
    assert result["tables"] == [] and "manual-run" in result["skipped"]


def test_compact_cli_reports_what_it_did(lake, raw, factory, monkeypatch, capsys):
    monkeypatch.setenv("TICKPIPE_ENV", lake.env)
    now = datetime.now(UTC)
    bars = factory.bars(factory.symbols(3), 2, start=int(now.timestamp()) // 300 * 300 - 900)
    raw.put("bars", b"".join(orjson.dumps(b) + b"\n" for b in bars), at=now)
    parser = argparse.ArgumentParser(prog="tickpipe")
    compact_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["compact", "--table", "bars_5m"])
    assert args.func(args) == 0
    captured = capsys.readouterr()
    assert f"bars_5m: 1 new of 1 raw objects, {len(bars)} rows in" in captured.out
    assert "read bars_5m" in captured.err  # the progress display


def test_compact_cli_refuses_a_negative_lookback_and_a_zero_file_size(capsys):
    import pytest

    parser = argparse.ArgumentParser()
    compact_cli.add_parser(parser.add_subparsers())
    for bad in (["compact", "--lookback-days", "-5"], ["compact", "--target-mb", "0"]):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(bad)
        assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--lookback-days: must be >= 0" in err and "--target-mb: must be >= 1" in err


class Terminal:
    """A stream that says it is a terminal, as stderr is in an interactive shell."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, s: str) -> None:
        self.text += s

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


def test_the_progress_line_redraws_in_place_on_a_terminal_stderr(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    progress = compact_cli.ProgressLine()  # no stream given: stderr, which is a terminal here
    progress("compacting ticks", 1, 2)
    progress("compacting ticks", 2, 2)
    progress.end()
    assert terminal.text.count("\r") == 2 and terminal.text.count("\n") == 1
