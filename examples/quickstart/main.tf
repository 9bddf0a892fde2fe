# The smallest freetier stack: the provider on the Always Free profile, and an age key for
# SOPS. Run it with ./scripts/demo, or see the README to install the provider yourself.
terraform {
  required_providers {
    freetier = { source = "freetier/freetier" }
  }
}

provider "freetier" {
  tier = "always_free"
}

resource "freetier_age_key" "sops" {}

output "sops_recipient" {
  description = "Put this in .sops.yaml as the age recipient."
  value       = freetier_age_key.sops.public_key
}
