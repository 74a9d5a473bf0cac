terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "6.66.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      App       = var.app
      ManagedBy = "terraform"
    }
  }
}
