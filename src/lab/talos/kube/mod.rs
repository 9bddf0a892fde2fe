//! The emulated Kubernetes control plane of one Talos cluster: the kube-apiserver on the
//! control-plane endpoint (`cluster.controlPlane.endpoint`, :6443, TLS from the config's
//! `cluster.ca`), its object store, the controllers whose effects clients observe (kubelet
//! node registration, CNI readiness, workload status, namespace cleanup), and the Talos
//! manifest applier that runs at bootstrap.
//!
//! It imports nothing from the rest of freetier; wire strings cite their source.

pub(crate) mod controllers;
pub(crate) mod http;
pub(crate) mod manifests;
pub(crate) mod resources;
pub(crate) mod ssa;
pub(crate) mod store;
pub(crate) mod table;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::config::MachineConfig;
use super::pki::{Ca, LeafSpec};
use super::timing::{pause, Step};
use super::{lock, Fleet};
use store::Store;

/// Kubernetes version a Talos release deploys by default
/// (`pkg/machinery/constants/constants.go` `DefaultKubernetesVersion`).
pub(crate) fn default_kubernetes_version(release: super::TalosRelease) -> &'static str {
    match release {
        super::TalosRelease::V1_12 => "v1.35.4",
        super::TalosRelease::V1_13 => "v1.36.3",
    }
}

/// One cluster, keyed by its control-plane endpoint.
pub(crate) struct Cluster {
    /// `cluster.controlPlane.endpoint` as written.
    pub endpoint: String,
    /// Where the API listens (the endpoint, when it is a loopback IPv4 address).
    pub addr: Option<SocketAddr>,
    pub fleet: Weak<Fleet>,
    pub store: Mutex<Store>,
    pub st: Mutex<ClusterState>,
    /// Wakes the controllers.
    pub poke: Notify,
}

/// Mutable state of a cluster.
pub(crate) struct ClusterState {
    /// The control-plane config the API runs from (CA, manifests, cluster name).
    pub config: Arc<MachineConfig>,
    /// Running API server (cancel to stop it).
    pub api: Option<CancellationToken>,
    /// An API start is under way.
    pub api_starting: bool,
    /// Namespaces and built-in objects were created.
    pub seeded: bool,
    /// Bootstrap manifests were applied (Talos keeps an inventory; create-only).
    pub manifests_done: bool,
    /// Kubernetes version served.
    pub version: String,
    /// Notified when the API starts answering.
    pub api_up: tokio::sync::watch::Sender<bool>,
}

impl Cluster {
    pub(crate) fn new(fleet: &Arc<Fleet>, config: Arc<MachineConfig>) -> Arc<Cluster> {
        let version = config
            .kubelet_version
            .clone()
            .unwrap_or_else(|| default_kubernetes_version(fleet.release).to_string());
        Arc::new(Cluster {
            endpoint: config.endpoint.clone(),
            addr: config.endpoint_addr(),
            fleet: Arc::downgrade(fleet),
            store: Mutex::new(Store::default()),
            st: Mutex::new(ClusterState {
                config,
                api: None,
                api_starting: false,
                seeded: false,
                manifests_done: false,
                version,
                api_up: tokio::sync::watch::channel(false).0,
            }),
            poke: Notify::new(),
        })
    }

    /// The endpoint address for traces (0.0.0.0 when not loopback).
    pub(crate) fn trace_ip(&self) -> Ipv4Addr {
        match self.addr {
            Some(SocketAddr::V4(a)) => *a.ip(),
            _ => Ipv4Addr::UNSPECIFIED,
        }
    }

    /// Whether the API answers.
    pub(crate) fn api_running(&self) -> bool {
        lock(&self.st).api.is_some()
    }

    /// Starts or stops the API server to match the control-plane nodes: it runs while some
    /// control-plane node of the cluster has etcd running.
    pub(crate) fn refresh(self: &Arc<Self>) {
        let Some(fleet) = self.fleet.upgrade() else {
            return;
        };
        let etcd_up = fleet
            .nodes_snapshot()
            .iter()
            .any(|n| n.etcd_serves(&self.endpoint));
        let mut st = lock(&self.st);
        if etcd_up && st.api.is_none() && !st.api_starting {
            st.api_starting = true;
            drop(st);
            let me = self.clone();
            let f = fleet.clone();
            fleet.spawn_until(fleet.cancel.clone(), async move {
                me.start_api(&f).await;
            });
        } else if !etcd_up {
            if let Some(tok) = st.api.take() {
                tok.cancel();
                st.api_up.send_replace(false);
            }
        } else {
            drop(st);
            self.poke.notify_one();
        }
    }

    async fn start_api(self: Arc<Self>, fleet: &Arc<Fleet>) {
        let started = Instant::now();
        pause(fleet.timing.duration(Step::ApiServerStart)).await;
        let result = self.bind_and_serve(fleet).await;
        let ok = result.is_ok();
        if let Err(e) = &result {
            tracing::warn!(endpoint = %self.endpoint, error = %e, "lab kube-apiserver did not start");
        }
        fleet.record("kube-apiserver.start", self.trace_ip(), started, ok);
        lock(&self.st).api_starting = false;
        if ok {
            let me = self.clone();
            let f = fleet.clone();
            let token = lock(&self.st)
                .api
                .clone()
                .unwrap_or_else(|| fleet.cancel.child_token());
            fleet.spawn_until(token, async move {
                me.after_start(&f).await;
            });
        }
    }

