//! One emulated Talos machine: its power cycle (boot, install-and-reboot after a
//! maintenance-mode apply, reboot, halt), its configuration and its services (etcd and the
//! kubelet as far as the cluster sees them).
//!
//! Facts: research §B.6 (config from NoCloud user-data; empty or `#cloud-config` data means
//! maintenance mode), §B.7 (apply in maintenance mode installs and reboots; a control plane
//! waits for Bootstrap), §B.2/§B.3 (bootstrap preconditions, apid TLS per mode).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::config::{MachineConfig, MachineType};
use super::kube::controllers::Kubelet;
use super::pki::{self, Ca, LeafSpec};
use super::timing::{pause, Step};
use super::{lock, Fleet, TalosRelease, APID_PORT};

/// Where a node is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodePhase {
    /// Powered on, apid not up yet.
    Booting,
    /// apid up without a configuration (maintenance mode).
    Maintenance,
    /// Installing the configuration applied in maintenance mode, then rebooting.
    Installing,
    /// Rebooting; apid down.
    Rebooting,
    /// Configured and running (control planes wait for Bootstrap here).
    Running,
    /// Powered off.
    Halted,
    /// apid could not start (the text says why).
    Failed(String),
}

/// Mutable node state.
pub(crate) struct NodeState {
    pub address: Ipv4Addr,
    pub hostname: String,
    pub config: Option<Arc<MachineConfig>>,
    /// A STAGED configuration, used at the next boot.
    pub staged: Option<Arc<MachineConfig>>,
    /// The current power cycle; cancelled on reboot.
    pub power: CancellationToken,
    /// containerd/CRI healthy: bootstrap allowed (`IsBootstrapAllowed`).
    pub services_up: bool,
    /// Time sync finished this boot (`TimeStatus.Synced`; a `node.timesync` fault keeps it
    /// from ever finishing).
    pub time_synced: bool,
    /// etcd has data on this node (bootstrapped or joined).
    pub etcd_data: bool,
    pub etcd_running: bool,
    /// This node's etcd member ID, from its first etcd start on (etcd keeps it in its data
    /// directory, so reboots keep it too).
    pub etcd_member_id: Option<u64>,
    /// Another member removed this one (`EtcdRemoveMemberByID`): its etcd stops, and does not
    /// start again from the data it holds (etcd exits: "the member has been permanently
    /// removed from the cluster", `etcd-io/etcd` `server/etcdserver/server.go`).
    pub etcd_removed: bool,
    /// The kubelet runs since then.
    pub kubelet_since: Option<Instant>,
    /// TLS of the current apid.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Running as maintenance-mode apid.
    pub maintenance: bool,
    /// An apply with reboot is under way (Talos ≥ 1.13 refuses further applies).
    pub apply_rebooting: bool,
    pub boot_id: u64,
}

/// One emulated machine.
pub(crate) struct Node {
    pub boot_address: Ipv4Addr,
    pub release: TalosRelease,
    /// This VM runs without KVM (overrides the fleet's setting for its own steps).
    pub tcg: bool,
    /// Halted when cancelled.
    pub life: CancellationToken,
    pub st: Mutex<NodeState>,
    phase_tx: watch::Sender<NodePhase>,
}

impl Node {
    pub(crate) fn new(
        fleet: &Arc<Fleet>,
        boot_address: Ipv4Addr,
        address: Ipv4Addr,
        hostname: String,
        config: Option<Arc<MachineConfig>>,
        tcg: bool,
    ) -> Arc<Node> {
        let life = fleet.cancel.child_token();
        Arc::new(Node {
            boot_address,
            release: fleet.release,
            tcg,
            st: Mutex::new(NodeState {
                address,
                hostname: if hostname.is_empty() {
                    default_hostname(address)
                } else {
                    hostname
                },
                config,
                staged: None,
                power: life.child_token(),
                services_up: false,
                time_synced: false,
                etcd_data: false,
                etcd_running: false,
                etcd_member_id: None,
                etcd_removed: false,
                kubelet_since: None,
                tls: None,
                maintenance: true,
                apply_rebooting: false,
                boot_id: 0,
            }),
            life,
            phase_tx: watch::channel(NodePhase::Booting).0,
        })
    }

    pub(crate) fn address(&self) -> Ipv4Addr {
        lock(&self.st).address
    }

