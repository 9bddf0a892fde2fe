//! Benchmark of `freetier check --plan`: prints numbers, and fails when the two sides disagree.
//!
//! 1. Whole process: `target/release/freetier check --plan P --format json`, start to exit, on
//!    generated `terraform show -json` plans of 1,000 and 10,000 resources. Goal: at most
//!    100 ms on 10,000.
//! 2. The same checks written as a Rego policy ([`POLICY`]: one pass over `resource_changes`
//!    grouped by type, then one total per rule, the limits given as data from the same rulebook),
//!    run by the regorus crate in this process: policy compiled, plan read and loaded as input,
//!    rule evaluated. Timed whole (compile + load + evaluate) and evaluation alone. Regorus does
//!    no process start here, freetier does: the comparison leans toward regorus.
//! 3. Both sides must report the same violations: every error of freetier's resources check,
//!    as (rule, total), against the policy's set of the same. The bench exits 1 when they differ.
//! 4. `freetier check` on each layer of `terraform/`, whole process.
//!
//! Run with `scripts/bench-check.sh` (release build). When `target/release/freetier` is missing
//! or does not dispatch `check`, this bench re-executes itself into `freetier::check::run` (the
//! same code behind a thin main) and says so.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use freetier::rules::{LimitKey, Tier};
use serde_json::{json, Value};

const SIZES: [usize; 2] = [1_000, 10_000];
const GOAL_MS: f64 = 100.0;
const CHILD: &str = "FREETIER_CHECK_BENCH_CHILD";

/// The rulebook's always_free totals over `terraform show -json`, as a Rego author would write
/// them: one pass over the plan's resource changes grouping each kept resource's index by type,
/// then each rule reads its group. `data.limits` holds the limits, `data.boot_volume_gb` the
/// boot volume an instance gets when it sets none.
const POLICY: &str = r#"
package freetier

import rego.v1

# One pass: the index of every managed resource the plan keeps, grouped by type.
grouped[rc.type] contains i if {
	some i, rc in input.resource_changes
	rc.mode == "managed"
	rc.change.actions != ["delete"]
}

after(t) := [input.resource_changes[i].change.after | some i in object.get(grouped, t, set())]

instances := after("oci_core_instance")

a1 := [r | some r in instances; r.shape == "VM.Standard.A1.Flex"]

micro := [r | some r in instances; r.shape == "VM.Standard.E2.1.Micro"]

load_balancers := array.concat(after("oci_load_balancer_load_balancer"), after("oci_load_balancer"))

boot_gb(r) := r.source_details[0].boot_volume_size_in_gbs if {
	r.source_details[0].boot_volume_size_in_gbs != null
} else := data.boot_volume_gb

totals := {
	"a1_instance_count": count(a1),
	"a1_ocpu_total": sum([r.shape_config[0].ocpus | some r in a1]),
	"a1_memory_total": sum([r.shape_config[0].memory_in_gbs | some r in a1]),
	"micro_instance_count": count(micro),
	"block_storage_total": sum([boot_gb(r) | some r in instances]) + sum([v.size_in_gbs | some v in after("oci_core_volume")]),
	"volume_backup_count": count(after("oci_core_volume_backup")) + count(after("oci_core_boot_volume_backup")),
	"reserved_public_ip_count": count([r | some r in after("oci_core_public_ip"); upper(r.lifetime) == "RESERVED"]),
	"vcn_count": count(after("oci_core_vcn")),
	"nat_gateway_count": count(after("oci_core_nat_gateway")),
	"service_gateway_count": count(after("oci_core_service_gateway")),
	"load_balancer_count": count(load_balancers),
	"load_balancer_bandwidth": sum([r.shape_details[0].maximum_bandwidth_in_mbps | some r in load_balancers]),
	"network_load_balancer_count": count(after("oci_network_load_balancer_network_load_balancer")),
}

violations contains {"rule": rule, "total": total} if {
	some rule, total in totals
	total > data.limits[rule]
}
"#;

