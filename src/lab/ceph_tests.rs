//! Tests of `ceph.rs`: each quotes the real output it matches and names its source.

use super::*;

fn view(up: &[bool]) -> Vec<(String, bool)> {
    up.iter()
        .enumerate()
        .map(|(i, u)| (format!("ampere-{}", i + 1), *u))
        .collect()
}

const T0: u64 = 1_790_000_000;

/// A named case: OSD count, which nodes are up, when to look, the codes expected.
type Case<'a> = (&'a str, usize, &'a [bool], u64, &'a [&'a str]);

/// Three mons and a manager on three nodes, created at `T0`, with `osds` 10 GiB OSDs on the
/// first nodes.
fn cluster(osds: usize) -> (Ceph, Vec<(String, bool)>) {
    let v = view(&[true, true, true]);
    let mut c = Ceph::new("f".into(), "10.10.30.0/24".into(), None, 3, 2);
    c.created = T0;
    for n in 0..3 {
        c.add_mon(n, Ipv4Addr::new(10, 10, 30, 51 + n as u8));
    }
    c.mgrs.push(0);
    c.observe(&v, T0);
    for n in 0..osds {
        c.add_osd(n, 10, T0);
    }
    c.observe(&v, T0);
    (c, v)
}

fn codes(c: &Ceph, v: &[(String, bool)], now: u64) -> Vec<&'static str> {
    c.checks_at(v, now).iter().map(|x| x.code).collect()
}

#[test]
fn health_follows_documented_checks() {
    // Codes sort as in `health_check_map_t` (a std::map); a PG is named only once stuck for
    // `mon_pg_stuck_threshold` (60 s, PGMap.cc `get_health_checks`).
    let cases: &[Case<'_>] = &[
        (
            "fresh, not yet stuck",
            0,
            &[true, true, true],
            T0 + 10,
            &["TOO_FEW_OSDS"],
        ),
        (
            "fresh, stuck",
            0,
            &[true, true, true],
            T0 + 61,
            &["PG_AVAILABILITY", "TOO_FEW_OSDS"],
        ),
        (
            "two OSD hosts",
            2,
            &[true, true, true],
            T0 + 61,
            &["PG_DEGRADED", "TOO_FEW_OSDS"],
        ),
        ("three OSD hosts", 3, &[true, true, true], T0 + 61, &[]),
        (
            "one host down, just now",
            3,
            &[true, true, false],
            T0 + 61,
            &["MON_DOWN", "OSD_DOWN", "OSD_HOST_DOWN"],
        ),
    ];
    for (name, osds, up, now, want) in cases {
        let (mut c, _) = cluster(*osds);
        let v = view(up);
        c.observe(&v, T0 + 30);
        assert_eq!(codes(&c, &v, *now).as_slice(), *want, "{name}");
    }
    let (c, v) = cluster(3);
    assert_eq!(c.health_text_at(&v, false, T0 + 61), "HEALTH_OK\n");
    assert_eq!(c.health_text_at(&v, true, T0 + 61), "HEALTH_OK\n");
}

