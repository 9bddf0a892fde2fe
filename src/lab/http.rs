//! HTTP plumbing for the lab's servers: the TLS accept loop (HTTP/1.1 like pveproxy),
//! request parameters (query string, form or JSON body), `multipart/form-data`, and response
//! builders with a custom reason phrase (pveproxy puts its message in the status line).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::net::CancelIo;
use super::LabInner;

/// A response body.
pub(crate) type Resp = Response<Full<Bytes>>;

/// Largest request body the lab reads (uploads included).
pub(crate) const MAX_BODY: usize = 256 * 1024 * 1024;

/// A collected request.
pub(crate) struct Req {
    pub(crate) method: hyper::Method,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) headers: hyper::HeaderMap,
    pub(crate) body: Bytes,
}

/// What a handler wants done with the connection.
pub(crate) enum Reply {
    Send(Resp),
    /// Close the connection without answering (a `drop` fault).
    Drop,
}

/// A response with `status`, reason phrase `reason`, and a JSON body (when given).
pub(crate) fn response(status: u16, reason: Option<&str>, body: Option<String>) -> Resp {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut b = Response::builder().status(code);
    if body.is_some() {
        b = b.header("content-type", "application/json;charset=UTF-8");
    }
    b = b
        .header("cache-control", "max-age=0")
        .header("pragma", "no-cache");
    let mut r = b
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())));
    if let Some(reason) = reason {
        // pveproxy keeps only the first line of the message (AnyEvent.pm `response`).
        let first = reason.lines().next().unwrap_or("").to_string();
        if let Ok(rp) = hyper::ext::ReasonPhrase::try_from(first) {
            r.extensions_mut().insert(rp);
        }
    }
    r
}

/// Serves HTTP/1.1 on `listener`, over TLS when `tls` is given, until the lab stops.
/// `token` picks the cancellation token each new connection watches.
pub(crate) async fn serve<H, F>(
    lab: Arc<LabInner>,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    token: impl Fn() -> Option<CancellationToken> + Send + 'static,
    handler: H,
) where
    H: Fn(Req, CancellationToken) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = lab.cancel.cancelled() => break,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let Some(conn) = token() else {
            // The host is down: close at once.
            drop(stream);
            continue;
        };
        let conn = conn.child_token();
        let acceptor = acceptor.clone();
        let handler = handler.clone();
        lab.tracker.spawn(async move {
            let io = CancelIo::new(stream, conn.clone());
            match acceptor {
                Some(a) => {
                    let tls = tokio::select! {
                        t = a.accept(io) => t,
                        _ = conn.cancelled() => return,
                    };
                    if let Ok(tls) = tls {
                        serve_conn(TokioIo::new(tls), conn, handler).await;
                    }
                }
                None => serve_conn(TokioIo::new(io), conn, handler).await,
            }
        });
    }
}

async fn serve_conn<I, H, F>(io: I, conn: CancellationToken, handler: H)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    H: Fn(Req, CancellationToken) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let conn2 = conn.clone();
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let handler = handler.clone();
        let conn = conn2.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = match Limited::new(body, MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    return Ok::<_, std::io::Error>(response(
                        413,
                        Some("Request Entity Too Large"),
                        None,
                    ));
                }
            };
            let req = Req {
                method: parts.method,
                path: parts.uri.path().to_string(),
                query: parts.uri.query().unwrap_or("").to_string(),
                headers: parts.headers,
                body,
            };
            match handler(req, conn.clone()).await {
                Reply::Send(r) => Ok(r),
                Reply::Drop => {
                    conn.cancel();
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "dropped by a lab fault",
                    ))
                }
            }
        }
    });
    let c = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, svc);
    tokio::select! {
        _ = c => {}
        _ = conn.cancelled() => {}
    }
}

/// A rustls config for one node whose certificate can change (cluster join).
pub(crate) fn tls_config(lab: Arc<LabInner>, node: usize) -> Option<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(NodeCert { lab, node }));
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Some(Arc::new(cfg))
}

#[derive(Debug)]
struct NodeCert {
    lab: Arc<LabInner>,
    node: usize,
}

impl std::fmt::Debug for LabInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabInner")
            .field("base", &self.base)
            .finish()
    }
}

impl rustls::server::ResolvesServerCert for NodeCert {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.lab
            .hosts
            .get(self.node)?
            .tls_identity()
            .map(|t| t.certified.clone())
    }
}

