//! The Kubernetes API client: reqwest over rustls (aws-lc-rs), configured from a kubeconfig,
//! with the few typed reads the platform layers wait on: the API's version, the nodes and
//! their Ready condition, and whether a namespace or a Deployment (Flux's controllers in
//! `flux-system`) exists; and one write, deleting the Node object of a node taken out.
//!
//! - Credentials come from the kubeconfig's current context: `server`,
//!   `certificate-authority-data`, `client-certificate-data` and `client-key-data`
//!   (<https://kubernetes.io/docs/reference/config-api/kubeconfig.v1/>). TLS trusts that CA and
//!   nothing else (no system store, no `insecure-skip-tls-verify`) and presents that client
//!   certificate; a kubeconfig from `talosctl kubeconfig` has exactly these fields.
//! - Every call takes a [`Call`]: Terraform's Stop and a timeout. A cancelled call returns
//!   [`Error::Cancelled`] at once and drops its connection.
//! - Failures are classified once, here: a refusal by its HTTP status and the `Status`
//!   object's `reason`
//!   (<https://github.com/kubernetes/apimachinery/blob/master/pkg/api/errors/errors.go>);
//!   transport failures by the error chain, as the Talos and Proxmox VE clients do.
//!
//! Must not import: the framework, resources, or the lab.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::AlertDescription;
use serde::Deserialize;

pub use super::Call;
use super::ErrorKind;

/// How much of an undecodable body an error quotes.
const BODY_EXCERPT: usize = 200;

/// A failed Kubernetes API call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig or the client's settings cannot work.
    #[error("invalid kubernetes api settings: {0}")]
    Config(String),
    /// The connection failed, or the answer was cut off.
    #[error("cannot reach the kubernetes api at {server}: {detail}")]
    Connect {
        /// The API server URL.
        server: String,
        /// What the transport said, its causes joined.
        detail: String,
    },
    /// The API server's certificate is not signed by the kubeconfig's CA, or not for its
    /// address.
    #[error(
        "the kubernetes api at {server} presented a certificate the kubeconfig's CA does not \
         vouch for ({detail}): the kubeconfig belongs to another cluster, or the cluster's CA \
         changed; fetch a fresh kubeconfig"
    )]
    ServerCertificate {
        /// The API server URL.
        server: String,
        /// rustls's reason.
        detail: String,
    },
    /// The API server refused the client certificate during the TLS handshake.
    #[error(
        "the kubernetes api at {server} refused the client certificate ({detail}): it is \
         another cluster's, or expired; fetch a fresh kubeconfig"
    )]
    ClientCertificateRefused {
        /// The API server URL.
        server: String,
        /// The alert the server sent.
        detail: String,
    },
    /// TLS failed for another reason.
    #[error("tls with the kubernetes api at {server} failed: {detail}")]
    Tls {
        /// The API server URL.
        server: String,
        /// rustls's reason.
        detail: String,
    },
    /// The call did not finish in time.
    #[error("{what}: no answer within {after:?}")]
    Timeout {
        /// The call, e.g. `GET /api/v1/nodes`.
        what: String,
        /// The time allowed.
        after: Duration,
    },
    /// The caller asked to stop (Terraform's Stop).
    #[error("{what}: cancelled")]
    Cancelled {
        /// The call that was abandoned.
        what: String,
    },
    /// The API server answered with an error status.
    #[error("{what}: {message} (HTTP {status}{})", reason_suffix(.reason))]
    Api {
        /// The call.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The `Status` object's `reason` (`NotFound`, `Forbidden`, …), empty when none.
        reason: String,
        /// The `Status` object's `message`, or the status line.
        message: String,
    },
    /// The answer does not have the shape the API gives it.
    #[error("{what}: unexpected answer: {detail}")]
    Decode {
        /// The call.
        what: String,
        /// What did not fit, and a prefix of the body.
        detail: String,
    },
}

impl Error {
    /// What kind of failure this is, for retries and drift detection.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_)
            | Error::ServerCertificate { .. }
            | Error::ClientCertificateRefused { .. }
            | Error::Tls { .. }
            | Error::Decode { .. } => ErrorKind::Fatal,
            Error::Connect { .. } | Error::Timeout { .. } => ErrorKind::Transient,
            Error::Cancelled { .. } => ErrorKind::Cancelled,
            Error::Api { status, reason, .. } => classify(*status, reason),
        }
    }

    /// The HTTP status, when the API server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(", {reason}")
    }
}

