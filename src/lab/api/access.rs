//! `/access`: ticket login (`pve-access-control` `API2/AccessControl.pm`), API tokens
//! (`API2/User.pm`), and the ticket/CSRF token formats (`pve-common` `Ticket.pm`).

#[allow(unused_imports)]
use super::*;

/// Builds a ticket `PVE:user:HEXTIME::SIG` (pve-common Ticket.pm layout; HMAC instead of RSA).
pub(super) fn make_ticket(key: &[u8], user: &str, t: u64) -> String {
    let plain = format!("PVE:{user}:{t:08X}");
    let sig = keys::hmac_b64(key, plain.as_bytes());
    format!("{plain}::{sig}")
}

/// Ticket lifetime: 2 h (research §C.3).
pub(super) const TICKET_LIFETIME: u64 = 7200;

pub(super) fn verify_ticket(key: &[u8], ticket: &str) -> Option<String> {
    let (plain, sig) = ticket.split_once("::")?;
    if keys::hmac_b64(key, plain.as_bytes()) != sig {
        return None;
    }
    let mut it = plain.split(':');
    if it.next()? != "PVE" {
        return None;
    }
    let user = it.next()?.to_string();
    let t = u64::from_str_radix(it.next()?, 16).ok()?;
    let now = world::now_secs();
    if now + 300 < t || now.saturating_sub(t) >= TICKET_LIFETIME {
        return None;
    }
    Some(user)
}

pub(super) fn make_csrf(key: &[u8], user: &str, t: u64) -> String {
    let ts = format!("{t:08X}");
    let sig = keys::hmac_b64(key, format!("{ts}:{user}").as_bytes());
    format!("{ts}:{sig}")
}

pub(super) fn verify_csrf(key: &[u8], user: &str, token: &str) -> bool {
    let Some((ts, sig)) = token.split_once(':') else {
        return false;
    };
    let Ok(t) = u64::from_str_radix(ts, 16) else {
        return false;
    };
    let age = world::now_secs() as i64 - t as i64;
    keys::hmac_b64(key, format!("{ts}:{user}").as_bytes()) == sig
        && age > -300
        && (age as u64) < TICKET_LIFETIME
}

pub(super) async fn login(
    lab: &Arc<LabInner>,
    node: usize,
    p: &BTreeMap<String, String>,
) -> ApiResult {
    let mut user = p
        .get("username")
        .cloned()
        .ok_or_else(|| param_err("username", "property is missing and it is not optional"))?;
    let password = p
        .get("password")
        .cloned()
        .ok_or_else(|| param_err("password", "property is missing and it is not optional"))?;
    if let Some(realm) = p.get("realm") {
        if !user.contains('@') {
            user = format!("{user}@{realm}");
        }
    }
    let key = lab
        .world()
        .access(node)
        .map(|a| a.ticket_key.clone())
        .unwrap_or_default();
    // A valid ticket in place of the password renews it (AccessControl.pm create_ticket).
    let ok = user == "root@pam"
        && (lab.root_password_ok(node, &password)
            || verify_ticket(&key, &password).as_deref() == Some("root@pam"));
    if !ok {
        return Err(ApiError::Status(401, "authentication failure\n".into()));
    }
    let now = world::now_secs();
    let clustername = lab.world().cluster_of(node).map(|c| c.name.clone());
    let mut data = json!({
        "username": user,
        "ticket": make_ticket(&key, &user, now),
        "CSRFPreventionToken": make_csrf(&key, &user, now),
        "cap": {"vms": {"VM.Allocate": 1}, "storage": {"Datastore.Allocate": 1}, "nodes": {"Sys.Audit": 1}, "access": {"User.Modify": 1}, "dc": {"Sys.Audit": 1}}
    });
    if let Some(c) = clustername {
        data["clustername"] = json!(c);
    }
    Ok(data)
}

pub(super) fn token_api(
    lab: &Arc<LabInner>,
    node: usize,
    m: &str,
    user: &str,
    name: &str,
    p: &BTreeMap<String, String>,
    caller: Option<&Caller>,
) -> ApiResult {
    require(caller, &format!("/access/users/{user}"), "User.Modify")?;
    if user != "root@pam" {
        return Err(die(format!("no such user ('{user}')")));
    }
    let mut w = lab.world();
    let clustered = w
        .nodes
        .get(node)
        .map(|n| n.cluster.is_some())
        .unwrap_or(false);
    if m != "GET" && clustered && !w.node_quorate(node) {
        return Err(die("cluster not ready - no quorum?"));
    }
    let access = w.access_mut(node).ok_or_else(|| die("no access config"))?;
    match m {
        "GET" => {
            let t = access
                .tokens
                .get(name)
                .ok_or_else(|| die(format!("no such token '{name}' for user '{user}'")))?;
            Ok(json!({"privsep": u8::from(t.privsep), "expire": t.expire, "comment": t.comment}))
        }
        "POST" => {
            if access.tokens.contains_key(name) {
                return Err(param_err("tokenid", "Token already exists."));
            }
            let privsep = p.get("privsep").map(|v| v == "1").unwrap_or(true);
            let secret = keys::uuid_v4();
            access.tokens.insert(
                name.to_string(),
                world::Token {
                    secret: secret.clone(),
                    privsep,
                    comment: p.get("comment").cloned().unwrap_or_default(),
                    expire: p.get("expire").and_then(|e| e.parse().ok()).unwrap_or(0),
                },
            );
            Ok(
                json!({"full-tokenid": format!("{user}!{name}"), "info": {"privsep": u8::from(privsep)}, "value": secret}),
            )
        }
        "DELETE" => {
            access
                .tokens
                .remove(name)
                .ok_or_else(|| die(format!("no such token '{name}' for user '{user}'")))?;
            Ok(Value::Null)
        }
        _ => Err(ApiError::Status(
            501,
            format!("Method '{m} /access/users/{user}/token/{name}' not implemented"),
        )),
    }
}
