//! The inline manifests a control plane hands Talos (`cluster.inlineManifests`), which Talos
//! creates once at bootstrap: Cilium as the CNI, Flux, the SOPS age key for Flux, and Flux's
//! sync objects (a `GitRepository` and a `Kustomization` that decrypts with that key).
//!
//! We cannot run `helm template` or fetch release assets here, so Cilium and Flux are small,
//! honest renderings written for this module, not the upstream manifests:
//!
//! - **Cilium** [`CILIUM_VERSION`]: the objects the chart renders for the values the Talos guide
//!   gives (<https://github.com/siderolabs/talos/blob/v1.11.0/website/content/v1.11/kubernetes-guides/network/deploying-cilium.md>):
//!   `ipam.mode=kubernetes`, `kubeProxyReplacement=true`, `k8sServiceHost=localhost`,
//!   `k8sServicePort=7445` (KubePrism), the agent's capabilities without `SYS_MODULE`, those
//!   of `clean-cilium-state`, `cgroup.autoMount.enabled=false`,
//!   `cgroup.hostRoot=/sys/fs/cgroup`. Service accounts, cluster roles and bindings (the roles
//!   are coarser than the chart's: all of `cilium.io`), the `cilium-config` ConfigMap, the
//!   `cilium` DaemonSet and the `cilium-operator` Deployment. No Hubble, no Envoy DaemonSet,
//!   no ClusterMesh. Chart keys: <https://github.com/cilium/cilium/blob/v1.19.1/install/kubernetes/cilium/templates/cilium-configmap.yaml>.
//! - **Flux** [`FLUX_VERSION`]: the `flux-system` namespace, the four controllers of
//!   `install.yaml` with the images that release pins
//!   (<https://github.com/fluxcd/flux2/blob/v2.9.4/manifests/bases/source-controller/kustomization.yaml>
//!   and its siblings), their accounts, the `crd-controller` and `cluster-reconciler` RBAC of
//!   <https://github.com/fluxcd/flux2/blob/v2.9.4/manifests/rbac/controller.yaml>, the
//!   source- and notification-controller Services, and permissive CRDs (no OpenAPI schema) for
//!   the kinds the controllers watch. For the full manifest, put [`flux_install_url`] in
//!   `cluster.extraManifests` instead.
//! - **SOPS**: Flux's convention (<https://fluxcd.io/flux/guides/mozilla-sops/>): Secret
//!   `sops-age` in `flux-system`, key `age.agekey` ("the key name must end with `.agekey`").
//! - **Sync**: `source.toolkit.fluxcd.io/v1` `GitRepository` and
//!   `kustomize.toolkit.fluxcd.io/v1` `Kustomization` with `spec.decryption: {provider: sops,
//!   secretRef: {name: sops-age}}`
//!   (<https://github.com/fluxcd/kustomize-controller/blob/main/docs/spec/v1/kustomizations.md>).
//!
//! Talos only creates what is missing from inline manifests and never updates them, so these
//! bootstrap a cluster; Flux owns everything after that.
//!
//! Must not import: the framework, clients, the lab.

use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::machine_config::{InlineManifest, KUBEPRISM_PORT};

/// The Cilium release rendered here.
pub const CILIUM_VERSION: &str = "1.19.1";

/// The Flux release rendered here.
pub const FLUX_VERSION: &str = "2.9.4";

/// The controllers of Flux [`FLUX_VERSION`] rendered here and their image tags
/// (`manifests/bases/<name>/kustomization.yaml` at the flux2 tag).
pub const FLUX_CONTROLLERS: [(&str, &str); 4] = [
    ("source-controller", "v1.9.4"),
    ("kustomize-controller", "v1.9.4"),
    ("helm-controller", "v1.6.3"),
    ("notification-controller", "v1.9.3"),
];

/// Flux's namespace.
pub const FLUX_NAMESPACE: &str = "flux-system";

/// The Secret Flux decrypts SOPS files with.
pub const SOPS_SECRET: &str = "sops-age";

/// The key of the age identity in [`SOPS_SECRET`].
pub const SOPS_KEY: &str = "age.agekey";

