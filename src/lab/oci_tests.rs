//! The lab's OCI endpoint, driven by a test client of its own (a minimal request signer on
//! aws-lc-rs and reqwest trusting only the lab's CA), never the product's OCI client: requests
//! and answers as Oracle's references give them, and the 401 for every way a signature can be
//! wrong.

use std::collections::BTreeMap;
use std::path::Path;

use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use serde_json::{json, Value};

use super::*;
use crate::lab::{Lab, LabConfig};

/// What the lab wrote for a client: the config's entries, the key, the CA.
struct Creds {
    entries: BTreeMap<String, String>,
    key: aws_lc_rs::rsa::KeyPair,
    url: String,
    http: reqwest::Client,
}

fn read_creds(lab: &Lab, dir: &Path) -> Creds {
    let cfg = std::fs::read_to_string(dir.join("oci/config")).expect("oci/config");
    let entries: BTreeMap<String, String> = cfg
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let pem = std::fs::read_to_string(&entries["key_file"]).expect("key file");
    let der = pem_body(&pem, "PRIVATE KEY").expect("pkcs8 pem");
    let key = aws_lc_rs::rsa::KeyPair::from_pkcs8(&der).expect("rsa key");
    let ca = std::fs::read(dir.join("oci/ca.pem")).expect("ca.pem");
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("ca")])
        .no_proxy()
        .build()
        .expect("client");
    let st = lab.state();
    let oci = st.oci.expect("lab.json describes the endpoint");
    Creds {
        entries,
        key,
        url: oci.url,
        http,
    }
}

/// How a test request is signed (each field can be made wrong on purpose).
struct Signing<'a> {
    key_id: String,
    date: String,
    headers: &'a [&'a str],
    key: &'a aws_lc_rs::rsa::KeyPair,
    body_sha_override: Option<String>,
}

fn sign(
    s: &Signing<'_>,
    method: &str,
    host: &str,
    target: &str,
    body: &[u8],
) -> Vec<(String, String)> {
    let sha = s.body_sha_override.clone().unwrap_or_else(|| {
        base64::engine::general_purpose::STANDARD
            .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body).as_ref())
    });
    let value = |h: &str| match h {
        "date" => s.date.clone(),
        "(request-target)" => format!("{} {target}", method.to_ascii_lowercase()),
        "host" => host.to_string(),
        "content-length" => body.len().to_string(),
        "content-type" => "application/json".into(),
        "x-content-sha256" => sha.clone(),
        _ => String::new(),
    };
    let text = s
        .headers
        .iter()
        .map(|h| format!("{h}: {}", value(h)))
        .collect::<Vec<_>>()
        .join("\n");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut sig = vec![0u8; s.key.public_modulus_len()];
    s.key
        .sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &rng,
            text.as_bytes(),
            &mut sig,
        )
        .expect("sign");
    let mut out = vec![
        ("date".to_string(), s.date.clone()),
        (
            "authorization".to_string(),
            format!(
                "Signature version=\"1\",keyId=\"{}\",algorithm=\"rsa-sha256\",headers=\"{}\",signature=\"{}\"",
                s.key_id,
                s.headers.join(" "),
                base64::engine::general_purpose::STANDARD.encode(sig)
            ),
        ),
    ];
    if s.headers.contains(&"x-content-sha256") {
        out.push(("content-type".into(), "application/json".into()));
        out.push(("x-content-sha256".into(), sha));
    }
    out
}

const GET_HEADERS: &[&str] = &["date", "(request-target)", "host"];
const POST_HEADERS: &[&str] = &[
    "date",
    "(request-target)",
    "host",
    "content-length",
    "content-type",
    "x-content-sha256",
];

impl Creds {
    fn key_id(&self) -> String {
        format!(
            "{}/{}/{}",
            self.entries["tenancy"], self.entries["user"], self.entries["fingerprint"]
        )
    }

