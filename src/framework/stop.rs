//! Stop: Terraform's request to cancel (Ctrl-C). One root token per provider process; every
//! operation gets a child of it, so Stop reaches each one, and an operation that starts after
//! Stop begins cancelled and returns at once.
//!
//! The server also watches the token itself: an operation that ignores it is abandoned
//! [`STOP_GRACE`] after Stop, so Terraform always gets its in-flight RPCs back promptly. A
//! resource that watches the token returns earlier, with what it managed to do.
//!
//! The next Configure re-arms the root: a provider served in debug mode outlives one
//! Terraform run, and a Ctrl-C in one run must not cancel the next. Within one run Terraform
//! configures a provider once, before any resource operation, so this never lets work slip
//! past a Stop.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::diag::Diagnostics;

/// How long after Stop an operation may still return on its own (with its partial state)
/// before the server abandons it. Terraform waits for in-flight RPCs, so this bounds the
/// wait a user sees after Ctrl-C.
pub const STOP_GRACE: Duration = Duration::from_millis(250);

/// The process's Stop signal.
#[derive(Debug, Default)]
pub struct StopSignal {
    root: Mutex<CancellationToken>,
}

impl StopSignal {
    /// A signal not yet stopped.
    pub fn new() -> StopSignal {
        StopSignal::default()
    }

    fn root(&self) -> CancellationToken {
        match self.root.lock() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A token for one operation: cancelled on Stop, and already cancelled after one.
    pub fn token(&self) -> CancellationToken {
        self.root().child_token()
    }

    /// Cancels every running operation and every later one, until [`StopSignal::rearm`].
    pub fn stop(&self) {
        self.root().cancel();
    }

    /// True once Stop has arrived (and no Configure re-armed since).
    pub fn is_stopped(&self) -> bool {
        self.root().is_cancelled()
    }

    /// Starts a fresh root after a Stop, for a new Terraform run.
    pub fn rearm(&self) {
        let mut root = match self.root.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        if root.is_cancelled() {
            *root = CancellationToken::new();
        }
    }
}

/// How Stop ended an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    /// Stop came first: the operation never ran.
    NotStarted,
    /// The operation was still running [`STOP_GRACE`] after Stop and was dropped.
    Abandoned,
}

impl Interrupted {
    /// The error a user reads; `what` names the operation (`create of freetier_age_key`).
    pub fn diagnostics(self, what: &str) -> Diagnostics {
        let mut d = Diagnostics::new();
        let detail = match self {
            Interrupted::NotStarted => format!(
                "Terraform asked the provider to stop, so the {what} did not start. Run the command again."
            ),
            Interrupted::Abandoned => format!(
                "Terraform asked the provider to stop; the {what} was still running {} ms later and was abandoned. Run the command again.",
                STOP_GRACE.as_millis()
            ),
        };
        d.error("Operation Cancelled", detail);
        d
    }
}

/// Runs `op` unless `token` is already cancelled; after cancellation, gives it
/// [`STOP_GRACE`] to return on its own, then drops it.
pub async fn watch<F: Future>(token: &CancellationToken, op: F) -> Result<F::Output, Interrupted> {
    if token.is_cancelled() {
        return Err(Interrupted::NotStarted);
    }
    tokio::pin!(op);
    tokio::select! {
        biased;
        out = &mut op => Ok(out),
        _ = async {
            token.cancelled().await;
            tokio::time::sleep(STOP_GRACE).await;
        } => Err(Interrupted::Abandoned),
    }
}
