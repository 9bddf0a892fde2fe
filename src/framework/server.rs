//! The protocol-neutral provider server: routes each operation to the right resource, data
//! source or function, runs the plan pipeline and checks Terraform's consistency rules.
//! The tfplugin5 adapter only converts wire messages to and from these calls.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use super::data_source::{DataResponse, DataSource};
use super::diag::Diagnostics;
use super::flatmap;
use super::function::{Function, FunctionError, Signature};
use super::json;
use super::path::AttributePath;
use super::plan;
use super::provider::Provider;
use super::resource::*;
use super::schema::Schema;
use super::stop::{self, StopSignal};
use super::types::Type;
use super::value::Value;

/// A resource with its schema, computed once.
struct ResourceEntry {
    resource: Arc<dyn Resource>,
    schema: Schema,
    ty: Type,
}

/// A data source with its schema, computed once.
struct DataSourceEntry {
    data_source: Arc<dyn DataSource>,
    schema: Schema,
    ty: Type,
}

/// Serves one provider.
pub struct Server {
    provider: Arc<dyn Provider>,
    provider_schema: Schema,
    provider_type: Type,
    resources: BTreeMap<String, ResourceEntry>,
    data_sources: BTreeMap<String, DataSourceEntry>,
    functions: BTreeMap<String, (Arc<dyn Function>, Signature)>,
    data: RwLock<Option<ProviderData>>,
    stop: StopSignal,
}

/// An error at each read-only attribute the configuration sets.
fn read_only_set(schema: &Schema, config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    for path in schema.block.read_only_set(config) {
        d.error_at(
            path.clone(),
            "Invalid Configuration for Read-Only Attribute",
            format!(
                "{path} is set by the provider, never in configuration: remove it from the block."
            ),
        );
    }
    d
}

/// The result of planning a resource change.
#[derive(Debug, Default)]
pub struct PlanOutcome {
    /// The planned state.
    pub planned: Value,
    /// Paths whose change forces replacement.
    pub requires_replace: Vec<AttributePath>,
    /// Private state for apply.
    pub private: Private,
    /// Problems met.
    pub diagnostics: Diagnostics,
}

/// One object produced by import.
#[derive(Debug)]
pub struct Imported {
    /// The resource type.
    pub type_name: String,
    /// The stub state.
    pub state: Value,
    /// Private state.
    pub private: Private,
}

fn unknown_type(kind: &str, name: &str) -> Diagnostics {
    let mut d = Diagnostics::new();
    d.error(
        format!("Unknown {kind} Type"),
        format!(
            "This provider has no {kind} type {name:?}. Check the name, or upgrade the provider."
        ),
    );
    d
}

impl Server {
    /// Builds the server and computes every schema once.
    pub fn new(provider: Arc<dyn Provider>) -> Server {
        let provider_schema = provider.schema();
        let provider_type = provider_schema.block.implied_type();
        let resources = provider
            .resources()
            .into_iter()
            .map(|r| {
                let schema = r.schema();
                let ty = schema.block.implied_type();
                (
                    r.type_name().to_string(),
                    ResourceEntry {
                        resource: r,
                        schema,
                        ty,
                    },
                )
            })
            .collect();
        let data_sources = provider
            .data_sources()
            .into_iter()
            .map(|d| {
                let schema = d.schema();
                let ty = schema.block.implied_type();
                (
                    d.type_name().to_string(),
                    DataSourceEntry {
                        data_source: d,
                        schema,
                        ty,
                    },
                )
            })
            .collect();
        let functions = provider
            .functions()
            .into_iter()
            .map(|f| (f.name().to_string(), (f.clone(), f.signature())))
            .collect();
        Server {
            provider,
            provider_schema,
            provider_type,
            resources,
            data_sources,
            functions,
            data: RwLock::new(None),
            stop: StopSignal::new(),
        }
    }

    fn ctx(&self) -> Ctx {
        let data = self.data.read().map(|d| d.clone()).unwrap_or(None);
        Ctx {
            cancel: self.stop.token(),
            provider_data: data,
        }
    }

