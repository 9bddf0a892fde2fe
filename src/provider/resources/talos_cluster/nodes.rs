//! What a change of `freetier_talos_cluster`'s node list means: which nodes of the state leave
//! the cluster in an update (`remove.rs` takes them out), and what plan refuses or warns about.
//!
//! Must not import: clients or the lab (this is pure data, checked at plan and used at apply).

use super::model::{Cluster, NodeConfig, NodeStatus};
use crate::framework::*;

/// The nodes of the state an update takes out: those the configuration dropped, and those it
/// moved. Only `proxmox` placement removes nodes: an `instances` host is not ours to power
/// off, and [`changes`] warns instead.
pub(super) fn leaving<'a>(m: &Cluster, running: &'a [NodeStatus]) -> Vec<&'a NodeStatus> {
    if m.placement() != "proxmox" {
        return Vec::new();
    }
    let moved = moved(m, running);
    running
        .iter()
        .filter(|r| {
            !m.node.iter().any(|n| n.name == r.name) || moved.iter().any(|v| v.name == r.name)
        })
        .collect()
}

/// The nodes of the state that the configuration keeps by name but moves, to another Proxmox
/// VE host or another address: a running VM is never reconfigured, so such a node is taken
/// out and made again.
pub(super) fn moved<'a>(m: &Cluster, running: &'a [NodeStatus]) -> Vec<&'a NodeStatus> {
    if m.placement() != "proxmox" {
        return Vec::new();
    }
    running
        .iter()
        .filter(|r| {
            m.node.iter().any(|n| {
                n.name == r.name
                    && (n.address != r.address || n.host.known().is_some_and(|h| *h != r.host))
            })
        })
        .collect()
}

/// What an update may do to the node list, checked against the state before it.
/// - The first node is the cluster's endpoint: every node's machine configuration reaches the
///   Kubernetes API at its address, so it stays, by name, address and host.
/// - The cluster lives in the etcd of the nodes that run: at least one of them stays, neither
///   dropped nor moved.
/// - `instances` placement never powers a host off: a node dropped there keeps running, and
///   the warning says how to take it out by hand.
pub(super) fn changes(m: &Cluster, prior: &Cluster, diags: &mut Diagnostics) {
    let running: &[NodeStatus] = prior.nodes.known().map(Vec::as_slice).unwrap_or_default();
    if let (Some(endpoint), Some(was), Some(now)) =
        (prior.endpoint.known(), prior.node.first(), m.node.first())
    {
        let host = |n: &NodeConfig| n.host.known().cloned().unwrap_or_default();
        if was.address == *endpoint
            && (now.name != was.name || now.address != was.address || host(now) != host(was))
        {
            let on = |n: &NodeConfig| match n.host.known() {
                Some(h) => format!("{} at {} on {h}", n.name, n.address),
                None => format!("{} at {}", n.name, n.address),
            };
            diags.error_at(
                AttributePath::root("node").index(0),
                "Endpoint Node Cannot Change",
                format!(
                    "the first node block is the cluster's endpoint: every node reaches the Kubernetes API at https://{endpoint}:6443, so it must stay {} (the plan has {}). Add, remove or move nodes after it; to move the endpoint, replace the cluster (terraform apply -replace on this resource)",
                    on(was), on(now)
                ),
            );
            return;
        }
    }
    let going = leaving(m, running);
    let kept = running.iter().any(|r| {
        m.node.iter().any(|n| n.name == r.name) && !going.iter().any(|g| g.name == r.name)
    });
    if !running.is_empty() && !kept {
        let names: Vec<&str> = running.iter().map(|r| r.name.as_str()).collect();
        diags.error_at(
            AttributePath::root("node"),
            "No Running Node Kept",
            format!(
                "none of the nodes that run now ({}) stays in the configuration as it runs (same name, host and address), and the cluster's etcd lives on them: keep at least one. To start over on other nodes, replace the cluster (terraform apply -replace on this resource)",
                names.join(", ")
            ),
        );
        return;
    }
    if m.placement() == "instances" {
        for r in running
            .iter()
            .filter(|r| !m.node.iter().any(|n| n.name == r.name))
        {
            diags.warning_at(
                AttributePath::root("node"),
                "Node Left Running",
                format!(
                    "node {} ({}) leaves the configuration, but placement \"instances\" never powers a host off: it stays an etcd member and a Kubernetes node. Take it out as Talos documents: talosctl -n {} reset, then kubectl delete node {} (https://docs.siderolabs.com/talos/v1.13/deploy-and-manage-workloads/scaling-down)",
                    r.name, r.address, r.address, r.name
                ),
            );
        }
    }
}
