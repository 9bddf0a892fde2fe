//! OCI request signatures, version 1, as Oracle's "Request Signatures" page specifies them
//! (<https://docs.oracle.com/en-us/iaas/Content/API/Concepts/signingrequests.htm>), on top of
//! draft-cavage-http-signatures-08:
//!
//! - The `Authorization` header, scheme `Signature`, with `version="1"`, `keyId` =
//!   `TENANCY_OCID/USER_OCID/KEY_FINGERPRINT`, `algorithm="rsa-sha256"`, `headers` (the signed
//!   header names, in signing order, lowercase, space-separated) and `signature` (base64 of
//!   RSASSA-PKCS1-v1_5 / SHA-256 over the signing string).
//! - Signed headers: `date (request-target) host` for every request; POST and PUT add
//!   `content-length content-type x-content-sha256`, the last being base64 of the body's
//!   SHA-256 (of the empty string for an empty body). The same order as Oracle's Go SDK
//!   (`common/http_signer.go`, `defaultGenericHeaders` and `defaultBodyHeaders`).
//! - Except Object Storage PUTs (`PutObject`, `UploadPart`): the page's "Special Instructions
//!   for Object Storage PUT" let them sign only `date (request-target) host`, so a large body
//!   need not be hashed before it is sent ([`Signer::sign_unsigned_body`]; oracle/oci-go-sdk's
//!   `ObjectStorageClient.PutObject` signs with `common.RequestSignerExcludeBody`).
//! - The signing string is one `name: value` line per signed header, joined by `\n` with no
//!   trailing newline; `(request-target)` is the lowercase method, a space, and the path with
//!   its query string exactly as sent.
//! - `date` is an RFC 7231 date; the service refuses one more than 5 minutes off its clock
//!   (the page's "Client Clock Skew" note).

use base64::Engine as _;

use super::key::PrivateKey;

/// The signature version this signer produces.
pub const VERSION: &str = "1";
/// The only algorithm OCI accepts.
pub const ALGORITHM: &str = "rsa-sha256";

/// What is signed of one request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The `Host` header as sent: the host, and `:PORT` for a port other than 443.
    pub host: &'a str,
    /// The path and query exactly as sent, e.g. `/20190111/budgets?compartmentId=…`.
    pub target: &'a str,
    /// The `Date` header, e.g. `Thu, 05 Jan 2014 21:31:40 GMT`.
    pub date: &'a str,
    /// The body and its content type (POST and PUT only).
    pub body: Option<(&'a str, &'a [u8])>,
}

/// Whether `method` signs the body headers too.
pub fn signs_body(method: &str) -> bool {
    method.eq_ignore_ascii_case("POST") || method.eq_ignore_ascii_case("PUT")
}

/// Base64 of the SHA-256 of `body`: the `x-content-sha256` header.
pub fn content_sha256(body: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body);
    base64::engine::general_purpose::STANDARD.encode(d.as_ref())
}

/// The headers to send besides `Authorization` (name, value), in signing order, and the
/// signing string itself.
pub fn signing_parts(req: &Request<'_>) -> (Vec<(&'static str, String)>, String) {
    signing_parts_with(req, signs_body(req.method))
}

fn signing_parts_with(req: &Request<'_>, with_body: bool) -> (Vec<(&'static str, String)>, String) {
    let mut signed: Vec<(&'static str, String)> = vec![
        ("date", req.date.to_string()),
        (
            "(request-target)",
            format!("{} {}", req.method.to_ascii_lowercase(), req.target),
        ),
        ("host", req.host.to_string()),
    ];
    if with_body {
        let (content_type, bytes) = req.body.unwrap_or(("application/json", &[]));
        signed.push(("content-length", bytes.len().to_string()));
        signed.push(("content-type", content_type.to_string()));
        signed.push(("x-content-sha256", content_sha256(bytes)));
    }
    let text = signed
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("\n");
    (signed, text)
}

