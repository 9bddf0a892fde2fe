//! What the API answers, typed as its schema types it (`pve-manager` `PVE/API2/*.pm` `returns`,
//! `qemu-server` `PVE/API2/Qemu.pm`, `pve-cluster` `API2/ClusterConfig.pm`,
//! `pve-storage` `API2/Storage/*.pm`).
//!
//! Most numbers arrive as JSON numbers, but some do not: `/cluster/nextid` answers `"100"`,
//! corosync's `nodeid` and `quorum_votes` come as strings from `/cluster/config/*`, `loadavg`
//! is a list of strings, and booleans are `0`/`1`. Those fields go through [`lenient`], which
//! takes a number or a string, so the client keeps working when a release changes one into the
//! other. Unknown fields are ignored: a newer PVE adds fields, it does not break us.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Deserializers for fields PVE sends as either a number or a string.
///
/// Each goes through [`serde_json::Value`] first: that is the one path that reads numbers the
/// same whether or not `serde_json`'s `arbitrary_precision` is on and whether or not the field
/// sits behind `#[serde(flatten)]`.
pub mod lenient {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    /// A scalar that may arrive as a number, a numeric string or a 0/1 boolean.
    pub trait Loose: Sized {
        /// Reads the value, or says what it expected.
        fn from_value(v: &Value) -> Result<Self, String>;
    }

    fn text(v: &Value) -> Option<String> {
        match v {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) => Some(s.trim().to_string()),
            _ => None,
        }
    }

    macro_rules! integer {
        ($($t:ty),*) => {$(
            impl Loose for $t {
                fn from_value(v: &Value) -> Result<Self, String> {
                    match v {
                        Value::Bool(b) => Ok(<$t>::from(*b)),
                        _ => text(v)
                            .and_then(|s| s.parse::<$t>().ok())
                            .ok_or_else(|| {
                                format!("expected an integer or a numeric string, got {v}")
                            }),
                    }
                }
            }
        )*};
    }
    integer!(u8, u16, u32, u64, i64);

    impl Loose for f64 {
        fn from_value(v: &Value) -> Result<Self, String> {
            text(v)
                .and_then(|s| s.parse::<f64>().ok())
                .ok_or_else(|| format!("expected a number or a numeric string, got {v}"))
        }
    }

    impl Loose for bool {
        fn from_value(v: &Value) -> Result<Self, String> {
            match v {
                Value::Bool(b) => Ok(*b),
                _ => match text(v).as_deref() {
                    Some("1" | "true" | "on" | "yes") => Ok(true),
                    Some("0" | "false" | "off" | "no") => Ok(false),
                    _ => Err(format!("expected 0/1 or a boolean, got {v}")),
                },
            }
        }
    }

    impl Loose for String {
        fn from_value(v: &Value) -> Result<Self, String> {
            text(v).ok_or_else(|| format!("expected a string or a number, got {v}"))
        }
    }

    /// A required field.
    pub fn value<'de, D: Deserializer<'de>, T: Loose>(d: D) -> Result<T, D::Error> {
        let v = Value::deserialize(d)?;
        T::from_value(&v).map_err(D::Error::custom)
    }

    /// An optional field: absent or `null` is `None`. Use with `#[serde(default)]`.
    pub fn option<'de, D: Deserializer<'de>, T: Loose>(d: D) -> Result<Option<T>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            v => T::from_value(&v).map(Some).map_err(D::Error::custom),
        }
    }

    /// A list of them (`loadavg`: `["0.05","0.03","0.01"]`). Use with `#[serde(default)]`.
    pub fn list<'de, D: Deserializer<'de>, T: Loose>(d: D) -> Result<Vec<T>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => items
                .iter()
                .map(|v| T::from_value(v).map_err(D::Error::custom))
                .collect(),
            v => Err(D::Error::custom(format!("expected a list, got {v}"))),
        }
    }
}

/// A task id, `UPID:node:pid:pstart:starttime:type:id:user:` (`pve-common` `PVE/Tools.pm`
/// `upid_encode`). The node that runs the task is the one to poll.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Upid(pub String);

