"""`tickpipe compact`: run compaction now, with a progress display."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from typing import Any

from consumers.lake.compact import CompactOptions, MiB, compact_all
from consumers.lake.schema import TABLES
from tickpipe.config import Settings
from tickpipe.options import flag


class ProgressLine:
    """One line on stderr, redrawn in place: stage, a bar, done/total and the rate."""

    def __init__(self, stream: Any = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.stage = ""
        self.t0 = time.monotonic()
        self.tty = getattr(self.stream, "isatty", lambda: False)()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            if self.stage and self.tty:
                self.stream.write("\n")
            self.stage, self.t0 = stage, time.monotonic()
        filled = int(self.width * done / total) if total else self.width
        rate = done / max(time.monotonic() - self.t0, 1e-9)
        line = f"{stage:32} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} ({rate:.1f}/s)"
        if self.tty:
            self.stream.write("\r" + line)
        elif done == total:  # not a terminal (CI, a log): one line per finished stage
            self.stream.write(line + "\n")
        self.stream.flush()

    def end(self) -> None:
        if self.tty and self.stage:
            self.stream.write("\n")


def day(value: str) -> str:
    """A UTC date as yyyy-MM-dd (the raw partition format), or a clear argparse error."""
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-11-26") from None


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "compact",
        help="compact raw/ticks and raw/bars into curated Parquet now",
        description="Read new raw objects (gzip JSON lines from Firehose), merge them into the curated "
        "Parquet partitions of their event day and switch each day's manifest. Idempotent.",
    )
    p.add_argument("--table", action="append", choices=sorted(TABLES), help="only this table (repeatable)")
    p.add_argument("--raw-day", action="append", metavar="YYYY-MM-DD", type=day,
                   help="scan these raw partitions (default: today and --lookback-days back)")
    p.add_argument("--lookback-days", type=CompactOptions.flag_type("lookback_days"), default=CompactOptions.lookback_days,
                   help="raw partitions scanned before today (default 3)")
    p.add_argument("--target-mb", type=flag(float, ge=1, le=5120), default=CompactOptions.target_file_bytes / MiB,
                   help="curated file size to aim for (default 128)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    options = CompactOptions(target_file_bytes=int(args.target_mb * MiB), lookback_days=args.lookback_days)
    progress = ProgressLine()
    reports = compact_all(
        settings, tables=args.table or tuple(TABLES), raw_days=args.raw_day, options=options, progress=progress
    )
    progress.end()
    for r in reports:
        days = ", ".join(r.days_written) or "none"
        print(
            f"{r.table}: {r.raw_objects_new} new of {r.raw_objects_seen} raw objects, {r.rows_in} rows in, "
            f"{r.rows_bad} bad, {r.objects_quarantined} quarantined; days rewritten: {days}; "
            f"{r.rows_out} rows in {r.files_written} file(s), {r.bytes_out / MiB:.1f} MiB, {r.seconds:.1f} s"
        )
    return 0
