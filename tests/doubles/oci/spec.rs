//! Upstream's schemas as the Go SDK (terraform-plugin-sdk v2 `helper/schema`) declares them, and
//! the plan behaviour that SDK derives from those flags.
//!
//! The framework's generic pipeline applies requires-replace, use-state-for-unknown and
//! defaults to top-level attributes only, and knows no integer type. The oracle/oci provider
//! marks nested attributes `ForceNew` (`create_vnic_details.0.private_ip`), keeps nested
//! optional-and-computed values across updates, defaults nested attributes (`stateless`,
//! `icmp_options.0.code`), hashes set elements to pair them with the state, and refuses a
//! fractional `TypeInt`. This module does that for nested blocks, from one table per resource,
//! so the flags are written once: the framework `Block` is derived from the same table.
//!
//! It imports only the framework, as any third-party provider would.

use freetier::framework::*;

/// How upstream declares an attribute (`Required`, `Optional`, `Optional` + `Computed`,
/// `Computed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `Required: true`.
    Required,
    /// `Optional: true`.
    Optional,
    /// `Optional: true, Computed: true`: unknown on create when unset, then kept.
    OptionalComputed,
    /// `Computed: true`.
    Computed,
}

/// One attribute, flagged as upstream flags it.
#[derive(Debug, Clone)]
pub struct Field {
    /// The attribute name.
    pub name: &'static str,
    /// Its wire type (`TypeInt` and `TypeFloat` are both numbers on the wire).
    pub ty: Type,
    /// Required, optional, computed.
    pub mode: Mode,
    /// `ForceNew: true`: a change replaces the object.
    pub force_new: bool,
    /// `TypeInt`: the SDK refuses a fractional number.
    pub int: bool,
    /// A `TypeString` checked by `tfresource.ValidateInt64TypeString`.
    pub int_string: bool,
    /// `Default:`, planned when the configuration leaves the attribute null.
    pub default: Option<Value>,
}

/// A string attribute (optional until said otherwise).
pub fn string(name: &'static str) -> Field {
    typed(name, Type::String)
}

/// A `TypeInt` attribute.
pub fn int(name: &'static str) -> Field {
    Field {
        int: true,
        ..typed(name, Type::Number)
    }
}

/// A `TypeFloat` attribute.
pub fn float(name: &'static str) -> Field {
    typed(name, Type::Number)
}

/// A `TypeBool` attribute.
pub fn boolean(name: &'static str) -> Field {
    typed(name, Type::Bool)
}

/// A `TypeMap` of strings.
pub fn string_map(name: &'static str) -> Field {
    typed(name, Type::map(Type::String))
}

/// A `TypeList` of strings.
pub fn string_list(name: &'static str) -> Field {
    typed(name, Type::list(Type::String))
}

/// A `TypeSet` of strings.
pub fn string_set(name: &'static str) -> Field {
    typed(name, Type::set(Type::String))
}

/// An attribute of any wire type (a computed `TypeList` of `Resource` is a list of objects).
pub fn typed(name: &'static str, ty: Type) -> Field {
    Field {
        name,
        ty,
        mode: Mode::Optional,
        force_new: false,
        int: false,
        int_string: false,
        default: None,
    }
}

impl Field {
    /// `Required: true`.
    pub fn required(mut self) -> Self {
        self.mode = Mode::Required;
        self
    }
    /// `Optional: true, Computed: true`.
    pub fn computed(mut self) -> Self {
        self.mode = Mode::OptionalComputed;
        self
    }
    /// `Computed: true` only.
    pub fn out(mut self) -> Self {
        self.mode = Mode::Computed;
        self
    }
    /// `ForceNew: true`.
    pub fn force_new(mut self) -> Self {
        self.force_new = true;
        self
    }
    /// `ValidateFunc: tfresource.ValidateInt64TypeString`.
    pub fn int_string(mut self) -> Self {
        self.int_string = true;
        self
    }
    /// `Default: v`.
    pub fn default(mut self, v: impl Into<Value>) -> Self {
        self.default = Some(v.into());
        self
    }

    fn is_computed(&self) -> bool {
        matches!(self.mode, Mode::OptionalComputed | Mode::Computed) || self.default.is_some()
    }

