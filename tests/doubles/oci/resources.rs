//! The managed resources Layer 1 uses, each with upstream's schema for the attributes the layer
//! sets or reads, flagged as oracle/terraform-provider-oci v8.28.0 flags them. The file named
//! on each is under `internal/service/` at tag v8.28.0; attributes the layer never touches
//! are left out, so using one fails at `validate` and sends the reader to that file.
//!
//! What is kept from upstream: `Required` / `Optional` / `Computed`, `ForceNew` (at every
//! depth), `TypeSet` blocks, `TypeInt`, `Default`, and the `DiffSuppressFunc` that hides the
//! budget threshold's 32-bit rounding. What the cloud answers for unset values is the
//! double's guess at the real service (`cloud`), else the Go zero value.

use std::net::Ipv4Addr;

use freetier::framework::*;

use crate::spec::*;
use crate::{derived, first, instance_ocid, ip_in, private_fallback, random_ocid, test_net_3};

/// One managed resource of the double.
pub struct Double {
    /// The resource type.
    pub type_name: &'static str,
    /// Upstream's schema, as a table.
    pub spec: Spec,
    /// The framework block derived from `spec`.
    pub block: Block,
    /// The `id` create gives it.
    pub id: fn(&Value) -> String,
    /// Fills top-level computed values on create and update (before `cloud`).
    pub fill: fn(&mut Value),
    /// What the cloud reports for an unset attribute, at any depth: (name, its object).
    pub cloud: fn(&str, &Value) -> Option<Value>,
    /// The resource's own plan step (upstream's `CustomizeDiff` and `DiffSuppressFunc`):
    /// prior (null on create), planned, replace paths.
    pub plan: fn(&Value, &mut Value, &mut Vec<AttributePath>),
    /// What a read changes in the stored state.
    pub refresh: fn(&mut Value),
}

impl Double {
    fn new(type_name: &'static str, upstream: &str, spec: Spec) -> Double {
        // The SDK adds `id` to every resource as optional and computed.
        let mut spec = spec;
        spec.fields.insert(0, string("id").computed());
        let block = spec.block(&format!(
            "TEST DOUBLE of `{type_name}`: oracle/terraform-provider-oci v8.28.0, \
             internal/service/{upstream}."
        ));
        Double {
            type_name,
            spec,
            block,
            id: |_| random_ocid("unknown"),
            fill: |_| {},
            cloud: |_, _| None,
            plan: |_, _, _| {},
            refresh: |_| {},
        }
    }
    fn id(mut self, id: fn(&Value) -> String) -> Self {
        self.id = id;
        self
    }
    fn fill(mut self, fill: fn(&mut Value)) -> Self {
        self.fill = fill;
        self
    }
    fn cloud(mut self, cloud: fn(&str, &Value) -> Option<Value>) -> Self {
        self.cloud = cloud;
        self
    }
    fn plan(mut self, plan: fn(&Value, &mut Value, &mut Vec<AttributePath>)) -> Self {
        self.plan = plan;
        self
    }
    fn refresh(mut self, refresh: fn(&mut Value)) -> Self {
        self.refresh = refresh;
        self
    }
}

/// The lifecycle state every object of a kind settles in.
fn lifecycle(name: &str, state: &'static str) -> Option<Value> {
    (name == "state").then(|| Value::from(state))
}

fn available(name: &str, _: &Value) -> Option<Value> {
    lifecycle(name, "AVAILABLE")
}

fn active(name: &str, _: &Value) -> Option<Value> {
    lifecycle(name, "ACTIVE")
}

/// Every resource of the double.
pub fn resources() -> Vec<Double> {
    vec![
        vcn(),
        internet_gateway(),
        route_table(),
        security_list(),
        subnet(),
        instance(),
        public_ip(),
        network_load_balancer(),
        backend_set(),
        backend(),
        listener(),
        budget(),
        alert_rule(),
    ]
}

