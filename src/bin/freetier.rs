//! The `freetier` CLI. All logic lives in the library; this maps subcommands to exit codes.

use std::process::ExitCode;

const USAGE: &str = "freetier: keep an Oracle Cloud stack inside the free tier

Usage:
  freetier setup [OPTIONS]            first step: tfvars, SSH and age keys, SOPS secrets (--help)
  freetier check [OPTIONS] DIR        audit .tf/.tfvars before any init (freetier check --help)
  freetier check --plan PLAN.json     audit `terraform show -json` plan output
  freetier validate [OPTIONS]         check what is deployed, layer by layer, against the
                                      free tier and its live endpoints (freetier validate --help)
  freetier lab up|down|status [--dir DIR]
                                      emulated free-tier hosts on loopback (freetier lab --help)
  freetier image --url URL [OPTIONS]  import a published disk image as an OCI custom image
                                      (freetier image --help)
  freetier timeline [--out PREFIX] LOG...
                                      a Gantt chart of an apply from its TF_LOG_PROVIDER=info log
  freetier --version
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("setup") => {
            freetier::setup::run(&args[1..], &mut std::io::stdout(), &mut std::io::stderr())
        }
        Some("check") => {
            freetier::check::run(&args[1..], &mut std::io::stdout(), &mut std::io::stderr())
        }
        Some("validate") => {
            freetier::validate::run(&args[1..], &mut std::io::stdout(), &mut std::io::stderr())
        }
        Some("lab") => match freetier::cli::runtime() {
            Ok(rt) => rt.block_on(freetier::lab::cli::run_cli(&args[1..])),
            Err(e) => {
                eprintln!("freetier lab: cannot start the runtime: {e}");
                1
            }
        },
        Some("image") => {
            freetier::image::run(&args[1..], &mut std::io::stdout(), &mut std::io::stderr())
        }
        Some("timeline") => freetier::timeline::run_cli(&args[1..]),
        Some("--version" | "-V") => {
            println!("freetier {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some("--help" | "-h" | "help") => {
            print!("{USAGE}");
            0
        }
        Some(other) => {
            eprint!("freetier: unknown command {other:?}\n\n{USAGE}");
            2
        }
        None => {
            eprint!("{USAGE}");
            2
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
