//! The lab's emulated Talos nodes and Kubernetes control plane (issue 5).
//!
//! A [`TalosFleet`] runs emulated Talos machines on loopback addresses. Each node serves apid
//! on `:50000` (gRPC over TLS): in maintenance mode when it booted without a machine
//! configuration (TLS without client certificates, most calls refused), and with mutual TLS
//! against the configuration's OS CA once configured. A control-plane node that is
//! bootstrapped starts etcd and then a kube-apiserver on the cluster's control-plane endpoint
//! (`:6443`, TLS from the configuration's Kubernetes CA), which applies the configuration's
//! inline and extra manifests; nodes stay NotReady until a CNI (Cilium, flannel) is applied.
//! Every step takes a duration from one latency table ([`timing`]), and every operation is
//! traced and can be made to fail ([`fault`]).
//!
//! Behaviour follows the real systems, cited per item: `shared/research/talos_proxmox.md`
//! (§B Talos API and machine config, §E Cilium and Flux, §F durations) and the upstream
//! sources named in each module. The wire protocol is a subset of siderolabs/talos
//! `api/{common,machine,storage}` (protos under `proto/talos/`).
//!
//! This module imports nothing from the rest of freetier (issue 5, STYLE.md "Shape of the
//! code"): its wire strings are its own. It binds loopback addresses only and never connects
//! outside 127.0.0.0/8.

pub mod fixtures;
pub mod proto;

mod apid;
mod config;
mod etcd;
mod fault;
mod kube;
mod node;
mod pki;
mod timing;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use fault::{Fault, FaultKind, FaultWhen};
pub use node::NodePhase;
pub use timing::{rows as timing_rows, TalosTiming, TraceEntry, TCG_SLOWDOWN};

use config::MachineConfig;
use kube::Cluster;
use node::Node;

/// apid's port (`pkg/machinery/constants/constants.go` `ApidPort`).
pub const APID_PORT: u16 = 50000;

/// The next connection on `listener`.
pub(crate) async fn accept(listener: &tokio::net::TcpListener) -> tokio::net::TcpStream {
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => return tcp,
            // Out of descriptors or similar: back off instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Locks a mutex; a panic elsewhere never poisons the lab for good.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Which Talos release line the nodes behave like. The two differ in maintenance mode:
/// Talos ≤ 1.12 ran a separate maintenance service (most RPCs `Unimplemented`, `Version`
/// refused), Talos ≥ 1.13 serves the regular API with a read-only role (commit b7d70cf62
/// "feat: unify maintenance and regular APIs").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TalosRelease {
    /// Talos v1.12.11 behaviour.
    V1_12,
    /// Talos v1.13.9 behaviour (current stable line; the default).
    #[default]
    V1_13,
}

impl TalosRelease {
    /// The version tag nodes report.
    pub fn tag(self) -> &'static str {
        match self {
            TalosRelease::V1_12 => "v1.12.11",
            TalosRelease::V1_13 => "v1.13.9",
        }
    }

    /// The Go toolchain the release was built with, as `runtime.Version()` prints it
    /// (siderolabs/talos `hack/release.toml` at the tag: "Talos is built with Go 1.25.12." /
    /// "Talos is built with Go 1.26.6.").
    pub(crate) fn go_version(self) -> &'static str {
        match self {
            TalosRelease::V1_12 => "go1.25.12",
            TalosRelease::V1_13 => "go1.26.6",
        }
    }

    /// `uname -r` of the release's kernel (`hack/release.toml` at the tag: "Linux: 6.18.42" /
    /// "Linux: 6.18.44"; Talos kernels carry the `-talos` local version).
    pub(crate) fn kernel_version(self) -> String {
        match self {
            TalosRelease::V1_12 => "6.18.42-talos".into(),
            TalosRelease::V1_13 => "6.18.44-talos".into(),
        }
    }

    /// The CRI's `containerRuntimeVersion` (`pkg/machinery/constants/constants.go`
    /// `DefaultContainerdVersion` at the tag: 2.2.5 / 2.2.7).
    pub(crate) fn containerd_version(self) -> String {
        match self {
            TalosRelease::V1_12 => "containerd://2.2.5".into(),
            TalosRelease::V1_13 => "containerd://2.2.7".into(),
        }
    }

    /// CoreDNS image tag Talos deploys (`constants.go` `DefaultCoreDNSVersion` at the tag).
    pub(crate) fn coredns_version(self) -> &'static str {
        match self {
            TalosRelease::V1_12 => "v1.14.2",
            TalosRelease::V1_13 => "v1.14.6",
        }
    }
}