impl Upid {
    /// The node the task runs on, when the UPID is well formed.
    pub fn node(&self) -> Option<&str> {
        let mut parts = self.0.split(':');
        (parts.next() == Some("UPID")).then_some(())?;
        parts.next().filter(|n| !n.is_empty())
    }

    /// The task type, e.g. `qmcreate`, `qmstart`, `download`.
    pub fn task_type(&self) -> Option<&str> {
        self.0.split(':').nth(5)
    }
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Upid({})", self.0)
    }
}

/// `GET /version`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Version {
    /// `9.1.2`.
    pub version: String,
    /// `9.1`.
    pub release: String,
    /// The git commit of pve-manager.
    #[serde(default)]
    pub repoid: String,
}

/// One entry of `GET /nodes`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NodeEntry {
    /// The node name.
    pub node: String,
    /// `online`, `offline` or `unknown`.
    pub status: String,
    /// The SHA-256 fingerprint of the node's API certificate.
    #[serde(default)]
    pub ssl_fingerprint: Option<String>,
    /// CPUs, when online.
    #[serde(default, deserialize_with = "lenient::option")]
    pub maxcpu: Option<u64>,
    /// Memory in bytes, when online.
    #[serde(default, deserialize_with = "lenient::option")]
    pub maxmem: Option<u64>,
    /// Memory used in bytes, when online.
    #[serde(default, deserialize_with = "lenient::option")]
    pub mem: Option<u64>,
    /// Seconds since boot, when online.
    #[serde(default, deserialize_with = "lenient::option")]
    pub uptime: Option<u64>,
}

/// `GET /nodes/{node}/status`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NodeStatus {
    /// Seconds since boot.
    #[serde(deserialize_with = "lenient::value")]
    pub uptime: u64,
    /// `pve-manager/9.1.2/…`.
    pub pveversion: String,
    /// `Linux 6.17.2-1-pve #1 SMP …`.
    #[serde(default)]
    pub kversion: String,
    /// CPU load, 0 to 1.
    #[serde(default, deserialize_with = "lenient::option")]
    pub cpu: Option<f64>,
    /// The 1, 5 and 15 minute load averages (strings on the wire).
    #[serde(default, deserialize_with = "lenient::list")]
    pub loadavg: Vec<f64>,
    /// The CPU.
    pub cpuinfo: CpuInfo,
    /// Memory in bytes.
    pub memory: Usage,
    /// The root file system in bytes.
    #[serde(default)]
    pub rootfs: Option<Usage>,
}

/// `cpuinfo` of a node status.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CpuInfo {
    /// The CPU model.
    #[serde(default)]
    pub model: String,
    /// Logical CPUs.
    #[serde(deserialize_with = "lenient::value")]
    pub cpus: u64,
    /// Sockets.
    #[serde(default, deserialize_with = "lenient::option")]
    pub sockets: Option<u64>,
    /// Whether the CPU offers hardware virtualisation (`vmx`/`svm`): an empty string on arm64,
    /// so false there even when KVM works.
    #[serde(default, deserialize_with = "hvm")]
    pub hvm: bool,
}

fn hvm<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => b,
        Value::Number(n) => n.to_string() != "0",
        Value::String(s) => s == "1",
        _ => false,
    })
}

/// Total, used and free bytes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Usage {
    /// Total bytes.
    #[serde(deserialize_with = "lenient::value")]
    pub total: u64,
    /// Used bytes.
    #[serde(deserialize_with = "lenient::value")]
    pub used: u64,
    /// Free bytes (`avail` for file systems).
    #[serde(default, alias = "avail", deserialize_with = "lenient::option")]
    pub free: Option<u64>,
}

/// One raw entry of `GET /cluster/status`, a `cluster` or a `node` line.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct ClusterStatusEntry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default, deserialize_with = "lenient::option")]
    quorate: Option<bool>,
    #[serde(default, deserialize_with = "lenient::option")]
    version: Option<u64>,
    #[serde(default, deserialize_with = "lenient::option")]
    nodes: Option<u64>,
    #[serde(default)]
    ip: Option<String>,
    #[serde(default, deserialize_with = "lenient::option")]
    nodeid: Option<u64>,
    #[serde(default, deserialize_with = "lenient::option")]
    local: Option<bool>,
    #[serde(default, deserialize_with = "lenient::option")]
    online: Option<bool>,
}

