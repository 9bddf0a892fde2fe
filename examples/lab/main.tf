# The stack's second step, against the lab: read Layer 1's outputs (the lab writes them to
# .lab/oci.tfstate, exactly as terraform/oci would), check the hosts against the free tier,
# and make the SOPS age key. Run by ./scripts/demo.
terraform {
  required_providers {
    freetier = { source = "freetier/freetier" }
  }
}

variable "oci_state_path" {
  description = "Layer 1's state file: terraform/oci's, or the one `freetier lab up` writes."
  type        = string
}

data "terraform_remote_state" "oci" {
  backend = "local"
  config = {
    path = var.oci_state_path
  }
}

locals {
  oci = data.terraform_remote_state.oci.outputs
}

provider "freetier" {
  tier = local.oci.tier
}

# The guard: what Layer 1 created must still be free.
data "freetier_allocation" "layer1" {
  dynamic "instance" {
    for_each = local.oci.nodes
    content {
      name      = instance.value.name
      shape     = instance.value.shape
      ocpus     = instance.value.ocpus
      memory_gb = instance.value.memory_gb
      # Left unset: Layer 1 keeps the 47 GB image default (a set size must be at least 50).
    }
  }
  instance {
    name  = local.oci.bastion.name
    shape = "VM.Standard.E2.1.Micro"
  }
  reserved_public_ips = 1
  vcns                = 1
}

resource "freetier_age_key" "sops" {}

output "hosts" {
  description = "Each Proxmox host, as Layer 2 will reach it."
  value       = [for n in local.oci.nodes : "${n.name}: ${n.ssh_user}@${n.private_ip}:${n.ssh_port}, ${n.ocpus} OCPU, ${n.memory_gb} GB, ${n.osd_gb} GB left for Ceph"]
}

output "free" {
  description = "True when Layer 1 stays inside the free tier."
  value       = data.freetier_allocation.layer1.free
}

output "storage_headroom_gb" {
  description = "Block storage still free."
  value       = data.freetier_allocation.layer1.totals["block_storage_gb"].headroom
}

output "sops_recipient" {
  description = "Put this in .sops.yaml as the age recipient."
  value       = freetier_age_key.sops.public_key
}
