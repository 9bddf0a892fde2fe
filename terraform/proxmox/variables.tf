variable "oci_state_path" {
  description = "Path of Layer 1's state file (terraform/oci/terraform.tfstate, or the lab's oci.tfstate). Use a remote backend instead by editing main.tf's terraform_remote_state."
  type        = string
  default     = "../oci/terraform.tfstate"
}

variable "ssh_private_key_path" {
  description = "Path of the OpenSSH private key whose public half Layer 1 put on the hosts (ssh_public_key there)."
  type        = string
}

variable "cluster_name" {
  description = "The Proxmox VE cluster's name: 1 to 15 letters, digits or '-'. Changing it forms a new cluster."
  type        = string
  default     = "freetier"

  validation {
    condition     = can(regex("^[A-Za-z0-9-]{1,15}$", var.cluster_name))
    error_message = "The cluster_name must be 1 to 15 letters, digits or '-' (corosync's cluster_name)."
  }
}

variable "trust_on_first_use" {
  description = "Accept each host's SSH key the first time when Layer 1 does not publish it. Off by default: keys are pinned."
  type        = bool
  default     = false
}

variable "ceph" {
  description = "Form Ceph on the nodes, with one OSD per node on the boot volume's free tail."
  type        = bool
  default     = true
}

variable "ceph_pool" {
  description = "Name of the Ceph RBD pool for VM disks (also added as a Proxmox storage)."
  type        = string
  default     = "vmpool"
}

variable "accepted_ceph_warnings" {
  description = "Ceph health checks that do not hold up the apply. On two nodes a pool of size 2 reports none; list e.g. POOL_NO_REDUNDANCY only if you choose a size-1 pool."
  type        = list(string)
  default     = []
}

variable "leaving_nodes" {
  description = "Names of Layer 1 nodes to take out of the cluster (their Ceph OSD, monitor and manager destroyed, the node separated, then `pvecm delnode`). Apply this layer first, then remove the instances in Layer 1."
  type        = list(string)
  default     = []
}

variable "destroy_mode" {
  description = "What `destroy` does: \"forget\" leaves the cluster running and only drops it from state; \"dissolve\" takes it apart (apply once after changing it, then destroy)."
  type        = string
  default     = "forget"

  validation {
    condition     = contains(["forget", "dissolve"], var.destroy_mode)
    error_message = "The destroy_mode must be \"forget\" or \"dissolve\"."
  }
}
