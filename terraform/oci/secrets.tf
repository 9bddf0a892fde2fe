# The stack's secrets: read from the SOPS file `freetier setup` writes (secrets/stack.sops.yaml
# at the checkout's root, or secrets_file), decrypted at plan time by data.freetier_sops_file
# with the age key sops would use (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, or sops's keys.txt). No
# secret is a variable or sits in a tfvars file. The values are sensitive, and no output holds
# them; like any value a resource uses, they are in the state.

locals {
  secrets_file = var.secrets_file == null ? "${path.module}/../../secrets/stack.sops.yaml" : var.secrets_file
}

data "freetier_sops_file" "stack" {
  source_file = local.secrets_file
}

locals {
  tailscale_auth_key_read = lookup(data.freetier_sops_file.stack.data, "tailscale_auth_key", "")
  # A missing key, or one that is not a Tailscale auth key, stops the plan with this message
  # (tobool() of a sentence: Terraform 1.0 has no preconditions, and validation blocks cannot
  # read a data source; allocation.tf does the same). The key itself is never in the message.
  tailscale_auth_key = can(regex("^tskey-", local.tailscale_auth_key_read)) ? local.tailscale_auth_key_read : tostring(tobool(format(
    "The secrets file %s must hold tailscale_auth_key, a Tailscale auth key starting with tskey-. Create one at https://login.tailscale.com/admin/settings/keys (pre-approved, tagged), then run `TS_AUTHKEY=tskey-auth-... freetier setup --force` (or `sops %s`).",
    local.secrets_file, local.secrets_file,
  )))
}
