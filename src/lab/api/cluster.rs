//! `/cluster` and `/nodes` reads: status, nextid, resources, join info, Ceph status
//! (`pve-manager` `PVE/API2/Cluster.pm`, `pve-cluster` `API2/ClusterConfig.pm`).

#[allow(unused_imports)]
use super::*;

pub(super) fn cluster_status(lab: &LabInner, node: usize) -> ApiResult {
    let w = lab.world();
    let mut out = Vec::new();
    let me = w.nodes.get(node).ok_or_else(|| die("no such node"))?;
    match me.cluster {
        None => out.push(json!({"type": "node", "id": format!("node/{}", me.name), "name": me.name, "ip": me.ip.to_string(), "nodeid": 0, "local": 1, "online": 1, "level": ""})),
        Some(c) => {
            let cl = w.clusters.get(c).ok_or_else(|| die("no cluster"))?;
            let q = w.quorum(c).ok_or_else(|| die("no cluster"))?;
            out.push(json!({"type": "cluster", "id": "cluster", "name": cl.name, "nodes": cl.members.len(), "quorate": u8::from(q.quorate), "version": cl.config_version}));
            for mb in &cl.members {
                let Some(n) = w.nodes.get(mb.node) else { continue };
                let online = w.present(c, mb);
                out.push(json!({"type": "node", "id": format!("node/{}", n.name), "name": n.name, "ip": n.ip.to_string(), "nodeid": mb.nodeid, "local": u8::from(mb.node == node), "online": u8::from(online), "level": ""}));
            }
        }
    }
    Ok(Value::Array(out))
}

pub(super) fn nextid(lab: &LabInner, node: usize, p: &BTreeMap<String, String>) -> ApiResult {
    let w = lab.world();
    if let Some(v) = p.get("vmid") {
        let id = parse_vmid(v)?;
        if w.vmids(node).contains_key(&id) {
            return Err(param_err("vmid", format!("VM {id} already exists")));
        }
        return Ok(json!(id.to_string()));
    }
    // A string, as the real API returns it (bpg `types.CustomInt`, research §C.1).
    Ok(json!(w.next_vmid(node).to_string()))
}

pub(super) fn vm_resource(n: &world::Node, vm: &Vm) -> Value {
    let mem = mem_bytes(vm);
    json!({
        "id": format!("qemu/{}", vm.vmid), "type": "qemu", "vmid": vm.vmid, "node": n.name, "name": vm.name(),
        "status": status_str(vm), "maxmem": mem, "maxdisk": disk_bytes(vm), "maxcpu": cpus(vm),
        "uptime": uptime(vm), "template": 0, "mem": if vm.status == VmStatus::Running { mem / 4 } else { 0 },
        "cpu": 0, "disk": 0, "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0
    })
}

pub(super) fn resources(lab: &LabInner, node: usize, p: &BTreeMap<String, String>) -> ApiResult {
    let w = lab.world();
    let kind = p.get("type").map(String::as_str);
    if let Some(k) = kind {
        if !["vm", "node", "storage", "sdn", "pool"].contains(&k) {
            return Err(param_err(
                "type",
                format!(
                    "value '{k}' does not have a value in the enumeration 'vm, storage, node, sdn'"
                ),
            ));
        }
    }
    let mut out = Vec::new();
    for i in w.peers(node) {
        let Some(n) = w.nodes.get(i) else { continue };
        if kind.is_none() || kind == Some("vm") {
            for vm in n.vms.values() {
                out.push(vm_resource(n, vm));
            }
        }
        if kind.is_none() || kind == Some("node") {
            out.push(json!({"id": format!("node/{}", n.name), "type": "node", "node": n.name, "status": if n.online { "online" } else { "offline" }, "maxcpu": n.ocpus, "maxmem": u64::from(n.memory_gb) << 30, "cpu": 0.01, "mem": 1u64 << 30, "uptime": world::now_secs().saturating_sub(n.boot_epoch), "level": ""}));
        }
        if kind.is_none() || kind == Some("storage") {
            for (sid, ty, content, shared) in w.storages(i) {
                out.push(json!({"id": format!("storage/{}/{}", n.name, sid), "type": "storage", "storage": sid, "node": n.name, "status": "available", "plugintype": ty, "content": content.join(","), "shared": u8::from(shared), "maxdisk": 40u64 << 30, "disk": 4u64 << 30}));
            }
        }
    }
    Ok(Value::Array(out))
}

pub(super) fn config_join(lab: &LabInner, node: usize) -> ApiResult {
    let w = lab.world();
    let c = w.cluster_of(node).ok_or_else(|| {
        ApiError::Status(
            424,
            "node is not in a cluster, no join info available!".into(),
        )
    })?;
    let nodelist: Vec<Value> = c
        .members
        .iter()
        .filter_map(|m| {
            let n = w.nodes.get(m.node)?;
            Some(json!({"name": n.name, "nodeid": m.nodeid.to_string(), "quorum_votes": m.votes.to_string(), "ring0_addr": n.ip.to_string(), "pve_addr": n.ip.to_string(), "pve_fp": n.tls_fingerprint}))
        })
        .collect();
    let me = w
        .nodes
        .get(node)
        .map(|n| n.name.clone())
        .unwrap_or_default();
    Ok(json!({
        "nodelist": nodelist,
        "preferred_node": me,
        "totem": {"cluster_name": c.name, "config_version": c.config_version.to_string(), "ip_version": "ipv4-6", "link_mode": "passive", "secauth": "on", "version": "2", "interface": {"0": {"linknumber": "0"}}},
        "config_digest": keys::sha256_colon_hex(format!("{}{}", c.name, c.config_version).as_bytes()).replace(':', "").to_lowercase()[..40].to_string()
    }))
}

