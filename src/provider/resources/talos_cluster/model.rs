//! The typed model of `freetier_talos_cluster`: what the configuration, the plan and the state
//! hold, as Rust structs tagged with their attribute names, and the defaults in one table.

use std::time::Duration;

use crate::framework::Maybe;
use crate::provider::resources::timeouts::{self, Timeouts};

crate::model! {
    /// One control-plane node.
    pub struct NodeConfig {
        pub name: String = "name",
        pub address: String = "address",
        pub host: Maybe<String> = "host",
        pub cores: Maybe<u32> = "cores",
        pub memory_mb: Maybe<u64> = "memory_mb",
        pub disk_gb: Maybe<u32> = "disk_gb",
    }
}

impl NodeConfig {
    /// Cores, or the default.
    pub fn cores(&self) -> u32 {
        self.cores.known().copied().unwrap_or(defaults::CORES)
    }

    /// Memory in MiB, or the default.
    pub fn memory_mb(&self) -> u64 {
        self.memory_mb
            .known()
            .copied()
            .unwrap_or(defaults::MEMORY_MB)
    }

    /// Disk in GiB, or the default.
    pub fn disk_gb(&self) -> u32 {
        self.disk_gb.known().copied().unwrap_or(defaults::DISK_GB)
    }
}

crate::model! {
    /// What Layer 2 reports about one Proxmox VE host.
    pub struct HostCapacity {
        pub name: String = "name",
        pub cpus: u32 = "cpus",
        pub memory_free_mb: u64 = "memory_free_mb",
        pub kvm_available: bool = "kvm_available",
    }
}

crate::model! {
    /// Where the VMs go: Layer 2's Proxmox VE cluster.
    pub struct ProxmoxConfig {
        pub api_url: String = "api_url",
        pub api_token_id: String = "api_token_id",
        pub tls_fingerprint: String = "tls_fingerprint",
        pub image_url: String = "image_url",
        pub storage: Maybe<String> = "storage",
        pub iso_storage: Maybe<String> = "iso_storage",
        pub image_storage: Maybe<String> = "image_storage",
        pub bridge: Maybe<String> = "bridge",
        pub hosts: Maybe<Vec<HostCapacity>> = "hosts",
    }
}

crate::model! {
    /// The nodes' network.
    pub struct NetworkConfig {
        pub cidr: String = "cidr",
        pub gateway: Maybe<String> = "gateway",
        pub nameservers: Maybe<Vec<String>> = "nameservers",
    }
}

crate::model! {
    /// Flux's source, and the age key it decrypts SOPS secrets with.
    pub struct GitopsConfig {
        pub url: String = "url",
        pub branch: Maybe<String> = "branch",
        pub path: Maybe<String> = "path",
    }
}

crate::model! {
    /// A node as the cluster reports it.
    pub struct NodeStatus {
        pub name: String = "name",
        pub address: String = "address",
        pub host: String = "host",
        pub vmid: u32 = "vmid",
        pub ready: bool = "ready",
    }
}

crate::model! {
    /// The resource.
    pub struct Cluster {
        pub id: Maybe<String> = "id",
        pub name: String = "name",
        pub placement: Maybe<String> = "placement",
        pub talos_version: Maybe<String> = "talos_version",
        pub kubernetes_version: Maybe<String> = "kubernetes_version",
        pub install_image: Maybe<String> = "install_image",
        pub pod_cidr: Maybe<String> = "pod_cidr",
        pub service_cidr: Maybe<String> = "service_cidr",
        pub cpu_emulation: Maybe<bool> = "cpu_emulation",
        pub proxmox_token_secret: Maybe<String> = "proxmox_token_secret",
        pub sops_age_key: Maybe<String> = "sops_age_key",
        pub delete_images: Maybe<bool> = "delete_images",
        pub node: Vec<NodeConfig> = "node",
        pub network: Option<NetworkConfig> = "network",
        pub proxmox: Option<ProxmoxConfig> = "proxmox",
        pub gitops: Option<GitopsConfig> = "gitops",
        pub timeouts: Option<Timeouts> = "timeouts",
        pub endpoint: Maybe<String> = "endpoint",
        pub kubeconfig: Maybe<String> = "kubeconfig",
        pub talosconfig: Maybe<String> = "talosconfig",
        pub machine_secrets: Maybe<String> = "machine_secrets",
        pub nodes: Maybe<Vec<NodeStatus>> = "nodes",
    }
}

