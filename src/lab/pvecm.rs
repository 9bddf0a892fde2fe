//! `pvecm`: create, join, inspect and shrink a Proxmox VE cluster, with the real locking.
//!
//! Sources (research §D.1, §D.3): `proxmox/pve-cluster@7091d92` `src/PVE/CLI/pvecm.pm`,
//! `src/PVE/API2/ClusterConfig.pm` (`addnode`, `$config_change_lock`), `src/PVE/Cluster/Setup.pm`
//! (`assert_joinable`, `join`, `finish_join`), `src/PVE/Cluster.pm` (`cfs_lock`,
//! `check_cfs_quorum`); `proxmox/pve-common` `Tools.pm` (`lock_file`) and `RESTEnvironment.pm`
//! (CLI workers); `proxmox/pve-apiclient` `LWP.pm` (fingerprint checks); `pvecm.adoc` (status).
//!
//! A join (`pvecm add HOST`) runs as a synchronous CLI worker: its output goes to stdout, and a
//! failure prints the error on stderr with exit status 0 — `fork_worker` in CLI mode only prints
//! `TASK ERROR` and `add` returns normally (RESTEnvironment.pm `tee_worker`). Callers must read
//! the output. On the cluster node, `addnode` first checks quorum ("cluster not ready - no
//! quorum?"), then takes the node's `/var/lock/pvecm.lock` (10 s) and, when the cluster has more
//! than one member, the cluster-wide cfs lock `file-corosync_conf` (10 s). The lab holds them
//! for the `step:pvecm.addnode` step, so a second join at the same time fails with
//! "can't lock file '/var/lock/pvecm.lock' - got timeout" or
//! "cfs-lock 'file-corosync_conf' error: got lock request timeout".
//!
//! Membership follows corosync: a member counts while its node is up, runs corosync and still
//! has this cluster's configuration. `delnode` shuts a running node's corosync down
//! (`corosync-cfgtool -k`) and leaves it configured, cut off, until it is separated
//! (`services.rs`); a node already down gets "Could not kill node (error = CS_ERR_NOT_EXIST)".
//! `expected` sets votequorum's expected votes; `qdevice remove` needs every member online.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use super::host::{HostRef, Outcome};
use super::shell::{die, task_error, usage_error, Args, Ctx, Proc};
use super::world::{self, Member};
use super::LabInner;

