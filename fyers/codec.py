"""The Fyers data-socket (HSM) wire format, both directions: bytes in, typed messages out, and back.

Pure functions, no I/O. The client (fyers.socket) and the simulator (fyers.sim) both speak through
this module, so the byte layout lives here once (FYERS.md, "Data socket framing").

Every message is ``length (2) · type (1)`` followed, for all but data frames and ping, by a field
count (1) and fields ``id (1) · length (2) · value``. Integers are big-endian except the topic id
inside data blocks, which Fyers writes little-endian. Client messages' length prefix is unreliable
(the SDK sends 0 for some), so :func:`decode_client` parses by fields; :func:`decode_server` parses
data frames by structure too, because a large snapshot frame does not fit a 2-byte length.

The producer's hot path does not build :class:`FullUpdate` objects: fyers.feed walks data frames
with the structs and block constants exported here.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final, NamedTuple

from fyers.errors import FrameError

PING: Final = b"\x00\x01\x0b"
NO_VALUE: Final = -2147483648  # "no value / unchanged": keep the previous one

# Field order inside data blocks (FYERS.md). Index positions are used by fyers.feed.
SCRIP_FIELDS: Final[tuple[str, ...]] = (
    "ltp", "vol_traded_today", "last_traded_time", "exch_feed_time", "bid_size", "ask_size",
    "bid_price", "ask_price", "last_traded_qty", "tot_buy_qty", "tot_sell_qty", "avg_trade_price",
    "OI", "low_price", "high_price", "Yhigh", "Ylow", "lower_ckt", "upper_ckt", "open_price",
    "prev_close_price",
)
INDEX_FIELDS: Final[tuple[str, ...]] = (
    "ltp", "prev_close_price", "exch_feed_time", "high_price", "low_price", "open_price",
)
DEPTH_FIELDS: Final[tuple[str, ...]] = (
    *(f"bid_price{i}" for i in range(1, 6)), *(f"ask_price{i}" for i in range(1, 6)),
    *(f"bid_size{i}" for i in range(1, 6)), *(f"ask_size{i}" for i in range(1, 6)),
    *(f"bid_order{i}" for i in range(1, 6)), *(f"ask_order{i}" for i in range(1, 6)),
)
FIELDS_BY_KIND: Final[dict[str, tuple[str, ...]]] = {"sf": SCRIP_FIELDS, "if": INDEX_FIELDS, "dp": DEPTH_FIELDS}

# Message types.
T_AUTH: Final = 1
T_ACK: Final = 3
T_SUBSCRIBE: Final = 4
T_UNSUBSCRIBE: Final = 5
T_DATA: Final = 6
T_PAUSE: Final = 7
T_RESUME: Final = 8
T_PING: Final = 11
T_MODE: Final = 12
T_CUSTOM: Final = 51

# Data block types.
BLOCK_SNAPSHOT: Final = 83  # 'S'
BLOCK_FULL: Final = 85  # 'U'
BLOCK_LITE: Final = 76  # 'L'

MODE_FULL: Final = 70  # 'F'
MODE_LITE: Final = 76  # 'L'
STATUS_OK: Final = b"K"
STATUS_ERROR: Final = b"E"
DEFAULT_CHANNEL: Final = 11
INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1

# Precompiled layouts.
U8: Final = struct.Struct(">B")
U16: Final = struct.Struct(">H")
U16LE: Final = struct.Struct("<H")
U32: Final = struct.Struct(">I")
I32: Final = struct.Struct(">i")
U64: Final = struct.Struct(">Q")
FIELD_HEADER: Final = struct.Struct(">BH")  # field id, field length
DATA_HEADER: Final = struct.Struct(">HBIH")  # length, type, message number, block count
DATA_HEADER_SIZE: Final = DATA_HEADER.size  # 9: blocks start here
# Block header: type (1) · topic id (uint16 LE) · field count (1). Bytes have no endianness.
UPDATE_HEADER: Final = struct.Struct("<BHB")
LITE_BLOCK: Final = struct.Struct("<H")  # topic id; the ltp follows as a big-endian int32
SNAPSHOT_TRAILER: Final = struct.Struct(">2xHB")  # 2 skipped bytes, multiplier, precision

_VALUES: dict[int, struct.Struct] = {}


def values_struct(count: int) -> struct.Struct:
    """The precompiled ``>{count}i`` layout of a block's int32 values (cached per count)."""
    s = _VALUES.get(count)
    if s is None:
        s = _VALUES[count] = struct.Struct(f">{count}i")
    return s