    /// The provider block's schema.
    pub fn provider_schema(&self) -> &Schema {
        &self.provider_schema
    }
    /// The provider block's type.
    pub fn provider_type(&self) -> &Type {
        &self.provider_type
    }
    /// Every resource schema, by type name.
    pub fn resource_schemas(&self) -> impl Iterator<Item = (&str, &Schema)> {
        self.resources.iter().map(|(k, e)| (k.as_str(), &e.schema))
    }
    /// Every data source schema, by type name.
    pub fn data_source_schemas(&self) -> impl Iterator<Item = (&str, &Schema)> {
        self.data_sources
            .iter()
            .map(|(k, e)| (k.as_str(), &e.schema))
    }
    /// Every function signature, by name.
    pub fn function_signatures(&self) -> impl Iterator<Item = (&str, &Signature)> {
        self.functions.iter().map(|(k, (_, s))| (k.as_str(), s))
    }
    /// A resource type's value type.
    pub fn resource_type(&self, name: &str) -> Result<&Type, Diagnostics> {
        self.resources
            .get(name)
            .map(|e| &e.ty)
            .ok_or_else(|| unknown_type("Resource", name))
    }
    /// A data source type's value type.
    pub fn data_source_type(&self, name: &str) -> Result<&Type, Diagnostics> {
        self.data_sources
            .get(name)
            .map(|e| &e.ty)
            .ok_or_else(|| unknown_type("Data Source", name))
    }
    /// A function's signature.
    pub fn function_signature(&self, name: &str) -> Option<&Signature> {
        self.functions.get(name).map(|(_, s)| s)
    }

    /// Cancels every running operation, and every later one until the next Configure
    /// (Terraform's Stop). Operations that ignore it are abandoned after
    /// [`STOP_GRACE`](super::stop::STOP_GRACE).
    pub fn stop(&self) {
        self.stop.stop();
    }

    /// Validates the provider block.
    pub fn validate_provider_config(&self, config: &Value) -> Diagnostics {
        let mut d = read_only_set(&self.provider_schema, config);
        self.provider.validate_config(config, &mut d);
        d
    }

    /// Configures the provider. A Configure starts a Terraform run, so it re-arms Stop.
    pub async fn configure(&self, config: &Value) -> Diagnostics {
        self.stop.rearm();
        let mut d = Diagnostics::new();
        let ctx = self.ctx();
        match stop::watch(&ctx.cancel, self.provider.configure(&ctx, config, &mut d)).await {
            Ok(data) => {
                if let Ok(mut slot) = self.data.write() {
                    *slot = data;
                }
            }
            Err(why) => d.extend(why.diagnostics("provider configuration")),
        }
        d
    }

    /// Validates a resource configuration.
    pub fn validate_resource_config(&self, type_name: &str, config: &Value) -> Diagnostics {
        let Some(e) = self.resources.get(type_name) else {
            return unknown_type("Resource", type_name);
        };
        let mut d = read_only_set(&e.schema, config);
        if let Some(v) = e.resource.as_validate_config() {
            v.validate_config(config, &mut d);
        }
        d
    }

    /// Validates a data source configuration.
    pub fn validate_data_source_config(&self, type_name: &str, config: &Value) -> Diagnostics {
        let Some(e) = self.data_sources.get(type_name) else {
            return unknown_type("Data Source", type_name);
        };
        let mut d = read_only_set(&e.schema, config);
        e.data_source.validate_config(config, &mut d);
        d
    }

    /// Upgrades stored JSON state to the current schema. Terraform calls this for every
    /// resource on every run, even when the version has not changed.
    pub fn upgrade_resource_state(
        &self,
        type_name: &str,
        version: i64,
        raw_json: &[u8],
    ) -> Result<Value, Diagnostics> {
        let e = self
            .resources
            .get(type_name)
            .ok_or_else(|| unknown_type("Resource", type_name))?;
        let raw: serde_json::Value = serde_json::from_slice(raw_json).map_err(|err| {
            let mut d = Diagnostics::new();
            d.error("Unreadable Stored State", format!("The stored state of this {type_name} is not valid JSON ({err}). Restore it from a backup, or remove it with `terraform state rm` and import the object again."));
            d
        })?;
        self.upgrade_json(e, type_name, version, raw)
    }