/// Why manifests could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The text given as the age identity is not one.
    #[error("not an age identity (AGE-SECRET-KEY-1…)")]
    InvalidAgeKey,
    /// A field of the Flux sync is missing or malformed.
    #[error("{field}: {reason}")]
    InvalidSync {
        /// The field.
        field: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The YAML could not be written.
    #[error("cannot write yaml: {0}")]
    Yaml(String),
}

/// Where Flux's sync objects point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FluxSync {
    /// The Git repository URL (`https://…` or `ssh://…`).
    pub url: String,
    /// The branch to follow.
    pub branch: String,
    /// The directory in the repository to apply (`./clusters/home`).
    pub path: String,
}

/// The full `install.yaml` of Flux [`FLUX_VERSION`], for `cluster.extraManifests`.
pub fn flux_install_url() -> String {
    format!("https://github.com/fluxcd/flux2/releases/download/v{FLUX_VERSION}/install.yaml")
}

/// All four inline manifests in the order Talos should apply them: Cilium, Flux, the SOPS age
/// key, Flux's sync.
pub fn platform(age_identity: &str, sync: &FluxSync) -> Result<Vec<InlineManifest>, ManifestError> {
    Ok(vec![
        cilium()?,
        flux()?,
        sops_age_secret(age_identity)?,
        flux_sync(sync)?,
    ])
}

