//! The lab tenancy's Object Storage and Compute custom images, on the OCI endpoint
//! (`oci.rs`), for the path that turns a downloaded disk image into a custom image:
//!
//! - Object Storage 20160918 (<https://docs.oracle.com/en-us/iaas/api/#/en/objectstorage/20160918/>):
//!   `GetNamespace` `GET /n/`, `CreateBucket` `POST /n/{ns}/b/`, `PutObject` and `HeadObject`
//!   on `/n/{ns}/b/{bucket}/o/{object}`, and the multipart upload: `CreateMultipartUpload`
//!   `POST /n/{ns}/b/{bucket}/u`, `ListMultipartUploads` `GET /n/{ns}/b/{bucket}/u`,
//!   `UploadPart` `PUT /n/{ns}/b/{bucket}/u/{object}?uploadId=&uploadPartNum=`,
//!   `ListMultipartUploadParts` `GET` (same path, `uploadId`), `CommitMultipartUpload` `POST`
//!   and `AbortMultipartUpload` `DELETE` (same path). Part numbers 1 to 10,000; each part
//!   must be in `partsToCommit` or `partsToExclude`, never both, and a part uploaded twice
//!   keeps its last upload ("Using the Multipart Upload API",
//!   <https://docs.oracle.com/iaas/Content/Object/Tasks/usingmultipartuploads_topic-Using_the_Multipart_Upload_API.htm>).
//!   Shapes: `Bucket`, `MultipartUpload`, `MultipartUploadPartSummary`,
//!   `CommitMultipartUploadDetails` (`partsToCommit` of `{partNum, etag}`, `partsToExclude`).
//! - Core Services 20160918 (<https://docs.oracle.com/en-us/iaas/api/#/en/iaas/20160918/Image/>):
//!   `CreateImage` `POST /20160918/images` with `imageSourceDetails` of `sourceType`
//!   `objectStorageTuple` (`namespaceName`, `bucketName`, `objectName`, `sourceImageType`
//!   `QCOW2` or `VMDK`: `ImageSourceViaObjectStorageTupleDetails`), and `GetImage`
//!   `GET /20160918/images/{imageId}`. An imported image is `IMPORTING`, then `AVAILABLE`
//!   after the latency table's `oci.image_import`.
//!
//! Object bodies are kept in memory: the lab serves stand-ins, never real disk images.
//! Not emulated: object listing and download, bucket policies and tiers, image export,
//! `ImageSourceViaObjectStorageUriDetails` (pre-authenticated URLs), and Oracle's
//! validation of the image's contents.

use std::collections::BTreeMap;
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};

use super::http::{self, Req};
use super::oci::{answer, error, ApiKey, NOT_FOUND};
use super::{keys, LabInner};

/// Highest part number a multipart upload takes (multipart upload page).
const MAX_PART_NUM: u32 = 10_000;
/// Most parts one `ListMultipartUploadParts` page holds when `limit` is not given.
const PART_PAGE: usize = 1000;

/// The tenancy's buckets, uploads in progress, and imported images.
#[derive(Default)]
pub(crate) struct Storage {
    buckets: BTreeMap<String, Bucket>,
    images: BTreeMap<String, Image>,
    /// Whether the nodes' image has been put in (see [`Storage::seed`]).
    seeded: bool,
}

/// The nodes' image in a lab tenancy where `task build:images` has run
/// ([`LabConfig::node_image`](super::LabConfig::node_image)); Layer 1's state names it as
/// `node_image_id`.
pub(crate) const NODE_IMAGE_ID: &str = "ocid1.image.oc1.iad.aaaaaaaalabnodeimagedebian12arm64";
/// Its display name, the one `task build:images` gives.
pub(crate) const NODE_IMAGE_NAME: &str = "freetier-debian-12-arm64";

struct Bucket {
    compartment: String,
    created: String,
    etag: String,
    objects: BTreeMap<String, Object>,
    uploads: BTreeMap<String, Upload>,
}

struct Object {
    data: Bytes,
    etag: String,
    md5: String,
    modified: String,
}