/// Errors of the fleet's own API (not of the emulated wire APIs).
#[derive(Debug, thiserror::Error)]
pub enum TalosError {
    /// The address is outside 127.0.0.0/8.
    #[error("address {0} is not in 127.0.0.0/8")]
    NotLoopback(Ipv4Addr),
    /// Another running node already uses the address.
    #[error("a node already runs at {0}")]
    AddressInUse(Ipv4Addr),
    /// No node has this address.
    #[error("no node at {0}")]
    NoSuchNode(Ipv4Addr),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The machine configuration in user-data was refused.
    #[error("machine config refused: {0}")]
    Config(String),
    /// The fleet was stopped.
    #[error("the fleet is stopped")]
    Stopped,
    /// A wait ran out of time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
}

/// What a VM hands to Talos at boot (NoCloud `cidata`, research §B.6).
#[derive(Debug, Clone)]
pub struct NodeBoot {
    /// The VM's loopback address in the lab.
    pub address: Ipv4Addr,
    /// `meta-data` `local-hostname`.
    pub hostname: String,
    /// `user-data`: a Talos machine config (YAML), or empty / `#cloud-config` for maintenance mode.
    pub user_data: String,
    /// `network-config` (v1 or v2).
    pub network_config: String,
}

impl NodeBoot {
    /// Builds the boot input from the files of a NoCloud `cidata` volume: the hostname is
    /// `meta-data`'s `local-hostname` (research §B.6).
    pub fn from_nocloud(
        address: Ipv4Addr,
        user_data: &str,
        meta_data: &str,
        network_config: &str,
    ) -> NodeBoot {
        let hostname = config::yaml_documents(meta_data)
            .ok()
            .and_then(|docs| docs.into_iter().next())
            .and_then(|d| {
                d.get("local-hostname")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_default();
        NodeBoot {
            address,
            hostname,
            user_data: user_data.to_string(),
            network_config: network_config.to_string(),
        }
    }
}

/// Runs code on the fleet's tracked tasks so `stop_all` leaves nothing behind.
#[derive(Clone)]
pub(crate) struct TrackedExec {
    pub tracker: TaskTracker,
    pub token: CancellationToken,
}

impl<F> hyper::rt::Executor<F> for TrackedExec
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        let token = self.token.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                _ = token.cancelled() => {}
                _ = fut => {}
            }
        });
    }
}

/// Shared state of a fleet.
pub(crate) struct Fleet {
    pub timing: TalosTiming,
    pub release: TalosRelease,
    pub epoch: Instant,
    pub cancel: CancellationToken,
    pub tracker: TaskTracker,
    pub nodes: Mutex<BTreeMap<Ipv4Addr, Arc<Node>>>,
    pub clusters: Mutex<BTreeMap<String, Arc<Cluster>>>,
    pub trace: Mutex<Vec<TraceEntry>>,
    pub faults: fault::Faults,
    /// OS CA keys seen in control-plane configs, by CA certificate: what trustd gives
    /// workers (their apid certificate is signed by the OS CA, research §B.3).
    pub os_ca_keys: Mutex<BTreeMap<String, String>>,
}

