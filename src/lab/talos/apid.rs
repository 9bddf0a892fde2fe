//! The emulated apid on `:50000`: gRPC over TLS, in maintenance mode or with mutual TLS, the
//! `machine.MachineService` and `storage.StorageService` subset, role checks, and one-to-one
//! routing by the `node` metadata header.
//!
//! Facts (research §B.2, §B.3 and the files named there):
//! - Maintenance mode, Talos ≤ 1.12 (`internal/app/maintenance/server.go` at v1.12.11): only
//!   `ApplyConfiguration` (modes AUTO, REBOOT, TRY), `Version` (admin only, so refused to an
//!   insecure client with `Unimplemented "API is not implemented in maintenance mode"`) and
//!   storage calls; everything else falls to grpc-go's `Unimplemented "method X not
//!   implemented"`.
//! - Maintenance mode, Talos ≥ 1.13 (commit b7d70cf62): the regular API with the `os:reader`
//!   role (`authz.ReadOnlyWithAdminOnSiderolink`), so reader methods answer and the rest is
//!   `PermissionDenied "not authorized"` (`pkg/grpc/middleware/authz/authorizer.go`, role
//!   table in `internal/app/machined/pkg/system/services/machined.go`).
//! - Configured: roles from the client certificate's Organization (`os:admin`, ...).
//! - Texts of ApplyConfiguration, Bootstrap and Kubeconfig: `internal/app/machined/internal/
//!   server/v1alpha1/v1alpha1_server.go` at v1.12.11 and v1.13.9, and
//!   `internal/app/internal/machinehelper/machinehelper.go`.
//! - `EtcdMemberList` (v1alpha1_server.go and `internal/pkg/etcd/etcd.go` at ad8823176):
//!   control planes only; its etcd client waits for a member it can reach, so before etcd runs
//!   the call ends at the caller's deadline (see `Apid::etcd_members`). `EtcdLeaveCluster`
//!   and `EtcdRemoveMemberByID` (same files): see `etcd.rs`.
//! - apid's director: `node` metadata must be single-valued
//!   (`internal/app/apid/pkg/director/director.go`); `nodes` metadata makes `Version` a
//!   one-to-many call whose replies carry `metadata.hostname` (or the error) per target
//!   (`internal/app/apid/pkg/backend/apid.go` `AppendInfo`, `BuildError`).

use std::io::Write as _;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Request;
use hyper::body::Incoming;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Status};
use tower::ServiceExt as _;

use super::config::{MachineConfig, MachineType};
use super::fault::FaultKind;
use super::node::{Node, NodePhase};
use super::proto::common;
use super::proto::machine::{
    self, apply_configuration_request::Mode, machine_service_server::MachineService,
    machine_service_server::MachineServiceServer,
};
use super::proto::storage::{
    self, storage_service_server::StorageService, storage_service_server::StorageServiceServer,
};
use super::timing::{pause, Step};
use super::{accept, etcd, lock, Fleet, TalosRelease, TrackedExec};

/// Talos gRPC message size limit (`constants.GRPCMaxMessageSize`, 32 MiB).
const MAX_MESSAGE: usize = 32 << 20;

/// Who is calling, as apid sees the connection.
#[derive(Clone, Debug, Default)]
struct Peer {
    /// Roles from the client certificate (or the maintenance-mode role).
    roles: Vec<String>,
    /// Accepted by the maintenance-mode listener.
    maintenance: bool,
    /// Cancel to drop the connection (fault injection).
    drop: CancellationToken,
}

impl Peer {
    fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Accepts apid connections until `power` is cancelled (reboot: graceful) or the node halts.
pub(crate) fn spawn_listener(
    node: Arc<Node>,
    fleet: Arc<Fleet>,
    listener: tokio::net::TcpListener,
    power: CancellationToken,
) {
    let tls = lock(&node.st).tls.clone();
    let Some(tls) = tls else { return };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let f = fleet.clone();
    let life = node.life.clone();
    fleet.spawn_until(power.clone(), async move {
        loop {
            let tcp = accept(&listener).await;
            let acceptor = acceptor.clone();
            let node = node.clone();
            let f2 = f.clone();
            let power = power.clone();
            f.spawn_until(life.clone(), async move {
                serve_connection(node, f2, acceptor, tcp, power).await
            });
        }
    });
}

async fn serve_connection(
    node: Arc<Node>,
    fleet: Arc<Fleet>,
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    power: CancellationToken,
) {
    // A failed handshake (no or foreign client certificate) just closes the connection.
    let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
    else {
        return;
    };
    let maintenance = lock(&node.st).maintenance;
    let roles = if maintenance {
        match fleet.release {
            TalosRelease::V1_12 => Vec::new(),
            TalosRelease::V1_13 => vec!["os:reader".to_string()],
        }
    } else {
        tls.get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|c| super::pki::peer_name(c))
            .map(|p| {
                p.orgs
                    .into_iter()
                    .filter(|o| o.starts_with("os:"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let drop = CancellationToken::new();
    let peer = Peer {
        roles,
        maintenance,
        drop: drop.clone(),
    };
    let api = Apid {
        node: node.clone(),
        fleet: fleet.clone(),
    };
    let routes = tonic::service::Routes::new(
        MachineServiceServer::new(api.clone())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE),
    )
    .add_service(StorageServiceServer::new(api));
    let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(peer.clone());
        routes.clone().oneshot(req)
    });
    let exec = TrackedExec {
        tracker: fleet.tracker.clone(),
        token: node.life.clone(),
    };
    let conn = hyper::server::conn::http2::Builder::new(exec)
        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = drop.cancelled() => {}
        _ = power.cancelled() => {
            // Reboot: let calls in flight answer (Talos stops gRPC gracefully), then close.
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(2), conn.as_mut()).await;
        }
    }
}

