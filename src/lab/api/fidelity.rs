//! Fidelity tests of the Proxmox VE API: value types, parameter checks, task lists, auth and
//! method errors, each against the real daemon's output and the upstream code it rests on.

use std::collections::BTreeSet;

use serde_json::Value;

use super::super::testkit::{self, enc, Api};
use super::super::{FaultAction, FaultRule, FaultTrigger, Lab, LabConfig, LabState};
use super::returns::{self as schema, RETURNS};

async fn lab() -> (Lab, LabState) {
    let lab = Lab::start(LabConfig::for_tests())
        .await
        .expect("lab starts");
    let st = lab.state();
    (lab, st)
}

fn host<'a>(st: &'a LabState, name: &str) -> &'a super::super::HostState {
    st.hosts.iter().find(|h| h.name == name).expect("host")
}

/// Calls `path` and checks `data` against the declaration for `route`; records the route.
async fn walk(
    api: &Api,
    seen: &mut BTreeSet<&'static str>,
    route: &'static str,
    method: &str,
    path: &str,
    form: &[(&str, &str)],
) -> Value {
    let r = api.call(method, path, form).await;
    assert_eq!(r.status, 200, "{route}: {r:?}");
    let body = r.json();
    let decl = schema::returns(route).unwrap_or_else(|| panic!("{route} is not declared"));
    let bad = schema::mismatches(decl, &body["data"]);
    assert!(bad.is_empty(), "{route}:\n{}", bad.join("\n"));
    seen.insert(decl.route);
    body
}

async fn wait(api: &Api, body: &Value) -> String {
    let upid = body["data"].as_str().expect("upid").to_string();
    api.wait_task("ampere-1", &upid).await
}

