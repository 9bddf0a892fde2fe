//! Scripted faults: per operation, an error, a hang, a dropped connection or a host reboot,
//! on every call, on the Nth call, from the Nth call on, or with a seeded probability
//! (issue 5, "Faults"). Rules come from the config, a JSON file, or the control endpoint.
//! Nothing here is timed: a hang lasts until released or until the lab stops.
//!
//! Operation names: `ssh:<program> <subcommand>` (e.g. `ssh:pvecm add`), `api:<METHOD>
//! <path template>` (e.g. `api:POST /nodes/{node}/qemu`), and the steps inside long work
//! `step:<name>` (e.g. `step:pvecm.addnode`, `step:qm.start`, `step:guest.boot`). A rule's `op`
//! matches exactly, or as a prefix when it ends in `*`.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::LabError;

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultAction {
    /// The operation fails with `message`. SSH commands print it on stderr and exit with
    /// `code` (default 1); API calls answer HTTP `code` (default 500) with it; steps fail their
    /// task with it.
    Error {
        /// The error text.
        message: String,
        /// Exit code (SSH) or HTTP status (API).
        #[serde(default)]
        code: Option<u16>,
    },
    /// The operation waits until the hangs are released or the lab stops.
    Hang,
    /// The connection carrying the operation is closed without an answer.
    Drop,
    /// The host reboots: connections drop, running VMs stop, the host is back after
    /// `host.reboot` (scaled).
    Reboot,
}

/// When a fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultTrigger {
    /// Every matching call.
    #[default]
    Always,
    /// Only the Nth matching call (1-based).
    Nth(u64),
    /// The Nth matching call and every later one (1-based).
    From(u64),
    /// Each matching call with this probability, from the lab's seeded generator.
    Probability(f64),
}

/// One fault rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Operation name, exact or a prefix ending in `*` (see the module docs).
    pub op: String,
    /// Only on this host (`ampere-1`, `bastion`); any host when absent.
    #[serde(default)]
    pub host: Option<String>,
    /// What happens.
    pub action: FaultAction,
    /// When it happens.
    #[serde(default)]
    pub trigger: FaultTrigger,
}

impl FaultRule {
    /// A rule that fails `op` on every call.
    pub fn error(op: &str, message: &str) -> Self {
        FaultRule {
            op: op.into(),
            host: None,
            action: FaultAction::Error {
                message: message.into(),
                code: None,
            },
            trigger: FaultTrigger::Always,
        }
    }

    /// A rule that holds `op` until released, on the Nth call.
    pub fn hang_nth(op: &str, n: u64) -> Self {
        FaultRule {
            op: op.into(),
            host: None,
            action: FaultAction::Hang,
            trigger: FaultTrigger::Nth(n),
        }
    }

    /// Checks the rule's values.
    pub fn validate(&self) -> Result<(), LabError> {
        if self.op.trim().is_empty() {
            return Err(LabError::Faults(
                "a rule needs an 'op' (use '*' for every operation)".into(),
            ));
        }
        match self.trigger {
            FaultTrigger::Nth(0) | FaultTrigger::From(0) => {
                return Err(LabError::Faults(format!(
                    "rule for '{}': calls are counted from 1, so nth/from must be >= 1",
                    self.op
                )))
            }
            FaultTrigger::Probability(p) if !(0.0..=1.0).contains(&p) || !p.is_finite() => {
                return Err(LabError::Faults(format!(
                    "rule for '{}': probability must be between 0 and 1, got {p}",
                    self.op
                )))
            }
            _ => {}
        }
        Ok(())
    }

    fn matches(&self, host: &str, op: &str) -> bool {
        if let Some(h) = &self.host {
            if h != host {
                return false;
            }
        }
        match self.op.strip_suffix('*') {
            Some(prefix) => op.starts_with(prefix),
            None => self.op == op,
        }
    }
}

/// Parses a fault file: a JSON array of rules, or `{"seed": N, "rules": [...]}`.
pub fn parse_fault_file(text: &str) -> Result<(Vec<FaultRule>, Option<u64>), LabError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        seed: Option<u64>,
        rules: Vec<FaultRule>,
    }
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| LabError::Faults(format!("not JSON: {e}")))?;
    let (rules, seed) = if v.is_array() {
        let rules: Vec<FaultRule> =
            serde_json::from_value(v).map_err(|e| LabError::Faults(e.to_string()))?;
        (rules, None)
    } else {
        let f: File = serde_json::from_value(v).map_err(|e| LabError::Faults(e.to_string()))?;
        (f.rules, f.seed)
    };
    for r in &rules {
        r.validate()?;
    }
    Ok((rules, seed))
}

struct Plan {
    rules: Vec<(FaultRule, u64)>,
    rng: u64,
}

