//! `freetier check --plan plan.json`: the planned values of `terraform show -json plan.tfplan`
//! (format 1.x), root module and child modules recursively, as [`Unit`]s.
//!
//! Managed resources of the OCI types in the rulebook's [`rules::OCI_RESOURCES`] make the
//! resources unit, each field read from the arguments that table names (the same table the
//! `.tf` reader follows); values the plan marks in `after_unknown` are deferred to apply.
//! `freetier_allocation` data sources (read during plan, so in `prior_state`; or deferred to
//! apply, so in `planned_values`) are checked on their own as the provider checks them, field
//! by field from [`rules::ITEMS`]. A state file (`terraform show -json` without a plan:
//! `values` instead of `planned_values`) is read the same way.
//!
//! One reader, serde_json's: the plan's shape is typed, so serde skips what is not read
//! (`configuration`, `before`, `after`, …) without building it. A resource's `values` and
//! `after_unknown` are kept as raw JSON borrowed from the file and parsed only for the
//! resources some reader looks at.
//!
//! Imports `collect::push_read`, `config::Loc`, `unit` and `value` from this module tree, and
//! the pure `rules`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::rc::Rc;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value as Json;

use super::collect::push_read;
use super::config::Loc;
use super::unit::{ItemSites, Site, Stage, Unit};
use super::value::{Val, Why};
use crate::rules::{
    self, Arg, Conversion, Counted, Field, FieldValue, ItemKind, OciResource, Tier,
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
// else without building it. Strings are borrowed from the file's text where they have no
// escapes, and a resource's attributes stay raw JSON until a reader needs them.
#[derive(serde::Deserialize)]
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
    after_unknown: HashMap<Cow<'a, str>, &'a RawValue>,
    #[serde(borrow)]
    prior_state: Option<PriorState<'a>>,
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
struct PriorState<'a> {
    #[serde(borrow)]
    values: Option<State<'a>>,
}

#[derive(serde::Deserialize)]
struct State<'a> {
    #[serde(borrow)]
    root_module: Option<ModuleJson<'a>>,
}

#[derive(serde::Deserialize)]
struct ModuleJson<'a> {
    #[serde(default, borrow, deserialize_with = "relevant_resources")]
    resources: Vec<ResourceJson<'a>>,
    #[serde(default, borrow)]
    child_modules: Vec<ModuleJson<'a>>,
}

#[derive(serde::Deserialize)]
struct ResourceJson<'a> {
    #[serde(default, borrow)]
    address: Cow<'a, str>,
    #[serde(default, borrow)]
    mode: Cow<'a, str>,
    #[serde(default, borrow, rename = "type")]
    ty: Cow<'a, str>,
    #[serde(default, borrow)]
    values: Option<&'a RawValue>,
}

// The resources any reader here looks at: managed OCI resources of the types the free tier
// limits, and freetier_allocation data sources. The others are read (so that a malformed one
// is an error) and dropped.
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
                if oci_row(&r).is_some() || is_allocation(&r) {
                    kept.push(r);
                }
            }
            Ok(kept)
        }
    }
    d.deserialize_seq(V)
}

// The rulebook's row of a managed OCI resource the free tier limits.
fn oci_row(r: &ResourceJson) -> Option<&'static OciResource> {
    (r.mode == "managed")
        .then(|| rules::oci_resource(&r.ty))
        .flatten()
}

fn is_allocation(r: &ResourceJson) -> bool {
    r.mode == "data" && r.ty == "freetier_allocation"
}

// `resource_changes` as the one thing read from it: each address's `after_unknown`, raw.
// Later entries for an address win, as in a map built in file order.
fn unknowns<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<HashMap<Cow<'de, str>, &'de RawValue>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = HashMap<Cow<'de, str>, &'de RawValue>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a sequence")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut map = HashMap::new();
            while let Some(rc) = seq.next_element::<Change>()? {
                if let Some(u) = rc.change.and_then(|c| c.after_unknown) {
                    map.insert(rc.address, u);
                }
            }
            Ok(map)
        }
    }
    d.deserialize_seq(V)
}

#[derive(serde::Deserialize)]
struct Change<'a> {
    #[serde(default, borrow)]
    address: Cow<'a, str>,
    #[serde(borrow)]
    change: Option<ChangeBody<'a>>,
}

#[derive(serde::Deserialize)]
struct ChangeBody<'a> {
    #[serde(default, borrow)]
    after_unknown: Option<&'a RawValue>,
}

#[derive(serde::Deserialize)]
struct Configuration {
    provider_config: Option<std::collections::BTreeMap<String, ProviderConfig>>,
}

#[derive(serde::Deserialize)]
struct ProviderConfig {
    expressions: Option<Json>,
}

