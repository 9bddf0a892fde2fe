//! TLS for apid, on rustls with aws-lc-rs, and the connector tonic dials through.
//!
//! - Configured nodes: mutual TLS. apid's certificate must chain to the talosconfig's CA (the
//!   OS CA, `machine.ca`) and name the endpoint: apid serves a certificate the OS CA signed
//!   for the node's addresses, hostname and `machine.certSANs`, and requires a client
//!   certificate signed by the same CA whose Organization is the role (`os:admin`)
//!   (<https://github.com/siderolabs/talos/blob/main/internal/app/apid/pkg/provider/provider.go>,
//!   <https://github.com/siderolabs/talos/blob/main/pkg/machinery/role/role.go>). No system
//!   roots: only that CA.
//! - Maintenance mode: see [`maintenance_config`].
//!
//! Talos writes Ed25519 keys with the PEM label `ED25519 PRIVATE KEY` over a PKCS#8 body
//! (`PEMTypeEd25519Private` in <https://github.com/siderolabs/crypto/blob/main/x509/constants.go>,
//! parsed there with `x509.ParsePKCS8PrivateKey`), a label PEM parsers do not know;
//! [`private_key`] reads it as the PKCS#8 it is.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Talos's label for a PKCS#8 Ed25519 key.
const ED25519_LABEL: &str = "ED25519 PRIVATE KEY";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The certificates of a PEM bundle (at least one).
pub(super) fn certificates(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what} is not a PEM certificate: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what} holds no PEM certificate"));
    }
    Ok(certs)
}

/// A private key from PEM: PKCS#8 (`PRIVATE KEY`, or Talos's `ED25519 PRIVATE KEY`), SEC1
/// (`EC PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`).
pub(super) fn private_key(pem: &str) -> Result<PrivateKeyDer<'static>, String> {
    let relabelled;
    let pem = if pem.contains(ED25519_LABEL) {
        relabelled = pem.replace(ED25519_LABEL, "PRIVATE KEY");
        relabelled.as_str()
    } else {
        pem
    };
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| {
        format!(
            "the client key is not a PEM private key (PRIVATE KEY, ED25519 PRIVATE KEY, EC \
             PRIVATE KEY or RSA PRIVATE KEY): {e}"
        )
    })
}

/// Mutual TLS: trust only `ca_pem`, present `crt_pem` with `key_pem`, speak HTTP/2.
pub(super) fn mtls_config(
    ca_pem: &str,
    crt_pem: &str,
    key_pem: &str,
) -> Result<rustls::ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    for ca in certificates(ca_pem, "the CA")? {
        roots
            .add(ca)
            .map_err(|e| format!("the CA certificate cannot be used: {e}"))?;
    }
    let chain = certificates(crt_pem, "the client certificate")?;
    let key = private_key(key_pem)?;
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("the client certificate and key do not fit together: {e}"))?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(cfg)
}

/// TLS for a node in maintenance mode: no client certificate, and apid's certificate taken
/// unverified.
///
/// Why unverified: a node that booted without a configuration has no OS CA yet. It makes up
/// its own certificate at boot, so nothing we hold can vouch for it. `talosctl --insecure`
/// ("use the insecure (encrypted with no auth) maintenance service"; its optional
/// `--cert-fingerprint` "defaults to no check",
/// <https://github.com/siderolabs/talos/blob/main/cmd/talosctl/pkg/talos/global/insecure.go>)
/// and the Talos Terraform provider's first probe (`InsecureSkipVerify`,
/// <https://github.com/siderolabs/terraform-provider-talos/blob/main/pkg/talos/util.go>) do
/// the same.
/// The handshake signature is still checked, so the peer holds the key of the certificate
/// it sent. What this exposes: the one call made this way, `ApplyConfiguration`, sends the
/// machine configuration (with the cluster's secrets) to whoever answers on the node's
/// address; that is why [`super::MaintenanceClient`] offers that call and no other, and why
/// the node must be reached over a network the operator trusts (the hosts' private bridge).
pub(super) fn maintenance_config() -> Result<rustls::ClientConfig, String> {
    let provider = provider();
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Unverified { provider }))
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(cfg)
}