struct Upload {
    object: String,
    created: String,
    parts: BTreeMap<u32, Part>,
}

struct Part {
    data: Bytes,
    etag: String,
    md5: String,
}

struct Image {
    body: Value,
    started: Instant,
    /// Shapes added with `AddImageShapeCompatibilityEntry`.
    shapes: Vec<String>,
}

impl Storage {
    /// Puts the nodes' image in the tenancy, once, as `task build:images` leaves it:
    /// `AVAILABLE`, bootable on the A1 shape, the Debian stand-in's 2 GB disk.
    pub(crate) fn seed(&mut self, lab: &LabInner, tenancy: &str) {
        if self.seeded || !lab.config.node_image || lab.config.host_os != super::HostOs::Proxmox {
            return;
        }
        self.seeded = true;
        let body = json!({
            "id": NODE_IMAGE_ID,
            "compartmentId": tenancy,
            "displayName": NODE_IMAGE_NAME,
            "lifecycleState": "AVAILABLE",
            "timeCreated": now_rfc3339(),
            "operatingSystem": "Debian",
            "operatingSystemVersion": "Custom",
            "launchMode": "PARAVIRTUALIZED",
            "createImageAllowed": true,
            "baseImageId": null,
            "sizeInMBs": 2048,
            "billableSizeInGBs": 1,
            "freeformTags": {},
            "definedTags": {}
        });
        self.images.insert(
            NODE_IMAGE_ID.to_string(),
            Image {
                body,
                started: Instant::now(),
                shapes: vec!["VM.Standard.A1.Flex".to_string()],
            },
        );
    }

    /// Custom images the tenancy holds, for the `custom-image-count` limit.
    pub(crate) fn custom_images(&self) -> usize {
        self.images.len()
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// An ETag as Object Storage gives them: a UUID.
fn new_etag() -> String {
    let (a, b) = (keys::random_u64(), keys::random_u64());
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

fn md5_b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5::compute(data).0)
}

/// The tenancy's Object Storage namespace: a fixed string derived from its OCID, lowercase
/// letters and digits like Oracle's.
pub(crate) fn namespace(key: &ApiKey) -> String {
    let tail = key.tenancy.rsplit('.').next().unwrap_or_default();
    let tail = tail.strip_prefix("aaaaaaaa").unwrap_or(tail);
    tail.chars().take(12).collect()
}

fn with_headers(mut r: http::Resp, headers: &[(&str, &str)]) -> http::Resp {
    for (k, v) in headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(k.as_bytes()),
            hyper::header::HeaderValue::from_str(v),
        ) {
            r.headers_mut().insert(name, value);
        }
    }
    r
}

fn empty(status: u16, headers: &[(&str, &str)]) -> http::Resp {
    let mut r = answer(status, Value::Null);
    *r.body_mut() = http_body_util::Full::new(Bytes::new());
    r.headers_mut().remove("content-type");
    with_headers(r, headers)
}

fn bucket_not_found(bucket: &str, ns: &str) -> http::Resp {
    error(
        404,
        "BucketNotFound",
        &format!("Either the bucket named '{bucket}' does not exist in the namespace '{ns}' or you are not authorized to access it"),
    )
}

fn no_such_upload(id: &str) -> http::Resp {
    error(
        404,
        "NoSuchUpload",
        &format!("The upload with id '{id}' does not exist"),
    )
}

fn invalid(message: &str) -> http::Resp {
    error(400, "InvalidParameter", message)
}

