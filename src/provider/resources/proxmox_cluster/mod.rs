//! `freetier_proxmox_cluster`: a Proxmox VE cluster, with Ceph, formed over SSH on hosts that
//! run Proxmox VE (Layer 2). No other provider forms one: bpg's and Telmate's need a cluster
//! that exists.
//!
//! Order of this file: schema, validate, plan, create, read, update, delete, import. The
//! steps themselves are in `apply.rs`, the model in `model.rs`.

mod apply;
mod model;
mod remove;

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;

use crate::framework::*;
use crate::provider::resources::timeouts;

use self::apply::{Hosts, Progress, StepError};
use self::model::{Cluster, NodeConfig, NodeStatus, DEFAULT_POOL};

/// The resource.
pub struct ProxmoxCluster;

const TYPE: &str = "freetier_proxmox_cluster";

fn node_status_type() -> Type {
    Type::object([
        ("name", Type::String),
        ("address", Type::String),
        ("joined", Type::Bool),
        ("kvm_available", Type::Bool),
        ("host_key", Type::String),
        ("cpus", Type::Number),
        ("memory_free_mb", Type::Number),
    ])
}

fn host_block(what: &str) -> Block {
    Block::new(what)
        .attribute(
            Attribute::string("address")
                .required()
                .description("Address the provider reaches the host's SSH at (Layer 1's private or Tailscale address)."),
        )
        .attribute(
            Attribute::string("ssh_user")
                .optional()
                .computed()
                .default(Value::from("root"))
                .description("Login user. Commands run through `sudo -n` unless it is `root`."),
        )
        .attribute(
            Attribute::typed("ssh_port", Type::Number)
                .optional()
                .computed()
                .default(Value::int(22))
                .description("SSH port."),
        )
        .attribute(
            Attribute::string("host_key")
                .optional()
                .description("The host's SSH public key, one OpenSSH line (`ssh-ed25519 AAAA…`); Layer 1 outputs it. The provider refuses any other key. Without it, `trust_on_first_use` must be true."),
        )
}

/// Diagnostics for a failed step: what, where, and the original message.
fn step_diag(d: &mut Diagnostics, e: &StepError) {
    let summary = match e.kind {
        crate::clients::ErrorKind::Cancelled => "Stopped",
        crate::clients::ErrorKind::Transient => "Proxmox Cluster Not Ready",
        _ => "Proxmox Cluster Step Failed",
    };
    let host = e
        .host
        .as_deref()
        .map(|h| format!(" on {h}"))
        .unwrap_or_default();
    d.error(
        summary,
        format!(
            "{}{host}: {}\n\nWhat finished is kept: applying again resumes from here.",
            e.step, e.message
        ),
    );
}

fn progress_private(p: &Progress) -> Private {
    let mut private = Private::new();
    private.insert("steps".into(), serde_json::json!(p.done));
    private
}

/// The state after a successful form.
fn formed_state(mut m: Cluster, f: apply::Formed) -> Value {
    m.id = Maybe::Known(m.name.clone());
    m.api_url = Maybe::Known(f.api_url);
    m.api_token_id = Maybe::Known(f.token_id);
    m.api_token_secret = Maybe::Known(f.token_secret);
    m.tls_fingerprints = Maybe::Known(f.fingerprints);
    m.quorate = Maybe::Known(f.status.quorate);
    m.ceph_health = Maybe::Known(f.status.ceph_health);
    m.pool = Maybe::Known(m.pool_name().unwrap_or_default());
    m.nodes = Maybe::Known(f.status.nodes);
    m.to_value()
}

/// A create or update that stopped part way: what is known so far, unknowns as null.
fn partial_state(mut m: Cluster) -> Value {
    m.id = Maybe::Known(m.name.clone());
    for f in [
        &mut m.api_url,
        &mut m.api_token_id,
        &mut m.api_token_secret,
        &mut m.ceph_health,
        &mut m.pool,
    ] {
        if f.is_unknown() {
            *f = Maybe::Null;
        }
    }
    if m.tls_fingerprints.is_unknown() {
        m.tls_fingerprints = Maybe::Null;
    }
    if m.quorate.is_unknown() {
        m.quorate = Maybe::Null;
    }
    if m.nodes.is_unknown() {
        m.nodes = Maybe::Null;
    }
    m.to_value()
}

