# The producer: a long-running container (Fyers socket → ticks → KPL-aggregated PutRecords).
# One ECS service per symbol slice (var.producers), each exactly one task: two sockets for the same
# symbols would only duplicate ticks, so deployments stop the old task before starting the new one.
#
# EC2 instead of Fargate: register an EC2 capacity provider (an Auto Scaling group of ECS-optimized
# instances) and set producer_capacity_provider to its name; the task definition is EC2-compatible.

locals {
  producer_log_group = "/ecs/${local.cluster_name}"
  producer_journal   = "/var/lib/tickpipe"
  # Beside TICKPIPE_*: AWS_REGION for boto3 clients made without a region (Fargate usually sets it too).
  container_env = { AWS_REGION = var.region, PYTHONDONTWRITEBYTECODE = "1", PYTHONUNBUFFERED = "1" }
  # `tickpipe-produce` (producer/cli.py main, infra/artifacts.py); JSON log lines for CloudWatch Logs Insights.
  producer_command = ["tickpipe-produce", "--json-logs"]

  # Per slice: the common producer environment plus where its symbols are and a unique producer id
  # (the tick record's `pid`; `seq` is strictly increasing per producer id).
  producer_symbols = { for name, p in var.producers : name => p.symbols != "" ? p.symbols : "s3://${local.bucket_name}/${local.state_prefix}symbols/${name}.txt" }
  producer_slices = {
    for name, p in var.producers : name => {
      service_name = "${local.cluster_name}-${name}"
      environment = merge(local.producer_env, p.slice != "" ? { TICKPIPE_PRODUCER_SLICE = p.slice } : {}, {
        TICKPIPE_SYMBOLS     = local.producer_symbols[name]
        TICKPIPE_PRODUCER_ID = "${var.env}-${name}"
        # producer/options.py knobs that must agree with this task definition.
        TICKPIPE_PRODUCER_HEALTH_HOST = "0.0.0.0"
        TICKPIPE_PRODUCER_HEALTH_PORT = tostring(var.producer_health_port)
        TICKPIPE_PRODUCER_JOURNAL_DIR = local.producer_journal
        # Finish before ECS's SIGKILL, with a margin for the interpreter to exit.
        TICKPIPE_PRODUCER_STOP_TIMEOUT = tostring(var.producer_stop_timeout_seconds - 10)
      })
    }
  }
}

resource "aws_ecs_cluster" "producer" {
  name = local.cluster_name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_cluster_capacity_providers" "producer" {
  cluster_name       = aws_ecs_cluster.producer.name
  capacity_providers = distinct(["FARGATE", "FARGATE_SPOT", var.producer_capacity_provider])
}

