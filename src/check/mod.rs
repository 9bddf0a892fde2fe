//! `freetier check`: the free-tier rulebook on a Terraform configuration before any `init`
//! (issue 3), or on a plan's JSON.
//!
//! - `freetier check DIR` reads the `.tf` files of a root module (and of its local child
//!   modules) with hcl-rs, the variables' defaults and `.tfvars`, the locals, and evaluates
//!   what is statically known (literals, variables, locals, operators, `for` expressions,
//!   common functions, `count` / `for_each` and `dynamic` blocks over known values). It totals
//!   the OCI resources the free tier limits ([`crate::rules::OCI_RESOURCES`]) and checks each
//!   `data "freetier_allocation"` on its own, read exactly as the provider reads it, so the two
//!   can be compared on shared fixtures.
//! - `--plan plan.json` reads `terraform show -json plan.tfplan` instead ([`plan`]).
//! - Every violation has a `file:line` (the attribute at fault, else its block), the rule, the
//!   summary and the rulebook's detail. What cannot be evaluated statically is reported as
//!   "not known before plan; the provider checks it at plan time": nothing is skipped silently.
//! - Exit 0 when free (warnings and deferrals allowed), 1 on any error, 2 on usage or read
//!   errors, each explained in one message.
//!
//! Decisions (each mirrors what Terraform or the provider does, so the two agree):
//! - A `freetier_allocation` data source is checked on its own with its own tier, else the
//!   provider's (`--tier` stands in for the provider's); Terraform's own schema errors
//!   (unsupported argument, missing required argument, wrong type) stop that data source
//!   before the rulebook runs, as they stop the provider. A computed attribute set in
//!   configuration is accepted, as Terraform accepts it.
//! - The OCI resources are one allocation, held to `--tier`, else `var.tier`, else the
//!   provider block's `tier`, else always_free; `--tier` also sets `var.tier`, so a layout
//!   computed from it follows. A configuration with OCI resources and no budget alert gets the
//!   rulebook's warning.
//! - `count` / `for_each` over known values are expanded (up to 1000 copies; past that one item
//!   carries the count); a value Terraform refuses there is an error; an unknown one defers.
//! - A bucket's size and a custom image's size are not in configuration: stated as deferred.
//! - `data.freetier_allocation.NAME.sizes` (and `totals`, `free`, …) and
//!   `provider::freetier::ampere_layout` are computed from the same rulebook, so a stack whose
//!   instances take their sizes from the guard is still checked before plan.
//! - Findings point at the attribute's line; Terraform points a finding inside a `dynamic`
//!   block (and, on Terraform 1.0, inside any nested block) at the enclosing block, whose line
//!   the JSON report gives as `block_line`.
//!
//! Layout: `args` (command line), `config` (files, variables, locals, modules, count /
//! for_each), `eval` + `funcs` + `types` + `value` (the static evaluator), `collect` (HCL to
//! allocations), `plan` (plan JSON to allocations), `unit` (allocation + sites → findings),
//! `output` (text and JSON).
//!
//! Imports the pure `rules` (its mapping table says which OCI resources count and how
//! `freetier_allocation` is spelled, for the provider and this command alike), and from
//! `provider` only the allocation data source's schema (for Terraform's own schema errors). It
//! imports nothing from `plugin`, `tfplugin5` or the framework's runtime.

mod args;
mod collect;
mod config;
mod eval;
mod funcs;
mod output;
mod plan;
mod types;
mod unit;
mod value;

use std::io::Write;
use std::path::Path;
use std::rc::Rc;

pub use args::{Format, Options, USAGE};
pub use output::Outcome;

/// Exit code: free (warnings and deferrals allowed).
pub const EXIT_FREE: i32 = 0;
/// Exit code: at least one error.
pub const EXIT_VIOLATIONS: i32 = 1;
/// Exit code: usage, read or parse error.
pub const EXIT_USAGE: i32 = 2;

/// Runs `freetier check` with the arguments after `check`. Never panics on any input.
pub fn run(args: &[String], stdout: &mut dyn Write, stderr: &mut dyn Write) -> i32 {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_inner(args, stdout, stderr)
    }));
    match result {
        Ok(code) => code,
        Err(_) => {
            let _ = writeln!(stderr, "freetier check: {INTERNAL}");
            EXIT_USAGE
        }
    }
}

