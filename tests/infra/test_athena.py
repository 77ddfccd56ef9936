"""Athena: Glue tables match the record contracts and the curated Parquet schemas; dt is projected."""

from __future__ import annotations

import pyarrow as pa
import pytest

from consumers.lake import schema as lake_schema
from market import tick

# Athena has no unsigned type: the tick's seq (uint64 in Parquet) is declared bigint (docs/lake.md).
ATHENA_TYPE = {pa.int64(): "bigint", pa.uint64(): "bigint", pa.float64(): "double", pa.string(): "string",
               lake_schema.SYM_TYPE: "string"}


def columns(tf, local):
    return [(c["name"], c["type"]) for c in tf.locals[local]]


def athena_columns(schema: pa.Schema):
    return [(f.name, ATHENA_TYPE[f.type]) for f in schema]


def test_tick_columns_are_the_tick_record_fields_in_order(tf):
    assert [name for name, _ in columns(tf, "tick_columns")] == list(tick.FIELDS)


@pytest.mark.parametrize(("local", "spec"), [("tick_columns", lake_schema.TICKS), ("bar_columns", lake_schema.BARS)])
def test_columns_match_the_curated_parquet_schema(tf, local, spec):
    assert columns(tf, local) == athena_columns(spec.schema)


def test_tables_cover_raw_and_curated_with_their_prefixes(tf):
    tables = tf.locals["lake_tables"]
    assert {k: tf.render(v["prefix"]) for k, v in tables.items()} == {
        "raw_ticks": lake_schema.TICKS.raw_prefix,
        "raw_bars": lake_schema.BARS.raw_prefix,
        "ticks": lake_schema.TICKS.curated_prefix,
        lake_schema.BARS.name: lake_schema.BARS.curated_prefix,
    }


def test_dt_is_projected_so_no_partition_is_ever_added_by_hand(tf):
    params = tf.resource("aws_glue_catalog_table", "lake")["parameters"]  # a merge(...) expression
    for setting in ('"projection.enabled" = "true"', '"projection.dt.type" = "date"',
                    '"projection.dt.format" = "yyyy-MM-dd"', '"projection.hh.type" = "enum"'):
        assert setting in params, f"missing {setting}"
    # $${dt} is Terraform's escape for the literal ${dt} Athena fills in.
    assert "dt=$${dt}/hh=$${hh}/" in params and "dt=$${dt}/\"" in params


def test_workgroup_enforces_result_location_and_scan_cutoff(tf):
    cfg = tf.block(tf.resource("aws_athena_workgroup", "lake"), "configuration")
    assert cfg["enforce_workgroup_configuration"] is True
    assert cfg["bytes_scanned_cutoff_per_query"] == "${var.athena_bytes_scanned_cutoff}"
    result = tf.block(cfg, "result_configuration")
    assert tf.render(result["output_location"]).endswith(tf.locals["athena_results_prefix"])
