"""A moto server on 127.0.0.1 standing in for AWS, with the environment that points boto3 at it."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import requests

LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class MotoServer:
    """moto's threaded server bound to loopback on a free port. Stops with ``stop()`` or the context."""

    def __init__(self, port: int | None = None, region: str = "ap-south-1") -> None:
        from moto.server import ThreadedMotoServer

        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.region = region
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._running = False

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def environ(self) -> dict[str, str]:
        """Variables that make every boto3 client in this or a child process talk to this server."""
        return {
            **LOCAL_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

    def start(self) -> MotoServer:
        self._server.start()
        self._running = True
        return self

    def stop(self) -> None:
        if self._running:
            self._server.stop()
            self._running = False

    def reset(self) -> None:
        """Forget every resource (moto's reset API), so tests start from an empty account."""
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def patched_environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a block, restoring the old values after."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
