//! Test fixtures: minimal valid Talos v1alpha1 machine configurations with fresh CAs, the
//! admin credentials (talosconfig material) that go with them, and small stand-in manifests
//! for Cilium and Flux.
//!
//! Shapes follow `talosctl gen config` output (siderolabs/talos
//! `pkg/machinery/config/types/v1alpha1/testdata/stability/v1.13/base-controlplane.yaml`) and
//! the secrets bundle (research §B.4): OS CA Ed25519 with Organization `talos`, Kubernetes and
//! etcd CAs ECDSA P-256 with Organization `kubernetes` / `etcd`, aggregator CA with CN
//! `front-proxy`, tokens `[a-z0-9]{6}.[a-z0-9]{16}`, 32-byte base64 cluster id/secret, and
//! `crt`/`key` fields holding base64 of PEM. The admin client certificate carries role
//! `os:admin` in its Organization and only the ClientAuth usage (research §A.2, §B.3).
//!
//! Differences from `talosctl`: ECDSA keys are PKCS#8 (`PRIVATE KEY`) where Talos writes SEC1
//! (`EC PRIVATE KEY`); the node's own loopback address is set as a static interface address
//! so the lab places the node there.

use std::net::Ipv4Addr;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use super::config::yaml_documents;
use super::pki::{pem_der, to_pem, Ca, LeafSpec, ED25519_PEM_LABEL};

/// What `talosctl` needs to reach a configured node: the OS CA and an `os:admin` client
/// certificate, all PEM. The key uses Talos' `ED25519 PRIVATE KEY` label (PKCS#8 body),
/// exactly as in a real talosconfig.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminCredentials {
    /// OS CA certificate (`machine.ca.crt`).
    pub ca_pem: String,
    /// Admin client certificate.
    pub crt_pem: String,
    /// Admin client key (`ED25519 PRIVATE KEY`).
    pub key_pem: String,
}

impl AdminCredentials {
    /// The key relabelled `PRIVATE KEY` (PKCS#8), for TLS stacks that only know that label.
    pub fn key_pkcs8_pem(&self) -> String {
        pem_der(&self.key_pem)
            .map(|d| to_pem("PRIVATE KEY", &d))
            .unwrap_or_default()
    }

    /// A talosconfig (`pkg/machinery/client/config/config.go`: `context`,
    /// `contexts.<name>.{endpoints, nodes, ca, crt, key}` with base64 PEM).
    pub fn talosconfig(&self, context: &str, endpoints: &[Ipv4Addr]) -> String {
        let eps: Vec<String> = endpoints.iter().map(Ipv4Addr::to_string).collect();
        let doc = json!({
            "context": context,
            "contexts": {context: {
                "endpoints": eps,
                "nodes": eps,
                "ca": b64(&self.ca_pem),
                "crt": b64(&self.crt_pem),
                "key": b64(&self.key_pem),
            }},
        });
        serde_norway::to_string(&doc).unwrap_or_default()
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    let _ = getrandom::fill(&mut b);
    b
}

fn token() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let r = random_bytes::<22>();
    let s: String = r
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    format!("{}.{}", &s[..6], &s[6..])
}

/// A minimal valid control-plane configuration for `cluster_name` with the control-plane
/// `endpoint` (e.g. `https://127.0.0.5:6443`), the node at `node_ip` (a loopback address),
/// CNI `none` and kube-proxy disabled (the Cilium recipe, research §E.1), and fresh CAs.
/// Returns the YAML and the admin credentials for its OS CA.
pub fn controlplane_config(
    cluster_name: &str,
    endpoint: &str,
    node_ip: Ipv4Addr,
) -> (String, AdminCredentials) {
    match try_controlplane_config(cluster_name, endpoint, node_ip) {
        Ok(x) => x,
        // Key generation failing means the crypto backend is broken; no config can be made.
        Err(e) => (
            format!("# fixture generation failed: {e}\n"),
            AdminCredentials {
                ca_pem: String::new(),
                crt_pem: String::new(),
                key_pem: String::new(),
            },
        ),
    }
}

