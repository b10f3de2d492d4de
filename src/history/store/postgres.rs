//! The shared store: a PostgreSQL database that several hosts write their runs to, in a schema
//! of its own (`runbook_history`), created by the first run that finds none.
//!
//! It is reached like a target (`target::Endpoint`: the spec resolved as psql resolves it, the
//! driver never given the URL, every text scrubbed of the password), on one connection of its
//! own. Two runs that create the schema at once take turns on a transaction-scoped advisory
//! lock, and each re-creates only what is missing (`IF NOT EXISTS`), so neither fails.

use sqlx::{Connection as _, PgConnection, Row as _};

use super::entry::NO_LABELS;
use super::{Access, Entry, Filter, Point, RunRow, SCHEMA_VERSION, StoreError};
use crate::history::{Past, Sample};
use crate::target::Endpoint;

/// The schema, version 1, as the SQLite store's (metric labels a JSON object's text).
const SCHEMA: &str = "
CREATE SCHEMA IF NOT EXISTS runbook_history;
CREATE TABLE IF NOT EXISTS runbook_history.runs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    playbook text NOT NULL,
    target text NOT NULL,
    fleet_name text,
    started_ms bigint NOT NULL,
    duration_ms bigint NOT NULL,
    mode text NOT NULL,
    status text NOT NULL,
    exit_code integer NOT NULL,
    why text
);
CREATE INDEX IF NOT EXISTS runs_by_target ON runbook_history.runs (playbook, target, started_ms);
CREATE INDEX IF NOT EXISTS runs_by_start ON runbook_history.runs (started_ms);
CREATE TABLE IF NOT EXISTS runbook_history.steps (
    run_id bigint NOT NULL REFERENCES runbook_history.runs (id) ON DELETE CASCADE,
    position integer NOT NULL,
    step text NOT NULL,
    status text NOT NULL,
    message text,
    duration_ms bigint NOT NULL,
    PRIMARY KEY (run_id, position)
);
CREATE TABLE IF NOT EXISTS runbook_history.metrics (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id bigint NOT NULL REFERENCES runbook_history.runs (id) ON DELETE CASCADE,
    step text NOT NULL,
    name text NOT NULL,
    unit text NOT NULL,
    labels text NOT NULL,
    value double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_by_run ON runbook_history.metrics (run_id, step, name);
CREATE TABLE IF NOT EXISTS runbook_history.version (version integer NOT NULL);
";

/// Bounds on the store's statements: a store that hangs must not hold the run.
const LIMITS: &str = "SET statement_timeout = '10s'; SET lock_timeout = '5s'";

pub(super) struct Postgres {
    connection: PgConnection,
    endpoint: Endpoint,
    /// A store read before any run created its schema: it is empty.
    empty: bool,
}

impl Postgres {
    pub(super) async fn open(conninfo: &str, access: Access) -> Result<Postgres, StoreError> {
        let endpoint = Endpoint::resolve(Some(conninfo), "runbook:history").map_err(|error| {
            StoreError::Open {
                store: error.target,
                reason: error.reason,
            }
        })?;
        let mut connection = endpoint.open().await.map_err(|error| StoreError::Open {
            store: error.target,
            reason: error.reason,
        })?;
        let migrated = migrate(&mut connection, access).await;
        let mut store = Postgres {
            connection,
            endpoint,
            empty: false,
        };
        match migrated {
            Ok(tables) => store.empty = !tables,
            Err(Migration::Failed(error)) => {
                return Err(StoreError::Open {
                    store: store.endpoint.display.clone(),
                    reason: store.reason(&error),
                });
            }
            Err(Migration::Newer(found)) => {
                return Err(StoreError::Newer {
                    store: store.endpoint.display.clone(),
                    found,
                });
            }
        }
        Ok(store)
    }

    pub(super) fn name(&self) -> String {
        self.endpoint.display.clone()
    }

    fn reason(&self, error: &sqlx::Error) -> String {
        let text = match error {
            sqlx::Error::Database(database) => database.message().to_owned(),
            other => other.to_string(),
        };
        self.endpoint.redact(&text)
    }

    fn failed(&self, error: &sqlx::Error) -> StoreError {
        StoreError::Failed {
            store: self.endpoint.display.clone(),
            reason: self.reason(error),
        }
    }

    pub(super) async fn past(
        &mut self,
        playbook: &str,
        target: &str,
        metrics: &[String],
        since_ms: i64,
    ) -> Result<Past, StoreError> {
        let mut past = Past::default();
        if self.empty {
            return Ok(past);
        }
        let (steps, names): (Vec<&str>, Vec<&str>) =
            metrics.iter().filter_map(|m| m.split_once('.')).unzip();
        let rows = sqlx::query(
            "SELECT r.started_ms, m.step, m.name, m.value
               FROM runbook_history.runs r JOIN runbook_history.metrics m ON m.run_id = r.id
              WHERE r.playbook = $1 AND r.target = $2 AND r.started_ms >= $3 AND m.labels = $4
                AND (m.step, m.name) IN (SELECT * FROM unnest($5::text[], $6::text[]))",
        )
        .bind(playbook)
        .bind(target)
        .bind(since_ms)
        .bind(NO_LABELS)
        .bind(steps)
        .bind(names)
        .fetch_all(&mut self.connection)
        .await
        .map_err(|error| self.failed(&error))?;
        for row in rows {
            let read = || -> Result<(String, Sample), sqlx::Error> {
                let (step, name): (String, String) = (row.try_get(1)?, row.try_get(2)?);
                let sample = Sample {
                    at_ms: row.try_get(0)?,
                    value: row.try_get(3)?,
                };
                Ok((format!("{step}.{name}"), sample))
            };
            let (metric, sample) = read().map_err(|error| self.failed(&error))?;
            past.push(&metric, sample);
        }
        Ok(past)
    }

    pub(super) async fn write(&mut self, entry: &Entry) -> Result<(), StoreError> {
        let written = write(&mut self.connection, entry).await;
        written.map_err(|error| self.failed(&error))
    }

    pub(super) async fn prune(&mut self, before_ms: i64) -> Result<u64, StoreError> {
        if self.empty {
            return Ok(0);
        }
        // The steps and metrics go with their runs (`ON DELETE CASCADE`), in the one statement.
        let deleted = sqlx::query("DELETE FROM runbook_history.runs WHERE started_ms < $1")
            .bind(before_ms)
            .execute(&mut self.connection)
            .await
            .map_err(|error| self.failed(&error))?;
        Ok(deleted.rows_affected())
    }

    pub(super) async fn runs(&mut self, filter: &Filter) -> Result<Vec<RunRow>, StoreError> {
        if self.empty {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT started_ms, playbook, target, fleet_name, status, duration_ms, why
               FROM runbook_history.runs r
              WHERE ($1::text IS NULL OR r.playbook = $1)
                AND ($2::text IS NULL OR r.target = $2 OR r.fleet_name = $2)
                AND ($3::bigint IS NULL OR r.started_ms >= $3)
              ORDER BY started_ms DESC, id DESC LIMIT $4",
        )
        .bind(&filter.playbook)
        .bind(&filter.target)
        .bind(filter.since_ms)
        .bind(limit(filter))
        .fetch_all(&mut self.connection)
        .await
        .map_err(|error| self.failed(&error))?;
        rows.iter()
            .map(RunRow::read)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|error| self.failed(&error))
    }

    pub(super) async fn points(&mut self, filter: &Filter) -> Result<Vec<Point>, StoreError> {
        if self.empty {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "WITH chosen AS (
                SELECT id, started_ms, playbook, target FROM runbook_history.runs r
                 WHERE ($1::text IS NULL OR r.playbook = $1)
                   AND ($2::text IS NULL OR r.target = $2 OR r.fleet_name = $2)
                   AND ($3::bigint IS NULL OR r.started_ms >= $3)
                   AND EXISTS (SELECT 1 FROM runbook_history.metrics e
                                WHERE e.run_id = r.id AND ($4::text IS NULL OR e.step = $4)
                                  AND ($5::text IS NULL OR e.name = $5))
                 ORDER BY started_ms DESC, id DESC LIMIT $6)
             SELECT c.started_ms, c.playbook, c.target, m.step, m.name, m.labels, m.value
               FROM chosen c JOIN runbook_history.metrics m ON m.run_id = c.id
              WHERE ($4::text IS NULL OR m.step = $4) AND ($5::text IS NULL OR m.name = $5)
              ORDER BY c.started_ms, c.id, m.id",
        )
        .bind(&filter.playbook)
        .bind(&filter.target)
        .bind(filter.since_ms)
        .bind(&filter.step)
        .bind(&filter.metric)
        .bind(limit(filter))
        .fetch_all(&mut self.connection)
        .await
        .map_err(|error| self.failed(&error))?;
        rows.iter()
            .map(Point::read)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|error| self.failed(&error))
    }

    pub(super) async fn close(self) {
        let _ = self.connection.close().await;
    }
}

