//! Drawing a [`Timeline`]: an SVG Gantt chart, and an HTML page that holds it with a summary
//! and a table. Both are self-contained: no script, no font or style from elsewhere.

use std::fmt::Write as _;

use super::{Bar, Timeline};

const LABEL_W: f64 = 320.0;
const CHART_W: f64 = 860.0;
const ROW_H: f64 = 18.0;
const TOP: f64 = 48.0;

/// Escapes text for XML and HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn secs(ms: f64) -> String {
    let s = ms / 1000.0;
    if s >= 100.0 {
        format!("{s:.0} s")
    } else if s >= 10.0 {
        format!("{s:.1} s")
    } else {
        format!("{s:.2} s")
    }
}

/// A tick spacing of 1, 2 or 5 × 10^k ms giving at most about ten ticks over `total`.
fn tick_every(total: f64) -> f64 {
    let raw = (total / 10.0).max(1.0);
    let k = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * k)
        .find(|t| *t >= raw)
        .unwrap_or(10.0 * k)
}

fn group_colour(i: usize) -> &'static str {
    ["#3b7dd8", "#2f9e6e", "#8a63d2", "#c77c02"][i % 4]
}

/// The chart as an SVG document.
pub fn svg(t: &Timeline, title: &str) -> String {
    let scale_ms = t.span.max(t.sequential).max(1.0);
    let x = |ms: f64| LABEL_W + ms / scale_ms * CHART_W;
    let groups: Vec<&str> = {
        let mut g: Vec<&str> = t.bars.iter().map(|b| b.group.as_str()).collect();
        g.dedup();
        g
    };
    // Rows: a heading per group, its bars, then the sequential section (a heading and one
    // row per group).
    let rows = groups.len() * 2 + t.bars.len() + 1;
    let height = TOP + rows as f64 * ROW_H + 40.0;
    let width = LABEL_W + CHART_W + 20.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(
        s,
        r#"<title>{}</title><style>.bar{{opacity:.85}}.critical{{fill:#d9480f}}.failed{{fill:#999;stroke:#c00;stroke-dasharray:3 2}}.heading{{font-weight:bold}}.axis{{stroke:#ddd}}</style>"#,
        esc(title)
    );
    let _ = write!(
        s,
        r#"<text x="4" y="16" font-size="14" class="heading">{}</text><text x="4" y="32">took {}; one thing after another: {}; critical path in orange</text>"#,
        esc(title),
        secs(t.span),
        secs(t.sequential)
    );
    // Time axis.
    let every = tick_every(scale_ms);
    let mut tick = 0.0;
    while tick <= scale_ms + 0.5 {
        let tx = x(tick);
        let _ = write!(
            s,
            r##"<line class="axis" x1="{tx:.1}" y1="{TOP}" x2="{tx:.1}" y2="{:.1}"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle" fill="#666">{}</text>"##,
            height - 30.0,
            height - 16.0,
            secs(tick)
        );
        tick += every;
    }
    let mut y = TOP;
    for (gi, group) in groups.iter().enumerate() {
        let _ = write!(
            s,
            r#"<text x="4" y="{:.1}" class="heading">{}</text>"#,
            y + 13.0,
            esc(group)
        );
        y += ROW_H;
        for b in t.bars.iter().filter(|b| b.group == *group) {
            bar_row(&mut s, b, y, x(b.start), x(b.end), group_colour(gi));
            y += ROW_H;
        }
    }
    // The same work, one thing after another.
    let _ = write!(
        s,
        r#"<text x="4" y="{:.1}" class="heading">One thing after another (the original design): {}</text>"#,
        y + 13.0,
        secs(t.sequential)
    );
    y += ROW_H;
    let mut at = 0.0;
    for (gi, group) in groups.iter().enumerate() {
        if !t
            .bars
            .iter()
            .any(|b| b.group == *group && super::counts(&t.bars, b))
        {
            continue;
        }
        let _ = write!(
            s,
            r#"<text x="4" y="{:.1}">{}</text>"#,
            y + 13.0,
            esc(group)
        );
        for b in t.bars.iter().filter(|b| b.group == *group) {
            let (x0, x1) = (x(at), x(at + b.duration()));
            let _ = write!(
                s,
                r##"<rect class="bar" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}" stroke="#fff" stroke-width=".5"><title>{}: {}</title></rect>"##,
                y + 2.0,
                (x1 - x0).max(0.5),
                ROW_H - 4.0,
                group_colour(gi),
                esc(&b.label()),
                secs(b.duration())
            );
            at += b.duration();
        }
        y += ROW_H;
    }
    s.push_str("</svg>\n");
    s
}

