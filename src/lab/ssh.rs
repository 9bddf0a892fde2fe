//! SSH on every host (russh server): public-key authentication for `root` with the lab's client
//! key only, stable Ed25519 host keys, `exec` requests run through `shell.rs`, and a bare
//! interactive shell.
//!
//! A refused key gets SSH_MSG_USERAUTH_FAILURE listing only `publickey`, which OpenSSH reports
//! as "Permission denied (publickey)." — as a Debian sshd with password logins disabled for root
//! (`PermitRootLogin prohibit-password`, the default) answers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::PublicKey;
use russh::server::{Auth, Msg, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use tokio::net::TcpListener;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio_util::sync::CancellationToken;

use super::host::HostRef;
use super::net::CancelIo;
use super::shell::{self, Chunk, Ctx, Proc, Stdin};
use super::LabInner;

/// The server identification a Debian trixie sshd sends (lab choice of package version).
const SERVER_ID: &str = "SSH-2.0-OpenSSH_10.0p2 Debian-7";

fn publickey_only() -> MethodSet {
    MethodSet::from(&[MethodKind::PublicKey][..])
}

fn config(host_key: &russh::keys::PrivateKey) -> Arc<russh::server::Config> {
    Arc::new(russh::server::Config {
        server_id: russh::SshId::Standard(SERVER_ID.into()),
        methods: publickey_only(),
        // OpenSSH answers a wrong public key at once; only password failures are delayed.
        auth_rejection_time: Duration::from_millis(5),
        auth_rejection_time_initial: Some(Duration::from_millis(0)),
        keys: vec![host_key.clone()],
        inactivity_timeout: Some(Duration::from_secs(3600)),
        nodelay: true,
        ..Default::default()
    })
}

/// Accepts SSH connections for one host until the lab stops.
pub(crate) async fn serve(lab: Arc<LabInner>, node: Option<usize>, listener: TcpListener) {
    let host = match node {
        Some(i) => HostRef::Node(i),
        None => HostRef::Bastion,
    };
    let spec = match host {
        HostRef::Node(i) => lab.hosts.get(i),
        HostRef::Bastion => lab.bastion.as_ref(),
    };
    let Some(spec) = spec else { return };
    let cfg = config(&spec.host_key);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = lab.cancel.cancelled() => break,
        };
        let Ok((stream, _peer)) = accepted else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let online = match host {
            HostRef::Node(i) => lab.world().nodes.get(i).map(|n| n.online).unwrap_or(false),
            HostRef::Bastion => true,
        };
        if !online {
            // A rebooting host: the connection goes nowhere.
            drop(stream);
            continue;
        }
        let conn = spec.conn_token().child_token();
        let handler = Handler {
            lab: lab.clone(),
            host,
            conn: conn.clone(),
            channels: HashMap::new(),
            client_key: lab.secrets.client_key.public_key().clone(),
        };
        let cfg = cfg.clone();
        let io = CancelIo::new(stream, conn.clone());
        lab.tracker.spawn(async move {
            let Ok(session) = russh::server::run_stream(cfg, io, handler).await else {
                return;
            };
            // The session ends on disconnect, or when `conn` fires and its stream fails.
            let _ = session.await;
            conn.cancel();
        });
    }
}

struct ChanState {
    stdin: Option<UnboundedSender<Vec<u8>>>,
    pty: bool,
    running: bool,
}

struct Handler {
    lab: Arc<LabInner>,
    host: HostRef,
    conn: CancellationToken,
    channels: HashMap<ChannelId, ChanState>,
    client_key: PublicKey,
}

impl Handler {
    fn key_ok(&self, user: &str, key: &PublicKey) -> bool {
        user == "root" && key.key_data() == self.client_key.key_data()
    }

    fn reject() -> Auth {
        Auth::Reject {
            proceed_with_methods: Some(publickey_only()),
            partial_success: false,
        }
    }

    /// Answers an exec or shell request: failure on an unknown channel, else success and
    /// [`Handler::start`].
    fn start_request(
        &mut self,
        channel: ChannelId,
        line: Option<String>,
        session: &mut Session,
    ) -> Result<(), russh::Error> {
        if !self.channels.contains_key(&channel) {
            session.channel_failure(channel)?;
            return Ok(());
        }
        session.channel_success(channel)?;
        self.start(channel, line, session);
        Ok(())
    }

