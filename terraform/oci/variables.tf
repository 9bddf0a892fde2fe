# Inputs of Layer 1. Every value that can be wrong has a validation block whose message names
# the variable. Checks that need more than one variable or the rulebook's figures (is this
# layout free?) run at plan time in data.freetier_allocation.stack (allocation.tf).
#
# Terraform 1.0 evaluates both sides of || and &&, so conditions that parse a value wrap the
# parsing in can() or try(): a malformed value fails its own check, not someone else's. It also
# validates a -var or TF_VAR_ value as the string it was typed as, before converting it to
# the variable's type, so numbers are tested with arithmetic (x % 1 == 0), never with ==
# against a number or contains() on a list of numbers.

# ---------------------------------------------------------------- tenancy

variable "tenancy_ocid" {
  description = "Your tenancy's OCID (OCI console: Profile > Tenancy). The budget lives here, and it is the compartment used when compartment_ocid is unset."
  type        = string

  validation {
    condition     = can(regex("^ocid1\\.tenancy\\.oc[0-9]+\\.\\.[a-z0-9]+$", var.tenancy_ocid))
    error_message = "The tenancy_ocid value must be a tenancy OCID, such as ocid1.tenancy.oc1..aaaaaaaa..."
  }
}

variable "compartment_ocid" {
  description = "The compartment to create everything in (except the budget, which must live in the tenancy). Null means the tenancy's root compartment."
  type        = string
  default     = null

  validation {
    condition     = var.compartment_ocid == null ? true : can(regex("^ocid1\\.(compartment|tenancy)\\.oc[0-9]+\\.\\.[a-z0-9]+$", var.compartment_ocid))
    error_message = "The compartment_ocid value must be a compartment OCID (ocid1.compartment.oc1..aaaa...) or null for the root compartment."
  }
}

variable "region" {
  description = "Your tenancy's home region, such as eu-frankfurt-1. Always Free resources exist only in the home region, which is fixed at sign-up."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+-[0-9]+$", var.region))
    error_message = "The region value must be an OCI region identifier such as eu-frankfurt-1 or us-ashburn-1."
  }

  validation {
    condition     = var.region != "ap-chuncheon-1"
    error_message = "The region value ap-chuncheon-1 (South Korea North) has no Always Free Ampere A1 capacity (Oracle's Always Free page: https://docs.oracle.com/en-us/iaas/Content/FreeTier/freetier_topic-Always_Free_Resources.htm). Choose another home region."
  }
}

variable "oci_config_profile" {
  description = "The profile in ~/.oci/config that holds your API key (user, fingerprint, key_file, tenancy). `oci setup config` writes the DEFAULT profile."
  type        = string
  default     = "DEFAULT"

  validation {
    condition     = length(var.oci_config_profile) > 0
    error_message = "The oci_config_profile value must name a profile of ~/.oci/config, such as DEFAULT."
  }
}

# ---------------------------------------------------------------- free-tier layout

variable "tier" {
  description = "The free-tier profile the plan is checked against: always_free (2 OCPU / 12 GB of Ampere A1 since 2026-06-12) or pay_as_you_go (4 / 24, disputed: see the README)."
  type        = string
  default     = "always_free"

  validation {
    condition     = contains(["always_free", "pay_as_you_go"], var.tier)
    error_message = "The tier value must be always_free or pay_as_you_go."
  }
}

variable "node_count" {
  description = "How many Ampere A1 nodes. Null means the largest layout the tier allows (2 on always_free, 3 on pay_as_you_go). A count with no free layout stops the plan with the rulebook's explanation."
  type        = number
  default     = null

  validation {
    condition     = var.node_count == null ? true : var.node_count >= 1 && var.node_count % 1 == 0
    error_message = "The node_count value must be a whole number of at least 1 (or null for the largest free layout)."
  }
}

variable "node_ocpus" {
  description = "OCPUs for every A1 node. Null means the tier's OCPUs split as evenly as possible (the first nodes get any spare one). Memory is always 6 GB per OCPU, as Always Free allocates it."
  type        = number
  default     = null

  validation {
    condition     = var.node_ocpus == null ? true : var.node_ocpus >= 1 && var.node_ocpus % 1 == 0
    error_message = "The node_ocpus value must be a whole number of at least 1: A1 OCPUs come in whole numbers."
  }
}