/// cfs locks by (cluster, file).
type CfsLocks = BTreeMap<(usize, &'static str), Arc<AsyncMutex<()>>>;

/// Local and cluster-wide locks.
pub(crate) struct Locks {
    /// `/var/lock/pvecm.lock` per node.
    local: Vec<Arc<AsyncMutex<()>>>,
    /// cfs locks per (cluster, lock id).
    cfs: std::sync::Mutex<CfsLocks>,
}

impl Locks {
    pub(crate) fn new(nodes: usize) -> Locks {
        Locks {
            local: (0..nodes).map(|_| Arc::new(AsyncMutex::new(()))).collect(),
            cfs: Default::default(),
        }
    }

    fn cfs(&self, cluster: usize, id: &'static str) -> Arc<AsyncMutex<()>> {
        let mut m = self.cfs.lock().unwrap_or_else(|p| p.into_inner());
        m.entry((cluster, id))
            .or_insert_with(|| Arc::new(AsyncMutex::new(())))
            .clone()
    }
}

/// Takes `m` within the scaled 10 s lock timeout.
async fn take(lab: &LabInner, m: Arc<AsyncMutex<()>>) -> Option<OwnedMutexGuard<()>> {
    if let Ok(g) = m.clone().try_lock_owned() {
        return Some(g);
    }
    let d = lab.latency.scaled("lock.timeout", lab.config.time_scale);
    tokio::select! {
        r = tokio::time::timeout(d, m.lock_owned()) => r.ok(),
        _ = lab.cancel.cancelled() => None,
    }
}

/// Takes `node`'s `/var/lock/pvecm.lock` (PVE::Tools::lock_file, 10 s).
pub(crate) async fn local_lock(lab: &LabInner, node: usize) -> Result<OwnedMutexGuard<()>, String> {
    let m = lab
        .locks
        .local
        .get(node)
        .cloned()
        .ok_or_else(|| "no such node".to_string())?;
    take(lab, m)
        .await
        .ok_or_else(|| "can't lock file '/var/lock/pvecm.lock' - got timeout".to_string())
}

/// Takes a cluster-wide cfs lock (`cfs_lock_file`, 10 s); `id` is the file, e.g. `corosync.conf`.
pub(crate) async fn cfs_lock(
    lab: &LabInner,
    cluster: usize,
    id: &'static str,
) -> Result<OwnedMutexGuard<()>, String> {
    let lockid = format!("file-{}", id.replace(['.', '/'], "_"));
    take(lab, lab.locks.cfs(cluster, id))
        .await
        .ok_or_else(|| format!("cfs-lock '{lockid}' error: got lock request timeout"))
}

const NO_CONF: &str =
    "Error: Corosync config '/etc/pve/corosync.conf' does not exist - is this node part of a cluster?";

/// `corosync-quorumtool` without a running corosync (`tools/corosync-quorumtool.c` `init_all`:
/// the CMAP connection is the first to fail), exit 1.
const NO_COROSYNC: &str = "Cannot initialize CMAP service\n";

/// The cluster whose `/etc/pve/corosync.conf` this node reads (`PVE::Corosync::check_conf_exists`):
/// none while pmxcfs is stopped and `/etc/pve` is an empty mount point.
fn conf_cluster(w: &world::World, node: usize) -> Option<usize> {
    let n = w.nodes.get(node)?;
    if n.pmxcfs == world::Pmxcfs::Stopped {
        return None;
    }
    n.cluster
}

/// The node index of the host a command runs on (`usize::MAX` on the bastion).
pub(super) fn node_of(ctx: &Ctx) -> usize {
    match ctx.host {
        HostRef::Node(i) => i,
        HostRef::Bastion => usize::MAX,
    }
}

/// `pvecm …`.
pub(crate) async fn pvecm(ctx: &Ctx, rest: &[String], p: &mut Proc) -> i32 {
    let sub = rest.first().map(String::as_str).unwrap_or("");
    let args = if rest.is_empty() { rest } else { &rest[1..] };
    match sub {
        "create" => create(ctx, args, p).await,
        "add" => add(ctx, args, p).await,
        "status" => status(ctx, p),
        "nodes" => nodes(ctx, p),
        "delnode" => delnode(ctx, args, p).await,
        "qdevice" => qdevice(ctx, args, p).await,
        "apiver" => {
            p.out("1\n");
            0
        }
        "updatecerts" => 0,
        "expected" => expected(ctx, args, p),
        "" => {
            p.err("ERROR: no command specified\nUSAGE: pvecm <COMMAND> [ARGS] [OPTIONS]\n");
            255
        }
        other => {
            p.err(&format!(
                "ERROR: unknown command 'pvecm {other}'\nUSAGE: pvecm <COMMAND> [ARGS] [OPTIONS]\n"
            ));
            255
        }
    }
}

fn link_opts() -> Vec<String> {
    (0..8).map(|i| format!("link{i}")).collect()
}

/// `pvecm create CLUSTERNAME` (ClusterConfig.pm `create`).
async fn create(ctx: &Ctx, args: &[String], p: &mut Proc) -> i32 {
    let usage = "USAGE: pvecm create <clustername> [OPTIONS]";
    let links = link_opts();
    let mut values: Vec<&str> = links.iter().map(String::as_str).collect();
    values.extend(["nodeid", "votes", "token-coefficient"]);
    let a = match Args::parse(args, &[], &values) {
        Ok(a) => a,
        Err(e) => return usage_error(p, &e, usage),
    };
    let Some(name) = a.pos.first().cloned() else {
        return usage_error(p, "400 not enough arguments", usage);
    };
    if name.len() > 15 {
        return usage_error(
            p,
            "clustername: value may only be 15 characters long",
            usage,
        );
    }
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return usage_error(
            p,
            "clustername: value does not match the regex pattern",
            usage,
        );
    }
    let node = node_of(ctx);
    if ctx
        .lab
        .world()
        .nodes
        .get(node)
        .map(|n| n.cluster.is_some())
        .unwrap_or(true)
    {
        return die(p, "cluster config '/etc/pve/corosync.conf' already exists");
    }
    // The worker: takes the local lock, writes the key and config, restarts corosync.
    let _guard = match local_lock(&ctx.lab, node).await {
        Ok(g) => g,
        Err(e) => return task_error(p, &e),
    };
    p.out("Corosync Cluster Engine Authentication key generator.\nGathering 2048 bits for key from /dev/urandom.\nWriting corosync key to /etc/corosync/authkey.\n");
    p.out("Writing corosync config to /etc/pve/corosync.conf\n");
    if let Some(code) = ctx.cli_step("pvecm.create", p, task_error).await {
        return code;
    }
    {
        let mut w = ctx.lab.world();
        if w.nodes
            .get(node)
            .map(|n| n.cluster.is_some())
            .unwrap_or(true)
        {
            drop(w);
            return task_error(p, "cluster config '/etc/pve/corosync.conf' already exists");
        }
        let nodeid = a.get("nodeid").and_then(|v| v.parse().ok()).unwrap_or(1);
        let votes = a.get("votes").and_then(|v| v.parse().ok()).unwrap_or(1);
        let access = w.nodes[node].standalone_access.clone();
        let ceph = None;
        w.clusters.push(world::Cluster {
            name: name.clone(),
            config_version: 1,
            members: vec![Member {
                node,
                nodeid,
                votes,
                joined: true,
            }],
            qdevice: None,
            ceph,
            access,
            ring_seq: 1,
            ca_node: node,
            rbd_storages: Default::default(),
            expected_override: None,
        });
        let c = w.clusters.len() - 1;
        // A standalone Ceph config moves into the cluster's /etc/pve with the node.
        let standalone = w.nodes[node].standalone_ceph.take();
        w.clusters[c].ceph = standalone;
        w.clustered(node, c);
        // `systemctl restart corosync` (ClusterConfig.pm `create`).
        w.nodes[node].corosync = true;
    }
    p.out("Restart corosync and cluster filesystem\n");
    0
}

/// Resolves a `pvecm add` host (address or node name) to a lab node.
fn resolve(lab: &LabInner, host: &str) -> Option<usize> {
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return lab.host_by_ip(ip);
    }
    lab.hosts.iter().position(|h| h.name == host)
}

fn is_fingerprint(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 32
        && parts
            .iter()
            .all(|x| x.len() == 2 && x.chars().all(|c| c.is_ascii_hexdigit()))
}

