//! Acceptance: `freetier_talos_cluster` grows and shrinks on the lab, as a user changes the
//! node blocks of a running cluster. Two control planes; a third added (it joins the running
//! etcd without a second Bootstrap and turns Ready); the second removed (its etcd member, its
//! Kubernetes Node and its VM with its `cidata` ISO are gone, and the two that stay serve on).
//! The plan is empty after each apply. The removal is first interrupted, with the leaving node
//! not answering Talos's API and the provider killed while its VM is being destroyed: the state
//! still lists the node, and the next apply finishes taking it out. Last, a node moved to
//! another host is taken out and made again there.
//!
//! The configuration is the test's own (`terraform/talos` with a node list instead of
//! `vms_per_host`), read from Layer 2's state as `terraform/talos` reads it. It runs on every
//! core found, each with a fresh lab at `time_scale` 0 (under 20 s a core).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use freetier::clients::talos::{self, TalosContext};
use freetier::clients::Call;
use freetier::lab::talos::Fault;
use freetier::lab::{FaultRule, Lab, LabConfig};
use support::*;

/// The resource under test.
const CLUSTER: &str = "freetier_talos_cluster.this";
/// Talos's Bootstrap, and a leaving node's own way out of etcd and the other way.
const BOOTSTRAP: &str = "machine.MachineService/Bootstrap";
const ETCD_LEAVE: &str = "machine.MachineService/EtcdLeaveCluster";
const ETCD_REMOVE: &str = "machine.MachineService/EtcdRemoveMemberByID";
/// The Proxmox VE API call that destroys a VM.
const VM_DESTROY: &str = "api:DELETE /nodes/{node}/qemu/{vmid}";

/// A cluster of control planes `cp-N` (N from `node_numbers`) on Layer 2: cp-N takes host
/// number `first_address + N - 1` and the Layer 2 hosts in turn, so a number always means
/// the same node.
const MAIN_TF: &str = r#"
terraform {
  required_providers {
    freetier = { source = "freetier/freetier" }
  }
}

variable "proxmox_state_path" { type = string }
variable "image_url" { type = string }
variable "node_cidr" { type = string }
variable "first_address" { type = number }
variable "cpu_emulation" { type = bool }
variable "node_numbers" { type = list(number) }
# cp-N runs on Layer 2 host number (N - 1) unless moved here, both modulo the host count.
variable "moves" {
  type    = map(number)
  default = {}
}

data "terraform_remote_state" "proxmox" {
  backend = "local"
  config = {
    path = var.proxmox_state_path
  }
}

locals {
  pve   = data.terraform_remote_state.proxmox.outputs
  hosts = local.pve.nodes
}

resource "freetier_talos_secrets" "this" {}

resource "freetier_talos_cluster" "this" {
  name          = "freetier"
  cpu_emulation = var.cpu_emulation

  machine_secrets      = freetier_talos_secrets.this.machine_secrets
  proxmox_token_secret = sensitive(local.pve.api_token_secret)

  proxmox {
    api_url         = local.pve.api_url
    api_token_id    = local.pve.api_token_id
    tls_fingerprint = local.pve.tls_fingerprints[local.hosts[0].name]
    image_url       = var.image_url
    storage         = local.pve.pool != "" ? local.pve.pool : "local-lvm"
    hosts = [
      for h in local.hosts : {
        name           = h.name
        cpus           = h.cpus
        memory_free_mb = h.memory_free_mb
        kvm_available  = h.kvm_available
      }
    ]
  }

  network {
    cidr = var.node_cidr
  }

  dynamic "node" {
    for_each = var.node_numbers
    content {
      name      = "cp-${node.value}"
      address   = cidrhost(var.node_cidr, var.first_address + node.value - 1)
      host      = local.hosts[lookup(var.moves, tostring(node.value), node.value - 1) % length(local.hosts)].name
      cores     = 1
      memory_mb = 2048
    }
  }
}

output "kubeconfig" {
  value     = freetier_talos_cluster.this.kubeconfig
  sensitive = true
}

output "talosconfig" {
  value     = freetier_talos_cluster.this.talosconfig
  sensitive = true
}
"#;

/// The lab, Layer 2 applied on it, and the test's cluster configuration initialised.
struct Stack {
    base: LabStack,
    wd: Workdir,
}

impl Stack {
    fn lab(&self) -> &Lab {
        self.base.lab()
    }

    /// Configures the nodes `cp-N` for each N in `numbers`.
    fn configure(&self, numbers: &[u32]) {
        self.configure_moved(numbers, &[]);
    }