#[tokio::test]
async fn every_route_serves_each_field_with_the_type_the_real_handler_gives() {
    // Perl's JSON encoder writes numbers only for values a handler computed as numbers, so
    // types follow the handlers (pve-manager, qemu-server, pve-storage, pve-cluster); a VM's
    // config is typed by `parse_vm_config`/`check_type`: on PVE 8.1+ a real
    // `GET /nodes/pve/qemu/100/config` gives `"cores":1,"numa":0,"template":1` beside
    // `"memory":"2048"` (a property string) and `"cpulimit":"1.5"` (`number` stays text).
    let (lab, st) = lab().await;
    let api = Api::login(&st, "ampere-1").await;
    let mut seen = BTreeSet::new();
    let n = "/nodes/ampere-1";
    let w = &mut seen;
    walk(&api, w, "GET /version", "GET", "/version", &[]).await;
    walk(
        &api,
        w,
        "GET /nodes/{node}/version",
        "GET",
        &format!("{n}/version"),
        &[],
    )
    .await;
    walk(
        &api,
        w,
        "GET /access/domains",
        "GET",
        "/access/domains",
        &[],
    )
    .await;
    let login = [("username", "root@pam"), ("password", "")];
    let pw = host(&st, "ampere-1")
        .api_password
        .clone()
        .expect("password");
    let login = [login[0], ("password", pw.as_str())];
    walk(
        &api,
        w,
        "POST /access/ticket",
        "POST",
        "/access/ticket",
        &login,
    )
    .await;
    let tok = walk(
        &api,
        w,
        "POST /access/users/{userid}/token/{tokenid}",
        "POST",
        "/access/users/root@pam/token/walk",
        &[("privsep", "0")],
    )
    .await;
    assert_eq!(tok["data"]["full-tokenid"], "root@pam!walk");
    walk(
        &api,
        w,
        "GET /cluster/status",
        "GET",
        "/cluster/status",
        &[],
    )
    .await;
    let next = walk(
        &api,
        w,
        "GET /cluster/nextid",
        "GET",
        "/cluster/nextid",
        &[],
    )
    .await;
    assert_eq!(next["data"], "100");
    walk(&api, w, "GET /nodes", "GET", "/nodes", &[]).await;
    walk(
        &api,
        w,
        "GET /nodes/{node}/status",
        "GET",
        &format!("{n}/status"),
        &[],
    )
    .await;
    walk(&api, w, "GET /storage", "GET", "/storage", &[]).await;
    walk(
        &api,
        w,
        "GET /nodes/{node}/storage",
        "GET",
        &format!("{n}/storage"),
        &[],
    )
    .await;
    let storage = "GET /nodes/{node}/storage/{storage}";
    walk(&api, w, storage, "GET", &format!("{n}/storage/local"), &[]).await;
    let iso = super::super::iso9660::build_iso("WALK", &[("README.TXT", b"walk\n".as_slice())]);
    let up = api
        .upload("ampere-1", "local", "iso", "walk.iso", &iso)
        .await;
    assert_eq!(up.status, 200, "{up:?}");
    let decl = schema::returns("POST /nodes/{node}/storage/{storage}/upload").expect("declared");
    assert!(schema::mismatches(decl, &up.json()["data"]).is_empty());
    w.insert(decl.route);
    let created = walk(
        &api,
        w,
        "POST /nodes/{node}/qemu",
        "POST",
        &format!("{n}/qemu"),
        &[
            ("vmid", "100"),
            ("name", "walk"),
            ("memory", "2048"),
            ("cores", "1"),
            ("numa", "0"),
            ("cpulimit", "1.5"),
            ("kvm", "0"),
            ("bios", "ovmf"),
            ("machine", "virt"),
            ("agent", "1"),
            ("efidisk0", "local-lvm:1,efitype=4m"),
            ("scsi0", "local-lvm:8,iothread=1"),
            ("scsi2", "local:iso/walk.iso,media=cdrom"),
            ("net0", "virtio,bridge=vmbr0"),
            ("ipconfig0", "ip=10.0.1.20/24,gw=10.0.1.1"),
        ],
    )
    .await;
    assert_eq!(wait(&api, &created).await, "OK");
    let vm = format!("{n}/qemu/100");
    walk(
        &api,
        w,
        "GET /nodes/{node}/qemu",
        "GET",
        &format!("{n}/qemu"),
        &[],
    )
    .await;
    walk(&api, w, "GET /nodes/{node}/qemu/{vmid}", "GET", &vm, &[]).await;
    let cfg_route = "GET /nodes/{node}/qemu/{vmid}/config";
    let cfg = walk(&api, w, cfg_route, "GET", &format!("{vm}/config"), &[]).await;
    let d = &cfg["data"];
    assert_eq!(
        (
            &d["cores"],
            &d["numa"],
            &d["kvm"],
            &d["memory"],
            &d["cpulimit"]
        ),
        (
            &Value::from(1),
            &Value::from(0),
            &Value::from(0),
            &Value::from("2048"),
            &Value::from("1.5")
        )
    );
    assert!(d.get("vmid").is_none(), "the config file has no vmid");
    let set = walk(
        &api,
        w,
        "POST /nodes/{node}/qemu/{vmid}/config",
        "POST",
        &format!("{vm}/config"),
        &[("description", "walked")],
    )
    .await;
    assert_eq!(wait(&api, &set).await, "OK");
    let resized = walk(
        &api,
        w,
        "PUT /nodes/{node}/qemu/{vmid}/resize",
        "PUT",
        &format!("{vm}/resize"),
        &[("disk", "scsi0"), ("size", "+2G")],
    )
    .await;
    assert_eq!(wait(&api, &resized).await, "OK");
    walk(
        &api,
        w,
        "GET /nodes/{node}/qemu/{vmid}/status",
        "GET",
        &format!("{vm}/status"),
        &[],
    )
    .await;
    let started = walk(
        &api,
        w,
        "POST /nodes/{node}/qemu/{vmid}/status/{action}",
        "POST",
        &format!("{vm}/status/start"),
        &[],
    )
    .await;
    wait(&api, &started).await;
    let cur_route = "GET /nodes/{node}/qemu/{vmid}/status/current";
    let cur = walk(
        &api,
        w,
        cur_route,
        "GET",
        &format!("{vm}/status/current"),
        &[],
    )
    .await;
    assert_eq!(cur["data"]["agent"], 1, "present only when enabled");
    walk(
        &api,
        w,
        "GET /cluster/resources",
        "GET",
        "/cluster/resources",
        &[],
    )
    .await;
    let upid = started["data"].as_str().expect("upid").to_string();
    let t = format!("{n}/tasks/{}", enc(&upid));
    walk(
        &api,
        w,
        "GET /nodes/{node}/tasks",
        "GET",
        &format!("{n}/tasks"),
        &[],
    )
    .await;
    walk(&api, w, "GET /nodes/{node}/tasks/{upid}", "GET", &t, &[]).await;
    let status_route = "GET /nodes/{node}/tasks/{upid}/status";
    walk(&api, w, status_route, "GET", &format!("{t}/status"), &[]).await;
    walk(
        &api,
        w,
        "GET /nodes/{node}/tasks/{upid}/log",
        "GET",
        &format!("{t}/log"),
        &[],
    )
    .await;
    let content = "GET /nodes/{node}/storage/{storage}/content";
    walk(
        &api,
        w,
        content,
        "GET",
        &format!("{n}/storage/local/content"),
        &[],
    )
    .await;
    let volume = "GET /nodes/{node}/storage/{storage}/content/{volume}";
    let vpath = format!("{n}/storage/local/content/{}", enc("local:iso/walk.iso"));
    walk(&api, w, volume, "GET", &vpath, &[]).await;
    let content_types = [("content", "iso,vztmpl,backup,import")];
    walk(
        &api,
        w,
        "PUT /storage/{storage}",
        "PUT",
        "/storage/local",
        &content_types,
    )
    .await;
    let dl = walk(
        &api,
        w,
        "POST /nodes/{node}/storage/{storage}/download-url",
        "POST",
        &format!("{n}/storage/local/download-url"),
        &[
            (
                "url",
                &format!("{}/talos/nocloud-arm64.qcow2", st.files_url),
            ),
            ("content", "import"),
            ("filename", "talos.qcow2"),
        ],
    )
    .await;
    assert_eq!(wait(&api, &dl).await, "OK");
    let stopped = api
        .call("POST", &format!("{vm}/status/stop"), &[])
        .await
        .json();
    wait(&api, &stopped).await;
    let del = walk(
        &api,
        w,
        "DELETE /nodes/{node}/qemu/{vmid}",
        "DELETE",
        &vm,
        &[],
    )
    .await;
    wait(&api, &del).await;
    let del_vol = "DELETE /nodes/{node}/storage/{storage}/content/{volume}";
    walk(&api, w, del_vol, "DELETE", &vpath, &[]).await;
    // Clustered views: corosync.conf tokens stay strings in the join info and node list.
    let out = testkit::ssh(&st, "ampere-1", "pvecm create walk", None).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    walk(
        &api,
        w,
        "GET /cluster/status",
        "GET",
        "/cluster/status",
        &[],
    )
    .await;
    let join = walk(
        &api,
        w,
        "GET /cluster/config/join",
        "GET",
        "/cluster/config/join",
        &[],
    )
    .await;
    assert_eq!(join["data"]["nodelist"][0]["nodeid"], "1");
    walk(
        &api,
        w,
        "GET /cluster/config/nodes",
        "GET",
        "/cluster/config/nodes",
        &[],
    )
    .await;
    let apiv = "GET /cluster/config/apiversion";
    walk(&api, w, apiv, "GET", "/cluster/config/apiversion", &[]).await;
    for cmd in [
        "pveceph install --repository no-subscription",
        "pveceph init",
        "pveceph mon create",
    ] {
        let out = testkit::ssh(&st, "ampere-1", cmd, None).await;
        assert_eq!(out.code, Some(0), "{cmd}: {out:?}");
    }
    walk(
        &api,
        w,
        "GET /cluster/ceph/status",
        "GET",
        "/cluster/ceph/status",
        &[],
    )
    .await;
    let ceph = "GET /nodes/{node}/ceph/status";
    walk(&api, w, ceph, "GET", &format!("{n}/ceph/status"), &[]).await;
    let missing: Vec<&str> = RETURNS
        .iter()
        .map(|r| r.route)
        .filter(|r| !seen.contains(r))
        .collect();
    assert!(
        missing.is_empty(),
        "routes the walk never called: {missing:?}"
    );
    lab.stop().await.expect("stop");
}

