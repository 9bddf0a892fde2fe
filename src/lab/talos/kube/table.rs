//! Server-side printing: the `meta.k8s.io` `Table` the apiserver answers when a client asks for
//! it in `Accept` (kubectl sends `application/json;as=Table;v=v1;g=meta.k8s.io,
//! application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json`), for lists and single
//! objects alike.
//!
//! Facts, each from kubernetes/kubernetes (staging copies in kubernetes/apimachinery,
//! kubernetes/apiserver, kubernetes/api):
//! - Column definitions and cells: `pkg/printers/internalversion/printers.go` (`AddHandlers`,
//!   `printNode`, `findNodeRoles`, `getNodeInternalIP`, `printNamespace`, `printSecret`,
//!   `printServiceAccount`, `printConfigMap`, `printLease`, `translateTimestampSince`). The
//!   apiserver's `TableConvertor` (`pkg/printers/storage/storage.go`) always prints wide, so
//!   priority-1 columns and cells are always present.
//! - Kinds without a printer: `staging/src/k8s.io/apiserver/pkg/registry/rest/table.go`
//!   `defaultTableConvertor` (Name, `Created At` as RFC 3339 UTC).
//! - Column descriptions are the types' `SwaggerDoc()` texts:
//!   `apimachinery/pkg/apis/meta/v1/types_swagger_doc_generated.go` (`ObjectMeta`),
//!   `api/core/v1/types_swagger_doc_generated.go`, `api/coordination/v1/...`.
//! - Row objects: `apiserver/pkg/endpoints/handlers/response.go` `asTable`:
//!   `includeObject=Metadata` (the default) gives a `PartialObjectMetadata` of the Table's
//!   group/version, `Object` the full object, `None` nothing (`"object": null`, as
//!   `runtime.RawExtension` marshals an empty value); any other value is a 400
//!   `unrecognized includeObject value: "x"`.
//! - Table JSON field names and which are `omitempty`: `apimachinery/pkg/apis/meta/v1/types.go`
//!   (`Table`, `TableColumnDefinition`, `TableRow`).
//! - Ages: `apimachinery/pkg/util/duration/duration.go` `HumanDuration`.

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::resources::ResourceInfo;
use super::store::KubeError;

/// What the client asked for in `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wanted {
    /// The object or list itself.
    Object,
    /// A `Table` of `meta.k8s.io/<version>` (`v1` or `v1beta1`).
    Table(&'static str),
}

/// Picks the first media type of `Accept` the apiserver can serve (order of the header, as
/// kubectl lists its preferences in order). `as=Table` is served for `g=meta.k8s.io` and
/// `v=v1`/`v1beta1`; other `as=` values and unknown types are skipped.
pub(crate) fn negotiate(accept: &str) -> Wanted {
    for clause in accept.split(',') {
        let mut parts = clause.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let (mut as_kind, mut group, mut version) = (None, None, None);
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                match k.trim() {
                    "as" => as_kind = Some(v.trim().to_string()),
                    "g" => group = Some(v.trim().to_string()),
                    "v" => version = Some(v.trim().to_string()),
                    _ => {}
                }
            }
        }
        if !matches!(media.as_str(), "application/json" | "*/*" | "application/*") {
            continue;
        }
        match (as_kind.as_deref(), group.as_deref(), version.as_deref()) {
            (None, _, _) => return Wanted::Object,
            (Some("Table"), Some("meta.k8s.io"), Some("v1")) => return Wanted::Table("v1"),
            (Some("Table"), Some("meta.k8s.io"), Some("v1beta1")) => {
                return Wanted::Table("v1beta1")
            }
            _ => continue,
        }
    }
    Wanted::Object
}

/// `TableOptions.includeObject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Include {
    None,
    Metadata,
    Object,
}

