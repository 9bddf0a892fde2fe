//! Acceptance: Layer 2 (`terraform/proxmox`, unchanged) forms a Proxmox VE cluster with Ceph on
//! the lab's hosts, on every real Terraform core, from the lab's Layer-1 state and the
//! `proxmox.tfvars` the lab writes.

mod support;

use std::path::Path;

use freetier::lab::{Lab, LabConfig};
use support::*;

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
            if (creates, joins) != (1, 1) {
                failures.push(format!(
                    "[{}] {creates} pvecm create and {joins} pvecm add for a 2-node cluster formed once",
                    core.name
                ));
            }
        }
        rt.block_on(lab.stop()).unwrap();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