/// `pvecm add HOST [--fingerprint FP] [--use_ssh] [--link0 ADDR] [--force] [--nodeid N] [--votes N]`.
async fn add(ctx: &Ctx, args: &[String], p: &mut Proc) -> i32 {
    let usage = "USAGE: pvecm add <hostname> [OPTIONS]";
    let links = link_opts();
    let mut values: Vec<&str> = links.iter().map(String::as_str).collect();
    values.extend(["fingerprint", "nodeid", "votes"]);
    let a = match Args::parse(args, &["use_ssh", "force"], &values) {
        Ok(a) => a,
        Err(e) => return usage_error(p, &e, usage),
    };
    let Some(host) = a.pos.first().cloned() else {
        return usage_error(p, "400 not enough arguments", usage);
    };
    if let Some(fp) = a.get("fingerprint") {
        if !is_fingerprint(fp) {
            return usage_error(
                p,
                "fingerprint: value does not match the regex pattern",
                usage,
            );
        }
    }
    match join(ctx, &host, &a, p).await {
        Ok(()) => 0,
        Err(_) if ctx.conn.is_cancelled() => 255,
        Err(msg) => task_error(p, &msg),
    }
}

/// `assert_joinable` (Setup.pm): prints the problems and dies unless forced.
fn assert_joinable(ctx: &Ctx, node: usize, a: &Args, p: &mut Proc) -> Result<(), String> {
    let mut errors = String::new();
    {
        let w = ctx.lab.world();
        let Some(n) = w.nodes.get(node) else {
            return Err("no such node".into());
        };
        if n.etc_corosync.contains("authkey") {
            errors.push_str("* authentication key '/etc/corosync/authkey' already exists\n");
        }
        if n.cluster.is_some() && n.pmxcfs != world::Pmxcfs::Stopped {
            errors.push_str("* cluster config '/etc/pve/corosync.conf' already exists\n");
        }
        // `get_vmlist` reads every `/etc/pve/nodes/*/qemu-server`, including the directories
        // a separated node kept from its old cluster.
        if !n.vms.is_empty() || n.foreign_nodes.values().any(|ids| !ids.is_empty()) {
            errors.push_str("* this host already contains virtual guests\n");
        }
        // `corosync-quorumtool -l` succeeds only while corosync runs.
        if n.corosync {
            errors.push_str("* corosync is already running, is this node already in a cluster?!\n");
        }
        for i in 0..8 {
            if let Some(l) = a.get(&format!("link{i}")) {
                let addr = l
                    .split(',')
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("address=");
                if addr != n.ip.to_string() {
                    errors.push_str(&format!(
                        "* link{i}: cannot use IP '{addr}', not found on local node!\n"
                    ));
                }
            }
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    p.out(&format!("detected the following error(s):\n{errors}"));
    if a.flag("force") {
        p.out("\nWARNING : detected error but forced to continue!\n\n");
        Ok(())
    } else {
        Err("Check if node may join a cluster failed!".into())
    }
}

async fn join(ctx: &Ctx, host: &str, a: &Args, p: &mut Proc) -> Result<(), String> {
    let me = node_of(ctx);
    let my_ip = ctx.lab.hosts.get(me).map(|h| h.ip).ok_or("no such node")?;
    let links_given = (0..8).any(|i| a.get(&format!("link{i}")).is_some());
    if !a.flag("use_ssh") {
        // PVE::PTY::read_password: not a terminal, so one line from stdin.
        let password = p
            .stdin
            .read_line()
            .await
            .ok_or("EOF while reading password")?;
        let _local = local_lock(&ctx.lab, me).await?;
        assert_joinable(ctx, me, a, p)?;
        p.out(&format!("Establishing API connection with host '{host}'\n"));
        let target = resolve(&ctx.lab, host)
            .ok_or_else(|| format!("500 Can't connect to {host}:8006 (Connection refused)"))?;
        if !ctx
            .lab
            .world()
            .nodes
            .get(target)
            .map(|n| n.online)
            .unwrap_or(false)
        {
            return Err(format!(
                "500 Can't connect to {host}:8006 (No route to host)"
            ));
        }
        // The APIClient trusts exactly the given fingerprint; without one it asks (LWP.pm).
        let actual = ctx.lab.hosts[target]
            .tls_identity()
            .map(|t| t.fingerprint)
            .unwrap_or_default();
        match a.get("fingerprint") {
            Some(fp) => {
                if fp.to_uppercase() != actual {
                    return Err(format!("fingerprint '{actual}' not verified, abort!"));
                }
            }
            None => {
                p.out(&format!(
                    "The authenticity of host '{host}' can't be established.\nX509 SHA256 key fingerprint is {actual}.\nAre you sure you want to continue connecting (yes/no)? "
                ));
                let answer = p.stdin.read_line().await.unwrap_or_default();
                if answer.trim().to_lowercase() != "yes" {
                    return Err("Fingerprint not verified, abort!".into());
                }
            }
        }
        if !ctx.lab.root_password_ok(target, &password) {
            ctx.lab.pause("api.unauthorized", 1.0).await;
            return Err("401 authentication failure".into());
        }
        p.out("Login succeeded.\ncheck cluster join API version\n");
        if !links_given {
            p.out(&format!(
                "No cluster network links passed explicitly, fallback to local node IP '{my_ip}'\n"
            ));
        }
        p.out("Request addition of this node\n");
        let cluster = match addnode(ctx, target, me, a).await {
            Ok(c) => c,
            Err(e) => {
                if ctx.conn.is_cancelled() {
                    return Err(e);
                }
                p.out(&format!("An error occurred on the cluster node: {e}\n"));
                return Err("Cluster join aborted!".into());
            }
        };
        p.out("Join request OK, finishing setup locally\n");
        finish_join(ctx, me, cluster, p).await
    } else {
        assert_joinable(ctx, me, a, p)?;
        let target = resolve(&ctx.lab, host)
            .filter(|t| {
                ctx.lab
                    .world()
                    .nodes
                    .get(*t)
                    .map(|n| n.online)
                    .unwrap_or(false)
            })
            .ok_or("unable to copy ssh ID: exit code 1")?;
        if !links_given {
            p.out(&format!(
                "No cluster network links passed explicitly, fallback to local node IP '{my_ip}'\n"
            ));
        }
        let me_name = ctx.lab.hosts[me].name.clone();
        let cluster = match addnode(ctx, target, me, a).await {
            Ok(c) => c,
            Err(e) => {
                if ctx.conn.is_cancelled() {
                    return Err(e);
                }
                // The remote `pvecm addnode` prints its error; then the local side dies.
                p.out(&format!("{e}\n"));
                return Err(format!(
                    "unable to add node: command failed (ssh {host} -o BatchMode=yes pvecm addnode {me_name} --force 1 --new_node_ip {my_ip})"
                ));
            }
        };
        p.out("copy corosync auth key\n");
        finish_join(ctx, me, cluster, p).await
    }
}

/// `addnode` on the cluster node `target` for the joining node `me`; returns the cluster.
async fn addnode(ctx: &Ctx, target: usize, me: usize, a: &Args) -> Result<usize, String> {
    let lab = &ctx.lab;
    let cluster = lab
        .world()
        .nodes
        .get(target)
        .and_then(|n| n.cluster)
        .ok_or(NO_CONF)?;
    if !lab.world().node_quorate(target) {
        return Err("cluster not ready - no quorum?".into());
    }
    let _local = local_lock(lab, target).await?;
    let members = lab
        .world()
        .clusters
        .get(cluster)
        .map(|c| c.members.len())
        .unwrap_or(0);
    let _cfs = if members > 1 {
        Some(cfs_lock(lab, cluster, "corosync.conf").await?)
    } else {
        None
    };
    join_step(ctx, HostRef::Node(target), "pvecm.addnode").await?;
    let mut w = lab.world();
    let me_name = w.nodes.get(me).map(|n| n.name.clone()).unwrap_or_default();
    let force = a.flag("force") || a.flag("use_ssh");
    let votes: u32 = a.get("votes").and_then(|v| v.parse().ok()).unwrap_or(1);
    let want_id: Option<u32> = a.get("nodeid").and_then(|v| v.parse().ok());
    let c = w.clusters.get_mut(cluster).ok_or(NO_CONF)?;
    if let Some(existing) = c.members.iter().position(|m| m.node == me) {
        let m = &c.members[existing];
        if force && m.votes == votes && want_id.map(|id| id == m.nodeid).unwrap_or(true) {
            // "forcing overwrite of configured node"
        } else {
            return Err(format!("can't add existing node '{me_name}'"));
        }
        c.members.remove(existing);
    }
    let nodeid = match want_id {
        Some(id) => {
            if c.members.iter().any(|m| m.nodeid == id) {
                return Err(format!("Nodeid {id} already used by node"));
            }
            id
        }
        None => (1..)
            .find(|id| !c.members.iter().any(|m| m.nodeid == *id))
            .unwrap_or(1),
    };
    c.members.push(Member {
        node: me,
        nodeid,
        votes,
        joined: false,
    });
    c.config_version += 1;
    Ok(cluster)
}

/// A join step on `on`: an injected failure's message, or "connection dropped", is the error.
async fn join_step(ctx: &Ctx, on: HostRef, name: &str) -> Result<(), String> {
    match ctx.step(on, name, name, 1.0).await {
        Outcome::Proceed => Ok(()),
        Outcome::Fail(m, _) => Err(m),
        Outcome::Dropped => Err("connection dropped".into()),
    }
}

/// `finish_join` (Setup.pm) on the joining node.
async fn finish_join(ctx: &Ctx, me: usize, cluster: usize, p: &mut Proc) -> Result<(), String> {
    {
        let mut w = ctx.lab.world();
        w.clustered(me, cluster);
        if let Some(n) = w.nodes.get_mut(me) {
            // Joining overwrites /etc/pve: the node's own users, tokens and Ceph config go.
            n.standalone_access = world::Access::new();
            n.standalone_ceph = None;
        }
    }
    p.out("stopping pve-cluster service\n");
    join_step(ctx, ctx.host, "pvecm.finish_join").await?;
    {
        let mut w = ctx.lab.world();
        if let Some(c) = w.clusters.get_mut(cluster) {
            for m in c.members.iter_mut().filter(|m| m.node == me) {
                m.joined = true;
            }
            c.ring_seq += 1;
            c.expected_override = None;
        }
        // corosync starts with the new configuration (Setup.pm `finish_join`).
        if let Some(n) = w.nodes.get_mut(me) {
            n.corosync = true;
            n.pmxcfs = world::Pmxcfs::Service;
        }
    }
    p.out("waiting for quorum...");
    // 1 s poll without timeout, as finish_join does.
    loop {
        if ctx.lab.world().node_quorate(me) {
            break;
        }
        let d =
            ctx.lab
                .latency
                .scaled("pvecm.quorum_poll", 1.0)
                .max(std::time::Duration::from_millis(
                    (1000.0 * ctx.lab.config.time_scale).clamp(10.0, 1000.0) as u64,
                ));
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = ctx.lab.cancel.cancelled() => return Err("lab stopped".into()),
            _ = ctx.conn.cancelled() => return Err("connection dropped".into()),
        }
    }
    p.out("OK\n(re)generate node files\ngenerate new node certificate\n");
    // The node's web certificate is re-issued by the cluster CA: sessions break and the
    // fingerprint changes (research §D.1).
    let ca_node = ctx
        .lab
        .world()
        .clusters
        .get(cluster)
        .map(|c| c.ca_node)
        .unwrap_or(me);
    if let (Some(ca), Some(spec)) = (
        ctx.lab.hosts.get(ca_node).and_then(|h| h.ca.as_ref()),
        ctx.lab.hosts.get(me),
    ) {
        if let Ok(id) = ca.issue(&spec.name, spec.ip) {
            let fp = id.fingerprint.clone();
            if let Some(t) = &spec.tls {
                *t.write().unwrap_or_else(|p| p.into_inner()) = id;
            }
            if let Some(n) = ctx.lab.world().nodes.get_mut(me) {
                n.tls_fingerprint = fp;
            }
            if let Some(d) = &ctx.lab.state_dir {
                let _ = super::net::write_state_files(&ctx.lab, d);
            }
        }
    }
    let name = ctx
        .lab
        .hosts
        .get(me)
        .map(|h| h.name.clone())
        .unwrap_or_default();
    p.out("merge authorized SSH keys\ngenerated new node certificate, restart pveproxy and pvedaemon services\n");
    p.out(&format!("successfully added node '{name}' to cluster.\n"));
    Ok(())
}

/// `ctime(3)`-style date in UTC, e.g. `Tue Sep 14 11:06:47 2021`.
pub(crate) fn ctime(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days.rem_euclid(7)) as usize];
    let mn = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(mo - 1) as usize];
    format!("{wd} {mn} {d:>2} {h:02}:{m:02}:{s:02} {y}")
}

