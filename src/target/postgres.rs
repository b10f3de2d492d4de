//! Reaching the real server: where it is (resolved like `psql` resolves it) and connecting,
//! with retries of what is transient. The engine's connection is a [`Session`] (`session`); a
//! cancel's side connection (`cancel`) is opened here too.
//!
//! A password never leaves the target: it is named `user@host:port/database`, built from the
//! resolved spec's fields (`spec`), and the driver never sees the connection string, only
//! those fields, so its errors cannot quote it.

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{ConnectOptions, PgConnection};

use super::redact::redact;
use super::spec::{self, ConnSpec, Environment, Host, Source, SslMode};
use super::{ConnectError, Session};

/// Default bound on connecting, retries included (`connect_timeout`, `PGCONNECT_TIMEOUT`
/// override it).
const DEFAULT_CONNECT_TIMEOUT: StdDuration = StdDuration::from_secs(10);

/// What hears why a connection attempt is retried.
type RetryTold = dyn Fn(&str) + Send + Sync;

/// How to reach the server, resolved from `--database-url`, `DATABASE_URL` or libpq's variables.
#[derive(Clone)]
pub struct Endpoint {
    options: PgConnectOptions,
    /// `user@host:port/database`, safe to print.
    pub display: String,
    /// What libpq would have warned about while resolving (a password file others may read).
    pub warnings: Vec<String>,
    /// The password, scrubbed from the driver's texts as a last guard (see `redact`).
    secrets: Vec<String>,
    connect_timeout: StdDuration,
    /// Told why a connection attempt will be retried, before the wait (see
    /// [`Endpoint::on_retry`]).
    on_retry: Option<Arc<RetryTold>>,
}

impl Endpoint {
    /// Has `tell` hear, before each wait between connection attempts, why it waits: the
    /// terminal shows it instead of staying blank for the connect timeout.
    pub fn on_retry(&mut self, tell: impl Fn(&str) + Send + Sync + 'static) {
        self.on_retry = Some(Arc::new(tell));
    }

    /// `conninfo` from `--database-url` or `DATABASE_URL` (a URL or `keyword=value` pairs),
    /// with the service it names, the PG* variables, ~/.pgpass and libpq's defaults, as psql
    /// resolves them (see `spec`).
    pub fn resolve(
        conninfo: Option<&str>,
        application_name: &str,
    ) -> Result<Endpoint, ConnectError> {
        Endpoint::resolve_in(conninfo, application_name, &Environment::current())
    }

    /// [`Endpoint::resolve`] in `env`. A spec that does not resolve (a service found nowhere, an
    /// unknown keyword) is an error before any connection is attempted.
    pub fn resolve_in(
        conninfo: Option<&str>,
        application_name: &str,
        env: &Environment,
    ) -> Result<Endpoint, ConnectError> {
        let spec = spec::resolve(conninfo, env).map_err(|error| ConnectError {
            target: error.target(),
            reason: error.to_string(),
        })?;
        // The judge parses strings as PostgreSQL does with `standard_conforming_strings = on`;
        // the server must split the text the same way, whatever the role, the database or the
        // spec's `options` say (a startup option wins over all of them).
        let options = connect_options(&spec)
            .application_name(application_name)
            .options([("standard_conforming_strings", "on")]);
        Ok(Endpoint {
            options,
            display: spec.to_string(),
            secrets: spec
                .password
                .iter()
                .map(|p| p.expose().to_owned())
                .collect(),
            connect_timeout: spec
                .connect_timeout
                .map_or(DEFAULT_CONNECT_TIMEOUT, StdDuration::from_secs),
            warnings: spec.warnings,
            on_retry: None,
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
    pub(crate) async fn open(&self) -> Result<PgConnection, ConnectError> {
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
            if let Some(tell) = &self.on_retry {
                let left = deadline.saturating_duration_since(Instant::now());
                tell(&format!(
                    "{}; retrying for up to {} s more",
                    waiting_for(sqlstate.as_deref()),
                    left.as_secs_f64().ceil()
                ));
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

/// What a transient failure waits for, in a few words (the full story is the error's, if
/// the wait ends without a connection).
fn waiting_for(sqlstate: Option<&str>) -> &'static str {
    match sqlstate {
        Some("53300") => "every connection slot is taken",
        Some("57P03") => "the server is starting up or shutting down",
        _ => "the server does not answer",
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

/// The driver's options for `spec`: every field set from the spec, none left to sqlx's own
/// reading of the environment or of ~/.pgpass (which matches the environment's host, not the
/// spec's).
///
/// sqlx starts from the environment and has no way to unset what it read there; the only
/// value that can differ is `PGOPTIONS`, which sqlx keeps when the spec's `options` come from
/// elsewhere (the spec's settings are sent after it, so they win where both set one).
pub fn connect_options(spec: &ConnSpec) -> PgConnectOptions {
    // libpq never asks for SSL on a Unix socket, whatever `sslmode` says, and the server
    // refuses it there: asking would cost every connection a round trip, and `require` would
    // lock the operator out of the local server that psql reaches.
    let socket = spec.hostaddr.is_none() && matches!(spec.host, Host::Socket(_));
    let mut options = PgConnectOptions::new_without_pgpass()
        .port(spec.port)
        .username(&spec.user)
        .database(&spec.dbname)
        .ssl_mode(match spec.sslmode {
            _ if socket => PgSslMode::Disable,
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Allow => PgSslMode::Allow,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require => PgSslMode::Require,
            SslMode::VerifyCa => PgSslMode::VerifyCa,
            SslMode::VerifyFull => PgSslMode::VerifyFull,
        });
    options = match (&spec.hostaddr, &spec.host) {
        (Some(address), _) => options.host(&address.to_string()),
        (None, Host::Tcp(host)) => options.host(host),
        (None, Host::Socket(dir)) => options.socket(dir),
    };
    if let Some(password) = &spec.password {
        options = options.password(password.expose());
    }
    if let Some(cert) = &spec.sslcert {
        options = options.ssl_client_cert(cert);
    }
    if let Some(key) = &spec.sslkey {
        options = options.ssl_client_key(key);
    }
    if let Some(root) = &spec.sslrootcert {
        options = options.ssl_root_cert(root);
    }
    if let Some((settings, source)) = &spec.options
        && *source != Source::Env("PGOPTIONS")
    {
        options = options.options(settings.iter().map(|(k, v)| (k, v)));
    }
    options
}
