"""The login page on this machine: the Lambda's LoginApp against the simulator and moto's SSM
(``tickpipe sim --login-page``, ``tickpipe demo --login-page``; docs/login.md "Try it locally")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fyers.rest import RestClient
from fyers.sim import Simulator
from tickpipe import names
from tickpipe.config import Settings
from tokens.login import LoginApp
from tokens.login_link_cli import mint
from tokens.login_server import LoginServer

LOCAL_LINK_MINUTES = 60


@dataclass(frozen=True)
class LocalLoginPage:
    server: LoginServer
    link: str  # a first login link, as `tickpipe login-link` prints it


def seed_credentials(ssm: Any, settings: Settings, sim: Simulator) -> None:
    """The Fyers app settings and secrets as Terraform and docs/deploy.md lay them out in SSM."""
    cfg = sim.config
    for key, value, kind in ((names.SSM_APP_ID, cfg.app_id, "String"),
                             (names.SSM_SECRET_KEY, cfg.secret_key, "SecureString"),
                             (names.SSM_PIN, cfg.pin, "SecureString")):
        ssm.put_parameter(Name=settings.ssm_name(key), Value=value, Type=kind, Overwrite=True)


def start_login_page(settings: Settings, sim: Simulator, ssm: Any) -> LocalLoginPage:
    """Serve the page on a free port; point the app's redirect URI and ``login/page_url`` at it (as
    docs/login.md asks after a deploy) and mint a first link. The caller stops ``server``."""
    server = LoginServer(LoginApp(settings, ssm, rest=RestClient(settings.fyers_api_url))).start()
    for key, value in ((names.SSM_REDIRECT_URI, server.callback_url), (names.SSM_LOGIN_PAGE_URL, server.url)):
        ssm.put_parameter(Name=settings.ssm_name(key), Value=value, Type="String", Overwrite=True)
    return LocalLoginPage(server, mint(ssm, settings, None, LOCAL_LINK_MINUTES, key_id=None))


def describe(page: LocalLoginPage, sim: Simulator) -> list[str]:
    cfg = sim.config
    return [f"tickpipe login page  {page.server.url}",
            f"  open (works once, {LOCAL_LINK_MINUTES} min): {page.link}",
            f"  Fyers test user {cfg.fy_id}, PIN {cfg.pin}; more links: tickpipe login-link (with the exports below)"]
