//! From a module tree read before `init` to [`Unit`]s: one for every OCI resource the free tier
//! limits, and one per `data "freetier_allocation"` instance, read exactly as the provider
//! reads it (the provider's own schema, and the rulebook's [`rules::ITEMS`] and
//! [`rules::COUNTED`], so the argument names cannot drift apart). Which OCI resources count, and
//! how, is the rulebook's [`rules::OCI_RESOURCES`], which the plan reader follows too.
//!
//! Also `data.freetier_allocation.NAME.sizes` and friends, computed here from the same rulebook
//! so that a stack whose instances consume those sizes is still checked statically.
//!
//! Imports `config`, `eval`, `unit` and `value` from this module tree, the pure `rules`, and
//! the provider's allocation data source schema (constants, no I/O).

use std::collections::BTreeMap;
use std::rc::Rc;

use super::config::{Blk, Instance, Loc, Module, View};
use super::unit::{ItemSites, Site, Stage, Unit};
use super::value::{Val, Why};
use crate::framework::Schema;
use crate::rules::{
    self, Arg, Conversion, Counted, Field, FieldValue, ItemKind, LimitKey, OciResource, Quantity,
    Report, Tier,
};

/// Appends an item whose fields were read in [`rules::fields`] order; returns its index.
pub fn push_read(
    a: &mut rules::Allocation,
    kind: ItemKind,
    label: Option<String>,
    values: Vec<FieldValue>,
) -> usize {
    let mut values = values.into_iter();
    a.push_item(kind, label, |_| {
        values
            .next()
            .unwrap_or(FieldValue::Number(rules::Value::Absent))
    })
}

/// Every unit of a configuration: the resources first, then each data source instance.
pub fn units(root: &Module, schema: &Schema) -> Vec<Unit> {
    let mut out = vec![resources_unit(root)];
    for m in root.walk() {
        for blk in m
            .data
            .iter()
            .filter(|b| b.label(0) == "freetier_allocation")
        {
            out.extend(data_units(m, blk, schema));
        }
    }
    out
}

// ---- the tier ---------------------------------------------------------------------------------

fn unknown_tier(u: &mut Unit, site: Site, given: &str, advice: &str) {
    let e = rules::UnknownTier {
        given: given.to_owned(),
    };
    u.error(
        "unknown_tier",
        "Unknown Tier",
        site,
        format!("{e}. {advice}"),
    );
}

// --tier, else the root's `tier` variable, else the provider block's, else always_free.
fn resource_tier(root: &Module, u: &mut Unit) {
    if let Some(t) = root.shared.tier_flag {
        u.tier = Some(t);
        u.tier_from = "--tier".into();
        return;
    }
    if let Some(var) = root.vars.get("tier") {
        let site = Site {
            loc: var.set_at.clone(),
            address: "var.tier".into(),
            attr: None,
        };
        match &var.value {
            Val::Str(s) => match Tier::parse(s) {
                Ok(t) => {
                    u.tier = Some(t);
                    u.tier_from = format!("var.tier ({})", var.set_at);
                    return;
                }
                Err(_) => unknown_tier(
                    u,
                    site,
                    s,
                    "Set the variable to one of them, or pass --tier.",
                ),
            },
            Val::Null => {}
            Val::Unknown(why) => {
                u.tier_from = format!(
                    "the provider's tier, since var.tier is not known ({})",
                    why.text
                );
            }
            other => unknown_tier(
                u,
                site,
                &other.to_string(),
                "Set the variable to one of them.",
            ),
        }
    }
    let provider = root.provider_tier.borrow().clone();
    if let Some(p) = provider {
        match p.tier {
            Ok(t) => {
                u.tier = Some(t);
                if !u.tier_from.starts_with("the provider's") {
                    u.tier_from = p.from;
                }
            }
            Err(given) => {
                let site = Site {
                    loc: p.loc.unwrap_or_else(|| u.site.loc.clone()),
                    address: "provider.freetier".into(),
                    attr: Some("tier".into()),
                };
                unknown_tier(
                    u,
                    site,
                    &given,
                    "Set tier to one of them, or leave it out for always_free.",
                );
            }
        }
    }
}

