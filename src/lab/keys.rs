//! Key material: the lab's SSH client key, each host's SSH host key (Ed25519, persisted so
//! `known_hosts` stays valid across restarts), each host's Proxmox TLS identity (a per-node
//! CA, `pve-root-ca`, and the node certificate `pve-ssl.pem` it signs), and the root password.
//!
//! Proxmox generates RSA keys here; the lab uses ECDSA P-256 so a lab starts well under a
//! second. Clients pin the SHA-256 fingerprint, which works the same for either.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::keys::ssh_key::{self, LineEnding};
use russh::keys::{HashAlg, PrivateKey};

use super::LabError;

/// Fills `buf` from the operating system's generator.
pub(crate) fn random_fill(buf: &mut [u8]) -> Result<(), LabError> {
    getrandom::fill(buf).map_err(|e| LabError::Crypto(format!("random source: {e}")))
}

/// A random u64 for ids and seeds.
pub(crate) fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // Falls back to the clock if the OS generator fails; these values are not secrets.
    if random_fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        return t ^ 0x5DEE_CE66_D1CE_5EED;
    }
    u64::from_le_bytes(b)
}

/// A random alphanumeric string (passwords, token secrets are UUIDs, see [`uuid_v4`]).
pub(crate) fn random_alnum(len: usize) -> Result<String, LabError> {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut b = vec![0u8; len];
    random_fill(&mut b)?;
    Ok(b.iter()
        .map(|x| ALPHABET[*x as usize % ALPHABET.len()] as char)
        .collect())
}

/// A random RFC 4122 version-4 UUID, lowercase (Proxmox token secrets and Ceph fsids look so).
pub(crate) fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    let hi = random_u64().to_le_bytes();
    let lo = random_u64().to_le_bytes();
    b[..8].copy_from_slice(&hi);
    b[8..].copy_from_slice(&lo);
    uuid_v4_from(b)
}

/// Random bytes `b` as an RFC 4122 version-4 UUID, lowercase (sets the version and variant bits).
pub(crate) fn uuid_v4_from(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// SHA-256 of `data` as uppercase hex pairs joined by `:`, the form Proxmox shows and
/// `pvecm add --fingerprint` expects (`Net::SSLeay::X509_get_fingerprint`, research §D.1).
pub(crate) fn sha256_colon_hex(data: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    d.as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// HMAC-SHA256 of `msg` under `key`, base64 without padding (ticket and CSRF signatures).
pub(crate) fn hmac_b64(key: &[u8], msg: &[u8]) -> String {
    use base64::Engine;
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let tag = aws_lc_rs::hmac::sign(&k, msg);
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(tag.as_ref())
}

fn io_err(path: &Path, source: std::io::Error) -> LabError {
    LabError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `data` to `path` with mode 0600, creating parent directories.
pub(crate) fn write_private(path: &Path, data: &[u8]) -> Result<(), LabError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    f.write_all(data).map_err(|e| io_err(path, e))?;
    // An existing file keeps its old mode through `open`; force 0600.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| io_err(path, e))
}

/// A fresh Ed25519 SSH key.
pub(crate) fn new_ed25519(comment: &str) -> Result<PrivateKey, LabError> {
    let mut seed = [0u8; 32];
    random_fill(&mut seed)?;
    let kp = ssh_key::private::Ed25519Keypair::from_seed(&seed);
    let mut key = PrivateKey::from(kp);
    key.set_comment(comment);
    Ok(key)
}

/// Loads the Ed25519 key at `path`, or creates and saves one.
pub(crate) fn load_or_create_ed25519(path: &Path, comment: &str) -> Result<PrivateKey, LabError> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return PrivateKey::from_openssh(text.as_bytes())
            .map_err(|e| LabError::Crypto(format!("{}: {e}", path.display())));
    }
    let key = new_ed25519(comment)?;
    write_private(path, openssh_pem(&key)?.as_bytes())?;
    let pubpath = path.with_extension("pub");
    std::fs::write(&pubpath, format!("{}\n", public_line(&key)))
        .map_err(|e| io_err(&pubpath, e))?;
    Ok(key)
}

