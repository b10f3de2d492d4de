//! Where the runs are remembered: an SQLite file of this host's own (the default, under
//! `$XDG_STATE_HOME/runbook/`), or a shared PostgreSQL database when several hosts run the
//! same playbooks (its own schema, `runbook_history`).
//!
//! Both take the same [`Entry`] and answer the same questions, each in one transaction: a
//! run is written whole or not at all, so a cron overlap or a fleet writing at once loses
//! nothing and leaves nothing half-written. The schema carries a version (SQLite's
//! `user_version`, PostgreSQL's `runbook_history.version`), so a later runbook can migrate
//! it, and a store written by a newer one is refused rather than misread.

mod entry;
mod location;
mod postgres;
mod sqlite;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use thiserror::Error;

pub use entry::{Entry, MetricEntry, StepEntry};
pub use location::{Location, default_path};

use super::Past;

/// The version of the store's schema this runbook writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

/// An open store.
pub struct Store {
    kind: Kind,
}

enum Kind {
    Sqlite(sqlite::Sqlite),
    /// Boxed: a connection is large, and a store is mostly a file.
    Postgres(Box<postgres::Postgres>),
}

/// Why the store could not be opened, read or written; it names the store (a path, or
/// `user@host:port/db`), never a password.
#[derive(Debug, Clone, Error)]
pub enum StoreError {
    #[error("cannot open the history store `{store}`: {reason}")]
    Open { store: String, reason: String },
    #[error("the history store `{store}` failed: {reason}")]
    Failed { store: String, reason: String },
    #[error("no history store at `{}`: no run has written one there yet", path.display())]
    Missing { path: PathBuf },
    #[error(
        "the history store `{store}` has schema version {found}, newer than this runbook's \
         ({SCHEMA_VERSION}): upgrade runbook, or give it another `--history`"
    )]
    Newer { store: String, found: i64 },
}

/// Which runs a question is about (`runbook history`'s filters).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub playbook: Option<String>,
    /// Matches the run's target (`user@host:port/db`) or its fleet name.
    pub target: Option<String>,
    /// Runs started at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// At most this many runs (the newest), or metric values.
    pub limit: Option<u64>,
    pub step: Option<String>,
    pub metric: Option<String>,
}

/// One remembered run, as `runbook history` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub started_ms: i64,
    pub playbook: String,
    pub target: String,
    pub fleet_name: Option<String>,
    pub status: String,
    pub duration_ms: i64,
    pub why: Option<String>,
}

/// One value of a metric series, as `runbook history --metric` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub started_ms: i64,
    pub playbook: String,
    pub target: String,
    pub step: String,
    pub metric: String,
    /// The labels, as a JSON object (`{}` when the metric has none).
    pub labels: String,
    pub value: f64,
}

/// A row of either store, read by column position: one reading of [`RunRow`] and [`Point`]
/// for both.
trait Columns {
    type Error;
    fn int(&self, at: usize) -> Result<i64, Self::Error>;
    fn real(&self, at: usize) -> Result<f64, Self::Error>;
    fn text(&self, at: usize) -> Result<String, Self::Error>;
    fn maybe_text(&self, at: usize) -> Result<Option<String>, Self::Error>;
}

impl RunRow {
    /// `started_ms, playbook, target, fleet_name, status, duration_ms, why`.
    fn read<R: Columns>(row: &R) -> Result<RunRow, R::Error> {
        Ok(RunRow {
            started_ms: row.int(0)?,
            playbook: row.text(1)?,
            target: row.text(2)?,
            fleet_name: row.maybe_text(3)?,
            status: row.text(4)?,
            duration_ms: row.int(5)?,
            why: row.maybe_text(6)?,
        })
    }
}

