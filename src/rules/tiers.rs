//! Tier profiles: every free-tier limit the rulebook knows, as data.
//!
//! Each tier is one [`TierTable`] literal with one field per [`LimitKey`], so the compiler
//! refuses a tier that forgets a limit. A field is `None` where the tier has no such rule
//! (pay_as_you_go does not round A1 memory). A dated change is one edit to one field: move
//! `current` into `history` and write the new `current` with its `since` date.
//!
//! Where the issue and the research disagree, the table keeps the lower, safer figure and says
//! so in `note` (research: `shared/research/oci_policy.md`). Every `source` and `note` reaches
//! users, so it cites only what they can open: Oracle's pages, Wayback copies, upstream files
//! and issues; the history behind each limit is in `docs/free-tier-sources.md`.
//!
//! Imports nothing from the rest of the crate.

use std::fmt;
use std::str::FromStr;

/// A tenancy kind whose free allowance the rulebook knows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    /// An Always-Free-only tenancy (the default: its figures are the ones Oracle states plainly).
    #[default]
    AlwaysFree,
    /// A Pay As You Go tenancy using its free allowance; its A1 figures are disputed.
    PayAsYouGo,
}

/// The error for a tier name the rulebook does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown tier {given:?}; valid values are {}", Tier::valid_values())]
pub struct UnknownTier {
    /// The name that was given.
    pub given: String,
}

impl Tier {
    /// Every tier, in the order they are listed to users.
    pub const ALL: [Tier; 2] = [Tier::AlwaysFree, Tier::PayAsYouGo];

    /// Parses the name used by the provider's `tier` argument (exact, lowercase).
    pub fn parse(name: &str) -> Result<Tier, UnknownTier> {
        Tier::ALL
            .into_iter()
            .find(|tier| tier.as_str() == name)
            .ok_or_else(|| UnknownTier {
                given: name.to_owned(),
            })
    }

    /// The name used in configuration and in messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Tier::AlwaysFree => "always_free",
            Tier::PayAsYouGo => "pay_as_you_go",
        }
    }

    /// The valid names, comma-separated, for error messages.
    pub fn valid_values() -> String {
        Tier::ALL.map(Tier::as_str).join(", ")
    }

    /// The limit now in force for `key`, or `None` when this tier has no such rule.
    pub fn limit(self, key: LimitKey) -> Option<&'static Limit> {
        self.entry(key).map(|entry| &entry.current)
    }

    /// Earlier values of `key`, oldest first; each ended when the next one (or the current
    /// limit) took effect.
    pub fn history(self, key: LimitKey) -> &'static [Limit] {
        self.entry(key).map_or(&[], |entry| entry.history)
    }

    /// Every limit now in force for this tier, in [`LimitKey::ALL`] order.
    pub fn limits(self) -> impl Iterator<Item = &'static Limit> {
        LimitKey::ALL
            .into_iter()
            .filter_map(move |key| self.limit(key))
    }

    fn table(self) -> &'static TierTable {
        match self {
            Tier::AlwaysFree => &ALWAYS_FREE,
            Tier::PayAsYouGo => &PAY_AS_YOU_GO,
        }
    }

    fn entry(self, key: LimitKey) -> Option<&'static Entry> {
        let t = self.table();
        let field = match key {
            LimitKey::A1Ocpus => &t.a1_ocpus,
            LimitKey::A1MemoryGb => &t.a1_memory_gb,
            LimitKey::A1Instances => &t.a1_instances,
            LimitKey::MicroInstances => &t.micro_instances,
            LimitKey::BlockStorageGb => &t.block_storage_gb,
            LimitKey::VolumeBackups => &t.volume_backups,
            LimitKey::ReservedPublicIps => &t.reserved_public_ips,
            LimitKey::Vcns => &t.vcns,
            LimitKey::NatGateways => &t.nat_gateways,
            LimitKey::ServiceGateways => &t.service_gateways,
            LimitKey::LoadBalancers => &t.load_balancers,
            LimitKey::LoadBalancerBandwidthMbps => &t.load_balancer_bandwidth_mbps,
            LimitKey::NetworkLoadBalancers => &t.network_load_balancers,
            LimitKey::ObjectStorageGb => &t.object_storage_gb,
            LimitKey::A1OcpusMin => &t.a1_ocpus_min,
            LimitKey::A1MemoryPerOcpuMin => &t.a1_memory_per_ocpu_min,
            LimitKey::A1MemoryPerOcpuMax => &t.a1_memory_per_ocpu_max,
            LimitKey::A1MemoryPerOcpuDefault => &t.a1_memory_per_ocpu_default,
            LimitKey::A1MemoryPerOcpuGiven => &t.a1_memory_per_ocpu_given,
            LimitKey::MicroOcpus => &t.micro_ocpus,
            LimitKey::MicroMemoryGb => &t.micro_memory_gb,
            LimitKey::BootVolumeDefaultGb => &t.boot_volume_default_gb,
            LimitKey::BootVolumeMinGb => &t.boot_volume_min_gb,
            LimitKey::BootVolumeMaxGb => &t.boot_volume_max_gb,
            LimitKey::BlockVolumeDefaultGb => &t.block_volume_default_gb,
            LimitKey::BlockVolumeMinGb => &t.block_volume_min_gb,
            LimitKey::BlockVolumeMaxGb => &t.block_volume_max_gb,
            LimitKey::CustomImageMaxGb => &t.custom_image_max_gb,
            LimitKey::BudgetAlertMaxUsd => &t.budget_alert_max_usd,
        };
        field.as_ref()
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tier {
    type Err = UnknownTier;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tier::parse(s)
    }
}