/// Cilium [`CILIUM_VERSION`] configured for Talos, as one inline manifest named `cilium`.
pub fn cilium() -> Result<InlineManifest, ManifestError> {
    let ns = "kube-system";
    let image = format!("quay.io/cilium/cilium:v{CILIUM_VERSION}");
    let operator_image = format!("quay.io/cilium/operator-generic:v{CILIUM_VERSION}");
    let api_env = json!([
        {"name": "K8S_NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}},
        {"name": "CILIUM_K8S_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
        // k8sServiceHost / k8sServicePort: KubePrism on every node.
        {"name": "KUBERNETES_SERVICE_HOST", "value": "localhost"},
        {"name": "KUBERNETES_SERVICE_PORT", "value": KUBEPRISM_PORT.to_string()},
    ]);
    let objects = vec![
        service_account("cilium", ns),
        service_account("cilium-operator", ns),
        cluster_role(
            "cilium",
            json!([
                {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": [""], "resources": ["namespaces", "services", "pods", "endpoints", "nodes"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["cilium.io"], "resources": ["*"], "verbs": ["*"]},
            ]),
        ),
        cluster_role(
            "cilium-operator",
            json!([
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "delete"]},
                {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": [""], "resources": ["nodes", "nodes/status"], "verbs": ["patch"]},
                {"apiGroups": [""], "resources": ["namespaces", "services", "endpoints"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": [""], "resources": ["services/status"], "verbs": ["update", "patch"]},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["create", "get", "list", "watch", "update"]},
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create", "get", "update"]},
                {"apiGroups": ["cilium.io"], "resources": ["*"], "verbs": ["*"]},
            ]),
        ),
        cluster_role_binding("cilium", "cilium", &[("cilium", ns)]),
        cluster_role_binding(
            "cilium-operator",
            "cilium-operator",
            &[("cilium-operator", ns)],
        ),
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cilium-config", "namespace": ns},
            "data": {
                "identity-allocation-mode": "crd",
                "cluster-name": "default",
                "enable-ipv4": "true",
                "enable-ipv6": "false",
                "ipam": "kubernetes",
                "kube-proxy-replacement": "true",
                "routing-mode": "tunnel",
                "tunnel-protocol": "vxlan",
                // cgroup.autoMount.enabled=false: Talos mounts cgroup2 itself.
                "cgroup-root": "/sys/fs/cgroup",
            },
        }),
        json!({
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "cilium", "namespace": ns, "labels": {"k8s-app": "cilium"}},
            "spec": {
                "selector": {"matchLabels": {"k8s-app": "cilium"}},
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}},
                "template": {
                    "metadata": {"labels": {"k8s-app": "cilium"}},
                    "spec": {
                        "hostNetwork": true,
                        "serviceAccountName": "cilium",
                        "priorityClassName": "system-node-critical",
                        "restartPolicy": "Always",
                        "tolerations": [{"operator": "Exists"}],
                        "initContainers": [
                            {
                                "name": "clean-cilium-state",
                                "image": image,
                                "command": ["/init-container.sh"],
                                "env": [
                                    {"name": "CILIUM_ALL_STATE", "valueFrom": {"configMapKeyRef": {"name": "cilium-config", "key": "clean-cilium-state", "optional": true}}},
                                    {"name": "CILIUM_BPF_STATE", "valueFrom": {"configMapKeyRef": {"name": "cilium-config", "key": "clean-cilium-bpf-state", "optional": true}}},
                                ],
                                "securityContext": {
                                    "seLinuxOptions": {"level": "s0", "type": "spc_t"},
                                    "capabilities": {"add": ["NET_ADMIN", "SYS_ADMIN", "SYS_RESOURCE"], "drop": ["ALL"]},
                                },
                                "volumeMounts": [
                                    {"name": "bpf-maps", "mountPath": "/sys/fs/bpf"},
                                    {"name": "cilium-cgroup", "mountPath": "/sys/fs/cgroup", "mountPropagation": "HostToContainer"},
                                    {"name": "cilium-run", "mountPath": "/var/run/cilium"},
                                ],
                            },
                            {
                                "name": "install-cni-binaries",
                                "image": image,
                                "command": ["/install-plugin.sh"],
                                "securityContext": {
                                    "seLinuxOptions": {"level": "s0", "type": "spc_t"},
                                    "capabilities": {"drop": ["ALL"]},
                                },
                                "volumeMounts": [{"name": "cni-path", "mountPath": "/host/opt/cni/bin"}],
                            },
                        ],
                        "containers": [{
                            "name": "cilium-agent",
                            "image": image,
                            "command": ["cilium-agent"],
                            "args": ["--config-dir=/tmp/cilium/config-map"],
                            "env": api_env,
                            "securityContext": {
                                "seLinuxOptions": {"level": "s0", "type": "spc_t"},
                                // Talos forbids loading kernel modules: no SYS_MODULE.
                                "capabilities": {
                                    "add": ["CHOWN", "KILL", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "SYS_ADMIN", "SYS_RESOURCE", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"],
                                    "drop": ["ALL"],
                                },
                            },
                            "volumeMounts": [
                                {"name": "cilium-config-path", "mountPath": "/tmp/cilium/config-map", "readOnly": true},
                                {"name": "bpf-maps", "mountPath": "/sys/fs/bpf", "mountPropagation": "HostToContainer"},
                                {"name": "cilium-cgroup", "mountPath": "/sys/fs/cgroup", "mountPropagation": "HostToContainer"},
                                {"name": "cilium-run", "mountPath": "/var/run/cilium"},
                                {"name": "etc-cni-netd", "mountPath": "/host/etc/cni/net.d"},
                                {"name": "lib-modules", "mountPath": "/lib/modules", "readOnly": true},
                                {"name": "xtables-lock", "mountPath": "/run/xtables.lock"},
                            ],
                        }],
                        "volumes": [
                            {"name": "cilium-config-path", "configMap": {"name": "cilium-config"}},
                            {"name": "bpf-maps", "hostPath": {"path": "/sys/fs/bpf", "type": "DirectoryOrCreate"}},
                            // cgroup.hostRoot=/sys/fs/cgroup
                            {"name": "cilium-cgroup", "hostPath": {"path": "/sys/fs/cgroup", "type": "DirectoryOrCreate"}},
                            {"name": "cilium-run", "hostPath": {"path": "/var/run/cilium", "type": "DirectoryOrCreate"}},
                            {"name": "cni-path", "hostPath": {"path": "/opt/cni/bin", "type": "DirectoryOrCreate"}},
                            {"name": "etc-cni-netd", "hostPath": {"path": "/etc/cni/net.d", "type": "DirectoryOrCreate"}},
                            {"name": "lib-modules", "hostPath": {"path": "/lib/modules"}},
                            {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}},
                        ],
                    },
                },
            },
        }),
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "cilium-operator", "namespace": ns, "labels": {"io.cilium/app": "operator", "name": "cilium-operator"}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"io.cilium/app": "operator", "name": "cilium-operator"}},
                "template": {
                    "metadata": {"labels": {"io.cilium/app": "operator", "name": "cilium-operator"}},
                    "spec": {
                        "hostNetwork": true,
                        "serviceAccountName": "cilium-operator",
                        "priorityClassName": "system-cluster-critical",
                        "tolerations": [{"operator": "Exists"}],
                        "containers": [{
                            "name": "cilium-operator",
                            "image": operator_image,
                            "command": ["cilium-operator-generic"],
                            "args": ["--config-dir=/tmp/cilium/config-map"],
                            "env": api_env,
                            "volumeMounts": [{"name": "cilium-config-path", "mountPath": "/tmp/cilium/config-map", "readOnly": true}],
                        }],
                        "volumes": [{"name": "cilium-config-path", "configMap": {"name": "cilium-config"}}],
                    },
                },
            },
        }),
    ];
    inline("cilium", &objects)
}