/// Takes any certificate, but still checks the handshake signature made with its key.
#[derive(Debug)]
struct Unverified {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
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
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// apid's address as given (`10.0.0.2`, `10.0.0.2:50000`, `[fd00::2]:50000`, `cp1.lan`):
/// the host and the port, 50000 when none is given
/// (<https://github.com/siderolabs/talos/blob/main/pkg/machinery/constants/constants.go>
/// `ApidPort`).
pub(super) fn parse_endpoint(endpoint: &str) -> Result<(String, u16), String> {
    const APID_PORT: u16 = 50000;
    let e = endpoint.trim();
    let e = e
        .strip_prefix("https://")
        .unwrap_or(e)
        .trim_end_matches('/');
    let bad = || format!("endpoint '{endpoint}' is not HOST or HOST:PORT (e.g. 10.0.0.2:50000)");
    if e.is_empty() || e.contains('/') || e.contains(char::is_whitespace) {
        return Err(bad());
    }
    if let Ok(ip) = e.parse::<IpAddr>() {
        return Ok((ip.to_string(), APID_PORT));
    }
    if let Some(rest) = e.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let ip: IpAddr = host.parse().map_err(|_| bad())?;
        let port = match after {
            "" => APID_PORT,
            p => p
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .ok_or_else(bad)?,
        };
        return Ok((ip.to_string(), port));
    }
    match e.rsplit_once(':') {
        Some((host, port)) => {
            let port = port.parse().map_err(|_| bad())?;
            if host.is_empty() || host.contains(':') {
                return Err(bad());
            }
            Ok((host.to_string(), port))
        }
        None => Ok((e.to_string(), APID_PORT)),
    }
}

/// The TLS failure last seen on an established connection to apid.
///
/// Why it is kept aside: a TLS 1.3 server judges the client certificate after the client has
/// finished its handshake, so a refusal arrives as an alert on the first read, inside h2's
/// connection error, which does not expose its cause. The connection's reads and writes note
/// the rustls error here, and the client classifies a failed call with it.
#[derive(Clone, Default)]
pub(super) struct Seen(Arc<Mutex<Option<rustls::Error>>>);

impl Seen {
    fn note(&self, e: &std::io::Error) {
        if let Some(tls) = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            *lock(&self.0) = Some(tls.clone());
        }
    }

    fn clear(&self) {
        *lock(&self.0) = None;
    }

    /// The failure noted since the last connection attempt, if any.
    pub(super) fn get(&self) -> Option<rustls::Error> {
        lock(&self.0).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connection whose I/O errors are noted in a [`Seen`].
struct Watched<S> {
    inner: S,
    seen: Seen,
}

impl<S> Watched<S> {
    fn watch<T>(&self, r: Poll<std::io::Result<T>>) -> Poll<std::io::Result<T>> {
        if let Poll::Ready(Err(e)) = &r {
            self.seen.note(e);
        }
        r
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.watch(r)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(r)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(r)
    }
}

/// A tonic channel to apid at `host:port` over `tls`, connecting on first use (and again
/// after a dropped connection), and where its connections note TLS failures.
pub(super) fn channel(
    host: &str,
    port: u16,
    tls: rustls::ClientConfig,
) -> Result<(tonic::transport::Channel, Seen), String> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err("the talos client must be created inside a tokio runtime".into());
    }
    let server_name = ServerName::try_from(host.to_string())
        .map_err(|_| format!("'{host}' is neither an IP address nor a DNS name"))?;
    let uri_host = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => host.to_string(),
    };
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{uri_host}:{port}"))
        .map_err(|e| format!("endpoint {host}:{port}: {e}"))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let host = host.to_string();
    let seen = Seen::default();
    let noted = seen.clone();
    let channel = endpoint.connect_with_connector_lazy(tower::service_fn(move |_: http::Uri| {
        let connector = connector.clone();
        let server_name = server_name.clone();
        let host = host.clone();
        let seen = noted.clone();
        async move {
            seen.clear();
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            let tls = connector.connect(server_name, tcp).await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(Watched { inner: tls, seen }))
        }
    }));
    Ok((channel, seen))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_as_talosconfig_writes_them() {
        // (case, endpoint, "HOST PORT" or None when refused)
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("ip", "10.0.0.2", Some("10.0.0.2 50000")),
            ("ip and port", "10.0.0.2:50001", Some("10.0.0.2 50001")),
            ("bare ipv6", "fd00::2", Some("fd00::2 50000")),
            ("bracketed ipv6", "[fd00::2]:50000", Some("fd00::2 50000")),
            ("name", "cp1.lan", Some("cp1.lan 50000")),
            ("name and port", "cp1.lan:443", Some("cp1.lan 443")),
            (
                "https prefix",
                "https://10.0.0.2:50000",
                Some("10.0.0.2 50000"),
            ),
            ("empty", " ", None),
            ("bad port", "10.0.0.2:http", None),
            ("path", "10.0.0.2/api", None),
        ];
        for (name, text, want) in cases {
            let got = parse_endpoint(text).ok().map(|(h, p)| format!("{h} {p}"));
            assert_eq!(got.as_deref(), *want, "{name}");
        }
    }

    #[test]
    fn keys_load_under_every_label_talos_and_kubernetes_write() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("key");
        let pkcs8 = key.serialize_pem();
        let talos = pkcs8.replace("PRIVATE KEY", ED25519_LABEL);
        for (name, pem) in [("pkcs8", &pkcs8), ("talos label", &talos)] {
            match private_key(pem) {
                Ok(PrivateKeyDer::Pkcs8(_)) => {}
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!(private_key("not a key").is_err());
    }
}
