//! The NoCloud `cidata` volume a Talos VM boots with: an ISO 9660 image labelled `cidata`
//! holding `user-data` (the machine configuration), `meta-data` and `network-config`, built in
//! memory so it can be uploaded to Proxmox VE as an ISO (its API takes no snippets).
//!
//! What Talos reads: it finds the volume by its label (`cidata`, then `CIDATA`), mounts it and
//! reads the three files by name
//! (<https://github.com/siderolabs/talos/blob/v1.13.9/internal/app/machined/pkg/runtime/v1alpha1/platform/nocloud/metadata.go>,
//! `configFromCD`). Plain ISO 9660 names are upper case without `-`, so the names need an
//! extension: Linux takes Rock Ridge names first and Joliet names otherwise. This image carries
//! both, as `genisoimage -V cidata -joliet -rock` writes them; Proxmox VE's own cloud-init
//! drives use Rock Ridge (`genisoimage -R -V cidata`).
//!
//! Format facts: ECMA-119 (ISO 9660) volume descriptors, path tables and directory records;
//! Joliet (UCS-2 big-endian names, escape sequence `%/E`); SUSP `SP`/`ER` and RRIP 1.10 `PX`/`NM`
//! entries (IEEE P1281/P1282). A small writer of our own: the maintained pure-Rust ISO 9660
//! writer on crates.io (`hadris-iso`) went from 0.2 to a 3.0 release candidate within a year
//! and brings four crates of its own, for what is three small files in one directory. The
//! image is deterministic: the same files give the same bytes.
//!
//! Must not import: the framework, clients, the lab.

use serde::Serialize;

/// Bytes per logical sector.
pub const SECTOR: usize = 2048;

/// The volume label Talos looks for.
pub const LABEL: &str = "cidata";

/// Why an image could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidataError {
    /// A file name is not one of the portable names this writer supports.
    #[error("file name {0:?}: use 1 to 30 characters from a-z, 0-9, '-' and '_'")]
    BadName(String),
    /// Two files share a name.
    #[error("file {0:?} given twice")]
    Duplicate(String),
    /// More files than fit in one directory sector.
    #[error("too many files for one directory")]
    TooMany,
    /// A file larger than ISO 9660 can hold in one extent.
    #[error("file {0:?} is larger than 4 GiB")]
    TooLarge(String),
    /// `meta-data` or `network-config` could not be written.
    #[error("cannot write yaml: {0}")]
    Yaml(String),
}

/// The NoCloud files of one VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NocloudFiles {
    /// `user-data`: the Talos machine configuration.
    pub user_data: String,
    /// `meta-data`: see [`meta_data`].
    pub meta_data: String,
    /// `network-config`, if any: see [`network_config_v1`].
    pub network_config: Option<String>,
}

/// `meta-data` with the keys Talos reads: `local-hostname` and `instance-id`.
pub fn meta_data(hostname: &str, instance_id: &str) -> Result<String, CidataError> {
    #[derive(Serialize)]
    #[serde(rename_all = "kebab-case")]
    struct MetaData<'a> {
        instance_id: &'a str,
        local_hostname: &'a str,
    }
    serde_norway::to_string(&MetaData {
        instance_id,
        local_hostname: hostname,
    })
    .map_err(|e| CidataError::Yaml(e.to_string()))
}

/// A static address for [`network_config_v1`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticNetwork {
    /// The link name (`eth0`: Talos' NoCloud images boot with `net.ifnames=0`).
    pub interface: String,
    /// Match the link by MAC address too, if set.
    pub mac_address: Option<String>,
    /// The address with its prefix length (`10.0.0.11/24`).
    pub address: String,
    /// The default gateway, if any.
    pub gateway: Option<String>,
    /// DNS servers.
    pub nameservers: Vec<String>,
}

/// `network-config` version 1 as Talos' NoCloud platform applies it (`physical` with a
/// `static` subnet, then `nameserver`); it takes effect in maintenance mode too, before any
/// machine configuration.
pub fn network_config_v1(n: &StaticNetwork) -> Result<String, CidataError> {
    #[derive(Serialize)]
    struct Doc {
        version: u8,
        config: Vec<Entry>,
    }
    #[derive(Serialize)]
    struct Entry {
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        mac_address: Option<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        subnets: Vec<Subnet>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        address: Vec<String>,
    }
    #[derive(Serialize)]
    struct Subnet {
        #[serde(rename = "type")]
        kind: &'static str,
        address: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        gateway: Option<String>,
    }
    let mut config = vec![Entry {
        kind: "physical",
        name: Some(n.interface.clone()),
        mac_address: n.mac_address.clone(),
        subnets: vec![Subnet {
            kind: if n.address.contains(':') {
                "static6"
            } else {
                "static"
            },
            address: n.address.clone(),
            gateway: n.gateway.clone(),
        }],
        address: vec![],
    }];
    if !n.nameservers.is_empty() {
        config.push(Entry {
            kind: "nameserver",
            name: None,
            mac_address: None,
            subnets: vec![],
            address: n.nameservers.clone(),
        });
    }
    serde_norway::to_string(&Doc { version: 1, config })
        .map_err(|e| CidataError::Yaml(e.to_string()))
}

