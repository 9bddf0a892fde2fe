//! `freetier_ssh_host_key`: an Ed25519 SSH host key made before the host exists, so Layer 1
//! can hand the private half to cloud-init (`ssh_keys.ed25519_private`) and publish the public
//! half, and Layer 2 can pin it on the very first connection instead of trusting whatever key
//! answers. Nothing exists outside Terraform's state: read, update and delete are local.
//!
//! The key is made with the ssh-key crate (through russh, already a dependency) from 32 bytes
//! of the operating system's randomness; its encodings are OpenSSH's own.

use std::collections::BTreeMap;

use async_trait::async_trait;
use russh::keys::ssh_key::{private::Ed25519Keypair, LineEnding};
use russh::keys::{HashAlg, PrivateKey};

use crate::framework::*;

crate::model! {
    /// The resource.
    pub struct HostKey {
        pub id: Maybe<String> = "id",
        pub comment: Maybe<String> = "comment",
        pub keepers: Maybe<BTreeMap<String, String>> = "keepers",
        pub private_key_openssh: Maybe<String> = "private_key_openssh",
        pub public_key_openssh: Maybe<String> = "public_key_openssh",
        pub fingerprint_sha256: Maybe<String> = "fingerprint_sha256",
    }
}

/// The resource.
pub struct SshHostKey;

/// Why a key could not be made.
#[derive(Debug, thiserror::Error)]
enum KeyError {
    /// The operating system gave no randomness.
    #[error("the operating system's random source failed ({0})")]
    Random(String),
    /// ssh-key could not encode the key.
    #[error("cannot encode the key ({0})")]
    Encode(String),
}

/// A fresh key's private PEM, public line and fingerprint.
fn generate(comment: &str) -> Result<(String, String, String), KeyError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    seed.fill(0);
    key.set_comment(comment);
    let pem = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| KeyError::Encode(e.to_string()))?
        .to_string();
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| KeyError::Encode(e.to_string()))?;
    let fingerprint = key.public_key().fingerprint(HashAlg::Sha256).to_string();
    Ok((pem, public, fingerprint))
}

#[async_trait]
impl Resource for SshHostKey {
    fn type_name(&self) -> &'static str {
        "freetier_ssh_host_key"
    }

    fn schema(&self) -> Schema {
        Schema {
            version: 0,
            block: Block::new(
                "An Ed25519 SSH host key, made before its host exists. Give `private_key_openssh` to the host at first \
                 boot (cloud-init's `ssh_keys: {ed25519_private: …, ed25519_public: …}`, see \
                 https://cloudinit.readthedocs.io/en/latest/reference/modules.html#ssh) and pin `public_key_openssh` in \
                 whatever connects to it, so no first connection has to trust an unknown key.",
            )
            .attribute(Attribute::string("id").computed().use_state_for_unknown().description("Same as `fingerprint_sha256`."))
            .attribute(
                Attribute::string("comment")
                    .optional()
                    .requires_replace()
                    .description("The comment at the end of the public key line, e.g. the host's name."),
            )
            .attribute(
                Attribute::typed("keepers", Type::map(Type::String))
                    .optional()
                    .requires_replace()
                    .description("Arbitrary values; changing any of them makes a new key (for a rebuilt host)."),
            )
            .attribute(
                Attribute::string("private_key_openssh")
                    .computed()
                    .sensitive()
                    .use_state_for_unknown()
                    .description("The private key, OpenSSH PEM (`-----BEGIN OPENSSH PRIVATE KEY-----`). Stored in state: protect the state."),
            )
            .attribute(
                Attribute::string("public_key_openssh")
                    .computed()
                    .use_state_for_unknown()
                    .description("The public key, one OpenSSH line (`ssh-ed25519 AAAA… comment`), as `known_hosts` and `host_key` attributes take it."),
            )
            .attribute(
                Attribute::string("fingerprint_sha256")
                    .computed()
                    .use_state_for_unknown()
                    .description("`SHA256:…`, as `ssh-keygen -lf` and SSH clients print it."),
            ),
        }
    }

    fn as_validate_config(&self) -> Option<&dyn ValidateConfig> {
        Some(self)
    }

    async fn create(&self, _ctx: &Ctx, req: CreateRequest, resp: &mut StateResponse) {
        let mut m: HostKey = match read_model(&req.planned) {
            Ok(m) => m,
            Err(e) => return e.report(&mut resp.diagnostics),
        };
        let comment = m.comment.known().cloned().unwrap_or_default();
        match generate(&comment) {
            Ok((pem, public, fingerprint)) => {
                tracing::info!(fingerprint = %fingerprint, "generated an SSH host key");
                m.id = Maybe::Known(fingerprint.clone());
                m.private_key_openssh = Maybe::Known(pem);
                m.public_key_openssh = Maybe::Known(public);
                m.fingerprint_sha256 = Maybe::Known(fingerprint);
                resp.state = m.to_value();
            }
            Err(e) => resp
                .diagnostics
                .error("Cannot Make SSH Host Key", e.to_string()),
        }
    }

    async fn read(&self, _ctx: &Ctx, req: ReadRequest, resp: &mut StateResponse) {
        // The key lives only in state: a hand-edited one that no longer parses is reported.
        resp.state = req.current.clone();
        let Some(pem) = req.current.attr("private_key_openssh").as_str() else {
            return;
        };
        if PrivateKey::from_openssh(pem.as_bytes()).is_err() {
            resp.diagnostics.error_at(
                AttributePath::root("private_key_openssh"),
                "Invalid SSH Host Key In State",
                "The stored private_key_openssh is not an OpenSSH private key. Restore the state from a backup, or taint the resource to make a new key (the host then needs it too).",
            );
        }
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest, resp: &mut StateResponse) {
        // Every input requires replacement, so an update only carries the plan over.
        resp.state = req.planned;
    }

    async fn delete(&self, _ctx: &Ctx, _req: DeleteRequest, _resp: &mut StateResponse) {
        // Nothing outside state: a host that got the key keeps it until it is rebuilt.
    }
}

