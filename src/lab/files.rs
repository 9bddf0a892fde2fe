//! The lab's file server: plain HTTP on the bastion address, port 8080, serving the images a
//! deployment downloads (a Talos-like ISO and its compressed forms, a qcow2 disk image, an
//! `.xz` image the Proxmox API cannot unpack), so `download-url` really fetches, checks and
//! decompresses. `lab status` prints its address. The lab downloads from this server only: it
//! has no network beyond its own loopback addresses.
//!
//! Formats written and read here, from their specifications: gzip (RFC 1952, through flate2),
//! Zstandard (RFC 8878, through ruzstd), lzop (the container of lzop 1.04's `lzop.c`: magic,
//! header with an Adler-32, then blocks `dst_len, src_len, adler32(data), data`; a block whose
//! `src_len` equals its `dst_len` is stored), and the qcow2 header (QEMU's
//! `docs/interop/qcow2.txt`: magic `QFI\xfb`, version, virtual size at offset 24).

use std::io::Read;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::http::{self, Reply, Req};
use super::LabInner;

/// The file server's port on the bastion address.
pub(crate) const FILES_PORT: u16 = 8080;

/// One served file.
struct Artifact {
    path: &'static str,
    data: Vec<u8>,
}

/// The served files, built on first use (so start-up stays cheap).
fn artifacts() -> &'static [Artifact] {
    static FILES: OnceLock<Vec<Artifact>> = OnceLock::new();
    FILES.get_or_init(|| {
        let iso = super::iso9660::build_iso(
            "TALOS_V1_13_9",
            &[(
                "README.TXT",
                b"Talos metal image (lab stand-in)\n".as_slice(),
            )],
        );
        let qcow2 = qcow2_image(1 << 30);
        vec![
            Artifact {
                path: "/talos/metal-arm64.iso.gz",
                data: gzip(&iso),
            },
            Artifact {
                path: "/talos/metal-arm64.iso.zst",
                data: zstd(&iso),
            },
            Artifact {
                path: "/talos/metal-arm64.iso.lzo",
                data: lzop_stored(&iso, "metal-arm64.iso"),
            },
            Artifact {
                path: "/talos/metal-arm64.iso",
                data: iso,
            },
            Artifact {
                path: "/talos/nocloud-arm64.qcow2",
                data: qcow2,
            },
            Artifact {
                // A stand-in for Debian's arm64 genericcloud image
                // (https://cloud.debian.org/images/cloud/bookworm/latest/), checked against
                // `/debian/SHA512SUMS`.
                path: "/debian/debian-12-genericcloud-arm64.qcow2",
                data: qcow2_image(2 << 30),
            },
            Artifact {
                // XZ's stream header magic; the lab never unpacks it (Proxmox VE cannot either).
                path: "/talos/nocloud-arm64.raw.xz",
                data: [&[0xFD, b'7', b'z', b'X', b'Z', 0x00][..], &[0u8; 4090]].concat(),
            },
        ]
    })
}

/// `SHA256SUMS` in `sha256sum`'s format, for the served files.
fn sha256sums() -> String {
    artifacts()
        .iter()
        .filter_map(|a| {
            let name = a.path.strip_prefix("/talos/")?;
            let sum = super::keys::sha256_colon_hex(&a.data)
                .replace(':', "")
                .to_lowercase();
            Some(format!("{sum}  {name}\n"))
        })
        .collect()
}

/// `SHA512SUMS` for the Debian stand-in, in `sha512sum`'s format as Debian publishes it
/// beside its cloud images.
fn sha512sums() -> String {
    artifacts()
        .iter()
        .filter_map(|a| {
            let name = a.path.strip_prefix("/debian/")?;
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, &a.data);
            let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            Some(format!("{hex}  {name}\n"))
        })
        .collect()
}

/// Serves the files until the lab stops.
pub(crate) async fn serve(lab: Arc<LabInner>, listener: TcpListener) {
    let lab_t = lab.clone();
    let token = move || Some(lab_t.cancel.child_token());
    let handler =
        move |req: Req, _conn: CancellationToken| async move { Reply::Send(answer(&req)) };
    http::serve(lab, listener, None, token, handler).await;
}

