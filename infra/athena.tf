# Athena over the lake: a Glue database with the raw (JSON lines) and curated (Parquet) tables, and
# a workgroup with a result location and a per-query scan cutoff. Partitions are projected from
# dt (and hh), so no crawler and no MSCK REPAIR are ever needed.
#
# Columns follow the record contracts (market/tick.py FIELDS, the bar record) and the curated
# Parquet schemas in consumers/lake/schema.py; the tables are the ones sql/ddl/*.sql creates for
# DuckDB and Athena by hand. tests/infra checks all three.

locals {
  glue_database = "tickpipe_${replace(var.env, "-", "_")}"
  lake_s3       = "s3://${aws_s3_bucket.lake.bucket}/"

  # Athena types: ints are bigint, prices double, the rest string.
  tick_columns = [
    { name = "sym", type = "string" },
    { name = "ts", type = "bigint" },
    { name = "ltt", type = "bigint" },
    { name = "ltp", type = "double" },
    { name = "ltq", type = "bigint" },
    { name = "vol", type = "bigint" },
    { name = "atp", type = "double" },
    { name = "bid", type = "double" },
    { name = "ask", type = "double" },
    { name = "bq", type = "bigint" },
    { name = "aq", type = "bigint" },
    { name = "tbq", type = "bigint" },
    { name = "tsq", type = "bigint" },
    { name = "oi", type = "bigint" },
    { name = "dh", type = "double" },
    { name = "dl", type = "double" },
    { name = "op", type = "double" },
    { name = "pc", type = "double" },
    { name = "src", type = "string" },
    { name = "pid", type = "string" },
    { name = "seq", type = "bigint" },
    { name = "rx", type = "bigint" },
    { name = "v", type = "bigint" },
  ]

  bar_columns = [
    { name = "sym", type = "string" },
    { name = "start", type = "bigint" },
    { name = "o", type = "double" },
    { name = "h", type = "double" },
    { name = "l", type = "double" },
    { name = "c", type = "double" },
    { name = "vol", type = "bigint" },
    { name = "vwap", type = "double" },
    { name = "n", type = "bigint" },
    { name = "vol_cum", type = "bigint" },
    { name = "first_ts", type = "bigint" },
    { name = "last_ts", type = "bigint" },
    { name = "oi", type = "bigint" },
    { name = "rev", type = "bigint" },
    { name = "v", type = "bigint" },
  ]

  # table => where it lives, its format and its partition columns.
  lake_tables = {
    raw_ticks = { prefix = local.raw_ticks_prefix, format = "json", columns = local.tick_columns, hourly = true }
    raw_bars  = { prefix = local.raw_bars_prefix, format = "json", columns = local.bar_columns, hourly = true }
    ticks     = { prefix = local.curated_ticks_prefix, format = "parquet", columns = local.tick_columns, hourly = false }
    bars_5m   = { prefix = local.curated_bars_prefix, format = "parquet", columns = local.bar_columns, hourly = false }
  }

  formats = {
    json = {
      input  = "org.apache.hadoop.mapred.TextInputFormat"
      output = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
      serde  = "org.openx.data.jsonserde.JsonSerDe"
      # A malformed line reads as NULLs instead of failing the whole query (compaction quarantines it).
      serde_parameters = { "ignore.malformed.json" = "true" }
    }
    parquet = {
      input            = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
      output           = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
      serde            = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
      serde_parameters = {}
    }
  }
}

resource "aws_glue_catalog_database" "lake" {
  name        = local.glue_database
  description = "tickpipe ${var.env}: raw and curated market data in s3://${local.bucket_name}"
}

resource "aws_glue_catalog_table" "lake" {
  for_each = local.lake_tables

  name          = each.key
  database_name = aws_glue_catalog_database.lake.name
  table_type    = "EXTERNAL_TABLE"

  parameters = merge(
    {
      EXTERNAL                      = "TRUE"
      classification                = each.value.format
      "projection.enabled"          = "true"
      "projection.dt.type"          = "date"
      "projection.dt.format"        = "yyyy-MM-dd"
      "projection.dt.range"         = "2024-01-01,NOW"
      "projection.dt.interval"      = "1"
      "projection.dt.interval.unit" = "DAYS"
      "storage.location.template"   = each.value.hourly ? "${local.lake_s3}${each.value.prefix}dt=$${dt}/hh=$${hh}/" : "${local.lake_s3}${each.value.prefix}dt=$${dt}/"
    },
    each.value.hourly ? {
      "projection.hh.type"   = "enum"
      "projection.hh.values" = "00,01,02,03,04,05,06,07,08,09,10,11,12,13,14,15,16,17,18,19,20,21,22,23"
    } : {},
    each.value.format == "parquet" ? { "parquet.compression" = "ZSTD" } : {},
  )

  partition_keys {
    name = "dt"
    type = "string"
  }

  dynamic "partition_keys" {
    for_each = each.value.hourly ? ["hh"] : []
    content {
      name = partition_keys.value
      type = "string"
    }
  }

  storage_descriptor {
    location      = "${local.lake_s3}${each.value.prefix}"
    input_format  = local.formats[each.value.format].input
    output_format = local.formats[each.value.format].output

    ser_de_info {
      serialization_library = local.formats[each.value.format].serde
      parameters            = local.formats[each.value.format].serde_parameters
    }

    dynamic "columns" {
      for_each = each.value.columns
      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }
}

resource "aws_athena_workgroup" "lake" {
  name          = "${local.prefix}-athena"
  description   = "tickpipe ${var.env} queries; results in s3://${local.bucket_name}/${local.athena_results_prefix}"
  force_destroy = true # saved query history only; the data is in the lake

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_cutoff

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location = "${local.lake_s3}${local.athena_results_prefix}"
      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = aws_kms_key.main.arn
      }
    }
  }
}
