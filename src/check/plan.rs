//! `freetier check --plan plan.json`: the planned values of `terraform show -json plan.tfplan`
//! (format 1.x), root module and child modules recursively, as [`Unit`]s.
//!
//! Managed resources of the OCI types in `collect::OCI_TYPES` make the resources unit; values the
//! plan marks in `after_unknown` are deferred to apply. `freetier_allocation` data sources
//! (read during plan, so in `prior_state`; or deferred to apply, so in `planned_values`) are
//! checked on their own as the provider checks them. A state file (`terraform show -json`
//! without a plan: `values` instead of `planned_values`) is read the same way.
//!
//! Imports `collect` (the type table), `config::Loc`, `unit` and `value` from this module tree,
//! the pure `rules` and the provider's allocation names.

use std::collections::HashMap;

use serde_json::Value as Json;

use super::collect::{counted_list, next_index, oci_kind};
use super::config::Loc;
use super::unit::{ItemSites, Site, Stage, Unit};
use super::value::{Val, Why};
use crate::provider::allocation::{COUNTED, ITEM_NAMES};
use crate::rules::{
    self, BlockVolume, BudgetAlert, Counted, CustomImage, ItemKind, LoadBalancer, ObjectStorage,
    Tier,
};

/// Why a file is not a plan this command can read (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Not JSON, or JSON of another shape.
    #[error("{file}:{line}:{column}: {what}: {message}")]
    Json {
        /// "not JSON", or "not `terraform show -json` output" for JSON of another shape.
        what: &'static str,
        /// The file.
        file: String,
        /// One-based line.
        line: usize,
        /// One-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// JSON, but not `terraform show -json` output.
    #[error("{0}: not `terraform show -json` output: it has no planned_values (nor values)")]
    NotAPlan(String),
    /// A format this reader does not know.
    #[error(
        "{file}: format_version {version:?} is not supported; freetier check reads 0.x and 1.x"
    )]
    Version {
        /// The file.
        file: String,
        /// The version found.
        version: String,
    },
}

// The parts of `terraform show -json` this reader uses, typed so that serde skips everything
// else without building it (a plan's `configuration` and most resource attributes are large).
#[derive(serde::Deserialize)]
struct PlanFile {
    format_version: Option<String>,
    #[serde(default)]
    variables: Option<Variables>,
    planned_values: Option<State>,
    values: Option<State>,
    #[serde(default)]
    resource_changes: Vec<Change>,
    prior_state: Option<PriorState>,
    configuration: Option<Configuration>,
}

#[derive(serde::Deserialize)]
struct Variables {
    tier: Option<VariableValue>,
}

#[derive(serde::Deserialize)]
struct VariableValue {
    value: Option<Json>,
}

#[derive(serde::Deserialize)]
struct PriorState {
    values: Option<State>,
}

#[derive(serde::Deserialize)]
struct State {
    root_module: Option<ModuleJson>,
}

#[derive(serde::Deserialize, Default)]
struct ModuleJson {
    #[serde(default)]
    resources: Vec<ResourceJson>,
    #[serde(default)]
    child_modules: Vec<ModuleJson>,
}

#[derive(serde::Deserialize)]
struct ResourceJson {
    #[serde(default)]
    address: String,
    #[serde(default)]
    mode: String,
    #[serde(default, rename = "type")]
    ty: String,
    #[serde(default, deserialize_with = "attrs_val")]
    values: Val,
}

// The attributes read here, kept as a small JSON object (an `Attrs` is large: one slot per
// attribute, so a thousand of them in a Vec would be megabytes to move).
fn attrs_val<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Val, D::Error> {
    let attrs: Option<Attrs> = serde::Deserialize::deserialize(d)?;
    Ok(attrs.map_or(Val::Null, Attrs::into_val))
}

fn unknown_val<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Val>, D::Error> {
    let u: Option<UnknownAttrs> = serde::Deserialize::deserialize(d)?;
    Ok(u.map(|u| match u {
        UnknownAttrs::All(b) => Val::Bool(b),
        UnknownAttrs::Some(a) => (*a).into_val(),
    }))
}

#[derive(serde::Deserialize)]
struct Change {
    #[serde(default)]
    address: String,
    change: Option<ChangeBody>,
}

