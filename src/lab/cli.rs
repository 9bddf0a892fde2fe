//! `freetier lab up | down | status`: a lab with its state in a folder.
//!
//! `up` starts the lab as a background process (it re-executes the current binary as
//! `<exe> lab up --foreground …`), waits until it serves, and prints how to reach it.
//! `--foreground` serves in the terminal until SIGINT/SIGTERM. The folder holds `lab.json`
//! (hosts, addresses, credentials), `oci.tfstate` (layer-1 outputs), `ssh/id_ed25519` (client
//! key), `lab.pid`, `lab.log`, and the hosts' keys, which stay across restarts like the address
//! base does. `down` sends SIGTERM, waits for the process to exit, and checks that no port is
//! left bound.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::io::Write;

use super::talos_guests::TalosLab;
use super::{faults, HostOs, Lab, LabConfig, LabState, Tier};

// println!/eprintln! panic on a closed pipe (`lab status | head`); these ignore it.
macro_rules! say {
    ($($t:tt)*) => {{ let _ = writeln!(std::io::stdout(), $($t)*); }};
}
macro_rules! warn {
    ($($t:tt)*) => {{ let _ = writeln!(std::io::stderr(), $($t)*); }};
}

const USAGE: &str = "\
usage: freetier lab <command> [options]

commands:
  up      start a lab in --dir (in the background unless --foreground)
  down    stop the lab running in --dir
  status  show hosts, addresses and credentials of the lab in --dir

