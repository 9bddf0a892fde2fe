//! What a check reports: violations with their subject and evidence, deferrals, totals and the
//! instances as the cloud will really create them.
//!
//! Imports nothing from the rest of the crate.

use std::fmt;

use super::allocation::Shape;
use super::tiers::{LimitKey, Tier, Unit};

/// How serious a violation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    /// The plan leaves the free tier, or OCI will refuse it.
    Error,
    /// The plan works, but differs from what it says, or may cost money.
    Warning,
}

/// The kind of item a [`Subject`] points into: one list of [`Allocation`](super::Allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemKind {
    /// [`Allocation::instances`](super::Allocation::instances).
    Instance,
    /// [`Allocation::block_volumes`](super::Allocation::block_volumes).
    BlockVolume,
    /// [`Allocation::volume_backups`](super::Allocation::volume_backups).
    VolumeBackup,
    /// [`Allocation::reserved_public_ips`](super::Allocation::reserved_public_ips).
    ReservedPublicIp,
    /// [`Allocation::vcns`](super::Allocation::vcns).
    Vcn,
    /// [`Allocation::nat_gateways`](super::Allocation::nat_gateways).
    NatGateway,
    /// [`Allocation::service_gateways`](super::Allocation::service_gateways).
    ServiceGateway,
    /// [`Allocation::load_balancers`](super::Allocation::load_balancers).
    LoadBalancer,
    /// [`Allocation::network_load_balancers`](super::Allocation::network_load_balancers).
    NetworkLoadBalancer,
    /// [`Allocation::object_storage`](super::Allocation::object_storage).
    ObjectStorage,
    /// [`Allocation::custom_images`](super::Allocation::custom_images).
    CustomImage,
    /// [`Allocation::budget_alerts`](super::Allocation::budget_alerts).
    BudgetAlert,
}

impl ItemKind {
    /// The [`Allocation`](super::Allocation) field (and data source attribute) holding these items.
    pub const fn field(self) -> &'static str {
        match self {
            ItemKind::Instance => "instances",
            ItemKind::BlockVolume => "block_volumes",
            ItemKind::VolumeBackup => "volume_backups",
            ItemKind::ReservedPublicIp => "reserved_public_ips",
            ItemKind::Vcn => "vcns",
            ItemKind::NatGateway => "nat_gateways",
            ItemKind::ServiceGateway => "service_gateways",
            ItemKind::LoadBalancer => "load_balancers",
            ItemKind::NetworkLoadBalancer => "network_load_balancers",
            ItemKind::ObjectStorage => "object_storage",
            ItemKind::CustomImage => "custom_images",
            ItemKind::BudgetAlert => "budget_alerts",
        }
    }

    pub(super) const fn noun(self) -> &'static str {
        match self {
            ItemKind::Instance => "instance",
            ItemKind::BlockVolume => "block volume",
            ItemKind::VolumeBackup => "volume backup",
            ItemKind::ReservedPublicIp => "reserved public IP",
            ItemKind::Vcn => "VCN",
            ItemKind::NatGateway => "NAT gateway",
            ItemKind::ServiceGateway => "service gateway",
            ItemKind::LoadBalancer => "load balancer",
            ItemKind::NetworkLoadBalancer => "network load balancer",
            ItemKind::ObjectStorage => "object storage entry",
            ItemKind::CustomImage => "custom image",
            ItemKind::BudgetAlert => "budget alert",
        }
    }
}

/// Exactly which input a violation or deferral is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    /// One item, and the attribute at fault when there is one (`None`: the whole block).
    Item {
        /// Which list.
        kind: ItemKind,
        /// Index in that list, as the caller gave it.
        index: usize,
        /// The attribute, named as the item's field (`"ocpus"`, `"size_gb"`, …).
        attribute: Option<&'static str>,
    },
    /// A whole list, for what no single item causes (no budget alert at all).
    List(ItemKind),
}

