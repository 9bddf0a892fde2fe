//! Terraform's built-in functions that matter for sizes and counts, run statically, and the
//! provider's own `provider::freetier::ampere_layout` (from the rulebook, so it gives exactly
//! what the provider gives).
//!
//! A function not listed here is not guessed at: its result is unknown, with a reason naming
//! it, and whatever depends on it is reported as checked at plan time. Unknown arguments give
//! unknown results, except where Terraform knows better (`length` of a list whose elements are
//! unknown).
//!
//! Imports `value` from this module tree and the pure `rules` (for `ampere_layout`).

use std::collections::BTreeMap;

use super::value::{format_num, Val};
use crate::rules::{self, Tier};

// A number argument, or the value to return instead.
fn num(v: &Val, what: &str) -> Result<f64, Val> {
    match v {
        Val::Unknown(why) => Err(Val::Unknown(why.clone())),
        other => other
            .to_number()
            .map_err(|e| Val::error(format!("{what}: {e}"))),
    }
}

fn string(v: &Val, what: &str) -> Result<String, Val> {
    match v {
        Val::Unknown(why) => Err(Val::Unknown(why.clone())),
        other => other
            .to_string_value()
            .map_err(|e| Val::error(format!("{what}: {e}"))),
    }
}

fn list<'v>(v: &'v Val, what: &str) -> Result<&'v [Val], Val> {
    match v {
        Val::List(items) => Ok(items),
        Val::Unknown(why) => Err(Val::Unknown(why.clone())),
        other => Err(Val::error(format!(
            "{what} needs a list, not {}",
            other.type_name()
        ))),
    }
}

fn map<'v>(v: &'v Val, what: &str) -> Result<&'v BTreeMap<String, Val>, Val> {
    match v {
        Val::Map(m) => Ok(m),
        Val::Unknown(why) => Err(Val::Unknown(why.clone())),
        other => Err(Val::error(format!(
            "{what} needs a map, not {}",
            other.type_name()
        ))),
    }
}

fn arity(name: &str, args: &[Val], min: usize, max: usize) -> Result<(), Val> {
    if args.len() < min || args.len() > max {
        let want = if min == max {
            format!("{min}")
        } else if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(Val::error(format!(
            "{name}() takes {want} arguments, not {}",
            args.len()
        )));
    }
    Ok(())
}

/// Every built-in function evaluated here; any other name gives an unknown naming it.
pub const BUILTINS: &[&str] = &[
    "abs",
    "ceil",
    "floor",
    "signum",
    "pow",
    "max",
    "min",
    "sum",
    "parseint",
    "tonumber",
    "tostring",
    "tobool",
    "tolist",
    "toset",
    "distinct",
    "tomap",
    "length",
    "lookup",
    "element",
    "index",
    "concat",
    "flatten",
    "keys",
    "values",
    "merge",
    "zipmap",
    "contains",
    "coalesce",
    "coalescelist",
    "compact",
    "range",
    "slice",
    "reverse",
    "sort",
    "one",
    "alltrue",
    "anytrue",
    "upper",
    "lower",
    "trimspace",
    "chomp",
    "trimprefix",
    "trimsuffix",
    "startswith",
    "endswith",
    "strcontains",
    "replace",
    "split",
    "join",
    "substr",
    "format",
];

/// Calls a function by name (`namespace` is empty for built-ins).
pub fn call(namespace: &[&str], name: &str, args: Vec<Val>) -> Val {
    let result = if namespace.is_empty() {
        builtin(name, &args)
    } else if namespace == ["provider", "freetier"] && name == "ampere_layout" {
        ampere_layout(&args)
    } else {
        Err(Val::unknown(format!(
            "`{}::{name}()` is a provider function, which freetier check does not run",
            namespace.join("::")
        )))
    };
    result.unwrap_or_else(|v| v)
}

