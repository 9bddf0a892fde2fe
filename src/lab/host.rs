//! Things that happen to a whole host: applying a scripted fault to an operation, and reboots.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::faults::FaultAction;
use super::world::VmStatus;
use super::LabInner;

/// Which host an operation runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostRef {
    /// A Proxmox host (index into `LabInner::hosts`).
    Node(usize),
    /// The bastion.
    Bastion,
}

impl HostRef {
    pub(crate) fn name(self, lab: &LabInner) -> String {
        match self {
            HostRef::Node(i) => lab.hosts.get(i).map(|h| h.name.clone()).unwrap_or_default(),
            HostRef::Bastion => "bastion".into(),
        }
    }
}

/// What the operation should do after the fault check.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Run normally.
    Proceed,
    /// Fail with this message; `code` is an exit code (SSH) or HTTP status (API), if given.
    Fail(String, Option<u16>),
    /// The connection is gone (dropped, rebooting, or the lab stopped).
    Dropped,
}

/// Checks the fault plan for `op` on `host` and carries out what fires.
pub(crate) async fn apply_fault(
    lab: &Arc<LabInner>,
    host: HostRef,
    op: &str,
    conn: &CancellationToken,
) -> Outcome {
    let name = host.name(lab);
    match lab.faults.check(&name, op) {
        None => Outcome::Proceed,
        Some(FaultAction::Error { message, code }) => Outcome::Fail(message, code),
        Some(FaultAction::Hang) => {
            tracing::info!(host = %name, op, "lab fault: hang");
            lab.faults.hang(&lab.cancel).await;
            if lab.cancel.is_cancelled() || conn.is_cancelled() {
                Outcome::Dropped
            } else {
                Outcome::Proceed
            }
        }
        Some(FaultAction::Drop) => {
            tracing::info!(host = %name, op, "lab fault: drop connection");
            conn.cancel();
            Outcome::Dropped
        }
        Some(FaultAction::Reboot) => {
            tracing::info!(host = %name, op, "lab fault: reboot");
            reboot(lab.clone(), host);
            Outcome::Dropped
        }
    }
}

/// Reboots `host`: every connection drops, running VMs stop (their guests halt), the node is
/// offline for `host.reboot` (scaled), then VMs with `onboot: 1` start again.
pub(crate) fn reboot(lab: Arc<LabInner>, host: HostRef) {
    let start = Instant::now();
    match host {
        HostRef::Bastion => {
            if let Some(b) = &lab.bastion {
                b.drop_connections(&lab.cancel);
            }
            lab.record("bastion", "host:reboot", start, true);
        }
        HostRef::Node(i) => {
            let Some(spec) = lab.hosts.get(i) else { return };
            let name = spec.name.clone();
            let halted: Vec<(u32, bool)> = {
                let mut w = lab.world();
                let Some(n) = w.nodes.get_mut(i) else { return };
                n.online = false;
                let mut v = Vec::new();
                for vm in n.vms.values_mut() {
                    if vm.status == VmStatus::Running {
                        let onboot = vm.config.get("onboot").map(|s| s == "1").unwrap_or(false);
                        v.push((vm.vmid, onboot));
                        vm.status = VmStatus::Stopped;
                        vm.guest = false;
                        vm.lock = None;
                    }
                }
                // Ceph notes when its daemons went down, for the `(since …)` ages.
                super::pveceph::observe_all(&mut w);
                v
            };
            spec.drop_connections(&lab.cancel);
            let lab2 = lab.clone();
            lab.tracker.spawn(async move {
                for (vmid, _) in &halted {
                    lab2.launcher.halt(&name, *vmid).await;
                }
                lab2.pause("host.reboot", 1.0).await;
                if lab2.cancel.is_cancelled() {
                    return;
                }
                {
                    let mut w = lab2.world();
                    if let Some(n) = w.nodes.get_mut(i) {
                        n.online = true;
                        n.boot_epoch = super::world::now_secs();
                        n.bootid = super::keys::random_u64();
                        // Enabled units start: pve-cluster, and corosync when its config is
                        // there; a `pmxcfs -l` or a stopped unit does not survive a reboot.
                        n.pmxcfs = super::world::Pmxcfs::Service;
                        n.corosync = n.etc_corosync.contains("corosync.conf");
                    }
                    super::pveceph::node_booted(&mut w, i);
                    super::pveceph::observe_all(&mut w);
                }
                lab2.record(&name, "host:reboot", start, true);
                for (vmid, restart) in halted {
                    if restart {
                        super::api::start_vm_after_boot(&lab2, i, vmid).await;
                    }
                }
            });
        }
    }
}
