//! The plan pipeline and Terraform's consistency rules, as small named steps.
//!
//! Order (terraform-plugin-framework's): defaults, then computed values unknown when anything
//! changes, then per-attribute modifiers, then the resource's own hook (run by the server),
//! then a self-check that the plan keeps every configured value, so a provider bug surfaces
//! as a clear diagnostic instead of Terraform's "Provider produced invalid plan".
//! Rules: hashicorp/terraform internal/plans/objchange/{plan_valid,compatible}.go.

use super::diag::Diagnostics;
use super::path::{AttributePath, PathStep};
use super::schema::{Block, Nesting, PlanModifier};
use super::value::Value;

/// Step 1: plan each attribute's default where the configuration leaves it null.
pub fn apply_defaults(block: &Block, planned: &mut Value, config: &Value) {
    for a in &block.attributes {
        if let Some(d) = &a.default {
            if config.attr(&a.name).is_null() {
                planned.set_attr(&a.name, d.clone());
            }
        }
    }
}

/// Step 2: computed attributes the configuration leaves null become unknown, since apply may
/// set them. Only called on create, or when the plan differs from the prior state.
pub fn mark_computed_unknown(block: &Block, planned: &mut Value, config: &Value) {
    let Value::Object(m) = planned else { return };
    for a in &block.attributes {
        if a.computed && a.default.is_none() && config.attr(&a.name).is_null() {
            m.insert(a.name.clone(), Value::Unknown);
        }
    }
    for nb in &block.blocks {
        let cfg = config.attr(&nb.type_name);
        let Some(slot) = m.get_mut(&nb.type_name) else {
            continue;
        };
        match (nb.nesting, slot) {
            (Nesting::Single | Nesting::Group, obj @ Value::Object(_)) => {
                mark_computed_unknown(&nb.block, obj, cfg)
            }
            (Nesting::List, Value::List(items)) => {
                for (i, item) in items.iter_mut().enumerate() {
                    let c = cfg.as_seq().and_then(|s| s.get(i)).unwrap_or(&Value::Null);
                    mark_computed_unknown(&nb.block, item, c);
                }
            }
            (Nesting::Map, Value::Map(items)) => {
                for (k, item) in items.iter_mut() {
                    let c = cfg.as_map().and_then(|m| m.get(k)).unwrap_or(&Value::Null);
                    mark_computed_unknown(&nb.block, item, c);
                }
            }
            // Set elements have no identity to pair with the configuration; left as proposed.
            _ => {}
        }
    }
}

/// Step 3: per-attribute modifiers, at every depth. Returns the paths whose change forces
/// replacement.
///
/// Nested blocks are paired with their prior selves the way terraform-plugin-framework pairs
/// them: single and group blocks directly, list blocks by index, map blocks by key. A block
/// new in the plan pairs with null, so `RequiresReplace` inside it asks for replacement
/// when it holds a value, as the framework's modifier does. Set blocks have no identity to
/// pair with: [`Block::validate`] refuses modifiers inside them.
pub fn apply_modifiers(
    block: &Block,
    prior: &Value,
    planned: &mut Value,
    config: &Value,
) -> Vec<AttributePath> {
    let mut replace = Vec::new();
    if prior.is_null() {
        return replace; // creating: nothing to keep, nothing to replace
    }
    modify_block(
        block,
        prior,
        planned,
        config,
        &AttributePath::default(),
        &mut replace,
    );
    replace
}

fn modify_block(
    block: &Block,
    prior: &Value,
    planned: &mut Value,
    config: &Value,
    path: &AttributePath,
    replace: &mut Vec<AttributePath>,
) {
    if !matches!(planned, Value::Object(_)) {
        return; // null or unknown block: nothing to modify inside it
    }
    for a in &block.attributes {
        for m in &a.plan_modifiers {
            match m {
                PlanModifier::UseStateForUnknown => {
                    let before = prior.attr(&a.name);
                    if planned.attr(&a.name).is_unknown()
                        && config.attr(&a.name).is_null()
                        && !before.is_null()
                        && before.is_wholly_known()
                    {
                        planned.set_attr(&a.name, before.clone());
                    }
                }
                PlanModifier::RequiresReplace => {
                    if planned.attr(&a.name) != prior.attr(&a.name) {
                        replace.push(path.clone().attr(a.name.clone()));
                    }
                }
            }
        }
    }
    let Value::Object(slots) = planned else {
        return;
    };
    for nb in &block.blocks {
        let Some(slot) = slots.get_mut(&nb.type_name) else {
            continue;
        };
        let (before, cfg) = (prior.attr(&nb.type_name), config.attr(&nb.type_name));
        let at = path.clone().attr(nb.type_name.clone());
        match (nb.nesting, slot) {
            (Nesting::Single | Nesting::Group, obj @ Value::Object(_)) => {
                modify_block(&nb.block, before, obj, cfg, &at, replace)
            }
            (Nesting::List, Value::List(items)) => {
                for (i, item) in items.iter_mut().enumerate() {
                    let b = before
                        .as_seq()
                        .and_then(|s| s.get(i))
                        .unwrap_or(&Value::Null);
                    let c = cfg.as_seq().and_then(|s| s.get(i)).unwrap_or(&Value::Null);
                    modify_block(&nb.block, b, item, c, &at.clone().index(i), replace);
                }
            }
            (Nesting::Map, Value::Map(items)) => {
                for (k, item) in items.iter_mut() {
                    let b = before
                        .as_map()
                        .and_then(|m| m.get(k))
                        .unwrap_or(&Value::Null);
                    let c = cfg.as_map().and_then(|m| m.get(k)).unwrap_or(&Value::Null);
                    modify_block(&nb.block, b, item, c, &at.clone().key(k.clone()), replace);
                }
            }
            _ => {}
        }
    }
}

