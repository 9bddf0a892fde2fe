//! Bad input at scale: a corpus of bad configurations, covering every resource, data source
//! and function the provider offers and its `provider` block, run through a real Terraform
//! core. Each case names the source line the diagnostic must point at (the attribute path, as
//! the core renders it) and what it must say (the numbers, where a limit is involved).
//!
//! The cases run in three batches, one working directory each, so one `init` serves many
//! cases: Terraform reports every diagnostic of a `validate` or a `plan` at once, and each
//! case sits in its own file (`CASE.tf`), so each diagnostic is traced to its case by its
//! file name. A bad `provider` block stops everything after it, so those cases form a batch of
//! their own (each an alias); plan-time rules need a configuration that validates.
//!
//! Runs on the newest core found (`FREETIER_TF_CORES` may choose; see tests/support).

mod support;

use std::collections::BTreeMap;

use serde_json::Value as Json;
use support::{cores, Core, Run, Workdir};

/// When the core reaches the check that refuses a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// A `provider` block: `validate`, in a directory of provider cases only.
    Provider,
    /// Schema and ValidateResourceConfig-style checks, functions: `validate`.
    Validate,
    /// Data source reads, plan modifiers and import blocks: `plan`.
    Plan,
}

/// One bad configuration.
struct Case {
    /// The case's name; also its file name, and `CASE` in the HCL is replaced by it.
    name: &'static str,
    phase: Phase,
    /// The configuration (the `terraform` block is added).
    hcl: &'static str,
    /// A piece of the source line the diagnostic must point at; `None` for import ids, which
    /// Terraform reports without any source location whatever the provider sends.
    at: Option<&'static str>,
    /// What the diagnostic's summary and detail must contain.
    says: &'static [&'static str],
    /// What no diagnostic of the case may contain (a secret in an import id).
    never: &'static [&'static str],
}

const fn case(
    name: &'static str,
    phase: Phase,
    hcl: &'static str,
    at: &'static str,
    says: &'static [&'static str],
) -> Case {
    Case {
        name,
        phase,
        hcl,
        at: Some(at),
        says,
        never: &[],
    }
}

/// A case refused at `validate`.
const fn v(
    name: &'static str,
    hcl: &'static str,
    at: &'static str,
    says: &'static [&'static str],
) -> Case {
    case(name, Phase::Validate, hcl, at, says)
}

/// A case refused at `plan`.
const fn p(
    name: &'static str,
    hcl: &'static str,
    at: &'static str,
    says: &'static [&'static str],
) -> Case {
    case(name, Phase::Plan, hcl, at, says)
}

/// A bad `provider` block, as alias `CASE`, used by a data source.
macro_rules! provider {
    ($name:literal, $body:literal, $at:literal, $says:expr) => {
        case(
            $name,
            Phase::Provider,
            concat!(
                "provider \"freetier\" {\n  alias = \"CASE\"\n",
                $body,
                "\n}\n\ndata \"freetier_limits\" \"CASE\" {\n  provider = freetier.CASE\n}\n"
            ),
            $at,
            $says,
        )
    };
}

/// An import block for `$to` (an address with `CASE`) with id `$id`, and the resource.
macro_rules! import {
    ($name:literal, $to:literal, $id:literal, $resource:expr, $says:expr, $never:expr) => {
        Case {
            name: $name,
            phase: Phase::Plan,
            hcl: concat!(
                "import {\n  to = ",
                $to,
                "\n  id = \"",
                $id,
                "\"\n}\n\n",
                $resource
            ),
            at: None,
            says: $says,
            never: $never,
        }
    };
}

/// An age key resource to import into.
macro_rules! age_key {
    () => {
        "resource \"freetier_age_key\" \"CASE\" {\n}\n"
    };
}

/// A Talos secrets bundle resource to import into.
macro_rules! talos_secrets {
    () => {
        "resource \"freetier_talos_secrets\" \"CASE\" {\n}\n"
    };
}

/// One data source `freetier_allocation` with `$body` inside.
macro_rules! alloc {
    ($body:expr) => {
        concat!("data \"freetier_allocation\" \"CASE\" {\n", $body, "\n}\n")
    };
}

/// A Proxmox cluster: `$attrs` at the top level (name and key included), then `$blocks`.
macro_rules! cluster {
    ($attrs:expr, $blocks:expr) => {
        concat!(
            "resource \"freetier_proxmox_cluster\" \"CASE\" {\n",
            $attrs,
            "\n",
            $blocks,
            "}\n"
        )
    };
}

/// The name and key every valid cluster has.
macro_rules! named {
    () => {
        "  name            = \"lab\"\n  ssh_private_key = \"not-a-real-key\""
    };
}

/// A node block.
macro_rules! node {
    ($name:literal, $address:literal) => {
        concat!(
            "  node {\n    name    = \"",
            $name,
            "\"\n    address = \"",
            $address,
            "\"\n  }\n"
        )
    };
    ($name:literal, $address:literal, $extra:literal) => {
        concat!(
            "  node {\n    name    = \"",
            $name,
            "\"\n    address = \"",
            $address,
            "\"\n    ",
            $extra,
            "\n  }\n"
        )
    };
}

/// A ceph block with a valid network.
macro_rules! ceph {
    () => {
        "  ceph {\n    public_network = \"10.0.1.0/24\"\n  }\n"
    };
}

/// A single-node cluster with `$extra` among its attributes.
macro_rules! one_node {
    ($extra:expr) => {
        cluster!($extra, node!("pve-1", "10.0.1.10"))
    };
}

/// A function call as an output's value.
macro_rules! call {
    ($expr:literal) => {
        concat!("output \"CASE\" {\n  value = ", $expr, "\n}\n")
    };
}

const UNKNOWN_TIER: &[&str] = &["Unknown Tier", "always_free, pay_as_you_go"];
const WRONG_TYPE: &[&str] = &["Incorrect attribute value type"];
const UNSUPPORTED: &[&str] = &["Unsupported argument"];
const READ_ONLY: &[&str] = &["Invalid Configuration for Read-Only Attribute"];
const CLUSTER_NAME: &[&str] = &["Invalid Cluster Name", "1 to 15 letters, digits or '-'"];
const DURATION: &[&str] = &[
    "Invalid Duration",
    "is not a duration like 30s, 45m or 1h30m",
];
const NETWORK: &[&str] = &["Invalid Network", "is not an IPv4 network in CIDR notation"];

