//! Lab tests for taking a node, and a whole cluster, apart: each drives the commands over SSH
//! on a fresh lab and quotes the output the real commands give, naming the upstream source.

use serde_json::Value;

use super::testkit::{self, Api, Out};
use super::{Lab, LabConfig, LabState};

async fn lab() -> (Lab, LabState) {
    let lab = Lab::start(LabConfig::for_tests())
        .await
        .expect("lab starts");
    let st = lab.state();
    (lab, st)
}

fn addr(st: &LabState, name: &str) -> String {
    st.hosts
        .iter()
        .find(|h| h.name == name)
        .expect("host")
        .address
        .clone()
}

async fn sh(st: &LabState, node: &str, cmd: &str) -> Out {
    testkit::ssh(st, node, cmd, None).await
}

/// Runs `cmd` and checks its exit status and both streams.
async fn expect(st: &LabState, node: &str, cmd: &str, code: u32, stdout: &str, stderr: &str) {
    let out = sh(st, node, cmd).await;
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (Some(code), stdout, stderr),
        "{node}: {cmd}"
    );
}

/// `pvecm add` from `node` to ampere-1 with the password on stdin and the fingerprint pinned.
async fn join(lab: &Lab, node: &str) -> Out {
    let st = lab.state();
    let via = st
        .hosts
        .iter()
        .find(|h| h.name == "ampere-1")
        .expect("ampere-1");
    let cmd = format!(
        "pvecm add {} --fingerprint {}",
        via.address,
        via.api_tls_fingerprint_sha256.clone().expect("fingerprint")
    );
    let password = via.api_password.clone().expect("password");
    testkit::ssh(&st, node, &cmd, Some(&format!("{password}\n"))).await
}

/// A cluster `lab` of ampere-1..=n.
async fn cluster(lab: &Lab, st: &LabState, n: usize) {
    let out = sh(st, "ampere-1", "pvecm create lab").await;
    assert_eq!(out.code, Some(0), "create: {out:?}");
    for i in 2..=n {
        let out = join(lab, &format!("ampere-{i}")).await;
        assert!(
            out.stdout
                .contains(&format!("successfully added node 'ampere-{i}' to cluster.")),
            "join {i}: {out:?}"
        );
    }
}

/// Ceph on every node of an `n`-node cluster: monitors on the first `mons`, one OSD per node
/// (an LV of the installer's `pve` VG), so osd.N sits on ampere-(N+1).
async fn ceph_cluster(lab: &Lab, st: &LabState, n: usize, mons: usize) {
    cluster(lab, st, n).await;
    for i in 1..=n {
        let out = sh(
            st,
            &format!("ampere-{i}"),
            "pveceph install --repository no-subscription --version tentacle",
        )
        .await;
        assert_eq!(out.code, Some(0), "{out:?}");
    }
    let out = sh(
        st,
        "ampere-1",
        &format!("pveceph init --network {}", st.subnet),
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    for i in 1..=n {
        let h = format!("ampere-{i}");
        if i <= mons {
            let out = sh(st, &h, "pveceph mon create").await;
            assert_eq!(out.code, Some(0), "{h}: {out:?}");
        }
        let out = sh(
            st,
            &h,
            "lvcreate -L 5G -n osd pve && ceph-volume lvm create --data pve/osd",
        )
        .await;
        assert_eq!(out.code, Some(0), "{h}: {out:?}");
    }
}

fn json(out: &Out) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or(Value::Null)
}

