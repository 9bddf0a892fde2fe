//! **TEST DOUBLE — never shipped.** A stand-in for the `oracle/oci` Terraform provider, so the
//! offline tests (`tests/stack_oci.rs`) can init, plan and apply Layer 1 (`terraform/oci`) on
//! real Terraform cores without an Oracle Cloud account or the network. It is an example target
//! (`cargo test` builds it to `target/debug/examples/oci-test-double`), not a binary; the tests
//! serve it from a plugin directory under the real address `registry.terraform.io/oracle/oci`.
//!
//! What it does:
//! - It serves only the schema subset Layer 1 uses: every resource and data source the layer
//!   references, with the arguments the layer sets, named and typed as in the real provider
//!   (oracle/terraform-provider-oci `website/docs`; research: `../shared/research/oci_policy.md`
//!   §2). Nested `MaxItems: 1` blocks are lists, as in the Go SDK.
//! - Create keeps the plan and fills the computed attributes: ids `ocid1.<kind>.oc1..<random>`,
//!   private IPs as configured (`create_vnic_details.private_ip`) or else from 10.0.1.0/24,
//!   public IPs from 203.0.113.0/24 (TEST-NET-3, RFC 5737, so nothing real is ever named).
//!   Read returns the state unchanged, update keeps the plan, delete does nothing.
//! - It keeps no store between runs. Objects found through data sources are derived from their
//!   parent's id instead: an instance id ends in its private IP as 8 hex digits, and its VNIC
//!   and private-IP ids share the instance id's suffix, so `oci_core_vnic_attachments` and
//!   `oci_core_private_ips` answer the same thing on every plan (an empty plan after apply).
//!
//! What it must not do: import anything from `freetier::provider` or `freetier::rules`. It uses
//! only the framework and the plugin host, as any third-party provider built on them would.

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use freetier::framework::*;
use freetier::plugin::{self, HostOptions};

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

fn n() -> Type {
    Type::Number
}

fn b() -> Type {
    Type::Bool
}

fn strings() -> Type {
    Type::list(Type::String)
}

/// Shorthands for building blocks.
trait BlockExt {
    /// Adds attributes.
    fn with(self, attrs: Vec<Attribute>) -> Self;
    /// Adds a nested block used at most once (the Go SDK's `TypeList` with `MaxItems: 1`).
    fn one(self, name: &str, inner: Block) -> Self;
}