/// Step 5: the plan must keep every value the configuration sets (or the prior value, where
/// both are set), and may only choose values for computed attributes.
pub fn check_plan_valid(
    block: &Block,
    planned: &Value,
    config: &Value,
    prior: &Value,
    path: &AttributePath,
    diags: &mut Diagnostics,
) {
    for a in &block.attributes {
        let p = path.clone().attr(a.name.clone());
        let (pv, cv, old) = (
            planned.attr(&a.name),
            config.attr(&a.name),
            prior.attr(&a.name),
        );
        let ok = if cv.is_null() {
            a.computed || pv.is_null()
        } else {
            pv == cv || (!old.is_null() && pv == old) || (cv.is_unknown() && pv.is_unknown())
        };
        if !ok {
            diags.error_at(
                p.clone(),
                "Provider Produced Invalid Plan",
                format!("The plan for {p} does not keep the configured value. This is a bug in the provider; please report it."),
            );
        }
    }
    for nb in &block.blocks {
        if let (Nesting::Single | Nesting::Group, Value::Object(_)) =
            (nb.nesting, planned.attr(&nb.type_name))
        {
            let p = path.clone().attr(nb.type_name.clone());
            check_plan_valid(
                &nb.block,
                planned.attr(&nb.type_name),
                config.attr(&nb.type_name),
                prior.attr(&nb.type_name),
                &p,
                diags,
            );
        }
    }
}

/// After apply: every value that was known in the plan must come back unchanged.
pub fn check_apply_consistent(
    planned: &Value,
    new: &Value,
    path: &mut AttributePath,
    diags: &mut Diagnostics,
) {
    match (planned, new) {
        (Value::Unknown, _) => {}
        (Value::Object(p), Value::Object(n)) | (Value::Map(p), Value::Map(n)) => {
            let is_obj = matches!(planned, Value::Object(_));
            for (k, pv) in p {
                path.push(if is_obj { PathStep::Attribute(k.clone()) } else { PathStep::Key(k.clone()) });
                check_apply_consistent(pv, n.get(k).unwrap_or(&Value::Null), path, diags);
                path.pop();
            }
        }
        (Value::List(p), Value::List(n)) | (Value::Tuple(p), Value::Tuple(n)) if p.len() == n.len() => {
            for (i, (pv, nv)) in p.iter().zip(n).enumerate() {
                path.push(PathStep::Index(i as i64));
                check_apply_consistent(pv, nv, path, diags);
                path.pop();
            }
        }
        // Sets with unknowns inside cannot be paired element by element.
        (Value::Set(p), Value::Set(_)) if !planned.is_wholly_known() && p.len() == new.as_seq().map_or(0, <[Value]>::len) => {}
        (p, n) if p == n => {}
        _ => diags.error_at(
            path.clone(),
            "Provider Produced Inconsistent Result",
            format!("Apply changed {path}, which the plan already knew. This is a bug in the provider; please report it."),
        ),
    }
}

