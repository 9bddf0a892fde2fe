//! Values as `freetier check` sees them before any `init`: what Terraform would compute, or
//! [`Val::Unknown`] with the reason it cannot be known statically.
//!
//! Unknown is a value at every depth (STYLE.md): a list may hold known and unknown elements, so
//! `length()` of it is still known while one element is not.
//!
//! Imports nothing from the rest of the crate.

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

/// Why a value is not known statically.
#[derive(Clone, Debug, PartialEq)]
pub struct Why {
    /// True when evaluation failed (a type error, a missing key), so `try()` may recover; false
    /// when the value is merely not known before plan (a resource attribute, a data source).
    pub error: bool,
    /// One short clause: "`var.ocpus` has no value", "`oci_core_vcn.main.id` is known only
    /// after apply".
    pub text: Rc<str>,
}

/// A configuration value.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Val {
    /// `null`.
    #[default]
    Null,
    /// A bool.
    Bool(bool),
    /// A number (Terraform's are arbitrary precision; the rulebook works in `f64`).
    Num(f64),
    /// A string.
    Str(String),
    /// A list, tuple or set (sets are kept sorted and deduplicated by `toset`).
    List(Vec<Val>),
    /// A map or object, in Terraform's iteration order (lexical by key).
    Map(BTreeMap<String, Val>),
    /// Not known statically.
    Unknown(Why),
}

impl Val {
    /// A value not known before plan.
    pub fn unknown(text: impl Into<String>) -> Val {
        Val::Unknown(Why {
            error: false,
            text: Rc::from(text.into()),
        })
    }

    /// A value that failed to evaluate (recoverable by `try`).
    pub fn error(text: impl Into<String>) -> Val {
        Val::Unknown(Why {
            error: true,
            text: Rc::from(text.into()),
        })
    }

    /// True for [`Val::Unknown`] at the top level.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Val::Unknown(_))
    }

    /// The first unknown anywhere in this value, depth first.
    pub fn first_unknown(&self) -> Option<&Why> {
        match self {
            Val::Unknown(why) => Some(why),
            Val::List(items) => items.iter().find_map(Val::first_unknown),
            Val::Map(map) => map.values().find_map(Val::first_unknown),
            _ => None,
        }
    }

    /// True when no part of the value is unknown.
    pub fn is_wholly_known(&self) -> bool {
        self.first_unknown().is_none()
    }

    /// The string, when this is a known string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Terraform's type name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Null => "null",
            Val::Bool(_) => "bool",
            Val::Num(_) => "number",
            Val::Str(_) => "string",
            Val::List(_) => "list",
            Val::Map(_) => "object",
            Val::Unknown(_) => "unknown",
        }
    }

    /// The value as Terraform would convert it to a number: numbers, and strings that parse as
    /// one. `Err` names what it is instead.
    pub fn to_number(&self) -> Result<f64, String> {
        match self {
            Val::Num(n) => Ok(*n),
            Val::Str(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|_| !s.trim().is_empty() && is_number_literal(s.trim()))
                .ok_or_else(|| format!("the string {s:?} is not a number")),
            Val::Bool(b) => Err(format!("{b} is a bool, not a number")),
            Val::Null => Err("null is not a number".into()),
            Val::List(_) => Err("a list is not a number".into()),
            Val::Map(_) => Err("an object is not a number".into()),
            Val::Unknown(why) => Err(why.text.to_string()),
        }
    }

    /// The value as Terraform would convert it to a string (numbers and bools too).
    pub fn to_string_value(&self) -> Result<String, String> {
        match self {
            Val::Str(s) => Ok(s.clone()),
            Val::Num(n) => Ok(format_num(*n)),
            Val::Bool(b) => Ok(b.to_string()),
            Val::Null => Err("null cannot be used as a string here".into()),
            Val::List(_) => Err("a list cannot be used as a string".into()),
            Val::Map(_) => Err("an object cannot be used as a string".into()),
            Val::Unknown(why) => Err(why.text.to_string()),
        }
    }

    /// Converts from JSON (tfvars.json, plan JSON).
    pub fn from_json(j: &serde_json::Value) -> Val {
        match j {
            serde_json::Value::Null => Val::Null,
            serde_json::Value::Bool(b) => Val::Bool(*b),
            serde_json::Value::Number(n) => {
                // arbitrary_precision is on: parse the decimal text.
                let text = n.to_string();
                text.parse::<f64>()
                    .map(Val::Num)
                    .unwrap_or_else(|_| Val::error(format!("the number {text} cannot be read")))
            }
            serde_json::Value::String(s) => Val::Str(s.clone()),
            serde_json::Value::Array(items) => {
                Val::List(items.iter().map(Val::from_json).collect())
            }
            serde_json::Value::Object(map) => Val::Map(
                map.iter()
                    .map(|(k, v)| (k.clone(), Val::from_json(v)))
                    .collect(),
            ),
        }
    }
}