impl super::Columns for sqlx::postgres::PgRow {
    type Error = sqlx::Error;
    fn int(&self, at: usize) -> Result<i64, sqlx::Error> {
        self.try_get(at)
    }
    fn real(&self, at: usize) -> Result<f64, sqlx::Error> {
        self.try_get(at)
    }
    fn text(&self, at: usize) -> Result<String, sqlx::Error> {
        self.try_get(at)
    }
    fn maybe_text(&self, at: usize) -> Result<Option<String>, sqlx::Error> {
        self.try_get(at)
    }
}

/// `LIMIT`'s value: `NULL` is no limit.
fn limit(filter: &Filter) -> Option<i64> {
    filter.limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// One run, in one transaction: the run, then its steps and metrics each in one statement
/// (arrays, unnested), so a run costs the same few round trips whatever its size.
async fn write(connection: &mut PgConnection, entry: &Entry) -> Result<(), sqlx::Error> {
    let mut transaction = connection.begin().await?;
    let run: i64 = sqlx::query_scalar(
        "INSERT INTO runbook_history.runs (playbook, target, fleet_name, started_ms,
                                           duration_ms, mode, status, exit_code, why)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(&entry.playbook)
    .bind(&entry.target)
    .bind(&entry.fleet_name)
    .bind(entry.started_ms)
    .bind(entry.duration_ms)
    .bind(&entry.mode)
    .bind(&entry.status)
    .bind(i32::try_from(entry.exit_code).unwrap_or(i32::MAX))
    .bind(&entry.why)
    .fetch_one(&mut *transaction)
    .await?;
    let steps = &entry.steps;
    sqlx::query(
        "INSERT INTO runbook_history.steps (run_id, position, step, status, message, duration_ms)
         SELECT $1, s.position, s.step, s.status, s.message, s.duration_ms
           FROM unnest($2::integer[], $3::text[], $4::text[], $5::text[], $6::bigint[])
             AS s (position, step, status, message, duration_ms)",
    )
    .bind(run)
    .bind(
        (0..steps.len())
            .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
            .collect::<Vec<_>>(),
    )
    .bind(steps.iter().map(|s| s.id.clone()).collect::<Vec<_>>())
    .bind(steps.iter().map(|s| s.status.clone()).collect::<Vec<_>>())
    .bind(steps.iter().map(|s| s.message.clone()).collect::<Vec<_>>())
    .bind(steps.iter().map(|s| s.duration_ms).collect::<Vec<_>>())
    .execute(&mut *transaction)
    .await?;
    let metrics = &entry.metrics;
    sqlx::query(
        "INSERT INTO runbook_history.metrics (run_id, step, name, unit, labels, value)
         SELECT $1, m.step, m.name, m.unit, m.labels, m.value
           FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::double precision[])
                WITH ORDINALITY AS m (step, name, unit, labels, value, position)
          ORDER BY m.position",
    )
    .bind(run)
    .bind(metrics.iter().map(|m| m.step.clone()).collect::<Vec<_>>())
    .bind(metrics.iter().map(|m| m.name.clone()).collect::<Vec<_>>())
    .bind(metrics.iter().map(|m| m.unit.clone()).collect::<Vec<_>>())
    .bind(metrics.iter().map(|m| m.labels.clone()).collect::<Vec<_>>())
    .bind(metrics.iter().map(|m| m.value).collect::<Vec<_>>())
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await
}

