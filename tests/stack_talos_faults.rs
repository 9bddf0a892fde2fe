//! Acceptance: Layer 3 (`terraform/talos`, unchanged) survives what goes wrong while it makes a
//! cluster on the lab: a Bootstrap refused while the node is not ready, a dropped Kubeconfig
//! stream, and a provider killed mid-create. Each ends with a re-apply that converges with no
//! second VM, and a state that keeps what was made. Then a cluster dropped from state is
//! imported from its secrets bundle; a destroy before it is applied again refuses, saying why
//! and what to do; and the apply adopts it: no new VM, no second Bootstrap.
//!
//! One core (the newest found) and a lab at `time_scale` 0 keep the file fast; one scenario
//! runs at a time, so the kill finds only its own provider.

mod support;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use freetier::lab::talos::Fault;
use freetier::lab::{FaultRule, Lab, LabConfig};
use support::*;

/// One lab scenario at a time: the kill must find only its own provider process.
static SERIAL: Mutex<()> = Mutex::new(());

/// The Proxmox VE API call that makes a VM.
const VM_CREATE: &str = "api:POST /nodes/{node}/qemu";
/// The Proxmox VE API call that starts a VM.
const VM_START: &str = "api:POST /nodes/{node}/qemu/{vmid}/status/start";
/// Talos's Bootstrap and Kubeconfig calls.
const BOOTSTRAP: &str = "machine.MachineService/Bootstrap";
const KUBECONFIG: &str = "machine.MachineService/Kubeconfig";
/// The resource under test.
const CLUSTER: &str = "freetier_talos_cluster.this";

/// A lab with Layer 2 applied, and Layer 3 initialised over it, as a user has them.
fn stack(rt: &tokio::runtime::Runtime, core: &Core) -> LabStack {
    let s = LabStack::start(
        rt,
        core,
        LabConfig {
            time_scale: 0.0,
            ..LabConfig::always_free()
        },
    );
    let a2 = s.l2.apply();
    assert_eq!(a2.code, 0, "layer 2: {}", a2.text());
    s
}

/// The lab's Proxmox VE hosts (the bastion runs none).
fn proxmox_hosts(lab: &Lab) -> Vec<String> {
    lab.state()
        .hosts
        .into_iter()
        .filter(|h| h.role == "proxmox")
        .map(|h| h.name)
        .collect()
}

/// Every cluster VM on every host, as `qm list` shows them: (host, VM id, name).
fn cluster_vms(rt: &tokio::runtime::Runtime, lab: &Lab) -> Vec<(String, u64, String)> {
    let mut vms = Vec::new();
    for host in proxmox_hosts(lab) {
        for line in ssh_on(rt, lab, &host, "qm list").stdout_text().lines() {
            let mut cols = line.split_whitespace();
            let (Some(id), Some(name)) = (cols.next(), cols.next()) else {
                continue;
            };
            if let (Ok(id), true) = (id.parse(), name.starts_with("freetier-cp-")) {
                vms.push((host.clone(), id, name.to_string()));
            }
        }
    }
    vms.sort();
    vms
}

/// The VMs the state records: (host, VM id, name), named as on Proxmox VE.
fn state_vms(wd: &Workdir) -> Vec<(String, u64, String)> {
    let values = wd.resource_values(CLUSTER).unwrap_or_default();
    let mut vms: Vec<(String, u64, String)> = values["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            (
                n["host"].as_str().unwrap_or_default().to_string(),
                n["vmid"].as_u64().unwrap_or_default(),
                format!("freetier-{}", n["name"].as_str().unwrap_or_default()),
            )
        })
        .collect();
    vms.sort();
    vms
}

/// How many VMs the Proxmox VE API made.
fn vm_creates(lab: &Lab) -> usize {
    lab.trace()
        .iter()
        .filter(|t| t.op == VM_CREATE && t.ok)
        .count()
}

/// How many calls of a Talos operation succeeded and failed.
fn talos_calls(stack: &LabStack, op: &str) -> (usize, usize) {
    let trace = stack.talos.guests.fleet().trace();
    let ok = trace.iter().filter(|t| t.op == op && t.ok).count();
    let failed = trace.iter().filter(|t| t.op == op && !t.ok).count();
    (ok, failed)
}

