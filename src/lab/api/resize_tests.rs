//! `PUT /nodes/{node}/qemu/{vmid}/resize` against qemu-server's `resize_vm`
//! (`src/PVE/API2/Qemu.pm`, qemu-server 9.2.6): the schema check and the `skiplock` refusal
//! answer the call; everything else happens in the `resize` task it forks, so the refusals
//! are the task's exit status.

use serde_json::Value;

use super::super::testkit::{self, Api};
use super::super::{Lab, LabConfig};

const VM: &str = "/nodes/ampere-1/qemu/100";

/// Starts `resize` with `form` on `vmid`; returns the task's exit status and its UPID.
async fn resize(api: &Api, vmid: u32, form: &[(&str, &str)]) -> (String, String) {
    let r = api
        .call("PUT", &format!("/nodes/ampere-1/qemu/{vmid}/resize"), form)
        .await;
    assert_eq!(r.status, 200, "{form:?}: {r:?}");
    let upid = r.json()["data"].as_str().expect("upid").to_string();
    (api.wait_task("ampere-1", &upid).await, upid)
}

/// A case of a refused resize: name, VM, form, the task's exit status.
type Refusal = (
    &'static str,
    u32,
    &'static [(&'static str, &'static str)],
    &'static str,
);

async fn config(api: &Api) -> Value {
    api.get(&format!("{VM}/config")).await.json()["data"].clone()
}

