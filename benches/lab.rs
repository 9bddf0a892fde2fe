//! Lab start-up and idle memory (issue 5: start ≤ 1 s, idle ≤ 50 MB for 3 hosts), measured on
//! the real CLI: `freetier lab up --foreground` in its own process, timed until `lab.json`
//! appears, then its resident memory after a quiet second, then `lab down`.
//! Prints numbers; asserts nothing about speed. Needs `cargo build --release` first (or set
//! FREETIER_BIN).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn freetier() -> PathBuf {
    std::env::var_os("FREETIER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/freetier")
        })
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let bin = freetier();
    if !bin.is_file() {
        eprintln!(
            "{} is missing: run `cargo build --release` first (or set FREETIER_BIN)",
            bin.display()
        );
        std::process::exit(2);
    }
    let runs = 10;
    let mut starts = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..runs {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = Instant::now();
        let mut child = Command::new(&bin)
            .args([
                "lab",
                "up",
                "--foreground",
                "--tier",
                "pay_as_you_go",
                "--hosts",
                "3",
                "--time-scale",
                "0",
                "--dir",
            ])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        while !dir.path().join("lab.json").exists() {
            if t.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                eprintln!("lab did not come up in 10 s");
                std::process::exit(1);
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        starts.push(t.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_secs(1));
        if let Some(kb) = rss_kb(child.id()) {
            rss.push(kb as f64 / 1024.0);
        }
        let down = Command::new(&bin)
            .args(["lab", "down", "--dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !matches!(down, Ok(s) if s.success()) {
            let _ = child.kill();
        }
        let _ = child.wait();
    }
    let (mut s2, mut r2) = (starts.clone(), rss.clone());
    println!("lab up (3 Ampere hosts + bastion, process start to lab.json): median {:.1} ms, min {:.1}, max {:.1} (n={runs}; target ≤ 1000 ms)", median(&mut s2), starts.iter().cloned().fold(f64::MAX, f64::min), starts.iter().cloned().fold(0.0, f64::max));
    println!(
        "lab idle resident memory after 1 s: median {:.1} MiB, max {:.1} (n={}; target ≤ 50 MB)",
        median(&mut r2),
        rss.iter().cloned().fold(0.0, f64::max),
        rss.len()
    );
}
