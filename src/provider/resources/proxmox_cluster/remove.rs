//! Taking nodes out of the cluster: a node the configuration no longer names (update), and
//! every node when `destroy_mode = "dissolve"` (delete). Like forming, each step first asks
//! whether it is done, so a removal that stopped part way resumes.
//!
//! The order is the Proxmox VE admin guide's:
//! - Ceph first (`pveceph.adoc`, "Destroy OSDs", "Destroy Monitor", "Destroy Manager"): the
//!   pools' replica counts lowered to what the remaining nodes can hold, the node's OSDs marked
//!   `out`, Ceph given time to move their data (HEALTH_OK again), then each OSD stopped and
//!   destroyed with `--cleanup`, then the node's monitor and manager destroyed.
//! - Then the cluster (`pvecm.adoc`, "Remove a Cluster Node" and "Separate a Node Without
//!   Reinstalling"): the node separated from the cluster's configuration, so it can never
//!   come back with it, then `pvecm delnode` on a node that stays, then quorum awaited.
//!
//! Commands run as `form` runs them: over the pooled SSH connections of [`Hosts`].

use super::apply::{wait_health, wait_quorum, Host, Hosts, Progress, Step, StepError};
use super::model::Cluster;
use crate::clients::ssh;
use crate::clients::ErrorKind;

/// `pvecm.adoc`, "Separate a Node Without Reinstalling": stop the cluster stack, start the
/// cluster filesystem in local mode, remove the corosync configuration, restart.
pub(super) const SEPARATE: &str = "systemctl stop pve-cluster corosync && pmxcfs -l && rm /etc/pve/corosync.conf && rm -r /etc/corosync/* && killall pmxcfs && systemctl start pve-cluster";

/// Replicas for `nodes` hosts: one per node up to three, writable with one fewer.
pub(super) fn replicas(nodes: usize) -> (usize, usize) {
    let size = nodes.clamp(1, 3);
    (size, size.saturating_sub(1).max(1))
}