impl Fleet {
    /// Remembers the OS CA key of a control-plane config.
    pub(crate) fn learn_ca(&self, config: &MachineConfig) {
        if let Some(k) = &config.os_ca_key {
            lock(&self.os_ca_keys).insert(config.os_ca_crt.clone(), k.clone());
        }
    }

    /// The OS CA key for a CA certificate, if a control plane has shown it.
    pub(crate) fn os_ca_key(&self, crt: &str) -> Option<String> {
        lock(&self.os_ca_keys).get(crt).cloned()
    }

    /// Spawns `fut` as a tracked task that ends when `token` is cancelled.
    pub(crate) fn spawn_until<F>(&self, token: CancellationToken, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.cancel.is_cancelled() {
            return;
        }
        self.tracker.spawn(async move {
            tokio::select! {
                _ = token.cancelled() => {}
                _ = fut => {}
            }
        });
    }

    /// Records one operation in the trace.
    pub(crate) fn record(&self, op: &str, address: Ipv4Addr, started: Instant, ok: bool) {
        let entry = TraceEntry {
            op: op.to_string(),
            address,
            start: started.saturating_duration_since(self.epoch),
            end: Instant::now().saturating_duration_since(self.epoch),
            ok,
        };
        lock(&self.trace).push(entry);
    }

    pub(crate) fn nodes_snapshot(&self) -> Vec<Arc<Node>> {
        lock(&self.nodes).values().cloned().collect()
    }

    /// The node now answering at `address` (or booted there).
    pub(crate) fn node_at(&self, address: Ipv4Addr) -> Option<Arc<Node>> {
        let nodes = lock(&self.nodes);
        nodes
            .get(&address)
            .cloned()
            .or_else(|| nodes.values().find(|n| n.boot_address == address).cloned())
    }

    /// Re-keys a node whose configuration moved it to another address.
    pub(crate) fn moved(&self, from: Ipv4Addr, to: Ipv4Addr) {
        let mut nodes = lock(&self.nodes);
        if let Some(n) = nodes.remove(&from) {
            nodes.insert(to, n);
        }
    }

    /// The cluster of a control-plane configuration, created on first sight.
    pub(crate) fn cluster_for(self: &Arc<Self>, config: &Arc<MachineConfig>) -> Arc<Cluster> {
        let mut clusters = lock(&self.clusters);
        clusters
            .entry(config.endpoint.clone())
            .or_insert_with(|| Cluster::new(self, config.clone()))
            .clone()
    }

    pub(crate) fn cluster(&self, endpoint: &str) -> Option<Arc<Cluster>> {
        lock(&self.clusters).get(endpoint).cloned()
    }
}

/// Emulated Talos machines and their Kubernetes clusters, on loopback.
pub struct TalosFleet {
    inner: Arc<Fleet>,
}

impl std::fmt::Debug for TalosFleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TalosFleet")
            .field("timing", &self.inner.timing)
            .field("release", &self.inner.release)
            .finish()
    }
}

/// A booted node.
#[derive(Clone)]
pub struct NodeHandle {
    fleet: Arc<Fleet>,
    node: Arc<Node>,
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle")
            .field("address", &self.address())
            .finish()
    }
}

impl NodeHandle {
    /// Where the node's apid listens (the config's static loopback address, if any).
    pub fn address(&self) -> Ipv4Addr {
        self.node.address()
    }

    /// apid's socket address.
    pub fn apid_addr(&self) -> SocketAddr {
        SocketAddr::from((self.address(), APID_PORT))
    }

    /// The node's hostname.
    pub fn hostname(&self) -> String {
        self.node.hostname()
    }

    /// The current phase.
    pub fn phase(&self) -> NodePhase {
        self.node.phase()
    }

