# Optional: each producer's journal on EFS (var.producer_journal_efs), so that ticks not yet accepted
# by Kinesis survive a task that is replaced rather than stopped (host failure, out-of-memory kill,
# Spot reclaim). Off, the journal lives on task storage: a SIGTERM flushes it, a replacement loses it
# (the producer still records the interval as a "restart" gap).
#
# One encrypted file system, a mount target per producer subnet (give one subnet per Availability
# Zone), and one access point per slice (its own directory, owned by the image's user 10001): a
# slice's next task finds the journal and replays it before anything new, as after a crash.

locals {
  journal_efs = var.producer_journal_efs
}

resource "aws_efs_file_system" "journal" {
  count = local.journal_efs ? 1 : 0

  creation_token   = "${local.cluster_name}-journal"
  encrypted        = true
  kms_key_id       = aws_kms_key.main.arn
  performance_mode = "generalPurpose"
  throughput_mode  = "elastic" # pay per use: a journal is written only while Kinesis is unreachable

  tags = { Name = "${local.cluster_name}-journal" }

  lifecycle {
    precondition {
      # EFS takes one mount target per Availability Zone
      condition     = length(distinct([for s in data.aws_subnet.producer : s.availability_zone])) == length(var.producer_subnet_ids)
      error_message = "producer_journal_efs needs producer_subnet_ids in distinct Availability Zones (one subnet per zone)."
    }
  }
}

# Only TLS and only through an access point: a task mounts its own slice's directory, nothing else.
data "aws_iam_policy_document" "journal" {
  count = local.journal_efs ? 1 : 0

  statement {
    sid       = "DenyWithoutTls"
    effect    = "Deny"
    actions   = ["*"]
    resources = [aws_efs_file_system.journal[0].arn]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
  statement {
    sid       = "ProducerTasksMountTheirAccessPoint"
    actions   = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    resources = [aws_efs_file_system.journal[0].arn]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.producer_task.arn]
    }
    condition {
      test     = "Bool"
      variable = "elasticfilesystem:AccessedViaMountTarget"
      values   = ["true"]
    }
  }
}

resource "aws_efs_file_system_policy" "journal" {
  count = local.journal_efs ? 1 : 0

  file_system_id = aws_efs_file_system.journal[0].id
  policy         = data.aws_iam_policy_document.journal[0].json
}

resource "aws_security_group" "journal" {
  count = local.journal_efs ? 1 : 0

  name        = "${local.cluster_name}-journal"
  description = "Producer journal on EFS: NFS from the producer tasks only"
  vpc_id      = var.producer_vpc_id

  ingress {
    description     = "NFS from producer tasks"
    from_port       = 2049
    to_port         = 2049
    protocol        = "tcp"
    security_groups = [aws_security_group.producer.id]
  }
}

resource "aws_efs_mount_target" "journal" {
  for_each = local.journal_efs ? toset(var.producer_subnet_ids) : toset([])

  file_system_id  = aws_efs_file_system.journal[0].id
  subnet_id       = each.value
  security_groups = [aws_security_group.journal[0].id]
}

resource "aws_efs_access_point" "journal" {
  for_each = local.journal_efs ? local.producer_slices : {}

  file_system_id = aws_efs_file_system.journal[0].id
  posix_user {
    uid = 10001 # the image's user (producer/Dockerfile)
    gid = 10001
  }
  root_directory {
    path = "/journal/${each.key}"
    creation_info {
      owner_uid   = 10001
      owner_gid   = 10001
      permissions = "0750"
    }
  }
  tags = { Name = "${each.value.service_name}-journal" }
}
