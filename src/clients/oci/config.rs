//! The OCI CLI and SDK configuration file (`~/.oci/config`): INI sections, one per profile, as
//! Oracle's "SDK and CLI Configuration File" page describes it
//! (<https://docs.oracle.com/en-us/iaas/Content/API/Concepts/sdkconfig.htm>): entries `user`,
//! `fingerprint`, `key_file`, `tenancy`, `region` (required) and `pass_phrase` (optional,
//! deprecated there), profile `DEFAULT` by default.
//!
//! The SDKs read it with Python's `configparser` rules, which this parser follows where a real
//! file can tell the difference: `key = value` or `key: value`, comments on lines starting with
//! `#` or `;`, keys case-insensitive, a `[DEFAULT]` section whose entries every other profile
//! inherits, a duplicate section or key an error. Every error names the file and the line.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Oracle's page on the file, for messages.
pub const CONFIG_DOC: &str =
    "https://docs.oracle.com/en-us/iaas/Content/API/Concepts/sdkconfig.htm";

/// A configuration file that cannot be used; each names the file and, where one applies, the
/// line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// A line is not a section header, an entry, a comment or blank.
    #[error("{path}:{line}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// One-based line.
        line: usize,
        /// What is wrong, and what the line should look like.
        message: String,
    },
    /// The profile asked for is not in the file.
    #[error("{path}: no profile [{profile}] (profiles in the file: {found}); see {CONFIG_DOC}")]
    NoProfile {
        /// The file.
        path: PathBuf,
        /// The profile asked for.
        profile: String,
        /// The profiles the file has, comma-separated.
        found: String,
    },
    /// A required entry is missing from the profile (and from `[DEFAULT]`).
    #[error("{path}:{line}: profile [{profile}] has no `{key}` entry ({what}); see {CONFIG_DOC}")]
    Missing {
        /// The file.
        path: PathBuf,
        /// The line of the profile's section header.
        line: usize,
        /// The profile.
        profile: String,
        /// The missing entry.
        key: &'static str,
        /// What the entry holds.
        what: &'static str,
    },
    /// An entry's value cannot be right.
    #[error("{path}:{line}: `{key}` {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// One-based line of the entry.
        line: usize,
        /// The entry.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

/// One entry's value and where it was set.
#[derive(Clone, PartialEq)]
struct Entry {
    value: String,
    line: usize,
}

/// A secret read from the file: used, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A profile of the configuration file, its required entries checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// The file it was read from.
    pub path: PathBuf,
    /// The profile's name.
    pub name: String,
    /// The user's OCID.
    pub user: String,
    /// The API key's fingerprint, `aa:bb:…` (MD5 of the public key, 16 pairs).
    pub fingerprint: String,
    /// The private key's file, `~` expanded.
    pub key_file: PathBuf,
    /// The key's pass phrase, when the key is encrypted.
    pub pass_phrase: Option<Secret>,
    /// The tenancy's OCID.
    pub tenancy: String,
    /// The region, e.g. `us-ashburn-1`.
    pub region: String,
    /// The line of each entry, for messages (`fingerprint` → 4).
    pub lines: BTreeMap<String, usize>,
}

impl Profile {
    /// `FILE:LINE` of `key`, or the file alone.
    pub fn at(&self, key: &str) -> String {
        match self.lines.get(key) {
            Some(l) => format!("{}:{l}", self.path.display()),
            None => self.path.display().to_string(),
        }
    }
}

/// The default file: `$OCI_CLI_CONFIG_FILE` when set (the CLI's own variable), else
/// `~/.oci/config`.
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("OCI_CLI_CONFIG_FILE").filter(|p| !p.is_empty()) {
        return expand_home(&PathBuf::from(p).display().to_string());
    }
    expand_home("~/.oci/config")
}

/// The default profile: `$OCI_CLI_PROFILE` when set, else `DEFAULT`.
pub fn default_profile() -> String {
    std::env::var("OCI_CLI_PROFILE")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "DEFAULT".to_string())
}

/// `~` and `~/…` against `$HOME`, as the SDKs expand `key_file`.
pub fn expand_home(path: &str) -> PathBuf {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    match (path, home) {
        ("~", Some(h)) => PathBuf::from(h),
        (p, Some(h)) if p.starts_with("~/") => Path::new(&h).join(&p[2..]),
        (p, _) => PathBuf::from(p),
    }
}

