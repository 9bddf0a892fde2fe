//! The emulated state behind every interface: nodes, clusters, Ceph, VMs, storage, tasks and
//! credentials. Plain data behind one mutex; nothing here awaits.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use super::ceph::Ceph;
use super::keys;

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A block device on a host.
#[derive(Debug, Clone)]
pub(crate) struct Disk {
    pub(crate) dev: String,
    pub(crate) size_gb: u64,
    /// Why it is in use (`boot`, `LVM`, `ceph osd.N`); `None` when free.
    pub(crate) used: Option<String>,
}

/// An LVM logical volume.
#[derive(Debug, Clone)]
pub(crate) struct Lv {
    pub(crate) vg: String,
    pub(crate) name: String,
    pub(crate) size_gb: u64,
    pub(crate) used_by_osd: Option<u32>,
}

/// An LVM volume group.
#[derive(Debug, Clone)]
pub(crate) struct Vg {
    pub(crate) name: String,
    pub(crate) size_gb: u64,
    pub(crate) free_gb: u64,
}

/// A file or image in a storage.
#[derive(Debug, Clone)]
pub(crate) struct Volume {
    pub(crate) volid: String,
    pub(crate) content: String,
    pub(crate) format: String,
    pub(crate) size: u64,
    pub(crate) ctime: u64,
    /// Bytes kept for small uploaded ISOs, so a `cidata` volume can be read at boot.
    pub(crate) data: Option<Arc<Vec<u8>>>,
    /// The VM that owns an image volume.
    pub(crate) vmid: Option<u32>,
}

/// Run state of a VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VmStatus {
    Stopped,
    Running,
}

/// A QEMU VM.
#[derive(Debug, Clone)]
pub(crate) struct Vm {
    pub(crate) vmid: u32,
    /// The config as `qm config` shows it; every value a string, as in the config file.
    pub(crate) config: BTreeMap<String, String>,
    pub(crate) status: VmStatus,
    pub(crate) started_at: u64,
    pub(crate) pid: u32,
    /// A create, start or stop task is running (`lock` in the real config).
    pub(crate) lock: Option<String>,
    /// A guest OS was handed to the launcher.
    pub(crate) guest: bool,
}

impl Vm {
    pub(crate) fn name(&self) -> String {
        self.config
            .get("name")
            .cloned()
            .unwrap_or_else(|| format!("VM {}", self.vmid))
    }
}

/// A worker task (UPID).
#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub(crate) upid: String,
    pub(crate) kind: String,
    pub(crate) id: String,
    pub(crate) user: String,
    pub(crate) pid: u32,
    pub(crate) pstart: u64,
    pub(crate) starttime: u64,
    pub(crate) endtime: Option<u64>,
    /// `None` while running; then `OK`, `WARNINGS: n` or the error text.
    pub(crate) exitstatus: Option<String>,
    pub(crate) log: Vec<String>,
}

/// An API token of root@pam.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) secret: String,
    pub(crate) privsep: bool,
    pub(crate) comment: String,
    pub(crate) expire: u64,
}

/// `/etc/pve/user.cfg` and the auth key: per cluster, or per node while standalone.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    /// Keyed by token name (the part after `!`).
    pub(crate) tokens: BTreeMap<String, Token>,
    pub(crate) ticket_key: Vec<u8>,
}

impl Access {
    pub(crate) fn new() -> Access {
        let mut k = vec![0u8; 32];
        let _ = keys::random_fill(&mut k);
        if k.iter().all(|b| *b == 0) {
            k = keys::random_u64().to_le_bytes().to_vec();
        }
        Access {
            tokens: BTreeMap::new(),
            ticket_key: k,
        }
    }
}

/// A corosync nodelist entry.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) node: usize,
    pub(crate) nodeid: u32,
    pub(crate) votes: u32,
    /// The node finished `finish_join` (its corosync runs); until then it adds to the expected
    /// votes but not to the present ones.
    pub(crate) joined: bool,
}

/// A Proxmox VE cluster.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    pub(crate) name: String,
    pub(crate) config_version: u32,
    pub(crate) members: Vec<Member>,
    pub(crate) qdevice: Option<Ipv4Addr>,
    pub(crate) ceph: Option<Ceph>,
    pub(crate) access: Access,
    pub(crate) ring_seq: u32,
    /// The node whose CA signs member certificates (the one that created the cluster).
    pub(crate) ca_node: usize,
    /// Storages defined cluster-wide after the defaults (RBD pools).
    pub(crate) rbd_storages: BTreeSet<String>,
    /// `pvecm expected N` (`corosync-quorumtool -e`): votequorum's expected votes until the
    /// configuration next changes.
    pub(crate) expected_override: Option<u32>,
}

