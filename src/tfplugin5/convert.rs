//! Conversions between framework values and the tfplugin5 wire messages.

use crate::framework::{
    self as fw, msgpack, AttributePath, Diagnostics, PathStep, Severity, Type, Value,
};

use super::proto;
use proto::attribute_path::step::Selector;

/// Decodes a DynamicValue against a type; an absent one is null.
pub fn decode(dv: Option<&proto::DynamicValue>, ty: &Type) -> Result<Value, Diagnostics> {
    let Some(dv) = dv else { return Ok(Value::Null) };
    fw::codec::decode_dynamic(&dv.msgpack, &dv.json, ty).map_err(|e| {
        let mut d = Diagnostics::new();
        d.error_at(e.path.clone(), "Invalid Value From Terraform", format!("A value sent by Terraform does not fit the schema: {e}. Is the provider the version Terraform expects? Run `terraform init -upgrade`."));
        d
    })
}

/// Encodes a value as msgpack against its type. An encoding failure is a provider bug; it
/// becomes a diagnostic rather than a crash.
pub fn encode(v: &Value, ty: &Type, diags: &mut Diagnostics) -> Option<proto::DynamicValue> {
    match msgpack::encode(v, ty) {
        Ok(bytes) => Some(proto::DynamicValue {
            msgpack: bytes,
            json: Vec::new(),
        }),
        Err(e) => {
            diags.error_at(
                e.path.clone(),
                "Provider Produced An Invalid Value",
                format!("{e}. This is a bug in the provider; please report it."),
            );
            None
        }
    }
}

/// Wire diagnostics.
pub fn diagnostics(d: Diagnostics) -> Vec<proto::Diagnostic> {
    d.into_iter()
        .map(|d| proto::Diagnostic {
            severity: match d.severity {
                Severity::Error => proto::diagnostic::Severity::Error as i32,
                Severity::Warning => proto::diagnostic::Severity::Warning as i32,
            },
            summary: d.summary,
            detail: d.detail,
            attribute: d.attribute.map(|p| path(&p)),
        })
        .collect()
}

/// A wire attribute path.
pub fn path(p: &AttributePath) -> proto::AttributePath {
    proto::AttributePath {
        steps: p
            .steps()
            .iter()
            .map(|s| proto::attribute_path::Step {
                selector: Some(match s {
                    PathStep::Attribute(n) => Selector::AttributeName(n.clone()),
                    PathStep::Key(k) => Selector::ElementKeyString(k.clone()),
                    PathStep::Index(i) => Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

/// Private state to bytes (empty when there is none, as Terraform stores it). A failure is a
/// provider bug and an error: dropping private state silently would lose what the next
/// operation needs.
pub fn private_to_bytes(p: &fw::Private, type_name: &str) -> Result<Vec<u8>, Diagnostics> {
    if p.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::to_vec(p).map_err(|e| {
        let mut d = Diagnostics::new();
        d.error(
            "Unwritable Private State",
            format!("The provider could not encode the private state of this {type_name} ({e}). This is a bug in the provider; please report it."),
        );
        d
    })
}

/// Private state from bytes. Bytes that are not a JSON object are an error, not an empty
/// state: treating them as empty would drop them at the next write.
pub fn private_from_bytes(b: &[u8], type_name: &str) -> Result<fw::Private, Diagnostics> {
    if b.is_empty() {
        return Ok(fw::Private::new());
    }
    serde_json::from_slice(b).map_err(|e| {
        let mut d = Diagnostics::new();
        d.error(
            "Unreadable Private State",
            format!("The private state Terraform holds for this {type_name} ({} bytes) is not a JSON object ({e}), so this provider did not write it. Remove the object with `terraform state rm` and import it again.", b.len()),
        );
        d
    })
}

fn markdown() -> i32 {
    proto::StringKind::Markdown as i32
}

/// A wire schema.
pub fn schema(s: &fw::Schema) -> proto::Schema {
    proto::Schema {
        version: s.version,
        block: Some(block(&s.block)),
    }
}

fn block(b: &fw::Block) -> proto::schema::Block {
    proto::schema::Block {
        version: 0,
        attributes: b
            .attributes
            .iter()
            .map(|a| proto::schema::Attribute {
                name: a.name.clone(),
                r#type: a.ty.to_json_bytes(),
                description: a.description.clone(),
                required: a.required,
                optional: a.optional,
                computed: a.computed,
                sensitive: a.sensitive,
                description_kind: markdown(),
                deprecated: a.deprecation.is_some(),
                write_only: false,
                deprecation_message: a.deprecation.clone().unwrap_or_default(),
            })
            .collect(),
        block_types: b
            .blocks
            .iter()
            .map(|nb| proto::schema::NestedBlock {
                type_name: nb.type_name.clone(),
                block: Some(block(&nb.block)),
                nesting: match nb.nesting {
                    fw::Nesting::Single => proto::schema::nested_block::NestingMode::Single,
                    fw::Nesting::List => proto::schema::nested_block::NestingMode::List,
                    fw::Nesting::Set => proto::schema::nested_block::NestingMode::Set,
                    fw::Nesting::Map => proto::schema::nested_block::NestingMode::Map,
                    fw::Nesting::Group => proto::schema::nested_block::NestingMode::Group,
                } as i32,
                min_items: nb.min_items,
                max_items: nb.max_items,
            })
            .collect(),
        description: b.description.clone(),
        description_kind: markdown(),
        deprecated: b.deprecation.is_some(),
        deprecation_message: b.deprecation.clone().unwrap_or_default(),
    }
}

/// A wire function definition.
pub fn function(s: &fw::Signature) -> proto::Function {
    proto::Function {
        parameters: s
            .parameters
            .iter()
            .map(|p| proto::function::Parameter {
                name: p.name.clone(),
                r#type: p.ty.to_json_bytes(),
                allow_null_value: p.allow_null,
                allow_unknown_values: false,
                description: p.description.clone(),
                description_kind: markdown(),
            })
            .collect(),
        variadic_parameter: None,
        r#return: Some(proto::function::Return {
            r#type: s.return_type.to_json_bytes(),
        }),
        summary: s.summary.clone(),
        description: s.description.clone(),
        description_kind: markdown(),
        deprecation_message: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_state_round_trips_and_unreadable_bytes_are_an_error() {
        let mut p = fw::Private::new();
        p.insert("etag".into(), serde_json::json!("abc"));
        let bytes = private_to_bytes(&p, "test_thing").unwrap();
        assert_eq!(private_from_bytes(&bytes, "test_thing").unwrap(), p);
        assert_eq!(
            private_to_bytes(&fw::Private::new(), "test_thing").unwrap(),
            Vec::<u8>::new(),
            "no private state is no bytes"
        );
        for (name, bytes) in [
            ("not JSON", &b"\x00\x01garbage"[..]),
            ("JSON but not an object", &b"[1,2]"[..]),
            ("cut short", &b"{\"etag\":"[..]),
        ] {
            let d = private_from_bytes(bytes, "test_thing").unwrap_err();
            let d = d.iter().next().unwrap();
            assert_eq!(d.summary, "Unreadable Private State", "{name}");
            assert!(d.detail.contains("test_thing"), "{name}: {}", d.detail);
        }
    }
}
