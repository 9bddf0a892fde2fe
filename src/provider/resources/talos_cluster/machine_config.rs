//! A control-plane node's Talos machine configuration (`v1alpha1`), rendered from a typed input
//! and a [`MachineSecrets`] bundle.
//!
//! Shape: what `talosctl gen config` writes for a control plane, field names as the YAML tags
//! of <https://github.com/siderolabs/talos/blob/v1.13.9/pkg/machinery/config/types/v1alpha1/v1alpha1_types.go>
//! and Talos' own golden file
//! <https://github.com/siderolabs/talos/blob/v1.13.9/pkg/machinery/config/types/v1alpha1/testdata/stability/v1.13/base-controlplane.yaml>,
//! with the changes the Cilium recipe asks for
//! (<https://github.com/siderolabs/talos/blob/v1.11.0/website/content/v1.11/kubernetes-guides/network/deploying-cilium.md>):
//! `cluster.network.cni.name: none`, `cluster.proxy.disabled: true`, KubePrism on
//! `localhost:7445`.
//!
//! Secrets go where Talos reads them: `machine.token` (trustd), `machine.ca` (OS CA),
//! `cluster.{id, secret, token, secretboxEncryptionSecret, ca, aggregatorCA, serviceAccount}`
//! and `cluster.etcd.ca`.
//!
//! Release notes: Talos 1.12 deprecated `machine.network.*` in favour of separate documents
//! (`HostnameConfig`, `LinkConfig`, `ResolverConfig`); the old fields are still honoured. For
//! Talos ≥ 1.12 the hostname goes into a `HostnameConfig` document (Talos refuses both at once),
//! the addresses and resolvers stay in `machine.network`, which every supported release reads.
//! Talos 1.8 is the oldest release accepted: every field written here exists from then on, and
//! Talos refuses unknown fields.
//!
//! Must not import: the framework, clients, the lab.

use std::net::IpAddr;

use serde::Serialize;

use super::secrets::{CertAndKey, KeyOnly, MachineSecrets};

/// The Kubernetes API port on control-plane nodes (`DefaultControlPlanePort`).
pub const KUBERNETES_API_PORT: u16 = 6443;

/// KubePrism's port (`DefaultKubePrismPort`): Cilium reaches the API server at
/// `localhost:7445`.
pub const KUBEPRISM_PORT: u16 = 7445;

/// The oldest Talos minor release whose configuration schema has every field written here.
pub const MIN_TALOS_MINOR: u32 = 8;

/// Why a machine configuration could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// An input field is missing or malformed.
    #[error("{field}: {reason}")]
    Invalid {
        /// The input field.
        field: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The Talos release is older than the schema written here.
    #[error("talos {0} is not supported; use v1.{MIN_TALOS_MINOR} or later")]
    UnsupportedTalos(String),
    /// The secrets bundle is not usable.
    #[error("secrets: {0}")]
    Secrets(String),
    /// The YAML could not be written.
    #[error("cannot write yaml: {0}")]
    Yaml(String),
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// One `cluster.inlineManifests` entry: Kubernetes objects Talos creates at bootstrap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InlineManifest {
    /// A name unique among the inline manifests.
    pub name: String,
    /// The objects, as a YAML stream.
    pub contents: String,
}

/// How the node finds its network link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// By kernel name (`eth0`; Talos' NoCloud images boot with `net.ifnames=0`).
    Interface(String),
    /// By hardware properties (`machine.network.interfaces[].deviceSelector`).
    Selector(DeviceSelector),
}

/// `deviceSelector`: the first link matching every set field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceSelector {
    /// PCI bus path, glob allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bus_path: Option<String>,
    /// MAC address, glob allowed (`bc:24:11:*`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardware_addr: Option<String>,
    /// Kernel driver (`virtio_net`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Only physical links.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical: Option<bool>,
}

/// The node's static address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeNetwork {
    /// Which link carries the address.
    pub link: Link,
    /// The address with its prefix length (`10.0.0.11/24`).
    pub address: String,
    /// The default gateway, if any.
    pub gateway: Option<String>,
}

