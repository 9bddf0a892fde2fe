//! Clients of the systems the resources drive: SSH to the hosts, the Proxmox VE API, and (to
//! come) the Talos and Kubernetes APIs. They know nothing of Terraform: no framework import,
//! no diagnostics. Each classifies a failure once, as an [`ErrorKind`], so callers decide on
//! retries and drift by kind, never by matching message text.

pub mod proxmox;
pub mod ssh;

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
