//! SSH to the hosts (russh): public-key login, a host key checked against a pinned key (or
//! trusted on first use, when the user asks for it, and then reported so it can be recorded
//! in state), commands that return their exit code, stdout and stderr, a timeout per
//! command, and cancellation when Terraform sends Stop.
//!
//! A [`Pool`] keeps one connection per host and reuses it across commands, with keepalives;
//! it reconnects when the connection dropped. Commands run through `sudo -n` when the login
//! user is not root, so a host's default cloud user (`ubuntu`, `debian`) works as long as it
//! has password-less sudo.
//!
//! Nothing here knows about Terraform: no framework import. Secrets (the private key, stdin,
//! command lines) are never logged and never appear in an error.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{AuthResult, Handle};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, Sig};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::ErrorKind;

/// The key types callers hold (russh's, re-exported so callers need not name russh).
pub use russh::keys::{PrivateKey, PublicKey};

/// OpenSSH's default `MaxSessions`: more channels than this at once on one connection are
/// refused by sshd, so a [`Session`] queues commands past it.
const OPENSSH_MAX_SESSIONS: usize = 10;

/// Attempts at opening a channel sshd refused, and the first pause between them (doubled
/// each time): enough for sshd to free the slots of channels that just closed.
const OPEN_ATTEMPTS: u32 = 6;
const OPEN_RETRY_FIRST: Duration = Duration::from_millis(10);

/// The first stderr line of every command: the pid of the command's process group.
const PID_MARKER: &str = "freetier-ssh-pid=";
/// How far into stderr the pid line is looked for (past any login-shell warnings).
const PID_MARKER_SEARCH: usize = 64 * 1024;

/// How long the signal and channel close sent to an abandoned command may take; the
/// connection may be the thing that is gone.
const ABANDON_GRACE: Duration = Duration::from_secs(2);

/// Why an SSH operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The private key is not an unencrypted OpenSSH private key.
    #[error("the SSH private key cannot be read: give an unencrypted key in OpenSSH format (`ssh-keygen -p -N '' -f KEY` removes a passphrase)")]
    PrivateKey {
        /// What the key parser said (it never quotes the key).
        #[source]
        source: russh::keys::ssh_key::Error,
    },
    /// The private key is in OpenSSH format but protected by a passphrase.
    #[error("the SSH private key is encrypted: give it without a passphrase (`ssh-keygen -p -N '' -f KEY`)")]
    EncryptedPrivateKey,
    /// A pinned host key is not an OpenSSH public key line.
    #[error("the pinned host key is not an OpenSSH public key line (`ssh-ed25519 AAAA…`): copy it from `/etc/ssh/ssh_host_ed25519_key.pub` on the host or from `ssh-keyscan HOST`")]
    PublicKey {
        /// What the key parser said.
        #[source]
        source: russh::keys::ssh_key::Error,
    },
    /// The TCP connection could not be opened.
    #[error("cannot connect to {addr}: check the address and port, that sshd runs there, and that a firewall lets you through")]
    Connect {
        /// `host:port`.
        addr: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The connection and login took longer than the connect timeout.
    #[error(
        "connecting to {addr} took longer than {after:?}: check that the host is up and reachable"
    )]
    ConnectTimeout {
        /// `host:port`.
        addr: String,
        /// The connect timeout.
        after: Duration,
    },
    /// The host presented a key other than the pinned one.
    #[error("the host key of {addr} does not match: expected {expected}, the host sent {seen}; if the host was reinstalled, pin its new key, otherwise someone may be intercepting the connection")]
    HostKeyMismatch {
        /// `host:port`.
        addr: String,
        /// The pinned key's fingerprint (`SHA256:…`).
        expected: String,
        /// The presented key's fingerprint (`SHA256:…`).
        seen: String,
    },
    /// The server did not accept the private key for this user.
    #[error("the server refused the key for {user}@{addr}: add the public key to ~{user}/.ssh/authorized_keys on the host, or log in as another user")]
    AuthRefused {
        /// The login user.
        user: String,
        /// `host:port`.
        addr: String,
    },
    /// The SSH handshake or protocol failed (including the server hanging up mid-handshake).
    #[error(
        "the SSH session with {addr} failed: retry; if it persists, check the host's sshd log"
    )]
    Protocol {
        /// `host:port`.
        addr: String,
        /// What russh said.
        #[source]
        source: russh::Error,
    },
    /// The connection was gone before the command started; the command did not run.
    #[error("the SSH connection to {addr} was closed before the command started: retry")]
    Disconnected {
        /// `host:port`.
        addr: String,
    },
    /// The connection dropped while a command ran: it may or may not have finished.
    #[error("the SSH connection to {addr} dropped while a command ran: it may or may not have completed; check the host, then retry")]
    Dropped {
        /// `host:port`.
        addr: String,
    },
    /// The server refused to open a channel or to run the command.
    #[error(
        "the server at {addr} refused to run a command ({reason}): check sshd's MaxSessions and the user's shell"
    )]
    Refused {
        /// `host:port`.
        addr: String,
        /// The server's reason.
        reason: String,
    },
    /// A command did not finish within its timeout; it was signalled and abandoned.
    #[error("a command on {addr} did not finish within {after:?}: it was sent SIGTERM and abandoned; raise the timeout if the host is just slow")]
    Timeout {
        /// `host:port`.
        addr: String,
        /// The timeout.
        after: Duration,
    },
    /// Terraform asked to stop; the running command was signalled and abandoned.
    #[error("stopped while talking to {addr}")]
    Cancelled {
        /// `host:port`.
        addr: String,
    },
}

