//! Creating the cluster: VMs on Proxmox VE (or Talos hosts given by address), then one health
//! gate. Each step first asks whether it is done, so an apply that failed, or a provider that
//! was killed, resumes: a VM is found by its name before one is created, an image already on
//! the storage is not fetched again, a VM's `cidata` ISO is written again until the VM runs,
//! and Bootstrap runs only when no node has etcd members yet (AlreadyExists counts as done).
//!
//! The order follows Talos's own guides (https://www.talos.dev/v1.11/talos-guides/install/virtualized-platforms/proxmox/
//! and the `talosctl cluster create` flow): configs are generated, each node boots with its
//! config (NoCloud `cidata` on Proxmox VE; ApplyConfiguration in maintenance mode for
//! `instances`), apid answers, the first node is bootstrapped, etcd gathers every member,
//! the kubeconfig is fetched, every node turns Ready and Flux's controllers exist. An update
//! first takes out the nodes the configuration dropped or moved (`remove.rs`); a node it adds
//! joins the running etcd without a Bootstrap, and the gate waits for it by name.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::cidata::{cidata_iso, meta_data, network_config_v1, NocloudFiles, StaticNetwork};
use super::machine_config::{controlplane_config, ControlPlaneInput, Link, NodeNetwork};
use super::manifests::{self, FluxSync};
use super::model::{defaults, Cluster, NodeConfig, NodeStatus};
use super::secrets::MachineSecrets;
use crate::clients::proxmox::{self, Call, DownloadUrl, Upload};
use crate::clients::talos::{self, ApplyMode, Credentials, MaintenanceClient, TalosContext};
use crate::clients::{kube, ErrorKind};
use crate::provider::resources::steps;

/// The resource's name in step records.
const RESOURCE: &str = "freetier_talos_cluster";

/// A step that failed: where, what, and what kind of failure.
#[derive(Debug, Clone)]
pub struct StepError {
    /// The step (`vm cp-1`, `bootstrap`).
    pub step: String,
    /// What happened, with what to do.
    pub message: String,
    /// How it failed.
    pub kind: ErrorKind,
}

impl StepError {
    pub(super) fn new(step: &str, kind: ErrorKind, message: impl Into<String>) -> Self {
        StepError {
            step: step.to_string(),
            message: message.into(),
            kind,
        }
    }
}

pub(super) type Step<T> = Result<T, StepError>;

/// What a run has done so far: the VMs it knows, the nodes still to take out, and the steps
/// finished.
#[derive(Debug, Default, Clone)]
pub struct Progress {
    /// Node name → (Proxmox host, VM id).
    pub vms: BTreeMap<String, (String, u32)>,
    /// Nodes the configuration dropped or moved that are not out of the cluster yet, by
    /// name: the state keeps them until they are.
    pub leaving: BTreeMap<String, NodeStatus>,
    /// Steps finished, in order.
    pub done: Vec<String>,
}

impl Progress {
    pub(super) fn mark(&mut self, step: &str) {
        tracing::info!(step, "talos cluster: step done");
        if !self.done.iter().any(|d| d == step) {
            self.done.push(step.to_string());
        }
    }
}

/// What a finished create hands to the state.
pub struct Created {
    pub endpoint: String,
    pub kubeconfig: String,
    pub talosconfig: String,
    pub nodes: Vec<NodeStatus>,
}

/// The VM name of `node` in cluster `cluster`.
pub fn vm_name(cluster: &str, node: &str) -> String {
    format!("{cluster}-{node}")
}

/// A stable MAC for a node's NIC, in Proxmox's own prefix (BC:24:11, the OUI PVE gives new
/// NICs), so NoCloud's network-config can match it.
fn mac_of(cluster: &str, node: &str) -> String {
    let mut h: u32 = 2166136261;
    for b in format!("{cluster}/{node}").bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(16777619);
    }
    let b = h.to_be_bytes();
    format!("BC:24:11:{:02X}:{:02X}:{:02X}", b[1], b[2], b[3])
}

/// The prefix length of `cidr` (`10.0.1.0/24` → 24).
fn prefix_of(cidr: &str) -> u8 {
    cidr.split_once('/')
        .and_then(|(_, l)| l.parse().ok())
        .unwrap_or(24)
}