// Only the attributes read here: which of them the plan leaves unknown.
#[derive(serde::Deserialize)]
struct ChangeBody {
    #[serde(default, deserialize_with = "unknown_val")]
    after_unknown: Option<Val>,
}

// `after_unknown` is `true` for a wholly unknown value, else an object.
enum UnknownAttrs {
    All(bool),
    Some(Box<Attrs>),
}

impl<'de> serde::Deserialize<'de> for UnknownAttrs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = UnknownAttrs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a bool or an object")
            }
            fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<UnknownAttrs, E> {
                Ok(UnknownAttrs::All(b))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<UnknownAttrs, A::Error> {
                let attrs = serde::Deserialize::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(UnknownAttrs::Some(Box::new(attrs)))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(serde::Deserialize)]
struct Configuration {
    provider_config: Option<std::collections::BTreeMap<String, ProviderConfig>>,
}

#[derive(serde::Deserialize)]
struct ProviderConfig {
    expressions: Option<Json>,
}

// The attributes any reader here looks at, OCI resources and freetier_allocation alike; the
// rest of `values` is skipped. Null reads as absent, as it does in the plan.
macro_rules! attrs {
    ($($name:ident),* $(,)?) => {
        #[derive(serde::Deserialize)]
        struct Attrs {
            $(#[serde(default)] $name: Option<Val>,)*
        }

        impl Attrs {
            fn into_val(self) -> Val {
                let mut m = std::collections::BTreeMap::new();
                $(if let Some(v) = self.$name { m.insert(stringify!($name).to_owned(), v); })*
                Val::Map(m)
            }
        }
    };
}

attrs!(
    shape,
    shape_config,
    source_details,
    shape_details,
    size_in_gbs,
    size_in_mbs,
    lifetime,
    threshold,
    threshold_type,
    approximate_size,
    tier,
    effective_tier,
    instance,
    block_volume,
    load_balancer,
    object_storage,
    custom_image,
    budget_alert,
    volume_backups,
    reserved_public_ips,
    vcns,
    nat_gateways,
    service_gateways,
    network_load_balancers,
);

const AFTER_APPLY: &str = "the plan marks it known only after apply";

// A resource's values and its after_unknown tree, walked together.
#[derive(Clone, Copy)]
struct JsonView<'a> {
    values: &'a Val,
    unknown: &'a Val,
}

const NULL: &Val = &Val::Null;

fn field<'a>(v: &'a Val, name: &str) -> &'a Val {
    match v {
        Val::Map(m) => m.get(name).unwrap_or(NULL),
        _ => NULL,
    }
}

impl<'a> JsonView<'a> {
    fn unknown(&self, name: &str) -> bool {
        *self.unknown == Val::Bool(true) || *field(self.unknown, name) == Val::Bool(true)
    }

    fn get(&self, name: &str) -> Val {
        if self.unknown(name) {
            return Val::unknown(AFTER_APPLY);
        }
        field(self.values, name).clone()
    }

    fn str(&self, name: &str) -> Option<&'a str> {
        field(self.values, name).as_str()
    }

    // Nested blocks (a list of objects in JSON); `Err` when the whole list is unknown.
    fn nested(&self, name: &str) -> Result<Vec<JsonView<'a>>, Why> {
        if self.unknown(name) {
            return Err(Why {
                error: false,
                text: AFTER_APPLY.into(),
            });
        }
        let unknowns = match field(self.unknown, name) {
            Val::List(u) => u.as_slice(),
            _ => &[],
        };
        Ok(match field(self.values, name) {
            Val::List(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| JsonView {
                    values: v,
                    unknown: unknowns.get(i).unwrap_or(NULL),
                })
                .collect(),
            _ => Vec::new(),
        })
    }
}

struct Reader {
    file: std::rc::Rc<str>,
    address: String,
}

impl Reader {
    fn site(&self, attr: &str) -> Site {
        Site {
            loc: Loc {
                file: self.file.clone(),
                line: None,
            },
            address: self.address.clone(),
            attr: if attr.is_empty() {
                None
            } else {
                Some(attr.to_owned())
            },
        }
    }

