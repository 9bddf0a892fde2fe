//! Ceph as `pveceph` builds it (`proxmox/pve-manager:PVE/API2/Ceph*.pm`, research §D.2), and
//! the health Ceph reports for it.
//!
//! Health comes only from real Ceph health checks, computed from the emulated maps:
//! `MON_DOWN`, `MGR_DOWN`, `OSD_DOWN`, `OSD_HOST_DOWN`, `TOO_FEW_OSDS` ("OSD count N <
//! osd_pool_default_size S"), `PG_AVAILABILITY`, `PG_DEGRADED` and `POOL_NO_REDUNDANCY`. CRUSH
//! places replicas on distinct hosts (the default rule), so a pool of size 3 needs OSDs on three
//! hosts before its PGs are `active+clean`. The `.mgr` pool appears with the first manager, as in
//! Ceph since Quincy, so a fresh cluster is HEALTH_WARN until enough OSD hosts exist.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

/// An OSD.
#[derive(Debug, Clone)]
pub(crate) struct Osd {
    pub(crate) id: u32,
    pub(crate) node: usize,
    pub(crate) size_gb: u64,
}

/// A RADOS pool.
#[derive(Debug, Clone)]
pub(crate) struct Pool {
    pub(crate) id: u32,
    pub(crate) name: String,
    pub(crate) size: u32,
    pub(crate) min_size: u32,
    pub(crate) pg_num: u32,
}

/// `/etc/pve/ceph.conf` plus the cluster maps.
#[derive(Debug, Clone)]
pub(crate) struct Ceph {
    pub(crate) fsid: String,
    pub(crate) network: String,
    pub(crate) cluster_network: Option<String>,
    pub(crate) size: u32,
    pub(crate) min_size: u32,
    pub(crate) mons: Vec<usize>,
    pub(crate) mgrs: Vec<usize>,
    pub(crate) osds: Vec<Osd>,
    pub(crate) pools: Vec<Pool>,
    pub(crate) created: u64,
    pub(crate) epoch: u32,
}

/// One failing health check.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Check {
    pub(crate) code: &'static str,
    pub(crate) severity: &'static str,
    pub(crate) message: String,
    pub(crate) count: u64,
}

