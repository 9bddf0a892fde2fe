//! `pveceph`, `ceph`, `ceph-volume` and the few LVM commands around them.
//!
//! Sources (research §D.2): `proxmox/pve-manager@14a22df3` `PVE/CLI/pveceph.pm` (install),
//! `PVE/Ceph/Releases.pm` (squid is `unavailable-for-arch` arm64; tentacle 20.2 is the backend
//! default), `PVE/Ceph/Tools.pm` (`check_ceph_installed`/`inited`/`configured` messages),
//! `PVE/Ceph/Services.pm` (mgr output), `PVE/API2/Ceph.pm` (init), `PVE/API2/Ceph/MON.pm`,
//! `OSD.pm`, `Pool.pm`. Health is computed in `ceph.rs`; the destroy commands and `purge` are
//! in `pveceph_destroy.rs`, the `ceph` commands that change the maps in `ceph_admin.rs`.
//!
//! `pveceph install` on a node without a subscription and without `--repository
//! no-subscription` uses the enterprise repository, which answers 401: the apt lines the lab
//! prints for that are apt's usual wording (a lab approximation, marked below).

use tokio::sync::OwnedMutexGuard;

use super::ceph::{Ceph, Pool};
use super::pvecm::node_of;
use super::shell::{die, usage_error, Args, Ctx, Proc};
use super::world::World;
use super::LabInner;

/// The Ceph config `node` sees: its cluster's, its own while standalone, or the one a node
/// separated from a cluster kept (its monitors are the cluster's, so it reaches that Ceph).
pub(crate) fn ceph_of(w: &World, node: usize) -> Option<&Ceph> {
    let n = w.nodes.get(node)?;
    match (n.cluster, n.ceph_from) {
        (Some(c), _) => w.clusters.get(c)?.ceph.as_ref(),
        (None, Some(f)) if n.standalone_ceph.is_none() => w.clusters.get(f)?.ceph.as_ref(),
        _ => n.standalone_ceph.as_ref(),
    }
}

/// Where `node`'s Ceph config lives: its cluster's `/etc/pve`, its own while standalone, or —
/// for a node separated from a cluster — the cluster its copied config still reaches.
pub(crate) fn ceph_slot(w: &mut World, node: usize) -> Option<&mut Option<Ceph>> {
    let n = w.nodes.get(node)?;
    let (c, from, standalone) = (n.cluster, n.ceph_from, n.standalone_ceph.is_some());
    match (c, from) {
        (Some(c), _) => w.clusters.get_mut(c).map(|c| &mut c.ceph),
        (None, Some(f)) if !standalone => w.clusters.get_mut(f).map(|c| &mut c.ceph),
        _ => w.nodes.get_mut(node).map(|n| &mut n.standalone_ceph),
    }
}

/// Node names and up flags for health computation.
pub(crate) fn view(w: &World) -> Vec<(String, bool)> {
    w.nodes.iter().map(|n| (n.name.clone(), n.online)).collect()
}

/// Stamps the Ceph map changes (quorum, active manager, up OSDs) of every cluster; the lab
/// calls it before each `ceph` command, and a node going up or down may call it at once.
pub(crate) fn observe_all(w: &mut World) {
    let v = view(w);
    let now = super::world::now_secs();
    for c in w.clusters.iter_mut() {
        if let Some(ceph) = c.ceph.as_mut() {
            ceph.observe(&v, now);
        }
    }
    for n in w.nodes.iter_mut() {
        if let Some(ceph) = n.standalone_ceph.as_mut() {
            ceph.observe(&v, now);
        }
    }
}

/// `node` booted: its Ceph daemons whose units were stopped start again.
pub(crate) fn node_booted(w: &mut World, node: usize) {
    let Some(name) = w.nodes.get(node).map(|n| n.name.clone()) else {
        return;
    };
    for c in w.clusters.iter_mut() {
        if let Some(ceph) = c.ceph.as_mut() {
            ceph.node_booted(&name, node);
        }
    }
    if let Some(ceph) = w
        .nodes
        .get_mut(node)
        .and_then(|n| n.standalone_ceph.as_mut())
    {
        ceph.node_booted(&name, node);
    }
}

/// The arm64 release list: only tentacle is built for arm64 (Releases.pm).
const ARM64_RELEASES: &[(&str, &str)] = &[("tentacle", "20.2")];

