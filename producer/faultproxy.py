"""A Kinesis fault proxy: an HTTP proxy on 127.0.0.1 that breaks PutRecords calls on demand.

For tests and fire drills: point the producer's Kinesis client at it
(``AWS_ENDPOINT_URL_KINESIS=proxy.url``) and it forwards every call to the real endpoint (the moto
server, or any Kinesis endpoint reachable over plain HTTP) until told to fail. Faults (``mode``):

- ``pass``: forward everything.
- ``reset``: read half of a PutRecords request, then reset the TCP connection (RST): botocore
  raises ``ConnectionClosedError``, which has no ``response``.
- ``hang``: read the request and never answer, until the client gives up (``ReadTimeoutError``)
  or the mode changes.
- ``503``: answer HTTP 503 ``ServiceUnavailable`` (a ``ClientError`` with a response).
- ``throttle``: answer as Kinesis does for a shard over its limits: HTTP 200, every record
  failed with ``ProvisionedThroughputExceededException``.
- ``garbage``: HTTP 200 with a body that does not answer the call (no result per record).
- ``lost_response``: forward the call (Kinesis stores the records), then reset the connection
  instead of answering: the client cannot know, retries, and the stream holds the records twice.
- ``closed``: stop listening and drop every idle connection (a call being forwarded is answered
  first); the port refuses connections (``EndpointConnectionError``) until another mode opens it
  again on the same port.

Only PutRecords calls are faulted, except by ``closed``; ``calls=n`` faults the next n calls, then
passes again. Nothing is written to the stream for a faulted call.
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import urlsplit

MODES: Final = ("pass", "reset", "hang", "503", "throttle", "garbage", "lost_response", "closed")
_HOP: Final = frozenset({"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te"})


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


class KinesisFaultProxy:
    """Forward to ``upstream`` (``http://host:port``); fault PutRecords calls as :meth:`set` says."""

    def __init__(self, upstream: str, port: int = 0, host: str = "127.0.0.1", max_hang: float = 120.0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
        self.upstream = (parts.hostname, parts.port or 80)
        self.host = host
        self.port = port
        self.max_hang = max_hang
        self.mode = "pass"
        self._left: int | None = None  # faulted calls left (None: until the mode changes)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._busy: set[socket.socket] = set()  # connections with a call being forwarded
        self.faulted = 0  # PutRecords calls faulted
        self.forwarded = 0  # calls forwarded (any operation)
        self.put_records_forwarded = 0

    # -- control --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def set(self, mode: str, calls: int | None = None) -> None:
        """Fault PutRecords with ``mode`` (for the next ``calls`` calls, or until the next set)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        with self._lock:
            was, self.mode, self._left = self.mode, mode, calls
        if mode == "closed" and was != "closed":
            self._close_listener()
        elif mode != "closed" and was == "closed":
            self._open_listener()

    def start(self) -> KinesisFaultProxy:
        self._open_listener()
        return self

    def stop(self) -> None:
        with self._lock:
            self.mode = "pass"
        self._close_listener()

    def __enter__(self) -> KinesisFaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _open_listener(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._conns.add(self.connection)

            def finish(self) -> None:
                with proxy._lock:
                    proxy._conns.discard(self.connection)
                try:
                    super().finish()
                except OSError:
                    pass

            def do_POST(self) -> None:
                proxy._handle(self)

            def do_GET(self) -> None:
                proxy._handle(self)

            def log_message(self, fmt: str, *args: Any) -> None:
                pass

        for _ in range(50):  # the port may linger briefly after a close
            try:
                self._server = _Server((self.host, self.port), Handler)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise OSError(f"cannot listen on {self.host}:{self.port} again")
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="kinesis-fault-proxy", daemon=True)
        self._thread.start()

    def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            conns = list(self._conns - self._busy)
        for conn in conns:  # idle keep-alive connections go too: the endpoint is gone
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _take_fault(self, target: str) -> str:
        with self._lock:
            if not target.endswith(".PutRecords") or self.mode in ("pass", "closed"):
                return "pass"
            mode = self.mode
            if self._left is not None:
                self._left -= 1
                if self._left <= 0:
                    self.mode, self._left = "pass", None
            self.faulted += 1
            return mode

    # -- one request --------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self._busy.add(h.connection)
        try:
            self._handle_call(h)
        finally:
            with self._lock:
                self._busy.discard(h.connection)
                if self.mode == "closed":
                    h.close_connection = True

    def _handle_call(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        target = h.headers.get("X-Amz-Target", "")
        mode = self._take_fault(target)
        if mode == "reset":
            h.rfile.read(length // 2)
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()  # RST: the client sees the connection reset mid-request
            h.close_connection = True
            return
        body = h.rfile.read(length)
        if mode == "hang":
            until = time.monotonic() + self.max_hang
            while self.mode == "hang" and time.monotonic() < until and self._server is not None:
                time.sleep(0.05)
            h.close_connection = True
            return
        if mode == "503":
            self._reply(h, 503, {"__type": "ServiceUnavailable", "message": "Service Unavailable (injected)"})
            return
        if mode == "throttle":
            n = len(json.loads(body).get("Records", []))
            self._reply(h, 200, {"FailedRecordCount": n, "Records": [
                {"ErrorCode": "ProvisionedThroughputExceededException",
                 "ErrorMessage": "Rate exceeded for shard (injected)"}] * n})
            return
        if mode == "garbage":
            self._reply(h, 200, {"FailedRecordCount": 0, "Records": []})
            return
        self._forward(h, body, target, answer=mode != "lost_response")

    def _forward(self, h: BaseHTTPRequestHandler, body: bytes, target: str, answer: bool = True) -> None:
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP}
            conn.request(h.command, h.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            with self._lock:
                self.forwarded += 1
                self.put_records_forwarded += target.endswith(".PutRecords")
            if not answer:  # stored upstream, but the client never hears of it
                h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                h.connection.close()
                h.close_connection = True
                return
            h.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in _HOP and k.lower() != "content-length":
                    h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            h.close_connection = True  # upstream gone: the client sees a dropped connection
        finally:
            conn.close()

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, doc: dict[str, Any]) -> None:
        data = json.dumps(doc).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/x-amz-json-1.1")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