variable "boot_volume_gb" {
  description = "Boot volume size for every host, nodes and bastion. Null means the image default (47 GB), which leaves the most block storage for Ceph; an explicit size must be at least 50 GB."
  type        = number
  default     = null

  validation {
    condition     = var.boot_volume_gb == null ? true : var.boot_volume_gb >= 50 && var.boot_volume_gb <= 32768 && var.boot_volume_gb % 1 == 0
    error_message = "The boot_volume_gb value must be a whole number from 50 to 32768 (or null for the 47 GB image default)."
  }
}

# ---------------------------------------------------------------- hosts

variable "name_prefix" {
  description = "Prefix of every name: hosts are <prefix>-1, <prefix>-2, ... and <prefix>-bastion; it is also the VCN's DNS label."
  type        = string
  default     = "freetier"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{0,11}$", var.name_prefix))
    error_message = "The name_prefix value must be 1 to 12 lowercase letters or digits, starting with a letter (it becomes a DNS label)."
  }
}

variable "node_ad" {
  description = "Availability domain of the A1 nodes, by number (1 to 3). Single-AD regions have only 1."
  type        = number
  default     = 1

  validation {
    condition     = var.node_ad >= 1 && var.node_ad <= 3 && var.node_ad % 1 == 0
    error_message = "The node_ad value must be 1, 2 or 3."
  }
}

variable "bastion_ad" {
  description = "Availability domain of the VM.Standard.E2.1.Micro bastion, by number (1 to 3). Micro capacity lives in one AD only: find it under Governance > Limits (standard-e2-micro-core-count)."
  type        = number
  default     = 1

  validation {
    condition     = var.bastion_ad >= 1 && var.bastion_ad <= 3 && var.bastion_ad % 1 == 0
    error_message = "The bastion_ad value must be 1, 2 or 3."
  }
}

variable "image_operating_system" {
  description = "Platform image family for the bastion, as OCI names it (the newest image of this OS and version for its shape is used). The A1 nodes boot node_image_id."
  type        = string
  default     = "Canonical Ubuntu"

  validation {
    condition     = length(var.image_operating_system) > 0
    error_message = "The image_operating_system value must be an OCI platform image OS, such as Canonical Ubuntu or Oracle Linux."
  }
}

variable "image_operating_system_version" {
  description = "Version of image_operating_system, such as 24.04."
  type        = string
  default     = "24.04"

  validation {
    condition     = length(var.image_operating_system_version) > 0
    error_message = "The image_operating_system_version value must be a version such as 24.04."
  }
}

variable "node_os" {
  description = "What the A1 nodes run: \"proxmox\" (cloud-init prepares them for Proxmox VE, Layer 2) or \"talos\" (node_image_id is a Talos oracle-arm64 custom image, booted without user data so it waits in maintenance mode for Layer 3's placement = \"instances\"; see https://docs.siderolabs.com/talos/v1.13/platform-specific-installations/cloud-platforms/oracle)."
  type        = string
  default     = "proxmox"

  validation {
    condition     = contains(["proxmox", "talos"], var.node_os)
    error_message = "The node_os value must be \"proxmox\" or \"talos\"."
  }
}

variable "node_image_id" {
  description = "The custom image the A1 nodes boot: Debian 12 arm64 for Proxmox VE (`task build:images` imports it and writes this variable to node-image.auto.tfvars.json), or Talos's oracle-arm64 image with node_os = \"talos\". Required: OCI has no platform image for either."
  type        = string
  default     = null

  validation {
    condition     = var.node_image_id == null ? true : can(regex("^ocid1\\.image\\.", var.node_image_id))
    error_message = "The node_image_id value must be an image OCID (ocid1.image.oc1...) or null."
  }
}

variable "node_ssh_user" {
  description = "The login user of the nodes' image: debian on Debian's cloud images (https://wiki.debian.org/Cloud/SystemsComparison), the image `task build:images` imports. Layer 2 connects as this user."
  type        = string
  default     = "debian"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.node_ssh_user))
    error_message = "The node_ssh_user value must be a Unix user name, such as debian."
  }
}