/// The talosconfig for the cluster's nodes (`known`, the state's, while the nodes are the
/// same, so it does not change on every apply), and its credentials.
pub fn talos_access(
    m: &Cluster,
    secrets: &MachineSecrets,
    known: Option<&str>,
) -> Step<(String, Credentials)> {
    let addresses: Vec<String> = m.node.iter().map(|n| n.address.clone()).collect();
    let talosconfig = match known {
        Some(t) => t.to_string(),
        None => secrets
            .talosconfig(&m.name, &addresses, &addresses)
            .map_err(|e| StepError::new("talosconfig", ErrorKind::Fatal, e.to_string()))?,
    };
    let ctx = TalosContext::from_talosconfig(&talosconfig, None)
        .map_err(|e| StepError::new("talosconfig", ErrorKind::Fatal, e.to_string()))?;
    Ok((talosconfig, ctx.credentials))
}

/// Each node's machine configuration.
pub fn machine_configs(m: &Cluster, secrets: &MachineSecrets) -> Step<Vec<String>> {
    let fail = |e: String| StepError::new("machine config", ErrorKind::Fatal, e);
    let mut inline = Vec::new();
    match &m.gitops {
        Some(g) => {
            let sync = FluxSync {
                url: g.url.clone(),
                branch: g.branch.known().cloned().unwrap_or_else(|| "main".into()),
                path: g
                    .path
                    .known()
                    .cloned()
                    .unwrap_or_else(|| format!("clusters/{}", m.name)),
            };
            inline.extend(
                manifests::platform(
                    m.sops_age_key
                        .known()
                        .map(String::as_str)
                        .unwrap_or_default(),
                    &sync,
                )
                .map_err(|e| fail(e.to_string()))?,
            );
        }
        None => inline.push(manifests::cilium().map_err(|e| fail(e.to_string()))?),
    }
    let endpoint = m
        .node
        .first()
        .map(|n| n.address.clone())
        .unwrap_or_default();
    let network = m.network.as_ref();
    let prefix = network.map(|n| prefix_of(&n.cidr)).unwrap_or(24);
    let version = m.talos_version();
    let schematic = defaults::SCHEMATIC;
    // The Image Factory's installer: per platform from Talos 1.14, one for all before
    // (https://github.com/siderolabs/image-factory, README "Installer images").
    let minor: u32 = version
        .trim_start_matches('v')
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let installer = if minor >= 14 {
        "nocloud-installer"
    } else {
        "installer"
    };
    let install_image = m
        .install_image
        .known()
        .cloned()
        .unwrap_or_else(|| format!("factory.talos.dev/{installer}/{schematic}:{version}"));
    m.node
        .iter()
        .map(|n| {
            let input = ControlPlaneInput {
                cluster_name: m.name.clone(),
                endpoint: endpoint.clone(),
                hostname: n.name.clone(),
                network: NodeNetwork {
                    link: Link::Selector(super::machine_config::DeviceSelector {
                        hardware_addr: (m.placement() == "proxmox")
                            .then(|| mac_of(&m.name, &n.name).to_lowercase()),
                        physical: (m.placement() != "proxmox").then_some(true),
                        ..Default::default()
                    }),
                    address: format!("{}/{prefix}", n.address),
                    gateway: network.and_then(|n| n.gateway.known().cloned()),
                },
                // The scsi0 disk on Proxmox VE; the boot volume on an A1 instance.
                install_disk: "/dev/sda".into(),
                install_image: install_image.clone(),
                talos_version: version.clone(),
                kubernetes_version: m
                    .kubernetes_version
                    .known()
                    .cloned()
                    .unwrap_or_else(|| defaults::KUBERNETES_VERSION.into()),
                pod_subnets: vec![m
                    .pod_cidr
                    .known()
                    .cloned()
                    .unwrap_or_else(|| defaults::POD_CIDR.into())],
                service_subnets: vec![m
                    .service_cidr
                    .known()
                    .cloned()
                    .unwrap_or_else(|| defaults::SERVICE_CIDR.into())],
                nameservers: network
                    .and_then(|n| n.nameservers.known().cloned())
                    .unwrap_or_default(),
                cert_sans: m.node.iter().map(|n| n.address.clone()).collect(),
                inline_manifests: inline.clone(),
                extra_manifests: Vec::new(),
            };
            controlplane_config(secrets, &input).map_err(|e| fail(format!("node {}: {e}", n.name)))
        })
        .collect()
}