/// Sorts a refusal by HTTP status and `Status.reason` (apimachinery `errors.go`: 404
/// NotFound, 409 AlreadyExists or Conflict, 429 TooManyRequests, 500 InternalError, 503
/// ServiceUnavailable, 504 Timeout / ServerTimeout).
fn classify(status: u16, reason: &str) -> ErrorKind {
    match (status, reason) {
        (404, _) => ErrorKind::NotFound,
        (409, "AlreadyExists") => ErrorKind::AlreadyExists,
        // A write lost a resourceVersion race: read again and retry.
        (409, _) => ErrorKind::Transient,
        (429, _) | (500..=504, _) => ErrorKind::Transient,
        _ => ErrorKind::Fatal,
    }
}

/// The alerts a TLS server sends when it does not accept the client's certificate
/// (RFC 8446 §6.2).
fn refuses_client_certificate(a: AlertDescription) -> bool {
    matches!(
        a,
        AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied
            | AlertDescription::CertificateRequired
            | AlertDescription::DecryptError
            | AlertDescription::HandshakeFailure
    )
}

/// An error and each of its causes, outermost first, stepping into the error an
/// `io::Error` wraps (its `source` skips it).
fn causes<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(err), |e| {
        e.downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|i| i as &(dyn std::error::Error + 'static))
            .or_else(|| e.source())
    })
}

/// An error and its causes, joined, without repeats.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for err in causes(e) {
        let text = err.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// The parts of a kubeconfig the client uses: one context's server and credentials.
#[derive(Clone, PartialEq)]
pub struct Kubeconfig {
    /// The context used.
    pub context: String,
    /// The API server, `https://HOST:PORT`.
    pub server: String,
    /// The cluster CA, PEM (`certificate-authority-data`, decoded).
    pub ca_pem: String,
    /// The client certificate, PEM (`client-certificate-data`, decoded).
    pub client_certificate_pem: String,
    /// The client key, PEM (`client-key-data`, decoded). Never printed.
    pub client_key_pem: String,
}

impl fmt::Debug for Kubeconfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kubeconfig")
            .field("context", &self.context)
            .field("server", &self.server)
            .field("client_key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default, rename = "current-context")]
    current_context: Option<String>,
    #[serde(default)]
    clusters: Vec<Named<RawCluster>>,
    #[serde(default)]
    users: Vec<Named<RawUser>>,
    #[serde(default)]
    contexts: Vec<Named<RawContext>>,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    item: T,
}

#[derive(Deserialize, Default)]
struct RawCluster {
    #[serde(default)]
    server: String,
    #[serde(default, rename = "certificate-authority-data")]
    ca_data: Option<String>,
    #[serde(default, rename = "certificate-authority")]
    ca_file: Option<String>,
    #[serde(default, rename = "insecure-skip-tls-verify")]
    insecure: bool,
}

