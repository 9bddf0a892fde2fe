//! What the cluster's own components do on their own, as far as clients can see it:
//! kubelets registering Node objects and reporting readiness (NotReady until a CNI runs,
//! with the kubelet's real condition texts), the controller-manager's namespace contents
//! (`default` ServiceAccount, `kube-root-ca.crt`), namespace deletion, and workload status
//! (Deployments and DaemonSets become available once their pods could run).
//!
//! Texts: kubelet `pkg/kubelet/nodestatus/setters.go` condition reasons/messages and the CRI
//! "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady
//! message:Network plugin returns error: cni plugin not initialized" (the message a kubelet
//! without CNI reports); node lifecycle controller's "Kubelet stopped posting node status.".
//! CNI recognition: research §E.1 (Cilium DaemonSet `cilium` in `kube-system`) and Talos'
//! own flannel manifest (`kube-flannel` DaemonSet in `kube-system`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::super::timing::Step;
use super::super::{lock, Fleet};
use super::resources::ResourceInfo;
use super::store::{now_rfc3339, Store};
use super::Cluster;

/// DaemonSets (namespace, name) whose running pods make node networking ready.
const CNI_DAEMONSETS: &[(&str, &str)] =
    &[("kube-system", "cilium"), ("kube-system", "kube-flannel")];

/// The kubelet's NotReady message while no CNI is configured.
pub(crate) const CNI_NOT_READY: &str = "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized";

fn info(store: &Store, group: &str, version: &str, resource: &str) -> Option<ResourceInfo> {
    store
        .resources
        .by_resource(group, version, resource)
        .cloned()
}

/// Creates what a fresh apiserver and controller-manager create on their own.
pub(crate) fn seed(cluster: &Arc<Cluster>) {
    let mut st = lock(&cluster.st);
    if st.seeded {
        return;
    }
    st.seeded = true;
    drop(st);
    let mut store = lock(&cluster.store);
    let Some(ns) = info(&store, "", "v1", "namespaces") else {
        return;
    };
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        store.controller_put(
            &ns,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
            "kube-apiserver",
        );
    }
    if let Some(svc) = info(&store, "", "v1", "services") {
        store.controller_put(
            &svc,
            json!({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                   "spec": {"clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"], "type": "ClusterIP",
                            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                            "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"}}),
            "kube-apiserver",
        );
    }
}

