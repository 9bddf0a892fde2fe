//! `freetier_talos_cluster`: a Talos Kubernetes cluster, in VMs on Layer 2's Proxmox VE
//! cluster or straight on hosts that boot Talos, with Cilium, Flux and the SOPS age key, that
//! apply returns only once it really serves. siderolabs' provider needs five resources wired
//! by hand for this; this one does the whole phase behind one health gate.
//!
//! Order of this file: schema, validate, plan, create, read, update, delete, import. The
//! steps are in `apply.rs`, the model in `model.rs`.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use async_trait::async_trait;

use super::apply::{self, Progress, StepError};
use super::model::{defaults, Cluster, NodeStatus};
use super::nodes;
use super::secrets::MachineSecrets;
use crate::framework::*;
use crate::provider::resources::timeouts;

/// The resource.
pub struct TalosClusterResource;

const TYPE: &str = "freetier_talos_cluster";

fn node_status_type() -> Type {
    Type::object([
        ("name", Type::String),
        ("address", Type::String),
        ("host", Type::String),
        ("vmid", Type::Number),
        ("ready", Type::Bool),
    ])
}

fn host_capacity_type() -> Type {
    Type::object([
        ("name", Type::String),
        ("cpus", Type::Number),
        ("memory_free_mb", Type::Number),
        ("kvm_available", Type::Bool),
    ])
}

fn step_diag(d: &mut Diagnostics, e: &StepError) {
    let summary = match e.kind {
        crate::clients::ErrorKind::Cancelled => "Stopped",
        crate::clients::ErrorKind::Transient => "Talos Cluster Not Ready",
        _ => "Talos Cluster Step Failed",
    };
    d.error(
        summary,
        format!(
            "{}: {}\n\nWhat finished is kept: applying again resumes from here.",
            e.step, e.message
        ),
    );
}

/// The state after a create or update that stopped part way: the secrets (so the next apply
/// uses the same ones), the VMs made so far, and the nodes still on their way out (so the next
/// apply finishes taking them out). What the run did not learn keeps the prior state's value,
/// or is null.
fn partial_state(
    mut m: Cluster,
    secrets: &str,
    progress: &Progress,
    prior: Option<&Cluster>,
) -> Value {
    m.id = Maybe::Known(m.name.clone());
    m.machine_secrets = Maybe::Known(secrets.to_string());
    let mut nodes: Vec<NodeStatus> = m
        .node
        .iter()
        .filter(|n| !progress.leaving.contains_key(&n.name))
        .filter_map(|n| {
            progress.vms.get(&n.name).map(|(host, vmid)| NodeStatus {
                name: n.name.clone(),
                address: n.address.clone(),
                host: host.clone(),
                vmid: *vmid,
                ready: false,
            })
        })
        .collect();
    nodes.extend(progress.leaving.values().cloned());
    m.nodes = Maybe::Known(nodes);
    let before = |f: fn(&Cluster) -> &Maybe<String>| {
        prior
            .and_then(|p| f(p).known().cloned())
            .map_or(Maybe::Null, Maybe::Known)
    };
    if m.endpoint.is_unknown() {
        m.endpoint = before(|c| &c.endpoint);
    }
    if m.kubeconfig.is_unknown() {
        m.kubeconfig = before(|c| &c.kubeconfig);
    }
    if m.talosconfig.is_unknown() {
        m.talosconfig = before(|c| &c.talosconfig);
    }
    m.to_value()
}

/// The secrets the plan names (from `freetier_talos_secrets`, or the state's), else those of
/// `prior`, else new ones.
fn secrets_for(
    planned: &Cluster,
    prior: Option<&Cluster>,
) -> Result<(MachineSecrets, String), String> {
    let known = planned
        .machine_secrets
        .known()
        .or_else(|| prior.and_then(|p| p.machine_secrets.known()));
    if let Some(text) = known {
        let s = MachineSecrets::from_yaml(text).map_err(|e| e.to_string())?;
        return Ok((s, text.clone()));
    }
    let s = MachineSecrets::generate().map_err(|e| e.to_string())?;
    let text = s.to_yaml().map_err(|e| e.to_string())?;
    Ok((s, text))
}