    fn num(
        &self,
        u: &mut Unit,
        sites: &mut ItemSites,
        key: &'static str,
        view: &JsonView,
        path: &str,
        name: &str,
    ) -> rules::Quantity {
        let attr = if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        };
        let site = self.site(&attr);
        let (q, why) = u.number(&view.get(name), &site, name);
        sites.attr(key, site, why);
        q
    }

    // A number in the first nested block `block` (absent when there is none, unknown when the
    // block list is).
    fn nested_num(
        &self,
        u: &mut Unit,
        sites: &mut ItemSites,
        key: &'static str,
        view: &JsonView,
        block: &str,
        name: &str,
    ) -> rules::Quantity {
        match view.nested(block) {
            Ok(blocks) => match blocks.first() {
                Some(b) => self.num(u, sites, key, b, &format!("{block}[0]"), name),
                None => {
                    sites.attr(key, self.site(&format!("{block}[0].{name}")), None);
                    rules::Value::Absent
                }
            },
            Err(why) => {
                sites.attr(key, self.site(&format!("{block}[0].{name}")), Some(why));
                rules::Value::Unknown
            }
        }
    }

    fn text(
        &self,
        u: &mut Unit,
        sites: &mut ItemSites,
        key: &'static str,
        view: &JsonView,
        name: &str,
    ) -> rules::Value<String> {
        let site = self.site(name);
        let (q, why) = u.string(&view.get(name), &site, name);
        sites.attr(key, site, why);
        q
    }
}

fn flatten(m: ModuleJson, out: &mut Vec<ResourceJson>) {
    out.extend(m.resources);
    for c in m.child_modules {
        flatten(c, out);
    }
}

// Every resource of a state, root and child modules, with its values as JSON.
fn resources(state: Option<State>) -> Vec<(ResourceJson, Val)> {
    let mut flat = Vec::new();
    if let Some(root) = state.and_then(|s| s.root_module) {
        flatten(root, &mut flat);
    }
    flat.into_iter()
        .map(|mut r| {
            let values = std::mem::take(&mut r.values);
            (r, values)
        })
        .collect()
}

