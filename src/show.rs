//! `runbook show`: a playbook rendered as the runbook a human would read.
//!
//! The documentation is generated from the playbook itself, so it cannot drift from what runs.
//! Titles are rendered with the params' defaults where they need nothing else; SQL is shown as
//! written, templates included, since that is what a reviewer must check.

use std::fmt::Write as _;

use minijinja::Value;

use crate::markdown::{code, fenced, table};
use crate::param::{self, Param};
use crate::playbook::{
    Act, Action, Approval, MaxRows, Metric, Playbook, ROW_COUNT_METRIC, Requirements, RowLimit,
    Scope, Sees, Signal, Step, StepKind, Transaction, Unit,
};
use crate::range;
use crate::template;

pub fn render(playbook: &Playbook) -> String {
    let mut out = String::new();
    let defaults = param::defaults(&playbook.params);
    let _ = writeln!(out, "# {}\n", text(&playbook.title, &defaults));
    if let Some(description) = &playbook.description {
        let _ = writeln!(out, "{}\n", text(description, &defaults).trim_end());
    }
    let steps = playbook.steps.len();
    let _ = writeln!(
        out,
        "Playbook {} from {} · {steps} step{} · statement timeout {}\n",
        code(&playbook.name),
        code(&playbook.source),
        if steps == 1 { "" } else { "s" },
        playbook.timeout
    );
    if !playbook.params.is_empty() {
        out.push_str("## Parameters\n\n");
        out.push_str(&params_table(&playbook.params));
        let _ = writeln!(out, "\nSet with `--var NAME=VALUE`.\n");
    }
    out.push_str("## Steps\n");
    for (index, step) in playbook.steps.iter().enumerate() {
        out.push('\n');
        out.push_str(&render_step(index + 1, step, &defaults));
    }
    out
}

fn params_table(params: &[Param]) -> String {
    let rows: Vec<Vec<String>> = params
        .iter()
        .map(|param| {
            let kind = match param.kind {
                crate::param::ParamType::List => format!("list of {}", param.items.name()),
                kind => kind.name().to_owned(),
            };
            let default = match (&param.default, param.required) {
                (_, true) => "required".to_owned(),
                (Some(default), false) => default.to_string(),
                (None, false) => "none (NULL)".to_owned(),
            };
            let mut description = param.description.clone().unwrap_or_default();
            if !param.choices.is_empty() {
                let choices: Vec<String> = param.choices.iter().map(ToString::to_string).collect();
                description = format!("{description} (one of: {})", choices.join(", "))
                    .trim()
                    .to_owned();
            }
            vec![param.name.clone(), kind, default, description]
        })
        .collect();
    table(&["name", "type", "default", "description"], &rows)
}

fn render_step(number: usize, step: &Step, defaults: &Value) -> String {
    let mut out = String::new();
    let title = step
        .title
        .as_deref()
        .map_or_else(|| step.id.clone(), |t| text(t, defaults));
    let _ = writeln!(out, "### {number}. {title}\n");
    let _ = writeln!(out, "{} step {}\n", kind_label(step), code(&step.id));
    if let Some(description) = &step.description {
        let _ = writeln!(out, "{}\n", text(description, defaults).trim_end());
    }
    let mut facts = Vec::new();
    if let Some(when) = &step.when {
        facts.push(format!("**Runs only when** {}", code(when)));
    }
    if !step.requires.is_empty() {
        facts.push(format!("**Requires** {}", requirements(&step.requires)));
    }
    if let Some(timeout) = step.timeout {
        facts.push(format!("**Statement timeout** {timeout}"));
    }
    match step.sees {
        Some(Sees::AllSessions) => facts.push(
            "**Sees** every role's sessions (UNKNOWN without the privileges of `pg_read_all_stats`)"
                .to_owned(),
        ),
        Some(Sees::OwnSessions) => facts.push("**Sees** its own role's sessions".to_owned()),
        None => {}
    }
    for fact in &facts {
        let _ = writeln!(out, "- {fact}");
    }
    if !facts.is_empty() {
        out.push('\n');
    }
    match &step.kind {
        StepKind::Check { sql } => out.push_str(&fenced("sql", sql)),
        StepKind::Action(action) => out.push_str(&render_action(step, action, defaults)),
        StepKind::Manual { text: manual } => {
            for line in text(manual, defaults).trim_end().lines() {
                let _ = writeln!(out, "> {line}");
            }
        }
    }
    if !step.assess.is_empty() {
        out.push_str("\nAssessment:\n\n");
        for assessment in &step.assess {
            let per = match assessment.scope {
                Scope::Row => " for any row",
                Scope::Aggregate => "",
            };
            let mut line = format!(
                "- **{}**{per} when {}",
                assessment.severity.label(),
                code(&assessment.condition)
            );
            if let Some(message) = &assessment.message {
                let _ = write!(line, ": {}", message.trim());
            }
            if let Some(recommendation) = &assessment.recommendation {
                let _ = write!(line, " — {}", recommendation.trim());
            }
            let _ = writeln!(out, "{line}");
        }
    }
    if !step.metrics.is_empty() {
        out.push_str("\nMetrics (perfdata with `--nagios`, Prometheus with `--metrics`):\n\n");
        out.push_str(&metrics_table(&step.metrics, defaults));
    }
    out
}

