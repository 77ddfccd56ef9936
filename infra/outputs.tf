output "stream_name" {
  description = "Kinesis data stream the producer writes ticks to (TICKPIPE_STREAM)."
  value       = aws_kinesis_stream.ticks.name
}

output "stream_arn" {
  description = "ARN of the ticks stream."
  value       = aws_kinesis_stream.ticks.arn
}

output "bucket" {
  description = "The lake bucket (TICKPIPE_BUCKET): raw/, curated/, quarantine/, state/."
  value       = aws_s3_bucket.lake.bucket
}

output "raw_firehose_name" {
  description = "Delivery stream ticks → raw/ticks/."
  value       = aws_kinesis_firehose_delivery_stream.raw.name
}

output "bars_firehose_name" {
  description = "Delivery stream bars → raw/bars/."
  value       = aws_kinesis_firehose_delivery_stream.bars.name
}

output "bars_function_name" {
  description = "Lambda that turns the stream into 5-minute bars."
  value       = aws_lambda_function.bars.function_name
}

output "compact_function_name" {
  description = "Lambda that compacts raw/ into curated Parquet (invoke it by hand to compact now)."
  value       = aws_lambda_function.compact.function_name
}

output "producer_cluster" {
  description = "ECS cluster of the producer services."
  value       = aws_ecs_cluster.producer.name
}

output "producer_services" {
  description = "Producer ECS service per symbol slice."
  value       = { for k, s in aws_ecs_service.producer : k => s.name }
}

output "producer_log_group" {
  description = "CloudWatch log group of the producer tasks."
  value       = aws_cloudwatch_log_group.producer.name
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies (TICKPIPE_ALARM_TOPIC_ARN)."
  value       = aws_sns_topic.alarms.arn
}

output "ssm_prefix" {
  description = "SSM tree of the Fyers settings and token (TICKPIPE_SSM_PREFIX)."
  value       = local.ssm_prefix
}

output "athena_workgroup" {
  description = "Athena workgroup with the result location and scan cutoff."
  value       = aws_athena_workgroup.lake.name
}

output "glue_database" {
  description = "Glue database holding raw_ticks, raw_bars, ticks and bars_5m."
  value       = aws_glue_catalog_database.lake.name
}

output "kms_key_arn" {
  description = "Key encrypting the stream, lake, logs, topic and queues (lake readers need kms:Decrypt on it)."
  value       = aws_kms_key.main.arn
}

output "producer_repository_url" {
  description = "ECR repository for the producer image (immutable tags, scanned on push); deploy its digest with producer_image_digest."
  value       = aws_ecr_repository.producer.repository_url
}

output "secrets_kms_key_arn" {
  description = "The secrets' own key (Fyers credentials, tokens, login link key): its policy names the roles that may use it."
  value       = aws_kms_key.secrets.arn
}
