//! Tier profiles: every free-tier limit the rulebook knows, as data.
//!
//! Each tier is one [`TierTable`] literal with one field per [`LimitKey`], so the compiler
//! refuses a tier that forgets a limit. A field is `None` where the tier has no such rule
//! (pay_as_you_go does not round A1 memory). A dated change is one edit to one field: move
//! `current` into `history` and write the new `current` with its `since` date.
//!
//! Where the issue and the research disagree, the table keeps the lower, safer figure and says
//! so in `note` (research: `shared/research/oci_policy.md`, cited below as "policy §N").
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
    /// Where the value comes from: a URL or a citation as in the research note.
    pub source: &'static str,
    /// ISO date from which the value applies, when the sources give one.
    pub since: Option<&'static str>,
    /// What a user should also know: history, conflicts between sources, consequences.
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

const SRC_A1_2026: &str = "Oracle Always Free page, quoted in ripienaar/free-for-dev PR #4476 \
     (merged 2026-06-14) and robhunter/agentdeals PR #1733; Wayback copies show 2 OCPU / 12 GB \
     from 2026-06-12 (policy §0.1)";
const SRC_A1_BEFORE: &str = "Oracle Always Free page before June 2026, quoted in \
     cloudcommunity/Cloud-Free-Tier-Comparison issue #13 and index id 15252958093 (policy §1.1)";
const SRC_A1_PAID: &str = "Oracle Arm pricing page and price list: each paid tenancy gets the \
     first 3,000 OCPU hours and 18,000 GB hours free; SKUs B93297/B93298 still priced $0 up to \
     those hours (secondary: index ids 70588103939, 69386864556; policy §0.2)";
const NOTE_A1_2026: &str = "Was 4 OCPU / 24 GB in up to four instances before 2026-06-12. \
     Oracle enforces the new figures from 2026-08-18 and terminates A1 instances over them \
     (Oracle email quoted in index ids 70098563046, 69719049187).";
const NOTE_A1_PAID: &str = "Oracle's own pages conflict: the Always Free page says all \
     tenancies get 1,500 OCPU hours and 9,000 GB hours (2 OCPU / 12 GB), the pricing page says \
     paid tenancies get twice that, Oracle has not clarified, and nightscout/nocturne PR #1301 \
     reports users billed above 2 / 12 after upgrading (policy §0.2). Above 2 OCPU / 12 GB, \
     expect $0.01 per OCPU-hour and $0.0015 per GB-hour if the lower figure applies.";
const SRC_MICRO: &str = "Oracle Always Free page, compute section (index ids 63306869328, \
     774401229); live limit standard-e2-micro-core-count = 2 (index id 68871236771) (policy §1.1)";
const SRC_STORAGE: &str = "Oracle Always Free page, Block Volume section: 200 GB boot and \
     block combined (index ids 66871029343, 63306869328); live limit total-free-storage-gb = 200 \
     (index id 68871236771) (policy §1.2)";
const SRC_BOOT_DEFAULT: &str = "Oracle Always Free page, compute section: boot volume minimum \
     47 GB regardless of shape; a live A1 boot volume measured 47 GB (index ids 63306869328, \
     15252958093, 68871236771) (policy §1.2)";
const SRC_BOOT_SIZE: &str = "oracle/terraform-provider-oci website/docs/r/core_instance.html.\
     markdown, source_details.boot_volume_size_in_gbs: minimum 50 GB, maximum 32,768 GB \
     (policy §2.1)";
const SRC_BLOCK_SIZE: &str = "oracle/terraform-provider-oci website/docs/r/core_volume.html.\
     markdown: 50 GB to 32 TB in 1 GB steps, 1 TB by default (index id 15393130308)";
const SRC_NET_LIVE: &str = "live limits of a Free Tier tenancy, us-chicago-1, 2026-09-09 \
     (index id 68871236771) (policy §0.5)";
const SRC_LB: &str = "Oracle Always Free page: one flexible load balancer, 10 Mbps minimum and \
     maximum (index id 63306869328); live lb-flexible-count = 1 and \
     lb-flexible-bandwidth-sum = 10 (index id 68871236771) (policy §1.3)";
const SRC_OBJECT: &str = "Oracle Always Free page: 20 GB Standard, Infrequent Access and \
     Archive combined on Always-Free-only tenancies; trial and paid tenancies get 10 GB of each \
     (index id 63306869328); live storage-bytes = 21474836480 (index id 68871236771) \
     (policy §1.2)";
const SRC_A1_WHOLE: &str = "A1 allocates whole OCPUs, at least one per instance (policy §0.1; \
     freetier issue, shape rules)";
const SRC_A1_RATIO: &str = "OCI API error \"Valid ratio range: 1 - 64\" for flexible shapes \
     (oracle/oci-python-sdk issue #358); freetier issue, shape rules";
const SRC_A1_DEFAULT_MEM: &str = "oracle/oci-cli issue #986: VM.Standard.A1.Flex defaults to \
     6 GB per OCPU";
