//! The lab's OCI endpoint: HTTPS on the bastion address, port 8443, answering the four OCI
//! operations `freetier validate` asks, for the tenancy the lab stands in for:
//!
//! - Usage API `POST /20200107/usage` (`RequestSummarizedUsages`): the month's cost, $0.00
//!   unless a test reports spend ([`super::Lab::set_oci_spend`], or `POST /oci/spend` on the
//!   control endpoint).
//! - Limits API `GET /20190729/services/{serviceName}/limits/{limitName}/resourceAvailability`
//!   (`GetResourceAvailability`): the A1 core and memory limits and the E2 micro core limit,
//!   used by the lab's hosts, in the one availability domain; and the regional
//!   `custom-image-count`, used by the images imported here (its total is
//!   [`LabConfig::custom_image_limit`](super::LabConfig::custom_image_limit)).
//! - Identity `GET /20160918/availabilityDomains` (`ListAvailabilityDomains`).
//! - Budgets `GET /20190111/budgets` and `GET /20190111/budgets/{budgetId}/alertRules`
//!   (`ListBudgets`, `ListAlertRules`): the budget `terraform/oci/budget.tf` creates (amount
//!   1, monthly, targeting the tenancy) and its alert rule (ACTUAL, ABSOLUTE, 0.01).
//! - Object Storage (namespace, buckets, objects, multipart uploads) and Compute custom image
//!   import (`CreateImage`, `GetImage`), in `oci_storage.rs`.
//!
//! Shapes are the API references' (<https://docs.oracle.com/en-us/iaas/api/>: Usage
//! 20200107 `RequestSummarizedUsagesDetails`, `UsageAggregation`, `UsageSummary`; Limits
//! `ResourceAvailability`; Budgets 20190111 `BudgetSummary`, `AlertRuleSummary`; Identity
//! 20160918 `AvailabilityDomain`); limit names and scopes are Oracle's Compute limits table
//! (<https://docs.oracle.com/en-us/iaas/Content/General/Concepts/servicelimits.htm>).
//!
//! Every request must carry a valid version-1 signature, checked as Oracle's "Request
//! Signatures" page specifies (<https://docs.oracle.com/en-us/iaas/Content/API/Concepts/signingrequests.htm>):
//! `Authorization: Signature version="1",keyId="TENANCY/USER/FINGERPRINT",algorithm="rsa-sha256",
//! headers="…",signature="…"`, the signed headers including `date` (or `x-date`),
//! `(request-target)` and `host`, plus `content-length`, `content-type` and `x-content-sha256`
//! on POST and PUT, the date within 5 minutes, the body hash right, and the RSA-SHA256
//! signature valid under the public key registered for that key id. Anything else is OCI's
//! 401 with the `NotAuthenticated` body Oracle's API errors page gives
//! (<https://docs.oracle.com/en-us/iaas/Content/API/References/apierrors.htm>).
//!
//! The lab makes the user's API key pair (RSA 2048, as "Required Keys and OCIDs" asks), keeps
//! the public half, and writes the private half, a configuration file in the OCI CLI's format
//! (`oci/config`) and the endpoint's CA certificate (`oci/ca.pem`) into its state directory.
//!
//! Not emulated: pagination past one page, other services and limits (404), quotas, and the
//! Usage API's rules on time precision (Oracle's reference does not state them).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::host::{apply_fault, HostRef, Outcome};
use super::http::{self, Reply, Req};
use super::keys::{self, TlsIdentity};
use super::{LabError, LabInner};

/// The endpoint's port on the bastion address.
pub(crate) const OCI_PORT: u16 = 8443;
/// The region the lab's tenancy lives in (what the configuration file names).
pub(crate) const REGION: &str = "us-ashburn-1";
/// The lab tenancy's one availability domain, named as OCI names them (`<prefix>:<REGION>-AD-1`).
pub(crate) const AVAILABILITY_DOMAIN: &str = "LAB:US-ASHBURN-AD-1";
/// Oracle's 401 message for a request whose signature or key is not accepted (API errors page,
/// 401 `NotAuthenticated`).
pub(crate) const NOT_AUTHENTICATED: &str =
    "The required information to complete authentication was not provided or was incorrect.";
