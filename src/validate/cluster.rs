//! The rows that ask the cluster Layers 2 and 3 built, with the credentials their states hold:
//! Proxmox VE quorum (`GET /cluster/status`) and Ceph health (`GET /cluster/ceph/status`)
//! through Layer 2's API token, pinned to the node's certificate; Talos etcd members
//! (`EtcdMemberList`) and every Kubernetes node Ready (`GET /api/v1/nodes`) through Layer 3's
//! talosconfig and kubeconfig. Those credentials are secrets: they go to the clients only,
//! never into a row.

use serde_json::{json, Value};

use super::tfstate::LayerState;
use super::Row;
use crate::clients::{kube, proxmox, talos, Call};

/// A Proxmox VE client from Layer 2's outputs, or why there is none.
pub(super) fn proxmox_client(st: Result<&LayerState, &String>) -> Result<proxmox::Client, String> {
    let st = st.map_err(Clone::clone)?;
    let need = |k: &str| {
        st.text(k).ok_or_else(|| {
            format!(
                "Layer 2's state {} has no `{k}` output: is Layer 2 applied?",
                st.path.display()
            )
        })
    };
    let url = need("api_url")?;
    let token_id = need("api_token_id")?;
    let secret = need("api_token_secret")?;
    let fps = st
        .outputs
        .get("tls_fingerprints")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            format!(
                "Layer 2's state {} has no `tls_fingerprints` output",
                st.path.display()
            )
        })?;
    // The API answers on the node whose address is in api_url; pin that node's certificate.
    let host = url
        .split("://")
        .nth(1)
        .and_then(|r| r.split([':', '/']).next())
        .unwrap_or_default();
    let node_name = st
        .outputs
        .get("nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|n| n.get("address").and_then(Value::as_str) == Some(host))
        .and_then(|n| n.get("name").and_then(Value::as_str));
    let fp = node_name
        .and_then(|n| fps.get(n))
        .or_else(|| fps.values().next())
        .and_then(Value::as_str)
        .unwrap_or_default();
    proxmox::Client::new(url, token_id, secret, fp).map_err(|e| e.to_string())
}

/// The `proxmox_quorum` row.
pub(super) async fn quorum(client: &Result<proxmox::Client, String>, call: &Call) -> Row {
    const ROW: &str = "proxmox_quorum";
    let c = match client {
        Ok(c) => c,
        Err(why) => return Row::not_checked(ROW, why.clone()),
    };
    let st = match c.cluster_status(call).await {
        Ok(s) => s,
        Err(e) => return Row::not_checked(ROW, e.to_string()),
    };
    let online: Vec<&str> = st
        .nodes
        .iter()
        .filter(|n| n.online)
        .map(|n| n.name.as_str())
        .collect();
    let offline: Vec<&str> = st
        .nodes
        .iter()
        .filter(|n| !n.online)
        .map(|n| n.name.as_str())
        .collect();
    let details = json!({
        "cluster": st.cluster.as_ref().map(|c| c.name.clone()),
        "quorate": st.quorate(),
        "online": online,
        "offline": offline,
    });
    match &st.cluster {
        None => Row::pass(
            ROW,
            format!(
                "{} is a single node in no cluster, so quorum does not apply",
                online.first().copied().unwrap_or("the node")
            ),
            details,
        ),
        Some(cl) if cl.quorate => Row::pass(
            ROW,
            format!(
                "cluster {} is quorate: {} of {} nodes online{}",
                cl.name,
                online.len(),
                st.nodes.len(),
                if offline.is_empty() {
                    String::new()
                } else {
                    format!(" ({} offline)", offline.join(", "))
                }
            ),
            details,
        ),
        Some(cl) => Row::fail(
            ROW,
            format!(
                "cluster {} has lost quorum: {} of {} nodes online (offline: {}); Proxmox VE \
                 refuses changes until a majority is back (https://pve.proxmox.com/wiki/Cluster_Manager)",
                cl.name,
                online.len(),
                st.nodes.len(),
                offline.join(", ")
            ),
            details,
        ),
    }
}

/// The `ceph_health` row.
pub(super) async fn ceph(
    st: Result<&LayerState, &String>,
    client: &Result<proxmox::Client, String>,
    call: &Call,
) -> Row {
    const ROW: &str = "ceph_health";
    if let Ok(s) = st {
        if s.outputs.get("pool").and_then(Value::as_str) == Some("") {
            return Row::not_checked(
                ROW,
                "Layer 2 formed no Ceph cluster (its `pool` output is empty)".into(),
            );
        }
    }
    let c = match client {
        Ok(c) => c,
        Err(why) => return Row::not_checked(ROW, why.clone()),
    };
    let status = match c.ceph_status(call).await {
        Ok(s) => s,
        Err(e) => return Row::not_checked(ROW, e.to_string()),
    };
    let checks: Vec<String> = status
        .health
        .checks
        .iter()
        .map(|(code, c)| format!("{code}: {}", c.summary.message))
        .collect();
    let details = json!({
        "status": status.health.status,
        "checks": checks,
        "monitors_in_quorum": status.quorum_names,
    });
    if status.health.status == "HEALTH_OK" {
        Row::pass(
            ROW,
            format!(
                "HEALTH_OK, monitors in quorum: {}",
                status.quorum_names.join(", ")
            ),
            details,
        )
    } else {
        Row::fail(
            ROW,
            format!(
                "{}: {} (`ceph health detail` on a node says more)",
                status.health.status,
                if checks.is_empty() {
                    "no check named".to_string()
                } else {
                    checks.join("; ")
                }
            ),
            details,
        )
    }
}