/// Everything that varies between control-plane nodes and clusters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPlaneInput {
    /// `cluster.clusterName`.
    pub cluster_name: String,
    /// Host (IP address or DNS name) of the Kubernetes endpoint; the URL is
    /// `https://<endpoint>:6443`.
    pub endpoint: String,
    /// The node's hostname.
    pub hostname: String,
    /// The node's static address.
    pub network: NodeNetwork,
    /// `machine.install.disk` (`/dev/sda`, `/dev/vda`).
    pub install_disk: String,
    /// `machine.install.image`: the installer, e.g. an Image Factory
    /// `factory.talos.dev/nocloud-installer/<schematic>:<version>`.
    pub install_image: String,
    /// The Talos release the node runs (`v1.13.9`); picks release-specific fields.
    pub talos_version: String,
    /// The Kubernetes release (`v1.36.3` or `1.36.3`): kubelet and control-plane images.
    pub kubernetes_version: String,
    /// `cluster.network.podSubnets` (Talos' default is `10.244.0.0/16`).
    pub pod_subnets: Vec<String>,
    /// `cluster.network.serviceSubnets` (Talos' default is `10.96.0.0/12`).
    pub service_subnets: Vec<String>,
    /// `machine.network.nameservers`; empty leaves Talos' defaults.
    pub nameservers: Vec<String>,
    /// Extra names and addresses for the API server and apid certificates.
    pub cert_sans: Vec<String>,
    /// `cluster.inlineManifests`, applied in order.
    pub inline_manifests: Vec<InlineManifest>,
    /// `cluster.extraManifests`: URLs Talos fetches and applies at bootstrap.
    pub extra_manifests: Vec<String>,
}

/// `https://<host>:6443`, with brackets around an IPv6 address.
pub fn control_plane_url(host: &str) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("https://[{v6}]:{KUBERNETES_API_PORT}"),
        _ => format!("https://{host}:{KUBERNETES_API_PORT}"),
    }
}

