//! The input to a check: what a plan asks OCI for, with unknown and unset values kept as such.
//!
//! Callers (the provider's `freetier_allocation` data source, the `freetier check` CLI) fill
//! these structs from configuration or plan JSON. They never invent a number: a value the plan
//! cannot know yet is [`Value::Unknown`], a value not set is [`Value::Absent`] and the rulebook
//! applies OCI's default. Every item has a caller-defined `label` and sits at an index in its
//! list, which is how a violation points back at it.
//!
//! Imports nothing from the rest of the crate.

/// A configuration value as a plan sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value<T> {
    /// Set to this value.
    Known(T),
    /// Set, but not known until apply (computed, or from an unknown variable).
    Unknown,
    /// Not set: OCI's default applies, where there is one.
    #[default]
    Absent,
}

/// A numeric configuration value. Any `f64`, NaN and infinities included, is accepted here and
/// judged by the check.
pub type Quantity = Value<f64>;

impl<T> Value<T> {
    /// The value, when known.
    pub fn known(&self) -> Option<&T> {
        match self {
            Value::Known(value) => Some(value),
            Value::Unknown | Value::Absent => None,
        }
    }

    /// `Known` for `Some`, `Absent` for `None`.
    pub fn from_option(value: Option<T>) -> Value<T> {
        value.map_or(Value::Absent, Value::Known)
    }
}

impl From<f64> for Quantity {
    fn from(value: f64) -> Self {
        Value::Known(value)
    }
}

impl From<&str> for Value<String> {
    fn from(value: &str) -> Self {
        Value::Known(value.to_owned())
    }
}

/// The Arm shape with the free A1 allowance.
pub const A1_FLEX: &str = "VM.Standard.A1.Flex";
/// The fixed AMD shape with two free instances.
pub const E2_MICRO: &str = "VM.Standard.E2.1.Micro";
/// The load balancer shape with the free 10 Mbps allowance.
pub const LB_FLEXIBLE: &str = "flexible";
/// The load balancer shape that tenancies created before 2020-12-15 got for free.
pub const LB_MICRO: &str = "10Mbps-Micro";

/// A compute shape with a free allowance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// `VM.Standard.A1.Flex`.
    A1Flex,
    /// `VM.Standard.E2.1.Micro`.
    E2Micro,
}

impl Shape {
    /// Matches OCI's exact, case-sensitive shape name.
    pub fn parse(name: &str) -> Option<Shape> {
        match name {
            A1_FLEX => Some(Shape::A1Flex),
            E2_MICRO => Some(Shape::E2Micro),
            _ => None,
        }
    }

    /// OCI's name for the shape.
    pub const fn as_str(self) -> &'static str {
        match self {
            Shape::A1Flex => A1_FLEX,
            Shape::E2Micro => E2_MICRO,
        }
    }
}

/// Everything one plan asks for. Lists are in the caller's order; indexes into them are what
/// [`Subject`](super::Subject) reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Allocation {
    /// `oci_core_instance` blocks.
    pub instances: Vec<Instance>,
    /// `oci_core_volume` blocks (boot volumes belong to their instance).
    pub block_volumes: Vec<BlockVolume>,
    /// Boot and block volume backups (`oci_core_volume_backup`, `oci_core_boot_volume_backup`,
    /// backup policies' retained copies).
    pub volume_backups: Vec<Counted>,
    /// `oci_core_public_ip` blocks with `lifetime = "RESERVED"`.
    pub reserved_public_ips: Vec<Counted>,
    /// `oci_core_vcn` blocks.
    pub vcns: Vec<Counted>,
    /// `oci_core_nat_gateway` blocks.
    pub nat_gateways: Vec<Counted>,
    /// `oci_core_service_gateway` blocks.
    pub service_gateways: Vec<Counted>,
    /// `oci_load_balancer_load_balancer` (or `oci_load_balancer`) blocks.
    pub load_balancers: Vec<LoadBalancer>,
    /// `oci_network_load_balancer_network_load_balancer` blocks.
    pub network_load_balancers: Vec<Counted>,
    /// What is stored in Object Storage: one entry per bucket or object the caller can size.
    pub object_storage: Vec<ObjectStorage>,
    /// `oci_core_image` blocks (custom images).
    pub custom_images: Vec<CustomImage>,
    /// Budget alert rules. `None`: budgets are not part of this check. `Some(empty)`: the caller
    /// saw the whole configuration and it has no alert, which draws a warning.
    pub budget_alerts: Option<Vec<BudgetAlert>>,
}

