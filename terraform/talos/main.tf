# Layer 2's outputs, as docs/stack.md lists them (placement "proxmox").
data "terraform_remote_state" "proxmox" {
  count   = var.placement == "proxmox" ? 1 : 0
  backend = "local"
  config = {
    path = var.proxmox_state_path
  }
}

# Layer 1's outputs (placement "instances": Talos on the A1 hosts themselves).
data "terraform_remote_state" "oci" {
  count   = var.placement == "instances" ? 1 : 0
  backend = "local"
  config = {
    path = var.oci_state_path
  }
}

locals {
  on_proxmox = var.placement == "proxmox"
  pve        = local.on_proxmox ? data.terraform_remote_state.proxmox[0].outputs : null
  oci        = local.on_proxmox ? null : data.terraform_remote_state.oci[0].outputs
  hosts      = local.on_proxmox ? local.pve.nodes : []
  # VMs on each Proxmox VE host; or each A1 host is one node, at its address in the subnet.
  vms = local.on_proxmox ? flatten([
    for h, host in local.hosts : [
      for k in range(var.vms_per_host) : {
        name    = "cp-${h * var.vms_per_host + k + 1}"
        host    = host.name
        address = cidrhost(var.node_cidr, var.first_address + h * var.vms_per_host + k)
      }
    ]
    ]) : [
    for i, n in local.oci.nodes : {
      name    = "cp-${i + 1}"
      host    = null
      address = n.private_ip
    }
  ]
  node_cidr = local.on_proxmox ? var.node_cidr : local.oci.network.subnet_cidr
  # OCI's VCN router is the subnet's first address.
  gateway = local.on_proxmox ? var.gateway : cidrhost(local.oci.network.subnet_cidr, 1)
}

# The SOPS key Flux decrypts with: put its public half in .sops.yaml.
resource "freetier_age_key" "sops" {}

# The cluster's CAs, keys and tokens: in state before any machine boots with them.
resource "freetier_talos_secrets" "this" {}

resource "freetier_talos_cluster" "this" {
  name          = var.cluster_name
  placement     = var.placement
  cpu_emulation = var.cpu_emulation

  machine_secrets      = freetier_talos_secrets.this.machine_secrets
  proxmox_token_secret = local.on_proxmox ? sensitive(local.pve.api_token_secret) : null
  sops_age_key         = freetier_age_key.sops.private_key

  dynamic "proxmox" {
    for_each = local.on_proxmox ? [local.pve] : []
    content {
      api_url      = proxmox.value.api_url
      api_token_id = proxmox.value.api_token_id
      # The API answers on the first node; its certificate is the one pinned.
      tls_fingerprint = proxmox.value.tls_fingerprints[local.hosts[0].name]
      image_url       = var.image_url
      storage         = proxmox.value.pool != "" ? proxmox.value.pool : "local-lvm"
      hosts = [
        for h in local.hosts : {
          name           = h.name
          cpus           = h.cpus
          memory_free_mb = h.memory_free_mb
          kvm_available  = h.kvm_available
        }
      ]
    }
  }

  network {
    cidr    = local.node_cidr
    gateway = local.gateway
  }

  dynamic "node" {
    for_each = local.vms
    content {
      name      = node.value.name
      address   = node.value.address
      host      = node.value.host
      cores     = var.cores
      memory_mb = var.memory_mb
    }
  }

  dynamic "gitops" {
    for_each = var.gitops_url == null ? [] : [var.gitops_url]
    content {
      url    = gitops.value
      branch = var.gitops_branch
      path   = var.gitops_path
    }
  }
}
