//! The Markdown report, for the people on call.
//!
//! It only renders a [`RunRecord`]: the engine's events built the record, and the report
//! never re-derives what happened — it re-evaluates no assessment and recomputes no status — so
//! the Markdown, the JSON and the exit code cannot disagree, and a run cut short by an error,
//! an abort or Ctrl-C is reported from whatever the record holds at that moment.
//!
//! Text from the server and from the playbook is escaped wherever it lands (see `prose`), so a
//! query text with pipes, backticks, newlines or HTML cannot break the layout or inject markup.
//! Playbook prose written as Markdown (the description, a manual step's text) is rendered as
//! Markdown, as `runbook show` does.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::Output;
use super::prose::{cell_code, heading, inline, paragraph, quote, single_line};
use super::record::{
    ApprovalRecord, AssessmentRecord, Cell, ColumnKind, ErrorRecord, GuardRecord, Mode,
    ParamRecord, RunRecord, Status, StepRecord,
};
use crate::count::count;
use crate::duration::Duration;
use crate::markdown::{cell, code, fenced, table};

/// The Markdown report.
pub struct Markdown;

impl Output for Markdown {
    fn render(&self, record: &RunRecord) -> String {
        markdown(record)
    }

    fn extension(&self) -> &'static str {
        "md"
    }
}

/// The Markdown report, in the order a responder reads it at 3 a.m.: the status and what
/// needs attention, the summary table, then the playbook's description and parameters, each
/// step in detail, and what to do.
fn markdown(record: &RunRecord) -> String {
    let mut blocks = vec![
        format!("# {} — {}\n", heading(&record.title), record.status.label()),
        overview(record),
    ];
    blocks.extend(attention(record));
    blocks.push("## Summary\n".to_owned());
    blocks.push(summary(&record.steps));
    if let Some(description) = &record.description {
        blocks.push("## About this playbook\n".to_owned());
        blocks.push(format!("{}\n", description.trim()));
    }
    if !record.params.is_empty() {
        blocks.push("## Parameters\n".to_owned());
        blocks.push(params(&record.params));
    }
    blocks.push("## Steps\n".to_owned());
    for (index, step) in record.steps.iter().enumerate() {
        blocks.extend(step_blocks(index + 1, step));
    }
    let recommendations = recommendations(&record.steps);
    if !recommendations.is_empty() {
        blocks.push("## Recommendations\n".to_owned());
        blocks.push(recommendations);
    }
    blocks.join("\n")
}

/// The run's facts as a two-column table headed by its status, so no header row is empty.
fn overview(record: &RunRecord) -> String {
    let mode = match record.mode {
        Mode::Live => "live",
        Mode::DryRun => "dry run — no action was run",
    };
    let why = record.why.as_ref().map(|why| ("Why", inline(why)));
    let rows = why.into_iter().chain([
        (
            "Playbook",
            format!("{} ({})", cell_code(&record.playbook), cell(&record.source)),
        ),
        ("Target", cell(&record.target)),
        ("Operator", cell(&record.operator)),
        (
            "Role",
            record
                .privileges
                .as_ref()
                .map_or_else(|| "—".to_owned(), |p| cell(&p.describe())),
        ),
        ("Mode", mode.to_owned()),
        ("Started", cell(&record.started_at)),
        ("Duration", run_duration(record)),
    ]);
    let mut out = format!(
        "| Status | **{}** (exit {}) |\n| --- | --- |\n",
        record.status.label(),
        record.exit_code
    );
    for (name, value) in rows {
        let _ = writeln!(out, "| {name} | {value} |");
    }
    out
}

/// "What needs attention": the run's error and notes, then every step that is not fine, with
/// its message and the pids of the sessions it lists; nothing when all is well.
fn attention(record: &RunRecord) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    if let Some(error) = &record.error {
        items.push(format!("- **Error:** {}", inline(error)));
    }
    for step in record.steps.iter().filter(|step| needs_attention(step)) {
        let mut item = format!("- **{}** {}", step.status.label(), cell_code(&step.id));
        if step.title != step.id {
            let _ = write!(item, " {}", heading(&step.title));
        }
        if let Some(message) = step.message.as_deref().filter(|m| !m.trim().is_empty()) {
            let _ = write!(item, ": {}", inline(message));
        }
        if let Some(pids) = pids(step) {
            let _ = write!(item, " — {pids}");
        }
        items.push(item);
    }
    for note in &record.notes {
        items.push(format!("- **Note:** {}", inline(note)));
    }
    if items.is_empty() {
        return Vec::new();
    }
    vec![
        "## What needs attention\n".to_owned(),
        format!("{}\n", items.join("\n")),
    ]
}