/// The OpenSSH private-key PEM.
pub(crate) fn openssh_pem(key: &PrivateKey) -> Result<String, LabError> {
    key.to_openssh(LineEnding::LF)
        .map(|z| z.to_string())
        .map_err(|e| LabError::Crypto(e.to_string()))
}

/// `ssh-ed25519 AAAA… comment`.
pub(crate) fn public_line(key: &PrivateKey) -> String {
    key.public_key().to_openssh().unwrap_or_default()
}

/// `SHA256:…` as `ssh-keygen -l` prints it.
pub(crate) fn ssh_fingerprint(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}

/// The lab-wide secrets.
pub(crate) struct LabSecrets {
    pub(crate) client_key: Arc<PrivateKey>,
    pub(crate) client_key_pem: String,
    pub(crate) client_key_path: Option<PathBuf>,
    pub(crate) root_password: String,
}

impl LabSecrets {
    pub(crate) fn load(dir: Option<&Path>) -> Result<LabSecrets, LabError> {
        let (client_key, client_key_path) = match dir {
            Some(d) => {
                let p = d.join("ssh").join("id_ed25519");
                (load_or_create_ed25519(&p, "freetier-lab")?, Some(p))
            }
            None => (new_ed25519("freetier-lab")?, None),
        };
        let root_password = match dir {
            Some(d) => {
                let p = d.join("root-password");
                match std::fs::read_to_string(&p) {
                    Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
                    _ => {
                        let pw = random_alnum(20)?;
                        write_private(&p, pw.as_bytes())?;
                        pw
                    }
                }
            }
            None => random_alnum(20)?,
        };
        let client_key_pem = openssh_pem(&client_key)?;
        Ok(LabSecrets {
            client_key: Arc::new(client_key),
            client_key_pem,
            client_key_path,
            root_password,
        })
    }
}

/// A CA that can sign node certificates (`pve-root-ca`).
pub(crate) struct Ca {
    key_pem: String,
    name: String,
}

fn ca_params(name: &str) -> Result<rcgen::CertificateParams, LabError> {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| LabError::Crypto(e.to_string()))?;
    // Subject as pve-cluster's Setup.pm gives the root CA: CN "Proxmox Virtual Environment",
    // O "PVE Cluster Manager CA"; the OU is random per cluster.
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "Proxmox Virtual Environment");
    p.distinguished_name
        .push(rcgen::DnType::OrganizationalUnitName, name);
    p.distinguished_name
        .push(rcgen::DnType::OrganizationName, "PVE Cluster Manager CA");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    Ok(p)
}

impl Ca {
    pub(crate) fn load_or_create(dir: Option<&Path>, name: &str) -> Result<Ca, LabError> {
        let path = dir.map(|d| d.join("pve-root-ca.key"));
        if let Some(p) = &path {
            if let Ok(pem) = std::fs::read_to_string(p) {
                if rcgen::KeyPair::from_pem(&pem).is_ok() {
                    return Ok(Ca {
                        key_pem: pem,
                        name: name.into(),
                    });
                }
            }
        }
        let key = rcgen::KeyPair::generate().map_err(|e| LabError::Crypto(e.to_string()))?;
        let key_pem = key.serialize_pem();
        if let Some(p) = &path {
            write_private(p, key_pem.as_bytes())?;
        }
        Ok(Ca {
            key_pem,
            name: name.into(),
        })
    }

