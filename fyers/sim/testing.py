"""pytest plugin: the ``fyers_sim`` fixture factory (registered in tests/conftest.py).

    def test_something(fyers_sim):
        sim = fyers_sim(speed=400, every_trade=True)   # started; stopped at teardown
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import websocket

from fyers import codec
from fyers.auth import read_access_token
from fyers.sim.config import SimConfig
from fyers.sim.simulator import Simulator


@pytest.fixture
def fyers_sim() -> Iterator[Callable[..., Simulator]]:
    """A factory: ``fyers_sim(**SimConfig fields)`` returns a started Simulator, stopped at teardown."""
    started: list[Simulator] = []

    def factory(config: SimConfig | None = None, **settings: Any) -> Simulator:
        sim = Simulator(config or SimConfig(**settings)).start()
        started.append(sim)
        return sim

    yield factory
    for sim in reversed(started):
        sim.stop()


def hsm_key_of(access_token: str) -> str:
    """The data-socket credential inside an access token (its JWT payload's ``hsm_key``)."""
    return read_access_token(access_token).hsm_key


class RawHsmClient:
    """A bare protocol client for tests: websocket-client + the codec, nothing hidden.

    ``send`` takes encoded frames; ``recv`` returns decoded server messages (``codec.PING`` bytes are
    returned as-is). ``login`` does auth → mode → subscribe and returns the three responses.
    """

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.ws = websocket.create_connection(url, timeout=timeout)

    def send(self, frame: bytes) -> None:
        self.ws.send_binary(frame)

    def recv_raw(self) -> bytes:
        opcode, data = self.ws.recv_data()
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raise websocket.WebSocketConnectionClosedException("server closed the connection")
        return data

    def recv(self) -> Any:
        data = self.recv_raw()
        return data if data == codec.PING else codec.decode_server(data)

    def auth(self, access_token: str) -> Any:
        self.send(codec.encode_auth(hsm_key_of(access_token)))
        return self.recv()

    def login(self, access_token: str, topics: list[str], full: bool = True,
              channel: int = codec.DEFAULT_CHANNEL) -> list[Any]:
        responses = [self.auth(access_token)]
        self.send(codec.encode_mode(channel, full))
        responses.append(self.recv())
        self.send(codec.encode_subscribe(topics, channel))
        responses.append(self.recv())
        return responses

    def close(self) -> None:
        self.ws.close()

    def __enter__(self) -> RawHsmClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