/// The end every scenario shares: the re-apply succeeded, the plan after it is empty, one VM
/// per host was made once, and the state records exactly the VMs on the hosts.
fn assert_converged_with_one_vm_each(rt: &tokio::runtime::Runtime, s: &LabStack, again: &Run) {
    assert_eq!(again.code, 0, "the re-apply converges: {}", again.text());
    let plan = s.l3.plan();
    assert_eq!(plan.code, 0, "plan after the re-apply: {}", plan.text());
    let hosts = proxmox_hosts(s.lab()).len();
    assert_eq!(vm_creates(s.lab()), hosts, "one VM made per host, once");
    let on_hosts = cluster_vms(rt, s.lab());
    assert_eq!(on_hosts.len(), hosts, "qm list: {on_hosts:?}");
    assert_eq!(state_vms(&s.l3), on_hosts, "the state keeps what was made");
}

fn report(fault: &str, first: &Run, again: &Run, lab: &Lab) {
    eprintln!(
        "fault: {fault}; first apply exit {}, re-apply exit {}, VM creates {}",
        first.code,
        again.code,
        vm_creates(lab)
    );
}

#[test]
fn a_bootstrap_refused_while_the_node_is_not_ready_is_retried_and_makes_no_second_vm() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = stack(&rt, &newest_core());
    // The first Bootstrap is refused as Talos refuses it before its services are up; the
    // provider waits and asks again.
    s.talos.guests.fleet().set_fault(
        BOOTSTRAP,
        Fault::error("bootstrap is not available yet").on_call(1),
    );
    let first = s.l3.apply();
    assert_eq!(
        first.code,
        0,
        "a refused Bootstrap is retried: {}",
        first.text()
    );
    assert_eq!(
        talos_calls(&s, BOOTSTRAP),
        (1, 1),
        "one refused Bootstrap, then one that ran"
    );
    let again = s.l3.apply();
    report("Bootstrap refused once", &first, &again, s.lab());
    assert_converged_with_one_vm_each(&rt, &s, &again);
    assert_eq!(talos_calls(&s, BOOTSTRAP).0, 1, "no second Bootstrap");
    rt.block_on(s.talos.stop()).unwrap();
}

#[test]
fn a_dropped_kubeconfig_stream_is_fetched_again_without_a_second_vm_or_bootstrap() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = stack(&rt, &newest_core());
    s.talos
        .guests
        .fleet()
        .set_fault(KUBECONFIG, Fault::drop_connection().on_call(1));
    let first = s.l3.apply();
    let again = s.l3.apply();
    report("Kubeconfig stream dropped once", &first, &again, s.lab());
    assert_eq!(talos_calls(&s, KUBECONFIG).1, 1, "the fault fired");
    assert_converged_with_one_vm_each(&rt, &s, &again);
    assert_eq!(talos_calls(&s, BOOTSTRAP).0, 1, "no second Bootstrap");
    let kubeconfig = s.l3.run(&["output", "-raw", "kubeconfig"]);
    assert!(
        kubeconfig.stdout.contains("clusters:"),
        "the kubeconfig is in state: {}",
        kubeconfig.text()
    );
    rt.block_on(s.talos.stop()).unwrap();
}

#[test]
fn a_provider_killed_mid_create_leaves_vms_the_next_apply_finds_by_name() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = stack(&rt, &newest_core());
    // The first VM's start is held: that VM and its ISO exist (the other host's too, as hosts
    // work at once), and Terraform never hears of them. The next apply finds the VMs by name
    // and boots them with the state's secrets.
    s.lab()
        .add_fault(FaultRule::hang_nth(VM_START, 1))
        .expect("fault");
    let (killed, first) = apply_and_kill_while_held(s.lab(), &s.l3);
    assert!(killed >= 1, "a provider process was running");
    assert_ne!(first.code, 0, "the killed apply fails");
    let left = cluster_vms(&rt, s.lab());
    let hosts = proxmox_hosts(s.lab()).len();
    assert!(
        (1..=hosts).contains(&left.len()),
        "the killed create left at most one VM per host: {left:?}"
    );
    assert!(
        state_vms(&s.l3).is_empty(),
        "and Terraform never heard of it"
    );
    s.lab().release_hangs();
    s.lab().clear_faults();
    let again = s.l3.apply();
    report("provider SIGKILLed mid-create", &first, &again, s.lab());
    assert_converged_with_one_vm_each(&rt, &s, &again);
    rt.block_on(s.talos.stop()).unwrap();
}