impl Subject {
    /// The attribute at fault, when the subject names one.
    pub fn attribute(&self) -> Option<&'static str> {
        match self {
            Subject::Item { attribute, .. } => *attribute,
            Subject::List(_) => None,
        }
    }

    pub(super) fn item(kind: ItemKind, index: usize, attribute: Option<&'static str>) -> Subject {
        Subject::Item {
            kind,
            index,
            attribute,
        }
    }
}

impl fmt::Display for Subject {
    /// The attribute path: `instances[2].ocpus`, `vcns[0]`, `budget_alerts`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Item {
                kind,
                index,
                attribute: Some(attribute),
            } => {
                write!(f, "{}[{index}].{attribute}", kind.field())
            }
            Subject::Item {
                kind,
                index,
                attribute: None,
            } => write!(f, "{}[{index}]", kind.field()),
            Subject::List(kind) => f.write_str(kind.field()),
        }
    }
}

/// Names one rule. `as_str` is stable, for tests and machine-readable output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleId {
    /// A1 OCPUs over the tier's total.
    A1OcpuTotal,
    /// A1 memory over the tier's total.
    A1MemoryTotal,
    /// More A1 instances than the tier allows.
    A1InstanceCount,
    /// More micro instances than the tier allows.
    MicroInstanceCount,
    /// Boot plus block volumes over the storage total.
    BlockStorageTotal,
    /// More volume backups than allowed.
    VolumeBackupCount,
    /// More reserved public IPs than allowed.
    ReservedPublicIpCount,
    /// More VCNs than allowed.
    VcnCount,
    /// A NAT gateway (none is free).
    NatGatewayCount,
    /// A service gateway (none is free).
    ServiceGatewayCount,
    /// More load balancers than allowed.
    LoadBalancerCount,
    /// Flexible load balancer bandwidth over the free sum.
    LoadBalancerBandwidth,
    /// More network load balancers than allowed.
    NetworkLoadBalancerCount,
    /// Object Storage over the free total.
    ObjectStorageTotal,
    /// A1 OCPUs not a whole number.
    A1OcpuNotWhole,
    /// A1 OCPUs below the minimum.
    A1OcpuTooFew,
    /// A1 memory per OCPU outside the allowed range.
    A1MemoryRatio,
    /// A1 memory asked for differs from what the cloud will give (warning).
    A1MemoryRounded,
    /// Within a disputed limit but above the figure all sources agree on (warning).
    AllowanceDisputed,
    /// A size set on the fixed micro shape that differs from it.
    MicroShapeFixed,
    /// A shape with no free allowance.
    ShapeNotFree,
    /// Boot volume below the settable minimum.
    BootVolumeTooSmall,
    /// Boot volume above the maximum.
    BootVolumeTooLarge,
    /// Block volume below the minimum.
    BlockVolumeTooSmall,
    /// Block volume above the maximum.
    BlockVolumeTooLarge,
    /// A load balancer shape that is not the free one.
    LoadBalancerShape,
    /// Custom image above the size limit.
    CustomImageTooLarge,
    /// Budget alert threshold above the tier's maximum (warning).
    BudgetAlertTooHigh,
    /// No budget alert in a configuration that was checked whole (warning).
    BudgetAlertMissing,
    /// A value that is not a usable number here (NaN, infinite, negative, fractional, huge, zero).
    InvalidValue,
    /// A required value that is not set and has no default.
    MissingValue,
}

impl RuleId {
    /// Every rule, in catalogue order.
    pub const ALL: [RuleId; 31] = [
        RuleId::A1OcpuTotal,
        RuleId::A1MemoryTotal,
        RuleId::A1InstanceCount,
        RuleId::MicroInstanceCount,
        RuleId::BlockStorageTotal,
        RuleId::VolumeBackupCount,
        RuleId::ReservedPublicIpCount,
        RuleId::VcnCount,
        RuleId::NatGatewayCount,
        RuleId::ServiceGatewayCount,
        RuleId::LoadBalancerCount,
        RuleId::LoadBalancerBandwidth,
        RuleId::NetworkLoadBalancerCount,
        RuleId::ObjectStorageTotal,
        RuleId::A1OcpuNotWhole,
        RuleId::A1OcpuTooFew,
        RuleId::A1MemoryRatio,
        RuleId::A1MemoryRounded,
        RuleId::AllowanceDisputed,
        RuleId::MicroShapeFixed,
        RuleId::ShapeNotFree,
        RuleId::BootVolumeTooSmall,
        RuleId::BootVolumeTooLarge,
        RuleId::BlockVolumeTooSmall,
        RuleId::BlockVolumeTooLarge,
        RuleId::LoadBalancerShape,
        RuleId::CustomImageTooLarge,
        RuleId::BudgetAlertTooHigh,
        RuleId::BudgetAlertMissing,
        RuleId::InvalidValue,
        RuleId::MissingValue,
    ];