/// Node names and whether each is up, indexed like the world's nodes.
pub(crate) type NodeView<'a> = &'a [(String, bool)];

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
        }
    }

    /// Pools as Ceph lists them, with `.mgr` once a manager exists.
    pub(crate) fn all_pools(&self) -> Vec<Pool> {
        let mut v = Vec::new();
        if !self.mgrs.is_empty() {
            v.push(Pool {
                id: 1,
                name: ".mgr".into(),
                size: self.size,
                min_size: self.min_size,
                pg_num: 1,
            });
        }
        v.extend(self.pools.iter().cloned());
        v
    }

    fn up(view: NodeView<'_>, node: usize) -> bool {
        view.get(node).map(|(_, up)| *up).unwrap_or(false)
    }

    fn name(view: NodeView<'_>, node: usize) -> String {
        view.get(node).map(|(n, _)| n.clone()).unwrap_or_default()
    }

    /// Monitors in quorum (up ones, if a majority is up).
    pub(crate) fn quorum(&self, view: NodeView<'_>) -> Vec<usize> {
        let up: Vec<usize> = self
            .mons
            .iter()
            .copied()
            .filter(|m| Self::up(view, *m))
            .collect();
        if up.len() * 2 > self.mons.len() {
            up
        } else {
            Vec::new()
        }
    }

    fn up_osd_hosts(&self, view: NodeView<'_>) -> BTreeSet<usize> {
        self.osds
            .iter()
            .filter(|o| Self::up(view, o.node))
            .map(|o| o.node)
            .collect()
    }

    /// PG states per pool: (pgs, state name).
    fn pg_states(&self, view: NodeView<'_>) -> BTreeMap<String, u64> {
        let hosts = self.up_osd_hosts(view).len() as u32;
        let mut states = BTreeMap::new();
        for p in self.all_pools() {
            let state = if self.osds.is_empty() {
                "unknown"
            } else if hosts < p.min_size {
                "undersized+peered"
            } else if hosts < p.size {
                "active+undersized"
            } else {
                "active+clean"
            };
            *states.entry(state.to_string()).or_insert(0) += u64::from(p.pg_num);
        }
        states
    }

    /// The failing health checks.
    pub(crate) fn checks(&self, view: NodeView<'_>) -> Vec<Check> {
        let mut out = Vec::new();
        let warn = "HEALTH_WARN";
        let down_mons: Vec<usize> = self
            .mons
            .iter()
            .copied()
            .filter(|m| !Self::up(view, *m))
            .collect();
        if !down_mons.is_empty() {
            let q: Vec<String> = self
                .quorum(view)
                .iter()
                .map(|m| Self::name(view, *m))
                .collect();
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
            });
        }
        if !self.mons.is_empty() && !self.mgrs.iter().any(|m| Self::up(view, *m)) {
            out.push(Check {
                code: "MGR_DOWN",
                severity: warn,
                message: "no active mgr".into(),
                count: 1,
            });
        }
        let down_osds: Vec<&Osd> = self
            .osds
            .iter()
            .filter(|o| !Self::up(view, o.node))
            .collect();
        if !down_osds.is_empty() {
            out.push(Check {
                code: "OSD_DOWN",
                severity: warn,
                message: format!("{} osds down", down_osds.len()),
                count: down_osds.len() as u64,
            });
            let hosts: BTreeSet<usize> = down_osds.iter().map(|o| o.node).collect();
            out.push(Check {
                code: "OSD_HOST_DOWN",
                severity: warn,
                message: format!("{} host ({} osds) down", hosts.len(), down_osds.len()),
                count: hosts.len() as u64,
            });
        }
        if (self.osds.len() as u32) < self.size {
            out.push(Check {
                code: "TOO_FEW_OSDS",
                severity: warn,
                message: format!(
                    "OSD count {} < osd_pool_default_size {}",
                    self.osds.len(),
                    self.size
                ),
                count: 1,
            });
        }
        let states = self.pg_states(view);
        let inactive: u64 = states
            .iter()
            .filter(|(s, _)| s.as_str() == "unknown" || s.contains("peered"))
            .map(|(_, n)| *n)
            .sum();
        if inactive > 0 {
            out.push(Check {
                code: "PG_AVAILABILITY",
                severity: warn,
                message: format!("Reduced data availability: {inactive} pgs inactive"),
                count: inactive,
            });
        }
        let undersized: u64 = states
            .iter()
            .filter(|(s, _)| s.contains("undersized"))
            .map(|(_, n)| *n)
            .sum();
        if undersized > 0 {
            out.push(Check {
                code: "PG_DEGRADED",
                severity: warn,
                message: format!("Degraded data redundancy: {undersized} pgs undersized"),
                count: undersized,
            });
        }
        let no_replicas = self.pools.iter().filter(|p| p.size == 1).count();
        if no_replicas > 0 {
            out.push(Check {
                code: "POOL_NO_REDUNDANCY",
                severity: warn,
                message: format!("{no_replicas} pool(s) have no replicas configured"),
                count: no_replicas as u64,
            });
        }
        out
    }

    /// `ceph health` (one line) and `ceph health detail`.
    pub(crate) fn health_text(&self, view: NodeView<'_>, detail: bool) -> String {
        let checks = self.checks(view);
        let status = if checks.is_empty() {
            "HEALTH_OK"
        } else {
            "HEALTH_WARN"
        };
        if !detail {
            if checks.is_empty() {
                return format!("{status}\n");
            }
            let msgs: Vec<&str> = checks.iter().map(|c| c.message.as_str()).collect();
            return format!("{status} {}\n", msgs.join("; "));
        }
        let mut s = if checks.is_empty() {
            format!("{status}\n")
        } else {
            let msgs: Vec<&str> = checks.iter().map(|c| c.message.as_str()).collect();
            format!("{status}: {}\n", msgs.join("; "))
        };
        for c in &checks {
            s.push_str(&format!("[WRN] {}: {}\n", c.code, c.message));
        }
        s
    }

    fn bytes_total(&self, view: NodeView<'_>) -> u64 {
        self.osds
            .iter()
            .filter(|o| Self::up(view, o.node))
            .map(|o| o.size_gb * 1024 * 1024 * 1024)
            .sum()
    }

    /// `ceph status --format json` (shape as in research §D.2).
    pub(crate) fn status_json(&self, view: NodeView<'_>) -> Value {
        let checks = self.checks(view);
        let mut cj = serde_json::Map::new();
        for c in &checks {
            cj.insert(
                c.code.to_string(),
                json!({"severity": c.severity, "summary": {"message": c.message, "count": c.count}, "muted": false}),
            );
        }
        let quorum = self.quorum(view);
        let now = super::world::now_secs();
        let up_osds = self.osds.iter().filter(|o| Self::up(view, o.node)).count();
        let pools = self.all_pools();
        let num_pgs: u64 = pools.iter().map(|p| u64::from(p.pg_num)).sum();
        let states: Vec<Value> = self
            .pg_states(view)
            .into_iter()
            .map(|(s, n)| json!({"state_name": s, "count": n}))
            .collect();
        let total = self.bytes_total(view);
        let used = (self.osds.len() as u64) * 27 * 1024 * 1024;
        let active_mgr = self.mgrs.iter().find(|m| Self::up(view, **m));
        json!({
            "fsid": self.fsid,
            "health": {
                "status": if checks.is_empty() { "HEALTH_OK" } else { "HEALTH_WARN" },
                "checks": Value::Object(cj),
                "mutes": []
            },
            "election_epoch": 2 * self.mons.len() + 1,
            "quorum": quorum.iter().enumerate().map(|(i, _)| i).collect::<Vec<_>>(),
            "quorum_names": quorum.iter().map(|m| Self::name(view, *m)).collect::<Vec<_>>(),
            "quorum_age": now.saturating_sub(self.created),
            "monmap": {"epoch": self.mons.len(), "min_mon_release_name": "tentacle", "num_mons": self.mons.len()},
            "osdmap": {
                "epoch": self.epoch,
                "num_osds": self.osds.len(),
                "num_up_osds": up_osds,
                "osd_up_since": self.created,
                "num_in_osds": self.osds.len(),
                "osd_in_since": self.created,
                "num_remapped_pgs": 0
            },
            "pgmap": {
                "pgs_by_state": states,
                "num_pgs": num_pgs,
                "num_pools": pools.len(),
                "num_objects": if pools.is_empty() { 0 } else { 2 },
                "data_bytes": 0,
                "bytes_used": used,
                "bytes_avail": total.saturating_sub(used),
                "bytes_total": total
            },
            "fsmap": {"epoch": 1, "by_rank": [], "up:standby": 0},
            "mgrmap": {
                "available": active_mgr.is_some(),
                "num_standbys": self.mgrs.len().saturating_sub(1),
                "modules": ["iostat", "nfs", "restful"],
                "services": {}
            },
            "servicemap": {"epoch": 1, "services": {}},
            "progress_events": {}
        })
    }

    /// `ceph -s` for people.
    pub(crate) fn status_text(&self, view: NodeView<'_>) -> String {
        let checks = self.checks(view);
        let mut s = String::new();
        s.push_str("  cluster:\n");
        s.push_str(&format!("    id:     {}\n", self.fsid));
        s.push_str(&format!(
            "    health: {}\n",
            if checks.is_empty() {
                "HEALTH_OK"
            } else {
                "HEALTH_WARN"
            }
        ));
        for c in &checks {
            s.push_str(&format!("            {}\n", c.message));
        }
        s.push_str(" \n  services:\n");
        let q: Vec<String> = self
            .quorum(view)
            .iter()
            .map(|m| Self::name(view, *m))
            .collect();
        s.push_str(&format!(
            "    mon: {} daemons, quorum {}\n",
            self.mons.len(),
            q.join(",")
        ));
        match self.mgrs.iter().find(|m| Self::up(view, **m)) {
            Some(m) => {
                let standbys: Vec<String> = self
                    .mgrs
                    .iter()
                    .filter(|x| *x != m)
                    .map(|x| Self::name(view, *x))
                    .collect();
                if standbys.is_empty() {
                    s.push_str(&format!("    mgr: {}(active)\n", Self::name(view, *m)));
                } else {
                    s.push_str(&format!(
                        "    mgr: {}(active), standbys: {}\n",
                        Self::name(view, *m),
                        standbys.join(", ")
                    ));
                }
            }
            None => s.push_str("    mgr: no daemons active\n"),
        }
        let up = self.osds.iter().filter(|o| Self::up(view, o.node)).count();
        s.push_str(&format!(
            "    osd: {} osds: {} up, {} in\n",
            self.osds.len(),
            up,
            self.osds.len()
        ));
        let pools = self.all_pools();
        let pgs: u64 = pools.iter().map(|p| u64::from(p.pg_num)).sum();
        s.push_str(" \n  data:\n");
        s.push_str(&format!(
            "    pools:   {} pools, {} pgs\n",
            pools.len(),
            pgs
        ));
        s.push_str("    objects: 0 objects, 0 B\n");
        let total_gib = self.bytes_total(view) / (1024 * 1024 * 1024);
        s.push_str(&format!(
            "    usage:   0 B used, {total_gib} GiB / {total_gib} GiB avail\n"
        ));
        let states = self.pg_states(view);
        let mut first = true;
        for (st, n) in states {
            if first {
                s.push_str(&format!("    pgs:     {n} {st}\n"));
                first = false;
            } else {
                s.push_str(&format!("             {n} {st}\n"));
            }
        }
        s.push_str(" \n");
        s
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    fn view(up: &[bool]) -> Vec<(String, bool)> {
        up.iter()
            .enumerate()
            .map(|(i, u)| (format!("ampere-{}", i + 1), *u))
            .collect()
    }

    #[test]
    fn health_follows_documented_checks() {
        let v = view(&[true, true, true]);
        let mut c = Ceph::new("f".into(), "127.1.1.0/24".into(), None, 3, 2);
        c.mons.push(0);
        c.mgrs.push(0);
        let codes = |c: &Ceph, v: &[(String, bool)]| -> Vec<&'static str> {
            c.checks(v).iter().map(|x| x.code).collect()
        };
        assert_eq!(
            codes(&c, &v),
            vec!["TOO_FEW_OSDS", "PG_AVAILABILITY"],
            "fresh cluster"
        );
        for n in 0..2 {
            c.osds.push(Osd {
                id: n as u32,
                node: n,
                size_gb: 25,
            });
        }
        assert_eq!(
            codes(&c, &v),
            vec!["TOO_FEW_OSDS", "PG_DEGRADED"],
            "two OSD hosts"
        );
        c.osds.push(Osd {
            id: 2,
            node: 2,
            size_gb: 25,
        });
        assert!(codes(&c, &v).is_empty(), "three OSD hosts");
        assert_eq!(c.health_text(&v, false), "HEALTH_OK\n");
        let down = view(&[true, true, false]);
        assert_eq!(
            codes(&c, &down),
            vec!["OSD_DOWN", "OSD_HOST_DOWN", "PG_DEGRADED"]
        );
    }
}
