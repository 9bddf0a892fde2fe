//! The emulated etcd + registry: objects of any kind, resourceVersions, validation, and the
//! Status errors the real apiserver returns.
//!
//! Error texts: kubernetes/kubernetes `staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go`
//! (`NewNotFound` "%s %q not found", `NewAlreadyExists` "%s %q already exists", `NewConflict`
//! "Operation cannot be fulfilled on %s %q: %v", `NewInvalid` "%s %q is invalid: %v",
//! `NewForbidden`), the optimistic-lock text of the generic registry store
//! (`OptimisticLockErrorMsg`), name rules from `pkg/util/validation/validation.go`
//! (RFC 1123 subdomain and label, config keys, `RegexError`).

use std::collections::BTreeMap;
use std::time::Instant;

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::resources::{ResourceInfo, Resources};
use super::ssa;

/// A Kubernetes API error, rendered as a `Status` object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KubeError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl KubeError {
    fn new(code: u16, reason: &'static str, message: String, details: Option<Value>) -> Self {
        Self {
            code,
            reason,
            message,
            details,
        }
    }

    /// The `metav1.Status` body.
    pub(crate) fn status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message.into(), None)
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized".into(), None)
    }

    pub(crate) fn not_found(info: &ResourceInfo, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} {:?} not found", info.group_resource(), name),
            Some(details(info, name)),
        )
    }

    /// 404 for a path no handler serves.
    pub(crate) fn no_route() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
            Some(json!({})),
        )
    }

    pub(crate) fn namespace_not_found(ns: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("namespaces {ns:?} not found"),
            Some(json!({"name": ns, "kind": "namespaces"})),
        )
    }

    pub(crate) fn already_exists(info: &ResourceInfo, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} {:?} already exists", info.group_resource(), name),
            Some(details(info, name)),
        )
    }

    pub(crate) fn conflict(info: &ResourceInfo, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} {:?}: the object has been modified; please apply your changes to the latest version and try again",
                info.group_resource(),
                name
            ),
            Some(details(info, name)),
        )
    }

    pub(crate) fn apply_conflict(conflicts: &[ssa::Conflict]) -> Self {
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|c| {
                json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", c.manager),
                       "field": ssa::path_string(&c.path)})
            })
            .collect();
        Self::new(
            409,
            "Conflict",
            ssa::conflict_message(conflicts),
            Some(json!({"causes": causes})),
        )
    }

    /// `NewInvalid` with field errors (field, body).
    pub(crate) fn invalid(group: &str, kind: &str, name: &str, errs: &[FieldError]) -> Self {
        let gk = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let rendered: Vec<String> = errs
            .iter()
            .map(|e| format!("{}: {}", e.field, e.body))
            .collect();
        let message = match rendered.as_slice() {
            [] => format!("{gk} {name:?} is invalid"),
            [one] => format!("{gk} {name:?} is invalid: {one}"),
            many => format!("{gk} {name:?} is invalid: [{}]", many.join(", ")),
        };
        let causes: Vec<Value> = errs
            .iter()
            .map(|e| json!({"reason": e.reason, "message": e.body, "field": e.field}))
            .collect();
        let mut d = json!({"name": name, "kind": kind, "causes": causes});
        if !group.is_empty() {
            d["group"] = json!(group);
        }
        Self::new(422, "Invalid", message, Some(d))
    }

    pub(crate) fn forbidden(info: &ResourceInfo, name: &str, why: &str) -> Self {
        let message = if name.is_empty() {
            format!("{} is forbidden: {why}", info.group_resource())
        } else {
            format!("{} {:?} is forbidden: {why}", info.group_resource(), name)
        };
        Self::new(403, "Forbidden", message, Some(details(info, name)))
    }

    pub(crate) fn forbidden_path(why: &str) -> Self {
        Self::new(
            403,
            "Forbidden",
            format!("forbidden: {why}"),
            Some(json!({})),
        )
    }

    pub(crate) fn method_not_supported(info: &ResourceInfo, action: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!(
                "{action} is not supported on resources of kind {:?}",
                info.group_resource()
            ),
            Some(json!({"group": info.group, "kind": info.resource})),
        )
    }

    pub(crate) fn unsupported_media_type(message: String) -> Self {
        Self::new(415, "UnsupportedMediaType", message, None)
    }

    pub(crate) fn too_large() -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            "Request entity too large: limit is 3145728".into(),
            None,
        )
    }

    pub(crate) fn unavailable(message: String) -> Self {
        Self::new(503, "ServiceUnavailable", message, None)
    }
}

fn details(info: &ResourceInfo, name: &str) -> Value {
    let mut d = Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !info.group.is_empty() {
        d.insert("group".into(), json!(info.group));
    }
    d.insert("kind".into(), json!(info.resource));
    Value::Object(d)
}

