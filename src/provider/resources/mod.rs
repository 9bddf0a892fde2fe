//! Managed resources, one file each: model, schema, then CRUD, then opt-in capabilities.

pub mod age_key;
pub mod proxmox_cluster;
pub mod ssh_host_key;
pub mod steps;
pub mod talos_cluster;
pub mod talos_secrets;
pub mod timeouts;