/// `pveceph …`.
pub(crate) async fn pveceph(ctx: &Ctx, rest: &[String], p: &mut Proc) -> i32 {
    let words: Vec<&str> = rest.iter().take(2).map(String::as_str).collect();
    match words.as_slice() {
        ["install", ..] => install(ctx, &rest[1..], p).await,
        ["init", ..] => init(ctx, &rest[1..], p).await,
        ["mon", "create", ..] | ["createmon", ..] => {
            let skip = if words[0] == "mon" { 2 } else { 1 };
            mon_create(ctx, &rest[skip..], p).await
        }
        ["mgr", "create", ..] | ["createmgr", ..] => {
            let skip = if words[0] == "mgr" { 2 } else { 1 };
            mgr_create(ctx, &rest[skip..], p).await
        }
        ["osd", "create", ..] | ["createosd", ..] => {
            let skip = if words[0] == "osd" { 2 } else { 1 };
            osd_create(ctx, &rest[skip..], p).await
        }
        ["pool", "create", ..] | ["createpool", ..] => {
            let skip = if words[0] == "pool" { 2 } else { 1 };
            pool_create(ctx, &rest[skip..], p).await
        }
        ["osd", "destroy", ..] | ["destroyosd", ..] => {
            let skip = if words[0] == "osd" { 2 } else { 1 };
            super::pveceph_destroy::osd_destroy(ctx, &rest[skip..], p).await
        }
        ["mon", "destroy", ..] | ["destroymon", ..] => {
            let skip = if words[0] == "mon" { 2 } else { 1 };
            super::pveceph_destroy::mon_destroy(ctx, &rest[skip..], p).await
        }
        ["mgr", "destroy", ..] | ["destroymgr", ..] => {
            let skip = if words[0] == "mgr" { 2 } else { 1 };
            super::pveceph_destroy::mgr_destroy(ctx, &rest[skip..], p).await
        }
        ["pool", "destroy", ..] | ["destroypool", ..] => {
            let skip = if words[0] == "pool" { 2 } else { 1 };
            super::pveceph_destroy::pool_destroy(ctx, &rest[skip..], p).await
        }
        ["purge", ..] => super::pveceph_destroy::purge(ctx, &rest[1..], p).await,
        ["status"] => {
            let mut w = ctx.lab.world();
            observe_all(&mut w);
            match ceph_of(&w, node_of(ctx)) {
                Some(c) => {
                    let v = view(&w);
                    let text = c.status_text(&v);
                    drop(w);
                    p.out(&text);
                    0
                }
                None => {
                    drop(w);
                    die(
                        p,
                        "pveceph configuration not initialized - missing '/etc/pve/ceph.conf'",
                    )
                }
            }
        }
        _ => {
            let cmd = words.join(" ");
            p.err(&format!("ERROR: unknown command 'pveceph {cmd}'\nUSAGE: pveceph <COMMAND> [ARGS] [OPTIONS]\n"));
            255
        }
    }
}

async fn install(ctx: &Ctx, args: &[String], p: &mut Proc) -> i32 {
    let usage = "USAGE: pveceph install  [OPTIONS]";
    let a = match Args::parse(args, &["allow-experimental"], &["version", "repository"]) {
        Ok(a) => a,
        Err(e) => return usage_error(p, &e, usage),
    };
    if let Some(x) = a.pos.first() {
        return usage_error(p, &format!("400 too many arguments: {x}"), usage);
    }
    let names: Vec<&str> = ARM64_RELEASES.iter().map(|(n, _)| *n).collect();
    let version = a.get("version").unwrap_or("tentacle").to_string();
    if !names.contains(&version.as_str()) {
        return usage_error(
            p,
            &format!(
                "version: value '{version}' does not have a value in the enumeration '{}'",
                names.join(", ")
            ),
            usage,
        );
    }
    let repo = a.get("repository").unwrap_or("enterprise").to_string();
    if !["enterprise", "no-subscription", "test", "manual"].contains(&repo.as_str()) {
        return usage_error(
            p,
            &format!("repository: value '{repo}' does not have a value in the enumeration 'enterprise, no-subscription, test, manual'"),
            usage,
        );
    }
    let node = node_of(ctx);
    let subscribed = ctx
        .lab
        .world()
        .nodes
        .get(node)
        .map(|n| n.subscription)
        .unwrap_or(false);
    let release = ARM64_RELEASES
        .iter()
        .find(|(n, _)| *n == version)
        .map(|(_, r)| *r)
        .unwrap_or("20.2");
    let rendered = format!("{release} {}{}", version[..1].to_uppercase(), &version[1..]);
    if subscribed {
        if repo != "enterprise" {
            p.err("\nNOTE: The node has an active subscription but a non-production Ceph repository selected.\n\n");
        }
    } else if repo == "enterprise" {
        p.err("\nWARN: Enterprise repository selected, but no active subscription!\n\n");
    } else if repo == "no-subscription" {
        p.err("\nHINT: The no-subscription repository is not the best choice for production setups.\nProxmox recommends using the enterprise repository with a valid subscription.\n");
    } else if repo == "manual" {
        p.err("\nHINT: The manual repository option expects that the Ceph repository is already correctly configured. For example, when used in combination with Proxmox Offline Mirror.\n");
    } else {
        p.err("\nWARN: The test repository should only be used for test setups or after consulting the official Proxmox support!\n\n");
    }
    if p.tty && a.get("version").is_none() {
        p.out(&format!(
            "This will install Ceph {rendered} - continue (y/N)? "
        ));
        let answer = p.stdin.read_line().await.unwrap_or_default();
        let t = answer.trim().to_lowercase();
        if t != "y" && t != "yes" {
            return die(p, "Aborting installation as requested");
        }
    }
    p.out("update available package list\n");
    let works = repo != "manual" && (repo != "enterprise" || subscribed);
    if repo == "enterprise" && !subscribed {
        // apt's wording for a 401 from the enterprise repository (lab approximation).
        p.err(&format!(
            "E: Failed to fetch https://enterprise.proxmox.com/debian/ceph-{version}/dists/trixie/InRelease  401  Unauthorized\nE: The repository 'https://enterprise.proxmox.com/debian/ceph-{version} trixie InRelease' is not signed.\n"
        ));
    }
    p.out("start installation\n");
    if let Some(code) = ctx.cli_step("pveceph.install", p, die).await {
        return code;
    }
    if !works {
        // apt's wording when the ceph packages have no candidate (lab approximation).
        p.err("E: Package 'ceph' has no installation candidate\nE: Unable to locate package ceph-mds\nE: Unable to locate package ceph-volume\n");
        return die(p, "apt failed during ceph installation (25600)");
    }
    if let Some(n) = ctx.lab.world().nodes.get_mut(node) {
        n.ceph_release = Some(version.clone());
    }
    p.out(&format!("\ninstalled Ceph {rendered} successfully!\n"));
    p.out("\nreloading API to load new Ceph RADOS library...\n");
    0
}