/// Flux [`FLUX_VERSION`]'s namespace, CRDs, RBAC and four controllers, as one inline manifest
/// named `flux`.
pub fn flux() -> Result<InlineManifest, ManifestError> {
    let ns = FLUX_NAMESPACE;
    let mut objects = vec![json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": ns, "labels": {
            "app.kubernetes.io/instance": ns,
            "app.kubernetes.io/part-of": "flux",
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/warn-version": "latest",
        }},
    })];
    // (group, version, kind, plural, short names)
    let crds: [(&str, &str, &str, &str, &[&str]); 11] = [
        (
            "source.toolkit.fluxcd.io",
            "v1",
            "GitRepository",
            "gitrepositories",
            &["gitrepo"],
        ),
        (
            "source.toolkit.fluxcd.io",
            "v1",
            "OCIRepository",
            "ocirepositories",
            &["ocirepo"],
        ),
        (
            "source.toolkit.fluxcd.io",
            "v1",
            "HelmRepository",
            "helmrepositories",
            &["helmrepo"],
        ),
        (
            "source.toolkit.fluxcd.io",
            "v1",
            "HelmChart",
            "helmcharts",
            &["hc"],
        ),
        ("source.toolkit.fluxcd.io", "v1", "Bucket", "buckets", &[]),
        (
            "source.toolkit.fluxcd.io",
            "v1",
            "ExternalArtifact",
            "externalartifacts",
            &[],
        ),
        (
            "kustomize.toolkit.fluxcd.io",
            "v1",
            "Kustomization",
            "kustomizations",
            &["ks"],
        ),
        (
            "helm.toolkit.fluxcd.io",
            "v2",
            "HelmRelease",
            "helmreleases",
            &["hr"],
        ),
        (
            "notification.toolkit.fluxcd.io",
            "v1beta3",
            "Alert",
            "alerts",
            &[],
        ),
        (
            "notification.toolkit.fluxcd.io",
            "v1beta3",
            "Provider",
            "providers",
            &[],
        ),
        (
            "notification.toolkit.fluxcd.io",
            "v1",
            "Receiver",
            "receivers",
            &[],
        ),
    ];
    for (group, version, kind, plural, short) in crds {
        objects.push(permissive_crd(group, version, kind, plural, short));
    }
    let mut controller_rules = vec![];
    for group in [
        "source.toolkit.fluxcd.io",
        "kustomize.toolkit.fluxcd.io",
        "helm.toolkit.fluxcd.io",
        "notification.toolkit.fluxcd.io",
    ] {
        controller_rules.push(json!({"apiGroups": [group], "resources": ["*"], "verbs": ["*"]}));
    }
    controller_rules.extend([
        json!({"apiGroups": [""], "resources": ["namespaces", "secrets", "configmaps", "serviceaccounts"], "verbs": ["get", "list", "watch"]}),
        json!({"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]}),
        // Leader election.
        json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}),
        json!({"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}),
    ]);
    objects.push(cluster_role(
        "crd-controller-flux-system",
        Value::Array(controller_rules),
    ));
    let all: Vec<(&str, &str)> = FLUX_CONTROLLERS.iter().map(|(n, _)| (*n, ns)).collect();
    objects.push(cluster_role_binding(
        "crd-controller-flux-system",
        "crd-controller-flux-system",
        &all,
    ));
    // kustomize- and helm-controller apply arbitrary objects: cluster-admin.
    objects.push(cluster_role_binding(
        "cluster-reconciler-flux-system",
        "cluster-admin",
        &[("kustomize-controller", ns), ("helm-controller", ns)],
    ));
    for (name, tag) in FLUX_CONTROLLERS {
        objects.push(service_account(name, ns));
        objects.push(flux_controller(name, tag));
        if matches!(name, "source-controller" | "notification-controller") {
            // kustomize-controller downloads artifacts from source-controller; every
            // controller posts events to notification-controller.
            objects.push(json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": ns, "labels": {"control-plane": "controller"}},
                "spec": {
                    "type": "ClusterIP",
                    "selector": {"app": name},
                    "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}],
                },
            }));
        }
    }
    inline("flux", &objects)
}