/// One field validation error (`field.Error`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldError {
    pub field: String,
    /// `ErrorBody()`: `Invalid value: "x": detail`, `Required value: detail`.
    pub body: String,
    /// Cause type: `FieldValueInvalid`, `FieldValueRequired`.
    pub reason: &'static str,
}

fn invalid_value(field: &str, value: &str, detail: &str) -> FieldError {
    FieldError {
        field: field.into(),
        body: format!("Invalid value: {value:?}: {detail}"),
        reason: "FieldValueInvalid",
    }
}

fn required(field: &str, detail: &str) -> FieldError {
    FieldError {
        field: field.into(),
        body: format!("Required value: {detail}"),
        reason: "FieldValueRequired",
    }
}

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn is_subdomain(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_label)
}

/// `IsDNS1123Subdomain` messages.
pub(crate) fn subdomain_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if !is_subdomain(s) {
        errs.push(format!(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '{DNS1123_SUBDOMAIN_FMT}')"
        ));
    }
    errs
}

/// `IsDNS1123Label` messages.
pub(crate) fn label_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !is_label(s) {
        if is_subdomain(s) {
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(format!(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '{DNS1123_LABEL_FMT}')"
            ));
        }
    }
    errs
}

/// `IsConfigMapKey` messages.
fn config_key_errors(k: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if k.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if k.is_empty()
        || !k
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
    {
        errs.push("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".to_string());
    }
    match k {
        "." => errs.push("must not be '.'".into()),
        ".." => errs.push("must not be '..'".into()),
        _ if k.starts_with("..") => errs.push("must not start with '..'".into()),
        _ => {}
    }
    errs
}

/// `ValidatePathSegmentName` (names of kinds without DNS rules, e.g. RBAC objects).
fn path_segment_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s == "." || s == ".." {
        errs.push(format!("may not be '{s}'"));
    }
    for bad in ["/", "%"] {
        if s.contains(bad) {
            errs.push(format!("may not contain '{bad}'"));
        }
    }
    errs
}

/// Storage key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub group: String,
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub(crate) fn of(info: &ResourceInfo, namespace: &str, name: &str) -> Key {
        Key {
            group: info.group.clone(),
            resource: info.resource.clone(),
            namespace: if info.namespaced {
                namespace.to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }
}

/// A stored object and when it was first written (for controller latencies).
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub obj: Value,
    pub created: Instant,
    /// When it was last written.
    pub updated: Instant,
}

/// Options common to writes.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteOpts {
    pub manager: String,
    pub dry_run: bool,
}