    /// Upgrades a state stored in the flatmap format of Terraform 0.11 and earlier. Flatmap
    /// is read against the current schema only: an older one is not known here.
    pub fn upgrade_flatmap_state(
        &self,
        type_name: &str,
        version: i64,
        flat: &HashMap<String, String>,
    ) -> Result<Value, Diagnostics> {
        let e = self
            .resources
            .get(type_name)
            .ok_or_else(|| unknown_type("Resource", type_name))?;
        let current = e.schema.version;
        let refuse = |why: String| {
            let mut d = Diagnostics::new();
            d.error(
                "Unreadable Stored State",
                format!("This {type_name} is stored in the flatmap format of Terraform 0.11, and {why}. Remove it with `terraform state rm` and import the object again."),
            );
            d
        };
        if version != current {
            return Err(refuse(format!(
                "at schema version {version}; this provider reads flatmap only at version {current}"
            )));
        }
        let raw = flatmap::to_json(flat, &e.ty)
            .map_err(|err| refuse(format!("key {:?} {}", err.key, err.reason)))?;
        self.upgrade_json(e, type_name, version, raw)
    }

    fn upgrade_json(
        &self,
        e: &ResourceEntry,
        type_name: &str,
        version: i64,
        mut raw: serde_json::Value,
    ) -> Result<Value, Diagnostics> {
        let current = e.schema.version;
        if version > current {
            let mut d = Diagnostics::new();
            d.error("State Written By A Newer Provider", format!("This {type_name} was stored with schema version {version}, but this provider knows only up to {current}. Upgrade the provider."));
            return Err(d);
        }
        if version < current {
            let Some(u) = e.resource.as_upgrade_state() else {
                let mut d = Diagnostics::new();
                d.error("No State Upgrade", format!("{type_name} state version {version} cannot be upgraded to {current}. This is a bug in the provider; please report it."));
                return Err(d);
            };
            raw = u.upgrade_state(version, raw)?;
        }
        let mut v = json::decode_lenient(&raw, &e.ty).map_err(|err| {
            let mut d = Diagnostics::new();
            d.error_at(
                err.path.clone(),
                "Unreadable Stored State",
                format!("The stored state does not fit the {type_name} schema: {err}."),
            );
            d
        })?;
        e.schema.block.normalize(&mut v);
        Ok(v)
    }

    /// Refreshes a resource.
    pub async fn read_resource(
        &self,
        type_name: &str,
        current: Value,
        private: Private,
    ) -> Result<StateResponse, Diagnostics> {
        let e = self
            .resources
            .get(type_name)
            .ok_or_else(|| unknown_type("Resource", type_name))?;
        let held = current.clone();
        let mut resp = StateResponse {
            state: current.clone(),
            private: private.clone(),
            diagnostics: Diagnostics::new(),
        };
        let ctx = self.ctx();
        let read = e
            .resource
            .read(&ctx, ReadRequest { current, private }, &mut resp);
        if let Err(why) = stop::watch(&ctx.cancel, read).await {
            // Nothing was learned: Terraform keeps the state it holds.
            resp.state = held;
            resp.diagnostics
                .extend(why.diagnostics(&format!("refresh of {type_name}")));
        }
        e.schema.block.normalize(&mut resp.state);
        if let Some(p) = resp.state.first_unknown() {
            plan::unknowns_to_null(&mut resp.state);
            resp.diagnostics.error_at(
                p,
                "Provider Returned Unknown State",
                "Read left a value unknown. This is a bug in the provider; please report it.",
            );
        }
        Ok(resp)
    }

    /// Plans a resource change: the generic pipeline, then the resource's own hook, then the
    /// self-check. A null proposal is a destroy and is planned as null.
    pub async fn plan_resource_change(
        &self,
        type_name: &str,
        prior: Value,
        proposed: Value,
        config: Value,
        prior_private: Private,
    ) -> Result<PlanOutcome, Diagnostics> {
        let e = self
            .resources
            .get(type_name)
            .ok_or_else(|| unknown_type("Resource", type_name))?;
        let mut out = PlanOutcome {
            planned: proposed,
            private: prior_private,
            ..PlanOutcome::default()
        };
        if out.planned.is_null() {
            return Ok(out);
        }
        let block = &e.schema.block;
        block.normalize(&mut out.planned);
        plan::apply_defaults(block, &mut out.planned, &config);
        if prior.is_null() || out.planned != prior {
            plan::mark_computed_unknown(block, &mut out.planned, &config);
        }
        out.requires_replace = plan::apply_modifiers(block, &prior, &mut out.planned, &config);
        if let Some(hook) = e.resource.as_modify_plan() {
            let mut resp = PlanResponse {
                planned: out.planned,
                requires_replace: out.requires_replace,
                private: out.private,
                diagnostics: Diagnostics::new(),
            };
            let ctx = self.ctx();
            let modify = hook.modify_plan(
                &ctx,
                PlanRequest {
                    config: &config,
                    prior: &prior,
                },
                &mut resp,
            );
            if let Err(why) = stop::watch(&ctx.cancel, modify).await {
                return Err(why.diagnostics(&format!("plan of {type_name}")));
            }
            out.planned = resp.planned;
            out.requires_replace = resp.requires_replace;
            out.private = resp.private;
            out.diagnostics.extend(resp.diagnostics);
        }
        plan::check_plan_valid(
            block,
            &out.planned,
            &config,
            &prior,
            &AttributePath::default(),
            &mut out.diagnostics,
        );
        out.requires_replace.sort_by_key(|p| p.to_string());
        out.requires_replace.dedup();
        // Sensitive attributes are hidden: TF_LOG=trace shows the plan and no secret.
        tracing::trace!(
            resource = type_name,
            planned = ?block.show(&out.planned),
            "planned"
        );
        Ok(out)
    }

