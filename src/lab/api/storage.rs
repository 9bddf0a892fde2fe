//! `/nodes/{node}/storage`: content, download-url and upload (`pve-storage`
//! `src/PVE/API2/Storage/Status.pm`, `Plugin.pm`; research §0.2-5, §0.2-6).

#[allow(unused_imports)]
use super::*;

pub(super) fn storage_exists(
    lab: &LabInner,
    node: usize,
    storage: &str,
) -> Result<(&'static str, Vec<String>), ApiError> {
    let w = lab.world();
    w.storages(node)
        .into_iter()
        .find(|(s, ..)| s == storage)
        .map(|(_, t, c, _)| (t, c))
        .ok_or_else(|| die(format!("storage '{storage}' does not exist")))
}

pub(super) fn storage_list(lab: &LabInner, node: usize, p: &BTreeMap<String, String>) -> ApiResult {
    let w = lab.world();
    let want = p.get("content").cloned();
    let v: Vec<Value> = w
        .storages(node)
        .into_iter()
        .filter(|(_, _, c, _)| want.as_ref().map(|x| c.contains(x)).unwrap_or(true))
        .map(|(s, t, c, shared)| {
            let total: u64 = 40 << 30;
            let used: u64 = 4 << 30;
            json!({"storage": s, "type": t, "content": c.join(","), "active": 1, "enabled": 1, "shared": u8::from(shared), "total": total, "used": used, "avail": total - used, "used_fraction": used as f64 / total as f64})
        })
        .collect();
    Ok(Value::Array(v))
}

pub(super) fn storage_config_list(lab: &LabInner, node: usize) -> ApiResult {
    let w = lab.world();
    let v: Vec<Value> = w
        .storages(node)
        .into_iter()
        .map(|(s, t, c, shared)| json!({"storage": s, "type": t, "content": c.join(","), "shared": u8::from(shared), "digest": "0"}))
        .collect();
    Ok(Value::Array(v))
}

pub(super) fn storage_update(
    lab: &LabInner,
    node: usize,
    storage: &str,
    p: &BTreeMap<String, String>,
    caller: Option<&Caller>,
) -> ApiResult {
    require(caller, &format!("/storage/{storage}"), "Datastore.Allocate")?;
    if storage != "local" {
        storage_exists(lab, node, storage)?;
        return Ok(Value::Null);
    }
    if let Some(c) = p.get("content") {
        let allowed = [
            "iso", "vztmpl", "backup", "snippets", "import", "images", "rootdir",
        ];
        let list: Vec<String> = c
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(bad) = list.iter().find(|x| !allowed.contains(&x.as_str())) {
            return Err(param_err(
                "content",
                format!("invalid format - invalid content type '{bad}'"),
            ));
        }
        let mut w = lab.world();
        // `/etc/pve/storage.cfg` is cluster-wide: every member's `local` changes.
        for i in w.peers(node) {
            if let Some(n) = w.nodes.get_mut(i) {
                n.local_content = list.iter().cloned().collect();
            }
        }
    }
    Ok(Value::Null)
}

pub(super) fn storage_content(
    lab: &LabInner,
    node: usize,
    storage: &str,
    p: &BTreeMap<String, String>,
) -> ApiResult {
    storage_exists(lab, node, storage)?;
    let w = lab.world();
    let n = w.nodes.get(node).ok_or_else(|| die("no such node"))?;
    let want = p.get("content");
    let prefix = format!("{storage}:");
    let v: Vec<Value> = n
        .volumes
        .values()
        .filter(|v| v.volid.starts_with(&prefix))
        .filter(|v| want.map(|c| &v.content == c).unwrap_or(true))
        .filter(|v| p.get("vmid").and_then(|x| x.parse::<u32>().ok()).map(|id| v.vmid == Some(id)).unwrap_or(true))
        .map(|v| {
            let mut j = json!({"volid": v.volid, "content": v.content, "format": v.format, "size": v.size, "ctime": v.ctime});
            if let Some(id) = v.vmid {
                j["vmid"] = json!(id);
            }
            j
        })
        .collect();
    Ok(Value::Array(v))
}

pub(super) fn normalize_volid(storage: &str, volume: &str) -> String {
    if volume.contains(':') {
        volume.to_string()
    } else {
        format!("{storage}:{volume}")
    }
}

pub(super) fn volume_info(lab: &LabInner, node: usize, storage: &str, volume: &str) -> ApiResult {
    storage_exists(lab, node, storage)?;
    let volid = normalize_volid(storage, volume);
    let w = lab.world();
    let v = w
        .nodes
        .get(node)
        .and_then(|n| n.volumes.get(&volid))
        .ok_or_else(|| die(format!("volume '{volid}' does not exist")))?;
    Ok(json!({"path": local_path(&v.volid), "size": v.size, "used": v.size, "format": v.format}))
}

