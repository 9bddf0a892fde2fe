//! The Proxmox VE API client: reqwest with an API token, TLS pinned to the node's certificate,
//! `{"data": …}` envelopes decoded into the schema's types, and UPID tasks awaited to their
//! exit status.
//!
//! - Authentication is an API token, `Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`
//!   (`pve-manager` `PVE/HTTPServer.pm` `auth_handler`): no ticket, so no CSRF token either.
//!   The secret never reaches a log: `Debug` redacts it and the header is marked sensitive.
//! - TLS trusts exactly one certificate, by SHA-256 fingerprint (`tls.rs`); there is no trust
//!   store and no "insecure" switch.
//! - Every call takes a [`Call`]: the cancellation token that carries Terraform's Stop, and a
//!   timeout. A cancelled call returns [`Error::Cancelled`] at once and drops its connection.
//! - Failures are classified once (`error.rs`); callers decide on [`Error::kind`].
//!
//! Must not import: the framework, resources, or the lab.

mod error;
mod tls;
mod types;
mod wire;

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use reqwest::Method;
use tokio_util::sync::CancellationToken;

pub use error::Error;
pub use tls::Fingerprint;
pub use types::{
    lenient, CephCheck, CephHealth, CephStatus, CephSummary, ClusterMember, ClusterStatus,
    ClusterSummary, ConfigNode, CpuInfo, JoinInfo, JoinNode, NodeEntry, NodeStatus, QemuConfig,
    QemuListEntry, QemuStatus, StorageConfig, StorageItem, TaskOutcome, Totem, Upid, Usage,
    Version,
};

use super::ErrorKind;
use wire::{chain, multipart, normalize_base, seg, Body};

/// How long one status poll inside [`Client::wait_task`] may take, at most.
const POLL_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How many task log lines [`TaskOutcome::log_tail`] keeps.
const LOG_TAIL_LINES: u64 = 20;
/// How much of an undecodable body an error quotes.
const BODY_EXCERPT: usize = 200;

/// What every call carries: Terraform's Stop, and how long the call may take.
#[derive(Debug, Clone)]
pub struct Call {
    /// Cancelled when Terraform asks the provider to stop.
    pub cancel: CancellationToken,
    /// The time allowed for the whole call (for [`Client::wait_task`]: for the whole wait).
    pub timeout: Duration,
}

impl Call {
    /// A call bounded by `timeout` and stopped by `cancel`.
    pub fn new(cancel: &CancellationToken, timeout: Duration) -> Call {
        Call {
            cancel: cancel.clone(),
            timeout,
        }
    }
}

/// Options changed by [`Client::qemu_config_set`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QemuConfigUpdate {
    /// Options to set, e.g. `cores` → `2`, `net0` → `virtio,bridge=vmbr0`.
    pub set: BTreeMap<String, String>,
    /// Options to remove.
    pub delete: Vec<String>,
    /// The digest read with the config: PVE refuses the change if the config changed since.
    pub digest: Option<String>,
}

/// A checksum PVE verifies after a transfer.
#[derive(Debug, Clone, PartialEq)]
pub struct Checksum {
    /// `md5`, `sha1`, `sha224`, `sha256`, `sha384` or `sha512`.
    pub algorithm: String,
    /// The hex digest.
    pub value: String,
}

/// A file for [`Client::storage_upload`].
#[derive(Clone, PartialEq)]
pub struct Upload {
    /// `iso`, `vztmpl` or `import`.
    pub content: String,
    /// The file name on the storage, e.g. `talos-cidata.iso`.
    pub filename: String,
    /// The bytes.
    pub data: Vec<u8>,
    /// Checked by PVE after the upload.
    pub checksum: Option<Checksum>,
}

impl fmt::Debug for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upload")
            .field("content", &self.content)
            .field("filename", &self.filename)
            .field("bytes", &self.data.len())
            .field("checksum", &self.checksum)
            .finish()
    }
}

