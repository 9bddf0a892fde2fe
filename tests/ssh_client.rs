//! Interop tests of `clients::ssh` against a real OpenSSH `sshd` (Debian's openssh-server,
//! installed by `scripts/install-tools.sh`). Each test starts its own sshd on a free
//! 127.0.0.1 port, with a temporary config, host key and authorized_keys, and reads its log
//! (`sshd -D -e`) to count logins.
//!
//! sshd must run as root to log users in, so the tests need root (as on CI). Under `CI=true`
//! a missing sshd, or not being root, fails the tests; otherwise they print why and skip.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use freetier::clients::ssh::{
    fingerprint, parse_private_key, parse_public_key, wrap_command, Error, HostKeyPolicy, Options,
    Output, Pool, PrivateKey, Session, Target,
};
use freetier::clients::ErrorKind;
use tokio_util::sync::CancellationToken;

const MINUTE: Duration = Duration::from_secs(60);

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// sshd, or `None` (after saying why) when the tests may skip.
fn find_sshd() -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join("sshd"))
        .find(|p| p.is_file());
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let why = match (&found, root) {
        (None, _) => {
            "sshd not found (run `bash scripts/install-tools.sh`: it installs openssh-server)"
        }
        (Some(_), false) => "sshd must run as root to log users in; run the tests as root",
        (Some(_), true) => return found,
    };
    if on_ci() {
        panic!("{why}");
    }
    eprintln!("skipping the sshd interop test: {why}");
    None
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "", "-f"])
        .arg(path)
        .env("PATH", "/usr/bin:/bin:/usr/local/bin")
        .status()
        .expect("run ssh-keygen");
    assert!(st.success(), "ssh-keygen failed");
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// A real sshd on 127.0.0.1, killed (with every session process it forked) on drop.
struct Sshd {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    spawns: usize,
    log: Arc<Mutex<String>>,
}

