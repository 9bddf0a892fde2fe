//! The rows that ask the OCI APIs, signed with the user's API key: A1 usage from the Limits
//! API, month-to-date cost from the Usage API, and the budget alert from the Budgets API.
//! Without credentials (no configuration file, `--no-oci`), or when a call fails, the row is
//! not checked and says why; a 401 says OCI's own words.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::args::Options;
use super::Row;
use crate::clients::oci::{self, config, Client};
use crate::clients::Call;
use crate::rules::{format_number, LimitKey, Tier};

/// The Compute limits the A1 check reads (Oracle's Compute limits table, scope: availability
/// domain; https://docs.oracle.com/en-us/iaas/Content/General/Concepts/servicelimits.htm).
const A1_CORES: &str = "standard-a1-core-count";
const A1_MEMORY: &str = "standard-a1-memory-count";

/// An OCI client, or why there is none.
pub(super) type Access = Result<Client, String>;

/// What `lab.json` says of the lab's OCI endpoint: config, URL, CA.
fn lab_endpoint(dir: &Path) -> Result<(PathBuf, String, PathBuf), String> {
    let path = dir.join("lab.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not the lab's state: {e}", path.display()))?;
    let oci = v.get("oci").ok_or_else(|| {
        format!(
            "{} describes no OCI endpoint (a lab from an older freetier?): restart it with \
             `freetier lab up --dir {}`",
            path.display(),
            dir.display()
        )
    })?;
    let field = |k: &str| {
        oci.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("{}: oci.{k} is missing", path.display()))
    };
    Ok((
        PathBuf::from(field("config_path")?),
        field("url")?,
        PathBuf::from(field("ca_certificate_path")?),
    ))
}

/// The OCI client `opts` describe.
pub(super) fn access(opts: &Options) -> Access {
    if opts.no_oci {
        return Err("--no-oci: the OCI APIs were not asked".into());
    }
    let lab = match &opts.lab {
        Some(dir) => Some(lab_endpoint(dir)?),
        None => None,
    };
    let config_path = opts
        .oci_config
        .clone()
        .or_else(|| lab.as_ref().map(|l| l.0.clone()))
        .unwrap_or_else(config::default_path);
    let endpoint = opts
        .oci_endpoint
        .clone()
        .or_else(|| lab.as_ref().map(|l| l.1.clone()));
    let ca_path = opts
        .oci_ca_cert
        .clone()
        .or_else(|| lab.as_ref().map(|l| l.2.clone()));
    if !config_path.exists() {
        return Err(format!(
            "no OCI credentials: {} does not exist (`oci setup config` writes it, see {}; \
             or give --oci-config)",
            config_path.display(),
            config::CONFIG_DOC
        ));
    }
    let profile_name = opts
        .oci_profile
        .clone()
        .unwrap_or_else(config::default_profile);
    let profile = config::load(&config_path, &profile_name).map_err(|e| e.to_string())?;
    let ca = match &ca_path {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| format!("the CA certificate {}: {e}", p.display()))?,
        ),
        None => None,
    };
    Client::from_profile(&profile, endpoint.as_deref(), ca.as_deref()).map_err(|e| e.to_string())
}