options:
  --dir DIR            state folder (required)
  --tier TIER          always_free (default, 2 hosts) or pay_as_you_go (3 hosts)
  --hosts N            number of Proxmox VE hosts (default: what the tier fits)
  --time-scale X       0 = instant, 1 = realistic (default 1)
  --kvm                offer KVM on the hosts (OCI A1 has none; default off)
  --host-os OS         proxmox (default: Proxmox VE for Layer 2) or talos (Talos in
                       maintenance mode, for Layer 3's placement \"instances\")
  --no-bastion         no bastion host
  --faults FILE        fault rules (JSON) active from the start
  --seed N             seed for probabilistic faults
  --latency OP=SECONDS an operation's duration before --time-scale (repeatable), e.g.
                       host.first_boot=600 keeps the hosts' first-boot cloud-init running
  --foreground         serve in this terminal (up)
  --json               machine-readable output (status)
";

/// Runs `freetier lab ARGS…` (the words after `lab`); returns the exit code.
pub async fn run_cli(args: &[String]) -> i32 {
    match parse(args) {
        Ok(Cmd::Help) => {
            let _ = write!(std::io::stdout(), "{USAGE}");
            0
        }
        Ok(Cmd::Up(o)) if o.foreground => up_foreground(o).await,
        Ok(Cmd::Up(o)) => up_background(o, args).await,
        Ok(Cmd::Down { dir }) => down(&dir).await,
        Ok(Cmd::Status { dir, json }) => status(&dir, json),
        Err(e) => {
            warn!("freetier lab: {e}\nrun 'freetier lab help' for the options");
            2
        }
    }
}

#[derive(Debug)]
struct UpOpts {
    dir: PathBuf,
    config: LabConfig,
    foreground: bool,
}

#[derive(Debug)]
enum Cmd {
    Help,
    Up(UpOpts),
    Down { dir: PathBuf },
    Status { dir: PathBuf, json: bool },
}

fn parse(args: &[String]) -> Result<Cmd, String> {
    let Some(cmd) = args.first().map(String::as_str) else {
        return Ok(Cmd::Help);
    };
    if matches!(cmd, "help" | "-h" | "--help") {
        return Ok(Cmd::Help);
    }
    if !matches!(cmd, "up" | "down" | "status") {
        return Err(format!(
            "unknown command '{cmd}' (expected up, down or status)"
        ));
    }
    let mut dir = None;
    let mut tier = None;
    let mut hosts = None;
    let mut time_scale = None;
    let mut kvm = false;
    let mut bastion = true;
    let mut faults_file = None;
    let mut seed = None;
    let mut latency = std::collections::BTreeMap::new();
    let mut foreground = false;
    let mut json = false;
    let mut host_os = HostOs::Proxmox;
    let mut i = 1;
    let value = |i: usize, name: &str| -> Result<String, String> {
        args.get(i + 1)
            .cloned()
            .filter(|v| !v.starts_with("--"))
            .ok_or_else(|| format!("{name} needs a value"))
    };
    while i < args.len() {
        let a = args[i].as_str();
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (a, None),
        };
        let takes_value = matches!(
            name,
            "--dir"
                | "--tier"
                | "--hosts"
                | "--time-scale"
                | "--faults"
                | "--seed"
                | "--host-os"
                | "--latency"
        );
        let v = if takes_value {
            match inline {
                Some(v) => Some(v),
                None => {
                    let v = value(i, name)?;
                    i += 1;
                    Some(v)
                }
            }
        } else {
            if inline.is_some() {
                return Err(format!("{name} takes no value"));
            }
            None
        };
        let only = |ok: &[&str]| -> Result<(), String> {
            if ok.contains(&cmd) {
                Ok(())
            } else {
                Err(format!("{name} does not apply to 'lab {cmd}'"))
            }
        };
        match name {
            "--dir" => dir = v.map(PathBuf::from),
            "--tier" => {
                only(&["up"])?;
                let t = v.unwrap_or_default();
                tier = Some(Tier::parse(&t).ok_or_else(|| {
                    format!("--tier must be always_free or pay_as_you_go, not '{t}'")
                })?);
            }
            "--hosts" => {
                only(&["up"])?;
                let t = v.unwrap_or_default();
                hosts = Some(
                    t.parse::<u32>()
                        .map_err(|_| format!("--hosts must be a whole number, not '{t}'"))?,
                );
            }
            "--time-scale" => {
                only(&["up"])?;
                let t = v.unwrap_or_default();
                let x = t
                    .parse::<f64>()
                    .map_err(|_| format!("--time-scale must be a number, not '{t}'"))?;
                time_scale = Some(x);
            }
            "--faults" => {
                only(&["up"])?;
                faults_file = v.map(PathBuf::from);
            }
            "--seed" => {
                only(&["up"])?;
                let t = v.unwrap_or_default();
                seed = Some(
                    t.parse::<u64>()
                        .map_err(|_| format!("--seed must be a whole number, not '{t}'"))?,
                );
            }
            "--kvm" => {
                only(&["up"])?;
                kvm = true;
            }
            "--latency" => {
                only(&["up"])?;
                let t = v.unwrap_or_default();
                let (op, secs) = t
                    .split_once('=')
                    .ok_or_else(|| format!("--latency takes OP=SECONDS, not '{t}'"))?;
                if !super::LatencyTable::rows().any(|(name, _, _)| name == op) {
                    return Err(format!(
                        "--latency: no operation '{op}' in the lab's latency table"
                    ));
                }
                let secs: f64 = secs
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| {
                        format!("--latency {op}: give seconds as a number from 0, not '{secs}'")
                    })?;
                latency.insert(op.to_string(), secs);
            }
            "--host-os" => {
                only(&["up"])?;
                let t = v.unwrap_or_default();
                host_os = HostOs::parse(&t)
                    .ok_or_else(|| format!("--host-os must be proxmox or talos, not '{t}'"))?;
            }
            "--no-bastion" => {
                only(&["up"])?;
                bastion = false;
            }
            "--foreground" => {
                only(&["up"])?;
                foreground = true;
            }
            "--json" => {
                only(&["status"])?;
                json = true;
            }
            other => return Err(format!("unknown option '{other}' for 'lab {cmd}'")),
        }
        i += 1;
    }
    let dir = dir.ok_or_else(|| format!("'lab {cmd}' needs --dir DIR (the lab's state folder)"))?;
    match cmd {
        "down" => Ok(Cmd::Down { dir }),
        "status" => Ok(Cmd::Status { dir, json }),
        _ => {
            let tier = tier.unwrap_or(Tier::AlwaysFree);
            let mut config = match tier {
                Tier::AlwaysFree => LabConfig::always_free(),
                Tier::PayAsYouGo => LabConfig {
                    tier,
                    ..LabConfig::default()
                },
            };
            if let Some(h) = hosts {
                config.hosts = h;
            }
            if let Some(t) = time_scale {
                config.time_scale = t;
            }
            config.kvm = kvm;
            config.bastion = bastion;
            config.latency_overrides.extend(latency);
            config.host_os = host_os;
            if let Some(f) = faults_file {
                let text = std::fs::read_to_string(&f)
                    .map_err(|e| format!("--faults {}: {e}", f.display()))?;
                let (rules, file_seed) = faults::parse_fault_file(&text)
                    .map_err(|e| format!("--faults {}: {e}", f.display()))?;
                config.faults = rules;
                if let Some(s) = file_seed {
                    config.fault_seed = s;
                }
            }
            if let Some(s) = seed {
                config.fault_seed = s;
            }
            config.state_dir = Some(dir.clone());
            config.validate().map_err(|e| e.to_string())?;
            Ok(Cmd::Up(UpOpts {
                dir,
                config,
                foreground,
            }))
        }
    }
}