async fn run_create(
    ctx: &Ctx,
    planned: &Value,
    prior: Option<&Value>,
    which: &str,
    resp: &mut StateResponse,
) {
    let mut m: Cluster = match read_model(planned) {
        Ok(m) => m,
        Err(e) => return e.report(&mut resp.diagnostics),
    };
    let prior: Option<Cluster> = prior.and_then(|p| read_model(p).ok());
    let (secrets, text) = match secrets_for(&m, prior.as_ref()) {
        Ok(s) => s,
        Err(e) => {
            return resp.diagnostics.error_at(
                AttributePath::root("machine_secrets"),
                "Invalid Machine Secrets",
                format!(
                    "the secrets in state cannot be read ({e}); restore the state from a backup"
                ),
            )
        }
    };
    let mut progress = Progress::default();
    // VMs the state knows already: a resumed create finds them by name too. Those the
    // configuration dropped or moved leave the cluster first (VMs on Proxmox VE only: an
    // `instances` host is not ours to power off, and plan says so).
    if let Some(running) = prior.as_ref().and_then(|p| p.nodes.known()) {
        for n in running {
            progress
                .vms
                .insert(n.name.clone(), (n.host.clone(), n.vmid));
        }
        for n in nodes::leaving(&m, running) {
            progress.leaving.insert(n.name.clone(), n.clone());
        }
    }
    // The talosconfig stays while the node addresses do (the plan keeps it too).
    let addresses = |c: &Cluster| c.node.iter().map(|n| n.address.clone()).collect::<Vec<_>>();
    let talosconfig = prior
        .as_ref()
        .filter(|p| addresses(p) == addresses(&m))
        .and_then(|p| p.talosconfig.known().cloned());
    let kubeconfig = prior.as_ref().and_then(|p| p.kubeconfig.known().cloned());
    let known = apply::Known {
        talosconfig: talosconfig.as_deref(),
        kubeconfig: kubeconfig.as_deref(),
    };
    let limit = m.timeout(which);
    let deadline = tokio::time::Instant::now() + limit;
    let result = tokio::time::timeout(
        limit,
        apply::create(&m, &secrets, known, &mut progress, &ctx.cancel, deadline),
    )
    .await;
    match result {
        Ok(Ok(created)) => {
            // What the plan already knew stays as planned (Talos issues a new client
            // certificate with every kubeconfig); the rest comes from the run.
            fn fill<T>(slot: &mut Maybe<T>, value: T) {
                if !matches!(slot, Maybe::Known(_)) {
                    *slot = Maybe::Known(value);
                }
            }
            m.id = Maybe::Known(m.name.clone());
            m.machine_secrets = Maybe::Known(text);
            fill(&mut m.endpoint, created.endpoint);
            fill(&mut m.kubeconfig, created.kubeconfig);
            fill(&mut m.talosconfig, created.talosconfig);
            fill(&mut m.nodes, created.nodes);
            resp.state = m.to_value();
        }
        Ok(Err(e)) => {
            step_diag(&mut resp.diagnostics, &e);
            resp.state = partial_state(m, &text, &progress, prior.as_ref());
        }
        Err(_) => {
            resp.diagnostics.error(
                "Talos Cluster Timed Out",
                format!(
                    "the {which} did not finish within {}s (timeouts.{which}); finished steps: {}. Applying again resumes.",
                    limit.as_secs(),
                    progress.done.join(", ")
                ),
            );
            resp.state = partial_state(m, &text, &progress, prior.as_ref());
        }
    }
}

