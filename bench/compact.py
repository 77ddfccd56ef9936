"""Compaction: raw gzip JSON lines → deduplicated, sorted, zstd Parquet, against DuckDB doing the same job.

Both run in this process, on the same synthetic raw day (Firehose-named gzip objects on local disk,
2% resent duplicates): ours is consumers.lake.compact.Compactor over a directory store (the exact code
the Lambda runs, minus S3); the baseline is DuckDB's read_json → QUALIFY row_number() = 1 →
ORDER BY → COPY TO Parquet (zstd). Figures: throughput in MB/s of gzip input, the ratio to DuckDB
(target ≥ 1.0×) in wall time and in CPU time of the process (every thread of both engines; the
machine is shared, so CPU time is the steadier figure), also against DuckDB limited to one thread
(which spends less CPU on the job than with its default threads), output bytes (target ≤ 0.85× DuckDB's) and
curated bytes per tick.

Then peak RSS of the compaction of a 5,000-symbol day at two sizes, each in a fresh child process:
memory is bounded by CompactOptions.range_rows, not by the size of the day.
Scale with TICKPIPE_BENCH_SCALE (default 1.0).
"""

from __future__ import annotations

import gzip
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime

import orjson

from consumers.lake.compact import CompactOptions, Compactor, MiB
from consumers.lake.schema import TICKS
from consumers.lake.store import DirStore
from local.firehose_pump import evaluate_prefix, object_suffix
from local.provision import RAW_TICKS_PREFIX
from market.tick import FIELDS
from tickpipe.config import Settings

DAY = date(2026, 11, 26)
OPEN = int(datetime(2026, 11, 26, 3, 45, tzinfo=UTC).timestamp())
SESSION = 22_500  # 09:15-15:30 IST
TARGET_RATIO = 1.0
TARGET_SIZE = 0.85
ROUNDS = 2