/// Reads a plan (or state) JSON into units: the resources first, then each data source.
pub fn units(file: &str, text: &str, tier_flag: Option<Tier>) -> Result<Vec<Unit>, PlanError> {
    let json: PlanFile = serde_json::from_str(text).map_err(|e| PlanError::Json {
        file: file.to_owned(),
        line: e.line(),
        column: e.column(),
        what: if e.is_data() {
            "not `terraform show -json` output"
        } else {
            "not JSON"
        },
        message: e.to_string(),
    })?;
    if let Some(v) = &json.format_version {
        if !(v.starts_with("0.") || v.starts_with("1.")) {
            return Err(PlanError::Version {
                file: file.to_owned(),
                version: v.clone(),
            });
        }
    }
    let planned = json
        .planned_values
        .or(json.values)
        .filter(|s| s.root_module.is_some())
        .ok_or_else(|| PlanError::NotAPlan(file.to_owned()))?;
    let after_unknown: HashMap<String, Val> = json
        .resource_changes
        .into_iter()
        .filter_map(|rc| Some((rc.address, rc.change?.after_unknown?)))
        .collect();
    let file_rc: std::rc::Rc<str> = file.into();

    let site = Site {
        loc: Loc {
            file: file.into(),
            line: None,
        },
        address: file.to_owned(),
        attr: None,
    };
    let mut u = Unit::new("resources", site, false, Stage::Plan);
    // The tier: --tier, else the plan's `tier` variable, else the provider's constant tier.
    let provider_tier = json
        .configuration
        .as_ref()
        .and_then(|c| c.provider_config.as_ref())
        .and_then(|p| p.get("freetier"))
        .and_then(|p| p.expressions.as_ref())
        .and_then(|e| e.pointer("/tier/constant_value"))
        .and_then(Json::as_str);
    let var_tier = json
        .variables
        .as_ref()
        .and_then(|v| v.tier.as_ref())
        .and_then(|t| t.value.as_ref())
        .and_then(Json::as_str);
    let (chosen, from) = match (tier_flag, var_tier, provider_tier) {
        (Some(t), _, _) => (Ok(t), "--tier".to_owned()),
        (None, Some(v), _) => (Tier::parse(v), "the plan's variable tier".to_owned()),
        (None, None, Some(p)) => (
            Tier::parse(p),
            "the plan's provider \"freetier\" tier".to_owned(),
        ),
        (None, None, None) => (Ok(Tier::default()), "the default".to_owned()),
    };
    let default_tier = match chosen {
        Ok(t) => {
            u.tier = Some(t);
            u.tier_from = from;
            Some(t)
        }
        Err(e) => {
            let site = u.site.clone();
            u.error(
                "unknown_tier",
                "Unknown Tier",
                site,
                format!("{e}, in {from}. Pass --tier."),
            );
            u.tier = Some(Tier::default());
            None
        }
    };

    let mut any = false;
    let planned_resources = resources(Some(planned));
    for (r, values) in &planned_resources {
        if r.mode != "managed" {
            continue;
        }
        let ty = r.ty.as_str();
        let Some(kind) = oci_kind(ty) else { continue };
        any = true;
        let address = if r.address.is_empty() {
            ty.to_owned()
        } else {
            r.address.clone()
        };
        let view = JsonView {
            values,
            unknown: after_unknown.get(address.as_str()).unwrap_or(NULL),
        };
        let rd = Reader {
            file: file_rc.clone(),
            address: address.clone(),
        };
        let mut sites = ItemSites::new(rd.site(""));
        let label = Some(address.replace('"', ""));
        let index = next_index(&u.allocation, kind);
        let count = rules::Value::Absent;
        match kind {
            ItemKind::Instance => {
                let shape = rd.text(&mut u, &mut sites, "shape", &view, "shape");
                let ocpus =
                    rd.nested_num(&mut u, &mut sites, "ocpus", &view, "shape_config", "ocpus");
                let memory_gb = rd.nested_num(
                    &mut u,
                    &mut sites,
                    "memory_gb",
                    &view,
                    "shape_config",
                    "memory_in_gbs",
                );
                let boot_volume_gb = rd.nested_num(
                    &mut u,
                    &mut sites,
                    "boot_volume_gb",
                    &view,
                    "source_details",
                    "boot_volume_size_in_gbs",
                );
                u.allocation.instances.push(rules::Instance {
                    label,
                    shape,
                    ocpus,
                    memory_gb,
                    boot_volume_gb,
                    count,
                });
            }
            ItemKind::BlockVolume => {
                // OCI fills size_in_gbs from size_in_mbs in the plan; the GB figure is the one.
                let size_gb = rd.num(&mut u, &mut sites, "size_gb", &view, "", "size_in_gbs");
                u.allocation.block_volumes.push(BlockVolume {
                    label,
                    size_gb,
                    count,
                });
            }
            ItemKind::ReservedPublicIp => {
                let lifetime = rd.text(&mut u, &mut sites, "lifetime", &view, "lifetime");
                let count = match lifetime {
                    rules::Value::Known(l) if l.eq_ignore_ascii_case("RESERVED") => count,
                    rules::Value::Known(_) | rules::Value::Absent => continue,
                    rules::Value::Unknown => {
                        let why = Why {
                            error: false,
                            text: "whether it is RESERVED: lifetime is known only after apply"
                                .into(),
                        };
                        sites.attr("count", rd.site("lifetime"), Some(why));
                        rules::Value::Unknown
                    }
                };
                u.allocation
                    .reserved_public_ips
                    .push(Counted { label, count });
            }
            ItemKind::LoadBalancer => {
                let shape = rd.text(&mut u, &mut sites, "shape", &view, "shape");
                let min_bandwidth_mbps = rd.nested_num(
                    &mut u,
                    &mut sites,
                    "min_bandwidth_mbps",
                    &view,
                    "shape_details",
                    "minimum_bandwidth_in_mbps",
                );
                let max_bandwidth_mbps = rd.nested_num(
                    &mut u,
                    &mut sites,
                    "max_bandwidth_mbps",
                    &view,
                    "shape_details",
                    "maximum_bandwidth_in_mbps",
                );
                u.allocation.load_balancers.push(LoadBalancer {
                    label,
                    shape,
                    min_bandwidth_mbps,
                    max_bandwidth_mbps,
                    count,
                });
            }
            ItemKind::ObjectStorage => {
                // approximate_size is what the bucket holds, once it exists.
                let gb = match view.get("approximate_size") {
                    Val::Num(bytes) => rules::Value::Known(bytes / 1e9),
                    _ => {
                        let why = Why {
                            error: false,
                            text: "a bucket holds whatever is stored in it, which the plan does not say; declare the expected size in a freetier_allocation object_storage block".into(),
                        };
                        sites.attr("gb", rd.site(""), Some(why));
                        rules::Value::Unknown
                    }
                };
                u.allocation
                    .object_storage
                    .push(ObjectStorage { label, gb, count });
            }
            ItemKind::CustomImage => {
                let size_gb = match view.get("size_in_mbs") {
                    Val::Num(mb) => rules::Value::Known(mb / 1024.0),
                    _ => rules::Value::Absent,
                };
                sites.attr("size_gb", rd.site("size_in_mbs"), None);
                u.allocation.custom_images.push(CustomImage {
                    label,
                    size_gb,
                    count,
                });
            }
            ItemKind::BudgetAlert => {
                let kind_v = view.get("threshold_type");
                let threshold = rd.num(&mut u, &mut sites, "threshold_usd", &view, "", "threshold");
                let threshold_usd = match (&kind_v, threshold) {
                    (Val::Str(k), rules::Value::Known(_))
                        if k.eq_ignore_ascii_case("PERCENTAGE") =>
                    {
                        let why = Why {
                            error: false,
                            text:
                                "a PERCENTAGE threshold is in dollars only with its budget's amount"
                                    .into(),
                        };
                        sites.attr("threshold_usd", rd.site("threshold"), Some(why));
                        rules::Value::Unknown
                    }
                    (_, q) => q,
                };
                u.allocation
                    .budget_alerts
                    .get_or_insert_with(Vec::new)
                    .push(BudgetAlert {
                        label,
                        threshold_usd,
                    });
            }
            counted => {
                if let Some(list) = counted_list(&mut u.allocation, counted) {
                    list.push(Counted { label, count });
                }
            }
        }
        u.items.insert((kind, index), sites);
    }
    if any {
        u.allocation.budget_alerts.get_or_insert_with(Vec::new);
    }
    let mut out = vec![u];

    // freetier_allocation data sources: read at plan (prior_state) or deferred (planned_values).
    let mut seen: Vec<String> = Vec::new();
    let prior = resources(json.prior_state.and_then(|p| p.values));
    for (r, values) in planned_resources.iter().chain(prior.iter()) {
        if r.mode != "data" || r.ty != "freetier_allocation" {
            continue;
        }
        let address = if r.address.is_empty() {
            "data.freetier_allocation".to_owned()
        } else {
            r.address.clone()
        };
        if seen.contains(&address) {
            continue;
        }
        seen.push(address.clone());
        let view = JsonView {
            values,
            unknown: after_unknown.get(address.as_str()).unwrap_or(NULL),
        };
        out.push(data_unit(file, &address, view, tier_flag, default_tier));
    }
    Ok(out)
}

