//! VM start, stop and destroy tasks, the aarch64 start rules, and guest boots from a
//! `cidata` ISO (`qemu-server` `QemuServer.pm`, `PCI.pm`, `OVMF.pm`; research §B.6, §C.4).

#[allow(unused_imports)]
use super::*;

/// Runs the fault check and latency of a step inside a task, recording it.
pub(super) async fn task_step(
    lab: &Arc<LabInner>,
    node: usize,
    step: &str,
    latency: &str,
    factor: f64,
) -> Outcome {
    let start = Instant::now();
    let never = CancellationToken::new();
    let outcome = apply_fault(lab, HostRef::Node(node), &format!("step:{step}"), &never).await;
    if outcome == Outcome::Proceed {
        lab.pause(latency, factor).await;
    }
    let host = lab
        .hosts
        .get(node)
        .map(|h| h.name.clone())
        .unwrap_or_default();
    lab.record(
        &host,
        &format!("step:{step}"),
        start,
        outcome == Outcome::Proceed,
    );
    outcome
}

/// Why a VM cannot start on this aarch64 host, checked in QemuServer.pm's order.
pub(super) fn start_problem(
    lab: &LabInner,
    w: &World,
    node: usize,
    vm: &Vm,
) -> Option<(String, Vec<String>)> {
    let kvm = vm
        .config
        .get("kvm")
        .map(|v| v != "0" && v != "no" && v != "false")
        .unwrap_or(true);
    if kvm && !lab.config.kvm {
        return Some(("KVM virtualisation configured, but not available. Either disable in VM configuration or enable in BIOS.".into(), vec![]));
    }
    for (k, v) in &vm.config {
        if is_drive(k) {
            if let Some((st, vol)) = drive_volume(v) {
                let volid = format!("{st}:{vol}");
                if !w
                    .nodes
                    .get(node)
                    .map(|n| n.volumes.contains_key(&volid))
                    .unwrap_or(false)
                {
                    return Some((format!("volume '{volid}' does not exist"), vec![]));
                }
            }
        }
    }
    let arch = vm
        .config
        .get("arch")
        .map(String::as_str)
        .unwrap_or("aarch64");
    if arch == "aarch64" {
        if vm.config.keys().any(|k| k.starts_with("ide")) {
            return Some(("aarch64 cannot use IDE devices".into(), vec![]));
        }
        if let Some(m) = vm.config.get("machine") {
            let ty = m
                .split(',')
                .next()
                .unwrap_or("")
                .trim_start_matches("type=");
            if !ty.is_empty() && !ty.starts_with("virt") {
                // QEMU's own refusal (qemu-system-aarch64 has no pc/q35 machines).
                return Some((
                    "start failed: QEMU exited with code 1".into(),
                    vec![
                        format!("kvm: -machine type={ty}: unsupported machine type"),
                        "Use -machine help to list supported machines".into(),
                    ],
                ));
            }
        }
    }
    None
}

/// [`task_step`] named `name` (step and latency) inside task `upid`: `true` to go on; else the
/// task has ended, with an injected failure's message (also logged when `log`) or
/// "interrupted by signal".
pub(super) async fn task_step_or_end(
    lab: &Arc<LabInner>,
    node: usize,
    name: &str,
    upid: &str,
    log: bool,
) -> bool {
    match task_step(lab, node, name, name, 1.0).await {
        Outcome::Proceed => true,
        Outcome::Fail(m, _) => {
            let mut w = lab.world();
            if log {
                w.task_log(upid, &m);
            }
            w.task_finish(upid, &m);
            false
        }
        Outcome::Dropped => {
            lab.world().task_finish(upid, "interrupted by signal");
            false
        }
    }
}

/// Starts `vmid` as a `qmstart` task; returns the UPID.
pub(crate) fn spawn_start(lab: &Arc<LabInner>, node: usize, vmid: u32, user: &str) -> ApiResult {
    let upid = {
        let mut w = lab.world();
        let running = w
            .nodes
            .get(node)
            .and_then(|n| n.vms.get(&vmid))
            .map(|v| v.status == VmStatus::Running)
            .unwrap_or(false);
        let upid = w.new_task(node, "qmstart", &vmid.to_string(), user);
        if running {
            w.task_finish(&upid, &format!("VM {vmid} already running"));
            return Ok(json!(upid));
        }
        upid
    };
    let lab2 = lab.clone();
    let upid2 = upid.clone();
    lab.tracker.spawn(async move {
        if !task_step_or_end(&lab2, node, "qm.start", &upid2, true).await {
            return;
        }
        run_start(&lab2, node, vmid, Some(&upid2)).await;
    });
    Ok(json!(upid))
}