resource "aws_cloudwatch_log_group" "producer" {
  name              = local.producer_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_security_group" "producer" {
  name        = "${local.cluster_name}-tasks"
  description = "Producer tasks: no inbound; outbound HTTPS only (Fyers REST and socket, AWS APIs)"
  vpc_id      = var.producer_vpc_id

  egress {
    description = "HTTPS and WSS to Fyers and to AWS endpoints"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  dynamic "egress" {
    for_each = local.journal_efs ? [1] : []
    content {
      description = "NFS to the journal EFS mount targets (producer_journal_efs)"
      from_port   = 2049
      to_port     = 2049
      protocol    = "tcp"
      cidr_blocks = [for s in data.aws_subnet.producer : s.cidr_block]
    }
  }
}

# The producer subnets' address ranges, for the NFS egress rule above.
data "aws_subnet" "producer" {
  for_each = local.journal_efs ? toset(var.producer_subnet_ids) : toset([])
  id       = each.value
}

resource "aws_ecs_task_definition" "producer" {
  for_each = local.producer_slices

  family = each.value.service_name

  lifecycle {
    precondition {
      condition     = (var.producer_image_digest == null) != (var.producer_image == null)
      error_message = "Set producer_image_digest (the image pushed to producer_repository_url) or producer_image (another registry), not both and not neither."
    }
  }
  requires_compatibilities = ["FARGATE", "EC2"]
  network_mode             = "awsvpc"
  cpu                      = var.producer_cpu
  memory                   = var.producer_memory_mb
  execution_role_arn       = aws_iam_role.producer_execution.arn
  task_role_arn            = aws_iam_role.producer_task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.producer_cpu_architecture
  }

  # The root filesystem is read-only; the journal (records not yet accepted by Kinesis) lives on
  # task storage, or on EFS with producer_journal_efs (infra/journal.tf); /tmp on task storage.
  volume {
    name = "journal"

    dynamic "efs_volume_configuration" {
      for_each = local.journal_efs ? [aws_efs_access_point.journal[each.key].id] : []
      content {
        file_system_id     = aws_efs_file_system.journal[0].id
        transit_encryption = "ENABLED"
        authorization_config {
          access_point_id = efs_volume_configuration.value
          iam             = "ENABLED"
        }
      }
    }
  }
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = "producer"
    image                  = local.producer_image # ecr.tf: by digest
    essential              = true
    entryPoint             = local.producer_command
    readonlyRootFilesystem = true
    # The producer needs no Linux capability (it binds an unprivileged port and runs as a non-root
    # user): a compromised process gets none of Docker's default set either.
    linuxParameters = { capabilities = { drop = ["ALL"] } }
    stopTimeout     = var.producer_stop_timeout_seconds
    environment     = [for k, v in merge(each.value.environment, local.container_env) : { name = k, value = v }]
    mountPoints = [
      { sourceVolume = "journal", containerPath = local.producer_journal, readOnly = false },
      { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
    ]
    portMappings = [{ containerPort = var.producer_health_port, protocol = "tcp" }]
    healthCheck = {
      command = ["CMD", "python", "-c",
      "import sys,urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:${var.producer_health_port}/health', timeout=3).status == 200 else 1)"]
      interval    = 30
      timeout     = 5
      retries     = 3
      startPeriod = 60
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.producer.name
        awslogs-region        = var.region
        awslogs-stream-prefix = each.key
        mode                  = "non-blocking" # a slow log pipe must never stall the socket loop
        max-buffer-size       = "4m"
      }
    }
  }])
}

