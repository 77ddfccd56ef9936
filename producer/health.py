"""HTTP health endpoint for ECS container checks and load balancers.

``GET /health`` (or ``/``) answers JSON: ``ready``, ``state``, ``connected``, ``subscribed``,
``last_tick_age_s``, ``journal_depth`` and counters. Status 200 when ready, 503 when not. The
producer is *ready* while it works as intended: asleep outside the session, or in session with the
socket connected (or still within ``grace`` seconds of a disconnect/start). A Kinesis outage does
not make it unready: the journal is doing its job and a restart would not help.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

log = logging.getLogger(__name__)


class HealthServer:
    """Serves ``status()`` on ``host:port`` from a daemon thread. Port 0 picks a free port."""

    def __init__(self, status: Callable[[], dict[str, Any]], host: str = "127.0.0.1", port: int = 8080) -> None:
        self.status = status

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] not in ("/", "/health", "/healthz"):
                    self.send_error(404, "try /health")
                    return
                try:
                    body = status()
                except Exception as exc:  # noqa: BLE001 - a broken status is itself unhealthy
                    body = {"ready": False, "error": str(exc)}
                data = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
                self.send_response(200 if body.get("ready") else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, fmt: str, *args: Any) -> None:  # health checks every few seconds: quiet
                log.debug("health: " + fmt, *args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])  # an IP address (bytes only for AF_UNIX)
        return f"http://{host}:{self.port}/health"

    def start(self) -> HealthServer:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="health", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> HealthServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
