//! The static evaluator: HCL expressions (as hcl-rs's `hcl::edit` parses them) to [`Val`]s,
//! with Terraform's namespaces (`var`, `local`, `count`, `each`, `path`, `data`, …) resolved
//! through a [`Lookup`].
//!
//! Whatever cannot be known before plan (a resource attribute, a data source, a module output,
//! a function this evaluator does not run) becomes [`Val::Unknown`] carrying the reason, and
//! unknown propagates through operators and functions the way it does in Terraform: a
//! conditional on an unknown condition is unknown, `length()` of a list with unknown elements is
//! not. Evaluation errors are unknowns marked `error`, so `try()` and `can()` work. Nothing
//! panics: recursion is bounded and every arithmetic result stays a plain `f64`.
//!
//! hcl-rs's own `hcl::eval` has no notion of an unknown value (it can only fail), which would
//! turn `local.nodes` into nothing as soon as one node holds a resource id; hence this walker.
//!
//! Imports only `value` and `funcs` from this module tree.

use std::collections::BTreeMap;

use hcl::edit::expr::{
    BinaryOperator, Expression, ForExpr, ObjectKey, TraversalOperator, UnaryOperator,
};
use hcl::edit::template::{Directive, Element, Template};

use super::funcs;
use super::value::{format_num, Val, Why};

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 128;

/// Resolves Terraform's namespaces for the evaluator.
pub trait Lookup {
    /// `var.NAME`.
    fn var(&self, name: &str) -> Val;
    /// `local.NAME`.
    fn local(&self, name: &str) -> Val;
    /// `data.TYPE.NAME`.
    fn data(&self, ty: &str, name: &str) -> Val;
    /// `path.module`, `path.root`, `path.cwd`.
    fn path(&self, which: &str) -> Val;
}

/// An evaluator over one [`Lookup`], with the block's own bindings (`count`, `each`, a dynamic
/// block's iterator) and those of enclosing `for` expressions.
pub struct Eval<'a> {
    lookup: &'a dyn Lookup,
    bindings: Vec<(String, Val)>,
    depth: usize,
}

