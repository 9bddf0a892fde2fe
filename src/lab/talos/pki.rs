//! Certificates for the emulated apid and kube-apiserver: parsing the machine config's CAs,
//! issuing serving and client certificates from them, and the TLS configurations.
//!
//! Facts: research §B.3 (apid mutual TLS, client roles in the Organization field, the
//! ClientAuth-only extended key usage check of `verifyExtKeyUsage` in
//! siderolabs/talos `internal/app/apid/service.go`), §B.4 (OS CA is Ed25519, Kubernetes CA is
//! ECDSA; the OS CA key PEM label is `ED25519 PRIVATE KEY` over a PKCS#8 body).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SignatureAlgorithm,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    DigitallySignedStruct, DistinguishedName as TlsDn, RootCertStore, ServerConfig, SignatureScheme,
};
use time::OffsetDateTime;

/// The PEM label Talos writes for Ed25519 keys (PKCS#8 body), research §B.4.
pub(crate) const ED25519_PEM_LABEL: &str = "ED25519 PRIVATE KEY";

/// A certificate authority loaded from, or made for, a machine config.
pub(crate) struct Ca {
    /// The CA certificate, PEM.
    pub cert_pem: String,
    /// The CA certificate, DER.
    pub cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

/// An issued certificate with its key.
#[derive(Clone)]
pub(crate) struct Issued {
    pub cert_pem: String,
    pub cert_der: CertificateDer<'static>,
    /// PKCS#8 PEM (`PRIVATE KEY` label).
    pub key_pem: String,
    pub key_der: Vec<u8>,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Parses the first PEM block of `pem` and returns its DER body (any label).
pub(crate) fn pem_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let start = pem.find("-----BEGIN ")?;
    let rest = &pem[start..];
    let body_start = rest.find('\n')? + 1;
    let end = rest.find("-----END ")?;
    if end < body_start {
        return None;
    }
    let body: String = rest[body_start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// Wraps DER in a PEM block.
pub(crate) fn to_pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// Loads a private key from PEM: PKCS#8 (`PRIVATE KEY`, `ED25519 PRIVATE KEY`) or SEC1
/// (`EC PRIVATE KEY`).
pub(crate) fn key_from_pem(pem: &str) -> Result<KeyPair, String> {
    let der = pem_der(pem).ok_or("key is not PEM")?;
    KeyPair::try_from(der.as_slice()).map_err(err)
}

impl Ca {
    /// Loads a CA from the PEM certificate and key of a machine config.
    pub(crate) fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Ca, String> {
        let key = key_from_pem(key_pem)?;
        let cert_der = CertificateDer::from(pem_der(cert_pem).ok_or("certificate is not PEM")?);
        let issuer = Issuer::from_ca_cert_der(&cert_der, key).map_err(err)?;
        Ok(Ca {
            cert_pem: cert_pem.to_string(),
            cert_der,
            issuer,
        })
    }

    /// Makes a self-signed CA the way `talosctl gen secrets` does (research §B.4):
    /// Organization only, ten years.
    pub(crate) fn generate(
        org: Option<&str>,
        cn: Option<&str>,
        alg: &'static SignatureAlgorithm,
    ) -> Result<(Ca, String), String> {
        let key = KeyPair::generate_for(alg).map_err(err)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        if let Some(o) = org {
            dn.push(DnType::OrganizationName, o);
        }
        if let Some(c) = cn {
            dn.push(DnType::CommonName, c);
        }
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now;
        params.not_after = now + time::Duration::days(3650);
        params.serial_number = Some(random_serial());
        let cert = params.self_signed(&key).map_err(err)?;
        let key_pem = key.serialize_pem();
        let cert_pem = cert.pem();
        let ca = Ca::from_pem(&cert_pem, &key_pem)?;
        Ok((ca, key_pem))
    }

    /// Issues a leaf certificate.
    pub(crate) fn issue(&self, spec: &LeafSpec<'_>) -> Result<Issued, String> {
        let key = KeyPair::generate_for(spec.alg).map_err(err)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        for o in spec.orgs {
            dn.push(DnType::OrganizationName, *o);
        }
        if let Some(cn) = spec.cn {
            dn.push(DnType::CommonName, cn);
        }
        params.distinguished_name = dn;
        params.subject_alt_names = spec
            .dns
            .iter()
            .filter_map(|d| {
                d.parse::<IpAddr>()
                    .map(SanType::IpAddress)
                    .ok()
                    .or_else(|| {
                        rcgen::string::Ia5String::try_from(d.to_string())
                            .ok()
                            .map(SanType::DnsName)
                    })
            })
            .chain(
                spec.ips
                    .iter()
                    .map(|ip| SanType::IpAddress(IpAddr::V4(*ip))),
            )
            .collect();
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = if spec.key_encipherment {
            vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ]
        } else {
            vec![KeyUsagePurpose::DigitalSignature]
        };
        params.extended_key_usages = if spec.server {
            vec![ExtendedKeyUsagePurpose::ServerAuth]
        } else {
            vec![ExtendedKeyUsagePurpose::ClientAuth]
        };
        let now = OffsetDateTime::now_utc();
        // Talos backdates client certificates by the allowed skew (pkg/kubeconfig/generate.go).
        params.not_before = now - time::Duration::seconds(10);
        params.not_after =
            now + time::Duration::seconds(spec.ttl.as_secs().min(20 * 365 * 86_400) as i64);
        params.serial_number = Some(random_serial());
        let cert = params.signed_by(&key, &self.issuer).map_err(err)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
        })
    }
}