/// The controller loop of one cluster; ends when its API stops.
pub(crate) async fn run(cluster: Arc<Cluster>, fleet: Arc<Fleet>) {
    loop {
        let next = reconcile(&cluster, &fleet);
        let wait = next
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            _ = cluster.poke.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// A kubelet as the control plane sees it.
pub(crate) struct Kubelet {
    pub hostname: String,
    pub address: std::net::Ipv4Addr,
    pub control_plane: bool,
    pub labels: Vec<(String, String)>,
    pub taint_control_plane: bool,
    /// When the kubelet started (None: the node is down).
    pub since: Option<Instant>,
    pub kubelet_version: String,
    pub os_image: String,
    /// `nodeInfo.kernelVersion` (`uname -r`).
    pub kernel_version: String,
    /// `nodeInfo.containerRuntimeVersion`.
    pub container_runtime: String,
    /// CoreDNS tag Talos deploys.
    pub coredns_version: &'static str,
    /// `nodeInfo.machineID` (32 hex digits, stable per VM).
    pub machine_id: String,
    /// `nodeInfo.systemUUID` (SMBIOS UUID, stable per VM).
    pub system_uuid: String,
    /// `nodeInfo.bootID` (changes on every boot).
    pub boot_id: String,
}

/// Size of a pulled image in the CRI's `k8s.io` namespace. The lab has no registry to ask, so
/// these are its own round figures (kubelet reports `sizeBytes` from the CRI `ImageStatus`).
const IMAGE_SIZES: &[(&str, u64)] = &[
    ("registry.k8s.io/kube-apiserver", 29_000_000),
    ("registry.k8s.io/kube-controller-manager", 26_000_000),
    ("registry.k8s.io/kube-proxy", 28_000_000),
    ("registry.k8s.io/kube-scheduler", 20_000_000),
    ("registry.k8s.io/coredns/coredns", 21_000_000),
    ("registry.k8s.io/pause", 320_000),
];

/// `status.images` of a Talos node: what its kubelet sees in containerd's `k8s.io`
/// namespace. Every node runs kube-proxy and the CRI sandbox image
/// (siderolabs/talos `pkg/images/list.go` `DefaultSandboxImage` =
/// `registry.k8s.io/pause:3.10.1`); control planes also run the static pods and CoreDNS
/// (`pkg/machinery/constants/constants.go` `KubernetesAPIServerImage` and siblings,
/// `CoreDNSImage`, `DefaultCoreDNSVersion`). etcd and the kubelet itself live in the
/// `system` namespace, which the kubelet does not list. Sorted by size, largest first, as
/// the kubelet's `setters.Images` does.
fn node_images(k: &Kubelet) -> Value {
    let mut names: Vec<(String, &str)> = vec![
        (
            format!("registry.k8s.io/kube-proxy:{}", k.kubelet_version),
            "registry.k8s.io/kube-proxy",
        ),
        (
            "registry.k8s.io/pause:3.10.1".into(),
            "registry.k8s.io/pause",
        ),
    ];
    if k.control_plane {
        for repo in [
            "registry.k8s.io/kube-apiserver",
            "registry.k8s.io/kube-controller-manager",
            "registry.k8s.io/kube-scheduler",
        ] {
            names.push((format!("{repo}:{}", k.kubelet_version), repo));
        }
        names.push((
            format!("registry.k8s.io/coredns/coredns:{}", k.coredns_version),
            "registry.k8s.io/coredns/coredns",
        ));
    }
    let mut images: Vec<(u64, String)> = names
        .into_iter()
        .map(|(name, repo)| {
            let size = IMAGE_SIZES
                .iter()
                .find(|(r, _)| *r == repo)
                .map_or(0, |(_, s)| *s);
            (size, name)
        })
        .collect();
    images.sort_by_key(|i| std::cmp::Reverse(i.0));
    Value::Array(
        images
            .into_iter()
            .map(|(size, name)| json!({"names": [name], "sizeBytes": size}))
            .collect(),
    )
}

/// Node lease renewal period: a quarter of the 40 s lease (kubelet `nodeLeaseRenewIntervalFraction`
/// 0.25 of `nodeLeaseDurationSeconds`).
const LEASE_RENEW: Duration = Duration::from_secs(10);

/// RFC 3339 with microseconds in UTC (`metav1.MicroTime`, apimachinery
/// `pkg/apis/meta/v1/micro_time.go` `RFC3339Micro`).
fn now_micro() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    )
}

/// The kubelet's node Lease in `kube-node-lease`: named after the node, held by it, 40 s long,
/// owned by the Node object (k8s.io/component-helpers `apimachinery/lease/controller.go`
/// `newLease`; kubelet `pkg/kubelet/util/nodelease.go` `SetNodeOwnerFunc` sets the
/// ownerReference `v1`/`Node`/name/uid; kubelet config default `nodeLeaseDurationSeconds: 40`).
fn node_lease(k: &Kubelet, node_uid: &str) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": k.hostname,
            "namespace": "kube-node-lease",
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": k.hostname, "uid": node_uid}],
        },
        "spec": {
            "holderIdentity": k.hostname,
            "leaseDurationSeconds": 40,
            "renewTime": now_micro(),
        },
    })
}

