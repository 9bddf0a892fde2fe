//! Values with three states at every depth: known, null, or unknown (not known until apply).
//!
//! A `Value` carries no type of its own; the schema's type says how to read and write it.
//! Lists, sets and tuples stay distinct variants so a value can be checked against its type.

use std::collections::BTreeMap;
use std::fmt;

use super::number::Number;
use super::path::{AttributePath, PathStep};
use super::types::Type;

/// A cty value.
///
/// Its `Debug` output never shows a string's contents, only its length: a value carries no
/// schema, so it cannot tell a name from a private key. [`super::schema::Block::show`] shows a
/// value with only its sensitive attributes hidden.
#[derive(Clone, Default)]
pub enum Value {
    /// Known to be absent.
    #[default]
    Null,
    /// Not known until apply. Refinements Terraform may attach are not kept: a refined
    /// unknown is still an unknown.
    Unknown,
    /// A boolean.
    Bool(bool),
    /// An exact number.
    Number(Number),
    /// A string.
    String(String),
    /// A list, in order.
    List(Vec<Value>),
    /// A set, in no particular order.
    Set(Vec<Value>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A map.
    Map(BTreeMap<String, Value>),
    /// An object (also a block).
    Object(BTreeMap<String, Value>),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("Null"),
            Value::Unknown => f.write_str("Unknown"),
            Value::Bool(b) => write!(f, "Bool({b})"),
            Value::Number(n) => write!(f, "Number({n})"),
            Value::String(s) => write!(f, "String(<{} bytes>)", s.len()),
            Value::List(items) => f.debug_tuple("List").field(items).finish(),
            Value::Set(items) => f.debug_tuple("Set").field(items).finish(),
            Value::Tuple(items) => f.debug_tuple("Tuple").field(items).finish(),
            Value::Map(m) => f.debug_tuple("Map").field(m).finish(),
            Value::Object(m) => f.debug_tuple("Object").field(m).finish(),
        }
    }
}

impl PartialEq for Value {
    /// cty equality: numbers by value, sets regardless of order, unknown equals only unknown.
    fn eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) | (Unknown, Unknown) => true,
            (Bool(a), Bool(b)) => a == b,
            (Number(a), Number(b)) => a == b,
            (String(a), String(b)) => a == b,
            (List(a), List(b)) | (Tuple(a), Tuple(b)) => a == b,
            (Set(a), Set(b)) => a.len() == b.len() && a.iter().all(|x| b.contains(x)),
            (Map(a), Map(b)) | (Object(a), Object(b)) => a == b,
            _ => false,
        }
    }
}