fn try_controlplane_config(
    cluster_name: &str,
    endpoint: &str,
    node_ip: Ipv4Addr,
) -> Result<(String, AdminCredentials), String> {
    let (os_ca, os_key_pkcs8) = Ca::generate(Some("talos"), None, &rcgen::PKCS_ED25519)?;
    let os_key = to_pem(
        ED25519_PEM_LABEL,
        &pem_der(&os_key_pkcs8).ok_or("os ca key")?,
    );
    let (k8s_ca, k8s_key) = Ca::generate(Some("kubernetes"), None, &rcgen::PKCS_ECDSA_P256_SHA256)?;
    let (etcd_ca, etcd_key) = Ca::generate(Some("etcd"), None, &rcgen::PKCS_ECDSA_P256_SHA256)?;
    let (agg_ca, agg_key) =
        Ca::generate(None, Some("front-proxy"), &rcgen::PKCS_ECDSA_P256_SHA256)?;
    let sa_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| e.to_string())?
        .serialize_pem();

    let admin = os_ca.issue(&LeafSpec {
        cn: None,
        orgs: &["os:admin"],
        dns: &[],
        ips: &[],
        server: false,
        key_encipherment: false,
        ttl: Duration::from_secs(365 * 86_400),
        alg: &rcgen::PKCS_ED25519,
    })?;
    let admin_key = to_pem(ED25519_PEM_LABEL, &admin.key_der);

    let version = "v1.36.3";
    let std64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let url64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE.encode(b);
    let doc = json!({
        "version": "v1alpha1",
        "debug": false,
        "persist": true,
        "machine": {
            "type": "controlplane",
            "token": token(),
            "ca": {"crt": b64(&os_ca.cert_pem), "key": b64(&os_key)},
            "certSANs": [node_ip.to_string()],
            "kubelet": {
                "image": format!("ghcr.io/siderolabs/kubelet:{version}"),
                "defaultRuntimeSeccompProfileEnabled": true,
                "disableManifestsDirectory": true,
            },
            "network": {
                "interfaces": [{"interface": "eth0", "addresses": [format!("{node_ip}/8")]}],
            },
            "install": {"disk": "/dev/sda", "wipe": false},
            "features": {
                "diskQuotaSupport": true,
                "kubePrism": {"enabled": true, "port": 7445},
                "hostDNS": {"enabled": true, "forwardKubeDNSToHost": false},
            },
            "nodeLabels": {"node.kubernetes.io/exclude-from-external-load-balancers": ""},
        },
        "cluster": {
            "id": url64(&random_bytes::<32>()),
            "secret": std64(&random_bytes::<32>()),
            "controlPlane": {"endpoint": endpoint},
            "clusterName": cluster_name,
            "network": {
                "dnsDomain": "cluster.local",
                "podSubnets": ["10.244.0.0/16"],
                "serviceSubnets": ["10.96.0.0/12"],
                "cni": {"name": "none"},
            },
            "token": token(),
            "secretboxEncryptionSecret": std64(&random_bytes::<32>()),
            "ca": {"crt": b64(&k8s_ca.cert_pem), "key": b64(&k8s_key)},
            "aggregatorCA": {"crt": b64(&agg_ca.cert_pem), "key": b64(&agg_key)},
            "serviceAccount": {"key": b64(&sa_key)},
            "apiServer": {"image": format!("registry.k8s.io/kube-apiserver:{version}"), "certSANs": [node_ip.to_string()]},
            "controllerManager": {"image": format!("registry.k8s.io/kube-controller-manager:{version}")},
            "proxy": {"disabled": true},
            "scheduler": {"image": format!("registry.k8s.io/kube-scheduler:{version}")},
            "discovery": {"enabled": true},
            "etcd": {"ca": {"crt": b64(&etcd_ca.cert_pem), "key": b64(&etcd_key)}},
        },
    });
    let yaml = serde_norway::to_string(&doc).map_err(|e| e.to_string())?;
    Ok((
        yaml,
        AdminCredentials {
            ca_pem: os_ca.cert_pem.clone(),
            crt_pem: admin.cert_pem,
            key_pem: admin_key,
        },
    ))
}