/// Label selector requirement.
#[derive(Debug, Clone, PartialEq)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// Parses a label selector (`a=b,c!=d,e,!f,g in (x,y),h notin (z)`).
fn parse_selector(s: &str) -> Result<Vec<Req>, KubeError> {
    let mut out = Vec::new();
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for ch in s.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    parts.push(cur);
    for p in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let bad = || {
            KubeError::bad_request(format!(
                "unable to parse requirement: found '{p}', expected: in, notin, =, ==, !=, gt, lt"
            ))
        };
        let set = |rest: &str| -> Option<Vec<String>> {
            let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
            Some(
                inner
                    .split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect(),
            )
        };
        if let Some(k) = p.strip_prefix('!') {
            out.push(Req::NotExists(k.trim().to_string()));
        } else if let Some((k, v)) = p.split_once("!=") {
            out.push(Req::Ne(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
            out.push(Req::Eq(k.trim().into(), v.trim().into()));
        } else if let Some((k, rest)) = p.split_once(" notin ") {
            out.push(Req::NotIn(k.trim().into(), set(rest).ok_or_else(bad)?));
        } else if let Some((k, rest)) = p.split_once(" in ") {
            out.push(Req::In(k.trim().into(), set(rest).ok_or_else(bad)?));
        } else if p.contains(' ') {
            return Err(bad());
        } else {
            out.push(Req::Exists(p.to_string()));
        }
    }
    Ok(out)
}

fn selector_matches(reqs: &[Req], labels: Option<&Map<String, Value>>) -> bool {
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    reqs.iter().all(|r| match r {
        Req::Eq(k, v) => get(k) == Some(v.as_str()),
        Req::Ne(k, v) => get(k) != Some(v.as_str()),
        Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
        Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
        Req::Exists(k) => get(k).is_some(),
        Req::NotExists(k) => get(k).is_none(),
    })
}

/// Namespaces the apiserver refuses to delete (namespace lifecycle admission).
const IMMORTAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// All objects of one cluster.
#[derive(Debug, Default)]
pub(crate) struct Store {
    rv: u64,
    pub objects: BTreeMap<Key, Entry>,
    pub resources: Resources,
    /// Bumped on every write, so controllers can tell something changed.
    pub writes: u64,
}

/// RFC 3339 UTC time with seconds precision (`metav1.Time`).
pub(crate) fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

fn new_uid() -> String {
    let mut b = [0u8; 16];
    let _ = getrandom::fill(&mut b);
    super::super::super::keys::uuid_v4_from(b)
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

fn spec_of(obj: &Value) -> Option<&Value> {
    obj.get("spec")
}

impl Store {
    /// Next resourceVersion.
    fn bump(&mut self) -> String {
        self.rv = self.rv.saturating_add(1);
        self.rv.to_string()
    }

    /// Current resourceVersion (for list metadata).
    pub(crate) fn rv(&self) -> String {
        self.rv.to_string()
    }

    /// The object, if stored.
    pub(crate) fn get_entry(&self, info: &ResourceInfo, ns: &str, name: &str) -> Option<&Entry> {
        self.objects.get(&Key::of(info, ns, name))
    }

    /// GET.
    pub(crate) fn get(
        &self,
        info: &ResourceInfo,
        ns: &str,
        name: &str,
    ) -> Result<Value, KubeError> {
        match self.get_entry(info, ns, name) {
            Some(e) => Ok(present(info, &e.obj)),
            None => Err(KubeError::not_found(info, name)),
        }
    }

    /// LIST (all namespaces when `ns` is `None`).
    pub(crate) fn list(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Value, KubeError> {
        let reqs = parse_selector(label_selector.unwrap_or(""))?;
        let fields: Vec<(String, String, bool)> = field_selector
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                if let Some((k, v)) = s.split_once("!=") {
                    Ok((k.trim().to_string(), v.trim().to_string(), false))
                } else if let Some((k, v)) = s.split_once("==").or_else(|| s.split_once('=')) {
                    Ok((k.trim().to_string(), v.trim().to_string(), true))
                } else {
                    Err(KubeError::bad_request(format!(
                        "invalid selector: '{s}'; can't understand '{s}'"
                    )))
                }
            })
            .collect::<Result<_, _>>()?;
        let items: Vec<Value> = self
            .objects
            .iter()
            .filter(|(k, _)| k.group == info.group && k.resource == info.resource)
            .filter(|(k, _)| ns.is_none_or(|n| !info.namespaced || k.namespace == n))
            .filter(|(_, e)| {
                selector_matches(
                    &reqs,
                    e.obj.pointer("/metadata/labels").and_then(Value::as_object),
                )
            })
            .filter(|(k, _)| {
                fields.iter().all(|(f, v, eq)| {
                    let actual = match f.as_str() {
                        "metadata.name" => Some(k.name.as_str()),
                        "metadata.namespace" => Some(k.namespace.as_str()),
                        _ => None,
                    };
                    actual.is_none_or(|a| (a == v) == *eq)
                })
            })
            .map(|(_, e)| {
                let mut o = present(info, &e.obj);
                if !info.custom {
                    // Typed lists carry no per-item apiVersion/kind.
                    if let Value::Object(m) = &mut o {
                        m.remove("apiVersion");
                        m.remove("kind");
                    }
                }
                o
            })
            .collect();
        Ok(json!({
            "kind": format!("{}List", info.kind),
            "apiVersion": info.api_version(),
            "metadata": {"resourceVersion": self.rv()},
            "items": items,
        }))
    }

    fn namespace_ok(&self, info: &ResourceInfo, ns: &str, name: &str) -> Result<(), KubeError> {
        if !info.namespaced {
            return Ok(());
        }
        let ns_info = self.resources.by_resource("", "v1", "namespaces").cloned();
        let Some(ns_info) = ns_info else {
            return Ok(());
        };
        match self.get_entry(&ns_info, "", ns) {
            None => Err(KubeError::namespace_not_found(ns)),
            Some(e) if e.obj.pointer("/metadata/deletionTimestamp").is_some() => Err(KubeError::forbidden(
                info,
                name,
                &format!("unable to create new content in namespace {ns} because it is being terminated"),
            )),
            Some(_) => Ok(()),
        }
    }

    /// Checks the body against the URL and the type (kind, name, namespace), and fills them in.
    fn check_body(
        info: &ResourceInfo,
        ns: &str,
        url_name: Option<&str>,
        body: &mut Value,
    ) -> Result<String, KubeError> {
        let Value::Object(m) = body else {
            return Err(KubeError::bad_request(
                "the object provided is unrecognized (must be of type object)",
            ));
        };
        let kind = m.get("kind").and_then(Value::as_str).unwrap_or("");
        let api_version = m.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        if (!kind.is_empty() && kind != info.kind)
            || (!api_version.is_empty()
                && super::resources::split_api_version(api_version).0 != info.group)
        {
            return Err(KubeError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({})",
                info.api_version()
            )));
        }
        m.insert("apiVersion".into(), json!(info.api_version()));
        m.insert("kind".into(), json!(info.kind));
        let meta = m.entry("metadata").or_insert_with(|| json!({}));
        let Value::Object(meta) = meta else {
            return Err(KubeError::bad_request("metadata must be an object"));
        };
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if let Some(url_name) = url_name {
            if name.is_empty() {
                meta.insert("name".into(), json!(url_name));
            } else if name != url_name {
                return Err(KubeError::bad_request(format!(
                    "the name of the object ({name}) does not match the name on the URL ({url_name})"
                )));
            }
        }
        if info.namespaced {
            match meta.get("namespace").and_then(Value::as_str) {
                Some(n) if !n.is_empty() && n != ns => {
                    return Err(KubeError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ))
                }
                _ => {
                    meta.insert("namespace".into(), json!(ns));
                }
            }
        } else {
            meta.remove("namespace");
        }
        Ok(meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string())
    }

    /// Kind-specific validation (the subset of `pkg/apis/core/validation` the lab checks).
    fn validate(info: &ResourceInfo, obj: &Value) -> Result<(), KubeError> {
        let name = meta_str(obj, "name").unwrap_or("");
        let mut errs = Vec::new();
        if name.is_empty() {
            errs.push(required(
                "metadata.name",
                "name or generateName is required",
            ));
        } else {
            let name_errs = match (info.group.as_str(), info.resource.as_str()) {
                ("", "namespaces") => label_errors(name),
                ("", "services") => label_errors(name),
                ("", _) | ("apps", _) | ("batch", _) => subdomain_errors(name),
                ("apiextensions.k8s.io", _) => subdomain_errors(name),
                _ if info.custom => subdomain_errors(name),
                _ => path_segment_errors(name),
            };
            for e in name_errs {
                errs.push(invalid_value("metadata.name", name, &e));
            }
        }
        if let Some(labels) = obj.pointer("/metadata/labels") {
            if let Some(m) = labels.as_object() {
                for (k, v) in m {
                    if !v.is_string() {
                        return Err(KubeError::bad_request(format!(
                            "json: cannot unmarshal {} into Go struct field ObjectMeta.metadata.labels of type string",
                            json_type(v)
                        )));
                    }
                    let key_name = k.rsplit('/').next().unwrap_or(k);
                    if key_name.is_empty()
                        || key_name.len() > 63
                        || !key_name
                            .bytes()
                            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
                    {
                        errs.push(invalid_value("metadata.labels", k, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"));
                    }
                }
            }
        }
        if info.group.is_empty() && (info.resource == "configmaps" || info.resource == "secrets") {
            for field in ["data", "binaryData"] {
                if let Some(m) = obj.get(field).and_then(Value::as_object) {
                    for k in m.keys() {
                        for e in config_key_errors(k) {
                            errs.push(invalid_value(&format!("{field}[{k}]"), k, &e));
                        }
                    }
                }
            }
        }
        if info.group == "apiextensions.k8s.io" && info.resource == "customresourcedefinitions" {
            let plural = obj
                .pointer("/spec/names/plural")
                .and_then(Value::as_str)
                .unwrap_or("");
            let group = obj
                .pointer("/spec/group")
                .and_then(Value::as_str)
                .unwrap_or("");
            if name != format!("{plural}.{group}") {
                errs.push(invalid_value(
                    "metadata.name",
                    name,
                    "must be spec.names.plural+\".\"+spec.group",
                ));
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(KubeError::invalid(&info.group, &info.kind, name, &errs))
        }
    }

    /// Fills in what the server owns and normalizes kind-specific fields.
    fn finish(
        &mut self,
        info: &ResourceInfo,
        old: Option<&Value>,
        obj: &mut Value,
    ) -> Result<(), KubeError> {
        // Secret: stringData is write-only and merged into data; data must be base64.
        if info.group.is_empty() && info.resource == "secrets" {
            if let Value::Object(m) = obj {
                let string_data = m.remove("stringData");
                if let Some(Value::Object(sd)) = string_data {
                    let data = m.entry("data").or_insert_with(|| json!({}));
                    if let Value::Object(d) = data {
                        for (k, v) in sd {
                            let s = v.as_str().unwrap_or("").to_string();
                            d.insert(
                                k,
                                json!(base64::engine::general_purpose::STANDARD.encode(s)),
                            );
                        }
                    }
                }
                if let Some(Value::Object(d)) = m.get("data") {
                    for v in d.values() {
                        let ok = v.as_str().is_some_and(|s| {
                            base64::engine::general_purpose::STANDARD.decode(s).is_ok()
                        });
                        if !ok {
                            return Err(KubeError::bad_request(
                                "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 0",
                            ));
                        }
                    }
                }
                m.entry("type").or_insert_with(|| json!("Opaque"));
            }
        }
        if info.group.is_empty() && info.resource == "namespaces" {
            let name = meta_str(obj, "name").unwrap_or("").to_string();
            if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
                let labels = meta.entry("labels").or_insert_with(|| json!({}));
                if let Value::Object(l) = labels {
                    l.insert("kubernetes.io/metadata.name".into(), json!(name));
                }
            }
            if obj.pointer("/spec/finalizers").is_none() {
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
            }
            let phase = old
                .and_then(|o| o.pointer("/status/phase"))
                .cloned()
                .unwrap_or(json!("Active"));
            obj["status"] = json!({"phase": phase});
        }
        if info.group == "apiextensions.k8s.io" && info.resource == "customresourcedefinitions" {
            let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
            let stored: Vec<Value> = obj
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                        .filter_map(|v| v.get("name").cloned())
                        .collect()
                })
                .unwrap_or_default();
            let now = now_rfc3339();
            obj["status"] = json!({
                "acceptedNames": names,
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts", "message": "no conflicts found"},
                    {"type": "Established", "status": "True", "lastTransitionTime": now, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
                ],
                "storedVersions": stored,
            });
        }
        let generation = match old {
            None => 1,
            Some(o) => {
                let g = o
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                if spec_of(o) != spec_of(obj) {
                    g.saturating_add(1)
                } else {
                    g
                }
            }
        };
        let uid = old
            .and_then(|o| meta_str(o, "uid"))
            .map(str::to_string)
            .unwrap_or_else(new_uid);
        let created = old
            .and_then(|o| meta_str(o, "creationTimestamp"))
            .map(str::to_string)
            .unwrap_or_else(now_rfc3339);
        let rv = self.bump();
        let Some(Value::Object(meta)) = obj.get_mut("metadata") else {
            return Err(KubeError::bad_request("metadata must be an object"));
        };
        meta.insert("uid".into(), json!(uid));
        meta.insert("resourceVersion".into(), json!(rv));
        meta.insert("creationTimestamp".into(), json!(created));
        if info.has_generation() {
            meta.insert("generation".into(), json!(generation));
        }
        if let Some(dt) = old.and_then(|o| o.pointer("/metadata/deletionTimestamp")) {
            meta.insert("deletionTimestamp".into(), dt.clone());
        }
        Ok(())
    }

    fn put(&mut self, info: &ResourceInfo, ns: &str, name: &str, obj: Value) {
        let key = Key::of(info, ns, name);
        let created = self
            .objects
            .get(&key)
            .map(|e| e.created)
            .unwrap_or_else(Instant::now);
        if info.group == "apiextensions.k8s.io" && info.resource == "customresourcedefinitions" {
            self.resources.register_crd(&obj);
        }
        let updated = Instant::now();
        self.objects.insert(
            key,
            Entry {
                obj,
                created,
                updated,
            },
        );
        self.writes = self.writes.wrapping_add(1);
    }

    /// POST.
    pub(crate) fn create(
        &mut self,
        info: &ResourceInfo,
        ns: &str,
        mut body: Value,
        opts: &WriteOpts,
    ) -> Result<Value, KubeError> {
        let name = Self::check_body(info, ns, None, &mut body)?;
        Self::validate(info, &body)?;
        self.namespace_ok(info, ns, &name)?;
        if self.get_entry(info, ns, &name).is_some() {
            return Err(KubeError::already_exists(info, &name));
        }
        if let Some(Value::Object(meta)) = body.get_mut("metadata") {
            for k in [
                "uid",
                "resourceVersion",
                "creationTimestamp",
                "generation",
                "deletionTimestamp",
                "managedFields",
            ] {
                meta.remove(k);
            }
        }
        self.finish(info, None, &mut body)?;
        ssa::record_update(
            None,
            &mut body,
            &opts.manager,
            &info.api_version(),
            &now_rfc3339(),
        );
        if !opts.dry_run {
            self.put(info, ns, &name, body.clone());
        }
        Ok(present(info, &body))
    }

    /// PUT.
    pub(crate) fn update(
        &mut self,
        info: &ResourceInfo,
        ns: &str,
        name: &str,
        mut body: Value,
        opts: &WriteOpts,
    ) -> Result<Value, KubeError> {
        Self::check_body(info, ns, Some(name), &mut body)?;
        let Some(old) = self.get_entry(info, ns, name).map(|e| e.obj.clone()) else {
            return Err(KubeError::not_found(info, name));
        };
        if let Some(rv) = meta_str(&body, "resourceVersion") {
            if !rv.is_empty() && Some(rv) != meta_str(&old, "resourceVersion") {
                return Err(KubeError::conflict(info, name));
            }
        }
        Self::validate(info, &body)?;
        if let Some(Value::Object(meta)) = body.get_mut("metadata") {
            meta.remove("managedFields");
        }
        if let Some(mf) = old.pointer("/metadata/managedFields") {
            body["metadata"]["managedFields"] = mf.clone();
        }
        self.write_changed(info, ns, name, &old, body, opts)
    }

    fn write_changed(
        &mut self,
        info: &ResourceInfo,
        ns: &str,
        name: &str,
        old: &Value,
        mut new: Value,
        opts: &WriteOpts,
    ) -> Result<Value, KubeError> {
        if unchanged(old, &new) {
            return Ok(present(info, old));
        }
        self.finish(info, Some(old), &mut new)?;
        ssa::record_update(
            Some(old),
            &mut new,
            &opts.manager,
            &info.api_version(),
            &now_rfc3339(),
        );
        if !opts.dry_run {
            self.put(info, ns, name, new.clone());
        }
        Ok(present(info, &new))
    }

    /// PATCH with a merge-style or JSON patch (not apply).
    pub(crate) fn patch(
        &mut self,
        info: &ResourceInfo,
        ns: &str,
        name: &str,
        patch_type: PatchType,
        patch: &Value,
        opts: &WriteOpts,
    ) -> Result<Value, KubeError> {
        let Some(old) = self.get_entry(info, ns, name).map(|e| e.obj.clone()) else {
            return Err(KubeError::not_found(info, name));
        };
        let mut new = old.clone();
        match patch_type {
            PatchType::Merge | PatchType::StrategicMerge => ssa::merge_patch(&mut new, patch),
            PatchType::Json => json_patch(&mut new, patch)?,
        }
        let rv = meta_str(&new, "resourceVersion").map(str::to_string);
        if rv.is_some() && rv.as_deref() != meta_str(&old, "resourceVersion") {
            return Err(KubeError::conflict(info, name));
        }
        Self::check_body(info, ns, Some(name), &mut new)?;
        Self::validate(info, &new)?;
        if let Some(mf) = old.pointer("/metadata/managedFields") {
            new["metadata"]["managedFields"] = mf.clone();
        }
        self.write_changed(info, ns, name, &old, new, opts)
    }

    /// PATCH with `application/apply-patch+yaml`: creates or merges with field ownership.
    /// Returns the object and whether it was created.
    pub(crate) fn apply(
        &mut self,
        info: &ResourceInfo,
        ns: &str,
        name: &str,
        mut body: Value,
        force: bool,
        opts: &WriteOpts,
    ) -> Result<(Value, bool), KubeError> {
        if opts.manager.is_empty() {
            return Err(KubeError::invalid(
                "meta.k8s.io",
                "PatchOptions",
                "",
                &[required("fieldManager", "is required for apply patch")],
            ));
        }
        if body
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
            || body
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
        {
            return Err(KubeError::bad_request("invalid object type: /, Kind="));
        }
        Self::check_body(info, ns, Some(name), &mut body)?;
        let old = self.get_entry(info, ns, name).map(|e| e.obj.clone());
        if let (Some(old), Some(rv)) = (&old, meta_str(&body, "resourceVersion")) {
            if Some(rv) != meta_str(old, "resourceVersion") {
                return Err(KubeError::conflict(info, name));
            }
        }
        if old.is_none() {
            self.namespace_ok(info, ns, name)?;
        }
        let now = now_rfc3339();
        let merged = ssa::apply(
            old.as_ref(),
            &body,
            &opts.manager,
            force,
            &info.api_version(),
            &now,
        )
        .map_err(|c| KubeError::apply_conflict(&c))?;
        let mut merged = merged;
        Self::check_body(info, ns, Some(name), &mut merged)?;
        Self::validate(info, &merged)?;
        match old {
            Some(old) => {
                if unchanged(&old, &merged)
                    && old.pointer("/metadata/managedFields")
                        == merged.pointer("/metadata/managedFields")
                {
                    return Ok((present(info, &old), false));
                }
                self.finish(info, Some(&old), &mut merged)?;
                if !opts.dry_run {
                    self.put(info, ns, name, merged.clone());
                }
                Ok((present(info, &merged), false))
            }
            None => {
                self.finish(info, None, &mut merged)?;
                if !opts.dry_run {
                    self.put(info, ns, name, merged.clone());
                }
                Ok((present(info, &merged), true))
            }
        }
    }

    /// DELETE. Namespaces go to `Terminating` (the controller empties and removes them);
    /// other objects go at once and a Success Status is returned.
    pub(crate) fn delete(
        &mut self,
        info: &ResourceInfo,
        ns: &str,
        name: &str,
        dry_run: bool,
    ) -> Result<Value, KubeError> {
        let Some(old) = self.get_entry(info, ns, name).map(|e| e.obj.clone()) else {
            return Err(KubeError::not_found(info, name));
        };
        if info.group.is_empty() && info.resource == "namespaces" {
            if IMMORTAL_NAMESPACES.contains(&name) {
                return Err(KubeError::forbidden(
                    info,
                    name,
                    "this namespace may not be deleted",
                ));
            }
            let mut obj = old.clone();
            if obj.pointer("/metadata/deletionTimestamp").is_none() {
                obj["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                obj["status"]["phase"] = json!("Terminating");
                let rv = self.bump();
                obj["metadata"]["resourceVersion"] = json!(rv);
                if !dry_run {
                    self.put(info, ns, name, obj.clone());
                }
            }
            return Ok(present(info, &obj));
        }
        if !dry_run {
            self.remove(info, ns, name);
        }
        let mut d = details(info, name);
        if let Some(uid) = meta_str(&old, "uid") {
            d["uid"] = json!(uid);
        }
        Ok(
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": d}),
        )
    }

    /// Removes an object outright (and what depends on it).
    pub(crate) fn remove(&mut self, info: &ResourceInfo, ns: &str, name: &str) {
        let removed = self.objects.remove(&Key::of(info, ns, name));
        self.bump();
        self.writes = self.writes.wrapping_add(1);
        if let Some(e) = removed {
            if info.group == "apiextensions.k8s.io" && info.resource == "customresourcedefinitions"
            {
                let group = e
                    .obj
                    .pointer("/spec/group")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let plural = e
                    .obj
                    .pointer("/spec/names/plural")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                self.resources.unregister_crd(&group, &plural);
                self.objects
                    .retain(|k, _| !(k.group == group && k.resource == plural));
            }
        }
    }

    /// Writes an object from a controller (status updates, seeded objects) without checks.
    pub(crate) fn controller_put(&mut self, info: &ResourceInfo, mut obj: Value, manager: &str) {
        let ns = meta_str(&obj, "namespace").unwrap_or("").to_string();
        let name = meta_str(&obj, "name").unwrap_or("").to_string();
        let old = self.get_entry(info, &ns, &name).map(|e| e.obj.clone());
        if let Some(o) = &old {
            if unchanged(o, &obj) {
                return;
            }
            if let Some(mf) = o.pointer("/metadata/managedFields") {
                obj["metadata"]["managedFields"] = mf.clone();
            }
        }
        if self.finish(info, old.as_ref(), &mut obj).is_ok() {
            ssa::record_update(
                old.as_ref(),
                &mut obj,
                manager,
                &info.api_version(),
                &now_rfc3339(),
            );
            self.put(info, &ns, &name, obj);
        }
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Whether two versions differ only in server-kept metadata.
fn unchanged(a: &Value, b: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(Value::Object(m)) = v.get_mut("metadata") {
            for k in [
                "resourceVersion",
                "managedFields",
                "generation",
                "creationTimestamp",
                "uid",
            ] {
                m.remove(k);
            }
        }
        v
    }
    strip(a) == strip(b)
}

/// The object as returned to clients (stored apiVersion rewritten to the requested one).
fn present(info: &ResourceInfo, obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Value::Object(m) = &mut o {
        m.insert("apiVersion".into(), json!(info.api_version()));
    }
    o
}

/// PATCH body types (`Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchType {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`; the lab merges it like a JSON merge patch
    /// (no patch strategies, lists replaced).
    StrategicMerge,
    /// `application/json-patch+json`.
    Json,
}