/// Votequorum arithmetic for one cluster (corosync votequorum; pvecm.adoc "Quorum").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quorum {
    pub(crate) expected: u32,
    pub(crate) total: u32,
    pub(crate) quorum: u32,
    pub(crate) quorate: bool,
    pub(crate) qdevice_votes: u32,
}

/// The cluster filesystem process on a node (pve-cluster `src/pmxcfs/pmxcfs.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pmxcfs {
    /// Not running: `/etc/pve` is an empty mount point.
    Stopped,
    /// Started by `pve-cluster.service` (or a plain `pmxcfs`): clustered when the database
    /// holds a `corosync.conf`.
    Service,
    /// `pmxcfs -l`: local mode, quorum forced, whatever the database holds.
    Local,
}

/// What `/etc/corosync` holds on a fresh host: the directories the corosync package installs
/// (`corosync/corosync` `Makefile.am` `install-exec-local`).
pub(crate) const ETC_COROSYNC_DIRS: [&str; 2] = ["service.d", "uidgid.d"];

/// One Proxmox VE host.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) ip: Ipv4Addr,
    pub(crate) online: bool,
    pub(crate) boot_epoch: u64,
    /// The cluster whose corosync.conf this node has.
    pub(crate) cluster: Option<usize>,
    /// Installed Ceph release codename.
    pub(crate) ceph_release: Option<String>,
    pub(crate) subscription: bool,
    /// `/dev/sda`'s partition table (the block devices the kernel knows are in `disks`).
    pub(crate) boot_disk: Option<super::disks::BootDisk>,
    pub(crate) disks: Vec<Disk>,
    pub(crate) vgs: Vec<Vg>,
    pub(crate) lvs: Vec<Lv>,
    pub(crate) vms: BTreeMap<u32, Vm>,
    /// Content types enabled on `local` (dir storage).
    pub(crate) local_content: BTreeSet<String>,
    pub(crate) volumes: BTreeMap<String, Volume>,
    pub(crate) tasks: Vec<Task>,
    pub(crate) standalone_access: Access,
    /// `/etc/pve/ceph.conf` and maps while the node is not in a cluster.
    pub(crate) standalone_ceph: Option<super::ceph::Ceph>,
    pub(crate) ocpus: u32,
    pub(crate) memory_gb: u32,
    pub(crate) next_pid: u32,
    pub(crate) tls_fingerprint: String,
    pub(crate) bootid: u64,
    /// root's password when `chpasswd` changed it from the lab's initial one.
    pub(crate) root_password: Option<String>,
    /// corosync.service runs (it starts only with `/etc/corosync/corosync.conf` present).
    pub(crate) corosync: bool,
    /// The cluster filesystem.
    pub(crate) pmxcfs: Pmxcfs,
    /// The entries of `/etc/corosync`: `authkey` and `corosync.conf` once clustered, and the
    /// package's directories (see [`ETC_COROSYNC_DIRS`]).
    pub(crate) etc_corosync: BTreeSet<String>,
    /// The cluster this node was separated from (pvecm.adoc "Separate a Node Without
    /// Reinstalling"): its `/etc/pve` keeps that cluster's files, and any
    /// `/etc/corosync/corosync.conf` left behind is that cluster's.
    pub(crate) left_cluster: Option<usize>,
    /// The cluster whose Ceph this separated node's copy of `/etc/pve/ceph.conf` and keyring
    /// still reach (the monitors it names keep running).
    pub(crate) ceph_from: Option<usize>,
    /// Other nodes' directories kept in a separated node's `/etc/pve/nodes`, with the guest ids
    /// their `qemu-server` configs hold (they count as this host's guests for `pvecm add`).
    pub(crate) foreign_nodes: BTreeMap<String, BTreeSet<u32>>,
}

/// The bastion micro host.
#[derive(Debug, Clone)]
pub(crate) struct Bastion {
    pub(crate) qnetd_installed: bool,
    /// Cluster names registered with qnetd.
    pub(crate) qnetd_clusters: BTreeSet<String>,
}

/// Everything the lab emulates.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) nodes: Vec<Node>,
    pub(crate) clusters: Vec<Cluster>,
    pub(crate) bastion: Bastion,
}

impl World {
    /// The cluster `node` belongs to (has a corosync.conf for).
    pub(crate) fn cluster_of(&self, node: usize) -> Option<&Cluster> {
        self.nodes
            .get(node)?
            .cluster
            .and_then(|c| self.clusters.get(c))
    }

    /// Node indexes that share `node`'s view: its cluster's joined members, or itself alone.
    pub(crate) fn peers(&self, node: usize) -> Vec<usize> {
        match self.cluster_of(node) {
            Some(c) => c
                .members
                .iter()
                .filter(|m| m.joined)
                .map(|m| m.node)
                .collect(),
            None => vec![node],
        }
    }