// What a data source without its own `tier` gets: --tier, else the provider's (None when the
// provider's is invalid: Terraform stops before the data source is read).
fn provider_tier(m: &Module) -> (Option<Tier>, String) {
    if let Some(t) = m.shared.tier_flag {
        return (Some(t), "--tier".into());
    }
    match m.provider_tier.borrow().clone() {
        Some(p) => match p.tier {
            Ok(t) => (Some(t), p.from),
            Err(_) => (None, "the provider's tier, which is invalid".into()),
        },
        None => (Some(Tier::default()), "the default".into()),
    }
}

// ---- reading attributes -------------------------------------------------------------------------

// One block instance being read into a unit.
struct Reader<'a> {
    m: &'a Module,
    address: Rc<str>,
}

impl Reader<'_> {
    fn site(&self, view: &View, name: &str) -> Site {
        Site {
            loc: view.loc_of(name),
            address: self.address.clone(),
            attr: Some(view.path_of(name).into()),
        }
    }

    // A number attribute of an optional nested view; absent when the view or attribute is.
    fn num(
        &self,
        u: &mut Unit,
        view: Option<&View>,
        fallback: &Site,
        path: &str,
        name: &str,
    ) -> (Quantity, Site, Option<Why>) {
        let Some(view) = view else {
            let site = Site {
                attr: Some(format!("{path}.{name}").into()),
                ..fallback.clone()
            };
            return (rules::Value::Absent, site, None);
        };
        let site = self.site(view, name);
        if let Some(why) = &view.unknown {
            let why = Why {
                error: false,
                text: why.as_str().into(),
            };
            return (rules::Value::Unknown, site, Some(why));
        }
        let v = view.value(self.m, name);
        let (q, why) = u.number(&v, &site, name);
        (q, site, why)
    }

    fn text(
        &self,
        u: &mut Unit,
        view: &View,
        name: &str,
    ) -> (rules::Value<String>, Site, Option<Why>) {
        let site = self.site(view, name);
        let v = view.value(self.m, name);
        let (q, why) = u.string(&v, &site, name);
        (q, site, why)
    }
}

fn count_of(inst: &Instance) -> (Quantity, Option<Why>) {
    match &inst.count {
        Val::Null => (rules::Value::Absent, None),
        Val::Num(n) => (rules::Value::Known(*n), None),
        Val::Unknown(why) => (rules::Value::Unknown, Some(why.clone())),
        other => (
            rules::Value::Unknown,
            Some(Why {
                error: true,
                text: format!("count is {other}").into(),
            }),
        ),
    }
}

fn count_site(view: &View, inst: &Instance, address: &str) -> Site {
    let attr = if view.attr("count").is_some() {
        "count"
    } else {
        "for_each"
    };
    Site {
        loc: inst.count_loc.clone().unwrap_or_else(|| view.loc.clone()),
        address: address.into(),
        attr: Some(attr.into()),
    }
}

// A resource's count site; in a module called with count / for_each, the call's when the
// resource has none of its own.
fn resource_count_site(m: &Module, view: &View, inst: &Instance, address: &str) -> Site {
    match (&inst.count_loc, &m.call_count) {
        (None, Some((loc, call, which))) => Site {
            loc: loc.clone(),
            address: call.clone().into(),
            attr: Some((*which).to_owned().into()),
        },
        _ => count_site(view, inst, address),
    }
}

// A count or for_each Terraform refuses: an error in Terraform's words; the block is not read.
fn invalid_count(u: &mut Unit, v: &View, inst: &Instance, address: &str) -> bool {
    let Some(message) = &inst.invalid else {
        return false;
    };
    let site = count_site(v, inst, address);
    let (rule, summary) = if v.attr("count").is_some() {
        ("invalid_count", "Invalid count argument")
    } else {
        ("invalid_for_each", "Invalid for_each argument")
    };
    u.error(rule, summary, site, message.clone());
    true
}

// ---- OCI resources -----------------------------------------------------------------------------

