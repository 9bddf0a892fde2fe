//! SOPS files for age recipients: flat YAML maps of string secrets, written the way
//! `sops --encrypt` writes them so that the real `sops --decrypt` reads them back; and YAML or
//! JSON files that the real `sops` wrote, read back (MAC checked) by `freetier setup` and by
//! the `freetier_sops_file` data source.
//!
//! The format, from getsops/sops (<https://github.com/getsops/sops>):
//! - a value is `ENC[AES256_GCM,data:…,iv:…,tag:…,type:str]`: AES-256-GCM with a random 32-byte
//!   IV (not GCM's usual 12), standard base64, the 16-byte tag apart from the data
//!   (`aes/cipher.go`, `Encrypt`); `type` is `str`, `int`, `float`, `bool` or `bytes`, and an
//!   empty string is left as it is (`aes/cipher.go`, `isEmpty`);
//! - its additional data is the value's key path joined by `:`, plus a trailing `:`
//!   (`sops.go`, `Tree.Encrypt`: `strings.Join(path, ":") + ":"`); list items add nothing to
//!   the path (`sops.go`, `walkSlice`);
//! - the MAC is SHA-512 over every value's plaintext in file order, as upper-case hex
//!   (`sops.go`: `fmt.Sprintf("%X", hash.Sum(nil))`; `ToBytes` writes booleans as `True` and
//!   `False`), itself encrypted as a `str` value whose
//!   additional data is `lastmodified` (`cmd/sops/common/common.go`,
//!   `LastModified.Format(time.RFC3339)`: whole seconds, UTC, so the file must hold exactly
//!   that string); with `mac_only_encrypted` only encrypted values count, after 32 fixed
//!   bytes (`sops.go`, `MACOnlyEncryptedInitialization`);
//! - which values are encrypted: `unencrypted_suffix` (`_unencrypted` when no rule is set,
//!   `stores/stores.go`, `ToInternal`) or `encrypted_suffix` on any key of the path
//!   (`sops.go`, `shouldBeEncrypted`); under the regex rules, whether the value is `ENC[…]`;
//! - the 32-byte data key is an age file, ASCII-armored, per recipient: `sops.age[].recipient`
//!   and `.enc` (`age/keysource.go`, `MasterKey.Encrypt`);
//! - `lastmodified`, `mac` and `version` are required. The YAML store indents by 4
//!   (`stores/yaml/store.go`).
//!
//! Not read: key groups (Shamir), the comment-regex rules, and the dotenv, INI and binary
//! stores; each is refused with [`SopsError::Unsupported`]. YAML comments are skipped.
//!
//! Imports nothing from the rest of the crate.

use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::AesGcm;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

/// AES-256-GCM with SOPS's 32-byte IV (`aes/cipher.go`: `nonceSize int = 32`).
type SopsGcm = AesGcm<Aes256, U32>;

/// The sops version the files claim; the layout is the one 3.x writes.
pub const SOPS_VERSION: &str = "3.11.0";

/// What sops hashes first when `mac_only_encrypted` is set (`sops.go`,
/// `MACOnlyEncryptedInitialization`).
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// Why a SOPS file could not be written or read. No message holds a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    /// The operating system's random source failed.
    #[error("the operating system's random source failed ({0})")]
    Random(String),
    /// age could not wrap or unwrap the data key.
    #[error("age: {0}")]
    Age(String),
    /// The file is not YAML or JSON, or not a SOPS file.
    #[error("not a SOPS file: {0}")]
    Format(String),
    /// A value or the MAC does not decrypt with the data key.
    #[error("{0} does not decrypt (the file was changed, or not written for this key)")]
    Decrypt(String),
    /// A value the file's rules say is encrypted is in plain text.
    #[error(
        "{0} is in plain text where the file's rules say it is encrypted (the file was changed)"
    )]
    NotEncrypted(String),
    /// None of the file's age recipients is one of the identities given.
    #[error("none of its age recipients ({}) is a key given ({})", list(.recipients), list(.tried))]
    NotForKey {
        /// The file's age recipients (`age1…`), plus any other key kinds it is encrypted for.
        recipients: Vec<String>,
        /// The public keys of the identities tried.
        tried: Vec<String>,
    },
    /// The MAC does not match the values.
    #[error("its MAC does not match its values (the file was changed after sops wrote it)")]
    Mac,
    /// Something sops can write that is not read here.
    #[error("{0}")]
    Unsupported(String),
    /// A line of an age key file is not an X25519 secret key.
    #[error("line {0} is not an age X25519 secret key (AGE-SECRET-KEY-1…; plugin and SSH identities are not read)")]
    Identity(usize),
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// How a SOPS file is stored: the store sops picks by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.yaml`, `.yml` and anything not JSON.
    Yaml,
    /// `.json`.
    Json,
}

