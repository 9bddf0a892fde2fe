//! Object Storage and Compute custom images: what turns a disk image file into a custom image
//! the nodes boot.
//!
//! - Object Storage 20160918 (<https://docs.oracle.com/en-us/iaas/api/#/en/objectstorage/20160918/>):
//!   `GetNamespace`, `CreateBucket`, `PutObject`, `HeadObject`, and the multipart upload
//!   (`CreateMultipartUpload`, `ListMultipartUploads`, `UploadPart`,
//!   `ListMultipartUploadParts`, `CommitMultipartUpload`, `AbortMultipartUpload`), whose
//!   rules (parts 1 to 10,000, each up to 50 GiB, committed by number and ETag) are "Using the
//!   Multipart Upload API"'s
//!   (<https://docs.oracle.com/iaas/Content/Object/Tasks/usingmultipartuploads_topic-Using_the_Multipart_Upload_API.htm>).
//!   PUT bodies are not signed (see [`super::signer`]).
//! - Core Services 20160918 (<https://docs.oracle.com/en-us/iaas/api/#/en/iaas/20160918/Image/>):
//!   `CreateImage` from an `objectStorageTuple` source, and `GetImage`.
//!
//! [`Client::upload_resumable`] uploads a file in parts and resumes an upload a previous run
//! left: it finds the upload in progress for the object, lists its parts, and uploads only the
//! parts not listed with the size and MD5 of the file's part.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use base64::Engine as _;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{Body, Call, Client, Error};
use crate::clients::ErrorKind;

/// Highest part number (multipart upload page).
pub const MAX_PARTS: u64 = 10_000;
/// The part size `upload_resumable` uses unless told otherwise: the OCI CLI's default
/// (`oci os object put --part-size`, 128 MiB).
pub const DEFAULT_PART_SIZE: u64 = 128 * 1024 * 1024;

/// `Bucket` (the fields used).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    /// The namespace.
    pub namespace: String,
    /// The bucket's name.
    pub name: String,
    /// Its compartment.
    pub compartment_id: String,
    /// `NoPublicAccess`, `ObjectRead`, …
    #[serde(default)]
    pub public_access_type: Option<String>,
}

/// `CreateBucketDetails` (the fields used).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateBucketDetails {
    /// The bucket's name.
    pub name: String,
    /// Its compartment.
    pub compartment_id: String,
}

/// `MultipartUpload`: an upload in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MultipartUpload {
    /// The namespace.
    pub namespace: String,
    /// The bucket.
    pub bucket: String,
    /// The object being uploaded.
    pub object: String,
    /// The upload's id.
    pub upload_id: String,
    /// When it started, RFC 3339.
    pub time_created: String,
}

/// `MultipartUploadPartSummary`: one uploaded part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MultipartUploadPartSummary {
    /// Its ETag.
    pub etag: String,
    /// Base64 MD5 of its bytes.
    pub md5: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its number, 1 to 10,000.
    pub part_number: u32,
}

/// One part to commit (`CommitMultipartUploadPartDetails`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitMultipartUploadPartDetails {
    /// The part's number.
    pub part_num: u32,
    /// The part's ETag.
    pub etag: String,
}

/// `CommitMultipartUploadDetails`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitMultipartUploadDetails {
    /// The parts the object is made of.
    pub parts_to_commit: Vec<CommitMultipartUploadPartDetails>,
    /// Uploaded parts to leave out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts_to_exclude: Vec<u32>,
}

/// `ImageSourceViaObjectStorageTupleDetails` (`sourceType` `objectStorageTuple`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageSourceDetails {
    /// Always `objectStorageTuple`.
    pub source_type: String,
    /// The object's namespace.
    pub namespace_name: String,
    /// Its bucket.
    pub bucket_name: String,
    /// Its name.
    pub object_name: String,
    /// `QCOW2` or `VMDK`.
    pub source_image_type: String,
    /// The image's operating system, e.g. `Debian`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operating_system: Option<String>,
    /// Its version, e.g. `12`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operating_system_version: Option<String>,
}

