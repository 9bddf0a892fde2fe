//! `freetier check --plan plan.json`: the planned values of `terraform show -json plan.tfplan`
//! (format 1.x), root module and child modules recursively, as [`Unit`]s.
//!
//! Managed resources of the OCI types in `collect::OCI_TYPES` make the resources unit; values the
//! plan marks in `after_unknown` are deferred to apply. `freetier_allocation` data sources
//! (read during plan, so in `prior_state`; or deferred to apply, so in `planned_values`) are
//! checked on their own as the provider checks them. A state file (`terraform show -json`
//! without a plan: `values` instead of `planned_values`) is read the same way.
//!
//! A plan is mostly what this reader skips, and a big one is thousands of resources, so it
//! builds only what it reads: [`PlanFile`], with strings borrowed from the file, only the
//! resources and attributes some reader looks at, and from `resource_changes` only the
//! `after_unknown` that mark something unknown. Two readers make it: the `json` scanner (the
//! fast path, about twice as fast) and serde's derive, which reads whatever the scanner gives
//! up on, so that every error and odd input reads exactly as before.
//!
//! Imports `collect` (the type table), `config::Loc`, `json`, `unit` and `value` from this
//! module tree, the pure `rules` and the provider's allocation names.

use std::borrow::Cow;
use std::collections::HashMap;
use std::rc::Rc;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;

use super::collect::{counted_list, next_index, oci_kind};
use super::config::Loc;
use super::json::Scanner;
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
// else without building it (a plan's `configuration`, `prior_state` and most resource
// attributes are large; a resource's attributes come twice, in `planned_values` and in
// `resource_changes`). Strings are borrowed from the file's text where they have no escapes:
// a plan has thousands of addresses, and copying each is most of the work of reading it.
#[derive(serde::Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct PlanFile<'a> {
    format_version: Option<String>,
    #[serde(default)]
    variables: Option<Variables>,
    #[serde(borrow)]
    planned_values: Option<State<'a>>,
    #[serde(borrow)]
    values: Option<State<'a>>,
    #[serde(
        default,
        borrow,
        rename = "resource_changes",
        deserialize_with = "unknowns"
    )]
    after_unknown: HashMap<Cow<'a, str>, Node<'a>>,
    #[serde(borrow)]
    prior_state: Option<PriorState<'a>>,
    configuration: Option<Configuration>,
}

#[derive(serde::Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct Variables {
    tier: Option<VariableValue>,
}

#[derive(serde::Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct VariableValue {
    value: Option<Json>,
}

#[derive(serde::Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct PriorState<'a> {
    #[serde(borrow)]
    values: Option<State<'a>>,
}

#[derive(serde::Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct State<'a> {
    #[serde(borrow)]
    root_module: Option<ModuleJson<'a>>,
}

#[derive(serde::Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct ModuleJson<'a> {
    #[serde(default, borrow, deserialize_with = "relevant_resources")]
    resources: Vec<ResourceJson<'a>>,
    #[serde(default, borrow)]
    child_modules: Vec<ModuleJson<'a>>,
}

#[derive(serde::Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct ResourceJson<'a> {
    #[serde(default, borrow)]
    address: Cow<'a, str>,
    #[serde(default, borrow)]
    mode: Cow<'a, str>,
    #[serde(default, borrow, rename = "type")]
    ty: Cow<'a, str>,
    #[serde(default, borrow, deserialize_with = "attrs_node")]
    values: Node<'a>,
}

// The attributes read here (see `Attrs`), kept as a small object.
fn attrs_node<'de, D: Deserializer<'de>>(d: D) -> Result<Node<'de>, D::Error> {
    let attrs: Option<Attrs> = Deserialize::deserialize(d)?;
    Ok(attrs.map_or(Node::Null, Attrs::into_node))
}

fn unknown_node<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Node<'de>>, D::Error> {
    let u: Option<UnknownAttrs> = Deserialize::deserialize(d)?;
    Ok(u.map(|u| match u {
        UnknownAttrs::All(b) => Node::Bool(b),
        UnknownAttrs::Some(a) => a,
    }))
}

// The resources any reader here looks at: managed OCI resources of the types the free tier
// limits, and freetier_allocation data sources. The others are read (so that a malformed one
// is an error as before) and dropped.
fn relevant_resources<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ResourceJson<'de>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<ResourceJson<'de>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a sequence")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut kept = Vec::new();
            while let Some(r) = seq.next_element::<ResourceJson>()? {
                if relevant(&r) {
                    kept.push(r);
                }
            }
            Ok(kept)
        }
    }
    d.deserialize_seq(V)
}

fn relevant(r: &ResourceJson) -> bool {
    match r.mode.as_ref() {
        "managed" => oci_kind(&r.ty).is_some(),
        "data" => r.ty == "freetier_allocation",
        _ => false,
    }
}

// `resource_changes` as the one thing read from it: each address's `after_unknown`. Later
// entries for an address win, as in a map built in file order. An entry that marks nothing
// read here unknown (`{"id": true}`, `false`: most of them) reads the same as no entry, so it
// is not kept; it only replaces an earlier one.
fn unknowns<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<HashMap<Cow<'de, str>, Node<'de>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = HashMap<Cow<'de, str>, Node<'de>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a sequence")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut map = HashMap::new();
            while let Some(rc) = seq.next_element::<Change>()? {
                record_unknown(
                    &mut map,
                    rc.address,
                    rc.change.and_then(|c| c.after_unknown),
                );
            }
            Ok(map)
        }
    }
    d.deserialize_seq(V)
}

