//! Talos' bootstrap manifests: its own (CoreDNS, kube-proxy, flannel when `cni.name` is
//! `flannel`), `cluster.inlineManifests`, and `cluster.extraManifests` / `cni.urls` fetched
//! by URL — applied once the API answers.
//!
//! Semantics from siderolabs/talos `internal/app/machined/pkg/controllers/k8s/manifest_apply.go`
//! (v1.14 snapshot): namespaces first, then CRDs, then the rest in order; namespaced objects
//! without a namespace go to `default`; objects that already exist are skipped (create-only,
//! research §E.1); each object gets the `config.k8s.io/owning-inventory:
//! talos-bootstrap-manifests-inventory` annotation and is applied server-side with field
//! manager `talos`; unknown kinds are reported and the rest continue; the inventory is a
//! ConfigMap `talos-bootstrap-manifests-inventory` in `kube-system`.
//! Object set: `manifest.go` (`05-flannel`, `10-kube-proxy`, `11-core-dns`).
//!
//! The lab never connects outside 127.0.0.0/8: other URLs are recorded as "not fetched:
//! outside the lab" in the ConfigMap `freetier-lab-manifests` of `kube-system`.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::super::config::{yaml_documents, MachineConfig};
use super::super::{lock, Fleet};
use super::store::WriteOpts;
use super::Cluster;

const FIELD_MANAGER: &str = "talos";
const INVENTORY: &str = "talos-bootstrap-manifests-inventory";
const INVENTORY_ANNOTATION: &str = "config.k8s.io/owning-inventory";
/// Where the lab reports what it did with each manifest source.
pub(crate) const STATUS_CONFIGMAP: &str = "freetier-lab-manifests";
/// The text recorded for URLs the lab may not fetch.
pub(crate) const NOT_FETCHED: &str = "not fetched: outside the lab";

/// Applies every bootstrap manifest source; returns whether all went through.
pub(crate) async fn apply_bootstrap(
    cluster: &Arc<Cluster>,
    fleet: &Arc<Fleet>,
    config: &MachineConfig,
) -> bool {
    let mut sources: Vec<(String, Result<Vec<Value>, String>)> = Vec::new();
    sources.push(("talos".into(), Ok(talos_objects(config))));
    for (name, contents) in &config.inline_manifests {
        sources.push((format!("inline/{name}"), yaml_documents(contents)));
    }
    let mut urls = config.extra_manifests.clone();
    if config.cni_name == "custom" {
        urls.extend(config.cni_urls.iter().cloned());
    }
    for url in urls {
        let fetched = fetch(&url, &config.extra_manifest_headers, fleet)
            .await
            .and_then(|t| yaml_documents(&t));
        sources.push((url, fetched));
    }

    let mut report = serde_json::Map::new();
    let mut all_ok = true;
    let mut objects = Vec::new();
    for (i, (source, result)) in sources.into_iter().enumerate() {
        match result {
            Ok(docs) => {
                report.insert(format!("source-{i}"), json!(source));
                report.insert(
                    format!("status-{i}"),
                    json!(format!("fetched: {} objects", docs.len())),
                );
                objects.extend(
                    docs.into_iter()
                        .flat_map(expand_list)
                        .map(|d| (source.clone(), d)),
                );
            }
            Err(e) => {
                all_ok = false;
                report.insert(format!("source-{i}"), json!(source));
                report.insert(format!("status-{i}"), json!(e));
            }
        }
    }

    // Namespaces first, then CRDs, then the rest (stable).
    let rank = |o: &Value| -> u8 {
        let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
        let av = o.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        if kind == "Namespace" && av == "v1" {
            0
        } else if kind == "CustomResourceDefinition" && av.starts_with("apiextensions.k8s.io/") {
            1
        } else {
            2
        }
    };
    objects.sort_by_key(|(_, o)| rank(o));

    let mut inventory = serde_json::Map::new();
    let mut errors = Vec::new();
    {
        let mut store = lock(&cluster.store);
        for (_source, mut obj) in objects {
            let av = obj
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let kind = obj
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let (group, version) = super::resources::split_api_version(&av);
            let obj_name = format!("{group}/{version}/{kind}/{name}");
            let Some(info) = store.resources.by_kind(&av, &kind).cloned() else {
                errors.push(format!(
                    "error creating mapping for object {obj_name}: no matches for kind {kind:?} in version {av:?}"
                ));
                continue;
            };
            let ns = if info.namespaced {
                let ns = obj
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if ns.is_empty() {
                    "default".to_string()
                } else {
                    ns
                }
            } else {
                if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.remove("namespace");
                }
                String::new()
            };
            if store.get_entry(&info, &ns, &name).is_some() {
                inventory.insert(inventory_key(&ns, &name, &group, &kind), json!(""));
                continue;
            }
            if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                let ann = meta.entry("annotations").or_insert_with(|| json!({}));
                if let Some(a) = ann.as_object_mut() {
                    a.insert(INVENTORY_ANNOTATION.into(), json!(INVENTORY));
                }
            }
            let opts = WriteOpts {
                manager: FIELD_MANAGER.into(),
                dry_run: false,
            };
            match store.apply(&info, &ns, &name, obj, false, &opts) {
                Ok(_) => {
                    inventory.insert(inventory_key(&ns, &name, &group, &kind), json!(""));
                }
                Err(e) => errors.push(format!("error creating {obj_name}: {}", e.message)),
            }
        }
        if !errors.is_empty() {
            all_ok = false;
            report.insert("errors".into(), json!(errors.join("\n")));
        }
        if let Some(cm) = store.resources.by_resource("", "v1", "configmaps").cloned() {
            store.controller_put(
                &cm,
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": INVENTORY, "namespace": "kube-system"}, "data": inventory}),
                FIELD_MANAGER,
            );
            store.controller_put(
                &cm,
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": STATUS_CONFIGMAP, "namespace": "kube-system"}, "data": report}),
                "freetier-lab",
            );
        }
    }
    all_ok
}

