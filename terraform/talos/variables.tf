variable "placement" {
  description = "Where Talos runs: \"proxmox\" (VMs on Layer 2's Proxmox VE cluster) or \"instances\" (on Layer 1's A1 hosts themselves, booted from a Talos image with node_os = \"talos\": no nested virtualisation, so no emulation slowdown)."
  type        = string
  default     = "proxmox"

  validation {
    condition     = contains(["proxmox", "instances"], var.placement)
    error_message = "The placement must be \"proxmox\" or \"instances\"."
  }
}

variable "oci_state_path" {
  description = "Path of Layer 1's state file (terraform/oci/terraform.tfstate), read with placement = \"instances\"."
  type        = string
  default     = "../oci/terraform.tfstate"
}

variable "proxmox_state_path" {
  description = "Path of Layer 2's state file (terraform/proxmox/terraform.tfstate). Use a remote backend instead by editing main.tf's terraform_remote_state."
  type        = string
  default     = "../proxmox/terraform.tfstate"
}

variable "cluster_name" {
  description = "The Kubernetes cluster's name: lowercase letters, digits and '-'. Changing it makes a new cluster."
  type        = string
  default     = "freetier"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,39}$", var.cluster_name))
    error_message = "The cluster_name must be 1 to 40 lowercase letters, digits or '-', not starting with '-'."
  }
}

variable "image_url" {
  description = "The Talos nocloud disk image for arm64 (.qcow2 or .raw: the Proxmox API cannot unpack .xz), e.g. from https://factory.talos.dev. Needed with placement = \"proxmox\"."
  type        = string
  default     = null
}

variable "node_cidr" {
  description = "The network the VMs' static addresses come from (the hosts' VM bridge)."
  type        = string
  default     = "10.10.10.0/24"
}

variable "first_address" {
  description = "Host number in node_cidr of the first VM; the next VMs take the numbers after it."
  type        = number
  default     = 10
}

variable "gateway" {
  description = "The VMs' default gateway, or null for none."
  type        = string
  default     = null
}

variable "vms_per_host" {
  description = "Control-plane VMs on each Layer 2 node. One each on the Always Free layout: two 1-OCPU, 6 GB hosts have room for one 2 GB VM each after Proxmox VE and Ceph."
  type        = number
  default     = 1
}

variable "memory_mb" {
  description = "Memory per VM in MiB; Talos's control-plane minimum is 2048."
  type        = number
  default     = 2048
}

variable "cores" {
  description = "vCPUs per VM. Talos documents 2 for a control plane; a 1-OCPU host has 1."
  type        = number
  default     = 1
}

variable "cpu_emulation" {
  description = "Run the VMs without KVM (about 5x slower). OCI A1 VMs have no /dev/kvm, so Layer 2 reports kvm_available = false and plan refuses VMs unless this is true."
  type        = bool
  default     = false
}

variable "gitops_url" {
  description = "The Git repository Flux syncs, or null for no Flux sync (Cilium only)."
  type        = string
  default     = null
}

variable "gitops_branch" {
  description = "The branch Flux syncs."
  type        = string
  default     = "main"
}

variable "gitops_path" {
  description = "The path in the repository Flux applies."
  type        = string
  default     = "clusters/freetier"
}
