//! `freetier timeline`: a Gantt chart of a deployment, from the provider's step records.
//!
//! Input is what `TF_LOG_PROVIDER=info` writes (Terraform's text lines, or the plugin's own
//! hclog JSON lines), so the same command draws a real deployment and a lab run; the lab's
//! trace (`GET /trace` on its control endpoint) is a second input. Output is an SVG and a
//! self-contained HTML page: one bar per step and host, grouped by layer, the critical path
//! marked, and the same work laid end to end as the original design ran it, for comparison.

mod parse;
mod render;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use parse::{parse_lab_trace, parse_log, ParseError, Record};
pub use render::{html, svg};

/// One bar: every record of one step on one host, from the first start to the last end.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The layer (group) it belongs to, e.g. `Layer 2: Proxmox VE and Ceph`.
    pub group: String,
    /// The step, e.g. `join ampere-2`.
    pub step: String,
    /// The host, or empty for cluster-wide work.
    pub host: String,
    /// Start, milliseconds after the first record.
    pub start: f64,
    /// End, milliseconds after the first record.
    pub end: f64,
    /// Whether every record of it succeeded.
    pub ok: bool,
    /// Whether it is on the critical path.
    pub critical: bool,
}

impl Bar {
    /// Its length in milliseconds.
    pub fn duration(&self) -> f64 {
        (self.end - self.start).max(0.0)
    }

    /// What the chart calls it.
    pub fn label(&self) -> String {
        if self.host.is_empty() || self.step.contains(&self.host) {
            self.step.clone()
        } else {
            format!("{} on {}", self.step, self.host)
        }
    }
}

/// A run, ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// Bars, by start.
    pub bars: Vec<Bar>,
    /// From the first start to the last end, in milliseconds.
    pub span: f64,
    /// The bars' lengths added up: the time the same work takes one thing after another, as
    /// the original design ran it.
    pub sequential: f64,
}

/// The group a resource's records belong to.
fn group_of(resource: &str) -> String {
    match resource {
        "freetier_proxmox_cluster" => "Layer 2: Proxmox VE and Ceph".into(),
        "freetier_talos_cluster" => "Layer 3: Talos Kubernetes".into(),
        "lab" => "Lab operations".into(),
        other => other.to_string(),
    }
}

impl Timeline {
    /// Merges records into bars and marks the critical path.
    pub fn from_records(records: &[Record]) -> Timeline {
        // Records of one step on one host make one bar while they follow each other; the same
        // step again much later (a second apply, a check after the run) is a bar of its own.
        const GAP_MS: f64 = 1000.0;
        let t0 = records.iter().map(|r| r.start_ms).fold(f64::MAX, f64::min);
        let mut sorted: Vec<&Record> = records.iter().collect();
        sorted.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
        let mut bars: Vec<Bar> = Vec::new();
        let mut last: BTreeMap<(String, String, String), usize> = BTreeMap::new();
        for r in sorted {
            let group = group_of(&r.resource);
            let key = (group.clone(), r.step.clone(), r.host.clone());
            let (start, end) = (r.start_ms - t0, r.end_ms - t0);
            match last.get(&key) {
                Some(&i) if start - bars[i].end <= GAP_MS => {
                    let bar = &mut bars[i];
                    bar.end = bar.end.max(end);
                    bar.ok &= r.ok;
                }
                _ => {
                    last.insert(key, bars.len());
                    bars.push(Bar {
                        group,
                        step: r.step.clone(),
                        host: r.host.clone(),
                        start,
                        end,
                        ok: r.ok,
                        critical: false,
                    });
                }
            }
        }
        // The layers first, in order; the lab's own operations after them.
        let rank = |g: &str| (!g.starts_with("Layer"), g.to_string());
        bars.sort_by(|a, b| {
            rank(&a.group)
                .cmp(&rank(&b.group))
                .then(a.start.total_cmp(&b.start))
                .then(a.end.total_cmp(&b.end))
        });
        mark_critical(&mut bars);
        let span = bars.iter().map(|b| b.end).fold(0.0, f64::max)
            - bars
                .iter()
                .map(|b| b.start)
                .fold(f64::MAX, f64::min)
                .min(0.0);
        let sequential = bars
            .iter()
            .filter(|b| counts(&bars, b))
            .map(Bar::duration)
            .sum();
        Timeline {
            bars,
            span,
            sequential,
        }
    }

