//! `lab.json`: what a client needs to reach the lab — hosts, addresses, ports, credentials and
//! the fingerprints to pin.

use serde::{Deserialize, Serialize};

use super::{keys, layer1, LabInner};

/// One host of the lab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostState {
    /// `ampere-1`, … or `bastion`.
    pub name: String,
    /// `proxmox` or `bastion`.
    pub role: String,
    /// Loopback address.
    pub address: String,
    /// SSH port (22, or 2222 when 22 could not be bound).
    pub ssh_port: u16,
    /// SSH user.
    pub ssh_user: String,
    /// SSH host key, `ssh-ed25519 AAAA…`.
    pub ssh_host_key: String,
    /// SSH host key fingerprint, `SHA256:…`.
    pub ssh_host_key_fingerprint: String,
    /// Proxmox API base URL (`https://ADDR:8006/api2/json`), Proxmox hosts only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// API user for ticket login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_user: Option<String>,
    /// Password of `root@pam` (also the `pvecm add` password).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_password: Option<String>,
    /// SHA-256 fingerprint of the API certificate, `AA:BB:…`, to pin. Changes when the node
    /// joins a cluster (research §D.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_tls_fingerprint_sha256: Option<String>,
    /// The API certificate as PEM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_tls_certificate_pem: Option<String>,
    /// corosync-qnetd stand-in port, bastion only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qnetd_port: Option<u16>,
    /// OCPUs, memory, boot and OSD storage from the layer-1 layout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<HostSize>,
}

/// Sizes from the layer-1 layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostSize {
    /// OCPUs.
    pub ocpus: u32,
    /// Memory in GB.
    pub memory_gb: u32,
    /// Boot volume in GB.
    pub boot_gb: u32,
    /// The free tail of the boot volume left for an OSD, in GB; 0 means none.
    pub osd_gb: u32,
}

/// The whole lab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabState {
    /// Format version of this document.
    pub version: u32,
    /// `127.R.S.0/24`.
    pub subnet: String,
    /// `always_free` or `pay_as_you_go`.
    pub tier: String,
    /// Latency multiplier.
    pub time_scale: f64,
    /// Whether hosts offer KVM.
    pub kvm: bool,
    /// What the Ampere hosts run: `proxmox` or `talos` (maintenance mode).
    #[serde(default)]
    pub host_os: String,
    /// Process id of the serving lab (the CLI's daemon), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// SSH user on every host.
    pub ssh_user: String,
    /// Path of the client private key, when the lab has a state directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_private_key_path: Option<String>,
    /// The client private key (OpenSSH PEM).
    pub ssh_private_key_openssh: String,
    /// The client public key.
    pub ssh_public_key: String,
    /// The lab's control endpoint (faults, trace, stop).
    pub control_url: String,
    /// The lab's file server (images for `download-url`), on the bastion address.
    #[serde(default)]
    pub files_url: String,
    /// The layer-1 Terraform state path, when the lab has a state directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tfstate_path: Option<String>,
    /// A note when the layout leaves no storage for OSDs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub osd_note: Option<String>,
    /// Hosts, Proxmox first, then the bastion.
    pub hosts: Vec<HostState>,
    /// The lab's OCI endpoint and the files a client needs, when the lab has a state
    /// directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci: Option<OciState>,
}

/// The lab's OCI endpoint (Usage, Limits, Budgets, Identity), on the bastion address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OciState {
    /// `https://ADDR:8443`: every service's base URL.
    pub url: String,
    /// The region the configuration file names.
    pub region: String,
    /// The tenancy's OCID.
    pub tenancy: String,
    /// The user's OCID.
    pub user: String,
    /// The API key's fingerprint.
    pub fingerprint: String,
    /// The OCI CLI configuration file (profile `DEFAULT`).
    pub config_path: String,
    /// The endpoint's CA certificate, to trust instead of any other.
    pub ca_certificate_path: String,
}

