//! Data sources: the free-tier rulebook at plan time.

pub mod allocation;
pub mod limits;