/// Replaces every unknown left in a value with null (after a failed apply, so Terraform can
/// save what was really done).
pub fn unknowns_to_null(v: &mut Value) {
    match v {
        Value::Unknown => *v = Value::Null,
        Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
            items.iter_mut().for_each(unknowns_to_null)
        }
        Value::Map(m) | Value::Object(m) => m.values_mut().for_each(unknowns_to_null),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::schema::Attribute;

    fn block() -> Block {
        Block::new("t")
            .attribute(
                Attribute::string("id")
                    .computed()
                    .use_state_for_unknown()
                    .description("id"),
            )
            .attribute(
                Attribute::string("name")
                    .required()
                    .requires_replace()
                    .description("n"),
            )
            .attribute(Attribute::string("note").optional().description("note"))
            .attribute(
                Attribute::string("stamp")
                    .computed()
                    .description("changes on every update"),
            )
            .attribute(
                Attribute::string("mode")
                    .default(Value::string("fast"))
                    .description("m"),
            )
    }

    fn plan(prior: &Value, config: &Value) -> (Value, Vec<AttributePath>) {
        let b = block();
        let mut planned = config.clone();
        b.normalize(&mut planned);
        apply_defaults(&b, &mut planned, config);
        // proposed-new carries prior computed values, as Terraform's ProposedNew does
        if !prior.is_null() {
            for a in ["id", "stamp"] {
                planned.set_attr(a, prior.attr(a).clone());
            }
        }
        if prior.is_null() || planned != *prior {
            mark_computed_unknown(&b, &mut planned, config);
        }
        let r = apply_modifiers(&b, prior, &mut planned, config);
        (planned, r)
    }

    #[test]
    fn create_plans_computed_values_unknown_and_defaults_known() {
        let (p, r) = plan(&Value::Null, &Value::object([("name", Value::from("a"))]));
        assert!(p.attr("id").is_unknown());
        assert_eq!(p.attr("mode"), &Value::from("fast"));
        assert!(r.is_empty());
    }

    #[test]
    fn update_keeps_state_for_unknown_and_marks_the_rest_unknown() {
        let prior = Value::object([
            ("id", "x".into()),
            ("name", "a".into()),
            ("note", Value::Null),
            ("stamp", "1".into()),
            ("mode", "fast".into()),
        ]);
        let (p, r) = plan(
            &prior,
            &Value::object([("name", Value::from("a")), ("note", Value::from("hi"))]),
        );
        assert_eq!(p.attr("id"), &Value::from("x"), "use-state-for-unknown");
        assert!(p.attr("stamp").is_unknown());
        assert!(r.is_empty());
    }

    #[test]
    fn no_change_plans_exactly_the_prior_state() {
        let prior = Value::object([
            ("id", "x".into()),
            ("name", "a".into()),
            ("note", Value::Null),
            ("stamp", "1".into()),
            ("mode", "fast".into()),
        ]);
        let (p, r) = plan(&prior, &Value::object([("name", Value::from("a"))]));
        assert_eq!(p, prior);
        assert!(r.is_empty());
    }

    #[test]
    fn changing_a_requires_replace_attribute_asks_for_replacement() {
        let prior = Value::object([
            ("id", "x".into()),
            ("name", "a".into()),
            ("note", Value::Null),
            ("stamp", "1".into()),
            ("mode", "fast".into()),
        ]);
        let (_, r) = plan(&prior, &Value::object([("name", Value::from("b"))]));
        assert_eq!(r, vec![AttributePath::root("name")]);
    }

    /// A resource with modifiers inside a single, a list and a map block.
    fn nested_block() -> Block {
        let inner = || {
            Block::new("inner")
                .attribute(
                    Attribute::string("id")
                        .computed()
                        .use_state_for_unknown()
                        .description("id"),
                )
                .attribute(
                    Attribute::string("image")
                        .required()
                        .requires_replace()
                        .description("image"),
                )
                .attribute(Attribute::string("label").optional().description("label"))
        };
        Block::new("t")
            .attribute(Attribute::string("note").optional().description("note"))
            .nested("boot", Nesting::Single, inner())
            .nested("disk", Nesting::List, inner())
            .nested("nic", Nesting::Map, inner())
    }

    fn inner(id: Option<&str>, image: &str, label: Option<&str>) -> Value {
        Value::object([
            ("id", id.map_or(Value::Null, Value::from)),
            ("image", Value::from(image)),
            ("label", label.map_or(Value::Null, Value::from)),
        ])
    }

    /// Prior state and configuration of the nested resource; the proposal carries the prior
    /// computed ids, as Terraform's ProposedNew does.
    fn nested(image: &str, label: Option<&str>, with_id: bool) -> Value {
        let id = with_id.then_some("x");
        Value::object([
            ("note", Value::Null),
            ("boot", inner(id, image, label)),
            ("disk", Value::List(vec![inner(id, image, label)])),
            (
                "nic",
                Value::Map([("eth0".to_string(), inner(id, image, label))].into()),
            ),
        ])
    }

    fn plan_nested(prior: &Value, config: &Value) -> (Value, Vec<AttributePath>) {
        let b = nested_block();
        let mut planned = config.clone();
        for slot in ["boot", "disk", "nic"] {
            // ProposedNew: computed values come from the prior state.
            let carried = match (planned.attr(slot).clone(), prior.attr(slot)) {
                (Value::Object(mut m), p) => {
                    m.insert("id".into(), p.attr("id").clone());
                    Value::Object(m)
                }
                (Value::List(items), p) => Value::List(
                    items
                        .into_iter()
                        .enumerate()
                        .map(|(i, mut v)| {
                            let old = p.as_seq().and_then(|s| s.get(i));
                            v.set_attr("id", old.map_or(Value::Null, |o| o.attr("id").clone()));
                            v
                        })
                        .collect(),
                ),
                (Value::Map(items), p) => Value::Map(
                    items
                        .into_iter()
                        .map(|(k, mut v)| {
                            let old = p.as_map().and_then(|m| m.get(&k));
                            v.set_attr("id", old.map_or(Value::Null, |o| o.attr("id").clone()));
                            (k, v)
                        })
                        .collect(),
                ),
                (v, _) => v,
            };
            planned.set_attr(slot, carried);
        }
        b.normalize(&mut planned);
        if prior.is_null() || planned != *prior {
            mark_computed_unknown(&b, &mut planned, config);
        }
        let r = apply_modifiers(&b, prior, &mut planned, config);
        (planned, r)
    }

    #[test]
    fn requires_replace_inside_nested_blocks_names_the_nested_path() {
        let prior = nested("debian-12", None, true);
        let cases: [(&str, Value, Vec<&str>); 3] = [
            ("nothing changed", nested("debian-12", None, false), vec![]),
            (
                "an attribute without modifiers changed",
                nested("debian-12", Some("new"), false),
                vec![],
            ),
            (
                "the image changed in every block",
                nested("debian-13", None, false),
                vec!["boot.image", "disk[0].image", "nic[\"eth0\"].image"],
            ),
        ];
        for (name, config, want) in cases {
            let (_, replace) = plan_nested(&prior, &config);
            let got: Vec<String> = replace.iter().map(ToString::to_string).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn use_state_for_unknown_inside_nested_blocks_keeps_the_prior_value() {
        let prior = nested("debian-12", None, true);
        let (planned, _) = plan_nested(&prior, &nested("debian-12", Some("new"), false));
        for (name, block) in [
            ("single block", planned.attr("boot")),
            ("list block", &planned.attr("disk").as_seq().unwrap()[0]),
            ("map block", &planned.attr("nic").as_map().unwrap()["eth0"]),
        ] {
            assert_eq!(block.attr("id"), &Value::from("x"), "{name}");
            assert_eq!(block.attr("label"), &Value::from("new"), "{name}");
        }
    }

    #[test]
    fn a_list_block_added_on_update_pairs_with_null_and_gets_unknown_computed_values() {
        let prior = nested("debian-12", None, true);
        let mut config = nested("debian-12", None, false);
        config.set_attr(
            "disk",
            Value::List(vec![
                inner(None, "debian-12", None),
                inner(None, "scratch", None),
            ]),
        );
        let (planned, replace) = plan_nested(&prior, &config);
        let disks = planned.attr("disk").as_seq().unwrap();
        assert_eq!(disks[0].attr("id"), &Value::from("x"));
        assert!(disks[1].attr("id").is_unknown(), "no prior value to keep");
        let got: Vec<String> = replace.iter().map(ToString::to_string).collect();
        assert_eq!(got, ["disk[1].image"], "a new value where there was none");
    }

    #[test]
    fn apply_that_changes_a_known_planned_value_is_reported_with_its_path() {
        let planned = Value::object([("id", Value::Unknown), ("name", "a".into())]);
        let mut d = Diagnostics::new();
        check_apply_consistent(
            &planned,
            &Value::object([("id", "1".into()), ("name", "a".into())]),
            &mut AttributePath::default(),
            &mut d,
        );
        assert!(!d.has_errors());
        check_apply_consistent(
            &planned,
            &Value::object([("id", "1".into()), ("name", "A".into())]),
            &mut AttributePath::default(),
            &mut d,
        );
        assert_eq!(
            d.iter().next().unwrap().attribute,
            Some(AttributePath::root("name"))
        );
    }

    #[test]
    fn a_plan_that_drops_a_configured_value_is_caught_before_terraform_sees_it() {
        let mut d = Diagnostics::new();
        let config = Value::object([("name", Value::from("a")), ("note", Value::from("x"))]);
        let planned = Value::object([
            ("name", Value::from("a")),
            ("note", Value::Null),
            ("id", Value::Unknown),
        ]);
        check_plan_valid(
            &block(),
            &planned,
            &config,
            &Value::Null,
            &AttributePath::default(),
            &mut d,
        );
        assert_eq!(
            d.iter().next().unwrap().attribute,
            Some(AttributePath::root("note"))
        );
    }
}
