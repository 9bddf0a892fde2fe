//! The demo's path as a test, on the newest core: the lab (at a compressed time scale, with a
//! custom image in Layer 1's state), Layers 2 and 3 applied unchanged with the provider's step
//! records logged, kubectl through the kubeconfig output, `freetier validate` all green, the
//! timeline drawn and opened in headless chromium (its screenshot kept in
//! `target/test-output/demo/`), then each failure `freetier validate` must catch, injected
//! through the lab and named by its row: a custom image over 20 GB, month-to-date spend of
//! $0.01, a Kubernetes node NotReady, a Ceph OSD down.

mod support;

use std::path::Path;
use std::process::Command;

use freetier::lab::LabConfig;
use support::*;

/// `freetier validate --format json` against the three layers' states: exit code and rows
/// as (row, status).
fn validate(lab_dir: &Path, l2: &Workdir, l3: &Workdir) -> (i32, Vec<(String, String)>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_freetier"))
        .arg("validate")
        .arg("--lab")
        .arg(lab_dir)
        .arg("--oci-state")
        .arg(lab_dir.join("oci.tfstate"))
        .arg("--proxmox-state")
        .arg(l2.path().join("terraform.tfstate"))
        .arg("--talos-state")
        .arg(l3.path().join("terraform.tfstate"))
        .args(["--format", "json"])
        .output()
        .expect("freetier validate runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let rows = json["rows"]
        .as_array()
        .or_else(|| json.as_array())
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["row"].as_str().unwrap_or_default().to_string(),
                r["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    (out.status.code().unwrap_or(-1), rows, text)
}

fn status_of<'a>(rows: &'a [(String, String)], row: &str) -> &'a str {
    rows.iter()
        .find(|(r, _)| r == row)
        .map(|(_, s)| s.as_str())
        .unwrap_or("missing")
}