/// Starts the VM when the host comes back from a reboot (`onboot: 1`).
pub(crate) async fn start_vm_after_boot(lab: &Arc<LabInner>, node: usize, vmid: u32) {
    let upid = lab
        .world()
        .new_task(node, "qmstart", &vmid.to_string(), "root@pam");
    run_start(lab, node, vmid, Some(&upid)).await;
}

pub(super) async fn run_start(lab: &Arc<LabInner>, node: usize, vmid: u32, upid: Option<&str>) {
    let (warn, boot) = {
        let mut w = lab.world();
        let Some(vm) = w.nodes.get(node).and_then(|n| n.vms.get(&vmid)).cloned() else {
            if let Some(u) = upid {
                w.task_finish(u, &format!("VM {vmid} does not exist"));
            }
            return;
        };
        if vm.status == VmStatus::Running {
            if let Some(u) = upid {
                w.task_finish(u, &format!("VM {vmid} already running"));
            }
            return;
        }
        if let Some((msg, log)) = start_problem(lab, &w, node, &vm) {
            if let Some(u) = upid {
                for l in log {
                    w.task_log(u, &l);
                }
                w.task_log(u, &msg);
                w.task_finish(u, &msg);
            }
            return;
        }
        let ovmf = vm.config.get("bios").map(|b| b == "ovmf").unwrap_or(false);
        let warn = ovmf && !vm.config.contains_key("efidisk0");
        let pid = w.alloc_pid(node);
        if let Some(v) = w.nodes.get_mut(node).and_then(|n| n.vms.get_mut(&vmid)) {
            v.status = VmStatus::Running;
            v.started_at = world::now_secs();
            v.pid = pid;
        }
        // Without OVMF an aarch64 `virt` machine has no firmware and never boots (research §0.2-2).
        let arch = vm
            .config
            .get("arch")
            .map(String::as_str)
            .unwrap_or("aarch64");
        let boot = if ovmf {
            find_cidata(&w, node, &vm).map(|files| (files, arch != "aarch64"))
        } else {
            None
        };
        (warn, boot)
    };
    if let Some(u) = upid {
        let mut w = lab.world();
        if warn {
            w.task_log(
                u,
                "WARN: no efidisk configured! Using temporary efivars disk.",
            );
            w.task_finish(u, "WARNINGS: 1");
        } else {
            w.task_finish(u, "OK");
        }
    }
    if let Some((files, cross)) = boot {
        let lab2 = lab.clone();
        lab.tracker
            .spawn(async move { boot_guest(lab2, node, vmid, files, cross).await });
    }
}

/// The `cidata` files of an ISO attached to the VM, if any (research §B.6).
pub(super) fn find_cidata(w: &World, node: usize, vm: &Vm) -> Option<iso9660::CidataFiles> {
    let n = w.nodes.get(node)?;
    for (k, v) in &vm.config {
        if !is_drive(k) {
            continue;
        }
        let Some((st, vol)) = drive_volume(v) else {
            continue;
        };
        let volid = format!("{st}:{vol}");
        let Some(volume) = n.volumes.get(&volid) else {
            continue;
        };
        let Some(data) = &volume.data else { continue };
        if let Ok(Some(files)) = iso9660::read_cidata(data) {
            return Some(files);
        }
    }
    None
}

pub(super) async fn boot_guest(
    lab: Arc<LabInner>,
    node: usize,
    vmid: u32,
    files: iso9660::CidataFiles,
    cross_arch: bool,
) {
    let start = Instant::now();
    let tcg = !lab.config.kvm || cross_arch;
    let factor = if cross_arch {
        super::super::latency::TCG_CROSS_ARCH_FACTOR
    } else if tcg {
        super::super::latency::TCG_FACTOR
    } else {
        1.0
    };
    let host = lab
        .hosts
        .get(node)
        .map(|h| h.name.clone())
        .unwrap_or_default();
    let never = CancellationToken::new();
    match apply_fault(&lab, HostRef::Node(node), "step:guest.boot", &never).await {
        Outcome::Proceed => {}
        _ => {
            lab.record(&host, "step:guest.boot", start, false);
            return;
        }
    }
    lab.pause("guest.boot", factor).await;
    let (still, name) = {
        let w = lab.world();
        let vm = w.nodes.get(node).and_then(|n| n.vms.get(&vmid));
        (
            vm.map(|v| v.status == VmStatus::Running && v.started_at > 0)
                .unwrap_or(false),
            vm.map(|v| v.name()).unwrap_or_default(),
        )
    };
    if !still || lab.cancel.is_cancelled() {
        lab.record(&host, "step:guest.boot", start, false);
        return;
    }
    let boot = GuestBoot {
        node: host.clone(),
        vmid,
        name,
        user_data: files.user_data,
        meta_data: files.meta_data,
        network_config: files.network_config,
        tcg,
    };
    let r = lab.launcher.boot(boot).await;
    if let Some(v) = lab
        .world()
        .nodes
        .get_mut(node)
        .and_then(|n| n.vms.get_mut(&vmid))
    {
        v.guest = r.is_ok();
    }
    if let Err(e) = &r {
        tracing::warn!(node = %host, vmid, "guest launcher: {e}");
    }
    lab.record(&host, "step:guest.boot", start, r.is_ok());
}