#[derive(Clone)]
struct Apid {
    node: Arc<Node>,
    fleet: Arc<Fleet>,
}

/// Roles allowed per method (machined.go rules; the fallback is admin only).
fn allowed(method: &str) -> &'static [&'static str] {
    match method {
        "machine.MachineService/ApplyConfiguration" => &["os:admin"],
        "machine.MachineService/Bootstrap" | "machine.MachineService/Kubeconfig" => &["os:admin"],
        "machine.MachineService/Reboot" => &["os:admin", "os:operator"],
        "machine.MachineService/EtcdLeaveCluster"
        | "machine.MachineService/EtcdRemoveMemberByID" => &["os:admin"],
        "machine.MachineService/EtcdMemberList" => {
            &["os:admin", "os:operator", "os:reader", "os:etcd:backup"]
        }
        "machine.MachineService/Version"
        | "machine.MachineService/ServiceList"
        | "machine.MachineService/Hostname"
        | "storage.StorageService/Disks" => &["os:admin", "os:operator", "os:reader"],
        _ => &["os:admin"],
    }
}

fn not_authorized() -> Status {
    Status::permission_denied("not authorized")
}

/// grpc-go's dial failure text, as apid relays it for an unreachable target node.
fn unreachable(ip: &str) -> Status {
    Status::unavailable(format!(
        "connection error: desc = \"transport: Error while dialing: dial tcp {ip}:{}: connect: connection refused\"",
        super::APID_PORT
    ))
}

/// grpc-go's `codes.Code.String()`.
fn go_code_name(code: Code) -> String {
    match code {
        Code::Ok => "OK".into(),
        Code::Cancelled => "Canceled".into(),
        other => format!("{other:?}"),
    }
}

/// The metadata apid's `BuildError` puts in place of a failed target's reply: the target,
/// the error as grpc-go prints it (`rpc error: code = X desc = Y`) and the status.
fn error_metadata(target: String, s: &Status) -> common::Metadata {
    common::Metadata {
        hostname: target,
        error: format!(
            "rpc error: code = {} desc = {}",
            go_code_name(s.code()),
            s.message()
        ),
        status: Some(super::proto::google::rpc::Status {
            code: s.code() as i32,
            message: s.message().to_string(),
            details: Vec::new(),
        }),
    }
}

/// Go's `time.Duration.String()` for whole and fractional seconds.
fn go_duration(d: Duration) -> String {
    let total = d.as_secs_f64();
    if total == 0.0 {
        return "0s".into();
    }
    let h = d.as_secs() / 3600;
    let m = (d.as_secs() % 3600) / 60;
    let s = total - (h * 3600 + m * 60) as f64;
    let secs = if s.fract() == 0.0 {
        format!("{}s", s as u64)
    } else {
        format!("{}s", trim_float(s))
    };
    if h > 0 {
        format!("{h}h{m}m{secs}")
    } else if m > 0 {
        format!("{m}m{secs}")
    } else {
        secs
    }
}

