//! Benchmarks that print numbers. They assert nothing about speed: they are for reading.
//!
//! `cargo bench --bench provider` (or `scripts/bench.sh`, which also measures the provider
//! under real Terraform cores) prints:
//!
//! 1. Handshake latency: spawn the release provider binary as go-plugin would (magic cookie,
//!    protocol versions, and for AutoMTLS a P-521 client certificate like Terraform's) and
//!    time from spawn to its first stdout line, for AutoMTLS and for plaintext; and, for
//!    context, from spawn to the server's first HTTP/2 frame after connecting (and completing
//!    the mutual-TLS handshake as Terraform's client would), which is when it can serve.
//! 2. Codec throughput: msgpack encode/decode and JSON decode of a ~1 MB state value.
//!
//! The provider binary is `target/release/terraform-provider-freetier` (or
//! `$CARGO_TARGET_DIR/release/…`, or `$FREETIER_PROVIDER_BIN`): build it first with
//! `cargo build --release` (scripts/bench.sh does). Cargo does not give benches the path of
//! a binary target, so this bench finds it itself.
//!
//! Environment knobs: `FREETIER_BENCH_HANDSHAKE_N` (default 30), `FREETIER_BENCH_CODEC_N`
//! (default 20).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};

use freetier::framework::{json, msgpack, Number, Type, Value};

const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
const MAGIC_COOKIE_VALUE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; accept and ignore any arguments.
    let handshake_n = env_usize("FREETIER_BENCH_HANDSHAKE_N", 30);
    let codec_n = env_usize("FREETIER_BENCH_CODEC_N", 20);

    let bin = match provider_binary() {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("error: {msg}");
            return ExitCode::FAILURE;
        }
    };

    println!("== handshake latency, n={handshake_n} per mode ==");
    println!("binary: {}", bin.display());
    println!("line:  spawn → first stdout line (the go-plugin handshake line)");
    println!("ready: spawn → the server's first HTTP/2 frame, after TCP connect and, with AutoMTLS, a TLS 1.3");
    println!("       handshake with client auth (what Terraform waits for before its first RPC)");
    let client = TerraformLikeClient::new();
    let mut rows = Vec::new();
    for (label, tls) in [("AutoMTLS", Some(&client)), ("plaintext", None)] {
        match handshake_series(&bin, tls, handshake_n) {
            Ok((line, ready)) => {
                println!("{}", line.line_ms(&format!("{label} line")));
                println!("{}", ready.line_ms(&format!("{label} ready")));
                rows.push((label, line, ready));
            }
            Err(e) => {
                eprintln!("error: handshake ({label}): {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("(target: AutoMTLS line median ≤ 10 ms)");
    println!();

    println!(
        "== codec throughput, ~1 MB state value, n={codec_n} iterations each (MB = 10^6 bytes) =="
    );
    let codec_summary = match codec_bench(codec_n) {
        Ok(lines) => lines,
        Err(e) => {
            eprintln!("error: codec: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!();

    println!("== summary ==");
    for (label, line, ready) in &rows {
        for (what, s) in [("line", line), ("ready", ready)] {
            println!(
                "handshake {:<15}  median {:>7.2} ms  (min {:.2}, max {:.2}, n={})",
                format!("{label} {what}"),
                ms(s.median()),
                ms(s.min()),
                ms(s.max()),
                s.n()
            );
        }
    }
    for line in codec_summary {
        println!("{line}");
    }
    ExitCode::SUCCESS
}

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------------------------
// Statistics

/// A series of durations.
struct Series(Vec<Duration>);

impl Series {
    fn sorted(&self) -> Vec<Duration> {
        let mut v = self.0.clone();
        v.sort();
        v
    }
    fn n(&self) -> usize {
        self.0.len()
    }
    fn median(&self) -> Duration {
        let v = self.sorted();
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2
        }
    }
    fn min(&self) -> Duration {
        self.0.iter().copied().min().unwrap_or_default()
    }
    fn max(&self) -> Duration {
        self.0.iter().copied().max().unwrap_or_default()
    }
    /// The p-th percentile by nearest rank.
    fn pct(&self, p: f64) -> Duration {
        let v = self.sorted();
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }
    fn line_ms(&self, label: &str) -> String {
        format!(
            "{label:<16} median {:>7.2} ms   min {:>7.2}   p90 {:>7.2}   max {:>7.2}   (n={})",
            ms(self.median()),
            ms(self.min()),
            ms(self.pct(90.0)),
            ms(self.max()),
            self.n()
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

// ---------------------------------------------------------------------------------------------
// 1. Handshake latency

/// The release provider binary, or a message saying how to build it.
fn provider_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("FREETIER_PROVIDER_BIN") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "FREETIER_PROVIDER_BIN={} is not a file",
                p.display()
            ))
        };
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let target = if target.is_relative() {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(target)
    } else {
        target
    };
    let p = target.join("release").join("terraform-provider-freetier");
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "the release provider binary {} is missing.\nBuild it first: `cargo build --release -j2` (scripts/bench.sh does this), or point FREETIER_PROVIDER_BIN at one.",
            p.display()
        ))
    }
}

/// Terraform's side of AutoMTLS: a self-signed P-521 CA certificate like the one go-plugin's
/// client generates and passes in `PLUGIN_CLIENT_CERT`, and a rustls client that presents it
/// and pins the server certificate from the handshake line.
struct TerraformLikeClient {
    pem: String,
    cert: CertificateDer<'static>,
    key: Vec<u8>,
}

impl TerraformLikeClient {
    fn new() -> TerraformLikeClient {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).expect("P-521 key");
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "HashiCorp");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
            rcgen::KeyUsagePurpose::KeyCertSign,
        ];
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        ];
        let cert = params.self_signed(&key).expect("self-signed cert");
        TerraformLikeClient {
            pem: cert.pem(),
            cert: cert.der().clone(),
            key: key.serialize_der(),
        }
    }

    fn config(&self, server_cert_b64: &str) -> Result<Arc<rustls::ClientConfig>, String> {
        let der = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(server_cert_b64)
            .map_err(|e| format!("server certificate in the handshake line: {e}"))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = Arc::new(PinnedServer {
            expected: der,
            provider: provider.clone(),
        });
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(
                vec![self.cert.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone())),
            )
            .map_err(|e| e.to_string())?;
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(cfg))
    }
}

