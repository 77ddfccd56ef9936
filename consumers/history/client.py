"""The Fyers history client that backfill and reconcile use, built from the deployment's settings.

The app id and the access token come from SSM (``fyers/app_id``, ``fyers/token``, written by the
token service), re-read when Fyers refuses the token so a morning refresh during a long run is
picked up. Requests wait on the cross-process limiter (:mod:`fyers.shared_limiter`), so two jobs on
one host, or a job and its retry, stay inside the app's limits together.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import boto3

from fyers.history import HistoryClient
from fyers.rest import RestClient
from fyers.shared_limiter import FileRateLimiter, default_path
from fyers.token_store import TokenStore
from tickpipe import names
from tickpipe.config import Settings

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient


class SsmAccessToken:
    """``access_token()`` for :class:`HistoryClient`: read once from SSM, again after :meth:`reload`."""

    def __init__(self, ssm: SSMClient, prefix: str) -> None:
        self.store = TokenStore(ssm, prefix)
        self._token: str | None = None
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self._token is None:
                self._token = self.store.load_access_token()
            return self._token

    def reload(self) -> None:
        with self._lock:
            self._token = None


def app_id_from_ssm(ssm: SSMClient, settings: Settings) -> str:
    name = settings.ssm_name(names.SSM_APP_ID)
    try:
        return ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        raise LookupError(f"no Fyers app id at SSM {name}: set it as in docs/deploy.md") from None


def history_client(settings: Settings, *, ssm: SSMClient | None = None,
                   limiter_path: str | None = None) -> HistoryClient:
    ssm = ssm or boto3.client("ssm", region_name=settings.region)
    limiter = FileRateLimiter(limiter_path or default_path())
    return HistoryClient(RestClient(settings.fyers_api_url, limiter=limiter), app_id_from_ssm(ssm, settings),
                         SsmAccessToken(ssm, settings.ssm_prefix))
