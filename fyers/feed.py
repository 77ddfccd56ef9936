"""Data-feed frames → normalized tick dicts: the producer's hot path.

A :class:`Feed` keeps per-topic state (the int32 values in Fyers' field order), merges each update
into it (``NO_VALUE`` keeps the old value) and returns one tick per scrip or index block, in the
tick record's field order (market/tick.py). Depth topics update their state but make no ticks: the
tick record has no depth fields.

Why it is shaped like this (measured in bench/codec.py): a topic's state is its values' big-endian
bytes (a bytearray), so an update merges all 21 values as one integer in a few operations instead of
a Python loop; a frame made only of full-mode scrip updates (the common case) is walked by
``struct.iter_unpack`` in C; each topic's price divisor is fixed at snapshot time; a tick is built
in one dict literal. The general path (snapshots, lite updates, missing values, multipliers other
than 1, odd widths) stays out of the fast one.

The common frame has a native accelerator too (native/feed_decode.c, module ``_tickpipe_feed``,
built by ``pip install`` where there is a C compiler): the same merge into the same bytearray and
the same tick dicts, several times faster. Without it, the Python loop below does the work.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fyers import codec
from fyers.errors import FeedFrameError
from market.tick import SCHEMA_VERSION

try:
    from _tickpipe_feed import full_updates as _native_full_updates
except ModuleNotFoundError:  # not built here (no C compiler at install time): the Python loop does it
    _native_full_updates = None
except ImportError as exc:  # there, but built for another CPU or Python: a packaging mistake to see
    warnings.warn(f"the feed accelerator _tickpipe_feed does not load ({exc}); decoding in Python: "
                  "rebuild it (pip install -e .)", RuntimeWarning, stacklevel=1)
    _native_full_updates = None

NATIVE = _native_full_updates is not None

NV = codec.NO_VALUE
SCRIP, INDEX, DEPTH = "sf", "if", "dp"
_FIELDS = codec.FIELDS_BY_KIND
_EXPECTED = {kind: len(names) for kind, names in _FIELDS.items()}


@dataclass(slots=True)
class _Topic:
    topic: str
    kind: str
    scrip: bool
    sym: str
    width: int  # number of int32 values
    raw: bytearray  # the values' big-endian bytes (see _full_updates' merge)
    divisor: float
    decimals: int  # digits to round a price to (only used off the fast path)
    fast: bool  # plain division gives the exact decimal and no value is missing
    # Per-width constants, fixed at snapshot time.
    nbytes: int
    unpack: Callable[[bytes | bytearray], tuple[int, ...]]
    low: int  # 0x7FFFFFFF in every lane
    high: int  # 0x80000000 in every lane (= NO_VALUE)


def _lanes(pattern: int, width: int) -> int:
    return int.from_bytes(pattern.to_bytes(4) * width)


_SCRIP_WIDTH = len(codec.SCRIP_FIELDS)
_LOW21, _HIGH21 = _lanes(0x7FFFFFFF, _SCRIP_WIDTH), _lanes(0x80000000, _SCRIP_WIDTH)
_UNPACK21 = codec.values_struct(_SCRIP_WIDTH).unpack
# A full-mode scrip update: type, topic id (LE), count, 21 big-endian int32 values as raw bytes.
_FULL_BLOCK = struct.Struct(f"<BHB{4 * _SCRIP_WIDTH}s")


@dataclass
class FeedStats:
    frames: int = 0
    ticks: int = 0
    snapshots: int = 0
    unknown_topic_updates: int = 0  # updates for a topic id no snapshot has bound (skipped)
    unmapped_topics: set[str] = field(default_factory=set)  # snapshots for topics not in topic_symbols


class Feed:
    """Decode data-feed frames into ticks for ``topic_symbols`` (topic name → Fyers symbol)."""

    def __init__(self, topic_symbols: Mapping[str, str], producer_id: str, source: str = "ws",
                 native: bool = True, seq_start: int = 0) -> None:
        self.topic_symbols = dict(topic_symbols)
        self.producer_id = producer_id
        self.source = source
        self.stats = FeedStats()
        self._topics: dict[int, _Topic] = {}
        self._seq = seq_start  # the first tick gets seq_start + 1 (the producer makes it unique across runs)
        self._native = _native_full_updates if native else None

    # -------------------------------------------------------------- inspection (tests, health)

    def values(self, topic: str) -> dict[str, int | None] | None:
        """The merged state of ``topic`` by Fyers field name (None where no value has arrived)."""
        for t in self._topics.values():
            if t.topic == topic:
                return {n: (None if v == NV else v) for n, v in zip(_FIELDS[t.kind], _state(t), strict=True)}
        return None

    @property
    def seq(self) -> int:
        """The last sequence number handed out."""
        return self._seq

    # -------------------------------------------------------------- the hot path

    def on_frame(self, frame: bytes, rx_ms: int) -> list[dict[str, Any]]:
        """Ticks from one data-feed (type 6) frame. Raises :class:`FeedFrameError` if it is malformed."""
        if len(frame) < codec.DATA_HEADER_SIZE or frame[2] != codec.T_DATA:
            raise FeedFrameError(f"not a data-feed frame ({len(frame)} bytes)", 0, [])
        count = codec.U16.unpack_from(frame, 7)[0]
        ticks: list[dict[str, Any]] = []
        done = 0
        if len(frame) - codec.DATA_HEADER_SIZE == count * _FULL_BLOCK.size:
            done = self._full_updates(frame, ticks, rx_ms)
        if done < count or not count:
            self._blocks(frame, codec.DATA_HEADER_SIZE + done * _FULL_BLOCK.size, done, count, ticks, rx_ms)
        else:
            self.stats.frames += 1
            self.stats.ticks += len(ticks)
        return ticks

    def _full_updates(self, frame: bytes, ticks: list[dict[str, Any]], rx_ms: int) -> int:
        """The common frame: only full-mode updates of fast scrip topics. Returns the blocks handled.

        The frame's size says every block may be a 21-value update; ``iter_unpack`` then walks them
        in C. The first block that is anything else stops this loop and the general one takes over.
        """
        if self._native is not None:
            done, self._seq = self._native(frame, codec.DATA_HEADER_SIZE, self._topics, ticks, rx_ms, self._seq,
                                           self.source, self.producer_id, SCHEMA_VERSION)
            return done
        append = ticks.append
        topics = self._topics
        from_bytes = int.from_bytes
        lo, hi, unpack = _LOW21, _HIGH21, _UNPACK21
        version = SCHEMA_VERSION
        source, pid = self.source, self.producer_id
        seq = self._seq
        for kind, tid, n, values in _FULL_BLOCK.iter_unpack(memoryview(frame)[codec.DATA_HEADER_SIZE :]):
            t = topics.get(tid)
            if kind != 85 or n != 21 or t is None or not t.fast:
                break
            # Lane-parallel merge on the big-endian bytes as one integer: a lane equal to 0x80000000
            # (NO_VALUE) keeps the old value. About 2x faster than merging value by value.
            upd = from_bytes(values)
            x = upd ^ hi
            state = t.raw
            raw = from_bytes(state)
            state[:] = merged = (raw ^ ((raw ^ upd) & ((((((x & lo) + lo) | x) & hi) >> 31) * 0xFFFFFFFF))).to_bytes(84)
            (ltp, vol, ltt, ts, bq, aq, bid, ask, ltq, tbq, tsq, atp, oi, dl, dh,
             _yh, _yl, _lc, _uc, op, pc) = unpack(merged)
            seq += 1
            d = t.divisor
            append({
                "sym": t.sym, "ts": ts, "ltt": ltt, "ltp": ltp / d, "ltq": ltq, "vol": vol,
                "atp": atp / d, "bid": bid / d, "ask": ask / d, "bq": bq, "aq": aq,
                "tbq": tbq, "tsq": tsq, "oi": oi, "dh": dh / d, "dl": dl / d, "op": op / d,
                "pc": pc / d, "src": source, "pid": pid, "seq": seq, "rx": rx_ms, "v": version,
            })
        self._seq = seq
        return len(ticks)

    def _blocks(self, frame: bytes, offset: int, first: int, count: int, ticks: list[dict[str, Any]],
                rx_ms: int) -> None:
        """Blocks ``first``.. of a frame, any kind, from ``offset``: the general path."""
        append = ticks.append
        topics = self._topics
        header = codec.UPDATE_HEADER.unpack_from
        from_bytes = int.from_bytes
        flen = len(frame)
        version = SCHEMA_VERSION
        source, pid = self.source, self.producer_id
        seq = self._seq
        i = first
        try:
            for i in range(first, count):
                kind, tid, n = header(frame, offset)
                if kind == 85:
                    end = offset + 4 + 4 * n
                    t = topics.get(tid)
                    if t is None:
                        offset = end
                        self.stats.unknown_topic_updates += 1
                        continue
                    if end > flen:
                        raise IndexError("update past end of frame")
                    if n == t.width:  # the lane-parallel merge of _full_updates, for any width
                        upd = from_bytes(frame[offset + 4 : end])
                        hi, lo = t.high, t.low
                        x = upd ^ hi
                        raw = from_bytes(t.raw)
                        raw ^= (raw ^ upd) & ((((((x & lo) + lo) | x) & hi) >> 31) * 0xFFFFFFFF)
                        t.raw[:] = raw.to_bytes(t.nbytes)
                        st = t.unpack(t.raw)
                    else:
                        st = _merge_uneven(t, codec.values_struct(n).unpack_from(frame, offset + 4))
                    offset = end
                elif kind == 76:
                    ltp = codec.I32.unpack_from(frame, offset + 3)[0]
                    offset += 7
                    t = topics.get(tid)
                    if t is None:
                        self.stats.unknown_topic_updates += 1
                        continue
                    if ltp != NV:
                        t.raw[:4] = (ltp & 0xFFFFFFFF).to_bytes(4)  # ltp is the first value
                    st = t.unpack(t.raw)
                elif kind == 83:
                    snap, offset = codec.read_snapshot(frame, offset)
                    t = self._bind(snap)
                    st = t.unpack(t.raw)
                else:
                    raise FeedFrameError(f"data block {i} of {count} has unknown type {kind}", offset, ticks)
                if t.scrip:
                    seq += 1
                    if t.fast:
                        d = t.divisor
                        (ltp, vol, ltt, ts, bq, aq, bid, ask, ltq, tbq, tsq, atp, oi, dl, dh,
                         _yh, _yl, _lc, _uc, op, pc) = st
                        append({
                            "sym": t.sym, "ts": ts, "ltt": ltt, "ltp": ltp / d, "ltq": ltq, "vol": vol,
                            "atp": atp / d, "bid": bid / d, "ask": ask / d, "bq": bq, "aq": aq,
                            "tbq": tbq, "tsq": tsq, "oi": oi, "dh": dh / d, "dl": dl / d, "op": op / d,
                            "pc": pc / d, "src": source, "pid": pid, "seq": seq, "rx": rx_ms,
                            "v": version,
                        })
                    else:
                        append(self._scrip_tick(t, st, seq, rx_ms))
                        t.fast = t.divisor == 10**t.decimals and NV not in st
                elif t.kind == INDEX:
                    seq += 1
                    append(self._index_tick(t, st, seq, rx_ms))
        except (struct.error, IndexError, UnicodeDecodeError) as exc:
            self._seq = seq
            raise FeedFrameError(f"data block {i} of {count} is truncated or garbled ({exc})", offset,
                                 ticks) from None
        finally:
            self._seq = seq
            self.stats.frames += 1
            self.stats.ticks += len(ticks)
        if offset != len(frame):
            raise FeedFrameError(f"{len(frame) - offset} trailing bytes after {count} data blocks", offset, ticks)

    # -------------------------------------------------------------- the general path

    def _bind(self, snap: codec.Snapshot) -> _Topic:
        """A snapshot binds its topic id to the topic and replaces its state."""
        self.stats.snapshots += 1
        kind = snap.topic[:2]
        if kind not in _FIELDS:
            kind = DEPTH if len(snap.values) == _EXPECTED[DEPTH] else SCRIP
        sym = self.topic_symbols.get(snap.topic)
        if sym is None:
            self.stats.unmapped_topics.add(snap.topic)
            sym = snap.symbol if ":" in snap.symbol else f"{snap.exchange}:{snap.symbol}"
        width = _EXPECTED[kind]
        values = list(snap.values[:width]) + [NV] * (width - len(snap.values))
        multiplier = snap.multiplier or 1  # 0 would divide by zero; Fyers means "no multiplier"
        decimals = snap.precision + _extra_decimals(multiplier)
        divisor = float(10**snap.precision * multiplier)
        layout = codec.values_struct(width)
        t = _Topic(
            snap.topic, kind, kind == SCRIP, sym, width, bytearray(layout.pack(*values)), divisor, decimals,
            fast=kind == SCRIP and divisor == 10**decimals and NV not in values, nbytes=layout.size, unpack=layout.unpack,
            low=_lanes(0x7FFFFFFF, width), high=_lanes(0x80000000, width),
        )
        self._topics[snap.topic_id] = t
        return t

    def _price(self, t: _Topic, raw: int) -> float | None:
        if raw == NV:
            return None
        return round(raw / t.divisor, t.decimals)

    def _scrip_tick(self, t: _Topic, st: tuple[int, ...], seq: int, rx_ms: int) -> dict[str, Any]:
        s = [None if v == NV else v for v in st]
        p = self._price
        return {
            "sym": t.sym, "ts": s[3], "ltt": s[2], "ltp": p(t, st[0]), "ltq": s[8], "vol": s[1],
            "atp": p(t, st[11]), "bid": p(t, st[6]), "ask": p(t, st[7]), "bq": s[4], "aq": s[5],
            "tbq": s[9], "tsq": s[10], "oi": s[12], "dh": p(t, st[14]), "dl": p(t, st[13]),
            "op": p(t, st[19]), "pc": p(t, st[20]), "src": self.source, "pid": self.producer_id,
            "seq": seq, "rx": rx_ms, "v": SCHEMA_VERSION,
        }

    def _index_tick(self, t: _Topic, st: tuple[int, ...], seq: int, rx_ms: int) -> dict[str, Any]:
        p = self._price
        ts = st[2]
        return {
            "sym": t.sym, "ts": None if ts == NV else ts, "ltt": None, "ltp": p(t, st[0]), "ltq": None,
            "vol": None, "atp": None, "bid": None, "ask": None, "bq": None, "aq": None, "tbq": None,
            "tsq": None, "oi": None, "dh": p(t, st[3]), "dl": p(t, st[4]), "op": p(t, st[5]),
            "pc": p(t, st[1]), "src": self.source, "pid": self.producer_id, "seq": seq, "rx": rx_ms,
            "v": SCHEMA_VERSION,
        }


def _extra_decimals(multiplier: int) -> int:
    """Decimal places that dividing by ``multiplier`` adds: max(a, b) for 2**a * 5**b, else a safe 6."""
    twos = fives = 0
    while multiplier % 2 == 0:
        multiplier //= 2
        twos += 1
    while multiplier % 5 == 0:
        multiplier //= 5
        fives += 1
    return max(twos, fives) if multiplier == 1 else max(twos, fives) + 6


def _state(t: _Topic) -> tuple[int, ...]:
    return t.unpack(t.raw)


def _merge_uneven(t: _Topic, vals: tuple[int, ...]) -> tuple[int, ...]:
    """Merge an update whose value count differs from the topic's: values past its width are ignored."""
    merged = list(_state(t))
    for i, v in enumerate(vals[: t.width]):
        if v != NV:
            merged[i] = v
    t.raw[:] = codec.values_struct(t.width).pack(*merged)
    return tuple(merged)
