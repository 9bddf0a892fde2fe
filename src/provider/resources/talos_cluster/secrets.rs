//! A Talos cluster's secrets bundle, generated in Rust the way `talosctl gen secrets` makes it,
//! and the client credentials derived from it: an `os:admin` talosconfig and an admin
//! kubeconfig.
//!
//! Facts (upstream files, public):
//! - Bundle contents and token format:
//!   <https://github.com/siderolabs/talos/blob/v1.13.9/pkg/machinery/config/generate/secrets/bundle.go>
//!   and `utils.go` beside it (`genToken(6, 16)` over `[0-9a-z]`, bytes ≥ 252 rejected so every
//!   character is equally likely); cluster id and secret are 32 random bytes, base64.
//! - CAs: <https://github.com/siderolabs/talos/blob/v1.13.9/pkg/machinery/config/generate/secrets/ca.go>
//!   (etcd: Organization `etcd`, Kubernetes: `kubernetes`, aggregator: ECDSA, OS: `talos`,
//!   Ed25519) and <https://github.com/siderolabs/crypto/blob/main/x509/x509.go>: a self-signed CA
//!   carries only the Organization in its subject (so the aggregator CA's `front-proxy` common
//!   name never reaches the certificate, and its subject is empty, as in Talos' own test data),
//!   key usage DigitalSignature + CertSign, extended key usage ServerAuth + ClientAuth, valid
//!   `CAValidityTime = 87600h`. ECDSA keys are P-256 in SEC1 PEM (`EC PRIVATE KEY`); Ed25519
//!   keys are PKCS#8 v1 under Talos' own PEM label `ED25519 PRIVATE KEY`.
//! - The `os:admin` client certificate: `NewAdminCertificateAndKey` in `ca.go` (Organization =
//!   role, key usage DigitalSignature, extended key usage ClientAuth only, one year:
//!   `TalosAPIDefaultCertificateValidityDuration` in `pkg/machinery/constants/constants.go`).
//! - talosconfig: <https://github.com/siderolabs/talos/blob/v1.13.9/pkg/machinery/client/config/config.go>.
//! - Admin kubeconfig: <https://github.com/siderolabs/talos/blob/v1.13.9/pkg/kubeconfig/generate.go>
//!   (CN `admin`, Organization `system:masters`, backdated by 10 s, one year, names
//!   `admin@<cluster>`, namespace `default`).
//!
//! The serde form is the layout of talosctl's `secrets.yaml` (lower-case keys, certificates and
//! keys as base64 of their PEM), so a bundle kept in Terraform state as JSON can be written out
//! for `talosctl gen config --with-secrets`, and one made by talosctl can be read in.
//!
//! `Debug` never prints a secret: only CA fingerprints.
//!
//! Must not import: the framework, clients, the lab.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivateSec1KeyDer};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::machine_config::control_plane_url;

/// How long a CA generated here is valid: `CAValidityTime = 87600h` (ten years).
pub const CA_VALIDITY: Duration = Duration::from_secs(87_600 * 3600);

/// How long a client certificate issued here is valid: one year, as
/// `TalosAPIDefaultCertificateValidityDuration` and `KubernetesAdminCertDefaultLifetime`.
pub const CLIENT_CERT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// The Talos API role of an administrator (`pkg/machinery/role/role.go`).
pub const OS_ADMIN_ROLE: &str = "os:admin";

/// The PEM label Talos writes for Ed25519 private keys (a PKCS#8 body).
pub const ED25519_PEM_LABEL: &str = "ED25519 PRIVATE KEY";

/// The PEM label of SEC1 ECDSA private keys, as Go's `x509.MarshalECPrivateKey` output is
/// labelled by siderolabs/crypto.
pub const EC_PEM_LABEL: &str = "EC PRIVATE KEY";

/// Talos backdates Kubernetes client certificates by this much (`allowedTimeSkew` in
/// `pkg/kubeconfig/generate.go`).
const KUBE_CLIENT_BACKDATE: Duration = Duration::from_secs(10);

/// The characters of bootstrap and trustd tokens (`validBootstrapTokenChars`).
const TOKEN_ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Why secrets could not be generated, read or used.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The operating system's random source failed.
    #[error("random source failed")]
    Random,
    /// A key could not be generated or read.
    #[error("{what}: bad key: {reason}")]
    Key {
        /// Which key.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A certificate could not be issued or read.
    #[error("{what}: bad certificate: {reason}")]
    Certificate {
        /// Which certificate.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A field of the bundle is missing or malformed.
    #[error("{field}: {reason}")]
    Field {
        /// The `secrets.yaml` path of the field.
        field: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The bundle's YAML or JSON could not be read or written.
    #[error("secrets bundle: {0}")]
    Format(String),
}

/// A certificate and its private key, both PEM. Serialised as base64 of the PEM, as Talos
/// does in `secrets.yaml` and machine configs (`crt`, `key`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertAndKey {
    /// The certificate, PEM.
    #[serde(with = "b64_pem")]
    pub crt: String,
    /// The private key, PEM.
    #[serde(with = "b64_pem")]
    pub key: String,
}

impl fmt::Debug for CertAndKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertAndKey")
            .field("crt", &fingerprint(&self.crt))
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A private key alone, PEM (the service-account key). Serialised as base64 of the PEM.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyOnly {
    /// The private key, PEM.
    #[serde(with = "b64_pem")]
    pub key: String,
}

impl fmt::Debug for KeyOnly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyOnly { key: \"<redacted>\" }")
    }
}

