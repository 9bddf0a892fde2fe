//! One handler per RPC: decode, call the framework server, encode. RPCs not overridden here
//! answer UNIMPLEMENTED (generated default stubs), which every client tolerates because it
//! only calls RPCs its protocol minor knows, or feature-detects them.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use tracing::debug;

use super::convert::{self, decode, diagnostics, encode};
use super::proto::{self, provider_server::Provider};
use crate::framework::{Diagnostics, Server};

/// The tfplugin5 `Provider` service over a framework server.
#[derive(Clone)]
pub struct Tfplugin5Service {
    server: Arc<Server>,
}

impl Tfplugin5Service {
    /// Serves `server`.
    pub fn new(server: Arc<Server>) -> Tfplugin5Service {
        Tfplugin5Service { server }
    }

    fn schema_response(&self) -> proto::get_provider_schema::Response {
        let s = &self.server;
        proto::get_provider_schema::Response {
            provider: Some(convert::schema(s.provider_schema())),
            resource_schemas: s
                .resource_schemas()
                .map(|(k, v)| (k.to_string(), convert::schema(v)))
                .collect(),
            data_source_schemas: s
                .data_source_schemas()
                .map(|(k, v)| (k.to_string(), convert::schema(v)))
                .collect(),
            functions: s
                .function_signatures()
                .map(|(k, v)| (k.to_string(), convert::function(v)))
                .collect(),
            server_capabilities: Some(proto::ServerCapabilities {
                plan_destroy: false,
                // Schemas never change within a build, so Terraform may reuse them across
                // provider processes (fewer GetSchema calls per plan).
                get_provider_schema_optional: true,
                move_resource_state: false,
                generate_resource_config: false,
            }),
            ..Default::default()
        }
    }
}

#[tonic::async_trait]
impl Provider for Tfplugin5Service {
    async fn get_schema(
        &self,
        _: Request<proto::get_provider_schema::Request>,
    ) -> Result<Response<proto::get_provider_schema::Response>, Status> {
        debug!(rpc = "GetSchema", "serving schema");
        Ok(Response::new(self.schema_response()))
    }

    async fn get_functions(
        &self,
        _: Request<proto::get_functions::Request>,
    ) -> Result<Response<proto::get_functions::Response>, Status> {
        let functions = self
            .server
            .function_signatures()
            .map(|(k, v)| (k.to_string(), convert::function(v)))
            .collect();
        Ok(Response::new(proto::get_functions::Response {
            functions,
            diagnostics: Vec::new(),
        }))
    }

    async fn prepare_provider_config(
        &self,
        req: Request<proto::prepare_provider_config::Request>,
    ) -> Result<Response<proto::prepare_provider_config::Response>, Status> {
        let req = req.into_inner();
        let ty = self.server.provider_type();
        let d = match decode(req.config.as_ref(), ty) {
            Ok(config) => self.server.validate_provider_config(&config),
            Err(d) => d,
        };
        // Terraform ignores the prepared config, but it must decode: echo the input back.
        Ok(Response::new(proto::prepare_provider_config::Response {
            prepared_config: req.config,
            diagnostics: diagnostics(d),
        }))
    }

    async fn validate_resource_type_config(
        &self,
        req: Request<proto::validate_resource_type_config::Request>,
    ) -> Result<Response<proto::validate_resource_type_config::Response>, Status> {
        let req = req.into_inner();
        let d = match self
            .server
            .resource_type(&req.type_name)
            .and_then(|ty| decode(req.config.as_ref(), ty))
        {
            Ok(config) => self
                .server
                .validate_resource_config(&req.type_name, &config),
            Err(d) => d,
        };
        Ok(Response::new(
            proto::validate_resource_type_config::Response {
                diagnostics: diagnostics(d),
            },
        ))
    }

