//! `pveceph osd|mon|mgr|pool destroy` and `pveceph purge`: taking Ceph off a node, and apart.
//!
//! Sources, `proxmox/pve-manager@14a22df3`:
//! - `PVE/API2/Ceph/OSD.pm` `destroyosd`
//!   (<https://git.proxmox.com/?p=pve-manager.git;a=blob;f=PVE/API2/Ceph/OSD.pm>): the OSD
//!   must sit in this node's host bucket of `osd tree` (a `die` without newline, so perl
//!   appends ` at FILE line N.`), be `out` and be down; the worker prints its steps, runs
//!   `osd crush remove`, `auth del`, `osd rm` (the host bucket stays) and
//!   `ceph-volume lvm zap --osd-id N [--destroy]` (`PVE/Ceph/Tools.pm` `ceph_volume_zap`).
//! - `PVE/API2/Ceph/MON.pm` `destroymon` and `$assert_mon_can_remove`; `PVE/API2/Ceph/MGR.pm`
//!   `destroymgr` with `PVE/Ceph/Services.pm` `destroy_mgr`; `PVE/API2/Ceph/Pool.pm`
//!   `destroypool` with `PVE/Ceph/Tools.pm` `destroy_pool`; `PVE/CLI/pveceph.pm` `purge` with
//!   `PVE/Ceph/Tools.pm` `purge_all_ceph_services`/`purge_all_ceph_files`.
//! - `PVE/CLI/pveceph.pm` `$cmddef`: osd, mon and mgr destroy have `$upid_exit` (a failed
//!   worker exits 255, its error on stderr); pool destroy has none (a failed worker prints its
//!   error and exits 0). The CLI runs workers in the foreground and prints no UPID; like
//!   `pveceph osd create`, the lab records no task for them.
//! - ceph-volume's zap (`src/ceph-volume/ceph_volume/devices/lvm/zap.py` `zap_lv`): with
//!   `--destroy` the LV goes, and its VG when it was the last LV (its PV too, since Squid:
//!   ceph commit 7f007e7f, which is why pve-manager no longer runs `pvremove`); without, the
//!   LV stays with its tags cleared. Its lines go to stderr with `--> `; the lab leaves out
//!   dd's statistics and LVM's own output.

use super::ceph::Ceph;
use super::pveceph::{ceph_conf_lock, ceph_of, ceph_slot, check_inited, observe_all, view};
use super::pvecm::node_of;
use super::shell::{die, task_error, usage_error, Args, Ctx, Proc};
use super::world::World;