/// The `cidata` ISO image of `files`.
pub fn cidata_iso(files: &NocloudFiles) -> Result<Vec<u8>, CidataError> {
    let mut list: Vec<(&str, &[u8])> = vec![
        ("user-data", files.user_data.as_bytes()),
        ("meta-data", files.meta_data.as_bytes()),
    ];
    if let Some(n) = &files.network_config {
        list.push(("network-config", n.as_bytes()));
    }
    iso_image(LABEL, &list)
}

/// An ISO 9660 image labelled `label` with `files` in its root directory, named by Rock Ridge
/// and Joliet as given and by ISO 9660 in upper case (`-` as `_`).
pub fn iso_image(label: &str, files: &[(&str, &[u8])]) -> Result<Vec<u8>, CidataError> {
    let mut seen = std::collections::BTreeSet::new();
    for (name, data) in files {
        let ok = !name.is_empty()
            && name.len() <= 30
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            return Err(CidataError::BadName(name.to_string()));
        }
        if u32::try_from(data.len()).is_err() {
            return Err(CidataError::TooLarge(name.to_string()));
        }
        // `user-data` and `user_data` would share their ISO 9660 name.
        if !seen.insert(iso_name(name)) {
            return Err(CidataError::Duplicate(name.to_string()));
        }
    }
    // Sectors: 0-15 system area, 16 primary descriptor, 17 Joliet descriptor, 18 terminator,
    // 19/20 primary path tables (L/M), 21/22 Joliet path tables, 23 primary root, 24 Joliet
    // root, then file data.
    const PRIMARY_ROOT: u32 = 23;
    const JOLIET_ROOT: u32 = 24;
    let mut next = 25u32;
    let mut extents = Vec::new();
    for (_, data) in files {
        extents.push(next);
        next += u32::try_from(data.len().div_ceil(SECTOR).max(1)).unwrap_or(u32::MAX);
    }
    let total = next;

    let primary_dir = directory(PRIMARY_ROOT, files, &extents, Tree::Primary)?;
    let joliet_dir = directory(JOLIET_ROOT, files, &extents, Tree::Joliet)?;

    let mut img = vec![0u8; total as usize * SECTOR];
    let mut put = |sector: u32, bytes: &[u8]| {
        let at = sector as usize * SECTOR;
        img[at..at + bytes.len()].copy_from_slice(bytes);
    };
    put(
        16,
        &volume_descriptor(label, total, PRIMARY_ROOT, 19, 20, false),
    );
    put(
        17,
        &volume_descriptor(label, total, JOLIET_ROOT, 21, 22, true),
    );
    put(18, &[255, b'C', b'D', b'0', b'0', b'1', 1]);
    for (root, l, m) in [(PRIMARY_ROOT, 19, 20), (JOLIET_ROOT, 21, 22)] {
        put(l, &path_table(root, false));
        put(m, &path_table(root, true));
    }
    put(PRIMARY_ROOT, &primary_dir);
    put(JOLIET_ROOT, &joliet_dir);
    for ((_, data), extent) in files.iter().zip(&extents) {
        put(*extent, data);
    }
    Ok(img)
}

/// Compares identifiers as if the shorter were padded with spaces.
fn padded_cmp(a: &[u8], b: &[u8], tree: Tree) -> std::cmp::Ordering {
    let space: &[u8] = if tree == Tree::Joliet {
        &[0, b' ']
    } else {
        b" "
    };
    let n = a.len().max(b.len());
    let pad = |x: &[u8]| -> Vec<u8> {
        let mut v = x.to_vec();
        while v.len() < n {
            v.extend_from_slice(space);
        }
        v
    };
    pad(a).cmp(&pad(b))
}

