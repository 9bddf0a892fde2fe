//! **TEST DOUBLE — never shipped.** A stand-in for the `oracle/oci` Terraform provider, so the
//! offline tests (`tests/stack_oci.rs`) can init, plan and apply Layer 1 (`terraform/oci`) on
//! real Terraform cores without an Oracle Cloud account or the network. It is an example target
//! (`cargo test` builds it to `target/debug/examples/oci-test-double`), not a binary; the tests
//! serve it from a plugin directory under the real address `registry.terraform.io/oracle/oci`,
//! as version 8.28.0.
//!
//! What it does:
//! - It serves the resources and data sources Layer 1 uses, each with the attributes the layer
//!   sets or reads, flagged as oracle/terraform-provider-oci v8.28.0 flags them in
//!   `internal/service/…` (each resource cites its file, `oci/resources.rs`): required,
//!   optional, optional-and-computed (unknown on create, then kept), computed; `ForceNew` at
//!   every depth, so a change upstream would replace plans a replacement here too; `TypeSet`
//!   blocks as sets; `TypeInt` refusing fractions as the Go SDK does; `Default`s. The SDK's
//!   plan rules for nested blocks live in `oci/spec.rs`.
//! - Create keeps the plan and fills the computed attributes: ids `ocid1.<kind>.oc1..<random>`
//!   (network load balancer parts: upstream's composite ids), private IPs as configured
//!   (`create_vnic_details.private_ip`) or else from 10.0.1.0/24, public IPs from
//!   203.0.113.0/24 (TEST-NET-3, RFC 5737, so nothing real is ever named), and for anything
//!   else unset what the service would report or the Go zero value. Update keeps the plan
//!   likewise, delete does nothing.
//! - Read returns the state unchanged but for what the API stores differently: a budget alert
//!   threshold is a float32 there, so 0.01 reads back as 0.009999999776482582, and the plan
//!   hides that difference as upstream's `MonetaryDiffSuppress` does.
//! - It keeps no store between runs. Objects found through data sources are derived from their
//!   parent's id instead: an instance id ends in its private IP as 8 hex digits, and its VNIC
//!   and private-IP ids share the instance id's suffix, so `oci_core_vnic_attachments` and
//!   `oci_core_private_ips` answer the same thing on every plan (an empty plan after apply).
//!   With `OCI_DOUBLE_SECONDARY_PRIVATE_IPS=N` in Terraform's environment, every VNIC also has
//!   N secondary private IPs, listed before its primary one (the API promises no order).
//!
//! Where it cannot follow upstream, because upstream relies on Terraform tolerating the legacy
//! SDK's inconsistent results and the framework serves only the strict protocol: apply returns
//! exactly the plan (the float32 threshold appears at the next refresh, not at create), and an
//! optional-and-computed block the configuration omits (the bastion's `shape_config`) stays
//! empty instead of holding what the cloud chose.
//!
//! What it must not do: import anything from `freetier::provider` or `freetier::rules`. It uses
//! only the framework and the plugin host, as any third-party provider built on them would.

#[path = "oci/resources.rs"]
mod resources;
#[path = "oci/spec.rs"]
mod spec;

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use freetier::framework::*;
use freetier::plugin::{self, HostOptions};

use resources::{resources, Double};

/// The address the double is served under: the real provider's.
const ADDRESS: &str = "registry.terraform.io/oracle/oci";

fn main() -> ExitCode {
    let debug = std::env::args().skip(1).any(|a| a == "--debug");
    match plugin::run(
        Arc::new(OciDouble),
        HostOptions {
            address: ADDRESS.to_string(),
            debug,
        },
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oci-test-double: {e}");
            ExitCode::FAILURE
        }
    }
}

// ------------------------------------------------------------------ schema helpers

fn req(name: &str, ty: Type) -> Attribute {
    Attribute::typed(name, ty)
        .required()
        .description(&format!("`{name}` (test double)."))
}

fn opt(name: &str, ty: Type) -> Attribute {
    Attribute::typed(name, ty)
        .optional()
        .description(&format!("`{name}` (test double)."))
}

/// A computed attribute. A cloud object keeps its ids and addresses across in-place updates,
/// so every computed value keeps its prior state.
fn out(name: &str, ty: Type) -> Attribute {
    Attribute::typed(name, ty)
        .computed()
        .use_state_for_unknown()
        .description(&format!("`{name}`, set by the cloud (test double)."))
}

