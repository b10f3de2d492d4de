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
            Some(end) if !after[..end].contains(['|', '\n', '\r']) => {
                out.push_str(&cell(&rest[..start]));
                out.push_str(&rest[start..start + fence + end + fence]);
                rest = &after[end + fence..];
            }
            _ => {
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
        StepRecord {
            id: id.to_owned(),
            title: title.to_owned(),
            kind: kind.to_owned(),
            status,
            message: None,
            duration_ms: 0,
            guards: Vec::new(),
            sql: None,
            columns: Vec::new(),
            rows: Vec::new(),
            row_count: 0,
            rows_truncated: false,
            assessments: Vec::new(),
            error: None,
            manual: None,
            recommendations: Vec::new(),
            approval: None,
        }
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
            guard: "requires: server_version 13".to_owned(),
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

    #[test]
    fn print_markdown() {
        print!("{}", markdown(&record()));
    }
}
