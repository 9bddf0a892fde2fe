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
//! - Authentication (`PVE/HTTPServer.pm` `auth_handler`, as of pve-manager 9.1.2): no ticket →
//!   401 "No ticket"; a bad ticket → 401 "permission denied - invalid PVE ticket"; a bad token →
//!   401 with `verify_token`'s message ("invalid token value!"); writes with a ticket need the
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
pub(crate) mod schema;
mod storage;
mod tasks;

#[cfg(test)]
mod fidelity;
#[cfg(test)]
mod resize_tests;
#[cfg(test)]
mod returns;

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

/// A handler's answer: its `data`, and the `total` some listings carry beside it
/// (`pve-manager` `PVE/HTTPServer.pm` `rest_handler` sets `total` from the result attribute,
/// and `Formatter/Standard.pm` writes it only when it is not 0).
pub(crate) struct Answer {
    data: Value,
    total: Option<u64>,
}

impl Answer {
    fn with_total(data: Value, total: u64) -> Answer {
        Answer {
            data,
            total: Some(total),
        }
    }
}

impl From<Value> for Answer {
    fn from(data: Value) -> Answer {
        Answer { data, total: None }
    }
}

fn die(msg: impl Into<String>) -> ApiError {
    ApiError::Status(500, msg.into())
}

fn param_err(k: &str, msg: impl Into<String>) -> ApiError {
    let mut m = BTreeMap::new();
    m.insert(k.to_string(), msg.into());
    ApiError::Param(m)
}

fn render(result: Result<Answer, ApiError>) -> http::Resp {
    with_daemon_headers(match result {
        Ok(a) => {
            let mut body = json!({ "data": a.data });
            if let Some(total) = a.total.filter(|t| *t > 0) {
                body["total"] = json!(total);
            }
            http::response(200, None, Some(body.to_string()))
        }
        Err(ApiError::Param(errors)) => http::response(
            400,
            Some("Parameter verification failed."),
            Some(json!({"data": null, "errors": errors, "message": "Parameter verification failed.\n"}).to_string()),
        ),
        Err(ApiError::Status(code, msg)) => {
            let m = if msg.ends_with('\n') { msg } else { format!("{msg}\n") };
            http::response(code, Some(m.trim_end()), Some(json!({"data": null, "message": m}).to_string()))
        }
    })
}