impl Format {
    /// The format of `path`: JSON for `.json`, or for text that opens with `{`; else YAML.
    pub fn of(path: &Path, text: &str) -> Format {
        let json_ext = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if json_ext || text.trim_start().starts_with('{') {
            Format::Json
        } else {
            Format::Yaml
        }
    }
}

/// A decrypted value.
#[derive(Debug, Clone, PartialEq)]
pub enum Plain {
    /// A string (sops `str` or `bytes`).
    Str(String),
    /// An integer, as written.
    Int(String),
    /// A floating-point number, as written.
    Float(String),
    /// A boolean.
    Bool(bool),
    /// A map, in file order.
    Map(Vec<(String, Plain)>),
    /// A list.
    List(Vec<Plain>),
}

impl Plain {
    /// The leaf as sops hashes it (`sops.go`, `ToBytes`: booleans title-cased).
    fn mac_text(&self) -> String {
        match self {
            Plain::Bool(true) => "True".into(),
            Plain::Bool(false) => "False".into(),
            other => other.leaf_text().unwrap_or_default(),
        }
    }

    /// The leaf as text: what sops hashes and what `data` holds.
    fn leaf_text(&self) -> Option<String> {
        match self {
            Plain::Str(s) | Plain::Int(s) | Plain::Float(s) => Some(s.clone()),
            Plain::Bool(b) => Some(b.to_string()),
            Plain::Map(_) | Plain::List(_) => None,
        }
    }
}

/// A decrypted SOPS file.
#[derive(Debug, Clone, PartialEq)]
pub struct Secrets {
    /// The store it came from, and `raw` goes back to.
    pub format: Format,
    /// The top-level map, in file order.
    pub tree: Vec<(String, Plain)>,
}

impl Secrets {
    /// Every leaf as text, keyed by its path: nested keys joined by `.`, list items by their
    /// index (`db.hosts.0`), as the carlpett/sops provider's `data` has them.
    pub fn flat(&self) -> Vec<(String, String)> {
        fn walk(prefix: String, v: &Plain, out: &mut Vec<(String, String)>) {
            match v {
                Plain::Map(m) => {
                    for (k, v) in m {
                        walk(format!("{prefix}.{k}"), v, out);
                    }
                }
                Plain::List(l) => {
                    for (i, v) in l.iter().enumerate() {
                        walk(format!("{prefix}.{i}"), v, out);
                    }
                }
                leaf => out.push((prefix, leaf.leaf_text().unwrap_or_default())),
            }
        }
        let mut out = Vec::new();
        for (k, v) in &self.tree {
            walk(k.clone(), v, &mut out);
        }
        out
    }

    /// The decrypted document, without the `sops` metadata, in its own format.
    pub fn raw(&self) -> String {
        match self.format {
            Format::Yaml => {
                let doc = yaml_of(&Plain::Map(self.tree.clone()));
                serde_norway::to_string(&doc).unwrap_or_default()
            }
            Format::Json => {
                let doc = json_of(&Plain::Map(self.tree.clone()));
                let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
                s.push('\n');
                s
            }
        }
    }
}

