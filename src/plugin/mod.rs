//! The plugin host: what makes this binary a go-plugin server that Terraform and OpenTofu can
//! launch. The magic-cookie check, the one handshake line on stdout, AutoMTLS, the health and
//! controller services, logs, signals, and a debug mode that prints `TF_REATTACH_PROVIDERS`.
//!
//! Facts: ../shared/research/protocol.md §2 and clients.md §2. It serves whatever
//! [`framework::Provider`](crate::framework::Provider) it is given and knows nothing of freetier.

pub mod logs;
pub mod tls;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server as GrpcServer;

use crate::framework::{Provider, Server};
use crate::tfplugin5::{proto::provider_server::ProviderServer, Tfplugin5Service};

/// Generated from `proto/grpc_controller.proto` (go-plugin's controller).
#[allow(clippy::all, missing_docs)]
pub mod controller_proto {
    tonic::include_proto!("plugin");
}

/// The go-plugin magic cookie Terraform and OpenTofu set; never to change.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
/// Its value.
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// Protocol 5, the one we serve.
pub const PROTOCOL_VERSION: u32 = 5;
/// Terraform allows 64 MiB schema responses and the Go SDK 256 MiB messages; tonic's 4 MiB
/// default would refuse a large state.
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// How the host was asked to run.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// The provider's source address, for the debug-mode reattach line.
    pub address: String,
    /// Serve unmanaged, plaintext, and print `TF_REATTACH_PROVIDERS`.
    pub debug: bool,
}

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// Run by hand rather than by Terraform.
    #[error("this binary is a plugin: Terraform or OpenTofu start it; it is not meant to be run directly.\nInstall it as described in the README (filesystem mirror or dev_overrides), then run `tofu init` / `terraform init`.\nTo debug it, run it with --debug and set the TF_REATTACH_PROVIDERS value it prints.")]
    NotLaunchedByTerraform,
    /// The client certificate was unusable.
    #[error("{0}")]
    Tls(#[from] tls::TlsError),
    /// Binding or serving failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// gRPC serving failed.
    #[error("grpc server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Runs the host until Terraform shuts it down. Returns the process exit code.
pub fn run(provider: Arc<dyn Provider>, opts: HostOptions) -> Result<(), HostError> {
    if !opts.debug && std::env::var(MAGIC_COOKIE_KEY).as_deref() != Ok(MAGIC_COOKIE_VALUE) {
        return Err(HostError::NotLaunchedByTerraform);
    }
    let client_cert = match std::env::var("PLUGIN_CLIENT_CERT") {
        Ok(pem) if !pem.is_empty() && !opts.debug => {
            tls::warm_up_rng();
            Some(tls::parse_client_cert(&pem)?)
        }
        _ => None,
    };
    logs::init(logs::level_from_env());
    install_panic_hook();

    // One thread: a provider process lives for one short plan or apply, and spawning worker
    // threads cost more CPU than the work they would share (benches/provider.rs).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(provider, opts, client_cert))
}

/// Terraform prints its "plugin crashed" banner for a stderr line starting `panic: `.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(std::io::stderr(), "panic: {info}");
    }));
}