impl Error {
    /// How callers should treat this failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::PrivateKey { .. }
            | Error::EncryptedPrivateKey
            | Error::PublicKey { .. }
            | Error::HostKeyMismatch { .. }
            | Error::AuthRefused { .. } => ErrorKind::Fatal,
            Error::Connect { .. }
            | Error::ConnectTimeout { .. }
            | Error::Protocol { .. }
            | Error::Disconnected { .. }
            | Error::Dropped { .. }
            | Error::Refused { .. }
            | Error::Timeout { .. } => ErrorKind::Transient,
            Error::Cancelled { .. } => ErrorKind::Cancelled,
        }
    }
}

/// This module's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Reads an unencrypted private key in OpenSSH format (`-----BEGIN OPENSSH PRIVATE KEY-----`).
pub fn parse_private_key(openssh: &str) -> Result<PrivateKey> {
    let key = PrivateKey::from_openssh(openssh.trim().as_bytes())
        .map_err(|source| Error::PrivateKey { source })?;
    if key.is_encrypted() {
        return Err(Error::EncryptedPrivateKey);
    }
    Ok(key)
}

/// Reads a public key line (`ssh-ed25519 AAAA… comment`), as in a `.pub` file.
pub fn parse_public_key(line: &str) -> Result<PublicKey> {
    PublicKey::from_openssh(line.trim()).map_err(|source| Error::PublicKey { source })
}

/// A key's SHA-256 fingerprint as OpenSSH prints it (`SHA256:…`, unpadded base64).
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// A key as one OpenSSH line without comment (`ssh-ed25519 AAAA…`): the form recorded in
/// state and accepted back by [`parse_public_key`].
pub fn openssh_line(key: &PublicKey) -> String {
    let mut k = key.clone();
    k.set_comment("");
    k.to_openssh().unwrap_or_default().trim().to_string()
}

/// Quotes `s` as one word for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'_' | b'.' | b'/' | b':' | b'=' | b'@' | b',' | b'+'
                )
        });
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The command line actually sent for `cmd` when logged in as `user`. The login shell
/// prints its pid (the command's process group, so a stopped command can be killed) on
/// stderr, where [`Session::exec`] takes it out again, then becomes `sh -c CMD`, so every
/// command runs under the same POSIX shell whatever the login shell. For a user other than
/// root, `sudo -n` runs it (never prompting: a missing sudo rule fails at once instead of
/// hanging), so pipes, redirections and `&&` run as root too.
pub fn wrap_command(user: &str, cmd: &str) -> String {
    let sudo = if user == "root" { "" } else { "sudo -n -- " };
    format!(
        "printf '{PID_MARKER}%s\\n' \"$$\" >&2; exec {sudo}sh -c {}",
        shell_quote(cmd)
    )
}

/// How the host's key is checked.
#[derive(Clone, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Accept only this key.
    Pinned(PublicKey),
    /// Accept whatever key the host sends, the first time; [`Session::host_key`] tells which,
    /// so the caller records it. Only when the user opts in.
    TrustOnFirstUse,
}

impl fmt::Debug for HostKeyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostKeyPolicy::Pinned(k) => write!(f, "Pinned({})", fingerprint(k)),
            HostKeyPolicy::TrustOnFirstUse => f.write_str("TrustOnFirstUse"),
        }
    }
}