/// `cluster`: the cluster's identity for discovery.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterIdentity {
    /// `cluster.id`: 32 random bytes, base64.
    pub id: String,
    /// `cluster.secret`: 32 random bytes, base64; an AES-256 key.
    pub secret: String,
}

impl fmt::Debug for ClusterIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterIdentity { <redacted> }")
    }
}

/// `secrets`: Kubernetes' bootstrap token and etcd encryption key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesSecrets {
    /// `bootstraptoken`: `[a-z0-9]{6}.[a-z0-9]{16}`.
    #[serde(rename = "bootstraptoken")]
    pub bootstrap_token: String,
    /// `secretboxencryptionsecret`: 32 random bytes, base64 (Talos > 1.2).
    #[serde(
        rename = "secretboxencryptionsecret",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub secretbox_encryption_secret: Option<String>,
    /// `aescbcencryptionsecret`: only in bundles made for Talos ≤ 1.2; exactly one of the two
    /// is set.
    #[serde(
        rename = "aescbcencryptionsecret",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub aescbc_encryption_secret: Option<String>,
}

impl fmt::Debug for KubernetesSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KubernetesSecrets { <redacted> }")
    }
}

/// `trustdinfo`: the token machines use to join the OS PKI.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustdInfo {
    /// `token`: `[a-z0-9]{6}.[a-z0-9]{16}`.
    pub token: String,
}

impl fmt::Debug for TrustdInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TrustdInfo { <redacted> }")
    }
}

/// `certs`: the cluster's certificate authorities and the service-account key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct Certs {
    /// `etcd`: etcd CA, ECDSA P-256, Organization `etcd`.
    pub etcd: CertAndKey,
    /// `k8s`: Kubernetes CA, ECDSA P-256, Organization `kubernetes`.
    pub k8s: CertAndKey,
    /// `k8saggregator`: front-proxy CA, ECDSA P-256, empty subject.
    #[serde(rename = "k8saggregator")]
    pub k8s_aggregator: CertAndKey,
    /// `k8sserviceaccount`: the service-account signing key, ECDSA P-256.
    #[serde(rename = "k8sserviceaccount")]
    pub k8s_service_account: KeyOnly,
    /// `os`: the Talos API CA, Ed25519, Organization `talos`.
    pub os: CertAndKey,
}

/// A cluster's secrets bundle: what `talosctl gen secrets` writes to `secrets.yaml`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineSecrets {
    /// `cluster`.
    pub cluster: ClusterIdentity,
    /// `secrets`.
    pub secrets: KubernetesSecrets,
    /// `trustdinfo`.
    #[serde(rename = "trustdinfo")]
    pub trustd_info: TrustdInfo,
    /// `certs`.
    pub certs: Certs,
}

impl fmt::Debug for MachineSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MachineSecrets")
            .field("os_ca", &fingerprint(&self.certs.os.crt))
            .field("kubernetes_ca", &fingerprint(&self.certs.k8s.crt))
            .field("etcd_ca", &fingerprint(&self.certs.etcd.crt))
            .field(
                "aggregator_ca",
                &fingerprint(&self.certs.k8s_aggregator.crt),
            )
            .finish_non_exhaustive()
    }
}

/// A client certificate and its key, PEM. `Debug` hides the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The certificate, PEM.
    pub crt: String,
    /// The private key, PEM (`ED25519 PRIVATE KEY` for the Talos API, `EC PRIVATE KEY` for
    /// Kubernetes).
    pub key: String,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("crt", &fingerprint(&self.crt))
            .field("key", &"<redacted>")
            .finish()
    }
}

impl MachineSecrets {
    /// Generates a fresh bundle, as `talosctl gen secrets` does for a current Talos.
    pub fn generate() -> Result<Self, SecretsError> {
        let now = OffsetDateTime::now_utc();
        Ok(Self {
            cluster: ClusterIdentity {
                // Talos ≥ 1.14 encodes the id with standard base64 (`ClusterIDEncoding`);
                // the id is never decoded, so earlier releases take it too.
                id: STANDARD.encode(random_bytes::<32>()?),
                secret: STANDARD.encode(random_bytes::<32>()?),
            },
            secrets: KubernetesSecrets {
                bootstrap_token: token()?,
                secretbox_encryption_secret: Some(STANDARD.encode(random_bytes::<32>()?)),
                aescbc_encryption_secret: None,
            },
            trustd_info: TrustdInfo { token: token()? },
            certs: Certs {
                etcd: self_signed_ca(KeyAlg::EcdsaP256, Some("etcd"), now)?,
                k8s: self_signed_ca(KeyAlg::EcdsaP256, Some("kubernetes"), now)?,
                k8s_aggregator: self_signed_ca(KeyAlg::EcdsaP256, None, now)?,
                k8s_service_account: KeyOnly {
                    key: new_key(KeyAlg::EcdsaP256)?.pem,
                },
                os: self_signed_ca(KeyAlg::Ed25519, Some("talos"), now)?,
            },
        })
    }

    /// Reads a `secrets.yaml` as `talosctl gen secrets` writes it, and checks it.
    pub fn from_yaml(text: &str) -> Result<Self, SecretsError> {
        let s: Self =
            serde_norway::from_str(text).map_err(|e| SecretsError::Format(e.to_string()))?;
        s.validate()?;
        Ok(s)
    }

