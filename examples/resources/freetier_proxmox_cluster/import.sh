# An existing cluster, by its name and the first node's address. The SSH key and the other
# nodes come from the configuration on the next apply, never from the import ID.
terraform import freetier_proxmox_cluster.this freetier@10.0.1.10