    /// The stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            RuleId::A1OcpuTotal => "a1_ocpu_total",
            RuleId::A1MemoryTotal => "a1_memory_total",
            RuleId::A1InstanceCount => "a1_instance_count",
            RuleId::MicroInstanceCount => "micro_instance_count",
            RuleId::BlockStorageTotal => "block_storage_total",
            RuleId::VolumeBackupCount => "volume_backup_count",
            RuleId::ReservedPublicIpCount => "reserved_public_ip_count",
            RuleId::VcnCount => "vcn_count",
            RuleId::NatGatewayCount => "nat_gateway_count",
            RuleId::ServiceGatewayCount => "service_gateway_count",
            RuleId::LoadBalancerCount => "load_balancer_count",
            RuleId::LoadBalancerBandwidth => "load_balancer_bandwidth",
            RuleId::NetworkLoadBalancerCount => "network_load_balancer_count",
            RuleId::ObjectStorageTotal => "object_storage_total",
            RuleId::A1OcpuNotWhole => "a1_ocpu_not_whole",
            RuleId::A1OcpuTooFew => "a1_ocpu_too_few",
            RuleId::A1MemoryRatio => "a1_memory_ratio",
            RuleId::A1MemoryRounded => "a1_memory_rounded",
            RuleId::AllowanceDisputed => "allowance_disputed",
            RuleId::MicroShapeFixed => "micro_shape_fixed",
            RuleId::ShapeNotFree => "shape_not_free",
            RuleId::BootVolumeTooSmall => "boot_volume_too_small",
            RuleId::BootVolumeTooLarge => "boot_volume_too_large",
            RuleId::BlockVolumeTooSmall => "block_volume_too_small",
            RuleId::BlockVolumeTooLarge => "block_volume_too_large",
            RuleId::LoadBalancerShape => "load_balancer_shape",
            RuleId::CustomImageTooLarge => "custom_image_too_large",
            RuleId::BudgetAlertTooHigh => "budget_alert_too_high",
            RuleId::BudgetAlertMissing => "budget_alert_missing",
            RuleId::InvalidValue => "invalid_value",
            RuleId::MissingValue => "missing_value",
        }
    }

    /// The Title-Case diagnostic summary (the short catalogue STYLE.md asks for).
    pub const fn summary(self) -> &'static str {
        match self {
            RuleId::A1OcpuTotal => "A1 OCPU Allowance Exceeded",
            RuleId::A1MemoryTotal => "A1 Memory Allowance Exceeded",
            RuleId::A1InstanceCount => "Too Many A1 Instances",
            RuleId::MicroInstanceCount => "Too Many Micro Instances",
            RuleId::BlockStorageTotal => "Block Storage Allowance Exceeded",
            RuleId::VolumeBackupCount => "Too Many Volume Backups",
            RuleId::ReservedPublicIpCount => "Too Many Reserved Public IPs",
            RuleId::VcnCount => "Too Many VCNs",
            RuleId::NatGatewayCount => "NAT Gateway Not Free",
            RuleId::ServiceGatewayCount => "Service Gateway Not Free",
            RuleId::LoadBalancerCount => "Too Many Load Balancers",
            RuleId::LoadBalancerBandwidth => "Load Balancer Bandwidth Exceeded",
            RuleId::NetworkLoadBalancerCount => "Too Many Network Load Balancers",
            RuleId::ObjectStorageTotal => "Object Storage Allowance Exceeded",
            RuleId::A1OcpuNotWhole => "A1 OCPUs Must Be Whole",
            RuleId::A1OcpuTooFew => "Too Few A1 OCPUs",
            RuleId::A1MemoryRatio => "A1 Memory Per OCPU Out Of Range",
            RuleId::A1MemoryRounded => "A1 Memory Will Be Resized",
            RuleId::AllowanceDisputed => "Allowance Not Confirmed",
            RuleId::MicroShapeFixed => "Micro Shape Is Fixed",
            RuleId::ShapeNotFree => "Shape Not Always Free",
            RuleId::BootVolumeTooSmall => "Boot Volume Too Small",
            RuleId::BootVolumeTooLarge => "Boot Volume Too Large",
            RuleId::BlockVolumeTooSmall => "Block Volume Too Small",
            RuleId::BlockVolumeTooLarge => "Block Volume Too Large",
            RuleId::LoadBalancerShape => "Load Balancer Shape Not Free",
            RuleId::CustomImageTooLarge => "Custom Image Too Large",
            RuleId::BudgetAlertTooHigh => "Budget Alert Threshold Too High",
            RuleId::BudgetAlertMissing => "No Budget Alert",
            RuleId::InvalidValue => "Invalid Value",
            RuleId::MissingValue => "Missing Value",
        }
    }

    // What to do instead, for the rules whose advice needs no numbers from the plan.
    pub(super) const fn advice(self) -> &'static str {
        use RuleId::*;
        match self {
            A1OcpuTotal => {
                "Use fewer or smaller A1 instances; a micro instance can carry light work such \
                 as a bastion."
            }
            A1MemoryTotal => "Ask for less memory, or use fewer A1 instances.",
            A1InstanceCount => "Merge A1 instances: each needs a whole OCPU.",
            MicroInstanceCount => "Use fewer micro instances.",
            BlockStorageTotal => {
                "Boot volumes count too: shrink or drop block volumes, or leave boot volume \
                 sizes unset."
            }
            VolumeBackupCount => "Keep fewer backups; copies a backup policy retains count too.",
            ReservedPublicIpCount => {
                "Reserve one address and reach the other instances through it, or use \
                 ephemeral public IPs."
            }
            VcnCount => "Put the subnets in fewer VCNs.",
            NatGatewayCount => "Use public subnets behind an internet gateway.",
            ServiceGatewayCount => "Reach Oracle services through the internet gateway.",
            LoadBalancerCount => {
                "Use one load balancer with several listeners, or the network load balancer."
            }
            LoadBalancerBandwidth => {
                "Lower the flexible shape's maximum (and minimum) bandwidth to fit the total."
            }
            NetworkLoadBalancerCount => "Use one network load balancer with several listeners.",
            ObjectStorageTotal => "Store less, or expire old objects with a lifecycle policy.",
            A1OcpuNotWhole => "Set ocpus to a whole number.",
            A1OcpuTooFew => "Set ocpus to at least the minimum.",
            A1MemoryRatio => {
                "Set memory_gb within the range, or leave it unset for the default per OCPU."
            }
            A1MemoryRounded => {
                "Set memory_gb to what the cloud will give, so the plan says what you get."
            }
            AllowanceDisputed => {
                "Stay within the figure every source agrees on, or confirm the allowance with \
                 Oracle and watch the first bill."
            }
            MicroShapeFixed => "Remove shape_config from the micro instance.",
            ShapeNotFree => "Use VM.Standard.A1.Flex or VM.Standard.E2.1.Micro.",
            BootVolumeTooSmall => {
                "Set at least the minimum, or leave the size unset for the image default."
            }
            BootVolumeTooLarge | BlockVolumeTooLarge => "Set a smaller size.",
            BlockVolumeTooSmall => "Set at least the minimum.",
            LoadBalancerShape => {
                "Use shape \"flexible\" with minimum and maximum bandwidth within the free \
                 total."
            }
            CustomImageTooLarge => "Shrink the image below the limit.",
            BudgetAlertTooHigh => {
                "Add an alert at or below the maximum, so the first cent of spend is reported."
            }
            BudgetAlertMissing => {
                "Add an oci_budget_alert_rule with an absolute threshold at or below the \
                 maximum, on a budget for the tenancy."
            }
            InvalidValue => "Give a finite, non-negative number in range.",
            MissingValue => "Set the attribute.",
        }
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One broken rule, with everything a diagnostic needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// Which rule.
    pub rule: RuleId,
    /// Error or warning.
    pub severity: Severity,
    /// Which input is at fault.
    pub subject: Subject,
    /// Title-Case summary, from [`RuleId::summary`].
    pub summary: &'static str,
    /// What happened, the limit, the total and overrun, what to do instead, and the source.
    pub detail: String,
    /// The tier limit applied, when the rule is one.
    pub key: Option<LimitKey>,
    /// The limit's value; for [`RuleId::AllowanceDisputed`], the undisputed figure passed.
    pub limit: Option<f64>,
    /// The plan's total (for totals) or the item's value (for per-item rules).
    pub total: Option<f64>,
    /// By how much `total` passes `limit`.
    pub overrun: Option<f64>,
    /// Where the rule comes from.
    pub source: &'static str,
    /// ISO date the limit applies from, when known.
    pub since: Option<&'static str>,
}

