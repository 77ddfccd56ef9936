"""The simulator's data socket (Fyers HSM protocol) on 127.0.0.1, an asyncio websockets server.

Each connection: auth (hsm_key of a live access token) → mode → subscribe; then a publisher pass
every ``publish_interval`` wall seconds sends what happened on the exchange clock since the last
pass. The first block for a topic on a connection is a snapshot (83); later ones are full (85) or
lite (76) updates carrying only the values that changed (others NO_VALUE). Data messages are
numbered; with an ack count N the server stops publishing once too many messages are unacked and
resumes when acks arrive (nothing is lost: the publisher's cursor simply waits).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from fyers import codec, errors
from fyers.sim.credentials import CredentialError
from fyers.sim.market import Timeline, quote_values
from fyers.sim.parts import SimParts

if TYPE_CHECKING:
    from collections import Counter


log = logging.getLogger(__name__)

WS_PATH = "/hsm/v1-5/prod"
REF_AUTH, REF_SUB, REF_UNSUB = 1, 4, 5
UNKNOWN_TOPIC = -300
# In snapshot mode a publisher that fell behind (stall, ack wait) jumps ahead instead of replaying
# more than this many cadence points per symbol: the socket sends quotes, not history.
MAX_CATCH_UP_POINTS = 4
MAX_EVENTS_PER_PASS = 20_000


class SocketSim(SimParts, Protocol):
    """What the data socket uses of the simulator (:class:`fyers.sim.simulator.Simulator` is one):
    its settings, market, clock, credentials and faults, a counter the event loop bumps, and the
    held clock's release."""

    @property
    def stats(self) -> Counter[str]: ...
    def snapshots_sent(self, topics: int) -> None: ...


@dataclass
class TopicState:
    topic: str
    topic_id: int
    channel: int
    timeline: Timeline | None  # None: a topic the simulator does not know (subscribed, never published)
    needs_snapshot: bool = True
    cursor: int = -2  # last trade index published (-2: nothing yet)
    next_emit: float = 0.0  # snapshot mode: next cadence point (exchange s)
    phase: float = 0.0
    last: tuple[int, ...] = ()  # values the client holds