/// core/core_vcn_resource.go.
fn vcn() -> Double {
    Double::new(
        "oci_core_vcn",
        "core/core_vcn_resource.go",
        Spec::new(vec![
            string("compartment_id").required(),
            string("cidr_block").computed().force_new(),
            string_list("cidr_blocks").computed(),
            string("display_name").computed(),
            string("dns_label").computed().force_new(),
            string_map("freeform_tags").computed(),
            string("default_dhcp_options_id").out(),
            string("default_route_table_id").out(),
            string("default_security_list_id").out(),
            string("state").out(),
        ]),
    )
    .id(|_| random_ocid("vcn"))
    .fill(|st| {
        if st.attr("cidr_block").is_unknown() {
            let first = st
                .attr("cidr_blocks")
                .as_seq()
                .and_then(|s| s.first())
                .cloned();
            st.set_attr("cidr_block", first.unwrap_or(Value::Null));
        }
        if st.attr("cidr_blocks").is_unknown() {
            let one = st.attr("cidr_block").clone();
            st.set_attr("cidr_blocks", Value::List(vec![one]));
        }
    })
    .cloud(|name, _| match name {
        "default_dhcp_options_id" => Some(random_ocid("dhcpoptions").into()),
        "default_route_table_id" => Some(random_ocid("routetable").into()),
        "default_security_list_id" => Some(random_ocid("securitylist").into()),
        _ => available(name, &Value::Null),
    })
}

/// core/core_internet_gateway_resource.go.
fn internet_gateway() -> Double {
    Double::new(
        "oci_core_internet_gateway",
        "core/core_internet_gateway_resource.go",
        Spec::new(vec![
            string("compartment_id").required(),
            string("vcn_id").required().force_new(),
            string("display_name").computed(),
            boolean("enabled").default(true),
            string_map("freeform_tags").computed(),
            string("route_table_id").computed(),
            string("state").out(),
        ]),
    )
    .id(|_| random_ocid("internetgateway"))
    .cloud(available)
}

/// core/core_route_table_resource.go: `route_rules` is a `TypeSet`.
fn route_table() -> Double {
    Double::new(
        "oci_core_route_table",
        "core/core_route_table_resource.go",
        Spec::new(vec![
            string("compartment_id").required(),
            string("vcn_id").required().force_new(),
            string("display_name").computed(),
            string_map("freeform_tags").computed(),
            string("state").out(),
        ])
        .set(
            "route_rules",
            Spec::new(vec![
                string("network_entity_id").required(),
                string("description").computed(),
                string("destination").computed(),
                string("destination_type").computed(),
                string("route_type").computed(),
            ]),
        ),
    )
    .id(|_| random_ocid("routetable"))
    .cloud(|name, obj| match name {
        "destination_type" => Some("CIDR_BLOCK".into()),
        "route_type" => Some("STATIC".into()),
        _ => available(name, obj),
    })
}

/// The port range of a TCP or UDP rule: `min` and `max` are `TypeInt`.
fn port_range() -> Spec {
    Spec::new(vec![int("max"), int("min")]).one(
        "source_port_range",
        false,
        Spec::new(vec![int("max").required(), int("min").required()]),
    )
}

/// One security rule; `peer` is `source` (ingress) or `destination` (egress).
fn security_rule(ingress: bool) -> Spec {
    let (peer, peer_type) = if ingress {
        ("source", "source_type")
    } else {
        ("destination", "destination_type")
    };
    // Ingress `stateless` has `Default: false`; egress `stateless` is optional and computed.
    let stateless = if ingress {
        boolean("stateless").default(false)
    } else {
        boolean("stateless").computed()
    };
    Spec::new(vec![
        string(peer).required(),
        string("protocol").required(),
        string("description").computed(),
        string(peer_type).computed(),
        stateless,
    ])
    .one(
        "icmp_options",
        false,
        Spec::new(vec![
            int("type").required(),
            int("code").default(Value::int(-1)),
        ]),
    )
    .one("tcp_options", false, port_range())
    .one("udp_options", false, port_range())
}

/// core/core_security_list_resource.go: both rule lists are `TypeSet`s; ports and ICMP
/// type and code are `TypeInt`.
fn security_list() -> Double {
    Double::new(
        "oci_core_security_list",
        "core/core_security_list_resource.go",
        Spec::new(vec![
            string("compartment_id").required(),
            string("vcn_id").required().force_new(),
            string("display_name").computed(),
            string_map("freeform_tags").computed(),
            string("state").out(),
        ])
        .set("egress_security_rules", security_rule(false))
        .set("ingress_security_rules", security_rule(true)),
    )
    .id(|_| random_ocid("securitylist"))
    .cloud(|name, obj| match name {
        "source_type" | "destination_type" => Some("CIDR_BLOCK".into()),
        _ => available(name, obj),
    })
}