impl<'a> Eval<'a> {
    /// An evaluator with these bindings (`("count", {index = 0})`, `("each", {key, value})`).
    pub fn new(lookup: &'a dyn Lookup, bindings: Vec<(String, Val)>) -> Eval<'a> {
        Eval {
            lookup,
            bindings,
            depth: 0,
        }
    }

    /// Evaluates one expression.
    pub fn eval(&mut self, e: &Expression) -> Val {
        if self.depth >= MAX_DEPTH {
            return Val::error("the expression is nested too deeply to evaluate");
        }
        self.depth += 1;
        let v = self.eval_inner(e);
        self.depth -= 1;
        v
    }

    fn binding(&self, name: &str) -> Option<&Val> {
        self.bindings
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    fn eval_inner(&mut self, e: &Expression) -> Val {
        match e {
            Expression::Null(_) => Val::Null,
            Expression::Bool(b) => Val::Bool(*b.value()),
            Expression::Number(n) => match n.value().as_f64() {
                Some(v) if v.is_finite() => Val::Num(v),
                _ => Val::error("the number literal is out of range"),
            },
            Expression::String(s) => Val::Str(s.value().clone()),
            Expression::Array(items) => Val::List(items.iter().map(|x| self.eval(x)).collect()),
            Expression::Object(object) => {
                let mut map = BTreeMap::new();
                for (key, value) in object.iter() {
                    let key = match key {
                        ObjectKey::Ident(ident) => ident.as_str().to_owned(),
                        ObjectKey::Expression(expr) => {
                            // `{ name = 1 }` written as `{ (name) = 1 }` or `{ "name" = 1 }`.
                            match self.eval(expr) {
                                Val::Unknown(why) => return Val::Unknown(why),
                                other => match other.to_string_value() {
                                    Ok(s) => s,
                                    Err(e) => return Val::error(format!("object key: {e}")),
                                },
                            }
                        }
                    };
                    let v = self.eval(value.expr());
                    map.insert(key, v);
                }
                Val::Map(map)
            }
            Expression::StringTemplate(t) => self.template(t),
            Expression::HeredocTemplate(h) => self.template(&h.template),
            Expression::Parenthesis(p) => self.eval(p.inner()),
            Expression::Variable(v) => self.root(v.as_str(), &[]).0,
            Expression::Conditional(c) => match self.eval(&c.cond_expr) {
                Val::Bool(true) => self.eval(&c.true_expr),
                Val::Bool(false) => self.eval(&c.false_expr),
                Val::Unknown(why) => {
                    // Both branches the same known value: the condition does not matter.
                    let t = self.eval(&c.true_expr);
                    let f = self.eval(&c.false_expr);
                    if t == f && t.is_wholly_known() {
                        t
                    } else {
                        Val::Unknown(why)
                    }
                }
                Val::Str(s) if s == "true" || s == "false" => {
                    if s == "true" {
                        self.eval(&c.true_expr)
                    } else {
                        self.eval(&c.false_expr)
                    }
                }
                other => Val::error(format!(
                    "a condition must be a bool, not {}",
                    other.type_name()
                )),
            },
            Expression::FuncCall(call) => {
                let name = call.name.name.as_str();
                let namespace: Vec<&str> = call.name.namespace.iter().map(|n| n.as_str()).collect();
                // try() and can() take their arguments unevaluated.
                if namespace.is_empty() && (name == "try" || name == "can") {
                    return self.try_can(name, call.args.iter().collect());
                }
                let mut args: Vec<Val> = call.args.iter().map(|a| self.eval(a)).collect();
                if call.args.expand_final() {
                    match args.pop() {
                        Some(Val::List(items)) => args.extend(items),
                        Some(Val::Unknown(why)) => return Val::Unknown(why),
                        Some(other) => {
                            return Val::error(format!(
                                "`...` expands a list, not {}",
                                other.type_name()
                            ))
                        }
                        None => {}
                    }
                }
                funcs::call(&namespace, name, args)
            }
            Expression::Traversal(t) => {
                let (mut v, consumed) = match &t.expr {
                    Expression::Variable(root) => {
                        let ops: Vec<&TraversalOperator> =
                            t.operators.iter().map(|o| o.value()).collect();
                        self.root(root.as_str(), &ops)
                    }
                    other => (self.eval(other), 0),
                };
                let ops: Vec<&TraversalOperator> = t
                    .operators
                    .iter()
                    .skip(consumed)
                    .map(|o| o.value())
                    .collect();
                v = self.apply_ops(v, &ops);
                v
            }
            Expression::UnaryOp(op) => {
                let v = self.eval(&op.expr);
                match (op.operator.value(), v) {
                    (_, Val::Unknown(why)) => Val::Unknown(why),
                    (UnaryOperator::Neg, v) => match v.to_number() {
                        Ok(n) => Val::Num(-n),
                        Err(e) => Val::error(format!("cannot negate: {e}")),
                    },
                    (UnaryOperator::Not, Val::Bool(b)) => Val::Bool(!b),
                    (UnaryOperator::Not, other) => {
                        Val::error(format!("`!` needs a bool, not {}", other.type_name()))
                    }
                }
            }
            Expression::BinaryOp(op) => {
                let lhs = self.eval(&op.lhs_expr);
                // Short circuits that stay sound with an unknown on the other side.
                match (op.operator.value(), &lhs) {
                    (BinaryOperator::And, Val::Bool(false)) => return Val::Bool(false),
                    (BinaryOperator::Or, Val::Bool(true)) => return Val::Bool(true),
                    _ => {}
                }
                let rhs = self.eval(&op.rhs_expr);
                binary(*op.operator.value(), lhs, rhs)
            }
            Expression::ForExpr(f) => self.for_expr(f),
        }
    }

    // A root name and the traversal after it: the value, and how many operators it used.
    fn root(&mut self, name: &str, ops: &[&TraversalOperator]) -> (Val, usize) {
        if let Some(v) = self.binding(name) {
            return (v.clone(), 0);
        }
        let attr = |i: usize| match ops.get(i) {
            Some(TraversalOperator::GetAttr(a)) => Some(a.as_str().to_owned()),
            _ => None,
        };
        match name {
            "var" => match attr(0) {
                Some(n) => (self.lookup.var(&n), 1),
                None => (Val::unknown("`var` is used as a whole"), 0),
            },
            "local" => match attr(0) {
                Some(n) => (self.lookup.local(&n), 1),
                None => (Val::unknown("`local` is used as a whole"), 0),
            },
            "path" => match attr(0) {
                Some(n) => (self.lookup.path(&n), 1),
                None => (Val::unknown("`path` is used as a whole"), 0),
            },
            "data" => match (attr(0), attr(1)) {
                (Some(ty), Some(n)) => (self.lookup.data(&ty, &n), 2),
                _ => (Val::unknown("a data source is read at plan time"), 0),
            },
            "count" | "each" => (
                Val::error(format!(
                    "`{name}` is used outside a block that sets {}",
                    if name == "count" { "count" } else { "for_each" }
                )),
                0,
            ),
            "module" => match attr(0) {
                Some(n) => (
                    Val::unknown(format!(
                        "`module.{n}` is a module output, which freetier check does not evaluate"
                    )),
                    ops.len(),
                ),
                None => (Val::unknown("`module` is used as a whole"), 0),
            },
            "terraform" => (
                Val::unknown("`terraform.workspace` depends on the workspace selected at plan"),
                ops.len(),
            ),
            "self" => (
                Val::unknown("`self` refers to the resource's own attributes, known at apply"),
                ops.len(),
            ),
            _ => match attr(0) {
                Some(n) => (
                    Val::unknown(format!(
                        "`{name}.{n}` is a resource attribute, known only once Terraform plans"
                    )),
                    ops.len(),
                ),
                None => (Val::error(format!("`{name}` is not defined")), 0),
            },
        }
    }

    fn apply_ops(&mut self, mut v: Val, ops: &[&TraversalOperator]) -> Val {
        for (i, op) in ops.iter().enumerate() {
            if let Val::Unknown(_) = v {
                return v;
            }
            v = match op {
                TraversalOperator::GetAttr(name) => get_attr(v, name.as_str()),
                TraversalOperator::Index(index) => {
                    let key = self.eval(index);
                    index_value(v, key)
                }
                TraversalOperator::LegacyIndex(n) => index_value(v, Val::Num(*n.value() as f64)),
                TraversalOperator::AttrSplat(_) | TraversalOperator::FullSplat(_) => {
                    let rest = &ops[i + 1..];
                    let items = match v {
                        Val::List(items) => items,
                        Val::Null => Vec::new(),
                        other => vec![other],
                    };
                    let out = items
                        .into_iter()
                        .map(|item| self.apply_ops(item, rest))
                        .collect();
                    return Val::List(out);
                }
            };
        }
        v
    }

    fn template(&mut self, t: &Template) -> Val {
        let mut out = String::new();
        for element in t.iter() {
            match element {
                Element::Literal(s) => out.push_str(s.value()),
                Element::Interpolation(i) => match self.eval(&i.expr) {
                    Val::Unknown(why) => return Val::Unknown(why),
                    v => match v.to_string_value() {
                        Ok(s) => out.push_str(&s),
                        Err(e) => return Val::error(format!("in a template: {e}")),
                    },
                },
                Element::Directive(d) => match d.as_ref() {
                    Directive::If(dir) => match self.eval(&dir.if_expr.cond_expr) {
                        Val::Bool(true) => match self.template(&dir.if_expr.template) {
                            Val::Str(s) => out.push_str(&s),
                            other => return other,
                        },
                        Val::Bool(false) => {
                            if let Some(else_expr) = &dir.else_expr {
                                match self.template(&else_expr.template) {
                                    Val::Str(s) => out.push_str(&s),
                                    other => return other,
                                }
                            }
                        }
                        Val::Unknown(why) => return Val::Unknown(why),
                        other => {
                            return Val::error(format!(
                                "a template condition must be a bool, not {}",
                                other.type_name()
                            ))
                        }
                    },
                    Directive::For(dir) => {
                        let f = &dir.for_expr;
                        let pairs = match iterate(self.eval(&f.collection_expr)) {
                            Ok(pairs) => pairs,
                            Err(v) => return v,
                        };
                        for (k, v) in pairs {
                            let mark = self.bindings.len();
                            if let Some(kv) = &f.key_var {
                                self.bindings.push((kv.as_str().to_owned(), k));
                            }
                            self.bindings.push((f.value_var.as_str().to_owned(), v));
                            let part = self.template(&f.template);
                            self.bindings.truncate(mark);
                            match part {
                                Val::Str(s) => out.push_str(&s),
                                other => return other,
                            }
                        }
                    }
                },
            }
        }
        Val::Str(out)
    }

    fn for_expr(&mut self, f: &ForExpr) -> Val {
        let pairs = match iterate(self.eval(&f.intro.collection_expr)) {
            Ok(pairs) => pairs,
            Err(v) => return v,
        };
        let key_var = f.intro.key_var.as_ref().map(|k| k.as_str().to_owned());
        let value_var = f.intro.value_var.as_str().to_owned();
        let mut list = Vec::new();
        let mut map: BTreeMap<String, Val> = BTreeMap::new();
        let mut groups: BTreeMap<String, Vec<Val>> = BTreeMap::new();
        for (k, v) in pairs {
            let mark = self.bindings.len();
            if let Some(kv) = &key_var {
                self.bindings.push((kv.clone(), k));
            }
            self.bindings.push((value_var.clone(), v));
            let result = self.for_item(f);
            self.bindings.truncate(mark);
            match result {
                Err(v) => return v,
                Ok(None) => {}
                Ok(Some((None, value))) => list.push(value),
                Ok(Some((Some(key), value))) => {
                    if f.grouping {
                        groups.entry(key).or_default().push(value);
                    } else {
                        match map.entry(key) {
                            std::collections::btree_map::Entry::Occupied(e) => {
                                return Val::error(format!(
                                    "the for expression makes the key {:?} twice; add `...` to \
                                     group",
                                    e.key()
                                ))
                            }
                            std::collections::btree_map::Entry::Vacant(e) => {
                                e.insert(value);
                            }
                        }
                    }
                }
            }
        }
        if f.key_expr.is_some() {
            if f.grouping {
                Val::Map(groups.into_iter().map(|(k, v)| (k, Val::List(v))).collect())
            } else {
                Val::Map(map)
            }
        } else {
            Val::List(list)
        }
    }

    // One element of a for expression: None when its condition drops it; Err for a value that
    // makes the whole expression unknown.
    #[allow(clippy::type_complexity)]
    fn for_item(&mut self, f: &ForExpr) -> Result<Option<(Option<String>, Val)>, Val> {
        if let Some(cond) = &f.cond {
            match self.eval(&cond.expr) {
                Val::Bool(true) => {}
                Val::Bool(false) => return Ok(None),
                Val::Unknown(why) => return Err(Val::Unknown(why)),
                other => {
                    return Err(Val::error(format!(
                        "a for condition must be a bool, not {}",
                        other.type_name()
                    )))
                }
            }
        }
        let key = match &f.key_expr {
            Some(k) => match self.eval(k) {
                Val::Unknown(why) => return Err(Val::Unknown(why)),
                v => match v.to_string_value() {
                    Ok(s) => Some(s),
                    Err(e) => return Err(Val::error(format!("for expression key: {e}"))),
                },
            },
            None => None,
        };
        Ok(Some((key, self.eval(&f.value_expr))))
    }

    fn try_can(&mut self, name: &str, args: Vec<&Expression>) -> Val {
        if name == "can" {
            if args.len() != 1 {
                return Val::error("can() takes one argument");
            }
            return match self.eval(args[0]) {
                Val::Unknown(Why { error: true, .. }) => Val::Bool(false),
                Val::Unknown(why) => Val::Unknown(why),
                _ => Val::Bool(true),
            };
        }
        let mut last = Val::error("try() needs at least one argument");
        for a in args {
            match self.eval(a) {
                Val::Unknown(Why { error: true, text }) => {
                    last = Val::Unknown(Why { error: true, text });
                }
                other => return other,
            }
        }
        last
    }
}

/// The (key, value) pairs a `for` or `for_each` walks: a list gives (index, element), a map
/// (key, value). `Err` holds the value to return instead (unknown, or an error).
pub fn iterate(collection: Val) -> Result<Vec<(Val, Val)>, Val> {
    match collection {
        Val::List(items) => Ok(items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (Val::Num(i as f64), v))
            .collect()),
        Val::Map(map) => Ok(map.into_iter().map(|(k, v)| (Val::Str(k), v)).collect()),
        Val::Unknown(why) => Err(Val::Unknown(why)),
        other => Err(Val::error(format!(
            "cannot iterate over {}",
            other.type_name()
        ))),
    }
}

fn get_attr(v: Val, name: &str) -> Val {
    match v {
        Val::Map(mut map) => match map.remove(name) {
            Some(x) => x,
            None => Val::error(format!("the object has no attribute {name:?}")),
        },
        Val::Unknown(why) => Val::Unknown(why),
        Val::Null => Val::error(format!("cannot read .{name} of null")),
        other => Val::error(format!("cannot read .{name} of a {}", other.type_name())),
    }
}

fn index_value(v: Val, key: Val) -> Val {
    match (v, key) {
        (Val::Unknown(why), _) | (_, Val::Unknown(why)) => Val::Unknown(why),
        (Val::List(mut items), key) => match key.to_number() {
            Ok(n) if n >= 0.0 && n.fract() == 0.0 && (n as usize) < items.len() => {
                items.swap_remove(n as usize)
            }
            Ok(n) => Val::error(format!(
                "index {} is out of range for a list of {}",
                format_num(n),
                items.len()
            )),
            Err(e) => Val::error(format!("list index: {e}")),
        },
        (Val::Map(mut map), key) => match key.to_string_value() {
            Ok(k) => match map.remove(&k) {
                Some(x) => x,
                None => Val::error(format!("the map has no key {k:?}")),
            },
            Err(e) => Val::error(format!("map key: {e}")),
        },
        (Val::Null, _) => Val::error("cannot index null"),
        (other, _) => Val::error(format!("cannot index a {}", other.type_name())),
    }
}

/// Terraform equality: same type and value (a number equals a number, lists element-wise).
fn equal(a: &Val, b: &Val) -> Val {
    if let Some(why) = a.first_unknown().or_else(|| b.first_unknown()) {
        return Val::Unknown(why.clone());
    }
    Val::Bool(a == b)
}

fn binary(op: BinaryOperator, lhs: Val, rhs: Val) -> Val {
    use BinaryOperator::*;
    match op {
        Eq => return equal(&lhs, &rhs),
        NotEq => {
            return match equal(&lhs, &rhs) {
                Val::Bool(b) => Val::Bool(!b),
                other => other,
            }
        }
        _ => {}
    }
    // `unknown && false` is false and `unknown || true` is true, whatever the unknown is.
    match (op, &lhs, &rhs) {
        (And, _, Val::Bool(false)) | (And, Val::Bool(false), _) => return Val::Bool(false),
        (Or, _, Val::Bool(true)) | (Or, Val::Bool(true), _) => return Val::Bool(true),
        _ => {}
    }
    match (&lhs, &rhs) {
        (Val::Unknown(why), _) => return Val::Unknown(why.clone()),
        (_, Val::Unknown(why)) => return Val::Unknown(why.clone()),
        _ => {}
    }
    match op {
        And | Or => match (&lhs, &rhs) {
            (Val::Bool(a), Val::Bool(b)) => Val::Bool(if op == And { *a && *b } else { *a || *b }),
            _ => Val::error(format!(
                "`{}` needs bools, not {} and {}",
                if op == And { "&&" } else { "||" },
                lhs.type_name(),
                rhs.type_name()
            )),
        },
        _ => {
            let (a, b) = match (lhs.to_number(), rhs.to_number()) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(e), _) | (_, Err(e)) => {
                    return Val::error(format!("arithmetic needs numbers: {e}"))
                }
            };
            match op {
                Plus => Val::Num(a + b),
                Minus => Val::Num(a - b),
                Mul => Val::Num(a * b),
                Div if b == 0.0 => Val::error("division by zero"),
                Div => Val::Num(a / b),
                Mod if b == 0.0 => Val::error("modulo by zero"),
                Mod => Val::Num(a % b),
                Less => Val::Bool(a < b),
                LessEq => Val::Bool(a <= b),
                Greater => Val::Bool(a > b),
                GreaterEq => Val::Bool(a >= b),
                Eq | NotEq | And | Or => Val::error("unreachable operator"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Vars;
    impl Lookup for Vars {
        fn var(&self, name: &str) -> Val {
            match name {
                "n" => Val::Num(3.0),
                "nodes" => {
                    let mut m = BTreeMap::new();
                    m.insert("a".into(), Val::Num(1.0));
                    m.insert("b".into(), Val::Num(2.0));
                    Val::Map(m)
                }
                _ => Val::unknown(format!("`var.{name}` has no value")),
            }
        }
        fn local(&self, name: &str) -> Val {
            Val::unknown(format!("`local.{name}`"))
        }
        fn data(&self, ty: &str, name: &str) -> Val {
            Val::unknown(format!("`data.{ty}.{name}`"))
        }
        fn path(&self, _: &str) -> Val {
            Val::Str(".".into())
        }
    }

    fn eval(src: &str) -> Val {
        let e: Expression = hcl::edit::parser::parse_expr(src).expect(src);
        Eval::new(&Vars, Vec::new()).eval(&e)
    }

    #[test]
    fn expressions_evaluate_or_say_why_not() {
        let known: &[(&str, &str, Val)] = &[
            ("arithmetic", "var.n * 2 + 1", Val::Num(7.0)),
            ("conditional", "var.n > 2 ? 4 : 1", Val::Num(4.0)),
            (
                "unknown condition, same branches",
                "var.x ? 2 : 2",
                Val::Num(2.0),
            ),
            ("false and unknown", "false && var.x", Val::Bool(false)),
            (
                "for over map",
                "sum([for k, v in var.nodes : v])",
                Val::Num(3.0),
            ),
            (
                "splat",
                "[{a = 1}, {a = 2}][*].a",
                Val::List(vec![Val::Num(1.0), Val::Num(2.0)]),
            ),
            ("template", "\"n-${var.n}\"", Val::Str("n-3".into())),
            ("try falls back", "try(var.nodes.c, 5)", Val::Num(5.0)),
            ("can", "can(var.nodes.c)", Val::Bool(false)),
            (
                "length of partly unknown",
                "length([1, var.x])",
                Val::Num(2.0),
            ),
            (
                "lookup default",
                "lookup(var.nodes, \"z\", 9)",
                Val::Num(9.0),
            ),
            ("numeric string", "\"2\" + 1", Val::Num(3.0)),
        ];
        for (name, src, want) in known {
            assert_eq!(&eval(src), want, "{name}: {src}");
        }
        let unknown: &[(&str, &str, &str)] = &[
            ("missing variable", "var.x + 1", "var.x"),
            (
                "resource attribute",
                "oci_core_vcn.main.id",
                "resource attribute",
            ),
            (
                "data source",
                "data.oci_identity_availability_domains.ads.availability_domains",
                "data.oci",
            ),
            ("unknown condition", "var.x ? 1 : 2", "var.x"),
            (
                "unsupported function",
                "cidrhost(\"10.0.0.0/16\", 1)",
                "cidrhost",
            ),
            ("division by zero", "1 / 0", "division"),
            ("try keeps unknown", "try(var.x, 1)", "var.x"),
        ];
        for (name, src, needle) in unknown {
            match eval(src) {
                Val::Unknown(why) => assert!(why.text.contains(needle), "{name}: {}", why.text),
                other => panic!("{name}: {src} gave {other:?}"),
            }
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let src = format!("{}1{}", "(".repeat(100), ")".repeat(100));
        if let Ok(e) = hcl::edit::parser::parse_expr(&src) {
            let mut ev = Eval::new(&Vars, Vec::new());
            ev.depth = MAX_DEPTH - 10;
            assert!(ev.eval(&e).is_unknown());
        }
    }
}
