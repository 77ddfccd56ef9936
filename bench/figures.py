"""The planner's figures (tickpipe/plan/figures.json), measured on this code: `make bench` writes them.

A slice of a simulated session goes through the production code paths, each measured alone:
1. the Fyers simulator's market model gives every symbol's quote once a second (snapshot mode,
   as the simulator's socket publishes them), encoded as data-socket frames; this part is not timed;
2. producer: fyers.feed decode → shard-aware KPL aggregation → PutRecords into an in-memory sink,
   in a child process, so that its CPU seconds and peak RSS are the producer's alone;
3. bars handler: BarsConsumer.fold over the aggregated records of each shard, grouped into Lambda
   events as the event source does; CPU seconds, carried state per symbol, bar record size;
4. compaction: the ticks as Firehose lands them (gzip JSON lines, one object per 5 minutes) through
   consumers.lake.compact.Compactor on a local directory; CPU seconds, Parquet bytes per tick and per column.
Sizes are properties of the data and the code (the same on every machine); CPU seconds and RSS are
this machine's. TICKPIPE_BENCH_FIGURES_SYMBOLS / _SECONDS change the slice.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import platform
import resource
import struct
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from fyers import codec
from fyers.sim.config import SimConfig
from fyers.sim.market import Market, quote_values
from market.session import epoch
from tickpipe.plan import figures as figures_file
from tickpipe.plan.figures import Figures

DAY = dt.date(2026, 11, 26)
SEED = 7
SYMBOLS = int(os.environ.get("TICKPIPE_BENCH_FIGURES_SYMBOLS", "5000"))
SECONDS = int(os.environ.get("TICKPIPE_BENCH_FIGURES_SECONDS", "600"))  # from 09:15: two 5-minute buckets
SHARDS = 8
FIREHOSE_BUFFER_S = 300  # raw_buffer_seconds: one raw object per 5 minutes


def universe(n: int) -> list[str]:
    """``n`` equities named like NSE's, each with its own simulated price and activity."""
    return [f"NSE:SYM{i:05d}-EQ" for i in range(n)]


def write_frames(path: Path, symbols: list[str], seconds: int) -> tuple[dict[str, str], int]:
    """The data-socket frames of ``seconds`` from 09:15, one quote per symbol per second when it
    traded (what the simulator's socket sends in snapshot mode), length-prefixed in ``path``.
    Returns (topic → symbol, frames written); the first frame is the subscription snapshot."""
    market = Market(symbols, DAY, SEED)
    per_frame = SimConfig().max_blocks_per_message
    start = epoch(DAY, dt.time(9, 15))
    topics: dict[str, str] = {}
    last: list[tuple[int, ...]] = []
    cursor: list[int] = []
    snaps = []
    for tid, sym in enumerate(symbols):
        inst = market.instruments[sym]
        topics[inst.topic] = sym
        tl = market.timeline(sym)
        i = tl.index_at(start - 1)
        values = quote_values(tl, i, start - 1)
        last.append(values)
        cursor.append(i)
        snaps.append(codec.Snapshot(tid, inst.topic, values, inst.multiplier, inst.precision, inst.exchange,
                                    inst.token, sym))
    n = 0
    with path.open("wb") as f:
        def put(frame: bytes) -> None:
            nonlocal n
            f.write(struct.pack(">I", len(frame)) + frame)
            n += 1
        for k in range(0, len(snaps), per_frame):
            put(codec.encode_data(n, snaps[k:k + per_frame]))
        nv = codec.NO_VALUE
        for t in range(start, start + seconds):
            blocks = []
            for tid, sym in enumerate(symbols):
                tl = market.timeline(sym)
                k = tl.index_at(t)
                if k == cursor[tid]:
                    continue
                values = quote_values(tl, k, t)
                blocks.append(codec.FullUpdate(tid, tuple(v if v != w else nv for v, w in zip(values, last[tid],
                                                                                            strict=True))))
                last[tid], cursor[tid] = values, k
            for k in range(0, len(blocks), per_frame):
                put(codec.encode_data(n, blocks[k:k + per_frame]))
    return topics, n