fn yaml_of(v: &Plain) -> serde_norway::Value {
    use serde_norway::Value as Y;
    match v {
        Plain::Str(s) => Y::String(s.clone()),
        Plain::Int(s) => s
            .parse::<i64>()
            .map(|n| Y::Number(n.into()))
            .or_else(|_| s.parse::<u64>().map(|n| Y::Number(n.into())))
            .unwrap_or_else(|_| Y::String(s.clone())),
        Plain::Float(s) => s
            .parse::<f64>()
            .map(|f| Y::Number(f.into()))
            .unwrap_or_else(|_| Y::String(s.clone())),
        Plain::Bool(b) => Y::Bool(*b),
        Plain::Map(m) => Y::Mapping(
            m.iter()
                .map(|(k, v)| (Y::String(k.clone()), yaml_of(v)))
                .collect(),
        ),
        Plain::List(l) => Y::Sequence(l.iter().map(yaml_of).collect()),
    }
}

fn json_of(v: &Plain) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Plain::Str(s) => J::String(s.clone()),
        Plain::Int(s) | Plain::Float(s) => serde_json::Number::from_str(s)
            .map(J::Number)
            .unwrap_or_else(|_| J::String(s.clone())),
        Plain::Bool(b) => J::Bool(*b),
        Plain::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), json_of(v))).collect()),
        Plain::List(l) => J::Array(l.iter().map(json_of).collect()),
    }
}

fn random(buf: &mut [u8]) -> Result<(), SopsError> {
    getrandom::fill(buf).map_err(|e| SopsError::Random(e.to_string()))
}

/// Encrypts one string value as SOPS does, with additional data `aad`.
fn encrypt_value(key: &[u8; 32], plaintext: &str, aad: &str) -> Result<String, SopsError> {
    let mut iv = [0u8; 32];
    random(&mut iv)?;
    let cipher = SopsGcm::new(key.into());
    let sealed = cipher
        .encrypt(
            (&iv).into(),
            Payload {
                msg: plaintext.as_bytes(),
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| SopsError::Decrypt(aad.to_string()))?;
    let (data, tag) = sealed.split_at(sealed.len() - 16);
    Ok(format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:str]",
        B64.encode(data),
        B64.encode(iv),
        B64.encode(tag)
    ))
}

/// Decrypts one `ENC[AES256_GCM,…]` value; `what` names it in errors. Returns the plaintext
/// and its sops type (`str`, `int`, `float`, `bool`, `bytes`).
fn decrypt_value(
    key: &[u8; 32],
    value: &str,
    aad: &str,
    what: &str,
) -> Result<(String, String), SopsError> {
    let bad = || SopsError::Decrypt(what.to_string());
    let inner = value
        .strip_prefix("ENC[AES256_GCM,")
        .and_then(|v| v.strip_suffix(']'))
        .ok_or_else(bad)?;
    let mut data = None;
    let mut iv = None;
    let mut tag = None;
    let mut kind = None;
    for part in inner.split(',') {
        let (name, v) = part.split_once(':').ok_or_else(bad)?;
        match name {
            "data" => data = Some(B64.decode(v).map_err(|_| bad())?),
            "iv" => iv = Some(B64.decode(v).map_err(|_| bad())?),
            "tag" => tag = Some(B64.decode(v).map_err(|_| bad())?),
            "type" => kind = Some(v.to_string()),
            _ => return Err(bad()),
        }
    }
    let (Some(mut data), Some(iv), Some(tag), Some(kind)) = (data, iv, tag, kind) else {
        return Err(bad());
    };
    let iv: [u8; 32] = iv.try_into().map_err(|_| bad())?;
    data.extend_from_slice(&tag);
    let plain = SopsGcm::new(key.into())
        .decrypt(
            (&iv).into(),
            Payload {
                msg: &data,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| bad())?;
    Ok((String::from_utf8(plain).map_err(|_| bad())?, kind))
}

/// SOPS's MAC over plaintext values in file order, upper-case hex.
struct Mac(aws_lc_rs::digest::Context);

impl Mac {
    fn new(mac_only_encrypted: bool) -> Mac {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA512);
        if mac_only_encrypted {
            ctx.update(&MAC_ONLY_ENCRYPTED_INIT);
        }
        Mac(ctx)
    }

    fn update(&mut self, value: &str) {
        self.0.update(value.as_bytes());
    }

    fn finish(self) -> String {
        self.0
            .finish()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }
}

