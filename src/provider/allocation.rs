//! Reading an allocation (what a plan asks of the free tier) out of a configuration value, and
//! turning the rulebook's findings into diagnostics that point at the attribute at fault.
//!
//! The same reader serves the `freetier_allocation` data source (blocks named in the singular:
//! `instance { … }`) and the `violations` function (an object with plural keys:
//! `{ instances = [ … ] }`); both spellings are accepted wherever either is used.

use crate::framework::{AttributePath, Diagnostics, Value};
use crate::rules::{self, Allocation, FieldValue, Quantity, Severity, Subject, Violation};

/// Counted resources: a number attribute each, named as the rulebook names the list. The
/// rulebook's table, which `freetier check` reads too.
pub use crate::rules::COUNTED;

// An item list, under its block name (`instance`) or its plural key (`instances`).
fn items<'v>(v: &'v Value, spec: &rules::ItemSpec) -> &'v [Value] {
    [spec.block, spec.key]
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

/// Reads an allocation from a configuration value, field by field as the rulebook's table
/// ([`rules::ITEMS`], [`rules::COUNTED`]) spells them.
pub fn from_value(v: &Value) -> Allocation {
    let mut a = Allocation::default();
    for spec in rules::ITEMS {
        for item in items(v, spec) {
            a.push_item(spec.kind, label(item), |f| {
                let v = item.attr(f.name);
                if f.text {
                    FieldValue::Text(text(v))
                } else {
                    FieldValue::Number(quantity(v))
                }
            });
        }
    }
    for kind in COUNTED {
        let n = quantity(v.attr(kind.field()));
        if !matches!(n, rules::Value::Absent) {
            a.push_item(*kind, None, |_| FieldValue::Number(n.clone()));
        }
    }
    a
}

/// The attribute path of a subject, in the data source's spelling (singular block names).
pub fn subject_path(s: &Subject) -> AttributePath {
    match s {
        Subject::Item {
            kind,
            index,
            attribute,
        } => match rules::item_spec(*kind) {
            Some(spec) => {
                let p = AttributePath::root(spec.block).index(*index);
                match attribute {
                    Some(a) => p.attr(*a),
                    None => p,
                }
            }
            // Counted resources are one number attribute each.
            None => AttributePath::root(kind.field()),
        },
        Subject::List(kind) => match rules::item_spec(*kind) {
            Some(spec) => AttributePath::root(spec.block),
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