/// What to put in a leaf certificate.
pub(crate) struct LeafSpec<'a> {
    pub cn: Option<&'a str>,
    pub orgs: &'a [&'a str],
    /// DNS names (IP literals are turned into IP SANs).
    pub dns: &'a [String],
    pub ips: &'a [Ipv4Addr],
    pub server: bool,
    pub key_encipherment: bool,
    pub ttl: Duration,
    pub alg: &'static SignatureAlgorithm,
}

fn random_serial() -> rcgen::SerialNumber {
    let mut b = [0u8; 16];
    let _ = getrandom::fill(&mut b);
    b[0] &= 0x7f;
    rcgen::SerialNumber::from_slice(&b)
}

/// A self-signed serving certificate, as apid presents in maintenance mode (research §B.3).
pub(crate) fn self_signed_server(ip: Ipv4Addr, hostname: &str) -> Result<Issued, String> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(err)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "talos");
    params.distinguished_name = dn;
    params.subject_alt_names = vec![SanType::IpAddress(IpAddr::V4(ip))];
    if let Ok(h) = rcgen::string::Ia5String::try_from(hostname.to_string()) {
        if !hostname.is_empty() {
            params.subject_alt_names.push(SanType::DnsName(h));
        }
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::seconds(10);
    params.not_after = now + time::Duration::days(365);
    params.serial_number = Some(random_serial());
    let cert = params.self_signed(&key).map_err(err)?;
    Ok(Issued {
        cert_pem: cert.pem(),
        cert_der: cert.der().clone(),
        key_pem: key.serialize_pem(),
        key_der: key.serialize_der(),
    })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn builder() -> Result<rustls::ConfigBuilder<ServerConfig, rustls::WantsVerifier>, String> {
    ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(err)
}

fn key_der(issued: &Issued) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(issued.key_der.clone()))
}

/// TLS without client authentication (apid in maintenance mode).
pub(crate) fn server_no_client_auth(
    cert: &Issued,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, String> {
    let mut cfg = builder()?
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert_der.clone()], key_der(cert))
        .map_err(err)?;
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(cfg))
}

/// TLS with client certificates verified against `ca`; `mandatory` refuses clients without
/// one, `client_auth_only` adds apid's exact-ClientAuth EKU check.
pub(crate) fn server_with_client_ca(
    cert: &Issued,
    ca: &CertificateDer<'static>,
    mandatory: bool,
    client_auth_only: bool,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, String> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).map_err(err)?;
    let b = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
    let b = if mandatory {
        b
    } else {
        b.allow_unauthenticated()
    };
    let inner = b.build().map_err(err)?;
    let verifier: Arc<dyn ClientCertVerifier> = if client_auth_only {
        Arc::new(ClientAuthOnly { inner })
    } else {
        inner
    };
    let mut cfg = builder()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert.cert_der.clone()], key_der(cert))
        .map_err(err)?;
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(cfg))
}

/// apid's `verifyExtKeyUsage`: the client certificate's extended key usage must be exactly
/// ClientAuth (siderolabs/talos `internal/app/apid/service.go`).
#[derive(Debug)]
struct ClientAuthOnly {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for ClientAuthOnly {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[TlsDn] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let ok = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let (_, cert) = x509_parser::parse_x509_certificate(end_entity)
            .map_err(|_| rustls::Error::General("bad client certificate".into()))?;
        let only_client_auth = matches!(
            cert.extended_key_usage(),
            Ok(Some(eku)) if eku.value.client_auth
                && !eku.value.server_auth && !eku.value.any && !eku.value.code_signing
                && !eku.value.email_protection && !eku.value.time_stamping
                && !eku.value.ocsp_signing && eku.value.other.is_empty()
        );
        if !only_client_auth {
            return Err(rustls::Error::General(format!(
                "certificate {:?} is missing the client auth extended key usage",
                cert.subject().to_string()
            )));
        }
        Ok(ok)
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Common name and organizations of a verified peer certificate.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct PeerName {
    pub cn: String,
    pub orgs: Vec<String>,
}

/// Reads the subject of a DER certificate.
pub(crate) fn peer_name(der: &[u8]) -> Option<PeerName> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let cn = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or("")
        .to_string();
    let orgs = subject
        .iter_organization()
        .filter_map(|a| a.as_str().ok().map(str::to_string))
        .collect();
    Some(PeerName { cn, orgs })
}