/// The `limits` row: A1 cores and memory in use in every availability domain, from the
/// Limits API, held to the tier.
pub(super) async fn limits(access: &Access, tier: Result<Tier, String>, call: &Call) -> Row {
    const ROW: &str = "limits";
    let client = match access {
        Ok(c) => c,
        Err(why) => return Row::not_checked(ROW, why.clone()),
    };
    let tier = tier.unwrap_or(Tier::AlwaysFree);
    let ads = match client
        .list_availability_domains(client.tenancy(), call)
        .await
    {
        Ok(a) if !a.is_empty() => a,
        Ok(_) => return Row::not_checked(ROW, "the tenancy lists no availability domain".into()),
        Err(e) => return Row::not_checked(ROW, e.to_string()),
    };
    let mut cores = 0.0;
    let mut memory = 0.0;
    let mut per_ad = Vec::new();
    for ad in &ads {
        let mut used = [0.0f64; 2];
        for (slot, limit) in [A1_CORES, A1_MEMORY].iter().enumerate() {
            match client
                .get_resource_availability("compute", limit, client.tenancy(), Some(&ad.name), call)
                .await
            {
                Ok(ra) => used[slot] = ra.used(),
                Err(e) => return Row::not_checked(ROW, e.to_string()),
            }
        }
        cores += used[0];
        memory += used[1];
        per_ad.push(json!({"availability_domain": ad.name, A1_CORES: used[0], A1_MEMORY: used[1]}));
    }
    let (Some(lc), Some(lm)) = (
        tier.limit(LimitKey::A1Ocpus),
        tier.limit(LimitKey::A1MemoryGb),
    ) else {
        return Row::not_checked(ROW, format!("tier {} has no A1 limits", tier.as_str()));
    };
    let details = json!({"tier": tier.as_str(), "a1_ocpus": cores, "a1_memory_gb": memory, "availability_domains": per_ad});
    let line = format!(
        "A1 in use: {} OCPU of {}, {} GB of {} (Limits API, {} availability domain{})",
        format_number(cores),
        format_number(lc.value),
        format_number(memory),
        format_number(lm.value),
        ads.len(),
        if ads.len() == 1 { "" } else { "s" }
    );
    if cores > lc.value || memory > lm.value {
        Row::fail(
            ROW,
            format!(
                "{line}: over tier {}; the excess is billed ({})",
                tier.as_str(),
                lc.source
            ),
            details,
        )
    } else {
        Row::pass(ROW, line, details)
    }
}

/// Month start and tomorrow, 00:00 UTC, RFC 3339.
fn month_to_date(now: time::OffsetDateTime) -> (String, String) {
    let today = now.to_offset(time::UtcOffset::UTC).date();
    let first = today.replace_day(1).unwrap_or(today);
    let tomorrow = today.next_day().unwrap_or(today);
    (
        format!("{first}T00:00:00Z"),
        format!("{tomorrow}T00:00:00Z"),
    )
}

/// The `cost` row: the month's cost so far, from the Usage API, is exactly zero.
pub(super) async fn cost(access: &Access, call: &Call) -> Row {
    const ROW: &str = "cost";
    let client = match access {
        Ok(c) => c,
        Err(why) => return Row::not_checked(ROW, why.clone()),
    };
    let (from, to) = month_to_date(time::OffsetDateTime::now_utc());
    let details = oci::RequestSummarizedUsagesDetails {
        tenant_id: client.tenancy().to_string(),
        time_usage_started: from.clone(),
        time_usage_ended: to.clone(),
        granularity: "DAILY".into(),
        is_aggregate_by_time: Some(true),
        query_type: Some("COST".into()),
        group_by: Vec::new(),
        compartment_depth: None,
    };
    let agg = match client.request_summarized_usages(&details, call).await {
        Ok(a) => a,
        Err(e) => return Row::not_checked(ROW, e.to_string()),
    };
    let total: f64 = agg
        .items
        .iter()
        .filter(|i| i.is_forecast != Some(true))
        .filter_map(|i| i.computed_amount)
        .sum();
    let currency = agg
        .items
        .iter()
        .find_map(|i| i.currency.clone())
        .unwrap_or_else(|| "USD".into());
    let shown = if total != 0.0 && (total * 100.0).round() == 0.0 {
        format!("{total}")
    } else {
        format!("{total:.2}")
    };
    let details = json!({"from": from, "to": to, "amount": total, "currency": currency, "items": agg.items.len()});
    if total == 0.0 {
        Row::pass(
            ROW,
            format!("month-to-date spend {shown} {currency} (Usage API, since {from})"),
            details,
        )
    } else {
        Row::fail(
            ROW,
            format!(
                "month-to-date spend is {shown} {currency}, not 0.00: the tenancy is being billed; \
                 Billing > Cost Analysis shows for what \
                 (https://docs.oracle.com/en-us/iaas/Content/Billing/Concepts/costanalysisoverview.htm)"
            ),
            details,
        )
    }
}