/// The plain ISO 9660 identifier: `USER_DATA.;1` (level 2: d-characters, a separator, a
/// version).
fn iso_name(name: &str) -> String {
    format!("{}.;1", name.to_ascii_uppercase().replace('-', "_"))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tree {
    Primary,
    Joliet,
}

fn both16(v: u16) -> [u8; 4] {
    let (l, b) = (v.to_le_bytes(), v.to_be_bytes());
    [l[0], l[1], b[0], b[1]]
}

fn both32(v: u32) -> [u8; 8] {
    let (l, b) = (v.to_le_bytes(), v.to_be_bytes());
    [l[0], l[1], l[2], l[3], b[0], b[1], b[2], b[3]]
}

fn ucs2(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// A directory record (ECMA-119 9.1). Dates are zero ("not specified") so images are
/// reproducible.
fn record(extent: u32, size: u32, dir: bool, id: &[u8], system_use: &[u8]) -> Vec<u8> {
    let pad = usize::from(id.len().is_multiple_of(2));
    let mut r = vec![0u8; 33];
    r[2..10].copy_from_slice(&both32(extent));
    r[10..18].copy_from_slice(&both32(size));
    r[25] = if dir { 0x02 } else { 0x00 };
    r[28..32].copy_from_slice(&both16(1));
    r[32] = id.len() as u8;
    r.extend_from_slice(id);
    r.extend(std::iter::repeat_n(0u8, pad));
    r.extend_from_slice(system_use);
    if r.len() % 2 == 1 {
        r.push(0);
    }
    r[0] = r.len() as u8;
    r
}

/// RRIP 1.10 `PX`: POSIX mode, links, owner, group.
fn rr_px(mode: u32, links: u32) -> Vec<u8> {
    let mut e = vec![b'P', b'X', 36, 1];
    for v in [mode, links, 0, 0] {
        e.extend_from_slice(&both32(v));
    }
    e
}

/// RRIP `NM`: the real name.
fn rr_nm(name: &str) -> Vec<u8> {
    let mut e = vec![b'N', b'M', (5 + name.len()) as u8, 1, 0];
    e.extend_from_slice(name.as_bytes());
    e
}

/// The root's own system use area: SUSP `SP` (Rock Ridge present, no bytes skipped), `PX`,
/// and `ER` naming RRIP 1.10.
fn rr_root() -> Vec<u8> {
    let mut su = vec![b'S', b'P', 7, 1, 0xBE, 0xEF, 0];
    su.extend(rr_px(0o040_555, 2));
    let id = b"RRIP_1991A";
    let des =
        b"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS";
    let src = b"PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.";
    su.extend([
        b'E',
        b'R',
        (8 + id.len() + des.len() + src.len()) as u8,
        1,
        id.len() as u8,
        des.len() as u8,
        src.len() as u8,
        1,
    ]);
    su.extend_from_slice(id);
    su.extend_from_slice(des);
    su.extend_from_slice(src);
    su
}

/// One root directory sector of `tree`.
fn directory(
    self_extent: u32,
    files: &[(&str, &[u8])],
    extents: &[u32],
    tree: Tree,
) -> Result<Vec<u8>, CidataError> {
    let rock = tree == Tree::Primary;
    let mut d = Vec::new();
    let dot_su = if rock { rr_root() } else { vec![] };
    let dotdot_su = if rock { rr_px(0o040_555, 2) } else { vec![] };
    d.extend(record(self_extent, SECTOR as u32, true, &[0], &dot_su));
    d.extend(record(self_extent, SECTOR as u32, true, &[1], &dotdot_su));
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = files
        .iter()
        .zip(extents)
        .map(|((name, data), extent)| match tree {
            Tree::Primary => {
                let mut su = rr_px(0o100_444, 1);
                su.extend(rr_nm(name));
                let id = iso_name(name);
                let key = id.split('.').next().unwrap_or("").as_bytes().to_vec();
                (
                    key,
                    record(*extent, data.len() as u32, false, id.as_bytes(), &su),
                )
            }
            Tree::Joliet => {
                let id = ucs2(name);
                (
                    id.clone(),
                    record(*extent, data.len() as u32, false, &id, &[]),
                )
            }
        })
        .collect();
    // ECMA-119 9.3: ascending identifiers, the shorter one padded with spaces (Joliet: UCS-2
    // spaces); the two trees can order differently (`-` becomes `_` in ISO 9660 names).
    entries.sort_by(|(a, _), (b, _)| padded_cmp(a, b, tree));
    for (_, r) in entries {
        d.extend(r);
    }
    if d.len() > SECTOR {
        return Err(CidataError::TooMany);
    }
    Ok(d)
}

/// A path table with the root alone (ECMA-119 9.4); `big_endian` for the M table.
fn path_table(root: u32, big_endian: bool) -> Vec<u8> {
    let mut t = vec![1u8, 0];
    if big_endian {
        t.extend(root.to_be_bytes());
        t.extend(1u16.to_be_bytes());
    } else {
        t.extend(root.to_le_bytes());
        t.extend(1u16.to_le_bytes());
    }
    t.extend([0u8, 0]);
    t
}

/// The primary (ECMA-119 8.4) or Joliet supplementary (8.5) volume descriptor.
fn volume_descriptor(
    label: &str,
    total: u32,
    root: u32,
    l_table: u32,
    m_table: u32,
    joliet: bool,
) -> Vec<u8> {
    let mut d = vec![0u8; SECTOR];
    d[0] = if joliet { 2 } else { 1 };
    d[1..6].copy_from_slice(b"CD001");
    d[6] = 1;
    // Text fields are space-filled: a-characters in the primary, UCS-2 in Joliet.
    let text = |d: &mut Vec<u8>, at: usize, len: usize, s: &str| {
        let field = &mut d[at..at + len];
        if joliet {
            // The 37-byte file-id fields keep a last zero byte.
            for pair in field.chunks_exact_mut(2) {
                pair.copy_from_slice(&[0, b' ']);
            }
            let u = ucs2(s);
            let n = u.len().min(len);
            field[..n].copy_from_slice(&u[..n]);
        } else {
            field.fill(b' ');
            let n = s.len().min(len);
            field[..n].copy_from_slice(&s.as_bytes()[..n]);
        }
    };
    text(&mut d, 8, 32, "LINUX");
    text(&mut d, 40, 32, label);
    d[80..88].copy_from_slice(&both32(total));
    if joliet {
        // UCS-2 level 3.
        d[88..91].copy_from_slice(b"%/E");
    }
    d[120..124].copy_from_slice(&both16(1));
    d[124..128].copy_from_slice(&both16(1));
    d[128..132].copy_from_slice(&both16(SECTOR as u16));
    d[132..140].copy_from_slice(&both32(10));
    d[140..144].copy_from_slice(&l_table.to_le_bytes());
    d[148..152].copy_from_slice(&m_table.to_be_bytes());
    let root_record = record(root, SECTOR as u32, true, &[0], &[]);
    d[156..156 + root_record.len()].copy_from_slice(&root_record);
    // Volume set, publisher, preparer, application (128 each); copyright, abstract,
    // bibliographic file ids (37 each).
    for (at, len) in [
        (190, 128),
        (318, 128),
        (446, 128),
        (574, 128),
        (702, 37),
        (739, 37),
        (776, 37),
    ] {
        text(&mut d, at, len, "");
    }
    // Creation, modification, expiration, effective dates: "not specified".
    for at in [813, 830, 847, 864] {
        d[at..at + 16].fill(b'0');
        d[at + 16] = 0;
    }
    d[881] = 1;
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le32(b: &[u8], at: usize) -> usize {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
    }

    /// (identifier, extent, size, system use) of each record in a directory sector.
    fn records(img: &[u8], sector: usize) -> Vec<(Vec<u8>, usize, usize, Vec<u8>)> {
        let dir = &img[sector * SECTOR..(sector + 1) * SECTOR];
        let mut out = Vec::new();
        let mut at = 0;
        while at < dir.len() && dir[at] != 0 {
            let r = &dir[at..at + dir[at] as usize];
            let id_len = r[32] as usize;
            let su_at = 33 + id_len + usize::from(id_len.is_multiple_of(2));
            out.push((
                r[33..33 + id_len].to_vec(),
                le32(r, 2),
                le32(r, 10),
                r[su_at..].to_vec(),
            ));
            at += r.len();
        }
        out
    }

    fn files() -> NocloudFiles {
        NocloudFiles {
            user_data: "version: v1alpha1\nmachine: {}\n".into(),
            meta_data: meta_data("cp-1", "cp-1").expect("meta"),
            network_config: Some(
                network_config_v1(&StaticNetwork {
                    interface: "eth0".into(),
                    mac_address: None,
                    address: "10.0.0.11/24".into(),
                    gateway: Some("10.0.0.1".into()),
                    nameservers: vec!["1.1.1.1".into()],
                })
                .expect("net"),
            ),
        }
    }

    #[test]
    fn the_volume_is_labelled_cidata_in_both_descriptors() {
        let img = cidata_iso(&files()).expect("iso");
        assert_eq!(img.len() % SECTOR, 0);
        let pvd = &img[16 * SECTOR..17 * SECTOR];
        assert_eq!((pvd[0], &pvd[1..6]), (1, &b"CD001"[..]));
        assert_eq!(&pvd[40..46], b"cidata");
        assert!(pvd[46..72].iter().all(|b| *b == b' '));
        assert_eq!(le32(pvd, 80), img.len() / SECTOR, "volume space size");
        let svd = &img[17 * SECTOR..18 * SECTOR];
        assert_eq!((svd[0], &svd[88..91]), (2, &b"%/E"[..]));
        assert_eq!(&svd[40..52], &ucs2("cidata")[..]);
        assert_eq!(img[18 * SECTOR], 255, "terminator");
    }

    #[test]
    fn every_tree_names_the_three_files_and_points_at_their_bytes() {
        let f = files();
        let img = cidata_iso(&f).expect("iso");
        let want = [
            ("meta-data", f.meta_data.as_bytes()),
            (
                "network-config",
                f.network_config.as_deref().expect("nc").as_bytes(),
            ),
            ("user-data", f.user_data.as_bytes()),
        ];
        let primary = records(&img, 23);
        let joliet = records(&img, 24);
        assert_eq!(primary.len(), 5, ". .. and three files");
        assert_eq!(
            &primary[0].3[..7],
            &[b'S', b'P', 7, 1, 0xBE, 0xEF, 0],
            "Rock Ridge SP"
        );
        assert!(primary[0].3.windows(10).any(|w| w == b"RRIP_1991A"), "ER");
        for (i, (name, bytes)) in want.iter().enumerate() {
            let (id, extent, size, su) = &primary[i + 2];
            assert_eq!(id, iso_name(name).as_bytes(), "iso name");
            let nm = rr_nm(name);
            assert!(su.windows(nm.len()).any(|w| w == nm), "{name}: NM");
            assert_eq!(
                &img[extent * SECTOR..extent * SECTOR + size],
                *bytes,
                "{name}"
            );
            let (jid, jextent, jsize, _) = &joliet[i + 2];
            assert_eq!(jid, &ucs2(name), "{name}: joliet");
            assert_eq!((jextent, jsize), (extent, size), "{name}: same data");
        }
    }

    #[test]
    fn images_are_reproducible_and_names_are_checked() {
        assert_eq!(cidata_iso(&files()), cidata_iso(&files()));
        type Files<'a> = Vec<(&'a str, &'a [u8])>;
        let cases: [(&str, Files<'_>, CidataError); 3] = [
            (
                "upper case",
                vec![("User-Data", b"x")],
                CidataError::BadName("User-Data".into()),
            ),
            (
                "slash",
                vec![("a/b", b"x")],
                CidataError::BadName("a/b".into()),
            ),
            (
                "same iso name",
                vec![("user-data", b"x"), ("user_data", b"y")],
                CidataError::Duplicate("user_data".into()),
            ),
        ];
        for (name, list, want) in cases {
            assert_eq!(iso_image(LABEL, &list), Err(want), "{name}");
        }
        let empty = iso_image(LABEL, &[("meta-data", b"")]).expect("empty file");
        assert_eq!(records(&empty, 23)[2].2, 0, "zero-length file");
    }

    #[test]
    fn nocloud_texts_have_the_keys_talos_reads() {
        let meta: serde_json::Value =
            serde_norway::from_str(&meta_data("cp-1", "vm-101").expect("meta")).expect("yaml");
        assert_eq!(
            meta,
            serde_json::json!({"instance-id": "vm-101", "local-hostname": "cp-1"})
        );
        let net: serde_json::Value = serde_norway::from_str(
            &network_config_v1(&StaticNetwork {
                interface: "eth0".into(),
                mac_address: Some("bc:24:11:00:00:01".into()),
                address: "10.0.0.11/24".into(),
                gateway: Some("10.0.0.1".into()),
                nameservers: vec!["1.1.1.1".into()],
            })
            .expect("net"),
        )
        .expect("yaml");
        assert_eq!(
            net,
            serde_json::json!({"version": 1, "config": [
                {"type": "physical", "name": "eth0", "mac_address": "bc:24:11:00:00:01",
                 "subnets": [{"type": "static", "address": "10.0.0.11/24", "gateway": "10.0.0.1"}]},
                {"type": "nameserver", "address": ["1.1.1.1"]},
            ]})
        );
    }
}
