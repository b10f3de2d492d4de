//! The default store: one SQLite file, written by every run of this user on this host.
//!
//! Runs overlap (cron, a fleet's targets, a run by hand during a cron one), so the file is in
//! WAL mode (readers never wait for a writer), every writer waits up to the busy timeout for
//! another, and a run's rows go in one `BEGIN IMMEDIATE` transaction: all of them or none.
//! SQLite is synchronous; its work runs on tokio's blocking threads, so a fleet's other
//! targets go on while one waits for the file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension as _, TransactionBehavior, params};

use super::entry::NO_LABELS;
use super::{Access, Entry, Filter, Point, RunRow, SCHEMA_VERSION, StoreError};
use crate::history::{Past, Sample};

/// The schema, version 1. Metric labels are a JSON object's text (keys sorted).
const SCHEMA: &str = "
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    playbook TEXT NOT NULL,
    target TEXT NOT NULL,
    fleet_name TEXT,
    started_ms INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    mode TEXT NOT NULL,
    status TEXT NOT NULL,
    exit_code INTEGER NOT NULL,
    why TEXT
);
CREATE INDEX runs_by_target ON runs (playbook, target, started_ms);
CREATE INDEX runs_by_start ON runs (started_ms);
CREATE TABLE steps (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    position INTEGER NOT NULL,
    step TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT,
    duration_ms INTEGER NOT NULL,
    PRIMARY KEY (run_id, position)
) WITHOUT ROWID;
CREATE TABLE metrics (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    step TEXT NOT NULL,
    name TEXT NOT NULL,
    unit TEXT NOT NULL,
    labels TEXT NOT NULL,
    value REAL NOT NULL
);
CREATE INDEX metrics_by_run ON metrics (run_id, step, name);
";

pub(super) struct Sqlite {
    path: PathBuf,
    /// `None`: a store read before any run created its tables (it is empty).
    connection: Option<Arc<Mutex<Connection>>>,
}

impl Sqlite {
    pub(super) async fn open(
        path: PathBuf,
        access: Access,
        busy: Duration,
    ) -> Result<Sqlite, StoreError> {
        let at = path.clone();
        let connection = blocking(&path, move || open(&at, access, busy)).await??;
        Ok(Sqlite {
            path,
            connection: connection.map(|c| Arc::new(Mutex::new(c))),
        })
    }