    /// The credentials store `node` uses.
    pub(crate) fn access(&self, node: usize) -> Option<&Access> {
        match self.nodes.get(node)?.cluster {
            Some(c) => self.clusters.get(c).map(|c| &c.access),
            None => self.nodes.get(node).map(|n| &n.standalone_access),
        }
    }

    pub(crate) fn access_mut(&mut self, node: usize) -> Option<&mut Access> {
        match self.nodes.get(node)?.cluster {
            Some(c) => self.clusters.get_mut(c).map(|c| &mut c.access),
            None => self.nodes.get_mut(node).map(|n| &mut n.standalone_access),
        }
    }

    pub(crate) fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Whether member `m` of cluster `c` takes part in its membership: the node finished its
    /// join, is up, runs corosync, and still has this cluster's configuration.
    pub(crate) fn present(&self, c: usize, m: &Member) -> bool {
        m.joined
            && self
                .nodes
                .get(m.node)
                .map(|n| n.online && n.corosync && n.cluster == Some(c))
                .unwrap_or(false)
    }

    /// Whether `node` is a present member of the cluster it is configured for.
    pub(crate) fn is_present(&self, node: usize) -> bool {
        let Some(c) = self.nodes.get(node).and_then(|n| n.cluster) else {
            return false;
        };
        self.clusters
            .get(c)
            .map(|cl| {
                cl.members
                    .iter()
                    .any(|m| m.node == node && self.present(c, m))
            })
            .unwrap_or(false)
    }

    /// Votequorum figures for cluster `c`.
    pub(crate) fn quorum(&self, c: usize) -> Option<Quorum> {
        let cl = self.clusters.get(c)?;
        let node_votes: u32 = cl.members.iter().map(|m| m.votes).sum();
        let present: u32 = cl
            .members
            .iter()
            .filter(|m| self.present(c, m))
            .map(|m| m.votes)
            .sum();
        // A QDevice in ffsplit mode adds one vote, given to a partition that is present
        // (pvecm.adoc "Corosync External Vote Support").
        let qdevice_votes = if cl.qdevice.is_some() { 1 } else { 0 };
        let expected = cl.expected_override.unwrap_or(node_votes + qdevice_votes);
        let total = present + if present > 0 { qdevice_votes } else { 0 };
        let quorum = expected / 2 + 1;
        Some(Quorum {
            expected,
            total,
            quorum,
            quorate: total >= quorum,
            qdevice_votes,
        })
    }

    /// Whether `node`'s pmxcfs is writable: standalone nodes and local mode always are
    /// (`pmxcfs.c` `cfs_set_quorate(1, TRUE)`), members need quorum in their partition
    /// (pve-cluster Cluster.pm `check_cfs_quorum`); a member cut off from corosync has none.
    pub(crate) fn node_quorate(&self, node: usize) -> bool {
        let Some(n) = self.nodes.get(node) else {
            return false;
        };
        match (n.pmxcfs, n.cluster) {
            (Pmxcfs::Stopped, _) => false,
            (Pmxcfs::Local, _) | (_, None) => true,
            (Pmxcfs::Service, Some(c)) => {
                self.is_present(node) && self.quorum(c).map(|q| q.quorate).unwrap_or(false)
            }
        }
    }

    /// `rm /etc/pve/corosync.conf` in local mode: the node keeps its copy of the cluster's
    /// `/etc/pve` (users, tokens, Ceph config, the other nodes' directories) but no longer
    /// belongs to a cluster (pvecm.adoc "Separate a Node Without Reinstalling").
    pub(crate) fn separate(&mut self, node: usize) {
        let Some(c) = self.nodes.get(node).and_then(|n| n.cluster) else {
            return;
        };
        let Some(cl) = self.clusters.get(c) else {
            return;
        };
        let access = cl.access.clone();
        let has_ceph = cl.ceph.is_some();
        let foreign: BTreeMap<String, BTreeSet<u32>> = cl
            .members
            .iter()
            .filter(|m| m.node != node)
            .filter_map(|m| self.nodes.get(m.node))
            .map(|n| (n.name.clone(), n.vms.keys().copied().collect()))
            .collect();
        if let Some(n) = self.nodes.get_mut(node) {
            n.cluster = None;
            n.standalone_access = access;
            n.left_cluster = Some(c);
            n.ceph_from = has_ceph.then_some(c);
            n.foreign_nodes = foreign;
        }
    }

