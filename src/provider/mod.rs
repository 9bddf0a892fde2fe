//! The freetier provider: its `provider` block, and the resources, data sources and
//! functions it offers. Built on `framework`; free-tier facts come from `rules`.

pub mod allocation;
pub mod config;
pub mod data_sources;
pub mod docs;
pub mod functions;
pub mod resources;
mod tier;

use std::sync::Arc;

use async_trait::async_trait;

use crate::framework::{
    Ctx, DataSource, Diagnostics, Function, Provider, ProviderData, Resource, Schema, Value,
};

/// The provider's source address, as written in `required_providers`.
pub const SOURCE_ADDRESS: &str = "registry.terraform.io/freetier/freetier";

/// The freetier provider.
#[derive(Default)]
pub struct FreetierProvider;

#[async_trait]
impl Provider for FreetierProvider {
    fn type_name(&self) -> &'static str {
        "freetier"
    }

    fn schema(&self) -> Schema {
        config::schema()
    }

    fn validate_config(&self, config: &Value, diags: &mut Diagnostics) {
        config::validate(config, diags);
    }

    async fn configure(
        &self,
        _ctx: &Ctx,
        config: &Value,
        diags: &mut Diagnostics,
    ) -> Option<ProviderData> {
        config::ProviderConfig::from_value(config, diags).map(|c| Arc::new(c) as ProviderData)
    }

    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![
            Arc::new(resources::age_key::AgeKey),
            Arc::new(resources::proxmox_cluster::ProxmoxCluster),
            Arc::new(resources::ssh_host_key::SshHostKey),
            Arc::new(resources::talos_cluster::TalosClusterResource),
            Arc::new(resources::talos_secrets::TalosSecretsResource),
        ]
    }

    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        vec![
            Arc::new(data_sources::limits::Limits),
            Arc::new(data_sources::allocation::AllocationCheck),
            Arc::new(data_sources::sops_file::SopsFile),
        ]
    }

    fn functions(&self) -> Vec<Arc<dyn Function>> {
        vec![
            Arc::new(functions::ampere_layout::AmpereLayout),
            Arc::new(functions::violations::Violations),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_schema_passes_schema_validation() {
        let p = FreetierProvider;
        let mut problems = p.schema().block.validate("provider.");
        for r in p.resources() {
            problems.extend(r.schema().block.validate(&format!("{}.", r.type_name())));
        }
        for d in p.data_sources() {
            problems.extend(d.schema().block.validate(&format!("{}.", d.type_name())));
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
