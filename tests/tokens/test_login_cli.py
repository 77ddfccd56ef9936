"""`tickpipe login` (the terminal flow) and `tickpipe login-link`, against the simulator and moto."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from login_helpers import fyers_login, query_of, seed_ssm

from fyers.auth import read_access_token
from fyers.errors import TokenNotFoundError
from fyers.rest import RestClient
from fyers.token_store import TokenStore
from tickpipe import names
from tickpipe.config import Settings
from tokens.errors import LinkError, LoginError
from tokens.login_cli import read_secret, terminal_login
from tokens.login_keys import LINK_TTL_MAX, Signer, decode_key
from tokens.login_link_cli import mint

REDIRECT = "http://127.0.0.1:9/callback"  # nothing listens: the user copies the address from the browser


class Page:  # what fyers_login needs to fill in the simulator's form
    def __init__(self, sim):
        self.sim = sim


@pytest.fixture
def env(aws, fyers_sim):
    sim = fyers_sim()
    settings = Settings(env="test", fyers_api_url=sim.api_url)
    ssm = aws.client("ssm")
    seed_ssm(ssm, settings, sim, REDIRECT)
    return sim, settings, ssm


def login(sim, settings, ssm, answer=None):
    """Run the terminal flow; the 'browser' logs in to the simulator and the user pastes its address."""
    seen = {}

    def browser(url):
        seen["redirect"] = fyers_login(Page(sim), url)

    def paste(prompt):
        return answer(seen["redirect"]) if answer else seen["redirect"]

    return terminal_login(ssm, settings, RestClient(sim.api_url, retries=0), paste, lambda text: None, browser)


def nothing_stored(settings, ssm):
    with pytest.raises(TokenNotFoundError):
        TokenStore(ssm, settings.ssm_prefix).load()
    return True


def test_the_terminal_login_stores_the_token(env):
    sim, settings, ssm = env
    token = login(sim, settings, ssm)
    assert TokenStore(ssm, settings.ssm_prefix).load() == token
    assert read_access_token(token.access_token).exp > time.time()


def test_each_terminal_login_has_its_own_random_state(env):
    sim, settings, ssm = env
    states = []
    for _ in range(2):
        login(sim, settings, ssm, answer=lambda url: states.append(query_of(url)["state"]) or url)
    assert states[0] != states[1] and len(states[0]) >= 32


def test_an_address_from_another_login_is_refused_and_nothing_stored(env):
    sim, settings, ssm = env
    with pytest.raises(LoginError, match="another login's state"):
        login(sim, settings, ssm, answer=lambda url: url.replace("state=", "state=x"))
    assert nothing_stored(settings, ssm)


def test_a_pasted_fyers_error_is_reported_and_nothing_stored(env):
    sim, settings, ssm = env

    def refused(url):
        return f"{REDIRECT}?s=error&code=-16&message=login+refused&state={query_of(url)['state']}"

    with pytest.raises(LoginError, match="login refused"):
        login(sim, settings, ssm, answer=refused)
    assert nothing_stored(settings, ssm)


@pytest.mark.parametrize("code", [-15, -16, -17])
def test_fyers_refusing_the_exchange_is_reported_and_nothing_stored(env, code):
    sim, settings, ssm = env

    def then_refuse(url):
        sim.faults.reject(code)
        return url

    with pytest.raises(LoginError, match=f"error {code}"):
        login(sim, settings, ssm, answer=then_refuse)
    assert nothing_stored(settings, ssm)


def test_an_unset_secret_key_points_at_set_credentials(env):
    sim, settings, ssm = env
    ssm.delete_parameter(Name=settings.ssm_name(names.SSM_SECRET_KEY))
    with pytest.raises(LoginError, match="--set-credentials"):
        login(sim, settings, ssm)


def test_secrets_come_from_a_file_or_a_prompt(tmp_path):
    f = tmp_path / "secret"
    f.write_text("  s3cret \n")
    assert read_secret("Secret: ", f) == "s3cret"
    assert read_secret("Secret: ", None, ask=lambda prompt: "typed") == "typed"
    with pytest.raises(LoginError, match="empty"):
        read_secret("Secret: ", None, ask=lambda prompt: "")
    with pytest.raises(LoginError, match="cannot read"):
        read_secret("Secret: ", tmp_path / "missing")


def test_no_option_takes_a_secret_on_the_command_line():
    from tickpipe.cli import build_parser

    parser = build_parser()
    for command in ("login", "login-link"):
        sub = parser._subparsers._group_actions[0].choices[command]
        for action in sub._actions:
            for flag in action.option_strings:
                assert not any(w in flag for w in ("secret", "pin", "token", "key")) or flag.endswith(
                    ("-file", "rotate-key", "kms-key")), f"tickpipe {command} {flag} would put a secret in argv"


def test_the_tickpipe_login_command_end_to_end(env, moto_server, tmp_path):
    sim, settings, ssm = env
    secret, pin = tmp_path / "secret", tmp_path / "pin"
    secret.write_text(sim.config.secret_key + "\n")
    pin.write_text(sim.config.pin + "\n")
    environ = {**os.environ, **settings.environ(), **moto_server.environ()}
    proc = subprocess.Popen([sys.executable, "-m", "tickpipe", "login", "--no-browser", "--set-credentials",
                             "--secret-key-file", str(secret), "--pin-file", str(pin)], env=environ,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = ""
        while not url:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            if "generate-authcode" in line:
                url = line.strip()
        out, err = proc.communicate(fyers_login(Page(sim), url) + "\n", timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "token stored" in out and sim.config.secret_key not in out + err
    assert TokenStore(ssm, settings.ssm_prefix).load().refresh_token
    pin_param = ssm.get_parameter(Name=settings.ssm_name(names.SSM_PIN), WithDecryption=True)["Parameter"]
    assert pin_param["Value"] == sim.config.pin and pin_param["Type"] == "SecureString"


# --- login-link ----------------------------------------------------------------------------------


def test_the_first_link_creates_the_key_under_the_given_kms_key(env):
    _, settings, ssm = env
    link = mint(ssm, settings, "https://page.example/", 15, key_id="alias/tickpipe-test")
    assert link.startswith("https://page.example/?link=")
    param = ssm.get_parameter(Name=settings.ssm_name(names.SSM_LOGIN_KEY), WithDecryption=True)["Parameter"]
    [meta] = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [param["Name"]]}])["Parameters"]
    assert param["Type"] == "SecureString" and meta["KeyId"] == "alias/tickpipe-test"
    Signer(decode_key(param["Value"])).verify_link(link.partition("?link=")[2], time.time())


def test_links_reuse_the_key_until_it_is_rotated(env):
    _, settings, ssm = env
    name = settings.ssm_name(names.SSM_LOGIN_KEY)
    mint(ssm, settings, "https://p", 15)
    first = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    mint(ssm, settings, "https://p", 15)
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == first
    mint(ssm, settings, "https://p", 15, rotate=True)
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] != first


def test_the_link_uses_the_page_url_terraform_wrote(env):
    _, settings, ssm = env
    with pytest.raises(LinkError, match="--url"):
        mint(ssm, settings, None, 15)
    ssm.put_parameter(Name=settings.ssm_name(names.SSM_LOGIN_PAGE_URL), Value="https://abc.lambda-url.x.on.aws/",
                      Type="String")
    assert mint(ssm, settings, None, 15).startswith("https://abc.lambda-url.x.on.aws/?link=")


@pytest.mark.parametrize("minutes", [0, -5, LINK_TTL_MAX // 60 + 1])
def test_link_lifetimes_outside_the_bounds_are_refused(env, minutes):
    _, settings, ssm = env
    with pytest.raises(LinkError, match="--minutes"):
        mint(ssm, settings, "https://p", minutes)


def test_a_corrupt_key_asks_for_rotation(env):
    _, settings, ssm = env
    ssm.put_parameter(Name=settings.ssm_name(names.SSM_LOGIN_KEY), Value="not base64!", Type="SecureString")
    with pytest.raises(LinkError, match="--rotate-key"):
        mint(ssm, settings, "https://p", 15)
