//! How configuration counts against the tier: the one table of it, read by the provider's
//! `freetier_allocation` data source and `violations` function, and by `freetier check` on
//! `.tf` files and on plan JSON.
//!
//! - [`ITEMS`] and [`COUNTED`]: how `freetier_allocation` spells each list of an
//!   [`Allocation`] (block name, plural key, and each item's fields in reading order).
//! - [`OCI_RESOURCES`]: the OCI resource types the free tier limits, the item each one is, and
//!   where each of the item's fields sits among the resource's arguments
//!   (<https://registry.terraform.io/providers/oracle/oci/latest/docs>).
//! - [`Allocation::push_item`]: builds any item from a reader's values, field by field, so a
//!   reader says only how it fetches a value by name.
//!
//! Pure data: imports only the rest of `rules`.

use super::allocation::{
    Allocation, BlockVolume, BudgetAlert, Counted, CustomImage, Instance, LoadBalancer,
    ObjectStorage, Quantity, Value,
};
use super::report::ItemKind;

/// One field of an item: a number, or a text (`shape`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The name, as `freetier_allocation` spells it (`ocpus`, `count`).
    pub name: &'static str,
    /// A text rather than a number.
    pub text: bool,
}

const fn num(name: &'static str) -> Field {
    Field { name, text: false }
}

const fn text(name: &'static str) -> Field {
    Field { name, text: true }
}

/// How `freetier_allocation` spells one list of items.
#[derive(Clone, Copy, Debug)]
pub struct ItemSpec {
    /// The list.
    pub kind: ItemKind,
    /// The block name (`instance { … }`).
    pub block: &'static str,
    /// The key of the same list in an object (`{ instances = [ … ] }`).
    pub key: &'static str,
    /// Each item's fields, in the order they are read (`name` is the label, read apart).
    pub fields: &'static [Field],
}

/// The lists of items, in the order they are read.
pub const ITEMS: &[ItemSpec] = &[
    ItemSpec {
        kind: ItemKind::Instance,
        block: "instance",
        key: "instances",
        fields: &[
            num("count"),
            num("ocpus"),
            num("memory_gb"),
            num("boot_volume_gb"),
            text("shape"),
        ],
    },
    ItemSpec {
        kind: ItemKind::BlockVolume,
        block: "block_volume",
        key: "block_volumes",
        fields: &[num("count"), num("size_gb")],
    },
    ItemSpec {
        kind: ItemKind::LoadBalancer,
        block: "load_balancer",
        key: "load_balancers",
        fields: &[
            num("count"),
            num("min_bandwidth_mbps"),
            num("max_bandwidth_mbps"),
            text("shape"),
        ],
    },
    ItemSpec {
        kind: ItemKind::ObjectStorage,
        block: "object_storage",
        key: "object_storage",
        fields: &[num("count"), num("gb")],
    },
    ItemSpec {
        kind: ItemKind::CustomImage,
        block: "custom_image",
        key: "custom_images",
        fields: &[num("count"), num("size_gb")],
    },
    ItemSpec {
        kind: ItemKind::BudgetAlert,
        block: "budget_alert",
        key: "budget_alerts",
        fields: &[num("threshold_usd")],
    },
];

/// The fields of a counted item (a VCN, a NAT gateway, …): how many.
pub const COUNT_FIELDS: &[Field] = &[num("count")];

/// Counted resources: one number attribute each in `freetier_allocation`, named as the
/// [`Allocation`] field ([`ItemKind::field`]).
pub const COUNTED: &[ItemKind] = &[
    ItemKind::VolumeBackup,
    ItemKind::ReservedPublicIp,
    ItemKind::Vcn,
    ItemKind::NatGateway,
    ItemKind::ServiceGateway,
    ItemKind::NetworkLoadBalancer,
];

/// The spelling of a list of items, for the kinds that are blocks.
pub fn item_spec(kind: ItemKind) -> Option<&'static ItemSpec> {
    ITEMS.iter().find(|s| s.kind == kind)
}

/// The fields of an item of `kind`, in reading order.
pub fn fields(kind: ItemKind) -> &'static [Field] {
    item_spec(kind).map_or(COUNT_FIELDS, |s| s.fields)
}

/// How an argument's value becomes the field's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Conversion {
    /// The same number or text.
    Same,
    /// Times this factor (MB to GB, bytes to GB).
    Times(f64),
    /// A budget alert rule's `threshold`: dollars when `threshold_type` is ABSOLUTE; a
    /// percentage of the budget's `amount` when it is PERCENTAGE, so dollars only once the
    /// budget's amount is known.
    BudgetThreshold,
}

