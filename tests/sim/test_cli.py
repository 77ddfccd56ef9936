"""`python -m fyers.sim` runs the simulator alone: prints where it listens, takes fault commands on stdin."""

from __future__ import annotations

import json
import subprocess
import sys

import requests

from fyers.sim.config import TEST_APP_ID, TEST_PIN


def test_cli_prints_urls_and_account_and_obeys_stdin_commands():
    proc = subprocess.Popen([sys.executable, "-m", "fyers.sim", "--json", "--speed", "400",
                             "--symbols", "NSE:SBIN-EQ"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        details = json.loads(proc.stdout.readline())
        assert details["api_url"].startswith("http://127.0.0.1:")
        assert details["ws_url"].startswith("ws://127.0.0.1:") and details["ws_url"].endswith("/hsm/v1-5/prod")
        assert (details["app_id"], details["pin"], details["symbols"]) == (TEST_APP_ID, TEST_PIN, ["NSE:SBIN-EQ"])
        proc.stdin.write("ratelimit 1\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "ok: ratelimit 1"
        assert requests.get(f"{details['api_url']}/api/v3/marketStatus", timeout=10).status_code == 429
        proc.stdin.write("nonsense\nquit\n")
        proc.stdin.flush()
        assert proc.stdout.readline().startswith("error: unknown fault 'nonsense'")
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_tickpipe_sim_subcommand_is_registered():
    out = subprocess.run([sys.executable, "-m", "tickpipe", "sim", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "--every-trade" in out.stdout and "--speed" in out.stdout
