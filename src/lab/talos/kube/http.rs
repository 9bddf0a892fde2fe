//! The kube-apiserver's HTTPS front: TLS with client certificates, authentication and a
//! minimal authorization, discovery, and the REST paths of every served type
//! (`/api/v1/...`, `/apis/{group}/{version}/...`, namespaced or cluster-scoped).
//!
//! Facts: Talos runs kube-apiserver with `anonymous-auth=false`
//! (`internal/app/machined/pkg/controllers/k8s/control_plane_static_pod.go`), so requests
//! without a client certificate get 401 `Unauthorized`; `system:masters` may do anything;
//! other users are refused with the RBAC authorizer's text. Patch media types and their
//! 415 text: apiserver `staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::super::fault::FaultKind;
use super::super::pki::{peer_name, PeerName};
use super::super::timing::{pause, Step};
use super::super::{accept, lock, Fleet, TrackedExec};
use super::resources::ResourceInfo;
use super::store::{KubeError, PatchType, WriteOpts};
use super::{table, Cluster};

/// Largest request body the apiserver takes (3 MiB, `MaxRequestBodyBytes`).
const MAX_BODY: usize = 3 << 20;

/// Returned by the handler to close the connection without an answer (a `Drop` fault).
#[derive(Debug)]
pub(crate) struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DropConnection {}

/// Accepts connections on `listener` until `token` is cancelled.
pub(crate) fn spawn_server(
    cluster: Arc<Cluster>,
    fleet: Arc<Fleet>,
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    token: CancellationToken,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let f = fleet.clone();
    let tok = token.clone();
    fleet.spawn_until(token, async move {
        loop {
            let tcp = accept(&listener).await;
            let acceptor = acceptor.clone();
            let cluster = cluster.clone();
            let f2 = f.clone();
            let conn_token = tok.child_token();
            f.spawn_until(conn_token.clone(), async move {
                serve_connection(cluster, f2, acceptor, tcp, conn_token).await;
            });
        }
    });
}

async fn serve_connection(
    cluster: Arc<Cluster>,
    fleet: Arc<Fleet>,
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    token: CancellationToken,
) {
    let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
    else {
        return;
    };
    let user = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| peer_name(c));
    let exec = TrackedExec {
        tracker: fleet.tracker.clone(),
        token: token.clone(),
    };
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let cluster = cluster.clone();
        let fleet = fleet.clone();
        let user = user.clone();
        async move { handle(cluster, fleet, user, req).await }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(exec);
    let _ = builder
        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
        .await;
}

type Resp = Response<Full<Bytes>>;

fn json_response(code: u16, v: &Value) -> Resp {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn error_response(e: &KubeError) -> Resp {
    json_response(e.code, &e.status())
}

fn text_response(code: u16, s: &str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(s.to_string())));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// Where a resource request points.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// A collection; `ns` is `None` for cluster-scoped or all-namespaces.
    Collection {
        ns: Option<String>,
    },
    Item {
        ns: String,
        name: String,
    },
    Sub {
        ns: String,
        name: String,
        sub: String,
    },
}

/// The operation name used for traces and faults.
fn op_name(
    method: &Method,
    target: Option<&Target>,
    content_type: &str,
    query: &HashMap<String, String>,
) -> &'static str {
    match (method, target) {
        (_, None) => "kube.discovery",
        (&Method::GET, Some(Target::Collection { .. })) if query.contains_key("watch") => {
            "kube.watch"
        }
        (&Method::GET, Some(Target::Collection { .. })) => "kube.list",
        (&Method::GET, _) => "kube.get",
        (&Method::POST, _) => "kube.create",
        (&Method::PUT, _) => "kube.update",
        (&Method::PATCH, _) if content_type.starts_with("application/apply-patch") => "kube.apply",
        (&Method::PATCH, _) => "kube.patch",
        (&Method::DELETE, Some(Target::Collection { .. })) => "kube.deletecollection",
        (&Method::DELETE, _) => "kube.delete",
        _ => "kube.other",
    }
}