/// Where one field of an item sits among an OCI resource's arguments.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arg {
    /// The item's field ([`Field::name`]).
    pub field: &'static str,
    /// The argument: `size_in_gbs`, or `shape_config.ocpus` for an attribute of the first
    /// nested block.
    pub path: &'static str,
    /// How its value becomes the field's.
    pub conversion: Conversion,
    /// When the argument is unset: `None`, OCI's default applies (absent); `Some(why)`, the
    /// value exists but neither configuration nor a plan says it (a bucket's contents).
    pub unset: Option<&'static str>,
}

impl Arg {
    /// The nested block and the attribute in it, for a path `block.attribute`.
    pub fn nested(&self) -> Option<(&'static str, &'static str)> {
        self.path.split_once('.')
    }
}

const fn arg(field: &'static str, path: &'static str) -> Arg {
    Arg {
        field,
        path,
        conversion: Conversion::Same,
        unset: None,
    }
}

const fn scaled(field: &'static str, path: &'static str, factor: f64) -> Arg {
    Arg {
        field,
        path,
        conversion: Conversion::Times(factor),
        unset: None,
    }
}

/// An OCI resource type the free tier limits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OciResource {
    /// The resource type (`oci_core_instance`).
    pub ty: &'static str,
    /// The item each resource is.
    pub kind: ItemKind,
    /// Where the item's fields sit; several for one field are tried in order, the first set
    /// wins. `count` is Terraform's meta-argument, not listed.
    pub args: &'static [Arg],
    /// It counts only when this argument has this value (case-insensitive), and OCI accepts
    /// only these values: a public IP is reserved or ephemeral.
    pub counts_if: Option<CountsIf>,
}

/// A condition on an argument for a resource to count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CountsIf {
    /// The argument.
    pub arg: &'static str,
    /// The value that counts.
    pub value: &'static str,
    /// Every value OCI accepts.
    pub accepted: &'static [&'static str],
}

/// GB per MB: OCI counts 1024 MB to the GB.
const MB: f64 = 1.0 / 1024.0;
/// Bytes per GB as Object Storage bills them (decimal).
const BYTES: f64 = 1e-9;

/// The OCI resource types the free tier limits, and how each counts.
pub const OCI_RESOURCES: &[OciResource] = &[
    OciResource {
        ty: "oci_core_instance",
        kind: ItemKind::Instance,
        args: &[
            arg("shape", "shape"),
            arg("ocpus", "shape_config.ocpus"),
            arg("memory_gb", "shape_config.memory_in_gbs"),
            arg("boot_volume_gb", "source_details.boot_volume_size_in_gbs"),
        ],
        counts_if: None,
    },
    OciResource {
        ty: "oci_core_volume",
        kind: ItemKind::BlockVolume,
        args: &[
            arg("size_gb", "size_in_gbs"),
            scaled("size_gb", "size_in_mbs", MB),
        ],
        counts_if: None,
    },
    counted("oci_core_volume_backup", ItemKind::VolumeBackup),
    counted("oci_core_boot_volume_backup", ItemKind::VolumeBackup),
    OciResource {
        ty: "oci_core_public_ip",
        kind: ItemKind::ReservedPublicIp,
        args: &[],
        counts_if: Some(CountsIf {
            arg: "lifetime",
            value: "RESERVED",
            accepted: &["RESERVED", "EPHEMERAL"],
        }),
    },
    counted("oci_core_vcn", ItemKind::Vcn),
    counted("oci_core_nat_gateway", ItemKind::NatGateway),
    counted("oci_core_service_gateway", ItemKind::ServiceGateway),
    load_balancer("oci_load_balancer_load_balancer"),
    load_balancer("oci_load_balancer"),
    counted(
        "oci_network_load_balancer_network_load_balancer",
        ItemKind::NetworkLoadBalancer,
    ),
    OciResource {
        ty: "oci_objectstorage_bucket",
        kind: ItemKind::ObjectStorage,
        args: &[Arg {
            unset: Some(
                "a bucket holds whatever is stored in it, which neither configuration nor the \
                 plan says; declare the expected size in a freetier_allocation object_storage \
                 block",
            ),
            ..scaled("gb", "approximate_size", BYTES)
        }],
        counts_if: None,
    },
    OciResource {
        ty: "oci_core_image",
        kind: ItemKind::CustomImage,
        args: &[scaled("size_gb", "size_in_mbs", MB)],
        counts_if: None,
    },
    OciResource {
        ty: "oci_budget_alert_rule",
        kind: ItemKind::BudgetAlert,
        args: &[Arg {
            conversion: Conversion::BudgetThreshold,
            ..arg("threshold_usd", "threshold")
        }],
        counts_if: None,
    },
];

