//! AutoMTLS, as go-plugin clients expect it (facts: ../shared/research/clients.md §2).
//!
//! - Our certificate: fresh and self-signed per process, SAN `localhost`; sent in the
//!   handshake as base64 DER without padding.
//! - The client: accepted only if it presents exactly the certificate Terraform passed in
//!   `PLUGIN_CLIENT_CERT`; the TLS signature is still checked. WebPKI's verifier refuses that
//!   certificate (it is a CA), so the pinning verifier is our own.
//! - aws-lc-rs, because Terraform's client key is ECDSA P-521, which ring cannot verify.
//! - ALPN `h2`: newer grpc-go refuses TLS without it.
//!
//! Start-up cost: aws-lc seeds its RNG on first use (~21 ms measured). The server key is
//! Ed25519 from the OS RNG, and Ed25519 signing is deterministic, so the handshake line goes
//! out without touching aws-lc's RNG; `warm_up_rng` seeds it on another thread meanwhile.

use std::sync::Arc;

use base64::Engine;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// Why AutoMTLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// `PLUGIN_CLIENT_CERT` holds no PEM certificate.
    #[error("PLUGIN_CLIENT_CERT is not a PEM certificate: {0}")]
    ClientCert(String),
    /// The OS random source failed.
    #[error("no randomness for the server key: {0}")]
    Random(String),
    /// Building or signing our certificate failed.
    #[error("cannot make the server certificate: {0}")]
    Certificate(String),
    /// rustls refused the configuration.
    #[error("tls configuration refused: {0}")]
    Config(String),
}

/// A server identity: certificate and key.
pub struct ServerIdentity {
    /// The certificate, DER.
    pub cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl ServerIdentity {
    /// The handshake's sixth field: standard base64 without padding (padding makes Go's
    /// RawStdEncoding fail whenever the DER length is not a multiple of three).
    pub fn handshake_field(&self) -> String {
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(self.cert.as_ref())
    }
}

/// Seeds aws-lc's RNG on a background thread, so the first TLS handshake does not pay for it.
pub fn warm_up_rng() {
    std::thread::spawn(|| {
        let mut b = [0u8; 16];
        let _ = aws_lc_rs::rand::fill(&mut b);
    });
}

/// Parses the client certificate Terraform passed.
pub fn parse_client_cert(pem: &str) -> Result<CertificateDer<'static>, TlsError> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| TlsError::ClientCert(format!("{e:?}")))
}

/// Makes a fresh self-signed Ed25519 identity for `localhost`.
pub fn generate_identity() -> Result<ServerIdentity, TlsError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| TlsError::Random(e.to_string()))?;
    // PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410): fixed prefix, then the 32 bytes.
    let mut pkcs8 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    pkcs8.extend_from_slice(&seed);
    let key_der = PrivatePkcs8KeyDer::from(pkcs8);
    let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&key_der, &rcgen::PKCS_ED25519)
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "freetier");
    // A serial from the seed's hash would need the RNG-free path too; 16 OS-random bytes do.
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).map_err(|e| TlsError::Random(e.to_string()))?;
    serial[0] &= 0x7f;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let cert = params
        .self_signed(&key)
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    Ok(ServerIdentity {
        cert: cert.der().clone(),
        key: key_der,
    })
}

/// The rustls server configuration: our identity, the pinned client, ALPN h2.
pub fn server_config(
    identity: &ServerIdentity,
    client: CertificateDer<'static>,
) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(PinnedClientVerifier {
        expected: client,
        provider: provider.clone(),
    });
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![identity.cert.clone()],
            PrivateKeyDer::Pkcs8(identity.key.clone_key()),
        )
        .map_err(|e| TlsError::Config(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(cfg)
}

/// Accepts exactly one client certificate, byte for byte, and checks the handshake signature.
#[derive(Debug)]
pub struct PinnedClientVerifier {
    expected: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for PinnedClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.expected.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            tracing::warn!(
                "refused a TLS client whose certificate is not the one Terraform passed"
            );
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
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
        verify_tls13_signature(
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
