//! Field ownership for server-side apply and updates (`metadata.managedFields`).
//!
//! Semantics follow the Kubernetes server-side apply documentation (apply conflicts when a
//! field set by the applier is owned by another manager with a different value; `force`
//! takes ownership; fields an applier stops sending are removed unless someone else owns
//! them; plain updates take ownership without conflicts). Conflict texts follow
//! kubernetes/kubernetes `staging/src/k8s.io/apimachinery/pkg/util/managedfields/internal/conflict.go`.
//!
//! Simplification (no schemas): every list is atomic, so lists are owned and replaced whole;
//! the real apiserver merges associative lists (e.g. containers by name) per key.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// A field path: map keys from the object root.
pub(crate) type Path = Vec<String>;
/// Owned leaf fields.
pub(crate) type FieldSet = BTreeSet<Path>;

/// Fields the apiserver keeps for itself and never records as owned.
fn server_owned(path: &[String]) -> bool {
    match path {
        [a] => a == "apiVersion" || a == "kind",
        [m, f, ..] if m == "metadata" => matches!(
            f.as_str(),
            "name"
                | "namespace"
                | "uid"
                | "resourceVersion"
                | "generation"
                | "creationTimestamp"
                | "managedFields"
                | "selfLink"
                | "deletionTimestamp"
                | "deletionGracePeriodSeconds"
        ),
        [s, ..] => s == "status",
        [] => false,
    }
}

/// Leaf paths of an object (maps are descended; lists, scalars and empty maps are leaves).
pub(crate) fn leaves(v: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    let mut path = Vec::new();
    walk(v, &mut path, &mut out);
    out
}

fn walk(v: &Value, path: &mut Vec<String>, out: &mut FieldSet) {
    if server_owned(path) {
        return;
    }
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                path.push(k.clone());
                walk(child, path, out);
                path.pop();
            }
        }
        _ if path.is_empty() => {}
        _ => {
            out.insert(path.clone());
        }
    }
}

/// The value at `path`.
pub(crate) fn get<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for k in path {
        cur = cur.as_object()?.get(k)?;
    }
    Some(cur)
}

/// Removes the value at `path`, then parent maps left empty.
pub(crate) fn remove(v: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    if let Some(Value::Object(m)) = get_mut(v, parents) {
        m.remove(last);
        if m.is_empty() && !parents.is_empty() {
            remove(v, parents);
        }
    }
}

fn get_mut<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut cur = v;
    for k in path {
        cur = cur.as_object_mut()?.get_mut(k)?;
    }
    Some(cur)
}

/// Merges `src` into `dst`: maps recursively, everything else replaced.
pub(crate) fn merge(dst: &mut Value, src: &Value) {
    match (dst, src) {
        (Value::Object(d), Value::Object(s)) => {
            for (k, sv) in s {
                match d.get_mut(k) {
                    Some(dv) if dv.is_object() && sv.is_object() => merge(dv, sv),
                    _ => {
                        d.insert(k.clone(), sv.clone());
                    }
                }
            }
        }
        (d, s) => *d = s.clone(),
    }
}

/// RFC 7386 JSON merge patch.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, pv) in p {
            if pv.is_null() {
                t.remove(k);
            } else {
                let entry = t.entry(k.clone()).or_insert(Value::Null);
                merge_patch(entry, pv);
            }
        }
    }
}

