//! The Talos API client and the Kubernetes API client against the lab's emulated Talos nodes:
//! what they trust, how a node goes from maintenance mode to a bootstrapped control plane
//! through them, what Kubernetes reports before and after a CNI, and how failures are
//! classified.
//!
//! Each test starts its own fleet (time scale 0) on random loopback addresses and reaches it
//! only through the clients' public API. Admin credentials come from the lab's fixtures as a
//! talosconfig, the form an operator holds.

use std::future::Future;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use freetier::clients::kube;
use freetier::clients::talos::{self, ApplyMode, Client, MaintenanceClient, TalosContext};
use freetier::clients::{Call, ErrorKind};
use freetier::lab::talos::{
    fixtures, Fault, NodeBoot, NodeHandle, NodePhase, TalosError, TalosFleet, TalosTiming,
};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(20);

fn call() -> Call {
    Call::new(&CancellationToken::new(), Duration::from_secs(10))
}

fn fleet() -> TalosFleet {
    TalosFleet::new(TalosTiming {
        time_scale: 0.0,
        tcg: false,
    })
}

/// A loopback address in 127.1.1.0–127.254.254.255, away from 127.0.0.x.
fn random_ip() -> Ipv4Addr {
    let mut b = [0u8; 3];
    getrandom::fill(&mut b).expect("random");
    Ipv4Addr::new(127, b[0] % 254 + 1, b[1] % 254 + 1, b[2] % 250 + 2)
}

/// Boots a node whose user-data `make` writes for its address, on a free random address.
async fn boot<T>(f: &TalosFleet, make: impl Fn(Ipv4Addr) -> (String, T)) -> (NodeHandle, T) {
    for _ in 0..20 {
        let ip = random_ip();
        let (user_data, extra) = make(ip);
        let boot = NodeBoot {
            address: ip,
            hostname: format!("talos-{}-{}", ip.octets()[2], ip.octets()[3]),
            user_data,
            network_config: String::new(),
        };
        match f.boot(boot).await {
            Ok(node) => return (node, extra),
            Err(TalosError::AddressInUse(_) | TalosError::Bind { .. }) => continue,
            Err(e) => panic!("boot: {e}"),
        }
    }
    panic!("no free loopback address in 20 tries")
}

/// Polls `f` until it returns `Some`, at most [`WAIT`].
async fn until<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A configured control-plane node (booted with its config, apid up with mutual TLS), and
/// the talosconfig context for it.
struct ControlPlane {
    fleet: TalosFleet,
    node: NodeHandle,
    /// The whole machine configuration.
    config: String,
    context: TalosContext,
}

impl ControlPlane {
    async fn boot(edit: impl Fn(String) -> String) -> ControlPlane {
        let fleet = fleet();
        let (node, (config, context)) = boot(&fleet, |ip| {
            let (yaml, creds) =
                fixtures::controlplane_config("lab", &format!("https://{ip}:6443"), ip);
            let yaml = edit(yaml);
            let ctx = TalosContext::from_talosconfig(&creds.talosconfig("lab", &[ip]), None)
                .expect("the lab's talosconfig reads");
            (yaml.clone(), (yaml, ctx))
        })
        .await;
        assert_eq!(
            node.wait_apid(WAIT).await.expect("apid"),
            NodePhase::Running
        );
        ControlPlane {
            fleet,
            node,
            config,
            context,
        }
    }

    fn client(&self) -> Client {
        Client::new(&self.context.endpoints[0], &self.context.credentials).expect("client")
    }

    /// Bootstraps (retrying "not yet" answers) and returns the kubeconfig's Kubernetes client.
    async fn bootstrapped(&self) -> kube::Client {
        let talos = self.client();
        bootstrap(&talos).await;
        self.node.wait_kube_api(WAIT).await.expect("kubernetes api");
        let kubeconfig = talos.kubeconfig(&call()).await.expect("kubeconfig");
        kube::Client::from_kubeconfig(&kubeconfig).expect("kube client")
    }
}

