//! The layer-1 stand-in: a Terraform state file (format version 4) whose outputs are exactly the
//! `terraform/oci` contract of issue 4, so layers 2 and 3 read the lab through
//! `terraform_remote_state` unchanged.
//!
//! Sizes follow the Always Free figures in `shared/research/oci_policy.md` §1.1-§1.2: A1 OCPUs
//! are whole, 6 GB of memory per OCPU, 50 GB boot volumes (the provider's minimum), and 200 GB
//! of block storage in total shared by every boot volume (the bastion's included); what is left
//! goes to OSD volumes, split evenly.

use serde_json::{json, Value};

use super::{keys, LabConfig, LabInner, Tier};

/// Shape of the Ampere hosts (oci_policy.md §1.1).
pub const A1_SHAPE: &str = "VM.Standard.A1.Flex";
/// Shape of the bastion (oci_policy.md §1.1).
pub const MICRO_SHAPE: &str = "VM.Standard.E2.1.Micro";
/// Boot volume per instance in GB: the image default terraform/oci leaves in place (a live A1
/// boot volume measured 47 GB, oci_policy.md §1.2), so the lab's outputs match Layer 1's.
pub const BOOT_GB: u32 = 47;
/// Free block storage in GB, boot volumes included (oci_policy.md §1.2).
pub const FREE_STORAGE_GB: u32 = 200;
/// Memory per A1 OCPU in GB (2 OCPU / 12 GB, oci_policy.md §0.1).
pub const GB_PER_OCPU: u32 = 6;

/// One A1 host's size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSize {
    /// OCPUs.
    pub ocpus: u32,
    /// Memory in GB.
    pub memory_gb: u32,
    /// Boot volume in GB.
    pub boot_gb: u32,
    /// Block volume left for Ceph OSDs in GB (0 when the boots use it all).
    pub osd_gb: u32,
}

/// The whole layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// One entry per Ampere host.
    pub nodes: Vec<NodeSize>,
    /// The bastion's boot volume (0 without a bastion).
    pub bastion_boot_gb: u32,
}

/// Sizes for the configured tier and host count.
pub fn layout(config: &LabConfig) -> Layout {
    let n = config.hosts.max(1);
    let ocpus_total = config.tier.free_ocpus();
    let bastion_boot_gb = if config.bastion { BOOT_GB } else { 0 };
    let boots = BOOT_GB * n + bastion_boot_gb;
    let osd_each = FREE_STORAGE_GB.saturating_sub(boots) / n;
    let nodes = (0..n)
        .map(|i| {
            // Whole OCPUs, the remainder to the first hosts.
            let ocpus = (ocpus_total / n + u32::from(i < ocpus_total % n)).max(1);
            NodeSize {
                ocpus,
                memory_gb: ocpus * GB_PER_OCPU,
                boot_gb: BOOT_GB,
                osd_gb: osd_each,
            }
        })
        .collect();
    Layout {
        nodes,
        bastion_boot_gb,
    }
}

fn node_type() -> Value {
    json!(["object", {
        "name": "string",
        "private_ip": "string",
        "public_ip": "string",
        "tailscale_name": "string",
        "ssh_user": "string",
        "ssh_port": "number",
        "shape": "string",
        "ocpus": "number",
        "memory_gb": "number",
        "boot_gb": "number",
        "osd_gb": "number",
        "ssh_host_key": "string"
    }])
}