fn trim_float(s: f64) -> String {
    let t = format!("{s:.9}");
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The caller's deadline, from the `grpc-timeout` header (gRPC over HTTP/2,
/// `doc/PROTOCOL-HTTP2.md`: at most 8 digits and a unit `H M S m u n`), which grpc-go makes
/// the handler's context deadline.
fn grpc_deadline<T>(req: &tonic::Request<T>, now: Instant) -> Option<Instant> {
    let v = req.metadata().get("grpc-timeout")?.to_str().ok()?;
    let unit = v.chars().last()?;
    let digits = &v[..v.len() - unit.len_utf8()];
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let d = match unit {
        'H' => Duration::from_secs(n.saturating_mul(3600)),
        'M' => Duration::from_secs(n.saturating_mul(60)),
        'S' => Duration::from_secs(n),
        'm' => Duration::from_millis(n),
        'u' => Duration::from_micros(n),
        'n' => Duration::from_nanos(n),
        _ => return None,
    };
    now.checked_add(d)
}

/// How often a call waiting for etcd looks again.
const ETCD_POLL: Duration = Duration::from_millis(20);

fn mode_flag(mode: Mode) -> String {
    mode.as_str_name().to_lowercase().replace('_', "-")
}

impl Apid {
    /// Common entry of every RPC: maintenance gate, roles, `node` routing, faults, latency.
    async fn begin<T>(
        &self,
        method: &'static str,
        req: &tonic::Request<T>,
    ) -> Result<(Arc<Node>, Peer, Instant), Status> {
        let started = Instant::now();
        let peer = req.extensions().get::<Peer>().cloned().unwrap_or_default();
        let target = self.route(req, &peer)?;
        self.fault(method, &target, &peer, started).await?;
        self.authorize(method, &peer)?;
        pause(self.fleet.timing.duration(Step::ApiCall)).await;
        Ok((target, peer, started))
    }

    /// Counts a call of `method` on `target` and injects its scripted fault, if any.
    async fn fault(
        &self,
        method: &str,
        target: &Arc<Node>,
        peer: &Peer,
        started: Instant,
    ) -> Result<(), Status> {
        let Some(fault) = self.fleet.faults.check(method, target.address()) else {
            return Ok(());
        };
        self.fleet.record(method, target.address(), started, false);
        Err(match fault {
            FaultKind::Error(m) => Status::unavailable(m),
            FaultKind::Hang => {
                std::future::pending::<()>().await;
                Status::unavailable("hang ended")
            }
            FaultKind::Drop => {
                peer.drop.cancel();
                Status::unavailable("connection dropped")
            }
            FaultKind::Reboot => {
                target.reboot(&self.fleet);
                Status::unavailable("node is rebooting")
            }
        })
    }

    /// The maintenance gate and the role check of `method`.
    fn authorize(&self, method: &str, peer: &Peer) -> Result<(), Status> {
        if peer.maintenance {
            if self.fleet.release == TalosRelease::V1_12 {
                self.maintenance_v1_12_gate(method)?;
            } else if !allowed(method).iter().any(|r| peer.has(r))
                && method != "machine.MachineService/ApplyConfiguration"
            {
                return Err(not_authorized());
            }
        } else if !allowed(method).iter().any(|r| peer.has(r)) {
            return Err(not_authorized());
        }
        Ok(())
    }

    /// The targets of a one-to-many call: the `nodes` metadata, when no `node` is given
    /// (director.go: `nodes` goes to `aggregateDirector` even for one local target, as apid
    /// always has a remote backend factory). Empty in maintenance mode (routing disabled).
    fn fanout_targets<T>(req: &tonic::Request<T>, peer: &Peer) -> Vec<String> {
        let md = req.metadata();
        if peer.maintenance || md.get("node").is_some() {
            return Vec::new();
        }
        md.get_all("nodes")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|s| s.trim().to_string()))
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The node a target name (address or hostname) denotes, as apid's director dials it.
    fn resolve(&self, name: &str) -> Result<Arc<Node>, Status> {
        if name == self.node.address().to_string()
            || name == self.node.hostname()
            || name == "127.0.0.1"
            || name == "localhost"
        {
            return Ok(self.node.clone());
        }
        let target = name
            .parse::<Ipv4Addr>()
            .ok()
            .and_then(|ip| self.fleet.node_at(ip))
            .or_else(|| {
                self.fleet
                    .nodes_snapshot()
                    .into_iter()
                    .find(|n| n.hostname() == name)
            });
        match target {
            Some(t) if t.phase() == NodePhase::Running => Ok(t),
            _ => Err(unreachable(name)),
        }
    }

    /// What the v1.12 maintenance service answers before doing anything.
    fn maintenance_v1_12_gate(&self, method: &str) -> Result<(), Status> {
        match method {
            "machine.MachineService/ApplyConfiguration" | "storage.StorageService/Disks" => Ok(()),
            // assertAdminRole: an insecure client is never admin outside SideroLink.
            "machine.MachineService/Version" => Err(Status::unimplemented(
                "API is not implemented in maintenance mode",
            )),
            other => {
                let name = other.rsplit('/').next().unwrap_or(other);
                Err(Status::unimplemented(format!(
                    "method {name} not implemented"
                )))
            }
        }
    }

    /// The node a call runs on: this one, or the one named by the `node` header.
    fn route<T>(&self, req: &tonic::Request<T>, peer: &Peer) -> Result<Arc<Node>, Status> {
        if peer.maintenance {
            // NodeRoutingDisabled in maintenance mode.
            return Ok(self.node.clone());
        }
        let md = req.metadata();
        let mut values: Vec<String> = md
            .get_all("node")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        let fanout: Vec<String> = md
            .get_all("nodes")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|s| s.trim().to_string()))
            .collect();
        if values.len() > 1 {
            return Err(Status::invalid_argument(
                "node metadata must be single-valued",
            ));
        }
        if values.is_empty() {
            match fanout.len() {
                0 => return Ok(self.node.clone()),
                1 => values = fanout,
                _ => return Err(Status::unimplemented("the lab does not emulate one-to-many proxying (\"nodes\" metadata, deprecated upstream)")),
            }
        }
        let name = values.first().cloned().unwrap_or_default();
        self.resolve(&name)
    }

    fn version_message(&self, node: &Node) -> machine::Version {
        let release = self.fleet.release;
        // The tags' commits (`git rev-parse --short=8 v1.12.11` / `v1.13.9`).
        let sha = match release {
            TalosRelease::V1_12 => "2e80771b",
            TalosRelease::V1_13 => "3ebd10a7",
        };
        let go = release.go_version();
        let configured = node.config().is_some();
        machine::Version {
            metadata: None,
            version: Some(machine::VersionInfo {
                tag: release.tag().into(),
                sha: sha.into(),
                built: String::new(),
                go_version: go.into(),
                os: "linux".into(),
                arch: "arm64".into(),
            }),
            platform: Some(machine::PlatformInfo {
                name: "nocloud".into(),
                mode: "cloud".into(),
            }),
            features: configured.then_some(machine::FeaturesInfo { rbac: true }),
        }
    }
}