fn data_unit(
    file: &str,
    address: &str,
    view: JsonView,
    tier_flag: Option<Tier>,
    default_tier: Option<Tier>,
) -> Unit {
    let file_rc: std::rc::Rc<str> = file.into();
    let rd = Reader {
        file: file_rc.clone(),
        address: address.to_owned(),
    };
    let mut u = Unit::new(address, rd.site(""), true, Stage::Plan);
    let tier = match (view.get("tier"), tier_flag, view.get("effective_tier")) {
        (Val::Str(t), _, _) => (Tier::parse(&t).ok(), "its tier".to_owned()),
        (_, Some(t), _) => (Some(t), "--tier".to_owned()),
        (_, None, Val::Str(t)) => (
            Tier::parse(&t).ok(),
            "the tier the provider used (effective_tier)".to_owned(),
        ),
        _ => (
            default_tier.or(Some(Tier::default())),
            "the default".to_owned(),
        ),
    };
    u.tier = tier.0.or(Some(Tier::default()));
    u.tier_from = tier.1;
    for (kind, singular, _) in ITEM_NAMES {
        let blocks = match view.nested(singular) {
            Ok(b) => b,
            Err(why) => {
                u.defer(rd.site(singular), &[], format!("{singular} blocks: not known until apply ({}); the provider checks them when it reads the data source", why.text));
                continue;
            }
        };
        for (i, b) in blocks.iter().enumerate() {
            let index = next_index(&u.allocation, *kind);
            let path = format!("{singular}[{i}]");
            let mut sites = ItemSites::new(rd.site(&path));
            let label = b.str("name").map(str::to_owned);
            let count = if *kind == ItemKind::BudgetAlert {
                rules::Value::Absent
            } else {
                rd.num(&mut u, &mut sites, "count", b, &path, "count")
            };
            match kind {
                ItemKind::Instance => {
                    let ocpus = rd.num(&mut u, &mut sites, "ocpus", b, &path, "ocpus");
                    let memory_gb = rd.num(&mut u, &mut sites, "memory_gb", b, &path, "memory_gb");
                    let boot_volume_gb = rd.num(
                        &mut u,
                        &mut sites,
                        "boot_volume_gb",
                        b,
                        &path,
                        "boot_volume_gb",
                    );
                    let site = rd.site(&format!("{path}.shape"));
                    let (shape, why) = u.string(&b.get("shape"), &site, "shape");
                    sites.attr("shape", site, why);
                    u.allocation.instances.push(rules::Instance {
                        label,
                        shape,
                        ocpus,
                        memory_gb,
                        boot_volume_gb,
                        count,
                    });
                }
                ItemKind::BlockVolume => {
                    let size_gb = rd.num(&mut u, &mut sites, "size_gb", b, &path, "size_gb");
                    u.allocation.block_volumes.push(BlockVolume {
                        label,
                        size_gb,
                        count,
                    });
                }
                ItemKind::LoadBalancer => {
                    let min_bandwidth_mbps = rd.num(
                        &mut u,
                        &mut sites,
                        "min_bandwidth_mbps",
                        b,
                        &path,
                        "min_bandwidth_mbps",
                    );
                    let max_bandwidth_mbps = rd.num(
                        &mut u,
                        &mut sites,
                        "max_bandwidth_mbps",
                        b,
                        &path,
                        "max_bandwidth_mbps",
                    );
                    let site = rd.site(&format!("{path}.shape"));
                    let (shape, why) = u.string(&b.get("shape"), &site, "shape");
                    sites.attr("shape", site, why);
                    u.allocation.load_balancers.push(LoadBalancer {
                        label,
                        shape,
                        min_bandwidth_mbps,
                        max_bandwidth_mbps,
                        count,
                    });
                }
                ItemKind::ObjectStorage => {
                    let gb = rd.num(&mut u, &mut sites, "gb", b, &path, "gb");
                    u.allocation
                        .object_storage
                        .push(ObjectStorage { label, gb, count });
                }
                ItemKind::CustomImage => {
                    let size_gb = rd.num(&mut u, &mut sites, "size_gb", b, &path, "size_gb");
                    u.allocation.custom_images.push(CustomImage {
                        label,
                        size_gb,
                        count,
                    });
                }
                ItemKind::BudgetAlert => {
                    let threshold_usd = rd.num(
                        &mut u,
                        &mut sites,
                        "threshold_usd",
                        b,
                        &path,
                        "threshold_usd",
                    );
                    u.allocation
                        .budget_alerts
                        .get_or_insert_with(Vec::new)
                        .push(BudgetAlert {
                            label,
                            threshold_usd,
                        });
                }
                _ => continue,
            }
            u.items.insert((*kind, index), sites);
        }
    }
    for kind in COUNTED {
        let field = kind.field();
        let mut sites = ItemSites::new(rd.site(field));
        let n = rd.num(&mut u, &mut sites, "count", &view, "", field);
        if n == rules::Value::Absent {
            continue;
        }
        if let Some(list) = counted_list(&mut u.allocation, *kind) {
            list.push(Counted {
                label: None,
                count: n,
            });
            u.items.insert((*kind, 0), sites);
        }
    }
    u
}