pub(super) fn spawn_stop(
    lab: &Arc<LabInner>,
    node: usize,
    vmid: u32,
    user: &str,
    kind: &str,
    restart: bool,
) -> String {
    let upid = lab.world().new_task(node, kind, &vmid.to_string(), user);
    let lab2 = lab.clone();
    let upid2 = upid.clone();
    lab.tracker.spawn(async move {
        if !task_step_or_end(&lab2, node, "qm.stop", &upid2, false).await {
            return;
        }
        halt(&lab2, node, vmid).await;
        lab2.world().task_finish(&upid2, "OK");
        if restart {
            run_start(&lab2, node, vmid, None).await;
        }
    });
    upid
}

pub(super) async fn halt(lab: &Arc<LabInner>, node: usize, vmid: u32) {
    let had_guest = {
        let mut w = lab.world();
        match w.nodes.get_mut(node).and_then(|n| n.vms.get_mut(&vmid)) {
            Some(v) => {
                v.status = VmStatus::Stopped;
                v.started_at = 0;
                std::mem::replace(&mut v.guest, false)
            }
            None => false,
        }
    };
    if had_guest {
        let name = lab
            .hosts
            .get(node)
            .map(|h| h.name.clone())
            .unwrap_or_default();
        lab.launcher.halt(&name, vmid).await;
    }
}

pub(super) fn qemu_destroy(lab: &Arc<LabInner>, node: usize, id: &str, user: &str) -> ApiResult {
    let vmid = vm_exists(lab, node, id)?;
    let upid = {
        let mut w = lab.world();
        let vm = vm_in(&w, node, vmid)?.clone();
        if vm.status == VmStatus::Running {
            return Err(die(format!("VM {vmid} is running - destroy failed")));
        }
        if let Some(l) = &vm.lock {
            return Err(die(format!("VM is locked ({l})")));
        }
        if vm
            .config
            .get("protection")
            .map(|v| v == "1")
            .unwrap_or(false)
        {
            return Err(die(format!(
                "can't remove VM {vmid} - protection mode enabled"
            )));
        }
        if let Some(v) = w.nodes.get_mut(node).and_then(|n| n.vms.get_mut(&vmid)) {
            v.lock = Some("destroyed".into());
        }
        w.new_task(node, "qmdestroy", &vmid.to_string(), user)
    };
    let lab2 = lab.clone();
    let upid2 = upid.clone();
    lab.tracker.spawn(async move {
        let outcome = task_step(&lab2, node, "qm.destroy", "qm.destroy", 1.0).await;
        let mut w = lab2.world();
        match outcome {
            Outcome::Proceed => {
                if let Some(n) = w.nodes.get_mut(node) {
                    n.vms.remove(&vmid);
                    let gone: Vec<String> = n
                        .volumes
                        .values()
                        .filter(|v| v.vmid == Some(vmid))
                        .map(|v| v.volid.clone())
                        .collect();
                    for g in &gone {
                        n.volumes.remove(g);
                    }
                    drop(w);
                    let mut w = lab2.world();
                    for g in gone {
                        w.task_log(
                            &upid2,
                            &format!(
                                "  Logical volume \"{}\" successfully removed.",
                                g.split(':').nth(1).unwrap_or("")
                            ),
                        );
                    }
                    w.task_finish(&upid2, "OK");
                    return;
                }
                w.task_finish(&upid2, "OK");
            }
            Outcome::Fail(m, _) => {
                if let Some(v) = w.nodes.get_mut(node).and_then(|n| n.vms.get_mut(&vmid)) {
                    v.lock = None;
                }
                w.task_finish(&upid2, &m);
            }
            Outcome::Dropped => w.task_finish(&upid2, "interrupted by signal"),
        }
    });
    Ok(json!(upid))
}