    /// Writes the bundle as a `secrets.yaml` that talosctl reads.
    pub fn to_yaml(&self) -> Result<String, SecretsError> {
        serde_norway::to_string(self).map_err(|e| SecretsError::Format(e.to_string()))
    }

    /// Checks every field: token formats, 32-byte secrets, CA key types, and that each key
    /// belongs to its certificate.
    pub fn validate(&self) -> Result<(), SecretsError> {
        if self.cluster.id.is_empty() {
            return Err(field("cluster.id", "is required"));
        }
        check_b64_32("cluster.secret", &self.cluster.secret)?;
        check_token("secrets.bootstraptoken", &self.secrets.bootstrap_token)?;
        check_token("trustdinfo.token", &self.trustd_info.token)?;
        match (
            &self.secrets.secretbox_encryption_secret,
            &self.secrets.aescbc_encryption_secret,
        ) {
            (Some(s), None) => check_b64_32("secrets.secretboxencryptionsecret", s)?,
            (None, Some(s)) => check_b64_32("secrets.aescbcencryptionsecret", s)?,
            (None, None) => {
                return Err(field(
                    "secrets.secretboxencryptionsecret",
                    "one of secretboxencryptionsecret and aescbcencryptionsecret is required",
                ))
            }
            (Some(_), Some(_)) => {
                return Err(field(
                    "secrets.secretboxencryptionsecret",
                    "only one of secretboxencryptionsecret and aescbcencryptionsecret is allowed",
                ))
            }
        }
        check_ca("certs.os", &self.certs.os, KeyAlg::Ed25519)?;
        check_ca("certs.etcd", &self.certs.etcd, KeyAlg::EcdsaP256)?;
        check_ca("certs.k8s", &self.certs.k8s, KeyAlg::EcdsaP256)?;
        check_ca(
            "certs.k8saggregator",
            &self.certs.k8s_aggregator,
            KeyAlg::EcdsaP256,
        )?;
        let sa = load_key(
            "certs.k8sserviceaccount",
            &self.certs.k8s_service_account.key,
        )?;
        if KeyAlg::of(&sa) != Some(KeyAlg::EcdsaP256) {
            return Err(SecretsError::Key {
                what: "certs.k8sserviceaccount",
                reason: "must be an ECDSA P-256 key".into(),
            });
        }
        Ok(())
    }

    /// A Talos API client certificate for `role` (e.g. [`OS_ADMIN_ROLE`]) valid for `ttl`,
    /// signed by the OS CA.
    pub fn talos_client_certificate(
        &self,
        role: &str,
        ttl: Duration,
    ) -> Result<ClientCertificate, SecretsError> {
        issue(
            "certs.os",
            &self.certs.os,
            &Leaf {
                cn: None,
                orgs: &[role],
                key_usages: vec![KeyUsagePurpose::DigitalSignature],
                ttl,
                backdate: Duration::ZERO,
            },
        )
    }

    /// The `os:admin` client certificate talosctl puts in a talosconfig: one year.
    pub fn os_admin_certificate(&self) -> Result<ClientCertificate, SecretsError> {
        self.talos_client_certificate(OS_ADMIN_ROLE, CLIENT_CERT_VALIDITY)
    }

    /// A talosconfig with one context, `context`, and a freshly issued `os:admin`
    /// certificate.
    pub fn talosconfig(
        &self,
        context: &str,
        endpoints: &[String],
        nodes: &[String],
    ) -> Result<String, SecretsError> {
        let client = self.os_admin_certificate()?;
        self.talosconfig_for(context, endpoints, nodes, &client)
    }

    /// A talosconfig with one context holding `client` (`contexts.<name>.{endpoints, nodes,
    /// ca, crt, key}`, the last three base64 of PEM).
    pub fn talosconfig_for(
        &self,
        context: &str,
        endpoints: &[String],
        nodes: &[String],
        client: &ClientCertificate,
    ) -> Result<String, SecretsError> {
        let doc = TalosConfigDoc {
            context,
            contexts: BTreeMap::from([(
                context,
                TalosContextDoc {
                    endpoints: endpoints.to_vec(),
                    nodes: nodes.to_vec(),
                    ca: STANDARD.encode(&self.certs.os.crt),
                    crt: STANDARD.encode(&client.crt),
                    key: STANDARD.encode(&client.key),
                },
            )]),
        };
        serde_norway::to_string(&doc).map_err(|e| SecretsError::Format(e.to_string()))
    }

