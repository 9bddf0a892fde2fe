//! `freetier validate` against a deployed lab stack: the lab (Layer 1's state and its OCI
//! endpoint), Layer 2 (`terraform/proxmox`) and Layer 3 (`terraform/talos`) applied with a real
//! Terraform core. Every row passes on the deployed stack (images: the nodes' Debian image, read
//! from the lab's Compute API); reported spend fails the cost row and the exit code; a missing Layer 3, an
//! unreadable state, an unreachable endpoint and a wrong API key make rows "not checked" with
//! the reason (OCI's 401 for the key), and nothing crashes; no secret reaches the output; and
//! `task validate` runs the same matrix.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

use freetier::lab::talos_guests::TalosLab;
use freetier::lab::{FaultAction, FaultRule, FaultTrigger, LabConfig};
use support::*;

/// What one `freetier validate` run printed, and its rows by name.
struct Validated {
    code: i32,
    stdout: String,
    stderr: String,
    rows: Vec<Value>,
}

impl Validated {
    fn row(&self, name: &str) -> &Value {
        self.rows
            .iter()
            .find(|r| r["row"] == name)
            .unwrap_or_else(|| panic!("no row {name}: {}", self.stdout))
    }

    fn status(&self, name: &str) -> &str {
        self.row(name)["status"].as_str().unwrap_or_default()
    }

    fn reason(&self, name: &str) -> &str {
        self.row(name)["reason"].as_str().unwrap_or_default()
    }
}

fn freetier(args: &[&str]) -> Validated {
    let out = Command::new(env!("CARGO_BIN_EXE_freetier"))
        .arg("validate")
        .args(args)
        .stdin(Stdio::null())
        .env_remove("OCI_CLI_CONFIG_FILE")
        .env_remove("OCI_CLI_PROFILE")
        .output()
        .expect("freetier runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let rows = serde_json::from_str::<Value>(&stdout)
        .ok()
        .and_then(|v| v["rows"].as_array().cloned())
        .unwrap_or_default();
    Validated {
        code: out.status.code().unwrap_or(-1),
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        rows,
    }
}

/// A lab with Layers 2 and 3 applied on the newest core: (lab, lab dir, Layer 2, Layer 3).
fn deployed(rt: &tokio::runtime::Runtime) -> (TalosLab, tempfile::TempDir, Workdir, Workdir) {
    let core = newest_core();
    let dir = tempfile::tempdir().unwrap();
    let lab = rt
        .block_on(TalosLab::start(LabConfig {
            time_scale: 0.0,
            state_dir: Some(dir.path().to_path_buf()),
            ..LabConfig::always_free()
        }))
        .expect("lab");
    let l2 = Workdir::new(&core, true, "");
    copy_layer(&l2, "proxmox");
    l2.write(
        "terraform.tfvars",
        &std::fs::read_to_string(dir.path().join("proxmox.tfvars")).unwrap(),
    );
    assert_eq!(l2.init().code, 0);
    let a2 = l2.apply();
    assert_eq!(a2.code, 0, "[{}] layer 2: {}", core.name, a2.text());
    let l3 = Workdir::new(&core, true, "");
    copy_layer(&l3, "talos");
    let tfvars = std::fs::read_to_string(dir.path().join("talos.tfvars")).unwrap();
    l3.write(
        "terraform.tfvars",
        &format!(
            "{tfvars}proxmox_state_path = {:?}\ngitops_url = \"https://git.example.invalid/platform.git\"\n",
            l2.path().join("terraform.tfstate").display().to_string()
        ),
    );
    assert_eq!(l3.init().code, 0);
    let a3 = l3.apply();
    assert_eq!(a3.code, 0, "[{}] layer 3: {}", core.name, a3.text());
    (lab, dir, l2, l3)
}

/// Every secret the states hold that validate reads: none may be printed.
fn secrets(l2: &Workdir, l3: &Workdir, lab_dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let l2s: Value = serde_json::from_str(
        &std::fs::read_to_string(l2.path().join("terraform.tfstate")).unwrap(),
    )
    .unwrap();
    out.push(
        l2s["outputs"]["api_token_secret"]["value"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    );
    let l3s: Value = serde_json::from_str(
        &std::fs::read_to_string(l3.path().join("terraform.tfstate")).unwrap(),
    )
    .unwrap();
    for name in ["kubeconfig", "talosconfig"] {
        let text = l3s["outputs"][name]["value"].as_str().unwrap_or_default();
        // Every long base64 line or value in the YAML (certificates, keys, tokens).
        for word in text.split(|c: char| c.is_whitespace() || c == '"') {
            if word.len() >= 40 {
                out.push(word.to_string());
            }
        }
    }
    let key = std::fs::read_to_string(lab_dir.join("oci/oci_api_key.pem")).unwrap();
    out.extend(
        key.lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::to_string),
    );
    out.retain(|s| s.len() >= 16);
    assert!(out.len() > 10, "secrets found: {}", out.len());
    out
}

fn task_binary() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/task");
    assert!(
        p.exists(),
        "go-task is not installed at {}: run scripts/install-tools.sh",
        p.display()
    );
    p
}

