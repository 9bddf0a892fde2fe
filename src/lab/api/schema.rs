//! Proxmox VE's parameter schema, checked the way `pve-common` `src/PVE/JSONSchema.pm` checks
//! it: the property types, the property-string formats of qemu-server's options, and the
//! messages a failed check puts in a 400's `errors`.
//!
//! Wire facts and their sources:
//! - Every API call is validated against its parameter schema before its handler runs
//!   (`pve-common` `RESTHandler.pm` `handle`: `PVE::JSONSchema::validate` then `$func->($param)`).
//! - `check_prop`/`check_type`/`check_object` messages: "type check ('integer') failed - got
//!   '…'", "value must have a minimum value of N", "value does not have a value in the
//!   enumeration '…'", "property is missing and it is not optional", "property is not defined in
//!   schema and the schema does not allow additional properties", "invalid format - …".
//! - A property string (`parse_property_string`) splits on `,`; a part without `=` fills the
//!   format's `default_key`; an `alias` with a `keyAlias` (`virtio=MAC`) sets both keys; a key
//!   the format lacks dies "invalid key in comma-separated list property: K"; nested check
//!   errors are raised as "format error" with keys `PARAM.KEY`, which `PVE::Exception`'s
//!   `stringify` appends as `PARAM.KEY: MESSAGE` lines.
//! - Option formats: `qemu-server` `src/PVE/QemuServer.pm` (`$confdesc`, `$ipconfig_fmt`,
//!   `$boot_fmt`, `verify_bootdev`), `QemuServer/Network.pm` (`$net_fmt`, `$nic_model_list`),
//!   `QemuServer/Drive.pm` (drive and efidisk formats), `QemuServer/Memory.pm`
//!   (`pve-qm-memory`), `QemuServer/Agent.pm` (`pve-qm-agent`).
//! - Values read back from a VM's config are typed by the same schema (`QemuServer.pm`
//!   `parse_vm_config` → `check_type`): booleans become 0/1 and integers numbers in the JSON.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// What a property holds.
#[derive(Clone, Copy)]
pub(crate) enum Ty {
    /// An integer, with optional bounds.
    Int(Option<i64>, Option<i64>),
    /// A number (a decimal), with an optional minimum.
    Num(Option<f64>),
    /// A boolean: `1|on|yes|true` or `0|off|no|false`.
    Bool,
    /// A string, checked as `Check` says.
    Str(Check),
}

/// How a string property is checked.
#[derive(Clone, Copy)]
pub(crate) enum Check {
    Any,
    /// One of these values (the message lists them in this order).
    Enum(&'static [&'static str]),
    /// A property string of this format.
    Format(&'static [(&'static str, Prop)]),
    /// A named format with a validator that dies with this function's message.
    Named(fn(&str) -> Result<(), String>),
    /// A `-list` format: each item of a `;`, `,` or space separated list checked.
    List(fn(&str) -> Result<(), String>),
}

/// One property of a schema or of a property-string format.
#[derive(Clone, Copy)]
pub(crate) struct Prop {
    pub(crate) ty: Ty,
    pub(crate) optional: bool,
    /// A part without `=` fills this key.
    pub(crate) default_key: bool,
    /// `(alias, keyAlias)`: `KEY=VALUE` sets `alias` to VALUE and `keyAlias` to KEY
    /// (`virtio=BC:24:11:…`).
    pub(crate) alias: Option<(&'static str, &'static str)>,
}

/// An optional property of type `ty`.
pub(crate) const fn opt(ty: Ty) -> Prop {
    Prop {
        ty,
        optional: true,
        default_key: false,
        alias: None,
    }
}

const fn default_key(ty: Ty, optional: bool) -> Prop {
    Prop {
        ty,
        optional,
        default_key: true,
        alias: None,
    }
}

/// `MODEL=MAC`: the value goes to `macaddr`, the key's name to `model`.
const fn model_alias() -> Prop {
    Prop {
        ty: Ty::Str(Check::Any),
        optional: true,
        default_key: false,
        alias: Some(("macaddr", "model")),
    }
}

