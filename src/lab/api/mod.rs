//! The Proxmox VE HTTPS API on :8006 of every Ampere host (research §C.3, §C.4).
//!
//! Wire facts and their sources:
//! - Envelope `{"data": …}`; errors keep `data: null` and add `message` (and `errors` for
//!   parameter errors), with the message's first line as the HTTP reason phrase
//!   (`proxmox/pve-http-server` `Formatter/Standard.pm`, `AnyEvent.pm` `response`).
//! - Parameter errors: 400 "Parameter verification failed." with `errors: {param: msg}`, messages
//!   from `pve-common` `JSONSchema.pm`. A plain `die` in a handler is a 500 with its message
//!   (`pve-manager` `PVE/HTTPServer.pm` `rest_handler`). Unknown paths are 501 "Method 'GET /x'
//!   not implemented".
//! - Authentication (`PVE/HTTPServer.pm` `auth_handler`): no ticket → 401 "No ticket"; a bad
//!   ticket or token → 401 "Authentication failed!"; writes with a ticket need the
//!   `CSRFPreventionToken` header → else 401 "Permission denied - invalid csrf token"
//!   (`pve-common` `Ticket.pm`); API tokens and uploads need no CSRF token. These 401s have an
//!   empty body and are delayed by 3 s (`AnyEvent.pm`), scaled by `time_scale`.
//! - Login failure: 401 "authentication failure" (`pve-access-control` `API2/AccessControl.pm`).
//! - Tasks are UPIDs polled at `/nodes/{node}/tasks/{upid}/status` (research §C.1).
//! - aarch64 VM starts (`proxmox/qemu-server@e6352be6`): KVM missing → "KVM virtualisation
//!   configured, but not available. Either disable in VM configuration or enable in BIOS."
//!   (`QemuServer.pm`); IDE → "aarch64 cannot use IDE devices" (`QemuServer/PCI.pm`); OVMF
//!   without an efidisk → warning "no efidisk configured! Using temporary efivars disk."
//!   (`QemuServer/OVMF.pm`); SeaBIOS on aarch64 has no firmware, so the VM runs but never boots
//!   (research §0.2-2); the default machine for aarch64 is `virt` (`QemuServer/Machine.pm`).
//! - `download-url`: `compression` enum gz|lzo|zst|bz2, so `xz` is a parameter error
//!   (`pve-storage` `Plugin.pm` `KNOWN_COMPRESSION_FORMATS`, `API2/Storage/Status.pm`); upload
//!   `content` enum iso|vztmpl|import.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::host::{apply_fault, HostRef, Outcome};
use super::http::{self, Reply, Req};
use super::world::{self, Vm, VmStatus, Volume, World};
use super::{iso9660, keys, GuestBoot, LabInner};

mod access;
mod cluster;
mod power;
mod qemu;
mod storage;
mod tasks;

use access::*;
use cluster::*;
use power::*;
use qemu::*;
use storage::*;
use tasks::*;

pub(crate) use power::start_vm_after_boot;

/// An API failure as pveproxy renders it.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// 400 with per-parameter messages.
    Param(BTreeMap<String, String>),
    /// Any status with a message (a `die` is 500).
    Status(u16, String),
}

type ApiResult = Result<Value, ApiError>;

fn die(msg: impl Into<String>) -> ApiError {
    ApiError::Status(500, msg.into())
}

fn param_err(k: &str, msg: impl Into<String>) -> ApiError {
    let mut m = BTreeMap::new();
    m.insert(k.to_string(), msg.into());
    ApiError::Param(m)
}

fn render(result: ApiResult) -> http::Resp {
    match result {
        Ok(v) => http::response(200, None, Some(json!({ "data": v }).to_string())),
        Err(ApiError::Param(errors)) => http::response(
            400,
            Some("Parameter verification failed."),
            Some(json!({"data": null, "errors": errors, "message": "Parameter verification failed.\n"}).to_string()),
        ),
        Err(ApiError::Status(code, msg)) => {
            let m = if msg.ends_with('\n') { msg } else { format!("{msg}\n") };
            http::response(code, Some(m.trim_end()), Some(json!({"data": null, "message": m}).to_string()))
        }
    }
}