/// The nodes `prior` names that `m` no longer does: an update takes them out.
fn leaving_nodes(m: &Cluster, prior: Option<&Value>) -> Vec<NodeConfig> {
    let Some(prior) = prior.and_then(|p| read_model::<Cluster>(p).ok()) else {
        return Vec::new();
    };
    prior
        .node
        .into_iter()
        .filter(|p| !m.node.iter().any(|n| n.name == p.name))
        .collect()
}

async fn run_form(
    ctx: &Ctx,
    planned: &Value,
    prior: Option<&Value>,
    which: &str,
    resp: &mut StateResponse,
) {
    let m: Cluster = match read_model(planned) {
        Ok(m) => m,
        Err(e) => return e.report(&mut resp.diagnostics),
    };
    let leaving = leaving_nodes(&m, prior);
    let hosts = match Hosts::new(&m, &leaving, &ctx.cancel) {
        Ok(h) => h,
        Err(e) => return step_diag(&mut resp.diagnostics, &e),
    };
    let mut progress = Progress::default();
    let limit = m.timeout(which);
    let work = async {
        // Removals first: the nodes that stay then form (or finish forming) the cluster,
        // which also sets the QDevice up or takes it away for the new count.
        for h in &hosts.leaving {
            remove::remove_node(&m, &hosts, h, hosts.nodes.len(), &mut progress).await?;
        }
        apply::form(&m, &hosts, &mut progress).await
    };
    let result = tokio::time::timeout(limit, work).await;
    hosts.close().await;
    resp.private = progress_private(&progress);
    for h in &hosts.leaving {
        if progress
            .done
            .iter()
            .any(|d| *d == format!("remove {}", h.name))
        {
            resp.diagnostics.warning(
                "Node Left the Cluster",
                format!(
                    "{} left cluster '{}' and runs Proxmox VE on its own; its Ceph OSD was destroyed. \
                     Reinstall it before it joins any cluster again: https://pve.proxmox.com/pve-docs/chapter-pvecm.html#_remove_a_cluster_node",
                    h.name, m.name
                ),
            );
        }
    }
    match result {
        Ok(Ok(formed)) => resp.state = formed_state(m, formed),
        Ok(Err(e)) => {
            step_diag(&mut resp.diagnostics, &e);
            resp.state = partial_state(m);
        }
        Err(_) => {
            resp.diagnostics.error(
                "Proxmox Cluster Timed Out",
                format!(
                    "the {which} did not finish within {}s (timeouts.{which}); finished steps: {}. Applying again resumes.",
                    limit.as_secs(),
                    progress.done.join(", ")
                ),
            );
            resp.state = partial_state(m);
        }
    }
}

/// `destroy_mode = "dissolve"`: every node taken out, Ceph purged, each host left standalone.
async fn run_dissolve(ctx: &Ctx, prior: &Value, resp: &mut StateResponse) {
    let m: Cluster = match read_model(prior) {
        Ok(m) => m,
        Err(e) => return e.report(&mut resp.diagnostics),
    };
    let hosts = match Hosts::new(&m, &[], &ctx.cancel) {
        Ok(h) => h,
        Err(e) => {
            resp.state = prior.clone();
            return step_diag(&mut resp.diagnostics, &e);
        }
    };
    let mut progress = Progress::default();
    let limit = m.timeout("delete");
    let result = tokio::time::timeout(limit, remove::dissolve(&m, &hosts, &mut progress)).await;
    hosts.close().await;
    resp.private = progress_private(&progress);
    match result {
        Ok(Ok(())) => resp.state = Value::Null,
        Ok(Err(e)) => {
            // The cluster is still there, in part: it stays in state, and destroying again resumes.
            step_diag(&mut resp.diagnostics, &e);
            resp.state = prior.clone();
        }
        Err(_) => {
            resp.diagnostics.error(
                "Proxmox Cluster Timed Out",
                format!(
                    "dissolving did not finish within {}s (timeouts.delete); finished steps: {}. Destroying again resumes.",
                    limit.as_secs(),
                    progress.done.join(", ")
                ),
            );
            resp.state = prior.clone();
        }
    }
}

