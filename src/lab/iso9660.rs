//! A small ISO 9660 (ECMA-119) reader for NoCloud `cidata` volumes, and a writer for fixtures.
//!
//! NoCloud reads a volume labelled `cidata` holding `user-data`, `meta-data` and
//! `network-config` (research §B.6). Tools write those names through Joliet (`genisoimage
//! -joliet`) or Rock Ridge (`-rock`) extensions, since plain ISO 9660 names are upper case; the
//! reader tries Joliet, then Rock Ridge `NM` entries, then plain names (`USER_DATA.;1` →
//! `user-data`). Only the root directory is read. Malformed images are errors, never panics.

/// Sector size of every ISO 9660 image the lab reads or writes.
pub const SECTOR: usize = 2048;

/// The NoCloud files of a `cidata` volume.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CidataFiles {
    /// `user-data` (for Talos: the machine config).
    pub user_data: String,
    /// `meta-data`, empty when absent.
    pub meta_data: String,
    /// `network-config`, empty when absent.
    pub network_config: String,
}

/// Why an image could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IsoError {
    /// The image ends before a structure it points to.
    #[error("image truncated at byte {0}")]
    Truncated(usize),
    /// No primary volume descriptor (not ISO 9660).
    #[error("no ISO 9660 primary volume descriptor")]
    NotIso,
    /// A `cidata` volume without `user-data`.
    #[error("cidata volume has no user-data file")]
    NoUserData,
}

fn get(img: &[u8], start: usize, len: usize) -> Result<&[u8], IsoError> {
    img.get(start..start.checked_add(len).ok_or(IsoError::Truncated(start))?)
        .ok_or(IsoError::Truncated(start + len))
}

fn le32(b: &[u8], at: usize) -> Result<usize, IsoError> {
    let s = b.get(at..at + 4).ok_or(IsoError::Truncated(at))?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
}

/// The volume label of the primary volume descriptor.
pub fn volume_label(img: &[u8]) -> Result<String, IsoError> {
    let (pvd, _) = descriptors(img)?;
    let d = get(img, pvd, SECTOR)?;
    Ok(String::from_utf8_lossy(&d[40..72])
        .trim_end_matches([' ', '\0'])
        .to_string())
}

/// Offsets of the primary descriptor and of a Joliet supplementary descriptor.
fn descriptors(img: &[u8]) -> Result<(usize, Option<usize>), IsoError> {
    let mut pvd = None;
    let mut joliet = None;
    for i in 16..64 {
        let at = i * SECTOR;
        let Ok(d) = get(img, at, SECTOR) else { break };
        if &d[1..6] != b"CD001" {
            break;
        }
        match d[0] {
            1 if pvd.is_none() => pvd = Some(at),
            2 => {
                let esc = &d[88..91];
                if esc == b"%/@" || esc == b"%/C" || esc == b"%/E" {
                    joliet = Some(at);
                }
            }
            255 => break,
            _ => {}
        }
    }
    Ok((pvd.ok_or(IsoError::NotIso)?, joliet))
}

/// One file in the root directory: (name, extent, size).
fn root_entries(
    img: &[u8],
    desc: usize,
    joliet: bool,
) -> Result<Vec<(String, usize, usize)>, IsoError> {
    let d = get(img, desc, SECTOR)?;
    let root = &d[156..190];
    let extent = le32(root, 2)?;
    let size = le32(root, 10)?.min(16 * 1024 * 1024);
    let dir = get(
        img,
        extent
            .checked_mul(SECTOR)
            .ok_or(IsoError::Truncated(extent))?,
        size,
    )?;
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < dir.len() {
        let len = dir[pos] as usize;
        if len == 0 {
            // Records never cross sectors: skip to the next one.
            pos = (pos / SECTOR + 1) * SECTOR;
            continue;
        }
        let rec = dir
            .get(pos..pos + len)
            .ok_or(IsoError::Truncated(extent * SECTOR + pos))?;
        pos += len;
        if rec.len() < 34 {
            continue;
        }
        let flags = rec[25];
        let name_len = rec[32] as usize;
        let Some(raw) = rec.get(33..33 + name_len) else {
            continue;
        };
        if flags & 0x02 != 0 || raw == [0] || raw == [1] {
            continue;
        }
        let f_extent = le32(rec, 2)?;
        let f_size = le32(rec, 10)?;
        let name = if joliet {
            let units: Vec<u16> = raw
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        } else {
            let su_start = 33 + name_len + usize::from(name_len.is_multiple_of(2));
            rock_ridge_name(rec.get(su_start..).unwrap_or(&[]))
                .unwrap_or_else(|| String::from_utf8_lossy(raw).to_string())
        };
        out.push((normalize(&name), f_extent, f_size));
    }
    Ok(out)
}