/// Names one limit. The `as_str` names are stable: the `freetier_limits` data source uses them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LimitKey {
    /// Total OCPUs across all `VM.Standard.A1.Flex` instances.
    A1Ocpus,
    /// Total memory across all A1 instances, as the cloud will allocate it.
    A1MemoryGb,
    /// Number of A1 instances.
    A1Instances,
    /// Number of `VM.Standard.E2.1.Micro` instances.
    MicroInstances,
    /// Boot plus block volume storage.
    BlockStorageGb,
    /// Boot plus block volume backups.
    VolumeBackups,
    /// Reserved (not ephemeral) public IPv4 addresses.
    ReservedPublicIps,
    /// Virtual cloud networks.
    Vcns,
    /// NAT gateways.
    NatGateways,
    /// Service gateways.
    ServiceGateways,
    /// Load balancers (the layer-7 kind), any shape.
    LoadBalancers,
    /// Summed maximum bandwidth of flexible load balancers.
    LoadBalancerBandwidthMbps,
    /// Network load balancers.
    NetworkLoadBalancers,
    /// Object Storage across all buckets.
    ObjectStorageGb,
    /// Fewest OCPUs one A1 instance can have.
    A1OcpusMin,
    /// Least memory per OCPU on an A1 instance.
    A1MemoryPerOcpuMin,
    /// Most memory per OCPU on an A1 instance.
    A1MemoryPerOcpuMax,
    /// Memory per OCPU an A1 instance gets when none is asked for.
    A1MemoryPerOcpuDefault,
    /// Memory per OCPU the cloud really gives, whatever was asked for.
    A1MemoryPerOcpuGiven,
    /// OCPUs of the fixed micro shape.
    MicroOcpus,
    /// Memory of the fixed micro shape.
    MicroMemoryGb,
    /// Boot volume size when none is set.
    BootVolumeDefaultGb,
    /// Smallest boot volume size that can be set explicitly.
    BootVolumeMinGb,
    /// Largest boot volume size.
    BootVolumeMaxGb,
    /// Block volume size when none is set.
    BlockVolumeDefaultGb,
    /// Smallest block volume.
    BlockVolumeMinGb,
    /// Largest block volume.
    BlockVolumeMaxGb,
    /// Largest custom image.
    CustomImageMaxGb,
    /// Highest budget alert threshold that still catches the first cent of spend.
    BudgetAlertMaxUsd,
}

impl LimitKey {
    /// Every key, in the order limits are listed.
    pub const ALL: [LimitKey; 29] = [
        LimitKey::A1Ocpus,
        LimitKey::A1MemoryGb,
        LimitKey::A1Instances,
        LimitKey::MicroInstances,
        LimitKey::BlockStorageGb,
        LimitKey::VolumeBackups,
        LimitKey::ReservedPublicIps,
        LimitKey::Vcns,
        LimitKey::NatGateways,
        LimitKey::ServiceGateways,
        LimitKey::LoadBalancers,
        LimitKey::LoadBalancerBandwidthMbps,
        LimitKey::NetworkLoadBalancers,
        LimitKey::ObjectStorageGb,
        LimitKey::A1OcpusMin,
        LimitKey::A1MemoryPerOcpuMin,
        LimitKey::A1MemoryPerOcpuMax,
        LimitKey::A1MemoryPerOcpuDefault,
        LimitKey::A1MemoryPerOcpuGiven,
        LimitKey::MicroOcpus,
        LimitKey::MicroMemoryGb,
        LimitKey::BootVolumeDefaultGb,
        LimitKey::BootVolumeMinGb,
        LimitKey::BootVolumeMaxGb,
        LimitKey::BlockVolumeDefaultGb,
        LimitKey::BlockVolumeMinGb,
        LimitKey::BlockVolumeMaxGb,
        LimitKey::CustomImageMaxGb,
        LimitKey::BudgetAlertMaxUsd,
    ];