impl Point {
    /// `started_ms, playbook, target, step, name, labels, value`.
    fn read<R: Columns>(row: &R) -> Result<Point, R::Error> {
        Ok(Point {
            started_ms: row.int(0)?,
            playbook: row.text(1)?,
            target: row.text(2)?,
            step: row.text(3)?,
            metric: row.text(4)?,
            labels: row.text(5)?,
            value: row.real(6)?,
        })
    }
}

/// Why a store's schema could not be brought to this runbook's version.
enum Migration<E> {
    Failed(E),
    /// A newer runbook's schema, of this version.
    Newer(i64),
}

/// Whether a store that does not exist yet may be created (a run), or is an error (reading).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Write,
    Read,
}

impl Store {
    /// Opens the store at `location`, creating it (and its schema) on first use when `access`
    /// writes.
    pub async fn open(location: &Location, access: Access) -> Result<Store, StoreError> {
        let kind = match location {
            Location::Sqlite(path) => {
                Kind::Sqlite(sqlite::Sqlite::open(path.clone(), access, busy_timeout()).await?)
            }
            Location::Postgres(conninfo) => {
                Kind::Postgres(Box::new(postgres::Postgres::open(conninfo, access).await?))
            }
        };
        Ok(Store { kind })
    }

    /// The unlabelled `metrics` (`step.metric`) of `playbook` on `target` since `since_ms`:
    /// each metric read through the runs' index, never every value of every run.
    pub async fn past(
        &mut self,
        playbook: &str,
        target: &str,
        metrics: &[String],
        since_ms: i64,
    ) -> Result<Past, StoreError> {
        match &mut self.kind {
            Kind::Sqlite(store) => store.past(playbook, target, metrics, since_ms).await,
            Kind::Postgres(store) => store.past(playbook, target, metrics, since_ms).await,
        }
    }

    /// Writes one run, whole, in one transaction.
    pub async fn write(&mut self, entry: Entry) -> Result<(), StoreError> {
        match &mut self.kind {
            Kind::Sqlite(store) => store.write(entry).await,
            Kind::Postgres(store) => store.write(&entry).await,
        }
    }

    /// Deletes the runs started before `before_ms`, in one transaction; how many.
    pub async fn prune(&mut self, before_ms: i64) -> Result<u64, StoreError> {
        match &mut self.kind {
            Kind::Sqlite(store) => store.prune(before_ms).await,
            Kind::Postgres(store) => store.prune(before_ms).await,
        }
    }

    /// The runs `filter` selects, newest first.
    pub async fn runs(&mut self, filter: &Filter) -> Result<Vec<RunRow>, StoreError> {
        match &mut self.kind {
            Kind::Sqlite(store) => store.runs(filter.clone()).await,
            Kind::Postgres(store) => store.runs(filter).await,
        }
    }

    /// The metric values `filter` selects (its `step` and/or `metric`), oldest first.
    pub async fn points(&mut self, filter: &Filter) -> Result<Vec<Point>, StoreError> {
        match &mut self.kind {
            Kind::Sqlite(store) => store.points(filter.clone()).await,
            Kind::Postgres(store) => store.points(filter).await,
        }
    }

    /// The store, as messages name it: its path, or `user@host:port/db`.
    pub fn name(&self) -> String {
        match &self.kind {
            Kind::Sqlite(store) => store.name(),
            Kind::Postgres(store) => store.name(),
        }
    }

    /// Closes the connection (a PostgreSQL store's is told goodbye).
    pub async fn close(self) {
        if let Kind::Postgres(store) = self.kind {
            store.close().await;
        }
    }
}

/// How long a writer waits for another to finish with the SQLite file: 5 s, or
/// `RUNBOOK_HISTORY_BUSY_MS` (for tests of a locked store).
fn busy_timeout() -> std::time::Duration {
    let millis = std::env::var("RUNBOOK_HISTORY_BUSY_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(5_000);
    std::time::Duration::from_millis(millis)
}

/// Milliseconds since the Unix epoch of `time`.
pub fn epoch_ms(time: std::time::SystemTime) -> i64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}