/// Reads profile `profile` from the file at `path`.
pub fn load(path: &Path, profile: &str) -> Result<Profile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text, profile)
}

/// The sections of a file: name → (header line, entries).
type Sections = BTreeMap<String, (usize, BTreeMap<String, Entry>)>;

fn sections(path: &Path, text: &str) -> Result<Sections, ConfigError> {
    let syntax = |line: usize, message: String| ConfigError::Syntax {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut out: Sections = BTreeMap::new();
    let mut current: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        // A byte-order mark on the first line is not part of it (configparser reads the file
        // as text, and editors on Windows write one).
        let raw = if line == 1 {
            raw.trim_start_matches('\u{feff}')
        } else {
            raw
        };
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if raw.starts_with([' ', '\t']) && current.is_some() {
            return Err(syntax(
                line,
                "an indented line continues the entry above it, which the OCI configuration \
                 never needs; remove the indentation"
                    .into(),
            ));
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err(syntax(
                    line,
                    format!("section header `{trimmed}` has no closing `]`"),
                ));
            };
            let name = name.trim().to_string();
            if name.is_empty() {
                return Err(syntax(line, "empty section name `[]`".into()));
            }
            if let Some((first, _)) = out.get(&name) {
                return Err(syntax(
                    line,
                    format!("profile [{name}] appears twice (first at line {first})"),
                ));
            }
            out.insert(name.clone(), (line, BTreeMap::new()));
            current = Some(name);
            continue;
        }
        let Some(section) = &current else {
            return Err(syntax(
                line,
                "entry before any section header: the file must start with a profile such \
                 as [DEFAULT]"
                    .into(),
            ));
        };
        // configparser splits at the first `=` or `:`, whichever comes first.
        let Some(split) = trimmed.find(['=', ':']) else {
            return Err(syntax(
                line,
                format!(
                    "`{}` is not an entry: write `key = value`",
                    shorten(trimmed)
                ),
            ));
        };
        let key = trimmed[..split].trim().to_ascii_lowercase();
        let value = trimmed[split + 1..].trim().to_string();
        if key.is_empty() {
            return Err(syntax(line, "entry with no key before `=`".into()));
        }
        let Some((_, entries)) = out.get_mut(section) else {
            continue;
        };
        if let Some(prev) = entries.get(&key) {
            return Err(syntax(
                line,
                format!(
                    "`{key}` is set twice in [{section}] (first at line {})",
                    prev.line
                ),
            ));
        }
        entries.insert(key, Entry { value, line });
    }
    Ok(out)
}

