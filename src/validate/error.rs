//! Every problem validation can report, one variant per kind of message.
//!
//! The messages are part of the interface: `tests/invalid/*.stderr` compares them byte for
//! byte, and users grep for them. Keeping them in one enum shows every message at a glance,
//! keeps their wording consistent (lower case, names in backticks, a hint after `;`), and lets
//! a test or a caller match on the kind instead of the text.

use thiserror::Error;

use crate::diagnostic::Level;
use crate::duration::DurationError;
use crate::expr::Mismatch;
use crate::history::Function;
use crate::sql::Concern;

/// What a step exposes to later steps besides its columns.
pub(super) const STEP_ATTRIBUTES: &[&str] = &["rows", "row_count", "status", "severity", "message"];

/// A problem in a playbook, as validation words it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Problem {
    #[error("unsupported playbook version `{version}`; this runbook reads version 1")]
    UnsupportedVersion { version: u32 },
    #[error(
        "invalid name `{name}`: use lower-case letters, digits, `-` and `_`, starting with a letter or digit"
    )]
    InvalidName { name: String },
    #[error("the playbook has no steps")]
    NoSteps,
    #[error("the playbook has no `{key}`")]
    PlaybookWithout { key: &'static str },
    #[error("{error}")]
    InvalidDuration { error: DurationError },
    #[error("`{path}` must be longer than zero")]
    DurationNotPositive { path: String },
    #[error(
        "`{path}` of `{text}` is longer than PostgreSQL accepts for a timeout (2147483647 ms, about 24 days)"
    )]
    DurationTooLong { path: String, text: String },

    #[error(
        "invalid param name `{name}`: use lower-case letters, digits and `_`, starting with a letter (templates read it as `params.{name}`)"
    )]
    InvalidParamName { name: String },
    #[error("`items` applies only to `type: list`; param `{name}` is a {kind}")]
    ItemsWithoutList { name: String, kind: &'static str },
    #[error("param `{name}`: lists of lists are not supported")]
    ListOfLists { name: String },
    /// A default or a choice that is not a value of the param's type.
    #[error("invalid {key} for param `{name}`: {error}")]
    InvalidParamValue {
        key: &'static str,
        name: String,
        error: String,
    },
    #[error("invalid default: {error}")]
    DefaultNotAChoice { error: String },
    #[error("param `{name}` is required and also has a default; the default is never used")]
    RequiredWithDefault { name: String },

    #[error(
        "invalid step id `{id}`: use lower-case letters, digits and `_`, starting with a letter (later steps read it as `steps.{id}`)"
    )]
    InvalidStepId { id: String },
    #[error("{step} has no `id`")]
    StepWithoutId { step: String },
    #[error("duplicate step id `{id}` (first used on line {first})")]
    DuplicateStepId { id: String, first: usize },
    #[error(
        "{step} has none of `check`, `action`, `terminate`, `cancel`, `manual`; a step does exactly one of them"
    )]
    StepWithoutKind { step: String },
    #[error(
        "{step} has both `{first}` and `{second}`; a step does exactly one of `check`, `action`, `terminate`, `cancel`, `manual`"
    )]
    StepWithTwoKinds {
        step: String,
        first: &'static str,
        second: &'static str,
    },
    /// `why` is empty or a parenthesised reason, with its leading space.
    #[error("`{key}` does not apply to {} {kind} step{why}", article(kind))]
    KeyDoesNotApply {
        key: &'static str,
        kind: &'static str,
        why: &'static str,
    },
    #[error(
        "invalid `max_rows` `{text}`{gives}: expected a count, or a percentage above 0% and at most 100% such as \"20%\""
    )]
    InvalidMaxRows {
        text: String,
        /// What a template gives with the params' defaults, as ` (…)`; empty for plain text.
        gives: String,
    },
    #[error(
        "`max_rows` needs something to count: add a `preview` whose rows are what the action acts on, or signal sessions with `terminate:`/`cancel:`"
    )]
    MaxRowsWithoutCount,
    /// `terminate: x` / `cancel: x` where `x` is no step.
    #[error("`{key}` names `{id}`, which is not a step{hint}")]
    UnknownSource {
        key: &'static str,
        id: String,
        hint: String,
    },
    #[error(
        "`{key}` names step `{id}`, which comes later (line {line}); it acts on the rows of an earlier check"
    )]
    SourceLater {
        key: &'static str,
        id: String,
        line: usize,
    },
    #[error(
        "`{key}` names step `{id}`, {} {kind} step; it acts on the rows of an earlier check",
        article(kind)
    )]
    SourceNotCheck {
        key: &'static str,
        id: String,
        kind: &'static str,
    },
    #[error(
        "`{key}` acts on the rows of check `{id}`, which has no {} column; each row must name its session with {}",
        .missing.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(" or "),
        .needed.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
    )]
    SourceLacksColumns {
        key: &'static str,
        id: String,
        missing: Vec<&'static str>,
        needed: &'static [&'static str],
    },
    #[error("`server_version` is a major version such as `13`; `{version}` is not one")]
    InvalidServerVersion { version: u32 },
    #[error(
        "`{name}` in `requires.relations` is not a relation name such as `pg_tviews_queue` or `schema.table`"
    )]
    InvalidRelation { name: String },
    #[error("`{name}` in `functions` is not a function name such as `my_fn` or `schema.my_fn`")]
    InvalidFunctionName { name: String },
    #[error("`{name}` in `requires.{key}` is not a name")]
    BlankRequirement { name: String, key: &'static str },
    #[error("{place} has none of `critical`, `warning`, `ok`; give exactly one, with a condition")]
    AssessmentWithoutSeverity { place: String },
    #[error("{place} has both `{first}` and `{second}`; give exactly one")]
    AssessmentWithTwoSeverities {
        place: String,
        first: &'static str,
        second: &'static str,
    },

    /// `message` is minijinja's, without its location (ours replaces it).
    #[error("template error in {place}: {message}")]
    Template { place: String, message: String },
    #[error(
        "raw interpolation (`|safe`) in {place}: the value is pasted into the SQL unescaped; prefer the default literal escaping or `| ident`"
    )]
    RawInterpolation { place: String },
    #[error(
        "recursive loop in {place}: a template must render in bounded time and memory; loop over the rows instead"
    )]
    RecursiveLoop { place: String },
    #[error("invalid expression in {place}: {message}")]
    InvalidExpression { place: String, message: String },
    /// Two sides of a comparison whose kinds are known and do not compare.
    #[error(
        "`{}` in {place} compares values of different kinds: {} and {}; {}",
        .mismatch.comparison,
        .mismatch.left,
        .mismatch.right,
        .mismatch.hint()
    )]
    KindMismatch { place: String, mismatch: Mismatch },
    /// `hint` is a did-you-mean (`; did you mean `x`?`) or empty.
    #[error("{problem} in {place}{hint}")]
    Name {
        problem: NameProblem,
        place: String,
        hint: String,
    },
    #[error("{problem}", problem = .problem.in_place(.place))]
    History {
        problem: HistoryProblem,
        place: String,
    },

    #[error(
        "an `action` may not signal sessions: {concern}; use `terminate: STEP` or `cancel: STEP`, which signal exactly the sessions the operator approved"
    )]
    ActionSignals { concern: Concern },
    #[error("`action` must be SQL the engine can judge: {concern}")]
    ActionNotJudged { concern: Concern },
    #[error("`check` must be read-only: {concern}; use an `action` step, which needs approval")]
    CheckNotReadOnly { concern: Concern },
    #[error("`preview` must be read-only: {concern}")]
    PreviewNotReadOnly { concern: Concern },
    #[error(
        "`metrics` of {step}: `{name}` is not a result column (the columns are {}){hint}",
        .columns.join(", ")
    )]
    MetricNotAColumn {
        step: String,
        name: String,
        columns: Vec<String>,
        hint: String,
    },
    #[error(
        "metric `{column}`: the column holds {kind}; a metric is read from a number, an interval (in seconds) or a boolean (1 or 0)"
    )]
    MetricNotNumeric { column: String, kind: &'static str },
    #[error(
        "metric `{column}` is an interval, exported in seconds: its unit is `s` or none, not `{unit}`"
    )]
    IntervalMetricUnit { column: String, unit: &'static str },
    #[error("metric `row_count` counts the rows of the whole result: it has no `labels`")]
    RowCountLabels,
    #[error("invalid `{key}` `{text}` of metric `{column}`{gives}: {why}")]
    InvalidMetricValue {
        column: String,
        key: &'static str,
        text: String,
        /// What a template gives with the params' defaults, as ` (…)`; empty for plain text.
        gives: String,
        why: String,
    },
}