/// Where to log in, as whom, and which host key to trust.
#[derive(Clone)]
pub struct Target {
    /// Host name or address.
    pub host: String,
    /// SSH port (22).
    pub port: u16,
    /// Login user; commands go through `sudo -n` unless it is `root`.
    pub user: String,
    /// The private key to log in with.
    pub key: Arc<PrivateKey>,
    /// How the host key is checked.
    pub host_key: HostKeyPolicy,
}

impl Target {
    /// `host:port`, as errors name the host (IPv6 addresses in brackets).
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

// The private key stays out of Debug output, and so out of logs.
impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("key", &fingerprint(self.key.public_key()))
            .field("host_key", &self.host_key)
            .finish()
    }
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Limit on TCP connect, handshake and login together.
    pub connect_timeout: Duration,
    /// Send a keepalive when nothing was heard from the server for this long.
    pub keepalive_interval: Duration,
    /// Close the connection after this many unanswered keepalives.
    pub keepalive_max: usize,
    /// Commands run at once on one connection; more wait. sshd refuses channels past its
    /// `MaxSessions` (10 by default).
    pub max_channels: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            connect_timeout: Duration::from_secs(30),
            keepalive_interval: Duration::from_secs(15),
            keepalive_max: 3,
            max_channels: OPENSSH_MAX_SESSIONS,
        }
    }
}

/// What a command printed and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// The exit code; `None` when the command was killed by a signal or sshd sent none.
    pub code: Option<u32>,
    /// The signal that killed the command (`TERM`, `KILL`, …), if one did.
    pub signal: Option<String>,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
}

impl Output {
    /// Whether the command exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// stdout as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }

    /// stderr as text (invalid UTF-8 replaced).
    pub fn stderr_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stderr)
    }
}

/// russh's callbacks: checks the host key and remembers which one the host sent.
struct Client {
    policy: HostKeyPolicy,
    seen: Arc<Mutex<Option<PublicKey>>>,
}

impl russh::client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        // A host certificate is judged by the key it certifies: we pin keys, not CAs.
        let key = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(cert) => {
                PublicKey::new(cert.public_key().clone(), "")
            }
        };
        let ok = match &self.policy {
            HostKeyPolicy::Pinned(want) => want.key_data() == key.key_data(),
            HostKeyPolicy::TrustOnFirstUse => true,
        };
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(key);
        }
        Ok(ok)
    }
}

/// One logged-in SSH connection. Commands may run concurrently on it (each on its own
/// channel).
pub struct Session {
    handle: Handle<Client>,
    addr: String,
    user: String,
    host_key: PublicKey,
    channels: Semaphore,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("addr", &self.addr)
            .field("user", &self.user)
            .field("host_key", &fingerprint(&self.host_key))
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Session {
    /// Connects to `target`, checks its host key and logs in with the key. Gives up after
    /// `opts.connect_timeout`, or when `cancel` fires.
    pub async fn connect(
        target: &Target,
        opts: &Options,
        cancel: &CancellationToken,
    ) -> Result<Session> {
        let addr = target.addr();
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(Error::Cancelled { addr }),
            r = tokio::time::timeout(opts.connect_timeout, Session::login(target, opts)) => {
                r.unwrap_or(Err(Error::ConnectTimeout { addr, after: opts.connect_timeout }))
            }
        }
    }

