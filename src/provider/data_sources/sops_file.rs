//! `data "freetier_sops_file"`: the values of a SOPS file, decrypted at plan time with an age
//! key, so a layer reads its secrets from the encrypted file in git and never from plain
//! tfvars. The file format is `crate::sops` (checked against what the real `sops` writes).
//!
//! The age key is found as sops finds it
//! (<https://getsops.io/docs/usage/identities/age/>): the key text in `SOPS_AGE_KEY`, the
//! key file `SOPS_AGE_KEY_FILE` names, else `$XDG_CONFIG_HOME/sops/age/keys.txt` (on Linux
//! `~/.config/sops/age/keys.txt` without XDG_CONFIG_HOME, on macOS
//! `~/Library/Application Support/sops/age/keys.txt`). `age_key_file` overrides all of them.
//!
//! Nothing here logs: the values are secrets, and `data` and `raw` are sensitive.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use crate::framework::*;
use crate::sops::{self, Format, SopsError};

/// The data source.
pub struct SopsFile;

/// Model: the attribute names, in one place.
mod attr {
    pub const SOURCE_FILE: &str = "source_file";
    pub const AGE_KEY_FILE: &str = "age_key_file";
    pub const DATA: &str = "data";
    pub const RAW: &str = "raw";
}

/// The environment variables sops reads its age key from
/// (<https://getsops.io/docs/usage/identities/age/>).
const ENV_KEY: &str = "SOPS_AGE_KEY";
const ENV_KEY_FILE: &str = "SOPS_AGE_KEY_FILE";

/// The configuration.
struct Config {
    source_file: String,
    age_key_file: Option<String>,
}

impl Config {
    fn from_value(v: &Value) -> Option<Config> {
        Some(Config {
            source_file: v.attr(attr::SOURCE_FILE).as_str()?.to_string(),
            age_key_file: v.attr(attr::AGE_KEY_FILE).as_str().map(str::to_string),
        })
    }
}

/// The schema (shared with the docs and the tests).
pub fn schema() -> Schema {
    let block = Block::new(
        "Decrypts a SOPS file (YAML or JSON, encrypted for an age key) at plan time, so secrets \
         live encrypted in git and reach the configuration without a plain tfvars file. The age \
         key is found as sops finds it: `SOPS_AGE_KEY`, the file `SOPS_AGE_KEY_FILE` names, else \
         `$XDG_CONFIG_HOME/sops/age/keys.txt` or `~/.config/sops/age/keys.txt` \
         (https://getsops.io/docs/usage/identities/age/). The file's MAC is checked, so a changed \
         file stops the plan. Values read are stored in the state: protect the state as the \
         secrets it holds.",
    )
    .attribute(
        Attribute::string(attr::SOURCE_FILE)
            .required()
            .description("The SOPS file: `.json` is read as JSON, anything else as YAML. A relative path is from the directory Terraform runs in, so write `\"${path.module}/…\"`."),
    )
    .attribute(
        Attribute::string(attr::AGE_KEY_FILE)
            .optional()
            .description("An age key file (`age-keygen`'s format, one or more `AGE-SECRET-KEY-1…` lines). Unset, the key comes from `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE` or sops's default `keys.txt`, as for `sops --decrypt`."),
    )
    .attribute(
        Attribute::typed(attr::DATA, Type::map(Type::String))
            .computed()
            .sensitive()
            .description("Every value, as a string, keyed by its path: nested keys joined by `.`, list items by their index (`db.hosts.0`); numbers and booleans as text."),
    )
    .attribute(
        Attribute::string(attr::RAW)
            .computed()
            .sensitive()
            .description("The decrypted document without its `sops` metadata, in the file's format (YAML or JSON): `yamldecode(...)` or `jsondecode(...)` it for typed or nested values."),
    );
    Schema { version: 0, block }
}

/// Why the file could not be read. Messages hold paths and public keys, never a value.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    /// The SOPS file does not exist.
    #[error("{0} does not exist")]
    NoFile(PathBuf),
    /// The SOPS file cannot be read.
    #[error("cannot read {path} ({source})")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key file cannot be read.
    #[error("cannot read the age key file {path} ({origin}): {source}")]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// Where its name came from.
        origin: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key source holds something that is not an age key.
    #[error("{origin}: {source}")]
    BadKey {
        /// The key file or variable.
        origin: String,
        /// What is wrong, by line.
        source: SopsError,
    },
    /// No key source holds a key.
    #[error("no age key: {0}")]
    NoKey(String),
    /// The file itself is wrong, or not for these keys.
    #[error("{path}: {source}")]
    Sops {
        /// The file.
        path: PathBuf,
        /// What sops's format says.
        source: SopsError,
        /// The key sources tried.
        tried: Vec<String>,
    },
}

impl ReadError {
    /// The attribute at fault.
    fn attribute(&self) -> &'static str {
        match self {
            ReadError::KeyFile { .. } | ReadError::BadKey { .. } | ReadError::NoKey(_) => {
                attr::AGE_KEY_FILE
            }
            _ => attr::SOURCE_FILE,
        }
    }
}