/// Whether one path is a prefix of the other.
pub(crate) fn overlaps(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// structured-merge-diff's rendering of a path (`.data.key`).
pub(crate) fn path_string(p: &[String]) -> String {
    p.iter().map(|k| format!(".{k}")).collect()
}

/// `fieldsV1` encoding of a set (`f:<name>` keys, `{}` leaves).
pub(crate) fn encode(set: &FieldSet) -> Value {
    let mut root = Value::Object(Map::new());
    for path in set {
        let mut cur = &mut root;
        for k in path {
            let Value::Object(m) = cur else { break };
            cur = m
                .entry(format!("f:{k}"))
                .or_insert_with(|| Value::Object(Map::new()));
        }
    }
    root
}

/// Reads a `fieldsV1` value back (keys other than `f:` are ignored).
pub(crate) fn decode(v: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    let mut path = Vec::new();
    decode_into(v, &mut path, &mut out);
    out
}

fn decode_into(v: &Value, path: &mut Vec<String>, out: &mut FieldSet) {
    let Some(m) = v.as_object() else { return };
    let fields: Vec<_> = m
        .iter()
        .filter_map(|(k, c)| Some((k.strip_prefix("f:")?, c)))
        .collect();
    if fields.is_empty() {
        if !path.is_empty() {
            out.insert(path.clone());
        }
        return;
    }
    for (k, c) in fields {
        path.push(k.to_string());
        decode_into(c, path, out);
        path.pop();
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Manager {
    pub name: String,
    /// `Apply` or `Update`.
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub set: FieldSet,
}

impl Manager {
    fn same_key(&self, name: &str, operation: &str) -> bool {
        self.name == name && self.operation == operation
    }

    /// `printManager` of conflict.go.
    fn printed(&self) -> String {
        if self.operation == "Update" {
            format!("{:?} using {}", self.name, self.api_version)
        } else {
            format!("{:?}", self.name)
        }
    }
}

/// The managers recorded on an object.
pub(crate) fn read_managers(obj: &Value) -> Vec<Manager> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| Manager {
                    name: e
                        .get("manager")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    operation: e
                        .get("operation")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    api_version: e
                        .get("apiVersion")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    time: e
                        .get("time")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    set: e.get("fieldsV1").map(decode).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Writes managers back (empty ones dropped).
pub(crate) fn write_managers(obj: &mut Value, ms: &[Manager]) {
    let entries: Vec<Value> = ms
        .iter()
        .filter(|m| !m.set.is_empty())
        .map(|m| {
            serde_json::json!({
                "manager": m.name,
                "operation": m.operation,
                "apiVersion": m.api_version,
                "time": m.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": encode(&m.set),
            })
        })
        .collect();
    if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
        if entries.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(entries));
        }
    }
}

/// An apply conflict: who owns which field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Conflict {
    pub manager: String,
    pub path: Path,
}

