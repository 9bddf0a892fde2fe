//! Rendering a check's outcome: text for people (`file:line: error: Summary [rule]`, the
//! address and path, the rulebook's detail; then what waits on plan; then totals), and JSON for
//! CI (`--format json`).
//!
//! Imports `unit` from this module tree and the pure `rules`.

use std::io::Write;

use serde::Serialize;

use super::unit::{Checked, Deferred, Finding};
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

// The JSON report, serialized straight from the outcome (field order is the report's): no
// `serde_json::Value` tree is built, and the text goes into the caller's one buffer.

#[derive(Serialize)]
struct ReportJson<'o> {
    version: u32,
    mode: &'o str,
    path: &'o str,
    tier: Option<&'static str>,
    tier_from: Option<&'o str>,
    free: bool,
    errors: usize,
    warnings: usize,
    violations: Vec<ViolationJson<'o>>,
    deferrals: Vec<DeferralJson<'o>>,
    totals: Vec<TotalJson<'o>>,
    checks: Vec<CheckJson<'o>>,
}

// A violation and a deferral start with their site's fields: file, line, address, attribute,
// path.
#[derive(Serialize)]
struct ViolationJson<'o> {
    file: &'o str,
    line: Option<usize>,
    address: &'o str,
    attribute: Option<&'o str>,
    path: String,
    block_line: Option<usize>,
    subject: Option<&'o str>,
    rule: &'o str,
    severity: &'static str,
    summary: &'o str,
    detail: &'o str,
    limit: Option<f64>,
    total: Option<f64>,
    overrun: Option<f64>,
    source: Option<&'static str>,
    since: Option<&'static str>,
    check: &'o str,
}

#[derive(Serialize)]
struct DeferralJson<'o> {
    file: &'o str,
    line: Option<usize>,
    address: &'o str,
    attribute: Option<&'o str>,
    path: String,
    subject: Option<&'o str>,
    limits: &'o [String],
    reason: &'o str,
    check: &'o str,
}

#[derive(Serialize)]
struct TotalJson<'o> {
    key: &'static str,
    summary: Option<&'o str>,
    unit: &'static str,
    limit: f64,
    total: f64,
    headroom: f64,
    complete: bool,
    display: String,
}

#[derive(Serialize)]
struct CheckJson<'o> {
    name: &'o str,
    tier: Option<&'static str>,
    tier_from: &'o str,
    checked: bool,
    free: bool,
    items: usize,
    totals: Vec<TotalJson<'o>>,
}

// A number, or null when not finite (JSON has no infinities).
fn num(v: Option<f64>) -> Option<f64> {
    v.filter(|n| n.is_finite())
}

fn totals_json(c: &Checked) -> Vec<TotalJson<'_>> {
    let Some(report) = &c.report else {
        return Vec::new();
    };
    report
        .totals
        .iter()
        .map(|t| TotalJson {
            key: t.key.as_str(),
            summary: report.tier.limit(t.key).map(|l| l.summary),
            unit: t.unit.as_str(),
            limit: t.limit,
            total: t.total,
            headroom: t.headroom,
            complete: t.complete,
            display: format!("{} of {}", t.unit.format(t.total), format_number(t.limit)),
        })
        .collect()
}

/// Writes the JSON report, pretty-printed, and a newline.
pub fn json(o: &Outcome, out: &mut dyn Write) -> std::io::Result<()> {
    let violations = o
        .sorted()
        .into_iter()
        .map(|f| {
            let v = f.violation.as_ref();
            ViolationJson {
                file: &f.site.loc.file,
                line: f.site.loc.line,
                address: &f.site.address,
                attribute: f.site.attr.as_deref(),
                path: f.site.path(),
                block_line: f.block_loc.line,
                subject: f.subject.as_deref(),
                rule: &f.rule,
                severity: severity(f.severity),
                summary: &f.summary,
                detail: &f.detail,
                limit: num(v.and_then(|v| v.limit)),
                total: num(v.and_then(|v| v.total)),
                overrun: num(v.and_then(|v| v.overrun)),
                source: v.map(|v| v.source),
                since: v.and_then(|v| v.since),
                check: &f.unit,
            }
        })
        .collect();
    let deferrals = o
        .deferred()
        .map(|d| DeferralJson {
            file: &d.site.loc.file,
            line: d.site.loc.line,
            address: &d.site.address,
            attribute: d.site.attr.as_deref(),
            path: d.site.path(),
            subject: d.subject.as_deref(),
            limits: &d.limits,
            reason: &d.reason,
            check: &d.unit,
        })
        .collect();
    let resources = o.checked.first();
    let checks = o
        .checked
        .iter()
        .map(|c| CheckJson {
            name: &c.name,
            tier: c.tier.map(|t| t.as_str()),
            tier_from: &c.tier_from,
            checked: c.report.is_some(),
            free: c.findings.iter().all(|f| f.severity != Severity::Error),
            items: c.items,
            totals: totals_json(c),
        })
        .collect();
    let errors = o.errors();
    let report = ReportJson {
        version: 1,
        mode: o.mode,
        path: &o.path,
        tier: resources.and_then(|c| c.tier).map(|t| t.as_str()),
        tier_from: resources.map(|c| c.tier_from.as_str()),
        free: errors == 0,
        errors,
        warnings: o.warnings(),
        violations,
        deferrals,
        totals: resources.map_or_else(Vec::new, totals_json),
        checks,
    };
    serde_json::to_writer_pretty(&mut *out, &report)?;
    out.write_all(b"\n")
}