// Records one entry of `resource_changes` (see `unknowns`).
fn record_unknown<'a>(
    map: &mut HashMap<Cow<'a, str>, Node<'a>>,
    address: Cow<'a, str>,
    after_unknown: Option<Node<'a>>,
) {
    match after_unknown {
        None => {}
        Some(Node::Bool(false)) => {
            map.remove(&address);
        }
        Some(Node::Object(fields)) if fields.is_empty() => {
            map.remove(&address);
        }
        Some(u) => {
            map.insert(address, u);
        }
    }
}

#[derive(serde::Deserialize)]
struct Change<'a> {
    #[serde(default, borrow)]
    address: Cow<'a, str>,
    #[serde(borrow)]
    change: Option<ChangeBody<'a>>,
}

// Only the attributes read here: which of them the plan leaves unknown.
#[derive(serde::Deserialize)]
struct ChangeBody<'a> {
    #[serde(default, borrow, deserialize_with = "unknown_node")]
    after_unknown: Option<Node<'a>>,
}

// `after_unknown` is `true` for a wholly unknown value, else an object.
enum UnknownAttrs<'a> {
    All(bool),
    Some(Node<'a>),
}

impl<'de> Deserialize<'de> for UnknownAttrs<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UnknownAttrs<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a bool or an object")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<UnknownAttrs<'de>, E> {
                Ok(UnknownAttrs::All(b))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<UnknownAttrs<'de>, A::Error> {
                let attrs: Attrs =
                    Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(UnknownAttrs::Some(attrs.into_node()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(serde::Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct Configuration {
    provider_config: Option<std::collections::BTreeMap<String, ProviderConfig>>,
}

#[derive(serde::Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct ProviderConfig {
    expressions: Option<Json>,
}

// The attributes any reader here looks at: at the top of a resource's `values` (OCI resources
// and freetier_allocation alike; the rest of `values` is skipped, and null reads as absent, as
// it does in the plan), and inside nested blocks (`shape_config[0].ocpus`,
// `instance[1].memory_gb`). Nested objects keep the keys of both lists.
macro_rules! attrs {
    (top: $($name:ident),* $(,)?; nested: $($inner:ident),* $(,)?) => {
        #[derive(serde::Deserialize)]
        struct Attrs<'a> {
            $(#[serde(default, borrow)] $name: Option<Node<'a>>,)*
        }

        // The top attributes' names, and a key's index among them (for the fast path).
        const TOP_ATTRS: &[&str] = &[$(stringify!($name)),*];

        fn top_attr(key: &str) -> Option<usize> {
            #[allow(non_camel_case_types)]
            enum Top { $($name,)* }
            match key {
                $(stringify!($name) => Some(Top::$name as usize),)*
                _ => None,
            }
        }

        impl<'a> Attrs<'a> {
            fn into_node(self) -> Node<'a> {
                let mut fields = Vec::new();
                $(if let Some(v) = self.$name { fields.push((stringify!($name), v)); })*
                Node::Object(fields)
            }
        }

        // The name as kept in a nested object, or `None` for a key no reader looks at.
        fn known_name(key: &str) -> Option<&'static str> {
            match key {
                $(stringify!($name) => Some(stringify!($name)),)*
                $(stringify!($inner) => Some(stringify!($inner)),)*
                _ => None,
            }
        }
    };
}

attrs!(
    top:
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
    network_load_balancers;
    nested:
    ocpus,
    memory_in_gbs,
    boot_volume_size_in_gbs,
    minimum_bandwidth_in_mbps,
    maximum_bandwidth_in_mbps,
    name,
    count,
    memory_gb,
    boot_volume_gb,
    size_gb,
    min_bandwidth_mbps,
    max_bandwidth_mbps,
    gb,
    threshold_usd,
);

/// A JSON value as this reader keeps it: scalars (strings borrowed from the file), lists, and
/// objects with only the keys some reader looks at (`known_name`); the rest is skipped while
/// parsing, never built.
#[derive(Debug, Default)]
#[cfg_attr(test, derive(PartialEq))]
enum Node<'a> {
    #[default]
    Null,
    Bool(bool),
    Num(f64),
    /// A number `f64` cannot read (none is: f64 reads every JSON number; kept for the message).
    BadNum(String),
    Str(Cow<'a, str>),
    List(Vec<Node<'a>>),
    Object(Vec<(&'static str, Node<'a>)>),
}

impl Node<'_> {
    /// As a configuration value. Only scalars are ever read: a list or an object where a
    /// scalar is expected is a type error named by its type, so their contents are left out.
    fn to_val(&self) -> Val {
        match self {
            Node::Null => Val::Null,
            Node::Bool(b) => Val::Bool(*b),
            Node::Num(n) => Val::Num(*n),
            Node::BadNum(text) => Val::error(format!("the number {text} cannot be read")),
            Node::Str(s) => Val::Str(s.as_ref().to_owned()),
            Node::List(_) => Val::List(Vec::new()),
            Node::Object(_) => Val::Map(Default::default()),
        }
    }
}

// serde_json's arbitrary_precision (on for the provider) hands a number over as a one-entry
// map with this key and the number's decimal text.
const JSON_NUMBER_TOKEN: &str = "$serde_json::private::Number";

