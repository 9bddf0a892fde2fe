//! Request and response bodies, field names exactly as Oracle's API references give them:
//!
//! - Usage API 20200107, `RequestSummarizedUsages`: body `RequestSummarizedUsagesDetails`,
//!   answer `UsageAggregation` of `UsageSummary`
//!   (<https://docs.oracle.com/en-us/iaas/api/#/en/usage/20200107/UsageSummary/RequestSummarizedUsages>;
//!   oracle/oci-go-sdk `usageapi/request_summarized_usages_details.go`, `usage_summary.go`).
//! - Limits API 20190729, `GetResourceAvailability`: `ResourceAvailability`
//!   (<https://docs.oracle.com/en-us/iaas/api/#/en/limits/20181025/ResourceAvailability/GetResourceAvailability>;
//!   oci-go-sdk `limits/get_resource_availability_request_response.go`).
//! - Budgets API 20190111, `ListBudgets` and `ListAlertRules`: `BudgetSummary`,
//!   `AlertRuleSummary` (<https://docs.oracle.com/en-us/iaas/api/#/en/budgets/20190111/>;
//!   oci-go-sdk `budget/budget_summary.go`, `alert_rule_summary.go`).
//! - Identity API 20160918, `ListAvailabilityDomains`: `AvailabilityDomain`
//!   (<https://docs.oracle.com/en-us/iaas/api/#/en/identity/20160918/AvailabilityDomain/ListAvailabilityDomains>).
//! - Errors: `{"code", "message"}`
//!   (<https://docs.oracle.com/en-us/iaas/Content/API/References/apierrors.htm>).
//!
//! Optional fields are `Option` (or default), so an answer with fields added or left out
//! still decodes; unknown fields are ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The body of `POST /20200107/usage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestSummarizedUsagesDetails {
    /// The tenancy's OCID.
    pub tenant_id: String,
    /// Start, RFC 3339; for DAILY and MONTHLY granularity at 00:00:00 UTC.
    pub time_usage_started: String,
    /// End (exclusive), RFC 3339, same precision.
    pub time_usage_ended: String,
    /// `HOURLY`, `DAILY`, `MONTHLY` or `TOTAL`.
    pub granularity: String,
    /// Adds up everything over the period into one item per group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_aggregate_by_time: Option<bool>,
    /// `USAGE`, `COST` (the default), `CREDIT`, `EXPIREDCREDIT` or `ALLCREDIT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_type: Option<String>,
    /// Dimensions to group by (`service`, `skuName`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<String>,
    /// Compartment depth for grouping by compartment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compartment_depth: Option<f64>,
}

/// The answer of `RequestSummarizedUsages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageAggregation {
    /// The usage items.
    pub items: Vec<UsageSummary>,
    /// The dimensions grouped by.
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
}

/// One usage or cost item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageSummary {
    /// Start of the period.
    pub time_usage_started: String,
    /// End of the period.
    pub time_usage_ended: String,
    /// The tenancy's OCID.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// The service incurring the cost.
    #[serde(default)]
    pub service: Option<String>,
    /// The SKU's name.
    #[serde(default)]
    pub sku_name: Option<String>,
    /// The SKU's part number.
    #[serde(default)]
    pub sku_part_number: Option<String>,
    /// The computed cost.
    #[serde(default)]
    pub computed_amount: Option<f64>,
    /// The usage quantity.
    #[serde(default)]
    pub computed_quantity: Option<f64>,
    /// The currency, e.g. `USD`.
    #[serde(default)]
    pub currency: Option<String>,
    /// The usage unit.
    #[serde(default)]
    pub unit: Option<String>,
    /// Whether the item is a forecast.
    #[serde(default)]
    pub is_forecast: Option<bool>,
}

/// The answer of `GetResourceAvailability`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAvailability {
    /// Usage in the compartment, rounded up to an integer.
    #[serde(default)]
    pub used: Option<i64>,
    /// What is left, rounded down.
    #[serde(default)]
    pub available: Option<i64>,
    /// Usage, with fractions.
    #[serde(default)]
    pub fractional_usage: Option<f64>,
    /// What is left, with fractions.
    #[serde(default)]
    pub fractional_availability: Option<f64>,
    /// The quota in force, when a quota policy applies.
    #[serde(default)]
    pub effective_quota_value: Option<f64>,
}

impl ResourceAvailability {
    /// Usage, fractional when given.
    pub fn used(&self) -> f64 {
        self.fractional_usage
            .or(self.used.map(|u| u as f64))
            .unwrap_or(0.0)
    }

    /// Availability, fractional when given.
    pub fn available(&self) -> f64 {
        self.fractional_availability
            .or(self.available.map(|a| a as f64))
            .unwrap_or(0.0)
    }
}

/// One budget of `ListBudgets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetSummary {
    /// The budget's OCID.
    pub id: String,
    /// Its compartment (the tenancy).
    pub compartment_id: String,
    /// Its display name.
    pub display_name: String,
    /// The amount, in the rate card's currency.
    pub amount: f64,
    /// `MONTHLY`.
    pub reset_period: String,
    /// `ACTIVE` or `INACTIVE`.
    pub lifecycle_state: String,
    /// How many alert rules it has.
    #[serde(default)]
    pub alert_rule_count: Option<i64>,
    /// `COMPARTMENT` or `TAG`.
    #[serde(default)]
    pub target_type: Option<String>,
    /// What it targets (compartment OCIDs or tags).
    #[serde(default)]
    pub targets: Option<Vec<String>>,
    /// The compartment it applies to (older form of `targets`).
    #[serde(default)]
    pub target_compartment_id: Option<String>,
    /// Actual spend in the current cycle.
    #[serde(default)]
    pub actual_spend: Option<f64>,
    /// Forecast spend by the cycle's end.
    #[serde(default)]
    pub forecasted_spend: Option<f64>,
    /// The description.
    #[serde(default)]
    pub description: Option<String>,
}

