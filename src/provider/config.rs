//! The `provider "freetier"` block.

use crate::framework::{Attribute, AttributePath, Block, Diagnostics, Schema, Value};
use crate::rules::Tier;

/// What `configure` keeps for every later call.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The free-tier profile plans are checked against.
    pub tier: Tier,
}

/// The provider block's schema.
pub fn schema() -> Schema {
    Schema {
        version: 0,
        block: Block::new("Keeps an Oracle Cloud plan inside the free tier, and builds Proxmox VE and Talos clusters on it.").attribute(
            Attribute::string("tier").optional().description(&format!(
                "The free-tier profile to enforce: {}. Defaults to `always_free` (2 OCPU / 12 GB of Ampere A1 since 2026-06-12).",
                Tier::ALL.iter().map(|t| format!("`{}`", t.as_str())).collect::<Vec<_>>().join(" or ")
            )),
        ),
    }
}

/// Refuses an unknown tier, listing the valid ones. An unknown (not yet known) value passes.
pub fn validate(config: &Value, diags: &mut Diagnostics) {
    if let Some(name) = config.attr("tier").as_str() {
        if let Err(e) = Tier::parse(name) {
            diags.error_at(
                AttributePath::root("tier"),
                "Unknown Tier",
                format!("{e}. Set tier to one of them, or leave it out for always_free."),
            );
        }
    }
}

impl ProviderConfig {
    /// Reads the block; `None` (with a diagnostic) when it is invalid.
    pub fn from_value(config: &Value, diags: &mut Diagnostics) -> Option<ProviderConfig> {
        let mut d = Diagnostics::new();
        validate(config, &mut d);
        let failed = d.has_errors();
        diags.extend(d);
        if failed {
            return None;
        }
        let tier = config
            .attr("tier")
            .as_str()
            .and_then(|t| Tier::parse(t).ok())
            .unwrap_or_default();
        Some(ProviderConfig { tier })
    }
}