fn done<T>(
    fleet: &Fleet,
    method: &str,
    node: &Node,
    started: Instant,
    r: Result<T, Status>,
) -> Result<T, Status> {
    fleet.record(method, node.address(), started, r.is_ok());
    r
}

#[tonic::async_trait]
impl MachineService for Apid {
    async fn apply_configuration(
        &self,
        request: tonic::Request<machine::ApplyConfigurationRequest>,
    ) -> Result<tonic::Response<machine::ApplyConfigurationResponse>, Status> {
        const M: &str = "machine.MachineService/ApplyConfiguration";
        let (node, peer, started) = self.begin(M, &request).await?;
        let r = self.apply(&node, &peer, request.into_inner());
        done(&self.fleet, M, &node, started, r).map(tonic::Response::new)
    }

    async fn bootstrap(
        &self,
        request: tonic::Request<machine::BootstrapRequest>,
    ) -> Result<tonic::Response<machine::BootstrapResponse>, Status> {
        const M: &str = "machine.MachineService/Bootstrap";
        let (node, _peer, started) = self.begin(M, &request).await?;
        let r = self.bootstrap_on(&node).await;
        done(&self.fleet, M, &node, started, r).map(tonic::Response::new)
    }

    async fn etcd_member_list(
        &self,
        request: tonic::Request<machine::EtcdMemberListRequest>,
    ) -> Result<tonic::Response<machine::EtcdMemberListResponse>, Status> {
        const M: &str = "machine.MachineService/EtcdMemberList";
        let deadline = grpc_deadline(&request, Instant::now());
        let (node, _peer, started) = self.begin(M, &request).await?;
        let query_local = request.get_ref().query_local;
        let r = self.etcd_members(&node, query_local, deadline).await;
        done(&self.fleet, M, &node, started, r).map(tonic::Response::new)
    }

    async fn etcd_leave_cluster(
        &self,
        request: tonic::Request<machine::EtcdLeaveClusterRequest>,
    ) -> Result<tonic::Response<machine::EtcdLeaveClusterResponse>, Status> {
        const M: &str = "machine.MachineService/EtcdLeaveCluster";
        let deadline = grpc_deadline(&request, Instant::now());
        let (node, _peer, started) = self.begin(M, &request).await?;
        let r = etcd::leave(&self.fleet, &node, deadline).await.map(|()| {
            machine::EtcdLeaveClusterResponse {
                messages: vec![machine::EtcdLeaveCluster { metadata: None }],
            }
        });
        done(&self.fleet, M, &node, started, r).map(tonic::Response::new)
    }

    async fn etcd_remove_member_by_id(
        &self,
        request: tonic::Request<machine::EtcdRemoveMemberByIdRequest>,
    ) -> Result<tonic::Response<machine::EtcdRemoveMemberByIdResponse>, Status> {
        const M: &str = "machine.MachineService/EtcdRemoveMemberByID";
        let deadline = grpc_deadline(&request, Instant::now());
        let (node, _peer, started) = self.begin(M, &request).await?;
        let id = request.get_ref().member_id;
        let r = etcd::remove_member(&self.fleet, &node, id, deadline)
            .await
            .map(|()| machine::EtcdRemoveMemberByIdResponse {
                messages: vec![machine::EtcdRemoveMemberById { metadata: None }],
            });
        done(&self.fleet, M, &node, started, r).map(tonic::Response::new)
    }

    async fn hostname(
        &self,
        request: tonic::Request<()>,
    ) -> Result<tonic::Response<machine::HostnameResponse>, Status> {
        const M: &str = "machine.MachineService/Hostname";
        let (node, _peer, started) = self.begin(M, &request).await?;
        let r = Ok(machine::HostnameResponse {
            messages: vec![machine::Hostname {
                metadata: None,
                hostname: node.hostname(),
            }],
        });
        done(&self.fleet, M, &node, started, r).map(tonic::Response::new)
    }