/// `PVE::Ceph::Services::SERVICE_REGEX`: `[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?`.
fn service_id_ok(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// The one positional argument of a destroy command, checked against the API schema.
fn one_arg(a: &Args, name: &str, usage: &str, p: &mut Proc) -> Result<String, i32> {
    match a.pos.as_slice() {
        [] => Err(usage_error(p, "400 not enough arguments", usage)),
        [v] => Ok(v.clone()),
        [_, extra, ..] => Err(usage_error(
            p,
            &format!("400 too many arguments: {extra}"),
            usage,
        )),
    }
    .and_then(|v| {
        if name != "osdid" && !service_id_ok(&v) {
            return Err(usage_error(
                p,
                &format!("{name}: value does not match the regex pattern"),
                usage,
            ));
        }
        Ok(v)
    })
}

/// `PVE::RADOS->new()`: without a monitor quorum the connection times out.
fn rados(w: &World, node: usize) -> Result<(), String> {
    match ceph_of(w, node) {
        Some(c) if !c.quorum(&view(w)).is_empty() => Ok(()),
        Some(_) => Err("got timeout".into()),
        None => Err("rados_connect failed - No such file or directory".into()),
    }
}

/// `pveceph osd destroy OSDID [--cleanup]` (OSD.pm `destroyosd`).
pub(crate) async fn osd_destroy(ctx: &Ctx, args: &[String], p: &mut Proc) -> i32 {
    let usage = "USAGE: pveceph osd destroy <osdid> [OPTIONS]";
    let a = match Args::parse(args, &["cleanup"], &[]) {
        Ok(a) => a,
        Err(e) => return usage_error(p, &e, usage),
    };
    let raw = match one_arg(&a, "osdid", usage, p) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let Ok(id) = raw.parse::<i64>() else {
        return usage_error(
            p,
            &format!("osdid: type check ('integer') failed - got '{raw}'"),
            usage,
        );
    };
    if let Err(c) = check_inited(ctx, p) {
        return c;
    }
    let node = node_of(ctx);
    let cleanup = a.flag("cleanup");
    let name = ctx.host_name();
    {
        let w = ctx.lab.world();
        if let Err(e) = rados(&w, node) {
            drop(w);
            return die(p, &e);
        }
        let Some(c) = ceph_of(&w, node) else {
            return 255;
        };
        // `osd_belongs_to_node`: the OSD among the children of this node's host bucket.
        let Some(osd) = c
            .osds
            .iter()
            .find(|o| i64::from(o.id) == id && o.node == node)
        else {
            drop(w);
            return die(
                p,
                &format!("OSD osd.{id} does not belong to node {name}! at /usr/share/perl5/PVE/API2/Ceph/OSD.pm line 1008."),
            );
        };
        if osd.is_in {
            drop(w);
            return die(p, "osd is in use (in == 1)");
        }
        if c.osd_up(&view(&w), osd) {
            drop(w);
            return die(p, "osd is still running (up == 1)");
        }
    }
    if let Some(code) = ctx.cli_step("pveceph.osd_destroy", p, die).await {
        return code;
    }
    let id = id as u32;
    let section = format!("osd.{id}");
    p.out(&format!("destroy OSD {section}\nRemove {section} from the CRUSH map\nRemove the {section} authentication key.\nRemove OSD {section}\nRemove {section} mclock max capacity iops settings from config\n"));
    let zap = {
        let mut w = ctx.lab.world();
        if let Some(Some(c)) = ceph_slot(&mut w, node) {
            c.remove_osd(id);
        }
        let zap = zap(&mut w, node, id, cleanup);
        observe_all(&mut w);
        zap
    };
    p.err(&zap);
    0
}

/// `ceph-volume lvm zap --osd-id ID [--destroy]` on the lab's disk and LVM model: what it
/// prints (stderr).
fn zap(w: &mut World, node: usize, id: u32, destroy: bool) -> String {
    let Some(n) = w.nodes.get_mut(node) else {
        return String::new();
    };
    let tag = format!("ceph osd.{id}");
    let mut s = String::new();
    let zapping = |s: &mut String, path: &str| {
        s.push_str(&format!("--> Zapping: {path}\nRunning command: /usr/bin/dd if=/dev/zero of={path} bs=1M count=10 conv=fsync\n"));
    };
    if let Some(d) = n.disks.iter_mut().find(|d| d.used.as_deref() == Some(&tag)) {
        // ceph-volume's own VG on a raw device or partition: `ceph-<uuid>/osd-block-<uuid>`.
        let vg = format!("ceph-{}", super::keys::uuid_v4());
        zapping(
            &mut s,
            &format!("/dev/{vg}/osd-block-{}", super::keys::uuid_v4()),
        );
        if destroy {
            s.push_str(&format!(
                "--> Only 1 LV left in VG, will proceed to destroy volume group {vg}\n"
            ));
            d.used = None;
        } else {
            // The PV, VG and LV stay: the device is still in use.
            d.used = Some("LVM".into());
        }
    } else if let Some(pos) = n.lvs.iter().position(|l| l.used_by_osd == Some(id)) {
        let (vg, lv, size) = {
            let l = &n.lvs[pos];
            (l.vg.clone(), l.name.clone(), l.size_gb)
        };
        let path = format!("/dev/{vg}/{lv}");
        zapping(&mut s, &path);
        if destroy {
            // The installer's `pve` VG also holds root, swap and data.
            let others =
                n.lvs.iter().filter(|l| l.vg == vg).count() - 1 + if vg == "pve" { 3 } else { 0 };
            n.lvs.remove(pos);
            if others == 0 {
                s.push_str(&format!(
                    "--> Only 1 LV left in VG, will proceed to destroy volume group {vg}\n"
                ));
                n.vgs.retain(|v| v.name != vg);
                let owner = format!("LVM {vg}");
                for d in n.disks.iter_mut() {
                    if d.used.as_deref() == Some(owner.as_str()) {
                        d.used = None;
                    }
                }
            } else {
                s.push_str(&format!("--> More than 1 LV left in VG, will proceed to destroy LV only\n--> Removing LV because --destroy was given: {path}\n"));
                if let Some(v) = n.vgs.iter_mut().find(|v| v.name == vg) {
                    v.free_gb = (v.free_gb + size).min(v.size_gb);
                }
            }
        } else if let Some(l) = n.lvs.get_mut(pos) {
            l.used_by_osd = None;
        }
    }
    s.push_str(&format!("--> Zapping successful for OSD: {id}\n"));
    s
}

/// `pveceph mon destroy MONID` (MON.pm `destroymon`): nothing printed on success.
pub(crate) async fn mon_destroy(ctx: &Ctx, args: &[String], p: &mut Proc) -> i32 {
    let usage = "USAGE: pveceph mon destroy <monid>";
    let a = match Args::parse(args, &[], &[]) {
        Ok(a) => a,
        Err(e) => return usage_error(p, &e, usage),
    };
    let monid = match one_arg(&a, "monid", usage, p) {
        Ok(v) => v,
        Err(code) => return code,
    };
    if let Err(c) = check_inited(ctx, p) {
        return c;
    }
    let node = node_of(ctx);
    let check = |w: &World| -> Result<usize, String> {
        rados(w, node)?;
        let c = ceph_of(w, node).ok_or("got timeout")?;
        let names: Vec<(usize, String)> = c
            .mons
            .iter()
            .map(|m| {
                (
                    *m,
                    w.nodes.get(*m).map(|n| n.name.clone()).unwrap_or_default(),
                )
            })
            .collect();
        assert_mon_can_remove(&names, &monid, node)
    };
    if let Err(e) = check(&ctx.lab.world()) {
        return die(p, &e);
    }
    // The worker: under the ceph.conf lock, reload and check again.
    let _lock = match ceph_conf_lock(ctx, node).await {
        Ok(g) => g,
        Err(e) => return die(p, &e),
    };
    if let Some(code) = ctx.cli_step("pveceph.mon_destroy", p, die).await {
        return code;
    }
    let mut w = ctx.lab.world();
    let mon_node = match check(&w) {
        Ok(m) => m,
        Err(e) => {
            drop(w);
            return die(p, &e);
        }
    };
    if let Some(Some(c)) = ceph_slot(&mut w, node) {
        c.remove_mon(mon_node, &monid);
    }
    observe_all(&mut w);
    0
}

/// MON.pm `$assert_mon_can_remove`: the monitor's node.
fn assert_mon_can_remove(
    mons: &[(usize, String)],
    monid: &str,
    node: usize,
) -> Result<usize, String> {
    let Some((mon_node, _)) = mons.iter().find(|(_, n)| n == monid) else {
        return Err(format!("no such monitor id '{monid}'"));
    };
    if *mon_node != node {
        return Err(format!(
            "monitor filesystem '/var/lib/ceph/mon/ceph-{monid}' does not exist on this node"
        ));
    }
    if mons.len() <= 1 {
        return Err("can't remove last monitor".into());
    }
    Ok(*mon_node)
}

/// `pveceph mgr destroy ID` (MGR.pm `destroymgr`, Services.pm `destroy_mgr`): a standby, if
/// any, becomes active when the active manager goes.
pub(crate) async fn mgr_destroy(ctx: &Ctx, args: &[String], p: &mut Proc) -> i32 {
    let usage = "USAGE: pveceph mgr destroy <id>";
    let a = match Args::parse(args, &[], &[]) {
        Ok(a) => a,
        Err(e) => return usage_error(p, &e, usage),
    };
    let id = match one_arg(&a, "id", usage, p) {
        Ok(v) => v,
        Err(code) => return code,
    };
    if let Err(c) = check_inited(ctx, p) {
        return c;
    }
    if let Some(code) = ctx.cli_step("pveceph.mgr_destroy", p, die).await {
        return code;
    }
    let node = node_of(ctx);
    let dir = format!("/var/lib/ceph/mgr/ceph-{id}");
    let here = {
        let w = ctx.lab.world();
        id == ctx.host_name() && ceph_of(&w, node).is_some_and(|c| c.mgrs.contains(&node))
    };
    if !here {
        return die(p, &format!("ceph manager directory '{dir}' not found"));
    }
    p.out(&format!("disabling service 'ceph-mgr@{id}.service'\nstopping service 'ceph-mgr@{id}.service'\nremoving manager directory '{dir}'\nremoving authkeys for mgr.{id}\n"));
    let mut w = ctx.lab.world();
    if let Some(Some(c)) = ceph_slot(&mut w, node) {
        c.remove_mgr(node, &id);
    }
    observe_all(&mut w);
    0
}

/// `pveceph pool destroy NAME [--force] [--remove_storages] [--remove_ecprofile]` (Pool.pm
/// `destroypool`): the pveceph-managed RBD storages on the pool are checked for images first,
/// unless forced, and removed with `--remove_storages`.
pub(crate) async fn pool_destroy(ctx: &Ctx, args: &[String], p: &mut Proc) -> i32 {
    let usage = "USAGE: pveceph pool destroy <name> [OPTIONS]";
    let a = match Args::parse(args, &["force", "remove_storages", "remove_ecprofile"], &[]) {
        Ok(a) => a,
        Err(e) => return usage_error(p, &e, usage),
    };
    let name = match a.pos.as_slice() {
        [] => return usage_error(p, "400 not enough arguments", usage),
        [v] => v.clone(),
        [_, extra, ..] => {
            return usage_error(p, &format!("400 too many arguments: {extra}"), usage)
        }
    };
    if let Err(c) = check_inited(ctx, p) {
        return c;
    }
    if let Some(code) = ctx.cli_step("pveceph.pool_destroy", p, task_error).await {
        return code;
    }
    let node = node_of(ctx);
    let mut w = ctx.lab.world();
    let cluster = w.nodes.get(node).and_then(|n| n.cluster);
    // `$get_storages`: the RBD storages whose pool this is (the lab names them after it).
    let storages: Vec<String> = cluster
        .and_then(|c| w.clusters.get(c))
        .map(|c| {
            c.rbd_storages
                .iter()
                .filter(|s| **s == name)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if !a.flag("force") {
        for s in &storages {
            p.out(&format!("checking storage '{s}' for RBD images..\n"));
            let prefix = format!("{s}:");
            let used = w.peers(node).iter().any(|i| {
                w.nodes
                    .get(*i)
                    .is_some_and(|n| n.volumes.keys().any(|v| v.starts_with(&prefix)))
            });
            if used {
                drop(w);
                return task_error(
                    p,
                    &format!("ceph pool '{name}' still in use by storage '{s}'"),
                );
            }
        }
    }
    if let Err(e) = rados(&w, node) {
        drop(w);
        return task_error(p, &e);
    }
    let deleted = match ceph_slot(&mut w, node) {
        Some(Some(c)) => c.delete_pool(&name),
        _ => false,
    };
    if !deleted {
        drop(w);
        return task_error(
            p,
            &format!("mon_command failed - unrecognized pool '{name}'"),
        );
    }
    if a.flag("remove_storages") {
        if let Some(c) = cluster.and_then(|c| w.clusters.get_mut(c)) {
            for s in &storages {
                c.rbd_storages.remove(s);
            }
        }
    }
    observe_all(&mut w);
    0
}

/// What `pveceph purge` found through librados.
struct Found {
    pools: bool,
    osd_here: bool,
    mon_here: bool,
    mons: usize,
}

/// `pveceph purge [--logs] [--crash]` (pveceph.pm `purge`): refuses while pools, OSDs of this
/// node, or other monitors exist; otherwise stops and removes this node's daemons, and removes
/// the config and keyrings unless `ceph.conf` names monitors on other nodes.
pub(crate) async fn purge(ctx: &Ctx, args: &[String], p: &mut Proc) -> i32 {
    let usage = "USAGE: pveceph purge  [OPTIONS]";
    let a = match Args::parse(args, &["logs", "crash"], &[]) {
        Ok(a) => a,
        Err(e) => return usage_error(p, &e, usage),
    };
    if let Some(x) = a.pos.first() {
        return usage_error(p, &format!("400 too many arguments: {x}"), usage);
    }
    let node = node_of(ctx);
    let name = ctx.host_name();
    let found = {
        let w = ctx.lab.world();
        rados(&w, node).and_then(|()| {
            let c: &Ceph = ceph_of(&w, node).ok_or("got timeout")?;
            Ok(Found {
                pools: !c.all_pools().is_empty(),
                osd_here: c.osds.iter().any(|o| o.node == node),
                mon_here: c.mons.contains(&node),
                mons: c.mons.len(),
            })
        })
    };
    let found = match found {
        Ok(f) => Some(f),
        Err(e) => {
            p.err(&format!(
                "Error gathering ceph info, already purged? Message: {e}\n"
            ));
            None
        }
    };
    if let Some(f) = &found {
        let mut message = String::new();
        if f.pools {
            message.push_str("- remove pools, this will !!DESTROY DATA!!\n");
        }
        if f.osd_here {
            message.push_str(&format!("- remove active OSD on {name}\n"));
        }
        if f.mons > 1 && f.mon_here {
            message.push_str(&format!(
                "- remove other MONs, {name} is not the last MON\n"
            ));
        }
        if !message.is_empty() {
            return die(
                p,
                &format!("Unable to purge Ceph!\n\nTo continue:\n{message}"),
            );
        }
    }
    if let Some(code) = ctx.cli_step("pveceph.purge", p, die).await {
        return code;
    }
    let mut w = ctx.lab.world();
    // `purge_all_ceph_files`: the monitors `ceph.conf` names, and whether one is this node's.
    let (monlist, local_mon) = ceph_of(&w, node)
        .map(|c| (c.mons.len(), c.mons.contains(&node)))
        .unwrap_or((0, false));
    // `purge_all_ceph_services`: this node's units stopped and disabled, their directories
    // removed. Without librados the monitor map is not touched (lab: the daemons stay
    // stopped in it).
    if let Some(Some(c)) = ceph_slot(&mut w, node) {
        c.remove_mgr(node, &name);
        if found.is_none() {
            c.stopped.insert(format!("mon.{name}"));
            let osds: Vec<u32> = c
                .osds
                .iter()
                .filter(|o| o.node == node)
                .map(|o| o.id)
                .collect();
            for id in osds {
                c.stopped.insert(format!("osd.{id}"));
            }
        }
    }
    let remove_config = monlist == 0 || (local_mon && found.is_some());
    if remove_config {
        if let Some(slot) = ceph_slot(&mut w, node) {
            *slot = None;
        }
        if let Some(n) = w.nodes.get_mut(node) {
            n.ceph_from = None;
        }
    }
    observe_all(&mut w);
    drop(w);
    if remove_config {
        p.out("Removing config & keyring files\n");
    } else {
        p.err("Foreign MON address in ceph.conf. Keeping config & keyrings\n");
    }
    0
}

#[cfg(test)]
mod unit {
    #[test]
    fn service_ids_follow_the_regex() {
        for (id, ok) in [
            ("ampere-1", true),
            ("a", true),
            ("-a", false),
            ("a-", false),
            ("a.b", false),
            ("", false),
        ] {
            assert_eq!(super::service_id_ok(id), ok, "{id}");
        }
    }

    #[test]
    fn a_monitor_is_removed_only_on_its_node_and_never_the_last() {
        let mons = vec![(0, "ampere-1".to_string()), (1, "ampere-2".to_string())];
        let cases: &[(&str, &str, usize, Result<usize, &str>)] = &[
            ("own", "ampere-2", 1, Ok(1)),
            ("unknown", "ampere-9", 1, Err("no such monitor id 'ampere-9'")),
            (
                "elsewhere",
                "ampere-1",
                1,
                Err("monitor filesystem '/var/lib/ceph/mon/ceph-ampere-1' does not exist on this node"),
            ),
        ];
        for (name, id, node, want) in cases {
            let got = super::assert_mon_can_remove(&mons, id, *node);
            assert_eq!(got, want.map_err(str::to_string), "{name}");
        }
        assert_eq!(
            super::assert_mon_can_remove(&mons[..1], "ampere-1", 0),
            Err("can't remove last monitor".to_string())
        );
    }
}
