//! `pvesh` and `qm` on the emulated hosts: both run the API's own handlers in-process, so
//! they answer from the same state as the HTTPS API.
//!
//! Wire facts and their sources:
//! - `pvesh get|create|set|delete PATH [--PARAM VALUE …] [--output-format text|json|json-pretty]`
//!   (`pve-manager` `PVE/CLI/pvesh.pm`; methods GET, POST, PUT, DELETE). `json` prints only
//!   the `data`, keys sorted, on one line (`pve-common` `CLIFormatter.pm` `print_api_result`:
//!   `to_json($data, {canonical => 1})`); `json-pretty` indents by three with JSON::XS's
//!   `"key" : value`; `text` prints scalars as they are and structures as bordered tables.
//!   No handler for the path: "no 'get' handler for '/x'". A worker endpoint runs its task to
//!   the end (the CLI environment forks workers synchronously, `RESTEnvironment.pm`
//!   `fork_worker`), printing its log, then the UPID.
//! - `qm list` (`qemu-server` `PVE/CLI/qm.pm`): nothing at all without VMs; else
//!   `printf "%10s %-20s %-10s %-10s %12s %-10s\n"` headers VMID NAME STATUS MEM(MB)
//!   BOOTDISK(GB) PID, rows sorted by vmid with `%12.2f` for the disk.
//! - `qm status VMID [--verbose]`: `status: running|stopped`; verbose prints every field
//!   but `cpu`, sorted, nested hashes indented by a tab.
//! - `qm config VMID`: sorted `key: value` lines without `digest`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::api::{self, ApiError};
use super::pvecm::node_of;
use super::shell::{die, Ctx, Proc};

/// Parses `--key value` / `--key=value` options after the positional words; `flags` take no
/// value (`--verbose`), and read as `1`.
fn options(
    args: &[String],
    flags: &[&str],
) -> Result<(Vec<String>, BTreeMap<String, String>), String> {
    let mut pos = Vec::new();
    let mut opts = BTreeMap::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if let Some(raw) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) {
            if raw.is_empty() || a.parse::<f64>().is_ok() {
                pos.push(a.clone());
            } else if let Some((k, v)) = raw.split_once('=') {
                opts.insert(k.to_string(), v.to_string());
            } else if flags.contains(&raw) {
                opts.insert(raw.to_string(), "1".to_string());
            } else {
                let v = args
                    .get(i + 1)
                    .cloned()
                    .ok_or_else(|| format!("missing value for option '{raw}'"))?;
                opts.insert(raw.to_string(), v);
                i += 1;
            }
        } else {
            pos.push(a.clone());
        }
        i += 1;
    }
    Ok((pos, opts))
}

/// How a failed call reads on a PVE CLI's stderr (`PVE::Exception` `stringify`).
fn error_text(e: &ApiError, cmd: &str, path: &str) -> String {
    match e {
        ApiError::Param(errors) => {
            let mut s = String::from("400 Parameter verification failed.\n");
            for (k, v) in errors {
                s.push_str(&format!("{k}: {v}\n"));
            }
            s
        }
        ApiError::Status(501, _) => format!("no '{cmd}' handler for '{path}'"),
        ApiError::Status(_, m) => m.clone(),
    }
}

/// A JSON value with every object's keys sorted (`canonical => 1`).
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                out.insert(k.clone(), canonical(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// JSON::XS's `pretty`: three-space indent and `"key" : value`.
struct XsPretty {
    inner: serde_json::ser::PrettyFormatter<'static>,
}

impl serde_json::ser::Formatter for XsPretty {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.inner.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.inner.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.inner.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.inner.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.inner.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.inner.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.inner.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b" : ")
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.inner.end_object_value(w)
    }
}