#[async_trait]
impl Resource for TalosClusterResource {
    fn type_name(&self) -> &'static str {
        TYPE
    }

    fn schema(&self) -> Schema {
        let node = Block::new(
            "A control-plane node (every node schedules workloads too). A node added later joins the running cluster \
             (no second bootstrap); apply waits until it is an etcd member and Ready. A node removed (`proxmox` placement) \
             leaves etcd, its Kubernetes Node object is deleted and its VM and `cidata` ISO are destroyed; until all that is \
             done it stays in `nodes`, and applying again finishes it. A node given another `host` or `address` is removed \
             so, then made again. The first node is the cluster's endpoint and stays; at least one running node is kept.",
        )
            .attribute(Attribute::string("name").required().description("The node's hostname, also its Kubernetes node name."))
            .attribute(Attribute::string("address").required().description("The node's static IPv4 address, inside `network.cidr`. For `instances`, the host's address, where Talos answers in maintenance mode."))
            .attribute(Attribute::string("host").optional().description("The Proxmox VE node the VM runs on (`proxmox` placement)."))
            .attribute(Attribute::number("cores").optional().description("vCPUs (default 2; Talos documents 2 as a control plane's minimum)."))
            .attribute(Attribute::number("memory_mb").optional().description("Memory in MiB (default 2048, Talos's control-plane minimum)."))
            .attribute(Attribute::number("disk_gb").optional().description("Disk in GiB (default 10)."));
        let proxmox = Block::new("Layer 2's Proxmox VE cluster (`proxmox` placement).")
            .attribute(Attribute::string("api_url").required().description("`https://ADDRESS:8006/api2/json`."))
            .attribute(Attribute::string("api_token_id").required().description("`USER@REALM!TOKEN`."))
            .attribute(Attribute::string("tls_fingerprint").required().description("The API certificate's SHA-256 (`AA:BB:…`): the only certificate trusted."))
            .attribute(Attribute::string("image_url").required().description("The Talos nocloud disk image (`.qcow2` or `.raw`; the API cannot unpack `.xz`), e.g. from https://factory.talos.dev."))
            .attribute(Attribute::string("storage").optional().description("Storage for VM disks (default `local-lvm`; Layer 2's Ceph pool)."))
            .attribute(Attribute::string("iso_storage").optional().description("Storage for the `cidata` ISOs (default `local`)."))
            .attribute(Attribute::string("image_storage").optional().description("Storage with `import` content for the image (default `local`)."))
            .attribute(Attribute::string("bridge").optional().description("The VMs' bridge (default `vmbr0`)."))
            .attribute(
                Attribute::typed("hosts", Type::list(host_capacity_type()))
                    .optional()
                    .description("What Layer 2 reports per host (`name`, `cpus`, `memory_free_mb`, `kvm_available`): plan refuses VMs that do not fit."),
            );
        let network = Block::new("The nodes' network.")
            .attribute(
                Attribute::string("cidr")
                    .required()
                    .description("The subnet the node addresses are in, e.g. `10.0.1.0/24`."),
            )
            .attribute(
                Attribute::string("gateway")
                    .optional()
                    .description("The default gateway."),
            )
            .attribute(
                Attribute::typed("nameservers", Type::list(Type::String))
                    .optional()
                    .description("DNS servers."),
            );
        let gitops = Block::new("Flux's source, and the age key it decrypts SOPS secrets with.")
            .attribute(
                Attribute::string("url")
                    .required()
                    .description("The Git repository Flux syncs."),
            )
            .attribute(
                Attribute::string("branch")
                    .optional()
                    .description("Default `main`."),
            )
            .attribute(
                Attribute::string("path")
                    .optional()
                    .description("Default `clusters/<name>`."),
            );
        let timeouts = timeouts::block(
            "How long each operation may take, as Go durations. Unset, create and update allow 30m, five times that with `cpu_emulation`.",
            ["30m", "30m", "10m"],
        );
        Schema {
            version: 0,
            block: Block::new(
                "A Talos Kubernetes cluster with Cilium, Flux and a SOPS age key: VMs on Layer 2's Proxmox VE cluster \
                 (`placement = \"proxmox\"`), or Talos straight on hosts given by address (`\"instances\"`). Apply returns \
                 once every etcd member is there, every node is Ready and Flux's controllers exist. Talos applies inline \
                 manifests when the cluster is created and never updates them: later changes to `gitops` reach new \
                 nodes only; change the running cluster through Flux.",
            )
            .attribute(Attribute::string("id").computed().use_state_for_unknown().description("The cluster name."))
            .attribute(Attribute::string("name").required().requires_replace().description("The cluster name."))
            .attribute(
                Attribute::string("placement")
                    .optional()
                    .computed()
                    .default(Value::from("proxmox"))
                    .requires_replace()
                    .description("`proxmox` (VMs on Layer 2) or `instances` (Talos on the hosts themselves, e.g. the OCI A1 instances)."),
            )
            .attribute(Attribute::string("talos_version").optional().computed().default(Value::from(defaults::TALOS_VERSION)).requires_replace().description("The Talos release; a change replaces the cluster (upgrade in place with `talosctl upgrade`)."))
            .attribute(Attribute::string("kubernetes_version").optional().computed().default(Value::from(defaults::KUBERNETES_VERSION)).requires_replace().description("The Kubernetes release; a change replaces the cluster (upgrade in place with `talosctl upgrade-k8s`)."))
            .attribute(Attribute::string("install_image").optional().description("The installer image; default the Image Factory's plain nocloud installer for `talos_version`."))
            .attribute(Attribute::string("pod_cidr").optional().computed().default(Value::from(defaults::POD_CIDR)).requires_replace().description("Pod network."))
            .attribute(Attribute::string("service_cidr").optional().computed().default(Value::from(defaults::SERVICE_CIDR)).requires_replace().description("Service network."))
            // The two secrets sit at the top level, not in their blocks: Terraform 1.0.3 crashes
            // rendering drift of a nested block that holds a sensitive value ("value is
            // marked, so must be unmarked first", fixed in 1.0.4).
            .attribute(Attribute::string("proxmox_token_secret").optional().sensitive().description("The secret of `proxmox.api_token_id` (Layer 2's `api_token_secret`). Required with placement \"proxmox\"."))
            .attribute(Attribute::string("sops_age_key").optional().sensitive().description("The age secret key (`AGE-SECRET-KEY-1…`) Flux decrypts SOPS secrets with, e.g. `freetier_age_key.x.private_key`: it becomes the `sops-age` Secret in `flux-system`. Required with a gitops block."))
            .attribute(Attribute::bool("cpu_emulation").optional().computed().default(Value::Bool(false)).description("Run VMs without KVM (QEMU TCG, about 5× slower). Required where Layer 2 reports no `/dev/kvm`, as on OCI A1 VMs."))
            .attribute(Attribute::bool("delete_images").optional().computed().default(Value::Bool(false)).description("Whether destroy also deletes the downloaded Talos image."))
            .attribute(Attribute::string("endpoint").computed().use_state_for_unknown().description("The Kubernetes API's address (the first node)."))
            .attribute(Attribute::string("kubeconfig").computed().sensitive().description("An admin kubeconfig, fetched once the API serves."))
            .attribute(Attribute::string("talosconfig").computed().sensitive().use_state_for_unknown().description("A talosconfig with an `os:admin` certificate."))
            .attribute(
                Attribute::string("machine_secrets")
                    .optional()
                    .computed()
                    .sensitive()
                    .use_state_for_unknown()
                    .requires_replace()
                    .description("The cluster's secrets bundle, in `talosctl gen secrets` format. Give `freetier_talos_secrets.NAME.machine_secrets`, so the state holds the bundle before any machine boots with it; left out, the cluster makes its own (a create killed part way then leaves machines whose secrets are lost)."),
            )
            .attribute(Attribute::typed("nodes", Type::list(node_status_type())).computed().description("Each node: name, address, host, vmid (0 for `instances`), ready."))
            .nested_bounded("node", Nesting::List, node, 1, 0)
            .nested("network", Nesting::Single, network)
            .nested("proxmox", Nesting::Single, proxmox)
            .nested("gitops", Nesting::Single, gitops)
            .nested("timeouts", Nesting::Single, timeouts),
        }
    }

    async fn create(&self, ctx: &Ctx, req: CreateRequest, resp: &mut StateResponse) {
        run_create(ctx, &req.planned, None, "create", resp).await;
    }

    async fn read(&self, ctx: &Ctx, req: ReadRequest, resp: &mut StateResponse) {
        resp.private = req.private.clone();
        resp.state = req.current.clone();
        let Ok(mut m) = read_model::<Cluster>(&req.current) else {
            return;
        };
        if m.placement() != "proxmox" {
            return;
        }
        let Some(nodes) = m.nodes.known().cloned() else {
            return;
        };
        match apply::observe_vms(&m, &nodes, &ctx.cancel).await {
            Ok(seen) => {
                m.nodes = Maybe::Known(seen);
                resp.state = m.to_value();
            }
            Err(e) => resp.diagnostics.warning(
                "Talos Cluster Not Read",
                format!("{}; the state is left as it was", e.message),
            ),
        }
    }

    async fn update(&self, ctx: &Ctx, req: UpdateRequest, resp: &mut StateResponse) {
        run_create(ctx, &req.planned, Some(&req.prior), "update", resp).await;
    }

    async fn delete(&self, ctx: &Ctx, req: DeleteRequest, resp: &mut StateResponse) {
        // What `import` stores: the name and the secrets, not where the VMs run. Checked on
        // the value itself: such a state need not read as a whole model.
        let prior = &req.prior;
        if prior.attr("placement").as_str().unwrap_or("proxmox") == "proxmox"
            && prior.attr("proxmox").is_null()
            && prior.attr("nodes").is_null()
        {
            resp.state = prior.clone();
            resp.diagnostics.error(
                "Imported Cluster Not Applied Yet",
                format!(
                    "talos cluster '{}' was imported and has not been applied since, so its state holds only its name and secrets, not where its VMs run: destroy cannot find them. Run terraform apply once (it adopts the running VMs without changing them), then destroy; or run terraform state rm on this resource to forget the cluster and leave its VMs running.",
                    prior.attr("name").as_str().unwrap_or_default()
                ),
            );
            return;
        }
        let m: Cluster = match read_model(&req.prior) {
            Ok(m) => m,
            Err(e) => return e.report(&mut resp.diagnostics),
        };
        if m.placement() != "proxmox" {
            resp.state = Value::Null;
            resp.diagnostics.warning(
                "Talos Left Running",
                "the instances keep running Talos: reset them with `talosctl reset`, or replace them in Layer 1",
            );
            return;
        }
        let nodes = m.nodes.known().cloned().unwrap_or_default();
        let limit = m.timeout("delete");
        let deadline = tokio::time::Instant::now() + limit;
        match tokio::time::timeout(limit, apply::destroy(&m, &nodes, &ctx.cancel, deadline)).await {
            Ok(Ok(())) => resp.state = Value::Null,
            Ok(Err(e)) => {
                step_diag(&mut resp.diagnostics, &e);
                resp.state = req.prior.clone();
            }
            Err(_) => {
                resp.diagnostics.error(
                    "Talos Cluster Timed Out",
                    format!("destroy did not finish within {}s (timeouts.delete); destroying again resumes", limit.as_secs()),
                );
                resp.state = req.prior.clone();
            }
        }
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

/// `a.b.c.d/len` as (network, length), if valid.
fn parse_cidr(s: &str) -> Option<(u32, u8)> {
    let (ip, len) = s.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Some((u32::from(ip) & mask, len))
}

fn contains(net: (u32, u8), ip: Ipv4Addr) -> bool {
    let mask = if net.1 == 0 {
        0
    } else {
        u32::MAX << (32 - net.1)
    };
    u32::from(ip) & mask == net.0
}

fn overlap(a: (u32, u8), b: (u32, u8)) -> bool {
    let len = a.1.min(b.1);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    a.0 & mask == b.0 & mask
}

impl ValidateConfig for TalosClusterResource {
    fn validate_config(&self, config: &Value, diags: &mut Diagnostics) {
        if let Some(n) = config.attr("name").as_str() {
            let ok = !n.is_empty()
                && n.len() <= 40
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !n.starts_with('-');
            if !ok {
                diags.error_at(
                    AttributePath::root("name"),
                    "Invalid Cluster Name",
                    format!("'{n}' is not a cluster name: use 1 to 40 lowercase letters, digits or '-' (it names VMs and the kubeconfig context)"),
                );
            }
        }
        let placement = config.attr("placement").as_str().unwrap_or("proxmox");
        if !config.attr("placement").is_unknown() && !["proxmox", "instances"].contains(&placement)
        {
            diags.error_at(
                AttributePath::root("placement"),
                "Invalid Placement",
                format!("placement '{placement}' is not \"proxmox\" (VMs on Layer 2) or \"instances\" (Talos on the hosts)"),
            );
        }
        if placement == "proxmox"
            && config.attr("proxmox").is_null()
            && !config.attr("placement").is_unknown()
        {
            diags.error_at(
                AttributePath::root("proxmox"),
                "Missing Proxmox Block",
                "placement \"proxmox\" needs a proxmox block with Layer 2's api_url, token, fingerprint and the image_url",
            );
        }
        // CIDRs: valid, and apart from each other.
        let mut nets: Vec<(&str, AttributePath, (u32, u8))> = Vec::new();
        for (label, path) in [
            ("pod_cidr", AttributePath::root("pod_cidr")),
            ("service_cidr", AttributePath::root("service_cidr")),
            ("network.cidr", AttributePath::root("network").attr("cidr")),
        ] {
            let v = match label {
                "network.cidr" => config.attr("network").attr("cidr"),
                other => config.attr(other),
            };
            let Some(text) = v.as_str() else { continue };
            match parse_cidr(text) {
                Some(net) => {
                    for (other, _, o) in &nets {
                        if overlap(net, *o) {
                            diags.error_at(
                                path.clone(),
                                "Overlapping Networks",
                                format!("{label} {text} overlaps {other}: pods, services and nodes each need their own range"),
                            );
                        }
                    }
                    nets.push((label, path, net));
                }
                None => diags.error_at(
                    path,
                    "Invalid Network",
                    format!(
                        "'{text}' is not an IPv4 network in CIDR notation, such as 10.0.1.0/24"
                    ),
                ),
            }
        }
        let node_net = config
            .attr("network")
            .attr("cidr")
            .as_str()
            .and_then(parse_cidr);
        let nodes = config.attr("node").as_seq().unwrap_or(&[]);
        let mut names = BTreeSet::new();
        let mut addresses = BTreeSet::new();
        for (i, n) in nodes.iter().enumerate() {
            let path = AttributePath::root("node").index(i);
            if let Some(name) = n.attr("name").as_str() {
                if !names.insert(name.to_string()) {
                    diags.error_at(
                        path.clone().attr("name"),
                        "Duplicate Node",
                        format!("node name '{name}' appears twice"),
                    );
                }
            }
            if let Some(a) = n.attr("address").as_str() {
                match a.parse::<Ipv4Addr>() {
                    Err(_) => diags.error_at(
                        path.clone().attr("address"),
                        "Invalid Address",
                        format!("'{a}' is not an IPv4 address"),
                    ),
                    Ok(ip) => {
                        if !addresses.insert(a.to_string()) {
                            diags.error_at(
                                path.clone().attr("address"),
                                "Duplicate Node",
                                format!("node address {a} appears twice"),
                            );
                        }
                        if let (Some(net), Some(text)) =
                            (node_net, config.attr("network").attr("cidr").as_str())
                        {
                            if !contains(net, ip) {
                                diags.error_at(
                                    path.clone().attr("address"),
                                    "Address Outside Network",
                                    format!("node {i} address {a} is outside network.cidr {text}"),
                                );
                            }
                        }
                    }
                }
            }
            if placement == "proxmox" && n.attr("host").is_null() {
                diags.error_at(
                    path.clone().attr("host"),
                    "Missing Host",
                    "with placement \"proxmox\" each node names the Proxmox VE node its VM runs on",
                );
            }
            if let Some(mb) = n.attr("memory_mb").as_number().and_then(Number::as_i64) {
                if mb < defaults::MIN_MEMORY_MB as i64 {
                    diags.error_at(
                        path.clone().attr("memory_mb"),
                        "Too Little Memory",
                        format!("node {i} has {mb} MiB and a Talos control plane needs at least {} MiB (https://www.talos.dev/v1.11/introduction/system-requirements/)", defaults::MIN_MEMORY_MB),
                    );
                }
            }
            if let Some(c) = n.attr("cores").as_number().and_then(Number::as_i64) {
                if c < 1 {
                    diags.error_at(
                        path.clone().attr("cores"),
                        "Invalid Cores",
                        format!("node {i} has {c} cores; give at least 1"),
                    );
                } else if c < i64::from(defaults::MIN_CORES) {
                    diags.warning_at(
                        path.clone().attr("cores"),
                        "Fewer Cores Than Talos Documents",
                        format!("node {i} has {c} core(s) and Talos documents {} for a control plane (https://www.talos.dev/v1.11/introduction/system-requirements/): it runs, slowly", defaults::MIN_CORES),
                    );
                }
            }
        }
        if !config.attr("gitops").is_null() && config.attr("sops_age_key").is_null() {
            diags.error_at(
                AttributePath::root("sops_age_key"),
                "Missing Age Key",
                "a gitops block needs sops_age_key, the key Flux decrypts with; give freetier_age_key.NAME.private_key",
            );
        }
        if placement == "proxmox"
            && !config.attr("proxmox").is_null()
            && config.attr("proxmox_token_secret").is_null()
        {
            diags.error_at(
                AttributePath::root("proxmox_token_secret"),
                "Missing Token Secret",
                "placement \"proxmox\" needs proxmox_token_secret, Layer 2's api_token_secret",
            );
        }
        timeouts::validate(config, diags);
        if let Some(key) = config.attr("sops_age_key").as_str() {
            if !key.starts_with("AGE-SECRET-KEY-1") {
                diags.error_at(
                    AttributePath::root("sops_age_key"),
                    "Invalid Age Key",
                    "sops_age_key is not an age secret key (AGE-SECRET-KEY-1…); give freetier_age_key.NAME.private_key",
                );
            }
        }
    }
}

#[async_trait]
impl ModifyPlan for TalosClusterResource {
    async fn modify_plan(&self, _ctx: &Ctx, req: PlanRequest<'_>, resp: &mut PlanResponse) {
        if req.config.is_null() {
            return;
        }
        if req
            .config
            .attr("node")
            .as_seq()
            .is_some_and(<[Value]>::is_empty)
        {
            resp.diagnostics.error_at(
                AttributePath::root("node"),
                "No Nodes",
                "a cluster needs at least one node block, and removing every node would leave no etcd to hold it: keep one, or destroy the cluster (terraform destroy, or remove the resource)",
            );
            return;
        }
        let Ok(m) = read_model::<Cluster>(req.config) else {
            return;
        };
        if !req.prior.is_null() {
            if let Ok(prior) = read_model::<Cluster>(req.prior) {
                nodes::changes(&m, &prior, &mut resp.diagnostics);
            }
        }
        if m.placement() == "proxmox" {
            let hosts = m
                .proxmox
                .as_ref()
                .and_then(|p| p.hosts.known().cloned())
                .unwrap_or_default();
            let emulated = m.cpu_emulation.known().copied().unwrap_or(false);
            for h in &hosts {
                let here: Vec<(usize, &super::model::NodeConfig)> = m
                    .node
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| n.host.known() == Some(&h.name))
                    .collect();
                if here.is_empty() {
                    continue;
                }
                if !h.kvm_available && !emulated && !m.cpu_emulation.is_unknown() {
                    resp.diagnostics.error_at(
                        AttributePath::root("cpu_emulation"),
                        "No KVM On Host",
                        format!(
                            "Proxmox VE host {} has no /dev/kvm (OCI A1 VMs have none), so its VMs can only run under emulation, about {}x slower. Set cpu_emulation = true to accept that, or use placement = \"instances\" to run Talos on the hosts themselves",
                            h.name, defaults::TCG_SLOWDOWN
                        ),
                    );
                }
                let memory: u64 = here.iter().map(|(_, n)| n.memory_mb()).sum();
                if memory > h.memory_free_mb {
                    let (i, _) = here[here.len() - 1];
                    resp.diagnostics.error_at(
                        AttributePath::root("node").index(i).attr("memory_mb"),
                        "VMs Do Not Fit",
                        format!(
                            "the VMs on {} need {memory} MiB and the host has {} MiB left after Proxmox VE and Ceph: give them less memory, or spread them over more hosts",
                            h.name, h.memory_free_mb
                        ),
                    );
                }
                for (i, n) in &here {
                    if n.cores() > h.cpus {
                        resp.diagnostics.error_at(
                            AttributePath::root("node").index(*i).attr("cores"),
                            "VM Does Not Fit",
                            format!(
                                "node {} asks for {} cores and host {} has {}",
                                n.name,
                                n.cores(),
                                h.name,
                                h.cpus
                            ),
                        );
                    }
                }
            }
        }
        // An imported cluster's state holds only its name and secrets: what it never recorded
        // has not changed, so the configuration's versions and networks adopt it in place.
        resp.requires_replace.retain(|p| {
            ![
                "placement",
                "talos_version",
                "kubernetes_version",
                "pod_cidr",
                "service_cidr",
            ]
            .iter()
            .any(|a| *p == AttributePath::root(*a) && req.prior.attr(a).is_null())
        });
        // A node list that changed, or a VM gone behind Terraform's back, is an update.
        if let Ok(prior) = read_model::<Cluster>(req.prior) {
            let have: BTreeSet<String> = prior
                .nodes
                .known()
                .map(|ns| ns.iter().map(|n| n.name.clone()).collect())
                .unwrap_or_default();
            let want: BTreeSet<String> = m.node.iter().map(|n| n.name.clone()).collect();
            let addresses =
                |c: &Cluster| c.node.iter().map(|n| n.address.clone()).collect::<Vec<_>>();
            if addresses(&prior) != addresses(&m) {
                resp.planned.set_attr("talosconfig", Value::Unknown);
                resp.planned.set_attr("endpoint", Value::Unknown);
            }
            let running = prior.nodes.known().cloned().unwrap_or_default();
            if have != want
                || !nodes::moved(&m, &running).is_empty()
                || prior.kubeconfig.known().is_none()
            {
                resp.planned.set_attr("nodes", Value::Unknown);
                resp.planned.set_attr("kubeconfig", Value::Unknown);
            } else {
                resp.planned
                    .set_attr("nodes", req.prior.attr("nodes").clone());
                resp.planned
                    .set_attr("kubeconfig", req.prior.attr("kubeconfig").clone());
            }
        }
    }
}

