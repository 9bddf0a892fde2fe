# Layer 3 of the freetier stack: Talos Kubernetes in VMs on Layer 2's Proxmox VE cluster, with
# Cilium, Flux and a SOPS age key. It reads Layer 2 through terraform_remote_state
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
