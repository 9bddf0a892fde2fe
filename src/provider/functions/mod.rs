//! Provider functions (Terraform 1.8+, OpenTofu 1.7+): the rulebook inside expressions,
//! for `precondition` and `validation` blocks.

pub mod ampere_layout;
pub mod violations;

use crate::framework::{FunctionError, Value};
use crate::rules::Tier;

/// Reads the tier argument at `index`.
pub fn tier_arg(v: &Value, index: usize) -> Result<Tier, FunctionError> {
    let name = v
        .as_str()
        .ok_or_else(|| FunctionError::argument(index, "tier must be a string"))?;
    Tier::parse(name).map_err(|e| FunctionError::argument(index, e.to_string()))
}
