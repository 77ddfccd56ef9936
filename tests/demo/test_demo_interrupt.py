"""Ctrl-C stops the demo cleanly: exit code 130, no traceback, and the moto server is gone."""

import re
import signal
import socket
import subprocess
import sys
import time


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_ctrl_c_mid_session_stops_everything(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tickpipe", "demo", "--symbols", "2", "--speed", "100", "--shards", "1",
         "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        for line in proc.stdout:  # wait until the session is streaming
            lines.append(line)
            if "ticks published" in line:
                break
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)  # a hang guard, not a timing
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(lines) + out
    assert proc.returncode == 130, text
    assert "interrupted" in text and "Traceback" not in text
    assert "access token refreshed" in text  # the token service's morning refresh ran against the simulator
    port = int(re.search(r"moto server \(AWS stand-in\)\s+http://127\.0\.0\.1:(\d+)", text).group(1))
    assert not _port_open(port)
