//! The playbook file exactly as written: serde types that mirror the YAML.
//!
//! These types are the single source of the JSON Schema (`runbook schema`), so their doc
//! comments are what an editor shows as help. They reject unknown keys but check nothing else:
//! `validate` turns them into the checked model in `playbook.rs`.
//!
//! Steps and params are kept as raw YAML values at the top level and deserialized one by one,
//! so that one broken step does not hide the problems of the others: `validate` reports every
//! problem at once. The schema still describes them fully (`schemars(with = ...)`).

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

/// A runbook playbook: ordered SQL steps with guards, assessments and approvals.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "runbook playbook", extend("$id" = "https://runbook.dev/schema/playbook.schema.json"))]
pub struct RawPlaybook {
    /// Playbook format version. Always `1`.
    // Optional here (like `steps`) only so that a playbook without one, or with a bad one, still
    // has its steps validated; validation reports it missing, and the schema requires it.
    #[schemars(required)]
    pub version: Option<u32>,
    /// Short name (a slug: lower-case letters, digits, `-` and `_`). Defaults to the file stem.
    /// Used in reports, the advisory lock and `application_name`.
    pub name: Option<String>,
    /// Human title, shown by `list`, `show` and in the report.
    pub title: Option<String>,
    /// Markdown text shown by `show` and at the top of the report.
    pub description: Option<String>,
    /// Default `statement_timeout` for every step, as a duration (`30s`, `2m`). Default `30s`.
    pub timeout: Option<String>,
    /// Parameters, set on the command line with `--var NAME=VALUE`. Typed, validated, defaulted.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, RawParam>")]
    pub params: IndexMap<String, serde_yaml::Value>,
    /// The steps, run in order. Later steps see earlier ones as `steps.<id>`.
    #[schemars(required, with = "Vec<RawStep>")]
    pub steps: Option<Vec<serde_yaml::Value>>,
}

/// A parameter of the playbook.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawParam {
    /// The parameter's type; `--var` values are parsed by it.
    #[serde(rename = "type")]
    pub kind: ParamType,
    /// Value used when `--var` does not set it. Must be of the parameter's type.
    #[schemars(with = "Option<serde_json::Value>")]
    pub default: Option<serde_yaml::Value>,
    /// `true`: the run refuses to start unless `--var` sets it. Default `false`.
    #[serde(default)]
    pub required: bool,
    /// The only values allowed.
    #[schemars(with = "Option<Vec<serde_json::Value>>")]
    pub choices: Option<Vec<serde_yaml::Value>>,
    /// For `type: list`, the type of each item. Default `string`.
    pub items: Option<ParamType>,
    /// What the parameter means, shown by `show` and `--help`-like listings.
    pub description: Option<String>,
}

/// The type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// Text; interpolated into SQL as a quoted literal.
    String,
    /// A whole number.
    Integer,
    /// A number, possibly with a fraction.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A span of time: `30s`, `15m`, `1h`, `2d`, `1h30m`; interpolated as an `interval` literal.
    Duration,
    /// A list: `[a, b]` in YAML, `a,b` or `[a, b]` on the command line; interpolated as `ARRAY[...]`.
    List,
    /// The name of a database on the server, as a string; a name the server does not have makes
    /// the run UNKNOWN before any step runs (a misspelt name would scope every query to nothing).
    Database,
}

