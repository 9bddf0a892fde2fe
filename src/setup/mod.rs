//! `freetier setup`: the first command of a checkout. From the OCI CLI's configuration it
//! writes Layer 1's `terraform/oci/terraform.tfvars`, creates the hosts' SSH key pair and an
//! age key, writes `.sops.yaml` for that key and encrypts the stack's secrets (the Tailscale
//! auth key) into `secrets/stack.sops.yaml`.
//!
//! Idempotent: a file that already says what setup would write is left alone, byte for byte;
//! one that differs is kept unless `--force`. Key pairs are made only when missing, never
//! replaced (a new SSH or age key would lock you out of what the old one opened).
//!
//! Imports only `clients::oci::config` (the `~/.oci/config` parser) and `sops` (the SOPS
//! format); never the framework.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use russh::keys::ssh_key::{private::Ed25519Keypair, LineEnding};
use russh::keys::{PrivateKey, PublicKey};

use crate::clients::oci::config::{self as oci_config, ConfigError, CONFIG_DOC};
use crate::sops;

/// Where setup writes, relative to `--dir`.
pub mod paths {
    /// Layer 1's variable values.
    pub const TFVARS: &str = "terraform/oci/terraform.tfvars";
    /// Local keys; a `.gitignore` inside keeps them out of git.
    pub const KEY_DIR: &str = ".freetier";
    /// The hosts' SSH private key (OpenSSH format); `.pub` beside it.
    pub const SSH_KEY: &str = ".freetier/ssh_ed25519";
    /// The age key, in the format `age-keygen` writes.
    pub const AGE_KEY: &str = ".freetier/age.key";
    /// SOPS's creation rules.
    pub const SOPS_CONFIG: &str = ".sops.yaml";
    /// The stack's secrets, SOPS-encrypted.
    pub const SECRETS: &str = "secrets/stack.sops.yaml";
}

const HELP: &str = "Usage: freetier setup [OPTIONS]

