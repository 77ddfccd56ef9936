"""No log level prints a secret: the token service and the producer at DEBUG, botocore's bodies included."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from fyers.auth import read_access_token
from fyers.rest import RestClient
from fyers.token_store import REFRESH_TTL, FyersToken, TokenStore
from local.moto_server import free_port
from tickpipe import names, redact
from tickpipe.command import NOISY_LOGGERS
from tickpipe.config import Settings
from tokens.refresh import TokenService

ROOT = Path(__file__).resolve().parents[2]


def debug_everywhere(caplog) -> None:
    """DEBUG on the root and on the library loggers (an earlier `tickpipe` run in this process may
    have quietened them, as the CLI does without -v)."""
    caplog.set_level(logging.DEBUG)
    for name in ("botocore", "boto3", "urllib3", *NOISY_LOGGERS):
        caplog.set_level(logging.DEBUG, logger=name)


def as_word(secret: str, text: str) -> bool:
    return re.search(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", text) is not None


@pytest.fixture
def env(aws, fyers_sim):
    sim = fyers_sim(speed=20, snapshot_interval=0.5)
    settings = Settings(env="test", fyers_api_url=sim.api_url, fyers_ws_url=sim.ws_url)
    ssm = aws.client("ssm")
    cfg = sim.config
    for key, value, kind in ((names.SSM_APP_ID, cfg.app_id, "String"),
                             (names.SSM_SECRET_KEY, cfg.secret_key, "SecureString"),
                             (names.SSM_PIN, cfg.pin, "SecureString")):
        ssm.put_parameter(Name=settings.ssm_name(key), Value=value, Type=kind, Overwrite=True)
    tokens = sim.issue_tokens()
    now = int(time.time())
    token = FyersToken(tokens["access_token"], tokens["refresh_token"], now - 3600,
                       read_access_token(tokens["access_token"]).exp, now + REFRESH_TTL)
    TokenStore(ssm, settings.ssm_prefix).save(token)
    return sim, settings, ssm, token


def test_the_token_service_at_debug_logs_no_secret(env, caplog):
    sim, settings, ssm, before = env
    debug_everywhere(caplog)
    TokenService(settings, ssm=ssm, rest=RestClient(settings.fyers_api_url, retries=0)).run()
    after = TokenStore(ssm, settings.ssm_prefix).load()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert any(r.name.startswith("botocore") for r in caplog.records)  # botocore's debug logging ran
    assert redact.NOTICE in text  # its SSM bodies were there, and were not logged
    for secret in (sim.config.secret_key, before.refresh_token, before.access_token, after.access_token):
        assert secret not in text
    assert not as_word(sim.config.pin, text)


def test_a_short_secret_is_redacted_only_where_it_stands_alone():
    redact.register("4321")
    assert redact.scrub("x", "pin=4321 at 17950643210") == "pin=*** at 17950643210"


def test_the_producer_at_debug_logs_no_token(env, moto_server, tmp_path):
    sim, settings, ssm, token = env
    kinesis = __import__("boto3").client("kinesis", region_name=moto_server.region)
    stream = "tickpipe-secrets-ticks"
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.1})
    symbols = tmp_path / "symbols.txt"
    symbols.write_text("\n".join(sim.symbols[:5]) + "\n")
    port = free_port()
    run_settings = Settings(env="test", stream=stream, fyers_api_url=sim.api_url, fyers_ws_url=sim.ws_url,
                            symbols=str(symbols))
    environ = {**os.environ, **moto_server.environ(), **run_settings.environ(),
               "TICKPIPE_PRODUCER_SESSION": "always", "TICKPIPE_PRODUCER_HEALTH_PORT": str(port),
               "TICKPIPE_PRODUCER_JOURNAL_DIR": str(tmp_path / "journal"), "TICKPIPE_PRODUCER_STOP_TIMEOUT": "10"}
    log_file = (tmp_path / "stderr.log").open("w")  # a file: DEBUG output would fill a pipe and block
    proc = subprocess.Popen([sys.executable, "-m", "tickpipe", "-v", "produce", "--json-logs"], cwd=ROOT,
                            env=environ, stdout=subprocess.PIPE, stderr=log_file, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).json()["ticks_sent"] > 20:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        log_file.close()
    err = (tmp_path / "stderr.log").read_text()
    assert proc.returncode == 0, err[-2000:]
    assert '"level":"DEBUG"' in err and '"logger":"botocore' in err  # debug logging ran, botocore's too
    assert redact.NOTICE in err
    for secret in (token.access_token, token.refresh_token, *token.access_token.split(".")[1:]):
        assert secret not in err


def test_a_parameter_read_by_any_code_at_debug_is_kept_out_of_later_lines(aws, caplog):
    ssm = aws.client("ssm")
    ssm.put_parameter(Name="/tickpipe/test/other/secret", Value="s3cr3t-value-xyz", Type="SecureString")
    debug_everywhere(caplog)
    value = ssm.get_parameter(Name="/tickpipe/test/other/secret", WithDecryption=True)["Parameter"]["Value"]
    logging.getLogger("careless").warning("got %s", value)  # a bug elsewhere: still no secret in the log
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "s3cr3t-value-xyz" not in text and "got ***" in text
