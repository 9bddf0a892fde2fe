# Public ingress through the one free network load balancer: each listener forwards to a
# Kubernetes NodePort on every node. The original design's second reserved public IP does not
# exist on a free tenancy (reserved-public-ip-count = 1, and the bastion holds it), so the load
# balancer keeps the ephemeral public IP OCI gives it.

locals {
  ingress_ports = { for p in var.ingress_ports : p.name => p }
  ingress_backends = {
    for pair in setproduct(var.ingress_ports, local.layout_nodes) :
    format("%s-%s", pair[0].name, pair[1].name) => { port = pair[0].name, node = pair[1].name, node_port = pair[0].node_port }
  }
}

resource "oci_network_load_balancer_network_load_balancer" "ingress" {
  compartment_id = local.compartment_id
  display_name   = "${var.name_prefix}-ingress"
  subnet_id      = oci_core_subnet.hosts.id
  # OCI's default is a private load balancer.
  is_private                     = false
  is_preserve_source_destination = false
}

resource "oci_network_load_balancer_backend_set" "ingress" {
  for_each = local.ingress_ports

  name                     = each.key
  network_load_balancer_id = oci_network_load_balancer_network_load_balancer.ingress.id
  policy                   = "FIVE_TUPLE"
  # The nodes then see the load balancer's private address as the source, which lies in the
  # VCN: the security list admits NodePorts from the VCN only, never from the internet.
  is_preserve_source = false

  health_checker {
    protocol = "TCP"
    port     = each.value.node_port
  }
}

resource "oci_network_load_balancer_backend" "ingress" {
  for_each = local.ingress_backends

  name                     = each.key
  backend_set_name         = oci_network_load_balancer_backend_set.ingress[each.value.port].name
  network_load_balancer_id = oci_network_load_balancer_network_load_balancer.ingress.id
  target_id                = oci_core_instance.node[each.value.node].id
  port                     = each.value.node_port
}

resource "oci_network_load_balancer_listener" "ingress" {
  for_each = local.ingress_ports

  name                     = each.key
  default_backend_set_name = oci_network_load_balancer_backend_set.ingress[each.key].name
  network_load_balancer_id = oci_network_load_balancer_network_load_balancer.ingress.id
  port                     = each.value.port
  protocol                 = "TCP"
}