impl ValidateConfig for SshHostKey {
    fn validate_config(&self, config: &Value, diags: &mut Diagnostics) {
        // The comment ends the public key line: a line break in it would make the line two,
        // one of them whatever follows, in every known_hosts file it is copied into.
        if let Some(c) = config.attr("comment").as_str() {
            if c.chars().any(char::is_control) {
                diags.error_at(
                    AttributePath::root("comment"),
                    "Invalid Comment",
                    "the comment holds a line break or another control character; it ends a one-line public key, so use printable text such as the host's name",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(planned: Value) -> StateResponse {
        let mut resp = StateResponse::default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(SshHostKey.create(
            &Ctx::default(),
            CreateRequest {
                config: planned.clone(),
                planned,
                private: Private::new(),
            },
            &mut resp,
        ));
        resp
    }

    #[test]
    fn a_made_key_is_an_openssh_ed25519_pair_whose_halves_match() {
        let resp = create(Value::object([
            ("comment", Value::from("ampere-1")),
            ("keepers", Value::Null),
        ]));
        assert!(!resp.diagnostics.has_errors(), "{:?}", resp.diagnostics);
        let m: HostKey = read_model(&resp.state).unwrap();
        let pem = m.private_key_openssh.known().unwrap();
        let public = m.public_key_openssh.known().unwrap();
        assert!(pem.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        assert!(public.starts_with("ssh-ed25519 AAAA") && public.ends_with(" ampere-1"));
        let parsed = PrivateKey::from_openssh(pem.as_bytes()).unwrap();
        assert_eq!(parsed.public_key().to_openssh().unwrap(), *public);
        let fp = m.fingerprint_sha256.known().unwrap();
        assert!(fp.starts_with("SHA256:"));
        assert_eq!(m.id.known(), Some(fp));
    }

    #[test]
    fn a_comment_that_would_break_the_key_line_is_refused_at_its_path() {
        let mut d = Diagnostics::default();
        SshHostKey.validate_config(
            &Value::object([("comment", Value::from("web-1\nssh-ed25519 AAAA evil"))]),
            &mut d,
        );
        assert!(d.has_errors());
        assert!(format!("{d:?}").contains("comment"));
    }

    #[test]
    fn two_keys_are_never_the_same() {
        let a = create(Value::object([
            ("comment", Value::Null),
            ("keepers", Value::Null),
        ]));
        let b = create(Value::object([
            ("comment", Value::Null),
            ("keepers", Value::Null),
        ]));
        assert_ne!(a.state.attr("id"), b.state.attr("id"));
    }
}
