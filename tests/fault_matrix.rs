//! The fault matrix: every operation Layers 2 and 3 perform against the lab, hit by each fault
//! the lab offers and by a provider kill, then re-applied. Each cell checks what a user relies
//! on: the re-apply converges and plans empty, nothing is made twice (cluster members, OSDs,
//! VMs, Bootstrap), and the state keeps everything that exists.
//!
//! The operations are not listed by hand: a clean run of both layers is traced first, and
//! every SSH command class, Proxmox VE API call class, Talos API method and Kubernetes API
//! verb it used becomes a row. Columns:
//!
//! - `error`: the first call fails (SSH exit 1, HTTP 500, gRPC UNAVAILABLE);
//! - `drop`: the first call's connection closes without an answer;
//! - `reboot`: the host (or Talos node) serving the first call reboots;
//! - `hang`: the first call is held for 2 s, then answered (lab hosts; Talos holds a call
//!   until its node stops, which the `kill` column covers);
//! - `kill`: the first call is held and the provider is SIGKILLed meanwhile.
//!
//! Without `FREETIER_FAULT_MATRIX=full` a smoke set of cells runs (CI); `scripts/fault-matrix`
//! runs the whole matrix. One core (the newest found) and a lab at time scale 0.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use freetier::lab::talos::Fault;
use freetier::lab::{FaultAction, FaultRule, FaultTrigger, Lab, LabConfig};
use support::*;

/// The faults, in column order.
const FAULTS: [&str; 5] = ["error", "drop", "reboot", "hang", "kill"];

/// Cells the smoke run covers: one per fault, across both layers and all three APIs.
const SMOKE: &[(Layer, &str, &str)] = &[
    (Layer::Proxmox, "ssh:pvecm add", "error"),
    (Layer::Proxmox, "ssh:ceph-volume lvm create", "kill"),
    (Layer::Talos, "api:POST /nodes/{node}/qemu", "drop"),
    (
        Layer::Talos,
        "api:POST /nodes/{node}/storage/{storage}/upload",
        "hang",
    ),
    (Layer::Talos, "machine.MachineService/Bootstrap", "reboot"),
    (Layer::Talos, "machine.MachineService/Kubeconfig", "kill"),
    (Layer::Talos, "kube.list", "error"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    Proxmox,
    Talos,
}

impl Layer {
    fn name(self) -> &'static str {
        match self {
            Layer::Proxmox => "L2",
            Layer::Talos => "L3",
        }
    }
}

/// The work dir of `layer` in `s`.
fn workdir(s: &LabStack, layer: Layer) -> &Workdir {
    match layer {
        Layer::Proxmox => &s.l2,
        Layer::Talos => &s.l3,
    }
}

fn stack(rt: &tokio::runtime::Runtime, core: &Core) -> LabStack {
    LabStack::start(
        rt,
        core,
        LabConfig {
            time_scale: 0.0,
            ..LabConfig::always_free()
        },
    )
}

/// Talos and Kubernetes operations are the fleet's; the rest are the lab hosts'.
fn is_talos_op(op: &str) -> bool {
    op.starts_with("machine.") || op.starts_with("kube.")
}

/// Every operation class each layer's clean apply used, in order of first use.
fn census(rt: &tokio::runtime::Runtime, core: &Core) -> Vec<(Layer, String)> {
    let s = stack(rt, core);
    let mut rows = Vec::new();
    let mut seen = BTreeSet::new();
    let mut take = |layer: Layer, ops: Vec<String>| {
        for op in ops {
            if seen.insert((layer, op.clone())) {
                rows.push((layer, op));
            }
        }
    };
    let host_ops = |lab: &Lab, from: usize| -> Vec<String> {
        lab.trace()[from..]
            .iter()
            .filter(|t| t.op.starts_with("ssh:") || t.op.starts_with("api:"))
            .map(|t| t.op.clone())
            .collect()
    };
    let before = s.lab().trace().len();
    let a2 = s.l2.apply();
    assert_eq!(a2.code, 0, "census, layer 2: {}", a2.text());
    take(Layer::Proxmox, host_ops(s.lab(), before));
    let before = s.lab().trace().len();
    let a3 = s.l3.apply();
    assert_eq!(a3.code, 0, "census, layer 3: {}", a3.text());
    let mut l3_ops = host_ops(s.lab(), before);
    l3_ops.extend(
        s.talos
            .guests
            .fleet()
            .trace()
            .into_iter()
            .map(|t| t.op)
            .filter(|op| is_talos_op(op)),
    );
    take(Layer::Talos, l3_ops);
    s.stop(rt);
    rows
}