/// Bootstrap, retried while the node answers "not yet" (Transient).
async fn bootstrap(talos: &Client) {
    until("bootstrap accepted", || async {
        match talos.bootstrap(&call()).await {
            Ok(()) => Some(()),
            Err(e) if e.kind() == ErrorKind::Transient => None,
            Err(e) => panic!("bootstrap: {e}"),
        }
    })
    .await
}

#[tokio::test]
async fn version_over_mutual_tls_with_the_admin_certificate() {
    let cp = ControlPlane::boot(|y| y).await;
    let v = cp.client().version(&call()).await.expect("version");
    assert_eq!(v.tag, "v1.13.9");
    assert_eq!((v.os.as_str(), v.arch.as_str()), ("linux", "arm64"));
    assert_eq!(v.platform, "nocloud");
    assert_eq!(v.rbac, Some(true), "a configured node reports RBAC");
    cp.fleet.stop_all().await;
}

#[tokio::test]
async fn a_node_signed_by_another_ca_is_refused() {
    let cp = ControlPlane::boot(|y| y).await;
    let (_, other) = fixtures::controlplane_config("other", "https://127.0.0.1:6443", random_ip());
    let mut creds = cp.context.credentials.clone();
    creds.ca_pem = other.ca_pem;
    let client = Client::new(&cp.context.endpoints[0], &creds).expect("client");
    let e = client.version(&call()).await.expect_err("refused");
    assert!(matches!(e, talos::Error::ServerCertificate { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Fatal);
    assert!(e.to_string().contains("does not vouch for"), "{e}");
    cp.fleet.stop_all().await;
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused() {
    let cp = ControlPlane::boot(|y| y).await;
    let (_, other) = fixtures::controlplane_config("other", "https://127.0.0.1:6443", random_ip());
    let mut creds = cp.context.credentials.clone();
    creds.crt_pem = other.crt_pem;
    creds.key_pem = other.key_pem;
    let client = Client::new(&cp.context.endpoints[0], &creds).expect("client");
    let e = client.version(&call()).await.expect_err("refused");
    assert!(
        matches!(e, talos::Error::ClientCertificateRefused { .. }),
        "{e:?}"
    );
    assert_eq!(e.kind(), ErrorKind::Fatal);
    cp.fleet.stop_all().await;
}

#[tokio::test]
async fn maintenance_apply_then_bootstrap_then_kubeconfig() {
    let f = fleet();
    let (node, ()) = boot(&f, |_| (String::new(), ())).await;
    let ip = node.address();
    let (yaml, creds) = fixtures::controlplane_config("lab", &format!("https://{ip}:6443"), ip);
    let context = TalosContext::from_talosconfig(&creds.talosconfig("lab", &[ip]), None)
        .expect("talosconfig");
    assert_eq!(
        node.wait_apid(WAIT).await.expect("apid"),
        NodePhase::Maintenance
    );

    // The mTLS client does not trust a node without a configuration.
    let talos = Client::new(&ip.to_string(), &context.credentials).expect("client");
    let e = talos.version(&call()).await.expect_err("not trusted yet");
    assert!(matches!(e, talos::Error::ServerCertificate { .. }), "{e:?}");

    // The maintenance client applies the configuration; the node installs it and reboots.
    let maintenance = MaintenanceClient::new(&ip.to_string()).expect("maintenance client");
    let applied = maintenance
        .apply_configuration(&yaml, ApplyMode::Auto, &call())
        .await
        .expect("applied");
    assert_eq!(applied.mode, Some(ApplyMode::NoReboot), "{applied:?}");
    node.wait_phase(WAIT, |p| *p == NodePhase::Running)
        .await
        .expect("running");

    // apid is up with mutual TLS; bootstrap; etcd comes up; the kubeconfig follows.
    let services = talos.service_list(&call()).await.expect("services");
    assert!(
        services.iter().any(|s| s.id == "apid" && s.is_up()),
        "{services:?}"
    );
    bootstrap(&talos).await;
    until("etcd up", || async {
        let services = talos.service_list(&call()).await.ok()?;
        services
            .iter()
            .any(|s| s.id == "etcd" && s.is_up())
            .then_some(())
    })
    .await;
    node.wait_kube_api(WAIT).await.expect("kubernetes api");
    let kubeconfig = talos.kubeconfig(&call()).await.expect("kubeconfig");
    let kc = kube::Kubeconfig::parse(&kubeconfig, None).expect("kubeconfig parses");
    assert_eq!(kc.server, format!("https://{ip}:6443"));
    assert_eq!(kc.context, "admin@lab");
    let v = kube::Client::new(&kc)
        .expect("kube client")
        .version(&call())
        .await
        .expect("kubernetes version");
    assert_eq!((v.major.as_str(), v.git_version.as_str()), ("1", "v1.36.3"));
    f.stop_all().await;
}

#[tokio::test]
async fn bootstrap_twice_gives_already_exists() {
    let cp = ControlPlane::boot(|y| y).await;
    let talos = cp.client();
    bootstrap(&talos).await;
    let e = talos
        .bootstrap(&call())
        .await
        .expect_err("second bootstrap");
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    assert_eq!(e.code(), Some(tonic::Code::AlreadyExists));
    assert!(
        e.to_string().contains("etcd data directory is not empty"),
        "{e}"
    );
    cp.fleet.stop_all().await;
}

#[tokio::test]
async fn calls_run_on_the_node_named_in_the_node_header() {
    let cp = ControlPlane::boot(|y| y).await;
    let (worker, ()) = boot(&cp.fleet, |ip| {
        (fixtures::worker_config(&cp.config, ip), ())
    })
    .await;
    worker
        .wait_phase(WAIT, |p| *p == NodePhase::Running)
        .await
        .expect("worker up");
    let talos = cp.client();
    let on_cp = talos.service_list(&call()).await.expect("services");
    assert!(on_cp.iter().any(|s| s.id == "etcd"), "{on_cp:?}");
    let on_worker = talos
        .with_node(&worker.address().to_string())
        .expect("node")
        .service_list(&call())
        .await
        .expect("services on the worker");
    assert!(
        !on_worker.iter().any(|s| s.id == "etcd"),
        "a worker runs no etcd: {on_worker:?}"
    );
    assert!(on_worker.iter().any(|s| s.id == "kubelet"));

    // A node apid cannot reach: Unavailable, worth retrying.
    let e = talos
        .with_node(&random_ip().to_string())
        .expect("node")
        .version(&call())
        .await
        .expect_err("unreachable node");
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
    assert!(talos.with_node("a,b").is_err(), "one node per client");
    cp.fleet.stop_all().await;
}

#[tokio::test]
async fn kube_client_lists_nodes_not_ready_before_a_cni_and_ready_after() {
    // Without a CNI (`cni: none`, nothing applied), the kubelet reports NotReady.
    let cp = ControlPlane::boot(|y| y).await;
    let kube = cp.bootstrapped().await;
    let hostname = cp.node.hostname();
    let node = until("node registered", || async {
        let nodes = kube.nodes(&call()).await.ok()?;
        nodes.into_iter().find(|n| n.name == hostname)
    })
    .await;
    assert!(!node.ready, "{node:?}");
    assert_eq!(node.ready_reason, "KubeletNotReady");
    assert_eq!(node.kubelet_version, "v1.36.3");
    let ip = cp.node.address().to_string();
    assert!(
        node.addresses
            .iter()
            .any(|a| a.kind == "InternalIP" && a.address == ip),
        "{node:?}"
    );
    cp.fleet.stop_all().await;

    // With Cilium inline in the machine configuration, the node turns Ready.
    let cp = ControlPlane::boot(|y| {
        fixtures::with_inline_manifest(&y, "cilium", &fixtures::cilium_manifest())
    })
    .await;
    let kube = cp.bootstrapped().await;
    let node = until("node Ready", || async {
        let nodes = kube.nodes(&call()).await.ok()?;
        nodes.into_iter().find(|n| n.ready)
    })
    .await;
    assert_eq!(node.name, cp.node.hostname());
    assert_eq!(node.ready_reason, "KubeletReady");
    cp.fleet.stop_all().await;
}

/// `cluster.allowSchedulingOnControlPlanes: true`: a lone control plane runs workloads.
fn schedulable(config_yaml: String) -> String {
    let mut doc: serde_json::Value = serde_norway::from_str(&config_yaml).expect("config yaml");
    doc["cluster"]["allowSchedulingOnControlPlanes"] = serde_json::json!(true);
    serde_norway::to_string(&doc).expect("yaml")
}

#[tokio::test]
async fn kube_client_finds_the_flux_controllers() {
    let cp = ControlPlane::boot(|y| {
        let y = schedulable(y);
        let y = fixtures::with_inline_manifest(&y, "cilium", &fixtures::cilium_manifest());
        fixtures::with_inline_manifest(&y, "flux", &fixtures::flux_manifest())
    })
    .await;
    let kube = cp.bootstrapped().await;
    let ns = until("flux-system", || async {
        kube.namespace("flux-system", &call()).await.ok().flatten()
    })
    .await;
    assert_eq!(
        (ns.name.as_str(), ns.phase.as_str()),
        ("flux-system", "Active")
    );
    let d = until("source-controller available", || async {
        let d = kube
            .deployment("flux-system", "source-controller", &call())
            .await
            .ok()
            .flatten()?;
        d.is_available().then_some(d)
    })
    .await;
    assert_eq!((d.namespace.as_str(), d.replicas), ("flux-system", 1));
    assert_eq!(
        kube.deployment("flux-system", "no-such-controller", &call())
            .await
            .expect("a missing deployment is no error"),
        None
    );
    assert_eq!(
        kube.namespace("no-such-namespace", &call())
            .await
            .expect("a missing namespace is no error"),
        None
    );
    cp.fleet.stop_all().await;
}

#[tokio::test]
async fn kube_client_trusts_only_the_kubeconfigs_ca_and_identity() {
    let cp = ControlPlane::boot(|y| y).await;
    let talos = cp.client();
    bootstrap(&talos).await;
    cp.node.wait_kube_api(WAIT).await.expect("kubernetes api");
    let kubeconfig = talos.kubeconfig(&call()).await.expect("kubeconfig");
    let mut kc = kube::Kubeconfig::parse(&kubeconfig, None).expect("kubeconfig");
    // Another cluster's Kubernetes CA, from a second control plane.
    let other = ControlPlane::boot(|y| y).await;
    let other_talos = other.client();
    bootstrap(&other_talos).await;
    let other_kc = kube::Kubeconfig::parse(
        &other_talos.kubeconfig(&call()).await.expect("kubeconfig"),
        None,
    )
    .expect("kubeconfig");
    let mut foreign_ca = kc.clone();
    foreign_ca.ca_pem = other_kc.ca_pem.clone();
    let e = kube::Client::new(&foreign_ca)
        .expect("client")
        .version(&call())
        .await
        .expect_err("refused");
    assert!(matches!(e, kube::Error::ServerCertificate { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Fatal);

    // Another cluster's client certificate: the API server refuses it in the handshake.
    kc.client_certificate_pem = other_kc.client_certificate_pem;
    kc.client_key_pem = other_kc.client_key_pem;
    let e = kube::Client::new(&kc)
        .expect("client")
        .version(&call())
        .await
        .expect_err("refused");
    assert!(
        matches!(e, kube::Error::ClientCertificateRefused { .. }),
        "{e:?}"
    );
    assert_eq!(e.kind(), ErrorKind::Fatal);
    other.fleet.stop_all().await;
    cp.fleet.stop_all().await;
}

#[tokio::test]
async fn cancellation_returns_cancelled_promptly() {
    let cp = ControlPlane::boot(|y| y).await;
    cp.fleet
        .set_fault("machine.MachineService/Version", Fault::hang());
    let talos = cp.client();
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.cancel();
    });
    let started = Instant::now();
    let e = talos
        .version(&Call::new(&cancel, Duration::from_secs(60)))
        .await
        .expect_err("cancelled");
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );

    // The same hang with a short timeout: Transient, after the timeout.
    let e = talos
        .version(&Call::new(
            &CancellationToken::new(),
            Duration::from_millis(200),
        ))
        .await
        .expect_err("timed out");
    assert!(matches!(e, talos::Error::Timeout { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Transient);
    cp.fleet.stop_all().await;
}

#[tokio::test]
async fn an_apid_that_is_not_listening_is_transient() {
    let (_, creds) = fixtures::controlplane_config("lab", "https://127.0.0.1:6443", random_ip());
    let ip = random_ip();
    let context = TalosContext::from_talosconfig(&creds.talosconfig("lab", &[ip]), None)
        .expect("talosconfig");
    let e = Client::new(&ip.to_string(), &context.credentials)
        .expect("client")
        .version(&call())
        .await
        .expect_err("nobody listens");
    assert!(matches!(e, talos::Error::Connect { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Transient);
    let e = MaintenanceClient::new(&ip.to_string())
        .expect("client")
        .apply_configuration("version: v1alpha1\n", ApplyMode::Auto, &call())
        .await
        .expect_err("nobody listens");
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
}

#[tokio::test]
async fn faults_injected_by_apid_are_transient() {
    let cp = ControlPlane::boot(|y| y).await;
    cp.fleet.set_fault(
        "machine.MachineService/ServiceList",
        Fault::error("injected").on_call(1),
    );
    let talos = cp.client();
    let e = talos.service_list(&call()).await.expect_err("fault");
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
    assert_eq!(e.code(), Some(tonic::Code::Unavailable));
    talos
        .service_list(&call())
        .await
        .expect("the next call answers");
    cp.fleet.stop_all().await;
}

/// Scaling down as Talos documents it, through the clients: a control plane leaves etcd
/// (`EtcdLeaveCluster`) and the others stop listing it; a member whose node is gone is removed
/// by its ID through another control plane, and one etcd does not know is NotFound; once the
/// node is off, its Node object is deleted, and a second delete finds nothing (not an error).
#[tokio::test]
async fn a_control_plane_leaves_etcd_and_its_node_object_is_deleted() {
    let cp = ControlPlane::boot(|y| y).await;
    let kube = cp.bootstrapped().await;
    let ip1 = cp.node.address();
    let (cp2, ()) = boot(&cp.fleet, |ip| {
        (
            cp.config.replace(&format!("{ip1}/8"), &format!("{ip}/8")),
            (),
        )
    })
    .await;
    let talos = cp.client();
    until("cp2 joined etcd", || async {
        let list = talos.etcd_member_list(&call()).await.ok()?;
        (list.len() == 2).then_some(())
    })
    .await;
    let cp2_name = cp2.hostname();
    until("cp2 registered", || async {
        let nodes = kube.nodes(&call()).await.ok()?;
        nodes.iter().any(|n| n.name == cp2_name).then_some(())
    })
    .await;

    let on_cp2 = Client::new(&cp2.address().to_string(), &cp.context.credentials).expect("client");
    on_cp2.etcd_leave_cluster(&call()).await.expect("leave");
    let names: Vec<String> = talos
        .etcd_member_list(&call())
        .await
        .expect("members")
        .into_iter()
        .map(|m| m.hostname)
        .collect();
    assert_eq!(names, [cp.node.hostname()], "cp2 is no member any more");

    let e = talos
        .etcd_remove_member_by_id(0x1234, &call())
        .await
        .expect_err("no such member");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(
        e.to_string().contains("etcdserver: member not found"),
        "{e}"
    );

    cp.fleet.halt(cp2.address()).expect("halt");
    let e = on_cp2
        .etcd_leave_cluster(&call())
        .await
        .expect_err("a node that is off");
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
    assert!(kube.delete_node(&cp2_name, &call()).await.expect("delete"));
    assert!(
        !kube.delete_node(&cp2_name, &call()).await.expect("again"),
        "a Node already gone is no error"
    );
    let nodes = kube.nodes(&call()).await.expect("nodes");
    assert!(!nodes.iter().any(|n| n.name == cp2_name), "{nodes:?}");
    cp.fleet.stop_all().await;
}