/// A download for [`Client::storage_download_url`]: PVE fetches `url` itself.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DownloadUrl {
    /// `http://` or `https://`.
    pub url: String,
    /// `iso`, `vztmpl` or `import`.
    pub content: String,
    /// The file name on the storage.
    pub filename: String,
    /// Checked by PVE after the download.
    pub checksum: Option<Checksum>,
    /// `gz`, `lzo`, `zst` or `bz2`: PVE unpacks an ISO after the download.
    pub compression: Option<String>,
    /// Whether PVE checks the source's TLS certificate (PVE's default: yes).
    pub verify_certificates: Option<bool>,
}

/// The token secret: compared and sent, never printed.
#[derive(Clone)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A Proxmox VE API client for one node.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// `https://HOST:8006/api2/json`, no trailing slash.
    base: String,
    token_id: String,
    secret: Secret,
    fingerprint: Fingerprint,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token_id", &self.token_id)
            .field("secret", &self.secret)
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl Client {
    /// A client for the node at `base_url` (`https://HOST:8006`, with or without
    /// `/api2/json`), authenticating with the API token `token_id` (`USER@REALM!TOKENID`) and
    /// `token_secret`, and trusting only the certificate whose SHA-256 fingerprint is
    /// `fingerprint_sha256` (`AA:BB:…`, as `pvenode cert info` prints it).
    pub fn new(
        base_url: &str,
        token_id: &str,
        token_secret: &str,
        fingerprint_sha256: &str,
    ) -> Result<Client, Error> {
        let base = normalize_base(base_url)?;
        let token_id = token_id.trim().to_string();
        let valid_id = token_id
            .split_once('!')
            .map(|(user, name)| user.contains('@') && !name.is_empty())
            .unwrap_or(false);
        if !valid_id || token_id.contains('=') || token_id.contains(char::is_whitespace) {
            return Err(Error::Config(format!(
                "token id '{token_id}' is not of the form USER@REALM!TOKENID (e.g. root@pam!terraform)"
            )));
        }
        let token_secret = token_secret.trim();
        if token_secret.is_empty() || token_secret.chars().any(char::is_control) {
            return Err(Error::Config(
                "the token secret is empty or has control characters; it is the `value` that \
                 `pveum user token add` printed"
                    .into(),
            ));
        }
        let fingerprint = Fingerprint::parse(fingerprint_sha256).ok_or_else(|| {
            Error::Config(format!(
                "'{fingerprint_sha256}' is not a SHA-256 fingerprint (32 hex pairs, AA:BB:…); \
                 `pvenode cert info` on the node prints it"
            ))
        })?;
        let tls = tls::client_config(fingerprint)
            .map_err(|e| Error::Config(format!("tls configuration: {e}")))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(true)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(format!("http client: {}", chain(&e))))?;
        Ok(Client {
            http,
            base,
            token_id,
            secret: Secret(token_secret.to_string()),
            fingerprint,
        })
    }

    /// The API base URL, `https://HOST:8006/api2/json`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The token id (`USER@REALM!TOKENID`).
    pub fn token_id(&self) -> &str {
        &self.token_id
    }

    /// `GET /version`.
    pub async fn version(&self, call: &Call) -> Result<Version, Error> {
        self.get("/version", &[], call).await
    }

    /// `GET /nodes`: the nodes of the cluster (or this node alone).
    pub async fn nodes(&self, call: &Call) -> Result<Vec<NodeEntry>, Error> {
        self.get("/nodes", &[], call).await
    }

    /// `GET /nodes/{node}/status`.
    pub async fn node_status(&self, node: &str, call: &Call) -> Result<NodeStatus, Error> {
        self.get(&format!("/nodes/{}/status", seg(node)), &[], call)
            .await
    }

    /// `GET /cluster/status`: membership and quorum.
    pub async fn cluster_status(&self, call: &Call) -> Result<ClusterStatus, Error> {
        self.get("/cluster/status", &[], call).await
    }

    /// `GET /cluster/config/join`: what another node needs to join. A node in no cluster
    /// answers with an error ("node is not in a cluster, no join info available!").
    pub async fn cluster_join_info(&self, call: &Call) -> Result<JoinInfo, Error> {
        self.get("/cluster/config/join", &[], call).await
    }

    /// `GET /cluster/config/nodes`: the members corosync.conf lists.
    pub async fn cluster_config_nodes(&self, call: &Call) -> Result<Vec<ConfigNode>, Error> {
        self.get("/cluster/config/nodes", &[], call).await
    }

    /// `GET /cluster/ceph/status`: `ceph -s`, with the health status and checks.
    pub async fn ceph_status(&self, call: &Call) -> Result<CephStatus, Error> {
        self.get("/cluster/ceph/status", &[], call).await
    }

    /// `GET /cluster/nextid`: the lowest free VM id (a string on the wire).
    pub async fn next_vmid(&self, call: &Call) -> Result<u32, Error> {
        let id: NextId = self.get("/cluster/nextid", &[], call).await?;
        Ok(id.0)
    }

    /// `POST /nodes/{node}/qemu`: creates VM `vmid` with `options` (`cores`, `memory`,
    /// `net0`, `scsi0`, …, as `qm create` takes them). Returns the `qmcreate` task.
    pub async fn qemu_create(
        &self,
        node: &str,
        vmid: u32,
        options: &BTreeMap<String, String>,
        call: &Call,
    ) -> Result<Upid, Error> {
        let mut form = vec![("vmid".to_string(), vmid.to_string())];
        form.extend(
            options
                .iter()
                .filter(|(k, _)| k.as_str() != "vmid")
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        let path = format!("/nodes/{}/qemu", seg(node));
        self.send(Method::POST, &path, &[], Body::Form(form), call)
            .await
    }

    /// `GET /nodes/{node}/qemu/{vmid}/config`: the current config (without pending changes).
    pub async fn qemu_config(
        &self,
        node: &str,
        vmid: u32,
        call: &Call,
    ) -> Result<QemuConfig, Error> {
        let path = format!("/nodes/{}/qemu/{vmid}/config", seg(node));
        self.get(&path, &[], call).await
    }

    /// `POST /nodes/{node}/qemu/{vmid}/config`: sets and deletes options. Returns the task
    /// when PVE started one (it may answer `null` when there is nothing to do in background).
    pub async fn qemu_config_set(
        &self,
        node: &str,
        vmid: u32,
        update: &QemuConfigUpdate,
        call: &Call,
    ) -> Result<Option<Upid>, Error> {
        let mut form: Vec<(String, String)> = update
            .set
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !update.delete.is_empty() {
            form.push(("delete".into(), update.delete.join(",")));
        }
        if let Some(d) = &update.digest {
            form.push(("digest".into(), d.clone()));
        }
        let path = format!("/nodes/{}/qemu/{vmid}/config", seg(node));
        self.send(Method::POST, &path, &[], Body::Form(form), call)
            .await
    }

    /// `GET /storage`: the cluster's storage definitions (`/etc/pve/storage.cfg`).
    pub async fn storage_configs(&self, call: &Call) -> Result<Vec<StorageConfig>, Error> {
        self.get("/storage", &[], call).await
    }

    /// `PUT /storage/{storage}`: sets the content types `storage` holds, cluster-wide.
    pub async fn storage_set_content(
        &self,
        storage: &str,
        content: &[String],
        call: &Call,
    ) -> Result<(), Error> {
        let form = vec![("content".to_string(), content.join(","))];
        let path = format!("/storage/{}", seg(storage));
        let _: serde_json::Value = self
            .send(Method::PUT, &path, &[], Body::Form(form), call)
            .await?;
        Ok(())
    }

    /// `GET /nodes/{node}/qemu`: the node's VMs.
    pub async fn qemu_list(&self, node: &str, call: &Call) -> Result<Vec<QemuListEntry>, Error> {
        let path = format!("/nodes/{}/qemu", seg(node));
        self.get(&path, &[], call).await
    }

    /// `PUT /nodes/{node}/qemu/{vmid}/resize`: grows `disk` (`scsi0`) to `size` (`10G`, or
    /// `+2G` to add). PVE answers with a task, or `null` where it resized at once.
    pub async fn qemu_resize(
        &self,
        node: &str,
        vmid: u32,
        disk: &str,
        size: &str,
        call: &Call,
    ) -> Result<Option<Upid>, Error> {
        let form = vec![
            ("disk".to_string(), disk.to_string()),
            ("size".to_string(), size.to_string()),
        ];
        let path = format!("/nodes/{}/qemu/{vmid}/resize", seg(node));
        self.send(Method::PUT, &path, &[], Body::Form(form), call)
            .await
    }

    /// `DELETE /nodes/{node}/storage/{storage}/content/{volume}`: removes a volume (an
    /// uploaded ISO, an imported image). Returns the task, or `null` where PVE deleted at once.
    pub async fn storage_delete(
        &self,
        node: &str,
        storage: &str,
        volume: &str,
        call: &Call,
    ) -> Result<Option<Upid>, Error> {
        let path = format!(
            "/nodes/{}/storage/{}/content/{}",
            seg(node),
            seg(storage),
            seg(volume)
        );
        self.send(Method::DELETE, &path, &[], Body::None, call)
            .await
    }

    /// `GET /nodes/{node}/qemu/{vmid}/status/current`.
    pub async fn qemu_status(
        &self,
        node: &str,
        vmid: u32,
        call: &Call,
    ) -> Result<QemuStatus, Error> {
        let path = format!("/nodes/{}/qemu/{vmid}/status/current", seg(node));
        self.get(&path, &[], call).await
    }

    /// `POST /nodes/{node}/qemu/{vmid}/status/start`. Returns the `qmstart` task.
    pub async fn qemu_start(&self, node: &str, vmid: u32, call: &Call) -> Result<Upid, Error> {
        let path = format!("/nodes/{}/qemu/{vmid}/status/start", seg(node));
        self.send(Method::POST, &path, &[], Body::Form(Vec::new()), call)
            .await
    }

    /// `POST /nodes/{node}/qemu/{vmid}/status/stop`: stops at once, like pulling the plug.
    /// Returns the `qmstop` task.
    pub async fn qemu_stop(&self, node: &str, vmid: u32, call: &Call) -> Result<Upid, Error> {
        let path = format!("/nodes/{}/qemu/{vmid}/status/stop", seg(node));
        self.send(Method::POST, &path, &[], Body::Form(Vec::new()), call)
            .await
    }

    /// `DELETE /nodes/{node}/qemu/{vmid}`: destroys the VM and its disks; with `purge`, also
    /// removes it from backup jobs, replication and HA, and deletes unreferenced disks.
    /// Returns the `qmdestroy` task.
    pub async fn qemu_delete(
        &self,
        node: &str,
        vmid: u32,
        purge: bool,
        call: &Call,
    ) -> Result<Upid, Error> {
        let path = format!("/nodes/{}/qemu/{vmid}", seg(node));
        let query: Vec<(&str, String)> = if purge {
            vec![
                ("purge", "1".into()),
                ("destroy-unreferenced-disks", "1".into()),
            ]
        } else {
            Vec::new()
        };
        self.send(Method::DELETE, &path, &query, Body::None, call)
            .await
    }

    /// `GET /nodes/{node}/storage/{storage}/content`, optionally of one content type.
    pub async fn storage_content(
        &self,
        node: &str,
        storage: &str,
        content: Option<&str>,
        call: &Call,
    ) -> Result<Vec<StorageItem>, Error> {
        let path = format!("/nodes/{}/storage/{}/content", seg(node), seg(storage));
        let query: Vec<(&str, String)> = content
            .map(|c| vec![("content", c.to_string())])
            .unwrap_or_default();
        self.get(&path, &query, call).await
    }

    /// `POST /nodes/{node}/storage/{storage}/upload` (multipart/form-data). Returns the
    /// `imgcopy` task.
    pub async fn storage_upload(
        &self,
        node: &str,
        storage: &str,
        upload: &Upload,
        call: &Call,
    ) -> Result<Upid, Error> {
        let mut fields = vec![("content", upload.content.clone())];
        if let Some(c) = &upload.checksum {
            fields.push(("checksum-algorithm", c.algorithm.clone()));
            fields.push(("checksum", c.value.clone()));
        }
        let (boundary, bytes) = multipart(&fields, "filename", &upload.filename, &upload.data);
        let path = format!("/nodes/{}/storage/{}/upload", seg(node), seg(storage));
        let body = Body::Multipart { boundary, bytes };
        self.send(Method::POST, &path, &[], body, call).await
    }

    /// `POST /nodes/{node}/storage/{storage}/download-url`: the node downloads the file
    /// itself. Returns the `download` task.
    pub async fn storage_download_url(
        &self,
        node: &str,
        storage: &str,
        download: &DownloadUrl,
        call: &Call,
    ) -> Result<Upid, Error> {
        let mut form = vec![
            ("url".to_string(), download.url.clone()),
            ("content".to_string(), download.content.clone()),
            ("filename".to_string(), download.filename.clone()),
        ];
        if let Some(c) = &download.checksum {
            form.push(("checksum-algorithm".into(), c.algorithm.clone()));
            form.push(("checksum".into(), c.value.clone()));
        }
        if let Some(c) = &download.compression {
            form.push(("compression".into(), c.clone()));
        }
        if let Some(v) = download.verify_certificates {
            form.push(("verify-certificates".into(), u8::from(v).to_string()));
        }
        let path = format!("/nodes/{}/storage/{}/download-url", seg(node), seg(storage));
        self.send(Method::POST, &path, &[], Body::Form(form), call)
            .await
    }

    /// Polls `GET /nodes/{node}/tasks/{upid}/status` until the task stops (first after
    /// 100 ms, then twice as long each time up to `poll`: most tasks end within a second), then
    /// reads the tail of its log. `call.timeout` bounds the whole wait. A stopped task is
    /// `Ok` whatever its exit status: [`TaskOutcome::ok`] says whether it succeeded, and
    /// [`TaskOutcome::into_result`] turns a failure into an error. Polls that fail for a
    /// transient reason (a dropped connection, a node busy rebooting) are retried.
    pub async fn wait_task(
        &self,
        node: &str,
        upid: &Upid,
        poll: Duration,
        call: &Call,
    ) -> Result<TaskOutcome, Error> {
        let what = format!("task {upid}");
        let deadline = Instant::now() + call.timeout;
        let path = format!("/nodes/{}/tasks/{}/status", seg(node), seg(&upid.0));
        tracing::info!(upid = %upid, node, "waiting for proxmox ve task");
        let mut wait = Duration::from_millis(100).min(poll);
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Error::Timeout {
                    what,
                    after: call.timeout,
                });
            }
            let one = Call::new(&call.cancel, remaining.min(POLL_CALL_TIMEOUT));
            match self.get::<types::TaskStatus>(&path, &[], &one).await {
                Ok(st) if st.status == "stopped" => {
                    let exitstatus = st.exitstatus.unwrap_or_default();
                    let log_tail = self.log_tail(node, upid, call).await?;
                    let ok = types::exit_ok(&exitstatus);
                    tracing::info!(upid = %upid, exitstatus, "proxmox ve task stopped");
                    return Ok(TaskOutcome {
                        upid: upid.clone(),
                        ok,
                        exitstatus,
                        log_tail,
                    });
                }
                Ok(_) => {}
                Err(Error::Cancelled { .. }) => return Err(Error::Cancelled { what }),
                Err(e) if e.kind() == ErrorKind::Transient => {
                    tracing::debug!(upid = %upid, error = %e, "task poll failed; retrying");
                }
                Err(e) => return Err(e),
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            tokio::select! {
                biased;
                _ = call.cancel.cancelled() => return Err(Error::Cancelled { what }),
                _ = tokio::time::sleep(wait.min(remaining)) => {}
            }
            wait = (wait * 2).min(poll);
        }
    }

    /// The last [`LOG_TAIL_LINES`] lines of a stopped task's log. Only cancellation is an
    /// error: a log that cannot be read leaves the tail empty, the exit status says enough.
    async fn log_tail(&self, node: &str, upid: &Upid, call: &Call) -> Result<Vec<String>, Error> {
        let path = format!("/nodes/{}/tasks/{}/log", seg(node), seg(&upid.0));
        let one = Call::new(&call.cancel, POLL_CALL_TIMEOUT);
        let first = self
            .send_full::<Vec<types::LogLine>>(Method::GET, &path, &[], Body::None, &one)
            .await;
        let (mut lines, total) = match first {
            Ok(v) => v,
            Err(Error::Cancelled { what }) => return Err(Error::Cancelled { what }),
            Err(_) => return Ok(Vec::new()),
        };
        let total = total.unwrap_or(lines.len() as u64);
        if total > lines.len() as u64 {
            let start = total.saturating_sub(LOG_TAIL_LINES);
            let query = [
                ("start", start.to_string()),
                ("limit", LOG_TAIL_LINES.to_string()),
            ];
            match self
                .send_full::<Vec<types::LogLine>>(Method::GET, &path, &query, Body::None, &one)
                .await
            {
                Ok((l, _)) => lines = l,
                Err(Error::Cancelled { what }) => return Err(Error::Cancelled { what }),
                Err(_) => {}
            }
        }
        lines.sort_by_key(|l| l.n);
        let skip = lines.len().saturating_sub(LOG_TAIL_LINES as usize);
        Ok(lines.into_iter().skip(skip).map(|l| l.t).collect())
    }
}

