//! The data-source interface: schema and read.

use async_trait::async_trait;

use super::diag::Diagnostics;
use super::resource::Ctx;
use super::schema::Schema;
use super::value::Value;

/// What a data source's read hands back.
#[derive(Debug, Default)]
pub struct DataResponse {
    /// The state: the configuration with computed attributes filled in, wholly known.
    pub state: Value,
    /// Problems met; an error stops the plan.
    pub diagnostics: Diagnostics,
}

/// A data source.
#[async_trait]
pub trait DataSource: Send + Sync + 'static {
    /// The full type name, e.g. `freetier_limits`.
    fn type_name(&self) -> &'static str;
    /// The schema.
    fn schema(&self) -> Schema;
    /// Checks a configuration that may still hold unknowns.
    fn validate_config(&self, _config: &Value, _diags: &mut Diagnostics) {}
    /// Reads; `resp.state` starts as the configuration.
    async fn read(&self, ctx: &Ctx, config: &Value, resp: &mut DataResponse);
}