    async fn bind_and_serve(self: &Arc<Self>, fleet: &Arc<Fleet>) -> Result<(), String> {
        let addr = self
            .addr
            .ok_or_else(|| format!("endpoint {} is not a loopback IPv4 address", self.endpoint))?;
        let tls = self.serving_tls(fleet)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        // The nodes might have gone while we waited.
        if !fleet
            .nodes_snapshot()
            .iter()
            .any(|n| n.etcd_serves(&self.endpoint))
        {
            return Err("etcd stopped before the API server came up".into());
        }
        let token = fleet.cancel.child_token();
        {
            let mut st = lock(&self.st);
            st.api = Some(token.clone());
        }
        http::spawn_server(self.clone(), fleet.clone(), listener, tls, token.clone());
        let me = self.clone();
        let f = fleet.clone();
        fleet.spawn_until(token, async move { controllers::run(me, f).await });
        Ok(())
    }

    async fn after_start(self: Arc<Self>, fleet: &Arc<Fleet>) {
        controllers::seed(&self);
        lock(&self.st).api_up.send_replace(true);
        self.poke.notify_one();
        let done = lock(&self.st).manifests_done;
        if !done {
            let started = Instant::now();
            pause(fleet.timing.duration(Step::ManifestsApply)).await;
            let config = lock(&self.st).config.clone();
            let ok = manifests::apply_bootstrap(&self, fleet, &config).await;
            lock(&self.st).manifests_done = true;
            fleet.record("talos.manifests.apply", self.trace_ip(), started, ok);
            self.poke.notify_one();
        }
    }

    /// TLS for the API: serving certificate from the cluster CA, client certificates
    /// verified against it when given (anonymous requests are answered 401).
    fn serving_tls(&self, _fleet: &Arc<Fleet>) -> Result<Arc<rustls::ServerConfig>, String> {
        let config = lock(&self.st).config.clone();
        let ca = k8s_ca(&config)?;
        let mut dns = vec![
            "kubernetes".to_string(),
            "kubernetes.default".into(),
            "kubernetes.default.svc".into(),
            "kubernetes.default.svc.cluster.local".into(),
            "localhost".into(),
            config.endpoint_host.clone(),
            "10.96.0.1".into(),
        ];
        dns.extend(config.apiserver_cert_sans.iter().cloned());
        let mut ips = vec![Ipv4Addr::LOCALHOST];
        if let Some(SocketAddr::V4(a)) = self.addr {
            ips.push(*a.ip());
        }
        let cert = ca.issue(&LeafSpec {
            cn: Some("kube-apiserver"),
            orgs: &[],
            dns: &dns,
            ips: &ips,
            server: true,
            key_encipherment: true,
            ttl: Duration::from_secs(365 * 86_400),
            alg: &rcgen::PKCS_ECDSA_P256_SHA256,
        })?;
        super::pki::server_with_client_ca(&cert, &ca.cert_der, false, false, &[b"h2", b"http/1.1"])
    }

    /// Waits until the API answers or `timeout` passes.
    pub(crate) async fn wait_api(&self, timeout: Duration) -> bool {
        let mut rx = lock(&self.st).api_up.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|up| *up))
            .await
            .map(|r| r.is_ok())
            .unwrap_or(false)
    }
}

/// The Kubernetes CA of a config (`cluster.ca`), research §B.5.
pub(crate) fn k8s_ca(config: &MachineConfig) -> Result<Ca, String> {
    let crt = config
        .k8s_ca_crt
        .as_deref()
        .ok_or("k8s API server CA config is not set")?;
    let key = config
        .k8s_ca_key
        .as_deref()
        .ok_or("k8s API server CA config is not set")?;
    Ca::from_pem(crt, key)
}

/// The admin kubeconfig Talos generates from a control-plane config
/// (siderolabs/talos `pkg/kubeconfig/generate.go` `GenerateAdmin`: CN `admin`,
/// O `system:masters`, one year, cluster/user/context names `<cluster>`, `admin@<cluster>`,
/// namespace `default`). Rendered as clientcmd writes it (keys sorted).
pub(crate) fn admin_kubeconfig(config: &MachineConfig) -> Result<String, String> {
    use base64::Engine as _;
    let ca = k8s_ca(config)?;
    let cert = ca.issue(&LeafSpec {
        cn: Some("admin"),
        orgs: &["system:masters"],
        dns: &[],
        ips: &[],
        server: false,
        key_encipherment: true,
        ttl: Duration::from_secs(365 * 24 * 3600),
        alg: &rcgen::PKCS_ECDSA_P256_SHA256,
    })?;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let name = &config.cluster_name;
    let user = format!("admin@{name}");
    let doc = json!({
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data": b64(&ca.cert_pem), "server": config.endpoint}, "name": name}],
        "contexts": [{"context": {"cluster": name, "namespace": "default", "user": user}, "name": user}],
        "current-context": user,
        "kind": "Config",
        "preferences": {},
        "users": [{"name": user, "user": {"client-certificate-data": b64(&cert.cert_pem), "client-key-data": b64(&cert.key_pem)}}],
    });
    serde_norway::to_string(&doc).map_err(|e| e.to_string())
}

/// `/version` body (apimachinery `pkg/version/types.go` `Info`).
pub(crate) fn version_info(git_version: &str) -> Value {
    let trimmed = git_version.trim_start_matches('v');
    let mut parts = trimmed.split('.');
    let major = parts.next().unwrap_or("1").to_string();
    let minor = parts.next().unwrap_or("0").to_string();
    let min_minor = minor
        .parse::<u32>()
        .map(|m| m.saturating_sub(1).to_string())
        .unwrap_or_else(|_| minor.clone());
    json!({
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": min_minor,
        "gitVersion": git_version,
        // The lab has no build of its own; a zero commit marks it.
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.26.0",
        "compiler": "gc",
        "platform": "linux/arm64",
    })
}