#[test]
fn health_detail_text_matches_health_monitor() {
    // Real `ceph health detail` (Squid, a mon whose ports are filtered, public ceph01 notes):
    //   [WRN] MON_DOWN: 1/3 mons down, quorum ceph01,ceph02
    //       mon.ceph03 (rank 2) addr [v2:10.10.30.53:3300/0,v1:10.10.30.53:6789/0] is down (out of quorum)
    // and (a one-OSD cluster with its OSD down, huataihuang/cloud-atlas notes):
    //   HEALTH_WARN 1 osds down; 1 host (1 osds) down; 1 root (1 osds) down; Reduced data availability: 1 pg inactive; OSD count 1 < osd_pool_default_size 3
    //   [WRN] OSD_DOWN: 1 osds down
    //       osd.0 (root=default,host=z-b-data-1) is down
    // HealthMonitor.cc `get_health_status`: one-liner without a colon, `[WRN] CODE: summary`,
    // details indented by four spaces.
    let (mut c, _) = cluster(3);
    let v = view(&[true, true, false]);
    c.observe(&v, T0 + 100);
    let text = c.health_text_at(&v, true, T0 + 100 + 300);
    assert_eq!(
        text,
        "HEALTH_WARN 1/3 mons down, quorum ampere-1,ampere-2; 1 osds down; 1 host (1 osds) down; Degraded data redundancy: 1 pg undersized\n\
         [WRN] MON_DOWN: 1/3 mons down, quorum ampere-1,ampere-2\n\
         \x20   mon.ampere-3 (rank 2) addr [v2:10.10.30.53:3300/0,v1:10.10.30.53:6789/0] is down (out of quorum)\n\
         [WRN] OSD_DOWN: 1 osds down\n\
         \x20   osd.2 (root=default,host=ampere-3) is down\n\
         [WRN] OSD_HOST_DOWN: 1 host (1 osds) down\n\
         \x20   host ampere-3 (root=default) (1 osds) is down\n\
         [WRN] PG_DEGRADED: Degraded data redundancy: 1 pg undersized\n\
         \x20   pg 1.0 is stuck undersized for 5m, current state active+undersized, last acting [0,1]\n"
    );
    // The whole cluster down but one mon host: the root empties too (same cloud-atlas notes).
    let (mut c, _) = cluster(1);
    let v = view(&[false, true, true]);
    c.observe(&v, T0 + 100);
    let text = c.health_text_at(&v, true, T0 + 100 + 3 * 3600);
    assert!(
        text.starts_with("HEALTH_WARN no active mgr; 1/3 mons down, quorum ampere-2,ampere-3; 1 osds down; 1 host (1 osds) down; 1 root (1 osds) down; Reduced data availability: 1 pg inactive; OSD count 1 < osd_pool_default_size 3\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "[WRN] OSD_ROOT_DOWN: 1 root (1 osds) down\n    root default (1 osds) is down\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "    pg 1.0 is stuck inactive for 3h, current state unknown, last acting []\n"
        ),
        "{text}"
    );
}

#[test]
fn pg_counts_say_pg_or_pgs() {
    // PGMap.cc: `j.second > 1 ? " pgs " : " pg "`. Real: "Reduced data availability: 1 pg
    // inactive" (cloud-atlas) and "Reduced data availability: 7 pgs inactive, 1 pg stale".
    let (mut c, v) = cluster(1);
    c.pools.push(Pool {
        id: 2,
        name: "vms".into(),
        size: 3,
        min_size: 2,
        pg_num: 32,
        created: T0,
    });
    let checks = c.checks_at(&v, T0 + 61);
    let msg = |code: &str| {
        checks
            .iter()
            .find(|x| x.code == code)
            .map(|x| (x.message.clone(), x.count, x.detail.len()))
    };
    assert_eq!(
        msg("PG_AVAILABILITY"),
        Some(("Reduced data availability: 33 pgs inactive".into(), 33, 33))
    );
    let (c1, v1) = cluster(1);
    assert_eq!(
        c1.checks_at(&v1, T0 + 61)[0].message,
        "Reduced data availability: 1 pg inactive"
    );
    // Too few OSDs: the count is the shortfall (PGMap.cc `TOO_FEW_OSDS`).
    assert_eq!(msg("TOO_FEW_OSDS").map(|m| m.1), Some(2));
}

#[test]
fn health_json_carries_typed_checks() {
    // health_check.h `dump`: severity string, summary {message string, count int}, `detail`
    // only for `health detail`, then `muted` bool. Real (Pacific `ceph -s -f json`):
    //   "POOL_NO_REDUNDANCY": {"severity": "HEALTH_WARN", "summary": {"message": "7 pool(s)
    //   have no replicas configured", "count": 7}, "muted": false}
    let (mut c, v) = cluster(3);
    c.pools.push(Pool {
        id: 2,
        name: "scratch".into(),
        size: 1,
        min_size: 1,
        pg_num: 8,
        created: T0,
    });
    let plain = c.health_json_at(&v, false, T0 + 61);
    assert_eq!(
        plain.to_string(),
        r#"{"status":"HEALTH_WARN","checks":{"POOL_NO_REDUNDANCY":{"severity":"HEALTH_WARN","summary":{"message":"1 pool(s) have no replicas configured","count":1},"muted":false}},"mutes":[]}"#
    );
    let detail = c.health_json_at(&v, true, T0 + 61);
    let check = &detail["checks"]["POOL_NO_REDUNDANCY"];
    assert_eq!(
        check["detail"],
        json!([{"message": "pool 'scratch' has no replicas configured"}])
    );
    assert!(check["summary"]["count"].is_u64());
    assert!(check["muted"].is_boolean());
}

