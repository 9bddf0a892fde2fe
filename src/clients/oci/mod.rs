//! The Oracle Cloud Infrastructure API client `freetier validate` needs: the Usage API's
//! `RequestSummarizedUsages`, the Limits API's `GetResourceAvailability`, the Budgets API's
//! `ListBudgets` and `ListAlertRules`, and Identity's `ListAvailabilityDomains` (the names the
//! Limits API's availability-domain parameter takes). Requests are signed as Oracle's
//! "Request Signatures" page specifies ([`signer`]), with the API key a profile of the OCI
//! configuration file names ([`config`], [`key`]), on reqwest.
//!
//! - Endpoints come from the profile's region, one host per service as Oracle's SDKs build
//!   them (oracle/oci-go-sdk `SetRegion` in each service's client): `usageapi.{region}`,
//!   `limits.{region}`, `usage.{region}` (Budgets) and `identity.{region}`, each under
//!   `oci.oraclecloud.com`. [`Endpoints::single`] sends every service to one base URL (the
//!   lab's endpoint, a proxy).
//! - TLS: the system's trust store for Oracle's endpoints; or, with a CA certificate given,
//!   that CA and nothing else (the lab's). Certificates are always verified, host names too.
//! - Every call takes a [`Call`]: a cancellation token and a timeout.
//! - The key never leaves [`key::PrivateKey`]; `Debug` shows only OCIDs and the fingerprint.
//!
//! Knows nothing of Terraform. Must not import: the framework, the provider, or the lab.

pub mod config;
pub mod error;
pub mod key;
pub mod signer;
pub mod storage;
pub mod types;

use std::fmt;

use reqwest::Method;
use serde::de::DeserializeOwned;

pub use config::{ConfigError, Profile};
pub use error::Error;
pub use key::PrivateKey;
pub use signer::Signer;
pub use types::{
    AlertRuleSummary, AvailabilityDomain, BudgetSummary, RequestSummarizedUsagesDetails,
    ResourceAvailability, UsageAggregation, UsageSummary,
};

use super::Call;

/// Most pages a listing follows (`opc-next-page`).
const MAX_PAGES: usize = 50;

/// Where each service answers: base URLs without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The Usage API (`/20200107/usage`).
    pub usage: String,
    /// The Limits API (`/20190729/...`).
    pub limits: String,
    /// The Budgets API (`/20190111/budgets`).
    pub budgets: String,
    /// Identity (`/20160918/availabilityDomains`).
    pub identity: String,
    /// Object Storage (`/n/...`).
    pub object_storage: String,
    /// Core Services: Compute (`/20160918/images`).
    pub core: String,
}

impl Endpoints {
    /// Oracle's endpoints for `region` in the commercial realm (`oraclecloud.com`), with the
    /// host names Oracle's SDKs use: `usageapi.` for the Usage API, `limits.`, `usage.` for
    /// Budgets, `identity.`.
    pub fn for_region(region: &str) -> Endpoints {
        let host = |service: &str| format!("https://{service}.{region}.oci.oraclecloud.com");
        Endpoints {
            usage: host("usageapi"),
            limits: host("limits"),
            budgets: host("usage"),
            identity: host("identity"),
            // oci-go-sdk `objectstorage` and `core` clients' `SetRegion`: `objectstorage.` and
            // `iaas.` under the realm's domain.
            object_storage: format!("https://objectstorage.{region}.oraclecloud.com"),
            core: format!("https://iaas.{region}.oraclecloud.com"),
        }
    }

    /// Every service at one base URL (`https://HOST:PORT`).
    pub fn single(base: &str) -> Endpoints {
        let b = base.trim_end_matches('/').to_string();
        Endpoints {
            usage: b.clone(),
            limits: b.clone(),
            budgets: b.clone(),
            identity: b.clone(),
            object_storage: b.clone(),
            core: b,
        }
    }
}

/// An OCI API client for one user and tenancy.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoints: Endpoints,
    signer: Signer,
    tenancy: String,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoints", &self.endpoints)
            .field("key_id", &self.signer.key_id())
            .finish()
    }
}