#[async_trait]
impl ImportState for TalosClusterResource {
    async fn import_state(&self, _ctx: &Ctx, id: &str, resp: &mut ImportResponse) {
        // NAME=SECRETS_FILE: the talosctl secrets bundle, read from a file, never the id.
        let Some((name, path)) = id
            .split_once('=')
            .filter(|(n, p)| !n.is_empty() && !p.is_empty())
        else {
            resp.diagnostics.error(
                "Invalid Import ID",
                "the import ID is NAME=SECRETS_FILE, e.g. lab=./secrets.yaml (the file `talosctl gen secrets` writes); the secrets never go in the ID itself",
            );
            return;
        };
        if path.contains("-----BEGIN") || path.len() > 4096 {
            resp.diagnostics.error("Invalid Import ID", "the import ID holds key material, which Terraform prints and logs; give the path of the secrets file instead");
            return;
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                resp.diagnostics.error(
                    "Cannot Import Talos Cluster",
                    format!("cannot read {path} ({e})"),
                );
                return;
            }
        };
        if let Err(e) = MachineSecrets::from_yaml(&text) {
            resp.diagnostics.error(
                "Cannot Import Talos Cluster",
                format!("{path} is not a talosctl secrets bundle ({e})"),
            );
            return;
        }
        resp.state = Value::object([
            ("id", Value::from(name)),
            ("name", Value::from(name)),
            ("machine_secrets", Value::from(text)),
        ]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_overlap_when_one_contains_the_other() {
        let cases = [
            ("10.244.0.0/16", "10.96.0.0/12", false),
            ("10.0.0.0/8", "10.96.0.0/12", true),
            ("10.0.1.0/24", "10.0.1.128/25", true),
            ("192.168.1.0/24", "192.168.2.0/24", false),
        ];
        for (a, b, want) in cases {
            assert_eq!(
                overlap(parse_cidr(a).unwrap(), parse_cidr(b).unwrap()),
                want,
                "{a} {b}"
            );
        }
        assert!(contains(
            parse_cidr("10.0.1.0/24").unwrap(),
            "10.0.1.10".parse().unwrap()
        ));
        assert!(!contains(
            parse_cidr("10.0.1.0/24").unwrap(),
            "10.0.2.10".parse().unwrap()
        ));
    }

    fn validate(config: Value) -> Diagnostics {
        let mut d = Diagnostics::default();
        TalosClusterResource.validate_config(&config, &mut d);
        d
    }

    fn node(name: &str, address: &str, memory: i64) -> Value {
        Value::object([
            ("name", Value::from(name)),
            ("address", Value::from(address)),
            ("host", Value::from("ampere-1")),
            ("memory_mb", Value::Number(Number::from_i64(memory))),
            ("cores", Value::Null),
            ("disk_gb", Value::Null),
        ])
    }

    #[test]
    fn bad_networks_and_small_nodes_are_refused_naming_the_numbers() {
        let config = Value::object([
            ("name", Value::from("lab")),
            ("placement", Value::from("proxmox")),
            (
                "proxmox",
                Value::object([("api_url", Value::from("https://x"))]),
            ),
            ("pod_cidr", Value::from("10.0.0.0/8")),
            ("service_cidr", Value::from("10.96.0.0/12")),
            (
                "network",
                Value::object([("cidr", Value::from("10.0.1.0/24"))]),
            ),
            (
                "node",
                Value::List(vec![
                    node("cp-1", "10.0.2.10", 1024),
                    node("cp-1", "10.0.1.11", 2048),
                ]),
            ),
            ("gitops", Value::Null),
        ]);
        let d = validate(config);
        let text = format!("{d:?}");
        for want in [
            "service_cidr 10.96.0.0/12 overlaps pod_cidr",
            "address 10.0.2.10 is outside network.cidr 10.0.1.0/24",
            "1024 MiB and a Talos control plane needs at least 2048 MiB",
            "node name 'cp-1' appears twice",
        ] {
            assert!(text.contains(want), "missing {want:?} in {text}");
        }
    }

    fn status(name: &str, address: &str) -> Value {
        Value::object([
            ("name", Value::from(name)),
            ("address", Value::from(address)),
            ("host", Value::from("ampere-1")),
            ("vmid", Value::Number(Number::from_i64(100))),
            ("ready", Value::Bool(true)),
        ])
    }

    /// A cluster value: `nodes` as node blocks, with `extra` on top.
    fn cluster(placement: &str, nodes: &[(&str, &str)], extra: Vec<(&str, Value)>) -> Value {
        let mut fields = vec![
            ("name", Value::from("lab")),
            ("placement", Value::from(placement)),
            (
                "node",
                Value::List(nodes.iter().map(|(n, a)| node(n, a, 2048)).collect()),
            ),
        ];
        fields.extend(extra);
        Value::object(fields)
    }

    /// The state after an apply of `nodes`: statuses, endpoint and kubeconfig included.
    fn applied(placement: &str, nodes: &[(&str, &str)]) -> Value {
        cluster(
            placement,
            nodes,
            vec![
                ("endpoint", Value::from(nodes[0].1)),
                ("kubeconfig", Value::from("apiVersion: v1")),
                (
                    "nodes",
                    Value::List(nodes.iter().map(|(n, a)| status(n, a)).collect()),
                ),
            ],
        )
    }

    async fn plan(config: Value, prior: Value) -> Diagnostics {
        planned(config, prior).await.diagnostics
    }

    /// The plan of `config` over `prior`, as ModifyPlan leaves it.
    async fn planned(config: Value, prior: Value) -> PlanResponse {
        let mut resp = PlanResponse {
            planned: config.clone(),
            requires_replace: Vec::new(),
            private: Private::new(),
            diagnostics: Diagnostics::default(),
        };
        TalosClusterResource
            .modify_plan(
                &Ctx::default(),
                PlanRequest {
                    config: &config,
                    prior: &prior,
                },
                &mut resp,
            )
            .await;
        resp
    }

    #[tokio::test]
    async fn node_list_changes_are_planned_or_refused_naming_what_to_keep() {
        let three = [
            ("cp-1", "10.0.1.10"),
            ("cp-2", "10.0.1.11"),
            ("cp-3", "10.0.1.12"),
        ];
        /// Nodes as (name, address).
        type Nodes<'a> = &'a [(&'a str, &'a str)];
        // (case, placement, state's nodes, configured nodes, what a diagnostic must say)
        let cases: &[(&str, &str, Nodes, Nodes, Option<&str>)] = &[
            ("a node added", "proxmox", &three[..2], &three, None),
            (
                "a node removed",
                "proxmox",
                &three,
                &[three[0], three[2]],
                None,
            ),
            (
                "the endpoint node removed",
                "proxmox",
                &three[..2],
                &three[1..2],
                Some("it must stay cp-1 at 10.0.1.10 on ampere-1 (the plan has cp-2 at 10.0.1.11 on ampere-1)"),
            ),
            (
                "the endpoint node readdressed",
                "proxmox",
                &three[..1],
                &[("cp-1", "10.0.1.20")],
                Some("https://10.0.1.10:6443"),
            ),
            (
                "a node dropped from instances",
                "instances",
                &three[..2],
                &three[..1],
                Some("talosctl -n 10.0.1.11 reset, then kubectl delete node cp-2"),
            ),
        ];
        for (name, placement, before, after, says) in cases {
            let d = plan(
                cluster(placement, after, Vec::new()),
                applied(placement, before),
            )
            .await;
            let text: Vec<String> = d
                .iter()
                .map(|d| format!("{}: {}", d.summary, d.detail))
                .collect();
            match says {
                None => assert!(text.is_empty(), "{name}: {text:?}"),
                Some(want) => assert!(
                    text.len() == 1 && text[0].contains(want),
                    "{name}: {text:?}"
                ),
            }
        }

        // A create that stopped before the endpoint was known: every running node replaced.
        let mut partial = applied("proxmox", &three[..1]);
        partial.set_attr("endpoint", Value::Null);
        let d = plan(
            cluster("proxmox", &[("cp-9", "10.0.1.19")], Vec::new()),
            partial,
        )
        .await;
        assert!(d.has_errors());
        assert!(
            d.iter().any(|d| d.summary == "No Running Node Kept"
                && d.detail.contains("none of the nodes that run now (cp-1)")),
            "{d:?}"
        );

        // No node at all.
        let d = plan(
            cluster("proxmox", &[], Vec::new()),
            applied("proxmox", &three),
        )
        .await;
        assert!(
            d.iter()
                .any(|d| d.summary == "No Nodes" && d.detail.contains("keep one")),
            "{d:?}"
        );
    }

    #[tokio::test]
    async fn a_destroy_before_the_apply_that_adopts_an_import_keeps_the_state_and_says_why() {
        let imported = Value::object([
            ("id", Value::from("lab")),
            ("name", Value::from("lab")),
            ("machine_secrets", Value::from("cluster: {}")),
        ]);
        let mut resp = StateResponse::default();
        TalosClusterResource
            .delete(
                &Ctx::default(),
                DeleteRequest {
                    prior: imported.clone(),
                    private: Private::new(),
                },
                &mut resp,
            )
            .await;
        assert!(resp.diagnostics.has_errors());
        let d = resp.diagnostics.iter().next().expect("a diagnostic");
        assert_eq!(d.summary, "Imported Cluster Not Applied Yet");
        for want in [
            "'lab' was imported",
            "not where its VMs run",
            "terraform apply once",
            "then destroy",
            "terraform state rm",
        ] {
            assert!(d.detail.contains(want), "{want:?} in {}", d.detail);
        }
        assert_eq!(resp.state, imported, "the state is kept");
    }

    #[test]
    fn a_stopped_update_keeps_the_nodes_still_leaving_and_what_the_state_knew() {
        let prior: Cluster = read_model(&applied(
            "proxmox",
            &[("cp-1", "10.0.1.10"), ("cp-2", "10.0.1.11")],
        ))
        .expect("prior");
        let mut planned: Cluster =
            read_model(&cluster("proxmox", &[("cp-1", "10.0.1.10")], Vec::new())).expect("plan");
        planned.kubeconfig = Maybe::Unknown;
        planned.endpoint = Maybe::Unknown;
        planned.talosconfig = Maybe::Unknown;
        let mut progress = Progress::default();
        progress.vms.insert("cp-1".into(), ("ampere-1".into(), 100));
        let leaving: Vec<NodeStatus> = prior
            .nodes
            .known()
            .into_iter()
            .flatten()
            .filter(|n| n.name == "cp-2")
            .cloned()
            .collect();
        progress.leaving.insert("cp-2".into(), leaving[0].clone());
        let state: Cluster =
            read_model(&partial_state(planned, "secrets", &progress, Some(&prior))).expect("state");
        let names: Vec<&str> = state
            .nodes
            .known()
            .into_iter()
            .flatten()
            .map(|n| n.name.as_str())
            .collect();
        assert_eq!(names, ["cp-1", "cp-2"], "cp-2 stays until it is out");
        assert_eq!(
            state.kubeconfig.known().map(String::as_str),
            Some("apiVersion: v1")
        );
        assert_eq!(
            state.endpoint.known().map(String::as_str),
            Some("10.0.1.10")
        );
        assert_eq!(state.talosconfig, Maybe::Null, "never known: null");
    }

    #[tokio::test]
    async fn a_node_moved_to_another_host_or_address_is_made_again() {
        let prior = applied("proxmox", &[("cp-1", "10.0.1.10"), ("cp-2", "10.0.1.11")]);
        let running: Cluster = read_model(&prior).expect("prior");
        let running = running.nodes.known().cloned().unwrap_or_default();
        let on = |placement: &str, host: &str, address: &str| {
            let mut c = cluster(
                placement,
                &[("cp-1", "10.0.1.10"), ("cp-2", address)],
                Vec::new(),
            );
            if let Value::Object(fields) = &mut c {
                if let Some(Value::List(nodes)) = fields.get_mut("node") {
                    nodes[1].set_attr("host", Value::from(host));
                }
            }
            c
        };
        // (case, configuration, the nodes made again)
        let cases = [
            ("unchanged", on("proxmox", "ampere-1", "10.0.1.11"), vec![]),
            (
                "another host",
                on("proxmox", "ampere-2", "10.0.1.11"),
                vec!["cp-2"],
            ),
            (
                "another address",
                on("proxmox", "ampere-1", "10.0.1.21"),
                vec!["cp-2"],
            ),
            (
                "instances",
                on("instances", "ampere-2", "10.0.1.11"),
                vec![],
            ),
        ];
        for (name, config, want) in cases {
            let m: Cluster = read_model(&config).expect("config");
            let got: Vec<&str> = nodes::moved(&m, &running)
                .iter()
                .map(|n| n.name.as_str())
                .collect();
            assert_eq!(got, want, "{name}");
        }
        // The plan leaves the node statuses to the apply, which makes new VMs.
        let config = on("proxmox", "ampere-2", "10.0.1.11");
        let resp = planned(config, prior.clone()).await;
        assert!(!resp.diagnostics.has_errors(), "{:?}", resp.diagnostics);
        assert_eq!(resp.planned.attr("nodes"), &Value::Unknown);
    }
}
