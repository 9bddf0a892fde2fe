//! The Talos API client: gRPC (tonic) to apid on `:50000`, the calls that take a node from
//! maintenance mode to a bootstrapped control plane and watch it there.
//!
//! - [`Client`] speaks mutual TLS with a talosconfig's credentials: apid's certificate must
//!   chain to the OS CA (that CA alone, never a system trust store) and our `os:admin`
//!   certificate must satisfy apid (`tls.rs`).
//! - [`MaintenanceClient`] reaches a node that booted without a configuration. apid's
//!   certificate cannot be verified there, so it offers `ApplyConfiguration` and nothing else
//!   (`tls.rs` says why).
//! - A call runs on the node apid serves, or on another one named with [`Client::with_node`]:
//!   the `node` gRPC metadata, apid's one-to-one proxy, as talosctl's `client.WithNode` and
//!   the Talos Terraform provider send it (<https://github.com/siderolabs/talos/blob/main/pkg/machinery/client/context.go>).
//!   The older `nodes` fan-out header is deprecated upstream and not used.
//! - Every call takes a [`Call`]: Terraform's Stop and a timeout. A cancelled call returns
//!   [`Error::Cancelled`] at once and drops its stream.
//! - Failures are classified once (`error.rs`); callers decide on [`Error::kind`].
//!
//! Wire reference: <https://github.com/siderolabs/talos/blob/main/api/machine/machine.proto> and
//! <https://github.com/siderolabs/talos/blob/main/api/common/common.proto>.
//!
//! Must not import: the framework, resources, or the lab.

mod error;
mod proto;
mod tls;

#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::io::Read as _;

use base64::Engine as _;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

pub use super::Call;
pub use error::Error;

use proto::machine::{self, machine_service_client::MachineServiceClient};

/// gRPC message size limit, as apid's (`constants.GRPCMaxMessageSize`, 32 MiB,
/// <https://github.com/siderolabs/talos/blob/main/pkg/machinery/constants/constants.go>).
const MAX_MESSAGE: usize = 32 << 20;
/// The most a kubeconfig archive or the kubeconfig in it may take.
const MAX_KUBECONFIG: u64 = 4 << 20;

/// What a talosconfig context holds: the OS CA and a client certificate and key, all PEM.
#[derive(Clone, PartialEq)]
pub struct Credentials {
    /// The OS CA certificate(s) (`machine.ca.crt`): the only roots apid is checked against.
    pub ca_pem: String,
    /// The client certificate, signed by the OS CA, role in its Organization (`os:admin`).
    pub crt_pem: String,
    /// The client key: PKCS#8 (`PRIVATE KEY`, or Talos's `ED25519 PRIVATE KEY`), SEC1 or
    /// PKCS#1. Never printed.
    pub key_pem: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("ca_pem", &format_args!("<{} bytes>", self.ca_pem.len()))
            .field("crt_pem", &format_args!("<{} bytes>", self.crt_pem.len()))
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// One context of a talosconfig.
#[derive(Debug, Clone, PartialEq)]
pub struct TalosContext {
    /// The context's name.
    pub name: String,
    /// apid addresses to connect to (`HOST` or `HOST:PORT`).
    pub endpoints: Vec<String>,
    /// Nodes calls are meant for (sent in the `node` metadata).
    pub nodes: Vec<String>,
    /// The CA, certificate and key.
    pub credentials: Credentials,
}

impl TalosContext {
    /// Reads context `name` (the file's `context` when `None`) from a talosconfig:
    /// `context`, `contexts.<name>.{endpoints, nodes, ca, crt, key}` with `ca`, `crt` and
    /// `key` base64 of PEM
    /// (<https://github.com/siderolabs/talos/blob/main/pkg/machinery/client/config/config.go>).
    pub fn from_talosconfig(yaml: &str, name: Option<&str>) -> Result<TalosContext, Error> {
        #[derive(serde::Deserialize)]
        struct File {
            #[serde(default)]
            context: Option<String>,
            #[serde(default)]
            contexts: std::collections::BTreeMap<String, Context>,
        }
        #[derive(serde::Deserialize)]
        struct Context {
            #[serde(default)]
            endpoints: Vec<String>,
            #[serde(default)]
            nodes: Vec<String>,
            #[serde(default)]
            ca: String,
            #[serde(default)]
            crt: String,
            #[serde(default)]
            key: String,
        }
        let file: File = serde_norway::from_str(yaml)
            .map_err(|e| Error::Config(format!("the talosconfig is not valid YAML: {e}")))?;
        let name = name
            .map(str::to_string)
            .or(file.context)
            .ok_or_else(|| Error::Config("the talosconfig names no current context".into()))?;
        let ctx = file.contexts.get(&name).ok_or_else(|| {
            Error::Config(format!("the talosconfig has no context named '{name}'"))
        })?;
        let pem = |field: &str, b64: &str| -> Result<String, Error> {
            let compact: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
            if compact.is_empty() {
                return Err(Error::Config(format!(
                    "talosconfig context '{name}' has no {field}"
                )));
            }
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    Error::Config(format!(
                        "talosconfig context '{name}': {field} is not base64 of PEM"
                    ))
                })
        };
        Ok(TalosContext {
            name: name.clone(),
            endpoints: ctx.endpoints.clone(),
            nodes: ctx.nodes.clone(),
            credentials: Credentials {
                ca_pem: pem("ca", &ctx.ca)?,
                crt_pem: pem("crt", &ctx.crt)?,
                key_pem: pem("key", &ctx.key)?,
            },
        })
    }
}

