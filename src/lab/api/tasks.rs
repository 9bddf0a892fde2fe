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

/// `user` and `tokenid` of a task's auth id: a token's tasks name the token apart
/// (`Tasks.pm` `$convert_token_task`, `AccessControl.pm` `split_tokenid`).
fn user_and_token(auth_id: &str) -> (&str, Option<&str>) {
    match auth_id.split_once('!') {
        Some((user, token)) => (user, Some(token)),
        None => (auth_id, None),
    }
}

/// The fields `upid_decode` gives every task (`pve-common` `UPID.pm` `decode`: pid, pstart and
/// starttime numbers from `hex()`).
fn decoded(t: &world::Task, node: &str) -> Value {
    let (user, tokenid) = user_and_token(&t.user);
    let mut v = json!({
        "upid": t.upid, "node": node, "pid": t.pid, "pstart": t.pstart, "starttime": t.starttime,
        "type": t.kind, "id": t.id, "user": user,
    });
    if let Some(tok) = tokenid {
        v["tokenid"] = json!(tok);
    }
    v
}

/// `GET …/tasks/{upid}/status` (`Tasks.pm` `read_task_status`): `status` is `running` or
/// `stopped`, and only a stopped task has an `exitstatus`.
pub(super) fn task_json(t: &world::Task, node: &str) -> Value {
    let mut v = decoded(t, node);
    match &t.exitstatus {
        Some(e) => {
            v["status"] = json!("stopped");
            v["exitstatus"] = json!(e);
        }
        None => v["status"] = json!("running"),
    }
    v
}

/// Node `node` and its task `upid`, once `upid` parses.
fn find_task<'a>(
    w: &'a World,
    node: usize,
    upid: &str,
) -> Result<(&'a world::Node, &'a world::Task), ApiError> {
    // Both are parameter exceptions (`raise_param_exc`), so 400s.
    if !upid_valid(upid) {
        return Err(param_err("upid", "unable to parse worker upid"));
    }
    let n = w.nodes.get(node).ok_or_else(|| die("no such node"))?;
    let t = n
        .tasks
        .iter()
        .find(|t| t.upid == upid)
        .ok_or_else(|| param_err("upid", "no such task"))?;
    Ok((n, t))
}

pub(super) fn task_status(lab: &LabInner, node: usize, upid: &str) -> ApiResult {
    let w = lab.world();
    let (n, t) = find_task(&w, node, upid)?;
    Ok(task_json(t, &n.name))
}

/// `GET …/tasks/{upid}/log`: `{n, t}` lines from `start`, at most `limit`, and the line count
/// as `total` (`pve-common` `Tools.pm` `dump_logfile`).
pub(super) fn task_log(
    lab: &LabInner,
    node: usize,
    upid: &str,
    p: &BTreeMap<String, String>,
) -> Result<Answer, ApiError> {
    let w = lab.world();
    let (_, t) = find_task(&w, node, upid)?;
    check_params(p, &[("start", COUNT), ("limit", COUNT)])?;
    let num = |k: &str| p.get(k).and_then(|v| v.parse::<usize>().ok());
    let (start, limit) = (num("start").unwrap_or(0), num("limit").unwrap_or(50));
    if t.log.is_empty() {
        return Ok(Answer::with_total(json!([{"n": 1, "t": "no content"}]), 1));
    }
    let lines: Vec<Value> = t
        .log
        .iter()
        .enumerate()
        .skip(start)
        .take(limit)
        .map(|(i, l)| json!({"n": i + 1, "t": l}))
        .collect();
    Ok(Answer::with_total(Value::Array(lines), t.log.len() as u64))
}

/// Checks the optional parameters `schema` declares (others pass, as handlers declare more).
fn check_params(
    p: &BTreeMap<String, String>,
    schema: &[(&'static str, schema::Prop)],
) -> Result<(), ApiError> {
    let mut errors = schema::Errors::new();
    schema::check_object("", schema, p, true, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Param(errors))
    }
}

/// A non-negative integer (`type => 'integer', minimum => 0`).
const COUNT: schema::Prop = schema::opt(schema::Ty::Int(Some(0), None));

/// `GET /nodes/{node}/tasks` (`pve-manager` `PVE/API2/Tasks.pm` `node_tasks`): the archive
/// newest first, each with `endtime` and its exit text in `status` and no `exitstatus`;
/// running tasks (with `status: RUNNING` and no end time) only for `source=active|all`, ahead
/// of the archive; the count of all matches as `total`.
pub(super) fn tasks_list(
    lab: &LabInner,
    node: usize,
    p: &BTreeMap<String, String>,
) -> Result<Answer, ApiError> {
    check_params(
        p,
        &[
            ("start", COUNT),
            ("limit", COUNT),
            ("vmid", schema::opt(schema::Ty::Int(Some(100), None))),
            ("since", COUNT),
            ("until", COUNT),
            ("errors", schema::opt(schema::Ty::Bool)),
            (
                "source",
                schema::opt(schema::Ty::Str(schema::Check::Enum(&[
                    "archive", "active", "all",
                ]))),
            ),
        ],
    )?;
    let num = |k: &str| p.get(k).and_then(|v| v.parse::<u64>().ok());
    let start = num("start").unwrap_or(0) as usize;
    let limit = num("limit").unwrap_or(50) as usize;
    let source = p.get("source").map(String::as_str).unwrap_or("archive");
    let only_errors = p.get("errors").and_then(|v| schema::parse_bool(v)) == Some(true);
    let w = lab.world();
    let n = w.nodes.get(node).ok_or_else(|| die("no such node"))?;
    let keep = |t: &&world::Task| {
        let user_ok = p
            .get("userfilter")
            .map(|f| t.user.to_lowercase().contains(&f.to_lowercase()))
            .unwrap_or(true);
        let type_ok = p.get("typefilter").map(|f| *f == t.kind).unwrap_or(true);
        let vmid_ok = p.get("vmid").map(|v| *v == t.id).unwrap_or(true);
        let since_ok = num("since").map(|s| t.starttime >= s).unwrap_or(true);
        let until_ok = num("until").map(|u| t.starttime <= u).unwrap_or(true);
        let error_ok = !only_errors || t.exitstatus.as_deref() != Some("OK");
        user_ok && type_ok && vmid_ok && since_ok && until_ok && error_ok
    };
    let running = n.tasks.iter().rev().filter(|t| t.exitstatus.is_none());
    let archived = n.tasks.iter().rev().filter(|t| t.exitstatus.is_some());
    let active: Vec<&world::Task> = match source {
        "archive" => Vec::new(),
        _ => running.filter(keep).collect(),
    };
    let archive: Vec<&world::Task> = match source {
        "active" => Vec::new(),
        _ => archived.filter(keep).collect(),
    };
    let total = (active.len() + archive.len()) as u64;
    let rows: Vec<Value> = active
        .into_iter()
        .chain(archive)
        .skip(start)
        .take(limit)
        .map(|t| {
            let mut j = decoded(t, &n.name);
            match (&t.exitstatus, t.endtime) {
                (Some(status), Some(end)) => {
                    j["endtime"] = json!(end);
                    j["status"] = json!(status);
                }
                _ => j["status"] = json!("RUNNING"),
            }
            j
        })
        .collect();
    Ok(Answer::with_total(Value::Array(rows), total))
}