    /// The Kubernetes admin client certificate Talos puts in its kubeconfig: CN `admin`,
    /// Organization `system:masters`, signed by the Kubernetes CA, one year.
    pub fn kubernetes_admin_certificate(&self) -> Result<ClientCertificate, SecretsError> {
        issue(
            "certs.k8s",
            &self.certs.k8s,
            &Leaf {
                cn: Some("admin"),
                orgs: &["system:masters"],
                key_usages: vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::KeyEncipherment,
                ],
                ttl: CLIENT_CERT_VALIDITY,
                backdate: KUBE_CLIENT_BACKDATE,
            },
        )
    }

    /// The admin kubeconfig `talosctl kubeconfig` returns, built client-side: server
    /// `https://<endpoint>:6443`, a fresh admin certificate.
    pub fn kubeconfig(&self, cluster_name: &str, endpoint: &str) -> Result<String, SecretsError> {
        let client = self.kubernetes_admin_certificate()?;
        self.kubeconfig_for(cluster_name, &control_plane_url(endpoint), &client)
    }

    /// An admin kubeconfig for `server` (a URL) holding `client`.
    pub fn kubeconfig_for(
        &self,
        cluster_name: &str,
        server: &str,
        client: &ClientCertificate,
    ) -> Result<String, SecretsError> {
        let user = format!("admin@{cluster_name}");
        let doc = KubeconfigDoc {
            api_version: "v1",
            kind: "Config",
            clusters: vec![Named {
                name: cluster_name.to_string(),
                cluster: Some(KubeCluster {
                    server: server.to_string(),
                    certificate_authority_data: STANDARD.encode(&self.certs.k8s.crt),
                }),
                user: None,
                context: None,
            }],
            users: vec![Named {
                name: user.clone(),
                cluster: None,
                user: Some(KubeUser {
                    client_certificate_data: STANDARD.encode(&client.crt),
                    client_key_data: STANDARD.encode(&client.key),
                }),
                context: None,
            }],
            contexts: vec![Named {
                name: user.clone(),
                cluster: None,
                user: None,
                context: Some(KubeContext {
                    cluster: cluster_name.to_string(),
                    namespace: "default",
                    user: user.clone(),
                }),
            }],
            current_context: user,
        };
        serde_norway::to_string(&doc).map_err(|e| SecretsError::Format(e.to_string()))
    }
}

// ---------- serde shapes of the generated files ----------

#[derive(Serialize)]
struct TalosConfigDoc<'a> {
    context: &'a str,
    contexts: BTreeMap<&'a str, TalosContextDoc>,
}

#[derive(Serialize)]
struct TalosContextDoc {
    endpoints: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    nodes: Vec<String>,
    ca: String,
    crt: String,
    key: String,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct KubeconfigDoc {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    clusters: Vec<Named>,
    users: Vec<Named>,
    contexts: Vec<Named>,
    current_context: String,
}

#[derive(Serialize)]
struct Named {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<KubeCluster>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<KubeUser>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<KubeContext>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct KubeCluster {
    server: String,
    certificate_authority_data: String,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct KubeUser {
    client_certificate_data: String,
    client_key_data: String,
}

#[derive(Serialize)]
struct KubeContext {
    cluster: String,
    namespace: &'static str,
    user: String,
}

// ---------- keys, certificates, PEM ----------

/// The key types Talos uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyAlg {
    Ed25519,
    EcdsaP256,
}

impl KeyAlg {
    fn of(key: &KeyPair) -> Option<KeyAlg> {
        let alg = key.algorithm();
        if alg == &rcgen::PKCS_ED25519 {
            Some(KeyAlg::Ed25519)
        } else if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
            Some(KeyAlg::EcdsaP256)
        } else {
            None
        }
    }
}

/// A fresh key pair and its PEM in Talos' encoding.
struct NewKey {
    pair: KeyPair,
    pem: String,
}

fn key_err(what: &'static str) -> impl Fn(String) -> SecretsError {
    move |reason| SecretsError::Key { what, reason }
}

fn new_key(alg: KeyAlg) -> Result<NewKey, SecretsError> {
    let err = key_err("new key");
    match alg {
        KeyAlg::Ed25519 => {
            // PKCS#8 v1, as Go's x509.MarshalPKCS8PrivateKey writes it.
            let doc = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new())
                .map_err(|e| err(e.to_string()))?;
            let der = doc.as_ref().to_vec();
            let pair = KeyPair::try_from(der.as_slice()).map_err(|e| err(e.to_string()))?;
            Ok(NewKey {
                pair,
                pem: pem_encode(ED25519_PEM_LABEL, &der),
            })
        }
        KeyAlg::EcdsaP256 => {
            let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
                .map_err(|e| err(e.to_string()))?;
            let sec1 = ec.private_key().as_der().map_err(|e| err(e.to_string()))?;
            let der = sec1.as_ref().to_vec();
            let pair = KeyPair::from_der_and_sign_algo(
                &PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der.clone())),
                &rcgen::PKCS_ECDSA_P256_SHA256,
            )
            .map_err(|e| err(e.to_string()))?;
            Ok(NewKey {
                pair,
                pem: pem_encode(EC_PEM_LABEL, &der),
            })
        }
    }
}

/// Loads a private key from PEM: PKCS#8 (any label, including `ED25519 PRIVATE KEY`) or
/// SEC1.
fn load_key(what: &'static str, pem: &str) -> Result<KeyPair, SecretsError> {
    let (_, der) = pem_decode(pem).ok_or_else(|| SecretsError::Key {
        what,
        reason: "not PEM".into(),
    })?;
    KeyPair::try_from(der.as_slice()).map_err(|e| SecretsError::Key {
        what,
        reason: e.to_string(),
    })
}

fn random_bytes<const N: usize>() -> Result<[u8; N], SecretsError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|_| SecretsError::Random)?;
    Ok(b)
}

fn random_serial() -> Result<SerialNumber, SecretsError> {
    // 128 random bits, positive (siderolabs/crypto `NewSerialNumber`).
    let mut b = random_bytes::<16>()?;
    b[0] &= 0x7f;
    Ok(SerialNumber::from_slice(&b))
}

