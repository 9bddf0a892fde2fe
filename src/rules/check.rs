//! The check: an [`Allocation`] against a [`Tier`]'s limits, giving a [`Report`].
//!
//! It never panics on input. Every number is screened before use (NaN, infinities, negatives,
//! fractions where whole numbers are needed, values above [`MAX_INPUT`]), so sums and products
//! stay finite. A bad value gets a violation naming its attribute and is left out of the
//! totals; an unknown value gets a [`Deferral`] and marks the totals it feeds as incomplete.
//!
//! This file holds the entry point, the screening and recording every rule shares, and the
//! totals; the per-item rules are in `compute.rs` (instances, volumes) and `services.rs`
//! (network, Object Storage, images, budgets).
//!
//! Imports nothing from the rest of the crate.

use std::collections::BTreeMap;

use super::allocation::{Allocation, Quantity, Value};
use super::report::{
    Deferral, EffectiveInstance, ItemKind, Report, RuleId, Severity, Subject, Total, Violation,
};
use super::tiers::{format_number, Limit, LimitKey, LimitKind, Tier, Unit};

/// Inputs above this are rejected as unreal. It also bounds every product (count × size) far
/// below `f64::MAX`, so no total can become infinite.
pub const MAX_INPUT: f64 = 1e12;

// Slack for comparing sums of fractional inputs (0.1 + 0.2 style), far below any real unit.
pub(super) const EPSILON: f64 = 1e-9;

// Sources for rules that screen input rather than apply a tier limit. Like every source, they
// reach users, so they cite only what users can open.
pub(super) const SRC_INPUT: &str =
    "OCI sizes and Terraform counts are finite, non-negative numbers; \
     volumes are sized in whole GB";
pub(super) const SRC_REQUIRED: &str =
    "oracle/terraform-provider-oci, website/docs/r/core_instance.html.\
     markdown and its siblings: flexible shapes need shape_config or shape_details";
pub(super) const SRC_SHAPES: &str = concat!(
    "Oracle's Always Free page: the free shapes are VM.Standard.A1.Flex and \
     VM.Standard.E2.1.Micro, ",
    "https://docs.oracle.com/en-us/iaas/Content/FreeTier/freetier_topic-Always_Free_Resources.htm"
);
pub(super) const SRC_LB_SHAPE: &str = concat!(
    "Oracle's Always Free page: the free load balancer is the flexible shape at 10 Mbps, ",
    "https://docs.oracle.com/en-us/iaas/Content/FreeTier/freetier_topic-Always_Free_Resources.htm",
    "; on newer tenancies 10Mbps-Micro fails with LimitExceeded lb-10mbps-micro-count (GitHub: \
     oracle-quickstart/oci-cloudnative issue #230)"
);

/// Checks `allocation` against `tier`. Pure; never panics.
pub fn check(tier: Tier, allocation: &Allocation) -> Report {
    let mut checker = Checker::new(tier);
    for (index, instance) in allocation.instances.iter().enumerate() {
        checker.instance(index, instance);
    }
    for (index, volume) in allocation.block_volumes.iter().enumerate() {
        checker.block_volume(index, volume);
    }
    let counted = [
        (
            ItemKind::VolumeBackup,
            LimitKey::VolumeBackups,
            &allocation.volume_backups,
        ),
        (
            ItemKind::ReservedPublicIp,
            LimitKey::ReservedPublicIps,
            &allocation.reserved_public_ips,
        ),
        (ItemKind::Vcn, LimitKey::Vcns, &allocation.vcns),
        (
            ItemKind::NatGateway,
            LimitKey::NatGateways,
            &allocation.nat_gateways,
        ),
        (
            ItemKind::ServiceGateway,
            LimitKey::ServiceGateways,
            &allocation.service_gateways,
        ),
        (
            ItemKind::NetworkLoadBalancer,
            LimitKey::NetworkLoadBalancers,
            &allocation.network_load_balancers,
        ),
    ];
    for (kind, key, items) in counted {
        for (index, item) in items.iter().enumerate() {
            checker.counted(kind, key, index, item);
        }
    }
    for (index, lb) in allocation.load_balancers.iter().enumerate() {
        checker.load_balancer(index, lb);
    }
    for (index, stored) in allocation.object_storage.iter().enumerate() {
        checker.object_storage(index, stored);
    }
    for (index, image) in allocation.custom_images.iter().enumerate() {
        checker.custom_image(index, image);
    }
    if let Some(alerts) = &allocation.budget_alerts {
        checker.budget_alerts(alerts);
    }
    checker.finish()
}