/// Something that could not be checked yet because a value is unknown until apply.
#[derive(Clone, Debug, PartialEq)]
pub struct Deferral {
    /// The unknown input.
    pub subject: Subject,
    /// The limits whose check waits on it.
    pub limits: Vec<LimitKey>,
    /// Why, in a sentence: "not known yet" and what will be checked once it is.
    pub reason: String,
}

/// One total-kind limit summed over the plan.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Total {
    /// Which limit.
    pub key: LimitKey,
    /// Its unit.
    pub unit: Unit,
    /// The tier's value.
    pub limit: f64,
    /// The plan's total over the values known now (invalid values left out).
    pub total: f64,
    /// `limit - total`; negative when over. An upper bound when `complete` is false.
    pub headroom: f64,
    /// False when an unknown value feeds this total (see [`Report::deferred`]).
    pub complete: bool,
}

/// One instance as the cloud will really create it. `None` fields are unknown until apply, or
/// invalid (with a violation).
#[derive(Clone, Debug, PartialEq)]
pub struct EffectiveInstance {
    /// Index in [`Allocation::instances`](super::Allocation::instances).
    pub index: usize,
    /// The caller's label.
    pub label: Option<String>,
    /// The shape, when it is a free shape.
    pub shape: Option<Shape>,
    /// How many instances the block creates.
    pub count: Option<f64>,
    /// OCPUs per instance.
    pub ocpus: Option<f64>,
    /// Memory per instance, after the tier's rounding.
    pub memory_gb: Option<f64>,
    /// Boot volume per instance, after the image default.
    pub boot_volume_gb: Option<f64>,
}

/// The outcome of [`check`](super::check()).
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The tier checked against.
    pub tier: Tier,
    /// Broken rules, errors and warnings, in input order then totals.
    pub violations: Vec<Violation>,
    /// What could not be checked yet.
    pub deferred: Vec<Deferral>,
    /// Every total-kind limit of the tier, with the plan's total and headroom.
    pub totals: Vec<Total>,
    /// Every instance as the cloud will give it, in input order.
    pub instances: Vec<EffectiveInstance>,
}

impl Report {
    /// The violations of error severity.
    pub fn errors(&self) -> impl Iterator<Item = &Violation> {
        self.violations
            .iter()
            .filter(|v| v.severity == Severity::Error)
    }

    /// The violations of warning severity.
    pub fn warnings(&self) -> impl Iterator<Item = &Violation> {
        self.violations
            .iter()
            .filter(|v| v.severity == Severity::Warning)
    }

    /// True when nothing is an error. Deferred checks may still fail at apply.
    pub fn is_free(&self) -> bool {
        self.errors().next().is_none()
    }

    /// The total for `key`, when the tier has that limit.
    pub fn total(&self, key: LimitKey) -> Option<&Total> {
        self.totals.iter().find(|t| t.key == key)
    }
}
