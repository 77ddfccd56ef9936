# Every variable has a description and a type; the ones where a wrong value costs money, loses data
# or fails late in `apply` also have a validation.

# --- where -------------------------------------------------------------------------------------

variable "env" {
  description = "Environment name: part of every resource name (tickpipe-<env>-<role>) and of the SSM tree /tickpipe/<env>/."
  type        = string
  default     = "dev"

  validation {
    # Lowercase because S3 bucket names must be; short because the bucket name adds 27 characters.
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.env))
    error_message = "env must be 1-20 characters: a lowercase letter, then lowercase letters, digits or '-'."
  }
}

variable "region" {
  description = "AWS region for every resource. NSE/BSE data is closest to ap-south-1 (Mumbai)."
  type        = string
  default     = "ap-south-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like ap-south-1."
  }
}

variable "tags" {
  description = "Extra tags for every resource (project and environment are always set)."
  type        = map(string)
  default     = {}
}

# --- stream ------------------------------------------------------------------------------------

variable "stream_mode" {
  description = "Kinesis capacity mode: ON_DEMAND (reshards by itself, pays per GB) or PROVISIONED (pays per shard-hour)."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "PROVISIONED"], var.stream_mode)
    error_message = "stream_mode must be ON_DEMAND or PROVISIONED."
  }
}

variable "stream_shard_count" {
  description = "Shards when stream_mode is PROVISIONED (a shard takes 1 MiB/s or 1,000 records/s). Ignored for ON_DEMAND."
  type        = number
  default     = 1

  validation {
    condition     = var.stream_shard_count >= 1 && var.stream_shard_count <= 500 && floor(var.stream_shard_count) == var.stream_shard_count
    error_message = "stream_shard_count must be a whole number from 1 to 500."
  }
}

variable "stream_retention_hours" {
  description = "How long the stream keeps records: the window in which a stopped bars consumer can catch up."
  type        = number
  default     = 24

  validation {
    condition     = var.stream_retention_hours >= 24 && var.stream_retention_hours <= 8760
    error_message = "stream_retention_hours must be 24 to 8760."
  }
}

variable "stream_shard_level_metrics" {
  description = "Enhanced (per-shard) stream metrics; each is billed like a custom metric per shard. [] turns them off."
  type        = list(string)
  default     = ["IncomingRecords", "IteratorAgeMilliseconds", "WriteProvisionedThroughputExceeded"]

  validation {
    condition = alltrue([for m in var.stream_shard_level_metrics : contains([
      "IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords", "WriteProvisionedThroughputExceeded",
    "ReadProvisionedThroughputExceeded", "IteratorAgeMilliseconds", "ALL"], m)])
    error_message = "stream_shard_level_metrics may only name Kinesis shard-level metrics (IncomingRecords, IteratorAgeMilliseconds, ...)."
  }
}

# --- lake --------------------------------------------------------------------------------------

variable "raw_transition_days" {
  description = "Days after which raw/ objects move to raw_storage_class (compaction has turned them into curated Parquet by then)."
  type        = number
  default     = 30

  validation {
    # S3 refuses a transition to STANDARD_IA earlier than 30 days.
    condition     = var.raw_transition_days >= 30
    error_message = "raw_transition_days must be at least 30 (S3's minimum for STANDARD_IA)."
  }
}

variable "raw_storage_class" {
  description = "Storage class raw/ moves to after raw_transition_days."
  type        = string
  default     = "GLACIER_IR"

  validation {
    condition     = contains(["STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"], var.raw_storage_class)
    error_message = "raw_storage_class must be one of STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER, DEEP_ARCHIVE."
  }
}

variable "raw_expiration_days" {
  description = "Days after which raw/ objects are deleted; 0 keeps them forever (raw is the replayable source of truth)."
  type        = number
  default     = 0

  validation {
    condition     = var.raw_expiration_days == 0 || var.raw_expiration_days > var.raw_transition_days
    error_message = "raw_expiration_days must be 0 (keep) or later than raw_transition_days."
  }
}