    /// Applies a planned change: create, update or delete by which side is null.
    pub async fn apply_resource_change(
        &self,
        type_name: &str,
        prior: Value,
        planned: Value,
        config: Value,
        private: Private,
    ) -> Result<StateResponse, Diagnostics> {
        let e = self
            .resources
            .get(type_name)
            .ok_or_else(|| unknown_type("Resource", type_name))?;
        let ctx = self.ctx();
        let mut resp = StateResponse {
            state: planned.clone(),
            private: private.clone(),
            diagnostics: Diagnostics::new(),
        };
        if planned.is_null() {
            // If delete fails the object is still there, so the prior state stays.
            resp.state = prior.clone();
            let delete = e.resource.delete(
                &ctx,
                DeleteRequest {
                    prior: prior.clone(),
                    private,
                },
                &mut resp,
            );
            if let Err(why) = stop::watch(&ctx.cancel, delete).await {
                resp.state = prior;
                resp.diagnostics
                    .extend(why.diagnostics(&format!("delete of {type_name}")));
                return Ok(resp);
            }
            if !resp.diagnostics.has_errors() {
                resp.state = Value::Null; // destroying always yields null
            }
            return Ok(resp);
        }
        let done = if prior.is_null() {
            let create = e.resource.create(
                &ctx,
                CreateRequest {
                    config,
                    planned: planned.clone(),
                    private,
                },
                &mut resp,
            );
            stop::watch(&ctx.cancel, create)
                .await
                .map_err(|why| (why, "create", Value::Null))
        } else {
            let update = e.resource.update(
                &ctx,
                UpdateRequest {
                    prior: prior.clone(),
                    config,
                    planned: planned.clone(),
                    private,
                },
                &mut resp,
            );
            stop::watch(&ctx.cancel, update)
                .await
                .map_err(|why| (why, "update", prior))
        };
        if let Err((why, what, state)) = done {
            // The resource reported nothing: keep what Terraform knew before.
            resp.state = state;
            resp.diagnostics
                .extend(why.diagnostics(&format!("{what} of {type_name}")));
            return Ok(resp);
        }
        e.schema.block.normalize(&mut resp.state);
        if resp.diagnostics.has_errors() {
            // Keep what was done; unknowns cannot be stored.
            plan::unknowns_to_null(&mut resp.state);
            return Ok(resp);
        }
        if let Some(p) = resp.state.first_unknown() {
            plan::unknowns_to_null(&mut resp.state);
            resp.diagnostics.error_at(
                p,
                "Provider Returned Unknown State",
                "Apply left a value unknown. This is a bug in the provider; please report it.",
            );
        }
        plan::check_apply_consistent(
            &planned,
            &resp.state,
            &mut AttributePath::default(),
            &mut resp.diagnostics,
        );
        Ok(resp)
    }