#[derive(Deserialize, Default)]
struct RawUser {
    #[serde(default, rename = "client-certificate-data")]
    cert_data: Option<String>,
    #[serde(default, rename = "client-key-data")]
    key_data: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawContext {
    #[serde(default)]
    cluster: String,
    #[serde(default)]
    user: String,
}

impl Kubeconfig {
    /// Reads context `context` (the file's `current-context` when `None`) of a kubeconfig.
    pub fn parse(yaml: &str, context: Option<&str>) -> Result<Kubeconfig, Error> {
        let cfg = |m: String| Error::Config(m);
        let raw: RawConfig = serde_norway::from_str(yaml)
            .map_err(|e| cfg(format!("the kubeconfig is not valid YAML: {e}")))?;
        let name = context
            .map(str::to_string)
            .or(raw.current_context)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| cfg("the kubeconfig names no current-context".into()))?;
        let missing = |list: &str, wanted: &str| {
            cfg(format!(
                "the kubeconfig has no {list} entry named '{wanted}'"
            ))
        };
        let ctx = &raw
            .contexts
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| missing("contexts", &name))?
            .item;
        let cluster = &raw
            .clusters
            .iter()
            .find(|c| c.name == ctx.cluster)
            .ok_or_else(|| missing("clusters", &ctx.cluster))?
            .item;
        let user = &raw
            .users
            .iter()
            .find(|u| u.name == ctx.user)
            .ok_or_else(|| missing("users", &ctx.user))?
            .item;
        if cluster.insecure {
            return Err(cfg(format!(
                "cluster '{}' sets insecure-skip-tls-verify; this client always verifies the \
                 API server against the kubeconfig's CA",
                ctx.cluster
            )));
        }
        let server = cluster.server.trim().trim_end_matches('/').to_string();
        if !server.starts_with("https://") || server.len() <= "https://".len() {
            return Err(cfg(format!(
                "cluster '{}' has server '{}'; an https:// URL is needed",
                ctx.cluster, cluster.server
            )));
        }
        let data = |field: &str, value: &Option<String>, hint: &str| -> Result<String, Error> {
            let v = value
                .as_deref()
                .map(|v| v.chars().filter(|c| !c.is_whitespace()).collect::<String>())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| cfg(format!("context '{name}' has no {field}{hint}")))?;
            base64::engine::general_purpose::STANDARD
                .decode(v)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| cfg(format!("context '{name}': {field} is not base64 of PEM")))
        };
        let ca_hint = if cluster.ca_file.is_some() {
            " (a certificate-authority file is not read: embed it as data)"
        } else {
            ""
        };
        Ok(Kubeconfig {
            context: name.clone(),
            server,
            ca_pem: data("certificate-authority-data", &cluster.ca_data, ca_hint)?,
            client_certificate_pem: data("client-certificate-data", &user.cert_data, "")?,
            client_key_pem: data("client-key-data", &user.key_data, "")?,
        })
    }
}

/// `/version`: the API server's build.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct KubeVersion {
    /// e.g. `1`.
    #[serde(default)]
    pub major: String,
    /// e.g. `36`.
    #[serde(default)]
    pub minor: String,
    /// e.g. `v1.36.3`.
    #[serde(default, rename = "gitVersion")]
    pub git_version: String,
    /// e.g. `linux/arm64`.
    #[serde(default)]
    pub platform: String,
}

/// One address of a node (`status.addresses[]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NodeAddress {
    /// `InternalIP`, `ExternalIP`, `Hostname`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The address.
    pub address: String,
}

/// A node and its Ready condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// `metadata.name`.
    pub name: String,
    /// The Ready condition's status is `True`.
    pub ready: bool,
    /// The Ready condition's reason (`KubeletReady`, `KubeletNotReady`); empty when the node
    /// has no Ready condition yet.
    pub ready_reason: String,
    /// The Ready condition's message (why a node is NotReady, e.g. no CNI yet).
    pub ready_message: String,
    /// `status.nodeInfo.kubeletVersion`, e.g. `v1.36.3`.
    pub kubelet_version: String,
    /// `status.addresses`.
    pub addresses: Vec<NodeAddress>,
}

/// A namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct Namespace {
    /// `metadata.name`.
    pub name: String,
    /// `status.phase`: `Active` or `Terminating`.
    pub phase: String,
}

/// A Deployment and its rollout counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `spec.replicas` (1 when unset, the API's default).
    pub replicas: i32,
    /// `status.readyReplicas`.
    pub ready_replicas: i32,
    /// `status.availableReplicas`.
    pub available_replicas: i32,
    /// `status.updatedReplicas`.
    pub updated_replicas: i32,
}

impl Deployment {
    /// Every wanted replica is updated and available.
    pub fn is_available(&self) -> bool {
        self.available_replicas >= self.replicas && self.updated_replicas >= self.replicas
    }
}

#[derive(Deserialize, Default)]
struct Meta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
}

#[derive(Deserialize)]
struct List<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
}

#[derive(Deserialize)]
struct RawNode {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    status: RawNodeStatus,
}

