//! Object Storage and custom image import on the lab's OCI endpoint, driven by the same test
//! signer as the other OCI tests (never the product's client). Shapes quoted are Oracle's
//! API reference's: Object Storage 20160918 (`Bucket`, `MultipartUpload`,
//! `MultipartUploadPartSummary`, `CommitMultipartUploadDetails`) and Core Services 20160918
//! (`CreateImageDetails`, `ImageSourceViaObjectStorageTupleDetails`, `Image`).

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};

use super::*;

/// A signed request whose answer may have no JSON body: status, headers, body bytes.
/// PUTs are signed as Object Storage PUTs are: without the body headers.
async fn raw(
    creds: &Creds,
    method: &str,
    target: &str,
    body: &[u8],
) -> (u16, reqwest::header::HeaderMap, Bytes) {
    let s = creds.signing(method);
    let host = creds.url.trim_start_matches("https://").to_string();
    let mut rb = creds.http.request(
        reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
        format!("{}{target}", creds.url),
    );
    for (k, v) in sign(&s, method, &host, target, body) {
        rb = rb.header(k, v);
    }
    if matches!(method, "POST" | "PUT") {
        rb = rb.body(body.to_vec());
    }
    let resp = rb.send().await.expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.expect("body"))
}

fn json_of(b: &Bytes) -> Value {
    serde_json::from_slice(b).unwrap_or(Value::Null)
}

