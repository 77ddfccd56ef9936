"""Helpers for the Fyers client tests: a DataSocket running against the simulator in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fyers.ratelimit import RateLimiter
from fyers.rest import RestClient
from fyers.socket import DataSocket, SocketEvent
from fyers.symbols import SymbolClient

SYMBOLS = ["NSE:SBIN-EQ", "NSE:RELIANCE-EQ", "NSE:TCS-EQ", "NSE:NIFTY50-INDEX"]


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Harness:
    """A DataSocket on its own thread, recording ticks and events."""

    def __init__(self, sim: Any, symbols: list[str], token: Callable[[], str] | None = None,
                 resolve: Callable[..., dict[str, str]] | None = None, **socket_args: Any) -> None:
        self.sim = sim
        tokens = sim.issue_tokens()
        self.token = token or (lambda: tokens["access_token"])
        rest = RestClient(sim.api_url, RateLimiter(), backoff=0.01)
        self.symbols = SymbolClient(rest, self.token)
        self.ticks: list[dict[str, Any]] = []
        self.events: list[SocketEvent] = []
        self._lock = threading.Lock()
        args = {"backoff_initial": 0.05, "backoff_max": 0.2, "reply_timeout": 5.0, "poll_interval": 0.05}
        args.update(socket_args)
        self.socket = DataSocket(sim.ws_url, lambda: self.token(), symbols, resolve or self.symbols.topics,
                                 self._on_ticks, self._on_event, producer_id="test", **args)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.socket.run, args=(self.stop,), daemon=True)

    def _on_ticks(self, ticks: list[dict[str, Any]]) -> None:
        with self._lock:
            self.ticks.extend(ticks)

    def _on_event(self, event: SocketEvent) -> None:
        with self._lock:
            self.events.append(event)

    def kinds(self) -> list[str]:
        with self._lock:
            return [e.kind for e in self.events]

    def count(self, kind: str) -> int:
        return self.kinds().count(kind)

    def tick_count(self) -> int:
        with self._lock:
            return len(self.ticks)

    def wait_event(self, kind: str, n: int = 1, timeout: float = 15.0) -> None:
        wait_for(lambda: self.count(kind) >= n, timeout, f"{n} {kind!r} event(s); got {self.kinds()}")

    def wait_ticks(self, more_than: int = 0, timeout: float = 15.0) -> None:
        wait_for(lambda: self.tick_count() > more_than, timeout, f"more than {more_than} ticks")

    def start(self) -> Harness:
        self.thread.start()
        return self

    def shutdown(self) -> None:
        self.stop.set()
        self.socket.close()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "DataSocket.run did not return after stop"


@pytest.fixture
def socket_harness() -> Iterator[Callable[..., Harness]]:
    started: list[Harness] = []

    def factory(sim: Any, symbols: list[str] | None = None, **kwargs: Any) -> Harness:
        h = Harness(sim, symbols or SYMBOLS, **kwargs).start()
        started.append(h)
        return h

    yield factory
    for h in started:
        h.shutdown()