/// `CreateImageDetails` for an import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateImageDetails {
    /// The compartment the image goes in.
    pub compartment_id: String,
    /// Its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `NATIVE`, `EMULATED`, `PARAVIRTUALIZED` or `CUSTOM`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_mode: Option<String>,
    /// Where the image comes from.
    pub image_source_details: ImageSourceDetails,
}

/// `Image` (the fields used).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// Its OCID.
    pub id: String,
    /// Its compartment.
    pub compartment_id: String,
    /// Its name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// `PROVISIONING`, `IMPORTING`, `AVAILABLE`, `EXPORTING`, `DISABLED` or `DELETED`.
    pub lifecycle_state: String,
    /// Its operating system.
    #[serde(default)]
    pub operating_system: Option<String>,
    /// Its size in MB (the API spells it `sizeInMBs`).
    #[serde(default, rename = "sizeInMBs")]
    pub size_in_mbs: Option<u64>,
}

/// What a PUT (object or part) answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The ETag.
    pub etag: String,
    /// Base64 MD5 of the bytes, as the service computed it.
    pub md5: Option<String>,
    /// The object's size in bytes (`HeadObject` only).
    pub length: Option<u64>,
}

/// What [`Client::upload_resumable`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReport {
    /// The committed object's ETag.
    pub etag: String,
    /// Parts sent in this run.
    pub parts_sent: u32,
    /// Parts an earlier run had sent, kept.
    pub parts_kept: u32,
}

fn md5_b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5::compute(data).0)
}

