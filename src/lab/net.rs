//! Addresses, listeners and shutdown. Every host gets its own loopback address in a random
//! `127.R.S.0/24` (bastion `.10`, Ampere hosts `.11`, `.12`, …) so parallel labs don't collide;
//! services use the real ports (SSH 22, Proxmox API 8006, corosync-qnetd 5403). Only
//! 127.0.0.0/8 is ever bound.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;

use super::keys::{self, Ca, LabSecrets, TlsIdentity};
use super::{faults, layer1, state, world, GuestLauncher, LabConfig, LabError, LabInner};

/// SSH, as on every Debian host.
pub(crate) const SSH_PORT: u16 = 22;
/// Where SSH goes when port 22 cannot be bound (not root).
pub(crate) const SSH_FALLBACK_PORT: u16 = 2222;
/// pveproxy (research §C.3: `https://HOST:8006/api2/json`).
pub(crate) const API_PORT: u16 = 8006;
/// corosync-qnetd's default TCP port (pvecm.adoc "Corosync External Vote Support").
pub(crate) const QNETD_PORT: u16 = 5403;
/// The lab's own control endpoint (faults, trace) on the bastion address.
pub(crate) const CONTROL_PORT: u16 = 7000;

/// One emulated host.
pub(crate) struct HostSpec {
    pub(crate) name: String,
    pub(crate) ip: Ipv4Addr,
    pub(crate) ssh_port: u16,
    pub(crate) host_key: Arc<russh::keys::PrivateKey>,
    /// Proxmox hosts only: the API certificate (replaced when the node joins a cluster).
    pub(crate) tls: Option<RwLock<TlsIdentity>>,
    /// Proxmox hosts only: this node's `pve-root-ca`.
    pub(crate) ca: Option<Ca>,
    /// Cancelled when the host reboots or the lab stops; every connection to the host watches it.
    conns: Mutex<CancellationToken>,
    pub(crate) layout: layer1::NodeSize,
}