/// The OSD ids Ceph places on host `name`, from `ceph osd tree --format json`.
fn osds_of(tree: &str, name: &str) -> Vec<i64> {
    let tree: serde_json::Value = serde_json::from_str(tree.trim()).unwrap_or_default();
    tree["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["type"] == "host" && n["name"] == name)
        .flat_map(|n| n["children"].as_array().cloned().unwrap_or_default())
        .filter_map(|id| id.as_i64())
        .collect()
}

/// Whether `name` is in the nodelist of the cluster the first node is in, online or not
/// (`/etc/pve/corosync.conf`; `pvecm nodes` lists only the members online).
async fn is_member(hosts: &Hosts, step: &str, name: &str) -> Step<bool> {
    let out = hosts.run(0, step, "cat /etc/pve/corosync.conf").await?;
    Ok(out.success()
        && out.stdout_text().lines().any(|l| {
            l.trim()
                .strip_prefix("name:")
                .is_some_and(|n| n.trim() == name)
        }))
}

/// Lowers every pool's replica count to what `nodes` hosts hold, before a node's OSDs go.
async fn shrink_pools(hosts: &Hosts, step: &str, nodes: usize) -> Step<()> {
    let (size, min_size) = replicas(nodes);
    let pools = hosts.must(0, step, "ceph osd pool ls", None).await?;
    for pool in pools.lines().map(str::trim).filter(|p| !p.is_empty()) {
        let pool = ssh::shell_quote(pool);
        // size first: setting it resets min_size (Ceph's OSDMonitor), so min_size follows.
        for (key, n) in [("size", size), ("min_size", min_size)] {
            let cmd = format!("ceph osd pool set {pool} {key} {n}");
            hosts.must(0, step, &cmd, None).await?;
        }
    }
    // New pools, and Ceph's own count of the OSDs it wants, follow too.
    for (key, n) in [
        ("osd_pool_default_size", size),
        ("osd_pool_default_min_size", min_size),
    ] {
        let cmd = format!("ceph config set global {key} {n}");
        hosts.must(0, step, &cmd, None).await?;
    }
    Ok(())
}

/// `h`'s OSDs out, drained, stopped and destroyed. `admin` runs the cluster-wide commands.
async fn destroy_osds(
    hosts: &Hosts,
    admin: &Host,
    h: &Host,
    step: &str,
    drain: Option<&[String]>,
) -> Step<()> {
    let tree = hosts
        .must_on(admin, step, "ceph osd tree --format json", None)
        .await?;
    let ids = osds_of(&tree, &h.name);
    if ids.is_empty() {
        return Ok(());
    }
    for id in &ids {
        hosts
            .must_on(admin, step, &format!("ceph osd out {id}"), None)
            .await?;
    }
    // Ceph moves the data off the OSDs marked out; HEALTH_OK says it has. (Not when the
    // pools are gone already: there is nothing to move.)
    if let (Some(accepted), Some(first)) =
        (drain, hosts.nodes.iter().position(|n| n.name == admin.name))
    {
        wait_health(hosts, first, accepted).await?;
    }
    for id in &ids {
        hosts
            .must_on(h, step, &format!("systemctl stop ceph-osd@{id}"), None)
            .await?;
        hosts
            .must_on(
                h,
                step,
                &format!("pveceph osd destroy {id} --cleanup"),
                None,
            )
            .await?;
    }
    Ok(())
}

/// `h`'s monitor and manager destroyed; one that is gone already is fine.
async fn destroy_mon_mgr(hosts: &Hosts, h: &Host, step: &str) -> Step<()> {
    let name = ssh::shell_quote(&h.name);
    for (cmd, gone) in [
        (format!("pveceph mon destroy {name}"), "no such monitor id"),
        (format!("pveceph mgr destroy {name}"), "not found"),
    ] {
        let out = hosts.exec_on(h, step, &cmd, None).await?;
        let err = out.stderr_text();
        if !out.success() && !err.contains(gone) {
            return Err(StepError::new(
                step,
                Some(&h.name),
                ErrorKind::Fatal,
                format!("`{cmd}` failed: {}", err.trim()),
            ));
        }
    }
    Ok(())
}

/// Takes the leaving node `h` out of the cluster, in which `staying` nodes (the first ones of
/// `hosts`) remain.
pub(super) async fn remove_node(
    m: &Cluster,
    hosts: &Hosts,
    h: &Host,
    staying: usize,
    progress: &mut Progress,
) -> Step<()> {
    remove_member(m.ceph.as_ref(), hosts, h, staying, progress).await
}

/// `remove_node`, with `ceph` the settings when the node's Ceph services are still to go.
async fn remove_member(
    ceph: Option<&super::model::CephConfig>,
    hosts: &Hosts,
    h: &Host,
    staying: usize,
    progress: &mut Progress,
) -> Step<()> {
    let step = format!("remove {}", h.name);
    hosts.cancelled(&step)?;
    if !is_member(hosts, &step, &h.name).await? {
        progress.mark(&step);
        return Ok(());
    }
    if let Some(ceph) = ceph {
        let accepted = ceph.accepted_warnings.known().cloned().unwrap_or_default();
        if hosts
            .run(0, &step, "test -e /etc/pve/ceph.conf")
            .await?
            .success()
        {
            shrink_pools(hosts, &step, staying).await?;
            destroy_osds(hosts, &hosts.nodes[0], h, &step, Some(&accepted)).await?;
            destroy_mon_mgr(hosts, h, &step).await?;
        }
    }
    hosts.cancelled(&step)?;
    // Separated first, so the node can never come back with the cluster's configuration.
    let standalone = !hosts
        .exec_on(h, &step, "test -e /etc/corosync/corosync.conf", None)
        .await?
        .success();
    if !standalone {
        hosts.must_on(h, &step, SEPARATE, None).await?;
    }
    if staying == 1 {
        // The one node left cannot reach the old quorum alone (pvecm.adoc, `pvecm expected`).
        hosts.must(0, &step, "pvecm expected 1", None).await?;
    }
    let out = hosts
        .run(
            0,
            &step,
            &format!("pvecm delnode {}", ssh::shell_quote(&h.name)),
        )
        .await?;
    if !out.success() && !out.stderr_text().contains("is not a known host") {
        return Err(StepError::new(
            &step,
            Some(&hosts.nodes[0].name),
            ErrorKind::Fatal,
            format!(
                "`pvecm delnode {}` failed: {}",
                h.name,
                out.stderr_text().trim()
            ),
        ));
    }
    wait_quorum(hosts, 0, &step, staying).await?;
    progress.mark(&step);
    Ok(())
}

/// Takes the whole cluster apart. The data goes first (every pool destroyed, so nothing needs
/// draining), then each other node's OSDs, monitor and manager and the node itself, then the
/// first node's Ceph is purged and the node separated. What stays is Proxmox VE on each host,
/// standalone.
pub(super) async fn dissolve(m: &Cluster, hosts: &Hosts, progress: &mut Progress) -> Step<()> {
    let Some(first) = hosts.nodes.first() else {
        return Ok(());
    };
    let step = "dissolve";
    let status = hosts.run(0, step, "pvecm status").await?;
    if status.stdout_text().contains("Qdevice") {
        hosts.must(0, step, "pvecm qdevice remove", None).await?;
    }
    let ceph = m.ceph.is_some()
        && hosts
            .run(0, step, "test -e /etc/pve/ceph.conf")
            .await?
            .success();
    if ceph {
        let pools = hosts.must(0, step, "ceph osd pool ls", None).await?;
        for pool in pools.lines().map(str::trim).filter(|p| !p.is_empty()) {
            let cmd = format!(
                "pveceph pool destroy {} --remove_storages",
                ssh::shell_quote(pool)
            );
            hosts.must(0, step, &cmd, None).await?;
        }
    }
    for i in (1..hosts.nodes.len()).rev() {
        let h = &hosts.nodes[i];
        if ceph {
            destroy_osds(hosts, first, h, step, None).await?;
            destroy_mon_mgr(hosts, h, step).await?;
        }
        remove_member(None, hosts, h, i, progress).await?;
    }
    if ceph {
        destroy_osds(hosts, first, first, step, None).await?;
        let mgr = format!("pveceph mgr destroy {}", ssh::shell_quote(&first.name));
        let _ = hosts.run(0, step, &mgr).await?;
        hosts.must(0, step, "pveceph purge", None).await?;
    }
    if hosts
        .run(0, step, "test -e /etc/corosync/corosync.conf")
        .await?
        .success()
    {
        hosts.must(0, step, SEPARATE, None).await?;
    }
    progress.mark(step);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_follow_the_node_count_up_to_three() {
        let cases = [(1, (1, 1)), (2, (2, 1)), (3, (3, 2)), (5, (3, 2))];
        for (nodes, want) in cases {
            assert_eq!(replicas(nodes), want, "{nodes} nodes");
        }
    }

    #[test]
    fn a_hosts_osds_are_read_from_the_osd_tree() {
        let tree = r#"{"nodes":[{"id":-1,"name":"default","type":"root","children":[-3,-5]},
            {"id":-3,"name":"ampere-1","type":"host","children":[0]},
            {"id":-5,"name":"ampere-2","type":"host","children":[2,1]},
            {"id":0,"name":"osd.0","type":"osd"}],"stray":[]}"#;
        assert_eq!(osds_of(tree, "ampere-2"), vec![2, 1]);
        assert_eq!(osds_of(tree, "ampere-3"), Vec::<i64>::new());
        assert_eq!(osds_of("not json", "ampere-1"), Vec::<i64>::new());
    }
}