#[test]
fn the_walk_fails_on_a_number_served_as_a_string() {
    // The check itself: `"cores":"1"` is what a config read back from the file would look
    // like without `check_type`, and must not pass.
    let decl = schema::returns("GET /nodes/{node}/qemu/{vmid}/config").expect("declared");
    let bad = schema::mismatches(decl, &serde_json::json!({"cores": "1", "name": "x"}));
    assert_eq!(bad.len(), 1, "{bad:?}");
    let decl = schema::returns("GET /nodes/{node}/tasks").expect("declared");
    let bad = schema::mismatches(
        decl,
        &serde_json::json!([{"pid": "4660", "exitstatus": "OK"}]),
    );
    assert_eq!(bad.len(), 1, "{bad:?}");
    let bad = schema::mismatches(decl, &serde_json::json!([{"surprise": 1}]));
    assert_eq!(
        bad,
        vec!["GET /nodes/{node}/tasks: field surprise is not declared"]
    );
}

#[tokio::test]
async fn parameters_are_verified_before_the_handler_runs() {
    // pve-common RESTHandler.pm `handle` validates before calling the handler; JSONSchema.pm
    // `parse_property_string` nests the failing key under the parameter, and
    // PVE::Exception's `stringify` appends it: a real PVE 8 answers `net0=foo` with
    // {"errors":{"net0":"invalid format - format error\nnet0.model: value 'foo' does not have a
    // value in the enumeration 'e1000, …, virtio, vmxnet3'\n"},"message":"Parameter
    // verification failed.\n","data":null}.
    let (lab, st) = lab().await;
    let api = Api::login(&st, "ampere-1").await;
    let create = |form: Vec<(&'static str, &'static str)>| {
        let api = &api;
        async move { api.call("POST", "/nodes/ampere-1/qemu", &form).await }
    };
    let r = create(vec![("vmid", "100"), ("net0", "foo")]).await;
    assert_eq!(
        (r.status, r.reason.as_str()),
        (400, "Parameter verification failed.")
    );
    let body = r.json();
    assert_eq!(body["message"], "Parameter verification failed.\n");
    assert_eq!(body["data"], Value::Null);
    let net0 = body["errors"]["net0"].as_str().unwrap_or_default();
    assert!(
        net0.starts_with("invalid format - format error\nnet0.model: value 'foo' does not have a value in the enumeration 'e1000, "),
        "{net0}"
    );
    let r = create(vec![("vmid", "100"), ("net0", "bridge=vmbr0")]).await;
    assert_eq!(
        r.json()["errors"]["net0"],
        "invalid format - format error\nnet0.model: property is missing and it is not optional\n"
    );
    let r = create(vec![
        ("vmid", "100"),
        ("ipconfig0", "ip=10.0.1.20/24,gw=10.0.1"),
    ])
    .await;
    assert_eq!(
        r.json()["errors"]["ipconfig0"],
        "invalid format - format error\nipconfig0.gw: invalid format - value does not look like a valid IPv4 address\n\n"
    );
    let r = create(vec![("vmid", "100"), ("boot", "order=efidisk0")]).await;
    assert_eq!(
        r.json()["errors"]["boot"],
        "invalid format - format error\nboot.order: invalid format - invalid boot device 'efidisk0'\n\n"
    );
    let r = create(vec![("vmid", "100"), ("scsi0", "local-lvm:8,media=tape")]).await;
    assert_eq!(r.status, 400, "{r:?}");
    // A good create, then the same id again: the 500 "already exists" comes only for valid
    // parameters; with a bad one the 400 comes first.
    let ok = create(vec![("vmid", "100"), ("net0", "virtio,bridge=vmbr0")]).await;
    assert_eq!(wait(&api, &ok.json()).await, "OK");
    let again = create(vec![("vmid", "100")]).await;
    assert_eq!(
        (again.status, again.json()["message"].as_str()),
        (
            500,
            Some("unable to create VM 100 - VM 100 already exists on node 'ampere-1'\n")
        )
    );
    let again_bad = create(vec![("vmid", "100"), ("net0", "foo")]).await;
    assert_eq!(again_bad.status, 400, "400 before 'already exists'");
    // Updates too: a bad value for a VM that does not exist is still a 400.
    let r = api
        .call(
            "PUT",
            "/nodes/ampere-1/qemu/999/config",
            &[("cores", "two")],
        )
        .await;
    assert_eq!(
        (r.status, r.json()["errors"]["cores"].as_str()),
        (400, Some("type check ('integer') failed - got 'two'"))
    );
    let r = api
        .call("PUT", "/nodes/ampere-1/qemu/999/config", &[("cores", "2")])
        .await;
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (
            500,
            Some("Configuration file 'nodes/ampere-1/qemu-server/999.conf' does not exist\n")
        )
    );
    // The stored net0 got a MAC (`add_random_macs`) and reads back as `virtio=MAC,…`.
    let cfg = api.get("/nodes/ampere-1/qemu/100/config").await.json();
    let net0 = cfg["data"]["net0"].as_str().unwrap_or_default().to_string();
    assert!(
        net0.starts_with("virtio=BC:24:11:") && net0.ends_with(",bridge=vmbr0"),
        "{net0}"
    );
    lab.stop().await.expect("stop");
}