impl Include {
    /// Parses the query value (empty means `Metadata`).
    pub(crate) fn parse(v: Option<&str>) -> Result<Include, KubeError> {
        match v.unwrap_or("") {
            "" | "Metadata" => Ok(Include::Metadata),
            "None" => Ok(Include::None),
            "Object" => Ok(Include::Object),
            other => Err(KubeError::bad_request(format!(
                "unrecognized includeObject value: {other:?}"
            ))),
        }
    }
}

/// `metav1.ObjectMeta{}.SwaggerDoc()["name"]`.
const DOC_NAME: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
/// `metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]`.
const DOC_CREATED: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
/// `apiv1.NodeSystemInfo{}.SwaggerDoc()["kubeletVersion"]`.
const DOC_KUBELET_VERSION: &str = "Kubelet Version reported by the node.";
/// `apiv1.NodeStatus{}.SwaggerDoc()["addresses"]`.
const DOC_ADDRESSES: &str = "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).";
/// `apiv1.NodeSystemInfo{}.SwaggerDoc()["osImage"]`.
const DOC_OS_IMAGE: &str =
    "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).";
/// `apiv1.NodeSystemInfo{}.SwaggerDoc()["kernelVersion"]`.
const DOC_KERNEL: &str =
    "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).";
/// `apiv1.NodeSystemInfo{}.SwaggerDoc()["containerRuntimeVersion"]`.
const DOC_RUNTIME: &str = "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).";
/// `apiv1.Secret{}.SwaggerDoc()["type"]`.
const DOC_SECRET_TYPE: &str = "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types";
/// `apiv1.Secret{}.SwaggerDoc()["data"]`.
const DOC_SECRET_DATA: &str = "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4";
/// `apiv1.ServiceAccount{}.SwaggerDoc()["secrets"]`.
const DOC_SA_SECRETS: &str = "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use. Pods are only limited to this list if this service account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The \"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer separate namespaces to isolate access to mounted secrets. This field should not be used to find auto-generated service account token secrets for use outside of pods. Instead, tokens can be requested directly using the TokenRequest API, or service account token secrets can be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret";
/// `apiv1.ConfigMap{}.SwaggerDoc()["data"]`.
const DOC_CM_DATA: &str = "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.";
/// `coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]`.
const DOC_HOLDER: &str = "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.";

/// One `TableColumnDefinition`: (name, type, format, description, priority).
type Column = (&'static str, &'static str, &'static str, &'static str, u8);

const NAME: Column = ("Name", "string", "name", DOC_NAME, 0);
const AGE: Column = ("Age", "string", "", DOC_CREATED, 0);

const NODE_COLUMNS: &[Column] = &[
    NAME,
    ("Status", "string", "", "The status of the node", 0),
    ("Roles", "string", "", "The roles of the node", 0),
    AGE,
    ("Version", "string", "", DOC_KUBELET_VERSION, 0),
    ("Internal-IP", "string", "", DOC_ADDRESSES, 1),
    ("External-IP", "string", "", DOC_ADDRESSES, 1),
    ("OS-Image", "string", "", DOC_OS_IMAGE, 1),
    ("Kernel-Version", "string", "", DOC_KERNEL, 1),
    ("Container-Runtime", "string", "", DOC_RUNTIME, 1),
];
const NAMESPACE_COLUMNS: &[Column] = &[
    NAME,
    ("Status", "string", "", "The status of the namespace", 0),
    AGE,
];
const SECRET_COLUMNS: &[Column] = &[
    NAME,
    ("Type", "string", "", DOC_SECRET_TYPE, 0),
    ("Data", "string", "", DOC_SECRET_DATA, 0),
    AGE,
];
const SERVICE_ACCOUNT_COLUMNS: &[Column] =
    &[NAME, ("Secrets", "string", "", DOC_SA_SECRETS, 0), AGE];
const CONFIG_MAP_COLUMNS: &[Column] = &[NAME, ("Data", "string", "", DOC_CM_DATA, 0), AGE];
const LEASE_COLUMNS: &[Column] = &[NAME, ("Holder", "string", "", DOC_HOLDER, 0), AGE];
const DEFAULT_COLUMNS: &[Column] = &[NAME, ("Created At", "date", "", DOC_CREATED, 0)];