/// The policy's rules and the rulebook's limit for each.
const RULE_LIMITS: &[(&str, LimitKey)] = &[
    ("a1_instance_count", LimitKey::A1Instances),
    ("a1_ocpu_total", LimitKey::A1Ocpus),
    ("a1_memory_total", LimitKey::A1MemoryGb),
    ("micro_instance_count", LimitKey::MicroInstances),
    ("block_storage_total", LimitKey::BlockStorageGb),
    ("volume_backup_count", LimitKey::VolumeBackups),
    ("reserved_public_ip_count", LimitKey::ReservedPublicIps),
    ("vcn_count", LimitKey::Vcns),
    ("nat_gateway_count", LimitKey::NatGateways),
    ("service_gateway_count", LimitKey::ServiceGateways),
    ("load_balancer_count", LimitKey::LoadBalancers),
    (
        "load_balancer_bandwidth",
        LimitKey::LoadBalancerBandwidthMbps,
    ),
    (
        "network_load_balancer_count",
        LimitKey::NetworkLoadBalancers,
    ),
];

fn main() {
    // Child mode: behave as `freetier check ARGS` for the whole-process timing.
    if std::env::var_os(CHILD).is_some() {
        let args: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| a != "--bench")
            .collect();
        let code = freetier::check::run(&args, &mut std::io::stdout(), &mut std::io::stderr());
        std::process::exit(code);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tmp = root.join("target/bench-tmp");
    std::fs::create_dir_all(&tmp).expect("target/bench-tmp");
    let bin = root.join("target/release/freetier");
    let real_bin = Command::new(&bin)
        .args(["check", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("Usage: freetier check"))
        .unwrap_or(false);
    let freetier = |args: &[&str]| {
        let mut c = if real_bin {
            let mut c = Command::new(&bin);
            c.arg("check");
            c
        } else {
            let mut c = Command::new(std::env::current_exe().expect("this bench"));
            c.env(CHILD, "1");
            c
        };
        c.args(args).output().expect("freetier check process")
    };
    let spawn_ms = median(20, || {
        Command::new("true").output().expect("true");
    });
    println!("freetier check --plan against the same checks in Rego (regorus), medians");
    println!(
        "freetier: {}; starting /bin/true alone takes {spawn_ms:.2} ms here",
        if real_bin {
            "target/release/freetier check, whole process".to_owned()
        } else {
            "this bench re-executed into freetier::check::run (no release freetier binary)"
                .to_owned()
        }
    );
    println!(
        "regorus (crate 0.14): the policy compiled, the plan loaded and evaluated in this process"
    );
    println!();

    let data = limits_data();
    let mut all_agree = true;
    let mut goal_met = true;
    let mut ahead = true;
    for n in SIZES {
        let plan = tmp.join(format!("plan-{n}.json"));
        let text = serde_json::to_string(&generate(n)).expect("plan JSON");
        std::fs::write(&plan, &text).expect("write the plan");
        let p = plan.display().to_string();
        let runs = if n >= 10_000 { 10 } else { 20 };

        // freetier, whole process, and what it reports.
        let out = freetier(&["--plan", &p, "--format", "json"]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "freetier's JSON report: {e}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let ours = freetier_violations(&report);
        let ours_ms = median(runs, || {
            freetier(&["--plan", &p, "--format", "json"]);
        });

        // regorus: compile + load + evaluate, then evaluation alone.
        let theirs = rego_violations(&mut rego_engine(
            &data,
            &std::fs::read_to_string(&plan).unwrap(),
        ));
        let rego_ms = median(runs, || {
            let text = std::fs::read_to_string(&plan).expect("the plan");
            let mut e = rego_engine(&data, &text);
            e.eval_rule("data.freetier.violations".into())
                .expect("evaluate");
        });
        let mut loaded = rego_engine(&data, &text);
        let eval_ms = median(runs, || {
            loaded
                .eval_rule("data.freetier.violations".into())
                .expect("evaluate");
        });

        let agree = ours == theirs;
        all_agree &= agree;
        goal_met &= n < 10_000 || ours_ms <= GOAL_MS;
        ahead &= ours_ms < rego_ms;
        println!(
            "{n:>6} resources ({} KiB), freetier exit {}",
            text.len() / 1024,
            out.status.code().unwrap_or(-1)
        );
        println!(
            "   freetier check --plan, whole process            {ours_ms:>9.2} ms{}",
            if n >= 10_000 {
                if ours_ms <= GOAL_MS {
                    "   (goal <= 100 ms: met)"
                } else {
                    "   (goal <= 100 ms: MISSED)"
                }
            } else {
                ""
            }
        );
        println!("   regorus, compile + read + load + evaluate       {rego_ms:>9.2} ms");
        println!("   regorus, evaluate alone (input loaded)          {eval_ms:>9.2} ms");
        println!(
            "   regorus (compile + load + evaluate) / freetier (whole process): {:.1}x",
            rego_ms / ours_ms
        );
        println!(
            "   same violations: {}  ({} each: {})",
            if agree { "yes" } else { "NO" },
            ours.len(),
            ours.iter()
                .map(|(rule, total)| format!("{rule} {total}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !agree {
            println!("   regorus found: {theirs:?}");
        }
        println!();
    }

    // The terraform/ layers, whole process.
    println!("freetier check on the layers of terraform/, whole process");
    let mut layers: Vec<PathBuf> = std::fs::read_dir(root.join("terraform"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    layers.sort();
    for layer in &layers {
        let l = layer.display().to_string();
        let code = freetier(&[&l]).status.code().unwrap_or(-1);
        let ms = median(10, || {
            freetier(&[&l]);
        });
        println!("   {:<20} exit {code}   {ms:>7.2} ms", rel(layer, &root));
    }
    println!();
    println!(
        "agreement: {}; 10,000-resource goal: {}; freetier ahead of regorus: {}",
        if all_agree {
            "the same violations on every plan"
        } else {
            "DIFFERENT violations"
        },
        if goal_met { "met" } else { "MISSED" },
        if ahead { "yes" } else { "NO" }
    );
    if !all_agree {
        std::process::exit(1);
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

// The limits the policy holds the totals to, from the rulebook (always_free).
fn limits_data() -> Value {
    let limit = |key| {
        Tier::AlwaysFree
            .limit(key)
            .map(|l| l.value)
            .unwrap_or_else(|| panic!("always_free has no {key:?}"))
    };
    let limits: serde_json::Map<String, Value> = RULE_LIMITS
        .iter()
        .map(|(rule, key)| ((*rule).to_owned(), json!(limit(*key))))
        .collect();
    json!({
        "limits": limits,
        "boot_volume_gb": limit(LimitKey::BootVolumeDefaultGb),
    })
}

fn rego_engine(data: &Value, plan: &str) -> regorus::Engine {
    let mut e = regorus::Engine::new();
    e.add_policy("freetier.rego".into(), POLICY.into())
        .expect("the policy compiles");
    e.add_data_json(&data.to_string()).expect("the limits");
    e.set_input_json(plan).expect("the plan as input");
    e
}

// (rule, total) of each violation, sorted; totals to six decimals.
type Found = Vec<(String, String)>;

fn total(v: &Value) -> String {
    let n = v
        .as_f64()
        .or_else(|| v.to_string().parse().ok())
        .unwrap_or(f64::NAN);
    format!("{n:.6}")
}

fn rego_violations(e: &mut regorus::Engine) -> Found {
    let v = e
        .eval_rule("data.freetier.violations".into())
        .expect("evaluate");
    let j: Value = serde_json::from_str(&v.to_json_str().expect("as JSON")).expect("JSON");
    let mut found: Found = j
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            (
                v["rule"].as_str().unwrap_or("").to_owned(),
                total(&v["total"]),
            )
        })
        .collect();
    found.sort();
    found
}

fn freetier_violations(report: &Value) -> Found {
    let mut found: Found = report["violations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["severity"] == "error" && v["check"] == "resources")
        .map(|v| {
            (
                v["rule"].as_str().unwrap_or("").to_owned(),
                total(&v["total"]),
            )
        })
        .collect();
    found.sort();
    found
}

// A `terraform show -json` plan (format 1.2) with `n` resources: mostly the OCI types the free
// tier limits, some other types, spread over the root and ten child modules, each in
// planned_values and in resource_changes as a real plan has them.
fn generate(n: usize) -> Value {
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
    json!({
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
    })
}