fn pretty(v: &Value) -> String {
    let mut out = Vec::new();
    let fmt = XsPretty {
        inner: serde_json::ser::PrettyFormatter::with_indent(b"   "),
    };
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    let _ = serde::Serialize::serialize(v, &mut ser);
    String::from_utf8_lossy(&out).to_string()
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A bordered table as `CLIFormatter.pm` `print_text_table` draws it (numbers right-aligned).
fn table(header: &[String], rows: &[Vec<Value>]) -> String {
    let cells: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(cell).collect()).collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |l: &str, m: &str, r: &str, fill: &str| {
        let parts: Vec<String> = widths.iter().map(|w| fill.repeat(w + 2)).collect();
        format!("{l}{}{r}\n", parts.join(m))
    };
    let row = |vals: &[String], numeric: &[bool]| {
        let parts: Vec<String> = vals
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let w = widths[i];
                if numeric[i] {
                    format!(" {v:>w$} ")
                } else {
                    format!(" {v:<w$} ")
                }
            })
            .collect();
        format!("│{}│\n", parts.join("│"))
    };
    let mut s = line("┌", "┬", "┐", "─");
    s.push_str(&row(header, &vec![false; header.len()]));
    s.push_str(&line("╞", "╪", "╡", "═"));
    for (r, vals) in rows.iter().zip(&cells) {
        let numeric: Vec<bool> = r.iter().map(Value::is_number).collect();
        s.push_str(&row(vals, &numeric));
    }
    s.push_str(&line("└", "┴", "┘", "─"));
    s
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Array(items) => {
            let mut cols: Vec<String> = items
                .iter()
                .filter_map(Value::as_object)
                .flat_map(|o| o.keys().cloned())
                .collect();
            cols.sort();
            cols.dedup();
            if cols.is_empty() {
                return items.iter().map(|i| format!("{}\n", cell(i))).collect();
            }
            let rows: Vec<Vec<Value>> = items
                .iter()
                .map(|i| cols.iter().map(|c| i[c].clone()).collect())
                .collect();
            table(&cols, &rows)
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let rows: Vec<Vec<Value>> = keys
                .into_iter()
                .map(|k| vec![Value::from(k.as_str()), m[k].clone()])
                .collect();
            table(&["key".into(), "value".into()], &rows)
        }
        other => format!("{}\n", cell(other)),
    }
}