fn edit(config_yaml: &str, f: impl FnOnce(&mut Value)) -> String {
    let Ok(mut docs) = yaml_documents(config_yaml) else {
        return config_yaml.to_string();
    };
    if let Some(v1) = docs
        .iter_mut()
        .find(|d| d.get("version").and_then(Value::as_str) == Some("v1alpha1"))
    {
        f(v1);
    }
    docs.iter()
        .filter_map(|d| serde_norway::to_string(d).ok())
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The worker configuration that joins the cluster of a control-plane configuration (same
/// cluster secrets, no CA keys, as `talosctl gen config`'s `worker.yaml`), at `node_ip`.
pub fn worker_config(controlplane_yaml: &str, node_ip: Ipv4Addr) -> String {
    edit(controlplane_yaml, |v| {
        v["machine"]["type"] = json!("worker");
        if let Some(ca) = v.pointer_mut("/machine/ca").and_then(Value::as_object_mut) {
            ca.remove("key");
        }
        v["machine"]["certSANs"] = json!([node_ip.to_string()]);
        v["machine"]["network"] =
            json!({"interfaces": [{"interface": "eth0", "addresses": [format!("{node_ip}/8")]}]});
        if let Some(ca) = v.pointer_mut("/cluster/ca").and_then(Value::as_object_mut) {
            ca.remove("key");
        }
        if let Some(c) = v.get_mut("cluster").and_then(Value::as_object_mut) {
            for k in [
                "aggregatorCA",
                "serviceAccount",
                "etcd",
                "secretboxEncryptionSecret",
                "apiServer",
                "controllerManager",
                "scheduler",
            ] {
                c.remove(k);
            }
        }
    })
}

/// Adds an entry to `cluster.inlineManifests`.
pub fn with_inline_manifest(config_yaml: &str, name: &str, contents: &str) -> String {
    edit(config_yaml, |v| {
        let entry = json!({"name": name, "contents": contents});
        match v
            .pointer_mut("/cluster/inlineManifests")
            .and_then(Value::as_array_mut)
        {
            Some(a) => a.push(entry),
            None => v["cluster"]["inlineManifests"] = json!([entry]),
        }
    })
}

/// Sets `cluster.extraManifests`.
pub fn with_extra_manifests(config_yaml: &str, urls: &[&str]) -> String {
    edit(config_yaml, |v| {
        v["cluster"]["extraManifests"] = json!(urls)
    })
}

/// A stand-in for the Cilium manifests Talos users inline (research §E.1): the agent
/// DaemonSet `cilium` and the operator in `kube-system`, both on the host network.
pub fn cilium_manifest() -> String {
    r#"apiVersion: v1
kind: ServiceAccount
metadata:
  name: cilium
  namespace: kube-system
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cilium-config
  namespace: kube-system
data:
  ipam: kubernetes
  kube-proxy-replacement: "true"
  k8s-service-host: localhost
  k8s-service-port: "7445"
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: cilium
  namespace: kube-system
  labels:
    k8s-app: cilium
spec:
  selector:
    matchLabels:
      k8s-app: cilium
  template:
    metadata:
      labels:
        k8s-app: cilium
    spec:
      hostNetwork: true
      serviceAccountName: cilium
      tolerations:
        - operator: Exists
      containers:
        - name: cilium-agent
          image: quay.io/cilium/cilium:v1.18.0
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cilium-operator
  namespace: kube-system
spec:
  replicas: 1
  selector:
    matchLabels:
      name: cilium-operator
  template:
    metadata:
      labels:
        name: cilium-operator
    spec:
      hostNetwork: true
      tolerations:
        - operator: Exists
      containers:
        - name: cilium-operator
          image: quay.io/cilium/operator-generic:v1.18.0
"#
    .to_string()
}

/// A stand-in for Flux's `install.yaml` (research §E.2): namespace `flux-system`, two of its
/// CRDs, and the four controllers.
pub fn flux_manifest() -> String {
    let mut out = String::from(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: flux-system
  labels:
    app.kubernetes.io/instance: flux-system
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gitrepositories.source.toolkit.fluxcd.io
spec:
  group: source.toolkit.fluxcd.io
  scope: Namespaced
  names:
    kind: GitRepository
    listKind: GitRepositoryList
    plural: gitrepositories
    singular: gitrepository
    shortNames: [gitrepo]
  versions:
    - name: v1
      served: true
      storage: true
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: kustomizations.kustomize.toolkit.fluxcd.io
spec:
  group: kustomize.toolkit.fluxcd.io
  scope: Namespaced
  names:
    kind: Kustomization
    listKind: KustomizationList
    plural: kustomizations
    singular: kustomization
    shortNames: [ks]
  versions:
    - name: v1
      served: true
      storage: true
"#,
    );
    for c in [
        "source-controller",
        "kustomize-controller",
        "helm-controller",
        "notification-controller",
    ] {
        out.push_str(&format!(
            r#"---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {c}
  namespace: flux-system
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {c}
  namespace: flux-system
  labels:
    control-plane: controller
spec:
  replicas: 1
  selector:
    matchLabels:
      app: {c}
  template:
    metadata:
      labels:
        app: {c}
    spec:
      serviceAccountName: {c}
      containers:
        - name: manager
          image: ghcr.io/fluxcd/{c}
"#
        ));
    }
    out
}
