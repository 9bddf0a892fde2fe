//! Images that can run Proxmox VE, against the lab's OCI endpoint and file server: the OCI
//! client's multipart upload, interrupted and resumed, then imported as a custom image; and
//! `freetier image` end to end (download, SHA-512, size and limit checks, upload, import, the A1
//! shape, Layer 1's `node_image_id`), its re-run, and its refusals.

use std::collections::BTreeMap;
use std::time::Duration;

use freetier::clients::oci::storage::{
    CreateBucketDetails, CreateImageDetails, ImageSourceDetails,
};
use freetier::clients::oci::{config, Client};
use freetier::clients::Call;
use freetier::lab::{FaultAction, FaultRule, FaultTrigger, Lab, LabConfig};
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use tokio_util::sync::CancellationToken;

fn call() -> Call {
    Call::new(&CancellationToken::new(), Duration::from_secs(30))
}

#[tokio::test]
async fn an_interrupted_upload_resumes_and_imports_as_a_custom_image() {
    let dir = tempfile::tempdir().expect("dir");
    let lab = Lab::start(LabConfig {
        state_dir: Some(dir.path().to_path_buf()),
        latency_overrides: BTreeMap::from([("oci.image_import".to_string(), 0.0)]),
        node_image: false,
        ..LabConfig::always_free()
    })
    .await
    .expect("lab");
    let url = lab.state().oci.expect("oci endpoint").url;
    let profile = config::load(&dir.path().join("oci/config"), "DEFAULT").expect("profile");
    let ca = std::fs::read_to_string(dir.path().join("oci/ca.pem")).expect("ca");
    let client = Client::from_profile(&profile, Some(&url), Some(&ca)).expect("client");

    let ns = client.get_namespace(&call()).await.expect("namespace");
    let bucket = client
        .create_bucket(
            &ns,
            &CreateBucketDetails {
                name: "freetier-images".into(),
                compartment_id: client.tenancy().to_string(),
            },
            &call(),
        )
        .await
        .expect("bucket");
    assert_eq!(bucket.name, "freetier-images");

    // A 10-part file; the first run stops after 4 parts.
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let file = dir.path().join("image.qcow2");
    std::fs::write(&file, &data).expect("file");
    let object = "debian/genericcloud-arm64.qcow2";
    let up = client
        .create_multipart_upload(&ns, "freetier-images", object, &call())
        .await
        .expect("upload");
    for n in 0..4u32 {
        let part = data[(n as usize) * 1000..(n as usize + 1) * 1000].to_vec();
        client
            .upload_part(&up, n + 1, part, &call())
            .await
            .expect("part");
    }
    // Part 5 was cut short: its size is wrong, so the resume sends it again.
    client
        .upload_part(&up, 5, data[4000..4500].to_vec(), &call())
        .await
        .expect("short part");

    let report = client
        .upload_resumable(&ns, "freetier-images", object, &file, 1000, &call())
        .await
        .expect("resume");
    assert_eq!((report.parts_kept, report.parts_sent), (4, 6));
    let head = client
        .head_object(&ns, "freetier-images", object, &call())
        .await
        .expect("head")
        .expect("the object exists");
    assert_eq!(head.etag, report.etag);
    assert!(client
        .list_multipart_uploads(&ns, "freetier-images", &call())
        .await
        .expect("uploads")
        .is_empty());

    let image = client
        .create_image(
            &CreateImageDetails {
                compartment_id: client.tenancy().to_string(),
                display_name: Some("debian-arm64".into()),
                launch_mode: Some("PARAVIRTUALIZED".into()),
                image_source_details: ImageSourceDetails {
                    source_type: "objectStorageTuple".into(),
                    namespace_name: ns.clone(),
                    bucket_name: "freetier-images".into(),
                    object_name: object.into(),
                    source_image_type: "QCOW2".into(),
                    operating_system: Some("Debian".into()),
                    operating_system_version: None,
                },
            },
            &call(),
        )
        .await
        .expect("create image");
    assert_eq!(image.lifecycle_state, "IMPORTING");
    let got = client
        .get_image(&image.id, &call())
        .await
        .expect("get image");
    assert_eq!(got.lifecycle_state, "AVAILABLE");

    let missing = client
        .head_object(&ns, "freetier-images", "nothing-here", &call())
        .await
        .expect("head");
    assert!(missing.is_none());
    lab.stop().await.expect("stop");
}

