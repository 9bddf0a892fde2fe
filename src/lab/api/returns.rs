//! What each route of the lab's Proxmox VE API returns, field by field: the specification the
//! fidelity walk (`fidelity.rs`) checks every answer against.

use super::schema::{qemu_option, Ty};

/// The JSON type a returned field has on the wire. Perl's JSON encoder writes a number only
/// for a value the handler computed as one (`+ 0`, `int()`, `hex()`, a literal), so these
/// follow each handler's code, not only its `returns` schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Json {
    /// A JSON number without a fraction (schema `integer`, and `boolean` as 0/1).
    Int,
    /// Any JSON number (schema `number`).
    Num,
    /// A JSON string.
    Str,
    /// An object whose members are declared as `FIELD.MEMBER`.
    Obj,
    /// An array of strings.
    StrList,
    /// An array of objects whose members are declared as `FIELD[].MEMBER`.
    ObjList,
    /// Anything: raw output of another daemon (Ceph's JSON) below this field.
    Raw,
    /// A qemu config value: typed by [`qemu_option`].
    Config,
    /// `null` (a handler that returns nothing).
    Null,
}

/// The fields an endpoint's `data` carries (every element's, for a list). A field not
/// declared here fails the fidelity walk; a declared one may be absent.
pub(crate) struct Returns {
    /// `METHOD /path/{param}` as the lab's route templates spell it.
    pub(crate) route: &'static str,
    /// The data is a bare value of this type (no fields).
    pub(crate) scalar: Option<Json>,
    /// The data is a list of objects with these fields.
    pub(crate) list: bool,
    pub(crate) fields: &'static [(&'static str, Json)],
}

use Json::{Config, Int, Num, Obj, ObjList, Raw, Str, StrList};