fn parse_cidr(s: &str) -> Option<(u32, u32)> {
    let (ip, len) = s.split_once('/')?;
    let ip: std::net::Ipv4Addr = ip.parse().ok()?;
    let len: u32 = len.parse().ok()?;
    if len > 32 {
        return None;
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Some((u32::from(ip) & mask, mask))
}

fn cidr_contains(cidr: &str, ip: std::net::Ipv4Addr) -> bool {
    match parse_cidr(cidr) {
        Some((net, mask)) => u32::from(ip) & mask == net,
        None => false,
    }
}

fn require_quorum(ctx: &Ctx, p: &mut Proc) -> Result<(), i32> {
    let node = node_of(ctx);
    if ctx.lab.world().node_quorate(node) {
        Ok(())
    } else {
        Err(die(p, "cluster not ready - no quorum?"))
    }
}

/// `pveceph init [--network CIDR] [--cluster-network CIDR] [--size N] [--min_size N]`.
async fn init(ctx: &Ctx, args: &[String], p: &mut Proc) -> i32 {
    let usage = "USAGE: pveceph init  [OPTIONS]";
    let a = match Args::parse(
        args,
        &["disable_cephx"],
        &["network", "cluster-network", "size", "min_size", "pg_bits"],
    ) {
        Ok(a) => a,
        Err(e) => return usage_error(p, &e, usage),
    };
    for k in ["network", "cluster-network"] {
        if let Some(v) = a.get(k) {
            if parse_cidr(v).is_none() {
                return usage_error(
                    p,
                    &format!("{k}: invalid format - value does not look like a valid CIDR network"),
                    usage,
                );
            }
        }
    }
    let num = |k: &str, d: u32, lo: u32, hi: u32| -> Result<u32, String> {
        match a.get(k) {
            None => Ok(d),
            Some(v) => match v.parse::<u32>() {
                Ok(n) if n < lo => Err(format!("{k}: value must have a minimum value of {lo}")),
                Ok(n) if n > hi => Err(format!("{k}: value must have a maximum value of {hi}")),
                Ok(n) => Ok(n),
                Err(_) => Err(format!("{k}: type check ('integer') failed - got '{v}'")),
            },
        }
    };
    let (size, min_size) = match (num("size", 3, 1, 7), num("min_size", 2, 1, 7)) {
        (Ok(s), Ok(m)) => (s, m),
        (Err(e), _) | (_, Err(e)) => return usage_error(p, &e, usage),
    };
    let node = node_of(ctx);
    if ctx
        .lab
        .world()
        .nodes
        .get(node)
        .and_then(|n| n.ceph_release.clone())
        .is_none()
    {
        return die(p, "Ceph Nautilus required - please run 'pveceph install'");
    }
    if let Err(c) = require_quorum(ctx, p) {
        return c;
    }
    let _lock = match ceph_conf_lock(ctx, node).await {
        Ok(g) => g,
        Err(e) => return die(p, &e),
    };
    if let Some(code) = ctx.cli_step("pveceph.init", p, die).await {
        return code;
    }
    let mut w = ctx.lab.world();
    let my_ip = w
        .nodes
        .get(node)
        .map(|n| n.ip)
        .unwrap_or(std::net::Ipv4Addr::LOCALHOST);
    let Some(slot) = ceph_slot(&mut w, node) else {
        return 255;
    };
    // "simply load old config if it already exists" (API2/Ceph.pm init).
    if slot.is_none() {
        let network = a
            .get("network")
            .map(str::to_string)
            .unwrap_or_else(|| format!("{my_ip}/24"));
        *slot = Some(Ceph::new(
            super::keys::uuid_v4(),
            network,
            a.get("cluster-network").map(str::to_string),
            size,
            min_size,
        ));
    }
    0
}

/// Takes the cfs lock on `ceph.conf` when `node` is in a cluster.
pub(crate) async fn ceph_conf_lock(
    ctx: &Ctx,
    node: usize,
) -> Result<Option<OwnedMutexGuard<()>>, String> {
    let cluster = ctx.lab.world().nodes.get(node).and_then(|n| n.cluster);
    match cluster {
        Some(c) => super::pvecm::cfs_lock(&ctx.lab, c, "ceph.conf")
            .await
            .map(Some),
        None => Ok(None),
    }
}

/// What creating manager `id` prints (Services.pm `create_mgr`).
fn mgr_created(id: &str) -> String {
    format!(
        "creating manager directory '/var/lib/ceph/mgr/ceph-{id}'\ncreating keys for 'mgr.{id}'\nsetting owner for directory\nenabling service 'ceph-mgr@{id}.service'\nstarting service 'ceph-mgr@{id}.service'\n"
    )
}

pub(crate) fn check_inited(ctx: &Ctx, p: &mut Proc) -> Result<(), i32> {
    let node = node_of(ctx);
    let w = ctx.lab.world();
    if w.nodes
        .get(node)
        .and_then(|n| n.ceph_release.as_ref())
        .is_none()
    {
        drop(w);
        return Err(die(p, "binary not installed: /usr/bin/ceph-mon"));
    }
    if ceph_of(&w, node).is_none() {
        drop(w);
        return Err(die(p, "pveceph configuration not initialized - missing '/etc/pve/ceph.conf', missing '/etc/pve/ceph'"));
    }
    Ok(())
}

fn check_configured(ctx: &Ctx, p: &mut Proc) -> Result<(), i32> {
    check_inited(ctx, p)?;
    let node = node_of(ctx);
    let has_keyring = ceph_of(&ctx.lab.world(), node)
        .map(|c| !c.mons.is_empty())
        .unwrap_or(false);
    if !has_keyring {
        return Err(die(
            p,
            "ceph not fully configured - missing '/etc/pve/priv/ceph.client.admin.keyring'",
        ));
    }
    Ok(())
}

/// `pveceph mon create` (MON.pm): the first monitor also creates a manager.
async fn mon_create(ctx: &Ctx, args: &[String], p: &mut Proc) -> i32 {
    let usage = "USAGE: pveceph mon create  [OPTIONS]";
    let a = match Args::parse(args, &[], &["monid", "mon-address"]) {
        Ok(a) => a,
        Err(e) => return usage_error(p, &e, usage),
    };
    if let Err(c) = check_inited(ctx, p) {
        return c;
    }
    if let Err(c) = require_quorum(ctx, p) {
        return c;
    }
    let node = node_of(ctx);
    let (name, ip, network, exists) = {
        let w = ctx.lab.world();
        let n = &w.nodes[node];
        let c = ceph_of(&w, node);
        (
            n.name.clone(),
            n.ip,
            c.map(|c| c.network.clone()).unwrap_or_default(),
            c.map(|c| c.mons.contains(&node)).unwrap_or(false),
        )
    };
    let monid = a.get("monid").unwrap_or(&name).to_string();
    if let Some(addr) = a.get("mon-address") {
        if addr != ip.to_string() {
            return die(
                p,
                &format!("Specified monitor IP '{addr}' not configured or up on {name}!"),
            );
        }
    } else if !cidr_contains(&network, ip) {
        return die(p, &format!("No active IP found for the requested ceph public network '{network}' on node '{name}'"));
    }
    if exists {
        return die(p, &format!("monitor '{monid}' already exists"));
    }
    let _lock = match ceph_conf_lock(ctx, node).await {
        Ok(g) => g,
        Err(e) => return die(p, &e),
    };
    if let Some(code) = ctx.cli_step("pveceph.mon", p, die).await {
        return code;
    }
    let first = {
        let mut w = ctx.lab.world();
        let Some(Some(c)) = ceph_slot(&mut w, node) else {
            return 255;
        };
        let first = c.mons.is_empty();
        c.add_mon(node, ip);
        if first && !c.mgrs.contains(&node) {
            c.mgrs.push(node);
        }
        observe_all(&mut w);
        first
    };
    if first {
        p.out("creating new monitor keyring\n");
    }
    if first {
        p.out(&mgr_created(&name));
    }
    p.out("Configuring keyring for ceph-crash.service\n");
    0
}

/// `pveceph mgr create` (Services.pm `create_mgr`).
async fn mgr_create(ctx: &Ctx, args: &[String], p: &mut Proc) -> i32 {
    let usage = "USAGE: pveceph mgr create  [OPTIONS]";
    let a = match Args::parse(args, &[], &["id"]) {
        Ok(a) => a,
        Err(e) => return usage_error(p, &e, usage),
    };
    if let Err(c) = check_inited(ctx, p) {
        return c;
    }
    let node = node_of(ctx);
    let name = ctx
        .lab
        .hosts
        .get(node)
        .map(|h| h.name.clone())
        .unwrap_or_default();
    let id = a.get("id").unwrap_or(&name).to_string();
    let exists = ceph_of(&ctx.lab.world(), node)
        .map(|c| c.mgrs.contains(&node))
        .unwrap_or(false);
    if exists {
        return die(
            p,
            &format!("ceph manager directory '/var/lib/ceph/mgr/ceph-{id}' already exists"),
        );
    }
    if let Some(code) = ctx.cli_step("pveceph.mgr", p, die).await {
        return code;
    }
    {
        let mut w = ctx.lab.world();
        if let Some(Some(c)) = ceph_slot(&mut w, node) {
            c.mgrs.push(node);
        }
        observe_all(&mut w);
    }
    p.out(&mgr_created(&id));
    0
}

/// `pveceph osd create DEV` (OSD.pm): a whole unused block device.
async fn osd_create(ctx: &Ctx, args: &[String], p: &mut Proc) -> i32 {
    let usage = "USAGE: pveceph osd create <dev> [OPTIONS]";
    let a = match Args::parse(
        args,
        &["encrypted"],
        &[
            "db_dev",
            "wal_dev",
            "db_dev_size",
            "wal_dev_size",
            "crush-device-class",
            "osds-per-device",
        ],
    ) {
        Ok(a) => a,
        Err(e) => return usage_error(p, &e, usage),
    };
    let Some(dev) = a.pos.first().cloned() else {
        return usage_error(p, "400 not enough arguments", usage);
    };
    if let Err(c) = check_configured(ctx, p) {
        return c;
    }
    let node = node_of(ctx);
    let size = {
        let w = ctx.lab.world();
        let Some(n) = w.nodes.get(node) else {
            return 255;
        };
        // `PVE::Diskmanage::get_disks` lists whole disks only, so a partition has no info.
        let partition = dev
            .strip_prefix("/dev/sd")
            .is_some_and(|r| r.chars().any(|c| c.is_ascii_digit()));
        match n.disks.iter().find(|d| d.dev == dev).filter(|_| !partition) {
            None => {
                drop(w);
                return die(p, &format!("unable to get device info for '{dev}'"));
            }
            Some(d) if d.used.is_some() => {
                drop(w);
                return die(p, &format!("device '{dev}' is already in use"));
            }
            Some(d) => d.size_gb,
        }
    };
    p.out(&format!(
        "create OSD on {dev} (bluestore)\nwipe disk/partition: {dev}\n"
    ));
    if let Some(code) = ctx.cli_step("pveceph.osd", p, die).await {
        return code;
    }
    let id = add_osd(&ctx.lab, node, size);
    match id {
        Some(id) => {
            if let Some(n) = ctx.lab.world().nodes.get_mut(node) {
                if let Some(d) = n.disks.iter_mut().find(|d| d.dev == dev) {
                    d.used = Some(format!("ceph osd.{id}"));
                }
            }
            p.out(&format!("--> ceph-volume lvm activate successful for osd ID: {id}\n--> ceph-volume lvm create successful for: {dev}\n"));
            0
        }
        None => die(
            p,
            "ceph not fully configured - missing '/etc/pve/priv/ceph.client.admin.keyring'",
        ),
    }
}

fn add_osd(lab: &LabInner, node: usize, size_gb: u64) -> Option<u32> {
    let mut w = lab.world();
    let Some(Some(c)) = ceph_slot(&mut w, node) else {
        return None;
    };
    let id = c.add_osd(node, size_gb, super::world::now_secs());
    observe_all(&mut w);
    Some(id)
}

/// `pveceph pool create NAME` (Pool.pm; pg_num default 128, add_storages default 0). Its CLI
/// entry has no `$upid_exit`, so a failed task still exits 0 (pveceph.pm `$cmddef`); mon, mgr
/// and osd create exit 255 on failure.
async fn pool_create(ctx: &Ctx, args: &[String], p: &mut Proc) -> i32 {
    let usage = "USAGE: pveceph pool create <name> [OPTIONS]";
    let a = match Args::parse(
        args,
        &["add_storages"],
        &[
            "size",
            "min_size",
            "pg_num",
            "pg_autoscale_mode",
            "application",
            "crush_rule",
            "target_size",
            "target_size_ratio",
            "pg_num_min",
        ],
    ) {
        Ok(a) => a,
        Err(e) => return usage_error(p, &e, usage),
    };
    let Some(name) = a.pos.first().cloned() else {
        return usage_error(p, "400 not enough arguments", usage);
    };
    if let Err(c) = check_configured(ctx, p) {
        return c;
    }
    let node = node_of(ctx);
    let add_storages = a.flag("add_storages");
    if add_storages
        && !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return die(
            p,
            "pool name contains characters which are illegal for storage naming",
        );
    }
    let (def_size, def_min) = ceph_of(&ctx.lab.world(), node)
        .map(|c| (c.size, c.min_size))
        .unwrap_or((3, 2));
    let size: u32 = a
        .get("size")
        .and_then(|v| v.parse().ok())
        .unwrap_or(def_size);
    let min_size: u32 = a
        .get("min_size")
        .and_then(|v| v.parse().ok())
        .unwrap_or(def_min);
    let pg_num: u32 = a.get("pg_num").and_then(|v| v.parse().ok()).unwrap_or(128);
    if ceph_of(&ctx.lab.world(), node)
        .map(|c| c.pools.iter().any(|x| x.name == name))
        .unwrap_or(false)
    {
        return die(p, &format!("pool '{name}' already exists"));
    }
    if let Some(code) = ctx
        .cli_step("pveceph.pool", p, super::shell::task_error)
        .await
    {
        return code;
    }
    {
        let mut w = ctx.lab.world();
        let cluster = w.nodes.get(node).and_then(|n| n.cluster);
        if let Some(Some(c)) = ceph_slot(&mut w, node) {
            let id = c.pools.iter().map(|x| x.id).max().unwrap_or(1) + 1;
            c.pools.push(Pool {
                id,
                name: name.clone(),
                size,
                min_size,
                pg_num,
                created: super::world::now_secs(),
            });
        }
        if add_storages {
            if let Some(c) = cluster.and_then(|c| w.clusters.get_mut(c)) {
                c.rbd_storages.insert(name.clone());
            }
        }
    }
    for (k, v) in [
        ("size", size.to_string()),
        ("application", "rbd".to_string()),
        ("min_size", min_size.to_string()),
        ("pg_autoscale_mode", "on".to_string()),
        ("pg_num", pg_num.to_string()),
    ] {
        p.out(&format!("pool {name}: applying {k} = {v}\n"));
    }
    0
}

