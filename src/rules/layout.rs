//! `ampere_layout`: a valid split of a tier's A1 allowance over N nodes, plus the micro bastion,
//! and the block storage left for Ceph OSDs.
//!
//! The split uses every whole OCPU, gives the first nodes the spare ones (pay_as_you_go, 3
//! nodes: 2, 1, 1), and gives each node the memory the cloud would (6 GB per OCPU). Every
//! layout it returns passes [`check`](super::check()) with no error; the tests hold it to that.
//! The leftover storage is shown even when it is 0 or too small for a volume.
//!
//! Imports nothing from the rest of the crate.

use super::allocation::{Allocation, Instance, E2_MICRO};
use super::tiers::{format_number, LimitKey, Tier, Unit};

/// One A1 node of a layout. Nodes are numbered, not named; the caller names them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayoutNode {
    /// Position, from 0.
    pub index: u32,
    /// Whole OCPUs.
    pub ocpus: u32,
    /// Memory, as the cloud will give it.
    pub memory_gb: f64,
    /// Boot volume size.
    pub boot_volume_gb: f64,
}

/// The micro bastion every layout includes (its boot volume counts against storage).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayoutBastion {
    /// Always `VM.Standard.E2.1.Micro`.
    pub shape: &'static str,
    /// The fixed shape's OCPUs.
    pub ocpus: f64,
    /// The fixed shape's memory.
    pub memory_gb: f64,
    /// Boot volume size.
    pub boot_volume_gb: f64,
}

/// A layout that fits the tier.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// The tier it fits.
    pub tier: Tier,
    /// The A1 nodes.
    pub nodes: Vec<LayoutNode>,
    /// The micro bastion.
    pub bastion: LayoutBastion,
    /// True when boot sizes were given; false when left at the image default.
    pub boot_volume_set: bool,
    /// The tier's block storage total.
    pub storage_limit_gb: f64,
    /// Block storage used by all boot volumes.
    pub storage_used_gb: f64,
    /// Block storage left for Ceph OSDs (can be 0).
    pub ceph_gb: f64,
    /// How many block volumes of the smallest size fit in `ceph_gb` (can be 0).
    pub ceph_volumes: u32,
    /// What the numbers mean: the leftover storage, defaults used, disputed figures.
    pub notes: Vec<String>,
}

impl Layout {
    /// The layout as an [`Allocation`] (nodes, then the bastion), ready for `check`.
    pub fn allocation(&self) -> Allocation {
        let boot = |gb: f64| {
            if self.boot_volume_set {
                gb.into()
            } else {
                Default::default()
            }
        };
        let mut instances: Vec<Instance> = self
            .nodes
            .iter()
            .map(|node| Instance {
                boot_volume_gb: boot(node.boot_volume_gb),
                ..Instance::a1(f64::from(node.ocpus), node.memory_gb)
            })
            .collect();
        instances.push(Instance {
            boot_volume_gb: boot(self.bastion.boot_volume_gb),
            ..Instance::micro()
        });
        Allocation {
            instances,
            ..Allocation::default()
        }
    }
}

