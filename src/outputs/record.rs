//! What happened in a run: the record the engine's events build (see `recorder`), and that
//! every report renders.
//!
//! These types are the JSON report (`--format json`) as they are, and the source of
//! `schema/report.schema.json`, so a machine reading the report and a human reading the
//! Markdown see the same facts. Nothing here is re-derived by the report: it only renders.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use super::cell::Cell;
pub use crate::target::rows::ColumnKind;

/// The version of the report's shape, raised when a reader must change: 2 types the values of
/// `rows` (they were all strings in 1); 3 makes an approval's `by` `null` when nobody decided
/// (it said `nobody` or `--dry-run`).
pub const REPORT_VERSION: u32 = 3;

/// The result of one run of a playbook.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RunRecord {
    /// Report format version: 3 since an approval nobody decided is `by: null` (2: the values
    /// of `rows` are typed; they were all strings in 1).
    pub report_version: u32,
    /// The playbook's name (slug).
    pub playbook: String,
    pub title: String,
    pub description: Option<String>,
    /// Where the playbook was read from.
    pub source: String,
    /// The server, as `user@host:port/database` — never with a password.
    pub target: String,
    /// Who ran it: the OS user, or `--operator`.
    pub operator: String,
    pub mode: Mode,
    /// Start, RFC 3339 UTC.
    pub started_at: String,
    /// How long the run took, without the time spent waiting for the operator.
    pub duration_ms: u64,
    /// Time spent waiting for the operator, in all.
    pub waited_ms: u64,
    /// The worst step status, or `UNKNOWN` when the run could not finish.
    pub status: Status,
    /// Exit code of the run.
    pub exit_code: u8,
    /// Why the status is not OK: the reason the run stopped, the error that ended it, or the
    /// worst step's message. `null` when OK.
    pub why: Option<String>,
    /// Parameter values used, as given on the command line or defaulted.
    pub params: Vec<ParamRecord>,
    /// Facts gathered from the server, when it was reached.
    pub facts: Option<serde_json::Value>,
    /// What the role the checks ran as may see and do, when the server was reached: what no
    /// parser can guarantee, the server enforces by the role.
    pub privileges: Option<PrivilegesRecord>,
    /// Things the reader must know about the whole run (missing privileges, connection
    /// failure, interruption).
    pub notes: Vec<String>,
    /// Why the run could not finish, when it could not.
    pub error: Option<String>,
    pub steps: Vec<StepRecord>,
}

impl RunRecord {
    /// Whether an action's approval was decided (not only rehearsed by a dry run): its
    /// journal then holds what the summary line must point to.
    pub fn decided_an_action(&self) -> bool {
        self.steps
            .iter()
            .filter_map(|step| step.approval.as_ref())
            .any(|approval| approval.decision != Decided::DryRun)
    }
}

/// The privileges of the role a run connected as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct PrivilegesRecord {
    pub role: String,
    pub superuser: bool,
    /// May signal other roles' sessions (`pg_signal_backend`, or superuser).
    pub can_signal: bool,
    /// Sees other roles' sessions' state and query (`pg_read_all_stats`, or superuser).
    pub can_read_all_stats: bool,
}

impl PrivilegesRecord {
    /// `root: superuser`, `monitor: reads all statistics, cannot signal other roles' sessions`.
    pub fn describe(&self) -> String {
        if self.superuser {
            return format!("{}: superuser", self.role);
        }
        let reads = if self.can_read_all_stats {
            "reads all statistics"
        } else {
            "cannot see other roles' sessions' state or query"
        };
        let signals = if self.can_signal {
            "may signal other roles' sessions"
        } else {
            "cannot signal other roles' sessions"
        };
        format!("{}: not a superuser, {reads}, {signals}", self.role)
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ParamRecord {
    pub name: String,
    /// The value as a user would write it (`1h`, `[a, b]`); `null` when unset.
    pub value: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Checks and approved actions run.
    Live,
    /// Checks and previews run; actions never do.
    DryRun,
}

/// The state of a step or a run. Ordered by how bad it is for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Ran, and nothing to report.
    Ok,
    /// Did not run: a guard was false, or it was not selected.
    Skipped,
    /// Did not run: the run stopped before it.
    NotRun,
    /// A recommendation for a human.
    Manual,
    Warning,
    Critical,
    /// Failed: an error, so its result is unknown.
    Unknown,
    /// The run as a whole: stopped by the operator, or an action was not approved (exit 4).
    Stopped,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Skipped => "SKIPPED",
            Status::NotRun => "NOT RUN",
            Status::Manual => "MANUAL",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
            Status::Stopped => "STOPPED",
        }
    }
}

