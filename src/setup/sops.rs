//! SOPS files for age recipients: flat YAML maps of string secrets, written the way
//! `sops --encrypt` writes them so that the real `sops --decrypt` reads them back, and read
//! back here to tell whether a file already holds the secrets asked for.
//!
//! The format, from getsops/sops (<https://github.com/getsops/sops>):
//! - a value is `ENC[AES256_GCM,data:…,iv:…,tag:…,type:str]`: AES-256-GCM with a random 32-byte
//!   IV (not GCM's usual 12), standard base64, the 16-byte tag apart from the data
//!   (`aes/cipher.go`, `Encrypt`);
//! - its additional data is the value's key path joined by `:`, plus a trailing `:`
//!   (`sops.go`, `Tree.Encrypt`: `strings.Join(path, ":") + ":"`);
//! - the MAC is SHA-512 over every value's plaintext in file order, as upper-case hex
//!   (`sops.go`: `fmt.Sprintf("%X", hash.Sum(nil))`), itself encrypted as a `str` value whose
//!   additional data is `lastmodified` (`cmd/sops/common/common.go`,
//!   `LastModified.Format(time.RFC3339)`: whole seconds, UTC, so the file must hold exactly
//!   that string);
//! - the 32-byte data key is an age file, ASCII-armored, per recipient: `sops.age[].recipient`
//!   and `.enc` (`age/keysource.go`, `MasterKey.Encrypt`);
//! - `lastmodified`, `mac` and `version` are required; with no encryption rule the reader
//!   assumes `unencrypted_suffix: _unencrypted` (`stores/stores.go`, `ToInternal`), which is
//!   written out as sops does. The YAML store indents by 4 (`stores/yaml/store.go`).
//!
//! Imports nothing from the rest of the crate.

use std::io::{Read, Write};

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

/// Why a SOPS file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    /// The operating system's random source failed.
    #[error("the operating system's random source failed ({0})")]
    Random(String),
    /// age could not wrap or unwrap the data key.
    #[error("age: {0}")]
    Age(String),
    /// The file is not YAML or not a SOPS file.
    #[error("not a SOPS file: {0}")]
    Format(String),
    /// A value or the MAC does not decrypt with the data key.
    #[error("{0} does not decrypt (the file was changed, or not written for this key)")]
    Decrypt(String),
    /// None of the file's age recipients is the identity given.
    #[error("none of its age recipients is {0}")]
    NotForKey(String),
    /// The MAC does not match the values.
    #[error("its MAC does not match its values (the file was changed)")]
    Mac,
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

/// Decrypts one `ENC[AES256_GCM,…,type:str]` value; `what` names it in errors.
fn decrypt_value(key: &[u8; 32], value: &str, aad: &str, what: &str) -> Result<String, SopsError> {
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
            "type" => kind = Some(v),
            _ => return Err(bad()),
        }
    }
    let (Some(mut data), Some(iv), Some(tag), Some("str")) = (data, iv, tag, kind) else {
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
    String::from_utf8(plain).map_err(|_| bad())
}

/// SOPS's MAC: SHA-512 over the plaintext values in order, upper-case hex.
fn mac(values: &[(String, String)]) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA512);
    for (_, v) in values {
        ctx.update(v.as_bytes());
    }
    ctx.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// Keys that can stand in YAML unquoted and as one SOPS path element.
fn plain_key(k: &str) -> bool {
    k.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && k != "sops"
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
    }
    let wrapped = wrap_key(&key, recipient)?;
    let mac = encrypt_value(&key, &mac(values), lastmodified)?;
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

/// Reads a SOPS YAML file of string values with `identity`: the values in file order, after
/// checking the MAC.
pub fn decrypt(
    text: &str,
    identity: &age::x25519::Identity,
) -> Result<Vec<(String, String)>, SopsError> {
    let doc: serde_norway::Mapping =
        serde_norway::from_str(text).map_err(|e| SopsError::Format(e.to_string()))?;
    let meta = doc
        .get("sops")
        .and_then(|m| m.as_mapping())
        .ok_or_else(|| SopsError::Format("no sops metadata".into()))?;
    let field = |name: &str| {
        meta.get(name)
            .and_then(|v| v.as_str())
            .ok_or_else(|| SopsError::Format(format!("no sops.{name}")))
    };
    let lastmodified = field("lastmodified")?;
    let mac_enc = field("mac")?;
    let me = identity.to_public().to_string();
    let entry = meta
        .get("age")
        .and_then(|a| a.as_sequence())
        .into_iter()
        .flatten()
        .find(|e| e.get("recipient").and_then(|r| r.as_str()) == Some(me.as_str()))
        .ok_or_else(|| SopsError::NotForKey(me.clone()))?;
    let enc = entry
        .get("enc")
        .and_then(|e| e.as_str())
        .ok_or_else(|| SopsError::Format("no sops.age[].enc".into()))?;
    let key = unwrap_key(enc, identity)?;
    let mut values = Vec::new();
    for (k, v) in &doc {
        let Some(name) = k.as_str() else {
            return Err(SopsError::Format("a key that is not a string".into()));
        };
        if name == "sops" {
            continue;
        }
        let Some(v) = v.as_str() else {
            return Err(SopsError::Format(format!("{name} is not a string value")));
        };
        let plain = decrypt_value(&key, v, &format!("{name}:"), name)?;
        values.push((name.to_string(), plain));
    }
    let stored = decrypt_value(&key, mac_enc, lastmodified, "sops.mac")?;
    if stored != mac(&values) {
        return Err(SopsError::Mac);
    }
    Ok(values)
}

fn unwrap_key(enc: &str, identity: &age::x25519::Identity) -> Result<[u8; 32], SopsError> {
    let age_err = |e: &dyn std::fmt::Display| SopsError::Age(e.to_string());
    let decryptor = age::Decryptor::new(age::armor::ArmoredReader::new(enc.as_bytes()))
        .map_err(|e| age_err(&e))?;
    let mut r = decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .map_err(|e| age_err(&e))?;
    let mut key = Vec::new();
    r.read_to_end(&mut key).map_err(|e| age_err(&e))?;
    key.try_into()
        .map_err(|_| SopsError::Format("the data key is not 32 bytes".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_reads_back_and_a_changed_one_does_not() {
        let id = age::x25519::Identity::generate();
        let values = vec![
            (
                "tailscale_auth_key".to_string(),
                "tskey-auth-abc".to_string(),
            ),
            ("other".to_string(), "x".to_string()),
        ];
        let text = encrypt(&values, &id.to_public(), "2026-12-05T02:00:00Z").unwrap();
        assert_eq!(decrypt(&text, &id).unwrap(), values);

        let first = text.lines().next().unwrap().split_once(": ").unwrap().1;
        let second = text.lines().nth(1).unwrap().split_once(": ").unwrap().1;
        let cases = [
            (
                "lastmodified changed",
                text.replace("2026-12-05T02:00:00Z", "2026-12-05T02:00:01Z"),
            ),
            (
                "values swapped",
                text.replacen(first, "@", 1)
                    .replacen(second, first, 1)
                    .replacen('@', second, 1),
            ),
            (
                "a value dropped",
                text.lines().skip(1).collect::<Vec<_>>().join("\n"),
            ),
        ];
        for (name, changed) in cases {
            assert!(decrypt(&changed, &id).is_err(), "{name}");
        }
        let other = age::x25519::Identity::generate();
        assert!(matches!(
            decrypt(&text, &other),
            Err(SopsError::NotForKey(_))
        ));
    }
}
