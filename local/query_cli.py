"""`tickpipe query`: run a sql/ file or a statement on the lake (DuckDB locally, Athena in AWS)."""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from consumers.lake.errors import QueryError
from tickpipe.command import EXIT_USAGE
from tickpipe.config import Settings
from tickpipe.errors import ConfigError


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "query",
        help="run SQL on the lake (local DuckDB over the moto server, or Athena)",
        description="Run an Athena SQL file from sql/queries/ (by name or path) or a statement on the lake. "
        "Locally the SQL is translated to DuckDB by sqlglot and reads the lake through AWS_ENDPOINT_URL.",
    )
    p.add_argument("query", nargs="?", help="a file in sql/queries/ (e.g. daily_ohlcv) or a path to a .sql file")
    p.add_argument("-e", "--execute", metavar="SQL", help="run this statement instead of a file")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="fill {{NAME}} in the SQL (default day = today, UTC)")
    p.add_argument("--engine", choices=("local", "athena"), default="local", help="where to run it (default local)")
    p.add_argument("--lake", type=Path, metavar="DIR",
                   help="run locally on a directory laid out like the bucket instead of the moto server: "
                        "tickpipe-out/lake after `make demo`, tickpipe-out/history after `make backfill`")
    p.add_argument("--csv", action="store_true", help="print CSV instead of an aligned table")
    p.add_argument("--list", action="store_true", help="list the queries in sql/queries/ and exit")
    p.set_defaults(func=run)


def _resolve(name: str) -> Path:
    from local.query import QUERY_DIR

    path = Path(name)
    if path.suffix == ".sql" and path.exists():
        return path
    candidate = QUERY_DIR / f"{name.removesuffix('.sql')}.sql"
    if candidate.exists():
        return candidate
    have = ", ".join(p.stem for p in sorted(QUERY_DIR.glob("*.sql")))
    raise QueryError(f"no query {name!r}; have: {have}")


def _print(columns: list[str], rows: list[tuple[Any, ...]], as_csv: bool) -> None:
    if as_csv:
        w = csv.writer(sys.stdout)
        w.writerow(columns)
        w.writerows(rows)
        return
    cells = [[("" if v is None else str(v)) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
    print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def run(args: argparse.Namespace) -> int:
    from consumers.lake.query import AthenaEngine, render
    from local.query import QUERY_DIR, LocalEngine, query_file

    if args.list:
        for p in sorted(QUERY_DIR.glob("*.sql")):
            first = p.read_text().splitlines()[0].removeprefix("--").strip()
            print(f"{p.stem:24} {first}")
        return 0
    if not args.query and not args.execute:
        print("tickpipe query: give a query name, a .sql path, -e SQL or --list", file=sys.stderr)
        return EXIT_USAGE
    params = {"day": datetime.now(UTC).date().isoformat()}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"tickpipe query: --param wants NAME=VALUE, got {item!r}", file=sys.stderr)
            return EXIT_USAGE
        params[key] = value
    try:
        settings = Settings.from_env()
        if args.lake is not None and not args.lake.is_dir():
            raise QueryError(f"--lake {args.lake}: no such directory (run `make demo` or `make backfill` first)")
        # The query name and its parameters are checked before any connection to AWS is made.
        path = None if args.execute else _resolve(args.query)
        sql = args.execute if path is None else path.read_text()
        if path is None or path.parent.name != "ddl":
            render(sql, {"bucket": settings.bucket, **params}, source=str(path or "-e"))
    except (QueryError, ConfigError) as exc:
        print(f"tickpipe query: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.lake is not None and args.engine != "local":
            raise QueryError("--lake reads a local directory; it does not go with --engine athena")
        engine = LocalEngine(settings, lake_dir=args.lake) if args.engine == "local" else AthenaEngine(settings)
        if path is None:
            result = engine.run(render(sql, {"bucket": settings.bucket, **params}))
        else:
            result = query_file(engine, path, params)
    except QueryError as exc:
        print(f"tickpipe query: {exc}", file=sys.stderr)
        return 1
    _print(result.columns, result.rows, args.csv)
    return 0