    /// The critical path's bars, first to last.
    pub fn critical_path(&self) -> Vec<&Bar> {
        let mut path: Vec<&Bar> = self.bars.iter().filter(|b| b.critical).collect();
        path.sort_by(|a, b| a.start.total_cmp(&b.start));
        path
    }
}

/// Whether `b` is the deployment's own work: the layers' steps when there are any (the lab's
/// trace beside them shows the same work from the other side, on a clock of its own).
pub(crate) fn counts(bars: &[Bar], b: &Bar) -> bool {
    b.group.starts_with("Layer") || !bars.iter().any(|x| x.group.starts_with("Layer"))
}

/// Marks the chain that decided when the run ended: from the bar that ended last, each time
/// the bar that ended last before it started. Without the dependencies themselves this is
/// the chain of waits the run actually had.
fn mark_critical(bars: &mut [Bar]) {
    // Records are whole milliseconds and a step starts right after the one it waited for.
    const SLACK_MS: f64 = 50.0;
    let eligible: Vec<usize> = (0..bars.len())
        .filter(|&i| counts(bars, &bars[i]))
        .collect();
    let Some(mut at) = eligible
        .iter()
        .copied()
        .max_by(|&a, &b| bars[a].end.total_cmp(&bars[b].end))
    else {
        return;
    };
    loop {
        bars[at].critical = true;
        let start = bars[at].start;
        let before = eligible
            .iter()
            .copied()
            .filter(|&i| !bars[i].critical && bars[i].end <= start + SLACK_MS)
            .max_by(|&a, &b| bars[a].end.total_cmp(&bars[b].end));
        match before {
            Some(i) if bars[i].end < bars[at].end => at = i,
            _ => break,
        }
    }
}

/// Reads every input, draws the chart, writes `<out>.svg` and `<out>.html`, and returns
/// their paths with the timeline.
pub fn run(
    logs: &[PathBuf],
    lab_traces: &[PathBuf],
    out: &Path,
) -> Result<(Timeline, PathBuf, PathBuf), String> {
    // Each input keeps its own clock (a log in Unix time, the lab's trace since the lab
    // started): each is drawn from its own first record.
    let from_zero = |mut rs: Vec<Record>| {
        let t0 = rs.iter().map(|r| r.start_ms).fold(f64::MAX, f64::min);
        for r in &mut rs {
            r.start_ms -= t0;
            r.end_ms -= t0;
        }
        rs
    };
    let mut records = Vec::new();
    for p in logs {
        let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
        records.extend(from_zero(parse_log(&text).map_err(|e| e.in_file(p))?));
    }
    for p in lab_traces {
        let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
        records.extend(from_zero(parse_lab_trace(&text).map_err(|e| e.in_file(p))?));
    }
    if records.is_empty() {
        let files: Vec<String> = logs
            .iter()
            .chain(lab_traces)
            .map(|p| p.display().to_string())
            .collect();
        return Err(format!(
            "{}: no step records. Record a run with TF_LOG_PROVIDER=info and TF_LOG_PATH=FILE (Terraform's log), or give the lab's trace with --lab-trace",
            files.join(", ")
        ));
    }
    let timeline = Timeline::from_records(&records);
    let svg_path = out.with_extension("svg");
    let html_path = out.with_extension("html");
    let title = "freetier deployment timeline";
    std::fs::write(&svg_path, svg(&timeline, title))
        .map_err(|e| format!("{}: {e}", svg_path.display()))?;
    std::fs::write(&html_path, html(&timeline, title))
        .map_err(|e| format!("{}: {e}", html_path.display()))?;
    Ok((timeline, svg_path, html_path))
}