fn resources_unit(root: &Module) -> Unit {
    let site = Site {
        loc: Loc {
            file: root.dir.as_str().into(),
            line: None,
        },
        address: root.dir.clone().into(),
        attr: None,
    };
    let mut u = Unit::new("resources", site, false, Stage::Config);
    resource_tier(root, &mut u);
    let mut any = false;
    for m in root.walk() {
        for note in &m.notes {
            let site = Site {
                loc: note.loc.clone(),
                address: note.address.clone().into(),
                attr: None,
            };
            u.defer(site, &[], note.text.clone());
        }
        for blk in &m.resources {
            let ty = blk.label(0);
            let Some(row) = rules::oci_resource(ty) else {
                continue;
            };
            let kind = row.kind;
            any = true;
            let base = format!("{}{ty}.{}", m.address, blk.label(1));
            let view = blk.view();
            for inst in view.expand(m, &base) {
                let address = format!("{base}{}", inst.suffix);
                let v = View {
                    bindings: inst.bindings.clone(),
                    ..view.clone()
                };
                if invalid_count(&mut u, &v, &inst, &address) {
                    continue;
                }
                let r = Reader {
                    m,
                    address: address.as_str().into(),
                };
                let block = Site {
                    loc: v.loc.clone(),
                    address: address.as_str().into(),
                    attr: None,
                };
                let mut sites = ItemSites::new(block.clone());
                let (count, count_why) = count_of(&inst);
                sites.attr(
                    "count",
                    resource_count_site(m, &v, &inst, &address),
                    count_why.clone(),
                );
                // The rulebook quotes labels, so a for_each key's own quotes are left out.
                let label = Some(address.replace('"', ""));
                let mut count = count;
                // A resource that counts only with one value of an argument (a RESERVED IP).
                if let Some(cond) = row.counts_if {
                    let (value, s, w) = r.text(&mut u, &v, cond.arg);
                    let accepted = cond.accepted.join(" or ");
                    match value {
                        rules::Value::Known(l) if l.eq_ignore_ascii_case(cond.value) => {}
                        rules::Value::Known(l)
                            if cond.accepted.iter().any(|a| l.eq_ignore_ascii_case(a)) =>
                        {
                            continue
                        }
                        rules::Value::Known(l) => {
                            u.error(
                                "invalid_value",
                                "Invalid Value",
                                s,
                                format!("{address}: {} = {l:?}; OCI accepts {accepted}. Only {} ones count against the free tier.", cond.arg, cond.value),
                            );
                            continue;
                        }
                        rules::Value::Absent => {
                            u.error(
                                "missing_value",
                                "Missing Value",
                                s,
                                format!("{address}: {} is not set; {ty} requires {accepted} (https://registry.terraform.io/providers/oracle/oci/latest/docs). Set the attribute.", cond.arg),
                            );
                            continue;
                        }
                        rules::Value::Unknown => {
                            // Counting or not hangs on it: defer the count.
                            let why = w.map(|w| Why {
                                error: w.error,
                                text: format!(
                                    "whether it is {}: {} {}",
                                    cond.value, cond.arg, w.text
                                )
                                .into(),
                            });
                            sites.attr("count", s, why);
                            count = rules::Value::Unknown;
                        }
                    }
                }
                if kind == ItemKind::BudgetAlert {
                    // An alert rule per instance; count 0 or unknown is stated, not multiplied.
                    match (&count, &count_why) {
                        (rules::Value::Known(n), _) if *n == 0.0 => continue,
                        (rules::Value::Unknown, Some(why)) => {
                            let site = count_site(&v, &inst, &address);
                            u.defer(
                                site,
                                &[LimitKey::BudgetAlertMaxUsd],
                                super::unit::unknown_sentence(why),
                            );
                        }
                        _ => {}
                    }
                }
                let mut values = Vec::new();
                for f in rules::fields(kind) {
                    if f.name == "count" {
                        values.push(FieldValue::Number(count.clone()));
                        continue;
                    }
                    let (value, s, w) = oci_field(&r, &mut u, &v, &block, row, *f);
                    sites.attr(f.name, s, w);
                    values.push(value);
                }
                let index = push_read(&mut u.allocation, kind, label, values);
                u.items.insert((kind, index), sites);
            }
        }
    }
    if any {
        // The configuration is checked whole: no alert at all is worth a warning.
        u.allocation.budget_alerts.get_or_insert_with(Vec::new);
    }
    u
}