const STR: Ty = Ty::Str(Check::Any);
const BOOL: Ty = Ty::Bool;
const INT: Ty = Ty::Int(None, None);

/// Per-parameter error messages, keyed by path (`net0`, `ipconfig0.gw`).
pub(crate) type Errors = BTreeMap<String, String>;

/// `add_error`: a second message for the same path is appended after a newline.
pub(crate) fn add_error(errors: &mut Errors, path: &str, msg: String) {
    let path = if path.is_empty() { "_root" } else { path };
    errors
        .entry(path.to_string())
        .and_modify(|m| {
            m.push('\n');
            m.push_str(&msg);
        })
        .or_insert(msg);
}

/// `parse_boolean`.
pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Some(true),
        "0" | "off" | "no" | "false" => Some(false),
        _ => None,
    }
}

/// Checks `value` against `prop` at `path` (`check_prop` and `check_type`).
pub(crate) fn check_prop(value: &str, prop: &Prop, path: &str, errors: &mut Errors) {
    match prop.ty {
        Ty::Int(min, max) => {
            let ok = value.strip_prefix(['-', '+']).unwrap_or(value);
            let n = if !ok.is_empty() && ok.bytes().all(|b| b.is_ascii_digit()) {
                value.parse::<i64>().ok()
            } else {
                None
            };
            let Some(n) = n else {
                add_error(
                    errors,
                    path,
                    format!("type check ('integer') failed - got '{value}'"),
                );
                return;
            };
            bounds(
                n as f64,
                min.map(|m| m as f64),
                max.map(|m| m as f64),
                path,
                errors,
            );
        }
        Ty::Num(min) => match value.parse::<f64>() {
            Ok(n) if n.is_finite() => bounds(n, min, None, path, errors),
            _ => add_error(
                errors,
                path,
                format!("type check ('number') failed - got '{value}'"),
            ),
        },
        Ty::Bool => {
            if parse_bool(value).is_none() {
                add_error(
                    errors,
                    path,
                    format!("type check ('boolean') failed - got '{value}'"),
                );
            }
        }
        Ty::Str(check) => {
            if let Err(e) = check_string(value, check, path) {
                add_error(errors, path, e);
            }
        }
    }
}

fn bounds(n: f64, min: Option<f64>, max: Option<f64>, path: &str, errors: &mut Errors) {
    if let Some(m) = min.filter(|m| n < *m) {
        add_error(
            errors,
            path,
            format!("value must have a minimum value of {m}"),
        );
    } else if let Some(m) = max.filter(|m| n > *m) {
        add_error(
            errors,
            path,
            format!("value must have a maximum value of {m}"),
        );
    }
}

fn check_string(value: &str, check: Check, path: &str) -> Result<(), String> {
    match check {
        Check::Any => Ok(()),
        Check::Enum(list) => {
            if list.contains(&value) {
                Ok(())
            } else {
                Err(format!(
                    "value '{value}' does not have a value in the enumeration '{}'",
                    list.join(", ")
                ))
            }
        }
        Check::Named(f) => f(value).map_err(|e| format!("invalid format - {e}\n")),
        Check::List(f) => value
            .split([';', ',', ' ', '\0'])
            .filter(|s| !s.is_empty())
            .try_for_each(f)
            .map_err(|e| format!("invalid format - {e}\n")),
        Check::Format(format) => parse_property_string(format, value, path)
            .map(|_| ())
            .map_err(|e| format!("invalid format - {e}")),
    }
}

