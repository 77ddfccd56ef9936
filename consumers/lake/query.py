"""The lake's SQL on Athena (AWS mode), and the parameters every engine fills the same way.

Parameters are written ``{{name}}`` in the SQL (e.g. ``WHERE dt = '{{day}}'``) and filled from
``--param name=value``; values are restricted to safe characters, so they cannot inject SQL.
The local engine (DuckDB over the moto server) is local/query.py.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Final

import boto3

from consumers.lake.errors import QueryError
from tickpipe import names
from tickpipe.config import Settings

_PARAM: Final = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_SAFE_VALUE: Final = re.compile(r"^[A-Za-z0-9_.:\- ]*$")


def render(sql: str, params: dict[str, str], *, source: str = "SQL") -> str:
    """Fill ``{{name}}`` placeholders; every placeholder needs a value of safe characters."""
    for key, value in params.items():
        if not _SAFE_VALUE.match(value):
            raise QueryError(f"parameter {key}={value!r}: only letters, digits, '_', '.', ':', '-' and spaces are allowed")

    def one(m: re.Match[str]) -> str:
        if m.group(1) not in params:
            raise QueryError(f"{source} needs parameter {m.group(1)!r}: pass --param {m.group(1)}=VALUE")
        return params[m.group(1)]

    return _PARAM.sub(one, sql)


@dataclass
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]


class AthenaEngine:
    """The same SQL on Athena (AWS mode): workgroup primary, results under the lake bucket."""

    def __init__(self, settings: Settings, *, database: str | None = None, poll: float = 0.5) -> None:
        self.settings = settings
        self.athena = boto3.client("athena", region_name=settings.region)
        self.database = database or names.PROJECT + "_" + settings.env.replace("-", "_")
        self.output = f"s3://{settings.bucket}/{names.STATE}athena/"
        self.poll = poll

    def run(self, sql: str) -> Result:
        qid = self.athena.start_query_execution(
            QueryString=sql,
            QueryExecutionContext={"Database": self.database},
            ResultConfiguration={"OutputLocation": self.output},
        )["QueryExecutionId"]
        while True:
            status = self.athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
            if status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
            time.sleep(self.poll)
        if status["State"] != "SUCCEEDED":
            raise QueryError(f"Athena query {qid} {status['State']}: {status.get('StateChangeReason', '')}")
        rows: list[tuple[Any, ...]] = []
        columns: list[str] = []
        for page in self.athena.get_paginator("get_query_results").paginate(QueryExecutionId=qid):
            meta = page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
            columns = [c["Name"] for c in meta]
            data = page["ResultSet"]["Rows"]
            if not rows and data and [d.get("VarCharValue") for d in data[0]["Data"]] == columns:
                data = data[1:]  # the header row
            rows += [tuple(d.get("VarCharValue") for d in r["Data"]) for r in data]
        return Result(columns, rows)
