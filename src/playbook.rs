//! The checked playbook: what validation guarantees, so the engine never re-checks it.
//!
//! Every template here compiled, every expression parsed and names only what its scope holds,
//! every `check` was judged read-only, and each step has exactly one kind. Durations and row
//! limits are parsed (a templated one compiled); defaults are of their param's type.

use std::fmt;

use crate::duration::Duration;
pub use crate::load::raw::{Approval, OnError, Sees, Unit};
use crate::param::Param;

#[derive(Debug, Clone)]
pub struct Playbook {
    /// Slug: from `name:`, else the file stem.
    pub name: String,
    pub title: String,
    pub description: Option<String>,
    /// Where it was read from, as errors name it.
    pub source: String,
    /// Default `statement_timeout` of every step.
    pub timeout: Duration,
    pub params: Vec<Param>,
    pub steps: Vec<Step>,
    /// The metrics (`step.metric`) that `history.*` reads: all a run asks of the store.
    pub remembered: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    /// A text template.
    pub title: Option<String>,
    /// A text template.
    pub description: Option<String>,
    pub kind: StepKind,
    /// Guard expression.
    pub when: Option<String>,
    pub requires: Requirements,
    pub assess: Vec<Assessment>,
    /// `statement_timeout` for this step; `None`: the playbook's.
    pub timeout: Option<Duration>,
    pub on_error: OnError,
    /// Functions the step's check or preview may call besides the built-in read-only ones, as
    /// PostgreSQL resolves their names (`schema.name`, lower case): pass them to
    /// `sql::judge`.
    pub functions: Vec<String>,
    /// Where the read-only SQL (the check, or an action's preview) starts in the file, as
    /// `file:line`, for findings in what it rendered.
    pub sql_at: Option<String>,
    /// Which sessions the check or preview must see; `None`: decided by what the rendered
    /// SQL reads (see `engine::visibility`).
    pub sees: Option<Sees>,
    /// The result columns a check exports as metrics, in the order declared.
    pub metrics: Vec<Metric>,
}

/// The metric that, unless the result has a column of that name, counts the rows the check
/// returned (how many sessions a list holds, graphed without a column for it).
pub const ROW_COUNT_METRIC: &str = "row_count";

/// A result column exported as a metric. Bounds and thresholds are text templates (a number
/// written in the playbook is its text), rendered after the check ran.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub column: String,
    /// `None`: a plain number, or seconds for an interval column.
    pub unit: Option<Unit>,
    pub min: Option<String>,
    pub max: Option<String>,
    /// Monitoring-plugin ranges (see `crate::range`).
    pub warning: Option<String>,
    pub critical: Option<String>,
    /// Columns whose values tell the rows apart.
    pub labels: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum StepKind {
    /// Read-only SQL template, run in a READ ONLY transaction.
    Check {
        sql: String,
    },
    Action(Action),
    /// Text template: a recommendation for a human.
    Manual {
        text: String,
    },
}

/// A step that changes the server: it runs only after approval.
#[derive(Debug, Clone)]
pub struct Action {
    pub act: Act,
    pub approval: Approval,
    pub max_rows: Option<MaxRows>,
}

/// What an action does.
#[derive(Debug, Clone)]
pub enum Act {
    /// SQL written by the playbook's author (`action:`), which may not signal sessions.
    Sql(SqlAction),
    /// `terminate:` / `cancel:`: the engine signals the sessions an earlier check lists, in a
    /// statement of its own making.
    Signal(SessionAction),
}

#[derive(Debug, Clone)]
pub struct SqlAction {
    /// SQL template that changes the server.
    pub sql: String,
    /// Read-only SQL template shown at the approval prompt.
    pub preview: Option<String>,
    pub transaction: Transaction,
}

/// Signal the sessions that the check `source` lists.
#[derive(Debug, Clone)]
pub struct SessionAction {
    pub signal: Signal,
    pub source: SourceCheck,
}

/// How a session is signalled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// `pg_terminate_backend`; with `wait`, until the session is gone (PostgreSQL 14+).
    Terminate { wait: Option<Duration> },
    /// `pg_cancel_backend`: the running query only.
    Cancel,
}