def read_frames(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while head := f.read(4):
            yield f.read(struct.unpack(">I", head)[0])


# --- 2. producer (child process) -------------------------------------------------------------------
def producer_child(work: Path) -> None:
    from bench.producer import FakeSink, run_pipeline, shard_map

    class KeepingSink(FakeSink):
        """The bench's Kinesis stand-in, also keeping each accepted record for the bars step."""

        def __init__(self, shards: Any, out: Any) -> None:
            super().__init__(shards)
            self.out = out

        def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
            resp = super().put_records(StreamName=StreamName, Records=Records)
            for r, res in zip(Records, resp["Records"], strict=True):
                shard, data = res["ShardId"].encode(), r["Data"]
                self.out.write(struct.pack(">HI", len(shard), len(data)) + shard + data)
            return resp

    topics = orjson.loads((work / "topics.json").read_bytes())
    frames = read_frames(work / "frames.bin")
    snapshot = next(frames)
    rest = frames  # streamed from the file: the process holds the producer, not the slice
    with (work / "records.bin").open("wb") as out:
        sink = KeepingSink(shard_map(SHARDS), out)
        _, cpu, pipeline = run_pipeline(sink, topics, snapshot, rest)
    stats = pipeline.sender.stats
    result = {"cpu": cpu, "ticks": stats.ticks_sent, "records": sink.records, "bytes": sink.bytes,
              "units": sink.units, "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    (work / "producer.json").write_bytes(orjson.dumps(result))


def read_records(path: Path) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = defaultdict(list)
    with path.open("rb") as f:
        while head := f.read(6):
            ns, nd = struct.unpack(">HI", head)
            shard = f.read(ns).decode()
            out[shard].append(f.read(nd))
    return out


# --- 3. bars --------------------------------------------------------------------------------------
def measure_bars(records: dict[str, list[bytes]]) -> tuple[float, int, float, float]:
    """(CPU s, ticks folded, state bytes per symbol, mean bar line bytes)."""
    from bench.bars import events
    from consumers.bars.handler import BarsConsumer
    from market.bars import BarBuilder
    from tickpipe.config import Settings

    consumer = BarsConsumer(Settings(env="bench"), s3=object(), firehose=object(), kinesis=object())
    cpu = 0.0
    ticks = state = 0
    symbols: set[str] = set()
    bar_lines: list[bytes] = []
    for shard, datas in sorted(records.items()):
        evs = events(datas)
        builder, seq = BarBuilder(consumer.config), -1
        c0 = time.process_time()
        for ev in evs:
            bars, poison, seq = consumer.fold(builder, ev, seq, shard, until=len(ev))
            if poison:
                raise RuntimeError(f"bench records were quarantined: {poison[0][4]}")
            bar_lines += [line for _, line in bars]
        cpu += time.process_time() - c0
        ticks += builder.ticks
        state += len(orjson.dumps(builder.to_state()))
        symbols |= set(builder.syms)
    if not bar_lines:
        raise RuntimeError("no bar closed in the slice; measure at least 330 s from 09:15")
    return cpu, ticks, state / len(symbols), sum(map(len, bar_lines)) / len(bar_lines)


# --- 4. compaction --------------------------------------------------------------------------------
def land_raw(root: Path, records: dict[str, list[bytes]]) -> tuple[int, int, int, float]:
    """Ticks as Firehose lands them: de-aggregated lines, gzip, one object per buffer interval.
    Returns (ticks, gzip bytes, tick line bytes, mean partition key bytes)."""
    from local.firehose_pump import evaluate_prefix, object_suffix
    from local.provision import RAW_TICKS_PREFIX
    from tickpipe.kpl import keyed_records

    by_object: dict[int, list[bytes]] = defaultdict(list)
    n = gz = line_bytes = key_bytes = 0
    for datas in records.values():
        for data in datas:
            for key, line in keyed_records(data):
                ts = orjson.loads(line)["ts"]
                by_object[ts // FIREHOSE_BUFFER_S].append(line)
                n += 1
                line_bytes += len(line)
                key_bytes += len(key.encode() if isinstance(key, str) else key)
    for slot, lines in sorted(by_object.items()):
        at = dt.datetime.fromtimestamp(slot * FIREHOSE_BUFFER_S, dt.UTC)
        path = root / (evaluate_prefix(RAW_TICKS_PREFIX, at) + object_suffix("tickpipe-bench-raw", "1", at, "GZIP"))
        path.parent.mkdir(parents=True, exist_ok=True)
        body = gzip.compress(b"".join(lines), compresslevel=6)
        path.write_bytes(body)
        gz += len(body)
    return n, gz, line_bytes, key_bytes / n


def measure_compaction(root: Path) -> tuple[float, int, int, dict[str, float]]:
    """(CPU s, rows out, Parquet bytes, compressed bytes per row of each column)."""
    import pyarrow.parquet as pq

    from consumers.lake.compact import CompactOptions, Compactor
    from consumers.lake.schema import TICKS
    from consumers.lake.store import DirStore
    from tickpipe.config import Settings

    c0 = time.process_time()
    report = Compactor(Settings(env="bench"), TICKS, store=DirStore(str(root)),
                       options=CompactOptions(work_dir=str(root)), today=DAY).run([DAY.isoformat()])
    cpu = time.process_time() - c0
    columns: dict[str, int] = defaultdict(int)
    for path in (root / "curated").rglob("*.parquet"):
        meta = pq.ParquetFile(path).metadata
        for g in range(meta.num_row_groups):
            rg = meta.row_group(g)
            for c in range(rg.num_columns):
                col = rg.column(c)
                columns[col.path_in_schema] += col.total_compressed_size
    rows = report.rows_out
    return cpu, rows, report.bytes_out, {k: v / rows for k, v in sorted(columns.items())}


def measure(symbols: int = SYMBOLS, seconds: int = SECONDS) -> Figures:
    """Every figure, on a slice of ``symbols`` × ``seconds`` from 09:15."""
    with tempfile.TemporaryDirectory(prefix="bench-figures-") as tmp:
        work = Path(tmp)
        topics, _ = write_frames(work / "frames.bin", universe(symbols), seconds)
        (work / "topics.json").write_bytes(orjson.dumps(topics))
        subprocess.run([sys.executable, "-m", "bench.figures", "--producer-child", str(work)], check=True)
        prod = orjson.loads((work / "producer.json").read_bytes())
        records = read_records(work / "records.bin")
        bars_cpu, bars_ticks, state_per_symbol, bar_bytes = measure_bars(records)
        if bars_ticks != prod["ticks"]:
            raise RuntimeError(f"the bars handler folded {bars_ticks:,} ticks, the producer sent {prod['ticks']:,}")
        lake = work / "lake"
        ticks, gz, line_bytes, key_bytes = land_raw(lake, records)
        compact_cpu, rows, parquet, columns = measure_compaction(lake)
    full = [r for datas in records.values() for r in datas]
    per_m = 1e6 / ticks
    return Figures(
        tick_bytes=line_bytes / ticks,
        kinesis_bytes_per_tick=prod["bytes"] / ticks,
        partition_key_bytes=key_bytes,
        ticks_per_record=ticks / prod["records"],
        record_bytes=prod["bytes"] / prod["records"],
        producer_cpu_s_per_mticks=prod["cpu"] * per_m,
        producer_peak_rss_mb=prod["rss_kib"] / 1024,
        producer_symbols=symbols,
        bars_cpu_s_per_mticks=bars_cpu * per_m,
        bars_state_bytes_per_symbol=state_per_symbol,
        bar_bytes=bar_bytes,
        compact_cpu_s_per_mticks=compact_cpu * 1e6 / rows,
        raw_gzip_bytes_per_tick=gz / ticks,
        parquet_bytes_per_tick=parquet / rows,
        parquet_column_bytes_per_tick=columns,
        measured={"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "by": "bench/figures.py",
                  "symbols": symbols, "seconds": seconds, "ticks": ticks, "records": len(full),
                  "shards": SHARDS, "machine": f"{platform.machine()} {platform.python_implementation()} "
                  f"{platform.python_version()}", "cpus": os.cpu_count()},
    )


def describe(f: Figures) -> str:
    return "\n".join([
        f"   slice: {f.measured['symbols']:,} symbols × {f.measured['seconds']} s from 09:15 = {f.measured['ticks']:,} "
        f"ticks in {f.measured['records']:,} Kinesis records on {f.measured['shards']} shards",
        f"   tick line {f.tick_bytes:.0f} B; Kinesis {f.kinesis_bytes_per_tick:.1f} B/tick, {f.ticks_per_record:.0f} "
        f"ticks per record of {f.record_bytes / 1024:.1f} KiB",
        f"   producer {f.producer_cpu_s_per_mticks:.1f} CPU-s per M ticks, peak RSS {f.producer_peak_rss_mb:.0f} MiB",
        f"   bars {f.bars_cpu_s_per_mticks:.1f} CPU-s per M ticks, state {f.bars_state_bytes_per_symbol:.0f} B/symbol, "
        f"bar record {f.bar_bytes:.0f} B",
        f"   compaction {f.compact_cpu_s_per_mticks:.1f} CPU-s per M ticks; raw gzip {f.raw_gzip_bytes_per_tick:.1f} "
        f"B/tick, Parquet {f.parquet_bytes_per_tick:.1f} B/tick",
    ])


def main() -> None:
    figures = measure()
    figures_file.save(figures)
    print(describe(figures))
    print(f"   written to {figures_file.FIGURES_FILE} (read by `tickpipe plan`)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--producer-child":
        producer_child(Path(sys.argv[2]))
    else:
        main()