/// One step of a playbook: exactly one of `check`, `action`, `terminate`, `cancel` or `manual`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// Unique slug (lower-case letters, digits, `_`); later steps refer to it as `steps.<id>`.
    // Optional here only so that a step without one is still validated (and named by its
    // position); validation reports it missing, and the schema requires it.
    #[schemars(required)]
    pub id: Option<String>,
    /// One-line title; a template (`{{ params.idle_after }}`).
    pub title: Option<String>,
    /// Markdown explaining the step; a template.
    pub description: Option<String>,
    /// Read-only SQL (a template). Runs in a READ ONLY transaction; `validate` rejects SQL that
    /// writes or signals.
    pub check: Option<String>,
    /// SQL that changes the server (a template). Runs only after approval. It may not signal
    /// sessions (`pg_terminate_backend`, `pg_cancel_backend`): use `terminate` or `cancel`.
    pub action: Option<String>,
    /// The id of an earlier check whose rows (with `pid` and `backend_start`) are the sessions
    /// to terminate. At approval the check runs again and its rows are shown; approved, each
    /// session is terminated only if the check still selects the same session. Never the
    /// engine's own session, another `runbook:` session, a non-client backend, or a
    /// superuser's session unless the engine runs as a superuser.
    pub terminate: Option<String>,
    /// The id of an earlier check whose rows (with `pid`, `backend_start` and `query_start`)
    /// are the queries to cancel; like `terminate`, and only the same query is cancelled.
    pub cancel: Option<String>,
    /// A recommendation for a human, shown in the report; nothing runs.
    pub manual: Option<String>,
    /// Guard: an expression; the step is skipped (with the reason) when it is false.
    /// Example: `steps.idle_candidates.row_count > 0`.
    pub when: Option<String>,
    /// Guard: facts the server must have for the step to run; otherwise it is skipped.
    pub requires: Option<RawRequires>,
    /// Assessments of the result: the first matching one of the worst severity sets the step's
    /// severity. Conditions that name result columns are evaluated per row.
    pub assess: Option<Vec<RawAssessment>>,
    /// For actions: read-only SQL showing what the action will touch, displayed at the approval
    /// prompt. The action can use its rows as `preview.rows`.
    pub preview: Option<String>,
    /// `statement_timeout` for this step (`30s`, `5m`). Default: the playbook's `timeout`.
    pub timeout: Option<String>,
    /// What to do when the step fails: `continue` (default for checks) or `abort` (default for
    /// actions).
    pub on_error: Option<OnError>,
    /// For `terminate`: wait until each session is gone, up to this long (`5s`), so that
    /// `terminated` means gone. PostgreSQL 14+.
    pub wait: Option<String>,
    /// `false` runs the SQL outside a transaction block (for `VACUUM`, `CREATE INDEX
    /// CONCURRENTLY`, ...). Default `true`.
    pub transaction: Option<bool>,
    /// For actions: `required` (approve at a prompt or with `--yes`; default) or `confirm`
    /// (type the step id; `--yes` never approves it).
    pub approval: Option<Approval>,
    /// For actions: refuse to run when more rows would be acted on than this (the preview's
    /// rows, or the sessions of a `terminate`/`cancel`) — a number, a percentage of the usable
    /// connections such as `"20%"`, or a text template that gives one
    /// (`"{{ params.max_percent }}%"`).
    pub max_rows: Option<RawMaxRows>,
    /// Functions besides PostgreSQL's built-in read-only ones that this step's `check` or
    /// `preview` may call, as `name` or `schema.name`: a team's own monitoring function, or an
    /// extension's (`[monitoring.table_bloat, pgstattuple]`). List only functions that only
    /// read: the check runs them with the engine's privileges. Functions that signal, write or
    /// run SQL text (`pg_terminate_backend`, `dblink`...) stay refused even when listed.
    pub functions: Option<Vec<String>>,
    /// For a `check` (or an action's `preview`): which sessions it must see to be right.
    /// `all_sessions`: it counts or lists every role's sessions, so when the role cannot see
    /// them (no privileges of `pg_read_all_stats`) the step is UNKNOWN instead of coming out
    /// low. `own_sessions`: the role's own are enough. Default: `all_sessions` when the SQL
    /// reads `pg_stat_activity` or another statistics view that hides other roles' sessions.
    pub sees: Option<Sees>,
    /// For a `check`: the numeric result columns exported as metrics (perfdata with
    /// `--nagios`, Prometheus with `--metrics`), by column name, each with an optional unit,
    /// bounds, thresholds and label columns. An interval column is exported in seconds.
    pub metrics: Option<IndexMap<String, Option<RawMetric>>>,
}