impl<'de: 'a, 'a> Deserialize<'de> for Node<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node<'a>, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Node<'de>, E> {
        Ok(Node::Num(n as f64))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Node<'de>, E> {
        Ok(Node::Num(n as f64))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Node<'de>, E> {
        Ok(Node::Num(n))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(s)))
    }
    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        Deserialize::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(Node::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let mut fields: Vec<(&'static str, Node<'de>)> = Vec::new();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Number => return map.next_value_seed(NumberText),
                Key::Other => {
                    map.next_value::<de::IgnoredAny>()?;
                }
                Key::Known(name) => {
                    let v = map.next_value()?;
                    // A repeated key: the later value wins, as in a map.
                    match fields.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, old)) => *old = v,
                        None => fields.push((name, v)),
                    }
                }
            }
        }
        Ok(Node::Object(fields))
    }
}

// A key of a nested object: one a reader looks at, serde_json's number token, or another.
enum Key {
    Known(&'static str),
    Number,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, key: &str) -> Result<Key, E> {
                Ok(match known_name(key) {
                    Some(name) => Key::Known(name),
                    None if key == JSON_NUMBER_TOKEN => Key::Number,
                    None => Key::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

// The decimal text of a number under arbitrary_precision, read as `f64` without copying it.
struct NumberText;

impl<'de> de::DeserializeSeed<'de> for NumberText {
    type Value = Node<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for NumberText {
    type Value = Node<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E>(self, text: &str) -> Result<Node<'de>, E> {
        Ok(text
            .parse::<f64>()
            .map_or_else(|_| Node::BadNum(text.to_owned()), Node::Num))
    }
}

// ---- The fast path ------------------------------------------------------------------------
//
// The same `PlanFile` as the derived readers above make, read with the scanner in `json`,
// which is quicker at what a plan mostly is: values to skip. It gives up (None)
// on anything it does not read exactly as serde does (a repeated key, a value of another
// type, an escaped key, a list where serde would read a struct from one, …), and `units` then
// has serde_json read the file, with its errors. `fast_path_reads_what_serde_reads` holds the
// two to the same result.

fn fast_plan(text: &str) -> Option<PlanFile<'_>> {
    let mut s = Scanner::new(text);
    let mut plan = PlanFile {
        format_version: None,
        variables: None,
        planned_values: None,
        values: None,
        after_unknown: HashMap::new(),
        prior_state: None,
        configuration: None,
    };
    let mut seen = Fields::default();
    s.object(|s, key| {
        match key? {
            "format_version" => {
                seen.first(0)?;
                plan.format_version = nullable(s, |s| s.string().map(Cow::into_owned))?;
            }
            "variables" => {
                seen.first(1)?;
                plan.variables = via_serde(s)?;
            }
            "planned_values" => {
                seen.first(2)?;
                plan.planned_values = nullable(s, fast_state)?;
            }
            "values" => {
                seen.first(3)?;
                plan.values = nullable(s, fast_state)?;
            }
            "resource_changes" => {
                seen.first(4)?;
                s.array(|s| {
                    let (address, after_unknown) = fast_change(s)?;
                    record_unknown(&mut plan.after_unknown, address, after_unknown);
                    Some(())
                })?;
            }
            "prior_state" => {
                seen.first(5)?;
                plan.prior_state = nullable(s, |s| {
                    let mut values = None;
                    let mut seen = Fields::default();
                    s.object(|s, key| match key? {
                        "values" => {
                            seen.first(0)?;
                            values = nullable(s, fast_state)?;
                            Some(())
                        }
                        _ => s.skip(),
                    })?;
                    Some(PriorState { values })
                })?;
            }
            "configuration" => {
                seen.first(6)?;
                plan.configuration = nullable(s, |s| {
                    let mut provider_config = None;
                    let mut seen = Fields::default();
                    s.object(|s, key| match key? {
                        "provider_config" => {
                            seen.first(0)?;
                            provider_config = via_serde(s)?;
                            Some(())
                        }
                        _ => s.skip(),
                    })?;
                    Some(Configuration { provider_config })
                })?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    s.finish()?;
    Some(plan)
}

// Which fields of a struct were read: a second one is serde's "duplicate field" error.
#[derive(Default)]
struct Fields(u32);

impl Fields {
    fn first(&mut self, field: usize) -> Option<()> {
        let bit = 1 << field;
        if self.0 & bit != 0 {
            return None;
        }
        self.0 |= bit;
        Some(())
    }
}

// `null`, or what `read` reads: an `Option` field.
fn nullable<'a, T>(
    s: &mut Scanner<'a>,
    read: impl FnOnce(&mut Scanner<'a>) -> Option<T>,
) -> Option<Option<T>> {
    if s.null() {
        Some(None)
    } else {
        read(s).map(Some)
    }
}

// A small value this reader leaves to serde (`variables`, `provider_config`).
fn via_serde<'a, T: Deserialize<'a>>(s: &mut Scanner<'a>) -> Option<T> {
    serde_json::from_str(s.raw_value()?).ok()
}

fn fast_state<'a>(s: &mut Scanner<'a>) -> Option<State<'a>> {
    let mut root_module = None;
    let mut seen = Fields::default();
    s.object(|s, key| match key? {
        "root_module" => {
            seen.first(0)?;
            root_module = nullable(s, fast_module)?;
            Some(())
        }
        _ => s.skip(),
    })?;
    Some(State { root_module })
}

fn fast_module<'a>(s: &mut Scanner<'a>) -> Option<ModuleJson<'a>> {
    let mut m = ModuleJson {
        resources: Vec::new(),
        child_modules: Vec::new(),
    };
    let mut seen = Fields::default();
    s.object(|s, key| match key? {
        "resources" => {
            seen.first(0)?;
            s.array(|s| {
                let r = fast_resource(s)?;
                if relevant(&r) {
                    m.resources.push(r);
                }
                Some(())
            })
        }
        "child_modules" => {
            seen.first(1)?;
            s.array(|s| {
                m.child_modules.push(fast_module(s)?);
                Some(())
            })
        }
        _ => s.skip(),
    })?;
    Some(m)
}

fn fast_resource<'a>(s: &mut Scanner<'a>) -> Option<ResourceJson<'a>> {
    let mut r = ResourceJson {
        address: Cow::Borrowed(""),
        mode: Cow::Borrowed(""),
        ty: Cow::Borrowed(""),
        values: Node::Null,
    };
    let mut seen = Fields::default();
    s.object(|s, key| {
        match key? {
            "address" => {
                seen.first(0)?;
                r.address = s.string()?;
            }
            "mode" => {
                seen.first(1)?;
                r.mode = s.string()?;
            }
            "type" => {
                seen.first(2)?;
                r.ty = s.string()?;
            }
            "values" => {
                seen.first(3)?;
                r.values = nullable(s, fast_attrs)?.unwrap_or(Node::Null);
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(r)
}

// A resource's `values` or `after_unknown` object, as `Attrs` reads it (the attributes in the
// file's order rather than the struct's; they are looked up by name).
fn fast_attrs<'a>(s: &mut Scanner<'a>) -> Option<Node<'a>> {
    let mut fields = Vec::new();
    let mut seen = Fields::default();
    s.object(|s, key| match top_attr(key?) {
        Some(i) => {
            seen.first(i)?;
            if let Some(v) = nullable(s, fast_node)? {
                fields.push((TOP_ATTRS[i], v));
            }
            Some(())
        }
        None => s.skip(),
    })?;
    Some(Node::Object(fields))
}

// Any value, as `Node`'s deserializer reads it.
fn fast_node<'a>(s: &mut Scanner<'a>) -> Option<Node<'a>> {
    Some(match s.peek()? {
        b'"' => Node::Str(s.string()?),
        b'{' => {
            let mut fields: Vec<(&'static str, Node<'a>)> = Vec::new();
            s.object(|s, key| {
                let key = key?;
                match known_name(key) {
                    Some(name) => {
                        let v = fast_node(s)?;
                        match fields.iter_mut().find(|(n, _)| *n == name) {
                            Some((_, old)) => *old = v,
                            None => fields.push((name, v)),
                        }
                        Some(())
                    }
                    None if key == JSON_NUMBER_TOKEN => None,
                    None => s.skip(),
                }
            })?;
            Node::Object(fields)
        }
        b'[' => {
            let mut items = Vec::new();
            s.array(|s| {
                items.push(fast_node(s)?);
                Some(())
            })?;
            Node::List(items)
        }
        b't' | b'f' => Node::Bool(s.boolean()?),
        b'n' => s.null().then_some(Node::Null)?,
        _ => Node::Num(s.number()?.parse().ok()?),
    })
}

// One entry of `resource_changes`: its address and `change.after_unknown`.
fn fast_change<'a>(s: &mut Scanner<'a>) -> Option<(Cow<'a, str>, Option<Node<'a>>)> {
    let mut address = Cow::Borrowed("");
    let mut after_unknown = None;
    let mut seen = Fields::default();
    s.object(|s, key| match key? {
        "address" => {
            seen.first(0)?;
            address = s.string()?;
            Some(())
        }
        "change" => {
            seen.first(1)?;
            after_unknown = nullable(s, fast_change_body)?.flatten();
            Some(())
        }
        _ => s.skip(),
    })?;
    Some((address, after_unknown))
}

