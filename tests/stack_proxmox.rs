//! Acceptance: Layer 2 (`terraform/proxmox`, unchanged) forms a Proxmox VE cluster with Ceph on
//! the lab's hosts, on every real Terraform core, from the lab's Layer-1 state and the
//! `proxmox.tfvars` the lab writes.

mod support;

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use freetier::lab::{FaultAction, FaultRule, FaultTrigger, Lab, LabConfig};
use support::*;

/// One lab scenario at a time: the kill test must find only its own provider process.
static SERIAL: Mutex<()> = Mutex::new(());

/// The layer's files, as a user has them.
fn layer_files() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("terraform/proxmox");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("terraform/proxmox")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tf"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

fn workdir(core: &Core, tfvars: &str) -> Workdir {
    let files = layer_files();
    let main = files
        .iter()
        .find(|(n, _)| n == "main.tf")
        .map(|(_, t)| t.clone())
        .unwrap();
    let wd = Workdir::new(core, true, &main);
    for (name, text) in &files {
        wd.write(name, text);
    }
    wd.write("terraform.tfvars", tfvars);
    wd
}

#[test]
fn layer2_forms_the_cluster_on_the_lab_and_plans_empty_after_on_every_core() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut failures = Vec::new();
    for core in cores() {
        // A fresh lab per core: a cluster, once formed, stays formed.
        let dir = tempfile::tempdir().unwrap();
        let lab = rt
            .block_on(Lab::start(LabConfig {
                time_scale: 0.0,
                state_dir: Some(dir.path().to_path_buf()),
                ..LabConfig::always_free()
            }))
            .expect("lab");
        let tfvars = std::fs::read_to_string(dir.path().join("proxmox.tfvars"))
            .expect("the lab writes proxmox.tfvars");
        let wd = workdir(&core, &tfvars);
        let init = wd.init();
        assert_eq!(init.code, 0, "{}", init.text());
        let apply = wd.apply();
        if apply.code != 0 {
            failures.push(format!("[{}] apply: {}", core.name, apply.text()));
            rt.block_on(lab.stop()).unwrap();
            continue;
        }
        let out: serde_json::Value =
            serde_json::from_str(&wd.run(&["output", "-json"]).stdout).unwrap();
        let nodes = out["nodes"]["value"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let joined = nodes.iter().filter(|n| n["joined"] == true).count();
        if joined != 2
            || out["api_token_id"]["value"] != "root@pam!freetier"
            || out["pool"]["value"] != "vmpool"
        {
            failures.push(format!("[{}] unexpected outputs {out}", core.name));
        }
        if out["kvm_available"]["value"] != false {
            failures.push(format!(
                "[{}] the lab's A1 hosts have no /dev/kvm: {out}",
                core.name
            ));
        }
        let plan = wd.plan();
        if plan.code != 0 {
            failures.push(format!(
                "[{}] plan after apply is not empty: {}",
                core.name,
                plan.text()
            ));
        }
        // Drift: ampere-2 is taken out of the cluster behind Terraform's back. The plan shows
        // it, the apply joins it again, and the plan is empty after.
        let out = ssh_on(&rt, &lab, "ampere-1", "pvecm delnode ampere-2");
        assert_eq!(out.code, Some(0), "{out:?}");
        let drift = wd.plan();
        if drift.code != 2 {
            failures.push(format!(
                "[{}] a node that left is no drift: {}",
                core.name,
                drift.text()
            ));
        }
        let heal = wd.apply();
        let rejoined = wd.plan();
        if heal.code != 0 || rejoined.code != 0 {
            failures.push(format!(
                "[{}] the node did not re-join: {}",
                core.name,
                heal.text()
            ));
        }
        let destroy = wd.destroy();
        if destroy.code != 0 || !destroy.text().contains("Proxmox Cluster Left Running") {
            failures.push(format!("[{}] destroy: {}", core.name, destroy.text()));
        }
        // The cluster still runs: import it back by name and first address, apply (which finds
        // every step done and adopts it), and the plan is empty again.
        let first = nodes
            .first()
            .and_then(|n| n["address"].as_str())
            .unwrap_or_default()
            .to_string();
        let import = wd.run(&[
            "import",
            "-no-color",
            "-input=false",
            "freetier_proxmox_cluster.this",
            &format!("freetier@{first}"),
        ]);
        if import.code != 0 {
            failures.push(format!("[{}] import: {}", core.name, import.text()));
        } else {
            let adopt = wd.apply();
            if adopt.code != 0 || adopt.text().contains("pvecm create") {
                failures.push(format!(
                    "[{}] apply after import: {}",
                    core.name,
                    adopt.text()
                ));
            }
            let plan = wd.plan();
            if plan.code != 0 {
                failures.push(format!(
                    "[{}] plan after import and apply is not empty: {}",
                    core.name,
                    plan.text()
                ));
            }
            let trace = lab.trace();
            let creates = trace.iter().filter(|t| t.op == "ssh:pvecm create").count();
            let joins = trace.iter().filter(|t| t.op == "ssh:pvecm add").count();
            // One join when formed, one when healed after the drift; none on adoption.
            if (creates, joins) != (1, 2) {
                failures.push(format!(
                    "[{}] {creates} pvecm create and {joins} pvecm add (want 1 and 2)",
                    core.name
                ));
            }
            // Destroy's other mode: dissolve takes Ceph and the cluster apart.
            wd.write(
                "terraform.tfvars",
                &format!("{tfvars}destroy_mode = \"dissolve\"\n"),
            );
            let mode = wd.apply();
            let destroy = wd.destroy();
            let status = ssh_on(&rt, &lab, "ampere-1", "pvecm status");
            let ceph = ssh_on(&rt, &lab, "ampere-1", "test -e /etc/pve/ceph.conf");
            if mode.code != 0 || destroy.code != 0 || status.code == Some(0) || ceph.code == Some(0)
            {
                failures.push(format!(
                    "[{}] dissolve left the cluster or Ceph: {}\n{}\n{status:?}",
                    core.name,
                    mode.text(),
                    destroy.text()
                ));
            }
        }
        rt.block_on(lab.stop()).unwrap();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn layer2_takes_a_node_out_then_dissolves_the_cluster_on_every_core() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut failures = Vec::new();
    for core in cores() {
        // Three hosts (pay-as-you-go): an odd count, so no QDevice until one leaves.
        let dir = tempfile::tempdir().unwrap();
        let lab = rt
            .block_on(Lab::start(LabConfig {
                time_scale: 0.0,
                state_dir: Some(dir.path().to_path_buf()),
                ..LabConfig::default()
            }))
            .expect("lab");
        // Three hosts share the tier's 200 GB so thinly that no OSD fits on a boot volume's
        // tail (plan says so): this cluster runs without Ceph. The Ceph teardown is the
        // lifecycle test's dissolve.
        let tfvars = format!(
            "{}ceph = false\n",
            std::fs::read_to_string(dir.path().join("proxmox.tfvars")).unwrap()
        );
        let wd = workdir(&core, &tfvars);
        assert_eq!(wd.init().code, 0);
        let apply = wd.apply();
        if apply.code != 0 {
            failures.push(format!("[{}] apply: {}", core.name, apply.text()));
            rt.block_on(lab.stop()).unwrap();
            continue;
        }
        // ampere-3 leaves: its OSD, monitor and manager go, it is separated, and the two that
        // stay take the bastion's QDevice vote.
        wd.write(
            "terraform.tfvars",
            &format!("{tfvars}\nleaving_nodes = [\"ampere-3\"]\n"),
        );
        let leave = wd.apply();
        let out: serde_json::Value =
            serde_json::from_str(&wd.run(&["output", "-json"]).stdout).unwrap_or_default();
        let names: Vec<&str> = out["nodes"]["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["name"].as_str())
            .collect();
        if leave.code != 0 || names != ["ampere-1", "ampere-2"] {
            failures.push(format!(
                "[{}] ampere-3 did not leave ({names:?}): {}",
                core.name,
                leave.text()
            ));
        }
        if !leave.text().contains("Node Left the Cluster") {
            failures.push(format!(
                "[{}] no word that ampere-3 left: {}",
                core.name,
                leave.text()
            ));
        }
        let status = ssh_on(&rt, &lab, "ampere-1", "pvecm status")
            .stdout_text()
            .to_string();
        let alone = ssh_on(&rt, &lab, "ampere-3", "pvecm status");
        if !status.contains("Qdevice") || alone.code == Some(0) {
            failures.push(format!(
                "[{}] after the removal: status {status}\nampere-3 {alone:?}",
                core.name
            ));
        }
        let plan = wd.plan();
        if plan.code != 0 {
            failures.push(format!(
                "[{}] plan after the removal is not empty: {}",
                core.name,
                plan.text()
            ));
        }
        // Dissolve: set the mode (an in-place update), then destroy.
        wd.write(
            "terraform.tfvars",
            &format!("{tfvars}\nleaving_nodes = [\"ampere-3\"]\ndestroy_mode = \"dissolve\"\n"),
        );
        let mode = wd.apply();
        let destroy = wd.destroy();
        if mode.code != 0 || destroy.code != 0 || destroy.text().contains("Left Running") {
            failures.push(format!(
                "[{}] dissolve: {}\n{}",
                core.name,
                mode.text(),
                destroy.text()
            ));
        }
        for host in ["ampere-1", "ampere-2"] {
            let status = ssh_on(&rt, &lab, host, "pvecm status");
            if status.code == Some(0) {
                failures.push(format!(
                    "[{}] {host} is still clustered after dissolve: {status:?}",
                    core.name
                ));
            }
        }
        rt.block_on(lab.stop()).unwrap();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// How many times the lab saw `op` succeed.
fn succeeded(lab: &Lab, op: &str) -> usize {
    lab.trace().iter().filter(|t| t.op == op && t.ok).count()
}

/// Which of a run's processes to signal.
#[derive(Clone, Copy)]
enum Whom {
    /// The provider processes Terraform started for the work dir (their executable lies under
    /// it, or they run in it).
    Provider,
    /// Terraform itself, working in the work dir.
    Terraform,
}

/// Sends `signal` (`-KILL`, `-INT`) to `whom` of `wd`'s run; how many processes got it.
fn signal(wd: &Workdir, whom: Whom, signal: &str) -> usize {
    let mark = wd.path().display().to_string();
    let mut sent = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // Terraform may start the provider by a relative path: the real paths say where.
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        let exe = exe.display().to_string();
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
        let cwd = cwd.display().to_string();
        let provider = exe.contains("terraform-provider-freetier");
        let matches = match whom {
            Whom::Provider => provider && (exe.contains(&mark) || cwd.contains(&mark)),
            Whom::Terraform => !provider && cwd == mark,
        };
        if matches {
            let _ = std::process::Command::new("kill")
                .args([signal, &pid.to_string()])
                .status();
            sent += 1;
        }
    }
    sent
}

/// Applies in the background; once the lab holds a call (a `hang` fault), sends `sig` to
/// `whom`. Returns how many processes got it, the time from the signal to the apply's end,
/// and the apply. When nothing got the signal, the hang is released so the test cannot hang.
fn apply_and_signal_while_held(
    lab: &Lab,
    wd: &Workdir,
    whom: Whom,
    sig: &str,
) -> (usize, Duration, Run) {
    std::thread::scope(|s| {
        let apply = s.spawn(|| {
            let r = wd.apply();
            (Instant::now(), r)
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        while lab.held_calls() == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let sent_at = Instant::now();
        let sent = signal(wd, whom, sig);
        if sent == 0 {
            lab.release_hangs();
        }
        let (ended, r) = apply.join().unwrap();
        (sent, ended.duration_since(sent_at), r)
    })
}

#[test]
fn layer2_resumes_after_faults_without_a_second_create_or_join() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let core = cores().pop().expect("a core");
    let start = |faults: Vec<FaultRule>| {
        let dir = tempfile::tempdir().unwrap();
        let lab = rt
            .block_on(Lab::start(LabConfig {
                time_scale: 0.0,
                state_dir: Some(dir.path().to_path_buf()),
                ..LabConfig::always_free()
            }))
            .expect("lab");
        for f in faults {
            lab.add_fault(f).expect("fault");
        }
        let tfvars = std::fs::read_to_string(dir.path().join("proxmox.tfvars")).unwrap();
        let wd = workdir(&core, &tfvars);
        assert_eq!(wd.init().code, 0);
        (dir, lab, wd)
    };
    let once = |op: &str, action: FaultAction| FaultRule {
        op: op.into(),
        host: None,
        action,
        trigger: FaultTrigger::Nth(1),
    };

    // The connection drops while the second node joins: the apply fails naming the join,
    // and the next one joins it, once.
    let (_d, lab, wd) = start(vec![once("ssh:pvecm add", FaultAction::Drop)]);
    eprintln!("fault test: a dropped join");
    let first = wd.apply();
    assert_ne!(first.code, 0, "the dropped join fails the apply");
    assert!(first.text().contains("join ampere-2"), "{}", first.text());
    let second = wd.apply();
    assert_eq!(second.code, 0, "{}", second.text());
    assert_eq!(wd.plan().code, 0, "converged");
    assert_eq!(
        (
            succeeded(&lab, "ssh:pvecm create"),
            succeeded(&lab, "ssh:pvecm add")
        ),
        (1, 1)
    );
    rt.block_on(lab.stop()).unwrap();

    // `ceph health` fails while Ceph settles: the wait goes on, the apply succeeds.
    let (_d, lab, wd) = start(vec![once(
        "ssh:ceph health",
        FaultAction::Error {
            message: "Error initializing cluster client: ObjectNotFound('RADOS object not found (error calling conf_read_file)')".into(),
            code: Some(1),
        },
    )]);
    eprintln!("fault test: ceph health fails once");
    let apply = wd.apply();
    assert_eq!(apply.code, 0, "{}", apply.text());
    assert_eq!(wd.plan().code, 0, "converged");
    rt.block_on(lab.stop()).unwrap();

    // The provider is killed while a monitor is being created: Terraform records nothing,
    // and the next apply finds the cluster formed and the joins done.
    let (_d, lab, wd) = start(vec![once("ssh:pveceph mon create", FaultAction::Hang)]);
    eprintln!("fault test: the provider is killed");
    let (killed, _, first) = apply_and_signal_while_held(&lab, &wd, Whom::Provider, "-KILL");
    assert!(killed >= 1, "a provider process was running");
    assert_ne!(first.code, 0, "the killed apply fails");
    lab.release_hangs();
    lab.clear_faults();
    let second = wd.apply();
    assert_eq!(second.code, 0, "{}", second.text());
    assert_eq!(wd.plan().code, 0, "converged");
    assert_eq!(
        (
            succeeded(&lab, "ssh:pvecm create"),
            succeeded(&lab, "ssh:pvecm add")
        ),
        (1, 1),
        "no second create, no repeated join"
    );
    rt.block_on(lab.stop()).unwrap();

    // Ctrl-C while a monitor is being created: Terraform sends Stop, the step in flight is
    // cancelled, the apply ends with what was done saved, and the next apply completes.
    eprintln!("fault test: Ctrl-C mid-step");
    let (_d, lab, wd) = start(vec![once("ssh:pveceph mon create", FaultAction::Hang)]);
    let (_, stopped_after, first) = apply_and_signal_while_held(&lab, &wd, Whom::Terraform, "-INT");
    eprintln!(
        "Stop: terraform apply returned {:.0} ms after Ctrl-C, with a step in flight",
        stopped_after.as_secs_f64() * 1000.0
    );
    assert_ne!(first.code, 0, "an interrupted apply fails");
    assert!(stopped_after < Duration::from_secs(10), "{stopped_after:?}");
    lab.release_hangs();
    lab.clear_faults();
    let second = wd.apply();
    assert_eq!(second.code, 0, "{}", second.text());
    assert_eq!(wd.plan().code, 0, "converged");
    assert_eq!(succeeded(&lab, "ssh:pvecm create"), 1);
    rt.block_on(lab.stop()).unwrap();
}

#[test]
fn no_secret_reaches_terraforms_logs_or_output_at_trace_level() {
    // What the run handles: the SSH private key, the lab's root password, the API token's
    // secret. None may appear in Terraform's or the provider's logs at trace level, in plan or
    // apply output, or in the lab's trace.
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let core = cores().pop().expect("a core");
    let dir = tempfile::tempdir().unwrap();
    let lab = rt
        .block_on(Lab::start(LabConfig {
            time_scale: 0.0,
            state_dir: Some(dir.path().to_path_buf()),
            ..LabConfig::always_free()
        }))
        .expect("lab");
    let st = lab.state();
    let tfvars = std::fs::read_to_string(dir.path().join("proxmox.tfvars")).unwrap();
    let wd = workdir(&core, &tfvars);
    assert_eq!(wd.init().code, 0);
    let trace = [
        ("TF_LOG".to_string(), "trace".to_string()),
        ("TF_LOG_PROVIDER".to_string(), "trace".to_string()),
    ];
    let apply = wd.run_with_env(
        wd.path(),
        &["apply", "-no-color", "-input=false", "-auto-approve"],
        &trace,
    );
    assert_eq!(apply.code, 0, "{}", apply.text());
    let plan = wd.run_with_env(wd.path(), &["plan", "-no-color", "-input=false"], &trace);
    let out: serde_json::Value =
        serde_json::from_str(&wd.run(&["output", "-json"]).stdout).unwrap();
    let token = out["api_token_secret"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!token.is_empty(), "the token secret is an output");
    // Pieces long enough to be unmistakable: each line of the key's base64 body.
    let mut secrets: Vec<(String, String)> = st
        .ssh_private_key_openssh
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 20)
        .map(|l| ("ssh private key".to_string(), l.to_string()))
        .collect();
    secrets.push(("api token secret".into(), token));
    if let Some(pw) = st.hosts.iter().find_map(|h| h.api_password.clone()) {
        secrets.push(("root password".into(), pw));
    }
    let lab_trace = serde_json::to_string(&lab.trace()).unwrap();
    let places = [
        ("apply output and logs", apply.text()),
        ("plan output and logs", plan.text()),
        ("the lab's trace", lab_trace),
    ];
    let mut hits = Vec::new();
    for (what, secret) in &secrets {
        for (place, text) in &places {
            if text.contains(secret.as_str()) {
                hits.push(format!("{what} in {place}"));
            }
        }
    }
    assert!(
        apply.text().contains("[TRACE]") && apply.text().contains("proxmox cluster: step done"),
        "trace logs, the provider's included, were captured"
    );
    assert!(hits.is_empty(), "secrets leaked: {hits:?}");
    rt.block_on(lab.stop()).unwrap();
}

/// Layer 2 right after Layer 1, while the hosts' first-boot cloud-init is still installing
/// Proxmox VE: the apply waits for cloud-init (`cloud-init status --wait`) before it checks
/// `pveversion`, and succeeds.
#[test]
fn layer2_waits_for_the_hosts_first_boot() {
    let core = newest_core();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // 300 s of first boot at time scale 0.01: 3 s.
    let lab = rt
        .block_on(Lab::start(LabConfig {
            time_scale: 0.01,
            state_dir: Some(dir.path().to_path_buf()),
            latency_overrides: [("host.first_boot".to_string(), 300.0)]
                .into_iter()
                .collect(),
            ..LabConfig::always_free()
        }))
        .expect("lab");
    let tfvars = std::fs::read_to_string(dir.path().join("proxmox.tfvars")).unwrap();
    let wd = workdir(&core, &tfvars);
    let init = wd.init();
    assert_eq!(init.code, 0, "{}", init.text());
    let apply = wd.apply();
    assert_eq!(apply.code, 0, "{}", apply.text());
    let trace = lab.trace();
    let waits: Vec<_> = trace.iter().filter(|e| e.op == "ssh:cloud-init").collect();
    let ops: std::collections::BTreeSet<&str> = trace.iter().map(|e| e.op.as_str()).collect();
    assert_eq!(waits.len(), 2, "one wait per host: {ops:?}");
    for w in &waits {
        assert!(w.ok && w.end_ms >= 2_900.0, "{w:?}");
    }
    let first_pveversion = trace
        .iter()
        .filter(|e| e.op == "ssh:pveversion" && e.ok)
        .map(|e| e.start_ms)
        .fold(f64::MAX, f64::min);
    assert!(
        first_pveversion >= 2_900.0,
        "pveversion at {first_pveversion} ms"
    );
    rt.block_on(lab.stop()).unwrap();
}
