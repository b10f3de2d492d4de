//! The real target: one sqlx connection, opened like `psql` opens it.
//!
//! Everything goes through the simple query protocol (`raw_sql`): values arrive as text, so
//! every PostgreSQL type is shown exactly as psql shows it. Rows are streamed to a callback,
//! so a check returning millions of rows does not hold them in memory.
//!
//! A read-only statement is sent in a message of its own, between `BEGIN READ ONLY; SET LOCAL
//! ...` and a message that checks the transaction is still the one it was sent in (read-only,
//! and begun before it) and rolls it back. The simple protocol runs every statement of a
//! message, so text around the check in the same message could be ended by a `COMMIT` inside
//! it; the engine judges the check to be one query first, and this proves it afterwards.
//!
//! An action outside a transaction (`transaction: false`) is alone in its message too, between
//! a message that sets its limits and one that resets them: PostgreSQL runs the statements of
//! one message as a transaction block, where `VACUUM` cannot run. Those messages are written
//! and streamed in `messages`; this file connects, runs them, and turns failures into errors.
//!
//! A password never leaves this module: the target is named `user@host:port/database`, and
//! every error text is scrubbed of the password before it is returned.

use std::str::FromStr;
use std::time::{Duration as StdDuration, Instant};

use sqlx::postgres::{PgConnectOptions, PgDatabaseError};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection};

use super::messages::{READS_AS_JUDGED, Streamed, autocommit, read_only, script, stream};
use super::redact::{query_password, redact, url_password};
use super::rows::Columns;
use super::{ConnectError, Fault, Limits, QueryError, Row, Summary, Target, Wrap};
use crate::engine::Backend;

/// Default bound on connecting, retries included (`PGCONNECT_TIMEOUT` overrides it).
const DEFAULT_CONNECT_TIMEOUT: StdDuration = StdDuration::from_secs(10);

/// How to reach the server, resolved from `--database-url`, `DATABASE_URL` or libpq's variables.
#[derive(Clone)]
pub struct Endpoint {
    options: PgConnectOptions,
    /// `user@host:port/database`, safe to print.
    pub display: String,
    /// Secrets to scrub from any text that leaves this module.
    secrets: Vec<String>,
    connect_timeout: StdDuration,
}

impl Endpoint {
    /// `url` from `--database-url` or `DATABASE_URL`; otherwise the PG* variables, ~/.pgpass and
    /// the local socket, as psql does.
    pub fn resolve(url: Option<&str>, application_name: &str) -> Result<Endpoint, ConnectError> {
        let mut secrets: Vec<String> = std::env::var("PGPASSWORD")
            .ok()
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect();
        let options = match url {
            Some(url) => {
                secrets.extend(url_password(url));
                secrets.extend(query_password(url));
                // An unparsable URL is never echoed: where its password sits cannot be known.
                PgConnectOptions::from_str(url).map_err(|error| ConnectError {
                    target: "the connection URL (not shown: it could not be parsed)".to_owned(),
                    reason: redact(&format!("invalid connection URL: {error}"), &secrets),
                })?
            }
            None => PgConnectOptions::new(),
        };
        // The judge parses strings as PostgreSQL does with `standard_conforming_strings = on`;
        // the server must split the text the same way, whatever the role, the database or the
        // URL's `options` say (a startup option wins over all of them).
        let options = options
            .application_name(application_name)
            .options([("standard_conforming_strings", "on")]);
        let display = describe(&options);
        let connect_timeout = std::env::var("PGCONNECT_TIMEOUT")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|&s| s > 0)
            .map_or(DEFAULT_CONNECT_TIMEOUT, StdDuration::from_secs);
        Ok(Endpoint {
            options,
            display,
            secrets,
            connect_timeout,
        })
    }

    /// Scrubs every known secret from `text`.
    pub fn redact(&self, text: &str) -> String {
        redact(text, &self.secrets)
    }

    /// Connects, retrying transient failures (refused, too many connections, starting up)
    /// with backoff until the connect timeout.
    pub async fn connect(&self) -> Result<Session, ConnectError> {
        let started = Instant::now();
        let deadline = started + self.connect_timeout;
        let mut delay = StdDuration::from_millis(100);
        loop {
            let attempt = tokio::time::timeout(
                deadline
                    .saturating_duration_since(Instant::now())
                    .max(StdDuration::from_millis(100)),
                self.options.connect(),
            )
            .await;
            let error = match attempt {
                Ok(Ok(connection)) => {
                    return Ok(Session {
                        connection: Some(connection),
                        endpoint: self.clone(),
                    });
                }
                Ok(Err(error)) => error,
                Err(_) => {
                    return Err(self.connect_error(format!(
                        "no answer within {} s (PGCONNECT_TIMEOUT)",
                        self.connect_timeout.as_secs()
                    )));
                }
            };
            let sqlstate = sqlstate_of(&error);
            let transient = matches!(sqlstate.as_deref(), Some("53300" | "57P03"))
                || matches!(error, sqlx::Error::Io(_));
            if !transient || Instant::now() + delay >= deadline {
                return Err(self.connect_error(explain_connect_error(
                    &error,
                    sqlstate.as_deref(),
                    started.elapsed(),
                    transient,
                )));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(StdDuration::from_secs(2));
        }
    }

    /// Cancels the query running in backend `pid` from a short side connection (sqlx cannot
    /// send a cancel request); best effort.
    pub async fn cancel_backend(&self, backend: &Backend) {
        if backend.started.contains('\'') {
            return;
        }
        if let Ok(mut side) = self.connect().await {
            let (pid, started) = (backend.pid, &backend.started);
            let sql = format!(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid = {pid} AND backend_start = '{started}'::timestamptz"
            );
            let _ = side
                .run(
                    &sql,
                    Wrap::Autocommit,
                    Limits::short(5, 1),
                    |_, _, _| Ok(()),
                )
                .await;
            side.close().await;
        }
    }

    fn connect_error(&self, reason: String) -> ConnectError {
        ConnectError {
            target: self.display.clone(),
            reason: self.redact(&reason),
        }
    }
}