/// `ceph …` on a node where Ceph is installed.
pub(crate) async fn ceph(ctx: &Ctx, rest: &[String], p: &mut Proc) -> i32 {
    let mut format = "plain".to_string();
    let mut words = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let w = rest[i].as_str();
        if w == "--format" || w == "-f" {
            format = rest.get(i + 1).cloned().unwrap_or_default();
            i += 2;
            continue;
        }
        if let Some(f) = w.strip_prefix("--format=") {
            format = f.to_string();
        } else {
            words.push(w.to_string());
        }
        i += 1;
    }
    if words.first().map(String::as_str) == Some("-v")
        || words.first().map(String::as_str) == Some("--version")
    {
        p.out("ceph version 20.2.0 (69f84cc2651aa259a15bc192ddaabd3baba07489) tentacle (stable)\n");
        return 0;
    }
    let node = node_of(ctx);
    let (inited, quorum_ok) = {
        let w = ctx.lab.world();
        match ceph_of(&w, node) {
            None => (false, false),
            Some(c) => (true, !c.quorum(&view(&w)).is_empty()),
        }
    };
    if !inited {
        p.err("Error initializing cluster client: ObjectNotFound('RADOS object not found (error calling conf_read_file)')\n");
        return 1;
    }
    if !quorum_ok {
        // No monitor to talk to: the client hunts until its 300 s timeout.
        ctx.lab.pause("ceph.connect_timeout", 1.0).await;
        p.err("[errno 110] RADOS timed out (error connecting to the cluster)\n");
        return 1;
    }
    let json = format.starts_with("json");
    let pretty = format == "json-pretty";
    if let Some(code) = ceph_admin(ctx, &words, json, p) {
        return code;
    }
    let mut w = ctx.lab.world();
    observe_all(&mut w);
    let Some(c) = ceph_of(&w, node) else { return 1 };
    let v = view(&w);
    let words_ref: Vec<&str> = words.iter().map(String::as_str).collect();
    let render = |val: serde_json::Value| -> String {
        if pretty {
            format!(
                "{}\n",
                serde_json::to_string_pretty(&val).unwrap_or_default()
            )
        } else {
            format!("{val}\n")
        }
    };
    let out = match words_ref.as_slice() {
        ["-s"] | ["status"] | ["-s", ..] => {
            if json {
                render(c.status_json(&v))
            } else {
                c.status_text(&v)
            }
        }
        ["health"] | ["health", "detail"] => {
            let detail = words_ref.len() == 2;
            if json {
                render(c.health_json(&v, detail))
            } else {
                c.health_text(&v, detail)
            }
        }
        ["osd", "tree"] => {
            if json {
                render(c.osd_tree_json(&v))
            } else {
                c.osd_tree_text(&v)
            }
        }
        ["osd", "pool", "ls"] | ["osd", "lspools"] => {
            if json {
                render(serde_json::Value::from(
                    c.all_pools()
                        .iter()
                        .map(|x| x.name.clone())
                        .collect::<Vec<_>>(),
                ))
            } else {
                c.all_pools()
                    .iter()
                    .map(|x| format!("{}\n", x.name))
                    .collect()
            }
        }
        ["osd", "stat"] => c.osd_stat_text(&v),
        ["mon", "stat"] => {
            let q: Vec<String> = c.quorum(&v).iter().map(|m| v[*m].0.clone()).collect();
            format!(
                "e{}: {} mons at {{...}}, election epoch {}, leader 0 {}, quorum 0 {}\n",
                c.monmap_epoch,
                c.mons.len(),
                2 * c.mons.len() + 1,
                q.first().cloned().unwrap_or_default(),
                q.join(",")
            )
        }
        _ => {
            drop(w);
            p.err(&format!(
                "no valid command found; 10 closest matches:\n{}\nError EINVAL: invalid command\n",
                words.join(" ")
            ));
            return 22;
        }
    };
    drop(w);
    p.out(&out);
    0
}

