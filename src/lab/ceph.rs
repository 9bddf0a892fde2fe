//! Ceph as `pveceph` builds it (`proxmox/pve-manager:PVE/API2/Ceph*.pm`, research §D.2), and
//! what the `ceph` CLI prints about it.
//!
//! Health comes only from real Ceph health checks, computed from the emulated maps:
//! `MON_DOWN`, `MGR_DOWN`, `OSD_DOWN`, `OSD_HOST_DOWN`, `TOO_FEW_OSDS` ("OSD count N <
//! osd_pool_default_size S"), `PG_AVAILABILITY`, `PG_DEGRADED` and `POOL_NO_REDUNDANCY`. CRUSH
//! places replicas on distinct hosts (the default rule), so a pool of size 3 needs OSDs on three
//! hosts before its PGs are `active+clean`. The `.mgr` pool appears with the first manager, as in
//! Ceph since Quincy, so a fresh cluster is HEALTH_WARN until enough OSD hosts exist.
//!
//! Wire formats, all from `ceph/ceph`:
//! - `src/mon/health_check.h` (`health_check_t::dump`) and `src/mon/HealthMonitor.cc`
//!   (`get_health_status`): checks sit in a `std::map`, so they are sorted by code; the
//!   one-liner is `HEALTH_X` + `sep1` + summaries joined by `sep2`; detail lines are
//!   `[WRN] CODE: summary` then each detail indented by four spaces; JSON `detail` arrays appear
//!   only for `health detail`.
//! - `src/mon/Monitor.cc` (`get_cluster_status`): the `ceph -s` layout, `(age …)` after the
//!   quorum and `, out of quorum: …`; `src/mon/MgrMap.h` (`print_summary`): `(active, since …)`
//!   and `no daemons active (since …)`; `src/osd/OSDMap.cc` (`print_summary`): `(since …)` after
//!   the up and in counts, left out while never set; `src/mon/PGMap.cc`
//!   (`PGMapDigest::print_summary`, `get_health_checks`): `N% pgs unknown`, `N% pgs not active`,
//!   states by descending count, `1 pg` against `N pgs`, stuck PGs after
//!   `mon_pg_stuck_threshold` (60 s); `src/common/ceph_time.cc` (`timespan_str`): ages.
//! - `src/crush/CrushTreeDumper.h` and `src/osd/OSDMap.cc` (`OSDTreePlainDumper`,
//!   `OSDTreeFormattingDumper`): `ceph osd tree`.
//! - `src/mgr/ServiceMap.cc` (`ServiceMap::dump`) and `src/mon/MgrStatMonitor.cc`
//!   (`create_initial`: epoch 1, `modified` = now): `servicemap`.
//!
//! Daemons change state when their node does, which happens outside Ceph (`host.rs`), so each
//! change is stamped when `observe` next sees it: `pveceph.rs` calls it before every `ceph`
//! command and after every `pveceph` change. A daemon is up while its node is up and its unit
//! has not been stopped (`systemctl stop ceph-osd@N`); an OSD marked `out` keeps its place in
//! the CRUSH tree with reweight 0 but takes no PGs. Host buckets stay when their last OSD is
//! removed (`osd crush remove` takes out the item only). Not modelled: objects (PGs are never
//! `degraded`, data moves at once) and `mon_down_mkfs_grace`. The admin commands that change
//! the maps (`osd out`, `osd pool set`, removals) are in `ceph_admin.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use serde_json::{json, Map, Value};

/// An OSD.
#[derive(Debug, Clone)]
pub(crate) struct Osd {
    pub(crate) id: u32,
    pub(crate) node: usize,
    pub(crate) size_gb: u64,
    /// `in` (weight 1) or marked `out` (weight 0).
    pub(crate) is_in: bool,
}

/// A RADOS pool.
#[derive(Debug, Clone)]
pub(crate) struct Pool {
    pub(crate) id: u32,
    pub(crate) name: String,
    pub(crate) size: u32,
    pub(crate) min_size: u32,
    pub(crate) pg_num: u32,
    /// Seconds since the epoch; PGs count as stuck from here.
    pub(crate) created: u64,
}

/// When each map last changed, as `observe` saw it (seconds since the epoch; 0 is never).
#[derive(Debug, Clone, Default)]
pub(crate) struct Clock {
    quorum: Vec<usize>,
    quorum_since: u64,
    election_epoch: u64,
    mgr_active: Option<usize>,
    mgr_active_change: u64,
    mgr_pool_created: u64,
    osds_up: BTreeSet<u32>,
    last_up_change: u64,
    pub(crate) last_in_change: u64,
    servicemap_modified: (u64, u32),
}