/// Answers the Object Storage and image routes; `None` when the path is neither.
pub(crate) fn route(
    lab: &LabInner,
    key: &ApiKey,
    req: &Req,
    segs: &[&str],
    query: &BTreeMap<String, String>,
) -> Option<http::Resp> {
    let mut st = lab.oci.storage.lock().unwrap_or_else(|p| p.into_inner());
    st.seed(lab, &key.tenancy);
    let ns = namespace(key);
    let method = req.method.as_str();
    let resp = match (method, segs) {
        // GetNamespace: the body is the namespace as a JSON string.
        ("GET", ["n"]) => answer(200, json!(ns)),
        ("GET" | "POST" | "PUT" | "HEAD" | "DELETE", ["n", n, ..]) if *n != ns => error(
            404,
            "NamespaceNotFound",
            "You do not have authorization to perform this request, or the requested resource could not be found.",
        ),
        ("POST", ["n", _, "b"]) => create_bucket(&mut st, key, &ns, &req.body),
        ("PUT", ["n", _, "b", b, "o", object @ ..]) => {
            let Some(bucket) = st.buckets.get_mut(*b) else {
                return Some(bucket_not_found(b, &ns));
            };
            let name = object_name(object);
            let obj = Object {
                data: req.body.clone(),
                etag: new_etag(),
                md5: md5_b64(&req.body),
                modified: http::http_date(std::time::SystemTime::now()),
            };
            let r = empty(
                200,
                &[
                    ("etag", &obj.etag),
                    ("opc-content-md5", &obj.md5),
                    ("last-modified", &obj.modified),
                ],
            );
            bucket.objects.insert(name, obj);
            r
        }
        ("HEAD", ["n", _, "b", b, "o", object @ ..]) => {
            let Some(bucket) = st.buckets.get(*b) else {
                return Some(bucket_not_found(b, &ns));
            };
            match bucket.objects.get(&object_name(object)) {
                None => empty(404, &[]),
                Some(o) => empty(
                    200,
                    &[
                        ("etag", &o.etag),
                        ("content-md5", &o.md5),
                        ("content-length", &o.data.len().to_string()),
                        ("last-modified", &o.modified),
                    ],
                ),
            }
        }
        ("POST", ["n", _, "b", b, "u"]) => {
            let Some(bucket) = st.buckets.get_mut(*b) else {
                return Some(bucket_not_found(b, &ns));
            };
            let details: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let Some(object) = details.get("object").and_then(Value::as_str) else {
                return Some(invalid("object is required."));
            };
            let id = new_etag();
            let up = Upload {
                object: object.to_string(),
                created: now_rfc3339(),
                parts: BTreeMap::new(),
            };
            let body = upload_json(&ns, b, &id, &up);
            bucket.uploads.insert(id, up);
            answer(200, body)
        }
        ("GET", ["n", _, "b", b, "u"]) => {
            let Some(bucket) = st.buckets.get(*b) else {
                return Some(bucket_not_found(b, &ns));
            };
            let list: Vec<Value> = bucket
                .uploads
                .iter()
                .map(|(id, up)| upload_json(&ns, b, id, up))
                .collect();
            answer(200, json!(list))
        }
        (_, ["n", _, "b", b, "u", object @ ..]) if !object.is_empty() => {
            let Some(bucket) = st.buckets.get_mut(*b) else {
                return Some(bucket_not_found(b, &ns));
            };
            let Some(id) = query.get("uploadId") else {
                return Some(error(
                    400,
                    "MissingParameter",
                    "Missing required parameter 'uploadId'.",
                ));
            };
            let name = object_name(object);
            match bucket.uploads.get(id) {
                Some(up) if up.object == name => {}
                _ => return Some(no_such_upload(id)),
            }
            match method {
                "PUT" => upload_part(bucket, id, query, &req.body),
                "GET" => list_parts(bucket, id, query),
                "POST" => commit(bucket, id, &name, &req.body),
                "DELETE" => {
                    bucket.uploads.remove(id);
                    empty(204, &[])
                }
                _ => error(404, "NotAuthorizedOrNotFound", NOT_FOUND),
            }
        }
        ("POST", ["20160918", "images"]) if st.images.len() >= lab.config.custom_image_limit as usize => {
            error(
                400,
                "LimitExceeded",
                "The following service limits were exceeded: custom-image-count. Request a service limit increase from the service limits page in the console.",
            )
        }
        ("POST", ["20160918", "images"]) => create_image(&mut st, key, &ns, &req.body),
        ("GET", ["20160918", "images"]) => list_images(lab, &st, key, query),
        ("GET", ["20160918", "images", id]) => match st.images.get(*id) {
            None => error(404, "NotAuthorizedOrNotFound", NOT_FOUND),
            Some(img) => answer(200, image_now(lab, img)),
        },
        ("PUT", ["20160918", "images", id, "shapes", shape]) => match st.images.get_mut(*id) {
            None => error(404, "NotAuthorizedOrNotFound", NOT_FOUND),
            Some(img) => {
                let shape = http::url_decode(shape, false);
                if !img.shapes.contains(&shape) {
                    img.shapes.push(shape.clone());
                }
                answer(200, json!({"imageId": id, "shape": shape}))
            }
        },
        ("GET", ["20160918", "images", id, "shapes"]) => match st.images.get(*id) {
            None => error(404, "NotAuthorizedOrNotFound", NOT_FOUND),
            Some(img) => answer(
                200,
                Value::Array(
                    img.shapes
                        .iter()
                        .map(|s| json!({"imageId": id, "shape": s}))
                        .collect(),
                ),
            ),
        },
        _ => return None,
    };
    Some(resp)
}