pub(crate) fn describe(inner: &LabInner) -> LabState {
    let pw = inner.secrets.root_password.clone();
    let mut hosts: Vec<HostState> = inner
        .hosts
        .iter()
        .map(|h| {
            let tls = h.tls_identity();
            if inner.config.host_os == super::HostOs::Talos {
                // Talos has no SSH and no Proxmox API: apid is the way in.
                return HostState {
                    name: h.name.clone(),
                    role: "talos".into(),
                    address: h.ip.to_string(),
                    ssh_port: 0,
                    ssh_user: String::new(),
                    ssh_host_key: String::new(),
                    ssh_host_key_fingerprint: String::new(),
                    api_url: Some(format!("{}:{}", h.ip, super::talos::APID_PORT)),
                    api_user: None,
                    api_password: None,
                    api_tls_fingerprint_sha256: None,
                    api_tls_certificate_pem: None,
                    qnetd_port: None,
                    size: Some(HostSize {
                        ocpus: h.layout.ocpus,
                        memory_gb: h.layout.memory_gb,
                        boot_gb: h.layout.boot_gb,
                        osd_gb: 0,
                    }),
                };
            }
            HostState {
                name: h.name.clone(),
                role: "proxmox".into(),
                address: h.ip.to_string(),
                ssh_port: h.ssh_port,
                ssh_user: "root".into(),
                ssh_host_key: keys::public_line(&h.host_key),
                ssh_host_key_fingerprint: keys::ssh_fingerprint(&h.host_key),
                api_url: Some(format!(
                    "https://{}:{}/api2/json",
                    h.ip,
                    super::net::API_PORT
                )),
                api_user: Some("root@pam".into()),
                api_password: Some(pw.clone()),
                api_tls_fingerprint_sha256: tls.as_ref().map(|t| t.fingerprint.clone()),
                api_tls_certificate_pem: tls.as_ref().map(|t| t.cert_pem()),
                qnetd_port: None,
                size: Some(HostSize {
                    ocpus: h.layout.ocpus,
                    memory_gb: h.layout.memory_gb,
                    boot_gb: h.layout.boot_gb,
                    osd_gb: h.layout.osd_gb,
                }),
            }
        })
        .collect();
    if let Some(b) = &inner.bastion {
        hosts.push(HostState {
            name: b.name.clone(),
            role: "bastion".into(),
            address: b.ip.to_string(),
            ssh_port: b.ssh_port,
            ssh_user: "root".into(),
            ssh_host_key: keys::public_line(&b.host_key),
            ssh_host_key_fingerprint: keys::ssh_fingerprint(&b.host_key),
            api_url: None,
            api_user: None,
            api_password: None,
            api_tls_fingerprint_sha256: None,
            api_tls_certificate_pem: None,
            qnetd_port: Some(super::net::QNETD_PORT),
            size: None,
        });
    }
    let o = inner.base.octets();
    LabState {
        version: 1,
        subnet: format!("{}.{}.{}.0/24", o[0], o[1], o[2]),
        tier: inner.config.tier.as_str().into(),
        time_scale: inner.config.time_scale,
        kvm: inner.config.kvm,
        host_os: inner.config.host_os.as_str().into(),
        pid: inner.state_dir.as_ref().map(|_| std::process::id()),
        ssh_user: "root".into(),
        ssh_private_key_path: inner
            .secrets
            .client_key_path
            .as_ref()
            .map(|p| p.display().to_string()),
        ssh_private_key_openssh: inner.secrets.client_key_pem.clone(),
        ssh_public_key: keys::public_line(&inner.secrets.client_key),
        control_url: format!(
            "http://{}.{}.{}.10:{}",
            o[0], o[1], o[2], inner.control_port
        ),
        files_url: format!(
            "http://{}.{}.{}.10:{}",
            o[0],
            o[1],
            o[2],
            super::files::FILES_PORT
        ),
        tfstate_path: inner
            .state_dir
            .as_ref()
            .map(|d| d.join("oci.tfstate").display().to_string()),
        osd_note: layer1::osd_note(inner.config.tier, &layer1::layout(&inner.config)),
        hosts,
        oci: super::oci::describe(inner),
    }
}