#[derive(Deserialize, Default)]
struct RawNodeStatus {
    #[serde(default)]
    conditions: Vec<RawCondition>,
    #[serde(default)]
    addresses: Vec<NodeAddress>,
    #[serde(default, rename = "nodeInfo")]
    node_info: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct RawCondition {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    message: String,
}

impl From<RawNode> for Node {
    fn from(n: RawNode) -> Node {
        let ready = n.status.conditions.iter().find(|c| c.kind == "Ready");
        Node {
            name: n.metadata.name,
            ready: ready.is_some_and(|c| c.status == "True"),
            ready_reason: ready.map(|c| c.reason.clone()).unwrap_or_default(),
            ready_message: ready.map(|c| c.message.clone()).unwrap_or_default(),
            kubelet_version: n
                .status
                .node_info
                .get("kubeletVersion")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_string(),
            addresses: n.status.addresses,
        }
    }
}

#[derive(Deserialize)]
struct RawNamespace {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    status: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct RawDeployment {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    spec: RawDeploymentSpec,
    #[serde(default)]
    status: RawDeploymentStatus,
}

#[derive(Deserialize, Default)]
struct RawDeploymentSpec {
    #[serde(default)]
    replicas: Option<i32>,
}

#[derive(Deserialize, Default)]
struct RawDeploymentStatus {
    #[serde(default, rename = "readyReplicas")]
    ready: i32,
    #[serde(default, rename = "availableReplicas")]
    available: i32,
    #[serde(default, rename = "updatedReplicas")]
    updated: i32,
}

/// A Kubernetes API client for one cluster.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// `https://HOST:PORT`, no trailing slash.
    server: String,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.server)
            .finish()
    }
}

impl Client {
    /// A client for the kubeconfig's current context (YAML text).
    pub fn from_kubeconfig(yaml: &str) -> Result<Client, Error> {
        Client::new(&Kubeconfig::parse(yaml, None)?)
    }

    /// A client for one context of a kubeconfig.
    pub fn new(config: &Kubeconfig) -> Result<Client, Error> {
        let tls = tls_config(config).map_err(Error::Config)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(true)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(format!("http client: {}", chain(&e))))?;
        Ok(Client {
            http,
            server: config.server.clone(),
        })
    }

    /// The API server URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// `GET /version`.
    pub async fn version(&self, call: &Call) -> Result<KubeVersion, Error> {
        self.get("/version", call).await
    }

    /// `GET /api/v1/nodes`: every node with its Ready condition.
    pub async fn nodes(&self, call: &Call) -> Result<Vec<Node>, Error> {
        let list: List<RawNode> = self.get("/api/v1/nodes", call).await?;
        Ok(list.items.into_iter().map(Node::from).collect())
    }

    /// `GET /api/v1/namespaces/{name}`; `None` when there is none.
    pub async fn namespace(&self, name: &str, call: &Call) -> Result<Option<Namespace>, Error> {
        let path = format!("/api/v1/namespaces/{}", seg(name));
        let ns: Option<RawNamespace> = optional(self.get(&path, call).await)?;
        Ok(ns.map(|n| Namespace {
            name: n.metadata.name,
            phase: n
                .status
                .get("phase")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_string(),
        }))
    }

    /// `GET /apis/apps/v1/namespaces/{namespace}/deployments/{name}`; `None` when there is
    /// none (the namespace missing included).
    pub async fn deployment(
        &self,
        namespace: &str,
        name: &str,
        call: &Call,
    ) -> Result<Option<Deployment>, Error> {
        let path = format!(
            "/apis/apps/v1/namespaces/{}/deployments/{}",
            seg(namespace),
            seg(name)
        );
        let d: Option<RawDeployment> = optional(self.get(&path, call).await)?;
        Ok(d.map(|d| Deployment {
            namespace: d.metadata.namespace,
            name: d.metadata.name,
            replicas: d.spec.replicas.unwrap_or(1),
            ready_replicas: d.status.ready,
            available_replicas: d.status.available,
            updated_replicas: d.status.updated,
        }))
    }

    /// `DELETE /api/v1/nodes/{name}`: removes a Node object, as `kubectl delete node` does.
    /// `false` when there was none (404 counts as done).
    pub async fn delete_node(&self, name: &str, call: &Call) -> Result<bool, Error> {
        let path = format!("/api/v1/nodes/{}", seg(name));
        let deleted: Option<serde_json::Value> =
            optional(self.send(reqwest::Method::DELETE, &path, call).await)?;
        Ok(deleted.is_some())
    }

    /// One `GET`, bounded by the call's timeout and stopped by its token; the body decoded
    /// as `T`.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        call: &Call,
    ) -> Result<T, Error> {
        self.send(reqwest::Method::GET, path, call).await
    }

    /// One request without a body, bounded by the call's timeout and stopped by its token;
    /// the answer decoded as `T`.
    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        call: &Call,
    ) -> Result<T, Error> {
        let what = format!("{method} {path}");
        let url = format!("{}{path}", self.server);
        let req = self
            .http
            .request(method, &url)
            .header(reqwest::header::ACCEPT, "application/json");
        tracing::debug!(call = %what, "kubernetes api call");
        let exchange = async {
            let resp = req.send().await.map_err(|e| self.transport_error(&e))?;
            let status = resp.status();
            let bytes = resp.bytes().await.map_err(|e| self.transport_error(&e))?;
            Ok::<_, Error>((status, bytes))
        };
        let (status, bytes) = tokio::select! {
            biased;
            _ = call.cancel.cancelled() => return Err(Error::Cancelled { what }),
            r = tokio::time::timeout(call.timeout, exchange) => match r {
                Ok(r) => r?,
                Err(_) => return Err(Error::Timeout { what, after: call.timeout }),
            },
        };
        if !status.is_success() {
            return Err(api_error(what, status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::Decode {
            what,
            detail: format!("{e}; the answer began: {}", excerpt(&bytes)),
        })
    }

    fn transport_error(&self, e: &reqwest::Error) -> Error {
        let server = self.server.clone();
        for cause in causes(e) {
            if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
                let detail = tls.to_string();
                return match tls {
                    rustls::Error::InvalidCertificate(_) => {
                        Error::ServerCertificate { server, detail }
                    }
                    rustls::Error::AlertReceived(a) if refuses_client_certificate(*a) => {
                        Error::ClientCertificateRefused { server, detail }
                    }
                    _ => Error::Tls { server, detail },
                };
            }
        }
        Error::Connect {
            server,
            detail: chain(e),
        }
    }
}