/// Serves one node's API until the lab stops.
pub(crate) async fn serve(lab: Arc<LabInner>, node: usize, listener: TcpListener) {
    let Some(tls) = http::tls_config(lab.clone(), node) else {
        return;
    };
    let lab_t = lab.clone();
    let token = move || {
        let up = lab_t
            .world()
            .nodes
            .get(node)
            .map(|n| n.online)
            .unwrap_or(false);
        if up {
            lab_t.hosts.get(node).map(|h| h.conn_token())
        } else {
            None
        }
    };
    let lab_h = lab.clone();
    let handler = move |req: Req, conn: CancellationToken| {
        let lab = lab_h.clone();
        async move { handle(lab, node, req, conn).await }
    };
    http::serve(lab, listener, Some(tls), token, handler).await;
}

/// Who is calling.
#[derive(Debug, Clone)]
struct Caller {
    /// `root@pam`, or `root@pam!token` for an API token.
    user: String,
    token: bool,
    /// A token with privilege separation has no privileges of its own here.
    privsep: bool,
}

fn unauthorized(reason: &str) -> http::Resp {
    http::response(401, Some(reason), None)
}

fn header<'a>(req: &'a Req, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// `PVEAuthCookie=…` from a Cookie or Authorization header.
fn auth_value(h: &str, name: &str) -> Option<String> {
    for part in h.split(';') {
        let part = part.trim();
        if let Some(v) = part
            .strip_prefix(name)
            .and_then(|r| r.strip_prefix('=').or_else(|| r.strip_prefix(' ')))
        {
            return Some(http::url_decode(v.trim(), false));
        }
    }
    None
}