// One field of an OCI resource's item, from the arguments the table names for it: the first
// one set, in the field's unit. Unset, it is absent (OCI's default), or unknown where the
// table says the value exists but is not in configuration.
fn oci_field(
    r: &Reader,
    u: &mut Unit,
    v: &View,
    block: &Site,
    row: &OciResource,
    f: Field,
) -> (FieldValue, Site, Option<Why>) {
    let mut first = None;
    for arg in row.args_for(f.name) {
        let got = oci_arg(r, u, v, block, arg, f.text);
        if !matches!(
            got.0,
            FieldValue::Number(rules::Value::Absent) | FieldValue::Text(rules::Value::Absent)
        ) {
            return got;
        }
        first.get_or_insert(got);
    }
    if let Some(why) = row.args_for(f.name).next().and_then(|a| a.unset) {
        let why = Why {
            error: false,
            text: why.into(),
        };
        return (
            FieldValue::Number(rules::Value::Unknown),
            block.clone(),
            Some(why),
        );
    }
    first.unwrap_or_else(|| {
        let absent = if f.text {
            FieldValue::Text(rules::Value::Absent)
        } else {
            FieldValue::Number(rules::Value::Absent)
        };
        (absent, block.clone(), None)
    })
}

// One argument the table names (`size_in_gbs`, `shape_config.ocpus`), converted.
fn oci_arg(
    r: &Reader,
    u: &mut Unit,
    v: &View,
    block: &Site,
    arg: &Arg,
    text: bool,
) -> (FieldValue, Site, Option<Why>) {
    if arg.conversion == Conversion::BudgetThreshold {
        let (q, s, w) = budget_threshold(r, u, v);
        return (FieldValue::Number(q), s, w);
    }
    let nested;
    let (view, prefix, name) = match arg.nested() {
        Some((nested_block, name)) => {
            nested = v.nested(r.m, nested_block);
            (nested.first(), nested_block, name)
        }
        None => (Some(v), "", arg.path),
    };
    if text {
        return match view {
            Some(view) => {
                let (t, s, w) = r.text(u, view, name);
                (FieldValue::Text(t), s, w)
            }
            None => (
                FieldValue::Text(rules::Value::Absent),
                Site {
                    attr: Some(arg.path.into()),
                    ..block.clone()
                },
                None,
            ),
        };
    }
    let (q, s, w) = r.num(u, view, block, prefix, name);
    let q = match (q, arg.conversion) {
        (rules::Value::Known(x), Conversion::Times(k)) => rules::Value::Known(x * k),
        (q, _) => q,
    };
    (FieldValue::Number(q), s, w)
}

// An alert's threshold in dollars: ABSOLUTE as given; PERCENTAGE of the budget it refers to,
// when that budget's amount is known here.
fn budget_threshold(r: &Reader, u: &mut Unit, v: &View) -> (Quantity, Site, Option<Why>) {
    let (threshold, site, why) = r.num(u, Some(v), &site_of_block(r, v), "", "threshold");
    let kind = v.value(r.m, "threshold_type");
    let percentage = matches!(&kind, Val::Str(s) if s.eq_ignore_ascii_case("PERCENTAGE"));
    if let Val::Unknown(w) = &kind {
        return (
            rules::Value::Unknown,
            site,
            Some(Why {
                error: w.error,
                text: format!("threshold_type {}", w.text).into(),
            }),
        );
    }
    if !percentage {
        return (threshold, site, why);
    }
    let rules::Value::Known(pct) = threshold else {
        return (threshold, site, why);
    };
    // budget_id = oci_budget_budget.NAME.id
    let budget = v.attr("budget_id").and_then(|a| match &a.value {
        hcl::edit::expr::Expression::Traversal(t) => {
            match (&t.expr, t.operators.first().map(|o| o.value())) {
                (
                    hcl::edit::expr::Expression::Variable(root),
                    Some(hcl::edit::expr::TraversalOperator::GetAttr(name)),
                ) if root.as_str() == "oci_budget_budget" => {
                    r.m.resource_block("oci_budget_budget", name.as_str())
                }
                _ => None,
            }
        }
        _ => None,
    });
    let amount = budget.map(|b| b.view().value(r.m, "amount"));
    match amount.as_ref().map(Val::to_number) {
        Some(Ok(amount)) => (rules::Value::Known(amount * pct / 100.0), site, None),
        _ => {
            let why = Why {
                error: false,
                text: "a PERCENTAGE threshold is in dollars only with its budget's amount, which \
                       is not known here"
                    .into(),
            };
            (rules::Value::Unknown, site, Some(why))
        }
    }
}

fn site_of_block(r: &Reader, v: &View) -> Site {
    Site {
        loc: v.loc.clone(),
        address: r.address.clone(),
        attr: None,
    }
}

