//! The rows read from Layer 1's state alone: custom images, and the OCI allocation checked
//! with the rulebook. A state with resources (a real `terraform/oci` apply) is read resource by
//! resource through the rulebook's own mapping ([`rules::oci_resource`]), the table the
//! provider and `freetier check` read configuration through; a state with only the outputs
//! contract (the lab's `oci.tfstate`) is read from `nodes`, `bastion`, `network` and `ingress`.

use serde_json::{json, Map, Value};

use super::tfstate::{Instance as StateInstance, LayerState};
use super::Row;
use crate::rules::{
    self, format_number, Allocation, Conversion, Counted, FieldValue, Instance, ItemKind, LimitKey,
    Quantity, Severity, Tier, Value as RValue,
};

/// The tier Layer 1 was checked against (`tier` output), always_free when it says none.
pub(super) fn tier(st: &LayerState) -> Result<Tier, String> {
    match st.text("tier") {
        None => Ok(Tier::AlwaysFree),
        Some(t) => Tier::parse(t).map_err(|e| e.to_string()),
    }
}

/// The attribute at `path` (`shape`, or `shape_config.ocpus` in the first nested block).
fn attribute<'a>(attrs: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let v = match path.split_once('.') {
        None => attrs.get(path)?,
        Some((block, attr)) => {
            let b = attrs.get(block)?;
            let first = match b {
                Value::Array(a) => a.first()?,
                other => other,
            };
            first.get(attr)?
        }
    };
    (!v.is_null()).then_some(v)
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Every managed OCI resource the rulebook counts, as one allocation.
///
/// A state records what OCI made, where configuration may have left values unset, so two
/// computed values read as unset, as the rulebook counts unset ones:
/// - a boot volume below the smallest size that can be set (50 GB) is the image default (47
///   GB on a live A1 instance);
/// - a fixed shape's `shape_config` (OCI reports 1 OCPU and 1 GB for the E2 micro) is the
///   shape's, not a choice; only flexible shapes take OCPUs and memory from configuration.
fn from_resources(resources: &[StateInstance], tier: Tier) -> Allocation {
    let mut alloc = Allocation::default();
    let settable = tier
        .limit(LimitKey::BootVolumeMinGb)
        .map_or(50.0, |l| l.value);
    for r in resources {
        let Some(row) = rules::oci_resource(&r.ty) else {
            continue;
        };
        if let Some(cond) = row.counts_if {
            let v = attribute(&r.attributes, cond.arg).and_then(Value::as_str);
            if !v.is_some_and(|v| v.eq_ignore_ascii_case(cond.value)) {
                continue;
            }
        }
        if row.kind == ItemKind::BudgetAlert && alloc.budget_alerts.is_none() {
            alloc.budget_alerts = Some(Vec::new());
        }
        alloc.push_item(row.kind, Some(r.address.clone()), |field| {
            if field.name == "count" {
                return FieldValue::Number(RValue::Known(1.0));
            }
            for arg in row.args_for(field.name) {
                let Some(v) = attribute(&r.attributes, arg.path) else {
                    continue;
                };
                if field.text {
                    return FieldValue::Text(match v.as_str() {
                        Some(s) => RValue::Known(s.to_string()),
                        None => RValue::Absent,
                    });
                }
                let Some(n) = number(v) else { continue };
                let q: Quantity = match arg.conversion {
                    Conversion::Same => RValue::Known(n),
                    Conversion::Times(f) => RValue::Known(n * f),
                    Conversion::BudgetThreshold => budget_dollars(r, n, resources),
                };
                if field.name == "boot_volume_gb" && matches!(q, RValue::Known(gb) if gb < settable)
                {
                    return FieldValue::Number(RValue::Absent);
                }
                return FieldValue::Number(q);
            }
            if field.text {
                FieldValue::Text(RValue::Absent)
            } else {
                FieldValue::Number(RValue::Absent)
            }
        });
    }
    for i in &mut alloc.instances {
        let flexible = i.shape.known().is_some_and(|s| s.ends_with(".Flex"));
        if !flexible {
            i.ocpus = RValue::Absent;
            i.memory_gb = RValue::Absent;
        }
    }
    alloc
}