fn fast_change_body<'a>(s: &mut Scanner<'a>) -> Option<Option<Node<'a>>> {
    let mut after_unknown = None;
    let mut seen = Fields::default();
    s.object(|s, key| match key? {
        "after_unknown" => {
            seen.first(0)?;
            after_unknown = match s.peek()? {
                b't' | b'f' => Some(Node::Bool(s.boolean()?)),
                b'{' => Some(fast_attrs(s)?),
                _ => {
                    s.null().then_some(())?;
                    None
                }
            };
            Some(())
        }
        _ => s.skip(),
    })?;
    Some(after_unknown)
}

const AFTER_APPLY: &str = "the plan marks it known only after apply";

// A resource's values and its after_unknown tree, walked together.
#[derive(Clone, Copy)]
struct JsonView<'v, 'a> {
    values: &'v Node<'a>,
    unknown: &'v Node<'a>,
}

const NULL: &Node<'static> = &Node::Null;

fn field<'v, 'a>(v: &'v Node<'a>, name: &str) -> &'v Node<'a> {
    match v {
        Node::Object(fields) => fields
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(NULL, |(_, v)| v),
        _ => NULL,
    }
}

impl<'v, 'a> JsonView<'v, 'a> {
    fn unknown(&self, name: &str) -> bool {
        matches!(self.unknown, Node::Bool(true))
            || matches!(field(self.unknown, name), Node::Bool(true))
    }

    fn get(&self, name: &str) -> Val {
        if self.unknown(name) {
            return Val::unknown(AFTER_APPLY);
        }
        field(self.values, name).to_val()
    }

