//! Schemas: the shape of a provider, resource or data source configuration, with the
//! per-attribute plan behaviour (requires-replace, use-state-for-unknown, defaults) that the
//! plan pipeline applies.

use std::collections::BTreeMap;

use super::path::AttributePath;
use super::types::Type;
use super::value::Value;

/// A versioned block schema. The version drives UpgradeResourceState.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    /// Bumped whenever the stored shape changes; older states go through upgraders.
    pub version: i64,
    /// The top-level block.
    pub block: Block,
}

/// A block: attributes plus nested block types.
#[derive(Debug, Clone, Default)]
pub struct Block {
    /// Attributes, in declaration order.
    pub attributes: Vec<Attribute>,
    /// Nested block types.
    pub blocks: Vec<NestedBlock>,
    /// Markdown description.
    pub description: String,
    /// Set when the whole block is deprecated; the message says what to use instead.
    pub deprecation: Option<String>,
}

/// How a plan treats one attribute beyond the generic rules.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanModifier {
    /// A change to this attribute destroys and re-creates the object.
    RequiresReplace,
    /// A computed value that apply never changes: keep the prior value instead of unknown.
    UseStateForUnknown,
}

/// One attribute.
#[derive(Debug, Clone)]
pub struct Attribute {
    /// The name, `^[a-z0-9_]+$`.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// Markdown description (shown by `terraform providers schema -json` and in docs).
    pub description: String,
    /// Must be set in configuration.
    pub required: bool,
    /// May be set in configuration.
    pub optional: bool,
    /// The provider may set it.
    pub computed: bool,
    /// Redacted in Terraform's output.
    pub sensitive: bool,
    /// Set when deprecated; the message says what to use instead.
    pub deprecation: Option<String>,
    /// Plan behaviour, applied in order.
    pub plan_modifiers: Vec<PlanModifier>,
    /// Planned when the configuration leaves the attribute null (needs optional + computed).
    pub default: Option<Value>,
}

/// How nested blocks of one type are collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// At most one block; null when absent.
    Single,
    /// Ordered blocks.
    List,
    /// Unordered blocks.
    Set,
    /// Blocks keyed by one label.
    Map,
    /// Exactly one block, always present (attributes null when absent).
    Group,
}

/// A nested block type.
#[derive(Debug, Clone)]
pub struct NestedBlock {
    /// The block type name.
    pub type_name: String,
    /// The blocks' own schema.
    pub block: Block,
    /// How they are collected.
    pub nesting: Nesting,
    /// At least this many (0 = no minimum).
    pub min_items: i64,
    /// At most this many (0 = no maximum).
    pub max_items: i64,
}

impl Attribute {
    fn new(name: &str, ty: Type) -> Attribute {
        Attribute {
            name: name.to_string(),
            ty,
            description: String::new(),
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            deprecation: None,
            plan_modifiers: Vec::new(),
            default: None,
        }
    }
    /// A string attribute.
    pub fn string(name: &str) -> Attribute {
        Attribute::new(name, Type::String)
    }
    /// A number attribute.
    pub fn number(name: &str) -> Attribute {
        Attribute::new(name, Type::Number)
    }
    /// A bool attribute.
    pub fn bool(name: &str) -> Attribute {
        Attribute::new(name, Type::Bool)
    }
    /// An attribute of any type.
    pub fn typed(name: &str, ty: Type) -> Attribute {
        Attribute::new(name, ty)
    }
    /// Must be configured.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// May be configured.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
    /// Set by the provider.
    pub fn computed(mut self) -> Self {
        self.computed = true;
        self
    }
    /// Redacted in output.
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
    /// Describes the attribute (Markdown).
    pub fn description(mut self, d: &str) -> Self {
        self.description = d.to_string();
        self
    }
    /// Marks it deprecated with a message that says what to use instead.
    pub fn deprecated(mut self, message: &str) -> Self {
        self.deprecation = Some(message.to_string());
        self
    }
    /// A change replaces the object.
    pub fn requires_replace(mut self) -> Self {
        self.plan_modifiers.push(PlanModifier::RequiresReplace);
        self
    }
    /// Keep the prior value rather than planning unknown.
    pub fn use_state_for_unknown(mut self) -> Self {
        self.plan_modifiers.push(PlanModifier::UseStateForUnknown);
        self
    }
    /// The value planned when configuration leaves it null; makes it optional and computed.
    pub fn default(mut self, v: Value) -> Self {
        self.default = Some(v);
        self.optional = true;
        self.computed = true;
        self
    }
}