    /// Imports an object by id.
    pub async fn import_resource_state(
        &self,
        type_name: &str,
        id: &str,
    ) -> Result<(Vec<Imported>, Diagnostics), Diagnostics> {
        let e = self
            .resources
            .get(type_name)
            .ok_or_else(|| unknown_type("Resource", type_name))?;
        let Some(importer) = e.resource.as_import_state() else {
            let mut d = Diagnostics::new();
            d.error(
                "Import Not Supported",
                format!("{type_name} cannot be imported; create it with this provider instead."),
            );
            return Err(d);
        };
        let mut resp = ImportResponse {
            state: Value::object(Vec::<(String, Value)>::new()),
            ..ImportResponse::default()
        };
        let ctx = self.ctx();
        let import = importer.import_state(&ctx, id, &mut resp);
        if let Err(why) = stop::watch(&ctx.cancel, import).await {
            return Err(why.diagnostics(&format!("import of {type_name}")));
        }
        if resp.diagnostics.has_errors() {
            return Err(resp.diagnostics);
        }
        e.schema.block.normalize(&mut resp.state);
        plan::unknowns_to_null(&mut resp.state);
        Ok((
            vec![Imported {
                type_name: type_name.to_string(),
                state: resp.state,
                private: resp.private,
            }],
            resp.diagnostics,
        ))
    }

    /// Reads a data source.
    pub async fn read_data_source(
        &self,
        type_name: &str,
        config: Value,
    ) -> Result<DataResponse, Diagnostics> {
        let e = self
            .data_sources
            .get(type_name)
            .ok_or_else(|| unknown_type("Data Source", type_name))?;
        let mut resp = DataResponse {
            state: config.clone(),
            diagnostics: Diagnostics::new(),
        };
        let ctx = self.ctx();
        let read = e.data_source.read(&ctx, &config, &mut resp);
        if let Err(why) = stop::watch(&ctx.cancel, read).await {
            return Err(why.diagnostics(&format!("read of data source {type_name}")));
        }
        e.schema.block.normalize(&mut resp.state);
        if let Some(p) = resp.state.first_unknown() {
            plan::unknowns_to_null(&mut resp.state);
            if !resp.diagnostics.has_errors() {
                resp.diagnostics.error_at(p, "Provider Returned Unknown State", "A data source left a value unknown. This is a bug in the provider; please report it.");
            }
        }
        Ok(resp)
    }

    /// Calls a function.
    pub fn call_function(&self, name: &str, args: &[Value]) -> Result<Value, FunctionError> {
        let (f, sig) = self.functions.get(name).ok_or_else(|| {
            FunctionError::general(format!("this provider has no function {name:?}"))
        })?;
        for (i, (arg, p)) in args.iter().zip(&sig.parameters).enumerate() {
            if arg.is_null() && !p.allow_null {
                return Err(FunctionError::argument(
                    i,
                    format!("{} must not be null", p.name),
                ));
            }
        }
        if args.len() != sig.parameters.len() {
            return Err(FunctionError::general(format!(
                "{name} takes {} arguments, got {}",
                sig.parameters.len(),
                args.len()
            )));
        }
        f.call(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::schema::{Attribute, Block};
    use async_trait::async_trait;

    /// A resource whose create waits until Stop, then reports what it managed to do.
    #[derive(Clone)]
    struct Slow;

    #[async_trait]
    impl Resource for Slow {
        fn type_name(&self) -> &'static str {
            "test_slow"
        }
        fn schema(&self) -> Schema {
            Schema {
                version: 2,
                block: Block::new("slow")
                    .attribute(Attribute::string("id").computed().description("id"))
                    .attribute(Attribute::string("name").required().description("name")),
            }
        }
        async fn create(&self, ctx: &Ctx, req: CreateRequest, resp: &mut StateResponse) {
            ctx.cancel.cancelled().await;
            resp.state = req.planned;
            resp.state.set_attr("id", Value::from("half-built"));
            resp.diagnostics
                .error("Interrupted", "stopped by Terraform");
        }
        async fn read(&self, _: &Ctx, _: ReadRequest, _: &mut StateResponse) {}
        async fn update(&self, _: &Ctx, req: UpdateRequest, resp: &mut StateResponse) {
            resp.state = req.planned;
        }
        async fn delete(&self, _: &Ctx, _: DeleteRequest, _: &mut StateResponse) {}
        fn as_upgrade_state(&self) -> Option<&dyn UpgradeState> {
            Some(self)
        }
    }

    impl UpgradeState for Slow {
        fn upgrade_state(
            &self,
            from: i64,
            mut raw: serde_json::Value,
        ) -> Result<serde_json::Value, Diagnostics> {
            // v1 called the attribute "title"
            if from == 1 {
                if let Some(t) = raw.as_object_mut().and_then(|m| m.remove("title")) {
                    raw["name"] = t;
                }
            }
            Ok(raw)
        }
    }

    /// A provider serving one resource.
    struct TestProvider<R: Resource + Clone = Slow>(R);

    #[async_trait]
    impl<R: Resource + Clone> Provider for TestProvider<R> {
        fn type_name(&self) -> &'static str {
            "test"
        }
        fn schema(&self) -> Schema {
            Schema::default()
        }
        async fn configure(&self, _: &Ctx, _: &Value, _: &mut Diagnostics) -> Option<ProviderData> {
            None
        }
        fn resources(&self) -> Vec<Arc<dyn Resource>> {
            vec![Arc::new(self.0.clone())]
        }
    }