class Connection:
    """One client connection's protocol state and publisher."""

    def __init__(self, server: HsmServer, ws: ServerConnection) -> None:
        self.server = server
        self.sim = server.sim
        self.ws = ws
        self.authenticated = False
        self.token: dict[str, Any] | None = None
        self.topics: dict[str, TopicState] = {}
        self.next_topic_id = 0
        self.full_channels = -1  # bit mask of channels in full mode (all, until a mode message)
        self.paused = 0  # bit mask of paused channels
        self.message_number = 0
        self.last_acked = 0
        faults = self.sim.faults
        self.drop_generation = faults.drop_generation
        self.malformed_generation = faults.malformed_generation
        self.expire_generation = faults.expire_generation

    # -- client messages ------------------------------------------------------------------------
    async def handle(self, frame: bytes) -> None:
        sim = self.sim
        try:
            msg = codec.decode_client(frame)
        except errors.FrameError as exc:
            sim.stats["malformed_client_frames"] += 1
            log.warning("ignoring malformed client frame: %s", exc)
            return
        while sim.faults.stalled():  # a stalled server reads nothing; it catches up afterwards
            await asyncio.sleep(0.05)
        if isinstance(msg, codec.Ping):
            await self.ws.send(codec.PING)
        elif isinstance(msg, codec.Auth):
            await self.authenticate(msg)
        elif isinstance(msg, codec.Ack):
            self.last_acked = max(self.last_acked, msg.message_number)
        elif not self.authenticated:
            await self.send_not_authenticated(type(msg))
        elif isinstance(msg, codec.Mode):
            self.full_channels = (self.full_channels | msg.channel_mask) if msg.full else (
                self.full_channels & ~msg.channel_mask)
            await self.ws.send(codec.encode_mode_response(True))
        elif isinstance(msg, codec.Subscribe):
            await self.subscribe(msg)
        elif isinstance(msg, codec.Unsubscribe):
            for topic in msg.topics:
                self.topics.pop(topic, None)
            await self.ws.send(codec.encode_subscribe_response(True, unsubscribe=True))
        elif isinstance(msg, codec.Pause):
            self.paused |= msg.channel_mask
            await self.ws.send(codec.encode_pause_response(True))
        elif isinstance(msg, codec.Resume):
            self.paused &= ~msg.channel_mask
            await self.ws.send(codec.encode_resume_response(True))

    async def send_not_authenticated(self, kind: type) -> None:
        text = "not authenticated: send auth first"
        if kind is codec.Subscribe:
            await self.ws.send(codec.encode_custom(errors.INVALID_TOKEN, text, REF_SUB))
            await self.ws.send(codec.encode_subscribe_response(False))
        elif kind is codec.Unsubscribe:
            await self.ws.send(codec.encode_subscribe_response(False, unsubscribe=True))
        elif kind is codec.Mode:
            await self.ws.send(codec.encode_mode_response(False))
        elif kind is codec.Pause:
            await self.ws.send(codec.encode_pause_response(False))
        elif kind is codec.Resume:
            await self.ws.send(codec.encode_resume_response(False))

    async def authenticate(self, msg: codec.Auth) -> None:
        sim = self.sim
        try:
            if sim.faults.refusing_auth:
                raise CredentialError(errors.INVALID_TOKEN, "authentication refused (simulated fault)")
            self.token = sim.credentials.check_hsm_key(msg.hsm_key)
        except CredentialError as exc:
            sim.stats["auth_refused"] += 1
            await self.ws.send(codec.encode_custom(exc.code, exc.message, REF_AUTH))
            await self.ws.send(codec.encode_auth_response(False))
            await self.ws.close(1008, exc.message[:100])
            return
        self.authenticated = True
        sim.stats["auth_ok"] += 1
        await self.ws.send(codec.encode_auth_response(True, sim.config.ack_count))

    async def subscribe(self, msg: codec.Subscribe) -> None:
        new = [t for t in dict.fromkeys(msg.topics) if t not in self.topics]
        limit = self.sim.config.max_symbols
        if len(self.topics) + len(new) > limit:
            text = (f"symbol limit exceeded: {len(self.topics) + len(new)} symbols requested, "
                    f"at most {limit} per connection")
            await self.ws.send(codec.encode_custom(errors.SYMBOL_LIMIT, text, REF_SUB))
            await self.ws.send(codec.encode_subscribe_response(False))
            return
        market = self.sim.market
        for topic in new:
            inst = market.by_topic.get(topic)
            tl = market.timeline(inst.symbol) if inst else None
            phase = (zlib.crc32(topic.encode()) % 1000) / 1000 * self.sim.config.snapshot_interval
            self.topics[topic] = TopicState(topic, self.next_topic_id, msg.channel, tl, phase=phase)
            self.next_topic_id = (self.next_topic_id + 1) & 0xFFFF
        await self.ws.send(codec.encode_subscribe_response(True))

    # -- publishing -----------------------------------------------------------------------------
    async def check_faults(self) -> bool:
        """Apply pending faults; False when the connection is gone."""
        faults = self.sim.faults
        if faults.drop_generation != self.drop_generation:
            self.sim.stats["dropped_connections"] += 1
            self.ws.transport.abort()
            return False
        if self.token is not None and (faults.expire_generation != self.expire_generation
                                       or self.token["exp"] <= time.time()):
            self.expire_generation = faults.expire_generation
            if not self.sim.credentials.is_live(self.token):
                await self.ws.send(codec.encode_custom(errors.TOKEN_EXPIRED, "token expired", REF_AUTH))
                await self.ws.close(1008, "token expired")
                return False
        if faults.malformed_generation != self.malformed_generation:
            self.malformed_generation = faults.malformed_generation
            await self.ws.send(malformed_frame(self.message_number))
        return True

    async def publish_loop(self) -> None:
        interval = self.sim.config.publish_interval
        while True:
            await asyncio.sleep(interval)
            if not await self.check_faults():
                return
            if self.sim.faults.stalled() or not self.authenticated:
                continue
            await self.publish()

    async def publish(self) -> None:  # noqa: C901 - one pass over the send schedule and every fault hook, in protocol order
        sim, cfg = self.sim, self.sim.config
        if cfg.ack_count and self.message_number - self.last_acked >= cfg.unacked_limit():
            return
        close_ts = sim.market.session.close_ts
        wall_now = sim.clock.now()
        over = wall_now >= close_ts  # after the close nothing new is published, not even snapshots
        now = min(wall_now, float(close_ts))
        blocks: list[codec.Block] = []
        events: list[tuple[float, int, TopicState, int]] = []
        every_trade = cfg.every_trade
        step = cfg.snapshot_interval
        for st in self.topics.values():
            tl = st.timeline
            if tl is None or (st.needs_snapshot and over):
                continue
            if (self.paused >> st.channel) & 1:
                if not st.needs_snapshot:  # pausing skips what happens meanwhile
                    st.next_emit = now
                    if every_trade:
                        st.cursor = tl.index_at(now)
                continue
            if st.needs_snapshot:
                i = tl.index_at(now)
                values = quote_values(tl, i, int(now))
                inst = tl.instrument
                blocks.append(codec.Snapshot(st.topic_id, st.topic, values, inst.multiplier, inst.precision,
                                             inst.exchange, inst.token, inst.symbol))
                st.last = values
                st.cursor = i
                st.next_emit = (now - st.phase) // step * step + st.phase + step
                st.needs_snapshot = False
                continue
            if every_trade:
                hi = tl.index_at(now)
                times = tl.times
                for k in range(st.cursor + 1, hi + 1):
                    events.append((times[k], st.topic_id, st, k))
            else:
                if now - st.next_emit > MAX_CATCH_UP_POINTS * step:
                    st.next_emit += (now - st.next_emit) // step * step - (MAX_CATCH_UP_POINTS - 1) * step
                last_k = st.cursor
                while st.next_emit <= now:
                    k = tl.index_at(st.next_emit)
                    if k != last_k:  # a quote goes out only when something traded since the last one
                        events.append((st.next_emit, st.topic_id, st, k))
                        last_k = k
                    st.next_emit += step
                if over and last_k != len(tl.times) - 1:
                    # The closing quote: the day's last trade goes out even between cadence points.
                    k = len(tl.times) - 1
                    events.append((tl.times[k], st.topic_id, st, k))
        events.sort(key=lambda e: (e[0], e[1]))
        if len(events) > MAX_EVENTS_PER_PASS:  # a long backlog goes out over several passes
            del events[MAX_EVENTS_PER_PASS:]
        for at, _, st, k in events:
            block = self.update_block(st, k, int(at))
            st.cursor = k
            if block is not None:
                blocks.append(block)
        await self.send_blocks(blocks)
        if blocks and sim.clock.held:  # a held clock starts once the snapshots it waits for are out
            sim.snapshots_sent(sum(1 for b in blocks if isinstance(b, codec.Snapshot)))

    def update_block(self, st: TopicState, k: int, feed_time: int) -> codec.Block | None:
        assert st.timeline is not None, "only topics with a timeline are published"
        values = quote_values(st.timeline, k, feed_time)
        last = st.last
        if (self.full_channels >> st.channel) & 1:
            nv = codec.NO_VALUE
            diff = tuple([v if v != w else nv for v, w in zip(values, last, strict=True)])
            st.last = values
            return codec.FullUpdate(st.topic_id, diff)
        if values[0] == last[0]:
            return None
        st.last = (values[0], *last[1:])
        return codec.LiteUpdate(st.topic_id, values[0])

    async def send_blocks(self, blocks: list[codec.Block]) -> None:
        size = self.sim.config.max_blocks_per_message
        for start in range(0, len(blocks), size):
            chunk = blocks[start:start + size]
            self.message_number += 1
            await self.ws.send(codec.encode_data(self.message_number, chunk))
            self.sim.stats["published_ticks"] += len(chunk)
            self.sim.stats["data_messages"] += 1