    /// A node joins or creates a cluster: its own copy of `/etc/pve` is replaced.
    pub(crate) fn clustered(&mut self, node: usize, c: usize) {
        if let Some(n) = self.nodes.get_mut(node) {
            n.cluster = Some(c);
            n.left_cluster = None;
            n.ceph_from = None;
            n.foreign_nodes.clear();
            n.etc_corosync.insert("authkey".into());
            n.etc_corosync.insert("corosync.conf".into());
        }
    }

    /// All VM ids in `node`'s cluster view, with the node that holds them.
    pub(crate) fn vmids(&self, node: usize) -> BTreeMap<u32, usize> {
        let mut out = BTreeMap::new();
        for p in self.peers(node) {
            if let Some(n) = self.nodes.get(p) {
                for id in n.vms.keys() {
                    out.insert(*id, p);
                }
            }
        }
        out
    }

    /// The next free VM id from 100 in `node`'s cluster view (`/cluster/nextid`).
    pub(crate) fn next_vmid(&self, node: usize) -> u32 {
        let used = self.vmids(node);
        let mut id = 100;
        while used.contains_key(&id) {
            id += 1;
        }
        id
    }

    /// Storage ids visible on `node` with their type and content list.
    pub(crate) fn storages(&self, node: usize) -> Vec<(String, &'static str, Vec<String>, bool)> {
        let mut v = Vec::new();
        if let Some(n) = self.nodes.get(node) {
            v.push((
                "local".to_string(),
                "dir",
                n.local_content.iter().cloned().collect(),
                false,
            ));
            v.push((
                "local-lvm".to_string(),
                "lvmthin",
                vec!["images".to_string(), "rootdir".to_string()],
                false,
            ));
        }
        if let Some(c) = self.cluster_of(node) {
            for s in &c.rbd_storages {
                v.push((
                    s.clone(),
                    "rbd",
                    vec!["images".to_string(), "rootdir".to_string()],
                    true,
                ));
            }
        }
        v
    }

    /// Allocates a pid for a new task on `node`.
    pub(crate) fn alloc_pid(&mut self, node: usize) -> u32 {
        match self.nodes.get_mut(node) {
            Some(n) => {
                n.next_pid = n.next_pid.wrapping_add(7).max(1000);
                n.next_pid
            }
            None => 1000,
        }
    }

    /// Starts a task on `node` and returns its UPID
    /// (`UPID:node:pid:pstart:starttime:type:id:user:`, hex fields; research §C.1).
    pub(crate) fn new_task(&mut self, node: usize, kind: &str, id: &str, user: &str) -> String {
        let pid = self.alloc_pid(node);
        let start = now_secs();
        let Some(n) = self.nodes.get_mut(node) else {
            return String::new();
        };
        // The worker's start in clock ticks (USER_HZ 100) since the node booted: field 22 of
        // `/proc/PID/stat`, read by `pve-common` `ProcFSTools.pm` `read_proc_starttime`.
        let pstart = start.saturating_sub(n.boot_epoch) * 100 + u64::from(pid % 100);
        let upid = format!(
            "UPID:{}:{:08X}:{:08X}:{:08X}:{}:{}:{}:",
            n.name, pid, pstart, start, kind, id, user
        );
        n.tasks.push(Task {
            upid: upid.clone(),
            kind: kind.into(),
            id: id.into(),
            user: user.into(),
            pid,
            pstart,
            starttime: start,
            endtime: None,
            exitstatus: None,
            log: Vec::new(),
        });
        // Bounded task list, as pve keeps only recent tasks in its index.
        if n.tasks.len() > 1000 {
            n.tasks.remove(0);
        }
        upid
    }

    pub(crate) fn task_mut(&mut self, upid: &str) -> Option<&mut Task> {
        let node = upid.split(':').nth(1)?;
        let idx = self.node_index(node)?;
        self.nodes
            .get_mut(idx)?
            .tasks
            .iter_mut()
            .find(|t| t.upid == upid)
    }

    pub(crate) fn task_log(&mut self, upid: &str, line: &str) {
        if let Some(t) = self.task_mut(upid) {
            for l in line.split('\n') {
                t.log.push(l.to_string());
            }
        }
    }

    pub(crate) fn task_finish(&mut self, upid: &str, exitstatus: &str) {
        if let Some(t) = self.task_mut(upid) {
            if t.exitstatus.is_none() {
                t.exitstatus = Some(exitstatus.to_string());
                t.endtime = Some(now_secs());
                if exitstatus == "OK" {
                    t.log.push("TASK OK".into());
                } else if exitstatus.starts_with("WARNINGS: ") {
                    t.log.push(format!("TASK {exitstatus}"));
                } else {
                    t.log.push(format!("TASK ERROR: {exitstatus}"));
                }
            }
        }
    }
}
