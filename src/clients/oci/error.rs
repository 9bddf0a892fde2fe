//! Failures of the OCI APIs, each classified once, where it is built. OCI answers errors with
//! an HTTP status and a body `{"code", "message"}` whose codes Oracle lists
//! (<https://docs.oracle.com/en-us/iaas/Content/API/References/apierrors.htm>); [`Error::kind`]
//! reads the status and code here so callers never match message text.

use std::time::Duration;

use super::super::ErrorKind;
use super::config::ConfigError;
use super::key::KeyError;

/// Oracle's page of API errors, for messages.
pub const ERRORS_DOC: &str =
    "https://docs.oracle.com/en-us/iaas/Content/API/References/apierrors.htm";

/// A failed OCI call, or a client that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The API key cannot be read or used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The client's settings cannot work (an endpoint, a CA certificate).
    #[error("invalid oci client settings: {0}")]
    Settings(String),
    /// The connection or TLS handshake failed, or the answer was cut off.
    #[error("cannot reach {url}: {detail}")]
    Connect {
        /// The endpoint.
        url: String,
        /// What the transport said, its causes joined.
        detail: String,
    },
    /// No answer in time.
    #[error("{what}: no answer within {after:?}")]
    Timeout {
        /// The call, e.g. `POST /20200107/usage`.
        what: String,
        /// The time allowed.
        after: Duration,
    },
    /// The caller asked to stop.
    #[error("{what}: cancelled")]
    Cancelled {
        /// The call.
        what: String,
    },
    /// HTTP 401: the signature, key, fingerprint, OCIDs or clock were not accepted.
    #[error(
        "{what}: 401 NotAuthenticated: {message} Check the profile's user, tenancy, fingerprint \
         and key_file (the fingerprint must be the uploaded key's), and the clock (at most 5 \
         minutes off); see {ERRORS_DOC}"
    )]
    NotAuthenticated {
        /// The call.
        what: String,
        /// OCI's message.
        message: String,
        /// `opc-request-id`, for Oracle support.
        request_id: Option<String>,
    },
    /// Any other error answer.
    #[error("{what}: {status} {code}: {message}")]
    Service {
        /// The call.
        what: String,
        /// The HTTP status.
        status: u16,
        /// OCI's error code.
        code: String,
        /// OCI's message.
        message: String,
        /// `opc-request-id`, for Oracle support.
        request_id: Option<String>,
    },
    /// A 2xx answer whose body is not what the API reference describes.
    #[error("{what}: unexpected answer: {detail}")]
    Decode {
        /// The call.
        what: String,
        /// The decoder's message and an excerpt.
        detail: String,
    },
}

impl Error {
    /// What kind of failure this is, for retries and reports.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_) | Error::Key(_) | Error::Settings(_) => ErrorKind::Fatal,
            Error::Connect { .. } | Error::Timeout { .. } => ErrorKind::Transient,
            Error::Cancelled { .. } => ErrorKind::Cancelled,
            Error::NotAuthenticated { .. } => ErrorKind::Fatal,
            Error::Service { status, code, .. } => match (*status, code.as_str()) {
                (404, _) => ErrorKind::NotFound,
                (409, "IncorrectState") => ErrorKind::Locked,
                (409, _) => ErrorKind::AlreadyExists,
                (429, _) | (500..=599, _) => ErrorKind::Transient,
                _ => ErrorKind::Fatal,
            },
            Error::Decode { .. } => ErrorKind::Fatal,
        }
    }

    /// Builds the error for a non-2xx answer.
    pub(super) fn from_answer(
        what: String,
        status: u16,
        body: &[u8],
        request_id: Option<String>,
    ) -> Error {
        let parsed: super::types::ErrorBody = serde_json::from_slice(body).unwrap_or_default();
        let message = if parsed.message.is_empty() {
            excerpt(body)
        } else {
            parsed.message
        };
        if status == 401 {
            return Error::NotAuthenticated {
                what,
                message,
                request_id,
            };
        }
        Error::Service {
            what,
            status,
            code: if parsed.code.is_empty() {
                "(no code)".into()
            } else {
                parsed.code
            },
            message,
            request_id,
        }
    }
}

/// The start of a body, for messages.
pub(super) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let cut: String = text.chars().take(200).collect();
    if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_by_status_and_code() {
        let body = |code: &str| format!(r#"{{"code":"{code}","message":"m"}}"#).into_bytes();
        let cases = [
            ("401", 401, "NotAuthenticated", ErrorKind::Fatal),
            ("404", 404, "NotAuthorizedOrNotFound", ErrorKind::NotFound),
            ("409 state", 409, "IncorrectState", ErrorKind::Locked),
            ("409 conflict", 409, "Conflict", ErrorKind::AlreadyExists),
            ("429", 429, "TooManyRequests", ErrorKind::Transient),
            ("500", 500, "InternalServerError", ErrorKind::Transient),
            ("400", 400, "InvalidParameter", ErrorKind::Fatal),
        ];
        for (name, status, code, kind) in cases {
            let e = Error::from_answer("GET /x".into(), status, &body(code), None);
            assert_eq!(e.kind(), kind, "{name}");
        }
        let e = Error::from_answer("GET /x".into(), 401, &body("NotAuthenticated"), None);
        assert!(
            e.to_string().starts_with("GET /x: 401 NotAuthenticated: m"),
            "{e}"
        );
        let e = Error::from_answer("GET /x".into(), 502, b"<html>bad gateway</html>", None);
        assert_eq!(
            e.to_string(),
            "GET /x: 502 (no code): <html>bad gateway</html>"
        );
    }
}
