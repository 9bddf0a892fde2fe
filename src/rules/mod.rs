//! The free-tier rulebook: Oracle Cloud's free allowances as data, and the arithmetic that holds
//! a plan to them.
//!
//! Pure: no I/O, no environment, no clock, no panics on any input. It imports nothing from the
//! rest of the crate (only `std` and `thiserror`), so the provider, the `freetier check` CLI and
//! the tests all share one rulebook and none can bend it.
//!
//! # Tiers and limits (`tiers.rs`)
//!
//! - [`Tier`] — `AlwaysFree` (default) or `PayAsYouGo`. [`Tier::parse`] takes the provider's
//!   `tier` string and fails with [`UnknownTier`], whose message lists the valid values;
//!   [`Tier::as_str`], [`Tier::ALL`].
//! - [`Tier::limit`]`(key) -> Option<&'static Limit>`, [`Tier::limits`]`()` (for the
//!   `freetier_limits` data source), [`Tier::history`]`(key)` (values replaced by a dated
//!   change).
//! - [`Limit`] — `key`, `kind` ([`LimitKind`]: total, per-item min or max, fixed), `value`,
//!   `unit`, `summary`, `source`, `since` (ISO date), `note`, and `agreed` (the undisputed
//!   figure, when sources conflict).
//! - The tables are [`ALWAYS_FREE`] and [`PAY_AS_YOU_GO`]: one field per [`LimitKey`]. A dated
//!   change is one field edit (old value into `history`, new `since`); a new tier is one table
//!   plus its [`Tier`] variant. Each needs a test case in `tests.rs` citing its source.
//!
//! # Checking a plan (`allocation.rs`, `check.rs`, `compute.rs`, `services.rs`, `report.rs`)
//!
//! - [`Allocation`] lists what a plan asks for: [`Instance`]s, [`BlockVolume`]s, [`Counted`]
//!   resources (backups, reserved IPs, VCNs, gateways, network load balancers),
//!   [`LoadBalancer`]s, [`ObjectStorage`], [`CustomImage`]s, optional [`BudgetAlert`]s. Every
//!   number is a [`Quantity`] = [`Value`]`<f64>`: `Known`, `Unknown` (until apply) or `Absent`
//!   (OCI's default applies). Every item has an optional `label` and a Terraform `count`.
//! - [`check`](check())`(tier, &allocation) -> Report`, and
//!   [`violations`]`(tier, &allocation)` for its violation list alone.
//! - [`Report`]: `violations` ([`Violation`]: [`RuleId`], [`Severity`], [`Subject`],
//!   Title-Case `summary`, `detail` with limit, total, overrun, advice and source; numeric
//!   `limit`/`total`/`overrun`), `deferred` ([`Deferral`]: what waits on an unknown value),
//!   `totals` ([`Total`] per total-kind limit, with headroom), and `instances`
//!   ([`EffectiveInstance`]: the sizes the cloud will really give).
//! - [`Subject`] names the input at fault: `Item { kind, index, attribute }` or `List(kind)`;
//!   its `Display` is the attribute path (`instances[2].ocpus`), which the provider turns into
//!   a diagnostic path and the CLI maps to file:line.
//!
//! # How configuration counts (`mapping.rs`)
//!
//! - [`OCI_RESOURCES`]: each OCI resource type the free tier limits, the [`ItemKind`] it is,
//!   and where each field of the item sits among its arguments ([`oci_resource`]`(ty)`).
//! - [`ITEMS`] and [`COUNTED`]: how `freetier_allocation` spells each list and its fields.
//! - [`Allocation::push_item`]`(kind, label, read)`: any item from a reader's values by name.
//!   The provider, `freetier check` on `.tf` files and on plan JSON all read through these.
//!
//! # Laying out A1 nodes (`layout.rs`)
//!
//! - [`ampere_layout`]`(tier, nodes, boot_gb: Option<f64>) -> Result<Layout, LayoutError>`:
//!   whole OCPUs, memory and boot size per node, a micro bastion, and `ceph_gb`, the block
//!   storage left for Ceph OSDs (0 when the boot volumes use it all; the notes say so).
//!
//! # Decisions where the sources disagree or say nothing
//!
//! Each is stated in the table's `note` or `source`, and so in the diagnostics:
//! - Boot volume: unset means the 47 GB image default (what a live instance got); a size that
//!   is set must be at least 50 GB (the provider's documented minimum).
//! - pay_as_you_go A1 is 4 OCPU / 24 GB as designed, but only 2 / 12 is undisputed: a plan
//!   between the two gets a [`RuleId::AllowanceDisputed`] warning, not silence.
//! - A1 memory is set to 6 GB per OCPU on always_free only (the scope; oci-cli #1107
//!   saw it on a PAYG account too, but counting what was asked can only overstate a total).
//! - Network limits are the free tenancy's on both tiers, as the issue says (stricter than a
//!   paid tenancy's service limits, so never a bill). pay_as_you_go Object Storage is held to
//!   the 10 GB a paid tenancy gets free in the Standard tier.
//! - Custom images may be 20 GB (the Object Storage allowance they pass through), not 20 GB
//!   minus a byte. An unset block volume size is OCI's 1 TB default, so it fails the total.
//! - Budgets: an alert above $0.01, or none in a configuration checked whole, is a warning;
//!   budgets cost nothing but only alert.

mod allocation;
mod check;
mod compute;
mod layout;
mod mapping;
mod report;
mod services;
mod tiers;

#[cfg(test)]
mod tests;

pub use allocation::{
    Allocation, BlockVolume, BudgetAlert, Counted, CustomImage, Instance, LoadBalancer,
    ObjectStorage, Quantity, Shape, Value, A1_FLEX, E2_MICRO, LB_FLEXIBLE, LB_MICRO,
};
pub use check::{check, violations, MAX_INPUT};
pub use layout::{ampere_layout, Layout, LayoutBastion, LayoutError, LayoutNode};
pub use mapping::{
    fields, item_spec, oci_resource, Arg, Conversion, CountsIf, Field, FieldValue, ItemSpec,
    OciResource, COUNTED, COUNT_FIELDS, ITEMS, OCI_RESOURCES,
};
pub use report::{
    Deferral, EffectiveInstance, ItemKind, Report, RuleId, Severity, Subject, Total, Violation,
};
pub use tiers::{
    format_number, Entry, Limit, LimitKey, LimitKind, Tier, TierTable, Unit, UnknownTier,
    ALWAYS_FREE, PAY_AS_YOU_GO,
};