#[tokio::test]
async fn resize_grows_disks_and_refuses_what_resize_vm_refuses() {
    let lab = Lab::start(LabConfig::for_tests())
        .await
        .expect("lab starts");
    let st = lab.state();
    let api = Api::login(&st, "ampere-1").await;
    let iso = super::super::iso9660::build_iso("R", &[("README.TXT", b"r\n".as_slice())]);
    let up = api.upload("ampere-1", "local", "iso", "r.iso", &iso).await;
    assert_eq!(up.status, 200, "{up:?}");
    let r = api
        .call(
            "POST",
            "/nodes/ampere-1/qemu",
            &[
                ("vmid", "100"),
                ("scsi0", "local-lvm:8,iothread=1,discard=on"),
                ("ide2", "local:iso/r.iso,media=cdrom"),
                ("ide3", "none,media=cdrom"),
            ],
        )
        .await;
    let upid = r.json()["data"].as_str().expect("upid").to_string();
    assert_eq!(api.wait_task("ampere-1", &upid).await, "OK");

    // Growing: `+` adds to the volume's size, K/M/G/T are powers of 1024, and the drive is
    // written back by `print_drive`: the volume first, the other options sorted, `size` in
    // the largest unit that divides it (`PVE::JSONSchema::format_size`).
    let (status, upid) = resize(&api, 100, &[("disk", "scsi0"), ("size", "+2G")]).await;
    assert_eq!(status, "OK");
    assert!(upid.contains(":resize:100:root@pam:"), "{upid}");
    assert_eq!(
        config(&api).await["scsi0"],
        "local-lvm:vm-100-disk-0,discard=on,iothread=1,size=10G"
    );
    let cur = api.get(&format!("{VM}/status/current")).await.json();
    assert_eq!(cur["data"]["maxdisk"], 10u64 << 30);
    let (status, _) = resize(&api, 100, &[("disk", "scsi0"), ("size", "+0.5G")]).await;
    assert_eq!(status, "OK");
    assert_eq!(
        config(&api).await["scsi0"],
        "local-lvm:vm-100-disk-0,discard=on,iothread=1,size=10752M"
    );
    // The current size again ("return if $size == $newsize"): nothing changes.
    let before = config(&api).await["digest"].clone();
    let (status, _) = resize(&api, 100, &[("disk", "scsi0"), ("size", "11274289152")]).await;
    assert_eq!(status, "OK");
    assert_eq!(config(&api).await["digest"], before);

    // Refusals inside the worker, each with `resize_vm`'s text.
    let cases: [Refusal; 6] = [
        (
            "shrink",
            100,
            &[("disk", "scsi0"), ("size", "4G")],
            "shrinking disks is not supported",
        ),
        (
            "no such drive",
            100,
            &[("disk", "scsi5"), ("size", "+1G")],
            "disk 'scsi5' does not exist",
        ),
        (
            "cdrom",
            100,
            &[("disk", "ide2"), ("size", "+1G")],
            "you can't resize a cdrom",
        ),
        (
            "empty cdrom: parse_volname dies first",
            100,
            &[("disk", "ide3"), ("size", "+1G")],
            "unable to parse volume ID 'none'",
        ),
        (
            "stale digest",
            100,
            &[("disk", "scsi0"), ("size", "+1G"), ("digest", "0123abcd")],
            "checksum mismatch (file change by other user?)",
        ),
        (
            "no such VM: load_config in the worker",
            999,
            &[("disk", "scsi0"), ("size", "+1G")],
            "Configuration file 'nodes/ampere-1/qemu-server/999.conf' does not exist",
        ),
    ];
    for (name, vmid, form, want) in cases {
        let (status, _) = resize(&api, vmid, form).await;
        assert_eq!(status, want, "{name}");
    }

    // The schema check answers the call (400, `JSONSchema.pm` messages).
    let bad = |form: Vec<(&'static str, &'static str)>| {
        let api = &api;
        async move {
            let r = api.call("PUT", &format!("{VM}/resize"), &form).await;
            assert_eq!(r.status, 400, "{form:?}: {r:?}");
            r.json()["errors"].clone()
        }
    };
    let e = bad(vec![("disk", "scsi31"), ("size", "1G")]).await;
    let disk = e["disk"].as_str().unwrap_or_default();
    assert!(
        disk.starts_with("value 'scsi31' does not have a value in the enumeration 'ide0, ide1, ide2, ide3, scsi0, ")
            && disk.ends_with(", sata5, efidisk0, tpmstate0'"),
        "{disk}"
    );
    for size in ["-1G", "1.G", "1g", "+", "1.5GB"] {
        let e = bad(vec![("disk", "scsi0"), ("size", size)]).await;
        assert_eq!(
            e["size"], "value does not match the regex pattern",
            "{size}"
        );
    }
    let e = bad(vec![("disk", "scsi0")]).await;
    assert_eq!(e["size"], "property is missing and it is not optional");
    let e = bad(vec![("disk", "scsi0"), ("size", "1G"), ("cores", "2")]).await;
    assert_eq!(
        e["cores"],
        "property is not defined in schema and the schema does not allow additional properties"
    );

    // `skiplock` is for root@pam only: an API token, even root's, is refused before the
    // worker starts ("Only root may use this option.").
    let out = testkit::ssh(
        &st,
        "ampere-1",
        "pveum user token add root@pam ci --privsep 0 --output-format json",
        None,
    )
    .await;
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    let secret = v["value"].as_str().unwrap_or_default().to_string();
    let tok = Api::token(&st, "ampere-1", "root@pam!ci", &secret);
    let r = tok
        .call(
            "PUT",
            &format!("{VM}/resize"),
            &[("disk", "scsi0"), ("size", "+1G"), ("skiplock", "1")],
        )
        .await;
    assert_eq!(
        (r.status, r.json()["errors"]["skiplock"].as_str()),
        (400, Some("Only root may use this option."))
    );
    let (status, _) = resize(&tok, 100, &[("disk", "scsi0"), ("size", "+1G")]).await;
    assert_eq!(status, "OK", "without skiplock the token may resize");
    // A privilege-separated token has no `VM.Config.Disk` on /vms/100.
    let out = testkit::ssh(
        &st,
        "ampere-1",
        "pveum user token add root@pam sep --privsep 1 --output-format json",
        None,
    )
    .await;
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    let sep = Api::token(
        &st,
        "ampere-1",
        "root@pam!sep",
        v["value"].as_str().unwrap_or_default(),
    );
    let r = sep
        .call(
            "PUT",
            &format!("{VM}/resize"),
            &[("disk", "scsi0"), ("size", "+1G")],
        )
        .await;
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (
            403,
            Some("Permission check failed (/vms/100, VM.Config.Disk)\n")
        )
    );
    lab.stop().await.expect("stop");
}

#[test]
fn sizes_print_in_the_largest_unit_that_divides_them() {
    // `PVE::JSONSchema::format_size`.
    let cases = [
        ("bytes", 1500, "1500"),
        ("kibibytes", 2048, "2K"),
        ("half a gibibyte over", (10u64 << 30) + (1 << 29), "10752M"),
        ("gibibytes", 10u64 << 30, "10G"),
        ("tebibytes", 2u64 << 40, "2T"),
        ("beyond T stays T", 1u64 << 50, "1024T"),
    ];
    for (name, size, want) in cases {
        assert_eq!(super::qemu::format_size(size), want, "{name}");
    }
}