// ---- data "freetier_allocation" ----------------------------------------------------------------

// Terraform's own checks of a block against the schema, in Terraform's words: unsupported
// arguments, unsupported blocks, missing required arguments. (A computed attribute set in
// configuration passes Terraform's checks; the provider's validation then refuses it, which
// is not mirrored here yet.)
fn schema_errors(
    u: &mut Unit,
    view: &View,
    block: &crate::framework::Block,
    address: &str,
    top: bool,
) {
    const META: &[&str] = &["count", "for_each", "provider", "depends_on"];
    for attr in view.body.attributes() {
        let name = attr.key.as_str();
        if block.get(name).is_none() && !(top && META.contains(&name)) {
            let site = Site {
                loc: view.loc_of(name),
                address: address.into(),
                attr: Some(view.path_of(name).into()),
            };
            u.error(
                "unsupported_argument",
                "Unsupported argument",
                site,
                format!("An argument named {name:?} is not expected here."),
            );
        }
    }
    for nested in view.body.blocks() {
        let ident = nested.ident.as_str();
        let name = if ident == "dynamic" {
            nested.labels.first().map(|l| l.as_str()).unwrap_or("")
        } else {
            ident
        };
        if (top && name == "lifecycle") || block.blocks.iter().any(|b| b.type_name == name) {
            continue;
        }
        let site = Site {
            loc: view.loc.clone(),
            address: address.into(),
            attr: Some(name.to_owned().into()),
        };
        u.error(
            "unsupported_block_type",
            "Unsupported block type",
            site,
            format!("Blocks of type {name:?} are not expected here."),
        );
    }
    for a in block.attributes.iter().filter(|a| a.required) {
        if view.attr(&a.name).is_none() && view.unknown.is_none() {
            let site = Site {
                loc: view.loc.clone(),
                address: address.into(),
                attr: Some(view.path.clone().into()),
            };
            u.error(
                "missing_required_argument",
                "Missing required argument",
                site,
                format!(
                    "The argument {:?} is required, but no definition was found.",
                    a.name
                ),
            );
        }
    }
}

/// The units of one `data "freetier_allocation"` block: one per instance.
pub fn data_units(m: &Module, blk: &Blk, schema: &Schema) -> Vec<Unit> {
    let base = format!("{}data.freetier_allocation.{}", m.address, blk.label(1));
    let top = blk.view();
    let mut out = Vec::new();
    for inst in top.expand(m, &base) {
        let address = format!("{base}{}", inst.suffix);
        let v = View {
            bindings: inst.bindings.clone(),
            ..top.clone()
        };
        let site = Site {
            loc: v.loc.clone(),
            address: address.as_str().into(),
            attr: None,
        };
        let mut u = Unit::new(&address, site, true, Stage::Config);
        if invalid_count(&mut u, &v, &inst, &address) {
            out.push(u);
            continue;
        }
        if let Val::Unknown(why) = &inst.count {
            let site = count_site(&v, &inst, &address);
            u.defer(
                site,
                &[],
                format!(
                    "how many instances of this data source there are is {}",
                    super::unit::unknown_sentence(why)
                ),
            );
        }
        schema_errors(&mut u, &v, &schema.block, &address, true);
        let r = Reader {
            m,
            address: address.as_str().into(),
        };

        // The tier: the data source's own, else the provider's.
        let (tier_q, tier_site, tier_why) = r.text(&mut u, &v, "tier");
        let (ptier, pfrom) = provider_tier(m);
        match tier_q {
            rules::Value::Known(name) => match Tier::parse(&name) {
                Ok(t) => {
                    u.tier = Some(t);
                    u.tier_from = format!("its tier ({})", tier_site.loc);
                }
                Err(_) => {
                    u.tier = None;
                    unknown_tier(
                        &mut u,
                        tier_site,
                        &name,
                        "Set tier to one of them, or leave it out to use the provider's.",
                    );
                }
            },
            rules::Value::Unknown => {
                u.tier = ptier;
                u.tier_from = pfrom.clone();
                if let Some(why) = tier_why.filter(|w| !w.text.is_empty()) {
                    u.defer(
                        tier_site,
                        &[],
                        format!(
                            "the tier is {}; checked here against {pfrom}",
                            super::unit::unknown_sentence(&why)
                        ),
                    );
                }
            }
            rules::Value::Absent => {
                u.tier = ptier;
                u.tier_from = pfrom;
            }
        }

        for spec in rules::ITEMS {
            let item_schema = schema
                .block
                .blocks
                .iter()
                .find(|b| b.type_name == spec.block)
                .map(|b| &b.block);
            for view in v.nested(m, spec.block) {
                if let Some(s) = item_schema {
                    schema_errors(&mut u, &view, s, &address, false);
                }
                let block = Site {
                    loc: view.loc.clone(),
                    address: address.as_str().into(),
                    attr: Some(view.path.clone().into()),
                };
                let mut sites = ItemSites::new(block.clone());
                let name = match view.value(m, "name") {
                    Val::Str(s) => Some(s),
                    _ => None,
                };
                let mut values = Vec::with_capacity(spec.fields.len());
                for f in spec.fields {
                    let (q, s, w) = if f.text {
                        let (t, s, w) = r.text(&mut u, &view, f.name);
                        (FieldValue::Text(t), s, w)
                    } else {
                        let (q, s, w) = r.num(&mut u, Some(&view), &block, "", f.name);
                        (FieldValue::Number(q), s, w)
                    };
                    sites.attr(f.name, s, w);
                    values.push(q);
                }
                let index = push_read(&mut u.allocation, spec.kind, name, values);
                u.items.insert((spec.kind, index), sites);
            }
        }
        for kind in rules::COUNTED {
            let field = kind.field();
            if v.attr(field).is_none() {
                continue;
            }
            let block = Site {
                loc: v.loc_of(field),
                address: address.as_str().into(),
                attr: Some(field.into()),
            };
            let (n, s, w) = r.num(&mut u, Some(&v), &block, "", field);
            if n == rules::Value::Absent {
                continue;
            }
            let mut sites = ItemSites::new(block);
            sites.attr("count", s, w);
            if let Some(list) = u.allocation.counted_mut(*kind) {
                list.push(Counted {
                    label: None,
                    count: n,
                });
                u.items.insert((*kind, 0), sites);
            }
        }
        out.push(u);
    }
    out
}