    pub(super) fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// Runs `work` on the connection, on a blocking thread; `empty` when there are no tables.
    async fn with<T: Send + 'static>(
        &self,
        empty: T,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let Some(connection) = self.connection.clone() else {
            return Ok(empty);
        };
        let path = self.path.clone();
        blocking(&self.path, move || {
            let mut connection = connection
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            work(&mut connection).map_err(|error| failed(&path, &error))
        })
        .await?
    }

    pub(super) async fn past(
        &mut self,
        playbook: &str,
        target: &str,
        metrics: &[String],
        since_ms: i64,
    ) -> Result<Past, StoreError> {
        let (playbook, target) = (playbook.to_owned(), target.to_owned());
        let metrics = metrics.to_vec();
        self.with(Past::default(), move |connection| {
            let mut past = Past::default();
            let mut query = connection.prepare_cached(
                "SELECT r.started_ms, m.value
                   FROM runs r JOIN metrics m ON m.run_id = r.id
                  WHERE r.playbook = ?1 AND r.target = ?2 AND r.started_ms >= ?3
                    AND m.step = ?4 AND m.name = ?5 AND m.labels = ?6",
            )?;
            for metric in &metrics {
                let Some((step, name)) = metric.split_once('.') else {
                    continue;
                };
                let mut rows =
                    query.query(params![playbook, target, since_ms, step, name, NO_LABELS])?;
                while let Some(row) = rows.next()? {
                    let sample = Sample {
                        at_ms: row.get(0)?,
                        value: row.get(1)?,
                    };
                    past.push(metric, sample);
                }
            }
            Ok(past)
        })
        .await
    }

    pub(super) async fn write(&mut self, entry: Entry) -> Result<(), StoreError> {
        let log = wal_of(&self.path);
        self.with((), move |connection| {
            write(connection, &entry)?;
            // The next process to open the file reads the whole log back (WAL recovery:
            // every frame read and checksummed: +15 ms a run at 4 MB), and SQLite's own
            // checkpoints seldom reset it while runs overlap. Past `LOG_LIMIT`, this run
            // checkpoints and truncates it — a few fsyncs once in many runs. A busy store
            // leaves it to the next run.
            if std::fs::metadata(&log).is_ok_and(|m| m.len() > LOG_LIMIT) {
                let _ = connection.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn prune(&mut self, before_ms: i64) -> Result<u64, StoreError> {
        self.with(0, move |connection| {
            // Most runs find nothing to prune: they need not take the write lock to know it.
            let old: Option<i64> = connection
                .prepare_cached("SELECT 1 FROM runs WHERE started_ms < ?1 LIMIT 1")?
                .query_row([before_ms], |row| row.get(0))
                .optional()?;
            if old.is_none() {
                return Ok(0);
            }
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let of_old_runs = "run_id IN (SELECT id FROM runs WHERE started_ms < ?1)";
            transaction.execute(
                &format!("DELETE FROM metrics WHERE {of_old_runs}"),
                [before_ms],
            )?;
            transaction.execute(
                &format!("DELETE FROM steps WHERE {of_old_runs}"),
                [before_ms],
            )?;
            let runs =
                transaction.execute("DELETE FROM runs WHERE started_ms < ?1", [before_ms])?;
            transaction.commit()?;
            Ok(runs as u64)
        })
        .await
    }

    pub(super) async fn runs(&mut self, filter: Filter) -> Result<Vec<RunRow>, StoreError> {
        self.with(Vec::new(), move |connection| {
            let (conditions, values) = conditions(&filter);
            let sql = format!(
                "SELECT started_ms, playbook, target, fleet_name, status, duration_ms, why
                   FROM runs r WHERE {conditions}
                  ORDER BY started_ms DESC, id DESC LIMIT ?"
            );
            let mut query = connection.prepare(&sql)?;
            let values = values.into_iter().chain([limit(&filter)]);
            let rows =
                query.query_map(rusqlite::params_from_iter(values), |row| RunRow::read(row))?;
            rows.collect()
        })
        .await
    }

    pub(super) async fn points(&mut self, filter: Filter) -> Result<Vec<Point>, StoreError> {
        self.with(Vec::new(), move |connection| {
            let (conditions, mut values) = conditions(&filter);
            let (exists_conditions, metric_values) = metric_conditions(&filter, "e");
            let (value_conditions, _) = metric_conditions(&filter, "m");
            values.extend(metric_values.iter().cloned());
            values.push(limit(&filter));
            values.extend(metric_values);
            // The newest runs that have the metric first (LIMIT bounds the work), then their
            // values of it.
            let sql = format!(
                "WITH chosen AS (
                    SELECT id, started_ms, playbook, target FROM runs r
                     WHERE {conditions}
                       AND EXISTS (SELECT 1 FROM metrics e WHERE e.run_id = r.id AND {exists_conditions})
                     ORDER BY started_ms DESC, id DESC LIMIT ?)
                 SELECT c.started_ms, c.playbook, c.target, m.step, m.name, m.labels, m.value
                   FROM chosen c JOIN metrics m ON m.run_id = c.id
                  WHERE {value_conditions}
                  ORDER BY c.started_ms, c.id, m.rowid"
            );
            let mut query = connection.prepare(&sql)?;
            let rows = query.query_map(rusqlite::params_from_iter(values), |row| Point::read(row))?;
            rows.collect()
        })
        .await
    }
}

impl super::Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;
    fn int(&self, at: usize) -> rusqlite::Result<i64> {
        self.get(at)
    }
    fn real(&self, at: usize) -> rusqlite::Result<f64> {
        self.get(at)
    }
    fn text(&self, at: usize) -> rusqlite::Result<String> {
        self.get(at)
    }
    fn maybe_text(&self, at: usize) -> rusqlite::Result<Option<String>> {
        self.get(at)
    }
}

/// The `WHERE` of the runs `filter` selects, with its values in order.
fn conditions(filter: &Filter) -> (String, Vec<Value>) {
    let mut conditions = vec!["1 = 1".to_owned()];
    let mut values = Vec::new();
    if let Some(playbook) = &filter.playbook {
        conditions.push("r.playbook = ?".to_owned());
        values.push(Value::Text(playbook.clone()));
    }
    if let Some(target) = &filter.target {
        conditions.push("(r.target = ? OR r.fleet_name = ?)".to_owned());
        values.push(Value::Text(target.clone()));
        values.push(Value::Text(target.clone()));
    }
    if let Some(since) = filter.since_ms {
        conditions.push("r.started_ms >= ?".to_owned());
        values.push(Value::Integer(since));
    }
    (conditions.join(" AND "), values)
}

/// The `WHERE` of the metric values `filter` selects, on table `alias`, with its values.
fn metric_conditions(filter: &Filter, alias: &str) -> (String, Vec<Value>) {
    let mut conditions = vec!["1 = 1".to_owned()];
    let mut values = Vec::new();
    if let Some(step) = &filter.step {
        conditions.push(format!("{alias}.step = ?"));
        values.push(Value::Text(step.clone()));
    }
    if let Some(metric) = &filter.metric {
        conditions.push(format!("{alias}.name = ?"));
        values.push(Value::Text(metric.clone()));
    }
    (conditions.join(" AND "), values)
}

fn limit(filter: &Filter) -> Value {
    Value::Integer(
        filter
            .limit
            .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX)),
    )
}

