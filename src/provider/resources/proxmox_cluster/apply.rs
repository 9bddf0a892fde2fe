//! Forming the cluster: the steps of create and update, each one first asking the hosts
//! whether it is done already, so an apply that failed, or a provider that was killed, resumes
//! where it stopped, never running `pvecm create` twice or repeating a join.
//!
//! Commands and their order follow the Proxmox VE admin guide (`pvecm.adoc`, `pveceph.adoc`)
//! and `pve-manager`/`pve-cluster`'s code:
//! - `pvecm create NAME` on the first node; `pvecm add FIRST --fingerprint FP --link0 ADDR`
//!   on each other node, one at a time (a join takes the cluster-wide corosync.conf lock and
//!   raises the expected votes), root's password on stdin. The join password is a fresh
//!   random one, set with `chpasswd` on the first node: cloud images ship root without one.
//! - `pvecm qdevice setup BASTION` once `corosync-qnetd` runs on the bastion and
//!   `corosync-qdevice` on the nodes, for an even node count.
//! - `pveceph install`, then `pveceph init --network`, a monitor per node (one at a time: each
//!   takes the cfs lock on ceph.conf; the first also makes a manager), a manager per node, an
//!   OSD per node on its boot volume's tail (`sfdisk --append --no-reread`, `partx --add`,
//!   `ceph-volume lvm create --data`: `pveceph osd create` takes only whole unused disks), a
//!   pool, then HEALTH_OK.
//! - An API token for root@pam, without privilege separation, for Layer 3.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::model::{defaults, Cluster, NodeConfig, NodeStatus};
use crate::clients::proxmox::{Call, Client, Fingerprint};
use crate::clients::ssh::{self, HostKeyPolicy, Output, Pool, Target};
use crate::clients::ErrorKind;
use crate::provider::resources::steps;

/// A step that failed: where, what, and what kind of failure.
#[derive(Debug, Clone)]
pub struct StepError {
    /// The step's name (`join ampere-2`, `ceph osd`).
    pub step: String,
    /// The host, when one was involved.
    pub host: Option<String>,
    /// What happened, with what to do.
    pub message: String,
    /// How it failed.
    pub kind: ErrorKind,
}

impl StepError {
    pub(super) fn new(
        step: &str,
        host: Option<&str>,
        kind: ErrorKind,
        message: impl Into<String>,
    ) -> Self {
        StepError {
            step: step.to_string(),
            host: host.map(str::to_string),
            message: message.into(),
            kind,
        }
    }
}

pub(super) type Step<T> = Result<T, StepError>;

/// Which steps finished, kept in private state so the next apply can tell what it resumes.
#[derive(Debug, Default, Clone)]
pub struct Progress {
    pub done: Vec<String>,
}

impl Progress {
    pub(super) fn mark(&mut self, step: &str) {
        tracing::info!(step, "proxmox cluster: step done");
        if !self.done.iter().any(|d| d == step) {
            self.done.push(step.to_string());
        }
    }
}

/// One host to reach over SSH.
#[derive(Clone)]
pub(super) struct Host {
    pub(super) name: String,
    target: Target,
}

/// The hosts of a run, and one pooled SSH connection to each.
pub struct Hosts {
    pool: Pool,
    pub(super) nodes: Vec<Host>,
    /// Nodes the configuration no longer names, which an update takes out of the cluster.
    pub(super) leaving: Vec<Host>,
    qdevice: Option<Host>,
    cancel: CancellationToken,
}