/// Renders a control-plane node's machine configuration: the v1alpha1 document and, for
/// Talos ≥ 1.12, a `HostnameConfig` document.
pub fn controlplane_config(
    secrets: &MachineSecrets,
    input: &ControlPlaneInput,
) -> Result<String, ConfigError> {
    secrets
        .validate()
        .map_err(|e| ConfigError::Secrets(e.to_string()))?;
    let talos_minor = validate(input)?;
    let hostname_document = talos_minor >= 12;
    let k8s = k8s_tag(&input.kubernetes_version);
    let node_ip = input
        .network
        .address
        .split_once('/')
        .map(|(ip, _)| ip.to_string())
        .unwrap_or_default();

    let mut cert_sans = vec![input.endpoint.clone(), node_ip];
    for s in &input.cert_sans {
        if !cert_sans.contains(s) {
            cert_sans.push(s.clone());
        }
    }

    let (interface, device_selector) = match &input.network.link {
        Link::Interface(name) => (Some(name.clone()), None),
        Link::Selector(sel) => (None, Some(sel.clone())),
    };

    let doc = V1Alpha1 {
        version: "v1alpha1",
        debug: false,
        persist: true,
        machine: Machine {
            machine_type: "controlplane",
            token: secrets.trustd_info.token.clone(),
            ca: secrets.certs.os.clone(),
            cert_sans: cert_sans.clone(),
            kubelet: Kubelet {
                image: format!("ghcr.io/siderolabs/kubelet:{k8s}"),
                default_runtime_seccomp_profile_enabled: true,
                disable_manifests_directory: true,
            },
            network: Network {
                hostname: (!hostname_document).then(|| input.hostname.clone()),
                interfaces: vec![Device {
                    interface,
                    device_selector,
                    addresses: vec![input.network.address.clone()],
                    routes: input
                        .network
                        .gateway
                        .iter()
                        .map(|gw| Route {
                            network: default_route(gw),
                            gateway: gw.clone(),
                        })
                        .collect(),
                    dhcp: false,
                }],
                nameservers: input.nameservers.clone(),
            },
            install: Install {
                disk: input.install_disk.clone(),
                image: input.install_image.clone(),
                wipe: false,
            },
            features: Features {
                rbac: true,
                apid_check_ext_key_usage: true,
                disk_quota_support: true,
                kube_prism: KubePrism {
                    enabled: true,
                    port: KUBEPRISM_PORT,
                },
                host_dns: HostDns {
                    enabled: true,
                    forward_kube_dns_to_host: true,
                },
            },
            node_labels: NodeLabels {
                exclude_from_external_load_balancers: "",
            },
        },
        cluster: Cluster {
            id: secrets.cluster.id.clone(),
            secret: secrets.cluster.secret.clone(),
            control_plane: ControlPlane {
                endpoint: control_plane_url(&input.endpoint),
            },
            cluster_name: input.cluster_name.clone(),
            network: ClusterNetwork {
                dns_domain: "cluster.local",
                pod_subnets: input.pod_subnets.clone(),
                service_subnets: input.service_subnets.clone(),
                cni: Cni { name: "none" },
            },
            token: secrets.secrets.bootstrap_token.clone(),
            secretbox_encryption_secret: secrets.secrets.secretbox_encryption_secret.clone(),
            aescbc_encryption_secret: secrets.secrets.aescbc_encryption_secret.clone(),
            ca: secrets.certs.k8s.clone(),
            aggregator_ca: secrets.certs.k8s_aggregator.clone(),
            service_account: secrets.certs.k8s_service_account.clone(),
            api_server: ApiServer {
                image: format!("registry.k8s.io/kube-apiserver:{k8s}"),
                cert_sans,
                admission_control: vec![pod_security()],
                audit_policy: AuditPolicy {
                    api_version: "audit.k8s.io/v1",
                    kind: "Policy",
                    rules: vec![AuditRule { level: "Metadata" }],
                },
            },
            controller_manager: Image {
                image: format!("registry.k8s.io/kube-controller-manager:{k8s}"),
            },
            proxy: Proxy { disabled: true },
            scheduler: Image {
                image: format!("registry.k8s.io/kube-scheduler:{k8s}"),
            },
            discovery: Discovery {
                enabled: true,
                registries: Registries {
                    kubernetes: Disabled { disabled: true },
                    service: Empty {},
                },
            },
            etcd: Etcd {
                ca: secrets.certs.etcd.clone(),
            },
            extra_manifests: input.extra_manifests.clone(),
            inline_manifests: input.inline_manifests.clone(),
            allow_scheduling_on_control_planes: true,
        },
    };
    let mut out = serde_norway::to_string(&doc).map_err(|e| ConfigError::Yaml(e.to_string()))?;
    if hostname_document {
        let h = HostnameConfig {
            api_version: "v1alpha1",
            kind: "HostnameConfig",
            hostname: input.hostname.clone(),
        };
        out.push_str("---\n");
        out.push_str(&serde_norway::to_string(&h).map_err(|e| ConfigError::Yaml(e.to_string()))?);
    }
    Ok(out)
}

/// `v1.36.3` from `1.36.3` or `v1.36.3`.
fn k8s_tag(v: &str) -> String {
    format!("v{}", v.trim_start_matches('v'))
}

fn default_route(gateway: &str) -> String {
    if gateway.contains(':') {
        "::/0".into()
    } else {
        "0.0.0.0/0".into()
    }
}

/// The PodSecurity admission defaults `talosctl gen config` writes: enforce `baseline`, audit
/// and warn `restricted`, `kube-system` exempt.
fn pod_security() -> AdmissionPlugin {
    AdmissionPlugin {
        name: "PodSecurity",
        configuration: PodSecurityConfiguration {
            api_version: "pod-security.admission.config.k8s.io/v1alpha1",
            kind: "PodSecurityConfiguration",
            defaults: PodSecurityDefaults {
                audit: "restricted",
                audit_version: "latest",
                enforce: "baseline",
                enforce_version: "latest",
                warn: "restricted",
                warn_version: "latest",
            },
            exemptions: PodSecurityExemptions {
                namespaces: vec!["kube-system"],
                runtime_classes: vec![],
                usernames: vec![],
            },
        },
    }
}

