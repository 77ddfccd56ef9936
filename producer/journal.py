"""A bounded, append-only on-disk journal: where records wait while Kinesis cannot take them.

Layout: a directory of segment files ``seg-<number>.log`` and a ``cursor`` file. Each entry is
``length (u32, big-endian) · crc32 of payload (u32) · payload``. Entries are read back in the
order written; :meth:`Journal.commit` moves the durable read position (the ``cursor`` file,
replaced atomically) and deletes segments that are fully read. Reading without committing and
then crashing replays those entries again: delivery is at least once, and readers recognise
duplicates by tick state (DESIGN.md).

Recovery: on open every segment after the cursor is scanned. A bad entry (CRC or length wrong)
with good entries after it is corruption: its bytes are moved to ``quarantine/`` and every good
entry is kept (the segment is rewritten without the bad bytes). Only what has no good entry after
it ends the log: an incomplete final entry (a crash mid-write, a "torn tail") is truncated, so an
append after recovery never lands behind garbage. Entries are never empty, so zeroed pages are
never mistaken for entries.

fsync policy (``fsync``): ``"always"`` fsyncs after every append (slow, survives power loss);
``"interval"`` (default) fsyncs at most every ``fsync_interval`` seconds and on close, so a
power loss loses at most that window, a process crash loses nothing (the OS has the pages);
``"never"`` leaves it to the OS. The cursor file is fsynced on every commit.

Bound: ``max_bytes`` caps the segments on disk. :meth:`append` returns False when an entry does
not fit; the caller records the gap. The journal never overwrites unread entries.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from producer.errors import JournalError
from tickpipe.kpl import MAGIC  # every journalled record starts with it

log = logging.getLogger(__name__)

_HEADER: Final = struct.Struct(">II")
FSYNC_POLICIES: Final = ("always", "interval", "never")
MAX_ENTRY_BYTES: Final = 16 * 1024 * 1024
QUARANTINE_DIR: Final = "quarantine"
RESYNC_SCAN: Final = 1 << 16  # bytes after a bad entry searched for the next good one, position by position


def _entry_end(raw: bytes, off: int) -> int | None:
    """End offset of a whole, CRC-correct, non-empty entry at ``off``, else None."""
    if len(raw) - off < _HEADER.size:
        return None
    length, crc = _HEADER.unpack_from(raw, off)
    end = off + _HEADER.size + length
    if not 0 < length <= MAX_ENTRY_BYTES or end > len(raw):
        return None
    return end if zlib.crc32(memoryview(raw)[off + _HEADER.size:end]) == crc else None


def _resync(raw: bytes, bad: int) -> int | None:
    """The offset of the next good entry after a bad one at ``bad``, or None if there is none.

    Tried in order of position: every offset in the next RESYNC_SCAN bytes, then the entry end the
    (possibly intact) length field names, then every KPL record start (what the producer journals).
    """
    size = len(raw)
    candidates: set[int] = set(range(bad + 1, min(size, bad + 1 + RESYNC_SCAN)))
    if size - bad >= _HEADER.size:
        candidates.add(bad + _HEADER.size + _HEADER.unpack_from(raw, bad)[0])
    i = raw.find(MAGIC, bad + 1)
    while i != -1:
        if i - _HEADER.size > bad:
            candidates.add(i - _HEADER.size)
        i = raw.find(MAGIC, i + 1)
    for pos in sorted(c for c in candidates if c < size):
        if _entry_end(raw, pos) is not None:
            return pos
    return None


@dataclass(frozen=True, order=True)
class Position:
    segment: int
    offset: int


class Journal:
    def __init__(self, directory: str | os.PathLike[str], *, max_bytes: int = 1 << 30,
                 segment_bytes: int = 64 << 20, fsync: str = "interval", fsync_interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if fsync not in FSYNC_POLICIES:
            raise JournalError(f"fsync policy must be one of {FSYNC_POLICIES}, got {fsync!r}")
        self.dir = Path(directory)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(f"cannot create journal directory {self.dir}: {exc}") from None
        # One writer per directory: two producers sharing a journal would interleave and lose entries.
        self._lock_file = (self.dir / "lock").open("a")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise JournalError(f"journal directory {self.dir} is in use by another producer; give each producer "
                               "its own TICKPIPE_PRODUCER_JOURNAL_DIR") from None
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self.fsync_interval = fsync_interval
        self.clock = clock
        self._lock = threading.RLock()
        self._last_sync = clock()
        self._dirty = False
        self.truncated_bytes = 0  # torn-tail bytes cut at recovery
        self.quarantined = 0  # corrupt byte ranges moved to quarantine/ at recovery
        self.quarantined_bytes = 0
        self._recover()

    # -- recovery ---------------------------------------------------------------------------
    def _segment_path(self, n: int) -> Path:
        return self.dir / f"seg-{n:012d}.log"

    def _segments(self) -> list[int]:
        return sorted(int(p.stem[4:]) for p in self.dir.glob("seg-*.log"))

    def _read_cursor(self) -> Position:
        try:
            seg, off = (self.dir / "cursor").read_text().split()
            return Position(int(seg), int(off))
        except FileNotFoundError:
            return Position(0, 0)
        except ValueError:
            log.error("journal cursor file in %s is unreadable; replaying the whole journal", self.dir)
            return Position(0, 0)

    def _scan(self, path: Path, start: int) -> tuple[int, int]:
        """Recover a segment from ``start``: (entries kept, valid end offset).

        A bad entry followed by good ones is corruption (a flipped bit, a bad sector): its bytes go
        to ``quarantine/`` and the segment is rewritten without them, keeping every good entry. Bad
        bytes with nothing good after them are the end of the log: an incomplete final entry is a
        torn tail (a crash mid-write) and is cut; a complete one that fails its CRC is quarantined.
        """
        raw = path.read_bytes()
        size = len(raw)
        kept: list[tuple[int, int]] = []  # (offset, end) of good entries after start
        bad: list[tuple[int, int]] = []
        off = start
        while off < size:
            end = _entry_end(raw, off)
            if end is not None:
                kept.append((off, end))
                off = end
                continue
            nxt = _resync(raw, off)
            if nxt is None:
                break
            bad.append((off, nxt))
            off = nxt
        tail = off  # bytes from here on have no good entry after them
        if tail < size:
            length = _HEADER.unpack_from(raw, tail)[0] if size - tail >= _HEADER.size else None
            torn = length is None or tail + _HEADER.size + length > size
            if not torn:
                bad.append((tail, size))
            else:
                self.truncated_bytes += size - tail
                log.warning("journal %s: torn tail of %d bytes at offset %d truncated (crash mid-write)",
                            path.name, size - tail, tail)
        for lo, hi in bad:
            self._quarantine(path, lo, raw[lo:hi])
        if bad:
            body = raw[:start] + b"".join(raw[lo:hi] for lo, hi in kept)
            tmp = path.with_suffix(".rewrite")
            with tmp.open("wb") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            return len(kept), len(body)
        if tail < size:
            with path.open("r+b") as f:
                f.truncate(tail)
                os.fsync(f.fileno())
        return len(kept), tail

    def _quarantine(self, path: Path, offset: int, data: bytes) -> None:
        qdir = self.dir / QUARANTINE_DIR
        qdir.mkdir(exist_ok=True)
        target = qdir / f"{path.stem}-at-{offset}.bad"
        target.write_bytes(data)
        self.quarantined += 1
        self.quarantined_bytes += len(data)
        log.error("journal %s: %d corrupt bytes at offset %d (CRC or length wrong) moved to %s; the entries "
                  "after them are kept", path.name, len(data), offset, target)

    def _recover(self) -> None:
        self.cursor = self._read_cursor()
        segments = self._segments()
        for n in segments:
            if n < self.cursor.segment:
                self._segment_path(n).unlink(missing_ok=True)  # fully read before a crash
        segments = [n for n in segments if n >= self.cursor.segment]
        self.pending_entries = 0
        for n in segments:
            path = self._segment_path(n)
            start = self.cursor.offset if n == self.cursor.segment else 0
            size = path.stat().st_size
            if start > size:
                log.error("journal cursor %s is past the end of %s; replaying that segment", self.cursor, path)
                start = 0
                self.cursor = Position(n, 0)
            entries, _end = self._scan(path, start)
            self.pending_entries += entries
        if not segments:
            segments = [max(self.cursor.segment, 1)]
        if self.cursor.segment < segments[0]:
            self.cursor = Position(segments[0], 0)
        self._write_segment = segments[-1]
        self._wf = self._segment_path(self._write_segment).open("ab")
        self._read = self.cursor
        self._rf: BinaryIO | None = None
        self._rf_segment = -1
        self._closed_for = -1  # the write segment _closed_bytes was summed for (-1: none yet)
        self._closed_bytes = 0
        self._unread_entries = self.pending_entries
        self._read_total = self._committed_total = 0
        self._marks: dict[Position, int] = {}
        if self.pending_entries:
            log.info("journal %s: %d entries (%d bytes) to replay", self.dir, self.pending_entries, self.disk_bytes)

    # -- writing ----------------------------------------------------------------------------
    @property
    def disk_bytes(self) -> int:
        return sum(self._segment_path(n).stat().st_size for n in self._segments())

    def append(self, payload: bytes) -> bool:
        """Append one entry. False (nothing written) if it would pass ``max_bytes``."""
        if not payload:
            raise ValueError("a journal entry cannot be empty")  # 8 zero bytes must never look like one
        entry = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        with self._lock:
            if self._wf.closed:
                raise JournalError(f"journal {self.dir} is closed")
            if self._disk_used() + len(entry) > self.max_bytes:
                return False
            if self._wf.tell() + len(entry) > self.segment_bytes and self._wf.tell() > 0:
                self._rotate()
            try:
                self._wf.write(entry)
                self._wf.flush()
            except OSError as exc:
                raise JournalError(f"cannot write journal {self.dir}: {exc}") from None
            self.pending_entries += 1
            self._unread_entries += 1
            self._dirty = True
            if self.fsync == "always":
                self.sync()
            elif self.fsync == "interval" and self.clock() - self._last_sync >= self.fsync_interval:
                self.sync()
            return True

    def _disk_used(self) -> int:
        # segments before the write segment are whole; only the open one changes size
        if self._closed_for != self._write_segment:
            self._closed_bytes = sum(self._segment_path(n).stat().st_size for n in self._segments()
                                     if n != self._write_segment)
            self._closed_for = self._write_segment
        return self._closed_bytes + self._wf.tell()

    def _rotate(self) -> None:
        self.sync()
        self._wf.close()
        self._write_segment += 1
        self._wf = self._segment_path(self._write_segment).open("ab")
        self._closed_for = -1  # recompute

    def sync(self) -> None:
        """fsync the open segment (called by the policy, and by :meth:`close`)."""
        with self._lock:
            if self._dirty:
                self._wf.flush()
                os.fsync(self._wf.fileno())
                self._dirty = False
            self._last_sync = self.clock()

    def maybe_sync(self) -> None:
        """Honour the interval policy when no appends arrive to trigger it."""
        if self.fsync == "interval" and self._dirty and self.clock() - self._last_sync >= self.fsync_interval:
            self.sync()

    # -- reading ----------------------------------------------------------------------------
    @property
    def unread(self) -> int:
        """Entries appended and not yet read (by :meth:`read`)."""
        return self._unread_entries

    def read(self, max_entries: int = 1000, max_bytes: int = 4 << 20) -> tuple[list[bytes], Position]:
        """The next entries in order, and the position after them (pass it to :meth:`commit`)."""
        out: list[bytes] = []
        size = 0
        with self._lock:
            self._wf.flush()
            while len(out) < max_entries and size < max_bytes:
                if self._rf_segment != self._read.segment:
                    if self._rf:
                        self._rf.close()
                    path = self._segment_path(self._read.segment)
                    if not path.exists():
                        if self._read.segment < self._write_segment:
                            self._read = Position(self._read.segment + 1, 0)
                            continue
                        break
                    self._rf = path.open("rb")
                    self._rf_segment = self._read.segment
                rf = self._rf
                if rf is None:  # opened above: _rf_segment starts at -1, never a segment's number
                    raise JournalError(f"journal segment {self._rf_segment} is not open for reading")
                rf.seek(self._read.offset)
                head = rf.read(_HEADER.size)
                if len(head) < _HEADER.size:
                    if self._read.segment < self._write_segment:
                        self._read = Position(self._read.segment + 1, 0)
                        continue
                    break
                length, crc = _HEADER.unpack(head)
                payload = rf.read(length)
                if len(payload) < length or zlib.crc32(payload) != crc:
                    raise JournalError(f"journal entry at {self._read} is corrupt after recovery")
                out.append(payload)
                size += length
                self._read = Position(self._read.segment, self._read.offset + _HEADER.size + length)
                self._unread_entries -= 1
                self._read_total += 1
            self._marks[self._read] = self._read_total
            return out, self._read

    def rewind(self) -> None:
        """Forget uncommitted reads: the next :meth:`read` starts at the committed cursor again."""
        with self._lock:
            self._unread_entries = self.pending_entries
            self._read = self.cursor
            self._read_total = self._committed_total
            self._marks = {}

    def commit(self, position: Position) -> None:
        """Mark everything before ``position`` as delivered; delete segments fully behind it."""
        with self._lock:
            if position <= self.cursor:
                return
            if position not in self._marks:
                raise JournalError(f"commit position {position} was not returned by read()")
            done = self._marks[position] - self._committed_total
            self._committed_total = self._marks[position]
            self._marks = {p: n for p, n in self._marks.items() if p > position}
            self.cursor = position
            self.pending_entries -= done
            tmp = self.dir / "cursor.tmp"
            with tmp.open("w") as f:
                f.write(f"{position.segment} {position.offset}\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.dir / "cursor")
            for n in self._segments():
                if n < position.segment:
                    self._segment_path(n).unlink(missing_ok=True)
                    self._closed_for = -1
            if self.pending_entries == 0 and self._unread_entries == 0 and position.segment == self._write_segment \
                    and self._wf.tell() > self.segment_bytes // 2:
                self._rotate()  # start fresh so the drained segment can go

    def close(self) -> None:
        with self._lock:
            if self._wf.closed:
                return
            self.sync()
            self._wf.close()
            if self._rf:
                self._rf.close()
                self._rf = None
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
