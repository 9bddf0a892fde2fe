//! Test clients for the lab's public interfaces: SSH (a russh client that checks the host key)
//! and HTTPS (hyper over rustls, pinned to the API certificate's SHA-256 fingerprint). They
//! belong to the tests, not to the product: the provider's clients must never share code with
//! the lab.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKey};
use russh::ChannelMsg;
use serde_json::Value;

use super::state::{HostState, LabState};

/// What a command printed and how it exited.
#[derive(Debug, Clone, Default)]
pub(crate) struct Out {
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) code: Option<u32>,
}

pub(crate) struct Client {
    expected: Option<PublicKey>,
}

impl russh::client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            return Ok(false);
        };
        Ok(match &self.expected {
            Some(e) => e.key_data() == key.key_data(),
            None => true,
        })
    }
}

fn addr(h: &HostState) -> SocketAddr {
    format!("{}:{}", h.address, h.ssh_port)
        .parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 22)))
}

/// The lab's client key, from the state.
pub(crate) fn client_key(st: &LabState) -> Arc<PrivateKey> {
    Arc::new(
        PrivateKey::from_openssh(st.ssh_private_key_openssh.as_bytes()).expect("lab key parses"),
    )
}

/// Connects and authenticates as `root` with `key`; `Err` carries the auth failure.
pub(crate) async fn connect(
    h: &HostState,
    key: Arc<PrivateKey>,
) -> Result<russh::client::Handle<Client>, String> {
    let expected = PublicKey::from_openssh(&h.ssh_host_key).ok();
    let cfg = Arc::new(russh::client::Config::default());
    let mut s = russh::client::connect(cfg, addr(h), Client { expected })
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let r = s
        .authenticate_publickey("root", PrivateKeyWithHashAlg::new(key, None))
        .await
        .map_err(|e| format!("auth: {e}"))?;
    match r {
        russh::client::AuthResult::Success => Ok(s),
        russh::client::AuthResult::Failure {
            remaining_methods, ..
        } => {
            let names: Vec<String> = remaining_methods.iter().map(String::from).collect();
            Err(format!("Permission denied ({}).", names.join(",")))
        }
    }
}

/// Runs `cmd` on host `h` as root with the lab key, feeding `stdin` (then EOF).
pub(crate) async fn ssh(st: &LabState, host: &str, cmd: &str, stdin: Option<&str>) -> Out {
    let h = st
        .hosts
        .iter()
        .find(|h| h.name == host)
        .expect("host in lab state");
    let s = connect(h, client_key(st)).await.expect("ssh login");
    let out = exec(&s, cmd, stdin).await;
    let _ = s.disconnect(russh::Disconnect::ByApplication, "", "").await;
    out
}

/// Runs one command on an open session.
pub(crate) async fn exec(s: &russh::client::Handle<Client>, cmd: &str, stdin: Option<&str>) -> Out {
    let mut ch = s.channel_open_session().await.expect("session channel");
    ch.exec(true, cmd).await.expect("exec");
    if let Some(input) = stdin {
        ch.data(input.as_bytes()).await.expect("stdin");
    }
    ch.eof().await.expect("eof");
    let mut out = Out::default();
    while let Some(msg) = ch.wait().await {
        match msg {
            ChannelMsg::Data { data } => out.stdout.push_str(&String::from_utf8_lossy(&data)),
            ChannelMsg::ExtendedData { data, ext: 1 } => {
                out.stderr.push_str(&String::from_utf8_lossy(&data))
            }
            ChannelMsg::ExitStatus { exit_status } => out.code = Some(exit_status),
            _ => {}
        }
    }
    out
}

/// Trusts exactly one certificate, by SHA-256 fingerprint, like `pvecm add --fingerprint`.
#[derive(Debug)]
struct Pinned {
    fingerprint: String,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if super::keys::sha256_colon_hex(end_entity.as_ref()) == self.fingerprint {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "certificate fingerprint mismatch".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) headers: hyper::HeaderMap,
    pub(crate) body: String,
}

