//! The report of a run: Markdown for the people on call, JSON for machines.
//!
//! The report only renders a [`RunRecord`]. The executor's events built the record; the report
//! never re-derives what happened — it re-evaluates no assessment and recomputes no status — so
//! the Markdown, the JSON and the exit code cannot disagree, and a run cut short by an error,
//! an abort or Ctrl-C is reported from whatever the record holds at that moment.
//!
//! The file is written atomically (a temporary file in the same directory, fsynced, renamed
//! over the target) because it is the record of what was done to a server: a crash or a full
//! disk mid-write must leave the previous report or the whole new one, never half of one. It is
//! created readable by its owner only, since it holds other users' query texts.
//!
//! Text from the server and from the playbook is escaped wherever it lands (table cells,
//! headings, paragraphs, inline code), so a query text with pipes, backticks, newlines or HTML
//! cannot break the layout or inject markup. Playbook prose written as Markdown (the
//! description, a manual step's text) is rendered as Markdown, as `runbook show` does.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::markdown::{cell, code, fenced, table};
use crate::outcome::{
    ApprovalRecord, AssessmentRecord, ErrorRecord, GuardRecord, Mode, ParamRecord, RunRecord,
    Status, StepRecord,
};

/// The directory reports go to when `--report` is not given.
const DEFAULT_DIRECTORY: &str = "runbook-reports";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Json,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Json => "json",
        }
    }
}

/// Where the report goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    File(PathBuf),
}

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("cannot write the report to standard output: {source}")]
    Stdout { source: io::Error },
    #[error("cannot write the report to `{}`: it does not name a file", .path.display())]
    NotAFile { path: PathBuf },
    #[error(
        "cannot create the directory `{}` for the report `{}`: {source}",
        .directory.display(),
        .path.display()
    )]
    CreateDirectory {
        directory: PathBuf,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot write the report to `{}`: {source}", .path.display())]
    Write { path: PathBuf, source: io::Error },
}

pub fn render(record: &RunRecord, format: Format) -> String {
    match format {
        Format::Markdown => markdown(record),
        Format::Json => json(record),
    }
}

/// The JSON report (pretty, trailing newline): the record as it is.
pub fn json(record: &RunRecord) -> String {
    // The record has only string keys and plain values: serializing it cannot fail.
    let mut text = serde_json::to_string_pretty(record).unwrap_or_default();
    text.push('\n');
    text
}

/// The JSON Schema of the JSON report, pretty, trailing newline.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(RunRecord);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// The Markdown report: an overview, the summary table, each step in detail, and what to do.
pub fn markdown(record: &RunRecord) -> String {
    let mut blocks = vec![
        format!("# {} — {}\n", heading(&record.title), record.status.label()),
        overview(record),
    ];
    if let Some(description) = &record.description {
        blocks.push(format!("{}\n", description.trim()));
    }
    for note in &record.notes {
        blocks.push(format!("> **Note:** {}\n", inline(note)));
    }
    if let Some(error) = &record.error {
        blocks.push(format!("**Error:** {}\n", inline(error)));
    }
    if !record.params.is_empty() {
        blocks.push("## Parameters\n".to_owned());
        blocks.push(params(&record.params));
    }
    blocks.push("## Summary\n".to_owned());
    blocks.push(summary(&record.steps));
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

fn overview(record: &RunRecord) -> String {
    let mode = match record.mode {
        Mode::Live => "live",
        Mode::DryRun => "dry run — no action was run",
    };
    let rows = [
        (
            "Playbook",
            format!("{} ({})", cell_code(&record.playbook), cell(&record.source)),
        ),
        ("Target", cell(&record.target)),
        ("Operator", cell(&record.operator)),
        ("Mode", mode.to_owned()),
        ("Started", cell(&record.started_at)),
        ("Duration", human_duration(record.duration_ms)),
        (
            "Status",
            format!("**{}** (exit {})", record.status.label(), record.exit_code),
        ),
    ];
    let mut out = "| | |\n| --- | --- |\n".to_owned();
    for (name, value) in rows {
        let _ = writeln!(out, "| {name} | {value} |");
    }
    out
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
    if let Some(sql) = &step.sql {
        blocks.push(fenced("sql", sql));
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
    blocks
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
                    .map(|value| value.clone().unwrap_or_else(|| "_NULL_".to_owned()))
                    .collect()
            })
            .collect();
        blocks.push(table(&header, &rows));
    }
    let count = step.row_count;
    if step.rows_truncated {
        blocks.push(format!(
            "_showing first {} of {count} rows_\n",
            step.rows.len()
        ));
    } else if !step.rows.is_empty() || ran(step) {
        blocks.push(match count {
            0 => "_no rows_\n".to_owned(),
            1 => "_1 row_\n".to_owned(),
            _ => format!("_{count} rows_\n"),
        });
    }
    blocks
}