impl Hosts {
    /// The hosts `m` names, and the `leaving` ones, with the key and host-key policy `m` gives.
    pub fn new(m: &Cluster, leaving: &[NodeConfig], cancel: &CancellationToken) -> Step<Hosts> {
        let key_text = m.ssh_private_key.known().cloned().unwrap_or_default();
        let key = ssh::parse_private_key(&key_text).map_err(|e| {
            StepError::new(
                "ssh key",
                None,
                ErrorKind::Fatal,
                format!("ssh_private_key is not an OpenSSH private key ({e}); give the file `ssh-keygen -t ed25519` writes"),
            )
        })?;
        let key = Arc::new(key);
        let tofu = m.trust_on_first_use.known().copied().unwrap_or(false);
        let policy = |name: &str, pinned: Option<&String>| -> Step<HostKeyPolicy> {
            match pinned {
                Some(line) => ssh::parse_public_key(line)
                    .map(HostKeyPolicy::Pinned)
                    .map_err(|e| {
                        StepError::new(
                            "host key",
                            Some(name),
                            ErrorKind::Fatal,
                            format!("host_key is not an OpenSSH public key line ({e})"),
                        )
                    }),
                None if tofu => Ok(HostKeyPolicy::TrustOnFirstUse),
                None => Err(StepError::new(
                    "host key",
                    Some(name),
                    ErrorKind::Fatal,
                    "no host_key is given and trust_on_first_use is false: give the host's public key (Layer 1 outputs it), or set trust_on_first_use = true",
                )),
            }
        };
        let host = |n: &NodeConfig| -> Step<Host> {
            Ok(Host {
                name: n.name.clone(),
                target: Target {
                    host: n.address.clone(),
                    port: n.port(),
                    user: n.user(),
                    key: key.clone(),
                    host_key: policy(&n.name, n.host_key.known())?,
                },
            })
        };
        let nodes = m.node.iter().map(host).collect::<Step<Vec<_>>>()?;
        let leaving = leaving.iter().map(host).collect::<Step<Vec<_>>>()?;
        let qdevice = match &m.qdevice {
            Some(q) => Some(Host {
                name: format!("qdevice {}", q.address),
                target: Target {
                    host: q.address.clone(),
                    port: q.ssh_port.known().copied().unwrap_or(22),
                    user: q.ssh_user.known().cloned().unwrap_or_else(|| "root".into()),
                    key: key.clone(),
                    host_key: policy("qdevice", q.host_key.known())?,
                },
            }),
            None => None,
        };
        Ok(Hosts {
            pool: Pool::new(ssh::Options::default()),
            nodes,
            leaving,
            qdevice,
            cancel: cancel.clone(),
        })
    }

    pub(super) async fn exec_on(
        &self,
        h: &Host,
        step: &str,
        cmd: &str,
        stdin: Option<&[u8]>,
    ) -> Step<Output> {
        tracing::debug!(host = %h.name, step, "proxmox cluster: ssh");
        let start = steps::now_ms();
        let out = self
            .pool
            .exec(&h.target, cmd, stdin, defaults::COMMAND, &self.cancel)
            .await
            .map_err(|e| StepError::new(step, Some(&h.name), e.kind(), e.to_string()));
        // A command that ran counts as done: its exit status may be a probe's answer.
        steps::record(
            "freetier_proxmox_cluster",
            step,
            &h.name,
            start,
            out.is_ok(),
        );
        out
    }

    /// Runs `cmd` on node `i`; a non-zero exit is an error quoting stderr.
    pub(super) async fn must(
        &self,
        i: usize,
        step: &str,
        cmd: &str,
        stdin: Option<&[u8]>,
    ) -> Step<String> {
        self.must_on(&self.nodes[i], step, cmd, stdin).await
    }

    /// Runs `cmd` on `h`; a non-zero exit is an error quoting stderr.
    pub(super) async fn must_on(
        &self,
        h: &Host,
        step: &str,
        cmd: &str,
        stdin: Option<&[u8]>,
    ) -> Step<String> {
        let out = self.exec_on(h, step, cmd, stdin).await?;
        if out.success() {
            Ok(out.stdout_text().to_string())
        } else {
            let err = out.stderr_text().trim().to_string();
            let shown = if err.is_empty() {
                out.stdout_text().trim().to_string()
            } else {
                err
            };
            Err(StepError::new(
                step,
                Some(&h.name),
                ErrorKind::Fatal,
                format!(
                    "`{cmd}` exited {}: {shown}",
                    out.code
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "without a code".into())
                ),
            ))
        }
    }

    /// Runs `cmd` on node `i` and returns its output whatever the exit code.
    pub(super) async fn run(&self, i: usize, step: &str, cmd: &str) -> Step<Output> {
        self.exec_on(&self.nodes[i], step, cmd, None).await
    }

    pub(super) fn cancelled(&self, step: &str) -> Step<()> {
        if self.cancel.is_cancelled() {
            Err(StepError::new(
                step,
                None,
                ErrorKind::Cancelled,
                "Terraform asked the provider to stop",
            ))
        } else {
            Ok(())
        }
    }

    /// Each host's key as seen (after trust on first use), OpenSSH line.
    async fn host_key(&self, i: usize) -> Step<String> {
        let h = &self.nodes[i];
        self.pool
            .session(&h.target, &self.cancel)
            .await
            .map(|s| s.host_key_openssh())
            .map_err(|e| StepError::new("connect", Some(&h.name), e.kind(), e.to_string()))
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close_all().await;
    }
}

