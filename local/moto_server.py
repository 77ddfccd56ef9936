"""A moto server on 127.0.0.1 standing in for AWS, with the environment that points boto3 at it.

The server runs in a child process: the pipeline's threads, pyarrow and DuckDB then never wait
for the GIL on moto's behalf (an in-process server stalls a DuckDB scan that reads from it), and
moto gets a core of its own. The child is told to die with its parent (``PR_SET_PDEATHSIG``), so
it stops by itself even when the parent is killed.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from local.errors import MotoServerError

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: stop() and the context manager still end it

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
    """moto's server in a child process bound to loopback on a free port. Stops with ``stop()``,
    the context manager, or the parent's death."""

    def __init__(self, port: int | None = None, region: str = "ap-south-1", start_timeout: float = 60.0,
                 *, settings: dict[str, str] | None = None) -> None:
        """``settings``: moto's own environment switches for the server process (e.g.
        MOTO_IAM_LOAD_MANAGED_POLICIES)."""
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.region = region
        self.start_timeout = start_timeout
        self.settings = dict(settings or {})
        self._proc: subprocess.Popen[bytes] | None = None

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
        if self._proc is not None:
            return self
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
        env.update(self.settings)
        # moto logs every request on stderr: a file takes it without ever blocking the server.
        self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            # moto's server with its Kinesis shards made safe for concurrent producers (local/moto_main.py)
            [sys.executable, "-m", "local.moto_main", "-H", self.host, "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=self._log, env=env,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                raise MotoServerError(f"moto server exited at start (code {code}): {self._log_tail()}")
            try:
                requests.get(f"{self.endpoint}/moto-api/", timeout=2)
                return self
            except requests.ConnectionError:
                time.sleep(0.1)
        self.stop()
        raise MotoServerError(f"moto server did not answer on {self.endpoint} within {self.start_timeout:.0f} s")

    def _log_tail(self, limit: int = 2000) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-limit:]

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        self._log.close()

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