variable "noncurrent_version_days" {
  description = "Days S3 keeps an overwritten or deleted object version (compaction rewrites curated/ files; this is the undo window)."
  type        = number
  default     = 7

  validation {
    condition     = var.noncurrent_version_days >= 1
    error_message = "noncurrent_version_days must be at least 1."
  }
}

variable "force_destroy_bucket" {
  description = "Let `terraform destroy` delete the lake bucket with its data. Keep false outside throw-away environments."
  type        = bool
  default     = false
}

# --- firehose ----------------------------------------------------------------------------------

variable "raw_buffer_seconds" {
  description = "Firehose raw: deliver to S3 after this many seconds (or raw_buffer_mb, whichever first)."
  type        = number
  default     = 300

  validation {
    condition     = var.raw_buffer_seconds >= 0 && var.raw_buffer_seconds <= 900
    error_message = "raw_buffer_seconds must be 0 to 900."
  }
}

variable "raw_buffer_mb" {
  description = "Firehose raw: deliver to S3 after this many MiB (before compression). Bigger means fewer, larger objects."
  type        = number
  default     = 64

  validation {
    condition     = var.raw_buffer_mb >= 1 && var.raw_buffer_mb <= 128
    error_message = "raw_buffer_mb must be 1 to 128."
  }
}

variable "bars_buffer_seconds" {
  description = "Firehose bars: deliver to S3 after this many seconds."
  type        = number
  default     = 60

  validation {
    condition     = var.bars_buffer_seconds >= 0 && var.bars_buffer_seconds <= 900
    error_message = "bars_buffer_seconds must be 0 to 900."
  }
}

# --- lambdas -----------------------------------------------------------------------------------