const HELP: &str = "freetier timeline: a Gantt chart of a deployment

Usage:
  freetier timeline [--out PREFIX] [--lab-trace TRACE.json]... LOG...

LOG is Terraform's log of an apply recorded with TF_LOG_PROVIDER=info and TF_LOG_PATH=LOG
(or the provider's own JSON log lines). TRACE.json is the lab's trace (GET /trace on its
control endpoint). Writes PREFIX.svg and PREFIX.html (default: timeline).
";

/// `freetier timeline …`: exit 0 when the chart is written, 1 when the input cannot be read,
/// 2 on a usage mistake.
pub fn run_cli(args: &[String]) -> i32 {
    let mut logs = Vec::new();
    let mut traces = Vec::new();
    let mut out = PathBuf::from("timeline");
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let mut value = |name: &str| {
            i += 1;
            args.get(i)
                .map(PathBuf::from)
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let step = match a {
            "-h" | "--help" => {
                print!("{HELP}");
                return 0;
            }
            "--out" => value("--out").map(|v| out = v),
            "--lab-trace" => value("--lab-trace").map(|v| traces.push(v)),
            flag if flag.starts_with("--") => Err(format!("unknown option {flag:?}")),
            file => {
                logs.push(PathBuf::from(file));
                Ok(())
            }
        };
        if let Err(e) = step {
            eprint!("freetier timeline: {e}\n\n{HELP}");
            return 2;
        }
        i += 1;
    }
    if logs.is_empty() && traces.is_empty() {
        eprint!("freetier timeline: give at least one log or --lab-trace\n\n{HELP}");
        return 2;
    }
    match run(&logs, &traces, &out) {
        Ok((t, svg_path, html_path)) => {
            println!(
                "{} steps over {:.1} s (one after another: {:.1} s); critical path: {}",
                t.bars.len(),
                t.span / 1000.0,
                t.sequential / 1000.0,
                t.critical_path()
                    .iter()
                    .map(|b| b.label())
                    .collect::<Vec<_>>()
                    .join(" -> ")
            );
            println!("wrote {} and {}", svg_path.display(), html_path.display());
            0
        }
        Err(e) => {
            eprintln!("freetier timeline: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(resource: &str, step: &str, host: &str, start: f64, end: f64) -> Record {
        Record {
            resource: resource.into(),
            step: step.into(),
            host: host.into(),
            start_ms: start,
            end_ms: end,
            ok: true,
        }
    }

    #[test]
    fn records_of_one_step_on_one_host_make_one_bar_and_the_waits_make_the_critical_path() {
        let pve = "freetier_proxmox_cluster";
        let records = [
            rec(pve, "connect", "ampere-1", 1000.0, 1100.0),
            rec(pve, "connect", "ampere-2", 1000.0, 1300.0),
            rec(pve, "ceph install", "ampere-1", 1100.0, 5000.0),
            rec(pve, "ceph install", "ampere-1", 5000.0, 9000.0),
            rec(pve, "join ampere-2", "ampere-2", 1300.0, 3000.0),
            rec(pve, "ceph init", "ampere-1", 9000.0, 9500.0),
        ];
        let t = Timeline::from_records(&records);
        assert_eq!(t.bars.len(), 5, "two records of ceph install are one bar");
        assert_eq!(t.span, 8500.0);
        assert_eq!(t.sequential, 100.0 + 300.0 + 7900.0 + 1700.0 + 500.0);
        let path: Vec<String> = t.critical_path().iter().map(|b| b.label()).collect();
        assert_eq!(
            path,
            [
                "connect on ampere-1",
                "ceph install on ampere-1",
                "ceph init on ampere-1"
            ]
        );
    }
}
