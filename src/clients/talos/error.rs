//! Failures of the Talos API, each classified once, where it is built.
//!
//! apid answers with gRPC status codes, and Talos picks them with care
//! (<https://github.com/siderolabs/talos/blob/main/internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go>):
//! `FailedPrecondition` for "not yet" ("bootstrap is not available yet", "time is not in sync
//! yet"), `AlreadyExists` for a second Bootstrap ("etcd data directory is not empty"),
//! `InvalidArgument` for a refused configuration, `Unimplemented` for a call the node cannot
//! serve (maintenance mode, a worker asked for a kubeconfig). [`kind_of`] maps each code once.
//!
//! Failures below gRPC are told apart by the error chain: rustls says whether the node's
//! certificate failed our check or the node refused our client certificate; anything else on
//! the way (refused, reset, timed out) is a connection failure worth retrying.

use std::time::Duration;

use rustls::AlertDescription;
use tonic::Code;

use super::super::ErrorKind;

/// A failed Talos API call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client's settings cannot work: an unreadable talosconfig, CA, certificate or key.
    #[error("invalid talos api settings: {0}")]
    Config(String),
    /// The connection failed before an answer: refused, reset, or cut off.
    #[error("cannot reach apid at {endpoint}: {detail}")]
    Connect {
        /// `HOST:PORT` of apid.
        endpoint: String,
        /// What the transport said, its causes joined.
        detail: String,
    },
    /// apid's certificate is not signed by the talosconfig's CA (or not for this address).
    #[error(
        "apid at {endpoint} presented a certificate the talosconfig's CA does not vouch for \
         ({detail}): the CA belongs to another cluster, or the node is still in maintenance \
         mode (no configuration applied yet)"
    )]
    ServerCertificate {
        /// `HOST:PORT` of apid.
        endpoint: String,
        /// rustls's reason, e.g. `invalid peer certificate: UnknownIssuer`.
        detail: String,
    },
    /// apid refused the client certificate (the TLS alert it sent).
    #[error(
        "apid at {endpoint} refused the client certificate ({detail}): the talosconfig's crt \
         and key must be an os:admin certificate signed by this cluster's OS CA (machine.ca)"
    )]
    ClientCertificateRefused {
        /// `HOST:PORT` of apid.
        endpoint: String,
        /// The alert, e.g. `received fatal alert: UnknownCA`.
        detail: String,
    },
    /// TLS failed for another reason (the peer speaks no TLS, no common protocol).
    #[error("tls with apid at {endpoint} failed: {detail}")]
    Tls {
        /// `HOST:PORT` of apid.
        endpoint: String,
        /// rustls's reason.
        detail: String,
    },
    /// The call did not finish in time.
    #[error("{what}: no answer within {after:?}")]
    Timeout {
        /// The call, e.g. `machine.MachineService/Bootstrap on 10.0.0.2`.
        what: String,
        /// The time allowed.
        after: Duration,
    },
    /// The caller asked to stop (Terraform's Stop).
    #[error("{what}: cancelled")]
    Cancelled {
        /// The call that was abandoned.
        what: String,
    },
    /// apid answered with a gRPC error status.
    #[error("{what}: {message} (gRPC {code:?}){}", hint(*.code, .message))]
    Status {
        /// The call.
        what: String,
        /// The status code.
        code: Code,
        /// apid's message, e.g. `etcd data directory is not empty`.
        message: String,
    },
    /// A reply carried a node's failure in its metadata (apid's per-node envelope,
    /// `common.Metadata.error`), as proxied calls report it.
    #[error("{what}: node {node}: {message}{}", hint(*.code, .message))]
    Node {
        /// The call.
        what: String,
        /// The node that failed, as apid names it.
        node: String,
        /// The node's status code (`Unknown` when only the text was sent).
        code: Code,
        /// The node's error text.
        message: String,
    },
    /// The answer does not have the expected shape (an empty reply, a broken archive).
    #[error("{what}: unexpected answer: {detail}")]
    Decode {
        /// The call.
        what: String,
        /// What did not fit.
        detail: String,
    },
}