    /// Issues a node certificate (`pve-ssl.pem`) for `node` at `ip`.
    pub(crate) fn issue(
        &self,
        node: &str,
        ip: std::net::Ipv4Addr,
    ) -> Result<TlsIdentity, LabError> {
        let ca_key =
            rcgen::KeyPair::from_pem(&self.key_pem).map_err(|e| LabError::Crypto(e.to_string()))?;
        let issuer = rcgen::Issuer::new(ca_params(&self.name)?, &ca_key);
        let key = rcgen::KeyPair::generate().map_err(|e| LabError::Crypto(e.to_string()))?;
        let mut p = rcgen::CertificateParams::new(vec![
            node.to_string(),
            ip.to_string(),
            "localhost".to_string(),
        ])
        .map_err(|e| LabError::Crypto(e.to_string()))?;
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(rcgen::DnType::OrganizationalUnitName, "PVE Cluster Node");
        p.distinguished_name.push(
            rcgen::DnType::OrganizationName,
            "Proxmox Virtual Environment",
        );
        p.distinguished_name
            .push(rcgen::DnType::CommonName, format!("{node}.lab"));
        let cert = p
            .signed_by(&key, &issuer)
            .map_err(|e| LabError::Crypto(e.to_string()))?;
        TlsIdentity::new(cert.der().to_vec(), key.serialize_der())
    }
}

/// A node's TLS certificate and key, and the fingerprint clients pin.
#[derive(Clone)]
pub(crate) struct TlsIdentity {
    pub(crate) cert_der: Vec<u8>,
    pub(crate) key_der: Vec<u8>,
    pub(crate) fingerprint: String,
    pub(crate) certified: Arc<rustls::sign::CertifiedKey>,
}

impl TlsIdentity {
    pub(crate) fn new(cert_der: Vec<u8>, key_der: Vec<u8>) -> Result<TlsIdentity, LabError> {
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key_der.clone().into());
        let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
            .map_err(|e| LabError::Crypto(e.to_string()))?;
        let certified = Arc::new(rustls::sign::CertifiedKey::new(
            vec![rustls::pki_types::CertificateDer::from(cert_der.clone())],
            signing,
        ));
        let fingerprint = sha256_colon_hex(&cert_der);
        Ok(TlsIdentity {
            cert_der,
            key_der,
            fingerprint,
            certified,
        })
    }

    /// Loads `pve-ssl.pem`/`pve-ssl.key` (DER inside, base64 armour) from `dir`, or issues and
    /// saves a new pair from `ca`.
    pub(crate) fn load_or_issue(
        dir: Option<&Path>,
        ca: &Ca,
        node: &str,
        ip: std::net::Ipv4Addr,
    ) -> Result<TlsIdentity, LabError> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        if let Some(d) = dir {
            let c = std::fs::read_to_string(d.join("pve-ssl.pem"));
            let k = std::fs::read_to_string(d.join("pve-ssl.key"));
            if let (Ok(c), Ok(k)) = (c, k) {
                if let (Some(c), Some(k)) =
                    (pem_body(&c, "CERTIFICATE"), pem_body(&k, "PRIVATE KEY"))
                {
                    if let (Ok(c), Ok(k)) = (b64.decode(c), b64.decode(k)) {
                        if let Ok(id) = TlsIdentity::new(c, k) {
                            return Ok(id);
                        }
                    }
                }
            }
        }
        let id = ca.issue(node, ip)?;
        if let Some(d) = dir {
            let c = pem_armour("CERTIFICATE", &b64.encode(&id.cert_der));
            let k = pem_armour("PRIVATE KEY", &b64.encode(&id.key_der));
            let p = d.join("pve-ssl.pem");
            std::fs::create_dir_all(d).map_err(|e| io_err(d, e))?;
            std::fs::write(&p, c).map_err(|e| io_err(&p, e))?;
            write_private(&d.join("pve-ssl.key"), k.as_bytes())?;
        }
        Ok(id)
    }

    /// The certificate as PEM, for clients that want to trust it directly.
    pub(crate) fn cert_pem(&self) -> String {
        use base64::Engine;
        pem_armour(
            "CERTIFICATE",
            &base64::engine::general_purpose::STANDARD.encode(&self.cert_der),
        )
    }
}

fn pem_armour(label: &str, b64: &str) -> String {
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

fn pem_body(text: &str, label: &str) -> Option<String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = text[start..].find(&end)? + start;
    Some(
        text[start..stop]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect(),
    )
}
