"""Run the Athena SQL in sql/ against the lake locally: DuckDB over the moto server.

The same SQL runs on Athena in AWS (consumers/lake/query.py, which also fills the parameters).

Locally, each DDL file in sql/ddl/ becomes a DuckDB view: its column list (with the DDL's types)
over a pyarrow dataset read through pyarrow's S3 filesystem at AWS_ENDPOINT_URL (DuckDB's own S3
extension would have to be downloaded). Curated tables are read through their manifests
(state/compact/…), so a local query sees exactly one generation of each day; raw tables read the
gzip JSON objects under their prefix. Queries are written in Athena's (Trino) dialect and
translated to DuckDB's by sqlglot.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlparse

import boto3
import orjson
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import sqlglot
from sqlglot import exp

from consumers.history.candles import CANDLE_TABLES
from consumers.history.reconcile import DIFF_SCHEMA, RECONCILE, RECONCILE_DAILY, SUMMARY_SCHEMA
from consumers.lake.compact import parse
from consumers.lake.errors import QueryError
from consumers.lake.query import AthenaEngine, Result, render
from consumers.lake.schema import TABLES, TableSpec
from tickpipe.config import Settings
from tickpipe.resources import sql_dir

log = logging.getLogger(__name__)
logging.getLogger("sqlglot").setLevel(logging.ERROR)  # it warns about Hive SERDE properties it skips

SQL_DIR: Final = sql_dir()
DDL_DIR: Final = SQL_DIR / "ddl"
QUERY_DIR: Final = SQL_DIR / "queries"
VIEW_DIR: Final = SQL_DIR / "views"
_HIVE = re.compile(r"([A-Za-z_]+)=([^/]+)/")
DAY_OBJECT_TABLES: Final = {**{t.prefix: t.schema for t in CANDLE_TABLES.values()},
                             RECONCILE: DIFF_SCHEMA, RECONCILE_DAILY: SUMMARY_SCHEMA}
_DUCK_TYPES = {"TEXT": "VARCHAR", "VARCHAR": "VARCHAR", "BIGINT": "BIGINT", "INT": "INTEGER", "DOUBLE": "DOUBLE"}


@dataclass(frozen=True)
class TableDef:
    """What the local engine needs from one Athena DDL file."""

    name: str
    columns: list[tuple[str, str]]  # (name, DuckDB type)
    partitions: list[str]
    prefix: str  # key prefix in the lake bucket
    fmt: str  # "parquet" or "json"


def parse_ddl(text: str, *, source: str = "DDL") -> TableDef:
    try:
        create = sqlglot.parse_one(render(text, {"bucket": "bucket"}, source=source), read="athena")
    except sqlglot.errors.ParseError as exc:
        raise QueryError(f"{source}: not Athena DDL sqlglot can read: {exc}") from None
    if not isinstance(create, exp.Create) or not isinstance(create.this, exp.Schema):
        raise QueryError(f"{source}: expected CREATE EXTERNAL TABLE name (columns ...)")
    name = create.this.this.name
    columns = []
    for col in create.this.expressions:
        kind = col.args["kind"].this.name
        columns.append((col.name, _DUCK_TYPES.get(kind, kind)))
    part = create.find(exp.PartitionedByProperty)
    partitions = [c.name for c in part.this.expressions] if part else []
    location = create.find(exp.LocationProperty)
    if location is None:
        raise QueryError(f"{source}: no LOCATION")
    prefix = urlparse(location.this.name).path.lstrip("/")
    if re.search(r"STORED\s+AS\s+PARQUET", text, re.I):
        fmt = "parquet"
    elif "JsonSerDe" in text:
        fmt = "json"
    else:
        raise QueryError(f"{source}: only Parquet and JSON (JsonSerDe) tables can be read locally")
    return TableDef(name, columns, partitions, prefix, fmt)


def s3_filesystem(region: str) -> pafs.S3FileSystem:
    """pyarrow's S3 client, pointed at AWS_ENDPOINT_URL (the moto server) when it is set."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    # Generous timeouts: a busy local moto server answers slowly, and pyarrow's default gives up
    # on a request that sends nothing for 3 s.
    kwargs: dict[str, Any] = {"region": region, "connect_timeout": 10, "request_timeout": 60}
    if endpoint:
        url = urlparse(endpoint)
        kwargs.update(endpoint_override=url.netloc, scheme=url.scheme or "http")
    return pafs.S3FileSystem(**kwargs)


