//! The managed-resource interface: a checklist of what a resource must do (schema and CRUD),
//! plus capabilities it opts into (config validation, plan modification, import, state
//! upgrade), as terraform-plugin-framework splits them.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::diag::Diagnostics;
use super::path::AttributePath;
use super::schema::Schema;
use super::value::Value;

/// What the provider's `configure` produced (clients, the tier, …), shared with every call.
pub type ProviderData = Arc<dyn Any + Send + Sync>;

/// Per-call context: cancellation (Terraform's Stop) and the configured provider data.
#[derive(Clone, Default)]
pub struct Ctx {
    /// Cancelled when Terraform sends Stop (Ctrl-C). Long work watches it and returns what it
    /// did; work that ignores it is dropped [`STOP_GRACE`](super::stop::STOP_GRACE) later.
    pub cancel: CancellationToken,
    /// The configured provider's data; `None` before Configure.
    pub provider_data: Option<ProviderData>,
}

impl Ctx {
    /// The provider data as `T`, if configured with that type.
    pub fn data<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.provider_data
            .as_ref()
            .and_then(|d| d.downcast_ref::<T>())
    }
}

/// Private state: provider-owned data Terraform stores beside the state, never shown to users.
/// Stored as a JSON object; keys starting with `.` are reserved for the framework.
pub type Private = BTreeMap<String, serde_json::Value>;

/// Input to create.
pub struct CreateRequest {
    /// The configuration, wholly known.
    pub config: Value,
    /// The plan; unknowns mark what create must fill in.
    pub planned: Value,
    /// Private state from the plan.
    pub private: Private,
}

/// Input to update.
pub struct UpdateRequest {
    /// The state before.
    pub prior: Value,
    /// The configuration, wholly known.
    pub config: Value,
    /// The plan; unknowns mark what update must fill in.
    pub planned: Value,
    /// Private state from the plan.
    pub private: Private,
}

/// Input to delete.
pub struct DeleteRequest {
    /// The state to remove.
    pub prior: Value,
    /// Private state.
    pub private: Private,
}

/// Input to read (refresh).
pub struct ReadRequest {
    /// The state Terraform holds.
    pub current: Value,
    /// Private state.
    pub private: Private,
}

/// What create, read, update and delete hand back. `state` starts as the plan (create,
/// update) or the current state (read); set it to null when the object is gone.
#[derive(Debug, Default)]
pub struct StateResponse {
    /// The resulting state. On a failed create, whatever was really created: Terraform saves
    /// it as tainted, so nothing is lost and the next apply resumes.
    pub state: Value,
    /// The resulting private state.
    pub private: Private,
    /// Problems met.
    pub diagnostics: Diagnostics,
}

/// A managed resource: schema and CRUD.
#[async_trait]
pub trait Resource: Send + Sync + 'static {
    /// The full type name, e.g. `freetier_age_key`.
    fn type_name(&self) -> &'static str;
    /// The schema.
    fn schema(&self) -> Schema;
    /// Creates the object from the plan.
    async fn create(&self, ctx: &Ctx, req: CreateRequest, resp: &mut StateResponse);
    /// Refreshes the state; set `resp.state` to null when the object is gone.
    async fn read(&self, ctx: &Ctx, req: ReadRequest, resp: &mut StateResponse);
    /// Applies an in-place change.
    async fn update(&self, ctx: &Ctx, req: UpdateRequest, resp: &mut StateResponse);
    /// Deletes the object.
    async fn delete(&self, ctx: &Ctx, req: DeleteRequest, resp: &mut StateResponse);

    /// Opt-in: cross-attribute configuration checks.
    fn as_validate_config(&self) -> Option<&dyn ValidateConfig> {
        None
    }
    /// Opt-in: resource-specific plan changes after the generic pipeline.
    fn as_modify_plan(&self) -> Option<&dyn ModifyPlan> {
        None
    }
    /// Opt-in: `terraform import`.
    fn as_import_state(&self) -> Option<&dyn ImportState> {
        None
    }
    /// Opt-in: upgrades of states written with older schema versions.
    fn as_upgrade_state(&self) -> Option<&dyn UpgradeState> {
        None
    }
}

/// Checks a configuration beyond what types and required flags say. Values may be unknown
/// or null: a validator returns early on those.
pub trait ValidateConfig: Send + Sync {
    /// Adds a diagnostic, with the attribute path, for each problem.
    fn validate_config(&self, config: &Value, diags: &mut Diagnostics);
}

/// Input to the resource's own plan step.
pub struct PlanRequest<'a> {
    /// The configuration (may hold unknowns).
    pub config: &'a Value,
    /// The state before; null on create.
    pub prior: &'a Value,
}

/// The plan as the generic pipeline left it, for the resource to adjust.
pub struct PlanResponse {
    /// The planned state.
    pub planned: Value,
    /// Paths whose change forces replacement.
    pub requires_replace: Vec<AttributePath>,
    /// Private state to carry to apply.
    pub private: Private,
    /// Problems met.
    pub diagnostics: Diagnostics,
}

/// Resource-specific plan changes, run after defaults, unknown-marking and attribute modifiers.
#[async_trait]
pub trait ModifyPlan: Send + Sync {
    /// Adjusts `resp`. Never runs for a destroy.
    async fn modify_plan(&self, ctx: &Ctx, req: PlanRequest<'_>, resp: &mut PlanResponse);
}

/// What import hands back: a stub state Terraform completes with a read.
#[derive(Debug, Default)]
pub struct ImportResponse {
    /// The imported state (attributes not known from the id may stay null).
    pub state: Value,
    /// Private state.
    pub private: Private,
    /// Problems met.
    pub diagnostics: Diagnostics,
}

/// `terraform import` support.
#[async_trait]
pub trait ImportState: Send + Sync {
    /// Builds state from the import id.
    async fn import_state(&self, ctx: &Ctx, id: &str, resp: &mut ImportResponse);
}

/// Upgrades stored state from older schema versions.
pub trait UpgradeState: Send + Sync {
    /// Turns JSON stored under schema `from_version` into JSON for the current schema.
    fn upgrade_state(
        &self,
        from_version: i64,
        raw: serde_json::Value,
    ) -> Result<serde_json::Value, Diagnostics>;
}
