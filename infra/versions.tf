terraform {
  # 1.11: write-only arguments (value_wo) keep secrets out of state and plans.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.100 is the first release with value_wo on aws_ssm_parameter; 6.x is the current major.
      version = ">= 5.100, < 7.0"
    }
  }
}
