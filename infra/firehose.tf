# Two delivery streams into the lake.
#
# raw:  source = the ticks stream. Firehose de-aggregates the producer's KPL records and writes the
#       user records back to back. Every tick record already ends with "\n" (market/tick.py), so
#       there is deliberately NO AppendDelimiterToRecord processor: it would add a second newline.
# bars: DirectPut from the bars function; bar records are newline-terminated JSON lines as well.
#
# Firehose's !{timestamp:...} is the record's arrival time in UTC, which is what `dt` means in the lake.

locals {
  raw_ticks_firehose_prefix = "${local.raw_ticks_prefix}dt=!{timestamp:yyyy-MM-dd}/hh=!{timestamp:HH}/"
  raw_bars_firehose_prefix  = "${local.raw_bars_prefix}dt=!{timestamp:yyyy-MM-dd}/hh=!{timestamp:HH}/"
  # Firehose requires !{firehose:error-output-type} in the error prefix when the prefix uses expressions.
  raw_ticks_error_prefix = "${local.raw_errors_prefix}ticks/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
  raw_bars_error_prefix  = "${local.raw_errors_prefix}bars/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
}

resource "aws_cloudwatch_log_group" "firehose" {
  name              = "/aws/kinesisfirehose/${local.prefix}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_cloudwatch_log_stream" "firehose_raw" {
  name           = "raw-s3-delivery"
  log_group_name = aws_cloudwatch_log_group.firehose.name
}

resource "aws_cloudwatch_log_stream" "firehose_bars" {
  name           = "bars-s3-delivery"
  log_group_name = aws_cloudwatch_log_group.firehose.name
}

resource "aws_kinesis_firehose_delivery_stream" "raw" {
  name        = local.raw_firehose_name
  destination = "extended_s3"

  # Records arrive encrypted from the stream's KMS key; server-side encryption settings apply only
  # to DirectPut delivery streams, and the S3 objects are encrypted with the lake's key.
  kinesis_source_configuration {
    kinesis_stream_arn = aws_kinesis_stream.ticks.arn
    role_arn           = aws_iam_role.firehose.arn
  }

  extended_s3_configuration {
    role_arn            = aws_iam_role.firehose.arn
    bucket_arn          = aws_s3_bucket.lake.arn
    prefix              = local.raw_ticks_firehose_prefix
    error_output_prefix = local.raw_ticks_error_prefix
    compression_format  = "GZIP"
    buffering_size      = var.raw_buffer_mb
    buffering_interval  = var.raw_buffer_seconds
    kms_key_arn         = aws_kms_key.main.arn

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.firehose.name
      log_stream_name = aws_cloudwatch_log_stream.firehose_raw.name
    }
  }
}

resource "aws_kinesis_firehose_delivery_stream" "bars" {
  name        = local.bars_firehose_name
  destination = "extended_s3"

  server_side_encryption {
    enabled  = true
    key_type = "CUSTOMER_MANAGED_CMK"
    key_arn  = aws_kms_key.main.arn
  }

  extended_s3_configuration {
    role_arn            = aws_iam_role.firehose.arn
    bucket_arn          = aws_s3_bucket.lake.arn
    prefix              = local.raw_bars_firehose_prefix
    error_output_prefix = local.raw_bars_error_prefix
    compression_format  = "GZIP"
    buffering_size      = 16
    buffering_interval  = var.bars_buffer_seconds
    kms_key_arn         = aws_kms_key.main.arn

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.firehose.name
      log_stream_name = aws_cloudwatch_log_stream.firehose_bars.name
    }
  }
}