/// `(major, minor)` of `v1.13.9` / `1.13`.
fn parse_minor(v: &str) -> Option<(u32, u32)> {
    let mut parts = v.trim_start_matches('v').split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    if let Some(patch) = parts.next() {
        // `9`, or `0-beta.1`.
        let digits = patch.split('-').next()?;
        digits.parse::<u32>().ok()?;
    }
    Some((major, minor))
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, len)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    len.parse::<u8>().is_ok_and(|l| l <= max)
}

/// A DNS-1123 label: what a hostname's first label and a cluster name must be.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_hostname(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Checks the input; returns the Talos minor version.
fn validate(i: &ControlPlaneInput) -> Result<u32, ConfigError> {
    let (major, minor) = parse_minor(&i.talos_version).ok_or_else(|| {
        invalid(
            "talos_version",
            format!("{:?} is not a version like v1.13.9", i.talos_version),
        )
    })?;
    if major != 1 || minor < MIN_TALOS_MINOR {
        return Err(ConfigError::UnsupportedTalos(i.talos_version.clone()));
    }
    if parse_minor(&i.kubernetes_version).is_none_or(|(m, _)| m != 1) {
        return Err(invalid(
            "kubernetes_version",
            format!("{:?} is not a version like v1.36.3", i.kubernetes_version),
        ));
    }
    if !is_dns_label(&i.cluster_name) {
        return Err(invalid(
            "cluster_name",
            "must be lower-case letters, digits and '-', at most 63 characters",
        ));
    }
    if !(is_hostname(&i.endpoint) || i.endpoint.parse::<IpAddr>().is_ok()) {
        return Err(invalid(
            "endpoint",
            format!("{:?} is neither an IP address nor a DNS name", i.endpoint),
        ));
    }
    if !is_hostname(&i.hostname) {
        return Err(invalid(
            "hostname",
            format!("{:?} is not a valid hostname", i.hostname),
        ));
    }
    if !is_cidr(&i.network.address) {
        return Err(invalid(
            "network.address",
            format!(
                "{:?} is not an address with a prefix length, like 10.0.0.11/24",
                i.network.address
            ),
        ));
    }
    if let Some(gw) = &i.network.gateway {
        if gw.parse::<IpAddr>().is_err() {
            return Err(invalid(
                "network.gateway",
                format!("{gw:?} is not an IP address"),
            ));
        }
    }
    match &i.network.link {
        Link::Interface(name) if name.is_empty() => {
            return Err(invalid("network.link", "the interface name is empty"))
        }
        Link::Selector(s) if *s == DeviceSelector::default() => {
            return Err(invalid(
                "network.link",
                "the device selector matches nothing in particular; set at least one field",
            ))
        }
        _ => {}
    }
    if let Some(ns) = i.nameservers.iter().find(|n| n.parse::<IpAddr>().is_err()) {
        return Err(invalid(
            "nameservers",
            format!("{ns:?} is not an IP address"),
        ));
    }
    for (field, subnets) in [
        ("pod_subnets", &i.pod_subnets),
        ("service_subnets", &i.service_subnets),
    ] {
        if subnets.is_empty() {
            return Err(invalid(field, "at least one subnet is required"));
        }
        if let Some(s) = subnets.iter().find(|s| !is_cidr(s)) {
            return Err(invalid(field, format!("{s:?} is not a CIDR")));
        }
    }
    if !i.install_disk.starts_with("/dev/") {
        return Err(invalid(
            "install_disk",
            format!("{:?} is not a device path under /dev/", i.install_disk),
        ));
    }
    if i.install_image.is_empty() || i.install_image.contains(char::is_whitespace) {
        return Err(invalid("install_image", "must be an image reference"));
    }
    let mut names = std::collections::BTreeSet::new();
    for m in &i.inline_manifests {
        if m.name.is_empty() {
            return Err(invalid("inline_manifests", "a manifest has no name"));
        }
        if !names.insert(m.name.as_str()) {
            return Err(invalid(
                "inline_manifests",
                format!("the name {:?} is used twice", m.name),
            ));
        }
    }
    if let Some(u) = i
        .extra_manifests
        .iter()
        .find(|u| !(u.starts_with("https://") || u.starts_with("http://")))
    {
        return Err(invalid(
            "extra_manifests",
            format!("{u:?} is not an http(s) URL"),
        ));
    }
    Ok(minor)
}