impl Client {
    /// A client for `profile`: loads its key (checking the key's fingerprint against the
    /// profile's), and talks to its region's endpoints, or to `endpoint` for every service.
    /// With `ca_pem`, TLS trusts that CA and nothing else.
    pub fn from_profile(
        profile: &Profile,
        endpoint: Option<&str>,
        ca_pem: Option<&str>,
    ) -> Result<Client, Error> {
        let pass = profile.pass_phrase.as_ref().map(config::Secret::expose);
        let key = PrivateKey::from_file(&profile.key_file, pass).map_err(|e| key::KeyError {
            message: format!("{} (key_file at {})", e.message, profile.at("key_file")),
            ..e
        })?;
        if key.fingerprint() != profile.fingerprint {
            return Err(Error::Config(ConfigError::Invalid {
                path: profile.path.clone(),
                line: profile.lines.get("fingerprint").copied().unwrap_or(0),
                key: "fingerprint".into(),
                message: format!(
                    "is {}, but the key in {} has fingerprint {}: point key_file at the key \
                     you uploaded, or fingerprint at this key's (see {})",
                    profile.fingerprint,
                    profile.key_file.display(),
                    key.fingerprint(),
                    key::KEY_DOC
                ),
            }));
        }
        let signer = Signer::new(&profile.tenancy, &profile.user, &profile.fingerprint, key);
        let endpoints = match endpoint {
            Some(e) => Endpoints::single(e),
            None => Endpoints::for_region(&profile.region),
        };
        Client::new(signer, &profile.tenancy, endpoints, ca_pem)
    }

