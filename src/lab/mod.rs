//! The lab: emulated free-tier hosts on loopback (issue 5).
//!
//! Each Ampere host is Proxmox VE on arm64 without KVM, as on an OCI A1 instance: SSH with the
//! `pvecm`/`pveceph`/`ceph` commands the provider uses, and the Proxmox VE HTTPS API on :8006.
//! A bastion host adds SSH and a corosync-qnetd stand-in. The lab writes a Terraform state file
//! with the outputs of `terraform/oci`, so layers 2 and 3 run against it unchanged. Every
//! operation takes a duration from one latency table, is recorded in a trace, and can be hit by a
//! scripted fault.
//!
//! Fidelity rule: the lab is built to the documented behaviour of the real systems
//! (`shared/research/talos_proxmox.md` and the upstream files it names), never to what our own
//! provider sends. Its wire strings are its own; each cites its source.
//!
//! Must not import: anything else in this crate (`framework`, `provider`, `rules`, clients).
//! It binds loopback addresses in 127.0.0.0/8 only and never connects anywhere else.
//! The Talos and Kubernetes emulation lives in `talos/` and plugs in through [`GuestLauncher`].
//! The OCI APIs `freetier validate` asks (Usage, Limits, Identity, Budgets) live in `oci.rs`,
//! on the bastion address.

pub mod cli;
pub mod config;
pub mod faults;
pub mod iso9660;
pub mod latency;
pub mod layer1;
pub mod state;
pub mod talos;
pub mod talos_guests;

mod api;
mod ceph;
mod ceph_admin;
mod control;
mod disks;
mod files;
mod host;
mod http;
mod keys;
mod net;
mod oci;
mod oci_storage;
mod pve_cli;
mod pveceph;
mod pveceph_destroy;
mod pvecm;
mod services;
mod shell;
mod ssh;
mod world;

#[cfg(test)]
mod teardown_tests;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{HostOs, LabConfig, Tier};
pub use faults::{FaultAction, FaultRule, FaultTrigger};
pub use latency::{LatencyTable, TraceEvent};
pub use state::{HostState, LabState};

/// Errors from starting, running or stopping a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The configuration cannot describe a lab; the message says what to change.
    #[error("invalid lab configuration: {0}")]
    Config(String),
    /// A loopback listener could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address and port that failed.
        addr: String,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// Reading or writing the state directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// Generating keys or certificates failed.
    #[error("key material: {0}")]
    Crypto(String),
    /// A fault rule or fault file is malformed.
    #[error("fault rules: {0}")]
    Faults(String),
}

/// What a guest launcher receives when a VM boots from a NoCloud (`cidata`) volume.
///
/// The files are read from the ISO9660 image attached to the VM
/// (`shared/research/talos_proxmox.md` §B.6: label `cidata`, files `user-data`, `meta-data`,
/// `network-config`).
#[derive(Debug, Clone, PartialEq)]
pub struct GuestBoot {
    /// The Proxmox node the VM runs on, e.g. `ampere-1`.
    pub node: String,
    /// The VM id.
    pub vmid: u32,
    /// The VM name from its config (`name`), or `VM <vmid>` as Proxmox shows unnamed guests.
    pub name: String,
    /// The `user-data` file (for Talos: the machine config).
    pub user_data: String,
    /// The `meta-data` file, empty when absent.
    pub meta_data: String,
    /// The `network-config` file, empty when absent.
    pub network_config: String,
    /// The VM runs under QEMU TCG (no KVM), so boot steps are slower (research §0.2-1).
    pub tcg: bool,
}

/// Starts and stops the guest OS of an emulated VM. The Talos emulation implements this.
#[async_trait]
pub trait GuestLauncher: Send + Sync {
    /// The VM has finished firmware boot with a `cidata` volume; bring the guest up.
    /// An error is logged and traced (`step:guest.boot` marked failed); the VM keeps running.
    async fn boot(&self, guest: GuestBoot) -> Result<(), String>;
    /// The VM stopped (stop, destroy, host reboot or lab stop); take the guest down.
    async fn halt(&self, node: &str, vmid: u32);
}

/// A launcher that does nothing: VMs run, but no guest answers.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoGuests;

#[async_trait]
impl GuestLauncher for NoGuests {
    async fn boot(&self, _guest: GuestBoot) -> Result<(), String> {
        Ok(())
    }
    async fn halt(&self, _node: &str, _vmid: u32) {}
}

/// A running lab. Dropping it cancels every task; [`Lab::stop`] also waits for them.
pub struct Lab {
    inner: Arc<LabInner>,
}

/// Shared by every listener and task of one lab.
pub(crate) struct LabInner {
    pub(crate) config: LabConfig,
    pub(crate) hosts: Vec<net::HostSpec>,
    pub(crate) bastion: Option<net::HostSpec>,
    pub(crate) base: Ipv4Addr,
    pub(crate) control_port: u16,
    pub(crate) secrets: keys::LabSecrets,
    pub(crate) world: Mutex<world::World>,
    pub(crate) latency: LatencyTable,
    pub(crate) trace: Mutex<Vec<TraceEvent>>,
    pub(crate) faults: faults::FaultPlan,
    pub(crate) launcher: Arc<dyn GuestLauncher>,
    pub(crate) locks: pvecm::Locks,
    pub(crate) cancel: CancellationToken,
    pub(crate) tracker: TaskTracker,
    pub(crate) started: Instant,
    pub(crate) state_dir: Option<PathBuf>,
    /// The OCI tenancy behind the lab's OCI endpoint (`oci.rs`).
    pub(crate) oci: oci::OciAccount,
    /// The size of the custom image Layer 1's state records, if any (see
    /// [`LabConfig::custom_image_gb`]).
    pub(crate) custom_image_gb: Mutex<Option<u32>>,
}

