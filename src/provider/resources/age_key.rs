//! `freetier_age_key`: an age X25519 key pair for SOPS. The public key (`age1…`) goes into
//! `.sops.yaml`; the secret key reaches the cluster (Flux decrypts with it) and never a log.
//! Nothing exists outside Terraform's state, so read, update and delete are local.

use std::str::FromStr;

use age::secrecy::ExposeSecret;
use async_trait::async_trait;

use crate::framework::*;

/// Model: the attribute names, in one place.
mod attr {
    pub const ID: &str = "id";
    pub const PUBLIC_KEY: &str = "public_key";
    pub const PRIVATE_KEY: &str = "private_key";
    pub const KEEPERS: &str = "keepers";
}

/// The resource.
pub struct AgeKey;

impl AgeKey {
    fn state(identity: &age::x25519::Identity, keepers: Value) -> Value {
        let public = identity.to_public().to_string();
        Value::object([
            (attr::ID, Value::from(public.clone())),
            (attr::PUBLIC_KEY, Value::from(public)),
            (
                attr::PRIVATE_KEY,
                Value::from(identity.to_string().expose_secret().to_string()),
            ),
            (attr::KEEPERS, keepers),
        ])
    }
}

/// Reads a secret key from the import id: the key itself, or a file holding it (the format
/// `age-keygen` writes, comments allowed).
fn identity_from_import_id(id: &str) -> Result<age::x25519::Identity, String> {
    let id = id.trim();
    let text = if id.starts_with("AGE-SECRET-KEY-1") {
        id.to_string()
    } else {
        std::fs::read_to_string(id).map_err(|e| {
            format!("{id:?} is neither an AGE-SECRET-KEY-1… key nor a readable key file ({e})")
        })?
    };
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .ok_or_else(|| "no AGE-SECRET-KEY-1… line found".to_string())?;
    age::x25519::Identity::from_str(line)
        .map_err(|e| format!("not a valid age X25519 secret key ({e})"))
}

#[async_trait]
impl Resource for AgeKey {
    fn type_name(&self) -> &'static str {
        "freetier_age_key"
    }

    fn schema(&self) -> Schema {
        Schema {
            version: 0,
            block: Block::new(
                "An [age](https://age-encryption.org) X25519 key pair for SOPS. Put `public_key` in `.sops.yaml`; \
                 the cluster layer hands `private_key` to Flux. Import an existing key with \
                 `terraform import freetier_age_key.NAME PATH_TO_KEYS_TXT`.",
            )
            .attribute(Attribute::string(attr::ID).computed().use_state_for_unknown().description("Same as `public_key`."))
            .attribute(
                Attribute::string(attr::PUBLIC_KEY)
                    .computed()
                    .use_state_for_unknown()
                    .description("The age recipient, `age1…`. Safe to publish and commit."),
            )
            .attribute(
                Attribute::string(attr::PRIVATE_KEY)
                    .computed()
                    .sensitive()
                    .use_state_for_unknown()
                    .description("The secret key, `AGE-SECRET-KEY-1…`. Anyone with it can decrypt your secrets: it is stored in state, so protect the state."),
            )
            .attribute(
                Attribute::typed(attr::KEEPERS, Type::map(Type::String))
                    .optional()
                    .requires_replace()
                    .description("Arbitrary values; changing any of them generates a new key (rotation)."),
            ),
        }
    }

    async fn create(&self, _ctx: &Ctx, req: CreateRequest, resp: &mut StateResponse) {
        let identity = age::x25519::Identity::generate();
        resp.state = AgeKey::state(&identity, req.planned.attr(attr::KEEPERS).clone());
        tracing::info!(public_key = %identity.to_public(), "generated an age key");
    }

    async fn read(&self, _ctx: &Ctx, req: ReadRequest, resp: &mut StateResponse) {
        // The key lives only in state, so there is nothing to refresh. A hand-edited secret
        // that no longer parses is reported; re-deriving the public half on every refresh
        // would cost a curve multiplication per key per plan for no drift a user can cause.
        let Some(secret) = req.current.attr(attr::PRIVATE_KEY).as_str() else {
            return;
        };
        if age::x25519::Identity::from_str(secret).is_err() {
            resp.diagnostics.error_at(
                AttributePath::root(attr::PRIVATE_KEY),
                "Invalid Age Key In State",
                "The stored private_key is not an age X25519 secret key. Restore the state from a backup, or taint the resource to generate a new key.",
            );
        }
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest, resp: &mut StateResponse) {
        // Every input requires replacement, so an update only carries the plan over.
        resp.state = req.planned;
    }

    async fn delete(&self, _ctx: &Ctx, _req: DeleteRequest, _resp: &mut StateResponse) {
        // Nothing outside state to remove; secrets encrypted to this key stay readable only to
        // whoever kept a copy of it.
    }

    fn as_import_state(&self) -> Option<&dyn ImportState> {
        Some(self)
    }
}

#[async_trait]
impl ImportState for AgeKey {
    async fn import_state(&self, _ctx: &Ctx, id: &str, resp: &mut ImportResponse) {
        match identity_from_import_id(id) {
            Ok(identity) => resp.state = AgeKey::state(&identity, Value::Null),
            Err(e) => resp.diagnostics.error(
                "Cannot Import Age Key",
                format!("{e}. Pass the secret key (AGE-SECRET-KEY-1…) or the path of a key file made by age-keygen."),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn created_keys_are_a_matching_age_pair() {
        let mut resp = StateResponse::default();
        let planned = Value::object([(attr::KEEPERS, Value::Null)]);
        AgeKey
            .create(
                &Ctx::default(),
                CreateRequest {
                    config: planned.clone(),
                    planned,
                    private: Private::new(),
                },
                &mut resp,
            )
            .await;
        let public = resp
            .state
            .attr(attr::PUBLIC_KEY)
            .as_str()
            .unwrap()
            .to_string();
        let secret = resp.state.attr(attr::PRIVATE_KEY).as_str().unwrap();
        assert!(public.starts_with("age1"));
        assert!(secret.starts_with("AGE-SECRET-KEY-1"));
        assert_eq!(
            age::x25519::Identity::from_str(secret)
                .unwrap()
                .to_public()
                .to_string(),
            public
        );
    }

    #[tokio::test]
    async fn import_accepts_a_key_or_a_key_file_and_refuses_garbage() {
        let id = age::x25519::Identity::generate();
        let secret = id.to_string().expose_secret().to_string();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys.txt");
        std::fs::write(
            &file,
            format!(
                "# created: today\n# public key: {}\n{secret}\n",
                id.to_public()
            ),
        )
        .unwrap();
        for source in [secret.clone(), file.display().to_string()] {
            let mut resp = ImportResponse::default();
            AgeKey
                .import_state(&Ctx::default(), &source, &mut resp)
                .await;
            assert!(!resp.diagnostics.has_errors(), "{source}");
            assert_eq!(
                resp.state.attr(attr::PUBLIC_KEY).as_str(),
                Some(id.to_public().to_string().as_str())
            );
        }
        let mut resp = ImportResponse::default();
        AgeKey
            .import_state(&Ctx::default(), "AGE-SECRET-KEY-1NOTAKEY", &mut resp)
            .await;
        assert!(resp.diagnostics.has_errors());
    }
}
