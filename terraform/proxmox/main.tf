# Layer 1's outputs, as docs/stack.md lists them.
data "terraform_remote_state" "oci" {
  backend = "local"
  config = {
    path = var.oci_state_path
  }
}

locals {
  oci     = data.terraform_remote_state.oci.outputs
  nodes   = [for n in local.oci.nodes : n if !contains(var.leaving_nodes, n.name)]
  bastion = local.oci.bastion
  # An even node count needs the bastion's QDevice vote to survive one node down.
  even = length(local.nodes) % 2 == 0
}

resource "freetier_proxmox_cluster" "this" {
  name               = var.cluster_name
  ssh_private_key    = file(pathexpand(var.ssh_private_key_path))
  trust_on_first_use = var.trust_on_first_use
  destroy_mode       = var.destroy_mode

  dynamic "node" {
    for_each = local.nodes
    content {
      name     = node.value.name
      address  = node.value.private_ip
      ssh_user = node.value.ssh_user
      ssh_port = node.value.ssh_port
      host_key = try(node.value.ssh_host_key, null)
      osd_gb   = node.value.osd_gb
    }
  }

  dynamic "qdevice" {
    for_each = local.even ? [local.bastion] : []
    content {
      address  = qdevice.value.private_ip
      ssh_user = qdevice.value.ssh_user
      ssh_port = qdevice.value.ssh_port
      host_key = try(qdevice.value.ssh_host_key, null)
    }
  }

  dynamic "ceph" {
    for_each = var.ceph ? [local.oci.network.subnet_cidr] : []
    content {
      public_network    = ceph.value
      pool              = var.ceph_pool
      accepted_warnings = var.accepted_ceph_warnings
    }
  }
}