fn header(h: &reqwest::header::HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn lab_with(overrides: &[(&str, f64)]) -> (Lab, tempfile::TempDir, Creds) {
    let dir = tempfile::tempdir().expect("dir");
    let lab = Lab::start(LabConfig {
        state_dir: Some(dir.path().to_path_buf()),
        latency_overrides: overrides
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<BTreeMap<_, _>>(),
        // A tenancy that has imported nothing yet.
        node_image: false,
        ..LabConfig::always_free()
    })
    .await
    .expect("lab");
    let creds = read_creds(&lab, dir.path());
    (lab, dir, creds)
}

/// `GetNamespace`, then `CreateBucket` in the tenancy: the namespace and the bucket name.
async fn namespace_and_bucket(creds: &Creds, bucket: &str) -> String {
    let (status, _, body) = raw(creds, "GET", "/n/", b"").await;
    assert_eq!(status, 200);
    // GetNamespace's body is the namespace as a JSON string.
    let ns = json_of(&body).as_str().expect("a JSON string").to_string();
    assert!(!ns.is_empty() && ns.chars().all(|c| c.is_ascii_alphanumeric()));
    let details = json!({ "name": bucket, "compartmentId": creds.entries["tenancy"] }).to_string();
    let (status, _, body) = raw(creds, "POST", &format!("/n/{ns}/b/"), details.as_bytes()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let b = json_of(&body);
    assert_eq!(b["name"], bucket);
    assert_eq!(b["namespace"], ns.as_str());
    assert_eq!(b["publicAccessType"], "NoPublicAccess");
    ns
}

#[tokio::test]
async fn put_object_signs_no_body_headers_and_answers_etag_and_md5() {
    let (lab, _dir, creds) = lab_with(&[]).await;
    let ns = namespace_and_bucket(&creds, "images").await;
    let details =
        json!({ "name": "images", "compartmentId": creds.entries["tenancy"] }).to_string();
    let (status, _, body) = raw(&creds, "POST", &format!("/n/{ns}/b/"), details.as_bytes()).await;
    assert_eq!(status, 409, "a second CreateBucket");
    assert_eq!(json_of(&body)["code"], "BucketAlreadyExists");

    // PutObject: the signed headers are date, (request-target) and host only.
    let data = b"not really a qcow2 image";
    let target = format!("/n/{ns}/b/images/o/debian%2Fgenericcloud.qcow2");
    let (status, h, _) = raw(&creds, "PUT", &target, data).await;
    assert_eq!(status, 200);
    assert!(!header(&h, "etag").is_empty());
    let md5 = base64::engine::general_purpose::STANDARD.encode(md5::compute(data).0);
    assert_eq!(header(&h, "opc-content-md5"), md5);
    let (status, h, _) = raw(&creds, "HEAD", &target, b"").await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-md5"), md5);

    let (status, _, body) = raw(&creds, "PUT", &format!("/n/{ns}/b/nope/o/x"), data).await;
    assert_eq!(status, 404);
    assert_eq!(json_of(&body)["code"], "BucketNotFound");
    let (status, _, _) = raw(&creds, "GET", "/n/someoneelse/b/images/u", b"").await;
    assert_eq!(status, 404, "another tenancy's namespace");
    lab.stop().await.expect("stop");
}

#[tokio::test]
async fn an_interrupted_multipart_upload_lists_its_parts_and_commits_later() {
    let (lab, _dir, creds) = lab_with(&[]).await;
    let ns = namespace_and_bucket(&creds, "images").await;
    let object = "debian-12-genericcloud-arm64.qcow2";
    let create = json!({ "object": object }).to_string();
    let (status, _, body) = raw(
        &creds,
        "POST",
        &format!("/n/{ns}/b/images/u"),
        create.as_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    let up = json_of(&body);
    assert_eq!(up["object"], object);
    assert_eq!(up["bucket"], "images");
    let id = up["uploadId"].as_str().expect("uploadId").to_string();

    let part_target =
        |n: u32| format!("/n/{ns}/b/images/u/{object}?uploadId={id}&uploadPartNum={n}");
    let mut etags = BTreeMap::new();
    for (n, data) in [(1u32, &b"aaaa"[..]), (2, &b"bbbb"[..])] {
        let (status, h, _) = raw(&creds, "PUT", &part_target(n), data).await;
        assert_eq!(status, 200);
        etags.insert(n, header(&h, "etag"));
    }
    let (status, _, _) = raw(&creds, "PUT", &part_target(10_001), b"x").await;
    assert_eq!(status, 400, "part numbers stop at 10,000");

    // The upload is interrupted here; a re-run finds it and its parts.
    let (status, _, body) = raw(&creds, "GET", &format!("/n/{ns}/b/images/u"), b"").await;
    assert_eq!(status, 200);
    assert_eq!(json_of(&body)[0]["uploadId"], id.as_str());
    let list = format!("/n/{ns}/b/images/u/{object}?uploadId={id}");
    let (status, h, body) = raw(&creds, "GET", &format!("{list}&limit=1"), b"").await;
    assert_eq!(status, 200);
    let page = json_of(&body);
    assert_eq!(page.as_array().map(Vec::len), Some(1));
    assert_eq!(page[0]["partNumber"], 1);
    assert_eq!(page[0]["size"], 4);
    assert_eq!(page[0]["etag"], etags[&1].as_str());
    let next = header(&h, "opc-next-page");
    assert!(!next.is_empty(), "a second page");
    let (_, h, body) = raw(&creds, "GET", &format!("{list}&page={next}"), b"").await;
    assert_eq!(json_of(&body)[0]["partNumber"], 2);
    assert!(header(&h, "opc-next-page").is_empty());

    let (status, h, _) = raw(&creds, "PUT", &part_target(3), b"cc").await;
    assert_eq!(status, 200);
    etags.insert(3, header(&h, "etag"));

    let commit = |parts: &[(u32, &str)], exclude: &[u32]| {
        json!({
            "partsToCommit": parts.iter().map(|(n, e)| json!({"partNum": n, "etag": e})).collect::<Vec<_>>(),
            "partsToExclude": exclude
        })
        .to_string()
    };
    let bad = commit(&[(1, &etags[&1]), (2, "wrong"), (3, &etags[&3])], &[]);
    let (status, _, _) = raw(&creds, "POST", &list, bad.as_bytes()).await;
    assert_eq!(status, 400, "an etag that is not the part's");
    let missing = commit(&[(1, &etags[&1]), (3, &etags[&3])], &[]);
    let (status, _, _) = raw(&creds, "POST", &list, missing.as_bytes()).await;
    assert_eq!(status, 400, "part 2 in neither list");
    let good = commit(&[(1, &etags[&1]), (2, &etags[&2]), (3, &etags[&3])], &[]);
    let (status, h, _) = raw(&creds, "POST", &list, good.as_bytes()).await;
    assert_eq!(status, 200);
    assert!(header(&h, "opc-multipart-md5").ends_with("-3"));
    let (status, _, _) = raw(&creds, "GET", &list, b"").await;
    assert_eq!(status, 404, "a committed upload is gone");
    let (status, _, _) = raw(&creds, "HEAD", &format!("/n/{ns}/b/images/o/{object}"), b"").await;
    assert_eq!(status, 200, "the object exists");
    lab.stop().await.expect("stop");
}

async fn import(creds: &Creds, ns: &str, object: &str) -> (u16, Value) {
    let details = json!({
        "compartmentId": creds.entries["tenancy"],
        "displayName": "debian-12-arm64",
        "launchMode": "PARAVIRTUALIZED",
        "imageSourceDetails": {
            "sourceType": "objectStorageTuple",
            "namespaceName": ns,
            "bucketName": "images",
            "objectName": object,
            "sourceImageType": "QCOW2",
            "operatingSystem": "Debian",
            "operatingSystemVersion": "12"
        }
    })
    .to_string();
    let (status, _, body) = raw(creds, "POST", "/20160918/images", details.as_bytes()).await;
    (status, json_of(&body))
}

#[tokio::test]
async fn create_image_imports_from_object_storage_and_stays_importing_for_its_latency() {
    let (lab, _dir, creds) = lab_with(&[("oci.image_import", 3600.0)]).await;
    let ns = namespace_and_bucket(&creds, "images").await;
    let (status, body) = import(&creds, &ns, "missing.qcow2").await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "ObjectNotFound");
    let (status, _, _) = raw(
        &creds,
        "PUT",
        &format!("/n/{ns}/b/images/o/d.qcow2"),
        b"QFI\xfb",
    )
    .await;
    assert_eq!(status, 200);
    let (status, image) = import(&creds, &ns, "d.qcow2").await;
    assert_eq!(status, 200);
    assert!(image["id"]
        .as_str()
        .unwrap_or_default()
        .starts_with("ocid1.image.oc1."));
    assert_eq!(image["lifecycleState"], "IMPORTING");
    assert_eq!(image["operatingSystem"], "Debian");
    let id = image["id"].as_str().expect("id");
    let (status, got) = creds.get(&format!("/20160918/images/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        got["lifecycleState"], "IMPORTING",
        "an hour's import is not done"
    );
    let (status, _) = creds.get("/20160918/images/ocid1.image.oc1.iad.nope").await;
    assert_eq!(status, 404);
    lab.stop().await.expect("stop");

    let (lab, _dir, creds) = lab_with(&[("oci.image_import", 0.0)]).await;
    let ns = namespace_and_bucket(&creds, "images").await;
    raw(
        &creds,
        "PUT",
        &format!("/n/{ns}/b/images/o/d.qcow2"),
        b"QFI\xfb",
    )
    .await;
    let (_, image) = import(&creds, &ns, "d.qcow2").await;
    let id = image["id"].as_str().expect("id");
    let (_, got) = creds.get(&format!("/20160918/images/{id}")).await;
    assert_eq!(got["lifecycleState"], "AVAILABLE");
    lab.stop().await.expect("stop");
}

/// `PutObject` of a QCOW2 header as `images/d.qcow2`, then `CreateImage` from it.
async fn put_and_import(creds: &Creds, ns: &str) -> (u16, Value) {
    raw(
        creds,
        "PUT",
        &format!("/n/{ns}/b/images/o/d.qcow2"),
        b"QFI\xfb",
    )
    .await;
    import(creds, ns, "d.qcow2").await
}

#[tokio::test]
async fn the_custom_image_count_limit_is_regional_counts_imports_and_refuses_one_too_many() {
    let (lab, _dir, creds) = lab_with(&[("oci.image_import", 0.0)]).await;
    let tenancy = creds.entries["tenancy"].clone();
    let limit = format!(
        "/20190729/services/compute/limits/custom-image-count/resourceAvailability?compartmentId={tenancy}"
    );
    let (status, got) = creds.get(&limit).await;
    assert_eq!(status, 200);
    assert_eq!(
        (got["used"].clone(), got["available"].clone()),
        (json!(0), json!(25))
    );
    // A regional limit takes no availability domain.
    let (status, got) = creds
        .get(&format!("{limit}&availabilityDomain=LAB:US-ASHBURN-AD-1"))
        .await;
    assert_eq!(status, 400);
    assert_eq!(got["code"], "InvalidParameter");

    let ns = namespace_and_bucket(&creds, "images").await;
    let (status, image) = put_and_import(&creds, &ns).await;
    assert_eq!(status, 200);
    let id = image["id"].as_str().expect("id").to_string();
    let (_, got) = creds.get(&limit).await;
    assert_eq!(
        (got["used"].clone(), got["available"].clone()),
        (json!(1), json!(24))
    );

    // ListImages filters by exact display name.
    let list = format!("/20160918/images?compartmentId={tenancy}&displayName=debian-12-arm64");
    let (status, got) = creds.get(&list).await;
    assert_eq!(status, 200);
    assert_eq!(got.as_array().map(Vec::len), Some(1));
    assert_eq!(got[0]["id"], id.as_str());
    let (_, got) = creds
        .get(&format!(
            "/20160918/images?compartmentId={tenancy}&displayName=other"
        ))
        .await;
    assert_eq!(got, json!([]));

    // AddImageShapeCompatibilityEntry, then the list of shapes; adding twice keeps one.
    // A PUT outside Object Storage signs its body, as a POST does.
    let target = format!("/20160918/images/{id}/shapes/VM.Standard.A1.Flex");
    let (status, _, _) = raw(&creds, "PUT", &target, b"{}").await;
    assert_eq!(status, 401, "signed as an Object Storage PUT");
    for _ in 0..2 {
        let mut s = creds.signing("POST");
        s.date = http::http_date(std::time::SystemTime::now());
        let (status, body) = creds.call(&s, "PUT", &target, b"{}").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["shape"], "VM.Standard.A1.Flex");
    }
    let (_, got) = creds.get(&format!("/20160918/images/{id}/shapes")).await;
    assert_eq!(
        got,
        json!([{"imageId": id, "shape": "VM.Standard.A1.Flex"}])
    );
    lab.stop().await.expect("stop");

    // With a limit of 0, CreateImage is refused as OCI refuses an exceeded service limit.
    let dir = tempfile::tempdir().expect("dir");
    let lab = Lab::start(LabConfig {
        state_dir: Some(dir.path().to_path_buf()),
        custom_image_limit: 0,
        node_image: false,
        ..LabConfig::always_free()
    })
    .await
    .expect("lab");
    let creds = read_creds(&lab, dir.path());
    let ns = namespace_and_bucket(&creds, "images").await;
    let (status, body) = put_and_import(&creds, &ns).await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "LimitExceeded");
    assert!(body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("custom-image-count"));
    lab.stop().await.expect("stop");
}
