"""`tickpipe plan` on the command line."""

from __future__ import annotations

import pytest

from tickpipe.cli import main


def test_plan_prints_deployment_costs_and_tfvars(capsys):
    assert main(["plan", "--symbols", "5000"]) == 0
    out = capsys.readouterr().out
    for text in ("Deploy", "total, provisioned stream", "total, on-demand stream", "naive design",
                 "Assumptions", "stream_shard_count", "producer_cpu", "re-check them"):
        assert text in out


def test_plan_names_the_producer_slices_for_more_than_one_connection(capsys):
    assert main(["plan", "--symbols", "9000", "--stream-mode", "ON_DEMAND"]) == 0
    out = capsys.readouterr().out
    assert 'stream_mode        = "ON_DEMAND"' in out and "stream_shard_count" not in out
    assert 'slice = "1/2"' in out and 'slice = "2/2"' in out


@pytest.mark.parametrize("argv", [["plan", "--symbols", "0"], ["plan", "--symbols", "10", "--updates-per-s", "0"],
                                  ["plan", "--symbols", "10", "--region", "mars-north-1"], ["plan"]])
def test_bad_arguments_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_a_missing_figures_file_is_one_line_saying_to_run_the_bench(tmp_path, capsys):
    assert main(["plan", "--symbols", "10", "--figures", str(tmp_path / "none.json")]) == 1
    assert "make bench" in capsys.readouterr().out