/// How a node takes a new configuration (`ApplyConfigurationRequest.Mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// Reboot only if the change needs it.
    Auto,
    /// Apply now; fail if the change needs a reboot.
    NoReboot,
    /// Apply, then reboot (refused outside maintenance mode since Talos 1.14).
    Reboot,
    /// Apply at the next reboot.
    Staged,
    /// Apply now, and roll back after a minute unless applied again.
    Try,
}

impl ApplyMode {
    fn wire(self) -> machine::apply_configuration_request::Mode {
        use machine::apply_configuration_request::Mode;
        match self {
            ApplyMode::Auto => Mode::Auto,
            ApplyMode::NoReboot => Mode::NoReboot,
            ApplyMode::Reboot => Mode::Reboot,
            ApplyMode::Staged => Mode::Staged,
            ApplyMode::Try => Mode::Try,
        }
    }

    fn from_wire(mode: i32) -> Option<ApplyMode> {
        use machine::apply_configuration_request::Mode;
        Some(match Mode::try_from(mode).ok()? {
            Mode::Auto => ApplyMode::Auto,
            Mode::NoReboot => ApplyMode::NoReboot,
            Mode::Reboot => ApplyMode::Reboot,
            Mode::Staged => ApplyMode::Staged,
            Mode::Try => ApplyMode::Try,
        })
    }
}

/// What a node did with an applied configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The mode the node used (AUTO resolves to NO_REBOOT or REBOOT); `None` for a value
    /// this client does not know.
    pub mode: Option<ApplyMode>,
    /// The node's account, e.g. `Applied configuration without a reboot`.
    pub details: String,
    /// Validation warnings.
    pub warnings: Vec<String>,
}

/// `Version`: the Talos build a node runs, and its platform.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Version {
    /// The release tag, e.g. `v1.13.9`.
    pub tag: String,
    /// The commit, short.
    pub sha: String,
    /// The Go toolchain, e.g. `go1.26.6`.
    pub go_version: String,
    /// `linux`.
    pub os: String,
    /// `amd64` or `arm64`.
    pub arch: String,
    /// The platform, e.g. `nocloud`.
    pub platform: String,
    /// The platform's mode, e.g. `cloud`.
    pub platform_mode: String,
    /// Whether role-based access is on; `None` when the node did not say (maintenance mode).
    pub rbac: Option<bool>,
}

/// One Talos service, as `ServiceList` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// `apid`, `etcd`, `kubelet`, `cri`, …
    pub id: String,
    /// `Running`, `Preparing`, `Waiting`, `Finished`, `Failed`, …
    pub state: String,
    /// The last health check: `None` when unknown (no check, or none run yet).
    pub healthy: Option<bool>,
    /// The health check's last message.
    pub last_message: String,
}

impl Service {
    /// Running, and healthy if it has a health check that has run.
    pub fn is_up(&self) -> bool {
        self.state == "Running" && self.healthy != Some(false)
    }
}