    /// Runs `line` (or an interactive shell when `None`) on `channel`.
    fn start(&mut self, channel: ChannelId, line: Option<String>, session: &mut Session) {
        let Some(state) = self.channels.get_mut(&channel) else {
            return;
        };
        if state.running {
            return;
        }
        state.running = true;
        let (stdin_tx, stdin_rx) = unbounded_channel();
        state.stdin = Some(stdin_tx);
        let tty = state.pty;
        let handle = session.handle();
        let ctx = Ctx {
            lab: self.lab.clone(),
            host: self.host,
            conn: self.conn.clone(),
        };
        let conn = self.conn.clone();
        self.lab.tracker.spawn(async move {
            let (tx, mut rx) = unbounded_channel::<Chunk>();
            let stdin = Stdin::Channel {
                rx: stdin_rx,
                buf: Vec::new(),
                eof: false,
            };
            let work = async {
                let mut p = Proc::new(stdin, tx, tty, line.is_none());
                let status = match &line {
                    Some(l) => shell::run(&ctx, l, &mut p).await,
                    None => interactive(&ctx, &mut p).await,
                };
                drop(p);
                status
            };
            let pump = async {
                while let Some(c) = rx.recv().await {
                    let r = match c {
                        // A PTY turns \n into \r\n.
                        Chunk::Out(d) if tty => handle.data(channel, crlf(&d)).await.map(|_| ()),
                        Chunk::Err(d) if tty => handle.data(channel, crlf(&d)).await.map(|_| ()),
                        Chunk::Out(d) => handle.data(channel, d).await.map(|_| ()),
                        Chunk::Err(d) => handle.extended_data(channel, 1, d).await.map(|_| ()),
                    };
                    if r.is_err() {
                        break;
                    }
                }
            };
            let status = tokio::select! {
                (s, _) = async { tokio::join!(work, pump) } => s,
                _ = conn.cancelled() => return,
            };
            let _ = handle
                .exit_status_request(channel, shell::exit_status(status))
                .await;
            let _ = handle.eof(channel).await;
            let _ = handle.close(channel).await;
        });
    }
}

fn crlf(d: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(d.len() + 8);
    for b in d {
        if *b == b'\n' {
            out.push(b'\r');
        }
        out.push(*b);
    }
    out
}

/// A login shell: prompt, one command per line, until `exit` or end of input.
async fn interactive(ctx: &Ctx, p: &mut Proc) -> i32 {
    let prompt = format!("root@{}:~# ", ctx.host_name());
    let mut status = 0;
    loop {
        p.out(&prompt);
        let Some(line) = p.stdin.read_line().await else {
            break;
        };
        let t = line.trim();
        if t == "exit" || t == "logout" {
            break;
        }
        if t.is_empty() {
            continue;
        }
        status = shell::run(ctx, t, p).await;
        if status & 0x1_0000 != 0 {
            break;
        }
    }
    p.out("logout\n");
    status
}

impl russh::server::Handler for Handler {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(Self::reject())
    }

    async fn auth_password(&mut self, _user: &str, _password: &str) -> Result<Auth, Self::Error> {
        Ok(Self::reject())
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(if self.key_ok(user, offer.public_key) {
            Auth::Accept
        } else {
            Self::reject()
        })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(if self.key_ok(user, key.public_key) {
            Auth::Accept
        } else {
            Self::reject()
        })
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        _user: &str,
        _submethods: &str,
        _response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        Ok(Self::reject())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // The Channel object is not read: all traffic goes through the handler callbacks.
        self.channels.insert(
            channel.id(),
            ChanState {
                stdin: None,
                pty: false,
                running: false,
            },
        );
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(s) = self.channels.get_mut(&channel) {
            s.pty = true;
        }
        session.channel_success(channel)?;
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _variable_name: &str,
        _variable_value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let line = String::from_utf8_lossy(data).to_string();
        self.start_request(channel, Some(line), session)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.start_request(channel, None, session)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // No sftp in the lab.
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(tx) = self.channels.get(&channel).and_then(|s| s.stdin.as_ref()) {
            let _ = tx.send(data.to_vec());
        }
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(s) = self.channels.get_mut(&channel) {
            s.stdin = None;
        }
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.remove(&channel);
        Ok(())
    }
}
