//! How long each emulated operation takes, and the trace of what ran.
//!
//! One table, in seconds at `time_scale = 1.0`. Each row names its public source (an upstream
//! file, issue or log), or is marked ESTIMATE where no source gave a number; the source column
//! is shown to users, so it never cites our research notes (`shared/research/talos_proxmox.md`
//! §F, where the figures were collected). Guest boots are multiplied by [`TCG_FACTOR`] when the VM runs without
//! KVM.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Slowdown of a same-architecture guest under QEMU TCG: syzkaller's ×5 multiplier for arm64
/// hosts without nested virtualisation (<https://github.com/google/syzkaller/pull/5419>).
pub const TCG_FACTOR: f64 = 5.0;

/// Slowdown of a cross-architecture guest (x86_64 on arm64): syzkaller's ×10
/// (<https://github.com/google/syzkaller/pull/5419>).
pub const TCG_CROSS_ARCH_FACTOR: f64 = 10.0;

/// The trace keeps at most this many events (oldest dropped first).
pub const TRACE_CAPACITY: usize = 100_000;

/// `(operation, seconds, source)`. The source column is documentation only.
const TABLE: &[(&str, f64, &str)] = &[
    // Transport.
    (
        "ssh.exec",
        0.05,
        "ESTIMATE: one command round trip on a LAN",
    ),
    (
        "api.request",
        0.01,
        "ESTIMATE: pveproxy answer time for a read",
    ),
    (
        "api.unauthorized",
        3.0,
        "pve-http-server AnyEvent.pm: 'always delay unauthorized calls by 3 seconds'",
    ),
    // Cluster (pvecm), research §D.1/§D.3.
    (
        "pvecm.create",
        2.0,
        "ESTIMATE: corosync-keygen + config write + service restart",
    ),
    (
        "pvecm.addnode",
        1.0,
        "ESTIMATE: API login + addnode (pve-cluster pvecm.pm), about a second each",
    ),
    (
        "pvecm.finish_join",
        15.0,
        "ESTIMATE: a whole join (corosync restart, quorum wait, certificates) takes 10-60 s; \
         no measured figure is published",
    ),
    ("pvecm.delnode", 2.0, "ESTIMATE"),
    (
        "pvecm.qdevice",
        10.0,
        "ESTIMATE: ssh-copy-id, cert exchange and qdevice start on each node",
    ),
    (
        "pvecm.qdevice_remove",
        5.0,
        "ESTIMATE: ssh to each node to stop and disable corosync-qdevice, then a corosync reload",
    ),
    (
        "pvecm.separate",
        2.0,
        "ESTIMATE: one systemd stop or start of pve-cluster or corosync (the lab takes half per \
         unit); pve-cluster.service bounds a stop at TimeoutStopSec=10",
    ),
    (
        "lock.timeout",
        10.0,
        "pve-cluster ClusterConfig.pm: lock_file/cfs_lock_file timeout 10 s",
    ),
    // Ceph, research §D.2/§F.
    (
        "pveceph.install",
        90.0,
        "ESTIMATE: apt-get update + install of the ceph packages",
    ),
    ("pveceph.init", 1.0, "ESTIMATE"),
    ("pveceph.mon", 5.0, "ESTIMATE"),
    ("pveceph.mgr", 3.0, "ESTIMATE"),
    (
        "pveceph.osd",
        45.0,
        "ESTIMATE: 20-90 s per OSD on a KVM-class CPU; ceph-volume steps take seconds each \
         (https://github.com/rook/rook/issues/4470)",
    ),
    ("pveceph.pool", 3.0, "ESTIMATE"),
    (
        "pveceph.osd_destroy",
        10.0,
        "ESTIMATE: osd crush remove, auth del and osd rm, then ceph-volume lvm zap (dd of 10 MiB, \
         LVM removal)",
    ),
    (
        "pveceph.mon_destroy",
        5.0,
        "ESTIMATE: mon remove and a ceph.conf rewrite",
    ),
    (
        "pveceph.mgr_destroy",
        3.0,
        "ESTIMATE: stop, disable and auth del",
    ),
    ("pveceph.pool_destroy", 3.0, "ESTIMATE"),
    (
        "pveceph.purge",
        5.0,
        "ESTIMATE: stop and disable the node's Ceph units, remove their directories",
    ),
    (
        "ceph.daemon",
        2.0,
        "ESTIMATE: one systemd stop or start of a Ceph daemon (the lab takes half per unit)",
    ),
    (
        "ceph.connect_timeout",
        300.0,
        "ceph CLI: monclient authenticate times out after 300 s",
    ),
    ("lvm", 0.5, "ESTIMATE"),
    // Guests.
    (
        "qm.create",
        2.0,
        "ESTIMATE: a whole clone takes under 20 s \
         (https://github.com/bpg/terraform-provider-proxmox/issues/995)",
    ),
    ("qm.start", 2.0, "ESTIMATE"),
    ("qm.stop", 1.0, "ESTIMATE"),
    ("qm.destroy", 1.0, "ESTIMATE"),
    ("qm.config", 0.2, "ESTIMATE"),
    (
        "qm.resize",
        1.0,
        "ESTIMATE: lvextend of the volume, then QMP block_resize when the VM runs",
    ),
    (
        "guest.boot",
        20.0,
        "ESTIMATE: firmware + kernel to userspace under KVM; x5 under TCG",
    ),
    // Storage.
    (
        "storage.download",
        16.0,
        "16 s for a Talos image in one log \
         (https://github.com/vdupain/terraform-proxmox-talos-k8s-cluster/issues/7)",
    ),
    ("storage.upload", 1.0, "ESTIMATE for a small ISO"),
    ("storage.delete", 0.5, "ESTIMATE"),
    // Hosts.
    (
        "host.first_boot",
        0.0,
        "ESTIMATE: how long after the lab starts the hosts' first-boot cloud-init (PXVIRT and \
         Ceph from Layer 1) is still running; 0, the default, is a host already set up (a real \
         install takes minutes, not measured)",
    ),
    (
        "host.reboot",
        60.0,
        "ESTIMATE: firmware + Proxmox VE boot on an A1 instance",
    ),
    ("pveum.token", 0.5, "ESTIMATE"),
    // OCI.
    (
        "oci.image_import",
        600.0,
        "ESTIMATE: a custom image import from Object Storage, IMPORTING to AVAILABLE",
    ),
];