/// The violations of [`check`] alone.
pub fn violations(tier: Tier, allocation: &Allocation) -> Vec<Violation> {
    check(tier, allocation).violations
}

// A screened number: usable, unknown until apply, or rejected (with a violation already made).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Num {
    Known(f64),
    Unknown,
    Bad,
}

impl Num {
    pub(super) fn known(self) -> Option<f64> {
        match self {
            Num::Known(v) => Some(v),
            Num::Unknown | Num::Bad => None,
        }
    }

    // Product of two screened numbers. Bad wins, so rejected input stays out of totals; a known
    // zero (count = 0) wins over unknown, since nothing times anything is nothing.
    pub(super) fn times(self, other: Num) -> Num {
        match (self, other) {
            (Num::Bad, _) | (_, Num::Bad) => Num::Bad,
            (Num::Known(a), Num::Known(b)) => Num::Known(a * b),
            (Num::Known(zero), Num::Unknown) | (Num::Unknown, Num::Known(zero)) if zero == 0.0 => {
                Num::Known(0.0)
            }
            _ => Num::Unknown,
        }
    }
}

// A raw quantity after the screening every number gets, before any rule-specific check.
pub(super) enum Read {
    Val(f64),
    Unknown,
    Absent,
    Bad,
}

// One item's share of a total, kept to say where the total crosses its limit.
struct Part {
    subject: Subject,
    who: String,
    amount: f64,
    note: Option<&'static str>,
}

#[derive(Default)]
struct Acc {
    known: f64,
    items: f64,
    unknown: bool,
    parts: Vec<Part>,
}

pub(super) struct Checker {
    pub(super) tier: Tier,
    pub(super) violations: Vec<Violation>,
    pub(super) deferred: Vec<Deferral>,
    accs: BTreeMap<LimitKey, Acc>,
    pub(super) instances: Vec<EffectiveInstance>,
}

// "instance \"node-1\" (instances[0])", or just "instances[0]" without a label.
pub(super) fn who(kind: ItemKind, index: usize, label: &Option<String>) -> String {
    let path = Subject::item(kind, index, None);
    match label {
        Some(label) => format!("{} {label:?} ({path})", kind.noun()),
        None => path.to_string(),
    }
}

fn plural(noun: &str, n: f64) -> String {
    if (n - 1.0).abs() < EPSILON {
        noun.to_owned()
    } else if let Some(stem) = noun.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{noun}s")
    }
}