/// The Status message for apply conflicts (conflict.go `getConflictMessage`).
pub(crate) fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            c.manager,
            path_string(&c.path)
        );
    }
    let mut managers: Vec<&String> = conflicts.iter().map(|c| &c.manager).collect();
    managers.sort();
    managers.dedup();
    let mut lines = Vec::new();
    for m in managers {
        lines.push(format!("conflicts with {m}:"));
        for c in conflicts.iter().filter(|c| &c.manager == m) {
            lines.push(format!("- {}", path_string(&c.path)));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Server-side apply of `applied` by `manager` onto `live` (or onto nothing, for a create).
/// Returns the merged object with updated `managedFields`.
pub(crate) fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    now: &str,
) -> Result<Value, Vec<Conflict>> {
    let mut obj = live.cloned().unwrap_or_else(|| serde_json::json!({}));
    let mut managers = read_managers(&obj);
    let wanted = leaves(applied);

    // Conflicts: fields another manager owns, whose live value differs from the applied one.
    let mut conflicts = Vec::new();
    for m in managers.iter().filter(|m| !m.same_key(manager, "Apply")) {
        for p in &wanted {
            if m.set.iter().any(|o| overlaps(o, p)) && get(&obj, p) != get(applied, p) {
                conflicts.push(Conflict {
                    manager: m.printed(),
                    path: p.clone(),
                });
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    if force {
        for m in managers
            .iter_mut()
            .filter(|m| !m.same_key(manager, "Apply"))
        {
            m.set.retain(|o| {
                !wanted
                    .iter()
                    .any(|p| overlaps(o, p) && get(&obj, p) != get(applied, p))
            });
        }
    }

    // Fields this manager applied before but no longer sends, and nobody else owns, go away.
    let previous = managers
        .iter()
        .find(|m| m.same_key(manager, "Apply"))
        .map(|m| m.set.clone())
        .unwrap_or_default();
    for gone in previous.difference(&wanted) {
        let shared = managers
            .iter()
            .filter(|m| !m.same_key(manager, "Apply"))
            .any(|m| m.set.iter().any(|o| overlaps(o, gone)));
        if !shared {
            remove(&mut obj, gone);
        }
    }

    let mut body = applied.clone();
    if let Some(Value::Object(meta)) = body.get_mut("metadata") {
        meta.remove("managedFields");
        meta.remove("resourceVersion");
    }
    if let Value::Object(m) = &mut body {
        m.remove("status");
    }
    merge(&mut obj, &body);

    match managers.iter_mut().find(|m| m.same_key(manager, "Apply")) {
        Some(m) => {
            if m.set != wanted {
                m.time = now.to_string();
            }
            m.set = wanted;
            m.api_version = api_version.to_string();
        }
        None => managers.push(Manager {
            name: manager.to_string(),
            operation: "Apply".into(),
            api_version: api_version.to_string(),
            time: now.to_string(),
            set: wanted,
        }),
    }
    write_managers(&mut obj, &managers);
    Ok(obj)
}

/// Records a non-apply write (create, update, patch) by `manager`: it takes the fields it
/// changed; fields that no longer exist leave every manager.
pub(crate) fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    now: &str,
) {
    let mut managers = old.map(read_managers).unwrap_or_default();
    let new_leaves = leaves(new);
    let old_leaves = old.map(leaves).unwrap_or_default();
    let changed: FieldSet = new_leaves
        .iter()
        .filter(|p| old.and_then(|o| get(o, p)) != get(new, p))
        .cloned()
        .collect();
    let removed: FieldSet = old_leaves.difference(&new_leaves).cloned().collect();
    for m in managers.iter_mut() {
        m.set.retain(|o| {
            let gone = removed.iter().any(|r| overlaps(o, r));
            let taken = m.name != manager && changed.iter().any(|c| overlaps(o, c));
            !gone && !taken
        });
        m.set.retain(|o| new_leaves.iter().any(|n| overlaps(o, n)));
    }
    if !changed.is_empty() {
        match managers.iter_mut().find(|m| m.same_key(manager, "Update")) {
            Some(m) => {
                m.set.extend(changed);
                m.time = now.to_string();
                m.api_version = api_version.to_string();
            }
            None => managers.push(Manager {
                name: manager.to_string(),
                operation: "Update".into(),
                api_version: api_version.to_string(),
                time: now.to_string(),
                set: changed,
            }),
        }
    }
    write_managers(new, &managers);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Path {
        s.split('.')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn leaves_skip_server_fields() {
        let v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "1"}},
                       "data": {"k": "v", "e": {}}, "status": {"s": 1}, "list": [1, 2]});
        let got: Vec<String> = leaves(&v).iter().map(|x| path_string(x)).collect();
        assert_eq!(
            got,
            vec![".data.e", ".data.k", ".list", ".metadata.labels.x"]
        );
    }

    #[test]
    fn fields_v1_round_trip() {
        let set: FieldSet = [p("data.a"), p("metadata.labels.x")].into_iter().collect();
        let enc = encode(&set);
        assert_eq!(
            enc,
            json!({"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {"f:x": {}}}})
        );
        assert_eq!(decode(&enc), set);
    }

    #[test]
    fn apply_cases() {
        let base = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
        let first = apply(None, &base, "alice", false, "v1", "t0").expect("create");
        struct Case {
            name: &'static str,
            applied: Value,
            manager: &'static str,
            force: bool,
            want_data: Option<Value>,
            want_conflict: Option<&'static str>,
        }
        let cases = [
            Case {
                name: "same manager drops a field",
                applied: json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}),
                manager: "alice",
                force: false,
                want_data: Some(json!({"a": "1"})),
                want_conflict: None,
            },
            Case {
                name: "other manager, same value co-owns",
                applied: json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}),
                manager: "bob",
                force: false,
                want_data: Some(json!({"a": "1", "b": "2"})),
                want_conflict: None,
            },
            Case {
                name: "other manager, new value conflicts",
                applied: json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "9"}}),
                manager: "bob",
                force: false,
                want_data: None,
                want_conflict: Some(
                    "Apply failed with 1 conflict: conflict with \"alice\": .data.a",
                ),
            },
            Case {
                name: "force takes over",
                applied: json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "9"}}),
                manager: "bob",
                force: true,
                want_data: Some(json!({"a": "9", "b": "2"})),
                want_conflict: None,
            },
        ];
        for c in cases {
            match apply(Some(&first), &c.applied, c.manager, c.force, "v1", "t1") {
                Ok(obj) => {
                    assert_eq!(Some(obj["data"].clone()), c.want_data, "{}", c.name);
                    assert!(c.want_conflict.is_none(), "{}", c.name);
                }
                Err(conflicts) => assert_eq!(
                    Some(conflict_message(&conflicts).as_str()),
                    c.want_conflict,
                    "{}",
                    c.name
                ),
            }
        }
    }

    #[test]
    fn updates_steal_without_conflict_and_apply_then_conflicts_with_update_manager() {
        let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
        let live = apply(None, &applied, "alice", false, "v1", "t0").expect("create");
        let mut edited = live.clone();
        edited["data"]["a"] = json!("2");
        record_update(Some(&live), &mut edited, "kubectl-edit", "v1", "t1");
        let ms = read_managers(&edited);
        assert!(ms
            .iter()
            .any(|m| m.name == "kubectl-edit" && m.set.contains(&p("data.a"))));
        assert!(
            !ms.iter().any(|m| m.name == "alice"),
            "alice lost her only field: {ms:?}"
        );
        let again = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "3"}});
        let err = apply(Some(&edited), &again, "alice", false, "v1", "t2").expect_err("conflict");
        assert_eq!(
            conflict_message(&err),
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using v1: .data.a"
        );
    }

    #[test]
    fn merge_patch_rfc7386() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
    }
}