fn bar_row(s: &mut String, b: &Bar, y: f64, x0: f64, x1: f64, colour: &str) {
    let class = if !b.ok {
        "bar failed"
    } else if b.critical {
        "bar critical"
    } else {
        "bar"
    };
    let _ = write!(
        s,
        r#"<text x="14" y="{:.1}">{}</text><rect class="{class}" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{colour}"><title>{}: {} from {} to {}{}</title></rect>"#,
        y + 13.0,
        esc(&b.label()),
        y + 2.0,
        (x1 - x0).max(1.0),
        ROW_H - 4.0,
        esc(&b.label()),
        secs(b.duration()),
        secs(b.start),
        secs(b.end),
        if b.critical {
            ", on the critical path"
        } else {
            ""
        }
    );
}

/// The chart in a page of its own, with a summary and a table of every step.
pub fn html(t: &Timeline, title: &str) -> String {
    let path: Vec<String> = t.critical_path().iter().map(|b| esc(&b.label())).collect();
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font-family:sans-serif;margin:1.5em}}table{{border-collapse:collapse}}\
         td,th{{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}}\
         td.n{{text-align:right}}tr.critical td{{color:#d9480f}}</style></head><body>",
        esc(title)
    );
    let _ = write!(
        s,
        "<h1>{}</h1><p>The run took <b>{}</b>. The same steps one after another, as the original \
         design ran them, take <b>{}</b> ({:.1}× as long).</p><p>Critical path: {}.</p>",
        esc(title),
        secs(t.span),
        secs(t.sequential),
        t.sequential / t.span.max(1.0),
        path.join(" → ")
    );
    s.push_str(&svg(t, title));
    s.push_str(
        "<table><thead><tr><th>layer</th><th>step</th><th>host</th><th>start</th>\
         <th>duration</th><th></th></tr></thead><tbody>",
    );
    for b in &t.bars {
        let _ = write!(
            s,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td>{}</td></tr>",
            if b.critical { "critical" } else { "" },
            esc(&b.group),
            esc(&b.step),
            esc(&b.host),
            secs(b.start),
            secs(b.duration()),
            match (b.ok, b.critical) {
                (false, _) => "failed",
                (true, true) => "critical path",
                _ => "",
            }
        );
    }
    s.push_str("</tbody></table></body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::Record;

    #[test]
    fn every_step_is_drawn_with_its_label_escaped_and_ticks_are_round() {
        let r = |step: &str, start: f64, end: f64| Record {
            resource: "freetier_talos_cluster".into(),
            step: step.into(),
            host: "ampere-1".into(),
            start_ms: start,
            end_ms: end,
            ok: true,
        };
        let t =
            Timeline::from_records(&[r("vm cp-1", 0.0, 4000.0), r("a <b> & c", 4000.0, 9000.0)]);
        let svg = svg(&t, "t");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("vm cp-1 on ampere-1"));
        assert!(svg.contains("a &lt;b&gt; &amp; c on ampere-1"));
        assert!(!svg.contains("a <b>"));
        let page = html(&t, "t");
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(
            page.contains("Critical path: vm cp-1 on ampere-1 → a &lt;b&gt; &amp; c on ampere-1.")
        );
        assert_eq!(tick_every(9000.0), 1000.0);
        assert_eq!(tick_every(64_000.0), 10_000.0);
        assert_eq!(tick_every(150.0), 20.0);
    }
}