/// What happened to one step.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StepRecord {
    pub id: String,
    /// Rendered title (or the id).
    pub title: String,
    /// `check`, `action`, `terminate`, `cancel` or `manual`.
    pub kind: String,
    pub status: Status,
    /// One line saying why the step has its status.
    pub message: Option<String>,
    /// How long the step took, without the time spent waiting for the operator.
    pub duration_ms: u64,
    /// Time spent waiting for the operator (at the approval or `--step` prompt).
    pub waited_ms: u64,
    /// The guard decisions, in the order they were taken.
    pub guards: Vec<GuardRecord>,
    /// The SQL that ran (or would have), rendered.
    pub sql: Option<String>,
    /// Column names of the result.
    pub columns: Vec<String>,
    /// What each column holds, in the order of `columns`, from its PostgreSQL type: it says
    /// how the column's values are typed in `rows`.
    pub column_types: Vec<ColumnKind>,
    /// The first rows, compact: each row an array of its values in the order of `columns`, so
    /// `rows[j][k]` is column `k` of row `j`. Values are typed by their column: `integer` a
    /// JSON integer (when it fits 64 bits), `number` a JSON number when a double holds it
    /// exactly (`NaN`, `Infinity`, and numerics too big or too precise stay strings),
    /// `boolean` `true`/`false`, NULL `null`; intervals, timestamps, text and every other type
    /// a string exactly as psql shows it. For an action: its own result, or its preview's rows
    /// until it has one.
    pub rows: Vec<Vec<Cell>>,
    /// How many rows the SQL returned in all.
    pub row_count: u64,
    /// Whether `rows` holds fewer rows than `row_count`.
    pub rows_truncated: bool,
    /// For an action that ran: the count of its command tags (`UPDATE 3` → 3; for a `SELECT`,
    /// the rows it returned).
    pub rows_affected: Option<u64>,
    pub assessments: Vec<AssessmentRecord>,
    pub error: Option<ErrorRecord>,
    /// The text of a manual step.
    pub manual: Option<String>,
    /// What to do about it: recommendations of the assessments that held.
    pub recommendations: Vec<String>,
    /// For actions: the approval decision, as it was journaled.
    pub approval: Option<ApprovalRecord>,
    /// The values of the step's declared `metrics`: one per metric and row, in the order the
    /// playbook declares them, rows in result order. A NULL (or non-numeric) cell gives none.
    pub metrics: Vec<MetricRecord>,
}

/// One value of a declared metric: a number read from one row of the step's result.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct MetricRecord {
    /// The result column it is read from: the metric's name within its step.
    pub name: String,
    /// The unit of `value`, as the monitoring-plugin guidelines spell it: `""` (a plain
    /// number), `s` (seconds: an interval column is exported in seconds), `%`, `B` (bytes) or
    /// `c` (a counter that only grows).
    pub unit: String,
    /// The declared label columns and their values in this row (text as psql shows it).
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    /// Warning threshold, rendered, in the monitoring-plugin range syntax (`70`, `10:`,
    /// `~:5`, `@10:20`).
    pub warning: Option<String>,
    /// Critical threshold, rendered, in the same syntax.
    pub critical: Option<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Who decided whether an action ran, and when.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ApprovalRecord {
    pub decision: Decided,
    /// Who decided; `null` when nobody did — `decision` says why (`refused`: nobody could be
    /// asked; `dry-run`: there was nothing to decide; `interrupted`: the question was cut short,
    /// `reason` says by what).
    pub by: Option<Decider>,
    /// The OS user or `--operator`.
    pub operator: String,
    /// The database role the action ran as.
    pub role: String,
    /// RFC 3339 UTC.
    pub at: String,
    pub reason: Option<String>,
    /// Rows the preview returned, when there was one.
    pub preview_rows: Option<u64>,
}