// ---------- the v1alpha1 document, in `talosctl gen config` order ----------

#[derive(Serialize)]
struct V1Alpha1 {
    version: &'static str,
    debug: bool,
    persist: bool,
    machine: Machine,
    cluster: Cluster,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Machine {
    #[serde(rename = "type")]
    machine_type: &'static str,
    token: String,
    ca: CertAndKey,
    #[serde(rename = "certSANs")]
    cert_sans: Vec<String>,
    kubelet: Kubelet,
    network: Network,
    install: Install,
    features: Features,
    node_labels: NodeLabels,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Kubelet {
    image: String,
    default_runtime_seccomp_profile_enabled: bool,
    disable_manifests_directory: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Network {
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
    interfaces: Vec<Device>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    nameservers: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Device {
    #[serde(skip_serializing_if = "Option::is_none")]
    interface: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_selector: Option<DeviceSelector>,
    addresses: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<Route>,
    dhcp: bool,
}

#[derive(Serialize)]
struct Route {
    network: String,
    gateway: String,
}

#[derive(Serialize)]
struct Install {
    disk: String,
    image: String,
    wipe: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Features {
    rbac: bool,
    apid_check_ext_key_usage: bool,
    disk_quota_support: bool,
    kube_prism: KubePrism,
    #[serde(rename = "hostDNS")]
    host_dns: HostDns,
}

#[derive(Serialize)]
struct KubePrism {
    enabled: bool,
    port: u16,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HostDns {
    enabled: bool,
    #[serde(rename = "forwardKubeDNSToHost")]
    forward_kube_dns_to_host: bool,
}

#[derive(Serialize)]
struct NodeLabels {
    #[serde(rename = "node.kubernetes.io/exclude-from-external-load-balancers")]
    exclude_from_external_load_balancers: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Cluster {
    id: String,
    secret: String,
    control_plane: ControlPlane,
    cluster_name: String,
    network: ClusterNetwork,
    token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    secretbox_encryption_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aescbc_encryption_secret: Option<String>,
    ca: CertAndKey,
    #[serde(rename = "aggregatorCA")]
    aggregator_ca: CertAndKey,
    service_account: KeyOnly,
    api_server: ApiServer,
    controller_manager: Image,
    proxy: Proxy,
    scheduler: Image,
    discovery: Discovery,
    etcd: Etcd,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    extra_manifests: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    inline_manifests: Vec<InlineManifest>,
    allow_scheduling_on_control_planes: bool,
}

#[derive(Serialize)]
struct ControlPlane {
    endpoint: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClusterNetwork {
    dns_domain: &'static str,
    pod_subnets: Vec<String>,
    service_subnets: Vec<String>,
    cni: Cni,
}

#[derive(Serialize)]
struct Cni {
    name: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiServer {
    image: String,
    #[serde(rename = "certSANs")]
    cert_sans: Vec<String>,
    admission_control: Vec<AdmissionPlugin>,
    audit_policy: AuditPolicy,
}

#[derive(Serialize)]
struct AdmissionPlugin {
    name: &'static str,
    configuration: PodSecurityConfiguration,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PodSecurityConfiguration {
    api_version: &'static str,
    kind: &'static str,
    defaults: PodSecurityDefaults,
    exemptions: PodSecurityExemptions,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct PodSecurityDefaults {
    audit: &'static str,
    audit_version: &'static str,
    enforce: &'static str,
    enforce_version: &'static str,
    warn: &'static str,
    warn_version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PodSecurityExemptions {
    namespaces: Vec<&'static str>,
    runtime_classes: Vec<&'static str>,
    usernames: Vec<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditPolicy {
    api_version: &'static str,
    kind: &'static str,
    rules: Vec<AuditRule>,
}

#[derive(Serialize)]
struct AuditRule {
    level: &'static str,
}

#[derive(Serialize)]
struct Image {
    image: String,
}

#[derive(Serialize)]
struct Proxy {
    disabled: bool,
}

#[derive(Serialize)]
struct Discovery {
    enabled: bool,
    registries: Registries,
}

#[derive(Serialize)]
struct Registries {
    kubernetes: Disabled,
    service: Empty,
}

#[derive(Serialize)]
struct Disabled {
    disabled: bool,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct Etcd {
    ca: CertAndKey,
}

/// `HostnameConfig` (Talos ≥ 1.12):
/// <https://github.com/siderolabs/talos/blob/v1.13.9/pkg/machinery/config/types/network/hostname.go>.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HostnameConfig {
    api_version: &'static str,
    kind: &'static str,
    hostname: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde_json::{json, Value};

    fn input() -> ControlPlaneInput {
        ControlPlaneInput {
            cluster_name: "home".into(),
            endpoint: "10.0.0.10".into(),
            hostname: "cp-1".into(),
            network: NodeNetwork {
                link: Link::Interface("eth0".into()),
                address: "10.0.0.11/24".into(),
                gateway: Some("10.0.0.1".into()),
            },
            install_disk: "/dev/sda".into(),
            install_image: "factory.talos.dev/nocloud-installer/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba:v1.13.9".into(),
            talos_version: "v1.13.9".into(),
            kubernetes_version: "1.36.3".into(),
            pod_subnets: vec!["10.244.0.0/16".into()],
            service_subnets: vec!["10.96.0.0/12".into()],
            nameservers: vec!["1.1.1.1".into(), "9.9.9.9".into()],
            cert_sans: vec!["k8s.example.org".into()],
            inline_manifests: vec![InlineManifest {
                name: "cilium".into(),
                contents: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n".into(),
            }],
            extra_manifests: vec!["https://example.org/a.yaml".into()],
        }
    }

    /// Every document of the rendered stream.
    fn docs(yaml: &str) -> Vec<Value> {
        yaml.split("\n---\n")
            .map(|d| serde_norway::from_str(d).expect("document parses"))
            .collect()
    }

    fn unb64(v: &Value) -> String {
        String::from_utf8(STANDARD.decode(v.as_str().expect("string")).expect("b64")).expect("utf8")
    }

    #[test]
    fn the_config_parses_and_carries_the_cilium_recipe() {
        let s = MachineSecrets::generate().expect("secrets");
        let yaml = controlplane_config(&s, &input()).expect("config");
        let d = docs(&yaml);
        let v = &d[0];
        let cases: Vec<(&str, &str, Value)> = vec![
            ("version", "/version", json!("v1alpha1")),
            ("controlplane", "/machine/type", json!("controlplane")),
            ("cni none", "/cluster/network/cni/name", json!("none")),
            ("proxy disabled", "/cluster/proxy/disabled", json!(true)),
            (
                "kubePrism on",
                "/machine/features/kubePrism/enabled",
                json!(true),
            ),
            (
                "kubePrism port",
                "/machine/features/kubePrism/port",
                json!(7445),
            ),
            (
                "pod cidr",
                "/cluster/network/podSubnets",
                json!(["10.244.0.0/16"]),
            ),
            (
                "service cidr",
                "/cluster/network/serviceSubnets",
                json!(["10.96.0.0/12"]),
            ),
            (
                "endpoint",
                "/cluster/controlPlane/endpoint",
                json!("https://10.0.0.10:6443"),
            ),
            ("cluster name", "/cluster/clusterName", json!("home")),
            (
                "scheduling",
                "/cluster/allowSchedulingOnControlPlanes",
                json!(true),
            ),
            (
                "kubelet",
                "/machine/kubelet/image",
                json!("ghcr.io/siderolabs/kubelet:v1.36.3"),
            ),
            (
                "apiserver",
                "/cluster/apiServer/image",
                json!("registry.k8s.io/kube-apiserver:v1.36.3"),
            ),
            ("install disk", "/machine/install/disk", json!("/dev/sda")),
            (
                "address",
                "/machine/network/interfaces/0/addresses",
                json!(["10.0.0.11/24"]),
            ),
            (
                "interface",
                "/machine/network/interfaces/0/interface",
                json!("eth0"),
            ),
            (
                "route",
                "/machine/network/interfaces/0/routes/0",
                json!({"network": "0.0.0.0/0", "gateway": "10.0.0.1"}),
            ),
            (
                "nameservers",
                "/machine/network/nameservers",
                json!(["1.1.1.1", "9.9.9.9"]),
            ),
            (
                "ext key usage check",
                "/machine/features/apidCheckExtKeyUsage",
                json!(true),
            ),
            (
                "extra manifests",
                "/cluster/extraManifests",
                json!(["https://example.org/a.yaml"]),
            ),
            (
                "inline manifest",
                "/cluster/inlineManifests/0/name",
                json!("cilium"),
            ),
            (
                "api SANs",
                "/cluster/apiServer/certSANs",
                json!(["10.0.0.10", "10.0.0.11", "k8s.example.org"]),
            ),
        ];
        for (name, path, want) in cases {
            assert_eq!(v.pointer(path), Some(&want), "{name} at {path}");
        }
        assert_eq!(
            d[1],
            json!({"apiVersion": "v1alpha1", "kind": "HostnameConfig", "hostname": "cp-1"}),
            "Talos 1.13 takes the hostname as a document"
        );
        assert!(
            v.pointer("/machine/network/hostname").is_none(),
            "not twice"
        );
    }

    #[test]
    fn secrets_land_where_talos_reads_them() {
        let s = MachineSecrets::generate().expect("secrets");
        let v = &docs(&controlplane_config(&s, &input()).expect("config"))[0];
        let strings = [
            ("/machine/token", s.trustd_info.token.clone()),
            ("/cluster/token", s.secrets.bootstrap_token.clone()),
            ("/cluster/id", s.cluster.id.clone()),
            ("/cluster/secret", s.cluster.secret.clone()),
            (
                "/cluster/secretboxEncryptionSecret",
                s.secrets.secretbox_encryption_secret.clone().expect("sb"),
            ),
        ];
        for (path, want) in strings {
            assert_eq!(v.pointer(path), Some(&json!(want)), "{path}");
        }
        let pems = [
            ("/machine/ca/crt", &s.certs.os.crt),
            ("/machine/ca/key", &s.certs.os.key),
            ("/cluster/ca/crt", &s.certs.k8s.crt),
            ("/cluster/ca/key", &s.certs.k8s.key),
            ("/cluster/aggregatorCA/crt", &s.certs.k8s_aggregator.crt),
            ("/cluster/aggregatorCA/key", &s.certs.k8s_aggregator.key),
            (
                "/cluster/serviceAccount/key",
                &s.certs.k8s_service_account.key,
            ),
            ("/cluster/etcd/ca/crt", &s.certs.etcd.crt),
            ("/cluster/etcd/ca/key", &s.certs.etcd.key),
        ];
        for (path, want) in pems {
            assert_eq!(&unb64(v.pointer(path).expect(path)), want, "{path}");
        }
    }

    #[test]
    fn release_and_link_variants() {
        let s = MachineSecrets::generate().expect("secrets");
        let mut old = input();
        old.talos_version = "v1.11.5".into();
        old.network.link = Link::Selector(DeviceSelector {
            hardware_addr: Some("bc:24:11:*".into()),
            driver: Some("virtio_net".into()),
            ..DeviceSelector::default()
        });
        old.network.gateway = None;
        old.nameservers.clear();
        let d = docs(&controlplane_config(&s, &old).expect("config"));
        assert_eq!(d.len(), 1, "no HostnameConfig before Talos 1.12");
        let v = &d[0];
        assert_eq!(v.pointer("/machine/network/hostname"), Some(&json!("cp-1")));
        let dev = v.pointer("/machine/network/interfaces/0").expect("device");
        assert_eq!(
            dev["deviceSelector"],
            json!({"hardwareAddr": "bc:24:11:*", "driver": "virtio_net"})
        );
        assert!(dev.get("interface").is_none() && dev.get("routes").is_none());
        assert!(v.pointer("/machine/network/nameservers").is_none());
    }

    #[test]
    fn bad_inputs_are_refused_with_the_field_named() {
        let s = MachineSecrets::generate().expect("secrets");
        type Edit = fn(&mut ControlPlaneInput);
        let cases: Vec<(&str, Edit, &str)> = vec![
            (
                "old talos",
                |i| i.talos_version = "v1.7.6".into(),
                "not supported",
            ),
            (
                "talos 2",
                |i| i.talos_version = "v2.0.0".into(),
                "not supported",
            ),
            (
                "bad talos",
                |i| i.talos_version = "latest".into(),
                "talos_version",
            ),
            (
                "bad k8s",
                |i| i.kubernetes_version = "x".into(),
                "kubernetes_version",
            ),
            (
                "cluster name",
                |i| i.cluster_name = "Home Lab".into(),
                "cluster_name",
            ),
            (
                "endpoint",
                |i| i.endpoint = "https://x:6443".into(),
                "endpoint",
            ),
            ("hostname", |i| i.hostname = "cp_1".into(), "hostname"),
            (
                "address without prefix",
                |i| i.network.address = "10.0.0.11".into(),
                "network.address",
            ),
            (
                "prefix too long",
                |i| i.network.address = "10.0.0.11/33".into(),
                "network.address",
            ),
            (
                "gateway",
                |i| i.network.gateway = Some("gw".into()),
                "network.gateway",
            ),
            (
                "empty selector",
                |i| i.network.link = Link::Selector(DeviceSelector::default()),
                "network.link",
            ),
            (
                "nameserver",
                |i| i.nameservers = vec!["dns.google".into()],
                "nameservers",
            ),
            ("no pods", |i| i.pod_subnets.clear(), "pod_subnets"),
            (
                "bad service cidr",
                |i| i.service_subnets = vec!["10.96.0.0".into()],
                "service_subnets",
            ),
            ("disk", |i| i.install_disk = "sda".into(), "install_disk"),
            (
                "image",
                |i| i.install_image = String::new(),
                "install_image",
            ),
            (
                "duplicate manifest",
                |i| {
                    let m = i.inline_manifests[0].clone();
                    i.inline_manifests.push(m);
                },
                "inline_manifests",
            ),
            (
                "extra manifest",
                |i| i.extra_manifests = vec!["ftp://x".into()],
                "extra_manifests",
            ),
        ];
        for (name, edit, want) in cases {
            let mut i = input();
            edit(&mut i);
            let err = controlplane_config(&s, &i).expect_err(name).to_string();
            assert!(err.contains(want), "{name}: {err}");
        }
        let mut broken = s.clone();
        broken.trustd_info.token = "x".into();
        assert!(matches!(
            controlplane_config(&broken, &input()),
            Err(ConfigError::Secrets(_))
        ));
    }

    #[test]
    fn control_plane_urls() {
        let cases = [
            ("ipv4", "10.0.0.10", "https://10.0.0.10:6443"),
            ("name", "cp.example.org", "https://cp.example.org:6443"),
            ("ipv6", "fd00::1", "https://[fd00::1]:6443"),
        ];
        for (name, host, want) in cases {
            assert_eq!(control_plane_url(host), want, "{name}");
        }
    }
}
