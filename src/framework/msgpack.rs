//! The msgpack DynamicValue codec, driven by a type.
//!
//! Wire facts (hashicorp/terraform docs/plugin-protocol/object-wire-format.md): null is nil;
//! an unknown is any extension (canonically `d4 00 00`; ext 12 carries refinements, which we
//! read as a plain unknown); numbers may be ints, floats or decimal strings; a `dynamic` slot
//! holds `[type JSON, value]`; objects list every attribute.

use std::collections::BTreeMap;

use rmp::Marker;

use super::codec::CodecError;
use super::number::{Number, NumberError};
use super::path::{AttributePath, PathStep};
use super::types::Type;
use super::value::Value;

/// Decodes msgpack bytes as a value of type `ty`.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, CodecError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let mut path = AttributePath::default();
    let v = r.value(ty, &mut path)?;
    if r.pos != bytes.len() {
        return Err(CodecError::new(
            &path,
            format!("{} trailing bytes after the value", bytes.len() - r.pos),
        ));
    }
    Ok(v)
}

/// Encodes a value of type `ty` as msgpack.
pub fn encode(v: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    let mut path = AttributePath::default();
    write_value(&mut out, v, ty, &mut path)?;
    Ok(out)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, path: &AttributePath) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(CodecError::new(path, "msgpack data ends early")),
        }
    }
    fn u8(&mut self, p: &AttributePath) -> Result<u8, CodecError> {
        Ok(self.take(1, p)?[0])
    }
    fn be<const N: usize>(&mut self, p: &AttributePath) -> Result<[u8; N], CodecError> {
        let s = self.take(N, p)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn len(&mut self, bytes: usize, p: &AttributePath) -> Result<usize, CodecError> {
        Ok(match bytes {
            1 => self.u8(p)? as usize,
            2 => u16::from_be_bytes(self.be(p)?) as usize,
            _ => u32::from_be_bytes(self.be(p)?) as usize,
        })
    }

    /// Reads one marker and its scalar payload; containers return their length.
    fn item(&mut self, p: &AttributePath) -> Result<Item<'a>, CodecError> {
        let m = Marker::from_u8(self.u8(p)?);
        Ok(match m {
            Marker::Null => Item::Nil,
            Marker::True => Item::Bool(true),
            Marker::False => Item::Bool(false),
            Marker::FixPos(n) => Item::Int(n as i64),
            Marker::FixNeg(n) => Item::Int(n as i64),
            Marker::U8 => Item::Int(self.u8(p)? as i64),
            Marker::U16 => Item::Int(u16::from_be_bytes(self.be(p)?) as i64),
            Marker::U32 => Item::Int(u32::from_be_bytes(self.be(p)?) as i64),
            Marker::U64 => Item::Uint(u64::from_be_bytes(self.be(p)?)),
            Marker::I8 => Item::Int(i8::from_be_bytes(self.be(p)?) as i64),
            Marker::I16 => Item::Int(i16::from_be_bytes(self.be(p)?) as i64),
            Marker::I32 => Item::Int(i32::from_be_bytes(self.be(p)?) as i64),
            Marker::I64 => Item::Int(i64::from_be_bytes(self.be(p)?)),
            Marker::F32 => Item::Float(f32::from_be_bytes(self.be(p)?) as f64),
            Marker::F64 => Item::Float(f64::from_be_bytes(self.be(p)?)),
            Marker::FixStr(n) => Item::Str(self.take(n as usize, p)?),
            Marker::Str8 | Marker::Bin8 => {
                let n = self.len(1, p)?;
                Item::Str(self.take(n, p)?)
            }
            Marker::Str16 | Marker::Bin16 => {
                let n = self.len(2, p)?;
                Item::Str(self.take(n, p)?)
            }
            Marker::Str32 | Marker::Bin32 => {
                let n = self.len(4, p)?;
                Item::Str(self.take(n, p)?)
            }
            Marker::FixArray(n) => Item::Array(n as usize),
            Marker::Array16 => Item::Array(self.len(2, p)?),
            Marker::Array32 => Item::Array(self.len(4, p)?),
            Marker::FixMap(n) => Item::Map(n as usize),
            Marker::Map16 => Item::Map(self.len(2, p)?),
            Marker::Map32 => Item::Map(self.len(4, p)?),
            Marker::FixExt1 => self.ext(1, p)?,
            Marker::FixExt2 => self.ext(2, p)?,
            Marker::FixExt4 => self.ext(4, p)?,
            Marker::FixExt8 => self.ext(8, p)?,
            Marker::FixExt16 => self.ext(16, p)?,
            Marker::Ext8 => {
                let n = self.len(1, p)?;
                self.ext(n, p)?
            }
            Marker::Ext16 => {
                let n = self.len(2, p)?;
                self.ext(n, p)?
            }
            Marker::Ext32 => {
                let n = self.len(4, p)?;
                self.ext(n, p)?
            }
            Marker::Reserved => return Err(CodecError::new(p, "reserved msgpack marker 0xc1")),
        })
    }

    fn ext(&mut self, len: usize, p: &AttributePath) -> Result<Item<'a>, CodecError> {
        self.take(1 + len, p)?; // type byte, then payload: any extension means unknown
        Ok(Item::Unknown)
    }

    fn value(&mut self, ty: &Type, path: &mut AttributePath) -> Result<Value, CodecError> {
        let item = self.item(path)?;
        match (item, ty) {
            (Item::Nil, _) => Ok(Value::Null),
            (Item::Unknown, _) => Ok(Value::Unknown),
            (Item::Str(s), Type::String) => std::str::from_utf8(s)
                .map(|s| Value::String(s.to_string()))
                .map_err(|_| CodecError::new(path, "string is not valid UTF-8")),
            (Item::Int(n), Type::Number) => Ok(Value::Number(Number::from_i64(n))),
            (Item::Uint(n), Type::Number) => Ok(Value::Number(Number::from_u64(n))),
            (Item::Float(f), Type::Number) => Number::from_f64_exact(f)
                .map(Value::Number)
                .ok_or_else(|| CodecError::new(path, "NaN is not a number")),
            (Item::Str(s), Type::Number) => match std::str::from_utf8(s).map(str::parse) {
                Ok(Ok(n)) => Ok(Value::Number(n)),
                // Out of range: say so, rather than "not a number".
                Ok(Err(e @ NumberError::OutOfRange(_))) => {
                    Err(CodecError::new(path, e.to_string()))
                }
                _ => Err(CodecError::new(path, "string is not a decimal number")),
            },
            (Item::Bool(b), Type::Bool) => Ok(Value::Bool(b)),
            (Item::Array(n), Type::List(e) | Type::Set(e)) => {
                let mut items = Vec::with_capacity(n.min(4096));
                for i in 0..n {
                    path.push(PathStep::Index(i as i64));
                    items.push(self.value(e, path)?);
                    path.pop();
                }
                Ok(if matches!(ty, Type::List(_)) {
                    Value::List(items)
                } else {
                    Value::Set(items)
                })
            }
            (Item::Array(n), Type::Tuple(es)) => {
                if n != es.len() {
                    return Err(CodecError::new(
                        path,
                        format!("tuple needs {} elements, got {n}", es.len()),
                    ));
                }
                let mut items = Vec::with_capacity(n);
                for (i, e) in es.iter().enumerate() {
                    path.push(PathStep::Index(i as i64));
                    items.push(self.value(e, path)?);
                    path.pop();
                }
                Ok(Value::Tuple(items))
            }
            (Item::Map(n), Type::Map(e)) => {
                let mut m = BTreeMap::new();
                for _ in 0..n {
                    let k = self.key(path)?;
                    path.push(PathStep::Key(k.clone()));
                    let v = self.value(e, path)?;
                    path.pop();
                    m.insert(k, v);
                }
                Ok(Value::Map(m))
            }
            (Item::Map(n), Type::Object(attrs)) => {
                let mut m = BTreeMap::new();
                for _ in 0..n {
                    let k = self.key(path)?;
                    let Some(aty) = attrs.get(&k) else {
                        return Err(CodecError::new(
                            path,
                            format!("unsupported attribute {k:?}"),
                        ));
                    };
                    path.push(PathStep::Attribute(k.clone()));
                    let v = self.value(aty, path)?;
                    path.pop();
                    m.insert(k, v);
                }
                // Absent attributes read as null, so a short object is never a crash.
                for k in attrs.keys() {
                    m.entry(k.clone()).or_insert(Value::Null);
                }
                Ok(Value::Object(m))
            }
            (Item::Array(2), Type::Dynamic) => {
                let tj = match self.item(path)? {
                    Item::Str(s) => s,
                    _ => {
                        return Err(CodecError::new(
                            path,
                            "dynamic value must start with its type JSON",
                        ))
                    }
                };
                let concrete =
                    Type::from_json_bytes(tj).map_err(|e| CodecError::new(path, e.to_string()))?;
                self.value(&concrete, path)
            }
            (item, ty) => Err(CodecError::new(
                path,
                format!("expected {ty}, found msgpack {}", item.kind()),
            )),
        }
    }

    fn key(&mut self, path: &AttributePath) -> Result<String, CodecError> {
        match self.item(path)? {
            Item::Str(s) => std::str::from_utf8(s)
                .map(str::to_string)
                .map_err(|_| CodecError::new(path, "map key is not valid UTF-8")),
            other => Err(CodecError::new(
                path,
                format!("map key must be a string, found {}", other.kind()),
            )),
        }
    }
}

