//! The engine's errors: why a step failed, why an action was refused, why a run ended early.
//! Their texts are what the report and the journal say.

use thiserror::Error;

use crate::expr::{Failure, Mismatch};
use crate::sql::Finding;
use crate::target::{Fault, QueryError};

/// Why a step failed (its status is then UNKNOWN).
#[derive(Debug, Error)]
pub enum StepError {
    #[error("the SQL template could not be rendered: {source:#}")]
    Render { source: minijinja::Error },
    #[error("`when` could not be evaluated: {source:#}")]
    When { source: minijinja::Error },
    #[error("assessment `{condition}`: {source:#}")]
    Assessment {
        condition: String,
        source: minijinja::Error,
    },
    /// A comparison of two values of kinds that do not compare (`where`: "`when`", or
    /// "assessment `...`").
    #[error("{place}: {mismatch}")]
    KindMismatch {
        place: String,
        mismatch: Box<Mismatch>,
    },
    #[error("preview failed: {}", .source.message)]
    Preview { source: QueryError },
    /// The rendered SQL, judged right before it would have been sent.
    #[error("the {what} was not sent: {}{}", join(.findings), traced(.at))]
    NotSent {
        what: &'static str,
        findings: Vec<Finding>,
        /// `file:line` of the template that rendered it.
        at: Option<String>,
    },
    /// The statement needs every role's sessions and the role cannot see them.
    #[error(
        "the {what} was not sent: it needs every role's sessions, and the role `{role}` cannot see other roles' sessions in `{view}` (it does not have the privileges of `pg_read_all_stats`; a NOINHERIT member has to `SET ROLE`), so its counts would come out low; grant `pg_monitor` (or `pg_read_all_stats`) to the role, or declare `sees: own_sessions` if its own sessions are enough"
    )]
    Blind {
        what: &'static str,
        role: String,
        view: &'static str,
    },
    #[error("{}", .source.message)]
    Query { source: QueryError },
    /// `by`: what interrupted the run (`Engine::interruption`).
    #[error("interrupted {by} before it was sent")]
    Interrupted { by: &'static str },
    /// The rows of a `terminate`/`cancel`'s check do not name sessions.
    #[error("{message}")]
    Sessions { message: String },
    #[error(
        "`wait` needs PostgreSQL 14 or later (`pg_terminate_backend` with a timeout); this server is {version}"
    )]
    WaitNeedsVersion { version: i64 },
}

impl StepError {
    /// Why the `when` gave no answer.
    pub fn when(failure: Failure) -> StepError {
        match failure {
            Failure::Mismatch(mismatch) => StepError::KindMismatch {
                place: "`when`".to_owned(),
                mismatch,
            },
            Failure::Eval(source) => StepError::When { source },
        }
    }

    /// Why the assessment `condition` gave no answer.
    pub fn assessment(condition: &str, failure: Failure) -> StepError {
        match failure {
            Failure::Mismatch(mismatch) => StepError::KindMismatch {
                place: format!("assessment `{condition}`"),
                mismatch,
            },
            Failure::Eval(source) => StepError::Assessment {
                condition: condition.to_owned(),
                source,
            },
        }
    }

    /// PostgreSQL's error fields, where the server produced the error.
    pub fn query(&self) -> Option<&QueryError> {
        match self {
            StepError::Preview { source } | StepError::Query { source } => Some(source),
            _ => None,
        }
    }

    /// A read-only statement ended its transaction: CRITICAL, not merely unknown.
    pub fn escaped(&self) -> bool {
        self.query()
            .is_some_and(|error| error.fault == Fault::EscapedTransaction)
    }
}

/// Why an action did not run although the run went on (the run then exits 4).
#[derive(Debug, Error)]
pub enum Refusal {
    #[error(
        "refused: the preview has {row_count} rows, more than the {kept} an action can be shown and act on"
    )]
    PreviewTooLarge { row_count: u64, kept: usize },
    #[error(
        "refused: the preview has {row_count} rows, more than `max_rows` allows ({allowed}{})",
        if limit == &allowed.to_string() { String::new() } else { format!(": {limit}") }
    )]
    MaxRows {
        row_count: u64,
        allowed: u64,
        /// How `allowed` was reached (`10% of 12 usable connections`).
        limit: String,
    },
    #[error("refused: `max_rows` `{template}` gives no row limit: {why}")]
    InvalidMaxRows { template: String, why: String },
    #[error(
        "refused: the check lists {row_count} sessions, more than the {shown} shown at the prompt and in the report (`--report-rows`); narrow the check or show more rows"
    )]
    MoreSessionsThanShown { row_count: u64, shown: u64 },
    #[error(
        "refused: the preview lists the engine's own session (pid {pid}); an action never acts on it"
    )]
    OwnSession { pid: i64 },
    #[error("refused: cannot take the advisory lock of playbook `{playbook}`: {reason}")]
    LockFailed { playbook: String, reason: String },
    #[error(
        "refused: another run of playbook `{playbook}` is acting on this server: {holder} holds its advisory lock"
    )]
    LockHeld { playbook: String, holder: String },
    #[error("refused: {reason}; the action was not run without its audit trail")]
    NoAuditTrail { reason: String },
    /// The approver said no; its words.
    #[error("{reason}")]
    NotApproved { reason: String },
}

/// Why a run ended before its steps could run or finish as asked.
#[derive(Debug, Error)]
pub enum RunError {
    #[error("{message}")]
    CannotConnect { message: String },
    #[error("cannot read the server's facts: {message}")]
    Facts { message: String },
    #[error("`--var {param}={name}`: the server has no database named `{name}`{hint}")]
    NoSuchDatabase {
        param: String,
        name: String,
        /// ` (did you mean `x`?)`, or nothing.
        hint: String,
    },
    #[error("step `{step}` failed and has `on_error: abort`")]
    Aborted { step: String },
    #[error("step `{step}`: {message}")]
    ConnectionLost { step: String, message: String },
    #[error("step `{step}` escaped its read-only transaction; the run stopped there")]
    Escaped { step: String },
}

fn join(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn traced(at: &Option<String>) -> String {
    at.as_ref()
        .map(|at| format!(" (rendered from the template at {at})"))
        .unwrap_or_default()
}
