//! Provider-defined functions (protocol 5.5: Terraform 1.8+, OpenTofu 1.7+).

use super::types::Type;
use super::value::Value;

/// One parameter of a function.
#[derive(Debug, Clone)]
pub struct Parameter {
    /// Its name, shown in errors and docs.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// Markdown description.
    pub description: String,
    /// Whether null may be passed.
    pub allow_null: bool,
}

impl Parameter {
    /// A parameter that refuses null.
    pub fn new(name: &str, ty: Type, description: &str) -> Parameter {
        Parameter {
            name: name.to_string(),
            ty,
            description: description.to_string(),
            allow_null: false,
        }
    }
}

/// What a function takes and returns.
#[derive(Debug, Clone)]
pub struct Signature {
    /// Positional parameters.
    pub parameters: Vec<Parameter>,
    /// The return type.
    pub return_type: Type,
    /// One-line summary.
    pub summary: String,
    /// Markdown description.
    pub description: String,
}

/// A function failure, pointing at the argument at fault when there is one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{text}")]
pub struct FunctionError {
    /// What went wrong and what to do instead.
    pub text: String,
    /// Zero-based index of the argument at fault.
    pub argument: Option<i64>,
}

impl FunctionError {
    /// An error about argument `index`.
    pub fn argument(index: usize, text: impl Into<String>) -> FunctionError {
        FunctionError {
            text: text.into(),
            argument: Some(index as i64),
        }
    }
    /// An error about the call as a whole.
    pub fn general(text: impl Into<String>) -> FunctionError {
        FunctionError {
            text: text.into(),
            argument: None,
        }
    }
}

/// A provider-defined function: pure, called at plan time.
pub trait Function: Send + Sync + 'static {
    /// Its name, without the `provider::NAME::` prefix.
    fn name(&self) -> &'static str;
    /// Its signature.
    fn signature(&self) -> Signature;
    /// Runs it. Arguments are known and typed per the signature (Terraform does not call a
    /// function with unknown arguments unless allowed; they would arrive as unknown).
    fn call(&self, args: &[Value]) -> Result<Value, FunctionError>;
}
