//! `data "freetier_allocation"`: the cross-resource check. Describe what the stack will
//! create; the plan stops with a diagnostic at the offending block and attribute if it would
//! leave the free tier, and the outputs give the sizes the cloud will really create, so
//! `oci_core_instance` consumes them and the check always runs first.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::framework::*;
use crate::provider::allocation::{self, COUNTED};
use crate::rules::{self, Tier};

/// The data source.
pub struct AllocationCheck;

fn name_attr(what: &str) -> Attribute {
    Attribute::string("name").required().description(&format!(
        "A name for this {what}, used in messages and as the key of `sizes`."
    ))
}

fn count_attr(what: &str) -> Attribute {
    Attribute::number("count")
        .optional()
        .description(&format!("How many identical {what}s (default 1)."))
}

fn size_type() -> Type {
    Type::object([
        ("shape", Type::String),
        ("ocpus", Type::Number),
        ("memory_gb", Type::Number),
        ("boot_volume_gb", Type::Number),
        ("count", Type::Number),
    ])
}

fn total_type() -> Type {
    Type::object([
        ("limit", Type::Number),
        ("total", Type::Number),
        ("headroom", Type::Number),
        ("unit", Type::String),
        ("complete", Type::Bool),
    ])
}

/// The schema (shared with the docs and the tests).
pub fn schema() -> Schema {
    let mut block = Block::new(
        "Checks everything a stack will create against the free tier, before anything is created. \
         Each violation stops the plan with the limit, the total, the overrun and the limit's source.",
    )
    .attribute(Attribute::string("tier").optional().description("`always_free` or `pay_as_you_go`; defaults to the provider's tier."))
    .nested(
        "instance",
        Nesting::List,
        Block::new("A compute instance.")
            .attribute(name_attr("instance"))
            .attribute(Attribute::string("shape").required().description("`VM.Standard.A1.Flex` or `VM.Standard.E2.1.Micro`."))
            .attribute(Attribute::number("ocpus").optional().description("OCPUs (A1: whole numbers, at least 1)."))
            .attribute(Attribute::number("memory_gb").optional().description("Memory in GB (A1: 1 to 64 per OCPU; Always Free rounds to 6 per OCPU)."))
            .attribute(Attribute::number("boot_volume_gb").optional().description("Boot volume size; unset means the 47 GB image default, a set size must be at least 50."))
            .attribute(count_attr("instance")),
    )
    .nested(
        "block_volume",
        Nesting::List,
        Block::new("A block volume.").attribute(name_attr("volume")).attribute(Attribute::number("size_gb").required().description("Size in GB, at least 50.")).attribute(count_attr("volume")),
    )
    .nested(
        "load_balancer",
        Nesting::List,
        Block::new("A load balancer (`oci_load_balancer_load_balancer`).")
            .attribute(name_attr("load balancer"))
            .attribute(Attribute::string("shape").optional().description("`flexible` (default) or the legacy `10Mbps-Micro`."))
            .attribute(Attribute::number("min_bandwidth_mbps").optional().description("Flexible shape minimum bandwidth; free only at 10."))
            .attribute(Attribute::number("max_bandwidth_mbps").optional().description("Flexible shape maximum bandwidth; free only at 10."))
            .attribute(count_attr("load balancer")),
    )
    .nested("object_storage", Nesting::List, Block::new("Object Storage use.").attribute(name_attr("bucket")).attribute(Attribute::number("gb").required().description("Stored GB.")).attribute(count_attr("bucket")))
    .nested("custom_image", Nesting::List, Block::new("A custom image.").attribute(name_attr("image")).attribute(Attribute::number("size_gb").required().description("Image size in GB.")).attribute(count_attr("image")))
    .nested("budget_alert", Nesting::List, Block::new("A budget alert rule.").attribute(name_attr("alert")).attribute(Attribute::number("threshold_usd").required().description("The alert threshold in US dollars (the free-tier guard is $0.01).")));
    for kind in COUNTED {
        let noun = kind.field().trim_end_matches('s').replace('_', " ");
        block = block.attribute(
            Attribute::number(kind.field())
                .optional()
                .description(&format!("How many {noun}s the stack creates.")),
        );
    }
    block = block
        .attribute(Attribute::string("effective_tier").computed().description("The tier checked against."))
        .attribute(Attribute::typed("instances", Type::list(Type::object([("name", Type::String), ("shape", Type::String), ("ocpus", Type::Number), ("memory_gb", Type::Number), ("boot_volume_gb", Type::Number), ("count", Type::Number)]))).computed().description("Each instance as the cloud will really create it (Always Free A1 memory rounded to 6 GB per OCPU, default boot volume 47 GB)."))
        .attribute(Attribute::typed("sizes", Type::map(size_type())).computed().description("The same, keyed by instance name: `sizes[\"node-1\"].ocpus`. Feed these to `oci_core_instance`."))
        .attribute(Attribute::typed("totals", Type::map(total_type())).computed().description("Per limit key: the limit, the total asked for, the headroom left, its unit, and whether every input was known."))
        .attribute(Attribute::typed("warnings", Type::list(Type::String)).computed().description("Findings that do not stop the plan (for example a figure Oracle's pages disagree on)."))
        .attribute(Attribute::typed("deferred", Type::list(Type::String)).computed().description("What could not be checked because a value is not known until apply."))
        .attribute(Attribute::bool("free").computed().description("True when the stack stays inside the tier."));
    Schema { version: 0, block }
}