/// One etcd member, as `EtcdMemberList` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct EtcdMember {
    /// The member id.
    pub id: u64,
    /// The member's name (the node's hostname).
    pub hostname: String,
    /// Peer URLs (`https://IP:2380`).
    pub peer_urls: Vec<String>,
    /// Client URLs (`https://IP:2379`).
    pub client_urls: Vec<String>,
    /// Whether the member is a learner.
    pub is_learner: bool,
}

/// A Talos API client for one apid endpoint, with mutual TLS.
#[derive(Clone)]
pub struct Client {
    channel: Channel,
    /// TLS failures the channel's connections noted.
    seen: tls::Seen,
    /// `HOST:PORT` of apid.
    endpoint: String,
    /// The `node` metadata sent with every call, if any.
    node: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("node", &self.node)
            .finish()
    }
}

impl Client {
    /// A client for apid at `endpoint` (`HOST` or `HOST:PORT`, port 50000 by default) with
    /// `credentials`. It connects on the first call; it must be made inside a tokio runtime.
    pub fn new(endpoint: &str, credentials: &Credentials) -> Result<Client, Error> {
        let (host, port) = tls::parse_endpoint(endpoint).map_err(Error::Config)?;
        let config = tls::mtls_config(
            &credentials.ca_pem,
            &credentials.crt_pem,
            &credentials.key_pem,
        )
        .map_err(Error::Config)?;
        let (channel, seen) = tls::channel(&host, port, config).map_err(Error::Config)?;
        Ok(Client {
            channel,
            seen,
            endpoint: endpoint_text(&host, port),
            node: None,
        })
    }

    /// The same connection, with calls run on `node` (an address or hostname apid can reach)
    /// through apid's one-to-one proxy.
    pub fn with_node(&self, node: &str) -> Result<Client, Error> {
        let value = MetadataValue::try_from(node.trim())
            .ok()
            .filter(|_| !node.trim().is_empty() && !node.contains(','))
            .ok_or_else(|| Error::Config(format!("'{node}' is not a node address or name")))?;
        Ok(Client {
            node: Some(value),
            ..self.clone()
        })
    }

    /// apid's `HOST:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `MachineService.Version`.
    pub async fn version(&self, call: &Call) -> Result<Version, Error> {
        let what = self.what("Version");
        let reply = self
            .exchange(&what, call, (), |mut c, req| async move {
                c.version(req).await.map(tonic::Response::into_inner)
            })
            .await?;
        let m = first(&what, reply.messages, |m| m.metadata.as_ref())?;
        let v = m.version.unwrap_or_default();
        let p = m.platform.unwrap_or_default();
        Ok(Version {
            tag: v.tag,
            sha: v.sha,
            go_version: v.go_version,
            os: v.os,
            arch: v.arch,
            platform: p.name,
            platform_mode: p.mode,
            rbac: m.features.map(|f| f.rbac),
        })
    }

    /// `MachineService.ApplyConfiguration`: `config_yaml` (one or more YAML documents) with
    /// `mode`, on a configured node.
    pub async fn apply_configuration(
        &self,
        config_yaml: &str,
        mode: ApplyMode,
        call: &Call,
    ) -> Result<Applied, Error> {
        let what = self.what("ApplyConfiguration");
        let reply = self
            .exchange(
                &what,
                call,
                apply_request(config_yaml, mode),
                |mut c, req| async move {
                    c.apply_configuration(req)
                        .await
                        .map(tonic::Response::into_inner)
                },
            )
            .await?;
        applied(&what, reply)
    }

    /// `MachineService.Bootstrap`: starts etcd as a one-member cluster on a control-plane
    /// node. A second bootstrap answers `AlreadyExists` ("etcd data directory is not
    /// empty"), [`crate::clients::ErrorKind::AlreadyExists`]; "not yet" answers (time not in
    /// sync, services starting) are `FailedPrecondition`, Transient.
    pub async fn bootstrap(&self, call: &Call) -> Result<(), Error> {
        let what = self.what("Bootstrap");
        let reply = self
            .exchange(
                &what,
                call,
                machine::BootstrapRequest::default(),
                |mut c, req| async move { c.bootstrap(req).await.map(tonic::Response::into_inner) },
            )
            .await?;
        for m in &reply.messages {
            if let Some(e) = Error::from_metadata(&what, m.metadata.as_ref()) {
                return Err(e);
            }
        }
        Ok(())
    }