/// Accepts exactly the server certificate the handshake line announced.
#[derive(Debug)]
struct PinnedServer {
    expected: Vec<u8>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.expected.as_slice() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            m,
            c,
            d,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            m,
            c,
            d,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The HTTP/2 client preface and an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// Sends the HTTP/2 preface and reads the server's first frame header, which must be SETTINGS.
fn first_h2_frame(io: &mut (impl Read + Write)) -> Result<(), String> {
    io.write_all(H2_PREFACE)
        .map_err(|e| format!("writing the HTTP/2 preface: {e}"))?;
    io.flush().map_err(|e| e.to_string())?;
    let mut header = [0u8; 9];
    io.read_exact(&mut header)
        .map_err(|e| format!("reading the server's first HTTP/2 frame: {e}"))?;
    if header[3] != 0x4 {
        return Err(format!(
            "the server's first HTTP/2 frame is type {}, not SETTINGS",
            header[3]
        ));
    }
    Ok(())
}

/// One spawn: the times to the first stdout line and to the server's first HTTP/2 frame,
/// after checking the line is a go-plugin handshake (with a certificate exactly when AutoMTLS
/// is on).
fn handshake_once(
    bin: &PathBuf,
    tls: Option<&TerraformLikeClient>,
) -> Result<(Duration, Duration), String> {
    let mut cmd = Command::new(bin);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env_remove("TF_LOG")
        .env_remove("TF_LOG_PROVIDER")
        .env_remove("PLUGIN_CLIENT_CERT");
    if let Some(client) = tls {
        cmd.env("PLUGIN_CLIENT_CERT", &client.pem);
    }
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot spawn {}: {e}", bin.display()))?;
    let result = (|| {
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .map_err(|e| format!("reading the handshake line: {e}"))?;
        let line_time = start.elapsed();
        let fields: Vec<&str> = line.trim_end().split('|').collect();
        let ok = fields.len() == 6
            && fields[0] == "1"
            && fields[1] == "5"
            && fields[2] == "tcp"
            && fields[4] == "grpc"
            && (fields[5].is_empty() == tls.is_none());
        if !ok {
            return Err(format!("unexpected handshake line {line:?}"));
        }
        let mut tcp = TcpStream::connect(fields[3])
            .map_err(|e| format!("connecting to {}: {e}", fields[3]))?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        match tls {
            Some(client) => {
                let cfg = client.config(fields[5])?;
                let mut conn = rustls::ClientConnection::new(
                    cfg,
                    ServerName::try_from("localhost").expect("name"),
                )
                .map_err(|e| e.to_string())?;
                first_h2_frame(&mut rustls::Stream::new(&mut conn, &mut tcp))?;
            }
            None => first_h2_frame(&mut tcp)?,
        }
        Ok((line_time, start.elapsed()))
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn handshake_series(
    bin: &PathBuf,
    tls: Option<&TerraformLikeClient>,
    n: usize,
) -> Result<(Series, Series), String> {
    // Two unmeasured runs: page cache, dynamic loader, and this process's own TLS stack warm.
    for _ in 0..2 {
        handshake_once(bin, tls)?;
    }
    let (mut line, mut ready) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let (l, r) = handshake_once(bin, tls)?;
        line.push(l);
        ready.push(r);
    }
    Ok((Series(line), Series(ready)))
}

// ---------------------------------------------------------------------------------------------
// 2. Codec throughput

/// A state-like type: an object with a list of a few thousand nested objects.
fn state_type() -> Type {
    let disk = Type::object([
        ("name", Type::String),
        ("size_gb", Type::Number),
        ("encrypted", Type::Bool),
    ]);
    let item = Type::object([
        ("id", Type::String),
        ("display_name", Type::String),
        ("ocpus", Type::Number),
        ("memory_gb", Type::Number),
        ("big", Type::Number),
        ("ratio", Type::Number),
        ("enabled", Type::Bool),
        ("description", Type::String),
        ("tags", Type::map(Type::String)),
        ("disks", Type::list(disk)),
        ("zones", Type::set(Type::String)),
    ]);
    Type::object([
        ("id", Type::String),
        ("region", Type::String),
        ("generation", Type::Number),
        ("items", Type::list(item)),
    ])
}

fn state_value(items: usize) -> Value {
    let big = Number::from_str("123456789012345678901234567890.123456789").expect("big number");
    let list = (0..items)
        .map(|i| {
            let tags: BTreeMap<String, Value> = (0..4)
                .map(|t| {
                    (
                        format!("tag-{t}"),
                        Value::string(format!("value-{i}-{t}-lorem-ipsum")),
                    )
                })
                .collect();
            let disks = (0..2)
                .map(|d| {
                    Value::object([
                        ("name", Value::string(format!("disk-{i}-{d}"))),
                        ("size_gb", Value::int(50 + d)),
                        ("encrypted", Value::Bool(d % 2 == 0)),
                    ])
                })
                .collect();
            Value::object([
                (
                    "id",
                    Value::string(format!("ocid1.instance.oc1.eu-frankfurt-1.{i:032x}")),
                ),
                ("display_name", Value::string(format!("worker-{i}"))),
                ("ocpus", Value::int((i % 4) as i64 + 1)),
                (
                    "memory_gb",
                    Value::float(6.0 * ((i % 4) as f64 + 1.0) + 0.5),
                ),
                (
                    "big",
                    if i % 3 == 0 {
                        Value::Number(big.clone())
                    } else {
                        Value::int(i as i64 * 1_000_000_007)
                    },
                ),
                ("ratio", Value::float(i as f64 / 7.0)),
                ("enabled", Value::Bool(i % 2 == 0)),
                (
                    "description",
                    if i % 5 == 0 {
                        Value::Null
                    } else {
                        Value::string("An Ampere A1 worker node inside the Always Free allowance.")
                    },
                ),
                ("tags", Value::Map(tags)),
                ("disks", Value::List(disks)),
                (
                    "zones",
                    Value::Set(vec![
                        Value::string("AD-1"),
                        Value::string(format!("AD-{}", i % 3 + 2)),
                    ]),
                ),
            ])
        })
        .collect();
    Value::object([
        ("id", Value::string("freetier-bench")),
        ("region", Value::string("eu-frankfurt-1")),
        ("generation", Value::int(42)),
        ("items", Value::List(list)),
    ])
}

fn time_n<T>(n: usize, mut f: impl FnMut() -> T) -> Series {
    black_box(f()); // warm-up
    Series(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                black_box(f());
                t.elapsed()
            })
            .collect(),
    )
}

/// Prints the full line and returns the short one for the summary.
fn throughput_line(label: &str, bytes: usize, s: &Series) -> String {
    let mbps = |d: Duration| bytes as f64 / 1e6 / d.as_secs_f64();
    println!(
        "{label:<16} {bytes:>9} B   median {:>7.1} MB/s ({:>6.2} ms)   best {:>7.1} MB/s ({:>6.2} ms)   worst {:>7.1} MB/s   (n={})",
        mbps(s.median()),
        ms(s.median()),
        mbps(s.min()),
        ms(s.min()),
        mbps(s.max()),
        s.n()
    );
    format!(
        "{label:<19} median {:>7.1} MB/s  (best {:.1}, worst {:.1}, {bytes} B, n={})",
        mbps(s.median()),
        mbps(s.min()),
        mbps(s.max()),
        s.n()
    )
}

fn codec_bench(n: usize) -> Result<Vec<String>, String> {
    let ty = state_type();
    // Grow the item count until the msgpack form is about 1 MB.
    let mut items = 2000;
    let (value, packed) = loop {
        let v = state_value(items);
        let b = msgpack::encode(&v, &ty).map_err(|e| format!("msgpack encode: {e}"))?;
        if b.len() >= 1_000_000 || items > 100_000 {
            break (v, b);
        }
        items = items * 1_050_000 / b.len().max(1) + 1;
    };
    let json_bytes =
        serde_json::to_vec(&json::encode(&value, &ty).map_err(|e| format!("json encode: {e}"))?)
            .map_err(|e| e.to_string())?;

    // Sanity, not speed: both codecs round-trip the value.
    if msgpack::decode(&packed, &ty).map_err(|e| format!("msgpack decode: {e}"))? != value {
        return Err("msgpack round trip changed the value".into());
    }
    if json::decode_bytes(&json_bytes, &ty).map_err(|e| format!("json decode: {e}"))? != value {
        return Err("JSON round trip changed the value".into());
    }
    println!("value: object with a list of {items} objects (strings, small/float/30-digit numbers, bools, nulls, maps, lists, sets)");
    println!(
        "msgpack form {} bytes, JSON form {} bytes",
        packed.len(),
        json_bytes.len()
    );

    let enc = time_n(n, || msgpack::encode(&value, &ty).expect("encode"));
    let dec = time_n(n, || msgpack::decode(&packed, &ty).expect("decode"));
    let jdec = time_n(n, || {
        json::decode_bytes(&json_bytes, &ty).expect("json decode")
    });
    Ok(vec![
        throughput_line("msgpack encode", packed.len(), &enc),
        throughput_line("msgpack decode", packed.len(), &dec),
        throughput_line("json decode", json_bytes.len(), &jdec),
    ])
}