    /// A step's duration on this VM (its own KVM/TCG setting).
    fn duration(&self, fleet: &Fleet, step: Step) -> Duration {
        super::TalosTiming {
            tcg: self.tcg,
            ..fleet.timing
        }
        .duration(step)
    }

    /// The hostname the node reports: from the config, else the NoCloud meta-data one.
    pub(crate) fn hostname(&self) -> String {
        let st = lock(&self.st);
        st.config
            .as_ref()
            .and_then(|c| c.hostname.clone())
            .unwrap_or_else(|| st.hostname.clone())
    }

    pub(crate) fn phase(&self) -> NodePhase {
        self.phase_tx.borrow().clone()
    }

    fn set_phase(&self, p: NodePhase) {
        self.phase_tx.send_replace(p);
    }

    pub(crate) fn mark_halted(&self) {
        self.set_phase(NodePhase::Halted);
    }

    pub(crate) fn config(&self) -> Option<Arc<MachineConfig>> {
        lock(&self.st).config.clone()
    }

    pub(crate) fn endpoint(&self) -> Option<String> {
        self.config().map(|c| c.endpoint.clone())
    }

    pub(crate) async fn wait_phase(
        &self,
        timeout: Duration,
        pred: impl Fn(&NodePhase) -> bool,
    ) -> Option<NodePhase> {
        let mut rx = self.phase_tx.subscribe();
        let r = tokio::time::timeout(timeout, rx.wait_for(|p| pred(p))).await;
        match r {
            Ok(Ok(p)) => Some(p.clone()),
            _ => None,
        }
    }

    /// Whether etcd runs here for the cluster at `endpoint`.
    pub(crate) fn etcd_serves(&self, endpoint: &str) -> bool {
        let st = lock(&self.st);
        st.etcd_running
            && st.config.as_ref().is_some_and(|c| c.endpoint == endpoint)
            && self.phase() == NodePhase::Running
    }

    /// This node as a member of the etcd cluster at `endpoint`: its member ID, name (the
    /// hostname, etcd's `--name` in Talos' `services/etcd.go`) and address, once its etcd has
    /// started. A member stays one while its etcd is down (halted, rebooting): etcd keeps it
    /// until it is removed.
    pub(crate) fn etcd_member(&self, endpoint: &str) -> Option<(u64, String, Ipv4Addr)> {
        let st = lock(&self.st);
        let config = st
            .config
            .as_ref()
            .filter(|c| c.endpoint == endpoint && c.machine_type == MachineType::ControlPlane)?;
        let id = st.etcd_member_id.filter(|_| !st.etcd_removed)?;
        let name = config
            .hostname
            .clone()
            .unwrap_or_else(|| st.hostname.clone());
        Some((id, name, st.address))
    }

    /// The kubelet of this node, if it belongs to the cluster at `endpoint`.
    pub(crate) fn kubelet(&self, endpoint: &str, k8s_version: &str) -> Option<Kubelet> {
        let st = lock(&self.st);
        let config = st.config.as_ref().filter(|c| c.endpoint == endpoint)?;
        let cp = config.machine_type == MachineType::ControlPlane;
        Some(Kubelet {
            hostname: config
                .hostname
                .clone()
                .unwrap_or_else(|| st.hostname.clone()),
            address: st.address,
            control_plane: cp,
            labels: config
                .node_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            taint_control_plane: cp && !config.allow_scheduling_on_cp,
            since: if self.phase() == NodePhase::Running {
                st.kubelet_since
            } else {
                None
            },
            kubelet_version: config
                .kubelet_version
                .clone()
                .unwrap_or_else(|| k8s_version.to_string()),
            os_image: format!("Talos ({})", self.release.tag()),
            kernel_version: self.release.kernel_version(),
            container_runtime: self.release.containerd_version(),
            coredns_version: self.release.coredns_version(),
            machine_id: stable_hex(&format!("machine-id {}", self.boot_address)),
            system_uuid: uuid_form(&stable_hex(&format!("smbios {}", self.boot_address))),
            boot_id: uuid_form(&stable_hex(&format!(
                "boot {} {}",
                self.boot_address, st.boot_id
            ))),
        })
    }

    /// Starts the first power cycle.
    pub(crate) fn power_on(self: &Arc<Self>, fleet: &Arc<Fleet>) {
        self.cycle(fleet, Step::Boot, NodePhase::Booting, "node.boot");
    }

