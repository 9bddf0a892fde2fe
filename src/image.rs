//! `freetier image`: turns a disk image published with a `SHA512SUMS` file (Debian's arm64
//! genericcloud qcow2, <https://cloud.debian.org/images/cloud/>) into an OCI custom image:
//! download, verify the SHA-512, refuse anything over the 20 GB Object Storage allowance
//! (<https://docs.oracle.com/en-us/iaas/Content/FreeTier/freetier_topic-Always_Free_Resources.htm>),
//! upload in parts (resuming an interrupted upload), import, wait until `AVAILABLE`, let the
//! A1 shape boot it, and print the image's OCID (and, with `--tfvars`, write it where Layer 1
//! reads `node_image_id`).
//!
//! Every step first asks whether it is done already, so a re-run resumes: an image of the same
//! display name is reused, a download whose SHA-512 matches is kept, an object of the same size
//! is not sent again, and an interrupted multipart upload sends only its missing parts. Before
//! any byte moves, the tenancy's live `custom-image-count` limit must leave room for one more
//! image: the limit differs between tenancies, and OCI refuses the import when it is reached
//! (<https://docs.oracle.com/en-us/iaas/Content/General/Concepts/servicelimits.htm>).
//!
//! Must not import: the framework, the provider, or the lab.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clients::oci::storage::{
    CreateBucketDetails, CreateImageDetails, ImageSourceDetails, DEFAULT_PART_SIZE,
};
use crate::clients::oci::{config, Client};
use crate::clients::{Call, ErrorKind};

/// The Always Free Object Storage allowance an image must fit in, in bytes (20 GB as
/// Oracle counts it: the live `storage-bytes` limit is 21,474,836,480).
pub const MAX_IMAGE_BYTES: u64 = 20 * 1024 * 1024 * 1024;

/// The largest disk an image may describe: the 47 GB boot volume Layer 1's free-tier guard
/// counts for each node that leaves `boot_volume_gb` unset. A larger disk would need larger
/// boot volumes than the guard budgets.
pub const MAX_VIRTUAL_BYTES: u64 = 47 * 1024 * 1024 * 1024;

/// The shape the nodes run: an imported image boots only on shapes added to it.
pub const NODE_SHAPE: &str = "VM.Standard.A1.Flex";

/// Where Oracle explains service limits and how to ask for more.
const LIMITS_DOC: &str =
    "https://docs.oracle.com/en-us/iaas/Content/General/Concepts/servicelimits.htm";

const USAGE: &str = "freetier image: import a published disk image as an OCI custom image

Usage:
  freetier image --url URL [OPTIONS]

Options:
  --url URL            the qcow2 image to download
  --sums URL           its SHA512SUMS file (default: SHA512SUMS beside URL)
  --bucket NAME        Object Storage bucket to upload to (default: freetier-images)
  --name NAME          the custom image's display name (default: the file name)
  --tfvars FILE        also write {\"node_image_id\": OCID} to FILE (Layer 1 reads it)
  --dir DIR            where the download is kept (default: .freetier/images)
  --part-size BYTES    multipart upload part size (default: 134217728)
  --oci-config FILE    OCI CLI configuration (default: $OCI_CLI_CONFIG_FILE, else ~/.oci/config)
  --oci-profile NAME   its profile (default: $OCI_CLI_PROFILE, else DEFAULT)
  --oci-endpoint URL   send every OCI call to this base URL instead of the region's endpoints
  --oci-ca-cert FILE   trust only this CA certificate (PEM) for the OCI endpoints
";

/// Why `freetier image` stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// A download failed.
    #[error("download {url}: {detail}")]
    Download {
        /// What was fetched.
        url: String,
        /// Why it failed.
        detail: String,
    },
    /// The image is larger than the allowance.
    #[error(
        "{url} is {bytes} bytes ({gb:.2} GB), over the {max} bytes (20 GB) of Always Free \
         Object Storage it must be uploaded to; use a smaller image"
    )]
    TooLarge {
        /// The image.
        url: String,
        /// Its size.
        bytes: u64,
        /// Its size in GB (2^30 bytes).
        gb: f64,
        /// The limit.
        max: u64,
    },
    /// The file is not a disk image OCI imports, or describes too large a disk.
    #[error("{file}: {detail}")]
    NotImportable {
        /// The file name.
        file: String,
        /// What is wrong, with the numbers.
        detail: String,
    },
    /// The tenancy has no room for another custom image.
    #[error(
        "the tenancy's custom-image-count limit is {limit} and {used} in use, so OCI would refuse \
         the import; {advice}"
    )]
    CustomImageLimit {
        /// Images counted against the limit.
        used: i64,
        /// The limit.
        limit: i64,
        /// What to do.
        advice: String,
    },
    /// The import ended in a state other than `AVAILABLE`.
    #[error("image {id} is {state}, not AVAILABLE; delete it and run again")]
    ImportFailed {
        /// The image.
        id: String,
        /// Its state.
        state: String,
    },
    /// The downloaded bytes are not the published ones.
    #[error("{file}: SHA-512 is {actual}, but {sums} publishes {expected}; the download is corrupt or not the published image, so it was not uploaded")]
    Checksum {
        /// The file name.
        file: String,
        /// The SHA512SUMS URL.
        sums: String,
        /// The published sum.
        expected: String,
        /// The sum of what was downloaded.
        actual: String,
    },
    /// A local file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// An OCI call failed.
    #[error(transparent)]
    Oci(#[from] crate::clients::oci::Error),
}

