//! `freetier image` end to end against the lab's OCI endpoint: a generated QCOW2 file of
//! `FREETIER_BENCH_IMAGE_MB` MiB (default 512) served with its SHA512SUMS from loopback, then
//! downloaded, checked, uploaded in parts and imported by the real CLI in its own process.
//! Prints the wall time, the throughput and the CLI's peak resident memory for a first run, a
//! second run (everything reused) and a run resumed after an upload cut off half way. Asserts
//! nothing about speed. Needs `cargo build --release` first (or set FREETIER_BIN).

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use freetier::lab::{FaultAction, FaultRule, FaultTrigger, Lab, LabConfig};

fn freetier() -> PathBuf {
    std::env::var_os("FREETIER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/freetier")
        })
}

/// Serves `body` as /image.qcow2 and its SHA512SUMS on loopback until the process ends.
fn serve(body: Vec<u8>) -> String {
    let sum: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, &body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let sums = format!("{sum}  image.qcow2\n").into_bytes();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let data = if buf[..n].starts_with(b"GET /SHA512SUMS") {
                &sums
            } else {
                &body
            };
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                data.len()
            );
            let _ = s.write_all(data);
        }
    });
    format!("http://{addr}")
}

/// The peak resident memory (`VmHWM`, KiB) of `pid` once it runs `freetier`: the high-water
/// mark of its own address space since `exec`, not the forked copy of this process before it.
fn hwm_kb(pid: u32) -> Option<u64> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    if comm.trim() != "freetier" {
        return None;
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// One `freetier image` run: (seconds, peak resident MiB if sampled, exit success).
fn run(bin: &Path, args: &[String]) -> (f64, Option<f64>, bool) {
    let t = Instant::now();
    let mut child = Command::new(bin)
        .arg("image")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut peak: Option<u64> = None;
    let status = loop {
        if let Some(kb) = hwm_kb(child.id()) {
            peak = Some(peak.unwrap_or(0).max(kb));
        }
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    (
        t.elapsed().as_secs_f64(),
        peak.map(|kb| kb as f64 / 1024.0),
        status.success(),
    )
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
    let mib: usize = std::env::var("FREETIER_BENCH_IMAGE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    // freetier image's default part size.
    let part: u64 = 128 << 20;
    // A QCOW2 header describing a 2 GiB disk, then bytes that do not repeat part to part.
    let mut body: Vec<u8> = (0..mib << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    body[..4].copy_from_slice(b"QFI\xfb");
    body[4..8].copy_from_slice(&3u32.to_be_bytes());
    body[24..32].copy_from_slice(&(2u64 << 30).to_be_bytes());
    let url = format!("{}/image.qcow2", serve(body));

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let lab = rt
        .block_on(Lab::start(LabConfig {
            state_dir: Some(dir.path().to_path_buf()),
            latency_overrides: BTreeMap::from([("oci.image_import".to_string(), 0.0)]),
            node_image: false,
            ..LabConfig::for_tests()
        }))
        .expect("lab");
    let oci = lab.state().oci.expect("oci endpoint");
    // Each scenario has its own download folder, image name and bucket.
    let args = |name: &str| -> Vec<String> {
        [
            "--url",
            &url,
            "--name",
            name,
            "--bucket",
            name,
            "--part-size",
            &part.to_string(),
            "--dir",
            dir.path().join(name).to_str().expect("utf-8"),
            "--oci-config",
            dir.path().join("oci/config").to_str().expect("utf-8"),
            "--oci-endpoint",
            &oci.url,
            "--oci-ca-cert",
            dir.path().join("oci/ca.pem").to_str().expect("utf-8"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let mb = mib as f64 * 1.048_576;
    let report = |what: &str, (secs, peak, ok): (f64, Option<f64>, bool)| {
        assert!(ok, "{what}: freetier image failed");
        let peak = peak.map_or("not sampled (too short)".to_string(), |p| {
            format!("{p:.1} MiB")
        });
        println!(
            "{what}: {secs:.2} s, {:.0} MB/s, peak resident memory {peak}",
            mb / secs
        );
    };
    println!(
        "freetier image, a {mib} MiB image in {} MiB parts, lab on loopback:",
        part >> 20
    );
    report(
        "  first run (download, SHA-512, upload, import)",
        run(&bin, &args("bench-a")),
    );
    let (secs, peak, ok) = run(&bin, &args("bench-a"));
    assert!(ok, "second run: freetier image failed");
    println!(
        "  second run (all reused): {:.0} ms, peak resident memory {}",
        secs * 1000.0,
        peak.map_or("not sampled (too short)".to_string(), |p| format!(
            "{p:.1} MiB"
        ))
    );
    // A new image, bucket and download, and the 3rd part cut off: the re-run sends the rest.
    lab.add_fault(FaultRule {
        op: "oci:PUT /n/{namespaceName}/b/{bucketName}/u/{objectName}".into(),
        host: None,
        action: FaultAction::Drop,
        trigger: FaultTrigger::Nth(3),
    })
    .expect("fault");
    let (_, _, ok) = run(&bin, &args("bench-b"));
    assert!(!ok, "the cut-off run fails");
    lab.clear_faults();
    report(
        "  resumed run (2 parts kept, download kept)",
        run(&bin, &args("bench-b")),
    );
    rt.block_on(lab.stop()).expect("stop");
}