impl Error {
    /// What kind of failure this is, for retries and drift detection.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_)
            | Error::ServerCertificate { .. }
            | Error::ClientCertificateRefused { .. }
            | Error::Tls { .. }
            | Error::Decode { .. } => ErrorKind::Fatal,
            Error::Connect { .. } | Error::Timeout { .. } => ErrorKind::Transient,
            Error::Cancelled { .. } => ErrorKind::Cancelled,
            Error::Status { code, .. } | Error::Node { code, .. } => kind_of(*code),
        }
    }

    /// The gRPC status code, when apid (or a node behind it) answered with one.
    pub fn code(&self) -> Option<Code> {
        match self {
            Error::Status { code, .. } | Error::Node { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Builds the error for a failed call. A status with a source was made by the client's
    /// transport (tonic keeps the cause), never sent by apid; its chain says which failure.
    /// `seen` is the TLS failure the connection noted (see `tls.rs`, `Seen`), and `after`
    /// the call's timeout, which tonic enforces too (from the `grpc-timeout` it sends).
    pub(super) fn from_status(
        what: String,
        endpoint: &str,
        status: tonic::Status,
        seen: Option<rustls::Error>,
        after: Duration,
    ) -> Error {
        let source = std::error::Error::source(&status);
        if let Some(cause) = source {
            for e in causes(cause) {
                if let Some(tls) = e.downcast_ref::<rustls::Error>() {
                    return Error::from_tls(endpoint, tls);
                }
                if e.is::<tonic::TimeoutExpired>() {
                    return Error::Timeout { what, after };
                }
            }
            if let Some(tls) = seen {
                return Error::from_tls(endpoint, &tls);
            }
            return Error::Connect {
                endpoint: endpoint.to_string(),
                detail: chain(cause),
            };
        }
        Error::Status {
            what,
            code: status.code(),
            message: status.message().to_string(),
        }
    }

    /// Sorts a TLS failure: ours (the node's certificate), theirs (our certificate), or other.
    pub(super) fn from_tls(endpoint: &str, e: &rustls::Error) -> Error {
        let endpoint = endpoint.to_string();
        let detail = e.to_string();
        match e {
            rustls::Error::InvalidCertificate(_) => Error::ServerCertificate { endpoint, detail },
            rustls::Error::AlertReceived(a) if refuses_client_certificate(*a) => {
                Error::ClientCertificateRefused { endpoint, detail }
            }
            _ => Error::Tls { endpoint, detail },
        }
    }

    /// The failure a reply's `common.Metadata` reports, if any: apid's `BuildError` fills
    /// `error` (grpc-go's `rpc error: code = X desc = Y`) and `status`
    /// (<https://github.com/siderolabs/talos/blob/main/internal/app/apid/pkg/backend/apid.go>).
    pub(super) fn from_metadata(
        what: &str,
        metadata: Option<&super::proto::common::Metadata>,
    ) -> Option<Error> {
        let m = metadata?;
        if m.error.is_empty() && m.status.as_ref().is_none_or(|s| s.code == 0) {
            return None;
        }
        let (code, message) = match &m.status {
            Some(s) if s.code != 0 => (Code::from_i32(s.code), s.message.clone()),
            _ => (Code::Unknown, m.error.clone()),
        };
        Some(Error::Node {
            what: what.to_string(),
            node: m.hostname.clone(),
            code,
            message,
        })
    }
}

/// The kind of a gRPC status code, once for every call (codes as gRPC defines them,
/// <https://grpc.github.io/grpc/core/md_doc_statuscodes.html>, and as Talos uses them; see the
/// module docs).
pub(super) fn kind_of(code: Code) -> ErrorKind {
    match code {
        Code::NotFound => ErrorKind::NotFound,
        Code::AlreadyExists => ErrorKind::AlreadyExists,
        // "not yet": the node is booting, rebooting, or waiting for time sync or etcd.
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::ResourceExhausted
        | Code::Aborted
        | Code::FailedPrecondition
        | Code::Cancelled => ErrorKind::Transient,
        Code::Ok
        | Code::Unknown
        | Code::InvalidArgument
        | Code::PermissionDenied
        | Code::Unauthenticated
        | Code::OutOfRange
        | Code::Unimplemented
        | Code::Internal
        | Code::DataLoss => ErrorKind::Fatal,
    }
}

/// The alerts a TLS server sends when it does not accept the client's certificate
/// (RFC 8446 §6.2).
fn refuses_client_certificate(a: AlertDescription) -> bool {
    matches!(
        a,
        AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied
            | AlertDescription::CertificateRequired
            | AlertDescription::DecryptError
            | AlertDescription::HandshakeFailure
    )
}

/// What to do about the two `Unimplemented` answers users meet most (the "method Bootstrap
/// not implemented" of <https://github.com/siderolabs/terraform-provider-talos/issues/213>).
fn hint(code: Code, message: &str) -> &'static str {
    if code == Code::Unimplemented
        && (message.starts_with("method ") && message.ends_with(" not implemented")
            || message.contains("maintenance mode"))
    {
        "; the node is in maintenance mode: apply a machine configuration first"
    } else {
        ""
    }
}

/// An error and each of its causes, outermost first. An `io::Error`'s `source` skips the
/// error it wraps, so the walk steps into the wrapped error itself.
pub(super) fn causes<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(err), |e| {
        e.downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|i| i as &(dyn std::error::Error + 'static))
            .or_else(|| e.source())
    })
}