    /// The stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            LimitKey::A1Ocpus => "a1_ocpus",
            LimitKey::A1MemoryGb => "a1_memory_gb",
            LimitKey::A1Instances => "a1_instances",
            LimitKey::MicroInstances => "micro_instances",
            LimitKey::BlockStorageGb => "block_storage_gb",
            LimitKey::VolumeBackups => "volume_backups",
            LimitKey::ReservedPublicIps => "reserved_public_ips",
            LimitKey::Vcns => "vcns",
            LimitKey::NatGateways => "nat_gateways",
            LimitKey::ServiceGateways => "service_gateways",
            LimitKey::LoadBalancers => "load_balancers",
            LimitKey::LoadBalancerBandwidthMbps => "load_balancer_bandwidth_mbps",
            LimitKey::NetworkLoadBalancers => "network_load_balancers",
            LimitKey::ObjectStorageGb => "object_storage_gb",
            LimitKey::A1OcpusMin => "a1_ocpus_min",
            LimitKey::A1MemoryPerOcpuMin => "a1_memory_per_ocpu_min",
            LimitKey::A1MemoryPerOcpuMax => "a1_memory_per_ocpu_max",
            LimitKey::A1MemoryPerOcpuDefault => "a1_memory_per_ocpu_default",
            LimitKey::A1MemoryPerOcpuGiven => "a1_memory_per_ocpu_given",
            LimitKey::MicroOcpus => "micro_ocpus",
            LimitKey::MicroMemoryGb => "micro_memory_gb",
            LimitKey::BootVolumeDefaultGb => "boot_volume_default_gb",
            LimitKey::BootVolumeMinGb => "boot_volume_min_gb",
            LimitKey::BootVolumeMaxGb => "boot_volume_max_gb",
            LimitKey::BlockVolumeDefaultGb => "block_volume_default_gb",
            LimitKey::BlockVolumeMinGb => "block_volume_min_gb",
            LimitKey::BlockVolumeMaxGb => "block_volume_max_gb",
            LimitKey::CustomImageMaxGb => "custom_image_max_gb",
            LimitKey::BudgetAlertMaxUsd => "budget_alert_max_usd",
        }
    }

    /// Parses an `as_str` name.
    pub fn parse(name: &str) -> Option<LimitKey> {
        LimitKey::ALL.into_iter().find(|key| key.as_str() == name)
    }
}

impl fmt::Display for LimitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a limit's value is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// The sum over the whole plan must not exceed the value; it has a total and a headroom.
    Total,
    /// Each item must be at least the value.
    ItemMin,
    /// Each item must be at most the value.
    ItemMax,
    /// The value the cloud uses or gives (a default, or a fixed size).
    Fixed,
}

/// The unit a limit's value is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Oracle CPUs (one Arm core on A1).
    Ocpu,
    /// Gigabytes.
    Gb,
    /// Gigabytes of memory per OCPU.
    GbPerOcpu,
    /// A number of resources.
    Count,
    /// Megabits per second.
    Mbps,
    /// US dollars.
    Usd,
}

impl Unit {
    /// The unit as written after a number ("" for counts).
    pub const fn as_str(self) -> &'static str {
        match self {
            Unit::Ocpu => "OCPU",
            Unit::Gb => "GB",
            Unit::GbPerOcpu => "GB per OCPU",
            Unit::Count => "",
            Unit::Mbps => "Mbps",
            Unit::Usd => "USD",
        }
    }
}

impl Unit {
    /// Writes `value` in this unit for messages: "4 OCPU", "200 GB", "$0.01", "2".
    /// At most three decimals; NaN and infinities are written as such.
    pub fn format(self, value: f64) -> String {
        let number = format_number(value);
        match self {
            Unit::Count => number,
            Unit::Usd => format!("${number}"),
            unit => format!("{number} {}", unit.as_str()),
        }
    }
}