#[tokio::test]
async fn pool_set_and_osd_out_answer_as_the_monitor_does() {
    // OSDMonitor.cc `prepare_command_pool_set` and the `osd out` branch of
    // `prepare_command_impl`; ceph.in prints the reply on stderr, `Error ENAME: ` and the errno
    // as exit status on failure. Real: "set pool 2 size to 2", "marked out osd.2. ".
    let (lab, st) = lab().await;
    ceph_cluster(&lab, &st, 3, 1).await;
    let out = sh(&st, "ampere-1", "pveceph pool create vms").await;
    assert_eq!(out.code, Some(0), "{out:?}");
    expect(
        &st,
        "ampere-1",
        "ceph osd pool set vms size 2",
        0,
        "",
        "set pool 2 size to 2\n",
    )
    .await;
    expect(
        &st,
        "ampere-1",
        "ceph osd pool set .mgr size 2",
        0,
        "",
        "set pool 1 size to 2\n",
    )
    .await;
    // A new size resets min_size to min(osd_pool_default_min_size, size) (config.cc).
    expect(
        &st,
        "ampere-1",
        "ceph osd pool get vms min_size",
        0,
        "min_size: 2\n",
        "",
    )
    .await;
    expect(
        &st,
        "ampere-1",
        "ceph osd pool set vms min_size 3",
        22,
        "",
        "Error EINVAL: pool min_size must be between 1 and size, which is set to 2\n",
    )
    .await;
    expect(
        &st,
        "ampere-1",
        "ceph osd pool set vms min_size 1",
        0,
        "",
        "set pool 2 min_size to 1\n",
    )
    .await;
    expect(
        &st,
        "ampere-1",
        "ceph osd pool set nope size 2",
        2,
        "",
        "Error ENOENT: unrecognized pool 'nope'\n",
    )
    .await;
    expect(
        &st,
        "ampere-1",
        "ceph osd pool set vms size 1 --yes-i-really-mean-it",
        1,
        "",
        "Error EPERM: configuring pool size as 1 is disabled by default.\n",
    )
    .await;
    expect(
        &st,
        "ampere-1",
        "ceph config set global mon_allow_pool_size_one true && ceph osd pool set vms size 1",
        1,
        "",
        "Error EPERM: WARNING: setting pool size 1 could lead to data loss without recovery. If you are *ABSOLUTELY CERTAIN* that is what you want, pass the flag --yes-i-really-mean-it.\n",
    )
    .await;
    expect(
        &st,
        "ampere-1",
        "ceph osd out 2",
        0,
        "",
        "marked out osd.2. \n",
    )
    .await;
    expect(
        &st,
        "ampere-1",
        "ceph osd out osd.2",
        0,
        "",
        "osd.2 is already out. \n",
    )
    .await;
    expect(
        &st,
        "ampere-1",
        "ceph osd out 7",
        0,
        "",
        "osd.7 does not exist. \n",
    )
    .await;
    // The OSD stays up and in the tree with reweight 0; the PGs map to the other two hosts.
    let tree = json(&sh(&st, "ampere-1", "ceph osd tree --format json").await);
    let osd2 = tree["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|x| x["id"] == 2).cloned())
        .unwrap_or_default();
    assert_eq!(
        (osd2["status"].clone(), osd2["reweight"].clone()),
        ("up".into(), 0.into())
    );
    let s = json(&sh(&st, "ampere-1", "ceph -s --format json").await);
    assert_eq!(
        (
            s["osdmap"]["num_up_osds"].clone(),
            s["osdmap"]["num_in_osds"].clone()
        ),
        (3.into(), 2.into())
    );
    assert_eq!(
        sh(&st, "ampere-1", "ceph health").await.stdout,
        "HEALTH_OK\n"
    );
    assert!(
        sh(&st, "ampere-1", "ceph -s")
            .await
            .stdout
            .contains("    osd: 3 osds: 3 up (since "),
        "ceph -s"
    );
    lab.stop().await.expect("stop");
}

#[tokio::test]
async fn osd_destroy_refuses_until_out_and_down_then_cleans_up() {
    // OSD.pm `destroyosd`: the dies in order, the worker's lines, the host bucket left empty;
    // ceph-volume zap --destroy removes the LV from the `pve` VG.
    let (lab, st) = lab().await;
    ceph_cluster(&lab, &st, 3, 1).await;
    expect(
        &st,
        "ampere-1",
        "pveceph osd destroy 2",
        255,
        "",
        "OSD osd.2 does not belong to node ampere-1! at /usr/share/perl5/PVE/API2/Ceph/OSD.pm line 1008.\n",
    )
    .await;
    expect(
        &st,
        "ampere-3",
        "pveceph osd destroy 2 --cleanup",
        255,
        "",
        "osd is in use (in == 1)\n",
    )
    .await;
    // A stopped OSD that is still in: OSD_DOWN and its emptied host (OSDMap::check_health).
    expect(&st, "ampere-2", "systemctl stop ceph-osd@1", 0, "", "").await;
    let health = sh(&st, "ampere-1", "ceph health").await.stdout;
    assert!(
        health.starts_with("HEALTH_WARN 1 osds down; 1 host (1 osds) down"),
        "{health}"
    );
    expect(&st, "ampere-2", "systemctl start ceph-osd@1", 0, "", "").await;
    expect(
        &st,
        "ampere-1",
        "ceph osd out 2",
        0,
        "",
        "marked out osd.2. \n",
    )
    .await;
    expect(
        &st,
        "ampere-3",
        "pveceph osd destroy 2",
        255,
        "",
        "osd is still running (up == 1)\n",
    )
    .await;
    expect(&st, "ampere-3", "systemctl stop ceph-osd@2", 0, "", "").await;
    expect(
        &st,
        "ampere-3",
        "systemctl is-active ceph-osd@2",
        3,
        "inactive\n",
        "",
    )
    .await;
    // Down but out: no OSD_DOWN.
    let detail = sh(&st, "ampere-1", "ceph health detail").await.stdout;
    assert!(!detail.contains("OSD_DOWN"), "{detail}");
    let out = sh(&st, "ampere-3", "pveceph osd destroy 2 --cleanup").await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout,
        "destroy OSD osd.2\nRemove osd.2 from the CRUSH map\nRemove the osd.2 authentication key.\nRemove OSD osd.2\nRemove osd.2 mclock max capacity iops settings from config\n"
    );
    assert!(
        out.stderr.starts_with("--> Zapping: /dev/pve/osd\n")
            && out.stderr.contains("--> More than 1 LV left in VG, will proceed to destroy LV only\n--> Removing LV because --destroy was given: /dev/pve/osd\n")
            && out.stderr.ends_with("--> Zapping successful for OSD: 2\n"),
        "{}",
        out.stderr
    );
    let tree = json(&sh(&st, "ampere-1", "ceph osd tree --format json").await);
    let host3 = tree["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|x| x["name"] == "ampere-3").cloned())
        .unwrap_or_default();
    assert_eq!(host3["children"], serde_json::json!([]), "{tree}");
    assert!(!sh(&st, "ampere-3", "lvs").await.stdout.contains("osd"));
    let s = json(&sh(&st, "ampere-1", "ceph -s --format json").await);
    assert_eq!(s["osdmap"]["num_osds"], 2);
    expect(
        &st,
        "ampere-3",
        "pveceph osd destroy 2",
        255,
        "",
        "OSD osd.2 does not belong to node ampere-3! at /usr/share/perl5/PVE/API2/Ceph/OSD.pm line 1008.\n",
    )
    .await;
    lab.stop().await.expect("stop");
}

#[tokio::test]
async fn mon_and_mgr_destroy_as_pveceph_does() {
    // MON.pm `$assert_mon_can_remove`; Services.pm `destroy_mgr`; the MgrMap's standby takes
    // over; pveceph.pm `purge` lists what is left to remove.
    let (lab, st) = lab().await;
    ceph_cluster(&lab, &st, 3, 3).await;
    let out = sh(&st, "ampere-2", "pveceph mgr create").await;
    assert_eq!(out.code, Some(0), "{out:?}");
    expect(
        &st,
        "ampere-2",
        "pveceph mon destroy ampere-9",
        255,
        "",
        "no such monitor id 'ampere-9'\n",
    )
    .await;
    expect(
        &st,
        "ampere-2",
        "pveceph mon destroy ampere-1",
        255,
        "",
        "monitor filesystem '/var/lib/ceph/mon/ceph-ampere-1' does not exist on this node\n",
    )
    .await;
    expect(
        &st,
        "ampere-2",
        "pveceph purge",
        255,
        "",
        "Unable to purge Ceph!\n\nTo continue:\n- remove pools, this will !!DESTROY DATA!!\n- remove active OSD on ampere-2\n- remove other MONs, ampere-2 is not the last MON\n",
    )
    .await;
    expect(&st, "ampere-3", "pveceph mon destroy ampere-3", 0, "", "").await;
    let s = sh(&st, "ampere-1", "ceph -s").await.stdout;
    assert!(
        s.contains("    mon: 2 daemons, quorum ampere-1,ampere-2 (age "),
        "{s}"
    );
    let conf = sh(&st, "ampere-1", "cat /etc/pve/ceph.conf").await.stdout;
    assert!(!conf.contains("[mon.ampere-3]"), "{conf}");
    expect(
        &st,
        "ampere-1",
        "pveceph mgr destroy ampere-1",
        0,
        "disabling service 'ceph-mgr@ampere-1.service'\nstopping service 'ceph-mgr@ampere-1.service'\nremoving manager directory '/var/lib/ceph/mgr/ceph-ampere-1'\nremoving authkeys for mgr.ampere-1\n",
        "",
    )
    .await;
    let s = sh(&st, "ampere-1", "ceph -s").await.stdout;
    assert!(s.contains("    mgr: ampere-2(active, since "), "{s}");
    expect(
        &st,
        "ampere-1",
        "pveceph mgr destroy ampere-1",
        255,
        "",
        "ceph manager directory '/var/lib/ceph/mgr/ceph-ampere-1' not found\n",
    )
    .await;
    expect(&st, "ampere-2", "pveceph mon destroy ampere-2", 0, "", "").await;
    expect(
        &st,
        "ampere-1",
        "pveceph mon destroy ampere-1",
        255,
        "",
        "can't remove last monitor\n",
    )
    .await;
    lab.stop().await.expect("stop");
}

#[tokio::test]
async fn pool_destroy_and_purge_take_ceph_apart() {
    // Pool.pm `destroypool` (a task without `$upid_exit`: errors on stderr, exit 0) and
    // pveceph.pm `purge`.
    let (lab, st) = lab().await;
    ceph_cluster(&lab, &st, 1, 1).await;
    let out = sh(&st, "ampere-1", "pveceph pool create vms --add_storages 1").await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let api = Api::login(&lab.state(), "ampere-1").await;
    let r = api
        .call(
            "POST",
            "/nodes/ampere-1/qemu",
            &[("vmid", "100"), ("kvm", "0"), ("scsi0", "vms:1")],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let upid = r.json()["data"].as_str().unwrap_or_default().to_string();
    assert_eq!(api.wait_task("ampere-1", &upid).await, "OK");
    expect(
        &st,
        "ampere-1",
        "pveceph purge",
        255,
        "",
        "Unable to purge Ceph!\n\nTo continue:\n- remove pools, this will !!DESTROY DATA!!\n- remove active OSD on ampere-1\n",
    )
    .await;
    expect(
        &st,
        "ampere-1",
        "pveceph pool destroy vms",
        0,
        "checking storage 'vms' for RBD images..\n",
        "ceph pool 'vms' still in use by storage 'vms'\n",
    )
    .await;
    expect(
        &st,
        "ampere-1",
        "pveceph pool destroy nope",
        0,
        "",
        "mon_command failed - unrecognized pool 'nope'\n",
    )
    .await;
    expect(
        &st,
        "ampere-1",
        "pveceph pool destroy vms --force --remove_storages",
        0,
        "",
        "",
    )
    .await;
    let storages = api.get("/nodes/ampere-1/storage").await.json();
    assert!(!storages.to_string().contains("\"vms\""), "{storages}");
    expect(
        &st,
        "ampere-1",
        "pveceph pool destroy .mgr && ceph osd pool ls",
        0,
        "",
        "",
    )
    .await;
    let out = sh(
        &st,
        "ampere-1",
        "ceph osd out 0 && systemctl stop ceph-osd@0 && pveceph osd destroy 0 --cleanup && pveceph mgr destroy ampere-1",
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    expect(
        &st,
        "ampere-1",
        "pveceph purge",
        0,
        "Removing config & keyring files\n",
        "",
    )
    .await;
    expect(&st, "ampere-1", "test -e /etc/pve/ceph.conf", 1, "", "").await;
    expect(
        &st,
        "ampere-1",
        "pveceph purge",
        0,
        "Removing config & keyring files\n",
        "Error gathering ceph info, already purged? Message: rados_connect failed - No such file or directory\n",
    )
    .await;
    lab.stop().await.expect("stop");
}

/// pvecm.adoc "Separate a Node Without Reinstalling", as one command line.
const SEPARATE: &str = "systemctl stop pve-cluster corosync && pmxcfs -l && rm /etc/pve/corosync.conf && rm -r /etc/corosync/* && killall pmxcfs && systemctl start pve-cluster";

const NO_CONF: &str = "Error: Corosync config '/etc/pve/corosync.conf' does not exist - is this node part of a cluster?\n";

#[tokio::test]
async fn a_separated_node_stands_alone_and_delnode_reports_it_down() {
    // pvecm.adoc: after separation `pvecm delnode` on a remaining node; "Could not kill node
    // (error = CS_ERR_NOT_EXIST)" does not signify a failure. pmxcfs.c prints the local-mode
    // notice before it daemonizes.
    let (lab, st) = lab().await;
    cluster(&lab, &st, 3).await;
    // corosync stopped on one node: the other two keep quorum (2 of 3 votes).
    expect(&st, "ampere-2", "systemctl stop corosync", 0, "", "").await;
    let status = sh(&st, "ampere-1", "pvecm status").await.stdout;
    assert!(
        status.contains("Nodes:            2\n") && status.contains("Quorate:          Yes\n"),
        "{status}"
    );
    let out = sh(&st, "ampere-2", "pvecm status").await;
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (Some(1), "Cannot initialize CMAP service\n")
    );
    assert!(out
        .stdout
        .starts_with("Cluster information\n-------------------\nName:             lab\n"));
    expect(&st, "ampere-2", "systemctl start corosync", 0, "", "").await;
    let nodes = sh(&st, "ampere-2", "pvecm nodes").await.stdout;
    assert!(nodes.contains(" ampere-2 (local)\n"), "{nodes}");
    // The refusals along the way.
    expect(
        &st,
        "ampere-3",
        "pmxcfs -l",
        255,
        "",
        "[main] notice: unable to acquire pmxcfs lock - trying again\n[main] crit: unable to acquire pmxcfs lock: Resource temporarily unavailable\n[main] notice: exit proxmox configuration filesystem (-1)\n",
    )
    .await;
    expect(
        &st,
        "ampere-3",
        "rm /etc/corosync/*",
        1,
        "",
        "rm: cannot remove '/etc/corosync/service.d': Is a directory\nrm: cannot remove '/etc/corosync/uidgid.d': Is a directory\n",
    )
    .await;
    // /etc/pve is pmxcfs's mount: empty while it is stopped.
    let out = sh(
        &st,
        "ampere-3",
        "cat /etc/pve/local/pve-ssl.pem >/dev/null && systemctl stop pve-cluster && cat /etc/pve/local/pve-ssl.pem",
    )
    .await;
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (
            Some(1),
            "cat: /etc/pve/local/pve-ssl.pem: No such file or directory\n"
        )
    );
    expect(&st, "ampere-3", "systemctl start pve-cluster", 0, "", "").await;
    let out = sh(&st, "ampere-3", SEPARATE).await;
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (
            Some(0),
            "",
            "[main] notice: forcing local mode (although corosync.conf exists)\n"
        )
    );
    expect(&st, "ampere-3", "pvecm status", 255, "", NO_CONF).await;
    expect(&st, "ampere-3", "test -e /etc/corosync/authkey", 1, "", "").await;
    expect(
        &st,
        "ampere-3",
        "killall pmxcfs && killall pmxcfs",
        1,
        "",
        "pmxcfs: no process found\n",
    )
    .await;
    expect(
        &st,
        "ampere-3",
        "rm -r /etc/corosync/*",
        1,
        "",
        "rm: cannot remove '/etc/corosync/*': No such file or directory\n",
    )
    .await;
    expect(&st, "ampere-3", "pmxcfs -l && systemctl start pve-cluster", 1, "", "Job for pve-cluster.service failed because the control process exited with error code.\nSee \"systemctl status pve-cluster.service\" and \"journalctl -xeu pve-cluster.service\" for details.\n").await;
    expect(
        &st,
        "ampere-3",
        "killall pmxcfs && systemctl start pve-cluster && systemctl is-active pve-cluster corosync",
        3,
        "active\ninactive\n",
        "",
    )
    .await;
    let status = sh(&st, "ampere-1", "pvecm status").await.stdout;
    assert!(
        status.contains("Nodes:            2\n") && status.contains("Expected votes:   3\n"),
        "{status}"
    );
    expect(
        &st,
        "ampere-1",
        "pvecm delnode ampere-3",
        0,
        "",
        "Could not kill node (error = CS_ERR_NOT_EXIST)\n",
    )
    .await;
    let conf = sh(&st, "ampere-1", "cat /etc/pve/corosync.conf")
        .await
        .stdout;
    assert!(!conf.contains("ampere-3"), "{conf}");
    // Standalone and without guests of its own or of the old cluster: it may join again.
    let out = join(&lab, "ampere-3").await;
    assert!(
        out.stdout
            .contains("successfully added node 'ampere-3' to cluster."),
        "{out:?}"
    );
    lab.stop().await.expect("stop");
}

