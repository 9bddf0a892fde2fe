# A budget with one alert rule at the first cent of actual spend. Budgets are soft: OCI only
# sends the e-mail, it stops nothing (research oci_policy.md section 1.4). The plan-time guard
# in allocation.tf is what keeps the stack free; this catches whatever slips past it.

resource "oci_budget_budget" "free_tier" {
  # A budget must live in the tenancy (root compartment), and target exactly one thing: here
  # the whole tenancy, so spend anywhere counts.
  compartment_id = var.tenancy_ocid
  target_type    = "COMPARTMENT"
  targets        = [var.tenancy_ocid]
  amount         = 1
  reset_period   = "MONTHLY"
  display_name   = "${var.name_prefix}-free-tier"
  description    = "The freetier stack must cost nothing: any actual spend alerts."
}

resource "oci_budget_alert_rule" "any_spend" {
  budget_id      = oci_budget_budget.free_tier.id
  display_name   = "${var.name_prefix}-any-spend"
  type           = "ACTUAL"
  threshold_type = "ABSOLUTE"
  threshold      = local.budget_alert_usd
  recipients     = join(",", var.budget_alert_emails)
  message        = "Your Oracle Cloud tenancy has started to cost money. The freetier stack should never do that: check Billing > Cost Analysis and run `freetier check`."
}
