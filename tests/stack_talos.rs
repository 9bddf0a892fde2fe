//! Acceptance: Layer 3 (`terraform/talos`, unchanged) creates a Talos Kubernetes cluster in VMs
//! on the Proxmox VE cluster Layer 2 formed on the lab, on every real Terraform core: apply,
//! an empty plan, the kubeconfig output used by the real `kubectl`, a VM deleted behind
//! Terraform's back shown as drift and healed, import from the secrets bundle, then destroy;
//! the same with Talos straight on the hosts (`placement = "instances"`); and the SOPS path: a secret
//! encrypted with the real `sops` to the layer's age recipient decrypts with the key the
//! cluster's `sops-age` Secret holds.

mod support;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;

use freetier::lab::talos_guests::TalosLab;
use freetier::lab::{HostOs, LabConfig};
use support::*;

/// Every secret Layers 2 and 3 hand the provider or get from it, named: the API token, the
/// age key, each key and secret of the Talos bundle, the kubeconfig's and talosconfig's keys.
fn layer3_secrets(l2: &Workdir, l3: &Workdir) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let l2v = l2
        .resource_values("freetier_proxmox_cluster.this")
        .unwrap_or_default();
    out.push((
        "the Proxmox API token".to_string(),
        l2v["api_token_secret"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    ));
    let age = l3
        .resource_values("freetier_age_key.sops")
        .unwrap_or_default();
    out.push((
        "the age key".to_string(),
        age["private_key"].as_str().unwrap_or_default().to_string(),
    ));
    let cluster = l3
        .resource_values("freetier_talos_cluster.this")
        .unwrap_or_default();
    // The bundle, the kubeconfig and the talosconfig are YAML; every value under a key named
    // like a secret is one.
    fn walk(v: &serde_json::Value, path: &str, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let here = format!("{path}.{k}");
                    let secret_name = ["key", "secret", "token", "client-key-data"]
                        .iter()
                        .any(|n| k.to_ascii_lowercase().contains(n));
                    match v.as_str() {
                        Some(s) if secret_name && s.len() >= 16 => out.push((here, s.to_string())),
                        _ => walk(v, &here, out),
                    }
                }
            }
            serde_json::Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk(v, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    for field in ["machine_secrets", "kubeconfig", "talosconfig"] {
        let text = cluster[field].as_str().unwrap_or_default();
        let doc: serde_json::Value = serde_norway::from_str(text).unwrap_or_default();
        walk(&doc, field, &mut out);
    }
    out.retain(|(_, s)| s.len() >= 16);
    out
}