/// The active rules, their call counters, and the hang gate.
pub(crate) struct FaultPlan {
    plan: Mutex<Plan>,
    release: watch::Sender<u64>,
    held: std::sync::atomic::AtomicUsize,
}

impl FaultPlan {
    pub(crate) fn new(rules: Vec<FaultRule>, seed: u64) -> Self {
        let (release, _) = watch::channel(0);
        FaultPlan {
            plan: Mutex::new(Plan {
                rules: rules.into_iter().map(|r| (r, 0)).collect(),
                rng: seed,
            }),
            release,
            held: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn add(&self, rule: FaultRule) -> Result<(), LabError> {
        rule.validate()?;
        self.lock().rules.push((rule, 0));
        Ok(())
    }

    pub(crate) fn clear(&self) {
        self.lock().rules.clear();
        self.release_hangs();
    }

    pub(crate) fn rules(&self) -> Vec<FaultRule> {
        self.lock().rules.iter().map(|(r, _)| r.clone()).collect()
    }

    pub(crate) fn release_hangs(&self) {
        self.release.send_modify(|g| *g += 1);
    }

    /// Counts this call against every matching rule and returns the first action that fires.
    pub(crate) fn check(&self, host: &str, op: &str) -> Option<FaultAction> {
        let mut plan = self.lock();
        let mut fired = None;
        let mut rng = plan.rng;
        for (rule, count) in plan.rules.iter_mut() {
            if !rule.matches(host, op) {
                continue;
            }
            *count += 1;
            let hit = match rule.trigger {
                FaultTrigger::Always => true,
                FaultTrigger::Nth(n) => *count == n,
                FaultTrigger::From(n) => *count >= n,
                FaultTrigger::Probability(p) => next_unit(&mut rng) < p,
            };
            if hit && fired.is_none() {
                fired = Some(rule.action.clone());
            }
        }
        plan.rng = rng;
        fired
    }

    /// Waits until [`FaultPlan::release_hangs`] is called or the lab stops.
    pub(crate) async fn hang(&self, cancel: &CancellationToken) {
        use std::sync::atomic::Ordering;
        let mut rx = self.release.subscribe();
        self.held.fetch_add(1, Ordering::SeqCst);
        tokio::select! {
            _ = rx.changed() => {}
            _ = cancel.cancelled() => {}
        }
        self.held.fetch_sub(1, Ordering::SeqCst);
    }

    /// How many calls a `hang` fault holds right now.
    pub(crate) fn held(&self) -> usize {
        self.held.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// splitmix64 step mapped to [0, 1): small, seedable, and good enough for fault dice.
fn next_unit(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn triggers_count_matching_calls_only() {
        let cases: &[(&str, FaultTrigger, &[bool])] = &[
            ("always", FaultTrigger::Always, &[true, true, true]),
            ("nth 2", FaultTrigger::Nth(2), &[false, true, false]),
            ("from 2", FaultTrigger::From(2), &[false, true, true]),
            (
                "probability 0",
                FaultTrigger::Probability(0.0),
                &[false, false, false],
            ),
            (
                "probability 1",
                FaultTrigger::Probability(1.0),
                &[true, true, true],
            ),
        ];
        for (name, trigger, expect) in cases {
            let plan = FaultPlan::new(
                vec![FaultRule {
                    op: "ssh:pvecm*".into(),
                    host: None,
                    action: FaultAction::Drop,
                    trigger: *trigger,
                }],
                7,
            );
            assert!(
                plan.check("ampere-1", "ssh:hostname").is_none(),
                "{name}: other op counted"
            );
            let got: Vec<bool> = (0..3)
                .map(|_| plan.check("ampere-1", "ssh:pvecm add").is_some())
                .collect();
            assert_eq!(&got, expect, "{name}");
        }
    }

    #[test]
    fn fault_file_forms_and_mistakes() {
        let ok = r#"{"seed": 9, "rules": [{"op": "api:*", "action": {"kind": "error", "message": "boom", "code": 503}, "trigger": {"nth": 3}}]}"#;
        let (rules, seed) = parse_fault_file(ok).expect("valid file");
        assert_eq!(seed, Some(9));
        assert_eq!(rules[0].trigger, FaultTrigger::Nth(3));
        let bad = [
            ("not json", "{"),
            (
                "unknown field",
                r#"[{"op": "x", "action": {"kind": "hang"}, "when": "always"}]"#,
            ),
            (
                "nth zero",
                r#"[{"op": "x", "action": {"kind": "hang"}, "trigger": {"nth": 0}}]"#,
            ),
            (
                "probability > 1",
                r#"[{"op": "x", "action": {"kind": "drop"}, "trigger": {"probability": 2.0}}]"#,
            ),
        ];
        for (name, text) in bad {
            assert!(parse_fault_file(text).is_err(), "{name} accepted");
        }
    }
}