/// Oracle's 404 message (API errors page, 404 `NotAuthorizedOrNotFound`).
pub(crate) const NOT_FOUND: &str = "Authorization failed or requested resource not found.";
/// The largest clock skew accepted (Request Signatures page, "Client Clock Skew").
const MAX_SKEW_SECS: i64 = 300;

/// The tenancy, its user and API key, the endpoint's TLS identity, and the spend to report.
pub(crate) struct OciAccount {
    dir: Option<PathBuf>,
    ca_pem: String,
    tls: TlsIdentity,
    /// Made on first use: an RSA key takes a moment, and most labs are never asked.
    key: OnceLock<Result<ApiKey, String>>,
    spend_usd: Mutex<f64>,
    created: String,
    /// Buckets, uploads and imported images (`oci_storage.rs`).
    pub(crate) storage: Mutex<super::oci_storage::Storage>,
}

/// The user's API key pair and the ids derived from it.
pub(crate) struct ApiKey {
    private_pkcs8_pem: String,
    public_spki_der: Vec<u8>,
    fingerprint: String,
    pub(crate) tenancy: String,
    pub(crate) user: String,
    budget: String,
    alert_rule: String,
}

impl OciAccount {
    /// The account of a lab whose bastion address is `ip`: its CA kept in `dir/oci` (so a
    /// pinned CA survives a restart), a fresh server certificate for `ip`.
    pub(crate) fn new(dir: Option<&Path>, ip: std::net::Ipv4Addr) -> Result<OciAccount, LabError> {
        let crypto = |e: rcgen::Error| LabError::Crypto(format!("oci endpoint tls: {e}"));
        let oci_dir = dir.map(|d| d.join("oci"));
        let saved = oci_dir.as_ref().and_then(|d| {
            let key = std::fs::read_to_string(d.join("ca.key")).ok()?;
            let cert = std::fs::read_to_string(d.join("ca.pem")).ok()?;
            Some((key, cert))
        });
        let (ca_key, ca_pem) = match saved {
            Some((k, c)) if rcgen::KeyPair::from_pem(&k).is_ok() => (k, c),
            _ => {
                let key = rcgen::KeyPair::generate().map_err(crypto)?;
                let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(crypto)?;
                p.distinguished_name = rcgen::DistinguishedName::new();
                p.distinguished_name
                    .push(rcgen::DnType::CommonName, "freetier lab OCI endpoint CA");
                p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
                p.key_usages = vec![
                    rcgen::KeyUsagePurpose::KeyCertSign,
                    rcgen::KeyUsagePurpose::CrlSign,
                ];
                let cert = p.self_signed(&key).map_err(crypto)?;
                let (k, c) = (key.serialize_pem(), cert.pem());
                if let Some(d) = &oci_dir {
                    keys::write_private(&d.join("ca.key"), k.as_bytes())?;
                    std::fs::write(d.join("ca.pem"), &c).map_err(|e| LabError::Io {
                        path: d.join("ca.pem"),
                        source: e,
                    })?;
                }
                (k, c)
            }
        };
        let ca_keypair = rcgen::KeyPair::from_pem(&ca_key).map_err(crypto)?;
        let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_keypair).map_err(crypto)?;
        let leaf_key = rcgen::KeyPair::generate().map_err(crypto)?;
        let mut p = rcgen::CertificateParams::new(vec![ip.to_string(), "localhost".into()])
            .map_err(crypto)?;
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "freetier lab OCI endpoint");
        let leaf = p.signed_by(&leaf_key, &issuer).map_err(crypto)?;
        let tls = TlsIdentity::new(leaf.der().to_vec(), leaf_key.serialize_der())?;
        let created = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Ok(OciAccount {
            dir: oci_dir,
            ca_pem,
            tls,
            key: OnceLock::new(),
            spend_usd: Mutex::new(0.0),
            created,
            storage: Mutex::new(Default::default()),
        })
    }

    fn key(&self) -> Result<&ApiKey, String> {
        self.key
            .get_or_init(|| ApiKey::load_or_create(self.dir.as_deref()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Month-to-date spend the Usage API reports, in USD.
    pub(crate) fn spend(&self) -> f64 {
        *self.spend_usd.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the spend the Usage API and the budget report.
    pub(crate) fn set_spend(&self, usd: f64) {
        *self.spend_usd.lock().unwrap_or_else(|p| p.into_inner()) =
            if usd.is_finite() { usd.max(0.0) } else { 0.0 };
    }
}

impl ApiKey {
    fn load_or_create(dir: Option<&Path>) -> Result<ApiKey, String> {
        let path = dir.map(|d| d.join("oci_api_key.pem"));
        let saved = path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|pem| pem_body(&pem, "PRIVATE KEY"))
            .and_then(|der| aws_lc_rs::rsa::KeyPair::from_pkcs8(&der).ok());
        let pair = match saved {
            Some(p) => p,
            None => aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(|_| "cannot generate the lab's OCI API key".to_string())?,
        };
        let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)
            .map_err(|_| "cannot encode the lab's OCI API key".to_string())?;
        let spki = pair
            .public_key()
            .as_der()
            .map_err(|_| "cannot encode the lab's OCI public key".to_string())?;
        let spki = spki.as_ref().to_vec();
        // The fingerprint as the Console shows it: MD5 of the DER public key ("Required Keys
        // and OCIDs", `openssl rsa -pubout -outform DER | openssl md5 -c`).
        let fingerprint = md5::compute(&spki)
            .0
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        let id = |kind: &str, realm_region: &str| {
            let d1 = aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA256,
                &[spki.as_slice(), kind.as_bytes()].concat(),
            );
            let d2 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, d1.as_ref());
            // OCIDs: ocid1.<type>.<realm>.[region].<unique id>, the id lowercase base32.
            let alphabet = b"abcdefghijklmnopqrstuvwxyz234567";
            let unique: String = d1
                .as_ref()
                .iter()
                .chain(d2.as_ref().iter())
                .take(52)
                .map(|b| alphabet[usize::from(*b) % 32] as char)
                .collect();
            format!("ocid1.{kind}.oc1.{realm_region}.aaaaaaaa{unique}")
        };
        let key = ApiKey {
            private_pkcs8_pem: pem_armour("PRIVATE KEY", pkcs8.as_ref()),
            public_spki_der: spki.clone(),
            fingerprint,
            tenancy: id("tenancy", ""),
            user: id("user", ""),
            budget: id("budget", "iad"),
            alert_rule: id("budgetalertrule", "iad"),
        };
        Ok(key)
    }

    fn key_id(&self) -> String {
        format!("{}/{}/{}", self.tenancy, self.user, self.fingerprint)
    }
}