/// `GET /cluster/status`, split into the cluster line and the member lines.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterStatus {
    /// The cluster, or `None` for a node that is in no cluster.
    pub cluster: Option<ClusterSummary>,
    /// The members (a standalone node lists itself, with node id 0).
    pub nodes: Vec<ClusterMember>,
}

impl ClusterStatus {
    /// True when the node is in no cluster, or its cluster has quorum.
    pub fn quorate(&self) -> bool {
        self.cluster.as_ref().map(|c| c.quorate).unwrap_or(true)
    }
}

/// The `cluster` line of `GET /cluster/status`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSummary {
    /// The cluster name.
    pub name: String,
    /// Whether the partition this node sees has quorum.
    pub quorate: bool,
    /// How many nodes corosync.conf lists.
    pub nodes: u64,
    /// corosync.conf's `config_version`.
    pub version: u64,
}

/// A `node` line of `GET /cluster/status`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterMember {
    /// The node name.
    pub name: String,
    /// Its address.
    pub ip: Option<String>,
    /// Its corosync node id (0 when in no cluster).
    pub nodeid: u64,
    /// Whether this is the node that answered.
    pub local: bool,
    /// Whether the member is online in this node's view.
    pub online: bool,
}

impl<'de> Deserialize<'de> for ClusterStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entries = Vec::<ClusterStatusEntry>::deserialize(d)?;
        let mut out = ClusterStatus {
            cluster: None,
            nodes: Vec::new(),
        };
        for e in entries {
            match e.kind.as_str() {
                "cluster" => {
                    out.cluster = Some(ClusterSummary {
                        name: e.name,
                        quorate: e.quorate.unwrap_or(false),
                        nodes: e.nodes.unwrap_or(0),
                        version: e.version.unwrap_or(0),
                    })
                }
                "node" => out.nodes.push(ClusterMember {
                    name: e.name,
                    ip: e.ip,
                    nodeid: e.nodeid.unwrap_or(0),
                    local: e.local.unwrap_or(false),
                    online: e.online.unwrap_or(false),
                }),
                _ => {}
            }
        }
        Ok(out)
    }
}

/// `GET /cluster/config/join`: what `pvecm add` needs to join this cluster.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JoinInfo {
    /// The members.
    pub nodelist: Vec<JoinNode>,
    /// The node that answered.
    #[serde(default)]
    pub preferred_node: String,
    /// corosync's `totem` section.
    pub totem: Totem,
    /// The digest of corosync.conf.
    #[serde(default)]
    pub config_digest: String,
}

/// One member in [`JoinInfo`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JoinNode {
    /// The node name.
    pub name: String,
    /// Its corosync node id (a string on the wire).
    #[serde(deserialize_with = "lenient::value")]
    pub nodeid: u64,
    /// Its votes (a string on the wire).
    #[serde(default, deserialize_with = "lenient::option")]
    pub quorum_votes: Option<u64>,
    /// The corosync link 0 address.
    #[serde(default)]
    pub ring0_addr: Option<String>,
    /// The API address.
    #[serde(default)]
    pub pve_addr: Option<String>,
    /// The API certificate's SHA-256 fingerprint, to pin when joining.
    #[serde(default)]
    pub pve_fp: Option<String>,
}

/// corosync's `totem` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Totem {
    /// The cluster name.
    pub cluster_name: String,
    /// The config version (a string on the wire).
    #[serde(default, deserialize_with = "lenient::option")]
    pub config_version: Option<u64>,
}

/// One entry of `GET /cluster/config/nodes`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConfigNode {
    /// The node name (PVE sends it as both `node` and `name`).
    pub node: String,
    /// Its corosync node id (a string on the wire).
    #[serde(deserialize_with = "lenient::value")]
    pub nodeid: u64,
    /// Its votes (a string on the wire).
    #[serde(default, deserialize_with = "lenient::option")]
    pub quorum_votes: Option<u64>,
    /// The corosync link 0 address.
    #[serde(default)]
    pub ring0_addr: Option<String>,
}

