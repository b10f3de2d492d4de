//! The engine's connection to the real server: one sqlx connection for the whole run (one at
//! a time: a reconnection replaces it).
//!
//! Everything goes through the simple query protocol (`raw_sql`): values arrive as text, so
//! every PostgreSQL type is shown exactly as psql shows it. Rows are streamed to a callback,
//! so a check returning millions of rows does not hold them in memory. How each statement is
//! wrapped in messages is `messages`' business; this file runs them under their bound and
//! turns failures into errors.
//!
//! A statement's limit bounds it here too, not only on the server: the server's
//! `statement_timeout` times each message by itself and only while the server works on it,
//! while a step waits for all of them, for rows a slow judge is still reading, or for a server
//! that no longer answers. When the bound passes, the session's [`Canceller`] cancels the
//! statement on the server, and the session waits (briefly) for the statement to end with the
//! cancel's error, so the connection stays usable for the next step.
//!
//! The session knows which backend it is (asked once per connection): its canceller aims at
//! that backend, and the engine's `facts.backend_pid` follows it across a reconnection.

use std::time::{Duration as StdDuration, Instant};

use sqlx::postgres::PgDatabaseError;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use super::cancel::Canceller;
use super::messages::{READS_AS_JUDGED, Streamed, autocommit, read_only, script, stream};
use super::redact::redact;
use super::rows::Columns;
use super::{ConnectError, Endpoint, Fault, Limits, QueryError, Row, Summary, Target, Wrap};
use crate::engine::Backend;

/// How long a statement may take to end once it was cancelled; past it the connection's
/// state is unknown and it is abandoned.
const AFTER_CANCEL: StdDuration = StdDuration::from_secs(5);

/// How much later than the server's own timers (`statement_timeout`, `lock_timeout`) the
/// session cancels: where one of them applies it ends the statement first, with more precise
/// words (a lock timeout is 55P03) and no side connection.
const SERVER_FIRST: StdDuration = StdDuration::from_millis(250);

/// Who the session is on the server: its pid, and its start (which a reused pid does not
/// share). The function under `pg_stat_activity`, for this one backend: the view joins the
/// catalogs of databases and roles, a third of the statement's cost on a fresh backend.
const IDENTIFY: &str = "SELECT pid::text, backend_start::text \
     FROM pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid())";

pub struct Session {
    connection: Option<PgConnection>,
    endpoint: Endpoint,
    canceller: Canceller,
    backend: Option<Backend>,
}

impl Session {
    /// Connects and learns which backend the session is.
    pub(super) async fn start(endpoint: &Endpoint) -> Result<Session, ConnectError> {
        let mut session = Session {
            connection: None,
            endpoint: endpoint.clone(),
            canceller: Canceller::new(endpoint.clone()),
            backend: None,
        };
        session.connect().await?;
        Ok(session)
    }

    /// What cancels the session's running query, wherever it is asked from; it follows the
    /// session across a reconnection.
    pub fn canceller(&self) -> Canceller {
        self.canceller.clone()
    }

    async fn connect(&mut self) -> Result<(), ConnectError> {
        self.forget();
        let mut connection = self.endpoint.open().await?;
        let backend = identify(&mut connection).await.map_err(|reason| {
            self.endpoint.connect_error(format!(
                "cannot tell which session is the engine's: {reason}"
            ))
        })?;
        self.canceller.follow(Some(backend.clone()));
        self.backend = Some(backend);
        self.connection = Some(connection);
        Ok(())
    }

    /// Drops the connection: nothing more runs on it, and nothing is cancelled in its name.
    fn forget(&mut self) {
        self.connection = None;
        self.backend = None;
        self.canceller.follow(None);
    }

    /// Leaves an aborted transaction so the next step starts clean.
    async fn rollback(&mut self, wrap: Wrap) {
        if wrap == Wrap::Autocommit {
            return;
        }
        if let Some(connection) = self.connection.as_mut()
            && sqlx::raw_sql(AssertSqlSafe("ROLLBACK".to_owned()))
                .execute(&mut *connection)
                .await
                .is_err()
        {
            self.forget();
        }
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        self.canceller.follow(None);
        if let Some(connection) = self.connection.take() {
            let _ = connection.close().await;
        }
    }
}

impl Target for Session {
    fn is_alive(&self) -> bool {
        self.connection.is_some()
    }

    fn backend(&self) -> Option<Backend> {
        self.backend.clone()
    }

