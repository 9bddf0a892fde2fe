//! Step records: one `info` log line per piece of work a long-running resource does, with the
//! host it ran on and when it started and ended. `TF_LOG_PROVIDER=info` shows them, and
//! `freetier timeline` draws a Gantt chart from them. Several records with the same step and
//! host (one per SSH command, say) make one bar from the first start to the last end.

use std::time::{SystemTime, UNIX_EPOCH};

/// The log message of a step record.
pub const MESSAGE: &str = "step";

/// The fields of a step record, as they appear in the log.
pub mod field {
    /// The resource type, e.g. `freetier_talos_cluster`.
    pub const RESOURCE: &str = "resource";
    /// The step's name, e.g. `join ampere-2`.
    pub const STEP: &str = "step";
    /// The host it ran on; empty for work on the cluster as a whole.
    pub const HOST: &str = "host";
    /// Start and end, milliseconds since the Unix epoch.
    pub const START_MS: &str = "start_ms";
    /// End, milliseconds since the Unix epoch.
    pub const END_MS: &str = "end_ms";
    /// Whether the work succeeded.
    pub const OK: &str = "ok";
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Logs one step record: `step` ran on `host` from `start_ms` until now.
pub fn record(resource: &str, step: &str, host: &str, start_ms: u64, ok: bool) {
    tracing::info!(
        resource,
        step,
        host,
        start_ms,
        end_ms = now_ms(),
        ok,
        "step"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_fields_are_the_names_the_timeline_reads() {
        // The macro above spells the names out; they must match the constants.
        assert_eq!(
            [
                field::RESOURCE,
                field::STEP,
                field::HOST,
                field::START_MS,
                field::END_MS,
                field::OK
            ],
            ["resource", "step", "host", "start_ms", "end_ms", "ok"]
        );
        assert_eq!(MESSAGE, "step");
        assert!(now_ms() > 1_700_000_000_000);
    }
}