fn pid_alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // A zombie (exited, not yet reaped) counts as gone.
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        if let Some(state) = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
        {
            if state == "Z" || state == "X" {
                return false;
            }
        }
    }
    // SAFETY: kill with signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

/// Whether process `pid` is a `freetier lab up` serving `dir`: its command line (from
/// `/proc/PID/cmdline`) says `lab up`, and its `--dir`, taken from its own working directory,
/// is `dir`. `Err` says what the process is instead.
fn is_lab_serving(pid: u32, dir: &Path) -> Result<(), String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map_err(|_| "a process whose command line cannot be read".to_string())?;
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).to_string())
        .collect();
    let shown = || format!("`{}`", args.join(" "));
    if !args.windows(2).any(|w| w[0] == "lab" && w[1] == "up") {
        return Err(shown());
    }
    let given = args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix("--dir=")
            .map(str::to_string)
            .or_else(|| (a == "--dir").then(|| args.get(i + 1).cloned()).flatten())
    });
    let Some(given) = given else {
        return Err(shown());
    };
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
    let theirs = cwd.join(given).canonicalize().ok();
    let ours = dir.canonicalize().ok();
    if theirs.is_some() && theirs == ours {
        Ok(())
    } else {
        Err(shown())
    }
}

fn read_pid(dir: &Path) -> Option<u32> {
    std::fs::read_to_string(dir.join("lab.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn read_state(dir: &Path) -> Option<LabState> {
    serde_json::from_str(&std::fs::read_to_string(dir.join("lab.json")).ok()?).ok()
}

/// Keeps the address base of a state folder across restarts.
fn load_base(dir: &Path) -> Option<std::net::Ipv4Addr> {
    let s = std::fs::read_to_string(dir.join("lab-base")).ok()?;
    s.trim().parse().ok()
}

fn check_not_running(dir: &Path) -> Result<(), String> {
    if let Some(pid) = read_pid(dir) {
        if pid_alive(pid) {
            return Err(format!(
                "a lab is already running in {} (pid {pid}); run 'freetier lab down --dir {}' first",
                dir.display(),
                dir.display()
            ));
        }
        let _ = std::fs::remove_file(dir.join("lab.pid"));
    }
    Ok(())
}

async fn up_foreground(mut o: UpOpts) -> i32 {
    if let Err(e) = std::fs::create_dir_all(&o.dir) {
        warn!("freetier lab: {}: {e}", o.dir.display());
        return 1;
    }
    if let Err(e) = check_not_running(&o.dir) {
        warn!("freetier lab: {e}");
        return 1;
    }
    if o.config.base.is_none() {
        o.config.base = load_base(&o.dir);
    }
    let pidfile = o.dir.join("lab.pid");
    if let Err(e) = std::fs::write(&pidfile, format!("{}\n", std::process::id())) {
        warn!("freetier lab: {}: {e}", pidfile.display());
        return 1;
    }
    let started = Instant::now();
    // VMs booted from a cidata ISO become emulated Talos nodes.
    let mut lab = TalosLab::start(o.config.clone()).await;
    if lab.is_err() && o.config.base.is_some() {
        // The remembered base is taken by someone else: pick a new one.
        o.config.base = None;
        lab = TalosLab::start(o.config.clone()).await;
    }
    let TalosLab { lab, guests } = match lab {
        Ok(l) => l,
        Err(e) => {
            let _ = std::fs::remove_file(&pidfile);
            warn!("freetier lab: cannot start: {e}");
            return 1;
        }
    };
    let _ = std::fs::write(o.dir.join("lab-base"), format!("{}\n", lab.base()));
    warn!(
        "lab started in {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    print_status(&o.dir, &lab.state(), true);
    let stop_reason = wait_for_stop(&lab).await;
    warn!("lab: {stop_reason}, stopping");
    let _ = TalosLab { lab, guests }.stop().await;
    let _ = std::fs::remove_file(o.dir.join("lab.json"));
    let _ = std::fs::remove_file(&pidfile);
    warn!("lab stopped");
    0
}

async fn wait_for_stop(lab: &Lab) -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        lab.stopped().await;
        return "stop requested";
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
        _ = lab.stopped() => "stop requested",
    }
}

async fn up_background(o: UpOpts, args: &[String]) -> i32 {
    if let Err(e) = std::fs::create_dir_all(&o.dir) {
        warn!("freetier lab: {}: {e}", o.dir.display());
        return 1;
    }
    if let Err(e) = check_not_running(&o.dir) {
        warn!("freetier lab: {e}");
        return 1;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            warn!("freetier lab: cannot find this program to start the lab in the background: {e}");
            return 1;
        }
    };
    let log_path = o.dir.join("lab.log");
    let log = match std::fs::File::create(&log_path) {
        Ok(f) => f,
        Err(e) => {
            warn!("freetier lab: {}: {e}", log_path.display());
            return 1;
        }
    };
    let log2 = match log.try_clone() {
        Ok(f) => f,
        Err(e) => {
            warn!("freetier lab: {}: {e}", log_path.display());
            return 1;
        }
    };
    let _ = std::fs::remove_file(o.dir.join("lab.json"));
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("lab").arg("up").arg("--foreground");
    cmd.args(args.iter().skip(1));
    cmd.stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log2);
    {
        use std::os::unix::process::CommandExt;
        // Its own process group: a Ctrl-C in this terminal does not reach the lab.
        cmd.process_group(0);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            warn!("freetier lab: cannot start the lab process: {e}");
            return 1;
        }
    };
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(st) = read_state(&o.dir) {
            if st.pid == Some(pid) {
                print_status(&o.dir, &st, true);
                say!(
                    "\nstop it with: freetier lab down --dir {}",
                    o.dir.display()
                );
                return 0;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            warn!(
                "freetier lab: the lab process exited ({status}):\n{}",
                log.trim_end()
            );
            return 1;
        }
        if Instant::now() > deadline {
            warn!(
                "freetier lab: the lab did not come up within 30 s; see {}",
                log_path.display()
            );
            let _ = child.kill();
            return 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn down(dir: &Path) -> i32 {
    let Some(pid) = read_pid(dir) else {
        say!(
            "no lab is running in {} (no lab.pid); nothing to stop",
            dir.display()
        );
        return 0;
    };
    let state = read_state(dir);
    if pid_alive(pid) {
        // A pidfile outlives its lab, and the pid may since belong to anything else.
        if let Err(what) = is_lab_serving(pid, dir) {
            warn!(
                "freetier lab: {}/lab.pid names pid {pid}, which is {what}, not this lab; \
                 not signalling it. If the lab is gone, remove {}/lab.pid.",
                dir.display(),
                dir.display()
            );
            return 1;
        }
        // SAFETY: sending SIGTERM to the lab serving `dir`, checked just above.
        unsafe {
            libc::kill(pid as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while pid_alive(pid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if pid_alive(pid) {
            warn!("freetier lab: pid {pid} did not stop within 20 s; killing it");
            // SAFETY: as above, the lab's own pid.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while pid_alive(pid) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let _ = std::fs::remove_file(dir.join("lab.pid"));
    let _ = std::fs::remove_file(dir.join("lab.json"));
    if pid_alive(pid) {
        warn!("freetier lab: pid {pid} is still running");
        return 1;
    }
    // Check that every port the lab had is free again.
    let mut busy = Vec::new();
    if let Some(st) = state {
        for url in [&st.control_url, &st.files_url] {
            let addr = url.trim_start_matches("http://");
            if !addr.is_empty() && std::net::TcpListener::bind(addr).is_err() {
                busy.push(addr.to_string());
            }
        }
        for h in &st.hosts {
            let mut ports = vec![h.ssh_port];
            if h.api_url.is_some() {
                ports.push(super::net::API_PORT);
            }
            if let Some(q) = h.qnetd_port {
                ports.push(q);
            }
            for port in ports {
                let addr = format!("{}:{port}", h.address);
                if std::net::TcpListener::bind(&addr).is_err() {
                    busy.push(addr);
                }
            }
        }
    }
    if busy.is_empty() {
        say!("lab stopped (pid {pid}); no process or port left");
        0
    } else {
        warn!(
            "freetier lab: stopped pid {pid}, but these ports are still bound: {}",
            busy.join(", ")
        );
        1
    }
}

fn status(dir: &Path, json: bool) -> i32 {
    let pid = read_pid(dir);
    let running = pid.map(pid_alive).unwrap_or(false);
    let Some(st) = read_state(dir).filter(|_| running) else {
        if json {
            say!(
                "{}",
                serde_json::json!({"running": false, "dir": dir.display().to_string()})
            );
        } else {
            say!(
                "no lab is running in {} (start one with 'freetier lab up --dir {}')",
                dir.display(),
                dir.display()
            );
        }
        return 3;
    };
    if json {
        say!("{}", serde_json::to_string_pretty(&st).unwrap_or_default());
    } else {
        print_status(dir, &st, running);
    }
    0
}

fn print_status(dir: &Path, st: &LabState, running: bool) {
    let pid = st.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
    say!(
        "lab in {}: {}{pid}; tier {}, time scale {}, {}",
        dir.display(),
        if running { "running" } else { "stopped" },
        st.tier,
        st.time_scale,
        if st.host_os == "talos" {
            "Talos on the hosts themselves"
        } else if st.kvm {
            "KVM"
        } else {
            "no KVM (TCG guests)"
        }
    );
    say!(
        "subnet {}, control endpoint {}, file server {}/talos/\n",
        st.subnet,
        st.control_url,
        st.files_url
    );
    say!(
        "{:<10} {:<8} {:<16} {:<5} {}",
        "HOST",
        "ROLE",
        "ADDRESS",
        "SSH",
        "API"
    );
    for h in &st.hosts {
        let api = h
            .api_url
            .clone()
            .or_else(|| h.qnetd_port.map(|p| format!("corosync-qnetd on :{p}")))
            .unwrap_or_default();
        say!(
            "{:<10} {:<8} {:<16} {:<5} {}",
            h.name,
            h.role,
            h.address,
            if h.ssh_port == 0 {
                "-".to_string()
            } else {
                h.ssh_port.to_string()
            },
            api
        );
    }
    let key = st
        .ssh_private_key_path
        .clone()
        .unwrap_or_else(|| "<key in lab.json>".into());
    say!("\nSSH:   ssh -i {key} -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -p PORT root@ADDRESS");
    if let Some(h) = st.hosts.iter().find(|h| h.api_password.is_some()) {
        say!(
            "API:   user root@pam, password {}",
            h.api_password.clone().unwrap_or_default()
        );
    }
    say!("TLS fingerprints (SHA-256, pin these; they change when a node joins a cluster):");
    for h in &st.hosts {
        if let Some(fp) = &h.api_tls_fingerprint_sha256 {
            say!("  {:<10} {fp}", h.name);
        }
    }
    say!("SSH host keys:");
    for h in st
        .hosts
        .iter()
        .filter(|h| !h.ssh_host_key_fingerprint.is_empty())
    {
        say!("  {:<10} {}", h.name, h.ssh_host_key_fingerprint);
    }
    if st.host_os == "talos" {
        say!("Talos hosts wait in maintenance mode for their config: apply terraform/talos with placement = \"instances\"");
    }
    for h in st.hosts.iter().filter(|h| h.size.is_some()) {
        if let Some(s) = &h.size {
            say!(
                "  {:<10} {} OCPU, {} GB, boot volume /dev/sda {} GB: image {} GB, free tail {}",
                h.name,
                s.ocpus,
                s.memory_gb,
                s.boot_gb + s.osd_gb,
                s.boot_gb,
                if s.osd_gb > 0 {
                    format!("{} GB for an OSD", s.osd_gb)
                } else {
                    "none".into()
                }
            );
        }
    }
    if let Some(n) = &st.osd_note {
        say!("note: {n}");
    }
    if let Some(t) = &st.tfstate_path {
        say!("layer-1 state: {t}");
    }
    if let Some(o) = &st.oci {
        say!(
            "OCI API: {} (config {}, CA {})",
            o.url,
            o.config_path,
            o.ca_certificate_path
        );
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    /// A process standing in for whatever a stale pidfile may name; killed on drop.
    struct Child(std::process::Child);

    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Starts `args` and waits until its command line can be read (a process in the middle
    /// of exec shows an empty one).
    fn spawn(args: &[&str]) -> Child {
        let child = Child(
            std::process::Command::new(args[0])
                .args(&args[1..])
                .spawn()
                .expect("spawn"),
        );
        let path = format!("/proc/{}/cmdline", child.0.id());
        for _ in 0..200 {
            if std::fs::read(&path).is_ok_and(|c| !c.is_empty()) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child
    }

    #[tokio::test]
    async fn lab_down_never_signals_a_process_that_is_not_the_lab() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        let other = spawn(&["sleep", "30"]);
        std::fs::write(dir.join("lab.pid"), other.0.id().to_string()).expect("pidfile");
        assert_eq!(down(dir).await, 1);
        assert!(pid_alive(other.0.id()), "the unrelated process still runs");
        assert!(
            dir.join("lab.pid").exists(),
            "the pidfile is left for the user"
        );
        let d = dir.display().to_string();
        // Perl takes the words after its script as @ARGV, so its command line reads like a
        // lab's (and perl is a real binary, not a launcher script).
        let elsewhere = spawn(&[
            "perl",
            "-e",
            "sleep 30",
            "lab",
            "up",
            "--dir",
            "/nonexistent",
        ]);
        assert!(
            is_lab_serving(elsewhere.0.id(), dir).is_err(),
            "another lab's --dir"
        );
        let lab = spawn(&["perl", "-e", "sleep 30", "lab", "up", "--dir", &d]);
        assert_eq!(is_lab_serving(lab.0.id(), dir), Ok(()));
    }

    #[test]
    fn argument_mistakes_are_explained() {
        let cases: &[(&str, &[&str], &str)] = &[
            ("no dir", &["up"], "needs --dir"),
            (
                "unknown command",
                &["start", "--dir", "x"],
                "unknown command 'start'",
            ),
            (
                "unknown option",
                &["up", "--dir", "x", "--nodes", "3"],
                "unknown option '--nodes'",
            ),
            (
                "bad tier",
                &["up", "--dir", "x", "--tier", "free"],
                "--tier must be",
            ),
            (
                "too many free hosts",
                &["up", "--dir", "x", "--hosts", "3"],
                "at most 2 hosts",
            ),
            (
                "negative time scale",
                &["up", "--dir", "x", "--time-scale", "-1"],
                "time_scale",
            ),
            (
                "json on up",
                &["up", "--dir", "x", "--json"],
                "does not apply",
            ),
            ("missing value", &["up", "--dir"], "needs a value"),
            (
                "unknown host OS",
                &["up", "--dir", "x", "--host-os", "ubuntu"],
                "--host-os must be proxmox or talos, not 'ubuntu'",
            ),
        ];
        for (name, args, want) in cases {
            match parse(&s(args)) {
                Err(e) => assert!(e.contains(want), "{name}: {e}"),
                Ok(c) => panic!("{name}: accepted as {c:?}"),
            }
        }
        match parse(&s(&[
            "up",
            "--dir",
            "x",
            "--tier=pay_as_you_go",
            "--time-scale",
            "0",
        ])) {
            Ok(Cmd::Up(o)) => {
                assert_eq!(o.config.hosts, 3);
                assert_eq!(o.config.time_scale, 0.0);
                assert_eq!(o.config.host_os, HostOs::Proxmox, "Proxmox VE by default");
            }
            other => panic!("payg: {other:?}"),
        }
        match parse(&s(&["up", "--dir", "x", "--host-os=talos"])) {
            Ok(Cmd::Up(o)) => assert_eq!(o.config.host_os, HostOs::Talos),
            other => panic!("talos hosts: {other:?}"),
        }
        match parse(&s(&[
            "up",
            "--dir",
            "x",
            "--latency",
            "host.first_boot=600",
        ])) {
            Ok(Cmd::Up(o)) => assert_eq!(o.config.latency_overrides["host.first_boot"], 600.0),
            other => panic!("latency: {other:?}"),
        }
        for (args, want) in [
            (
                &["up", "--dir", "x", "--latency", "nope=1"][..],
                "no operation 'nope'",
            ),
            (
                &["up", "--dir", "x", "--latency", "host.first_boot"][..],
                "OP=SECONDS",
            ),
            (
                &["up", "--dir", "x", "--latency", "host.first_boot=-1"][..],
                "from 0",
            ),
        ] {
            match parse(&s(args)) {
                Err(e) => assert!(e.contains(want), "{args:?}: {e}"),
                Ok(c) => panic!("{args:?}: accepted as {c:?}"),
            }
        }
    }
}
