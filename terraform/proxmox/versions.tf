# Layer 2 of the freetier stack: Proxmox VE and Ceph formed on Layer 1's Ampere hosts.
# It reads Layer 1 through terraform_remote_state and publishes its own contract for Layer 3
# (docs/stack.md). Every tested core must plan it, Terraform 1.0.3 included.
terraform {
  required_version = ">= 1.0"

  required_providers {
    # This project's provider (README, "Installing the provider").
    freetier = {
      source  = "freetier/freetier"
      version = ">= 0.1.0"
    }
  }
}