impl Sshd {
    /// Starts sshd with a fresh host key and one authorized client key.
    fn start() -> Option<Sshd> {
        let bin = find_sshd()?;
        let dir = tempfile::tempdir().expect("temp dir");
        keygen(&dir.path().join("host_key"));
        keygen(&dir.path().join("client_key"));
        std::fs::copy(
            dir.path().join("client_key.pub"),
            dir.path().join("authorized_keys"),
        )
        .expect("authorized_keys");
        // A stand-in `sudo` on the sessions' PATH (see `non_root_commands_run_through_sudo`).
        let bin_dir = dir.path().join("bin");
        std::fs::create_dir(&bin_dir).expect("bin dir");
        std::fs::write(
            bin_dir.join("sudo"),
            "#!/bin/sh\n[ \"$1\" = -n ] || { echo 'sudo: -n missing' >&2; exit 99; }\nshift\n[ \"$1\" = -- ] && shift\necho sudo-ran >&2\nexec \"$@\"\n",
        )
        .expect("fake sudo");
        std::fs::set_permissions(
            bin_dir.join("sudo"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod fake sudo");
        // sshd refuses to start without its privilege separation directory; Debian's
        // service unit creates it, a container may not have it.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut s = Sshd {
            bin,
            dir,
            port,
            child: None,
            spawns: 0,
            log: Arc::default(),
        };
        s.spawn();
        Some(s)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// (Re)starts the daemon on `self.port` with the current host key.
    fn spawn(&mut self) {
        let d = self.dir.path().display();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nPubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nMaxStartups 100\nSetEnv PATH={d}/bin:/usr/local/bin:/usr/bin:/bin\n",
            port = self.port
        );
        std::fs::write(self.path("sshd_config"), config).expect("sshd_config");
        let mut child = Command::new(&self.bin)
            .args(["-D", "-e", "-f"])
            .arg(self.path("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sshd");
        let stderr = child.stderr.take().expect("sshd stderr");
        let log = self.log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut l) = log.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        self.child = Some(child);
        // Each start appends its own "Server listening" line to the one log.
        self.spawns += 1;
        let ready = format!("Server listening on 127.0.0.1 port {}", self.port);
        let want = self.spawns;
        self.wait_log(|l| l.matches(&ready).count() >= want, "sshd to listen");
    }

    fn log_text(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Polls sshd's log until `ok` holds (no fixed sleeps: the daemon says when).
    fn wait_log(&self, ok: impl Fn(&str) -> bool, what: &str) {
        let t = Instant::now();
        loop {
            let log = self.log_text();
            if ok(&log) {
                return;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "timed out waiting for {what}; sshd log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Logins sshd accepted so far.
    fn logins(&self) -> usize {
        self.log_text()
            .matches("Accepted publickey for root")
            .count()
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Kills the per-connection processes sshd forked: every open connection drops, the
    /// listener stays.
    fn drop_connections(&self) {
        for pid in descendants(self.pid()) {
            // SAFETY: plain kill(2) on a pid we found under our own child.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }

    /// Stops the daemon and every process it forked.
    fn stop(&mut self) {
        // Sessions first, so the listener still reaps them; then the listener.
        self.drop_connections();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn client_key(&self) -> Arc<PrivateKey> {
        Arc::new(parse_private_key(&read(&self.path("client_key"))).expect("client key"))
    }

    fn host_key_line(&self) -> String {
        read(&self.path("host_key.pub")).trim().to_string()
    }

    fn target(&self, policy: HostKeyPolicy) -> Target {
        Target {
            host: "127.0.0.1".into(),
            port: self.port,
            user: "root".into(),
            key: self.client_key(),
            host_key: policy,
        }
    }

    fn pinned(&self) -> Target {
        self.target(HostKeyPolicy::Pinned(
            parse_public_key(&self.host_key_line()).expect("host key"),
        ))
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Every process below `root`, from /proc.
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid …": comm may hold spaces, so split after the last ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for &(pid, ppid) in &parent_of {
            if ppid == p && pid != root && !out.contains(&pid) {
                out.push(pid);
                frontier.push(pid);
            }
        }
    }
    out
}

/// Whether `pid` is a live (not zombie) process.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

async fn connect(t: &Target) -> Result<Session, Error> {
    Session::connect(t, &Options::default(), &CancellationToken::new()).await
}

async fn run(s: &Session, cmd: &str) -> Output {
    s.exec(cmd, None, MINUTE, &CancellationToken::new())
        .await
        .unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_auth_returns_exit_code_stdout_and_stderr() {
    let Some(sshd) = Sshd::start() else { return };
    let s = connect(&sshd.pinned()).await.expect("login");
    let out = run(&s, "echo hello; echo oops >&2; exit 3").await;
    assert_eq!(out.code, Some(3));
    assert_eq!(out.stdout_text(), "hello\n");
    assert_eq!(out.stderr_text(), "oops\n");
    assert!(!out.success());
    assert_eq!(sshd.logins(), 1, "{}", sshd.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_signals_are_reported() {
    let Some(sshd) = Sshd::start() else { return };
    let s = connect(&sshd.pinned()).await.expect("login");
    let cases: [(&str, &str, Option<u32>, Option<&str>); 5] = [
        ("success", "true", Some(0), None),
        ("failure", "false", Some(1), None),
        ("largest code", "exit 255", Some(255), None),
        ("command not found", "no-such-command-here", Some(127), None),
        ("killed by a signal", "kill -KILL $$", None, Some("KILL")),
    ];
    for (name, cmd, code, signal) in cases {
        let out = run(&s, cmd).await;
        assert_eq!(out.code, code, "{name}");
        assert_eq!(out.signal.as_deref(), signal, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_host_key_is_refused_with_both_fingerprints() {
    let Some(sshd) = Sshd::start() else { return };
    keygen(&sshd.path("other_key"));
    let other = parse_public_key(&read(&sshd.path("other_key.pub"))).expect("other key");
    let err = connect(&sshd.target(HostKeyPolicy::Pinned(other.clone())))
        .await
        .expect_err("a wrong host key must be refused");
    assert_eq!(err.kind(), ErrorKind::Fatal);
    let Error::HostKeyMismatch { expected, seen, .. } = &err else {
        panic!("want HostKeyMismatch, got {err:?}");
    };
    // The fingerprints are the ones `ssh-keygen -l` prints for the same keys.
    let keygen_fp = |p: &Path| {
        let out = Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(p)
            .env("PATH", "/usr/bin:/bin:/usr/local/bin")
            .output()
            .expect("ssh-keygen -l");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(*expected, keygen_fp(&sshd.path("other_key.pub")));
    assert_eq!(*seen, keygen_fp(&sshd.path("host_key.pub")));
    assert_eq!(*expected, fingerprint(&other));
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{}", sshd.port)),
        "names the host: {msg}"
    );
    assert_eq!(sshd.logins(), 0, "no login after a refused host key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_key_names_user_and_host() {
    let Some(sshd) = Sshd::start() else { return };
    keygen(&sshd.path("stranger"));
    let mut t = sshd.pinned();
    t.key = Arc::new(parse_private_key(&read(&sshd.path("stranger"))).expect("key"));
    let err = connect(&t)
        .await
        .expect_err("an unknown key must be refused");
    assert!(matches!(err, Error::AuthRefused { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Fatal);
    let want = format!(
        "the server refused the key for root@127.0.0.1:{}",
        sshd.port
    );
    assert!(err.to_string().contains(&want), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_on_first_use_reports_the_key_seen_and_pool_pins_it() {
    let Some(mut sshd) = Sshd::start() else {
        return;
    };
    let pool = Pool::new(Options::default());
    let t = sshd.target(HostKeyPolicy::TrustOnFirstUse);
    let cancel = CancellationToken::new();
    let s = pool.session(&t, &cancel).await.expect("tofu login");
    // What the caller records in state: the host's .pub line, comment dropped.
    assert_eq!(s.host_key_openssh(), sshd.host_key_line());
    assert_eq!(
        parse_public_key(&s.host_key_openssh()).expect("recorded line parses"),
        parse_public_key(&sshd.host_key_line()).expect("host key"),
    );
    drop(s);

    // The host comes back with another key: the pool, having seen the first, refuses it.
    sshd.stop();
    std::fs::remove_file(sshd.path("host_key")).expect("rm host key");
    std::fs::remove_file(sshd.path("host_key.pub")).expect("rm host key");
    keygen(&sshd.path("host_key"));
    sshd.spawn();
    let err = pool
        .exec(&t, "true", None, MINUTE, &cancel)
        .await
        .expect_err("a changed key after first use must be refused");
    assert!(matches!(err, Error::HostKeyMismatch { .. }), "{err:?}");

    // A fresh pool (a new run, no key in state yet) trusts the new key.
    let fresh = Pool::new(Options::default());
    let out = fresh.exec(&t, "true", None, MINUTE, &cancel).await;
    assert!(out.expect("fresh tofu").success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_megabytes_each_way() {
    let Some(sshd) = Sshd::start() else { return };
    let s = connect(&sshd.pinned()).await.expect("login");
    const TEN_MB: usize = 10 * 1024 * 1024;
    let out = run(&s, "head -c 10485760 /dev/zero | tr '\\0' x").await;
    assert_eq!(out.code, Some(0));
    assert_eq!(out.stdout.len(), TEN_MB);
    assert!(out.stdout.iter().all(|&b| b == b'x'));

    // stdin and stdout at once: `cat` echoes while we still write, so reading and writing
    // must interleave or both sides stall.
    let input: Vec<u8> = (0..TEN_MB).map(|i| (i % 251) as u8).collect();
    let out = s
        .exec("cat", Some(&input), MINUTE, &CancellationToken::new())
        .await
        .expect("cat");
    assert_eq!(out.code, Some(0));
    assert!(out.stdout == input, "stdin came back unchanged");

    // A command that ignores its stdin does not hang the call.
    let out = s
        .exec("exit 0", Some(&input), MINUTE, &CancellationToken::new())
        .await
        .expect("ignored stdin");
    assert_eq!(out.code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_stops_the_running_command() {
    let Some(sshd) = Sshd::start() else { return };
    let s = Arc::new(connect(&sshd.pinned()).await.expect("login"));
    let pidfile = sshd.path("cmd.pid");
    let cmd = format!("echo $$ > {}; exec sleep 60", pidfile.display());
    let cancel = CancellationToken::new();
    let task = {
        let (s, cancel) = (s.clone(), cancel.clone());
        tokio::spawn(async move { s.exec(&cmd, None, MINUTE, &cancel).await })
    };
    // Stop arrives once the command is surely running.
    let t = Instant::now();
    let pid = loop {
        if let Some(pid) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        {
            break pid;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "command never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let stopped = Instant::now();
    cancel.cancel();
    let err = task.await.expect("join").expect_err("cancelled");
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "returned promptly"
    );
    // sshd forwarded SIGTERM to the command.
    let t = Instant::now();
    while alive(pid) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the remote command {pid} still runs after Stop\n{}",
            sshd.log_text()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The connection itself survives and serves the next command.
    assert_eq!(run(&s, "echo again").await.stdout_text(), "again\n");
    assert_eq!(sshd.logins(), 1);

    // Stop before the command starts: nothing runs.
    let cancelled = CancellationToken::new();
    cancelled.cancel();
    let err = s
        .exec("touch never", None, MINUTE, &cancelled)
        .await
        .expect_err("cancelled up front");
    assert_eq!(err.kind(), ErrorKind::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_command_timeout_abandons_a_slow_command() {
    let Some(sshd) = Sshd::start() else { return };
    let s = connect(&sshd.pinned()).await.expect("login");
    // The sleep is a child of the command's shell: killing the process group reaches it.
    let pidfile = sshd.path("bg.pid");
    let cmd = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
    let t = Instant::now();
    let err = s
        .exec(
            &cmd,
            None,
            Duration::from_secs(1),
            &CancellationToken::new(),
        )
        .await
        .expect_err("times out");
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(
        err.to_string().contains("did not finish within 1s"),
        "{err}"
    );
    let pid: u32 = read(&pidfile).trim().parse().expect("pid");
    let t = Instant::now();
    while alive(pid) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the timed-out command's child {pid} still runs"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A quick command on the same connection still has the full timeout.
    let out = s
        .exec(
            "echo ok",
            None,
            Duration::from_secs(30),
            &CancellationToken::new(),
        )
        .await
        .expect("fast command");
    assert_eq!(out.stdout_text(), "ok\n");
}

/// A TCP relay to sshd that can be frozen: it then holds both sockets open but forwards
/// nothing, like a peer that vanished without a FIN.
async fn freezable_relay(to: u16) -> (u16, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("relay");
    let port = listener.local_addr().expect("addr").port();
    let freeze = CancellationToken::new();
    let frozen = freeze.clone();
    tokio::spawn(async move {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await else {
            return;
        };
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, mut sw) = server.into_split();
        tokio::select! {
            _ = async {
                tokio::join!(
                    tokio::io::copy(&mut cr, &mut sw),
                    tokio::io::copy(&mut sr, &mut cw)
                )
            } => {}
            _ = frozen.cancelled() => {}
        }
        // Keep the sockets open, silent, until the test ends.
        std::future::pending::<()>().await;
        drop((cr, cw, sr, sw));
    });
    (port, freeze)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_notices_a_silent_peer() {
    let Some(sshd) = Sshd::start() else { return };
    let (port, freeze) = freezable_relay(sshd.port).await;
    let mut t = sshd.pinned();
    t.port = port;
    let opts = Options {
        keepalive_interval: Duration::from_millis(200),
        keepalive_max: 2,
        ..Options::default()
    };
    let s = Session::connect(&t, &opts, &CancellationToken::new())
        .await
        .expect("login through the relay");
    assert_eq!(run(&s, "echo up").await.stdout_text(), "up\n");
    freeze.cancel();
    let since = Instant::now();
    while !s.is_closed() {
        assert!(
            since.elapsed() < Duration::from_secs(20),
            "keepalives never gave up on a silent peer"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_reuses_one_connection_per_host() {
    let Some(sshd) = Sshd::start() else { return };
    let pool = Arc::new(Pool::new(Options::default()));
    let t = sshd.pinned();
    let cancel = CancellationToken::new();
    for i in 0..5 {
        let out = pool
            .exec(&t, &format!("echo {i}"), None, MINUTE, &cancel)
            .await
            .expect("exec");
        assert_eq!(out.stdout_text(), format!("{i}\n"));
    }
    // More commands at once than sshd's MaxSessions (10): they queue on the one connection.
    let mut tasks = Vec::new();
    for i in 0..15 {
        let (pool, t, cancel) = (pool.clone(), t.clone(), cancel.clone());
        tasks.push(tokio::spawn(async move {
            pool.exec(&t, &format!("sleep 0.2; echo {i}"), None, MINUTE, &cancel)
                .await
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let out = task
            .await
            .expect("join")
            .unwrap_or_else(|e| panic!("concurrent exec {i}: {e:?}\n{}", sshd.log_text()));
        assert_eq!(out.stdout_text(), format!("{i}\n"));
    }
    assert_eq!(
        sshd.logins(),
        1,
        "one login for 20 commands:\n{}",
        sshd.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_reconnects_after_the_connection_dropped() {
    let Some(sshd) = Sshd::start() else { return };
    let pool = Pool::new(Options::default());
    let t = sshd.pinned();
    let cancel = CancellationToken::new();
    let first = pool.session(&t, &cancel).await.expect("login");
    assert_eq!(run(&first, "echo 1").await.stdout_text(), "1\n");
    sshd.drop_connections();
    // Right after the drop: the pool notices (closed handle, or a channel that cannot
    // open) and logs in again; the command runs exactly once.
    let out = pool
        .exec(&t, "echo 2", None, MINUTE, &cancel)
        .await
        .expect("exec after drop");
    assert_eq!(out.stdout_text(), "2\n");
    assert!(first.is_closed());
    assert_eq!(sshd.logins(), 2, "{}", sshd.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_root_commands_run_through_sudo() {
    // No unprivileged login user exists on a bare CI machine, and creating one would change
    // the machine; so the wrapped command line a non-root session sends is run here, as
    // root, through a stand-in `sudo` on the session's PATH that checks for `-n`. This
    // proves the quoting survives the real remote shell; `wrap_command` itself, and that
    // only `root` skips sudo, are unit-tested in `clients::ssh`.
    let Some(sshd) = Sshd::start() else { return };
    let s = connect(&sshd.pinned()).await.expect("login");
    let cmd =
        r#"printf '%s|' "it's" 'a  b' "$((1+2))" | tr a-z A-Z; cat; echo; echo err >&2; exit 4"#;
    let out = s
        .exec(
            &wrap_command("ubuntu", cmd),
            Some(b"from stdin"),
            MINUTE,
            &CancellationToken::new(),
        )
        .await
        .expect("wrapped exec");
    assert_eq!(out.code, Some(4));
    assert_eq!(out.stdout_text(), "IT'S|A  B|3|from stdin\n");
    // The outer session (root) takes out its own pid line; the inner wrapper's stays.
    let stderr = out.stderr_text();
    let (pid_line, rest) = stderr.split_once('\n').expect("lines");
    assert!(pid_line.starts_with("freetier-ssh-pid="), "{stderr}");
    assert_eq!(rest, "sudo-ran\nerr\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_failures_are_classified() {
    // Needs no sshd, only ssh-keygen (from the same install): a closed port, and a listener
    // that accepts but never speaks SSH.
    if find_sshd().is_none() {
        return;
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let key = {
        let dir = tempfile::tempdir().expect("dir");
        keygen(&dir.path().join("k"));
        Arc::new(parse_private_key(&read(&dir.path().join("k"))).expect("key"))
    };
    let target = |port| Target {
        host: "127.0.0.1".into(),
        port,
        user: "root".into(),
        key: key.clone(),
        host_key: HostKeyPolicy::TrustOnFirstUse,
    };
    let err = connect(&target(closed)).await.expect_err("closed port");
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Transient);

    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listener");
    let port = silent.local_addr().expect("addr").port();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
        }
    });
    let opts = Options {
        connect_timeout: Duration::from_millis(300),
        ..Options::default()
    };
    let err = Session::connect(&target(port), &opts, &CancellationToken::new())
        .await
        .expect_err("silent server");
    assert!(matches!(err, Error::ConnectTimeout { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Transient);

    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::task::yield_now().await;
        stop.cancel();
    });
    let err = Session::connect(&target(port), &Options::default(), &cancel)
        .await
        .expect_err("stopped");
    assert_eq!(err.kind(), ErrorKind::Cancelled);
}