/// Why no layout exists.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LayoutError {
    /// Zero nodes were asked for.
    #[error("a layout needs at least one A1 node")]
    NoNodes,
    /// The tier's table has no A1 allowance to split.
    #[error("{tier} has no A1 allowance")]
    NoAllowance {
        /// The tier.
        tier: Tier,
    },
    /// More nodes than whole OCPUs.
    #[error(
        "A1 OCPUs come in whole numbers; {tier} allows {ocpus} OCPU in total, so at most \
         {ocpus} A1 nodes, not {nodes}"
    )]
    NotEnoughOcpus {
        /// The tier.
        tier: Tier,
        /// Nodes asked for.
        nodes: u32,
        /// Whole OCPUs the tier allows.
        ocpus: u32,
    },
    /// More nodes than the tier allows A1 instances.
    #[error("{tier} allows at most {max} A1 instances, not {nodes}")]
    TooManyInstances {
        /// The tier.
        tier: Tier,
        /// Nodes asked for.
        nodes: u32,
        /// A1 instances the tier allows.
        max: u32,
    },
    /// The memory the cloud gives per OCPU does not fit the memory total.
    #[error(
        "{tier} gives {per_ocpu_gb} GB per OCPU, so {ocpus} OCPU get {needed_gb} GB, over the \
         {limit_gb} GB allowed"
    )]
    MemoryExceeded {
        /// The tier.
        tier: Tier,
        /// Memory per OCPU.
        per_ocpu_gb: f64,
        /// OCPUs laid out.
        ocpus: u32,
        /// Memory they get.
        needed_gb: f64,
        /// The tier's A1 memory total.
        limit_gb: f64,
    },
    /// The boot volume size given is not usable.
    #[error("boot volume size {given}: {reason}")]
    BootVolume {
        /// The size as given.
        given: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The boot volumes alone pass the storage total.
    #[error(
        "{volumes} boot volumes of {boot_gb} GB (the A1 nodes and the micro bastion) need \
         {used_gb} GB; {tier} allows {limit_gb} GB of block storage in total"
    )]
    StorageExceeded {
        /// The tier.
        tier: Tier,
        /// Boot volumes: nodes plus the bastion.
        volumes: u32,
        /// Size of each.
        boot_gb: f64,
        /// Their sum.
        used_gb: f64,
        /// The tier's storage total.
        limit_gb: f64,
    },
}