/// Retries `f` while it fails with a transient kind, until `deadline`.
pub(super) async fn retry<T, F, Fut>(
    step: &str,
    deadline: Instant,
    cancel: &CancellationToken,
    mut f: F,
) -> Step<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Step<T>>,
{
    let mut attempts: u32 = 0;
    let start = steps::now_ms();
    let done = |ok: bool| steps::record(RESOURCE, step, "", start, ok);
    loop {
        match f().await {
            Ok(v) => {
                done(true);
                return Ok(v);
            }
            Err(e) if e.kind == ErrorKind::Transient && Instant::now() < deadline => {
                // The first miss and every 20th after it: TF_LOG=info reads as progress.
                if attempts.is_multiple_of(20) {
                    tracing::info!(step, error = %e.message, "talos cluster: waiting");
                }
                attempts += 1;
            }
            Err(e) => {
                done(false);
                return Err(e);
            }
        }
        if cancel.is_cancelled() {
            done(false);
            return Err(StepError::new(
                step,
                ErrorKind::Cancelled,
                "Terraform asked the provider to stop",
            ));
        }
        tokio::select! {
            _ = tokio::time::sleep(defaults::POLL) => {}
            _ = cancel.cancelled() => {}
        }
    }
}

pub(super) fn pve_err(step: &str, e: proxmox::Error) -> StepError {
    StepError::new(step, e.kind(), e.to_string())
}

pub(super) fn talos_err(step: &str, e: talos::Error) -> StepError {
    StepError::new(step, e.kind(), e.to_string())
}

pub(super) fn kube_err(step: &str, e: kube::Error) -> StepError {
    StepError::new(step, e.kind(), e.to_string())
}

/// The Proxmox VE client for `m`'s `proxmox` block.
pub fn pve_client(m: &Cluster) -> Step<proxmox::Client> {
    let p = m.proxmox.as_ref().ok_or_else(|| {
        StepError::new(
            "proxmox",
            ErrorKind::Fatal,
            "placement \"proxmox\" needs a proxmox block (Layer 2's api_url, token and fingerprint)",
        )
    })?;
    proxmox::Client::new(
        &p.api_url,
        &p.api_token_id,
        m.proxmox_token_secret
            .known()
            .map(String::as_str)
            .unwrap_or_default(),
        &p.tls_fingerprint,
    )
    .map_err(|e| pve_err("proxmox", e))
}

/// Runs a Proxmox VE task to its end; a failed task is an error quoting its log.
pub(super) async fn task(
    pve: &proxmox::Client,
    step: &str,
    host: &str,
    upid: proxmox::Upid,
    call: &Call,
) -> Step<()> {
    let outcome = pve
        .wait_task(host, &upid, Duration::from_secs(1), call)
        .await
        .map_err(|e| pve_err(step, e))?;
    outcome
        .into_result()
        .map(|_| ())
        .map_err(|e| pve_err(step, e))
}

/// The image file name on the storage: the URL's last segment, made an `import` name.
pub fn image_file(m: &Cluster) -> String {
    let url = m
        .proxmox
        .as_ref()
        .map(|p| p.image_url.as_str())
        .unwrap_or("");
    let last = url.rsplit('/').next().unwrap_or("talos.qcow2");
    format!("talos-{}-{last}", m.talos_version())
}

/// The `cidata` ISO's file name for `node`.
pub fn cidata_file(m: &Cluster, node: &str) -> String {
    format!("{}-cidata.iso", vm_name(&m.name, node))
}

pub(super) fn storage(v: &crate::framework::Maybe<String>, default: &str) -> String {
    v.known().cloned().unwrap_or_else(|| default.to_string())
}

/// Whether `volid` is on `host`'s `store`.
async fn has_volume(
    pve: &proxmox::Client,
    host: &str,
    store: &str,
    content: &str,
    volid: &str,
    call: &Call,
) -> Step<bool> {
    let items = pve
        .storage_content(host, store, Some(content), call)
        .await
        .map_err(|e| pve_err("storage", e))?;
    Ok(items.iter().any(|i| i.volid == volid))
}

