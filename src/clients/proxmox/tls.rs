//! TLS pinned to one certificate: the node's own, by its SHA-256 fingerprint, the way
//! `pvecm add --fingerprint` trusts a cluster member. There is no trust store and no way to
//! turn checking off: a node whose certificate is not the pinned one gets no request at all.
//!
//! The handshake signature is still verified with the crypto provider's algorithms, so a
//! server that merely replays the pinned certificate, without its private key, fails too.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};

/// A SHA-256 certificate fingerprint.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// Parses `AA:BB:…` (32 hex pairs, any case; the colons may be left out).
    pub fn parse(text: &str) -> Option<Fingerprint> {
        let hex: String = text.trim().chars().filter(|c| *c != ':').collect();
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Fingerprint(out))
    }

    /// The fingerprint of a DER certificate.
    pub fn of(der: &[u8]) -> Fingerprint {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Fingerprint(out)
    }
}

impl fmt::Display for Fingerprint {
    /// `AA:BB:…`, as `pvenode cert info` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// The certificate a node presented, when it is not the pinned one. It travels inside the
/// rustls error, so the client can name both fingerprints.
#[derive(Debug)]
pub(super) struct Mismatch {
    pub(super) presented: Fingerprint,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "certificate fingerprint {} is not pinned",
            self.presented
        )
    }
}

impl std::error::Error for Mismatch {}

/// Accepts exactly the certificate whose SHA-256 is `pinned`.
#[derive(Debug)]
struct Pinned {
    pinned: Fingerprint,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = Fingerprint::of(end_entity.as_ref());
        if presented == self.pinned {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(Mismatch { presented })),
            )))
        }
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

/// A rustls client configuration on aws-lc-rs that trusts only `pinned`.
pub(super) fn client_config(pinned: Fingerprint) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned { pinned, provider }))
            .with_no_client_auth(),
    )
}

/// An error and each of its causes, outermost first. An `io::Error`'s `source` skips the
/// error it wraps (and rustls's handshake errors arrive wrapped, sometimes twice), so the walk
/// steps into the wrapped error itself.
pub(super) fn causes<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(err), |e| {
        e.downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|i| i as &(dyn std::error::Error + 'static))
            .or_else(|| e.source())
    })
}

/// The fingerprint a refused node presented, found anywhere in an error's chain.
pub(super) fn mismatch_in(err: &(dyn std::error::Error + 'static)) -> Option<Fingerprint> {
    causes(err).find_map(|e| match e.downcast_ref::<rustls::Error>() {
        Some(rustls::Error::InvalidCertificate(CertificateError::Other(o))) => {
            o.0.downcast_ref::<Mismatch>().map(|m| m.presented)
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_as_pvenode_prints_them() {
        let colon = "AB:".repeat(31) + "CD";
        let cases: &[(&str, &str, bool)] = &[
            ("upper case with colons", &colon, true),
            ("lower case", &colon.to_lowercase(), true),
            ("without colons", &colon.replace(':', ""), true),
            ("too short", "AB:CD", false),
            ("not hex", &("ZZ:".repeat(31) + "ZZ"), false),
            ("empty", "", false),
        ];
        for (name, text, ok) in cases {
            let parsed = Fingerprint::parse(text);
            assert_eq!(parsed.is_some(), *ok, "{name}");
            if let Some(fp) = parsed {
                assert_eq!(fp.to_string(), colon, "{name}: printed back");
            }
        }
    }
}