/// Lays out `nodes` A1 nodes plus one micro bastion on `tier`, every boot volume `boot_gb` GB
/// (`None`: the image default). Pure; never panics.
pub fn ampere_layout(tier: Tier, nodes: u32, boot_gb: Option<f64>) -> Result<Layout, LayoutError> {
    if nodes == 0 {
        return Err(LayoutError::NoNodes);
    }
    let value = |key| {
        tier.limit(key)
            .map(|l| l.value)
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    let (Some(ocpu_total), Some(memory_limit)) =
        (value(LimitKey::A1Ocpus), value(LimitKey::A1MemoryGb))
    else {
        return Err(LayoutError::NoAllowance { tier });
    };
    // Saturating casts: table values are small, and a fraction of an OCPU is unusable anyway.
    let ocpus = ocpu_total.floor() as u32;
    let min_per_node = value(LimitKey::A1OcpusMin).map_or(1, |v| v.ceil().max(1.0) as u32);
    if u64::from(nodes) * u64::from(min_per_node) > u64::from(ocpus) {
        return Err(LayoutError::NotEnoughOcpus { tier, nodes, ocpus });
    }
    if let Some(max) = value(LimitKey::A1Instances).map(|v| v.floor() as u32) {
        if nodes > max {
            return Err(LayoutError::TooManyInstances { tier, nodes, max });
        }
    }

    let per_ocpu = match value(LimitKey::A1MemoryPerOcpuGiven) {
        Some(given) => given,
        None => {
            let default = value(LimitKey::A1MemoryPerOcpuDefault).unwrap_or(6.0);
            default.min(memory_limit / f64::from(ocpus.max(1)))
        }
    };
    let needed = per_ocpu * f64::from(ocpus);
    if needed > memory_limit + 1e-9 {
        return Err(LayoutError::MemoryExceeded {
            tier,
            per_ocpu_gb: per_ocpu,
            ocpus,
            needed_gb: needed,
            limit_gb: memory_limit,
        });
    }

    let boot = boot_size(tier, boot_gb)?;
    let storage_limit = value(LimitKey::BlockStorageGb).unwrap_or(0.0);
    let volumes = nodes.saturating_add(1);
    let used = boot * f64::from(volumes);
    if used > storage_limit {
        return Err(LayoutError::StorageExceeded {
            tier,
            volumes,
            boot_gb: boot,
            used_gb: used,
            limit_gb: storage_limit,
        });
    }

    // Spare OCPUs go to the first nodes, so a layout reads largest first.
    let base = ocpus / nodes;
    let spare = ocpus % nodes;
    let layout_nodes = (0..nodes)
        .map(|index| {
            let node_ocpus = base + u32::from(index < spare);
            LayoutNode {
                index,
                ocpus: node_ocpus,
                memory_gb: per_ocpu * f64::from(node_ocpus),
                boot_volume_gb: boot,
            }
        })
        .collect();

    let ceph_gb = storage_limit - used;
    let volume_min = value(LimitKey::BlockVolumeMinGb).unwrap_or(50.0).max(1.0);
    let ceph_volumes = (ceph_gb / volume_min).floor() as u32;
    let mut notes = Vec::new();
    if boot_gb.is_none() {
        if let Some(default) = tier.limit(LimitKey::BootVolumeDefaultGb) {
            notes.push(format!(
                "Boot volume sizes are left unset, so each gets the image default of {} ({}).",
                default.display_value(),
                default.citation()
            ));
        }
    }
    notes.push(ceph_note(
        ceph_gb,
        storage_limit,
        used,
        volumes,
        volume_min,
        ceph_volumes,
    ));
    // One note for a disputed allowance: what the layout uses against the undisputed figures.
    let mut disputed = Vec::new();
    let mut dispute_note = None;
    for (key, laid_out) in [
        (LimitKey::A1Ocpus, f64::from(ocpus)),
        (LimitKey::A1MemoryGb, needed),
    ] {
        let Some(limit) = tier.limit(key) else {
            continue;
        };
        if let Some(agreed) = limit.agreed.filter(|agreed| laid_out > *agreed) {
            let unit = limit.unit;
            disputed.push((unit.format(laid_out), unit.format(agreed)));
            dispute_note = dispute_note.or(limit.note);
        }
    }
    if !disputed.is_empty() {
        let (used, agreed): (Vec<String>, Vec<String>) = disputed.into_iter().unzip();
        notes.push(format!(
            "This layout uses {}, above the undisputed {}. {}",
            used.join(" / "),
            agreed.join(" / "),
            dispute_note.unwrap_or_default()
        ));
    }

    let micro = |key, fallback| value(key).unwrap_or(fallback);
    Ok(Layout {
        tier,
        nodes: layout_nodes,
        bastion: LayoutBastion {
            shape: E2_MICRO,
            ocpus: micro(LimitKey::MicroOcpus, 0.125),
            memory_gb: micro(LimitKey::MicroMemoryGb, 1.0),
            boot_volume_gb: boot,
        },
        boot_volume_set: boot_gb.is_some(),
        storage_limit_gb: storage_limit,
        storage_used_gb: used,
        ceph_gb,
        ceph_volumes,
        notes,
    })
}

// The boot volume size to use: the default when none is given, else a screened value.
fn boot_size(tier: Tier, boot_gb: Option<f64>) -> Result<f64, LayoutError> {
    let limit = |key| tier.limit(key).map(|l| l.value);
    let Some(gb) = boot_gb else {
        return Ok(limit(LimitKey::BootVolumeDefaultGb).unwrap_or(47.0));
    };
    let min = limit(LimitKey::BootVolumeMinGb).unwrap_or(50.0);
    let max = limit(LimitKey::BootVolumeMaxGb).unwrap_or(32768.0);
    let reason = if !gb.is_finite() {
        "is not a finite number".to_owned()
    } else if gb.fract() != 0.0 {
        "must be a whole number of GB".to_owned()
    } else if gb < min {
        format!(
            "is below the {} an explicit size needs (leave it unset for the image default)",
            Unit::Gb.format(min)
        )
    } else if gb > max {
        format!("is above the {} maximum", Unit::Gb.format(max))
    } else {
        return Ok(gb);
    };
    Err(LayoutError::BootVolume {
        given: format_number(gb),
        reason,
    })
}

fn ceph_note(ceph: f64, limit: f64, used: f64, volumes: u32, volume_min: f64, fit: u32) -> String {
    let gb = |v| Unit::Gb.format(v);
    let head = format!(
        "{volumes} boot volumes use {} of the {} block storage",
        gb(used),
        gb(limit)
    );
    if ceph <= 0.0 {
        format!("{head}: nothing is left for Ceph OSD volumes.")
    } else if fit == 0 {
        format!(
            "{head}, leaving {} for Ceph: less than the {} smallest block volume, so no OSD \
             volume fits.",
            gb(ceph),
            gb(volume_min)
        )
    } else {
        format!(
            "{head}, leaving {} for Ceph OSDs: room for {fit} block {} of {}, or fewer larger \
             ones.",
            gb(ceph),
            if fit == 1 { "volume" } else { "volumes" },
            gb(volume_min)
        )
    }
}