impl Block {
    /// An empty block with a description.
    pub fn new(description: &str) -> Block {
        Block {
            description: description.to_string(),
            ..Block::default()
        }
    }
    /// Adds an attribute.
    pub fn attribute(mut self, a: Attribute) -> Self {
        self.attributes.push(a);
        self
    }
    /// Adds a nested block type.
    pub fn nested(mut self, type_name: &str, nesting: Nesting, block: Block) -> Self {
        self.blocks.push(NestedBlock {
            type_name: type_name.to_string(),
            block,
            nesting,
            min_items: 0,
            max_items: 0,
        });
        self
    }
    /// Adds a nested block type with item bounds.
    pub fn nested_bounded(
        mut self,
        type_name: &str,
        nesting: Nesting,
        block: Block,
        min: i64,
        max: i64,
    ) -> Self {
        self.blocks.push(NestedBlock {
            type_name: type_name.to_string(),
            block,
            nesting,
            min_items: min,
            max_items: max,
        });
        self
    }

    /// The attribute named `name`.
    pub fn get(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The object type this block's values have on the wire.
    pub fn implied_type(&self) -> Type {
        let mut attrs: BTreeMap<String, Type> = self
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.ty.clone()))
            .collect();
        for nb in &self.blocks {
            let inner = nb.block.implied_type();
            let ty = match nb.nesting {
                Nesting::Single | Nesting::Group => inner,
                Nesting::List => Type::list(inner),
                Nesting::Set => Type::set(inner),
                Nesting::Map => Type::map(inner),
            };
            attrs.insert(nb.type_name.clone(), ty);
        }
        Type::Object(attrs)
    }

    /// Fills every attribute that a value lacks with null and every absent nested-block
    /// collection with an empty one, so Terraform never sees a short object or a null list of
    /// blocks ("must be empty to indicate no blocks, not null").
    pub fn normalize(&self, v: &mut Value) {
        let Value::Object(m) = v else { return };
        for a in &self.attributes {
            m.entry(a.name.clone()).or_insert(Value::Null);
        }
        for nb in &self.blocks {
            let slot = m.entry(nb.type_name.clone()).or_insert(Value::Null);
            match (nb.nesting, &mut *slot) {
                (Nesting::List, Value::Null) => *slot = Value::List(Vec::new()),
                (Nesting::Set, Value::Null) => *slot = Value::Set(Vec::new()),
                (Nesting::Map, Value::Null) => *slot = Value::Map(BTreeMap::new()),
                (Nesting::Group, Value::Null) => {
                    let mut inner = Value::Object(BTreeMap::new());
                    nb.block.normalize(&mut inner);
                    *slot = inner;
                }
                (_, Value::List(items) | Value::Set(items)) => {
                    items.iter_mut().for_each(|i| nb.block.normalize(i))
                }
                (_, Value::Map(items)) => items.values_mut().for_each(|i| nb.block.normalize(i)),
                (_, obj @ Value::Object(_)) => nb.block.normalize(obj),
                _ => {}
            }
        }
    }

    /// The paths of the read-only attributes (computed, neither required nor optional) that a
    /// configuration sets, at any depth. Terraform leaves refusing them to the provider, as
    /// terraform-plugin-framework does; accepted, the plan would carry the configured value
    /// and apply would fail with "inconsistent result".
    pub fn read_only_set(&self, config: &Value) -> Vec<AttributePath> {
        let mut found = Vec::new();
        self.collect_read_only(config, &AttributePath::default(), &mut found);
        found
    }

    fn collect_read_only(&self, v: &Value, at: &AttributePath, found: &mut Vec<AttributePath>) {
        for a in &self.attributes {
            if a.computed && !a.optional && !a.required && !v.attr(&a.name).is_null() {
                found.push(at.clone().attr(a.name.clone()));
            }
        }
        for nb in &self.blocks {
            let here = at.clone().attr(nb.type_name.clone());
            match v.attr(&nb.type_name) {
                Value::List(items) => {
                    for (i, item) in items.iter().enumerate() {
                        nb.block
                            .collect_read_only(item, &here.clone().index(i), found);
                    }
                }
                // Set elements have no address: a path stops at the set.
                Value::Set(items) => {
                    for item in items {
                        nb.block.collect_read_only(item, &here, found);
                    }
                }
                Value::Map(items) => {
                    for (k, item) in items {
                        nb.block
                            .collect_read_only(item, &here.clone().key(k.clone()), found);
                    }
                }
                obj @ Value::Object(_) => nb.block.collect_read_only(obj, &here, found),
                _ => {}
            }
        }
    }

    /// The path (relative to this block) of the first attribute, at any depth, that has a
    /// plan modifier.
    fn first_plan_modifier(&self) -> Option<String> {
        if let Some(a) = self
            .attributes
            .iter()
            .find(|a| !a.plan_modifiers.is_empty())
        {
            return Some(a.name.clone());
        }
        self.blocks.iter().find_map(|nb| {
            nb.block
                .first_plan_modifier()
                .map(|inner| format!("{}.{inner}", nb.type_name))
        })
    }

    /// Checks the rules Terraform's `InternalValidate` applies to schemas; each problem is a
    /// sentence naming the attribute. Run by the test suite over every schema we ship.
    pub fn validate(&self, prefix: &str) -> Vec<String> {
        let mut problems = Vec::new();
        let valid_name = |n: &str| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        for a in &self.attributes {
            let at = format!("{prefix}{}", a.name);
            if !valid_name(&a.name) {
                problems.push(format!("{at}: name must match ^[a-z0-9_]+$"));
            }
            if !(a.required || a.optional || a.computed) {
                problems.push(format!("{at}: must be required, optional or computed"));
            }
            if a.required && (a.optional || a.computed) {
                problems.push(format!(
                    "{at}: required cannot be combined with optional or computed"
                ));
            }
            if a.description.is_empty() {
                problems.push(format!("{at}: has no description"));
            }
            if a.default.is_some() && !(a.optional && a.computed) {
                problems.push(format!("{at}: a default needs optional + computed"));
            }
            if self.blocks.iter().any(|b| b.type_name == a.name) {
                problems.push(format!("{at}: is both an attribute and a block type"));
            }
        }
        for nb in &self.blocks {
            let at = format!("{prefix}{}", nb.type_name);
            if !valid_name(&nb.type_name) {
                problems.push(format!("{at}: name must match ^[a-z0-9_]+$"));
            }
            match nb.nesting {
                Nesting::Single if nb.min_items > 1 || nb.max_items > 1 => {
                    problems.push(format!("{at}: single blocks allow min/max of 0 or 1"))
                }
                Nesting::Group | Nesting::Map if nb.min_items != 0 || nb.max_items != 0 => problems
                    .push(format!(
                        "{at}: group and map blocks cannot set min/max items"
                    )),
                Nesting::Set if nb.block.implied_type().has_dynamic() => {
                    problems.push(format!("{at}: set blocks cannot hold dynamic attributes"))
                }
                _ => {}
            }
            if nb.nesting == Nesting::Set {
                if let Some(inner) = nb.block.first_plan_modifier() {
                    problems.push(format!(
                        "{at}.{inner}: plan modifiers cannot apply inside a set block, whose \
                         elements have no identity to pair with the prior state; use a list \
                         or map block"
                    ));
                }
            }
            problems.extend(nb.block.validate(&format!("{at}.")));
        }
        problems
    }
}