#[tokio::test]
async fn delnode_of_a_running_node_leaves_it_thinking_it_is_a_member() {
    // ClusterConfig.pm `delnode`: `corosync-cfgtool -k` shuts the node's corosync down and
    // prints nothing; the node keeps its configuration (pvecm.adoc: it must not come back
    // as it is), so a join refuses until it is separated (Setup.pm `assert_joinable`).
    let (lab, st) = lab().await;
    cluster(&lab, &st, 3).await;
    expect(&st, "ampere-1", "pvecm delnode ampere-2", 0, "", "").await;
    let out = sh(&st, "ampere-2", "pvecm status").await;
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (Some(1), "Cannot initialize CMAP service\n")
    );
    assert!(out.stdout.contains("Name:             lab\n"), "{out:?}");
    expect(&st, "ampere-2", "test -e /etc/pve/corosync.conf", 0, "", "").await;
    let out = join(&lab, "ampere-2").await;
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (Some(0), "Check if node may join a cluster failed!\n")
    );
    assert!(
        out.stdout.contains("* authentication key '/etc/corosync/authkey' already exists\n* cluster config '/etc/pve/corosync.conf' already exists\n"),
        "{out:?}"
    );
    let out = sh(&st, "ampere-2", SEPARATE).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let out = join(&lab, "ampere-2").await;
    assert!(
        out.stdout
            .contains("successfully added node 'ampere-2' to cluster."),
        "{out:?}"
    );
    lab.stop().await.expect("stop");
}