    async fn login(target: &Target, opts: &Options) -> Result<Session> {
        let addr = target.addr();
        let config = russh::client::Config {
            keepalive_interval: Some(opts.keepalive_interval),
            keepalive_max: opts.keepalive_max,
            nodelay: true,
            ..Default::default()
        };
        let seen = Arc::new(Mutex::new(None));
        let client = Client {
            policy: target.host_key.clone(),
            seen: seen.clone(),
        };
        let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|source| Error::Connect {
                addr: addr.clone(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let seen_key = || seen.lock().ok().and_then(|s| s.clone());
        let mut handle = match russh::client::connect_stream(Arc::new(config), tcp, client).await {
            Ok(h) => h,
            Err(russh::Error::UnknownKey) => {
                let expected = match &target.host_key {
                    HostKeyPolicy::Pinned(k) => fingerprint(k),
                    HostKeyPolicy::TrustOnFirstUse => "any key".to_string(),
                };
                let seen = seen_key().map_or_else(|| "no key".to_string(), |k| fingerprint(&k));
                tracing::warn!(addr = %addr, %expected, %seen, "ssh: host key mismatch");
                return Err(Error::HostKeyMismatch {
                    addr,
                    expected,
                    seen,
                });
            }
            Err(source) => return Err(protocol(&addr, source)),
        };
        let Some(host_key) = seen_key() else {
            return Err(Error::Protocol {
                addr,
                source: russh::Error::UnknownKey,
            });
        };
        // RSA keys sign with the best SHA-2 hash the server accepts; sshd refuses SHA-1.
        let hash = if target.key.algorithm().is_rsa() {
            handle
                .best_supported_rsa_hash()
                .await
                .map_err(|e| protocol(&addr, e))?
                .flatten()
        } else {
            None
        };
        let auth = handle
            .authenticate_publickey(
                target.user.clone(),
                PrivateKeyWithHashAlg::new(target.key.clone(), hash),
            )
            .await
            .map_err(|e| protocol(&addr, e))?;
        if let AuthResult::Failure { .. } = auth {
            return Err(Error::AuthRefused {
                user: target.user.clone(),
                addr,
            });
        }
        tracing::info!(addr = %addr, user = %target.user, host_key = %fingerprint(&host_key), "ssh: connected");
        Ok(Session {
            handle,
            addr,
            user: target.user.clone(),
            host_key,
            channels: Semaphore::new(opts.max_channels.max(1)),
        })
    }

    /// The key the host presented (the one to record in state after trust on first use).
    pub fn host_key(&self) -> &PublicKey {
        &self.host_key
    }

    /// The host key as one OpenSSH line (`ssh-ed25519 AAAA…`).
    pub fn host_key_openssh(&self) -> String {
        openssh_line(&self.host_key)
    }

    /// `host:port` of this session.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Whether the connection is gone (closed by either side, or keepalives unanswered).
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// Closes the connection politely.
    pub async fn close(&self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }

    /// Runs `cmd` with `sh -c` (through `sudo -n` unless logged in as root), feeding it
    /// `stdin` then EOF, and returns its exit code and output. A non-zero exit is an
    /// [`Output`], not an error. After `timeout`, or when `cancel` fires, the command's
    /// process group is sent SIGTERM, its channel is closed, and the call returns
    /// [`Error::Timeout`] or [`Error::Cancelled`].
    pub async fn exec(
        &self,
        cmd: &str,
        stdin: Option<&[u8]>,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<Output> {
        let addr = || self.addr.clone();
        let started = tokio::time::Instant::now();
        let deadline = started + timeout;
        // Everything before the command starts is bounded by the same timeout and Stop.
        let (permit, channel) = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(Error::Cancelled { addr: addr() }),
            _ = tokio::time::sleep_until(deadline) => return Err(Error::Timeout { addr: addr(), after: timeout }),
            r = self.open() => r?,
        };
        let (mut rx, tx) = channel.split();
        tx.exec(true, wrap_command(&self.user, cmd))
            .await
            .map_err(|_| Error::Disconnected { addr: addr() })?;
        let program = cmd.split_whitespace().next().unwrap_or("");
        tracing::debug!(addr = %self.addr, program = %program, "ssh: command started");

        let feed = async {
            if let Some(input) = stdin {
                tx.data(input).await?;
            }
            tx.eof().await
        };
        let mut seen = Collect::default();
        let result = tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(Error::Cancelled { addr: addr() }),
            _ = tokio::time::sleep_until(deadline) => Err(Error::Timeout { addr: addr(), after: timeout }),
            _ = drain(&mut rx, feed, &mut seen) => seen.result(&self.addr),
        };
        if matches!(result, Err(Error::Cancelled { .. } | Error::Timeout { .. })) {
            drop(permit);
            let _ =
                tokio::time::timeout(ABANDON_GRACE, self.abandon(&tx, &mut rx, &mut seen)).await;
        }
        tracing::debug!(addr = %self.addr, program = %program, elapsed = ?started.elapsed(), ok = result.is_ok(), "ssh: command ended");
        result
    }

    /// Stops a command we no longer wait for. Closing its channel alone would not: sshd
    /// leaves a command that does not write running. So: the SSH `signal` request (which
    /// sshd honours for non-root logins; it refuses it for root, whose session it serves
    /// from the privileged monitor), then `kill` on the command's process group (sshd makes
    /// each command a session leader, whose pid the wrapper printed first).
    async fn abandon(
        &self,
        tx: &russh::ChannelWriteHalf<russh::client::Msg>,
        rx: &mut russh::ChannelReadHalf,
        seen: &mut Collect,
    ) {
        // Stop raced with the start: wait for the pid line.
        while seen.pid.is_none() && !seen.marker_done && !seen.ended() {
            let msg = rx.wait().await;
            seen.take(msg);
        }
        let _ = tx.signal(Sig::TERM).await;
        let _ = tx.close().await;
        // Once the command has ended its pid may be reused: kill nothing then.
        let Some(pid) = seen.pid.filter(|_| !seen.ended()) else {
            return;
        };
        let kill = if self.user == "root" {
            format!("kill -TERM -{pid}")
        } else {
            // The shell's builtin kill: procps' /usr/bin/kill takes `-PID` for an option.
            format!("sudo -n sh -c 'kill -TERM -{pid}'")
        };
        if let Ok((_permit, ch)) = self.open().await {
            let (mut krx, ktx) = ch.split();
            if ktx.exec(false, kill).await.is_ok() {
                while krx.wait().await.is_some() {}
            }
        }
        tracing::info!(addr = %self.addr, pid, "ssh: abandoned command signalled");
    }

    /// Opens a session channel once one of the connection's channel slots is free.
    async fn open(
        &self,
    ) -> Result<(
        tokio::sync::SemaphorePermit<'_>,
        russh::Channel<russh::client::Msg>,
    )> {
        let addr = || self.addr.clone();
        let permit = self
            .channels
            .acquire()
            .await
            .map_err(|_| Error::Disconnected { addr: addr() })?;
        let mut backoff = OPEN_RETRY_FIRST;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.handle.channel_open_session().await {
                Ok(c) => return Ok((permit, c)),
                // sshd frees a session slot only after its main loop has seen both CLOSEs, so
                // an open sent right behind a close can find all MaxSessions slots still
                // taken. Nothing ran: try again shortly.
                Err(russh::Error::ChannelOpenFailure(reason)) => {
                    if attempt >= OPEN_ATTEMPTS {
                        return Err(Error::Refused {
                            addr: addr(),
                            reason: format!("{reason:?}"),
                        });
                    }
                    tracing::debug!(addr = %self.addr, ?reason, attempt, "ssh: channel refused, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                Err(_) => return Err(Error::Disconnected { addr: addr() }),
            }
        }
    }
}

/// What a channel has said so far.
#[derive(Debug, Default)]
struct Collect {
    out: Output,
    /// The command's pid (and process group), from the wrapper's first stderr line.
    pid: Option<u32>,
    /// The pid line was found, or will not be.
    marker_done: bool,
    /// The server refused the exec request.
    refused: bool,
    /// The channel is closed.
    closed: bool,
}

impl Collect {
    fn take(&mut self, msg: Option<ChannelMsg>) {
        match msg {
            Some(ChannelMsg::Data { data }) => self.out.stdout.extend_from_slice(&data),
            Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                self.out.stderr.extend_from_slice(&data);
                if !self.marker_done {
                    self.find_marker();
                }
            }
            Some(ChannelMsg::ExitStatus { exit_status }) => self.out.code = Some(exit_status),
            Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                self.out.signal = Some(signal_text(&signal_name))
            }
            Some(ChannelMsg::Failure) => self.refused = true,
            Some(_) => {}
            None => self.closed = true,
        }
    }

