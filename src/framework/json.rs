//! The JSON DynamicValue codec, driven by a type.
//!
//! Terraform sends JSON only in UpgradeResourceState (the stored state, shaped by the schema it
//! was written with). Unknowns have no JSON form. A `dynamic` slot is `{"type": T, "value": V}`.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use super::codec::CodecError;
use super::number::Number;
use super::path::{AttributePath, PathStep};
use super::types::Type;
use super::value::Value;

/// Decodes JSON bytes as a value of type `ty`.
pub fn decode_bytes(bytes: &[u8], ty: &Type) -> Result<Value, CodecError> {
    let j: Json = serde_json::from_slice(bytes)
        .map_err(|e| CodecError::new(&AttributePath::default(), format!("invalid JSON: {e}")))?;
    decode(&j, ty)
}

/// Decodes parsed JSON as a value of type `ty`. Object attributes that the type lacks are an
/// error; attributes the JSON lacks read as null.
pub fn decode(j: &Json, ty: &Type) -> Result<Value, CodecError> {
    decode_at(j, ty, &mut AttributePath::default(), false)
}

/// Like [`decode`], but drops object attributes the type does not have. Terraform strips
/// attributes removed from a schema before handing state over only when versions match, so
/// state upgrades need this leniency.
pub fn decode_lenient(j: &Json, ty: &Type) -> Result<Value, CodecError> {
    decode_at(j, ty, &mut AttributePath::default(), true)
}

fn decode_at(
    j: &Json,
    ty: &Type,
    path: &mut AttributePath,
    lenient: bool,
) -> Result<Value, CodecError> {
    let mismatch = |path: &AttributePath| {
        CodecError::new(path, format!("expected {ty}, found JSON {}", kind(j)))
    };
    match (j, ty) {
        (Json::Null, _) => Ok(Value::Null),
        (Json::String(s), Type::String) => Ok(Value::String(s.clone())),
        (Json::Number(n), Type::Number) => n
            .to_string()
            .parse::<Number>()
            .map(Value::Number)
            .map_err(|e| CodecError::new(path, e.to_string())),
        // Older states and hand-written JSON sometimes spell numbers and bools as strings.
        (Json::String(s), Type::Number) => s
            .parse::<Number>()
            .map(Value::Number)
            .map_err(|e| CodecError::new(path, e.to_string())),
        (Json::Bool(b), Type::Bool) => Ok(Value::Bool(*b)),
        (Json::String(s), Type::Bool) => match s.as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(mismatch(path)),
        },
        (Json::Array(items), Type::List(e) | Type::Set(e)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(PathStep::Index(i as i64));
                out.push(decode_at(item, e, path, lenient)?);
                path.pop();
            }
            Ok(if matches!(ty, Type::List(_)) {
                Value::List(out)
            } else {
                Value::Set(out)
            })
        }
        (Json::Array(items), Type::Tuple(es)) if items.len() == es.len() => {
            let mut out = Vec::with_capacity(items.len());
            for (i, (item, e)) in items.iter().zip(es).enumerate() {
                path.push(PathStep::Index(i as i64));
                out.push(decode_at(item, e, path, lenient)?);
                path.pop();
            }
            Ok(Value::Tuple(out))
        }
        (Json::Object(m), Type::Map(e)) => {
            let mut out = BTreeMap::new();
            for (k, item) in m {
                path.push(PathStep::Key(k.clone()));
                out.insert(k.clone(), decode_at(item, e, path, lenient)?);
                path.pop();
            }
            Ok(Value::Map(out))
        }
        (Json::Object(m), Type::Object(attrs)) => {
            let mut out = BTreeMap::new();
            for (k, item) in m {
                match attrs.get(k) {
                    Some(aty) => {
                        path.push(PathStep::Attribute(k.clone()));
                        out.insert(k.clone(), decode_at(item, aty, path, lenient)?);
                        path.pop();
                    }
                    None if lenient => {}
                    None => {
                        return Err(CodecError::new(
                            path,
                            format!("unsupported attribute {k:?}"),
                        ))
                    }
                }
            }
            for k in attrs.keys() {
                out.entry(k.clone()).or_insert(Value::Null);
            }
            Ok(Value::Object(out))
        }
        (Json::Object(m), Type::Dynamic) => {
            let (Some(tj), Some(vj)) = (m.get("type"), m.get("value")) else {
                return Err(CodecError::new(
                    path,
                    "dynamic value needs \"type\" and \"value\"",
                ));
            };
            let concrete = Type::from_json(tj).map_err(|e| CodecError::new(path, e.to_string()))?;
            decode_at(vj, &concrete, path, lenient)
        }
        _ => Err(mismatch(path)),
    }
}

fn kind(j: &Json) -> &'static str {
    match j {
        Json::Null => "null",
        Json::Bool(_) => "bool",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

/// Encodes a wholly known value of type `ty` as JSON.
pub fn encode(v: &Value, ty: &Type) -> Result<Json, CodecError> {
    encode_at(v, ty, &mut AttributePath::default())
}

fn encode_at(v: &Value, ty: &Type, path: &mut AttributePath) -> Result<Json, CodecError> {
    Ok(match (v, ty) {
        (Value::Null, _) => Json::Null,
        (Value::Unknown, _) => {
            return Err(CodecError::new(path, "unknown values have no JSON form"))
        }
        (v, Type::Dynamic) => {
            let concrete = v.infer_type();
            let mut m = Map::new();
            m.insert("type".into(), concrete.to_json());
            m.insert("value".into(), encode_at(v, &concrete, path)?);
            Json::Object(m)
        }
        (Value::String(s), Type::String) => Json::String(s.clone()),
        (Value::Bool(b), Type::Bool) => Json::Bool(*b),
        (Value::Number(n), Type::Number) => match n {
            Number::Finite(_) => serde_json::from_str(&n.to_string())
                .map_err(|_| CodecError::new(path, "number has no JSON form"))?,
            _ => return Err(CodecError::new(path, "infinity has no JSON form")),
        },
        (Value::List(items) | Value::Set(items), Type::List(e) | Type::Set(e)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(PathStep::Index(i as i64));
                out.push(encode_at(item, e, path)?);
                path.pop();
            }
            Json::Array(out)
        }
        (Value::Tuple(items) | Value::List(items), Type::Tuple(es)) if items.len() == es.len() => {
            let mut out = Vec::with_capacity(items.len());
            for (i, (item, e)) in items.iter().zip(es).enumerate() {
                path.push(PathStep::Index(i as i64));
                out.push(encode_at(item, e, path)?);
                path.pop();
            }
            Json::Array(out)
        }
        (Value::Map(m) | Value::Object(m), Type::Map(e)) => {
            let mut out = Map::new();
            for (k, item) in m {
                path.push(PathStep::Key(k.clone()));
                out.insert(k.clone(), encode_at(item, e, path)?);
                path.pop();
            }
            Json::Object(out)
        }
        (Value::Object(m), Type::Object(attrs)) => {
            let mut out = Map::new();
            for (k, aty) in attrs {
                path.push(PathStep::Attribute(k.clone()));
                out.insert(
                    k.clone(),
                    encode_at(m.get(k).unwrap_or(&Value::Null), aty, path)?,
                );
                path.pop();
            }
            Json::Object(out)
        }
        (v, ty) => {
            return Err(CodecError::new(
                path,
                format!("a {} value cannot be written as {ty}", v.infer_type()),
            ))
        }
    })
}
