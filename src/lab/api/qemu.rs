//! `/nodes/{node}/qemu`: parameters, drives, create, config, current status, actions and
//! disk resize (`proxmox/qemu-server` `src/PVE/API2/Qemu.pm`; `resize_vm` as of 9.2.6 answers
//! a UPID and does its checks in the `resize` worker).

#[allow(unused_imports)]
use super::*;

pub(super) fn parse_vmid(v: &str) -> Result<u32, ApiError> {
    let n: i64 = v
        .trim()
        .parse()
        .map_err(|_| param_err("vmid", format!("type check ('integer') failed - got '{v}'")))?;
    if n < 100 {
        return Err(param_err("vmid", "value must have a minimum value of 100"));
    }
    if n > 999_999_999 {
        return Err(param_err(
            "vmid",
            "value must have a maximum value of 999999999",
        ));
    }
    Ok(n as u32)
}

pub(super) fn vm_exists(lab: &LabInner, node: usize, id: &str) -> Result<u32, ApiError> {
    let vmid = parse_vmid(id)?;
    let w = lab.world();
    let name = w
        .nodes
        .get(node)
        .map(|n| n.name.clone())
        .unwrap_or_default();
    if !w
        .nodes
        .get(node)
        .map(|n| n.vms.contains_key(&vmid))
        .unwrap_or(false)
    {
        return Err(die(format!(
            "Configuration file 'nodes/{name}/qemu-server/{vmid}.conf' does not exist"
        )));
    }
    Ok(vmid)
}

