//! The API signing key: an RSA private key in PEM, as Oracle's "Required Keys and OCIDs" page
//! asks for (<https://docs.oracle.com/en-us/iaas/Content/API/Concepts/apisigningkey.htm>: RSA,
//! at least 2048 bits, PEM), and its fingerprint (MD5 of the DER public key, colon-separated
//! hex, as `openssl rsa -pubout -outform DER | openssl md5 -c` prints it on that page).
//!
//! Read forms: PKCS#1 (`RSA PRIVATE KEY`, what `openssl genrsa` wrote before OpenSSL 3), PKCS#8
//! (`PRIVATE KEY`, what the Console's "Generate API key pair" downloads), and encrypted PKCS#8
//! (`ENCRYPTED PRIVATE KEY`, PBES2, with `pass_phrase`). OpenSSL's legacy encrypted PEM
//! (`Proc-Type: 4,ENCRYPTED`) is refused with the command that converts it.
//!
//! The private key stays inside aws-lc-rs; nothing here prints it.

use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;

/// Oracle's page on API keys, for messages.
pub const KEY_DOC: &str =
    "https://docs.oracle.com/en-us/iaas/Content/API/Concepts/apisigningkey.htm";

/// Why a key file cannot sign.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct KeyError {
    /// The key file.
    pub path: String,
    /// What is wrong, and what to do.
    pub message: String,
}