/// `GET /cluster/ceph/status` (or `/nodes/{node}/ceph/status`): `ceph -s --format json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CephStatus {
    /// The cluster id.
    #[serde(default)]
    pub fsid: String,
    /// The health summary.
    pub health: CephHealth,
    /// The monitors in quorum.
    #[serde(default)]
    pub quorum_names: Vec<String>,
    /// Everything else, as Ceph sent it (`osdmap`, `pgmap`, …).
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `health` of a Ceph status.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CephHealth {
    /// `HEALTH_OK`, `HEALTH_WARN` or `HEALTH_ERR`.
    pub status: String,
    /// The failing checks by code (`MON_DOWN`, …), each with a severity and summary.
    #[serde(default)]
    pub checks: BTreeMap<String, CephCheck>,
}

/// One Ceph health check.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CephCheck {
    /// `HEALTH_WARN` or `HEALTH_ERR`.
    pub severity: String,
    /// Its one-line summary.
    pub summary: CephSummary,
}

/// The summary of a Ceph health check.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CephSummary {
    /// The message, e.g. `1/3 mons down, quorum a,b`.
    pub message: String,
}

/// `GET /nodes/{node}/qemu/{vmid}/config`: the options the resources read typed, and every
/// other option as sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct QemuConfig {
    /// The VM name.
    #[serde(default)]
    pub name: Option<String>,
    /// Cores per socket.
    #[serde(default, deserialize_with = "lenient::option")]
    pub cores: Option<u64>,
    /// Sockets.
    #[serde(default, deserialize_with = "lenient::option")]
    pub sockets: Option<u64>,
    /// Memory: a property string since PVE 8.1 (`"2048"`, `"current=2048"`), a number before.
    /// [`QemuConfig::memory_mib`] reads it.
    #[serde(default, deserialize_with = "lenient::option")]
    pub memory: Option<String>,
    /// Whether KVM is used (0 for TCG).
    #[serde(default, deserialize_with = "lenient::option")]
    pub kvm: Option<bool>,
    /// Whether the VM starts at boot.
    #[serde(default, deserialize_with = "lenient::option")]
    pub onboot: Option<bool>,
    /// The lock held on the VM (`create`, `backup`, …).
    #[serde(default)]
    pub lock: Option<String>,
    /// The config digest, to pass back to detect concurrent changes.
    #[serde(default)]
    pub digest: Option<String>,
    /// Every other option (`net0`, `scsi0`, `bios`, …), as the API sent it.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

impl QemuConfig {
    /// Memory in MiB, from `2048` or `current=2048,…`.
    pub fn memory_mib(&self) -> Option<u64> {
        let m = self.memory.as_deref()?;
        m.split(',')
            .find_map(|part| match part.split_once('=') {
                Some(("current", v)) => Some(v),
                Some(_) => None,
                None => Some(part),
            })
            .and_then(|v| v.trim().parse().ok())
    }

    /// Another option as text (numbers as their digits), e.g. `net0` or `bios`.
    pub fn option(&self, key: &str) -> Option<String> {
        match self.other.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            v => Some(v.to_string()),
        }
    }
}

/// `GET /nodes/{node}/qemu/{vmid}/status/current`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct QemuStatus {
    /// The VM id.
    #[serde(deserialize_with = "lenient::value")]
    pub vmid: u32,
    /// `running` or `stopped`.
    pub status: String,
    /// QEMU's own state (`running`, `paused`, …), when known.
    #[serde(default)]
    pub qmpstatus: Option<String>,
    /// The VM name.
    #[serde(default)]
    pub name: Option<String>,
    /// Seconds since start.
    #[serde(default, deserialize_with = "lenient::option")]
    pub uptime: Option<u64>,
    /// The QEMU process id, when running.
    #[serde(default, deserialize_with = "lenient::option")]
    pub pid: Option<u64>,
    /// CPUs.
    #[serde(default, deserialize_with = "lenient::option")]
    pub cpus: Option<f64>,
    /// Memory in bytes.
    #[serde(default, deserialize_with = "lenient::option")]
    pub maxmem: Option<u64>,
    /// Whether the guest agent is enabled in the config.
    #[serde(default, deserialize_with = "lenient::option")]
    pub agent: Option<bool>,
    /// The lock held on the VM.
    #[serde(default)]
    pub lock: Option<String>,
}