async fn handle(
    cluster: Arc<Cluster>,
    fleet: Arc<Fleet>,
    user: Option<PeerName>,
    req: Request<Incoming>,
) -> Result<Resp, DropConnection> {
    let started = Instant::now();
    let ip = cluster.trace_ip();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = parse_query(req.uri().query());
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let user_agent = req
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let accept = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let parsed = parse_path(&path);
    let op = op_name(
        &method,
        parsed.as_ref().map(|(_, _, _, t)| t),
        &content_type,
        &query,
    );

    if let Some(fault) = fleet.faults.check(op, ip) {
        fleet.record(op, ip, started, false);
        match fault {
            FaultKind::Error(m) => return Ok(error_response(&KubeError::unavailable(m))),
            FaultKind::Hang => std::future::pending::<()>().await,
            FaultKind::Drop => return Err(DropConnection),
            FaultKind::Reboot => {
                if let Some(n) = fleet
                    .nodes_snapshot()
                    .into_iter()
                    .find(|n| n.etcd_serves(&cluster.endpoint))
                {
                    n.reboot(&fleet);
                }
                return Err(DropConnection);
            }
        }
    }
    pause(fleet.timing.duration(Step::KubeRequest)).await;

    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            fleet.record(op, ip, started, false);
            return Ok(error_response(&KubeError::too_large()));
        }
    };
    let resp = route(
        &cluster,
        user.as_ref(),
        &method,
        &path,
        parsed,
        &query,
        &content_type,
        &user_agent,
        &accept,
        &body,
    );
    fleet.record(op, ip, started, resp.status().is_success());
    Ok(resp)
}

/// Splits a resource path into (group, version, resource, target).
fn parse_path(path: &str) -> Option<(String, String, String, Target)> {
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let (resource, target) = match rest {
        [] => return None,
        [r] => (*r, Target::Collection { ns: None }),
        ["namespaces", ns, r] if !is_namespace_sub(r) => (
            *r,
            Target::Collection {
                ns: Some(ns.to_string()),
            },
        ),
        ["namespaces", ns, r, name] => (
            *r,
            Target::Item {
                ns: ns.to_string(),
                name: name.to_string(),
            },
        ),
        ["namespaces", ns, r, name, sub] => (
            *r,
            Target::Sub {
                ns: ns.to_string(),
                name: name.to_string(),
                sub: sub.to_string(),
            },
        ),
        [r, name] => (
            *r,
            Target::Item {
                ns: String::new(),
                name: name.to_string(),
            },
        ),
        [r, name, sub] => (
            *r,
            Target::Sub {
                ns: String::new(),
                name: name.to_string(),
                sub: sub.to_string(),
            },
        ),
        _ => return None,
    };
    Some((
        group.to_string(),
        version.to_string(),
        resource.to_string(),
        target,
    ))
}

fn is_namespace_sub(s: &str) -> bool {
    matches!(s, "status" | "finalize")
}

fn is_master(user: &PeerName) -> bool {
    user.orgs.iter().any(|o| o == "system:masters")
}