/// The printer of one kind: its columns and how a row's cells are made.
struct Printer {
    columns: &'static [Column],
    cells: fn(&Value, OffsetDateTime) -> Vec<Value>,
}

fn printer(info: &ResourceInfo) -> Printer {
    let p = |columns, cells| Printer { columns, cells };
    if info.custom {
        return p(DEFAULT_COLUMNS, default_cells);
    }
    match (info.group.as_str(), info.resource.as_str()) {
        ("", "nodes") => p(NODE_COLUMNS, node_cells),
        ("", "namespaces") => p(NAMESPACE_COLUMNS, namespace_cells),
        ("", "secrets") => p(SECRET_COLUMNS, secret_cells),
        ("", "serviceaccounts") => p(SERVICE_ACCOUNT_COLUMNS, service_account_cells),
        ("", "configmaps") => p(CONFIG_MAP_COLUMNS, config_map_cells),
        ("coordination.k8s.io", "leases") => p(LEASE_COLUMNS, lease_cells),
        _ => p(DEFAULT_COLUMNS, default_cells),
    }
}

/// Converts a GET answer (a list or one object) into a `Table` of `meta.k8s.io/<version>`.
pub(crate) fn to_table(
    info: &ResourceInfo,
    answer: &Value,
    version: &str,
    include: Include,
    now: OffsetDateTime,
) -> Value {
    let printer = printer(info);
    let columns: Vec<Value> = printer
        .columns
        .iter()
        .map(|(name, ty, format, description, priority)| {
            json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
        })
        .collect();
    let single = [answer.clone()];
    let items: &[Value] = match answer.get("items").and_then(Value::as_array) {
        Some(items) => items,
        None => &single,
    };
    let table_api = format!("meta.k8s.io/{version}");
    let rows: Vec<Value> = items
        .iter()
        .map(|obj| {
            let object = match include {
                Include::None => Value::Null,
                Include::Metadata => json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": table_api,
                    "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
                }),
                Include::Object => {
                    let mut o = obj.clone();
                    if let Value::Object(m) = &mut o {
                        m.insert("kind".into(), json!(info.kind));
                        m.insert("apiVersion".into(), json!(info.api_version()));
                    }
                    o
                }
            };
            json!({"cells": (printer.cells)(obj, now), "object": object})
        })
        .collect();
    let mut meta = Map::new();
    if let Some(rv) = answer
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        meta.insert("resourceVersion".into(), json!(rv));
    }
    json!({
        "kind": "Table",
        "apiVersion": table_api,
        "metadata": meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

fn s<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn len_of(obj: &Value, pointer: &str) -> usize {
    match obj.pointer(pointer) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

fn created(obj: &Value) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(
        s(obj, "/metadata/creationTimestamp"),
        &time::format_description::well_known::Rfc3339,
    )
    .ok()
}

/// `translateTimestampSince`: `<unknown>` without a timestamp, else `HumanDuration`.
fn age(obj: &Value, now: OffsetDateTime) -> Value {
    match created(obj) {
        None => json!("<unknown>"),
        Some(t) => json!(human_duration((now - t).whole_milliseconds())),
    }
}

/// `duration.HumanDuration` of a span in milliseconds.
pub(crate) fn human_duration(ms: i128) -> String {
    // Go truncates toward zero in `int(d.Seconds())`.
    let seconds = ms / 1000;
    if seconds < -1 {
        return "<invalid>".into();
    }
    if ms < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// `defaultTableConvertor`: name and the creation time as RFC 3339 in UTC.
fn default_cells(obj: &Value, _now: OffsetDateTime) -> Vec<Value> {
    let at = created(obj)
        .and_then(|t| {
            t.to_offset(time::UtcOffset::UTC)
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        // A zero Go time formats as the year-1 instant.
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
    vec![json!(s(obj, "/metadata/name")), json!(at)]
}

/// `printNode`: Ready/NotReady/Unknown from the Ready condition, `,SchedulingDisabled` when
/// cordoned; roles from `node-role.kubernetes.io/<role>` and `kubernetes.io/role` labels
/// (sorted, `<none>` without any); then the wide cells.
fn node_cells(obj: &Value, now: OffsetDateTime) -> Vec<Value> {
    let mut status: Vec<&str> = Vec::new();
    if let Some(ready) = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().rev().find(|c| c["type"] == "Ready"))
    {
        status.push(if ready["status"] == "True" {
            "Ready"
        } else {
            "NotReady"
        });
    }
    if status.is_empty() {
        status.push("Unknown");
    }
    if obj.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled");
    }
    let mut roles: Vec<&str> = obj
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| match k.strip_prefix("node-role.kubernetes.io/") {
                    Some(role) if !role.is_empty() => Some(role),
                    Some(_) => None,
                    None if k == "kubernetes.io/role" => v.as_str().filter(|v| !v.is_empty()),
                    None => None,
                })
                .collect()
        })
        .unwrap_or_default();
    roles.sort_unstable();
    roles.dedup();
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };
    let address = |kind: &str| {
        obj.pointer("/status/addresses")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|x| x["type"] == kind))
            .and_then(|x| x["address"].as_str())
            .unwrap_or("<none>")
            .to_string()
    };
    let or_unknown = |p: &str| {
        let v = s(obj, p);
        if v.is_empty() {
            "<unknown>".to_string()
        } else {
            v.to_string()
        }
    };
    vec![
        json!(s(obj, "/metadata/name")),
        json!(status.join(",")),
        json!(roles),
        age(obj, now),
        json!(s(obj, "/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(or_unknown("/status/nodeInfo/osImage")),
        json!(or_unknown("/status/nodeInfo/kernelVersion")),
        json!(or_unknown("/status/nodeInfo/containerRuntimeVersion")),
    ]
}

/// `printNamespace`: name, phase, age.
fn namespace_cells(obj: &Value, now: OffsetDateTime) -> Vec<Value> {
    vec![
        json!(s(obj, "/metadata/name")),
        json!(s(obj, "/status/phase")),
        age(obj, now),
    ]
}

/// `printSecret`: name, type, number of data keys, age.
fn secret_cells(obj: &Value, now: OffsetDateTime) -> Vec<Value> {
    vec![
        json!(s(obj, "/metadata/name")),
        json!(s(obj, "/type")),
        json!(len_of(obj, "/data")),
        age(obj, now),
    ]
}

/// `printServiceAccount`: name, number of secrets, age.
fn service_account_cells(obj: &Value, now: OffsetDateTime) -> Vec<Value> {
    vec![
        json!(s(obj, "/metadata/name")),
        json!(len_of(obj, "/secrets")),
        age(obj, now),
    ]
}

/// `printConfigMap`: name, number of `data` plus `binaryData` keys, age.
fn config_map_cells(obj: &Value, now: OffsetDateTime) -> Vec<Value> {
    vec![
        json!(s(obj, "/metadata/name")),
        json!(len_of(obj, "/data") + len_of(obj, "/binaryData")),
        age(obj, now),
    ]
}

/// `printLease`: name, holder identity (empty when unset), age.
fn lease_cells(obj: &Value, now: OffsetDateTime) -> Vec<Value> {
    vec![
        json!(s(obj, "/metadata/name")),
        json!(s(obj, "/spec/holderIdentity")),
        age(obj, now),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cases of apimachinery `pkg/util/duration/duration_test.go` (`TestHumanDuration`,
    /// `TestHumanDurationBoundaries`), in milliseconds.
    #[test]
    fn human_durations_match_apimachinery() {
        let s = 1000i128;
        let m = 60 * s;
        let h = 60 * m;
        let cases = [
            (s, "1s"),
            (70 * s, "70s"),
            (190 * s, "3m10s"),
            (70 * m, "70m"),
            (47 * h, "47h"),
            (49 * h, "2d1h"),
            ((8 * 24 + 2) * h, "8d"),
            ((367 * 24) * h, "367d"),
            ((365 * 2 * 24 + 25) * h, "2y1d"),
            ((365 * 8 * 24 + 2) * h, "8y"),
            (-2 * s, "<invalid>"),
            (-2 * s + 1, "0s"),
            (0, "0s"),
            (s - 1, "0s"),
            (2 * m - 1, "119s"),
            (2 * m, "2m"),
            (2 * m + s, "2m1s"),
            (10 * m - 1, "9m59s"),
            (10 * m, "10m"),
            (10 * m + s, "10m"),
            (3 * h - 1, "179m"),
            (3 * h, "3h"),
            (3 * h + m, "3h1m"),
            (8 * h - 1, "7h59m"),
            (8 * h, "8h"),
        ];
        for (ms, want) in cases {
            assert_eq!(human_duration(ms), want, "{ms} ms");
        }
    }

    #[test]
    fn accept_headers_pick_the_first_servable_type() {
        let cases = [
            (
                "kubectl get",
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
                Wanted::Table("v1"),
            ),
            (
                "v1beta1 only",
                "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
                Wanted::Table("v1beta1"),
            ),
            ("plain json", "application/json", Wanted::Object),
            ("none", "", Wanted::Object),
            (
                "foreign table then json",
                "application/json;as=Table;v=v1;g=example.com,application/json",
                Wanted::Object,
            ),
        ];
        for (name, accept, want) in cases {
            assert_eq!(negotiate(accept), want, "{name}");
        }
    }

    #[test]
    fn node_rows_follow_print_node() {
        let now = OffsetDateTime::parse(
            "2026-01-03T03:00:00Z",
            &time::format_description::well_known::Rfc3339,
        )
        .expect("now");
        let node = |labels: Value, ready: &str, unschedulable: bool| {
            json!({"metadata": {"name": "cp1", "labels": labels, "creationTimestamp": "2026-01-01T00:00:00Z"},
                   "spec": {"unschedulable": unschedulable},
                   "status": {"conditions": [{"type": "Ready", "status": ready}],
                              "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}],
                              "nodeInfo": {"kubeletVersion": "v1.36.3", "osImage": "Talos (v1.13.9)",
                                           "kernelVersion": "6.18.44-talos", "containerRuntimeVersion": "containerd://2.2.7"}}})
        };
        let cases = [
            (
                "control plane, ready",
                node(
                    json!({"node-role.kubernetes.io/control-plane": ""}),
                    "True",
                    false,
                ),
                json!([
                    "cp1",
                    "Ready",
                    "control-plane",
                    "2d3h",
                    "v1.36.3",
                    "10.0.0.2",
                    "<none>",
                    "Talos (v1.13.9)",
                    "6.18.44-talos",
                    "containerd://2.2.7"
                ]),
            ),
            (
                "worker, not ready, cordoned",
                node(json!({"kubernetes.io/hostname": "w"}), "False", true),
                json!([
                    "cp1",
                    "NotReady,SchedulingDisabled",
                    "<none>",
                    "2d3h",
                    "v1.36.3",
                    "10.0.0.2",
                    "<none>",
                    "Talos (v1.13.9)",
                    "6.18.44-talos",
                    "containerd://2.2.7"
                ]),
            ),
            (
                "two roles sorted",
                node(
                    json!({"node-role.kubernetes.io/worker": "", "kubernetes.io/role": "infra"}),
                    "Unknown",
                    false,
                ),
                json!([
                    "cp1",
                    "NotReady",
                    "infra,worker",
                    "2d3h",
                    "v1.36.3",
                    "10.0.0.2",
                    "<none>",
                    "Talos (v1.13.9)",
                    "6.18.44-talos",
                    "containerd://2.2.7"
                ]),
            ),
        ];
        for (name, obj, want) in cases {
            assert_eq!(Value::Array(node_cells(&obj, now)), want, "{name}");
        }
    }
}