/// An RSA private key that signs with RSASSA-PKCS1-v1_5 and SHA-256.
#[derive(Clone)]
pub struct PrivateKey {
    pair: Arc<KeyPair>,
    fingerprint: String,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Reads the PEM key at `path`, decrypting it with `pass_phrase` when it is encrypted.
    pub fn from_file(path: &Path, pass_phrase: Option<&str>) -> Result<PrivateKey, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|e| KeyError {
            path: path.display().to_string(),
            message: format!("cannot read the API key (key_file): {e}"),
        })?;
        PrivateKey::from_pem(&text, pass_phrase).map_err(|message| KeyError {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses a PEM key. The error says what is wrong in a sentence.
    pub fn from_pem(text: &str, pass_phrase: Option<&str>) -> Result<PrivateKey, String> {
        let block = pem_block(text).ok_or_else(|| {
            format!("not a PEM private key (no -----BEGIN … PRIVATE KEY----- block); see {KEY_DOC}")
        })?;
        let pair =
            match block.label.as_str() {
                "RSA PRIVATE KEY" if block.encrypted => return Err(
                    "is encrypted in OpenSSL's legacy PEM format (Proc-Type: 4,ENCRYPTED), which \
                     freetier does not read; convert it to encrypted PKCS#8 with `openssl pkcs8 \
                     -topk8 -v2 aes-256-cbc -in KEY -out NEW` and point key_file at NEW"
                        .into(),
                ),
                "RSA PRIVATE KEY" => KeyPair::from_der(&block.der).map_err(rejected)?,
                "PRIVATE KEY" => KeyPair::from_pkcs8(&block.der).map_err(rejected)?,
                "ENCRYPTED PRIVATE KEY" => {
                    let Some(pass) = pass_phrase else {
                        return Err(format!(
                        "is encrypted, and the profile has no pass_phrase; add one, or decrypt \
                         the key (`openssl pkcs8 -in KEY -out NEW`); see {KEY_DOC}"
                    ));
                    };
                    let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(block.der.as_slice())
                        .map_err(|e| format!("is not a valid encrypted PKCS#8 key: {e}"))?;
                    let plain = info.decrypt(pass.as_bytes()).map_err(|_| {
                        "cannot be decrypted with the profile's pass_phrase (wrong pass phrase, or \
                     an encryption scheme other than PBES2)"
                            .to_string()
                    })?;
                    KeyPair::from_pkcs8(plain.as_bytes()).map_err(rejected)?
                }
                other => {
                    return Err(format!(
                    "holds a `{other}`, not an RSA private key; OCI API keys are RSA ({KEY_DOC})"
                ))
                }
            };
        let spki = pair
            .public_key()
            .as_der()
            .map_err(|_| "cannot encode the public key".to_string())?;
        let fingerprint = md5_colon_hex(spki.as_ref());
        Ok(PrivateKey {
            pair: Arc::new(pair),
            fingerprint,
        })
    }

    /// The fingerprint of the key's public half, `aa:bb:…` (what the Console shows).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The key's size in bits.
    pub fn bits(&self) -> usize {
        self.pair.public_modulus_len() * 8
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message`, base64 (standard alphabet, padded).
    pub fn sign_b64(&self, message: &[u8]) -> Result<String, String> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &rng,
                message,
                &mut sig,
            )
            .map_err(|_| "the RSA signature failed".to_string())?;
        Ok(base64::engine::general_purpose::STANDARD.encode(sig))
    }

    /// The public key as DER `SubjectPublicKeyInfo`.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.pair
            .public_key()
            .as_der()
            .map(|d| d.as_ref().to_vec())
            .unwrap_or_default()
    }
}

fn rejected(e: aws_lc_rs::error::KeyRejected) -> String {
    match e.description_() {
        "TooSmall" => format!("is an RSA key under 2048 bits, which OCI refuses ({KEY_DOC})"),
        "TooLarge" => "is an RSA key over 8192 bits".into(),
        other => format!("is not a usable RSA private key ({other})"),
    }
}

/// MD5 of `der`, lowercase hex pairs joined by `:`.
pub(super) fn md5_colon_hex(der: &[u8]) -> String {
    md5::compute(der)
        .0
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// One PEM block.
struct PemBlock {
    label: String,
    /// RFC 1421 headers say the body is encrypted (`Proc-Type: 4,ENCRYPTED`).
    encrypted: bool,
    der: Vec<u8>,
}

/// The first `-----BEGIN X-----` … `-----END X-----` block of `text`.
fn pem_block(text: &str) -> Option<PemBlock> {
    let mut lines = text.lines().map(str::trim);
    let label = lines.find_map(|l| {
        l.strip_prefix("-----BEGIN ")
            .and_then(|r| r.strip_suffix("-----"))
            .map(str::to_string)
    })?;
    let end = format!("-----END {label}-----");
    let mut b64 = String::new();
    let mut encrypted = false;
    let mut ended = false;
    for l in lines {
        if l == end {
            ended = true;
            break;
        }
        if let Some((name, value)) = l.split_once(':') {
            if name.eq_ignore_ascii_case("Proc-Type") && value.contains("ENCRYPTED") {
                encrypted = true;
            }
            continue;
        }
        b64.push_str(l);
    }
    if !ended {
        return None;
    }
    let der = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    Some(PemBlock {
        label,
        encrypted,
        der,
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A fresh 2048-bit key as PKCS#8 PEM.
    pub(crate) fn pkcs8_pem() -> (String, Vec<u8>) {
        let pair = KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).expect("der");
        (
            pem("PRIVATE KEY", der.as_ref()),
            pair.public_key().as_der().expect("spki").as_ref().to_vec(),
        )
    }

    pub(crate) fn pem(label: &str, der: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let mut s = format!("-----BEGIN {label}-----\n");
        for c in b64.as_bytes().chunks(64) {
            s.push_str(std::str::from_utf8(c).unwrap_or_default());
            s.push('\n');
        }
        s.push_str(&format!("-----END {label}-----\n"));
        s
    }

    #[test]
    fn reads_pkcs8_and_computes_the_consoles_fingerprint() {
        let (text, spki) = pkcs8_pem();
        let k = PrivateKey::from_pem(&text, None).expect("key");
        assert_eq!(k.bits(), 2048);
        assert_eq!(k.fingerprint(), md5_colon_hex(&spki));
        assert_eq!(k.fingerprint().split(':').count(), 16);
        assert!(!format!("{k:?}").contains("PRIVATE"));
    }

    #[test]
    fn reads_encrypted_pkcs8_with_the_pass_phrase() {
        let (text, spki) = pkcs8_pem();
        let plain = pem_block(&text).expect("pem").der;
        let info = pkcs8::PrivateKeyInfoRef::try_from(plain.as_slice()).expect("info");
        let params = pkcs8::pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(
            2048,
            b"saltsalt",
            [7u8; 16],
        )
        .expect("params");
        let enc = info
            .encrypt_with_params(params, b"correct horse")
            .expect("encrypt");
        let enc_pem = pem("ENCRYPTED PRIVATE KEY", enc.as_bytes());
        let k = PrivateKey::from_pem(&enc_pem, Some("correct horse")).expect("decrypted");
        assert_eq!(k.fingerprint(), md5_colon_hex(&spki));
        let cases = [
            ("no pass phrase", None, "has no pass_phrase"),
            ("wrong pass phrase", Some("wrong"), "cannot be decrypted"),
        ];
        for (name, pass, want) in cases {
            let e = PrivateKey::from_pem(&enc_pem, pass).expect_err(name);
            assert!(e.contains(want), "{name}: {e}");
        }
    }

    #[test]
    fn refusals_say_why() {
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        let ec = pem("EC PRIVATE KEY", &[0x30, 0x00]);
        let cases = [
            ("not pem", "hello".to_string(), "not a PEM private key"),
            ("legacy encrypted", legacy.to_string(), "legacy PEM format"),
            ("ec key", ec, "not an RSA private key"),
            (
                "garbage pkcs8",
                pem("PRIVATE KEY", &[0x30, 0x03, 0x02, 0x01, 0x00]),
                "not a usable RSA private key",
            ),
            (
                "1024-bit key",
                super::super::signer::tests::ORACLE_TEST_KEY.to_string(),
                "under 2048 bits",
            ),
        ];
        for (name, text, want) in cases {
            let e = PrivateKey::from_pem(&text, None).expect_err(name);
            assert!(e.contains(want), "{name}: {e}");
        }
    }
}