/// A line excerpt for messages: never a whole long line (it might hold a secret).
fn shorten(s: &str) -> String {
    let cut: String = s.chars().take(24).collect();
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// Parses `text` (the contents of `path`) and returns profile `profile`.
pub fn parse(path: &Path, text: &str, profile: &str) -> Result<Profile, ConfigError> {
    let all = sections(path, text)?;
    let Some((header, own)) = all.get(profile) else {
        let found: Vec<&str> = all.keys().map(String::as_str).collect();
        return Err(ConfigError::NoProfile {
            path: path.to_path_buf(),
            profile: profile.to_string(),
            found: if found.is_empty() {
                "none".into()
            } else {
                found.join(", ")
            },
        });
    };
    // Every profile inherits what [DEFAULT] sets and does not set itself.
    let mut entries = all
        .get("DEFAULT")
        .map(|(_, e)| e.clone())
        .unwrap_or_default();
    for (k, v) in own {
        entries.insert(k.clone(), v.clone());
    }
    if entries.contains_key("security_token_file") && !entries.contains_key("user") {
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            line: entries
                .get("security_token_file")
                .map_or(*header, |e| e.line),
            key: "security_token_file".into(),
            message: format!(
                "selects session-token authentication, which freetier does not support: use an \
                 API signing key (user, fingerprint, key_file); see {CONFIG_DOC}"
            ),
        });
    }
    let required = |key: &'static str, what: &'static str| -> Result<Entry, ConfigError> {
        match entries.get(key) {
            Some(e) if !e.value.is_empty() => Ok(e.clone()),
            Some(e) => Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                line: e.line,
                key: key.to_string(),
                message: format!("is empty: it must hold {what}; see {CONFIG_DOC}"),
            }),
            None => Err(ConfigError::Missing {
                path: path.to_path_buf(),
                line: *header,
                profile: profile.to_string(),
                key,
                what,
            }),
        }
    };
    let user = required("user", "the user's OCID, ocid1.user.oc1..…")?;
    let fingerprint = required("fingerprint", "the API key's fingerprint, aa:bb:…")?;
    let key_file = required("key_file", "the path of the API private key, PEM")?;
    let tenancy = required("tenancy", "the tenancy's OCID, ocid1.tenancy.oc1..…")?;
    let region = required("region", "the region, e.g. us-ashburn-1")?;
    let invalid = |e: &Entry, key: &str, message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        line: e.line,
        key: key.to_string(),
        message,
    };
    for (e, key, prefix) in [
        (&user, "user", "ocid1.user."),
        (&tenancy, "tenancy", "ocid1.tenancy."),
    ] {
        if !e.value.starts_with(prefix) {
            return Err(invalid(
                e,
                key,
                format!(
                    "is `{}`, not an OCID starting with {prefix} (the Console shows it: {})",
                    shorten(&e.value),
                    "https://docs.oracle.com/en-us/iaas/Content/API/Concepts/apisigningkey.htm"
                ),
            ));
        }
    }
    if !valid_fingerprint(&fingerprint.value) {
        return Err(invalid(
            &fingerprint,
            "fingerprint",
            format!(
                "is `{}`, not 16 colon-separated hex pairs (aa:bb:…), as the Console shows it \
                 beside the key",
                shorten(&fingerprint.value)
            ),
        ));
    }
    let region_ok = region
        .value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && region.value.contains('-');
    if !region_ok {
        return Err(invalid(
            &region,
            "region",
            format!(
                "is `{}`, not a region identifier such as us-ashburn-1 \
                 (https://docs.oracle.com/en-us/iaas/Content/General/Concepts/regions.htm)",
                shorten(&region.value)
            ),
        ));
    }
    let mut lines: BTreeMap<String, usize> =
        entries.iter().map(|(k, e)| (k.clone(), e.line)).collect();
    lines.insert("profile".into(), *header);
    Ok(Profile {
        path: path.to_path_buf(),
        name: profile.to_string(),
        user: user.value,
        fingerprint: fingerprint.value.to_ascii_lowercase(),
        key_file: expand_home(&key_file.value),
        pass_phrase: entries
            .get("pass_phrase")
            .filter(|e| !e.value.is_empty())
            .map(|e| Secret(e.value.clone())),
        tenancy: tenancy.value,
        region: region.value,
        lines,
    })
}

