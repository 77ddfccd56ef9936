"""Compaction: raw/ticks and raw/bars (gzip JSON lines from Firehose) → curated Parquet for Athena.

The Lambda handler (EventBridge schedule in AWS, ``local/scheduler.py`` locally) runs
:class:`Compactor` for each table. A run:

1. lists raw objects in the scan window and compares them with the *raw index*
   (``state/compact/<table>/raw/dt=D.json``: every raw object already read, its ETag, the event
   days it held). Nothing new → nothing is written: running twice changes nothing.
2. reads each new object into Arrow columns of an explicit schema (the native reader,
   native/json_columns.c, else pyarrow's JSON reader: no Python object per row), validates rows
   vectorised, and spills them per event day as sym-sorted runs on local disk (``consumers/lake/runs.py``). A corrupt object, or malformed lines in a good one,
   go to ``quarantine/`` with the reason; the rest of the day goes on.
3. for each event day that got rows, merges the day's current curated files with the new runs one
   sym range at a time (bounded memory), deduplicates, sorts by sym then time, and writes zstd
   Parquet files of about ``target_file_bytes`` as a new *generation*; then switches the day's
   manifest (``state/compact/<table>/dt=D/manifest.json``) to it and deletes the old generation.
4. records the new objects in the raw index.

Curated partitions are by event time (``dt`` = UTC date of ``ts`` / ``start``), so a late object
for a finished day rewrites that day only.
"""

from __future__ import annotations

import gzip
import logging
import os
import tempfile
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pyarrow.parquet as pq

from consumers.lake.errors import CompactionBusyError, CorruptObjectError, ManifestError, RecordError
from consumers.lake.lease import DEFAULT_TTL_S, lease
from consumers.lake.runs import MemRun, Run, RunWriter, read_ranges, spill
from consumers.lake.schema import TABLES, TICKS, TableSpec
from consumers.lake.store import LakeStore, utc_now
from market.session import DAY
from market.tick import MAX_RECORD_BYTES
from market.watermark import drop_watermark_lines
from tickpipe import names
from tickpipe.config import Settings
from tickpipe.options import Options, option

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import ObjectTypeDef

log = logging.getLogger(__name__)

try:  # native/json_columns.c, built by `pip install -e .`; without it pyarrow's reader does the work
    from _tickpipe_lines import columns as _native_columns

    NATIVE = True
except ImportError:  # pragma: no cover - depends on the build
    NATIVE = False

MiB = 1024 * 1024
QUARANTINED_RECORD_BYTES = 4096  # keep at most this much of a bad line in quarantine
PREFETCH = 2  # raw objects downloaded ahead of the parser
MAX_LINE_BYTES = MAX_RECORD_BYTES  # market.tick's bound; a bar record (~250 bytes) is smaller still

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class CompactOptions(Options):
    """Compaction's knobs (the configuration helper checks each range; no variable sets them: the
    function runs with the defaults, ``tickpipe compact`` takes flags)."""

    # Athena likes files of 128 MiB-1 GiB; less only for a small day
    target_file_bytes: int = option(128 * MiB, ge=1, le=5120 * MiB, unit="bytes")
    # rows in memory at once (≈ 220 B each as Arrow, ×2 while sorting)
    range_rows: int = option(2_000_000, ge=1)
    row_group_rows: int = option(1_000_000, ge=1)
    zstd_level: int = option(6, ge=1, le=22)  # zstd's levels
    # raw partitions scanned for new objects: today and this many days back
    lookback_days: int = option(3, ge=0, le=366, unit="days")
    work_dir: str | None = None  # local spill space (Lambda: /tmp)

    @classmethod
    def label(cls, name: str) -> str:
        return f"compaction option {name}"


@dataclass
class TableReport:
    table: str
    raw_objects_seen: int = 0
    raw_objects_new: int = 0
    raw_bytes_in: int = 0
    rows_in: int = 0
    rows_bad: int = 0
    objects_quarantined: int = 0
    days_written: list[str] = field(default_factory=list)
    files_written: int = 0
    rows_out: int = 0
    bytes_out: int = 0
    seconds: float = 0.0