/// Places one VM per node on Proxmox VE, each booting its config from a `cidata` ISO.
async fn place_on_proxmox(
    m: &Cluster,
    configs: &[String],
    progress: &mut Progress,
    cancel: &CancellationToken,
    deadline: Instant,
) -> Step<()> {
    let p = m.proxmox.as_ref().ok_or_else(|| {
        StepError::new(
            "proxmox",
            ErrorKind::Fatal,
            "placement \"proxmox\" needs a proxmox block",
        )
    })?;
    let pve = pve_client(m)?;
    let call = Call::new(cancel, defaults::CALL);
    let long = Call::new(cancel, deadline.saturating_duration_since(Instant::now()));
    let disk_store = storage(&p.storage, defaults::STORAGE);
    let iso_store = storage(&p.iso_storage, defaults::ISO_STORAGE);
    let image_store = storage(&p.image_storage, defaults::IMAGE_STORAGE);
    let bridge = storage(&p.bridge, defaults::BRIDGE);
    let image = image_file(m);
    let image_volid = format!("{image_store}:import/{image}");
    let emulated = m.cpu_emulation.known().copied().unwrap_or(false);

    // Disk images are `import` content since PVE 8.4; a `local` that predates it holds none
    // until told to (https://pve.proxmox.com/wiki/Storage, "import" content type).
    let configs_now = pve
        .storage_configs(&call)
        .await
        .map_err(|e| pve_err("image storage", e))?;
    if let Some(sc) = configs_now.iter().find(|c| c.storage == image_store) {
        if !sc.holds("import") {
            let mut content: Vec<String> = sc
                .content
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            content.push("import".into());
            pve.storage_set_content(&image_store, &content, &call)
                .await
                .map_err(|e| pve_err("image storage", e))?;
        }
    }
    // The image, once per host that runs a VM.
    let mut hosts: Vec<String> = m
        .node
        .iter()
        .filter_map(|n| n.host.known().cloned())
        .collect();
    hosts.sort();
    hosts.dedup();
    // Every host downloads at once: each fetches its own copy.
    let downloads = hosts.iter().map(|host| {
        let (pve, call, long) = (&pve, &call, &long);
        let (image_store, image_volid, image) = (&image_store, &image_volid, &image);
        async move {
            let step = format!("image on {host}");
            let start = steps::now_ms();
            let done = |ok: bool| steps::record(RESOURCE, "image", host, start, ok);
            if !has_volume(pve, host, image_store, "import", image_volid, call)
                .await
                .inspect_err(|_| done(false))?
            {
                let download = DownloadUrl {
                    url: p.image_url.clone(),
                    content: "import".into(),
                    filename: image.clone(),
                    checksum: None,
                    compression: None,
                    verify_certificates: None,
                };
                let downloaded = async {
                    let upid = pve
                        .storage_download_url(host, image_store, &download, call)
                        .await
                        .map_err(|e| pve_err(&step, e))?;
                    task(pve, &step, host, upid, long).await
                }
                .await;
                done(downloaded.is_ok());
                downloaded?;
            } else {
                done(true);
            }
            Ok::<_, StepError>(step)
        }
    });
    for step in futures_util::future::try_join_all(downloads).await? {
        progress.mark(&step);
    }

    // VMs: found by name, else created with an id from /cluster/nextid, retried past one
    // that someone else took meanwhile.
    // Each host's VMs, listed once: a VM this run makes is ours, so only earlier ones matter.
    let mut listed = BTreeMap::new();
    for host in &hosts {
        let vms = pve
            .qemu_list(host, &call)
            .await
            .map_err(|e| pve_err(&format!("vms on {host}"), e))?;
        listed.insert(host.clone(), vms);
    }
    // Hosts work at once, each through its own nodes in order: a VM's boot then overlaps the
    // other hosts' uploads and creates. Two hosts may draw the same id from /cluster/nextid;
    // the create that loses the race takes the next one.
    let place = Placement {
        m,
        pve: &pve,
        call: &call,
        long: &long,
        disk_store: &disk_store,
        iso_store: &iso_store,
        image_volid: &image_volid,
        bridge: &bridge,
        emulated,
    };
    let shared = std::sync::Mutex::new(std::mem::take(progress));
    let per_host = hosts.iter().map(|host| {
        let (place, shared, listed) = (&place, &shared, &listed);
        async move {
            for (n, config) in m.node.iter().zip(configs) {
                if n.host.known() != Some(host) {
                    continue;
                }
                let existing = listed
                    .get(host)
                    .and_then(|vms: &Vec<proxmox::QemuListEntry>| {
                        let name = vm_name(&m.name, &n.name);
                        vms.iter()
                            .find(|v| v.name.as_deref() == Some(name.as_str()))
                            .cloned()
                    });
                let start = steps::now_ms();
                let placed = place.vm(n, config, host, existing, shared).await;
                steps::record(
                    RESOURCE,
                    &format!("vm {}", n.name),
                    host,
                    start,
                    placed.is_ok(),
                );
                placed?;
            }
            Ok::<(), StepError>(())
        }
    });
    // Every host finishes what it is doing before an error returns, so the state hears of
    // every VM that exists.
    let results = futures_util::future::join_all(per_host).await;
    *progress = shared.into_inner().unwrap_or_else(|p| p.into_inner());
    results.into_iter().collect::<Step<Vec<()>>>()?;
    Ok(())
}

/// What placing one VM needs: the cluster, the API, and the storages and bridge to use.
struct Placement<'a> {
    m: &'a Cluster,
    pve: &'a proxmox::Client,
    call: &'a Call,
    long: &'a Call,
    disk_store: &'a str,
    iso_store: &'a str,
    image_volid: &'a str,
    bridge: &'a str,
    emulated: bool,
}