    fn signing(&self, method: &str) -> Signing<'_> {
        Signing {
            key_id: self.key_id(),
            date: http::http_date(SystemTime::now()),
            headers: if method == "POST" {
                POST_HEADERS
            } else {
                GET_HEADERS
            },
            key: &self.key,
            body_sha_override: None,
        }
    }

    async fn call(&self, s: &Signing<'_>, method: &str, target: &str, body: &[u8]) -> (u16, Value) {
        let host = self.url.trim_start_matches("https://").to_string();
        let mut rb = self.http.request(
            reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
            format!("{}{target}", self.url),
        );
        for (k, v) in sign(s, method, &host, target, body) {
            rb = rb.header(k, v);
        }
        if matches!(method, "POST" | "PUT") {
            rb = rb.body(body.to_vec());
        }
        let resp = rb.send().await.expect("send");
        let status = resp.status().as_u16();
        assert!(
            resp.headers().contains_key("opc-request-id"),
            "every answer carries opc-request-id"
        );
        let v: Value = resp.json().await.expect("json body");
        (status, v)
    }

    async fn get(&self, target: &str) -> (u16, Value) {
        let s = self.signing("GET");
        self.call(&s, "GET", target, b"").await
    }
}

async fn lab_with_dir() -> (Lab, tempfile::TempDir, Creds) {
    let dir = tempfile::tempdir().expect("dir");
    let lab = Lab::start(LabConfig {
        state_dir: Some(dir.path().to_path_buf()),
        ..LabConfig::always_free()
    })
    .await
    .expect("lab");
    let creds = read_creds(&lab, dir.path());
    (lab, dir, creds)
}

fn month_start_and_tomorrow() -> (String, String) {
    let now = time::OffsetDateTime::now_utc();
    let first = now.date().replace_day(1).expect("day 1");
    let tomorrow = now.date().next_day().expect("tomorrow");
    (
        format!("{first}T00:00:00Z"),
        format!("{tomorrow}T00:00:00Z"),
    )
}

#[tokio::test]
async fn the_lab_writes_an_oci_cli_config_with_a_2048_bit_key() {
    let (lab, dir, creds) = lab_with_dir().await;
    for k in ["user", "fingerprint", "key_file", "tenancy", "region"] {
        assert!(creds.entries.contains_key(k), "config has {k}");
    }
    assert!(creds.entries["tenancy"].starts_with("ocid1.tenancy.oc1..aaaaaaaa"));
    assert!(creds.entries["user"].starts_with("ocid1.user.oc1..aaaaaaaa"));
    assert_eq!(creds.key.public_modulus_len() * 8, 2048);
    // The fingerprint is the MD5 of the DER public key, as the Console computes it.
    let spki = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(
        creds.key.public_key(),
    )
    .expect("spki");
    let md5: Vec<String> = md5::compute(spki.as_ref())
        .0
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(creds.entries["fingerprint"], md5.join(":"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&creds.entries["key_file"])
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "the private key is owner-only");
    // A restart keeps the key and the CA, so the config and the pin stay valid.
    let ca_before = std::fs::read(dir.path().join("oci/ca.pem")).expect("ca");
    lab.stop().await.expect("stop");
    let lab = Lab::start(LabConfig {
        state_dir: Some(dir.path().to_path_buf()),
        ..LabConfig::always_free()
    })
    .await
    .expect("lab again");
    let again = read_creds(&lab, dir.path());
    assert_eq!(again.entries["fingerprint"], creds.entries["fingerprint"]);
    assert_eq!(
        std::fs::read(dir.path().join("oci/ca.pem")).expect("ca"),
        ca_before
    );
    let (status, _) = again
        .get(&format!(
            "/20190111/budgets?compartmentId={}",
            again.entries["tenancy"]
        ))
        .await;
    assert_eq!(status, 200);
    lab.stop().await.expect("stop");
}