#[async_trait]
impl Resource for ProxmoxCluster {
    fn type_name(&self) -> &'static str {
        TYPE
    }

    fn schema(&self) -> Schema {
        let node = host_block("A Proxmox VE host. The first one creates the cluster; the others join it one at a time, in order.")
            .attribute(Attribute::string("name").required().description("The host's node name (its hostname, as Proxmox VE knows it)."))
            .attribute(
                Attribute::typed("osd_gb", Type::Number)
                    .optional()
                    .description("GB of the boot volume's free tail that becomes this node's Ceph OSD (Layer 1's `osd_gb`). Checked at plan: Ceph's ceph-volume refuses a device under 5 GB."),
            );
        let ceph = Block::new("Ceph on every node: a monitor, a manager and one OSD each, and one replicated pool.")
            .attribute(Attribute::string("public_network").required().description("CIDR of the network Ceph's daemons talk on (Layer 1's subnet)."))
            .attribute(
                Attribute::string("pool")
                    .optional()
                    .computed()
                    .default(Value::from(DEFAULT_POOL))
                    .description("Name of the RBD pool for VM disks; it is also added as a Proxmox storage. Size is min(3, nodes), min_size one less (at least 1)."),
            )
            .attribute(
                Attribute::typed("accepted_warnings", Type::list(Type::String))
                    .optional()
                    .description("Ceph health checks (codes such as `POOL_NO_REDUNDANCY`) that do not hold up the apply; anything else must clear to HEALTH_OK."),
            );
        let timeouts = timeouts::block(
            "How long each operation may take, as Go durations (`60m`, `1h30m`).",
            ["60m", "30m", "20m"],
        );
        Schema {
            version: 0,
            block: Block::new(
                "A Proxmox VE cluster with Ceph, formed over SSH on hosts that run Proxmox VE: `pvecm create` on the first node, \
                 joins one at a time, a QDevice for an even node count, then Ceph (a monitor, manager and OSD per node, the OSD on \
                 the boot volume's free tail) and an API token for the next layer. Every step first checks whether it is done, so \
                 a failed apply resumes. Removing a node from the configuration takes it out of the cluster; destroying forgets the cluster, or dissolves it (`destroy_mode`).",
            )
            .attribute(Attribute::string("id").computed().use_state_for_unknown().description("The cluster name."))
            .attribute(
                Attribute::string("name")
                    .required()
                    .requires_replace()
                    .description("Cluster name (corosync's cluster_name: letters, digits and `-`, at most 15 characters). A new name means a new cluster."),
            )
            .attribute(
                Attribute::string("ssh_private_key")
                    .required()
                    .sensitive()
                    .description("The OpenSSH private key that logs in to every host (`file(\"~/.ssh/id_ed25519\")`). Kept in state, marked sensitive."),
            )
            .attribute(
                Attribute::bool("trust_on_first_use")
                    .optional()
                    .computed()
                    .default(Value::Bool(false))
                    .description("Accept a host's SSH key the first time when `host_key` is not given; the key seen is recorded in `nodes[*].host_key`."),
            )
            .attribute(
                Attribute::string("destroy_mode")
                    .optional()
                    .computed()
                    .default(Value::from("forget"))
                    .description("What destroy does. `forget` (the default) removes the cluster from Terraform's state and leaves it running, because taking a Proxmox VE cluster apart cannot be undone. `dissolve` takes it apart: Ceph's pools, OSDs, monitors and managers destroyed, every node separated and left running Proxmox VE on its own."),
            )
            .attribute(Attribute::string("api_url").computed().use_state_for_unknown().description("The first node's API, `https://ADDRESS:8006/api2/json`."))
            .attribute(Attribute::string("api_token_id").computed().use_state_for_unknown().description("The API token for the next layer, `root@pam!freetier`."))
            .attribute(Attribute::string("api_token_secret").computed().sensitive().use_state_for_unknown().description("The API token's secret."))
            .attribute(
                Attribute::typed("tls_fingerprints", Type::map(Type::String))
                    .computed()
                    .use_state_for_unknown()
                    .description("Each node's API certificate, SHA-256 (`AA:BB:…`): clients pin it instead of trusting a CA."),
            )
            .attribute(Attribute::bool("quorate").computed().use_state_for_unknown().description("Whether the cluster has quorum."))
            .attribute(Attribute::string("ceph_health").computed().use_state_for_unknown().description("Ceph's health status (`HEALTH_OK`, …); empty without Ceph."))
            .attribute(Attribute::string("pool").computed().use_state_for_unknown().description("The RBD pool's name; empty without Ceph."))
            .attribute(
                Attribute::typed("nodes", Type::list(node_status_type()))
                    .computed()
                    .use_state_for_unknown()
                    .description("Each node as the cluster reports it: name, address, joined, kvm_available (OCI A1 VMs have no `/dev/kvm`), host_key, cpus, memory_free_mb (memory left for guests)."),
            )
            .nested_bounded("node", Nesting::List, node, 1, 0)
            .nested("qdevice", Nesting::Single, host_block("The QDevice host (the bastion): its vote keeps an even-sized cluster quorate when one node is down."))
            .nested("ceph", Nesting::Single, ceph)
            .nested("timeouts", Nesting::Single, timeouts),
        }
    }

    async fn create(&self, ctx: &Ctx, req: CreateRequest, resp: &mut StateResponse) {
        run_form(ctx, &req.planned, None, "create", resp).await;
    }

    async fn read(&self, ctx: &Ctx, req: ReadRequest, resp: &mut StateResponse) {
        resp.private = req.private.clone();
        resp.state = req.current.clone();
        let Ok(mut m) = read_model::<Cluster>(&req.current) else {
            return;
        };
        // Without a token (an import, or a create that stopped early) there is nothing to ask.
        let (Some(url), Some(id), Some(secret)) = (
            m.api_url.known().cloned(),
            m.api_token_id.known().cloned(),
            m.api_token_secret.known().cloned(),
        ) else {
            return;
        };
        let fp = m
            .tls_fingerprints
            .known()
            .and_then(|f| m.node.first().and_then(|n| f.get(&n.name)))
            .cloned()
            .unwrap_or_default();
        let client = match crate::clients::proxmox::Client::new(&url, &id, &secret, &fp) {
            Ok(c) => c,
            Err(e) => {
                resp.diagnostics
                    .warning("Proxmox Cluster Not Read", format!("{url}: {e}"));
                return;
            }
        };
        match apply::observe(&client, &m, &ctx.cancel).await {
            Ok(o) => {
                let before: Vec<NodeStatus> = m.nodes.known().cloned().unwrap_or_default();
                let nodes = o
                    .nodes
                    .into_iter()
                    .map(|mut n| {
                        if let Some(b) = before.iter().find(|b| b.name == n.name) {
                            n.kvm_available = b.kvm_available;
                            n.host_key = b.host_key.clone();
                        }
                        n
                    })
                    .collect();
                m.quorate = Maybe::Known(o.quorate);
                if m.ceph.is_some() {
                    m.ceph_health = Maybe::Known(o.ceph_health);
                }
                m.nodes = Maybe::Known(nodes);
                resp.state = m.to_value();
            }
            Err(e) => resp.diagnostics.warning(
                "Proxmox Cluster Not Read",
                format!(
                    "{url} did not answer ({}); the state is left as it was",
                    e.message
                ),
            ),
        }
    }

    async fn update(&self, ctx: &Ctx, req: UpdateRequest, resp: &mut StateResponse) {
        run_form(ctx, &req.planned, Some(&req.prior), "update", resp).await;
    }

    async fn delete(&self, ctx: &Ctx, req: DeleteRequest, resp: &mut StateResponse) {
        if req.prior.attr("destroy_mode").as_str() == Some("dissolve") {
            return run_dissolve(ctx, &req.prior, resp).await;
        }
        let name = req.prior.attr("name").as_str().unwrap_or("").to_string();
        resp.state = Value::Null;
        resp.diagnostics.warning(
            "Proxmox Cluster Left Running",
            format!(
                "cluster '{name}' is removed from Terraform's state but still runs (destroy_mode = \"forget\"). \
                 To take it apart, set destroy_mode = \"dissolve\" and apply before destroying, or see \
                 https://pve.proxmox.com/pve-docs/chapter-pvecm.html#_remove_a_cluster_node"
            ),
        );
    }

    fn as_validate_config(&self) -> Option<&dyn ValidateConfig> {
        Some(self)
    }

    fn as_modify_plan(&self) -> Option<&dyn ModifyPlan> {
        Some(self)
    }

    fn as_import_state(&self) -> Option<&dyn ImportState> {
        Some(self)
    }
}