    fn str(&self, name: &str) -> Option<&'v str> {
        match field(self.values, name) {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    // Nested blocks (a list of objects in JSON); `Err` when the whole list is unknown.
    fn nested(&self, name: &str) -> Result<Blocks<'v, 'a>, Why> {
        if self.unknown(name) {
            return Err(Why {
                error: false,
                text: AFTER_APPLY.into(),
            });
        }
        let list = |v: &'v Node<'a>| match v {
            Node::List(items) => items.as_slice(),
            _ => &[],
        };
        Ok(Blocks {
            items: list(field(self.values, name)),
            unknowns: list(field(self.unknown, name)),
        })
    }
}

// The blocks of one nested block type, each with its part of after_unknown.
struct Blocks<'v, 'a> {
    items: &'v [Node<'a>],
    unknowns: &'v [Node<'a>],
}

impl<'v, 'a> Blocks<'v, 'a> {
    fn iter(&self) -> impl Iterator<Item = JsonView<'v, 'a>> + '_ {
        self.items.iter().enumerate().map(|(i, v)| JsonView {
            values: v,
            unknown: self.unknowns.get(i).unwrap_or(NULL),
        })
    }
}

struct Reader {
    file: Rc<str>,
    address: Rc<str>,
}

impl Reader {
    // The block's own site.
    fn block(&self) -> Site {
        self.site(None)
    }

    fn at(&self, attr: impl Into<Cow<'static, str>>) -> Site {
        self.site(Some(attr.into()))
    }

    fn site(&self, attr: Option<Cow<'static, str>>) -> Site {
        Site {
            loc: Loc {
                file: self.file.clone(),
                line: None,
            },
            address: self.address.clone(),
            attr,
        }
    }

    // A number attribute `name` of `view`, whose path in the block is `attr`.
    #[allow(clippy::too_many_arguments)]
    fn num_at(
        &self,
        u: &mut Unit,
        sites: &mut ItemSites,
        key: &'static str,
        view: &JsonView,
        attr: Cow<'static, str>,
        name: &str,
    ) -> rules::Quantity {
        let site = self.at(attr);
        let (q, why) = u.number(&view.get(name), &site, name);
        sites.attr(key, site, why);
        q
    }

    // A number attribute at the top of the block.
    fn num(
        &self,
        u: &mut Unit,
        sites: &mut ItemSites,
        key: &'static str,
        view: &JsonView,
        name: &'static str,
    ) -> rules::Quantity {
        self.num_at(u, sites, key, view, name.into(), name)
    }

