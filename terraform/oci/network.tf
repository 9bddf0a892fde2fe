# The network: one VCN, an internet gateway, one public subnet and its security list.
#
# There is no NAT gateway, and no private subnet behind one: a free tenancy's nat-gateway-count
# limit is 0 (live limits of a Free Tier tenancy, research oci_policy.md section 0.5), and its
# service-gateway limit is 0 too. So every host sits in the public subnet and reaches the
# internet through the internet gateway (the nodes with their own ephemeral public IPs, the
# bastion with the reserved one). The security list is what keeps them closed.

locals {
  vcn_cidr       = var.network.vcn_cidr
  subnet_cidr    = var.network.subnet_cidr
  tailscale_cidr = "100.64.0.0/10"
  anywhere       = "0.0.0.0/0"

  # IANA protocol numbers, as OCI security rules take them.
  proto = { icmp = "1", tcp = "6", udp = "17" }

  # Cluster APIs: reachable from inside the VCN (the rule for all VCN traffic below) and from
  # the Tailscale range, never from the internet.
  cluster_ports = [
    { description = "Proxmox VE web UI and API", min = 8006, max = 8006 },
    { description = "Talos apid and trustd", min = 50000, max = 50001 },
    { description = "Kubernetes API server", min = 6443, max = 6443 },
  ]
}

resource "oci_core_vcn" "main" {
  compartment_id = local.compartment_id
  cidr_blocks    = [local.vcn_cidr]
  display_name   = "${var.name_prefix}-vcn"
  dns_label      = var.name_prefix
}

resource "oci_core_internet_gateway" "main" {
  compartment_id = local.compartment_id
  vcn_id         = oci_core_vcn.main.id
  display_name   = "${var.name_prefix}-igw"
  enabled        = true
}

resource "oci_core_route_table" "public" {
  compartment_id = local.compartment_id
  vcn_id         = oci_core_vcn.main.id
  display_name   = "${var.name_prefix}-public"

  route_rules {
    description       = "Everything leaves through the internet gateway (no NAT gateway on a free tenancy)."
    network_entity_id = oci_core_internet_gateway.main.id
    destination       = local.anywhere
    destination_type  = "CIDR_BLOCK"
  }
}

resource "oci_core_security_list" "hosts" {
  compartment_id = local.compartment_id
  vcn_id         = oci_core_vcn.main.id
  display_name   = "${var.name_prefix}-hosts"

  egress_security_rules {
    description      = "Hosts may reach anything (packages, Tailscale coordination and DERP)."
    destination      = local.anywhere
    destination_type = "CIDR_BLOCK"
    protocol         = "all"
  }

  ingress_security_rules {
    description = "Everything inside the VCN: node to node (corosync, Ceph, kubelet, the cluster APIs) and the load balancer to the NodePorts."
    source      = local.vcn_cidr
    source_type = "CIDR_BLOCK"
    protocol    = "all"
  }

  dynamic "ingress_security_rules" {
    for_each = var.admin_cidrs
    content {
      description = "SSH from an admin range (admin_cidrs)."
      source      = ingress_security_rules.value
      source_type = "CIDR_BLOCK"
      protocol    = local.proto.tcp
      tcp_options {
        min = 22
        max = 22
      }
    }
  }

  # Traffic between tailnet devices arrives encapsulated in WireGuard (UDP) and is filtered by
  # the tailnet's ACLs; these rules admit 100.64.0.0/10 sources that reach the VCN unwrapped,
  # through a subnet router or exit node.
  dynamic "ingress_security_rules" {
    for_each = local.cluster_ports
    content {
      description = "${ingress_security_rules.value.description} from the Tailscale range."
      source      = local.tailscale_cidr
      source_type = "CIDR_BLOCK"
      protocol    = local.proto.tcp
      tcp_options {
        min = ingress_security_rules.value.min
        max = ingress_security_rules.value.max
      }
    }
  }

  dynamic "ingress_security_rules" {
    for_each = var.ingress_ports
    content {
      description = "Public ingress: network load balancer listener ${ingress_security_rules.value.name}."
      source      = local.anywhere
      source_type = "CIDR_BLOCK"
      protocol    = local.proto.tcp
      tcp_options {
        min = ingress_security_rules.value.port
        max = ingress_security_rules.value.port
      }
    }
  }

  ingress_security_rules {
    description = "Tailscale direct connections (WireGuard); without it Tailscale falls back to DERP relays."
    source      = local.anywhere
    source_type = "CIDR_BLOCK"
    protocol    = local.proto.udp
    udp_options {
      min = 41641
      max = 41641
    }
  }

  ingress_security_rules {
    description = "Path MTU discovery (ICMP destination unreachable, fragmentation needed)."
    source      = local.anywhere
    source_type = "CIDR_BLOCK"
    protocol    = local.proto.icmp
    icmp_options {
      type = 3
      code = 4
    }
  }
}

resource "oci_core_subnet" "hosts" {
  compartment_id             = local.compartment_id
  vcn_id                     = oci_core_vcn.main.id
  cidr_block                 = local.subnet_cidr
  display_name               = "${var.name_prefix}-hosts"
  dns_label                  = "hosts"
  route_table_id             = oci_core_route_table.public.id
  security_list_ids          = [oci_core_security_list.hosts.id]
  prohibit_public_ip_on_vnic = false
}