    async fn validate_data_source_config(
        &self,
        req: Request<proto::validate_data_source_config::Request>,
    ) -> Result<Response<proto::validate_data_source_config::Response>, Status> {
        let req = req.into_inner();
        let d = match self
            .server
            .data_source_type(&req.type_name)
            .and_then(|ty| decode(req.config.as_ref(), ty))
        {
            Ok(config) => self
                .server
                .validate_data_source_config(&req.type_name, &config),
            Err(d) => d,
        };
        Ok(Response::new(
            proto::validate_data_source_config::Response {
                diagnostics: diagnostics(d),
            },
        ))
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<proto::upgrade_resource_state::Request>,
    ) -> Result<Response<proto::upgrade_resource_state::Response>, Status> {
        let req = req.into_inner();
        let raw = req.raw_state.unwrap_or_default();
        let mut d = Diagnostics::new();
        // Terraform 0.11 and earlier stored flatmap; it arrives when JSON is absent.
        let result = if raw.json.is_empty() && !raw.flatmap.is_empty() {
            self.server
                .upgrade_flatmap_state(&req.type_name, req.version, &raw.flatmap)
        } else {
            self.server
                .upgrade_resource_state(&req.type_name, req.version, &raw.json)
        };
        let upgraded = match result {
            Ok(v) => self
                .server
                .resource_type(&req.type_name)
                .ok()
                .and_then(|ty| encode(&v, ty, &mut d)),
            Err(e) => {
                d.extend(e);
                None
            }
        };
        Ok(Response::new(proto::upgrade_resource_state::Response {
            upgraded_state: upgraded,
            diagnostics: diagnostics(d),
        }))
    }

    async fn configure(
        &self,
        req: Request<proto::configure::Request>,
    ) -> Result<Response<proto::configure::Response>, Status> {
        let req = req.into_inner();
        debug!(rpc = "Configure", terraform_version = %req.terraform_version, "configuring provider");
        let d = match decode(req.config.as_ref(), self.server.provider_type()) {
            Ok(config) => self.server.configure(&config).await,
            Err(d) => d,
        };
        Ok(Response::new(proto::configure::Response {
            diagnostics: diagnostics(d),
        }))
    }

    async fn read_resource(
        &self,
        req: Request<proto::read_resource::Request>,
    ) -> Result<Response<proto::read_resource::Response>, Status> {
        let req = req.into_inner();
        debug!(rpc = "ReadResource", type_name = %req.type_name);
        let mut d = Diagnostics::new();
        let ty = match self.server.resource_type(&req.type_name) {
            Ok(ty) => ty.clone(),
            Err(e) => {
                return Ok(Response::new(proto::read_resource::Response {
                    new_state: req.current_state,
                    diagnostics: diagnostics(e),
                    private: req.private,
                    ..Default::default()
                }))
            }
        };
        let current = match decode(req.current_state.as_ref(), &ty) {
            Ok(v) => v,
            Err(e) => {
                return Ok(Response::new(proto::read_resource::Response {
                    new_state: req.current_state,
                    diagnostics: diagnostics(e),
                    private: req.private,
                    ..Default::default()
                }))
            }
        };
        let private = match convert::private_from_bytes(&req.private, &req.type_name) {
            Ok(p) => p,
            Err(e) => {
                return Ok(Response::new(proto::read_resource::Response {
                    new_state: req.current_state,
                    diagnostics: diagnostics(e),
                    private: req.private,
                    ..Default::default()
                }))
            }
        };
        let (state, private) = match self
            .server
            .read_resource(&req.type_name, current.clone(), private)
            .await
        {
            Ok(r) => {
                d.extend(r.diagnostics);
                (r.state, r.private)
            }
            Err(e) => {
                d.extend(e);
                (current, Default::default())
            }
        };
        let new_state = encode(&state, &ty, &mut d);
        let private = convert::private_to_bytes(&private, &req.type_name).unwrap_or_else(|e| {
            d.extend(e);
            req.private // what Terraform holds stays
        });
        Ok(Response::new(proto::read_resource::Response {
            new_state,
            diagnostics: diagnostics(d),
            private,
            ..Default::default()
        }))
    }

