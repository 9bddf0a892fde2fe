//! The part of a Talos machine configuration the lab reads.
//!
//! Format facts: research §B.5 and siderolabs/talos
//! `pkg/machinery/config/types/v1alpha1/v1alpha1_types.go` (YAML keys);
//! the v1alpha1 document is the one with `version: v1alpha1`, other documents carry
//! `apiVersion` + `kind` (`configloader/internal/decoder/decoder.go`: "missing kind").
//! Validation texts: `v1alpha1_validation.go` (v1.13.9), joined the way hashicorp
//! go-multierror prints them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use base64::Engine as _;
use serde_json::Value;

/// Machine role (`machine.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MachineType {
    /// `controlplane` (or the legacy `init`).
    ControlPlane,
    /// `worker`.
    Worker,
}

/// The fields of a machine configuration the lab acts on.
#[derive(Debug, Clone)]
pub(crate) struct MachineConfig {
    /// The YAML as received.
    pub raw: String,
    pub machine_type: MachineType,
    /// `machine.ca.crt` (PEM).
    pub os_ca_crt: String,
    /// `machine.ca.key` (PEM), control plane only.
    pub os_ca_key: Option<String>,
    /// `machine.certSANs`.
    pub cert_sans: Vec<String>,
    /// `machine.network.hostname` or a `HostnameConfig` document's `hostname`.
    pub hostname: Option<String>,
    /// Static IPv4 addresses from `machine.network.interfaces[].addresses` and `LinkConfig`.
    pub static_addresses: Vec<Ipv4Addr>,
    /// `machine.nodeLabels`.
    pub node_labels: BTreeMap<String, String>,
    /// `machine.kubelet.image` tag, e.g. `v1.36.3`.
    pub kubelet_version: Option<String>,
    /// `cluster.clusterName`.
    pub cluster_name: String,
    /// `cluster.controlPlane.endpoint` as written.
    pub endpoint: String,
    /// Host part of the endpoint.
    pub endpoint_host: String,
    /// Port of the endpoint (6443 when absent).
    pub endpoint_port: u16,
    /// `cluster.ca.crt` (PEM).
    pub k8s_ca_crt: Option<String>,
    /// `cluster.ca.key` (PEM).
    pub k8s_ca_key: Option<String>,
    /// `cluster.network.cni.name` (`flannel` by default).
    pub cni_name: String,
    /// `cluster.network.cni.urls` (for `custom`).
    pub cni_urls: Vec<String>,
    /// `cluster.proxy.disabled`.
    pub proxy_disabled: bool,
    /// `cluster.coreDNS.disabled`.
    pub coredns_disabled: bool,
    /// `cluster.allowSchedulingOnControlPlanes`.
    pub allow_scheduling_on_cp: bool,
    /// `cluster.apiServer.certSANs`.
    pub apiserver_cert_sans: Vec<String>,
    /// `cluster.inlineManifests[]` as (name, contents).
    pub inline_manifests: Vec<(String, String)>,
    /// `cluster.extraManifests[]` URLs.
    pub extra_manifests: Vec<String>,
    /// `cluster.extraManifestHeaders`.
    pub extra_manifest_headers: Vec<(String, String)>,
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ConfigError {
    /// Not YAML, or no document at all (Talos: decoder or "config not found").
    Parse(String),
    /// Decoded, but failed validation (the go-multierror text).
    Invalid(String),
}

impl ConfigError {
    pub(crate) fn message(&self) -> &str {
        match self {
            ConfigError::Parse(m) | ConfigError::Invalid(m) => m,
        }
    }
}

/// Splits a YAML stream into JSON values (empty documents dropped).
pub(crate) fn yaml_documents(text: &str) -> Result<Vec<Value>, String> {
    use serde::Deserialize as _;
    let mut out = Vec::new();
    for doc in serde_norway::Deserializer::from_str(text) {
        let v = Value::deserialize(doc).map_err(|e| e.to_string())?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// go-multierror's rendering of a list of errors.
fn multierror(errs: &[String]) -> String {
    let head = if errs.len() == 1 {
        "1 error occurred:".to_string()
    } else {
        format!("{} errors occurred:", errs.len())
    };
    let mut s = head;
    for e in errs {
        s.push_str("\n\t* ");
        s.push_str(e);
    }
    s.push_str("\n\n");
    s
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

pub(crate) fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    Some(cur)
}

fn strings_at(v: &Value, path: &[&str]) -> Vec<String> {
    at(v, path)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Decodes a `crt`/`key` field: base64 of a PEM block (secrets bundle convention, §B.4).
fn pem_field(v: &Value, path: &[&str]) -> Option<String> {
    let s = str_at(v, path)?.trim();
    if s.is_empty() {
        return None;
    }
    if s.starts_with("-----BEGIN") {
        return Some(s.to_string());
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    String::from_utf8(bytes).ok()
}

fn ipv4_of_cidr(s: &str) -> Option<Ipv4Addr> {
    s.split('/').next()?.trim().parse().ok()
}

/// Splits `https://host:port/path` into host and port (6443 default, research §B.3).
pub(crate) fn split_endpoint(url: &str) -> Option<(String, u16)> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split('/').next()?;
    if authority.is_empty() {
        return None;
    }
    if let Some(stripped) = authority.strip_prefix('[') {
        let (host, tail) = stripped.split_once(']')?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => 6443,
        };
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((authority.to_string(), 6443)),
    }
}

impl MachineConfig {
    /// Parses and validates `text` the way Talos does before accepting it.
    pub(crate) fn parse(text: &str) -> Result<MachineConfig, ConfigError> {
        let docs = yaml_documents(text).map_err(ConfigError::Parse)?;
        if docs.is_empty() {
            // configloader.ErrNoConfig
            return Err(ConfigError::Parse("config not found".into()));
        }
        let mut v1: Option<&Value> = None;
        let mut hostname_doc: Option<String> = None;
        let mut link_addrs = Vec::new();
        for d in &docs {
            if !d.is_object() {
                return Err(ConfigError::Parse("missing kind".into()));
            }
            if d.get("version").and_then(Value::as_str) == Some("v1alpha1")
                && d.get("kind").is_none()
            {
                v1 = Some(d);
                continue;
            }
            if d.get("apiVersion").is_none() {
                return Err(ConfigError::Parse("missing apiVersion".into()));
            }
            match d.get("kind").and_then(Value::as_str) {
                None => return Err(ConfigError::Parse("missing kind".into())),
                Some("HostnameConfig") => {
                    if let Some(h) = d.get("hostname").and_then(Value::as_str) {
                        hostname_doc = Some(h.to_string());
                    }
                }
                Some("LinkConfig") => {
                    if let Some(addrs) = d.get("addresses").and_then(Value::as_array) {
                        link_addrs.extend(
                            addrs
                                .iter()
                                .filter_map(|a| a.get("address")?.as_str())
                                .filter_map(ipv4_of_cidr),
                        );
                    }
                }
                Some(_) => {}
            }
        }
        let Some(v) = v1 else {
            // The lab needs the v1alpha1 document; Talos says the same outside maintenance
            // (v1alpha1_server.go ApplyConfiguration).
            return Err(ConfigError::Invalid(
                "the applied machine configuration doesn't contain v1alpha1 config, did you mean to patch the machine config instead?".into(),
            ));
        };

        let mut errs = Vec::new();
        let machine = v.get("machine").filter(|m| m.is_object());
        if machine.is_none() {
            errs.push("machine instructions are required".to_string());
        }
        let machine_type = match str_at(v, &["machine", "type"]).unwrap_or("") {
            "controlplane" | "init" => Some(MachineType::ControlPlane),
            "worker" => Some(MachineType::Worker),
            other => {
                if machine.is_some() {
                    errs.push(format!("unknown machine type {other:?}"));
                }
                None
            }
        };
        let os_ca_crt = pem_field(v, &["machine", "ca", "crt"]);
        let os_ca_key = pem_field(v, &["machine", "ca", "key"]);
        if machine.is_some() {
            if os_ca_crt.is_none() {
                errs.push("issuing CA is required (.machine.ca)".into());
            } else if machine_type == Some(MachineType::ControlPlane) && os_ca_key.is_none() {
                errs.push(
                    "issuing CA key is required for controlplane nodes (.machine.ca.key)".into(),
                );
            } else if machine_type == Some(MachineType::Worker) && os_ca_key.is_some() {
                errs.push("issuing Talos API CA key is not allowed on non-controlplane nodes (.machine.ca)".into());
            }
        }
        let k8s_ca_key = pem_field(v, &["cluster", "ca", "key"]);
        if machine_type == Some(MachineType::Worker) && k8s_ca_key.is_some() {
            errs.push("issuing Kubernetes API CA key is not allowed on non-controlplane nodes (.cluster.ca)".into());
        }
        let cluster = v.get("cluster").filter(|c| c.is_object());
        let endpoint = str_at(v, &["cluster", "controlPlane", "endpoint"])
            .unwrap_or("")
            .to_string();
        let mut endpoint_parts = None;
        if cluster.is_none() {
            errs.push("cluster instructions are required".into());
        } else if endpoint.is_empty() {
            errs.push("cluster controlplane endpoint is required".into());
        } else {
            endpoint_parts = split_endpoint(&endpoint);
            if endpoint_parts.is_none() {
                errs.push(format!(
                    "invalid controlplane endpoint: invalid URI {endpoint:?}"
                ));
            }
        }
        let (Some(machine_type), Some(os_ca_crt), Some((endpoint_host, endpoint_port)), true) =
            (machine_type, os_ca_crt, endpoint_parts, errs.is_empty())
        else {
            return Err(ConfigError::Invalid(multierror(&errs)));
        };

        let mut static_addresses: Vec<Ipv4Addr> = at(v, &["machine", "network", "interfaces"])
            .and_then(Value::as_array)
            .map(|ifs| {
                ifs.iter()
                    .flat_map(|i| {
                        i.get("addresses")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default()
                    })
                    .filter_map(|a| a.as_str().and_then(ipv4_of_cidr))
                    .collect()
            })
            .unwrap_or_default();
        static_addresses.extend(link_addrs);

        let node_labels = at(v, &["machine", "nodeLabels"])
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let kubelet_version = str_at(v, &["machine", "kubelet", "image"])
            .and_then(|img| img.rsplit_once(':'))
            .map(|(_, tag)| tag.to_string())
            .filter(|t| t.starts_with('v'));
        let inline_manifests = at(v, &["cluster", "inlineManifests"])
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|m| {
                        (
                            m.get("name")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                            m.get("contents")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let extra_manifest_headers = at(v, &["cluster", "extraManifestHeaders"])
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let bool_at = |path: &[&str]| at(v, path).and_then(Value::as_bool).unwrap_or(false);

        Ok(MachineConfig {
            raw: text.to_string(),
            machine_type,
            os_ca_crt,
            os_ca_key,
            cert_sans: strings_at(v, &["machine", "certSANs"]),
            hostname: str_at(v, &["machine", "network", "hostname"])
                .map(str::to_string)
                .or(hostname_doc),
            static_addresses,
            node_labels,
            kubelet_version,
            cluster_name: str_at(v, &["cluster", "clusterName"])
                .unwrap_or("")
                .to_string(),
            endpoint,
            endpoint_host,
            endpoint_port,
            k8s_ca_crt: pem_field(v, &["cluster", "ca", "crt"]),
            k8s_ca_key,
            cni_name: str_at(v, &["cluster", "network", "cni", "name"])
                .unwrap_or("flannel")
                .to_string(),
            cni_urls: strings_at(v, &["cluster", "network", "cni", "urls"]),
            proxy_disabled: bool_at(&["cluster", "proxy", "disabled"]),
            coredns_disabled: bool_at(&["cluster", "coreDNS", "disabled"]),
            allow_scheduling_on_cp: bool_at(&["cluster", "allowSchedulingOnControlPlanes"]),
            apiserver_cert_sans: strings_at(v, &["cluster", "apiServer", "certSANs"]),
            inline_manifests,
            extra_manifests: strings_at(v, &["cluster", "extraManifests"]),
            extra_manifest_headers,
        })
    }

    /// The first static address in 127.0.0.0/8, if any.
    pub(crate) fn loopback_address(&self) -> Option<Ipv4Addr> {
        self.static_addresses
            .iter()
            .copied()
            .find(Ipv4Addr::is_loopback)
    }

    /// The Kubernetes endpoint as a loopback socket address, if it is one.
    pub(crate) fn endpoint_addr(&self) -> Option<std::net::SocketAddr> {
        let ip: Ipv4Addr = self.endpoint_host.parse().ok()?;
        ip.is_loopback()
            .then_some(std::net::SocketAddr::from((ip, self.endpoint_port)))
    }
}

/// Static IPv4 addresses from NoCloud `network-config` (v1 `subnets[].address`, v2
/// `ethernets.*.addresses`), research §B.6.
pub(crate) fn network_config_addresses(text: &str) -> Vec<Ipv4Addr> {
    let Ok(docs) = yaml_documents(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for d in docs {
        let d = d.get("network").cloned().unwrap_or(d);
        if let Some(cfg) = d.get("config").and_then(Value::as_array) {
            for iface in cfg {
                for sn in iface
                    .get("subnets")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(a) = sn
                        .get("address")
                        .and_then(Value::as_str)
                        .and_then(ipv4_of_cidr)
                    {
                        out.push(a);
                    }
                }
            }
        }
        if let Some(eths) = d.get("ethernets").and_then(Value::as_object) {
            for e in eths.values() {
                for a in e
                    .get("addresses")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(a) = a.as_str().and_then(ipv4_of_cidr) {
                        out.push(a);
                    }
                }
            }
        }
    }
    out
}

/// Whether NoCloud user-data holds a Talos config: empty or `#cloud-config` data leaves the
/// node in maintenance mode (research §B.6, nocloud.go `ErrNoConfigSource`).
pub(crate) fn user_data_is_config(user_data: &str) -> bool {
    let t = user_data.trim_start();
    !(t.trim().is_empty() || t.starts_with("#cloud-config"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_split() {
        let cases = [
            (
                "ip and port",
                "https://127.0.0.5:6443",
                Some(("127.0.0.5", 6443)),
            ),
            (
                "default port",
                "https://cluster.local",
                Some(("cluster.local", 6443)),
            ),
            (
                "with path",
                "https://127.0.0.5:7443/x",
                Some(("127.0.0.5", 7443)),
            ),
            ("ipv6", "https://[::1]:6443", Some(("::1", 6443))),
            ("no scheme", "127.0.0.5:6443", None),
            ("bad port", "https://h:xx", None),
        ];
        for (name, input, want) in cases {
            let got = split_endpoint(input);
            assert_eq!(got.as_ref().map(|(h, p)| (h.as_str(), *p)), want, "{name}");
        }
    }

    #[test]
    fn invalid_configs_are_refused_with_talos_texts() {
        let cases = [
            ("empty", "", "config not found"),
            ("no machine", "version: v1alpha1\ncluster: {controlPlane: {endpoint: https://1.2.3.4:6443}}\n", "machine instructions are required"),
            ("bad type", "version: v1alpha1\nmachine: {type: nope, ca: {crt: x}}\ncluster: {controlPlane: {endpoint: https://a:1}}\n", "unknown machine type \"nope\""),
            ("no endpoint", "version: v1alpha1\nmachine: {type: worker, ca: {crt: x}}\ncluster: {}\n", "cluster controlplane endpoint is required"),
            ("cp without key", "version: v1alpha1\nmachine: {type: controlplane, ca: {crt: eA==}}\ncluster: {controlPlane: {endpoint: https://a:1}}\n", "issuing CA key is required"),
            ("only other docs", "apiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n", "doesn't contain v1alpha1 config"),
        ];
        for (name, text, want) in cases {
            let err = MachineConfig::parse(text).expect_err(name);
            assert!(err.message().contains(want), "{name}: {err:?}");
        }
    }

    #[test]
    fn user_data_kinds() {
        assert!(!user_data_is_config(""));
        assert!(!user_data_is_config("#cloud-config\nusers: []\n"));
        assert!(user_data_is_config("version: v1alpha1\n"));
    }

    #[test]
    fn network_config_static_addresses() {
        let v1 = "version: 1\nconfig:\n  - type: physical\n    name: eth0\n    subnets:\n      - type: static\n        address: 127.0.9.4/8\n";
        let v2 = "version: 2\nethernets:\n  eth0:\n    addresses: [127.0.9.5/8]\n";
        assert_eq!(
            network_config_addresses(v1),
            vec![Ipv4Addr::new(127, 0, 9, 4)]
        );
        assert_eq!(
            network_config_addresses(v2),
            vec![Ipv4Addr::new(127, 0, 9, 5)]
        );
        assert!(network_config_addresses(": bad").is_empty());
    }
}