/// 16 hex pairs joined by `:`.
pub(super) fn valid_fingerprint(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 16
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
# written by oci setup config
[DEFAULT]
user=ocid1.user.oc1..aaaaaaaaexample
fingerprint=20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34
key_file=~/.oci/oci_api_key.pem
tenancy=ocid1.tenancy.oc1..aaaaaaaaexample
region=us-ashburn-1

[ADMIN]
user = ocid1.user.oc1..aaaaaaaaadmin
; the rest comes from DEFAULT
pass_phrase: s3cret
";

    #[test]
    fn reads_a_profile_and_inherits_default() {
        let p = parse(Path::new("/cfg"), GOOD, "ADMIN").expect("profile");
        assert_eq!(p.user, "ocid1.user.oc1..aaaaaaaaadmin");
        assert_eq!(p.tenancy, "ocid1.tenancy.oc1..aaaaaaaaexample");
        assert_eq!(p.region, "us-ashburn-1");
        assert_eq!(p.pass_phrase.as_ref().map(Secret::expose), Some("s3cret"));
        assert_eq!(p.at("user"), "/cfg:10");
        assert_eq!(p.at("fingerprint"), "/cfg:4");
        let d = parse(Path::new("/cfg"), GOOD, "DEFAULT").expect("default");
        assert_eq!(d.user, "ocid1.user.oc1..aaaaaaaaexample");
        assert!(d.pass_phrase.is_none());
        // The pass phrase never shows in Debug output.
        assert!(!format!("{p:?}").contains("s3cret"));
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let base = GOOD.replace("[ADMIN]\nuser = ocid1.user.oc1..aaaaaaaaadmin\n", "");
        let cases: Vec<(&str, String, &str, &str)> = vec![
            (
                "entry before a section",
                format!("user=x\n{GOOD}"),
                "DEFAULT",
                "/cfg:1: entry before any section header",
            ),
            (
                "unclosed header",
                GOOD.replace("[ADMIN]", "[ADMIN"),
                "DEFAULT",
                "/cfg:9: section header `[ADMIN` has no closing `]`",
            ),
            (
                "duplicate section",
                format!("{GOOD}[ADMIN]\n"),
                "DEFAULT",
                "/cfg:13: profile [ADMIN] appears twice (first at line 9)",
            ),
            (
                "duplicate key",
                GOOD.replace(
                    "region=us-ashburn-1",
                    "region=us-ashburn-1\nREGION=eu-paris-1",
                ),
                "DEFAULT",
                "/cfg:8: `region` is set twice in [DEFAULT] (first at line 7)",
            ),
            (
                "not an entry",
                GOOD.replace("region=us-ashburn-1", "region us-ashburn-1"),
                "DEFAULT",
                "/cfg:7: `region us-ashburn-1` is not an entry",
            ),
            (
                "missing key",
                base.replace("tenancy=ocid1.tenancy.oc1..aaaaaaaaexample\n", ""),
                "DEFAULT",
                "/cfg:2: profile [DEFAULT] has no `tenancy` entry",
            ),
            (
                "empty value",
                GOOD.replace("region=us-ashburn-1", "region="),
                "DEFAULT",
                "/cfg:7: `region` is empty",
            ),
            (
                "bad fingerprint",
                GOOD.replace("20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34", "20:3b"),
                "DEFAULT",
                "/cfg:4: `fingerprint` is `20:3b`, not 16 colon-separated hex pairs",
            ),
            (
                "user is not an OCID",
                GOOD.replace("user=ocid1.user.oc1..aaaaaaaaexample", "user=alice"),
                "DEFAULT",
                "/cfg:3: `user` is `alice`, not an OCID starting with ocid1.user.",
            ),
            (
                "bad region",
                GOOD.replace("region=us-ashburn-1", "region=US East"),
                "DEFAULT",
                "/cfg:7: `region` is `US East`, not a region identifier",
            ),
            (
                "indented continuation",
                GOOD.replace("region=us-ashburn-1", "region=us-ashburn-1\n  more"),
                "DEFAULT",
                "/cfg:8: an indented line continues the entry above it",
            ),
            (
                "session token",
                "[DEFAULT]\nsecurity_token_file=/tmp/token\n".to_string(),
                "DEFAULT",
                "/cfg:2: `security_token_file` selects session-token authentication",
            ),
        ];
        for (name, text, profile, want) in cases {
            let e = parse(Path::new("/cfg"), &text, profile).expect_err(name);
            assert!(e.to_string().starts_with(want), "{name}: {e}");
        }
        let e = parse(Path::new("/cfg"), GOOD, "PROD").expect_err("no profile");
        assert_eq!(
            e.to_string(),
            format!(
                "/cfg: no profile [PROD] (profiles in the file: ADMIN, DEFAULT); see {CONFIG_DOC}"
            )
        );
    }

    #[test]
    fn a_line_holding_a_secret_is_never_quoted_whole() {
        let text = GOOD.replace(
            "pass_phrase: s3cret",
            "pass_phrase a-very-long-secret-passphrase-that-must-not-show",
        );
        let e = parse(Path::new("/cfg"), &text, "ADMIN").expect_err("syntax");
        assert!(!e.to_string().contains("must-not-show"), "{e}");
    }

    #[test]
    fn home_is_expanded_in_key_file() {
        let home = std::env::var("HOME").unwrap_or_default();
        let p = parse(Path::new("/cfg"), GOOD, "DEFAULT").expect("profile");
        if !home.is_empty() {
            assert_eq!(p.key_file, Path::new(&home).join(".oci/oci_api_key.pem"));
        }
        assert_eq!(expand_home("/abs/key.pem"), PathBuf::from("/abs/key.pem"));
    }
}