/// Writes a number with at most three decimals and no trailing zeros ("0.125", "47", "1.5").
pub fn format_number(value: f64) -> String {
    if !value.is_finite() {
        return format!("{value}");
    }
    // Past what anyone means literally, keep messages short.
    if value.abs() >= 1e15 {
        return format!("{value:e}");
    }
    let text = format!("{value:.3}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text.as_str()
    };
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

impl Limit {
    /// The value with its unit, as written in messages.
    pub fn display_value(&self) -> String {
        self.unit.format(self.value)
    }

    /// "since 2026-06-12; source: …" — the evidence clause every diagnostic carries.
    pub fn citation(&self) -> String {
        match self.since {
            Some(date) => format!("since {date}; source: {}", self.source),
            None => format!("source: {}", self.source),
        }
    }
}

/// One limit of one tier, with its evidence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit {
    /// Which limit this is.
    pub key: LimitKey,
    /// How the value is applied.
    pub kind: LimitKind,
    /// The value.
    pub value: f64,
    /// The unit of `value`.
    pub unit: Unit,
    /// One line for people: what the limit says.
    pub summary: &'static str,
    /// Where the value comes from, as users can check it: a public link (Oracle's page, a
    /// Wayback copy) or an upstream file or issue. One line; history belongs in the docs.
    pub source: &'static str,
    /// ISO date from which the value applies, when the sources give one.
    pub since: Option<&'static str>,
    /// What a user should also know, in a sentence or two: a conflict between sources or a
    /// consequence. History belongs in `docs/free-tier-sources.md`.
    pub note: Option<&'static str>,
    /// When sources conflict: the figure every source agrees on. A plan above it but within
    /// `value` draws a warning instead of passing quietly.
    pub agreed: Option<f64>,
}

/// A limit now in force and the values it replaced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Entry {
    /// The value in force.
    pub current: Limit,
    /// Earlier values, oldest first.
    pub history: &'static [Limit],
}

/// One tier's profile: one field per [`LimitKey`], `None` where the tier has no such rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TierTable {
    /// See [`LimitKey::A1Ocpus`].
    pub a1_ocpus: Option<Entry>,
    /// See [`LimitKey::A1MemoryGb`].
    pub a1_memory_gb: Option<Entry>,
    /// See [`LimitKey::A1Instances`].
    pub a1_instances: Option<Entry>,
    /// See [`LimitKey::MicroInstances`].
    pub micro_instances: Option<Entry>,
    /// See [`LimitKey::BlockStorageGb`].
    pub block_storage_gb: Option<Entry>,
    /// See [`LimitKey::VolumeBackups`].
    pub volume_backups: Option<Entry>,
    /// See [`LimitKey::ReservedPublicIps`].
    pub reserved_public_ips: Option<Entry>,
    /// See [`LimitKey::Vcns`].
    pub vcns: Option<Entry>,
    /// See [`LimitKey::NatGateways`].
    pub nat_gateways: Option<Entry>,
    /// See [`LimitKey::ServiceGateways`].
    pub service_gateways: Option<Entry>,
    /// See [`LimitKey::LoadBalancers`].
    pub load_balancers: Option<Entry>,
    /// See [`LimitKey::LoadBalancerBandwidthMbps`].
    pub load_balancer_bandwidth_mbps: Option<Entry>,
    /// See [`LimitKey::NetworkLoadBalancers`].
    pub network_load_balancers: Option<Entry>,
    /// See [`LimitKey::ObjectStorageGb`].
    pub object_storage_gb: Option<Entry>,
    /// See [`LimitKey::A1OcpusMin`].
    pub a1_ocpus_min: Option<Entry>,
    /// See [`LimitKey::A1MemoryPerOcpuMin`].
    pub a1_memory_per_ocpu_min: Option<Entry>,
    /// See [`LimitKey::A1MemoryPerOcpuMax`].
    pub a1_memory_per_ocpu_max: Option<Entry>,
    /// See [`LimitKey::A1MemoryPerOcpuDefault`].
    pub a1_memory_per_ocpu_default: Option<Entry>,
    /// See [`LimitKey::A1MemoryPerOcpuGiven`].
    pub a1_memory_per_ocpu_given: Option<Entry>,
    /// See [`LimitKey::MicroOcpus`].
    pub micro_ocpus: Option<Entry>,
    /// See [`LimitKey::MicroMemoryGb`].
    pub micro_memory_gb: Option<Entry>,
    /// See [`LimitKey::BootVolumeDefaultGb`].
    pub boot_volume_default_gb: Option<Entry>,
    /// See [`LimitKey::BootVolumeMinGb`].
    pub boot_volume_min_gb: Option<Entry>,
    /// See [`LimitKey::BootVolumeMaxGb`].
    pub boot_volume_max_gb: Option<Entry>,
    /// See [`LimitKey::BlockVolumeDefaultGb`].
    pub block_volume_default_gb: Option<Entry>,
    /// See [`LimitKey::BlockVolumeMinGb`].
    pub block_volume_min_gb: Option<Entry>,
    /// See [`LimitKey::BlockVolumeMaxGb`].
    pub block_volume_max_gb: Option<Entry>,
    /// See [`LimitKey::CustomImageMaxGb`].
    pub custom_image_max_gb: Option<Entry>,
    /// See [`LimitKey::BudgetAlertMaxUsd`].
    pub budget_alert_max_usd: Option<Entry>,
}