/// core/core_subnet_resource.go.
fn subnet() -> Double {
    Double::new(
        "oci_core_subnet",
        "core/core_subnet_resource.go",
        Spec::new(vec![
            string("compartment_id").required(),
            string("vcn_id").required().force_new(),
            string("availability_domain").computed().force_new(),
            string("cidr_block").computed(),
            string("dhcp_options_id").computed(),
            string("display_name").computed(),
            string("dns_label").computed().force_new(),
            string_map("freeform_tags").computed(),
            boolean("prohibit_internet_ingress").computed().force_new(),
            boolean("prohibit_public_ip_on_vnic").computed().force_new(),
            string("route_table_id").computed(),
            string_set("security_list_ids").computed(),
            string("virtual_router_ip").out(),
            string("state").out(),
        ]),
    )
    .id(|_| random_ocid("subnet"))
    .fill(|st| {
        // The two flags are one setting in the API.
        let public_ok = st.attr("prohibit_public_ip_on_vnic").clone();
        if st.attr("prohibit_internet_ingress").is_unknown() && !public_ok.is_unknown() {
            st.set_attr("prohibit_internet_ingress", public_ok);
        }
    })
    .cloud(|name, obj| match name {
        "virtual_router_ip" => {
            let cidr = obj.attr("cidr_block").as_str().unwrap_or("10.0.1.0/24");
            let router = cidr
                .split('/')
                .next()
                .and_then(|a| a.parse::<Ipv4Addr>().ok())
                .map(|a| Ipv4Addr::from(u32::from(a) + 1).to_string());
            Some(Value::from(router))
        }
        "dhcp_options_id" => Some(random_ocid("dhcpoptions").into()),
        _ => available(name, obj),
    })
}

/// core/core_instance_resource.go: `availability_domain`, `create_vnic_details.0.subnet_id`,
/// `.private_ip` and `.assign_private_dns_record`, and `source_details.0.boot_volume_vpus_per_gb`
/// are `ForceNew`; so is a change of `metadata.ssh_authorized_keys` or `metadata.user_data`
/// (`CustomizeDiff`). `shape` and `display_name` update in place.
fn instance() -> Double {
    Double::new(
        "oci_core_instance",
        "core/core_instance_resource.go",
        Spec::new(vec![
            string("availability_domain").required().force_new(),
            string("compartment_id").required(),
            string("shape").computed(),
            string("display_name").computed(),
            string("fault_domain").computed(),
            string_map("metadata").computed(),
            boolean("preserve_boot_volume"),
            string_map("freeform_tags").computed(),
            string("state").computed(),
            string("private_ip").out(),
            string("public_ip").out(),
            string("boot_volume_id").out(),
            string("region").out(),
        ])
        .one(
            "create_vnic_details",
            false,
            Spec::new(vec![
                boolean("assign_private_dns_record").force_new(),
                string("assign_public_ip").default("true"),
                string("display_name").computed(),
                string("hostname_label").computed(),
                string_set("nsg_ids").computed(),
                string("private_ip").computed().force_new(),
                boolean("skip_source_dest_check").computed(),
                string("subnet_id").computed().force_new(),
            ]),
        )
        .one(
            "shape_config",
            false,
            Spec::new(vec![
                string("baseline_ocpu_utilization").computed(),
                float("memory_in_gbs").computed(),
                float("ocpus").computed(),
                int("vcpus").computed(),
            ]),
        )
        .one(
            "source_details",
            false,
            Spec::new(vec![
                string("source_type").required(),
                string("source_id").computed(),
                string("boot_volume_size_in_gbs").computed().int_string(),
                string("boot_volume_vpus_per_gb")
                    .computed()
                    .force_new()
                    .int_string(),
                boolean("is_preserve_boot_volume_enabled"),
                string("kms_key_id"),
            ]),
        ),
    )
    .id(|st| {
        let private = first(st, "create_vnic_details")
            .attr("private_ip")
            .as_str()
            .and_then(|a| a.parse::<Ipv4Addr>().ok())
            .unwrap_or_else(private_fallback);
        instance_ocid(private)
    })
    .fill(|st| {
        let id = st.attr("id").as_str().unwrap_or_default().to_string();
        let private = ip_in(&id).map(|ip| ip.to_string());
        let public = first(st, "create_vnic_details")
            .attr("assign_public_ip")
            .as_str()
            == Some("true");
        let mut vnics = st.attr("create_vnic_details").clone();
        if let Value::List(items) = &mut vnics {
            for v in items.iter_mut() {
                if v.attr("private_ip").is_unknown() {
                    v.set_attr("private_ip", Value::from(private.clone()));
                }
            }
        }
        st.set_attr("create_vnic_details", vnics);
        let fills: [(&str, Value); 5] = [
            ("private_ip", Value::from(private)),
            (
                "public_ip",
                if public {
                    test_net_3().into()
                } else {
                    "".into()
                },
            ),
            ("boot_volume_id", Value::from(derived(&id, "bootvolume"))),
            ("region", "test-region-1".into()),
            ("fault_domain", "FAULT-DOMAIN-1".into()),
        ];
        for (name, v) in fills {
            if st.attr(name).is_unknown() {
                st.set_attr(name, v);
            }
        }
    })
    .cloud(|name, obj| match name {
        "state" => Some("RUNNING".into()),
        "baseline_ocpu_utilization" => Some("BASELINE_1_1".into()),
        "vcpus" => obj
            .attr("ocpus")
            .as_number()
            .map(|n| Value::Number(n.clone())),
        "boot_volume_size_in_gbs" => Some("47".into()),
        "boot_volume_vpus_per_gb" => Some("10".into()),
        _ => None,
    })
    .plan(|prior, planned, replace| {
        // CustomizeDiff: ForceNewIfChange("metadata") when either first-boot key changes.
        if prior.is_null() {
            return;
        }
        let key = |v: &Value, k: &str| v.attr("metadata").as_map().and_then(|m| m.get(k)).cloned();
        if ["ssh_authorized_keys", "user_data"]
            .iter()
            .any(|k| key(prior, k) != key(planned, k))
        {
            replace.push(AttributePath::root("metadata"));
        }
    })
}

