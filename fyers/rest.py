"""The REST transport every Fyers call goes through: rate limit, retries, error mapping.

Transient failures (HTTP 5xx, 429, connection errors and timeouts) are retried with capped
exponential backoff and jitter; anything else becomes the specific :mod:`fyers.errors` exception
for Fyers' error code. Nothing here logs a token or a secret: only method, path and status.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from fyers.errors import FyersError, FyersServerError, RateLimitedError, error_for
from fyers.ratelimit import Limiter, shared
from tickpipe.backoff import Backoff

log = logging.getLogger(__name__)

TRANSIENT = (FyersServerError, RateLimitedError)


class RestClient:
    """HTTP to ``api_url`` (``https://api-t1.fyers.in`` or the simulator) with JSON in and out."""

    def __init__(
        self,
        api_url: str,
        limiter: Limiter | None = None,
        session: requests.Session | None = None,
        retries: int = 4,
        backoff: float = 0.5,
        backoff_max: float = 8.0,
        timeout: float = 15.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.limiter = limiter or shared()
        self.session = session or requests.Session()
        self.retries = retries
        self.backoff = backoff
        self.backoff_max = backoff_max
        self._policy = Backoff(backoff, backoff_max)
        self.timeout = timeout
        self._sleep = sleep
        self.retried = 0  # transient failures retried so far

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json: Any = None, headers: Mapping[str, str] | None = None,
                ok_statuses: tuple[str, ...] = ("ok",)) -> dict[str, Any]:
        """One call, retried while transient. Returns the JSON body when ``s`` is in ``ok_statuses``."""
        attempt = 0
        while True:
            try:
                return self._once(method, path, params, json, headers, ok_statuses)
            except TRANSIENT as exc:
                # A failing server may leave a kept-alive connection in an unknown state (an unread
                # request body, a half-sent response): start the retry on fresh connections.
                self.session.close()
                if attempt >= self.retries:
                    raise
                delay = max(self._policy.delay(attempt), min(getattr(exc, "retry_after", 0.0), self.backoff_max))
                attempt += 1
                self.retried += 1
                log.warning("%s %s failed (%s); retry %d/%d in %.2fs", method, path, exc, attempt,
                            self.retries, delay)
                self._sleep(delay)

    def _once(self, method: str, path: str, params: Mapping[str, Any] | None, json: Any,
              headers: Mapping[str, str] | None, ok_statuses: tuple[str, ...]) -> dict[str, Any]:
        self.limiter.acquire()
        try:
            resp = self.session.request(method, self.api_url + path, params=params, json=json,
                                        headers=dict(headers or {}), timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise FyersServerError(0, f"{method} {path}: {type(exc).__name__}: could not reach Fyers") from None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if resp.status_code >= 500 or resp.status_code == 429:
                raise error_for(0, f"{method} {path}: HTTP {resp.status_code}", resp.status_code)
            raise FyersError(0, f"{method} {path}: HTTP {resp.status_code} with a body that is not a JSON object",
                             resp.status_code)
        status = body.get("s")
        if resp.status_code < 400 and status in ok_statuses:
            return body
        raw_code = body.get("code")
        code = raw_code if isinstance(raw_code, int) else 0
        message = str(body.get("message") or f"{method} {path} answered s={status!r}")
        error = error_for(code, message, resp.status_code if resp.status_code >= 400 else None)
        retry_after = resp.headers.get("Retry-After", "")
        if retry_after.isdigit():
            error.retry_after = float(retry_after)  # honoured (up to backoff_max) before the retry
        raise error