/// `pvecm status`: the totem summary, then `corosync-quorumtool -siH` (pvecm.pm, pvecm.adoc).
fn status(ctx: &Ctx, p: &mut Proc) -> i32 {
    let me = node_of(ctx);
    let w = ctx.lab.world();
    let Some(c_idx) = conf_cluster(&w, me) else {
        drop(w);
        return die(p, NO_CONF);
    };
    let (Some(c), Some(q)) = (w.clusters.get(c_idx), w.quorum(c_idx)) else {
        return die(p, NO_CONF);
    };
    let mut s = String::new();
    s.push_str("Cluster information\n-------------------\n");
    s.push_str(&format!("{:<17} {}\n", "Name:", c.name));
    s.push_str(&format!("{:<17} {}\n", "Config Version:", c.config_version));
    s.push_str(&format!("{:<17} {}\n", "Transport:", "knet"));
    s.push_str(&format!("{:<17} {}\n\n", "Secure auth:", "on"));
    if !w.is_present(me) {
        // The totem summary comes from the file; `corosync-quorumtool` then finds no corosync
        // to talk to (`tools/corosync-quorumtool.c` `init_all`).
        drop(w);
        p.out(&s);
        p.err(NO_COROSYNC);
        return 1;
    }
    let present: Vec<&Member> = c.members.iter().filter(|m| w.present(c_idx, m)).collect();
    let my_id = c
        .members
        .iter()
        .find(|m| m.node == me)
        .map(|m| m.nodeid)
        .unwrap_or(0);
    s.push_str("Quorum information\n------------------\n");
    s.push_str(&format!("Date:             {}\n", ctime(world::now_secs())));
    s.push_str("Quorum provider:  corosync_votequorum\n");
    s.push_str(&format!("Nodes:            {}\n", present.len()));
    s.push_str(&format!("Node ID:          0x{my_id:08x}\n"));
    s.push_str(&format!(
        "Ring ID:          {}.{:x}\n",
        present.first().map(|m| m.nodeid).unwrap_or(my_id),
        c.ring_seq
    ));
    s.push_str(&format!(
        "Quorate:          {}\n\n",
        if q.quorate { "Yes" } else { "No" }
    ));
    s.push_str("Votequorum information\n----------------------\n");
    s.push_str(&format!("Expected votes:   {}\n", q.expected));
    s.push_str(&format!("Highest expected: {}\n", q.expected));
    s.push_str(&format!("Total votes:      {}\n", q.total));
    if q.quorate {
        s.push_str(&format!("Quorum:           {}  \n", q.quorum));
    } else {
        s.push_str(&format!(
            "Quorum:           {} Activity blocked\n",
            q.quorum
        ));
    }
    let mut flags = Vec::new();
    if q.quorate {
        flags.push("Quorate");
    }
    if c.qdevice.is_some() {
        flags.push("Qdevice");
    }
    s.push_str(&format!("Flags:            {} \n\n", flags.join(" ")));
    s.push_str("Membership information\n----------------------\n");
    if c.qdevice.is_some() {
        s.push_str("    Nodeid      Votes    Qdevice Name\n");
    } else {
        s.push_str("    Nodeid      Votes Name\n");
    }
    for m in &present {
        let ip = w
            .nodes
            .get(m.node)
            .map(|n| n.ip.to_string())
            .unwrap_or_default();
        let local = if m.node == me { " (local)" } else { "" };
        if c.qdevice.is_some() {
            s.push_str(&format!(
                "0x{:08x} {:>10}    A,V,NMW {ip}{local}\n",
                m.nodeid, m.votes
            ));
        } else {
            s.push_str(&format!("0x{:08x} {:>10} {ip}{local}\n", m.nodeid, m.votes));
        }
    }
    if c.qdevice.is_some() {
        s.push_str(&format!(
            "0x00000000 {:>10}            Qdevice\n",
            q.qdevice_votes
        ));
    }
    drop(w);
    p.out(&s);
    0
}

