# The layout, and the free-tier guard every host depends on.
#
# On Terraform >= 1.8 / OpenTofu >= 1.7 the layout would be one call,
# provider::freetier::ampere_layout(var.tier, var.node_count) (examples/functions/main.tf). This
# layer must also plan on Terraform 1.0.3, which has no provider functions, so it repeats the
# rulebook's layout rules (src/rules/layout.rs) in plain HCL below, with the figures themselves
# read from the rulebook through data.freetier_limits. The authority is
# data.freetier_allocation.stack: it checks the whole stack and stops the plan with the
# rulebook's diagnostic if anything is over the tier, and the instances take their sizes from
# its `sizes` output, so the check always runs before any of them is planned.

data "freetier_limits" "tier" {
  tier = var.tier
}

locals {
  a1_shape    = "VM.Standard.A1.Flex"
  micro_shape = "VM.Standard.E2.1.Micro"

  compartment_id = var.compartment_ocid == null ? var.tenancy_ocid : var.compartment_ocid
  limits         = data.freetier_limits.tier.values

  # A1 allocates whole OCPUs, at least one per instance.
  a1_ocpus     = floor(local.limits["a1_ocpus"])
  a1_instances = floor(lookup(local.limits, "a1_instances", local.a1_ocpus))
  # Always Free gives 6 GB per OCPU whatever is asked ("given"); otherwise the default, capped
  # so the tier's memory total is never passed.
  memory_per_ocpu = lookup(local.limits, "a1_memory_per_ocpu_given", min(local.limits["a1_memory_per_ocpu_default"], local.limits["a1_memory_gb"] / max(local.a1_ocpus, 1)))
  # Unset boot volumes get the image default; every node and the bastion has one.
  boot_gb = var.boot_volume_gb == null ? local.limits["boot_volume_default_gb"] : var.boot_volume_gb

  # The largest layout the tier allows: one OCPU per node at least, the A1 instance limit, and
  # room for every boot volume (nodes plus the bastion) in the block storage total.
  max_nodes  = max(1, min(local.a1_ocpus, local.a1_instances, floor(local.limits["block_storage_gb"] / local.boot_gb) - 1))
  node_count = var.node_count == null ? local.max_nodes : var.node_count

  # Whole OCPUs split as evenly as possible, spare ones to the first nodes (2 nodes on
  # pay_as_you_go's 4 OCPU: 2, 2; 3 nodes: 2, 1, 1). More nodes than OCPUs still get one each,
  # so the guard below reports the real overrun instead of a zero-OCPU node.
  ocpu_base  = floor(local.a1_ocpus / local.node_count)
  ocpu_spare = local.a1_ocpus % local.node_count
  layout_nodes = [
    for i in range(local.node_count) : {
      name      = format("%s-%d", var.name_prefix, i + 1)
      index     = i
      ocpus     = var.node_ocpus == null ? max(1, local.ocpu_base + (i < local.ocpu_spare ? 1 : 0)) : var.node_ocpus
      memory_gb = local.memory_per_ocpu * (var.node_ocpus == null ? max(1, local.ocpu_base + (i < local.ocpu_spare ? 1 : 0)) : var.node_ocpus)
    }
  ]
  bastion_name = format("%s-bastion", var.name_prefix)

  # The same overrun, said in terms of the variables: Terraform cannot point the guard's
  # diagnostics at node_count or node_ocpus (they reach it through a dynamic block), so when no
  # free layout exists this fails the plan too, naming them. tobool() of a sentence is the only
  # way Terraform 1.0 has to fail with a message of ours (no preconditions before 1.2); the
  # guard's own errors, with each limit's source, appear beside it.
  layout_ocpus = sum([for n in local.layout_nodes : n.ocpus])
  layout_fits = (
    local.layout_ocpus <= local.a1_ocpus &&
    local.node_count <= local.a1_instances &&
    (local.node_count + 1) * local.boot_gb <= local.limits["block_storage_gb"]
  )
  layout_problem = format(
    "No free layout: node_count = %s and node_ocpus = %s ask for %d A1 nodes with %d OCPU in total, and %d boot volumes of %d GB (boot_volume_gb = %s); tier %s allows at most %d A1 nodes, %d OCPU and %d GB of block storage. Lower node_count or node_ocpus, or leave them null for the largest free layout (%d nodes).",
    var.node_count == null ? "null" : tostring(var.node_count),
    var.node_ocpus == null ? "null" : tostring(var.node_ocpus),
    local.node_count, local.layout_ocpus, local.node_count + 1, local.boot_gb,
    var.boot_volume_gb == null ? "null" : tostring(var.boot_volume_gb),
    var.tier, local.a1_instances, local.a1_ocpus, local.limits["block_storage_gb"], local.max_nodes,
  )
  layout_checked = local.layout_fits ? true : tobool(local.layout_problem)
  # Both node systems come only from custom images: OCI has neither a Debian nor a Talos
  # platform image, and Proxmox VE does not install on Ubuntu.
  node_image_problem = var.node_os == "talos" ? "node_os = \"talos\" needs node_image_id: import Talos's oracle-arm64 image as a custom image (https://docs.siderolabs.com/talos/v1.13/platform-specific-installations/cloud-platforms/oracle) and give its OCID." : "node_os = \"proxmox\" needs node_image_id, a Debian 12 arm64 custom image: run `task build:images`, which imports it and writes node_image_id to terraform/oci/node-image.auto.tfvars.json. OCI has no Debian platform image, and the arm64 Proxmox VE port installs on Debian 12 only (https://github.com/jiangcuo/Pxvirt-docs/blob/main/en/installfromdebian.md)."
  node_os_checked    = var.node_image_id == null ? tobool(local.node_image_problem) : true

  # Any spend at all is a failure of this project: alert at the first cent.
  budget_alert_usd = 0.01
}

# The guard. Describes everything this layer creates that the free tier counts; a violation
# stops `plan` with the limit, the total, the overrun and the limit's source, pointing at the
# block and attribute at fault (instance[2].ocpus, reserved_public_ips, ...).
data "freetier_allocation" "stack" {
  tier = var.tier

  dynamic "instance" {
    for_each = local.layout_nodes
    content {
      name           = instance.value.name
      shape          = local.a1_shape
      ocpus          = instance.value.ocpus
      memory_gb      = instance.value.memory_gb
      boot_volume_gb = var.boot_volume_gb
    }
  }

  instance {
    name           = local.bastion_name
    shape          = local.micro_shape
    boot_volume_gb = var.boot_volume_gb
  }

  budget_alert {
    name          = "any-spend"
    threshold_usd = local.budget_alert_usd
  }

  # One VCN with an internet gateway; no NAT or service gateway (a free tenancy gets none);
  # the one reserved public IP on the bastion; the one network load balancer for ingress.
  vcns                   = 1
  nat_gateways           = 0
  service_gateways       = 0
  reserved_public_ips    = 1
  network_load_balancers = 1
}

locals {
  # Sizes as the cloud will really create them (memory rounded as Always Free rounds it).
  sizes = data.freetier_allocation.stack.sizes
  # Block storage the tier still allows once every boot volume is counted, shared by the nodes
  # for Ceph OSDs. A block volume is at least 50 GB, so on the default 2-node Always Free
  # layout (200 - 3 x 47 = 59 GB, 29 GB a node) no per-node OSD volume fits; docs/stack.md.
  osd_gb_per_node = floor(max(0, data.freetier_allocation.stack.totals["block_storage_gb"].headroom) / local.node_count)
}