/// `Ok(None)` for a NotFound answer.
fn optional<T>(r: Result<T, Error>) -> Result<Option<T>, Error> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The error for a non-2xx answer, from its `Status` object when it has one.
fn api_error(what: String, status: reqwest::StatusCode, body: &[u8]) -> Error {
    #[derive(Deserialize, Default)]
    struct Status {
        #[serde(default)]
        message: String,
        #[serde(default)]
        reason: String,
    }
    let parsed: Status = serde_json::from_slice(body).unwrap_or_default();
    let message = if !parsed.message.trim().is_empty() {
        parsed.message.trim().to_string()
    } else if !body.is_empty() {
        excerpt(body)
    } else {
        status
            .canonical_reason()
            .unwrap_or("no message")
            .to_string()
    };
    Error::Api {
        what,
        status: status.as_u16(),
        reason: parsed.reason,
        message,
    }
}

fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .take(BODY_EXCERPT)
        .collect()
}

/// Percent-encodes one path segment (names are DNS labels; this keeps odd input harmless).
fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// rustls on aws-lc-rs: the kubeconfig's CA as the only root, its client certificate and
/// key as our identity, HTTP/1.1.
fn tls_config(config: &Kubeconfig) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let cas = CertificateDer::pem_slice_iter(config.ca_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate-authority-data is not PEM: {e}"))?;
    if cas.is_empty() {
        return Err("certificate-authority-data holds no certificate".into());
    }
    for ca in cas {
        roots
            .add(ca)
            .map_err(|e| format!("the cluster CA cannot be used: {e}"))?;
    }
    let chain = CertificateDer::pem_slice_iter(config.client_certificate_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("client-certificate-data is not PEM: {e}"))?;
    if chain.is_empty() {
        return Err("client-certificate-data holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(config.client_key_pem.as_bytes())
        .map_err(|e| format!("client-key-data is not a PEM private key: {e}"))?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("the client certificate and key do not fit together: {e}"))?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn kubeconfig(cluster_extra: &str, server: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: admin@lab\nclusters:\n- name: lab\n  \
             cluster:\n    server: {server}\n    certificate-authority-data: {}\n{cluster_extra}\
             contexts:\n- name: admin@lab\n  context:\n    cluster: lab\n    user: admin@lab\n    \
             namespace: default\nusers:\n- name: admin@lab\n  user:\n    \
             client-certificate-data: {}\n    client-key-data: {}\n",
            b64("CA PEM"),
            b64("CRT PEM"),
            b64("KEY PEM"),
        )
    }

    #[test]
    fn kubeconfigs_are_read_from_the_current_context() {
        let k = Kubeconfig::parse(&kubeconfig("", "https://10.0.0.2:6443/"), None).expect("ok");
        assert_eq!(k.context, "admin@lab");
        assert_eq!(k.server, "https://10.0.0.2:6443");
        assert_eq!(
            (
                k.ca_pem.as_str(),
                k.client_certificate_pem.as_str(),
                k.client_key_pem.as_str()
            ),
            ("CA PEM", "CRT PEM", "KEY PEM")
        );
        assert!(
            !format!("{k:?}").contains("KEY PEM"),
            "the key never prints"
        );
    }

    #[test]
    fn kubeconfigs_this_client_cannot_use_are_refused_with_the_reason() {
        let cases: &[(&str, String, Option<&str>, &str)] = &[
            (
                "insecure",
                kubeconfig("    insecure-skip-tls-verify: true\n", "https://h:6443"),
                None,
                "insecure-skip-tls-verify",
            ),
            (
                "plain http",
                kubeconfig("", "http://h:8080"),
                None,
                "https:// URL",
            ),
            (
                "unknown context",
                kubeconfig("", "https://h:6443"),
                Some("other"),
                "no contexts entry named 'other'",
            ),
            ("not yaml", "{".into(), None, "not valid YAML"),
            (
                "ca file only",
                kubeconfig("", "https://h:6443")
                    .replace("certificate-authority-data", "certificate-authority"),
                None,
                "embed it as data",
            ),
        ];
        for (name, yaml, ctx, hint) in cases {
            let e = Kubeconfig::parse(yaml, *ctx).expect_err(name);
            assert_eq!(e.kind(), ErrorKind::Fatal, "{name}");
            assert!(e.to_string().contains(hint), "{name}: {e}");
        }
    }

    #[test]
    fn refusals_are_classified_by_status_and_reason() {
        let cases: &[(&str, u16, &str, ErrorKind)] = &[
            ("missing", 404, "NotFound", ErrorKind::NotFound),
            ("exists", 409, "AlreadyExists", ErrorKind::AlreadyExists),
            ("stale write", 409, "Conflict", ErrorKind::Transient),
            ("throttled", 429, "TooManyRequests", ErrorKind::Transient),
            ("etcd hiccup", 500, "InternalError", ErrorKind::Transient),
            (
                "unavailable",
                503,
                "ServiceUnavailable",
                ErrorKind::Transient,
            ),
            ("bad credentials", 401, "Unauthorized", ErrorKind::Fatal),
            ("rbac", 403, "Forbidden", ErrorKind::Fatal),
            ("invalid", 422, "Invalid", ErrorKind::Fatal),
        ];
        for (name, status, reason, kind) in cases {
            assert_eq!(classify(*status, reason), *kind, "{name}");
        }
        let body = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"namespaces \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"namespaces"},"code":404}"#;
        let e = api_error(
            "GET /api/v1/namespaces/x".into(),
            reqwest::StatusCode::NOT_FOUND,
            body,
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "GET /api/v1/namespaces/x: namespaces \"x\" not found (HTTP 404, NotFound)"
        );
    }

    #[test]
    fn node_readiness_comes_from_the_ready_condition() {
        let raw: RawNode = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "cp1"},
            "status": {
                "conditions": [
                    {"type": "MemoryPressure", "status": "False"},
                    {"type": "Ready", "status": "False", "reason": "KubeletNotReady",
                     "message": "container runtime network not ready"}
                ],
                "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}],
                "nodeInfo": {"kubeletVersion": "v1.36.3"}
            }
        }))
        .expect("node");
        let n = Node::from(raw);
        assert_eq!(
            (n.name.as_str(), n.ready, n.ready_reason.as_str()),
            ("cp1", false, "KubeletNotReady")
        );
        assert_eq!(n.kubelet_version, "v1.36.3");
        assert_eq!(n.addresses[0].kind, "InternalIP");
    }
}