/// A value read through its block's schema, for logs and debugging: sensitive attributes show
/// as `(sensitive)`, everything else in full. Made by [`Block::show`].
pub struct Shown<'a> {
    block: &'a Block,
    value: &'a Value,
}

impl Block {
    /// Shows `value`, an object of this block, with its sensitive attributes hidden.
    pub fn show<'a>(&'a self, value: &'a Value) -> Shown<'a> {
        Shown { block: self, value }
    }
}

impl std::fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        show_block(self.block, self.value, f)
    }
}

fn show_block(block: &Block, v: &Value, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    let Value::Object(attrs) = v else {
        return show_plain(v, f);
    };
    f.write_str("{")?;
    for (i, (name, value)) in attrs.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{name}: ")?;
        if let Some(a) = block.attributes.iter().find(|a| &a.name == name) {
            if a.sensitive && !value.is_null() {
                f.write_str("(sensitive)")?;
            } else {
                show_plain(value, f)?;
            }
        } else if let Some(nb) = block.blocks.iter().find(|b| &b.type_name == name) {
            match value {
                Value::List(items) | Value::Set(items) => {
                    f.write_str("[")?;
                    for (j, item) in items.iter().enumerate() {
                        if j > 0 {
                            f.write_str(", ")?;
                        }
                        show_block(&nb.block, item, f)?;
                    }
                    f.write_str("]")?;
                }
                Value::Map(m) => {
                    f.write_str("{")?;
                    for (j, (k, item)) in m.iter().enumerate() {
                        if j > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{k:?}: ")?;
                        show_block(&nb.block, item, f)?;
                    }
                    f.write_str("}")?;
                }
                other => show_block(&nb.block, other, f)?,
            }
        } else {
            // Not in the schema: nothing says it is safe to show.
            write!(f, "{value:?}")?;
        }
    }
    f.write_str("}")
}