/// A JSON value as this reader keeps it: scalars (strings borrowed from the file), lists, and
/// objects.
#[derive(Debug, Default)]
enum Node<'a> {
    #[default]
    Null,
    Bool(bool),
    Num(f64),
    /// A number `f64` cannot read (none is: f64 reads every JSON number; kept for the message).
    BadNum(String),
    Str(Cow<'a, str>),
    List(Vec<Node<'a>>),
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'a> Node<'a> {
    // A raw value a reader needs (already checked as JSON by serde: this never fails; if it
    // did, the value would read as null).
    fn parse(raw: Option<&'a RawValue>) -> Node<'a> {
        raw.and_then(|r| serde_json::from_str(r.get()).ok())
            .unwrap_or_default()
    }

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
        let mut fields: Vec<(Cow<'de, str>, Node<'de>)> = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            if key == JSON_NUMBER_TOKEN {
                return map.next_value_seed(NumberText);
            }
            let v = map.next_value()?;
            // A repeated key: the later value wins, as in a map.
            match fields.iter_mut().find(|(n, _)| *n == key) {
                Some((_, old)) => *old = v,
                None => fields.push((key, v)),
            }
        }
        Ok(Node::Object(fields))
    }
}

// An object's key, borrowed from the file when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }
            fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
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
            .find(|(n, _)| n == name)
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

    // A number attribute at the top of the block, recorded under `key`.
    fn num(
        &self,
        u: &mut Unit,
        sites: &mut ItemSites,
        key: &'static str,
        view: &JsonView,
        name: &'static str,
    ) -> rules::Quantity {
        let site = self.at(name);
        let (q, why) = u.number(&view.get(name), &site, name);
        sites.attr(key, site, why);
        q
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

// A value read as the field's type, with the reason it is unknown.
fn typed(u: &mut Unit, v: &Val, site: &Site, name: &str, f: Field) -> (FieldValue, Option<Why>) {
    if f.text {
        let (t, why) = u.string(v, site, name);
        (FieldValue::Text(t), why)
    } else {
        let (q, why) = u.number(v, site, name);
        (FieldValue::Number(q), why)
    }
}

fn is_absent(v: &FieldValue) -> bool {
    matches!(
        v,
        FieldValue::Number(rules::Value::Absent) | FieldValue::Text(rules::Value::Absent)
    )
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
    walk(root, &mut |r| match oci_row(&r) {
        Some(row) => {
            any = true;
            read_resource(&mut u, &file_rc, &after_unknown, &r, row);
        }
        None => data.push(r),
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
        if !is_allocation(r) {
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
        let values = Node::parse(r.values);
        let unknown = Node::parse(after_unknown.get(address).copied());
        let view = JsonView {
            values: &values,
            unknown: &unknown,
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
            if let Some(kind) = oci_row(r).map(|row| row.kind) {
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
    for (kind, n) in counts {
        u.items.reserve(kind, n);
        u.allocation.reserve(kind, n);
    }
}

// One managed OCI resource into the resources unit, as the rulebook's table says it counts.
fn read_resource(
    u: &mut Unit,
    file_rc: &Rc<str>,
    after_unknown: &HashMap<Cow<str>, &RawValue>,
    r: &ResourceJson,
    row: &OciResource,
) {
    let ty = r.ty.as_ref();
    let address = if r.address.is_empty() {
        ty
    } else {
        r.address.as_ref()
    };
    let values = Node::parse(r.values);
    let unknown = Node::parse(after_unknown.get(address).copied());
    let view = JsonView {
        values: &values,
        unknown: &unknown,
    };
    let label = Some(address.replace('"', ""));
    let rd = Reader {
        file: file_rc.clone(),
        address: address.into(),
    };
    let mut sites = ItemSites::new(rd.block());
    let mut count = rules::Value::Absent;
    // A resource that counts only with one value of an argument (a RESERVED IP).
    if let Some(cond) = row.counts_if {
        match rd.text(u, &mut sites, cond.arg, &view, cond.arg) {
            rules::Value::Known(l) if l.eq_ignore_ascii_case(cond.value) => {}
            rules::Value::Known(_) | rules::Value::Absent => return,
            rules::Value::Unknown => {
                let why = Why {
                    error: false,
                    text: format!(
                        "whether it is {}: {} is known only after apply",
                        cond.value, cond.arg
                    )
                    .into(),
                };
                sites.attr("count", rd.at(cond.arg), Some(why));
                count = rules::Value::Unknown;
            }
        }
    }
    let mut read = Vec::new();
    for f in rules::fields(row.kind) {
        if f.name == "count" {
            read.push(FieldValue::Number(count.clone()));
        } else {
            read.push(plan_field(&rd, u, &mut sites, &view, row, *f));
        }
    }
    let index = push_read(&mut u.allocation, row.kind, label, read);
    u.items.insert((row.kind, index), sites);
}

// One field of an OCI resource's item, from the arguments the table names for it: the first
// one set, in the field's unit. Unset, it is absent (OCI's default), or unknown where the
// table says the value exists but is not in the plan.
fn plan_field(
    rd: &Reader,
    u: &mut Unit,
    sites: &mut ItemSites,
    view: &JsonView,
    row: &OciResource,
    f: Field,
) -> FieldValue {
    let mut first = None;
    for arg in row.args_for(f.name) {
        let (v, site, why) = plan_arg(rd, u, view, arg, f);
        if !is_absent(&v) {
            sites.attr(f.name, site, why);
            return v;
        }
        first.get_or_insert((v, site, why));
    }
    if let Some(text) = row.args_for(f.name).next().and_then(|a| a.unset) {
        let why = Why {
            error: false,
            text: text.into(),
        };
        sites.attr(f.name, rd.block(), Some(why));
        return FieldValue::Number(rules::Value::Unknown);
    }
    let (v, site, why) = first.unwrap_or_else(|| {
        let absent = if f.text {
            FieldValue::Text(rules::Value::Absent)
        } else {
            FieldValue::Number(rules::Value::Absent)
        };
        (absent, rd.block(), None)
    });
    sites.attr(f.name, site, why);
    v
}

// One argument the table names (`size_in_gbs`, `shape_config.ocpus`), converted.
fn plan_arg(
    rd: &Reader,
    u: &mut Unit,
    view: &JsonView,
    arg: &Arg,
    f: Field,
) -> (FieldValue, Site, Option<Why>) {
    let (site, name, v) = match arg.nested() {
        // The first nested block's attribute: absent without a block, unknown when the list is.
        Some((block, name)) => {
            let site = rd.at(format!("{block}[0].{name}"));
            let v = match view.nested(block) {
                Ok(blocks) => blocks.iter().next().map_or(Val::Null, |b| b.get(name)),
                Err(why) => {
                    let unknown = if f.text {
                        FieldValue::Text(rules::Value::Unknown)
                    } else {
                        FieldValue::Number(rules::Value::Unknown)
                    };
                    return (unknown, site, Some(why));
                }
            };
            (site, name, v)
        }
        None => (rd.at(arg.path), arg.path, view.get(arg.path)),
    };
    let (value, why) = typed(u, &v, &site, name, f);
    match (value, arg.conversion) {
        (FieldValue::Number(rules::Value::Known(x)), Conversion::Times(k)) => {
            (FieldValue::Number(rules::Value::Known(x * k)), site, why)
        }
        (FieldValue::Number(rules::Value::Known(_)), Conversion::BudgetThreshold) if matches!(&view.get("threshold_type"), Val::Str(k) if k.eq_ignore_ascii_case("PERCENTAGE")) =>
        {
            let why = Why {
                error: false,
                text: "a PERCENTAGE threshold is in dollars only with its budget's amount".into(),
            };
            (FieldValue::Number(rules::Value::Unknown), site, Some(why))
        }
        (value, _) => (value, site, why),
    }
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
    for spec in rules::ITEMS {
        let blocks = match view.nested(spec.block) {
            Ok(b) => b,
            Err(why) => {
                u.defer(rd.at(spec.block), &[], format!("{} blocks: not known until apply ({}); the provider checks them when it reads the data source", spec.block, why.text));
                continue;
            }
        };
        for (i, b) in blocks.iter().enumerate() {
            let path = format!("{}[{i}]", spec.block);
            let mut sites = ItemSites::new(rd.at(path.clone()));
            let label = b.str("name").map(str::to_owned);
            let mut read = Vec::with_capacity(spec.fields.len());
            for f in spec.fields {
                let site = rd.at(format!("{path}.{}", f.name));
                let (v, why) = typed(&mut u, &b.get(f.name), &site, f.name, *f);
                sites.attr(f.name, site, why);
                read.push(v);
            }
            let index = push_read(&mut u.allocation, spec.kind, label, read);
            u.items.insert((spec.kind, index), sites);
        }
    }
    for kind in rules::COUNTED {
        let field = kind.field();
        let mut sites = ItemSites::new(rd.at(field));
        let n = rd.num(&mut u, &mut sites, "count", &view, field);
        if n == rules::Value::Absent {
            continue;
        }
        if let Some(list) = u.allocation.counted_mut(*kind) {
            list.push(Counted {
                label: None,
                count: n,
            });
            u.items.insert((*kind, 0), sites);
        }
    }
    u
}
