//! Logs as hclog JSON lines on stderr, so Terraform's `TF_LOG` / `TF_LOG_PROVIDER` show them
//! at the right level. Facts (hashicorp/go-plugin log_entry.go): `@level` must be exactly
//! trace|debug|info|warn|error and `@timestamp` must carry exactly six fractional digits, or
//! the line is shown verbatim at DEBUG. stdout is never touched: it belongs to the handshake.

use std::io::Write;

use serde_json::{Map, Value as Json};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// The level asked for: `TF_LOG_PROVIDER_FREETIER`, then `TF_LOG_PROVIDER`, then `TF_LOG`;
/// warnings and errors only when none is set (Terraform drops the rest anyway).
pub fn level_from_env() -> LevelFilter {
    ["TF_LOG_PROVIDER_FREETIER", "TF_LOG_PROVIDER", "TF_LOG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .map(|v| parse_level(&v))
        .unwrap_or(LevelFilter::WARN)
}

fn parse_level(v: &str) -> LevelFilter {
    match v.to_ascii_lowercase().as_str() {
        "trace" | "json" => LevelFilter::TRACE,
        "debug" => LevelFilter::DEBUG,
        "info" => LevelFilter::INFO,
        "warn" => LevelFilter::WARN,
        "error" => LevelFilter::ERROR,
        "off" => LevelFilter::OFF,
        _ => LevelFilter::TRACE, // Terraform treats any other non-empty value as TRACE
    }
}

/// Installs the hclog layer as the global subscriber. Safe to call more than once.
pub fn init(level: LevelFilter) {
    let _ = tracing_subscriber::registry()
        .with(HclogLayer.with_filter(level))
        .try_init();
}

/// The tracing layer that writes hclog JSON to stderr.
pub struct HclogLayer;

impl<S: Subscriber> Layer<S> for HclogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let line = format_event(event);
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
    }
}

/// One event as an hclog JSON line (with the trailing newline).
pub fn format_event(event: &Event<'_>) -> String {
    let meta = event.metadata();
    let mut fields = FieldCollector(Map::new());
    event.record(&mut fields);
    let mut m = fields.0;
    let message = m.remove("message").unwrap_or(Json::String(String::new()));
    let mut out = Map::new();
    out.insert("@level".into(), Json::from(level_name(*meta.level())));
    out.insert("@message".into(), message);
    out.insert("@module".into(), Json::from(module_name(meta.target())));
    out.insert("@timestamp".into(), Json::from(timestamp()));
    out.extend(m);
    let mut s = serde_json::to_string(&Json::Object(out)).unwrap_or_default();
    s.push('\n');
    s
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// `freetier::provider::resources::age_key` → `provider.freetier.age_key`: short, and named
/// like Go SDK modules so log filters read the same.
fn module_name(target: &str) -> String {
    let last = target.rsplit("::").next().unwrap_or(target);
    format!("provider.freetier.{last}")
}

/// RFC 3339 UTC with exactly six fractional digits, as hclog's TimeFormatJSON.
pub fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    )
}

struct FieldCollector(Map<String, Json>);

impl Visit for FieldCollector {
    fn record_str(&mut self, f: &Field, v: &str) {
        self.0.insert(f.name().to_string(), Json::from(v));
    }
    fn record_i64(&mut self, f: &Field, v: i64) {
        self.0.insert(f.name().to_string(), Json::from(v));
    }
    fn record_u64(&mut self, f: &Field, v: u64) {
        self.0.insert(f.name().to_string(), Json::from(v));
    }
    fn record_bool(&mut self, f: &Field, v: bool) {
        self.0.insert(f.name().to_string(), Json::from(v));
    }
    fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
        self.0
            .insert(f.name().to_string(), Json::from(format!("{v:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_exactly_six_fractional_digits_and_utc_zone() {
        let t = timestamp();
        let (_, frac) = t.split_once('.').unwrap();
        assert_eq!(frac.len(), 7, "{t}"); // 6 digits + Z
        assert!(frac.ends_with('Z'));
    }

    #[test]
    fn log_levels_follow_terraform_names() {
        assert_eq!(parse_level("DEBUG"), LevelFilter::DEBUG);
        assert_eq!(parse_level("json"), LevelFilter::TRACE);
        assert_eq!(parse_level("Off"), LevelFilter::OFF);
        assert_eq!(level_name(Level::WARN), "warn"); // not "warning", which hclog ignores
    }
}
