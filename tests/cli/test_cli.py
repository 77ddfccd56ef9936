"""The tickpipe command: one entry point, --help everywhere, clear errors, conventional exit codes."""

import subprocess
import sys

import pytest

from tickpipe import cli


def test_every_command_is_listed_in_the_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in cli.COMMANDS:
        assert command in out


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    assert "usage: tickpipe " + command in capsys.readouterr().out


def test_no_command_prints_help_and_exits_2(capsys):
    assert cli.main([]) == cli.EXIT_USAGE
    assert "COMMAND" in capsys.readouterr().out


def test_an_unknown_command_is_a_usage_error():
    with pytest.raises(SystemExit) as exit_:
        cli.main(["nonsense"])
    assert exit_.value.code == 2


def test_a_command_whose_optional_package_is_missing_says_what_to_install(monkeypatch, capsys):
    # As in the producer image, which installs no `local` extra: the simulator needs websockets.
    for name in [m for m in sys.modules if m == "websockets" or m.startswith(("websockets.", "fyers.sim"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "websockets", None)  # makes `import websockets` fail
    assert cli.main(["sim"]) == cli.EXIT_FAILURE
    err = capsys.readouterr().err
    assert "websockets" in err and "pip install 'tickpipe[local]'" in err
    # ...and every other command still works
    assert cli.build_parser().parse_args(["produce", "--slice", "1/2"]).func is not None


def test_python_dash_m_tickpipe_runs():
    out = subprocess.run([sys.executable, "-m", "tickpipe", "--version"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("tickpipe ")


def test_an_unexpected_failure_is_one_line_not_a_traceback(monkeypatch, capsys):
    from botocore.exceptions import NoCredentialsError

    def fails(args):
        raise NoCredentialsError()

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser.set_defaults(func=fails)
    assert cli.main([]) == cli.EXIT_FAILURE
    err = capsys.readouterr().err
    assert err.startswith("error: Unable to locate credentials") and "AWS_ENDPOINT_URL" in err
    assert "Traceback" not in err


def test_verbose_shows_the_traceback(monkeypatch):
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser.set_defaults(func=lambda args: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        cli.main(["-v"])


@pytest.mark.parametrize("command", [["compact"], ["reconcile", "--sim"], ["login-link"], ["backfill", "--sim"]])
def test_a_bad_variable_is_a_usage_error_in_every_command(command, monkeypatch, capsys):
    # tickpipe/options.py: a bad option is a usage error (exit 2), whichever command reads it
    monkeypatch.setenv("TICKPIPE_SSM_PREFIX", "no-leading-slash")
    assert cli.main(command) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "TICKPIPE_SSM_PREFIX" in err and "Traceback" not in err


@pytest.mark.parametrize("minutes", ["0", "5000", "x"])
def test_a_login_link_outside_its_lifetime_is_refused_by_the_parser(minutes, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["login-link", "--minutes", minutes])
    assert exit_.value.code == 2 and "--minutes" in capsys.readouterr().err