    async fn kubeconfig(
        &self,
        request: tonic::Request<()>,
    ) -> Result<tonic::Response<tonic::codegen::BoxStream<common::Data>>, Status> {
        const M: &str = "machine.MachineService/Kubeconfig";
        let (node, _peer, started) = self.begin(M, &request).await?;
        let r = kubeconfig_archive(&node);
        let bytes = done(&self.fleet, M, &node, started, r)?;
        let stream = tokio_stream::iter(vec![Ok(common::Data {
            metadata: None,
            bytes,
        })]);
        Ok(tonic::Response::new(Box::pin(stream)))
    }

    async fn reboot(
        &self,
        request: tonic::Request<machine::RebootRequest>,
    ) -> Result<tonic::Response<machine::RebootResponse>, Status> {
        const M: &str = "machine.MachineService/Reboot";
        let (node, _peer, started) = self.begin(M, &request).await?;
        let actor = super::kube::store::now_rfc3339();
        node.reboot(&self.fleet);
        let r = Ok(machine::RebootResponse {
            messages: vec![machine::Reboot {
                metadata: None,
                actor_id: format!("reboot-{actor}"),
            }],
        });
        done(&self.fleet, M, &node, started, r).map(tonic::Response::new)
    }

    async fn service_list(
        &self,
        request: tonic::Request<()>,
    ) -> Result<tonic::Response<machine::ServiceListResponse>, Status> {
        const M: &str = "machine.MachineService/ServiceList";
        let (node, _peer, started) = self.begin(M, &request).await?;
        let r = Ok(machine::ServiceListResponse {
            messages: vec![machine::ServiceList {
                metadata: None,
                services: services(&node),
            }],
        });
        done(&self.fleet, M, &node, started, r).map(tonic::Response::new)
    }

    async fn version(
        &self,
        request: tonic::Request<()>,
    ) -> Result<tonic::Response<machine::VersionResponse>, Status> {
        const M: &str = "machine.MachineService/Version";
        let peer = request
            .extensions()
            .get::<Peer>()
            .cloned()
            .unwrap_or_default();
        let targets = Self::fanout_targets(&request, &peer);
        if targets.is_empty() {
            let (node, _peer, started) = self.begin(M, &request).await?;
            let r = Ok(machine::VersionResponse {
                messages: vec![self.version_message(&node)],
            });
            return done(&self.fleet, M, &node, started, r).map(tonic::Response::new);
        }
        // One-to-many: apid asks every target and tags each reply with it
        // (`internal/app/apid/pkg/backend/apid.go` `AppendInfo`: `metadata.hostname` is the
        // target as the client named it); a failing target becomes a reply holding only
        // metadata (`BuildError`: hostname, `err.Error()`, the gRPC status).
        self.authorize(M, &peer)?;
        let mut messages = Vec::with_capacity(targets.len());
        for target in targets {
            let started = Instant::now();
            let answer = match self.resolve(&target) {
                Ok(node) => match self.fault(M, &node, &peer, started).await {
                    Ok(()) => {
                        pause(self.fleet.timing.duration(Step::ApiCall)).await;
                        self.fleet.record(M, node.address(), started, true);
                        Ok(self.version_message(&node))
                    }
                    Err(s) => Err(s),
                },
                Err(s) => Err(s),
            };
            messages.push(match answer {
                Ok(mut m) => {
                    m.metadata = Some(common::Metadata {
                        hostname: target,
                        ..Default::default()
                    });
                    m
                }
                Err(s) => machine::Version {
                    metadata: Some(error_metadata(target, &s)),
                    ..Default::default()
                },
            });
        }
        Ok(tonic::Response::new(machine::VersionResponse { messages }))
    }
}

#[tonic::async_trait]
impl StorageService for Apid {
    async fn disks(
        &self,
        request: tonic::Request<()>,
    ) -> Result<tonic::Response<storage::DisksResponse>, Status> {
        const M: &str = "storage.StorageService/Disks";
        let (node, _peer, started) = self.begin(M, &request).await?;
        let configured = node.config().is_some();
        let disk = storage::Disk {
            size: 50 * 1024 * 1024 * 1024,
            model: "QEMU HARDDISK".into(),
            device_name: "/dev/sda".into(),
            name: String::new(),
            serial: "drive-scsi0".into(),
            modalias: "scsi:t-0x00".into(),
            uuid: String::new(),
            wwid: String::new(),
            r#type: storage::disk::DiskType::Hdd as i32,
            bus_path: "/pci0000:00/0000:00:05.0/virtio2/host2/target2:0:0/2:0:0:0".into(),
            system_disk: configured,
            subsystem: "/sys/class/block".into(),
            readonly: false,
        };
        let r = Ok(storage::DisksResponse {
            messages: vec![storage::Disks {
                metadata: None,
                disks: vec![disk],
            }],
        });
        done(&self.fleet, M, &node, started, r).map(tonic::Response::new)
    }
}

