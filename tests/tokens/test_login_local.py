"""Local mode: `tickpipe sim --login-page` serves the page against the simulator and a moto SSM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import boto3
import requests
from login_helpers import csrf_of, fyers_login

from fyers.token_store import TokenStore
from tickpipe.config import Settings


class SimView:  # what fyers_login needs: the simulator's test account
    def __init__(self, details):
        self.sim = type("Sim", (), {"config": type("Cfg", (), {"fy_id": details["fy_id"], "pin": details["pin"]})})


def test_tickpipe_sim_login_page_logs_in_into_its_moto_ssm():
    proc = subprocess.Popen([sys.executable, "-m", "tickpipe", "sim", "--login-page", "--json"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"})
    try:
        details = json.loads(proc.stdout.readline() or proc.stderr.read())
        page, link = details["login_page_url"], details["login_link"]
        assert link.startswith(page + "/?link=")
        browser = requests.Session()
        status = browser.get(link, timeout=10)
        assert status.status_code == 200 and "no token stored yet" in status.text
        r = browser.post(page + "/login", data={"csrf": csrf_of(status.text)}, allow_redirects=False, timeout=10)
        assert r.headers["Location"].startswith(details["api_url"])
        done = browser.get(fyers_login(SimView(details), r.headers["Location"]), timeout=10)
        assert "Logged in" in done.text

        env = details["environ"]
        # the exports point every tickpipe command at this simulator, its data socket too
        assert (env["TICKPIPE_FYERS_API_URL"], env["TICKPIPE_FYERS_WS_URL"]) == (details["api_url"], details["ws_url"])
        ssm = boto3.client("ssm", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["TICKPIPE_REGION"],
                           aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
        settings = Settings(env=env["TICKPIPE_ENV"])
        assert TokenStore(ssm, settings.ssm_prefix).load().refresh_token
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=60)  # a hang guard, not a timing
        except subprocess.TimeoutExpired:
            proc.kill()


def test_tickpipe_demo_login_page_serves_the_page_with_the_demos_token(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tickpipe", "demo", "--symbols", "1", "--speed", "3000", "--shards", "1",
         "--login-page", "--quiet", "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"})
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        text = "".join(lines)
        link = next((w for w in text.split() if "/?link=" in w), None)
        assert link, text
        status = requests.get(link, timeout=10)
        # the demo logged in and ran the morning refresh: both show on the page
        assert status.status_code == 200 and ">valid<" in status.text and "succeeded" in status.text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=120)  # a hang guard, not a timing
        except subprocess.TimeoutExpired:
            proc.kill()