    /// A power cycle: wait `step`, then come up.
    fn cycle(self: &Arc<Self>, fleet: &Arc<Fleet>, step: Step, phase: NodePhase, op: &'static str) {
        let power = {
            let mut st = lock(&self.st);
            st.power.cancel();
            st.power = self.life.child_token();
            st.services_up = false;
            st.time_synced = false;
            st.etcd_running = false;
            st.kubelet_since = None;
            st.boot_id = st.boot_id.wrapping_add(1);
            st.power.clone()
        };
        self.set_phase(phase);
        self.refresh_cluster(fleet);
        let me = self.clone();
        let f = fleet.clone();
        let started = Instant::now();
        let address = self.address();
        let check_fault = op == "node.boot";
        fleet.spawn_until(power.clone(), async move {
            if check_fault {
                if let Some(kind) = f.faults.check(op, address) {
                    if !matches!(kind, super::fault::FaultKind::Reboot) {
                        // A boot that fails or hangs never brings apid up.
                        f.record(op, address, started, false);
                        me.set_phase(NodePhase::Failed(format!("boot fault: {kind:?}")));
                        return;
                    }
                }
            }
            pause(me.duration(&f, step)).await;
            let ok = me.come_up(&f, power).await;
            f.record(op, me.address(), started, ok);
        });
    }