/// `kind: List` documents hold their objects in `items`.
fn expand_list(doc: Value) -> Vec<Value> {
    if doc.get("kind").and_then(Value::as_str) == Some("List") {
        return doc
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
    }
    vec![doc]
}

/// cli-utils `ObjMetadata.String()` (`namespace_name_group_kind`, `:` in names as `__`).
fn inventory_key(ns: &str, name: &str, group: &str, kind: &str) -> String {
    format!("{ns}_{}_{group}_{kind}", name.replace(':', "__"))
}

/// Fetches a manifest URL, only from loopback over plain HTTP.
async fn fetch(
    url: &str,
    headers: &[(String, String)],
    fleet: &Arc<Fleet>,
) -> Result<String, String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(
            if url.starts_with("https://")
                && host_of(&url["https://".len()..]).is_some_and(|h| h.is_loopback())
            {
                "not fetched: the lab fetches loopback manifests over plain HTTP only".to_string()
            } else {
                NOT_FETCHED.to_string()
            },
        );
    };
    let Some(ip) = host_of(rest).filter(Ipv4Addr::is_loopback) else {
        return Err(NOT_FETCHED.into());
    };
    let authority = rest.split('/').next().unwrap_or("");
    let port: u16 = match authority.rsplit_once(':') {
        Some((_, p)) => p
            .parse()
            .map_err(|_| format!("error downloading {url:?}: invalid port"))?,
        None => 80,
    };
    let path = match rest.find('/') {
        Some(i) => &rest[i..],
        None => "/",
    };
    let request = async {
        let stream = tokio::net::TcpStream::connect((ip, port))
            .await
            .map_err(|e| e.to_string())?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| e.to_string())?;
        // Tracked, so a stopped fleet leaves no task behind; it ends when `sender` drops.
        fleet.spawn_until(fleet.cancel.clone(), async move {
            let _ = conn.await;
        });
        let mut req = http::Request::get(path).header("host", authority);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = http_body_util::BodyExt::collect(http_body_util::Limited::new(
            resp.into_body(),
            16 << 20,
        ))
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
        drop(sender);
        if !status.is_success() {
            return Err(format!("bad response code: {}", status.as_u16()));
        }
        String::from_utf8(body.to_vec()).map_err(|e| e.to_string())
    };
    match tokio::time::timeout(Duration::from_secs(10), request).await {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(format!("error downloading {url:?}: {e}")),
        Err(_) => Err(format!("error downloading {url:?}: timeout")),
    }
}

fn host_of(authority_and_path: &str) -> Option<Ipv4Addr> {
    let authority = authority_and_path.split('/').next()?;
    let host = authority
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(authority);
    if host == "localhost" {
        return Some(Ipv4Addr::LOCALHOST);
    }
    host.parse().ok()
}

/// A kube-system DaemonSet `name` on every node (host network, tolerating all taints) with
/// its ServiceAccount `app`, which also names its `k8s-app` label.
fn node_daemonset(app: &str, name: &str, image: &str) -> [Value; 2] {
    let tolerate_all = json!([{"operator": "Exists"}]);
    [
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": app, "namespace": "kube-system"}}),
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": "kube-system", "labels": {"k8s-app": app, "tier": "node"}},
            "spec": {"selector": {"matchLabels": {"k8s-app": app}},
                     "template": {"metadata": {"labels": {"k8s-app": app, "tier": "node"}},
                                  "spec": {"hostNetwork": true, "priorityClassName": "system-node-critical", "serviceAccountName": app,
                                           "tolerations": tolerate_all,
                                           "containers": [{"name": name, "image": image}]}}}}),
    ]
}

/// The objects Talos deploys itself (trimmed to what clients look at).
fn talos_objects(config: &MachineConfig) -> Vec<Value> {
    let mut out = Vec::new();
    if config.cni_name == "flannel" {
        out.extend(node_daemonset(
            "flannel",
            "kube-flannel",
            "ghcr.io/siderolabs/flannel:v0.27.4",
        ));
    }
    if !config.proxy_disabled {
        out.extend(node_daemonset(
            "kube-proxy",
            "kube-proxy",
            "registry.k8s.io/kube-proxy",
        ));
    }
    if !config.coredns_disabled {
        out.push(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "coredns", "namespace": "kube-system"}}));
        out.push(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"},
            "data": {"Corefile": ".:53 {\n    errors\n    health\n    ready\n    kubernetes cluster.local in-addr.arpa ip6.arpa\n    forward . /etc/resolv.conf\n    cache 30\n    loop\n    reload\n}\n"}}));
        out.push(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "coredns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
                     "template": {"metadata": {"labels": {"k8s-app": "kube-dns"}},
                                  "spec": {"priorityClassName": "system-cluster-critical", "serviceAccountName": "coredns",
                                           "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
                                                           {"key": "CriticalAddonsOnly", "operator": "Exists"}],
                                           "containers": [{"name": "coredns", "image": "registry.k8s.io/coredns/coredns"}]}}}}));
        out.push(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
            "spec": {"clusterIP": "10.96.0.10", "selector": {"k8s-app": "kube-dns"},
                     "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                               {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]}}));
    }
    out
}
