//! `freetier image`: turns a disk image published with a `SHA512SUMS` file (Debian's arm64
//! genericcloud qcow2, <https://cloud.debian.org/images/cloud/>) into an OCI custom image:
//! download, verify the SHA-512, refuse anything over the 20 GB Object Storage allowance
//! (<https://docs.oracle.com/en-us/iaas/Content/FreeTier/freetier_topic-Always_Free_Resources.htm>),
//! upload in parts (resuming an interrupted upload), import, wait until `AVAILABLE`, and print
//! the image's OCID.
//!
//! Not done yet: the custom image count, reusing an image already imported, and reading the
//! qcow2's virtual size (see `docs/images-plan.md`).
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

const USAGE: &str = "freetier image: import a published disk image as an OCI custom image

Usage:
  freetier image --url URL [OPTIONS]

Options:
  --url URL            the qcow2 image to download
  --sums URL           its SHA512SUMS file (default: SHA512SUMS beside URL)
  --bucket NAME        Object Storage bucket to upload to (default: freetier-images)
  --name NAME          the custom image's display name (default: the file name)
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
    dir: Option<PathBuf>,
    part_size: Option<u64>,
    oci_config: Option<PathBuf>,
    oci_profile: Option<String>,
    oci_endpoint: Option<String>,
    oci_ca_cert: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Option<Opts>, ImageError> {
    let mut o = Opts::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| ImageError::Usage(format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--url" => o.url = Some(value()?),
            "--sums" => o.sums = Some(value()?),
            "--bucket" => o.bucket = Some(value()?),
            "--name" => o.name = Some(value()?),
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
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
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
    let hex = ctx
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((total, hex))
}

async fn import(o: &Opts, log: &mut dyn Write) -> Result<String, ImageError> {
    let url = o.url.clone().unwrap_or_default();
    let name = file_name(&url);
    let sums_url = o.sums.clone().unwrap_or_else(|| match url.rfind('/') {
        Some(i) => format!("{}/SHA512SUMS", &url[..i]),
        None => "SHA512SUMS".into(),
    });
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
    let (bytes, actual) = download(&http, &url, &file).await?;
    if actual != expected {
        return Err(ImageError::Checksum {
            file: name,
            sums: sums_url,
            expected,
            actual,
        });
    }
    let _ = writeln!(log, "downloaded {name}: {bytes} bytes, SHA-512 verified");

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
                compartment_id: client.tenancy().to_string(),
            },
            &call,
        )
        .await
    {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e.into()),
    }
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
    let image = client
        .create_image(
            &CreateImageDetails {
                compartment_id: client.tenancy().to_string(),
                display_name: Some(o.name.clone().unwrap_or_else(|| name.clone())),
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
        .await?;
    // Imports take minutes; poll every 10 s for up to an hour.
    let mut state = image.lifecycle_state.clone();
    for i in 0..360 {
        if i > 0 {
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        state = client.get_image(&image.id, &call).await?.lifecycle_state;
        if state != "IMPORTING" && state != "PROVISIONING" {
            break;
        }
    }
    if state != "AVAILABLE" {
        return Err(ImageError::Usage(format!(
            "image {} is {state}, not AVAILABLE",
            image.id
        )));
    }
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
}
