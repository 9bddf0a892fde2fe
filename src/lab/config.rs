//! What a lab looks like: host count, tier, timing, KVM, state directory and faults.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::faults::FaultRule;
use super::LabError;

/// The OCI tenancy tier whose layout the lab stands in for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Always Free: 2 A1 OCPUs and 12 GB in total, so at most two A1 hosts
    /// (`shared/research/oci_policy.md` §0 item 1, §1.1).
    AlwaysFree,
    /// Pay As You Go, read as 4 OCPUs and 24 GB free (unconfirmed: oci_policy.md §0 item 2).
    PayAsYouGo,
}

impl Tier {
    /// The wire name used in the layer-1 `tier` output.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::AlwaysFree => "always_free",
            Tier::PayAsYouGo => "pay_as_you_go",
        }
    }

    /// Parses `always_free` or `pay_as_you_go`.
    pub fn parse(s: &str) -> Option<Tier> {
        match s {
            "always_free" => Some(Tier::AlwaysFree),
            "pay_as_you_go" => Some(Tier::PayAsYouGo),
            _ => None,
        }
    }

    /// Free A1 OCPUs for the tier (oci_policy.md §1.1; PAYG figure unconfirmed, §0 item 2).
    pub fn free_ocpus(self) -> u32 {
        match self {
            Tier::AlwaysFree => 2,
            Tier::PayAsYouGo => 4,
        }
    }
}

/// What the Ampere hosts run: the operating system Layer 1 boots on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostOs {
    /// Proxmox VE on Debian, for Layer 2 (SSH and the API on :8006).
    #[default]
    Proxmox,
    /// Talos Linux booted without a machine config, so it waits in maintenance mode on
    /// apid :50000 for Layer 3's `instances` placement (Talos's Oracle platform reads its
    /// config from the instance's user data and, with none, stays in maintenance mode:
    /// https://docs.siderolabs.com/talos/v1.13/platform-specific-installations/cloud-platforms/oracle).
    Talos,
}

impl HostOs {
    /// The wire name used in the layer-1 `node_os` output.
    pub fn as_str(self) -> &'static str {
        match self {
            HostOs::Proxmox => "proxmox",
            HostOs::Talos => "talos",
        }
    }

    /// Parses `proxmox` or `talos`.
    pub fn parse(s: &str) -> Option<HostOs> {
        match s {
            "proxmox" => Some(HostOs::Proxmox),
            "talos" => Some(HostOs::Talos),
            _ => None,
        }
    }
}

/// How a lab is laid out and how it behaves.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LabConfig {
    /// Number of Ampere (Proxmox VE) hosts. Default 3; Always Free fits only 2.
    pub hosts: u32,
    /// The tier the layer-1 outputs describe.
    pub tier: Tier,
    /// Whether the E2.1.Micro bastion (SSH + corosync-qnetd stand-in) runs. Default on.
    pub bastion: bool,
    /// Multiplier on every latency: `0.0` runs instantly (tests), `1.0` is realistic.
    pub time_scale: f64,
    /// Whether the hosts offer KVM. Default off: OCI A1 VMs have no nested KVM (research §0.2-1).
    pub kvm: bool,
    /// Where keys, `lab.json` and `oci.tfstate` live. `None` keeps everything in memory.
    pub state_dir: Option<PathBuf>,
    /// Fault rules active from the start.
    pub faults: Vec<FaultRule>,
    /// Seed for probabilistic faults, so a run can be repeated.
    pub fault_seed: u64,
    /// Per-operation latency overrides in seconds (before `time_scale`).
    pub latency_overrides: BTreeMap<String, f64>,
    /// Fixed address base `127.R.S.0` instead of a random one (the CLI keeps one per state dir).
    pub base: Option<std::net::Ipv4Addr>,
    /// Whether corosync-qnetd is already installed on the bastion. Default on.
    pub qnetd_installed: bool,
    /// What the hosts run. Default Proxmox VE.
    #[serde(default)]
    pub host_os: HostOs,
    /// A custom image of this many GB that Layer 1's state says it imported and the nodes
    /// boot (`oci_core_image.nodes`). `None`: the nodes boot a platform image.
    #[serde(default)]
    pub custom_image_gb: Option<u32>,
    /// The tenancy's `custom-image-count` limit, which `CreateImage` enforces. Tenancies differ
    /// and `freetier image` reads the live value; 25 is the lab's stand-in, not Oracle's
    /// figure. Set 0 to see the refusal a tenancy without custom images gets.
    #[serde(default = "default_custom_image_limit")]
    pub custom_image_limit: u32,
    /// Whether the tenancy already holds the nodes' Debian image, as after `task build:images`
    /// (`freetier-debian-12-arm64`, bootable on A1), and Layer 1's state names it as
    /// `node_image_id`. Default on; off for a tenancy that has imported nothing yet.
    #[serde(default = "default_true")]
    pub node_image: bool,
}