/// core/core_public_ip_resource.go: `lifetime` is `ForceNew`; `private_ip_id` moves the IP
/// in place.
fn public_ip() -> Double {
    Double::new(
        "oci_core_public_ip",
        "core/core_public_ip_resource.go",
        Spec::new(vec![
            string("compartment_id").required(),
            string("lifetime").required().force_new(),
            string("display_name").computed(),
            string_map("freeform_tags").computed(),
            string("private_ip_id"),
            string("public_ip_pool_id").computed().force_new(),
            string("assigned_entity_id").out(),
            string("assigned_entity_type").out(),
            string("ip_address").out(),
            string("scope").out(),
            string("state").out(),
        ]),
    )
    .id(|_| random_ocid("publicip"))
    .fill(|st| {
        let assigned = st.attr("private_ip_id").clone();
        let kind = if assigned.is_null() {
            Value::Null
        } else {
            "PRIVATE_IP".into()
        };
        let state = if assigned.is_null() {
            "AVAILABLE"
        } else {
            "ASSIGNED"
        };
        for (name, v) in [
            ("ip_address", test_net_3().into()),
            ("scope", "REGION".into()),
            ("assigned_entity_id", assigned),
            ("assigned_entity_type", kind),
            ("state", state.into()),
        ] {
            if st.attr(name).is_unknown() {
                st.set_attr(name, v);
            }
        }
    })
    .plan(|prior, planned, _| {
        // Moving the IP changes what it is assigned to: the update learns it.
        if !prior.is_null() && planned.attr("private_ip_id") != prior.attr("private_ip_id") {
            for name in ["assigned_entity_id", "assigned_entity_type", "state"] {
                planned.set_attr(name, Value::Unknown);
            }
        }
    })
}