// Shorthand for the table below: a limit with no date, note or dispute.
const fn lim(
    key: LimitKey,
    kind: LimitKind,
    value: f64,
    unit: Unit,
    summary: &'static str,
    source: &'static str,
) -> Limit {
    Limit {
        key,
        kind,
        value,
        unit,
        summary,
        source,
        since: None,
        note: None,
        agreed: None,
    }
}

// A limit with no recorded history.
const fn now(current: Limit) -> Option<Entry> {
    Some(Entry {
        current,
        history: &[],
    })
}

// The public pages the sources below cite. Each is a `macro_rules!` so `concat!` can join it
// into a `&'static str`. The research note behind each fact (`shared/research/oci_policy.md`)
// is for us; users get only what they can open. docs/free-tier-sources.md lists every limit
// with these links and its history.
macro_rules! always_free_page {
    () => {
        "https://docs.oracle.com/en-us/iaas/Content/FreeTier/freetier_topic-Always_Free_Resources.htm"
    };
}
macro_rules! always_free_page_2026_06_05 {
    () => {
        concat!(
            "https://web.archive.org/web/20260605112238/",
            always_free_page!()
        )
    };
}
macro_rules! always_free_page_2026_06_12 {
    () => {
        concat!(
            "https://web.archive.org/web/20260612144234/",
            always_free_page!()
        )
    };
}
macro_rules! service_limits_page {
    () => {
        "https://docs.oracle.com/en-us/iaas/Content/General/Concepts/servicelimits.htm"
    };
}
macro_rules! live_limit {
    ($name:literal = $value:literal) => {
        concat!(
            "live limit ",
            $name,
            " = ",
            $value,
            " on a Free Tier tenancy; check your own tenancy's: ",
            service_limits_page!()
        )
    };
}

const SRC_A1_2026: &str = concat!(
    "Oracle's Always Free page as of 2026-06-12, ",
    always_free_page_2026_06_12!()
);
const SRC_A1_BEFORE: &str = concat!(
    "Oracle's Always Free page as of 2026-06-05, ",
    always_free_page_2026_06_05!()
);
const SRC_A1_PAID: &str = "Oracle's Arm pricing page: each paid tenancy gets the first 3,000 \
     OCPU hours and 18,000 GB hours a month, https://www.oracle.com/cloud/compute/arm/pricing/";
const NOTE_A1_2026: &str = "From 2026-08-18 Oracle terminates A1 instances over the allowance \
     (its e-mail, as quoted on LowEndTalk).";
const NOTE_A1_PAID: &str = concat!(
    "Oracle's own pages conflict: its Always Free page gives every tenancy 2 OCPU / 12 GB (",
    always_free_page!(),
    "). Above that, expect $0.01 per OCPU hour and $0.0015 per GB hour."
);
const SRC_MICRO_COUNT: &str = concat!(
    "Oracle's Always Free page: up to 2 VM.Standard.E2.1.Micro instances, ",
    always_free_page!()
);
const SRC_MICRO_SHAPE: &str = "Oracle's compute shapes page: VM.Standard.E2.1.Micro has 1/8 \
     OCPU and 1 GB, https://docs.oracle.com/en-us/iaas/Content/Compute/References/computeshapes.htm";
const SRC_STORAGE: &str = concat!(
    "Oracle's Always Free page: 200 GB of boot and block volumes combined, ",
    always_free_page!()
);
const SRC_BOOT_DEFAULT: &str = concat!(
    "Oracle's Always Free page: a boot volume is at least 47 GB whatever the shape, ",
    always_free_page!()
);
const SRC_BOOT_SIZE: &str = "oracle/terraform-provider-oci, website/docs/r/core_instance.html.\
     markdown: boot_volume_size_in_gbs is 50 to 32,768 GB";