Prepares a checkout for `task deploy:oci`; never overwrites a file without --force:
  terraform/oci/terraform.tfvars  tenancy_ocid, region, oci_config_profile and ssh_public_keys,
                                  from the OCI CLI's configuration file (~/.oci/config)
  .freetier/ssh_ed25519[.pub]     an Ed25519 key pair for the hosts (unless --ssh-public-key)
  .freetier/age.key               an age key (age-keygen's format) for SOPS
  .sops.yaml                      SOPS creation rules: secrets/*.sops.yaml for that age key
  secrets/stack.sops.yaml         the Tailscale auth key, encrypted with SOPS
Key pairs that exist are reused, never replaced. Run it again at any time: it says what it did.

Options:
  --dir DIR                  the checkout to set up (default: the current directory)
  --profile NAME             the profile of the OCI configuration (default: $OCI_CLI_PROFILE,
                             else DEFAULT)
  --oci-config FILE          the OCI configuration (default: $OCI_CLI_CONFIG_FILE, else
                             ~/.oci/config)
  --ssh-public-key FILE      the hosts accept this OpenSSH public key instead of a new pair
  --tailscale-auth-key KEY   the Tailscale auth key (tskey-...); prefer the TS_AUTHKEY
                             environment variable, which the shell history does not keep
  --admin-cidr CIDR          admin_cidrs: where SSH is open from, such as 198.51.100.7/32
                             (repeatable)
  --email ADDR               budget_alert_emails (repeatable)
  --force                    rewrite files that differ from what setup would write
  -h, --help                 show this help

Exit status: 0 done, 1 when the input cannot be used, 2 on usage errors.
";

/// Why setup stopped. Each message names the file (and line) to fix.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// There is no OCI configuration file.
    #[error(
        "{path}: no such file. setup reads your tenancy, user and region from the OCI CLI's \
         configuration file. Create an API signing key and the file with `oci setup config`, \
         or in the Console (Profile > My profile > API keys > Add API key) and paste the \
         configuration it shows into {path}:\n\
         \n  [DEFAULT]\
         \n  user=ocid1.user.oc1..<your user>\
         \n  fingerprint=<aa:bb:...>\
         \n  key_file=~/.oci/oci_api_key.pem\
         \n  tenancy=ocid1.tenancy.oc1..<your tenancy>\
         \n  region=<your home region, such as eu-frankfurt-1>\n\
         \nSee {CONFIG_DOC}"
    )]
    NoOciConfig {
        /// The file looked for.
        path: PathBuf,
    },
    /// The OCI configuration file is malformed or lacks the profile.
    #[error(transparent)]
    OciConfig(#[from] ConfigError),
    /// The profile's `key_file` cannot be used.
    #[error("{at}: key_file {path}: {problem}; see {CONFIG_DOC}")]
    KeyFile {
        /// `FILE:LINE` of the `key_file` entry.
        at: String,
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A file setup reads is not what it should hold.
    #[error("{path}: {problem}")]
    Input {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A file could not be written.
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The Tailscale auth key is not one.
    #[error("the Tailscale auth key does not start with tskey- (Layer 1 requires it of tailscale_auth_key in the secrets file); create one at https://login.tailscale.com/admin/settings/keys")]
    TailscaleKey,
    /// Key generation or SOPS encryption failed.
    #[error("{0}")]
    Crypto(String),
}

/// The command line, parsed.
#[derive(Debug, Default)]
struct Options {
    dir: PathBuf,
    profile: Option<String>,
    oci_config: Option<PathBuf>,
    ssh_public_key: Option<PathBuf>,
    tailscale_auth_key: Option<String>,
    admin_cidrs: Vec<String>,
    emails: Vec<String>,
    force: bool,
}

fn parse_args(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        dir: PathBuf::from("."),
        ..Options::default()
    };
    let mut flags = crate::cli::Flags::new(args);
    while let Some(flag) = flags.next_arg() {
        let mut value = |name: &str| flags.value(name);
        match flag {
            "-h" | "--help" => return Ok(None),
            "--force" => o.force = true,
            "--dir" => o.dir = PathBuf::from(value(flag)?),
            "--profile" => o.profile = Some(value(flag)?),
            "--oci-config" => o.oci_config = Some(PathBuf::from(value(flag)?)),
            "--ssh-public-key" => o.ssh_public_key = Some(PathBuf::from(value(flag)?)),
            "--tailscale-auth-key" => o.tailscale_auth_key = Some(value(flag)?),
            "--admin-cidr" => o.admin_cidrs.push(value(flag)?),
            "--email" => o.emails.push(value(flag)?),
            // Never echo what may be a secret typed in the wrong place.
            other if other.contains("tskey-") => {
                return Err("unknown argument (a Tailscale key? pass it in TS_AUTHKEY)".into())
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(Some(o))
}

/// Runs `freetier setup ARGS`; returns the exit status.
pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let opts = match parse_args(args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            let _ = out.write_all(HELP.as_bytes());
            return 0;
        }
        Err(e) => {
            let _ = write!(err, "freetier setup: {e}\n\n{HELP}");
            return 2;
        }
    };
    let ts_env = std::env::var("TS_AUTHKEY").ok().filter(|k| !k.is_empty());
    match setup(&opts, ts_env) {
        Ok(report) => {
            let _ = out.write_all(report.as_bytes());
            0
        }
        Err(e) => {
            let _ = writeln!(err, "freetier setup: {e}");
            1
        }
    }
}

/// What happened to one file.
enum Outcome {
    Created,
    Unchanged,
    /// It differs; kept because there was no --force. The reason says how.
    Kept(String),
    /// Nothing to write, with why.
    Skipped(String),
}

struct Report {
    lines: Vec<(Outcome, String)>,
}

impl Report {
    fn add(&mut self, outcome: Outcome, what: impl Into<String>) {
        self.lines.push((outcome, what.into()));
    }
}

fn setup(o: &Options, ts_env: Option<String>) -> Result<String, SetupError> {
    let config_path = o
        .oci_config
        .clone()
        .unwrap_or_else(oci_config::default_path);
    let profile_name = o
        .profile
        .clone()
        .unwrap_or_else(oci_config::default_profile);
    if !config_path.exists() {
        return Err(SetupError::NoOciConfig { path: config_path });
    }
    let profile = oci_config::load(&config_path, &profile_name)?;
    check_key_file(&profile)?;

    let ts_key = o.tailscale_auth_key.clone().or(ts_env);
    if let Some(k) = &ts_key {
        if !k.starts_with("tskey-") {
            return Err(SetupError::TailscaleKey);
        }
    }

    let dir = &o.dir;
    let mut report = Report { lines: Vec::new() };
    write_file(
        dir,
        &format!("{}/.gitignore", paths::KEY_DIR),
        "# Written by `freetier setup`: the private keys here never go into git.\n*\n",
        0o644,
        o.force,
        &mut report,
    )?;

    // The hosts' SSH key.
    let ssh_public = match &o.ssh_public_key {
        Some(p) => {
            let line = read_public_key(p)?;
            report.add(
                Outcome::Skipped(format!("the hosts accept {}", p.display())),
                paths::SSH_KEY,
            );
            line
        }
        None => ssh_key_pair(dir, &mut report)?,
    };

    // The age key, .sops.yaml and the secrets.
    let identity = age_key(dir, &mut report)?;
    let recipient = identity.to_public();
    write_file(
        dir,
        paths::SOPS_CONFIG,
        &sops_config(&recipient.to_string()),
        0o644,
        o.force,
        &mut report,
    )?;
    match &ts_key {
        Some(k) => secrets(
            dir,
            &[("tailscale_auth_key".into(), k.clone())],
            &identity,
            o.force,
            &mut report,
        )?,
        None if dir.join(paths::SECRETS).exists() => report.add(
            Outcome::Skipped("no Tailscale auth key given; the file is kept".into()),
            paths::SECRETS,
        ),
        None => report.add(
            Outcome::Skipped(
                "no Tailscale auth key: pass TS_AUTHKEY=tskey-... (or --tailscale-auth-key) \
                 and run setup again"
                    .into(),
            ),
            paths::SECRETS,
        ),
    }

    // Layer 1's variables.
    write_file(
        dir,
        paths::TFVARS,
        &tfvars(&profile, &ssh_public, &o.admin_cidrs, &o.emails),
        0o644,
        o.force,
        &mut report,
    )?;

    Ok(render_report(o, &profile, &report))
}

fn render_report(o: &Options, profile: &oci_config::Profile, report: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "freetier setup in {} (OCI profile [{}] of {})",
        o.dir.display(),
        profile.name,
        profile.path.display()
    );
    let changed = report
        .lines
        .iter()
        .any(|(o, _)| matches!(o, Outcome::Created));
    for (outcome, what) in &report.lines {
        let line = match outcome {
            Outcome::Created => format!("  wrote      {what}"),
            Outcome::Unchanged => format!("  unchanged  {what}"),
            Outcome::Kept(why) => format!("  kept       {what}: {why}"),
            Outcome::Skipped(why) => format!("  skipped    {what}: {why}"),
        };
        let _ = writeln!(s, "{line}");
    }
    if !changed {
        let _ = writeln!(
            s,
            "nothing to do: every file already holds what setup would write"
        );
    }
    let _ = writeln!(
        s,
        "availability domains: left to plan (setup does not call the OCI API); node_ad and \
         bastion_ad default to 1: set them in {} if your home region's A1 or micro capacity is \
         elsewhere",
        paths::TFVARS
    );
    if o.admin_cidrs.is_empty() || o.emails.is_empty() {
        let _ = writeln!(
            s,
            "still to fill in: admin_cidrs and budget_alert_emails in {} (or run setup with \
             --admin-cidr and --email, and --force to rewrite it)",
            paths::TFVARS
        );
    }
    let _ = writeln!(
        s,
        "next (Layer 1 reads {} itself, with the age key SOPS_AGE_KEY_FILE names; \
         build:images imports the nodes' Debian image):\n  \
         export SOPS_AGE_KEY_FILE=\"$PWD/{}\"\n  task build:images\n  task deploy:oci",
        paths::SECRETS,
        paths::AGE_KEY
    );
    s
}

/// The key file must exist and be PEM; its contents are never printed.
fn check_key_file(p: &oci_config::Profile) -> Result<(), SetupError> {
    let problem = match std::fs::read(&p.key_file) {
        Ok(bytes) if bytes.windows(11).any(|w| w == b"-----BEGIN ") => return Ok(()),
        Ok(_) => "is not a PEM private key (no -----BEGIN line)".to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "no such file".to_string(),
        Err(e) => format!("cannot read: {e}"),
    };
    Err(SetupError::KeyFile {
        at: p.at("key_file"),
        path: p.key_file.clone(),
        problem,
    })
}

/// Writes `rel` under `dir` unless it already holds `content`; a different file is kept
/// unless `force`.
fn write_file(
    dir: &Path,
    rel: &str,
    content: &str,
    mode: u32,
    force: bool,
    report: &mut Report,
) -> Result<(), SetupError> {
    let path = dir.join(rel);
    match std::fs::read(&path) {
        Ok(old) if old == content.as_bytes() => {
            report.add(Outcome::Unchanged, rel);
            return Ok(());
        }
        Ok(_) if !force => {
            report.add(
                Outcome::Kept("it differs from what setup would write; --force rewrites it".into()),
                rel,
            );
            return Ok(());
        }
        _ => {}
    }
    put(&path, content.as_bytes(), mode)?;
    report.add(Outcome::Created, rel);
    Ok(())
}

/// Creates or truncates `path` with `mode` (parents created) and writes `bytes`.
fn put(path: &Path, bytes: &[u8], mode: u32) -> Result<(), SetupError> {
    let werr = |source| SetupError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(werr)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(mode);
        // An existing file keeps its mode through open(2): set it.
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(werr)?;
        }
    }
    let mut f = opts.open(path).map_err(werr)?;
    f.write_all(bytes).map_err(werr)
}

fn read_public_key(path: &Path) -> Result<String, SetupError> {
    let input = |problem: String| SetupError::Input {
        path: path.to_path_buf(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| input(format!("cannot read: {e}")))?;
    let line = text.trim();
    PublicKey::from_openssh(line)
        .map_err(|_| input("is not one OpenSSH public key (ssh-ed25519 AAAA... comment)".into()))?;
    Ok(line.to_string())
}

/// The hosts' key pair: reused when the private key exists, else made.
fn ssh_key_pair(dir: &Path, report: &mut Report) -> Result<String, SetupError> {
    let private_path = dir.join(paths::SSH_KEY);
    let public_rel = format!("{}.pub", paths::SSH_KEY);
    let crypto = |e: &dyn std::fmt::Display| SetupError::Crypto(e.to_string());
    let key = if private_path.exists() {
        let text = std::fs::read_to_string(&private_path).map_err(|e| SetupError::Input {
            path: private_path.clone(),
            problem: format!("cannot read: {e}"),
        })?;
        let key = PrivateKey::from_openssh(&text).map_err(|_| SetupError::Input {
            path: private_path.clone(),
            problem: "is not an OpenSSH private key; move it away and run setup again for a \
                      new pair"
                .into(),
        })?;
        report.add(Outcome::Unchanged, paths::SSH_KEY);
        key
    } else {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| crypto(&e))?;
        let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
        seed.fill(0);
        key.set_comment("freetier-hosts");
        let pem = key.to_openssh(LineEnding::LF).map_err(|e| crypto(&e))?;
        put(&private_path, pem.as_bytes(), 0o600)?;
        report.add(Outcome::Created, paths::SSH_KEY);
        key
    };
    let public = key.public_key().to_openssh().map_err(|e| crypto(&e))?;
    // The .pub file follows the private key: it is derived, so it is rewritten when it differs.
    write_file(
        dir,
        &public_rel,
        &format!("{public}\n"),
        0o644,
        true,
        report,
    )?;
    Ok(public)
}

/// The age key: read when it exists, else made and written as `age-keygen` writes it.
fn age_key(dir: &Path, report: &mut Report) -> Result<age::x25519::Identity, SetupError> {
    let path = dir.join(paths::AGE_KEY);
    if path.exists() {
        let input = |problem: &str| SetupError::Input {
            path: path.clone(),
            problem: problem.to_string(),
        };
        let text =
            std::fs::read_to_string(&path).map_err(|e| input(&format!("cannot read: {e}")))?;
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
            .ok_or_else(|| input("holds no AGE-SECRET-KEY-1 line"))?;
        let id = age::x25519::Identity::from_str(line)
            .map_err(|_| input("holds an AGE-SECRET-KEY-1 line that is not a valid age key"))?;
        report.add(Outcome::Unchanged, paths::AGE_KEY);
        return Ok(id);
    }
    let id = age::x25519::Identity::generate();
    put(&path, age_key_file(&id, &now_rfc3339()).as_bytes(), 0o600)?;
    report.add(Outcome::Created, paths::AGE_KEY);
    Ok(id)
}

/// The text `age-keygen` writes: two comment lines, then the secret key.
pub fn age_key_file(id: &age::x25519::Identity, created: &str) -> String {
    format!(
        "# created: {created}\n# public key: {}\n{}\n",
        id.to_public(),
        id.to_string().expose_secret()
    )
}

/// Now in RFC 3339, UTC, whole seconds: the form Go's `time.RFC3339` writes.
fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// `.sops.yaml`: SOPS's creation rules (<https://getsops.io/docs/#using-sops-yaml-conf-to-select-kms-pgp-and-age-for-new-files>).
fn sops_config(recipient: &str) -> String {
    format!(
        "# Written by `freetier setup`: `sops secrets/NAME.sops.yaml` encrypts for the age key\n\
         # in .freetier/age.key (decrypt with SOPS_AGE_KEY_FILE=.freetier/age.key).\n\
         creation_rules:\n  - path_regex: secrets/.*\\.sops\\.yaml$\n    age: {recipient}\n"
    )
}

/// The secrets file: left alone when it decrypts to `values`, else (re)written when missing
/// or with `force`.
fn secrets(
    dir: &Path,
    values: &[(String, String)],
    identity: &age::x25519::Identity,
    force: bool,
    report: &mut Report,
) -> Result<(), SetupError> {
    let path = dir.join(paths::SECRETS);
    if let Ok(text) = std::fs::read_to_string(&path) {
        match sops::decrypt(&text, identity) {
            Ok(old) if old == values => {
                report.add(Outcome::Unchanged, paths::SECRETS);
                return Ok(());
            }
            _ if force => {}
            Ok(_) => {
                report.add(
                    Outcome::Kept(
                        "it holds other secrets than those given; --force re-encrypts it".into(),
                    ),
                    paths::SECRETS,
                );
                return Ok(());
            }
            Err(e) => {
                report.add(
                    Outcome::Kept(format!("{e}; --force re-encrypts it")),
                    paths::SECRETS,
                );
                return Ok(());
            }
        }
    }
    let text = sops::encrypt(values, &identity.to_public(), &now_rfc3339())
        .map_err(|e| SetupError::Crypto(e.to_string()))?;
    put(&path, text.as_bytes(), 0o644)?;
    report.add(Outcome::Created, paths::SECRETS);
    Ok(())
}

/// An HCL quoted string: `"`, `\` and template openers escaped.
fn hcl_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out.replace("${", "$${").replace("%{", "%%{")
}

fn hcl_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|i| hcl_string(i)).collect();
    format!("[{}]", inner.join(", "))
}

/// Layer 1's `terraform.tfvars`: only variables `terraform/oci/variables.tf` declares. The
/// provider reads user, fingerprint and key_file from the profile itself.
fn tfvars(
    p: &oci_config::Profile,
    ssh_public: &str,
    admin_cidrs: &[String],
    emails: &[String],
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Written by `freetier setup` from [{}] of {}.\n# Every variable, with its checks, is in \
         variables.tf. setup rewrites this file only with --force.\n",
        p.name,
        p.path.display()
    );
    let _ = writeln!(s, "tenancy_ocid       = {}", hcl_string(&p.tenancy));
    let _ = writeln!(
        s,
        "region             = {} # your home region: Always Free exists only there",
        hcl_string(&p.region)
    );
    let _ = writeln!(
        s,
        "oci_config_profile = {} # the provider's API key: user, fingerprint, key_file",
        hcl_string(&p.name)
    );
    let _ = writeln!(
        s,
        "ssh_public_keys    = {}",
        hcl_list(&[ssh_public.to_string()])
    );
    if admin_cidrs.is_empty() {
        let _ = writeln!(
            s,
            "# admin_cidrs       = [\"198.51.100.7/32\"] # required: your address, the only place SSH is open to"
        );
    } else {
        let _ = writeln!(s, "admin_cidrs        = {}", hcl_list(admin_cidrs));
    }
    if emails.is_empty() {
        let _ = writeln!(
            s,
            "# budget_alert_emails = [\"you@example.com\"] # required: who hears of the first cent spent"
        );
    } else {
        let _ = writeln!(s, "budget_alert_emails = {}", hcl_list(emails));
    }
    let _ = writeln!(
        s,
        "\n# The Tailscale auth key is in {} (SOPS), never here: the layer reads it through\n\
         # data \"freetier_sops_file\" (secrets.tf), with the age key in SOPS_AGE_KEY_FILE\n\
         # ({}). secrets_file names another file.\n\
         # node_ad and bastion_ad (default 1) are left to plan: setup does not ask the OCI API.",
        paths::SECRETS,
        paths::AGE_KEY
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hcl_strings_are_escaped() {
        let cases = [
            ("plain", "abc", "\"abc\""),
            ("quote", "a\"b", "\"a\\\"b\""),
            ("backslash", "a\\b", "\"a\\\\b\""),
            ("template", "a${b}", "\"a$${b}\""),
            ("directive", "a%{b}", "\"a%%{b}\""),
        ];
        for (name, input, want) in cases {
            assert_eq!(hcl_string(input), want, "{name}");
        }
    }

    #[test]
    fn the_age_key_file_is_what_age_keygen_writes() {
        let id = age::x25519::Identity::generate();
        let text = age_key_file(&id, "2026-12-05T02:00:00Z");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "# created: 2026-12-05T02:00:00Z");
        assert_eq!(lines[1], format!("# public key: {}", id.to_public()));
        assert!(lines[2].starts_with("AGE-SECRET-KEY-1"));
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn options_parse() {
        let args: Vec<String> = ["--force", "--profile=X", "--admin-cidr", "1.2.3.4/32"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let o = parse_args(&args).unwrap().unwrap();
        assert!(o.force);
        assert_eq!(o.profile.as_deref(), Some("X"));
        assert_eq!(o.admin_cidrs, ["1.2.3.4/32"]);
        assert!(parse_args(&["--bogus".to_string()]).is_err());
        assert!(parse_args(&["--dir".to_string()]).is_err());
        let secret = parse_args(&["tskey-auth-xyz".to_string()]).unwrap_err();
        assert!(!secret.contains("xyz"), "{secret}");
    }
}