impl Cluster {
    /// `proxmox` or `instances`.
    pub fn placement(&self) -> &str {
        self.placement
            .known()
            .map(String::as_str)
            .unwrap_or("proxmox")
    }

    /// The Talos release to run.
    pub fn talos_version(&self) -> String {
        self.talos_version
            .known()
            .cloned()
            .unwrap_or_else(|| defaults::TALOS_VERSION.into())
    }

    /// The limit for `which` (`create`, `update`, `delete`), stretched under emulation.
    pub fn timeout(&self, which: &str) -> Duration {
        let given = timeouts::given(self.timeouts.as_ref(), which);
        let base = given.unwrap_or(match which {
            "create" | "update" => defaults::CREATE,
            _ => defaults::DELETE,
        });
        if given.is_none() && self.cpu_emulation.known().copied().unwrap_or(false) {
            base.mul_f64(defaults::TCG_SLOWDOWN)
        } else {
            base
        }
    }
}

/// Defaults, in one table.
pub mod defaults {
    use std::time::Duration;

    /// Talos release (the current stable line).
    pub const TALOS_VERSION: &str = "v1.13.9";
    /// Kubernetes release that Talos line ships by default.
    pub const KUBERNETES_VERSION: &str = "v1.36.3";
    /// Image Factory schematic with no extensions: the plain nocloud image.
    pub const SCHEMATIC: &str = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba";
    /// Flannel's and most charts' pod range.
    pub const POD_CIDR: &str = "10.244.0.0/16";
    /// Kubernetes' default service range.
    pub const SERVICE_CIDR: &str = "10.96.0.0/12";
    /// Cores per VM.
    pub const CORES: u32 = 2;
    /// Memory per VM, MiB: Talos's control-plane minimum.
    pub const MEMORY_MB: u64 = 2048;
    /// Disk per VM, GiB: Talos's minimum.
    pub const DISK_GB: u32 = 10;
    /// Proxmox storages and bridge.
    pub const STORAGE: &str = "local-lvm";
    pub const ISO_STORAGE: &str = "local";
    pub const IMAGE_STORAGE: &str = "local";
    pub const BRIDGE: &str = "vmbr0";
    /// A create: images, VMs, boot, bootstrap, health.
    pub const CREATE: Duration = Duration::from_secs(30 * 60);
    /// A delete: stop and destroy.
    pub const DELETE: Duration = Duration::from_secs(10 * 60);
    /// One API call.
    pub const CALL: Duration = Duration::from_secs(60);
    /// One `EtcdMemberList` asked to see whether etcd runs: its etcd client waits for a member
    /// it can reach, so a node without etcd holds the call until this ends.
    pub const MEMBER_LIST: Duration = Duration::from_secs(3);
    /// Between two looks at a node.
    pub const POLL: Duration = Duration::from_millis(500);
    /// A guest without KVM runs about this much slower (syzkaller's TCG multiplier for arm64
    /// hosts, https://github.com/google/syzkaller/pull/5419).
    pub const TCG_SLOWDOWN: f64 = 5.0;
    /// Talos's documented control-plane minimums: 2 GiB memory, 2 cores
    /// (https://www.talos.dev/v1.11/introduction/system-requirements/).
    pub const MIN_MEMORY_MB: u64 = 2048;
    pub const MIN_CORES: u32 = 2;
}