pub(super) fn local_path(volid: &str) -> String {
    match volid.split_once(':') {
        Some(("local", rest)) => {
            if let Some(f) = rest.strip_prefix("iso/") {
                format!("/var/lib/vz/template/iso/{f}")
            } else if let Some(f) = rest.strip_prefix("vztmpl/") {
                format!("/var/lib/vz/template/cache/{f}")
            } else if let Some(f) = rest.strip_prefix("import/") {
                format!("/var/lib/vz/import/{f}")
            } else {
                format!("/var/lib/vz/{rest}")
            }
        }
        Some((st, rest)) => format!("/dev/{}/{rest}", if st == "local-lvm" { "pve" } else { st }),
        None => volid.to_string(),
    }
}

pub(super) fn volume_delete(
    lab: &Arc<LabInner>,
    node: usize,
    storage: &str,
    volume: &str,
    user: &str,
) -> ApiResult {
    storage_exists(lab, node, storage)?;
    let volid = normalize_volid(storage, volume);
    let mut w = lab.world();
    let n = w.nodes.get(node).ok_or_else(|| die("no such node"))?;
    let v = n
        .volumes
        .get(&volid)
        .ok_or_else(|| die(format!("volume '{volid}' does not exist")))?;
    if let Some(owner) = v.vmid {
        if n.vms.contains_key(&owner) {
            return Err(die(format!(
                "unable to delete volume '{volid}' - VM {owner} still exists"
            )));
        }
    }
    if let Some(n) = w.nodes.get_mut(node) {
        n.volumes.remove(&volid);
    }
    let upid = w.new_task(node, "imgdel", &volid, user);
    w.task_finish(&upid, "OK");
    Ok(json!(upid))
}

pub(super) fn content_check(
    storage: &str,
    content: &str,
    filename: &str,
    types: &[String],
) -> Result<String, ApiError> {
    let lower = filename.to_lowercase();
    let safe = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.+=_".contains(c))
    };
    let dir = match content {
        "iso" => {
            if !(lower.ends_with(".iso") || lower.ends_with(".img")) {
                return Err(param_err("filename", "wrong file extension"));
            }
            "iso"
        }
        "vztmpl" => {
            let ok = [".tar", ".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2"]
                .iter()
                .any(|e| lower.ends_with(e));
            if !ok {
                return Err(param_err("filename", "wrong file extension"));
            }
            "vztmpl"
        }
        "import" => {
            let ok = safe(filename)
                && [".ova", ".qcow2", ".raw", ".vmdk"]
                    .iter()
                    .any(|e| filename.ends_with(e));
            if !ok {
                return Err(param_err("filename", "invalid filename or wrong extension"));
            }
            "import"
        }
        other => {
            return Err(param_err(
                "content",
                format!(
                "value '{other}' does not have a value in the enumeration 'iso, vztmpl, import'"
            ),
            ))
        }
    };
    if !types.iter().any(|t| t == content) {
        return Err(die(format!(
            "storage '{storage}' is not configured for content-type '{content}'"
        )));
    }
    Ok(format!("{storage}:{dir}/{filename}"))
}

pub(super) fn format_of(filename: &str) -> String {
    let l = filename.to_lowercase();
    for f in ["qcow2", "raw", "vmdk", "ova", "iso", "img"] {
        if l.ends_with(&format!(".{f}")) {
            return if f == "img" { "iso".into() } else { f.into() };
        }
    }
    if l.contains(".tar") {
        return "tgz".into();
    }
    "raw".into()
}