/// The corpus.
const CASES: &[Case] = &[
    // ---- The provider block.
    provider!(
        "provider_tier_unknown",
        r#"  tier = "free_forever""#,
        r#"tier = "free_forever""#,
        UNKNOWN_TIER
    ),
    provider!(
        "provider_tier_capitalised",
        r#"  tier = "Always_Free""#,
        r#"tier = "Always_Free""#,
        UNKNOWN_TIER
    ),
    provider!(
        "provider_tier_hyphenated",
        r#"  tier = "always-free""#,
        r#"tier = "always-free""#,
        UNKNOWN_TIER
    ),
    provider!(
        "provider_tier_empty",
        r#"  tier = """#,
        r#"tier = """#,
        UNKNOWN_TIER
    ),
    provider!(
        "provider_tier_padded",
        r#"  tier = " always_free""#,
        r#"tier = " always_free""#,
        UNKNOWN_TIER
    ),
    provider!(
        "provider_tier_number",
        "  tier = 42",
        "tier = 42",
        &["Unknown Tier", r#""42""#]
    ),
    provider!(
        "provider_tier_list",
        r#"  tier = ["always_free"]"#,
        r#"tier = ["always_free"]"#,
        WRONG_TYPE
    ),
    provider!(
        "provider_unknown_argument",
        r#"  region = "eu-frankfurt-1""#,
        "region =",
        UNSUPPORTED
    ),
    provider!(
        "provider_tier_as_block",
        r#"
  tier {
  }"#,
        "tier {",
        &["Unsupported block type"]
    ),
    // ---- data "freetier_limits".
    v(
        "limits_tier_unknown",
        r#"
data "freetier_limits" "CASE" {
  tier = "gold"
}
"#,
        r#"tier = "gold""#,
        UNKNOWN_TIER,
    ),
    v(
        "limits_tier_empty",
        r#"
data "freetier_limits" "CASE" {
  tier = ""
}
"#,
        r#"tier = """#,
        UNKNOWN_TIER,
    ),
    v(
        "limits_tier_hyphenated",
        r#"
data "freetier_limits" "CASE" {
  tier = "pay-as-you-go"
}
"#,
        r#"tier = "pay-as-you-go""#,
        UNKNOWN_TIER,
    ),
    v(
        "limits_tier_upper_case",
        r#"
data "freetier_limits" "CASE" {
  tier = "ALWAYS_FREE"
}
"#,
        r#"tier = "ALWAYS_FREE""#,
        UNKNOWN_TIER,
    ),
    v(
        "limits_tier_word_null",
        r#"
data "freetier_limits" "CASE" {
  tier = "null"
}
"#,
        r#"tier = "null""#,
        UNKNOWN_TIER,
    ),
    v(
        "limits_tier_list",
        r#"
data "freetier_limits" "CASE" {
  tier = ["always_free"]
}
"#,
        "tier = [",
        WRONG_TYPE,
    ),
    v(
        "limits_values_set",
        r#"
data "freetier_limits" "CASE" {
  values = {}
}
"#,
        "values = {}",
        READ_ONLY,
    ),
    v(
        "limits_effective_tier_set",
        r#"
data "freetier_limits" "CASE" {
  effective_tier = "always_free"
}
"#,
        "effective_tier =",
        READ_ONLY,
    ),
    v(
        "limits_unknown_argument",
        r#"
data "freetier_limits" "CASE" {
  region = "eu-frankfurt-1"
}
"#,
        "region =",
        UNSUPPORTED,
    ),
    // ---- data "freetier_allocation": what the schema and validation refuse.
    v(
        "allocation_tier_unknown",
        alloc!(r#"  tier = "free""#),
        r#"tier = "free""#,
        UNKNOWN_TIER,
    ),
    v(
        "allocation_tier_number",
        alloc!("  tier = 1"),
        "tier = 1",
        &["Unknown Tier", r#""1""#],
    ),
    v(
        "allocation_instance_without_name",
        alloc!(
            r#"
  instance {
    shape = "VM.Standard.A1.Flex"
  }"#
        ),
        "instance {",
        &["Missing required argument", r#""name""#],
    ),
    v(
        "allocation_instance_without_shape",
        alloc!(
            r#"
  instance {
    name = "node"
  }"#
        ),
        "instance {",
        &["Missing required argument", r#""shape""#],
    ),
    v(
        "allocation_volume_without_size",
        alloc!(
            r#"
  block_volume {
    name = "data"
  }"#
        ),
        "block_volume {",
        &["Missing required argument", r#""size_gb""#],
    ),
    v(
        "allocation_alert_without_threshold",
        alloc!(
            r#"
  budget_alert {
    name = "guard"
  }"#
        ),
        "budget_alert {",
        &["Missing required argument", r#""threshold_usd""#],
    ),
    v(
        "allocation_ocpus_in_words",
        alloc!(
            r#"
  instance {
    name  = "node"
    shape = "VM.Standard.A1.Flex"
    ocpus = "two"
  }"#
        ),
        r#"ocpus = "two""#,
        WRONG_TYPE,
    ),
    v(
        "allocation_vcns_list",
        alloc!("  vcns = [1]"),
        "vcns = [1]",
        WRONG_TYPE,
    ),
    v(
        "allocation_unknown_block",
        alloc!(
            r#"
  disk {
    size_gb = 50
  }"#
        ),
        "disk {",
        &["Unsupported block type"],
    ),
    v(
        "allocation_free_set",
        alloc!("  free = true"),
        "free = true",
        READ_ONLY,
    ),
    v(
        "allocation_sizes_set",
        alloc!("  sizes = {}"),
        "sizes = {}",
        READ_ONLY,
    ),
    // ---- data "freetier_allocation": the free-tier rules, at plan (always_free unless set).
    p(
        "allocation_a1_ocpus_over",
        alloc!(
            r#"
  instance {
    name      = "big"
    shape     = "VM.Standard.A1.Flex"
    ocpus     = 3
    memory_gb = 12
  }"#
        ),
        "ocpus     = 3",
        &[
            "A1 OCPU Allowance Exceeded",
            "3 OCPU",
            "always_free allows 2 OCPU",
            "Over by 1 OCPU",
        ],
    ),
    p(
        "allocation_a1_ocpus_over_across_instances",
        alloc!(
            r#"
  instance {
    name      = "a"
    shape     = "VM.Standard.A1.Flex"
    ocpus     = 1
    memory_gb = 6
  }
  instance {
    name      = "b"
    shape     = "VM.Standard.A1.Flex"
    ocpus     = 2
    memory_gb = 6
  }"#
        ),
        "ocpus     = 2",
        &[
            "A1 OCPU Allowance Exceeded",
            "allows 2 OCPU",
            "Over by 1 OCPU",
            r#"passed at instance "b""#,
        ],
    ),
    p(
        "allocation_a1_memory_over",
        alloc!(
            r#"
  tier = "pay_as_you_go"
  instance {
    name      = "big"
    shape     = "VM.Standard.A1.Flex"
    ocpus     = 4
    memory_gb = 32
  }"#
        ),
        "memory_gb = 32",
        &[
            "A1 Memory Allowance Exceeded",
            "32 GB",
            "pay_as_you_go allows 24 GB",
            "Over by 8 GB",
        ],
    ),
    p(
        "allocation_a1_instances_over",
        alloc!(
            r#"
  instance {
    name      = "many"
    shape     = "VM.Standard.A1.Flex"
    ocpus     = 1
    memory_gb = 6
    count     = 3
  }"#
        ),
        "count     = 3",
        &["Too Many A1 Instances", "3", "allows 2", "Over by 1"],
    ),
    p(
        "allocation_micro_instances_over",
        alloc!(
            r#"
  instance {
    name  = "bastion"
    shape = "VM.Standard.E2.1.Micro"
    count = 3
  }"#
        ),
        "count = 3",
        &["Too Many Micro Instances", "allows 2", "Over by 1"],
    ),
    p(
        "allocation_block_storage_over",
        alloc!(
            r#"
  block_volume {
    name    = "data"
    size_gb = 250
  }"#
        ),
        "size_gb = 250",
        &[
            "Block Storage Allowance Exceeded",
            "250 GB",
            "allows 200 GB",
            "Over by 50 GB",
        ],
    ),
    p(
        "allocation_block_storage_over_with_boot_volumes",
        alloc!(
            r#"
  instance {
    name           = "node"
    shape          = "VM.Standard.A1.Flex"
    ocpus          = 1
    memory_gb      = 6
    boot_volume_gb = 100
  }
  block_volume {
    name    = "data"
    size_gb = 150
  }"#
        ),
        "size_gb = 150",
        &[
            "Block Storage Allowance Exceeded",
            "250 GB",
            "allows 200 GB",
            "Over by 50 GB",
        ],
    ),
    p(
        "allocation_block_storage_over_by_count",
        alloc!(
            r#"
  block_volume {
    name    = "osd"
    size_gb = 60
    count   = 4
  }"#
        ),
        "size_gb = 60",
        &[
            "Block Storage Allowance Exceeded",
            "240 GB",
            "allows 200 GB",
            "Over by 40 GB",
        ],
    ),
    p(
        "allocation_volume_backups_over",
        alloc!("  volume_backups = 6"),
        "volume_backups = 6",
        &["Too Many Volume Backups", "6", "allows 5", "Over by 1"],
    ),
    p(
        "allocation_reserved_ips_over",
        alloc!("  reserved_public_ips = 2"),
        "reserved_public_ips = 2",
        &["Too Many Reserved Public IPs", "allows 1", "Over by 1"],
    ),
    p(
        "allocation_vcns_over",
        alloc!("  vcns = 3"),
        "vcns = 3",
        &["Too Many VCNs", "3 VCNs", "allows 2", "Over by 1"],
    ),
    p(
        "allocation_nat_gateway",
        alloc!("  nat_gateways = 1"),
        "nat_gateways = 1",
        &["NAT Gateway Not Free", "allows 0", "Over by 1"],
    ),
    p(
        "allocation_service_gateways",
        alloc!("  service_gateways = 2"),
        "service_gateways = 2",
        &["Service Gateway Not Free", "allows 0", "Over by 2"],
    ),
    p(
        "allocation_network_load_balancers_over",
        alloc!("  network_load_balancers = 2"),
        "network_load_balancers = 2",
        &["Too Many Network Load Balancers", "allows 1", "Over by 1"],
    ),
    p(
        "allocation_load_balancers_over",
        alloc!(
            r#"
  load_balancer {
    name  = "web"
    count = 2
  }"#
        ),
        "count = 2",
        &["Too Many Load Balancers", "allows 1", "Over by 1"],
    ),
    p(
        "allocation_load_balancer_bandwidth_over",
        alloc!(
            r#"
  load_balancer {
    name               = "web"
    shape              = "flexible"
    min_bandwidth_mbps = 10
    max_bandwidth_mbps = 100
  }"#
        ),
        "max_bandwidth_mbps = 100",
        &[
            "Load Balancer Bandwidth Exceeded",
            "100 Mbps",
            "allows 10 Mbps",
            "Over by 90 Mbps",
        ],
    ),
    p(
        "allocation_load_balancer_shape",
        alloc!(
            r#"
  load_balancer {
    name  = "web"
    shape = "100Mbps"
  }"#
        ),
        r#"shape = "100Mbps""#,
        &["Load Balancer Shape Not Free", "100Mbps"],
    ),
    p(
        "allocation_object_storage_over",
        alloc!(
            r#"
  object_storage {
    name = "backups"
    gb   = 25
  }"#
        ),
        "gb   = 25",
        &[
            "Object Storage Allowance Exceeded",
            "25 GB",
            "allows 20 GB",
            "Over by 5 GB",
        ],
    ),
    p(
        "allocation_object_storage_over_across_buckets",
        alloc!(
            r#"
  object_storage {
    name = "a"
    gb   = 15
  }
  object_storage {
    name = "b"
    gb   = 15
  }"#
        ),
        "gb   = 15",
        &[
            "Object Storage Allowance Exceeded",
            "30 GB",
            "allows 20 GB",
            "Over by 10 GB",
            r#"passed at object storage entry "b""#,
        ],
    ),
    p(
        "allocation_object_storage_over_pay_as_you_go",
        alloc!(
            r#"
  tier = "pay_as_you_go"
  object_storage {
    name = "backups"
    gb   = 15
  }"#
        ),
        "gb   = 15",
        &[
            "Object Storage Allowance Exceeded",
            "pay_as_you_go allows 10 GB",
            "Over by 5 GB",
        ],
    ),
    p(
        "allocation_a1_ocpus_over_pay_as_you_go",
        alloc!(
            r#"
  tier = "pay_as_you_go"
  instance {
    name      = "big"
    shape     = "VM.Standard.A1.Flex"
    ocpus     = 5
    memory_gb = 24
  }"#
        ),
        "ocpus     = 5",
        &[
            "A1 OCPU Allowance Exceeded",
            "pay_as_you_go allows 4 OCPU",
            "Over by 1 OCPU",
        ],
    ),
    p(
        "allocation_a1_ocpus_fractional",
        alloc!(
            r#"
  instance {
    name      = "half"
    shape     = "VM.Standard.A1.Flex"
    ocpus     = 1.5
    memory_gb = 6
  }"#
        ),
        "ocpus     = 1.5",
        &["A1 OCPUs Must Be Whole", "1.5"],
    ),
    p(
        "allocation_a1_ocpus_zero",
        alloc!(
            r#"
  instance {
    name      = "none"
    shape     = "VM.Standard.A1.Flex"
    ocpus     = 0
    memory_gb = 6
  }"#
        ),
        "ocpus     = 0",
        &["Too Few A1 OCPUs", "0 OCPU", "minimum is 1 OCPU"],
    ),
    p(
        "allocation_a1_ocpus_negative",
        alloc!(
            r#"
  instance {
    name      = "minus"
    shape     = "VM.Standard.A1.Flex"
    ocpus     = -2
    memory_gb = 6
  }"#
        ),
        "ocpus     = -2",
        &["Invalid Value", "-2"],
    ),
    p(
        "allocation_a1_ocpus_missing",
        alloc!(
            r#"
  instance {
    name  = "unsized"
    shape = "VM.Standard.A1.Flex"
  }"#
        ),
        "instance {",
        &["Missing Value", "ocpus"],
    ),
    p(
        "allocation_a1_memory_per_ocpu_too_high",
        alloc!(
            r#"
  tier = "pay_as_you_go"
  instance {
    name      = "fat"
    shape     = "VM.Standard.A1.Flex"
    ocpus     = 1
    memory_gb = 65
  }"#
        ),
        "memory_gb = 65",
        &["A1 Memory Per OCPU Out Of Range", "65", "64"],
    ),
    p(
        "allocation_a1_memory_per_ocpu_too_low",
        alloc!(
            r#"
  instance {
    name      = "thin"
    shape     = "VM.Standard.A1.Flex"
    ocpus     = 2
    memory_gb = 1
  }"#
        ),
        "memory_gb = 1",
        &["A1 Memory Per OCPU Out Of Range", "0.5", "1 GB"],
    ),
    p(
        "allocation_shape_not_free",
        alloc!(
            r#"
  instance {
    name  = "x86"
    shape = "VM.Standard.E4.Flex"
    ocpus = 1
  }"#
        ),
        r#"shape = "VM.Standard.E4.Flex""#,
        &["Shape Not Always Free", "VM.Standard.E4.Flex"],
    ),
    p(
        "allocation_shape_wrong_case",
        alloc!(
            r#"
  instance {
    name  = "arm"
    shape = "vm.standard.a1.flex"
    ocpus = 1
  }"#
        ),
        r#"shape = "vm.standard.a1.flex""#,
        &["Shape Not Always Free"],
    ),
    p(
        "allocation_micro_shape_resized",
        alloc!(
            r#"
  instance {
    name  = "bastion"
    shape = "VM.Standard.E2.1.Micro"
    ocpus = 2
  }"#
        ),
        "ocpus = 2",
        &["Micro Shape Is Fixed"],
    ),
    p(
        "allocation_boot_volume_too_small",
        alloc!(
            r#"
  instance {
    name           = "node"
    shape          = "VM.Standard.A1.Flex"
    ocpus          = 1
    memory_gb      = 6
    boot_volume_gb = 30
  }"#
        ),
        "boot_volume_gb = 30",
        &["Boot Volume Too Small", "30 GB", "minimum is 50 GB"],
    ),
    p(
        "allocation_boot_volume_too_large",
        alloc!(
            r#"
  instance {
    name           = "node"
    shape          = "VM.Standard.A1.Flex"
    ocpus          = 1
    memory_gb      = 6
    boot_volume_gb = 40000
  }"#
        ),
        "boot_volume_gb = 40000",
        &["Boot Volume Too Large", "40000", "32768"],
    ),
    p(
        "allocation_block_volume_too_small",
        alloc!(
            r#"
  block_volume {
    name    = "data"
    size_gb = 30
  }"#
        ),
        "size_gb = 30",
        &["Block Volume Too Small", "30 GB", "minimum is 50 GB"],
    ),
    p(
        "allocation_block_volume_too_large",
        alloc!(
            r#"
  tier = "pay_as_you_go"
  block_volume {
    name    = "data"
    size_gb = 40000
  }"#
        ),
        "size_gb = 40000",
        &["Block Volume Too Large", "32768"],
    ),
    p(
        "allocation_custom_image_too_large",
        alloc!(
            r#"
  custom_image {
    name    = "talos"
    size_gb = 25
  }"#
        ),
        "size_gb = 25",
        &["Custom Image Too Large", "25 GB", "20 GB"],
    ),
    v(
        "allocation_budget_alert_threshold_in_words",
        alloc!(
            r#"
  budget_alert {
    name          = "guard"
    threshold_usd = "a cent"
  }"#
        ),
        r#"threshold_usd = "a cent""#,
        WRONG_TYPE,
    ),
    p(
        "allocation_budget_alert_negative",
        alloc!(
            r#"
  budget_alert {
    name          = "guard"
    threshold_usd = -1
  }"#
        ),
        "threshold_usd = -1",
        &["Invalid Value", "-1"],
    ),
    p(
        "allocation_volume_count_negative",
        alloc!(
            r#"
  block_volume {
    name    = "data"
    size_gb = 50
    count   = -1
  }"#
        ),
        "count   = -1",
        &["Invalid Value", "-1"],
    ),
    p(
        "allocation_instance_count_fractional",
        alloc!(
            r#"
  instance {
    name      = "node"
    shape     = "VM.Standard.A1.Flex"
    ocpus     = 1
    memory_gb = 6
    count     = 1.5
  }"#
        ),
        "count     = 1.5",
        &["Invalid Value", "1.5"],
    ),
    p(
        "allocation_volume_size_unreal",
        alloc!(
            r#"
  block_volume {
    name    = "data"
    size_gb = 1e13
  }"#
        ),
        "size_gb = 1e13",
        &["Invalid Value"],
    ),
    p(
        "allocation_vcns_unreal",
        alloc!("  vcns = 1e300"),
        "vcns = 1e300",
        &["Invalid Value"],
    ),
    p(
        "allocation_vcns_negative",
        alloc!("  vcns = -1"),
        "vcns = -1",
        &["Invalid Value", "-1"],
    ),
    p(
        "allocation_vcns_fractional",
        alloc!("  vcns = 1.5"),
        "vcns = 1.5",
        &["Invalid Value", "1.5"],
    ),
    p(
        "allocation_object_storage_negative",
        alloc!(
            r#"
  object_storage {
    name = "backups"
    gb   = -5
  }"#
        ),
        "gb   = -5",
        &["Invalid Value", "-5"],
    ),
    p(
        "allocation_volume_size_fractional",
        alloc!(
            r#"
  block_volume {
    name    = "data"
    size_gb = 50.5
  }"#
        ),
        "size_gb = 50.5",
        &["Invalid Value", "50.5"],
    ),
    p(
        "allocation_a1_thousand_instances",
        alloc!(
            r#"
  instance {
    name      = "fleet"
    shape     = "VM.Standard.A1.Flex"
    ocpus     = 1
    memory_gb = 6
    count     = 1000
  }"#
        ),
        "count     = 1000",
        &[
            "Too Many A1 Instances",
            "1000 A1 instances",
            "allows 2",
            "Over by 998",
        ],
    ),
    // ---- resource "freetier_proxmox_cluster": validation.
    v(
        "cluster_name_too_long",
        one_node!(
            r#"
  name            = "a-cluster-of-sixteen"
  ssh_private_key = "k""#
        ),
        r#"name            = "a-cluster-of-sixteen""#,
        CLUSTER_NAME,
    ),
    v(
        "cluster_name_with_space",
        one_node!(
            r#"
  name            = "my cluster"
  ssh_private_key = "k""#
        ),
        r#""my cluster""#,
        CLUSTER_NAME,
    ),
    v(
        "cluster_name_with_underscore",
        one_node!(
            r#"
  name            = "my_cluster"
  ssh_private_key = "k""#
        ),
        r#""my_cluster""#,
        CLUSTER_NAME,
    ),
    v(
        "cluster_name_empty",
        one_node!(
            r#"
  name            = ""
  ssh_private_key = "k""#
        ),
        r#"name            = """#,
        CLUSTER_NAME,
    ),
    v(
        "cluster_name_not_ascii",
        one_node!(
            r#"
  name            = "clüster"
  ssh_private_key = "k""#
        ),
        r#""clüster""#,
        CLUSTER_NAME,
    ),
    v(
        "cluster_name_with_dot",
        one_node!(
            r#"
  name            = "pve.lab"
  ssh_private_key = "k""#
        ),
        r#""pve.lab""#,
        CLUSTER_NAME,
    ),
    v(
        "cluster_destroy_mode_delete",
        one_node!(
            r#"
  name            = "lab"
  ssh_private_key = "k"
  destroy_mode    = "delete""#
        ),
        r#"destroy_mode    = "delete""#,
        &["Unsupported Destroy Mode", r#""forget""#],
    ),
    v(
        "cluster_destroy_mode_capitalised",
        one_node!(
            r#"
  name            = "lab"
  ssh_private_key = "k"
  destroy_mode    = "Forget""#
        ),
        r#""Forget""#,
        &["Unsupported Destroy Mode"],
    ),
    v(
        "cluster_destroy_mode_empty",
        one_node!(
            r#"
  name            = "lab"
  ssh_private_key = "k"
  destroy_mode    = """#
        ),
        r#"destroy_mode    = """#,
        &["Unsupported Destroy Mode"],
    ),
    v(
        "cluster_duplicate_node_name",
        cluster!(
            named!(),
            concat!(node!("pve-1", "10.0.1.10"), node!("pve-1", "10.0.1.11"))
        ),
        r#"name    = "pve-1""#,
        &["Duplicate Node", "node name 'pve-1' appears twice"],
    ),
    v(
        "cluster_duplicate_node_address",
        cluster!(
            named!(),
            concat!(node!("pve-1", "10.0.1.10"), node!("pve-2", "10.0.1.10"))
        ),
        r#"address = "10.0.1.10""#,
        &["Duplicate Node", "node address '10.0.1.10' appears twice"],
    ),
    v(
        "cluster_duplicate_third_node",
        cluster!(
            named!(),
            concat!(
                node!("pve-1", "10.0.1.10"),
                node!("pve-2", "10.0.1.11"),
                node!("pve-1", "10.0.1.12")
            )
        ),
        r#"name    = "pve-1""#,
        &["Duplicate Node", "'pve-1'"],
    ),
    v(
        "cluster_timeout_in_words",
        cluster!(
            named!(),
            concat!(
                node!("pve-1", "10.0.1.10"),
                r#"
  timeouts {
    create = "5 minutes"
  }
"#
            )
        ),
        r#"create = "5 minutes""#,
        DURATION,
    ),
    v(
        "cluster_timeout_without_unit",
        cluster!(
            named!(),
            concat!(
                node!("pve-1", "10.0.1.10"),
                r#"
  timeouts {
    update = "10"
  }
"#
            )
        ),
        r#"update = "10""#,
        DURATION,
    ),
    v(
        "cluster_timeout_empty",
        cluster!(
            named!(),
            concat!(
                node!("pve-1", "10.0.1.10"),
                r#"
  timeouts {
    delete = ""
  }
"#
            )
        ),
        r#"delete = """#,
        DURATION,
    ),
    v(
        "cluster_timeout_in_days",
        cluster!(
            named!(),
            concat!(
                node!("pve-1", "10.0.1.10"),
                r#"
  timeouts {
    create = "1d"
  }
"#
            )
        ),
        r#"create = "1d""#,
        DURATION,
    ),
    v(
        "cluster_timeout_negative",
        cluster!(
            named!(),
            concat!(
                node!("pve-1", "10.0.1.10"),
                r#"
  timeouts {
    create = "-5m"
  }
"#
            )
        ),
        r#"create = "-5m""#,
        DURATION,
    ),
    v(
        "cluster_timeout_trailing_number",
        cluster!(
            named!(),
            concat!(
                node!("pve-1", "10.0.1.10"),
                r#"
  timeouts {
    update = "1h30"
  }
"#
            )
        ),
        r#"update = "1h30""#,
        DURATION,
    ),
    v(
        "cluster_timeout_two_dots",
        cluster!(
            named!(),
            concat!(
                node!("pve-1", "10.0.1.10"),
                r#"
  timeouts {
    create = "1.2.3m"
  }
"#
            )
        ),
        r#"create = "1.2.3m""#,
        DURATION,
    ),
    v(
        "cluster_ceph_network_without_prefix",
        cluster!(
            named!(),
            concat!(
                node!("pve-1", "10.0.1.10"),
                r#"
  ceph {
    public_network = "10.0.1.0"
  }
"#
            )
        ),
        r#"public_network = "10.0.1.0""#,
        NETWORK,
    ),
    v(
        "cluster_ceph_network_prefix_too_long",
        cluster!(
            named!(),
            concat!(
                node!("pve-1", "10.0.1.10"),
                r#"
  ceph {
    public_network = "10.0.1.0/33"
  }
"#
            )
        ),
        r#"public_network = "10.0.1.0/33""#,
        NETWORK,
    ),
    v(
        "cluster_ceph_network_ipv6",
        cluster!(
            named!(),
            concat!(
                node!("pve-1", "10.0.1.10"),
                r#"
  ceph {
    public_network = "fd00::/64"
  }
"#
            )
        ),
        r#"public_network = "fd00::/64""#,
        NETWORK,
    ),
    v(
        "cluster_ceph_network_hostname",
        cluster!(
            named!(),
            concat!(
                node!("pve-1", "10.0.1.10"),
                r#"
  ceph {
    public_network = "ceph.lan/24"
  }
"#
            )
        ),
        r#"public_network = "ceph.lan/24""#,
        NETWORK,
    ),
    v(
        "cluster_ceph_network_octet_too_big",
        cluster!(
            named!(),
            concat!(
                node!("pve-1", "10.0.1.10"),
                r#"
  ceph {
    public_network = "10.0.1.256/24"
  }
"#
            )
        ),
        r#"public_network = "10.0.1.256/24""#,
        NETWORK,
    ),
    v(
        "cluster_ceph_network_negative_prefix",
        cluster!(
            named!(),
            concat!(
                node!("pve-1", "10.0.1.10"),
                r#"
  ceph {
    public_network = "10.0.1.0/-8"
  }
"#
            )
        ),
        r#"public_network = "10.0.1.0/-8""#,
        NETWORK,
    ),
    v(
        "cluster_ssh_port_out_of_range",
        cluster!(named!(), node!("pve-1", "10.0.1.10", "ssh_port = 70000")),
        "ssh_port = 70000",
        &["Invalid Number", "70000 is not a TCP port", "1 to 65535"],
    ),
    v(
        "cluster_ssh_port_zero",
        cluster!(named!(), node!("pve-1", "10.0.1.10", "ssh_port = 0")),
        "ssh_port = 0",
        &["Invalid Number", "0 is not a TCP port"],
    ),
    v(
        "cluster_ssh_port_fractional",
        cluster!(named!(), node!("pve-1", "10.0.1.10", "ssh_port = 22.5")),
        "ssh_port = 22.5",
        &["Invalid Number", "22.5 is not a TCP port"],
    ),
    v(
        "cluster_qdevice_port_negative",
        cluster!(
            named!(),
            concat!(
                node!("pve-1", "10.0.1.10"),
                r#"
  qdevice {
    address  = "10.0.1.2"
    ssh_port = -22
  }
"#
            )
        ),
        "ssh_port = -22",
        &["Invalid Number", "-22 is not a TCP port"],
    ),
    v(
        "cluster_osd_gb_fractional",
        cluster!(
            named!(),
            concat!(node!("pve-1", "10.0.1.10", "osd_gb = 4.5"), ceph!())
        ),
        "osd_gb = 4.5",
        &["Invalid Number", "4.5 is not a size in GB"],
    ),
    v(
        "cluster_ssh_port_in_words",
        cluster!(
            named!(),
            node!("pve-1", "10.0.1.10", r#"ssh_port = "twenty-two""#)
        ),
        r#"ssh_port = "twenty-two""#,
        WRONG_TYPE,
    ),
    v(
        "cluster_trust_on_first_use_maybe",
        one_node!(
            r#"
  name               = "lab"
  ssh_private_key    = "k"
  trust_on_first_use = "maybe""#
        ),
        r#"trust_on_first_use = "maybe""#,
        WRONG_TYPE,
    ),
    v(
        "cluster_accepted_warnings_string",
        cluster!(
            named!(),
            concat!(
                node!("pve-1", "10.0.1.10"),
                r#"
  ceph {
    public_network    = "10.0.1.0/24"
    accepted_warnings = "POOL_NO_REDUNDANCY"
  }
"#
            )
        ),
        r#"accepted_warnings = "POOL_NO_REDUNDANCY""#,
        WRONG_TYPE,
    ),
    v(
        "cluster_without_name",
        one_node!(r#"  ssh_private_key = "k""#),
        r#""CASE" {"#,
        &["Missing required argument", r#""name""#],
    ),
    v(
        "cluster_without_key",
        one_node!(r#"  name = "lab""#),
        r#""CASE" {"#,
        &["Missing required argument", r#""ssh_private_key""#],
    ),
    v(
        "cluster_without_nodes",
        cluster!(named!(), ""),
        r#""CASE" {"#,
        &["Insufficient node blocks"],
    ),
    v(
        "cluster_node_without_address",
        cluster!(
            named!(),
            r#"
  node {
    name = "pve-1"
  }
"#
        ),
        "node {",
        &["Missing required argument", r#""address""#],
    ),
    v(
        "cluster_ceph_without_network",
        cluster!(
            named!(),
            concat!(
                node!("pve-1", "10.0.1.10"),
                r#"
  ceph {
    pool = "vm"
  }
"#
            )
        ),
        "ceph {",
        &["Missing required argument", r#""public_network""#],
    ),
    v(
        "cluster_two_ceph_blocks",
        cluster!(
            named!(),
            concat!(node!("pve-1", "10.0.1.10"), ceph!(), ceph!())
        ),
        "ceph {",
        &["Duplicate ceph block"],
    ),
    v(
        "cluster_api_url_set",
        one_node!(
            r#"
  name            = "lab"
  ssh_private_key = "k"
  api_url         = "https://10.0.1.10:8006""#
        ),
        "api_url",
        READ_ONLY,
    ),
    v(
        "cluster_unknown_argument",
        one_node!(
            r#"
  name            = "lab"
  ssh_private_key = "k"
  password        = "hunter2""#
        ),
        "password",
        UNSUPPORTED,
    ),
    // ---- resource "freetier_proxmox_cluster": plan-time rules.
    p(
        "cluster_two_nodes_without_qdevice",
        cluster!(
            named!(),
            concat!(node!("pve-1", "10.0.1.10"), node!("pve-2", "10.0.1.11"))
        ),
        r#"resource "freetier_proxmox_cluster""#,
        &[
            "Cluster Cannot Keep Quorum",
            "2 nodes give 2 votes and quorum needs 2",
        ],
    ),
    p(
        "cluster_four_nodes_without_qdevice",
        cluster!(
            named!(),
            concat!(
                node!("pve-1", "10.0.1.10"),
                node!("pve-2", "10.0.1.11"),
                node!("pve-3", "10.0.1.12"),
                node!("pve-4", "10.0.1.13")
            )
        ),
        r#"resource "freetier_proxmox_cluster""#,
        &[
            "Cluster Cannot Keep Quorum",
            "4 nodes give 4 votes and quorum needs 3",
        ],
    ),
    p(
        "cluster_osd_too_small",
        cluster!(
            named!(),
            concat!(node!("pve-1", "10.0.1.10", "osd_gb = 3"), ceph!())
        ),
        "osd_gb = 3",
        &["OSD Does Not Fit", "3 GB", "at least 5 GB"],
    ),
    p(
        "cluster_osd_zero_on_second_node",
        cluster!(
            named!(),
            concat!(
                node!("pve-1", "10.0.1.10", "osd_gb = 50"),
                node!("pve-2", "10.0.1.11", "osd_gb = 0"),
                node!("pve-3", "10.0.1.12", "osd_gb = 50"),
                ceph!()
            )
        ),
        "osd_gb = 0",
        &["OSD Does Not Fit", "node 1 has 0 GB", "at least 5 GB"],
    ),
    v(
        "cluster_osd_negative",
        cluster!(
            named!(),
            concat!(node!("pve-1", "10.0.1.10", "osd_gb = -1"), ceph!())
        ),
        "osd_gb = -1",
        &["Invalid Number", "-1 is not a size in GB"],
    ),
    // ---- resource "freetier_age_key".
    v(
        "age_key_keepers_string",
        r#"
resource "freetier_age_key" "CASE" {
  keepers = "rotation-1"
}
"#,
        r#"keepers = "rotation-1""#,
        WRONG_TYPE,
    ),
    v(
        "age_key_keepers_list",
        r#"
resource "freetier_age_key" "CASE" {
  keepers = ["1"]
}
"#,
        r#"keepers = ["1"]"#,
        WRONG_TYPE,
    ),
    v(
        "age_key_keepers_nested",
        r#"
resource "freetier_age_key" "CASE" {
  keepers = { rotation = { n = 1 } }
}
"#,
        "keepers = {",
        WRONG_TYPE,
    ),
    v(
        "age_key_public_key_set",
        r#"
resource "freetier_age_key" "CASE" {
  public_key = "age1qqqq"
}
"#,
        r#"public_key = "age1qqqq""#,
        READ_ONLY,
    ),
    v(
        "age_key_private_key_set",
        r#"
resource "freetier_age_key" "CASE" {
  private_key = "AGE-SECRET-KEY-1QQQQ"
}
"#,
        "private_key =",
        READ_ONLY,
    ),
    v(
        "age_key_id_set",
        r#"
resource "freetier_age_key" "CASE" {
  id = "age1qqqq"
}
"#,
        r#"id = "age1qqqq""#,
        READ_ONLY,
    ),
    v(
        "age_key_unknown_argument",
        r#"
resource "freetier_age_key" "CASE" {
  bits = 4096
}
"#,
        "bits = 4096",
        UNSUPPORTED,
    ),
    v(
        "age_key_keepers_as_block",
        r#"
resource "freetier_age_key" "CASE" {
  keepers {
    rotation = "1"
  }
}
"#,
        "keepers {",
        &["Unsupported block type"],
    ),
    // ---- resource "freetier_ssh_host_key".
    v(
        "ssh_host_key_keepers_string",
        r#"
resource "freetier_ssh_host_key" "CASE" {
  keepers = "rebuilt-1"
}
"#,
        r#"keepers = "rebuilt-1""#,
        WRONG_TYPE,
    ),
    v(
        "ssh_host_key_comment_list",
        r#"
resource "freetier_ssh_host_key" "CASE" {
  comment = ["ampere-1"]
}
"#,
        r#"comment = ["ampere-1"]"#,
        WRONG_TYPE,
    ),
    v(
        "ssh_host_key_private_key_set",
        r#"
resource "freetier_ssh_host_key" "CASE" {
  private_key_openssh = "-----BEGIN OPENSSH PRIVATE KEY-----"
}
"#,
        "private_key_openssh =",
        READ_ONLY,
    ),
    v(
        "ssh_host_key_public_key_set",
        r#"
resource "freetier_ssh_host_key" "CASE" {
  public_key_openssh = "ssh-ed25519 AAAA"
}
"#,
        "public_key_openssh =",
        READ_ONLY,
    ),
    v(
        "ssh_host_key_fingerprint_set",
        r#"
resource "freetier_ssh_host_key" "CASE" {
  fingerprint_sha256 = "SHA256:x"
}
"#,
        "fingerprint_sha256 =",
        READ_ONLY,
    ),
    v(
        "ssh_host_key_unknown_argument",
        r#"
resource "freetier_ssh_host_key" "CASE" {
  algorithm = "rsa"
}
"#,
        r#"algorithm = "rsa""#,
        UNSUPPORTED,
    ),
    // ---- resource "freetier_talos_secrets".
    v(
        "talos_secrets_keepers_string",
        r#"
resource "freetier_talos_secrets" "CASE" {
  keepers = "rotation-1"
}
"#,
        r#"keepers = "rotation-1""#,
        WRONG_TYPE,
    ),
    v(
        "talos_secrets_keepers_list",
        r#"
resource "freetier_talos_secrets" "CASE" {
  keepers = ["1"]
}
"#,
        r#"keepers = ["1"]"#,
        WRONG_TYPE,
    ),
    v(
        "talos_secrets_keepers_nested",
        r#"
resource "freetier_talos_secrets" "CASE" {
  keepers = { rotation = { n = 1 } }
}
"#,
        "keepers = {",
        WRONG_TYPE,
    ),
    v(
        "talos_secrets_keepers_as_block",
        r#"
resource "freetier_talos_secrets" "CASE" {
  keepers {
    rotation = "1"
  }
}
"#,
        "keepers {",
        &["Unsupported block type"],
    ),
    v(
        "talos_secrets_keeper_null",
        r#"
resource "freetier_talos_secrets" "CASE" {
  keepers = { rotation = null }
}
"#,
        "keepers = { rotation = null }",
        &[
            "Invalid Keeper",
            "keepers[\"rotation\"] is null",
            "give it a string",
        ],
    ),
    v(
        "talos_secrets_machine_secrets_set",
        r#"
resource "freetier_talos_secrets" "CASE" {
  machine_secrets = "cluster: {}"
}
"#,
        "machine_secrets =",
        READ_ONLY,
    ),
    v(
        "talos_secrets_id_set",
        r#"
resource "freetier_talos_secrets" "CASE" {
  id = "0123456789abcdef"
}
"#,
        r#"id = "0123456789abcdef""#,
        READ_ONLY,
    ),
    v(
        "talos_secrets_unknown_argument",
        r#"
resource "freetier_talos_secrets" "CASE" {
  talos_version = "v1.13.9"
}
"#,
        r#"talos_version = "v1.13.9""#,
        UNSUPPORTED,
    ),
    // ---- resource "freetier_talos_cluster".
    v(
        "talos_name_upper_case",
        r#"
resource "freetier_talos_cluster" "CASE" {
  name      = "Lab"
  placement = "instances"
  node {
    name    = "cp-1"
    address = "10.0.1.20"
  }
}
"#,
        r#"name      = "Lab""#,
        &[r#"Invalid Cluster Name"#, r#"1 to 40 lowercase letters"#],
    ),
    v(
        "talos_placement_unknown",
        r#"
resource "freetier_talos_cluster" "CASE" {
  name      = "lab"
  placement = "cloud"
  node {
    name    = "cp-1"
    address = "10.0.1.20"
  }
}
"#,
        r#"placement = "cloud""#,
        &[r#"Invalid Placement"#, r#"placement 'cloud'"#],
    ),
    v(
        "talos_proxmox_placement_without_block",
        r#"
resource "freetier_talos_cluster" "CASE" {
  name = "lab"
  node {
    name    = "cp-1"
    address = "10.0.1.20"
    host    = "pve-1"
  }
}
"#,
        r#"resource "freetier_talos_cluster""#,
        &[r#"Missing Proxmox Block"#],
    ),
    v(
        "talos_pod_cidr_prefix_too_long",
        r#"
resource "freetier_talos_cluster" "CASE" {
  name      = "lab"
  placement = "instances"
  pod_cidr  = "10.244.0.0/33"
  node {
    name    = "cp-1"
    address = "10.0.1.20"
  }
}
"#,
        r#"pod_cidr  = "10.244.0.0/33""#,
        &[r#"Invalid Network"#, r#"10.244.0.0/33"#],
    ),
    v(
        "talos_service_cidr_inside_pods",
        r#"
resource "freetier_talos_cluster" "CASE" {
  name      = "lab"
  placement = "instances"
  pod_cidr     = "10.244.0.0/16"
  service_cidr = "10.244.1.0/24"
  node {
    name    = "cp-1"
    address = "10.0.1.20"
  }
}
"#,
        r#"service_cidr = "10.244.1.0/24""#,
        &[r#"Overlapping Networks"#, r#"overlaps pod_cidr"#],
    ),
    v(
        "talos_node_address_not_ip",
        r#"
resource "freetier_talos_cluster" "CASE" {
  name      = "lab"
  placement = "instances"
  node {
    name    = "cp-1"
    address = "cp-1.lan"
  }
}
"#,
        r#"address = "cp-1.lan""#,
        &[r#"Invalid Address"#, r#"'cp-1.lan' is not an IPv4 address"#],
    ),
    v(
        "talos_node_outside_network",
        r#"
resource "freetier_talos_cluster" "CASE" {
  name      = "lab"
  placement = "instances"
  node {
    name    = "cp-1"
    address = "10.0.1.20"
  }
  network {
    cidr = "10.0.2.0/24"
  }
}
"#,
        r#"address = "10.0.1.20""#,
        &[
            r#"Address Outside Network"#,
            r#"10.0.1.20 is outside network.cidr 10.0.2.0/24"#,
        ],
    ),
    v(
        "talos_node_memory_too_small",
        r#"
resource "freetier_talos_cluster" "CASE" {
  name      = "lab"
  placement = "instances"
  node {
    name      = "cp-1"
    address   = "10.0.1.20"
    memory_mb = 1024
  }
}
"#,
        r#"memory_mb = 1024"#,
        &[
            r#"Too Little Memory"#,
            r#"1024 MiB"#,
            r#"at least 2048 MiB"#,
        ],
    ),
    v(
        "talos_duplicate_node_name",
        r#"
resource "freetier_talos_cluster" "CASE" {
  name      = "lab"
  placement = "instances"
  node {
    name    = "cp-1"
    address = "10.0.1.20"
  }
  node {
    name    = "cp-1"
    address = "10.0.1.21"
  }
}
"#,
        r#"name    = "cp-1""#,
        &[r#"Duplicate Node"#, r#"node name 'cp-1' appears twice"#],
    ),
    v(
        "talos_kubeconfig_set",
        r#"
resource "freetier_talos_cluster" "CASE" {
  name      = "lab"
  placement = "instances"
  kubeconfig = "apiVersion: v1"
  node {
    name    = "cp-1"
    address = "10.0.1.20"
  }
}
"#,
        r#"kubeconfig = "apiVersion: v1""#,
        &[r#"Invalid Configuration for Read-Only Attribute"#],
    ),
    // ---- import blocks: Terraform reports import errors without a source location.
    import!(
        "import_age_key_secret_in_id",
        "freetier_age_key.CASE",
        "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQY",
        age_key!(),
        &["Cannot Import Age Key", "holds a secret key"],
        &["QYQSZQGPQYQSZQGP"]
    ),
    import!(
        "import_age_key_lower_case_secret",
        "freetier_age_key.CASE",
        "age-secret-key-1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqy",
        age_key!(),
        &["Cannot Import Age Key", "holds a secret key"],
        &["qyqszqgpqyqszqgp"]
    ),
    import!(
        "import_age_key_unset_variable",
        "freetier_age_key.CASE",
        "env:FREETIER_BAD_INPUT_SURELY_UNSET",
        age_key!(),
        &[
            "Cannot Import Age Key",
            "FREETIER_BAD_INPUT_SURELY_UNSET is not set"
        ],
        &[]
    ),
    import!(
        "import_age_key_bad_variable_name",
        "freetier_age_key.CASE",
        "env:1-not-a-name",
        age_key!(),
        &["Cannot Import Age Key", "not an environment variable name"],
        &[]
    ),
    import!(
        "import_age_key_missing_file",
        "freetier_age_key.CASE",
        "/nonexistent/freetier/keys.txt",
        age_key!(),
        &[
            "Cannot Import Age Key",
            "read /nonexistent/freetier/keys.txt"
        ],
        &[]
    ),
    import!(
        "import_age_key_keeper_without_value",
        "freetier_age_key.CASE",
        "env:SOPS_AGE_KEY?rotation",
        age_key!(),
        &["Cannot Import Age Key", "pair 1 has no ="],
        &[]
    ),
    import!(
        "import_age_key_keeper_bad_escape",
        "freetier_age_key.CASE",
        "env:SOPS_AGE_KEY?rotation=%zz",
        age_key!(),
        &["Cannot Import Age Key", "two hex digits"],
        &[]
    ),
    import!(
        "import_talos_secrets_key_in_id",
        "freetier_talos_secrets.CASE",
        "-----BEGIN ED25519 PRIVATE KEY-----MC4CAQAwBQYDK2VwBCIEIPrivateBytes",
        talos_secrets!(),
        &[
            "Invalid Import ID",
            "holds key material",
            "give the path of the secrets file"
        ],
        &["MC4CAQAwBQYDK2VwBCIEIPrivateBytes"]
    ),
    import!(
        "import_talos_secrets_missing_file",
        "freetier_talos_secrets.CASE",
        "/nonexistent/freetier/secrets.yaml",
        talos_secrets!(),
        &[
            "Cannot Import Talos Secrets",
            "cannot read /nonexistent/freetier/secrets.yaml",
            "the path of a talosctl secrets file"
        ],
        &[]
    ),
    import!(
        "import_talos_secrets_not_a_bundle",
        "freetier_talos_secrets.CASE",
        "/dev/null",
        talos_secrets!(),
        &[
            "Cannot Import Talos Secrets",
            "/dev/null is not a talosctl secrets bundle",
            "talosctl gen secrets"
        ],
        &[]
    ),
    import!(
        "import_cluster_without_address",
        "freetier_proxmox_cluster.CASE",
        "lab",
        cluster!(named!(), node!("pve-1", "10.0.1.10")),
        &["Invalid Import ID", "NAME@FIRST_NODE_ADDRESS"],
        &[]
    ),
    import!(
        "import_cluster_without_name",
        "freetier_proxmox_cluster.CASE",
        "@10.0.1.10",
        cluster!(named!(), node!("pve-1", "10.0.1.10")),
        &["Invalid Import ID", "NAME@FIRST_NODE_ADDRESS"],
        &[]
    ),
    import!(
        "import_cluster_private_key_as_id",
        "freetier_proxmox_cluster.CASE",
        "-----BEGIN OPENSSH PRIVATE KEY-----b3BlbnNzaC1rZXktdjEAAAAABG5vbmU",
        cluster!(named!(), node!("pve-1", "10.0.1.10")),
        &["Invalid Import ID", "(not shown)"],
        &["b3BlbnNzaC1rZXktdjEAAAAABG5vbmU"]
    ),
    // ---- provider::freetier::ampere_layout(tier, nodes).
    v(
        "layout_tier_unknown",
        call!(r#"provider::freetier::ampere_layout("gold", 1)"#),
        r#"ampere_layout("gold", 1)"#,
        &[
            r#"Invalid value for "tier" parameter"#,
            r#"unknown tier "gold""#,
        ],
    ),
    v(
        "layout_no_nodes",
        call!(r#"provider::freetier::ampere_layout("always_free", 0)"#),
        r#"ampere_layout("always_free", 0)"#,
        &[
            r#"Invalid value for "nodes" parameter"#,
            "at least one A1 node",
        ],
    ),
    v(
        "layout_more_nodes_than_ocpus",
        call!(r#"provider::freetier::ampere_layout("always_free", 3)"#),
        r#"ampere_layout("always_free", 3)"#,
        &[
            r#"Invalid value for "nodes" parameter"#,
            "always_free allows 2 OCPU in total, so at most 2 A1 nodes, not 3",
        ],
    ),
    v(
        "layout_more_nodes_than_ocpus_pay_as_you_go",
        call!(r#"provider::freetier::ampere_layout("pay_as_you_go", 5)"#),
        r#"ampere_layout("pay_as_you_go", 5)"#,
        &[
            r#"Invalid value for "nodes" parameter"#,
            "pay_as_you_go allows 4 OCPU in total, so at most 4 A1 nodes, not 5",
        ],
    ),
    v(
        "layout_fractional_nodes",
        call!(r#"provider::freetier::ampere_layout("always_free", 1.5)"#),
        "1.5)",
        &[
            r#"Invalid value for "nodes" parameter"#,
            "whole number of at least 1, not 1.5",
        ],
    ),
    v(
        "layout_negative_nodes",
        call!(r#"provider::freetier::ampere_layout("always_free", -1)"#),
        "-1)",
        &[r#"Invalid value for "nodes" parameter"#, "not -1"],
    ),
    v(
        "layout_nodes_beyond_u32",
        call!(r#"provider::freetier::ampere_layout("always_free", 1e10)"#),
        "1e10)",
        &[r#"Invalid value for "nodes" parameter"#, "not 10000000000"],
    ),
    v(
        "layout_nodes_in_words",
        call!(r#"provider::freetier::ampere_layout("always_free", "two")"#),
        r#""two")"#,
        &["Invalid function argument", "number is required"],
    ),
    v(
        "layout_null_tier",
        call!("provider::freetier::ampere_layout(null, 1)"),
        "null, 1)",
        &["Invalid function argument", "null"],
    ),
    v(
        "layout_null_nodes",
        call!(r#"provider::freetier::ampere_layout("always_free", null)"#),
        "null)",
        &["Invalid function argument", "null"],
    ),
    v(
        "layout_too_many_arguments",
        call!(r#"provider::freetier::ampere_layout("always_free", 1, 2)"#),
        "1, 2)",
        &["Too many function arguments"],
    ),
    v(
        "layout_too_few_arguments",
        call!(r#"provider::freetier::ampere_layout("always_free")"#),
        r#"ampere_layout("always_free")"#,
        &["Not enough function arguments"],
    ),
    // ---- provider::freetier::violations(tier, allocation).
    v(
        "violations_tier_unknown",
        call!(r#"provider::freetier::violations("gold", {})"#),
        r#"violations("gold", {})"#,
        &[
            r#"Invalid value for "tier" parameter"#,
            r#"unknown tier "gold""#,
        ],
    ),
    v(
        "violations_allocation_string",
        call!(r#"provider::freetier::violations("always_free", "two instances")"#),
        r#""two instances")"#,
        &[
            r#"Invalid value for "allocation" parameter"#,
            "allocation must be an object",
        ],
    ),
    v(
        "violations_allocation_list",
        call!(r#"provider::freetier::violations("always_free", [1, 2])"#),
        "[1, 2])",
        &[
            r#"Invalid value for "allocation" parameter"#,
            "allocation must be an object",
        ],
    ),
    v(
        "violations_allocation_number",
        call!(r#"provider::freetier::violations("always_free", 3)"#),
        "3)",
        &[
            r#"Invalid value for "allocation" parameter"#,
            "allocation must be an object",
        ],
    ),
    v(
        "violations_allocation_bool",
        call!(r#"provider::freetier::violations("always_free", true)"#),
        "true)",
        &[
            r#"Invalid value for "allocation" parameter"#,
            "allocation must be an object",
        ],
    ),
    v(
        "violations_allocation_null",
        call!(r#"provider::freetier::violations("always_free", null)"#),
        "null)",
        &["Invalid function argument", "null"],
    ),
    v(
        "violations_tier_number",
        call!("provider::freetier::violations(7, {})"),
        "violations(7, {})",
        &[
            r#"Invalid value for "tier" parameter"#,
            r#"unknown tier "7""#,
        ],
    ),
];

/// The root module every batch shares.
const TERRAFORM_BLOCK: &str = r#"terraform {
  required_providers {
    freetier = { source = "freetier/freetier" }
  }
}
"#;

/// One diagnostic as `-json` gives it.
#[derive(Debug, Clone)]
struct Diag {
    severity: String,
    summary: String,
    detail: String,
    file: Option<String>,
    line: u64,
    column: u64,
    code: String,
    highlighted: String,
}

impl Diag {
    fn from_json(d: &Json) -> Diag {
        let code = d["snippet"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (hs, he) = (
            d["snippet"]["highlight_start_offset"].as_u64().unwrap_or(0) as usize,
            d["snippet"]["highlight_end_offset"].as_u64().unwrap_or(0) as usize,
        );
        Diag {
            severity: d["severity"].as_str().unwrap_or_default().to_string(),
            summary: d["summary"].as_str().unwrap_or_default().to_string(),
            detail: d["detail"].as_str().unwrap_or_default().to_string(),
            file: d["range"]["filename"].as_str().map(str::to_string),
            line: d["range"]["start"]["line"].as_u64().unwrap_or(0),
            column: d["range"]["start"]["column"].as_u64().unwrap_or(0),
            highlighted: code.get(hs..he).unwrap_or_default().to_string(),
            code,
        }
    }

    /// Whether the core placed the diagnostic at an attribute (or a function argument), as
    /// it does only for a diagnostic with an attribute path (or an argument index). Without
    /// one, a resource's diagnostic covers the block's declaration from column 1, and a
    /// function's the whole call.
    fn has_attribute_path(&self) -> bool {
        if self.file.is_none() {
            return false;
        }
        if self.code.contains("provider::") {
            return !self.highlighted.starts_with("provider::");
        }
        self.column > 1
    }

    /// The diagnostic as Terraform prints it, for failure messages.
    fn render(&self) -> String {
        match &self.file {
            Some(f) => format!(
                "{}: {}\n  on {f} line {}:\n  {}: {}\n  {}",
                self.severity, self.summary, self.line, self.line, self.code, self.detail
            ),
            None => format!("{}: {}\n  {}", self.severity, self.summary, self.detail),
        }
    }
}

/// Diagnostics from `validate -json` (one document) or `plan -json` (one event a line).
fn diagnostics(run: &Run) -> Vec<Diag> {
    if let Ok(doc) = serde_json::from_str::<Json>(&run.stdout) {
        if let Some(list) = doc["diagnostics"].as_array() {
            return list.iter().map(Diag::from_json).collect();
        }
    }
    run.stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .filter(|e| e["type"] == "diagnostic")
        .map(|e| Diag::from_json(&e["diagnostic"]))
        .collect()
}

/// What one batch gave: every diagnostic, and the core's and the provider's output.
struct Outcome {
    diags: Vec<Diag>,
    text: String,
    provider_log: String,
}

/// Runs `cases` in one directory: init, then `validate -json` or `plan -json`, with the
/// provider's log (its stderr included) kept for the panic check.
fn run_batch(core: &Core, phase: Phase, cases: &[&Case]) -> Outcome {
    let wd = Workdir::new(core, true, TERRAFORM_BLOCK);
    for c in cases {
        wd.write(&format!("{}.tf", c.name), &c.hcl.replace("CASE", c.name));
    }
    let init = wd.init();
    assert_eq!(init.code, 0, "init failed:\n{}", init.text());
    let log = wd.path().join("provider.log");
    let env = [
        ("TF_LOG_PROVIDER".to_string(), "debug".to_string()),
        ("TF_LOG_PATH".to_string(), log.display().to_string()),
    ];
    let args: &[&str] = match phase {
        Phase::Provider | Phase::Validate => &["validate", "-json", "-no-color"],
        Phase::Plan => &["plan", "-json", "-no-color", "-input=false"],
    };
    let run = wd.run_with_env(wd.path(), args, &env);
    Outcome {
        diags: diagnostics(&run),
        text: run.text(),
        provider_log: std::fs::read_to_string(&log).unwrap_or_default(),
    }
}

/// What a crashed provider makes the core print.
const CORE_CRASH_SIGNS: &[&str] = &[
    "panicked",
    "panic: ",
    "plugin exited",
    "crashed",
    "Plugin did not respond",
    "The plugin encountered an error",
];

/// What a panic leaves in the provider's stderr, which the core logs line by line.
const PROVIDER_PANIC_SIGNS: &[&str] = &["panicked", "panic: "];

/// The first sign of a crash in the core's output or the provider's log: a panic message, or
/// the plugin process ending with an error (`plugin exited` alone is its normal shutdown).
fn crash_sign(core_output: &str, provider_log: &str) -> Option<String> {
    let excerpt = |text: &str, at: usize| {
        let end = (at + 400).min(text.len());
        text.get(at..end).unwrap_or_default().to_string()
    };
    for sign in CORE_CRASH_SIGNS {
        if let Some(at) = core_output.find(sign) {
            return Some(format!(
                "the core printed {sign:?}: {}",
                excerpt(core_output, at)
            ));
        }
    }
    for sign in PROVIDER_PANIC_SIGNS {
        if let Some(at) = provider_log.find(sign) {
            return Some(format!(
                "the provider wrote {sign:?}: {}",
                excerpt(provider_log, at)
            ));
        }
    }
    provider_log
        .lines()
        .find(|l| l.contains("plugin process exited") && l.contains("error="))
        .map(|l| format!("the provider exited with an error: {l}"))
}

/// The resources, data sources and functions the provider offers that no case uses. Reported
/// rather than failed: a resource that lands gets its cases with it.
fn without_a_case() -> Vec<String> {
    use freetier::framework::Provider;
    let p = freetier::provider::FreetierProvider;
    let mut wanted: Vec<(String, String)> = Vec::new();
    for r in p.resources() {
        let t = r.type_name();
        wanted.push((t.to_string(), format!("resource \"{t}\"")));
    }
    for d in p.data_sources() {
        let t = d.type_name();
        wanted.push((format!("data.{t}"), format!("data \"{t}\"")));
    }
    for f in p.functions() {
        let n = f.name();
        wanted.push((format!("{n}()"), format!("provider::freetier::{n}(")));
    }
    wanted
        .into_iter()
        .filter(|(_, needle)| !CASES.iter().any(|c| c.hcl.contains(needle.as_str())))
        .map(|(name, _)| name)
        .collect()
}

#[test]
fn every_bad_configuration_is_refused_at_its_attribute_without_a_panic() {
    let started = std::time::Instant::now();
    let core = cores()
        .into_iter()
        .max_by_key(|c| c.version)
        .expect("a Terraform core");
    // Provider functions need Terraform 1.8, import blocks 1.5.
    let runnable = |c: &&Case| {
        let function = c.hcl.contains("provider::");
        let import = c.hcl.starts_with("import {");
        (!function || core.at_least(1, 8)) && (!import || core.at_least(1, 5))
    };
    let mut names = std::collections::BTreeSet::new();
    for c in CASES {
        assert!(names.insert(c.name), "two cases are named {}", c.name);
    }
    let phases = [Phase::Provider, Phase::Validate, Phase::Plan];
    let batches: Vec<(Phase, Vec<&Case>)> = phases
        .iter()
        .map(|ph| {
            (
                *ph,
                CASES
                    .iter()
                    .filter(|c| c.phase == *ph)
                    .filter(runnable)
                    .collect(),
            )
        })
        .collect();
    // The batches run at once: each is one init and one core run.
    let outcomes: Vec<(Phase, Vec<&Case>, Outcome)> = std::thread::scope(|s| {
        let handles: Vec<_> = batches
            .into_iter()
            .map(|(ph, cases)| {
                let core = &core;
                s.spawn(move || {
                    let out = run_batch(core, ph, &cases);
                    (ph, cases, out)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let mut failures = Vec::new();
    let (mut total, mut with_path, mut without_location, mut panics) = (0, 0, 0, 0);
    for (phase, cases, out) in &outcomes {
        if let Some(sign) = crash_sign(&out.text, &out.provider_log) {
            panics += 1;
            failures.push(format!("{phase:?} batch: {sign}"));
        }
        let mut by_file: BTreeMap<String, Vec<&Diag>> = BTreeMap::new();
        for d in &out.diags {
            let key = d.file.clone().unwrap_or_default();
            by_file.entry(key).or_default().push(d);
        }
        // Import errors come without a file: each is matched to its case by what it says.
        let unlocated: Vec<&Diag> = by_file.get("").cloned().unwrap_or_default();
        for c in cases {
            total += 1;
            let own: Vec<&Diag> = match c.at {
                Some(_) => by_file
                    .get(&format!("{}.tf", c.name))
                    .cloned()
                    .unwrap_or_default(),
                None => unlocated
                    .iter()
                    .filter(|d| {
                        c.says
                            .iter()
                            .all(|s| d.summary.contains(s) || d.detail.contains(s))
                    })
                    .copied()
                    .collect(),
            };
            let shown = || {
                own.iter()
                    .map(|d| d.render())
                    .collect::<Vec<_>>()
                    .join("\n\n")
            };
            let errors: Vec<&&Diag> = own.iter().filter(|d| d.severity == "error").collect();
            if errors.is_empty() {
                failures.push(format!("{}: no error diagnostic\n{}", c.name, shown()));
                continue;
            }
            for d in &own {
                let text = format!("{}\n{}", d.summary, d.detail);
                for secret in c.never {
                    if text.contains(secret) {
                        failures.push(format!(
                            "{}: the diagnostic echoes {secret:?}\n{}",
                            c.name,
                            d.render()
                        ));
                    }
                }
            }
            let says = |d: &Diag| {
                let text = format!("{}\n{}", d.summary, d.detail);
                c.says.iter().all(|s| text.contains(s))
            };
            let Some(at) = c.at.map(|a| a.replace("CASE", c.name)) else {
                if own.iter().any(|d| says(d)) {
                    without_location += 1;
                } else {
                    failures.push(format!(
                        "{}: no diagnostic says {:?}\n{}",
                        c.name,
                        c.says,
                        shown()
                    ));
                }
                continue;
            };
            match own.iter().find(|d| says(d) && d.code.contains(&at)) {
                Some(d) if d.has_attribute_path() => with_path += 1,
                Some(d) => failures.push(format!(
                    "{}: the diagnostic is not placed at an attribute\n{}",
                    c.name,
                    d.render()
                )),
                None => failures.push(format!(
                    "{}: no diagnostic at a line holding {at:?} says {:?}\n{}",
                    c.name,
                    c.says,
                    shown()
                )),
            }
            // Every other diagnostic of the case, warnings included, carries one too.
            for d in own.iter().filter(|d| !d.has_attribute_path()) {
                failures.push(format!(
                    "{}: a diagnostic without an attribute path\n{}",
                    c.name,
                    d.render()
                ));
            }
        }
    }
    let skipped = CASES.len() - total;
    println!(
        "bad input: {total} cases, {panics} panics, {with_path} with attribute path \
         ({without_location} import ids, which Terraform reports without a source location; \
         {skipped} skipped on {}; {:.1} s)",
        core.name,
        started.elapsed().as_secs_f64()
    );
    let uncovered = without_a_case();
    if !uncovered.is_empty() {
        println!("bad input: no case yet for {}", uncovered.join(", "));
    }
    assert!(CASES.len() >= 100, "the corpus has {} cases", CASES.len());
    assert!(
        failures.is_empty(),
        "{} problems:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