const fn obj(route: &'static str, fields: &'static [(&'static str, Json)]) -> Returns {
    Returns {
        route,
        scalar: None,
        list: false,
        fields,
    }
}

const fn list(route: &'static str, fields: &'static [(&'static str, Json)]) -> Returns {
    Returns {
        route,
        scalar: None,
        list: true,
        fields,
    }
}

const fn scalar(route: &'static str, ty: Json) -> Returns {
    Returns {
        route,
        scalar: Some(ty),
        list: false,
        fields: &[],
    }
}

const VERSION: &[(&str, Json)] = &[("version", Str), ("release", Str), ("repoid", Str)];

const TASK: &[(&str, Json)] = &[
    ("upid", Str),
    ("node", Str),
    ("pid", Int),
    ("pstart", Int),
    ("starttime", Int),
    ("endtime", Int),
    ("type", Str),
    ("id", Str),
    ("user", Str),
    ("tokenid", Str),
    ("status", Str),
    ("exitstatus", Str),
];

const CEPH_STATUS: &[(&str, Json)] = &[
    ("fsid", Str),
    ("health", Raw),
    ("election_epoch", Int),
    ("quorum", Raw),
    ("quorum_names", Raw),
    ("quorum_age", Int),
    ("monmap", Raw),
    ("osdmap", Raw),
    ("pgmap", Raw),
    ("fsmap", Raw),
    ("mgrmap", Raw),
    ("servicemap", Raw),
    ("progress_events", Raw),
];

/// What every route the lab serves returns, from the handlers in `pve-manager`
/// (`PVE/API2/Nodes.pm`, `Cluster.pm`, `Tasks.pm`, `API2Tools.pm`), `qemu-server`
/// (`API2/Qemu.pm`, `QemuServer.pm` `vmstatus`), `pve-storage` (`API2/Storage/Status.pm`,
/// `Content.pm`, `Config.pm`), `pve-cluster` (`API2/ClusterConfig.pm`: corosync.conf tokens
/// stay strings) and `pve-access-control` (`API2/AccessControl.pm`, `API2/User.pm`).
pub(crate) const RETURNS: &[Returns] = &[
    obj("GET /version", VERSION),
    obj("GET /nodes/{node}/version", VERSION),
    obj(
        "POST /access/ticket",
        &[
            ("ticket", Str),
            ("CSRFPreventionToken", Str),
            ("username", Str),
            ("clustername", Str),
            ("cap", Raw),
        ],
    ),
    list(
        "GET /access/domains",
        &[
            ("realm", Str),
            ("type", Str),
            ("comment", Str),
            ("tfa", Str),
        ],
    ),
    obj(
        "POST /access/users/{userid}/token/{tokenid}",
        &[
            ("full-tokenid", Str),
            ("value", Str),
            ("info", Obj),
            ("info.privsep", Int),
            ("info.expire", Int),
            ("info.comment", Str),
        ],
    ),
    list(
        "GET /cluster/status",
        &[
            ("type", Str),
            ("id", Str),
            ("name", Str),
            ("ip", Str),
            ("level", Str),
            ("nodeid", Int),
            ("local", Int),
            ("online", Int),
            ("nodes", Int),
            ("quorate", Int),
            ("version", Int),
        ],
    ),
    // `returns => { type => 'integer' }`, but the handler hands back the loop variable it
    // used as a hash key, which the encoder writes as a string (bpg's `types.CustomInt`
    // accepts both).
    scalar("GET /cluster/nextid", Str),
    list(
        "GET /cluster/resources",
        &[
            ("id", Str),
            ("type", Str),
            ("status", Str),
            ("name", Str),
            ("node", Str),
            ("storage", Str),
            ("plugintype", Str),
            ("content", Str),
            ("level", Str),
            ("lock", Str),
            ("tags", Str),
            ("vmid", Int),
            ("template", Int),
            ("shared", Int),
            ("mem", Int),
            ("maxmem", Int),
            ("disk", Int),
            ("maxdisk", Int),
            ("uptime", Int),
            ("netin", Int),
            ("netout", Int),
            ("diskread", Int),
            ("diskwrite", Int),
            ("cpu", Num),
            ("maxcpu", Num),
        ],
    ),
    obj(
        "GET /cluster/config/join",
        &[
            ("nodelist", ObjList),
            ("nodelist[].name", Str),
            ("nodelist[].nodeid", Str),
            ("nodelist[].quorum_votes", Str),
            ("nodelist[].ring0_addr", Str),
            ("nodelist[].pve_addr", Str),
            ("nodelist[].pve_fp", Str),
            ("preferred_node", Str),
            ("totem", Raw),
            ("config_digest", Str),
        ],
    ),
    scalar("GET /cluster/config/apiversion", Int),
    list(
        "GET /cluster/config/nodes",
        &[
            ("node", Str),
            ("name", Str),
            ("nodeid", Str),
            ("quorum_votes", Str),
            ("ring0_addr", Str),
        ],
    ),
    obj("GET /cluster/ceph/status", CEPH_STATUS),
    obj("GET /nodes/{node}/ceph/status", CEPH_STATUS),
    scalar("PUT /storage/{storage}", Json::Null),
    list(
        "GET /storage",
        &[
            ("storage", Str),
            ("type", Str),
            ("content", Str),
            ("digest", Str),
            ("path", Str),
            ("nodes", Str),
            ("shared", Int),
            ("disable", Int),
        ],
    ),
    list(
        "GET /nodes",
        &[
            ("node", Str),
            ("status", Str),
            ("id", Str),
            ("type", Str),
            ("level", Str),
            ("ssl_fingerprint", Str),
            ("uptime", Int),
            ("mem", Int),
            ("maxmem", Int),
            ("disk", Int),
            ("maxdisk", Int),
            ("maxcpu", Int),
            ("cpu", Num),
        ],
    ),
    obj(
        "GET /nodes/{node}/status",
        &[
            ("uptime", Int),
            ("loadavg", StrList),
            ("kversion", Str),
            ("pveversion", Str),
            ("cpu", Num),
            ("wait", Num),
            ("cpuinfo", Obj),
            ("cpuinfo.model", Str),
            ("cpuinfo.vendor", Str),
            ("cpuinfo.family", Str),
            ("cpuinfo.mhz", Str),
            ("cpuinfo.flags", Str),
            ("cpuinfo.hvm", Str),
            ("cpuinfo.cpus", Int),
            ("cpuinfo.cores", Int),
            ("cpuinfo.sockets", Int),
            ("cpuinfo.user_hz", Int),
            ("memory", Obj),
            ("memory.total", Int),
            ("memory.used", Int),
            ("memory.free", Int),
            ("memory.available", Int),
            ("swap", Obj),
            ("swap.total", Int),
            ("swap.used", Int),
            ("swap.free", Int),
            ("ksm", Obj),
            ("ksm.shared", Int),
            ("rootfs", Obj),
            ("rootfs.total", Int),
            ("rootfs.used", Int),
            ("rootfs.avail", Int),
            ("rootfs.free", Int),
            ("current-kernel", Obj),
            ("current-kernel.sysname", Str),
            ("current-kernel.release", Str),
            ("current-kernel.version", Str),
            ("current-kernel.machine", Str),
            ("boot-info", Obj),
            ("boot-info.mode", Str),
            ("boot-info.secureboot", Int),
        ],
    ),
    list(
        "GET /nodes/{node}/qemu",
        &[
            ("vmid", Int),
            ("name", Str),
            ("status", Str),
            ("lock", Str),
            ("tags", Str),
            ("pid", Int),
            ("cpus", Num),
            ("maxmem", Int),
            ("maxdisk", Int),
            ("mem", Int),
            ("disk", Int),
            ("uptime", Int),
            ("netin", Int),
            ("netout", Int),
            ("diskread", Int),
            ("diskwrite", Int),
            ("cpu", Num),
            ("template", Int),
            ("serial", Int),
        ],
    ),
    scalar("POST /nodes/{node}/qemu", Str),
    list("GET /nodes/{node}/qemu/{vmid}", &[("subdir", Str)]),
    scalar("DELETE /nodes/{node}/qemu/{vmid}", Str),
    obj("GET /nodes/{node}/qemu/{vmid}/config", &[("*", Config)]),
    scalar("POST /nodes/{node}/qemu/{vmid}/config", Str),
    // `resize_vm`: `returns => { type => 'string' }`, the UPID of its `resize` worker.
    scalar("PUT /nodes/{node}/qemu/{vmid}/resize", Str),
    list("GET /nodes/{node}/qemu/{vmid}/status", &[("subcmd", Str)]),
    obj(
        "GET /nodes/{node}/qemu/{vmid}/status/current",
        &[
            ("vmid", Int),
            ("name", Str),
            ("status", Str),
            ("qmpstatus", Str),
            ("lock", Str),
            ("tags", Str),
            ("running-machine", Str),
            ("running-qemu", Str),
            ("pid", Int),
            ("cpus", Num),
            ("maxmem", Int),
            ("maxdisk", Int),
            ("mem", Int),
            ("disk", Int),
            ("uptime", Int),
            ("netin", Int),
            ("netout", Int),
            ("diskread", Int),
            ("diskwrite", Int),
            ("cpu", Num),
            ("agent", Int),
            ("template", Int),
            ("ha", Obj),
            ("ha.managed", Int),
            ("ha.state", Str),
            ("ha.group", Str),
        ],
    ),
    scalar("POST /nodes/{node}/qemu/{vmid}/status/{action}", Str),
    list("GET /nodes/{node}/tasks", TASK),
    obj("GET /nodes/{node}/tasks/{upid}/status", TASK),
    list(
        "GET /nodes/{node}/tasks/{upid}/log",
        &[("n", Int), ("t", Str)],
    ),
    list("GET /nodes/{node}/tasks/{upid}", &[("name", Str)]),
    list(
        "GET /nodes/{node}/storage",
        &[
            ("storage", Str),
            ("type", Str),
            ("content", Str),
            ("active", Int),
            ("enabled", Int),
            ("shared", Int),
            ("total", Int),
            ("used", Int),
            ("avail", Int),
            ("used_fraction", Num),
        ],
    ),
    list("GET /nodes/{node}/storage/{storage}", &[("subdir", Str)]),
    list(
        "GET /nodes/{node}/storage/{storage}/content",
        &[
            ("volid", Str),
            ("content", Str),
            ("format", Str),
            ("notes", Str),
            ("parent", Str),
            ("size", Int),
            ("ctime", Int),
            ("vmid", Int),
            ("used", Int),
            ("protected", Int),
        ],
    ),
    obj(
        "GET /nodes/{node}/storage/{storage}/content/{volume}",
        &[
            ("path", Str),
            ("format", Str),
            ("notes", Str),
            ("size", Int),
            ("used", Int),
            ("protected", Int),
        ],
    ),
    scalar(
        "DELETE /nodes/{node}/storage/{storage}/content/{volume}",
        Str,
    ),
    scalar("POST /nodes/{node}/storage/{storage}/download-url", Str),
    scalar("POST /nodes/{node}/storage/{storage}/upload", Str),
];

/// The declaration for `route`.
pub(crate) fn returns(route: &str) -> Option<&'static Returns> {
    RETURNS.iter().find(|r| r.route == route)
}

fn json_is(ty: Json, v: &serde_json::Value) -> bool {
    match ty {
        Json::Int => v.as_i64().is_some() || v.as_u64().is_some(),
        Json::Num => v.is_number(),
        Json::Str => v.is_string(),
        Json::Obj => v.is_object(),
        Json::StrList => v
            .as_array()
            .map(|a| a.iter().all(|x| x.is_string()))
            .unwrap_or(false),
        Json::ObjList => v
            .as_array()
            .map(|a| a.iter().all(|x| x.is_object()))
            .unwrap_or(false),
        Json::Null => v.is_null(),
        Json::Raw | Json::Config => true,
    }
}

/// Where `data` differs from `r`: one line per field served with another type, or not
/// declared at all.
pub(crate) fn mismatches(r: &Returns, data: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(ty) = r.scalar {
        if !json_is(ty, data) {
            out.push(format!("{}: data is {data}, not {ty:?}", r.route));
        }
        return out;
    }
    let items: Vec<&serde_json::Value> = if r.list {
        match data.as_array() {
            Some(a) => a.iter().collect(),
            None => return vec![format!("{}: data is not a list", r.route)],
        }
    } else {
        vec![data]
    };
    for item in items {
        check_fields(r, "", item, &mut out);
    }
    out
}

fn check_fields(r: &Returns, prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
    let Some(map) = v.as_object() else {
        out.push(format!("{}: {prefix} is not an object", r.route));
        return;
    };
    for (k, val) in map {
        let path = format!("{prefix}{k}");
        let declared = r
            .fields
            .iter()
            .find(|(n, _)| *n == path || (*n == "*" && prefix.is_empty()))
            .map(|(_, t)| *t);
        let Some(ty) = declared else {
            out.push(format!("{}: field {path} is not declared", r.route));
            continue;
        };
        let ok = match ty {
            Json::Config => {
                let want = match qemu_option(k).map(|p| p.ty) {
                    Some(Ty::Int(..) | Ty::Bool) => Json::Int,
                    _ => Json::Str,
                };
                json_is(want, val)
            }
            other => json_is(other, val),
        };
        if !ok {
            out.push(format!("{}: {path} is {val}, not {ty:?}", r.route));
            continue;
        }
        match ty {
            Json::Obj => check_fields(r, &format!("{path}."), val, out),
            Json::ObjList => {
                for item in val.as_array().into_iter().flatten() {
                    check_fields(r, &format!("{path}[]."), item, out);
                }
            }
            _ => {}
        }
    }
}
