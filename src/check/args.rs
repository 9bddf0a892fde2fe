//! The command line of `freetier check`: what follows `check`.
//!
//! Imports nothing from the rest of the crate but the pure `rules` (to validate `--tier`).

use std::path::PathBuf;

use crate::cli::Flags;
use crate::rules::Tier;

/// The help text.
pub const USAGE: &str = "\
Usage: freetier check [OPTIONS] [DIR]
       freetier check --plan PLAN.json [OPTIONS]

Checks a Terraform configuration against Oracle Cloud's free tier before any `init`:
reads DIR's .tf and .tfvars files (default: the current directory), evaluates what is
known statically, and reports every limit it breaks with file:line. With --plan, checks
the planned values of `terraform show -json plan.tfplan` instead.

Options:
  --plan FILE        check the JSON of `terraform show -json plan.tfplan`
  --tier TIER        always_free or pay_as_you_go (default: the `tier` variable, else the
                     provider's tier, else always_free); sets the `tier` variable too
  --format FORMAT    text (default) or json
  --var-file FILE    read variable values from FILE too, after *.auto.tfvars (repeatable)
  --var NAME=VALUE   set a variable, last (repeatable)
  -h, --help         show this help

Exit status: 0 free (warnings allowed), 1 on violations, 2 on usage or read errors.
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

/// What to check and how.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The root module directory.
    pub dir: PathBuf,
    /// A plan JSON to check instead.
    pub plan: Option<PathBuf>,
    /// `--tier`.
    pub tier: Option<Tier>,
    /// `--format`.
    pub format: Format,
    /// `--var-file`, in order.
    pub var_files: Vec<PathBuf>,
    /// `--var`, in order.
    pub vars: Vec<(String, String)>,
}

/// The result of parsing.
#[derive(Debug)]
pub enum Parsed {
    /// `--help`.
    Help,
    /// Run with these options.
    Run(Options),
}

/// Parses the arguments after `check`. `Err` is one line saying what is wrong.
pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut opts = Options::default();
    let mut dir: Option<PathBuf> = None;
    let mut flags = Flags::new(args);
    while let Some(flag) = flags.next_arg() {
        let mut value = |name: &str| flags.value(name);
        match flag {
            "-h" | "--help" | "help" => return Ok(Parsed::Help),
            "--plan" | "-plan" => opts.plan = Some(PathBuf::from(value("--plan")?)),
            "--tier" | "-tier" => {
                let t = value("--tier")?;
                opts.tier = Some(Tier::parse(&t).map_err(|e| format!("--tier: {e}"))?);
            }
            "--format" | "-format" => {
                opts.format = match value("--format")?.as_str() {
                    "text" => Format::Text,
                    "json" => Format::Json,
                    other => {
                        return Err(format!(
                            "--format: unknown format {other:?}; valid values are text, json"
                        ))
                    }
                }
            }
            "--var-file" | "-var-file" => opts.var_files.push(PathBuf::from(value("--var-file")?)),
            "--var" | "-var" => {
                let v = value("--var")?;
                let (name, val) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--var {v:?}: write NAME=VALUE"))?;
                opts.vars.push((name.trim().to_owned(), val.to_owned()));
            }
            f if f.starts_with('-') && f.len() > 1 => {
                return Err(format!("unknown option {f:?}"));
            }
            _ => {
                if let Some(first) = &dir {
                    return Err(format!(
                        "one directory at a time: got {} and {flag}",
                        first.display()
                    ));
                }
                dir = Some(PathBuf::from(flag));
            }
        }
    }
    if opts.plan.is_some() && dir.is_some() {
        return Err("give a directory or --plan, not both".into());
    }
    opts.dir = dir.unwrap_or_else(|| PathBuf::from("."));
    Ok(Parsed::Run(opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Parsed, String> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn arguments_parse_or_say_what_is_wrong() {
        let ok: &[(&str, &[&str])] = &[
            ("a directory", &["terraform/oci"]),
            (
                "plan and json",
                &["--plan", "plan.json", "--format", "json"],
            ),
            ("tier", &["--tier", "pay_as_you_go", "DIR"]),
            (
                "inline values",
                &["--tier=always_free", "--format=json", "DIR"],
            ),
            ("vars", &["--var", "n=2", "--var-file", "x.tfvars"]),
        ];
        for (name, args) in ok {
            assert!(matches!(p(args), Ok(Parsed::Run(_))), "{name}");
        }
        let bad: &[(&str, &[&str], &str)] = &[
            ("unknown tier", &["--tier", "free"], "valid values"),
            ("missing value", &["--plan"], "needs a value"),
            ("unknown option", &["--frobnicate"], "unknown option"),
            ("two dirs", &["a", "b"], "one directory"),
            ("dir and plan", &["a", "--plan", "p.json"], "not both"),
            ("bad format", &["--format", "yaml"], "text, json"),
            ("bad var", &["--var", "novalue"], "NAME=VALUE"),
        ];
        for (name, args, needle) in bad {
            let e = p(args).expect_err(name);
            assert!(e.contains(needle), "{name}: {e}");
        }
        assert!(matches!(p(&["--help"]), Ok(Parsed::Help)));
    }
}