/// RFC 6902 (add, remove, replace, test, copy, move).
fn json_patch(target: &mut Value, ops: &Value) -> Result<(), KubeError> {
    let bad = |m: &str| KubeError::unsupported_media_type(m.to_string());
    let _ = bad;
    let Some(ops) = ops.as_array() else {
        return Err(KubeError::bad_request(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
        ));
    };
    for op in ops {
        let kind = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = op.get("path").and_then(Value::as_str).unwrap_or("");
        let value = op.get("value").cloned();
        let fail = |what: &str| {
            KubeError::new(
                422,
                "Invalid",
                format!("the server rejected our request due to an error in our request: {what}"),
                None,
            )
        };
        match kind {
            "add" | "replace" => {
                let v = value.ok_or_else(|| fail("missing value"))?;
                if kind == "replace" && target.pointer(path).is_none() {
                    return Err(fail(&format!(
                        "replace operation does not apply: doc is missing key: {path}"
                    )));
                }
                set_pointer(target, path, v, kind == "add").map_err(|e| fail(&e))?;
            }
            "remove" => {
                remove_pointer(target, path).ok_or_else(|| {
                    fail(&format!(
                        "remove operation does not apply: doc is missing path: {path}"
                    ))
                })?;
            }
            "test" => {
                if target.pointer(path) != value.as_ref() {
                    return Err(fail("testing value failed"));
                }
            }
            "copy" | "move" => {
                let from = op.get("from").and_then(Value::as_str).unwrap_or("");
                let v = target
                    .pointer(from)
                    .cloned()
                    .ok_or_else(|| fail("missing from"))?;
                if kind == "move" {
                    remove_pointer(target, from);
                }
                set_pointer(target, path, v, true).map_err(|e| fail(&e))?;
            }
            other => return Err(fail(&format!("Unexpected kind: {other}"))),
        }
    }
    Ok(())
}