fn answer(req: &Req) -> http::Resp {
    if req.method != hyper::Method::GET && req.method != hyper::Method::HEAD {
        return http::response(405, None, None);
    }
    let body = if req.path == "/talos/SHA256SUMS" {
        Some(sha256sums().into_bytes())
    } else if req.path == "/debian/SHA512SUMS" {
        Some(sha512sums().into_bytes())
    } else if req.path == "/debian/mismatch/SHA512SUMS" {
        // The Debian stand-in's name with another file's sum: a checksum mismatch to refuse.
        Some(
            format!(
                "{}  debian-12-genericcloud-arm64.qcow2\n",
                "0123456789abcdef".repeat(8)
            )
            .into_bytes(),
        )
    } else {
        artifacts()
            .iter()
            .find(|a| a.path == req.path)
            .map(|a| a.data.clone())
    };
    match body {
        Some(b) => hyper::Response::builder()
            .status(200)
            .header("content-type", "application/octet-stream")
            .body(Full::new(Bytes::from(b)))
            .unwrap_or_else(|_| http::response(500, None, None)),
        None => http::response(404, None, None),
    }
}

/// Why a download failed, as `wget` reports it through its exit code (wget(1) "EXIT
/// STATUS": 4 network failure, 8 server error response).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FetchError {
    Network,
    Server(u16),
}

impl FetchError {
    pub(crate) fn wget_exit(&self) -> u8 {
        match self {
            FetchError::Network => 4,
            FetchError::Server(_) => 8,
        }
    }
}

/// Downloads `url` from the lab's own file server (`files_addr`); any other host is
/// unreachable, as it is from a host without a route out.
pub(crate) async fn fetch(files_addr: &str, url: &str) -> Result<Vec<u8>, FetchError> {
    let rest = url.strip_prefix("http://").ok_or(FetchError::Network)?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority != files_addr {
        return Err(FetchError::Network);
    }
    let tcp = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|_| FetchError::Network)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|_| FetchError::Network)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = hyper::Request::get(path)
        .header("host", authority)
        .header("user-agent", "Wget/1.25.0")
        .body(Full::new(Bytes::new()))
        .map_err(|_| FetchError::Network)?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|_| FetchError::Network)?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(FetchError::Server(status));
    }
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|_| FetchError::Network)?;
    Ok(body.to_bytes().to_vec())
}

/// Decompresses `data` as the command `pve-storage` runs for `comp` would (`zcat`,
/// `zstd -q -d -c`, `lzop -d -c`), or says why it cannot, in that command's words.
pub(crate) fn decompress(comp: &str, data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    match comp {
        "gz" => flate2::read::MultiGzDecoder::new(data)
            .read_to_end(&mut out)
            .map(|_| out)
            .map_err(|_| "gzip: stdin: not in gzip format".to_string()),
        "zst" => {
            let mut src = data;
            let mut dec = ruzstd::decoding::StreamingDecoder::new(&mut src)
                .map_err(|_| "zstd: /*stdin*\\: unsupported format".to_string())?;
            dec.read_to_end(&mut out)
                .map(|_| out)
                .map_err(|_| "zstd: /*stdin*\\: unsupported format".to_string())
        }
        "lzo" => unlzop(data),
        other => Err(format!(
            "decompression with '{other}' is not emulated by the lab"
        )),
    }
}

/// Whether `data` starts with a qcow2 header (`QFI\xfb`).
pub(crate) fn is_qcow2(data: &[u8]) -> bool {
    data.starts_with(b"QFI\xfb")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

/// A qcow2 v3 header for an image of `size` bytes, padded to one 64 KiB cluster.
fn qcow2_image(size: u64) -> Vec<u8> {
    let mut h = vec![0u8; 64 * 1024];
    h[0..4].copy_from_slice(b"QFI\xfb");
    h[4..8].copy_from_slice(&3u32.to_be_bytes());
    h[20..24].copy_from_slice(&16u32.to_be_bytes()); // cluster_bits
    h[24..32].copy_from_slice(&size.to_be_bytes());
    h[100..104].copy_from_slice(&4u32.to_be_bytes()); // refcount_order
    h[104..108].copy_from_slice(&104u32.to_be_bytes()); // header_length
    h
}

const LZOP_MAGIC: [u8; 9] = [0x89, b'L', b'Z', b'O', 0x00, 0x0D, 0x0A, 0x1A, 0x0A];
const F_ADLER32_D: u32 = 0x0000_0001;
const F_ADLER32_C: u32 = 0x0000_0002;
const F_CRC32_D: u32 = 0x0000_0100;
const F_CRC32_C: u32 = 0x0000_0200;
const F_H_FILTER: u32 = 0x0000_0800;
const LZOP_BLOCK: usize = 256 * 1024;

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= 65_521;
        b %= 65_521;
    }
    (b << 16) | a
}