const SRC_BLOCK_SIZE: &str = "oracle/terraform-provider-oci, website/docs/r/core_volume.html.\
     markdown: 50 GB to 32 TB, 1 TB by default";
const SRC_LB: &str = concat!(
    "Oracle's Always Free page: one flexible load balancer at 10 Mbps minimum and maximum, ",
    always_free_page!()
);
const SRC_OBJECT: &str = concat!(
    "Oracle's Always Free page: 20 GB on Always-Free-only tenancies, 10 GB per storage tier on \
     paid ones, ",
    always_free_page!()
);
const SRC_A1_WHOLE: &str = "Oracle's compute shapes page: an A1 OCPU is one whole Arm core, \
     https://docs.oracle.com/en-us/iaas/Content/Compute/References/computeshapes.htm";
const SRC_A1_RATIO: &str = "OCI API error \"Valid ratio range: 1 - 64\" for flexible shapes \
     (GitHub: oracle/oci-python-sdk issue #358)";
const SRC_A1_DEFAULT_MEM: &str = "GitHub: oracle/oci-cli issue #986, VM.Standard.A1.Flex \
     defaults to 6 GB per OCPU";
const SRC_A1_ROUNDING: &str = "GitHub: oracle/oci-cli issue #1107 (2026-07-21), 8 GB asked on \
     2 OCPU gave 12 GB";

const A1_OCPUS_BEFORE: Limit = Limit {
    note: Some("Oracle: the first 3,000 OCPU hours per month, equivalent to 4 OCPU."),
    ..lim(
        LimitKey::A1Ocpus,
        LimitKind::Total,
        4.0,
        Unit::Ocpu,
        "A1 OCPUs in total",
        SRC_A1_BEFORE,
    )
};
const A1_MEMORY_BEFORE: Limit = Limit {
    note: Some("Oracle: the first 18,000 GB hours per month, equivalent to 24 GB."),
    ..lim(
        LimitKey::A1MemoryGb,
        LimitKind::Total,
        24.0,
        Unit::Gb,
        "A1 memory in total",
        SRC_A1_BEFORE,
    )
};
const A1_INSTANCES_BEFORE: Limit = lim(
    LimitKey::A1Instances,
    LimitKind::Total,
    4.0,
    Unit::Count,
    "A1 instances: up to four",
    SRC_A1_BEFORE,
);

