//! Scripted faults per operation: an error, a hang, a dropped connection or a reboot, on every
//! call, on the Nth call, from the Nth call on, or with a probability (issue 5, "Faults").

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use super::lock;

/// What a fault does to the call it hits.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// The call fails: gRPC `UNAVAILABLE`, or HTTP 503 with a `ServiceUnavailable` Status,
    /// carrying this message.
    Error(String),
    /// The call never answers (until the fleet or node stops).
    Hang,
    /// The connection is closed without an answer.
    Drop,
    /// The node reboots; the call fails as its connection goes away.
    Reboot,
}

/// When a fault fires.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultWhen {
    /// On every call.
    Always,
    /// Only on the Nth call of the operation (1-based).
    NthCall(u64),
    /// On the Nth call and every later one (1-based).
    FromCall(u64),
    /// On each call with this probability (0.0–1.0).
    Probability(f64),
}

/// A fault rule for one operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// What happens.
    pub kind: FaultKind,
    /// When it happens.
    pub when: FaultWhen,
    /// Only calls served by this node; `None` for any node.
    pub address: Option<Ipv4Addr>,
}

impl Fault {
    /// A failing call on every call.
    pub fn error(message: impl Into<String>) -> Self {
        Self::always(FaultKind::Error(message.into()))
    }
    /// A call that never answers, on every call.
    pub fn hang() -> Self {
        Self::always(FaultKind::Hang)
    }
    /// A dropped connection, on every call.
    pub fn drop_connection() -> Self {
        Self::always(FaultKind::Drop)
    }
    /// A node reboot, on every call.
    pub fn reboot() -> Self {
        Self::always(FaultKind::Reboot)
    }
    fn always(kind: FaultKind) -> Self {
        Self {
            kind,
            when: FaultWhen::Always,
            address: None,
        }
    }
    /// Fires only on the Nth call (1-based).
    pub fn on_call(mut self, n: u64) -> Self {
        self.when = FaultWhen::NthCall(n);
        self
    }
    /// Fires on the Nth call and after (1-based).
    pub fn from_call(mut self, n: u64) -> Self {
        self.when = FaultWhen::FromCall(n);
        self
    }
    /// Fires with probability `p`.
    pub fn with_probability(mut self, p: f64) -> Self {
        self.when = FaultWhen::Probability(p);
        self
    }
    /// Restricts the fault to calls served by one node.
    pub fn at(mut self, address: Ipv4Addr) -> Self {
        self.address = Some(address);
        self
    }
}

/// The fleet's fault rules and call counters.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    rules: Mutex<HashMap<String, Vec<Fault>>>,
    calls: Mutex<HashMap<String, u64>>,
}

impl Faults {
    pub(crate) fn set(&self, op: &str, fault: Fault) {
        lock(&self.rules)
            .entry(op.to_string())
            .or_default()
            .push(fault);
    }

    pub(crate) fn clear(&self, op: &str) {
        lock(&self.rules).remove(op);
    }

    pub(crate) fn clear_all(&self) {
        lock(&self.rules).clear();
        lock(&self.calls).clear();
    }

    /// Counts a call of `op` served at `address` and returns the fault to inject, if any.
    pub(crate) fn check(&self, op: &str, address: Ipv4Addr) -> Option<FaultKind> {
        let n = {
            let mut calls = lock(&self.calls);
            let c = calls.entry(op.to_string()).or_insert(0);
            *c = c.saturating_add(1);
            *c
        };
        let rules = lock(&self.rules);
        let list = rules.get(op)?;
        list.iter()
            .filter(|f| f.address.is_none_or(|a| a == address))
            .find(|f| match f.when {
                FaultWhen::Always => true,
                FaultWhen::NthCall(k) => n == k,
                FaultWhen::FromCall(k) => n >= k,
                FaultWhen::Probability(p) => random_unit() < p,
            })
            .map(|f| f.kind.clone())
    }
}

impl super::TalosFleet {
    /// How many calls of `op` have started since the faults were last cleared, answered or
    /// not: a test sees a held call this way before it has finished.
    pub fn calls(&self, op: &str) -> u64 {
        lock(&self.inner.faults.calls).get(op).copied().unwrap_or(0)
    }
}

/// A uniform number in [0, 1).
fn random_unit() -> f64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return 1.0;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_fire_as_scripted() {
        let a = Ipv4Addr::new(127, 0, 0, 2);
        let b = Ipv4Addr::new(127, 0, 0, 3);
        struct Case {
            name: &'static str,
            fault: Fault,
            at: Ipv4Addr,
            want: [bool; 4],
        }
        let cases = [
            Case {
                name: "always",
                fault: Fault::hang(),
                at: a,
                want: [true; 4],
            },
            Case {
                name: "second call only",
                fault: Fault::hang().on_call(2),
                at: a,
                want: [false, true, false, false],
            },
            Case {
                name: "from third call",
                fault: Fault::hang().from_call(3),
                at: a,
                want: [false, false, true, true],
            },
            Case {
                name: "never with p=0",
                fault: Fault::hang().with_probability(0.0),
                at: a,
                want: [false; 4],
            },
            Case {
                name: "always with p=1",
                fault: Fault::hang().with_probability(1.0),
                at: a,
                want: [true; 4],
            },
            Case {
                name: "other node",
                fault: Fault::hang().at(b),
                at: a,
                want: [false; 4],
            },
        ];
        for case in cases {
            let f = Faults::default();
            f.set("op", case.fault.clone());
            for (i, want) in case.want.iter().enumerate() {
                assert_eq!(
                    f.check("op", case.at).is_some(),
                    *want,
                    "{} call {}",
                    case.name,
                    i + 1
                );
            }
        }
    }
}