#[allow(clippy::too_many_arguments)]
fn route(
    cluster: &Arc<Cluster>,
    user: Option<&PeerName>,
    method: &Method,
    path: &str,
    parsed: Option<(String, String, String, Target)>,
    query: &HashMap<String, String>,
    content_type: &str,
    user_agent: &str,
    accept: &str,
    body: &Bytes,
) -> Resp {
    let Some(user) = user else {
        return error_response(&KubeError::unauthorized());
    };
    let version = lock(&cluster.st).version.clone();
    let path_trim = path.trim_end_matches('/');
    // Non-resource paths open to every authenticated user (system:discovery,
    // system:public-info-viewer).
    match (method, path_trim) {
        (&Method::GET, "/version") => return json_response(200, &super::version_info(&version)),
        (&Method::GET, "/healthz" | "/livez" | "/readyz") => return text_response(200, "ok"),
        (&Method::GET, "/api") => {
            let addr = cluster.addr.map(|a| a.to_string()).unwrap_or_default();
            return json_response(
                200,
                &json!({"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]}),
            );
        }
        (&Method::GET, "/apis") => {
            let groups = lock(&cluster.store).resources.groups();
            let list: Vec<Value> = groups.iter().map(|(g, vs)| group_json(g, vs)).collect();
            return json_response(
                200,
                &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list}),
            );
        }
        _ => {}
    }
    if method == Method::GET {
        let segs: Vec<&str> = path_trim.split('/').filter(|s| !s.is_empty()).collect();
        let store = lock(&cluster.store);
        let resource_list = |g: &str, v: &str| {
            let rs: Vec<Value> = store
                .resources
                .all()
                .filter(|i| i.group == g && i.version == v)
                .map(ResourceInfo::discovery)
                .collect();
            let gv = if g.is_empty() {
                v.to_string()
            } else {
                format!("{g}/{v}")
            };
            (!rs.is_empty()).then(|| json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": rs}))
        };
        let found = match segs.as_slice() {
            ["api", "v1"] => Some(resource_list("", "v1")),
            ["apis", g] => Some(
                store
                    .resources
                    .groups()
                    .iter()
                    .find(|(name, _)| name == g)
                    .map(|(name, vs)| {
                        let mut v = group_json(name, vs);
                        v["kind"] = json!("APIGroup");
                        v["apiVersion"] = json!("v1");
                        v
                    }),
            ),
            ["apis", g, v] => Some(resource_list(g, v)),
            _ => None,
        };
        if let Some(found) = found {
            return match found {
                Some(v) => json_response(200, &v),
                None => error_response(&KubeError::no_route()),
            };
        }
    }

    let Some((group, ver, resource, target)) = parsed else {
        return if is_master(user) {
            error_response(&KubeError::no_route())
        } else {
            error_response(&KubeError::forbidden_path(&format!(
                "User {:?} cannot {} path {:?}",
                user.cn,
                method.as_str().to_lowercase(),
                path
            )))
        };
    };
    let info = {
        let store = lock(&cluster.store);
        store
            .resources
            .by_resource(&group, &ver, &resource)
            .cloned()
    };
    let Some(info) = info else {
        return error_response(&KubeError::no_route());
    };
    // Namespaced types only under /namespaces/{ns}/ for items; cluster-scoped never there.
    let target_ok = match &target {
        Target::Collection { ns } => ns.is_none() || info.namespaced,
        Target::Item { ns, .. } | Target::Sub { ns, .. } => ns.is_empty() != info.namespaced,
    };
    if !target_ok {
        return error_response(&KubeError::no_route());
    }
    let verb = match (method, &target) {
        (&Method::GET, Target::Collection { .. }) if query.contains_key("watch") => "watch",
        (&Method::GET, Target::Collection { .. }) => "list",
        (&Method::GET, _) => "get",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, Target::Collection { .. }) => "deletecollection",
        (&Method::DELETE, _) => "delete",
        _ => "unknown",
    };
    if !is_master(user) {
        let (ns, name) = match &target {
            Target::Collection { ns } => (ns.clone().unwrap_or_default(), String::new()),
            Target::Item { ns, name } | Target::Sub { ns, name, .. } => (ns.clone(), name.clone()),
        };
        let scope = if ns.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace {ns:?}")
        };
        let why = format!(
            "User {:?} cannot {verb} resource {:?} in API group {:?} {scope}",
            user.cn, info.resource, info.group
        );
        return error_response(&KubeError::forbidden(&info, &name, &why));
    }

    let dry_run = query.get("dryRun").is_some_and(|v| v == "All");
    let manager = query.get("fieldManager").cloned().unwrap_or_else(|| {
        // fieldmanager's prefixFromUserAgent: the user agent up to the first '/'.
        user_agent
            .split('/')
            .next()
            .unwrap_or("")
            .chars()
            .take(128)
            .collect()
    });
    let opts = WriteOpts { manager, dry_run };
    let result: Result<(u16, Value), KubeError> = (|| {
        let mut store = lock(&cluster.store);
        match (verb, &target) {
            ("watch", _) => Err(KubeError::method_not_supported(&info, "watch")),
            ("list", Target::Collection { ns }) => Ok((
                200,
                store.list(
                    &info,
                    ns.as_deref(),
                    query.get("labelSelector").map(String::as_str),
                    query.get("fieldSelector").map(String::as_str),
                )?,
            )),
            ("get", Target::Item { ns, name }) => Ok((200, store.get(&info, ns, name)?)),
            ("get", Target::Sub { ns, name, sub }) if sub == "status" => {
                Ok((200, store.get(&info, ns, name)?))
            }
            ("create", Target::Collection { ns: Some(ns) }) => {
                let obj = decode_body(body, content_type)?;
                Ok((201, store.create(&info, ns, obj, &opts)?))
            }
            ("create", Target::Collection { ns: None }) if !info.namespaced => {
                let obj = decode_body(body, content_type)?;
                Ok((201, store.create(&info, "", obj, &opts)?))
            }
            ("update", Target::Item { ns, name }) => {
                let obj = decode_body(body, content_type)?;
                Ok((200, store.update(&info, ns, name, obj, &opts)?))
            }
            ("patch", Target::Item { ns, name }) => {
                let kind = content_type.split(';').next().unwrap_or("").trim();
                if kind == "application/apply-patch+yaml" {
                    let obj = decode_yaml(body)?;
                    let force = query.get("force").is_some_and(|v| v == "true");
                    // Apply takes the manager from the query only (ValidatePatchOptions).
                    let apply_opts = WriteOpts {
                        manager: query.get("fieldManager").cloned().unwrap_or_default(),
                        dry_run,
                    };
                    let (obj, created) = store.apply(&info, ns, name, obj, force, &apply_opts)?;
                    Ok((if created { 201 } else { 200 }, obj))
                } else {
                    let pt = match kind {
                        "application/merge-patch+json" => PatchType::Merge,
                        "application/json-patch+json" => PatchType::Json,
                        "application/strategic-merge-patch+json" if !info.custom => {
                            PatchType::StrategicMerge
                        }
                        _ => {
                            let accepted = if info.custom {
                                "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
                            } else {
                                "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json"
                            };
                            return Err(KubeError::unsupported_media_type(format!(
                                "the body of the request was in an unknown format - accepted media types include: {accepted}"
                            )));
                        }
                    };
                    let patch: Value = serde_json::from_slice(body).map_err(|e| {
                        KubeError::bad_request(format!("error decoding patch: {e}"))
                    })?;
                    Ok((200, store.patch(&info, ns, name, pt, &patch, &opts)?))
                }
            }
            ("delete", Target::Item { ns, name }) => {
                Ok((200, store.delete(&info, ns, name, dry_run)?))
            }
            ("deletecollection", Target::Collection { ns }) => {
                let listed = store.list(
                    &info,
                    ns.as_deref(),
                    query.get("labelSelector").map(String::as_str),
                    query.get("fieldSelector").map(String::as_str),
                )?;
                let names: Vec<(String, String)> = listed["items"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|o| {
                                (
                                    o.pointer("/metadata/namespace")
                                        .and_then(Value::as_str)
                                        .unwrap_or("")
                                        .to_string(),
                                    o.pointer("/metadata/name")
                                        .and_then(Value::as_str)
                                        .unwrap_or("")
                                        .to_string(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                for (ns, name) in names {
                    let _ = store.delete(&info, &ns, &name, dry_run);
                }
                Ok((200, listed))
            }
            _ => Err(KubeError::method_not_supported(&info, verb)),
        }
    })();
    // Reads may be answered as a Table (server-side printing, see `table`).
    let result = match (result, table::negotiate(accept)) {
        (Ok((code, v)), table::Wanted::Table(version)) if matches!(verb, "list" | "get") => {
            table::Include::parse(query.get("includeObject").map(String::as_str)).map(|include| {
                let now = time::OffsetDateTime::now_utc();
                (code, table::to_table(&info, &v, version, include, now))
            })
        }
        (r, _) => r,
    };
    match result {
        Ok((code, v)) => {
            if matches!(
                verb,
                "create" | "update" | "patch" | "delete" | "deletecollection"
            ) {
                cluster.poke.notify_one();
            }
            json_response(code, &v)
        }
        Err(e) => error_response(&e),
    }
}

fn group_json(g: &str, vs: &[String]) -> Value {
    let versions: Vec<Value> = vs
        .iter()
        .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(json!({}));
    json!({"name": g, "versions": versions, "preferredVersion": preferred})
}

fn decode_body(body: &Bytes, content_type: &str) -> Result<Value, KubeError> {
    if content_type.contains("yaml") {
        return decode_yaml(body);
    }
    serde_json::from_slice(body).map_err(|e| {
        KubeError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })
}

fn decode_yaml(body: &Bytes) -> Result<Value, KubeError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| KubeError::bad_request(format!("error decoding YAML: {e}")))?;
    let docs = super::super::config::yaml_documents(text)
        .map_err(|e| KubeError::bad_request(format!("error decoding YAML: {e}")))?;
    match docs.len() {
        1 => docs
            .into_iter()
            .next()
            .ok_or_else(|| KubeError::bad_request("empty body")),
        0 => Err(KubeError::bad_request("invalid object type: /, Kind=")),
        _ => Err(KubeError::bad_request(
            "error decoding YAML: multiple documents are not allowed in an apply patch",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_targets() {
        let cases = [
            (
                "/api/v1/namespaces",
                Some(("", "v1", "namespaces", Target::Collection { ns: None })),
            ),
            (
                "/api/v1/namespaces/kube-system",
                Some((
                    "",
                    "v1",
                    "namespaces",
                    Target::Item {
                        ns: String::new(),
                        name: "kube-system".into(),
                    },
                )),
            ),
            (
                "/api/v1/namespaces/a/configmaps",
                Some((
                    "",
                    "v1",
                    "configmaps",
                    Target::Collection {
                        ns: Some("a".into()),
                    },
                )),
            ),
            (
                "/api/v1/namespaces/a/configmaps/b",
                Some((
                    "",
                    "v1",
                    "configmaps",
                    Target::Item {
                        ns: "a".into(),
                        name: "b".into(),
                    },
                )),
            ),
            (
                "/api/v1/namespaces/a/status",
                Some((
                    "",
                    "v1",
                    "namespaces",
                    Target::Sub {
                        ns: String::new(),
                        name: "a".into(),
                        sub: "status".into(),
                    },
                )),
            ),
            (
                "/apis/apps/v1/namespaces/x/deployments/d",
                Some((
                    "apps",
                    "v1",
                    "deployments",
                    Target::Item {
                        ns: "x".into(),
                        name: "d".into(),
                    },
                )),
            ),
            ("/apis/apps/v1", None),
            ("/bogus", None),
        ];
        for (path, want) in cases {
            let got = parse_path(path);
            let want = want.map(|(g, v, r, t)| (g.to_string(), v.to_string(), r.to_string(), t));
            assert_eq!(got, want, "{path}");
        }
    }

    #[test]
    fn queries_are_decoded() {
        let q = parse_query(Some("labelSelector=app%3Dweb%2Ctier&force=true&x"));
        assert_eq!(
            q.get("labelSelector").map(String::as_str),
            Some("app=web,tier")
        );
        assert_eq!(q.get("force").map(String::as_str), Some("true"));
        assert_eq!(q.get("x").map(String::as_str), Some(""));
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
