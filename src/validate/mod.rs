//! `freetier validate`: the free-tier matrix run against what is deployed. Each layer's
//! Terraform state says what was built and how to reach it; each row asks the state or the
//! live endpoint and says pass, fail, or not checked and why:
//!
//! | row | from |
//! |---|---|
//! | `images` | Layer 1's state: custom images at most 20 GB, and within the Object Storage they are imported through; or the nodes' image (`node_image_id`) from the Compute API: `AVAILABLE`, at most 20 GB, bootable on A1, and the live `custom-image-count` |
//! | `allocation` | Layer 1's state, held to its tier by the rulebook |
//! | `limits` | the OCI Limits API: A1 cores and memory in use |
//! | `proxmox_quorum` | Layer 2's Proxmox VE API: `/cluster/status` |
//! | `ceph_health` | Layer 2's Proxmox VE API: `/cluster/ceph/status` |
//! | `talos_etcd` | Layer 3's Talos API: every node an etcd voter |
//! | `kubernetes_nodes` | Layer 3's Kubernetes API: every node Ready |
//! | `cost` | the OCI Usage API: month-to-date cost exactly 0 |
//! | `budget` | the OCI Budgets API: an alert on actual spend at $0.01 |
//!
//! A missing layer, an unreadable state, an endpoint that does not answer or absent
//! credentials make a row "not checked", never a crash; only a "fail" makes the exit code 1.
//! Secrets read from states (API token, kubeconfig, talosconfig) and the OCI key go to the
//! clients only, never to the output.
//!
//! Imports the clients and the pure `rules`; nothing from the framework, the provider or the
//! lab (the lab's `lab.json` is read as JSON).

pub mod args;
mod cloud;
mod cluster;
mod layer1;
mod tfstate;

use std::io::Write;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

pub use args::{Format, Options, USAGE};

use crate::clients::Call;

/// Exit code: no row failed.
pub const EXIT_OK: i32 = 0;
/// Exit code: a row failed.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: usage error.
pub const EXIT_USAGE: i32 = 2;

/// A row's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Checked, and inside the free tier / healthy.
    Pass,
    /// Checked, and not.
    Fail,
    /// Could not be checked; the reason says why.
    NotChecked,
}

impl Status {
    /// `pass`, `fail` or `not_checked` (JSON); text shows `not checked`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::NotChecked => "not_checked",
        }
    }
}

/// One row of the matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Its stable name (`cost`, `talos_etcd`, …).
    pub row: &'static str,
    /// The verdict.
    pub status: Status,
    /// Why, in a sentence or two.
    pub reason: String,
    /// What was read, for machines (no secret).
    pub details: Value,
}

impl Row {
    fn pass(row: &'static str, reason: String, details: Value) -> Row {
        Row {
            row,
            status: Status::Pass,
            reason,
            details,
        }
    }

    fn fail(row: &'static str, reason: String, details: Value) -> Row {
        Row {
            row,
            status: Status::Fail,
            reason,
            details,
        }
    }

    fn not_checked(row: &'static str, reason: String) -> Row {
        Row {
            row,
            status: Status::NotChecked,
            reason,
            details: json!({}),
        }
    }
}

/// Runs every row for `opts`.
pub async fn validate(opts: &Options, cancel: &CancellationToken) -> Vec<Row> {
    let call = Call::new(cancel, opts.timeout);
    let l1 = tfstate::load(&opts.oci_state, "Layer 1", "--oci-state");
    let l2 = tfstate::load(&opts.proxmox_state, "Layer 2", "--proxmox-state");
    let l3 = tfstate::load(&opts.talos_state, "Layer 3", "--talos-state");
    let tier = match &l1 {
        Ok(s) => layer1::tier(s),
        Err(e) => Err(e.clone()),
    };
    let images = layer1::images(l1.as_ref());
    let allocation = layer1::allocation(l1.as_ref());
    // Building the OCI client reads a key file and may parse a certificate: off the runtime's
    // async threads.
    let access = {
        let o = opts.clone();
        tokio::task::spawn_blocking(move || cloud::access(&o))
            .await
            .unwrap_or_else(|e| Err(format!("internal error building the OCI client: {e}")))
    };
    let pve = cluster::proxmox_client(l2.as_ref());
    // The nodes' image is outside Layer 1's state when `freetier image` imported it: ask the
    // Compute API about the one Layer 1 names.
    let node_image = match (&l1, &tier) {
        (Ok(st), Ok(t)) if images.status == Status::NotChecked => {
            st.text("node_image_id").map(|id| (id.to_string(), *t))
        }
        _ => None,
    };
    let images_api = async {
        match &node_image {
            Some((id, t)) => Some(cloud::node_image(&access, id, *t, &call).await),
            None => None,
        }
    };
    let (images_api, limits, quorum, ceph, etcd, nodes, cost, budget) = tokio::join!(
        images_api,
        cloud::limits(&access, tier, &call),
        cluster::quorum(&pve, &call),
        cluster::ceph(l2.as_ref(), &pve, &call),
        cluster::etcd(l3.as_ref(), &call),
        cluster::nodes(l3.as_ref(), &call),
        cloud::cost(&access, &call),
        cloud::budget(&access, &call),
    );
    let images = images_api.unwrap_or(images);
    vec![
        images, allocation, limits, quorum, ceph, etcd, nodes, cost, budget,
    ]
}

