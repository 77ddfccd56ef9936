"""A login page on 127.0.0.1 against the simulator's Fyers and moto's SSM, and a scripted browser
(requests) that walks it. Shared by the login tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from fyers.rest import RestClient
from tickpipe import names
from tickpipe.config import Settings
from tokens.login import FailureLimiter, LoginApp
from tokens.login_link_cli import link_key, mint
from tokens.login_server import LoginServer


@dataclass
class Page:
    sim: Any
    settings: Settings
    ssm: Any
    app: LoginApp
    server: LoginServer

    @property
    def url(self) -> str:
        return self.server.url

    def link(self, minutes: int = 15, now: float | None = None) -> str:
        return mint(self.ssm, self.settings, None, minutes, key_id=None, now=now)


def seed_ssm(ssm: Any, settings: Settings, sim: Any, redirect_uri: str) -> None:
    cfg = sim.config
    for key, value, kind in ((names.SSM_APP_ID, cfg.app_id, "String"),
                             (names.SSM_REDIRECT_URI, redirect_uri, "String"),
                             (names.SSM_SECRET_KEY, cfg.secret_key, "SecureString"),
                             (names.SSM_PIN, cfg.pin, "SecureString")):
        ssm.put_parameter(Name=settings.ssm_name(key), Value=value, Type=kind, Overwrite=True)


def start_page(sim: Any, ssm: Any, limiter: FailureLimiter | None = None, clock: Any = None) -> Page:
    settings = Settings(env="test", fyers_api_url=sim.api_url)
    kwargs = {"clock": clock} if clock else {}
    app = LoginApp(settings, ssm, rest=RestClient(sim.api_url, retries=0),
                   limiter=limiter or FailureLimiter(per_client=1000, overall=1000), **kwargs)
    server = LoginServer(app).start()
    seed_ssm(ssm, settings, sim, server.callback_url)
    ssm.put_parameter(Name=settings.ssm_name(names.SSM_LOGIN_PAGE_URL), Value=server.url, Type="String",
                      Overwrite=True)
    link_key(ssm, settings, None)  # the operator's first `tickpipe login-link` creates it
    return Page(sim, settings, ssm, app, server)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "the status page has no CSRF field"
    return m.group(1)


def browser_with_session(page: Page) -> requests.Session:
    """A browser that opened a fresh login link."""
    s = requests.Session()
    r = s.get(page.link(), allow_redirects=False, timeout=10)
    assert r.status_code == 303, r.text
    return s


def start_login(page: Page, s: requests.Session) -> str:
    """Press "Log in with Fyers": returns the Fyers login URL the page redirects to."""
    status = s.get(page.url + "/", timeout=10)
    r = s.post(page.url + "/login", data={"csrf": csrf_of(status.text)}, headers={"Origin": page.url},
               allow_redirects=False, timeout=10)
    assert r.status_code == 303, r.text
    return r.headers["Location"]


def fyers_login(page: Page, login_url: str) -> str:
    """Fill in the simulator's Fyers login form: returns the callback URL Fyers redirects to."""
    fyers = requests.Session()
    form_page = fyers.get(login_url, timeout=10)
    assert form_page.status_code == 200, form_page.text
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form_page.text))
    cfg = page.sim.config
    r = fyers.post(urlsplit(login_url)._replace(query="").geturl(), data={**hidden, "fy_id": cfg.fy_id, "pin": cfg.pin},
                   allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    return r.headers["Location"]


def query_of(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
