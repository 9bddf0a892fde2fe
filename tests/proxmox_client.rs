//! The Proxmox VE API client against the lab's emulated Proxmox VE API: what it trusts, how it
//! authenticates, how it waits for tasks, and how PVE's refusals reach the user.
//!
//! Each test starts its own lab on free loopback addresses and creates an API token over the
//! lab's SSH, as an operator would (`pveum user token add root@pam NAME --privsep 0`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use freetier::clients::proxmox::{
    Call, Client, DownloadUrl, Error, QemuConfigUpdate, Upid, Upload,
};
use freetier::clients::ErrorKind;
use freetier::lab::{FaultRule, HostState, Lab, LabConfig, LabState};
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKey};
use russh::ChannelMsg;
use tokio_util::sync::CancellationToken;

const NODE: &str = "ampere-1";
const POLL: Duration = Duration::from_millis(5);

/// A running lab, its first Proxmox host, and a client holding a fresh API token.
struct Fixture {
    lab: Lab,
    state: LabState,
    host: HostState,
    client: Client,
    secret: String,
}

impl Fixture {
    async fn start() -> Fixture {
        let lab = Lab::start(LabConfig {
            hosts: 1,
            ..LabConfig::for_tests()
        })
        .await
        .expect("lab starts");
        let state = lab.state();
        let host = state.hosts[0].clone();
        let out = ssh(
            &state,
            &host,
            "pveum user token add root@pam terraform --privsep 0 --output-format json",
        )
        .await;
        let token: serde_json::Value = serde_json::from_str(&out).expect("pveum prints json");
        let secret = token["value"].as_str().expect("token value").to_string();
        let client = Client::new(
            host.api_url.as_deref().expect("api url"),
            token["full-tokenid"].as_str().expect("token id"),
            &secret,
            &fingerprint(&host),
        )
        .expect("client");
        Fixture {
            lab,
            state,
            host,
            client,
            secret,
        }
    }

    /// The VM options the lab's aarch64 hosts accept: no KVM, UEFI, the `virt` machine.
    fn vm_options(name: &str) -> BTreeMap<String, String> {
        [
            ("name", name),
            ("cores", "1"),
            ("memory", "2048"),
            ("kvm", "0"),
            ("bios", "ovmf"),
            ("machine", "virt"),
            ("scsihw", "virtio-scsi-pci"),
            ("scsi0", "local-lvm:4"),
            ("net0", "virtio,bridge=vmbr0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// Names of the API operations the lab has served, e.g. `api:GET /version`.
    fn api_ops(&self) -> Vec<String> {
        self.lab
            .trace()
            .into_iter()
            .map(|e| e.op)
            .filter(|op| op.starts_with("api:"))
            .collect()
    }
}

fn call() -> Call {
    Call::new(&CancellationToken::new(), Duration::from_secs(30))
}

fn fingerprint(h: &HostState) -> String {
    h.api_tls_fingerprint_sha256
        .clone()
        .expect("proxmox hosts have an API certificate")
}

async fn wait_ok(f: &Fixture, upid: &Upid) -> freetier::clients::proxmox::TaskOutcome {
    let outcome = f
        .client
        .wait_task(NODE, upid, POLL, &call())
        .await
        .expect("task stops");
    assert!(outcome.ok, "task failed: {outcome:?}");
    outcome
}

// ---- SSH, as an operator on the host would run `pveum` and `pvecm` ----

struct HostKey(Option<PublicKey>);

impl russh::client::Handler for HostKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            return Ok(false);
        };
        Ok(self
            .0
            .as_ref()
            .map(|k| k.key_data() == key.key_data())
            .unwrap_or(false))
    }
}

