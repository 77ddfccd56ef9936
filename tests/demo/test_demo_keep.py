"""`tickpipe demo --keep` leaves AWS (moto) and Fyers (the simulator) up for the user's own commands."""

import os
import re
import signal
import subprocess
import sys


def test_keep_serves_the_lake_to_tickpipe_query_until_ctrl_c(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tickpipe", "demo", "--symbols", "2", "--speed", "3000", "--shards", "1",
         "--keep", "--quiet", "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        text = "".join(lines)
        exports = dict(re.findall(r"^  export (\w+)=(\S+)$", text, re.M))
        assert {"AWS_ENDPOINT_URL", "TICKPIPE_ENV", "TICKPIPE_FYERS_API_URL"} <= set(exports), text
        day = re.search(r"--param day=(\S+)", text).group(1)
        query = subprocess.run(
            [sys.executable, "-m", "tickpipe", "query", "daily_ohlcv", "--param", f"day={day}", "--csv"],
            env={**os.environ, **exports}, capture_output=True, text=True, timeout=120)
        assert query.returncode == 0, query.stderr
        rows = query.stdout.strip().splitlines()
        assert len(rows) == 1 + 2  # header + one row per symbol
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)  # a hang guard, not a timing
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
