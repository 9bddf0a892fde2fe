//! The provider interface: its own configuration, and the lists of what it offers.

use std::sync::Arc;

use async_trait::async_trait;

use super::data_source::DataSource;
use super::diag::Diagnostics;
use super::function::Function;
use super::resource::{Ctx, ProviderData, Resource};
use super::schema::Schema;
use super::value::Value;

/// A provider.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The provider's type name, the prefix of its resources (`freetier`).
    fn type_name(&self) -> &'static str;
    /// The schema of the `provider` block.
    fn schema(&self) -> Schema;
    /// Checks a provider configuration that may still hold unknowns.
    fn validate_config(&self, _config: &Value, _diags: &mut Diagnostics) {}
    /// Configures the provider; the data returned reaches every later call through `Ctx`.
    async fn configure(
        &self,
        ctx: &Ctx,
        config: &Value,
        diags: &mut Diagnostics,
    ) -> Option<ProviderData>;
    /// The managed resources.
    fn resources(&self) -> Vec<Arc<dyn Resource>>;
    /// The data sources.
    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        Vec::new()
    }
    /// The functions.
    fn functions(&self) -> Vec<Arc<dyn Function>> {
        Vec::new()
    }
}