/// The `ceph` commands that change the maps (`ceph_admin.rs`); `None` for the others.
fn ceph_admin(ctx: &Ctx, words: &[String], json: bool, p: &mut Proc) -> Option<i32> {
    let sure = words.iter().any(|w| w == "--yes-i-really-mean-it");
    let plain: Vec<&str> = words
        .iter()
        .map(String::as_str)
        .filter(|w| *w != "--yes-i-really-mean-it")
        .collect();
    let node = node_of(ctx);
    let mut w = ctx.lab.world();
    let now = super::world::now_secs();
    let Some(Some(c)) = ceph_slot(&mut w, node) else {
        return None;
    };
    let (err, outs) = match plain.as_slice() {
        ["osd", "out", ids @ ..] if !ids.is_empty() => {
            let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
            c.osd_out(&ids, now)
        }
        ["osd", "pool", "set", pool, var, val] => match c.pool_set(pool, var, val, sure) {
            Ok(m) => (0, m),
            Err(e) => e,
        },
        ["osd", "pool", "get", pool, var] => {
            let id = c.all_pools().iter().find(|x| x.name == *pool).map(|x| x.id);
            let got = c.pool_get(pool, var);
            drop(w);
            return Some(match got {
                Ok(text) if json => {
                    let n: u32 = text
                        .rsplit(' ')
                        .next()
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    p.out(&format!(
                        "{}\n",
                        serde_json::json!({"pool": pool, "pool_id": id, *var: n})
                    ));
                    0
                }
                Ok(text) => {
                    p.out(&text);
                    0
                }
                Err((e, m)) => super::ceph_admin::reply(p, e, &m),
            });
        }
        // ConfigMonitor: a set prints nothing. Only `mon_allow_pool_size_one` has an effect
        // here; pveceph's ceph.conf values (`osd_pool_default_size` …) outrank the config
        // database anyway.
        ["config", "set", _who, name, value] => {
            if *name == "mon_allow_pool_size_one" {
                c.allow_pool_size_one = matches!(*value, "true" | "1" | "yes" | "on");
            }
            (0, String::new())
        }
        ["config", "get", _who, "mon_allow_pool_size_one"] => {
            let v = c.allow_pool_size_one;
            drop(w);
            p.out(&format!("{v}\n"));
            return Some(0);
        }
        _ => return None,
    };
    observe_all(&mut w);
    drop(w);
    Some(super::ceph_admin::reply(p, err, &outs))
}