// Total-kind keys: the rule they break and how their total is worded.
fn total_rule(key: LimitKey) -> Option<(RuleId, ItemKind, &'static str)> {
    let row = match key {
        LimitKey::A1Ocpus => (RuleId::A1OcpuTotal, ItemKind::Instance, "A1 instance"),
        LimitKey::A1MemoryGb => (RuleId::A1MemoryTotal, ItemKind::Instance, "A1 instance"),
        LimitKey::A1Instances => (RuleId::A1InstanceCount, ItemKind::Instance, "A1 instance"),
        LimitKey::MicroInstances => (
            RuleId::MicroInstanceCount,
            ItemKind::Instance,
            "micro instance",
        ),
        LimitKey::BlockStorageGb => (
            RuleId::BlockStorageTotal,
            ItemKind::BlockVolume,
            "boot or block volume",
        ),
        LimitKey::VolumeBackups => (
            RuleId::VolumeBackupCount,
            ItemKind::VolumeBackup,
            "volume backup",
        ),
        LimitKey::ReservedPublicIps => (
            RuleId::ReservedPublicIpCount,
            ItemKind::ReservedPublicIp,
            "reserved public IP",
        ),
        LimitKey::Vcns => (RuleId::VcnCount, ItemKind::Vcn, "VCN"),
        LimitKey::NatGateways => (RuleId::NatGatewayCount, ItemKind::NatGateway, "NAT gateway"),
        LimitKey::ServiceGateways => (
            RuleId::ServiceGatewayCount,
            ItemKind::ServiceGateway,
            "service gateway",
        ),
        LimitKey::LoadBalancers => (
            RuleId::LoadBalancerCount,
            ItemKind::LoadBalancer,
            "load balancer",
        ),
        LimitKey::LoadBalancerBandwidthMbps => (
            RuleId::LoadBalancerBandwidth,
            ItemKind::LoadBalancer,
            "flexible load balancer",
        ),
        LimitKey::NetworkLoadBalancers => (
            RuleId::NetworkLoadBalancerCount,
            ItemKind::NetworkLoadBalancer,
            "network load balancer",
        ),
        LimitKey::ObjectStorageGb => (
            RuleId::ObjectStorageTotal,
            ItemKind::ObjectStorage,
            "object storage entry",
        ),
        _ => return None,
    };
    Some(row)
}

pub(super) fn with_note(text: String, limit: &Limit) -> String {
    match limit.note {
        Some(note) => format!("{text} {note}"),
        None => text,
    }
}

impl Checker {
    fn new(tier: Tier) -> Checker {
        Checker {
            tier,
            violations: Vec::new(),
            deferred: Vec::new(),
            accs: BTreeMap::new(),
            instances: Vec::new(),
        }
    }