    /// `MachineService.Kubeconfig`: the admin kubeconfig (YAML). apid streams it as a
    /// `.tar.gz` holding one file, `kubeconfig`; the chunks are joined and unpacked as
    /// talosctl's `extractKubeconfig` does
    /// (<https://github.com/siderolabs/talos/blob/main/pkg/machinery/client/client.go>).
    pub async fn kubeconfig(&self, call: &Call) -> Result<String, Error> {
        let what = self.what("Kubeconfig");
        let w = what.clone();
        let archive = self
            .exchange(&what, call, (), |mut c, req| async move {
                let mut stream = c.kubeconfig(req).await?.into_inner();
                let mut out = Vec::new();
                while let Some(chunk) = stream.message().await? {
                    if let Some(e) = Error::from_metadata(&w, chunk.metadata.as_ref()) {
                        return Ok(Err(e));
                    }
                    if out.len() as u64 + chunk.bytes.len() as u64 > MAX_KUBECONFIG {
                        return Ok(Err(Error::Decode {
                            what: w.clone(),
                            detail: format!("the archive exceeds {MAX_KUBECONFIG} bytes"),
                        }));
                    }
                    out.extend_from_slice(&chunk.bytes);
                }
                Ok(Ok(out))
            })
            .await??;
        extract_kubeconfig(&archive).map_err(|detail| Error::Decode { what, detail })
    }

    /// `MachineService.ServiceList`: the node's services (to wait for `apid`, `etcd`,
    /// `kubelet`).
    pub async fn service_list(&self, call: &Call) -> Result<Vec<Service>, Error> {
        let what = self.what("ServiceList");
        let reply = self
            .exchange(&what, call, (), |mut c, req| async move {
                c.service_list(req).await.map(tonic::Response::into_inner)
            })
            .await?;
        let m = first(&what, reply.messages, |m| m.metadata.as_ref())?;
        Ok(m.services
            .into_iter()
            .map(|s| {
                let health = s.health.unwrap_or_default();
                Service {
                    id: s.id,
                    state: s.state,
                    healthy: (!health.unknown).then_some(health.healthy),
                    last_message: health.last_message,
                }
            })
            .collect())
    }

    /// `MachineService.EtcdMemberList`: the etcd cluster's members, as a control-plane node
    /// sees them.
    pub async fn etcd_member_list(&self, call: &Call) -> Result<Vec<EtcdMember>, Error> {
        use proto::etcd::{EtcdMemberListRequest, EtcdMemberListResponse, MEMBER_LIST};
        let what = self.what("EtcdMemberList");
        let channel = self.channel.clone();
        let req = self.request(EtcdMemberListRequest { query_local: false }, call);
        let reply: EtcdMemberListResponse = self
            .run(&what, call, async move {
                let mut grpc = tonic::client::Grpc::new(channel)
                    .max_decoding_message_size(MAX_MESSAGE)
                    .max_encoding_message_size(MAX_MESSAGE);
                grpc.ready()
                    .await
                    .map_err(|e| tonic::Status::from_error(e.into()))?;
                let codec: tonic_prost::ProstCodec<EtcdMemberListRequest, EtcdMemberListResponse> =
                    tonic_prost::ProstCodec::default();
                let path = http::uri::PathAndQuery::from_static(MEMBER_LIST);
                grpc.unary(req, path, codec)
                    .await
                    .map(tonic::Response::into_inner)
            })
            .await?;
        let m = first(&what, reply.messages, |m| m.metadata.as_ref())?;
        Ok(m.members
            .into_iter()
            .map(|e| EtcdMember {
                id: e.id,
                hostname: e.hostname,
                peer_urls: e.peer_urls,
                client_urls: e.client_urls,
                is_learner: e.is_learner,
            })
            .collect())
    }