    // A number in the first nested block: `path` is `block[0].name` (absent when there is no
    // block, unknown when the block list is).
    fn nested_num(
        &self,
        u: &mut Unit,
        sites: &mut ItemSites,
        key: &'static str,
        view: &JsonView,
        path: &'static str,
    ) -> rules::Quantity {
        let (block, name) = path.split_once("[0].").expect("a path block[0].name");
        match view.nested(block) {
            Ok(blocks) => match blocks.iter().next() {
                Some(b) => self.num_at(u, sites, key, &b, path.into(), name),
                None => {
                    sites.attr(key, self.at(path), None);
                    rules::Value::Absent
                }
            },
            Err(why) => {
                sites.attr(key, self.at(path), Some(why));
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
        name: &'static str,
    ) -> rules::Value<String> {
        let site = self.at(name);
        let (q, why) = u.string(&view.get(name), &site, name);
        sites.attr(key, site, why);
        q
    }
}

/// Reads a plan (or state) JSON into units: the resources first, then each data source.
pub fn units(file: &str, text: &str, tier_flag: Option<Tier>) -> Result<Vec<Unit>, PlanError> {
    let json: PlanFile = match fast_plan(text) {
        Some(json) => json,
        None => serde_json::from_str(text).map_err(|e| PlanError::Json {
            file: file.to_owned(),
            line: e.line(),
            column: e.column(),
            what: if e.is_data() {
                "not `terraform show -json` output"
            } else {
                "not JSON"
            },
            message: e.to_string(),
        })?,
    };
    if let Some(v) = &json.format_version {
        if !(v.starts_with("0.") || v.starts_with("1.")) {
            return Err(PlanError::Version {
                file: file.to_owned(),
                version: v.clone(),
            });
        }
    }
    let PlanFile {
        planned_values,
        values,
        after_unknown,
        prior_state,
        variables,
        configuration,
        ..
    } = json;
    // planned_values, else values (a state's): the first there, which must have a root module.
    let root = planned_values
        .or(values)
        .and_then(|s| s.root_module)
        .ok_or_else(|| PlanError::NotAPlan(file.to_owned()))?;
    let file_rc: Rc<str> = file.into();

    let site = Site {
        loc: Loc {
            file: file_rc.clone(),
            line: None,
        },
        address: file_rc.clone(),
        attr: None,
    };
    let mut u = Unit::new("resources", site, false, Stage::Plan);
    // The tier: --tier, else the plan's `tier` variable, else the provider's constant tier.
    let provider_tier = configuration
        .as_ref()
        .and_then(|c| c.provider_config.as_ref())
        .and_then(|p| p.get("freetier"))
        .and_then(|p| p.expressions.as_ref())
        .and_then(|e| e.pointer("/tier/constant_value"))
        .and_then(Json::as_str);
    let var_tier = variables
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

    // The OCI resources, each read and then dropped (the unit's own records reuse the memory),
    // and the freetier_allocation data sources, kept for below.
    let mut any = false;
    let mut data = Vec::new();
    reserve(&mut u, &root);
    walk(root, &mut |r| {
        if r.mode == "managed" {
            if let Some(kind) = oci_kind(&r.ty) {
                any = true;
                read_resource(&mut u, &file_rc, &after_unknown, &r, kind);
            }
        } else {
            data.push(r);
        }
    });
    if any {
        u.allocation.budget_alerts.get_or_insert_with(Vec::new);
    }
    let mut out = vec![u];

    // freetier_allocation data sources: read at plan (prior_state) or deferred (planned_values).
    if let Some(root) = prior_state
        .and_then(|p| p.values)
        .and_then(|s| s.root_module)
    {
        walk(root, &mut |r| data.push(r));
    }
    let mut seen: Vec<&str> = Vec::new();
    for r in &data {
        if r.mode != "data" || r.ty != "freetier_allocation" {
            continue;
        }
        let address = if r.address.is_empty() {
            "data.freetier_allocation"
        } else {
            r.address.as_ref()
        };
        if seen.contains(&address) {
            continue;
        }
        seen.push(address);
        let view = JsonView {
            values: &r.values,
            unknown: after_unknown.get(address).unwrap_or(NULL),
        };
        out.push(data_unit(&file_rc, address, view, tier_flag, default_tier));
    }
    Ok(out)
}

// Every resource of a module and its children, in order: the module's own, then each child's.
fn walk<'a>(m: ModuleJson<'a>, f: &mut impl FnMut(ResourceJson<'a>)) {
    m.resources.into_iter().for_each(&mut *f);
    for c in m.child_modules {
        walk(c, f);
    }
}

// Each list of the resources unit at its final size at once: a plan has thousands of items,
// and lists grown by doubling leave their old blocks behind.
fn reserve(u: &mut Unit, root: &ModuleJson) {
    fn count(m: &ModuleJson, counts: &mut Vec<(ItemKind, usize)>) {
        for r in &m.resources {
            if let Some(kind) = oci_kind(&r.ty).filter(|_| r.mode == "managed") {
                match counts.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((kind, 1)),
                }
            }
        }
        m.child_modules.iter().for_each(|c| count(c, counts));
    }
    let mut counts = Vec::new();
    count(root, &mut counts);
    let a = &mut u.allocation;
    for (kind, n) in counts {
        u.items.reserve(kind, n);
        match kind {
            ItemKind::Instance => a.instances.reserve(n),
            ItemKind::BlockVolume => a.block_volumes.reserve(n),
            ItemKind::LoadBalancer => a.load_balancers.reserve(n),
            ItemKind::ObjectStorage => a.object_storage.reserve(n),
            ItemKind::CustomImage => a.custom_images.reserve(n),
            // Only a list that gets alerts exists: no list at all reads as "no budget alert".
            ItemKind::BudgetAlert => {}
            counted => {
                if let Some(list) = counted_list(a, counted) {
                    list.reserve(n);
                }
            }
        }
    }
}

// One managed OCI resource into the resources unit.
fn read_resource(
    u: &mut Unit,
    file_rc: &Rc<str>,
    after_unknown: &HashMap<Cow<str>, Node>,
    r: &ResourceJson,
    kind: ItemKind,
) {
    let ty = r.ty.as_ref();
    let address = if r.address.is_empty() {
        ty
    } else {
        r.address.as_ref()
    };
    let view = JsonView {
        values: &r.values,
        unknown: after_unknown.get(address).unwrap_or(NULL),
    };
    let label = Some(address.replace('"', ""));
    let rd = Reader {
        file: file_rc.clone(),
        address: address.into(),
    };
    let mut sites = ItemSites::new(rd.block());
    let index = next_index(&u.allocation, kind);
    let count = rules::Value::Absent;
    match kind {
        ItemKind::Instance => {
            let shape = rd.text(u, &mut sites, "shape", &view, "shape");
            let ocpus = rd.nested_num(u, &mut sites, "ocpus", &view, "shape_config[0].ocpus");
            let memory_gb = rd.nested_num(
                u,
                &mut sites,
                "memory_gb",
                &view,
                "shape_config[0].memory_in_gbs",
            );
            let boot_volume_gb = rd.nested_num(
                u,
                &mut sites,
                "boot_volume_gb",
                &view,
                "source_details[0].boot_volume_size_in_gbs",
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
            let size_gb = rd.num(u, &mut sites, "size_gb", &view, "size_in_gbs");
            u.allocation.block_volumes.push(BlockVolume {
                label,
                size_gb,
                count,
            });
        }
        ItemKind::ReservedPublicIp => {
            let lifetime = rd.text(u, &mut sites, "lifetime", &view, "lifetime");
            let count = match lifetime {
                rules::Value::Known(l) if l.eq_ignore_ascii_case("RESERVED") => count,
                rules::Value::Known(_) | rules::Value::Absent => return,
                rules::Value::Unknown => {
                    let why = Why {
                        error: false,
                        text: "whether it is RESERVED: lifetime is known only after apply".into(),
                    };
                    sites.attr("count", rd.at("lifetime"), Some(why));
                    rules::Value::Unknown
                }
            };
            u.allocation
                .reserved_public_ips
                .push(Counted { label, count });
        }
        ItemKind::LoadBalancer => {
            let shape = rd.text(u, &mut sites, "shape", &view, "shape");
            let min_bandwidth_mbps = rd.nested_num(
                u,
                &mut sites,
                "min_bandwidth_mbps",
                &view,
                "shape_details[0].minimum_bandwidth_in_mbps",
            );
            let max_bandwidth_mbps = rd.nested_num(
                u,
                &mut sites,
                "max_bandwidth_mbps",
                &view,
                "shape_details[0].maximum_bandwidth_in_mbps",
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
                    sites.attr("gb", rd.block(), Some(why));
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
            sites.attr("size_gb", rd.at("size_in_mbs"), None);
            u.allocation.custom_images.push(CustomImage {
                label,
                size_gb,
                count,
            });
        }
        ItemKind::BudgetAlert => {
            let kind_v = view.get("threshold_type");
            let threshold = rd.num(u, &mut sites, "threshold_usd", &view, "threshold");
            let threshold_usd = match (&kind_v, threshold) {
                (Val::Str(k), rules::Value::Known(_)) if k.eq_ignore_ascii_case("PERCENTAGE") => {
                    let why = Why {
                        error: false,
                        text: "a PERCENTAGE threshold is in dollars only with its budget's amount"
                            .into(),
                    };
                    sites.attr("threshold_usd", rd.at("threshold"), Some(why));
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

fn data_unit(
    file: &Rc<str>,
    address: &str,
    view: JsonView,
    tier_flag: Option<Tier>,
    default_tier: Option<Tier>,
) -> Unit {
    let rd = Reader {
        file: file.clone(),
        address: address.into(),
    };
    let mut u = Unit::new(address, rd.block(), true, Stage::Plan);
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
                u.defer(rd.at(*singular), &[], format!("{singular} blocks: not known until apply ({}); the provider checks them when it reads the data source", why.text));
                continue;
            }
        };
        for (i, b) in blocks.iter().enumerate() {
            let index = next_index(&u.allocation, *kind);
            let path = format!("{singular}[{i}]");
            let mut sites = ItemSites::new(rd.at(path.clone()));
            let label = b.str("name").map(str::to_owned);
            // Attribute `name` of this block.
            let num = |u: &mut Unit, sites: &mut ItemSites, key: &'static str, name: &str| {
                rd.num_at(u, sites, key, &b, format!("{path}.{name}").into(), name)
            };
            let count = if *kind == ItemKind::BudgetAlert {
                rules::Value::Absent
            } else {
                num(&mut u, &mut sites, "count", "count")
            };
            match kind {
                ItemKind::Instance => {
                    let ocpus = num(&mut u, &mut sites, "ocpus", "ocpus");
                    let memory_gb = num(&mut u, &mut sites, "memory_gb", "memory_gb");
                    let boot_volume_gb =
                        num(&mut u, &mut sites, "boot_volume_gb", "boot_volume_gb");
                    let site = rd.at(format!("{path}.shape"));
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
                    let size_gb = num(&mut u, &mut sites, "size_gb", "size_gb");
                    u.allocation.block_volumes.push(BlockVolume {
                        label,
                        size_gb,
                        count,
                    });
                }
                ItemKind::LoadBalancer => {
                    let min_bandwidth_mbps = num(
                        &mut u,
                        &mut sites,
                        "min_bandwidth_mbps",
                        "min_bandwidth_mbps",
                    );
                    let max_bandwidth_mbps = num(
                        &mut u,
                        &mut sites,
                        "max_bandwidth_mbps",
                        "max_bandwidth_mbps",
                    );
                    let site = rd.at(format!("{path}.shape"));
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
                    let gb = num(&mut u, &mut sites, "gb", "gb");
                    u.allocation
                        .object_storage
                        .push(ObjectStorage { label, gb, count });
                }
                ItemKind::CustomImage => {
                    let size_gb = num(&mut u, &mut sites, "size_gb", "size_gb");
                    u.allocation.custom_images.push(CustomImage {
                        label,
                        size_gb,
                        count,
                    });
                }
                ItemKind::BudgetAlert => {
                    let threshold_usd = num(&mut u, &mut sites, "threshold_usd", "threshold_usd");
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
        let mut sites = ItemSites::new(rd.at(field));
        let n = rd.num(&mut u, &mut sites, "count", &view, field);
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

#[cfg(test)]
mod tests {
    use super::*;

    // A plan with what the readers treat specially: escapes, modules, nulls, nested blocks,
    // unknowns of every shape, repeated resource_changes, data sources in both states, and
    // attributes no reader looks at.
    const EDGE: &str = r#"{"format_version": "1.2", "variables": {"tier": {"value": "always_free"}, "n": {"value": [1, {"a": null}]}},
 "planned_values": {"root_module": {"resources": [
  {"address": "oci_core_instance.node[\"a\u00e9\"]", "mode": "managed", "type": "oci_core_instance", "name": "node", "index": "a", "values": {"shape": "VM.Standard.A1.Flex", "display_name": "a \"quoted\" \\ name", "shape_config": [{"ocpus": 2, "memory_in_gbs": 12.5e0, "ocpus": -0}], "source_details": [{"boot_volume_size_in_gbs": null, "source_id": "x"}], "metadata": {"user_data": "I2Nsb3Vk\/Y29uZmln"}, "freeform_tags": {"k\"ey": "v"}}, "sensitive_values": {"metadata": {}}},
  {"address": "oci_core_volume.v", "mode": "managed", "type": "oci_core_volume", "values": {"size_in_gbs": "50", "size_in_mbs": null}},
  {"address": "oci_core_subnet.s", "mode": "managed", "type": "oci_core_subnet", "values": {"cidr_block": "10.0.0.0/24"}},
  {"address": "oci_core_public_ip.ip", "mode": "managed", "type": "oci_core_public_ip", "values": {"lifetime": ["RESERVED"], "shape": {"a": 1}}},
  {"address": "oci_core_vcn.v", "mode": "managed", "type": "oci_core_vcn", "values": null},
  {"mode": "managed", "type": "oci_core_nat_gateway"},
  {"address": "data.freetier_allocation.a", "mode": "data", "type": "freetier_allocation", "values": {"tier": null, "instance": [{"name": "n", "shape": "VM.Standard.A1.Flex", "ocpus": 1, "memory_gb": 6, "count": [1, [2, {"gb": 3}]]}, "junk", 7, true, null], "vcns": 1, "budget_alert": [{"threshold_usd": 1e-2, "count": 1, "$other": {}}]}}
 ], "child_modules": [{"address": "module.m", "resources": [{"address": "module.m.oci_core_vcn.x", "mode": "managed", "type": "oci_core_vcn", "values": {}}], "child_modules": [{"resources": []}]}]}},
 "resource_changes": [
  {"address": "oci_core_instance.node[\"a\u00e9\"]", "change": {"actions": ["create"], "before": null, "after": {"shape": "x"}, "after_unknown": {"shape_config": [{"ocpus": true}], "id": true}}},
  {"address": "oci_core_volume.v", "change": {"after_unknown": true}},
  {"address": "oci_core_volume.v", "change": {"after_unknown": {"id": true}}},
  {"address": "oci_core_vcn.v", "change": {"after_unknown": false}},
  {"address": "oci_core_public_ip.ip", "change": null},
  {"address": "oci_core_public_ip.ip", "change": {"after_unknown": {"lifetime": true}}},
  {"address": "oci_core_public_ip.ip", "change": {"after_unknown": null}},
  {"address": "data.freetier_allocation.a", "change": {"after_unknown": {"instance": [{}, {"ocpus": true}], "vcns": true}}},
  {"change": {"after_unknown": {"shape": true}}}
 ],
 "prior_state": {"format_version": "1.0", "values": {"root_module": {"resources": [{"address": "data.freetier_allocation.b", "mode": "data", "type": "freetier_allocation", "values": {"vcns": 3}}]}}},
 "configuration": {"provider_config": {"freetier": {"name": "freetier", "expressions": {"tier": {"constant_value": "pay_as_you_go"}}}}, "root_module": {"resources": [{"expressions": {"shape": {"constant_value": "x"}}}]}},
 "timestamp": "2026-09-10T12:00:00Z", "applyable": true, "complete": true, "errored": false}
"#;

    // Objects' fields in name order: the fast path keeps a resource's attributes in the file's
    // order, `Attrs` in its own, and both are looked up by name.
    fn by_name(n: &mut Node) {
        match n {
            Node::Object(fields) => {
                fields.sort_by_key(|(name, _)| *name);
                fields.iter_mut().for_each(|(_, v)| by_name(v));
            }
            Node::List(items) => items.iter_mut().for_each(by_name),
            _ => {}
        }
    }

    fn normalize(p: &mut PlanFile) {
        fn module(m: &mut ModuleJson) {
            m.resources.iter_mut().for_each(|r| by_name(&mut r.values));
            m.child_modules.iter_mut().for_each(module);
        }
        let states = [
            p.planned_values.as_mut(),
            p.values.as_mut(),
            p.prior_state.as_mut().and_then(|s| s.values.as_mut()),
        ];
        for state in states.into_iter().flatten() {
            state.root_module.as_mut().map(module);
        }
        p.after_unknown.values_mut().for_each(by_name);
    }

    // True when the fast path read `text`; it must then have read what serde reads.
    fn fast_reads(text: &str) -> bool {
        let Some(mut fast) = fast_plan(text) else {
            return false;
        };
        let mut slow: PlanFile = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("the fast path reads what serde refuses ({e}):\n{text}"));
        normalize(&mut fast);
        normalize(&mut slow);
        assert_eq!(fast, slow, "{text}");
        true
    }

    #[test]
    fn fast_path_reads_what_serde_reads() {
        let plans = [
            include_str!("../../tests/fixtures/check/plan/oci-over.json"),
            include_str!("../../tests/fixtures/check/plan/oci-free.json"),
            EDGE,
        ];
        for plan in plans {
            assert!(fast_reads(plan), "the fast path reads a plain plan");
        }
        // Mutants of each: pieces of JSON and of plans inserted, text deleted or repeated. The
        // fast path may give up on any of them, and must read the others as serde does.
        let pieces = [
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"",
            "\\",
            " ",
            "\n",
            "null",
            "true",
            "false",
            "0",
            "-1.5e3",
            "01",
            "1.",
            "\"address\": \"x\",",
            "\"values\": {},",
            "\"shape\": 1,",
            "\"after_unknown\": true,",
            "\"$serde_json::private::Number\": \"1\",",
            "\\u00e9",
            "\\ud800",
            "\u{1}",
            "é",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as usize
        };
        let mut read = 0;
        for plan in plans {
            for _ in 0..1500 {
                let mut t = plan.to_owned();
                for _ in 0..1 + next() % 3 {
                    let at = |n: usize| {
                        let mut i = n % (t.len() + 1);
                        while !t.is_char_boundary(i) {
                            i -= 1;
                        }
                        i
                    };
                    let (i, j) = (at(next()), at(next()));
                    let (lo, hi) = (i.min(j), i.max(j).min(i.min(j) + 1 + next() % 40));
                    let hi = at(hi);
                    match next() % 3 {
                        0 => t.insert_str(i, pieces[next() % pieces.len()]),
                        1 => t.replace_range(lo..hi.max(lo), ""),
                        _ => {
                            let copy = t[lo..hi.max(lo)].to_owned();
                            let k = at(next());
                            t.insert_str(k, &copy);
                        }
                    }
                }
                read += fast_reads(&t) as usize;
            }
        }
        assert!(
            read > 100,
            "few mutants read ({read}): the test tests little"
        );
    }
}
