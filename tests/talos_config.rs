//! The generated Talos material against the lab, from outside both: the `cidata` image read
//! back by the lab's ISO 9660 reader, and an emulated Talos node booted from it that answers
//! the generated talosconfig's client certificate over mutual TLS, bootstraps, and serves the
//! inline manifests to the generated kubeconfig.
//!
//! The product code under test never imports the lab; this file is where the two meet.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use age::secrecy::ExposeSecret;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;

use freetier::lab::iso9660;
use freetier::lab::talos::proto::machine;
use freetier::lab::talos::{NodeBoot, NodePhase, TalosFleet, TalosTiming, APID_PORT};
use freetier::provider::resources::talos_cluster::cidata::{
    cidata_iso, meta_data, network_config_v1, NocloudFiles, StaticNetwork,
};
use freetier::provider::resources::talos_cluster::machine_config::{
    controlplane_config, ControlPlaneInput, Link, NodeNetwork,
};
use freetier::provider::resources::talos_cluster::manifests::{platform, FluxSync};
use freetier::provider::resources::talos_cluster::secrets::MachineSecrets;

const WAIT: Duration = Duration::from_secs(20);

/// A loopback address no other test of this process uses (127.2xx.y.z).
fn fresh_ip() -> Ipv4Addr {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    Ipv4Addr::new(
        127,
        200 + (pid % 50) as u8,
        (pid / 50 % 200) as u8,
        (n % 200) as u8 + 2,
    )
}

/// A generated control-plane config for a node at `ip` (endpoint = the node), with the
/// Cilium/Flux/SOPS inline manifests, and the age key they carry.
fn generated(secrets: &MachineSecrets, ip: Ipv4Addr) -> (String, String) {
    let age_key = age::x25519::Identity::generate()
        .to_string()
        .expose_secret()
        .to_string();
    let manifests = platform(
        &age_key,
        &FluxSync {
            url: "https://example.invalid/platform.git".into(),
            branch: "main".into(),
            path: "clusters/lab".into(),
        },
    )
    .expect("manifests");
    let input = ControlPlaneInput {
        cluster_name: "lab".into(),
        endpoint: ip.to_string(),
        hostname: "cp-1".into(),
        network: NodeNetwork {
            link: Link::Interface("eth0".into()),
            address: format!("{ip}/8"),
            gateway: None,
        },
        install_disk: "/dev/sda".into(),
        install_image: "factory.talos.dev/nocloud-installer/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba:v1.13.9".into(),
        talos_version: "v1.13.9".into(),
        kubernetes_version: "v1.36.3".into(),
        pod_subnets: vec!["10.244.0.0/16".into()],
        service_subnets: vec!["10.96.0.0/12".into()],
        nameservers: vec![],
        cert_sans: vec![],
        inline_manifests: manifests,
        extra_manifests: vec![],
    };
    (
        controlplane_config(secrets, &input).expect("config"),
        age_key,
    )
}

fn nocloud(user_data: &str, ip: Ipv4Addr) -> NocloudFiles {
    NocloudFiles {
        user_data: user_data.to_string(),
        meta_data: meta_data("cp-1", "vm-101").expect("meta-data"),
        network_config: Some(
            network_config_v1(&StaticNetwork {
                interface: "eth0".into(),
                mac_address: None,
                address: format!("{ip}/8"),
                gateway: None,
                nameservers: vec![],
            })
            .expect("network-config"),
        ),
    }
}

/// PEM text → DER of its first block.
fn der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    STANDARD.decode(body).expect("pem body")
}

fn unb64(v: &Value) -> String {
    String::from_utf8(
        STANDARD
            .decode(v.as_str().expect("string"))
            .expect("base64"),
    )
    .expect("utf8")
}