/// The one place an error becomes a diagnostic: a summary from a short catalogue, what
/// happened, and what to do.
fn diagnostic(e: &ReadError, diags: &mut Diagnostics) {
    let (summary, todo) = match e {
        ReadError::NoFile(_) => (
            "Secrets File Not Found",
            "Create it (`freetier setup` writes secrets/stack.sops.yaml; `sops FILE` any other), or point source_file at it.".to_string(),
        ),
        ReadError::Unreadable { .. } => (
            "Secrets File Not Readable",
            "Give the user Terraform runs as read access to it.".to_string(),
        ),
        ReadError::KeyFile { .. } | ReadError::BadKey { .. } | ReadError::NoKey(_) => (
            "No Usable Age Key",
            format!("Set {ENV_KEY_FILE} to the age key file where Terraform runs (for the stack: `export {ENV_KEY_FILE}=\"$PWD/.freetier/age.key\"`), or set age_key_file. A key file holds `AGE-SECRET-KEY-1…` lines, as `age-keygen` writes them."),
        ),
        ReadError::Sops { source, tried, .. } => match source {
            SopsError::NotForKey { .. } => (
                "No Matching Age Key",
                format!(
                    "Keys tried: {}. Use the key of one of the file's recipients ({ENV_KEY_FILE} or age_key_file), or have someone who holds one add this key (`sops rotate --in-place --add-age RECIPIENT FILE`).",
                    tried.join("; ")
                ),
            ),
            SopsError::Mac | SopsError::Decrypt(_) | SopsError::NotEncrypted(_) => (
                "Secrets File Tampered",
                "The file was changed after sops wrote it (by hand, or by a merge). Restore it from git, or write it again with sops (`freetier setup --force` for the stack's file).".to_string(),
            ),
            SopsError::Unsupported(_) => (
                "Unsupported SOPS File",
                "Decrypt it with sops and re-encrypt it without what is named (`sops --decrypt FILE`, then `sops --encrypt --age RECIPIENT`).".to_string(),
            ),
            _ => (
                "Not A SOPS File",
                "Give source_file a YAML or JSON file that `sops --encrypt --age RECIPIENT` wrote (https://getsops.io/docs/usage/identities/age/).".to_string(),
            ),
        },
    };
    diags.error_at(
        AttributePath::root(e.attribute()),
        summary,
        format!("{e}. {todo}"),
    );
}

/// A path as the user should read it: relative paths are from Terraform's directory.
fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// A set, non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// sops's default key file (<https://getsops.io/docs/usage/identities/age/>).
fn default_key_file() -> Option<PathBuf> {
    let base = match env("XDG_CONFIG_HOME") {
        Some(x) => PathBuf::from(x),
        None if cfg!(windows) => PathBuf::from(env("APPDATA")?),
        None if cfg!(target_os = "macos") => {
            PathBuf::from(env("HOME")?).join("Library/Application Support")
        }
        None => PathBuf::from(env("HOME")?).join(".config"),
    };
    Some(base.join("sops").join("age").join("keys.txt"))
}

/// The identities in one key file, and how to name it in messages.
fn key_file(
    path: &Path,
    origin: &'static str,
) -> Result<(Vec<age::x25519::Identity>, String), ReadError> {
    let path = absolute(path);
    let text = std::fs::read_to_string(&path).map_err(|source| ReadError::KeyFile {
        path: path.clone(),
        origin,
        source,
    })?;
    let found = sops::parse_identities(&text).map_err(|source| ReadError::BadKey {
        origin: format!("the age key file {} ({origin})", path.display()),
        source,
    })?;
    let named = format!("{} ({origin}): {}", path.display(), publics(&found));
    Ok((found, named))
}

/// The identities to try, and a description of each source tried (paths, variable names and
/// public keys, never key text).
fn identities(
    age_key_file: Option<&str>,
) -> Result<(Vec<age::x25519::Identity>, Vec<String>), ReadError> {
    let mut ids = Vec::new();
    let mut tried = Vec::new();
    // What held no key, for the message when nothing did.
    let mut looked = Vec::new();
    let mut add = |(found, named): (Vec<age::x25519::Identity>, String)| {
        ids.extend(found);
        tried.push(named);
    };
    if let Some(p) = age_key_file {
        add(key_file(Path::new(p), "age_key_file")?);
    } else {
        // As sops does, every source set counts (https://getsops.io/docs/usage/identities/age/).
        match env(ENV_KEY) {
            Some(text) => {
                let found = sops::parse_identities(&text).map_err(|source| ReadError::BadKey {
                    origin: ENV_KEY.to_string(),
                    source,
                })?;
                let named = format!("{ENV_KEY}: {}", publics(&found));
                add((found, named));
            }
            None => looked.push(format!("{ENV_KEY} is not set")),
        }
        match env(ENV_KEY_FILE) {
            Some(p) => add(key_file(Path::new(&p), ENV_KEY_FILE)?),
            None => {
                looked.push(format!("{ENV_KEY_FILE} is not set"));
                match default_key_file() {
                    Some(p) if p.exists() => add(key_file(&p, "sops's default")?),
                    Some(p) => looked.push(format!("{} does not exist", p.display())),
                    None => looked.push("no home directory for sops's default key file".into()),
                }
            }
        }
    }
    if ids.is_empty() {
        looked.extend(tried);
        return Err(ReadError::NoKey(looked.join("; ")));
    }
    Ok((ids, tried))
}