variable "ssh_user" {
  description = "The login user of the bastion's platform image (ubuntu on Canonical Ubuntu, opc on Oracle Linux). Layer 2 connects to the QDevice as this user."
  type        = string
  default     = "ubuntu"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.ssh_user))
    error_message = "The ssh_user value must be a Unix user name, such as ubuntu or opc."
  }
}

variable "ssh_public_keys" {
  description = "SSH public keys (OpenSSH format) allowed to log in as ssh_user on every host. Read at first boot only: changing them later does not touch running hosts."
  type        = list(string)

  validation {
    condition     = length(var.ssh_public_keys) > 0
    error_message = "The ssh_public_keys value must hold at least one key, or nobody can log in."
  }

  validation {
    condition     = alltrue([for k in var.ssh_public_keys : can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh.com|sk-ecdsa-sha2-nistp256@openssh.com) [A-Za-z0-9+/]+=*( .*)?$", k))])
    error_message = "The ssh_public_keys value must hold OpenSSH public keys (ssh-ed25519 AAAA..., ssh-rsa AAAA..., ecdsa-sha2-nistp256 AAAA...), one per element, never a private key."
  }
}

# ---------------------------------------------------------------- network

variable "network" {
  description = "The VCN's IPv4 range and the hosts' subnet inside it. Neither may overlap Tailscale's 100.64.0.0/10."
  type = object({
    vcn_cidr    = string
    subnet_cidr = string
  })
  default = {
    vcn_cidr    = "10.0.0.0/16"
    subnet_cidr = "10.0.1.0/24"
  }

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+/[0-9]+$", var.network.vcn_cidr)) && can(cidrhost(var.network.vcn_cidr, 0)) && try(cidrsubnet(var.network.vcn_cidr, 0, 0) == var.network.vcn_cidr, false)
    error_message = "The network.vcn_cidr value must be an IPv4 network in CIDR notation with its host bits zero, such as 10.0.0.0/16."
  }

  validation {
    condition     = try(tonumber(split("/", var.network.vcn_cidr)[1]) >= 16 && tonumber(split("/", var.network.vcn_cidr)[1]) <= 30, true)
    error_message = "The network.vcn_cidr value must have a prefix from /16 to /30, the sizes OCI accepts for a VCN."
  }

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+/[0-9]+$", var.network.subnet_cidr)) && can(cidrhost(var.network.subnet_cidr, 0)) && try(cidrsubnet(var.network.subnet_cidr, 0, 0) == var.network.subnet_cidr, false)
    error_message = "The network.subnet_cidr value must be an IPv4 network in CIDR notation with its host bits zero, such as 10.0.1.0/24."
  }

  validation {
    # Inside: the subnet is at least as long, and truncated to the VCN's prefix it is the VCN.
    condition = try(
      tonumber(split("/", var.network.subnet_cidr)[1]) >= tonumber(split("/", var.network.vcn_cidr)[1]) &&
      cidrsubnet(format("%s/%s", cidrhost(var.network.subnet_cidr, 0), split("/", var.network.vcn_cidr)[1]), 0, 0) == cidrsubnet(var.network.vcn_cidr, 0, 0),
      true
    )
    error_message = "The network.subnet_cidr value must lie inside network.vcn_cidr (for example 10.0.1.0/24 inside 10.0.0.0/16)."
  }

  validation {
    # Two ranges overlap when, truncated to the shorter prefix, they are the same network.
    condition = try(
      cidrsubnet(format("%s/%d", cidrhost(var.network.vcn_cidr, 0), min(10, tonumber(split("/", var.network.vcn_cidr)[1]))), 0, 0) !=
      cidrsubnet(format("100.64.0.0/%d", min(10, tonumber(split("/", var.network.vcn_cidr)[1]))), 0, 0),
      true
    )
    error_message = "The network.vcn_cidr value overlaps 100.64.0.0/10, the range Tailscale gives its devices; pick a range such as 10.0.0.0/16."
  }
}