/// `n` characters of [`TOKEN_ALPHABET`], each equally likely.
fn token_part(n: usize) -> Result<String, SecretsError> {
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in random_bytes::<32>()? {
            // 256 = 7·36 + 4: bytes ≥ 252 would favour the first four characters.
            if b < 252 && out.len() < n {
                out.push(TOKEN_ALPHABET[usize::from(b) % TOKEN_ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}

/// A token `[a-z0-9]{6}.[a-z0-9]{16}` (`genToken(6, 16)`).
fn token() -> Result<String, SecretsError> {
    Ok(format!("{}.{}", token_part(6)?, token_part(16)?))
}

/// Whether `s` has the token format `[a-z0-9]{6}.[a-z0-9]{16}`.
pub fn is_token(s: &str) -> bool {
    let ok = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| TOKEN_ALPHABET.contains(&b));
    matches!(s.split_once('.'), Some((a, b)) if ok(a, 6) && ok(b, 16))
}

fn self_signed_ca(
    alg: KeyAlg,
    org: Option<&str>,
    now: OffsetDateTime,
) -> Result<CertAndKey, SecretsError> {
    let key = new_key(alg)?;
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    if let Some(o) = org {
        dn.push(DnType::OrganizationName, o);
    }
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.not_before = now;
    p.not_after = now + CA_VALIDITY;
    p.serial_number = Some(random_serial()?);
    let cert = p
        .self_signed(&key.pair)
        .map_err(|e| SecretsError::Certificate {
            what: "new ca",
            reason: e.to_string(),
        })?;
    Ok(CertAndKey {
        crt: pem_encode("CERTIFICATE", cert.der()),
        key: key.pem,
    })
}

/// What goes into a client certificate.
struct Leaf<'a> {
    cn: Option<&'a str>,
    orgs: &'a [&'a str],
    key_usages: Vec<KeyUsagePurpose>,
    ttl: Duration,
    backdate: Duration,
}

/// Issues a ClientAuth-only certificate from `ca`, with a key of the CA's type (as
/// siderolabs/crypto `NewKeyPair` does).
fn issue(
    what: &'static str,
    ca: &CertAndKey,
    leaf: &Leaf<'_>,
) -> Result<ClientCertificate, SecretsError> {
    let cert_err = |reason: String| SecretsError::Certificate { what, reason };
    let ca_key = load_key(what, &ca.key)?;
    let alg = KeyAlg::of(&ca_key).ok_or_else(|| SecretsError::Key {
        what,
        reason: "only Ed25519 and ECDSA P-256 CAs are supported".into(),
    })?;
    let (_, ca_der) = pem_decode(&ca.crt).ok_or_else(|| cert_err("not PEM".into()))?;
    let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(ca_der), ca_key)
        .map_err(|e| cert_err(e.to_string()))?;
    let key = new_key(alg)?;
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for o in leaf.orgs {
        dn.push(DnType::OrganizationName, *o);
    }
    if let Some(cn) = leaf.cn {
        dn.push(DnType::CommonName, cn);
    }
    p.distinguished_name = dn;
    p.is_ca = IsCa::NoCa;
    p.key_usages = leaf.key_usages.clone();
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p.use_authority_key_identifier_extension = true;
    let now = OffsetDateTime::now_utc();
    p.not_before = now - leaf.backdate;
    p.not_after = now + leaf.ttl;
    p.serial_number = Some(random_serial()?);
    let cert = p
        .signed_by(&key.pair, &issuer)
        .map_err(|e| cert_err(e.to_string()))?;
    Ok(ClientCertificate {
        crt: pem_encode("CERTIFICATE", cert.der()),
        key: key.pem,
    })
}

fn field(field: &'static str, reason: &str) -> SecretsError {
    SecretsError::Field {
        field,
        reason: reason.to_string(),
    }
}

fn check_token(name: &'static str, t: &str) -> Result<(), SecretsError> {
    if is_token(t) {
        Ok(())
    } else {
        Err(field(name, "must look like [a-z0-9]{6}.[a-z0-9]{16}"))
    }
}

fn check_b64_32(name: &'static str, s: &str) -> Result<(), SecretsError> {
    match STANDARD.decode(s) {
        Ok(b) if b.len() == 32 => Ok(()),
        Ok(b) => Err(field(
            name,
            &format!("must decode to 32 bytes, not {}", b.len()),
        )),
        Err(_) => Err(field(name, "must be standard base64")),
    }
}

/// Checks that `ca` is a CA certificate of type `alg` and that its key matches it.
fn check_ca(what: &'static str, ca: &CertAndKey, alg: KeyAlg) -> Result<(), SecretsError> {
    let cert_err = |reason: &str| SecretsError::Certificate {
        what,
        reason: reason.to_string(),
    };
    let (_, der) = pem_decode(&ca.crt).ok_or_else(|| cert_err("not PEM"))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|_| cert_err("not X.509"))?;
    if !cert.is_ca() {
        return Err(cert_err("not a CA certificate"));
    }
    let key = load_key(what, &ca.key)?;
    if KeyAlg::of(&key) != Some(alg) {
        return Err(SecretsError::Key {
            what,
            reason: match alg {
                KeyAlg::Ed25519 => "must be an Ed25519 key".into(),
                KeyAlg::EcdsaP256 => "must be an ECDSA P-256 key".into(),
            },
        });
    }
    if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        return Err(SecretsError::Key {
            what,
            reason: "does not belong to the certificate".into(),
        });
    }
    Ok(())
}