#[tokio::test]
async fn usage_reports_the_months_cost_and_the_spend_knob() {
    let (lab, _dir, creds) = lab_with_dir().await;
    let (from, to) = month_start_and_tomorrow();
    let body = json!({
        "tenantId": creds.entries["tenancy"],
        "timeUsageStarted": from,
        "timeUsageEnded": to,
        "granularity": "DAILY",
        "isAggregateByTime": true,
        "queryType": "COST"
    })
    .to_string();
    let s = creds.signing("POST");
    let (status, v) = creds
        .call(&s, "POST", "/20200107/usage", body.as_bytes())
        .await;
    assert_eq!(status, 200, "{v}");
    // UsageAggregation: items of UsageSummary with timeUsageStarted/Ended, computedAmount,
    // currency (Usage API 20200107 reference).
    let items = v["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["computedAmount"], json!(0.0));
    assert_eq!(items[0]["currency"], "USD");
    assert!(items[0]["timeUsageStarted"].as_str().is_some());
    lab.set_oci_spend(1.25);
    let s = creds.signing("POST");
    let (_, v) = creds
        .call(&s, "POST", "/20200107/usage", body.as_bytes())
        .await;
    assert_eq!(v["items"][0]["computedAmount"], json!(1.25));
    // Without isAggregateByTime, one item a day, adding up to the same.
    let daily = json!({
        "tenantId": creds.entries["tenancy"],
        "timeUsageStarted": from,
        "timeUsageEnded": to,
        "granularity": "DAILY"
    })
    .to_string();
    let s = creds.signing("POST");
    let (_, v) = creds
        .call(&s, "POST", "/20200107/usage", daily.as_bytes())
        .await;
    let total: f64 = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["computedAmount"].as_f64())
        .sum();
    assert_eq!(total, 1.25);
    // Documented required fields and enums.
    let cases = [
        (
            "no tenantId",
            json!({"timeUsageStarted": from, "timeUsageEnded": to, "granularity": "DAILY"}),
            400,
        ),
        (
            "bad granularity",
            json!({"tenantId": creds.entries["tenancy"], "timeUsageStarted": from, "timeUsageEnded": to, "granularity": "WEEKLY"}),
            400,
        ),
        (
            "another tenancy",
            json!({"tenantId": "ocid1.tenancy.oc1..other", "timeUsageStarted": from, "timeUsageEnded": to, "granularity": "DAILY"}),
            404,
        ),
    ];
    for (name, b, want) in cases {
        let b = b.to_string();
        let s = creds.signing("POST");
        let (status, v) = creds
            .call(&s, "POST", "/20200107/usage", b.as_bytes())
            .await;
        assert_eq!(status, want, "{name}: {v}");
        assert!(
            v["code"].as_str().is_some() && v["message"].as_str().is_some(),
            "{name}: {v}"
        );
    }
    lab.stop().await.expect("stop");
}

#[tokio::test]
async fn limits_identity_and_budgets_answer_as_documented() {
    let (lab, _dir, creds) = lab_with_dir().await;
    let t = &creds.entries["tenancy"];
    let (status, ads) = creds
        .get(&format!("/20160918/availabilityDomains?compartmentId={t}"))
        .await;
    assert_eq!(status, 200);
    let ad = ads[0]["name"].as_str().expect("AD name").to_string();
    let ad_q = ad.replace(':', "%3A");
    // Always Free: two hosts of 1 OCPU / 6 GB, the whole allowance.
    let (status, v) = creds
        .get(&format!(
            "/20190729/services/compute/limits/standard-a1-core-count/resourceAvailability?compartmentId={t}&availabilityDomain={ad_q}"
        ))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["used"].clone(), v["available"].clone()),
        (json!(2), json!(0))
    );
    assert_eq!(v["fractionalUsage"], json!(2.0));
    let (_, v) = creds
        .get(&format!(
            "/20190729/services/compute/limits/standard-a1-memory-count/resourceAvailability?compartmentId={t}&availabilityDomain={ad_q}"
        ))
        .await;
    assert_eq!(v["used"], json!(12));
    // AD-scoped limits need availabilityDomain: 400 InvalidParameter, as the reference says.
    let (status, v) = creds
        .get(&format!(
            "/20190729/services/compute/limits/standard-a1-core-count/resourceAvailability?compartmentId={t}"
        ))
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("InvalidParameter"))
    );
    let (status, v) = creds
        .get("/20190729/services/compute/limits/standard-a1-core-count/resourceAvailability")
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("MissingParameter"))
    );
    let (status, budgets) = creds
        .get(&format!(
            "/20190111/budgets?compartmentId={t}&targetType=ALL"
        ))
        .await;
    assert_eq!(status, 200);
    let b = &budgets[0];
    // terraform/oci/budget.tf: amount 1, MONTHLY, targeting the tenancy.
    assert_eq!(b["amount"], json!(1));
    assert_eq!(b["resetPeriod"], "MONTHLY");
    assert_eq!(b["targets"], json!([t]));
    assert_eq!(b["lifecycleState"], "ACTIVE");
    let id = b["id"].as_str().expect("id");
    let (status, rules) = creds
        .get(&format!("/20190111/budgets/{id}/alertRules"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(rules[0]["type"], "ACTUAL");
    assert_eq!(rules[0]["thresholdType"], "ABSOLUTE");
    assert_eq!(rules[0]["threshold"], json!(0.01));
    let (status, v) = creds
        .get("/20190111/budgets/ocid1.budget.oc1.iad.nope/alertRules")
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (404, Some("NotAuthorizedOrNotFound"))
    );
    lab.stop().await.expect("stop");
}