/// The report as JSON: `{"version": 1, "rows": [{row, status, reason, details}], "summary"}`.
pub fn to_json(rows: &[Row]) -> Value {
    let count = |s: Status| rows.iter().filter(|r| r.status == s).count();
    json!({
        "version": 1,
        "rows": rows.iter().map(|r| json!({
            "row": r.row,
            "status": r.status.as_str(),
            "reason": r.reason,
            "details": r.details,
        })).collect::<Vec<_>>(),
        "summary": {
            "pass": count(Status::Pass),
            "fail": count(Status::Fail),
            "not_checked": count(Status::NotChecked),
        }
    })
}

/// The report for people: one line a row.
pub fn to_text(rows: &[Row], out: &mut dyn Write) -> std::io::Result<()> {
    let count = |s: Status| rows.iter().filter(|r| r.status == s).count();
    writeln!(
        out,
        "freetier validate: {} pass, {} fail, {} not checked",
        count(Status::Pass),
        count(Status::Fail),
        count(Status::NotChecked)
    )?;
    for r in rows {
        let status = match r.status {
            Status::NotChecked => "not checked",
            s => s.as_str(),
        };
        writeln!(out, "{status:<12} {:<17} {}", r.row, r.reason)?;
    }
    Ok(())
}

/// Runs `freetier validate` with the arguments after `validate`; the exit code. Never panics.
pub fn run(args: &[String], stdout: &mut dyn Write, stderr: &mut dyn Write) -> i32 {
    let opts = match args::parse(args) {
        Ok(args::Parsed::Help) => {
            let _ = stdout.write_all(USAGE.as_bytes());
            return EXIT_OK;
        }
        Ok(args::Parsed::Run(o)) => o,
        Err(e) => {
            let _ = writeln!(stderr, "freetier validate: {e}\n\n{USAGE}");
            return EXIT_USAGE;
        }
    };
    let rt = match crate::cli::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(stderr, "freetier validate: cannot start the runtime: {e}");
            return EXIT_USAGE;
        }
    };
    let cancel = CancellationToken::new();
    let rows = rt.block_on(async {
        let task = tokio::spawn({
            let opts = opts.clone();
            let cancel = cancel.clone();
            async move { validate(&opts, &cancel).await }
        });
        tokio::select! {
            r = task => r.ok(),
            _ = tokio::signal::ctrl_c() => {
                cancel.cancel();
                None
            }
        }
    });
    let Some(rows) = rows else {
        let _ = writeln!(
            stderr,
            "freetier validate: interrupted, or an internal error (a bug; please report it)"
        );
        return EXIT_FAILED;
    };
    let written = match opts.format {
        Format::Text => to_text(&rows, stdout),
        Format::Json => writeln!(stdout, "{}", to_json(&rows)),
    };
    if let Err(e) = written.and_then(|()| stdout.flush()) {
        let _ = writeln!(stderr, "freetier validate: cannot write the report: {e}");
        return EXIT_USAGE;
    }
    if rows.iter().any(|r| r.status == Status::Fail) {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_with_nothing_deployed_is_all_not_checked_and_exits_0() {
        let dir = tempfile::tempdir().expect("dir");
        let args: Vec<String> = [
            "--stack",
            &dir.path().display().to_string(),
            "--oci-config",
            &dir.path().join("none").display().to_string(),
            "--format",
            "json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(&args, &mut out, &mut err);
        assert_eq!(code, EXIT_OK, "{}", String::from_utf8_lossy(&err));
        let v: Value = serde_json::from_slice(&out).expect("json");
        let rows = v["rows"].as_array().expect("rows");
        let names: Vec<&str> = rows.iter().filter_map(|r| r["row"].as_str()).collect();
        assert_eq!(
            names,
            [
                "images",
                "allocation",
                "limits",
                "proxmox_quorum",
                "ceph_health",
                "talos_etcd",
                "kubernetes_nodes",
                "cost",
                "budget"
            ]
        );
        for r in rows {
            assert_eq!(r["status"], "not_checked", "{r}");
            assert!(!r["reason"].as_str().unwrap_or_default().is_empty(), "{r}");
        }
        assert_eq!(v["summary"]["not_checked"], json!(9));
    }

    #[test]
    fn usage_errors_exit_2() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(&["--bogus".to_string()], &mut out, &mut err);
        assert_eq!(code, EXIT_USAGE);
        assert!(String::from_utf8_lossy(&err).contains("unknown argument \"--bogus\""));
    }

    #[test]
    fn text_shows_not_checked_in_words() {
        let rows = vec![
            Row::pass("cost", "0.00 USD".into(), json!({})),
            Row::not_checked("budget", "no credentials".into()),
        ];
        let mut out = Vec::new();
        to_text(&rows, &mut out).expect("write");
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("freetier validate: 1 pass, 0 fail, 1 not checked\n"));
        assert!(
            text.contains("not checked  budget            no credentials"),
            "{text}"
        );
    }
}
