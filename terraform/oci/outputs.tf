# The contract Layer 2 reads through terraform_remote_state (docs/stack.md, "The outputs
# contract"). Add fields freely; never rename or remove one without changing both layers.
#
# Remote state drops the `sensitive` flag, so nothing secret is ever an output here: the
# Tailscale auth key, the SSH keys and the host keys' private halves never leave this layer.

output "tier" {
  description = "The free-tier profile this stack was checked against (always_free or pay_as_you_go)."
  value       = var.tier
}

output "node_os" {
  description = "What the A1 nodes run: proxmox (for Layer 2) or talos (maintenance mode, for Layer 3's placement = \"instances\")."
  value       = var.node_os
}

output "node_image_id" {
  description = "The custom image the A1 nodes boot (node_image_id): `freetier validate` reads its size, state and shapes from the Compute API."
  value       = var.node_image_id
}

output "nodes" {
  description = "The Ampere A1 nodes, in order: name, private_ip, public_ip, tailscale_name, ssh_user, ssh_port, shape, ocpus, memory_gb, boot_gb, osd_gb (block storage the tier still allows for this node's Ceph OSDs), ssh_host_key (the host's SSH public key, to pin)."
  value = [
    for n in local.layout_nodes : {
      name           = n.name
      private_ip     = oci_core_instance.node[n.name].private_ip
      public_ip      = oci_core_instance.node[n.name].public_ip
      tailscale_name = n.name
      ssh_user       = var.node_ssh_user
      ssh_port       = 22
      shape          = oci_core_instance.node[n.name].shape
      ocpus          = local.sizes[n.name].ocpus
      memory_gb      = local.sizes[n.name].memory_gb
      boot_gb        = local.sizes[n.name].boot_volume_gb
      osd_gb         = local.osd_gb_per_node
      ssh_host_key   = freetier_ssh_host_key.host[n.name].public_key_openssh
    }
  ]
}

output "bastion" {
  description = "The micro bastion: name, public_ip (the reserved one), private_ip, ssh_user, ssh_port, ssh_host_key."
  value = {
    name         = local.bastion_name
    public_ip    = oci_core_public_ip.bastion.ip_address
    private_ip   = oci_core_instance.bastion.private_ip
    ssh_user     = var.ssh_user
    ssh_port     = 22
    ssh_host_key = freetier_ssh_host_key.host[local.bastion_name].public_key_openssh
  }
}

output "network" {
  description = "The VCN's and the hosts' subnet's IPv4 ranges."
  value = {
    vcn_cidr    = local.vcn_cidr
    subnet_cidr = local.subnet_cidr
  }
}

output "ingress" {
  description = "The network load balancer's public address, and each public port with the NodePort it forwards to (Layer 3 gives its ingress controller these NodePorts)."
  value = {
    public_ip = try([for a in oci_network_load_balancer_network_load_balancer.ingress.ip_addresses : a.ip_address if a.is_public][0], null)
    ports     = var.ingress_ports
  }
}