fn s() -> Type {
    Type::String
}

fn b() -> Type {
    Type::Bool
}

/// Shorthands for building blocks.
trait BlockExt {
    /// Adds attributes.
    fn with(self, attrs: Vec<Attribute>) -> Self;
}

impl BlockExt for Block {
    fn with(mut self, attrs: Vec<Attribute>) -> Self {
        for a in attrs {
            self = self.attribute(a);
        }
        self
    }
}

// ------------------------------------------------------------------ generated values

/// Random lowercase base32 characters, as in real OCIDs.
fn random_chars(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = vec![0u8; len];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: fall back to the clock, which is unique enough for a test run.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = (nanos >> ((i * 5) % 120)) as u8 ^ (i as u8).wrapping_mul(31);
        }
    }
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b % 32)] as char)
        .collect()
}

fn ocid(kind: &str, suffix: &str) -> String {
    format!("ocid1.{kind}.oc1..{suffix}")
}

fn random_ocid(kind: &str) -> String {
    ocid(kind, &format!("aaaaaaaa{}", random_chars(24)))
}

/// The part of an OCID after `..`.
fn suffix(id: &str) -> Option<&str> {
    id.split_once("..").map(|(_, s)| s)
}

/// The OCID of an object derived from `parent` (same suffix, another kind).
fn derived(parent: &str, kind: &str) -> Option<String> {
    suffix(parent).map(|s| ocid(kind, s))
}

/// An instance OCID that carries its private IP, so data sources can find it again.
fn instance_ocid(private_ip: Ipv4Addr) -> String {
    ocid(
        "instance",
        &format!("aaaaaaaa{}{:08x}", random_chars(16), u32::from(private_ip)),
    )
}

/// The private IP carried by an id made by [`instance_ocid`] (or derived from one).
fn ip_in(id: &str) -> Option<Ipv4Addr> {
    let s = suffix(id)?;
    let hex = s.get(s.len().checked_sub(8)?..)?;
    u32::from_str_radix(hex, 16).ok().map(Ipv4Addr::from)
}

/// A public address from TEST-NET-3 (203.0.113.0/24), never a real host.
fn test_net_3() -> String {
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    format!("203.0.113.{}", 1 + byte[0] % 254)
}

/// A private address from 10.0.1.0/24, for a VNIC whose configuration names none.
fn private_fallback() -> Ipv4Addr {
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    Ipv4Addr::new(10, 0, 1, 100 + byte[0] % 150)
}

/// FNV-1a, for stable ids of things the double invents (images).
fn stable_hash(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for p in parts {
        for byte in p.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    format!("{h:016x}")
}

/// The first element of a list-of-one nested block.
fn first<'a>(v: &'a Value, block: &str) -> &'a Value {
    v.attr(block)
        .as_seq()
        .and_then(|s| s.first())
        .unwrap_or(&Value::Null)
}

// ------------------------------------------------------------------ the provider

/// The double of the oracle/oci provider.
struct OciDouble;

#[async_trait]
impl Provider for OciDouble {
    fn type_name(&self) -> &'static str {
        "oci"
    }

    fn schema(&self) -> Schema {
        Schema {
            version: 0,
            block: Block::new("TEST DOUBLE of the oracle/oci provider; talks to no cloud.").with(
                vec![
                    opt("region", s()),
                    opt("tenancy_ocid", s()),
                    opt("user_ocid", s()),
                    opt("fingerprint", s()),
                    opt("private_key_path", s()),
                    opt("private_key", s()).sensitive(),
                    opt("config_file_profile", s()),
                    opt("auth", s()),
                ],
            ),
        }
    }

    async fn configure(
        &self,
        _ctx: &Ctx,
        _config: &Value,
        _diags: &mut Diagnostics,
    ) -> Option<ProviderData> {
        Some(Arc::new(()))
    }

    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        resources()
            .into_iter()
            .map(|r| Arc::new(r) as Arc<dyn Resource>)
            .collect()
    }

    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        data_sources()
            .into_iter()
            .map(|d| Arc::new(d) as Arc<dyn DataSource>)
            .collect()
    }
}

// ------------------------------------------------------------------ resources