enum Item<'a> {
    Nil,
    Unknown,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(&'a [u8]),
    Array(usize),
    Map(usize),
}

impl Item<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Item::Nil => "nil",
            Item::Unknown => "extension",
            Item::Bool(_) => "bool",
            Item::Int(_) | Item::Uint(_) => "integer",
            Item::Float(_) => "float",
            Item::Str(_) => "string",
            Item::Array(_) => "array",
            Item::Map(_) => "map",
        }
    }
}

/// The canonical unknown: fixext1, type 0, payload 0.
const UNKNOWN: [u8; 3] = [0xd4, 0, 0];

fn write_value(
    out: &mut Vec<u8>,
    v: &Value,
    ty: &Type,
    path: &mut AttributePath,
) -> Result<(), CodecError> {
    // `Vec<u8>` as a writer never fails, so rmp's write results are ignored below.
    match (v, ty) {
        (Value::Null, _) => {
            let _ = rmp::encode::write_nil(out);
        }
        (Value::Unknown, _) => out.extend_from_slice(&UNKNOWN),
        (v, Type::Dynamic) => {
            let concrete = v.infer_type();
            let _ = rmp::encode::write_array_len(out, 2);
            let tj = concrete.to_json_bytes();
            let _ = rmp::encode::write_bin(out, &tj);
            write_value(out, v, &concrete, path)?;
        }
        (Value::String(s), Type::String) => {
            let _ = rmp::encode::write_str(out, s);
        }
        (Value::Bool(b), Type::Bool) => {
            let _ = rmp::encode::write_bool(out, *b);
        }
        (Value::Number(n), Type::Number) => write_number(out, n),
        (Value::List(items) | Value::Set(items), Type::List(e) | Type::Set(e)) => {
            let _ = rmp::encode::write_array_len(out, items.len() as u32);
            for (i, item) in items.iter().enumerate() {
                path.push(PathStep::Index(i as i64));
                write_value(out, item, e, path)?;
                path.pop();
            }
        }
        (Value::Tuple(items) | Value::List(items), Type::Tuple(es)) if items.len() == es.len() => {
            let _ = rmp::encode::write_array_len(out, items.len() as u32);
            for (i, (item, e)) in items.iter().zip(es).enumerate() {
                path.push(PathStep::Index(i as i64));
                write_value(out, item, e, path)?;
                path.pop();
            }
        }
        (Value::Map(m) | Value::Object(m), Type::Map(e)) => {
            let _ = rmp::encode::write_map_len(out, m.len() as u32);
            for (k, item) in m {
                let _ = rmp::encode::write_str(out, k);
                path.push(PathStep::Key(k.clone()));
                write_value(out, item, e, path)?;
                path.pop();
            }
        }
        (Value::Object(m), Type::Object(attrs)) => {
            if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(CodecError::new(
                    path,
                    format!("unsupported attribute {extra:?}"),
                ));
            }
            // Every attribute is written, null where absent: go-cty refuses short objects.
            let _ = rmp::encode::write_map_len(out, attrs.len() as u32);
            for (k, aty) in attrs {
                let _ = rmp::encode::write_str(out, k);
                path.push(PathStep::Attribute(k.clone()));
                write_value(out, m.get(k).unwrap_or(&Value::Null), aty, path)?;
                path.pop();
            }
        }
        (v, ty) => {
            return Err(CodecError::new(
                path,
                format!("a {} value cannot be written as {ty}", v.infer_type()),
            ));
        }
    }
    Ok(())
}

fn write_number(out: &mut Vec<u8>, n: &Number) {
    // Same choice as terraform-plugin-go: an exact int as int, an exact float as float64,
    // anything else as its decimal text.
    if let Some(i) = n.as_i64() {
        let _ = rmp::encode::write_sint(out, i);
    } else if let Some(u) = n.as_u64() {
        let _ = rmp::encode::write_uint(out, u);
    } else if let Some(f) = n.as_exact_f64() {
        let _ = rmp::encode::write_f64(out, f);
    } else {
        let _ = rmp::encode::write_str(out, &n.to_string());
    }
}