/// Keys that can stand in YAML unquoted and as one SOPS path element.
fn plain_key(k: &str) -> bool {
    k.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && k != "sops"
        && !k.ends_with("_unencrypted")
}

/// Writes a SOPS YAML file holding `values` (name → secret, in this order) for one age
/// recipient, stamped `lastmodified` (RFC 3339, whole seconds, `Z`).
pub fn encrypt(
    values: &[(String, String)],
    recipient: &age::x25519::Recipient,
    lastmodified: &str,
) -> Result<String, SopsError> {
    let mut key = [0u8; 32];
    random(&mut key)?;
    let mut out = String::new();
    let mut mac = Mac::new(false);
    for (name, value) in values {
        if !plain_key(name) {
            return Err(SopsError::Format(format!(
                "key {name:?} is not a plain name"
            )));
        }
        if value.is_empty() {
            // sops leaves an empty string unencrypted (`aes/cipher.go`, `isEmpty`).
            return Err(SopsError::Format(format!("{name} is empty")));
        }
        let enc = encrypt_value(&key, value, &format!("{name}:"))?;
        out.push_str(&format!("{name}: {enc}\n"));
        mac.update(value);
    }
    let wrapped = wrap_key(&key, recipient)?;
    let mac = encrypt_value(&key, &mac.finish(), lastmodified)?;
    key.fill(0);
    out.push_str("sops:\n    age:\n");
    out.push_str(&format!(
        "        - recipient: {recipient}\n          enc: |\n"
    ));
    for line in wrapped.lines() {
        out.push_str(&format!("            {line}\n"));
    }
    out.push_str(&format!("    lastmodified: \"{lastmodified}\"\n"));
    out.push_str(&format!("    mac: {mac}\n"));
    out.push_str("    unencrypted_suffix: _unencrypted\n");
    out.push_str(&format!("    version: {SOPS_VERSION}\n"));
    Ok(out)
}

/// The data key as an ASCII-armored age file for `recipient`.
fn wrap_key(key: &[u8; 32], recipient: &age::x25519::Recipient) -> Result<String, SopsError> {
    let age_err = |e: &dyn std::fmt::Display| SopsError::Age(e.to_string());
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
            .map_err(|e| age_err(&e))?;
    let mut buf = Vec::new();
    let armored = age::armor::ArmoredWriter::wrap_output(&mut buf, age::armor::Format::AsciiArmor)
        .map_err(|e| age_err(&e))?;
    let mut w = encryptor.wrap_output(armored).map_err(|e| age_err(&e))?;
    w.write_all(key).map_err(|e| age_err(&e))?;
    w.finish()
        .and_then(|a| a.finish())
        .map_err(|e| age_err(&e))?;
    String::from_utf8(buf).map_err(|e| age_err(&e))
}

/// The age identities in `text`, in the format `age-keygen` writes (and `SOPS_AGE_KEY`
/// holds): `AGE-SECRET-KEY-1…` lines; blank lines and `#` comments are skipped. Errors name
/// the line, never its text.
pub fn parse_identities(text: &str) -> Result<Vec<age::x25519::Identity>, SopsError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(age::x25519::Identity::from_str(line).map_err(|_| SopsError::Identity(i + 1))?);
    }
    Ok(out)
}

/// A node of the encrypted document, before decryption.
enum Raw {
    Str(String),
    Int(String),
    Float(String),
    Bool(bool),
    Null,
    Map(Vec<(String, Raw)>),
    List(Vec<Raw>),
}