/// An alert rule's threshold in dollars: itself when ABSOLUTE; a percentage of its budget's
/// amount when PERCENTAGE (unknown when the budget is not in the state).
fn budget_dollars(rule: &StateInstance, threshold: f64, all: &[StateInstance]) -> Quantity {
    let kind = attribute(&rule.attributes, "threshold_type")
        .and_then(Value::as_str)
        .unwrap_or("");
    if kind.eq_ignore_ascii_case("ABSOLUTE") {
        return RValue::Known(threshold);
    }
    let budget_id = attribute(&rule.attributes, "budget_id").and_then(Value::as_str);
    all.iter()
        .filter(|b| b.ty == "oci_budget_budget")
        .find(|b| b.attributes.get("id").and_then(Value::as_str) == budget_id)
        .and_then(|b| attribute(&b.attributes, "amount").and_then(number))
        .map_or(RValue::Unknown, |amount| {
            RValue::Known(amount * threshold / 100.0)
        })
}

/// The allocation the outputs contract describes (`nodes`, `bastion`, `network`, `ingress`).
/// A node's `boot_gb` is the image default when the size was left unset (docs/stack.md, the
/// outputs contract), so that value reads as unset: an explicit size below 50 GB cannot exist.
fn from_outputs(st: &LayerState, tier: Tier) -> Allocation {
    let mut alloc = Allocation::default();
    let default_boot = tier.limit(LimitKey::BootVolumeDefaultGb).map(|l| l.value);
    let num = |v: &Value, k: &str| -> Quantity {
        v.get(k)
            .and_then(number)
            .map_or(RValue::Absent, RValue::Known)
    };
    for n in st
        .outputs
        .get("nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        alloc.instances.push(Instance {
            label: n.get("name").and_then(Value::as_str).map(str::to_string),
            shape: n
                .get("shape")
                .and_then(Value::as_str)
                .map_or(RValue::Absent, |s| RValue::Known(s.to_string())),
            ocpus: num(n, "ocpus"),
            memory_gb: num(n, "memory_gb"),
            boot_volume_gb: match num(n, "boot_gb") {
                RValue::Known(gb) if Some(gb) == default_boot => RValue::Absent,
                other => other,
            },
            count: RValue::Known(1.0),
        });
    }
    if let Some(b) = st.outputs.get("bastion").filter(|b| b.is_object()) {
        let name = b.get("name").and_then(Value::as_str).unwrap_or("bastion");
        alloc.instances.push(Instance {
            count: RValue::Known(1.0),
            ..Instance::micro().named(name)
        });
        if b.get("public_ip").and_then(Value::as_str).is_some() {
            alloc.reserved_public_ips.push(Counted {
                count: RValue::Known(1.0),
                ..Counted::named("bastion.public_ip")
            });
        }
    }
    if st.outputs.get("network").is_some_and(Value::is_object) {
        alloc.vcns.push(Counted {
            count: RValue::Known(1.0),
            ..Counted::named("network")
        });
    }
    if st.outputs.get("ingress").is_some_and(Value::is_object) {
        alloc.network_load_balancers.push(Counted {
            count: RValue::Known(1.0),
            ..Counted::named("ingress")
        });
    }
    alloc
}

fn total_line(report: &rules::Report, key: LimitKey, what: &str, unit: &str) -> Option<String> {
    let t = report.totals.iter().find(|t| t.key == key)?;
    Some(format!(
        "{what} {}{unit} of {}{unit}",
        format_number(t.total),
        format_number(t.limit)
    ))
}

