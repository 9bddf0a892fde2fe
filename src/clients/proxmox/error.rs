//! Failures of the Proxmox VE API, each classified once, where it is built.
//!
//! PVE has no error codes: a handler `die`s with a sentence, pveproxy sends it as a 500 (or the
//! status the handler chose) with the sentence in `message`, and parameter checks are a 400
//! with one sentence per parameter in `errors` (`pve-http-server` `Formatter/Standard.pm`,
//! `pve-common` `JSONSchema.pm`). So the sentence is what tells a locked VM from a missing one;
//! [`classify`] reads it here, once, and callers decide by [`Error::kind`].

use std::collections::BTreeMap;
use std::time::Duration;

use super::super::ErrorKind;

/// A failed Proxmox VE API call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client's settings cannot work: a malformed base URL, fingerprint or token.
    #[error("invalid proxmox ve api settings: {0}")]
    Config(String),
    /// The node presented a certificate other than the pinned one; no request was sent.
    #[error(
        "{url} presented a certificate with SHA-256 fingerprint {presented}, not the pinned \
         {expected}; if the node's certificate changed (renewed, or the node joined a \
         cluster), pin the new one: `pvenode cert info` on the node prints it"
    )]
    CertificateMismatch {
        /// The API base URL.
        url: String,
        /// The fingerprint the client was told to trust.
        expected: String,
        /// The fingerprint of the certificate the node sent.
        presented: String,
    },
    /// The connection failed, the TLS handshake failed, or the answer was cut off.
    #[error("cannot reach the proxmox ve api at {url}: {detail}")]
    Connect {
        /// The API base URL.
        url: String,
        /// What the transport said, its causes joined.
        detail: String,
    },
    /// The call did not finish in time.
    #[error("{what}: no answer within {after:?}")]
    Timeout {
        /// The call, e.g. `GET /nodes/pve1/status`, or the task waited for.
        what: String,
        /// The time allowed.
        after: Duration,
    },
    /// The caller asked to stop (Terraform's Stop).
    #[error("{what}: cancelled")]
    Cancelled {
        /// The call or task that was abandoned.
        what: String,
    },
    /// The API token was refused (HTTP 401); the reason is pveproxy's.
    #[error(
        "the API token {token_id} was refused ({reason}): check the token id \
         (USER@REALM!TOKENID) and its secret, or create a token on the node with \
         `pveum user token add root@pam NAME --privsep 0`"
    )]
    Unauthorized {
        /// The token id sent (never the secret).
        token_id: String,
        /// pveproxy's reason, e.g. `invalid token value!`.
        reason: String,
    },
    /// The token lacks a privilege (HTTP 403).
    #[error(
        "{what}: {message}; grant the token that privilege (`pveum acl modify`), or create it \
         with `--privsep 0` so it has its user's rights"
    )]
    Forbidden {
        /// The call.
        what: String,
        /// PVE's message, e.g. `Permission check failed (/vms, VM.Allocate)`.
        message: String,
    },
    /// Parameters failed the API schema (HTTP 400); one message per parameter.
    #[error("{what}: parameter verification failed: {}", join_errors(.errors))]
    Parameters {
        /// The call.
        what: String,
        /// Parameter name → what is wrong with it, as `JSONSchema.pm` words it.
        errors: BTreeMap<String, String>,
    },
    /// The VM, volume, storage, task or node does not exist.
    #[error("{what}: {message}")]
    NotFound {
        /// The call.
        what: String,
        /// PVE's message.
        message: String,
    },
    /// What was to be created exists already.
    #[error("{what}: {message}")]
    AlreadyExists {
        /// The call.
        what: String,
        /// PVE's message.
        message: String,
    },
    /// A lock is held (a VM config lock, the cluster file system lock).
    #[error("{what}: {message}")]
    Locked {
        /// The call.
        what: String,
        /// PVE's message.
        message: String,
    },
    /// Unavailable for now: no quorum, an unreachable cluster node (595), a gateway error.
    #[error("{what}: {message} (HTTP {status})")]
    Unavailable {
        /// The call.
        what: String,
        /// The HTTP status.
        status: u16,
        /// PVE's message.
        message: String,
    },
    /// Any other refusal.
    #[error("{what}: {message} (HTTP {status})")]
    Api {
        /// The call.
        what: String,
        /// The HTTP status.
        status: u16,
        /// PVE's message.
        message: String,
    },
    /// The answer does not have the shape the API schema gives it.
    #[error("{what}: unexpected answer: {detail}")]
    Decode {
        /// The call.
        what: String,
        /// What did not fit, and a prefix of the body.
        detail: String,
    },
    /// A task (UPID) stopped with an error exit status.
    #[error("task {upid} failed: {exitstatus}{}", log_suffix(.log))]
    TaskFailed {
        /// The task.
        upid: String,
        /// The exit status, e.g. `unable to create VM 100 - …`.
        exitstatus: String,
        /// The last lines of the task log.
        log: Vec<String>,
        /// The exit status, classified like an API message.
        kind: ErrorKind,
    },
}

