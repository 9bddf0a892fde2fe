# The hosts: the Ampere A1 nodes, sized by data.freetier_allocation.stack, and the micro
# bastion holding the tenancy's one reserved public IP.

data "oci_identity_availability_domains" "all" {
  compartment_id = var.tenancy_ocid
}

# The bastion's platform image: the newest of the chosen OS for the micro shape (x86_64). The
# nodes boot node_image_id, a custom image.
data "oci_core_images" "micro" {
  compartment_id           = local.compartment_id
  operating_system         = var.image_operating_system
  operating_system_version = var.image_operating_system_version
  shape                    = local.micro_shape
  state                    = "AVAILABLE"
  sort_by                  = "TIMECREATED"
  sort_order               = "DESC"
}

locals {
  ads = data.oci_identity_availability_domains.all.availability_domains
  # A region with fewer ADs than asked fails here, naming node_ad or bastion_ad.
  node_ad    = local.ads[var.node_ad - 1].name
  bastion_ad = local.ads[var.bastion_ad - 1].name

  nodes = { for n in local.layout_nodes : n.name => n }
  # Fixed private addresses: Proxmox's corosync ring and Ceph's monitors want stable ones.
  # The bastion is .5, the nodes .10, .11, ...
  node_private_ip    = { for n in local.layout_nodes : n.name => cidrhost(local.subnet_cidr, 10 + n.index) }
  bastion_private_ip = cidrhost(local.subnet_cidr, 5)

  ssh_authorized_keys = join("\n", var.ssh_public_keys)
}

# Each host's SSH host key, made here so cloud-init installs it at first boot and Layer 2 pins
# its public half from the first connection (nodes[*].ssh_host_key). A rebuilt host gets the
# same key unless the key is replaced too.
resource "freetier_ssh_host_key" "host" {
  for_each = merge({ for n in local.layout_nodes : n.name => n.name }, { (local.bastion_name) = local.bastion_name })
  comment  = each.key
}

resource "oci_core_instance" "node" {
  # layout_checked is true or stops the plan, naming node_count (allocation.tf).
  for_each = local.layout_checked && local.node_os_checked ? local.nodes : {}

  availability_domain = local.node_ad
  compartment_id      = local.compartment_id
  display_name        = each.key
  shape               = local.a1_shape

  shape_config {
    ocpus         = local.sizes[each.key].ocpus
    memory_in_gbs = local.sizes[each.key].memory_gb
  }

  source_details {
    source_type = "image"
    source_id   = var.node_image_id
    # Unset keeps the image default (47 GB, counted as such by the guard); a set size is >= 50.
    boot_volume_size_in_gbs = var.boot_volume_gb == null ? null : local.sizes[each.key].boot_volume_gb
  }

  create_vnic_details {
    subnet_id = oci_core_subnet.hosts.id
    # An ephemeral public IP is free, and without a NAT gateway it is the node's way out.
    assign_public_ip = true
    private_ip       = local.node_private_ip[each.key]
    hostname_label   = each.key
  }

  # Talos reads user data as its machine config; with none it waits in maintenance mode.
  metadata = merge(
    { ssh_authorized_keys = local.ssh_authorized_keys },
    var.node_os == "talos" ? tomap({}) : tomap({
      user_data = base64encode(templatefile("${path.module}/cloud-init.yaml.tftpl", {
        hostname         = each.key
        auth_key         = local.tailscale_auth_key
        vcn_cidr         = local.vcn_cidr
        host_key_private = freetier_ssh_host_key.host[each.key].private_key_openssh
        host_key_public  = freetier_ssh_host_key.host[each.key].public_key_openssh
        private_ip       = local.node_private_ip[each.key]
        proxmox          = true
      }))
    }),
  )

  preserve_boot_volume = false

  lifecycle {
    # OCI reads user_data and ssh_authorized_keys at first boot only, and a newer platform image
    # must not replace a running node: neither change may plan a replacement.
    ignore_changes = [metadata, source_details[0].source_id]
  }
}

resource "oci_core_instance" "bastion" {
  availability_domain = local.bastion_ad
  compartment_id      = local.compartment_id
  display_name        = local.bastion_name
  shape               = local.micro_shape

  source_details {
    source_type             = "image"
    source_id               = data.oci_core_images.micro.images[0].id
    boot_volume_size_in_gbs = var.boot_volume_gb == null ? null : local.sizes[local.bastion_name].boot_volume_gb
  }

  create_vnic_details {
    subnet_id = oci_core_subnet.hosts.id
    # The reserved public IP is attached below; a VNIC cannot take one at launch.
    assign_public_ip = false
    private_ip       = local.bastion_private_ip
    hostname_label   = local.bastion_name
  }

  metadata = {
    ssh_authorized_keys = local.ssh_authorized_keys
    user_data = base64encode(templatefile("${path.module}/cloud-init.yaml.tftpl", {
      hostname         = local.bastion_name
      auth_key         = local.tailscale_auth_key
      vcn_cidr         = local.vcn_cidr
      host_key_private = freetier_ssh_host_key.host[local.bastion_name].private_key_openssh
      host_key_public  = freetier_ssh_host_key.host[local.bastion_name].public_key_openssh
      private_ip       = local.bastion_private_ip
      proxmox          = false
    }))
  }

  preserve_boot_volume = false

  lifecycle {
    ignore_changes = [metadata, source_details[0].source_id]
  }
}

# The reserved IP goes on the bastion's primary private IP, found through its VNIC
# (terraform-oci-compute-instance #55; research oci_policy.md section 2.2).
data "oci_core_vnic_attachments" "bastion" {
  compartment_id = local.compartment_id
  instance_id    = oci_core_instance.bastion.id
}

data "oci_core_private_ips" "bastion" {
  vnic_id = data.oci_core_vnic_attachments.bastion.vnic_attachments[0].vnic_id
}

locals {
  # A VNIC may hold secondary private IPs, and the API lists them in no promised order: the
  # reserved IP goes on the one marked primary, never on whichever comes first.
  bastion_primary_private_ip_id = one([for ip in data.oci_core_private_ips.bastion.private_ips : ip.id if ip.is_primary])
}

resource "oci_core_public_ip" "bastion" {
  compartment_id = local.compartment_id
  display_name   = "${local.bastion_name}-ip"
  # A free tenancy has exactly one reserved public IP (reserved-public-ip-count = 1).
  lifetime      = "RESERVED"
  private_ip_id = local.bastion_primary_private_ip_id
}