/// Arms `fault` on the first call of `op`.
fn arm(s: &LabStack, op: &str, fault: &str) {
    if is_talos_op(op) {
        let f = match fault {
            "error" => Fault::error("injected by the fault matrix"),
            "drop" => Fault::drop_connection(),
            "reboot" => Fault::reboot(),
            _ => Fault::hang(),
        };
        s.talos.guests.fleet().set_fault(op, f.on_call(1));
        return;
    }
    let action = match fault {
        "error" => FaultAction::Error {
            message: "injected by the fault matrix".into(),
            code: None,
        },
        "drop" => FaultAction::Drop,
        "reboot" => FaultAction::Reboot,
        _ => FaultAction::Hang,
    };
    s.lab()
        .add_fault(FaultRule {
            op: op.into(),
            host: None,
            action,
            trigger: FaultTrigger::Nth(1),
        })
        .expect("fault rule");
}

fn clear(s: &LabStack) {
    s.lab().release_hangs();
    s.lab().clear_faults();
    s.talos.guests.fleet().clear_faults();
}

/// Whether the first call of `op` has started (and, with a hang, is being held).
fn reached(s: &LabStack, op: &str) -> bool {
    if is_talos_op(op) {
        s.talos.guests.fleet().calls(op) >= 1
    } else {
        s.lab().held_calls() >= 1
    }
}

/// The faulted apply. A hang is answered after 2 s; a kill SIGKILLs the provider while the
/// call is held. Returns whether the fault was reached.
fn faulted_apply(s: &LabStack, layer: Layer, op: &str, fault: &str) -> Result<bool, String> {
    let wd = workdir(s, layer);
    if !matches!(fault, "hang" | "kill") {
        wd.apply();
        let called = if is_talos_op(op) {
            s.talos.guests.fleet().calls(op) >= 1
        } else {
            s.lab().trace().iter().any(|t| t.op == op)
        };
        return Ok(called);
    }
    std::thread::scope(|sc| {
        let apply = sc.spawn(|| wd.apply());
        let deadline = Instant::now() + Duration::from_secs(120);
        while !reached(s, op) && Instant::now() < deadline && !apply.is_finished() {
            std::thread::sleep(Duration::from_millis(20));
        }
        let hit = reached(s, op);
        let mut killed = 0;
        if hit {
            // Let the call settle into its hold.
            std::thread::sleep(Duration::from_millis(if fault == "hang" {
                2000
            } else {
                200
            }));
            if fault == "kill" {
                killed = signal_provider(wd, "-KILL");
            }
        }
        if fault == "hang" || !hit || killed == 0 {
            s.lab().release_hangs();
        }
        // The killed or held apply's own result says nothing: the re-apply is what counts.
        let _ = apply.join();
        if hit && fault == "kill" && killed == 0 {
            return Err("no provider process was running to kill".into());
        }
        Ok(hit)
    })
}

/// What the checks found: problems, each a sentence.
fn check(rt: &tokio::runtime::Runtime, s: &LabStack, layer: Layer) -> Vec<String> {
    let mut problems = Vec::new();
    for l in [Layer::Proxmox, Layer::Talos] {
        if l > layer {
            break;
        }
        let wd = workdir(s, l);
        let again = wd.apply();
        if again.code != 0 {
            problems.push(format!(
                "{} re-apply failed: {}",
                l.name(),
                tail(&again.text())
            ));
            return problems;
        }
        let plan = wd.plan();
        if plan.code != 0 {
            problems.push(format!(
                "{} plan after re-apply not empty: {}",
                l.name(),
                tail(&plan.text())
            ));
        }
    }
    let hosts: Vec<String> = s
        .lab()
        .state()
        .hosts
        .into_iter()
        .filter(|h| h.role == "proxmox")
        .map(|h| h.name)
        .collect();
    // Cluster members: each host once.
    let members = ssh_on(rt, s.lab(), &hosts[0], "pvecm nodes")
        .stdout_text()
        .to_string();
    for h in &hosts {
        let n = members
            .lines()
            .filter(|l| {
                l.split_whitespace()
                    .any(|w| w == h || w == format!("{h} (local)"))
            })
            .count();
        if n != 1 {
            problems.push(format!("{h} is listed {n} times by pvecm nodes"));
        }
    }
    // OSDs: one per host at most, as the layout has room for.
    let osds = ssh_on(rt, s.lab(), &hosts[0], "ceph osd ls")
        .stdout_text()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    if osds > hosts.len() {
        problems.push(format!("{osds} OSDs on {} hosts", hosts.len()));
    }
    // The Proxmox cluster is in Layer 2's state.
    if s.l2
        .resource_values("freetier_proxmox_cluster.this")
        .is_none()
    {
        problems.push("the Proxmox cluster is not in Layer 2's state".into());
    }
    if layer == Layer::Talos {
        // VMs: one per node, each the state's.
        let mut on_hosts = Vec::new();
        for h in &hosts {
            for line in ssh_on(rt, s.lab(), h, "qm list").stdout_text().lines() {
                let cols: Vec<&str> = line.split_whitespace().collect();
                if cols.len() > 1 && cols[1].starts_with("freetier-cp-") {
                    on_hosts.push((h.clone(), cols[0].parse::<u64>().unwrap_or(0)));
                }
            }
        }
        on_hosts.sort();
        let values =
            s.l3.resource_values("freetier_talos_cluster.this")
                .unwrap_or_default();
        let mut in_state: Vec<(String, u64)> = values["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| {
                (
                    n["host"].as_str().unwrap_or_default().to_string(),
                    n["vmid"].as_u64().unwrap_or_default(),
                )
            })
            .collect();
        in_state.sort();
        if on_hosts.len() != hosts.len() {
            problems.push(format!(
                "{} cluster VMs on {} hosts: {on_hosts:?}",
                on_hosts.len(),
                hosts.len()
            ));
        }
        if in_state != on_hosts {
            problems.push(format!(
                "the state records {in_state:?}, the hosts run {on_hosts:?}"
            ));
        }
        let bootstraps = s
            .talos
            .guests
            .fleet()
            .trace()
            .iter()
            .filter(|t| t.op == "machine.MachineService/Bootstrap" && t.ok)
            .count();
        if bootstraps != 1 {
            problems.push(format!("{bootstraps} Bootstraps ran"));
        }
    }
    problems
}

