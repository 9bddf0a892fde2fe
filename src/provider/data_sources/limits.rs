//! `data "freetier_limits"`: a tier's limits, each with its source and the date it applies from.

use async_trait::async_trait;

use crate::framework::*;
use crate::rules::{format_number, Tier};

/// The data source.
pub struct Limits;

fn limit_type() -> Type {
    Type::object([
        ("key", Type::String),
        ("summary", Type::String),
        ("value", Type::Number),
        ("unit", Type::String),
        ("display", Type::String),
        ("source", Type::String),
        ("since", Type::String),
        ("note", Type::String),
    ])
}

/// The limits of a tier as a list of objects and a map of values by key.
pub fn limits_value(tier: Tier) -> (Value, Value) {
    let mut list = Vec::new();
    let mut values = std::collections::BTreeMap::new();
    for l in tier.limits() {
        let key = l.key.as_str().to_string();
        values.insert(key.clone(), Value::float(l.value));
        list.push(Value::object([
            ("key", Value::from(key)),
            ("summary", Value::from(l.summary)),
            ("value", Value::float(l.value)),
            ("unit", Value::from(l.unit.as_str())),
            (
                "display",
                Value::from(
                    format!("{} {}", format_number(l.value), l.unit.as_str())
                        .trim()
                        .to_string(),
                ),
            ),
            ("source", Value::from(l.source)),
            ("since", Value::from(l.since)),
            ("note", Value::from(l.note)),
        ]));
    }
    (Value::List(list), Value::Map(values))
}

#[async_trait]
impl DataSource for Limits {
    fn type_name(&self) -> &'static str {
        "freetier_limits"
    }

    fn schema(&self) -> Schema {
        Schema {
            version: 0,
            block: Block::new("The limits of a free-tier profile, each with the source it comes from and the date it applies from.")
                .attribute(Attribute::string("tier").optional().description("`always_free` or `pay_as_you_go`; defaults to the provider's tier."))
                .attribute(Attribute::string("effective_tier").computed().description("The tier the limits belong to."))
                .attribute(Attribute::typed("limits", Type::list(limit_type())).computed().description("Every limit: `key`, `summary`, `value`, `unit`, `display` (value with unit), `source`, `since` (ISO date or null) and `note` (conflicts between sources, history)."))
                .attribute(Attribute::typed("values", Type::map(Type::Number)).computed().description("Each limit's value by key, e.g. `values[\"a1_ocpus\"]`.")),
        }
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
        let (list, values) = limits_value(tier);
        resp.state
            .set_attr("effective_tier", Value::from(tier.as_str()));
        resp.state.set_attr("limits", list);
        resp.state.set_attr("values", values);
    }
}