/// A lab for `freetier image`, with imports that finish at once.
fn image_lab(rt: &tokio::runtime::Runtime, dir: &Path, custom_image_limit: u32) -> Lab {
    rt.block_on(Lab::start(LabConfig {
        state_dir: Some(dir.to_path_buf()),
        latency_overrides: BTreeMap::from([("oci.image_import".to_string(), 0.0)]),
        custom_image_limit,
        // A tenancy that has imported nothing yet.
        node_image: false,
        ..LabConfig::always_free()
    }))
    .expect("lab")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// `freetier image` arguments against `lab` for the image at `url`.
fn image_args(lab: &Lab, dir: &Path, url: &str, extra: &[&str]) -> Vec<String> {
    let oci = lab.state().oci.expect("oci");
    let mut args: Vec<String> = [
        "--url",
        url,
        "--dir",
        dir.join("dl").to_str().expect("utf-8"),
        "--part-size",
        "10000",
        "--oci-config",
        dir.join("oci/config").to_str().expect("utf-8"),
        "--oci-endpoint",
        &oci.url,
        "--oci-ca-cert",
        dir.join("oci/ca.pem").to_str().expect("utf-8"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Runs `freetier image`; (exit code, stdout, stderr).
fn freetier_image(args: &[String]) -> (i32, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = freetier::image::run(args, &mut out, &mut err);
    (
        code,
        String::from_utf8_lossy(&out).to_string(),
        String::from_utf8_lossy(&err).to_string(),
    )
}

fn lab_client(lab: &Lab, dir: &Path) -> Client {
    let url = lab.state().oci.expect("oci endpoint").url;
    let profile = config::load(&dir.join("oci/config"), "DEFAULT").expect("profile");
    let ca = std::fs::read_to_string(dir.join("oci/ca.pem")).expect("ca");
    Client::from_profile(&profile, Some(&url), Some(&ca)).expect("client")
}

fn debian_url(lab: &Lab) -> String {
    format!(
        "{}/debian/debian-12-genericcloud-arm64.qcow2",
        lab.state().files_url
    )
}

#[test]
fn freetier_image_imports_the_published_image_for_layer_1_and_a_rerun_changes_nothing() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("dir");
    let lab = image_lab(&rt, dir.path(), 25);
    let tfvars = dir.path().join("node-image.auto.tfvars.json");
    let args = image_args(
        &lab,
        dir.path(),
        &debian_url(&lab),
        &[
            "--name",
            "freetier-debian-12",
            "--tfvars",
            tfvars.to_str().expect("utf-8"),
        ],
    );
    let (code, out, err) = freetier_image(&args);
    assert_eq!(code, 0, "{err}");
    let id = out.trim().to_string();
    assert!(id.starts_with("ocid1.image.oc1."), "{out}");
    for line in [
        "custom-image-count: 0 used, 25 more allowed",
        "SHA-512 verified",
        "QCOW2, a 2.00 GB disk",
        "VM.Standard.A1.Flex instances may boot",
    ] {
        assert!(err.contains(line), "missing {line:?} in:\n{err}");
    }
    // Layer 1 reads the OCID from the tfvars file.
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&tfvars).expect("tfvars")).expect("json");
    assert_eq!(written, serde_json::json!({ "node_image_id": id }));
    // The image is AVAILABLE and the A1 shape may boot it.
    let client = lab_client(&lab, dir.path());
    let images = rt
        .block_on(client.list_images_named(client.tenancy(), "freetier-debian-12", &call()))
        .expect("list");
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].lifecycle_state, "AVAILABLE");
    let shapes = rt
        .block_on(client.list_image_shapes(&id, &call()))
        .expect("shapes");
    assert_eq!(shapes, ["VM.Standard.A1.Flex"]);

    // A second run finds the image and imports nothing more.
    let (code, out, err) = freetier_image(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), id);
    assert!(err.contains("imported already"), "{err}");
    let images = rt
        .block_on(client.list_images_named(client.tenancy(), "freetier-debian-12", &call()))
        .expect("list");
    assert_eq!(images.len(), 1);
    let creates = lab
        .trace()
        .iter()
        .filter(|e| e.op == "oci:POST /20160918/images")
        .count();
    assert_eq!(creates, 1);
    rt.block_on(lab.stop()).expect("stop");
}

#[test]
fn an_upload_cut_off_half_way_resumes_on_the_next_run_sending_only_missing_parts() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("dir");
    let lab = image_lab(&rt, dir.path(), 25);
    // The stand-in is one 64 KiB qcow2 cluster: 7 parts of 10,000 bytes. The 4th is cut off.
    lab.add_fault(FaultRule {
        op: "oci:PUT /n/{namespaceName}/b/{bucketName}/u/{objectName}".into(),
        host: None,
        action: FaultAction::Drop,
        trigger: FaultTrigger::Nth(4),
    })
    .expect("fault");
    let args = image_args(&lab, dir.path(), &debian_url(&lab), &[]);
    let (code, _, err) = freetier_image(&args);
    assert_eq!(code, 1, "{err}");
    let (code, out, err) = freetier_image(&args);
    assert_eq!(code, 0, "{err}");
    assert!(out.trim().starts_with("ocid1.image.oc1."), "{out}");
    assert!(err.contains("downloaded already"), "{err}");
    assert!(
        err.contains("4 parts sent, 3 kept from an earlier run"),
        "{err}"
    );
    rt.block_on(lab.stop()).expect("stop");
}

