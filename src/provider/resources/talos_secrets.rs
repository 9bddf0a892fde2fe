//! `freetier_talos_secrets`: a Talos cluster's secrets bundle (the CAs, keys and tokens
//! `talosctl gen secrets` makes), as a resource of its own. Terraform saves it in state before
//! `freetier_talos_cluster` boots a single machine with it, so a create that is killed part
//! way leaves machines whose secrets the state still holds. Nothing exists outside state.

use async_trait::async_trait;

use super::talos_cluster::secrets::MachineSecrets;
use crate::framework::*;

crate::model! {
    /// The resource.
    pub struct TalosSecrets {
        pub id: Maybe<String> = "id",
        pub keepers: Maybe<std::collections::BTreeMap<String, String>> = "keepers",
        pub machine_secrets: Maybe<String> = "machine_secrets",
    }
}

/// The resource.
pub struct TalosSecretsResource;

/// The id: a short SHA-256 of the bundle's cluster id, so plans can show it and name it
/// without showing anything of the bundle.
fn id_of(s: &MachineSecrets) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.cluster.id.as_bytes());
    d.as_ref()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[async_trait]
impl Resource for TalosSecretsResource {
    fn type_name(&self) -> &'static str {
        "freetier_talos_secrets"
    }

    fn schema(&self) -> Schema {
        Schema {
            version: 0,
            block: Block::new(
                "A Talos cluster's secrets bundle, as `talosctl gen secrets` makes it. Give `machine_secrets` to \
                 `freetier_talos_cluster`: Terraform keeps the bundle in state before any machine boots with it, so \
                 a create that stops part way never leaves machines with secrets nobody has. Import an existing \
                 bundle from its file: `terraform import freetier_talos_secrets.NAME ./secrets.yaml`.",
            )
            .attribute(Attribute::string("id").computed().use_state_for_unknown().description("A short hash of the bundle's cluster id."))
            .attribute(
                Attribute::typed("keepers", Type::map(Type::String))
                    .optional()
                    .requires_replace()
                    .description("Arbitrary values; changing any of them makes a new bundle (and so a new cluster)."),
            )
            .attribute(
                Attribute::string("machine_secrets")
                    .computed()
                    .sensitive()
                    .use_state_for_unknown()
                    .description("The bundle, in `talosctl gen secrets` YAML. Anyone with it controls the cluster: protect the state."),
            ),
        }
    }

    async fn create(&self, _ctx: &Ctx, req: CreateRequest, resp: &mut StateResponse) {
        let mut m: TalosSecrets = match read_model(&req.planned) {
            Ok(m) => m,
            Err(e) => return e.report(&mut resp.diagnostics),
        };
        let made = MachineSecrets::generate().and_then(|s| Ok((id_of(&s), s.to_yaml()?)));
        match made {
            Ok((id, yaml)) => {
                tracing::info!("generated a talos secrets bundle");
                m.id = Maybe::Known(id);
                m.machine_secrets = Maybe::Known(yaml);
                resp.state = m.to_value();
            }
            Err(e) => resp
                .diagnostics
                .error("Cannot Make Talos Secrets", e.to_string()),
        }
    }

    async fn read(&self, _ctx: &Ctx, req: ReadRequest, resp: &mut StateResponse) {
        resp.state = req.current.clone();
        if let Some(text) = req.current.attr("machine_secrets").as_str() {
            if MachineSecrets::from_yaml(text).is_err() {
                resp.diagnostics.error_at(
                    AttributePath::root("machine_secrets"),
                    "Invalid Talos Secrets In State",
                    "The stored machine_secrets is not a talosctl secrets bundle. Restore the state from a backup.",
                );
            }
        }
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest, resp: &mut StateResponse) {
        // Every input requires replacement, so an update only carries the plan over.
        resp.state = req.planned;
    }

    async fn delete(&self, _ctx: &Ctx, _req: DeleteRequest, _resp: &mut StateResponse) {
        // Nothing outside state: machines made with the bundle keep it.
    }

    fn as_validate_config(&self) -> Option<&dyn ValidateConfig> {
        Some(self)
    }

    fn as_import_state(&self) -> Option<&dyn ImportState> {
        Some(self)
    }
}

impl ValidateConfig for TalosSecretsResource {
    fn validate_config(&self, config: &Value, diags: &mut Diagnostics) {
        // A map of strings may hold a null; a keeper is a value to compare, so it needs one.
        let Some(keepers) = config.attr("keepers").as_map() else {
            return;
        };
        for (k, v) in keepers {
            if v.is_null() {
                diags.error_at(
                    AttributePath::root("keepers").key(k.clone()),
                    "Invalid Keeper",
                    format!(
                        "keepers[\"{k}\"] is null: give it a string (changing it later makes a new bundle, and so a new cluster), or leave the key out"
                    ),
                );
            }
        }
    }
}

#[async_trait]
impl ImportState for TalosSecretsResource {
    async fn import_state(&self, _ctx: &Ctx, id: &str, resp: &mut ImportResponse) {
        // The id is a file path, never the bundle: Terraform prints and logs import ids.
        if id.contains("-----BEGIN") || id.contains('\n') || id.len() > 4096 {
            resp.diagnostics.error(
                "Invalid Import ID",
                "the import ID holds key material, which Terraform prints and logs; give the path of the secrets file (`talosctl gen secrets` writes secrets.yaml)",
            );
            return;
        }
        let text = match std::fs::read_to_string(id) {
            Ok(t) => t,
            Err(e) => {
                resp.diagnostics.error(
                    "Cannot Import Talos Secrets",
                    format!("cannot read {id} ({e}); the import ID is the path of a talosctl secrets file"),
                );
                return;
            }
        };
        match MachineSecrets::from_yaml(&text) {
            Ok(s) => {
                resp.state = Value::object([
                    ("id", Value::from(id_of(&s))),
                    ("keepers", Value::Null),
                    ("machine_secrets", Value::from(text)),
                ])
            }
            Err(e) => resp.diagnostics.error(
                "Cannot Import Talos Secrets",
                format!("{id} is not a talosctl secrets bundle ({e}); give the file `talosctl gen secrets` writes (secrets.yaml)"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_made_bundle_reads_back_and_is_new_each_time() {
        let planned = Value::object([
            ("id", Value::Unknown),
            ("keepers", Value::Null),
            ("machine_secrets", Value::Unknown),
        ]);
        let mut ids = Vec::new();
        for _ in 0..2 {
            let mut resp = StateResponse::default();
            TalosSecretsResource
                .create(
                    &Ctx::default(),
                    CreateRequest {
                        config: planned.clone(),
                        planned: planned.clone(),
                        private: Private::new(),
                    },
                    &mut resp,
                )
                .await;
            assert!(!resp.diagnostics.has_errors(), "{:?}", resp.diagnostics);
            let text = resp
                .state
                .attr("machine_secrets")
                .as_str()
                .unwrap()
                .to_string();
            let s = MachineSecrets::from_yaml(&text).expect("a talosctl bundle");
            assert_eq!(resp.state.attr("id").as_str(), Some(id_of(&s).as_str()));
            assert!(!text.is_empty() && !id_of(&s).is_empty());
            ids.push(s.cluster.id);
        }
        assert_ne!(ids[0], ids[1]);
    }
}
