"""The login page on 127.0.0.1 (``tickpipe demo --login-page``, ``tickpipe sim --login-page``, tests).

The same :class:`tokens.login.LoginApp` the Lambda runs, behind a stdlib HTTP server instead of a
Function URL. Differences, by necessity: plain http (so the session cookie is not ``Secure`` and not
``__Host-``; HSTS is sent but browsers ignore it over http), and the client address is the socket's.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tokens.login import MAX_BODY, LoginApp, Request, parse_cookies

log = logging.getLogger(__name__)


class LoginServer:
    """Serves ``app`` on 127.0.0.1:``port`` (0: a free one) in a daemon thread."""

    def __init__(self, app: LoginApp, port: int = 0) -> None:
        self.app = app
        handler = type("Handler", (_Handler,), {"app": app, "server_ref": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="login-page", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def callback_url(self) -> str:
        return self.url + "/callback"

    def start(self) -> LoginServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoginServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    app: LoginApp
    server_ref: LoginServer
    protocol_version = "HTTP/1.1"
    server_version = "tickpipe-login"

    def log_message(self, format: str, *args: Any) -> None:
        # Query strings carry links and auth codes: the path only.
        log.debug("%s %s -> %s", self.command, urlsplit(self.path).path, args[1] if len(args) > 1 else "")

    def _serve(self) -> None:
        text = (self.headers.get("Content-Length") or "0").strip()
        if not text.isdigit():  # not a length: answer it, rather than a traceback and a dropped connection
            self.close_connection = True
            self.send_error(400, "bad Content-Length")
            return
        length = int(text)
        if length > MAX_BODY:
            self.close_connection = True
            self.send_error(413)
            return
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command, path=parts.path or "/", base_url=self.server_ref.url,
            query={k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
            headers={k.lower(): v for k, v in self.headers.items()},
            cookies=parse_cookies(self.headers.get_all("Cookie") or []), body=body, client=self.client_address[0])
        response = self.app.handle(request)
        data = response.body.encode()
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        for cookie in response.cookies:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()