/// An lzop file whose blocks are stored (what lzop writes for data it cannot shrink).
fn lzop_stored(data: &[u8], name: &str) -> Vec<u8> {
    let mut out = LZOP_MAGIC.to_vec();
    let mut h = Vec::new();
    h.extend(0x1040u16.to_be_bytes()); // version
    h.extend(0x20a0u16.to_be_bytes()); // LZO library version
    h.extend(0x0940u16.to_be_bytes()); // version needed to extract
    h.push(1); // method: LZO1X-1
    h.push(5); // level
    h.extend(F_ADLER32_D.to_be_bytes());
    h.extend(0o100644u32.to_be_bytes()); // mode
    h.extend(0u32.to_be_bytes()); // mtime low
    h.extend(0u32.to_be_bytes()); // mtime high
    let name = &name.as_bytes()[..name.len().min(255)];
    h.push(name.len() as u8);
    h.extend(name);
    let sum = adler32(&h);
    out.extend(&h);
    out.extend(sum.to_be_bytes());
    for block in data.chunks(LZOP_BLOCK) {
        out.extend((block.len() as u32).to_be_bytes());
        out.extend((block.len() as u32).to_be_bytes());
        out.extend(adler32(block).to_be_bytes());
        out.extend(block);
    }
    out.extend(0u32.to_be_bytes());
    out
}

/// `lzop -d -c` for files whose blocks are stored; a compressed block needs an LZO1X
/// decoder, which the lab has not.
fn unlzop(data: &[u8]) -> Result<Vec<u8>, String> {
    let bad = || "lzop: <stdin>: not a lzop file".to_string();
    let mut r = data.strip_prefix(&LZOP_MAGIC[..]).ok_or_else(bad)?;
    let mut take = |n: usize| -> Result<&[u8], String> {
        if r.len() < n {
            return Err("lzop: <stdin>: unexpected end of file".into());
        }
        let (a, b) = r.split_at(n);
        r = b;
        Ok(a)
    };
    let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let version = u16::from_be_bytes(take(2)?.try_into().map_err(|_| bad())?);
    take(2)?;
    if version >= 0x0940 {
        take(2)?;
    }
    take(1)?; // method
    if version >= 0x0940 {
        take(1)?; // level
    }
    let flags = be32(take(4)?);
    if flags & F_H_FILTER != 0 {
        take(4)?;
    }
    take(8)?; // mode, mtime low
    if version >= 0x0940 {
        take(4)?;
    }
    let name_len = take(1)?[0] as usize;
    take(name_len)?;
    take(4)?; // header checksum
    let mut out = Vec::new();
    loop {
        let dst_len = be32(take(4)?) as usize;
        if dst_len == 0 {
            return Ok(out);
        }
        let src_len = be32(take(4)?) as usize;
        let sum_d = if flags & F_ADLER32_D != 0 {
            Some(be32(take(4)?))
        } else {
            None
        };
        if flags & F_CRC32_D != 0 {
            take(4)?;
        }
        if src_len < dst_len && flags & (F_ADLER32_C | F_CRC32_C) != 0 {
            take(4)?;
        }
        let block = take(src_len)?;
        if src_len != dst_len {
            return Err(
                "lzop: <stdin>: compressed LZO1X blocks are not emulated by the lab".into(),
            );
        }
        if sum_d.is_some_and(|s| s != adler32(block)) {
            return Err("lzop: <stdin>: Checksum error".into());
        }
        out.extend(block);
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn each_compressed_image_unpacks_to_the_iso() {
        let iso = &artifacts()
            .iter()
            .find(|a| a.path == "/talos/metal-arm64.iso")
            .expect("iso")
            .data;
        for comp in ["gz", "zst", "lzo"] {
            let path = format!("/talos/metal-arm64.iso.{comp}");
            let packed = &artifacts()
                .iter()
                .find(|a| a.path == path)
                .expect("served")
                .data;
            assert_eq!(&decompress(comp, packed).expect(comp), iso, "{comp}");
        }
        assert_eq!(
            decompress("gz", iso),
            Err("gzip: stdin: not in gzip format".to_string())
        );
    }

    #[test]
    fn adler32_matches_rfc_1950() {
        // RFC 1950's checksum of "Wikipedia" is 0x11E60398 (the usual worked example).
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    }
}