#[test]
fn validate_runs_the_matrix_against_a_deployed_lab_stack() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t0 = Instant::now();
    let (talos_lab, dir, l2, l3) = deployed(&rt);
    let deploy_secs = t0.elapsed().as_secs_f64();
    let lab_dir = dir.path().display().to_string();
    let l2_state = l2.path().join("terraform.tfstate").display().to_string();
    let l3_state = l3.path().join("terraform.tfstate").display().to_string();
    let base = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "--lab",
            &lab_dir,
            "--proxmox-state",
            &l2_state,
            "--talos-state",
            &l3_state,
            "--format",
            "json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |extra: &[&str]| {
        let args = base(extra);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        freetier(&refs)
    };

    // 1. Deployed: every row passes; images reads the nodes' image from the Compute API.
    let t1 = Instant::now();
    let ok = run(&[]);
    let validate_secs = t1.elapsed().as_secs_f64();
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    assert_eq!(ok.rows.len(), 9, "{}", ok.stdout);
    for r in &ok.rows {
        assert_eq!(r["status"], "pass", "{r}");
    }
    assert_eq!(
        ok.reason("images"),
        "node image freetier-debian-12-arm64: AVAILABLE, 2 GB (at most 20), bootable on \
         VM.Standard.A1.Flex; custom images: 1 in use, 24 more allowed (Limits API)"
    );
    assert!(
        ok.reason("cost").contains("0.00 USD"),
        "{}",
        ok.reason("cost")
    );
    assert!(
        ok.reason("limits").contains("2 OCPU of 2"),
        "{}",
        ok.reason("limits")
    );
    assert!(
        ok.reason("budget").contains("0.01"),
        "{}",
        ok.reason("budget")
    );
    assert!(ok.reason("allocation").contains("tier always_free"));
    // No secret reaches the output, in JSON or in text.
    let text = freetier(
        &{
            let mut a = base(&[]);
            a.truncate(6);
            a
        }
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    );
    assert_eq!(text.code, 0, "{}", text.stdout);
    assert!(
        text.stdout
            .starts_with("freetier validate: 9 pass, 0 fail, 0 not checked"),
        "{}",
        text.stdout
    );
    for s in secrets(&l2, &l3, dir.path()) {
        for (what, out) in [
            ("json", &ok.stdout),
            ("text", &text.stdout),
            ("stderr", &ok.stderr),
        ] {
            assert!(!out.contains(&s), "a secret is in the {what} output");
        }
    }

    // 2. Spend reported: the cost row fails, and so does the run.
    talos_lab.lab.set_oci_spend(1.25);
    let spent = run(&[]);
    assert_eq!(spent.code, 1, "{}", spent.stdout);
    assert_eq!(spent.status("cost"), "fail");
    assert!(
        spent.reason("cost").contains("1.25 USD"),
        "{}",
        spent.reason("cost")
    );
    assert_eq!(
        spent.status("budget"),
        "pass",
        "the alert rule still exists"
    );
    talos_lab.lab.set_oci_spend(0.0);

    // 3. Layer 3 missing: its rows are not checked, and say why; the run does not fail.
    let no_l3 = run(&["--talos-state", "/nonexistent/talos/terraform.tfstate"]);
    assert_eq!(no_l3.code, 0, "{}", no_l3.stdout);
    for row in ["talos_etcd", "kubernetes_nodes"] {
        assert_eq!(no_l3.status(row), "not_checked");
        assert!(
            no_l3
                .reason(row)
                .starts_with("Layer 3's state /nonexistent/talos/terraform.tfstate does not exist"),
            "{}",
            no_l3.reason(row)
        );
    }
    assert_eq!(no_l3.status("proxmox_quorum"), "pass");

    // 4. A wrong API key (a key OCI does not know, with its own fingerprint): OCI's 401.
    let wrong = tempfile::tempdir().unwrap();
    let lab_cfg = std::fs::read_to_string(dir.path().join("oci/config")).unwrap();
    let other_key = wrong.path().join("other.pem");
    let gen = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&other_key)
        .output()
        .expect("openssl runs");
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let pubder = Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&other_key)
        .output()
        .expect("openssl pkey");
    let md5 = Command::new("openssl")
        .args(["md5", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(&pubder.stdout)?;
            c.wait_with_output()
        })
        .expect("openssl md5");
    let fingerprint = String::from_utf8_lossy(&md5.stdout)
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let cfg: String = lab_cfg
        .lines()
        .map(|l| {
            if l.starts_with("fingerprint=") {
                format!("fingerprint={fingerprint}")
            } else if l.starts_with("key_file=") {
                format!("key_file={}", other_key.display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let wrong_cfg = wrong.path().join("config");
    std::fs::write(&wrong_cfg, cfg).unwrap();
    let bad_key = run(&["--oci-config", wrong_cfg.to_str().unwrap()]);
    assert_eq!(bad_key.code, 0, "{}", bad_key.stdout);
    for row in ["images", "limits", "cost", "budget"] {
        assert_eq!(bad_key.status(row), "not_checked", "{row}");
        assert!(
            bad_key.reason(row).contains(
                "401 NotAuthenticated: The required information to complete authentication was not provided or was incorrect."
            ),
            "{row}: {}",
            bad_key.reason(row)
        );
    }
    assert_eq!(bad_key.status("allocation"), "pass");

    // A node image the tenancy does not have (deleted since Layer 1 was applied): images fails
    // and says what to do.
    let state = std::fs::read_to_string(dir.path().join("oci.tfstate")).unwrap();
    let gone = "ocid1.image.oc1.iad.aaaaaaaadeletedsincelayeroneapplied";
    assert!(
        state.contains("\"node_image_id\""),
        "Layer 1's state names its image"
    );
    let moved = wrong.path().join("oci.tfstate");
    std::fs::write(
        &moved,
        state.replace(
            "ocid1.image.oc1.iad.aaaaaaaalabnodeimagedebian12arm64",
            gone,
        ),
    )
    .unwrap();
    let missing = run(&["--oci-state", moved.to_str().unwrap()]);
    assert_eq!(missing.code, 1, "{}", missing.stdout);
    assert_eq!(missing.status("images"), "fail");
    assert!(
        missing
            .reason("images")
            .contains(&format!("boot {gone}, which the tenancy does not have"))
            && missing.reason("images").contains("task build:images"),
        "{}",
        missing.reason("images")
    );

    // 5. Endpoints that do not answer, and a state that is not one: not checked, no crash.
    let garbage = wrong.path().join("garbage.tfstate");
    std::fs::write(&garbage, "{ not json").unwrap();
    talos_lab
        .lab
        .add_fault(FaultRule {
            op: "api:GET /cluster/status".into(),
            host: None,
            action: FaultAction::Drop,
            trigger: FaultTrigger::Always,
        })
        .unwrap();
    let broken = run(&["--oci-endpoint", "https://127.0.0.1:1"]);
    assert_eq!(broken.code, 0, "{}", broken.stdout);
    assert_eq!(broken.status("proxmox_quorum"), "not_checked");
    assert!(
        broken.reason("proxmox_quorum").contains("cannot reach"),
        "{}",
        broken.reason("proxmox_quorum")
    );
    for row in ["limits", "cost", "budget"] {
        assert_eq!(broken.status(row), "not_checked");
        assert!(
            broken
                .reason(row)
                .contains("cannot reach https://127.0.0.1:1"),
            "{}",
            broken.reason(row)
        );
    }
    talos_lab.lab.clear_faults();
    let unreadable = run(&["--proxmox-state", garbage.to_str().unwrap()]);
    assert_eq!(unreadable.code, 0);
    for row in ["proxmox_quorum", "ceph_health"] {
        assert!(
            unreadable
                .reason(row)
                .contains("is not a Terraform state file"),
            "{}",
            unreadable.reason(row)
        );
    }

    // 6. `task validate` runs the same matrix after the offline checks (an empty stack here,
    //    so those are skipped), and fails with it.
    let empty = tempfile::tempdir().unwrap();
    let task = |envs: &[(&str, &str)]| {
        let mut cmd = Command::new(task_binary());
        cmd.args([
            "--taskfile",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("Taskfile.yml")
                .to_str()
                .unwrap(),
            "validate",
            &format!("STACK={}", empty.path().display()),
            "--",
        ])
        .args(base(&[]).iter().take(6))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .env("NO_COLOR", "1")
        .env("FREETIER", env!("CARGO_BIN_EXE_freetier"))
        .env_remove("TOFU");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output().expect("go-task runs")
    };
    let t = task(&[]);
    let out = String::from_utf8_lossy(&t.stdout).into_owned();
    assert!(
        t.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&t.stderr)
    );
    assert!(out.contains("no .tf files yet"), "{out}");
    assert!(
        out.contains("freetier validate: 9 pass, 0 fail, 0 not checked"),
        "{out}"
    );
    talos_lab.lab.set_oci_spend(0.5);
    let t = task(&[]);
    assert!(!t.status.success(), "spend fails the task");
    talos_lab.lab.set_oci_spend(0.0);

    eprintln!(
        "timings: lab + layers 2 and 3 applied in {deploy_secs:.1} s; one validate run {validate_secs:.2} s"
    );
    rt.block_on(talos_lab.stop()).unwrap();
}