fn builtin(name: &str, args: &[Val]) -> Result<Val, Val> {
    let numeric = |f: fn(f64) -> f64| -> Result<Val, Val> {
        arity(name, args, 1, 1)?;
        Ok(Val::Num(f(num(&args[0], name)?)))
    };
    match name {
        "abs" => numeric(f64::abs),
        "ceil" => numeric(f64::ceil),
        "floor" => numeric(f64::floor),
        "signum" => numeric(|x| if x == 0.0 { 0.0 } else { x.signum() }),
        "pow" => {
            arity(name, args, 2, 2)?;
            Ok(Val::Num(num(&args[0], name)?.powf(num(&args[1], name)?)))
        }
        "max" | "min" => {
            arity(name, args, 1, usize::MAX)?;
            let mut best: Option<f64> = None;
            for a in args {
                let n = num(a, name)?;
                best = Some(match best {
                    None => n,
                    Some(b) if name == "max" => b.max(n),
                    Some(b) => b.min(n),
                });
            }
            Ok(Val::Num(best.unwrap_or(0.0)))
        }
        "sum" => {
            arity(name, args, 1, 1)?;
            let items = list(&args[0], name)?;
            if items.is_empty() {
                return Err(Val::error("sum() of an empty list"));
            }
            let mut total = 0.0;
            for i in items {
                total += num(i, name)?;
            }
            Ok(Val::Num(total))
        }
        "parseint" => {
            arity(name, args, 2, 2)?;
            let s = string(&args[0], name)?;
            let base = num(&args[1], name)?;
            if !(2.0..=62.0).contains(&base) || base.fract() != 0.0 {
                return Err(Val::error(
                    "parseint() base must be a whole number from 2 to 62",
                ));
            }
            parse_int(&s, base as u32)
                .map(Val::Num)
                .ok_or_else(|| Val::error(format!("parseint(): {s:?} is not a base-{base} number")))
        }
        "tonumber" => {
            arity(name, args, 1, 1)?;
            match &args[0] {
                Val::Null => Ok(Val::Null),
                v => num(v, name).map(Val::Num),
            }
        }
        "tostring" => {
            arity(name, args, 1, 1)?;
            match &args[0] {
                Val::Null => Ok(Val::Null),
                v => string(v, name).map(Val::Str),
            }
        }
        "tobool" => {
            arity(name, args, 1, 1)?;
            match &args[0] {
                Val::Bool(b) => Ok(Val::Bool(*b)),
                Val::Str(s) if s == "true" => Ok(Val::Bool(true)),
                Val::Str(s) if s == "false" => Ok(Val::Bool(false)),
                Val::Null => Ok(Val::Null),
                Val::Unknown(why) => Err(Val::Unknown(why.clone())),
                other => Err(Val::error(format!("tobool(): {other} is not a bool"))),
            }
        }
        "tolist" => {
            arity(name, args, 1, 1)?;
            list(&args[0], name).map(|l| Val::List(l.to_vec()))
        }
        "toset" | "distinct" => {
            arity(name, args, 1, 1)?;
            let items = list(&args[0], name)?;
            let mut out: Vec<Val> = Vec::new();
            for i in items {
                if let Val::Unknown(why) = i {
                    // An unknown element may equal another: the set's size is unknown.
                    return Err(Val::Unknown(why.clone()));
                }
                if !out.contains(i) {
                    out.push(i.clone());
                }
            }
            if name == "toset" && out.iter().all(|v| matches!(v, Val::Str(_))) {
                out.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
            Ok(Val::List(out))
        }
        "tomap" => {
            arity(name, args, 1, 1)?;
            map(&args[0], name).map(|m| Val::Map(m.clone()))
        }
        "length" => {
            arity(name, args, 1, 1)?;
            match &args[0] {
                Val::List(l) => Ok(Val::Num(l.len() as f64)),
                Val::Map(m) => Ok(Val::Num(m.len() as f64)),
                Val::Str(s) => Ok(Val::Num(s.chars().count() as f64)),
                Val::Unknown(why) => Err(Val::Unknown(why.clone())),
                other => Err(Val::error(format!("length() of a {}", other.type_name()))),
            }
        }
        "lookup" => {
            arity(name, args, 2, 3)?;
            let m = map(&args[0], name)?;
            let k = string(&args[1], name)?;
            match (m.get(&k), args.get(2)) {
                (Some(v), _) => Ok(v.clone()),
                (None, Some(default)) => Ok(default.clone()),
                (None, None) => Err(Val::error(format!("lookup(): no key {k:?}"))),
            }
        }
        "element" => {
            arity(name, args, 2, 2)?;
            let l = list(&args[0], name)?;
            let i = num(&args[1], name)?;
            if l.is_empty() || i < 0.0 || i.fract() != 0.0 {
                return Err(Val::error("element(): no such element"));
            }
            Ok(l[(i as usize) % l.len()].clone())
        }
        "index" => {
            arity(name, args, 2, 2)?;
            let l = list(&args[0], name)?;
            if let Some(why) = args[1].first_unknown() {
                return Err(Val::Unknown(why.clone()));
            }
            for (i, v) in l.iter().enumerate() {
                if let Val::Unknown(why) = v {
                    return Err(Val::Unknown(why.clone()));
                }
                if v == &args[1] {
                    return Ok(Val::Num(i as f64));
                }
            }
            Err(Val::error("index(): the value is not in the list"))
        }
        "concat" => {
            let mut out = Vec::new();
            for a in args {
                out.extend(list(a, name)?.iter().cloned());
            }
            Ok(Val::List(out))
        }
        "flatten" => {
            arity(name, args, 1, 1)?;
            fn flat(items: &[Val], out: &mut Vec<Val>) -> Result<(), Val> {
                for i in items {
                    match i {
                        Val::List(inner) => flat(inner, out)?,
                        Val::Unknown(why) => return Err(Val::Unknown(why.clone())),
                        other => out.push(other.clone()),
                    }
                }
                Ok(())
            }
            let mut out = Vec::new();
            flat(list(&args[0], name)?, &mut out)?;
            Ok(Val::List(out))
        }
        "keys" => {
            arity(name, args, 1, 1)?;
            Ok(Val::List(
                map(&args[0], name)?
                    .keys()
                    .map(|k| Val::Str(k.clone()))
                    .collect(),
            ))
        }
        "values" => {
            arity(name, args, 1, 1)?;
            Ok(Val::List(map(&args[0], name)?.values().cloned().collect()))
        }
        "merge" => {
            let mut out = BTreeMap::new();
            for a in args {
                match a {
                    Val::Null => {}
                    other => out.extend(map(other, name)?.clone()),
                }
            }
            Ok(Val::Map(out))
        }
        "zipmap" => {
            arity(name, args, 2, 2)?;
            let ks = list(&args[0], name)?;
            let vs = list(&args[1], name)?;
            if ks.len() != vs.len() {
                return Err(Val::error("zipmap(): the lists differ in length"));
            }
            let mut out = BTreeMap::new();
            for (k, v) in ks.iter().zip(vs) {
                out.insert(string(k, name)?, v.clone());
            }
            Ok(Val::Map(out))
        }
        "contains" => {
            arity(name, args, 2, 2)?;
            let l = list(&args[0], name)?;
            if let Some(why) = args[1].first_unknown() {
                return Err(Val::Unknown(why.clone()));
            }
            if l.contains(&args[1]) {
                return Ok(Val::Bool(true));
            }
            match l.iter().find_map(Val::first_unknown) {
                Some(why) => Err(Val::Unknown(why.clone())),
                None => Ok(Val::Bool(false)),
            }
        }
        "coalesce" => {
            for a in args {
                match a {
                    Val::Null => {}
                    Val::Str(s) if s.is_empty() => {}
                    Val::Unknown(why) => return Err(Val::Unknown(why.clone())),
                    other => return Ok(other.clone()),
                }
            }
            Err(Val::error("coalesce(): no non-null argument"))
        }
        "coalescelist" => {
            for a in args {
                if !list(a, name)?.is_empty() {
                    return Ok(a.clone());
                }
            }
            Err(Val::error("coalescelist(): every list is empty"))
        }
        "compact" => {
            arity(name, args, 1, 1)?;
            let mut out = Vec::new();
            for i in list(&args[0], name)? {
                match i {
                    Val::Null => {}
                    Val::Str(s) if s.is_empty() => {}
                    Val::Unknown(why) => return Err(Val::Unknown(why.clone())),
                    other => out.push(other.clone()),
                }
            }
            Ok(Val::List(out))
        }
        "range" => {
            arity(name, args, 1, 3)?;
            let nums: Vec<f64> = args
                .iter()
                .map(|a| num(a, name))
                .collect::<Result<_, _>>()?;
            let (start, end, step) = match nums.as_slice() {
                [end] => (0.0, *end, 1.0),
                [start, end] => (*start, *end, if end >= start { 1.0 } else { -1.0 }),
                [start, end, step] => (*start, *end, *step),
                _ => return Err(Val::error("range() takes 1 to 3 arguments")),
            };
            if step == 0.0 || !step.is_finite() {
                return Err(Val::error("range(): the step must not be zero"));
            }
            let n = ((end - start) / step).ceil();
            if !(0.0..=10_000.0).contains(&n) {
                return if n < 0.0 {
                    Ok(Val::List(Vec::new()))
                } else {
                    Err(Val::error("range(): more than 10000 elements"))
                };
            }
            Ok(Val::List(
                (0..n as usize)
                    .map(|i| Val::Num(start + step * i as f64))
                    .collect(),
            ))
        }
        "slice" => {
            arity(name, args, 3, 3)?;
            let l = list(&args[0], name)?;
            let (a, b) = (num(&args[1], name)?, num(&args[2], name)?);
            if a < 0.0 || b < a || b as usize > l.len() || a.fract() != 0.0 || b.fract() != 0.0 {
                return Err(Val::error("slice(): indexes out of range"));
            }
            Ok(Val::List(l[a as usize..b as usize].to_vec()))
        }
        "reverse" => {
            arity(name, args, 1, 1)?;
            let mut l = list(&args[0], name)?.to_vec();
            l.reverse();
            Ok(Val::List(l))
        }
        "sort" => {
            arity(name, args, 1, 1)?;
            let mut strs = Vec::new();
            for i in list(&args[0], name)? {
                strs.push(string(i, name)?);
            }
            strs.sort();
            Ok(Val::List(strs.into_iter().map(Val::Str).collect()))
        }
        "one" => {
            arity(name, args, 1, 1)?;
            match list(&args[0], name)? {
                [] => Ok(Val::Null),
                [x] => Ok(x.clone()),
                _ => Err(Val::error("one(): the list has more than one element")),
            }
        }
        "alltrue" | "anytrue" => {
            arity(name, args, 1, 1)?;
            let all = name == "alltrue";
            let mut unknown = None;
            for i in list(&args[0], name)? {
                match i {
                    Val::Bool(b) if *b != all => return Ok(Val::Bool(!all)),
                    Val::Bool(_) => {}
                    Val::Unknown(why) => unknown = Some(why.clone()),
                    other => return Err(Val::error(format!("{name}(): {other} is not a bool"))),
                }
            }
            match unknown {
                Some(why) => Err(Val::Unknown(why)),
                None => Ok(Val::Bool(all)),
            }
        }
        "upper" | "lower" | "trimspace" | "chomp" => {
            arity(name, args, 1, 1)?;
            let s = string(&args[0], name)?;
            Ok(Val::Str(match name {
                "upper" => s.to_uppercase(),
                "lower" => s.to_lowercase(),
                "trimspace" => s.trim().to_owned(),
                _ => s.trim_end_matches(['\n', '\r']).to_owned(),
            }))
        }
        "trimprefix" | "trimsuffix" | "startswith" | "endswith" | "strcontains" => {
            arity(name, args, 2, 2)?;
            let (s, p) = (string(&args[0], name)?, string(&args[1], name)?);
            Ok(match name {
                "trimprefix" => Val::Str(s.strip_prefix(p.as_str()).unwrap_or(&s).to_owned()),
                "trimsuffix" => Val::Str(s.strip_suffix(p.as_str()).unwrap_or(&s).to_owned()),
                "startswith" => Val::Bool(s.starts_with(&p)),
                "endswith" => Val::Bool(s.ends_with(&p)),
                _ => Val::Bool(s.contains(&p)),
            })
        }
        "replace" => {
            arity(name, args, 3, 3)?;
            let (s, from, to) = (
                string(&args[0], name)?,
                string(&args[1], name)?,
                string(&args[2], name)?,
            );
            if from.len() > 1 && from.starts_with('/') && from.ends_with('/') {
                return Err(Val::unknown(
                    "replace() with a regular expression is not evaluated by freetier check",
                ));
            }
            Ok(Val::Str(s.replace(&from, &to)))
        }
        "split" => {
            arity(name, args, 2, 2)?;
            let (sep, s) = (string(&args[0], name)?, string(&args[1], name)?);
            if sep.is_empty() {
                return Err(Val::error("split(): empty separator"));
            }
            Ok(Val::List(
                s.split(sep.as_str())
                    .map(|p| Val::Str(p.to_owned()))
                    .collect(),
            ))
        }
        "join" => {
            arity(name, args, 2, usize::MAX)?;
            let sep = string(&args[0], name)?;
            let mut parts = Vec::new();
            for l in &args[1..] {
                for i in list(l, name)? {
                    parts.push(string(i, name)?);
                }
            }
            Ok(Val::Str(parts.join(&sep)))
        }
        "substr" => {
            arity(name, args, 3, 3)?;
            let s: Vec<char> = string(&args[0], name)?.chars().collect();
            let (off, len) = (num(&args[1], name)?, num(&args[2], name)?);
            if off < 0.0 || off.fract() != 0.0 || len.fract() != 0.0 {
                return Err(Val::unknown("substr() with these offsets is not evaluated"));
            }
            // Casts saturate, and the sum too: a length past the string is the rest of it.
            let start = (off as usize).min(s.len());
            let end = if len < 0.0 {
                s.len()
            } else {
                start.saturating_add(len as usize).min(s.len())
            };
            Ok(Val::Str(s[start..end].iter().collect()))
        }
        "format" => {
            arity(name, args, 1, usize::MAX)?;
            format(&string(&args[0], name)?, &args[1..])
        }
        _ => Err(Val::unknown(format!(
            "`{name}()` is not evaluated by freetier check"
        ))),
    }
}

// An integer in `base` (2 to 62) as Terraform's parseint reads it (Go's `big.Int.SetString`,
// https://pkg.go.dev/math/big#Int.SetString): an optional sign, then digits 0-9, a-z, A-Z;
// letters are case-insensitive up to base 36, and above it `A`-`Z` are 36 to 61. `None` when
// a character is not a digit of the base. Past 2^53 the result is the nearest f64.
fn parse_int(s: &str, base: u32) -> Option<f64> {
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n = 0.0_f64;
    for c in digits.bytes() {
        let d = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'a'..=b'z' => u32::from(c - b'a') + 10,
            b'A'..=b'Z' if base <= 36 => u32::from(c - b'A') + 10,
            b'A'..=b'Z' => u32::from(c - b'A') + 36,
            _ => return None,
        };
        if d >= base {
            return None;
        }
        n = n * f64::from(base) + f64::from(d);
    }
    Some(if negative { -n } else { n })
}

