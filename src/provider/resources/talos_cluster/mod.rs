//! `freetier_talos_cluster` (`resource.rs`, steps in `apply.rs`, what a node list change
//! means in `nodes.rs` and taking nodes out in `remove.rs`, model in `model.rs`), and the pure
//! half it builds on: everything it writes before it talks to a machine, generated in Rust
//! and tested without Terraform or a network.
//!
//! - [`secrets`]: the cluster's secrets bundle, as `talosctl gen secrets` makes it, and the
//!   client credentials derived from it (talosconfig, admin kubeconfig).
//! - [`machine_config`]: a node's v1alpha1 control-plane machine configuration.
//! - [`manifests`]: the inline manifests Talos applies at bootstrap (Cilium, Flux, the SOPS
//!   age key, Flux's sync objects).
//! - [`cidata`]: the NoCloud `cidata` ISO 9660 image a Proxmox VE VM boots with.
//!
//! Must not import: the framework (these modules know nothing of Terraform), clients (no I/O
//! here), or the lab (product code never imports it; `tests/talos_config.rs` checks this code
//! against the lab from outside).

mod apply;
mod model;
mod nodes;
mod remove;
mod resource;

pub use resource::TalosClusterResource;

pub mod cidata;
pub mod machine_config;
pub mod manifests;
pub mod secrets;
