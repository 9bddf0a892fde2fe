//! The command line of `freetier validate`: what follows `validate`.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::Flags;

/// The help text.
pub const USAGE: &str = "\
Usage: freetier validate [OPTIONS]

Checks what is deployed against the free tier, layer by layer, from each layer's Terraform
state and the live endpoints it names: custom images, the OCI allocation (and, with OCI
credentials, the Limits API), Proxmox VE quorum and Ceph health, Talos etcd and every
Kubernetes node Ready, month-to-date cost (Usage API) and the $0.01 budget alert. Each row
says pass, fail or not checked, and why.

Options:
  --stack DIR          the layers' directory: state files DIR/oci, DIR/proxmox and DIR/talos
                       /terraform.tfstate (default: terraform)
  --oci-state FILE     Layer 1's state file (default: STACK/oci/terraform.tfstate)
  --proxmox-state FILE Layer 2's state file (default: STACK/proxmox/terraform.tfstate)
  --talos-state FILE   Layer 3's state file (default: STACK/talos/terraform.tfstate)
  --lab DIR            a lab started by `freetier lab up --dir DIR`: Layer 1's state is
                       DIR/oci.tfstate, and the OCI rows ask the lab's OCI endpoint with the
                       credentials it wrote
  --oci-config FILE    OCI CLI configuration (default: $OCI_CLI_CONFIG_FILE, else ~/.oci/config)
  --oci-profile NAME   its profile (default: $OCI_CLI_PROFILE, else DEFAULT)
  --oci-endpoint URL   send every OCI call to this base URL instead of the region's endpoints
  --oci-ca-cert FILE   trust only this CA certificate (PEM) for the OCI endpoints
  --no-oci             do not call the OCI APIs (their rows say not checked)
  --timeout SECONDS    per call (default 20)
  --format FORMAT      text (default) or json
  -h, --help           show this help

Exit status: 0 when no row fails (rows not checked are shown, not failures), 1 when a row
fails, 2 on a usage error.
";

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// For people.
    #[default]
    Text,
    /// For CI.
    Json,
}

/// What to validate and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// Layer 1's state file.
    pub oci_state: PathBuf,
    /// Layer 2's state file.
    pub proxmox_state: PathBuf,
    /// Layer 3's state file.
    pub talos_state: PathBuf,
    /// A lab's state directory.
    pub lab: Option<PathBuf>,
    /// The OCI configuration file (`None`: the default).
    pub oci_config: Option<PathBuf>,
    /// Its profile (`None`: the default).
    pub oci_profile: Option<String>,
    /// One base URL for every OCI service.
    pub oci_endpoint: Option<String>,
    /// A CA certificate file to trust alone.
    pub oci_ca_cert: Option<PathBuf>,
    /// Skip the OCI APIs.
    pub no_oci: bool,
    /// Per-call timeout.
    pub timeout: Duration,
    /// Output format.
    pub format: Format,
}

/// The result of parsing.
#[derive(Debug)]
pub enum Parsed {
    /// `--help`.
    Help,
    /// Run with these options.
    Run(Box<Options>),
}

/// Parses the arguments after `validate`. `Err` is one line saying what is wrong.
pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut stack = PathBuf::from("terraform");
    let mut oci_state: Option<PathBuf> = None;
    let mut proxmox_state: Option<PathBuf> = None;
    let mut talos_state: Option<PathBuf> = None;
    let mut opts = Options {
        oci_state: PathBuf::new(),
        proxmox_state: PathBuf::new(),
        talos_state: PathBuf::new(),
        lab: None,
        oci_config: None,
        oci_profile: None,
        oci_endpoint: None,
        oci_ca_cert: None,
        no_oci: false,
        timeout: Duration::from_secs(20),
        format: Format::Text,
    };
    let mut flags = Flags::new(args);
    while let Some(flag) = flags.next_arg() {
        let mut value = |name: &str| flags.value(name);
        match flag {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--stack" => stack = PathBuf::from(value(flag)?),
            "--oci-state" => oci_state = Some(PathBuf::from(value(flag)?)),
            "--proxmox-state" => proxmox_state = Some(PathBuf::from(value(flag)?)),
            "--talos-state" => talos_state = Some(PathBuf::from(value(flag)?)),
            "--lab" => opts.lab = Some(PathBuf::from(value(flag)?)),
            "--oci-config" => opts.oci_config = Some(PathBuf::from(value(flag)?)),
            "--oci-profile" => opts.oci_profile = Some(value(flag)?),
            "--oci-endpoint" => opts.oci_endpoint = Some(value(flag)?),
            "--oci-ca-cert" => opts.oci_ca_cert = Some(PathBuf::from(value(flag)?)),
            "--no-oci" => opts.no_oci = true,
            "--timeout" => {
                let v = value(flag)?;
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 3600.0)
                    .ok_or_else(|| {
                        format!("--timeout {v:?}: give a number of seconds from 0 to 3600")
                    })?;
                opts.timeout = Duration::from_secs_f64(secs);
            }
            "--format" => {
                opts.format = match value(flag)?.as_str() {
                    "text" => Format::Text,
                    "json" => Format::Json,
                    other => return Err(format!("--format {other:?}: use text or json")),
                }
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let lab_state = opts.lab.as_ref().map(|d| d.join("oci.tfstate"));
    opts.oci_state = oci_state
        .or(lab_state)
        .unwrap_or_else(|| stack.join("oci").join("terraform.tfstate"));
    opts.proxmox_state =
        proxmox_state.unwrap_or_else(|| stack.join("proxmox").join("terraform.tfstate"));
    opts.talos_state = talos_state.unwrap_or_else(|| stack.join("talos").join("terraform.tfstate"));
    Ok(Parsed::Run(Box::new(opts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, String> {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&v)? {
            Parsed::Run(o) => Ok(*o),
            Parsed::Help => Err("help".into()),
        }
    }

    #[test]
    fn state_paths_follow_stack_lab_and_flags() {
        let o = run(&[]).expect("defaults");
        assert_eq!(
            o.oci_state,
            PathBuf::from("terraform/oci/terraform.tfstate")
        );
        assert_eq!(
            o.talos_state,
            PathBuf::from("terraform/talos/terraform.tfstate")
        );
        let o = run(&["--stack", "/s", "--lab=.lab"]).expect("lab");
        assert_eq!(o.oci_state, PathBuf::from(".lab/oci.tfstate"));
        assert_eq!(
            o.proxmox_state,
            PathBuf::from("/s/proxmox/terraform.tfstate")
        );
        let o = run(&[
            "--lab",
            ".lab",
            "--oci-state",
            "x.tfstate",
            "--format",
            "json",
        ])
        .expect("explicit");
        assert_eq!(o.oci_state, PathBuf::from("x.tfstate"));
        assert_eq!(o.format, Format::Json);
    }

    #[test]
    fn usage_errors_say_what_is_wrong() {
        let cases = [
            (
                vec!["--format", "xml"],
                "--format \"xml\": use text or json",
            ),
            (vec!["--stack"], "--stack needs a value"),
            (vec!["--timeout", "-1"], "--timeout \"-1\""),
            (vec!["extra"], "unknown argument \"extra\""),
        ];
        for (args, want) in cases {
            let e = run(&args).expect_err(want);
            assert!(e.starts_with(want), "{args:?}: {e}");
        }
        assert_eq!(run(&["-h"]).expect_err("help"), "help");
    }
}