/// What a finished create or update hands back to the state.
pub struct Formed {
    pub api_url: String,
    pub token_id: String,
    pub token_secret: String,
    pub fingerprints: BTreeMap<String, String>,
    pub status: Observed,
}

/// What the cluster reports about itself.
#[derive(Debug, Clone)]
pub struct Observed {
    pub quorate: bool,
    pub ceph_health: String,
    pub nodes: Vec<NodeStatus>,
}

fn random_secret() -> String {
    let mut b = [0u8; 18];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SHA-256 of a PEM certificate's DER, as Proxmox prints fingerprints (`AA:BB:…`).
fn pem_fingerprint(pem: &str) -> Option<String> {
    use base64::Engine;
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    Some(Fingerprint::of(&der).to_string())
}

/// The cluster name `pvecm status` reports, if the node is in one.
fn cluster_name(status: &Output) -> Option<String> {
    if !status.success() {
        return None;
    }
    status
        .stdout_text()
        .lines()
        .find_map(|l| l.strip_prefix("Name:").map(|n| n.trim().to_string()))
}

fn quorate(status: &str) -> bool {
    status
        .lines()
        .any(|l| l.starts_with("Quorate:") && l.trim_end().ends_with("Yes"))
}

/// Forms (or finishes forming) the cluster `m` describes. `progress` records each step.
pub async fn form(m: &Cluster, hosts: &Hosts, progress: &mut Progress) -> Step<Formed> {
    let first = 0;
    // Reach every node, checking host keys, sudo and that Proxmox VE is there.
    let checks = (0..hosts.nodes.len()).map(|i| async move {
        // A new node installs Proxmox VE from Layer 1's cloud-init at first boot, which takes
        // minutes: wait for it to finish (exit 0 done, 2 done with recoverable errors, 1
        // failed; https://cloudinit.readthedocs.io/en/latest/explanation/return_codes.html).
        let init = hosts.run(i, "connect", "cloud-init status --wait").await?;
        if init.code == Some(1) {
            return Err(StepError::new(
                "connect",
                Some(&hosts.nodes[i].name),
                ErrorKind::Fatal,
                "cloud-init failed on this host, so Proxmox VE may not be installed: read \
                 /var/log/cloud-init-output.log there, fix the cause, and apply again",
            ));
        }
        let out = hosts.must(i, "connect", "pveversion", None).await?;
        if !out.starts_with("pve-manager/") {
            return Err(StepError::new(
                "connect",
                Some(&hosts.nodes[i].name),
                ErrorKind::Fatal,
                format!(
                    "this host does not run Proxmox VE (`pveversion` said: {})",
                    out.trim()
                ),
            ));
        }
        let kvm = hosts.run(i, "kvm", "test -e /dev/kvm").await?.success();
        let key = hosts.host_key(i).await?;
        Ok::<_, StepError>((kvm, key))
    });
    let checked = futures_util::future::try_join_all(checks).await?;
    progress.mark("connect");

    // Ceph's packages take the longest of any step and need only the node itself: they go on
    // while the cluster forms, whose joins must stay one at a time.
    let installs = async {
        if m.ceph.is_none() {
            return Ok(Vec::new());
        }
        futures_util::future::try_join_all((0..hosts.nodes.len()).map(|i| install_ceph(hosts, i)))
            .await
    };
    let (membership, installed) = tokio::join!(membership(m, hosts, first, progress), installs);
    membership?;
    installed?;

    // Ceph.
    if let Some(ceph) = &m.ceph {
        progress.mark("ceph install");
        // Replicas: one per node up to three, one fewer still writable (at least one). They
        // go into ceph.conf's pool defaults too, so Ceph's own pools (`.mgr`) match and a
        // two-node cluster reports no TOO_FEW_OSDS.
        let size = hosts.nodes.len().min(3);
        let min_size = size.saturating_sub(1).max(1);
        if !hosts
            .run(first, "ceph init", "cat /etc/pve/ceph.conf")
            .await?
            .success()
        {
            hosts
                .must(
                    first,
                    "ceph init",
                    &format!(
                        "pveceph init --network {} --size {size} --min_size {min_size}",
                        ssh::shell_quote(&ceph.public_network)
                    ),
                    None,
                )
                .await?;
        }
        progress.mark("ceph init");
        for i in 0..hosts.nodes.len() {
            let step = format!("ceph mon {}", hosts.nodes[i].name);
            hosts.cancelled(&step)?;
            let out = hosts.run(i, &step, "pveceph mon create").await?;
            let exists = out.stderr_text().contains("already exists");
            if !out.success() && !exists {
                return Err(StepError::new(
                    &step,
                    Some(&hosts.nodes[i].name),
                    ErrorKind::Fatal,
                    out.stderr_text().trim().to_string(),
                ));
            }
            let out = hosts.run(i, &step, "pveceph mgr create").await?;
            if !out.success() && !out.stderr_text().contains("already exists") {
                return Err(StepError::new(
                    &step,
                    Some(&hosts.nodes[i].name),
                    ErrorKind::Fatal,
                    out.stderr_text().trim().to_string(),
                ));
            }
            progress.mark(&step);
        }
        let osds = (0..hosts.nodes.len()).map(|i| osd_on_tail(hosts, i));
        futures_util::future::try_join_all(osds).await?;
        progress.mark("ceph osd");
        let name = m.pool_name().unwrap_or_default();
        let pools = hosts
            .must(first, "ceph pool", "ceph osd pool ls", None)
            .await?;
        if !pools.lines().any(|l| l.trim() == name) {
            hosts
                .must(
                    first,
                    "ceph pool",
                    &format!(
                        "pveceph pool create {} --size {size} --min_size {min_size} --add_storages",
                        ssh::shell_quote(&name)
                    ),
                    None,
                )
                .await?;
        }
        progress.mark("ceph pool");
        let accepted = ceph.accepted_warnings.known().cloned().unwrap_or_default();
        wait_health(hosts, first, &accepted).await?;
        progress.mark("ceph health");
    }

    // Fingerprints (joins replaced every joined node's certificate) and the API token.
    let mut fingerprints = BTreeMap::new();
    for i in 0..hosts.nodes.len() {
        let pem = hosts
            .must(i, "fingerprints", "cat /etc/pve/local/pve-ssl.pem", None)
            .await?;
        if let Some(fp) = pem_fingerprint(&pem) {
            fingerprints.insert(hosts.nodes[i].name.clone(), fp);
        }
    }
    let (token_id, token_secret) = api_token(m, hosts, first).await?;
    progress.mark("api token");
    let api_url = format!("https://{}:8006/api2/json", m.node[first].address);
    let fp = fingerprints
        .get(&hosts.nodes[first].name)
        .cloned()
        .unwrap_or_default();
    let client = Client::new(&api_url, &token_id, &token_secret, &fp).map_err(|e| {
        StepError::new(
            "api",
            Some(&hosts.nodes[first].name),
            e.kind(),
            e.to_string(),
        )
    })?;
    let mut status = observe(&client, m, &hosts.cancel).await?;
    for (s, (kvm, key)) in status.nodes.iter_mut().zip(checked) {
        s.kvm_available = kvm;
        s.host_key = key;
    }
    Ok(Formed {
        api_url,
        token_id,
        token_secret,
        fingerprints,
        status,
    })
}

/// The cluster on the first node, every other node joined one at a time, and the QDevice.
async fn membership(m: &Cluster, hosts: &Hosts, first: usize, progress: &mut Progress) -> Step<()> {
    // The cluster on the first node.
    let status = hosts.run(first, "cluster create", "pvecm status").await?;
    match cluster_name(&status) {
        Some(n) if n == m.name => {}
        Some(other) => {
            return Err(StepError::new(
                "cluster create",
                Some(&hosts.nodes[first].name),
                ErrorKind::Fatal,
                format!("this node is already in cluster '{other}'; name this resource '{other}' to adopt it, or take the node out of that cluster first"),
            ))
        }
        None => {
            hosts.cancelled("cluster create")?;
            hosts
                .must(first, "cluster create", &format!("pvecm create {}", ssh::shell_quote(&m.name)), None)
                .await?;
        }
    }
    progress.mark("cluster create");

    // Joins, one at a time.
    let mut join_password: Option<String> = None;
    for i in 1..hosts.nodes.len() {
        let step = format!("join {}", hosts.nodes[i].name);
        hosts.cancelled(&step)?;
        let status = hosts.run(i, &step, "pvecm status").await?;
        match cluster_name(&status) {
            Some(n) if n == m.name => {
                progress.mark(&step);
                continue;
            }
            Some(other) => {
                return Err(StepError::new(
                    &step,
                    Some(&hosts.nodes[i].name),
                    ErrorKind::Fatal,
                    format!(
                    "this node is in another cluster, '{other}'; take it out of that cluster first"
                ),
                ))
            }
            None => {}
        }
        // A node taken out with `pvecm delnode` while it ran keeps its corosync
        // configuration, and `pvecm add` refuses it: separate it, and drop the directories it
        // kept of the other nodes (pvecm.adoc, "Separate a Node Without Reinstalling").
        if hosts
            .run(i, &step, "test -e /etc/corosync/corosync.conf")
            .await?
            .success()
        {
            hosts.must(i, &step, super::remove::SEPARATE, None).await?;
            for other in hosts.nodes.iter().filter(|n| n.name != hosts.nodes[i].name) {
                hosts
                    .must(
                        i,
                        &step,
                        &format!("rm -rf /etc/pve/nodes/{}", ssh::shell_quote(&other.name)),
                        None,
                    )
                    .await?;
            }
        }
        let pem = hosts
            .must(first, &step, "cat /etc/pve/local/pve-ssl.pem", None)
            .await?;
        let fp = pem_fingerprint(&pem).ok_or_else(|| {
            StepError::new(
                &step,
                Some(&hosts.nodes[first].name),
                ErrorKind::Fatal,
                "/etc/pve/local/pve-ssl.pem holds no certificate",
            )
        })?;
        let password = match &join_password {
            Some(p) => p.clone(),
            None => {
                let p = random_secret();
                hosts
                    .must(
                        first,
                        &step,
                        "chpasswd",
                        Some(format!("root:{p}\n").as_bytes()),
                    )
                    .await?;
                join_password = Some(p.clone());
                p
            }
        };
        let cmd = format!(
            "pvecm add {} --fingerprint {} --link0 {}",
            ssh::shell_quote(&m.node[first].address),
            fp,
            ssh::shell_quote(&m.node[i].address)
        );
        hosts
            .must(i, &step, &cmd, Some(format!("{password}\n").as_bytes()))
            .await?;
        wait_quorum(hosts, first, &step, i + 1).await?;
        progress.mark(&step);
    }

    // A QDevice for an even count; none for an odd one, where it would only add a vote that
    // can split the cluster (pvecm.adoc, "Corosync External Vote Support").
    if !hosts.nodes.len().is_multiple_of(2) {
        let status = hosts.must(first, "qdevice", "pvecm status", None).await?;
        if status.contains("Qdevice") {
            hosts
                .must(first, "qdevice", "pvecm qdevice remove", None)
                .await?;
        }
    } else {
        if let Some(q) = &hosts.qdevice {
            let step = "qdevice";
            let status = hosts.must(first, step, "pvecm status", None).await?;
            if !status.contains("Qdevice") {
                let out = hosts
                    .exec_on(q, step, "apt-get install -y corosync-qnetd", None)
                    .await?;
                if !out.success() {
                    return Err(StepError::new(
                        step,
                        Some(&q.name),
                        ErrorKind::Fatal,
                        format!(
                            "installing corosync-qnetd failed: {}",
                            out.stderr_text().trim()
                        ),
                    ));
                }
                let installs = (0..hosts.nodes.len())
                    .map(|i| hosts.must(i, step, "apt-get install -y corosync-qdevice", None));
                futures_util::future::try_join_all(installs).await?;
                hosts
                    .must(
                        first,
                        step,
                        &format!("pvecm qdevice setup {}", ssh::shell_quote(&q.target.host)),
                        None,
                    )
                    .await?;
            }
            progress.mark(step);
        }
    }

    Ok(())
}

/// Ceph's packages on node `i`, unless they are there already (an install takes minutes).
async fn install_ceph(hosts: &Hosts, i: usize) -> Step<()> {
    let step = "ceph install";
    if hosts
        .run(i, step, "test -x /usr/bin/ceph-mon")
        .await?
        .success()
    {
        return Ok(());
    }
    hosts
        .must(
            i,
            step,
            "pveceph install --repository no-subscription --version tentacle",
            None,
        )
        .await?;
    Ok(())
}

/// Waits until the first node reports quorum with `members` nodes.
pub(super) async fn wait_quorum(
    hosts: &Hosts,
    first: usize,
    step: &str,
    members: usize,
) -> Step<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        // While corosync settles, `pvecm status` may fail: that is "not yet", until the deadline.
        let status = match hosts.must(first, step, "pvecm status", None).await {
            Ok(s) => s,
            Err(e) if e.kind == ErrorKind::Cancelled => return Err(e),
            Err(e) if tokio::time::Instant::now() > deadline => return Err(e),
            Err(_) => {
                tokio::time::sleep(defaults::POLL).await;
                continue;
            }
        };
        let nodes = status
            .lines()
            .find_map(|l| l.strip_prefix("Nodes:"))
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if quorate(&status) && nodes >= members {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(StepError::new(step, Some(&hosts.nodes[first].name), ErrorKind::Transient, format!("the cluster did not become quorate with {members} nodes within 5 minutes; `pvecm status` on the first node shows why")));
        }
        hosts.cancelled(step)?;
        tokio::time::sleep(defaults::POLL).await;
    }
}