def event_day(epoch_day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=epoch_day)).isoformat()


# ---------------------------------------------------------------- parsing (pure: bytes in, table out)


@dataclass
class BadRecord:
    line: int | None  # 1-based line number when known
    reason: str
    record: str


def decompress(key: str, body: bytes) -> bytes:
    """The JSON lines of a raw object; Firehose gzips them (".gz"). Raises CorruptObjectError."""
    if body[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as exc:
            raise CorruptObjectError(f"{key}: not a readable gzip stream ({exc})") from None
    if key.endswith(".gz"):
        raise CorruptObjectError(f"{key}: named .gz but has no gzip header")
    return body


def parse(spec: TableSpec, data: bytes, arrival: float) -> tuple[pa.Table, list[BadRecord]]:
    """Parse JSON lines into ``spec.read_schema``; invalid rows come back as BadRecords.

    ``arrival`` (epoch s) is when the object reached the lake: no record in it can be from later
    (market.tick's plausibility). Fast paths: the native reader (_parse_native) over the whole object,
    else pyarrow's JSON reader. If a line
    is too long, not JSON or has a value of the wrong type or range for its column, the reader
    fails the block, so that object is re-read line by line with orjson and the table's own
    validator, to quarantine exactly the bad lines.
    Producer watermarks (market.watermark) share raw/ticks with the ticks: they are skipped here.
    """
    if spec.name == TICKS.name:  # producer watermarks (market.watermark) share raw/ticks: no ticks
        data, _ = drop_watermark_lines(data)
    table = _parse_native(spec, data) if NATIVE else None
    if table is not None:
        return _checked(spec, table, arrival)
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    # pyarrow's reader only for one JSON object per line: it crashes the process on a line that is
    # a bare `null` (pyarrow 26), and reads `{…}{…}` on one line as two rows.
    if _may_have_long_line(data) or data.startswith(b"{") + data.count(b"\n{") != lines:
        return _parse_lines(spec, data, arrival)
    try:
        table = pj.read_json(
            pa.BufferReader(data),
            read_options=pj.ReadOptions(block_size=256 * 1024),  # small blocks: parsed in parallel
            parse_options=pj.ParseOptions(explicit_schema=spec.read_schema, unexpected_field_behavior="ignore"),
        )
    except pa.ArrowInvalid:
        return _parse_lines(spec, data, arrival)
    if table.num_rows != lines:
        return _parse_lines(spec, data, arrival)
    return _checked(spec, table.select(spec.read_schema.names), arrival)


def _checked(spec: TableSpec, table: pa.Table, arrival: float) -> tuple[pa.Table, list[BadRecord]]:
    """The rows that pass the table's checks, and the others as BadRecords."""
    ok = spec.valid(table, arrival)
    if pc.all(ok).as_py():
        return spec.fill_defaults(table), []
    bad = [_bad(spec, r, arrival) for r in table.filter(pc.invert(ok)).to_pylist()]
    return spec.fill_defaults(table.filter(ok)), bad


_KIND = {pa.int64(): "i", pa.uint64(): "u", pa.float64(): "f", pa.string(): "s"}


def _parse_native(spec: TableSpec, data: bytes) -> pa.Table | None:
    """``data`` read by the native reader into ``spec.read_schema``, or None when the object is not
    of the plain shape it reads (native/json_columns.c says which); the caller then reads it the
    general way. It gives the table pyarrow's reader gives (tests/lake/test_parse_native.py), at
    about a fifth of the CPU time, with the line checks pyarrow's reader needs done on the way."""
    schema = spec.read_schema
    got = _native_columns(data, tuple(f.name.encode() for f in schema), "".join(_KIND[f.type] for f in schema).encode(),
                          MAX_LINE_BYTES)
    if got is None:
        return None
    rows, buffers = got
    arrays = [pa.Array.from_buffers(f.type, rows, [pa.py_buffer(b) for b in bufs]) for f, bufs in zip(schema, buffers, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def _may_have_long_line(data: bytes, limit: int = MAX_LINE_BYTES) -> bool:
    """False if no line of ``data`` is longer than ``limit`` bytes; True if one may be.

    A line longer than ``limit`` covers at least one whole aligned window of (limit + 1) // 2
    bytes, which then holds no newline. So one memchr per window (a few thousand per object)
    clears an object of ordinary ~300-byte lines without splitting it."""
    step = (limit + 1) // 2
    find = data.find
    return any(find(b"\n", i, i + step) < 0 for i in range(0, len(data) - step + 1, step))


def _bad(spec: TableSpec, record: dict[str, Any], arrival: float, line: int | None = None) -> BadRecord:
    record = {k: v for k, v in record.items() if v is not None}
    try:
        spec.validate(record, arrival)
        reason = "rejected by the table's checks"
    except RecordError as exc:
        reason = str(exc)
    return BadRecord(line, reason, orjson.dumps(record).decode()[:QUARANTINED_RECORD_BYTES])


def _parse_lines(spec: TableSpec, data: bytes, arrival: float) -> tuple[pa.Table, list[BadRecord]]:
    good: list[dict[str, Any]] = []
    lines: list[int] = []
    bad: list[BadRecord] = []

    def refuse(n: int, line: bytes, reason: str) -> None:
        bad.append(BadRecord(n, reason, line[:QUARANTINED_RECORD_BYTES].decode("utf-8", "replace")))

    for n, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE_BYTES:
            refuse(n, line, f"line of {len(line)} bytes exceeds {MAX_LINE_BYTES}; not a record")
            continue
        try:
            record = orjson.loads(line)
            spec.validate(record, arrival)
        except orjson.JSONDecodeError as exc:
            refuse(n, line, f"not JSON: {exc}")
            continue
        except RecordError as exc:
            refuse(n, line, str(exc))
            continue
        good.append(record)
        lines.append(n)
    names = spec.read_schema.names
    rows = [{k: r.get(k) for k in names} for r in good]
    try:
        table = pa.Table.from_pylist(rows, schema=spec.read_schema)
    except (pa.ArrowException, OverflowError, ValueError, TypeError):
        # The validator let through a value the schema cannot hold (a bug, not bad input): keep
        # every row that converts, quarantine the others with the converter's reason.
        kept = []
        for n, record, row in zip(lines, good, rows, strict=True):
            try:
                kept.append(pa.Table.from_pylist([row], schema=spec.read_schema))
            except (pa.ArrowException, OverflowError, ValueError, TypeError) as exc:
                refuse(n, orjson.dumps(record), f"does not fit the {spec.name} schema: {exc}")
        table = pa.concat_tables(kept) if kept else spec.read_schema.empty_table()
        bad.sort(key=lambda b: b.line or 0)
    return spec.fill_defaults(table), bad


# What a bug in parsing or validation could raise on a value nobody foresaw (an integer past a
# column's range, a date past year 9999): the object is quarantined with it, the run goes on.
UNEXPECTED: tuple[type[Exception], ...] = (pa.ArrowException, OverflowError, ValueError, TypeError, KeyError)
# ... and what quarantines a raw object as a whole
UNREADABLE: tuple[type[Exception], ...] = (CorruptObjectError, *UNEXPECTED)


def arrival_of(obj: ObjectTypeDef) -> float:
    """When a raw object reached the lake (epoch s): its LastModified, which is after every record
    in it reached AWS. A listing without it (not S3) counts as now."""
    modified = obj.get("LastModified")
    return modified.timestamp() if isinstance(modified, datetime) else time.time()


def split_days(spec: TableSpec, table: pa.Table) -> dict[str, pa.Table]:
    """Rows grouped by the UTC date of their event time."""
    days = pc.divide(table[spec.time_column], DAY)
    out: dict[str, pa.Table] = {}
    for d in pc.unique(days).to_pylist():
        out[event_day(d)] = table.filter(pc.equal(days, d))
    return out


# ---------------------------------------------------------------- dedup + order (pure)


def _differs(col: pa.Array) -> pa.Array:
    """Null-safe 'row i differs from row i-1' for i >= 1."""
    a, b = col[1:], col[:-1]
    if not col.null_count:
        return pc.not_equal(a, b)
    a_null, b_null = pc.is_null(a), pc.is_null(b)
    return pc.fill_null(pc.if_else(pc.or_(a_null, b_null), pc.xor(a_null, b_null), pc.not_equal(a, b)), True)


_MIX = np.uint64(0x9E3779B97F4A7C15)
_SHIFT = np.uint64(29)


def _identity_hash(table: pa.Table, columns: Sequence[str], rank: pa.Array) -> pa.Array:
    """A 64-bit hash of each row's identity columns (sym as its rank), so one sort brings equal rows
    together. Only an aid: rows are compared exactly afterwards, so a collision can keep a copy
    (never drop a distinct row)."""
    acc = np.zeros(table.num_rows, dtype=np.uint64)
    for name in columns:
        if name == "sym":
            bits = rank.to_numpy(zero_copy_only=False).astype(np.uint64)
        else:
            col = table[name].combine_chunks()
            if pa.types.is_dictionary(col.type) or not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
                col = pc.index_in(col, value_set=pc.unique(col))  # a string: its place among the distinct ones
            bits = col.fill_null(0).to_numpy(zero_copy_only=False)
            bits = bits.view(np.uint64) if bits.dtype.itemsize == 8 else bits.astype(np.uint64)
        acc ^= bits
        acc *= _MIX
        acc ^= acc >> _SHIFT
    return pa.array(acc)


def dedup_sort(spec: TableSpec, table: pa.Table) -> pa.Table:
    """One row per distinct ``spec.dedup_keys`` (the first in ``spec.sort_keys``, which puts the
    preferred copy first), in ``spec.sort_keys`` order.

    One sort by (the first sort key, a hash of the identity columns, then the sort keys) brings equal
    rows together, preferred first; a row is a copy when every identity column equals the row before
    it (compared exactly, nulls equal). Then one sort of the kept rows' keys and one take. Sorting
    compares sym as an int rank (its place among the range's sorted symbols): the same order as the
    strings, and much cheaper to compare than strings in multi-key sorts.
    """
    if table.num_rows == 0:
        return table
    syms = table["sym"]
    rank = pc.index_in(syms, value_set=_sorted_unique(syms))
    keys = [("_rank" if k == "sym" else k, o) for k, o in spec.sort_keys]
    named = {k for k, _ in keys} - {"_rank"}
    keyed = pa.table({"_rank": rank, "_h": _identity_hash(table, spec.dedup_keys, rank),
                      **{k: table[k] for k in named}})
    lead = keys[:1] if keys[0][0] == "_rank" else []
    grouped = pc.sort_indices(keyed, sort_keys=lead + [("_h", "ascending")] + keys)
    ids = table.select(list(spec.dedup_keys)).take(grouped)
    first = None
    for name in spec.dedup_keys:
        d = _differs(ids[name].combine_chunks())
        first = d if first is None else pc.or_(first, d)
    assert first is not None
    kept = pc.filter(grouped, pa.concat_arrays([pa.array([True]), first]))
    order = pc.sort_indices(keyed.take(kept), sort_keys=keys)
    return table.take(pc.take(kept, order))


def _sorted_unique(values: pa.ChunkedArray) -> pa.Array:
    u = pc.unique(values)
    return u.take(pc.sort_indices(u))


# ---------------------------------------------------------------- Parquet files of a target size


class ParquetRoller:
    """Writes sorted tables into consecutive Parquet files, starting a new file past target bytes."""

    def __init__(self, directory: str, spec: TableSpec, options: CompactOptions) -> None:
        self.directory = directory
        self.spec = spec
        self.options = options
        self.files: list[tuple[str, int]] = []  # (path, rows)
        self._writer: pq.ParquetWriter | None = None
        self._sink: pa.OSFile | None = None
        self._rows = 0

    def _open(self) -> pq.ParquetWriter:
        if self._writer is None:
            path = os.path.join(self.directory, f"part-{len(self.files):05d}.parquet")
            self._sink = pa.OSFile(path, "wb")
            self._writer = pq.ParquetWriter(
                self._sink,
                self.spec.schema,
                compression="zstd",
                compression_level=self.options.zstd_level,
                # Integers that climb within a symbol (times, cumulative volume, sequence numbers)
                # delta-encode to a few bits; prices and strings repeat, so they take dictionaries.
                use_dictionary=[f.name for f in self.spec.schema if f.name not in self.spec.delta_columns],
                column_encoding=dict.fromkeys(self.spec.delta_columns, "DELTA_BINARY_PACKED"),
                write_statistics=True,
                sorting_columns=[pq.SortingColumn(self.spec.schema.get_field_index(c), descending=o == "descending")
                                 for c, o in self.spec.order[:2]],
            )
            self.files.append((path, 0))
            self._rows = 0
        return self._writer

    def write(self, table: pa.Table) -> None:
        table = table.cast(self.spec.schema)
        step = self.options.row_group_rows
        for offset in range(0, table.num_rows, step):
            writer = self._open()
            chunk = table.slice(offset, step)
            writer.write_table(chunk, row_group_size=step)
            self._rows += chunk.num_rows
            assert self._sink is not None
            if self._sink.tell() >= self.options.target_file_bytes:
                self._close()

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            assert self._sink is not None
            self._sink.close()
            path, _ = self.files[-1]
            self.files[-1] = (path, self._rows)
            self._writer = self._sink = None

    def close(self) -> list[tuple[str, int]]:
        self._close()
        return self.files


# ---------------------------------------------------------------- the job (I/O at the edges)


class Compactor:
    """Incremental, idempotent compaction of one table."""

    def __init__(
        self,
        settings: Settings,
        spec: TableSpec,
        *,
        store: LakeStore | None = None,
        options: CompactOptions | None = None,
        progress: Progress | None = None,
        today: date | None = None,
    ) -> None:
        self.spec = spec
        self.store = store or LakeStore(settings.bucket)
        self.options = options or CompactOptions()
        self.progress = progress or (lambda stage, done, total: None)
        self.today = today or datetime.now(UTC).date()

    # -- layout

    def raw_index_key(self, raw_day: str) -> str:
        return f"{self.spec.state_prefix}raw/dt={raw_day}.json"

    def manifest_key(self, day: str) -> str:
        return f"{self.spec.state_prefix}dt={day}/manifest.json"

    def symlink_key(self, day: str) -> str:
        return f"{self.spec.state_prefix}symlink/dt={day}/manifest"

    def partition(self, day: str) -> str:
        return f"{self.spec.curated_prefix}dt={day}/"

    def manifest(self, day: str) -> dict[str, Any]:
        doc = self.store.get_json(self.manifest_key(day))
        if doc is None:
            return {"table": self.spec.name, "dt": day, "generation": 0, "files": [], "sources": {}, "rows": 0}
        for name in ("generation", "files", "sources"):
            if name not in doc:
                raise ManifestError(f"{self.manifest_key(day)} has no {name!r}; fix or delete it to rebuild the day")
        return doc

    # -- the run

    def run(self, raw_days: Sequence[str] | None = None) -> TableReport:
        """Compact new raw objects from ``raw_days`` (default: today and ``lookback_days`` back)."""
        t0 = time.perf_counter()
        report = TableReport(self.spec.name)
        if raw_days is None:
            raw_days = [(self.today - timedelta(days=i)).isoformat() for i in range(self.options.lookback_days, -1, -1)]
        indexes = {d: self.store.get_json(self.raw_index_key(d)) or {} for d in raw_days}
        new: list[tuple[str, str, ObjectTypeDef]] = []  # (raw day, key, listing)
        for d in raw_days:
            for obj in self.store.list(f"{self.spec.raw_prefix}dt={d}/"):
                report.raw_objects_seen += 1
                seen = indexes[d].get(obj["Key"])
                if seen is None or seen.get("etag") != obj["ETag"]:
                    new.append((d, obj["Key"], obj))
        report.raw_objects_new = len(new)
        if not new:
            report.seconds = time.perf_counter() - t0
            return report
        with tempfile.TemporaryDirectory(prefix=f"compact-{self.spec.name}-", dir=self.options.work_dir) as work:
            runs, sources_by_day, entries = self._read(work, new, report)
            for i, day in enumerate(sorted(runs)):
                self.progress(f"write {self.spec.name} dt={day}", i, len(runs))
                self._write_day(work, day, runs[day], sources_by_day[day], report)
            self.progress(f"write {self.spec.name}", len(runs), len(runs))
        for d in raw_days:
            mine = {k: v for k, v in entries.items() if v["raw_dt"] == d}
            if mine:
                self.store.put_json(self.raw_index_key(d), {**indexes[d], **mine})
        report.seconds = time.perf_counter() - t0
        return report

    def _read(
        self, work: str, new: list[tuple[str, str, ObjectTypeDef]], report: TableReport
    ) -> tuple[dict[str, list[Run]], dict[str, dict[str, str]], dict[str, dict[str, Any]]]:
        """Pass 1: parse every new object, spill rows per event day as sym-sorted runs."""
        pending: dict[str, list[pa.Table]] = defaultdict(list)
        pending_rows: dict[str, int] = defaultdict(int)
        runs: dict[str, list[Run]] = defaultdict(list)
        sources: dict[str, dict[str, str]] = defaultdict(dict)
        entries: dict[str, dict[str, Any]] = {}

        def flush(day: str, *, last: bool = False) -> None:
            table = pa.concat_tables(pending.pop(day))
            pending_rows.pop(day)
            if last and not runs[day]:  # the whole day fits in one range: no need to spill it
                runs[day].append(MemRun(table))
                return
            path = os.path.join(work, f"run-{day}-{len(runs[day]):05d}.arrow")
            runs[day].append(spill(path, table))

        def fetch(key: str) -> tuple[int, bytes | CorruptObjectError]:
            body = self.store.get(key)
            try:
                return len(body), decompress(key, body)
            except CorruptObjectError as exc:
                return len(body), exc

        # Download and gunzip the next objects while this one is parsed (both release the GIL);
        # at most PREFETCH objects are in memory ahead of the parser.
        with ThreadPoolExecutor(max_workers=PREFETCH, thread_name_prefix="fetch") as pool:
            futures = [pool.submit(fetch, k) for _, k, _ in new[:PREFETCH]]
            for i, (raw_day, key, obj) in enumerate(new):
                self.progress(f"read {self.spec.name}", i, len(new))
                size, data = futures[i].result()
                futures[i] = None  # type: ignore[call-overload]  # let the bytes go
                if i + PREFETCH < len(new):
                    futures.append(pool.submit(fetch, new[i + PREFETCH][1]))
                self._read_one(key, raw_day, obj, size, data, report, entries, sources, pending, pending_rows)
                while sum(pending_rows.values()) >= self.options.range_rows:
                    flush(max(pending_rows, key=pending_rows.__getitem__))
        self.progress(f"read {self.spec.name}", len(new), len(new))
        for day in list(pending):
            flush(day, last=True)
        return runs, sources, entries

    def _read_one(
        self, key: str, raw_day: str, obj: ObjectTypeDef, size: int, data: bytes | CorruptObjectError,
        report: TableReport, entries: dict[str, dict[str, Any]], sources: dict[str, dict[str, str]],
        pending: dict[str, list[pa.Table]], pending_rows: dict[str, int],
    ) -> None:
        report.raw_bytes_in += size
        entry: dict[str, Any] = {"etag": obj["ETag"], "raw_dt": raw_day, "days": [], "rows": 0, "bad": 0}
        entries[key] = entry
        try:
            if isinstance(data, CorruptObjectError):
                raise data
            table, bad = parse(self.spec, data, arrival_of(obj))
            days = split_days(self.spec, table)
        except UNREADABLE as exc:
            # An object compaction cannot read is quarantined and recorded as read: the objects
            # beside it are compacted, and later runs do not stumble on it again.
            reason = str(exc) if isinstance(exc, CorruptObjectError) else f"{key}: cannot be compacted ({type(exc).__name__}: {exc})"
            if not isinstance(exc, CorruptObjectError):
                log.exception("compaction of %s failed; quarantining it", key)
            self._quarantine_object(key, reason)
            entry["quarantined"] = reason
            report.objects_quarantined += 1
            return
        if bad:
            self._quarantine_lines(key, bad)
            entry["bad"] = len(bad)
            report.rows_bad += len(bad)
        entry["rows"] = table.num_rows
        report.rows_in += table.num_rows
        for day, rows in days.items():
            entry["days"].append(day)
            sources[day][key] = obj["ETag"]
            pending[day].append(rows)
            pending_rows[day] += rows.num_rows

    def _write_day(self, work: str, day: str, new_runs: list[Run], sources: dict[str, str], report: TableReport) -> None:
        """Pass 2: merge the day's current files with the new runs into a new generation, then switch."""
        manifest = self.manifest(day)
        if all(manifest["sources"].get(k) == etag for k, etag in sources.items()):
            log.info("%s dt=%s already holds these objects; unchanged", self.spec.name, day)
            return
        day_dir = os.path.join(work, f"dt={day}")
        os.makedirs(day_dir)
        runs = list(new_runs)
        for n, f in enumerate(manifest["files"]):
            local = os.path.join(day_dir, f"current-{n:05d}.parquet")
            self.store.download(f["key"], local)
            runs.append(self._curated_run(local, os.path.join(day_dir, f"current-{n:05d}.arrow")))
            os.remove(local)
        roller = ParquetRoller(day_dir, self.spec, self.options)
        for table in read_ranges(runs, self.options.range_rows):
            roller.write(dedup_sort(self.spec, table))
        files = roller.close()
        for run in runs:
            run.delete()

        gen = int(manifest["generation"]) + 1
        partition = self.partition(day)
        written: list[dict[str, Any]] = []
        for n, (path, rows) in enumerate(files):
            key = f"{partition}part-g{gen:05d}-{n:05d}.parquet"
            size = os.path.getsize(path)
            self.store.upload(path, key)
            os.remove(path)
            written.append({"key": key, "rows": rows, "bytes": size})
        doc = {
            "table": self.spec.name,
            "dt": day,
            "generation": gen,
            "files": written,
            "rows": sum(f["rows"] for f in written),
            "bytes": sum(f["bytes"] for f in written),
            "sources": {**manifest["sources"], **sources},
            "written_at": utc_now(),
        }
        # The switch: readers that follow the manifest see the old generation or the new, never a mix.
        self.store.put_json(self.manifest_key(day), doc)
        self.store.put(self.symlink_key(day), "".join(self.store.uri(f["key"]) + "\n" for f in written).encode(), "text/plain")
        keep = {f["key"] for f in written}
        stale = [o["Key"] for o in self.store.list(partition) if o["Key"] not in keep]
        self.store.delete(stale)  # the old generation, and leftovers of any interrupted run
        report.days_written.append(day)
        report.files_written += len(written)
        report.rows_out += doc["rows"]
        report.bytes_out += doc["bytes"]
        log.info("%s dt=%s generation %d: %d rows in %d file(s)", self.spec.name, day, gen, doc["rows"], len(written))

    def _curated_run(self, parquet_path: str, run_path: str) -> Run:
        """A current curated file as a run: it is already sorted by sym."""
        writer = RunWriter(run_path, self.spec.read_schema)
        pf = pq.ParquetFile(parquet_path)
        for batch in pf.iter_batches(batch_size=self.options.row_group_rows):
            writer.write(pa.Table.from_batches([batch]).cast(self.spec.read_schema))
        return writer.close()

    # -- quarantine

    def _quarantine_object(self, key: str, reason: str) -> None:
        dst = f"{self.spec.quarantine_prefix}objects/{key}"
        self.store.copy(key, dst)
        self.store.put_json(dst + ".reason.json", {"source": key, "reason": reason, "at": utc_now()})
        log.warning("quarantined %s: %s", key, reason)

    def _quarantine_lines(self, key: str, bad: list[BadRecord]) -> None:
        dst = f"{self.spec.quarantine_prefix}records/{key}.jsonl"
        body = b"".join(orjson.dumps({"source": key, **asdict(b)}) + b"\n" for b in bad)
        self.store.put(dst, body, "application/x-ndjson")
        log.warning("quarantined %d malformed record(s) of %s, e.g. %s", len(bad), key, bad[0].reason)


def compact_all(
    settings: Settings,
    *,
    tables: Sequence[str] = tuple(TABLES),
    raw_days: Sequence[str] | None = None,
    options: CompactOptions | None = None,
    progress: Progress | None = None,
    lease_ttl_s: float = DEFAULT_TTL_S,
) -> list[TableReport]:
    """Compact every named table; the entry point of the handler, the CLI and the scheduler.

    Holds the lake's compaction lease throughout (consumers/lake/lease.py): raises CompactionBusyError
    when another run holds it."""
    unknown = set(tables) - set(TABLES)
    if unknown:
        raise ValueError(f"unknown table(s) {sorted(unknown)}; have {sorted(TABLES)}")
    store = LakeStore(settings.bucket)
    with lease(store.s3, settings.bucket, ttl_s=lease_ttl_s):
        return [
            Compactor(settings, TABLES[t], store=store, options=options, progress=progress).run(raw_days)
            for t in tables
        ]


# CloudWatch metrics per table (EMF lines on stdout; Lambda turns them into metrics).
METRICS = {
    "RawObjectsCompacted": "raw_objects_new",
    "RowsCompacted": "rows_in",
    "RowsQuarantined": "rows_bad",
    "ObjectsQuarantined": "objects_quarantined",
    "CuratedBytesWritten": "bytes_out",
}


def emit_metrics(reports: Sequence[TableReport]) -> None:
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    for r in reports:
        for name, attr in METRICS.items():
            unit = MetricUnit.Bytes if "Bytes" in name else MetricUnit.Count
            with single_metric(name=name, unit=unit, value=getattr(r, attr), namespace=names.METRIC_NAMESPACE,
                               default_dimensions={"table": r.table}):
                pass
        with single_metric(name="CompactSeconds", unit=MetricUnit.Seconds, value=r.seconds,
                           namespace=names.METRIC_NAMESPACE, default_dimensions={"table": r.table}):
            pass


class CompactionEvent(TypedDict, total=False):
    """A manual invoke's choice (the schedule's own event has neither key: every table, due days)."""

    tables: list[str]  # names of TABLES
    raw_days: list[str]  # yyyy-MM-dd raw partitions to compact


class CompactionResponse(TypedDict):
    """One report per table compacted (TableReport's fields), or none and why (``skipped``)."""

    tables: list[dict[str, Any]]
    skipped: NotRequired[str]


def handler(event: CompactionEvent | None, context: Any = None) -> CompactionResponse:
    """Lambda entry point. The EventBridge schedule sends its own event; a manual invoke may pass
    ``{"tables": ["ticks"], "raw_days": ["2026-11-26"]}`` to compact chosen raw partitions."""
    event = event or {}
    settings = Settings.from_env()
    # the lease outlives this invocation by a minute at most (Lambda stops it at its timeout)
    ttl = context.get_remaining_time_in_millis() / 1000 + 60 if context is not None else DEFAULT_TTL_S
    # The Lambda runtime's root logger stays at WARNING with text logs: the summary is INFO, so this
    # logger takes its own level, or the summary would never reach CloudWatch.
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)
    try:
        reports = compact_all(
            settings,
            tables=event.get("tables") or tuple(TABLES),
            raw_days=event.get("raw_days"),
            options=CompactOptions(),  # spills under the temp dir: Lambda's /tmp (ephemeral storage)
            lease_ttl_s=ttl,
        )
    except CompactionBusyError as exc:
        # a scheduled run while a manual one works: nothing is wrong, the next run catches up
        log.warning("compaction skipped: %s", exc)
        return {"tables": [], "skipped": str(exc)}
    emit_metrics(reports)
    result: CompactionResponse = {"tables": [asdict(r) for r in reports]}
    log.info("compaction: %s", orjson.dumps(result).decode())
    return result