    #[tokio::test]
    async fn stop_reaches_a_running_create_and_what_was_done_is_kept() {
        let server = Arc::new(Server::new(Arc::new(TestProvider(Slow))));
        let planned = Value::object([("id", Value::Unknown), ("name", Value::from("a"))]);
        let s = server.clone();
        let apply = tokio::spawn(async move {
            s.apply_resource_change(
                "test_slow",
                Value::Null,
                planned.clone(),
                planned,
                Private::new(),
            )
            .await
        });
        tokio::task::yield_now().await;
        server.stop();
        let resp = apply.await.unwrap().unwrap();
        assert!(resp.diagnostics.has_errors());
        assert_eq!(
            resp.state.attr("id"),
            &Value::from("half-built"),
            "partial progress is returned for Terraform to save"
        );
        assert!(resp.state.is_wholly_known());
    }

    /// A resource whose create and read never look at the cancellation token.
    #[derive(Clone)]
    struct Deaf;

    #[async_trait]
    impl Resource for Deaf {
        fn type_name(&self) -> &'static str {
            "test_slow"
        }
        fn schema(&self) -> Schema {
            Slow.schema()
        }
        async fn create(&self, _: &Ctx, _: CreateRequest, _: &mut StateResponse) {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
        async fn read(&self, _: &Ctx, _: ReadRequest, _: &mut StateResponse) {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
        async fn update(&self, _: &Ctx, _: UpdateRequest, _: &mut StateResponse) {}
        async fn delete(&self, _: &Ctx, _: DeleteRequest, _: &mut StateResponse) {}
    }

    fn planned() -> Value {
        Value::object([("id", Value::Unknown), ("name", Value::from("a"))])
    }

    #[tokio::test]
    async fn a_create_that_ignores_stop_is_abandoned_after_the_grace_with_no_state() {
        let server = Arc::new(Server::new(Arc::new(TestProvider(Deaf))));
        let s = server.clone();
        let apply = tokio::spawn(async move {
            s.apply_resource_change(
                "test_slow",
                Value::Null,
                planned(),
                planned(),
                Private::new(),
            )
            .await
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let stopped = std::time::Instant::now();
        server.stop();
        let resp = apply.await.unwrap().unwrap();
        let latency = stopped.elapsed();
        assert!(
            latency < std::time::Duration::from_secs(1),
            "returned {latency:?} after Stop"
        );
        assert!(latency >= stop::STOP_GRACE, "the resource had its grace");
        let d: Vec<_> = resp.diagnostics.iter().collect();
        assert_eq!(d[0].summary, "Operation Cancelled");
        assert!(
            d[0].detail.contains("create of test_slow"),
            "{}",
            d[0].detail
        );
        assert!(resp.state.is_null(), "nothing reported, nothing recorded");
    }

    #[tokio::test]
    async fn after_stop_new_operations_return_at_once_until_configure_rearms() {
        let server = Server::new(Arc::new(TestProvider(Deaf)));
        server.stop();
        let current = Value::object([("id", Value::from("x")), ("name", Value::from("a"))]);
        let started = std::time::Instant::now();
        let read = server
            .read_resource("test_slow", current.clone(), Private::new())
            .await
            .unwrap();
        assert!(
            started.elapsed() < stop::STOP_GRACE,
            "not started, so not waited on"
        );
        assert_eq!(read.state, current, "the state Terraform holds is kept");
        let d = read.diagnostics.iter().next().unwrap();
        assert_eq!(d.summary, "Operation Cancelled");
        assert!(d.detail.contains("did not start"), "{}", d.detail);

        // A new Terraform run (debug mode serves several) configures again and is not stopped.
        assert!(!server.configure(&Value::Null).await.has_errors());
        let upgraded = server.upgrade_resource_state("test_slow", 2, br#"{"id":"x","name":"a"}"#);
        assert!(upgraded.is_ok());
        let s = Arc::new(server);
        let t = s.clone();
        let read =
            tokio::spawn(
                async move { t.read_resource("test_slow", current, Private::new()).await },
            );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!read.is_finished(), "after Configure, operations run again");
        s.stop();
        assert!(read.await.unwrap().unwrap().diagnostics.has_errors());
    }

    #[test]
    fn old_states_are_upgraded_and_newer_ones_refused() {
        let server = Server::new(Arc::new(TestProvider(Slow)));
        let v = server
            .upgrade_resource_state("test_slow", 1, br#"{"id":"x","title":"old"}"#)
            .unwrap();
        assert_eq!(v.attr("name"), &Value::from("old"));
        let same = server
            .upgrade_resource_state("test_slow", 2, br#"{"id":"x","name":"n","removed_attr":1}"#)
            .unwrap();
        assert_eq!(
            same.attr("name"),
            &Value::from("n"),
            "attributes gone from the schema are dropped"
        );
        let err = server
            .upgrade_resource_state("test_slow", 3, br#"{}"#)
            .unwrap_err();
        assert!(err
            .iter()
            .any(|d| d.summary == "State Written By A Newer Provider"));
        let err = server
            .upgrade_resource_state("test_slow", 2, b"{not json")
            .unwrap_err();
        assert!(err.iter().any(|d| d.summary == "Unreadable Stored State"));
    }

    #[test]
    fn flatmap_states_are_read_at_the_current_version_and_refused_at_older_ones() {
        let server = Server::new(Arc::new(TestProvider(Slow)));
        let flat: HashMap<String, String> = [("id", "x"), ("name", "n")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let v = server.upgrade_flatmap_state("test_slow", 2, &flat).unwrap();
        assert_eq!(
            v,
            Value::object([("id", Value::from("x")), ("name", Value::from("n"))])
        );
        let err = server
            .upgrade_flatmap_state("test_slow", 1, &flat)
            .unwrap_err();
        let d = err.iter().next().unwrap();
        assert_eq!(d.summary, "Unreadable Stored State");
        assert!(
            d.detail.contains("flatmap format of Terraform 0.11, and at schema version 1; this provider reads flatmap only at version 2"),
            "{}",
            d.detail
        );
        assert!(d.detail.contains("terraform state rm"), "says what to do");
    }

    #[tokio::test]
    async fn unknown_types_are_diagnostics_not_crashes() {
        let server = Server::new(Arc::new(TestProvider(Slow)));
        assert!(server.resource_type("test_nope").is_err());
        assert!(server
            .plan_resource_change(
                "test_nope",
                Value::Null,
                Value::Null,
                Value::Null,
                Private::new()
            )
            .await
            .is_err());
        assert!(server.call_function("nope", &[]).is_err());
    }

    #[tokio::test]
    async fn a_failed_delete_keeps_the_object_in_state() {
        #[derive(Clone)]
        struct Stubborn;
        #[async_trait]
        impl Resource for Stubborn {
            fn type_name(&self) -> &'static str {
                "test_slow"
            }
            fn schema(&self) -> Schema {
                Slow.schema()
            }
            async fn create(&self, _: &Ctx, _: CreateRequest, _: &mut StateResponse) {}
            async fn read(&self, _: &Ctx, _: ReadRequest, _: &mut StateResponse) {}
            async fn update(&self, _: &Ctx, _: UpdateRequest, _: &mut StateResponse) {}
            async fn delete(&self, _: &Ctx, _: DeleteRequest, resp: &mut StateResponse) {
                resp.diagnostics.error("Busy", "try later");
            }
        }
        let server = Server::new(Arc::new(TestProvider(Stubborn)));
        let prior = Value::object([("id", Value::from("x")), ("name", Value::from("a"))]);
        let resp = server
            .apply_resource_change(
                "test_slow",
                prior.clone(),
                Value::Null,
                Value::Null,
                Private::new(),
            )
            .await
            .unwrap();
        assert!(resp.diagnostics.has_errors());
        assert_eq!(resp.state, prior);
    }
}