/// What became of an action's approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Decided {
    /// It may run.
    Approved,
    /// The operator skipped it at the prompt.
    Declined,
    /// Nobody could approve it: no terminal to ask, or `--yes` on a `confirm` action.
    Refused,
    /// The operator aborted the run at the prompt.
    Aborted,
    /// A Ctrl-C or a signal cut the question short.
    Interrupted,
    /// A dry run: never run, nobody asked.
    DryRun,
}

impl Decided {
    /// The word the reports and the journal use.
    pub fn word(self) -> &'static str {
        match self {
            Decided::Approved => "approved",
            Decided::Declined => "declined",
            Decided::Refused => "refused",
            Decided::Aborted => "aborted",
            Decided::Interrupted => "interrupted",
            Decided::DryRun => "dry-run",
        }
    }
}

/// Who approved, declined or aborted an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Decider {
    /// The operator, choosing at the prompt's menu.
    #[serde(rename = "operator")]
    Operator,
    /// The operator, typing the step id (`approval: confirm`).
    #[serde(rename = "operator (typed the step id)")]
    OperatorTypedStepId,
    /// `--yes`, which approves `approval: required` actions only.
    #[serde(rename = "--yes")]
    Yes,
}

impl Decider {
    /// As a sentence says it after "by": `the operator`, `--yes`.
    pub fn words(self) -> &'static str {
        match self {
            Decider::Operator => "the operator",
            Decider::OperatorTypedStepId => "the operator (typed the step id)",
            Decider::Yes => "--yes",
        }
    }
}

impl StepRecord {
    /// A step with nothing recorded yet but its identity and status.
    pub fn new(id: &str, title: &str, kind: &str, status: Status) -> StepRecord {
        StepRecord {
            id: id.to_owned(),
            title: title.to_owned(),
            kind: kind.to_owned(),
            status,
            message: None,
            duration_ms: 0,
            waited_ms: 0,
            guards: Vec::new(),
            sql: None,
            columns: Vec::new(),
            column_types: Vec::new(),
            rows: Vec::new(),
            row_count: 0,
            rows_truncated: false,
            rows_affected: None,
            assessments: Vec::new(),
            error: None,
            manual: None,
            recommendations: Vec::new(),
            approval: None,
            metrics: Vec::new(),
        }
    }
}

/// A guard decision: a requirement or a `when` expression, and whether it held.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GuardRecord {
    /// What was checked, e.g. `when: steps.x.row_count > 0` or ``relation `pg_tviews_queue` ``.
    pub guard: String,
    pub passed: bool,
    /// Why, in words.
    pub reason: String,
}

/// An assessment that was evaluated.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AssessmentRecord {
    /// `OK`, `WARNING` or `CRITICAL`.
    pub severity: Status,
    pub condition: String,
    /// Whether the condition held (for per-row conditions: for at least one row).
    pub held: bool,
    /// For per-row conditions: how many rows it held for.
    pub matching_rows: Option<u64>,
    /// The sessions it held for, when it held and the result has a `pid` column: those of the
    /// rows it held for (every row, for a condition on the whole result).
    pub sessions: Option<SessionsRecord>,
    pub message: Option<String>,
    pub recommendation: Option<String>,
}

/// The sessions an assessment held for, by the `pid` column of its rows: what "What needs
/// attention" names, so it never names a session the condition did not hold for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SessionsRecord {
    /// Their pids, in result order: the first 100.
    pub pids: Vec<i64>,
    /// How many rows it held for in all; `pids` holds fewer when some had no pid or past 100.
    pub count: u64,
}

/// A failed step: PostgreSQL's error fields where the server produced it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ErrorRecord {
    pub message: String,
    /// SQLSTATE, e.g. `25006`.
    pub sqlstate: Option<String>,
    pub detail: Option<String>,
    pub hint: Option<String>,
}