impl Error {
    /// What kind of failure this is, for retries and drift detection.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_)
            | Error::CertificateMismatch { .. }
            | Error::Unauthorized { .. }
            | Error::Forbidden { .. }
            | Error::Parameters { .. }
            | Error::Api { .. }
            | Error::Decode { .. } => ErrorKind::Fatal,
            Error::Connect { .. } | Error::Timeout { .. } | Error::Unavailable { .. } => {
                ErrorKind::Transient
            }
            Error::Cancelled { .. } => ErrorKind::Cancelled,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Error::Locked { .. } => ErrorKind::Locked,
            Error::TaskFailed { kind, .. } => *kind,
        }
    }

    /// Builds the error for an answer with a status other than 2xx. `reason` is the HTTP reason
    /// phrase (pveproxy puts the message's first line there, and 401s have nothing else);
    /// `body` is the answer's body.
    pub(super) fn from_answer(
        what: String,
        token_id: &str,
        status: u16,
        reason: &str,
        body: &[u8],
    ) -> Error {
        #[derive(serde::Deserialize, Default)]
        struct Body {
            #[serde(default)]
            message: Option<String>,
            #[serde(default)]
            errors: Option<BTreeMap<String, serde_json::Value>>,
        }
        let parsed: Body = serde_json::from_slice(body).unwrap_or_default();
        let message = parsed
            .message
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .unwrap_or(reason.trim())
            .to_string();
        let message = if message.is_empty() {
            format!("HTTP {status}")
        } else {
            message
        };
        if status == 401 {
            return Error::Unauthorized {
                token_id: token_id.to_string(),
                reason: message,
            };
        }
        if status == 403 {
            return Error::Forbidden { what, message };
        }
        if let Some(errors) = parsed.errors.filter(|e| !e.is_empty()) {
            let errors = errors
                .into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, text.trim().to_string())
                })
                .collect();
            return Error::Parameters { what, errors };
        }
        match classify(status, &message) {
            ErrorKind::NotFound => Error::NotFound { what, message },
            ErrorKind::AlreadyExists => Error::AlreadyExists { what, message },
            ErrorKind::Locked => Error::Locked { what, message },
            ErrorKind::Transient => Error::Unavailable {
                what,
                status,
                message,
            },
            ErrorKind::Fatal | ErrorKind::Cancelled => Error::Api {
                what,
                status,
                message,
            },
        }
    }
}

/// Sorts a PVE failure by its status and sentence (see the module docs). The sentences are
/// those of `qemu-server` `Qemu.pm` / `QemuConfig.pm` ("VM is locked (create)", "unable to
/// create VM 100 - VM 100 already exists on node 'pve1'", "Configuration file '…' does not
/// exist"), `pve-cluster` `PVE/Cluster.pm` ("got lock timeout - aborting command", "cluster
/// not ready - no quorum?") and pveproxy's proxy errors (595 "No route to host").
pub(super) fn classify(status: u16, message: &str) -> ErrorKind {
    let m = message.to_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| m.contains(n));
    if has(&[
        "vm is locked",
        "got lock timeout",
        "can't lock file",
        "lock timeout",
    ]) {
        ErrorKind::Locked
    } else if has(&["already exists"]) {
        ErrorKind::AlreadyExists
    } else if has(&[
        "does not exist",
        "no such vm",
        "no such volume",
        "not found",
    ]) {
        ErrorKind::NotFound
    } else if matches!(status, 502..=504 | 595 | 596)
        || has(&[
            "no quorum",
            "got timeout",
            "connection refused",
            "connection timed out",
        ])
    {
        ErrorKind::Transient
    } else {
        ErrorKind::Fatal
    }
}

