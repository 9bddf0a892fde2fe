//! `freetier timeline` on a recorded run: the lab applying Layers 2 and 3 at time scale 0.05,
//! with `TF_LOG_PROVIDER=info` (its step records in `tests/fixtures/timeline/lab-run.log`) and
//! the lab's own trace beside it. The pages it writes are opened in a real headless browser
//! (Debian's chromium): they load without an error and show every step.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/timeline")
        .join(name)
}

fn freetier(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_freetier"))
        .arg("timeline")
        .args(args)
        .output()
        .expect("freetier runs")
}

/// Every step label of the run, as the chart names its bars.
fn step_labels() -> Vec<String> {
    let text = std::fs::read_to_string(fixture("lab-run.log")).unwrap();
    let records = freetier::timeline::parse_log(&text).expect("the recorded run reads");
    let t = freetier::timeline::Timeline::from_records(&records);
    t.bars.iter().map(|b| b.label()).collect()
}

fn chromium() -> PathBuf {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("sh")
            .args(["-c", &format!("command -v {c}")])
            .output()
        {
            let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !path.is_empty() {
                return PathBuf::from(path);
            }
        }
    }
    panic!("no chromium: scripts/install-tools.sh installs Debian's chromium");
}

/// Loads `page` in headless chromium; returns the DOM after load and the browser's log.
fn open(page: &Path, profile: &Path) -> (String, String) {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn a_recorded_run_becomes_pages_a_browser_shows_with_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let run = freetier(&[
        "--out",
        out.to_str().unwrap(),
        "--lab-trace",
        fixture("lab-trace.json").to_str().unwrap(),
        fixture("lab-run.log").to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&run.stdout).to_string();
    assert!(
        run.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(said.contains("critical path: "), "{said}");
    assert!(
        said.contains("run.svg") && said.contains("run.html"),
        "{said}"
    );
    let labels = step_labels();
    for want in [
        "join ampere-2",
        "ceph install on ampere-1",
        "vm cp-1 on ampere-1",
        "bootstrap",
        "nodes ready",
    ] {
        assert!(
            labels.iter().any(|l| l == want),
            "{want} is not a step of the run: {labels:?}"
        );
    }
    for page in ["run.html", "run.svg"] {
        let (dom, log) = open(&dir.path().join(page), &dir.path().join("profile"));
        for label in &labels {
            assert!(
                dom.contains(label.as_str()),
                "{page} does not show {label:?}"
            );
        }
        assert!(dom.contains("Lab operations"), "{page} has the lab's trace");
        assert!(
            dom.contains("One thing after another"),
            "{page} has the sequential order"
        );
        for bad in ["Uncaught", "CONSOLE", "Failed to load", "error on line"] {
            assert!(
                !log.contains(bad) && !dom.contains(bad),
                "{page}: {bad} in {log}"
            );
        }
    }
    let html = std::fs::read_to_string(dir.path().join("run.html")).unwrap();
    for outside in ["<script", "src=\"http", "href=\"http", "@import", "url("] {
        assert!(
            !html.contains(outside),
            "the page loads nothing from elsewhere: {outside}"
        );
    }
}

#[test]
fn logs_without_step_records_or_cut_short_are_refused_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("plain.log");
    std::fs::write(&empty, "2026-12-05T01:50:23Z [INFO]  some: other message\n").unwrap();
    let out = freetier(&[
        "--out",
        dir.path().join("x").to_str().unwrap(),
        empty.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("plain.log: no step records") && err.contains("TF_LOG_PROVIDER=info"),
        "{err}"
    );

    let text = std::fs::read_to_string(fixture("lab-run.log")).unwrap();
    let mut lines: Vec<&str> = text.lines().take(3).collect();
    let last = lines.pop().unwrap();
    let cut = &last[..last.find("start_ms").unwrap_or(last.len() / 2)];
    let truncated = dir.path().join("cut.log");
    std::fs::write(&truncated, format!("{}\n{cut}", lines.join("\n"))).unwrap();
    let out = freetier(&[truncated.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cut.log:3: "), "{err}");
    assert!(!dir.path().join("timeline.svg").exists());

    let usage = freetier(&[]);
    assert_eq!(usage.status.code(), Some(2));
}