    /// Takes the wrapper's pid line out of stderr. Lines before it (a login shell's
    /// warnings) stay.
    fn find_marker(&mut self) {
        let err = &self.out.stderr;
        let mut start = 0;
        while let Some(n) = err[start..].iter().position(|&b| b == b'\n') {
            let line = &err[start..start + n];
            let pid = line
                .strip_prefix(PID_MARKER.as_bytes())
                .and_then(|p| std::str::from_utf8(p).ok())
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(pid) = pid {
                self.pid = Some(pid);
                self.marker_done = true;
                self.out.stderr.drain(start..=start + n);
                return;
            }
            start += n + 1;
        }
        if err.len() > PID_MARKER_SEARCH {
            self.marker_done = true;
        }
    }

    /// The command has exited (or the channel is gone).
    fn ended(&self) -> bool {
        self.closed || self.out.code.is_some() || self.out.signal.is_some()
    }

    fn result(&mut self, addr: &str) -> Result<Output> {
        if self.out.code.is_some() || self.out.signal.is_some() {
            Ok(std::mem::take(&mut self.out))
        } else if self.refused {
            Err(Error::Refused {
                addr: addr.to_string(),
                reason: "exec request refused".into(),
            })
        } else {
            Err(Error::Dropped {
                addr: addr.to_string(),
            })
        }
    }
}