    fn flags(&self) -> String {
        let mut flags = vec![match self.mode {
            Mode::Required => "Required",
            Mode::Optional => "Optional",
            Mode::OptionalComputed => "Optional, Computed",
            Mode::Computed => "Computed",
        }
        .to_string()];
        if self.force_new {
            flags.push("ForceNew".into());
        }
        if self.int {
            flags.push("TypeInt".into());
        }
        if let Some(d) = &self.default {
            flags.push(format!("Default {d:?}"));
        }
        flags.join(", ")
    }

    /// The framework attribute. A default makes it optional and computed, as the framework
    /// (like terraform-plugin-framework) requires of a planned default; computed values keep
    /// their prior state across updates, as the SDK keeps them when the configuration is null.
    fn attribute(&self) -> Attribute {
        let mut a = Attribute::typed(self.name, self.ty.clone()).description(&format!(
            "`{}` (test double; upstream: {}).",
            self.name,
            self.flags()
        ));
        a = match self.mode {
            Mode::Required => a.required(),
            Mode::Optional => a.optional(),
            Mode::OptionalComputed => a.optional().computed().use_state_for_unknown(),
            Mode::Computed => a.computed().use_state_for_unknown(),
        };
        if let Some(d) = &self.default {
            a = a.default(d.clone());
        }
        if self.force_new {
            a = a.requires_replace();
        }
        a
    }

    /// What the cloud reports for an attribute the configuration left unset, when the
    /// resource's own fill did not say: the Go zero value, as the SDK stores it.
    fn zero(&self) -> Value {
        match &self.ty {
            Type::String => Value::from(""),
            Type::Bool => Value::Bool(false),
            Type::Number => Value::int(0),
            Type::List(_) => Value::List(Vec::new()),
            Type::Set(_) => Value::Set(Vec::new()),
            Type::Map(_) => Value::Map(Default::default()),
            _ => Value::Null,
        }
    }
}

/// A nested block: a `TypeList` (`MaxItems: 1` here) or a `TypeSet` of `Resource`.
#[derive(Debug, Clone)]
pub struct Nested {
    /// The block type name.
    pub name: &'static str,
    /// `TypeSet`: elements have no index, the SDK pairs them with the state by their hash.
    pub set: bool,
    /// Item bounds as Terraform core sees them (the SDK drops `MinItems` on optional blocks).
    pub min: i64,
    /// Item bounds as Terraform core sees them.
    pub max: i64,
    /// The block's own schema.
    pub spec: Spec,
}

/// A block's attributes and nested blocks.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// The attributes.
    pub fields: Vec<Field>,
    /// The nested blocks.
    pub blocks: Vec<Nested>,
}

impl Spec {
    /// A block of these attributes.
    pub fn new(fields: Vec<Field>) -> Spec {
        Spec {
            fields,
            blocks: Vec::new(),
        }
    }

    /// Adds a `TypeList` block of at most one item; `required` as upstream's `Required: true`.
    pub fn one(mut self, name: &'static str, required: bool, spec: Spec) -> Spec {
        self.blocks.push(Nested {
            name,
            set: false,
            min: i64::from(required),
            max: 1,
            spec,
        });
        self
    }

    /// Adds an optional `TypeSet` block.
    pub fn set(mut self, name: &'static str, spec: Spec) -> Spec {
        self.blocks.push(Nested {
            name,
            set: true,
            min: 0,
            max: 0,
            spec,
        });
        self
    }

    /// The framework block.
    pub fn block(&self, description: &str) -> Block {
        let mut b = Block::new(description);
        for f in &self.fields {
            b = b.attribute(f.attribute());
        }
        for nb in &self.blocks {
            let nesting = if nb.set { Nesting::Set } else { Nesting::List };
            b = b.nested_bounded(
                nb.name,
                nesting,
                nb.spec.block(&format!("`{}` (test double).", nb.name)),
                nb.min,
                nb.max,
            );
        }
        b
    }

    // ------------------------------------------------------------------ validate

