//! Acceptance: the lab stands in for Layer 1. A root module reads the lab's `oci.tfstate`
//! through `terraform_remote_state`, unchanged from how it would read terraform/oci, and the
//! freetier checks pass on it, on every core.

mod support;

use freetier::lab::talos_guests::TalosLab;
use freetier::lab::LabConfig;
use support::*;

#[test]
fn examples_lab_applies_against_the_labs_layer1_on_every_core() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lab = rt
        .block_on(TalosLab::start(LabConfig {
            time_scale: 0.0,
            state_dir: Some(dir.path().to_path_buf()),
            ..LabConfig::always_free()
        }))
        .expect("lab");
    let state = dir.path().join("oci.tfstate");
    std::fs::write(
        &state,
        serde_json::to_vec_pretty(&lab.lab.tfstate()).unwrap(),
    )
    .unwrap();
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/lab/main.tf"))
            .unwrap();
    let mut failures = Vec::new();
    for core in cores() {
        let wd = Workdir::new(&core, true, &example);
        wd.write(
            "terraform.tfvars",
            &format!("oci_state_path = {:?}\n", state.display().to_string()),
        );
        assert_eq!(wd.init().code, 0);
        let apply = wd.apply();
        if apply.code != 0 {
            failures.push(format!("[{}] {}", core.name, apply.text()));
            continue;
        }
        let out: serde_json::Value =
            serde_json::from_str(&wd.run(&["output", "-json"]).stdout).unwrap();
        if out["free"]["value"] != true || out["hosts"]["value"].as_array().map(Vec::len) != Some(2)
        {
            failures.push(format!("[{}] unexpected outputs {out}", core.name));
        }
        if wd.plan().code != 0 {
            failures.push(format!("[{}] plan after apply is not empty", core.name));
        }
        assert_eq!(wd.destroy().code, 0);
    }
    rt.block_on(lab.stop()).unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