/// `parse_property_string`: the keys of `data`, or the text of the exception it raises
/// (`format error` followed by the nested `PATH: MESSAGE` lines).
pub(crate) fn parse_property_string(
    format: &[(&'static str, Prop)],
    data: &str,
    path: &str,
) -> Result<BTreeMap<String, String>, String> {
    let lookup = |k: &str| format.iter().find(|(n, _)| *n == k).map(|(_, p)| p);
    let mut res: BTreeMap<String, String> = BTreeMap::new();
    let mut default_used = false;
    for part in data.split(',') {
        if part.trim().is_empty() {
            continue;
        }
        match part.split_once('=') {
            Some((k, v)) if !k.is_empty() && !v.is_empty() => {
                if res.contains_key(k) {
                    return Err(format!(
                        "duplicate key in comma-separated list property: {k}\n"
                    ));
                }
                let mut key = k;
                if let Some((target, key_alias)) = lookup(k).and_then(|p| p.alias) {
                    if res.contains_key(key_alias) {
                        return Err(format!("key alias '{key_alias}' is already defined\n"));
                    }
                    res.insert(key_alias.to_string(), k.to_string());
                    key = target;
                }
                if lookup(key).is_none() {
                    return Err(format!(
                        "invalid key in comma-separated list property: {key}\n"
                    ));
                }
                res.insert(key.to_string(), v.to_string());
            }
            None => {
                let Some((dk, _)) = format.iter().find(|(_, p)| p.default_key) else {
                    return Err(
                        "value without key, but schema does not define a default key\n".into(),
                    );
                };
                if default_used || res.contains_key(*dk) {
                    return Err(format!(
                        "duplicate key in comma-separated list property: {dk}\n"
                    ));
                }
                default_used = true;
                res.insert(dk.to_string(), part.to_string());
            }
            Some(_) => return Err("missing key in comma-separated list property\n".into()),
        }
    }
    let mut errors = Errors::new();
    check_object(path, format, &res, false, &mut errors);
    if errors.is_empty() {
        Ok(res)
    } else {
        let mut msg = String::from("format error\n");
        for (k, v) in &errors {
            msg.push_str(&format!("{k}: {v}\n"));
        }
        Err(msg)
    }
}

/// `check_object`: every key known, every required key present, each value checked.
pub(crate) fn check_object(
    path: &str,
    schema: &[(&'static str, Prop)],
    value: &BTreeMap<String, String>,
    additional: bool,
    errors: &mut Errors,
) {
    let sub = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    for (k, prop) in schema {
        if prop.alias.is_some() {
            continue;
        }
        match value.get(*k) {
            Some(v) => check_prop(v, prop, &sub(k), errors),
            None if !prop.optional => add_error(
                errors,
                &sub(k),
                "property is missing and it is not optional".into(),
            ),
            None => {}
        }
    }
    if !additional {
        for k in value.keys() {
            if !schema.iter().any(|(n, _)| n == k) {
                add_error(
                    errors,
                    &sub(k),
                    "property is not defined in schema and the schema does not allow additional properties".into(),
                );
            }
        }
    }
}

// --- Named formats (pve-common JSONSchema.pm, qemu-server) ---

fn ipv4(v: &str) -> Result<(), String> {
    v.parse::<Ipv4Addr>()
        .map(|_| ())
        .map_err(|_| "value does not look like a valid IPv4 address".into())
}

fn ipv6(v: &str) -> Result<(), String> {
    v.parse::<Ipv6Addr>()
        .map(|_| ())
        .map_err(|_| "value does not look like a valid IPv6 address".into())
}

fn cidr_ok(v: &str, v6: bool) -> bool {
    let Some((ip, mask)) = v.split_once('/') else {
        return false;
    };
    let Ok(mask) = mask.parse::<u8>() else {
        return false;
    };
    if v6 {
        ip.parse::<Ipv6Addr>().is_ok() && mask <= 128
    } else {
        ip.parse::<Ipv4Addr>().is_ok() && mask <= 32
    }
}

/// `pve-ipv4-config`: `dhcp`, `manual` or an address in CIDR notation.
fn ipv4_config(v: &str) -> Result<(), String> {
    if v == "dhcp" || v == "manual" || cidr_ok(v, false) {
        Ok(())
    } else {
        Err("value does not look like a valid ipv4 network configuration".into())
    }
}

/// `pve-ipv6-config`: `auto`, `dhcp`, `manual` or an address in CIDR notation.
fn ipv6_config(v: &str) -> Result<(), String> {
    if ["auto", "dhcp", "manual"].contains(&v) || cidr_ok(v, true) {
        Ok(())
    } else {
        Err("value does not look like a valid ipv6 network configuration".into())
    }
}

/// `mac-addr`: six hex pairs, unicast (the low bit of the first octet clear).
fn mac_addr(v: &str) -> Result<(), String> {
    let parts: Vec<&str> = v.split(':').collect();
    let hex = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    if !hex {
        return Err("value does not match the regex pattern".into());
    }
    match u8::from_str_radix(parts[0], 16) {
        Ok(b) if b & 1 == 0 => Ok(()),
        _ => Err(format!("invalid MAC address '{v}'")),
    }
}

/// `pve-bridge-id`.
fn bridge_id(v: &str) -> Result<(), String> {
    if !v.is_empty()
        && v.len() <= 15
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        Ok(())
    } else {
        Err(format!("invalid bridge ID '{v}'"))
    }
}

/// `pve-volume-id-or-qm-path` (Drive.pm): `none`, `cdrom`, an absolute path, or
/// `STORAGE:VOLUME` (which also covers `STORAGE:SIZE` for a new disk).
fn volume_id(v: &str) -> Result<(), String> {
    if v == "none" || v == "cdrom" || v.starts_with('/') {
        return Ok(());
    }
    match v.split_once(':') {
        Some((st, vol)) if config_id(st) && !vol.is_empty() => Ok(()),
        _ => Err(format!("unable to parse volume ID '{v}'")),
    }
}

/// `pve-configid`: a storage or other config id.
fn config_id(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
}

/// `disk-size`: a number with an optional K, M, G or T suffix.
fn disk_size(v: &str) -> Result<(), String> {
    let n = v.strip_suffix(['K', 'M', 'G', 'T']).unwrap_or(v);
    if !n.is_empty() && n.parse::<f64>().map(|x| x >= 0.0).unwrap_or(false) {
        Ok(())
    } else {
        Err(format!("unable to parse size '{v}'"))
    }
}

/// `pve-qm-bootdev` (`verify_bootdev`): a drive (not efidisk or tpmstate), `netN`, `usbN`
/// or `hostpciN`.
fn boot_device(dev: &str) -> Result<(), String> {
    let numbered = |base: &str, max: u32| {
        dev.strip_prefix(base)
            .and_then(|n| n.parse::<u32>().ok())
            .map(|n| n <= max)
            .unwrap_or(false)
    };
    let drive = numbered("ide", 3) || numbered("sata", 5) || numbered("scsi", 30);
    if drive
        || numbered("virtio", 15)
        || numbered("net", 31)
        || numbered("usb", 4)
        || numbered("hostpci", 15)
    {
        Ok(())
    } else {
        Err(format!("invalid boot device '{dev}'"))
    }
}

// --- qemu-server option formats ---

/// `$nic_model_list` (`QemuServer/Network.pm`).
pub(crate) const NIC_MODELS: &[&str] = &[
    "e1000",
    "e1000-82540em",
    "e1000-82544gc",
    "e1000-82545em",
    "e1000e",
    "i82551",
    "i82557b",
    "i82559er",
    "ne2k_isa",
    "ne2k_pci",
    "pcnet",
    "rtl8139",
    "virtio",
    "vmxnet3",
];

/// `$net_fmt`: `model` is the default key and required; `MODEL=MAC` sets both.
pub(crate) const NET: &[(&str, Prop)] = &[
    (
        "model",
        default_key(Ty::Str(Check::Enum(NIC_MODELS)), false),
    ),
    ("macaddr", opt(Ty::Str(Check::Named(mac_addr)))),
    ("bridge", opt(Ty::Str(Check::Named(bridge_id)))),
    ("queues", opt(Ty::Int(Some(0), Some(64)))),
    ("rate", opt(Ty::Num(Some(0.0)))),
    ("tag", opt(Ty::Int(Some(1), Some(4094)))),
    ("trunks", opt(STR)),
    ("firewall", opt(BOOL)),
    ("link_down", opt(BOOL)),
    ("mtu", opt(Ty::Int(Some(1), Some(65520)))),
    ("e1000", model_alias()),
    ("e1000-82540em", model_alias()),
    ("e1000-82544gc", model_alias()),
    ("e1000-82545em", model_alias()),
    ("e1000e", model_alias()),
    ("i82551", model_alias()),
    ("i82557b", model_alias()),
    ("i82559er", model_alias()),
    ("ne2k_isa", model_alias()),
    ("ne2k_pci", model_alias()),
    ("pcnet", model_alias()),
    ("rtl8139", model_alias()),
    ("virtio", model_alias()),
    ("vmxnet3", model_alias()),
];

/// `$ipconfig_fmt`.
pub(crate) const IPCONFIG: &[(&str, Prop)] = &[
    ("ip", opt(Ty::Str(Check::Named(ipv4_config)))),
    ("gw", opt(Ty::Str(Check::Named(ipv4)))),
    ("ip6", opt(Ty::Str(Check::Named(ipv6_config)))),
    ("gw6", opt(Ty::Str(Check::Named(ipv6)))),
];

const DISK_FORMATS: &[&str] = &["raw", "cow", "qcow", "qed", "qcow2", "vmdk", "cloop"];

/// The keys every drive format shares (`Drive.pm` `%drivedesc_base` and friends).
macro_rules! drive_keys {
    ($($extra:expr),* $(,)?) => {
        &[
            ("file", default_key(Ty::Str(Check::Named(volume_id)), false)),
            ("media", opt(Ty::Str(Check::Enum(&["cdrom", "disk"])))),
            ("cache", opt(Ty::Str(Check::Enum(&["none", "writethrough", "writeback", "unsafe", "directsync"])))),
            ("format", opt(Ty::Str(Check::Enum(DISK_FORMATS)))),
            ("size", opt(Ty::Str(Check::Named(disk_size)))),
            ("discard", opt(Ty::Str(Check::Enum(&["ignore", "on"])))),
            ("detect_zeroes", opt(BOOL)),
            ("aio", opt(Ty::Str(Check::Enum(&["native", "threads", "io_uring"])))),
            ("backup", opt(BOOL)),
            ("replicate", opt(BOOL)),
            ("snapshot", opt(BOOL)),
            ("shared", opt(BOOL)),
            ("serial", opt(STR)),
            ("import-from", opt(Ty::Str(Check::Named(volume_id)))),
            ("iops", opt(INT)),
            ("mbps", opt(Ty::Num(Some(1.0)))),
            ("rerror", opt(Ty::Str(Check::Enum(&["ignore", "report", "stop"])))),
            ("werror", opt(Ty::Str(Check::Enum(&["enospc", "ignore", "report", "stop"])))),
            $($extra,)*
        ]
    };
}

/// `scsiN`.
pub(crate) const SCSI: &[(&str, Prop)] = drive_keys![
    ("iothread", opt(BOOL)),
    ("ssd", opt(BOOL)),
    ("ro", opt(BOOL)),
    ("queues", opt(Ty::Int(Some(2), None))),
    ("scsiblock", opt(BOOL)),
    ("product", opt(STR)),
    ("vendor", opt(STR)),
    ("wwn", opt(STR)),
];
/// `virtioN`.
pub(crate) const VIRTIO: &[(&str, Prop)] = drive_keys![("iothread", opt(BOOL)), ("ro", opt(BOOL))];
/// `sataN`.
pub(crate) const SATA: &[(&str, Prop)] = drive_keys![("ssd", opt(BOOL)), ("wwn", opt(STR))];
/// `ideN`.
pub(crate) const IDE: &[(&str, Prop)] =
    drive_keys![("ssd", opt(BOOL)), ("model", opt(STR)), ("wwn", opt(STR))];

/// `efidisk0` (`Drive.pm` `$efidisk_fmt`).
pub(crate) const EFIDISK: &[(&str, Prop)] = &[
    ("file", default_key(Ty::Str(Check::Named(volume_id)), false)),
    ("efitype", opt(Ty::Str(Check::Enum(&["2m", "4m"])))),
    ("pre-enrolled-keys", opt(BOOL)),
    ("format", opt(Ty::Str(Check::Enum(DISK_FORMATS)))),
    ("size", opt(Ty::Str(Check::Named(disk_size)))),
    ("import-from", opt(Ty::Str(Check::Named(volume_id)))),
    (
        "ms-cert",
        opt(Ty::Str(Check::Enum(&["2011", "2023", "2023k", "2023w"]))),
    ),
];

/// `tpmstate0`.
pub(crate) const TPMSTATE: &[(&str, Prop)] = &[
    ("file", default_key(Ty::Str(Check::Named(volume_id)), false)),
    ("version", opt(Ty::Str(Check::Enum(&["v1.2", "v2.0"])))),
    ("size", opt(Ty::Str(Check::Named(disk_size)))),
    ("import-from", opt(Ty::Str(Check::Named(volume_id)))),
];

/// `$boot_fmt`: the legacy `[acdn]{1,4}` as the default key, or `order=DEV;DEV`.
pub(crate) const BOOT: &[(&str, Prop)] = &[
    (
        "legacy",
        default_key(Ty::Str(Check::Named(boot_legacy)), true),
    ),
    ("order", opt(Ty::Str(Check::List(boot_device)))),
];

fn boot_legacy(v: &str) -> Result<(), String> {
    if (1..=4).contains(&v.len()) && v.bytes().all(|b| b"acdn".contains(&b)) {
        Ok(())
    } else {
        Err("value does not match the regex pattern".into())
    }
}

/// `pve-qm-memory` (since Proxmox VE 8.1): `[current=]MiB`.
pub(crate) const MEMORY: &[(&str, Prop)] =
    &[("current", default_key(Ty::Int(Some(16), None), false))];

/// `pve-qm-agent`.
pub(crate) const AGENT: &[(&str, Prop)] = &[
    ("enabled", default_key(BOOL, false)),
    ("fstrim_cloned_disks", opt(BOOL)),
    ("freeze-fs-on-backup", opt(BOOL)),
    ("type", opt(Ty::Str(Check::Enum(&["virtio", "isa"])))),
];

/// `serialN`: `socket` or a host device path.
fn serial(v: &str) -> Result<(), String> {
    if v == "socket" || v.starts_with("/dev/") {
        Ok(())
    } else {
        Err("value does not match the regex pattern".into())
    }
}

const VGA: &[(&str, Prop)] = &[
    (
        "type",
        default_key(
            Ty::Str(Check::Enum(&[
                "cirrus",
                "qxl",
                "qxl2",
                "qxl3",
                "qxl4",
                "none",
                "serial0",
                "serial1",
                "serial2",
                "serial3",
                "std",
                "virtio",
                "virtio-gl",
                "vmware",
            ])),
            true,
        ),
    ),
    ("memory", opt(Ty::Int(Some(4), Some(512)))),
    ("clipboard", opt(Ty::Str(Check::Enum(&["vnc"])))),
];

const STARTUP: &[(&str, Prop)] = &[
    ("order", default_key(Ty::Int(Some(0), None), true)),
    ("up", opt(Ty::Int(Some(0), None))),
    ("down", opt(Ty::Int(Some(0), None))),
];

/// The schema of a qemu option (`$confdesc` and the numbered device families), or `None`
/// for a key the schema does not define.
pub(crate) fn qemu_option(k: &str) -> Option<Prop> {
    let numbered = |base: &str, max: u32| {
        k.strip_prefix(base)
            .and_then(|n| (!n.starts_with('0') || n == "0").then_some(n))
            .and_then(|n| n.parse::<u32>().ok())
            .map(|n| n <= max)
            .unwrap_or(false)
    };
    let f = |format| opt(Ty::Str(Check::Format(format)));
    let e = |list| opt(Ty::Str(Check::Enum(list)));
    Some(match k {
        "name" | "description" | "tags" | "cpu" | "smbios1" | "cicustom" | "ciuser"
        | "cipassword" | "sshkeys" | "nameserver" | "searchdomain" | "hookscript" | "args"
        | "hotplug" | "affinity" | "vmgenid" | "rng0" | "meta" | "lock" | "bootdisk"
        | "watchdog" | "keyboard" | "vmstatestorage" | "startdate" | "spice_enhancements"
        | "audio0" | "ivshmem" | "hugepages" | "machine" => opt(STR),
        "memory" => f(MEMORY),
        "balloon" | "shares" => opt(Ty::Int(Some(0), None)),
        "cores" => opt(Ty::Int(Some(1), None)),
        "sockets" => opt(Ty::Int(Some(1), None)),
        "vcpus" => opt(Ty::Int(Some(1), None)),
        "cpuunits" => opt(Ty::Int(Some(1), Some(262_144))),
        "cpulimit" => opt(Ty::Num(Some(0.0))),
        "migrate_speed" => opt(Ty::Int(Some(0), None)),
        "migrate_downtime" => opt(Ty::Num(Some(0.0))),
        "numa" | "onboot" | "kvm" | "acpi" | "tablet" | "protection" | "template" | "autostart"
        | "freeze" | "localtime" | "reboot" | "ciupgrade" | "tdf" | "keephugepages" => opt(BOOL),
        "bios" => e(&["seabios", "ovmf"]),
        "arch" => e(&["x86_64", "aarch64"]),
        "scsihw" => e(&[
            "lsi",
            "lsi53c810",
            "virtio-scsi-pci",
            "virtio-scsi-single",
            "megasas",
            "pvscsi",
        ]),
        "ostype" => e(&[
            "other", "wxp", "w2k", "w2k3", "w2k8", "wvista", "win7", "win8", "win10", "win11",
            "l24", "l26", "solaris",
        ]),
        "citype" => e(&["configdrive2", "nocloud", "opennebula"]),
        "agent" => f(AGENT),
        "boot" => f(BOOT),
        "vga" => f(VGA),
        "startup" => f(STARTUP),
        "efidisk0" => f(EFIDISK),
        "tpmstate0" => f(TPMSTATE),
        _ if numbered("net", 31) => f(NET),
        _ if numbered("ipconfig", 31) => f(IPCONFIG),
        _ if numbered("scsi", 30) => f(SCSI),
        _ if numbered("virtio", 15) => f(VIRTIO),
        _ if numbered("sata", 5) => f(SATA),
        _ if numbered("ide", 3) => f(IDE),
        _ if numbered("serial", 3) => opt(Ty::Str(Check::Named(serial))),
        _ if numbered("usb", 4) || numbered("hostpci", 15) || numbered("unused", 255) => opt(STR),
        _ => return None,
    })
}

/// A config value as `parse_vm_config` hands it to the API: integers and booleans as JSON
/// numbers (`check_type` returns `int($1)` and `1`/`0`), everything else as the string it is.
pub(crate) fn config_value(k: &str, v: &str) -> serde_json::Value {
    match qemu_option(k).map(|p| p.ty) {
        Some(Ty::Int(..)) => v
            .parse::<i64>()
            .map(serde_json::Value::from)
            .unwrap_or_else(|_| v.into()),
        Some(Ty::Bool) => match parse_bool(v) {
            Some(b) => serde_json::Value::from(u8::from(b)),
            None => v.into(),
        },
        _ => v.into(),
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    fn check(k: &str, v: &str) -> Errors {
        let mut errors = Errors::new();
        if let Some(p) = qemu_option(k) {
            check_prop(v, &p, k, &mut errors);
        }
        errors
    }

    #[test]
    fn property_strings_fail_as_json_schema_pm_reports_them() {
        let cases: &[(&str, &str, &str, Option<&str>)] = &[
            ("net with a model", "net0", "virtio,bridge=vmbr0", None),
            ("net as MODEL=MAC", "net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1", None),
            (
                "net0=foo",
                "net0",
                "foo",
                Some("invalid format - format error\nnet0.model: value 'foo' does not have a value in the enumeration 'e1000, e1000-82540em, e1000-82544gc, e1000-82545em, e1000e, i82551, i82557b, i82559er, ne2k_isa, ne2k_pci, pcnet, rtl8139, virtio, vmxnet3'\n"),
            ),
            (
                "net without a model",
                "net0",
                "bridge=vmbr0",
                Some("invalid format - format error\nnet0.model: property is missing and it is not optional\n"),
            ),
            (
                "net with an unknown key",
                "net0",
                "virtio,colour=blue",
                Some("invalid format - invalid key in comma-separated list property: colour\n"),
            ),
            ("static ipconfig", "ipconfig0", "ip=10.0.1.20/24,gw=10.0.1.1", None),
            ("dhcp ipconfig", "ipconfig0", "ip=dhcp", None),
            (
                "gateway that is no address",
                "ipconfig0",
                "ip=10.0.1.20/24,gw=10.0.1",
                Some("invalid format - format error\nipconfig0.gw: invalid format - value does not look like a valid IPv4 address\n\n"),
            ),
            ("scsi disk", "scsi0", "local-lvm:8,iothread=1,discard=on,ssd=1", None),
            ("scsi cdrom", "scsi2", "local:iso/cidata.iso,media=cdrom", None),
            (
                "scsi with a bad media",
                "scsi0",
                "local-lvm:8,media=tape",
                Some("invalid format - format error\nscsi0.media: value 'tape' does not have a value in the enumeration 'cdrom, disk'\n"),
            ),
            ("efidisk", "efidisk0", "local-lvm:1,efitype=4m,pre-enrolled-keys=0", None),
            ("boot order", "boot", "order=scsi0;net0", None),
            (
                "boot from a device that cannot boot",
                "boot",
                "order=efidisk0",
                Some("invalid format - format error\nboot.order: invalid format - invalid boot device 'efidisk0'\n\n"),
            ),
            ("memory", "memory", "2048", None),
            (
                "memory below 16 MiB",
                "memory",
                "8",
                Some("invalid format - format error\nmemory.current: value must have a minimum value of 16\n"),
            ),
            ("cores as text", "cores", "two", Some("type check ('integer') failed - got 'two'")),
            ("kvm as a word", "kvm", "maybe", Some("type check ('boolean') failed - got 'maybe'")),
        ];
        for (name, k, v, want) in cases {
            let errors = check(k, v);
            assert_eq!(errors.get(*k).map(String::as_str), *want, "{name}");
        }
    }

    #[test]
    fn config_values_are_typed_by_the_schema() {
        // `GET /nodes/{node}/qemu/{vmid}/config` on PVE 8.1+: "cores":1, "numa":0,
        // "template":1, "memory":"2048" (a property string since 8.1), "net0":"virtio=…".
        assert_eq!(config_value("cores", "1"), serde_json::json!(1));
        assert_eq!(config_value("numa", "0"), serde_json::json!(0));
        assert_eq!(config_value("template", "1"), serde_json::json!(1));
        assert_eq!(config_value("kvm", "no"), serde_json::json!(0));
        assert_eq!(config_value("memory", "2048"), serde_json::json!("2048"));
        assert_eq!(config_value("cpulimit", "0.5"), serde_json::json!("0.5"));
        assert_eq!(config_value("name", "cp-1"), serde_json::json!("cp-1"));
    }
}