enum AuthFail {
    Reason(&'static str),
}

fn authenticate(
    lab: &LabInner,
    node: usize,
    req: &Req,
    rel: &str,
) -> Result<Option<Caller>, AuthFail> {
    let m = req.method.as_str();
    if (rel == "/access/ticket" && (m == "GET" || m == "POST"))
        || (rel == "/access/domains" && m == "GET")
    {
        return Ok(None);
    }
    let cookie = header(req, "cookie").and_then(|c| auth_value(c, "PVEAuthCookie"));
    let authz = header(req, "authorization");
    let ticket = cookie.or_else(|| authz.and_then(|a| auth_value(a, "PVEAuthCookie")));
    let w = lab.world();
    let access = w
        .access(node)
        .ok_or(AuthFail::Reason("Authentication failed!"))?;
    let caller = if let Some(t) = ticket {
        let user = verify_ticket(&access.ticket_key, &t)
            .ok_or(AuthFail::Reason("Authentication failed!"))?;
        Caller {
            user,
            token: false,
            privsep: false,
        }
    } else if let Some(tok) = authz
        .and_then(|a| a.trim().strip_prefix("PVEAPIToken"))
        .map(|r| r.trim_start_matches(['=', ' ']))
    {
        // `USER@REALM!TOKENID=SECRET` (bpg token_auth.go).
        let (id, secret) = tok
            .split_once('=')
            .ok_or(AuthFail::Reason("Authentication failed!"))?;
        let (user, name) = id
            .split_once('!')
            .ok_or(AuthFail::Reason("Authentication failed!"))?;
        let t = access
            .tokens
            .get(name)
            .filter(|_| user == "root@pam")
            .ok_or(AuthFail::Reason("Authentication failed!"))?;
        let expired = t.expire != 0 && t.expire < world::now_secs();
        if t.secret != secret.trim() || expired {
            return Err(AuthFail::Reason("Authentication failed!"));
        }
        Caller {
            user: id.to_string(),
            token: true,
            privsep: t.privsep,
        }
    } else {
        return Err(AuthFail::Reason("No ticket"));
    };
    let upload = m == "POST" && rel.starts_with("/nodes/") && rel.ends_with("/upload");
    if m != "GET" && !caller.token && !upload {
        let ok = header(req, "csrfpreventiontoken")
            .map(|t| verify_csrf(&access.ticket_key, &caller.user, t))
            .unwrap_or(false);
        if !ok {
            return Err(AuthFail::Reason("Permission denied - invalid csrf token"));
        }
    }
    Ok(Some(caller))
}

/// The route template for faults and the trace, e.g. `/nodes/{node}/qemu/{vmid}/config`.
fn template(segs: &[String]) -> String {
    let mut out = String::new();
    for (i, s) in segs.iter().enumerate() {
        let prev = if i > 0 { segs[i - 1].as_str() } else { "" };
        let t = match prev {
            "nodes" => "{node}",
            "qemu" => "{vmid}",
            "storage" => "{storage}",
            "tasks" => "{upid}",
            "token" => "{tokenid}",
            "users" => "{userid}",
            "content" => "{volume}",
            _ => s.as_str(),
        };
        out.push('/');
        out.push_str(t);
    }
    out
}

async fn handle(lab: Arc<LabInner>, node: usize, req: Req, conn: CancellationToken) -> Reply {
    let start = Instant::now();
    let host = lab
        .hosts
        .get(node)
        .map(|h| h.name.clone())
        .unwrap_or_default();
    let Some(rel) = req.path.strip_prefix("/api2/json") else {
        return Reply::Send(http::response(501, Some("no such uri"), None));
    };
    let segs: Vec<String> = rel
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| http::url_decode(s, false))
        .collect();
    let rel = format!("/{}", segs.join("/"));
    let op = format!("api:{} {}", req.method, template(&segs));
    match apply_fault(&lab, HostRef::Node(node), &op, &conn).await {
        Outcome::Proceed => {}
        Outcome::Fail(msg, code) => {
            lab.record(&host, &op, start, false);
            return Reply::Send(render(Err(ApiError::Status(code.unwrap_or(500), msg))));
        }
        Outcome::Dropped => {
            lab.record(&host, &op, start, false);
            return Reply::Drop;
        }
    }
    let caller = match authenticate(&lab, node, &req, &rel) {
        Ok(c) => c,
        Err(AuthFail::Reason(r)) => {
            lab.pause("api.unauthorized", 1.0).await;
            lab.record(&host, &op, start, false);
            return Reply::Send(unauthorized(r));
        }
    };
    lab.pause("api.request", 1.0).await;
    let result = match http::params(&req) {
        Ok(params) => route(&lab, node, &req, &segs, params, caller.as_ref()).await,
        Err(e) => Err(ApiError::Status(400, e)),
    };
    let ok = result.is_ok();
    let resp = match result {
        Err(ApiError::Status(401, m)) => {
            lab.pause("api.unauthorized", 1.0).await;
            render(Err(ApiError::Status(401, m)))
        }
        r => render(r),
    };
    lab.record(&host, &op, start, ok);
    Reply::Send(resp)
}

fn not_implemented(req: &Req, rel: &str) -> ApiError {
    ApiError::Status(
        501,
        format!("Method '{} {}' not implemented", req.method, rel),
    )
}

/// Checks that a privilege-separated token may do anything at all.
fn require(caller: Option<&Caller>, path: &str, privs: &str) -> Result<(), ApiError> {
    match caller {
        Some(c) if c.token && c.privsep => Err(ApiError::Status(
            403,
            format!("Permission check failed ({path}, {privs})"),
        )),
        _ => Ok(()),
    }
}

