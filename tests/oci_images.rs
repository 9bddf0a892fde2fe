//! The OCI client's Object Storage and image import calls against the lab's OCI endpoint: a
//! multipart upload interrupted after some parts, resumed by a second run that sends only the
//! missing parts, then imported as a custom image.

use std::collections::BTreeMap;
use std::time::Duration;

use freetier::clients::oci::storage::{
    CreateBucketDetails, CreateImageDetails, ImageSourceDetails,
};
use freetier::clients::oci::{config, Client};
use freetier::clients::Call;
use freetier::lab::{Lab, LabConfig};
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

/// `freetier image` against the lab: the Debian stand-in from the lab's file server, its
/// SHA512SUMS, the upload and the import; then a SHA512SUMS that names other bytes.
#[test]
fn freetier_image_downloads_verifies_uploads_and_imports() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let lab = rt
        .block_on(Lab::start(LabConfig {
            state_dir: Some(dir.path().to_path_buf()),
            latency_overrides: BTreeMap::from([("oci.image_import".to_string(), 0.0)]),
            ..LabConfig::always_free()
        }))
        .expect("lab");
    let st = lab.state();
    let oci = st.oci.clone().expect("oci");
    let image_url = format!("{}/debian/debian-12-genericcloud-arm64.qcow2", st.files_url);
    let base = |url: &str| -> Vec<String> {
        [
            "--url",
            url,
            "--dir",
            dir.path().join("dl").to_str().expect("utf-8"),
            "--part-size",
            "40000",
            "--oci-config",
            dir.path().join("oci/config").to_str().expect("utf-8"),
            "--oci-endpoint",
            &oci.url,
            "--oci-ca-cert",
            dir.path().join("oci/ca.pem").to_str().expect("utf-8"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = freetier::image::run(&base(&image_url), &mut out, &mut err);
    let (out_s, err_s) = (
        String::from_utf8_lossy(&out).to_string(),
        String::from_utf8_lossy(&err).to_string(),
    );
    assert_eq!(code, 0, "{err_s}");
    assert!(out_s.trim().starts_with("ocid1.image.oc1."), "{out_s}");
    assert!(err_s.contains("SHA-512 verified"), "{err_s}");

    // The Talos qcow2 is not in Debian's SHA512SUMS: refused before any upload.
    let mut args = base(&format!("{}/talos/nocloud-arm64.qcow2", st.files_url));
    args.extend([
        "--sums".into(),
        format!("{}/debian/SHA512SUMS", st.files_url),
    ]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(freetier::image::run(&args, &mut out, &mut err), 1);
    assert!(String::from_utf8_lossy(&err).contains("names no file"));

    // A SHA512SUMS whose sum for the file is not the downloaded bytes': refused with both sums.
    let mut args = base(&image_url);
    args.extend([
        "--sums".into(),
        format!("{}/debian/mismatch/SHA512SUMS", st.files_url),
    ]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(freetier::image::run(&args, &mut out, &mut err), 1);
    let err_s = String::from_utf8_lossy(&err).to_string();
    assert!(
        err_s.contains("SHA-512 is") && err_s.contains(&"0123456789abcdef".repeat(8)),
        "{err_s}"
    );
    rt.block_on(lab.stop()).expect("stop");
}