/// network_load_balancer/network_load_balancer_network_load_balancer_resource.go:
/// `subnet_id` and `is_private` are `ForceNew`.
fn network_load_balancer() -> Double {
    Double::new(
        "oci_network_load_balancer_network_load_balancer",
        "network_load_balancer/network_load_balancer_network_load_balancer_resource.go",
        Spec::new(vec![
            string("compartment_id").required(),
            string("display_name").required(),
            string("subnet_id").required().force_new(),
            string("assigned_private_ipv4").force_new(),
            string_map("freeform_tags").computed(),
            boolean("is_preserve_source_destination").computed(),
            boolean("is_private").computed().force_new(),
            boolean("is_symmetric_hash_enabled").computed(),
            string_set("network_security_group_ids"),
            string("nlb_ip_version").computed(),
            typed(
                "ip_addresses",
                Type::list(Type::object([
                    ("ip_address", Type::String),
                    ("ip_version", Type::String),
                    ("is_public", Type::Bool),
                    (
                        "reserved_ip",
                        Type::list(Type::object([("id", Type::String)])),
                    ),
                ])),
            )
            .out(),
            string("state").out(),
        ]),
    )
    .id(|_| random_ocid("networkloadbalancer"))
    .fill(|st| {
        if st.attr("is_private").is_unknown() {
            st.set_attr("is_private", Value::Bool(true)); // OCI's default
        }
        let public = st.attr("is_private").as_bool() == Some(false);
        let ip = match st.attr("assigned_private_ipv4").as_str() {
            Some(a) if !public => a.to_string(),
            _ if public => test_net_3(),
            _ => private_fallback().to_string(),
        };
        if st.attr("ip_addresses").is_unknown() {
            st.set_attr(
                "ip_addresses",
                Value::List(vec![Value::object([
                    ("ip_address", Value::from(ip)),
                    ("ip_version", Value::from("IPV4")),
                    ("is_public", Value::Bool(public)),
                    ("reserved_ip", Value::List(Vec::new())),
                ])]),
            );
        }
    })
    .cloud(|name, obj| match name {
        "nlb_ip_version" => Some("IPV4".into()),
        _ => active(name, obj),
    })
}

/// network_load_balancer/network_load_balancer_backend_set_resource.go: `name` and
/// `network_load_balancer_id` are `ForceNew`; the health checker's numbers are `TypeInt`.
fn backend_set() -> Double {
    Double::new(
        "oci_network_load_balancer_backend_set",
        "network_load_balancer/network_load_balancer_backend_set_resource.go",
        Spec::new(vec![
            string("name").required().force_new(),
            string("network_load_balancer_id").required().force_new(),
            string("policy").required(),
            string("ip_version").computed(),
            boolean("is_fail_open").computed(),
            boolean("is_instant_failover_enabled").computed(),
            boolean("is_preserve_source").computed(),
        ])
        .one(
            "health_checker",
            true,
            Spec::new(vec![
                string("protocol").required(),
                int("interval_in_millis").computed(),
                int("port").computed(),
                string("request_data").computed(),
                string("response_body_regex").computed(),
                string("response_data").computed(),
                int("retries").computed(),
                int("return_code").computed(),
                int("timeout_in_millis").computed(),
                string("url_path").computed(),
            ]),
        ),
    )
    // GetNlbBackendSetCompositeId.
    .id(|st| {
        format!(
            "networkLoadBalancers/{}/backendSets/{}",
            st.attr("network_load_balancer_id").as_str().unwrap_or(""),
            st.attr("name").as_str().unwrap_or("")
        )
    })
    .cloud(|name, _| match name {
        "ip_version" => Some("IPV4".into()),
        "interval_in_millis" => Some(Value::int(10_000)),
        "retries" => Some(Value::int(3)),
        "timeout_in_millis" => Some(Value::int(3_000)),
        _ => None,
    })
}

/// network_load_balancer/network_load_balancer_backend_resource.go: `backend_set_name`,
/// `network_load_balancer_id`, `port`, `name`, `target_id` and `ip_address` are all
/// `ForceNew`; `port` and `weight` are `TypeInt`.
fn backend() -> Double {
    Double::new(
        "oci_network_load_balancer_backend",
        "network_load_balancer/network_load_balancer_backend_resource.go",
        Spec::new(vec![
            string("backend_set_name").required().force_new(),
            string("network_load_balancer_id").required().force_new(),
            int("port").required().force_new(),
            string("ip_address").computed().force_new(),
            boolean("is_backup").computed(),
            boolean("is_drain").computed(),
            boolean("is_offline").computed(),
            string("name").computed().force_new(),
            string("target_id").computed().force_new(),
            int("weight").computed(),
        ]),
    )
    // GetNlbBackendCompositeId.
    .id(|st| {
        format!(
            "networkLoadBalancers/{}/backendSets/{}/backends/{}",
            st.attr("network_load_balancer_id").as_str().unwrap_or(""),
            st.attr("backend_set_name").as_str().unwrap_or(""),
            st.attr("name").as_str().unwrap_or("")
        )
    })
    .fill(|st| {
        // The service names a backend `<target or address>:<port>`, and finds the address of
        // an instance target itself.
        let port = st.attr("port").as_number().map(|n| n.to_string());
        if st.attr("ip_address").is_unknown() {
            let ip = st.attr("target_id").as_str().and_then(ip_in);
            st.set_attr("ip_address", Value::from(ip.map(|i| i.to_string())));
        }
        if st.attr("name").is_unknown() {
            let target = st
                .attr("target_id")
                .as_str()
                .or(st.attr("ip_address").as_str())
                .unwrap_or("")
                .to_string();
            st.set_attr(
                "name",
                Value::from(format!("{target}:{}", port.unwrap_or_default())),
            );
        }
    })
    .cloud(|name, _| match name {
        "weight" => Some(Value::int(1)),
        _ => None,
    })
}