fn pem_armour(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

fn pem_body(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = text[start..].find(&end)? + start;
    let b64: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

impl LabInner {
    /// `IP:PORT` of the lab's OCI endpoint (on the bastion address).
    pub(crate) fn oci_addr(&self) -> String {
        let o = self.base.octets();
        format!("{}.{}.{}.10:{OCI_PORT}", o[0], o[1], o[2])
    }
}

impl super::Lab {
    /// Makes the Usage API report `usd` spent this month (and the budget's actual spend), so
    /// a test can see `freetier validate`'s cost row fail. `0.0` is a free tenancy again.
    pub fn set_oci_spend(&self, usd: f64) {
        self.inner.oci.set_spend(usd);
    }
}

/// What `lab.json` says of the endpoint.
pub(crate) fn describe(inner: &LabInner) -> Option<super::state::OciState> {
    let dir = inner.oci.dir.as_ref()?;
    let abs = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or(p).display().to_string();
    let key = inner.oci.key().ok()?;
    Some(super::state::OciState {
        url: format!("https://{}", inner.oci_addr()),
        region: REGION.into(),
        tenancy: key.tenancy.clone(),
        user: key.user.clone(),
        fingerprint: key.fingerprint.clone(),
        config_path: abs(dir.join("config")),
        ca_certificate_path: abs(dir.join("ca.pem")),
    })
}

/// Writes the API key pair, the OCI CLI configuration file and the CA certificate into
/// `dir/oci`.
pub(crate) fn write_files(inner: &LabInner, dir: &Path) -> Result<(), LabError> {
    let oci = dir.join("oci");
    let key = inner.oci.key().map_err(LabError::Crypto)?;
    let io = |p: &Path, e| LabError::Io {
        path: p.to_path_buf(),
        source: e,
    };
    let key_path = oci.join("oci_api_key.pem");
    keys::write_private(&key_path, key.private_pkcs8_pem.as_bytes())?;
    let public = oci.join("oci_api_key_public.pem");
    std::fs::write(&public, pem_armour("PUBLIC KEY", &key.public_spki_der))
        .map_err(|e| io(&public, e))?;
    let ca = oci.join("ca.pem");
    std::fs::write(&ca, &inner.oci.ca_pem).map_err(|e| io(&ca, e))?;
    let key_abs = std::fs::canonicalize(&key_path).unwrap_or(key_path);
    // The format `oci setup config` writes
    // (https://docs.oracle.com/en-us/iaas/Content/API/Concepts/sdkconfig.htm).
    let config = format!(
        "# Written by `freetier lab up`: the lab's OCI user and API key, in the OCI CLI's format.\n\
         # Its endpoint is https://{} (CA certificate: ca.pem beside this file).\n\
         [DEFAULT]\nuser={}\nfingerprint={}\nkey_file={}\ntenancy={}\nregion={REGION}\n",
        inner.oci_addr(),
        key.user,
        key.fingerprint,
        key_abs.display(),
        key.tenancy
    );
    keys::write_private(&oci.join("config"), config.as_bytes())
}

/// Serves the endpoint until the lab stops.
pub(crate) async fn serve(lab: Arc<LabInner>, listener: TcpListener) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(lab.oci.tls.key_der.clone().into());
    let certs = vec![rustls::pki_types::CertificateDer::from(
        lab.oci.tls.cert_der.clone(),
    )];
    let Ok(cfg) = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
    else {
        tracing::warn!("lab: the OCI endpoint has no usable TLS configuration");
        return;
    };
    let mut cfg = cfg;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let lab_t = lab.clone();
    let token = move || match &lab_t.bastion {
        Some(b) => Some(b.conn_token()),
        None => Some(lab_t.cancel.child_token()),
    };
    let lab_h = lab.clone();
    let handler = move |req: Req, conn: CancellationToken| {
        let lab = lab_h.clone();
        async move { handle(lab, req, conn).await }
    };
    http::serve(lab, listener, Some(Arc::new(cfg)), token, handler).await;
}

/// An answer with OCI's headers: JSON, and an `opc-request-id`.
pub(crate) fn answer(status: u16, body: Value) -> http::Resp {
    let mut r = http::response(status, None, Some(body.to_string()));
    let id = format!("{:016X}{:016X}", keys::random_u64(), keys::random_u64());
    if let Ok(v) = hyper::header::HeaderValue::from_str(&id) {
        r.headers_mut().insert("opc-request-id", v);
    }
    if let Ok(v) = hyper::header::HeaderValue::from_str(&http::http_date(SystemTime::now())) {
        r.headers_mut().insert("date", v);
    }
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// An OCI error answer: `{"code", "message"}`.
pub(crate) fn error(status: u16, code: &str, message: &str) -> http::Resp {
    answer(status, json!({ "code": code, "message": message }))
}

/// The route template of a path, for fault names and the trace.
fn template(segs: &[&str]) -> String {
    match segs {
        ["20200107", "usage"] => "/20200107/usage".into(),
        ["20190729", "services", _, "limits", _, "resourceAvailability"] => {
            "/20190729/services/{serviceName}/limits/{limitName}/resourceAvailability".into()
        }
        ["20160918", "availabilityDomains"] => "/20160918/availabilityDomains".into(),
        ["20190111", "budgets"] => "/20190111/budgets".into(),
        ["20190111", "budgets", _, "alertRules"] => {
            "/20190111/budgets/{budgetId}/alertRules".into()
        }
        ["n"] => "/n/".into(),
        ["n", _, "b"] => "/n/{namespaceName}/b/".into(),
        ["n", _, "b", _, "o", ..] => "/n/{namespaceName}/b/{bucketName}/o/{objectName}".into(),
        ["n", _, "b", _, "u"] => "/n/{namespaceName}/b/{bucketName}/u".into(),
        ["n", _, "b", _, "u", ..] => "/n/{namespaceName}/b/{bucketName}/u/{objectName}".into(),
        ["20160918", "images"] => "/20160918/images".into(),
        ["20160918", "images", _] => "/20160918/images/{imageId}".into(),
        ["20160918", "images", _, "shapes"] => "/20160918/images/{imageId}/shapes".into(),
        ["20160918", "images", _, "shapes", _] => {
            "/20160918/images/{imageId}/shapes/{shapeName}".into()
        }
        _ => format!("/{}", segs.join("/")),
    }
}

async fn handle(lab: Arc<LabInner>, req: Req, conn: CancellationToken) -> Reply {
    let start = Instant::now();
    let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    let op = format!("oci:{} {}", req.method, template(&segs));
    match apply_fault(&lab, HostRef::Bastion, &op, &conn).await {
        Outcome::Proceed => {}
        Outcome::Fail(msg, code) => {
            lab.record("bastion", &op, start, false);
            return Reply::Send(error(code.unwrap_or(500), "InternalServerError", &msg));
        }
        Outcome::Dropped => {
            lab.record("bastion", &op, start, false);
            return Reply::Drop;
        }
    }
    let key = match lab.oci.key() {
        Ok(k) => k,
        Err(e) => {
            lab.record("bastion", &op, start, false);
            return Reply::Send(error(500, "InternalServerError", &e));
        }
    };
    if let Err(why) = verify(&req, key, SystemTime::now()) {
        tracing::info!(op, why, "lab oci: request not authenticated");
        lab.record("bastion", &op, start, false);
        return Reply::Send(error(401, "NotAuthenticated", NOT_AUTHENTICATED));
    }
    let query = query_map(&req.query);
    let resp = route(&lab, key, &req, &segs, &query);
    lab.record("bastion", &op, start, resp.status().is_success());
    Reply::Send(resp)
}

fn query_map(q: &str) -> std::collections::BTreeMap<String, String> {
    let mut m = std::collections::BTreeMap::new();
    http::parse_form(q, &mut m);
    m
}

fn route(
    lab: &LabInner,
    key: &ApiKey,
    req: &Req,
    segs: &[&str],
    query: &std::collections::BTreeMap<String, String>,
) -> http::Resp {
    let compartment = query.get("compartmentId").map(String::as_str);
    let missing = |name: &str| {
        error(
            400,
            "MissingParameter",
            &format!("Missing required parameter '{name}'."),
        )
    };
    match (req.method.as_str(), segs) {
        ("POST", ["20200107", "usage"]) => usage(lab, key, &req.body),
        ("GET", ["20190729", "services", service, "limits", limit, "resourceAvailability"]) => {
            let Some(c) = compartment else {
                return missing("compartmentId");
            };
            if c != key.tenancy {
                return error(404, "NotAuthorizedOrNotFound", NOT_FOUND);
            }
            availability(
                lab,
                &key.tenancy,
                service,
                limit,
                query.get("availabilityDomain"),
            )
        }
        ("GET", ["20160918", "availabilityDomains"]) => match compartment {
            None => missing("compartmentId"),
            Some(c) if c != key.tenancy => error(404, "NotAuthorizedOrNotFound", NOT_FOUND),
            Some(_) => answer(
                200,
                json!([{
                    "compartmentId": key.tenancy,
                    "id": key.tenancy.replacen("ocid1.tenancy.", "ocid1.availabilitydomain.", 1),
                    "name": AVAILABILITY_DOMAIN
                }]),
            ),
        },
        ("GET", ["20190111", "budgets"]) => match compartment {
            None => missing("compartmentId"),
            // Budgets live in the root compartment only.
            Some(c) if c != key.tenancy => answer(200, json!([])),
            Some(_) => answer(200, json!([budget(lab, key)])),
        },
        ("GET", ["20190111", "budgets", id, "alertRules"]) => {
            if *id != key.budget {
                return error(404, "NotAuthorizedOrNotFound", NOT_FOUND);
            }
            answer(200, json!([alert_rule(lab, key)]))
        }
        _ => super::oci_storage::route(lab, key, req, segs, query)
            .unwrap_or_else(|| error(404, "NotAuthorizedOrNotFound", NOT_FOUND)),
    }
}

/// The budget `terraform/oci/budget.tf` creates: amount 1, monthly, on the whole tenancy.
fn budget(lab: &LabInner, key: &ApiKey) -> Value {
    let spend = lab.oci.spend();
    json!({
        "id": key.budget,
        "compartmentId": key.tenancy,
        "targetCompartmentId": key.tenancy,
        "displayName": "freetier-free-tier",
        "description": "The freetier stack must cost nothing: any actual spend alerts.",
        "amount": 1,
        "resetPeriod": "MONTHLY",
        "budgetProcessingPeriodStartOffset": 1,
        "processingPeriodType": "MONTH",
        "targetType": "COMPARTMENT",
        "targets": [key.tenancy],
        "lifecycleState": "ACTIVE",
        "alertRuleCount": 1,
        "version": 1,
        "actualSpend": spend,
        "forecastedSpend": spend,
        "timeSpendComputed": lab.oci.created,
        "timeCreated": lab.oci.created,
        "timeUpdated": lab.oci.created,
        "freeformTags": {},
        "definedTags": {}
    })
}

/// Its alert rule: actual spend, an absolute threshold of 0.01.
fn alert_rule(lab: &LabInner, key: &ApiKey) -> Value {
    json!({
        "id": key.alert_rule,
        "budgetId": key.budget,
        "displayName": "freetier-any-spend",
        "type": "ACTUAL",
        "threshold": 0.01,
        "thresholdType": "ABSOLUTE",
        "lifecycleState": "ACTIVE",
        "recipients": "admin@example.invalid",
        "message": "Your Oracle Cloud tenancy has started to cost money.",
        "version": 1,
        "timeCreated": lab.oci.created,
        "timeUpdated": lab.oci.created,
        "freeformTags": {},
        "definedTags": {}
    })
}

/// `GetResourceAvailability` for the Compute limits the lab's hosts use. Each is scoped to an
/// availability domain in Oracle's Compute limits table, so `availabilityDomain` is required
/// (the reference: "If the above requirements are not met, the API will return a 400 -
/// InvalidParameter response").
fn availability(
    lab: &LabInner,
    tenancy: &str,
    service: &str,
    limit: &str,
    ad: Option<&String>,
) -> http::Resp {
    let ocpus: u32 = lab.hosts.iter().map(|h| h.layout.ocpus).sum();
    let memory: u32 = lab.hosts.iter().map(|h| h.layout.memory_gb).sum();
    let free = lab.config.tier.free_ocpus();
    // A free tenancy's A1 limits are the Always Free allowance itself (whole OCPUs, 6 GB
    // each); the E2 micro limit is 2 instances, one OCPU each.
    if (service, limit) == ("compute", "custom-image-count") {
        // Regional in Oracle's Compute limits table: an availability domain must be left out.
        if let Some(a) = ad {
            return error(
                400,
                "InvalidParameter",
                &format!("The limit {limit} is scoped to a region: availabilityDomain {a} must not be given."),
            );
        }
        let used = {
            let mut st = lab.oci.storage.lock().unwrap_or_else(|p| p.into_inner());
            st.seed(lab, tenancy);
            st.custom_images()
        };
        let total = lab.config.custom_image_limit as usize;
        return answer(
            200,
            json!({
                "used": used,
                "available": total.saturating_sub(used),
                "fractionalUsage": used as f64,
                "fractionalAvailability": total.saturating_sub(used) as f64
            }),
        );
    }
    let (total, used) = match (service, limit) {
        ("compute", "standard-a1-core-count") => (f64::from(free), f64::from(ocpus)),
        ("compute", "standard-a1-memory-count") => (f64::from(free * 6), f64::from(memory)),
        ("compute", "standard-e2-micro-core-count") => {
            (2.0, if lab.bastion.is_some() { 1.0 } else { 0.0 })
        }
        _ => return error(404, "NotAuthorizedOrNotFound", NOT_FOUND),
    };
    match ad.map(String::as_str) {
        None => {
            return error(
                400,
                "InvalidParameter",
                &format!("The limit {limit} is scoped to an availability domain: availabilityDomain is required."),
            )
        }
        Some(a) if a != AVAILABILITY_DOMAIN => {
            return error(
                400,
                "InvalidParameter",
                &format!("Invalid availabilityDomain {a}."),
            )
        }
        Some(_) => {}
    }
    let available = (total - used).max(0.0);
    answer(
        200,
        json!({
            "used": used.ceil() as i64,
            "available": available.floor() as i64,
            "fractionalUsage": used,
            "fractionalAvailability": available
        }),
    )
}

/// `RequestSummarizedUsages`: the month's cost as one item (or one a day).
fn usage(lab: &LabInner, key: &ApiKey, body: &[u8]) -> http::Resp {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return error(
                400,
                "InvalidParameter",
                "The request body is not a JSON object.",
            )
        }
    };
    let text = |k: &str| v.get(k).and_then(Value::as_str);
    for k in [
        "tenantId",
        "timeUsageStarted",
        "timeUsageEnded",
        "granularity",
    ] {
        if text(k).is_none() {
            return error(
                400,
                "InvalidParameter",
                &format!("{k} is required and must be a string."),
            );
        }
    }
    let granularity = text("granularity").unwrap_or_default();
    if !["HOURLY", "DAILY", "MONTHLY", "TOTAL"].contains(&granularity) {
        return error(
            400,
            "InvalidParameter",
            &format!("Invalid granularity {granularity}: HOURLY, DAILY, MONTHLY or TOTAL."),
        );
    }
    let query_type = text("queryType").unwrap_or("COST");
    if !["USAGE", "COST", "CREDIT", "EXPIREDCREDIT", "ALLCREDIT"].contains(&query_type) {
        return error(
            400,
            "InvalidParameter",
            &format!("Invalid queryType {query_type}."),
        );
    }
    if text("tenantId") != Some(key.tenancy.as_str()) {
        return error(404, "NotAuthorizedOrNotFound", NOT_FOUND);
    }
    let (Some(from), Some(to)) = (
        text("timeUsageStarted").and_then(parse_rfc3339),
        text("timeUsageEnded").and_then(parse_rfc3339),
    ) else {
        return error(
            400,
            "InvalidParameter",
            "timeUsageStarted and timeUsageEnded must be RFC 3339 date-times.",
        );
    };
    if to <= from {
        return error(
            400,
            "InvalidParameter",
            "timeUsageEnded must be after timeUsageStarted.",
        );
    }
    let spend = if query_type == "COST" {
        lab.oci.spend()
    } else {
        0.0
    };
    let aggregate = v
        .get("isAggregateByTime")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let stamp = |t: i64| {
        time::OffsetDateTime::from_unix_timestamp(t)
            .ok()
            .and_then(|d| {
                d.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default()
    };
    let item = |from: i64, to: i64, amount: f64| {
        json!({
            "tenantId": key.tenancy,
            "tenantName": "freetier-lab",
            "timeUsageStarted": stamp(from),
            "timeUsageEnded": stamp(to),
            "service": "COMPUTE",
            "computedAmount": if query_type == "COST" { json!(amount) } else { Value::Null },
            "computedQuantity": 0.0,
            "currency": "USD",
            "unit": null,
            "isForecast": false,
            "tags": []
        })
    };
    let items: Vec<Value> = if aggregate {
        vec![item(from, to, spend)]
    } else {
        // One item a day (at most a year's), the spend on the first.
        let mut out = Vec::new();
        let mut t = from;
        while t < to && out.len() < 366 {
            let next = (t + 86_400).min(to);
            out.push(item(t, next, if out.is_empty() { spend } else { 0.0 }));
            t = next;
        }
        out
    };
    answer(
        200,
        json!({ "groupBy": v.get("groupBy").cloned().unwrap_or(json!([])), "items": items }),
    )
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let (date, rest) = s.split_once(['T', 't'])?;
    let mut d = date.split('-');
    let year: i32 = d.next()?.parse().ok()?;
    let month: u8 = d.next()?.parse().ok()?;
    let day: u8 = d.next()?.parse().ok()?;
    let (clock, offset_secs) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0i64)
    } else {
        let pos = rest.rfind(['+', '-'])?;
        let (c, off) = rest.split_at(pos);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, m) = off[1..].split_once(':')?;
        (
            c,
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60),
        )
    };
    let clock = clock.split('.').next()?;
    let mut c = clock.split(':');
    let (h, mi, se): (u8, u8, u8) = (
        c.next()?.parse().ok()?,
        c.next()?.parse().ok()?,
        c.next()?.parse().ok()?,
    );
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    let t = time::Time::from_hms(h, mi, se).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp()
            - offset_secs,
    )
}