/// Resolves `{node}` in the caller node's cluster view.
fn target_node(lab: &LabInner, serving: usize, name: &str) -> Result<usize, ApiError> {
    let w = lab.world();
    let peers = w.peers(serving);
    match w.node_index(name).filter(|i| peers.contains(i)) {
        Some(i) if w.nodes[i].online => Ok(i),
        Some(_) => Err(ApiError::Status(595, "No route to host".into())),
        None => Err(die(format!(
            "hostname lookup '{name}' failed - failed to get address info for: {name}: Name or service not known"
        ))),
    }
}

async fn route(
    lab: &Arc<LabInner>,
    node: usize,
    req: &Req,
    segs: &[String],
    p: BTreeMap<String, String>,
    caller: Option<&Caller>,
) -> ApiResult {
    let m = req.method.as_str();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let rel = format!("/{}", segs.join("/"));
    match (m, s.as_slice()) {
        ("GET", ["version"]) => Ok(
            json!({"version": super::shell::PVE_VERSION, "release": super::shell::PVE_RELEASE, "repoid": super::shell::PVE_REPOID}),
        ),
        ("POST", ["access", "ticket"]) => login(lab, node, &p).await,
        ("GET", ["access", "ticket"]) => Ok(Value::Null),
        ("GET", ["access", "domains"]) => Ok(json!([
            {"realm": "pam", "type": "pam", "comment": "Linux PAM standard authentication"},
            {"realm": "pve", "type": "pve", "comment": "Proxmox VE authentication server"}
        ])),
        (_, ["access", "users", user, "token", name]) => {
            token_api(lab, node, m, user, name, &p, caller)
        }
        ("GET", ["cluster", "status"]) => cluster_status(lab, node),
        ("GET", ["cluster", "nextid"]) => nextid(lab, node, &p),
        ("GET", ["cluster", "resources"]) => resources(lab, node, &p),
        ("GET", ["cluster", "config", "join"]) => config_join(lab, node),
        ("GET", ["cluster", "config", "nodes"]) => config_nodes(lab, node),
        ("GET", ["cluster", "config", "apiversion"]) => Ok(json!(1)),
        ("GET", ["cluster", "ceph", "status"]) => ceph_status(lab, node),
        ("GET", ["storage"]) => storage_config_list(lab, node),
        ("PUT", ["storage", storage]) => storage_update(lab, node, storage, &p, caller),
        ("GET", ["nodes"]) => nodes_list(lab, node),
        (_, ["nodes", n, rest @ ..]) => {
            let target = target_node(lab, node, n)?;
            node_route(lab, target, req, rest, &p, caller, &rel).await
        }
        _ => Err(not_implemented(req, &rel)),
    }
}