/// `sha256:<hex>` of a PEM certificate's DER, or `<unreadable>`.
fn fingerprint(pem: &str) -> String {
    match pem_decode(pem) {
        Some((_, der)) => {
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
            let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            format!("sha256:{hex}")
        }
        None => "<unreadable>".to_string(),
    }
}

/// PEM with 64-character lines and a trailing newline, as Go's `pem.Encode`.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// The label and DER body of the first PEM block in `pem`.
pub(crate) fn pem_decode(pem: &str) -> Option<(String, Vec<u8>)> {
    let start = pem.find("-----BEGIN ")?;
    let rest = &pem[start + "-----BEGIN ".len()..];
    let (label, rest) = rest.split_once("-----")?;
    let end = rest.find(&format!("-----END {label}-----"))?;
    let body: String = rest[..end].chars().filter(|c| !c.is_whitespace()).collect();
    let der = STANDARD.decode(body).ok()?;
    Some((label.to_string(), der))
}

/// serde for PEM text kept as base64 of the PEM (Talos' `crt`/`key` fields).
mod b64_pem {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(pem: &str, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(pem))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let b64 = String::deserialize(d)?;
        let bytes = STANDARD
            .decode(b64.trim())
            .map_err(|_| serde::de::Error::custom("not base64"))?;
        String::from_utf8(bytes).map_err(|_| serde::de::Error::custom("not PEM text"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::certificate::X509Certificate;
    use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_SIG_ED25519};

    fn der_of(pem: &str) -> Vec<u8> {
        pem_decode(pem).expect("pem").1
    }

    fn with_cert<T>(pem: &str, f: impl FnOnce(&X509Certificate<'_>) -> T) -> T {
        let der = der_of(pem);
        let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("x509");
        f(&cert)
    }

    fn orgs(cert: &X509Certificate<'_>) -> Vec<String> {
        cert.subject()
            .iter_organization()
            .map(|o| o.as_str().expect("utf8").to_string())
            .collect()
    }

    fn cn(cert: &X509Certificate<'_>) -> Option<String> {
        cert.subject()
            .iter_common_name()
            .next()
            .map(|c| c.as_str().expect("utf8").to_string())
    }

    fn validity_days(cert: &X509Certificate<'_>) -> i64 {
        let v = cert.validity();
        (v.not_after.timestamp() - v.not_before.timestamp()) / 86_400
    }

    fn is_ed25519(cert: &X509Certificate<'_>) -> bool {
        cert.public_key().algorithm.algorithm == OID_SIG_ED25519
    }

    fn is_p256(cert: &X509Certificate<'_>) -> bool {
        let alg = &cert.public_key().algorithm;
        alg.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY
            && alg
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .is_some_and(|o| o == OID_EC_P256)
    }

    /// Verifies `leaf`'s signature with `ca`'s public key.
    fn signed_by(leaf_pem: &str, ca_pem: &str) -> bool {
        let ca_der = der_of(ca_pem);
        let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).expect("ca");
        with_cert(leaf_pem, |leaf| {
            leaf.issuer() == ca.subject() && leaf.verify_signature(Some(ca.public_key())).is_ok()
        })
    }

    #[test]
    fn the_os_ca_is_ed25519_with_talos_pem_label_and_the_others_are_ecdsa_p256() {
        let s = MachineSecrets::generate().expect("generate");
        let os_label = pem_decode(&s.certs.os.key).expect("pem").0;
        assert_eq!(os_label, ED25519_PEM_LABEL);
        // The body is PKCS#8 v1 as Go writes it: 48 bytes, no public key.
        assert_eq!(der_of(&s.certs.os.key).len(), 48);
        let cases: [(&str, &CertAndKey, bool, Vec<&str>); 4] = [
            ("os", &s.certs.os, true, vec!["talos"]),
            ("etcd", &s.certs.etcd, false, vec!["etcd"]),
            ("k8s", &s.certs.k8s, false, vec!["kubernetes"]),
            ("k8saggregator", &s.certs.k8s_aggregator, false, vec![]),
        ];
        for (name, ca, ed25519, want_orgs) in cases {
            with_cert(&ca.crt, |c| {
                assert_eq!(is_ed25519(c), ed25519, "{name}: ed25519");
                assert_eq!(is_p256(c), !ed25519, "{name}: p-256");
                assert!(c.is_ca(), "{name}: is a CA");
                assert_eq!(orgs(c), want_orgs, "{name}: organizations");
                assert_eq!(cn(c), None, "{name}: no common name");
                assert_eq!(validity_days(c), 3650, "{name}: ten years");
                let eku = c.extended_key_usage().expect("eku").expect("present").value;
                assert!(eku.server_auth && eku.client_auth, "{name}: eku");
                let ku = c.key_usage().expect("ku").expect("present").value;
                assert!(ku.key_cert_sign() && ku.digital_signature(), "{name}: ku");
            });
            if !ed25519 {
                assert_eq!(pem_decode(&ca.key).expect("pem").0, EC_PEM_LABEL, "{name}");
            }
        }
        assert_eq!(
            pem_decode(&s.certs.k8s_service_account.key).expect("pem").0,
            EC_PEM_LABEL
        );
        s.validate().expect("a generated bundle validates");
    }

    #[test]
    fn tokens_and_random_secrets_have_talos_formats() {
        let s = MachineSecrets::generate().expect("generate");
        let cases = [
            ("bootstrap token", s.secrets.bootstrap_token.as_str(), true),
            ("trustd token", s.trustd_info.token.as_str(), true),
            ("too short", "abc.0123456789abcdef", false),
            ("upper case", "ABCDEF.0123456789abcdef", false),
            ("no dot", "abcdef0123456789abcdef", false),
        ];
        for (name, t, want) in cases {
            assert_eq!(is_token(t), want, "{name}: {t}");
        }
        for (name, b64) in [
            ("cluster id", &s.cluster.id),
            ("cluster secret", &s.cluster.secret),
            (
                "secretbox",
                s.secrets
                    .secretbox_encryption_secret
                    .as_ref()
                    .expect("secretbox"),
            ),
        ] {
            assert_eq!(STANDARD.decode(b64).expect(name).len(), 32, "{name}");
        }
        assert_ne!(
            s.secrets.bootstrap_token, s.trustd_info.token,
            "independent tokens"
        );
    }

    #[test]
    fn the_admin_certificate_is_os_admin_client_auth_only_and_signed_by_the_os_ca() {
        let s = MachineSecrets::generate().expect("generate");
        let admin = s.os_admin_certificate().expect("admin");
        assert_eq!(pem_decode(&admin.key).expect("pem").0, ED25519_PEM_LABEL);
        with_cert(&admin.crt, |c| {
            assert_eq!(orgs(c), vec![OS_ADMIN_ROLE]);
            assert!(is_ed25519(c));
            assert!(!c.is_ca());
            let eku = c.extended_key_usage().expect("eku").expect("present").value;
            assert!(eku.client_auth, "ClientAuth");
            assert!(
                !eku.server_auth
                    && !eku.any
                    && !eku.code_signing
                    && !eku.email_protection
                    && !eku.time_stamping
                    && !eku.ocsp_signing
                    && eku.other.is_empty(),
                "ClientAuth only: {eku:?}"
            );
            assert_eq!(validity_days(c), 365, "one year");
        });
        assert!(
            signed_by(&admin.crt, &s.certs.os.crt),
            "signed by the OS CA"
        );
        assert!(
            !signed_by(&admin.crt, &s.certs.k8s.crt),
            "not by the Kubernetes CA"
        );
    }

    #[test]
    fn the_kubernetes_admin_certificate_is_system_masters_from_the_kubernetes_ca() {
        let s = MachineSecrets::generate().expect("generate");
        let admin = s.kubernetes_admin_certificate().expect("admin");
        with_cert(&admin.crt, |c| {
            assert_eq!(orgs(c), vec!["system:masters"]);
            assert_eq!(cn(c).as_deref(), Some("admin"));
            assert!(is_p256(c));
            let eku = c.extended_key_usage().expect("eku").expect("present").value;
            assert!(eku.client_auth && !eku.server_auth);
            assert!(
                c.validity().not_before.timestamp() < OffsetDateTime::now_utc().unix_timestamp()
            );
        });
        assert!(signed_by(&admin.crt, &s.certs.k8s.crt));
    }

    #[test]
    fn talosconfig_holds_the_os_ca_and_an_admin_client_as_base64_pem() {
        let s = MachineSecrets::generate().expect("generate");
        let eps = vec!["10.0.0.2".to_string()];
        let yaml = s.talosconfig("lab", &eps, &eps).expect("talosconfig");
        let v: serde_json::Value = serde_norway::from_str(&yaml).expect("yaml");
        assert_eq!(v["context"], "lab");
        let ctx = &v["contexts"]["lab"];
        assert_eq!(ctx["endpoints"], serde_json::json!(["10.0.0.2"]));
        assert_eq!(ctx["nodes"], serde_json::json!(["10.0.0.2"]));
        let unb64 = |k: &str| {
            String::from_utf8(STANDARD.decode(ctx[k].as_str().expect(k)).expect(k)).expect(k)
        };
        assert_eq!(unb64("ca"), s.certs.os.crt);
        assert!(signed_by(&unb64("crt"), &s.certs.os.crt));
        assert!(unb64("key").starts_with("-----BEGIN ED25519 PRIVATE KEY-----"));
    }

    #[test]
    fn kubeconfig_points_at_the_endpoint_with_the_kubernetes_ca() {
        let s = MachineSecrets::generate().expect("generate");
        let cases = [
            ("ipv4", "10.0.0.10", "https://10.0.0.10:6443"),
            (
                "dns name",
                "k8s.example.org",
                "https://k8s.example.org:6443",
            ),
            ("ipv6", "fd00::10", "https://[fd00::10]:6443"),
        ];
        for (name, endpoint, server) in cases {
            let yaml = s.kubeconfig("home", endpoint).expect("kubeconfig");
            let v: serde_json::Value = serde_norway::from_str(&yaml).expect("yaml");
            assert_eq!(v["current-context"], "admin@home", "{name}");
            assert_eq!(v["clusters"][0]["name"], "home", "{name}");
            let c = &v["clusters"][0]["cluster"];
            assert_eq!(c["server"], server, "{name}");
            let ca = STANDARD
                .decode(c["certificate-authority-data"].as_str().expect("ca"))
                .expect("b64");
            assert_eq!(ca, s.certs.k8s.crt.as_bytes(), "{name}");
            let u = &v["users"][0]["user"];
            let crt = STANDARD
                .decode(u["client-certificate-data"].as_str().expect("crt"))
                .expect("b64");
            assert!(signed_by(
                &String::from_utf8(crt).expect("utf8"),
                &s.certs.k8s.crt
            ));
            assert!(u["client-key-data"].is_string(), "{name}");
            assert_eq!(v["contexts"][0]["context"]["user"], "admin@home", "{name}");
        }
    }

    #[test]
    fn debug_shows_fingerprints_and_no_secret() {
        let s = MachineSecrets::generate().expect("generate");
        let admin = s.os_admin_certificate().expect("admin");
        let printed = format!("{s:?} {:?} {admin:?} {:#?}", s.certs, s);
        let secrets: Vec<(&str, String)> = vec![
            ("cluster id", s.cluster.id.clone()),
            ("cluster secret", s.cluster.secret.clone()),
            ("bootstrap token", s.secrets.bootstrap_token.clone()),
            (
                "secretbox",
                s.secrets
                    .secretbox_encryption_secret
                    .clone()
                    .expect("secretbox"),
            ),
            ("trustd token", s.trustd_info.token.clone()),
            ("os key", s.certs.os.key.clone()),
            ("etcd key", s.certs.etcd.key.clone()),
            ("k8s key", s.certs.k8s.key.clone()),
            ("aggregator key", s.certs.k8s_aggregator.key.clone()),
            ("sa key", s.certs.k8s_service_account.key.clone()),
            ("admin key", admin.key.clone()),
        ];
        for (name, secret) in secrets {
            // Neither the value nor any PEM body line of it.
            assert!(!printed.contains(&secret), "{name} printed");
            for line in secret.lines().filter(|l| !l.starts_with("-----")) {
                assert!(!printed.contains(line), "{name} line printed");
            }
            assert!(!printed.contains(&STANDARD.encode(&secret)), "{name} b64");
        }
        assert!(printed.contains("os_ca: \"sha256:"), "{printed}");
        assert!(printed.contains("<redacted>"));
    }

    #[test]
    fn the_bundle_round_trips_through_talosctl_yaml_and_json() {
        let s = MachineSecrets::generate().expect("generate");
        let yaml = s.to_yaml().expect("yaml");
        let v: serde_json::Value = serde_norway::from_str(&yaml).expect("parse");
        for path in [
            "/cluster/id",
            "/cluster/secret",
            "/secrets/bootstraptoken",
            "/secrets/secretboxencryptionsecret",
            "/trustdinfo/token",
            "/certs/etcd/crt",
            "/certs/k8s/key",
            "/certs/k8saggregator/crt",
            "/certs/k8sserviceaccount/key",
            "/certs/os/key",
        ] {
            assert!(v.pointer(path).is_some_and(|x| x.is_string()), "{path}");
        }
        assert!(v.pointer("/secrets/aescbcencryptionsecret").is_none());
        let os_key = STANDARD
            .decode(v["certs"]["os"]["key"].as_str().expect("key"))
            .expect("b64");
        assert!(os_key.starts_with(b"-----BEGIN ED25519 PRIVATE KEY-----"));
        assert_eq!(MachineSecrets::from_yaml(&yaml).expect("read back"), s);
        let json = serde_json::to_string(&s).expect("json");
        let back: MachineSecrets = serde_json::from_str(&json).expect("json back");
        assert_eq!(back, s);
    }

    #[test]
    fn validation_refuses_broken_bundles() {
        let good = MachineSecrets::generate().expect("generate");
        let other = MachineSecrets::generate().expect("generate");
        type Edit = Box<dyn Fn(&mut MachineSecrets)>;
        let cases: Vec<(&str, Edit, &str)> = vec![
            ("empty id", Box::new(|s| s.cluster.id.clear()), "cluster.id"),
            (
                "short secret",
                Box::new(|s| s.cluster.secret = STANDARD.encode([0u8; 16])),
                "cluster.secret",
            ),
            (
                "bad token",
                Box::new(|s| s.trustd_info.token = "nope".into()),
                "trustdinfo.token",
            ),
            (
                "two encryption secrets",
                Box::new(|s| s.secrets.aescbc_encryption_secret = Some(STANDARD.encode([1u8; 32]))),
                "only one",
            ),
            (
                "os ca with an ecdsa key",
                Box::new(|s| s.certs.os = s.certs.k8s.clone()),
                "Ed25519",
            ),
            (
                "key of another ca",
                Box::new(move |s| s.certs.k8s.key = other.certs.k8s.key.clone()),
                "does not belong",
            ),
            (
                "ed25519 service-account key",
                Box::new(|s| s.certs.k8s_service_account.key = s.certs.os.key.clone()),
                "P-256",
            ),
        ];
        for (name, edit, want) in cases {
            let mut s = good.clone();
            edit(&mut s);
            let err = s.validate().expect_err(name).to_string();
            assert!(err.contains(want), "{name}: {err}");
        }
    }

    #[test]
    fn a_talosctl_secrets_file_is_read_with_its_own_keys() {
        // A bundle written by talosctl carries Go's encodings; reading ours back through the
        // same path and issuing from it proves the PKCS#8 v1 and SEC1 forms load.
        let s = MachineSecrets::generate().expect("generate");
        let read = MachineSecrets::from_yaml(&s.to_yaml().expect("yaml")).expect("read");
        let admin = read.os_admin_certificate().expect("issue from read bundle");
        assert!(signed_by(&admin.crt, &s.certs.os.crt));
        let err = MachineSecrets::from_yaml("cluster: {}\n").expect_err("incomplete");
        assert!(matches!(err, SecretsError::Format(_)), "{err:?}");
    }
}
