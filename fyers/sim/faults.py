"""Faults on demand. Callers (tests, the CLI, the control endpoint) flip them from any thread; the
REST server and the socket publisher read them on their next request or pass."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from fyers import errors

FAULT_NAMES = ("drop", "stall", "malformed", "expire", "refuse", "ratelimit", "5xx", "reject")


class Faults:
    def __init__(self, expire_tokens: Callable[[], None]) -> None:
        self._lock = threading.Lock()
        self._expire = expire_tokens
        self.drop_generation = 0  # connections opened before the latest drop are cut
        self.malformed_generation = 0
        self.stalled_until = 0.0  # monotonic time until which the socket sends nothing
        self.refusing_auth = False
        self._rate_limited = 0
        self._server_errors = 0
        self._server_status = 500
        self._rejections: list[int] = []  # Fyers error codes the next REST calls answer with (HTTP 400)
        self.expire_generation = 0

    def drop_connections(self) -> None:
        """Cut every open data-socket connection (TCP abort, no close frame)."""
        with self._lock:
            self.drop_generation += 1

    def stall(self, seconds: float) -> None:
        """The socket goes silent for ``seconds`` (wall): no data, no ping answers; the TCP stays open."""
        with self._lock:
            self.stalled_until = max(self.stalled_until, time.monotonic() + seconds)

    def stalled(self) -> bool:
        return time.monotonic() < self.stalled_until

    def malformed_frame(self) -> None:
        """Each open connection receives one malformed data frame, then carries on normally."""
        with self._lock:
            self.malformed_generation += 1

    def expire_tokens(self) -> None:
        """Every token issued so far expires now: REST answers -8, open sockets get 'token expired' and close."""
        self._expire()
        with self._lock:
            self.expire_generation += 1

    def refuse_auth(self, on: bool = True) -> None:
        """While on, every data-socket auth is refused (custom message INVALID_TOKEN, then a failed auth response)."""
        self.refusing_auth = on

    def rate_limit(self, n: int = 1) -> None:
        """The next ``n`` REST calls get HTTP 429."""
        with self._lock:
            self._rate_limited += n

    def http_5xx(self, n: int = 1, status: int = 500) -> None:
        """The next ``n`` REST calls get HTTP ``status`` (500, 502, 503 or 504)."""
        if not 500 <= status <= 599:
            raise ValueError(f"status must be a 5xx code, got {status}")
        with self._lock:
            self._server_errors += n
            self._server_status = status

    def reject(self, code: int, n: int = 1) -> None:
        """The next ``n`` REST calls are refused with Fyers error ``code`` (HTTP 400), e.g. -16 or -17."""
        if code >= 0:
            raise ValueError(f"Fyers error codes are negative, got {code}")
        with self._lock:
            self._rejections.extend([code] * n)

    def take_rest_fault(self) -> tuple[int, int, str] | None:
        """The fault the next REST call suffers, as (HTTP status, Fyers code, message), or None."""
        with self._lock:
            if self._rejections:
                return 400, self._rejections.pop(0), "request refused (simulated)"
            if self._rate_limited:
                self._rate_limited -= 1
                return 429, errors.RATE_LIMITED, "request limit reached (simulated)"
            if self._server_errors:
                self._server_errors -= 1
                return self._server_status, -500, "internal server error (simulated)"
        return None

    def apply(self, command: str) -> str:
        """Run a text command (CLI and control endpoint): e.g. ``stall 5``, ``refuse off``, ``5xx 2 503``."""
        parts = command.split()
        if not parts:
            raise ValueError("empty fault command")
        name, args = parts[0].lower(), parts[1:]
        try:
            if name == "drop":
                self.drop_connections()
            elif name == "stall":
                self.stall(float(args[0]) if args else 5.0)
            elif name == "malformed":
                self.malformed_frame()
            elif name == "expire":
                self.expire_tokens()
            elif name == "refuse":
                self.refuse_auth(not args or args[0].lower() in ("on", "1", "true", "yes"))
            elif name == "ratelimit":
                self.rate_limit(int(args[0]) if args else 1)
            elif name == "reject":
                self.reject(int(args[0]), int(args[1]) if len(args) > 1 else 1)
            elif name == "5xx":
                self.http_5xx(int(args[0]) if args else 1, int(args[1]) if len(args) > 1 else 500)
            else:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULT_NAMES)}")
        except (IndexError, ValueError) as exc:
            if "unknown fault" in str(exc):
                raise
            raise ValueError(f"bad arguments for {name!r}: {exc}") from None
        return f"ok: {' '.join(parts)}"