/// The Always Free tier: an Always-Free-only tenancy.
pub const ALWAYS_FREE: TierTable = TierTable {
    a1_ocpus: Some(Entry {
        current: Limit {
            since: Some("2026-06-12"),
            note: Some(NOTE_A1_2026),
            ..lim(
                LimitKey::A1Ocpus,
                LimitKind::Total,
                2.0,
                Unit::Ocpu,
                "A1 OCPUs in total",
                SRC_A1_2026,
            )
        },
        history: &[A1_OCPUS_BEFORE],
    }),
    a1_memory_gb: Some(Entry {
        current: Limit {
            since: Some("2026-06-12"),
            note: Some(NOTE_A1_2026),
            ..lim(
                LimitKey::A1MemoryGb,
                LimitKind::Total,
                12.0,
                Unit::Gb,
                "A1 memory in total",
                SRC_A1_2026,
            )
        },
        history: &[A1_MEMORY_BEFORE],
    }),
    a1_instances: Some(Entry {
        current: Limit {
            since: Some("2026-06-12"),
            note: Some(NOTE_A1_2026),
            ..lim(
                LimitKey::A1Instances,
                LimitKind::Total,
                2.0,
                Unit::Count,
                "A1 instances: one or two",
                "Oracle, as quoted in https://github.com/robhunter/agentdeals/pull/1733: \
                 \"one or two\" A1 instances, 2 OCPUs total",
            )
        },
        history: &[A1_INSTANCES_BEFORE],
    }),
    micro_instances: now(lim(
        LimitKey::MicroInstances,
        LimitKind::Total,
        2.0,
        Unit::Count,
        "VM.Standard.E2.1.Micro instances",
        SRC_MICRO_COUNT,
    )),
    block_storage_gb: now(lim(
        LimitKey::BlockStorageGb,
        LimitKind::Total,
        200.0,
        Unit::Gb,
        "boot and block volume storage in total, home region only",
        SRC_STORAGE,
    )),
    volume_backups: now(lim(
        LimitKey::VolumeBackups,
        LimitKind::Total,
        5.0,
        Unit::Count,
        "boot and block volume backups in total",
        live_limit!("free-backup-count" = "5"),
    )),
    reserved_public_ips: now(lim(
        LimitKey::ReservedPublicIps,
        LimitKind::Total,
        1.0,
        Unit::Count,
        "reserved public IPv4 addresses",
        live_limit!("reserved-public-ip-count" = "1"),
    )),
    vcns: now(lim(
        LimitKey::Vcns,
        LimitKind::Total,
        2.0,
        Unit::Count,
        "virtual cloud networks",
        concat!(
            "Oracle's Always Free page: up to 2 VCNs, ",
            always_free_page!()
        ),
    )),
    nat_gateways: now(lim(
        LimitKey::NatGateways,
        LimitKind::Total,
        0.0,
        Unit::Count,
        "NAT gateways",
        live_limit!("nat-gateway-count" = "0"),
    )),
    service_gateways: now(lim(
        LimitKey::ServiceGateways,
        LimitKind::Total,
        0.0,
        Unit::Count,
        "service gateways",
        "OCI error \"The maximum limit of 0 for Service gateway per VCN has been exceeded\" \
         on a free tenancy (GitHub: Rapha-Borges/oke-free issue #12)",
    )),
    load_balancers: now(lim(
        LimitKey::LoadBalancers,
        LimitKind::Total,
        1.0,
        Unit::Count,
        "load balancers",
        SRC_LB,
    )),
    load_balancer_bandwidth_mbps: now(lim(
        LimitKey::LoadBalancerBandwidthMbps,
        LimitKind::Total,
        10.0,
        Unit::Mbps,
        "flexible load balancer maximum bandwidth, summed",
        SRC_LB,
    )),
    network_load_balancers: now(lim(
        LimitKey::NetworkLoadBalancers,
        LimitKind::Total,
        1.0,
        Unit::Count,
        "network load balancers",
        concat!(
            "Oracle's Always Free page: one network load balancer, ",
            always_free_page!()
        ),
    )),
    object_storage_gb: now(lim(
        LimitKey::ObjectStorageGb,
        LimitKind::Total,
        20.0,
        Unit::Gb,
        "Object Storage across all buckets and storage tiers",
        SRC_OBJECT,
    )),
    a1_ocpus_min: now(lim(
        LimitKey::A1OcpusMin,
        LimitKind::ItemMin,
        1.0,
        Unit::Ocpu,
        "OCPUs per A1 instance: a whole number, at least 1",
        SRC_A1_WHOLE,
    )),
    a1_memory_per_ocpu_min: now(lim(
        LimitKey::A1MemoryPerOcpuMin,
        LimitKind::ItemMin,
        1.0,
        Unit::GbPerOcpu,
        "A1 memory per OCPU, lowest",
        SRC_A1_RATIO,
    )),
    a1_memory_per_ocpu_max: now(lim(
        LimitKey::A1MemoryPerOcpuMax,
        LimitKind::ItemMax,
        64.0,
        Unit::GbPerOcpu,
        "A1 memory per OCPU, highest",
        SRC_A1_RATIO,
    )),
    a1_memory_per_ocpu_default: now(lim(
        LimitKey::A1MemoryPerOcpuDefault,
        LimitKind::Fixed,
        6.0,
        Unit::GbPerOcpu,
        "A1 memory per OCPU when memory is not set",
        SRC_A1_DEFAULT_MEM,
    )),
    a1_memory_per_ocpu_given: now(lim(
        LimitKey::A1MemoryPerOcpuGiven,
        LimitKind::Fixed,
        6.0,
        Unit::GbPerOcpu,
        "A1 memory per OCPU the cloud really gives",
        SRC_A1_ROUNDING,
    )),
    micro_ocpus: now(lim(
        LimitKey::MicroOcpus,
        LimitKind::Fixed,
        0.125,
        Unit::Ocpu,
        "OCPUs of VM.Standard.E2.1.Micro (1/8, burstable; fixed shape)",
        SRC_MICRO_SHAPE,
    )),
    micro_memory_gb: now(lim(
        LimitKey::MicroMemoryGb,
        LimitKind::Fixed,
        1.0,
        Unit::Gb,
        "memory of VM.Standard.E2.1.Micro (fixed shape)",
        SRC_MICRO_SHAPE,
    )),
    boot_volume_default_gb: now(Limit {
        note: Some("Unset, a boot volume gets 47 GB; set, it must be at least 50 GB."),
        ..lim(
            LimitKey::BootVolumeDefaultGb,
            LimitKind::Fixed,
            47.0,
            Unit::Gb,
            "boot volume size when boot_volume_size_in_gbs is not set",
            SRC_BOOT_DEFAULT,
        )
    }),
    boot_volume_min_gb: now(lim(
        LimitKey::BootVolumeMinGb,
        LimitKind::ItemMin,
        50.0,
        Unit::Gb,
        "smallest boot volume size that can be set",
        SRC_BOOT_SIZE,
    )),
    boot_volume_max_gb: now(lim(
        LimitKey::BootVolumeMaxGb,
        LimitKind::ItemMax,
        32768.0,
        Unit::Gb,
        "largest boot volume size",
        SRC_BOOT_SIZE,
    )),
    block_volume_default_gb: now(lim(
        LimitKey::BlockVolumeDefaultGb,
        LimitKind::Fixed,
        1024.0,
        Unit::Gb,
        "block volume size when size_in_gbs is not set",
        SRC_BLOCK_SIZE,
    )),
    block_volume_min_gb: now(lim(
        LimitKey::BlockVolumeMinGb,
        LimitKind::ItemMin,
        50.0,
        Unit::Gb,
        "smallest block volume",
        SRC_BLOCK_SIZE,
    )),
    block_volume_max_gb: now(lim(
        LimitKey::BlockVolumeMaxGb,
        LimitKind::ItemMax,
        32768.0,
        Unit::Gb,
        "largest block volume",
        SRC_BLOCK_SIZE,
    )),
    custom_image_max_gb: now(lim(
        LimitKey::CustomImageMaxGb,
        LimitKind::ItemMax,
        20.0,
        Unit::Gb,
        "size of one custom image",
        concat!(
            "Oracle's Always Free page: images are imported through Object Storage, whose free \
             allowance is 20 GB, ",
            always_free_page!()
        ),
    )),
    budget_alert_max_usd: now(Limit {
        note: Some("Budgets only alert; they never stop spending."),
        ..lim(
            LimitKey::BudgetAlertMaxUsd,
            LimitKind::ItemMax,
            0.01,
            Unit::Usd,
            "budget alert threshold that catches the first cent",
            "Oracle's budgets page: budgets and alert rules send alerts and cost nothing, \
             https://docs.oracle.com/en-us/iaas/Content/Billing/Concepts/budgetsoverview.htm",
        )
    }),
};