/// Whether a step's outcome is a problem for the responder: a warning, a critical, a failure,
/// or an action the run stopped at.
fn needs_attention(step: &StepRecord) -> bool {
    matches!(
        step.status,
        Status::Warning | Status::Critical | Status::Unknown | Status::Stopped
    )
}

/// `pid 4242` or `pids 4242, 4243 (first 2 of 3 sessions)`: the sessions a step lists, by its
/// `pid` column; `None` when it has none.
fn pids(step: &StepRecord) -> Option<String> {
    let column = step.columns.iter().position(|c| c == "pid")?;
    let pids: Vec<String> = step
        .rows
        .iter()
        .filter_map(|row| row.get(column)?.shown().map(Cow::into_owned))
        .collect();
    let word = if pids.len() == 1 { "pid" } else { "pids" };
    let mut out = format!("{word} {}", cell(&pids.join(", ")));
    match pids.len() {
        0 => return None,
        shown if step.rows_truncated => {
            let _ = write!(
                out,
                " (first {shown} of {})",
                count(step.row_count, "session")
            );
        }
        _ => {}
    }
    Some(out)
}

fn params(params: &[ParamRecord]) -> String {
    let rows: Vec<Vec<String>> = params
        .iter()
        .map(|param| {
            let value = param.value.clone().unwrap_or_else(|| "_unset_".to_owned());
            vec![param.name.clone(), value]
        })
        .collect();
    table(&["name", "value"], &rows)
}

fn summary(steps: &[StepRecord]) -> String {
    let mut out = "| # | step | kind | status | duration | message |\n".to_owned();
    out.push_str("| --- | --- | --- | --- | --- | --- |\n");
    for (index, step) in steps.iter().enumerate() {
        let mut name = cell_code(&step.id);
        if step.title != step.id {
            let _ = write!(name, " {}", heading(&step.title));
        }
        let status = match step.status {
            Status::Warning | Status::Critical | Status::Unknown => {
                format!("**{}**", step.status.label())
            }
            _ => step.status.label().to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {name} | {} | {status} | {} | {} |",
            index + 1,
            cell(&step.kind),
            ran_for(step).unwrap_or_else(|| "—".to_owned()),
            inline(step.message.as_deref().unwrap_or_default()),
        );
    }
    out
}

/// The blocks of one step's section, in the order a reader checks them.
fn step_blocks(number: usize, step: &StepRecord) -> Vec<String> {
    let mut line = format!("{} · {}", code(&single_line(&step.id)), cell(&step.kind));
    if let Some(duration) = ran_for(step) {
        let _ = write!(line, " · {duration}");
    }
    let mut blocks = vec![
        format!(
            "### {number}. {} — {}\n",
            heading(&step.title),
            step.status.label()
        ),
        format!("{line}\n"),
    ];
    if let Some(message) = &step.message {
        blocks.push(format!("{}\n", paragraph(message)));
    }
    if !step.guards.is_empty() {
        blocks.push(guards(&step.guards));
    }
    blocks.extend(result_rows(step));
    if !step.assessments.is_empty() {
        blocks.push(assessments(&step.assessments));
    }
    if let Some(approval) = &step.approval {
        blocks.push(approval_line(approval));
    }
    if let Some(error) = &step.error {
        blocks.extend(error_blocks(error));
    }
    if let Some(manual) = &step.manual {
        blocks.push(quote(manual));
    }
    if let Some(sql) = &step.sql {
        blocks.push(folded_sql(sql));
    }
    blocks
}

/// The step's SQL, folded: GitHub and most viewers show it collapsed, under "SQL", so the
/// rows come first and the SQL is one click away.
fn folded_sql(sql: &str) -> String {
    format!(
        "<details><summary>SQL</summary>\n\n{}\n</details>\n",
        fenced("sql", sql)
    )
}