impl Placement<'_> {
    /// Makes (or finds) node `n`'s VM on `host` and starts it; records its id in `shared` as
    /// soon as the id is ours.
    async fn vm(
        &self,
        n: &NodeConfig,
        config: &str,
        host: &str,
        existing: Option<proxmox::QemuListEntry>,
        shared: &std::sync::Mutex<Progress>,
    ) -> Step<()> {
        let (m, pve, call, long) = (self.m, self.pve, self.call, self.long);
        let record = |vmid: u32| {
            if let Ok(mut p) = shared.lock() {
                p.vms.insert(n.name.clone(), (host.to_string(), vmid));
            }
        };
        let step = format!("vm {}", n.name);
        let name = vm_name(&m.name, &n.name);
        let iso = cidata_file(m, &n.name);
        let iso_volid = format!("{}:iso/{iso}", self.iso_store);
        // A VM that is not running starts from this run's ISO, never from one already on the
        // storage: a create whose state was lost (a killed provider) left one made from
        // secrets nobody kept. An upload replaces the file.
        if existing.as_ref().is_none_or(|v| v.status != "running") {
            let data = cidata_iso(&nocloud(m, n, config)?)
                .map_err(|e| StepError::new(&step, ErrorKind::Fatal, e.to_string()))?;
            let upid = pve
                .storage_upload(
                    host,
                    self.iso_store,
                    &Upload {
                        content: "iso".into(),
                        filename: iso.clone(),
                        data,
                        checksum: None,
                    },
                    call,
                )
                .await
                .map_err(|e| pve_err(&step, e))?;
            task(pve, &step, host, upid, long).await?;
        }
        let (vmid, running) = match existing {
            Some(v) => (v.vmid, v.status == "running"),
            None => {
                let emulated = self.emulated;
                let mut options = BTreeMap::new();
                options.insert("name".into(), name.clone());
                options.insert("machine".into(), "virt".into());
                options.insert("bios".into(), "ovmf".into());
                options.insert("efidisk0".into(), format!("{}:1", self.disk_store));
                options.insert("scsihw".into(), "virtio-scsi-pci".into());
                options.insert(
                    "scsi0".into(),
                    format!("{}:0,import-from={}", self.disk_store, self.image_volid),
                );
                options.insert("scsi1".into(), format!("{iso_volid},media=cdrom"));
                options.insert(
                    "net0".into(),
                    format!("virtio={},bridge={}", mac_of(&m.name, &n.name), self.bridge),
                );
                options.insert("cores".into(), n.cores().to_string());
                options.insert("memory".into(), n.memory_mb().to_string());
                options.insert("cpu".into(), if emulated { "max" } else { "host" }.into());
                options.insert("kvm".into(), if emulated { "0" } else { "1" }.into());
                options.insert("boot".into(), "order=scsi0".into());
                options.insert("ostype".into(), "l26".into());
                options.insert("serial0".into(), "socket".into());
                options.insert("onboot".into(), "1".into());
                let mut attempt = 0;
                let vmid = loop {
                    let vmid = pve.next_vmid(call).await.map_err(|e| pve_err(&step, e))?;
                    match pve.qemu_create(host, vmid, &options, call).await {
                        Ok(upid) => {
                            // The id is ours from here on: a failure below leaves a VM the
                            // next apply finds by name.
                            record(vmid);
                            task(pve, &step, host, upid, long).await?;
                            break vmid;
                        }
                        Err(e) if e.kind() == ErrorKind::AlreadyExists && attempt < 5 => {
                            attempt += 1;
                        }
                        Err(e) => return Err(pve_err(&step, e)),
                    }
                };
                let size = format!("{}G", n.disk_gb());
                if let Some(upid) = pve
                    .qemu_resize(host, vmid, "scsi0", &size, call)
                    .await
                    .map_err(|e| pve_err(&step, e))?
                {
                    task(pve, &step, host, upid, long).await?;
                }
                (vmid, false)
            }
        };
        record(vmid);
        if !running {
            let upid = pve
                .qemu_start(host, vmid, call)
                .await
                .map_err(|e| pve_err(&step, e))?;
            task(pve, &step, host, upid, long).await?;
        }
        if let Ok(mut p) = shared.lock() {
            p.mark(&step);
        }
        Ok(())
    }
}