/// The `sops-age` Secret in `flux-system` holding exactly `age_identity` under `age.agekey`.
pub fn sops_age_secret(age_identity: &str) -> Result<InlineManifest, ManifestError> {
    // Refuse anything that is not one identity, so a public key or a pasted file never
    // reaches the cluster as a "key".
    age::x25519::Identity::from_str(age_identity).map_err(|_| ManifestError::InvalidAgeKey)?;
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SOPS_SECRET, "namespace": FLUX_NAMESPACE},
        "type": "Opaque",
        "data": {SOPS_KEY: STANDARD.encode(age_identity)},
    });
    inline("sops-age", &[secret])
}

/// Flux's `GitRepository` and `Kustomization`, both `flux-system` in `flux-system`, decrypting
/// with the `sops-age` Secret.
pub fn flux_sync(sync: &FluxSync) -> Result<InlineManifest, ManifestError> {
    let bad = |field: &'static str, reason: &str| ManifestError::InvalidSync {
        field,
        reason: reason.to_string(),
    };
    if !["https://", "http://", "ssh://"]
        .iter()
        .any(|p| sync.url.starts_with(p))
        || sync.url.contains(char::is_whitespace)
    {
        return Err(bad("url", "must be an https://, http:// or ssh:// URL"));
    }
    if sync.branch.is_empty() || sync.branch.contains(char::is_whitespace) {
        return Err(bad("branch", "must be a branch name"));
    }
    let path = sync.path.trim_start_matches("./");
    if sync.path.starts_with('/') || path.split('/').any(|p| p == "..") {
        return Err(bad("path", "must be relative to the repository root"));
    }
    let path = if path.is_empty() {
        "./".to_string()
    } else {
        format!("./{path}")
    };
    let objects = [
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "flux-system", "namespace": FLUX_NAMESPACE},
            "spec": {"interval": "1m0s", "url": sync.url, "ref": {"branch": sync.branch}},
        }),
        json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "flux-system", "namespace": FLUX_NAMESPACE},
            "spec": {
                "interval": "10m0s",
                "path": path,
                "prune": true,
                "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
                "decryption": {"provider": "sops", "secretRef": {"name": SOPS_SECRET}},
            },
        }),
    ];
    inline("flux-sync", &objects)
}

// ---------- object helpers ----------

fn service_account(name: &str, ns: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}})
}

fn cluster_role(name: &str, rules: Value) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": rules,
    })
}

fn cluster_role_binding(name: &str, role: &str, subjects: &[(&str, &str)]) -> Value {
    let subjects: Vec<Value> = subjects
        .iter()
        .map(|(sa, ns)| json!({"kind": "ServiceAccount", "name": sa, "namespace": ns}))
        .collect();
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    })
}