fn guards(guards: &[GuardRecord]) -> String {
    let mut out = "Guards:\n\n".to_owned();
    for guard in guards {
        let verdict = if guard.passed { "passed" } else { "failed" };
        let _ = writeln!(
            out,
            "- {verdict}: {} — {}",
            inline(&single_line(&guard.guard)),
            inline(&guard.reason)
        );
    }
    out
}

/// The result table and the line saying how many rows there were.
fn result_rows(step: &StepRecord) -> Vec<String> {
    let mut blocks = Vec::new();
    if !step.rows.is_empty() && !step.columns.is_empty() {
        let header: Vec<String> = step.columns.iter().map(|c| cell(c)).collect();
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let rows: Vec<Vec<String>> = step
            .rows
            .iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .map(|(i, value)| {
                        let kind = step.column_types.get(i).copied();
                        shown(value, kind.unwrap_or(ColumnKind::Text))
                    })
                    .collect()
            })
            .collect();
        blocks.push(table(&header, &rows));
    }
    let total = step.row_count;
    if step.rows_truncated {
        blocks.push(format!(
            "_showing first {} of {total} rows_\n",
            step.rows.len()
        ));
    } else if let Some(affected) = step.rows_affected.filter(|_| step.columns.is_empty()) {
        // An action without a result (`UPDATE`): what its command tag counted.
        blocks.push(format!("_no rows returned; {affected} affected_\n"));
    } else if !step.rows.is_empty() || ran(step) {
        blocks.push(match total {
            0 => "_no rows_\n".to_owned(),
            _ => format!("_{}_\n", count(total, "row")),
        });
    }
    blocks
}

/// A value as the report shows it: as psql does, but an interval as a person reads it
/// ([`Duration::human`]), the way the messages write it.
fn shown(value: &Cell, kind: ColumnKind) -> String {
    let Some(text) = value.shown() else {
        return "_NULL_".to_owned();
    };
    match kind {
        ColumnKind::Interval => {
            Duration::parse_postgres(&text).map_or_else(|| text.into_owned(), Duration::human)
        }
        _ => text.into_owned(),
    }
}

fn assessments(assessments: &[AssessmentRecord]) -> String {
    let mut out = "Assessments:\n\n".to_owned();
    for assessment in assessments {
        let condition = code(&single_line(&assessment.condition));
        let severity = assessment.severity.label();
        if !assessment.held {
            let _ = match assessment.severity {
                Status::Ok => write!(out, "- {condition} did not hold"),
                _ => write!(
                    out,
                    "- {condition} did not hold (it would have been {severity})"
                ),
            };
            // An assessment that did not hold has a message only to say why it could not
            // be decided (too little history).
            if let Some(why) = &assessment.message {
                let _ = write!(out, ": {}", inline(why));
            }
            out.push('\n');
            continue;
        }
        let _ = match assessment.severity {
            Status::Ok => write!(out, "- OK {condition} held"),
            _ => write!(out, "- **{severity}** {condition} held"),
        };
        if let Some(rows) = assessment.matching_rows {
            let _ = write!(out, " (for {})", count(rows, "row"));
        }
        if let Some(message) = &assessment.message {
            let _ = write!(out, ": {}", inline(message));
        }
        if let Some(recommendation) = &assessment.recommendation {
            let _ = write!(out, " — {}", inline(recommendation));
        }
        out.push('\n');
    }
    out
}

/// Who decided whether the action ran, and when: the journaled decision, in words.
fn approval_line(approval: &ApprovalRecord) -> String {
    let decided = match (approval.decision.as_str(), approval.by.as_str()) {
        ("dry-run", _) => "not run: a dry run".to_owned(),
        // Nobody decides a refusal: the run could not ask (no terminal, `--yes` on `confirm`).
        (decision, "nobody") => inline(decision),
        (decision, "operator") => format!("{} by the operator", inline(decision)),
        (decision, by) => format!("{} by {}", inline(decision), inline(by)),
    };
    let mut out = format!(
        "**Approval:** {decided} at {} (operator {}, role {}",
        inline(&approval.at),
        inline(&approval.operator),
        inline(&approval.role)
    );
    if let Some(rows) = approval.preview_rows {
        let _ = write!(out, ", preview of {}", count(rows, "row"));
    }
    out.push(')');
    if let Some(reason) = &approval.reason {
        let _ = write!(out, ": {}", inline(reason));
    }
    out.push('\n');
    out
}