/// `data.freetier_allocation.NAME` as an expression sees it: the computed attributes the
/// provider would set (`sizes`, `instances`, `totals`, `free`, …), from the same rulebook.
pub fn data_value(m: &Module, blk: &Blk) -> Val {
    if blk.label(0) == "freetier_limits" {
        return limits_value(m, blk);
    }
    let schema = crate::provider::data_sources::allocation::schema();
    let view = blk.view();
    let multi = view.attr("count").is_some() || view.attr("for_each").is_some();
    let keyed = view.attr("for_each").is_some();
    let units = data_units(m, blk, &schema);
    let mut list = Vec::new();
    let mut map = BTreeMap::new();
    for u in units {
        let key = u
            .name
            .rsplit_once('[')
            .map(|(_, k)| k.trim_end_matches(']').trim_matches('"').to_owned());
        let v = match u.tier {
            Some(tier) if u.extra.is_empty() => {
                let report = rules::check(tier, &u.allocation);
                outputs(&u, tier, &report)
            }
            _ => Val::error(format!("`{}` fails its own checks", u.name)),
        };
        match key {
            Some(k) if keyed => {
                map.insert(k, v);
            }
            _ => list.push(v),
        }
    }
    if keyed {
        Val::Map(map)
    } else if multi {
        Val::List(list)
    } else {
        list.pop()
            .unwrap_or_else(|| Val::error("the data source has no instance"))
    }
}

