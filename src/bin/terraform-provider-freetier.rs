//! The provider binary Terraform and OpenTofu launch. All logic lives in the library.

use std::process::ExitCode;
use std::sync::Arc;

use freetier::plugin::{self, HostOptions};
use freetier::provider::{FreetierProvider, SOURCE_ADDRESS};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--version" || a == "-version") {
        println!("terraform-provider-freetier {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("terraform-provider-freetier {}: a Terraform/OpenTofu provider (plugin protocol 5).\n\nTerraform starts this binary itself. Options for developers:\n  --debug    serve unmanaged and print a TF_REATTACH_PROVIDERS value\n  --version  print the version", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let opts = HostOptions {
        address: SOURCE_ADDRESS.to_string(),
        debug: args.iter().any(|a| a == "--debug" || a == "-debug"),
    };
    match plugin::run(Arc::new(FreetierProvider), opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("terraform-provider-freetier: {e}");
            ExitCode::FAILURE
        }
    }
}
