//! Variable type constraints (`type = map(object({ ocpus = optional(number, 1) }))`), applied
//! to a value the way Terraform converts input variables: `"2"` becomes `2` for a number,
//! missing optional attributes get their defaults, unknown stays unknown.
//!
//! Imports `value` and `eval` from this module tree.

use std::collections::BTreeMap;

use hcl::edit::expr::{Expression, ObjectKey};

use super::config::NoLookup;
use super::eval::Eval;
use super::value::Val;

/// Converts `v` to the type written in `ty`. `Err` says why it does not fit.
pub fn convert(v: Val, ty: &Expression) -> Result<Val, String> {
    if let Val::Unknown(_) = v {
        return Ok(v);
    }
    if v == Val::Null {
        return Ok(v);
    }
    match ty {
        Expression::Variable(name) => match name.as_str() {
            "any" => Ok(v),
            "number" => v.to_number().map(Val::Num),
            "string" => match v {
                Val::Str(_) | Val::Num(_) | Val::Bool(_) => v.to_string_value().map(Val::Str),
                other => Err(format!("a string is required, not {}", other.type_name())),
            },
            "bool" => match v {
                Val::Bool(b) => Ok(Val::Bool(b)),
                Val::Str(s) if s == "true" => Ok(Val::Bool(true)),
                Val::Str(s) if s == "false" => Ok(Val::Bool(false)),
                other => Err(format!("a bool is required, not {other}")),
            },
            other => Err(format!("unknown type {other:?}")),
        },
        Expression::FuncCall(call) => {
            let args: Vec<&Expression> = call.args.iter().collect();
            let name = call.name.name.as_str();
            match (name, args.as_slice()) {
                ("list" | "set", [elem]) => match v {
                    Val::List(items) => {
                        let mut out = Vec::with_capacity(items.len());
                        for (i, item) in items.into_iter().enumerate() {
                            out.push(convert(item, elem).map_err(|e| format!("element {i}: {e}"))?);
                        }
                        if name == "set" {
                            let mut dedup: Vec<Val> = Vec::new();
                            for x in out {
                                if !dedup.contains(&x) {
                                    dedup.push(x);
                                }
                            }
                            if dedup.iter().all(|x| matches!(x, Val::Str(_))) {
                                dedup.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                            }
                            out = dedup;
                        }
                        Ok(Val::List(out))
                    }
                    other => Err(format!("a {name} is required, not {}", other.type_name())),
                },
                ("map", [elem]) => match v {
                    Val::Map(m) => {
                        let mut out = BTreeMap::new();
                        for (k, x) in m {
                            let x = convert(x, elem).map_err(|e| format!("key {k:?}: {e}"))?;
                            out.insert(k, x);
                        }
                        Ok(Val::Map(out))
                    }
                    other => Err(format!("a map is required, not {}", other.type_name())),
                },
                ("tuple", [Expression::Array(elems)]) => match v {
                    Val::List(items) if items.len() == elems.len() => items
                        .into_iter()
                        .zip(elems.iter())
                        .map(|(x, t)| convert(x, t))
                        .collect::<Result<Vec<_>, _>>()
                        .map(Val::List),
                    other => Err(format!(
                        "a tuple of {} elements is required, not {other}",
                        elems.len()
                    )),
                },
                ("object", [Expression::Object(attrs)]) => {
                    let mut m = match v {
                        Val::Map(m) => m,
                        other => {
                            return Err(format!("an object is required, not {}", other.type_name()))
                        }
                    };
                    let mut out = BTreeMap::new();
                    for (key, t) in attrs.iter() {
                        let key = match key {
                            ObjectKey::Ident(i) => i.as_str().to_owned(),
                            ObjectKey::Expression(Expression::String(s)) => s.value().clone(),
                            ObjectKey::Expression(_) => continue,
                        };
                        let opt = is_optional(Some(t.expr()));
                        let (t, default) = optional(t.expr());
                        let x = match (m.remove(&key), default) {
                            (Some(Val::Null) | None, Some(d)) => {
                                Eval::new(&NoLookup, Vec::new()).eval(d)
                            }
                            (Some(x), _) => x,
                            (None, None) if opt => Val::Null,
                            (None, None) => return Err(format!("attribute {key:?} is required")),
                        };
                        let x = match t {
                            Some(t) => {
                                convert(x, t).map_err(|e| format!("attribute {key:?}: {e}"))?
                            }
                            None => x,
                        };
                        out.insert(key, x);
                    }
                    Ok(Val::Map(out))
                }
                _ => Ok(v),
            }
        }
        _ => Ok(v),
    }
}

fn is_optional(e: Option<&Expression>) -> bool {
    matches!(e, Some(Expression::FuncCall(c)) if c.name.name.as_str() == "optional")
}

// `optional(T)` / `optional(T, default)`: the inner type and the default, if any; a plain type
// is itself with no default.
fn optional(e: &Expression) -> (Option<&Expression>, Option<&Expression>) {
    match e {
        Expression::FuncCall(c) if c.name.name.as_str() == "optional" => {
            let args: Vec<&Expression> = c.args.iter().collect();
            (args.first().copied(), args.get(1).copied())
        }
        other => (Some(other), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(src: &str) -> Expression {
        hcl::edit::parser::parse_expr(src).unwrap()
    }

    fn val(src: &str) -> Val {
        Eval::new(&NoLookup, Vec::new()).eval(&ty(src))
    }

    #[test]
    fn variable_types_convert_like_terraform() {
        let cases: &[(&str, &str, &str, Result<&str, &str>)] = &[
            ("string to number", "number", "\"2\"", Ok("2")),
            ("number to string", "string", "2", Ok("\"2\"")),
            ("word to number", "number", "\"two\"", Err("not a number")),
            (
                "list of numbers",
                "list(number)",
                "[\"1\", 2]",
                Ok("[1, 2]"),
            ),
            (
                "optional default",
                "map(object({ ocpus = optional(number, 1), shape = string }))",
                "{ a = { shape = \"x\" } }",
                Ok("{a = {ocpus = 1, shape = \"x\"}}"),
            ),
            (
                "optional without default",
                "object({ ocpus = optional(number) })",
                "{}",
                Ok("{ocpus = null}"),
            ),
            (
                "required attribute",
                "object({ ocpus = number })",
                "{}",
                Err("required"),
            ),
        ];
        for (name, t, v, want) in cases {
            let got = convert(val(v), &ty(t)).map(|v| v.to_string());
            match want {
                Ok(w) => assert_eq!(got.as_deref(), Ok(*w), "{name}"),
                Err(needle) => {
                    let e = got.expect_err(name);
                    assert!(e.contains(needle), "{name}: {e}");
                }
            }
        }
    }
}