impl ValidateConfig for ProxmoxCluster {
    fn validate_config(&self, config: &Value, diags: &mut Diagnostics) {
        let name = config.attr("name");
        if let Some(n) = name.as_str() {
            let ok = !n.is_empty()
                && n.len() <= 15
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !ok {
                diags.error_at(
                    AttributePath::root("name"),
                    "Invalid Cluster Name",
                    format!(
                        "'{n}' is not a corosync cluster name: use 1 to 15 letters, digits or '-'"
                    ),
                );
            }
        }
        if let Some(mode) = config.attr("destroy_mode").as_str() {
            if mode != "forget" && mode != "dissolve" {
                diags.error_at(
                    AttributePath::root("destroy_mode"),
                    "Unsupported Destroy Mode",
                    format!("destroy_mode '{mode}' is not one of \"forget\" (leave the cluster running) or \"dissolve\" (take it apart)"),
                );
            }
        }
        let nodes = config.attr("node").as_seq().unwrap_or(&[]);
        let mut names = BTreeSet::new();
        let mut addresses = BTreeSet::new();
        for (i, n) in nodes.iter().enumerate() {
            for (field, seen) in [("name", &mut names), ("address", &mut addresses)] {
                if let Some(v) = n.attr(field).as_str() {
                    if !seen.insert(v.to_string()) {
                        diags.error_at(
                            AttributePath::root("node").index(i).attr(field),
                            "Duplicate Node",
                            format!(
                                "node {field} '{v}' appears twice; each node needs its own {field}"
                            ),
                        );
                    }
                }
            }
        }
        timeouts::validate(config, diags);
        if let Some(net) = config.attr("ceph").attr("public_network").as_str() {
            let ok = net.split_once('/').is_some_and(|(ip, len)| {
                ip.parse::<std::net::Ipv4Addr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 32)
            });
            if !ok {
                diags.error_at(
                    AttributePath::root("ceph").attr("public_network"),
                    "Invalid Network",
                    format!("'{net}' is not an IPv4 network in CIDR notation, such as 10.0.1.0/24"),
                );
            }
        }
        // Numbers the model holds as u16 and u32: refused here, at plan, not by the apply.
        let mut whole = |path: AttributePath, v: &Value, min: u64, max: u64, rule: &str| {
            if let Some(n) = v.as_number() {
                if !n.as_u64().is_some_and(|u| (min..=max).contains(&u)) {
                    diags.error_at(path, "Invalid Number", format!("{n} is not {rule}"));
                }
            }
        };
        for (i, n) in nodes.iter().enumerate() {
            let at = || AttributePath::root("node").index(i);
            let port = "a TCP port: use a whole number from 1 to 65535";
            whole(at().attr("ssh_port"), n.attr("ssh_port"), 1, 65535, port);
            let gb = "a size in GB: use a whole number of at least 0";
            whole(
                at().attr("osd_gb"),
                n.attr("osd_gb"),
                0,
                u32::MAX.into(),
                gb,
            );
        }
        whole(
            AttributePath::root("qdevice").attr("ssh_port"),
            config.attr("qdevice").attr("ssh_port"),
            1,
            65535,
            "a TCP port: use a whole number from 1 to 65535",
        );
    }
}

