//! What one check is about and what it found.
//!
//! A [`Unit`] is one allocation checked against one tier: the OCI resources of a configuration
//! or plan, or one `data "freetier_allocation"` instance (checked on its own, as the provider
//! checks it). Next to the rulebook's [`Allocation`] it keeps a [`Site`] for every item and
//! attribute, so that the rulebook's [`Subject`] (`instances[2].ocpus`) becomes a `file:line`
//! and an address (`oci_core_instance.node["b"].shape_config.ocpus`), and the reason a value is
//! not known.
//!
//! [`Unit::resolve`] runs the rulebook and turns its report into [`Finding`]s and
//! [`Deferred`]s. CLI-level findings that the rulebook does not make (an unknown tier, a
//! Terraform type error) are added to [`Unit::extra`] by the readers.
//!
//! Imports `config::Loc` and `value` from this module tree, and the pure `rules`.

use std::borrow::Cow;
use std::rc::Rc;

use super::config::Loc;
use super::value::{Val, Why};
use crate::rules::{self, Allocation, ItemKind, Quantity, Report, Severity, Subject, Tier};

/// Where something is: a place in a file, the block's address, and the attribute path in it.
///
/// Cheap to clone: every attribute of a block records a site, and a plan has thousands of
/// them, so the address is shared and a fixed attribute path is not copied.
#[derive(Clone, Debug, PartialEq)]
pub struct Site {
    /// File and line (no line for plan JSON).
    pub loc: Loc,
    /// `oci_core_instance.node["b"]`, `data.freetier_allocation.stack`.
    pub address: Rc<str>,
    /// `shape_config.ocpus`, `instance[1].ocpus`; `None` for the block itself.
    pub attr: Option<Cow<'static, str>>,
}

impl Site {
    /// `address.attr`, or the address alone.
    pub fn path(&self) -> String {
        match &self.attr {
            Some(a) => format!("{}.{a}", self.address),
            None => self.address.to_string(),
        }
    }
}

/// An attribute's site and, when its value is not known, why.
#[derive(Clone, Debug)]
pub struct AttrSite {
    /// Where.
    pub site: Site,
    /// Why its value is not known (`None` when it is known or absent).
    pub why: Option<Why>,
}

/// The sites of one allocation item.
#[derive(Clone, Debug)]
pub struct ItemSites {
    /// The block (or, for a data source's counted attribute, that attribute).
    pub block: Site,
    /// Per rulebook attribute name (`"ocpus"`, `"count"`, …). A list, not a map: an item has
    /// at most a handful, and one small allocation per item beats a hash table per item.
    attrs: Vec<(&'static str, AttrSite)>,
}

impl ItemSites {
    /// Sites for a block with no attributes recorded yet.
    pub fn new(block: Site) -> ItemSites {
        ItemSites {
            block,
            attrs: Vec::new(),
        }
    }

    /// Records an attribute (again: the later record wins).
    pub fn attr(&mut self, name: &'static str, site: Site, why: Option<Why>) {
        let new = AttrSite { site, why };
        match self.attrs.iter_mut().find(|(n, _)| *n == name) {
            Some((_, old)) => *old = new,
            None => self.attrs.push((name, new)),
        }
    }

    /// The recorded attribute `name`.
    pub fn get(&self, name: &str) -> Option<&AttrSite> {
        self.attrs.iter().find(|(n, _)| *n == name).map(|(_, a)| a)
    }
}

/// The sites of a unit's items, by kind and index in the allocation's list of that kind.
///
/// Readers record an item as they push it, so the indices of a kind are dense: a vector per
/// kind holds them, with no hashing and no spare buckets (a plan has thousands of items).
#[derive(Default)]
pub struct ItemTable {
    by_kind: Vec<Vec<Option<ItemSites>>>,
}

impl ItemTable {
    /// Records (or replaces) the sites of item `index` of `kind`.
    pub fn insert(&mut self, (kind, index): (ItemKind, usize), sites: ItemSites) {
        let k = kind as usize;
        if self.by_kind.len() <= k {
            self.by_kind.resize_with(k + 1, Vec::new);
        }
        let list = &mut self.by_kind[k];
        if list.len() <= index {
            list.resize_with(index + 1, || None);
        }
        list[index] = Some(sites);
    }

