//! The go-plugin host seen from outside: AutoMTLS pins the client certificate Terraform
//! passed, negotiates h2, and Shutdown ends the process.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const COOKIE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";

/// A client identity shaped like go-plugin's: ECDSA P-521, self-signed, SAN localhost.
struct ClientIdentity {
    pem: String,
    der: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

fn client_identity() -> ClientIdentity {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    ClientIdentity {
        pem: cert.pem(),
        der: cert.der().clone(),
        key: PrivatePkcs8KeyDer::from(key.serialize_der()),
    }
}

struct Plugin {
    child: Child,
    addr: String,
    server_cert: CertificateDer<'static>,
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_plugin(client_pem: &str) -> Plugin {
    let mut child = Command::new(support::provider_binary())
        .env("TF_PLUGIN_MAGIC_COOKIE", COOKIE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env("PLUGIN_CLIENT_CERT", client_pem)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let parts: Vec<&str> = line.trim_end().split('|').collect();
    let der = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(parts[5])
        .expect("unpadded standard base64");
    Plugin {
        child,
        addr: parts[3].to_string(),
        server_cert: CertificateDer::from(der),
    }
}

/// Trusts exactly the certificate from the handshake line, as go-plugin's client does.
#[derive(Debug)]
struct PinnedServer(CertificateDer<'static>, Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        ee: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        assert_eq!(name.to_str(), "localhost");
        if ee.as_ref() == self.0.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "not the handshake certificate".into(),
            ))
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.1.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.1.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.1.signature_verification_algorithms.supported_schemes()
    }
}

/// Presents one certificate and signs with one key, whether or not they belong together
/// (rustls's own `with_client_auth_cert` refuses a mismatched pair before connecting).
#[derive(Debug)]
struct Presents(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for Presents {
    fn resolve(
        &self,
        _: &[&[u8]],
        _: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
    fn has_certs(&self) -> bool {
        true
    }
}

/// Connects with `who` as client certificate; returns the first bytes the server sends
/// after the HTTP/2 preface, or the error that ended the connection.
async fn talk(plugin: &Plugin, who: &ClientIdentity) -> Result<(Vec<u8>, Option<Vec<u8>>), String> {
    talk_signing_as(plugin, who, who).await
}

/// Connects presenting `cert`'s certificate but signing the handshake with `signer`'s key.
async fn talk_signing_as(
    plugin: &Plugin,
    cert: &ClientIdentity,
    signer: &ClientIdentity,
) -> Result<(Vec<u8>, Option<Vec<u8>>), String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key = provider
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(signer.key.clone_key()))
        .unwrap();
    let presented = rustls::sign::CertifiedKey::new(vec![cert.der.clone()], key);
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServer(
            plugin.server_cert.clone(),
            provider,
        )))
        .with_client_cert_resolver(Arc::new(Presents(Arc::new(presented))));
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(&plugin.addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf))
        .await
        .map_err(|_| "timeout".to_string())?
        .map_err(|e| e.to_string())?;
    if n == 0 {
        return Err("connection closed".into());
    }
    buf.truncate(n);
    Ok((buf, alpn))
}

#[tokio::test]
async fn the_client_terraform_named_is_served_over_h2() {
    let terraform = client_identity();
    let plugin = start_plugin(&terraform.pem);
    let (first, alpn) = talk(&plugin, &terraform)
        .await
        .expect("the pinned client is accepted");
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]), "ALPN h2 is negotiated");
    assert_eq!(
        first[3], 0x04,
        "the server opens with an HTTP/2 SETTINGS frame"
    );
}

#[tokio::test]
async fn a_client_with_another_certificate_is_refused_at_the_tls_handshake() {
    let terraform = client_identity();
    let intruder = client_identity();
    let plugin = start_plugin(&terraform.pem);
    let err = talk(&plugin, &intruder)
        .await
        .expect_err("a different client certificate must be refused");
    assert!(!err.is_empty());
    // The server keeps serving the right client after refusing the wrong one.
    assert!(talk(&plugin, &terraform).await.is_ok());
}

#[tokio::test]
async fn a_client_with_terraforms_certificate_but_another_key_is_refused_at_the_tls_handshake() {
    let terraform = client_identity();
    let thief = client_identity();
    let plugin = start_plugin(&terraform.pem);
    // The pinned certificate, byte for byte, but a CertificateVerify signed by another key:
    // whoever copied the certificate from Terraform's environment without its key.
    let err = talk_signing_as(&plugin, &terraform, &thief)
        .await
        .expect_err("a handshake signed by a key that is not the certificate's must fail");
    assert_ne!(err, "timeout", "refused, not left hanging");
    // The server keeps serving the real client after refusing the impostor.
    assert!(talk(&plugin, &terraform).await.is_ok());
}