def make_day(root: str, syms: int, per_sym: int, *, objects: int = 24, dup: float = 0.02, seed: int = 1) -> tuple[int, int]:
    """Write a raw day as Firehose would land it; returns (ticks incl. duplicates, gzip bytes)."""
    rng = random.Random(seed)
    slices: list[list[bytes]] = [[] for _ in range(objects)]
    n = 0
    seq = 0
    for s in range(syms):
        sym = f"NSE:S{s:05d}-EQ"
        price = round(rng.uniform(20, 4000), 1)
        vol = rng.randint(1000, 90_000)
        turnover = price * vol
        hi = lo = op = price
        pc = round(price * rng.uniform(0.97, 1.03), 2)
        step = SESSION / per_sym
        for i in range(per_sym):
            ts = OPEN + int(i * step) + rng.randint(0, max(int(step) - 1, 0))
            price = max(round(round(price * (1 + rng.gauss(0, 0.0006)) / 0.05) * 0.05, 2), 0.05)
            q = rng.randint(1, 400)
            vol += q
            turnover += price * q
            hi, lo = max(hi, price), min(lo, price)
            seq += 1
            values = (sym, ts, ts, price, q, vol, round(turnover / vol, 2), round(price - 0.05, 2),
                      round(price + 0.05, 2), rng.randint(1, 900), rng.randint(1, 900), rng.randint(1000, 90_000),
                      rng.randint(1000, 90_000), None, hi, lo, op, pc, "ws", "prod-1", seq,
                      ts * 1000 + rng.randint(5, 300), 1)
            line = orjson.dumps(dict(zip(FIELDS, values, strict=True))) + b"\n"
            k = min((ts - OPEN) * objects // SESSION, objects - 1)
            slices[k].append(line)
            n += 1
            if rng.random() < dup:  # a resend after a reconnect: same quote state, later arrival
                slices[min(k + 1, objects - 1)].append(line)
                n += 1
    gz = 0
    for k, lines in enumerate(slices):
        at = datetime.fromtimestamp(OPEN + k * SESSION // objects, UTC)
        key = evaluate_prefix(RAW_TICKS_PREFIX, at) + object_suffix("tickpipe-bench-raw", "1", at, "GZIP")
        path = os.path.join(root, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        body = gzip.compress(b"".join(lines), compresslevel=6)
        with open(path, "wb") as f:
            f.write(body)
        gz += len(body)
    return n, gz


def run_ours(root: str, options: CompactOptions) -> tuple[float, float, int, int]:
    settings = Settings(env="bench")
    t0, c0 = time.perf_counter(), time.process_time()
    report = Compactor(settings, TICKS, store=DirStore(root), options=options, today=DAY).run([DAY.isoformat()])
    return time.perf_counter() - t0, time.process_time() - c0, report.bytes_out, report.rows_out


def run_duckdb(root: str, out: str, threads: int | None = None) -> tuple[float, float, int, int]:
    """DuckDB's run of the job; ``threads`` None is its default (every core)."""
    import duckdb

    columns = ", ".join(f"'{f.name}': '{duck_type(f.type)}'" for f in TICKS.read_schema)
    order = ", ".join(f"{c} {'ASC' if o == 'ascending' else 'DESC'}" for c, o in TICKS.order)
    prefer = ", ".join(f"{c} {'ASC' if o == 'ascending' else 'DESC'}" for c, o in TICKS.prefer)
    keys = ", ".join(TICKS.dedup_keys)
    con = duckdb.connect()
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    t0, c0 = time.perf_counter(), time.process_time()
    con.execute(
        f"""COPY (
              SELECT * FROM read_json('{root}/raw/ticks/*/*/*.gz', format='newline_delimited',
                                      compression='gzip', hive_partitioning=false,
                                      columns={{{columns}}})
              QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {prefer}) = 1
              ORDER BY {order}
            ) TO '{out}' (FORMAT parquet, COMPRESSION zstd)"""
    )
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    rows = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]
    return seconds, cpu, os.path.getsize(out), rows


def duck_type(t: object) -> str:
    return {"int64": "BIGINT", "uint64": "UBIGINT", "double": "DOUBLE", "string": "VARCHAR"}[str(t)]


def peak_rss(syms: int, per_sym: int, range_rows: int) -> tuple[int, float]:
    """Peak RSS (MiB) of a child process that compacts a generated day; and the day's ticks (M)."""
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as root:
        n, _gz = make_day(root, syms, per_sym, objects=48)
        out = subprocess.run(
            [sys.executable, "-m", "bench.compact", "--child", root, str(range_rows)],
            check=True, capture_output=True, text=True,
        )
        return int(out.stdout.split()[-1]) // 1024, n / 1e6


def main() -> None:
    scale = float(os.environ.get("TICKPIPE_BENCH_SCALE", "1.0"))
    syms, per_sym = 500, int(800 * scale)
    with tempfile.TemporaryDirectory(prefix="bench-compact-") as root:
        n, gz = make_day(root, syms, per_sym)
        print(f"   raw day: {syms} symbols, {n:,} ticks (2% resent), {gz / MiB:.1f} MiB gzip JSON in 24 objects")
        # Interleaved, best of ROUNDS each: the machine is shared, so single timings are noisy.
        duck_s = ours_s = duck_c = ours_c = duck1_c = float("inf")
        for _ in range(ROUNDS):
            s, c, duck_bytes, duck_rows = run_duckdb(root, os.path.join(root, "duck.parquet"))
            duck_s, duck_c = min(duck_s, s), min(duck_c, c)
            # one thread: DuckDB spends less CPU on the job than with several (no coordination)
            duck1_c = min(duck1_c, run_duckdb(root, os.path.join(root, "duck1.parquet"), threads=1)[1])
            for done in ("state", "curated"):  # start each of our runs from an empty lake
                shutil.rmtree(os.path.join(root, done), ignore_errors=True)
            s, c, ours_bytes, ours_rows = run_ours(root, CompactOptions(work_dir=root))
            ours_s, ours_c = min(ours_s, s), min(ours_c, c)
        if ours_rows != duck_rows:
            print(f"   !! row counts differ: ours {ours_rows:,}, DuckDB {duck_rows:,}")
        ours_mbs, duck_mbs = gz / MiB / ours_s, gz / MiB / duck_s
        ratio = ours_mbs / duck_mbs
        print(f"   throughput   ours {ours_mbs:6.1f} MB/s   DuckDB {duck_mbs:6.1f} MB/s   ratio {ratio:.2f}x "
              f"(wall; target >= {TARGET_RATIO}x) {'OK' if ratio >= TARGET_RATIO else 'BELOW TARGET'}")
        cpu_ratio = duck_c / ours_c
        print(f"   CPU time     ours {ours_c:6.2f} s      DuckDB {duck_c:6.2f} s      ratio {cpu_ratio:.2f}x "
              f"(throughput per CPU second; target >= {TARGET_RATIO}x) "
              f"{'OK' if cpu_ratio >= TARGET_RATIO else 'BELOW TARGET'}")
        one_ratio = duck1_c / ours_c
        print(f"   CPU time     ours {ours_c:6.2f} s      DuckDB {duck1_c:6.2f} s      ratio {one_ratio:.2f}x "
              f"(DuckDB with threads=1; target >= {TARGET_RATIO}x) {'OK' if one_ratio >= TARGET_RATIO else 'BELOW TARGET'}")
        size_ratio = ours_bytes / duck_bytes
        print(f"   output       ours {ours_bytes / MiB:6.2f} MiB   DuckDB {duck_bytes / MiB:6.2f} MiB   ratio {size_ratio:.2f}x "
              f"(target <= {TARGET_SIZE}x) {'OK' if size_ratio <= TARGET_SIZE else 'LARGER'}")
        print(f"   bytes/tick   ours {ours_bytes / ours_rows:6.1f}   DuckDB {duck_bytes / duck_rows:6.1f}   "
              f"raw gzip {gz / n:6.1f}   ({ours_rows:,} ticks after dedup)")
    range_rows = 250_000
    for per in (int(40 * scale), int(160 * scale)):
        rss, m = peak_rss(5000, per, range_rows)
        print(f"   peak RSS     5,000 symbols, {m:.2f} M ticks, range_rows {range_rows:,}: {rss} MiB")


def _child(root: str, range_rows: int) -> None:
    Compactor(Settings(env="bench"), TICKS, store=DirStore(root),
              options=CompactOptions(work_dir=root, range_rows=range_rows), today=DAY).run([DAY.isoformat()])
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