# ----------------------------------------------------------------------------- client → server


class Auth(NamedTuple):
    hsm_key: str
    mode: str = "P"
    source: str = "tickpipe"


class Mode(NamedTuple):
    channel_mask: int
    full: bool


class Subscribe(NamedTuple):
    topics: tuple[str, ...]
    channel: int = DEFAULT_CHANNEL


class Unsubscribe(NamedTuple):
    topics: tuple[str, ...]
    channel: int = DEFAULT_CHANNEL


class Pause(NamedTuple):
    channel_mask: int


class Resume(NamedTuple):
    channel_mask: int


class Ack(NamedTuple):
    message_number: int


class Ping(NamedTuple):
    pass


ClientMessage = Auth | Mode | Subscribe | Unsubscribe | Pause | Resume | Ack | Ping


def _field(field_id: int, value: bytes) -> bytes:
    if len(value) > 0xFFFF:
        raise ValueError(f"field {field_id} is {len(value)} bytes; a field holds at most 65535")
    return FIELD_HEADER.pack(field_id, len(value)) + value


def _message(msg_type: int, fields: Sequence[bytes], length: int | None = None) -> bytes:
    body = bytes((msg_type, len(fields))) + b"".join(_field(i, v) for i, v in enumerate(fields, 1))
    if length is None:
        length = min(len(body), 0xFFFF)
    return U16.pack(length) + body


def _ascii(text: str, what: str) -> bytes:
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"{what} must be ASCII, got {text!r}") from None


def channel_mask(channel: int) -> int:
    if not 0 <= channel < 64:
        raise ValueError(f"channel must be 0..63, got {channel}")
    return 1 << channel


def encode_auth(hsm_key: str, source: str = "tickpipe") -> bytes:
    """Auth (type 1): hsm_key from the access token, mode ``P``, flag 1, source name."""
    return _message(T_AUTH, [_ascii(hsm_key, "hsm_key"), b"P", b"\x01", source.encode()])


def encode_mode(channel: int, full: bool) -> bytes:
    """Mode (type 12): full (``F``) or lite (``L``) for a channel."""
    return _message(T_MODE, [U64.pack(channel_mask(channel)), bytes((MODE_FULL if full else MODE_LITE,))])


def _topics_field(topics: Sequence[str]) -> bytes:
    if len(topics) > 0xFFFF:
        raise ValueError(f"{len(topics)} topics in one message; at most 65535")
    parts = [U16.pack(len(topics))]
    for topic in topics:
        raw = _ascii(topic, "topic")
        if not 0 < len(raw) <= 0xFF:
            raise ValueError(f"topic {topic!r} must be 1..255 bytes")
        parts.append(bytes((len(raw),)) + raw)
    return b"".join(parts)


def encode_subscribe(topics: Sequence[str], channel: int = DEFAULT_CHANNEL) -> bytes:
    """Subscribe (type 4): topic list and channel."""
    channel_mask(channel)
    return _message(T_SUBSCRIBE, [_topics_field(topics), bytes((channel,))])


def encode_unsubscribe(topics: Sequence[str], channel: int = DEFAULT_CHANNEL) -> bytes:
    """Unsubscribe (type 5): as subscribe."""
    channel_mask(channel)
    return _message(T_UNSUBSCRIBE, [_topics_field(topics), bytes((channel,))])


def encode_pause(channel: int) -> bytes:
    return _message(T_PAUSE, [U64.pack(channel_mask(channel))])


def encode_resume(channel: int) -> bytes:
    return _message(T_RESUME, [U64.pack(channel_mask(channel))])


def encode_ack(message_number: int) -> bytes:
    """Ack (type 3) of a data message number; length prefix 9 as the SDK sends it."""
    if not 0 <= message_number <= 0xFFFFFFFF:
        raise ValueError(f"message number must be a uint32, got {message_number}")
    return _message(T_ACK, [U32.pack(message_number)])


