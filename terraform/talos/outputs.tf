# What a user of the cluster needs. The kubeconfig and talosconfig are secrets: read them with
# `terraform output -raw kubeconfig > kubeconfig`.

output "endpoint" {
  description = "The Kubernetes API's address."
  value       = freetier_talos_cluster.this.endpoint
}

output "kubeconfig" {
  description = "An admin kubeconfig."
  value       = freetier_talos_cluster.this.kubeconfig
  sensitive   = true
}

output "talosconfig" {
  description = "A talosconfig with an os:admin certificate."
  value       = freetier_talos_cluster.this.talosconfig
  sensitive   = true
}

output "nodes" {
  description = "Each node: name, address, host, vmid, ready."
  value       = freetier_talos_cluster.this.nodes
}

output "sops_age_public_key" {
  description = "The age recipient for .sops.yaml: secrets encrypted to it reach the cluster through Flux."
  value       = freetier_age_key.sops.public_key
}