    /// Room for `additional` more items of `kind`.
    pub fn reserve(&mut self, kind: ItemKind, additional: usize) {
        let k = kind as usize;
        if self.by_kind.len() <= k {
            self.by_kind.resize_with(k + 1, Vec::new);
        }
        self.by_kind[k].reserve_exact(additional);
    }

    /// The sites of item `index` of `kind`, when recorded.
    pub fn get(&self, &(kind, index): &(ItemKind, usize)) -> Option<&ItemSites> {
        self.by_kind.get(kind as usize)?.get(index)?.as_ref()
    }
}

/// How unknown values are worded: before plan (HCL) or before apply (plan JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// `freetier check DIR`.
    Config,
    /// `freetier check --plan`.
    Plan,
}

/// One finding: a rulebook violation or a CLI-level error, with its site.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The unit it belongs to (`resources`, `data.freetier_allocation.stack`).
    pub unit: String,
    /// Error or warning.
    pub severity: Severity,
    /// Stable rule name (`a1_ocpu_total`, `unknown_tier`, …).
    pub rule: String,
    /// Title-Case summary (Terraform's own wording for Terraform's own errors).
    pub summary: String,
    /// What happened, the numbers, what to do, the source.
    pub detail: String,
    /// Where.
    pub site: Site,
    /// The rulebook's path (`instances[2].ocpus`), for rulebook findings.
    pub subject: Option<String>,
    /// The violation itself, for rulebook findings.
    pub violation: Option<rules::Violation>,
    /// Where the top-level block at fault starts: Terraform's own fallback when it cannot
    /// point into a block (a `dynamic` one, or an older core's nested block).
    pub block_loc: Loc,
}

/// Something checked only later, stated.
#[derive(Clone, Debug)]
pub struct Deferred {
    /// The unit.
    pub unit: String,
    /// Where.
    pub site: Site,
    /// The rulebook's path, when the rulebook deferred it.
    pub subject: Option<String>,
    /// The limits that wait on it.
    pub limits: Vec<String>,
    /// The full sentence.
    pub reason: String,
}

/// One allocation to check, and the sites of its items.
pub struct Unit {
    /// `resources` or the data source's address.
    pub name: String,
    /// The tier to check against (`None`: not checked, an error says why).
    pub tier: Option<Tier>,
    /// How the tier was chosen.
    pub tier_from: String,
    /// What the plan asks for.
    pub allocation: Allocation,
    /// Sites per item.
    pub items: ItemTable,
    /// The site of the whole unit (for list-wide findings).
    pub site: Site,
    /// True for a `freetier_allocation` data source: subjects are spelled as the provider
    /// spells them (`instance[1].ocpus`).
    pub data_source: bool,
    /// Before plan or before apply.
    pub stage: Stage,
    /// Findings the readers made (type errors, unknown tier, …).
    pub extra: Vec<Finding>,
    /// Deferrals the readers made (a bucket's size, a public IP's lifetime, …).
    pub extra_deferred: Vec<Deferred>,
}

/// A unit after the rulebook ran.
pub struct Checked {
    /// Its name.
    pub name: String,
    /// Its tier, when it was checked.
    pub tier: Option<Tier>,
    /// How the tier was chosen.
    pub tier_from: String,
    /// The rulebook's report, when it ran.
    pub report: Option<Report>,
    /// Every finding, in order.
    pub findings: Vec<Finding>,
    /// Every deferral, in order.
    pub deferred: Vec<Deferred>,
    /// How many items the unit had.
    pub items: usize,
}

/// A quantity from a value: `Known` for numbers (and strings that are numbers, as Terraform
/// converts them), `Absent` for null, `Unknown` with the reason; `Err` for a value of the
/// wrong type, with the message.
pub fn quantity(v: &Val) -> Result<(Quantity, Option<Why>), String> {
    match v {
        Val::Null => Ok((rules::Value::Absent, None)),
        Val::Unknown(why) => Ok((rules::Value::Unknown, Some(why.clone()))),
        Val::Num(n) => Ok((rules::Value::Known(*n), None)),
        Val::Str(_) => v
            .to_number()
            .map(|n| (rules::Value::Known(n), None))
            .map_err(|e| format!("a number is required: {e}")),
        other => Err(format!("a number is required, not {}", other.type_name())),
    }
}

