//! The typed model of `freetier_proxmox_cluster`: what the configuration, the plan and the
//! state hold, as Rust structs tagged with their attribute names.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::framework::Maybe;
use crate::provider::resources::timeouts::{self, Timeouts};

crate::model! {
    /// One Proxmox VE host to form the cluster from.
    pub struct NodeConfig {
        pub name: String = "name",
        pub address: String = "address",
        pub ssh_user: Maybe<String> = "ssh_user",
        pub ssh_port: Maybe<u16> = "ssh_port",
        pub host_key: Maybe<String> = "host_key",
        pub osd_gb: Maybe<u32> = "osd_gb",
    }
}

impl NodeConfig {
    /// The login user (`root` unless set).
    pub fn user(&self) -> String {
        self.ssh_user
            .known()
            .cloned()
            .unwrap_or_else(|| "root".into())
    }

    /// The SSH port (22 unless set).
    pub fn port(&self) -> u16 {
        self.ssh_port.known().copied().unwrap_or(22)
    }
}

crate::model! {
    /// The QDevice host (the bastion) that gives an even-sized cluster its tie-breaking vote.
    pub struct QdeviceConfig {
        pub address: String = "address",
        pub ssh_user: Maybe<String> = "ssh_user",
        pub ssh_port: Maybe<u16> = "ssh_port",
        pub host_key: Maybe<String> = "host_key",
    }
}

crate::model! {
    /// Ceph settings.
    pub struct CephConfig {
        pub public_network: String = "public_network",
        pub pool: Maybe<String> = "pool",
        pub accepted_warnings: Maybe<Vec<String>> = "accepted_warnings",
    }
}

crate::model! {
    /// A member as the cluster reports it.
    pub struct NodeStatus {
        pub name: String = "name",
        pub address: String = "address",
        pub joined: bool = "joined",
        pub kvm_available: bool = "kvm_available",
        pub host_key: String = "host_key",
        pub cpus: u32 = "cpus",
        pub memory_free_mb: u64 = "memory_free_mb",
    }
}

crate::model! {
    /// The resource.
    pub struct Cluster {
        pub id: Maybe<String> = "id",
        pub name: String = "name",
        pub ssh_private_key: Maybe<String> = "ssh_private_key",
        pub trust_on_first_use: Maybe<bool> = "trust_on_first_use",
        pub destroy_mode: Maybe<String> = "destroy_mode",
        pub node: Vec<NodeConfig> = "node",
        pub qdevice: Option<QdeviceConfig> = "qdevice",
        pub ceph: Option<CephConfig> = "ceph",
        pub timeouts: Option<Timeouts> = "timeouts",
        pub api_url: Maybe<String> = "api_url",
        pub api_token_id: Maybe<String> = "api_token_id",
        pub api_token_secret: Maybe<String> = "api_token_secret",
        pub tls_fingerprints: Maybe<BTreeMap<String, String>> = "tls_fingerprints",
        pub quorate: Maybe<bool> = "quorate",
        pub ceph_health: Maybe<String> = "ceph_health",
        pub pool: Maybe<String> = "pool",
        pub nodes: Maybe<Vec<NodeStatus>> = "nodes",
    }
}

/// Default time limits (one table, as the house style asks).
pub mod defaults {
    use std::time::Duration;

    /// A whole create: joins, Ceph packages on every node, HEALTH_OK.
    pub const CREATE: Duration = Duration::from_secs(60 * 60);
    /// An update: joins or removals.
    pub const UPDATE: Duration = Duration::from_secs(30 * 60);
    /// A delete.
    pub const DELETE: Duration = Duration::from_secs(20 * 60);
    /// One SSH command (package installs are the slowest).
    pub const COMMAND: Duration = Duration::from_secs(20 * 60);
    /// One API call.
    pub const CALL: Duration = Duration::from_secs(60);
    /// Between two looks at quorum or Ceph health.
    pub const POLL: Duration = Duration::from_millis(500);
}

/// The Ceph pool's name when the configuration gives none.
pub const DEFAULT_POOL: &str = "vmpool";

impl Cluster {
    /// The `ceph` pool name.
    pub fn pool_name(&self) -> Option<String> {
        self.ceph.as_ref().map(|c| {
            c.pool
                .known()
                .cloned()
                .unwrap_or_else(|| DEFAULT_POOL.to_string())
        })
    }

    /// The limit for `which` (`create`, `update`, `delete`), from `timeouts` or the default.
    pub fn timeout(&self, which: &str) -> Duration {
        timeouts::given(self.timeouts.as_ref(), which).unwrap_or(match which {
            "create" => defaults::CREATE,
            "update" => defaults::UPDATE,
            _ => defaults::DELETE,
        })
    }
}