    async fn plan_resource_change(
        &self,
        req: Request<proto::plan_resource_change::Request>,
    ) -> Result<Response<proto::plan_resource_change::Response>, Status> {
        let req = req.into_inner();
        debug!(rpc = "PlanResourceChange", type_name = %req.type_name);
        let fail = |d: Diagnostics| {
            Ok(Response::new(proto::plan_resource_change::Response {
                diagnostics: diagnostics(d),
                ..Default::default()
            }))
        };
        let ty = match self.server.resource_type(&req.type_name) {
            Ok(ty) => ty.clone(),
            Err(e) => return fail(e),
        };
        let decoded = (|| {
            Ok::<_, Diagnostics>((
                decode(req.prior_state.as_ref(), &ty)?,
                decode(req.proposed_new_state.as_ref(), &ty)?,
                decode(req.config.as_ref(), &ty)?,
            ))
        })();
        let (prior, proposed, config) = match decoded {
            Ok(t) => t,
            Err(e) => return fail(e),
        };
        let private = match convert::private_from_bytes(&req.prior_private, &req.type_name) {
            Ok(p) => p,
            Err(e) => return fail(e),
        };
        let out = match self
            .server
            .plan_resource_change(&req.type_name, prior, proposed, config, private)
            .await
        {
            Ok(o) => o,
            Err(e) => return fail(e),
        };
        let mut d = out.diagnostics;
        let planned_state = encode(&out.planned, &ty, &mut d);
        let planned_private = match convert::private_to_bytes(&out.private, &req.type_name) {
            Ok(b) => b,
            Err(e) => {
                d.extend(e);
                return fail(d);
            }
        };
        Ok(Response::new(proto::plan_resource_change::Response {
            planned_state,
            requires_replace: out.requires_replace.iter().map(convert::path).collect(),
            planned_private,
            diagnostics: diagnostics(d),
            ..Default::default()
        }))
    }

    async fn apply_resource_change(
        &self,
        req: Request<proto::apply_resource_change::Request>,
    ) -> Result<Response<proto::apply_resource_change::Response>, Status> {
        let req = req.into_inner();
        debug!(rpc = "ApplyResourceChange", type_name = %req.type_name);
        let fail = |d: Diagnostics, prior: Option<proto::DynamicValue>| {
            Ok(Response::new(proto::apply_resource_change::Response {
                new_state: prior,
                diagnostics: diagnostics(d),
                ..Default::default()
            }))
        };
        let ty = match self.server.resource_type(&req.type_name) {
            Ok(ty) => ty.clone(),
            Err(e) => return fail(e, req.prior_state),
        };
        let decoded = (|| {
            Ok::<_, Diagnostics>((
                decode(req.prior_state.as_ref(), &ty)?,
                decode(req.planned_state.as_ref(), &ty)?,
                decode(req.config.as_ref(), &ty)?,
            ))
        })();
        let (prior, planned, config) = match decoded {
            Ok(t) => t,
            Err(e) => return fail(e, req.prior_state),
        };
        let private = match convert::private_from_bytes(&req.planned_private, &req.type_name) {
            Ok(p) => p,
            Err(e) => return fail(e, req.prior_state),
        };
        let r = match self
            .server
            .apply_resource_change(&req.type_name, prior, planned, config, private)
            .await
        {
            Ok(r) => r,
            Err(e) => return fail(e, req.prior_state),
        };
        let mut d = r.diagnostics;
        let new_state = encode(&r.state, &ty, &mut d);
        // The object exists now: its state is returned even when its private state is not.
        let private = convert::private_to_bytes(&r.private, &req.type_name).unwrap_or_else(|e| {
            d.extend(e);
            Vec::new()
        });
        Ok(Response::new(proto::apply_resource_change::Response {
            new_state,
            private,
            diagnostics: diagnostics(d),
            ..Default::default()
        }))
    }

