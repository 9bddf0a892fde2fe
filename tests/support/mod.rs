//! The acceptance harness: drives the provider through real Terraform cores, the way
//! terraform-plugin-testing does (init → plan → apply → empty plan → refresh → empty plan →
//! import, compare and plan empty → destroy), once per core and per TLS mode.
//!
//! Cores: `FREETIER_TF_CORES` (colon-separated paths) if set; otherwise every
//! `.tools/bin/terraform-*` that `scripts/install-tools.sh` installed, plus any `terraform` or
//! `tofu` on PATH. No core at all is a failure, not a skip: run `scripts/install-tools.sh`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value as Json;

/// The provider's address in test configurations.
pub const ADDRESS: &str = "registry.terraform.io/freetier/freetier";
const VERSION: &str = "0.1.0";

/// One Terraform (or OpenTofu) executable.
#[derive(Debug, Clone)]
pub struct Core {
    /// What the tests call it: `terraform 1.15.5`.
    pub name: String,
    /// The executable.
    pub path: PathBuf,
    /// Its version.
    pub version: (u32, u32, u32),
}

impl Core {
    /// True when the core is at least `major.minor`.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.version.0, self.version.1) >= (major, minor)
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn probe(path: &Path) -> Option<Core> {
    let out = Command::new(path)
        .arg("version")
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next()?;
    let (tool, ver) = first.split_once(" v")?;
    let mut nums = ver
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    let version = (nums.next()?, nums.next()?, nums.next()?);
    Some(Core {
        name: format!(
            "{} {}.{}.{}",
            tool.to_lowercase(),
            version.0,
            version.1,
            version.2
        ),
        path: path.to_path_buf(),
        version,
    })
}

/// Every core to test on, deduplicated by name and version.
pub fn cores() -> Vec<Core> {
    let mut paths: Vec<PathBuf> = Vec::new();
    if let Ok(list) = std::env::var("FREETIER_TF_CORES") {
        paths.extend(list.split(':').filter(|s| !s.is_empty()).map(PathBuf::from));
    } else {
        if let Ok(rd) = std::fs::read_dir(repo_root().join(".tools/bin")) {
            let mut found: Vec<PathBuf> = rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("terraform-"))
                })
                .collect();
            found.sort();
            paths.extend(found);
        }
        for tool in ["terraform", "tofu"] {
            if let Some(p) = which(tool) {
                paths.push(p);
            }
        }
    }
    let mut cores: Vec<Core> = Vec::new();
    for p in paths {
        if let Some(c) = probe(&p) {
            if !cores.iter().any(|k| k.name == c.name) {
                cores.push(c);
            }
        }
    }
    assert!(
        !cores.is_empty(),
        "no Terraform core found: run scripts/install-tools.sh (or set FREETIER_TF_CORES)"
    );
    cores
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    })
}

/// The provider binary cargo built for this test run.
pub fn provider_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_terraform-provider-freetier"))
}

/// A plugin directory holding the freetier provider (and any extra providers a test adds),
/// in the unpacked filesystem-mirror layout.
pub struct PluginDir {
    /// The directory.
    pub path: PathBuf,
}

impl PluginDir {
    /// A plugin dir under `root` holding this build of the provider.
    pub fn new(root: &Path) -> PluginDir {
        let pd = PluginDir {
            path: root.join("plugins"),
        };
        pd.add(ADDRESS, VERSION, &provider_binary());
        pd
    }

    /// Adds a provider executable under `address` (`host/namespace/type`).
    pub fn add(&self, address: &str, version: &str, binary: &Path) {
        let ty = address.rsplit('/').next().unwrap_or(address);
        let dir = self.path.join(address).join(version).join("linux_amd64");
        std::fs::create_dir_all(&dir).unwrap();
        let dest = dir.join(format!("terraform-provider-{ty}_v{version}"));
        let _ = std::fs::remove_file(&dest);
        if std::fs::hard_link(binary, &dest).is_err() {
            std::fs::copy(binary, &dest).unwrap();
        }
    }
}

/// The outcome of one Terraform command.
#[derive(Debug)]
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
    /// stdout and stderr together, for assertions on messages.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// A working directory with one root module, run by one core.
pub struct Workdir {
    /// The temp dir (removed on drop).
    pub dir: tempfile::TempDir,
    /// The core.
    pub core: Core,
    /// Whether AutoMTLS is on.
    pub tls: bool,
    plugins: PathBuf,
}

/// The temp root: under target/, so plugin binaries can be hard-linked.
fn tmp_root() -> PathBuf {
    let p = repo_root().join("target/acceptance");
    std::fs::create_dir_all(&p).unwrap();
    p
}