    async fn run(
        &mut self,
        sql: &str,
        wrap: Wrap,
        limits: Limits,
        on_row: impl FnMut(&Columns, Row, bool) -> Result<(), String>,
    ) -> Result<Summary, QueryError> {
        let Some(connection) = self.connection.as_mut() else {
            return Err(QueryError::lost(
                "the connection to the server was lost earlier in the run",
            ));
        };
        let started = Instant::now();
        let work = send(connection, sql, wrap, limits, on_row);
        let deadline = limits.bound() + SERVER_FIRST;
        let (ended, cancelled) = bounded(work, deadline, &self.canceller).await;
        let Some(ended) = ended else {
            // The statement did not end even when cancelled: the connection's state is
            // unknown, so it is not reused.
            self.forget();
            return Err(QueryError::lost(&format!(
                "timed out after {}; the server did not end the query when it was cancelled, so the connection was abandoned",
                humantime::format_duration(limits.bound())
            )));
        };
        match ended {
            Ok(Streamed::Done(summary)) => Ok(summary),
            Ok(Streamed::Refused(message)) => {
                self.rollback(wrap).await;
                Err(QueryError::plain(message))
            }
            Ok(Streamed::Escaped) => Err(QueryError {
                fault: Fault::EscapedTransaction,
                ..QueryError::plain(
                    "the check escaped its read-only transaction: what it ran after ending \
                     the transaction ran outside the read-only guarantee"
                        .to_owned(),
                )
            }),
            Err(error) => {
                let mut error = query_error(&error, self.endpoint.secrets());
                // The server's own statement_timeout comes no earlier than the bound here.
                let timed_out = cancelled
                    || (error.sqlstate.as_deref() == Some(QUERY_CANCELED)
                        && started.elapsed() >= limits.bound());
                if timed_out && !error.connection_lost() {
                    error = error.past(limits);
                }
                if error.connection_lost() {
                    self.forget();
                } else {
                    self.rollback(wrap).await;
                }
                Err(error)
            }
        }
    }

    async fn reconnect(&mut self) -> Result<(), ConnectError> {
        self.connect().await
    }

    fn abandon(&mut self) {
        self.forget();
    }
}

/// Sends `sql` in the messages its wrapping takes (`messages`) and streams its rows.
async fn send(
    connection: &mut PgConnection,
    sql: &str,
    wrap: Wrap,
    limits: Limits,
    on_row: impl FnMut(&Columns, Row, bool) -> Result<(), String>,
) -> Result<Streamed, sqlx::Error> {
    match wrap {
        Wrap::ReadOnly => read_only(connection, sql, limits, on_row).await,
        Wrap::Transaction => {
            // A message is parsed whole before any of it runs: the settings that decide how
            // the server reads SQL are put back in a message of their own.
            stream(connection, READS_AS_JUDGED.to_owned(), |_, _, _| Ok(())).await?;
            stream(connection, script(sql, wrap, limits), on_row).await
        }
        Wrap::Autocommit => autocommit(connection, sql, limits, on_row).await,
    }
}

/// `work` within `bound`; past it, the statement is cancelled on the server and `work` gets
/// `AFTER_CANCEL` to end (with the cancel's error, normally). `None` when it did not end;
/// `true` when it was cancelled.
async fn bounded<T>(
    work: impl Future<Output = T>,
    bound: StdDuration,
    canceller: &Canceller,
) -> (Option<T>, bool) {
    let mut work = std::pin::pin!(work);
    match tokio::time::timeout(bound, &mut work).await {
        Ok(ended) => (Some(ended), false),
        Err(_) => {
            canceller.cancel().await;
            (tokio::time::timeout(AFTER_CANCEL, work).await.ok(), true)
        }
    }
}

/// `query_canceled`: a cancel, or a statement_timeout.
const QUERY_CANCELED: &str = "57014";

/// The backend of a connection just opened.
async fn identify(connection: &mut PgConnection) -> Result<Backend, String> {
    let mut cells = Vec::new();
    let asked = stream(connection, IDENTIFY.to_owned(), |_, row, _| {
        cells = row;
        Ok(())
    });
    match tokio::time::timeout(AFTER_CANCEL, asked).await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => return Err(error.to_string()),
        Err(_) => return Err("the server did not answer".to_owned()),
    }
    let mut cells = cells.into_iter();
    let pid = cells.next().flatten().and_then(|pid| pid.parse().ok());
    match (pid, cells.next().flatten()) {
        (Some(pid), Some(started)) => Ok(Backend { pid, started }),
        _ => Err("the server did not list it in `pg_stat_activity`".to_owned()),
    }
}