    /// `MachineService.EtcdLeaveCluster`: the node this call runs on takes its own member out
    /// of etcd, stops etcd and empties its data directory, as `talosctl etcd leave` and
    /// `talosctl reset` do. A node whose etcd does not run waits for it, so give a short
    /// call: the answer is then [`crate::clients::ErrorKind::Transient`].
    pub async fn etcd_leave_cluster(&self, call: &Call) -> Result<(), Error> {
        let what = self.what("EtcdLeaveCluster");
        let reply = self
            .exchange(
                &what,
                call,
                machine::EtcdLeaveClusterRequest {},
                |mut c, req| async move {
                    c.etcd_leave_cluster(req)
                        .await
                        .map(tonic::Response::into_inner)
                },
            )
            .await?;
        first(&what, reply.messages, |m| m.metadata.as_ref()).map(|_| ())
    }

    /// `MachineService.EtcdRemoveMemberByID`: removes member `id` (from
    /// [`Client::etcd_member_list`]) through the node this call runs on; for a member whose
    /// node is gone. A member etcd does not know is
    /// [`crate::clients::ErrorKind::NotFound`].
    pub async fn etcd_remove_member_by_id(&self, id: u64, call: &Call) -> Result<(), Error> {
        let what = self.what("EtcdRemoveMemberByID");
        let reply = self
            .exchange(
                &what,
                call,
                machine::EtcdRemoveMemberByIdRequest { member_id: id },
                |mut c, req| async move {
                    c.etcd_remove_member_by_id(req)
                        .await
                        .map(tonic::Response::into_inner)
                },
            )
            .await?;
        first(&what, reply.messages, |m| m.metadata.as_ref()).map(|_| ())
    }

    /// `MachineService.Reboot` (default mode). The node drops its connections shortly after
    /// answering.
    pub async fn reboot(&self, call: &Call) -> Result<(), Error> {
        let what = self.what("Reboot");
        let reply = self
            .exchange(
                &what,
                call,
                machine::RebootRequest::default(),
                |mut c, req| async move { c.reboot(req).await.map(tonic::Response::into_inner) },
            )
            .await?;
        first(&what, reply.messages, |m| m.metadata.as_ref()).map(|_| ())
    }

    /// `machine.MachineService/METHOD on NODE-OR-ENDPOINT`, for messages.
    fn what(&self, method: &str) -> String {
        let target = self
            .node
            .as_ref()
            .and_then(|n| n.to_str().ok())
            .unwrap_or(&self.endpoint);
        format!("machine.MachineService/{method} on {target}")
    }

    /// A request carrying the `node` metadata and the call's deadline (`grpc-timeout`).
    fn request<T>(&self, message: T, call: &Call) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        req.set_timeout(call.timeout);
        if let Some(node) = &self.node {
            req.metadata_mut().insert("node", node.clone());
        }
        req
    }

    /// One call through the generated client, bounded by `call`.
    async fn exchange<M, T, F, Fut>(
        &self,
        what: &str,
        call: &Call,
        message: M,
        f: F,
    ) -> Result<T, Error>
    where
        F: FnOnce(MachineServiceClient<Channel>, tonic::Request<M>) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let client = MachineServiceClient::new(self.channel.clone())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        let req = self.request(message, call);
        self.run(what, call, f(client, req)).await
    }

    /// Runs `fut`, stopped by the call's token and bounded by its timeout.
    async fn run<T>(
        &self,
        what: &str,
        call: &Call,
        fut: impl Future<Output = Result<T, tonic::Status>>,
    ) -> Result<T, Error> {
        run(what, &self.endpoint, &self.seen, call, fut).await
    }
}

/// A client for a node in maintenance mode (booted without a configuration): TLS without
/// a client certificate and without verifying apid's certificate, which no CA we hold
/// signed. It offers `ApplyConfiguration` only; see the module docs.
#[derive(Clone)]
pub struct MaintenanceClient {
    channel: Channel,
    /// TLS failures the channel's connections noted.
    seen: tls::Seen,
    endpoint: String,
}