    async fn import_resource_state(
        &self,
        req: Request<proto::import_resource_state::Request>,
    ) -> Result<Response<proto::import_resource_state::Response>, Status> {
        let req = req.into_inner();
        debug!(rpc = "ImportResourceState", type_name = %req.type_name);
        let (imported, d) = match self
            .server
            .import_resource_state(&req.type_name, &req.id)
            .await
        {
            Ok(ok) => ok,
            Err(e) => (Vec::new(), e),
        };
        let mut d = d;
        let mut out = Vec::new();
        for i in imported {
            let Ok(ty) = self.server.resource_type(&i.type_name) else {
                continue;
            };
            let state = encode(&i.state, ty, &mut d);
            let private = match convert::private_to_bytes(&i.private, &i.type_name) {
                Ok(b) => b,
                Err(e) => {
                    d.extend(e);
                    continue; // an import without its private state is refused
                }
            };
            out.push(proto::import_resource_state::ImportedResource {
                type_name: i.type_name,
                state,
                private,
                identity: None,
            });
        }
        Ok(Response::new(proto::import_resource_state::Response {
            imported_resources: out,
            diagnostics: diagnostics(d),
            ..Default::default()
        }))
    }

    async fn read_data_source(
        &self,
        req: Request<proto::read_data_source::Request>,
    ) -> Result<Response<proto::read_data_source::Response>, Status> {
        let req = req.into_inner();
        debug!(rpc = "ReadDataSource", type_name = %req.type_name);
        let fail = |d: Diagnostics| {
            Ok(Response::new(proto::read_data_source::Response {
                diagnostics: diagnostics(d),
                ..Default::default()
            }))
        };
        let ty = match self.server.data_source_type(&req.type_name) {
            Ok(ty) => ty.clone(),
            Err(e) => return fail(e),
        };
        let config = match decode(req.config.as_ref(), &ty) {
            Ok(v) => v,
            Err(e) => return fail(e),
        };
        let r = match self.server.read_data_source(&req.type_name, config).await {
            Ok(r) => r,
            Err(e) => return fail(e),
        };
        let mut d = r.diagnostics;
        let state = if d.has_errors() {
            None
        } else {
            encode(&r.state, &ty, &mut d)
        };
        Ok(Response::new(proto::read_data_source::Response {
            state,
            diagnostics: diagnostics(d),
            ..Default::default()
        }))
    }

    async fn call_function(
        &self,
        req: Request<proto::call_function::Request>,
    ) -> Result<Response<proto::call_function::Response>, Status> {
        let req = req.into_inner();
        debug!(rpc = "CallFunction", name = %req.name);
        let err = |text: String, arg: Option<i64>| {
            Ok(Response::new(proto::call_function::Response {
                result: None,
                error: Some(proto::FunctionError {
                    text,
                    function_argument: arg,
                }),
            }))
        };
        let Some(sig) = self.server.function_signature(&req.name).cloned() else {
            return err(
                format!("this provider has no function {:?}", req.name),
                None,
            );
        };
        if req.arguments.len() != sig.parameters.len() {
            return err(
                format!(
                    "{} takes {} arguments, got {}",
                    req.name,
                    sig.parameters.len(),
                    req.arguments.len()
                ),
                None,
            );
        }
        let mut args = Vec::with_capacity(req.arguments.len());
        for (i, (dv, p)) in req.arguments.iter().zip(&sig.parameters).enumerate() {
            match crate::framework::codec::decode_dynamic(&dv.msgpack, &dv.json, &p.ty) {
                Ok(v) => args.push(v),
                Err(e) => {
                    return err(
                        format!("argument {} ({}): {e}", i + 1, p.name),
                        Some(i as i64),
                    )
                }
            }
        }
        match self.server.call_function(&req.name, &args) {
            Ok(v) => {
                let mut d = Diagnostics::new();
                match encode(&v, &sig.return_type, &mut d) {
                    Some(result) => Ok(Response::new(proto::call_function::Response {
                        result: Some(result),
                        error: None,
                    })),
                    None => err(
                        d.iter()
                            .map(|x| x.detail.clone())
                            .collect::<Vec<_>>()
                            .join("; "),
                        None,
                    ),
                }
            }
            Err(e) => err(e.text, e.argument),
        }
    }

    async fn stop(
        &self,
        _: Request<proto::stop::Request>,
    ) -> Result<Response<proto::stop::Response>, Status> {
        tracing::info!(
            rpc = "Stop",
            "stop requested: cancelling running operations"
        );
        self.server.stop();
        Ok(Response::new(proto::stop::Response {
            error: String::new(),
        }))
    }
}
