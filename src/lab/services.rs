//! What a node's cluster membership lives in, as the shell reaches it: the units
//! (`systemctl start|stop|restart` of `corosync`, `pve-cluster` and the Ceph daemons), the
//! cluster filesystem (`pmxcfs -l`, `killall pmxcfs`), and the files removed to separate a
//! node (`rm /etc/pve/corosync.conf`, `rm -r /etc/corosync/*`, `rm -r /etc/pve/nodes/NAME`),
//! with the glob expansion bash does for them.
//!
//! Sources:
//! - pvecm.adoc "Separate a Node Without Reinstalling"
//!   (<https://pve.proxmox.com/pve-docs/chapter-pvecm.html>): the command sequence, and that the
//!   separated node keeps the other nodes' files under `/etc/pve/nodes`.
//! - pve-cluster `src/pmxcfs/pmxcfs.c` `main`: the lock on `/var/lib/pve-cluster/.pmxcfs.lockfile`
//!   (ten tries a second apart, then `unable to acquire pmxcfs lock`), local mode
//!   (`forcing local mode (although corosync.conf exists)`, quorum forced), log lines
//!   `[main] LEVEL: MSG` on stderr until it daemonizes; `debian/pve-cluster.service`
//!   (`Wants=corosync.service`, `Type=forking`).
//! - corosync `init/systemd/corosync.service.in` and Debian's packaging: corosync starts only
//!   with `/etc/corosync/corosync.conf` (a failed condition is no error); `Makefile.am`
//!   installs `/etc/corosync/service.d` and `uidgid.d`.
//! - coreutils `rm` and psmisc `killall` messages; systemd's message for a failed start job.
//!
//! Lab limits: removing `/etc/pve/corosync.conf` from a quorate cluster (which would take the
//! whole cluster's configuration away) is refused with a lab message.

use super::host::{HostRef, Outcome};
use super::pveceph::{ceph_slot, observe_all};
use super::shell::{Ctx, Proc};
use super::world::{Pmxcfs, World};

/// A unit's state where the lab models it; `None` for other units.
pub(crate) fn unit_active(w: &World, node: usize, unit: &str) -> Option<bool> {
    let n = w.nodes.get(node)?;
    match unit {
        "corosync" => return Some(n.corosync),
        "pve-cluster" => return Some(n.pmxcfs == Pmxcfs::Service),
        _ => {}
    }
    let (kind, id) = unit.split_once('@')?;
    let c = super::pveceph::ceph_of(w, node)?;
    let view = super::pveceph::view(w);
    match kind {
        "ceph-osd" => Some(
            c.osds
                .iter()
                .any(|o| o.id.to_string() == id && o.node == node && c.osd_up(&view, o)),
        ),
        "ceph-mon" => Some(
            id == n.name && c.mons.contains(&node) && !c.stopped.contains(&format!("mon.{id}")),
        ),
        "ceph-mgr" => Some(
            id == n.name && c.mgrs.contains(&node) && !c.stopped.contains(&format!("mgr.{id}")),
        ),
        _ => None,
    }
}

/// `systemctl start|stop|restart UNIT…`: silent on success, as systemctl is.
pub(crate) async fn change(ctx: &Ctx, verb: &str, units: &[String], p: &mut Proc) -> i32 {
    let HostRef::Node(node) = ctx.host else {
        return 0;
    };
    for unit in units {
        let unit = unit.trim_end_matches(".service");
        let step = match unit {
            "corosync" | "pve-cluster" => "pvecm.separate",
            u if u.starts_with("ceph-osd@")
                || u.starts_with("ceph-mon@")
                || u.starts_with("ceph-mgr@") =>
            {
                "ceph.daemon"
            }
            _ => continue,
        };
        match ctx.step(ctx.host, step, step, 0.5).await {
            Outcome::Proceed => {}
            Outcome::Fail(m, code) => {
                p.err(&format!("{}\n", m.trim_end()));
                return code.map(i32::from).unwrap_or(1);
            }
            Outcome::Dropped => return 255,
        }
        let mut w = ctx.lab.world();
        if matches!(verb, "stop" | "restart") {
            stop(&mut w, node, unit);
        }
        if matches!(verb, "start" | "restart" | "reload-or-restart") && !start(&mut w, node, unit) {
            drop(w);
            // systemd's message when the start job's process fails.
            p.err(&format!("Job for {unit}.service failed because the control process exited with error code.\nSee \"systemctl status {unit}.service\" and \"journalctl -xeu {unit}.service\" for details.\n"));
            return 1;
        }
        observe_all(&mut w);
    }
    0
}

/// The Ceph daemon a unit runs, when it is this node's: `osd.3`, `mon.NAME`, `mgr.NAME`.
fn ceph_daemon(w: &mut World, node: usize, unit: &str) -> Option<String> {
    let name = w.nodes.get(node)?.name.clone();
    let (kind, id) = unit.split_once('@')?;
    let c = ceph_slot(w, node)?.as_ref()?;
    let ours = match kind {
        "ceph-osd" => c
            .osds
            .iter()
            .any(|o| o.id.to_string() == id && o.node == node),
        "ceph-mon" => id == name && c.mons.contains(&node),
        "ceph-mgr" => id == name && c.mgrs.contains(&node),
        _ => false,
    };
    ours.then(|| format!("{}.{id}", kind.trim_start_matches("ceph-")))
}