fn join_errors(errors: &BTreeMap<String, String>) -> String {
    errors
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.replace('\n', " ")))
        .collect::<Vec<_>>()
        .join("; ")
}

fn log_suffix(log: &[String]) -> String {
    if log.is_empty() {
        String::new()
    } else {
        format!(" (task log: {})", log.join(" | "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pve_sentences_are_classified_once() {
        let cases: &[(&str, u16, &str, ErrorKind)] = &[
            (
                "config lock",
                500,
                "VM is locked (create)",
                ErrorKind::Locked,
            ),
            (
                "cluster fs lock",
                500,
                "got lock timeout - aborting command",
                ErrorKind::Locked,
            ),
            (
                "vmid taken",
                500,
                "unable to create VM 100 - VM 100 already exists on node 'pve1'",
                ErrorKind::AlreadyExists,
            ),
            (
                "missing vm",
                500,
                "Configuration file 'nodes/pve1/qemu-server/100.conf' does not exist",
                ErrorKind::NotFound,
            ),
            (
                "missing volume",
                500,
                "volume 'local:iso/x.iso' does not exist",
                ErrorKind::NotFound,
            ),
            (
                "node unreachable",
                595,
                "No route to host",
                ErrorKind::Transient,
            ),
            (
                "no quorum",
                500,
                "cluster not ready - no quorum?",
                ErrorKind::Transient,
            ),
            ("bad gateway", 502, "Bad Gateway", ErrorKind::Transient),
            (
                "no kvm",
                500,
                "KVM virtualisation configured, but not available.",
                ErrorKind::Fatal,
            ),
            (
                "not implemented",
                501,
                "Method 'GET /x' not implemented",
                ErrorKind::Fatal,
            ),
        ];
        for (name, status, message, kind) in cases {
            assert_eq!(classify(*status, message), *kind, "{name}");
        }
    }

    #[test]
    fn answers_become_errors_a_user_can_act_on() {
        let what = || "POST /nodes/pve1/qemu".to_string();
        let e = Error::from_answer(what(), "root@pam!tf", 401, "invalid token value!", b"");
        assert_eq!(e.kind(), ErrorKind::Fatal);
        let text = e.to_string();
        assert!(text.contains("root@pam!tf"), "{text}");
        assert!(text.contains("invalid token value!"), "{text}");
        assert!(text.contains("pveum user token add"), "{text}");

        let body = br#"{"data":null,"errors":{"net0":"invalid format\n","cores":"type check ('integer') failed - got 'x'\n"},"message":"Parameter verification failed.\n"}"#;
        let e = Error::from_answer(what(), "t", 400, "Parameter verification failed.", body);
        match &e {
            Error::Parameters { errors, .. } => {
                assert_eq!(errors["net0"], "invalid format");
                assert_eq!(errors["cores"], "type check ('integer') failed - got 'x'");
            }
            other => panic!("not a parameter error: {other:?}"),
        }
        assert_eq!(
            e.to_string(),
            "POST /nodes/pve1/qemu: parameter verification failed: cores: type check \
             ('integer') failed - got 'x'; net0: invalid format"
        );

        let body = br#"{"data":null,"message":"VM is locked (create)\n"}"#;
        let e = Error::from_answer(what(), "t", 500, "VM is locked (create)", body);
        assert_eq!(e.kind(), ErrorKind::Locked);
        assert_eq!(
            e.to_string(),
            "POST /nodes/pve1/qemu: VM is locked (create)"
        );
    }
}