variable "admin_cidrs" {
  description = "IPv4 ranges allowed to SSH (port 22) to the hosts' public addresses, such as [\"198.51.100.7/32\"]. Everything else administrative goes over Tailscale."
  type        = list(string)

  validation {
    condition     = length(var.admin_cidrs) > 0
    error_message = "The admin_cidrs value must hold at least one range (your own address as a /32), or SSH is closed to everyone but Tailscale."
  }

  validation {
    condition     = alltrue([for c in var.admin_cidrs : can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+/[0-9]+$", c)) && can(cidrhost(c, 0))])
    error_message = "The admin_cidrs value must hold IPv4 ranges in CIDR notation, such as 198.51.100.7/32."
  }

  validation {
    condition     = alltrue([for c in var.admin_cidrs : try(tonumber(split("/", c)[1]) > 0, true)])
    error_message = "The admin_cidrs value must not open SSH to the whole internet (0.0.0.0/0); use your own address as a /32."
  }
}

variable "ingress_ports" {
  description = "Public ports of the network load balancer, each forwarded to a Kubernetes NodePort on every node. Layer 3 gives its ingress controller these NodePorts."
  type = list(object({
    name      = string
    port      = number
    node_port = number
  }))
  default = [
    { name = "http", port = 80, node_port = 30080 },
    { name = "https", port = 443, node_port = 30443 },
  ]

  validation {
    condition     = alltrue([for p in var.ingress_ports : can(regex("^[a-z][a-z0-9-]{0,31}$", p.name))]) && length(distinct([for p in var.ingress_ports : p.name])) == length(var.ingress_ports)
    error_message = "The ingress_ports names must be unique, lowercase, and start with a letter (such as http and https)."
  }

  validation {
    condition     = alltrue([for p in var.ingress_ports : p.port >= 1 && p.port <= 65535 && p.port % 1 == 0]) && length(distinct([for p in var.ingress_ports : p.port])) == length(var.ingress_ports)
    error_message = "The ingress_ports port values must be distinct whole numbers from 1 to 65535."
  }

  validation {
    # A public listener port is open to the internet on the whole subnet, so it must not be one
    # of the ports this layer keeps private (SSH, Proxmox, Talos, Kubernetes, NodePorts).
    condition     = alltrue([for p in var.ingress_ports : !contains([22, 6443, 8006, 50000, 50001], p.port) && !(p.port >= 30000 && p.port <= 32767)])
    error_message = "The ingress_ports port values must not be 22, 6443, 8006, 50000, 50001 or a NodePort (30000-32767): those stay private."
  }

  validation {
    condition     = alltrue([for p in var.ingress_ports : p.node_port >= 30000 && p.node_port <= 32767 && p.node_port % 1 == 0])
    error_message = "The ingress_ports node_port values must be whole numbers in the Kubernetes NodePort range, 30000 to 32767."
  }
}

# ---------------------------------------------------------------- tailscale and budget

variable "secrets_file" {
  description = "The SOPS file holding the stack's secrets (tailscale_auth_key: a Tailscale auth key each host uses once, at first boot, to join your tailnet). Null means the file `freetier setup` writes, secrets/stack.sops.yaml at the checkout's root. It is decrypted at plan time with the age key in SOPS_AGE_KEY_FILE (secrets.tf); no secret is a variable."
  type        = string
  default     = null

  validation {
    condition     = var.secrets_file == null ? true : length(trimspace(var.secrets_file)) > 0
    error_message = "The secrets_file value must be the path of a SOPS file, or null for secrets/stack.sops.yaml."
  }
}

variable "budget_alert_emails" {
  description = "Who gets the budget alert e-mail the moment the tenancy spends anything ($0.01)."
  type        = list(string)

  validation {
    condition     = length(var.budget_alert_emails) > 0
    error_message = "The budget_alert_emails value must hold at least one address: an alert nobody reads protects nothing."
  }

  validation {
    condition     = alltrue([for e in var.budget_alert_emails : can(regex("^[^@[:space:],;]+@[^@[:space:],;]+\\.[^@[:space:],;]+$", e))])
    error_message = "The budget_alert_emails value must hold e-mail addresses such as you@example.com, one per element."
  }
}