// `format` with the verbs stacks use for names: %s, %d, %v, %%; others are not guessed.
fn format(spec: &str, args: &[Val]) -> Result<Val, Val> {
    let mut out = String::new();
    let mut next = args.iter();
    let mut chars = spec.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(verb @ ('s' | 'd' | 'v')) => {
                let Some(a) = next.next() else {
                    return Err(Val::error("format(): too few arguments"));
                };
                if verb == 'd' {
                    out.push_str(&format_num(num(a, "format")?));
                } else {
                    out.push_str(&string(a, "format")?);
                }
            }
            _ => {
                return Err(Val::unknown(
                    "format() with this verb is not evaluated by freetier check",
                ))
            }
        }
    }
    Ok(Val::Str(out))
}

// The provider function, from the same rulebook: the same value the provider returns.
fn ampere_layout(args: &[Val]) -> Result<Val, Val> {
    arity("ampere_layout", args, 2, 2)?;
    let tier = string(&args[0], "ampere_layout")?;
    let tier = Tier::parse(&tier).map_err(|e| Val::error(format!("ampere_layout(): {e}")))?;
    let n = num(&args[1], "ampere_layout")?;
    if n < 1.0 || n.fract() != 0.0 || n > u32::MAX as f64 {
        return Err(Val::error(format!(
            "ampere_layout(): nodes must be a whole number of at least 1, not {}",
            format_num(n)
        )));
    }
    let layout = rules::ampere_layout(tier, n as u32, None)
        .map_err(|e| Val::error(format!("ampere_layout(): {e}")))?;
    let obj = |pairs: Vec<(&str, Val)>| {
        Val::Map(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    };
    let nodes = layout
        .nodes
        .iter()
        .map(|node| {
            obj(vec![
                ("index", Val::Num(f64::from(node.index))),
                ("ocpus", Val::Num(f64::from(node.ocpus))),
                ("memory_gb", Val::Num(node.memory_gb)),
                ("boot_volume_gb", Val::Num(node.boot_volume_gb)),
            ])
        })
        .collect();
    let b = &layout.bastion;
    Ok(obj(vec![
        ("tier", Val::Str(layout.tier.as_str().to_owned())),
        ("nodes", Val::List(nodes)),
        (
            "bastion",
            obj(vec![
                ("shape", Val::Str(b.shape.to_owned())),
                ("ocpus", Val::Num(b.ocpus)),
                ("memory_gb", Val::Num(b.memory_gb)),
                ("boot_volume_gb", Val::Num(b.boot_volume_gb)),
            ]),
        ),
        ("storage_limit_gb", Val::Num(layout.storage_limit_gb)),
        ("storage_used_gb", Val::Num(layout.storage_used_gb)),
        ("ceph_gb", Val::Num(layout.ceph_gb)),
        (
            "notes",
            Val::List(layout.notes.iter().map(|n| Val::Str(n.clone())).collect()),
        ),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(v: &str) -> Val {
        Val::Str(v.into())
    }

    #[test]
    fn functions_answer_odd_arguments_with_a_value_or_an_error() {
        // (name, function, arguments, the expected result; None: an error value)
        let cases: &[(&str, &str, Vec<Val>, Option<Val>)] = &[
            (
                "parseint base 62 uppercase",
                "parseint",
                vec![s("Z"), Val::Num(62.0)],
                Some(Val::Num(61.0)),
            ),
            (
                "parseint base 62 lowercase",
                "parseint",
                vec![s("z"), Val::Num(62.0)],
                Some(Val::Num(35.0)),
            ),
            (
                "parseint base 37",
                "parseint",
                vec![s("10"), Val::Num(37.0)],
                Some(Val::Num(37.0)),
            ),
            (
                "parseint base 16 either case",
                "parseint",
                vec![s("fF"), Val::Num(16.0)],
                Some(Val::Num(255.0)),
            ),
            (
                "parseint negative",
                "parseint",
                vec![s("-101"), Val::Num(2.0)],
                Some(Val::Num(-5.0)),
            ),
            (
                "parseint digit past the base",
                "parseint",
                vec![s("2"), Val::Num(2.0)],
                None,
            ),
            (
                "parseint sign alone",
                "parseint",
                vec![s("-"), Val::Num(10.0)],
                None,
            ),
            (
                "parseint base 63",
                "parseint",
                vec![s("1"), Val::Num(63.0)],
                None,
            ),
            (
                "parseint base NaN",
                "parseint",
                vec![s("1"), Val::Num(f64::NAN)],
                None,
            ),
            (
                "substr huge length",
                "substr",
                vec![s("abc"), Val::Num(1.0), Val::Num(1e300)],
                Some(s("bc")),
            ),
            (
                "substr usize::MAX length",
                "substr",
                vec![s("abc"), Val::Num(0.0), Val::Num(18446744073709551615.0)],
                Some(s("abc")),
            ),
            (
                "substr huge offset",
                "substr",
                vec![s("abc"), Val::Num(1e300), Val::Num(1e300)],
                Some(s("")),
            ),
            (
                "substr negative length",
                "substr",
                vec![s("abc"), Val::Num(1.0), Val::Num(-1.0)],
                Some(s("bc")),
            ),
        ];
        for (case, name, args, want) in cases {
            let got = call(&[], name, args.clone());
            match want {
                Some(want) => assert_eq!(&got, want, "{case}"),
                None => assert!(
                    matches!(&got, Val::Unknown(w) if w.error),
                    "{case}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn every_builtin_is_evaluated() {
        for name in BUILTINS {
            let got = call(&[], name, Vec::new());
            assert!(
                !matches!(&got, Val::Unknown(w) if w.text.contains("not evaluated by")),
                "{name}: {got:?}"
            );
        }
    }

    fn val() -> impl Strategy<Value = Val> {
        let num = prop_oneof![
            any::<f64>(),
            -3.0..70.0f64,
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(1e300),
            Just(18446744073709551615.0),
            (-5i32..70).prop_map(f64::from),
        ];
        let leaf = prop_oneof![
            1 => Just(Val::Null),
            1 => any::<bool>().prop_map(Val::Bool),
            4 => num.prop_map(Val::Num),
            3 => "[-+0-9a-zA-Z%/ é\\n]{0,8}".prop_map(Val::Str),
            1 => Just(Val::unknown("not known")),
            1 => Just(Val::error("failed")),
        ];
        // Mostly scalars at the top, where most functions want them.
        let nested = leaf.clone().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Val::List),
                prop::collection::btree_map("[a-c]{1,2}", inner, 0..4).prop_map(Val::Map),
            ]
        });
        prop_oneof![3 => leaf, 1 => nested]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        // Whatever the arguments, every function (and the provider's) returns a value: none
        // panics. Errors come back as error values, which the report turns into diagnostics.
        #[test]
        fn no_function_panics_on_any_arguments(args in prop::collection::vec(val(), 0..5)) {
            let every = BUILTINS
                .iter()
                .map(|name| (&[][..], *name))
                .chain([(&["provider", "freetier"][..], "ampere_layout"), (&[][..], "nope")]);
            for (namespace, name) in every {
                // Each function on every prefix of the arguments: each arity gets its turn.
                for n in 0..=args.len() {
                    let _ = call(namespace, name, args[..n].to_vec());
                }
            }
        }
    }
}