/// The NoCloud files for `n`.
fn nocloud(m: &Cluster, n: &NodeConfig, config: &str) -> Step<NocloudFiles> {
    let fail = |e: String| StepError::new("cidata", ErrorKind::Fatal, e);
    let network = m.network.as_ref();
    let prefix = network.map(|n| prefix_of(&n.cidr)).unwrap_or(24);
    Ok(NocloudFiles {
        user_data: config.to_string(),
        meta_data: meta_data(&n.name, &vm_name(&m.name, &n.name))
            .map_err(|e| fail(e.to_string()))?,
        network_config: Some(
            network_config_v1(&StaticNetwork {
                interface: "eth0".into(),
                mac_address: Some(mac_of(&m.name, &n.name).to_lowercase()),
                address: format!("{}/{prefix}", n.address),
                gateway: network.and_then(|n| n.gateway.known().cloned()),
                nameservers: network
                    .and_then(|n| n.nameservers.known().cloned())
                    .unwrap_or_default(),
            })
            .map_err(|e| fail(e.to_string()))?,
        ),
    })
}

/// Gives each host in maintenance mode its config (`instances` placement). A node that
/// already answers with the cluster's certificates is configured already.
async fn configure_instances(
    m: &Cluster,
    configs: &[String],
    creds: &Credentials,
    progress: &mut Progress,
    cancel: &CancellationToken,
    deadline: Instant,
) -> Step<()> {
    for (n, config) in m.node.iter().zip(configs) {
        let step = format!("apply config {}", n.name);
        let client = talos::Client::new(&n.address, creds).map_err(|e| talos_err(&step, e))?;
        let quick = Call::new(cancel, Duration::from_secs(5));
        if client.version(&quick).await.is_ok() {
            progress.mark(&step);
            continue;
        }
        retry(&step, deadline, cancel, || async {
            let mc = MaintenanceClient::new(&n.address).map_err(|e| talos_err(&step, e))?;
            mc.apply_configuration(config, ApplyMode::Auto, &Call::new(cancel, defaults::CALL))
                .await
                .map(|_| ())
                .map_err(|e| talos_err(&step, e))
        })
        .await?;
        progress.mark(&step);
    }
    Ok(())
}

/// Waits for apid on every node, bootstraps once, waits for every etcd member, fetches the
/// kubeconfig, and waits until every node is Ready and Flux's controllers exist.
async fn health_gate(
    m: &Cluster,
    creds: &Credentials,
    progress: &mut Progress,
    cancel: &CancellationToken,
    deadline: Instant,
) -> Step<(String, Vec<String>)> {
    let call = || Call::new(cancel, defaults::CALL);
    let clients = m
        .node
        .iter()
        .map(|n| talos::Client::new(&n.address, creds).map_err(|e| talos_err("apid", e)))
        .collect::<Step<Vec<_>>>()?;
    for (n, c) in m.node.iter().zip(&clients) {
        let step = format!("apid {}", n.name);
        retry(&step, deadline, cancel, || async {
            c.version(&call())
                .await
                .map(|_| ())
                .map_err(|e| talos_err(&step, e))
        })
        .await?;
        progress.mark(&step);
    }
    let first = &clients[0];
    // Bootstrap exactly once: not when any node already lists etcd members.
    // etcd's client waits for etcd to come up (WaitForReady), so a node without etcd holds
    // the call until its deadline: a short one, and every node is asked at once, so a fresh
    // cluster waits one such deadline, not one per node.
    let probes = clients.iter().map(|c| async move {
        let quick = Call::new(cancel, defaults::MEMBER_LIST);
        c.etcd_member_list(&quick)
            .await
            .is_ok_and(|members| !members.is_empty())
    });
    let has_members = futures_util::future::join_all(probes)
        .await
        .into_iter()
        .any(|listed| listed);
    if !has_members {
        retry("bootstrap", deadline, cancel, || async {
            match first.bootstrap(&call()).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(talos_err("bootstrap", e)),
            }
        })
        .await?;
    }
    progress.mark("bootstrap");
    // Every node of the configuration by name, not a count: a node that is leaving, or a
    // member of another run, must not stand in for one that has not joined yet. etcd names a
    // member after its node's hostname, which is the node's name here.
    let want: Vec<&str> = m.node.iter().map(|n| n.name.as_str()).collect();
    retry("etcd", deadline, cancel, || async {
        let members = first
            .etcd_member_list(&call())
            .await
            .map_err(|e| talos_err("etcd", e))?;
        let missing: Vec<&str> = want
            .iter()
            .copied()
            .filter(|w| !members.iter().any(|m| m.hostname == *w))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(StepError::new(
                "etcd",
                ErrorKind::Transient,
                format!(
                    "etcd has {} of {} members; waiting for {}",
                    want.len() - missing.len(),
                    want.len(),
                    missing.join(", ")
                ),
            ))
        }
    })
    .await?;
    progress.mark("etcd");
    let kubeconfig = retry("kubeconfig", deadline, cancel, || async {
        first
            .kubeconfig(&call())
            .await
            .map_err(|e| talos_err("kubeconfig", e))
    })
    .await?;
    progress.mark("kubeconfig");
    let kc = kube::Client::from_kubeconfig(&kubeconfig).map_err(|e| kube_err("kubernetes", e))?;
    let ready = retry("nodes ready", deadline, cancel, || async {
        let nodes = kc
            .nodes(&call())
            .await
            .map_err(|e| kube_err("nodes ready", e))?;
        let ready: Vec<String> = nodes
            .iter()
            .filter(|n| n.ready)
            .map(|n| n.name.clone())
            .collect();
        let waiting: Vec<String> = want
            .iter()
            .filter(|w| !ready.iter().any(|r| r == *w))
            .map(|w| match nodes.iter().find(|n| n.name == *w) {
                Some(n) => format!("{w} ({})", n.ready_message),
                None => format!("{w} (not registered yet)"),
            })
            .collect();
        if waiting.is_empty() {
            Ok(ready)
        } else {
            Err(StepError::new(
                "nodes ready",
                ErrorKind::Transient,
                format!(
                    "{} of {} nodes Ready; waiting for {}",
                    want.len() - waiting.len(),
                    want.len(),
                    waiting.join(", ")
                ),
            ))
        }
    })
    .await?;
    progress.mark("nodes ready");
    if m.gitops.is_some() {
        for (name, _) in manifests::FLUX_CONTROLLERS {
            let step = format!("flux {name}");
            retry(&step, deadline, cancel, || async {
                match kc
                    .deployment(manifests::FLUX_NAMESPACE, name, &call())
                    .await
                {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => Err(StepError::new(
                        &step,
                        ErrorKind::Transient,
                        format!("deployment flux-system/{name} does not exist yet"),
                    )),
                    Err(e) => Err(kube_err(&step, e)),
                }
            })
            .await?;
        }
        progress.mark("flux");
    }
    Ok((kubeconfig, ready))
}