const fn counted(ty: &'static str, kind: ItemKind) -> OciResource {
    OciResource {
        ty,
        kind,
        args: &[],
        counts_if: None,
    }
}

const LOAD_BALANCER_ARGS: &[Arg] = &[
    arg("shape", "shape"),
    arg(
        "min_bandwidth_mbps",
        "shape_details.minimum_bandwidth_in_mbps",
    ),
    arg(
        "max_bandwidth_mbps",
        "shape_details.maximum_bandwidth_in_mbps",
    ),
];

const fn load_balancer(ty: &'static str) -> OciResource {
    OciResource {
        ty,
        kind: ItemKind::LoadBalancer,
        args: LOAD_BALANCER_ARGS,
        counts_if: None,
    }
}

/// The row of an OCI resource type, when the free tier limits it.
pub fn oci_resource(ty: &str) -> Option<&'static OciResource> {
    OCI_RESOURCES.iter().find(|r| r.ty == ty)
}

impl OciResource {
    /// The arguments that give `field`, in order of preference.
    pub fn args_for<'f>(&self, field: &'f str) -> impl Iterator<Item = &'static Arg> + 'f {
        let args: &'static [Arg] = self.args;
        args.iter().filter(move |a| a.field == field)
    }
}

/// What a reader gives for one field of an item.
pub enum FieldValue {
    /// A number field's value.
    Number(Quantity),
    /// A text field's value.
    Text(Value<String>),
}

impl FieldValue {
    fn number(self) -> Quantity {
        match self {
            FieldValue::Number(q) => q,
            FieldValue::Text(_) => Value::Absent,
        }
    }

    fn text(self) -> Value<String> {
        match self {
            FieldValue::Text(t) => t,
            FieldValue::Number(_) => Value::Absent,
        }
    }
}

impl Allocation {
    /// Appends one item of `kind`, reading each of its fields ([`fields`]) in order with
    /// `read`, and returns its index in its list.
    pub fn push_item(
        &mut self,
        kind: ItemKind,
        label: Option<String>,
        mut read: impl FnMut(Field) -> FieldValue,
    ) -> usize {
        let mut numbers: [Quantity; 5] = Default::default();
        let mut texts: [Value<String>; 1] = Default::default();
        let (mut n, mut t) = (0, 0);
        // Read in the table's order; gathered by position, then moved into the struct.
        let mut slot = |f: Field, v: FieldValue| {
            if f.text {
                if let Some(s) = texts.get_mut(t) {
                    *s = v.text();
                }
                t += 1;
            } else {
                if let Some(s) = numbers.get_mut(n) {
                    *s = v.number();
                }
                n += 1;
            }
        };
        for f in fields(kind) {
            slot(*f, read(*f));
        }
        let [a, b, c, d, _] = numbers;
        let [shape] = texts;
        let index = self.len_of(kind);
        match kind {
            ItemKind::Instance => self.instances.push(Instance {
                label,
                shape,
                ocpus: b,
                memory_gb: c,
                boot_volume_gb: d,
                count: a,
            }),
            ItemKind::BlockVolume => self.block_volumes.push(BlockVolume {
                label,
                size_gb: b,
                count: a,
            }),
            ItemKind::LoadBalancer => self.load_balancers.push(LoadBalancer {
                label,
                shape,
                min_bandwidth_mbps: b,
                max_bandwidth_mbps: c,
                count: a,
            }),
            ItemKind::ObjectStorage => self.object_storage.push(ObjectStorage {
                label,
                gb: b,
                count: a,
            }),
            ItemKind::CustomImage => self.custom_images.push(CustomImage {
                label,
                size_gb: b,
                count: a,
            }),
            ItemKind::BudgetAlert => {
                self.budget_alerts
                    .get_or_insert_with(Vec::new)
                    .push(BudgetAlert {
                        label,
                        threshold_usd: a,
                    })
            }
            counted => {
                if let Some(list) = self.counted_mut(counted) {
                    list.push(Counted { label, count: a });
                }
            }
        }
        index
    }

    /// The list of counted items of `kind` (`None` for the kinds with fields of their own).
    pub fn counted_mut(&mut self, kind: ItemKind) -> Option<&mut Vec<Counted>> {
        Some(match kind {
            ItemKind::VolumeBackup => &mut self.volume_backups,
            ItemKind::ReservedPublicIp => &mut self.reserved_public_ips,
            ItemKind::Vcn => &mut self.vcns,
            ItemKind::NatGateway => &mut self.nat_gateways,
            ItemKind::ServiceGateway => &mut self.service_gateways,
            ItemKind::NetworkLoadBalancer => &mut self.network_load_balancers,
            _ => return None,
        })
    }

