# Layer 2's outputs, as docs/stack.md lists them.
data "terraform_remote_state" "proxmox" {
  backend = "local"
  config = {
    path = var.proxmox_state_path
  }
}

locals {
  pve   = data.terraform_remote_state.proxmox.outputs
  hosts = local.pve.nodes
  # The API answers on the first node; its certificate is the one pinned.
  api_host = local.hosts[0].name
  vms = flatten([
    for h, host in local.hosts : [
      for k in range(var.vms_per_host) : {
        name    = "cp-${h * var.vms_per_host + k + 1}"
        host    = host.name
        address = cidrhost(var.node_cidr, var.first_address + h * var.vms_per_host + k)
      }
    ]
  ])
}

# The SOPS key Flux decrypts with: put its public half in .sops.yaml.
resource "freetier_age_key" "sops" {}

# The cluster's CAs, keys and tokens: in state before any machine boots with them.
resource "freetier_talos_secrets" "this" {}

resource "freetier_talos_cluster" "this" {
  name          = var.cluster_name
  cpu_emulation = var.cpu_emulation

  machine_secrets      = freetier_talos_secrets.this.machine_secrets
  proxmox_token_secret = sensitive(local.pve.api_token_secret)
  sops_age_key         = freetier_age_key.sops.private_key

  proxmox {
    api_url         = local.pve.api_url
    api_token_id    = local.pve.api_token_id
    tls_fingerprint = local.pve.tls_fingerprints[local.api_host]
    image_url       = var.image_url
    storage         = local.pve.pool != "" ? local.pve.pool : "local-lvm"
    hosts = [
      for h in local.hosts : {
        name           = h.name
        cpus           = h.cpus
        memory_free_mb = h.memory_free_mb
        kvm_available  = h.kvm_available
      }
    ]
  }

  network {
    cidr    = var.node_cidr
    gateway = var.gateway
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
