//! The lab's own control endpoint (plain HTTP on the bastion address, port 7000): scripted
//! faults, the operation trace, the lab state, and stop. It is the lab's interface, not an
//! emulated one, so it answers in its own simple JSON.
//!
//! - `GET /faults` — the active rules.
//! - `POST /faults` — add a rule, a list of rules, or `{"rules": [...]}`.
//! - `DELETE /faults` — remove every rule and release hung calls.
//! - `POST /faults/release` — release calls held by `hang` faults.
//! - `GET /trace` — every operation so far.
//! - `GET /state` — the same document as `lab.json`.
//! - `POST /oci/spend` — `{"usd": 1.25}`: the month-to-date spend the OCI endpoint reports.
//! - `POST /stop` — stop the lab.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::faults::FaultRule;
use super::http::{self, Reply, Req};
use super::LabInner;

pub(crate) async fn serve(lab: Arc<LabInner>, listener: TcpListener) {
    let lab_t = lab.clone();
    let token = move || Some(lab_t.cancel.child_token());
    let lab_h = lab.clone();
    let handler = move |req: Req, _conn: CancellationToken| {
        let lab = lab_h.clone();
        async move { Reply::Send(handle(&lab, req)) }
    };
    http::serve(lab, listener, None, token, handler).await;
}

fn ok(v: Value) -> http::Resp {
    http::response(200, None, Some(v.to_string()))
}

fn bad(status: u16, msg: &str) -> http::Resp {
    http::response(status, None, Some(json!({ "error": msg }).to_string()))
}

fn handle(lab: &Arc<LabInner>, req: Req) -> http::Resp {
    match (req.method.as_str(), req.path.trim_end_matches('/')) {
        ("GET", "/faults") => ok(json!(lab.faults.rules())),
        ("POST", "/faults") => {
            let v: Value = match serde_json::from_slice(&req.body) {
                Ok(v) => v,
                Err(e) => return bad(400, &format!("body is not JSON: {e}")),
            };
            let rules: Result<Vec<FaultRule>, String> = match &v {
                Value::Array(_) => serde_json::from_value(v.clone()).map_err(|e| e.to_string()),
                Value::Object(o) if o.contains_key("rules") => {
                    serde_json::from_value(o.get("rules").cloned().unwrap_or(Value::Null))
                        .map_err(|e| e.to_string())
                }
                _ => serde_json::from_value::<FaultRule>(v.clone())
                    .map(|r| vec![r])
                    .map_err(|e| e.to_string()),
            };
            let rules = match rules {
                Ok(r) => r,
                Err(e) => return bad(400, &format!("not a fault rule: {e}")),
            };
            for r in &rules {
                if let Err(e) = r.validate() {
                    return bad(400, &e.to_string());
                }
            }
            let n = rules.len();
            for r in rules {
                let _ = lab.faults.add(r);
            }
            ok(json!({ "added": n }))
        }
        ("DELETE", "/faults") => {
            lab.faults.clear();
            ok(json!({ "cleared": true }))
        }
        ("POST", "/faults/release") => {
            lab.faults.release_hangs();
            ok(json!({ "released": true }))
        }
        ("GET", "/trace") => ok(json!(*lab.trace.lock().unwrap_or_else(|p| p.into_inner()))),
        ("GET", "/state") => {
            ok(serde_json::to_value(super::state::describe(lab)).unwrap_or(Value::Null))
        }
        ("POST", "/oci/spend") => {
            let usd = serde_json::from_slice::<Value>(&req.body)
                .ok()
                .and_then(|v| v.get("usd").and_then(Value::as_f64));
            match usd {
                Some(u) if u.is_finite() && u >= 0.0 => {
                    lab.oci.set_spend(u);
                    ok(json!({ "usd": u }))
                }
                _ => bad(400, "body must be {\"usd\": N} with N >= 0"),
            }
        }
        ("POST", "/stop") => {
            lab.cancel.cancel();
            ok(json!({ "stopping": true }))
        }
        (_, "/faults" | "/faults/release" | "/trace" | "/state" | "/stop" | "/oci/spend") => {
            bad(405, "method not allowed")
        }
        _ => bad(
            404,
            "no such endpoint; see /faults, /trace, /state, /oci/spend, /stop",
        ),
    }
}