/// The `NM` (alternate name) entry of a Rock Ridge system use area.
fn rock_ridge_name(mut su: &[u8]) -> Option<String> {
    let mut name = String::new();
    while su.len() >= 4 {
        let len = su[2] as usize;
        if len < 4 || len > su.len() {
            break;
        }
        if &su[0..2] == b"NM" && len >= 5 {
            name.push_str(&String::from_utf8_lossy(&su[5..len]));
            if su[4] & 0x01 == 0 {
                return Some(name);
            }
        }
        su = &su[len..];
    }
    if name.is_empty() {
        None
    } else {
        Some(name)
    }
}

/// `USER_DATA.;1` → `user-data`; Joliet and Rock Ridge names only lose a `;1`.
fn normalize(name: &str) -> String {
    let n = name.split(';').next().unwrap_or("").trim_end_matches('.');
    n.to_lowercase().replace('_', "-")
}

/// Reads the NoCloud files if `img` is an ISO 9660 volume labelled `cidata` (any case);
/// `Ok(None)` for another label.
pub fn read_cidata(img: &[u8]) -> Result<Option<CidataFiles>, IsoError> {
    let label = volume_label(img)?;
    if !label.eq_ignore_ascii_case("cidata") {
        return Ok(None);
    }
    let (pvd, joliet) = descriptors(img)?;
    let entries = match joliet {
        Some(j) => root_entries(img, j, true)?,
        None => root_entries(img, pvd, false)?,
    };
    let read = |want: &str| -> Result<Option<String>, IsoError> {
        match entries.iter().find(|(n, _, _)| n == want) {
            Some((_, extent, size)) => {
                let data = get(
                    img,
                    extent
                        .checked_mul(SECTOR)
                        .ok_or(IsoError::Truncated(*extent))?,
                    *size,
                )?;
                Ok(Some(String::from_utf8_lossy(data).to_string()))
            }
            None => Ok(None),
        }
    };
    let user_data = read("user-data")?.ok_or(IsoError::NoUserData)?;
    Ok(Some(CidataFiles {
        user_data,
        meta_data: read("meta-data")?.unwrap_or_default(),
        network_config: read("network-config")?.unwrap_or_default(),
    }))
}

fn both16(v: u16) -> [u8; 4] {
    let l = v.to_le_bytes();
    let b = v.to_be_bytes();
    [l[0], l[1], b[0], b[1]]
}

fn both32(v: u32) -> [u8; 8] {
    let l = v.to_le_bytes();
    let b = v.to_be_bytes();
    [l[0], l[1], l[2], l[3], b[0], b[1], b[2], b[3]]
}

fn dir_record(extent: u32, size: u32, dir: bool, name: &[u8]) -> Vec<u8> {
    let pad = usize::from(name.len().is_multiple_of(2));
    let len = 33 + name.len() + pad;
    let mut r = vec![0u8; len];
    r[0] = len as u8;
    r[2..10].copy_from_slice(&both32(extent));
    r[10..18].copy_from_slice(&both32(size));
    // Recording date: 2026-01-01 00:00:00 UTC.
    r[18..25].copy_from_slice(&[126, 1, 1, 0, 0, 0, 0]);
    r[25] = if dir { 0x02 } else { 0x00 };
    r[28..32].copy_from_slice(&both16(1));
    r[32] = name.len() as u8;
    r[33..33 + name.len()].copy_from_slice(name);
    r
}

fn ucs2(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()
}

