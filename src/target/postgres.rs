//! Reaching the real server: where it is (resolved like `psql` resolves it) and connecting,
//! with retries of what is transient. The engine's connection is a [`Session`] (`session`); a
//! cancel's side connection (`cancel`) is opened here too.
//!
//! A password never leaves the target: it is named `user@host:port/database`, and every error
//! text is scrubbed of the password before it is returned.

use std::str::FromStr;
use std::time::{Duration as StdDuration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgConnection};

use super::redact::{query_password, redact, url_password};
use super::{ConnectError, Session};

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

    /// Connects the engine's session (see [`Session`]), retrying transient failures with
    /// backoff until the connect timeout.
    pub async fn connect(&self) -> Result<Session, ConnectError> {
        Session::start(self).await
    }

    /// Opens a connection, retrying transient failures (refused, too many connections,
    /// starting up) with backoff until the connect timeout.
    pub(super) async fn open(&self) -> Result<PgConnection, ConnectError> {
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
                Ok(Ok(connection)) => return Ok(connection),
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

    /// The secrets scrubbed from every text that leaves the target.
    pub(super) fn secrets(&self) -> &[String] {
        &self.secrets
    }

    pub(super) fn connect_error(&self, reason: String) -> ConnectError {
        ConnectError {
            target: self.display.clone(),
            reason: self.redact(&reason),
        }
    }
}

fn sqlstate_of(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(database) => database.code().map(|code| code.into_owned()),
        _ => None,
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