/// Signs requests with one API key.
#[derive(Debug, Clone)]
pub struct Signer {
    key_id: String,
    key: PrivateKey,
}

impl Signer {
    /// A signer for `tenancy`'s `user`, whose uploaded key has `fingerprint`.
    pub fn new(tenancy: &str, user: &str, fingerprint: &str, key: PrivateKey) -> Signer {
        Signer {
            key_id: format!("{tenancy}/{user}/{fingerprint}"),
            key,
        }
    }

    /// `TENANCY/USER/FINGERPRINT`.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The headers to add to `req`: each signed header that is not the request line (date,
    /// host, and for POST/PUT the body headers), then `authorization`.
    pub fn sign(&self, req: &Request<'_>) -> Result<Vec<(&'static str, String)>, String> {
        self.sign_with(req, signs_body(req.method))
    }

    /// The headers for an Object Storage PUT: `date (request-target) host` signed, the body
    /// not (its headers are the sender's to set).
    pub fn sign_unsigned_body(
        &self,
        req: &Request<'_>,
    ) -> Result<Vec<(&'static str, String)>, String> {
        self.sign_with(req, false)
    }

    fn sign_with(
        &self,
        req: &Request<'_>,
        with_body: bool,
    ) -> Result<Vec<(&'static str, String)>, String> {
        let (signed, text) = signing_parts_with(req, with_body);
        let signature = self.key.sign_b64(text.as_bytes())?;
        let names: Vec<&str> = signed.iter().map(|(k, _)| *k).collect();
        let authorization = format!(
            "Signature version=\"{VERSION}\",keyId=\"{}\",algorithm=\"{ALGORITHM}\",headers=\"{}\",signature=\"{signature}\"",
            self.key_id,
            names.join(" ")
        );
        let mut out: Vec<(&'static str, String)> = signed
            .into_iter()
            .filter(|(k, _)| *k != "(request-target)")
            .collect();
        out.push(("authorization", authorization));
        Ok(out)
    }
}

/// An HTTP date (RFC 7231 IMF-fixdate) for `t`.
pub fn http_date(t: time::OffsetDateTime) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[usize::from(t.weekday().number_days_from_monday())],
        t.day(),
        MONTHS[usize::from(u8::from(t.month())) - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    // Oracle's published test values: the sample key, OCIDs, fingerprint, date, requests and
    // the signatures they must produce, as listed on the Request Signatures page ("Test
    // Values") and checked by oracle/oci-go-sdk `common/http_signer_test.go`. The key is
    // 1024-bit, which aws-lc-rs will not sign with, so the known answers are checked the
    // other way round: the signing string must be Oracle's byte for byte, and Oracle's
    // signature must verify over it with the key's public half.
    pub(crate) const ORACLE_TEST_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----
MIICXgIBAAKBgQDCFENGw33yGihy92pDjZQhl0C36rPJj+CvfSC8+q28hxA161QF
NUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6Z4UMR7EOcpfdUE9Hf3m/hs+F
UR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJwoYi+1hqp1fIekaxsyQIDAQAB
AoGBAJR8ZkCUvx5kzv+utdl7T5MnordT1TvoXXJGXK7ZZ+UuvMNUCdN2QPc4sBiA
QWvLw1cSKt5DsKZ8UETpYPy8pPYnnDEz2dDYiaew9+xEpubyeW2oH4Zx71wqBtOK
kqwrXa/pzdpiucRRjk6vE6YY7EBBs/g7uanVpGibOVAEsqH1AkEA7DkjVH28WDUg
f1nqvfn2Kj6CT7nIcE3jGJsZZ7zlZmBmHFDONMLUrXR/Zm3pR5m0tCmBqa5RK95u
412jt1dPIwJBANJT3v8pnkth48bQo/fKel6uEYyboRtA5/uHuHkZ6FQF7OUkGogc
mSJluOdc5t6hI1VsLn0QZEjQZMEOWr+wKSMCQQCC4kXJEsHAve77oP6HtG/IiEn7
kpyUXRNvFsDE0czpJJBvL/aRFUJxuRK91jhjC68sA7NsKMGg5OXb5I5Jj36xAkEA
gIT7aFOYBFwGgQAQkWNKLvySgKbAZRTeLBacpHMuQdl1DfdntvAyqpAZ0lY0RKmW
G6aFKaqQfOXKCyWoUiVknQJAXrlgySFci/2ueKlIE1QqIiLSZ8V8OlpFLRnb1pzI
7U1yQXnTAEFYM560yJlzUpOb1V4cScGd365tiSMvxLOvTA==
-----END RSA PRIVATE KEY-----";
    const DATE: &str = "Thu, 05 Jan 2014 21:31:40 GMT";
    const HOST: &str = "iaas.us-phoenix-1.oraclecloud.com";
    const GET_TARGET: &str = "/20160918/instances?availabilityDomain=Pjwf%3A%20PHX-AD-1&compartmentId=ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa&displayName=TeamXInstances&volumeId=ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q";
    const GET_SIGNATURE: &str = "GBas7grhyrhSKHP6AVIj/h5/Vp8bd/peM79H9Wv8kjoaCivujVXlpbKLjMPeDUhxkFIWtTtLBj3sUzaFj34XE6YZAHc9r2DmE4pMwOAy/kiITcZxa1oHPOeRheC0jP2dqbTll8fmTZVwKZOKHYPtrLJIJQHJjNvxFWeHQjMaR7M=";
    const POST_BODY: &str = "{\n    \"compartmentId\": \"ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa\",\n    \"instanceId\": \"ocid1.instance.oc1.phx.abuw4ljrlsfiqw6vzzxb43vyypt4pkodawglp3wqxjqofakrwvou52gb6s5a\",\n    \"volumeId\": \"ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q\"\n}";
    const POST_SIGNATURE: &str = "Mje8vIDPlwIHmD/cTDwRxE7HaAvBg16JnVcsuqaNRim23fFPgQfLoOOxae6WqKb1uPjYEl0qIdazWaBy/Ml8DRhqlocMwoSXv0fbukP8J5N80LCmzT/FFBvIvTB91XuXI3hYfP9Zt1l7S6ieVadHUfqBedWH0itrtPJBgKmrWso=";

    /// The modulus and exponent of a PKCS#1 `RSAPrivateKey` (a minimal DER walk: the key's
    /// first three INTEGERs are version, n and e).
    fn public_components(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
        fn item(d: &[u8]) -> (u8, &[u8], &[u8]) {
            let tag = d[0];
            let (len, off) = if d[1] & 0x80 == 0 {
                (usize::from(d[1]), 2)
            } else {
                let n = usize::from(d[1] & 0x7f);
                let len = d[2..2 + n]
                    .iter()
                    .fold(0usize, |a, b| (a << 8) | usize::from(*b));
                (len, 2 + n)
            };
            (tag, &d[off..off + len], &d[off + len..])
        }
        let (tag, seq, _) = item(der);
        assert_eq!(tag, 0x30);
        let (_, _version, rest) = item(seq);
        let (_, n, rest) = item(rest);
        let (_, e, _) = item(rest);
        let strip = |v: &[u8]| v.iter().skip_while(|b| **b == 0).copied().collect();
        (strip(n), strip(e))
    }

    fn oracle_public_key() -> (Vec<u8>, Vec<u8>) {
        let b64: String = ORACLE_TEST_KEY
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64");
        public_components(&der)
    }

    fn verify_1024(message: &str, signature_b64: &str) -> bool {
        let (n, e) = oracle_public_key();
        let sig = base64::engine::general_purpose::STANDARD
            .decode(signature_b64)
            .expect("signature base64");
        aws_lc_rs::signature::RsaPublicKeyComponents { n: &n, e: &e }
            .verify(
                &aws_lc_rs::signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
                message.as_bytes(),
                &sig,
            )
            .is_ok()
    }

    #[test]
    fn get_signing_string_is_oracles_and_oracles_signature_verifies_over_it() {
        let req = Request {
            method: "GET",
            host: HOST,
            target: GET_TARGET,
            date: DATE,
            body: None,
        };
        let (headers, text) = signing_parts(&req);
        let want = format!("date: {DATE}\n(request-target): get {GET_TARGET}\nhost: {HOST}");
        assert_eq!(text, want);
        let names: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
        assert_eq!(names, ["date", "(request-target)", "host"]);
        assert!(verify_1024(&text, GET_SIGNATURE), "Oracle's GET signature");
        assert!(
            !verify_1024(&text, POST_SIGNATURE),
            "a wrong signature fails"
        );
    }

    #[test]
    fn post_signing_string_is_oracles_and_oracles_signature_verifies_over_it() {
        let req = Request {
            method: "POST",
            host: HOST,
            target: "/20160918/volumeAttachments",
            date: DATE,
            body: Some(("application/json", POST_BODY.as_bytes())),
        };
        let (_, text) = signing_parts(&req);
        assert_eq!(POST_BODY.len(), 316);
        let want = format!(
            "date: {DATE}\n(request-target): post /20160918/volumeAttachments\nhost: {HOST}\n\
             content-length: 316\ncontent-type: application/json\n\
             x-content-sha256: V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0="
        );
        assert_eq!(text, want);
        assert!(
            verify_1024(&text, POST_SIGNATURE),
            "Oracle's POST signature"
        );
    }

    #[test]
    fn an_empty_post_body_hashes_the_empty_string() {
        let req = Request {
            method: "POST",
            host: HOST,
            target: "/x",
            date: DATE,
            body: None,
        };
        let (headers, _) = signing_parts(&req);
        let sha = headers
            .iter()
            .find(|(k, _)| *k == "x-content-sha256")
            .map(|(_, v)| v.clone());
        assert_eq!(
            sha.as_deref(),
            Some("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
        );
    }

    #[test]
    fn signatures_round_trip_with_a_2048_bit_key() {
        let (pem, spki) = super::super::key::tests::pkcs8_pem();
        let key = PrivateKey::from_pem(&pem, None).expect("key");
        let fp = key.fingerprint().to_string();
        let signer = Signer::new("ocid1.tenancy.oc1..t", "ocid1.user.oc1..u", &fp, key);
        let req = Request {
            method: "POST",
            host: "usageapi.us-ashburn-1.oci.oraclecloud.com",
            target: "/20200107/usage",
            date: DATE,
            body: Some(("application/json", b"{}")),
        };
        let headers = signer.sign(&req).expect("sign");
        let names: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "date",
                "host",
                "content-length",
                "content-type",
                "x-content-sha256",
                "authorization"
            ]
        );
        let auth = &headers[5].1;
        let want_prefix = format!(
            "Signature version=\"1\",keyId=\"ocid1.tenancy.oc1..t/ocid1.user.oc1..u/{fp}\",algorithm=\"rsa-sha256\",headers=\"date (request-target) host content-length content-type x-content-sha256\",signature=\""
        );
        assert!(auth.starts_with(&want_prefix), "{auth}");
        let sig_b64 = auth[want_prefix.len()..].trim_end_matches('"');
        let sig = base64::engine::general_purpose::STANDARD
            .decode(sig_b64)
            .expect("b64");
        let (_, text) = signing_parts(&req);
        let pk = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            &spki,
        );
        assert!(pk.verify(text.as_bytes(), &sig).is_ok());
        assert!(pk.verify(b"tampered", &sig).is_err());
    }

    #[test]
    fn http_dates_are_rfc7231() {
        // RFC 7231's own example (section 7.1.1.1). Oracle's test date names the wrong weekday
        // (5 January 2014 was a Sunday), so it is not a formatting case.
        let t = time::OffsetDateTime::from_unix_timestamp(784_111_777).expect("time");
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