/// What the state already holds that a run builds on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Known<'a> {
    /// The state's talosconfig, kept while the node addresses stay the same.
    pub talosconfig: Option<&'a str>,
    /// The state's kubeconfig: the Kubernetes API that leaving nodes are deleted from.
    pub kubeconfig: Option<&'a str>,
}

/// Creates (or finishes creating, or updates) the cluster `m` describes, with `secrets`:
/// first the nodes in `progress.leaving` go, then the missing VMs are made and the health
/// gate waits for every node of `m`.
pub async fn create(
    m: &Cluster,
    secrets: &MachineSecrets,
    known: Known<'_>,
    progress: &mut Progress,
    cancel: &CancellationToken,
    deadline: Instant,
) -> Step<Created> {
    let configs = machine_configs(m, secrets)?;
    let (talosconfig, creds) = talos_access(m, secrets, known.talosconfig)?;
    progress.mark("configs");
    super::remove::remove_nodes(m, &creds, known.kubeconfig, progress, cancel, deadline).await?;
    match m.placement() {
        "instances" => configure_instances(m, &configs, &creds, progress, cancel, deadline).await?,
        _ => place_on_proxmox(m, &configs, progress, cancel, deadline).await?,
    }
    let (kubeconfig, ready) = health_gate(m, &creds, progress, cancel, deadline).await?;
    let nodes = m
        .node
        .iter()
        .map(|n| {
            let (host, vmid) = progress.vms.get(&n.name).cloned().unwrap_or_default();
            NodeStatus {
                name: n.name.clone(),
                address: n.address.clone(),
                host: if host.is_empty() {
                    n.address.clone()
                } else {
                    host
                },
                vmid,
                ready: ready.contains(&n.name),
            }
        })
        .collect();
    Ok(Created {
        endpoint: m
            .node
            .first()
            .map(|n| n.address.clone())
            .unwrap_or_default(),
        kubeconfig,
        talosconfig,
        nodes,
    })
}

/// Which of the state's VMs still exist, as the Proxmox VE API reports them.
pub async fn observe_vms(
    m: &Cluster,
    nodes: &[NodeStatus],
    cancel: &CancellationToken,
) -> Step<Vec<NodeStatus>> {
    let pve = pve_client(m)?;
    let call = Call::new(cancel, defaults::CALL);
    let mut seen = Vec::new();
    for n in nodes {
        match pve.qemu_status(&n.host, n.vmid, &call).await {
            Ok(_) => seen.push(n.clone()),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                tracing::info!(node = %n.name, vmid = n.vmid, "talos cluster: vm is gone");
            }
            Err(e) => return Err(pve_err("read", e)),
        }
    }
    Ok(seen)
}

