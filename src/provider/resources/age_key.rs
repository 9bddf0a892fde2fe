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

/// The parts of an import id: `SOURCE[?KEEPERS]`.
///
/// - SOURCE is `env:NAME` (the variable holds the key, as `SOPS_AGE_KEY` does) or the path
///   of a key file in the format `age-keygen` writes (comments allowed).
/// - KEEPERS are the configuration's keepers, `name=value&name=value`, `%XX`-escaped, so the
///   imported state matches the configuration and the next plan is empty.
///
/// Never the key itself: Terraform prints and logs import ids.
struct ImportId {
    source: KeySource,
    keepers: Value,
}

enum KeySource {
    Env(String),
    File(String),
}

/// Why an import id was refused. The messages never hold the id when it may hold a secret.
#[derive(Debug, thiserror::Error)]
enum ImportError {
    /// The id holds a secret key (or looks like one).
    #[error("the import ID holds a secret key, which Terraform prints and logs; if this output is kept anywhere, rotate the key")]
    SecretInId,
    /// `env:` followed by something that is not a variable name.
    #[error("the text after env: is not an environment variable name")]
    BadEnvName,
    /// The named variable is unset or empty in the provider's environment.
    #[error("environment variable {0} is not set where Terraform runs")]
    EnvUnset(String),
    /// The key file cannot be read.
    #[error("cannot read {path} ({source})")]
    File {
        /// The path, or a stand-in when it may hold a secret.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No `AGE-SECRET-KEY-1` line in the source.
    #[error("{0} holds no AGE-SECRET-KEY-1… line")]
    NoKey(String),
    /// The key line does not parse.
    #[error("the key in {0} is not a valid age X25519 secret key")]
    BadKey(String),
    /// The keepers part is malformed.
    #[error("keepers after ?: {0}")]
    Keepers(String),
}

/// True when `s` may hold a secret key, whole or mangled: the age prefix, or a long run of
/// letters and digits as a Bech32 payload has. Such text is never echoed.
fn may_hold_secret(s: &str) -> bool {
    let longest_run = s
        .split(|c: char| !c.is_ascii_alphanumeric())
        .map(str::len)
        .max()
        .unwrap_or(0);
    s.to_ascii_uppercase().contains("SECRET-KEY") || longest_run >= 32
}

/// `%XX` decoding, for keeper names and values.
fn percent_decode(s: &str) -> Result<String, &'static str> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("a % not followed by two hex digits")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "escapes that are not UTF-8")
}

fn parse_import_id(id: &str) -> Result<ImportId, ImportError> {
    if may_hold_secret(id) {
        return Err(ImportError::SecretInId);
    }
    let id = id.trim();
    let (source, query) = match id.split_once('?') {
        Some((s, q)) => (s, Some(q)),
        None => (id, None),
    };
    let keepers = match query {
        None => Value::Null,
        Some(q) => {
            let mut m = std::collections::BTreeMap::new();
            for (n, pair) in q.split('&').enumerate() {
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| ImportError::Keepers(format!("pair {} has no =", n + 1)))?;
                let bad = |e| ImportError::Keepers(format!("pair {} has {e}", n + 1));
                let k = percent_decode(k).map_err(bad)?;
                let v = percent_decode(v).map_err(bad)?;
                if k.is_empty() {
                    return Err(ImportError::Keepers(format!("pair {} has no name", n + 1)));
                }
                m.insert(k, Value::from(v));
            }
            Value::Map(m)
        }
    };
    let source = match source.strip_prefix("env:") {
        Some(name) => {
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(ImportError::BadEnvName);
            }
            KeySource::Env(name.to_string())
        }
        None => KeySource::File(source.to_string()),
    };
    Ok(ImportId { source, keepers })
}

/// Reads the identity from the source; errors name the source, never its contents.
fn read_identity(source: &KeySource) -> Result<age::x25519::Identity, ImportError> {
    let (text, origin) = match source {
        KeySource::Env(name) => match std::env::var(name) {
            Ok(v) if !v.trim().is_empty() => (v, format!("environment variable {name}")),
            _ => return Err(ImportError::EnvUnset(name.clone())),
        },
        KeySource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ImportError::File {
                path: path.clone(),
                source,
            })?;
            (text, path.clone())
        }
    };
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .ok_or_else(|| ImportError::NoKey(origin.clone()))?;
    age::x25519::Identity::from_str(line).map_err(|_| ImportError::BadKey(origin))
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
                 the cluster layer hands `private_key` to Flux. Import an existing key from a key file or \
                 an environment variable, never from the key itself (Terraform logs import IDs), \
                 and append the configuration's `keepers` after a `?` so the next plan is empty: \
                 `terraform import freetier_age_key.NAME './keys.txt?rotation=1'` or \
                 `terraform import freetier_age_key.NAME env:SOPS_AGE_KEY`.",
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

    fn as_modify_plan(&self) -> Option<&dyn ModifyPlan> {
        Some(self)
    }

    fn as_import_state(&self) -> Option<&dyn ImportState> {
        Some(self)
    }
}