/// `/etc/pve/ceph.conf` plus the cluster maps.
#[derive(Debug, Clone)]
pub(crate) struct Ceph {
    pub(crate) fsid: String,
    pub(crate) network: String,
    pub(crate) cluster_network: Option<String>,
    pub(crate) size: u32,
    pub(crate) min_size: u32,
    /// Monitors by node, in rank order (ranks follow the order of addition since Nautilus,
    /// `src/mon/MonMap.h` `add`).
    pub(crate) mons: Vec<usize>,
    pub(crate) mgrs: Vec<usize>,
    pub(crate) osds: Vec<Osd>,
    pub(crate) pools: Vec<Pool>,
    pub(crate) created: u64,
    pub(crate) epoch: u32,
    /// Each monitor's public address.
    pub(crate) mon_addrs: BTreeMap<usize, Ipv4Addr>,
    pub(crate) clock: Clock,
    /// Daemons whose unit was stopped (`osd.3`, `mon.ampere-2`, `mgr.ampere-2`); they start
    /// again when their node boots.
    pub(crate) stopped: BTreeSet<String>,
    /// CRUSH host buckets by node, in creation order.
    pub(crate) buckets: Vec<usize>,
    /// `.mgr`'s size and min_size once `osd pool set` changed them.
    pub(crate) mgr_pool: Option<(u32, u32)>,
    /// `.mgr` was deleted.
    pub(crate) mgr_pool_deleted: bool,
    /// `mon_allow_pool_size_one` (`ceph config set`; default false).
    pub(crate) allow_pool_size_one: bool,
    /// The monmap epoch: one per monitor added or removed.
    pub(crate) monmap_epoch: u32,
}

/// One failing health check.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Check {
    pub(crate) code: &'static str,
    pub(crate) severity: &'static str,
    pub(crate) message: String,
    pub(crate) count: u64,
    pub(crate) detail: Vec<String>,
}

/// Node names and whether each is up, indexed like the world's nodes.
pub(crate) type NodeView<'a> = &'a [(String, bool)];

/// `mon_pg_stuck_threshold` (`src/common/options/global.yaml.in`, default 60 s): a PG must be
/// inactive or undersized this long before `PG_AVAILABILITY` or `PG_DEGRADED` names it.
const PG_STUCK_SECS: u64 = 60;

/// `mon_health_max_detail` (default 50): PGMap stops composing PG lines past this many.
const MAX_DETAIL: usize = 50;

/// Seconds and microseconds since the epoch.
fn now_micros() -> (u64, u32) {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.as_secs(), d.subsec_micros()))
        .unwrap_or((0, 0))
}

/// `timespan_str` (`src/common/ceph_time.cc`): whole seconds below 120 s, then minutes below
/// 120 min, hours below 48 h, days below 14 d, weeks below 12 w, months (30 d) below 24, years.
pub(crate) fn timespan_str(secs: u64) -> String {
    if secs < 120 {
        return format!("{secs}s");
    }
    let min = secs / 60;
    if min < 120 {
        return format!("{min}m");
    }
    let hr = min / 60;
    if hr < 48 {
        return format!("{hr}h");
    }
    let day = hr / 24;
    if day < 14 {
        return format!("{day}d");
    }
    let wk = day / 7;
    if wk < 12 {
        return format!("{wk}w");
    }
    let mn = day / 30;
    if mn < 24 {
        return format!("{mn}M");
    }
    format!("{}y", day / 365)
}

/// A `utime_t` as `operator<<` prints it (`src/include/utime.h` `localtime`, on a UTC host):
/// `2023-06-15T11:44:11.919071+0000`.
fn utime_str((secs, micros): (u64, u32)) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+0000",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        micros
    )
}