/// The headers pveproxy adds to every answer (`pve-http-server` `AnyEvent.pm` `response`):
/// `Server`, `Date` with an `Expires` of the same instant (with `Cache-Control: max-age=0`
/// and `Pragma: no-cache`, which [`http::response`] sets), and `Connection: close` after an
/// error.
fn with_daemon_headers(mut resp: http::Resp) -> http::Resp {
    let now = http::http_date(std::time::SystemTime::now());
    let close = resp.status().as_u16() >= 400;
    let h = resp.headers_mut();
    h.insert(
        "server",
        hyper::header::HeaderValue::from_static("pve-api-daemon/3.0"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(&now) {
        h.insert("date", v.clone());
        h.insert("expires", v);
    }
    if close {
        h.insert(
            "connection",
            hyper::header::HeaderValue::from_static("close"),
        );
    }
    resp
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

/// A call made on the node itself, as `pvesh` and `qm` make it: the same handlers, as
/// `root@pam`, with no HTTP, ticket or CSRF token (`pve-manager` `PVE/CLI/pvesh.pm` runs the
/// handler in-process). `path` is relative to `/api2/json`, e.g. `/nodes/ampere-1/qemu`.
pub(crate) async fn local_call(
    lab: &Arc<LabInner>,
    node: usize,
    method: &str,
    path: &str,
    params: BTreeMap<String, String>,
) -> Result<Value, ApiError> {
    let method = hyper::Method::from_bytes(method.as_bytes())
        .map_err(|_| ApiError::Status(501, format!("method '{method}' not available")))?;
    let segs = segments(path);
    let req = Req {
        method,
        path: format!("/api2/json{path}"),
        query: String::new(),
        headers: hyper::HeaderMap::new(),
        body: bytes::Bytes::new(),
    };
    route(lab, node, &req, &segs, params, None)
        .await
        .map(|a| a.data)
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
    with_daemon_headers(http::response(401, Some(reason), None))
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

/// Why a request is not authenticated: the 401's reason phrase (the body is empty).
enum AuthFail {
    Reason(String),
}

fn fail(reason: impl Into<String>) -> AuthFail {
    AuthFail::Reason(reason.into())
}

/// `pve-manager` 9.1.2's `PVE/HTTPServer.pm` `auth_handler`, whose errors reach the client
/// as the 401's reason (`pve-http-server` `AnyEvent.pm`): "No ticket"; a bad or expired
/// ticket's `pve-common` `Ticket.pm` "permission denied - invalid PVE ticket"; a token's
/// `pve-access-control` `AccessControl.pm` `verify_token` messages ("invalid token value!",
/// "no such token 'T' for user 'U'", …). From pve-manager 9.1.5 on every one of these reads
/// "Authentication failed!" (commit 26c10a2e, "unify error message in case of auth
/// failure"); the lab reports 9.1.2.
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
    let api_token = authz.and_then(|a| auth_value(a, "PVEAPIToken"));
    let w = lab.world();
    let access = w.access(node).ok_or_else(|| fail("No ticket"))?;
    let caller = if let Some(tok) = api_token {
        // `USER@REALM!TOKENID=SECRET`, split at the last `=` (`verify_token`).
        let (id, secret) = tok
            .rsplit_once('=')
            .ok_or_else(|| fail("no tokenid specified"))?;
        let (user, name) = id.split_once('!').ok_or_else(|| {
            fail(format!(
                "'{id}' is not a valid token ID - not able to split into user and token parts"
            ))
        })?;
        if user != "root@pam" {
            return Err(fail(format!("no such user ('{user}')")));
        }
        let t = access
            .tokens
            .get(name)
            .ok_or_else(|| fail(format!("no such token '{name}' for user '{user}'")))?;
        if t.expire != 0 && t.expire < world::now_secs() {
            return Err(fail(format!("token '{name}' access expired")));
        }
        if t.secret != secret.trim() {
            return Err(fail("invalid token value!"));
        }
        Caller {
            user: id.to_string(),
            token: true,
            privsep: t.privsep,
        }
    } else if let Some(t) = ticket {
        let user = verify_ticket(&access.ticket_key, &t)
            .ok_or_else(|| fail("permission denied - invalid PVE ticket"))?;
        Caller {
            user,
            token: false,
            privsep: false,
        }
    } else {
        return Err(fail("No ticket"));
    };
    let upload = m == "POST" && rel.starts_with("/nodes/") && rel.ends_with("/upload");
    if m != "GET" && !caller.token && !upload {
        let ok = header(req, "csrfpreventiontoken")
            .map(|t| verify_csrf(&access.ticket_key, &caller.user, t))
            .unwrap_or(false);
        if !ok {
            return Err(fail("Permission denied - invalid csrf token"));
        }
    }
    Ok(Some(caller))
}

/// A path's segments, each percent-decoded (`local%3Aiso%2Fx.iso` is one segment).
fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| http::url_decode(s, false))
        .collect()
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
    // `AnyEvent.pm` `process_header` refuses other methods before it looks at the path or
    // the credentials: "method 'HEAD' not available", with no body.
    if !matches!(req.method.as_str(), "GET" | "POST" | "PUT" | "DELETE") {
        let reason = format!("method '{}' not available", req.method);
        return Reply::Send(with_daemon_headers(http::response(
            501,
            Some(&reason),
            None,
        )));
    }
    let Some(rel) = req.path.strip_prefix("/api2/json") else {
        return Reply::Send(with_daemon_headers(http::response(
            501,
            Some("no such uri"),
            None,
        )));
    };
    let segs = segments(rel);
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
            return Reply::Send(unauthorized(&r));
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
) -> Result<Answer, ApiError> {
    let m = req.method.as_str();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let rel = format!("/{}", segs.join("/"));
    if let (_, ["nodes", n, rest @ ..]) = (m, s.as_slice()) {
        let target = target_node(lab, node, n)?;
        return node_route(lab, target, req, rest, &p, caller, &rel).await;
    }
    let result = match (m, s.as_slice()) {
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
        _ => Err(not_implemented(req, &rel)),
    };
    result.map(Answer::from)
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
) -> Result<Answer, ApiError> {
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
        ("GET", ["tasks"]) => return tasks_list(lab, node, p),
        ("GET", ["tasks", upid, "log"]) => return task_log(lab, node, upid, p),
        _ => {}
    }
    let result = match (m, rest) {
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
        ("PUT", ["qemu", id, "resize"]) => {
            require(caller, &format!("/vms/{id}"), "VM.Config.Disk")?;
            qemu_resize(lab, node, id, p, &user)
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
        ("GET", ["tasks", upid, "status"]) => task_status(lab, node, upid),
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
    };
    result.map(Answer::from)
}