/// The state document.
pub(crate) fn tfstate(inner: &LabInner) -> Value {
    let nodes: Vec<Value> = inner
        .hosts
        .iter()
        .map(|h| {
            json!({
                "name": h.name,
                "private_ip": h.ip.to_string(),
                "public_ip": h.ip.to_string(),
                "tailscale_name": h.name,
                "ssh_user": "root",
                "ssh_port": h.ssh_port,
                "shape": A1_SHAPE,
                "ocpus": h.layout.ocpus,
                "memory_gb": h.layout.memory_gb,
                "boot_gb": h.layout.boot_gb,
                "osd_gb": h.layout.osd_gb,
                // The public half of the host key Layer 1 hands to cloud-init, for pinning.
                "ssh_host_key": keys::public_line(&h.host_key)
            })
        })
        .collect();
    let base = inner.base.octets();
    let bastion_ip = std::net::Ipv4Addr::new(base[0], base[1], base[2], 10).to_string();
    let bastion = json!({
        "name": "bastion",
        "public_ip": bastion_ip,
        "private_ip": bastion_ip,
        "ssh_user": "root",
        "ssh_port": inner.bastion.as_ref().map(|b| b.ssh_port).unwrap_or(super::net::SSH_PORT),
        "ssh_host_key": inner.bastion.as_ref().map(|b| keys::public_line(&b.host_key)).unwrap_or_default()
    });
    // The lab's subnet is its loopback /24, so a `pveceph init --network` taken from this
    // output contains the hosts' addresses.
    let network = json!({
        "vcn_cidr": format!("{}.{}.0.0/16", base[0], base[1]),
        "subnet_cidr": format!("{}.{}.{}.0/24", base[0], base[1], base[2])
    });
    json!({
        "version": 4,
        // The oldest core the project tests (issue 4); newer cores read older states.
        "terraform_version": "1.0.3",
        "serial": 1,
        "lineage": lineage(inner),
        "outputs": {
            "tier": {"value": inner.config.tier.as_str(), "type": "string"},
            "node_os": {"value": inner.config.host_os.as_str(), "type": "string"},
            "node_image_id": {"value": node_image_id(inner), "type": "string"},
            "nodes": {"value": nodes, "type": ["list", node_type()]},
            "bastion": {"value": bastion, "type": ["object", {
                "name": "string",
                "public_ip": "string",
                "private_ip": "string",
                "ssh_user": "string",
                "ssh_port": "number",
                "ssh_host_key": "string"
            }]},
            "network": {"value": network, "type": ["object", {"vcn_cidr": "string", "subnet_cidr": "string"}]},
            // The lab has no network load balancer: the bastion's address stands in for its
            // public IP, with terraform/oci's default ports.
            "ingress": {"value": {
                "public_ip": bastion_ip.clone(),
                "ports": [
                    {"name": "http", "port": 80, "node_port": 30080},
                    {"name": "https", "port": 443, "node_port": 30443}
                ]
            }, "type": ["object", {
                "public_ip": "string",
                "ports": ["list", ["object", {"name": "string", "port": "number", "node_port": "number"}]]
            }]}
        },
        "resources": custom_image(inner)
    })
}

/// The image Layer 1's nodes boot: the one the lab's tenancy holds, or none.
fn node_image_id(inner: &LabInner) -> &'static str {
    if inner.config.node_image && inner.config.host_os == super::HostOs::Proxmox {
        super::oci_storage::NODE_IMAGE_ID
    } else {
        ""
    }
}

/// The custom image Layer 1 imported, as the oracle/oci provider records `oci_core_image`
/// (`size_in_mbs` is a string there: the API's int64 as the provider stores it).
fn custom_image(inner: &LabInner) -> Value {
    let gb = *inner
        .custom_image_gb
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let Some(gb) = gb else {
        return json!([]);
    };
    json!([{
        "mode": "managed",
        "type": "oci_core_image",
        "name": "nodes",
        "provider": "provider[\"registry.terraform.io/oracle/oci\"]",
        "instances": [{
            "schema_version": 0,
            "attributes": {
                "id": "ocid1.image.oc1.lab.nodes",
                "display_name": "freetier-nodes",
                "operating_system": "Debian",
                "lifecycle_state": "AVAILABLE",
                "size_in_mbs": (u64::from(gb) * 1024).to_string()
            }
        }]
    }])
}

/// A lineage stable for the lab's address base, so rewriting the file does not look like a
/// different state to Terraform.
fn lineage(inner: &LabInner) -> String {
    let o = inner.base.octets();
    let h = keys::sha256_colon_hex(&[o[0], o[1], o[2], inner.config.hosts as u8])
        .replace(':', "")
        .to_lowercase();
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// Says whether OSDs get storage, for `lab status`: each node's share of the free block
/// storage is a tail of its boot volume (no separate volume fits the budget), so only a
/// share of 0 leaves Ceph without an OSD.
pub fn osd_note(tier: Tier, l: &Layout) -> Option<String> {
    if l.nodes.iter().all(|n| n.osd_gb == 0) {
        Some(format!(
            "no OSD storage: {} boot volumes of {BOOT_GB} GB use all {} GB the {} tier allows",
            l.nodes.len() + usize::from(l.bastion_boot_gb > 0),
            FREE_STORAGE_GB,
            tier.as_str()
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn layouts_per_tier() {
        let cases = [
            (
                "always free, 2 hosts",
                LabConfig::always_free(),
                vec![(1, 6, 29), (1, 6, 29)],
            ),
            (
                "payg, 3 hosts",
                LabConfig::default(),
                vec![(2, 12, 4), (1, 6, 4), (1, 6, 4)],
            ),
            (
                "payg, 2 hosts, no bastion",
                LabConfig {
                    hosts: 2,
                    bastion: false,
                    ..LabConfig::default()
                },
                vec![(2, 12, 53), (2, 12, 53)],
            ),
        ];
        for (name, cfg, want) in cases {
            let l = layout(&cfg);
            let got: Vec<(u32, u32, u32)> = l
                .nodes
                .iter()
                .map(|n| (n.ocpus, n.memory_gb, n.osd_gb))
                .collect();
            assert_eq!(got, want, "{name}");
            let used: u32 =
                l.nodes.iter().map(|n| n.boot_gb + n.osd_gb).sum::<u32>() + l.bastion_boot_gb;
            assert!(used <= FREE_STORAGE_GB, "{name}: {used} GB");
        }
    }
}