impl Signal {
    /// The step key, and the result column holding the server's answer.
    pub fn key(self) -> &'static str {
        match self {
            Signal::Terminate { .. } => "terminate",
            Signal::Cancel => "cancel",
        }
    }

    pub fn answer_column(self) -> &'static str {
        match self {
            Signal::Terminate { .. } => "terminated",
            Signal::Cancel => "cancelled",
        }
    }

    /// The columns that name a session (a cancel names its query too), which the source
    /// check's rows must carry.
    pub fn identity(self) -> &'static [&'static str] {
        match self {
            Signal::Terminate { .. } => &["pid", "backend_start"],
            Signal::Cancel => &["pid", "backend_start", "query_start"],
        }
    }
}

/// The earlier check whose rows name the sessions, as the engine re-runs it.
#[derive(Debug, Clone)]
pub struct SourceCheck {
    pub id: String,
    /// Its SQL template.
    pub sql: String,
    /// The functions it opted in to.
    pub functions: Vec<String>,
    /// Where its SQL starts, as `file:line`.
    pub sql_at: Option<String>,
    /// Which sessions it must see.
    pub sees: Option<Sees>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transaction {
    /// In a transaction, committed on success and rolled back on error.
    Wrapped,
    /// Outside a transaction block (`transaction: false`).
    Autocommit,
}

/// The most rows an action may act on, as the playbook gives it.
#[derive(Debug, Clone, PartialEq)]
pub enum MaxRows {
    Limit(RowLimit),
    /// A text template (`"{{ params.idle_max_percent }}%"`) rendered when the action is
    /// about to be approved; what it renders to is read by [`RowLimit::parse`].
    Template(String),
}

/// A row limit: a count, or a percentage of the usable connections.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RowLimit {
    Count(u64),
    Percent(f64),
}

impl RowLimit {
    /// `"20"` or `"20%"` (a percentage above 0 and at most 100); anything else is `None`.
    /// The one reader of a limit written as text, in a playbook or rendered from a template.
    pub fn parse(text: &str) -> Option<RowLimit> {
        let text = text.trim();
        match text.strip_suffix('%') {
            Some(number) => match number.trim().parse::<f64>() {
                Ok(p) if p > 0.0 && p <= 100.0 => Some(RowLimit::Percent(p)),
                _ => None,
            },
            None => text.parse::<u64>().ok().map(RowLimit::Count),
        }
    }
}

impl fmt::Display for RowLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowLimit::Count(n) => write!(f, "{n}"),
            RowLimit::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Facts a step needs; unmet, the step is skipped with the reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirements {
    pub server_version: Option<u32>,
    pub superuser: bool,
    pub relations: Vec<String>,
    pub extensions: Vec<String>,
    pub roles: Vec<String>,
}

impl Requirements {
    pub fn is_empty(&self) -> bool {
        *self == Requirements::default()
    }
}

/// How bad a finding is. Ordered: the worst wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Ok,
    Warning,
    Critical,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Ok => "OK",
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
        }
    }
}

/// Whether an assessment is evaluated once per result row or once for the whole result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Names a result column: evaluated for each row.
    Row,
    /// Names only `row_count`, params, facts and steps: evaluated once.
    Aggregate,
}

#[derive(Debug, Clone)]
pub struct Assessment {
    pub severity: Severity,
    /// Expression.
    pub condition: String,
    /// Text template.
    pub message: Option<String>,
    /// Text template.
    pub recommendation: Option<String>,
    pub scope: Scope,
}

impl Step {
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            StepKind::Check { .. } => "check",
            StepKind::Action(Action {
                act: Act::Signal(signal),
                ..
            }) => signal.signal.key(),
            StepKind::Action(_) => "action",
            StepKind::Manual { .. } => "manual",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RowLimit;

    #[test]
    fn a_row_limit_is_a_count_or_a_percentage_above_zero_and_at_most_a_hundred() {
        let read = |text| RowLimit::parse(text);
        assert_eq!(read("20"), Some(RowLimit::Count(20)));
        assert_eq!(read(" 0 "), Some(RowLimit::Count(0)));
        assert_eq!(read("20%"), Some(RowLimit::Percent(20.0)));
        assert_eq!(read("12.5 %"), Some(RowLimit::Percent(12.5)));
        assert_eq!(read("100.0%"), Some(RowLimit::Percent(100.0)));
        for invalid in [
            "", "%", "0%", "0.0%", "100.5%", "-1", "-5%", "lots", "1e3", "NaN%", "inf%",
        ] {
            assert_eq!(read(invalid), None, "{invalid:?}");
        }
        assert_eq!(RowLimit::Percent(10.0).to_string(), "10%");
        assert_eq!(RowLimit::Count(3).to_string(), "3");
    }
}