def _parse_fields(frame: bytes, what: str) -> dict[int, bytes]:
    """Fields of a ``length · type · count · fields`` message, by id.

    A field's length is big-endian; if that overruns the frame but the little-endian reading fits,
    take that (Fyers' subscribe response is read that way by its SDK, so either may be on the wire).
    """
    if len(frame) < 4:
        raise FrameError(f"{what}: frame of {len(frame)} bytes has no field count", len(frame))
    count = frame[3]
    offset = 4
    out: dict[int, bytes] = {}
    for _ in range(count):
        if offset + 3 > len(frame):
            raise FrameError(f"{what}: field header truncated ({len(out)} of {count} fields read)", offset)
        field_id = frame[offset]
        length = U16.unpack_from(frame, offset + 1)[0]
        offset += 3
        if offset + length > len(frame):
            le = U16LE.unpack_from(frame, offset - 2)[0]
            if offset + le > len(frame):
                raise FrameError(
                    f"{what}: field {field_id} claims {length} bytes, {len(frame) - offset} remain", offset
                )
            length = le
        out[field_id] = frame[offset : offset + length]
        offset += length
    if offset != len(frame):
        raise FrameError(f"{what}: {len(frame) - offset} trailing bytes after {count} fields", offset)
    return out


def _need(fields: dict[int, bytes], field_id: int, size: int | None, what: str) -> bytes:
    value = fields.get(field_id)
    if value is None:
        raise FrameError(f"{what}: field {field_id} missing")
    if size is not None and len(value) != size:
        raise FrameError(f"{what}: field {field_id} is {len(value)} bytes, expected {size}")
    return value


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FrameError(f"{what}: not UTF-8 text ({exc.reason})", exc.start) from None


def _decode_topics(raw: bytes, what: str) -> tuple[str, ...]:
    if len(raw) < 2:
        raise FrameError(f"{what}: topic list too short")
    count = U16.unpack_from(raw, 0)[0]
    offset = 2
    topics = []
    for i in range(count):
        if offset >= len(raw):
            raise FrameError(f"{what}: topic {i} of {count} missing", offset)
        n = raw[offset]
        if offset + 1 + n > len(raw):
            raise FrameError(f"{what}: topic {i} claims {n} bytes, {len(raw) - offset - 1} remain", offset)
        topics.append(_text(raw[offset + 1 : offset + 1 + n], what))
        offset += 1 + n
    if offset != len(raw):
        raise FrameError(f"{what}: {len(raw) - offset} trailing bytes after {count} topics", offset)
    return tuple(topics)


def decode_client(frame: bytes) -> ClientMessage:
    """Parse one client → server frame. Raises :class:`FrameError` when malformed or unknown."""
    if len(frame) < 3:
        raise FrameError(f"frame of {len(frame)} bytes is too short for a message", 0)
    msg_type = frame[2]
    if msg_type == T_PING:
        if len(frame) != 3:
            raise FrameError(f"ping must be 3 bytes, got {len(frame)}", 3)
        return Ping()
    if msg_type == T_AUTH:
        f = _parse_fields(frame, "auth")
        return Auth(
            hsm_key=_text(_need(f, 1, None, "auth"), "auth hsm_key"),
            mode=_text(f.get(2, b"P"), "auth mode"),
            source=_text(f.get(4, b""), "auth source"),
        )
    if msg_type == T_MODE:
        f = _parse_fields(frame, "mode")
        mode = _need(f, 2, 1, "mode")[0]
        if mode not in (MODE_FULL, MODE_LITE):
            raise FrameError(f"mode: expected 70 (F) or 76 (L), got {mode}")
        return Mode(U64.unpack(_need(f, 1, 8, "mode"))[0], mode == MODE_FULL)
    if msg_type in (T_SUBSCRIBE, T_UNSUBSCRIBE):
        what = "subscribe" if msg_type == T_SUBSCRIBE else "unsubscribe"
        f = _parse_fields(frame, what)
        topics = _decode_topics(_need(f, 1, None, what), what)
        channel = _need(f, 2, 1, what)[0]
        return (Subscribe if msg_type == T_SUBSCRIBE else Unsubscribe)(topics, channel)
    if msg_type in (T_PAUSE, T_RESUME):
        what = "pause" if msg_type == T_PAUSE else "resume"
        f = _parse_fields(frame, what)
        return (Pause if msg_type == T_PAUSE else Resume)(U64.unpack(_need(f, 1, 8, what))[0])
    if msg_type == T_ACK:
        f = _parse_fields(frame, "ack")
        return Ack(U32.unpack(_need(f, 1, 4, "ack"))[0])
    raise FrameError(f"unknown client message type {msg_type}", 2)