impl Apid {
    fn apply(
        &self,
        node: &Arc<Node>,
        peer: &Peer,
        req: machine::ApplyConfigurationRequest,
    ) -> Result<machine::ApplyConfigurationResponse, Status> {
        let mode = Mode::try_from(req.mode).map_err(|_| {
            Status::invalid_argument(format!(
                "incorrect mode '{}' specified for the apply config call",
                req.mode
            ))
        })?;
        let text = String::from_utf8_lossy(&req.data).into_owned();
        let reply = |mode: Mode, details: String| machine::ApplyConfigurationResponse {
            messages: vec![machine::ApplyConfiguration {
                metadata: None,
                warnings: Vec::new(),
                mode: mode as i32,
                mode_details: details,
            }],
        };

        if peer.maintenance && self.fleet.release == TalosRelease::V1_12 {
            // v1.12 maintenance service.
            if !matches!(mode, Mode::Try | Mode::Reboot | Mode::Auto) {
                return Err(Status::unimplemented(format!(
                    "apply configuration --mode='{}' is not supported in maintenance mode",
                    mode_flag(mode)
                )));
            }
            let config = match MachineConfig::parse(&text) {
                Ok(c) => c,
                Err(super::config::ConfigError::Parse(e)) => {
                    return Err(Status::new(
                        Code::Unknown,
                        format!("failed to parse config: {e}"),
                    ))
                }
                Err(super::config::ConfigError::Invalid(e)) => {
                    return Err(Status::invalid_argument(format!(
                        "configuration validation failed: {e}"
                    )))
                }
            };
            if req.dry_run {
                return Ok(machine::ApplyConfigurationResponse {
                    messages: vec![machine::ApplyConfiguration {
                        metadata: None,
                        warnings: Vec::new(),
                        mode: 0,
                        mode_details: "Dry run summary:\nNode is running in maintenance mode and does not have a config yet.".into(),
                    }],
                });
            }
            node.install(&self.fleet, Arc::new(config));
            return Ok(machine::ApplyConfigurationResponse {
                messages: vec![machine::ApplyConfiguration {
                    metadata: None,
                    warnings: Vec::new(),
                    mode: 0,
                    mode_details: String::new(),
                }],
            });
        }

        // The regular handler (v1.12/v1.13 machined), also serving maintenance mode in v1.13.
        if lock(&node.st).apply_rebooting {
            return Err(Status::failed_precondition(
                "configuration was already applied and node is rebooting, cannot apply more configuration changes until next reboot",
            ));
        }
        let in_maintenance = node.config().is_none();
        if !in_maintenance && !peer.has("os:admin") {
            return Err(not_authorized());
        }
        let config = MachineConfig::parse(&text)
            .map_err(|e| Status::invalid_argument(e.message().to_string()))?;
        let old = node.config();
        let needs_reboot = old.as_ref().and_then(|o| {
            if o.machine_type != config.machine_type {
                Some("machine type can't be changed without a reboot".to_string())
            } else {
                None
            }
        });
        let mut mode = mode;
        if in_maintenance && mode == Mode::Reboot {
            mode = Mode::NoReboot;
        }
        let mut details = match mode {
            Mode::Try | Mode::NoReboot => {
                if let (Some(why), false) = (&needs_reboot, in_maintenance) {
                    return Err(Status::invalid_argument(why.clone()));
                }
                "Applied configuration without a reboot".to_string()
            }
            Mode::Staged => "Staged configuration to be applied after the next reboot".to_string(),
            Mode::Auto => match (&needs_reboot, in_maintenance) {
                (Some(why), false) => {
                    mode = Mode::Reboot;
                    format!("Applied configuration with a reboot: {why}")
                }
                _ => {
                    mode = Mode::NoReboot;
                    "Applied configuration without a reboot".to_string()
                }
            },
            Mode::Reboot => "Applied configuration with a reboot".to_string(),
        };
        if req.dry_run {
            let diff = match &old {
                Some(o) if o.raw == config.raw => "No changes.".to_string(),
                Some(o) => line_diff(&o.raw, &config.raw),
                None => line_diff("", &config.raw),
            };
            return Ok(reply(
                mode,
                format!(
                    "Dry run summary:\n{details} (skipped in dry-run).\nConfig diff:\n\n{diff}"
                ),
            ));
        }
        let config = Arc::new(config);
        match mode {
            Mode::Try => {
                let timeout = req
                    .try_mode_timeout
                    .and_then(|d| Duration::try_from(d).ok())
                    .unwrap_or(Duration::from_secs(60));
                details.push_str(&format!(
                    "\nThe config is applied in 'try' mode and will be automatically reverted back in {}",
                    go_duration(timeout)
                ));
                self.apply_now(node, config.clone(), in_maintenance);
                let (n, f, previous) = (node.clone(), self.fleet.clone(), old.clone());
                let token = lock(&node.st).power.clone();
                self.fleet.spawn_until(token, async move {
                    tokio::time::sleep(timeout).await;
                    let still = n.config().is_some_and(|c| Arc::ptr_eq(&c, &config));
                    if still {
                        lock(&n.st).config = previous;
                        n.refresh_cluster(&f);
                    }
                });
            }
            Mode::NoReboot | Mode::Auto => self.apply_now(node, config, in_maintenance),
            Mode::Staged => lock(&node.st).staged = Some(config),
            Mode::Reboot => {
                {
                    let mut st = lock(&node.st);
                    st.staged = Some(config);
                    st.apply_rebooting = true;
                }
                node.reboot(&self.fleet);
            }
        }
        Ok(reply(mode, details))
    }

