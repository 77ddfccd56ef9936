"""External sort by symbol: sorted spill runs on local disk, read back one symbol range at a time.

A day of 5,000 symbols does not fit in memory as Arrow. Compaction parses raw objects a few at a
time, sorts each chunk by ``sym`` and spills it as a *run* (an Arrow IPC file, LZ4-compressed, in
record batches) with an index of where each symbol's rows are. Then it plans symbol *ranges* of
at most ``range_rows`` rows over all runs and reads each range back from every run: only one
range is ever in memory, so memory is bounded by ``range_rows``, not by the size of the day.
"""

from __future__ import annotations

import bisect
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

BATCH_ROWS = 65_536
_IPC_OPTIONS = ipc.IpcWriteOptions(compression="lz4")


@dataclass
class Run:
    """One spilled, sym-sorted file and where each symbol's rows are in it."""

    path: str
    syms: list[str] = field(default_factory=list)  # sorted, distinct
    starts: list[int] = field(default_factory=list)  # first row of syms[i]
    rows: int = 0
    batch_starts: list[int] = field(default_factory=list)  # first row of each record batch

    def counts(self) -> Counter[str]:
        ends = self.starts[1:] + [self.rows]
        return Counter({s: e - b for s, b, e in zip(self.syms, self.starts, ends, strict=True)})

    def read(self, lo: str, hi: str) -> pa.Table | None:
        """Rows with lo <= sym <= hi, or None if there are none."""
        i, j = bisect.bisect_left(self.syms, lo), bisect.bisect_right(self.syms, hi)
        if i >= j:
            return None
        first = self.starts[i]
        last = self.starts[j] if j < len(self.syms) else self.rows
        b0 = bisect.bisect_right(self.batch_starts, first) - 1
        b1 = bisect.bisect_right(self.batch_starts, last - 1) - 1
        with pa.OSFile(self.path, "rb") as f:
            reader = ipc.open_file(f)
            batches = [reader.get_batch(b) for b in range(b0, b1 + 1)]
        table = pa.Table.from_batches(batches)
        return table.slice(first - self.batch_starts[b0], last - first)

    def delete(self) -> None:
        if os.path.exists(self.path):
            os.remove(self.path)


class MemRun(Run):
    """A day small enough to stay in memory (fewer rows than one range): no spill, same interface."""

    def __init__(self, table: pa.Table) -> None:
        super().__init__(path="")
        self.table = table
        self.rows = table.num_rows

    def counts(self) -> Counter[str]:
        vc = pc.value_counts(self.table["sym"]) if self.rows else []
        return Counter({v["values"].as_py(): v["counts"].as_py() for v in vc})

    def read(self, lo: str, hi: str) -> pa.Table | None:
        sym = self.table["sym"]
        if not self.rows:
            return None
        bounds = pc.min_max(sym)
        if lo <= bounds["min"].as_py() and bounds["max"].as_py() <= hi:  # the usual: the day is one range
            return self.table
        t = self.table.filter(pc.and_(pc.greater_equal(sym, lo), pc.less_equal(sym, hi)))
        return t if t.num_rows else None

    def delete(self) -> None:
        self.table = self.table.slice(0, 0)


class RunWriter:
    """Writes one run from tables that are already sorted by sym (appended in order)."""

    def __init__(self, path: str, schema: pa.Schema) -> None:
        self.run = Run(path)
        self._sink = pa.OSFile(path, "wb")
        self._writer = ipc.new_file(self._sink, schema, options=_IPC_OPTIONS)

    def write(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        run = self.run
        syms = table["sym"].combine_chunks()
        # Start of each distinct sym in this sorted chunk.
        changes = pc.not_equal(syms[1:], syms[:-1]) if len(syms) > 1 else pa.array([], pa.bool_())
        idx = [0] + [i + 1 for i in pc.indices_nonzero(changes).to_pylist()]
        values = pc.take(syms, pa.array(idx, pa.int64())).to_pylist()
        for v, i in zip(values, idx, strict=True):
            if run.syms and run.syms[-1] == v:
                continue
            if run.syms and v < run.syms[-1]:
                raise ValueError(f"run {run.path} not sorted by sym: {v!r} after {run.syms[-1]!r}")
            run.syms.append(v)
            run.starts.append(run.rows + i)
        for batch in table.to_batches(max_chunksize=BATCH_ROWS):
            run.batch_starts.append(run.rows)
            self._writer.write_batch(batch)
            run.rows += batch.num_rows

    def close(self) -> Run:
        self._writer.close()
        self._sink.close()
        return self.run


def sort_by_sym(table: pa.Table) -> pa.Table:
    return table.take(pc.sort_indices(table, sort_keys=[("sym", "ascending")]))


def spill(path: str, table: pa.Table) -> Run:
    """Sort ``table`` by sym and write it as one run."""
    writer = RunWriter(path, table.schema)
    writer.write(sort_by_sym(table))
    return writer.close()


def plan_ranges(counts: Counter[str], range_rows: int) -> list[tuple[str, str]]:
    """Contiguous sym ranges of about ``range_rows`` rows each (a range holds at least one sym)."""
    ranges: list[tuple[str, str]] = []
    lo: str | None = None
    prev = ""
    rows = 0
    for sym in sorted(counts):
        if lo is not None and rows + counts[sym] > range_rows:
            ranges.append((lo, prev))
            lo, rows = None, 0
        if lo is None:
            lo = sym
        rows += counts[sym]
        prev = sym
    if lo is not None:
        ranges.append((lo, prev))
    return ranges


def read_ranges(runs: Iterable[Run], range_rows: int) -> Iterator[pa.Table]:
    """Every row of every run, one sym range at a time, ranges in sym order."""
    runs = list(runs)
    total: Counter[str] = Counter()
    for run in runs:
        total.update(run.counts())
    for lo, hi in plan_ranges(total, range_rows):
        parts = [t for t in (run.read(lo, hi) for run in runs) if t is not None]
        if parts:
            yield pa.concat_tables(parts)
