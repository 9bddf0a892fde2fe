//! cty types: the type system of every value that crosses the wire.
//!
//! A DynamicValue is lossy (lists, sets and tuples all look like arrays), so every codec is
//! driven by one of these types. The JSON form is go-cty's compact type syntax, which Terraform
//! parses from `Schema.Attribute.type`; an invalid one crashes Terraform, so the encoder here
//! is the only way types reach the wire.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{json, Value as Json};

/// A cty type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Type {
    /// A UTF-8 string.
    String,
    /// An arbitrary-precision number.
    Number,
    /// A boolean.
    Bool,
    /// Any type, decided per value (`[type, value]` on the wire).
    Dynamic,
    /// An ordered sequence of one element type.
    List(Box<Type>),
    /// An unordered collection of unique elements of one type.
    Set(Box<Type>),
    /// String-keyed elements of one type.
    Map(Box<Type>),
    /// A fixed sequence of possibly different types.
    Tuple(Vec<Type>),
    /// Named attributes of possibly different types.
    Object(BTreeMap<String, Type>),
}

/// A type expression that is not valid cty type JSON.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid type {found}: {reason}")]
pub struct TypeError {
    /// The JSON that was offered.
    pub found: String,
    /// Why it is not a type.
    pub reason: &'static str,
}