/// The `budget` row: an active budget has an active alert on actual spend at $0.01 or less.
pub(super) async fn budget(access: &Access, call: &Call) -> Row {
    const ROW: &str = "budget";
    let client = match access {
        Ok(c) => c,
        Err(why) => return Row::not_checked(ROW, why.clone()),
    };
    let max = Tier::AlwaysFree
        .limit(LimitKey::BudgetAlertMaxUsd)
        .map_or(0.01, |l| l.value);
    let budgets = match client.list_budgets(client.tenancy(), call).await {
        Ok(b) => b,
        Err(e) => return Row::not_checked(ROW, e.to_string()),
    };
    let mut seen = Vec::new();
    for b in budgets.iter().filter(|b| b.lifecycle_state == "ACTIVE") {
        let rules = match client.list_alert_rules(&b.id, call).await {
            Ok(r) => r,
            Err(e) => return Row::not_checked(ROW, e.to_string()),
        };
        for r in rules.iter().filter(|r| r.lifecycle_state == "ACTIVE") {
            let dollars = if r.threshold_type == "PERCENTAGE" {
                b.amount * r.threshold / 100.0
            } else {
                r.threshold
            };
            seen.push(json!({"budget": b.display_name, "amount": b.amount, "rule": r.display_name, "type": r.kind, "threshold_usd": dollars}));
            if r.kind == "ACTUAL" && dollars <= max + 1e-9 {
                return Row::pass(
                    ROW,
                    format!(
                        "budget {} (amount {}) alerts on actual spend at {} (rule {})",
                        b.display_name,
                        format_number(b.amount),
                        format_number(dollars),
                        r.display_name
                    ),
                    json!({"budgets": budgets.len(), "alerts": seen}),
                );
            }
        }
    }
    Row::fail(
        ROW,
        format!(
            "no active budget alerts on actual spend at {} or less ({} budget{} found): apply \
             Layer 1, whose budget.tf makes one; budgets only alert \
             (https://docs.oracle.com/en-us/iaas/Content/Billing/Concepts/budgetsoverview.htm)",
            format_number(max),
            budgets.len(),
            if budgets.len() == 1 { "" } else { "s" }
        ),
        json!({"budgets": budgets.len(), "alerts": seen}),
    )
}