#[test]
fn layer3_creates_talos_in_vms_on_layer2_and_kubectl_sees_ready_nodes_on_every_core() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut failures = Vec::new();
    for core in cores() {
        let dir = tempfile::tempdir().unwrap();
        // The lab as `freetier lab up` runs it: VMs booted from a cidata ISO run Talos.
        let talos_lab = rt
            .block_on(TalosLab::start(LabConfig {
                time_scale: 0.0,
                state_dir: Some(dir.path().to_path_buf()),
                ..LabConfig::always_free()
            }))
            .expect("lab");
        let lab = &talos_lab.lab;
        // Layer 2 first, as a user runs it.
        let l2 = Workdir::new(&core, true, "");
        copy_layer(&l2, "proxmox");
        l2.write(
            "terraform.tfvars",
            &std::fs::read_to_string(dir.path().join("proxmox.tfvars")).unwrap(),
        );
        assert_eq!(l2.init().code, 0);
        let a2 = l2.apply();
        if a2.code != 0 {
            failures.push(format!("[{}] layer 2: {}", core.name, a2.text()));
            rt.block_on(talos_lab.stop()).unwrap();
            continue;
        }
        // Layer 3 reads Layer 2's state, with what the lab wrote for it.
        let l3 = Workdir::new(&core, true, "");
        copy_layer(&l3, "talos");
        let tfvars = std::fs::read_to_string(dir.path().join("talos.tfvars"))
            .expect("the lab writes talos.tfvars");
        l3.write(
            "terraform.tfvars",
            &format!(
                "{tfvars}proxmox_state_path = {:?}\ngitops_url = \"https://git.example.invalid/platform.git\"\n",
                l2.path().join("terraform.tfstate").display().to_string()
            ),
        );
        assert_eq!(l3.init().code, 0);
        // Every log at trace, kept beside the module: a failed run's diagnosis, and the haystack
        // the secrets must not be in.
        let log = [
            ("TF_LOG".to_string(), "TRACE".to_string()),
            ("TF_LOG_PROVIDER".to_string(), "TRACE".to_string()),
            (
                "TF_LOG_PATH".to_string(),
                l3.path().join("provider.log").display().to_string(),
            ),
        ];
        let apply = l3.run_with_env(
            l3.path(),
            &["apply", "-no-color", "-input=false", "-auto-approve"],
            &log,
        );
        if apply.code != 0 {
            failures.push(format!("[{}] layer 3 apply: {}", core.name, apply.text()));
            rt.block_on(talos_lab.stop()).unwrap();
            continue;
        }
        let plan = l3.plan();
        if plan.code != 0 {
            failures.push(format!(
                "[{}] plan after apply is not empty: {}",
                core.name,
                plan.text()
            ));
        }
        // No secret the run handled reaches the apply's output or a trace-level log.
        let haystack = format!(
            "{}{}",
            apply.text(),
            std::fs::read_to_string(l3.path().join("provider.log")).unwrap_or_default()
        );
        let secrets = layer3_secrets(&l2, &l3);
        let names: Vec<&str> = secrets.iter().map(|(w, _)| w.as_str()).collect();
        for must in [
            "the Proxmox API token",
            "the age key",
            "machine_secrets.",
            "kubeconfig.",
            "talosconfig.",
        ] {
            if !names.iter().any(|n| n.starts_with(must)) {
                failures.push(format!(
                    "[{}] no {must} among the secrets looked for: {names:?}",
                    core.name
                ));
            }
        }
        for (what, secret) in secrets {
            if haystack.contains(&secret) {
                failures.push(format!(
                    "[{}] {what} is in the output or the trace log",
                    core.name
                ));
            }
        }
        // The kubeconfig output works with the real kubectl.
        let kc = l3.run(&["output", "-raw", "kubeconfig"]).stdout;
        let kc_path = l3.path().join("kubeconfig");
        std::fs::write(&kc_path, &kc).unwrap();
        let out = Command::new(tool("kubectl"))
            .args([
                "--kubeconfig",
                &kc_path.display().to_string(),
                "get",
                "nodes",
            ])
            .output()
            .expect("kubectl");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let ready = text.lines().filter(|l| l.contains(" Ready ")).count();
        if !out.status.success() || ready != 2 {
            failures.push(format!(
                "[{}] kubectl get nodes: {text}{}",
                core.name,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        // SOPS: a secret encrypted with the real sops to the layer's age recipient decrypts
        // with the key the cluster got, and the cluster's sops-age Secret is exactly that key.
        let key = l3
            .resource_values("freetier_age_key.sops")
            .and_then(|v| v["private_key"].as_str().map(str::to_string))
            .unwrap_or_default();
        let recipient = l3.run(&["output", "-raw", "sops_age_public_key"]).stdout;
        let out = Command::new(tool("kubectl"))
            .args([
                "--kubeconfig",
                &kc_path.display().to_string(),
                "get",
                "secret",
                "sops-age",
                "-n",
                "flux-system",
                "-o",
                "jsonpath={.data.age\\.agekey}",
            ])
            .output()
            .expect("kubectl");
        let in_cluster = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(String::from_utf8_lossy(&out.stdout).trim())
                .unwrap_or_default(),
        )
        .unwrap_or_default();
        if key.is_empty() || in_cluster.trim() != key {
            failures.push(format!(
                "[{}] the sops-age Secret does not hold the layer's age key ({} bytes): {}",
                core.name,
                in_cluster.len(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let plain = l3.path().join("secret.yaml");
        std::fs::write(&plain, "password: hunter2\n").unwrap();
        let enc = Command::new(tool("sops"))
            .args(["--encrypt", "--age", recipient.trim()])
            .arg(&plain)
            .output()
            .expect("sops");
        let enc_path = l3.path().join("secret.enc.yaml");
        std::fs::write(&enc_path, &enc.stdout).unwrap();
        let dec = Command::new(tool("sops"))
            .env("SOPS_AGE_KEY", &key)
            .args(["--decrypt"])
            .arg(&enc_path)
            .output()
            .expect("sops");
        if !enc.status.success()
            || String::from_utf8_lossy(&enc.stdout).contains("hunter2")
            || !String::from_utf8_lossy(&dec.stdout).contains("password: hunter2")
        {
            failures.push(format!(
                "[{}] sops round trip: {}{}",
                core.name,
                String::from_utf8_lossy(&enc.stderr),
                String::from_utf8_lossy(&dec.stderr)
            ));
        }
        // Drift: cp-2's VM is destroyed behind Terraform's back; the plan shows it and the
        // apply makes it again.
        let nodes: serde_json::Value =
            serde_json::from_str(&l3.run(&["output", "-json", "nodes"]).stdout).unwrap_or_default();
        let victim = nodes
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["name"] == "cp-2")
            .cloned()
            .unwrap_or_default();
        let host = victim["host"].as_str().unwrap_or("ampere-2").to_string();
        let vmid = victim["vmid"].as_u64().unwrap_or(0);
        let out = ssh_on(
            &rt,
            lab,
            &host,
            &format!(
                "pvesh create /nodes/{host}/qemu/{vmid}/status/stop && pvesh delete /nodes/{host}/qemu/{vmid}"
            ),
        );
        if out.code != Some(0) {
            failures.push(format!("[{}] destroying VM {vmid}: {out:?}", core.name));
        }
        let drift = l3.plan();
        if drift.code != 2 {
            failures.push(format!(
                "[{}] a destroyed VM is no drift: {}",
                core.name,
                drift.text()
            ));
        }
        let heal = l3.apply();
        let after = l3.plan();
        if heal.code != 0 || after.code != 0 {
            failures.push(format!(
                "[{}] the VM was not made again: {}\n{}",
                core.name,
                heal.text(),
                after.text()
            ));
        }
        // Import: the state loses the cluster; its secrets bundle brings it back, and the next
        // apply adopts the same VMs.
        let before = l3.run(&["output", "-json", "nodes"]).stdout;
        let adopted = import_and_adopt(&l3);
        let nodes_after = l3.run(&["output", "-json", "nodes"]).stdout;
        if let Err(e) = adopted {
            failures.push(format!("[{}] {e}", core.name));
        } else if nodes_after != before {
            failures.push(format!(
                "[{}] adopting changed the VMs: {before} became {nodes_after}",
                core.name
            ));
        }
        let destroy = l3.destroy();
        if destroy.code != 0 {
            failures.push(format!("[{}] destroy: {}", core.name, destroy.text()));
        }
        let list = ssh_on(&rt, lab, "ampere-1", "qm list")
            .stdout_text()
            .to_string();
        if list.contains("freetier-cp-") {
            failures.push(format!("[{}] VMs left after destroy: {list}", core.name));
        }
        rt.block_on(talos_lab.stop()).unwrap();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Drops the cluster from Layer 3's state, imports it from its secrets bundle (kept in a
/// file, as a user keeps it), applies, and requires the plan after that to be empty.
fn import_and_adopt(l3: &Workdir) -> Result<(), String> {
    let secrets = l3
        .resource_values("freetier_talos_cluster.this")
        .and_then(|v| v["machine_secrets"].as_str().map(str::to_string))
        .unwrap_or_default();
    let file = l3.path().join("secrets.yaml");
    std::fs::write(&file, &secrets).unwrap();
    let rm = l3.run(&["state", "rm", "-no-color", "freetier_talos_cluster.this"]);
    let import = l3.run(&[
        "import",
        "-no-color",
        "-input=false",
        "freetier_talos_cluster.this",
        &format!("freetier={}", file.display()),
    ]);
    let adopt = l3.apply();
    let after = l3.plan();
    if rm.code != 0 || import.code != 0 || adopt.code != 0 || after.code != 0 {
        return Err(format!(
            "import and adopt: {}\n{}\n{}\n{}",
            rm.text(),
            import.text(),
            adopt.text(),
            after.text()
        ));
    }
    Ok(())
}

/// Talos's apid operations, as the lab's trace names them.
const APPLY_CONFIGURATION: &str = "machine.MachineService/ApplyConfiguration";
const BOOTSTRAP: &str = "machine.MachineService/Bootstrap";

/// Ready nodes `kubectl get nodes` lists through `kubeconfig`, or what went wrong.
fn kubectl_ready_nodes(kubeconfig: &Path) -> Result<usize, String> {
    let out = Command::new(tool("kubectl"))
        .args(["--kubeconfig", &kubeconfig.display().to_string()])
        .args(["get", "nodes"])
        .output()
        .map_err(|e| format!("kubectl: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        return Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(text.lines().filter(|l| l.contains(" Ready ")).count())
}

#[test]
fn layer3_puts_talos_straight_on_hosts_waiting_in_maintenance_mode_on_every_core() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut failures = Vec::new();
    for core in cores() {
        let dir = tempfile::tempdir().unwrap();
        // The lab as `freetier lab up --host-os talos` runs it: the A1 hosts boot Talos with
        // no config and wait in maintenance mode; there is no Layer 2.
        let talos_lab = rt
            .block_on(TalosLab::start(LabConfig {
                time_scale: 0.0,
                state_dir: Some(dir.path().to_path_buf()),
                host_os: HostOs::Talos,
                ..LabConfig::always_free()
            }))
            .expect("lab");
        assert!(
            !dir.path().join("proxmox.tfvars").exists(),
            "a Talos lab offers nothing to Layer 2"
        );
        let fleet = talos_lab.guests.fleet();
        let calls = |op: &str| fleet.trace().iter().filter(|t| t.op == op && t.ok).count();
        let l3 = Workdir::new(&core, true, "");
        copy_layer(&l3, "talos");
        let tfvars = std::fs::read_to_string(dir.path().join("talos.tfvars"))
            .expect("the lab writes talos.tfvars");
        assert!(
            tfvars.contains("placement      = \"instances\""),
            "{tfvars}"
        );
        l3.write("terraform.tfvars", &tfvars);
        assert_eq!(l3.init().code, 0);
        let apply = l3.apply();
        if apply.code != 0 {
            failures.push(format!("[{}] apply: {}", core.name, apply.text()));
            rt.block_on(talos_lab.stop()).unwrap();
            continue;
        }
        let plan = l3.plan();
        if plan.code != 0 {
            failures.push(format!("[{}] plan after apply: {}", core.name, plan.text()));
        }
        // Each host got its config once, in maintenance mode, and one Bootstrap made etcd.
        if (calls(APPLY_CONFIGURATION), calls(BOOTSTRAP)) != (2, 1) {
            failures.push(format!(
                "[{}] {} ApplyConfiguration and {} Bootstrap calls, want 2 and 1",
                core.name,
                calls(APPLY_CONFIGURATION),
                calls(BOOTSTRAP)
            ));
        }
        // The nodes are the hosts themselves, at their own addresses, with no VM.
        let st = talos_lab.lab.state();
        let nodes: serde_json::Value =
            serde_json::from_str(&l3.run(&["output", "-json", "nodes"]).stdout).unwrap_or_default();
        let addresses: Vec<&str> = nodes
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["vmid"] == 0)
            .filter_map(|n| n["address"].as_str())
            .collect();
        let hosts: Vec<&str> = st
            .hosts
            .iter()
            .filter(|h| h.role == "talos")
            .map(|h| h.address.as_str())
            .collect();
        if addresses != hosts {
            failures.push(format!(
                "[{}] nodes at {addresses:?}, hosts at {hosts:?}",
                core.name
            ));
        }
        let kc_path = l3.path().join("kubeconfig");
        std::fs::write(&kc_path, l3.run(&["output", "-raw", "kubeconfig"]).stdout).unwrap();
        match kubectl_ready_nodes(&kc_path) {
            Ok(2) => {}
            other => failures.push(format!("[{}] kubectl get nodes: {other:?}", core.name)),
        }
        // Import: the state loses the cluster; its secrets bring it back, and the next apply
        // adopts the configured hosts without configuring or bootstrapping them again.
        if let Err(e) = import_and_adopt(&l3) {
            failures.push(format!("[{}] {e}", core.name));
        }
        if (calls(APPLY_CONFIGURATION), calls(BOOTSTRAP)) != (2, 1) {
            failures.push(format!(
                "[{}] adopting called ApplyConfiguration {} times and Bootstrap {} times in all",
                core.name,
                calls(APPLY_CONFIGURATION),
                calls(BOOTSTRAP)
            ));
        }
        // Destroy forgets the cluster and says the hosts keep running Talos.
        let destroy = l3.destroy();
        if destroy.code != 0 || !destroy.text().contains("Talos Left Running") {
            failures.push(format!("[{}] destroy: {}", core.name, destroy.text()));
        }
        rt.block_on(talos_lab.stop()).unwrap();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