/// ceph-volume refuses devices under 5 GB ("Insufficient space (<5GB)", ceph
/// `src/ceph-volume/ceph_volume/util/device.py`).
const MIN_OSD_GB: u32 = 5;

#[async_trait]
impl ModifyPlan for ProxmoxCluster {
    async fn modify_plan(&self, _ctx: &Ctx, req: PlanRequest<'_>, resp: &mut PlanResponse) {
        if req.config.is_null() {
            return;
        }
        let nodes = req.config.attr("node").as_seq().unwrap_or(&[]);
        let count = nodes.len();
        let has_qdevice = !req.config.attr("qdevice").is_null();
        if count.is_multiple_of(2) && count > 0 && !has_qdevice {
            resp.diagnostics.error_at(
                AttributePath::root("qdevice"),
                "Cluster Cannot Keep Quorum",
                format!(
                    "{count} nodes give {count} votes and quorum needs {}: one node down stops the whole cluster. Add a qdevice block (the bastion) for a tie-breaking vote, or use an odd node count. See https://pve.proxmox.com/pve-docs/chapter-pvecm.html#_corosync_external_vote_support",
                    count / 2 + 1
                ),
            );
        }
        if !req.config.attr("ceph").is_null() {
            for (i, n) in nodes.iter().enumerate() {
                let gb = n.attr("osd_gb").as_number().and_then(Number::as_i64);
                if let Some(gb) = gb {
                    if gb < i64::from(MIN_OSD_GB) {
                        resp.diagnostics.error_at(
                            AttributePath::root("node").index(i).attr("osd_gb"),
                            "OSD Does Not Fit",
                            format!(
                                "node {i} has {gb} GB left on its boot volume for an OSD and Ceph needs at least {MIN_OSD_GB} GB per OSD: give the nodes fewer, larger boot volumes in Layer 1, or leave out the ceph block"
                            ),
                        );
                    }
                }
            }
        }
        // A node that left the cluster, or a changed node list, is an update: its outcome is
        // known after apply.
        if let Ok(prior) = read_model::<Cluster>(req.prior) {
            if count == 1 && prior.node.len() > 1 && !req.config.attr("ceph").is_null() {
                resp.diagnostics.error_at(
                    AttributePath::root("node"),
                    "Too Few Nodes for Ceph",
                    format!(
                        "removing {} of {} nodes leaves Ceph one copy of each object on one host, which Ceph refuses without overrides: keep at least 2 nodes, or remove the ceph block first",
                        prior.node.len() - 1,
                        prior.node.len()
                    ),
                );
            }
            let left = prior
                .nodes
                .known()
                .is_some_and(|ns| ns.iter().any(|n| !n.joined));
            let changed = req.prior.attr("node") != req.config.attr("node");
            if left || changed {
                resp.planned.set_attr("nodes", Value::Unknown);
                resp.planned.set_attr("quorate", Value::Unknown);
                resp.planned.set_attr("tls_fingerprints", Value::Unknown);
            }
        }
    }
}