    /// Configures the nodes `cp-N` for each N in `numbers`, each (N, H) of `moves` on Layer 2
    /// host number H.
    fn configure_moved(&self, numbers: &[u32], moves: &[(u32, u32)]) {
        let list: Vec<String> = numbers.iter().map(u32::to_string).collect();
        let moves: Vec<String> = moves
            .iter()
            .map(|(n, h)| format!("\"{n}\" = {h}"))
            .collect();
        self.wd.write(
            "nodes.auto.tfvars",
            &format!(
                "node_numbers = [{}]\nmoves = {{ {} }}\n",
                list.join(", "),
                moves.join(", ")
            ),
        );
    }

    /// How many calls of a Talos operation succeeded.
    fn talos_ok(&self, op: &str) -> usize {
        let trace = self.base.talos.guests.fleet().trace();
        trace.iter().filter(|t| t.op == op && t.ok).count()
    }
}

fn stack(rt: &tokio::runtime::Runtime, core: &Core) -> Stack {
    let base = LabStack::start(
        rt,
        core,
        LabConfig {
            time_scale: 0.0,
            ..LabConfig::always_free()
        },
    );
    let a2 = base.l2.apply();
    assert_eq!(a2.code, 0, "layer 2: {}", a2.text());
    let wd = Workdir::new(core, true, MAIN_TF);
    wd.write("terraform.tfvars", &base.layer3_tfvars());
    assert_eq!(wd.init().code, 0);
    Stack { base, wd }
}

/// The names of `numbers`' nodes.
fn names(numbers: &[u32]) -> BTreeSet<String> {
    numbers.iter().map(|n| format!("cp-{n}")).collect()
}

/// The cluster's VMs on every Proxmox VE host, as `qm list` shows them: node name → host.
fn vms(rt: &tokio::runtime::Runtime, lab: &Lab) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for h in lab.state().hosts.iter().filter(|h| h.role == "proxmox") {
        for line in ssh_on(rt, lab, &h.name, "qm list").stdout_text().lines() {
            if let Some(vm) = line.split_whitespace().nth(1) {
                if let Some(node) = vm.strip_prefix("freetier-") {
                    out.insert(node.to_string(), h.name.clone());
                }
            }
        }
    }
    out
}

/// The cluster's `cidata` ISOs on every host's `local` storage, by node name.
fn isos(rt: &tokio::runtime::Runtime, lab: &Lab) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for h in lab.state().hosts.iter().filter(|h| h.role == "proxmox") {
        let cmd = format!(
            "pvesh get /nodes/{}/storage/local/content --content iso --output-format json",
            h.name
        );
        let listed: serde_json::Value =
            serde_json::from_str(&ssh_on(rt, lab, &h.name, &cmd).stdout_text()).unwrap_or_default();
        for item in listed.as_array().into_iter().flatten() {
            let volid = item["volid"].as_str().unwrap_or_default();
            if let Some(node) = volid
                .strip_prefix("local:iso/freetier-")
                .and_then(|v| v.strip_suffix("-cidata.iso"))
            {
                out.insert(node.to_string());
            }
        }
    }
    out
}

/// The etcd members' names, as `talosctl etcd members` would show them with the cluster's
/// talosconfig.
fn etcd_members(rt: &tokio::runtime::Runtime, wd: &Workdir) -> BTreeSet<String> {
    let talosconfig = wd.run(&["output", "-raw", "talosconfig"]).stdout;
    let ctx = TalosContext::from_talosconfig(&talosconfig, None).expect("talosconfig");
    rt.block_on(async {
        let client = talos::Client::new(&ctx.endpoints[0], &ctx.credentials).expect("talos client");
        let call = Call::new(
            &tokio_util::sync::CancellationToken::new(),
            std::time::Duration::from_secs(10),
        );
        client
            .etcd_member_list(&call)
            .await
            .expect("etcd members")
            .into_iter()
            .map(|m| m.hostname)
            .collect()
    })
}

/// Each Kubernetes node, and whether it is Ready, as `kubectl get nodes` shows them.
fn kube_nodes(wd: &Workdir) -> Vec<(String, bool)> {
    let kubeconfig = wd.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        wd.run(&["output", "-raw", "kubeconfig"]).stdout,
    )
    .unwrap();
    let out = Command::new(tool("kubectl"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["get", "nodes", "-o", "json"])
        .output()
        .expect("kubectl");
    assert!(
        out.status.success(),
        "kubectl get nodes: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            let ready = n["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            (
                n["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                ready,
            )
        })
        .collect()
}