/// One alert rule of `ListAlertRules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertRuleSummary {
    /// The rule's OCID.
    pub id: String,
    /// The budget's OCID.
    pub budget_id: String,
    /// Its display name.
    pub display_name: String,
    /// `ACTUAL` or `FORECAST`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The threshold: money for ABSOLUTE, percent of the budget for PERCENTAGE.
    pub threshold: f64,
    /// `PERCENTAGE` or `ABSOLUTE`.
    pub threshold_type: String,
    /// `ACTIVE` or `INACTIVE`.
    pub lifecycle_state: String,
    /// Who gets the alert.
    #[serde(default)]
    pub recipients: Option<String>,
    /// The alert's text.
    #[serde(default)]
    pub message: Option<String>,
}

/// One availability domain of `ListAvailabilityDomains`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AvailabilityDomain {
    /// The name, e.g. `Uocm:PHX-AD-1`: what `availabilityDomain` parameters take.
    pub name: String,
    /// Its OCID.
    #[serde(default)]
    pub id: Option<String>,
    /// The tenancy's OCID.
    #[serde(default)]
    pub compartment_id: Option<String>,
}

/// An error body.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct ErrorBody {
    /// `NotAuthenticated`, `NotAuthorizedOrNotFound`, `InvalidParameter`, …
    #[serde(default)]
    pub code: String,
    /// The service's sentence.
    #[serde(default)]
    pub message: String,
    /// Anything else it sent.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_shapes_decode() {
        // Shapes as the API references list them (field names and types); values made up.
        let usage: UsageAggregation = serde_json::from_str(
            r#"{"groupBy":["service"],"items":[{"tenantId":"ocid1.tenancy.oc1..x",
            "timeUsageStarted":"2026-11-01T00:00:00.000Z","timeUsageEnded":"2026-11-29T00:00:00.000Z",
            "service":"COMPUTE","computedAmount":0.0,"computedQuantity":1440.5,"currency":"USD",
            "unit":"OCPU Hours","isForecast":false,"tags":[],"weight":null}]}"#,
        )
        .expect("usage");
        assert_eq!(usage.items[0].computed_amount, Some(0.0));
        let ra: ResourceAvailability = serde_json::from_str(
            r#"{"used":2,"available":0,"fractionalUsage":2.0,"fractionalAvailability":0.0}"#,
        )
        .expect("availability");
        assert_eq!((ra.used(), ra.available()), (2.0, 0.0));
        let b: Vec<BudgetSummary> = serde_json::from_str(
            r#"[{"id":"ocid1.budget.oc1.iad.x","compartmentId":"ocid1.tenancy.oc1..x",
            "targetCompartmentId":"ocid1.tenancy.oc1..x","displayName":"freetier-free-tier",
            "amount":1,"resetPeriod":"MONTHLY","lifecycleState":"ACTIVE","alertRuleCount":1,
            "timeCreated":"2026-11-01T00:00:00.000Z","timeUpdated":"2026-11-01T00:00:00.000Z",
            "targetType":"COMPARTMENT","targets":["ocid1.tenancy.oc1..x"],"actualSpend":0,
            "freeformTags":{},"definedTags":{}}]"#,
        )
        .expect("budgets");
        assert_eq!(b[0].amount, 1.0);
        let r: Vec<AlertRuleSummary> = serde_json::from_str(
            r#"[{"id":"ocid1.alertrule.oc1.iad.x","budgetId":"ocid1.budget.oc1.iad.x",
            "displayName":"freetier-any-spend","type":"ACTUAL","threshold":0.01,
            "thresholdType":"ABSOLUTE","lifecycleState":"ACTIVE","recipients":"a@example.com",
            "timeCreated":"2026-11-01T00:00:00.000Z","timeUpdated":"2026-11-01T00:00:00.000Z"}]"#,
        )
        .expect("rules");
        assert_eq!(r[0].kind, "ACTUAL");
        let e: ErrorBody = serde_json::from_str(
            r#"{"code":"NotAuthenticated","message":"The required information to complete authentication was not provided or was incorrect."}"#,
        )
        .expect("error");
        assert_eq!(e.code, "NotAuthenticated");
        let details = RequestSummarizedUsagesDetails {
            tenant_id: "ocid1.tenancy.oc1..x".into(),
            time_usage_started: "2026-11-01T00:00:00Z".into(),
            time_usage_ended: "2026-11-29T00:00:00Z".into(),
            granularity: "DAILY".into(),
            is_aggregate_by_time: Some(true),
            query_type: Some("COST".into()),
            group_by: Vec::new(),
            compartment_depth: None,
        };
        assert_eq!(
            serde_json::to_string(&details).expect("json"),
            r#"{"tenantId":"ocid1.tenancy.oc1..x","timeUsageStarted":"2026-11-01T00:00:00Z","timeUsageEnded":"2026-11-29T00:00:00Z","granularity":"DAILY","isAggregateByTime":true,"queryType":"COST"}"#
        );
    }
}
