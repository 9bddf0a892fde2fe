//! Managed resources, one file each: model, schema, then CRUD, then opt-in capabilities.

pub mod age_key;
pub mod proxmox_cluster;