/// The `allocation` row: Layer 1's resources held to the tier by the rulebook.
pub(super) fn allocation(st: Result<&LayerState, &String>) -> Row {
    const ROW: &str = "allocation";
    let st = match st {
        Ok(s) => s,
        Err(why) => return Row::not_checked(ROW, why.clone()),
    };
    let tier = match tier(st) {
        Ok(t) => t,
        Err(e) => return Row::not_checked(ROW, format!("Layer 1's `tier` output: {e}")),
    };
    // Resources when the state has the instances; a state that holds only outputs (and at
    // most an image, like the lab's stand-in for Layer 1) is read through its outputs.
    let counted = st.resources.iter().any(|r| r.ty == "oci_core_instance");
    let (alloc, from) = if counted {
        (from_resources(&st.resources, tier), "Layer 1's resources")
    } else {
        (from_outputs(st, tier), "Layer 1's outputs")
    };
    let no_nodes = !counted
        && st
            .outputs
            .get("nodes")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
    if alloc.instances.is_empty() || no_nodes {
        return Row::not_checked(
            ROW,
            format!(
                "{} has no instances (no resources and no `nodes` output): is Layer 1 applied?",
                st.path.display()
            ),
        );
    }
    let report = rules::check(tier, &alloc);
    let violations: Vec<Value> = report
        .violations
        .iter()
        .map(|v| {
            json!({
                "severity": match v.severity { Severity::Error => "error", Severity::Warning => "warning" },
                "subject": v.subject.to_string(),
                "summary": v.summary,
                "detail": v.detail,
            })
        })
        .collect();
    let totals: Vec<Value> = report
        .totals
        .iter()
        .filter(|t| t.total > 0.0)
        .map(|t| json!({"limit": t.key.as_str(), "total": t.total, "allowed": t.limit}))
        .collect();
    let details = json!({
        "tier": tier.as_str(),
        "from": from,
        "instances": alloc.instances.len(),
        "totals": totals,
        "violations": violations,
    });
    let summary: Vec<String> = [
        total_line(&report, LimitKey::A1Ocpus, "A1", " OCPU"),
        total_line(&report, LimitKey::A1MemoryGb, "A1 memory", " GB"),
        total_line(&report, LimitKey::BlockStorageGb, "block storage", " GB"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let errors: Vec<&rules::Violation> = report.errors().collect();
    match errors.first() {
        Some(first) => Row::fail(
            ROW,
            format!(
                "{} of {from} break{} tier {}: {}: {}",
                errors.len(),
                if errors.len() == 1 { "s" } else { "" },
                tier.as_str(),
                first.summary,
                first.detail
            ),
            details,
        ),
        None => Row::pass(
            ROW,
            format!(
                "{} within tier {} ({from}, {} instances)",
                summary.join("; "),
                tier.as_str(),
                alloc.instances.len()
            ),
            details,
        ),
    }
}

/// The `images` row: every custom image Layer 1 manages is at most the tier's size, and
/// together they fit the Object Storage allowance they are imported through.
pub(super) fn images(st: Result<&LayerState, &String>) -> Row {
    const ROW: &str = "images";
    let st = match st {
        Ok(s) => s,
        Err(why) => return Row::not_checked(ROW, why.clone()),
    };
    let tier = match tier(st) {
        Ok(t) => t,
        Err(e) => return Row::not_checked(ROW, format!("Layer 1's `tier` output: {e}")),
    };
    let images: Vec<&StateInstance> = st
        .resources
        .iter()
        .filter(|r| r.ty == "oci_core_image")
        .collect();
    if images.is_empty() {
        let why = if st.text("node_os") == Some("talos") {
            "Layer 1's nodes boot a custom image it does not manage (node_image_id), so its \
             size is not in Layer 1's state"
        } else {
            "Layer 1's nodes boot node_image_id, which `freetier image` imported outside \
             Layer 1's state after checking it against the 20 GB allowance"
        };
        return Row::not_checked(ROW, why.into());
    }
    let mut alloc = Allocation::default();
    let mut sizes = Vec::new();
    let mut unknown = Vec::new();
    for img in &images {
        let gb = attribute(&img.attributes, "size_in_mbs")
            .and_then(number)
            .map(|mb| mb / 1024.0);
        match gb {
            Some(g) => sizes.push((img.address.clone(), g)),
            None => unknown.push(img.address.clone()),
        }
        alloc.custom_images.push(rules::CustomImage {
            label: Some(img.address.clone()),
            size_gb: gb.map_or(RValue::Unknown, RValue::Known),
            count: RValue::Known(1.0),
        });
    }
    let report = rules::check(tier, &alloc);
    let details = json!({
        "tier": tier.as_str(),
        "images": sizes.iter().map(|(a, g)| json!({"address": a, "size_gb": g})).collect::<Vec<_>>(),
        "size_unknown": unknown,
    });
    if let Some(v) = report.errors().next() {
        return Row::fail(ROW, format!("{}: {}", v.summary, v.detail), details);
    }
    let total: f64 = sizes.iter().map(|(_, g)| g).sum();
    if let Some(limit) = tier.limit(LimitKey::ObjectStorageGb) {
        if total > limit.value {
            return Row::fail(
                ROW,
                format!(
                    "{} custom images take {} GB together, more than the {} GB of Object \
                     Storage the tier gives to import them through ({}); delete the ones no \
                     instance boots",
                    images.len(),
                    format_number(total),
                    format_number(limit.value),
                    limit.source
                ),
                details,
            );
        }
    }
    if !unknown.is_empty() {
        return Row::not_checked(
            ROW,
            format!(
                "the size of {} is not in Layer 1's state",
                unknown.join(", ")
            ),
        );
    }
    let max = tier
        .limit(LimitKey::CustomImageMaxGb)
        .map_or(20.0, |l| l.value);
    Row::pass(
        ROW,
        format!(
            "{} custom image{}, {} GB in all, each at most {} GB",
            images.len(),
            if images.len() == 1 { "" } else { "s" },
            format_number(total),
            format_number(max)
        ),
        details,
    )
}

#[cfg(test)]
mod tests {
    use super::super::tfstate::parse;
    use super::super::Status;
    use super::*;
    use std::path::Path;

    fn lab_like(nodes: &str) -> LayerState {
        let text = format!(
            r#"{{"version":4,"outputs":{{
              "tier":{{"value":"always_free"}},
              "node_os":{{"value":"proxmox"}},
              "nodes":{{"value":{nodes}}},
              "bastion":{{"value":{{"name":"bastion","public_ip":"127.1.1.10"}}}},
              "network":{{"value":{{"vcn_cidr":"127.1.0.0/16"}}}},
              "ingress":{{"value":{{"public_ip":"127.1.1.10","ports":[]}}}}}},
              "resources":[]}}"#
        );
        parse(Path::new("oci.tfstate"), &text, "Layer 1").expect("state")
    }

    #[test]
    fn the_outputs_contract_is_checked_against_the_tier() {
        let node = |n: u32, ocpus: u32| {
            format!(
                r#"{{"name":"freetier-{n}","shape":"VM.Standard.A1.Flex","ocpus":{ocpus},"memory_gb":{},"boot_gb":47}}"#,
                ocpus * 6
            )
        };
        let cases = [
            (
                "two nodes fit",
                format!("[{},{}]", node(1, 1), node(2, 1)),
                Status::Pass,
                "A1 2 OCPU of 2 OCPU",
            ),
            (
                "three OCPU do not",
                format!("[{},{}]", node(1, 2), node(2, 1)),
                Status::Fail,
                "tier always_free",
            ),
            (
                "no nodes",
                "[]".to_string(),
                Status::NotChecked,
                "is Layer 1 applied?",
            ),
        ];
        for (name, nodes, status, want) in cases {
            let st = lab_like(&nodes);
            let row = allocation(Ok(&st));
            assert_eq!(row.status, status, "{name}: {}", row.reason);
            assert!(row.reason.contains(want), "{name}: {}", row.reason);
        }
    }

    #[test]
    fn resources_are_read_through_the_rulebooks_mapping() {
        let text = r#"{"version":4,"outputs":{"tier":{"value":"always_free"}},"resources":[
          {"mode":"managed","type":"oci_core_instance","name":"node","instances":[
            {"index_key":"a","attributes":{"shape":"VM.Standard.A1.Flex","shape_config":[{"ocpus":2,"memory_in_gbs":12}],"source_details":[{"boot_volume_size_in_gbs":"100"}]}},
            {"index_key":"b","attributes":{"shape":"VM.Standard.A1.Flex","shape_config":[{"ocpus":1,"memory_in_gbs":6}],"source_details":[{"boot_volume_size_in_gbs":"47"}]}}]},
          {"mode":"managed","type":"oci_core_public_ip","name":"eph","instances":[{"attributes":{"lifetime":"EPHEMERAL"}}]},
          {"mode":"managed","type":"oci_core_image","name":"talos","instances":[{"attributes":{"size_in_mbs":"25600"}}]}]}"#;
        let st = parse(Path::new("s"), text, "Layer 1").expect("state");
        let row = allocation(Ok(&st));
        assert_eq!(row.status, Status::Fail, "{}", row.reason);
        assert!(row.reason.contains("Layer 1's resources"), "{}", row.reason);
        assert!(
            !row.reason.contains("Boot Volume"),
            "47 GB is the image default: {}",
            row.reason
        );
        assert_eq!(row.details["instances"], json!(2));
        // The default layout as OCI records it: fits.
        let fits = r#"{"version":4,"outputs":{"tier":{"value":"always_free"}},"resources":[
          {"mode":"managed","type":"oci_core_instance","name":"node","instances":[
            {"index_key":"a","attributes":{"shape":"VM.Standard.A1.Flex","shape_config":[{"ocpus":1,"memory_in_gbs":6}],"source_details":[{"boot_volume_size_in_gbs":"47"}]}},
            {"index_key":"b","attributes":{"shape":"VM.Standard.A1.Flex","shape_config":[{"ocpus":1,"memory_in_gbs":6}],"source_details":[{"boot_volume_size_in_gbs":"47"}]}}]},
          {"mode":"managed","type":"oci_core_instance","name":"bastion","instances":[
            {"attributes":{"shape":"VM.Standard.E2.1.Micro","shape_config":[{"ocpus":1,"memory_in_gbs":1}],"source_details":[{"boot_volume_size_in_gbs":"47"}]}}]},
          {"mode":"managed","type":"oci_budget_alert_rule","name":"any_spend","instances":[
            {"attributes":{"threshold":0.01,"threshold_type":"ABSOLUTE"}}]}]}"#;
        let fits = parse(Path::new("s"), fits, "Layer 1").expect("state");
        let row = allocation(Ok(&fits));
        assert_eq!(row.status, Status::Pass, "{}", row.reason);
        assert!(
            row.reason.contains("block storage 141 GB of 200 GB"),
            "{}",
            row.reason
        );
        let img = images(Ok(&st));
        assert_eq!(img.status, Status::Fail, "{}", img.reason);
        assert!(
            img.reason.contains("Custom Image Too Large"),
            "{}",
            img.reason
        );
    }

    #[test]
    fn images_say_why_they_are_not_checked() {
        let st = lab_like("[]");
        assert!(images(Ok(&st)).reason.contains("`freetier image` imported"));
        let err = "Layer 1's state x does not exist".to_string();
        let row = images(Err(&err));
        assert_eq!(
            (row.status, row.reason.as_str()),
            (Status::NotChecked, err.as_str())
        );
        let text = r#"{"version":4,"outputs":{"tier":{"value":"always_free"}},"resources":[
          {"mode":"managed","type":"oci_core_image","name":"a","instances":[{"attributes":{"size_in_mbs":10240}}]},
          {"mode":"managed","type":"oci_core_image","name":"b","instances":[{"attributes":{"size_in_mbs":12288}}]}]}"#;
        let st = parse(Path::new("s"), text, "Layer 1").expect("state");
        let row = images(Ok(&st));
        assert_eq!(row.status, Status::Fail, "{}", row.reason);
        assert!(row.reason.contains("22 GB together"), "{}", row.reason);
    }
}