#[derive(Debug, Default)]
struct Opts {
    url: Option<String>,
    sums: Option<String>,
    bucket: Option<String>,
    name: Option<String>,
    tfvars: Option<PathBuf>,
    dir: Option<PathBuf>,
    part_size: Option<u64>,
    oci_config: Option<PathBuf>,
    oci_profile: Option<String>,
    oci_endpoint: Option<String>,
    oci_ca_cert: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Option<Opts>, ImageError> {
    let mut o = Opts::default();
    let mut flags = crate::cli::Flags::new(args);
    while let Some(flag) = flags.next_arg() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let mut value = || flags.value(flag).map_err(ImageError::Usage);
        match flag {
            "--url" => o.url = Some(value()?),
            "--sums" => o.sums = Some(value()?),
            "--bucket" => o.bucket = Some(value()?),
            "--name" => o.name = Some(value()?),
            "--tfvars" => o.tfvars = Some(PathBuf::from(value()?)),
            "--dir" => o.dir = Some(PathBuf::from(value()?)),
            "--part-size" => {
                let v = value()?;
                o.part_size = Some(v.parse().map_err(|_| {
                    ImageError::Usage(format!("--part-size {v}: not a number of bytes"))
                })?)
            }
            "--oci-config" => o.oci_config = Some(PathBuf::from(value()?)),
            "--oci-profile" => o.oci_profile = Some(value()?),
            "--oci-endpoint" => o.oci_endpoint = Some(value()?),
            "--oci-ca-cert" => o.oci_ca_cert = Some(PathBuf::from(value()?)),
            other => return Err(ImageError::Usage(format!("unknown option {other:?}"))),
        }
    }
    if o.url.is_none() {
        return Err(ImageError::Usage("--url is required".into()));
    }
    Ok(Some(o))
}

/// Runs `freetier image ARGS`; the exit code.
pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let opts = match parse(args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            let _ = write!(out, "{USAGE}");
            return 0;
        }
        Err(e) => {
            let _ = write!(err, "freetier image: {e}\n\n{USAGE}");
            return 2;
        }
    };
    let rt = match crate::cli::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "freetier image: cannot start the runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(import(&opts, err)) {
        Ok(id) => {
            let _ = writeln!(out, "{id}");
            0
        }
        Err(e) => {
            let _ = writeln!(err, "freetier image: {e}");
            1
        }
    }
}

fn file_name(url: &str) -> String {
    url.rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("image.qcow2")
        .to_string()
}

/// The sum `SHA512SUMS` gives for `name` (`HEX  NAME` or `HEX *NAME` lines).
fn sum_for(sums: &str, name: &str) -> Option<String> {
    sums.lines().find_map(|l| {
        let (hex, file) = l.split_once(char::is_whitespace)?;
        let file = file.trim_start().trim_start_matches('*');
        (file == name).then(|| hex.to_ascii_lowercase())
    })
}