/// A name in a template or expression that is not in scope there.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameProblem {
    #[error("unknown param `{param}`")]
    UnknownParam { param: String },
    #[error("unknown fact `{fact}`")]
    UnknownFact { fact: String },
    #[error("unknown step `{step}`")]
    UnknownStep { step: String },
    #[error(
        "step `{step}` is used before it runs (it is declared on line {line}; a step sees only earlier steps)"
    )]
    StepUsedBeforeItRuns { step: String, line: usize },
    #[error(
        "step `{step}` has no `{attribute}` (it has {}, and the columns {})",
        STEP_ATTRIBUTES.join(", "),
        .columns.join(", ")
    )]
    NoSuchStepAttribute {
        step: String,
        attribute: String,
        columns: Vec<String>,
    },
    #[error(
        "unknown name `{name}` (not a result column: {}; nor `params`, `facts`, `steps`, `row_count`)",
        .columns.join(", ")
    )]
    NotAColumn { name: String, columns: Vec<String> },
    #[error("unknown name `{name}` (names are `params.*`, `facts.*`, `steps.*`)")]
    UnknownName { name: String },
    #[error("`history` is not in scope (steps read it: their `when`, `assess` and templates)")]
    HistoryOutsideSteps,
}

/// A use of `history.*` that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryProblem {
    /// `hint` is a did-you-mean or empty.
    UnknownFunction {
        function: String,
        hint: String,
    },
    Arguments {
        signature: String,
        given: usize,
    },
    MetricNotText {
        signature: String,
    },
    /// `known` lists the declared metrics, in backticks, comma-separated (may be empty).
    UnknownMetric {
        metric: String,
        known: String,
        hint: String,
    },
    MetricOfLaterStep {
        metric: String,
        step: String,
        line: usize,
    },
    LabelledMetric {
        metric: String,
    },
    Window {
        signature: String,
        why: String,
    },
    NotCalled,
    InStatement,
}