/// `normalize_content_filename` (`pve-storage` `Storage.pm`): the last path component, with
/// anything but letters, digits, `_`, `.` and `-` replaced by `_`.
fn normalize_filename(name: &str) -> String {
    name.rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The hex digest of `data` with `algo`, or `None` for an algorithm the lab cannot compute.
fn checksum(algo: &str, data: &[u8]) -> Option<String> {
    use aws_lc_rs::digest;
    let alg = match algo {
        "sha1" => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        "sha224" => &digest::SHA224,
        "sha256" => &digest::SHA256,
        "sha384" => &digest::SHA384,
        "sha512" => &digest::SHA512,
        _ => return None,
    };
    Some(
        digest::digest(alg, data)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// `POST /nodes/{node}/storage/{storage}/download-url` (`pve-storage`
/// `API2/Storage/Status.pm` `download_url`, `pve-common` `Tools.pm` `download_file_from_url`):
/// parameters checked first; then a `download` task that fetches the URL (from the lab's file
/// server: the lab has no other network), verifies the checksum, decompresses an ISO as
/// `compression` says (`compression` has no working enum upstream, so `xz` passes the check
/// and fails in the task with "no decompression method found"), and checks the file.
pub(super) fn download_url(
    lab: &Arc<LabInner>,
    node: usize,
    storage: &str,
    p: &BTreeMap<String, String>,
    user: &str,
) -> ApiResult {
    let mut errors = BTreeMap::new();
    for req in ["url", "content", "filename"] {
        if !p.contains_key(req) {
            errors.insert(
                req.to_string(),
                "property is missing and it is not optional".to_string(),
            );
        }
    }
    let url = p.get("url").cloned().unwrap_or_default();
    if !url.is_empty() && !url.starts_with("http://") && !url.starts_with("https://") {
        errors.insert(
            "url".into(),
            "value does not match the regex pattern".into(),
        );
    }
    if let Some(c) = p.get("content") {
        if !["iso", "vztmpl", "import"].contains(&c.as_str()) {
            errors.insert(
                "content".into(),
                format!(
                    "value '{c}' does not have a value in the enumeration 'iso, vztmpl, import'"
                ),
            );
        }
    }
    if let Some(a) = p.get("checksum-algorithm") {
        if !["md5", "sha1", "sha224", "sha256", "sha384", "sha512"].contains(&a.as_str()) {
            errors.insert("checksum-algorithm".into(), format!("value '{a}' does not have a value in the enumeration 'md5, sha1, sha224, sha256, sha384, sha512'"));
        }
    }
    // `requires`: "missing property required by 'KEY'" on the missing one.
    for (k, needs) in [
        ("checksum", "checksum-algorithm"),
        ("checksum-algorithm", "checksum"),
    ] {
        if p.contains_key(k) && !p.contains_key(needs) {
            errors.insert(needs.into(), format!("missing property required by '{k}'"));
        }
    }
    if let Some(f) = p.get("filename") {
        if f.len() > 255 {
            errors.insert(
                "filename".into(),
                "value may only be 255 characters long".into(),
            );
        }
    }
    if let Some(v) = p.get("verify-certificates") {
        if !["0", "1"].contains(&v.as_str()) {
            errors.insert(
                "verify-certificates".into(),
                format!("type check ('boolean') failed - got '{v}'"),
            );
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Param(errors));
    }
    let (_, types) = storage_exists(lab, node, storage)?;
    let content = p.get("content").cloned().unwrap_or_default();
    let filename = normalize_filename(p.get("filename").map(String::as_str).unwrap_or(""));
    if !types.contains(&content) {
        return Err(die(format!(
            "storage '{storage}' is not configured for content-type '{content}'"
        )));
    }
    let volid = content_check(storage, &content, &filename, &types)?;
    let upid = lab.world().new_task(node, "download", &filename, user);
    let lab2 = lab.clone();
    let upid2 = upid.clone();
    let compression = p.get("compression").cloned();
    let expected = p
        .get("checksum")
        .zip(p.get("checksum-algorithm"))
        .map(|(s, a)| (s.to_lowercase(), a.clone()));
    let files_addr = lab.files_addr();
    lab.tracker.spawn(async move {
        let log = |line: &str| lab2.world().task_log(&upid2, line);
        let end = |msg: &str| lab2.world().task_finish(&upid2, msg);
        if let Some(c) = &compression {
            if content != "iso" {
                return end(&format!("decompression not supported for {content}"));
            }
            if !["gz", "lzo", "zst", "bz2"].contains(&c.as_str()) {
                return end("no decompression method found");
            }
        }
        let path = local_path(&volid);
        log(&format!("downloading {url} to {path}"));
        let exists = lab2
            .world()
            .nodes
            .get(node)
            .map(|n| n.volumes.contains_key(&volid))
            .unwrap_or(false);
        if exists {
            return end(&format!("refusing to override existing file '{path}'"));
        }
        if !task_step_or_end(&lab2, node, "storage.download", &upid2, true).await {
            return;
        }
        let tmp = format!("{path}.tmp_dwnl.{}", std::process::id());
        let mut data = match super::super::files::fetch(&files_addr, &url).await {
            Ok(d) => d,
            Err(e) => {
                return end(&format!(
                    "download failed: command 'wget --progress=dot:giga -O {tmp} {url}' failed: exit code {}",
                    e.wget_exit()
                ))
            }
        };
        if let Some((want, algo)) = &expected {
            match checksum(algo, &data) {
                Some(got) if got == *want => log("calculating checksum...OK, checksum verified"),
                Some(got) => {
                    log("calculating checksum...");
                    return end(&format!("checksum mismatch: got '{got}' != expect '{want}'"));
                }
                None => return end(&format!("checksum algorithm '{algo}' is not emulated by the lab")),
            }
        }
        if let Some(c) = &compression {
            let decomp = format!("{path}.tmp_dcom.{}", std::process::id());
            log(&format!("decompressing {tmp} to {decomp}"));
            match super::super::files::decompress(c, &data) {
                Ok(d) => data = d,
                Err(e) => {
                    log(&e);
                    // `decompressor_info('iso', …)`: the command `run_command` reports.
                    let cmd = match c.as_str() {
                        "gz" => "zcat",
                        "lzo" => "lzop -d -c",
                        "zst" => "zstd -q -d -c",
                        _ => "bzcat -q",
                    };
                    return end(&format!("command '{cmd}' failed: exit code 1"));
                }
            }
        }
        // `assert_file_validity`: an import image must be what its extension says.
        if content == "import" && filename.ends_with(".qcow2") && !super::super::files::is_qcow2(&data) {
            return end(&format!(
                "failed to verify file: qemu-img: Could not open '{tmp}': Image is not in qcow2 format"
            ));
        }
        log(&format!("download of '{url}' to '{path}' finished"));
        let mut w = lab2.world();
        let keep = (content == "iso" && data.len() <= KEEP_ISO_BYTES).then(|| Arc::new(data.clone()));
        add_file(&mut w, node, volid, content, &filename, data.len() as u64, keep);
        w.task_finish(&upid2, "OK");
    });
    Ok(json!(upid))
}

/// Adds a downloaded or uploaded file `filename` to `node`'s storage as volume `volid`.
fn add_file(
    w: &mut World,
    node: usize,
    volid: String,
    content: String,
    filename: &str,
    size: u64,
    data: Option<Arc<Vec<u8>>>,
) {
    if let Some(n) = w.nodes.get_mut(node) {
        n.volumes.insert(
            volid.clone(),
            Volume {
                volid,
                content,
                format: format_of(filename),
                size,
                ctime: world::now_secs(),
                data,
                vmid: None,
            },
        );
    }
}

/// ISOs up to this size keep their bytes, so a `cidata` volume can be read at VM start.
pub(super) const KEEP_ISO_BYTES: usize = 32 * 1024 * 1024;

pub(super) fn upload(
    lab: &Arc<LabInner>,
    node: usize,
    storage: &str,
    req: &Req,
    user: &str,
) -> ApiResult {
    let (fields, files) = http::multipart(req).map_err(|e| ApiError::Status(400, e))?;
    let mut errors = BTreeMap::new();
    let content = fields.get("content").cloned();
    match &content {
        None => {
            errors.insert(
                "content".to_string(),
                "property is missing and it is not optional".to_string(),
            );
        }
        Some(c) if !["iso", "vztmpl", "import"].contains(&c.as_str()) => {
            errors.insert(
                "content".to_string(),
                format!(
                    "value '{c}' does not have a value in the enumeration 'iso, vztmpl, import'"
                ),
            );
        }
        _ => {}
    }
    let file = files.into_iter().find(|f| f.field == "filename");
    if file.is_none() && !fields.contains_key("filename") {
        errors.insert(
            "filename".into(),
            "property is missing and it is not optional".into(),
        );
    }
    if !errors.is_empty() {
        return Err(ApiError::Param(errors));
    }
    let Some(file) = file else {
        return Err(die("missing temporary file name"));
    };
    let content = content.unwrap_or_default();
    let (_, types) = storage_exists(lab, node, storage)?;
    // The multipart file name is normalized to its last path component.
    let filename = file
        .filename
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .to_string();
    let volid = content_check(storage, &content, &filename, &types)?;
    if let (Some(sum), Some(algo)) = (fields.get("checksum"), fields.get("checksum-algorithm")) {
        if algo == "sha256" {
            let got = keys::sha256_colon_hex(&file.data)
                .replace(':', "")
                .to_lowercase();
            if got != sum.to_lowercase() {
                return Err(die(format!(
                    "checksum mismatch: got '{got}' != expect '{sum}'"
                )));
            }
        }
    }
    let data = if content == "iso" && file.data.len() <= KEEP_ISO_BYTES {
        Some(Arc::new(file.data.to_vec()))
    } else {
        None
    };
    let size = file.data.len() as u64;
    let mut w = lab.world();
    let upid = w.new_task(node, "imgcopy", "", user);
    w.task_log(
        &upid,
        &format!(
            "starting file import from: /var/tmp/pveupload-{:x}",
            keys::random_u64()
        ),
    );
    let node_name = w
        .nodes
        .get(node)
        .map(|n| n.name.clone())
        .unwrap_or_default();
    w.task_log(&upid, &format!("target node: {node_name}"));
    w.task_log(&upid, &format!("target file: {}", local_path(&volid)));
    w.task_log(&upid, &format!("file size is: {size}"));
    add_file(&mut w, node, volid, content, &filename, size, data);
    w.task_finish(&upid, "OK");
    Ok(json!(upid))
}