    fn apply_now(&self, node: &Arc<Node>, config: Arc<MachineConfig>, in_maintenance: bool) {
        if in_maintenance {
            node.install(&self.fleet, config);
        } else {
            lock(&node.st).config = Some(config);
            node.refresh_cluster(&self.fleet);
        }
    }

    async fn bootstrap_on(&self, node: &Arc<Node>) -> Result<machine::BootstrapResponse, Status> {
        let (services_up, config, etcd_data) = {
            let st = lock(&node.st);
            (st.services_up, st.config.clone(), st.etcd_data)
        };
        let Some(config) = config.filter(|_| services_up && node.phase() == NodePhase::Running)
        else {
            return Err(Status::failed_precondition(
                "bootstrap is not available yet",
            ));
        };
        if config.machine_type != MachineType::ControlPlane {
            return Err(match self.fleet.release {
                TalosRelease::V1_12 => Status::failed_precondition(
                    "bootstrap can only be performed on a control plane node",
                ),
                TalosRelease::V1_13 => {
                    Status::unimplemented("bootstrap is only available on control plane nodes")
                }
            });
        }
        pause(self.fleet.timing.duration(Step::BootstrapRpc)).await;
        // v1alpha1_server.go `Bootstrap` (v1.12.11 and v1.13.9): wait up to 5 s for the
        // time-sync condition, then FailedPrecondition "time is not in sync yet".
        if !lock(&node.st).time_synced {
            pause(self.fleet.timing.duration(Step::TimeSyncWait)).await;
            if !lock(&node.st).time_synced {
                return Err(Status::failed_precondition("time is not in sync yet"));
            }
        }
        if etcd_data || lock(&node.st).etcd_data {
            return Err(Status::already_exists("etcd data directory is not empty"));
        }
        node.begin_bootstrap(&self.fleet);
        Ok(machine::BootstrapResponse {
            messages: vec![machine::Bootstrap { metadata: None }],
        })
    }
}

impl Apid {
    /// v1alpha1_server.go `EtcdMemberList`. `machinehelper.CheckControlplane` first: a node
    /// whose machine type is not a control plane (a worker, or a node without a config, whose
    /// `MachineType` resource is `unknown`) answers `Unimplemented "member list is only
    /// available on control plane nodes"`. Then an etcd client (`internal/pkg/etcd/etcd.go`):
    /// `query_local` asks `localhost:2379`, otherwise the control-plane endpoints
    /// (`NewClientFromControlPlaneIPs`, answered by any member that runs). The client never
    /// fails fast: clientv3 calls with `grpc.WaitForReady(true)` (`client/v3/options.go`
    /// `defaultCallOpts`), so while no etcd it can reach runs, the call waits, and answers
    /// as soon as etcd comes up or fails with the caller's deadline (`toErr` returns
    /// `ctx.Err()`: `DeadlineExceeded "context deadline exceeded"`). Members come sorted by
    /// ID, as etcd's `RaftCluster.Members` sorts them; `legacy_members` holds their names.
    async fn etcd_members(
        &self,
        node: &Arc<Node>,
        query_local: bool,
        deadline: Option<Instant>,
    ) -> Result<machine::EtcdMemberListResponse, Status> {
        let endpoint = etcd::control_plane_endpoint(node, "member list")?;
        loop {
            let reachable = if query_local {
                node.etcd_serves(&endpoint)
            } else {
                self.fleet
                    .nodes_snapshot()
                    .iter()
                    .any(|n| n.etcd_serves(&endpoint))
            };
            if reachable {
                break;
            }
            let wait = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Status::deadline_exceeded("context deadline exceeded"));
                    }
                    left.min(ETCD_POLL)
                }
                None => ETCD_POLL,
            };
            tokio::time::sleep(wait).await;
        }
        let members: Vec<machine::EtcdMember> = etcd::members(&self.fleet, &endpoint)
            .into_iter()
            .map(|m| machine::EtcdMember {
                id: m.id,
                hostname: m.name,
                peer_urls: vec![format!("https://{}:2380", m.ip)],
                client_urls: vec![format!("https://{}:2379", m.ip)],
                is_learner: false,
            })
            .collect();
        Ok(machine::EtcdMemberListResponse {
            messages: vec![machine::EtcdMembers {
                metadata: None,
                legacy_members: members.iter().map(|m| m.hostname.clone()).collect(),
                members,
            }],
        })
    }
}

