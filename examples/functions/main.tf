# The freetier provider's functions, for Terraform >= 1.8 and OpenTofu >= 1.7 (provider-defined
# functions). The stack's own layers (terraform/oci) must also plan on Terraform 1.0, so they
# check through the freetier_allocation data source instead; this example shows the shorter
# form newer cores allow.
#
#   provider::freetier::ampere_layout(tier, nodes)  a valid A1 layout, or an error saying why
#                                                   none exists
#   provider::freetier::violations(tier, stack)     every free-tier violation of a stack (empty
#                                                   when it is free)
#
# Try: terraform plan; terraform plan -var nodes=3 (no layout: stops with the reason);
#      terraform plan -var extra_reserved_ips=1 (the precondition stops the plan).
terraform {
  required_version = ">= 1.8"

  required_providers {
    freetier = { source = "freetier/freetier" }
  }
}

variable "tier" {
  description = "always_free or pay_as_you_go."
  type        = string
  default     = "always_free"
}

variable "nodes" {
  description = "How many Ampere A1 nodes."
  type        = number
  default     = 2
}

variable "extra_reserved_ips" {
  description = "Reserved public IPs beyond the bastion's (a free tenancy has one in all)."
  type        = number
  default     = 0
}

provider "freetier" {
  tier = var.tier
}

locals {
  # Whole OCPUs split over the nodes, memory as the cloud gives it, and the block storage left
  # for Ceph once every boot volume (nodes and the micro bastion) is counted. With no valid
  # layout the call itself stops the plan, and its error says why.
  layout = provider::freetier::ampere_layout(var.tier, var.nodes)

  # The stack, in the shape freetier_allocation takes (plural keys).
  stack = {
    instances = concat(
      [for n in local.layout.nodes : {
        name      = "node-${n.index + 1}"
        shape     = "VM.Standard.A1.Flex"
        ocpus     = n.ocpus
        memory_gb = n.memory_gb
      }],
      [{ name = "bastion", shape = local.layout.bastion.shape }],
    )
    reserved_public_ips    = 1 + var.extra_reserved_ips
    vcns                   = 1
    network_load_balancers = 1
  }

  violations = provider::freetier::violations(var.tier, local.stack)
  errors     = [for v in local.violations : v if v.severity == "error"]
}

# A check block only warns (Terraform >= 1.5, OpenTofu >= 1.6): it reports on every plan and
# apply without stopping them. Use it for figures Oracle's pages disagree on.
check "free_tier_warnings" {
  assert {
    condition     = length([for v in local.violations : v if v.severity == "warning"]) == 0
    error_message = join("\n", [for v in local.violations : "${v.path}: ${v.summary}: ${v.detail}" if v.severity == "warning"])
  }
}

# A precondition stops the plan. Hang it on what the layout feeds (here a terraform_data
# stand-in; in a real root, the oci_core_instance resources).
resource "terraform_data" "nodes" {
  input = local.layout.nodes

  lifecycle {
    precondition {
      condition     = length(local.errors) == 0
      error_message = join("\n", [for v in local.errors : "${v.path}: ${v.summary}: ${v.detail}"])
    }
  }
}

output "layout" {
  description = "OCPUs and memory per node, and what is left for Ceph."
  value = {
    ocpus     = [for n in local.layout.nodes : n.ocpus]
    memory_gb = [for n in local.layout.nodes : n.memory_gb]
    ceph_gb   = local.layout.ceph_gb
    notes     = local.layout.notes
  }
}