fn obj(pairs: Vec<(&str, Val)>) -> Val {
    Val::Map(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn opt(v: Option<f64>, unknown: Option<&Why>) -> Val {
    match (v, unknown) {
        (Some(n), _) => Val::Num(n),
        (None, Some(why)) => Val::Unknown(why.clone()),
        (None, None) => Val::Null,
    }
}

// The computed attributes of the data source, as check_into sets them.
fn outputs(u: &Unit, tier: Tier, report: &Report) -> Val {
    let mut instances = Vec::new();
    let mut sizes = BTreeMap::new();
    for e in &report.instances {
        let sites = u.items.get(&(ItemKind::Instance, e.index));
        let why = |attr: &str| sites.and_then(|s| s.get(attr)).and_then(|a| a.why.clone());
        let name = e
            .label
            .clone()
            .unwrap_or_else(|| format!("instance-{}", e.index));
        let input = u.allocation.instances.get(e.index);
        let shape = match (e.shape, input.map(|i| &i.shape)) {
            (Some(s), _) => Val::Str(s.as_str().to_owned()),
            (None, Some(rules::Value::Known(s))) => Val::Str(s.clone()),
            (None, Some(rules::Value::Unknown)) => {
                Val::Unknown(why("shape").unwrap_or_else(|| Why {
                    error: false,
                    text: "shape".into(),
                }))
            }
            _ => Val::Null,
        };
        let fields = |with_name: bool| {
            let mut o = vec![
                ("shape", shape.clone()),
                ("ocpus", opt(e.ocpus, why("ocpus").as_ref())),
                (
                    "memory_gb",
                    opt(
                        e.memory_gb,
                        why("memory_gb").or_else(|| why("ocpus")).as_ref(),
                    ),
                ),
                (
                    "boot_volume_gb",
                    opt(e.boot_volume_gb, why("boot_volume_gb").as_ref()),
                ),
                ("count", opt(e.count, why("count").as_ref())),
            ];
            if with_name {
                o.push(("name", Val::Str(name.clone())));
            }
            obj(o)
        };
        instances.push(fields(true));
        sizes.insert(name.clone(), fields(false));
    }
    let totals = report
        .totals
        .iter()
        .map(|t| {
            (
                t.key.as_str().to_owned(),
                obj(vec![
                    ("limit", Val::Num(t.limit)),
                    ("total", Val::Num(t.total)),
                    ("headroom", Val::Num(t.headroom)),
                    ("unit", Val::Str(t.unit.as_str().to_owned())),
                    ("complete", Val::Bool(t.complete)),
                ]),
            )
        })
        .collect();
    let path = |s: &rules::Subject| crate::provider::allocation::subject_path(s).to_string();
    let warnings = report
        .warnings()
        .map(|v| Val::Str(format!("{}: {}", path(&v.subject), v.detail)))
        .collect();
    let deferred: Vec<Val> = report
        .deferred
        .iter()
        .map(|d| Val::Str(format!("{}: {}", path(&d.subject), d.reason)))
        .collect();
    let free = if report.deferred.is_empty() {
        Val::Bool(report.is_free())
    } else {
        Val::unknown(format!(
            "`{}.free` waits on values not known before plan",
            u.name
        ))
    };
    obj(vec![
        ("effective_tier", Val::Str(tier.as_str().to_owned())),
        ("instances", Val::List(instances)),
        ("sizes", Val::Map(sizes)),
        ("totals", Val::Map(totals)),
        ("warnings", Val::List(warnings)),
        ("deferred", Val::List(deferred)),
        ("free", free),
    ])
}

// data "freetier_limits": the tier's limits by key, as the provider gives them.
fn limits_value(m: &Module, blk: &Blk) -> Val {
    let view = blk.view();
    let tier = match view.value(m, "tier") {
        Val::Str(s) => match Tier::parse(&s) {
            Ok(t) => t,
            Err(e) => return Val::error(e.to_string()),
        },
        Val::Null => match provider_tier(m).0 {
            Some(t) => t,
            None => return Val::error("the provider's tier is invalid"),
        },
        Val::Unknown(why) => return Val::Unknown(why),
        other => return Val::error(format!("tier is {other}")),
    };
    let mut values = BTreeMap::new();
    let mut limits = Vec::new();
    for l in tier.limits() {
        values.insert(l.key.as_str().to_owned(), Val::Num(l.value));
        limits.push(obj(vec![
            ("key", Val::Str(l.key.as_str().to_owned())),
            ("summary", Val::Str(l.summary.to_owned())),
            ("value", Val::Num(l.value)),
            ("unit", Val::Str(l.unit.as_str().to_owned())),
            ("source", Val::Str(l.source.to_owned())),
            (
                "since",
                l.since.map_or(Val::Null, |s| Val::Str(s.to_owned())),
            ),
            ("note", l.note.map_or(Val::Null, |s| Val::Str(s.to_owned()))),
        ]));
    }
    obj(vec![
        ("effective_tier", Val::Str(tier.as_str().to_owned())),
        ("values", Val::Map(values)),
        ("limits", Val::List(limits)),
    ])
}