/// A value with no sensitive part, in full.
fn show_plain(v: &Value, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    let seq = |items: &[Value], f: &mut std::fmt::Formatter<'_>| {
        f.write_str("[")?;
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            show_plain(item, f)?;
        }
        f.write_str("]")
    };
    match v {
        Value::Null => f.write_str("null"),
        Value::Unknown => f.write_str("(known after apply)"),
        Value::Bool(b) => write!(f, "{b}"),
        Value::Number(n) => write!(f, "{n}"),
        Value::String(s) => write!(f, "{s:?}"),
        Value::List(items) | Value::Set(items) | Value::Tuple(items) => seq(items, f),
        Value::Map(m) | Value::Object(m) => {
            f.write_str("{")?;
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{k}: ")?;
                show_plain(item, f)?;
            }
            f.write_str("}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block() -> Block {
        Block::new("test")
            .attribute(Attribute::string("id").computed().description("id"))
            .nested(
                "rule",
                Nesting::List,
                Block::new("r").attribute(Attribute::number("n").required().description("n")),
            )
            .nested("single", Nesting::Single, Block::new("s"))
    }

    #[test]
    fn implied_type_nests_blocks_by_their_nesting_mode() {
        let want = Type::object([
            ("id", Type::String),
            ("rule", Type::list(Type::object([("n", Type::Number)]))),
            ("single", Type::object(Vec::<(String, Type)>::new())),
        ]);
        assert_eq!(block().implied_type(), want);
    }

    #[test]
    fn a_read_only_attribute_set_in_configuration_is_found_at_its_path_at_any_depth() {
        let b = Block::new("test")
            .attribute(Attribute::string("id").computed().description("id"))
            .attribute(
                Attribute::string("name")
                    .optional()
                    .computed()
                    .description("n"),
            )
            .nested(
                "node",
                Nesting::List,
                Block::new("n").attribute(Attribute::string("seen").computed().description("s")),
            );
        let node = |seen: Value| Value::object([("seen", seen)]);
        let cases = [
            ("nothing set", Value::object([("id", Value::Null)]), vec![]),
            (
                "optional and computed may be set",
                Value::object([("name", Value::from("x"))]),
                vec![],
            ),
            (
                "top level",
                Value::object([("id", Value::from("x"))]),
                vec!["id"],
            ),
            (
                "unknown counts as set",
                Value::object([("id", Value::Unknown)]),
                vec!["id"],
            ),
            (
                "in the second nested block",
                Value::object([(
                    "node",
                    Value::List(vec![node(Value::Null), node(Value::from("k"))]),
                )]),
                vec!["node[1].seen"],
            ),
            ("not an object", Value::from("x"), vec![]),
        ];
        for (name, config, want) in cases {
            let got: Vec<String> = b
                .read_only_set(&config)
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn normalize_gives_absent_block_lists_as_empty_lists_and_attributes_as_null() {
        let mut v = Value::object(Vec::<(String, Value)>::new());
        block().normalize(&mut v);
        assert_eq!(
            v,
            Value::object([
                ("id", Value::Null),
                ("rule", Value::List(vec![])),
                ("single", Value::Null)
            ])
        );
    }

    #[test]
    fn plan_modifiers_inside_set_blocks_are_refused_with_their_path() {
        let inner = Block::new("i").attribute(
            Attribute::string("name")
                .required()
                .requires_replace()
                .description("n"),
        );
        let cases = [
            ("in a list block", Nesting::List, true),
            ("in a single block", Nesting::Single, true),
            ("in a map block", Nesting::Map, true),
            ("in a set block", Nesting::Set, false),
        ];
        for (name, nesting, accepted) in cases {
            let b = Block::new("b").nested("rule", nesting, inner.clone());
            let problems = b.validate("");
            assert_eq!(problems.is_empty(), accepted, "{name}: {problems:?}");
            if !accepted {
                assert!(
                    problems[0]
                        .starts_with("rule.name: plan modifiers cannot apply inside a set block"),
                    "{name}: {problems:?}"
                );
            }
        }
        let deep = Block::new("b").nested(
            "outer",
            Nesting::Set,
            Block::new("o").nested("rule", Nesting::List, inner),
        );
        assert!(
            deep.validate("")[0].starts_with("outer.rule.name: plan modifiers"),
            "{:?}",
            deep.validate("")
        );
    }

    #[test]
    fn schema_rules_name_the_offending_attribute() {
        let bad = Block::new("b")
            .attribute(
                Attribute::string("Bad-Name")
                    .required()
                    .optional()
                    .description("x"),
            )
            .attribute(Attribute::string("undescribed").optional());
        let problems = bad.validate("");
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("Bad-Name: name must match")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("Bad-Name: required cannot")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p == "undescribed: has no description"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_value_in_debug_output_shows_no_string_and_through_its_schema_no_secret() {
        let block = Block::new("a key")
            .attribute(Attribute::string("comment").optional())
            .attribute(Attribute::string("private_key").computed().sensitive())
            .nested(
                "login",
                Nesting::List,
                Block::new("").attribute(Attribute::string("password").optional().sensitive()),
            );
        let v = Value::object([
            ("comment", Value::from("build host")),
            ("private_key", Value::from("AGE-SECRET-KEY-1QQQQ")),
            (
                "login",
                Value::List(vec![Value::object([("password", Value::from("hunter2"))])]),
            ),
        ]);
        let debug = format!("{v:?}");
        for secret in ["build host", "AGE-SECRET-KEY-1QQQQ", "hunter2"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert!(debug.contains("String(<20 bytes>)"), "{debug}");
        let shown = format!("{:?}", block.show(&v));
        assert_eq!(
            shown,
            "{comment: \"build host\", login: [{password: (sensitive)}], private_key: (sensitive)}"
        );
    }
}