fn shutdown_via_controller(addr: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        let path =
            tonic::codegen::http::uri::PathAndQuery::from_static("/plugin.GRPCController/Shutdown");
        let codec = tonic_prost::ProstCodec::<(), ()>::default();
        let _ = grpc.unary(tonic::Request::new(()), path, codec).await;
    });
}

/// Starts the plugin in plaintext (as with TF_DISABLE_PLUGIN_TLS); returns it and its address.
fn start_plaintext(log_level: Option<&str>) -> (Child, String) {
    let mut cmd = Command::new(support::provider_binary());
    cmd.env("TF_PLUGIN_MAGIC_COOKIE", COOKIE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5")
        .env_remove("PLUGIN_CLIENT_CERT")
        .env_remove("TF_LOG")
        .stdout(Stdio::piped());
    match log_level {
        Some(l) => cmd.env("TF_LOG_PROVIDER", l).stderr(Stdio::piped()),
        None => cmd.stderr(Stdio::null()),
    };
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.split('|').nth(3).unwrap().to_string();
    (child, addr)
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running after Shutdown"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn shutdown_from_the_controller_ends_the_process() {
    let (mut child, addr) = start_plaintext(None);
    shutdown_via_controller(&addr);
    let status = wait_exit(&mut child);
    assert!(status.success(), "exit status {status}");
}

#[test]
fn logs_are_hclog_json_lines_on_stderr() {
    let (mut child, addr) = start_plaintext(Some("trace"));
    shutdown_via_controller(&addr);
    wait_exit(&mut child);
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        !lines.is_empty(),
        "TF_LOG_PROVIDER=trace shows provider logs"
    );
    for line in lines {
        let j: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            ["trace", "debug", "info", "warn", "error"]
                .contains(&j["@level"].as_str().unwrap_or("")),
            "{line}"
        );
        assert!(
            j["@message"].is_string() && j["@module"].is_string(),
            "{line}"
        );
        let ts = j["@timestamp"].as_str().unwrap();
        let frac = ts.split_once('.').unwrap().1;
        assert_eq!(frac.len(), 7, "six fractional digits then Z: {ts}");
    }
}

#[test]
fn debug_mode_prints_a_reattach_value_terraform_can_use() {
    let mut child = Command::new(support::provider_binary())
        .arg("--debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut reattach = None;
    for _ in 0..10 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(v) = line.trim().strip_prefix("TF_REATTACH_PROVIDERS='") {
            reattach = Some(v.trim_end_matches('\'').to_string());
            break;
        }
    }
    let reattach = reattach.expect("a TF_REATTACH_PROVIDERS line");
    let json: serde_json::Value = serde_json::from_str(&reattach).unwrap();
    let entry = &json[support::ADDRESS];
    assert_eq!(entry["Protocol"], "grpc");
    assert_eq!(entry["ProtocolVersion"], 5);
    assert_eq!(entry["Addr"]["Network"], "tcp");

    // A real core plans against the running debug server.
    let core = &support::cores()[0];
    let wd = support::Workdir::new(core, false, "terraform {\n  required_providers {\n    freetier = { source = \"freetier/freetier\" }\n  }\n}\nresource \"freetier_age_key\" \"k\" {}\n");
    let out = Command::new(&core.path)
        .args(["plan", "-no-color", "-input=false"])
        .current_dir(wd.path())
        .env("TF_REATTACH_PROVIDERS", &reattach)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 to add"), "{text}");
}

#[test]
fn rpcs_we_do_not_serve_answer_unimplemented() {
    let (mut child, addr) = start_plaintext(None);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let code = rt.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        // Terraform 1.12+ asks for identity schemas and treats UNIMPLEMENTED as "none".
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(
            "/tfplugin5.Provider/GetResourceIdentitySchemas",
        );
        let codec = tonic_prost::ProstCodec::<(), ()>::default();
        grpc.unary(tonic::Request::new(()), path, codec)
            .await
            .unwrap_err()
            .code()
    });
    shutdown_via_controller(&addr);
    wait_exit(&mut child);
    assert_eq!(code, tonic::Code::Unimplemented);
}