/// An OSD on node `i`'s boot volume tail, unless the node has one.
async fn osd_on_tail(hosts: &Hosts, i: usize) -> Step<()> {
    let name = hosts.nodes[i].name.clone();
    let step = format!("ceph osd {name}");
    let tree = hosts
        .must(i, &step, "ceph osd tree --format json", None)
        .await?;
    let tree: serde_json::Value = serde_json::from_str(tree.trim()).unwrap_or_default();
    let has_osd = tree["nodes"].as_array().into_iter().flatten().any(|n| {
        n["type"] == "host"
            && n["name"] == name.as_str()
            && n["children"].as_array().is_some_and(|c| !c.is_empty())
    });
    if has_osd {
        return Ok(());
    }
    let table = hosts.must(i, &step, "sfdisk --json /dev/sda", None).await?;
    let table: serde_json::Value = serde_json::from_str(table.trim()).map_err(|e| {
        StepError::new(
            &step,
            Some(&name),
            ErrorKind::Fatal,
            format!("`sfdisk --json /dev/sda` printed no partition table ({e})"),
        )
    })?;
    // The tail partition: a Linux filesystem partition after the root one.
    let linux_fs = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
    let existing = table["partitiontable"]["partitions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["type"] == linux_fs)
        .and_then(|p| p["node"].as_str())
        .map(str::to_string);
    let part = match existing {
        Some(p) => p,
        None => {
            let out = hosts
                .must(
                    i,
                    &step,
                    "sfdisk --append --no-reread /dev/sda",
                    Some(b",,\n"),
                )
                .await?;
            out.lines()
                .find_map(|l| l.split_once(": Created a new partition "))
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .map(|n| format!("/dev/sda{n}"))
                .ok_or_else(|| {
                    StepError::new(&step, Some(&name), ErrorKind::Fatal, "sfdisk created no partition on the boot volume's tail; is there free space after the root partition?")
                })?
        }
    };
    hosts
        .must(i, &step, "partx --add /dev/sda", None)
        .await
        .or_else(|e| {
            // partx refuses partitions the kernel knows already.
            if e.message.contains("already exists") || e.message.contains("busy") {
                Ok(String::new())
            } else {
                Err(e)
            }
        })?;
    hosts
        .must(
            i,
            &step,
            &format!("ceph-volume lvm create --data {part}"),
            None,
        )
        .await?;
    Ok(())
}

/// Waits for HEALTH_OK, or for warnings that are all in `accepted`.
pub(super) async fn wait_health(hosts: &Hosts, first: usize, accepted: &[String]) -> Step<()> {
    let step = "ceph health";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    loop {
        // A monitor election or a slow mgr makes `ceph health` fail for a while: "not yet".
        let out = match hosts
            .must(first, step, "ceph health --format json", None)
            .await
        {
            Ok(o) => o,
            Err(e) if e.kind == ErrorKind::Cancelled => return Err(e),
            Err(e) if tokio::time::Instant::now() > deadline => return Err(e),
            Err(_) => {
                tokio::time::sleep(defaults::POLL).await;
                continue;
            }
        };
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_default();
        let status = v["status"].as_str().unwrap_or("").to_string();
        let checks: Vec<String> = v["checks"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        if status == "HEALTH_OK"
            || (status == "HEALTH_WARN" && checks.iter().all(|c| accepted.contains(c)))
        {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(StepError::new(
                step,
                Some(&hosts.nodes[first].name),
                ErrorKind::Transient,
                format!("Ceph is {status} after 10 minutes with {}; list a check in ceph.accepted_warnings to accept it, or see `ceph health detail`", checks.join(", ")),
            ));
        }
        hosts.cancelled(step)?;
        tokio::time::sleep(defaults::POLL).await;
    }
}

/// The API token Layer 3 uses, created anew when the state has none.
async fn api_token(m: &Cluster, hosts: &Hosts, first: usize) -> Step<(String, String)> {
    let name = "freetier";
    let id = format!("root@pam!{name}");
    if let (Some(tid), Some(secret)) = (m.api_token_id.known(), m.api_token_secret.known()) {
        if *tid == id && !secret.is_empty() {
            return Ok((id, secret.clone()));
        }
    }
    let _ = hosts
        .run(
            first,
            "api token",
            &format!("pveum user token remove root@pam {name}"),
        )
        .await?;
    let out = hosts
        .must(first, "api token", &format!("pveum user token add root@pam {name} --privsep 0 --comment 'freetier Layer 3' --output-format json"), None)
        .await?;
    let v: serde_json::Value = serde_json::from_str(out.trim()).map_err(|e| {
        StepError::new(
            "api token",
            Some(&hosts.nodes[first].name),
            ErrorKind::Fatal,
            format!("`pveum user token add` printed no JSON ({e})"),
        )
    })?;
    let secret = v["value"].as_str().unwrap_or_default().to_string();
    Ok((id, secret))
}

/// Membership, quorum, Ceph health and capacity, through the API.
pub async fn observe(client: &Client, m: &Cluster, cancel: &CancellationToken) -> Step<Observed> {
    let call = Call::new(cancel, defaults::CALL);
    let api =
        |e: crate::clients::proxmox::Error| StepError::new("read", None, e.kind(), e.to_string());
    let status = client.cluster_status(&call).await.map_err(api)?;
    let nodes = client.nodes(&call).await.map_err(api)?;
    let ceph_health = if m.ceph.is_some() {
        client
            .ceph_status(&call)
            .await
            .map(|s| s.health.status)
            .unwrap_or_else(|_| "unknown".into())
    } else {
        String::new()
    };
    let members: Vec<(String, bool)> = status
        .nodes
        .iter()
        .map(|mb| (mb.name.clone(), mb.online))
        .collect();
    let clustered = status.cluster.is_some();
    let out = m
        .node
        .iter()
        .map(|n| {
            let member = members.iter().find(|(name, _)| *name == n.name);
            let entry = nodes.iter().find(|e| e.node == n.name);
            NodeStatus {
                name: n.name.clone(),
                address: n.address.clone(),
                joined: clustered && member.is_some_and(|(_, online)| *online),
                kvm_available: false,
                host_key: String::new(),
                cpus: entry
                    .and_then(|e| e.maxcpu)
                    .and_then(|c| u32::try_from(c).ok())
                    .unwrap_or(0),
                memory_free_mb: entry
                    .map(|e| {
                        e.maxmem.unwrap_or(0).saturating_sub(e.mem.unwrap_or(0)) / (1024 * 1024)
                    })
                    .unwrap_or(0),
            }
        })
        .collect();
    Ok(Observed {
        quorate: status.quorate(),
        ceph_health,
        nodes: out,
    })
}