/// Waits for `upid`'s task to stop; its log lines (without the closing `TASK …` line) and
/// exit status.
async fn run_task(ctx: &Ctx, upid: &str) -> (Vec<String>, String) {
    loop {
        {
            let mut w = ctx.lab.world();
            if let Some(t) = w.task_mut(upid) {
                if let Some(status) = t.exitstatus.clone() {
                    let lines = t
                        .log
                        .iter()
                        .filter(|l| !l.starts_with("TASK "))
                        .cloned()
                        .collect();
                    return (lines, status);
                }
            } else {
                return (Vec::new(), "OK".into());
            }
        }
        if ctx.lab.cancel.is_cancelled() || ctx.conn.is_cancelled() {
            return (Vec::new(), "interrupted by signal".into());
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

fn is_upid(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| s.starts_with("UPID:"))
}

/// `pvesh`.
pub(crate) async fn pvesh(ctx: &Ctx, rest: &[String], p: &mut Proc) -> i32 {
    const USAGE: &str = "USAGE: pvesh <COMMAND> [ARGS] [OPTIONS]";
    let flags = ["noborder", "noheader", "human-readable", "quiet"];
    let (pos, mut opts) = match options(rest, &flags) {
        Ok(x) => x,
        Err(e) => return die(p, &format!("{e}\n{USAGE}")),
    };
    let (Some(cmd), Some(path)) = (pos.first(), pos.get(1)) else {
        return die(p, USAGE);
    };
    let method = match cmd.as_str() {
        "get" | "ls" => "GET",
        "create" => "POST",
        "set" => "PUT",
        "delete" => "DELETE",
        other => return die(p, &format!("unknown command 'pvesh {other}'\n{USAGE}")),
    };
    let format = opts
        .remove("output-format")
        .unwrap_or_else(|| "text".into());
    if !["text", "json", "json-pretty", "yaml"].contains(&format.as_str()) {
        return die(
            p,
            &format!("400 Parameter verification failed.\noutput-format: value '{format}' does not have a value in the enumeration 'text, json, json-pretty, yaml'\n"),
        );
    }
    for flag in flags {
        opts.remove(flag);
    }
    let path = format!("/{}", path.trim_matches('/'));
    let node = node_of(ctx);
    let data = match api::local_call(&ctx.lab, node, method, &path, opts).await {
        Ok(d) => d,
        Err(e) => return die(p, &error_text(&e, cmd, &path)),
    };
    if let Some(upid) = is_upid(&data) {
        let (lines, status) = run_task(ctx, upid).await;
        for l in lines {
            p.out(&format!("{l}\n"));
        }
        if status != "OK" && !status.starts_with("WARNINGS") {
            return die(p, &status);
        }
    }
    let out = match format.as_str() {
        "json" => format!("{}\n", canonical(&data)),
        "json-pretty" => format!("{}\n", pretty(&canonical(&data))),
        "yaml" => serde_norway::to_string(&canonical(&data)).unwrap_or_default(),
        _ => text(&data),
    };
    if !data.is_null() {
        p.out(&out);
    }
    0
}

/// `qm list`, `qm status`, `qm config`.
pub(crate) async fn qm(ctx: &Ctx, rest: &[String], p: &mut Proc) -> i32 {
    const USAGE: &str = "USAGE: qm <COMMAND> [ARGS] [OPTIONS]";
    let (pos, opts) = match options(rest, &["verbose", "current"]) {
        Ok(x) => x,
        Err(e) => return die(p, &format!("{e}\n{USAGE}")),
    };
    let node = node_of(ctx);
    let name = ctx.host_name();
    let call = |method: &'static str, path: String| {
        let lab = ctx.lab.clone();
        async move { api::local_call(&lab, node, method, &path, BTreeMap::new()).await }
    };
    match pos.first().map(String::as_str) {
        Some("list") => {
            let list = match call("GET", format!("/nodes/{name}/qemu")).await {
                Ok(l) => l,
                Err(e) => return die(p, &error_text(&e, "list", "")),
            };
            let mut vms: Vec<Value> = list.as_array().cloned().unwrap_or_default();
            if vms.is_empty() {
                return 0;
            }
            vms.sort_by_key(|v| v["vmid"].as_u64().unwrap_or(0));
            let mut s = format!(
                "{:>10} {:<20} {:<10} {:<10} {:>12} {:<10}\n",
                "VMID", "NAME", "STATUS", "MEM(MB)", "BOOTDISK(GB)", "PID"
            );
            for v in vms {
                // Perl's `%-10s` of the float `maxmem / 1048576`: whole MiB print bare.
                let mem = v["maxmem"].as_u64().unwrap_or(0) / (1024 * 1024);
                let disk = v["maxdisk"].as_u64().unwrap_or(0) as f64 / (1u64 << 30) as f64;
                s.push_str(&format!(
                    "{:>10} {:<20} {:<10} {:<10} {:>12.2} {:<10}\n",
                    v["vmid"].as_u64().unwrap_or(0),
                    cell(&v["name"]),
                    cell(&v["status"]),
                    mem,
                    disk,
                    v["pid"].as_u64().unwrap_or(0)
                ));
            }
            p.out(&s);
            0
        }
        Some(sub @ ("status" | "config")) => {
            let Some(vmid) = pos.get(1) else {
                return die(
                    p,
                    &format!("400 not enough arguments\nqm {sub} <vmid> [OPTIONS]"),
                );
            };
            // Both load the config first (`AbstractConfig.pm` `load_config`).
            let config = match call("GET", format!("/nodes/{name}/qemu/{vmid}/config")).await {
                Ok(c) => c,
                Err(e) => return die(p, &error_text(&e, sub, "")),
            };
            if sub == "config" {
                let mut s = String::new();
                if let Some(m) = config.as_object() {
                    let mut keys: Vec<&String> = m.keys().filter(|k| *k != "digest").collect();
                    keys.sort();
                    for k in keys {
                        s.push_str(&format!("{k}: {}\n", cell(&m[k])));
                    }
                }
                p.out(&s);
                return 0;
            }
            let cur = match call("GET", format!("/nodes/{name}/qemu/{vmid}/status/current")).await {
                Ok(c) => c,
                Err(e) => return die(p, &error_text(&e, sub, "")),
            };
            let verbose = opts
                .get("verbose")
                .is_some_and(|v| super::api::schema::parse_bool(v) == Some(true));
            if verbose {
                p.out(&verbose_status(&cur, ""));
            } else {
                p.out(&format!(
                    "status: {}\n",
                    cur["qmpstatus"].as_str().unwrap_or("unknown")
                ));
            }
            0
        }
        Some(other) => die(
            p,
            &format!("qm {other}: not emulated by the lab (list, status and config are)"),
        ),
        None => die(p, USAGE),
    }
}

/// `print_recursive_hash`: sorted keys, nested hashes under a tab.
fn verbose_status(v: &Value, prefix: &str) -> String {
    let mut s = String::new();
    if let Some(m) = v.as_object() {
        let mut keys: Vec<&String> = m.keys().filter(|k| *k != "cpu").collect();
        keys.sort();
        for k in keys {
            match &m[k] {
                Value::Object(_) => {
                    s.push_str(&format!("{prefix}{k}:\n"));
                    s.push_str(&verbose_status(&m[k], &format!("\t{prefix}")));
                }
                other => s.push_str(&format!("{prefix}{k}: {}\n", cell(other))),
            }
        }
    }
    s
}