# ----------------------------------------------------------------------------- server → client


class AuthResponse(NamedTuple):
    ok: bool
    ack_count: int = 0


class SubscribeResponse(NamedTuple):
    ok: bool
    unsubscribe: bool = False


class ModeResponse(NamedTuple):
    ok: bool


class PauseResponse(NamedTuple):
    ok: bool


class ResumeResponse(NamedTuple):
    ok: bool


class Custom(NamedTuple):
    """Type 51: a server message. ``ref`` names the request it answers (1 auth, 4 sub, 5 unsub, 7, 8)."""

    code: int
    text: str
    ref: int


class Snapshot(NamedTuple):
    topic_id: int
    topic: str
    values: tuple[int, ...]
    multiplier: int = 1
    precision: int = 2
    exchange: str = ""
    token: str = ""
    symbol: str = ""


class FullUpdate(NamedTuple):
    topic_id: int
    values: tuple[int, ...]


class LiteUpdate(NamedTuple):
    topic_id: int
    ltp: int


Block = Snapshot | FullUpdate | LiteUpdate


class DataFeed(NamedTuple):
    message_number: int
    blocks: tuple[Block, ...]


ServerMessage = AuthResponse | SubscribeResponse | ModeResponse | PauseResponse | ResumeResponse | Custom | DataFeed


def _status(ok: bool) -> bytes:
    return STATUS_OK if ok else STATUS_ERROR


def encode_auth_response(ok: bool, ack_count: int = 0) -> bytes:
    return _message(T_AUTH, [_status(ok), U32.pack(ack_count)])


def encode_subscribe_response(ok: bool, unsubscribe: bool = False) -> bytes:
    return _message(T_UNSUBSCRIBE if unsubscribe else T_SUBSCRIBE, [_status(ok)])


def encode_mode_response(ok: bool) -> bytes:
    return _message(T_MODE, [_status(ok)])


def encode_pause_response(ok: bool) -> bytes:
    return _message(T_PAUSE, [_status(ok)])


def encode_resume_response(ok: bool) -> bytes:
    return _message(T_RESUME, [_status(ok)])


def encode_custom(code: int, text: str, ref: int) -> bytes:
    return _message(T_CUSTOM, [I32.pack(code), text.encode("utf-8"), bytes((ref,))])


def _values(values: Sequence[int]) -> bytes:
    if len(values) > 0xFF:
        raise ValueError(f"a block holds at most 255 values, got {len(values)}")
    try:
        return bytes((len(values),)) + values_struct(len(values)).pack(*values)
    except struct.error:
        raise ValueError(f"block values must be int32, got {values!r}") from None