#[async_trait]
impl Resource for Double {
    fn type_name(&self) -> &'static str {
        self.type_name
    }

    fn schema(&self) -> Schema {
        Schema {
            version: 0,
            block: self.block.clone(),
        }
    }

    async fn create(&self, _ctx: &Ctx, req: CreateRequest, resp: &mut StateResponse) {
        let mut state = req.planned;
        if state.attr("id").is_unknown() {
            state.set_attr("id", Value::from((self.id)(&state)));
        }
        (self.fill)(&mut state);
        self.spec.settle(&mut state, &self.cloud);
        resp.state = state;
    }

    async fn read(&self, _ctx: &Ctx, _req: ReadRequest, resp: &mut StateResponse) {
        // Nothing drifts in a cloud that does not exist; only what the API stores differently
        // from what it was sent (a float32 threshold) comes back changed.
        (self.refresh)(&mut resp.state);
    }

    async fn update(&self, ctx: &Ctx, req: UpdateRequest, resp: &mut StateResponse) {
        let create = CreateRequest {
            config: req.config,
            planned: req.planned,
            private: req.private,
        };
        self.create(ctx, create, resp).await;
    }

    async fn delete(&self, _ctx: &Ctx, _req: DeleteRequest, _resp: &mut StateResponse) {}

    fn as_validate_config(&self) -> Option<&dyn ValidateConfig> {
        Some(self)
    }

    fn as_modify_plan(&self) -> Option<&dyn ModifyPlan> {
        Some(self)
    }
}

impl ValidateConfig for Double {
    fn validate_config(&self, config: &Value, diags: &mut Diagnostics) {
        self.spec.validate(config, &AttributePath::default(), diags);
    }
}

#[async_trait]
impl ModifyPlan for Double {
    async fn modify_plan(&self, _ctx: &Ctx, req: PlanRequest<'_>, resp: &mut PlanResponse) {
        self.spec.plan_nested(
            req.prior,
            &mut resp.planned,
            req.config,
            &AttributePath::default(),
            &mut resp.requires_replace,
        );
        (self.plan)(req.prior, &mut resp.planned, &mut resp.requires_replace);
    }
}

// ------------------------------------------------------------------ data sources

/// One data source of the double: its schema and how read fills its results.
struct Lookup {
    type_name: &'static str,
    block: Block,
    read: fn(&mut Value),
}

fn lookup(type_name: &'static str, attrs: Vec<Attribute>, read: fn(&mut Value)) -> Lookup {
    let block = Block::new(&format!("TEST DOUBLE of `{type_name}`."))
        .attribute(
            Attribute::string("id")
                .computed()
                .description("A stable id for the query."),
        )
        .with(attrs);
    Lookup {
        type_name,
        block,
        read,
    }
}