impl Workdir {
    /// A fresh directory holding `main.tf`.
    pub fn new(core: &Core, tls: bool, main_tf: &str) -> Workdir {
        let dir = tempfile::Builder::new()
            .prefix("acc-")
            .tempdir_in(tmp_root())
            .unwrap();
        let plugins = PluginDir::new(dir.path()).path;
        let wd = Workdir {
            dir,
            core: core.clone(),
            tls,
            plugins,
        };
        wd.write("main.tf", main_tf);
        wd
    }

    /// The plugin dir, to add test-double providers.
    pub fn plugin_dir(&self) -> PluginDir {
        PluginDir {
            path: self.plugins.clone(),
        }
    }

    /// Writes a file in the module.
    pub fn write(&self, name: &str, text: &str) {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, text).unwrap();
    }

    /// The module path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs the core with `args` in this directory.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_in(self.dir.path(), args)
    }

    /// Runs the core with `args` in `dir`.
    pub fn run_in(&self, dir: &Path, args: &[&str]) -> Run {
        self.run_with_env(dir, args, &[])
    }

    /// Runs the core with `args` in `dir`, with extra environment variables (which reach
    /// the provider: Terraform passes its environment on).
    pub fn run_with_env(&self, dir: &Path, args: &[&str], env: &[(String, String)]) -> Run {
        let mut cmd = Command::new(&self.core.path);
        cmd.args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("TF_CLI_CONFIG_FILE", "/dev/null")
            .env_remove("TF_LOG")
            .env_remove("TF_REATTACH_PROVIDERS");
        // After the removals, so a test can turn logging back on.
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        if self.tls {
            cmd.env_remove("TF_DISABLE_PLUGIN_TLS");
        } else {
            cmd.env("TF_DISABLE_PLUGIN_TLS", "1");
        }
        Run::from(
            cmd.output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.core.path.display())),
        )
    }

    /// `init` from the plugin dir only: nothing is fetched.
    pub fn init(&self) -> Run {
        let pd = format!("-plugin-dir={}", self.plugins.display());
        self.run(&["init", "-no-color", "-input=false", &pd])
    }

    /// `plan -detailed-exitcode`: 0 empty, 1 error, 2 changes.
    pub fn plan(&self) -> Run {
        self.run(&["plan", "-no-color", "-input=false", "-detailed-exitcode"])
    }

    /// `apply -auto-approve`.
    pub fn apply(&self) -> Run {
        self.run(&["apply", "-no-color", "-input=false", "-auto-approve"])
    }

    /// `refresh`.
    pub fn refresh(&self) -> Run {
        self.run(&["refresh", "-no-color", "-input=false"])
    }

    /// `destroy -auto-approve`.
    pub fn destroy(&self) -> Run {
        self.run(&["destroy", "-no-color", "-input=false", "-auto-approve"])
    }

    /// Plans, and returns each resource change that is not a no-op as `address: actions`.
    /// Root output changes are left out: a fresh import holds no outputs yet.
    pub fn resource_changes(&self) -> Result<Vec<String>, Run> {
        let plan = self.run(&["plan", "-no-color", "-input=false", "-out=check.tfplan"]);
        if plan.code != 0 {
            return Err(plan);
        }
        let shown = self.run(&["show", "-json", "check.tfplan"]);
        if shown.code != 0 {
            return Err(shown);
        }
        let json: Json = serde_json::from_str(&shown.stdout).unwrap_or(Json::Null);
        Ok(json["resource_changes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["change"]["actions"] != serde_json::json!(["no-op"]))
            .map(|c| format!("{}: {}", c["address"], c["change"]["actions"]))
            .collect())
    }

    /// `show -json` of the state.
    pub fn state(&self) -> Json {
        let r = self.run(&["show", "-json"]);
        assert_eq!(r.code, 0, "show -json failed: {}", r.text());
        serde_json::from_str(&r.stdout).unwrap_or(Json::Null)
    }

    /// The `values` of one resource in the state.
    pub fn resource_values(&self, address: &str) -> Option<Json> {
        let state = self.state();
        state["values"]["root_module"]["resources"]
            .as_array()?
            .iter()
            .find(|r| r["address"] == address)
            .map(|r| r["values"].clone())
    }
}

/// How to import one object: the id, and environment variables the import needs (a secret
/// goes there, never in the id, which Terraform prints).
#[derive(Debug, Clone, Default)]
pub struct ImportId {
    /// The import id.
    pub id: String,
    /// Extra environment for the `terraform import` run.
    pub env: Vec<(String, String)>,
}

/// An import to check: the address, a function from the applied values to the import id, and
/// attributes not compared (set only from configuration).
pub type ImportCheck<'a> = (&'a str, fn(&Json) -> ImportId, &'a [&'a str]);