/// A string from a value, converted as Terraform converts it.
pub fn text(v: &Val) -> Result<(rules::Value<String>, Option<Why>), String> {
    match v {
        Val::Null => Ok((rules::Value::Absent, None)),
        Val::Unknown(why) => Ok((rules::Value::Unknown, Some(why.clone()))),
        Val::Str(s) => Ok((rules::Value::Known(s.clone()), None)),
        Val::Num(_) | Val::Bool(_) => v
            .to_string_value()
            .map(|s| (rules::Value::Known(s), None))
            .map_err(|e| e.to_string()),
        other => Err(format!("a string is required, not {}", other.type_name())),
    }
}

impl Unit {
    /// An empty unit.
    pub fn new(name: &str, site: Site, data_source: bool, stage: Stage) -> Unit {
        Unit {
            name: name.to_owned(),
            tier: Some(Tier::default()),
            tier_from: "the default".into(),
            allocation: Allocation::default(),
            items: ItemTable::default(),
            site,
            data_source,
            stage,
            extra: Vec::new(),
            extra_deferred: Vec::new(),
        }
    }

    /// Records a CLI-level error.
    pub fn error(&mut self, rule: &str, summary: &str, site: Site, detail: String) {
        self.extra.push(Finding {
            unit: self.name.clone(),
            severity: Severity::Error,
            rule: rule.to_owned(),
            summary: summary.to_owned(),
            detail,
            block_loc: site.loc.clone(),
            site,
            subject: None,
            violation: None,
        });
    }

    /// Records a CLI-level deferral.
    pub fn defer(&mut self, site: Site, limits: &[rules::LimitKey], reason: String) {
        self.extra_deferred.push(Deferred {
            unit: self.name.clone(),
            site,
            subject: None,
            limits: limits.iter().map(|k| k.as_str().to_owned()).collect(),
            reason,
        });
    }

    /// Reads a number, recording a type error (Terraform's wording) when it is not one. A value
    /// of the wrong type becomes unknown with no deferral, since the error already says it.
    pub fn number(&mut self, v: &Val, site: &Site, attr: &str) -> (Quantity, Option<Why>) {
        match quantity(v) {
            Ok(q) => q,
            Err(e) => {
                self.type_error(site, attr, &e);
                (rules::Value::Unknown, Some(silent()))
            }
        }
    }

    /// Reads a string the same way.
    pub fn string(
        &mut self,
        v: &Val,
        site: &Site,
        attr: &str,
    ) -> (rules::Value<String>, Option<Why>) {
        match text(v) {
            Ok(q) => q,
            Err(e) => {
                self.type_error(site, attr, &e);
                (rules::Value::Unknown, Some(silent()))
            }
        }
    }

    fn type_error(&mut self, site: &Site, attr: &str, e: &str) {
        self.error(
            "invalid_type",
            "Incorrect attribute value type",
            site.clone(),
            format!("Inappropriate value for attribute {attr:?}: {e}."),
        );
    }

    /// The site for a rulebook subject: the attribute's when recorded, else the item's block,
    /// else the unit's.
    fn site_of(&self, subject: &Subject) -> (Site, Option<Why>) {
        match subject {
            Subject::Item {
                kind,
                index,
                attribute,
            } => match self.items.get(&(*kind, *index)) {
                Some(item) => match attribute.and_then(|a| item.get(a)) {
                    Some(a) => (a.site.clone(), a.why.clone()),
                    // A whole resource that is one of `count` copies: the count is at fault.
                    None if !self.data_source => match item.get("count") {
                        Some(c) if c.site.loc.line.is_some() && c.site.loc != item.block.loc => {
                            (c.site.clone(), None)
                        }
                        _ => (item.block.clone(), None),
                    },
                    None => (item.block.clone(), None),
                },
                None => (self.site.clone(), None),
            },
            Subject::List(_) => (self.site.clone(), None),
        }
    }