fn unescape(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

fn set_pointer(target: &mut Value, path: &str, v: Value, insert: bool) -> Result<(), String> {
    if path.is_empty() {
        *target = v;
        return Ok(());
    }
    let (parent, last) = path.rsplit_once('/').ok_or("bad path")?;
    let last = unescape(last);
    let p = target
        .pointer_mut(parent)
        .ok_or_else(|| format!("doc is missing path: {path}"))?;
    match p {
        Value::Object(m) => {
            m.insert(last, v);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(v);
                return Ok(());
            }
            let i: usize = last.parse().map_err(|_| "bad index".to_string())?;
            if insert && i <= a.len() {
                a.insert(i, v);
                Ok(())
            } else if !insert && i < a.len() {
                a[i] = v;
                Ok(())
            } else {
                Err("index out of range".into())
            }
        }
        _ => Err("cannot add to a scalar".into()),
    }
}

fn remove_pointer(target: &mut Value, path: &str) -> Option<Value> {
    let (parent, last) = path.rsplit_once('/')?;
    let last = unescape(last);
    match target.pointer_mut(parent)? {
        Value::Object(m) => m.remove(&last),
        Value::Array(a) => {
            let i: usize = last.parse().ok()?;
            (i < a.len()).then(|| a.remove(i))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_ns(ns: &str) -> Store {
        let mut s = Store::default();
        let info = s
            .resources
            .by_resource("", "v1", "namespaces")
            .cloned()
            .expect("ns type");
        s.create(
            &info,
            "",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            &WriteOpts {
                manager: "t".into(),
                dry_run: false,
            },
        )
        .expect("namespace");
        s
    }

    #[test]
    fn names_are_validated_like_the_apiserver() {
        let cases = [
            ("good", "my-config", None),
            ("upper case", "Foo", Some("ConfigMap \"Foo\" is invalid: metadata.name: Invalid value: \"Foo\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")),
            ("missing", "", Some("ConfigMap \"\" is invalid: metadata.name: Required value: name or generateName is required")),
        ];
        for (name, obj_name, want) in cases {
            let mut s = store_with_ns("default");
            let info = s
                .resources
                .by_resource("", "v1", "configmaps")
                .cloned()
                .expect("cm");
            let r = s.create(
                &info,
                "default",
                json!({"metadata": {"name": obj_name}, "data": {"a": "b"}}),
                &WriteOpts {
                    manager: "t".into(),
                    dry_run: false,
                },
            );
            match want {
                None => assert!(r.is_ok(), "{name}: {r:?}"),
                Some(msg) => {
                    let e = r.expect_err(name);
                    assert_eq!(e.code, 422, "{name}");
                    assert_eq!(e.message, msg, "{name}");
                }
            }
        }
    }

    #[test]
    fn label_selectors() {
        let labels = json!({"app": "a", "tier": "web"});
        let m = labels.as_object();
        let cases = [
            ("eq", "app=a", true),
            ("ne", "app!=a", false),
            ("exists", "tier", true),
            ("not exists", "!tier", false),
            ("in", "app in (a,b)", true),
            ("notin", "app notin (a,b)", false),
            ("and", "app=a,tier=db", false),
        ];
        for (name, sel, want) in cases {
            let reqs = parse_selector(sel).expect(name);
            assert_eq!(selector_matches(&reqs, m), want, "{name}");
        }
    }

    #[test]
    fn json_patch_ops() {
        let mut v = json!({"a": {"b": 1}, "l": [1, 2]});
        json_patch(&mut v, &json!([{"op": "add", "path": "/a/c", "value": 2}, {"op": "remove", "path": "/a/b"},
                                    {"op": "add", "path": "/l/-", "value": 3}, {"op": "replace", "path": "/l/0", "value": 0}]))
            .expect("patch");
        assert_eq!(v, json!({"a": {"c": 2}, "l": [0, 2, 3]}));
        assert!(json_patch(
            &mut v,
            &json!([{"op": "replace", "path": "/zz", "value": 1}])
        )
        .is_err());
    }
}