impl BlockExt for Block {
    fn with(mut self, attrs: Vec<Attribute>) -> Self {
        for a in attrs {
            self = self.attribute(a);
        }
        self
    }
    fn one(self, name: &str, inner: Block) -> Self {
        self.nested_bounded(name, Nesting::List, inner, 0, 1)
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

/// Sets `name` when the plan left it unknown.
fn fill(state: &mut Value, name: &str, v: impl FnOnce() -> Value) {
    if state.attr(name).is_unknown() {
        state.set_attr(name, v());
    }
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

/// One managed resource of the double: its schema, the OCID kind of its `id`, and how create
/// fills the rest of its computed attributes.
struct Double {
    type_name: &'static str,
    kind: &'static str,
    block: Block,
    fill: fn(&mut Value),
}

fn resource(
    type_name: &'static str,
    kind: &'static str,
    attrs: Vec<Attribute>,
    fill: fn(&mut Value),
) -> Double {
    let block = Block::new(&format!("TEST DOUBLE of `{type_name}`."))
        .attribute(out("id", s()))
        .attribute(out("state", s()))
        .with(attrs);
    Double {
        type_name,
        kind,
        block,
        fill,
    }
}

fn no_fill(_: &mut Value) {}

fn security_rule(direction: &str) -> Block {
    let peer = if direction == "ingress" {
        "source"
    } else {
        "destination"
    };
    let ports = || Block::new("Port range.").with(vec![opt("min", n()), opt("max", n())]);
    Block::new("A security rule.")
        .with(vec![
            req(peer, s()),
            req("protocol", s()),
            opt(&format!("{peer}_type"), s()),
            opt("stateless", b()),
            opt("description", s()),
        ])
        .one("tcp_options", ports())
        .one("udp_options", ports())
        .one(
            "icmp_options",
            Block::new("ICMP type and code.").with(vec![req("type", n()), opt("code", n())]),
        )
}

fn resources() -> Vec<Double> {
    vec![
        resource(
            "oci_core_vcn",
            "vcn",
            vec![
                req("compartment_id", s()),
                opt("cidr_blocks", strings()),
                opt("display_name", s()),
                opt("dns_label", s()),
                opt("freeform_tags", Type::map(s())),
                out("default_route_table_id", s()),
                out("default_security_list_id", s()),
                out("default_dhcp_options_id", s()),
            ],
            |st| {
                fill(st, "default_route_table_id", || {
                    random_ocid("routetable").into()
                });
                fill(st, "default_security_list_id", || {
                    random_ocid("securitylist").into()
                });
                fill(st, "default_dhcp_options_id", || {
                    random_ocid("dhcpoptions").into()
                });
            },
        ),
        resource(
            "oci_core_internet_gateway",
            "internetgateway",
            vec![
                req("compartment_id", s()),
                req("vcn_id", s()),
                opt("display_name", s()),
                opt("enabled", b()),
                opt("freeform_tags", Type::map(s())),
            ],
            no_fill,
        ),
        {
            let mut d = resource(
                "oci_core_route_table",
                "routetable",
                vec![
                    req("compartment_id", s()),
                    req("vcn_id", s()),
                    opt("display_name", s()),
                    opt("freeform_tags", Type::map(s())),
                ],
                no_fill,
            );
            d.block = d.block.nested(
                "route_rules",
                Nesting::List,
                Block::new("A route.").with(vec![
                    req("network_entity_id", s()),
                    opt("destination", s()),
                    opt("destination_type", s()),
                    opt("description", s()),
                ]),
            );
            d
        },
        {
            let mut d = resource(
                "oci_core_security_list",
                "securitylist",
                vec![
                    req("compartment_id", s()),
                    req("vcn_id", s()),
                    opt("display_name", s()),
                    opt("freeform_tags", Type::map(s())),
                ],
                no_fill,
            );
            d.block = d
                .block
                .nested(
                    "egress_security_rules",
                    Nesting::List,
                    security_rule("egress"),
                )
                .nested(
                    "ingress_security_rules",
                    Nesting::List,
                    security_rule("ingress"),
                );
            d
        },
        resource(
            "oci_core_subnet",
            "subnet",
            vec![
                req("cidr_block", s()),
                req("compartment_id", s()),
                req("vcn_id", s()),
                opt("display_name", s()),
                opt("dns_label", s()),
                opt("route_table_id", s()),
                opt("security_list_ids", Type::set(s())),
                opt("prohibit_public_ip_on_vnic", b()),
                opt("freeform_tags", Type::map(s())),
                out("virtual_router_ip", s()),
            ],
            |st| {
                let cidr = st
                    .attr("cidr_block")
                    .as_str()
                    .unwrap_or("10.0.1.0/24")
                    .to_string();
                let router = cidr
                    .split('/')
                    .next()
                    .and_then(|a| a.parse::<Ipv4Addr>().ok())
                    .map(|a| Ipv4Addr::from(u32::from(a) + 1).to_string());
                fill(st, "virtual_router_ip", || Value::from(router));
            },
        ),
        instance(),
        resource(
            "oci_core_public_ip",
            "publicip",
            vec![
                req("compartment_id", s()),
                req("lifetime", s()),
                opt("display_name", s()),
                opt("private_ip_id", s()),
                opt("freeform_tags", Type::map(s())),
                out("ip_address", s()),
                out("scope", s()),
                out("assigned_entity_id", s()),
            ],
            |st| {
                fill(st, "ip_address", || test_net_3().into());
                fill(st, "scope", || "REGION".into());
                let assigned = st.attr("private_ip_id").clone();
                fill(st, "assigned_entity_id", || assigned);
            },
        ),
        resource(
            "oci_network_load_balancer_network_load_balancer",
            "networkloadbalancer",
            vec![
                req("compartment_id", s()),
                req("display_name", s()),
                req("subnet_id", s()),
                opt("is_private", b()),
                opt("is_preserve_source_destination", b()),
                opt("network_security_group_ids", Type::set(s())),
                opt("freeform_tags", Type::map(s())),
                out(
                    "ip_addresses",
                    Type::list(Type::object([
                        ("ip_address", s()),
                        ("is_public", b()),
                        ("ip_version", s()),
                    ])),
                ),
            ],
            |st| {
                let public = st.attr("is_private").as_bool() == Some(false);
                let ip = if public {
                    test_net_3()
                } else {
                    private_fallback().to_string()
                };
                fill(st, "ip_addresses", || {
                    Value::List(vec![Value::object([
                        ("ip_address", Value::from(ip)),
                        ("is_public", Value::Bool(public)),
                        ("ip_version", Value::from("IPV4")),
                    ])])
                });
            },
        ),
        {
            let mut d = resource(
                "oci_network_load_balancer_backend_set",
                "nlbbackendset",
                vec![
                    req("name", s()),
                    req("network_load_balancer_id", s()),
                    req("policy", s()),
                    opt("is_preserve_source", b()),
                ],
                no_fill,
            );
            d.block = d.block.nested_bounded(
                "health_checker",
                Nesting::List,
                Block::new("Health check.").with(vec![
                    req("protocol", s()),
                    opt("port", n()),
                    opt("interval_in_millis", n()),
                    opt("retries", n()),
                    opt("timeout_in_millis", n()),
                ]),
                1,
                1,
            );
            d
        },
        resource(
            "oci_network_load_balancer_backend",
            "nlbbackend",
            vec![
                req("backend_set_name", s()),
                req("network_load_balancer_id", s()),
                req("port", n()),
                opt("name", s()),
                opt("target_id", s()),
                opt("ip_address", s()),
                opt("weight", n()),
                opt("is_backup", b()),
                opt("is_drain", b()),
                opt("is_offline", b()),
            ],
            no_fill,
        ),
        resource(
            "oci_network_load_balancer_listener",
            "nlblistener",
            vec![
                req("default_backend_set_name", s()),
                req("name", s()),
                req("network_load_balancer_id", s()),
                req("port", n()),
                req("protocol", s()),
            ],
            no_fill,
        ),
        resource(
            "oci_budget_budget",
            "budget",
            vec![
                req("amount", n()),
                req("compartment_id", s()),
                req("reset_period", s()),
                opt("description", s()),
                opt("display_name", s()),
                opt("target_type", s()),
                opt("targets", strings()),
                opt("freeform_tags", Type::map(s())),
                out("actual_spend", n()),
                out("forecasted_spend", n()),
            ],
            |st| {
                fill(st, "actual_spend", || Value::int(0));
                fill(st, "forecasted_spend", || Value::int(0));
            },
        ),
        resource(
            "oci_budget_alert_rule",
            "budgetalertrule",
            // `threshold` is a number (TypeFloat) in the real provider; 0.01 must round-trip
            // as the decimal Terraform sent (framework/number.rs `as_exact_f64`).
            vec![
                req("budget_id", s()),
                req("threshold", n()),
                req("threshold_type", s()),
                req("type", s()),
                opt("description", s()),
                opt("display_name", s()),
                opt("message", s()),
                opt("recipients", s()),
            ],
            no_fill,
        ),
    ]
}

fn instance() -> Double {
    let mut d = resource(
        "oci_core_instance",
        "instance",
        vec![
            req("availability_domain", s()),
            req("compartment_id", s()),
            req("shape", s()),
            opt("display_name", s()),
            opt("fault_domain", s()),
            opt("metadata", Type::map(s())),
            opt("preserve_boot_volume", b()),
            opt("freeform_tags", Type::map(s())),
            out("private_ip", s()),
            out("public_ip", s()),
            out("boot_volume_id", s()),
            out("region", s()),
        ],
        |st| {
            let vnic = first(st, "create_vnic_details");
            let private = vnic
                .attr("private_ip")
                .as_str()
                .and_then(|a| a.parse::<Ipv4Addr>().ok())
                .unwrap_or_else(private_fallback);
            // The real provider's assign_public_ip is a string defaulting to "true".
            let public = vnic
                .attr("assign_public_ip")
                .as_str()
                .is_none_or(|v| v.eq_ignore_ascii_case("true"));
            fill(st, "id", || instance_ocid(private).into());
            fill(st, "private_ip", || private.to_string().into());
            fill(st, "public_ip", || {
                if public {
                    test_net_3().into()
                } else {
                    "".into()
                }
            });
            let id = st.attr("id").as_str().unwrap_or_default().to_string();
            fill(st, "boot_volume_id", || {
                Value::from(derived(&id, "bootvolume"))
            });
            fill(st, "region", || "test-region-1".into());
        },
    );
    d.block = d
        .block
        .one(
            "shape_config",
            Block::new("Flexible shape size.").with(vec![
                opt("ocpus", n()),
                opt("memory_in_gbs", n()),
                opt("baseline_ocpu_utilization", s()),
            ]),
        )
        .one(
            "source_details",
            Block::new("Boot source.").with(vec![
                req("source_id", s()),
                req("source_type", s()),
                opt("boot_volume_size_in_gbs", s()),
                opt("boot_volume_vpus_per_gb", s()),
            ]),
        )
        .one(
            "create_vnic_details",
            Block::new("Primary VNIC.").with(vec![
                opt("subnet_id", s()),
                opt("assign_public_ip", s()),
                opt("assign_private_dns_record", b()),
                opt("private_ip", s()),
                opt("hostname_label", s()),
                opt("display_name", s()),
                opt("nsg_ids", Type::set(s())),
                opt("skip_source_dest_check", b()),
            ]),
        );
    d
}

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
        (self.fill)(&mut state);
        let kind = self.kind;
        fill(&mut state, "id", || random_ocid(kind).into());
        let lifecycle = if self.type_name == "oci_core_instance" {
            "RUNNING"
        } else {
            "AVAILABLE"
        };
        fill(&mut state, "state", || lifecycle.into());
        resp.state = state;
    }

    async fn read(&self, _ctx: &Ctx, _req: ReadRequest, _resp: &mut StateResponse) {
        // The state is the truth: nothing drifts in a cloud that does not exist.
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
                    Some(vnic) => vec![Value::object([
                        ("id", Value::from(derived(vnic, "privateip"))),
                        (
                            "ip_address",
                            Value::from(ip_in(vnic).map(|ip| ip.to_string())),
                        ),
                        ("is_primary", Value::Bool(true)),
                        ("vnic_id", Value::from(vnic)),
                    ])],
                    None => Vec::new(),
                };
                st.set_attr("private_ips", Value::List(ips));
            },
        ),
    ]
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
