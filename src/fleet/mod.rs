//! A fleet run: one playbook on many targets, in one process, with one combined answer.
//!
//! The targets come from `--target`, an inventory (`--targets FILE`, see `targets`) or the
//! service file (`--service GLOB`), cut to a shard (`--shard K/N`, see `shard`) for schedulers
//! that split a fleet across hosts. Each target runs through the very path a single run takes
//! (`run::Plan` → the engine), at most `--parallel N` at once, one connection each; what the
//! fleet adds is around that path, never inside it: the approvals of all targets go through
//! one prompt at a time, one interruption stops them all, and each finished target leaves its
//! report and journal in the run's directory and a slim record for the combined outputs
//! (`report`; `--nagios` and `--metrics` in `outputs`).
//!
//! The fleet's status is the worst of its targets' by monitoring's precedence, CRITICAL >
//! UNKNOWN > WARNING > OK (see [`rank`]): a server that cannot be reached is UNKNOWN and never
//! hidden behind another that is OK.

mod limits;
mod markdown;
mod plan;
pub mod report;
mod runner;
mod screen;
pub mod shard;
pub mod targets;

pub use plan::{Plan, Planned, plan};
pub use runner::run;

use std::path::PathBuf;

use crate::diagnostic::Location;
use crate::exit;
use crate::outputs::record::{RunRecord, Status};

/// The file stem of the combined report in the run's directory (`summary.md`); no target's
/// report takes it.
pub const COMBINED: &str = "summary";

/// One target of a fleet, as the command line, the inventory or the service file named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetTarget {
    /// Unique in the fleet: it names the target in every output and its report's file.
    pub name: String,
    /// What to connect to: a URL, `keyword=value` pairs or `service=NAME`.
    pub conninfo: String,
    /// The inventory's `vars` for this target, applied after the playbook's defaults and
    /// before `--var`.
    pub vars: Vec<TargetVar>,
}

/// One of an inventory target's `vars`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetVar {
    pub name: String,
    /// The value as `--var NAME=VALUE` would give it.
    pub value: String,
    /// Where the inventory sets it, for an error about it.
    pub at: Option<Location>,
}

impl TargetVar {
    /// `NAME=VALUE`, as `--var` takes it.
    pub fn assignment(&self) -> String {
        format!("{}={}", self.name, self.value)
    }
}

/// What a target of a fleet run left: its record (slimmed: no rows, SQL or facts, so a fleet
/// of thousands stays small), where its report and journal went.
#[derive(Debug, Clone)]
pub struct TargetResult {
    /// The target's fleet name (`record.target` is where it connected, `user@host:port/db`).
    pub name: String,
    /// Its status and exit code already count an output that could not be written; a target
    /// that never started is NOT RUN, and says why.
    pub record: RunRecord,
    /// Where its report was written; `None` when it was not (or the target never started).
    pub report: Option<PathBuf>,
    /// Where its decisions were journaled, when an action was decided.
    pub journal: Option<PathBuf>,
    /// Why its run is not in the history, when it could not be written there.
    pub unkept: Option<String>,
}

/// `record` as a fleet keeps it once its report is written: what the combined outputs read
/// (statuses, messages, errors, approvals; the metrics only for `metrics`: `--nagios` or
/// `--metrics`), without the rows, SQL, guards and facts that make a record large. A target's
/// metrics can be many (one per database of its server, each labelled), and a fleet of a
/// thousand keeps a thousand records.
pub fn slim(mut record: RunRecord, metrics: bool) -> RunRecord {
    record.description = None;
    record.facts = None;
    record.params.clear();
    for step in &mut record.steps {
        step.guards.clear();
        step.sql = None;
        step.columns.clear();
        step.column_types.clear();
        step.rows.clear();
        step.assessments.clear();
        step.manual = None;
        step.recommendations.clear();
        if !metrics {
            step.metrics.clear();
        }
    }
    record
}

/// How bad a target's status is for the fleet: CRITICAL > UNKNOWN > WARNING > OK, with a
/// stopped target (the operator stopped it, or an action was not approved) above all, as it is
/// for a single run (exit 4; `--nagios` reads it as UNKNOWN). A target that did not run is
/// UNKNOWN: nothing is known of it.
pub fn rank(status: Status) -> u8 {
    match status {
        Status::Ok | Status::Skipped | Status::Manual => 0,
        Status::Warning => 1,
        Status::Unknown | Status::NotRun => 2,
        Status::Critical => 3,
        Status::Stopped => 4,
    }
}

/// The fleet's status: its worst target's, by [`rank`]; OK for no targets.
pub fn status(results: &[TargetResult]) -> Status {
    results
        .iter()
        .map(|result| fleet_status(result.record.status))
        .max_by_key(|status| rank(*status))
        .unwrap_or(Status::Ok)
}

/// The exit code of a fleet whose status is `status`.
pub fn exit_code(status: Status) -> u8 {
    match fleet_status(status) {
        Status::Warning => exit::WARNING,
        Status::Critical => exit::CRITICAL,
        Status::Unknown | Status::NotRun => exit::UNKNOWN,
        Status::Stopped => exit::STOPPED,
        _ => exit::OK,
    }
}

/// A target's status as the fleet counts it: one of OK, WARNING, CRITICAL, UNKNOWN, STOPPED,
/// NOT RUN.
pub fn fleet_status(status: Status) -> Status {
    match status {
        Status::Skipped | Status::Manual => Status::Ok,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn critical_outranks_unknown_which_outranks_warning() {
        let order = [
            Status::Ok,
            Status::Warning,
            Status::Unknown,
            Status::Critical,
            Status::Stopped,
        ];
        for pair in order.windows(2) {
            assert!(rank(pair[0]) < rank(pair[1]), "{pair:?}");
        }
        assert_eq!(rank(Status::NotRun), rank(Status::Unknown));
        assert_eq!(exit_code(Status::Critical), exit::CRITICAL);
        assert_eq!(exit_code(Status::NotRun), exit::UNKNOWN);
        assert_eq!(exit_code(Status::Manual), exit::OK);
    }
}