/// An object name from its path segments (names may hold `/`), percent-decoded.
fn object_name(segs: &[&str]) -> String {
    http::url_decode(&segs.join("/"), false)
}

fn upload_json(ns: &str, bucket: &str, id: &str, up: &Upload) -> Value {
    json!({
        "namespace": ns,
        "bucket": bucket,
        "object": up.object,
        "uploadId": id,
        "timeCreated": up.created,
        "storageTier": "Standard"
    })
}

fn create_bucket(st: &mut Storage, key: &ApiKey, ns: &str, body: &[u8]) -> http::Resp {
    let details: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let (Some(name), Some(compartment)) = (
        details.get("name").and_then(Value::as_str),
        details.get("compartmentId").and_then(Value::as_str),
    ) else {
        return invalid("name and compartmentId are required.");
    };
    if compartment != key.tenancy {
        return error(404, "NotAuthorizedOrNotFound", NOT_FOUND);
    }
    if st.buckets.contains_key(name) {
        return error(
            409,
            "BucketAlreadyExists",
            "Either the bucket already exists or you are not authorized to create it",
        );
    }
    let b = Bucket {
        compartment: compartment.to_string(),
        created: now_rfc3339(),
        etag: new_etag(),
        objects: BTreeMap::new(),
        uploads: BTreeMap::new(),
    };
    let body = json!({
        "namespace": ns,
        "name": name,
        "compartmentId": b.compartment,
        "createdBy": key.user,
        "timeCreated": b.created,
        "etag": b.etag,
        "publicAccessType": "NoPublicAccess",
        "storageTier": "Standard",
        "objectEventsEnabled": false,
        "versioning": "Disabled",
        "metadata": {},
        "freeformTags": {},
        "definedTags": {}
    });
    st.buckets.insert(name.to_string(), b);
    with_headers(answer(200, body), &[])
}

fn upload_part(
    bucket: &mut Bucket,
    id: &str,
    query: &BTreeMap<String, String>,
    body: &Bytes,
) -> http::Resp {
    let num = match query.get("uploadPartNum").map(|n| n.parse::<u32>()) {
        Some(Ok(n)) if (1..=MAX_PART_NUM).contains(&n) => n,
        Some(_) => {
            return invalid(&format!(
                "uploadPartNum must be an integer from 1 to {MAX_PART_NUM}."
            ))
        }
        None => {
            return error(
                400,
                "MissingParameter",
                "Missing required parameter 'uploadPartNum'.",
            )
        }
    };
    let Some(up) = bucket.uploads.get_mut(id) else {
        return no_such_upload(id);
    };
    let part = Part {
        data: body.clone(),
        etag: new_etag(),
        md5: md5_b64(body),
    };
    let r = empty(200, &[("etag", &part.etag), ("opc-content-md5", &part.md5)]);
    up.parts.insert(num, part);
    r
}