fn error_blocks(error: &ErrorRecord) -> Vec<String> {
    let message = inline(&error.message);
    let mut blocks = vec![match &error.sqlstate {
        Some(sqlstate) => format!("**Error** {}: {message}\n", code(&single_line(sqlstate))),
        None => format!("**Error:** {message}\n"),
    }];
    if let Some(detail) = &error.detail {
        blocks.push(format!("**Detail:** {}\n", inline(detail)));
    }
    if let Some(hint) = &error.hint {
        blocks.push(format!("**Hint:** {}\n", inline(hint)));
    }
    blocks
}

/// The recommendations of every step, then the text of the manual steps that were shown.
fn recommendations(steps: &[StepRecord]) -> String {
    let mut out = String::new();
    for step in steps {
        let id = code(&single_line(&step.id));
        for recommendation in &step.recommendations {
            let _ = writeln!(out, "- {id}: {}", inline(recommendation));
        }
        if let (Status::Manual, Some(manual)) = (step.status, &step.manual) {
            // Continuation lines are indented to stay inside the list item.
            let text = manual
                .trim()
                .replace('\n', "\n  ")
                .replace("\n  \n", "\n\n");
            let _ = writeln!(out, "- {id}: {text}");
        }
    }
    out
}

/// Whether the step's SQL ran to completion, so its row count means something.
fn ran(step: &StepRecord) -> bool {
    step.sql.is_some()
        && step.error.is_none()
        && matches!(step.status, Status::Ok | Status::Warning | Status::Critical)
}

/// How long the run took, and how long it waited for the operator.
fn run_duration(record: &RunRecord) -> String {
    match record.waited_ms {
        0 => human_duration(record.duration_ms),
        waited => format!(
            "{} (+ {} waiting for the operator)",
            human_duration(record.duration_ms),
            human_duration(waited)
        ),
    }
}

/// How long the step took, if it was attempted at all.
fn ran_for(step: &StepRecord) -> Option<String> {
    let waited = (step.waited_ms > 0).then(|| {
        format!(
            " (+ {} waiting for the operator)",
            human_duration(step.waited_ms)
        )
    });
    match (step.status, waited) {
        (Status::Skipped | Status::NotRun | Status::Manual, None) => None,
        (_, waited) => Some(format!(
            "{}{}",
            human_duration(step.duration_ms),
            waited.unwrap_or_default()
        )),
    }
}