fn earliest(a: Option<Instant>, b: Instant) -> Option<Instant> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// One pass over the cluster; returns when it next needs to run.
fn reconcile(cluster: &Arc<Cluster>, fleet: &Arc<Fleet>) -> Option<Instant> {
    let now = Instant::now();
    let mut next: Option<Instant> = None;
    let version = lock(&cluster.st).version.clone();
    let kubelets: Vec<Kubelet> = fleet
        .nodes_snapshot()
        .iter()
        .filter_map(|n| n.kubelet(&cluster.endpoint, &version))
        .collect();
    let ca_pem = lock(&cluster.st)
        .config
        .k8s_ca_crt
        .clone()
        .unwrap_or_default();
    let mut store = lock(&cluster.store);

    namespaces(&mut store, &ca_pem);

    // When node networking comes up.
    let ds_info = info(&store, "apps", "v1", "daemonsets");
    let cni_at: Option<Instant> = ds_info.as_ref().and_then(|ds| {
        CNI_DAEMONSETS
            .iter()
            .filter_map(|(ns, name)| store.get_entry(ds, ns, name).map(|e| e.created))
            .min()
            .map(|t| t + fleet.timing.duration(Step::CniReady))
    });
    let cni_ready = cni_at.is_some_and(|t| now >= t);
    if let Some(t) = cni_at.filter(|_| !cni_ready) {
        next = earliest(next, t);
    }

    // Kubelets register, then post status.
    if let Some(node_info) = info(&store, "", "v1", "nodes") {
        for k in &kubelets {
            let existing = store
                .get_entry(&node_info, "", &k.hostname)
                .map(|e| e.obj.clone());
            let due = k
                .since
                .map(|s| s + fleet.timing.duration(Step::KubeletRegister));
            match (&existing, k.since, due) {
                (None, Some(_), Some(due)) if now < due => {
                    next = earliest(next, due);
                    continue;
                }
                (None, None, _) => continue,
                _ => {}
            }
            let obj = node_object(existing.as_ref(), k, cni_ready);
            store.controller_put(&node_info, obj, "kubelet");
            if k.since.is_some() {
                renew_lease(&mut store, &node_info, k, now, &mut next);
            }
        }
    }

    let nodes = schedulable_nodes(&store);
    workloads(&mut store, fleet, now, cni_ready, &nodes, &mut next);
    next
}

/// Creates or renews a running kubelet's node Lease (every [`LEASE_RENEW`]).
fn renew_lease(
    store: &mut Store,
    node_info: &ResourceInfo,
    k: &Kubelet,
    now: Instant,
    next: &mut Option<Instant>,
) {
    let Some(lease_info) = info(store, "coordination.k8s.io", "v1", "leases") else {
        return;
    };
    let Some(uid) = store
        .get_entry(node_info, "", &k.hostname)
        .and_then(|e| e.obj.pointer("/metadata/uid"))
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return;
    };
    let renewed = store
        .get_entry(&lease_info, "kube-node-lease", &k.hostname)
        .map(|e| e.updated);
    match renewed {
        Some(at) if now < at + LEASE_RENEW => *next = earliest(*next, at + LEASE_RENEW),
        _ => {
            store.controller_put(&lease_info, node_lease(k, &uid), "kubelet");
            *next = earliest(*next, now + LEASE_RENEW);
        }
    }
}

/// `default` ServiceAccount and `kube-root-ca.crt` in every namespace; terminating
/// namespaces are emptied and removed.
fn namespaces(store: &mut Store, ca_pem: &str) {
    let (Some(ns_info), Some(cm), Some(sa)) = (
        info(store, "", "v1", "namespaces"),
        info(store, "", "v1", "configmaps"),
        info(store, "", "v1", "serviceaccounts"),
    ) else {
        return;
    };
    let list: Vec<(String, bool)> = store
        .objects
        .iter()
        .filter(|(k, _)| k.group.is_empty() && k.resource == "namespaces")
        .map(|(k, e)| {
            (
                k.name.clone(),
                e.obj.pointer("/metadata/deletionTimestamp").is_some(),
            )
        })
        .collect();
    for (name, terminating) in list {
        if terminating {
            let keys: Vec<_> = store
                .objects
                .keys()
                .filter(|k| k.namespace == name)
                .cloned()
                .collect();
            for k in keys {
                store.objects.remove(&k);
            }
            store.remove(&ns_info, "", &name);
            continue;
        }
        if store.get_entry(&cm, &name, "kube-root-ca.crt").is_none() {
            store.controller_put(
                &cm,
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "namespace": name},
                       "data": {"ca.crt": ca_pem}}),
                "kube-controller-manager",
            );
        }
        if store.get_entry(&sa, &name, "default").is_none() {
            store.controller_put(
                &sa,
                json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": name}}),
                "kube-controller-manager",
            );
        }
    }
}

fn condition(kind: &str, status: &str, reason: &str, message: &str, since: &str) -> Value {
    json!({"type": kind, "status": status, "lastHeartbeatTime": since, "lastTransitionTime": since,
           "reason": reason, "message": message})
}