    pub(super) fn limit(&self, key: LimitKey) -> Option<&'static Limit> {
        self.tier.limit(key)
    }

    pub(super) fn value_or(&self, key: LimitKey, fallback: f64) -> f64 {
        self.limit(key).map_or(fallback, |l| l.value)
    }

    // ---- recording -------------------------------------------------------------------------

    // A rule about the input itself, not backed by a tier limit.
    pub(super) fn push(
        &mut self,
        rule: RuleId,
        severity: Severity,
        subject: Subject,
        detail: String,
    ) {
        let source = match rule {
            RuleId::MissingValue => SRC_REQUIRED,
            _ => SRC_INPUT,
        };
        self.push_sourced(rule, severity, subject, detail, source);
    }

    pub(super) fn push_sourced(
        &mut self,
        rule: RuleId,
        severity: Severity,
        subject: Subject,
        detail: String,
        source: &'static str,
    ) {
        self.violations.push(Violation {
            rule,
            severity,
            subject,
            summary: rule.summary(),
            detail,
            key: None,
            limit: None,
            total: None,
            overrun: None,
            source,
            since: None,
        });
    }

    // A per-item rule backed by a tier limit: the limit's numbers and evidence go along.
    pub(super) fn push_limit(
        &mut self,
        rule: RuleId,
        severity: Severity,
        subject: Subject,
        limit: &'static Limit,
        value: f64,
        what: String,
    ) {
        let overrun = (value - limit.value).abs();
        let bound = limit.display_value();
        let rule_text = match (rule, limit.kind) {
            (RuleId::A1OcpuNotWhole, _) => {
                format!("A1 OCPUs come in whole numbers, at least {bound}")
            }
            (RuleId::MicroShapeFixed, _) => format!("The shape is fixed at {bound}"),
            (_, LimitKind::ItemMin) => format!("The minimum is {bound}"),
            (_, LimitKind::ItemMax) => format!("The maximum is {bound}"),
            (_, LimitKind::Fixed | LimitKind::Total) => format!("The rule: {bound}"),
        };
        let detail = with_note(
            format!(
                "{what} {rule_text} ({}). {}",
                limit.citation(),
                rule.advice()
            ),
            limit,
        );
        self.violations.push(Violation {
            rule,
            severity,
            subject,
            summary: rule.summary(),
            detail,
            key: Some(limit.key),
            limit: Some(limit.value),
            total: Some(value),
            overrun: Some(overrun),
            source: limit.source,
            since: limit.since,
        });
    }

    pub(super) fn defer(&mut self, subject: Subject, limits: &[LimitKey], who: &str, what: &str) {
        self.defer_because(subject, limits, who, what, "it is computed at apply");
    }

    pub(super) fn defer_because(
        &mut self,
        subject: Subject,
        limits: &[LimitKey],
        who: &str,
        what: &str,
        because: &str,
    ) {
        // The totals are marked incomplete where the unknown value is added to them, so that a
        // count of 0 can still close them.
        let attribute = subject.attribute().unwrap_or("value");
        self.deferred.push(Deferral {
            subject,
            limits: limits.to_vec(),
            reason: format!(
                "{who}: {attribute} is not known yet ({because}); {what} will be checked once \
                 it is."
            ),
        });
    }

    pub(super) fn add(
        &mut self,
        key: LimitKey,
        subject: Subject,
        who: &str,
        copies: Num,
        per: Num,
    ) {
        self.add_noted(key, subject, who, copies, per, None);
    }

    pub(super) fn add_noted(
        &mut self,
        key: LimitKey,
        subject: Subject,
        who: &str,
        copies: Num,
        per: Num,
        note: Option<&'static str>,
    ) {
        let acc = self.accs.entry(key).or_default();
        match copies.times(per) {
            Num::Known(amount) => {
                acc.known += amount;
                acc.items += copies.known().unwrap_or(0.0);
                acc.parts.push(Part {
                    subject,
                    who: who.to_owned(),
                    amount,
                    note,
                });
            }
            Num::Unknown => acc.unknown = true,
            Num::Bad => {}
        }
    }

    // ---- screening -------------------------------------------------------------------------

    // The screening every number gets: finite, not negative, not absurd, whole when asked.
    pub(super) fn read(&mut self, q: &Quantity, subject: Subject, who: &str, whole: bool) -> Read {
        let v = match q {
            Value::Known(v) => *v,
            Value::Unknown => return Read::Unknown,
            Value::Absent => return Read::Absent,
        };
        let problem = if v.is_nan() {
            "is not a number"
        } else if v.is_infinite() {
            "is infinite"
        } else if v < 0.0 {
            "is negative"
        } else if v > MAX_INPUT {
            "is too large to be a real size or count"
        } else if whole && v.fract() != 0.0 {
            "must be a whole number"
        } else {
            return Read::Val(v);
        };
        let attribute = subject.attribute().unwrap_or("value");
        self.push(
            RuleId::InvalidValue,
            Severity::Error,
            subject,
            format!(
                "{who}: {attribute} = {} {problem}. {}",
                format_number(v),
                RuleId::InvalidValue.advice()
            ),
        );
        Read::Bad
    }

    pub(super) fn missing(&mut self, subject: Subject, who: &str, why: &str) {
        let attribute = subject.attribute().unwrap_or("value");
        self.push(
            RuleId::MissingValue,
            Severity::Error,
            subject,
            format!(
                "{who}: {attribute} is not set. {why} {}",
                RuleId::MissingValue.advice()
            ),
        );
    }

    // Terraform `count`: absent is one; unknown defers every total the block feeds.
    pub(super) fn count(
        &mut self,
        q: &Quantity,
        kind: ItemKind,
        index: usize,
        who: &str,
        feeds: &[LimitKey],
    ) -> Num {
        let subject = Subject::item(kind, index, Some("count"));
        match self.read(q, subject, who, true) {
            Read::Val(v) => Num::Known(v),
            Read::Absent => Num::Known(1.0),
            Read::Bad => Num::Bad,
            Read::Unknown => {
                self.defer(subject, feeds, who, "the totals this block adds to");
                Num::Unknown
            }
        }
    }

    // ---- totals ----------------------------------------------------------------------------

    fn finish(mut self) -> Report {
        let mut totals = Vec::new();
        for limit in self.tier.limits().filter(|l| l.kind == LimitKind::Total) {
            let acc = self.accs.remove(&limit.key).unwrap_or_default();
            totals.push(Total {
                key: limit.key,
                unit: limit.unit,
                limit: limit.value,
                total: acc.known,
                headroom: limit.value - acc.known,
                complete: !acc.unknown,
            });
            if acc.known > limit.value + EPSILON {
                self.over(limit, &acc, limit.value, Severity::Error);
            } else if let Some(agreed) = limit.agreed {
                if acc.known > agreed + EPSILON {
                    self.over(limit, &acc, agreed, Severity::Warning);
                }
            }
        }
        Report {
            tier: self.tier,
            violations: self.violations,
            deferred: self.deferred,
            totals,
            instances: self.instances,
        }
    }

    // A total over `bound`: the limit (an error), or the agreed figure of a disputed limit (a
    // warning).
    fn over(&mut self, limit: &'static Limit, acc: &Acc, bound: f64, severity: Severity) {
        let Some((rule, kind, noun)) = total_rule(limit.key) else {
            return;
        };
        let rule = match severity {
            Severity::Error => rule,
            Severity::Warning => RuleId::AllowanceDisputed,
        };
        let unit = limit.unit;
        let at_least = if acc.unknown { "at least " } else { "" };
        let lead = if unit == Unit::Count {
            format!(
                "The plan has {at_least}{} {}",
                format_number(acc.known),
                plural(noun, acc.known)
            )
        } else {
            let verb = if plural(noun, acc.items) == noun {
                "asks"
            } else {
                "ask"
            };
            format!(
                "{} {} {verb} for {at_least}{}",
                format_number(acc.items),
                plural(noun, acc.items),
                unit.format(acc.known)
            )
        };
        let overrun = acc.known - bound;

        // The item at which the running total first passes the bound is the one to point at.
        let mut running = 0.0;
        let mut crossing = None;
        for part in &acc.parts {
            running += part.amount;
            if running > bound + EPSILON {
                crossing = Some(part);
                break;
            }
        }
        let subject = crossing.map_or(Subject::List(kind), |p| p.subject);
        let counted: Vec<String> = acc
            .parts
            .iter()
            .filter(|p| p.amount > 0.0)
            .take(8)
            .map(|p| match p.note {
                Some(note) => format!("{} {} ({note})", p.who, unit.format(p.amount)),
                None => format!("{} {}", p.who, unit.format(p.amount)),
            })
            .collect();
        let more = acc
            .parts
            .iter()
            .filter(|p| p.amount > 0.0)
            .count()
            .saturating_sub(8);
        let mut detail = if severity == Severity::Error {
            format!(
                "{lead}; {} allows {} ({}). Over by {}.",
                self.tier,
                limit.display_value(),
                limit.citation(),
                unit.format(overrun)
            )
        } else {
            format!(
                "{lead}; {} allows {} ({}), but only {} is undisputed: {} above it may be \
                 billed.",
                self.tier,
                limit.display_value(),
                limit.citation(),
                unit.format(bound),
                unit.format(overrun)
            )
        };
        if let Some(part) = crossing {
            detail.push_str(&format!(" The limit is passed at {}.", part.who));
        }
        if !counted.is_empty() {
            detail.push_str(&format!(" Counted: {}", counted.join(", ")));
            if more > 0 {
                detail.push_str(&format!(", and {more} more"));
            }
            detail.push('.');
        }
        detail.push(' ');
        detail.push_str(rule.advice());
        let detail = with_note(detail, limit);
        self.violations.push(Violation {
            rule,
            severity,
            subject,
            summary: rule.summary(),
            detail,
            key: Some(limit.key),
            limit: Some(bound),
            total: Some(acc.known),
            overrun: Some(overrun),
            source: limit.source,
            since: limit.since,
        });
    }
}
