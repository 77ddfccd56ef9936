"""The access token for the data socket, read from SSM, re-read with backoff when it is rejected.

The token service (tokens/) writes a fresh token to SSM each morning. When the socket reports an
*expired* token (Fyers code -8), the producer cannot fix it; it re-reads SSM with capped exponential
backoff until a different token appears (the token service refreshed it), and sets the
``AuthFailing`` gauge meanwhile so an alarm can fire. After ``retry_same_after`` seconds it tries
the same token again, in case the rejection was wrong.

A *refused* token (-15 invalid, -16 auth failed: Fyers may refuse a valid token for a while) is
tried again at once, paced by the socket's reconnect backoff (≤ 30 s), unless SSM has a newer one:
a short refusal must not become a long outage. Either way ``refused_in_ssm`` stays true while SSM
answers with the refused token, until Fyers accepts a token.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from producer.errors import TokenUnavailableError
from producer.metrics import Metrics
from tickpipe.backoff import Backoff, Jitter

log = logging.getLogger(__name__)


# The name it had before producer/errors.py; code in flight may still import it from here.
TokenUnavailable = TokenUnavailableError


class TokenSource:
    """Callable giving the access token; the socket calls it on every (re)connect."""

    def __init__(self, load: Callable[[], str], *, stop: threading.Event, metrics: Metrics,
                 retry_base: float = 1.0, retry_cap: float = 60.0, retry_same_after: float = 300.0) -> None:
        self.load = load
        self.stop = stop
        self.metrics = metrics
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self._backoff = Backoff(retry_base, retry_cap, Jitter.NONE)  # one reader of one parameter
        self.retry_same_after = retry_same_after
        self._rejected: str | None = None
        self._expired = False  # the rejection was "expired": wait for another token
        self._last: str | None = None
        self.reads = 0
        self.waiting = False  # True while no usable token is in SSM (the AuthFailing gauge follows it)
        # True while SSM answers with the very token Fyers refused: a token problem a restart
        # cannot mend (an SSM read error is not that: it may be the task's network)
        self.refused_in_ssm = False

    def failed(self, expired: bool = True) -> None:
        """The socket rejected the last token: ``expired`` (wait for a new one) or refused (retry it)."""
        self._rejected = self._last
        self._expired = expired
        self.refused_in_ssm = True
        self.metrics.set("AuthFailing", 1)

    def succeeded(self) -> None:
        self._rejected = None
        self.refused_in_ssm = self.waiting = False
        self.metrics.set("AuthFailing", 0)

    def _read(self) -> str | None:
        self.reads += 1
        try:
            return self.load()
        except Exception as exc:  # noqa: BLE001 - missing parameter, SSM outage: keep trying
            log.warning("cannot read the access token from SSM: %s", type(exc).__name__)  # no values: secrets
            return None

    def __call__(self) -> str:
        start = time.monotonic()
        rereads = 0
        while True:
            token = self._read()
            if token and token != self._rejected:
                self._last = token
                self.waiting = self.refused_in_ssm = False
                return token
            if token and (not self._expired or time.monotonic() - start >= self.retry_same_after):
                self._last = token  # the same token again: refused ones may be accepted a moment later
                self.waiting = False
                return token
            self.waiting = True
            self.refused_in_ssm = token is not None
            self.metrics.set("AuthFailing", 1)
            delay = self._backoff.delay(rereads)
            log.warning("no new access token in SSM yet; re-reading in %.0f s", delay)
            if self.stop.wait(delay):
                self.waiting = self.refused_in_ssm = False
                raise TokenUnavailableError("stopped while waiting for a new access token")
            rereads += 1