/// An HTTP date (RFC 9110 IMF-fixdate): `Thu, 21 Aug 2026 12:00:00 GMT`.
pub(crate) fn http_date(t: std::time::SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let Ok(dt) = time::OffsetDateTime::from_unix_timestamp(secs as i64) else {
        return String::new();
    };
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[((secs / 86_400) % 7) as usize],
        dt.day(),
        MONTHS[usize::from(u8::from(dt.month())) - 1],
        dt.year(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decoding; `+` is a space in forms.
pub(crate) fn url_decode(s: &str, plus_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

/// `a=1&b=2` into a map (later keys win).
pub(crate) fn parse_form(s: &str, into: &mut BTreeMap<String, String>) {
    for pair in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        into.insert(url_decode(k, true), url_decode(v, true));
    }
}

/// Request parameters from the query string and a form or JSON body.
pub(crate) fn params(req: &Req) -> Result<BTreeMap<String, String>, String> {
    let mut p = BTreeMap::new();
    parse_form(&req.query, &mut p);
    if req.body.is_empty() {
        return Ok(p);
    }
    let ct = req
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ct.starts_with("application/json") {
        let v: serde_json::Value =
            serde_json::from_slice(&req.body).map_err(|e| format!("malformed JSON string: {e}"))?;
        let obj = v.as_object().ok_or("JSON body must be an object")?;
        for (k, v) in obj {
            let s = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                other => other.to_string(),
            };
            p.insert(k.clone(), s);
        }
    } else if ct.starts_with("multipart/form-data") {
        // Upload: handled by the caller with `multipart`.
    } else {
        parse_form(&String::from_utf8_lossy(&req.body), &mut p);
    }
    Ok(p)
}

/// One `multipart/form-data` file part.
pub(crate) struct FilePart {
    pub(crate) field: String,
    pub(crate) filename: String,
    pub(crate) data: Bytes,
}

/// Parses a `multipart/form-data` body into fields and file parts.
pub(crate) fn multipart(req: &Req) -> Result<(BTreeMap<String, String>, Vec<FilePart>), String> {
    let ct = req
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = ct
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_string())
        .ok_or("multipart body without boundary")?;
    let delim = format!("--{boundary}");
    let body = &req.body[..];
    let mut fields = BTreeMap::new();
    let mut files = Vec::new();
    let positions: Vec<usize> = find_all(body, delim.as_bytes());
    if positions.is_empty() {
        return Err("multipart body without parts".into());
    }
    for w in positions.windows(2) {
        let mut start = w[0] + delim.len();
        if body.get(start..start + 2) == Some(b"\r\n") {
            start += 2;
        }
        let mut end = w[1];
        if end >= 2 && body.get(end - 2..end) == Some(b"\r\n") {
            end -= 2;
        }
        if start > end {
            continue;
        }
        let part = &body[start..end];
        let Some(hdr_end) = find_all(part, b"\r\n\r\n").first().copied() else {
            continue;
        };
        let headers = String::from_utf8_lossy(&part[..hdr_end]).to_string();
        let data = Bytes::copy_from_slice(&part[hdr_end + 4..]);
        let mut name = None;
        let mut filename = None;
        for line in headers.lines() {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("content-disposition:") {
                for item in line.split(';').map(str::trim) {
                    if let Some(v) = item.strip_prefix("name=") {
                        name = Some(v.trim_matches('"').to_string());
                    } else if let Some(v) = item.strip_prefix("filename=") {
                        filename = Some(v.trim_matches('"').to_string());
                    }
                }
            }
        }
        let Some(name) = name else { continue };
        match filename {
            Some(f) => files.push(FilePart {
                field: name,
                filename: f,
                data,
            }),
            None => {
                fields.insert(name, String::from_utf8_lossy(&data).to_string());
            }
        }
    }
    Ok((fields, files))
}

fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    if needle.is_empty() || hay.len() < needle.len() {
        return out;
    }
    let first = needle[0];
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        if hay[i] == first && &hay[i..i + needle.len()] == needle {
            out.push(i);
            i += needle.len();
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn url_and_form_decoding() {
        let cases = [
            ("plain", "abc", "abc"),
            ("escape", "a%3Ab", "a:b"),
            ("plus", "a+b", "a b"),
            ("bad escape", "a%zz", "a%zz"),
            ("trailing %", "a%", "a%"),
        ];
        for (name, input, want) in cases {
            assert_eq!(url_decode(input, true), want, "{name}");
        }
        let mut m = BTreeMap::new();
        parse_form("username=root%40pam&password=a%2Bb&x", &mut m);
        assert_eq!(m.get("username").map(String::as_str), Some("root@pam"));
        assert_eq!(m.get("password").map(String::as_str), Some("a+b"));
        assert_eq!(m.get("x").map(String::as_str), Some(""));
    }
}