fn stop(w: &mut World, node: usize, unit: &str) {
    match unit {
        "corosync" => {
            if let Some(n) = w.nodes.get_mut(node) {
                n.corosync = false;
            }
        }
        "pve-cluster" => {
            if let Some(n) = w.nodes.get_mut(node) {
                if n.pmxcfs == Pmxcfs::Service {
                    n.pmxcfs = Pmxcfs::Stopped;
                }
            }
        }
        _ => {
            if let Some(d) = ceph_daemon(w, node, unit) {
                if let Some(Some(c)) = ceph_slot(w, node) {
                    c.stopped.insert(d);
                }
            }
        }
    }
}

/// Starts `unit`; false when its process fails.
fn start(w: &mut World, node: usize, unit: &str) -> bool {
    match unit {
        "corosync" => start_corosync(w, node),
        "pve-cluster" => {
            let Some(n) = w.nodes.get_mut(node) else {
                return true;
            };
            match n.pmxcfs {
                // A `pmxcfs -l` still holds the lock: the service's pmxcfs gives up.
                Pmxcfs::Local => return false,
                Pmxcfs::Stopped => n.pmxcfs = Pmxcfs::Service,
                Pmxcfs::Service => {}
            }
            // `Wants=corosync.service`.
            start_corosync(w, node);
        }
        _ => {
            if let Some(d) = ceph_daemon(w, node, unit) {
                if let Some(Some(c)) = ceph_slot(w, node) {
                    c.stopped.remove(&d);
                }
            }
        }
    }
    true
}

/// corosync starts when its configuration is there (else the start condition fails quietly).
fn start_corosync(w: &mut World, node: usize) {
    if let Some(n) = w.nodes.get_mut(node) {
        if n.etc_corosync.contains("corosync.conf") {
            n.corosync = true;
        }
    }
}

/// `pmxcfs [-l]` run by hand.
pub(crate) async fn pmxcfs(ctx: &Ctx, rest: &[String], p: &mut Proc) -> i32 {
    let HostRef::Node(node) = ctx.host else {
        return 127;
    };
    let local = rest.iter().any(|a| a == "-l" || a == "--local");
    let running = ctx
        .lab
        .world()
        .nodes
        .get(node)
        .is_some_and(|n| n.pmxcfs != Pmxcfs::Stopped);
    if running {
        // Ten tries a second apart for the lock.
        ctx.lab.pause("lock.timeout", 1.0).await;
        p.err("[main] notice: unable to acquire pmxcfs lock - trying again\n[main] crit: unable to acquire pmxcfs lock: Resource temporarily unavailable\n[main] notice: exit proxmox configuration filesystem (-1)\n");
        return 255;
    }
    let mut w = ctx.lab.world();
    let Some(n) = w.nodes.get_mut(node) else {
        return 255;
    };
    if local {
        n.pmxcfs = Pmxcfs::Local;
        if n.cluster.is_some() {
            drop(w);
            p.err("[main] notice: forcing local mode (although corosync.conf exists)\n");
        }
    } else {
        // Lab: a pmxcfs started by hand stands in for the service's.
        n.pmxcfs = Pmxcfs::Service;
    }
    0
}

/// `killall [-SIGNAL] NAME…` for the daemons the lab models.
pub(crate) fn killall(ctx: &Ctx, rest: &[String], p: &mut Proc) -> i32 {
    let HostRef::Node(node) = ctx.host else {
        return 1;
    };
    let mut status = 0;
    for name in rest.iter().filter(|a| !a.starts_with('-')) {
        let mut w = ctx.lab.world();
        let Some(n) = w.nodes.get_mut(node) else {
            return 1;
        };
        let killed = match name.as_str() {
            "pmxcfs" if n.pmxcfs != Pmxcfs::Stopped => {
                // SIGTERM is a clean exit: `Restart=on-failure` does not bring it back.
                n.pmxcfs = Pmxcfs::Stopped;
                true
            }
            "corosync" if n.corosync => {
                n.corosync = false;
                true
            }
            _ => false,
        };
        drop(w);
        if !killed {
            p.err(&format!("{name}: no process found\n"));
            status = 1;
        }
    }
    status
}

/// The names a glob in one of the modelled directories expands to, sorted as bash sorts them;
/// `None` when nothing matches (bash then keeps the word).
pub(crate) fn glob(ctx: &Ctx, pattern: &str) -> Option<Vec<String>> {
    let HostRef::Node(node) = ctx.host else {
        return None;
    };
    let (dir, pat) = pattern.rsplit_once('/')?;
    let w = ctx.lab.world();
    let n = w.nodes.get(node)?;
    let names: Vec<String> = match dir {
        "/etc/corosync" => n.etc_corosync.iter().cloned().collect(),
        "/etc/pve/nodes" if n.pmxcfs != Pmxcfs::Stopped => {
            let mut v: Vec<String> = n.foreign_nodes.keys().cloned().collect();
            v.push(n.name.clone());
            v.sort();
            v
        }
        _ => return None,
    };
    let matched: Vec<String> = names
        .into_iter()
        .filter(|name| glob_match(pat, name))
        .map(|name| format!("{dir}/{name}"))
        .collect();
    (!matched.is_empty()).then_some(matched)
}