/// The latency of every operation, with overrides.
#[derive(Debug, Clone)]
pub struct LatencyTable {
    secs: BTreeMap<String, f64>,
}

impl LatencyTable {
    /// The table with `overrides` (seconds) applied over the defaults.
    pub fn new(overrides: &BTreeMap<String, f64>) -> Self {
        let mut secs: BTreeMap<String, f64> =
            TABLE.iter().map(|(k, v, _)| (k.to_string(), *v)).collect();
        for (k, v) in overrides {
            secs.insert(k.clone(), *v);
        }
        LatencyTable { secs }
    }

    /// Unscaled seconds for `op`; unknown operations take no time.
    pub fn seconds(&self, op: &str) -> f64 {
        self.secs.get(op).copied().unwrap_or(0.0)
    }

    /// The duration of `op` at `time_scale`.
    pub fn scaled(&self, op: &str, time_scale: f64) -> Duration {
        let s = self.seconds(op) * time_scale;
        if s.is_finite() && s > 0.0 {
            Duration::from_secs_f64(s.min(86_400.0))
        } else {
            Duration::ZERO
        }
    }

    /// Every row: operation, seconds, source.
    pub fn rows() -> impl Iterator<Item = (&'static str, f64, &'static str)> {
        TABLE.iter().copied()
    }
}

/// One operation the lab ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceEvent {
    /// Host name (`ampere-1`, `bastion`, `lab`).
    pub host: String,
    /// Operation name, e.g. `ssh:pvecm add`, `api:POST /nodes/{node}/qemu`, `task:qmstart`.
    pub op: String,
    /// Start, in milliseconds since the lab started.
    pub start_ms: f64,
    /// End, in milliseconds since the lab started.
    pub end_ms: f64,
    /// Whether it succeeded.
    pub ok: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_cites_a_public_source_or_says_estimate() {
        // The source column reaches users; a research note's section is nothing they can open.
        for (op, secs, source) in LatencyTable::rows() {
            assert!(secs.is_finite() && secs >= 0.0, "{op}");
            assert!(
                !source.contains('§') && !source.contains("research"),
                "{op}: {source}"
            );
            assert!(
                source.starts_with("ESTIMATE")
                    || source.contains("https://")
                    || source.contains(".pm")
                    || source.starts_with("ceph CLI"),
                "{op}: name the upstream page or file, or say ESTIMATE: {source}"
            );
        }
    }
}