#[test]
fn timespan_str_matches_ceph_time() {
    // ceph_time.cc `timespan_str`; real annotations "(age 63s)", "(since 91m)", "(since 8h)",
    // "(age 3d)", "(since 3w)".
    let cases = [
        ("seconds", 63, "63s"),
        ("last second", 119, "119s"),
        ("minutes", 91 * 60, "91m"),
        ("hours", 8 * 3600, "8h"),
        ("days", 3 * 86400, "3d"),
        ("weeks", 21 * 86400, "3w"),
        ("months", 100 * 86400, "3M"),
        ("years", 800 * 86400, "2y"),
    ];
    for (name, secs, want) in cases {
        assert_eq!(timespan_str(secs), want, "{name}");
    }
}

#[test]
fn status_text_annotates_ages() {
    // Monitor.cc `get_cluster_status`, MgrMap.h and OSDMap.cc `print_summary`. Real (cephadm,
    // one host down, public notes):
    //     mon: 5 daemons, quorum ceph04,ceph05,ceph07 (age 5m), out of quorum: ceph01, ceph02
    //     mgr: ceph07.npfojd(active, since 4m), standbys: ceph04.ncskvs, ceph05.ehhdix
    //     osd: 6 osds: 3 up (since 5m), 6 in (since 15h)
    // and (cloud-atlas, before any OSD peered):
    //     pgs:     100.000% pgs unknown
    //              1 unknown
    let (mut c, v) = cluster(0);
    c.mgrs.push(1);
    let s = c.status_text_at(&v, T0 + 240);
    assert!(
        s.contains("    mon: 3 daemons, quorum ampere-1,ampere-2,ampere-3 (age 4m)\n"),
        "{s}"
    );
    assert!(
        s.contains("    mgr: ampere-1(active, since 4m), standbys: ampere-2\n"),
        "{s}"
    );
    // Real fresh cluster (node01 notes): "osd: 0 osds: 0 up, 0 in".
    assert!(s.contains("    osd: 0 osds: 0 up, 0 in\n"), "{s}");
    assert!(
        s.contains("    pgs:     100.000% pgs unknown\n             1 unknown\n"),
        "{s}"
    );
    // ampere-1 (mon, active mgr, OSD) goes down at T0+300 and is seen at once.
    for n in 0..3 {
        c.add_osd(n, 10, T0 + 200);
    }
    c.observe(&v, T0 + 200);
    let down = view(&[false, true, true]);
    c.observe(&down, T0 + 300);
    let s = c.status_text_at(&down, T0 + 600);
    assert!(
        s.contains(
            "    mon: 3 daemons, quorum ampere-2,ampere-3 (age 5m), out of quorum: ampere-1\n"
        ),
        "{s}"
    );
    assert!(s.contains("    mgr: ampere-2(active, since 5m)\n"), "{s}");
    assert!(
        s.contains("    osd: 3 osds: 2 up (since 5m), 3 in (since 6m)\n"),
        "{s}"
    );
    // No manager left: MgrMap.h "no daemons active (since …)".
    c.mgrs = vec![0];
    c.observe(&down, T0 + 400);
    let s = c.status_text_at(&down, T0 + 600);
    assert!(s.contains("    mgr: no daemons active (since 3m)\n"), "{s}");
}

#[test]
fn status_text_shows_pgs_not_active() {
    // PGMap.cc: "%.3f% pgs not active", then states by count with the count padded to the
    // widest. Real (one OSD host, Quincy notes): "pgs:     100.000% pgs not active\n
    // 1 undersized+peered"; real padding: "7  undersized+degraded+peered".
    let (mut c, v) = cluster(1);
    c.pools.push(Pool {
        id: 2,
        name: "vms".into(),
        size: 3,
        min_size: 1,
        pg_num: 32,
        created: T0,
    });
    let s = c.status_text_at(&v, T0 + 61);
    assert!(
        s.contains("    pgs:     3.030% pgs not active\n             32 active+undersized\n             1  undersized+peered\n"),
        "{s}"
    );
}