impl HistoryProblem {
    /// The message, naming `place`.
    fn in_place(&self, place: &str) -> String {
        let functions = Function::ALL
            .map(|f| format!("`{}`", f.signature()))
            .join(", ");
        match self {
            HistoryProblem::UnknownFunction { function, hint } => format!(
                "unknown history function `history.{function}` in {place} (the functions are {functions}){hint}"
            ),
            HistoryProblem::Arguments { signature, given } => format!(
                "`{signature}` in {place} is given {}; it is called as `{signature}`",
                crate::count::count_usize(*given, "argument")
            ),
            HistoryProblem::MetricNotText { signature } => format!(
                "the metric of `{signature}` in {place} must be written out as a text, `'step.metric'` (such as 'overview.idle'), so validation can check it"
            ),
            HistoryProblem::UnknownMetric {
                metric,
                known,
                hint,
            } => {
                let known = if known.is_empty() {
                    "no step declares `metrics`".to_owned()
                } else {
                    format!("the declared metrics are {known}")
                };
                format!(
                    "unknown metric `{metric}` in {place}: history keeps the `metrics` a step declares, named `step.metric` ({known}){hint}"
                )
            }
            HistoryProblem::MetricOfLaterStep { metric, step, line } => format!(
                "metric `{metric}` in {place} is read before step `{step}` runs (it is declared on line {line}; a step reads the history of its own and earlier steps' metrics)"
            ),
            HistoryProblem::LabelledMetric { metric } => format!(
                "metric `{metric}` in {place} has `labels` (a value per row); history follows one value per run, so declare an unlabelled metric (a total) to read its history"
            ),
            HistoryProblem::Window { signature, why } => {
                format!("invalid window of `{signature}` in {place}: {why}")
            }
            HistoryProblem::NotCalled => {
                format!("`history` in {place} is read only through its functions: {functions}")
            }
            HistoryProblem::InStatement => format!(
                "`history` in a `{{% … %}}` tag of {place}: call its functions in `{{{{ … }}}}` or `{{% if … %}}`"
            ),
        }
    }
}

/// `a` or `an`, for a step kind.
fn article(kind: &str) -> &'static str {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

impl Problem {
    /// Warnings leave the playbook valid; everything else makes it invalid.
    pub fn level(&self) -> Level {
        match self {
            Problem::RequiredWithDefault { .. } | Problem::RawInterpolation { .. } => {
                Level::Warning
            }
            _ => Level::Error,
        }
    }
}