/// The `images` row for the image Layer 1's nodes boot (its `node_image_id` output), which
/// `freetier image` imported outside Layer 1's state: from the Compute API, it must be
/// `AVAILABLE`, at most the tier's custom image size, and bootable on the A1 shape; the row
/// also reports the tenancy's custom images against the live `custom-image-count` limit.
pub(super) async fn node_image(access: &Access, id: &str, tier: Tier, call: &Call) -> Row {
    const ROW: &str = "images";
    const SHAPE: &str = "VM.Standard.A1.Flex";
    let client = match access {
        Ok(c) => c,
        Err(why) => return Row::not_checked(ROW, format!("node image {id}: {why}")),
    };
    // Three independent questions: ask them at once.
    let (image, shapes, count) = tokio::join!(
        client.get_image(id, call),
        client.list_image_shapes(id, call),
        client.get_resource_availability(
            "compute",
            "custom-image-count",
            client.tenancy(),
            None,
            call
        ),
    );
    let image = match image {
        Ok(i) => i,
        Err(e) if e.kind() == crate::clients::ErrorKind::NotFound => {
            return Row::fail(
                ROW,
                format!(
                    "Layer 1's nodes boot {id}, which the tenancy does not have: run `task \
                     build:images` and apply Layer 1 again"
                ),
                json!({ "node_image_id": id }),
            )
        }
        Err(e) => return Row::not_checked(ROW, e.to_string()),
    };
    let shapes = match shapes {
        Ok(s) => s,
        Err(e) => return Row::not_checked(ROW, e.to_string()),
    };
    let count = count.ok();
    let name = image.display_name.clone().unwrap_or_else(|| id.to_string());
    let gb = image.size_in_mbs.map(|mb| mb as f64 / 1024.0);
    let details = json!({
        "node_image_id": id,
        "display_name": name,
        "lifecycle_state": image.lifecycle_state,
        "size_gb": gb,
        "shapes": shapes,
        "custom_image_count": count.as_ref().map(|c| json!({"used": c.used, "available": c.available})),
    });
    if image.lifecycle_state != "AVAILABLE" {
        return Row::fail(
            ROW,
            format!(
                "node image {name} is {}, not AVAILABLE: run `task build:images` again",
                image.lifecycle_state
            ),
            details,
        );
    }
    let mut alloc = crate::rules::Allocation::default();
    alloc.custom_images.push(crate::rules::CustomImage {
        label: Some(name.clone()),
        size_gb: gb.map_or(crate::rules::Value::Unknown, crate::rules::Value::Known),
        count: crate::rules::Value::Known(1.0),
    });
    if let Some(v) = crate::rules::check(tier, &alloc).errors().next() {
        return Row::fail(ROW, format!("{}: {}", v.summary, v.detail), details);
    }
    if !shapes.iter().any(|s| s == SHAPE) {
        return Row::fail(
            ROW,
            format!(
                "node image {name} may not boot on {SHAPE} (its shapes: {}): run `task \
                 build:images` again, which adds the shape",
                if shapes.is_empty() {
                    "none".to_string()
                } else {
                    shapes.join(", ")
                }
            ),
            details,
        );
    }
    let Some(gb) = gb else {
        return Row::not_checked(ROW, format!("the Compute API gives no size for {name}"));
    };
    let max = tier
        .limit(LimitKey::CustomImageMaxGb)
        .map_or(20.0, |l| l.value);
    let counted = match count {
        Some(c) => format!(
            "; custom images: {} in use, {} more allowed (Limits API)",
            c.used.unwrap_or(0),
            c.available.unwrap_or(0)
        ),
        None => String::new(),
    };
    Row::pass(
        ROW,
        format!(
            "node image {name}: AVAILABLE, {} GB (at most {}), bootable on {SHAPE}{counted}",
            format_number(gb),
            format_number(max)
        ),
        details,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_to_date_runs_from_the_first_to_tomorrow() {
        let t = time::OffsetDateTime::from_unix_timestamp(1_796_000_000).expect("time");
        let (from, to) = month_to_date(t);
        assert_eq!(from, "2026-11-01T00:00:00Z");
        assert_eq!(to, "2026-12-01T00:00:00Z");
        let last = time::OffsetDateTime::from_unix_timestamp(1_798_761_600 - 1).expect("time");
        assert_eq!(month_to_date(last).1, "2027-01-01T00:00:00Z");
    }

    #[test]
    fn missing_credentials_say_where_they_were_looked_for() {
        let mut opts = match super::super::args::parse(&[
            "--oci-config".to_string(),
            "/nonexistent/oci/config".to_string(),
        ]) {
            Ok(super::super::args::Parsed::Run(o)) => *o,
            _ => unreachable!("parses"),
        };
        let e = access(&opts).expect_err("absent");
        assert!(
            e.starts_with("no OCI credentials: /nonexistent/oci/config does not exist"),
            "{e}"
        );
        opts.no_oci = true;
        assert!(access(&opts).expect_err("off").starts_with("--no-oci"));
        opts.no_oci = false;
        opts.lab = Some(PathBuf::from("/nonexistent-lab"));
        assert!(access(&opts)
            .expect_err("no lab")
            .contains("/nonexistent-lab/lab.json: cannot read"));
    }
}