/// Reads the channel to its end while `feed` writes stdin. Stops feeding when the channel
/// ends: a command that exits without reading its input must not hang the call.
async fn drain(
    rx: &mut russh::ChannelReadHalf,
    feed: impl std::future::Future<Output = Result<(), russh::Error>>,
    seen: &mut Collect,
) {
    let mut feed = std::pin::pin!(feed);
    let mut fed = false;
    while !seen.closed {
        let msg = tokio::select! {
            r = &mut feed, if !fed => {
                // A write error means the channel is closing; the reader says why.
                let _ = r;
                fed = true;
                continue;
            }
            m = rx.wait() => m,
        };
        seen.take(msg);
    }
}

fn signal_text(sig: &Sig) -> String {
    match sig {
        Sig::Custom(name) => name.clone(),
        other => format!("{other:?}"),
    }
}

fn protocol(addr: &str, source: russh::Error) -> Error {
    match source {
        russh::Error::IO(source) => Error::Connect {
            addr: addr.to_string(),
            source,
        },
        source => Error::Protocol {
            addr: addr.to_string(),
            source,
        },
    }
}

/// One connection per host (and user), reused across commands; reconnected when it dropped.
/// After trust on first use, reconnections pin the key first seen, so a host cannot change
/// its key between two commands of one run.
#[derive(Debug, Default)]
pub struct Pool {
    opts: Options,
    slots: Mutex<HashMap<SlotKey, Arc<tokio::sync::Mutex<Slot>>>>,
}

/// A pool slot's key: host, port, login user.
type SlotKey = (String, u16, String);

/// One host's connection, and the key it showed first.
#[derive(Debug, Default)]
struct Slot {
    session: Option<Arc<Session>>,
    first_key: Option<PublicKey>,
}

impl Pool {
    /// An empty pool whose connections use `opts`.
    pub fn new(opts: Options) -> Pool {
        Pool {
            opts,
            slots: Mutex::default(),
        }
    }

    fn slot(&self, target: &Target) -> Arc<tokio::sync::Mutex<Slot>> {
        let key = (target.host.clone(), target.port, target.user.clone());
        let mut slots = match self.slots.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        slots.entry(key).or_default().clone()
    }

    /// The open connection to `target`, connecting (or reconnecting) when there is none.
    pub async fn session(
        &self,
        target: &Target,
        cancel: &CancellationToken,
    ) -> Result<Arc<Session>> {
        let slot = self.slot(target);
        let mut slot = slot.lock().await;
        if let Some(s) = &slot.session {
            if !s.is_closed() {
                return Ok(s.clone());
            }
            tracing::info!(addr = %s.addr(), "ssh: connection dropped, reconnecting");
        }
        let mut target = target.clone();
        if let (HostKeyPolicy::TrustOnFirstUse, Some(k)) = (&target.host_key, &slot.first_key) {
            target.host_key = HostKeyPolicy::Pinned(k.clone());
        }
        let s = Arc::new(Session::connect(&target, &self.opts, cancel).await?);
        slot.first_key.get_or_insert_with(|| s.host_key().clone());
        slot.session = Some(s.clone());
        Ok(s)
    }

