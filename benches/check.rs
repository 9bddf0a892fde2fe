//! Benchmark of `freetier check` (issue 3). Prints numbers; it is not a test.
//!
//! 1. `freetier check --plan` on a generated 1,000-resource plan JSON, against OPA/Rego (regorus,
//!    through `benches/check_rego.py`) evaluating the same always_free totals on the same file,
//!    in the same run. Goal: at least 10× faster.
//!    - in-process: freetier reads, parses, checks and renders the JSON report; regorus is
//!      timed twice, evaluation alone (input already loaded) and load + evaluation.
//!    - whole process: start to exit of one `freetier check --plan` against one Python process
//!      that imports regorus, compiles the policy, loads the plan and evaluates.
//! 2. `freetier check` on every layer under `terraform/` (goal: at most 20 ms each).
//!
//! Run with `scripts/bench-check.sh` (release build). The whole-process freetier figure uses
//! `target/release/freetier check` once that binary dispatches to `check`, else this bench
//! re-executing itself into `freetier::check::run` (the same code behind a thin main).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{json, Value};

const RESOURCES: usize = 1000;
const RUNS: usize = 30;
const CHILD: &str = "FREETIER_CHECK_BENCH_CHILD";

fn main() {
    // Child mode: behave as `freetier check ARGS` for the whole-process timing.
    if std::env::var_os(CHILD).is_some() {
        let args: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| a != "--bench")
            .collect();
        let code = freetier::check::run(&args, &mut std::io::sink(), &mut std::io::stderr());
        std::process::exit(code);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tmp = root.join("target/bench-tmp");
    std::fs::create_dir_all(&tmp).expect("target/bench-tmp");
    let plan = tmp.join("plan-1000.json");
    let (plan_json, allocation) = generate(RESOURCES);
    std::fs::write(&plan, serde_json::to_string(&plan_json).unwrap()).unwrap();
    let size_kb = std::fs::metadata(&plan)
        .map(|m| m.len() / 1024)
        .unwrap_or(0);
    println!("freetier check benchmark ({RUNS} runs each, medians)");
    println!(
        "plan: {} ({RESOURCES} resources, {size_kb} KiB)",
        plan.display()
    );
    println!();

    // ---- freetier, in-process -----------------------------------------------------------
    let p = plan.display().to_string();
    let args: Vec<String> = ["--plan", &p, "--format", "json"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut report = Vec::new();
    let code = freetier::check::run(&args, &mut report, &mut std::io::sink());
    let report: Value = serde_json::from_slice(&report).expect("a JSON report");
    let mut ours: Vec<String> = report["violations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["severity"] == "error" && v["check"] == "resources")
        .filter_map(|v| v["rule"].as_str().map(str::to_owned))
        .collect();
    ours.sort();
    ours.dedup();
    let ours_ms = median(RUNS, || {
        let mut out = Vec::new();
        freetier::check::run(&args, &mut out, &mut std::io::sink());
    });

    // Where freetier's time goes: reading the file and scanning its JSON (serde, nothing
    // built), and the check without rendering the report.
    let scan_ms = median(RUNS, || {
        let text = std::fs::read_to_string(&plan).unwrap();
        let _: serde::de::IgnoredAny = serde_json::from_str(&text).unwrap();
    });
    let opts = freetier::check::Options {
        plan: Some(plan.clone()),
        ..Default::default()
    };
    let check_ms = median(RUNS, || {
        let _ = freetier::check::check(&opts);
    });
    // The rulebook alone on the same resources already in memory: the peer of regorus's
    // rule evaluation on input already loaded.
    let rules_ms = median(RUNS, || {
        let _ = freetier::rules::check(freetier::rules::Tier::AlwaysFree, &allocation);
    });
    let spawn_ms = median(RUNS.min(20), || {
        Command::new("true").output().expect("true");
    });

    // ---- regorus, in-process --------------------------------------------------------------
    let python = root.join(".tools/venv-tools/bin/python");
    let script = root.join("benches/check_rego.py");
    let rego = Command::new(&python)
        .arg(&script)
        .args(["bench", &p, &RUNS.to_string()])
        .output();
    let rego: Option<Value> = match rego {
        Ok(o) if o.status.success() => serde_json::from_slice(&o.stdout).ok(),
        Ok(o) => {
            println!(
                "regorus peer failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            None
        }
        Err(e) => {
            println!(
                "regorus peer not run ({}: {e}); install it with scripts/install-tools.sh",
                python.display()
            );
            None
        }
    };

    println!("1. freetier check --plan vs regorus (Rego), the same file, the same totals");
    println!("   freetier exit {code}; errors found: {}", ours.join(", "));
    println!(
        "   in-process (read + parse + check + JSON report)      {:>9.3} ms",
        ours_ms
    );
    println!("     of which: read + JSON scan alone {scan_ms:.3} ms; read + parse + check, no report {check_ms:.3} ms");
    if let Some(r) = &rego {
        let eval = r["eval_ms"].as_f64().unwrap_or(f64::NAN);
        let load_eval = r["load_eval_ms"].as_f64().unwrap_or(f64::NAN);
        let mut theirs: Vec<String> = r["violations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| {
                v.as_str()
                    .and_then(|s| s.split(':').next())
                    .map(str::to_owned)
            })
            .collect();
        theirs.sort();
        println!(
            "   regorus: load input + evaluate                       {:>9.3} ms",
            load_eval
        );
        println!(
            "   ratio, end to end in-process (regorus load + evaluate / freetier)   {:>6.1}x",
            load_eval / ours_ms
        );
        println!();
        println!("   evaluation only, the data already in memory:");
        println!(
            "   freetier: the rulebook on the {RESOURCES} resources      {:>9.3} ms",
            rules_ms
        );
        println!(
            "   regorus: rule evaluation (input loaded)              {:>9.3} ms",
            eval
        );
        println!(
            "   ratio, evaluation only (regorus / freetier)          {:>9.1}x",
            eval / rules_ms
        );
        println!(
            "   (regorus evaluation alone against all of freetier's in-process work: {:.1}x)",
            eval / ours_ms
        );
        let same = theirs == ours;
        println!(
            "   regorus errors: {}  ({})",
            theirs.join(", "),
            if same {
                "the same rules"
            } else {
                "DIFFERENT rules"
            }
        );
    }

    // ---- whole process --------------------------------------------------------------------
    let bin = root.join("target/release/freetier");
    let real_bin = Command::new(&bin)
        .args(["check", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("Usage: freetier check"))
        .unwrap_or(false);
    let ours_proc = median(RUNS.min(20), || {
        let status = if real_bin {
            Command::new(&bin)
                .args(["check", "--plan", &p, "--format", "json"])
                .output()
        } else {
            Command::new(std::env::current_exe().unwrap())
                .env(CHILD, "1")
                .args(["--plan", &p, "--format", "json"])
                .output()
        };
        status.expect("freetier check process");
    });
    let which = if real_bin {
        "target/release/freetier check"
    } else {
        "this bench re-executed into freetier::check::run (the freetier binary does not dispatch `check` yet)"
    };
    println!();
    println!("   whole process, freetier ({which}); spawning /bin/true alone takes {spawn_ms:.3} ms here");
    println!(
        "                                                         {:>9.3} ms",
        ours_proc
    );
    if rego.is_some() {
        let theirs_proc = median(RUNS.min(10), || {
            Command::new(&python)
                .arg(&script)
                .args(["once", &p])
                .output()
                .expect("python");
        });
        println!("   whole process, python + regorus (start, import, compile, load, evaluate)");
        println!(
            "                                                         {:>9.3} ms",
            theirs_proc
        );
        println!(
            "   ratio, whole process                                 {:>9.1}x",
            theirs_proc / ours_proc
        );
    }

    // ---- the terraform/ layers ------------------------------------------------------------
    println!();
    println!("2. freetier check on the layers of terraform/ (goal: at most 20 ms each)");
    let layers: Vec<PathBuf> = std::fs::read_dir(root.join("terraform"))
        .map(|rd| {
            let mut v: Vec<PathBuf> = rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect();
            v.sort();
            v
        })
        .unwrap_or_default();
    if layers.is_empty() {
        println!("   no terraform/ layers yet");
    }
    let expected = ["oci", "proxmox", "talos"];
    let present: Vec<String> = layers
        .iter()
        .filter_map(|l| l.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let missing: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|e| !present.iter().any(|p| p == e))
        .collect();
    if !missing.is_empty() {
        println!(
            "   only {} exist(s) yet; not timed: {}",
            present.join(", "),
            missing.join(", ")
        );
    }
    for layer in &layers {
        let l = layer.display().to_string();
        for tier in ["always_free", "pay_as_you_go"] {
            let args: Vec<String> = [l.as_str(), "--tier", tier]
                .iter()
                .map(|s| s.to_string())
                .collect();
            let mut out = Vec::new();
            let code = freetier::check::run(&args, &mut out, &mut std::io::sink());
            let ms = median(RUNS, || {
                freetier::check::run(&args, &mut std::io::sink(), &mut std::io::sink());
            });
            let proc_ms = median(RUNS.min(20), || {
                let mut c = if real_bin {
                    Command::new(&bin)
                } else {
                    Command::new(std::env::current_exe().unwrap())
                };
                if real_bin {
                    c.arg("check");
                } else {
                    c.env(CHILD, "1");
                }
                c.args([l.as_str(), "--tier", tier])
                    .output()
                    .expect("freetier check process");
            });
            let name = rel(layer, &root);
            println!("   {name:<16} {tier:<14} exit {code}   in-process {ms:>7.3} ms   whole process {proc_ms:>7.3} ms   {}", if proc_ms <= 20.0 { "within 20 ms" } else { "OVER 20 ms" });
        }
    }
}

fn rel(p: &Path, root: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

// The median wall time of `runs` calls, in milliseconds, after one warm-up call.
fn median(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    times[times.len() / 2]
}

// A `terraform show -json` plan (format 1.2) with `n` resources: mostly the OCI types the free
// tier limits, a tenth of them other types, spread over the root and ten child modules, each in
// planned_values and in resource_changes as a real plan has them.
fn generate(n: usize) -> (Value, freetier::rules::Allocation) {
    use freetier::rules::{self, Allocation, BlockVolume, Counted, LoadBalancer, ObjectStorage};
    let mut a = Allocation {
        budget_alerts: Some(Vec::new()),
        ..Allocation::default()
    };
    let kinds = [
        "a1",
        "a1",
        "micro",
        "volume",
        "volume",
        "public_ip",
        "public_ip",
        "vcn",
        "nat",
        "sgw",
        "lb",
        "nlb",
        "backup",
        "subnet",
        "bucket",
    ];
    let mut root = Vec::new();
    let mut children: Vec<Vec<Value>> = vec![Vec::new(); 10];
    let mut changes = Vec::new();
    for i in 0..n {
        let kind = kinds[i % kinds.len()];
        let module = if i % 3 == 0 { None } else { Some(i % 10) };
        let (ty, values) = match kind {
            "a1" => (
                "oci_core_instance",
                json!({"shape": "VM.Standard.A1.Flex", "display_name": format!("node-{i}"), "shape_config": [{"ocpus": 1, "memory_in_gbs": 6}], "source_details": [{"source_type": "image", "source_id": "ocid1.image.oc1..x", "boot_volume_size_in_gbs": null}], "metadata": {"user_data": "I2Nsb3VkLWNvbmZpZw=="}}),
            ),
            "micro" => (
                "oci_core_instance",
                json!({"shape": "VM.Standard.E2.1.Micro", "display_name": format!("micro-{i}"), "shape_config": [], "source_details": [{"source_type": "image", "source_id": "ocid1.image.oc1..x", "boot_volume_size_in_gbs": 50}]}),
            ),
            "volume" => (
                "oci_core_volume",
                json!({"display_name": format!("vol-{i}"), "size_in_gbs": 50, "vpus_per_gb": 10}),
            ),
            "public_ip" => (
                "oci_core_public_ip",
                json!({"lifetime": if i % 2 == 0 { "RESERVED" } else { "EPHEMERAL" }, "compartment_id": "ocid1.compartment.oc1..x"}),
            ),
            "vcn" => (
                "oci_core_vcn",
                json!({"cidr_blocks": ["10.0.0.0/16"], "display_name": format!("vcn-{i}")}),
            ),
            "nat" => (
                "oci_core_nat_gateway",
                json!({"display_name": format!("nat-{i}")}),
            ),
            "sgw" => (
                "oci_core_service_gateway",
                json!({"display_name": format!("sgw-{i}"), "services": [{"service_id": "ocid1.service.oc1..x"}]}),
            ),
            "lb" => (
                "oci_load_balancer_load_balancer",
                json!({"shape": "flexible", "shape_details": [{"minimum_bandwidth_in_mbps": 10, "maximum_bandwidth_in_mbps": 10}]}),
            ),
            "nlb" => (
                "oci_network_load_balancer_network_load_balancer",
                json!({"display_name": format!("nlb-{i}")}),
            ),
            "backup" => (
                "oci_core_volume_backup",
                json!({"display_name": format!("backup-{i}"), "type": "INCREMENTAL"}),
            ),
            "bucket" => (
                "oci_objectstorage_bucket",
                json!({"name": format!("bucket-{i}"), "namespace": "ns"}),
            ),
            _ => (
                "oci_core_subnet",
                json!({"cidr_block": "10.0.0.0/24", "display_name": format!("subnet-{i}")}),
            ),
        };
        let label = Some(format!("{ty}.r{i}"));
        match kind {
            "a1" => a.instances.push(rules::Instance {
                label,
                ..rules::Instance::a1(1.0, 6.0)
            }),
            "micro" => a.instances.push(rules::Instance {
                label,
                ..rules::Instance::micro().boot_gb(50.0)
            }),
            "volume" => a.block_volumes.push(BlockVolume {
                label,
                ..BlockVolume::gb(50.0)
            }),
            "public_ip" if i % 2 == 0 => a.reserved_public_ips.push(Counted {
                label,
                count: rules::Value::Absent,
            }),
            "vcn" => a.vcns.push(Counted {
                label,
                count: rules::Value::Absent,
            }),
            "nat" => a.nat_gateways.push(Counted {
                label,
                count: rules::Value::Absent,
            }),
            "sgw" => a.service_gateways.push(Counted {
                label,
                count: rules::Value::Absent,
            }),
            "lb" => a.load_balancers.push(LoadBalancer {
                label,
                ..LoadBalancer::flexible(10.0, 10.0)
            }),
            "nlb" => a.network_load_balancers.push(Counted {
                label,
                count: rules::Value::Absent,
            }),
            "backup" => a.volume_backups.push(Counted {
                label,
                count: rules::Value::Absent,
            }),
            "bucket" => a.object_storage.push(ObjectStorage {
                label,
                gb: rules::Value::Unknown,
                count: rules::Value::Absent,
            }),
            _ => {}
        }
        let name = format!("r{i}");
        let prefix = module.map(|m| format!("module.m{m}.")).unwrap_or_default();
        let address = format!("{prefix}{ty}.{name}");
        let after_unknown = if ty == "oci_objectstorage_bucket" {
            json!({"id": true, "approximate_size": true})
        } else {
            json!({"id": true, "time_created": true, "state": true})
        };
        changes.push(json!({"address": address, "mode": "managed", "type": ty, "name": name, "provider_name": "registry.terraform.io/oracle/oci", "change": {"actions": ["create"], "before": null, "after": values, "after_unknown": after_unknown, "before_sensitive": false, "after_sensitive": {}}}));
        let resource = json!({"address": address, "mode": "managed", "type": ty, "name": name, "provider_name": "registry.terraform.io/oracle/oci", "schema_version": 0, "values": values, "sensitive_values": {}});
        match module {
            Some(m) => children[m].push(resource),
            None => root.push(resource),
        }
    }
    let child_modules: Vec<Value> = children
        .into_iter()
        .enumerate()
        .filter(|(_, r)| !r.is_empty())
        .map(|(m, resources)| json!({"address": format!("module.m{m}"), "resources": resources}))
        .collect();
    let plan = json!({
        "format_version": "1.2",
        "terraform_version": "1.15.5",
        "variables": {"tier": {"value": "always_free"}},
        "planned_values": {"root_module": {"resources": root, "child_modules": child_modules}},
        "resource_changes": changes,
        "configuration": {"provider_config": {"oci": {"name": "oci", "full_name": "registry.terraform.io/oracle/oci"}}},
        "timestamp": "2026-09-10T12:00:00Z",
        "applyable": true,
        "complete": true,
        "errored": false
    });
    (plan, a)
}