/// `pvecm nodes`: `corosync-quorumtool -l` (pvecm.adoc "List nodes in a cluster";
/// `pve-cluster` `PVE/CLI/pvecm.pm` execs it): decimal node ids and names, each column
/// right-aligned to 10 (`print_uint32_padded`). With a QDevice registered
/// (`tools/corosync-quorumtool.c` `display_nodes_data`) a `Qdevice` column shows each node's
/// `A,V,NMW` (alive, voting, not master-wins) and a last row for the device itself, node id 0.
fn nodes(ctx: &Ctx, p: &mut Proc) -> i32 {
    let me = node_of(ctx);
    let w = ctx.lab.world();
    let Some(c_idx) = conf_cluster(&w, me) else {
        drop(w);
        return die(p, NO_CONF);
    };
    let Some(c) = w.clusters.get(c_idx) else {
        return die(p, NO_CONF);
    };
    if !w.is_present(me) {
        drop(w);
        p.err(NO_COROSYNC);
        return 1;
    }
    let qdevice = c.qdevice.is_some();
    let mut s = String::from("\nMembership information\n----------------------\n");
    s.push_str(if qdevice {
        "    Nodeid      Votes    Qdevice Name\n"
    } else {
        "    Nodeid      Votes Name\n"
    });
    for m in c.members.iter().filter(|m| w.present(c_idx, m)) {
        let name = w
            .nodes
            .get(m.node)
            .map(|n| n.name.clone())
            .unwrap_or_default();
        let local = if m.node == me { " (local)" } else { "" };
        if qdevice {
            s.push_str(&format!(
                "{:>10} {:>10} {:>10} {name}{local}\n",
                m.nodeid, m.votes, "A,V,NMW"
            ));
        } else {
            s.push_str(&format!("{:>10} {:>10} {name}{local}\n", m.nodeid, m.votes));
        }
    }
    if qdevice {
        let votes = w
            .nodes
            .get(me)
            .and_then(|n| n.cluster)
            .and_then(|ci| w.quorum(ci))
            .map(|q| q.qdevice_votes)
            .unwrap_or(0);
        s.push_str(&format!("{:>10} {:>10}            Qdevice\n", 0, votes));
    }
    drop(w);
    p.out(&s);
    0
}

