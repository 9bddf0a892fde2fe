# The contract Layer 3 reads through terraform_remote_state (docs/stack.md, "Layer 2's
# contract"). Remote state carries outputs in plain text in the state file: the API token's
# secret is here because Layer 3 cannot work without it; keep this layer's state where only
# you can read it (docs/stack.md, "Secrets").

output "tier" {
  description = "Layer 1's free-tier profile, passed on."
  value       = local.oci.tier
}

output "api_url" {
  description = "The first node's Proxmox VE API, https://ADDRESS:8006/api2/json."
  value       = freetier_proxmox_cluster.this.api_url
}

output "api_token_id" {
  description = "The API token Layer 3 uses (root@pam!freetier)."
  value       = freetier_proxmox_cluster.this.api_token_id
}

output "api_token_secret" {
  description = "The API token's secret."
  value       = freetier_proxmox_cluster.this.api_token_secret
  sensitive   = true
}

output "tls_fingerprints" {
  description = "Each node's API certificate fingerprint (SHA-256, AA:BB:…): Layer 3 pins it."
  value       = freetier_proxmox_cluster.this.tls_fingerprints
}

output "nodes" {
  description = "Each node: name, address, joined, kvm_available, host_key, cpus, memory_free_mb (memory left for guests)."
  value       = freetier_proxmox_cluster.this.nodes
}

output "pool" {
  description = "The Ceph RBD pool (and Proxmox storage) for VM disks; empty without Ceph."
  value       = freetier_proxmox_cluster.this.pool
}

output "kvm_available" {
  description = "Whether every node has /dev/kvm. OCI A1 VMs have none: Layer 3 then needs cpu_emulation or the instances placement."
  # Null until the cluster has reported its nodes (a fresh import, a create that stopped).
  value = freetier_proxmox_cluster.this.nodes == null ? null : alltrue([for n in freetier_proxmox_cluster.this.nodes : n.kvm_available])
}

output "network" {
  description = "Layer 1's network ranges, passed on."
  value       = local.oci.network
}