impl LabInner {
    /// Whether `password` is root's on node `node` (the lab's initial one until `chpasswd`).
    pub(crate) fn root_password_ok(&self, node: usize, password: &str) -> bool {
        let w = self.world();
        let current = w
            .nodes
            .get(node)
            .and_then(|n| n.root_password.clone())
            .unwrap_or_else(|| self.secrets.root_password.clone());
        password == current
    }

    /// `IP:PORT` of the lab's file server (on the bastion address).
    pub(crate) fn files_addr(&self) -> String {
        let o = self.base.octets();
        format!("{}.{}.{}.10:{}", o[0], o[1], o[2], files::FILES_PORT)
    }

    /// Locks the emulated world. A poisoned lock (a panic elsewhere) is taken over, since the
    /// lab must keep answering.
    pub(crate) fn world(&self) -> MutexGuard<'_, world::World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sleeps for the scaled duration of `op`; returns at once when the lab stops.
    pub(crate) async fn pause(&self, op: &str, tcg_factor: f64) {
        let d = self
            .latency
            .scaled(op, self.config.time_scale)
            .mul_f64(tcg_factor.max(1.0));
        self.sleep(d).await;
    }

    /// Sleeps for `d` unless the lab stops first. A zero duration does not yield.
    pub(crate) async fn sleep(&self, d: Duration) {
        if d.is_zero() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.cancel.cancelled() => {}
        }
    }

    /// Records one finished operation in the trace.
    pub(crate) fn record(&self, host: &str, op: &str, start: Instant, ok: bool) {
        let ev = TraceEvent {
            host: host.to_string(),
            op: op.to_string(),
            start_ms: start.saturating_duration_since(self.started).as_secs_f64() * 1000.0,
            end_ms: self.started.elapsed().as_secs_f64() * 1000.0,
            ok,
        };
        let mut t = self.trace.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded so a long-running lab cannot grow without limit.
        if t.len() >= latency::TRACE_CAPACITY {
            t.remove(0);
        }
        t.push(ev);
    }

    /// Finds the Ampere host index with this loopback address.
    pub(crate) fn host_by_ip(&self, ip: Ipv4Addr) -> Option<usize> {
        self.hosts.iter().position(|h| h.ip == ip)
    }
}

impl Lab {
    /// Starts a lab with no guest launcher (VMs run, no guest OS answers).
    pub async fn start(config: LabConfig) -> Result<Lab, LabError> {
        Self::start_with(config, Arc::new(NoGuests)).await
    }

    /// Starts a lab whose VMs boot guests through `launcher`.
    pub async fn start_with(
        config: LabConfig,
        launcher: Arc<dyn GuestLauncher>,
    ) -> Result<Lab, LabError> {
        config.validate()?;
        let inner = net::start(config, launcher).await?;
        Ok(Lab { inner })
    }

    /// A JSON-serialisable description of the hosts and their credentials.
    pub fn state(&self) -> LabState {
        state::describe(&self.inner)
    }

    /// The first address of the lab's loopback /24, e.g. `127.23.181.0`.
    pub fn base(&self) -> Ipv4Addr {
        self.inner.base
    }

    /// Every operation the lab has run so far, oldest first.
    pub fn trace(&self) -> Vec<TraceEvent> {
        self.inner
            .trace
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Adds a fault rule (it applies from the next call on).
    pub fn add_fault(&self, rule: FaultRule) -> Result<(), LabError> {
        self.inner.faults.add(rule)
    }

    /// Removes every fault rule and releases calls held by a hang.
    pub fn clear_faults(&self) {
        self.inner.faults.clear();
    }

    /// How many calls a `hang` fault holds right now (so a test can wait for a call to be
    /// inside its critical section before starting a competing one).
    pub fn held_calls(&self) -> usize {
        self.inner.faults.held()
    }

    /// Releases every call currently held by a `hang` fault; they then run normally.
    pub fn release_hangs(&self) {
        self.inner.faults.release_hangs();
    }

    /// Makes Layer 1's state record a custom image of `gb` GB (or none), as if Layer 1 had
    /// imported one, and rewrites `oci.tfstate`.
    pub fn set_custom_image_gb(&self, gb: Option<u32>) -> Result<(), LabError> {
        *self
            .inner
            .custom_image_gb
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = gb;
        match &self.inner.state_dir {
            Some(d) => net::write_state_files(&self.inner, d),
            None => Ok(()),
        }
    }

    /// The Terraform state (layer-1 outputs) this lab stands in for.
    pub fn tfstate(&self) -> serde_json::Value {
        layer1::tfstate(&self.inner)
    }

    /// Resolves when the lab has been told to stop (by [`Lab::stop`] or the control endpoint).
    pub async fn stopped(&self) {
        self.inner.cancel.cancelled().await
    }

    /// Stops every listener, connection and task, halts the guests, and waits until all of
    /// them are gone. The lab's ports are free when this returns.
    pub async fn stop(self) -> Result<(), LabError> {
        net::stop(&self.inner).await;
        Ok(())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Tasks watch this token and end on their own; `stop` also waits for them.
        self.inner.cancel.cancel();
    }
}