// Read straight from JSON (plan files) without building a `serde_json::Value` first: numbers
// as `f64` (also under serde_json's arbitrary_precision, which hands them over as a one-entry
// map), objects as sorted maps.
impl<'de> serde::Deserialize<'de> for Val {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Val, D::Error> {
        d.deserialize_any(ValVisitor)
    }
}

const JSON_NUMBER_TOKEN: &str = "$serde_json::private::Number";

struct ValVisitor;

impl<'de> serde::de::Visitor<'de> for ValVisitor {
    type Value = Val;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Val, E> {
        Ok(Val::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Val, E> {
        Ok(Val::Num(n as f64))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Val, E> {
        Ok(Val::Num(n as f64))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Val, E> {
        Ok(Val::Num(n))
    }
    fn visit_str<E>(self, s: &str) -> Result<Val, E> {
        Ok(Val::Str(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Val, E> {
        Ok(Val::Str(s))
    }
    fn visit_unit<E>(self) -> Result<Val, E> {
        Ok(Val::Null)
    }
    fn visit_none<E>(self) -> Result<Val, E> {
        Ok(Val::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Val, D::Error> {
        serde::Deserialize::deserialize(d)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Val, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(Val::List(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Val, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == JSON_NUMBER_TOKEN {
                let text: String = map.next_value()?;
                return Ok(text
                    .parse::<f64>()
                    .map(Val::Num)
                    .unwrap_or_else(|_| Val::error(format!("the number {text} cannot be read"))));
            }
            let v: Val = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Val::Map(out))
    }
}

// A decimal number as HCL and JSON write them: no hex, no "inf", no "nan".
fn is_number_literal(s: &str) -> bool {
    let s = s
        .strip_prefix('-')
        .or_else(|| s.strip_prefix('+'))
        .unwrap_or(s);
    !s.is_empty()
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '.')
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
}

/// A number as Terraform prints it: `2`, `1.5`, `1e+30` for the huge.
pub fn format_num(n: f64) -> String {
    if n.is_nan() {
        "NaN".into()
    } else if n.is_infinite() {
        if n > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

impl fmt::Display for Val {
    /// A short HCL-like rendering for messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Null => f.write_str("null"),
            Val::Bool(b) => write!(f, "{b}"),
            Val::Num(n) => f.write_str(&format_num(*n)),
            Val::Str(s) => write!(f, "{s:?}"),
            Val::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Val::Map(map) => {
                f.write_str("{")?;
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} = {v}")?;
                }
                f.write_str("}")
            }
            Val::Unknown(_) => f.write_str("(not known before plan)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_convert_like_terraform() {
        let cases: &[(&str, Val, Option<f64>)] = &[
            ("number", Val::Num(2.0), Some(2.0)),
            ("numeric string", Val::Str("4".into()), Some(4.0)),
            ("fraction string", Val::Str("1.5".into()), Some(1.5)),
            ("word", Val::Str("two".into()), None),
            ("inf is not a literal", Val::Str("inf".into()), None),
            ("empty", Val::Str(String::new()), None),
            ("bool", Val::Bool(true), None),
            ("null", Val::Null, None),
        ];
        for (name, v, want) in cases {
            assert_eq!(v.to_number().ok(), *want, "{name}");
        }
    }

    #[test]
    fn numbers_print_like_terraform() {
        let cases = [
            (2.0, "2"),
            (1.5, "1.5"),
            (-3.0, "-3"),
            (1e30, "1000000000000000000000000000000"),
        ];
        for (n, want) in cases {
            assert_eq!(format_num(n), want);
        }
    }
}