variable "lambda_architecture" {
  description = "CPU architecture of both functions; the dependency layer must be built for the same one (make lambda-layer ARCH=...)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}

variable "package_dir" {
  description = "Folder holding app.zip, layer.zip and layer.json from `make package` (infra/package.py); relative to infra/ or absolute."
  type        = string
  default     = "build"
}

variable "bars_batch_size" {
  description = "Bars: most Kinesis records per invocation (Lambda caps a batch at 10,000 records and 6 MB)."
  type        = number
  default     = 1000

  validation {
    condition     = var.bars_batch_size >= 1 && var.bars_batch_size <= 10000
    error_message = "bars_batch_size must be 1 to 10000."
  }
}

variable "bars_batching_window_seconds" {
  description = "Bars: how long Lambda gathers records before invoking (latency vs. invocations)."
  type        = number
  default     = 0 # bars reach Firehose within grace + ~1 s of their bucket's end (docs/bars.md "Freshness")

  validation {
    condition     = var.bars_batching_window_seconds >= 0 && var.bars_batching_window_seconds <= 300
    error_message = "bars_batching_window_seconds must be 0 to 300."
  }
}

variable "bars_tumbling_window_seconds" {
  description = "Bars: tumbling window carrying per-shard bar state between invocations (AWS caps it at 900 s)."
  type        = number
  default     = 300

  validation {
    condition     = var.bars_tumbling_window_seconds >= 1 && var.bars_tumbling_window_seconds <= 900
    error_message = "bars_tumbling_window_seconds must be 1 to 900."
  }
}

variable "bars_max_retry_attempts" {
  description = "Bars: retries of a failing batch before it goes to the on-failure queue (-1 retries until the record expires)."
  type        = number
  default     = 10

  validation {
    condition     = var.bars_max_retry_attempts >= -1 && var.bars_max_retry_attempts <= 10000
    error_message = "bars_max_retry_attempts must be -1 to 10000."
  }
}

variable "bars_max_record_age_seconds" {
  description = "Bars: records older than this are sent to the on-failure queue instead of being retried (-1: until the stream drops them)."
  type        = number
  default     = 21600

  validation {
    condition     = var.bars_max_record_age_seconds == -1 || (var.bars_max_record_age_seconds >= 60 && var.bars_max_record_age_seconds <= 604800)
    error_message = "bars_max_record_age_seconds must be -1 or 60 to 604800."
  }
}

variable "bars_memory_mb" {
  description = "Bars function memory (CPU scales with it)."
  type        = number
  default     = 512

  validation {
    condition     = var.bars_memory_mb >= 128 && var.bars_memory_mb <= 10240
    error_message = "bars_memory_mb must be 128 to 10240."
  }
}

variable "bars_timeout_seconds" {
  description = "Bars function timeout."
  type        = number
  default     = 120

  validation {
    condition     = var.bars_timeout_seconds >= 3 && var.bars_timeout_seconds <= 900
    error_message = "bars_timeout_seconds must be 3 to 900."
  }
}

variable "bars_grace_seconds" {
  description = "Bars: exchange seconds after a bucket's end before its bar is emitted as final (TICKPIPE_BARS_GRACE_S)."
  type        = number
  default     = 2

  validation {
    # a whole number: consumers/bars/options.py refuses "2.5", and would on every invocation
    condition     = var.bars_grace_seconds >= 0 && var.bars_grace_seconds < 300 && floor(var.bars_grace_seconds) == var.bars_grace_seconds
    error_message = "bars_grace_seconds must be a whole number 0 to 299 (less than a bucket)."
  }
}

variable "bars_amend_bars" {
  description = "Bars: emitted bars per symbol kept amendable by late ticks (TICKPIPE_BARS_AMEND_BARS)."
  type        = number
  default     = 2

  validation {
    # consumers/bars/options.py: at least the bar just emitted stays amendable (market.bars.BarConfig)
    condition     = var.bars_amend_bars >= 1 && var.bars_amend_bars <= 75 && floor(var.bars_amend_bars) == var.bars_amend_bars
    error_message = "bars_amend_bars must be a whole number 1 to 75 (a session's bars)."
  }
}

variable "bars_state_budget_bytes" {
  description = "Bars: bytes of bar state carried in the tumbling-window response before it moves to the S3 checkpoint (TICKPIPE_BARS_STATE_BUDGET)."
  type        = number
  default     = 600000

  validation {
    # Lambda ends a window whose state passes 1 MB; consumers/bars/handler.py allows up to 90% of it.
    condition     = var.bars_state_budget_bytes >= 1000 && var.bars_state_budget_bytes <= 900000 && floor(var.bars_state_budget_bytes) == var.bars_state_budget_bytes
    error_message = "bars_state_budget_bytes must be a whole number 1000 to 900000 (Lambda's window state limit is 1 MB)."
  }
}

variable "compact_schedule" {
  description = "EventBridge Scheduler expression (in compact_schedule_timezone) for the compaction run."
  type        = string
  # Every 30 minutes on weekdays from 09:30 to 17:00 IST; the last run after the close sweeps the day.
  default = "cron(0/30 9-17 ? * MON-FRI *)"

  validation {
    condition     = can(regex("^(cron|rate)\\(.+\\)$", var.compact_schedule))
    error_message = "compact_schedule must be cron(...) or rate(...)."
  }
}

variable "compact_schedule_timezone" {
  description = "IANA time zone of compact_schedule."
  type        = string
  default     = "Asia/Kolkata"
}

variable "token_schedule" {
  description = "EventBridge Scheduler expression (in token_schedule_timezone) for the morning token refresh: before the producer's start (producer_start_cron)."
  type        = string
  default     = "cron(15 8 * * ? *)" # 08:15 IST every day; weekends too, so Monday starts fresh

  validation {
    condition     = can(regex("^(cron|rate)\\(.+\\)$", var.token_schedule))
    error_message = "token_schedule must be cron(...) or rate(...)."
  }
}

variable "token_schedule_timezone" {
  description = "IANA time zone of token_schedule."
  type        = string
  default     = "Asia/Kolkata"
}

variable "refresh_token_alarm_days" {
  description = "Alarm when the Fyers refresh token has fewer days left than this (it lasts 15; renewing it takes a login)."
  type        = number
  default     = 2

  validation {
    condition     = var.refresh_token_alarm_days > 0 && var.refresh_token_alarm_days < 15
    error_message = "refresh_token_alarm_days must be between 0 and 15."
  }
}

variable "compact_memory_mb" {
  description = "Compact function memory: it sorts one range of a day's rows at a time (peak about 1.5 GiB at the default range size, docs/lake.md)."
  type        = number
  default     = 3008

  validation {
    condition     = var.compact_memory_mb >= 512 && var.compact_memory_mb <= 10240
    error_message = "compact_memory_mb must be 512 to 10240."
  }
}

variable "compact_ephemeral_storage_mb" {
  description = "Compact function /tmp size: the external sort spills a day's sorted runs there (about twice the day's curated size plus 1 GiB)."
  type        = number
  default     = 4096

  validation {
    condition     = var.compact_ephemeral_storage_mb >= 512 && var.compact_ephemeral_storage_mb <= 10240
    error_message = "compact_ephemeral_storage_mb must be 512 to 10240."
  }
}

variable "compact_timeout_seconds" {
  description = "Compact function timeout."
  type        = number
  default     = 900

  validation {
    condition     = var.compact_timeout_seconds >= 60 && var.compact_timeout_seconds <= 900
    error_message = "compact_timeout_seconds must be 60 to 900."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrency per function, -1 for none. Bars needs shards x parallelization_factor. Two compactions never overlap whatever this is (an S3 lease, consumers/lake/lease.py); new accounts (quota 10) cannot reserve."
  type        = object({ bars = number, compact = number, token = optional(number, -1) })
  default     = { bars = -1, compact = -1, token = -1 }

  validation {
    condition     = var.reserved_concurrency.bars >= -1 && var.reserved_concurrency.compact >= -1 && var.reserved_concurrency.token >= -1
    error_message = "reserved_concurrency values must be -1 (none) or a positive count."
  }
}

# --- producer ----------------------------------------------------------------------------------

variable "producer_image" {
  description = "Producer container image from another registry, with tag or digest (e.g. ghcr.io/me/tickpipe@sha256:...). Leave null and set producer_image_digest to run the image pushed to the stack's ECR repository (docs/deploy.md)."
  type        = string
  default     = null

  validation {
    condition     = var.producer_image == null || can(regex("^[^\\s]+(:[\\w][\\w.-]*|@sha256:[0-9a-f]{64})$", var.producer_image))
    error_message = "producer_image needs an explicit tag or digest (no implicit :latest)."
  }
}

variable "producer_image_digest" {
  description = "Digest of the producer image in the stack's ECR repository (terraform output producer_repository_url), as docker push printed it: sha256:<64 hex>. Tasks run exactly that image."
  type        = string
  default     = null

  validation {
    condition     = var.producer_image_digest == null || can(regex("^sha256:[0-9a-f]{64}$", var.producer_image_digest))
    error_message = "producer_image_digest must be sha256: followed by 64 lower-case hex digits (docker push prints it)."
  }
}

variable "producers" {
  description = <<-EOT
    One producer service per entry (one task each): name => { symbols, slice }. symbols is a universe
    source (a path in the image, s3://bucket/key or ssm:/name; empty = s3://<lake>/state/symbols/<name>.txt);
    slice "K/N" takes the K-th of N hash slices of it (tickpipe/universe.py), so N entries with the same
    symbols and slices 1/N..N/N split one universe across N sockets.
  EOT
  type = map(object({
    symbols = optional(string, "")
    slice   = optional(string, "")
  }))
  default = { main = {} }

  validation {
    condition     = length(var.producers) >= 1 && alltrue([for k in keys(var.producers) : can(regex("^[a-z0-9-]{1,16}$", k))])
    error_message = "producers needs at least one entry; names are 1-16 lowercase letters, digits or '-'."
  }

  validation {
    condition     = alltrue([for p in values(var.producers) : p.symbols == "" || can(regex("^(s3://[^/,]+/[^,]+|ssm:/[^,]+|/[^,]+)$", p.symbols))])
    error_message = "a producer's symbols must be an absolute path, s3://bucket/key or ssm:/name, without a comma (reconcile joins them with commas)."
  }

  validation {
    condition     = alltrue([for p in values(var.producers) : p.slice == "" || can(regex("^[1-9][0-9]*/[1-9][0-9]*$", p.slice))])
    error_message = "a producer's slice must look like 2/4 (the 2nd of 4 slices)."
  }
}

variable "producer_cpu" {
  description = "Producer task CPU units (1024 = 1 vCPU)."
  type        = number
  default     = 512

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.producer_cpu)
    error_message = "producer_cpu must be a Fargate size: 256, 512, 1024, 2048 or 4096."
  }
}

variable "producer_memory_mb" {
  description = "Producer task memory in MiB (must be a valid Fargate pair with producer_cpu)."
  type        = number
  default     = 1024

  validation {
    condition     = var.producer_memory_mb >= 512 && var.producer_memory_mb <= 30720 && var.producer_memory_mb % 512 == 0
    error_message = "producer_memory_mb must be a multiple of 512 from 512 to 30720."
  }
}

variable "producer_cpu_architecture" {
  description = "CPU architecture of the producer task; the image must be built for it."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.producer_cpu_architecture)
    error_message = "producer_cpu_architecture must be X86_64 or ARM64."
  }
}