/// A duration as a person reads it: `350 ms`, `1.2 s`, `2 min 5 s`, `1 h 3 min`.
pub(crate) fn human_duration(ms: u64) -> String {
    let seconds = ms / 1000;
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{seconds}.{} s", ms % 1000 / 100),
        60_000..3_600_000 => match seconds % 60 {
            0 => format!("{} min", seconds / 60),
            rest => format!("{} min {rest} s", seconds / 60),
        },
        _ => match seconds / 60 % 60 {
            0 => format!("{} h", seconds / 3600),
            rest => format!("{} h {rest} min", seconds / 3600),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::example::{record, step};
    use crate::outputs::record::{Cell, ColumnKind};

    const SNAPSHOT: &str = r##"# Connection Cleanup — UNKNOWN

| Status | **UNKNOWN** (exit 3) |
| --- | --- |
| Why | `overview`: the check was not sent |
| Playbook | `connection-cleanup` (playbooks/connection-cleanup.yaml) |
| Target | alice@db1.example.com:5432/app |
| Operator | alice |
| Role | app_admin: not a superuser, reads all statistics, cannot signal other roles' sessions |
| Mode | live |
| Started | 2026-11-26T14:10:00Z |
| Duration | 1.2 s |

## What needs attention

- **Error:** step `cancel_jobs` failed and has `on_error: abort`
- **WARNING** `idle_candidates` Idle connections older than 1h: 3 idle connections older than 1h — pids 4242, 4243 (first 2 of 3 sessions)
- **UNKNOWN** `cancel_jobs` Cancel stuck jobs: the step failed
- **Note:** `alice` is not a member of `pg_read_all_stats`: other users' query texts are hidden

## Summary

| # | step | kind | status | duration | message |
| --- | --- | --- | --- | --- | --- |
| 1 | `idle_candidates` Idle connections older than 1h | check | **WARNING** | 12 ms | 3 idle connections older than 1h |
| 2 | `queue_backlog` pg_tviews queue backlog | check | SKIPPED | — | relation `pg_tviews_queue` does not exist |
| 3 | `raise_limit` Raise max_connections | manual | MANUAL | — |  |
| 4 | `cancel_jobs` Cancel stuck jobs | action | **UNKNOWN** | 3 ms | the step failed |
| 5 | `recheck` | check | NOT RUN | — | the run stopped before this step |

## About this playbook

Finds idle sessions and **terminates** them.

## Parameters

| name | value |
| --- | --- |
| idle_after | 1h |
| database | _unset_ |

## Steps

### 1. Idle connections older than 1h — WARNING

`idle_candidates` · check · 12 ms

3 idle connections older than 1h

Guards:

- passed: server_version >= 13 — the server is PostgreSQL 15.4

| pid | usename | query |
| --- | --- | --- |
| 4242 | app | a\|b<br>c&lt;script&gt;\`x\` |
| 4243 | _NULL_ | SELECT 1 |

_showing first 2 of 3 rows_

Assessments:

- **WARNING** `row_count > 0` held: 3 idle connections older than 1h — Terminate them with `terminate_idle`.
- **WARNING** `usename IS NULL` held (for 1 row): a session without a user
- `idle_for > interval '1 day'` did not hold (it would have been CRITICAL)

<details><summary>SQL</summary>

```sql
SELECT pid, usename, query
FROM pg_stat_activity
WHERE state = 'idle'
```

</details>

### 2. pg_tviews queue backlog — SKIPPED

`queue_backlog` · check

relation `pg_tviews_queue` does not exist

Guards:

- failed: relation `pg_tviews_queue` — no such relation in database `app`

### 3. Raise max_connections — MANUAL

`raise_limit` · manual

> Increase `max_connections` (requires a restart)
> if utilization stays above 80%.

### 4. Cancel stuck jobs — UNKNOWN

`cancel_jobs` · action · 3 ms

the step failed

**Approval:** approved by --yes at 2026-11-26T14:10:01Z (operator alice, role app_admin, preview of 2 rows)

**Error** `25006`: cannot execute UPDATE in a read-only transaction

**Detail:** The server is a hot standby.

**Hint:** Run the playbook against the primary.

<details><summary>SQL</summary>

```sql
UPDATE app.jobs SET state = 'cancelled'
WHERE state = 'stuck'
```

</details>

### 5. recheck — NOT RUN

`recheck` · check

the run stopped before this step

## Recommendations

- `idle_candidates`: Terminate them with `terminate_idle`.
- `raise_limit`: Increase `max_connections` (requires a restart)
  if utilization stays above 80%.
"##;

    #[test]
    fn markdown_report_renders_every_part_of_the_record() {
        let markdown = markdown(&record());
        assert!(
            markdown == SNAPSHOT,
            "the Markdown report changed:\n{markdown}"
        );
    }

    #[test]
    fn dry_runs_say_so_and_unset_parts_are_left_out() {
        let mut record = record();
        record.mode = Mode::DryRun;
        record.description = None;
        record.notes.clear();
        record.error = None;
        record.params.clear();
        let markdown = markdown(&record);
        assert!(markdown.contains("| Mode | dry run — no action was run |\n"));
        for absent in [
            "Finds idle",
            "**Note:**",
            "**Error:** step",
            "## Parameters",
        ] {
            assert!(!markdown.contains(absent), "{absent} in:\n{markdown}");
        }
    }

    #[test]
    fn headings_are_one_line_and_inert() {
        let mut record = record();
        record.title = "Cleanup\n# <img src=x onerror=alert(1)> | `x`".to_owned();
        record.steps[4].title = "two\nlines <i>".to_owned();
        let markdown = markdown(&record);
        assert!(
            markdown
                .starts_with("# Cleanup # &lt;img src=x onerror=alert(1)> \\| `x` — UNKNOWN\n\n")
        );
        assert!(markdown.contains("\n### 5. two lines &lt;i> — NOT RUN\n"));
        assert!(markdown.contains("| 5 | `recheck` two lines &lt;i> | check |"));
    }

    #[test]
    fn row_counts_are_said_when_the_step_ran() {
        let mut ran = step("x", "x", "check", Status::Ok);
        ran.sql = Some("SELECT 1 WHERE false".to_owned());
        assert_eq!(result_rows(&ran), ["_no rows_\n"]);
        ran.columns = vec!["a".to_owned()];
        ran.column_types = vec![ColumnKind::Number];
        ran.rows = vec![vec![Cell::of(ColumnKind::Number, Some("1.50"))]];
        ran.row_count = 1;
        assert_eq!(
            result_rows(&ran),
            ["| a |\n| --- |\n| 1.50 |\n", "_1 row_\n"]
        );
        ran.row_count = 7;
        assert_eq!(result_rows(&ran)[1], "_7 rows_\n");
        let skipped = step("y", "y", "check", Status::Skipped);
        assert!(result_rows(&skipped).is_empty());
        let mut update = step("z", "z", "action", Status::Ok);
        update.sql = Some("UPDATE t SET n = n + 1".to_owned());
        update.rows_affected = Some(3);
        assert_eq!(result_rows(&update), ["_no rows returned; 3 affected_\n"]);
    }

    #[test]
    fn approvals_say_who_decided_in_words() {
        let approval = |decision: &str, by: &str| ApprovalRecord {
            decision: decision.to_owned(),
            by: by.to_owned(),
            operator: "alice".to_owned(),
            role: "app".to_owned(),
            at: "T".to_owned(),
            reason: Some("no terminal to ask".to_owned()),
            preview_rows: Some(1),
        };
        let line = |decision, by| approval_line(&approval(decision, by));
        assert_eq!(
            line("refused", "nobody"),
            "**Approval:** refused at T (operator alice, role app, preview of 1 row): no terminal to ask\n"
        );
        assert!(line("dry-run", "--dry-run").starts_with("**Approval:** not run: a dry run at T"));
        assert!(line("declined", "operator").starts_with("**Approval:** declined by the operator"));
        assert!(line("approved", "--yes").starts_with("**Approval:** approved by --yes at T"));
    }

    #[test]
    fn intervals_in_tables_read_as_the_messages_write_them() {
        let mut step = step("x", "x", "check", Status::Ok);
        step.columns = vec!["idle_for".to_owned(), "note".to_owned()];
        step.column_types = vec![ColumnKind::Interval, ColumnKind::Text];
        step.rows = vec![vec![
            Cell::of(ColumnKind::Interval, Some("00:00:08.616016")),
            Cell::of(ColumnKind::Text, Some("00:00:08")),
        ]];
        step.row_count = 1;
        assert_eq!(
            result_rows(&step)[0],
            "| idle_for | note |\n| --- | --- |\n| 8s 616ms | 00:00:08 |\n"
        );
    }

    #[test]
    fn column_names_are_escaped_too() {
        let mut step = step("x", "x", "check", Status::Ok);
        step.columns = vec!["a|b".to_owned(), "<c>".to_owned()];
        step.rows = vec![vec![Cell::of(ColumnKind::Integer, Some("1")), Cell::Null]];
        step.row_count = 1;
        assert!(result_rows(&step)[0].starts_with("| a\\|b | &lt;c&gt; |\n"));
    }

    #[test]
    fn durations_read_as_a_person_says_them() {
        let cases = [
            (0, "0 ms"),
            (350, "350 ms"),
            (1234, "1.2 s"),
            (59_999, "59.9 s"),
            (60_000, "1 min"),
            (125_000, "2 min 5 s"),
            (3_600_000, "1 h"),
            (3_780_000, "1 h 3 min"),
        ];
        for (ms, text) in cases {
            assert_eq!(human_duration(ms), text, "{ms} ms");
        }
    }
}