const SRC_A1_ROUNDING: &str = "oracle/oci-cli issue #1107 (2026-07-21): Always-Free \
     VM.Standard.A1.Flex memory is silently set to 6 GB per OCPU (8 GB asked on 2 OCPU gave \
     12 GB; 16 GB gave 12 GB)";

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
                "robhunter/agentdeals PR #1733 quoting Oracle: \"one or two\" A1 instances, \
                 2 OCPUs total (policy §0.1)",
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
        SRC_MICRO,
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
        "live limit free-backup-count = 5 (index id 68871236771) (policy §1.2)",
    )),
    reserved_public_ips: now(Limit {
        note: Some(
            "The original design assumed 2. Ephemeral public IPs (one per VNIC) are not \
                    counted here.",
        ),
        ..lim(
            LimitKey::ReservedPublicIps,
            LimitKind::Total,
            1.0,
            Unit::Count,
            "reserved public IPv4 addresses",
            "live limit reserved-public-ip-count = 1 on a Free Tier tenancy (index ids \
             68871236771, 70265905398, 59819331008) (policy §1.3)",
        )
    }),
    vcns: now(lim(
        LimitKey::Vcns,
        LimitKind::Total,
        2.0,
        Unit::Count,
        "virtual cloud networks",
        "Oracle Always Free page (index id 63306869328); live vcn-count = 2 (index id \
         68871236771) (policy §1.3)",
    )),
    nat_gateways: now(Limit {
        note: Some("A private subnet behind a NAT gateway is not possible; use public subnets."),
        ..lim(
            LimitKey::NatGateways,
            LimitKind::Total,
            0.0,
            Unit::Count,
            "NAT gateways",
            SRC_NET_LIVE,
        )
    }),
    service_gateways: now(lim(
        LimitKey::ServiceGateways,
        LimitKind::Total,
        0.0,
        Unit::Count,
        "service gateways",
        "Rapha-Borges/oke-free issue #12: \"The maximum limit of 0 for Service gateway per VCN \
         has been exceeded\" (policy §0.5)",
    )),
    load_balancers: now(Limit {
        note: Some(
            "Tenancies created before 2020-12-15 got the older 10Mbps-Micro shape \
                    instead (policy §1.3).",
        ),
        ..lim(
            LimitKey::LoadBalancers,
            LimitKind::Total,
            1.0,
            Unit::Count,
            "load balancers",
            SRC_LB,
        )
    }),
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
        "Oracle Always Free page (index id 63306869328) (policy §1.3)",
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
    a1_memory_per_ocpu_given: now(Limit {
        note: Some(
            "The API reports success and gives this much whatever was asked for; the \
                    check reports the size you will really get.",
        ),
        ..lim(
            LimitKey::A1MemoryPerOcpuGiven,
            LimitKind::Fixed,
            6.0,
            Unit::GbPerOcpu,
            "A1 memory per OCPU the cloud really gives",
            SRC_A1_ROUNDING,
        )
    }),
    micro_ocpus: now(lim(
        LimitKey::MicroOcpus,
        LimitKind::Fixed,
        0.125,
        Unit::Ocpu,
        "OCPUs of VM.Standard.E2.1.Micro (1/8, burstable; fixed shape)",
        SRC_MICRO,
    )),
    micro_memory_gb: now(lim(
        LimitKey::MicroMemoryGb,
        LimitKind::Fixed,
        1.0,
        Unit::Gb,
        "memory of VM.Standard.E2.1.Micro (fixed shape)",
        SRC_MICRO,
    )),
    boot_volume_default_gb: now(Limit {
        note: Some(
            "Oracle's page also says boot volumes default to 50 GB; 47 GB is what a live \
                    instance got when no size was set, and 50 GB is the least that can be set.",
        ),
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
    custom_image_max_gb: now(Limit {
        note: Some(
            "Images are imported through Object Storage, whose free allowance is 20 GB; \
                    whether image storage itself is billed is unverified (policy §7, q3).",
        ),
        ..lim(
            LimitKey::CustomImageMaxGb,
            LimitKind::ItemMax,
            20.0,
            Unit::Gb,
            "size of one custom image",
            "freetier issue (custom images under 20 GB); Object Storage allowance (policy §1.2)",
        )
    }),
    budget_alert_max_usd: now(Limit {
        note: Some(
            "Budgets only alert; they never stop spending (TanveeKhanDB/OCI wiki, \
                    Lab 65).",
        ),
        ..lim(
            LimitKey::BudgetAlertMaxUsd,
            LimitKind::ItemMax,
            0.01,
            Unit::Usd,
            "budget alert threshold that catches the first cent",
            "freetier issue (a budget alert at $0.01); budgets and alert rules cost nothing \
             (DevWithNehaCloud OCI wiki, Lab 65) (policy §1.4)",
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
            "Paid tenancies get 10 GB each of Standard, Infrequent Access and Archive; \
                    the check does not know a bucket's storage tier, so it holds every bucket \
                    to the Standard 10 GB.",
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