/// Writes `entry` in one transaction, taken at once (`IMMEDIATE`): a writer that must wait,
/// waits at the start, never halfway.
fn write(connection: &mut Connection, entry: &Entry) -> rusqlite::Result<()> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    transaction
        .prepare_cached(
            "INSERT INTO runs (playbook, target, fleet_name, started_ms, duration_ms, mode,
                               status, exit_code, why)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            entry.playbook,
            entry.target,
            entry.fleet_name,
            entry.started_ms,
            entry.duration_ms,
            entry.mode,
            entry.status,
            entry.exit_code,
            entry.why,
        ])?;
    let run = transaction.last_insert_rowid();
    {
        let mut step = transaction.prepare_cached(
            "INSERT INTO steps (run_id, position, step, status, message, duration_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for (position, entry) in entry.steps.iter().enumerate() {
            step.execute(params![
                run,
                position as i64,
                entry.id,
                entry.status,
                entry.message,
                entry.duration_ms
            ])?;
        }
        let mut metric = transaction.prepare_cached(
            "INSERT INTO metrics (run_id, step, name, unit, labels, value)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for entry in &entry.metrics {
            metric.execute(params![
                run,
                entry.step,
                entry.name,
                entry.unit,
                entry.labels,
                entry.value
            ])?;
        }
    }
    transaction.commit()
}

/// Opens the file, creating it (mode 0600, in directories of mode 0700: it holds what the
/// checks found) and its schema for a writer; `None` for a reader of a file without tables.
fn open(path: &Path, access: Access, busy: Duration) -> Result<Option<Connection>, StoreError> {
    let open_error = |reason: String| StoreError::Open {
        store: path.display().to_string(),
        reason,
    };
    let flags = match access {
        Access::Read => {
            if !path.exists() {
                return Err(StoreError::Missing {
                    path: path.to_owned(),
                });
            }
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        }
        Access::Write => {
            create_file(path).map_err(|error| open_error(error.to_string()))?;
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
        }
    };
    let connection =
        Connection::open_with_flags(path, flags).map_err(|error| open_error(error.to_string()))?;
    connection
        .busy_timeout(busy)
        .map_err(|error| open_error(error.to_string()))?;
    // Each run reads its past through a cold page cache: mapped, a page is a memory read, not
    // a system call (2,000 of them a run at 500 runs kept). Bounded: mapped pages count in the
    // process's memory (a fleet's peak RSS went past 64 MB with 256 MiB mapped).
    connection
        .execute_batch("PRAGMA mmap_size = 8388608")
        .map_err(|error| open_error(error.to_string()))?;
    let migrated = migrate(&connection, access).map_err(|error| match error {
        Migration::Failed(error) => open_error(error.to_string()),
        Migration::Newer(found) => StoreError::Newer {
            store: path.display().to_string(),
            found,
        },
    })?;
    Ok(migrated.then_some(connection))
}

fn create_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|error| {
                std::io::Error::new(
                    error.kind(),
                    format!("cannot create directory `{}`: {error}", parent.display()),
                )
            })?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

type Migration = super::Migration<rusqlite::Error>;

impl From<rusqlite::Error> for Migration {
    fn from(error: rusqlite::Error) -> Migration {
        Migration::Failed(error)
    }
}

/// Brings the schema to this runbook's version: creates it in a new file (one creator at a
/// time: the transaction is taken at once and the version read again inside it). Whether there
/// are tables to read.
fn migrate(connection: &Connection, access: Access) -> Result<bool, Migration> {
    let version = |connection: &Connection| -> rusqlite::Result<i64> {
        connection.query_row("PRAGMA user_version", [], |row| row.get(0))
    };
    match version(connection)? {
        SCHEMA_VERSION => {}
        found if found > SCHEMA_VERSION => return Err(Migration::Newer(found)),
        _ if access == Access::Read => return Ok(false),
        _ => {
            let _mode: Option<String> = connection
                .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
                .optional()?;
            connection.execute_batch("BEGIN IMMEDIATE")?;
            let created = match version(connection)? {
                0 => connection
                    .execute_batch(&format!("{SCHEMA} PRAGMA user_version = {SCHEMA_VERSION};")),
                _ => Ok(()),
            };
            match created {
                Ok(()) => connection.execute_batch("COMMIT")?,
                Err(error) => {
                    let _ = connection.execute_batch("ROLLBACK");
                    return Err(error.into());
                }
            }
        }
    }
    if access == Access::Write {
        // In WAL mode a commit needs no fsync to be atomic (NORMAL), and the last connection to
        // close need not checkpoint: SQLite checkpoints as the log grows instead. Either would
        // cost every cron run a few fsyncs of its own.
        connection.execute_batch("PRAGMA synchronous = NORMAL")?;

        connection.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )?;
    }
    Ok(true)
}

fn failed(path: &Path, error: &rusqlite::Error) -> StoreError {
    StoreError::Failed {
        store: path.display().to_string(),
        reason: error.to_string(),
    }
}

/// How long the write-ahead log may grow before a run checkpoints and truncates it.
const LOG_LIMIT: u64 = 1 << 20;

/// The write-ahead log beside the store's file.
fn wal_of(path: &Path) -> PathBuf {
    let mut log = path.as_os_str().to_owned();
    log.push("-wal");
    PathBuf::from(log)
}

/// `work` on a blocking thread of the runtime.
async fn blocking<T: Send + 'static>(
    path: &Path,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| StoreError::Failed {
            store: path.display().to_string(),
            reason: format!("its worker thread ended: {error}"),
        })
}