impl QemuStatus {
    /// True when the VM runs.
    pub fn running(&self) -> bool {
        self.status == "running"
    }
}

/// One entry of `GET /storage` (pve-storage `API2/Storage/Config.pm` `index`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StorageConfig {
    /// The storage id.
    pub storage: String,
    /// `dir`, `rbd`, `lvmthin`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The content types it holds, comma-separated (`iso,vztmpl,backup`).
    #[serde(default)]
    pub content: String,
}

impl StorageConfig {
    /// Whether the storage holds `content`.
    pub fn holds(&self, content: &str) -> bool {
        self.content.split(',').any(|c| c.trim() == content)
    }
}

/// One entry of `GET /nodes/{node}/qemu` (qemu-server `API2/Qemu.pm` `vmlist`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct QemuListEntry {
    /// The VM id.
    #[serde(deserialize_with = "lenient::value")]
    pub vmid: u32,
    /// `running` or `stopped`.
    pub status: String,
    /// The VM name.
    #[serde(default)]
    pub name: Option<String>,
}

/// One entry of `GET /nodes/{node}/storage/{storage}/content`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StorageItem {
    /// `local:iso/talos.iso`.
    pub volid: String,
    /// `iso`, `images`, `import`, …
    pub content: String,
    /// `iso`, `raw`, `qcow2`, …
    #[serde(default)]
    pub format: String,
    /// Bytes.
    #[serde(deserialize_with = "lenient::value")]
    pub size: u64,
    /// Creation time, seconds since the epoch.
    #[serde(default, deserialize_with = "lenient::option")]
    pub ctime: Option<u64>,
    /// The VM owning a disk image.
    #[serde(default, deserialize_with = "lenient::option")]
    pub vmid: Option<u32>,
}

/// `GET /nodes/{node}/tasks/{upid}/status`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(super) struct TaskStatus {
    /// `running` or `stopped`.
    pub(super) status: String,
    /// Only when stopped: `OK`, `WARNINGS: n`, or the error.
    #[serde(default)]
    pub(super) exitstatus: Option<String>,
}

/// One line of `GET /nodes/{node}/tasks/{upid}/log`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(super) struct LogLine {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) n: u64,
    #[serde(default)]
    pub(super) t: String,
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskOutcome {
    /// The task.
    pub upid: Upid,
    /// True for `OK` and `WARNINGS: n` (`PVE::Tools` `upid_status_is_error`).
    pub ok: bool,
    /// The exit status as PVE wrote it.
    pub exitstatus: String,
    /// The last lines of the task log.
    pub log_tail: Vec<String>,
}

impl TaskOutcome {
    /// `Ok(self)` when the task succeeded, else [`super::Error::TaskFailed`], classified.
    pub fn into_result(self) -> Result<TaskOutcome, super::Error> {
        if self.ok {
            return Ok(self);
        }
        Err(super::Error::TaskFailed {
            kind: super::error::classify(500, &self.exitstatus),
            upid: self.upid.0,
            exitstatus: self.exitstatus,
            log: self.log_tail,
        })
    }