/// `ceph-volume lvm create --data VG/LV|DEV`.
pub(crate) async fn ceph_volume(ctx: &Ctx, rest: &[String], p: &mut Proc) -> i32 {
    let words: Vec<&str> = rest.iter().take(2).map(String::as_str).collect();
    if words != ["lvm", "create"] && words != ["lvm", "prepare"] {
        p.err("usage: ceph-volume [-h] [--cluster CLUSTER] [--log-level {debug,info,warning,error,critical}]\n                   [--log-path LOG_PATH]\nceph-volume: error: unrecognized arguments\n");
        return 2;
    }
    let a = match Args::parse(
        &rest[2..],
        &["bluestore", "dmcrypt", "no-systemd"],
        &[
            "data",
            "block.db",
            "block.wal",
            "crush-device-class",
            "osd-id",
        ],
    ) {
        Ok(a) => a,
        Err(e) => {
            p.err(&format!("ceph-volume lvm create: error: {e}\n"));
            return 2;
        }
    };
    let Some(data) = a.get("data").map(str::to_string) else {
        p.err("ceph-volume lvm create: error: the following arguments are required: --data\n");
        return 2;
    };
    let node = node_of(ctx);
    let configured = ceph_of(&ctx.lab.world(), node)
        .map(|c| !c.mons.is_empty())
        .unwrap_or(false);
    if !configured {
        // Without a cluster and bootstrap-osd keyring there is no OSD id to get (approximation).
        p.err("--> RuntimeError: Unable to create a new OSD id\n");
        return 1;
    }
    let size = {
        let mut w = ctx.lab.world();
        let Some(n) = w.nodes.get_mut(node) else {
            return 1;
        };
        let as_lv = data
            .trim_start_matches("/dev/")
            .split_once('/')
            .map(|(vg, lv)| (vg.to_string(), lv.to_string()));
        if let Some((vg, lv)) = as_lv
            .as_ref()
            .filter(|(vg, lv)| n.lvs.iter().any(|l| &l.vg == vg && &l.name == lv))
        {
            let Some(l) = n.lvs.iter_mut().find(|l| &l.vg == vg && &l.name == lv) else {
                return 1;
            };
            if l.used_by_osd.is_some() {
                drop(w);
                p.err(&format!(
                    "--> RuntimeError: skipping {data}, it is already prepared\n"
                ));
                return 1;
            }
            l.used_by_osd = Some(u32::MAX);
            l.size_gb
        } else if let Some(d) = n.disks.iter_mut().find(|d| d.dev == data) {
            if d.used.is_some() {
                drop(w);
                p.err(&format!("--> RuntimeError: Cannot use device ({data}). A vg/lv path or an existing device is needed\n"));
                return 1;
            }
            d.used = Some("ceph".into());
            d.size_gb
        } else {
            drop(w);
            p.err(&format!("--> RuntimeError: Cannot use device ({data}). A vg/lv path or an existing device is needed\n"));
            return 1;
        }
    };
    p.out("Running command: /usr/bin/ceph-authtool --gen-print-key\n");
    let runtime_error = |p: &mut Proc, m: &str| {
        p.err(&format!("--> RuntimeError: {m}\n"));
        1
    };
    if let Some(code) = ctx.cli_step("pveceph.osd", p, runtime_error).await {
        return code;
    }
    let Some(id) = add_osd(&ctx.lab, node, size) else {
        return 1;
    };
    if let Some(n) = ctx.lab.world().nodes.get_mut(node) {
        for l in n.lvs.iter_mut() {
            if l.used_by_osd == Some(u32::MAX) {
                l.used_by_osd = Some(id);
            }
        }
        // A raw device or partition gets ceph-volume's own VG and LV, tagged with the id.
        if let Some(d) = n
            .disks
            .iter_mut()
            .find(|d| d.dev == data && d.used.as_deref() == Some("ceph"))
        {
            d.used = Some(format!("ceph osd.{id}"));
        }
    }
    p.out(&format!("--> ceph-volume lvm activate successful for osd ID: {id}\n--> ceph-volume lvm create successful for: {data}\n"));
    0
}

