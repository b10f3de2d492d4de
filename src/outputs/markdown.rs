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

mod steps;

use std::borrow::Cow;
use std::fmt::Write as _;

use super::Output;
use super::prose::{cell_code, heading, inline, single_line};
use super::record::{Mode, ParamRecord, RunRecord, SessionsRecord, Status, StepRecord};
use crate::markdown::{cell, code, table};

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
    blocks.extend(steps::steps(&record.steps));
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

/// Pids named per step in "What needs attention"; past these, how many more.
const ATTENTION_PIDS: usize = 8;

/// `pid 4242` or `pids 4242, 4243 (and 3 more)`: the sessions the step's finding is about — those
/// its assessments of the step's status held for (as the record says), or, for a step that no
/// assessment judged (an action, a failure), the rows it shows; `None` when it names none.
fn pids(step: &StepRecord) -> Option<String> {
    let judged: Vec<&SessionsRecord> = step
        .assessments
        .iter()
        .filter(|a| a.held && a.severity == step.status)
        .filter_map(|a| a.sessions.as_ref())
        .collect();
    let (pids, total) = if judged.is_empty() {
        let column = step.columns.iter().position(|c| c == "pid")?;
        let pids: Vec<String> = step
            .rows
            .iter()
            .filter_map(|row| row.get(column)?.shown().map(Cow::into_owned))
            .collect();
        let total = if step.rows_truncated {
            step.row_count
        } else {
            pids.len() as u64
        };
        (pids, total)
    } else {
        let mut pids: Vec<String> = Vec::new();
        for pid in judged.iter().flat_map(|s| &s.pids) {
            let pid = pid.to_string();
            if !pids.contains(&pid) {
                pids.push(pid);
            }
        }
        // Several assessments may name the same sessions: the most any one held for, at least.
        let total = judged.iter().map(|s| s.count).max().unwrap_or_default();
        let total = total.max(pids.len() as u64);
        (pids, total)
    };
    if pids.is_empty() {
        return None;
    }
    let shown = &pids[..pids.len().min(ATTENTION_PIDS)];
    let word = if shown.len() == 1 && total == 1 {
        "pid"
    } else {
        "pids"
    };
    let mut out = format!("{word} {}", cell(&shown.join(", ")));
    let more = total.saturating_sub(shown.len() as u64);
    if more > 0 {
        let _ = write!(out, " (and {more} more)");
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
pub(super) fn ran_for(step: &StepRecord) -> Option<String> {
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
    use crate::outputs::example::record;

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
- **WARNING** `idle_candidates` Idle connections older than 1h: 3 idle connections older than 1h — pids 4242, 4243, 4244
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

- 2. pg_tviews queue backlog — SKIPPED · `queue_backlog`: relation `pg_tviews_queue` does not exist (failed: relation `pg_tviews_queue` — no such relation in database `app`)
- 3. Raise max_connections — MANUAL · `raise_limit`: its text is under Recommendations

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

- 5. recheck — NOT RUN · `recheck`: the run stopped before this step

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
        assert!(markdown.contains("\n- 5. two lines &lt;i> — NOT RUN · `recheck`: "));
        assert!(markdown.contains("| 5 | `recheck` two lines &lt;i> | check |"));
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