    /// The `n` of `WARNINGS: n`, 0 for `OK`.
    pub fn warnings(&self) -> u64 {
        self.exitstatus
            .strip_prefix("WARNINGS: ")
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// `PVE::Tools::upid_status_is_error`: only `OK` and `WARNINGS: n` are not errors.
pub(super) fn exit_ok(exitstatus: &str) -> bool {
    exitstatus == "OK" || exitstatus.starts_with("WARNINGS: ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Loose {
        #[serde(deserialize_with = "lenient::value")]
        id: u32,
        #[serde(default, deserialize_with = "lenient::option")]
        flag: Option<bool>,
        #[serde(default, deserialize_with = "lenient::list")]
        load: Vec<f64>,
    }

    /// Name, JSON, and the id, flag and load it decodes to.
    type Case<'a> = (&'a str, &'a str, u32, Option<bool>, &'a [f64]);

    #[test]
    fn numbers_may_arrive_as_strings() {
        let cases: &[Case] = &[
            (
                "numbers",
                r#"{"id":100,"flag":1,"load":[0.5]}"#,
                100,
                Some(true),
                &[0.5],
            ),
            (
                "strings",
                r#"{"id":"100","flag":"0","load":["0.05","1"]}"#,
                100,
                Some(false),
                &[0.05, 1.0],
            ),
            (
                "booleans",
                r#"{"id":" 7 ","flag":true}"#,
                7,
                Some(true),
                &[],
            ),
            ("nulls", r#"{"id":1,"flag":null,"load":null}"#, 1, None, &[]),
        ];
        for (name, json, id, flag, load) in cases {
            let v: Loose = serde_json::from_str(json).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(v.id, *id, "{name}");
            assert_eq!(v.flag, *flag, "{name}");
            assert_eq!(v.load, *load, "{name}");
        }
        let bad: Result<Loose, _> = serde_json::from_str(r#"{"id":"abc"}"#);
        let e = bad.expect_err("a word is no number").to_string();
        assert!(e.contains("expected an integer"), "{e}");
    }

    #[test]
    fn a_qemu_config_keeps_its_other_options_beside_the_typed_ones() {
        // PVE 8.1+: "cores":1, "memory":"2048" (a property string), booleans as 0/1.
        let json = r#"{"cores":1,"memory":"current=2048","kvm":0,"name":"cp-1",
            "net0":"virtio=BC:24:11:00:00:01,bridge=vmbr0","balloon":0,"digest":"ab"}"#;
        let c: QemuConfig = serde_json::from_str(json).expect("decodes");
        assert_eq!(c.cores, Some(1));
        assert_eq!(c.memory_mib(), Some(2048));
        assert_eq!(c.kvm, Some(false));
        assert_eq!(
            c.option("net0").as_deref(),
            Some("virtio=BC:24:11:00:00:01,bridge=vmbr0")
        );
        assert_eq!(c.option("balloon").as_deref(), Some("0"));
        assert_eq!(c.option("name"), None, "typed fields are not in `other`");
    }

    #[test]
    fn cluster_status_splits_the_cluster_line_from_the_members() {
        let json = r#"[{"type":"cluster","id":"cluster","name":"lab","nodes":2,"quorate":1,"version":3},
            {"type":"node","id":"node/a","name":"a","ip":"10.0.0.1","nodeid":"1","local":1,"online":1,"level":""},
            {"type":"node","id":"node/b","name":"b","ip":"10.0.0.2","nodeid":2,"local":0,"online":0,"level":""}]"#;
        let s: ClusterStatus = serde_json::from_str(json).expect("decodes");
        let c = s.cluster.as_ref().expect("cluster line");
        assert_eq!(
            (c.name.as_str(), c.quorate, c.nodes, c.version),
            ("lab", true, 2, 3)
        );
        assert!(s.quorate());
        let ids: Vec<(u64, bool, bool)> = s
            .nodes
            .iter()
            .map(|n| (n.nodeid, n.local, n.online))
            .collect();
        assert_eq!(ids, vec![(1, true, true), (2, false, false)]);
    }

    #[test]
    fn task_exit_statuses() {
        let cases: &[(&str, bool, u64)] = &[
            ("OK", true, 0),
            ("WARNINGS: 2", true, 2),
            ("unable to create VM 100 - no space", false, 0),
            (
                "KVM virtualisation configured, but not available.",
                false,
                0,
            ),
        ];
        for (status, ok, warnings) in cases {
            assert_eq!(exit_ok(status), *ok, "{status}");
            let o = TaskOutcome {
                upid: Upid("UPID:pve1:0:0:0:qmstart:100:root@pam:".into()),
                ok: *ok,
                exitstatus: status.to_string(),
                log_tail: vec![],
            };
            assert_eq!(o.warnings(), *warnings, "{status}");
        }
        let u = Upid("UPID:pve1:00001234:00000001:6650A1B2:qmcreate:100:root@pam!tf:".into());
        assert_eq!(u.node(), Some("pve1"));
        assert_eq!(u.task_type(), Some("qmcreate"));
    }
}
