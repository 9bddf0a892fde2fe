//! Layers 2 and 3: apply time against the critical path, and the provider's peak memory.
//!
//! `terraform apply` of `terraform/proxmox`, unchanged, against a lab running at a compressed
//! time scale, with the provider started by this bench in debug mode (Terraform reattaches to
//! it) so its peak resident memory can be read from `/proc` after the apply. The measured time
//! is the span of the lab's trace during the apply (first operation started to last ended)
//! and the whole `terraform apply` command. Both are set against two figures computed from the
//! lab's own latency table:
//! - the critical-path lower bound: the longest chain through the steps' real dependencies
//!   (joins one at a time, monitors one at a time, everything else as soon as what it needs is
//!   there);
//! - the original design's strictly sequential order (each step after the one before).
//!
//! Then Layer 3 (`terraform/talos`, unchanged) on top, timed the same way, against a bound and
//! a sequential order computed from the lab's table and the Talos emulation's table: per
//! host, image download, ISO upload, VM create, resize, start and a TCG boot (A1 hosts have
//! no KVM) run in parallel across hosts; then Bootstrap, etcd, the API server, the manifests
//! and the CNI on the first node.
//!
//! Prints numbers; asserts nothing about speed. Environment: `FREETIER_BENCH_SCALE` (default
//! 0.1), `FREETIER_BENCH_HOSTS` (default 2, the Always Free layout), `FREETIER_TF_CORES` (the
//! newest core found is used).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use freetier::lab::talos::timing_rows;
use freetier::lab::talos_guests::TalosLab;
use freetier::lab::{LabConfig, LatencyTable, Tier};

/// One step of forming the cluster: its latency-table operations and what it waits for.
struct Step {
    name: String,
    ops: Vec<&'static str>,
    after: Vec<String>,
}