/// A check's metrics, bounds and thresholds rendered with the params' defaults (the table
/// escapes every cell, so names are plain text).
fn metrics_table(metrics: &[Metric], defaults: &Value) -> String {
    let shown = |value: &Option<String>| {
        let rendered = value.as_deref().map(|source| text(source, defaults));
        rendered.map_or_else(String::new, |rendered| {
            range::threshold(&rendered).unwrap_or(rendered)
        })
    };
    let rows: Vec<Vec<String>> = metrics
        .iter()
        .map(|metric| {
            let name = if metric.column == ROW_COUNT_METRIC {
                format!("{} (the number of rows)", metric.column)
            } else {
                metric.column.clone()
            };
            vec![
                name,
                metric.unit.map_or("", Unit::uom).to_owned(),
                metric.labels.join(", "),
                shown(&metric.warning),
                shown(&metric.critical),
                shown(&metric.min),
                shown(&metric.max),
            ]
        })
        .collect();
    table(
        &[
            "metric", "unit", "labels", "warning", "critical", "min", "max",
        ],
        &rows,
    )
}

fn render_action(step: &Step, action: &Action, defaults: &Value) -> String {
    let mut out = String::new();
    let counted = match &action.act {
        Act::Sql(sql) => {
            if let Some(preview) = &sql.preview {
                out.push_str("Preview, shown before approval:\n\n");
                out.push_str(&fenced("sql", preview));
                out.push('\n');
            }
            out.push_str(&fenced("sql", &sql.sql));
            out.push('\n');
            ("the preview has more than", "rows")
        }
        Act::Signal(signal) => {
            let (verb, what) = match signal.signal {
                Signal::Terminate { .. } => ("Terminates", "session"),
                Signal::Cancel => ("Cancels the running query of", "session, the same query"),
            };
            let _ = writeln!(
                out,
                "{verb} each session that step {} lists. At approval the check runs again and its rows are shown; approved, a session is signalled only while that check still selects the same {what} (pid, `backend_start`{}). Never this engine's own session, another `runbook:` session, a process that is not a client backend, or a superuser's session unless the engine runs as a superuser.\n",
                code(&signal.source.id),
                if signal.signal == Signal::Cancel {
                    ", `query_start`"
                } else {
                    ""
                }
            );
            if let Signal::Terminate { wait: Some(wait) } = signal.signal {
                let _ = writeln!(
                    out,
                    "- **Waits** up to {wait} for each session to be gone (PostgreSQL 14+)"
                );
            }
            ("it would signal more than", "sessions")
        }
    };
    let approval = match action.approval {
        Approval::Required => "required — approve at the prompt, or with `--yes`".to_owned(),
        Approval::Confirm => format!(
            "confirm — type {} at the prompt; `--yes` does not approve it",
            code(&step.id)
        ),
    };
    let _ = writeln!(out, "- **Approval** {approval}");
    if let Some(max_rows) = &action.max_rows {
        let limit = |limit: RowLimit| match limit {
            RowLimit::Count(n) => format!("{} {n} {}", counted.0, counted.1),
            RowLimit::Percent(p) => format!("{} {p}% of the usable connections", counted.0),
        };
        let refuses = match max_rows {
            MaxRows::Limit(fixed) => limit(*fixed),
            MaxRows::Template(source) => {
                let written = code(&format!("max_rows: {source}"));
                match template::render_text(source, defaults)
                    .ok()
                    .and_then(|text| RowLimit::parse(&text))
                {
                    Some(fixed) => format!("{} by default ({written})", limit(fixed)),
                    None => format!("{} the limit {written} gives", counted.0),
                }
            }
        };
        let _ = writeln!(out, "- **Refuses to run** when {refuses}");
    }
    if matches!(&action.act, Act::Sql(sql) if sql.transaction == Transaction::Autocommit) {
        let _ = writeln!(out, "- Runs outside a transaction block");
    }
    out
}

fn kind_label(step: &Step) -> &'static str {
    match &step.kind {
        StepKind::Check { .. } => "Read-only check,",
        StepKind::Action(Action {
            act: Act::Signal(signal),
            ..
        }) => match signal.signal {
            Signal::Terminate { .. } => "**Terminate** (ends sessions),",
            Signal::Cancel => "**Cancel** (cancels queries),",
        },
        StepKind::Action(_) => "**Action** (changes the server),",
        StepKind::Manual { .. } => "Manual",
    }
}

fn requirements(requires: &Requirements) -> String {
    let mut parts = Vec::new();
    if let Some(version) = requires.server_version {
        parts.push(format!("PostgreSQL {version} or later"));
    }
    if requires.superuser {
        parts.push("a superuser".to_owned());
    }
    let named = |what: &str, names: &[String]| {
        let names: Vec<String> = names.iter().map(|n| code(n)).collect();
        format!("{what} {}", names.join(", "))
    };
    if !requires.relations.is_empty() {
        parts.push(named("relations", &requires.relations));
    }
    if !requires.extensions.is_empty() {
        parts.push(named("extensions", &requires.extensions));
    }
    if !requires.roles.is_empty() {
        parts.push(named("membership in", &requires.roles));
    }
    parts.join("; ")
}

/// A text template rendered with the params' defaults, or as written if it needs more.
fn text(source: &str, defaults: &Value) -> String {
    template::render_text(source, defaults).unwrap_or_else(|_| source.to_owned())
}