/// One acceptance scenario: a configuration and what to import afterwards.
pub struct Scenario<'a> {
    /// Shown in failures.
    pub name: &'a str,
    /// The root module.
    pub config: &'a str,
    /// Resources to import and compare: address, a function from the applied values to the
    /// import id, and attributes not compared (set only from configuration).
    pub imports: Vec<ImportCheck<'a>>,
}

fn step(label: &str, core: &Core, tls: bool, run: &Run, want: &[i32]) -> Result<(), String> {
    if want.contains(&run.code) {
        Ok(())
    } else {
        Err(format!(
            "[{} tls={tls}] {label}: exit {} (wanted {want:?})\n{}",
            core.name,
            run.code,
            run.text()
        ))
    }
}

/// Runs a scenario through the full lifecycle on one core and TLS mode.
pub fn lifecycle(core: &Core, tls: bool, sc: &Scenario) -> Result<(), String> {
    let wd = Workdir::new(core, tls, sc.config);
    step("init", core, tls, &wd.init(), &[0])?;
    step("plan shows changes", core, tls, &wd.plan(), &[2])?;
    step("apply", core, tls, &wd.apply(), &[0])?;
    step("plan after apply is empty", core, tls, &wd.plan(), &[0])?;
    step("refresh", core, tls, &wd.refresh(), &[0])?;
    step("plan after refresh is empty", core, tls, &wd.plan(), &[0])?;
    for (address, id_of, ignore) in &sc.imports {
        let applied = wd
            .resource_values(address)
            .ok_or_else(|| format!("[{}] {address} not in state", core.name))?;
        let ImportId { id, env } = id_of(&applied);
        let imp = Workdir::new(core, tls, sc.config);
        step("init (import)", core, tls, &imp.init(), &[0])?;
        step(
            "import",
            core,
            tls,
            &imp.run_with_env(
                imp.path(),
                &["import", "-no-color", "-input=false", address, &id],
                &env,
            ),
            &[0],
        )?;
        // The import must agree with the configuration it came from: nothing to change.
        match imp.resource_changes() {
            Ok(changes) if changes.is_empty() => {}
            Ok(changes) => {
                return Err(format!(
                    "[{} tls={tls}] plan after importing {address} is not empty: {changes:?}",
                    core.name
                ))
            }
            Err(run) => step("plan after import", core, tls, &run, &[0])?,
        }
        let imported = imp
            .resource_values(address)
            .ok_or_else(|| format!("[{}] {address} not imported", core.name))?;
        for (k, v) in applied.as_object().into_iter().flatten() {
            if ignore.contains(&k.as_str()) {
                continue;
            }
            if imported.get(k) != Some(v) {
                return Err(format!("[{} tls={tls}] import of {address}: {k} is {:?} after import, {v:?} after apply", core.name, imported.get(k)));
            }
        }
    }
    step("destroy", core, tls, &wd.destroy(), &[0])?;
    let left = wd.state();
    let count = left["values"]["root_module"]["resources"]
        .as_array()
        .map_or(0, Vec::len);
    if count != 0 {
        return Err(format!("[{}] destroy left {count} resources", core.name));
    }
    Ok(())
}