def malformed_frame(message_number: int) -> bytes:
    """A data frame that claims two blocks but whose second one is cut short."""
    block = codec.encode_block(codec.FullUpdate(0, (codec.NO_VALUE,) * 21))
    body = block + block[:5]
    return struct.pack(">HBIH", len(body) + 7, codec.T_DATA, message_number, 2) + body


class HsmServer:
    """The websockets server, on its own event loop in a daemon thread."""

    def __init__(self, sim: SocketSim, port: int = 0) -> None:
        self.sim = sim
        self._want_port = port
        self.port = 0
        self.connections: set[Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fyers-sim-hsm", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("simulator data socket did not start within 10 s")
        if self._error is not None:
            raise RuntimeError(f"simulator data socket failed to start: {self._error}") from self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - any start-up failure is reported to start(), which raises it
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", self._want_port, process_request=self._check_path,
                         compression=None, ping_interval=None, max_size=1 << 20) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop.wait()
            for conn in list(self.connections):
                conn.ws.transport.abort()

    def _check_path(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.split("?", 1)[0] != WS_PATH:
            return connection.respond(404, f"no data socket at {request.path}; use {WS_PATH}\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        conn = Connection(self, ws)
        self.connections.add(conn)
        self.sim.stats["connections"] += 1
        publisher = asyncio.create_task(conn.publish_loop())
        reader = asyncio.create_task(self._read(conn))
        try:
            await asyncio.wait({publisher, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (publisher, reader):
                task.cancel()
            for task in (publisher, reader):
                try:
                    await task
                except (asyncio.CancelledError, ConnectionClosed):
                    pass
                except Exception:
                    log.exception("simulator connection task failed")
            self.connections.discard(conn)

    async def _read(self, conn: Connection) -> None:
        async for frame in conn.ws:
            if isinstance(frame, str):
                frame = frame.encode()
            await conn.handle(frame)
