//! The database a run acts on, as the engine sees it: a seam with one way to send SQL.
//!
//! The engine only ever calls [`Target`]: run a statement wrapped as asked and stream its rows,
//! say whether the connection is alive and which backend it is, reconnect, give up.
//! [`Session`] is the real one (one sqlx connection, simple protocol, reached through an
//! [`Endpoint`]); unit tests of the engine use a scripted fake, so the engine's decisions are
//! tested without a server. [`Canceller`] is the one way the engine's running query is
//! cancelled on the server.

mod cancel;
mod messages;
pub mod postgres;
mod redact;
pub mod rows;
mod session;
pub mod spec;

use std::time::Duration as StdDuration;

use thiserror::Error;

pub use cancel::Canceller;
pub use postgres::Endpoint;
use rows::Columns;
pub use session::Session;

use crate::engine::Backend;

/// How a statement is wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrap {
    /// In a READ ONLY transaction that is rolled back, and that the statement cannot end:
    /// checks and previews.
    ReadOnly,
    /// In a transaction committed on success: actions.
    Transaction,
    /// Alone, outside a transaction block (`transaction: false`).
    Autocommit,
}

/// Limits a statement runs under. `statement_timeout` bounds the statement on both sides: the
/// server's timer, and the session's own deadline, after which the session cancels it on the
/// server (rows streaming, waiting for an answer, a terminate's `wait` all count).
///
/// Each statement is bounded by itself, not the step as a sum: an action's preview and its
/// statement each get the step's `timeout`, and the operator's time at the approval prompt
/// between them is nobody's timeout — the prompt waits for a person, who may take a while
/// to read what will be done, and a timeout that ran out while they read would refuse the
/// action they approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub statement_timeout: StdDuration,
    pub lock_timeout: StdDuration,
}

impl Limits {
    /// Limits for the engine's own short statements (facts, lock, recovery, cancel).
    pub const fn short(statement_secs: u64, lock_secs: u64) -> Limits {
        Limits {
            statement_timeout: StdDuration::from_secs(statement_secs),
            lock_timeout: StdDuration::from_secs(lock_secs),
        }
    }
}

impl Limits {
    /// How long the statement may take, as the server takes it (see `millis`).
    pub fn bound(self) -> StdDuration {
        StdDuration::from_millis(self.millis().0 as u64)
    }

    /// Both limits in milliseconds, at least 1 (0 would mean no limit to the server) and at
    /// most what the server accepts (an `int`).
    pub fn millis(self) -> (u128, u128) {
        let bounded = |limit: StdDuration| limit.as_millis().clamp(1, i32::MAX as u128);
        (bounded(self.statement_timeout), bounded(self.lock_timeout))
    }
}

/// The result of a statement, after its rows were streamed.
#[derive(Debug, Default)]
pub struct Summary {
    pub columns: Columns,
    pub row_count: u64,
    /// The counts of the message's command tags, summed (`UPDATE 3` → 3; `BEGIN`, `SET` and
    /// `COMMIT` count 0): what the statement changed, or for a `SELECT` what it returned.
    pub rows_affected: u64,
}

/// One row as it streams: the result's columns, the row's cells as text, and whether the row
/// starts a new result set (only the last set is the step's result).
pub type Row = Vec<Option<String>>;

/// A failed connection attempt, with a message that names the target but not the password.
#[derive(Debug, Error)]
#[error("cannot connect to `{target}`: {reason}")]
pub struct ConnectError {
    pub target: String,
    pub reason: String,
}

/// An SQL error, with PostgreSQL's fields where the server sent them.
#[derive(Debug, Clone, Error)]
#[error("{message}")]
pub struct QueryError {
    pub message: String,
    pub sqlstate: Option<String>,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub fault: Fault,
}

/// What kind of failure a query error is, beyond its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The statement failed; the connection is fine.
    Statement,
    /// The connection is gone (or in an unknown state): nothing more can run on it.
    ConnectionLost,
    /// A read-only statement ended the transaction it was sent in: whatever it ran after
    /// that ran outside the read-only guarantee.
    EscapedTransaction,
    /// The statement ran past its limit and was cancelled on the server: what it did before
    /// may stand (only a transaction it was wrapped in is rolled back).
    TimedOut { after: StdDuration },
}

impl QueryError {
    /// An error raised on this side (not by the server).
    pub fn plain(message: String) -> QueryError {
        QueryError {
            message,
            sqlstate: None,
            detail: None,
            hint: None,
            fault: Fault::Statement,
        }
    }

    /// The connection is gone.
    pub fn lost(message: &str) -> QueryError {
        QueryError {
            fault: Fault::ConnectionLost,
            ..QueryError::plain(message.to_owned())
        }
    }

    pub fn connection_lost(&self) -> bool {
        self.fault == Fault::ConnectionLost
    }

    /// How long the statement ran before it was cancelled, as a person reads it (`2s`,
    /// `1m 30s`), when it timed out.
    pub fn timed_out_after(&self) -> Option<String> {
        match self.fault {
            Fault::TimedOut { after } => Some(humantime::format_duration(after).to_string()),
            _ => None,
        }
    }

    /// This error (the cancel's, or the server's own `statement_timeout`) as what it means: the
    /// statement ran past `limits` and was cancelled. The server's words are kept as detail.
    pub fn past(self, limits: Limits) -> QueryError {
        let timed_out = QueryError {
            detail: self.detail.or(Some(self.message)),
            fault: Fault::TimedOut {
                after: limits.bound(),
            },
            message: String::new(),
            ..self
        };
        let after = timed_out.timed_out_after().unwrap_or_default();
        QueryError {
            message: format!("timed out after {after}; the query was cancelled on the server"),
            ..timed_out
        }
    }
}

/// A server the engine runs SQL on.
pub trait Target {
    /// Whether statements can still be sent.
    fn is_alive(&self) -> bool;

    /// The server's backend of the connection, while there is one: after a reconnection it
    /// is another.
    fn backend(&self) -> Option<Backend>;

    /// Runs `sql` wrapped as asked, streaming each row to `on_row` (with `true` when the row
    /// starts a new result set). `on_row` may fail the statement by returning a message.
    async fn run(
        &mut self,
        sql: &str,
        wrap: Wrap,
        limits: Limits,
        on_row: impl FnMut(&Columns, Row, bool) -> Result<(), String>,
    ) -> Result<Summary, QueryError>;

    /// Opens a new connection in place of a lost one.
    async fn reconnect(&mut self) -> Result<(), ConnectError>;

    /// Drops the connection: nothing more runs on it.
    fn abandon(&mut self);
}

#[cfg(test)]
pub mod fake;
