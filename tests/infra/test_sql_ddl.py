"""The Glue tables Terraform builds are the tables sql/ddl/*.sql describes (columns, partitions,
location, format, projection)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DDL = Path(__file__).resolve().parents[2] / "sql" / "ddl"
TABLES = ["raw_ticks", "raw_bars", "ticks", "bars_5m"]


def ddl(table: str) -> str:
    return (DDL / f"{table}.sql").read_text()


def ddl_columns(text: str) -> list[tuple[str, str]]:
    body = re.search(r"CREATE EXTERNAL TABLE[^(]*\((.*?)\)\s*PARTITIONED BY", text, re.S).group(1)
    return [tuple(col.split()) for col in (c.strip() for c in body.split(",")) if col]


def ddl_properties(text: str) -> dict[str, str]:
    block = re.search(r"TBLPROPERTIES\s*\((.*?)\)\s*$", text, re.S).group(1)
    return dict(re.findall(r"'([^']+)'\s*=\s*'([^']*)'", block))


def test_every_ddl_table_is_a_glue_table(tf):
    # infra/history.tf builds the history tables (tests/infra/test_history_tf.py checks them).
    history = set(tf.locals["history_tables"])
    assert sorted(p.stem for p in DDL.glob("*.sql") if p.stem not in history) == sorted(tf.locals["lake_tables"]) \
        == sorted(TABLES)
    assert history <= {p.stem for p in DDL.glob("*.sql")}


@pytest.mark.parametrize("table", TABLES)
def test_columns_match_the_ddl(tf, table):
    columns_ref = tf.locals["lake_tables"][table]["columns"]  # "${local.tick_columns}"
    columns = tf.locals[columns_ref.removeprefix("${local.").removesuffix("}")]
    assert [(c["name"], c["type"]) for c in columns] == ddl_columns(ddl(table))


@pytest.mark.parametrize("table", TABLES)
def test_partitions_location_and_format_match_the_ddl(tf, table):
    text, spec = ddl(table), tf.locals["lake_tables"][table]
    partitions = re.search(r"PARTITIONED BY \(([^)]*)\)", text).group(1)
    assert partitions == ("dt string, hh string" if spec["hourly"] is True else "dt string")
    location = re.search(r"LOCATION 's3://\{\{bucket\}\}/([^']*)'", text).group(1)
    assert tf.render(spec["prefix"]) == location
    assert spec["format"] == ("parquet" if "STORED AS PARQUET" in text else "json")
    if spec["format"] == "json":
        assert "org.openx.data.jsonserde.JsonSerDe" in text and "'ignore.malformed.json' = 'true'" in text


@pytest.mark.parametrize("table", TABLES)
def test_table_properties_match_the_ddl(tf, table):
    params = tf.resource("aws_glue_catalog_table", "lake")["parameters"]
    for key, value in ddl_properties(ddl(table)).items():
        if key == "storage.location.template":
            suffix = "dt=$${dt}/hh=$${hh}/" if "${hh}" in value else "dt=$${dt}/"
            assert value.endswith(suffix.replace("$$", "$")) and suffix in params
        else:
            assert f'"{key}" = "{value}"' in params, f"{table}: Glue table lacks {key} = {value}"