/// Seconds since the epoch of an HTTP date (`Thu, 05 Jan 2014 21:31:40 GMT`); the weekday is
/// not checked.
fn parse_http_date(s: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, mon, year, clock, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = MONTHS.iter().position(|m| m == mon)? as u8 + 1;
    let mut c = clock.split(':');
    let (h, mi, se): (u8, u8, u8) = (
        c.next()?.parse().ok()?,
        c.next()?.parse().ok()?,
        c.next()?.parse().ok()?,
    );
    let date = time::Date::from_calendar_date(
        year.parse().ok()?,
        time::Month::try_from(month).ok()?,
        day.parse().ok()?,
    )
    .ok()?;
    let t = time::Time::from_hms(h, mi, se).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// The `Authorization: Signature …` parameters.
fn signature_params(header: &str) -> Option<std::collections::BTreeMap<String, String>> {
    let rest = header.strip_prefix("Signature ")?;
    let mut out = std::collections::BTreeMap::new();
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        let v = v.trim().strip_prefix('"')?.strip_suffix('"')?;
        out.insert(k.trim().to_string(), v.to_string());
    }
    Some(out)
}

/// Checks a request's signature; the error says why (for the lab's log, never the client).
fn verify(req: &Req, key: &ApiKey, now: SystemTime) -> Result<(), String> {
    let header = |name: &str| {
        req.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let auth = header("authorization").ok_or("no Authorization header")?;
    let p = signature_params(&auth).ok_or("the Authorization header is not a Signature")?;
    let get = |k: &str| p.get(k).cloned().ok_or(format!("no {k} parameter"));
    if get("version")? != "1" {
        return Err("signature version is not 1".into());
    }
    if get("algorithm")? != "rsa-sha256" {
        return Err("algorithm is not rsa-sha256".into());
    }
    if get("keyId")? != key.key_id() {
        return Err("unknown keyId".into());
    }
    let names: Vec<String> = get("headers")?
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    let has = |n: &str| names.iter().any(|x| x == n);
    let date_header = if has("x-date") {
        "x-date"
    } else if has("date") {
        "date"
    } else {
        return Err("neither date nor x-date is signed".into());
    };
    for required in ["(request-target)", "host"] {
        if !has(required) {
            return Err(format!("{required} is not signed"));
        }
    }
    let method = req.method.as_str();
    // Object Storage PUTs (PutObject, UploadPart) do not sign their body: "Special
    // Instructions for Object Storage PUT" on the Request Signatures page lets them leave
    // content-length, content-type and x-content-sha256 out of the signed headers.
    let object_put = method == "PUT" && req.path.starts_with("/n/");
    if matches!(method, "POST" | "PUT") && !object_put {
        for required in ["content-length", "content-type", "x-content-sha256"] {
            if !has(required) {
                return Err(format!("{required} is not signed on a {method}"));
            }
        }
        let sha = header("x-content-sha256").ok_or("no x-content-sha256 header")?;
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &req.body);
        if sha != base64::engine::general_purpose::STANDARD.encode(d.as_ref()) {
            return Err("x-content-sha256 is not the body's".into());
        }
        let len = header("content-length").ok_or("no content-length header")?;
        if len.trim() != req.body.len().to_string() {
            return Err("content-length is not the body's".into());
        }
    }
    let date = header(date_header).ok_or(format!("no {date_header} header"))?;
    let when = parse_http_date(&date).ok_or("the date is not an HTTP date")?;
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    if (now - when).abs() > MAX_SKEW_SECS {
        return Err("the date is more than 5 minutes off".into());
    }
    let mut lines = Vec::new();
    for n in &names {
        let value = if n == "(request-target)" {
            let target = if req.query.is_empty() {
                req.path.clone()
            } else {
                format!("{}?{}", req.path, req.query)
            };
            format!("{} {target}", method.to_ascii_lowercase())
        } else {
            header(n).ok_or(format!("signed header {n} is missing"))?
        };
        lines.push(format!("{n}: {value}"));
    }
    let signing_string = lines.join("\n");
    let sig = base64::engine::general_purpose::STANDARD
        .decode(get("signature")?)
        .map_err(|_| "the signature is not base64")?;
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        &key.public_spki_der,
    )
    .verify(signing_string.as_bytes(), &sig)
    .map_err(|_| "the signature does not verify".to_string())
}

#[cfg(test)]
#[path = "oci_tests.rs"]
mod tests;
