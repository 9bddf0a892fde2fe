# Layer 1 of the freetier stack: the Oracle Cloud network, hosts, ingress and budget.
# Layer 2 (terraform/proxmox) reads this layer's outputs through terraform_remote_state;
# the contract is in docs/stack.md.
#
# Every tested core must plan this layer, Terraform 1.0.3 included: no optional() object
# attributes, no `nullable`, no preconditions, no provider functions, no import blocks.
# The free-tier checks run in data sources instead (allocation.tf).
terraform {
  required_version = ">= 1.0"

  required_providers {
    # Oracle's provider, from the public registry (`tofu init` / `terraform init` fetch it).
    # Checked against v8.28.0's schemas (tests/doubles/oci); a new major version may rename or
    # re-flag what this layer uses, so it is refused until someone checks it.
    oci = {
      source  = "oracle/oci"
      version = ">= 5.0.0, < 9.0.0"
    }
    # This project's provider. It is not on a registry: `task setup` builds it and installs it
    # in a filesystem mirror (README, "Installing the provider").
    freetier = {
      source  = "freetier/freetier"
      version = ">= 0.1.0"
    }
  }
}

provider "oci" {
  region              = var.region
  tenancy_ocid        = var.tenancy_ocid
  config_file_profile = var.oci_config_profile
}

provider "freetier" {
  tier = var.tier
}