resource "aws_ecs_service" "producer" {
  #checkov:skip=CKV_AWS_333:Tasks in public subnets need a public IP to reach Fyers without a NAT gateway (~33 USD/month); the security group allows no inbound traffic. Set producer_assign_public_ip = false with private subnets + NAT.
  for_each = local.producer_slices

  name                               = each.value.service_name
  cluster                            = aws_ecs_cluster.producer.id
  task_definition                    = aws_ecs_task_definition.producer[each.key].arn
  desired_count                      = var.producer_market_hours_only ? 0 : 1
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"

  capacity_provider_strategy {
    capacity_provider = var.producer_capacity_provider
    weight            = 1
  }

  network_configuration {
    subnets          = var.producer_subnet_ids
    security_groups  = [aws_security_group.producer.id]
    assign_public_ip = var.producer_assign_public_ip
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  lifecycle {
    # The market-hours schedule below owns the task count.
    ignore_changes = [desired_count]
  }

  # With producer_journal_efs the first tasks mount the journal: its mount targets must exist first.
  depends_on = [aws_ecs_cluster_capacity_providers.producer, aws_efs_mount_target.journal]
}

# Market hours only: 1 task from before the pre-open to after the close, 0 otherwise (saves ~70%).
resource "aws_appautoscaling_target" "producer" {
  for_each = var.producer_market_hours_only ? local.producer_slices : {}

  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.producer.name}/${aws_ecs_service.producer[each.key].name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = 0
  max_capacity       = 1
}

resource "aws_appautoscaling_scheduled_action" "producer_start" {
  for_each = aws_appautoscaling_target.producer

  name               = "${local.producer_slices[each.key].service_name}-start"
  service_namespace  = each.value.service_namespace
  resource_id        = each.value.resource_id
  scalable_dimension = each.value.scalable_dimension
  schedule           = var.producer_start_cron
  timezone           = "Asia/Kolkata"

  scalable_target_action {
    min_capacity = 1
    max_capacity = 1
  }
}

# Special sessions from session_overrides (market/session.py parse_overrides: "YYYY-MM-DD=HH:MM-HH:MM"
# or "YYYY-MM-DD=normal"), e.g. Muhurat trading on a Sunday evening: one start and one stop per
# slice at that date, with the same margins as the weekday schedule (35 minutes before the open, 15
# after the close). Closed days need nothing: the producer idles outside a session.
locals {
  special_session_items = [
    for item in split(";", replace(var.session_overrides, ",", ";")) : replace(lower(item), " ", "")
    if can(regex("^\\d{4}-\\d{2}-\\d{2}=(normal|\\d{2}:\\d{2}-\\d{2}:\\d{2})$", replace(lower(item), " ", "")))
  ]
  special_sessions = {
    for item in local.special_session_items : split("=", item)[0] => {
      # minutes after midnight IST of the start and the stop
      start = (split("=", item)[1] == "normal" ? 9 * 60 + 15 : tonumber(substr(split("=", item)[1], 0, 2)) * 60 + tonumber(substr(split("=", item)[1], 3, 2))) - 35
      stop  = (split("=", item)[1] == "normal" ? 15 * 60 + 30 : tonumber(substr(split("=", item)[1], 6, 2)) * 60 + tonumber(substr(split("=", item)[1], 9, 2))) + 15
    }
  }
  special_schedules = {
    for pair in setproduct(var.producer_market_hours_only ? keys(local.producer_slices) : [], keys(local.special_sessions)) : "${pair[0]}/${pair[1]}" => {
      slice = pair[0]
      start = format("at(%sT%02d:%02d:00)", pair[1], floor(max(local.special_sessions[pair[1]].start, 0) / 60), max(local.special_sessions[pair[1]].start, 0) % 60)
      stop  = format("at(%sT%02d:%02d:00)", pair[1], floor(min(local.special_sessions[pair[1]].stop, 1439) / 60), min(local.special_sessions[pair[1]].stop, 1439) % 60)
    }
  }
}

resource "aws_appautoscaling_scheduled_action" "producer_special_start" {
  for_each = local.special_schedules

  name               = "${local.producer_slices[each.value.slice].service_name}-start-${split("/", each.key)[1]}"
  service_namespace  = aws_appautoscaling_target.producer[each.value.slice].service_namespace
  resource_id        = aws_appautoscaling_target.producer[each.value.slice].resource_id
  scalable_dimension = aws_appautoscaling_target.producer[each.value.slice].scalable_dimension
  schedule           = each.value.start
  timezone           = "Asia/Kolkata"

  scalable_target_action {
    min_capacity = 1
    max_capacity = 1
  }
}

resource "aws_appautoscaling_scheduled_action" "producer_special_stop" {
  for_each = local.special_schedules

  name               = "${local.producer_slices[each.value.slice].service_name}-stop-${split("/", each.key)[1]}"
  service_namespace  = aws_appautoscaling_target.producer[each.value.slice].service_namespace
  resource_id        = aws_appautoscaling_target.producer[each.value.slice].resource_id
  scalable_dimension = aws_appautoscaling_target.producer[each.value.slice].scalable_dimension
  schedule           = each.value.stop
  timezone           = "Asia/Kolkata"

  scalable_target_action {
    min_capacity = 0
    max_capacity = 0
  }
}

resource "aws_appautoscaling_scheduled_action" "producer_stop" {
  for_each = aws_appautoscaling_target.producer

  name               = "${local.producer_slices[each.key].service_name}-stop"
  service_namespace  = each.value.service_namespace
  resource_id        = each.value.resource_id
  scalable_dimension = each.value.scalable_dimension
  schedule           = var.producer_stop_cron
  timezone           = "Asia/Kolkata"

  scalable_target_action {
    min_capacity = 0
    max_capacity = 0
  }
}