fn step(name: impl Into<String>, ops: &[&'static str], after: &[String]) -> Step {
    Step {
        name: name.into(),
        ops: ops.to_vec(),
        after: after.to_vec(),
    }
}

/// The steps of forming an `n`-node cluster with Ceph, with their real dependencies.
/// Each step is one SSH command (`ssh.exec`) plus the operation it runs.
fn steps(n: usize) -> Vec<Step> {
    let node = |i: usize| format!("ampere-{}", i + 1);
    let mut s = vec![step("connect", &["ssh.exec"], &[])];
    s.push(step(
        "pvecm create",
        &["ssh.exec", "pvecm.create"],
        &["connect".into()],
    ));
    let mut prev = "pvecm create".to_string();
    for i in 1..n {
        let name = format!("join {}", node(i));
        // A join takes the cluster-wide lock: strictly after the previous one.
        s.push(step(
            &name,
            &["ssh.exec", "pvecm.addnode", "pvecm.finish_join"],
            &[prev.clone()],
        ));
        prev = name;
    }
    if n.is_multiple_of(2) {
        s.push(step("qdevice", &["ssh.exec", "pvecm.qdevice"], &[prev]));
    }
    for i in 0..n {
        // Packages need only the node itself.
        s.push(step(
            format!("install {}", node(i)),
            &["ssh.exec", "pveceph.install"],
            &["connect".into()],
        ));
    }
    s.push(step(
        "ceph init",
        &["ssh.exec", "pveceph.init"],
        &["pvecm create".into(), format!("install {}", node(0))],
    ));
    let mut prev = "ceph init".to_string();
    for i in 0..n {
        let name = format!("mon {}", node(i));
        // ceph.conf's cluster lock: monitors one at a time, each on a joined, installed node.
        let mut after = vec![prev.clone(), format!("install {}", node(i))];
        if i > 0 {
            after.push(format!("join {}", node(i)));
        }
        s.push(step(
            &name,
            &["ssh.exec", "pveceph.mon", "ssh.exec", "pveceph.mgr"],
            &after,
        ));
        prev = name;
    }
    let mons = prev;
    let mut osds = Vec::new();
    for i in 0..n {
        let name = format!("osd {}", node(i));
        s.push(step(
            &name,
            &["ssh.exec", "pveceph.osd"],
            std::slice::from_ref(&mons),
        ));
        osds.push(name);
    }
    s.push(step(
        "pool",
        &["ssh.exec", "pveceph.pool"],
        std::slice::from_ref(&mons),
    ));
    let mut after = osds;
    after.push("pool".into());
    s.push(step("health", &["ssh.exec"], &after));
    s.push(step(
        "api token",
        &["ssh.exec", "pveum.token"],
        &["pvecm create".into()],
    ));
    s
}

fn cost(table: &LatencyTable, st: &Step) -> f64 {
    st.ops.iter().map(|op| table.seconds(op)).sum()
}

/// The longest chain through the dependencies, in seconds.
fn critical_path(table: &LatencyTable, steps: &[Step]) -> f64 {
    let mut finish: BTreeMap<&str, f64> = BTreeMap::new();
    for st in steps {
        let start = st
            .after
            .iter()
            .map(|a| finish.get(a.as_str()).copied().unwrap_or(0.0))
            .fold(0.0, f64::max);
        finish.insert(&st.name, start + cost(table, st));
    }
    finish.values().copied().fold(0.0, f64::max)
}

/// Every step after the one before: the original design's order.
fn sequential(table: &LatencyTable, steps: &[Step]) -> f64 {
    steps.iter().map(|st| cost(table, st)).sum()
}

/// Layer 3's bound and sequential order for `n` hosts with one VM each, in seconds.
fn layer3(table: &LatencyTable, n: usize) -> (f64, f64) {
    let talos: BTreeMap<String, (f64, bool)> = timing_rows()
        .into_iter()
        .map(|(k, s, b)| (k, (s, b)))
        .collect();
    // A1 hosts have no KVM: boot-like steps run under TCG (the lab's factor).
    let tcg = freetier::lab::latency::TCG_FACTOR;
    let t = |k: &str| {
        talos
            .get(k)
            .map(|(s, boot_like)| if *boot_like { s * tcg } else { *s })
            .unwrap_or(0.0)
    };
    let per_vm = table.seconds("storage.download")
        + table.seconds("storage.upload")
        + table.seconds("qm.create")
        + 1.0 // qm.resize
        + table.seconds("qm.start")
        + table.seconds("guest.boot") * tcg
        + t("Boot")
        + t("ServicesStart");
    let gate = t("BootstrapRpc")
        + t("EtcdStart")
        + t("ApiServerStart")
        + t("KubeletRegister").max(t("ManifestsApply"))
        + t("CniReady");
    (
        per_vm + gate,
        per_vm * n as f64 + gate + t("EtcdStart") * (n as f64 - 1.0),
    )
}

fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let scale: f64 = env_or("FREETIER_BENCH_SCALE", 0.1);
    let hosts: u32 = env_or("FREETIER_BENCH_HOSTS", 2);
    let Some(core) = support::cores().into_iter().max_by_key(|c| c.version) else {
        eprintln!("no Terraform core: run scripts/install-tools.sh");
        std::process::exit(2);
    };
    let table = LatencyTable::new(&BTreeMap::new());
    let plan = steps(hosts as usize);
    let bound = critical_path(&table, &plan);
    let seq = sequential(&table, &plan);

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let talos_lab = rt
        .block_on(TalosLab::start(LabConfig {
            hosts,
            tier: if hosts > 2 {
                Tier::PayAsYouGo
            } else {
                Tier::AlwaysFree
            },
            time_scale: scale,
            state_dir: Some(dir.path().to_path_buf()),
            ..LabConfig::default()
        }))
        .expect("lab");
    let lab = &talos_lab.lab;
    let tfvars = std::fs::read_to_string(dir.path().join("proxmox.tfvars")).expect("tfvars");

    // The provider, in debug mode: Terraform reattaches to this process.
    let mut provider = Command::new(support::provider_binary())
        .arg("--debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("provider");
    let pid = provider.id();
    let mut reattach = String::new();
    for line in BufReader::new(provider.stdout.take().expect("stdout")).lines() {
        let line = line.unwrap_or_default();
        if let Some(v) = line.trim().strip_prefix("TF_REATTACH_PROVIDERS='") {
            reattach = v.trim_end_matches('\'').to_string();
            break;
        }
    }

    let layer = Path::new(env!("CARGO_MANIFEST_DIR")).join("terraform/proxmox");
    let wd = support::Workdir::new(&core, false, "");
    for e in std::fs::read_dir(&layer)
        .expect("terraform/proxmox")
        .flatten()
    {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "tf") {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            wd.write(&name, &std::fs::read_to_string(&p).unwrap());
        }
    }
    wd.write("terraform.tfvars", &tfvars);
    let init = wd.init();
    assert_eq!(init.code, 0, "{}", init.text());
    let env = [("TF_REATTACH_PROVIDERS".to_string(), reattach)];
    let before = lab.trace().len();
    let started = Instant::now();
    let apply = wd.run_with_env(
        wd.path(),
        &["apply", "-no-color", "-input=false", "-auto-approve"],
        &env,
    );
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(apply.code, 0, "{}", apply.text());
    // Layer 2's part of the trace, before Layer 3 adds to it.
    let trace = lab.trace();

    // Layer 3 on top, through the same provider process.
    let l3 = support::Workdir::new(&core, false, "");
    let talos_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("terraform/talos");
    for e in std::fs::read_dir(&talos_dir)
        .expect("terraform/talos")
        .flatten()
    {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "tf") {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            l3.write(&name, &std::fs::read_to_string(&p).unwrap());
        }
    }
    let talos_vars =
        std::fs::read_to_string(dir.path().join("talos.tfvars")).expect("talos.tfvars");
    l3.write(
        "terraform.tfvars",
        &format!(
            "{talos_vars}proxmox_state_path = {:?}\n",
            wd.path().join("terraform.tfstate").display().to_string()
        ),
    );
    assert_eq!(l3.init().code, 0);
    let started3 = Instant::now();
    let apply3 = l3.run_with_env(
        l3.path(),
        &["apply", "-no-color", "-input=false", "-auto-approve"],
        &env,
    );
    let wall3 = started3.elapsed().as_secs_f64();
    assert_eq!(apply3.code, 0, "{}", apply3.text());
    let peak = peak_rss_kb(pid);
    let _ = provider.kill();
    let _ = provider.wait();
    let (bound3, seq3) = layer3(&table, hosts as usize);

    let run = &trace[before.min(trace.len())..];
    let first = run.iter().map(|e| e.start_ms).fold(f64::MAX, f64::min);
    let last = run.iter().map(|e| e.end_ms).fold(0.0, f64::max);
    let span = (last - first) / 1000.0;
    let mut per_op: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
    for e in run.iter().filter(|e| e.op.starts_with("step:")) {
        let slot = per_op.entry(e.op.as_str()).or_default();
        slot.0 += 1;
        slot.1 += (e.end_ms - e.start_ms) / 1000.0;
    }
    rt.block_on(talos_lab.stop()).expect("lab stop");

    println!(
        "layer 2 apply ({} on {hosts} lab hosts, time scale {scale})",
        core.name
    );
    println!("  lab operations, first to last: {span:>7.2} s");
    println!("  whole terraform apply:         {wall:>7.2} s");
    println!(
        "  critical-path lower bound:     {:>7.2} s  (ratio {:.3})",
        bound * scale,
        span / (bound * scale)
    );
    println!(
        "  original sequential order:     {:>7.2} s  (ratio {:.3})",
        seq * scale,
        span / (seq * scale)
    );
    println!(
        "  at real speed (scale 1): bound {bound:.0} s, sequential {seq:.0} s, this apply ≈ {:.0} s",
        span / scale
    );
    println!("layer 3 apply (Talos in one TCG VM per host, same lab)");
    println!("  whole terraform apply:         {wall3:>7.2} s");
    println!(
        "  critical-path lower bound:     {:>7.2} s  (ratio {:.3})",
        bound3 * scale,
        wall3 / (bound3 * scale)
    );
    println!(
        "  original sequential order:     {:>7.2} s  (ratio {:.3})",
        seq3 * scale,
        wall3 / (seq3 * scale)
    );
    let both = span + wall3;
    println!(
        "layers 2 and 3: {both:.2} s against bound {:.2} s (ratio {:.3}) and sequential {:.2} s; at real speed bound {:.0} s, sequential {:.0} s",
        (bound + bound3) * scale,
        both / ((bound + bound3) * scale),
        (seq + seq3) * scale,
        bound + bound3,
        seq + seq3
    );
    match peak {
        Some(kb) => println!(
            "  provider peak RSS (VmHWM):     {:>7.1} MB",
            kb as f64 / 1024.0
        ),
        None => println!("  provider peak RSS: unreadable"),
    }
    println!("  slow lab steps (count, summed seconds):");
    for (op, (count, secs)) in per_op {
        println!("    {op:<22} {count:>4} {secs:>8.2}");
    }
}