#[tokio::test]
async fn a_separated_node_keeps_the_other_nodes_guests() {
    // pvecm.adoc: the separated node keeps the other nodes' files in /etc/pve/nodes; their
    // guests count for `assert_joinable` until those directories are removed.
    let (lab, st) = lab().await;
    cluster(&lab, &st, 2).await;
    let api = Api::login(&lab.state(), "ampere-1").await;
    let r = api
        .call(
            "POST",
            "/nodes/ampere-1/qemu",
            &[("vmid", "100"), ("kvm", "0")],
        )
        .await;
    let upid = r.json()["data"].as_str().unwrap_or_default().to_string();
    assert_eq!(api.wait_task("ampere-1", &upid).await, "OK");
    let out = sh(&st, "ampere-2", SEPARATE).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    expect(
        &st,
        "ampere-2",
        "echo /etc/pve/nodes/*",
        0,
        "/etc/pve/nodes/ampere-1 /etc/pve/nodes/ampere-2\n",
        "",
    )
    .await;
    // Two votes expected, one present: no quorum until the expected votes drop
    // (corosync-quorumtool -e refuses fewer than are present).
    expect(
        &st,
        "ampere-1",
        "pvecm delnode ampere-2",
        255,
        "",
        "cluster not ready - no quorum?\n",
    )
    .await;
    expect(&st, "ampere-1", "pvecm expected 0", 255, "", "400 Parameter verification failed.\nexpected: value must have a minimum value of 1\nUSAGE: pvecm expected <expected>\n").await;
    expect(
        &st,
        "ampere-1",
        "pvecm expected 1 && pvecm delnode ampere-2",
        0,
        "",
        "Could not kill node (error = CS_ERR_NOT_EXIST)\n",
    )
    .await;
    let out = join(&lab, "ampere-2").await;
    assert!(
        out.stdout
            .contains("* this host already contains virtual guests\n"),
        "{out:?}"
    );
    expect(&st, "ampere-2", "rm -r /etc/pve/nodes/ampere-1", 0, "", "").await;
    let out = join(&lab, "ampere-2").await;
    assert!(
        out.stdout
            .contains("successfully added node 'ampere-2' to cluster."),
        "{out:?}"
    );
    lab.stop().await.expect("stop");
}