/// The admin kubeconfig wrapped "in .tar.gz to match Copy protocol" (one `kubeconfig` entry,
/// mode 0600), v1alpha1_server.go `Kubeconfig`.
fn kubeconfig_archive(node: &Node) -> Result<Vec<u8>, Status> {
    let config = node.config().ok_or_else(|| {
        Status::unimplemented("machine type is not set, cannot use kubeconfig API")
    })?;
    if config.machine_type != MachineType::ControlPlane {
        return Err(Status::unimplemented(
            "kubeconfig is only available on control plane nodes",
        ));
    }
    if config.k8s_ca_crt.is_none() || config.k8s_ca_key.is_none() {
        return Err(Status::failed_precondition(
            "k8s API server CA config is not set",
        ));
    }
    let yaml = super::kube::admin_kubeconfig(&config).map_err(Status::internal)?;
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(yaml.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gz);
    builder
        .append_data(&mut header, "kubeconfig", yaml.as_bytes())
        .map_err(|e| Status::internal(e.to_string()))?;
    let gz = builder
        .into_inner()
        .map_err(|e| Status::internal(e.to_string()))?;
    let mut gz = gz;
    gz.flush().map_err(|e| Status::internal(e.to_string()))?;
    gz.finish().map_err(|e| Status::internal(e.to_string()))
}

/// The service table `talosctl services` shows.
fn services(node: &Node) -> Vec<machine::ServiceInfo> {
    let (config, etcd_running, services_up) = {
        let st = lock(&node.st);
        (st.config.clone(), st.etcd_running, st.services_up)
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let ts = prost_types::Timestamp {
        seconds: now.as_secs() as i64,
        nanos: 0,
    };
    let svc = |id: &str, state: &str, healthy: Option<bool>, msg: &str| machine::ServiceInfo {
        id: id.into(),
        state: state.into(),
        events: Some(machine::ServiceEvents {
            events: vec![machine::ServiceEvent {
                msg: msg.into(),
                state: state.into(),
                ts: Some(ts),
            }],
        }),
        health: Some(machine::ServiceHealth {
            unknown: healthy.is_none(),
            healthy: healthy.unwrap_or(false),
            last_message: String::new(),
            last_change: Some(ts),
        }),
    };
    let mut out = vec![
        svc("apid", "Running", Some(true), "Health check successful"),
        svc(
            "auditd",
            "Running",
            None,
            "Started task auditd (PID 1) for container auditd",
        ),
        svc("machined", "Running", Some(true), "Health check successful"),
        svc(
            "syslogd",
            "Running",
            None,
            "Started task syslogd (PID 2) for container syslogd",
        ),
        svc("udevd", "Running", Some(true), "Health check successful"),
    ];
    if let Some(c) = config {
        let up = if services_up { "Running" } else { "Preparing" };
        out.push(svc(
            "containerd",
            up,
            services_up.then_some(true),
            "Health check successful",
        ));
        out.push(svc(
            "cri",
            up,
            services_up.then_some(true),
            "Health check successful",
        ));
        out.push(svc(
            "kubelet",
            up,
            services_up.then_some(true),
            "Health check successful",
        ));
        if c.machine_type == MachineType::ControlPlane {
            if etcd_running {
                out.push(svc(
                    "etcd",
                    "Running",
                    Some(true),
                    "Health check successful",
                ));
            } else {
                out.push(svc("etcd", "Preparing", None, "Running pre state"));
            }
            out.push(svc(
                "trustd",
                "Running",
                Some(true),
                "Health check successful",
            ));
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// A plain line listing of what changed (the lab does not render Talos' document diff).
fn line_diff(old: &str, new: &str) -> String {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    let mut out = Vec::new();
    for l in &old {
        if !new.contains(l) {
            out.push(format!("-{l}"));
        }
    }
    for l in &new {
        if !old.contains(l) {
            out.push(format!("+{l}"));
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let cases = [
            ("zero", Duration::ZERO, "0s"),
            ("minute", Duration::from_secs(60), "1m0s"),
            ("seconds", Duration::from_secs(5), "5s"),
            ("hour", Duration::from_secs(3661), "1h1m1s"),
            ("fraction", Duration::from_millis(1500), "1.5s"),
        ];
        for (name, d, want) in cases {
            assert_eq!(go_duration(d), want, "{name}");
        }
    }

    #[test]
    fn mode_flags() {
        assert_eq!(mode_flag(Mode::NoReboot), "no-reboot");
        assert_eq!(mode_flag(Mode::Staged), "staged");
    }
}