async fn serve(
    provider: Arc<dyn Provider>,
    opts: HostOptions,
    client_cert: Option<rustls::pki_types::CertificateDer<'static>>,
) -> Result<(), HostError> {
    if let Ok(v) = std::env::var("PLUGIN_PROTOCOL_VERSIONS") {
        if !v.split(',').any(|p| p.trim() == "5") {
            tracing::warn!(offered = %v, "the client does not offer protocol 5; it will report the mismatch");
        }
    }
    let identity = match &client_cert {
        Some(_) => Some(tls::generate_identity()?),
        None => None,
    };
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();

    let server = Arc::new(Server::new(provider));
    let provider_svc = ProviderServer::new(Tfplugin5Service::new(server.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let (health_reporter, health_svc) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("plugin", tonic_health::ServingStatus::Serving)
        .await;
    let controller =
        controller_proto::grpc_controller_server::GrpcControllerServer::new(Controller {
            shutdown: shutdown.clone(),
        });
    let router = GrpcServer::builder()
        .add_service(health_svc)
        .add_service(controller)
        .add_service(provider_svc);

    let cert_field = identity
        .as_ref()
        .map(tls::ServerIdentity::handshake_field)
        .unwrap_or_default();
    if opts.debug {
        print_reattach(&opts.address, addr);
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(out, "1|{PROTOCOL_VERSION}|tcp|{addr}|grpc|{cert_field}")?;
        out.flush()?;
    }
    tracing::debug!(%addr, tls = identity.is_some(), "plugin server listening");

    spawn_signal_handling(shutdown.clone(), opts.debug);
    spawn_orphan_watch(shutdown.clone());

    let stopped = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.cancelled().await;
            // Let the Shutdown reply reach the client, then go; a graceful drain could wait on
            // the client's open connection.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    match (identity, client_cert) {
        (Some(identity), Some(client)) => {
            let cfg = tls::server_config(&identity, client)?;
            let incoming = tls_incoming(listener, Arc::new(cfg), shutdown.clone());
            tokio::select! {
                r = router.serve_with_incoming_shutdown(incoming, shutdown.cancelled()) => r?,
                _ = stopped => {}
            }
        }
        _ => {
            let incoming = tokio_stream::StreamExt::map(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                |conn| conn.inspect(nodelay),
            );
            tokio::select! {
                r = router.serve_with_incoming_shutdown(incoming, shutdown.cancelled()) => r?,
                _ = stopped => {}
            }
        }
    }
    server.stop();
    tracing::debug!("plugin server stopped");
    Ok(())
}

/// Accepts TCP connections and completes TLS on each in its own task, so one slow or hostile
/// client cannot block the others. Failed handshakes are logged, not fatal.
fn tls_incoming(
    listener: TcpListener,
    cfg: Arc<rustls::ServerConfig>,
    shutdown: CancellationToken,
) -> tokio_stream::wrappers::ReceiverStream<
    Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>, std::io::Error>,
> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = shutdown.cancelled() => return,
            };
            let (tcp, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            };
            nodelay(&tcp);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(tls) => {
                        let _ = tx.send(Ok(tls)).await;
                    }
                    Err(e) => tracing::warn!(%peer, error = %e, "TLS handshake refused"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// Small gRPC writes must not wait for the client's delayed ACK (Nagle): that stalled every
/// exchange by 40 ms. Go sets TCP_NODELAY by default, so go-plugin servers never see this.
fn nodelay(tcp: &tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
}

/// go-plugin servers ignore SIGINT: the terminal's Ctrl-C reaches providers too, and
/// Terraform cancels through the Stop RPC instead. In debug mode Ctrl-C stops the server.
fn spawn_signal_handling(shutdown: CancellationToken, debug: bool) {
    tokio::spawn(async move {
        let Ok(mut sigint) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        else {
            return;
        };
        while sigint.recv().await.is_some() {
            if debug {
                shutdown.cancel();
                return;
            }
            tracing::debug!("ignoring SIGINT; Terraform sends Stop to cancel");
        }
    });
}

/// If Terraform dies without shutting us down, we are re-parented: exit rather than linger.
fn spawn_orphan_watch(shutdown: CancellationToken) {
    let parent = std::os::unix::process::parent_id();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if std::os::unix::process::parent_id() != parent {
                tracing::warn!("parent process went away; shutting down");
                shutdown.cancel();
                return;
            }
        }
    });
}

fn print_reattach(address: &str, addr: SocketAddr) {
    let reattach = serde_json::json!({
        address: {
            "Protocol": "grpc",
            "ProtocolVersion": PROTOCOL_VERSION,
            "Pid": std::process::id(),
            "Test": true,
            "Addr": {"Network": "tcp", "String": addr.to_string()},
        }
    });
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "freetier provider is serving in debug mode (plaintext, unmanaged)."
    );
    let _ = writeln!(
        out,
        "Run Terraform or OpenTofu with this in the environment; Ctrl-C here stops the provider:\n"
    );
    let _ = writeln!(out, "\tTF_REATTACH_PROVIDERS='{reattach}'\n");
    let _ = out.flush();
}

/// go-plugin's controller: Shutdown makes the process exit promptly. Without it the client
/// waits 2 s per provider process before killing it.
struct Controller {
    shutdown: CancellationToken,
}

#[tonic::async_trait]
impl controller_proto::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(
        &self,
        _: tonic::Request<controller_proto::Empty>,
    ) -> Result<tonic::Response<controller_proto::Empty>, tonic::Status> {
        tracing::debug!("shutdown requested by the client");
        self.shutdown.cancel();
        Ok(tonic::Response::new(controller_proto::Empty {}))
    }
}
