//! What the codecs share: their error, and the DynamicValue pair of encodings.

use super::path::AttributePath;
use super::types::Type;
use super::value::Value;
use super::{json, msgpack};

/// A value that does not fit its type, or bytes that are not a value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("at {path}: ") })]
pub struct CodecError {
    /// Where in the value the problem is.
    pub path: AttributePath,
    /// What is wrong there.
    pub message: String,
}

impl CodecError {
    pub(crate) fn new(path: &AttributePath, message: impl Into<String>) -> CodecError {
        CodecError {
            path: path.clone(),
            message: message.into(),
        }
    }
}

/// Decodes a DynamicValue's two encodings as Terraform does: msgpack first, then JSON; an
/// empty value is a typed null.
pub fn decode_dynamic(
    msgpack_bytes: &[u8],
    json_bytes: &[u8],
    ty: &Type,
) -> Result<Value, CodecError> {
    if !msgpack_bytes.is_empty() {
        msgpack::decode(msgpack_bytes, ty)
    } else if !json_bytes.is_empty() {
        json::decode_bytes(json_bytes, ty)
    } else {
        Ok(Value::Null)
    }
}