#[allow(clippy::too_many_arguments)]
async fn node_route(
    lab: &Arc<LabInner>,
    node: usize,
    req: &Req,
    rest: &[&str],
    p: &BTreeMap<String, String>,
    caller: Option<&Caller>,
    rel: &str,
) -> ApiResult {
    let m = req.method.as_str();
    let user = caller
        .map(|c| c.user.clone())
        .unwrap_or_else(|| "root@pam".into());
    let name = lab
        .hosts
        .get(node)
        .map(|h| h.name.clone())
        .unwrap_or_default();
    match (m, rest) {
        ("GET", ["status"]) => {
            require(caller, &format!("/nodes/{name}"), "Sys.Audit")?;
            node_status(lab, node)
        }
        ("GET", ["version"]) => Ok(
            json!({"version": super::shell::PVE_VERSION, "release": super::shell::PVE_RELEASE, "repoid": super::shell::PVE_REPOID}),
        ),
        ("GET", ["qemu"]) => {
            require(caller, "/vms", "VM.Audit")?;
            qemu_list(lab, node)
        }
        ("POST", ["qemu"]) => {
            require(caller, "/vms", "VM.Allocate")?;
            qemu_create(lab, node, p, caller, &user)
        }
        ("GET", ["qemu", id]) => {
            vm_exists(lab, node, id)?;
            Ok(
                json!([{"subdir": "config"}, {"subdir": "status"}, {"subdir": "agent"}, {"subdir": "pending"}]),
            )
        }
        ("DELETE", ["qemu", id]) => {
            require(caller, &format!("/vms/{id}"), "VM.Allocate")?;
            qemu_destroy(lab, node, id, &user)
        }
        ("GET", ["qemu", id, "config"]) => {
            require(caller, &format!("/vms/{id}"), "VM.Audit")?;
            qemu_config(lab, node, id)
        }
        ("POST" | "PUT", ["qemu", id, "config"]) => {
            require(caller, &format!("/vms/{id}"), "VM.Config.Options")?;
            qemu_update(lab, node, id, p, caller, &user, m == "POST")
        }
        ("GET", ["qemu", id, "status"]) => {
            vm_exists(lab, node, id)?;
            Ok(
                json!([{"subcmd": "current"}, {"subcmd": "start"}, {"subcmd": "stop"}, {"subcmd": "shutdown"}, {"subcmd": "reboot"}, {"subcmd": "reset"}]),
            )
        }
        ("GET", ["qemu", id, "status", "current"]) => {
            require(caller, &format!("/vms/{id}"), "VM.Audit")?;
            qemu_current(lab, node, id)
        }
        ("POST", ["qemu", id, "status", action]) => {
            require(caller, &format!("/vms/{id}"), "VM.PowerMgmt")?;
            qemu_action(lab, node, id, action, &user, req, rel)
        }
        ("GET", ["qemu", id, "agent", _]) => {
            let vmid = vm_exists(lab, node, id)?;
            let w = lab.world();
            let vm = vm_in(&w, node, vmid)?;
            if vm.status != VmStatus::Running {
                return Err(die(format!("VM {vmid} is not running")));
            }
            let agent = vm
                .config
                .get("agent")
                .map(|a| a.starts_with('1') || a.contains("enabled=1"))
                .unwrap_or(false);
            if !agent {
                return Err(die("No QEMU guest agent configured"));
            }
            // Talos runs no guest agent in maintenance mode (research §0.2-9).
            Err(die("QEMU guest agent is not running"))
        }
        ("GET", ["tasks"]) => tasks_list(lab, node),
        ("GET", ["tasks", upid, "status"]) => task_status(lab, node, upid),
        ("GET", ["tasks", upid, "log"]) => task_log(lab, node, upid, p),
        ("GET", ["tasks", upid]) => {
            task_status(lab, node, upid)?;
            Ok(json!([{"name": "log"}, {"name": "status"}]))
        }
        ("GET", ["storage"]) => storage_list(lab, node, p),
        ("GET", ["storage", storage]) => {
            storage_exists(lab, node, storage)?;
            Ok(
                json!([{"subdir": "content"}, {"subdir": "download-url"}, {"subdir": "status"}, {"subdir": "upload"}]),
            )
        }
        ("GET", ["storage", storage, "content"]) => storage_content(lab, node, storage, p),
        ("GET", ["storage", storage, "content", volume]) => volume_info(lab, node, storage, volume),
        ("DELETE", ["storage", storage, "content", volume]) => {
            require(caller, &format!("/storage/{storage}"), "Datastore.Allocate")?;
            volume_delete(lab, node, storage, volume, &user)
        }
        ("POST", ["storage", storage, "download-url"]) => {
            require(
                caller,
                &format!("/storage/{storage}"),
                "Datastore.AllocateTemplate",
            )?;
            download_url(lab, node, storage, p, &user)
        }
        ("POST", ["storage", storage, "upload"]) => {
            require(
                caller,
                &format!("/storage/{storage}"),
                "Datastore.AllocateTemplate",
            )?;
            lab.pause("storage.upload", 1.0).await;
            upload(lab, node, storage, req, &user)
        }
        ("GET", ["ceph", "status"]) => ceph_status(lab, node),
        _ => Err(not_implemented(req, rel)),
    }
}