fn default_true() -> bool {
    true
}

fn default_custom_image_limit() -> u32 {
    25
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            hosts: 3,
            tier: Tier::PayAsYouGo,
            bastion: true,
            time_scale: 1.0,
            kvm: false,
            state_dir: None,
            faults: Vec::new(),
            fault_seed: 1,
            latency_overrides: BTreeMap::new(),
            base: None,
            qnetd_installed: true,
            host_os: HostOs::Proxmox,
            custom_image_gb: None,
            custom_image_limit: default_custom_image_limit(),
            node_image: true,
        }
    }
}

impl LabConfig {
    /// The Always Free layout: two A1 hosts of 1 OCPU / 6 GB each.
    pub fn always_free() -> Self {
        LabConfig {
            hosts: 2,
            tier: Tier::AlwaysFree,
            ..LabConfig::default()
        }
    }

    /// A configuration for tests: instant timing, everything in memory.
    pub fn for_tests() -> Self {
        LabConfig {
            time_scale: 0.0,
            ..LabConfig::default()
        }
    }

    /// Checks that the configuration describes a lab that can exist, and says what to change.
    pub fn validate(&self) -> Result<(), LabError> {
        if self.hosts == 0 {
            return Err(LabError::Config(
                "hosts must be at least 1: the lab needs one Proxmox VE host".into(),
            ));
        }
        if self.hosts > 8 {
            return Err(LabError::Config(format!(
                "hosts = {} is more than the lab emulates (at most 8)",
                self.hosts
            )));
        }
        let free = self.tier.free_ocpus();
        if self.hosts > free {
            return Err(LabError::Config(format!(
                "tier {} has {} free A1 OCPUs and A1 allocates whole OCPUs, so at most {} hosts \
                 fit (https://docs.oracle.com/en-us/iaas/Content/FreeTier/\
                 freetier_topic-Always_Free_Resources.htm); use hosts = {} or tier = {}",
                self.tier.as_str(),
                free,
                free,
                free,
                if self.tier == Tier::AlwaysFree {
                    "pay_as_you_go"
                } else {
                    "always_free"
                }
            )));
        }
        if !self.time_scale.is_finite() || self.time_scale < 0.0 {
            return Err(LabError::Config(format!(
                "time_scale must be a finite number >= 0 (0 = instant, 1 = realistic), got {}",
                self.time_scale
            )));
        }
        for (op, secs) in &self.latency_overrides {
            if !secs.is_finite() || *secs < 0.0 {
                return Err(LabError::Config(format!(
                    "latency override for '{op}' must be a finite number of seconds >= 0"
                )));
            }
        }
        if let Some(b) = self.base {
            let o = b.octets();
            if o[0] != 127 || o[1] == 0 || o[3] != 0 {
                return Err(LabError::Config(format!(
                    "base {b} must look like 127.R.S.0 with R in 1..=255 (127.0.0.x is left to \
                     other programs)"
                )));
            }
        }
        for r in &self.faults {
            r.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_hosts_for_the_tier_says_why_where_and_what_to_do() {
        let config = LabConfig {
            hosts: 3,
            tier: Tier::AlwaysFree,
            ..LabConfig::for_tests()
        };
        let Err(LabError::Config(message)) = config.validate() else {
            panic!("3 hosts on always_free were accepted");
        };
        for want in [
            "tier always_free has 2 free A1 OCPUs",
            "at most 2 hosts",
            "https://docs.oracle.com/en-us/iaas/Content/FreeTier/\
             freetier_topic-Always_Free_Resources.htm",
            "use hosts = 2 or tier = pay_as_you_go",
        ] {
            assert!(message.contains(want), "{want:?} missing: {message}");
        }
        assert!(!message.contains("research"), "{message}");
    }
}