#[test]
fn a_tenancy_without_room_for_a_custom_image_is_told_before_anything_is_downloaded() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("dir");
    let lab = image_lab(&rt, dir.path(), 0);
    let (code, out, err) = freetier_image(&image_args(&lab, dir.path(), &debian_url(&lab), &[]));
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains("custom-image-count limit is 0 and 0 in use")
            && err.contains("may not import custom images at all")
            && err.contains(
                "https://docs.oracle.com/en-us/iaas/Content/General/Concepts/servicelimits.htm"
            ),
        "{err}"
    );
    assert!(!dir.path().join("dl").exists(), "nothing is downloaded");
    rt.block_on(lab.stop()).expect("stop");

    // A full quota: one image imported, a limit of one.
    let dir = tempfile::tempdir().expect("dir");
    let lab = image_lab(&rt, dir.path(), 1);
    let url = debian_url(&lab);
    let (code, _, err) = freetier_image(&image_args(&lab, dir.path(), &url, &["--name", "a"]));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = freetier_image(&image_args(&lab, dir.path(), &url, &["--name", "b"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("limit is 1 and 1 in use") && err.contains("delete a custom image"),
        "{err}"
    );
    rt.block_on(lab.stop()).expect("stop");
}

#[test]
fn checksums_that_do_not_match_or_do_not_name_the_file_are_refused_with_both_sums() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("dir");
    let lab = image_lab(&rt, dir.path(), 25);
    let files = lab.state().files_url;
    // The Talos qcow2 is not in Debian's SHA512SUMS.
    let sums = format!("{files}/debian/SHA512SUMS");
    let (code, _, err) = freetier_image(&image_args(
        &lab,
        dir.path(),
        &format!("{files}/talos/nocloud-arm64.qcow2"),
        &["--sums", &sums],
    ));
    assert_eq!(code, 1);
    assert!(err.contains("names no file nocloud-arm64.qcow2"), "{err}");
    // A SHA512SUMS whose sum for the file is not the downloaded bytes'.
    let sums = format!("{files}/debian/mismatch/SHA512SUMS");
    let (code, _, err) = freetier_image(&image_args(
        &lab,
        dir.path(),
        &debian_url(&lab),
        &["--sums", &sums],
    ));
    assert_eq!(code, 1);
    assert!(
        err.contains("SHA-512 is") && err.contains(&"0123456789abcdef".repeat(8)),
        "{err}"
    );
    assert!(err.contains("was not uploaded"), "{err}");
    rt.block_on(lab.stop()).expect("stop");
}

/// A one-file HTTP server on loopback: `GET /img` answers `announced` as its Content-Length
/// and then `body`; `GET /SHA512SUMS` answers `sums`. Serves until the test ends.
fn serve(announced: u64, body: Vec<u8>, sums: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let (len, data) = if req.starts_with("GET /SHA512SUMS") {
                (sums.len() as u64, sums.as_bytes().to_vec())
            } else {
                (announced, body.clone())
            };
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
            );
            let _ = s.write_all(&data);
        }
    });
    format!("http://{addr}")
}

fn sha512_hex(data: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn an_image_over_the_20_gb_allowance_or_with_a_disk_over_47_gb_is_refused_with_the_numbers() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("dir");
    let lab = image_lab(&rt, dir.path(), 25);
    // 20 GB and one byte, announced: refused before the body is read.
    let sums = format!("{}  img\n", "0".repeat(128));
    let base = serve(21_474_836_481, vec![0; 16], sums);
    let (code, _, err) = freetier_image(&image_args(&lab, dir.path(), &format!("{base}/img"), &[]));
    assert_eq!(code, 1);
    assert!(
        err.contains("is 21474836481 bytes (20.00 GB), over the 21474836480 bytes (20 GB)"),
        "{err}"
    );

    // A small file whose qcow2 header describes a 100 GB disk.
    let mut qcow = vec![0u8; 4096];
    qcow[..4].copy_from_slice(b"QFI\xfb");
    qcow[4..8].copy_from_slice(&3u32.to_be_bytes());
    qcow[24..32].copy_from_slice(&(100u64 << 30).to_be_bytes());
    let sums = format!("{}  big.qcow2\n", sha512_hex(&qcow));
    let base = serve(qcow.len() as u64, qcow, sums);
    let (code, _, err) = freetier_image(&image_args(
        &lab,
        dir.path(),
        &format!("{base}/big.qcow2"),
        &[],
    ));
    assert_eq!(code, 1);
    assert!(
        err.contains("describes a 100.00 GB disk, larger than the 47 GB boot volume"),
        "{err}"
    );
    // A raw disk is not what OCI imports as QCOW2.
    let raw = vec![7u8; 4096];
    let sums = format!("{}  disk.raw\n", sha512_hex(&raw));
    let base = serve(raw.len() as u64, raw, sums);
    let (code, _, err) = freetier_image(&image_args(
        &lab,
        dir.path(),
        &format!("{base}/disk.raw"),
        &[],
    ));
    assert_eq!(code, 1);
    assert!(err.contains("is not a QCOW2 image"), "{err}");
    rt.block_on(lab.stop()).expect("stop");
}