fn list_parts(bucket: &Bucket, id: &str, query: &BTreeMap<String, String>) -> http::Resp {
    let Some(up) = bucket.uploads.get(id) else {
        return no_such_upload(id);
    };
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(PART_PAGE)
        .min(PART_PAGE);
    // The page token is the part number to start from (opaque to clients).
    let from = query
        .get("page")
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(1);
    let mut parts = up.parts.range(from..);
    let page: Vec<Value> = parts
        .by_ref()
        .take(limit)
        .map(
            |(n, p)| json!({ "partNumber": n, "etag": p.etag, "md5": p.md5, "size": p.data.len() }),
        )
        .collect();
    let next = parts.next().map(|(n, _)| n.to_string());
    let r = answer(200, json!(page));
    match next {
        Some(n) => with_headers(r, &[("opc-next-page", &n)]),
        None => r,
    }
}

fn commit(bucket: &mut Bucket, id: &str, name: &str, body: &[u8]) -> http::Resp {
    let details: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let Some(commit) = details.get("partsToCommit").and_then(Value::as_array) else {
        return invalid("partsToCommit is required.");
    };
    let exclude: Vec<u64> = details
        .get("partsToExclude")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let Some(up) = bucket.uploads.get(id) else {
        return no_such_upload(id);
    };
    let mut chosen: BTreeMap<u32, &Part> = BTreeMap::new();
    for c in commit {
        let (Some(num), Some(etag)) = (
            c.get("partNum").and_then(Value::as_u64),
            c.get("etag").and_then(Value::as_str),
        ) else {
            return invalid("each of partsToCommit needs partNum and etag.");
        };
        let Some(part) = u32::try_from(num).ok().and_then(|n| up.parts.get(&n)) else {
            return invalid(&format!("Part {num} was not uploaded."));
        };
        if part.etag != etag {
            return invalid(&format!(
                "The etag {etag} of part {num} is not the uploaded part's ({}).",
                part.etag
            ));
        }
        if exclude.contains(&num) {
            return invalid(&format!(
                "Part {num} is in both partsToCommit and partsToExclude."
            ));
        }
        chosen.insert(num as u32, part);
    }
    if let Some(n) = up
        .parts
        .keys()
        .find(|n| !chosen.contains_key(n) && !exclude.contains(&u64::from(**n)))
    {
        return invalid(&format!(
            "Part {n} was uploaded but is in neither partsToCommit nor partsToExclude."
        ));
    }
    let mut data = Vec::with_capacity(chosen.values().map(|p| p.data.len()).sum());
    let mut md5s = Vec::new();
    for p in chosen.values() {
        data.extend_from_slice(&p.data);
        md5s.extend_from_slice(&md5::compute(&p.data).0);
    }
    // The multipart MD5: the MD5 of the parts' MD5s, with the part count.
    let multipart_md5 = format!("{}-{}", md5_b64(&md5s), chosen.len());
    let obj = Object {
        data: Bytes::from(data),
        etag: new_etag(),
        md5: multipart_md5.clone(),
        modified: http::http_date(std::time::SystemTime::now()),
    };
    let r = empty(
        200,
        &[
            ("etag", &obj.etag),
            ("opc-multipart-md5", &multipart_md5),
            ("last-modified", &obj.modified),
        ],
    );
    bucket.uploads.remove(id);
    bucket.objects.insert(name.to_string(), obj);
    r
}