    /// Runs `cmd` on `target` (see [`Session::exec`]). When the pooled connection turns out
    /// to be gone before the command started, reconnects once and runs it there; a command
    /// that may have started is never run twice.
    pub async fn exec(
        &self,
        target: &Target,
        cmd: &str,
        stdin: Option<&[u8]>,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<Output> {
        let s = self.session(target, cancel).await?;
        match s.exec(cmd, stdin, timeout, cancel).await {
            Err(Error::Disconnected { .. }) => {
                let s = self.session(target, cancel).await?;
                s.exec(cmd, stdin, timeout, cancel).await
            }
            r => r,
        }
    }

    /// Closes every connection.
    pub async fn close_all(&self) {
        let slots: Vec<_> = match self.slots.lock() {
            Ok(s) => s.values().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().values().cloned().collect(),
        };
        for slot in slots {
            if let Some(s) = slot.lock().await.session.take() {
                s.close().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_cases() {
        let cases = [
            ("plain word", "pvecm", "pvecm"),
            ("path", "/etc/pve/corosync.conf", "/etc/pve/corosync.conf"),
            ("empty", "", "''"),
            ("space", "a b", "'a b'"),
            ("single quote", "it's", r"'it'\''s'"),
            ("dollar", "$HOME", "'$HOME'"),
            ("double quotes", r#"say "hi""#, r#"'say "hi"'"#),
            ("newline", "a\nb", "'a\nb'"),
            ("glob", "*.conf", "'*.conf'"),
        ];
        for (name, input, want) in cases {
            assert_eq!(shell_quote(input), want, "{name}");
        }
    }

    #[test]
    fn wrap_command_cases() {
        const PID: &str = r#"printf 'freetier-ssh-pid=%s\n' "$$" >&2; exec "#;
        let cases = [
            (
                "root runs sh directly",
                "root",
                "pvecm status",
                "sh -c 'pvecm status'",
            ),
            (
                "non-root goes through sudo -n",
                "ubuntu",
                "pvecm status",
                "sudo -n -- sh -c 'pvecm status'",
            ),
            (
                "quotes survive",
                "debian",
                "echo 'a b' | tee /x",
                r"sudo -n -- sh -c 'echo '\''a b'\'' | tee /x'",
            ),
            (
                "a user named like root is not root",
                "rooter",
                "id -u",
                "sudo -n -- sh -c 'id -u'",
            ),
        ];
        for (name, user, cmd, want) in cases {
            assert_eq!(wrap_command(user, cmd), format!("{PID}{want}"), "{name}");
        }
    }

    fn chunks(parts: &[&str]) -> Collect {
        let mut c = Collect::default();
        for p in parts {
            c.take(Some(ChannelMsg::ExtendedData {
                data: bytes::Bytes::copy_from_slice(p.as_bytes()),
                ext: 1,
            }));
        }
        c
    }

    #[test]
    fn pid_line_is_taken_out_of_stderr() {
        let cases: [(&str, &[&str], Option<u32>, &str); 5] = [
            (
                "first line",
                &["freetier-ssh-pid=42\nboom\n"],
                Some(42),
                "boom\n",
            ),
            (
                "split across packets",
                &["freetier-ss", "h-pid=7", "\nx"],
                Some(7),
                "x",
            ),
            (
                "after a login-shell warning",
                &["bash: warning: setlocale\nfreetier-ssh-pid=9\n"],
                Some(9),
                "bash: warning: setlocale\n",
            ),
            (
                "not yet complete",
                &["freetier-ssh-pid=1"],
                None,
                "freetier-ssh-pid=1",
            ),
            (
                "only the first one",
                &["freetier-ssh-pid=1\nfreetier-ssh-pid=2\n"],
                Some(1),
                "freetier-ssh-pid=2\n",
            ),
        ];
        for (name, parts, pid, stderr) in cases {
            let c = chunks(parts);
            assert_eq!(c.pid, pid, "{name}");
            assert_eq!(String::from_utf8_lossy(&c.out.stderr), stderr, "{name}");
        }
        let flood = "x".repeat(PID_MARKER_SEARCH + 1);
        let c = chunks(&[&flood]);
        assert!(
            c.marker_done && c.pid.is_none(),
            "gives up on a huge stderr"
        );
    }

    #[test]
    fn channel_endings() {
        let mut c = Collect::default();
        c.take(Some(ChannelMsg::ExitStatus { exit_status: 3 }));
        c.take(None);
        assert_eq!(c.result("h").expect("exit").code, Some(3));
        let mut c = Collect::default();
        c.take(Some(ChannelMsg::Failure));
        c.take(None);
        assert!(matches!(c.result("h"), Err(Error::Refused { .. })));
        let mut c = Collect::default();
        c.take(None);
        assert!(matches!(c.result("h"), Err(Error::Dropped { .. })));
    }

    fn addr() -> String {
        "h:22".into()
    }

    #[test]
    fn error_kinds() {
        let io = || std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let cases: Vec<(&str, Error, ErrorKind)> = vec![
            (
                "encrypted key",
                Error::EncryptedPrivateKey,
                ErrorKind::Fatal,
            ),
            (
                "host key mismatch",
                Error::HostKeyMismatch {
                    addr: addr(),
                    expected: "SHA256:a".into(),
                    seen: "SHA256:b".into(),
                },
                ErrorKind::Fatal,
            ),
            (
                "auth refused",
                Error::AuthRefused {
                    user: "u".into(),
                    addr: addr(),
                },
                ErrorKind::Fatal,
            ),
            (
                "connect refused",
                Error::Connect {
                    addr: addr(),
                    source: io(),
                },
                ErrorKind::Transient,
            ),
            (
                "connect timeout",
                Error::ConnectTimeout {
                    addr: addr(),
                    after: Duration::from_secs(1),
                },
                ErrorKind::Transient,
            ),
            (
                "disconnected",
                Error::Disconnected { addr: addr() },
                ErrorKind::Transient,
            ),
            (
                "dropped",
                Error::Dropped { addr: addr() },
                ErrorKind::Transient,
            ),
            (
                "timeout",
                Error::Timeout {
                    addr: addr(),
                    after: Duration::from_secs(1),
                },
                ErrorKind::Transient,
            ),
            (
                "cancelled",
                Error::Cancelled { addr: addr() },
                ErrorKind::Cancelled,
            ),
        ];
        for (name, err, want) in cases {
            assert_eq!(err.kind(), want, "{name}");
            let msg = err.to_string();
            assert!(msg.starts_with(char::is_lowercase), "{name}: {msg}");
        }
    }

    #[test]
    fn mismatch_names_host_and_fingerprints() {
        let e = Error::HostKeyMismatch {
            addr: "10.0.0.10:22".into(),
            expected: "SHA256:aaa".into(),
            seen: "SHA256:bbb".into(),
        };
        let m = e.to_string();
        for part in ["10.0.0.10:22", "expected SHA256:aaa", "sent SHA256:bbb"] {
            assert!(m.contains(part), "{m}");
        }
        let e = Error::AuthRefused {
            user: "ubuntu".into(),
            addr: "10.0.0.10:22".into(),
        };
        assert!(e
            .to_string()
            .contains("the server refused the key for ubuntu@10.0.0.10:22"));
    }

    // A fixed Ed25519 key (generated by ssh-keygen for these tests only).
    const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACC/VLfJCRI3X1kVMvQ2KaprBhqzn4SnvkrVZaXondQp/QAAAJBgmvZgYJr2
YAAAAAtzc2gtZWQyNTUxOQAAACC/VLfJCRI3X1kVMvQ2KaprBhqzn4SnvkrVZaXondQp/Q
AAAECgnMCw+dc7n8gDLfTl8MUVjg3DkVTCgWsCRS7M6OQ/vL9Ut8kJEjdfWRUy9DYpqmsG
GrOfhKe+StVlpeid1Cn9AAAACHRlc3Qta2V5AQIDBAU=
-----END OPENSSH PRIVATE KEY-----
";

    #[test]
    fn keys_parse_and_print() {
        let k = parse_private_key(KEY).expect("key parses");
        let line = openssh_line(k.public_key());
        assert!(line.starts_with("ssh-ed25519 AAAA"), "{line}");
        assert!(!line.contains("test-key"), "comment dropped: {line}");
        let back = parse_public_key(&line).expect("line parses");
        assert_eq!(back.key_data(), k.public_key().key_data());
        assert!(fingerprint(&back).starts_with("SHA256:"));
        assert!(!fingerprint(&back).ends_with('='));
    }

    #[test]
    fn bad_keys_are_refused_without_echoing_them() {
        let cases = [
            ("garbage", "not a key"),
            (
                "pem rsa",
                "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n",
            ),
        ];
        for (name, input) in cases {
            let e = parse_private_key(input).expect_err(name);
            assert_eq!(e.kind(), ErrorKind::Fatal, "{name}");
            assert!(!e.to_string().contains(input), "{name}");
        }
        let e = parse_public_key("ssh-ed25519 !!!").expect_err("bad line");
        assert_eq!(e.kind(), ErrorKind::Fatal);
    }

    #[test]
    fn target_debug_hides_the_private_key() {
        let k = Arc::new(parse_private_key(KEY).expect("key"));
        let t = Target {
            host: "h".into(),
            port: 22,
            user: "root".into(),
            key: k,
            host_key: HostKeyPolicy::TrustOnFirstUse,
        };
        let d = format!("{t:?}");
        assert!(d.contains("SHA256:"), "{d}");
        assert!(!d.contains("OPENSSH"), "{d}");
        assert_eq!(t.addr(), "h:22");
        let v6 = Target {
            host: "::1".into(),
            ..t
        };
        assert_eq!(v6.addr(), "[::1]:22");
    }
}
