//! Rendering a check's outcome: text for people (`file:line: error: Summary [rule]`, the
//! address and path, the rulebook's detail; then what waits on plan; then totals), and JSON for
//! CI (`--format json`).
//!
//! Imports `unit` from this module tree and the pure `rules`.

use std::io::Write;

use serde_json::{json, Value as Json};

use super::unit::{Checked, Deferred, Finding, Site};
use crate::rules::{format_number, Severity, Total};

/// Everything one run found.
pub struct Outcome {
    /// `config` or `plan`.
    pub mode: &'static str,
    /// The directory or plan file checked.
    pub path: String,
    /// The units, resources first.
    pub checked: Vec<Checked>,
}

impl Outcome {
    /// Every finding, unit by unit.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.checked.iter().flat_map(|c| c.findings.iter())
    }

    /// Every finding, errors first, then by file and line (stable within one place).
    pub fn sorted(&self) -> Vec<&Finding> {
        let mut all: Vec<&Finding> = self.findings().collect();
        all.sort_by(|a, b| {
            let rank = |f: &Finding| (f.severity != Severity::Error) as u8;
            rank(a)
                .cmp(&rank(b))
                .then_with(|| a.site.loc.file.cmp(&b.site.loc.file))
                .then_with(|| a.site.loc.line.cmp(&b.site.loc.line))
        });
        all
    }

    /// Every deferral, unit by unit.
    pub fn deferred(&self) -> impl Iterator<Item = &Deferred> {
        self.checked.iter().flat_map(|c| c.deferred.iter())
    }

    /// How many findings are errors.
    pub fn errors(&self) -> usize {
        self.findings()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }

    /// How many are warnings.
    pub fn warnings(&self) -> usize {
        self.findings()
            .filter(|f| f.severity == Severity::Warning)
            .count()
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn total_line(t: &Total, tier: crate::rules::Tier, stage: &str) -> String {
    let name = tier.limit(t.key).map_or(t.key.as_str(), |l| l.summary);
    let at_least = if t.complete { "" } else { "at least " };
    let state = if t.headroom < -1e-9 {
        format!("over by {}", t.unit.format(-t.headroom))
    } else {
        format!("{} left", t.unit.format(t.headroom))
    };
    let incomplete = if t.complete {
        String::new()
    } else {
        format!("; some values wait on {stage}")
    };
    format!(
        "{name}: {at_least}{} of {} ({state}{incomplete})",
        t.unit.format(t.total),
        t.unit.format(t.limit)
    )
}

/// Writes the text report.
pub fn text(o: &Outcome, out: &mut dyn Write) -> std::io::Result<()> {
    for f in o.sorted() {
        writeln!(
            out,
            "{}: {}: {} [{}]",
            f.site.loc,
            severity(f.severity),
            f.summary,
            f.rule
        )?;
        match &f.subject {
            Some(s) if !f.site.path().ends_with(s.as_str()) => {
                writeln!(out, "  at {} ({s})", f.site.path())?
            }
            _ => writeln!(out, "  at {}", f.site.path())?,
        }
        writeln!(out, "  {}", f.detail)?;
        writeln!(out)?;
    }
    let deferred: Vec<&Deferred> = o.deferred().collect();
    if !deferred.is_empty() {
        let when = if o.mode == "plan" { "apply" } else { "plan" };
        writeln!(out, "Checked only at {when}:")?;
        for d in &deferred {
            let limits = if d.limits.is_empty() {
                String::new()
            } else {
                format!(" [{}]", d.limits.join(", "))
            };
            writeln!(
                out,
                "  {}: {}: {}{limits}",
                d.site.loc,
                d.site.path(),
                d.reason
            )?;
        }
        writeln!(out)?;
    }
    for c in &o.checked {
        let Some(tier) = c.tier else {
            writeln!(out, "{}: not checked (see the errors above).", c.name)?;
            continue;
        };
        if c.name == "resources" && c.items == 0 && o.checked.len() > 1 {
            continue;
        }
        let what = if c.name == "resources" {
            plural(c.items, "OCI resource", "OCI resources")
        } else {
            format!("{} ({})", c.name, plural(c.items, "item", "items"))
        };
        writeln!(out, "Checked {what} against {tier} ({}).", c.tier_from)?;
        if let Some(report) = &c.report {
            for t in report
                .totals
                .iter()
                .filter(|t| t.total > 0.0 || !t.complete)
            {
                let stage = if o.mode == "plan" { "apply" } else { "plan" };
                writeln!(out, "  {}", total_line(t, tier, stage))?;
            }
        }
    }
    let (e, w, d) = (o.errors(), o.warnings(), deferred.len());
    let verdict = if e == 0 { "free" } else { "NOT free" };
    writeln!(
        out,
        "{}: {verdict}: {}, {}, {} checked only at {}.",
        o.path,
        plural(e, "error", "errors"),
        plural(w, "warning", "warnings"),
        d,
        if o.mode == "plan" { "apply" } else { "plan" }
    )
}

fn site_json(s: &Site) -> [(&'static str, Json); 5] {
    [
        ("file", json!(s.loc.file.as_ref())),
        ("line", json!(s.loc.line)),
        ("address", json!(s.address)),
        ("attribute", json!(s.attr)),
        ("path", json!(s.path())),
    ]
}

fn num(v: Option<f64>) -> Json {
    v.filter(|n| n.is_finite()).map_or(Json::Null, |n| json!(n))
}

fn totals_json(c: &Checked) -> Json {
    let Some(report) = &c.report else {
        return json!([]);
    };
    Json::Array(
        report
            .totals
            .iter()
            .map(|t| {
                json!({
                    "key": t.key.as_str(),
                    "summary": report.tier.limit(t.key).map(|l| l.summary),
                    "unit": t.unit.as_str(),
                    "limit": t.limit,
                    "total": t.total,
                    "headroom": t.headroom,
                    "complete": t.complete,
                    "display": format!("{} of {}", t.unit.format(t.total), format_number(t.limit)),
                })
            })
            .collect(),
    )
}

/// The JSON report.
pub fn to_json(o: &Outcome) -> Json {
    let violations: Vec<Json> = o
        .sorted()
        .into_iter()
        .map(|f| {
            let mut m = serde_json::Map::new();
            for (k, v) in site_json(&f.site) {
                m.insert(k.into(), v);
            }
            m.insert("block_line".into(), json!(f.block_loc.line));
            m.insert("subject".into(), json!(f.subject));
            m.insert("rule".into(), json!(f.rule));
            m.insert("severity".into(), json!(severity(f.severity)));
            m.insert("summary".into(), json!(f.summary));
            m.insert("detail".into(), json!(f.detail));
            let v = f.violation.as_ref();
            m.insert("limit".into(), num(v.and_then(|v| v.limit)));
            m.insert("total".into(), num(v.and_then(|v| v.total)));
            m.insert("overrun".into(), num(v.and_then(|v| v.overrun)));
            m.insert("source".into(), json!(v.map(|v| v.source)));
            m.insert("since".into(), json!(v.and_then(|v| v.since)));
            m.insert("check".into(), json!(f.unit));
            Json::Object(m)
        })
        .collect();
    let deferrals: Vec<Json> = o
        .deferred()
        .map(|d| {
            let mut m = serde_json::Map::new();
            for (k, v) in site_json(&d.site) {
                m.insert(k.into(), v);
            }
            m.insert("subject".into(), json!(d.subject));
            m.insert("limits".into(), json!(d.limits));
            m.insert("reason".into(), json!(d.reason));
            m.insert("check".into(), json!(d.unit));
            Json::Object(m)
        })
        .collect();
    let resources = o.checked.first();
    let checks: Vec<Json> = o
        .checked
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "tier": c.tier.map(|t| t.as_str()),
                "tier_from": c.tier_from,
                "checked": c.report.is_some(),
                "free": c.findings.iter().all(|f| f.severity != Severity::Error),
                "items": c.items,
                "totals": totals_json(c),
            })
        })
        .collect();
    json!({
        "version": 1,
        "mode": o.mode,
        "path": o.path,
        "tier": resources.and_then(|c| c.tier).map(|t| t.as_str()),
        "tier_from": resources.map(|c| c.tier_from.clone()),
        "free": o.errors() == 0,
        "errors": o.errors(),
        "warnings": o.warnings(),
        "violations": violations,
        "deferrals": deferrals,
        "totals": resources.map_or(json!([]), totals_json),
        "checks": checks,
    })
}
