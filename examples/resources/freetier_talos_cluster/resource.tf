# Talos in VMs on Layer 2's Proxmox VE cluster (terraform/talos does this from remote state).
resource "freetier_age_key" "sops" {}

resource "freetier_talos_cluster" "this" {
  name = "freetier"
  # OCI A1 VMs have no /dev/kvm: the VMs run emulated, about 5x slower.
  cpu_emulation = true

  proxmox_token_secret = var.proxmox_token_secret
  sops_age_key         = freetier_age_key.sops.private_key

  proxmox {
    api_url         = "https://10.0.1.10:8006/api2/json"
    api_token_id    = "root@pam!freetier"
    tls_fingerprint = "AB:CD:…" # Layer 2's tls_fingerprints["freetier-1"]
    image_url       = "https://factory.talos.dev/image/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba/v1.13.9/nocloud-arm64.qcow2"
    storage         = "vmpool"
  }

  network {
    cidr    = "10.10.10.0/24"
    gateway = "10.10.10.1"
  }

  node {
    name    = "cp-1"
    address = "10.10.10.10"
    host    = "freetier-1"
  }
  node {
    name    = "cp-2"
    address = "10.10.10.11"
    host    = "freetier-2"
  }

  gitops {
    url = "https://github.com/you/platform.git"
  }
}

output "kubeconfig" {
  value     = freetier_talos_cluster.this.kubeconfig
  sensitive = true
}
