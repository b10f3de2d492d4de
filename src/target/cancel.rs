//! Cancelling the query the engine's session runs, on the server: the one way it is done,
//! whatever asks for it (Ctrl-C, SIGTERM, SIGHUP, a step's timeout).
//!
//! sqlx cannot send PostgreSQL's cancel request, and dropping a query's future leaves it
//! running on the server; so a short side connection calls `pg_cancel_backend`. A pid alone
//! names nothing (the session may be gone and its pid reused): the cancel aims at the pid and
//! its `backend_start`. The [`Session`](super::Session) tells its canceller who it is each
//! time it connects, so after a reconnection a cancel reaches the new backend, never the old
//! pid; the canceller is shared, so the signal watcher holds the same one the session does.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration as StdDuration;

use super::messages::autocommit;
use super::{Endpoint, Limits};
use crate::engine::Backend;

/// How long a cancel may take, side connection included: past it the caller goes on as if
/// the server had not answered.
const CANCEL_BOUND: StdDuration = StdDuration::from_secs(5);

/// Cancels what the engine's session runs now; cloned, it is still the same session's.
#[derive(Clone)]
pub struct Canceller {
    endpoint: Endpoint,
    current: Arc<Mutex<Option<Backend>>>,
}

impl Canceller {
    pub(super) fn new(endpoint: Endpoint) -> Canceller {
        Canceller {
            endpoint,
            current: Arc::default(),
        }
    }

    /// The session is now `backend` (or none, when it is lost).
    pub(super) fn follow(&self, backend: Option<Backend>) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = backend;
    }

    /// The backend of the engine's session, while it has one.
    pub fn current(&self) -> Option<Backend> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Cancels the query of the session's current backend from a side connection, within
    /// `CANCEL_BOUND`; best effort: true when the server said it signalled the backend.
    pub async fn cancel(&self) -> bool {
        let Some(backend) = self.current() else {
            return false;
        };
        // Both come from the server (an int and a timestamp's text); the quote check only
        // keeps a surprising text from becoming SQL.
        if backend.started.contains('\'') {
            return false;
        }
        let (pid, started) = (backend.pid, &backend.started);
        let sql = format!(
            "SELECT pg_catalog.pg_cancel_backend(pid) FROM pg_catalog.pg_stat_activity WHERE pid = {pid} AND backend_start = '{started}'::timestamptz"
        );
        let cancel = async {
            let mut side = self.endpoint.open().await.ok()?;
            let mut signalled = false;
            let limits = Limits::short(5, 1);
            let ran = autocommit(&mut side, &sql, limits, |_, row, _| {
                signalled |= row.first().cloned().flatten().as_deref() == Some("t");
                Ok(())
            })
            .await;
            let _ = sqlx::Connection::close(side).await;
            ran.ok().map(|_| signalled)
        };
        matches!(
            tokio::time::timeout(CANCEL_BOUND, cancel).await,
            Ok(Some(true))
        )
    }
}