/// The nodes the state records, by name.
fn state_nodes(wd: &Workdir) -> BTreeSet<String> {
    let values = wd.resource_values(CLUSTER).unwrap_or_default();
    values["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| n["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// What a user sees once an apply of `numbers` converged: the plan is empty, and the VMs,
/// their ISOs, the etcd members, the Kubernetes nodes (every one Ready) and the state's
/// `nodes` are exactly those nodes; the cluster was bootstrapped once, ever.
fn assert_cluster_is(rt: &tokio::runtime::Runtime, s: &Stack, numbers: &[u32]) {
    let want = names(numbers);
    let plan = s.wd.plan();
    assert_eq!(
        plan.code,
        0,
        "plan after the apply is empty: {}",
        plan.text()
    );
    let on_hosts: BTreeSet<String> = vms(rt, s.lab()).into_keys().collect();
    assert_eq!(on_hosts, want, "qm list");
    assert_eq!(isos(rt, s.lab()), want, "cidata ISOs");
    assert_eq!(etcd_members(rt, &s.wd), want, "etcd members");
    let nodes = kube_nodes(&s.wd);
    let listed: BTreeSet<String> = nodes.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(listed, want, "kubectl get nodes");
    assert!(
        nodes.iter().all(|(_, ready)| *ready),
        "all Ready: {nodes:?}"
    );
    assert_eq!(state_nodes(&s.wd), want, "the state's nodes");
    assert_eq!(s.talos_ok(BOOTSTRAP), 1, "one Bootstrap, ever");
}

#[test]
fn nodes_added_join_without_a_bootstrap_and_nodes_removed_leave_etcd_kubernetes_and_proxmox() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for core in cores() {
        eprintln!("[{}] two nodes, three, two, one moved", core.name);
        grow_shrink_and_move(&rt, &core);
    }
}

fn grow_shrink_and_move(rt: &tokio::runtime::Runtime, core: &Core) {
    let s = stack(rt, core);

    s.configure(&[1, 2]);
    let made = s.wd.apply();
    assert_eq!(made.code, 0, "two nodes: {}", made.text());
    assert_cluster_is(rt, &s, &[1, 2]);

    s.configure(&[1, 2, 3]);
    let grown = s.wd.apply();
    assert_eq!(grown.code, 0, "a third node: {}", grown.text());
    assert!(
        grown.text().contains("0 added, 1 changed, 0 destroyed"),
        "an update in place: {}",
        grown.text()
    );
    assert_cluster_is(rt, &s, &[1, 2, 3]);

    // cp-2 goes. It does not answer Talos's API, so its member is removed through a node
    // that stays; and the provider is killed while cp-2's VM is being destroyed.
    s.configure(&[1, 3]);
    s.base
        .talos
        .guests
        .fleet()
        .set_fault(ETCD_LEAVE, Fault::error("connection refused"));
    s.lab()
        .add_fault(FaultRule::hang_nth(VM_DESTROY, 1))
        .expect("fault");
    let (killed, first) = apply_and_kill_while_held(s.lab(), &s.wd);
    assert!(killed >= 1, "a provider process was running");
    assert_ne!(first.code, 0, "the killed apply fails");
    assert_eq!(s.talos_ok(ETCD_REMOVE), 1, "cp-2's member went by its ID");
    assert!(
        !etcd_members(rt, &s.wd).contains("cp-2"),
        "cp-2 left etcd before the kill"
    );
    assert!(
        state_nodes(&s.wd).contains("cp-2"),
        "the state still lists cp-2, so the next apply finishes it"
    );
    s.lab().release_hangs();
    s.lab().clear_faults();
    s.base.talos.guests.fleet().clear_faults();

    let shrunk = s.wd.apply();
    assert_eq!(shrunk.code, 0, "the removal finishes: {}", shrunk.text());
    assert_cluster_is(rt, &s, &[1, 3]);

    // cp-3 moves to the second host: a running VM is never reconfigured, so it is taken out
    // and made again there, under the same name and address.
    let before = vms(rt, s.lab());
    s.configure_moved(&[1, 3], &[(3, 1)]);
    let moved = s.wd.apply();
    assert_eq!(moved.code, 0, "cp-3 moves: {}", moved.text());
    assert_cluster_is(rt, &s, &[1, 3]);
    let after = vms(rt, s.lab());
    assert_eq!(
        (before.get("cp-3"), after.get("cp-3")),
        (Some(&"ampere-1".to_string()), Some(&"ampere-2".to_string())),
        "cp-3's VM is on the second host now"
    );

    let destroy = s.wd.destroy();
    assert_eq!(destroy.code, 0, "destroy: {}", destroy.text());
    assert!(vms(rt, s.lab()).is_empty(), "no VM left");
    rt.block_on(s.base.talos.stop()).unwrap();
}