/// Runs `cmd` on `host` as root; returns stdout, failing the test on a non-zero exit.
async fn ssh(state: &LabState, host: &HostState, cmd: &str) -> String {
    let key = PrivateKey::from_openssh(state.ssh_private_key_openssh.as_bytes()).expect("lab key");
    let expected = PublicKey::from_openssh(&host.ssh_host_key).ok();
    let addr = format!("{}:{}", host.address, host.ssh_port);
    let mut session = russh::client::connect(
        Arc::new(russh::client::Config::default()),
        addr.as_str(),
        HostKey(expected),
    )
    .await
    .expect("ssh connects");
    let auth = session
        .authenticate_publickey("root", PrivateKeyWithHashAlg::new(Arc::new(key), None))
        .await
        .expect("ssh auth");
    assert!(
        matches!(auth, russh::client::AuthResult::Success),
        "ssh login refused"
    );
    let mut ch = session.channel_open_session().await.expect("channel");
    ch.exec(true, cmd).await.expect("exec");
    ch.eof().await.expect("eof");
    let (mut stdout, mut stderr, mut code) = (String::new(), String::new(), None);
    while let Some(msg) = ch.wait().await {
        match msg {
            ChannelMsg::Data { data } => stdout.push_str(&String::from_utf8_lossy(&data)),
            ChannelMsg::ExtendedData { data, .. } => {
                stderr.push_str(&String::from_utf8_lossy(&data))
            }
            ChannelMsg::ExitStatus { exit_status } => code = Some(exit_status),
            _ => {}
        }
    }
    let _ = session
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await;
    assert_eq!(code, Some(0), "`{cmd}` failed: {stderr}");
    stdout
}

// ---- Trust and authentication ----

#[tokio::test]
async fn the_pinned_certificate_is_trusted() {
    let f = Fixture::start().await;
    let v = f.client.version(&call()).await.expect("version");
    assert!(v.version.starts_with("9."), "{v:?}");
    let nodes = f.client.nodes(&call()).await.expect("nodes");
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].node, NODE);
    assert_eq!(nodes[0].status, "online");
    assert_eq!(
        nodes[0].ssl_fingerprint.as_deref(),
        Some(fingerprint(&f.host).as_str()),
        "the node reports the certificate we pinned"
    );
    let st = f.client.node_status(NODE, &call()).await.expect("status");
    assert!(st.pveversion.starts_with("pve-manager/9."), "{st:?}");
    assert_eq!(st.loadavg.len(), 3, "loadavg strings decode as numbers");
    assert!(st.memory.total > 0);
}

#[tokio::test]
async fn another_certificate_is_refused_at_the_handshake_before_any_request() {
    let f = Fixture::start().await;
    let pinned = fingerprint(&f.host);
    let wrong = "00:".repeat(31) + "00";
    let client = Client::new(
        f.host.api_url.as_deref().expect("api url"),
        "root@pam!terraform",
        &f.secret,
        &wrong,
    )
    .expect("client");
    let e = client.version(&call()).await.expect_err("refused");
    match &e {
        Error::CertificateMismatch {
            expected,
            presented,
            ..
        } => {
            assert_eq!(expected, &wrong);
            assert_eq!(
                presented, &pinned,
                "the error names what the node presented"
            );
        }
        other => panic!("not a certificate mismatch: {other:?}"),
    }
    assert_eq!(e.kind(), ErrorKind::Fatal, "retrying cannot fix a pin");
    assert!(e.to_string().contains("pvenode cert info"), "{e}");
    assert!(
        f.api_ops().is_empty(),
        "no request reached the API: {:?}",
        f.api_ops()
    );
}

#[tokio::test]
async fn a_refused_token_is_fatal_and_says_how_to_make_one() {
    let f = Fixture::start().await;
    let client = Client::new(
        f.host.api_url.as_deref().expect("api url"),
        "root@pam!terraform",
        "00000000-0000-0000-0000-000000000000",
        &fingerprint(&f.host),
    )
    .expect("client");
    let e = client.version(&call()).await.expect_err("refused");
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Fatal);
    let text = e.to_string();
    assert!(
        text.contains("root@pam!terraform"),
        "names the token: {text}"
    );
    assert!(
        text.contains("invalid token value!"),
        "gives PVE's reason: {text}"
    );
    assert!(
        text.contains("pveum user token add"),
        "says what to do: {text}"
    );
    assert!(
        !text.contains("00000000-0000"),
        "never shows the secret: {text}"
    );
}

// ---- VMs and tasks ----