impl Resp {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// One HTTPS request to a lab node's API, pinned to `fingerprint`. `Err` when the TLS handshake
/// or the connection fails.
pub(crate) async fn https(
    host: &HostState,
    fingerprint: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<(&str, Vec<u8>)>,
) -> Result<Resp, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned {
            fingerprint: fingerprint.to_string(),
            provider,
        }))
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(format!("{}:8006", host.address))
        .await
        .map_err(|e| e.to_string())?;
    let name =
        rustls::pki_types::ServerName::try_from(host.address.clone()).map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut b = hyper::Request::builder()
        .method(method)
        .uri(format!("/api2/json{path}"))
        .header("host", host.address.clone());
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    let req = match body {
        Some((ct, data)) => b
            .header("content-type", ct)
            .body(Full::new(Bytes::from(data))),
        None => b.body(Full::new(Bytes::new())),
    }
    .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let reason = resp
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).to_string())
        .unwrap_or_else(|| resp.status().canonical_reason().unwrap_or("").to_string());
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(Resp {
        status,
        reason,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    })
}

/// An API session on one node: a token, or a ticket plus CSRF token.
pub(crate) struct Api {
    pub(crate) host: HostState,
    pub(crate) fingerprint: String,
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl Api {
    /// Logs in as root@pam with the lab password.
    pub(crate) async fn login(st: &LabState, node: &str) -> Api {
        let host = st
            .hosts
            .iter()
            .find(|h| h.name == node)
            .expect("node")
            .clone();
        let fp = host
            .api_tls_fingerprint_sha256
            .clone()
            .expect("fingerprint");
        let pw = host.api_password.clone().unwrap_or_default();
        let form = format!("username=root%40pam&password={}", pw);
        let r = https(
            &host,
            &fp,
            "POST",
            "/access/ticket",
            &[],
            Some(("application/x-www-form-urlencoded", form.into_bytes())),
        )
        .await
        .expect("login request");
        assert_eq!(r.status, 200, "login: {}", r.body);
        let d = r.json();
        let ticket = d["data"]["ticket"].as_str().unwrap_or_default().to_string();
        let csrf = d["data"]["CSRFPreventionToken"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        Api {
            host,
            fingerprint: fp,
            headers: vec![
                ("cookie", format!("PVEAuthCookie={ticket}")),
                ("csrfpreventiontoken", csrf),
            ],
        }
    }

    /// Uses an API token (`PVEAPIToken=root@pam!NAME=SECRET`).
    pub(crate) fn token(st: &LabState, node: &str, full_id: &str, secret: &str) -> Api {
        let host = st
            .hosts
            .iter()
            .find(|h| h.name == node)
            .expect("node")
            .clone();
        let fp = host
            .api_tls_fingerprint_sha256
            .clone()
            .expect("fingerprint");
        Api {
            host,
            fingerprint: fp,
            headers: vec![("authorization", format!("PVEAPIToken={full_id}={secret}"))],
        }
    }

    pub(crate) async fn call(&self, method: &str, path: &str, form: &[(&str, &str)]) -> Resp {
        let body = if form.is_empty() {
            None
        } else {
            let enc: Vec<String> = form
                .iter()
                .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
                .collect();
            Some((
                "application/x-www-form-urlencoded",
                enc.join("&").into_bytes(),
            ))
        };
        let h: Vec<(&str, String)> = self.headers.iter().map(|(k, v)| (*k, v.clone())).collect();
        https(&self.host, &self.fingerprint, method, path, &h, body)
            .await
            .expect("api request")
    }

    pub(crate) async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, &[]).await
    }

    /// Polls a task until it stops; returns its exit status.
    pub(crate) async fn wait_task(&self, node: &str, upid: &str) -> String {
        let path = format!("/nodes/{node}/tasks/{}/status", enc(upid));
        for _ in 0..2000 {
            let r = self.get(&path).await;
            let d = r.json();
            if d["data"]["status"] == "stopped" {
                return d["data"]["exitstatus"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("task {upid} did not stop");
    }

    /// Uploads `data` as `filename` with multipart/form-data.
    pub(crate) async fn upload(
        &self,
        node: &str,
        storage: &str,
        content: &str,
        filename: &str,
        data: &[u8],
    ) -> Resp {
        let boundary = "----labboundary7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\n{content}\r\n").as_bytes());
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        body.extend(data);
        body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
        // Uploads need no CSRF token (PVE/HTTPServer.pm); send the ticket only.
        let h: Vec<(&str, String)> = self
            .headers
            .iter()
            .filter(|(k, _)| *k != "csrfpreventiontoken")
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        let ct = format!("multipart/form-data; boundary={boundary}");
        https(
            &self.host,
            &self.fingerprint,
            "POST",
            &format!("/nodes/{node}/storage/{storage}/upload"),
            &h,
            Some((ct.as_str(), body)),
        )
        .await
        .expect("upload request")
    }
}

/// Form/percent encoding.
pub(crate) fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