variable "producer_capacity_provider" {
  description = "Where producer tasks run: FARGATE, FARGATE_SPOT, or the name of an EC2 capacity provider you registered (see docs/deploy.md)."
  type        = string
  default     = "FARGATE"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.producer_capacity_provider))
    error_message = "producer_capacity_provider must be FARGATE, FARGATE_SPOT or a capacity provider name."
  }
}

variable "producer_vpc_id" {
  description = "VPC of the producer tasks (they need outbound HTTPS to Fyers and to AWS APIs)."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.producer_vpc_id))
    error_message = "producer_vpc_id must look like vpc-0123abcd."
  }
}

variable "producer_subnet_ids" {
  description = "Subnets for producer tasks: public subnets with producer_assign_public_ip, or private subnets with a NAT gateway."
  type        = list(string)

  validation {
    condition     = length(var.producer_subnet_ids) >= 1 && alltrue([for s in var.producer_subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "producer_subnet_ids needs at least one id like subnet-0123abcd."
  }
}

variable "producer_assign_public_ip" {
  description = "Give producer tasks a public IP (needed in public subnets without NAT; ingress stays closed)."
  type        = bool
  default     = true
}

variable "producer_health_port" {
  description = "Port of the producer's HTTP health endpoint inside the task."
  type        = number
  default     = 8080

  validation {
    condition     = var.producer_health_port >= 1024 && var.producer_health_port <= 65535 && floor(var.producer_health_port) == var.producer_health_port
    error_message = "producer_health_port must be a whole number 1024 to 65535."
  }
}

variable "producer_journal_efs" {
  description = "Keep each producer's journal on EFS (encrypted, TLS, one access point per slice) so that ticks not yet in Kinesis survive a task that is replaced rather than stopped. Off: the journal is on task storage (flushed on SIGTERM, lost with the task). Give producer_subnet_ids one subnet per Availability Zone."
  type        = bool
  default     = false
}

variable "producer_stop_timeout_seconds" {
  description = "Seconds between SIGTERM and SIGKILL: time for the producer to flush its buffer to Kinesis."
  type        = number
  default     = 60

  validation {
    # The producer gets 10 s less (TICKPIPE_PRODUCER_STOP_TIMEOUT) to exit before the SIGKILL.
    condition     = var.producer_stop_timeout_seconds >= 15 && var.producer_stop_timeout_seconds <= 120
    error_message = "producer_stop_timeout_seconds must be 15 to 120 (the Fargate maximum)."
  }
}

variable "producer_market_hours_only" {
  description = "Scale producer services to 1 task before the open and to 0 after the close (IST, Monday-Friday, and on the dates of the special sessions in session_overrides)."
  type        = bool
  default     = true
}

variable "producer_start_cron" {
  description = "Application Auto Scaling cron (Asia/Kolkata) that starts producers; before the 09:00 pre-open."
  type        = string
  default     = "cron(40 8 ? * MON-FRI *)"

  validation {
    condition     = can(regex("^cron\\(.+\\)$", var.producer_start_cron))
    error_message = "producer_start_cron must be cron(...)."
  }
}

variable "producer_stop_cron" {
  description = "Application Auto Scaling cron (Asia/Kolkata) that stops producers; after the 15:30 close."
  type        = string
  default     = "cron(45 15 ? * MON-FRI *)"

  validation {
    condition     = can(regex("^cron\\(.+\\)$", var.producer_stop_cron))
    error_message = "producer_stop_cron must be cron(...)."
  }
}

# --- configuration the processes read -----------------------------------------------------------

variable "fyers_app_id" {
  description = "Fyers API app id (like XXXXXXXX-100); stored as the String parameter /tickpipe/<env>/fyers/app_id."
  type        = string

  validation {
    condition     = can(regex("^[A-Z0-9]+-[0-9]+$", var.fyers_app_id))
    error_message = "fyers_app_id must look like XXXXXXXX-100 (from the Fyers API dashboard)."
  }
}

variable "fyers_redirect_uri" {
  description = "Redirect URI registered with the Fyers app (where the login sends the auth code)."
  type        = string

  validation {
    condition     = can(regex("^https?://", var.fyers_redirect_uri))
    error_message = "fyers_redirect_uri must be an http(s) URL, exactly as registered with the Fyers app."
  }
}

variable "fyers_api_url" {
  description = "Fyers REST base URL (TICKPIPE_FYERS_API_URL)."
  type        = string
  default     = "https://api-t1.fyers.in"

  validation {
    condition     = can(regex("^https://", var.fyers_api_url))
    error_message = "fyers_api_url must be an https:// URL."
  }
}

variable "fyers_ws_url" {
  description = "Fyers data socket URL (TICKPIPE_FYERS_WS_URL)."
  type        = string
  default     = "wss://socket.fyers.in/hsm/v1-5/prod"

  validation {
    condition     = can(regex("^wss://", var.fyers_ws_url))
    error_message = "fyers_ws_url must be a wss:// URL."
  }
}

variable "session_overrides" {
  description = "Special sessions and closures (TICKPIPE_SESSION_OVERRIDES, format of market.session.parse_overrides), e.g. Muhurat trading."
  type        = string
  default     = ""
}

# --- observability ------------------------------------------------------------------------------

variable "alarm_emails" {
  description = "Addresses subscribed to the alarm topic, which the alarms and the monthly budget notify (each must confirm the SNS e-mail)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.alarm_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "alarm_emails must be e-mail addresses."
  }
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention for every function, task and delivery stream."
  type        = number
  default     = 90

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "iterator_age_alarm_ms" {
  description = "Alarm when the bars function falls this far behind the stream (milliseconds)."
  type        = number
  default     = 120000

  validation {
    condition     = var.iterator_age_alarm_ms >= 1000
    error_message = "iterator_age_alarm_ms must be at least 1000."
  }
}

variable "journal_depth_alarm" {
  description = "Alarm when the producer's journal holds more than this many records not yet accepted by Kinesis."
  type        = number
  default     = 100000

  validation {
    condition     = var.journal_depth_alarm >= 1
    error_message = "journal_depth_alarm must be at least 1."
  }
}

variable "athena_bytes_scanned_cutoff" {
  description = "Athena stops any query of the workgroup that scans more bytes than this (cost guard)."
  type        = number
  default     = 10737418240 # 10 GiB = about 0.05 USD per query

  validation {
    condition     = var.athena_bytes_scanned_cutoff >= 10485760
    error_message = "athena_bytes_scanned_cutoff must be at least 10485760 (10 MiB, Athena's minimum)."
  }
}

variable "secrets_key_users" {
  description = "IAM role or user ARNs, besides the token and login functions and the principal running Terraform, that may encrypt and decrypt the Fyers secrets (the people who run `tickpipe login --set-credentials` or `tickpipe login-link`). No IAM policy can grant this: the secrets key's policy names them (kms.tf)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.secrets_key_users : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", arn))])
    error_message = "secrets_key_users must be IAM role or user ARNs (arn:aws:iam::<account>:role/<name> or :user/<name>)."
  }
}

variable "monthly_budget_usd" {
  description = "Monthly AWS cost budget in USD: the budget notifies the alarm topic (so alarm_emails) when the forecast passes 80 % of it and when the spend passes it (docs/cost.md has the expected figures)."
  type        = number
  default     = 100

  validation {
    condition     = var.monthly_budget_usd > 0
    error_message = "monthly_budget_usd must be a positive amount of USD."
  }
}
