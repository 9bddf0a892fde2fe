//! Data sources: the free-tier rulebook at plan time, and SOPS-encrypted secrets.

pub mod allocation;
pub mod limits;
pub mod sops_file;