impl HostSpec {
    /// The token that connections accepted now must watch.
    pub(crate) fn conn_token(&self) -> CancellationToken {
        self.conns.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Drops every connection to this host (reboot), and arms a new token under `parent`.
    pub(crate) fn drop_connections(&self, parent: &CancellationToken) {
        let mut t = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        t.cancel();
        *t = parent.child_token();
    }

    pub(crate) fn tls_identity(&self) -> Option<TlsIdentity> {
        self.tls
            .as_ref()
            .map(|t| t.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

/// A stream that fails once `token` is cancelled, so a dropped connection or a stopping lab
/// ends every session that reads or writes it.
pub(crate) struct CancelIo<S> {
    inner: S,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl<S> CancelIo<S> {
    pub(crate) fn new(inner: S, token: CancellationToken) -> Self {
        CancelIo {
            inner,
            cancelled: Box::pin(token.cancelled_owned()),
        }
    }

    fn check(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        if self.cancelled.as_mut().poll(cx).is_ready() {
            Some(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection dropped by the lab",
            ))
        } else {
            None
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CancelIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CancelIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn random_base() -> Ipv4Addr {
    let r = keys::random_u64();
    // R and S in 1..=254, so 127.0.0.x (used by everything else) is never taken.
    let a = (r % 254) as u8 + 1;
    let b = ((r >> 16) % 254) as u8 + 1;
    Ipv4Addr::new(127, a, b, 0)
}

fn with_last(base: Ipv4Addr, last: u8) -> Ipv4Addr {
    let o = base.octets();
    Ipv4Addr::new(o[0], o[1], o[2], last)
}

async fn bind(ip: Ipv4Addr, port: u16) -> Result<TcpListener, LabError> {
    let addr = SocketAddr::from((ip, port));
    TcpListener::bind(addr)
        .await
        .map_err(|source| LabError::Bind {
            addr: addr.to_string(),
            source,
        })
}

/// SSH on 22, or 2222 when 22 needs privileges we don't have.
async fn bind_ssh(ip: Ipv4Addr) -> Result<(TcpListener, u16), LabError> {
    match bind(ip, SSH_PORT).await {
        Ok(l) => Ok((l, SSH_PORT)),
        Err(LabError::Bind { source, .. }) if source.kind() == io::ErrorKind::PermissionDenied => {
            Ok((bind(ip, SSH_FALLBACK_PORT).await?, SSH_FALLBACK_PORT))
        }
        Err(e) => Err(e),
    }
}

struct Listeners {
    ssh: Vec<TcpListener>,
    api: Vec<TcpListener>,
    bastion_ssh: Option<TcpListener>,
    qnetd: Option<TcpListener>,
    control: TcpListener,
    files: TcpListener,
    oci: TcpListener,
    ssh_ports: Vec<u16>,
    bastion_ssh_port: u16,
}

/// Binds every listener of a lab at `base`. Hosts that run Talos have no SSH or Proxmox API
/// (their apid is the Talos fleet's).
async fn bind_all(
    base: Ipv4Addr,
    hosts: u32,
    bastion: bool,
    proxmox_hosts: bool,
) -> Result<Listeners, LabError> {
    let bip = with_last(base, 10);
    // Control first: it is always there, so a taken base shows up on the first bind.
    let control = bind(bip, CONTROL_PORT).await?;
    let files = bind(bip, super::files::FILES_PORT).await?;
    let oci = bind(bip, super::oci::OCI_PORT).await?;
    let mut ssh = Vec::new();
    let mut api = Vec::new();
    let mut ssh_ports = Vec::new();
    for i in 0..hosts {
        let ip = with_last(base, 11 + i as u8);
        if !proxmox_hosts {
            // Talos hosts: apid :50000 is probed here so a taken address moves the base too.
            drop(bind(ip, super::talos::APID_PORT).await?);
            ssh_ports.push(SSH_PORT);
            continue;
        }
        let (l, p) = bind_ssh(ip).await?;
        ssh.push(l);
        ssh_ports.push(p);
        api.push(bind(ip, API_PORT).await?);
    }
    let (bastion_ssh, bastion_ssh_port, qnetd) = if bastion {
        let (l, p) = bind_ssh(bip).await?;
        (Some(l), p, Some(bind(bip, QNETD_PORT).await?))
    } else {
        (None, 0, None)
    };
    Ok(Listeners {
        ssh,
        api,
        bastion_ssh,
        qnetd,
        control,
        files,
        oci,
        ssh_ports,
        bastion_ssh_port,
    })
}

/// Builds the world, binds every listener and spawns the servers.
pub(crate) async fn start(
    config: LabConfig,
    launcher: Arc<dyn GuestLauncher>,
) -> Result<Arc<LabInner>, LabError> {
    let dir = config.state_dir.clone();
    if let Some(d) = &dir {
        std::fs::create_dir_all(d).map_err(|e| LabError::Io {
            path: d.clone(),
            source: e,
        })?;
    }
    // Pick a base whose addresses are free: another lab may hold a random one already.
    let mut attempt = 0;
    let (base, listeners) = loop {
        let base = config.base.unwrap_or_else(random_base);
        let proxmox_hosts = config.host_os == super::HostOs::Proxmox;
        match bind_all(base, config.hosts, config.bastion, proxmox_hosts).await {
            Ok(l) => break (base, l),
            Err(LabError::Bind { source, .. })
                if source.kind() == io::ErrorKind::AddrInUse
                    && config.base.is_none()
                    && attempt < 16 =>
            {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    };

    let secrets = LabSecrets::load(dir.as_deref())?;
    let sizes = layer1::layout(&config);
    let host_dir = |name: &str| dir.as_ref().map(|d| d.join("hosts").join(name));
    let mut hosts = Vec::new();
    for i in 0..config.hosts as usize {
        let name = format!("ampere-{}", i + 1);
        let ip = with_last(base, 11 + i as u8);
        let hd = host_dir(&name);
        let host_key = match &hd {
            Some(d) => keys::load_or_create_ed25519(
                &d.join("ssh_host_ed25519_key"),
                &format!("root@{name}"),
            )?,
            None => keys::new_ed25519(&format!("root@{name}"))?,
        };
        let ca = Ca::load_or_create(hd.as_deref(), &name)?;
        let tls = TlsIdentity::load_or_issue(hd.as_deref(), &ca, &name, ip)?;
        hosts.push(HostSpec {
            name,
            ip,
            ssh_port: listeners.ssh_ports[i],
            host_key: Arc::new(host_key),
            tls: Some(RwLock::new(tls)),
            ca: Some(ca),
            conns: Mutex::new(CancellationToken::new()),
            layout: sizes.nodes.get(i).cloned().unwrap_or_default(),
        });
    }
    let bastion = if config.bastion {
        let hd = host_dir("bastion");
        let host_key = match &hd {
            Some(d) => {
                keys::load_or_create_ed25519(&d.join("ssh_host_ed25519_key"), "root@bastion")?
            }
            None => keys::new_ed25519("root@bastion")?,
        };
        Some(HostSpec {
            name: "bastion".into(),
            ip: with_last(base, 10),
            ssh_port: listeners.bastion_ssh_port,
            host_key: Arc::new(host_key),
            tls: None,
            ca: None,
            conns: Mutex::new(CancellationToken::new()),
            layout: layer1::NodeSize::default(),
        })
    } else {
        None
    };

    let world = world::World {
        nodes: hosts.iter().map(|h| initial_node(h, &h.layout)).collect(),
        clusters: Vec::new(),
        bastion: world::Bastion {
            qnetd_installed: config.qnetd_installed,
            qnetd_clusters: Default::default(),
        },
    };

    let cancel = CancellationToken::new();
    for h in hosts.iter().chain(bastion.iter()) {
        *h.conns.lock().unwrap_or_else(|p| p.into_inner()) = cancel.child_token();
    }
    let oci = super::oci::OciAccount::new(dir.as_deref(), with_last(base, 10))?;
    let faults = faults::FaultPlan::new(config.faults.clone(), config.fault_seed);
    let latency = super::LatencyTable::new(&config.latency_overrides);
    let inner = Arc::new(LabInner {
        hosts,
        bastion,
        base,
        control_port: CONTROL_PORT,
        secrets,
        world: Mutex::new(world),
        latency,
        trace: Mutex::new(Vec::new()),
        faults,
        launcher,
        locks: super::pvecm::Locks::new(config.hosts as usize),
        cancel,
        tracker: TaskTracker::new(),
        started: Instant::now(),
        state_dir: dir.clone(),
        oci,
        custom_image_gb: Mutex::new(config.custom_image_gb),
        config,
    });

    let Listeners {
        ssh,
        api,
        bastion_ssh,
        qnetd,
        control,
        files,
        oci,
        ..
    } = listeners;
    for (i, l) in ssh.into_iter().enumerate() {
        inner
            .tracker
            .spawn(super::ssh::serve(inner.clone(), Some(i), l));
    }
    for (i, l) in api.into_iter().enumerate() {
        inner.tracker.spawn(super::api::serve(inner.clone(), i, l));
    }
    if let Some(l) = bastion_ssh {
        inner
            .tracker
            .spawn(super::ssh::serve(inner.clone(), None, l));
    }
    if let Some(l) = qnetd {
        inner.tracker.spawn(serve_qnetd(inner.clone(), l));
    }
    inner
        .tracker
        .spawn(super::control::serve(inner.clone(), control));
    inner
        .tracker
        .spawn(super::files::serve(inner.clone(), files));
    inner.tracker.spawn(super::oci::serve(inner.clone(), oci));

    if let Some(d) = &dir {
        if let Err(e) = write_state_files(&inner, d) {
            stop(&inner).await;
            return Err(e);
        }
    }
    Ok(inner)
}

/// Writes `lab.json`, `oci.tfstate` and the OCI endpoint's files into the state directory.
pub(crate) fn write_state_files(inner: &LabInner, dir: &Path) -> Result<(), LabError> {
    let io = |p: &Path, e| LabError::Io {
        path: p.to_path_buf(),
        source: e,
    };
    super::oci::write_files(inner, dir)?;
    let st = state::describe(inner);
    // lab.json holds the client key and the root password: owner-only, like the key file.
    let p = dir.join("lab.json");
    let text = serde_json::to_string_pretty(&st).unwrap_or_default();
    let tmp = p.with_extension("tmp");
    keys::write_private(&tmp, text.as_bytes())?;
    std::fs::rename(&tmp, &p).map_err(|e| io(&p, e))?;
    let p = dir.join("oci.tfstate");
    let text = serde_json::to_string_pretty(&layer1::tfstate(inner)).unwrap_or_default();
    write_atomic(&p, text.as_bytes()).map_err(|e| io(&p, e))?;
    let abs = |f: &str| {
        let p = dir.join(f);
        std::fs::canonicalize(&p).unwrap_or(p).display().to_string()
    };
    let o = inner.base.octets();
    if inner.config.host_os == super::HostOs::Talos {
        // Talos hosts: no Layer 2. Layer 3 reads Layer 1's state and configures the hosts,
        // which wait in maintenance mode, at their own addresses.
        let _ = std::fs::remove_file(dir.join("proxmox.tfvars"));
        let p = dir.join("talos.tfvars");
        let text = format!(
            "# Written by `freetier lab up --host-os talos`: terraform -chdir=terraform/talos apply -var-file={}\nplacement      = \"instances\"\noci_state_path = {:?}\n",
            abs("talos.tfvars"),
            abs("oci.tfstate"),
        );
        write_atomic(&p, text.as_bytes()).map_err(|e| io(&p, e))?;
        return Ok(());
    }
    // What terraform/proxmox needs beyond Layer 1's state: where that state is, and the key.
    let p = dir.join("proxmox.tfvars");
    let key = inner
        .secrets
        .client_key_path
        .as_ref()
        .map(|k| {
            std::fs::canonicalize(k)
                .unwrap_or(k.clone())
                .display()
                .to_string()
        })
        .unwrap_or_default();
    let text = format!(
        "# Written by `freetier lab up`: terraform -chdir=terraform/proxmox apply -var-file={}\noci_state_path       = {:?}\nssh_private_key_path = {:?}\n",
        abs("proxmox.tfvars"),
        abs("oci.tfstate"),
        key
    );
    write_atomic(&p, text.as_bytes()).map_err(|e| io(&p, e))?;
    // What terraform/talos needs beyond Layer 2's state: the image on the lab's file server,
    // the VMs' addresses (loopback, .100 and up), and emulation, since the lab's hosts, like
    // OCI A1 VMs, have no /dev/kvm.
    let p = dir.join("talos.tfvars");
    let text = format!(
        "# Written by `freetier lab up`: terraform -chdir=terraform/talos apply -var-file={}\nimage_url     = {:?}\nnode_cidr     = \"{}.{}.{}.0/24\"\nfirst_address = 100\ncpu_emulation = {}\n",
        abs("talos.tfvars"),
        format!("{}/talos/nocloud-arm64.qcow2", st.files_url),
        o[0],
        o[1],
        o[2],
        !inner.config.kvm
    );
    write_atomic(&p, text.as_bytes()).map_err(|e| io(&p, e))?;
    Ok(())
}

fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

fn initial_node(h: &HostSpec, size: &layer1::NodeSize) -> world::Node {
    // Disks as an A1 instance presents them: one boot volume, the image's EFI and root
    // partitions in use, and (when the layout leaves storage for OSDs) a free tail that
    // Layer 2 partitions (see `disks.rs`).
    let boot_disk = super::disks::BootDisk::new(u64::from(size.boot_gb), u64::from(size.osd_gb));
    let disks = vec![
        world::Disk {
            dev: "/dev/sda".into(),
            size_gb: u64::from(size.boot_gb + size.osd_gb),
            used: Some("partitions".into()),
        },
        world::Disk {
            dev: "/dev/sda1".into(),
            size_gb: u64::from(size.boot_gb),
            used: Some("mounted".into()),
        },
        world::Disk {
            dev: "/dev/sda15".into(),
            size_gb: 0,
            used: Some("mounted".into()),
        },
    ];
    // The Proxmox VE installer's `pve` VG leaves free space (minfree) for snapshots;
    // ESTIMATE: 1/8 of the boot disk.
    let vg_free = u64::from(size.boot_gb) / 8;
    world::Node {
        name: h.name.clone(),
        ip: h.ip,
        online: true,
        boot_epoch: world::now_secs(),
        cluster: None,
        ceph_release: None,
        subscription: false,
        boot_disk: Some(boot_disk),
        disks,
        vgs: vec![world::Vg {
            name: "pve".into(),
            size_gb: u64::from(size.boot_gb).saturating_sub(1),
            free_gb: vg_free,
        }],
        lvs: Vec::new(),
        vms: Default::default(),
        // Default `local` content on a fresh install (research §C.3: import is not on by default).
        local_content: ["backup", "iso", "vztmpl"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        volumes: Default::default(),
        tasks: Vec::new(),
        standalone_access: world::Access::new(),
        standalone_ceph: None,
        ocpus: size.ocpus,
        memory_gb: size.memory_gb,
        next_pid: 1000 + (keys::random_u64() % 50_000) as u32,
        tls_fingerprint: h.tls_identity().map(|t| t.fingerprint).unwrap_or_default(),
        root_password: None,
        bootid: keys::random_u64(),
        corosync: false,
        pmxcfs: world::Pmxcfs::Service,
        etc_corosync: world::ETC_COROSYNC_DIRS
            .iter()
            .map(|d| d.to_string())
            .collect(),
        left_cluster: None,
        ceph_from: None,
        foreign_nodes: Default::default(),
    }
}

/// corosync-qnetd stand-in: accepts TCP on 5403 while installed; closes at once otherwise.
async fn serve_qnetd(inner: Arc<LabInner>, listener: TcpListener) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = inner.cancel.cancelled() => break,
        };
        let Ok((stream, _)) = accepted else { continue };
        let installed = inner.world().bastion.qnetd_installed;
        if !installed {
            drop(stream);
            continue;
        }
        let token = match &inner.bastion {
            Some(b) => b.conn_token(),
            None => inner.cancel.clone(),
        };
        inner.tracker.spawn(async move {
            // Hold the connection open until the peer closes it or the lab stops; the lab does
            // not speak the qnetd protocol.
            let mut s = CancelIo::new(stream, token);
            let mut buf = [0u8; 512];
            loop {
                match tokio::io::AsyncReadExt::read(&mut s, &mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        });
    }
}

/// Stops the lab: halts guests, cancels every task and connection, and waits for them.
pub(crate) async fn stop(inner: &Arc<LabInner>) {
    let running: Vec<(String, u32)> = {
        let w = inner.world();
        w.nodes
            .iter()
            .flat_map(|n| {
                n.vms
                    .values()
                    .filter(|v| v.guest)
                    .map(move |v| (n.name.clone(), v.vmid))
            })
            .collect()
    };
    for (node, vmid) in running {
        let _ =
            tokio::time::timeout(Duration::from_secs(5), inner.launcher.halt(&node, vmid)).await;
    }
    inner.cancel.cancel();
    inner.tracker.close();
    if tokio::time::timeout(Duration::from_secs(10), inner.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("lab: some tasks did not stop within 10 s");
    }
}
