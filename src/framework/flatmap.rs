//! The flatmap state format of Terraform 0.11 and earlier: one string per leaf, keyed by a
//! dotted path (`tags.%` = `1`, `tags.env` = `prod`, `rule.#` = `2`, `rule.0.port` = `22`).
//! UpgradeResourceState still receives it for states never rewritten since then.
//!
//! Read against the schema's type, as Terraform's own shim reads it
//! (hashicorp/terraform `internal/configs/hcl2shim/flatmap.go`, `HCL2ValueFromFlatmap`), into
//! the JSON form the state upgraders take. Flatmap cannot tell a map key holding a dot from a
//! nested object, so maps are read only when their elements are primitive; anything flatmap
//! cannot express is refused with the key at fault.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value as Json};

use super::types::Type;

/// The value Terraform 0.11 wrote for "unknown"; a saved state should never hold it.
const UNKNOWN: &str = "74D93920-ED26-11E3-AC10-0800200C9A66";

/// Why a flatmap state cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct FlatmapError {
    /// The flatmap key at fault.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

fn err(key: &str, reason: impl Into<String>) -> FlatmapError {
    FlatmapError {
        key: key.to_string(),
        reason: reason.into(),
    }
}

/// Reads a flatmap state whose top level is an object of type `ty`.
pub fn to_json(flat: &HashMap<String, String>, ty: &Type) -> Result<Json, FlatmapError> {
    let Type::Object(attrs) = ty else {
        return Err(err("", "the top level of a state must be an object"));
    };
    let mut out = Map::new();
    for (name, aty) in attrs {
        out.insert(name.clone(), value(flat, name, aty)?);
    }
    Ok(Json::Object(out))
}

fn value(flat: &HashMap<String, String>, key: &str, ty: &Type) -> Result<Json, FlatmapError> {
    match ty {
        Type::String | Type::Number | Type::Bool => primitive(flat, key, ty),
        Type::Object(attrs) => {
            // An object is null when none of its keys is present.
            let prefix = format!("{key}.");
            if !flat.keys().any(|k| k.starts_with(&prefix)) {
                return Ok(Json::Null);
            }
            let mut out = Map::new();
            for (name, aty) in attrs {
                out.insert(name.clone(), value(flat, &format!("{prefix}{name}"), aty)?);
            }
            Ok(Json::Object(out))
        }
        Type::List(elem) | Type::Set(elem) => {
            let count_key = format!("{key}.#");
            let Some(count) = count(flat, &count_key)? else {
                return Ok(Json::Null);
            };
            let names: Vec<String> = if matches!(ty, Type::List(_)) {
                (0..count).map(|i| i.to_string()).collect()
            } else {
                // Set elements are keyed by a hash: the first segment after the prefix.
                let prefix = format!("{key}.");
                let hashes: BTreeSet<&str> = flat
                    .keys()
                    .filter_map(|k| k.strip_prefix(&prefix))
                    .filter(|rest| *rest != "#")
                    .map(|rest| rest.split('.').next().unwrap_or(rest))
                    .collect();
                hashes.into_iter().map(str::to_string).collect()
            };
            if names.len() != count {
                return Err(err(
                    &count_key,
                    format!("says {count} elements but {} are stored", names.len()),
                ));
            }
            names
                .iter()
                .map(|n| value(flat, &format!("{key}.{n}"), elem))
                .collect::<Result<Vec<_>, _>>()
                .map(Json::Array)
        }
        Type::Map(elem) => {
            if !matches!(**elem, Type::String | Type::Number | Type::Bool) {
                return Err(err(
                    key,
                    "flatmap cannot hold a map of non-primitive values",
                ));
            }
            let count_key = format!("{key}.%");
            let Some(count) = count(flat, &count_key)? else {
                return Ok(Json::Null);
            };
            let prefix = format!("{key}.");
            let mut out = Map::new();
            // The rest of the key, dots and all, is the map key (flatmap's convention).
            for (k, _) in flat.iter().filter(|(k, _)| k.starts_with(&prefix)) {
                let name = &k[prefix.len()..];
                if name != "%" {
                    out.insert(name.to_string(), primitive(flat, k, elem)?);
                }
            }
            if out.len() != count {
                return Err(err(
                    &count_key,
                    format!("says {count} elements but {} are stored", out.len()),
                ));
            }
            Ok(Json::Object(out))
        }
        Type::Tuple(_) | Type::Dynamic => {
            Err(err(key, "flatmap cannot hold tuple or dynamic values"))
        }
    }
}