fn opt_num(v: Option<f64>) -> Value {
    v.map(Value::float).unwrap_or(Value::Null)
}

/// Runs the check and fills the computed attributes; violations become diagnostics.
pub fn check_into(tier: Tier, config: &Value, state: &mut Value, diags: &mut Diagnostics) {
    let alloc = allocation::from_value(config);
    let report = rules::check(tier, &alloc);
    for v in &report.violations {
        allocation::diagnostic(v, diags);
    }
    let mut instances = Vec::new();
    let mut sizes = BTreeMap::new();
    for e in &report.instances {
        let name = e
            .label
            .clone()
            .unwrap_or_else(|| format!("instance-{}", e.index));
        let shape = e.shape.map(|s| s.as_str().to_string()).or_else(|| {
            config
                .attr("instance")
                .as_seq()
                .and_then(|s| s.get(e.index))
                .and_then(|i| i.attr("shape").as_str().map(str::to_string))
        });
        let obj = |with_name: bool| {
            let mut o = vec![
                ("shape", Value::from(shape.clone())),
                ("ocpus", opt_num(e.ocpus)),
                ("memory_gb", opt_num(e.memory_gb)),
                ("boot_volume_gb", opt_num(e.boot_volume_gb)),
                ("count", opt_num(e.count)),
            ];
            if with_name {
                o.push(("name", Value::from(name.clone())));
            }
            Value::object(o)
        };
        instances.push(obj(true));
        sizes.insert(name.clone(), obj(false));
    }
    let totals: BTreeMap<String, Value> = report
        .totals
        .iter()
        .map(|t| {
            (
                t.key.as_str().to_string(),
                Value::object([
                    ("limit", Value::float(t.limit)),
                    ("total", Value::float(t.total)),
                    ("headroom", Value::float(t.headroom)),
                    ("unit", Value::from(t.unit.as_str())),
                    ("complete", Value::Bool(t.complete)),
                ]),
            )
        })
        .collect();
    let warnings: Vec<Value> = report
        .warnings()
        .map(|v| {
            Value::from(format!(
                "{}: {}",
                allocation::subject_path(&v.subject),
                v.detail
            ))
        })
        .collect();
    let deferred: Vec<Value> = report
        .deferred
        .iter()
        .map(|d| {
            Value::from(format!(
                "{}: {}",
                allocation::subject_path(&d.subject),
                d.reason
            ))
        })
        .collect();
    state.set_attr("effective_tier", Value::from(tier.as_str()));
    state.set_attr("instances", Value::List(instances));
    state.set_attr("sizes", Value::Map(sizes));
    state.set_attr("totals", Value::Map(totals));
    state.set_attr("warnings", Value::List(warnings));
    state.set_attr("deferred", Value::List(deferred));
    state.set_attr("free", Value::Bool(report.is_free()));
}

#[async_trait]
impl DataSource for AllocationCheck {
    fn type_name(&self) -> &'static str {
        "freetier_allocation"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn validate_config(&self, config: &Value, diags: &mut Diagnostics) {
        if let Some(name) = config.attr("tier").as_str() {
            if let Err(e) = Tier::parse(name) {
                diags.error_at(AttributePath::root("tier"), "Unknown Tier", format!("{e}."));
            }
        }
    }

    async fn read(&self, ctx: &Ctx, config: &Value, resp: &mut DataResponse) {
        let Some(tier) =
            super::super::tier::resolve(ctx, config.attr("tier"), &mut resp.diagnostics)
        else {
            return;
        };
        check_into(tier, config, &mut resp.state, &mut resp.diagnostics);
    }
}