impl Type {
    /// `list(elem)`.
    pub fn list(elem: Type) -> Type {
        Type::List(Box::new(elem))
    }
    /// `set(elem)`.
    pub fn set(elem: Type) -> Type {
        Type::Set(Box::new(elem))
    }
    /// `map(elem)`.
    pub fn map(elem: Type) -> Type {
        Type::Map(Box::new(elem))
    }
    /// `object({...})` from `(name, type)` pairs.
    pub fn object<I, S>(attrs: I) -> Type
    where
        I: IntoIterator<Item = (S, Type)>,
        S: Into<String>,
    {
        Type::Object(attrs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// True when this type is, or contains, `dynamic`.
    pub fn has_dynamic(&self) -> bool {
        match self {
            Type::Dynamic => true,
            Type::List(e) | Type::Set(e) | Type::Map(e) => e.has_dynamic(),
            Type::Tuple(es) => es.iter().any(Type::has_dynamic),
            Type::Object(attrs) => attrs.values().any(Type::has_dynamic),
            _ => false,
        }
    }

    /// The compact JSON form Terraform expects in schemas and dynamic values.
    pub fn to_json(&self) -> Json {
        match self {
            Type::String => json!("string"),
            Type::Number => json!("number"),
            Type::Bool => json!("bool"),
            Type::Dynamic => json!("dynamic"),
            Type::List(e) => json!(["list", e.to_json()]),
            Type::Set(e) => json!(["set", e.to_json()]),
            Type::Map(e) => json!(["map", e.to_json()]),
            Type::Tuple(es) => json!(["tuple", es.iter().map(Type::to_json).collect::<Vec<_>>()]),
            Type::Object(attrs) => {
                let m: serde_json::Map<String, Json> = attrs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect();
                json!(["object", m])
            }
        }
    }

    /// The JSON form as bytes, for `Schema.Attribute.type` and dynamic values.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        // Serialising a serde_json::Value cannot fail.
        serde_json::to_vec(&self.to_json()).unwrap_or_default()
    }

    /// Parses go-cty's type JSON. Object types may carry a third element listing optional
    /// attributes (function parameters); it is accepted and ignored.
    pub fn from_json(j: &Json) -> Result<Type, TypeError> {
        let bad = |reason| TypeError {
            found: j.to_string(),
            reason,
        };
        match j {
            Json::String(s) => match s.as_str() {
                "string" => Ok(Type::String),
                "number" => Ok(Type::Number),
                "bool" => Ok(Type::Bool),
                "dynamic" => Ok(Type::Dynamic),
                _ => Err(bad("unknown primitive type name")),
            },
            Json::Array(parts) => {
                let kind = parts
                    .first()
                    .and_then(Json::as_str)
                    .ok_or_else(|| bad("missing type kind"))?;
                let arg = parts.get(1).ok_or_else(|| bad("missing type argument"))?;
                match kind {
                    "list" => Ok(Type::list(Type::from_json(arg)?)),
                    "set" => Ok(Type::set(Type::from_json(arg)?)),
                    "map" => Ok(Type::map(Type::from_json(arg)?)),
                    "tuple" => {
                        let elems = arg
                            .as_array()
                            .ok_or_else(|| bad("tuple needs an array of types"))?;
                        Ok(Type::Tuple(
                            elems
                                .iter()
                                .map(Type::from_json)
                                .collect::<Result<_, _>>()?,
                        ))
                    }
                    "object" => {
                        let attrs = arg
                            .as_object()
                            .ok_or_else(|| bad("object needs a map of types"))?;
                        let mut out = BTreeMap::new();
                        for (k, v) in attrs {
                            out.insert(k.clone(), Type::from_json(v)?);
                        }
                        Ok(Type::Object(out))
                    }
                    _ => Err(bad("unknown type kind")),
                }
            }
            _ => Err(bad("a type is a string or an array")),
        }
    }

    /// Parses type JSON from bytes.
    pub fn from_json_bytes(b: &[u8]) -> Result<Type, TypeError> {
        let j: Json = serde_json::from_slice(b).map_err(|_| TypeError {
            found: String::from_utf8_lossy(b).into_owned(),
            reason: "not JSON",
        })?;
        Type::from_json(&j)
    }
}

impl fmt::Display for Type {
    /// HCL-style type syntax, as users write it: `list(string)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::String => f.write_str("string"),
            Type::Number => f.write_str("number"),
            Type::Bool => f.write_str("bool"),
            Type::Dynamic => f.write_str("any"),
            Type::List(e) => write!(f, "list({e})"),
            Type::Set(e) => write!(f, "set({e})"),
            Type::Map(e) => write!(f, "map({e})"),
            Type::Tuple(es) => {
                f.write_str("tuple([")?;
                for (i, e) in es.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str("])")
            }
            Type::Object(attrs) => {
                f.write_str("object({")?;
                for (i, (k, v)) in attrs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} = {v}")?;
                }
                f.write_str("})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_json_round_trips_in_gocty_syntax() {
        let cases = [
            ("primitive", Type::String, r#""string""#),
            ("list", Type::list(Type::Number), r#"["list","number"]"#),
            (
                "nested",
                Type::map(Type::set(Type::Bool)),
                r#"["map",["set","bool"]]"#,
            ),
            (
                "tuple",
                Type::Tuple(vec![Type::String, Type::Dynamic]),
                r#"["tuple",["string","dynamic"]]"#,
            ),
            (
                "object",
                Type::object([("b", Type::Number), ("a", Type::String)]),
                r#"["object",{"a":"string","b":"number"}]"#,
            ),
        ];
        for (name, ty, json) in cases {
            assert_eq!(
                String::from_utf8(ty.to_json_bytes()).unwrap(),
                json,
                "{name}"
            );
            assert_eq!(
                Type::from_json_bytes(json.as_bytes()).unwrap(),
                ty,
                "{name}"
            );
        }
    }

    #[test]
    fn unknown_type_names_are_errors_not_panics() {
        for bad in [
            r#""strin""#,
            r#"["list"]"#,
            r#"["tuple","string"]"#,
            "42",
            "{",
            r#"["frob","string"]"#,
        ] {
            assert!(Type::from_json_bytes(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn object_types_with_optional_attribute_lists_are_accepted() {
        let t = Type::from_json_bytes(br#"["object",{"a":"string"},["a"]]"#).unwrap();
        assert_eq!(t, Type::object([("a", Type::String)]));
    }
}
