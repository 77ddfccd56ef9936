"""The Fyers data-socket client: connect, authenticate, subscribe, stay connected, hand out ticks.

:class:`DataSocket` runs in the caller's thread (``run(stop)``) on websocket-client. Per connection:
auth (the access token's ``hsm_key``) → mode (full or lite) → subscribe in messages that fit the
wire format → read frames. Data frames go through :class:`fyers.feed.Feed` (whose per-topic state
outlives reconnects) and the ticks go to ``on_ticks``; everything else that happens is a
:class:`SocketEvent` to ``on_event``. It acks every N-th data message as the server asks, pings every
``ping_interval`` seconds, treats ``stall_timeout`` seconds of silence as a dead connection, and
reconnects with capped exponential backoff and jitter, re-reading the access token and
resubscribing everything. A malformed frame is counted and reported with its bytes (the
``malformed_frame`` event), never fatal; no tick of it is forwarded.

The client knows nothing of Kinesis: the producer decides what to do with ticks and events.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Literal

import websocket

from fyers import codec, errors
from fyers.auth import read_access_token
from fyers.errors import FeedFrameError, FyersError, SymbolError, SymbolLimitError
from fyers.feed import Feed
from tickpipe.backoff import Backoff

log = logging.getLogger(__name__)

MAX_SYMBOLS: Final = 5000  # per connection (FYERS.md)
REF_AUTH: Final = 1  # a custom message's ref type for the auth request
MAX_SUBSCRIBE_BYTES: Final = 60_000  # a subscribe message's topic field must stay under 64 KiB


class EventKind(StrEnum):
    """What a :class:`SocketEvent` reports; the producer (producer/service.py) matches on these."""

    CONNECTED = "connected"
    AUTHENTICATED = "authenticated"
    SUBSCRIBED = "subscribed"
    DISCONNECTED = "disconnected"  # a connection ended (it is retried with backoff)
    RECONNECTING = "reconnecting"
    AUTH_FAILED = "auth_failed"  # Fyers refused the token (invalid, auth failed) or there is none
    TOKEN_EXPIRED = "token_expired"
    SERVER_MESSAGE = "server_message"  # a notice from Fyers (unknown symbols, a refused subscribe)
    MALFORMED_FRAME = "malformed_frame"  # ``data`` holds the frame, to quarantine


@dataclass(frozen=True)
class SocketEvent:
    """Something the caller may want to log, count or alarm on. ``detail`` never holds a secret."""

    kind: EventKind
    detail: str = ""
    at: float = field(default_factory=time.time)
    code: int | None = None  # Fyers' code for auth_failed / token_expired / server_message
    data: bytes = field(default=b"", repr=False)  # the frame itself, for malformed_frame (to quarantine it)


@dataclass
class SocketStats:
    connects: int = 0
    data_messages: int = 0
    ticks: int = 0
    acks_sent: int = 0
    pings_sent: int = 0
    malformed_frames: int = 0
    unexpected_frames: int = 0


class _Disconnect(Exception):
    """Ends one connection; the message says why. ``kind`` is the event to report (if not disconnected)."""

    def __init__(self, reason: str, kind: EventKind = EventKind.DISCONNECTED, code: int | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.code = code


TOKEN_CODES: Final = frozenset({errors.INVALID_TOKEN, errors.AUTH_FAILED})  # besides TOKEN_EXPIRED


def code_kind(code: int | None) -> EventKind:
    """The event for a refusal with Fyers code ``code``: only Fyers' token codes are auth failures;
    anything else (a rate limit, a server error, no code) is a transient disconnect, retried."""
    if code == errors.TOKEN_EXPIRED:
        return EventKind.TOKEN_EXPIRED
    return EventKind.AUTH_FAILED if code in TOKEN_CODES else EventKind.DISCONNECTED


def failure_kind(exc: BaseException) -> EventKind:
    """The event for an exception while resolving symbols or getting the token (see :func:`code_kind`).

    A Fyers error counts as auth only with a token code; 429, 5xx, unreachable (the REST client
    raises FyersServerError for connection errors) and unexpected answers are transient. Anything
    else came from the token source (no token in SSM, SSM unreachable): an auth failure.
    """
    if isinstance(exc, errors.TokenExpiredError):
        return EventKind.TOKEN_EXPIRED
    if isinstance(exc, errors.InvalidTokenError | errors.AuthFailedError):
        return EventKind.AUTH_FAILED
    if isinstance(exc, FyersError | SymbolError):
        return EventKind.DISCONNECTED  # back off and retry with the same token
    return EventKind.AUTH_FAILED


def subscribe_batches(topics: Sequence[str], limit: int = MAX_SUBSCRIBE_BYTES) -> Iterator[list[str]]:
    """Topics in groups whose encoded list fits one subscribe message."""
    batch: list[str] = []
    size = 2
    for topic in topics:
        n = 1 + len(topic)
        if batch and size + n > limit:
            yield batch
            batch, size = [], 2
        batch.append(topic)
        size += n
    if batch:
        yield batch


class DataSocket:
    """A self-healing subscription to ``symbols`` on the Fyers data socket."""

    def __init__(
        self,
        url: str,
        access_token: Callable[[], str],
        symbols: Sequence[str],
        resolve_topics: Callable[[Sequence[str]], dict[str, str]],
        on_ticks: Callable[[list[dict[str, Any]]], None],
        on_event: Callable[[SocketEvent], None] = lambda event: None,
        mode: Literal["full", "lite"] = "full",
        producer_id: str = "tickpipe",
        channel: int = codec.DEFAULT_CHANNEL,
        source: str = "tickpipe",
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        ping_interval: float = 10.0,
        stall_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        reply_timeout: float = 10.0,
        poll_interval: float = 0.25,
        seq_start: int = 0,
    ) -> None:
        unique = list(dict.fromkeys(symbols))
        if len(unique) > MAX_SYMBOLS:
            raise SymbolLimitError(errors.SYMBOL_LIMIT,
                                   f"{len(unique)} symbols for one connection; at most {MAX_SYMBOLS}: "
                                   "split the universe across producers")
        if not unique:
            raise ValueError("no symbols to subscribe to")
        if mode not in ("full", "lite"):
            raise ValueError(f"mode must be 'full' or 'lite', got {mode!r}")
        self.url = url
        self.symbols = unique
        self._access_token = access_token
        self._resolve = resolve_topics
        self._on_ticks = on_ticks
        self._on_event = on_event
        self.full = mode == "full"
        self.producer_id = producer_id
        self.channel = channel
        self.source = source
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._reconnect_backoff = Backoff(backoff_initial, backoff_max)
        self.ping_interval = ping_interval
        self.stall_timeout = stall_timeout
        self.connect_timeout = connect_timeout
        self.reply_timeout = reply_timeout
        self.poll_interval = poll_interval
        self.seq_start = seq_start  # ticks' seq continue from here (fyers.feed.Feed)
        self.stats = SocketStats()
        self.topics: dict[str, str] = {}  # symbol → topic, once resolved
        self.unresolved: list[str] = []
        self.feed: Feed | None = None
        self._ws: websocket.WebSocket | None = None
        self._closing = threading.Event()
        self._attempt = 0

    # ------------------------------------------------------------------ public

    def run(self, stop: threading.Event) -> None:
        """Stream until ``stop`` is set or :meth:`close` is called. Never raises for a lost connection."""
        while not (stop.is_set() or self._closing.is_set()):
            try:
                if self.feed is None:
                    try:
                        self._resolve_topics()
                    except _Disconnect:
                        raise
                    except Exception as exc:  # noqa: BLE001 - Fyers or the token source failed: report, back off, retry
                        code = exc.code if isinstance(exc, FyersError) else None
                        raise _Disconnect(f"resolving symbols failed: {type(exc).__name__}: {exc}",
                                          failure_kind(exc), code) from None
                self._connect_and_stream(stop)
            except _Disconnect as exc:
                self._emit(exc.kind, str(exc), exc.code)
                if exc.kind != EventKind.DISCONNECTED and self._ws is not None:
                    self._emit(EventKind.DISCONNECTED, str(exc))
            except Exception as exc:  # a bug here or in a callback: report it and keep the feed alive
                log.exception("data socket loop failed")
                self._emit(EventKind.DISCONNECTED, f"unexpected error: {type(exc).__name__}: {exc}")
            finally:
                self._drop()
            if stop.is_set() or self._closing.is_set():
                break
            delay = self._backoff()
            self._emit(EventKind.RECONNECTING, f"attempt {self._attempt} in {delay:.2f}s")
            if stop.wait(delay):
                break

    @property
    def last_seq(self) -> int:
        """The last ``seq`` handed to a tick (``seq_start`` before the first)."""
        return self.feed.seq if self.feed is not None else self.seq_start

    def close(self) -> None:
        """Stop :meth:`run` from another thread; the open connection is closed."""
        self._closing.set()
        ws = self._ws
        if ws is not None:
            try:
                ws.abort()  # wakes the run thread out of recv; run() then closes and returns
            except Exception:  # noqa: BLE001 - aborting a broken socket may fail any way
                pass

    # ------------------------------------------------------------------ one connection

    def _resolve_topics(self) -> None:
        topics = self._resolve(self.symbols)
        self.topics = {s: topics[s] for s in self.symbols if s in topics}
        self.unresolved = [s for s in self.symbols if s not in topics]
        if not self.topics:
            raise _Disconnect(f"none of the {len(self.symbols)} symbols resolved to a socket topic: "
                              + ", ".join(self.symbols[:20]), EventKind.SERVER_MESSAGE)
        if self.unresolved:
            self._emit(EventKind.SERVER_MESSAGE, f"{len(self.unresolved)} unknown symbols not subscribed: "
                       + ", ".join(self.unresolved[:20]) + (" …" if len(self.unresolved) > 20 else ""))
        self.feed = Feed({t: s for s, t in self.topics.items()}, self.producer_id, seq_start=self.seq_start)

    def _connect_and_stream(self, stop: threading.Event) -> None:
        try:
            hsm_key = read_access_token(self._access_token()).hsm_key
        except Exception as exc:  # noqa: BLE001 - the token source (SSM, a refresh) failed: report, back off, retry
            code = exc.code if isinstance(exc, FyersError) else None
            kind = failure_kind(exc)
            raise _Disconnect(f"no usable access token: {type(exc).__name__}: {exc}", kind, code) from None
        try:
            ws = websocket.create_connection(self.url, timeout=self.connect_timeout, enable_multithread=True)
        except (OSError, websocket.WebSocketException) as exc:
            raise _Disconnect(f"connect to {self.url} failed: {type(exc).__name__}: {exc}") from None
        self._ws = ws
        self.stats.connects += 1
        self._emit(EventKind.CONNECTED, self.url)
        ws.settimeout(self.poll_interval)
        self._last_rx = time.monotonic()
        self._last_ping = time.monotonic()
        self._data_since_auth = 0
        self._ack_count = 0
        self._authenticated = False

        self._send(codec.encode_auth(hsm_key, self.source))
        auth = self._await(codec.AuthResponse, stop)
        if not auth.ok:
            raise _Disconnect(f"auth refused: {self._last_custom_text or 'no reason given'}",
                              code_kind(self._last_custom_code), self._last_custom_code)
        self._ack_count = auth.ack_count
        self._authenticated = True
        self._emit(EventKind.AUTHENTICATED, f"ack every {auth.ack_count} messages" if auth.ack_count else "no acks")

        self._send(codec.encode_mode(self.channel, self.full))
        if not self._await(codec.ModeResponse, stop).ok:
            raise _Disconnect("mode request refused", EventKind.SERVER_MESSAGE)

        topics = list(self.topics.values())
        accepted = 0
        for batch in subscribe_batches(topics):
            self._send(codec.encode_subscribe(batch, self.channel))
            if self._await(codec.SubscribeResponse, stop).ok:
                accepted += len(batch)
            elif self._last_custom_code is None:  # a custom message with the reason was reported already
                # Not a connection problem (e.g. the plan's symbol limit): report and keep streaming.
                self._emit(EventKind.SERVER_MESSAGE, f"subscribe of {len(batch)} topics refused, no reason given")
        self._emit(EventKind.SUBSCRIBED, f"{accepted} of {len(topics)} topics")
        if accepted:
            self._attempt = 0  # a healthy connection resets the backoff
        self._stream(stop)

    def _stream(self, stop: threading.Event) -> None:
        while not stop.is_set():
            frame = self._recv(stop)
            if frame is not None:
                self._handle(frame)
        raise _Disconnect("stopped")

    # ------------------------------------------------------------------ frames

    _last_custom_code: int | None = None
    _last_custom_text: str = ""
    _authenticated = False

    def _recv(self, stop: threading.Event) -> bytes | None:
        """One frame, or None when nothing came within the poll interval (pings and stall checks run)."""
        ws = self._ws
        if ws is None or self._closing.is_set():
            raise _Disconnect("closed by the caller")
        now = time.monotonic()
        if now - self._last_ping >= self.ping_interval:
            self._send(codec.PING)
            self.stats.pings_sent += 1
            self._last_ping = now
        if now - self._last_rx > self.stall_timeout:
            raise _Disconnect(f"stalled: nothing received for {now - self._last_rx:.1f}s")
        try:
            opcode, data = ws.recv_data()
        except websocket.WebSocketTimeoutException:
            return None
        except (OSError, websocket.WebSocketException) as exc:
            raise _Disconnect(f"connection lost: {type(exc).__name__}: {exc}") from None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raise _Disconnect(f"server closed the connection{self._close_reason(data)}")
        self._last_rx = time.monotonic()
        if opcode == websocket.ABNF.OPCODE_TEXT:
            data = data.encode() if isinstance(data, str) else data
        return data

    @staticmethod
    def _close_reason(data: bytes) -> str:
        if len(data) >= 2:
            code = int.from_bytes(data[:2])
            reason = data[2:].decode("utf-8", "replace")
            return f" ({code}{': ' + reason if reason else ''})"
        return ""

    def _await(self, kind: type, stop: threading.Event) -> Any:
        """Read frames (handling any data or server messages) until one of ``kind`` arrives."""
        self._last_custom_code, self._last_custom_text = None, ""
        deadline = time.monotonic() + self.reply_timeout
        while time.monotonic() < deadline:
            if stop.is_set():
                raise _Disconnect("stopped")
            frame = self._recv(stop)
            if frame is None:
                continue
            msg = self._handle(frame)
            if type(msg) is kind:
                return msg
        raise _Disconnect(f"no {kind.__name__} within {self.reply_timeout:g}s")

    def _handle(self, frame: bytes) -> Any:
        """Act on one frame; returns the decoded control message (None for data, pings, bad frames)."""
        if len(frame) >= 3 and frame[2] == codec.T_DATA:
            self._on_data(frame)
            return None
        if frame == codec.PING:
            return None
        try:
            msg = codec.decode_server(frame)
        except errors.FrameError as exc:
            self._malformed(str(exc), frame)
            return None
        if type(msg) is codec.Custom:
            self._last_custom_code, self._last_custom_text = msg.code, msg.text
            if not self._authenticated and msg.ref == REF_AUTH:
                pass  # the refused auth response follows; _connect_and_stream reports both together
            elif msg.code == errors.TOKEN_EXPIRED:
                self._emit(EventKind.TOKEN_EXPIRED, msg.text, msg.code)
            else:
                self._emit(EventKind.SERVER_MESSAGE, f"{msg.text} (code {msg.code}, ref {msg.ref})", msg.code)
        return msg

    def _on_data(self, frame: bytes) -> None:
        feed = self.feed
        assert feed is not None
        self.stats.data_messages += 1
        self._data_since_auth += 1
        try:
            ticks = feed.on_frame(frame, int(time.time() * 1000))
        except FeedFrameError as exc:
            # The blocks before the fault decoded, but a frame that fails to parse cannot be trusted
            # (a truncated copy of a frame repeats ticks already sent): none of it is forwarded.
            ticks = []
            self._malformed(f"{exc}; {len(exc.ticks)} decoded blocks not forwarded", frame)
        if ticks:
            self.stats.ticks += len(ticks)
            self._on_ticks(ticks)
        if self._ack_count and self._data_since_auth % self._ack_count == 0 and len(frame) >= 7:
            self._send(codec.encode_ack(codec.U32.unpack_from(frame, 3)[0]))
            self.stats.acks_sent += 1

    def _malformed(self, reason: str, frame: bytes) -> None:
        self.stats.malformed_frames += 1
        log.warning("malformed frame #%d (%d bytes): %s", self.stats.malformed_frames, len(frame), reason)
        self._emit(EventKind.MALFORMED_FRAME, reason, data=frame)

    # ------------------------------------------------------------------ plumbing

    def _send(self, frame: bytes) -> None:
        ws = self._ws
        if ws is None:
            raise _Disconnect("not connected")
        try:
            ws.send_binary(frame)
        except (OSError, websocket.WebSocketException) as exc:
            raise _Disconnect(f"send failed: {type(exc).__name__}: {exc}") from None

    def _drop(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                ws.close(timeout=0.5)
            except Exception:  # noqa: BLE001 - the connection may already be gone
                pass

    def _backoff(self) -> float:
        """Capped exponential backoff with equal jitter (tickpipe.backoff), so clients spread out."""
        delay = self._reconnect_backoff.delay(self._attempt)
        self._attempt += 1
        return delay

    def _emit(self, kind: EventKind, detail: str = "", code: int | None = None, data: bytes = b"") -> None:
        event = SocketEvent(kind, detail, time.time(), code, data)
        log.info("socket %s: %s", kind, detail)
        try:
            self._on_event(event)
        except Exception:  # a failing listener must not take the connection down
            log.exception("on_event listener failed for %s", kind)
