"""``tickpipe login``: log in to Fyers from a terminal and store the token in SSM (docs/login.md).

A random ``state`` each time; the login URL is printed (and opened in a browser unless
``--no-browser``); you paste back the whole address Fyers redirected the browser to; the state is
checked, the auth code exchanged, and the token stored exactly as the morning refresh stores it.

``--set-credentials`` first stores the app's secret key and the account's PIN as SecureStrings,
read from a prompt (no echo) or from files (``--secret-key-file``, ``--pin-file``): a secret on a
command line ends up in the shell history and in ``ps``.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fyers.auth import FyersAuth, auth_code_from_redirect, login_url, new_state
from fyers.errors import AuthFailedError, FyersError, InvalidTokenError, StateMismatchError
from fyers.rest import RestClient
from fyers.token_store import FyersToken, kms_key_arg
from tickpipe import names
from tickpipe.config import Settings
from tokens.errors import LoginError
from tokens.options import TokenOptions
from tokens.refresh import PLACEHOLDER, days_left, token_store

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("login", help="log in to Fyers from a terminal and store the token in SSM",
                              description=__doc__.replace("``", ""),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--no-browser", action="store_true", help="print the login URL without opening a browser")
    p.add_argument("--set-credentials", action="store_true",
                   help="first store the app secret key and PIN in SSM (prompted, or from the files below)")
    p.add_argument("--secret-key-file", type=Path, help="file holding the app secret key (with --set-credentials)")
    p.add_argument("--pin-file", type=Path, help="file holding the 4-digit PIN (with --set-credentials)")
    p.add_argument("--kms-key", type=TokenOptions.flag_type("token_kms_key"),
                   help="KMS key for the SecureStrings (default: $TICKPIPE_TOKEN_KMS_KEY, else "
                                     "alias/tickpipe-<env>-secrets, the stack's secrets key; 'none' for the account's aws/ssm)")
    p.set_defaults(func=run)


def kms_key(option: str | None, settings: Settings) -> str | None:
    """The key the SecureStrings are written with: the option, else the functions' variable, else the
    stack's secrets alias (as Terraform made the parameters). ``none``: the account's aws/ssm key."""
    key = TokenOptions.from_env(token_kms_key=option or None).token_kms_key or names.secrets_key_alias(settings.env)
    return TokenOptions(token_kms_key=key).key_id


def read_secret(prompt: str, path: Path | None, ask: Callable[[str], str] = getpass.getpass) -> str:
    """A secret from a file (first line, stripped) or a no-echo prompt. Never from argv."""
    if path is not None:
        try:
            text = path.read_text()
        except OSError as exc:
            raise LoginError(f"cannot read {path}: {exc.strerror}") from None
        value = text.strip().splitlines()[0].strip() if text.strip() else ""
    else:
        value = ask(prompt).strip()
    if not value:
        raise LoginError(f"empty value for {prompt.rstrip(': ')}")
    return value


def set_credentials(ssm: SSMClient, settings: Settings, key_id: str | None, secret_key: str, pin: str) -> None:
    if not (len(pin) == 4 and pin.isdigit()):
        raise LoginError("the Fyers PIN is 4 digits")
    for name, value in ((names.SSM_SECRET_KEY, secret_key), (names.SSM_PIN, pin)):
        ssm.put_parameter(Name=settings.ssm_name(name), Value=value, Type="SecureString", Overwrite=True,
                          **kms_key_arg(key_id))


def _param(ssm: SSMClient, settings: Settings, key: str, decrypt: bool = False) -> str:
    name = settings.ssm_name(key)
    try:
        value = ssm.get_parameter(Name=name, WithDecryption=decrypt)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        value = PLACEHOLDER
    if value == PLACEHOLDER:
        raise LoginError(f"{name} is not set (docs/deploy.md, 'Fyers credentials')"
                         + ("; `tickpipe login --set-credentials` stores it" if key == names.SSM_SECRET_KEY else ""))
    return value


def terminal_login(ssm: SSMClient, settings: Settings, rest: RestClient, read_redirect: Callable[[str], str],
                   show: Callable[[str], None], open_browser: Callable[[str], Any] | None = None,
                   options: TokenOptions | None = None) -> FyersToken:
    """The whole flow, with its I/O passed in. Returns the stored token (written under ``options``'
    KMS key, by default the functions' ``TICKPIPE_TOKEN_KMS_KEY``)."""
    app_id = _param(ssm, settings, names.SSM_APP_ID)
    redirect_uri = _param(ssm, settings, names.SSM_REDIRECT_URI)
    secret = _param(ssm, settings, names.SSM_SECRET_KEY, decrypt=True)
    state = new_state()
    url = login_url(settings.fyers_api_url, app_id, redirect_uri, state)
    show(f"Open this address, log in to Fyers, and paste back the address the browser ends on:\n\n  {url}\n")
    if open_browser is not None:
        open_browser(url)
    pasted = read_redirect("Address after login: ").strip()
    try:
        code = auth_code_from_redirect(pasted, state)
    except StateMismatchError:
        raise LoginError("that address carries another login's state (an old tab, or not from this login): "
                         "nothing stored; run `tickpipe login` again") from None
    except FyersError as exc:
        raise LoginError(f"Fyers did not log you in: {exc.message}; nothing stored") from None
    try:
        tokens = FyersAuth(rest, app_id, secret).exchange(code)
    except AuthFailedError as exc:
        raise LoginError(f"Fyers refused the app's credentials (error {exc.code}): check "
                         f"{settings.ssm_name(names.SSM_SECRET_KEY)} and {settings.ssm_name(names.SSM_APP_ID)}") from None
    except InvalidTokenError as exc:
        raise LoginError(f"Fyers refused the auth code (error {exc.code}: invalid, expired or used): "
                         "run `tickpipe login` again") from None
    token = FyersToken.from_tokens(tokens)
    token_store(ssm, settings, options).save(token)
    return token


def run(args: argparse.Namespace) -> int:
    import boto3

    settings = Settings.from_env()
    ssm = boto3.client("ssm", region_name=settings.region)
    key_id = kms_key(args.kms_key, settings)
    try:
        if args.set_credentials:
            secret = read_secret("Fyers app secret key: ", args.secret_key_file)
            pin = read_secret("Fyers PIN: ", args.pin_file)
            set_credentials(ssm, settings, key_id, secret, pin)
            print(f"stored {settings.ssm_name(names.SSM_SECRET_KEY)} and {settings.ssm_name(names.SSM_PIN)}")
        # the token goes under the same key as the credentials, as on the functions
        token = terminal_login(ssm, settings, RestClient(settings.fyers_api_url), input, print,
                               None if args.no_browser else webbrowser.open,
                               options=TokenOptions(token_kms_key=key_id or ""))
    except LoginError as exc:
        print(f"tickpipe login: {exc}", file=sys.stderr)
        return 1
    print(f"token stored in {settings.ssm_name(names.SSM_TOKEN)}: access token valid until the end of the day, "
          f"refresh token for {days_left(token, token.issued_at):.0f} days")
    return 0