#[tokio::test]
async fn qdevice_remove_needs_every_node_online() {
    // pvecm.pm `remove_qdevice`: all members online, then "No QDevice configured!" or
    // "\nRemoved Qdevice.\n".
    let (lab, st) = lab().await;
    cluster(&lab, &st, 2).await;
    let bastion = addr(&st, "bastion");
    let out = sh(&st, "ampere-1", &format!("pvecm qdevice setup {bastion}")).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    expect(&st, "ampere-2", "systemctl stop corosync", 0, "", "").await;
    expect(
        &st,
        "ampere-1",
        "pvecm qdevice remove",
        255,
        "",
        "All nodes must be online! Node ampere-2 is offline, aborting.\n",
    )
    .await;
    expect(&st, "ampere-2", "systemctl start corosync", 0, "", "").await;
    expect(
        &st,
        "ampere-1",
        "pvecm qdevice remove",
        0,
        "\nRemoved Qdevice.\n",
        "",
    )
    .await;
    expect(
        &st,
        "ampere-1",
        "pvecm qdevice remove",
        255,
        "",
        "No QDevice configured!\n",
    )
    .await;
    let status = sh(&st, "ampere-1", "pvecm status").await.stdout;
    assert!(
        status.contains("Expected votes:   2\n") && !status.contains("Qdevice"),
        "{status}"
    );
    lab.stop().await.expect("stop");
}
