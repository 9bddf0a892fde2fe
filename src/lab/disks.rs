//! The A1 hosts' boot disk and the util-linux tools that partition it: `sfdisk --json`,
//! `sfdisk --append`, `partx --add` and `partprobe`.
//!
//! Layer 1 sizes each A1 boot volume as the image's 47 GB plus the node's share of the free
//! block storage, and keeps the root filesystem from growing over that tail (a separate OSD
//! volume does not fit the 200 GB budget). Layer 2 appends a partition over the tail and gives
//! it to `ceph-volume lvm create --data /dev/sda2` (`pveceph osd create` takes whole unused
//! disks only: `pve-manager` `PVE/API2/Ceph/OSD.pm` "device '$dev' is already in use").
//!
//! Facts and sources:
//! - The layout of Debian's generic cloud images for arm64: partition 15 is the 127 MiB EFI
//!   system partition at sector 2048, partition 1 the root from sector 262144.
//! - sfdisk's JSON, its `--append` report, and its messages are util-linux 2.38's (Debian 12),
//!   captured from the real `sfdisk` on a disk image of this layout; the tests quote them.
//!   `--append` takes the first free partition number and the largest free range, aligned to
//!   1 MiB; without `--no-reread` (or `--force`) it refuses a disk in use ("This disk is
//!   currently in use - repartitioning is probably a bad idea."). The kernel learns of a new
//!   partition only after `partx --add` or `partprobe`.
//! - The report's geometry lines are those of the captured image (512-byte sectors); a real
//!   volume may add a "Disk model" line, which the lab leaves out as unverified.

use std::fmt::Write as _;

use serde_json::json;

use super::pvecm::node_of;
use super::shell::{Ctx, Proc};
use super::world::Disk;

/// Sectors per GiB (512-byte sectors).
const SECTORS_PER_GIB: u64 = 2 * 1024 * 1024;
/// 1 MiB alignment, in sectors.
const ALIGN: u64 = 2048;
/// GPT type of a Linux root partition on arm64.
pub(crate) const ROOT_ARM64: &str = "B921B045-1DF0-41C3-AF44-4C6F280D3FAE";
/// GPT type of an EFI system partition.
pub(crate) const EFI_SYSTEM: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
/// GPT type `sfdisk` gives a new partition by default ("Linux filesystem").
pub(crate) const LINUX_FS: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

/// One GPT partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    pub(crate) number: u32,
    pub(crate) start: u64,
    pub(crate) size: u64,
    pub(crate) type_guid: &'static str,
    pub(crate) uuid: String,
}

impl Part {
    fn end(&self) -> u64 {
        self.start + self.size - 1
    }
}

/// The boot disk's GPT, and which partitions the running kernel knows.
#[derive(Debug, Clone)]
pub(crate) struct BootDisk {
    pub(crate) dev: String,
    pub(crate) sectors: u64,
    pub(crate) label_id: String,
    /// In table order (as sfdisk lists them).
    pub(crate) parts: Vec<Part>,
}

impl BootDisk {
    /// A freshly booted A1 host's boot volume of `boot_gb + tail_gb` GiB: the image's EFI and
    /// root partitions in the first `boot_gb`, the tail free.
    pub(crate) fn new(boot_gb: u64, tail_gb: u64) -> BootDisk {
        let uuid = super::keys::uuid_v4;
        BootDisk {
            dev: "/dev/sda".into(),
            sectors: (boot_gb + tail_gb) * SECTORS_PER_GIB,
            label_id: uuid().to_uppercase(),
            parts: vec![
                Part {
                    number: 1,
                    start: 262_144,
                    size: boot_gb * SECTORS_PER_GIB - 262_144,
                    type_guid: ROOT_ARM64,
                    uuid: uuid().to_uppercase(),
                },
                Part {
                    number: 15,
                    start: 2048,
                    size: 260_096,
                    type_guid: EFI_SYSTEM,
                    uuid: uuid().to_uppercase(),
                },
            ],
        }
    }

    /// The last usable sector (the backup GPT takes the final 33).
    fn last_lba(&self) -> u64 {
        self.sectors - 34
    }