/// An error and its causes, joined, without repeats (hyper and tonic often repeat theirs).
pub(super) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for err in causes(e) {
        let text = err.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_codes_are_classified_once() {
        let cases: &[(&str, Code, ErrorKind)] = &[
            (
                "second bootstrap",
                Code::AlreadyExists,
                ErrorKind::AlreadyExists,
            ),
            ("node not up", Code::Unavailable, ErrorKind::Transient),
            (
                "server deadline",
                Code::DeadlineExceeded,
                ErrorKind::Transient,
            ),
            (
                "time not in sync",
                Code::FailedPrecondition,
                ErrorKind::Transient,
            ),
            ("missing", Code::NotFound, ErrorKind::NotFound),
            ("bad config", Code::InvalidArgument, ErrorKind::Fatal),
            ("maintenance mode", Code::Unimplemented, ErrorKind::Fatal),
            ("no role", Code::PermissionDenied, ErrorKind::Fatal),
            ("no certificate", Code::Unauthenticated, ErrorKind::Fatal),
            ("parse failure", Code::Unknown, ErrorKind::Fatal),
        ];
        for (name, code, kind) in cases {
            assert_eq!(kind_of(*code), *kind, "{name}");
            let e = Error::Status {
                what: "x".into(),
                code: *code,
                message: "m".into(),
            };
            assert_eq!(e.kind(), *kind, "{name}: through the error");
        }
    }

    #[test]
    fn statuses_sent_by_apid_keep_code_and_message() {
        let e = Error::from_status(
            "machine.MachineService/Bootstrap on 10.0.0.2".into(),
            "10.0.0.2:50000",
            tonic::Status::already_exists("etcd data directory is not empty"),
            None,
            Duration::from_secs(1),
        );
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        assert_eq!(
            e.to_string(),
            "machine.MachineService/Bootstrap on 10.0.0.2: etcd data directory is not empty \
             (gRPC AlreadyExists)"
        );
    }

    #[test]
    fn maintenance_mode_answers_say_what_to_do() {
        let e = Error::from_status(
            "machine.MachineService/Bootstrap".into(),
            "10.0.0.2:50000",
            tonic::Status::unimplemented("method Bootstrap not implemented"),
            None,
            Duration::from_secs(1),
        );
        assert_eq!(e.kind(), ErrorKind::Fatal);
        assert!(
            e.to_string()
                .contains("apply a machine configuration first"),
            "{e}"
        );
    }

    #[test]
    fn tls_failures_name_the_side_that_refused() {
        let cases: &[(&str, rustls::Error, ErrorKind, &str)] = &[
            (
                "foreign server",
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
                ErrorKind::Fatal,
                "does not vouch for",
            ),
            (
                "foreign client",
                rustls::Error::AlertReceived(AlertDescription::UnknownCA),
                ErrorKind::Fatal,
                "refused the client certificate",
            ),
            (
                "no tls",
                rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
                ErrorKind::Fatal,
                "tls with apid",
            ),
        ];
        for (name, tls, kind, text) in cases {
            let e = Error::from_tls("10.0.0.2:50000", tls);
            assert_eq!(e.kind(), *kind, "{name}");
            assert!(e.to_string().contains(text), "{name}: {e}");
        }
    }

    #[test]
    fn failures_in_reply_metadata_become_errors() {
        use super::super::proto::{common::Metadata, google::rpc::Status};
        let ok = Metadata {
            hostname: "cp1".into(),
            ..Default::default()
        };
        assert!(Error::from_metadata("v", Some(&ok)).is_none());
        assert!(Error::from_metadata("v", None).is_none());
        let failed = Metadata {
            hostname: "10.0.0.3".into(),
            error: "rpc error: code = Unavailable desc = connection refused".into(),
            status: Some(Status {
                code: Code::Unavailable as i32,
                message: "connection refused".into(),
                details: Vec::new(),
            }),
        };
        let e = Error::from_metadata("v", Some(&failed)).expect("an error");
        assert_eq!(e.kind(), ErrorKind::Transient);
        assert_eq!(e.code(), Some(Code::Unavailable));
        assert_eq!(e.to_string(), "v: node 10.0.0.3: connection refused");
    }
}
