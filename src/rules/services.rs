//! The rest of the check: counted resources (backups, reserved IPs, VCNs, gateways, network
//! load balancers), load balancers, Object Storage, custom images and budget alerts.
//!
//! Imports nothing from the rest of the crate.

use super::allocation::{
    BudgetAlert, Counted, CustomImage, LoadBalancer, ObjectStorage, Value, LB_FLEXIBLE, LB_MICRO,
};
use super::check::{who, with_note, Checker, Num, Read, EPSILON, SRC_LB_SHAPE};
use super::report::{ItemKind, RuleId, Severity, Subject, Violation};
use super::tiers::{format_number, LimitKey, Unit};

impl Checker {
    pub(super) fn counted(&mut self, kind: ItemKind, key: LimitKey, index: usize, item: &Counted) {
        let who = who(kind, index, &item.label);
        let copies = self.count(&item.count, kind, index, &who, &[key]);
        let attribute = match item.count {
            Value::Absent => None,
            _ => Some("count"),
        };
        self.add(
            key,
            Subject::item(kind, index, attribute),
            &who,
            copies,
            Num::Known(1.0),
        );
    }

    pub(super) fn load_balancer(&mut self, index: usize, lb: &LoadBalancer) {
        let kind = ItemKind::LoadBalancer;
        let at = |attribute| Subject::item(kind, index, attribute);
        let who = who(kind, index, &lb.label);
        let feeds = [LimitKey::LoadBalancers, LimitKey::LoadBalancerBandwidthMbps];
        let copies = self.count(&lb.count, kind, index, &who, &feeds);
        let count_attr = match lb.count {
            Value::Absent => None,
            _ => Some("count"),
        };
        self.add(
            LimitKey::LoadBalancers,
            at(count_attr),
            &who,
            copies,
            Num::Known(1.0),
        );

        let flexible = match &lb.shape {
            Value::Known(name) if name == LB_FLEXIBLE => true,
            Value::Known(name) => {
                // The old micro shape is free only on tenancies older than 2020-12-15: warn.
                let severity = if name == LB_MICRO {
                    Severity::Warning
                } else {
                    Severity::Error
                };
                let detail = format!(
                    "{who} uses shape {name:?}. Only \"flexible\" is free on tenancies \
                     created since 2020-12-15. {} (source: {SRC_LB_SHAPE})",
                    RuleId::LoadBalancerShape.advice()
                );
                let rule = RuleId::LoadBalancerShape;
                self.push_sourced(rule, severity, at(Some("shape")), detail, SRC_LB_SHAPE);
                false
            }
            Value::Unknown => {
                let key = LimitKey::LoadBalancerBandwidthMbps;
                self.defer(
                    at(Some("shape")),
                    &[key],
                    &who,
                    "the free shape and bandwidth",
                );
                self.add(key, at(Some("shape")), &who, copies, Num::Unknown);
                false
            }
            Value::Absent => {
                self.missing(at(Some("shape")), &who, "OCI needs a load balancer shape.");
                false
            }
        };
        if !flexible {
            return;
        }

        let max_at = at(Some("max_bandwidth_mbps"));
        let max = match self.read(&lb.max_bandwidth_mbps, max_at, &who, false) {
            Read::Val(v) => Num::Known(v),
            Read::Unknown => {
                let feeds = [LimitKey::LoadBalancerBandwidthMbps];
                self.defer(max_at, &feeds, &who, "the bandwidth total");
                Num::Unknown
            }
            Read::Absent => {
                self.missing(
                    max_at,
                    &who,
                    "The flexible shape needs shape_details.maximum_bandwidth_in_mbps.",
                );
                Num::Bad
            }
            Read::Bad => Num::Bad,
        };
        let min_at = at(Some("min_bandwidth_mbps"));
        if let (Read::Val(min), Num::Known(max)) =
            (self.read(&lb.min_bandwidth_mbps, min_at, &who, false), max)
        {
            if min > max + EPSILON {
                self.push(
                    RuleId::InvalidValue,
                    Severity::Error,
                    min_at,
                    format!(
                        "{who}: min_bandwidth_mbps = {} is above max_bandwidth_mbps = {}. Set \
                         the minimum at or below the maximum.",
                        format_number(min),
                        format_number(max)
                    ),
                );
            }
        }
        self.add(
            LimitKey::LoadBalancerBandwidthMbps,
            max_at,
            &who,
            copies,
            max,
        );
    }