/// A CRD that accepts any spec and has a status subresource.
fn permissive_crd(group: &str, version: &str, kind: &str, plural: &str, short: &[&str]) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": format!("{kind}List"),
                "plural": plural,
                "singular": kind.to_lowercase(),
                "shortNames": short,
            },
            "versions": [{
                "name": version,
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            }],
        },
    })
}

/// One Flux controller's Deployment, as `install.yaml` shapes it (container `manager`, events
/// to notification-controller, restricted security context).
fn flux_controller(name: &str, tag: &str) -> Value {
    let mut args = vec![
        "--events-addr=http://notification-controller.flux-system.svc.cluster.local./".to_string(),
        "--watch-all-namespaces=true".into(),
        "--log-level=info".into(),
        "--log-encoding=json".into(),
        "--enable-leader-election".into(),
    ];
    let mut volumes = vec![json!({"name": "temp", "emptyDir": {}})];
    let mut mounts = vec![json!({"name": "temp", "mountPath": "/tmp"})];
    let mut ports = vec![
        json!({"containerPort": 8080, "name": "http-prom", "protocol": "TCP"}),
        json!({"containerPort": 9440, "name": "healthz", "protocol": "TCP"}),
    ];
    match name {
        "source-controller" => {
            args.push("--storage-path=/data".into());
            args.push(
                "--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.cluster.local."
                    .into(),
            );
            volumes.push(json!({"name": "data", "emptyDir": {}}));
            mounts.push(json!({"name": "data", "mountPath": "/data"}));
            ports.push(json!({"containerPort": 9090, "name": "http", "protocol": "TCP"}));
        }
        "notification-controller" => {
            // It receives the events the others post.
            args.remove(0);
            ports.push(json!({"containerPort": 9090, "name": "http", "protocol": "TCP"}));
            ports.push(json!({"containerPort": 9292, "name": "http-webhook", "protocol": "TCP"}));
        }
        _ => {}
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": FLUX_NAMESPACE, "labels": {
            "app.kubernetes.io/component": name,
            "app.kubernetes.io/instance": FLUX_NAMESPACE,
            "app.kubernetes.io/part-of": "flux",
            "app.kubernetes.io/version": format!("v{FLUX_VERSION}"),
            "control-plane": "controller",
        }},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "serviceAccountName": name,
                    "priorityClassName": "system-cluster-critical",
                    "terminationGracePeriodSeconds": 10,
                    "securityContext": {"fsGroup": 1337},
                    "containers": [{
                        "name": "manager",
                        "image": format!("ghcr.io/fluxcd/{name}:{tag}"),
                        "imagePullPolicy": "IfNotPresent",
                        "args": args,
                        "env": [{"name": "RUNTIME_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
                        "ports": ports,
                        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "healthz"}},
                        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "healthz"}},
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true,
                            "runAsNonRoot": true,
                            "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "volumeMounts": mounts,
                    }],
                    "volumes": volumes,
                },
            },
        },
    })
}

/// Objects as one YAML stream, named `name`.
fn inline(name: &str, objects: &[Value]) -> Result<InlineManifest, ManifestError> {
    let mut contents = String::new();
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            contents.push_str("---\n");
        }
        contents.push_str(
            &serde_norway::to_string(&to_yaml(o))
                .map_err(|e| ManifestError::Yaml(e.to_string()))?,
        );
    }
    Ok(InlineManifest {
        name: name.to_string(),
        contents,
    })
}

