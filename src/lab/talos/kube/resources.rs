//! The resource types the emulated apiserver serves: the built-in ones a Talos cluster has and
//! the kinds that CustomResourceDefinitions add (Kubernetes API conventions: resources are
//! lowercase plurals under `/api/v1` or `/apis/{group}/{version}`).

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// One served resource type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResourceInfo {
    /// API group (`""` for core).
    pub group: String,
    pub version: String,
    /// Lowercase plural (`configmaps`).
    pub resource: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    /// Added by a CustomResourceDefinition.
    pub custom: bool,
}

impl ResourceInfo {
    /// `group/version`, or `version` for core.
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `schema.GroupResource.String()`: `configmaps`, `deployments.apps`.
    pub(crate) fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    /// Whether writes bump `metadata.generation` (types with a spec the controllers act on).
    pub(crate) fn has_generation(&self) -> bool {
        self.custom || !self.group.is_empty()
    }

    /// Discovery entry (`APIResource`).
    pub(crate) fn discovery(&self) -> Value {
        let mut v = json!({
            "name": self.resource,
            "singularName": self.kind.to_lowercase(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update"],
        });
        if !self.short_names.is_empty() {
            v["shortNames"] = json!(self.short_names);
        }
        v
    }
}

/// (group, version, resource, kind, namespaced, short names)
type Builtin = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
);

/// Built-in types of a current kube-apiserver that Talos, Cilium and Flux manifests use.
const BUILTINS: &[Builtin] = &[
    ("", "v1", "namespaces", "Namespace", false, &["ns"]),
    ("", "v1", "nodes", "Node", false, &["no"]),
    ("", "v1", "configmaps", "ConfigMap", true, &["cm"]),
    ("", "v1", "secrets", "Secret", true, &[]),
    ("", "v1", "serviceaccounts", "ServiceAccount", true, &["sa"]),
    ("", "v1", "services", "Service", true, &["svc"]),
    ("", "v1", "endpoints", "Endpoints", true, &["ep"]),
    ("", "v1", "pods", "Pod", true, &["po"]),
    ("", "v1", "events", "Event", true, &["ev"]),
    (
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
    ),
    (
        "",
        "v1",
        "persistentvolumes",
        "PersistentVolume",
        false,
        &["pv"],
    ),
    ("", "v1", "limitranges", "LimitRange", true, &["limits"]),
    (
        "",
        "v1",
        "resourcequotas",
        "ResourceQuota",
        true,
        &["quota"],
    ),
    ("apps", "v1", "deployments", "Deployment", true, &["deploy"]),
    ("apps", "v1", "daemonsets", "DaemonSet", true, &["ds"]),
    ("apps", "v1", "statefulsets", "StatefulSet", true, &["sts"]),
    ("apps", "v1", "replicasets", "ReplicaSet", true, &["rs"]),
    (
        "apps",
        "v1",
        "controllerrevisions",
        "ControllerRevision",
        true,
        &[],
    ),
    ("batch", "v1", "jobs", "Job", true, &[]),
    ("batch", "v1", "cronjobs", "CronJob", true, &["cj"]),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "Role",
        true,
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        true,
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        false,
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        &[],
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
    ),
    (
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
        true,
        &["netpol"],
    ),
    (
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        true,
        &["ing"],
    ),
    (
        "networking.k8s.io",
        "v1",
        "ingressclasses",
        "IngressClass",
        false,
        &[],
    ),
    (
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        &["pdb"],
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        false,
        &[],
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        false,
        &[],
    ),
    (
        "apiregistration.k8s.io",
        "v1",
        "apiservices",
        "APIService",
        false,
        &[],
    ),
    ("coordination.k8s.io", "v1", "leases", "Lease", true, &[]),
    (
        "scheduling.k8s.io",
        "v1",
        "priorityclasses",
        "PriorityClass",
        false,
        &["pc"],
    ),
    (
        "storage.k8s.io",
        "v1",
        "storageclasses",
        "StorageClass",
        false,
        &["sc"],
    ),
    (
        "storage.k8s.io",
        "v1",
        "csidrivers",
        "CSIDriver",
        false,
        &[],
    ),
    ("storage.k8s.io", "v1", "csinodes", "CSINode", false, &[]),
    (
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        "EndpointSlice",
        true,
        &[],
    ),
    (
        "certificates.k8s.io",
        "v1",
        "certificatesigningrequests",
        "CertificateSigningRequest",
        false,
        &["csr"],
    ),
    (
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        true,
        &["hpa"],
    ),
    (
        "node.k8s.io",
        "v1",
        "runtimeclasses",
        "RuntimeClass",
        false,
        &[],
    ),
];

/// Every served type, keyed by (group, version, resource).
#[derive(Debug, Clone)]
pub(crate) struct Resources {
    by_path: BTreeMap<(String, String, String), ResourceInfo>,
}