#[test]
fn status_json_keeps_ceph_types() {
    // Real Pacific `ceph -s --format json`: "quorum_age": 3, "osd_up_since": 1686829366,
    // "servicemap": {"epoch": 162, "modified": "2023-06-15T11:44:11.919071+0000", ...}.
    let (mut c, v) = cluster(3);
    c.clock.servicemap_modified = (1_686_829_451, 919_071);
    let j = c.status_json_at(&v, T0 + 3);
    assert_eq!(j["quorum_age"], json!(3));
    assert_eq!(j["quorum"], json!([0, 1, 2]));
    assert!(j["election_epoch"].is_u64());
    assert_eq!(j["osdmap"]["osd_up_since"], json!(T0));
    assert!(j["osdmap"]["osd_in_since"].is_u64());
    assert!(j["mgrmap"]["available"].is_boolean());
    assert_eq!(j["mgrmap"]["num_standbys"], json!(0));
    assert_eq!(j["servicemap"]["epoch"], json!(1));
    assert_eq!(
        j["servicemap"]["modified"],
        json!("2023-06-15T11:44:11.919071+0000")
    );
    assert_eq!(j["servicemap"]["services"], json!({}));
    assert!(j["health"]["checks"].is_object());
    // Never-up OSDs read 0 (real `ceph osd stat -f json`: "num_up_osds":0,"osd_up_since":0).
    let (c0, v0) = cluster(0);
    let j0 = c0.status_json_at(&v0, T0);
    assert_eq!(j0["osdmap"]["osd_up_since"], json!(0));
    assert!(j0["pgmap"]["unknown_pgs_ratio"].is_f64());
}

#[test]
fn osd_tree_text_matches_plain_dumper() {
    // Real `ceph osd tree` (Reef, three 10 GiB OSDs on one host):
    //   ID  CLASS  WEIGHT   TYPE NAME              STATUS  REWEIGHT  PRI-AFF
    //   -1         0.02939  root default
    //   -3         0.02939      host 10-211-55-34
    //    0    ssd  0.00980          osd.0              up   1.00000  1.00000
    // and a down OSD (cloud-atlas): "    0    ssd  0.63660          osd.0          down   1.00000  1.00000".
    let (c, _) = cluster(3);
    let v = view(&[true, true, false]);
    let want = "\
ID  CLASS  WEIGHT   TYPE NAME          STATUS  REWEIGHT  PRI-AFF
-1         0.02939  root default                                
-3         0.00980      host ampere-1                           
 0    hdd  0.00980          osd.0          up   1.00000  1.00000
-5         0.00980      host ampere-2                           
 1    hdd  0.00980          osd.1          up   1.00000  1.00000
-7         0.00980      host ampere-3                           
 2    hdd  0.00980          osd.2        down   1.00000  1.00000
";
    assert_eq!(c.osd_tree_text(&v), want);
}

#[test]
fn osd_tree_json_matches_formatting_dumper() {
    // CrushTreeDumper.h `dump_item_fields` order and types; children walk the sorted map
    // backwards. Real: {"id":-1,"name":"default","type":"root","type_id":10,"children":[-7,-5,-3]}.
    let (c, v) = cluster(3);
    let j = c.osd_tree_json(&v);
    assert_eq!(
        j["nodes"][0].to_string(),
        r#"{"id":-1,"name":"default","type":"root","type_id":10,"children":[-7,-5,-3]}"#
    );
    assert_eq!(
        j["nodes"][1].to_string(),
        r#"{"id":-3,"name":"ampere-1","type":"host","type_id":1,"pool_weights":{},"children":[0]}"#
    );
    assert_eq!(
        j["nodes"][2].to_string(),
        r#"{"id":0,"device_class":"hdd","name":"osd.0","type":"osd","type_id":0,"crush_weight":0.009796142578125,"depth":2,"pool_weights":{},"exists":1,"status":"up","reweight":1,"primary_affinity":1}"#
    );
    assert_eq!(j["stray"], json!([]));
}