    /// The SDK's type checks the framework cannot express: a `TypeInt` must be whole
    /// (helper/schema `validatePrimitive`: "Attribute must be a whole number, got 1.5"), and
    /// a string validated by `ValidateInt64TypeString` must parse as a 64-bit integer.
    pub fn validate(&self, config: &Value, path: &AttributePath, diags: &mut Diagnostics) {
        if !matches!(config, Value::Object(_)) {
            return;
        }
        for f in &self.fields {
            let v = config.attr(f.name);
            let at = path.clone().attr(f.name);
            if f.int {
                if let Some(n) = v.as_number().filter(|n| !n.is_integer()) {
                    diags.error_at(
                        at.clone(),
                        format!("Attribute must be a whole number, got {n}"),
                        format!("Upstream declares {at} a TypeInt."),
                    );
                }
            }
            if f.int_string {
                if let Some(s) = v.as_str().filter(|s| s.parse::<i64>().is_err()) {
                    diags.error_at(
                        at.clone(),
                        "Invalid Value",
                        format!("\"{at}\" (\"{s}\") must be a 64-bit integer"),
                    );
                }
            }
        }
        for nb in &self.blocks {
            for (i, item) in config
                .attr(nb.name)
                .as_seq()
                .unwrap_or(&[])
                .iter()
                .enumerate()
            {
                let at = path.clone().attr(nb.name);
                // A set element has no address on the wire: point at the set.
                let at = if nb.set { at } else { at.index(i) };
                nb.spec.validate(item, &at, diags);
            }
        }
    }

    // ------------------------------------------------------------------ plan

    /// The SDK's plan for nested blocks, after the framework planned the top level: defaults,
    /// prior values kept for unset computed attributes, set elements paired with the state by
    /// their configured values (new ones get unknown computed values), and a replacement for
    /// every changed `ForceNew` attribute. `prior` is null on create.
    pub fn plan_nested(
        &self,
        prior: &Value,
        planned: &mut Value,
        config: &Value,
        path: &AttributePath,
        replace: &mut Vec<AttributePath>,
    ) {
        for nb in &self.blocks {
            let mut items: Vec<Value> = match planned.attr(nb.name) {
                Value::List(v) | Value::Set(v) => v.clone(),
                _ => continue,
            };
            let prior_items = prior.attr(nb.name).as_seq().unwrap_or(&[]);
            let config_items = config.attr(nb.name).as_seq().unwrap_or(&[]);
            if nb.set {
                let mut used = vec![false; prior_items.len()];
                for item in items.iter_mut() {
                    nb.spec.defaults(item);
                    let found = prior_items
                        .iter()
                        .enumerate()
                        .find(|(i, p)| !used[*i] && nb.spec.same_element(item, p));
                    match found {
                        Some((i, p)) => {
                            used[i] = true;
                            nb.spec.keep_computed(item, p);
                        }
                        None => nb.spec.computed_unknown(item),
                    }
                }
                planned.set_attr(nb.name, Value::Set(items));
            } else {
                for (i, item) in items.iter_mut().enumerate() {
                    let before = prior_items.get(i).unwrap_or(&Value::Null);
                    let cfg = config_items.get(i).unwrap_or(&Value::Null);
                    let at = path.clone().attr(nb.name).index(i);
                    nb.spec.plan_item(prior, before, item, cfg, &at, replace);
                }
                planned.set_attr(nb.name, Value::List(items));
            }
        }
    }

    /// One element of a list block: defaults, kept computed values, `ForceNew`, then deeper.
    fn plan_item(
        &self,
        resource_prior: &Value,
        prior: &Value,
        planned: &mut Value,
        config: &Value,
        path: &AttributePath,
        replace: &mut Vec<AttributePath>,
    ) {
        if !matches!(planned, Value::Object(_)) {
            return;
        }
        for f in &self.fields {
            let cfg = config.attr(f.name);
            if cfg.is_null() {
                if let Some(d) = &f.default {
                    planned.set_attr(f.name, d.clone());
                } else if f.is_computed() {
                    let before = prior.attr(f.name);
                    if !prior.is_null() && before.is_wholly_known() {
                        planned.set_attr(f.name, before.clone());
                    } else if resource_prior.is_null() || prior.is_null() {
                        planned.set_attr(f.name, Value::Unknown);
                    }
                }
            }
            if f.force_new
                && !resource_prior.is_null()
                && planned.attr(f.name) != prior.attr(f.name)
            {
                replace.push(path.clone().attr(f.name));
            }
        }
        self.plan_nested(prior, planned, config, path, replace);
    }