#[test]
fn a_provider_killed_after_the_vms_booted_resumes_with_the_secrets_the_state_kept() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = stack(&rt, &newest_core());
    // Bootstrap hangs: both VMs run Talos with this cluster's secrets when the provider dies.
    // The secrets came from freetier_talos_secrets, saved before any machine booted, so the
    // next apply talks to the same machines with the same certificates.
    s.talos
        .guests
        .fleet()
        .set_fault(BOOTSTRAP, Fault::hang().on_call(1));
    let first = std::thread::scope(|sc| {
        let apply = sc.spawn(|| s.l3.apply());
        let deadline = Instant::now() + Duration::from_secs(60);
        let started = || {
            s.lab()
                .trace()
                .iter()
                .filter(|t| t.op == VM_START && t.ok)
                .count()
        };
        while started() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // The health gate is now waiting on the held Bootstrap.
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            signal_provider(&s.l3, "-KILL") >= 1,
            "a provider process was running"
        );
        apply.join().unwrap()
    });
    assert_ne!(first.code, 0, "the killed apply fails");
    s.talos.guests.fleet().clear_faults();
    let again = s.l3.apply();
    report(
        "provider SIGKILLed in the health gate",
        &first,
        &again,
        s.lab(),
    );
    assert_converged_with_one_vm_each(&rt, &s, &again);
    rt.block_on(s.talos.stop()).unwrap();
}

#[test]
fn an_imported_cluster_refuses_a_blind_destroy_and_is_adopted_without_a_new_vm_or_bootstrap() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = stack(&rt, &newest_core());
    let apply = s.l3.apply();
    assert_eq!(apply.code, 0, "{}", apply.text());
    let made = state_vms(&s.l3);
    let secrets = s.l3.resource_values(CLUSTER).unwrap_or_default()["machine_secrets"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(secrets.contains("certs:"), "the secrets bundle is in state");
    // The state loses the cluster; its secrets bundle, kept apart, brings it back.
    let rm = s.l3.run(&["state", "rm", "-no-color", CLUSTER]);
    assert_eq!(rm.code, 0, "{}", rm.text());
    let file = s.l3.path().join("secrets.yaml");
    std::fs::write(&file, &secrets).unwrap();
    let import = s.l3.run(&[
        "import",
        "-no-color",
        "-input=false",
        CLUSTER,
        &format!("freetier={}", file.display()),
    ]);
    assert_eq!(import.code, 0, "{}", import.text());
    // A destroy before the adopting apply cannot know where the VMs run: it says so, and
    // what to do, and keeps the cluster in state and its VMs running.
    let early = s.l3.destroy();
    assert_ne!(early.code, 0, "nothing to destroy by: {}", early.text());
    for says in [
        "Imported Cluster Not Applied Yet",
        "not where its VMs run",
        "terraform apply once",
        "terraform state rm",
    ] {
        assert!(early.text().contains(says), "{says:?} in: {}", early.text());
    }
    assert!(
        !early.text().contains("panic"),
        "no crash: {}",
        early.text()
    );
    assert!(
        s.l3.resource_values(CLUSTER).is_some(),
        "the imported cluster stays in state"
    );
    assert_eq!(
        cluster_vms(&rt, s.lab()).len(),
        made.len(),
        "the VMs still run"
    );
    let adopt = s.l3.apply();
    eprintln!(
        "import: import exit {}, adopting apply exit {}, VM creates {}, Bootstraps {}",
        import.code,
        adopt.code,
        vm_creates(s.lab()),
        talos_calls(&s, BOOTSTRAP).0
    );
    assert_eq!(adopt.code, 0, "{}", adopt.text());
    assert!(
        !adopt.text().contains("must be replaced"),
        "adopted in place: {}",
        adopt.text()
    );
    assert_eq!(vm_creates(s.lab()), made.len(), "adopting makes no new VM");
    assert_eq!(talos_calls(&s, BOOTSTRAP).0, 1, "no second Bootstrap");
    assert_eq!(state_vms(&s.l3), made, "the state holds the same VMs");
    let plan = s.l3.plan();
    assert_eq!(plan.code, 0, "plan after adopting: {}", plan.text());
    rt.block_on(s.talos.stop()).unwrap();
}