fn json<T: Serialize>(what: &str, v: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(v).map_err(|e| Error::Settings(format!("{what}: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Decode {
        what: what.to_string(),
        detail: format!("{e}: {}", super::error::excerpt(bytes)),
    })
}

fn object_path(ns: &str, bucket: &str, kind: &str, object: &str) -> String {
    format!(
        "/n/{}/b/{}/{kind}/{}",
        super::encode(ns),
        super::encode(bucket),
        super::encode(object)
    )
}

impl Client {
    /// `GET /n/` (`GetNamespace`): the tenancy's Object Storage namespace.
    pub async fn get_namespace(&self, call: &Call) -> Result<String, Error> {
        let (ns, _) = self
            .exchange::<String>(
                Method::GET,
                &self.endpoints.object_storage,
                "/n/",
                &[],
                None,
                call,
            )
            .await?;
        Ok(ns)
    }

    /// `POST /n/{ns}/b/` (`CreateBucket`).
    pub async fn create_bucket(
        &self,
        ns: &str,
        details: &CreateBucketDetails,
        call: &Call,
    ) -> Result<Bucket, Error> {
        let path = format!("/n/{}/b/", super::encode(ns));
        self.object_storage_post("create bucket", &path, details, call)
            .await
    }

    /// A JSON `POST` to Object Storage: the decoded answer.
    async fn object_storage_post<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        path: &str,
        details: &impl Serialize,
        call: &Call,
    ) -> Result<T, Error> {
        let body = json(what, details)?;
        let (answer, _) = self
            .exchange(
                Method::POST,
                &self.endpoints.object_storage,
                path,
                &[],
                Some(body),
                call,
            )
            .await?;
        Ok(answer)
    }

    /// `PUT /n/{ns}/b/{bucket}/o/{object}` (`PutObject`), the body unsigned.
    pub async fn put_object(
        &self,
        ns: &str,
        bucket: &str,
        object: &str,
        data: Vec<u8>,
        call: &Call,
    ) -> Result<Stored, Error> {
        let path = object_path(ns, bucket, "o", object);
        self.put_bytes(&path, &[], data, call).await
    }

    /// `HEAD /n/{ns}/b/{bucket}/o/{object}` (`HeadObject`): the object's ETag and MD5, or
    /// `None` when it does not exist.
    pub async fn head_object(
        &self,
        ns: &str,
        bucket: &str,
        object: &str,
        call: &Call,
    ) -> Result<Option<Stored>, Error> {
        let path = object_path(ns, bucket, "o", object);
        match self
            .send(
                Method::HEAD,
                &self.endpoints.object_storage,
                &path,
                &[],
                Body::None,
                call,
            )
            .await
        {
            Ok(a) => Ok(Some(Stored {
                etag: a.header("etag").unwrap_or_default(),
                md5: a.header("content-md5"),
                length: a.header("content-length").and_then(|l| l.parse().ok()),
            })),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /n/{ns}/b/{bucket}/u` (`CreateMultipartUpload`).
    pub async fn create_multipart_upload(
        &self,
        ns: &str,
        bucket: &str,
        object: &str,
        call: &Call,
    ) -> Result<MultipartUpload, Error> {
        let path = format!("/n/{}/b/{}/u", super::encode(ns), super::encode(bucket));
        let details = serde_json::json!({ "object": object });
        self.object_storage_post("create multipart upload", &path, &details, call)
            .await
    }

    /// `GET /n/{ns}/b/{bucket}/u` (`ListMultipartUploads`), every page.
    pub async fn list_multipart_uploads(
        &self,
        ns: &str,
        bucket: &str,
        call: &Call,
    ) -> Result<Vec<MultipartUpload>, Error> {
        let path = format!("/n/{}/b/{}/u", super::encode(ns), super::encode(bucket));
        self.object_storage_pages(&path, &[], super::MAX_PAGES, call)
            .await
    }

    /// `PUT /n/{ns}/b/{bucket}/u/{object}?uploadId=&uploadPartNum=` (`UploadPart`).
    pub async fn upload_part(
        &self,
        upload: &MultipartUpload,
        part_num: u32,
        data: Vec<u8>,
        call: &Call,
    ) -> Result<Stored, Error> {
        let path = object_path(&upload.namespace, &upload.bucket, "u", &upload.object);
        let num = part_num.to_string();
        let q = [
            ("uploadId", upload.upload_id.as_str()),
            ("uploadPartNum", num.as_str()),
        ];
        self.put_bytes(&path, &q, data, call).await
    }

    /// An Object Storage PUT of `data` (an object or a part): what the service stored.
    async fn put_bytes(
        &self,
        path: &str,
        query: &[(&str, &str)],
        data: Vec<u8>,
        call: &Call,
    ) -> Result<Stored, Error> {
        let a = self
            .send(
                Method::PUT,
                &self.endpoints.object_storage,
                path,
                query,
                Body::Object(data),
                call,
            )
            .await?;
        Ok(Stored {
            etag: a.header("etag").unwrap_or_default(),
            md5: a.header("opc-content-md5"),
            length: None,
        })
    }

    /// `GET /n/{ns}/b/{bucket}/u/{object}?uploadId=` (`ListMultipartUploadParts`), every page.
    pub async fn list_multipart_upload_parts(
        &self,
        upload: &MultipartUpload,
        call: &Call,
    ) -> Result<Vec<MultipartUploadPartSummary>, Error> {
        let path = object_path(&upload.namespace, &upload.bucket, "u", &upload.object);
        // 10,000 parts at the service's page size of up to 1,000 need more than MAX_PAGES
        // only if pages are small; follow them all.
        let query = [("uploadId", upload.upload_id.as_str())];
        self.object_storage_pages(&path, &query, MAX_PARTS as usize + 1, call)
            .await
    }

    /// Every item of an Object Storage list, following `opc-next-page` for at most `pages`
    /// pages.
    async fn object_storage_pages<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        pages: usize,
        call: &Call,
    ) -> Result<Vec<T>, Error> {
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        for _ in 0..pages {
            let mut q = query.to_vec();
            if let Some(p) = &page {
                q.push(("page", p.as_str()));
            }
            let (items, next): (Vec<T>, _) = self
                .exchange(
                    Method::GET,
                    &self.endpoints.object_storage,
                    path,
                    &q,
                    None,
                    call,
                )
                .await?;
            out.extend(items);
            match next {
                Some(n) => page = Some(n),
                None => break,
            }
        }
        Ok(out)
    }

    /// `POST /n/{ns}/b/{bucket}/u/{object}?uploadId=` (`CommitMultipartUpload`): the object's
    /// ETag.
    pub async fn commit_multipart_upload(
        &self,
        upload: &MultipartUpload,
        details: &CommitMultipartUploadDetails,
        call: &Call,
    ) -> Result<String, Error> {
        let path = object_path(&upload.namespace, &upload.bucket, "u", &upload.object);
        let q = [("uploadId", upload.upload_id.as_str())];
        let body = json("commit multipart upload", details)?;
        let a = self
            .send(
                Method::POST,
                &self.endpoints.object_storage,
                &path,
                &q,
                Body::Json(body),
                call,
            )
            .await?;
        Ok(a.header("etag").unwrap_or_default())
    }

    /// `DELETE /n/{ns}/b/{bucket}/u/{object}?uploadId=` (`AbortMultipartUpload`).
    pub async fn abort_multipart_upload(
        &self,
        upload: &MultipartUpload,
        call: &Call,
    ) -> Result<(), Error> {
        let path = object_path(&upload.namespace, &upload.bucket, "u", &upload.object);
        let q = [("uploadId", upload.upload_id.as_str())];
        self.send(
            Method::DELETE,
            &self.endpoints.object_storage,
            &path,
            &q,
            Body::None,
            call,
        )
        .await?;
        Ok(())
    }

    /// Uploads the file at `file` as `object` in parts of `part_size` bytes, resuming the
    /// upload in progress for `object` if a previous run left one: parts already listed with
    /// the file part's size and MD5 are kept, the rest are sent, then all are committed.
    /// `call` bounds each request, not the whole upload.
    pub async fn upload_resumable(
        &self,
        ns: &str,
        bucket: &str,
        object: &str,
        file: &Path,
        part_size: u64,
        call: &Call,
    ) -> Result<UploadReport, Error> {
        let io = |e: std::io::Error| Error::Settings(format!("{}: {e}", file.display()));
        let mut f = std::fs::File::open(file).map_err(io)?;
        let len = f.metadata().map_err(io)?.len();
        let part_size = part_size.max(1);
        let parts = len.div_ceil(part_size).max(1);
        if parts > MAX_PARTS {
            return Err(Error::Settings(format!(
                "{} is {len} bytes: {parts} parts of {part_size} bytes, over the 10,000 parts \
                 a multipart upload takes; use parts of at least {} bytes",
                file.display(),
                len.div_ceil(MAX_PARTS)
            )));
        }
        let existing = self
            .list_multipart_uploads(ns, bucket, call)
            .await?
            .into_iter()
            .filter(|u| u.object == object)
            .max_by(|a, b| a.time_created.cmp(&b.time_created));
        let (upload, listed) = match existing {
            Some(u) => {
                let listed = self.list_multipart_upload_parts(&u, call).await?;
                tracing::info!(object, upload_id = %u.upload_id, parts = listed.len(), "resuming a multipart upload");
                (u, listed)
            }
            None => (
                self.create_multipart_upload(ns, bucket, object, call)
                    .await?,
                Vec::new(),
            ),
        };
        let mut commit = Vec::new();
        let (mut sent, mut kept) = (0u32, 0u32);
        for i in 0..parts {
            let num = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let start = i * part_size;
            let size = part_size.min(len - start);
            let mut buf = vec![0u8; usize::try_from(size).unwrap_or(0)];
            f.seek(SeekFrom::Start(start)).map_err(io)?;
            f.read_exact(&mut buf).map_err(io)?;
            let md5 = md5_b64(&buf);
            let done = listed
                .iter()
                .find(|p| p.part_number == num && p.size == size && p.md5 == md5);
            let etag = match done {
                Some(p) => {
                    kept += 1;
                    p.etag.clone()
                }
                None => {
                    let s = self.upload_part(&upload, num, buf, call).await?;
                    if let Some(got) = &s.md5 {
                        if *got != md5 {
                            return Err(Error::Decode {
                                what: format!("upload part {num} of {object}"),
                                detail: format!(
                                    "the service stored MD5 {got}, the part's is {md5}"
                                ),
                            });
                        }
                    }
                    sent += 1;
                    tracing::info!(object, part = num, of = parts, "uploaded a part");
                    s.etag
                }
            };
            commit.push(CommitMultipartUploadPartDetails {
                part_num: num,
                etag,
            });
        }
        // Parts a previous run sent beyond this file's (a different part size) are left out.
        let exclude: Vec<u32> = listed
            .iter()
            .map(|p| p.part_number)
            .filter(|n| u64::from(*n) > parts)
            .collect();
        let etag = self
            .commit_multipart_upload(
                &upload,
                &CommitMultipartUploadDetails {
                    parts_to_commit: commit,
                    parts_to_exclude: exclude,
                },
                call,
            )
            .await?;
        Ok(UploadReport {
            etag,
            parts_sent: sent,
            parts_kept: kept,
        })
    }

    /// `POST /20160918/images` (`CreateImage`): starts an import; the image is `IMPORTING`.
    pub async fn create_image(
        &self,
        details: &CreateImageDetails,
        call: &Call,
    ) -> Result<Image, Error> {
        let body = json("create image", details)?;
        let a = self
            .send(
                Method::POST,
                &self.endpoints.core,
                "/20160918/images",
                &[],
                Body::Json(body),
                call,
            )
            .await?;
        decode("POST /20160918/images", &a.bytes)
    }

    /// `GET /20160918/images/{imageId}` (`GetImage`).
    pub async fn get_image(&self, id: &str, call: &Call) -> Result<Image, Error> {
        let path = format!("/20160918/images/{}", super::encode(id));
        let (img, _) = self
            .exchange(Method::GET, &self.endpoints.core, &path, &[], None, call)
            .await?;
        Ok(img)
    }

    /// `GET /20160918/images` (`ListImages`) in `compartment`, with that exact display name.
    pub async fn list_images_named(
        &self,
        compartment: &str,
        display_name: &str,
        call: &Call,
    ) -> Result<Vec<Image>, Error> {
        let (list, _) = self
            .exchange(
                Method::GET,
                &self.endpoints.core,
                "/20160918/images",
                &[
                    ("compartmentId", compartment),
                    ("displayName", display_name),
                ],
                None,
                call,
            )
            .await?;
        Ok(list)
    }

    /// `PUT /20160918/images/{imageId}/shapes/{shapeName}` (`AddImageShapeCompatibilityEntry`):
    /// lets instances of `shape` boot the image.
    pub async fn add_image_shape(&self, id: &str, shape: &str, call: &Call) -> Result<(), Error> {
        let path = format!(
            "/20160918/images/{}/shapes/{}",
            super::encode(id),
            super::encode(shape)
        );
        self.send(
            Method::PUT,
            &self.endpoints.core,
            &path,
            &[],
            Body::Json(b"{}".to_vec()),
            call,
        )
        .await?;
        Ok(())
    }

    /// `GET /20160918/images/{imageId}/shapes` (`ListImageShapeCompatibilityEntries`): the
    /// shapes that may boot the image.
    pub async fn list_image_shapes(&self, id: &str, call: &Call) -> Result<Vec<String>, Error> {
        #[derive(serde::Deserialize)]
        struct Entry {
            shape: String,
        }
        let path = format!("/20160918/images/{}/shapes", super::encode(id));
        let (list, _): (Vec<Entry>, _) = self
            .exchange(Method::GET, &self.endpoints.core, &path, &[], None, call)
            .await?;
        Ok(list.into_iter().map(|e| e.shape).collect())
    }
}