class LocalEngine:
    """DuckDB with one view per DDL file, reading the lake bucket on the moto server, or a directory
    laid out like the bucket (``lake_dir``: what `tickpipe demo` and `tickpipe backfill --sim` leave
    in tickpipe-out/lake and tickpipe-out/history)."""

    def __init__(self, settings: Settings, *, ddl_dir: Path = DDL_DIR, lake_dir: Path | None = None) -> None:
        import duckdb  # a local-only dependency (the `local` extra)

        self.settings = settings
        self.lake_dir = lake_dir
        if lake_dir is not None and not lake_dir.is_dir():
            raise QueryError(f"--lake {lake_dir}: no such directory (run `make demo` or `make backfill` first)")
        self.fs = s3_filesystem(settings.region) if lake_dir is None else pafs.LocalFileSystem()
        self.base = settings.bucket if lake_dir is None else str(lake_dir.resolve())
        self.s3 = boto3.client("s3", region_name=settings.region)
        self.db = duckdb.connect()
        self.tables: dict[str, TableDef] = {}
        for path in sorted(ddl_dir.glob("*.sql")):
            self.create(path.read_text(), source=str(path))
        if ddl_dir == DDL_DIR:  # views over the standard tables (sql/views/), as Athena keeps them
            for path in sorted(VIEW_DIR.glob("*.sql")):
                self.run(path.read_text())

    def create(self, ddl: str, *, source: str = "DDL") -> TableDef:
        """Run one DDL statement locally: a view with the DDL's columns over the lake."""
        table = parse_ddl(ddl, source=source)
        # Raw JSON is read eagerly through boto3: pyarrow's S3 reads of gzip JSON stall against a moto
        # server running in the same process (tests, the demo). Raw tables are for inspection.
        source = self._raw_table(table) if table.fmt == "json" else self._dataset(table)
        self.db.register(f"_src_{table.name}", source)
        cols = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in table.columns)
        parts = "".join(f', "{p}"' for p in table.partitions)
        self.db.execute(f'CREATE OR REPLACE VIEW "{table.name}" AS SELECT {cols}{parts} FROM "_src_{table.name}"')
        self.tables[table.name] = table
        return table

    def _spec(self, table: TableDef) -> TableSpec | None:
        return next((s for s in TABLES.values() if s.curated_prefix == table.prefix), None)

    def _dataset(self, table: TableDef) -> ds.Dataset:
        """A lazy Parquet dataset through pyarrow's S3 filesystem: the manifests' files for curated tables."""
        bucket = self.base
        part_schema = pa.schema([(p, pa.string()) for p in table.partitions])
        spec = self._spec(table)
        if spec is not None:
            files, schema = self._manifest_files(spec), spec.schema
        elif table.prefix in DAY_OBJECT_TABLES:
            # Tables written as one object per day, replaced in one PUT (candles, reconcile): no manifest.
            files, schema = self._listed(table.prefix, ".parquet"), DAY_OBJECT_TABLES[table.prefix]
        else:
            raise QueryError(f"{table.name}: no curated table lives at {table.prefix}")
        return ds.dataset(
            [f"{bucket}/{k}" for k in files],
            schema=pa.schema(list(schema) + list(part_schema)),
            format=ds.ParquetFileFormat(),
            filesystem=self.fs,
            partitioning=ds.partitioning(part_schema, flavor="hive"),
            partition_base_dir=f"{bucket}/{table.prefix}".rstrip("/"),
        )

    def _raw_table(self, table: TableDef) -> pa.Table:
        spec = next((s for s in TABLES.values() if s.raw_prefix == table.prefix), None)
        if spec is None:
            raise QueryError(f"no raw schema for {table.prefix}")
        parts = []
        for key in self._listed(table.prefix, ""):
            body = self._read(key)
            data = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
            # Compaction's parser: malformed lines are left out, as Athena's ignore.malformed.json would
            # (and implausible ones; every object in the bucket reached it before now).
            t = parse(spec, data, time.time())[0] if data.strip() else spec.read_schema.empty_table()
            m = _HIVE.findall(key[len(table.prefix):])
            values = dict(m)
            for p in table.partitions:
                t = t.append_column(p, pa.array([values.get(p)] * t.num_rows, pa.string()))
            parts.append(t)
        if not parts:
            empty = spec.read_schema.empty_table()
            for p in table.partitions:
                empty = empty.append_column(p, pa.array([], pa.string()))
            return empty
        return pa.concat_tables(parts)

    def _read(self, key: str) -> bytes:
        if self.lake_dir is not None:
            return (self.lake_dir / key).read_bytes()
        return self.s3.get_object(Bucket=self.settings.bucket, Key=key)["Body"].read()

    def _listed(self, prefix: str, suffix: str) -> list[str]:
        if self.lake_dir is not None:
            root = self.lake_dir
            return sorted(str(f.relative_to(root)) for f in root.glob(f"{prefix}**/*")
                          if f.is_file() and f.name.endswith(suffix) and "/dt=" in f"/{f.relative_to(root)}")
        keys = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.settings.bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(suffix) and "/dt=" in o["Key"]]
        return keys

    def _manifest_files(self, spec: TableSpec) -> list[str]:
        """The current generation of every day, as the manifests say (never a half-written day)."""
        files = []
        manifests = self._listed(spec.state_prefix, "manifest.json")
        if self.lake_dir is not None and not manifests:
            # a copy of curated/ alone (tickpipe demo's tickpipe-out/lake): compaction deleted every
            # replaced generation before the copy, so its files are the current ones
            return self._listed(spec.curated_prefix, ".parquet")
        for key in manifests:
            doc = orjson.loads(self._read(key))
            files += [f["key"] for f in doc["files"]]
        return files

    def run(self, sql: str) -> Result:
        try:
            duck = sqlglot.transpile(sql, read="athena", write="duckdb")
        except sqlglot.errors.ParseError as exc:
            raise QueryError(f"not SQL sqlglot can read: {exc}") from None
        cur = None
        for statement in duck:
            cur = self.db.execute(statement)
        if cur is None or cur.description is None:
            return Result([], [])
        return Result([d[0] for d in cur.description], cur.fetchall())


def query_file(engine: LocalEngine | AthenaEngine, path: Path, params: dict[str, str]) -> Result:
    """Run one file from sql/ (a DDL file creates its table; a query returns rows)."""
    text = path.read_text()
    if isinstance(engine, LocalEngine) and path.parent.name == "ddl":
        engine.create(text, source=str(path))
        return Result([], [])
    params = {"bucket": engine.settings.bucket, **params}
    return engine.run(render(text, params, source=str(path)))