/// Layer 3's node names (its `nodes` output).
fn layer3_nodes(st: &LayerState) -> Vec<String> {
    st.outputs
        .get("nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| n.get("name").and_then(Value::as_str).map(str::to_string))
        .collect()
}

fn layer3_secret<'a>(
    st: Result<&'a LayerState, &String>,
    name: &str,
) -> Result<(&'a LayerState, &'a str), String> {
    let st = st.map_err(Clone::clone)?;
    let text = st.text(name).ok_or_else(|| {
        format!(
            "Layer 3's state {} has no `{name}` output: is Layer 3 applied?",
            st.path.display()
        )
    })?;
    Ok((st, text))
}

/// The `talos_etcd` row: every Layer 3 node is a voting etcd member.
pub(super) async fn etcd(st: Result<&LayerState, &String>, call: &Call) -> Row {
    const ROW: &str = "talos_etcd";
    let (st, talosconfig) = match layer3_secret(st, "talosconfig") {
        Ok(x) => x,
        Err(why) => return Row::not_checked(ROW, why),
    };
    let ctx = match talos::TalosContext::from_talosconfig(talosconfig, None) {
        Ok(c) => c,
        Err(e) => return Row::not_checked(ROW, format!("Layer 3's talosconfig: {e}")),
    };
    let Some(endpoint) = ctx.endpoints.first() else {
        return Row::not_checked(ROW, "Layer 3's talosconfig names no endpoint".into());
    };
    let client = match talos::Client::new(endpoint, &ctx.credentials) {
        Ok(c) => c,
        Err(e) => return Row::not_checked(ROW, e.to_string()),
    };
    let members = match client.etcd_member_list(call).await {
        Ok(m) => m,
        Err(e) => return Row::not_checked(ROW, e.to_string()),
    };
    let names: Vec<&str> = members.iter().map(|m| m.hostname.as_str()).collect();
    let learners: Vec<&str> = members
        .iter()
        .filter(|m| m.is_learner)
        .map(|m| m.hostname.as_str())
        .collect();
    let expected = layer3_nodes(st);
    let missing: Vec<&str> = expected
        .iter()
        .map(String::as_str)
        .filter(|n| !names.contains(n))
        .collect();
    let details =
        json!({"endpoint": endpoint, "members": names, "learners": learners, "missing": missing});
    if members.is_empty() || !missing.is_empty() || !learners.is_empty() {
        let mut why = Vec::new();
        if members.is_empty() {
            why.push("etcd lists no member".to_string());
        }
        if !missing.is_empty() {
            why.push(format!("not etcd members: {}", missing.join(", ")));
        }
        if !learners.is_empty() {
            why.push(format!("still learners: {}", learners.join(", ")));
        }
        return Row::fail(
            ROW,
            format!(
                "{} (`talosctl etcd members` shows the cluster's view)",
                why.join("; ")
            ),
            details,
        );
    }
    Row::pass(
        ROW,
        format!(
            "{} etcd member{}, every node a voter: {}",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", ")
        ),
        details,
    )
}

/// The `kubernetes_nodes` row: every node Ready, and every Layer 3 node registered.
pub(super) async fn nodes(st: Result<&LayerState, &String>, call: &Call) -> Row {
    const ROW: &str = "kubernetes_nodes";
    let (st, kubeconfig) = match layer3_secret(st, "kubeconfig") {
        Ok(x) => x,
        Err(why) => return Row::not_checked(ROW, why),
    };
    let client = match kube::Client::from_kubeconfig(kubeconfig) {
        Ok(c) => c,
        Err(e) => return Row::not_checked(ROW, format!("Layer 3's kubeconfig: {e}")),
    };
    let list = match client.nodes(call).await {
        Ok(n) => n,
        Err(e) => return Row::not_checked(ROW, e.to_string()),
    };
    let not_ready: Vec<String> = list
        .iter()
        .filter(|n| !n.ready)
        .map(|n| {
            if n.ready_message.is_empty() {
                n.name.clone()
            } else {
                format!("{} ({})", n.name, n.ready_message)
            }
        })
        .collect();
    let registered: Vec<&str> = list.iter().map(|n| n.name.as_str()).collect();
    let expected = layer3_nodes(st);
    let missing: Vec<&str> = expected
        .iter()
        .map(String::as_str)
        .filter(|n| !registered.contains(n))
        .collect();
    let details = json!({"server": client.server(), "nodes": registered, "not_ready": not_ready, "missing": missing});
    if list.is_empty() || !not_ready.is_empty() || !missing.is_empty() {
        let mut why = Vec::new();
        if list.is_empty() {
            why.push("the cluster has no node".to_string());
        }
        if !not_ready.is_empty() {
            why.push(format!("NotReady: {}", not_ready.join(", ")));
        }
        if !missing.is_empty() {
            why.push(format!("not registered: {}", missing.join(", ")));
        }
        return Row::fail(ROW, why.join("; "), details);
    }
    Row::pass(
        ROW,
        format!(
            "{} node{} Ready: {}",
            list.len(),
            if list.len() == 1 { "" } else { "s" },
            registered.join(", ")
        ),
        details,
    )
}