    /// Fills every null attribute that has a default, at every depth.
    fn defaults(&self, item: &mut Value) {
        if !matches!(item, Value::Object(_)) {
            return;
        }
        for f in &self.fields {
            if let (Some(d), true) = (&f.default, item.attr(f.name).is_null()) {
                item.set_attr(f.name, d.clone());
            }
        }
        self.each_item(item, |spec, inner| spec.defaults(inner));
    }

    /// Whether a planned set element is the prior element `p`: every value the plan holds for
    /// a configurable attribute is `p`'s (a computed one the configuration left null does not
    /// count), as the SDK's set hash sees them.
    fn same_element(&self, item: &Value, p: &Value) -> bool {
        self.fields.iter().all(|f| {
            let v = item.attr(f.name);
            (f.is_computed() && (v.is_null() || v.is_unknown())) || v == p.attr(f.name)
        }) && self.blocks.iter().all(|nb| {
            let (a, b) = (
                item.attr(nb.name).as_seq().unwrap_or(&[]),
                p.attr(nb.name).as_seq().unwrap_or(&[]),
            );
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| nb.spec.same_element(x, y))
        })
    }

    /// Takes the prior value of every computed attribute the plan left null or unknown.
    fn keep_computed(&self, item: &mut Value, p: &Value) {
        for f in self.fields.iter().filter(|f| f.is_computed()) {
            let v = item.attr(f.name);
            if v.is_null() || v.is_unknown() {
                let before = p.attr(f.name).clone();
                item.set_attr(f.name, before);
            }
        }
        for nb in &self.blocks {
            let before = p.attr(nb.name).as_seq().unwrap_or(&[]).to_vec();
            if let Value::List(v) | Value::Set(v) = item.attr(nb.name).clone() {
                let kept: Vec<Value> = v
                    .into_iter()
                    .zip(before.iter().chain(std::iter::repeat(&Value::Null)))
                    .map(|(mut x, y)| {
                        nb.spec.keep_computed(&mut x, y);
                        x
                    })
                    .collect();
                item.set_attr(nb.name, rebuild(nb.set, kept));
            }
        }
    }

    /// Marks every computed attribute the plan left null unknown, at every depth.
    fn computed_unknown(&self, item: &mut Value) {
        if !matches!(item, Value::Object(_)) {
            return;
        }
        for f in self.fields.iter().filter(|f| f.is_computed()) {
            if item.attr(f.name).is_null() {
                item.set_attr(f.name, Value::Unknown);
            }
        }
        self.each_item(item, |spec, inner| spec.computed_unknown(inner));
    }

    /// What create and update return: every value still unknown becomes what the cloud
    /// reports (`fill` first, then the Go zero value), at every depth.
    pub fn settle(&self, state: &mut Value, fill: &dyn Fn(&str, &Value) -> Option<Value>) {
        if !matches!(state, Value::Object(_)) {
            return;
        }
        for f in &self.fields {
            if state.attr(f.name).is_unknown() {
                let v = fill(f.name, state).unwrap_or_else(|| f.zero());
                state.set_attr(f.name, v);
            }
        }
        self.each_item(state, |spec, inner| spec.settle(inner, fill));
    }

    /// Runs `f` on every element of every nested block of `item`.
    fn each_item(&self, item: &mut Value, f: impl Fn(&Spec, &mut Value)) {
        for nb in &self.blocks {
            if let Value::List(v) | Value::Set(v) = item.attr(nb.name).clone() {
                let done: Vec<Value> = v
                    .into_iter()
                    .map(|mut x| {
                        f(&nb.spec, &mut x);
                        x
                    })
                    .collect();
                item.set_attr(nb.name, rebuild(nb.set, done));
            }
        }
    }
}

fn rebuild(set: bool, items: Vec<Value>) -> Value {
    if set {
        Value::Set(items)
    } else {
        Value::List(items)
    }
}
