//! `provider::freetier::ampere_layout(tier, nodes)`: a valid A1 layout for `nodes` nodes,
//! with the block storage left for Ceph once the boot volumes and the micro bastion are counted.

use crate::framework::*;
use crate::rules;

/// The function.
pub struct AmpereLayout;

fn node_type() -> Type {
    Type::object([
        ("index", Type::Number),
        ("ocpus", Type::Number),
        ("memory_gb", Type::Number),
        ("boot_volume_gb", Type::Number),
    ])
}

/// The return type.
pub fn return_type() -> Type {
    Type::object([
        ("tier", Type::String),
        ("nodes", Type::list(node_type())),
        (
            "bastion",
            Type::object([
                ("shape", Type::String),
                ("ocpus", Type::Number),
                ("memory_gb", Type::Number),
                ("boot_volume_gb", Type::Number),
            ]),
        ),
        ("storage_limit_gb", Type::Number),
        ("storage_used_gb", Type::Number),
        ("ceph_gb", Type::Number),
        ("notes", Type::list(Type::String)),
    ])
}

/// A layout as a value of [`return_type`].
pub fn layout_value(l: &rules::Layout) -> Value {
    Value::object([
        ("tier", Value::from(l.tier.as_str())),
        (
            "nodes",
            Value::List(
                l.nodes
                    .iter()
                    .map(|n| {
                        Value::object([
                            ("index", Value::int(i64::from(n.index))),
                            ("ocpus", Value::int(i64::from(n.ocpus))),
                            ("memory_gb", Value::float(n.memory_gb)),
                            ("boot_volume_gb", Value::float(n.boot_volume_gb)),
                        ])
                    })
                    .collect(),
            ),
        ),
        (
            "bastion",
            Value::object([
                ("shape", Value::from(l.bastion.shape)),
                ("ocpus", Value::float(l.bastion.ocpus)),
                ("memory_gb", Value::float(l.bastion.memory_gb)),
                ("boot_volume_gb", Value::float(l.bastion.boot_volume_gb)),
            ]),
        ),
        ("storage_limit_gb", Value::float(l.storage_limit_gb)),
        ("storage_used_gb", Value::float(l.storage_used_gb)),
        ("ceph_gb", Value::float(l.ceph_gb)),
        (
            "notes",
            Value::List(l.notes.iter().map(|n| Value::from(n.clone())).collect()),
        ),
    ])
}

impl Function for AmpereLayout {
    fn name(&self) -> &'static str {
        "ampere_layout"
    }

    fn signature(&self) -> Signature {
        Signature {
            parameters: vec![
                Parameter::new("tier", Type::String, "`always_free` or `pay_as_you_go`."),
                Parameter::new("nodes", Type::Number, "How many Ampere A1 nodes."),
            ],
            return_type: return_type(),
            summary: "A valid Ampere A1 layout for a tier and node count".into(),
            description: "Whole OCPUs, memory and boot volume per node, the micro bastion, and `ceph_gb`: the block storage left for Ceph OSDs (0 when the boot volumes use it all; `notes` says so). An error explains why no layout exists.".into(),
        }
    }

    fn call(&self, args: &[Value]) -> Result<Value, FunctionError> {
        let tier = super::tier_arg(&args[0], 0)?;
        let n = args[1]
            .as_number()
            .ok_or_else(|| FunctionError::argument(1, "nodes must be a number"))?;
        let nodes = n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                FunctionError::argument(
                    1,
                    format!("nodes must be a whole number of at least 1, not {n}"),
                )
            })?;
        rules::ampere_layout(tier, nodes, None)
            .map(|l| layout_value(&l))
            .map_err(|e| FunctionError::argument(1, e.to_string()))
    }
}