/// A resource that matters only by how many there are.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counted {
    /// The caller's name for the block, used in messages.
    pub label: Option<String>,
    /// Terraform `count` (absent: one).
    pub count: Quantity,
}

impl Counted {
    /// One resource with this label.
    pub fn named(label: &str) -> Counted {
        Counted {
            label: Some(label.to_owned()),
            count: Value::Absent,
        }
    }

    /// `count` resources from one block.
    pub fn times(count: impl Into<Quantity>) -> Counted {
        Counted {
            label: None,
            count: count.into(),
        }
    }
}

/// One `oci_core_instance` block.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Instance {
    /// The caller's name for the block, used in messages.
    pub label: Option<String>,
    /// `shape`.
    pub shape: Value<String>,
    /// `shape_config.ocpus`.
    pub ocpus: Quantity,
    /// `shape_config.memory_in_gbs`.
    pub memory_gb: Quantity,
    /// `source_details.boot_volume_size_in_gbs` (absent: the image default).
    pub boot_volume_gb: Quantity,
    /// Terraform `count` (absent: one).
    pub count: Quantity,
}

impl Instance {
    /// An A1 instance with this many OCPUs and GB of memory, default boot volume.
    pub fn a1(ocpus: f64, memory_gb: f64) -> Instance {
        Instance {
            shape: A1_FLEX.into(),
            ocpus: ocpus.into(),
            memory_gb: memory_gb.into(),
            ..Instance::default()
        }
    }

    /// A micro instance, default boot volume.
    pub fn micro() -> Instance {
        Instance {
            shape: E2_MICRO.into(),
            ..Instance::default()
        }
    }

    /// The same instance with a label.
    pub fn named(self, label: &str) -> Instance {
        Instance {
            label: Some(label.to_owned()),
            ..self
        }
    }

    /// The same instance with an explicit boot volume size.
    pub fn boot_gb(self, gb: impl Into<Quantity>) -> Instance {
        Instance {
            boot_volume_gb: gb.into(),
            ..self
        }
    }
}

/// One `oci_core_volume` block.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BlockVolume {
    /// The caller's name for the block, used in messages.
    pub label: Option<String>,
    /// `size_in_gbs` (absent: OCI's 1 TB default).
    pub size_gb: Quantity,
    /// Terraform `count` (absent: one).
    pub count: Quantity,
}

impl BlockVolume {
    /// One volume of this size.
    pub fn gb(size_gb: impl Into<Quantity>) -> BlockVolume {
        BlockVolume {
            size_gb: size_gb.into(),
            ..BlockVolume::default()
        }
    }
}

/// One load balancer block.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadBalancer {
    /// The caller's name for the block, used in messages.
    pub label: Option<String>,
    /// `shape` (required by OCI).
    pub shape: Value<String>,
    /// `shape_details.minimum_bandwidth_in_mbps`.
    pub min_bandwidth_mbps: Quantity,
    /// `shape_details.maximum_bandwidth_in_mbps` (required for the flexible shape).
    pub max_bandwidth_mbps: Quantity,
    /// Terraform `count` (absent: one).
    pub count: Quantity,
}

impl LoadBalancer {
    /// A flexible load balancer with this minimum and maximum bandwidth.
    pub fn flexible(min_mbps: f64, max_mbps: f64) -> LoadBalancer {
        LoadBalancer {
            shape: LB_FLEXIBLE.into(),
            min_bandwidth_mbps: min_mbps.into(),
            max_bandwidth_mbps: max_mbps.into(),
            ..LoadBalancer::default()
        }
    }
}

/// Data kept in Object Storage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectStorage {
    /// The caller's name (bucket or object), used in messages.
    pub label: Option<String>,
    /// GB stored (absent: nothing the caller can size, counted as 0).
    pub gb: Quantity,
    /// Terraform `count` (absent: one).
    pub count: Quantity,
}

/// One `oci_core_image` block (a custom image).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CustomImage {
    /// The caller's name for the block, used in messages.
    pub label: Option<String>,
    /// Size of the image in GB. Configuration rarely states it, so absent is deferred, not 0.
    pub size_gb: Quantity,
    /// Terraform `count` (absent: one).
    pub count: Quantity,
}

/// One budget alert rule, with its threshold in dollars (a percentage threshold converted by the
/// caller from the budget's amount).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BudgetAlert {
    /// The caller's name for the block, used in messages.
    pub label: Option<String>,
    /// The spend, in USD, at which the alert fires.
    pub threshold_usd: Quantity,
}