type Migration = super::Migration<sqlx::Error>;

impl From<sqlx::Error> for Migration {
    fn from(error: sqlx::Error) -> Migration {
        Migration::Failed(error)
    }
}

/// Bounds the session's statements, and brings the schema to this runbook's version (creating
/// it for a writer that finds none). Whether there are tables to read.
async fn migrate(connection: &mut PgConnection, access: Access) -> Result<bool, Migration> {
    sqlx::raw_sql(LIMITS).execute(&mut *connection).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('runbook_history.version') IS NOT NULL")
            .fetch_one(&mut *connection)
            .await?;
    let found: Option<i32> = if exists {
        sqlx::query_scalar("SELECT max(version) FROM runbook_history.version")
            .fetch_one(&mut *connection)
            .await?
    } else {
        None
    };
    match found.map(i64::from) {
        Some(SCHEMA_VERSION) => return Ok(true),
        Some(found) if found > SCHEMA_VERSION => return Err(Migration::Newer(found)),
        _ if access == Access::Read => return Ok(false),
        _ => {}
    }
    let mut transaction = connection.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('runbook_history schema'))")
        .execute(&mut *transaction)
        .await?;
    sqlx::raw_sql(SCHEMA).execute(&mut *transaction).await?;
    sqlx::query(
        "INSERT INTO runbook_history.version (version)
         SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM runbook_history.version)",
    )
    .bind(i32::try_from(SCHEMA_VERSION).unwrap_or(i32::MAX))
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(true)
}