    /// How many items of `kind` there are: the index the next one gets.
    pub fn len_of(&self, kind: ItemKind) -> usize {
        match kind {
            ItemKind::Instance => self.instances.len(),
            ItemKind::BlockVolume => self.block_volumes.len(),
            ItemKind::VolumeBackup => self.volume_backups.len(),
            ItemKind::ReservedPublicIp => self.reserved_public_ips.len(),
            ItemKind::Vcn => self.vcns.len(),
            ItemKind::NatGateway => self.nat_gateways.len(),
            ItemKind::ServiceGateway => self.service_gateways.len(),
            ItemKind::LoadBalancer => self.load_balancers.len(),
            ItemKind::NetworkLoadBalancer => self.network_load_balancers.len(),
            ItemKind::ObjectStorage => self.object_storage.len(),
            ItemKind::CustomImage => self.custom_images.len(),
            ItemKind::BudgetAlert => self.budget_alerts.as_ref().map_or(0, Vec::len),
        }
    }

    /// Room for `n` more items of `kind` (a plan has thousands).
    pub fn reserve(&mut self, kind: ItemKind, n: usize) {
        match kind {
            ItemKind::Instance => self.instances.reserve(n),
            ItemKind::BlockVolume => self.block_volumes.reserve(n),
            ItemKind::LoadBalancer => self.load_balancers.reserve(n),
            ItemKind::ObjectStorage => self.object_storage.reserve(n),
            ItemKind::CustomImage => self.custom_images.reserve(n),
            // Only a list that gets alerts exists: no list at all reads as "no budget alert".
            ItemKind::BudgetAlert => {}
            counted => {
                if let Some(list) = self.counted_mut(counted) {
                    list.reserve(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_field_fits_push_item() {
        for spec in ITEMS {
            let numbers = spec.fields.iter().filter(|f| !f.text).count();
            let texts = spec.fields.iter().filter(|f| f.text).count();
            assert!(numbers <= 5 && texts <= 1, "{}", spec.block);
        }
    }

    #[test]
    fn every_oci_argument_names_a_field_of_its_item() {
        for r in OCI_RESOURCES {
            for a in r.args {
                assert!(
                    fields(r.kind).iter().any(|f| f.name == a.field),
                    "{}: {} is not a field of {:?}",
                    r.ty,
                    a.field,
                    r.kind
                );
            }
        }
    }

    #[test]
    fn push_item_puts_each_field_where_the_table_says() {
        // (case, kind, the allocation expected after one push of fields valued by name)
        let value = |f: Field| match (f.name, f.text) {
            (_, true) => FieldValue::Text(Value::Known(format!("{}!", f.name))),
            ("count", _) => FieldValue::Number(Value::Known(2.0)),
            ("ocpus" | "size_gb" | "gb" | "min_bandwidth_mbps" | "threshold_usd", _) => {
                FieldValue::Number(Value::Known(1.0))
            }
            _ => FieldValue::Number(Value::Known(3.0)),
        };
        let mut a = Allocation::default();
        for spec in ITEMS {
            assert_eq!(a.push_item(spec.kind, Some("x".into()), value), 0);
        }
        for kind in COUNTED {
            assert_eq!(a.push_item(*kind, None, value), 0);
        }
        let i = &a.instances[0];
        assert_eq!(
            (
                &i.shape,
                &i.ocpus,
                &i.memory_gb,
                &i.boot_volume_gb,
                &i.count
            ),
            (
                &Value::Known("shape!".into()),
                &Value::Known(1.0),
                &Value::Known(3.0),
                &Value::Known(3.0),
                &Value::Known(2.0)
            )
        );
        let lb = &a.load_balancers[0];
        assert_eq!(
            (&lb.min_bandwidth_mbps, &lb.max_bandwidth_mbps, &lb.count),
            (&Value::Known(1.0), &Value::Known(3.0), &Value::Known(2.0))
        );
        assert_eq!(a.block_volumes[0].size_gb, Value::Known(1.0));
        assert_eq!(a.object_storage[0].gb, Value::Known(1.0));
        assert_eq!(a.custom_images[0].size_gb, Value::Known(1.0));
        assert_eq!(
            a.budget_alerts.as_ref().map(|b| &b[0].threshold_usd),
            Some(&Value::Known(1.0))
        );
        for kind in COUNTED {
            assert_eq!(a.len_of(*kind), 1, "{kind:?}");
        }
        assert_eq!(a.vcns[0].count, Value::Known(2.0));
    }
}