/// The last lines of a Terraform output, for a cell's report.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(6)..].join(" | ")
}

/// Runs one cell on a fresh stack: Layer 2 applied first when the fault is in Layer 3.
fn cell(rt: &tokio::runtime::Runtime, core: &Core, layer: Layer, op: &str, fault: &str) -> Outcome {
    let s = stack(rt, core);
    if layer == Layer::Talos {
        let a2 = s.l2.apply();
        assert_eq!(a2.code, 0, "layer 2 before the fault: {}", a2.text());
    }
    arm(&s, op, fault);
    let (hit, mut problems) = match faulted_apply(&s, layer, op, fault) {
        Ok(hit) => (hit, Vec::new()),
        Err(e) => (true, vec![e]),
    };
    clear(&s);
    if hit {
        problems.extend(check(rt, &s, layer));
    }
    s.stop(rt);
    if !hit {
        Outcome::NotReached
    } else if problems.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail(problems)
    }
}

#[derive(Debug)]
enum Outcome {
    Pass,
    NotReached,
    Fail(Vec<String>),
}

#[test]
fn every_step_survives_every_fault_and_a_kill() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let core = newest_core();
    let mode = std::env::var("FREETIER_FAULT_MATRIX").unwrap_or_default();
    let full = mode == "full";
    let started = Instant::now();
    if mode == "census" {
        for (layer, op) in census(&rt, &core) {
            println!("{} {op}", layer.name());
        }
        return;
    }
    let cells: Vec<(Layer, String, &str)> = if full {
        let rows = census(&rt, &core);
        rows.into_iter()
            .flat_map(|(layer, op)| FAULTS.iter().map(move |f| (layer, op.clone(), *f)))
            // A Talos call is held until its node stops: `kill` covers holding it.
            .filter(|(_, op, f)| !(is_talos_op(op) && *f == "hang"))
            .collect()
    } else {
        SMOKE
            .iter()
            .map(|(l, op, f)| (*l, op.to_string(), *f))
            .collect()
    };
    let mut table: BTreeMap<(Layer, String), BTreeMap<&str, String>> = BTreeMap::new();
    let mut failures = Vec::new();
    let (mut passed, mut not_reached) = (0, 0);
    for (layer, op, fault) in &cells {
        let outcome = cell(&rt, &core, *layer, op, fault);
        let mark = match &outcome {
            Outcome::Pass => {
                passed += 1;
                "pass".to_string()
            }
            Outcome::NotReached => {
                not_reached += 1;
                "-".to_string()
            }
            Outcome::Fail(p) => {
                failures.push(format!("{} {op} × {fault}: {}", layer.name(), p.join("; ")));
                "FAIL".to_string()
            }
        };
        eprintln!("{} {op} × {fault}: {mark}", layer.name());
        table
            .entry((*layer, op.clone()))
            .or_default()
            .insert(fault, mark);
    }
    // The matrix, as a table.
    println!(
        "\nfault matrix ({}, {} cells, {:.0} s on {}):",
        if full { "full" } else { "smoke" },
        cells.len(),
        started.elapsed().as_secs_f64(),
        core.name
    );
    println!(
        "{:<4} {:<58} {}",
        "",
        "operation",
        FAULTS.map(|f| format!("{f:<7}")).join("")
    );
    for ((layer, op), row) in &table {
        let marks: String = FAULTS
            .iter()
            .map(|f| format!("{:<7}", row.get(f).map(String::as_str).unwrap_or(".")))
            .collect();
        println!("{:<4} {:<58} {marks}", layer.name(), op);
    }
    println!(
        "{passed} passed, {} failed, {not_reached} not reached (the fault's call never came)",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(passed > 0, "no cell ran");
}
