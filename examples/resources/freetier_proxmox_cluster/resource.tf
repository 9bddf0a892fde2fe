# Two Ampere hosts and the bastion's QDevice vote, with Ceph on the boot volumes' free tails.
# terraform/proxmox builds the same from Layer 1's outputs.
resource "freetier_proxmox_cluster" "this" {
  name            = "freetier"
  ssh_private_key = file(pathexpand("~/.ssh/id_ed25519"))

  node {
    name     = "ampere-1"
    address  = "10.0.1.10"
    host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB3k7...ampere-1"
    osd_gb   = 29
  }

  node {
    name     = "ampere-2"
    address  = "10.0.1.11"
    host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM9q2...ampere-2"
    osd_gb   = 29
  }

  qdevice {
    address  = "10.0.1.2"
    host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF4x1...bastion"
  }

  ceph {
    public_network = "10.0.1.0/24"
    pool           = "vmpool"
  }

  timeouts {
    create = "90m"
  }
}

output "api_url" {
  value = freetier_proxmox_cluster.this.api_url
}