impl fmt::Debug for MaintenanceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaintenanceClient")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl MaintenanceClient {
    /// A client for the maintenance-mode apid at `endpoint` (`HOST` or `HOST:PORT`). It
    /// connects on the first call; it must be made inside a tokio runtime.
    pub fn new(endpoint: &str) -> Result<MaintenanceClient, Error> {
        let (host, port) = tls::parse_endpoint(endpoint).map_err(Error::Config)?;
        let config = tls::maintenance_config().map_err(Error::Config)?;
        let (channel, seen) = tls::channel(&host, port, config).map_err(Error::Config)?;
        Ok(MaintenanceClient {
            channel,
            seen,
            endpoint: endpoint_text(&host, port),
        })
    }

    /// apid's `HOST:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `MachineService.ApplyConfiguration` in maintenance mode: the node installs the
    /// configuration and reboots into it. Talos ≤ 1.12 takes only AUTO, REBOOT and TRY here
    /// (`Unimplemented` otherwise); later releases apply without a reboot
    /// (<https://github.com/siderolabs/talos/blob/v1.11.0/internal/app/maintenance/server.go>).
    pub async fn apply_configuration(
        &self,
        config_yaml: &str,
        mode: ApplyMode,
        call: &Call,
    ) -> Result<Applied, Error> {
        let what = format!(
            "machine.MachineService/ApplyConfiguration on {} (maintenance mode)",
            self.endpoint
        );
        let client = MachineServiceClient::new(self.channel.clone())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        let mut req = tonic::Request::new(apply_request(config_yaml, mode));
        req.set_timeout(call.timeout);
        let reply = run(&what, &self.endpoint, &self.seen, call, async move {
            let mut c = client;
            c.apply_configuration(req)
                .await
                .map(tonic::Response::into_inner)
        })
        .await?;
        applied(&what, reply)
    }
}

fn apply_request(config_yaml: &str, mode: ApplyMode) -> machine::ApplyConfigurationRequest {
    machine::ApplyConfigurationRequest {
        data: config_yaml.as_bytes().to_vec(),
        mode: mode.wire() as i32,
        dry_run: false,
        try_mode_timeout: None,
    }
}

fn applied(what: &str, reply: machine::ApplyConfigurationResponse) -> Result<Applied, Error> {
    let m = first(what, reply.messages, |m| m.metadata.as_ref())?;
    Ok(Applied {
        mode: ApplyMode::from_wire(m.mode),
        details: m.mode_details,
        warnings: m.warnings,
    })
}

/// Runs `fut`, stopped by `call.cancel` and bounded by `call.timeout`; a failure is
/// classified here.
async fn run<T>(
    what: &str,
    endpoint: &str,
    seen: &tls::Seen,
    call: &Call,
    fut: impl Future<Output = Result<T, tonic::Status>>,
) -> Result<T, Error> {
    tracing::debug!(call = %what, "talos api call");
    tokio::select! {
        biased;
        _ = call.cancel.cancelled() => Err(Error::Cancelled { what: what.to_string() }),
        r = tokio::time::timeout(call.timeout, fut) => match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(status)) => Err(Error::from_status(
                what.to_string(),
                endpoint,
                status,
                seen.get(),
                call.timeout,
            )),
            Err(_) => Err(Error::Timeout { what: what.to_string(), after: call.timeout }),
        },
    }
}

/// The first reply of a response, after checking every reply's metadata for a node's error.
fn first<M>(
    what: &str,
    messages: Vec<M>,
    metadata: impl Fn(&M) -> Option<&proto::common::Metadata>,
) -> Result<M, Error> {
    for m in &messages {
        if let Some(e) = Error::from_metadata(what, metadata(m)) {
            return Err(e);
        }
    }
    messages.into_iter().next().ok_or_else(|| Error::Decode {
        what: what.to_string(),
        detail: "the reply holds no message".into(),
    })
}

/// `HOST:PORT`, with brackets around an IPv6 host.
fn endpoint_text(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The `kubeconfig` file of the archive apid streams.
fn extract_kubeconfig(archive: &[u8]) -> Result<String, String> {
    let gz = flate2::read::GzDecoder::new(archive);
    let mut tar = tar::Archive::new(gz);
    let entries = tar
        .entries()
        .map_err(|e| format!("not a .tar.gz archive: {e}"))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("a broken archive entry: {e}"))?;
        let name = entry
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.trim_start_matches("./") != "kubeconfig" {
            continue;
        }
        let mut text = String::new();
        entry
            .take(MAX_KUBECONFIG)
            .read_to_string(&mut text)
            .map_err(|e| format!("the kubeconfig cannot be read: {e}"))?;
        return Ok(text);
    }
    Err("the archive holds no file named kubeconfig".into())
}