fn parse_size_gb(s: &str) -> Option<u64> {
    let t = s.trim().to_lowercase();
    let (num, mult) = if let Some(n) = t.strip_suffix('t') {
        (n, 1024.0)
    } else if let Some(n) = t.strip_suffix('g') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 1.0 / 1024.0)
    } else {
        (t.as_str(), 1.0 / 1024.0)
    };
    let v: f64 = num.parse().ok()?;
    Some((v * mult).ceil() as u64)
}

/// `pvcreate`, `vgcreate`, `lvcreate`, `lvs`, `vgs` (LVM2's messages).
pub(crate) async fn lvm(ctx: &Ctx, cmd: &str, rest: &[String], p: &mut Proc) -> i32 {
    let node = node_of(ctx);
    ctx.lab.pause("lvm", 1.0).await;
    let mut w = ctx.lab.world();
    let Some(n) = w.nodes.get_mut(node) else {
        return 5;
    };
    let pos: Vec<&String> = rest.iter().filter(|a| !a.starts_with('-')).collect();
    match cmd {
        "pvcreate" => {
            let mut status = 0;
            for dev in rest.iter().filter(|a| a.starts_with("/dev/")) {
                match n.disks.iter_mut().find(|d| &d.dev == dev) {
                    Some(d) if d.used.is_none() => {
                        d.used = Some("LVM".into());
                        p.out(&format!(
                            "  Physical volume \"{dev}\" successfully created.\n"
                        ));
                    }
                    Some(_) => {
                        p.err(&format!("  Cannot use {dev}: device is partitioned\n"));
                        status = 5;
                    }
                    None => {
                        p.err(&format!("  No device found for {dev}.\n"));
                        status = 5;
                    }
                }
            }
            status
        }
        "vgcreate" => {
            let Some(vg) = pos.first().map(|s| s.to_string()) else {
                p.err("  No command with matching syntax recognised.  Run 'vgcreate --help' for more information.\n");
                return 3;
            };
            if n.vgs.iter().any(|v| v.name == vg) {
                p.err(&format!("  A volume group called {vg} already exists.\n"));
                return 5;
            }
            let mut size = 0;
            for dev in pos.iter().skip(1) {
                match n.disks.iter_mut().find(|d| &d.dev == *dev) {
                    Some(d) if d.used.is_none() || d.used.as_deref() == Some("LVM") => {
                        d.used = Some(format!("LVM {vg}"));
                        size += d.size_gb;
                    }
                    _ => {
                        p.err(&format!(
                            "  Device {dev} excluded: device is partitioned.\n"
                        ));
                        return 5;
                    }
                }
            }
            n.vgs.push(super::world::Vg {
                name: vg.clone(),
                size_gb: size,
                free_gb: size,
            });
            p.out(&format!("  Volume group \"{vg}\" successfully created\n"));
            0
        }
        "lvcreate" => {
            let a = match Args::parse(
                rest,
                &["y", "yes", "W", "Zy"],
                &["L", "size", "l", "extents", "n", "name"],
            ) {
                Ok(a) => a,
                Err(e) => {
                    p.err(&format!("  {e}\n"));
                    return 3;
                }
            };
            let Some(vg) = a.pos.first().cloned() else {
                p.err("  Please specify a logical volume path.\n");
                return 3;
            };
            let Some(name) = a.get("n").or(a.get("name")).map(str::to_string) else {
                p.err("  Please specify a logical volume name.\n");
                return 3;
            };
            let Some(v) = n.vgs.iter_mut().find(|v| v.name == vg) else {
                p.err(&format!(
                    "  Volume group \"{vg}\" not found\n  Cannot process volume group {vg}\n"
                ));
                return 5;
            };
            let size = match (
                a.get("L").or(a.get("size")),
                a.get("l").or(a.get("extents")),
            ) {
                (Some(s), _) => parse_size_gb(s),
                (None, Some(e)) if e.eq_ignore_ascii_case("100%FREE") => Some(v.free_gb),
                _ => None,
            };
            let Some(size) = size.filter(|s| *s > 0) else {
                p.err("  Please specify either size or extents but not both.\n");
                return 3;
            };
            if size > v.free_gb {
                p.err(&format!("  Volume group \"{vg}\" has insufficient free space ({} extents): {} required.\n", v.free_gb * 256, size * 256));
                return 5;
            }
            if n.lvs.iter().any(|l| l.vg == vg && l.name == name) {
                p.err(&format!(
                    "  Logical Volume \"{name}\" already exists in volume group \"{vg}\"\n"
                ));
                return 5;
            }
            v.free_gb -= size;
            n.lvs.push(super::world::Lv {
                vg,
                name: name.clone(),
                size_gb: size,
                used_by_osd: None,
            });
            p.out(&format!("  Logical volume \"{name}\" created.\n"));
            0
        }
        "lvs" => {
            p.out("  LV   VG   Attr       LSize\n");
            for l in &n.lvs {
                p.out(&format!(
                    "  {:<4} {:<4} -wi-a----- {}.00g\n",
                    l.name, l.vg, l.size_gb
                ));
            }
            0
        }
        "vgs" => {
            p.out("  VG   #PV #LV #SN Attr   VSize  VFree\n");
            for v in &n.vgs {
                p.out(&format!(
                    "  {:<4}   1   0   0 wz--n- {}.00g {}.00g\n",
                    v.name, v.size_gb, v.free_gb
                ));
            }
            0
        }
        _ => 127,
    }
}