async fn download(
    http: &reqwest::Client,
    url: &str,
    to: &Path,
) -> Result<(u64, String), ImageError> {
    let fail = |d: String| ImageError::Download {
        url: url.to_string(),
        detail: d,
    };
    let mut resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(fail(format!("HTTP {}", resp.status())));
    }
    let too_large = |bytes: u64| ImageError::TooLarge {
        url: url.to_string(),
        bytes,
        gb: bytes as f64 / f64::from(1u32 << 30),
        max: MAX_IMAGE_BYTES,
    };
    if let Some(len) = resp.content_length().filter(|l| *l > MAX_IMAGE_BYTES) {
        return Err(too_large(len));
    }
    let io = |e| ImageError::Io {
        path: to.to_path_buf(),
        source: e,
    };
    let mut f = std::fs::File::create(to).map_err(io)?;
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA512);
    let mut total = 0u64;
    while let Some(chunk) = resp.chunk().await.map_err(|e| fail(e.to_string()))? {
        total += chunk.len() as u64;
        if total > MAX_IMAGE_BYTES {
            return Err(too_large(total));
        }
        ctx.update(&chunk);
        f.write_all(&chunk).map_err(io)?;
    }
    Ok((total, hex(ctx.finish().as_ref())))
}

/// The SHA-512 of a file already on disk, as lowercase hex; `None` if it cannot be read.
fn sha512_file(path: &Path) -> Option<(u64, String)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA512);
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        total += n as u64;
        ctx.update(&buf[..n]);
    }
    Some((total, hex(ctx.finish().as_ref())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The virtual disk size a qcow2 header states (QEMU's `docs/interop/qcow2.txt`: magic
/// `QFI\xfb` at 0, the size as a big-endian u64 at 24), or why the file is not one.
pub fn qcow2_virtual_size(header: &[u8]) -> Result<u64, String> {
    if header.len() < 32 || &header[..4] != b"QFI\xfb" {
        return Err("is not a QCOW2 image (no QFI\\xfb header); OCI imports QCOW2 or VMDK".into());
    }
    let mut size = [0u8; 8];
    size.copy_from_slice(&header[24..32]);
    Ok(u64::from_be_bytes(size))
}

fn check_disk(file: &Path, name: &str) -> Result<u64, ImageError> {
    use std::io::Read;
    let io = |e| ImageError::Io {
        path: file.to_path_buf(),
        source: e,
    };
    let mut header = [0u8; 32];
    let mut f = std::fs::File::open(file).map_err(io)?;
    let n = f.read(&mut header).map_err(io)?;
    let size = qcow2_virtual_size(&header[..n]).map_err(|detail| ImageError::NotImportable {
        file: name.to_string(),
        detail,
    })?;
    if size > MAX_VIRTUAL_BYTES {
        return Err(ImageError::NotImportable {
            file: name.to_string(),
            detail: format!(
                "describes a {:.2} GB disk, larger than the 47 GB boot volume Layer 1 budgets for \
                 each node ({MAX_VIRTUAL_BYTES} bytes); use an image with a smaller disk",
                size as f64 / f64::from(1u32 << 30)
            ),
        });
    }
    Ok(size)
}

fn limit_advice(limit: i64) -> String {
    if limit <= 0 {
        format!(
            "this tenancy may not import custom images at all. Ask Oracle to raise the compute \
             limit custom-image-count ({LIMITS_DOC}); until then the nodes cannot boot Debian"
        )
    } else {
        format!(
            "delete a custom image you no longer use, or ask Oracle to raise the compute limit \
             custom-image-count ({LIMITS_DOC})"
        )
    }
}

/// Waits until the import of `id` ends; its final state.
async fn wait_imported(client: &Client, id: &str, call: &Call) -> Result<String, ImageError> {
    // Imports take minutes; poll every 10 s for up to an hour.
    let mut state = String::new();
    for i in 0..360 {
        if i > 0 {
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        state = client.get_image(id, call).await?.lifecycle_state;
        if state != "IMPORTING" && state != "PROVISIONING" {
            break;
        }
    }
    Ok(state)
}

/// Makes `id` bootable on the nodes' shape, and hands it to Layer 1 if asked.
async fn finish(
    client: &Client,
    o: &Opts,
    id: &str,
    call: &Call,
    log: &mut dyn Write,
) -> Result<(), ImageError> {
    client.add_image_shape(id, NODE_SHAPE, call).await?;
    let _ = writeln!(log, "{NODE_SHAPE} instances may boot {id}");
    if let Some(path) = &o.tfvars {
        let text = format!("{}\n", serde_json::json!({ "node_image_id": id }));
        std::fs::write(path, text).map_err(|e| ImageError::Io {
            path: path.clone(),
            source: e,
        })?;
        let _ = writeln!(log, "wrote node_image_id to {}", path.display());
    }
    Ok(())
}

async fn import(o: &Opts, log: &mut dyn Write) -> Result<String, ImageError> {
    let url = o.url.clone().unwrap_or_default();
    let name = file_name(&url);
    let display_name = o.name.clone().unwrap_or_else(|| name.clone());
    let sums_url = o.sums.clone().unwrap_or_else(|| match url.rfind('/') {
        Some(i) => format!("{}/SHA512SUMS", &url[..i]),
        None => "SHA512SUMS".into(),
    });

    // The tenancy first: nothing is downloaded for an import OCI would refuse.
    let profile_name = o
        .oci_profile
        .clone()
        .unwrap_or_else(config::default_profile);
    let cfg_path = o.oci_config.clone().unwrap_or_else(config::default_path);
    let profile =
        config::load(&cfg_path, &profile_name).map_err(crate::clients::oci::Error::from)?;
    let ca = match &o.oci_ca_cert {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| ImageError::Io {
            path: p.clone(),
            source: e,
        })?),
        None => None,
    };
    let client = Client::from_profile(&profile, o.oci_endpoint.as_deref(), ca.as_deref())?;
    let cancel = CancellationToken::new();
    let call = Call::new(&cancel, Duration::from_secs(300));
    let tenancy = client.tenancy().to_string();

    let existing = client
        .list_images_named(&tenancy, &display_name, &call)
        .await?;
    if let Some(img) = existing
        .iter()
        .find(|i| matches!(i.lifecycle_state.as_str(), "AVAILABLE" | "IMPORTING"))
    {
        let _ = writeln!(log, "{display_name} is imported already: {}", img.id);
        let state = wait_imported(&client, &img.id, &call).await?;
        if state != "AVAILABLE" {
            return Err(ImageError::ImportFailed {
                id: img.id.clone(),
                state,
            });
        }
        finish(&client, o, &img.id, &call, log).await?;
        return Ok(img.id.clone());
    }
    let room = client
        .get_resource_availability("compute", "custom-image-count", &tenancy, None, &call)
        .await?;
    let used = room.used.unwrap_or(0);
    let available = room.available.unwrap_or(0);
    if available < 1 {
        let limit = used + available;
        return Err(ImageError::CustomImageLimit {
            used,
            limit,
            advice: limit_advice(limit),
        });
    }
    let _ = writeln!(
        log,
        "custom-image-count: {used} used, {available} more allowed"
    );

    let http = reqwest::Client::builder()
        .build()
        .map_err(|e| ImageError::Usage(format!("http client: {e}")))?;
    let sums = http
        .get(&sums_url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| ImageError::Download {
            url: sums_url.clone(),
            detail: e.to_string(),
        })?
        .text()
        .await
        .map_err(|e| ImageError::Download {
            url: sums_url.clone(),
            detail: e.to_string(),
        })?;
    let expected = sum_for(&sums, &name).ok_or_else(|| ImageError::Download {
        url: sums_url.clone(),
        detail: format!("names no file {name}"),
    })?;
    let dir = o
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(".freetier/images"));
    std::fs::create_dir_all(&dir).map_err(|e| ImageError::Io {
        path: dir.clone(),
        source: e,
    })?;
    let file = dir.join(&name);
    let bytes = match sha512_file(&file) {
        Some((bytes, sum)) if sum == expected && bytes <= MAX_IMAGE_BYTES => {
            let _ = writeln!(log, "{name}: downloaded already, SHA-512 verified");
            bytes
        }
        _ => {
            let (bytes, actual) = download(&http, &url, &file).await?;
            if actual != expected {
                let _ = std::fs::remove_file(&file);
                return Err(ImageError::Checksum {
                    file: name,
                    sums: sums_url,
                    expected,
                    actual,
                });
            }
            let _ = writeln!(log, "downloaded {name}: {bytes} bytes, SHA-512 verified");
            bytes
        }
    };
    let virtual_size = check_disk(&file, &name)?;
    let _ = writeln!(
        log,
        "{name}: QCOW2, a {:.2} GB disk in {:.2} GB of Object Storage (20 GB free)",
        virtual_size as f64 / f64::from(1u32 << 30),
        bytes as f64 / f64::from(1u32 << 30)
    );

    let ns = client.get_namespace(&call).await?;
    let bucket = o
        .bucket
        .clone()
        .unwrap_or_else(|| "freetier-images".to_string());
    match client
        .create_bucket(
            &ns,
            &CreateBucketDetails {
                name: bucket.clone(),
                compartment_id: tenancy.clone(),
            },
            &call,
        )
        .await
    {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e.into()),
    }
    let stored = client.head_object(&ns, &bucket, &name, &call).await?;
    if stored.and_then(|s| s.length) == Some(bytes) {
        let _ = writeln!(log, "{name} is in {bucket} already ({bytes} bytes)");
    } else {
        let report = client
            .upload_resumable(
                &ns,
                &bucket,
                &name,
                &file,
                o.part_size.unwrap_or(DEFAULT_PART_SIZE),
                &call,
            )
            .await?;
        let _ = writeln!(
            log,
            "uploaded {name} to {bucket}: {} parts sent, {} kept from an earlier run",
            report.parts_sent, report.parts_kept
        );
    }
    let created = client
        .create_image(
            &CreateImageDetails {
                compartment_id: tenancy.clone(),
                display_name: Some(display_name.clone()),
                launch_mode: Some("PARAVIRTUALIZED".into()),
                image_source_details: ImageSourceDetails {
                    source_type: "objectStorageTuple".into(),
                    namespace_name: ns,
                    bucket_name: bucket,
                    object_name: name,
                    source_image_type: "QCOW2".into(),
                    operating_system: Some("Debian".into()),
                    operating_system_version: None,
                },
            },
            &call,
        )
        .await;
    let image = match created {
        Ok(image) => image,
        // Someone used the last slot since the check.
        Err(crate::clients::oci::Error::Service { code, .. }) if code == "LimitExceeded" => {
            return Err(ImageError::CustomImageLimit {
                used: used + available,
                limit: used + available,
                advice: limit_advice(used + available),
            })
        }
        Err(e) => return Err(e.into()),
    };
    let _ = writeln!(log, "importing {display_name} as {}", image.id);
    let state = wait_imported(&client, &image.id, &call).await?;
    if state != "AVAILABLE" {
        return Err(ImageError::ImportFailed {
            id: image.id,
            state,
        });
    }
    finish(&client, o, &image.id, &call, log).await?;
    Ok(image.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_lines_name_their_file() {
        let sums = "ABC  debian.qcow2\ndef *other.raw\n";
        for (name, want) in [
            ("debian.qcow2", Some("abc")),
            ("other.raw", Some("def")),
            ("missing", None),
        ] {
            assert_eq!(sum_for(sums, name).as_deref(), want, "{name}");
        }
        assert_eq!(file_name("http://h/a/b.qcow2"), "b.qcow2");
    }

    #[test]
    fn a_qcow2_header_gives_its_virtual_size_and_anything_else_is_refused() {
        let mut h = vec![0u8; 32];
        h[..4].copy_from_slice(b"QFI\xfb");
        h[24..32].copy_from_slice(&(2u64 << 30).to_be_bytes());
        assert_eq!(qcow2_virtual_size(&h), Ok(2 << 30));
        let raw = vec![0u8; 512];
        assert!(qcow2_virtual_size(&raw)
            .unwrap_err()
            .contains("QCOW2 or VMDK"));
        assert!(qcow2_virtual_size(b"QFI").is_err());
    }
}