/// The Pay As You Go tier: a paid tenancy that means to stay inside the free allowance.
///
/// Only the A1 figures and Object Storage differ from [`ALWAYS_FREE`]. The network limits are
/// the free tenancy's (the issue applies them to both tiers), which is stricter than a paid
/// tenancy's service limits, so a plan that passes here is still free.
pub const PAY_AS_YOU_GO: TierTable = TierTable {
    a1_ocpus: now(Limit {
        note: Some(NOTE_A1_PAID),
        agreed: Some(2.0),
        ..lim(
            LimitKey::A1Ocpus,
            LimitKind::Total,
            4.0,
            Unit::Ocpu,
            "A1 OCPUs in total",
            SRC_A1_PAID,
        )
    }),
    a1_memory_gb: now(Limit {
        note: Some(NOTE_A1_PAID),
        agreed: Some(12.0),
        ..lim(
            LimitKey::A1MemoryGb,
            LimitKind::Total,
            24.0,
            Unit::Gb,
            "A1 memory in total",
            SRC_A1_PAID,
        )
    }),
    a1_instances: now(Limit {
        note: Some("With whole OCPUs of at least one each, 4 OCPU allow at most four instances."),
        ..A1_INSTANCES_BEFORE
    }),
    object_storage_gb: now(Limit {
        note: Some(
            "The check cannot tell a bucket's storage tier, so it holds every bucket to the \
                    Standard tier's 10 GB.",
        ),
        ..lim(
            LimitKey::ObjectStorageGb,
            LimitKind::Total,
            10.0,
            Unit::Gb,
            "Object Storage across all buckets (Standard tier)",
            SRC_OBJECT,
        )
    }),
    // oci-cli #1107 saw the rounding on a PAYG account's Always-Free A1 allotment, so it may
    // apply here too. The issue scopes it to always_free, and counting the memory asked for is
    // the safer error: it can only overstate the total, never hide a billed excess.
    a1_memory_per_ocpu_given: None,
    ..ALWAYS_FREE
};