#[async_trait]
impl ImportState for ProxmoxCluster {
    async fn import_state(&self, _ctx: &Ctx, id: &str, resp: &mut ImportResponse) {
        // NAME@FIRST_NODE_ADDRESS: the keys come from the configuration on the next apply.
        let Some((name, address)) = id
            .split_once('@')
            .filter(|(n, a)| !n.is_empty() && !a.is_empty() && !a.contains(char::is_whitespace))
        else {
            let shown = if id.len() > 64 || id.contains("PRIVATE KEY") {
                "(not shown)"
            } else {
                id
            };
            resp.diagnostics.error(
                "Invalid Import ID",
                format!("import ID {shown} is not NAME@FIRST_NODE_ADDRESS, e.g. freetier@10.0.1.10; the keys come from the configuration, never the ID"),
            );
            return;
        };
        let mut state: BTreeMap<String, Value> = BTreeMap::new();
        state.insert("id".into(), Value::from(name));
        state.insert("name".into(), Value::from(name));
        state.insert(
            "node".into(),
            Value::List(vec![Value::object([
                ("name", Value::Null),
                ("address", Value::from(address)),
            ])]),
        );
        resp.state = Value::Object(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_or_osd_size_no_host_can_take_is_refused_at_plan_not_by_the_apply() {
        let cluster = |node: Vec<(&str, Value)>, qdevice_port: Value| {
            let mut n = vec![
                ("name", Value::from("pve-1")),
                ("address", Value::from("10.0.1.10")),
            ];
            n.extend(node);
            Value::object([
                ("name", Value::from("lab")),
                ("node", Value::List(vec![Value::object(n)])),
                (
                    "qdevice",
                    Value::object([
                        ("address", Value::from("10.0.1.2")),
                        ("ssh_port", qdevice_port),
                    ]),
                ),
            ])
        };
        let cases = [
            ("defaults", cluster(vec![], Value::Null), vec![]),
            (
                "ports and sizes in range",
                cluster(
                    vec![("ssh_port", Value::int(2222)), ("osd_gb", Value::int(0))],
                    Value::int(65535),
                ),
                vec![],
            ),
            (
                "unknown until apply",
                cluster(vec![("ssh_port", Value::Unknown)], Value::Unknown),
                vec![],
            ),
            (
                "port above 65535",
                cluster(vec![("ssh_port", Value::int(70000))], Value::Null),
                vec!["node[0].ssh_port"],
            ),
            (
                "port 0",
                cluster(vec![("ssh_port", Value::int(0))], Value::Null),
                vec!["node[0].ssh_port"],
            ),
            (
                "fractional port and OSD size",
                cluster(
                    vec![
                        ("ssh_port", Value::float(22.5)),
                        ("osd_gb", Value::float(4.5)),
                    ],
                    Value::Null,
                ),
                vec!["node[0].ssh_port", "node[0].osd_gb"],
            ),
            (
                "negative OSD size",
                cluster(vec![("osd_gb", Value::int(-1))], Value::Null),
                vec!["node[0].osd_gb"],
            ),
            (
                "negative qdevice port",
                cluster(vec![], Value::int(-22)),
                vec!["qdevice.ssh_port"],
            ),
        ];
        for (name, config, want) in cases {
            let mut d = Diagnostics::new();
            ProxmoxCluster.validate_config(&config, &mut d);
            let got: Vec<String> = d
                .iter()
                .map(|d| {
                    d.attribute
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                })
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }
}