    pub(super) fn object_storage(&mut self, index: usize, stored: &ObjectStorage) {
        let kind = ItemKind::ObjectStorage;
        let who = who(kind, index, &stored.label);
        let copies = self.count(
            &stored.count,
            kind,
            index,
            &who,
            &[LimitKey::ObjectStorageGb],
        );
        let subject = Subject::item(kind, index, Some("gb"));
        let gb = match self.read(&stored.gb, subject, &who, false) {
            Read::Val(v) => Num::Known(v),
            // Nothing the caller can size: a bucket on its own stores nothing.
            Read::Absent => Num::Known(0.0),
            Read::Unknown => {
                let feeds = [LimitKey::ObjectStorageGb];
                self.defer(subject, &feeds, &who, "the Object Storage total");
                Num::Unknown
            }
            Read::Bad => Num::Bad,
        };
        self.add(LimitKey::ObjectStorageGb, subject, &who, copies, gb);
    }

    pub(super) fn custom_image(&mut self, index: usize, image: &CustomImage) {
        let kind = ItemKind::CustomImage;
        let who = who(kind, index, &image.label);
        // An image's count feeds no total, so an unknown one defers nothing; it is still screened.
        if image.count != Value::Unknown {
            let _ = self.count(&image.count, kind, index, &who, &[]);
        }
        let subject = Subject::item(kind, index, Some("size_gb"));
        let feeds = [LimitKey::CustomImageMaxGb];
        match self.read(&image.size_gb, subject, &who, false) {
            Read::Val(v) if v <= 0.0 => self.push(
                RuleId::InvalidValue,
                Severity::Error,
                subject,
                format!("{who}: size_gb = 0; an image has a size greater than 0."),
            ),
            Read::Val(v) => {
                if let Some(limit) = self.limit(LimitKey::CustomImageMaxGb) {
                    if v > limit.value + EPSILON {
                        let text = format!("{who} is {}.", Unit::Gb.format(v));
                        self.push_limit(
                            RuleId::CustomImageTooLarge,
                            Severity::Error,
                            subject,
                            limit,
                            v,
                            text,
                        );
                    }
                }
            }
            Read::Unknown => self.defer(subject, &feeds, &who, "the image size"),
            // Configuration seldom states an image's size; that is "not known", not zero.
            Read::Absent => self.defer_because(
                subject,
                &feeds,
                &who,
                "the image size",
                "the configuration does not state it",
            ),
            Read::Bad => {}
        }
    }

    pub(super) fn budget_alerts(&mut self, alerts: &[BudgetAlert]) {
        let kind = ItemKind::BudgetAlert;
        let Some(limit) = self.limit(LimitKey::BudgetAlertMaxUsd) else {
            return;
        };
        if alerts.is_empty() {
            let rule = RuleId::BudgetAlertMissing;
            self.violations.push(Violation {
                rule,
                severity: Severity::Warning,
                subject: Subject::List(kind),
                summary: rule.summary(),
                detail: with_note(
                    format!(
                        "The configuration has no budget alert, so spend would go unnoticed. The \
                         maximum threshold is {} ({}). {}",
                        limit.display_value(),
                        limit.citation(),
                        rule.advice()
                    ),
                    limit,
                ),
                key: Some(limit.key),
                limit: Some(limit.value),
                total: None,
                overrun: None,
                source: limit.source,
                since: limit.since,
            });
        }
        for (index, alert) in alerts.iter().enumerate() {
            let who = who(kind, index, &alert.label);
            let subject = Subject::item(kind, index, Some("threshold_usd"));
            match self.read(&alert.threshold_usd, subject, &who, false) {
                Read::Val(v) if v <= 0.0 => self.push(
                    RuleId::InvalidValue,
                    Severity::Error,
                    subject,
                    format!("{who}: threshold_usd = 0; OCI needs a threshold above 0."),
                ),
                Read::Val(v) if v > limit.value + EPSILON => {
                    let text = format!("{who} fires at {}.", Unit::Usd.format(v));
                    self.push_limit(
                        RuleId::BudgetAlertTooHigh,
                        Severity::Warning,
                        subject,
                        limit,
                        v,
                        text,
                    );
                }
                Read::Val(_) | Read::Bad => {}
                Read::Unknown => self.defer(subject, &[limit.key], &who, "the alert threshold"),
                Read::Absent => {
                    self.missing(subject, &who, "oci_budget_alert_rule needs a threshold.")
                }
            }
        }
    }
}
