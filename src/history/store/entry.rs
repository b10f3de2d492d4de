//! What the store keeps of a run: taken from the run record once, here, so both stores write
//! the same facts — and only those the record holds without a password (its `target` is
//! `user@host:port/db`, built from the resolved spec's fields).

use crate::outputs::record::RunRecord;

/// One run of a playbook on one target.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub playbook: String,
    /// `user@host:port/db`, with the databases the run was scoped to (see
    /// `keeper::series_target`); empty when the target could not even be resolved.
    pub target: String,
    /// The target's name in a fleet run.
    pub fleet_name: Option<String>,
    /// When the run started, in ms since the epoch.
    pub started_ms: i64,
    pub duration_ms: i64,
    /// `live` or `dry-run`.
    pub mode: String,
    /// `OK`, `WARNING`, `CRITICAL`, `UNKNOWN`, `STOPPED`.
    pub status: String,
    pub exit_code: i64,
    /// The worst message: why the run is not OK.
    pub why: Option<String>,
    pub steps: Vec<StepEntry>,
    pub metrics: Vec<MetricEntry>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepEntry {
    pub id: String,
    pub status: String,
    pub message: Option<String>,
    pub duration_ms: i64,
}

/// One value of a declared metric.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricEntry {
    pub step: String,
    pub name: String,
    pub unit: String,
    /// The labels as a JSON object, keys sorted (`{}` when none): one text per label set, so
    /// a series is found by equality.
    pub labels: String,
    pub value: f64,
}

impl Entry {
    /// What the store keeps of `record`, a run started at `started_ms`. A value that is not a
    /// finite number has no place in a series (SQLite would keep a NaN as NULL) and is left
    /// out.
    pub fn of(
        record: &RunRecord,
        target: &str,
        fleet_name: Option<&str>,
        started_ms: i64,
    ) -> Entry {
        let millis = |ms: u64| i64::try_from(ms).unwrap_or(i64::MAX);
        Entry {
            playbook: record.playbook.clone(),
            target: target.to_owned(),
            fleet_name: fleet_name.map(str::to_owned),
            started_ms,
            duration_ms: millis(record.duration_ms),
            mode: match record.mode {
                crate::outputs::record::Mode::Live => "live",
                crate::outputs::record::Mode::DryRun => "dry-run",
            }
            .to_owned(),
            status: record.status.label().to_owned(),
            exit_code: i64::from(record.exit_code),
            why: record.why.clone(),
            steps: record
                .steps
                .iter()
                .map(|step| StepEntry {
                    id: step.id.clone(),
                    status: step.status.label().to_owned(),
                    message: step.message.clone(),
                    duration_ms: millis(step.duration_ms),
                })
                .collect(),
            metrics: record
                .steps
                .iter()
                .flat_map(|step| {
                    step.metrics
                        .iter()
                        .filter(|metric| metric.value.is_finite())
                        .map(|metric| MetricEntry {
                            step: step.id.clone(),
                            name: metric.name.clone(),
                            unit: metric.unit.clone(),
                            labels: serde_json::to_string(&metric.labels)
                                .unwrap_or_else(|_| "{}".to_owned()),
                            value: metric.value,
                        })
                })
                .collect(),
        }
    }
}

/// The labels' text of an unlabelled metric: the only ones a run's `Past` holds.
pub const NO_LABELS: &str = "{}";