fn primitive(flat: &HashMap<String, String>, key: &str, ty: &Type) -> Result<Json, FlatmapError> {
    let Some(raw) = flat.get(key) else {
        return Ok(Json::Null);
    };
    if raw == UNKNOWN {
        return Err(err(key, "holds the placeholder for an unknown value"));
    }
    match ty {
        Type::Bool => match raw.as_str() {
            "true" => Ok(Json::Bool(true)),
            "false" => Ok(Json::Bool(false)),
            _ => Err(err(key, "is not true or false")),
        },
        Type::Number => match serde_json::from_str::<Json>(raw) {
            Ok(n @ Json::Number(_)) => Ok(n),
            _ => Err(err(key, "is not a number")),
        },
        _ => Ok(Json::String(raw.clone())),
    }
}

fn count(flat: &HashMap<String, String>, key: &str) -> Result<Option<usize>, FlatmapError> {
    match flat.get(key) {
        None => Ok(None),
        Some(raw) if raw == UNKNOWN => Err(err(key, "holds the placeholder for an unknown count")),
        Some(raw) => raw
            .parse()
            .map(Some)
            .map_err(|_| err(key, "is not an element count")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flat(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ty() -> Type {
        Type::object([
            ("id", Type::String),
            ("size", Type::Number),
            ("on", Type::Bool),
            ("tags", Type::map(Type::String)),
            ("ports", Type::list(Type::Number)),
            ("names", Type::set(Type::String)),
            (
                "rule",
                Type::list(Type::object([
                    ("port", Type::Number),
                    ("cidr", Type::String),
                ])),
            ),
        ])
    }

    #[test]
    fn flatmap_states_read_as_json_of_the_schema_type() {
        let cases = [
            (
                "every kind of value",
                flat(&[
                    ("id", "x"),
                    ("size", "12.5"),
                    ("on", "true"),
                    ("tags.%", "2"),
                    ("tags.env", "prod"),
                    ("tags.a.b", "dotted key"),
                    ("ports.#", "2"),
                    ("ports.0", "22"),
                    ("ports.1", "443"),
                    ("names.#", "1"),
                    ("names.1234567", "one"),
                    ("rule.#", "1"),
                    ("rule.0.port", "22"),
                    ("rule.0.cidr", "10.0.0.0/8"),
                ]),
                json!({
                    "id": "x", "size": 12.5, "on": true,
                    "tags": {"env": "prod", "a.b": "dotted key"},
                    "ports": [22, 443], "names": ["one"],
                    "rule": [{"port": 22, "cidr": "10.0.0.0/8"}],
                }),
            ),
            (
                "absent keys and counts are null",
                flat(&[("id", "x")]),
                json!({
                    "id": "x", "size": null, "on": null, "tags": null,
                    "ports": null, "names": null, "rule": null,
                }),
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(to_json(&input, &ty()).unwrap(), want, "{name}");
        }
    }

    #[test]
    fn what_flatmap_cannot_say_is_refused_with_the_key() {
        let cases = [
            (
                "set count that lies",
                flat(&[("names.#", "2"), ("names.11", "a")]),
                "names.#",
            ),
            ("number that is not", flat(&[("size", "big")]), "size"),
            ("unknown placeholder", flat(&[("id", UNKNOWN)]), "id"),
            ("bool that is not", flat(&[("on", "yes")]), "on"),
        ];
        for (name, input, key) in cases {
            let e = to_json(&input, &ty()).unwrap_err();
            assert_eq!(e.key, key, "{name}: {e}");
        }
        let nested_map = Type::object([("m", Type::map(Type::list(Type::String)))]);
        let e = to_json(&flat(&[("m.%", "0")]), &nested_map).unwrap_err();
        assert_eq!(
            e.to_string(),
            "m: flatmap cannot hold a map of non-primitive values"
        );
    }
}