impl Value {
    /// A string value.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }
    /// A whole-number value.
    pub fn int(n: i64) -> Value {
        Value::Number(Number::from_i64(n))
    }
    /// A float value; NaN becomes null, as it has no cty form.
    pub fn float(f: f64) -> Value {
        Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
    /// An object from `(name, value)` pairs.
    pub fn object<I, S>(attrs: I) -> Value
    where
        I: IntoIterator<Item = (S, Value)>,
        S: Into<String>,
    {
        Value::Object(attrs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// True for null.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    /// True for unknown (this value itself, not something inside it).
    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown)
    }
    /// True when nothing at any depth is unknown.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => {
                v.iter().all(Value::is_wholly_known)
            }
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            _ => true,
        }
    }

    /// The first path below this value that is unknown, if any.
    pub fn first_unknown(&self) -> Option<AttributePath> {
        fn walk(v: &Value, path: &mut AttributePath) -> bool {
            match v {
                Value::Unknown => true,
                Value::List(items) | Value::Tuple(items) => {
                    items.iter().enumerate().any(|(i, x)| {
                        path.push(PathStep::Index(i as i64));
                        let hit = walk(x, path);
                        if !hit {
                            path.pop();
                        }
                        hit
                    })
                }
                Value::Set(items) => items.iter().any(|x| walk(x, path)),
                Value::Map(m) => m.iter().any(|(k, x)| {
                    path.push(PathStep::Key(k.clone()));
                    let hit = walk(x, path);
                    if !hit {
                        path.pop();
                    }
                    hit
                }),
                Value::Object(m) => m.iter().any(|(k, x)| {
                    path.push(PathStep::Attribute(k.clone()));
                    let hit = walk(x, path);
                    if !hit {
                        path.pop();
                    }
                    hit
                }),
                _ => false,
            }
        }
        let mut path = AttributePath::default();
        walk(self, &mut path).then_some(path)
    }

    /// An attribute of an object; null for a missing attribute or a non-object.
    pub fn attr(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        match self {
            Value::Object(m) => m.get(name).unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    /// Sets an attribute; a null or unknown value becomes an empty object first.
    pub fn set_attr(&mut self, name: &str, v: Value) {
        if !matches!(self, Value::Object(_)) {
            *self = Value::Object(BTreeMap::new());
        }
        if let Value::Object(m) = self {
            m.insert(name.to_string(), v);
        }
    }

    /// The value at `path`; null when the path leads nowhere.
    pub fn at(&self, path: &AttributePath) -> &Value {
        static NULL: Value = Value::Null;
        let mut cur = self;
        for step in path.steps() {
            cur = match (step, cur) {
                (PathStep::Attribute(n), Value::Object(m)) => m.get(n).unwrap_or(&NULL),
                (PathStep::Key(k), Value::Map(m)) => m.get(k).unwrap_or(&NULL),
                (PathStep::Index(i), Value::List(v) | Value::Tuple(v)) => usize::try_from(*i)
                    .ok()
                    .and_then(|i| v.get(i))
                    .unwrap_or(&NULL),
                (_, Value::Unknown) => return cur,
                _ => return &NULL,
            };
        }
        cur
    }

    /// The string inside, if this is a known string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    /// The number inside, if this is a known number.
    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }
    /// The bool inside, if this is a known bool.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    /// The elements of a known list, set or tuple.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }
    /// The entries of a known map or object.
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) | Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The narrowest type this value could have, for writing it into a `dynamic` slot.
    /// Empty collections and nulls say nothing about their elements, so they become `dynamic`.
    pub fn infer_type(&self) -> Type {
        fn common(items: &[Value]) -> Type {
            let mut types = items
                .iter()
                .filter(|v| !v.is_null() && !v.is_unknown())
                .map(Value::infer_type);
            match types.next() {
                Some(first) if types.all(|t| t == first) => first,
                _ => Type::Dynamic,
            }
        }
        match self {
            Value::Null | Value::Unknown => Type::Dynamic,
            Value::Bool(_) => Type::Bool,
            Value::Number(_) => Type::Number,
            Value::String(_) => Type::String,
            Value::List(v) => Type::list(common(v)),
            Value::Set(v) => Type::set(common(v)),
            Value::Tuple(v) => Type::Tuple(v.iter().map(Value::infer_type).collect()),
            Value::Map(m) => Type::map(common(&m.values().cloned().collect::<Vec<_>>())),
            Value::Object(m) => {
                Type::Object(m.iter().map(|(k, v)| (k.clone(), v.infer_type())).collect())
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::int(n)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(o: Option<T>) -> Value {
        o.map(Into::into).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_equal_in_any_order_and_lists_are_not() {
        let a = Value::Set(vec![Value::int(1), Value::int(2)]);
        let b = Value::Set(vec![Value::int(2), Value::int(1)]);
        assert_eq!(a, b);
        assert_ne!(
            Value::List(vec![Value::int(1), Value::int(2)]),
            Value::List(vec![Value::int(2), Value::int(1)])
        );
    }

    #[test]
    fn unknown_is_found_at_any_depth() {
        let v = Value::object([(
            "a",
            Value::List(vec![Value::int(1), Value::object([("b", Value::Unknown)])]),
        )]);
        assert!(!v.is_wholly_known());
        assert_eq!(v.first_unknown().unwrap().to_string(), "a[1].b");
        assert!(Value::object([("a", Value::Null)]).is_wholly_known());
    }

    #[test]
    fn paths_that_lead_nowhere_read_as_null() {
        let v = Value::object([("a", Value::List(vec![]))]);
        assert!(v.at(&AttributePath::root("a").index(3)).is_null());
        assert!(v.at(&AttributePath::root("missing").attr("x")).is_null());
    }
}
