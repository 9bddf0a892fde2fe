//! `/nodes/{node}/tasks`: UPID status and logs (research §C.1, §C.3).

#[allow(unused_imports)]
use super::*;

pub(super) fn upid_valid(upid: &str) -> bool {
    let parts: Vec<&str> = upid.split(':').collect();
    parts.len() >= 9
        && parts[0] == "UPID"
        && parts[2..5]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_hexdigit()))
}

pub(super) fn task_json(t: &world::Task, node: &str) -> Value {
    let mut v = json!({
        "upid": t.upid, "node": node, "pid": t.pid, "pstart": t.pstart, "starttime": t.starttime,
        "type": t.kind, "id": t.id, "user": t.user,
        "status": if t.exitstatus.is_some() { "stopped" } else { "running" }
    });
    if let Some(e) = &t.exitstatus {
        v["exitstatus"] = json!(e);
    }
    v
}

/// Node `node` and its task `upid`, once `upid` parses.
fn find_task<'a>(
    w: &'a World,
    node: usize,
    upid: &str,
) -> Result<(&'a world::Node, &'a world::Task), ApiError> {
    if !upid_valid(upid) {
        return Err(param_err(
            "upid",
            format!("unable to parse worker upid '{upid}'"),
        ));
    }
    let n = w.nodes.get(node).ok_or_else(|| die("no such node"))?;
    let t = n
        .tasks
        .iter()
        .find(|t| t.upid == upid)
        .ok_or_else(|| die("no such task"))?;
    Ok((n, t))
}

pub(super) fn task_status(lab: &LabInner, node: usize, upid: &str) -> ApiResult {
    let w = lab.world();
    let (n, t) = find_task(&w, node, upid)?;
    Ok(task_json(t, &n.name))
}

pub(super) fn task_log(
    lab: &LabInner,
    node: usize,
    upid: &str,
    p: &BTreeMap<String, String>,
) -> ApiResult {
    let w = lab.world();
    let (_, t) = find_task(&w, node, upid)?;
    let start: usize = p.get("start").and_then(|s| s.parse().ok()).unwrap_or(0);
    let limit: usize = p.get("limit").and_then(|s| s.parse().ok()).unwrap_or(50);
    let lines: Vec<Value> = t
        .log
        .iter()
        .enumerate()
        .skip(start)
        .take(limit)
        .map(|(i, l)| json!({"n": i + 1, "t": l}))
        .collect();
    if lines.is_empty() && t.exitstatus.is_none() {
        return Ok(json!([{"n": 1, "t": "no content"}]));
    }
    Ok(Value::Array(lines))
}

pub(super) fn tasks_list(lab: &LabInner, node: usize) -> ApiResult {
    let w = lab.world();
    let n = w.nodes.get(node).ok_or_else(|| die("no such node"))?;
    let mut v: Vec<Value> = n
        .tasks
        .iter()
        .rev()
        .take(50)
        .map(|t| {
            let mut j = task_json(t, &n.name);
            if let Some(e) = t.endtime {
                j["endtime"] = json!(e);
            }
            j
        })
        .collect();
    v.truncate(50);
    Ok(Value::Array(v))
}