#[tokio::test]
async fn task_lists_have_the_shape_of_tasks_pm() {
    // pve-manager PVE/API2/Tasks.pm `node_tasks`: archived tasks newest first with `endtime`
    // and the exit text in `status` (no `exitstatus`); running ones only for source=active|all,
    // with status "RUNNING"; a token's tasks split `user` and `tokenid`; `total` beside
    // `data`. A real entry: {"upid":"UPID:pve:000A1B2C:0123ABCD:66C5E0A0:qmstart:100:root@pam:",
    // "node":"pve","pid":662316,"pstart":19114957,"starttime":1724244128,"endtime":1724244130,
    // "type":"qmstart","id":"100","user":"root@pam","status":"OK"}.
    let (lab, st) = lab().await;
    let api = Api::login(&st, "ampere-1").await;
    let out = testkit::ssh(
        &st,
        "ampere-1",
        "pveum user token add root@pam ci --privsep 0 --output-format json",
        None,
    )
    .await;
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    let tok = Api::token(
        &st,
        "ampere-1",
        "root@pam!ci",
        v["value"].as_str().unwrap_or(""),
    );
    let r = tok
        .call("POST", "/nodes/ampere-1/qemu", &[("vmid", "100")])
        .await;
    assert_eq!(wait(&api, &r.json()).await, "OK");
    let r = api
        .call(
            "POST",
            "/nodes/ampere-1/qemu",
            &[("vmid", "101"), ("kvm", "1")],
        )
        .await;
    assert_eq!(wait(&api, &r.json()).await, "OK");
    let r = api
        .call("POST", "/nodes/ampere-1/qemu/101/status/start", &[])
        .await;
    let failed = wait(&api, &r.json()).await;
    assert!(
        failed.starts_with("KVM virtualisation configured"),
        "{failed}"
    );
    lab.add_fault(FaultRule {
        op: "step:qm.create".into(),
        host: Some("ampere-1".into()),
        action: FaultAction::Hang,
        trigger: FaultTrigger::Always,
    })
    .expect("fault");
    let r = api
        .call("POST", "/nodes/ampere-1/qemu", &[("vmid", "102")])
        .await;
    let running = r.json()["data"].as_str().unwrap_or_default().to_string();

    let list = api.get("/nodes/ampere-1/tasks").await.json();
    assert_eq!(list["total"], 3, "{list}");
    let rows = list["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["type"], "qmstart", "newest first");
    assert!(rows[0]["status"]
        .as_str()
        .unwrap_or("")
        .starts_with("KVM virtualisation"));
    assert_eq!(rows[2]["status"], "OK");
    assert_eq!(
        (&rows[2]["user"], &rows[2]["tokenid"]),
        (&Value::from("root@pam"), &Value::from("ci"))
    );
    for row in &rows {
        assert!(row.get("exitstatus").is_none(), "{row}");
        assert!(
            row["endtime"].as_u64() >= row["starttime"].as_u64(),
            "{row}"
        );
    }
    let all = api.get("/nodes/ampere-1/tasks?source=all").await.json();
    assert_eq!(all["total"], 4);
    assert_eq!(all["data"][0]["upid"], running.as_str());
    assert_eq!(all["data"][0]["status"], "RUNNING");
    assert!(all["data"][0].get("endtime").is_none());
    let page = api
        .get("/nodes/ampere-1/tasks?start=1&limit=1")
        .await
        .json();
    assert_eq!(
        (
            page["total"].as_u64(),
            page["data"].as_array().map(Vec::len)
        ),
        (Some(3), Some(1))
    );
    let r = api.get("/nodes/ampere-1/tasks?limit=-1").await;
    assert_eq!(
        r.json()["errors"]["limit"],
        "value must have a minimum value of 0"
    );
    // The status endpoint: running without, stopped with an `exitstatus`.
    let s = api
        .get(&format!("/nodes/ampere-1/tasks/{}/status", enc(&running)))
        .await
        .json();
    assert_eq!(s["data"]["status"], "running");
    assert!(s["data"].get("exitstatus").is_none());
    let r = api.get("/nodes/ampere-1/tasks/UPID:nonsense/status").await;
    assert_eq!(
        (r.status, r.json()["errors"]["upid"].as_str()),
        (400, Some("unable to parse worker upid"))
    );
    // pstart is the worker's start in clock ticks since boot (USER_HZ 100): no later than the
    // node's uptime.
    let uptime = api.get("/nodes/ampere-1/status").await.json()["data"]["uptime"]
        .as_u64()
        .unwrap_or(0);
    let pstart = rows[0]["pstart"].as_u64().unwrap_or(u64::MAX);
    assert!(
        pstart / 100 <= uptime + 1 && pstart > 0,
        "pstart {pstart}, uptime {uptime}"
    );
    lab.release_hangs();
    lab.stop().await.expect("stop");
}

#[tokio::test]
async fn auth_and_method_errors_are_pveproxys() {
    // pve-http-server AnyEvent.pm `process_header` refuses other methods before auth: a real
    // `curl -I https://pve:8006/api2/json/version` gives "HTTP/1.1 501 method 'HEAD' not
    // available". A stale ticket on PVE 9.1.2 (before pve-manager commit 26c10a2e) gives
    // "HTTP/1.1 401 permission denied - invalid PVE ticket" with an empty body and the
    // headers "Cache-Control: max-age=0", "Connection: close", "Date: Mon, 10 Dec 2018
    // 18:24:47 GMT", "Expires: Mon, 10 Dec 2018 18:24:47 GMT", "Pragma: no-cache",
    // "Server: pve-api-daemon/3.0" (theforeman/foreman_fog_proxmox#55); a wrong token
    // secret gives `verify_token`'s "invalid token value!".
    let (lab, st) = lab().await;
    let h = host(&st, "ampere-1");
    let fp = h.api_tls_fingerprint_sha256.clone().expect("fingerprint");
    for method in ["HEAD", "PATCH", "OPTIONS"] {
        let r = testkit::https(h, &fp, method, "/version", &[], None)
            .await
            .expect("answer");
        assert_eq!(
            (r.status, r.reason.as_str(), r.body.as_str()),
            (501, format!("method '{method}' not available").as_str(), "")
        );
    }
    let stale = vec![(
        "cookie",
        "PVEAuthCookie=PVE:root@pam:5C0EAF2F::c2lnbmF0dXJl".to_string(),
    )];
    let r = testkit::https(h, &fp, "GET", "/nodes", &stale, None)
        .await
        .expect("answer");
    assert_eq!(
        (r.status, r.reason.as_str(), r.body.as_str()),
        (401, "permission denied - invalid PVE ticket", "")
    );
    let hdr = |k: &str| {
        r.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(hdr("server"), "pve-api-daemon/3.0");
    assert_eq!(hdr("cache-control"), "max-age=0");
    assert_eq!(hdr("pragma"), "no-cache");
    assert_eq!(hdr("connection"), "close");
    assert!(
        hdr("date").ends_with(" GMT") && hdr("date").len() == 29,
        "{}",
        hdr("date")
    );
    assert_eq!(hdr("expires"), hdr("date"));
    let out = testkit::ssh(
        &st,
        "ampere-1",
        "pveum user token add root@pam ci --privsep 0 --output-format json",
        None,
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let cases = [
        (
            "root@pam!ci",
            "00000000-0000-0000-0000-000000000000",
            "invalid token value!",
        ),
        (
            "root@pam!nope",
            "x",
            "no such token 'nope' for user 'root@pam'",
        ),
        ("someone@pve!ci", "x", "no such user ('someone@pve')"),
    ];
    for (id, secret, reason) in cases {
        let r = Api::token(&st, "ampere-1", id, secret).get("/nodes").await;
        assert_eq!(
            (r.status, r.reason.as_str(), r.body.as_str()),
            (401, reason, ""),
            "{id}"
        );
    }
    let api = Api::login(&st, "ampere-1").await;
    let ok = api.get("/version").await;
    assert_eq!(
        ok.headers.get("server").and_then(|v| v.to_str().ok()),
        Some("pve-api-daemon/3.0")
    );
    assert!(
        ok.headers.get("connection").is_none(),
        "kept alive after a success"
    );
    lab.stop().await.expect("stop");
}

/// Starts `download-url` on ampere-1's `local` and waits: the task's exit status and log.
async fn download(api: &Api, form: &[(&str, &str)]) -> (String, Vec<String>) {
    let r = api
        .call("POST", "/nodes/ampere-1/storage/local/download-url", form)
        .await;
    assert_eq!(r.status, 200, "{form:?}: {r:?}");
    let upid = r.json()["data"].as_str().expect("upid").to_string();
    assert!(upid.contains(":download:"), "{upid}");
    let status = api.wait_task("ampere-1", &upid).await;
    let log = api
        .get(&format!("/nodes/ampere-1/tasks/{}/log", enc(&upid)))
        .await
        .json();
    let lines = log["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["t"].as_str().map(str::to_string))
        .collect();
    (status, lines)
}

#[tokio::test]
async fn download_url_fetches_verifies_and_unpacks_like_pve_storage() {
    // pve-storage API2/Storage/Status.pm `download_url` and pve-common Tools.pm
    // `download_file_from_url`: a real task log reads "downloading URL to
    // /var/lib/vz/template/iso/NAME", "calculating checksum...OK, checksum verified",
    // "decompressing TMP to TMP", "download of 'URL' to 'PATH' finished", "TASK OK".
    // Only ISOs decompress (`decompressor_info('iso', …)`: zcat, `lzop -d -c`,
    // `zstd -q -d -c`); `compression` has no working enum, so `xz` fails inside the task.
    let (lab, st) = lab().await;
    let api = Api::login(&st, "ampere-1").await;
    let r = api
        .call(
            "PUT",
            "/storage/local",
            &[("content", "iso,vztmpl,backup,import")],
        )
        .await;
    assert_eq!(r.status, 200);
    let files = format!("{}/talos", st.files_url);
    let sums = reqwest_free_get(&format!("{files}/SHA256SUMS")).await;
    let sum_of = |name: &str| {
        sums.lines()
            .find(|l| l.ends_with(&format!("  {name}")))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_default()
            .to_string()
    };
    let iso_url = format!("{files}/metal-arm64.iso");
    let iso_sum = sum_of("metal-arm64.iso");
    let (status, log) = download(
        &api,
        &[
            ("url", &iso_url),
            ("content", "iso"),
            ("filename", "talos.iso"),
            ("checksum", &iso_sum),
            ("checksum-algorithm", "sha256"),
        ],
    )
    .await;
    assert_eq!(status, "OK", "{log:?}");
    assert_eq!(
        log,
        vec![
            format!("downloading {iso_url} to /var/lib/vz/template/iso/talos.iso"),
            "calculating checksum...OK, checksum verified".to_string(),
            format!("download of '{iso_url}' to '/var/lib/vz/template/iso/talos.iso' finished"),
            "TASK OK".to_string(),
        ]
    );
    let size_of = |list: &Value, volid: &str| {
        list["data"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["volid"] == volid)
            .and_then(|v| v["size"].as_u64())
    };
    let content = api
        .get("/nodes/ampere-1/storage/local/content")
        .await
        .json();
    let iso_size = size_of(&content, "local:iso/talos.iso").expect("downloaded");
    // Each compressed form unpacks to the same ISO.
    for comp in ["gz", "zst", "lzo"] {
        let url = format!("{files}/metal-arm64.iso.{comp}");
        let name = format!("talos-{comp}.iso");
        let (status, log) = download(
            &api,
            &[
                ("url", &url),
                ("content", "iso"),
                ("filename", &name),
                ("compression", comp),
            ],
        )
        .await;
        assert_eq!(status, "OK", "{comp}: {log:?}");
        assert!(
            log.iter().any(|l| l.starts_with("decompressing ")),
            "{log:?}"
        );
        let content = api
            .get("/nodes/ampere-1/storage/local/content")
            .await
            .json();
        assert_eq!(
            size_of(&content, &format!("local:iso/{name}")),
            Some(iso_size),
            "{comp}"
        );
    }
    // Refusals, each where the real endpoint makes it.
    let xz = format!("{files}/nocloud-arm64.raw.xz");
    let (status, _) = download(
        &api,
        &[
            ("url", &xz),
            ("content", "iso"),
            ("filename", "talos-xz.img"),
            ("compression", "xz"),
        ],
    )
    .await;
    assert_eq!(status, "no decompression method found");
    let r = api
        .call(
            "POST",
            "/nodes/ampere-1/storage/local/download-url",
            &[
                ("url", &xz),
                ("content", "import"),
                ("filename", "talos.raw.xz"),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.json()["errors"]["filename"].as_str()),
        (400, Some("invalid filename or wrong extension"))
    );
    let qcow = format!("{files}/nocloud-arm64.qcow2");
    let (status, _) = download(
        &api,
        &[
            ("url", &qcow),
            ("content", "import"),
            ("filename", "talos.qcow2"),
            ("compression", "gz"),
        ],
    )
    .await;
    assert_eq!(status, "decompression not supported for import");
    let (status, _) = download(
        &api,
        &[
            ("url", &qcow),
            ("content", "import"),
            ("filename", "talos.qcow2"),
        ],
    )
    .await;
    assert_eq!(status, "OK");
    let (status, _) = download(
        &api,
        &[
            ("url", &xz),
            ("content", "import"),
            ("filename", "fake.qcow2"),
        ],
    )
    .await;
    assert!(status.starts_with("failed to verify file: "), "{status}");
    let (status, log) = download(
        &api,
        &[
            ("url", &iso_url),
            ("content", "iso"),
            ("filename", "bad-sum.iso"),
            ("checksum", &"0".repeat(64)),
            ("checksum-algorithm", "sha256"),
        ],
    )
    .await;
    assert_eq!(
        status,
        format!(
            "checksum mismatch: got '{iso_sum}' != expect '{}'",
            "0".repeat(64)
        )
    );
    assert!(
        log.contains(&"calculating checksum...".to_string()),
        "{log:?}"
    );
    let (status, _) = download(
        &api,
        &[
            ("url", &iso_url),
            ("content", "iso"),
            ("filename", "talos.iso"),
        ],
    )
    .await;
    assert_eq!(
        status,
        "refusing to override existing file '/var/lib/vz/template/iso/talos.iso'"
    );
    // wget's exit codes: 8 for a server error, 4 for a network failure. The lab has no route
    // out, so an address beyond it fails as a network failure without a packet sent.
    let (status, _) = download(
        &api,
        &[
            ("url", &format!("{files}/missing.iso")),
            ("content", "iso"),
            ("filename", "m.iso"),
        ],
    )
    .await;
    assert!(
        status.starts_with("download failed: ") && status.ends_with("exit code 8"),
        "{status}"
    );
    let outside = "https://factory.talos.dev/image/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba/v1.13.9/metal-arm64.iso";
    let (status, _) = download(
        &api,
        &[("url", outside), ("content", "iso"), ("filename", "o.iso")],
    )
    .await;
    assert!(status.ends_with("exit code 4"), "{status}");
    lab.stop().await.expect("stop");
}

/// A plain HTTP GET of a lab file-server URL, through the lab's own fetcher.
async fn reqwest_free_get(url: &str) -> String {
    let authority = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let body = super::super::files::fetch(&authority, url)
        .await
        .expect("file server answers");
    String::from_utf8_lossy(&body).to_string()
}

#[tokio::test]
async fn pvesh_and_qm_answer_from_the_same_state_as_the_api() {
    // pve-manager PVE/CLI/pvesh.pm runs the API handlers in-process; `--output-format json`
    // prints the data alone with sorted keys (CLIFormatter.pm, `canonical => 1`). qemu-server
    // PVE/CLI/qm.pm: `qm list` prints nothing without VMs, else its printf table; a real
    // `qm list` on a node with one stopped VM reads
    // "      VMID NAME                 STATUS     MEM(MB)    BOOTDISK(GB) PID       \n
    //         100 cp-1                 stopped    2048               8.00 0         \n".
    let (lab, st) = lab().await;
    let api = Api::login(&st, "ampere-1").await;
    let sh = |cmd: String| {
        let st = &st;
        async move { testkit::ssh(st, "ampere-1", &cmd, None).await }
    };
    let out = sh("qm list".into()).await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (Some(0), ""),
        "no VMs, no header"
    );
    let r = api
        .call(
            "POST",
            "/nodes/ampere-1/qemu",
            &[
                ("vmid", "100"),
                ("name", "cp-1"),
                ("memory", "2048"),
                ("scsi0", "local-lvm:8"),
                ("numa", "0"),
            ],
        )
        .await;
    assert_eq!(wait(&api, &r.json()).await, "OK");
    let out = sh("qm list".into()).await;
    assert_eq!(
        out.stdout,
        "      VMID NAME                 STATUS     MEM(MB)    BOOTDISK(GB) PID       \n       100 cp-1                 stopped    2048               8.00 0         \n"
    );
    assert_eq!(sh("qm status 100".into()).await.stdout, "status: stopped\n");
    let verbose = sh("qm status 100 --verbose".into()).await.stdout;
    assert!(
        verbose.contains("ha:\n\tmanaged: 0\n") && verbose.contains("vmid: 100\n"),
        "{verbose}"
    );
    let config = sh("qm config 100".into()).await.stdout;
    assert!(
        config.contains("memory: 2048\n") && config.contains("numa: 0\n"),
        "{config}"
    );
    assert!(!config.contains("digest"), "{config}");
    let missing = sh("qm config 999".into()).await;
    assert_eq!(
        (missing.code, missing.stderr.as_str()),
        (
            Some(255),
            "Configuration file 'nodes/ampere-1/qemu-server/999.conf' does not exist\n"
        )
    );
    // pvesh and the API agree, value for value and type for type.
    let via_api = api.get("/nodes/ampere-1/qemu/100/config").await.json()["data"].clone();
    let out = sh("pvesh get /nodes/ampere-1/qemu/100/config --output-format json".into()).await;
    let via_pvesh: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(via_pvesh, via_api);
    let keys: Vec<&String> = via_pvesh
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "canonical key order");
    assert_eq!(sh("pvesh get /cluster/nextid".into()).await.stdout, "101\n");
    assert_eq!(
        sh("pvesh get /cluster/nextid --output-format json".into())
            .await
            .stdout,
        "\"101\"\n"
    );
    let pretty = sh("pvesh get /version --output-format json-pretty".into())
        .await
        .stdout;
    assert!(pretty.starts_with("{\n   \"release\" : \""), "{pretty}");
    let bad = sh("pvesh create /nodes/ampere-1/qemu --vmid 101 --net0 foo".into()).await;
    assert_eq!(bad.code, Some(255));
    assert!(
        bad.stderr.starts_with("400 Parameter verification failed.\nnet0: invalid format - format error\nnet0.model: value 'foo'"),
        "{}",
        bad.stderr
    );
    let made = sh("pvesh create /nodes/ampere-1/qemu --vmid 101 --name made-by-pvesh".into()).await;
    assert_eq!(made.code, Some(0), "{made:?}");
    assert!(
        made.stdout.trim_end().ends_with("root@pam:"),
        "prints the UPID: {made:?}"
    );
    let list = api.get("/nodes/ampere-1/qemu").await.json();
    assert!(list["data"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|v| v["name"] == "made-by-pvesh"));
    let none = sh("pvesh get /no/such".into()).await;
    assert_eq!(none.stderr, "no 'get' handler for '/no/such'\n");
    // The walk over commands: every read route, through pvesh, keeps the API's types.
    let upid = r.json()["data"].as_str().unwrap_or_default().to_string();
    for (route, path) in [
        ("GET /version", "/version".to_string()),
        ("GET /cluster/status", "/cluster/status".into()),
        ("GET /cluster/resources", "/cluster/resources".into()),
        ("GET /nodes", "/nodes".into()),
        ("GET /nodes/{node}/status", "/nodes/ampere-1/status".into()),
        ("GET /nodes/{node}/qemu", "/nodes/ampere-1/qemu".into()),
        (
            "GET /nodes/{node}/qemu/{vmid}/config",
            "/nodes/ampere-1/qemu/100/config".into(),
        ),
        (
            "GET /nodes/{node}/qemu/{vmid}/status/current",
            "/nodes/ampere-1/qemu/100/status/current".into(),
        ),
        ("GET /nodes/{node}/tasks", "/nodes/ampere-1/tasks".into()),
        (
            "GET /nodes/{node}/tasks/{upid}/status",
            format!("/nodes/ampere-1/tasks/{upid}/status"),
        ),
        (
            "GET /nodes/{node}/storage",
            "/nodes/ampere-1/storage".into(),
        ),
        ("GET /storage", "/storage".into()),
    ] {
        let out = sh(format!("pvesh get {path} --output-format json")).await;
        assert_eq!(out.code, Some(0), "{path}: {out:?}");
        let data: Value = serde_json::from_str(&out.stdout).expect("json");
        let decl = schema::returns(route).expect("declared");
        let bad = schema::mismatches(decl, &data);
        assert!(bad.is_empty(), "pvesh {path}:\n{}", bad.join("\n"));
    }
    lab.stop().await.expect("stop");
}