#[tokio::test]
async fn a_vm_is_created_read_started_and_destroyed_through_its_tasks() {
    let f = Fixture::start().await;
    let c = &f.client;
    let vmid = c.next_vmid(&call()).await.expect("nextid");
    assert_eq!(vmid, 100, "nextid's \"100\" decodes as a number");

    let upid = c
        .qemu_create(NODE, vmid, &Fixture::vm_options("cp-1"), &call())
        .await
        .expect("create accepted");
    assert_eq!(upid.node(), Some(NODE));
    assert_eq!(upid.task_type(), Some("qmcreate"));
    let created = wait_ok(&f, &upid).await;
    assert_eq!(created.exitstatus, "OK");

    let cfg = c.qemu_config(NODE, vmid, &call()).await.expect("config");
    assert_eq!(cfg.name.as_deref(), Some("cp-1"));
    assert_eq!(cfg.cores, Some(1), "a number on the wire");
    assert_eq!(cfg.memory_mib(), Some(2048), "a string on the wire");
    assert_eq!(cfg.kvm, Some(false));
    assert!(
        cfg.option("net0")
            .is_some_and(|n| n.starts_with("virtio=BC:24:11:")),
        "PVE added a MAC: {cfg:?}"
    );
    assert!(
        cfg.option("scsi0").is_some_and(|d| d.contains("size=4G")),
        "{cfg:?}"
    );

    let update = QemuConfigUpdate {
        set: [("cores".to_string(), "2".to_string())].into(),
        delete: vec!["scsihw".into()],
        digest: cfg.digest.clone(),
    };
    if let Some(upid) = c
        .qemu_config_set(NODE, vmid, &update, &call())
        .await
        .expect("config set")
    {
        wait_ok(&f, &upid).await;
    }
    let cfg = c.qemu_config(NODE, vmid, &call()).await.expect("config");
    assert_eq!(cfg.cores, Some(2));
    assert_eq!(cfg.option("scsihw"), None);

    let stale = QemuConfigUpdate {
        set: [("cores".to_string(), "1".to_string())].into(),
        digest: update.digest.clone(),
        ..QemuConfigUpdate::default()
    };
    let e = c
        .qemu_config_set(NODE, vmid, &stale, &call())
        .await
        .expect_err("the config changed since that digest");
    assert_eq!(e.kind(), ErrorKind::Fatal, "{e}");

    let st = c.qemu_status(NODE, vmid, &call()).await.expect("status");
    assert!(!st.running());
    // OVMF without an efidisk starts with a warning (qemu-server `OVMF.pm`): still a success.
    let started = wait_ok(&f, &c.qemu_start(NODE, vmid, &call()).await.expect("start")).await;
    assert_eq!(started.warnings(), 1, "{started:?}");
    assert!(
        started.log_tail.iter().any(|l| l.contains("no efidisk")),
        "{started:?}"
    );
    let st = c.qemu_status(NODE, vmid, &call()).await.expect("status");
    assert!(st.running(), "{st:?}");
    assert!(st.pid.is_some());

    wait_ok(&f, &c.qemu_stop(NODE, vmid, &call()).await.expect("stop")).await;
    wait_ok(
        &f,
        &c.qemu_delete(NODE, vmid, true, &call())
            .await
            .expect("delete"),
    )
    .await;
    let e = c
        .qemu_config(NODE, vmid, &call())
        .await
        .expect_err("the VM is gone");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[tokio::test]
async fn a_second_vm_with_the_same_id_already_exists() {
    let f = Fixture::start().await;
    let c = &f.client;
    wait_ok(
        &f,
        &c.qemu_create(NODE, 120, &Fixture::vm_options("a"), &call())
            .await
            .expect("create"),
    )
    .await;
    let e = c
        .qemu_create(NODE, 120, &Fixture::vm_options("b"), &call())
        .await
        .expect_err("taken");
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    assert!(e.to_string().contains("VM 120 already exists"), "{e}");
}

#[tokio::test]
async fn a_failed_task_reports_its_exit_status_and_log() {
    let f = Fixture::start().await;
    let c = &f.client;
    let mut opts = Fixture::vm_options("needs-kvm");
    opts.remove("kvm");
    wait_ok(
        &f,
        &c.qemu_create(NODE, 101, &opts, &call())
            .await
            .expect("create"),
    )
    .await;
    let upid = c.qemu_start(NODE, 101, &call()).await.expect("start task");
    let outcome = c
        .wait_task(NODE, &upid, POLL, &call())
        .await
        .expect("the task stops");
    assert!(!outcome.ok);
    assert!(
        outcome
            .exitstatus
            .starts_with("KVM virtualisation configured, but not available"),
        "{outcome:?}"
    );
    assert!(
        outcome
            .log_tail
            .iter()
            .any(|l| l.contains("KVM virtualisation")),
        "{outcome:?}"
    );
    let e = outcome.into_result().expect_err("a failure");
    assert!(matches!(e, Error::TaskFailed { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Fatal);
    assert!(
        e.to_string().contains("KVM virtualisation configured"),
        "{e}"
    );
}

#[tokio::test]
async fn parameter_errors_are_reported_per_parameter() {
    let f = Fixture::start().await;
    let mut opts = Fixture::vm_options("bad");
    opts.insert("net0".into(), "foo".into());
    opts.insert("cores".into(), "zero".into());
    let e = f
        .client
        .qemu_create(NODE, 102, &opts, &call())
        .await
        .expect_err("refused");
    let Error::Parameters { errors, .. } = &e else {
        panic!("not a parameter error: {e:?}");
    };
    assert_eq!(
        errors.keys().map(String::as_str).collect::<Vec<_>>(),
        ["cores", "net0"]
    );
    assert!(errors["net0"].contains("net0.model"), "{errors:?}");
    assert!(errors["cores"].contains("integer"), "{errors:?}");
    assert_eq!(e.kind(), ErrorKind::Fatal);
    let text = e.to_string();
    assert!(
        text.starts_with("POST /nodes/ampere-1/qemu: parameter verification failed: cores: "),
        "{text}"
    );
}

// ---- Storage ----

#[tokio::test]
async fn files_are_uploaded_and_downloaded_to_storage() {
    let f = Fixture::start().await;
    let c = &f.client;
    let data = b"not really an iso, but the extension is what PVE checks".to_vec();
    let upload = Upload {
        content: "iso".into(),
        filename: "cidata-cp-1.iso".into(),
        data: data.clone(),
        checksum: None,
    };
    let upid = c
        .storage_upload(NODE, "local", &upload, &call())
        .await
        .expect("upload");
    wait_ok(&f, &upid).await;

    let download = DownloadUrl {
        url: format!("{}/talos/metal-arm64.iso", f.state.files_url),
        content: "iso".into(),
        filename: "metal-arm64.iso".into(),
        ..DownloadUrl::default()
    };
    let upid = c
        .storage_download_url(NODE, "local", &download, &call())
        .await
        .expect("download-url");
    wait_ok(&f, &upid).await;

    let items = c
        .storage_content(NODE, "local", Some("iso"), &call())
        .await
        .expect("content");
    let names: Vec<&str> = items.iter().map(|i| i.volid.as_str()).collect();
    assert!(names.contains(&"local:iso/cidata-cp-1.iso"), "{names:?}");
    assert!(names.contains(&"local:iso/metal-arm64.iso"), "{names:?}");
    let uploaded = items
        .iter()
        .find(|i| i.volid == "local:iso/cidata-cp-1.iso")
        .expect("uploaded");
    assert_eq!(uploaded.size, data.len() as u64);

    // The same name again: PVE's download task refuses to overwrite.
    let upid = c
        .storage_download_url(NODE, "local", &download, &call())
        .await
        .expect("accepted, then refused in the task");
    let outcome = c
        .wait_task(NODE, &upid, POLL, &call())
        .await
        .expect("stops");
    assert!(!outcome.ok);
    assert!(
        outcome.exitstatus.contains("refusing to override"),
        "{outcome:?}"
    );
}

// ---- Cluster reads, where numbers arrive as strings ----

#[tokio::test]
async fn cluster_membership_decodes_the_ids_pve_sends_as_strings() {
    let f = Fixture::start().await;
    let c = &f.client;
    let alone = c.cluster_status(&call()).await.expect("status");
    assert!(alone.cluster.is_none(), "{alone:?}");
    assert!(
        alone.quorate(),
        "a standalone node is not waiting for quorum"
    );
    let e = c
        .cluster_join_info(&call())
        .await
        .expect_err("no cluster yet");
    assert!(e.to_string().contains("not in a cluster"), "{e}");

    ssh(&f.state, &f.host, "pvecm create lab").await;
    let st = c.cluster_status(&call()).await.expect("status");
    let cluster = st.cluster.as_ref().expect("a cluster line");
    assert_eq!(cluster.name, "lab");
    assert!(cluster.quorate);
    assert_eq!(st.nodes.len(), 1);
    assert_eq!(st.nodes[0].nodeid, 1);
    assert!(st.nodes[0].local && st.nodes[0].online);

    let members = c.cluster_config_nodes(&call()).await.expect("nodes");
    assert_eq!(members.len(), 1);
    assert_eq!((members[0].node.as_str(), members[0].nodeid), (NODE, 1));
    assert_eq!(members[0].quorum_votes, Some(1));
    let join = c.cluster_join_info(&call()).await.expect("join info");
    assert_eq!(join.totem.cluster_name, "lab");
    assert_eq!(join.nodelist[0].nodeid, 1, "\"1\" on the wire");
    assert_eq!(
        join.nodelist[0].pve_fp.as_deref(),
        Some(fingerprint(&f.host).as_str()),
        "the certificate a joining node pins"
    );
}

// ---- Stop and timeouts ----

#[tokio::test]
async fn a_cancelled_call_returns_at_once() {
    let f = Fixture::start().await;
    f.lab
        .add_fault(FaultRule::hang_nth("api:GET /version", 1))
        .expect("fault");
    let cancel = CancellationToken::new();
    let client = f.client.clone();
    let slow = Call::new(&cancel, Duration::from_secs(600));
    let pending = tokio::spawn(async move { client.version(&slow).await });
    while f.lab.held_calls() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let asked = Instant::now();
    cancel.cancel();
    let e = pending
        .await
        .expect("joins")
        .expect_err("cancelled, not answered");
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");

    // Already stopped: nothing is sent.
    let before = f.api_ops().len();
    let e = f
        .client
        .nodes(&Call::new(&cancel, Duration::from_secs(5)))
        .await
        .expect_err("cancelled");
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert_eq!(f.api_ops().len(), before, "no request after Stop");
}

#[tokio::test]
async fn waiting_for_a_task_ends_on_stop_or_timeout() {
    let f = Fixture::start().await;
    // The create task hangs inside its worker until released.
    f.lab
        .add_fault(FaultRule::hang_nth("step:qm.create", 1))
        .expect("fault");
    let upid = f
        .client
        .qemu_create(NODE, 103, &Fixture::vm_options("stuck"), &call())
        .await
        .expect("create accepted");

    let e = f
        .client
        .wait_task(
            NODE,
            &upid,
            POLL,
            &Call::new(&CancellationToken::new(), Duration::from_millis(200)),
        )
        .await
        .expect_err("the task never stops");
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Transient);

    // A long poll interval: Stop must not wait for the next poll.
    let cancel = CancellationToken::new();
    let client = f.client.clone();
    let (u, c) = (upid.clone(), Call::new(&cancel, Duration::from_secs(600)));
    let polls = |f: &Fixture| {
        f.api_ops()
            .iter()
            .filter(|op| op.as_str() == "api:GET /nodes/{node}/tasks/{upid}/status")
            .count()
    };
    let before = polls(&f);
    let waiting = tokio::spawn(async move {
        client
            .wait_task(NODE, &u, Duration::from_secs(60), &c)
            .await
    });
    while polls(&f) == before {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let asked = Instant::now();
    cancel.cancel();
    let e = waiting.await.expect("joins").expect_err("cancelled");
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
    assert!(e.to_string().contains(&upid.0), "names the task: {e}");

    f.lab.release_hangs();
    wait_ok(&f, &upid).await;
}

#[tokio::test]
async fn ceph_health_is_read_with_its_failing_checks() {
    let f = Fixture::start().await;
    let e = f
        .client
        .ceph_status(&call())
        .await
        .expect_err("ceph is not installed yet");
    assert!(e.to_string().contains("binary not installed"), "{e}");

    ssh(
        &f.state,
        &f.host,
        "pveceph install --repository no-subscription && pveceph init && pveceph mon create",
    )
    .await;
    let st = f.client.ceph_status(&call()).await.expect("ceph status");
    assert_eq!(st.health.status, "HEALTH_WARN", "{st:?}");
    let check = st
        .health
        .checks
        .get("TOO_FEW_OSDS")
        .unwrap_or_else(|| panic!("no OSDs yet: {:?}", st.health));
    assert_eq!(check.severity, "HEALTH_WARN");
    assert!(
        check.summary.message.starts_with("OSD count 0"),
        "{check:?}"
    );
    assert_eq!(st.quorum_names, [NODE]);
}