/// `*` and `?` as bash matches them in one path component (no leading dot for `*`).
fn glob_match(pat: &str, name: &str) -> bool {
    if name.starts_with('.') && !pat.starts_with('.') {
        return false;
    }
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pat.as_bytes(), name.as_bytes())
}

/// `rm [-r] [-f] PATH…` on the files of cluster membership (coreutils' messages).
pub(crate) fn rm(ctx: &Ctx, rest: &[String], p: &mut Proc) -> i32 {
    let HostRef::Node(node) = ctx.host else {
        return 1;
    };
    let (mut recursive, mut force) = (false, false);
    let mut paths = Vec::new();
    for a in rest {
        match a.as_str() {
            "--recursive" => recursive = true,
            "--force" => force = true,
            f if f.starts_with('-') && f.len() > 1 && !f.starts_with("--") => {
                recursive |= f.contains('r') || f.contains('R');
                force |= f.contains('f');
            }
            _ => paths.push(a.clone()),
        }
    }
    if paths.is_empty() {
        if force {
            return 0;
        }
        p.err("rm: missing operand\nTry 'rm --help' for more information.\n");
        return 1;
    }
    let mut status = 0;
    for path in paths {
        let r = remove(ctx, node, &path, recursive);
        let msg = match r {
            Ok(()) => continue,
            Err(Gone::Missing) if force => continue,
            Err(Gone::Missing) => "No such file or directory".to_string(),
            Err(Gone::IsDir) => "Is a directory".to_string(),
            Err(Gone::ReadOnly) => "Permission denied".to_string(),
            Err(Gone::Lab(m)) => {
                p.err(&format!("rm: {m}\n"));
                status = 1;
                continue;
            }
        };
        p.err(&format!("rm: cannot remove '{path}': {msg}\n"));
        status = 1;
    }
    status
}

/// Why a path was not removed.
enum Gone {
    Missing,
    IsDir,
    ReadOnly,
    Lab(String),
}

fn remove(ctx: &Ctx, node: usize, path: &str, recursive: bool) -> Result<(), Gone> {
    let path = path.trim_end_matches('/');
    let mut w = ctx.lab.world();
    let writable = w.node_quorate(node);
    let Some(n) = w.nodes.get_mut(node) else {
        return Err(Gone::Missing);
    };
    if let Some(entry) = path.strip_prefix("/etc/corosync/") {
        if !n.etc_corosync.contains(entry) {
            return Err(Gone::Missing);
        }
        let dir = super::world::ETC_COROSYNC_DIRS.contains(&entry);
        if dir && !recursive {
            return Err(Gone::IsDir);
        }
        n.etc_corosync.remove(entry);
        return Ok(());
    }
    if path == "/etc/corosync" {
        if !recursive {
            return Err(Gone::IsDir);
        }
        n.etc_corosync.clear();
        return Ok(());
    }
    let in_pve = path == "/etc/pve" || path.starts_with("/etc/pve/");
    if in_pve && n.pmxcfs == Pmxcfs::Stopped {
        return Err(Gone::Missing);
    }
    if path == "/etc/pve/corosync.conf" {
        if n.cluster.is_none() {
            return Err(Gone::Missing);
        }
        if n.pmxcfs == Pmxcfs::Local {
            w.separate(node);
            return Ok(());
        }
        if !writable {
            return Err(Gone::ReadOnly);
        }
        return Err(Gone::Lab(
            "removing /etc/pve/corosync.conf from a quorate cluster is not emulated by the lab"
                .into(),
        ));
    }
    if let Some(name) = path.strip_prefix("/etc/pve/nodes/") {
        if name.contains('/') || name.is_empty() {
            return Err(Gone::Missing);
        }
        if !recursive && (n.foreign_nodes.contains_key(name) || name == n.name) {
            return Err(Gone::IsDir);
        }
        if !writable {
            return Err(Gone::ReadOnly);
        }
        if n.foreign_nodes.remove(name).is_some() {
            return Ok(());
        }
        if name == n.name {
            return Err(Gone::Lab(format!(
                "removing the node's own /etc/pve/nodes/{name} is not emulated by the lab"
            )));
        }
        return Err(Gone::Missing);
    }
    Err(Gone::Missing)
}

#[cfg(test)]
mod unit {
    #[test]
    fn globs_match_like_bash() {
        let cases = [
            ("*", "authkey", true),
            ("*", ".hidden", false),
            ("auth*", "authkey", true),
            ("*.conf", "corosync.conf", true),
            ("*.conf", "authkey", false),
            ("?uthkey", "authkey", true),
        ];
        for (pat, name, want) in cases {
            assert_eq!(super::glob_match(pat, name), want, "{pat} {name}");
        }
    }
}