    /// The subject as the provider spells it for a data source (`instance[1].ocpus`,
    /// `reserved_public_ips`), else as the rulebook does (`instances[1].ocpus`).
    fn subject_text(&self, subject: &Subject) -> String {
        if !self.data_source {
            return subject.to_string();
        }
        crate::provider::allocation::subject_path(subject).to_string()
    }

    /// Runs the rulebook (unless an error already stops this unit, as Terraform would stop
    /// before the provider runs) and gathers the findings and deferrals.
    pub fn resolve(mut self) -> Checked {
        let stop = self.data_source && !self.extra.is_empty();
        let report = match self.tier {
            Some(tier) if !stop => Some(rules::check(tier, &self.allocation)),
            _ => None,
        };
        let mut findings = std::mem::take(&mut self.extra);
        if self.data_source {
            for f in &mut findings {
                f.block_loc = self.site.loc.clone();
            }
        }
        let mut deferred = std::mem::take(&mut self.extra_deferred);
        if let Some(report) = &report {
            findings.reserve(report.violations.len());
            deferred.reserve(report.deferred.len());
        }
        if let Some(report) = &report {
            for v in &report.violations {
                let (site, _) = self.site_of(&v.subject);
                let block_loc = match (&v.subject, self.data_source) {
                    (Subject::Item { kind, index, .. }, false) => self
                        .items
                        .get(&(*kind, *index))
                        .map_or_else(|| site.loc.clone(), |i| i.block.loc.clone()),
                    _ => self.site.loc.clone(),
                };
                findings.push(Finding {
                    block_loc,
                    unit: self.name.clone(),
                    severity: v.severity,
                    rule: v.rule.as_str().to_owned(),
                    summary: v.summary.to_owned(),
                    detail: v.detail.clone(),
                    site,
                    subject: Some(self.subject_text(&v.subject)),
                    violation: Some(v.clone()),
                });
            }
            for d in &report.deferred {
                let (site, why) = self.site_of(&d.subject);
                if why.as_ref().is_some_and(|w| w.text.is_empty()) {
                    continue; // a type error already reported
                }
                let limits: Vec<String> = d.limits.iter().map(|k| k.as_str().to_owned()).collect();
                let reason = match (self.stage, &why) {
                    (Stage::Config, Some(why)) => unknown_sentence(why),
                    (Stage::Config, None) if d.reason.contains("does not state") => {
                        "its size is not stated in configuration (known once the image \
                         exists); declare it in a freetier_allocation custom_image block so \
                         the provider checks it at plan time"
                            .to_owned()
                    }
                    (Stage::Config, None) => {
                        "not known before plan; the provider checks it at plan time".to_owned()
                    }
                    (Stage::Plan, Some(why)) => format!(
                        "not known until apply ({}); {}",
                        why.text,
                        d.reason
                            .split("; ")
                            .nth(1)
                            .unwrap_or("it is checked once known")
                    ),
                    (Stage::Plan, None) => d.reason.clone(),
                };
                deferred.push(Deferred {
                    unit: self.name.clone(),
                    site,
                    subject: Some(self.subject_text(&d.subject)),
                    limits,
                    reason,
                });
            }
        }
        let a = &self.allocation;
        let items = a.instances.len()
            + a.block_volumes.len()
            + a.volume_backups.len()
            + a.reserved_public_ips.len()
            + a.vcns.len()
            + a.nat_gateways.len()
            + a.service_gateways.len()
            + a.load_balancers.len()
            + a.network_load_balancers.len()
            + a.object_storage.len()
            + a.custom_images.len()
            + a.budget_alerts.as_ref().map_or(0, Vec::len);
        Checked {
            name: self.name,
            tier: if stop { None } else { self.tier },
            tier_from: self.tier_from,
            report,
            findings,
            deferred,
            items,
        }
    }
}

// The marker for a value whose type error was already reported.
fn silent() -> Why {
    Why {
        error: true,
        text: std::rc::Rc::from(""),
    }
}

/// The sentence for a value not known statically.
pub fn unknown_sentence(why: &Why) -> String {
    if why.error {
        format!(
            "cannot be evaluated statically ({}); not known before plan; the provider checks \
             it at plan time",
            why.text
        )
    } else {
        format!(
            "not known before plan ({}); the provider checks it at plan time",
            why.text
        )
    }
}
