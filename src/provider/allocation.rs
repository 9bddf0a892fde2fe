//! Reading an allocation (what a plan asks of the free tier) out of a configuration value, and
//! turning the rulebook's findings into diagnostics that point at the attribute at fault.
//!
//! The same reader serves the `freetier_allocation` data source (blocks named in the singular:
//! `instance { … }`) and the `violations` function (an object with plural keys:
//! `{ instances = [ … ] }`); both spellings are accepted wherever either is used.

use crate::framework::{AttributePath, Diagnostics, Value};
use crate::rules::{self, Allocation, Counted, ItemKind, Quantity, Severity, Subject, Violation};

/// Where each list of items lives in configuration: (kind, singular block name, plural key).
pub const ITEM_NAMES: &[(ItemKind, &str, &str)] = &[
    (ItemKind::Instance, "instance", "instances"),
    (ItemKind::BlockVolume, "block_volume", "block_volumes"),
    (ItemKind::LoadBalancer, "load_balancer", "load_balancers"),
    (ItemKind::ObjectStorage, "object_storage", "object_storage"),
    (ItemKind::CustomImage, "custom_image", "custom_images"),
    (ItemKind::BudgetAlert, "budget_alert", "budget_alerts"),
];

/// Counted resources: a number attribute each, named as the rulebook names the list.
pub const COUNTED: &[ItemKind] = &[
    ItemKind::VolumeBackup,
    ItemKind::ReservedPublicIp,
    ItemKind::Vcn,
    ItemKind::NatGateway,
    ItemKind::ServiceGateway,
    ItemKind::NetworkLoadBalancer,
];

fn items(v: &Value, kind: ItemKind) -> &[Value] {
    let (singular, plural) = ITEM_NAMES
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, s, p)| (*s, *p))
        .unwrap_or(("", ""));
    [singular, plural]
        .iter()
        .find_map(|k| v.attr(k).as_seq())
        .unwrap_or(&[])
}

/// A number: known, unknown (not known before apply), or absent (null).
fn quantity(v: &Value) -> Quantity {
    match v {
        Value::Unknown => rules::Value::Unknown,
        Value::Number(n) => rules::Value::Known(n.as_f64()),
        _ => rules::Value::Absent,
    }
}

fn text(v: &Value) -> rules::Value<String> {
    match v {
        Value::Unknown => rules::Value::Unknown,
        Value::String(s) => rules::Value::Known(s.clone()),
        _ => rules::Value::Absent,
    }
}

fn label(v: &Value) -> Option<String> {
    v.attr("name").as_str().map(str::to_string)
}

/// Reads an allocation from a configuration value.
pub fn from_value(v: &Value) -> Allocation {
    let mut a = Allocation::default();
    for item in items(v, ItemKind::Instance) {
        a.instances.push(rules::Instance {
            label: label(item),
            shape: text(item.attr("shape")),
            ocpus: quantity(item.attr("ocpus")),
            memory_gb: quantity(item.attr("memory_gb")),
            boot_volume_gb: quantity(item.attr("boot_volume_gb")),
            count: quantity(item.attr("count")),
        });
    }
    for item in items(v, ItemKind::BlockVolume) {
        a.block_volumes.push(rules::BlockVolume {
            label: label(item),
            size_gb: quantity(item.attr("size_gb")),
            count: quantity(item.attr("count")),
        });
    }
    for item in items(v, ItemKind::LoadBalancer) {
        a.load_balancers.push(rules::LoadBalancer {
            label: label(item),
            shape: text(item.attr("shape")),
            min_bandwidth_mbps: quantity(item.attr("min_bandwidth_mbps")),
            max_bandwidth_mbps: quantity(item.attr("max_bandwidth_mbps")),
            count: quantity(item.attr("count")),
        });
    }
    for item in items(v, ItemKind::ObjectStorage) {
        a.object_storage.push(rules::ObjectStorage {
            label: label(item),
            gb: quantity(item.attr("gb")),
            count: quantity(item.attr("count")),
        });
    }
    for item in items(v, ItemKind::CustomImage) {
        a.custom_images.push(rules::CustomImage {
            label: label(item),
            size_gb: quantity(item.attr("size_gb")),
            count: quantity(item.attr("count")),
        });
    }
    let alerts = items(v, ItemKind::BudgetAlert);
    if !alerts.is_empty() {
        a.budget_alerts = Some(
            alerts
                .iter()
                .map(|item| rules::BudgetAlert {
                    label: label(item),
                    threshold_usd: quantity(item.attr("threshold_usd")),
                })
                .collect(),
        );
    }
    for kind in COUNTED {
        let n = quantity(v.attr(kind.field()));
        if !matches!(n, rules::Value::Absent) {
            counted_list(&mut a, *kind).push(Counted::times(n));
        }
    }
    a
}

fn counted_list(a: &mut Allocation, kind: ItemKind) -> &mut Vec<Counted> {
    match kind {
        ItemKind::VolumeBackup => &mut a.volume_backups,
        ItemKind::ReservedPublicIp => &mut a.reserved_public_ips,
        ItemKind::Vcn => &mut a.vcns,
        ItemKind::NatGateway => &mut a.nat_gateways,
        ItemKind::ServiceGateway => &mut a.service_gateways,
        _ => &mut a.network_load_balancers,
    }
}

/// The attribute path of a subject, in the data source's spelling (singular block names).
pub fn subject_path(s: &Subject) -> AttributePath {
    match s {
        Subject::Item {
            kind,
            index,
            attribute,
        } => match ITEM_NAMES.iter().find(|(k, _, _)| k == kind) {
            Some((_, singular, _)) => {
                let p = AttributePath::root(*singular).index(*index);
                match attribute {
                    Some(a) => p.attr(*a),
                    None => p,
                }
            }
            // Counted resources are one number attribute each.
            None => AttributePath::root(kind.field()),
        },
        Subject::List(kind) => match ITEM_NAMES.iter().find(|(k, _, _)| k == kind) {
            Some((_, singular, _)) => AttributePath::root(*singular),
            None => AttributePath::root(kind.field()),
        },
    }
}

/// The one place a rulebook finding becomes a diagnostic: its summary, the detail (limit,
/// total, overrun, what to do, source and date), and the path of the attribute at fault.
pub fn diagnostic(v: &Violation, diags: &mut Diagnostics) {
    let path = subject_path(&v.subject);
    match v.severity {
        Severity::Error => diags.error_at(path, v.summary, v.detail.clone()),
        Severity::Warning => diags.warning_at(path, v.summary, v.detail.clone()),
    }
}
