//! The request plumbing under [`Client`]: one HTTPS exchange with the token header, bounded
//! by the call's timeout and cancelled by its token; `{"data": …}` decoding; URL, form and
//! multipart encoding.

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde::de::DeserializeOwned;

use super::{lenient, tls, Call, Client, Error, BODY_EXCERPT};

/// A request body.
pub(super) enum Body {
    None,
    Form(Vec<(String, String)>),
    Multipart { boundary: String, bytes: Vec<u8> },
}

impl Client {
    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        call: &Call,
    ) -> Result<T, Error> {
        self.send(Method::GET, path, query, Body::None, call).await
    }

    pub(super) async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Body,
        call: &Call,
    ) -> Result<T, Error> {
        self.send_full(method, path, query, body, call)
            .await
            .map(|(data, _)| data)
    }

    /// One request: its `data` decoded as `T`, and the `total` some listings carry beside it.
    pub(super) async fn send_full<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Body,
        call: &Call,
    ) -> Result<(T, Option<u64>), Error> {
        let what = format!("{method} {path}");
        let mut url = format!("{}{path}", self.base);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&form_encode(query.iter().map(|(k, v)| (*k, v.as_str()))));
        }
        let mut auth =
            HeaderValue::from_str(&format!("PVEAPIToken={}={}", self.token_id, self.secret.0))
                .map_err(|_| {
                    Error::Config("the token id or secret is not a valid header".into())
                })?;
        auth.set_sensitive(true);
        let mut req = self
            .http
            .request(method, &url)
            .header(AUTHORIZATION, auth)
            .header(reqwest::header::ACCEPT, "application/json");
        req = match body {
            Body::None => req,
            Body::Form(fields) => req
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form_encode(
                    fields.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                )),
            Body::Multipart { boundary, bytes } => req
                .header(
                    CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(bytes),
        };
        tracing::debug!(call = %what, "proxmox ve api call");
        let exchange = async {
            let resp = req.send().await.map_err(|e| self.transport_error(&e))?;
            let status = resp.status().as_u16();
            let reason = resp
                .extensions()
                .get::<hyper::ext::ReasonPhrase>()
                .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
                .or_else(|| resp.status().canonical_reason().map(str::to_string))
                .unwrap_or_default();
            let bytes = resp.bytes().await.map_err(|e| self.transport_error(&e))?;
            Ok::<_, Error>((status, reason, bytes))
        };
        let (status, reason, bytes) = tokio::select! {
            biased;
            _ = call.cancel.cancelled() => return Err(Error::Cancelled { what }),
            r = tokio::time::timeout(call.timeout, exchange) => match r {
                Ok(r) => r?,
                Err(_) => return Err(Error::Timeout { what, after: call.timeout }),
            },
        };
        if !(200..300).contains(&status) {
            return Err(Error::from_answer(
                what,
                &self.token_id,
                status,
                &reason,
                &bytes,
            ));
        }
        decode(&what, &bytes)
    }

    fn transport_error(&self, e: &reqwest::Error) -> Error {
        if let Some(presented) = tls::mismatch_in(e) {
            return Error::CertificateMismatch {
                url: self.base.clone(),
                expected: self.fingerprint.to_string(),
                presented: presented.to_string(),
            };
        }
        Error::Connect {
            url: self.base.clone(),
            detail: chain(e),
        }
    }
}

/// Decodes `{"data": T, "total": n}`.
pub(super) fn decode<T: DeserializeOwned>(
    what: &str,
    bytes: &[u8],
) -> Result<(T, Option<u64>), Error> {
    #[derive(serde::Deserialize)]
    struct Envelope<T> {
        data: T,
        #[serde(default, deserialize_with = "lenient::option")]
        total: Option<u64>,
    }
    serde_json::from_slice::<Envelope<T>>(bytes)
        .map(|e| (e.data, e.total))
        .map_err(|e| {
            let text = String::from_utf8_lossy(bytes);
            let excerpt: String = text.chars().take(BODY_EXCERPT).collect();
            Error::Decode {
                what: what.to_string(),
                detail: format!("{e}; the answer began: {excerpt}"),
            }
        })
}