fn raw_of_yaml(v: serde_norway::Value, at: &str) -> Result<Raw, SopsError> {
    use serde_norway::Value as Y;
    Ok(match v {
        Y::Null => Raw::Null,
        Y::Bool(b) => Raw::Bool(b),
        Y::Number(n) if n.is_f64() => Raw::Float(n.as_f64().unwrap_or_default().to_string()),
        Y::Number(n) => Raw::Int(n.to_string()),
        Y::String(s) => Raw::Str(s),
        Y::Sequence(s) => Raw::List(
            s.into_iter()
                .map(|v| raw_of_yaml(v, at))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(m) => {
            let mut out = Vec::new();
            for (k, v) in m {
                let k = match k {
                    Y::String(s) => s,
                    _ => {
                        return Err(SopsError::Unsupported(format!(
                            "a key under {at} is not a string; quote it"
                        )))
                    }
                };
                let inner = raw_of_yaml(v, &k)?;
                out.push((k, inner));
            }
            Raw::Map(out)
        }
        Y::Tagged(_) => {
            return Err(SopsError::Unsupported(format!(
                "{at} has a YAML tag; only plain values are read"
            )))
        }
    })
}

fn raw_of_json(v: serde_json::Value) -> Raw {
    use serde_json::Value as J;
    match v {
        J::Null => Raw::Null,
        J::Bool(b) => Raw::Bool(b),
        J::Number(n) if n.is_i64() || n.is_u64() => Raw::Int(n.to_string()),
        J::Number(n) => Raw::Float(n.as_f64().unwrap_or_default().to_string()),
        J::String(s) => Raw::Str(s),
        J::Array(a) => Raw::List(a.into_iter().map(raw_of_json).collect()),
        J::Object(o) => Raw::Map(o.into_iter().map(|(k, v)| (k, raw_of_json(v))).collect()),
    }
}

/// The file's rule for which values are encrypted (`sops.go`, `shouldBeEncrypted`).
enum Rule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    /// A regex rule: the value's own form (`ENC[…]` or not) says.
    ByForm,
}

impl Rule {
    /// Whether the value at `path` is encrypted; `None` when the value's form decides.
    fn encrypted(&self, path: &[String]) -> Option<bool> {
        match self {
            Rule::UnencryptedSuffix(s) => Some(!path.iter().any(|p| p.ends_with(s.as_str()))),
            Rule::EncryptedSuffix(s) => Some(path.iter().any(|p| p.ends_with(s.as_str()))),
            Rule::ByForm => None,
        }
    }
}

struct Walk<'a> {
    key: &'a [u8; 32],
    rule: Rule,
    mac_only_encrypted: bool,
    mac: Mac,
}

/// How a path shows in messages: `db.password`.
fn shown(path: &[String]) -> String {
    if path.is_empty() {
        "the top level".to_string()
    } else {
        path.join(".")
    }
}

impl Walk<'_> {
    fn node(&mut self, raw: Raw, path: &mut Vec<String>) -> Result<Plain, SopsError> {
        match raw {
            Raw::Map(m) => {
                let mut out = Vec::new();
                for (k, v) in m {
                    path.push(k.clone());
                    let p = self.node(v, path)?;
                    path.pop();
                    out.push((k, p));
                }
                Ok(Plain::Map(out))
            }
            Raw::List(l) => Ok(Plain::List(
                l.into_iter()
                    .map(|v| self.node(v, path))
                    .collect::<Result<_, _>>()?,
            )),
            Raw::Null => Err(SopsError::Unsupported(format!(
                "{} is null: sops leaves null values unencrypted and they have no text; give it a value or remove it",
                shown(path)
            ))),
            Raw::Str(s) => self.leaf(Plain::Str(s), path),
            Raw::Int(s) => self.leaf(Plain::Int(s), path),
            Raw::Float(s) => self.leaf(Plain::Float(s), path),
            Raw::Bool(b) => self.leaf(Plain::Bool(b), path),
        }
    }

    /// One value as the file holds it (`ENC[…]` when encrypted): decrypted, and hashed.
    fn leaf(&mut self, stored: Plain, path: &[String]) -> Result<Plain, SopsError> {
        let is_enc = matches!(&stored, Plain::Str(s) if s.starts_with("ENC["));
        let encrypted = self.rule.encrypted(path).unwrap_or(is_enc);
        let plain = match stored {
            plain if !encrypted => plain,
            // sops leaves an empty string as it is (`aes/cipher.go`, `isEmpty`).
            Plain::Str(s) if s.is_empty() => Plain::Str(s),
            Plain::Str(s) if is_enc => {
                let aad = format!("{}:", path.join(":"));
                let what = shown(path);
                let (text, kind) = decrypt_value(self.key, &s, &aad, &what)?;
                typed(text, &kind, &what)?
            }
            _ => return Err(SopsError::NotEncrypted(shown(path))),
        };
        if !self.mac_only_encrypted || encrypted {
            self.mac.update(&plain.mac_text());
        }
        Ok(plain)
    }
}