pub(super) fn mem_bytes(vm: &Vm) -> u64 {
    vm.config
        .get("memory")
        .and_then(|m| {
            m.split(',')
                .next()
                .unwrap_or("")
                .trim_start_matches("current=")
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(512)
        << 20
}

pub(super) fn cpus(vm: &Vm) -> u64 {
    let c: u64 = vm
        .config
        .get("cores")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let s: u64 = vm
        .config
        .get("sockets")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    c * s
}

pub(super) fn disk_bytes(vm: &Vm) -> u64 {
    vm.config
        .iter()
        .filter(|(k, _)| is_drive(k) && !k.starts_with("efidisk"))
        .filter(|(_, v)| !v.contains("media=cdrom"))
        .filter_map(|(_, v)| {
            v.split(',')
                .find_map(|o| o.strip_prefix("size="))
                .and_then(size_bytes)
        })
        .next()
        .unwrap_or(0)
}

pub(super) fn size_bytes(s: &str) -> Option<u64> {
    let (n, mult) = match s.chars().last()? {
        'T' => (&s[..s.len() - 1], 1u64 << 40),
        'G' => (&s[..s.len() - 1], 1u64 << 30),
        'M' => (&s[..s.len() - 1], 1u64 << 20),
        'K' => (&s[..s.len() - 1], 1u64 << 10),
        _ => (s, 1),
    };
    n.parse::<f64>().ok().map(|v| (v * mult as f64) as u64)
}

pub(super) fn status_str(vm: &Vm) -> &'static str {
    match vm.status {
        VmStatus::Running => "running",
        VmStatus::Stopped => "stopped",
    }
}

pub(super) fn uptime(vm: &Vm) -> u64 {
    if vm.status == VmStatus::Running {
        world::now_secs().saturating_sub(vm.started_at)
    } else {
        0
    }
}

pub(super) fn qemu_list(lab: &LabInner, node: usize) -> ApiResult {
    let w = lab.world();
    let n = w.nodes.get(node).ok_or_else(|| die("no such node"))?;
    let v: Vec<Value> = n
        .vms
        .values()
        .map(|vm| {
            let mut e = json!({"vmid": vm.vmid, "name": vm.name(), "status": status_str(vm), "maxmem": mem_bytes(vm), "maxdisk": disk_bytes(vm), "cpus": cpus(vm), "uptime": uptime(vm), "mem": 0, "cpu": 0, "disk": 0, "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0});
            if vm.status == VmStatus::Running {
                e["pid"] = json!(vm.pid);
            }
            if let Some(l) = &vm.lock {
                e["lock"] = json!(l);
            }
            e
        })
        .collect();
    Ok(Value::Array(v))
}

/// `k` is `prefix` and a number no higher than `max`: `scsi5` for `("scsi", 30)`.
fn numbered(k: &str, prefix: &str, max: u32) -> bool {
    k.strip_prefix(prefix)
        .and_then(|n| n.parse::<u32>().ok())
        .map(|n| n <= max)
        .unwrap_or(false)
}

/// Drive keys: `ide0-3`, `sata0-5`, `scsi0-30`, `virtio0-15`, `efidisk0`, `tpmstate0`.
pub(super) fn is_drive(k: &str) -> bool {
    let check = |prefix: &str, max: u32| numbered(k, prefix, max);
    check("ide", 3)
        || check("sata", 5)
        || check("scsi", 30)
        || check("virtio", 15)
        || k == "efidisk0"
        || k == "tpmstate0"
}

/// Parameters of a config update that steer it rather than set an option.
const UPDATE_CONTROL: &[&str] = &[
    "digest",
    "delete",
    "revert",
    "skiplock",
    "force",
    "background_delay",
];

/// Parameters of `POST /nodes/{node}/qemu` that steer the create rather than set an option
/// (`Qemu.pm` `create_vm`).
const CREATE_CONTROL: &[(&str, schema::Ty)] = &[
    ("start", schema::Ty::Bool),
    ("pool", schema::Ty::Str(schema::Check::Any)),
    ("storage", schema::Ty::Str(schema::Check::Any)),
    ("unique", schema::Ty::Bool),
    ("force", schema::Ty::Bool),
    ("archive", schema::Ty::Str(schema::Check::Any)),
    ("bwlimit", schema::Ty::Int(Some(0), None)),
    ("live-restore", schema::Ty::Bool),
];

/// Parameters of a config update that steer it (`Qemu.pm` `update_vm_api`).
const UPDATE_CONTROL_TYPES: &[(&str, schema::Ty)] = &[
    ("digest", schema::Ty::Str(schema::Check::Any)),
    ("delete", schema::Ty::Str(schema::Check::Any)),
    ("revert", schema::Ty::Str(schema::Check::Any)),
    ("skiplock", schema::Ty::Bool),
    ("force", schema::Ty::Bool),
    ("background_delay", schema::Ty::Int(Some(1), Some(30))),
];

/// Options an API token (not `root@pam` itself) may not set (Qemu.pm
/// `check_vm_modify_config_perm`: "only root can set '$opt' config").
pub(super) fn root_only(k: &str) -> bool {
    matches!(k, "arch" | "args" | "hookscript" | "lock" | "affinity")
}

/// Storage and volume of a drive value: `local-lvm:32`, `local:iso/x.iso,media=cdrom`, `none`.
pub(super) fn drive_volume(value: &str) -> Option<(String, String)> {
    let first = value.split(',').next()?;
    if first == "none" || first == "cdrom" || first.is_empty() {
        return None;
    }
    let (st, vol) = first.split_once(':')?;
    Some((st.to_string(), vol.to_string()))
}

pub(super) fn drive_opt<'a>(value: &'a str, key: &str) -> Option<&'a str> {
    value
        .split(',')
        .skip(1)
        .find_map(|o| o.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// Proxmox's MAC prefix for generated addresses (BC:24:11, `PVE::Tools::random_ether_addr`).
pub(super) fn random_mac() -> String {
    let r = keys::random_u64().to_le_bytes();
    format!("BC:24:11:{:02X}:{:02X}:{:02X}", r[0], r[1], r[2])
}

/// `net0: virtio,bridge=vmbr0` gets a MAC (Network.pm `add_random_macs`).
pub(super) fn with_mac(value: &str) -> String {
    let mut parts: Vec<String> = value.split(',').map(str::to_string).collect();
    if let Some(first) = parts.first_mut() {
        let models = ["virtio", "e1000", "e1000e", "rtl8139", "vmxnet3"];
        if models.contains(&first.as_str()) {
            *first = format!("{first}={}", random_mac());
        } else if let Some(model) = first.strip_prefix("model=") {
            *first = format!("{model}={}", random_mac());
        }
    }
    parts.join(",")
}

/// Checks parameters against the API schema, as `RESTHandler.pm` `handle` does before the
/// handler runs: a failure is a 400 whatever the VM's state.
pub(super) fn validate_vm_params(
    p: &BTreeMap<String, String>,
    caller: Option<&Caller>,
    create: bool,
) -> Result<(), ApiError> {
    let mut errors = schema::Errors::new();
    let control = if create {
        CREATE_CONTROL
    } else {
        UPDATE_CONTROL_TYPES
    };
    for (k, v) in p {
        if k == "vmid" {
            continue;
        }
        let prop = control
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, ty)| schema::opt(*ty))
            .or_else(|| schema::qemu_option(k));
        match prop {
            Some(prop) => schema::check_prop(v, &prop, k, &mut errors),
            None => schema::add_error(
                &mut errors,
                k,
                "property is not defined in schema and the schema does not allow additional properties".into(),
            ),
        }
    }
    match p.get("vmid") {
        None if create => schema::add_error(
            &mut errors,
            "vmid",
            "property is missing and it is not optional".into(),
        ),
        Some(v) => {
            if let Err(ApiError::Param(e)) = parse_vmid(v) {
                errors.extend(e);
            }
        }
        None => {}
    }
    if !errors.is_empty() {
        return Err(ApiError::Param(errors));
    }
    if let Some(c) = caller {
        if c.token {
            if let Some(k) = p.keys().find(|k| root_only(k)) {
                return Err(die(format!("only root can set '{k}' config")));
            }
        }
    }
    Ok(())
}

/// Checks and allocates the drives in `conf` (Qemu.pm `$check_drive_param`, `create_disks`).
pub(super) fn allocate_drives(
    w: &mut World,
    node: usize,
    vmid: u32,
    conf: &mut BTreeMap<String, String>,
) -> Result<(), ApiError> {
    let storages: Vec<(String, &'static str, Vec<String>, bool)> = w.storages(node);
    let keys_: Vec<String> = conf.keys().filter(|k| is_drive(k)).cloned().collect();
    for k in keys_ {
        let Some(value) = conf.get(&k).cloned() else {
            continue;
        };
        let Some((st, vol)) = drive_volume(&value) else {
            continue;
        };
        let Some((_, _, content, _)) = storages.iter().find(|(s, ..)| *s == st) else {
            return Err(die(format!("storage '{st}' does not exist")));
        };
        let cdrom = value.contains("media=cdrom");
        let is_new = !cdrom && vol.parse::<f64>().is_ok();
        if let Some(src) = drive_opt(&value, "import-from") {
            let src_ok = w
                .nodes
                .get(node)
                .and_then(|n| n.volumes.get(src))
                .map(|v| v.content.clone());
            match src_ok {
                None => return Err(die(format!("volume {src} does not exist"))),
                Some(ct) if ct != "images" && ct != "import" => {
                    return Err(param_err(
                        &k,
                        format!("{src} has wrong type '{ct}' - needs to be 'images' or 'import'"),
                    ));
                }
                _ => {}
            }
        }
        if is_new || vol == "cloudinit" {
            if !content.iter().any(|c| c == "images") {
                return Err(param_err(
                    "storage",
                    format!("storage '{st}' does not support vm images"),
                ));
            }
            let n = w.nodes.get_mut(node).ok_or_else(|| die("no such node"))?;
            let name = if vol == "cloudinit" {
                format!("vm-{vmid}-cloudinit")
            } else {
                (0..)
                    .map(|i| format!("vm-{vmid}-disk-{i}"))
                    .find(|nm| !n.volumes.contains_key(&format!("{st}:{nm}")))
                    .unwrap_or_default()
            };
            let gb: f64 = vol.parse().unwrap_or(0.004);
            let size = if k == "efidisk0" || vol == "cloudinit" {
                4 << 20
            } else {
                (gb * (1u64 << 30) as f64) as u64
            };
            let volid = format!("{st}:{name}");
            n.volumes.insert(
                volid.clone(),
                Volume {
                    volid: volid.clone(),
                    content: "images".into(),
                    format: "raw".into(),
                    size,
                    ctime: world::now_secs(),
                    data: None,
                    vmid: Some(vmid),
                },
            );
            let rest: Vec<&str> = value
                .split(',')
                .skip(1)
                .filter(|o| !o.starts_with("import-from="))
                .collect();
            let size_s = if k == "efidisk0" || vol == "cloudinit" {
                "4M".to_string()
            } else {
                format!("{}G", gb)
            };
            let mut nv = volid.clone();
            if vol == "cloudinit" {
                nv.push_str(",media=cdrom");
            }
            for o in rest {
                nv.push(',');
                nv.push_str(o);
            }
            if vol != "cloudinit" {
                nv.push_str(&format!(",size={size_s}"));
            }
            conf.insert(k.clone(), nv);
        } else {
            let volid = format!("{st}:{vol}");
            let exists = w
                .nodes
                .get(node)
                .map(|n| n.volumes.contains_key(&volid))
                .unwrap_or(false);
            if !exists {
                return Err(die(format!("volume '{volid}' does not exist")));
            }
            let ct = w
                .nodes
                .get(node)
                .and_then(|n| n.volumes.get(&volid))
                .map(|v| v.content.clone())
                .unwrap_or_default();
            if ct != "images" && ct != "iso" {
                return Err(param_err(&k, "content type needs to be 'images' or 'iso'"));
            }
        }
    }
    Ok(())
}

pub(super) fn qemu_create(
    lab: &Arc<LabInner>,
    node: usize,
    p: &BTreeMap<String, String>,
    caller: Option<&Caller>,
    user: &str,
) -> ApiResult {
    validate_vm_params(p, caller, true)?;
    let vmid = parse_vmid(p.get("vmid").map(String::as_str).unwrap_or(""))?;
    let mut conf: BTreeMap<String, String> = p
        .iter()
        .filter(|(k, _)| {
            ![
                "vmid", "start", "pool", "storage", "unique", "digest", "force", "skiplock",
            ]
            .contains(&k.as_str())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in conf.iter_mut() {
        if k.starts_with("net") {
            *v = with_mac(v);
        }
    }
    let start_after = p.get("start").map(|v| v == "1").unwrap_or(false);
    let upid = {
        let mut w = lab.world();
        if let Some(holder) = w.vmids(node).get(&vmid) {
            let holder = w
                .nodes
                .get(*holder)
                .map(|n| n.name.clone())
                .unwrap_or_default();
            return Err(die(format!(
                "unable to create VM {vmid} - VM {vmid} already exists on node '{holder}'"
            )));
        }
        if w.nodes
            .get(node)
            .map(|n| n.cluster.is_some())
            .unwrap_or(false)
            && !w.node_quorate(node)
        {
            return Err(die("cluster not ready - no quorum?"));
        }
        // Drives are checked before the worker starts.
        let mut probe = conf.clone();
        let snapshot: Vec<(String, Volume)> = w
            .nodes
            .get(node)
            .map(|n| n.volumes.clone().into_iter().collect())
            .unwrap_or_default();
        allocate_drives(&mut w, node, vmid, &mut probe)?;
        if let Some(n) = w.nodes.get_mut(node) {
            n.volumes = snapshot.into_iter().collect();
            n.vms.insert(
                vmid,
                Vm {
                    vmid,
                    config: BTreeMap::new(),
                    status: VmStatus::Stopped,
                    started_at: 0,
                    pid: 0,
                    lock: Some("create".into()),
                    guest: false,
                },
            );
        }
        w.new_task(node, "qmcreate", &vmid.to_string(), user)
    };
    let lab2 = lab.clone();
    let upid2 = upid.clone();
    lab.tracker.spawn(async move {
        let outcome = task_step(&lab2, node, "qm.create", "qm.create", 1.0).await;
        let result = match outcome {
            Outcome::Proceed => {
                let mut w = lab2.world();
                match allocate_drives(&mut w, node, vmid, &mut conf) {
                    Ok(()) => {
                        if !conf.contains_key("smbios1") {
                            conf.insert("smbios1".into(), format!("uuid={}", keys::uuid_v4()));
                        }
                        conf.insert(
                            "meta".into(),
                            format!("creation-qemu=10.0.2,ctime={}", world::now_secs()),
                        );
                        if !conf.contains_key("boot") {
                            let order: Vec<&String> = conf
                                .keys()
                                .filter(|k| is_drive(k) && *k != "efidisk0" && *k != "tpmstate0")
                                .chain(conf.keys().filter(|k| k.starts_with("net")))
                                .collect();
                            let order: Vec<String> = order.into_iter().cloned().collect();
                            conf.insert("boot".into(), format!("order={}", order.join(";")));
                        }
                        if let Some(vm) = w.nodes.get_mut(node).and_then(|n| n.vms.get_mut(&vmid)) {
                            vm.config = conf;
                            vm.lock = None;
                        }
                        Ok(())
                    }
                    Err(ApiError::Status(_, m)) => Err(m),
                    Err(ApiError::Param(e)) => Err(e
                        .into_iter()
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect::<Vec<_>>()
                        .join("; ")),
                }
            }
            Outcome::Fail(m, _) => Err(m),
            Outcome::Dropped => Err("interrupted by signal".into()),
        };
        let mut w = lab2.world();
        match result {
            Ok(()) => w.task_finish(&upid2, "OK"),
            Err(m) => {
                if let Some(n) = w.nodes.get_mut(node) {
                    n.vms.remove(&vmid);
                    n.volumes.retain(|_, v| v.vmid != Some(vmid));
                }
                w.task_log(&upid2, &format!("unable to create VM {vmid} - {m}"));
                w.task_finish(&upid2, &format!("unable to create VM {vmid} - {m}"));
                return;
            }
        }
        drop(w);
        if start_after {
            let _ = spawn_start(&lab2, node, vmid, "root@pam");
        }
    });
    Ok(json!(upid))
}

/// VM `vmid` on `node`, or "no such VM".
pub(super) fn vm_in(w: &World, node: usize, vmid: u32) -> Result<&Vm, ApiError> {
    w.nodes
        .get(node)
        .and_then(|n| n.vms.get(&vmid))
        .ok_or_else(|| die("no such VM"))
}

pub(super) fn qemu_config(lab: &LabInner, node: usize, id: &str) -> ApiResult {
    let vmid = vm_exists(lab, node, id)?;
    let w = lab.world();
    let vm = vm_in(&w, node, vmid)?;
    let mut obj = serde_json::Map::new();
    for (k, v) in &vm.config {
        // Typed by the schema, as `parse_vm_config` types them.
        obj.insert(k.clone(), schema::config_value(k, v));
    }
    if let Some(l) = &vm.lock {
        obj.insert("lock".into(), json!(l));
    }
    obj.insert("digest".into(), json!(config_digest(vm)));
    Ok(Value::Object(obj))
}

pub(super) fn config_digest(vm: &Vm) -> String {
    let text: String = vm
        .config
        .iter()
        .map(|(k, v)| format!("{k}: {v}\n"))
        .collect();
    keys::sha256_colon_hex(text.as_bytes())
        .replace(':', "")
        .to_lowercase()[..40]
        .to_string()
}

#[allow(clippy::too_many_arguments)]
pub(super) fn qemu_update(
    lab: &Arc<LabInner>,
    node: usize,
    id: &str,
    p: &BTreeMap<String, String>,
    caller: Option<&Caller>,
    user: &str,
    is_async: bool,
) -> ApiResult {
    validate_vm_params(p, caller, false)?;
    if p.get("vmid").is_some_and(|v| v.trim() != id) {
        // HTTPServer.pm `rest_handler`: a body parameter that contradicts the URI.
        return Err(ApiError::Status(
            400,
            "duplicate parameter (already defined in URI) with conflicting values!".into(),
        ));
    }
    let vmid = vm_exists(lab, node, id)?;
    let mut w = lab.world();
    let vm = vm_in(&w, node, vmid)?.clone();
    if let Some(l) = &vm.lock {
        if p.get("skiplock").map(String::as_str) != Some("1") {
            return Err(die(format!("VM is locked ({l})")));
        }
    }
    if let Some(d) = p.get("digest") {
        if *d != config_digest(&vm) {
            return Err(die(
                "detected modified configuration - file changed by other user? Try again.",
            ));
        }
    }
    let mut conf = vm.config.clone();
    let mut upd: BTreeMap<String, String> = p
        .iter()
        .filter(|(k, _)| !UPDATE_CONTROL.contains(&k.as_str()))
        .map(|(k, v)| {
            (
                k.clone(),
                if k.starts_with("net") && !v.contains(':') {
                    with_mac(v)
                } else {
                    v.clone()
                },
            )
        })
        .collect();
    allocate_drives(&mut w, node, vmid, &mut upd)?;
    for (k, v) in upd {
        conf.insert(k, v);
    }
    if let Some(del) = p.get("delete") {
        for k in del.split([',', ';', ' ']).filter(|s| !s.is_empty()) {
            conf.remove(k);
        }
    }
    if let Some(v) = w.nodes.get_mut(node).and_then(|n| n.vms.get_mut(&vmid)) {
        v.config = conf;
    }
    if is_async {
        let upid = w.new_task(node, "qmconfig", &vmid.to_string(), user);
        w.task_finish(&upid, "OK");
        Ok(json!(upid))
    } else {
        Ok(Value::Null)
    }
}

pub(super) fn qemu_current(lab: &LabInner, node: usize, id: &str) -> ApiResult {
    let vmid = vm_exists(lab, node, id)?;
    let w = lab.world();
    let vm = vm_in(&w, node, vmid)?;
    let agent = vm
        .config
        .get("agent")
        .map(|a| a.starts_with('1') || a.contains("enabled=1"))
        .unwrap_or(false);
    let mut v = json!({
        "vmid": vmid, "name": vm.name(), "status": status_str(vm), "qmpstatus": status_str(vm), "cpus": cpus(vm),
        "maxmem": mem_bytes(vm), "maxdisk": disk_bytes(vm), "uptime": uptime(vm),
        "ha": {"managed": 0}, "cpu": 0, "mem": 0, "disk": 0, "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0
    });
    // `Qemu.pm` `vm_status` sets `agent => 1` only when the agent is enabled.
    if agent {
        v["agent"] = json!(1);
    }
    if vm.status == VmStatus::Running {
        v["pid"] = json!(vm.pid);
        v["running-machine"] = json!("virt-10.0+pve0");
        v["running-qemu"] = json!("10.0.2");
    }
    if let Some(l) = &vm.lock {
        v["lock"] = json!(l);
    }
    Ok(v)
}

pub(super) fn qemu_action(
    lab: &Arc<LabInner>,
    node: usize,
    id: &str,
    action: &str,
    user: &str,
    req: &Req,
    rel: &str,
) -> ApiResult {
    let vmid = vm_exists(lab, node, id)?;
    let (running, lock) = {
        let w = lab.world();
        let vm = vm_in(&w, node, vmid)?;
        (vm.status == VmStatus::Running, vm.lock.clone())
    };
    if let Some(l) = lock {
        return Err(die(format!("VM is locked ({l})")));
    }
    match action {
        "start" => spawn_start(lab, node, vmid, user),
        "stop" | "shutdown" | "reboot" | "reset" => {
            if !running {
                return Err(die(format!("VM {vmid} not running")));
            }
            // The task type is `qm` and the action; reboot and reset start the VM again.
            let kind = format!("qm{action}");
            let restart = matches!(action, "reboot" | "reset");
            Ok(json!(spawn_stop(lab, node, vmid, user, &kind, restart)))
        }
        _ => Err(not_implemented(req, rel)),
    }
}

/// `disk` of `resize_vm`: `PVE::QemuServer::Drive::valid_drive_names`, in its order (the
/// enumeration message lists them so).
#[rustfmt::skip]
const DRIVE_NAMES: &[&str] = &[
    "ide0", "ide1", "ide2", "ide3", "scsi0", "scsi1", "scsi2", "scsi3", "scsi4", "scsi5", "scsi6",
    "scsi7", "scsi8", "scsi9", "scsi10", "scsi11", "scsi12", "scsi13", "scsi14", "scsi15",
    "scsi16", "scsi17", "scsi18", "scsi19", "scsi20", "scsi21", "scsi22", "scsi23", "scsi24",
    "scsi25", "scsi26", "scsi27", "scsi28", "scsi29", "scsi30", "virtio0", "virtio1", "virtio2",
    "virtio3", "virtio4", "virtio5", "virtio6", "virtio7", "virtio8", "virtio9", "virtio10",
    "virtio11", "virtio12", "virtio13", "virtio14", "virtio15", "sata0", "sata1", "sata2", "sata3",
    "sata4", "sata5", "efidisk0", "tpmstate0",
];

/// `size` of `resize_vm`: the pattern `\+?\d+(\.\d+)?[KMGT]?`, anchored as `check_prop`
/// anchors every pattern (`m/^$pattern$/`). Returns the sign, the number and the unit.
fn resize_size(v: &str) -> Option<(bool, f64, Option<char>)> {
    let (plus, rest) = match v.strip_prefix('+') {
        Some(r) => (true, r),
        None => (false, v),
    };
    let (num, unit) = match rest.chars().last() {
        Some(u @ ('K' | 'M' | 'G' | 'T')) => (&rest[..rest.len() - 1], Some(u)),
        _ => (rest, None),
    };
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (num, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    Some((plus, num.parse().ok()?, unit))
}

/// `PVE::JSONSchema::format_size`: the largest unit that divides the size exactly, as
/// `print_drive` writes a `disk-size`.
pub(super) fn format_size(size: u64) -> String {
    let mut n = size;
    for unit in ["K", "M", "G", "T"] {
        if !n.is_multiple_of(1024) {
            break;
        }
        n /= 1024;
        if unit == "T" || !n.is_multiple_of(1024) {
            return format!("{n}{unit}");
        }
    }
    n.to_string()
}

/// `PVE::QemuServer::print_drive` of a drive whose size changed: the volume first (the
/// format's default key), then every other option sorted by key
/// (`PVE::JSONSchema::print_property_string`).
fn print_drive(value: &str, size: u64) -> String {
    let mut parts = value.split(',');
    let file = parts.next().unwrap_or_default();
    let file = file
        .strip_prefix("file=")
        .or_else(|| file.strip_prefix("volume="))
        .unwrap_or(file);
    let mut opts: Vec<String> = parts
        .filter(|o| !o.is_empty() && !o.starts_with("size="))
        .map(str::to_string)
        .collect();
    opts.push(format!("size={}", format_size(size)));
    opts.sort_by(|a, b| {
        let key = |o: &String| o.split('=').next().unwrap_or_default().to_string();
        key(a).cmp(&key(b))
    });
    std::iter::once(file.to_string())
        .chain(opts)
        .collect::<Vec<_>>()
        .join(",")
}

/// `PVE::Storage::Plugin::parse_volume_id`: `STORAGE:NAME`, the storage ID matching
/// `[a-z][a-z0-9\-\_\.]*[a-z0-9]` (any case).
fn parse_volume_id(volid: &str) -> Option<(&str, &str)> {
    let (st, name) = volid.split_once(':')?;
    let b = st.as_bytes();
    let ok = b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
    (ok && !name.is_empty()).then_some((st, name))
}

/// Checks the parameters of `resize_vm` against its schema (`RESTHandler.pm` `handle`,
/// before the handler runs).
fn validate_resize(id: &str, p: &BTreeMap<String, String>) -> Result<(), ApiError> {
    let mut errors = schema::Errors::new();
    for (k, v) in p {
        match k.as_str() {
            "vmid" => {}
            "disk" => schema::check_prop(
                v,
                &schema::opt(schema::Ty::Str(schema::Check::Enum(DRIVE_NAMES))),
                k,
                &mut errors,
            ),
            "size" if resize_size(v).is_none() => schema::add_error(
                &mut errors,
                k,
                "value does not match the regex pattern".into(),
            ),
            "size" => {}
            "digest" if v.chars().count() > 40 => schema::add_error(
                &mut errors,
                k,
                "value may only be 40 characters long".into(),
            ),
            "digest" => {}
            "skiplock" => schema::check_prop(v, &schema::opt(schema::Ty::Bool), k, &mut errors),
            _ => schema::add_error(
                &mut errors,
                k,
                "property is not defined in schema and the schema does not allow additional properties".into(),
            ),
        }
    }
    for k in ["disk", "size"] {
        if !p.contains_key(k) {
            schema::add_error(
                &mut errors,
                k,
                "property is missing and it is not optional".into(),
            );
        }
    }
    if let Err(ApiError::Param(e)) = parse_vmid(id) {
        errors.extend(e);
    }
    if !errors.is_empty() {
        return Err(ApiError::Param(errors));
    }
    if p.get("vmid").is_some_and(|v| v.trim() != id) {
        return Err(ApiError::Status(
            400,
            "duplicate parameter (already defined in URI) with conflicting values!".into(),
        ));
    }
    Ok(())
}

/// What a resize asks for, once its parameters passed.
struct Resize {
    vmid: u32,
    disk: String,
    size: String,
    digest: Option<String>,
    skiplock: bool,
}

/// `PUT /nodes/{node}/qemu/{vmid}/resize` (`Qemu.pm` `resize_vm`, qemu-server 9.2.6): after the
/// schema check and "Only root may use this option." for `skiplock` from anyone but
/// `root@pam`, the handler forks a `resize` worker at once and answers its UPID; every other
/// check runs inside the worker, so its failures are the task's exit status.
pub(super) fn qemu_resize(
    lab: &Arc<LabInner>,
    node: usize,
    id: &str,
    p: &BTreeMap<String, String>,
    user: &str,
) -> ApiResult {
    validate_resize(id, p)?;
    let skiplock = p
        .get("skiplock")
        .and_then(|v| schema::parse_bool(v))
        .unwrap_or(false);
    if skiplock && user != "root@pam" {
        return Err(param_err("skiplock", "Only root may use this option."));
    }
    let r = Resize {
        vmid: parse_vmid(id)?,
        disk: p.get("disk").cloned().unwrap_or_default(),
        size: p.get("size").cloned().unwrap_or_default(),
        digest: p.get("digest").filter(|d| !d.is_empty()).cloned(),
        skiplock,
    };
    let upid = lab
        .world()
        .new_task(node, "resize", &r.vmid.to_string(), user);
    let lab2 = lab.clone();
    let upid2 = upid.clone();
    lab.tracker.spawn(async move {
        let outcome = task_step(&lab2, node, "qm.resize", "qm.resize", 1.0).await;
        let mut w = lab2.world();
        match outcome {
            Outcome::Proceed => match resize_now(&mut w, node, &r) {
                Ok(()) => w.task_finish(&upid2, "OK"),
                Err(m) => w.task_finish(&upid2, &m),
            },
            Outcome::Fail(m, _) => w.task_finish(&upid2, &m),
            Outcome::Dropped => w.task_finish(&upid2, "interrupted by signal"),
        }
    });
    Ok(json!(upid))
}

/// `resize_vm`'s `$updatefn`, under the config lock, in its order: load the config, the
/// digest, the lock, the drive, its volume, "you can't resize a cdrom", the volume's size;
/// then grow the volume and write `size=` into the drive, or refuse to shrink. Asking for
/// the current size changes nothing.
fn resize_now(w: &mut World, node: usize, r: &Resize) -> Result<(), String> {
    let vmid = r.vmid;
    let n = w.nodes.get(node).ok_or("no such node")?;
    let name = n.name.clone();
    let storages: Vec<String> = w.storages(node).into_iter().map(|s| s.0).collect();
    let n = w.nodes.get(node).ok_or("no such node")?;
    let vm = n.vms.get(&vmid).ok_or_else(|| {
        format!("Configuration file 'nodes/{name}/qemu-server/{vmid}.conf' does not exist")
    })?;
    if r.digest.as_ref().is_some_and(|d| *d != config_digest(vm)) {
        return Err("checksum mismatch (file change by other user?)".into());
    }
    if let (Some(l), false) = (&vm.lock, r.skiplock) {
        return Err(format!("VM is locked ({l})"));
    }
    let disk = r.disk.as_str();
    let value = vm
        .config
        .get(disk)
        .cloned()
        .ok_or_else(|| format!("disk '{disk}' does not exist"))?;
    let first = value.split(',').next().unwrap_or_default();
    let volid = first
        .strip_prefix("file=")
        .or_else(|| first.strip_prefix("volume="))
        .unwrap_or(first)
        .to_string();
    // `PVE::Storage::parse_volname` of the drive's file, before the cdrom check.
    let (storeid, _) =
        parse_volume_id(&volid).ok_or_else(|| format!("unable to parse volume ID '{volid}'"))?;
    if !storages.iter().any(|s| s == storeid) {
        return Err(format!("storage '{storeid}' does not exist"));
    }
    if drive_opt(&value, "media") == Some("cdrom") {
        return Err("you can't resize a cdrom".into());
    }
    let current = n
        .volumes
        .get(&volid)
        .map(|v| v.size)
        .ok_or_else(|| format!("Could not determine current size of volume '{volid}'"))?;
    let (plus, number, unit) = resize_size(&r.size).ok_or_else(|| "internal error".to_string())?;
    let mult = match unit {
        Some('K') => 1u64 << 10,
        Some('M') => 1 << 20,
        Some('G') => 1 << 30,
        Some('T') => 1 << 40,
        _ => 1,
    };
    let mut wanted = number * mult as f64;
    if plus {
        wanted += current as f64;
    }
    let wanted = wanted.trunc() as u64;
    if wanted < current {
        return Err("shrinking disks is not supported".into());
    }
    if wanted == current {
        return Ok(());
    }
    let n = w.nodes.get_mut(node).ok_or("no such node")?;
    if let Some(v) = n.volumes.get_mut(&volid) {
        v.size = wanted;
    }
    if let Some(vm) = n.vms.get_mut(&vmid) {
        vm.config
            .insert(disk.to_string(), print_drive(&value, wanted));
    }
    Ok(())
}
