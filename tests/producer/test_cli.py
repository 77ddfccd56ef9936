"""``tickpipe produce``: configuration mistakes end with a message naming what to fix, exit code 2."""

from __future__ import annotations

import argparse

from producer import cli


def main(argv: list[str]) -> int:
    """``tickpipe produce …`` through this module's own parser registration."""
    parser = argparse.ArgumentParser(prog="tickpipe")
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_missing_universe_names_the_variable(monkeypatch, capsys, moto_server, tmp_path):
    monkeypatch.delenv("TICKPIPE_SYMBOLS", raising=False)
    monkeypatch.setenv("TICKPIPE_PRODUCER_JOURNAL_DIR", str(tmp_path))
    assert main(["produce"]) == 2
    assert "TICKPIPE_SYMBOLS" in capsys.readouterr().err


def test_bad_option_names_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("TICKPIPE_PRODUCER_JOURNAL_FSYNC", "sometimes")
    assert main(["produce"]) == 2
    assert "TICKPIPE_PRODUCER_JOURNAL_FSYNC" in capsys.readouterr().err


def test_bad_slice_is_rejected(monkeypatch, capsys, tmp_path):
    universe = tmp_path / "u.txt"
    universe.write_text("NSE:SBIN-EQ\n")
    monkeypatch.setenv("TICKPIPE_PRODUCER_JOURNAL_DIR", str(tmp_path / "j"))
    assert main(["produce", "--symbols", str(universe), "--slice", "5/4"]) == 2
    assert "slice" in capsys.readouterr().err


def test_help_lists_the_flags(capsys):
    try:
        main(["produce", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    assert "--slice" in out and "--stop-timeout" in out and "TICKPIPE_PRODUCER_" in out


def test_missing_stream_names_the_variable(monkeypatch, capsys, aws, tmp_path):
    universe = tmp_path / "u.txt"
    universe.write_text("NSE:SBIN-EQ\n")
    monkeypatch.setenv("TICKPIPE_PRODUCER_JOURNAL_DIR", str(tmp_path / "j"))
    monkeypatch.setenv("TICKPIPE_PRODUCER_HEALTH_PORT", "-1")
    monkeypatch.setenv("TICKPIPE_STREAM", "no-such-stream")
    assert main(["produce", "--symbols", str(universe), "--session", "always"]) == 2
    assert "TICKPIPE_STREAM" in capsys.readouterr().err


def test_a_busy_health_port_names_the_variable(monkeypatch, capsys, aws, make_stream, tmp_path):
    import socket

    universe = tmp_path / "u.txt"
    universe.write_text("NSE:SBIN-EQ\n")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        monkeypatch.setenv("TICKPIPE_PRODUCER_JOURNAL_DIR", str(tmp_path / "j"))
        monkeypatch.setenv("TICKPIPE_PRODUCER_HEALTH_PORT", str(busy.getsockname()[1]))
        monkeypatch.setenv("TICKPIPE_STREAM", make_stream(shards=1))
        assert main(["produce", "--symbols", str(universe), "--session", "always"]) == 2
    assert "TICKPIPE_PRODUCER_HEALTH_PORT" in capsys.readouterr().err


def test_a_symbols_file_that_is_not_utf8_is_named(monkeypatch, capsys, tmp_path):
    universe = tmp_path / "latin1.txt"
    universe.write_bytes("NSE:SBIN-EQ\nNSE:CAFÉ-EQ\n".encode("latin-1"))
    monkeypatch.setenv("TICKPIPE_PRODUCER_JOURNAL_DIR", str(tmp_path / "j"))
    monkeypatch.setenv("TICKPIPE_PRODUCER_HEALTH_PORT", "-1")
    assert main(["produce", "--symbols", str(universe), "--session", "always"]) == 2
    err = capsys.readouterr().err
    assert str(universe) in err and "not UTF-8" in err


def test_bad_session_overrides_are_a_usage_error_naming_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("TICKPIPE_SESSION_OVERRIDES", "2026-13-01=closed")
    assert main(["produce"]) == 2
    err = capsys.readouterr().err
    assert "TICKPIPE_SESSION_OVERRIDES" in err and "2026-13-01" in err


def test_a_region_that_is_not_an_aws_region_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.delenv("TICKPIPE_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "mars-1")
    assert main(["produce"]) == 2
    assert "AWS_REGION" in capsys.readouterr().err