#[test]
fn the_demo_path_deploys_validates_draws_and_validate_names_each_injected_failure() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let core = newest_core();
    let stack = LabStack::start(
        &rt,
        &core,
        LabConfig {
            time_scale: 0.02,
            custom_image_gb: Some(12),
            ..LabConfig::always_free()
        },
    );
    let (lab, l2, l3, dir) = (stack.lab(), &stack.l2, &stack.l3, &stack.dir);
    let log = dir.path().join("apply.log");
    let env = [
        ("TF_LOG_PROVIDER".to_string(), "info".to_string()),
        ("TF_LOG_PATH".to_string(), log.display().to_string()),
    ];
    // Layers 2 and 3, unchanged, as the demo applies them.
    let apply = ["apply", "-no-color", "-input=false", "-auto-approve"];
    let a2 = l2.run_with_env(l2.path(), &apply, &env);
    assert_eq!(a2.code, 0, "layer 2: {}", a2.text());
    let a3 = l3.run_with_env(l3.path(), &apply, &env);
    assert_eq!(a3.code, 0, "layer 3: {}", a3.text());
    // The lab's side of the deployment, before anything else asks it questions.
    let applied = lab.trace();

    // kubectl through the kubeconfig output.
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        l3.run(&["output", "-raw", "kubeconfig"]).stdout,
    )
    .unwrap();
    let nodes = Command::new(tool("kubectl"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["get", "nodes"])
        .output()
        .expect("kubectl");
    let listed = String::from_utf8_lossy(&nodes.stdout).to_string();
    assert_eq!(listed.matches(" Ready ").count(), 2, "{listed}");

    // Everything deployed passes, the 12 GB custom image included.
    let (code, rows, text) = validate(dir.path(), l2, l3);
    assert_eq!(code, 0, "validate on the deployed lab: {text}");
    for row in [
        "images",
        "allocation",
        "limits",
        "proxmox_quorum",
        "ceph_health",
        "talos_etcd",
        "kubernetes_nodes",
        "cost",
        "budget",
    ] {
        assert_eq!(status_of(&rows, row), "pass", "{row}: {text}");
    }

    // The timeline of the run, drawn and opened in a real browser; its screenshot is kept.
    let out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-output/demo");
    std::fs::create_dir_all(&out_dir).unwrap();
    let trace = dir.path().join("trace.json");
    std::fs::write(&trace, serde_json::to_string(&applied).unwrap()).unwrap();
    let drawn = Command::new(env!("CARGO_BIN_EXE_freetier"))
        .arg("timeline")
        .arg("--out")
        .arg(out_dir.join("timeline"))
        .arg("--lab-trace")
        .arg(&trace)
        .arg(&log)
        .output()
        .expect("freetier timeline");
    assert!(
        drawn.status.success(),
        "{}",
        String::from_utf8_lossy(&drawn.stderr)
    );
    let page = out_dir.join("timeline.html");
    let shot = out_dir.join("timeline.png");
    let _ = std::fs::remove_file(&shot);
    let browser = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1300,1400",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("chromium").display()
        ))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium (scripts/install-tools.sh installs it)");
    let browser_log = String::from_utf8_lossy(&browser.stderr).to_string();
    assert!(browser.status.success(), "{browser_log}");
    assert!(
        !browser_log.contains("CONSOLE") && !browser_log.contains("Uncaught"),
        "{browser_log}"
    );
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    eprintln!("timeline screenshot: {}", shot.display());

    // Each failure, injected through the lab, fails validate and names its row.
    lab.set_custom_image_gb(Some(25)).unwrap();
    let (code, rows, text) = validate(dir.path(), l2, l3);
    assert_eq!(
        (code, status_of(&rows, "images")),
        (1, "fail"),
        "a 25 GB image: {text}"
    );
    lab.set_custom_image_gb(Some(12)).unwrap();

    lab.set_oci_spend(0.01);
    let (code, rows, text) = validate(dir.path(), l2, l3);
    assert_eq!(
        (code, status_of(&rows, "cost")),
        (1, "fail"),
        "$0.01 spent: {text}"
    );
    lab.set_oci_spend(0.0);

    // cp-2's VM stops: its kubelet stops posting, so the node is NotReady.
    let values = l3
        .resource_values("freetier_talos_cluster.this")
        .unwrap_or_default();
    let victim = values["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["name"] == "cp-2")
        .cloned()
        .unwrap_or_default();
    let (host, vmid) = (
        victim["host"].as_str().unwrap_or("ampere-2").to_string(),
        victim["vmid"].as_u64().unwrap_or(0),
    );
    let stop = ssh_on(
        &rt,
        lab,
        &host,
        &format!("pvesh create /nodes/{host}/qemu/{vmid}/status/stop"),
    );
    assert_eq!(stop.code, Some(0), "{stop:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (code, rows, text) = loop {
        let v = validate(dir.path(), l2, l3);
        if status_of(&v.1, "kubernetes_nodes") == "fail" || std::time::Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert_eq!(
        (code, status_of(&rows, "kubernetes_nodes")),
        (1, "fail"),
        "a node NotReady: {text}"
    );
    assert!(text.contains("cp-2"), "the row names the node: {text}");

    // An OSD stops: Ceph reports OSD_DOWN once its heartbeats are missed.
    let osds = ssh_on(&rt, lab, "ampere-1", "ceph osd ls")
        .stdout_text()
        .to_string();
    let first = osds.lines().next().unwrap_or("0").trim().to_string();
    let stopped = ["ampere-1", "ampere-2"]
        .iter()
        .map(|h| ssh_on(&rt, lab, h, &format!("systemctl stop ceph-osd@{first}")))
        .filter(|o| o.code == Some(0))
        .count();
    assert!(stopped >= 1, "osd.{first} stopped on its host");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (code, rows, text) = loop {
        let v = validate(dir.path(), l2, l3);
        if status_of(&v.1, "ceph_health") == "fail" || std::time::Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert_eq!(
        (code, status_of(&rows, "ceph_health")),
        (1, "fail"),
        "an OSD down: {text}"
    );
    assert!(
        text.contains("OSD_DOWN"),
        "the row says which check: {text}"
    );
    stack.stop(&rt);
}
