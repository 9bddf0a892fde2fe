//! `provider::freetier::violations(tier, allocation)`: the list of free-tier violations of an
//! allocation, for `precondition` and `validation` blocks. The allocation is an object in the
//! `freetier_allocation` shape: `{ instances = [{ name, shape, ocpus, memory_gb,
//! boot_volume_gb }], block_volumes = [...], reserved_public_ips = 1, ... }`.

use crate::framework::*;
use crate::provider::allocation;
use crate::rules::{self, Severity};

/// The function.
pub struct Violations;

fn violation_type() -> Type {
    Type::object([
        ("rule", Type::String),
        ("severity", Type::String),
        ("path", Type::String),
        ("summary", Type::String),
        ("detail", Type::String),
    ])
}

impl Function for Violations {
    fn name(&self) -> &'static str {
        "violations"
    }

    fn signature(&self) -> Signature {
        Signature {
            parameters: vec![
                Parameter::new("tier", Type::String, "`always_free` or `pay_as_you_go`."),
                Parameter::new("allocation", Type::Dynamic, "What the stack creates, as an object shaped like `freetier_allocation`'s arguments (plural keys: `instances`, `block_volumes`, …)."),
            ],
            return_type: Type::list(violation_type()),
            summary: "The free-tier violations of an allocation".into(),
            description: "Each violation has `rule`, `severity` (`error` or `warning`), `path` (the attribute at fault), `summary` and `detail` (limit, total, overrun, source). An empty list means the allocation is free.".into(),
        }
    }

    fn call(&self, args: &[Value]) -> Result<Value, FunctionError> {
        let tier = super::tier_arg(&args[0], 0)?;
        if !matches!(args[1], Value::Object(_) | Value::Map(_)) {
            return Err(FunctionError::argument(
                1,
                "allocation must be an object such as { instances = [...] }",
            ));
        }
        let report = rules::check(tier, &allocation::from_value(&args[1]));
        Ok(Value::List(
            report
                .violations
                .iter()
                .map(|v| {
                    Value::object([
                        ("rule", Value::from(v.rule.as_str())),
                        (
                            "severity",
                            Value::from(if v.severity == Severity::Error {
                                "error"
                            } else {
                                "warning"
                            }),
                        ),
                        ("path", Value::from(v.subject.to_string())),
                        ("summary", Value::from(v.summary)),
                        ("detail", Value::from(v.detail.clone())),
                    ])
                })
                .collect(),
        ))
    }
}