/// Builds an ISO 9660 image labelled `label` holding `files` in its root, with plain ISO names
/// and a Joliet tree carrying the real names — as `genisoimage -V cidata -joliet` does.
pub fn build_iso(label: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    // Sectors: 16 PVD, 17 Joliet SVD, 18 terminator, 19-22 path tables, 23 root, 24 Joliet
    // root, then file data.
    let mut data_lba = 25u32;
    let mut placed = Vec::new();
    for (name, data) in files {
        placed.push((*name, *data, data_lba));
        data_lba += (data.len().div_ceil(SECTOR)).max(1) as u32;
    }
    let total = data_lba as usize;
    let mut img = vec![0u8; total * SECTOR];
    let root_records = |joliet: bool, root_lba: u32| -> Vec<u8> {
        let mut d = Vec::new();
        d.extend(dir_record(root_lba, SECTOR as u32, true, &[0]));
        d.extend(dir_record(root_lba, SECTOR as u32, true, &[1]));
        for (name, data, lba) in &placed {
            let n = if joliet {
                ucs2(name)
            } else {
                format!("{};1", name.to_uppercase().replace('-', "_")).into_bytes()
            };
            d.extend(dir_record(*lba, data.len() as u32, false, &n));
        }
        d.truncate(SECTOR);
        d
    };
    let write = |img: &mut Vec<u8>, at: usize, bytes: &[u8]| {
        if let Some(dst) = img.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    };
    for (joliet, sector, root_lba, lpt, mpt) in [
        (false, 16usize, 23u32, 19u32, 20u32),
        (true, 17, 24, 21, 22),
    ] {
        let at = sector * SECTOR;
        let mut d = vec![0u8; SECTOR];
        d[0] = if joliet { 2 } else { 1 };
        d[1..6].copy_from_slice(b"CD001");
        d[6] = 1;
        for b in d[8..72].iter_mut() {
            *b = b' ';
        }
        if joliet {
            let l = ucs2(label);
            let n = l.len().min(32);
            d[40..40 + n].copy_from_slice(&l[..n]);
            for i in (40 + n..72).step_by(2) {
                d[i] = 0;
                d[i + 1] = b' ';
            }
            d[88..91].copy_from_slice(b"%/E");
        } else {
            let l = label.as_bytes();
            let n = l.len().min(32);
            d[40..40 + n].copy_from_slice(&l[..n]);
        }
        d[80..88].copy_from_slice(&both32(total as u32));
        d[120..124].copy_from_slice(&both16(1));
        d[124..128].copy_from_slice(&both16(1));
        d[128..132].copy_from_slice(&both16(SECTOR as u16));
        d[132..140].copy_from_slice(&both32(10));
        d[140..144].copy_from_slice(&lpt.to_le_bytes());
        d[148..152].copy_from_slice(&mpt.to_be_bytes());
        let root = dir_record(root_lba, SECTOR as u32, true, &[0]);
        d[156..156 + root.len()].copy_from_slice(&root);
        for b in d[190..813].iter_mut() {
            *b = b' ';
        }
        for date in [813usize, 830, 847, 864] {
            for b in d[date..date + 16].iter_mut() {
                *b = b'0';
            }
        }
        d[881] = 1;
        write(&mut img, at, &d);
        // Path tables: one root entry (LE and BE).
        let mut l = vec![1u8, 0];
        l.extend(root_lba.to_le_bytes());
        l.extend(1u16.to_le_bytes());
        l.extend([0u8, 0]);
        let mut m = vec![1u8, 0];
        m.extend(root_lba.to_be_bytes());
        m.extend(1u16.to_be_bytes());
        m.extend([0u8, 0]);
        write(&mut img, lpt as usize * SECTOR, &l);
        write(&mut img, mpt as usize * SECTOR, &m);
        let recs = root_records(joliet, root_lba);
        write(&mut img, root_lba as usize * SECTOR, &recs);
    }
    let mut term = vec![0u8; 7];
    term[0] = 255;
    term[1..6].copy_from_slice(b"CD001");
    term[6] = 1;
    write(&mut img, 18 * SECTOR, &term);
    for (_, data, lba) in &placed {
        write(&mut img, *lba as usize * SECTOR, data);
    }
    img
}

/// A NoCloud `cidata` ISO with `user-data`, `meta-data` and, when given, `network-config`.
pub fn build_cidata_iso(user_data: &str, meta_data: &str, network_config: Option<&str>) -> Vec<u8> {
    let mut files: Vec<(&str, &[u8])> = vec![
        ("meta-data", meta_data.as_bytes()),
        ("user-data", user_data.as_bytes()),
    ];
    if let Some(n) = network_config {
        files.push(("network-config", n.as_bytes()));
    }
    build_iso("cidata", &files)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn cidata_round_trip_and_labels() {
        let img = build_cidata_iso(
            "version: v1alpha1\n",
            "local-hostname: cp1\n",
            Some("version: 2\n"),
        );
        assert_eq!(volume_label(&img).as_deref(), Ok("cidata"));
        let f = read_cidata(&img).expect("readable").expect("cidata");
        assert_eq!(f.user_data, "version: v1alpha1\n");
        assert_eq!(f.meta_data, "local-hostname: cp1\n");
        assert_eq!(f.network_config, "version: 2\n");
        let other = build_iso("TALOS", &[("user-data", b"x")]);
        assert_eq!(
            read_cidata(&other),
            Ok(None),
            "another label is not NoCloud"
        );
        let no_ud = build_iso("CIDATA", &[("meta-data", b"x")]);
        assert_eq!(read_cidata(&no_ud), Err(IsoError::NoUserData));
    }

    #[test]
    fn malformed_images_are_errors() {
        let img = build_cidata_iso("a", "b", None);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("zeros", vec![0u8; 40 * SECTOR]),
            ("cut after descriptors", img[..19 * SECTOR].to_vec()),
            ("cut in the data", img[..img.len() - SECTOR].to_vec()),
        ];
        for (name, bytes) in cases {
            assert!(read_cidata(&bytes).is_err(), "{name} accepted");
        }
    }

    #[test]
    fn plain_and_rock_ridge_names() {
        assert_eq!(normalize("USER_DATA.;1"), "user-data");
        assert_eq!(normalize("NETWORK_CONFIG;1"), "network-config");
        let mut su = b"NM".to_vec();
        su.extend([5 + 9, 1, 0]);
        su.extend(b"user-data");
        assert_eq!(rock_ridge_name(&su).as_deref(), Some("user-data"));
    }
}