/// `pvecm expected N`: `check_conf_exists`, then `exec corosync-quorumtool -e N` (pvecm.pm).
/// votequorum refuses fewer expected votes than are present, and a value that would take a
/// quorate partition's quorum away (`exec/votequorum.c`
/// `message_handler_req_lib_votequorum_setexpected`); the value holds until the
/// configuration next changes.
fn expected(ctx: &Ctx, args: &[String], p: &mut Proc) -> i32 {
    let usage = "USAGE: pvecm expected <expected>";
    let Some(v) = args.first() else {
        return usage_error(p, "400 not enough arguments", usage);
    };
    let n = match v.parse::<u32>() {
        Ok(n) if n >= 1 => n,
        Ok(_) => {
            return usage_error(p, "expected: value must have a minimum value of 1", usage);
        }
        Err(_) => {
            return usage_error(
                p,
                &format!("expected: type check ('integer') failed - got '{v}'"),
                usage,
            );
        }
    };
    let me = node_of(ctx);
    let mut w = ctx.lab.world();
    let Some(c) = conf_cluster(&w, me) else {
        drop(w);
        return die(p, NO_CONF);
    };
    if !w.is_present(me) {
        drop(w);
        p.err(NO_COROSYNC);
        return 1;
    }
    let Some(q) = w.quorum(c) else {
        return 1;
    };
    if n < q.total || (q.quorate && n / 2 + 1 > q.total) {
        drop(w);
        p.err("Unable to set expected votes: CS_ERR_INVALID_PARAM\n");
        return 1;
    }
    if let Some(cl) = w.clusters.get_mut(c) {
        cl.expected_override = Some(n);
    }
    0
}