fn create_image(st: &mut Storage, key: &ApiKey, ns: &str, body: &[u8]) -> http::Resp {
    let details: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return invalid("The request body is not a JSON object."),
    };
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let Some(compartment) = text(&details, "compartmentId") else {
        return invalid("compartmentId is required.");
    };
    if compartment != key.tenancy {
        return error(404, "NotAuthorizedOrNotFound", NOT_FOUND);
    }
    let Some(src) = details.get("imageSourceDetails") else {
        return invalid(
            "imageSourceDetails is required (the lab imports from Object Storage only).",
        );
    };
    if text(src, "sourceType").as_deref() != Some("objectStorageTuple") {
        return invalid("imageSourceDetails.sourceType must be objectStorageTuple in the lab.");
    }
    let (Some(sns), Some(b), Some(o)) = (
        text(src, "namespaceName"),
        text(src, "bucketName"),
        text(src, "objectName"),
    ) else {
        return invalid("namespaceName, bucketName and objectName are required.");
    };
    let source_type = text(src, "sourceImageType").unwrap_or_else(|| "QCOW2".into());
    if !["QCOW2", "VMDK"].contains(&source_type.as_str()) {
        return invalid(&format!(
            "Invalid sourceImageType {source_type}: QCOW2 or VMDK."
        ));
    }
    if sns != ns {
        return bucket_not_found(&b, &sns);
    }
    let Some(bucket) = st.buckets.get(&b) else {
        return bucket_not_found(&b, ns);
    };
    let Some(obj) = bucket.objects.get(&o) else {
        return error(
            404,
            "ObjectNotFound",
            &format!("The object '{o}' was not found in the bucket '{b}'"),
        );
    };
    let size_mb = obj.data.len().div_ceil(1024 * 1024);
    let unique: String = (0..52)
        .map(|_| b"abcdefghijklmnopqrstuvwxyz234567"[(keys::random_u64() % 32) as usize] as char)
        .collect();
    let id = format!("ocid1.image.oc1.iad.aaaaaaaa{unique}");
    let created = now_rfc3339();
    let image = json!({
        "id": id,
        "compartmentId": compartment,
        "displayName": text(&details, "displayName").unwrap_or_else(|| format!("image-{}", &created)),
        "lifecycleState": "IMPORTING",
        "timeCreated": created,
        "operatingSystem": text(src, "operatingSystem").unwrap_or_else(|| "Custom".into()),
        "operatingSystemVersion": text(src, "operatingSystemVersion").unwrap_or_else(|| "Custom".into()),
        "launchMode": text(&details, "launchMode").unwrap_or_else(|| "PARAVIRTUALIZED".into()),
        "createImageAllowed": true,
        "baseImageId": null,
        "sizeInMBs": size_mb,
        "billableSizeInGBs": size_mb.div_ceil(1024),
        "freeformTags": details.get("freeformTags").cloned().unwrap_or(json!({})),
        "definedTags": {}
    });
    st.images.insert(
        id.clone(),
        Image {
            body: image.clone(),
            started: Instant::now(),
            shapes: Vec::new(),
        },
    );
    let wr = id.replacen("ocid1.image.", "ocid1.coreservicesworkrequest.", 1);
    with_headers(
        answer(200, image),
        &[("etag", &new_etag()), ("opc-work-request-id", &wr)],
    )
}

/// An image as `GetImage` shows it now: `AVAILABLE` once the import latency has passed.
fn image_now(lab: &LabInner, img: &Image) -> Value {
    let delay = lab
        .latency
        .scaled("oci.image_import", lab.config.time_scale);
    let mut body = img.body.clone();
    if img.started.elapsed() >= delay {
        body["lifecycleState"] = json!("AVAILABLE");
    }
    body
}

/// `ListImages` in the tenancy, filtered by `displayName` and `lifecycleState` as the API
/// filters them (exact match). The lab has no platform images, so only custom ones are listed.
fn list_images(
    lab: &LabInner,
    st: &Storage,
    key: &ApiKey,
    query: &BTreeMap<String, String>,
) -> http::Resp {
    let Some(compartment) = query.get("compartmentId") else {
        return error(
            400,
            "MissingParameter",
            "Missing required parameter 'compartmentId'.",
        );
    };
    if *compartment != key.tenancy {
        return error(404, "NotAuthorizedOrNotFound", NOT_FOUND);
    }
    let list: Vec<Value> = st
        .images
        .values()
        .map(|img| image_now(lab, img))
        .filter(|v| {
            query
                .get("displayName")
                .is_none_or(|n| v["displayName"].as_str() == Some(n))
                && query
                    .get("lifecycleState")
                    .is_none_or(|s| v["lifecycleState"].as_str() == Some(s))
        })
        .collect();
    answer(200, Value::Array(list))
}
