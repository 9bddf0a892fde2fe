//! The tier a data source or function checks against: its own `tier` argument, else the
//! provider's, else `always_free`.

use crate::framework::{AttributePath, Ctx, Diagnostics, Value};
use crate::rules::Tier;

use super::config::ProviderConfig;

/// Resolves the tier for a data source whose `tier` attribute is `v`; an invalid name is an
/// error at `tier` listing the valid ones.
pub fn resolve(ctx: &Ctx, v: &Value, diags: &mut Diagnostics) -> Option<Tier> {
    match v.as_str() {
        Some(name) => match Tier::parse(name) {
            Ok(t) => Some(t),
            Err(e) => {
                diags.error_at(
                    AttributePath::root("tier"),
                    "Unknown Tier",
                    format!("{e}. Set tier to one of them, or leave it out to use the provider's."),
                );
                None
            }
        },
        None => Some(
            ctx.data::<ProviderConfig>()
                .map(|c| c.tier)
                .unwrap_or_default(),
        ),
    }
}