fn fail(format: Format, stdout: &mut dyn Write, stderr: &mut dyn Write, message: &str) -> i32 {
    let _ = writeln!(stderr, "freetier check: {message}");
    if format == Format::Json {
        let j = serde_json::json!({ "version": 1, "error": message });
        let _ = writeln!(stdout, "{j}");
    }
    EXIT_USAGE
}

fn run_inner(args: &[String], stdout: &mut dyn Write, stderr: &mut dyn Write) -> i32 {
    let opts = match args::parse(args) {
        Ok(args::Parsed::Help) => {
            let _ = stdout.write_all(USAGE.as_bytes());
            return EXIT_FREE;
        }
        Ok(args::Parsed::Run(o)) => o,
        Err(e) => {
            let format = if args.iter().any(|a| a == "json" || a == "--format=json") {
                Format::Json
            } else {
                Format::Text
            };
            return fail(format, stdout, stderr, &format!("{e}\n\n{USAGE}"));
        }
    };
    match check(&opts) {
        Ok(outcome) => {
            // Through one buffer: stdout is line-buffered, and a report has hundreds of lines
            // (a buffer the size of the whole report would be as many fresh pages to fault in).
            let mut report = std::io::BufWriter::with_capacity(32 * 1024, &mut *stdout);
            let written = match opts.format {
                Format::Text => output::text(&outcome, &mut report),
                Format::Json => output::json(&outcome, &mut report),
            }
            .and_then(|()| report.flush());
            // After an error the rest is dropped, not retried.
            let _ = report.into_parts();
            let written = written.and_then(|()| stdout.flush());
            if let Err(e) = written {
                let _ = writeln!(stderr, "freetier check: cannot write the report: {e}");
                return EXIT_USAGE;
            }
            if outcome.errors() > 0 {
                EXIT_VIOLATIONS
            } else {
                EXIT_FREE
            }
        }
        Err(message) => fail(opts.format, stdout, stderr, &message),
    }
}

/// Every built-in Terraform function `freetier check` evaluates (any other is reported as not
/// known before plan).
pub const FUNCTIONS: &[&str] = funcs::BUILTINS;

/// The message of a bug: what `check` and `run` say instead of panicking.
const INTERNAL: &str = "internal error (a bug, not your configuration); please report it";

/// Checks what the options name: the outcome, or the one message saying why it could not be
/// read. Never panics: a bug is reported as an internal error.
pub fn check(opts: &Options) -> Result<Outcome, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_inner(opts)))
        .unwrap_or_else(|_| Err(INTERNAL.to_owned()))
}

fn check_inner(opts: &Options) -> Result<Outcome, String> {
    let units = match &opts.plan {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
            plan::units(&file.display().to_string(), &text, opts.tier).map_err(|e| e.to_string())?
        }
        None => {
            let shared = Rc::new(config::Shared {
                tier_flag: opts.tier,
            });
            let mut inputs = config::Inputs {
                var_files: opts.var_files.clone(),
                vars: opts.vars.clone(),
            };
            // --tier stands for the configuration's tier: a `tier` variable gets it too (as
            // `-var tier=…` would), so a layout computed from var.tier follows it.
            if let Some(t) = opts.tier {
                inputs.vars.push(("tier".into(), t.as_str().into()));
            }
            let dir: &Path = &opts.dir;
            if !dir.is_dir() {
                return Err(format!(
                    "{}: not a directory; give the directory of a Terraform root module",
                    dir.display()
                ));
            }
            let root =
                config::Module::load_root(dir, &inputs, shared).map_err(|e| e.to_string())?;
            let schema = crate::provider::data_sources::allocation::schema();
            collect::units(&root, &schema)
        }
    };
    let checked = units.into_iter().map(unit::Unit::resolve).collect();
    Ok(Outcome {
        mode: if opts.plan.is_some() {
            "plan"
        } else {
            "config"
        },
        path: match &opts.plan {
            Some(p) => p.display().to_string(),
            None => opts.dir.display().to_string(),
        },
        checked,
    })
}