/// `/etc/pve/ceph.conf` as `pveceph init` writes it.
pub(crate) fn ceph_conf(lab: &LabInner, node: usize) -> Option<String> {
    let w = lab.world();
    let c = ceph_of(&w, node)?;
    let mut s = format!(
        "[global]\n\tauth_client_required = cephx\n\tauth_cluster_required = cephx\n\tauth_service_required = cephx\n\tcluster_network = {}\n\tfsid = {}\n\tmon_allow_pool_delete = true\n",
        c.cluster_network.clone().unwrap_or_else(|| c.network.clone()),
        c.fsid
    );
    let hosts: Vec<String> = c
        .mons
        .iter()
        .filter_map(|m| w.nodes.get(*m))
        .map(|n| n.ip.to_string())
        .collect();
    if !hosts.is_empty() {
        s.push_str(&format!("\tmon_host = {}\n", hosts.join(" ")));
    }
    s.push_str(&format!(
        "\tms_bind_ipv4 = true\n\tms_bind_ipv6 = false\n\tosd_pool_default_min_size = {}\n\tosd_pool_default_size = {}\n\tpublic_network = {}\n\n[client]\n\tkeyring = /etc/pve/priv/$cluster.$name.keyring\n",
        c.min_size, c.size, c.network
    ));
    for m in &c.mons {
        if let Some(n) = w.nodes.get(*m) {
            s.push_str(&format!("\n[mon.{}]\n\tpublic_addr = {}\n", n.name, n.ip));
        }
    }
    Some(s)
}