/// Runs a scenario on every core, with AutoMTLS on and off; fails with every failure listed.
pub fn on_every_core(sc: &Scenario) {
    let mut failures = Vec::new();
    for core in cores() {
        for tls in [true, false] {
            if let Err(e) = lifecycle(&core, tls, sc) {
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "scenario {:?} failed:\n{}",
        sc.name,
        failures.join("\n\n")
    );
}

/// Runs `cmd` on a lab host over the provider's own SSH client, its host key pinned.
pub fn ssh_on(
    rt: &tokio::runtime::Runtime,
    lab: &freetier::lab::Lab,
    host: &str,
    cmd: &str,
) -> freetier::clients::ssh::Output {
    use freetier::clients::ssh;
    let st = lab.state();
    let h = st.hosts.iter().find(|h| h.name == host).expect("host");
    let target = ssh::Target {
        host: h.address.clone(),
        port: h.ssh_port,
        user: "root".into(),
        key: std::sync::Arc::new(ssh::parse_private_key(&st.ssh_private_key_openssh).unwrap()),
        host_key: ssh::HostKeyPolicy::Pinned(ssh::parse_public_key(&h.ssh_host_key).unwrap()),
    };
    let cancel = tokio_util::sync::CancellationToken::new();
    rt.block_on(async {
        let s = ssh::Session::connect(&target, &ssh::Options::default(), &cancel)
            .await
            .expect("ssh");
        s.exec(cmd, None, std::time::Duration::from_secs(60), &cancel)
            .await
            .expect("exec")
    })
}

/// The newest core found: one is enough to show the provider's own behaviour where a test is
/// slow (the lab stack tests).
pub fn newest_core() -> Core {
    cores()
        .into_iter()
        .max_by_key(|c| c.version)
        .expect("a core")
}

/// Sends `signal` to each provider process Terraform started for `wd` (its executable lies
/// under the work dir, or it runs in it). How many got it.
pub fn signal_provider(wd: &Workdir, signal: &str) -> usize {
    let mark = wd.path().display().to_string();
    let mut sent = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        let exe = exe.display().to_string();
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
        let cwd = cwd.display().to_string();
        if exe.contains("terraform-provider-freetier") && (exe.contains(&mark) || cwd == mark) {
            let _ = std::process::Command::new("kill")
                .args([signal, &pid.to_string()])
                .status();
            sent += 1;
        }
    }
    sent
}

/// Applies in the background and SIGKILLs the provider once the lab holds a call (a `hang`
/// fault). Returns how many processes were killed and the apply. When none was, the hang is
/// released so the test cannot hang.
pub fn apply_and_kill_while_held(lab: &freetier::lab::Lab, wd: &Workdir) -> (usize, Run) {
    std::thread::scope(|s| {
        let apply = s.spawn(|| wd.apply());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while lab.held_calls() == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let killed = signal_provider(wd, "-KILL");
        if killed == 0 {
            lab.release_hangs();
        }
        (killed, apply.join().unwrap())
    })
}

/// A layer's `.tf` files (`terraform/<name>`), copied into `wd` as a user has them.
pub fn copy_layer(wd: &Workdir, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("terraform")
        .join(name);
    for e in std::fs::read_dir(&dir).expect("layer dir").flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "tf") {
            let file = p.file_name().unwrap().to_string_lossy().to_string();
            wd.write(&file, &std::fs::read_to_string(&p).unwrap());
        }
    }
}

/// `.tools/bin/<name>` when `scripts/install-tools.sh` put it there, else `<name>` on PATH.
pub fn tool(name: &str) -> PathBuf {
    let local = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".tools/bin")
        .join(name);
    if local.is_file() {
        local
    } else {
        PathBuf::from(name)
    }
}

/// The lab as `freetier lab up` runs it (a VM booted from a `cidata` ISO runs Talos), with
/// Layer 2 (`terraform/proxmox`) and Layer 3 (`terraform/talos`) initialised over it with the
/// tfvars the lab wrote, as a user has them. Nothing is applied yet.
pub struct LabStack {
    /// The lab and its Talos guests.
    pub talos: freetier::lab::talos_guests::TalosLab,
    /// Layer 2's work dir.
    pub l2: Workdir,
    /// Layer 3's work dir.
    pub l3: Workdir,
    /// The lab's state folder.
    pub dir: tempfile::TempDir,
}

impl LabStack {
    /// Starts a lab from `config` (its state folder is the stack's own) and initialises both
    /// layers on `core`.
    pub fn start(
        rt: &tokio::runtime::Runtime,
        core: &Core,
        config: freetier::lab::LabConfig,
    ) -> LabStack {
        let dir = tempfile::tempdir().unwrap();
        let talos = rt
            .block_on(freetier::lab::talos_guests::TalosLab::start(
                freetier::lab::LabConfig {
                    state_dir: Some(dir.path().to_path_buf()),
                    ..config
                },
            ))
            .expect("lab");
        let l2 = Workdir::new(core, true, "");
        copy_layer(&l2, "proxmox");
        l2.write(
            "terraform.tfvars",
            &std::fs::read_to_string(dir.path().join("proxmox.tfvars")).unwrap(),
        );
        assert_eq!(l2.init().code, 0, "init of terraform/proxmox");
        let stack = LabStack {
            talos,
            l3: Workdir::new(core, true, ""),
            l2,
            dir,
        };
        copy_layer(&stack.l3, "talos");
        stack.l3.write("terraform.tfvars", &stack.layer3_tfvars());
        assert_eq!(stack.l3.init().code, 0, "init of terraform/talos");
        stack
    }

    /// The lab.
    pub fn lab(&self) -> &freetier::lab::Lab {
        &self.talos.lab
    }

    /// What Layer 3 reads: the lab's `talos.tfvars` and where Layer 2's state is.
    pub fn layer3_tfvars(&self) -> String {
        let tfvars = std::fs::read_to_string(self.dir.path().join("talos.tfvars")).unwrap();
        format!(
            "{tfvars}proxmox_state_path = {:?}\n",
            self.l2
                .path()
                .join("terraform.tfstate")
                .display()
                .to_string()
        )
    }

    /// Stops the guests and the lab.
    pub fn stop(self, rt: &tokio::runtime::Runtime) {
        rt.block_on(self.talos.stop()).unwrap();
    }
}