/// The Node object a kubelet maintains (labels and taints per kubelet and Talos defaults).
fn node_object(existing: Option<&Value>, k: &Kubelet, cni_ready: bool) -> Value {
    let mut obj = existing.cloned().unwrap_or_else(|| {
        let mut labels = serde_json::Map::new();
        for (a, b) in [
            ("beta.kubernetes.io/arch", "arm64"),
            ("beta.kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "arm64"),
            ("kubernetes.io/os", "linux"),
        ] {
            labels.insert(a.into(), json!(b));
        }
        labels.insert("kubernetes.io/hostname".into(), json!(k.hostname));
        if k.control_plane {
            labels.insert("node-role.kubernetes.io/control-plane".into(), json!(""));
        }
        for (a, b) in &k.labels {
            labels.insert(a.clone(), json!(b));
        }
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": k.hostname, "labels": labels,
               "annotations": {"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
               "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]}})
    });
    let stamp = now_rfc3339();
    let prev_ready = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
                .cloned()
        });
    let (status, reason, message) = match (k.since.is_some(), cni_ready) {
        (false, _) => (
            "Unknown",
            "NodeStatusUnknown",
            "Kubelet stopped posting node status.",
        ),
        (true, true) => ("True", "KubeletReady", "kubelet is posting ready status"),
        (true, false) => ("False", "KubeletNotReady", CNI_NOT_READY),
    };
    let since = match &prev_ready {
        Some(c) if c.get("status").and_then(Value::as_str) == Some(status) => c
            .get("lastTransitionTime")
            .and_then(Value::as_str)
            .unwrap_or(&stamp)
            .to_string(),
        _ => stamp.clone(),
    };
    let mut taints = Vec::new();
    if k.taint_control_plane {
        taints
            .push(json!({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}));
    }
    match status {
        "False" => {
            taints.push(json!({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}))
        }
        "Unknown" => {
            taints.push(json!({"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}))
        }
        _ => {}
    }
    if taints.is_empty() {
        if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("taints");
        }
    } else {
        obj["spec"]["taints"] = json!(taints);
    }
    let up = k.since.is_some();
    let pressure = |kind: &str, ok_reason: &str, ok_message: &str| {
        if up {
            condition(kind, "False", ok_reason, ok_message, &since)
        } else {
            condition(
                kind,
                "Unknown",
                "NodeStatusUnknown",
                "Kubelet stopped posting node status.",
                &since,
            )
        }
    };
    obj["status"] = json!({
        "addresses": [{"type": "InternalIP", "address": k.address.to_string()}, {"type": "Hostname", "address": k.hostname}],
        "allocatable": {"cpu": "2", "ephemeral-storage": "45000000000", "memory": "11500000Ki", "pods": "110"},
        "capacity": {"cpu": "2", "ephemeral-storage": "49000000Ki", "memory": "12000000Ki", "pods": "110"},
        "conditions": [
            pressure("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            pressure("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            pressure("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", status, reason, message, &since),
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "architecture": "arm64",
            "bootID": k.boot_id,
            "containerRuntimeVersion": k.container_runtime,
            "kernelVersion": k.kernel_version,
            "kubeProxyVersion": "",
            "kubeletVersion": k.kubelet_version,
            "machineID": k.machine_id,
            "operatingSystem": "linux",
            "osImage": k.os_image,
            "systemUUID": k.system_uuid,
        },
        "images": node_images(k),
    });
    obj
}

/// Ready nodes and their NoSchedule taints.
fn schedulable_nodes(store: &Store) -> Vec<Vec<(String, String)>> {
    store
        .objects
        .iter()
        .filter(|(k, _)| k.group.is_empty() && k.resource == "nodes")
        .filter(|(_, e)| {
            e.obj
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c.get("type").and_then(Value::as_str) == Some("Ready")
                            && c.get("status").and_then(Value::as_str) == Some("True")
                    })
                })
        })
        .map(|(_, e)| {
            e.obj
                .pointer("/spec/taints")
                .and_then(Value::as_array)
                .map(|ts| {
                    ts.iter()
                        .filter(|t| {
                            matches!(
                                t.get("effect").and_then(Value::as_str),
                                Some("NoSchedule") | Some("NoExecute")
                            )
                        })
                        .map(|t| {
                            (
                                t.get("key")
                                    .and_then(Value::as_str)
                                    .unwrap_or("")
                                    .to_string(),
                                t.get("effect")
                                    .and_then(Value::as_str)
                                    .unwrap_or("")
                                    .to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect()
}

/// Whether a pod template tolerates a taint (core/v1 toleration rules).
fn tolerates(template: &Value, key: &str, effect: &str) -> bool {
    template
        .pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .is_some_and(|ts| {
            ts.iter().any(|t| {
                let tk = t.get("key").and_then(Value::as_str).unwrap_or("");
                let op = t.get("operator").and_then(Value::as_str).unwrap_or("Equal");
                let te = t.get("effect").and_then(Value::as_str).unwrap_or("");
                (tk.is_empty() && op == "Exists" || tk == key) && (te.is_empty() || te == effect)
            })
        })
}

/// Deployment and DaemonSet status as the controllers would report it.
fn workloads(
    store: &mut Store,
    fleet: &Arc<Fleet>,
    now: Instant,
    cni_ready: bool,
    ready_nodes: &[Vec<(String, String)>],
    next: &mut Option<Instant>,
) {
    let total_nodes = store
        .objects
        .keys()
        .filter(|k| k.group.is_empty() && k.resource == "nodes")
        .count() as i64;
    let delay = fleet.timing.duration(Step::WorkloadReady);
    for (resource, is_ds) in [("deployments", false), ("daemonsets", true)] {
        let Some(ri) = info(store, "apps", "v1", resource) else {
            continue;
        };
        let items: Vec<(Value, Instant)> = store
            .objects
            .iter()
            .filter(|(k, _)| k.group == "apps" && k.resource == resource)
            .map(|(_, e)| (e.obj.clone(), e.created))
            .collect();
        for (obj, created) in items {
            let template = obj
                .pointer("/spec/template")
                .cloned()
                .unwrap_or(Value::Null);
            let host_net = template
                .pointer("/spec/hostNetwork")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let due = created + delay;
            let time_ok = now >= due;
            if !time_ok {
                *next = earliest(*next, due);
            }
            let generation = obj
                .pointer("/metadata/generation")
                .cloned()
                .unwrap_or(json!(1));
            let status = if is_ds {
                // A DaemonSet pod lands on every node whose taints it tolerates; hostNetwork
                // pods (CNI agents, kube-proxy) run before the network is ready.
                let can_run = time_ok && (host_net || cni_ready);
                let ready = if can_run { total_nodes } else { 0 };
                json!({"currentNumberScheduled": total_nodes, "desiredNumberScheduled": total_nodes,
                       "numberAvailable": ready, "numberMisscheduled": 0, "numberReady": ready,
                       "numberUnavailable": total_nodes - ready, "observedGeneration": generation,
                       "updatedNumberScheduled": total_nodes})
            } else {
                let replicas = obj
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1)
                    .max(0);
                let placeable = ready_nodes
                    .iter()
                    .any(|taints| taints.iter().all(|(k, e)| tolerates(&template, k, e)));
                let ready = if time_ok && placeable { replicas } else { 0 };
                let stamp = now_rfc3339();
                let available = if ready >= replicas {
                    json!({"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.", "lastUpdateTime": stamp, "lastTransitionTime": stamp})
                } else {
                    json!({"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability.", "lastUpdateTime": stamp, "lastTransitionTime": stamp})
                };
                let mut s = json!({"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
                                   "unavailableReplicas": replicas - ready, "conditions": [available]});
                if ready > 0 {
                    s["readyReplicas"] = json!(ready);
                    s["availableReplicas"] = json!(ready);
                }
                if replicas - ready == 0 {
                    if let Some(m) = s.as_object_mut() {
                        m.remove("unavailableReplicas");
                    }
                }
                s
            };
            // Keep transition times stable when nothing changed.
            let old_status = obj.get("status").cloned();
            if old_status.as_ref().map(strip_times) == Some(strip_times(&status)) {
                continue;
            }
            let mut new = obj.clone();
            new["status"] = status;
            store.controller_put(&ri, new, "kube-controller-manager");
        }
    }
}

fn strip_times(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(cs) = v.get_mut("conditions").and_then(Value::as_array_mut) {
        for c in cs {
            if let Some(m) = c.as_object_mut() {
                m.remove("lastUpdateTime");
                m.remove("lastTransitionTime");
            }
        }
    }
    v
}