fn assessments(assessments: &[AssessmentRecord]) -> String {
    let mut out = "Assessments:\n\n".to_owned();
    for assessment in assessments {
        let condition = code(&single_line(&assessment.condition));
        let severity = assessment.severity.label();
        if !assessment.held {
            let _ = writeln!(out, "- OK {condition} did not hold (would be {severity})");
            continue;
        }
        let _ = match assessment.severity {
            Status::Ok => write!(out, "- OK {condition} held"),
            _ => write!(out, "- **{severity}** {condition} held"),
        };
        if let Some(rows) = assessment.matching_rows {
            let _ = write!(out, " (for {rows} row{})", plural(rows));
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

/// Who decided whether the action ran, and when: the journaled decision.
fn approval_line(approval: &ApprovalRecord) -> String {
    let mut out = format!(
        "**Approval:** {} by {} at {} (operator {}, role {}",
        inline(&approval.decision),
        inline(&approval.by),
        inline(&approval.at),
        inline(&approval.operator),
        inline(&approval.role)
    );
    if let Some(rows) = approval.preview_rows {
        let _ = write!(out, ", preview of {rows} row{}", plural(rows));
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

/// How long the step took, if it was attempted at all.
fn ran_for(step: &StepRecord) -> Option<String> {
    match step.status {
        Status::Skipped | Status::NotRun | Status::Manual => None,
        _ => Some(human_duration(step.duration_ms)),
    }
}

/// A duration as a person reads it: `350 ms`, `1.2 s`, `2 min 5 s`, `1 h 3 min`.
fn human_duration(ms: u64) -> String {
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

/// Text on one line: line breaks become spaces.
fn single_line(text: &str) -> String {
    text.trim().replace("\r\n", " ").replace(['\n', '\r'], " ")
}

/// Heading text: prose on one line.
fn heading(text: &str) -> String {
    inline(&single_line(text))
}

fn plural(count: u64) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// Prose from the playbook or the server, safe anywhere, tables included: balanced code spans
/// stay code (names are written as `name`), everything else is escaped like a table cell. A
/// code span holding a pipe or a line break is escaped as text: no table cell can hold those.
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text.trim();
    while let Some(start) = rest.find('`') {
        let fence = backtick_run(&rest[start..]);
        let after = &rest[start + fence..];
        match closing_run(after, fence) {
            Some(end) => {
                let span = &rest[start..start + fence + end + fence];
                out.push_str(&cell(&rest[..start]));
                if span.contains(['|', '\n', '\r']) {
                    out.push_str(&cell(span));
                } else {
                    out.push_str(span);
                }
                rest = &after[end + fence..];
            }
            None => {
                out.push_str(&cell(&rest[..start + fence]));
                rest = after;
            }
        }
    }
    out.push_str(&cell(rest));
    out
}

fn backtick_run(text: &str) -> usize {
    text.len() - text.trim_start_matches('`').len()
}

/// Where the run of exactly `fence` backticks that closes a code span starts.
fn closing_run(text: &str, fence: usize) -> Option<usize> {
    let mut offset = 0;
    while let Some(found) = text[offset..].find('`') {
        let at = offset + found;
        let run = backtick_run(&text[at..]);
        if run == fence {
            return Some(at);
        }
        offset = at + run;
    }
    None
}

/// Inline code inside a table cell, where a pipe would end the cell even inside code.
fn cell_code(text: &str) -> String {
    code(&single_line(text)).replace('|', "\\|")
}

/// Prose as a paragraph of its own, unable to start a heading, list, quote or rule.
fn paragraph(text: &str) -> String {
    let escaped = inline(text);
    if escaped.starts_with(['#', '-', '+', '*', '=', '_', '~', ':']) {
        return format!("\\{escaped}");
    }
    let digits = escaped.len()
        - escaped
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .len();
    let rest = &escaped[digits..];
    let list_marker = rest.starts_with(['.', ')']) && rest[1..].is_empty()
        || rest.starts_with(". ")
        || rest.starts_with(") ");
    if (1..=9).contains(&digits) && list_marker {
        return format!("{}\\{rest}", &escaped[..digits]);
    }
    escaped
}

/// Markdown written by the playbook's author, as a blockquote.
fn quote(text: &str) -> String {
    let mut out = String::new();
    for line in text.trim().lines() {
        let line = line.trim_end();
        let _ = if line.is_empty() {
            writeln!(out, ">")
        } else {
            writeln!(out, "> {line}")
        };
    }
    out
}

/// `runbook-reports/<playbook>-<YYYYMMDDTHHMMSSZ>.<md|json>`, from when the run started.
pub fn default_path(record: &RunRecord, format: Format) -> PathBuf {
    // `2026-11-26T14:10:00.123456Z`: the first 19 characters are the second it started.
    let stamp: String = record
        .started_at
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    let playbook: String = record
        .playbook
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
            _ => '-',
        })
        .collect();
    Path::new(DEFAULT_DIRECTORY).join(format!("{playbook}-{stamp}Z.{}", format.extension()))
}

/// Writes the report; a file is replaced atomically and readable by its owner only.
pub fn write(text: &str, destination: &Destination) -> Result<(), ReportError> {
    match destination {
        Destination::Stdout => {
            let mut stdout = io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|source| ReportError::Stdout { source })
        }
        Destination::File(path) => write_file(text, path),
    }
}

fn write_file(text: &str, path: &Path) -> Result<(), ReportError> {
    let name = path
        .file_name()
        .ok_or_else(|| ReportError::NotAFile { path: path.into() })?;
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::create_dir_all(directory).map_err(|source| ReportError::CreateDirectory {
        directory: directory.into(),
        path: path.into(),
        source,
    })?;
    let mut temporary_name = OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(format!(".tmp-{}", std::process::id()));
    let temporary = directory.join(temporary_name);
    let result = write_synced(&temporary, text).and_then(|()| fs::rename(&temporary, path));
    if let Err(source) = result {
        let _ = fs::remove_file(&temporary);
        return Err(ReportError::Write {
            path: path.into(),
            source,
        });
    }
    sync_directory(directory);
    Ok(())
}

/// Writes a new file (mode 0600 on unix) and flushes it to disk.
fn write_synced(path: &Path, text: &str) -> io::Result<()> {
    // A leftover from a crashed run with the same pid; `create_new` then refuses symlinks.
    let _ = fs::remove_file(path);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Makes the rename durable. Best effort: the report is complete either way.
fn sync_directory(directory: &Path) {
    #[cfg(unix)]
    if let Ok(directory) = fs::File::open(directory) {
        let _ = directory.sync_all();
    }
    #[cfg(not(unix))]
    let _ = directory;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str, title: &str, kind: &str, status: Status) -> StepRecord {
        StepRecord::new(id, title, kind, status)
    }

    fn assessment(severity: Status, condition: &str, held: bool) -> AssessmentRecord {
        AssessmentRecord {
            severity,
            condition: condition.to_owned(),
            held,
            matching_rows: None,
            message: None,
            recommendation: None,
        }
    }

    fn idle_candidates() -> StepRecord {
        let mut step = step(
            "idle_candidates",
            "Idle connections older than 1h",
            "check",
            Status::Warning,
        );
        step.message = Some("3 idle connections older than 1h".to_owned());
        step.duration_ms = 12;
        step.guards = vec![GuardRecord {
            guard: "server_version >= 13".to_owned(),
            passed: true,
            reason: "the server is PostgreSQL 15.4".to_owned(),
        }];
        step.sql = Some(
            "SELECT pid, usename, query\nFROM pg_stat_activity\nWHERE state = 'idle'\n".to_owned(),
        );
        step.columns = vec!["pid".to_owned(), "usename".to_owned(), "query".to_owned()];
        step.rows = vec![
            vec![
                Some("4242".to_owned()),
                Some("app".to_owned()),
                Some("a|b\nc<script>`x`".to_owned()),
            ],
            vec![Some("4243".to_owned()), None, Some("SELECT 1".to_owned())],
        ];
        step.row_count = 3;
        step.rows_truncated = true;
        let mut any = assessment(Status::Warning, "row_count > 0", true);
        any.message = Some("3 idle connections older than 1h".to_owned());
        any.recommendation = Some("Terminate them with `terminate_idle`.".to_owned());
        let mut per_row = assessment(Status::Warning, "usename IS NULL", true);
        per_row.matching_rows = Some(1);
        per_row.message = Some("a session without a user".to_owned());
        let mut critical = assessment(Status::Critical, "idle_for > interval '1 day'", false);
        critical.matching_rows = Some(0);
        step.assessments = vec![any, per_row, critical];
        step.recommendations = vec!["Terminate them with `terminate_idle`.".to_owned()];
        step
    }

    fn record() -> RunRecord {
        let mut queue = step(
            "queue_backlog",
            "pg_tviews queue backlog",
            "check",
            Status::Skipped,
        );
        queue.message = Some("relation `pg_tviews_queue` does not exist".to_owned());
        queue.guards = vec![GuardRecord {
            guard: "relation `pg_tviews_queue`".to_owned(),
            passed: false,
            reason: "no such relation in database `app`".to_owned(),
        }];
        let mut manual = step(
            "raise_limit",
            "Raise max_connections",
            "manual",
            Status::Manual,
        );
        manual.manual = Some(
            "Increase `max_connections` (requires a restart)\nif utilization stays above 80%.\n"
                .to_owned(),
        );
        let mut cancel = step(
            "cancel_jobs",
            "Cancel stuck jobs",
            "action",
            Status::Unknown,
        );
        cancel.message = Some("the step failed".to_owned());
        cancel.duration_ms = 3;
        cancel.sql =
            Some("UPDATE app.jobs SET state = 'cancelled'\nWHERE state = 'stuck'".to_owned());
        cancel.approval = Some(ApprovalRecord {
            decision: "approved".to_owned(),
            by: "--yes".to_owned(),
            operator: "alice".to_owned(),
            role: "app_admin".to_owned(),
            at: "2026-11-26T14:10:01Z".to_owned(),
            reason: None,
            preview_rows: Some(2),
        });
        cancel.error = Some(ErrorRecord {
            message: "cannot execute UPDATE in a read-only transaction".to_owned(),
            sqlstate: Some("25006".to_owned()),
            detail: Some("The server is a hot standby.".to_owned()),
            hint: Some("Run the playbook against the primary.".to_owned()),
        });
        let mut recheck = step("recheck", "recheck", "check", Status::NotRun);
        recheck.message = Some("the run stopped before this step".to_owned());
        RunRecord {
            report_version: 1,
            playbook: "connection-cleanup".to_owned(),
            title: "Connection Cleanup".to_owned(),
            description: Some("Finds idle sessions and **terminates** them.\n".to_owned()),
            source: "playbooks/connection-cleanup.yaml".to_owned(),
            target: "alice@db1.example.com:5432/app".to_owned(),
            operator: "alice".to_owned(),
            mode: Mode::Live,
            started_at: "2026-11-26T14:10:00Z".to_owned(),
            duration_ms: 1234,
            status: Status::Unknown,
            exit_code: 3,
            params: vec![
                ParamRecord {
                    name: "idle_after".to_owned(),
                    value: Some("1h".to_owned()),
                },
                ParamRecord {
                    name: "database".to_owned(),
                    value: None,
                },
            ],
            facts: Some(serde_json::json!({ "server_version_num": 150004 })),
            notes: vec![
                "`alice` is not a member of `pg_read_all_stats`: other users' query texts are hidden"
                    .to_owned(),
            ],
            error: Some("step `cancel_jobs` failed and has `on_error: abort`".to_owned()),
            steps: vec![idle_candidates(), queue, manual, cancel, recheck],
        }
    }

    const SNAPSHOT: &str = r##"# Connection Cleanup — UNKNOWN

| | |
| --- | --- |
| Playbook | `connection-cleanup` (playbooks/connection-cleanup.yaml) |
| Target | alice@db1.example.com:5432/app |
| Operator | alice |
| Mode | live |
| Started | 2026-11-26T14:10:00Z |
| Duration | 1.2 s |
| Status | **UNKNOWN** (exit 3) |

Finds idle sessions and **terminates** them.

> **Note:** `alice` is not a member of `pg_read_all_stats`: other users' query texts are hidden

**Error:** step `cancel_jobs` failed and has `on_error: abort`

## Parameters

| name | value |
| --- | --- |
| idle_after | 1h |
| database | _unset_ |

## Summary

| # | step | kind | status | duration | message |
| --- | --- | --- | --- | --- | --- |
| 1 | `idle_candidates` Idle connections older than 1h | check | **WARNING** | 12 ms | 3 idle connections older than 1h |
| 2 | `queue_backlog` pg_tviews queue backlog | check | SKIPPED | — | relation `pg_tviews_queue` does not exist |
| 3 | `raise_limit` Raise max_connections | manual | MANUAL | — |  |
| 4 | `cancel_jobs` Cancel stuck jobs | action | **UNKNOWN** | 3 ms | the step failed |
| 5 | `recheck` | check | NOT RUN | — | the run stopped before this step |

## Steps

### 1. Idle connections older than 1h — WARNING

`idle_candidates` · check · 12 ms

3 idle connections older than 1h

Guards:

- passed: server_version &gt;= 13 — the server is PostgreSQL 15.4

```sql
SELECT pid, usename, query
FROM pg_stat_activity
WHERE state = 'idle'
```

| pid | usename | query |
| --- | --- | --- |
| 4242 | app | a\|b<br>c&lt;script&gt;\`x\` |
| 4243 | _NULL_ | SELECT 1 |

_showing first 2 of 3 rows_

Assessments:

- **WARNING** `row_count > 0` held: 3 idle connections older than 1h — Terminate them with `terminate_idle`.
- **WARNING** `usename IS NULL` held (for 1 row): a session without a user
- OK `idle_for > interval '1 day'` did not hold (would be CRITICAL)

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

```sql
UPDATE app.jobs SET state = 'cancelled'
WHERE state = 'stuck'
```

**Approval:** approved by --yes at 2026-11-26T14:10:01Z (operator alice, role app_admin, preview of 2 rows)

**Error** `25006`: cannot execute UPDATE in a read-only transaction

**Detail:** The server is a hot standby.

**Hint:** Run the playbook against the primary.

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
        assert_eq!(render(&record(), Format::Markdown), markdown);
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
    fn json_report_is_the_record() {
        let text = render(&record(), Format::Json);
        assert!(text.ends_with("}\n"));
        assert_eq!(text, json(&record()));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["status"], "UNKNOWN");
        assert_eq!(value["mode"], "live");
        assert_eq!(value["steps"][4]["status"], "NOT_RUN");
        assert_eq!(value["steps"][0]["rows"][1][1], serde_json::Value::Null);
        assert_eq!(value["steps"][3]["error"]["sqlstate"], "25006");
    }

    #[test]
    fn default_path_uses_the_start_to_the_second() {
        let mut record = record();
        assert_eq!(
            default_path(&record, Format::Markdown),
            Path::new("runbook-reports/connection-cleanup-20261126T141000Z.md")
        );
        record.started_at = "2026-11-26T14:10:00.123456Z".to_owned();
        assert_eq!(
            default_path(&record, Format::Json),
            Path::new("runbook-reports/connection-cleanup-20261126T141000Z.json")
        );
        record.playbook = "../etc/passwd".to_owned();
        assert_eq!(
            default_path(&record, Format::Json),
            Path::new("runbook-reports/..-etc-passwd-20261126T141000Z.json")
        );
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

    #[test]
    fn prose_keeps_code_spans_and_escapes_everything_else() {
        assert_eq!(
            inline("role `app` <b>x</b> & a|b"),
            "role `app` &lt;b&gt;x&lt;/b&gt; &amp; a\\|b"
        );
        assert_eq!(inline("`<b>` and ``a`b``"), "`<b>` and ``a`b``");
        // A lone backtick cannot swallow what follows.
        assert_eq!(inline("a ` b"), "a \\` b");
        assert_eq!(inline("``a` b"), "\\`\\`a\\` b");
        // No code span in a table can hold a pipe or a line break.
        assert_eq!(inline("`a|b` `c\nd`"), "\\`a\\|b\\` \\`c<br>d\\`");
    }

    #[test]
    fn headings_are_one_line_and_inert() {
        let mut record = record();
        record.title = "Cleanup\n# <img src=x onerror=alert(1)> | `x`".to_owned();
        record.steps[4].title = "two\nlines <i>".to_owned();
        let markdown = markdown(&record);
        assert!(
            markdown.starts_with(
                "# Cleanup # &lt;img src=x onerror=alert(1)&gt; \\| `x` — UNKNOWN\n\n"
            )
        );
        assert!(markdown.contains("\n### 5. two lines &lt;i&gt; — NOT RUN\n"));
        assert!(markdown.contains("| 5 | `recheck` two lines &lt;i&gt; | check |"));
    }

    #[test]
    fn paragraphs_cannot_start_a_block() {
        assert_eq!(paragraph("# not a heading"), "\\# not a heading");
        assert_eq!(paragraph("- not a list"), "\\- not a list");
        assert_eq!(paragraph("> not a quote"), "&gt; not a quote");
        assert_eq!(paragraph("12. not a list"), "12\\. not a list");
        assert_eq!(paragraph("3) not a list"), "3\\) not a list");
        assert_eq!(paragraph("3.5 s"), "3.5 s");
        assert_eq!(paragraph("  ---  "), "\\---");
    }

    #[test]
    fn row_counts_are_said_when_the_step_ran() {
        let mut ran = step("x", "x", "check", Status::Ok);
        ran.sql = Some("SELECT 1 WHERE false".to_owned());
        assert_eq!(result_rows(&ran), ["_no rows_\n"]);
        ran.columns = vec!["a".to_owned()];
        ran.rows = vec![vec![Some("1".to_owned())]];
        ran.row_count = 1;
        assert_eq!(result_rows(&ran), ["| a |\n| --- |\n| 1 |\n", "_1 row_\n"]);
        ran.row_count = 7;
        assert_eq!(result_rows(&ran)[1], "_7 rows_\n");
        let skipped = step("y", "y", "check", Status::Skipped);
        assert!(result_rows(&skipped).is_empty());
    }

    #[test]
    fn column_names_are_escaped_too() {
        let mut step = step("x", "x", "check", Status::Ok);
        step.columns = vec!["a|b".to_owned(), "<c>".to_owned()];
        step.rows = vec![vec![Some("1".to_owned()), None]];
        step.row_count = 1;
        assert!(result_rows(&step)[0].starts_with("| a\\|b | &lt;c&gt; |\n"));
    }

    #[test]
    fn write_replaces_the_report_atomically_for_its_owner_only() {
        let directory = tempfile::tempdir().unwrap();
        let reports = directory.path().join("runbook-reports");
        let path = reports.join("cleanup.md");
        let destination = Destination::File(path.clone());
        write("first\n", &destination).unwrap();
        write("# second\n| a |\n", &destination).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "# second\n| a |\n");
        let names: Vec<_> = fs::read_dir(&reports)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["cleanup.md"], "no temporary file is left behind");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn write_under_a_regular_file_is_an_error_naming_the_path() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("not-a-directory");
        fs::write(&file, "").unwrap();
        let path = file.join("report.md");
        let error = write("text", &Destination::File(path.clone())).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "cannot create the directory `{}` for the report `{}`: ",
                file.display(),
                path.display()
            )),
            "{message}"
        );
    }

    #[test]
    fn write_needs_a_file_name() {
        let error = write("text", &Destination::File(PathBuf::from("/"))).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot write the report to `/`: it does not name a file"
        );
    }
}