    /// The largest free range, aligned: `(start, size)`.
    fn free_range(&self) -> Option<(u64, u64)> {
        let mut used: Vec<(u64, u64)> = self.parts.iter().map(|p| (p.start, p.end())).collect();
        used.sort();
        let mut best: Option<(u64, u64)> = None;
        let mut cursor = ALIGN;
        for (s, e) in used.iter().copied().chain([(self.last_lba() + 1, 0)]) {
            let start = cursor.div_ceil(ALIGN) * ALIGN;
            let end = (s / ALIGN) * ALIGN;
            if end > start && best.is_none_or(|(_, size)| end - start > size) {
                best = Some((start, end - start));
            }
            cursor = cursor.max(e + 1);
        }
        best
    }

    /// The partition's device node (`/dev/sda2`).
    pub(crate) fn node(&self, number: u32) -> String {
        format!("{}{number}", self.dev)
    }

    /// `sfdisk --json DEV`.
    pub(crate) fn json(&self) -> String {
        let parts: Vec<serde_json::Value> = self
            .parts
            .iter()
            .map(|p| {
                json!({"node": self.node(p.number), "start": p.start, "size": p.size, "type": p.type_guid, "uuid": p.uuid})
            })
            .collect();
        let v = json!({"partitiontable": {
            "label": "gpt", "id": self.label_id, "device": self.dev, "unit": "sectors",
            "firstlba": ALIGN, "lastlba": self.last_lba(), "sectorsize": 512, "partitions": parts
        }});
        // sfdisk's own layout: three-space indent, `},{` between partitions.
        let mut out = String::new();
        let _ = pretty(&v, 0, &mut out);
        out.push('\n');
        out
    }

    fn table(&self) -> String {
        let mut rows: Vec<[String; 6]> = vec![[
            "Device".into(),
            "Start".into(),
            "End".into(),
            "Sectors".into(),
            "Size".into(),
            "Type".into(),
        ]];
        for p in &self.parts {
            rows.push([
                self.node(p.number),
                p.start.to_string(),
                p.end().to_string(),
                p.size.to_string(),
                human_size(p.size * 512),
                type_name(p.type_guid).to_string(),
            ]);
        }
        let w: Vec<usize> = (0..5)
            .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
            .collect();
        let mut s = String::new();
        for r in &rows {
            let _ = writeln!(
                s,
                "{:<w0$} {:>w1$} {:>w2$} {:>w3$} {:>w4$} {}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3],
                w4 = w[4]
            );
        }
        s
    }

    fn in_disk_order(&self) -> bool {
        self.parts.windows(2).all(|w| w[0].start < w[1].start)
    }
}

fn type_name(guid: &str) -> &'static str {
    match guid {
        ROOT_ARM64 => "Linux root (ARM-64)",
        EFI_SYSTEM => "EFI System",
        LINUX_FS => "Linux filesystem",
        _ => "unknown",
    }
}