/// Go's `strconv.ParseBool`, which sops decrypts a `bool` with (`aes/cipher.go`).
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A decrypted value as its sops type says (`aes/cipher.go`, `Decrypt`).
fn typed(text: String, kind: &str, what: &str) -> Result<Plain, SopsError> {
    Ok(match kind {
        "str" | "bytes" => Plain::Str(text),
        "int" if text.parse::<i128>().is_ok() => Plain::Int(text),
        "float" if text.parse::<f64>().is_ok() => Plain::Float(text),
        "bool" if parse_bool(&text).is_some() => Plain::Bool(parse_bool(&text) == Some(true)),
        "int" | "float" | "bool" => return Err(SopsError::Decrypt(what.to_string())),
        other => {
            return Err(SopsError::Unsupported(format!(
                "{what} has sops type {other:?}; only str, int, float, bool and bytes are read"
            )))
        }
    })
}

/// Reads a SOPS file in `format` with any of `identities`: every value decrypted, after
/// checking the MAC.
pub fn decrypt_file(
    text: &str,
    format: Format,
    identities: &[age::x25519::Identity],
) -> Result<Secrets, SopsError> {
    let doc = match format {
        Format::Yaml => {
            let v: serde_norway::Value =
                serde_norway::from_str(text).map_err(|e| SopsError::Format(e.to_string()))?;
            raw_of_yaml(v, "the top level")?
        }
        Format::Json => {
            raw_of_json(serde_json::from_str(text).map_err(|e| SopsError::Format(e.to_string()))?)
        }
    };
    let Raw::Map(mut entries) = doc else {
        return Err(SopsError::Format(
            "the top level is not a map of keys to values".into(),
        ));
    };
    let Some(at) = entries.iter().position(|(k, _)| k == "sops") else {
        return Err(SopsError::Format("no sops metadata".into()));
    };
    let Raw::Map(meta) = entries.remove(at).1 else {
        return Err(SopsError::Format("sops is not a map".into()));
    };
    let get = |name: &str| meta.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let text_of = |name: &str| match get(name) {
        Some(Raw::Str(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let field =
        |name: &str| text_of(name).ok_or_else(|| SopsError::Format(format!("no sops.{name}")));
    let lastmodified = field("lastmodified")?;
    let mac_enc = field("mac")?;
    field("version")?;
    if matches!(get("key_groups"), Some(Raw::List(l)) if !l.is_empty()) {
        return Err(SopsError::Unsupported(
            "the file uses key groups (Shamir secret sharing), which are not read; decrypt it with sops".into(),
        ));
    }
    for name in ["unencrypted_comment_regex", "encrypted_comment_regex"] {
        if text_of(name).is_some() {
            return Err(SopsError::Unsupported(format!(
                "the file's rule sops.{name} is not read; encrypt it without that rule"
            )));
        }
    }
    let mac_only_encrypted = matches!(get("mac_only_encrypted"), Some(Raw::Bool(true)));
    let rule = if let Some(s) = text_of("unencrypted_suffix") {
        Rule::UnencryptedSuffix(s)
    } else if let Some(s) = text_of("encrypted_suffix") {
        Rule::EncryptedSuffix(s)
    } else if text_of("unencrypted_regex").is_some() || text_of("encrypted_regex").is_some() {
        if mac_only_encrypted {
            return Err(SopsError::Unsupported(
                "a regex rule with mac_only_encrypted is not read (the MAC would not cover which values are encrypted); encrypt it without one of them".into(),
            ));
        }
        Rule::ByForm
    } else {
        Rule::UnencryptedSuffix("_unencrypted".into())
    };

    // The data key: the first age stanza any identity opens.
    let mut recipients = Vec::new();
    let mut key = None;
    if let Some(Raw::List(stanzas)) = get("age") {
        for s in stanzas {
            let Raw::Map(s) = s else { continue };
            let pick = |name: &str| {
                s.iter().find_map(|(k, v)| match v {
                    Raw::Str(t) if k == name => Some(t.as_str()),
                    _ => None,
                })
            };
            if let Some(r) = pick("recipient") {
                recipients.push(r.to_string());
            }
            if key.is_none() {
                if let Some(enc) = pick("enc") {
                    key = unwrap_key(enc, identities)?;
                }
            }
        }
    }
    let Some(mut key) = key else {
        for kind in ["pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms"] {
            if matches!(get(kind), Some(Raw::List(l)) if !l.is_empty()) {
                recipients.push(format!("({kind} keys)"));
            }
        }
        return Err(SopsError::NotForKey {
            recipients,
            tried: identities
                .iter()
                .map(|i| i.to_public().to_string())
                .collect(),
        });
    };

    let mut walk = Walk {
        key: &key,
        rule,
        mac_only_encrypted,
        mac: Mac::new(mac_only_encrypted),
    };
    let mut tree = Vec::new();
    let mut path = Vec::new();
    let result = (|| {
        for (k, v) in entries {
            path.push(k.clone());
            let p = walk.node(v, &mut path)?;
            path.pop();
            tree.push((k, p));
        }
        let (stored, _) = decrypt_value(&key, &mac_enc, &lastmodified, "sops.mac")?;
        Ok::<_, SopsError>(stored)
    })();
    let computed = walk.mac.finish();
    key.fill(0);
    if result? != computed {
        return Err(SopsError::Mac);
    }
    Ok(Secrets { format, tree })
}

/// Reads a SOPS YAML file of string values with `identity`: the values in file order, after
/// checking the MAC.
pub fn decrypt(
    text: &str,
    identity: &age::x25519::Identity,
) -> Result<Vec<(String, String)>, SopsError> {
    let secrets = decrypt_file(text, Format::Yaml, std::slice::from_ref(identity))?;
    secrets
        .tree
        .into_iter()
        .map(|(k, v)| match v {
            Plain::Str(s) => Ok((k, s)),
            _ => Err(SopsError::Unsupported(format!("{k} is not a string value"))),
        })
        .collect()
}

/// The data key from one armored age stanza: `None` when no identity opens it.
fn unwrap_key(
    enc: &str,
    identities: &[age::x25519::Identity],
) -> Result<Option<[u8; 32]>, SopsError> {
    let age_err = |e: &dyn std::fmt::Display| SopsError::Age(e.to_string());
    let decryptor = age::Decryptor::new(age::armor::ArmoredReader::new(enc.as_bytes()))
        .map_err(|e| age_err(&e))?;
    let mut r = match decryptor.decrypt(identities.iter().map(|i| i as &dyn age::Identity)) {
        Ok(r) => r,
        Err(age::DecryptError::NoMatchingKeys) => return Ok(None),
        Err(e) => return Err(age_err(&e)),
    };
    let mut key = Vec::new();
    r.read_to_end(&mut key).map_err(|e| age_err(&e))?;
    key.try_into()
        .map(Some)
        .map_err(|_| SopsError::Format("the data key is not 32 bytes".into()))
}

#[cfg(test)]
mod tests;