/// `https://HOST:PORT/api2/json` from `https://HOST:PORT`, with or without the API path.
pub(super) fn normalize_base(base_url: &str) -> Result<String, Error> {
    let trimmed = base_url.trim().trim_end_matches('/');
    let rest = trimmed.strip_prefix("https://").ok_or_else(|| {
        Error::Config(format!(
            "base url '{base_url}' must start with https:// (the API is https on port 8006)"
        ))
    })?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err(Error::Config(format!("base url '{base_url}' has no host")));
    }
    let path = &rest[host.len()..];
    match path {
        "" => Ok(format!("https://{host}/api2/json")),
        "/api2/json" => Ok(format!("https://{host}/api2/json")),
        other => Err(Error::Config(format!(
            "base url '{base_url}' has the path '{other}'; give https://HOST:8006 or \
             https://HOST:8006/api2/json"
        ))),
    }
}

/// An error and its causes, joined, without repeats (hyper and reqwest often repeat theirs).
pub(super) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for err in tls::causes(e) {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// Percent-encodes one path segment (a node name, a UPID with its `:` and `!`).
pub(super) fn seg(s: &str) -> String {
    percent(s)
}

fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `application/x-www-form-urlencoded`, as PVE's `parse_query` reads it.
pub(super) fn form_encode<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .map(|(k, v)| format!("{}={}", percent(k), percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A `multipart/form-data` body: the text `fields`, then the file as field `file_field`.
/// Returns the boundary and the bytes.
pub(super) fn multipart(
    fields: &[(&str, String)],
    file_field: &str,
    filename: &str,
    data: &[u8],
) -> (String, Vec<u8>) {
    let mut random = [0u8; 12];
    // A fixed boundary would only fail if the data contained it; random makes that moot.
    let _ = aws_lc_rs::rand::fill(&mut random);
    let boundary = format!(
        "----freetier{}",
        random
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let quoted = |s: &str| {
        s.chars()
            .filter(|c| !c.is_control())
            .map(|c| if c == '"' { '\'' } else { c })
            .collect::<String>()
    };
    let mut body = Vec::with_capacity(data.len() + 512);
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{value}\r\n",
                quoted(name)
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n",
            quoted(file_field),
            quoted(filename)
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_normalized_to_the_api_root() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            (
                "host and port",
                "https://10.0.0.1:8006",
                Some("https://10.0.0.1:8006/api2/json"),
            ),
            (
                "trailing slash",
                "https://pve:8006/",
                Some("https://pve:8006/api2/json"),
            ),
            (
                "api root",
                "https://pve:8006/api2/json/",
                Some("https://pve:8006/api2/json"),
            ),
            ("plain http", "http://pve:8006", None),
            ("other path", "https://pve:8006/foo", None),
            ("no host", "https://", None),
        ];
        for (name, input, want) in cases {
            assert_eq!(normalize_base(input).ok().as_deref(), *want, "{name}");
        }
    }

    #[test]
    fn forms_and_paths_are_percent_encoded() {
        assert_eq!(
            seg("UPID:pve1:0001:02:03:qmstart:100:root@pam!tf:"),
            "UPID%3Apve1%3A0001%3A02%3A03%3Aqmstart%3A100%3Aroot%40pam%21tf%3A"
        );
        let pairs = [("net0", "virtio,bridge=vmbr0"), ("name", "a b")];
        assert_eq!(
            form_encode(pairs.iter().copied()),
            "net0=virtio%2Cbridge%3Dvmbr0&name=a%20b"
        );
    }

    #[test]
    fn multipart_bodies_name_the_file_field() {
        let (boundary, body) =
            multipart(&[("content", "iso".into())], "filename", "a.iso", b"DATA");
        let text = String::from_utf8(body).expect("utf8");
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.contains("name=\"content\"\r\n\r\niso\r\n"));
        assert!(text.contains("name=\"filename\"; filename=\"a.iso\""));
        assert!(text.ends_with(&format!("DATA\r\n--{boundary}--\r\n")));
    }
}
