//! The report's "Steps": each step's details, as light as a responder at 3 a.m. needs them,
//! with no fact lost — the JSON report keeps every one of them in full.
//!
//! A step with nothing more to show than its summary row is one line: OK with no rows, skipped
//! by a guard, not run, or manual (its text is under "Recommendations"). Tables show the first
//! [`ROWS`] rows and say where the others are; the assessments that did not hold share one
//! line; an action's SQL that embeds an earlier step's check names that step instead of
//! repeating it (the exact SQL that ran is in the JSON report and the journal).

use std::fmt::Write as _;

use super::ran_for;
use crate::count::count;
use crate::duration::Duration;
use crate::markdown::{cell, code, fenced, table};
use crate::outputs::prose::{heading, inline, paragraph, quote, single_line};
use crate::outputs::record::{
    ApprovalRecord, AssessmentRecord, Cell, ColumnKind, Decided, ErrorRecord, GuardRecord, Status,
    StepRecord,
};

/// Rows of a step's table in the Markdown: the JSON report holds up to `--report-rows`.
pub(super) const ROWS: usize = 10;

/// An SQL shorter than this many lines is shown again rather than named.
const NAMED_SQL_LINES: usize = 3;

/// The blocks of "Steps": a section per step with something to show, and the one-line steps
/// between them as one list.
pub(super) fn steps(steps: &[StepRecord]) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        if let Some(line) = one_line(index + 1, step) {
            lines.push(line);
            continue;
        }
        if !lines.is_empty() {
            blocks.push(format!("{}\n", lines.join("\n")));
            lines.clear();
        }
        blocks.extend(step_blocks(index + 1, step, &steps[..index]));
    }
    if !lines.is_empty() {
        blocks.push(format!("{}\n", lines.join("\n")));
    }
    blocks
}

/// The one line of a step whose summary row says it all; `None` for a step with more to show.
fn one_line(number: usize, step: &StepRecord) -> Option<String> {
    let said = match step.status {
        Status::Skipped | Status::NotRun if step.approval.is_none() => {
            let mut said = step.message.as_deref().map(inline).unwrap_or_default();
            // A guard that failed for a reason the message does not give.
            for guard in step.guards.iter().filter(|g| !g.passed) {
                if step.message.as_deref() != Some(guard.reason.as_str()) {
                    let _ = write!(said, " (failed: {})", guard_words(guard));
                }
            }
            said
        }
        Status::Manual if step.error.is_none() => match &step.manual {
            Some(_) => "its text is under Recommendations".to_owned(),
            None => String::new(),
        },
        Status::Ok
            if step.rows.is_empty()
                && step.row_count == 0
                && step.error.is_none()
                && step.approval.is_none()
                && step.manual.is_none()
                && step
                    .assessments
                    .iter()
                    .all(|a| a.held || a.severity == Status::Ok) =>
        {
            step.message.as_deref().map(inline).unwrap_or_default()
        }
        _ => return None,
    };
    let mut line = format!(
        "- {number}. {} — {} · {}",
        heading(&step.title),
        step.status.label(),
        code(&single_line(&step.id))
    );
    if let Some(duration) = ran_for(step) {
        let _ = write!(line, " · {duration}");
    }
    if !said.is_empty() {
        let _ = write!(line, ": {said}");
    }
    Some(line)
}

/// The blocks of one step's section, in the order a reader checks them; `earlier` are the
/// steps before it, whose SQL it may embed.
fn step_blocks(number: usize, step: &StepRecord, earlier: &[StepRecord]) -> Vec<String> {
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
    match listed_above(step, earlier) {
        Some(line) => blocks.push(line),
        None => blocks.extend(result_rows(step)),
    }
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
        blocks.push(folded_sql(&named_sql(sql, earlier)));
    }
    blocks
}

/// For an action whose rows are the sessions an earlier step lists — the same pids in the same
/// order, as a terminate or cancel lists its check's — the line that says so instead of the
/// same table again (its own values, read a moment later, are in the JSON report).
fn listed_above(step: &StepRecord, earlier: &[StepRecord]) -> Option<String> {
    step.approval.as_ref()?;
    let pids = |step: &StepRecord| -> Option<Vec<String>> {
        let column = step.columns.iter().position(|c| c == "pid")?;
        let pids: Option<Vec<String>> = step
            .rows
            .iter()
            .map(|row| row.get(column)?.shown().map(|pid| pid.into_owned()))
            .collect();
        pids.filter(|pids| !pids.is_empty())
    };
    let own = pids(step)?;
    let (index, above) = earlier.iter().enumerate().rev().find(|(_, other)| {
        other.row_count == step.row_count && pids(other).as_ref() == Some(&own)
    })?;
    Some(format!(
        "_{} the sessions step {} ({}) lists above, by the same pids in the same order_\n",
        match step.row_count {
            1 => "its 1 row is".to_owned(),
            n => format!("its {n} rows are"),
        },
        index + 1,
        code(&single_line(&above.id))
    ))
}