    /// A client signing with `signer` for `tenancy`.
    pub fn new(
        signer: Signer,
        tenancy: &str,
        endpoints: Endpoints,
        ca_pem: Option<&str>,
    ) -> Result<Client, Error> {
        for url in [
            &endpoints.usage,
            &endpoints.limits,
            &endpoints.budgets,
            &endpoints.identity,
            &endpoints.object_storage,
            &endpoints.core,
        ] {
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| Error::Settings(format!("endpoint {url}: {e}")))?;
            if parsed.scheme() != "https" || parsed.host_str().is_none() {
                return Err(Error::Settings(format!(
                    "endpoint {url} is not an https:// URL with a host"
                )));
            }
        }
        let mut builder = reqwest::Client::builder()
            .https_only(true)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = ca_pem {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|e| {
                Error::Settings(format!("the CA certificate is not PEM: {}", chain(&e)))
            })?;
            builder = builder.tls_certs_only([cert]);
        }
        let http = builder
            .build()
            .map_err(|e| Error::Settings(format!("http client: {}", chain(&e))))?;
        Ok(Client {
            http,
            endpoints,
            signer,
            tenancy: tenancy.to_string(),
        })
    }

    /// The tenancy's OCID (also the root compartment's).
    pub fn tenancy(&self) -> &str {
        &self.tenancy
    }

    /// The endpoints in use.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// `POST /20200107/usage` (Usage API `RequestSummarizedUsages`), first page.
    pub async fn request_summarized_usages(
        &self,
        details: &RequestSummarizedUsagesDetails,
        call: &Call,
    ) -> Result<UsageAggregation, Error> {
        let body = serde_json::to_vec(details)
            .map_err(|e| Error::Settings(format!("usage request: {e}")))?;
        let (agg, _) = self
            .exchange(
                Method::POST,
                &self.endpoints.usage,
                "/20200107/usage",
                &[],
                Some(body),
                call,
            )
            .await?;
        Ok(agg)
    }

    /// `GET /20190729/services/{service}/limits/{limit}/resourceAvailability` (Limits API
    /// `GetResourceAvailability`) in `compartment`; `availability_domain` is required for
    /// limits scoped to an availability domain and must be left out otherwise.
    pub async fn get_resource_availability(
        &self,
        service: &str,
        limit: &str,
        compartment: &str,
        availability_domain: Option<&str>,
        call: &Call,
    ) -> Result<ResourceAvailability, Error> {
        let path = format!(
            "/20190729/services/{}/limits/{}/resourceAvailability",
            encode(service),
            encode(limit)
        );
        let mut query = vec![("compartmentId", compartment)];
        if let Some(ad) = availability_domain {
            query.push(("availabilityDomain", ad));
        }
        let (ra, _) = self
            .exchange(
                Method::GET,
                &self.endpoints.limits,
                &path,
                &query,
                None,
                call,
            )
            .await?;
        Ok(ra)
    }

    /// `GET /20160918/availabilityDomains` (Identity `ListAvailabilityDomains`).
    pub async fn list_availability_domains(
        &self,
        compartment: &str,
        call: &Call,
    ) -> Result<Vec<AvailabilityDomain>, Error> {
        let (ads, _) = self
            .exchange(
                Method::GET,
                &self.endpoints.identity,
                "/20160918/availabilityDomains",
                &[("compartmentId", compartment)],
                None,
                call,
            )
            .await?;
        Ok(ads)
    }

    /// `GET /20190111/budgets` (Budgets `ListBudgets`) in `compartment`, every target type,
    /// every page.
    pub async fn list_budgets(
        &self,
        compartment: &str,
        call: &Call,
    ) -> Result<Vec<BudgetSummary>, Error> {
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![("compartmentId", compartment), ("targetType", "ALL")];
            if let Some(p) = &page {
                query.push(("page", p.as_str()));
            }
            let (items, next): (Vec<BudgetSummary>, _) = self
                .exchange(
                    Method::GET,
                    &self.endpoints.budgets,
                    "/20190111/budgets",
                    &query,
                    None,
                    call,
                )
                .await?;
            out.extend(items);
            match next {
                Some(n) if !n.is_empty() => page = Some(n),
                _ => break,
            }
        }
        Ok(out)
    }

    /// `GET /20190111/budgets/{budgetId}/alertRules` (Budgets `ListAlertRules`).
    pub async fn list_alert_rules(
        &self,
        budget_id: &str,
        call: &Call,
    ) -> Result<Vec<AlertRuleSummary>, Error> {
        let path = format!("/20190111/budgets/{}/alertRules", encode(budget_id));
        let (rules, _) = self
            .exchange(Method::GET, &self.endpoints.budgets, &path, &[], None, call)
            .await?;
        Ok(rules)
    }

    /// One signed exchange: the body decoded as `T`, and `opc-next-page`.
    async fn exchange<T: DeserializeOwned>(
        &self,
        method: Method,
        base: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
        call: &Call,
    ) -> Result<(T, Option<String>), Error> {
        let what = format!("{method} {path}");
        let body = match body {
            Some(b) => Body::Json(b),
            None => Body::None,
        };
        let answer = self.send(method, base, path, query, body, call).await?;
        let value = serde_json::from_slice::<T>(&answer.bytes).map_err(|e| Error::Decode {
            what: what.clone(),
            detail: format!("{e}: {}", error::excerpt(&answer.bytes)),
        })?;
        Ok((value, answer.header("opc-next-page")))
    }

    /// One signed exchange, its 2xx answer's headers and body as they came.
    async fn send(
        &self,
        method: Method,
        base: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Body,
        call: &Call,
    ) -> Result<Answer, Error> {
        let what = format!("{method} {path}");
        let mut url_text = format!("{base}{path}");
        if !query.is_empty() {
            url_text.push('?');
            let pairs: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            url_text.push_str(&pairs.join("&"));
        }
        let url = reqwest::Url::parse(&url_text)
            .map_err(|e| Error::Settings(format!("{url_text}: {e}")))?;
        // What is signed is what reqwest sends: the parsed URL's path and query, and the Host
        // header hyper derives from it (the port only when it is not 443).
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err(Error::Settings(format!("{url_text} has no host"))),
        };
        let date = signer::http_date(time::OffsetDateTime::now_utc());
        let (content_type, bytes, unsigned) = match body {
            Body::None => ("application/json", Vec::new(), false),
            Body::Json(b) => ("application/json", b, false),
            Body::Object(b) => ("application/octet-stream", b, true),
        };
        let req = signer::Request {
            method: method.as_str(),
            host: &host,
            target: &target,
            date: &date,
            body: if signer::signs_body(method.as_str()) {
                Some((content_type, &bytes))
            } else {
                None
            },
        };
        let headers = if unsigned {
            self.signer.sign_unsigned_body(&req)
        } else {
            self.signer.sign(&req)
        }
        .map_err(Error::Settings)?;
        let mut rb = self
            .http
            .request(method.clone(), url.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        for (name, value) in headers {
            // hyper computes content-length from the body it sends, which is what was signed.
            if name == "content-length" {
                continue;
            }
            let mut v = reqwest::header::HeaderValue::from_str(&value)
                .map_err(|_| Error::Settings(format!("header {name} is not valid")))?;
            if name == "authorization" {
                v.set_sensitive(true);
            }
            rb = rb.header(name, v);
        }
        if unsigned {
            rb = rb.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        if signer::signs_body(method.as_str()) {
            rb = rb.body(bytes);
        }
        tracing::debug!(call = %what, "oci api call");
        let origin = format!("{}://{host}", url.scheme());
        let exchange = async {
            let resp = rb.send().await.map_err(|e| Error::Connect {
                url: origin.clone(),
                detail: chain(&e),
            })?;
            let status = resp.status().as_u16();
            let header = |n: &str| {
                resp.headers()
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let request_id = header("opc-request-id");
            let headers = resp.headers().clone();
            let bytes = resp.bytes().await.map_err(|e| Error::Connect {
                url: origin.clone(),
                detail: chain(&e),
            })?;
            Ok::<_, Error>((status, request_id, headers, bytes))
        };
        let (status, request_id, headers, bytes) = tokio::select! {
            biased;
            _ = call.cancel.cancelled() => return Err(Error::Cancelled { what }),
            r = tokio::time::timeout(call.timeout, exchange) => match r {
                Ok(r) => r?,
                Err(_) => return Err(Error::Timeout { what, after: call.timeout }),
            },
        };
        if !(200..300).contains(&status) {
            return Err(Error::from_answer(what, status, &bytes, request_id));
        }
        Ok(Answer { headers, bytes })
    }
}

/// What a request sends.
enum Body {
    /// Nothing (a GET, or a POST with an empty body).
    None,
    /// JSON, signed (`x-content-sha256`).
    Json(Vec<u8>),
    /// Object Storage PUT bytes, not signed.
    Object(Vec<u8>),
}

/// A 2xx answer.
struct Answer {
    headers: reqwest::header::HeaderMap,
    bytes: bytes::Bytes,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An error and its causes, joined.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_endpoints_use_oracles_service_hosts() {
        let e = Endpoints::for_region("eu-frankfurt-1");
        assert_eq!(
            e.usage,
            "https://usageapi.eu-frankfurt-1.oci.oraclecloud.com"
        );
        assert_eq!(
            e.limits,
            "https://limits.eu-frankfurt-1.oci.oraclecloud.com"
        );
        assert_eq!(
            e.budgets,
            "https://usage.eu-frankfurt-1.oci.oraclecloud.com"
        );
        assert_eq!(
            e.identity,
            "https://identity.eu-frankfurt-1.oci.oraclecloud.com"
        );
        assert_eq!(
            Endpoints::single("https://127.1.2.10:8443/").usage,
            "https://127.1.2.10:8443"
        );
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("Uocm:PHX-AD-1"), "Uocm%3APHX-AD-1");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
        assert_eq!(encode("ocid1.tenancy.oc1..aaaa"), "ocid1.tenancy.oc1..aaaa");
    }

    #[test]
    fn a_key_whose_fingerprint_is_not_the_profiles_is_refused_before_any_call() {
        let dir = tempfile::tempdir().expect("dir");
        let (pem, _) = key::tests::pkcs8_pem();
        let key_path = dir.path().join("key.pem");
        std::fs::write(&key_path, pem).expect("write");
        let cfg = dir.path().join("config");
        let text = format!(
            "[DEFAULT]\nuser=ocid1.user.oc1..u\nfingerprint=00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00\nkey_file={}\ntenancy=ocid1.tenancy.oc1..t\nregion=us-ashburn-1\n",
            key_path.display()
        );
        std::fs::write(&cfg, text).expect("write");
        let p = config::load(&cfg, "DEFAULT").expect("profile");
        let e = Client::from_profile(&p, None, None).expect_err("mismatch");
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("{}:3: `fingerprint` is 00:00", cfg.display())),
            "{msg}"
        );
        assert_eq!(e.kind(), super::super::ErrorKind::Fatal);
        let (pem, _) = key::tests::pkcs8_pem();
        let k = PrivateKey::from_pem(&pem, None).expect("key");
        let fp = k.fingerprint().to_string();
        let signer = Signer::new("t", "u", &fp, k);
        let e =
            Client::new(signer, "t", Endpoints::single("http://plain"), None).expect_err("http");
        assert!(e.to_string().contains("is not an https:// URL"), "{e}");
    }
}
