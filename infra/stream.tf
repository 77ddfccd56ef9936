# The Kinesis data stream "ticks": partition key = sym, KPL-aggregated records from the producer.

resource "aws_kinesis_stream" "ticks" {
  name             = local.stream_name
  retention_period = var.stream_retention_hours
  # Only read in PROVISIONED mode; on-demand streams reshard by themselves.
  shard_count = var.stream_mode == "PROVISIONED" ? var.stream_shard_count : null

  encryption_type = "KMS"
  kms_key_id      = aws_kms_key.main.arn

  stream_mode_details {
    stream_mode = var.stream_mode
  }

  # Per-shard metrics show a hot symbol's shard falling behind; each costs as a custom metric.
  shard_level_metrics = var.stream_shard_level_metrics
}
