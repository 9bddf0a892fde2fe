//! Clients of the systems the resources drive: SSH to the hosts, the Proxmox VE API, the
//! Talos API (apid, gRPC) and the Kubernetes API; and the OCI APIs `freetier validate` asks.
//! They know nothing of Terraform: no framework import, no diagnostics, and never the lab.
//! Each classifies a failure once, as an [`ErrorKind`], so callers decide on retries and drift
//! by kind, never by matching message text. The API clients take one [`Call`] per call:
//! Terraform's Stop and a timeout.

pub mod kube;
pub mod oci;
pub mod proxmox;
pub mod ssh;
pub mod talos;

/// What every API call carries (Terraform's Stop and a timeout); one type for the Proxmox VE,
/// Talos and Kubernetes clients alike.
pub use proxmox::Call;

/// What kind of failure a client saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The thing asked for does not exist.
    NotFound,
    /// The thing to create exists already.
    AlreadyExists,
    /// Worth retrying: a dropped connection, a timeout, a 5xx that says nothing of the request.
    Transient,
    /// Held by someone else for now (a config lock, a cluster filesystem lock).
    Locked,
    /// Retrying will not help: bad credentials, a refused host key, a bad parameter.
    Fatal,
    /// Terraform asked to stop.
    Cancelled,
}