fn data_sources() -> Vec<Lookup> {
    vec![
        // internal/service/identity/identity_availability_domains_data_source.go (v8.28.0).
        lookup(
            "oci_identity_availability_domains",
            vec![
                req("compartment_id", s()),
                out(
                    "availability_domains",
                    Type::list(Type::object([
                        ("id", s()),
                        ("name", s()),
                        ("compartment_id", s()),
                    ])),
                ),
            ],
            |st| {
                let compartment = st.attr("compartment_id").clone();
                let ads = (1..=3)
                    .map(|i| {
                        Value::object([
                            (
                                "id",
                                Value::from(ocid("availabilitydomain", &format!("test{i}"))),
                            ),
                            ("name", Value::from(format!("Test:TEST-REGION-1-AD-{i}"))),
                            ("compartment_id", compartment.clone()),
                        ])
                    })
                    .collect();
                st.set_attr("availability_domains", Value::List(ads));
            },
        ),
        // internal/service/core/core_images_data_source.go (v8.28.0).
        lookup(
            "oci_core_images",
            vec![
                req("compartment_id", s()),
                opt("operating_system", s()),
                opt("operating_system_version", s()),
                opt("shape", s()),
                opt("sort_by", s()),
                opt("sort_order", s()),
                opt("state", s()),
                out(
                    "images",
                    Type::list(Type::object([
                        ("id", s()),
                        ("display_name", s()),
                        ("operating_system", s()),
                        ("operating_system_version", s()),
                    ])),
                ),
            ],
            |st| {
                let os = st
                    .attr("operating_system")
                    .as_str()
                    .unwrap_or("Oracle Linux")
                    .to_string();
                let version = st
                    .attr("operating_system_version")
                    .as_str()
                    .unwrap_or("9")
                    .to_string();
                let shape = st.attr("shape").as_str().unwrap_or("").to_string();
                let id = ocid(
                    "image",
                    &format!("aaaaaaaa{}", stable_hash(&[&os, &version, &shape])),
                );
                let image = Value::object([
                    ("id", Value::from(id)),
                    (
                        "display_name",
                        Value::from(format!("{os}-{version}-test-double")),
                    ),
                    ("operating_system", Value::from(os)),
                    ("operating_system_version", Value::from(version)),
                ]);
                st.set_attr("images", Value::List(vec![image]));
            },
        ),
        // internal/service/core/core_vnic_attachments_data_source.go (v8.28.0).
        lookup(
            "oci_core_vnic_attachments",
            vec![
                req("compartment_id", s()),
                opt("availability_domain", s()),
                opt("instance_id", s()),
                opt("vnic_id", s()),
                out(
                    "vnic_attachments",
                    Type::list(Type::object([
                        ("id", s()),
                        ("instance_id", s()),
                        ("vnic_id", s()),
                        ("state", s()),
                    ])),
                ),
            ],
            |st| {
                let attachments = match st.attr("instance_id").as_str() {
                    Some(instance) => vec![Value::object([
                        ("id", Value::from(derived(instance, "vnicattachment"))),
                        ("instance_id", Value::from(instance)),
                        ("vnic_id", Value::from(derived(instance, "vnic"))),
                        ("state", Value::from("ATTACHED")),
                    ])],
                    None => Vec::new(),
                };
                st.set_attr("vnic_attachments", Value::List(attachments));
            },
        ),
        // internal/service/core/core_private_ips_data_source.go (v8.28.0).
        lookup(
            "oci_core_private_ips",
            vec![
                opt("vnic_id", s()),
                opt("subnet_id", s()),
                opt("ip_address", s()),
                out(
                    "private_ips",
                    Type::list(Type::object([
                        ("id", s()),
                        ("ip_address", s()),
                        ("is_primary", b()),
                        ("vnic_id", s()),
                    ])),
                ),
            ],
            |st| {
                let ips = match st.attr("vnic_id").as_str() {
                    Some(vnic) => private_ips(vnic),
                    None => Vec::new(),
                };
                st.set_attr("private_ips", Value::List(ips));
            },
        ),
    ]
}

/// The private IPs of a VNIC made for an instance: its primary one (the address carried in
/// the id), after `OCI_DOUBLE_SECONDARY_PRIVATE_IPS` secondary ones.
fn private_ips(vnic: &str) -> Vec<Value> {
    let secondaries: u32 = std::env::var("OCI_DOUBLE_SECONDARY_PRIVATE_IPS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
        .min(20);
    let primary = ip_in(vnic);
    let entry = |id: Option<String>, ip: Option<Ipv4Addr>, is_primary: bool| {
        Value::object([
            ("id", Value::from(id)),
            ("ip_address", Value::from(ip.map(|ip| ip.to_string()))),
            ("is_primary", Value::Bool(is_primary)),
            ("vnic_id", Value::from(vnic)),
        ])
    };
    let mut ips: Vec<Value> = (1..=secondaries)
        .map(|k| {
            let id = suffix(vnic).map(|s| ocid("privateip", &format!("{s}s{k}")));
            let ip = primary.map(|p| Ipv4Addr::from(u32::from(p).wrapping_add(200 + k)));
            entry(id, ip, false)
        })
        .collect();
    ips.push(entry(derived(vnic, "privateip"), primary, true));
    ips
}

#[async_trait]
impl DataSource for Lookup {
    fn type_name(&self) -> &'static str {
        self.type_name
    }

    fn schema(&self) -> Schema {
        Schema {
            version: 0,
            block: self.block.clone(),
        }
    }

    async fn read(&self, _ctx: &Ctx, config: &Value, resp: &mut DataResponse) {
        let mut state = config.clone();
        (self.read)(&mut state);
        let id = stable_hash(&[self.type_name, &format!("{config:?}")]);
        state.set_attr("id", Value::from(id));
        resp.state = state;
    }
}