#[async_trait]
impl ImportState for AgeKey {
    async fn import_state(&self, _ctx: &Ctx, id: &str, resp: &mut ImportResponse) {
        let imported = parse_import_id(id)
            .and_then(|parsed| Ok((read_identity(&parsed.source)?, parsed.keepers)));
        match imported {
            Ok((identity, keepers)) => {
                tracing::info!(public_key = %identity.to_public(), "imported an age key");
                resp.state = AgeKey::state(&identity, keepers);
            }
            Err(e) => resp.diagnostics.error(
                "Cannot Import Age Key",
                format!("{}. {IMPORT_HELP}.", sentence(&e.to_string())),
            ),
        }
    }
}

/// How to import, in every import error.
const IMPORT_HELP: &str = "Import from an environment variable or a key file made by \
    age-keygen, with the configuration's keepers after a ?, e.g. \
    `terraform import freetier_age_key.NAME 'env:SOPS_AGE_KEY?rotation=1'`";

/// The message with its first letter in upper case, to open a diagnostic's detail.
fn sentence(message: &str) -> String {
    let mut c = message.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[async_trait]
impl ModifyPlan for AgeKey {
    async fn modify_plan(&self, _ctx: &Ctx, req: PlanRequest<'_>, resp: &mut PlanResponse) {
        // Keepers set where the state has none (a key imported without them, or keepers added
        // later) replace the key: say so, since the old key leaves the state for good.
        let (before, now) = (
            req.prior.attr(attr::KEEPERS),
            req.config.attr(attr::KEEPERS),
        );
        if !req.prior.is_null() && before.is_null() && !now.is_null() {
            resp.diagnostics.warning_at(
                AttributePath::root(attr::KEEPERS),
                "Setting Keepers Replaces The Key",
                "The state holds no keepers, so setting them plans a new key and the current one leaves the state. To keep an imported key, import it again with its keepers after a ?, e.g. `terraform import freetier_age_key.NAME 'env:SOPS_AGE_KEY?rotation=1'`.",
            );
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

    fn secret_of(id: &age::x25519::Identity) -> String {
        id.to_string().expose_secret().to_string()
    }

    async fn import(id: &str) -> ImportResponse {
        let mut resp = ImportResponse::default();
        AgeKey.import_state(&Ctx::default(), id, &mut resp).await;
        resp
    }

    /// Every 12-character window of the key's Bech32 payload is absent from every
    /// diagnostic, in either case.
    fn assert_not_echoed(resp: &ImportResponse, secret: &str, case: &str) {
        let payload = secret.trim_start_matches("AGE-SECRET-KEY-1");
        for d in resp.diagnostics.iter() {
            let text = format!("{} {}", d.summary, d.detail);
            for w in payload.as_bytes().windows(12) {
                let w = std::str::from_utf8(w).unwrap();
                assert!(
                    !text.to_ascii_uppercase().contains(&w.to_ascii_uppercase()),
                    "{case}: {w:?} echoed in {text}"
                );
            }
        }
    }

    #[tokio::test]
    async fn import_reads_the_key_from_a_file_or_an_environment_variable_with_its_keepers() {
        let id = age::x25519::Identity::generate();
        let secret = secret_of(&id);
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
        std::env::set_var("FREETIER_TEST_IMPORT_AGE_KEY", &secret);
        let file = file.display().to_string();
        let keepers = |pairs: &[(&str, &str)]| {
            Value::Map(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), Value::from(*v)))
                    .collect(),
            )
        };
        let cases = [
            ("a key file", file.clone(), Value::Null),
            (
                "an environment variable",
                "env:FREETIER_TEST_IMPORT_AGE_KEY".to_string(),
                Value::Null,
            ),
            (
                "a key file with keepers",
                format!("{file}?rotation=1"),
                keepers(&[("rotation", "1")]),
            ),
            (
                "a variable with escaped keepers",
                "env:FREETIER_TEST_IMPORT_AGE_KEY?rotation=2&why=a%26b%3Dc".to_string(),
                keepers(&[("rotation", "2"), ("why", "a&b=c")]),
            ),
        ];
        for (name, import_id, want_keepers) in cases {
            let resp = import(&import_id).await;
            assert!(
                !resp.diagnostics.has_errors(),
                "{name}: {:?}",
                resp.diagnostics
            );
            let want_public = id.to_public().to_string();
            assert_eq!(
                resp.state.attr(attr::PUBLIC_KEY).as_str(),
                Some(want_public.as_str()),
                "{name}"
            );
            assert_eq!(
                resp.state.attr(attr::PRIVATE_KEY).as_str(),
                Some(secret.as_str()),
                "{name}"
            );
            assert_eq!(resp.state.attr(attr::KEEPERS), &want_keepers, "{name}");
        }
    }

    #[tokio::test]
    async fn a_secret_key_in_the_import_id_is_refused_without_echoing_it() {
        let secret = secret_of(&age::x25519::Identity::generate());
        let payload = secret.trim_start_matches("AGE-SECRET-KEY-1").to_string();
        let cases = [
            ("the key itself", secret.clone()),
            ("the key in lower case", secret.to_lowercase()),
            ("the key with keepers", format!("{secret}?rotation=1")),
            ("the key with a typo", secret.replacen("KEY-1", "KEY1", 1)),
            ("the key cut short", secret[..secret.len() - 3].to_string()),
            ("the key without its prefix", payload),
            ("the key as a variable name", format!("env:{secret}")),
        ];
        for (name, import_id) in cases {
            let resp = import(&import_id).await;
            let d = resp.diagnostics.iter().next().expect(name);
            assert_eq!(d.summary, "Cannot Import Age Key", "{name}");
            assert!(
                d.detail.starts_with("The import ID holds a secret key"),
                "{name}: {}",
                d.detail
            );
            assert!(
                d.detail.contains("env:SOPS_AGE_KEY"),
                "{name}: says what to do"
            );
            assert_not_echoed(&resp, &secret, name);
        }
    }

    #[tokio::test]
    async fn malformed_ids_and_unreadable_sources_are_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let no_key = dir.path().join("notes.txt");
        std::fs::write(&no_key, "just notes\n").unwrap();
        // A key line that does not parse: its text must not be echoed either.
        let bad = format!("AGE-SECRET-KEY-1{}", "Q".repeat(58));
        let bad_key = dir.path().join("bad.txt");
        std::fs::write(&bad_key, format!("{bad}\n")).unwrap();
        std::env::set_var("FREETIER_TEST_IMPORT_BAD_KEY", &bad);
        let missing = dir.path().join("missing.txt");
        let (no_key, bad_key, missing) = (
            no_key.display().to_string(),
            bad_key.display().to_string(),
            missing.display().to_string(),
        );
        let cases = [
            (
                "a variable name that is not one",
                "env:1-no".to_string(),
                "The text after env: is not an environment variable name",
            ),
            (
                "an unset variable",
                "env:FREETIER_TEST_UNSET_VARIABLE".to_string(),
                "Environment variable FREETIER_TEST_UNSET_VARIABLE is not set",
            ),
            ("a missing file", missing.clone(), "Cannot read "),
            (
                "a file without a key",
                no_key.clone(),
                "holds no AGE-SECRET-KEY-1… line",
            ),
            (
                "a file with a broken key",
                bad_key.clone(),
                "is not a valid age X25519 secret key",
            ),
            (
                "a variable with a broken key",
                "env:FREETIER_TEST_IMPORT_BAD_KEY".to_string(),
                "The key in environment variable FREETIER_TEST_IMPORT_BAD_KEY is not a valid",
            ),
            (
                "keepers without =",
                format!("{no_key}?rotation"),
                "Keepers after ?: pair 1 has no =",
            ),
            (
                "keepers with a bad escape",
                format!("{no_key}?r=%zz"),
                "Keepers after ?: pair 1 has a % not followed by two hex digits",
            ),
        ];
        for (name, import_id, want) in cases {
            let resp = import(&import_id).await;
            let d = resp.diagnostics.iter().next().expect(name);
            assert_eq!(d.summary, "Cannot Import Age Key", "{name}");
            assert!(
                d.detail.starts_with(want) || d.detail.contains(want),
                "{name}: {}",
                d.detail
            );
            assert!(
                d.detail.contains("env:SOPS_AGE_KEY"),
                "{name}: says what to do"
            );
            assert_not_echoed(&resp, &bad, name);
        }
    }

    #[tokio::test]
    async fn setting_keepers_where_the_state_has_none_warns_that_the_key_is_replaced() {
        let prior = Value::object([
            (attr::ID, Value::from("age1x")),
            (attr::KEEPERS, Value::Null),
        ]);
        let cases = [
            (
                "keepers added",
                Value::object([(
                    attr::KEEPERS,
                    Value::Map([("rotation".to_string(), Value::from("1"))].into()),
                )]),
                true,
            ),
            (
                "still none",
                Value::object([(attr::KEEPERS, Value::Null)]),
                false,
            ),
        ];
        for (name, config, warns) in cases {
            let mut resp = PlanResponse {
                planned: config.clone(),
                requires_replace: Vec::new(),
                private: Private::new(),
                diagnostics: Diagnostics::new(),
            };
            AgeKey
                .modify_plan(
                    &Ctx::default(),
                    PlanRequest {
                        config: &config,
                        prior: &prior,
                    },
                    &mut resp,
                )
                .await;
            let d: Vec<_> = resp.diagnostics.iter().collect();
            assert_eq!(d.len(), usize::from(warns), "{name}");
            if warns {
                assert_eq!(d[0].severity, Severity::Warning);
                assert_eq!(d[0].attribute, Some(AttributePath::root(attr::KEEPERS)));
            }
        }
    }
}