def _short(text: str, what: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 0xFF:
        raise ValueError(f"{what} {text!r} is longer than 255 bytes")
    return bytes((len(raw),)) + raw


def encode_block(block: Block) -> bytes:
    if type(block) is FullUpdate:
        return bytes((BLOCK_FULL,)) + U16LE.pack(block.topic_id) + _values(block.values)
    if type(block) is LiteUpdate:
        return bytes((BLOCK_LITE,)) + U16LE.pack(block.topic_id) + I32.pack(block.ltp)
    if type(block) is Snapshot:
        return b"".join((
            bytes((BLOCK_SNAPSHOT,)), U16LE.pack(block.topic_id), _short(block.topic, "topic"),
            _values(block.values), SNAPSHOT_TRAILER.pack(block.multiplier, block.precision),
            _short(block.exchange, "exchange"), _short(block.token, "token"), _short(block.symbol, "symbol"),
        ))
    raise TypeError(f"not a data block: {block!r}")


def encode_data(message_number: int, blocks: Sequence[Block]) -> bytes:
    """Data feed (type 6). The 2-byte length saturates for frames over 64 KiB; readers parse by structure."""
    if len(blocks) > 0xFFFF:
        raise ValueError(f"a data frame holds at most 65535 blocks, got {len(blocks)}")
    body = b"".join(encode_block(b) for b in blocks)
    size = DATA_HEADER_SIZE - 2 + len(body)
    return DATA_HEADER.pack(min(size, 0xFFFF), T_DATA, message_number, len(blocks)) + body


def read_snapshot(frame: bytes, offset: int) -> tuple[Snapshot, int]:
    """Parse a snapshot block whose type byte is at ``offset``; returns it and the next offset."""
    topic_id = U16LE.unpack_from(frame, offset + 1)[0]
    n = frame[offset + 3]
    pos = offset + 4
    topic = frame[pos : pos + n].decode("utf-8")
    pos += n
    count = frame[pos]
    values = values_struct(count).unpack_from(frame, pos + 1)
    pos += 1 + 4 * count
    multiplier, precision = SNAPSHOT_TRAILER.unpack_from(frame, pos)
    pos += SNAPSHOT_TRAILER.size
    strings = []
    for _ in range(3):
        n = frame[pos]
        if pos + 1 + n > len(frame):
            raise IndexError("string past end of frame")
        strings.append(frame[pos + 1 : pos + 1 + n].decode("utf-8"))
        pos += 1 + n
    return Snapshot(topic_id, topic, values, multiplier, precision, *strings), pos


def _decode_data(frame: bytes) -> DataFeed:
    if len(frame) < DATA_HEADER_SIZE:
        raise FrameError(f"data frame of {len(frame)} bytes has no header", 0)
    _, _, number, count = DATA_HEADER.unpack_from(frame, 0)
    offset = DATA_HEADER_SIZE
    blocks: list[Block] = []
    for i in range(count):
        start = offset
        try:
            kind = frame[offset]
            if kind == BLOCK_FULL:
                _, topic_id, n = UPDATE_HEADER.unpack_from(frame, offset)
                blocks.append(FullUpdate(topic_id, values_struct(n).unpack_from(frame, offset + 4)))
                offset += 4 + 4 * n
            elif kind == BLOCK_LITE:
                topic_id = LITE_BLOCK.unpack_from(frame, offset + 1)[0]
                blocks.append(LiteUpdate(topic_id, I32.unpack_from(frame, offset + 3)[0]))
                offset += 7
            elif kind == BLOCK_SNAPSHOT:
                snapshot, offset = read_snapshot(frame, offset)
                blocks.append(snapshot)
            else:
                raise FrameError(f"data block {i} of {count} has unknown type {kind}", start)
        except (struct.error, IndexError) as exc:
            raise FrameError(f"data block {i} of {count} is truncated ({exc})", start) from None
        except UnicodeDecodeError:
            raise FrameError(f"data block {i} of {count} has a name that is not UTF-8", start) from None
    if offset != len(frame):
        raise FrameError(f"{len(frame) - offset} trailing bytes after {count} data blocks", offset)
    return DataFeed(number, tuple(blocks))


def _ok(fields: dict[int, bytes], what: str) -> bool:
    return _need(fields, 1, None, what) == STATUS_OK


def decode_server(frame: bytes) -> ServerMessage:
    """Parse one server → client frame. Raises :class:`FrameError` when malformed or unknown."""
    if len(frame) < 3:
        raise FrameError(f"frame of {len(frame)} bytes is too short for a message", 0)
    msg_type = frame[2]
    if msg_type == T_DATA:
        return _decode_data(frame)
    if msg_type == T_AUTH:
        f = _parse_fields(frame, "auth response")
        ack = f.get(2)
        ack_count = U32.unpack(ack)[0] if ack is not None and len(ack) == 4 else 0
        return AuthResponse(_ok(f, "auth response"), ack_count)
    if msg_type in (T_SUBSCRIBE, T_UNSUBSCRIBE):
        f = _parse_fields(frame, "subscribe response")
        return SubscribeResponse(_ok(f, "subscribe response"), msg_type == T_UNSUBSCRIBE)
    if msg_type == T_MODE:
        return ModeResponse(_ok(_parse_fields(frame, "mode response"), "mode response"))
    if msg_type == T_PAUSE:
        return PauseResponse(_ok(_parse_fields(frame, "pause response"), "pause response"))
    if msg_type == T_RESUME:
        return ResumeResponse(_ok(_parse_fields(frame, "resume response"), "resume response"))
    if msg_type == T_CUSTOM:
        f = _parse_fields(frame, "custom message")
        code = I32.unpack(_need(f, 1, 4, "custom message"))[0]
        text = _text(f.get(2, b""), "custom message text")
        ref = f.get(3, b"\x00")
        return Custom(code, text, ref[0] if ref else 0)
    raise FrameError(f"unknown server message type {msg_type}", 2)