    /// Waits until the node's phase satisfies `pred`, at most `timeout`.
    pub async fn wait_phase(
        &self,
        timeout: Duration,
        pred: impl Fn(&NodePhase) -> bool,
    ) -> Result<NodePhase, TalosError> {
        self.node
            .wait_phase(timeout, pred)
            .await
            .ok_or_else(|| TalosError::Timeout(format!("node {} phase", self.address())))
    }

    /// Waits until apid answers (maintenance or configured), at most `timeout`.
    pub async fn wait_apid(&self, timeout: Duration) -> Result<NodePhase, TalosError> {
        self.wait_phase(timeout, |p| {
            matches!(p, NodePhase::Maintenance | NodePhase::Running)
        })
        .await
    }

    /// Waits until the cluster this node belongs to answers on its Kubernetes endpoint.
    pub async fn wait_kube_api(&self, timeout: Duration) -> Result<(), TalosError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(endpoint) = self.node.endpoint() {
                if let Some(c) = self.fleet.cluster(&endpoint) {
                    if c.wait_api(deadline.saturating_duration_since(Instant::now()))
                        .await
                    {
                        return Ok(());
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(TalosError::Timeout(format!(
                    "Kubernetes API of {}",
                    self.address()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl TalosFleet {
    /// A fleet behaving like the default release ([`TalosRelease::V1_13`]).
    pub fn new(timing: TalosTiming) -> Self {
        Self::with_release(timing, TalosRelease::default())
    }

    /// A fleet behaving like `release`.
    pub fn with_release(timing: TalosTiming, release: TalosRelease) -> Self {
        Self {
            inner: Arc::new(Fleet {
                timing,
                release,
                epoch: Instant::now(),
                cancel: CancellationToken::new(),
                tracker: TaskTracker::new(),
                nodes: Mutex::new(BTreeMap::new()),
                clusters: Mutex::new(BTreeMap::new()),
                trace: Mutex::new(Vec::new()),
                faults: fault::Faults::default(),
                os_ca_keys: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// Powers on a node. It boots in the background (boot latency, ×5 without KVM) and then
    /// serves apid: in maintenance mode when `user_data` holds no machine config, configured
    /// otherwise. A config refused by validation leaves the node in maintenance mode, as Talos
    /// does when it cannot use the platform's config.
    pub async fn boot(&self, boot: NodeBoot) -> Result<NodeHandle, TalosError> {
        let tcg = self.inner.timing.tcg;
        self.boot_vm(boot, tcg).await
    }

    /// Like [`TalosFleet::boot`], for a VM whose own KVM/TCG setting differs from the
    /// fleet's (a Proxmox VM with `kvm: 0` boots about 5× slower, research §0.2 item 1).
    pub async fn boot_vm(&self, boot: NodeBoot, tcg: bool) -> Result<NodeHandle, TalosError> {
        let fleet = &self.inner;
        if fleet.cancel.is_cancelled() {
            return Err(TalosError::Stopped);
        }
        if !boot.address.is_loopback() {
            return Err(TalosError::NotLoopback(boot.address));
        }
        let config = if config::user_data_is_config(&boot.user_data) {
            match MachineConfig::parse(&boot.user_data) {
                Ok(c) => Some(Arc::new(c)),
                Err(e) => {
                    tracing::warn!(address = %boot.address, error = e.message(), "lab node ignores its user-data config");
                    None
                }
            }
        } else {
            None
        };
        let address = config
            .as_ref()
            .and_then(|c| c.loopback_address())
            .or_else(|| {
                config::network_config_addresses(&boot.network_config)
                    .into_iter()
                    .find(Ipv4Addr::is_loopback)
            })
            .unwrap_or(boot.address);
        {
            let nodes = lock(&fleet.nodes);
            let busy = nodes.iter().any(|(a, n)| {
                (*a == address || n.boot_address == boot.address) && n.phase() != NodePhase::Halted
            });
            if busy {
                return Err(TalosError::AddressInUse(address));
            }
        }
        // Fail early when the port is taken by something else.
        let probe = SocketAddr::from((address, APID_PORT));
        match std::net::TcpListener::bind(probe) {
            Ok(l) => drop(l),
            Err(source) => {
                return Err(TalosError::Bind {
                    addr: probe,
                    source,
                })
            }
        }
        if let Some(c) = &config {
            fleet.learn_ca(c);
        }
        let node = Node::new(
            fleet,
            boot.address,
            address,
            boot.hostname.clone(),
            config,
            tcg,
        );
        {
            let mut nodes = lock(&fleet.nodes);
            nodes.retain(|a, n| !(*a == address || n.boot_address == boot.address));
            nodes.insert(address, node.clone());
        }
        node.power_on(fleet);
        Ok(NodeHandle {
            fleet: fleet.clone(),
            node,
        })
    }

    /// A handle to the node at `address`.
    pub fn node(&self, address: Ipv4Addr) -> Option<NodeHandle> {
        self.inner.node_at(address).map(|node| NodeHandle {
            fleet: self.inner.clone(),
            node,
        })
    }

    /// The node at `address`, or [`TalosError::NoSuchNode`].
    fn known_node(&self, address: Ipv4Addr) -> Result<Arc<Node>, TalosError> {
        self.inner
            .node_at(address)
            .ok_or(TalosError::NoSuchNode(address))
    }

    /// Powers a node off (like a VM stop): its sockets close at once.
    pub fn halt(&self, address: Ipv4Addr) -> Result<(), TalosError> {
        self.known_node(address)?.halt(&self.inner);
        Ok(())
    }

    /// Reboots a node (apid goes away for the reboot time).
    pub fn reboot(&self, address: Ipv4Addr) -> Result<(), TalosError> {
        self.known_node(address)?.reboot(&self.inner);
        Ok(())
    }

    /// Stops every node, API server and connection, and waits until no task or socket is left.
    pub async fn stop_all(&self) {
        self.inner.cancel.cancel();
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
        for n in self.inner.nodes_snapshot() {
            n.mark_halted();
        }
    }

    /// Every operation so far, in completion order.
    pub fn trace(&self) -> Vec<TraceEntry> {
        lock(&self.inner.trace).clone()
    }

    /// Adds a fault rule for an operation. Operation names: the gRPC methods
    /// (`machine.MachineService/Version`, `/ApplyConfiguration`, `/Bootstrap`, `/Kubeconfig`,
    /// `/ServiceList`, `/Hostname`, `/Reboot`, `/EtcdMemberList`, `/EtcdLeaveCluster`,
    /// `/EtcdRemoveMemberByID`,
    /// `storage.StorageService/Disks`), node steps (`node.boot`: apid never comes up; `node.services`: CRI never gets healthy, so
    /// Bootstrap stays unavailable; `node.timesync`: time never syncs this boot, so
    /// Bootstrap answers "time is not in sync yet"), and Kubernetes requests (`kube.get`, `kube.list`, `kube.create`,
    /// `kube.update`, `kube.patch`, `kube.apply`, `kube.delete`, `kube.deletecollection`,
    /// `kube.discovery`).
    pub fn set_fault(&self, op: &str, fault: Fault) {
        self.inner.faults.set(op, fault);
    }

    /// Removes the fault rules of one operation.
    pub fn clear_fault(&self, op: &str) {
        self.inner.faults.clear(op);
    }

    /// Removes every fault rule and call counter.
    pub fn clear_faults(&self) {
        self.inner.faults.clear_all();
    }

    /// Whether the Kubernetes API of a control-plane endpoint URL is running.
    pub fn kube_api_running(&self, endpoint: &str) -> bool {
        self.inner
            .cluster(endpoint)
            .is_some_and(|c| c.api_running())
    }
}

impl Drop for TalosFleet {
    fn drop(&mut self) {
        // Tasks end on their own once cancelled; `stop_all` also waits for them.
        self.inner.cancel.cancel();
    }
}