/// `sql` with the longest earlier step's SQL it embeds (an action wraps its check's) replaced
/// by a line naming that step, which the report shows above.
fn named_sql(sql: &str, earlier: &[StepRecord]) -> String {
    let embedded = earlier
        .iter()
        .enumerate()
        .filter_map(|(index, step)| {
            let inner = step.sql.as_deref()?.trim_end();
            (inner.lines().count() >= NAMED_SQL_LINES && sql.contains(inner)).then_some((
                index + 1,
                step,
                inner,
            ))
        })
        .max_by_key(|(_, _, inner)| inner.len());
    match embedded {
        Some((number, step, inner)) => sql.replacen(
            inner,
            &format!(
                "-- the SQL of step {number} ({}), shown above",
                single_line(&step.id)
            ),
            1,
        ),
        None => sql.to_owned(),
    }
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
        let _ = writeln!(out, "- {verdict}: {}", guard_words(guard));
    }
    out
}

/// A guard and why it held or not: ``relation `q` — no such relation``.
fn guard_words(guard: &GuardRecord) -> String {
    format!(
        "{} — {}",
        inline(&single_line(&guard.guard)),
        inline(&guard.reason)
    )
}

/// The result table and the line saying how many rows there were.
fn result_rows(step: &StepRecord) -> Vec<String> {
    let mut blocks = Vec::new();
    let listed = step.rows.len().min(ROWS);
    if !step.rows.is_empty() && !step.columns.is_empty() {
        let header: Vec<String> = step.columns.iter().map(|c| cell(c)).collect();
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let rows: Vec<Vec<String>> = step.rows[..listed]
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
    if listed < step.rows.len() {
        let held = step.rows.len();
        let json = if held as u64 == total {
            format!("all {total} in the JSON report")
        } else {
            format!("the JSON report holds the first {held}")
        };
        blocks.push(format!(
            "_showing first {listed} of {total} rows; {json}_\n"
        ));
    } else if step.rows_truncated {
        blocks.push(format!("_showing first {listed} of {total} rows_\n"));
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

/// The assessments that held, one line each, then those that did not, on one line.
fn assessments(assessments: &[AssessmentRecord]) -> String {
    let would = |severity: &str| match severity {
        "OK" => String::new(),
        _ => format!(" (it would have been {severity})"),
    };
    let mut out = "Assessments:\n\n".to_owned();
    let mut not_held = Vec::new();
    for assessment in assessments {
        let condition = code(&single_line(&assessment.condition));
        let severity = assessment.severity.label();
        // An assessment that did not hold has a message only to say why it could not be
        // decided (too little history): it gets a line of its own.
        match (&assessment.held, &assessment.message) {
            (false, None) => {
                not_held.push((condition, severity));
                continue;
            }
            (false, Some(why)) => {
                let would = would(severity);
                let _ = writeln!(out, "- {condition} did not hold{would}: {}", inline(why));
                continue;
            }
            (true, _) => {}
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
    match not_held.as_slice() {
        [] => {}
        [(condition, severity)] => {
            let _ = writeln!(out, "- {condition} did not hold{}", would(severity));
        }
        several => {
            let listed: Vec<String> = several
                .iter()
                .map(|(condition, severity)| format!("{condition}{}", would(severity)))
                .collect();
            let _ = writeln!(out, "- did not hold: {}", listed.join(", "));
        }
    }
    out
}

/// Who decided whether the action ran, and when: the journaled decision, in words.
fn approval_line(approval: &ApprovalRecord) -> String {
    let decided = match (approval.decision, approval.by) {
        (Decided::DryRun, _) => "not run: a dry run".to_owned(),
        // Nobody decides a refusal: the run could not ask (no terminal, `--yes` on `confirm`).
        (decision, None) => decision.word().to_owned(),
        (decision, Some(by)) => format!("{} by {}", decision.word(), inline(by.words())),
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

/// Whether the step's SQL ran to completion, so its row count means something.
fn ran(step: &StepRecord) -> bool {
    step.sql.is_some()
        && step.error.is_none()
        && matches!(step.status, Status::Ok | Status::Warning | Status::Critical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::example::step;
    use crate::outputs::record::Decider;

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
        let approval = |decision, by| ApprovalRecord {
            decision,
            by,
            operator: "alice".to_owned(),
            role: "app".to_owned(),
            at: "T".to_owned(),
            reason: Some("no terminal to ask".to_owned()),
            preview_rows: Some(1),
        };
        let line = |decision, by| approval_line(&approval(decision, by));
        assert_eq!(
            line(Decided::Refused, None),
            "**Approval:** refused at T (operator alice, role app, preview of 1 row): no terminal to ask\n"
        );
        assert!(line(Decided::DryRun, None).starts_with("**Approval:** not run: a dry run at T"));
        assert!(
            line(Decided::Declined, Some(Decider::Operator))
                .starts_with("**Approval:** declined by the operator at T")
        );
        assert!(
            line(Decided::Approved, Some(Decider::OperatorTypedStepId))
                .starts_with("**Approval:** approved by the operator (typed the step id) at T")
        );
        assert!(
            line(Decided::Approved, Some(Decider::Yes))
                .starts_with("**Approval:** approved by --yes at T")
        );
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

    /// A step of `n` sessions, all of them in the record.
    fn sessions(id: &str, kind: &str, n: u64) -> StepRecord {
        let mut step = step(id, id, kind, Status::Ok);
        step.sql = Some(format!("SELECT pid\nFROM pg_stat_activity\nWHERE {id}"));
        step.columns = vec!["pid".to_owned()];
        step.column_types = vec![ColumnKind::Integer];
        step.rows = (0..n)
            .map(|pid| vec![Cell::of(ColumnKind::Integer, Some(&pid.to_string()))])
            .collect();
        step.row_count = n;
        step
    }

    #[test]
    fn tables_show_the_first_rows_and_say_where_the_others_are() {
        let all = sessions("x", "check", 12);
        let blocks = result_rows(&all);
        assert_eq!(blocks[0].lines().count(), 2 + ROWS, "{blocks:?}");
        assert_eq!(
            blocks[1],
            "_showing first 10 of 12 rows; all 12 in the JSON report_\n"
        );
        let mut some = all.clone();
        some.row_count = 500;
        some.rows_truncated = true;
        assert_eq!(
            result_rows(&some)[1],
            "_showing first 10 of 500 rows; the JSON report holds the first 12_\n"
        );
        some.rows.truncate(3);
        assert_eq!(result_rows(&some)[1], "_showing first 3 of 500 rows_\n");
    }

    #[test]
    fn steps_with_nothing_more_to_show_are_one_line_in_one_list() {
        let mut none = sessions("none", "check", 0);
        none.message = Some("0 rows".to_owned());
        none.duration_ms = 3;
        let mut skipped = step("later", "Later", "check", Status::Skipped);
        skipped.message = Some("the condition does not hold".to_owned());
        let listed = sessions("listed", "check", 1);
        let blocks = steps(&[none, skipped, listed]);
        assert_eq!(
            blocks[0],
            "- 1. none — OK · `none` · 3 ms: 0 rows\n- 2. Later — SKIPPED · `later`: the condition does not hold\n"
        );
        assert_eq!(blocks[1], "### 3. listed — OK\n");
    }

    #[test]
    fn an_action_names_the_check_it_embeds_and_the_sessions_it_lists_above() {
        let check = sessions("idle", "check", 2);
        let mut action = sessions("terminate", "terminate", 2);
        action.status = Status::Skipped;
        let inner = check.sql.clone().unwrap();
        action.sql = Some(format!("WITH s AS (\n{inner}\n)\nSELECT 1 FROM s"));
        action.approval = Some(ApprovalRecord {
            decision: Decided::DryRun,
            by: None,
            operator: "alice".to_owned(),
            role: "app".to_owned(),
            at: "T".to_owned(),
            reason: None,
            preview_rows: Some(2),
        });
        let blocks = step_blocks(2, &action, std::slice::from_ref(&check)).join("\n");
        assert!(
            blocks.contains("WITH s AS (\n-- the SQL of step 1 (idle), shown above\n)\nSELECT 1"),
            "{blocks}"
        );
        assert!(
            blocks.contains("_its 2 rows are the sessions step 1 (`idle`) lists above, by the same pids in the same order_\n"),
            "{blocks}"
        );
        assert!(!blocks.contains("| pid |"), "{blocks}");
        // Other sessions than the check's: the table.
        action.rows.pop();
        action.row_count = 1;
        let blocks = step_blocks(2, &action, std::slice::from_ref(&check)).join("\n");
        assert!(blocks.contains("| pid |\n| --- |\n| 0 |\n"), "{blocks}");
    }
}