/// Stops and destroys the VMs, their `cidata` ISOs and, when asked, the images.
pub async fn destroy(
    m: &Cluster,
    nodes: &[NodeStatus],
    cancel: &CancellationToken,
    deadline: Instant,
) -> Step<()> {
    let pve = pve_client(m)?;
    let call = Call::new(cancel, defaults::CALL);
    let long = Call::new(cancel, deadline.saturating_duration_since(Instant::now()));
    let p = m.proxmox.as_ref();
    let iso_store = p
        .map(|p| storage(&p.iso_storage, defaults::ISO_STORAGE))
        .unwrap_or_default();
    for n in nodes {
        destroy_vm(&pve, m, n, &iso_store, &call, &long).await?;
    }
    if m.delete_images.known().copied().unwrap_or(false) {
        let store = p
            .map(|p| storage(&p.image_storage, defaults::IMAGE_STORAGE))
            .unwrap_or_default();
        let volid = format!("{store}:import/{}", image_file(m));
        let mut hosts: Vec<&str> = nodes.iter().map(|n| n.host.as_str()).collect();
        hosts.sort();
        hosts.dedup();
        for host in hosts {
            delete_volume(&pve, host, &store, &volid, &call, &long).await?;
        }
    }
    Ok(())
}

/// Stops and destroys node `n`'s VM (a VM by that id whose name is not this node's is
/// someone else's, and left alone), then deletes its `cidata` ISO from `iso_store`. A VM or
/// ISO already gone counts as done.
pub(super) async fn destroy_vm(
    pve: &proxmox::Client,
    m: &Cluster,
    n: &NodeStatus,
    iso_store: &str,
    call: &Call,
    long: &Call,
) -> Step<()> {
    let step = format!("destroy vm {}", n.name);
    if stop_vm(pve, m, n, call, long).await? {
        let upid = pve
            .qemu_delete(&n.host, n.vmid, true, call)
            .await
            .map_err(|e| pve_err(&step, e))?;
        task(pve, &step, &n.host, upid, long).await?;
    }
    let iso = format!("{iso_store}:iso/{}", cidata_file(m, &n.name));
    delete_volume(pve, &n.host, iso_store, &iso, call, long).await
}

/// Stops node `n`'s VM if it runs. `false` when there is no such VM (gone, or the id now
/// names another VM).
pub(super) async fn stop_vm(
    pve: &proxmox::Client,
    m: &Cluster,
    n: &NodeStatus,
    call: &Call,
    long: &Call,
) -> Step<bool> {
    let step = format!("stop vm {}", n.name);
    let st = match pve.qemu_status(&n.host, n.vmid, call).await {
        Ok(st) => st,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(pve_err(&step, e)),
    };
    let ours = vm_name(&m.name, &n.name);
    if st.name.as_deref().is_some_and(|name| name != ours) {
        tracing::info!(node = %n.name, vmid = n.vmid, "talos cluster: the vm id now names another vm; left alone");
        return Ok(false);
    }
    if st.running() {
        let upid = pve
            .qemu_stop(&n.host, n.vmid, call)
            .await
            .map_err(|e| pve_err(&step, e))?;
        task(pve, &step, &n.host, upid, long).await?;
    }
    Ok(true)
}

async fn delete_volume(
    pve: &proxmox::Client,
    host: &str,
    store: &str,
    volid: &str,
    call: &Call,
    long: &Call,
) -> Step<()> {
    let step = format!("delete {volid}");
    let volume = volid.split_once(':').map(|(_, v)| v).unwrap_or(volid);
    match pve.storage_delete(host, store, volume, call).await {
        Ok(Some(upid)) => task(pve, &step, host, upid, long).await,
        Ok(None) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(pve_err(&step, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_stable_per_node_and_in_proxmoxs_prefix() {
        let a = mac_of("lab", "cp-1");
        assert_eq!(a, mac_of("lab", "cp-1"));
        assert_ne!(a, mac_of("lab", "cp-2"));
        assert!(a.starts_with("BC:24:11:") && a.len() == 17, "{a}");
    }

    #[test]
    fn prefixes_come_from_the_network_cidr() {
        assert_eq!(prefix_of("10.0.1.0/24"), 24);
        assert_eq!(prefix_of("127.20.0.0/16"), 16);
        assert_eq!(prefix_of("nonsense"), 24);
    }
}