#[tokio::test]
async fn every_bad_signature_gets_ocis_401() {
    let (lab, _dir, creds) = lab_with_dir().await;
    let t = creds.entries["tenancy"].clone();
    let target = format!("/20190111/budgets?compartmentId={t}");
    let other = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
    let stale = http::http_date(SystemTime::now() - std::time::Duration::from_secs(600));
    let good = creds.signing("GET");
    type Tweak<'a> = Box<dyn Fn(&mut Signing<'a>) + 'a>;
    let cases: Vec<(&str, Tweak<'_>)> = vec![
        ("another key", Box::new(|s| s.key = &other)),
        (
            "unknown fingerprint",
            Box::new(|s| {
                s.key_id = s.key_id.replace(
                    &creds.entries["fingerprint"],
                    "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff",
                )
            }),
        ),
        ("date 10 minutes old", Box::new(|s| s.date = stale.clone())),
        (
            "host not signed",
            Box::new(|s| s.headers = &["date", "(request-target)"]),
        ),
    ];
    for (name, tweak) in cases {
        let mut s = creds.signing("GET");
        tweak(&mut s);
        let (status, v) = creds.call(&s, "GET", &target, b"").await;
        assert_eq!(status, 401, "{name}");
        assert_eq!(
            v,
            json!({"code": "NotAuthenticated", "message": NOT_AUTHENTICATED}),
            "{name}"
        );
    }
    // A POST whose body hash is not the body's, or that leaves the body headers unsigned.
    let body = br#"{"tenantId":"x"}"#;
    let mut s = creds.signing("POST");
    s.body_sha_override = Some("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".into());
    let (status, _) = creds.call(&s, "POST", "/20200107/usage", body).await;
    assert_eq!(status, 401, "wrong x-content-sha256");
    let mut s = creds.signing("POST");
    s.headers = GET_HEADERS;
    let (status, _) = creds.call(&s, "POST", "/20200107/usage", body).await;
    assert_eq!(status, 401, "body headers unsigned on a POST");
    // No Authorization header at all.
    let resp = creds
        .http
        .get(format!("{}{target}", creds.url))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 401);
    let (status, _) = creds.call(&good, "GET", &target, b"").await;
    assert_eq!(status, 200, "the untouched signature still passes");
    lab.stop().await.expect("stop");
}

#[test]
fn dates_parse_as_the_signature_check_reads_them() {
    // RFC 7231 IMF-fixdate; the weekday is not checked (Oracle's own test date names the
    // wrong one).
    assert_eq!(
        parse_http_date("Thu, 05 Jan 2014 21:31:40 GMT"),
        Some(1_388_957_500)
    );
    assert_eq!(parse_http_date("05 Jan 2014 21:31:40"), None);
    assert_eq!(parse_rfc3339("2014-01-05T21:31:40Z"), Some(1_388_957_500));
    assert_eq!(
        parse_rfc3339("2014-01-05T21:31:40.123Z"),
        Some(1_388_957_500)
    );
    assert_eq!(
        parse_rfc3339("2014-01-05T22:31:40+01:00"),
        Some(1_388_957_500)
    );
    assert_eq!(parse_rfc3339("yesterday"), None);
}

#[path = "oci_storage_tests.rs"]
mod storage;