/// `/cluster/nextid`'s answer: `"100"` (a number in some releases).
struct NextId(u32);

impl<'de> serde::Deserialize<'de> for NextId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient::value(d).map(NextId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let fp = "AB:".repeat(31) + "CD";
        let c = Client::new("https://pve:8006", "root@pam!tf", "s3cr3t-uuid", &fp).expect("client");
        let text = format!("{c:?}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
        assert!(text.contains("root@pam!tf"), "{text}");
    }

    #[test]
    fn settings_are_checked_before_any_call() {
        let fp = "AB:".repeat(31) + "CD";
        let cases: &[(&str, &str, &str, &str, &str)] = &[
            (
                "token without name",
                "https://pve:8006",
                "root@pam",
                "x",
                "USER@REALM!TOKENID",
            ),
            (
                "token without realm",
                "https://pve:8006",
                "root!tf",
                "x",
                "USER@REALM!TOKENID",
            ),
            (
                "empty secret",
                "https://pve:8006",
                "root@pam!tf",
                " ",
                "token secret",
            ),
            (
                "bad fingerprint",
                "https://pve:8006",
                "root@pam!tf",
                "x",
                "pvenode cert info",
            ),
            (
                "http url",
                "http://pve:8006",
                "root@pam!tf",
                "x",
                "https://",
            ),
        ];
        for (name, url, id, secret, hint) in cases {
            let f = if *name == "bad fingerprint" {
                "AA:BB"
            } else {
                fp.as_str()
            };
            let e = Client::new(url, id, secret, f).expect_err(name);
            assert_eq!(e.kind(), ErrorKind::Fatal, "{name}");
            assert!(e.to_string().contains(hint), "{name}: {e}");
        }
    }
}