fn query_error(error: &sqlx::Error, secrets: &[String]) -> QueryError {
    let scrub = |text: &str| redact(text, secrets);
    if let sqlx::Error::Database(database) = error {
        let pg = database.try_downcast_ref::<PgDatabaseError>();
        let sqlstate = database.code().map(|c| c.into_owned());
        // 57P01 admin_shutdown / terminated by administrator: the session is gone.
        let connection_lost = matches!(sqlstate.as_deref(), Some("57P01" | "57P02" | "57P03"));
        return QueryError {
            message: scrub(database.message()),
            sqlstate,
            detail: pg.and_then(PgDatabaseError::detail).map(scrub),
            hint: pg.and_then(PgDatabaseError::hint).map(scrub),
            fault: if connection_lost {
                Fault::ConnectionLost
            } else {
                Fault::Statement
            },
        };
    }
    QueryError {
        message: scrub(&format!("the connection to the server was lost: {error}")),
        sqlstate: None,
        detail: None,
        hint: None,
        fault: Fault::ConnectionLost,
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_action_is_one_message_with_its_limits_and_others_are_alone() {
        let limits = Limits {
            statement_timeout: StdDuration::from_secs(30),
            lock_timeout: StdDuration::from_secs(5),
        };
        assert_eq!(
            script(
                "UPDATE t SET a = 1 -- trailing comment\n",
                Wrap::Transaction,
                limits
            ),
            "BEGIN;\nSET LOCAL statement_timeout = 30000;\nSET LOCAL lock_timeout = 5000;\nUPDATE t SET a = 1 -- trailing comment\n;\nCOMMIT;"
        );
        assert_eq!(script("SELECT 1\n", Wrap::ReadOnly, limits), "SELECT 1");
        assert_eq!(script("VACUUM t\n", Wrap::Autocommit, limits), "VACUUM t");
    }

    /// Runs `test` on a runtime of the current thread, as the engine runs.
    fn block_on<F: Future>(test: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(test)
    }

    /// A session of the local server.
    async fn local_session() -> Session {
        let url = "postgres:///postgres?host=/var/run/postgresql";
        let endpoint = Endpoint::resolve(Some(url), "runbook:unit-test").unwrap();
        endpoint.connect().await.expect("the local PostgreSQL runs")
    }

    /// The session's `statement_timeout` and `lock_timeout`, as `SHOW` says them.
    async fn session_limits(session: &mut Session) -> Vec<Option<String>> {
        let connection = session.connection.as_mut().expect("connected");
        let mut limits = Vec::new();
        let sql = "SHOW statement_timeout; SHOW lock_timeout".to_owned();
        stream(connection, sql, |_, row, _| {
            limits.extend(row);
            Ok(())
        })
        .await
        .expect("SHOW runs");
        limits
    }

    /// Against the local server: outside a transaction block, and the session's limits are
    /// the same afterwards, whether the statement succeeded or ran into its timeout.
    #[test]
    fn an_autocommit_statement_runs_alone_and_leaves_no_limits_behind() {
        block_on(async {
            let mut session = local_session().await;
            let before = session_limits(&mut session).await;
            let limits = Limits {
                statement_timeout: StdDuration::from_millis(300),
                lock_timeout: StdDuration::from_millis(200),
            };
            let mut level = None;
            let outside = session
                .run(
                    "SELECT pg_catalog.current_setting('statement_timeout') -- a comment",
                    Wrap::Autocommit,
                    limits,
                    |_, row, _| {
                        level = row.first().cloned().flatten();
                        Ok(())
                    },
                )
                .await;
            assert_eq!(outside.map(|s| s.row_count).ok(), Some(1));
            assert_eq!(
                level.as_deref(),
                Some("300ms"),
                "the statement ran under its limits"
            );
            assert_eq!(session_limits(&mut session).await, before);
            let vacuum = session
                .run(
                    "VACUUM pg_catalog.pg_am",
                    Wrap::Autocommit,
                    limits,
                    |_, _, _| Ok(()),
                )
                .await;
            assert!(vacuum.is_ok(), "outside a transaction block: {vacuum:?}");
            let timed_out = session
                .run("SELECT pg_sleep(5)", Wrap::Autocommit, limits, |_, _, _| {
                    Ok(())
                })
                .await
                .unwrap_err();
            assert_eq!(timed_out.sqlstate.as_deref(), Some("57014"));
            assert!(session.is_alive());
            assert_eq!(session_limits(&mut session).await, before);
            session.close().await;
        });
    }

    /// Against the local server: a statement that ends its read-only transaction is caught.
    #[test]
    fn a_read_only_statement_that_ends_its_transaction_is_caught() {
        block_on(async {
            let mut session = local_session().await;
            let limits = Limits::short(5, 1);
            let ok = session
                .run("SELECT 1 AS one", Wrap::ReadOnly, limits, |_, _, _| Ok(()))
                .await;
            assert_eq!(ok.map(|s| s.row_count).ok(), Some(1));
            let escaped = session
                .run(
                    "SELECT 1; COMMIT; SELECT 2",
                    Wrap::ReadOnly,
                    limits,
                    |_, _, _| Ok(()),
                )
                .await
                .unwrap_err();
            assert_eq!(escaped.fault, Fault::EscapedTransaction);
            // Ending the transaction and opening another read-only one is caught too.
            let forged = session
                .run(
                    "SELECT 1; COMMIT; BEGIN READ ONLY; SELECT 2",
                    Wrap::ReadOnly,
                    limits,
                    |_, _, _| Ok(()),
                )
                .await
                .unwrap_err();
            assert_eq!(forged.fault, Fault::EscapedTransaction);
            // The session is usable and outside any transaction afterwards.
            let after = session
                .run("SELECT 3", Wrap::ReadOnly, limits, |_, _, _| Ok(()))
                .await;
            assert!(after.is_ok(), "{after:?}");
            session.close().await;
        });
    }
}