/// One server connection for the whole run.
pub struct Session {
    connection: Option<PgConnection>,
    endpoint: Endpoint,
}

impl Target for Session {
    fn is_alive(&self) -> bool {
        self.connection.is_some()
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
        // The server enforces statement_timeout; this only guards against a server that no
        // longer answers at all.
        let client_timeout = limits.statement_timeout + StdDuration::from_secs(10);
        let work = async {
            match wrap {
                Wrap::ReadOnly => read_only(connection, sql, limits, on_row).await,
                Wrap::Transaction => {
                    // A message is parsed whole before any of it runs: the settings that
                    // decide how the server reads SQL are put back in a message of their own.
                    stream(connection, READS_AS_JUDGED.to_owned(), |_, _, _| Ok(())).await?;
                    stream(connection, script(sql, wrap, limits), on_row).await
                }
                Wrap::Autocommit => autocommit(connection, sql, limits, on_row).await,
            }
        };
        let outcome = tokio::time::timeout(client_timeout, work).await;
        match outcome {
            Ok(Ok(Streamed::Done(summary))) => Ok(summary),
            Ok(Ok(Streamed::Refused(message))) => {
                self.rollback(wrap).await;
                Err(QueryError::plain(message))
            }
            Ok(Ok(Streamed::Escaped)) => Err(QueryError {
                fault: Fault::EscapedTransaction,
                ..QueryError::plain(
                    "the check escaped its read-only transaction: what it ran after ending \
                     the transaction ran outside the read-only guarantee"
                        .to_owned(),
                )
            }),
            Ok(Err(error)) => {
                let error = query_error(&error, &self.endpoint.secrets);
                if error.connection_lost() {
                    self.connection = None;
                } else {
                    self.rollback(wrap).await;
                }
                Err(error)
            }
            Err(_) => {
                // The connection's state is unknown: do not reuse it.
                self.connection = None;
                Err(QueryError::lost(&format!(
                    "the server did not answer within {} s; the connection was abandoned",
                    client_timeout.as_secs()
                )))
            }
        }
    }

    async fn reconnect(&mut self) -> Result<(), ConnectError> {
        let fresh = self.endpoint.connect().await?;
        self.connection = fresh.connection;
        Ok(())
    }

    fn abandon(&mut self) {
        self.connection = None;
    }
}

impl Session {
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
            self.connection = None;
        }
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        if let Some(connection) = self.connection.take() {
            let _ = connection.close().await;
        }
    }
}

fn sqlstate_of(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(database) => database.code().map(|code| code.into_owned()),
        _ => None,
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

fn explain_connect_error(
    error: &sqlx::Error,
    sqlstate: Option<&str>,
    waited: StdDuration,
    retried: bool,
) -> String {
    let base = match error {
        sqlx::Error::Database(database) => database.message().to_owned(),
        other => other.to_string(),
    };
    let retried = if retried {
        format!(" (retried for {:.1} s)", waited.as_secs_f64())
    } else {
        String::new()
    };
    match sqlstate {
        Some("53300") => format!(
            "{base}{retried}. Every connection slot open to this role is taken; the last \
             `superuser_reserved_connections` slots are kept for superusers (and \
             `reserved_connections` ones for `pg_use_reserved_connections` members on \
             PostgreSQL 16+): connect as a superuser to get in, e.g. to run the emergency playbook"
        ),
        Some("57P03") => format!("{base}{retried}: the server is starting up or shutting down"),
        _ => format!("{base}{retried}"),
    }
}

/// `user@host:port/database` — what the run acts on, never with a password.
fn describe(options: &PgConnectOptions) -> String {
    let place = match options.get_socket() {
        Some(socket) => format!("{}:{}", socket.display(), options.get_port()),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    };
    let database = options.get_database().unwrap_or(options.get_username());
    format!("{}@{place}/{database}", options.get_username())
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