/// `pvecm delnode NODE` (ClusterConfig.pm `delnode`).
async fn delnode(ctx: &Ctx, args: &[String], p: &mut Proc) -> i32 {
    let usage = "USAGE: pvecm delnode <node>";
    let Some(target) = args.first().cloned() else {
        return usage_error(p, "400 not enough arguments", usage);
    };
    let me = node_of(ctx);
    let Some(cluster) = ctx.lab.world().nodes.get(me).and_then(|n| n.cluster) else {
        return die(p, NO_CONF);
    };
    let my_name = ctx
        .lab
        .hosts
        .get(me)
        .map(|h| h.name.clone())
        .unwrap_or_default();
    if target == my_name
        || target
            == ctx
                .lab
                .hosts
                .get(me)
                .map(|h| h.ip.to_string())
                .unwrap_or_default()
    {
        return die(p, "Cannot delete myself from cluster!");
    }
    if !ctx.lab.world().node_quorate(me) {
        return die(p, "cluster not ready - no quorum?");
    }
    let _l = match local_lock(&ctx.lab, me).await {
        Ok(g) => g,
        Err(e) => return die(p, &e),
    };
    let _c = match cfs_lock(&ctx.lab, cluster, "corosync.conf").await {
        Ok(g) => g,
        Err(e) => return die(p, &e),
    };
    if let Some(code) = ctx.cli_step("pvecm.delnode", p, die).await {
        return code;
    }
    let mut w = ctx.lab.world();
    let idx = w
        .nodes
        .iter()
        .position(|n| n.name == target || n.ip.to_string() == target);
    let member = idx.and_then(|i| {
        w.clusters
            .get(cluster)
            .and_then(|c| c.members.iter().position(|m| m.node == i))
            .map(|pos| (i, pos))
    });
    let Some((node_idx, pos)) = member else {
        drop(w);
        return die(
            p,
            &format!("Node/IP: {target} is not a known host of the cluster."),
        );
    };
    // `corosync-cfgtool -k NODEID` first ("allowed to fail when node is already shut down"):
    // a node still in the membership has its corosync shut down and keeps its configuration,
    // thinking itself a member, until it is separated or reinstalled (pvecm.adoc "Remove a
    // Cluster Node"); then `update_nodelist` writes the config without it.
    let present = w
        .clusters
        .get(cluster)
        .and_then(|c| c.members.get(pos))
        .map(|m| w.present(cluster, m))
        .unwrap_or(false);
    if present {
        if let Some(n) = w.nodes.get_mut(node_idx) {
            n.corosync = false;
        }
    }
    if let Some(c) = w.clusters.get_mut(cluster) {
        c.members.remove(pos);
        c.config_version += 1;
        c.expected_override = None;
        if present {
            c.ring_seq += 1;
        }
    }
    drop(w);
    if !present {
        // corosync-cfgtool.c `kill_node` on stderr; pvecm.adoc: this message "does not
        // signify an actual failure".
        p.err("Could not kill node (error = CS_ERR_NOT_EXIST)\n");
    }
    0
}

/// The first member, by name, that is not online (pvecm.pm: `get_members` walked in `sort keys`
/// order for "All nodes must be online!").
fn first_offline(w: &world::World, cluster: usize) -> Option<String> {
    let c = w.clusters.get(cluster)?;
    let mut offline: Vec<String> = c
        .members
        .iter()
        .filter(|m| !w.present(cluster, m))
        .filter_map(|m| w.nodes.get(m.node).map(|n| n.name.clone()))
        .collect();
    offline.sort();
    offline.into_iter().next()
}

/// `pvecm qdevice remove` (pvecm.pm `remove_qdevice`): every member online, then under the
/// `corosync.conf` cfs lock the device section goes ("No QDevice configured!" without one),
/// each member's qdevice state is removed and its `corosync-qdevice` stopped and disabled,
/// and corosync reloads. The qnetd server is not touched: it lists a cluster only while its
/// daemons are connected, so the lab drops the registration.
async fn qdevice_remove(ctx: &Ctx, cluster: usize, p: &mut Proc) -> i32 {
    if let Some(n) = first_offline(&ctx.lab.world(), cluster) {
        return die(
            p,
            &format!("All nodes must be online! Node {n} is offline, aborting."),
        );
    }
    let _c = match cfs_lock(&ctx.lab, cluster, "corosync.conf").await {
        Ok(g) => g,
        Err(e) => return die(p, &e),
    };
    if ctx
        .lab
        .world()
        .clusters
        .get(cluster)
        .is_none_or(|c| c.qdevice.is_none())
    {
        return die(p, "No QDevice configured!");
    }
    if let Some(code) = ctx.cli_step("pvecm.qdevice_remove", p, die).await {
        return code;
    }
    let mut w = ctx.lab.world();
    let Some(c) = w.clusters.get_mut(cluster) else {
        return 255;
    };
    c.qdevice = None;
    c.config_version += 1;
    c.expected_override = None;
    let name = c.name.clone();
    w.bastion.qnetd_clusters.remove(&name);
    drop(w);
    p.out("\nRemoved Qdevice.\n");
    0
}

