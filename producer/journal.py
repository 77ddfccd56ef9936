"""A bounded, append-only on-disk journal: where records wait while Kinesis cannot take them.

Layout: a directory of segment files ``seg-<number>.log`` and a ``cursor`` file. Each entry is
``length (u32, big-endian) · crc32 of payload (u32) · payload``. Entries are read back in the
order written; :meth:`Journal.commit` moves the durable read position (the ``cursor`` file,
replaced atomically) and deletes segments that are fully read. Reading without committing and
then crashing replays those entries again: delivery is at least once, and readers recognise
duplicates by tick state (DESIGN.md).

Recovery: on open every segment after the cursor is scanned; a short header, a short payload or
a CRC mismatch marks a torn tail (a crash mid-write). The segment is truncated there, so an
append after recovery never lands behind garbage. Nothing after a torn entry is trusted.

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
from typing import Final

from producer.errors import JournalError

log = logging.getLogger(__name__)

_HEADER: Final = struct.Struct(">II")
FSYNC_POLICIES: Final = ("always", "interval", "never")
MAX_ENTRY_BYTES: Final = 16 * 1024 * 1024


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
        """(entries, valid end offset) of a segment from ``start``."""
        entries, off = 0, start
        with path.open("rb") as f:
            f.seek(start)
            while True:
                head = f.read(_HEADER.size)
                if len(head) < _HEADER.size:
                    break
                length, crc = _HEADER.unpack(head)
                if length > MAX_ENTRY_BYTES:
                    break
                payload = f.read(length)
                if len(payload) < length or zlib.crc32(payload) != crc:
                    break
                entries += 1
                off += _HEADER.size + length
        return entries, off

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
            entries, end = self._scan(path, start)
            if end < size:
                cut = size - end
                self.truncated_bytes += cut
                log.warning("journal %s: torn tail of %d bytes at offset %d truncated (crash mid-write)",
                            path.name, cut, end)
                with path.open("r+b") as f:
                    f.truncate(end)
                    os.fsync(f.fileno())
            self.pending_entries += entries
        if not segments:
            segments = [max(self.cursor.segment, 1)]
        if self.cursor.segment < segments[0]:
            self.cursor = Position(segments[0], 0)
        self._write_segment = segments[-1]
        self._wf = self._segment_path(self._write_segment).open("ab")
        self._read = self.cursor
        self._rf = None
        self._rf_segment = -1
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
        if not hasattr(self, "_closed_bytes") or self._closed_for != self._write_segment:
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
                self._rf.seek(self._read.offset)
                head = self._rf.read(_HEADER.size)
                if len(head) < _HEADER.size:
                    if self._read.segment < self._write_segment:
                        self._read = Position(self._read.segment + 1, 0)
                        continue
                    break
                length, crc = _HEADER.unpack(head)
                payload = self._rf.read(length)
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