pub(super) fn config_nodes(lab: &LabInner, node: usize) -> ApiResult {
    let w = lab.world();
    let c = w.cluster_of(node).ok_or_else(|| die("Error: Corosync config '/etc/pve/corosync.conf' does not exist - is this node part of a cluster?"))?;
    let v: Vec<Value> = c
        .members
        .iter()
        .filter_map(|m| {
            let n = w.nodes.get(m.node)?;
            Some(json!({"node": n.name, "name": n.name, "nodeid": m.nodeid.to_string(), "quorum_votes": m.votes.to_string(), "ring0_addr": n.ip.to_string()}))
        })
        .collect();
    Ok(Value::Array(v))
}

pub(super) fn ceph_status(lab: &LabInner, node: usize) -> ApiResult {
    let w = lab.world();
    let n = w.nodes.get(node).ok_or_else(|| die("no such node"))?;
    if n.ceph_release.is_none() {
        return Err(die("binary not installed: /usr/bin/ceph-mon"));
    }
    let c = super::super::pveceph::ceph_of(&w, node)
        .ok_or_else(|| die("pveceph configuration not initialized - missing '/etc/pve/ceph.conf', missing '/etc/pve/ceph'"))?;
    let view: Vec<(String, bool)> = w.nodes.iter().map(|n| (n.name.clone(), n.online)).collect();
    if c.quorum(&view).is_empty() {
        // librados cannot reach a monitor (Ceph/Tools.pm long_rados_timeout, research §F).
        return Err(die("got timeout"));
    }
    Ok(c.status_json(&view))
}

pub(super) fn nodes_list(lab: &LabInner, node: usize) -> ApiResult {
    let w = lab.world();
    let mut out = Vec::new();
    let members: Vec<usize> = match w.cluster_of(node) {
        Some(c) => c.members.iter().map(|m| m.node).collect(),
        None => vec![node],
    };
    for i in members {
        let Some(n) = w.nodes.get(i) else { continue };
        let online = match w.nodes.get(node).and_then(|me| me.cluster) {
            Some(c) => w
                .clusters
                .get(c)
                .is_some_and(|cl| cl.members.iter().any(|m| m.node == i && w.present(c, m))),
            None => n.online,
        };
        let mut e = json!({"node": n.name, "status": if online { "online" } else { "offline" }, "id": format!("node/{}", n.name), "type": "node", "level": "", "ssl_fingerprint": n.tls_fingerprint});
        if online {
            e["maxcpu"] = json!(n.ocpus);
            e["maxmem"] = json!(u64::from(n.memory_gb) << 30);
            e["mem"] = json!(1u64 << 30);
            e["cpu"] = json!(0.01);
            e["uptime"] = json!(world::now_secs().saturating_sub(n.boot_epoch));
            e["maxdisk"] = json!(40u64 << 30);
            e["disk"] = json!(4u64 << 30);
        }
        out.push(e);
    }
    Ok(Value::Array(out))
}

pub(super) fn node_status(lab: &LabInner, node: usize) -> ApiResult {
    let w = lab.world();
    let n = w.nodes.get(node).ok_or_else(|| die("no such node"))?;
    Ok(json!({
        "uptime": world::now_secs().saturating_sub(n.boot_epoch),
        "kversion": "Linux 6.17.2-1-pve #1 SMP PREEMPT_DYNAMIC PMX aarch64",
        "pveversion": format!("pve-manager/{}/{}", super::super::shell::PVE_VERSION, super::super::shell::PVE_REPOID),
        // `ProcFSTools.pm` `read_cpuinfo`: `hvm` is whether the flags name vmx or svm, which
        // an arm64 CPU never does (an empty string); `mhz` and `family` are regex captures.
        "cpuinfo": {"model": "Neoverse-N1", "cpus": n.ocpus, "cores": n.ocpus, "sockets": 1, "hvm": "", "flags": "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs", "user_hz": 100},
        "memory": {"total": u64::from(n.memory_gb) << 30, "used": 1u64 << 30, "free": (u64::from(n.memory_gb) << 30).saturating_sub(1 << 30)},
        "rootfs": {"total": 40u64 << 30, "used": 4u64 << 30, "avail": 36u64 << 30},
        "cpu": 0.01,
        "loadavg": ["0.05", "0.03", "0.01"],
        "current-kernel": {"machine": "aarch64", "release": "6.17.2-1-pve", "sysname": "Linux"},
        "boot-info": {"mode": "efi", "secureboot": 0}
    }))
}