/// A JSON number the way Ceph's formatter writes a float: whole values without a fraction.
fn float(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

/// `weightf_t` (`src/include/types.h`): `0` when ~0, otherwise five decimals.
fn weightf(v: f64) -> String {
    if v < 0.000001 {
        "0".into()
    } else {
        format!("{v:.5}")
    }
}

/// `pg_state_t` bits (`src/osd/osd_types.h`), used only to order states as PGMap does.
fn state_bits(state: &str) -> u64 {
    state
        .split('+')
        .map(|s| match s {
            "active" => 1 << 1,
            "clean" => 1 << 2,
            "undersized" => 1 << 23,
            "peered" => 1 << 25,
            _ => 0,
        })
        .sum()
}

/// The PGs of one pool, all in one state (every PG of a pool maps alike in the lab).
struct PoolPgs {
    pool: Pool,
    state: &'static str,
    acting: Vec<u32>,
}

impl Ceph {
    pub(crate) fn new(
        fsid: String,
        network: String,
        cluster_network: Option<String>,
        size: u32,
        min_size: u32,
    ) -> Ceph {
        Ceph {
            fsid,
            network,
            cluster_network,
            size,
            min_size,
            mons: Vec::new(),
            mgrs: Vec::new(),
            osds: Vec::new(),
            pools: Vec::new(),
            created: super::world::now_secs(),
            epoch: 1,
            mon_addrs: BTreeMap::new(),
            clock: Clock::default(),
            stopped: BTreeSet::new(),
            buckets: Vec::new(),
            mgr_pool: None,
            mgr_pool_deleted: false,
            allow_pool_size_one: false,
            monmap_epoch: 0,
        }
    }

    /// Adds monitor `node` at `ip`; the first one also starts the service map
    /// (`MgrStatMonitor::create_initial`).
    pub(crate) fn add_mon(&mut self, node: usize, ip: Ipv4Addr) {
        if self.mons.is_empty() {
            self.clock.servicemap_modified = now_micros();
        }
        if !self.mons.contains(&node) {
            self.mons.push(node);
        }
        self.mon_addrs.insert(node, ip);
        self.monmap_epoch += 1;
        self.epoch += 1;
    }

    /// Adds an OSD on `node` at `now`, with the lowest free id, up and in at once.
    pub(crate) fn add_osd(&mut self, node: usize, size_gb: u64, now: u64) -> u32 {
        let id = (0..)
            .find(|i| !self.osds.iter().any(|o| o.id == *i))
            .unwrap_or(0);
        self.osds.push(Osd {
            id,
            node,
            size_gb,
            is_in: true,
        });
        if !self.buckets.contains(&node) {
            self.buckets.push(node);
        }
        self.epoch += 1;
        self.clock.last_in_change = now;
        id
    }

    /// Stamps what changed since the last call: the quorum, the active manager, the up OSDs.
    pub(crate) fn observe(&mut self, view: NodeView<'_>, now: u64) {
        let q = self.quorum(view);
        if q != self.clock.quorum {
            self.clock.quorum = q;
            self.clock.quorum_since = now;
            self.clock.election_epoch += 2;
        }
        let active_up = self
            .clock
            .mgr_active
            .map(|m| self.mgrs.contains(&m) && self.mgr_up(view, m))
            .unwrap_or(false);
        if !active_up {
            let next = self.mgrs.iter().copied().find(|m| self.mgr_up(view, *m));
            if next.is_some() || self.clock.mgr_active.is_some() {
                self.clock.mgr_active = next;
                self.clock.mgr_active_change = now;
            }
            if next.is_some() && self.clock.mgr_pool_created == 0 {
                self.clock.mgr_pool_created = now;
            }
        }
        let up: BTreeSet<u32> = self
            .osds
            .iter()
            .filter(|o| self.osd_up(view, o))
            .map(|o| o.id)
            .collect();
        if up != self.clock.osds_up {
            self.clock.osds_up = up;
            self.clock.last_up_change = now;
        }
    }

    /// Pools as Ceph lists them, with `.mgr` from the first manager on (the pool stays when the
    /// managers go, until deleted).
    pub(crate) fn all_pools(&self) -> Vec<Pool> {
        let mut v = Vec::new();
        let mgr_pool = !self.mgrs.is_empty() || self.clock.mgr_pool_created != 0;
        if mgr_pool && !self.mgr_pool_deleted {
            let (size, min_size) = self.mgr_pool.unwrap_or((self.size, self.min_size));
            v.push(Pool {
                id: 1,
                name: ".mgr".into(),
                size,
                min_size,
                pg_num: 1,
                created: self.clock.mgr_pool_created.max(self.created),
            });
        }
        v.extend(self.pools.iter().cloned());
        v
    }

    fn up(view: NodeView<'_>, node: usize) -> bool {
        view.get(node).map(|(_, up)| *up).unwrap_or(false)
    }

    /// An OSD runs: its node is up and its unit not stopped.
    pub(crate) fn osd_up(&self, view: NodeView<'_>, o: &Osd) -> bool {
        Self::up(view, o.node) && !self.stopped.contains(&format!("osd.{}", o.id))
    }

    /// The monitor on `node` runs.
    fn mon_up(&self, view: NodeView<'_>, node: usize) -> bool {
        Self::up(view, node)
            && !self
                .stopped
                .contains(&format!("mon.{}", Self::name(view, node)))
    }

    /// The manager on `node` runs.
    fn mgr_up(&self, view: NodeView<'_>, node: usize) -> bool {
        Self::up(view, node)
            && !self
                .stopped
                .contains(&format!("mgr.{}", Self::name(view, node)))
    }

    /// `node` booted: its enabled daemon units start again.
    pub(crate) fn node_booted(&mut self, name: &str, node: usize) {
        let osds: Vec<String> = self
            .osds
            .iter()
            .filter(|o| o.node == node)
            .map(|o| format!("osd.{}", o.id))
            .collect();
        self.stopped.retain(|d| {
            !osds.contains(d) && *d != format!("mon.{name}") && *d != format!("mgr.{name}")
        });
    }

    fn name(view: NodeView<'_>, node: usize) -> String {
        view.get(node).map(|(n, _)| n.clone()).unwrap_or_default()
    }

    /// Monitors in quorum (up ones, if a majority is up), in rank order.
    pub(crate) fn quorum(&self, view: NodeView<'_>) -> Vec<usize> {
        let up: Vec<usize> = self
            .mons
            .iter()
            .copied()
            .filter(|m| self.mon_up(view, *m))
            .collect();
        if up.len() * 2 > self.mons.len() {
            up
        } else {
            Vec::new()
        }
    }

    /// The active manager: the one `observe` last chose, if its node is still up.
    fn active_mgr(&self, view: NodeView<'_>) -> Option<usize> {
        match self.clock.mgr_active {
            Some(m) if self.mgrs.contains(&m) && self.mgr_up(view, m) => Some(m),
            _ => self.mgrs.iter().copied().find(|m| self.mgr_up(view, *m)),
        }
    }

    /// CRUSH host buckets in creation order (a host appears with its first OSD and stays when
    /// it has none left), with the bucket ids Ceph gives them: `-1` is the root and each bucket
    /// is followed by its shadow `~hdd` bucket, so hosts are -3, -5, -7…
    fn hosts(&self) -> Vec<(usize, i64)> {
        self.buckets
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, -3 - 2 * i as i64))
            .collect()
    }

    /// Up and in OSDs on distinct hosts, one per host (the default rule's `chooseleaf host`;
    /// an `out` OSD has CRUSH weight 0 and a down one leaves the acting set).
    fn acting(&self, view: NodeView<'_>, size: u32) -> Vec<u32> {
        let mut acting = Vec::new();
        for (node, _) in self.hosts() {
            if acting.len() as u32 >= size {
                continue;
            }
            if let Some(o) = self
                .osds
                .iter()
                .filter(|o| o.node == node && o.is_in && self.osd_up(view, o))
                .min_by_key(|o| o.id)
            {
                acting.push(o.id);
            }
        }
        acting
    }

    fn pool_pgs(&self, view: NodeView<'_>) -> Vec<PoolPgs> {
        self.all_pools()
            .into_iter()
            .map(|p| {
                let acting = self.acting(view, p.size);
                let n = acting.len() as u32;
                // With no OSD up the mgr has no PG stats: `unknown`, as a real one-OSD
                // cluster shows ("pg 1.0 is stuck inactive for 3h, current state unknown, last
                // acting []").
                let state = if acting.is_empty() {
                    "unknown"
                } else if n < p.min_size {
                    "undersized+peered"
                } else if n < p.size {
                    "active+undersized"
                } else {
                    "active+clean"
                };
                PoolPgs {
                    pool: p,
                    state,
                    acting: if state == "unknown" {
                        Vec::new()
                    } else {
                        acting
                    },
                }
            })
            .collect()
    }

    /// PG counts by state, largest first; equal counts in descending state bits, as
    /// `PGMapDigest::print_summary` walks its multimap backwards.
    fn pgs_by_state(&self, view: NodeView<'_>) -> Vec<(&'static str, u64)> {
        let mut by: BTreeMap<&'static str, u64> = BTreeMap::new();
        for p in self.pool_pgs(view) {
            *by.entry(p.state).or_insert(0) += u64::from(p.pool.pg_num);
        }
        let mut v: Vec<(&'static str, u64)> = by.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(state_bits(b.0).cmp(&state_bits(a.0))));
        v
    }

    /// The failing health checks at `now`, sorted by code (`health_check_map_t` is a
    /// `std::map`).
    pub(crate) fn checks_at(&self, view: NodeView<'_>, now: u64) -> Vec<Check> {
        let mut out = Vec::new();
        let warn = "HEALTH_WARN";
        let quorum = self.quorum(view);
        let down_mons: Vec<(usize, usize)> = self
            .mons
            .iter()
            .enumerate()
            .filter(|(_, m)| !quorum.contains(m))
            .map(|(rank, m)| (rank, *m))
            .collect();
        if !down_mons.is_empty() && !quorum.is_empty() {
            let q: Vec<String> = quorum.iter().map(|m| Self::name(view, *m)).collect();
            // HealthMonitor::check_for_mon_down.
            out.push(Check {
                code: "MON_DOWN",
                severity: warn,
                message: format!(
                    "{}/{} mons down, quorum {}",
                    down_mons.len(),
                    self.mons.len(),
                    q.join(",")
                ),
                count: down_mons.len() as u64,
                detail: down_mons
                    .iter()
                    .map(|(rank, m)| {
                        let ip = self.mon_addrs.get(m).copied().unwrap_or(Ipv4Addr::UNSPECIFIED);
                        format!(
                            "mon.{} (rank {rank}) addr [v2:{ip}:3300/0,v1:{ip}:6789/0] is down (out of quorum)",
                            Self::name(view, *m)
                        )
                    })
                    .collect(),
            });
        }
        if !self.mons.is_empty() && self.active_mgr(view).is_none() {
            // MgrMonitor: no daemon holds the active slot.
            out.push(Check {
                code: "MGR_DOWN",
                severity: warn,
                message: "no active mgr".into(),
                count: 1,
                detail: Vec::new(),
            });
        }
        // OSDMap::check_health: down OSDs that are in; from each, the buckets above it whose
        // children are all down (an out OSD that is down counts as down there, an empty
        // bucket vacuously); the root only when every host is down, and then every host.
        let down_osds: BTreeSet<u32> = self
            .osds
            .iter()
            .filter(|o| o.is_in && !self.osd_up(view, o))
            .map(|o| o.id)
            .collect();
        if !down_osds.is_empty() {
            let hosts = self.hosts();
            let host_of = |id: u32| {
                self.osds
                    .iter()
                    .find(|o| o.id == id)
                    .map(|o| Self::name(view, o.node))
                    .unwrap_or_default()
            };
            out.push(Check {
                code: "OSD_DOWN",
                severity: warn,
                message: format!("{} osds down", down_osds.len()),
                count: down_osds.len() as u64,
                detail: down_osds
                    .iter()
                    .map(|id| format!("osd.{id} (root=default,host={}) is down", host_of(*id)))
                    .collect(),
            });
            let host_down = |n: usize| {
                self.osds
                    .iter()
                    .filter(|o| o.node == n)
                    .all(|o| !self.osd_up(view, o))
            };
            let osds_on = |n: usize| self.osds.iter().filter(|o| o.node == n).count();
            let root_down = hosts.iter().all(|(n, _)| host_down(*n));
            let down_hosts: Vec<(usize, usize)> = hosts
                .iter()
                .filter(|(n, _)| {
                    host_down(*n)
                        && (root_down
                            || self
                                .osds
                                .iter()
                                .any(|o| o.node == *n && down_osds.contains(&o.id)))
                })
                .map(|(n, _)| (*n, osds_on(*n)))
                .collect();
            if root_down {
                // The top level prints no location.
                let osds: usize = down_hosts.iter().map(|(_, c)| c).sum();
                out.push(Check {
                    code: "OSD_ROOT_DOWN",
                    severity: warn,
                    message: format!("1 root ({osds} osds) down"),
                    count: 1,
                    detail: vec![format!("root default ({osds} osds) is down")],
                });
            }
            if !down_hosts.is_empty() {
                let n = down_hosts.len();
                let osds: usize = down_hosts.iter().map(|(_, c)| c).sum();
                out.push(Check {
                    code: "OSD_HOST_DOWN",
                    severity: warn,
                    message: format!(
                        "{n} host{} ({osds} osds) down",
                        if n > 1 { "s" } else { "" }
                    ),
                    count: n as u64,
                    detail: down_hosts
                        .iter()
                        .map(|(node, c)| {
                            format!(
                                "host {} (root=default) ({c} osds) is down",
                                Self::name(view, *node)
                            )
                        })
                        .collect(),
                });
            }
        }
        // PGMap::get_health_checks: inactive and undersized PGs once stuck.
        let last_up = self.clock.last_up_change;
        let mut inactive: (u64, Vec<String>) = (0, Vec::new());
        let mut undersized: (u64, Vec<String>) = (0, Vec::new());
        for pp in self.pool_pgs(view) {
            let since = pp.pool.created.max(last_up);
            if now.saturating_sub(since) < PG_STUCK_SECS {
                continue;
            }
            let acting: Vec<String> = pp.acting.iter().map(u32::to_string).collect();
            let line = |what: &str, seed: u32| {
                format!(
                    "pg {}.{seed:x} is stuck {what} for {}, current state {}, last acting [{}]",
                    pp.pool.id,
                    timespan_str(now.saturating_sub(since)),
                    pp.state,
                    acting.join(",")
                )
            };
            let is_inactive = !pp.state.starts_with("active");
            let is_undersized = pp.state.contains("undersized");
            for seed in 0..pp.pool.pg_num {
                if is_inactive {
                    inactive.0 += 1;
                    if inactive.1.len() <= MAX_DETAIL {
                        inactive.1.push(line("inactive", seed));
                    }
                }
                if is_undersized {
                    undersized.0 += 1;
                    if undersized.1.len() <= MAX_DETAIL {
                        undersized.1.push(line("undersized", seed));
                    }
                }
            }
        }
        let pgs = |n: u64, what: &str| format!("{n} {} {what}", if n > 1 { "pgs" } else { "pg" });
        if inactive.0 > 0 {
            out.push(Check {
                code: "PG_AVAILABILITY",
                severity: warn,
                message: format!("Reduced data availability: {}", pgs(inactive.0, "inactive")),
                count: inactive.0,
                detail: inactive.1,
            });
        }
        if undersized.0 > 0 {
            out.push(Check {
                code: "PG_DEGRADED",
                severity: warn,
                message: format!(
                    "Degraded data redundancy: {}",
                    pgs(undersized.0, "undersized")
                ),
                count: undersized.0,
                detail: undersized.1,
            });
        }
        // OSDMap::check_health: replicated pools of size 1, `.mgr` included.
        let pools = self.all_pools();
        let no_replicas: Vec<&Pool> = pools.iter().filter(|p| p.size == 1).collect();
        if !no_replicas.is_empty() {
            out.push(Check {
                code: "POOL_NO_REDUNDANCY",
                severity: warn,
                message: format!("{} pool(s) have no replicas configured", no_replicas.len()),
                count: no_replicas.len() as u64,
                detail: no_replicas
                    .iter()
                    .map(|p| format!("pool '{}' has no replicas configured", p.name))
                    .collect(),
            });
        }
        let n = self.osds.len() as u32;
        if n < self.size {
            // PGMap::get_health_checks: count is the shortfall.
            out.push(Check {
                code: "TOO_FEW_OSDS",
                severity: warn,
                message: format!("OSD count {n} < osd_pool_default_size {}", self.size),
                count: u64::from(self.size - n),
                detail: Vec::new(),
            });
        }
        out.sort_by(|a, b| a.code.cmp(b.code));
        out
    }

    fn status_word(checks: &[Check]) -> &'static str {
        if checks.iter().any(|c| c.severity == "HEALTH_ERR") {
            "HEALTH_ERR"
        } else if checks.is_empty() {
            "HEALTH_OK"
        } else {
            "HEALTH_WARN"
        }
    }

    /// `ceph health [detail]` as text.
    pub(crate) fn health_text(&self, view: NodeView<'_>, detail: bool) -> String {
        self.health_text_at(view, detail, super::world::now_secs())
    }

    fn health_text_at(&self, view: NodeView<'_>, detail: bool, now: u64) -> String {
        let checks = self.checks_at(view, now);
        let mut s = Self::status_word(&checks).to_string();
        if !checks.is_empty() {
            let msgs: Vec<&str> = checks.iter().map(|c| c.message.as_str()).collect();
            s.push(' ');
            s.push_str(&msgs.join("; "));
        }
        s.push('\n');
        if detail {
            for c in &checks {
                let short = if c.severity == "HEALTH_ERR" {
                    "ERR"
                } else {
                    "WRN"
                };
                s.push_str(&format!("[{short}] {}: {}\n", c.code, c.message));
                for d in &c.detail {
                    s.push_str(&format!("    {d}\n"));
                }
            }
        }
        s
    }

    /// The `health` object of `ceph health [detail] --format json` and `ceph -s --format json`.
    pub(crate) fn health_json(&self, view: NodeView<'_>, detail: bool) -> Value {
        self.health_json_at(view, detail, super::world::now_secs())
    }

    fn health_json_at(&self, view: NodeView<'_>, detail: bool, now: u64) -> Value {
        let checks = self.checks_at(view, now);
        let mut cj = Map::new();
        for c in &checks {
            let mut o = Map::new();
            o.insert("severity".into(), json!(c.severity));
            o.insert(
                "summary".into(),
                json!({"message": c.message, "count": c.count}),
            );
            if detail {
                let d: Vec<Value> = c.detail.iter().map(|m| json!({"message": m})).collect();
                o.insert("detail".into(), Value::Array(d));
            }
            o.insert("muted".into(), json!(false));
            cj.insert(c.code.to_string(), Value::Object(o));
        }
        json!({"status": Self::status_word(&checks), "checks": cj, "mutes": []})
    }

    fn bytes_total(&self, view: NodeView<'_>) -> u64 {
        self.osds
            .iter()
            .filter(|o| self.osd_up(view, o))
            .map(|o| o.size_gb * 1024 * 1024 * 1024)
            .sum()
    }

    fn num_pgs(&self) -> u64 {
        self.all_pools().iter().map(|p| u64::from(p.pg_num)).sum()
    }

    /// (unknown, inactive) PG counts, as `PGMapDigest::print_summary` splits them.
    fn unknown_inactive(&self, view: NodeView<'_>) -> (u64, u64) {
        let by = self.pgs_by_state(view);
        let unknown = by
            .iter()
            .filter(|(s, _)| *s == "unknown")
            .map(|(_, n)| n)
            .sum();
        let active: u64 = by
            .iter()
            .filter(|(s, _)| s.starts_with("active"))
            .map(|(_, n)| n)
            .sum();
        (unknown, self.num_pgs() - active - unknown)
    }

    /// `ceph status --format json` (`Monitor::get_cluster_status`).
    pub(crate) fn status_json(&self, view: NodeView<'_>) -> Value {
        self.status_json_at(view, super::world::now_secs())
    }

    fn status_json_at(&self, view: NodeView<'_>, now: u64) -> Value {
        let quorum = self.quorum(view);
        let up_osds = self.osds.iter().filter(|o| self.osd_up(view, o)).count();
        let in_osds = self.osds.iter().filter(|o| o.is_in).count();
        let pools = self.all_pools();
        let num_pgs = self.num_pgs();
        let states: Vec<Value> = self
            .pgs_by_state(view)
            .into_iter()
            .map(|(s, n)| json!({"state_name": s, "count": n}))
            .collect();
        let total = self.bytes_total(view);
        let used = (self.osds.len() as u64) * 27 * 1024 * 1024;
        let active = self.active_mgr(view);
        let mut pgmap = json!({
            "pgs_by_state": states,
            "num_pgs": num_pgs,
            "num_pools": pools.len(),
            "num_objects": if pools.is_empty() { 0 } else { 2 },
            "data_bytes": 0,
            "bytes_used": used,
            "bytes_avail": total.saturating_sub(used),
            "bytes_total": total
        });
        let (unknown, inactive) = self.unknown_inactive(view);
        if let Some(m) = pgmap.as_object_mut() {
            // Floats, present only when non-zero (PGMapDigest::print_summary).
            if unknown > 0 {
                m.insert(
                    "unknown_pgs_ratio".into(),
                    json!(unknown as f64 / num_pgs as f64),
                );
            }
            if inactive > 0 {
                m.insert(
                    "inactive_pgs_ratio".into(),
                    json!(inactive as f64 / num_pgs as f64),
                );
            }
        }
        json!({
            "fsid": self.fsid,
            "health": self.health_json_at(view, false, now),
            "election_epoch": self.clock.election_epoch.max(1),
            "quorum": quorum.iter().filter_map(|m| self.mons.iter().position(|x| x == m)).collect::<Vec<_>>(),
            "quorum_names": quorum.iter().map(|m| Self::name(view, *m)).collect::<Vec<_>>(),
            "quorum_age": now.saturating_sub(self.clock.quorum_since),
            "monmap": {"epoch": self.monmap_epoch, "min_mon_release_name": "tentacle", "num_mons": self.mons.len()},
            "osdmap": {
                "epoch": self.epoch,
                "num_osds": self.osds.len(),
                "num_up_osds": up_osds,
                "osd_up_since": self.clock.last_up_change,
                "num_in_osds": in_osds,
                "osd_in_since": self.clock.last_in_change,
                "num_remapped_pgs": 0
            },
            "pgmap": pgmap,
            "fsmap": {"epoch": 1, "by_rank": [], "up:standby": 0},
            "mgrmap": {
                "available": active.is_some(),
                "num_standbys": self.mgrs.iter().filter(|m| Some(**m) != active && self.mgr_up(view, **m)).count(),
                "modules": ["iostat", "nfs", "restful"],
                "services": {}
            },
            "servicemap": {
                "epoch": 1,
                "modified": utime_str(self.clock.servicemap_modified),
                "services": {}
            },
            "progress_events": {}
        })
    }

    /// `ceph -s` for people.
    pub(crate) fn status_text(&self, view: NodeView<'_>) -> String {
        self.status_text_at(view, super::world::now_secs())
    }

    fn status_text_at(&self, view: NodeView<'_>, now: u64) -> String {
        let checks = self.checks_at(view, now);
        let mut s = String::new();
        s.push_str("  cluster:\n");
        s.push_str(&format!("    id:     {}\n", self.fsid));
        s.push_str(&format!("    health: {}\n", Self::status_word(&checks)));
        for c in &checks {
            s.push_str(&format!("            {}\n", c.message));
        }
        s.push_str(" \n  services:\n");
        let quorum = self.quorum(view);
        let q: Vec<String> = quorum.iter().map(|m| Self::name(view, *m)).collect();
        s.push_str(&format!(
            "    mon: {} daemons, quorum {} (age {})",
            self.mons.len(),
            q.join(","),
            timespan_str(now.saturating_sub(self.clock.quorum_since))
        ));
        let out_of_q: Vec<String> = self
            .mons
            .iter()
            .filter(|m| !quorum.contains(m))
            .map(|m| Self::name(view, *m))
            .collect();
        if !out_of_q.is_empty() {
            s.push_str(&format!(", out of quorum: {}", out_of_q.join(", ")));
        }
        s.push('\n');
        let since = |t: u64| timespan_str(now.saturating_sub(t));
        let active = self.active_mgr(view);
        let mut mgr = match active {
            Some(m) => format!(
                "{}(active, since {})",
                Self::name(view, m),
                since(self.clock.mgr_active_change)
            ),
            None if self.clock.mgr_active_change != 0 => {
                format!(
                    "no daemons active (since {})",
                    since(self.clock.mgr_active_change)
                )
            }
            None => "no daemons active".into(),
        };
        let standbys: Vec<String> = self
            .mgrs
            .iter()
            .filter(|m| Some(**m) != active && self.mgr_up(view, **m))
            .map(|m| Self::name(view, *m))
            .collect();
        if !standbys.is_empty() {
            mgr.push_str(&format!(", standbys: {}", standbys.join(", ")));
        }
        s.push_str(&format!("    mgr: {mgr}\n"));
        s.push_str(&format!(
            "    osd: {}\n",
            self.osd_summary(view, now, false)
        ));
        let pools = self.all_pools();
        s.push_str(" \n  data:\n");
        s.push_str(&format!(
            "    pools:   {} pools, {} pgs\n",
            pools.len(),
            self.num_pgs()
        ));
        s.push_str("    objects: 0 objects, 0 B\n");
        let total_gib = self.bytes_total(view) / (1024 * 1024 * 1024);
        s.push_str(&format!(
            "    usage:   0 B used, {total_gib} GiB / {total_gib} GiB avail\n"
        ));
        s.push_str("    pgs:     ");
        let num_pgs = self.num_pgs();
        let (unknown, inactive) = self.unknown_inactive(view);
        let mut lines = Vec::new();
        if unknown > 0 {
            lines.push(format!(
                "{:.3}% pgs unknown",
                unknown as f64 * 100.0 / num_pgs as f64
            ));
        }
        if inactive > 0 {
            lines.push(format!(
                "{:.3}% pgs not active",
                inactive as f64 * 100.0 / num_pgs as f64
            ));
        }
        let by = self.pgs_by_state(view);
        let width = by
            .iter()
            .map(|(_, n)| n.to_string().len())
            .max()
            .unwrap_or(1);
        for (st, n) in by {
            lines.push(format!("{n:<width$} {st}"));
        }
        if lines.is_empty() {
            s.push('\n');
        }
        for (i, l) in lines.iter().enumerate() {
            if i > 0 {
                s.push_str("             ");
            }
            s.push_str(l);
            s.push('\n');
        }
        s.push_str(" \n");
        s
    }

    /// `OSDMap::print_summary` as text: `N osds: U up (since …), I in (since …)`, with
    /// `; epoch: eE` for `ceph osd stat`.
    fn osd_summary(&self, view: NodeView<'_>, now: u64, extra: bool) -> String {
        let up = self.osds.iter().filter(|o| self.osd_up(view, o)).count();
        let in_ = self.osds.iter().filter(|o| o.is_in).count();
        let since = |t: u64| {
            if t == 0 {
                String::new()
            } else {
                format!(" (since {})", timespan_str(now.saturating_sub(t)))
            }
        };
        let mut s = format!(
            "{} osds: {up} up{}, {} in{}",
            self.osds.len(),
            since(self.clock.last_up_change),
            in_,
            since(self.clock.last_in_change)
        );
        if extra {
            s.push_str(&format!("; epoch: e{}", self.epoch));
        }
        s
    }

    /// `ceph osd stat`.
    pub(crate) fn osd_stat_text(&self, view: NodeView<'_>) -> String {
        format!(
            "{}\n",
            self.osd_summary(view, super::world::now_secs(), true)
        )
    }

    /// An OSD's CRUSH weight in 16.16 fixed point: its size in TiB rounded to four decimals,
    /// as the OSD sets it on first boot (`osd_crush_initial_weight` < 0, `%.4lf`), then
    /// truncated to CRUSH's fixed point. Three 10 GiB OSDs show `0.00980` each and `0.02939`
    /// for their host.
    fn crush_weight_fp(size_gb: u64) -> u64 {
        let tib = size_gb as f64 / 1024.0;
        let rounded = (tib * 10_000.0).round() / 10_000.0;
        (rounded.max(0.00001) * 65536.0) as u64
    }

    /// The CRUSH tree in dump order (`CrushTreeDumper::Dumper::next`): the root, then each
    /// host by name with its OSDs by id. `children` lists a bucket's items as `Item::children`
    /// does: its sorted map walked backwards, so highest first.
    fn crush_tree(&self, view: NodeView<'_>) -> Vec<TreeItem> {
        let mut hosts: Vec<(String, usize, i64)> = self
            .hosts()
            .into_iter()
            .map(|(n, id)| (Self::name(view, n), n, id))
            .collect();
        hosts.sort();
        let weight = |o: &Osd| Self::crush_weight_fp(o.size_gb);
        let mut items = Vec::new();
        let mut host_items = Vec::new();
        let mut root_weight = 0;
        for (name, node, id) in &hosts {
            let mut osds: Vec<&Osd> = self.osds.iter().filter(|o| o.node == *node).collect();
            osds.sort_by_key(|o| o.id);
            let w: u64 = osds.iter().map(|o| weight(o)).sum();
            root_weight += w;
            host_items.push(TreeItem {
                id: *id,
                depth: 1,
                weight: w,
                name: name.clone(),
                osd: None,
                children: osds.iter().rev().map(|o| i64::from(o.id)).collect(),
            });
            for o in osds {
                host_items.push(TreeItem {
                    id: i64::from(o.id),
                    depth: 2,
                    weight: weight(o),
                    name: format!("osd.{}", o.id),
                    osd: Some((self.osd_up(view, o), o.is_in)),
                    children: Vec::new(),
                });
            }
        }
        items.push(TreeItem {
            id: -1,
            depth: 0,
            weight: root_weight,
            name: "default".into(),
            osd: None,
            children: hosts.iter().rev().map(|(_, _, id)| *id).collect(),
        });
        items.extend(host_items);
        items
    }

    /// `ceph osd tree` (`OSDTreePlainDumper` into a `TextTable`: cells padded to the column
    /// width, headings left-aligned, columns joined by two spaces).
    pub(crate) fn osd_tree_text(&self, view: NodeView<'_>) -> String {
        let mut rows: Vec<[String; 7]> = vec![[
            "ID".into(),
            "CLASS".into(),
            "WEIGHT".into(),
            "TYPE NAME".into(),
            "STATUS".into(),
            "REWEIGHT".into(),
            "PRI-AFF".into(),
        ]];
        for it in self.crush_tree(view) {
            let indent = "    ".repeat(it.depth);
            let w = weightf(it.weight as f64 / 65536.0);
            rows.push(match it.osd {
                Some((up, is_in)) => [
                    it.id.to_string(),
                    DEVICE_CLASS.into(),
                    w,
                    format!("{indent}{}", it.name),
                    if up { "up" } else { "down" }.into(),
                    weightf(if is_in { 1.0 } else { 0.0 }),
                    weightf(1.0),
                ],
                None => [
                    it.id.to_string(),
                    String::new(),
                    w,
                    format!(
                        "{indent}{} {}",
                        if it.id == -1 { "root" } else { "host" },
                        it.name
                    ),
                    String::new(),
                    String::new(),
                    String::new(),
                ],
            });
        }
        let mut width = [0usize; 7];
        for r in &rows {
            for (i, c) in r.iter().enumerate() {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let mut s = String::new();
        for (ri, r) in rows.iter().enumerate() {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    // Headings and TYPE NAME are left-aligned, the rest right-aligned.
                    if ri == 0 || i == 3 {
                        format!("{c:<w$}", w = width[i])
                    } else {
                        format!("{c:>w$}", w = width[i])
                    }
                })
                .collect();
            s.push_str(&cells.join("  "));
            s.push('\n');
        }
        s
    }

    /// `ceph osd tree --format json` (`OSDTreeFormattingDumper`): `nodes` then `stray`.
    pub(crate) fn osd_tree_json(&self, view: NodeView<'_>) -> Value {
        let nodes: Vec<Value> = self
            .crush_tree(view)
            .into_iter()
            .map(|it| {
                let mut o = Map::new();
                o.insert("id".into(), json!(it.id));
                match it.osd {
                    Some((up, is_in)) => {
                        o.insert("device_class".into(), json!(DEVICE_CLASS));
                        o.insert("name".into(), json!(it.name));
                        o.insert("type".into(), json!("osd"));
                        o.insert("type_id".into(), json!(0));
                        o.insert("crush_weight".into(), float(it.weight as f64 / 65536.0));
                        o.insert("depth".into(), json!(it.depth));
                        o.insert("pool_weights".into(), json!({}));
                        o.insert("exists".into(), json!(1));
                        o.insert("status".into(), json!(if up { "up" } else { "down" }));
                        o.insert("reweight".into(), float(if is_in { 1.0 } else { 0.0 }));
                        o.insert("primary_affinity".into(), float(1.0));
                    }
                    None => {
                        let (ty, ty_id) = if it.id == -1 {
                            ("root", 10)
                        } else {
                            ("host", 1)
                        };
                        o.insert("name".into(), json!(it.name));
                        o.insert("type".into(), json!(ty));
                        o.insert("type_id".into(), json!(ty_id));
                        if it.id != -1 {
                            // Items with a parent bucket carry their (empty) weight sets.
                            o.insert("pool_weights".into(), json!({}));
                        }
                        o.insert("children".into(), json!(it.children));
                    }
                }
                Value::Object(o)
            })
            .collect();
        json!({"nodes": nodes, "stray": []})
    }
}

/// One CRUSH item as `ceph osd tree` shows it.
struct TreeItem {
    id: i64,
    depth: usize,
    /// 16.16 fixed point.
    weight: u64,
    name: String,
    /// For an OSD, whether it is up and whether it is in; `None` for a bucket.
    osd: Option<(bool, bool)>,
    children: Vec<i64>,
}

/// The device class every lab OSD gets. ceph-volume reads `rotational` from sysfs; the lab's
/// disks are virtual block volumes that report rotational (a lab assumption).
const DEVICE_CLASS: &str = "hdd";

#[cfg(test)]
#[path = "ceph_tests.rs"]
mod tests;