/// util-linux's `size_to_human_string` with one decimal, dropping `.0`.
fn human_size(bytes: u64) -> String {
    let units = ["B", "K", "M", "G", "T"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    let r = (v * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        format!("{}{}", r as u64, units[i])
    } else {
        format!("{r:.1}{}", units[i])
    }
}

fn pretty(v: &serde_json::Value, depth: usize, out: &mut String) -> std::fmt::Result {
    let pad = "   ".repeat(depth + 1);
    let close = "   ".repeat(depth);
    match v {
        serde_json::Value::Object(m) => {
            out.push_str("{\n");
            for (i, (k, val)) in m.iter().enumerate() {
                write!(out, "{pad}\"{k}\": ")?;
                pretty(val, depth + 1, out)?;
                out.push_str(if i + 1 < m.len() { ",\n" } else { "\n" });
            }
            write!(out, "{close}}}")
        }
        serde_json::Value::Array(a) => {
            out.push_str("[\n");
            out.push_str(&pad);
            for (i, val) in a.iter().enumerate() {
                pretty(val, depth + 1, out)?;
                if i + 1 < a.len() {
                    out.push(',');
                }
            }
            write!(out, "\n{close}]")
        }
        other => write!(out, "{other}"),
    }
}

/// `sfdisk`: `--json DEV` and `--append [--no-reread|--force] DEV` (script on stdin).
pub(crate) async fn sfdisk(ctx: &Ctx, rest: &[String], p: &mut Proc) -> i32 {
    let flags: Vec<&str> = rest
        .iter()
        .filter(|a| a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let dev = rest.iter().find(|a| !a.starts_with('-')).cloned();
    let node = node_of(ctx);
    let Some(dev) = dev else {
        p.err("sfdisk: no disk device specified\nTry 'sfdisk --help' for more information.\n");
        return 1;
    };
    let has = |f: &str| flags.contains(&f);
    if has("--json") || has("-J") {
        let w = ctx.lab.world();
        return match w.nodes.get(node).and_then(|n| n.boot_disk.as_ref()) {
            Some(d) if d.dev == dev => {
                let out = d.json();
                drop(w);
                p.out(&out);
                0
            }
            _ => {
                drop(w);
                p.err(&format!(
                    "sfdisk: cannot open {dev}: No such file or directory\n"
                ));
                1
            }
        };
    }
    if !(has("--append") || has("-a")) {
        p.err("sfdisk: the lab emulates --json and --append only\n");
        return 1;
    }
    let script = String::from_utf8_lossy(&p.stdin.read_all().await).to_string();
    let line = script
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut w = ctx.lab.world();
    let Some(d) = w.nodes.get_mut(node).and_then(|n| n.boot_disk.as_mut()) else {
        drop(w);
        p.err(&format!(
            "sfdisk: cannot open {dev}: No such file or directory\n"
        ));
        return 1;
    };
    if d.dev != dev {
        drop(w);
        p.err(&format!(
            "sfdisk: cannot open {dev}: No such file or directory\n"
        ));
        return 1;
    }
    let mut out = String::new();
    let mut err = String::new();
    let reread = !(has("--no-reread") || has("--force") || has("-f"));
    if reread {
        // The root filesystem is mounted from this disk.
        out.push_str("Checking that no-one is using this disk right now ... FAILED\n\n");
        err.push_str("This disk is currently in use - repartitioning is probably a bad idea.\nUmount all file systems, and swapoff all swap partitions on this disk.\nUse the --no-reread flag to suppress this check.\n\nsfdisk: Use the --force flag to overrule all checks.\n");
        drop(w);
        p.out(&out);
        p.err(&err);
        return 1;
    }
    let _ = writeln!(
        out,
        "Disk {}: {} GiB, {} bytes, {} sectors\nUnits: sectors of 1 * 512 = 512 bytes\nSector size (logical/physical): 512 bytes / 512 bytes\nI/O size (minimum/optimal): 512 bytes / 512 bytes\nDisklabel type: gpt\nDisk identifier: {}\n\nOld situation:\n",
        d.dev,
        d.sectors / SECTORS_PER_GIB,
        d.sectors * 512,
        d.sectors,
        d.label_id
    );
    out.push_str(&d.table());
    if !d.in_disk_order() {
        out.push_str("\nPartition table entries are not in disk order.\n");
    }
    out.push('\n');
    // The prompt names the partition after the highest number (sfdisk's quirk).
    let highest = d.parts.iter().map(|p| p.number).max().unwrap_or(0);
    let prompt = d.node(highest + 1);
    if !matches!(line.replace(' ', "").as_str(), ",," | "," | ",+" | ",+,") {
        drop(w);
        p.out(&out);
        p.err("sfdisk: the lab emulates the default script ',,' only\n");
        return 1;
    }
    let Some((start, size)) = d.free_range() else {
        let _ = writeln!(out, "{prompt}: Leaving.\n");
        drop(w);
        p.out(&out);
        p.err(&format!(
            "No enough free sectors available.\nFailed to add #{} partition: No space left on device\n",
            highest + 1
        ));
        return 1;
    };
    let number = (1..)
        .find(|n| !d.parts.iter().any(|p| p.number == *n))
        .unwrap_or(1);
    let part = Part {
        number,
        start,
        size,
        type_guid: LINUX_FS,
        uuid: super::keys::uuid_v4().to_uppercase(),
    };
    let _ = writeln!(
        out,
        "{prompt}: Created a new partition {number} of type 'Linux filesystem' and of size {}.",
        human_size(size * 512)
            .replace('G', " GiB")
            .replace('M', " MiB")
    );
    let _ = writeln!(out, "{}: Done.\n", d.node(number + 1));
    let at = d
        .parts
        .iter()
        .position(|p| p.number > number)
        .unwrap_or(d.parts.len());
    d.parts.insert(at, part);
    let _ = writeln!(
        out,
        "New situation:\nDisklabel type: gpt\nDisk identifier: {}\n",
        d.label_id
    );
    out.push_str(&d.table());
    if !d.in_disk_order() {
        out.push_str("\nPartition table entries are not in disk order.\n");
    }
    out.push_str("\nThe partition table has been altered.\nSyncing disks.\n");
    drop(w);
    p.out(&out);
    0
}

/// `partx --add DEV` / `partprobe DEV`: the kernel learns of partitions it did not know, which
/// then appear as block devices.
pub(crate) async fn reread(ctx: &Ctx, prog: &str, rest: &[String], p: &mut Proc) -> i32 {
    let dev = rest.iter().find(|a| !a.starts_with('-')).cloned();
    let node = node_of(ctx);
    let add = prog == "partprobe"
        || rest
            .iter()
            .any(|a| a == "--add" || a == "-a" || a == "--update" || a == "-u");
    if !add {
        p.err(&format!(
            "{prog}: the lab emulates --add and --update only\n"
        ));
        return 1;
    }
    let mut w = ctx.lab.world();
    let Some(n) = w.nodes.get_mut(node) else {
        return 1;
    };
    let Some(d) = n.boot_disk.as_ref() else {
        return 1;
    };
    if dev.as_deref().is_some_and(|x| x != d.dev) {
        let dev = dev.unwrap_or_default();
        drop(w);
        p.err(&format!("{prog}: {dev}: failed to get partition number\n"));
        return 1;
    }
    let known: Vec<(String, u64)> = d
        .parts
        .iter()
        .map(|p| (d.node(p.number), p.size / SECTORS_PER_GIB))
        .collect();
    for (node_dev, gb) in known {
        if !n.disks.iter().any(|x| x.dev == node_dev) {
            n.disks.push(Disk {
                dev: node_dev,
                size_gb: gb,
                used: None,
            });
        }
    }
    0
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn sfdisk_json_matches_util_linux() {
        // `sfdisk --json` of a Debian arm64 cloud image's layout on a 65 GiB volume,
        // captured from util-linux 2.38.1 (UUIDs fixed for the comparison).
        let real = r#"{
   "partitiontable": {
      "label": "gpt",
      "id": "5AF3E0B8-1F2C-4E59-9D3C-2B7F0A6C1D11",
      "device": "/dev/sda",
      "unit": "sectors",
      "firstlba": 2048,
      "lastlba": 136314846,
      "sectorsize": 512,
      "partitions": [
         {
            "node": "/dev/sda1",
            "start": 262144,
            "size": 98304000,
            "type": "B921B045-1DF0-41C3-AF44-4C6F280D3FAE",
            "uuid": "7E1F4C2A-0B3D-4E5F-8A9B-1C2D3E4F5A6B"
         },{
            "node": "/dev/sda15",
            "start": 2048,
            "size": 260096,
            "type": "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
            "uuid": "3C4D5E6F-7A8B-4C9D-8E0F-1A2B3C4D5E6F"
         }
      ]
   }
}
"#;
        let mut d = BootDisk::new(47, 18);
        d.label_id = "5AF3E0B8-1F2C-4E59-9D3C-2B7F0A6C1D11".into();
        d.parts[0].uuid = "7E1F4C2A-0B3D-4E5F-8A9B-1C2D3E4F5A6B".into();
        d.parts[1].uuid = "3C4D5E6F-7A8B-4C9D-8E0F-1A2B3C4D5E6F".into();
        assert_eq!(d.json(), real);
    }

    #[test]
    fn the_free_tail_is_the_aligned_range_sfdisk_appends() {
        // The real `echo ',,' | sfdisk --append --no-reread` on that disk created partition 2
        // at 98566144, 37746688 sectors ("18G"), printed as
        // "sda2   98566144 136312831 37746688   18G Linux filesystem".
        let d = BootDisk::new(47, 18);
        assert_eq!(d.free_range(), Some((98_566_144, 37_746_688)));
        assert_eq!(human_size(37_746_688 * 512), "18G");
        assert_eq!(human_size(98_304_000 * 512), "46.9G");
        assert_eq!(human_size(260_096 * 512), "127M");
    }
}