impl Default for Resources {
    fn default() -> Self {
        let mut by_path = BTreeMap::new();
        for (g, v, r, k, ns, short) in BUILTINS {
            let info = ResourceInfo {
                group: g.to_string(),
                version: v.to_string(),
                resource: r.to_string(),
                kind: k.to_string(),
                namespaced: *ns,
                short_names: short.iter().map(|s| s.to_string()).collect(),
                custom: false,
            };
            by_path.insert((g.to_string(), v.to_string(), r.to_string()), info);
        }
        Self { by_path }
    }
}

/// Splits `apiVersion` into (group, version).
pub(crate) fn split_api_version(api_version: &str) -> (String, String) {
    match api_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), api_version.to_string()),
    }
}

impl Resources {
    /// The type served at `/{group}/{version}/{resource}`.
    pub(crate) fn by_resource(
        &self,
        group: &str,
        version: &str,
        resource: &str,
    ) -> Option<&ResourceInfo> {
        self.by_path
            .get(&(group.to_string(), version.to_string(), resource.to_string()))
    }

    /// The type of an object with this `apiVersion` and `kind`.
    pub(crate) fn by_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceInfo> {
        let (g, v) = split_api_version(api_version);
        self.by_path
            .values()
            .find(|i| i.group == g && i.version == v && i.kind == kind)
    }

    /// All served types.
    pub(crate) fn all(&self) -> impl Iterator<Item = &ResourceInfo> {
        self.by_path.values()
    }

    /// Registers the kinds of a CustomResourceDefinition (its served versions).
    pub(crate) fn register_crd(&mut self, crd: &Value) {
        let Some(spec) = crd.get("spec") else { return };
        let group = spec.get("group").and_then(Value::as_str).unwrap_or("");
        let names = spec.get("names").cloned().unwrap_or(Value::Null);
        let plural = names.get("plural").and_then(Value::as_str).unwrap_or("");
        let kind = names.get("kind").and_then(Value::as_str).unwrap_or("");
        if group.is_empty() || plural.is_empty() || kind.is_empty() {
            return;
        }
        let namespaced = spec.get("scope").and_then(Value::as_str) != Some("Cluster");
        let short_names: Vec<String> = names
            .get("shortNames")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        self.unregister_crd(group, plural);
        for v in spec
            .get("versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = v.get("name").and_then(Value::as_str) else {
                continue;
            };
            if v.get("served").and_then(Value::as_bool) == Some(false) {
                continue;
            }
            self.by_path.insert(
                (group.to_string(), name.to_string(), plural.to_string()),
                ResourceInfo {
                    group: group.to_string(),
                    version: name.to_string(),
                    resource: plural.to_string(),
                    kind: kind.to_string(),
                    namespaced,
                    short_names: short_names.clone(),
                    custom: true,
                },
            );
        }
    }

    /// Removes the kinds of a deleted CustomResourceDefinition.
    pub(crate) fn unregister_crd(&mut self, group: &str, plural: &str) {
        self.by_path
            .retain(|(g, _, r), i| !(i.custom && g == group && r == plural));
    }

    /// Groups with their versions, in registration order of the table (core excluded).
    pub(crate) fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for i in self.by_path.values().filter(|i| !i.group.is_empty()) {
            match out.iter_mut().find(|(g, _)| *g == i.group) {
                Some((_, vs)) => {
                    if !vs.contains(&i.version) {
                        vs.push(i.version.clone());
                    }
                }
                None => out.push((i.group.clone(), vec![i.version.clone()])),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crd_kinds_come_and_go() {
        let mut r = Resources::default();
        let crd = json!({"spec": {"group": "source.toolkit.fluxcd.io", "scope": "Namespaced",
            "names": {"plural": "gitrepositories", "kind": "GitRepository", "shortNames": ["gitrepo"]},
            "versions": [{"name": "v1", "served": true}, {"name": "v1beta2", "served": false}]}});
        r.register_crd(&crd);
        let info = r
            .by_kind("source.toolkit.fluxcd.io/v1", "GitRepository")
            .expect("registered");
        assert_eq!(
            info.group_resource(),
            "gitrepositories.source.toolkit.fluxcd.io"
        );
        assert!(r
            .by_resource("source.toolkit.fluxcd.io", "v1beta2", "gitrepositories")
            .is_none());
        r.unregister_crd("source.toolkit.fluxcd.io", "gitrepositories");
        assert!(r
            .by_kind("source.toolkit.fluxcd.io/v1", "GitRepository")
            .is_none());
        assert_eq!(
            r.by_kind("apps/v1", "Deployment")
                .map(|i| i.group_resource()),
            Some("deployments.apps".into())
        );
    }
}