/// A client TLS config trusting `ca_pem` and presenting `crt_pem`/`key_pem` (any key
/// encoding: PKCS#8 under Talos' Ed25519 label, or SEC1).
fn mtls(ca_pem: &str, crt_pem: &str, key_pem: &str, alpn: &[u8]) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(der(ca_pem))).expect("root");
    let key = PrivateKeyDer::try_from(der(key_pem)).expect("key encoding");
    let mut c = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![CertificateDer::from(der(crt_pem))], key)
        .expect("client cert");
    c.alpn_protocols = vec![alpn.to_vec()];
    c
}

/// The talosconfig context's credentials, as talosctl reads them.
fn talosconfig_tls(talosconfig: &str) -> rustls::ClientConfig {
    let v: Value = serde_norway::from_str(talosconfig).expect("talosconfig");
    let ctx = &v["contexts"][v["context"].as_str().expect("context")];
    mtls(
        &unb64(&ctx["ca"]),
        &unb64(&ctx["crt"]),
        &unb64(&ctx["key"]),
        b"h2",
    )
}

async fn apid_call<Req, Resp>(
    ip: Ipv4Addr,
    tls: rustls::ClientConfig,
    path: &'static str,
    req: Req,
) -> Result<Resp, tonic::Status>
where
    Req: prost::Message + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{ip}:{APID_PORT}"))
        .expect("endpoint")
        .connect_with_connector_lazy(tower::service_fn(move |_: http::Uri| {
            let connector = connector.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect((ip, APID_PORT)).await?;
                let tls = connector
                    .connect(ServerName::IpAddress(IpAddr::V4(ip).into()), tcp)
                    .await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        }));
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let codec: tonic_prost::ProstCodec<Req, Resp> = tonic_prost::ProstCodec::default();
    grpc.unary(
        tonic::Request::new(req),
        http::uri::PathAndQuery::from_static(path),
        codec,
    )
    .await
    .map(tonic::Response::into_inner)
}