/// How a result column is exported as a metric.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMetric {
    /// The unit of the value: `s` (seconds), `%`, `B` (bytes) or `c` (a counter that only
    /// grows); none for a plain number. An interval column is in seconds, so `s` or none.
    pub unit: Option<Unit>,
    /// The least value it can take, a number or a text template (`"{{ facts.x }}"`).
    pub min: Option<RawNumber>,
    /// The greatest value it can take, a number or a text template
    /// (`"{{ facts.usable_connections }}"`).
    pub max: Option<RawNumber>,
    /// The warning threshold in the monitoring-plugin range syntax (`70`: outside 0..70;
    /// `10:`, `~:5`, `@10:20`), a number or a text template (`"{{ params.warning_percent }}"`).
    /// It is what monitoring is told; the step's status comes from `assess`.
    pub warning: Option<RawNumber>,
    /// The critical threshold, in the same syntax.
    pub critical: Option<RawNumber>,
    /// For a result of several rows: the text columns whose values tell the rows apart.
    pub labels: Option<Vec<String>>,
}

/// A number as written, or a text template that renders to one.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawNumber {
    Number(f64),
    Text(String),
}

/// The unit of a metric, as the monitoring-plugin guidelines spell it; base units only, as
/// Prometheus wants them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum Unit {
    /// Seconds.
    #[serde(rename = "s")]
    Seconds,
    #[serde(rename = "%")]
    Percent,
    /// Bytes.
    #[serde(rename = "B")]
    Bytes,
    /// A counter: a count that only grows (until the server restarts).
    #[serde(rename = "c")]
    Counter,
}

impl Unit {
    /// The unit of measurement as perfdata writes it.
    pub fn uom(self) -> &'static str {
        match self {
            Unit::Seconds => "s",
            Unit::Percent => "%",
            Unit::Bytes => "B",
            Unit::Counter => "c",
        }
    }
}

/// Which sessions a check must see to be right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sees {
    /// Every role's sessions: without the privileges of `pg_read_all_stats` (or superuser)
    /// the step is UNKNOWN.
    AllSessions,
    /// The connected role's own sessions are enough.
    OwnSessions,
}

/// Facts the server must have for a step to run.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRequires {
    /// Minimum PostgreSQL major version, e.g. `13`.
    pub server_version: Option<u32>,
    /// `true`: the connected role must be a superuser. `false` (the default) requires nothing.
    pub superuser: Option<bool>,
    /// Relations (tables or views, optionally schema-qualified) that must exist.
    pub relations: Option<Vec<String>>,
    /// Extensions that must be installed in the database.
    pub extensions: Option<Vec<String>>,
    /// Roles the connected role must be a member of (e.g. `pg_signal_backend`).
    pub roles: Option<Vec<String>>,
}

/// One assessment: exactly one of `ok`, `warning`, `critical`, with an expression.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAssessment {
    /// Expression; when true, the step is CRITICAL.
    pub critical: Option<String>,
    /// Expression; when true, the step is at least WARNING.
    pub warning: Option<String>,
    /// Expression; when true, the message is reported with severity OK.
    pub ok: Option<String>,
    /// What the report says when the condition holds; a template with the same scope.
    pub message: Option<String>,
    /// What to do about it; a template shown in the report.
    pub recommendation: Option<String>,
}

/// What to do when a step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Record the error and go on with the next step.
    Continue,
    /// Record the error and stop the run.
    Abort,
}

/// How an action is approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    /// Approve at the prompt, or with `--yes`.
    Required,
    /// Type the step id at the prompt; `--yes` never approves it.
    Confirm,
}

/// A row limit: a count, a percentage of the usable connections (`"20%"`), or a text
/// template that renders to either (`"{{ params.idle_max_percent }}%"`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawMaxRows {
    /// At most this many rows.
    Count(u64),
    /// At most this percentage of the usable connections, e.g. `"20%"`, or a template
    /// rendered when the action is about to be approved.
    Text(#[schemars(regex(pattern = r"^([0-9]+|[0-9]+(\.[0-9]+)?%|.*\{\{.*\}\}.*)$"))] String),
}