/// network_load_balancer/network_load_balancer_listener_resource.go: `name` and
/// `network_load_balancer_id` are `ForceNew`; `port` is a `TypeInt` that updates in place.
fn listener() -> Double {
    Double::new(
        "oci_network_load_balancer_listener",
        "network_load_balancer/network_load_balancer_listener_resource.go",
        Spec::new(vec![
            string("default_backend_set_name").required(),
            string("name").required().force_new(),
            string("network_load_balancer_id").required().force_new(),
            int("port").required(),
            string("protocol").required(),
            string("ip_version").computed(),
            boolean("is_ppv2enabled").computed(),
            int("tcp_idle_timeout").computed(),
        ]),
    )
    // GetNlbListenerCompositeId.
    .id(|st| {
        format!(
            "networkLoadBalancers/{}/listeners/{}",
            st.attr("network_load_balancer_id").as_str().unwrap_or(""),
            st.attr("name").as_str().unwrap_or("")
        )
    })
    .cloud(|name, _| match name {
        "ip_version" => Some("IPV4".into()),
        "tcp_idle_timeout" => Some(Value::int(300)),
        _ => None,
    })
}

/// budget/budget_budget_resource.go: `amount` is a `TypeInt` ("the service will only accept
/// integers"); `compartment_id`, `target_type` and `targets` (a `TypeList`) are `ForceNew`.
fn budget() -> Double {
    Double::new(
        "oci_budget_budget",
        "budget/budget_budget_resource.go",
        Spec::new(vec![
            int("amount").required(),
            string("compartment_id").required().force_new(),
            string("reset_period").required(),
            string("description").computed(),
            string("display_name").computed(),
            string_map("freeform_tags").computed(),
            string("processing_period_type").computed(),
            string("target_type").computed().force_new(),
            string_list("targets").computed().force_new(),
            float("actual_spend").out(),
            float("forecasted_spend").out(),
            string("state").out(),
        ]),
    )
    .id(|_| random_ocid("budget"))
    .cloud(|name, obj| match name {
        "processing_period_type" => Some("MONTH".into()),
        "target_type" => Some("COMPARTMENT".into()),
        _ => active(name, obj),
    })
}

/// budget/budget_alert_rule_resource.go: `budget_id` is `ForceNew`; `threshold` is a
/// `TypeFloat` sent as a float32 and read back as one, its diff hidden by
/// `tfresource.MonetaryDiffSuppress` (equal to two decimals, `%.2f`).
fn alert_rule() -> Double {
    Double::new(
        "oci_budget_alert_rule",
        "budget/budget_alert_rule_resource.go",
        Spec::new(vec![
            string("budget_id").required().force_new(),
            float("threshold").required(),
            string("threshold_type").required(),
            string("type").required(),
            string("description").computed(),
            string("display_name").computed(),
            string_map("freeform_tags").computed(),
            string("message").computed(),
            string("recipients"),
            string("state").out(),
        ]),
    )
    .id(|_| random_ocid("budgetalertrule"))
    .cloud(active)
    .plan(|prior, planned, _| {
        if let (Some(old), Some(new)) = (
            prior.attr("threshold").as_number(),
            planned.attr("threshold").as_number(),
        ) {
            if format!("{:.2}", old.as_f64()) == format!("{:.2}", new.as_f64()) {
                let kept = prior.attr("threshold").clone();
                planned.set_attr("threshold", kept);
            }
        }
    })
    .refresh(|st| {
        // The API holds a float32: 0.01 comes back as 0.009999999776482582.
        if let Some(n) = st.attr("threshold").as_number() {
            let stored = f64::from(n.as_f64() as f32);
            if let Some(v) = Number::from_f64(stored) {
                st.set_attr("threshold", Value::Number(v));
            }
        }
    })
}
