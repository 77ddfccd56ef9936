"""``tickpipe login-link``: mint a signed, expiring, single-use link to the login page (docs/login.md).

Only someone whose AWS credentials may read (and, the first time, write) the link key
``<prefix>login/link_key`` can mint one: that is the page's authentication. The first run creates
the key (32 random bytes, SecureString under the stack's key); ``--rotate-key`` replaces it, which
invalidates every link and browser session at once. The page's address comes from
``<prefix>login/page_url`` (Terraform writes it) unless ``--url`` names it.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from fyers.token_store import kms_key_arg
from tickpipe import names
from tickpipe.config import Settings
from tickpipe.options import flag
from tokens.errors import LinkError
from tokens.login_cli import kms_key
from tokens.login_keys import LINK_TTL_MAX, Signer, decode_key, encode_key, new_key
from tokens.options import TokenOptions
from tokens.refresh import PLACEHOLDER

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("login-link", help="print a signed, single-use link to the hosted login page",
                              description=__doc__.replace("``", ""),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=flag(int, ge=1, le=LINK_TTL_MAX // 60), default=15, help="how long the link works (default 15; at most "
                                                           f"{LINK_TTL_MAX // 60})")
    p.add_argument("--url", help="the login page's address (default: SSM <prefix>login/page_url)")
    p.add_argument("--rotate-key", action="store_true", help="replace the link key: every link and session ends")
    p.add_argument("--kms-key", type=TokenOptions.flag_type("token_kms_key"),
                   help="KMS key for a new link key (default: alias/tickpipe-<env>-secrets; 'none': aws/ssm)")
    p.set_defaults(func=run)


def link_key(ssm: SSMClient, settings: Settings, key_id: str | None, rotate: bool = False) -> bytes:
    """The link key from SSM, created (or replaced, with ``rotate``) when needed."""
    name = settings.ssm_name(names.SSM_LOGIN_KEY)
    if not rotate:
        try:
            value = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
            if value != PLACEHOLDER:
                return decode_key(value)
        except ssm.exceptions.ParameterNotFound:
            pass
        except ValueError as exc:
            raise LinkError(f"{name}: {exc}; replace it with --rotate-key") from None
    key = new_key()
    ssm.put_parameter(Name=name, Value=encode_key(key), Type="SecureString", Overwrite=True, **kms_key_arg(key_id))
    return key


def page_url(ssm: SSMClient, settings: Settings, given: str | None) -> str:
    if given:
        return given.rstrip("/")
    name = settings.ssm_name(names.SSM_LOGIN_PAGE_URL)
    try:
        return ssm.get_parameter(Name=name)["Parameter"]["Value"].rstrip("/")
    except ssm.exceptions.ParameterNotFound:
        raise LinkError(f"no {name}: deploy infra/login.tf, or give the page's address with --url") from None


def mint(ssm: SSMClient, settings: Settings, url: str | None, minutes: int, key_id: str | None = None,
         rotate: bool = False, now: float | None = None) -> str:
    """A login link: ``<page>/?link=<exp>.<nonce>.<mac>``."""
    if not 1 <= minutes <= LINK_TTL_MAX // 60:
        raise LinkError(f"--minutes must be 1 to {LINK_TTL_MAX // 60}")
    base = page_url(ssm, settings, url)
    signer = Signer(link_key(ssm, settings, key_id, rotate))
    return f"{base}/?link={signer.mint_link(time.time() if now is None else now, minutes * 60)}"


def run(args: argparse.Namespace) -> int:
    import boto3

    settings = Settings.from_env()
    ssm = boto3.client("ssm", region_name=settings.region)
    try:
        link = mint(ssm, settings, args.url, args.minutes, kms_key(args.kms_key, settings), args.rotate_key)
    except LinkError as exc:
        print(f"tickpipe login-link: {exc}", file=sys.stderr)
        return 1
    print(f"Works once, for {args.minutes} minutes:", file=sys.stderr)
    print(link)
    return 0