    /// End of boot: choose the configuration, start apid and, when configured, the services.
    async fn come_up(self: &Arc<Self>, fleet: &Arc<Fleet>, power: CancellationToken) -> bool {
        let (config, old_address) = {
            let mut st = lock(&self.st);
            if let Some(staged) = st.staged.take() {
                st.config = Some(staged);
            }
            st.apply_rebooting = false;
            (st.config.clone(), st.address)
        };
        let address = config
            .as_ref()
            .and_then(|c| c.loopback_address())
            .unwrap_or(old_address);
        if address != old_address {
            lock(&self.st).address = address;
            fleet.moved(old_address, address);
        }
        let tls = match &config {
            None => pki::self_signed_server(address, &self.hostname())
                .and_then(|c| pki::server_no_client_auth(&c, &[b"h2"])),
            Some(c) => {
                fleet.learn_ca(c);
                let key = c
                    .os_ca_key
                    .clone()
                    .or_else(|| fleet.os_ca_key(&c.os_ca_crt));
                configured_tls(c, key.as_deref(), address, &self.hostname())
            }
        };
        let tls = match tls {
            Ok(t) => t,
            Err(e) => {
                self.set_phase(NodePhase::Failed(format!("apid TLS: {e}")));
                return false;
            }
        };
        let addr = SocketAddr::from((address, APID_PORT));
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                self.set_phase(NodePhase::Failed(format!("cannot listen on {addr}: {e}")));
                return false;
            }
        };
        {
            let mut st = lock(&self.st);
            st.tls = Some(tls);
            st.maintenance = config.is_none();
        }
        super::apid::spawn_listener(self.clone(), fleet.clone(), listener, power.clone());
        match config {
            None => self.set_phase(NodePhase::Maintenance),
            Some(c) => {
                self.set_phase(NodePhase::Running);
                if c.machine_type == MachineType::ControlPlane && c.k8s_ca_key.is_some() {
                    fleet.cluster_for(&c);
                }
                let me = self.clone();
                let f = fleet.clone();
                fleet.spawn_until(power, async move { me.services(&f, c).await });
            }
        }
        true
    }

    /// Boot services of a configured node: CRI, kubelet, and etcd when it has data or the
    /// cluster already runs (a control plane joining).
    async fn services(self: Arc<Self>, fleet: &Arc<Fleet>, config: Arc<MachineConfig>) {
        // Talos syncs time (timed) early in boot; a fault here leaves it unsynced for the
        // whole boot, as a node without NTP reachability stays.
        if fleet
            .faults
            .check("node.timesync", self.address())
            .is_some()
        {
            fleet.record("node.timesync", self.address(), Instant::now(), false);
        } else {
            lock(&self.st).time_synced = true;
        }
        if let Some(kind) = fleet.faults.check("node.services", self.address()) {
            // Services that fail or hang keep the node from ever allowing Bootstrap.
            fleet.record("node.services", self.address(), Instant::now(), false);
            if kind == super::fault::FaultKind::Reboot {
                self.reboot(fleet);
            }
            return;
        }
        pause(self.duration(fleet, Step::ServicesStart)).await;
        {
            let mut st = lock(&self.st);
            st.services_up = true;
            st.kubelet_since = Some(Instant::now());
        }
        self.refresh_cluster(fleet);
        if config.machine_type != MachineType::ControlPlane {
            return;
        }
        // A control plane without etcd data waits until a member serves, then joins it:
        // Talos's etcd service retries its join for as long as the node runs
        // (https://github.com/siderolabs/talos/blob/main/internal/app/machined/pkg/system/services/etcd.go,
        // `argsForControlPlane` / `addMember`). Bootstrap, meanwhile, starts etcd on its own.
        let (data, removed) = {
            let st = lock(&self.st);
            (st.etcd_data, st.etcd_removed)
        };
        if data {
            // Data from before this boot: etcd comes back with it, unless the cluster removed
            // this member meanwhile.
            if !removed {
                self.start_etcd(fleet).await;
            }
            return;
        }
        loop {
            if lock(&self.st).etcd_data {
                // Bootstrap arrived meanwhile and starts etcd itself.
                return;
            }
            let cluster_running = fleet
                .nodes_snapshot()
                .iter()
                .any(|n| !Arc::ptr_eq(n, &self) && n.etcd_serves(&config.endpoint));
            if cluster_running {
                self.start_etcd(fleet).await;
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    async fn start_etcd(self: &Arc<Self>, fleet: &Arc<Fleet>) {
        let started = Instant::now();
        pause(self.duration(fleet, Step::EtcdStart)).await;
        {
            let mut st = lock(&self.st);
            st.etcd_data = true;
            st.etcd_running = true;
            if st.etcd_member_id.is_none() {
                let endpoint = st.config.as_ref().map(|c| c.endpoint.clone());
                st.etcd_member_id = Some(member_id(
                    endpoint.as_deref().unwrap_or_default(),
                    st.address,
                ));
            }
        }
        fleet.record("etcd.start", self.address(), started, true);
        self.refresh_cluster(fleet);
    }

    /// Tells this node's cluster (if any) to look again.
    pub(crate) fn refresh_cluster(&self, fleet: &Arc<Fleet>) {
        if let Some(ep) = self.endpoint() {
            if let Some(c) = fleet.cluster(&ep) {
                c.refresh();
            }
        }
    }

    /// Bootstrap's effect once accepted: etcd data exists; etcd starts in the background.
    pub(crate) fn begin_bootstrap(self: &Arc<Self>, fleet: &Arc<Fleet>) {
        let power = {
            let mut st = lock(&self.st);
            st.etcd_data = true;
            st.power.clone()
        };
        if let Some(c) = self.config() {
            fleet.cluster_for(&c);
        }
        let me = self.clone();
        let f = fleet.clone();
        fleet.spawn_until(power, async move { me.start_etcd(&f).await });
    }

    /// `EtcdLeaveCluster` done (`internal/pkg/etcd/etcd.go` `LeaveCluster`): the member is out
    /// of the cluster, the etcd service stopped and its data directory emptied. etcd stays
    /// down until the next boot, which joins the cluster again as a new member.
    pub(crate) fn leave_etcd(&self, fleet: &Arc<Fleet>) {
        {
            let mut st = lock(&self.st);
            st.etcd_running = false;
            st.etcd_data = false;
            st.etcd_member_id = None;
            st.etcd_removed = false;
        }
        self.refresh_cluster(fleet);
    }

    /// Another member removed this one (`EtcdRemoveMemberByID`): a running etcd here stops.
    pub(crate) fn removed_from_etcd(&self, fleet: &Arc<Fleet>) {
        {
            let mut st = lock(&self.st);
            st.etcd_removed = true;
            st.etcd_running = false;
        }
        self.refresh_cluster(fleet);
    }

    /// This node's etcd member ID, while it is a member.
    pub(crate) fn etcd_member_id(&self) -> Option<u64> {
        let st = lock(&self.st);
        st.etcd_member_id.filter(|_| !st.etcd_removed)
    }

    /// Installs a configuration applied in maintenance mode and reboots into it.
    pub(crate) fn install(self: &Arc<Self>, fleet: &Arc<Fleet>, config: Arc<MachineConfig>) {
        {
            let mut st = lock(&self.st);
            st.config = Some(config);
            st.apply_rebooting = true;
        }
        self.cycle(
            fleet,
            Step::InstallReboot,
            NodePhase::Installing,
            "node.install",
        );
    }

    /// Reboots (graceful: calls in flight finish, then apid goes away).
    pub(crate) fn reboot(self: &Arc<Self>, fleet: &Arc<Fleet>) {
        if matches!(self.phase(), NodePhase::Halted | NodePhase::Failed(_)) {
            return;
        }
        self.cycle(fleet, Step::Reboot, NodePhase::Rebooting, "node.reboot");
    }

    /// Powers off at once.
    pub(crate) fn halt(self: &Arc<Self>, fleet: &Arc<Fleet>) {
        {
            let mut st = lock(&self.st);
            st.power.cancel();
            st.services_up = false;
            st.etcd_running = false;
            st.kubelet_since = None;
        }
        self.life.cancel();
        self.set_phase(NodePhase::Halted);
        self.refresh_cluster(fleet);
        if let Some(ep) = self.endpoint() {
            if let Some(c) = fleet.cluster(&ep) {
                c.poke.notify_one();
            }
        }
    }
}

/// 32 lowercase hex digits derived from `seed` (FNV-1a, twice): stable per node, as the
/// `/etc/machine-id` and SMBIOS UUID of one VM are.
fn stable_hex(seed: &str) -> String {
    let fnv = |salt: u8| {
        seed.bytes()
            .chain(std::iter::once(salt))
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
    };
    format!("{:016x}{:016x}", fnv(1), fnv(2))
}

/// A member ID for the etcd member at `address` of the cluster at `endpoint`. etcd derives
/// it from the peer URLs, the cluster token and the time of the first start
/// (`etcd-io/etcd` `server/etcdserver/api/membership/member.go` `computeMemberID`, SHA-1
/// truncated to 64 bits); the lab hashes the stable parts only, so the same member keeps the
/// same ID across lab runs. Never 0, which etcd reserves for "no member".
fn member_id(endpoint: &str, address: Ipv4Addr) -> u64 {
    let seed = format!("etcd member {endpoint} https://{address}:2380");
    let id = seed.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    id.max(1)
}

/// `8-4-4-4-12` grouping of 32 hex digits (`/proc/sys/kernel/random/boot_id`, SMBIOS UUID as
/// the kubelet reads them, lowercase).
fn uuid_form(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Talos' stable default hostname when none is configured (`talos-xxx-yyy` style).
fn default_hostname(address: Ipv4Addr) -> String {
    let o = address.octets();
    format!("talos-{:x}{:x}-{:x}{:x}", o[0], o[1], o[2], o[3])
}

/// mTLS for a configured node: serving certificate from the OS CA (`machine.ca`), client
/// certificates required and verified against it, EKU exactly ClientAuth.
fn configured_tls(
    config: &MachineConfig,
    key: Option<&str>,
    address: Ipv4Addr,
    hostname: &str,
) -> Result<Arc<rustls::ServerConfig>, String> {
    // Workers carry only the CA certificate; Talos gets their serving certificate from
    // trustd on a control plane. Without any control plane seen yet, the lab signs it with a
    // throwaway CA (clients then cannot verify it, as a worker without trustd is unusable).
    let ca = match key {
        Some(k) => Ca::from_pem(&config.os_ca_crt, k)?,
        None => Ca::generate(Some("talos"), None, &rcgen::PKCS_ED25519)?.0,
    };
    let mut dns = vec![hostname.to_string(), "localhost".to_string()];
    dns.extend(config.cert_sans.iter().cloned());
    let cert = ca.issue(&LeafSpec {
        cn: None,
        orgs: &[],
        dns: &dns,
        ips: &[address, Ipv4Addr::LOCALHOST],
        server: true,
        key_encipherment: false,
        ttl: Duration::from_secs(365 * 86_400),
        alg: &rcgen::PKCS_ED25519,
    })?;
    let os_ca_der = rustls::pki_types::CertificateDer::from(
        pki::pem_der(&config.os_ca_crt).ok_or("machine.ca.crt is not PEM")?,
    );
    pki::server_with_client_ca(&cert, &os_ca_der, true, true, &[b"h2"])
}