/// A JSON tree as a YAML one. serde_json's exact numbers (the crate's `arbitrary_precision`
/// feature) would otherwise reach the YAML writer as a private wrapper map.
fn to_yaml(v: &Value) -> serde_norway::Value {
    use serde_norway::Value as Y;
    match v {
        Value::Null => Y::Null,
        Value::Bool(b) => Y::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Y::Number(u.into()),
            (None, Some(i)) => Y::Number(i.into()),
            _ => Y::Number(n.as_f64().unwrap_or_default().into()),
        },
        Value::String(s) => Y::String(s.clone()),
        Value::Array(a) => Y::Sequence(a.iter().map(to_yaml).collect()),
        Value::Object(m) => Y::Mapping(
            m.iter()
                .map(|(k, v)| (Y::String(k.clone()), to_yaml(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    /// Every object of an inline manifest.
    fn objects(m: &InlineManifest) -> Vec<Value> {
        m.contents
            .split("\n---\n")
            .map(|d| serde_norway::from_str(d).expect("object parses"))
            .collect()
    }

    fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
        objs.iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{kind}/{name} missing"))
    }

    fn sync() -> FluxSync {
        FluxSync {
            url: "https://github.com/example/platform.git".into(),
            branch: "main".into(),
            path: "clusters/home".into(),
        }
    }

    #[test]
    fn cilium_carries_the_talos_values() {
        let m = cilium().expect("cilium");
        assert_eq!(m.name, "cilium");
        let objs = objects(&m);
        assert!(
            objs.iter().all(|o| o["kind"] != "Namespace"),
            "kube-system exists"
        );
        let cm = &find(&objs, "ConfigMap", "cilium-config")["data"];
        let cases = [
            ("ipam", "kubernetes"),
            ("kube-proxy-replacement", "true"),
            ("cgroup-root", "/sys/fs/cgroup"),
        ];
        for (key, want) in cases {
            assert_eq!(cm[key], want, "{key}");
        }
        let ds = find(&objs, "DaemonSet", "cilium");
        assert_eq!(ds["metadata"]["namespace"], "kube-system");
        let pod = &ds["spec"]["template"]["spec"];
        let agent = &pod["containers"][0];
        assert_eq!(
            agent["image"],
            format!("quay.io/cilium/cilium:v{CILIUM_VERSION}")
        );
        let caps = agent["securityContext"]["capabilities"]["add"]
            .as_array()
            .expect("caps");
        assert_eq!(caps.len(), 11);
        assert!(
            !caps.contains(&json!("SYS_MODULE")),
            "Talos forbids modules"
        );
        let clean = pod["initContainers"]
            .as_array()
            .expect("init")
            .iter()
            .find(|c| c["name"] == "clean-cilium-state")
            .expect("clean-cilium-state");
        assert_eq!(
            clean["securityContext"]["capabilities"]["add"],
            json!(["NET_ADMIN", "SYS_ADMIN", "SYS_RESOURCE"])
        );
        for (kind, name) in [("DaemonSet", "cilium"), ("Deployment", "cilium-operator")] {
            let env = &find(&objs, kind, name)["spec"]["template"]["spec"]["containers"][0]["env"];
            let get = |n: &str| {
                env.as_array()
                    .expect("env")
                    .iter()
                    .find(|e| e["name"] == n)
                    .map(|e| e["value"].clone())
            };
            assert_eq!(
                get("KUBERNETES_SERVICE_HOST"),
                Some(json!("localhost")),
                "{name}"
            );
            assert_eq!(
                get("KUBERNETES_SERVICE_PORT"),
                Some(json!("7445")),
                "{name}"
            );
        }
        let op = find(&objs, "Deployment", "cilium-operator");
        assert_eq!(op["spec"]["replicas"], 1, "numbers stay numbers");
        for name in ["cilium", "cilium-operator"] {
            find(&objs, "ServiceAccount", name);
            find(&objs, "ClusterRole", name);
            find(&objs, "ClusterRoleBinding", name);
        }
    }

    #[test]
    fn flux_pins_its_controllers_in_flux_system() {
        let objs = objects(&flux().expect("flux"));
        assert_eq!(objs[0]["kind"], "Namespace", "the namespace comes first");
        assert_eq!(objs[0]["metadata"]["name"], "flux-system");
        for (name, tag) in FLUX_CONTROLLERS {
            let d = find(&objs, "Deployment", name);
            assert_eq!(d["metadata"]["namespace"], "flux-system", "{name}");
            assert_eq!(
                d["spec"]["template"]["spec"]["containers"][0]["image"],
                format!("ghcr.io/fluxcd/{name}:{tag}"),
                "{name}"
            );
            find(&objs, "ServiceAccount", name);
        }
        for crd in [
            "gitrepositories.source.toolkit.fluxcd.io",
            "kustomizations.kustomize.toolkit.fluxcd.io",
        ] {
            find(&objs, "CustomResourceDefinition", crd);
        }
        find(&objs, "Service", "source-controller");
        assert_eq!(
            flux_install_url(),
            "https://github.com/fluxcd/flux2/releases/download/v2.9.4/install.yaml"
        );
    }

    #[test]
    fn the_sops_age_secret_decodes_to_exactly_the_given_key() {
        let id = age::x25519::Identity::generate();
        let key = id.to_string().expose_secret().to_string();
        let m = sops_age_secret(&key).expect("secret");
        let objs = objects(&m);
        assert_eq!(objs.len(), 1);
        let s = &objs[0];
        assert_eq!(
            (
                s["kind"].clone(),
                s["metadata"]["name"].clone(),
                s["metadata"]["namespace"].clone()
            ),
            (json!("Secret"), json!("sops-age"), json!("flux-system"))
        );
        let data = s["data"].as_object().expect("data");
        assert_eq!(data.len(), 1, "only age.agekey");
        let decoded = STANDARD
            .decode(data["age.agekey"].as_str().expect("b64"))
            .expect("base64");
        assert_eq!(decoded, key.as_bytes());
    }

    #[test]
    fn only_an_age_identity_is_accepted_as_the_key() {
        let id = age::x25519::Identity::generate();
        let cases = [
            ("public key", id.to_public().to_string()),
            ("empty", String::new()),
            ("garbage", "AGE-SECRET-KEY-1NOPE".to_string()),
            (
                "a key file",
                format!("# created: now\n{}\n", id.to_string().expose_secret()),
            ),
        ];
        for (name, text) in cases {
            assert_eq!(
                sops_age_secret(&text),
                Err(ManifestError::InvalidAgeKey),
                "{name}"
            );
        }
    }

    #[test]
    fn flux_sync_decrypts_with_sops_age() {
        let objs = objects(&flux_sync(&sync()).expect("sync"));
        let repo = find(&objs, "GitRepository", "flux-system");
        assert_eq!(repo["apiVersion"], "source.toolkit.fluxcd.io/v1");
        assert_eq!(
            repo["spec"]["url"],
            "https://github.com/example/platform.git"
        );
        assert_eq!(repo["spec"]["ref"]["branch"], "main");
        let ks = find(&objs, "Kustomization", "flux-system");
        assert_eq!(ks["apiVersion"], "kustomize.toolkit.fluxcd.io/v1");
        assert_eq!(ks["spec"]["path"], "./clusters/home");
        assert_eq!(
            ks["spec"]["decryption"],
            json!({"provider": "sops", "secretRef": {"name": "sops-age"}})
        );
        assert_eq!(
            ks["spec"]["sourceRef"],
            json!({"kind": "GitRepository", "name": "flux-system"})
        );
    }

    #[test]
    fn flux_sync_refuses_bad_sources() {
        type Edit = fn(&mut FluxSync);
        let cases: Vec<(&str, Edit, &str)> = vec![
            ("file url", |s| s.url = "file:///repo".into(), "url"),
            ("empty branch", |s| s.branch.clear(), "branch"),
            ("absolute path", |s| s.path = "/etc".into(), "path"),
            ("escaping path", |s| s.path = "./a/../../b".into(), "path"),
        ];
        for (name, edit, want) in cases {
            let mut s = sync();
            edit(&mut s);
            let err = flux_sync(&s).expect_err(name).to_string();
            assert!(err.starts_with(want), "{name}: {err}");
        }
        let mut root = sync();
        root.path = "./".into();
        let objs = objects(&flux_sync(&root).expect("root"));
        assert_eq!(
            find(&objs, "Kustomization", "flux-system")["spec"]["path"],
            "./"
        );
    }

    #[test]
    fn platform_orders_cni_then_flux_then_key_then_sync() {
        let id = age::x25519::Identity::generate();
        let all = platform(id.to_string().expose_secret(), &sync()).expect("platform");
        let names: Vec<&str> = all.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["cilium", "flux", "sops-age", "flux-sync"]);
    }
}