/// One HTTPS GET to the Kubernetes API with the kubeconfig's credentials.
async fn kube_get(kubeconfig: &str, path: &str) -> (u16, Value) {
    let v: Value = serde_norway::from_str(kubeconfig).expect("kubeconfig");
    let cluster = &v["clusters"][0]["cluster"];
    let user = &v["users"][0]["user"];
    let server = cluster["server"].as_str().expect("server");
    let authority = server.trim_start_matches("https://");
    let addr: SocketAddr = authority.parse().expect("ip:port");
    let tls = mtls(
        &unb64(&cluster["certificate-authority-data"]),
        &unb64(&user["client-certificate-data"]),
        &unb64(&user["client-key-data"]),
        b"http/1.1",
    );
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(ServerName::IpAddress(addr.ip().into()), tcp)
        .await
        .expect("tls with the kubeconfig's credentials");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("http1");
    let driver = tokio::spawn(conn);
    let req = http::Request::get(path)
        .header("host", authority)
        .body(Empty::<Bytes>::new())
        .expect("request");
    let resp = sender.send_request(req).await.expect("response");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    driver.abort();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[test]
fn the_cidata_image_reads_back_through_the_lab_reader() {
    let secrets = MachineSecrets::generate().expect("secrets");
    let ip = Ipv4Addr::new(127, 0, 9, 4);
    let (config, _) = generated(&secrets, ip);
    let files = nocloud(&config, ip);
    let img = cidata_iso(&files).expect("iso");
    assert_eq!(iso9660::volume_label(&img).as_deref(), Ok("cidata"));
    let read = iso9660::read_cidata(&img)
        .expect("readable")
        .expect("a cidata volume");
    assert_eq!(read.user_data, files.user_data);
    assert_eq!(read.meta_data, files.meta_data);
    assert_eq!(
        Some(read.network_config.as_str()),
        files.network_config.as_deref()
    );
}

#[tokio::test]
async fn a_lab_talos_node_boots_from_the_generated_cidata_and_answers_the_talosconfig() {
    let fleet = TalosFleet::new(TalosTiming {
        time_scale: 0.0,
        tcg: true,
    });
    let ip = fresh_ip();
    let secrets = MachineSecrets::generate().expect("secrets");
    let (config, age_key) = generated(&secrets, ip);

    // The VM's view: a cidata ISO, read the way the lab's hypervisor hands it to Talos.
    let img = cidata_iso(&nocloud(&config, ip)).expect("iso");
    let files = iso9660::read_cidata(&img).expect("iso").expect("cidata");
    let boot = NodeBoot::from_nocloud(
        ip,
        &files.user_data,
        &files.meta_data,
        &files.network_config,
    );
    let node = fleet.boot(boot).await.expect("boot");
    assert_eq!(
        node.wait_apid(WAIT).await.expect("apid"),
        NodePhase::Running,
        "the node took the generated config (maintenance mode means it refused it)"
    );
    assert_eq!(node.hostname(), "cp-1");

    // apid over mutual TLS with the talosconfig's os:admin certificate.
    let talosconfig = secrets
        .talosconfig("lab", &[ip.to_string()], &[ip.to_string()])
        .expect("talosconfig");
    let v: machine::VersionResponse = apid_call(
        ip,
        talosconfig_tls(&talosconfig),
        "/machine.MachineService/Version",
        (),
    )
    .await
    .expect("Version over mTLS");
    let tag = v.messages[0]
        .version
        .as_ref()
        .map(|x| x.tag.clone())
        .unwrap_or_default();
    assert!(tag.starts_with("v1."), "{tag}");

    // A certificate from another bundle's OS CA is refused.
    let other = MachineSecrets::generate().expect("other");
    let foreign = other
        .talosconfig("other", &[ip.to_string()], &[])
        .expect("foreign talosconfig");
    let fv: serde_json::Value = serde_norway::from_str(&foreign).expect("yaml");
    let tls = mtls(
        &secrets.certs.os.crt,
        &unb64(&fv["contexts"]["other"]["crt"]),
        &unb64(&fv["contexts"]["other"]["key"]),
        b"h2",
    );
    let refused: Result<machine::VersionResponse, _> =
        apid_call(ip, tls, "/machine.MachineService/Version", ()).await;
    assert!(
        refused.is_err(),
        "a foreign client certificate must be refused"
    );

    // Bootstrap, then the Kubernetes API with the client-side kubeconfig: the inline
    // manifests are there, the SOPS key byte for byte.
    let deadline = Instant::now() + WAIT;
    loop {
        let r: Result<machine::BootstrapResponse, _> = apid_call(
            ip,
            talosconfig_tls(&talosconfig),
            "/machine.MachineService/Bootstrap",
            machine::BootstrapRequest::default(),
        )
        .await;
        match r {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("bootstrap: {e}"),
        }
    }
    node.wait_kube_api(WAIT).await.expect("kube api");
    let kubeconfig = secrets
        .kubeconfig("lab", &ip.to_string())
        .expect("kubeconfig");
    let checks = [
        "/api/v1/namespaces/flux-system/secrets/sops-age",
        "/apis/apps/v1/namespaces/kube-system/daemonsets/cilium",
        "/apis/apps/v1/namespaces/flux-system/deployments/kustomize-controller",
        "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/flux-system",
        "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/flux-system",
    ];
    let mut last = Value::Null;
    let deadline = Instant::now() + WAIT;
    for path in checks {
        loop {
            let (code, body) = kube_get(&kubeconfig, path).await;
            if code == 200 {
                last = body;
                break;
            }
            assert!(Instant::now() < deadline, "{path}: {code} {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if path.ends_with("sops-age") {
            assert_eq!(unb64(&last["data"]["age.agekey"]), age_key);
        }
    }
    assert_eq!(
        last["spec"]["decryption"],
        serde_json::json!({"provider": "sops", "secretRef": {"name": "sops-age"}})
    );
    fleet.stop_all().await;
}