/// `pvecm qdevice setup ADDRESS [--force]` / `pvecm qdevice remove` (pvecm.pm).
async fn qdevice(ctx: &Ctx, args: &[String], p: &mut Proc) -> i32 {
    let me = node_of(ctx);
    let verb = args.first().map(String::as_str).unwrap_or("");
    let usage = "USAGE: pvecm qdevice setup <address> [OPTIONS]";
    let Some(cluster) = conf_cluster(&ctx.lab.world(), me) else {
        return die(p, NO_CONF);
    };
    if verb == "remove" {
        return qdevice_remove(ctx, cluster, p).await;
    }
    if verb != "setup" {
        p.err(&format!("ERROR: unknown command 'pvecm qdevice {verb}'\nUSAGE: pvecm qdevice <COMMAND> [ARGS] [OPTIONS]\n"));
        return 255;
    }
    let a = match Args::parse(&args[1..], &["force"], &["network"]) {
        Ok(a) => a,
        Err(e) => return usage_error(p, &e, usage),
    };
    let Some(addr) = a.pos.first().cloned() else {
        return usage_error(p, "400 not enough arguments", usage);
    };
    let Ok(ip) = addr.parse::<Ipv4Addr>() else {
        return usage_error(
            p,
            "address: invalid format - value does not look like a valid IP address",
            usage,
        );
    };
    let (members, offline, configured, name) = {
        let w = ctx.lab.world();
        let Some(c) = w.clusters.get(cluster) else {
            return 255;
        };
        let offline = first_offline(&w, cluster);
        (
            c.members.len(),
            offline,
            c.qdevice.is_some(),
            c.name.clone(),
        )
    };
    if let Some(n) = offline {
        return die(
            p,
            &format!("All nodes must be online! Node {n} is offline, aborting."),
        );
    }
    if configured && !a.flag("force") {
        return die(p, "QDevice already configured!");
    }
    if members % 2 == 1 && !a.flag("force") {
        return die(
            p,
            "Clusters with an odd node count are not officially supported!",
        );
    }
    let bastion_ip = ctx.lab.bastion.as_ref().map(|b| b.ip);
    if bastion_ip != Some(ip) {
        p.err(&format!(
            "ssh: connect to host {addr} port 22: No route to host\n"
        ));
        return die(
            p,
            &format!("command 'ssh-copy-id -i /root/.ssh/id_rsa root@{addr}' failed: exit code 1"),
        );
    }
    p.out("\nINFO: initializing qnetd server\n");
    if !ctx.lab.world().bastion.qnetd_installed {
        p.out("bash: line 1: corosync-qnetd-certutil: command not found\n");
        return die(p, &format!("command 'ssh -o BatchMode=yes -lroot {addr} corosync-qnetd-certutil -i' failed: exit code 127"));
    }
    if let Some(code) = ctx.cli_step("pvecm.qdevice", p, die).await {
        return code;
    }
    // The qdevice daemons connect to qnetd on TCP 5403; the lab opens a real connection to its
    // stand-in, on loopback only.
    let qnetd = std::net::SocketAddr::from((ip, super::net::QNETD_PORT));
    let reachable = ip.is_loopback()
        && matches!(
            tokio::time::timeout(
                std::time::Duration::from_secs(2),
                tokio::net::TcpStream::connect(qnetd)
            )
            .await,
            Ok(Ok(_))
        );
    let member_names: Vec<String> = {
        let w = ctx.lab.world();
        w.clusters
            .get(cluster)
            .map(|c| {
                c.members
                    .iter()
                    .map(|m| {
                        w.nodes
                            .get(m.node)
                            .map(|n| n.name.clone())
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    p.out("\nINFO: copying CA cert and initializing on all nodes\n");
    p.out(
        "\nINFO: generating cert request\n\nINFO: copying exported cert request to qnetd server\n",
    );
    p.out("\nINFO: sign and export cluster cert\n\nINFO: copy exported CRT\n\nINFO: import certificate\n");
    p.out("\nINFO: copy and import pk12 cert to all nodes\n\nINFO: add QDevice to cluster configuration\n");
    {
        let mut w = ctx.lab.world();
        if let Some(c) = w.clusters.get_mut(cluster) {
            c.qdevice = Some(ip);
            c.config_version += 1;
        }
        w.bastion.qnetd_clusters.insert(name);
    }
    for n in member_names {
        p.out(&format!(
            "\nINFO: start and enable corosync qdevice daemon on node '{n}'...\n"
        ));
    }
    if !reachable {
        // Lab wording: the real daemon keeps retrying and the vote stays missing.
        p.err(&format!(
            "corosync-qdevice: can't connect to qnetd server {qnetd}\n"
        ));
        return 1;
    }
    0
}

/// `/etc/pve/corosync.conf` as `PVE::Corosync::create_conf` writes it.
pub(crate) fn corosync_conf(lab: &LabInner, node: usize) -> Option<String> {
    let w = lab.world();
    // A separated node's leftover `/etc/corosync/corosync.conf` is its old cluster's.
    let n = w.nodes.get(node)?;
    let c = w.clusters.get(n.cluster.or(n.left_cluster)?)?;
    let mut s = String::from("logging {\n  debug: off\n  to_syslog: yes\n}\n\nnodelist {\n");
    for m in &c.members {
        let n = w.nodes.get(m.node)?;
        s.push_str(&format!(
            "  node {{\n    name: {}\n    nodeid: {}\n    quorum_votes: {}\n    ring0_addr: {}\n  }}\n",
            n.name, m.nodeid, m.votes, n.ip
        ));
    }
    s.push_str("}\n\nquorum {\n");
    if let Some(q) = c.qdevice {
        s.push_str(&format!(
            "  device {{\n    model: net\n    net {{\n      algorithm: ffsplit\n      host: {q}\n      tls: on\n    }}\n    votes: 1\n  }}\n"
        ));
    }
    s.push_str("  provider: corosync_votequorum\n}\n\ntotem {\n");
    s.push_str(&format!(
        "  cluster_name: {}\n  config_version: {}\n  interface {{\n    linknumber: 0\n  }}\n  ip_version: ipv4-6\n  link_mode: passive\n  secauth: on\n  version: 2\n}}\n",
        c.name, c.config_version
    ));
    Some(s)
}

#[cfg(test)]
mod unit {
    #[test]
    fn ctime_matches_c_library() {
        // 2021-09-14 11:06:47 UTC, the date in pvecm.adoc's sample.
        assert_eq!(super::ctime(1_631_617_607), "Tue Sep 14 11:06:47 2021");
        assert_eq!(super::ctime(0), "Thu Jan  1 00:00:00 1970");
    }
}