fn publics(found: &[age::x25519::Identity]) -> String {
    if found.is_empty() {
        return "no key".into();
    }
    found
        .iter()
        .map(|i| i.to_public().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads and decrypts the file.
fn read_file(config: &Config) -> Result<sops::Secrets, ReadError> {
    let path = absolute(Path::new(&config.source_file));
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ReadError::NoFile(path)),
        Err(source) => return Err(ReadError::Unreadable { path, source }),
    };
    let (ids, tried) = identities(config.age_key_file.as_deref())?;
    let format = Format::of(&path, &text);
    sops::decrypt_file(&text, format, &ids).map_err(|source| ReadError::Sops {
        path,
        source,
        tried,
    })
}

#[async_trait]
impl DataSource for SopsFile {
    fn type_name(&self) -> &'static str {
        "freetier_sops_file"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn validate_config(&self, config: &Value, diags: &mut Diagnostics) {
        for name in [attr::SOURCE_FILE, attr::AGE_KEY_FILE] {
            if config.attr(name).as_str() == Some("") {
                diags.error_at(
                    AttributePath::root(name),
                    "Empty Path",
                    format!("{name} is empty: give the path of a file, or leave it unset."),
                );
            }
        }
    }

    async fn read(&self, _ctx: &Ctx, config: &Value, resp: &mut DataResponse) {
        let Some(c) = Config::from_value(config) else {
            return;
        };
        match read_file(&c) {
            Ok(secrets) => {
                let data = secrets
                    .flat()
                    .into_iter()
                    .map(|(k, v)| (k, Value::from(v)))
                    .collect();
                resp.state.set_attr(attr::DATA, Value::Map(data));
                resp.state.set_attr(attr::RAW, Value::from(secrets.raw()));
            }
            Err(e) => diagnostic(&e, &mut resp.diagnostics),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(config: &Config) -> Result<sops::Secrets, String> {
        read_file(config).map_err(|e| {
            let mut d = Diagnostics::new();
            diagnostic(&e, &mut d);
            let d = d.iter().next().unwrap();
            format!("{} | {}", d.summary, d.detail)
        })
    }

    #[test]
    fn each_bad_input_names_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let id = age::x25519::Identity::generate();
        let key = dir.path().join("age.key");
        {
            use age::secrecy::ExposeSecret;
            std::fs::write(&key, format!("{}\n", id.to_string().expose_secret())).unwrap();
        }
        let file = dir.path().join("s.sops.yaml");
        let values = vec![("k".to_string(), "tskey-auth-x".to_string())];
        let text = sops::encrypt(&values, &id.to_public(), "2026-12-05T02:00:00Z").unwrap();
        std::fs::write(&file, &text).unwrap();
        let other = dir.path().join("other.key");
        {
            use age::secrecy::ExposeSecret;
            let o = age::x25519::Identity::generate();
            std::fs::write(&other, o.to_string().expose_secret()).unwrap();
        }
        let tampered = dir.path().join("t.sops.yaml");
        std::fs::write(
            &tampered,
            text.replace("2026-12-05T02:00:00Z", "2026-12-05T02:00:01Z"),
        )
        .unwrap();
        let plain = dir.path().join("plain.yaml");
        std::fs::write(&plain, "k: v\n").unwrap();
        let cfg = |f: &Path, k: &Path| Config {
            source_file: f.display().to_string(),
            age_key_file: Some(k.display().to_string()),
        };
        let ok = run(&cfg(&file, &key)).unwrap();
        assert_eq!(ok.flat(), values);
        let cases = [
            (
                "missing",
                cfg(&dir.path().join("nope.yaml"), &key),
                "Secrets File Not Found",
            ),
            ("wrong key", cfg(&file, &other), "No Matching Age Key"),
            ("tampered", cfg(&tampered, &key), "Secrets File Tampered"),
            ("not sops", cfg(&plain, &key), "Not A SOPS File"),
            (
                "key file missing",
                cfg(&file, &dir.path().join("no.key")),
                "No Usable Age Key",
            ),
            (
                "key file not a key",
                cfg(&file, &plain),
                "No Usable Age Key",
            ),
        ];
        for (name, c, summary) in cases {
            let e = run(&c).expect_err(name);
            assert!(e.starts_with(summary), "{name}: {e}");
            assert!(!e.contains("tskey-auth-x"), "{name}: {e}");
        }
        let e = run(&cfg(&file, &other)).unwrap_err();
        assert!(
            e.contains(&id.to_public().to_string()),
            "the file's recipient: {e}"
        );
        assert!(
            e.contains(&other.display().to_string()),
            "the key file tried: {e}"
        );
    }
}
