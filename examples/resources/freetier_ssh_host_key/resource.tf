# One host key per host, installed by cloud-init at first boot and pinned by whatever
# connects (terraform/oci does this for every node and the bastion).
resource "freetier_ssh_host_key" "web" {
  comment = "web-1"
}

resource "oci_core_instance" "web" {
  # ...
  metadata = {
    user_data = base64encode(<<-EOT
      #cloud-config
      ssh_deletekeys: true
      ssh_genkeytypes: []
      ssh_keys:
        ed25519_private: ${jsonencode(freetier_ssh_host_key.web.private_key_openssh)}
        ed25519_public: ${jsonencode(freetier_ssh_host_key.web.public_key_openssh)}
    EOT
    )
  }
}

output "web_known_hosts_line" {
  value = "${oci_core_instance.web.public_ip} ${freetier_ssh_host_key.web.public_key_openssh}"
}
