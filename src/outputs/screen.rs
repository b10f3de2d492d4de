//! What a finished step shows at a terminal: its status line, and below it what a responder
//! needs without opening the report — the sessions it found, why it is not OK, a manual
//! step's text, what a dry run's action would have done and to whom.
//!
//! Pure text from the step's record (the progress display only prints it), so it is tested
//! without a terminal. Everything from the server or the playbook is made safe first, and
//! colour added after.

use super::fitted::{self, Rows};
use super::paint::Paint;
use super::record::{Decided, Status, StepRecord};
use crate::terminal_text::{for_terminal, for_terminal_line};

/// How much a run shows at a terminal (`--brief`, default, `--verbose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// A status line per step, nothing more.
    Brief,
    /// Below the status line: the rows of steps that are not OK or that list sessions, a
    /// manual step's text, a dry run's targets.
    Compact,
    /// Every step's rows, and more of them.
    Verbose,
}

impl Detail {
    /// How many rows a table shows.
    fn max_rows(self) -> usize {
        match self {
            Detail::Brief => 0,
            Detail::Compact => 8,
            Detail::Verbose => 50,
        }
    }
}

/// How finished steps are shown: how much, in colour or not, how wide.
#[derive(Debug, Clone, Copy)]
pub struct Screen {
    pub detail: Detail,
    pub paint: Paint,
    /// The terminal's width in columns.
    pub width: usize,
}

impl Screen {
    /// `STATUS title — message`, the status coloured (no dash without a message).
    pub fn status_line(&self, record: &StepRecord) -> String {
        let mut line = format!(
            "{} {}",
            self.paint.label(record.status),
            for_terminal_line(&record.title)
        );
        if let Some(message) = record.message.as_deref().filter(|m| !m.is_empty()) {
            line.push_str(" — ");
            line.push_str(&for_terminal_line(message));
        }
        line
    }

    /// The lines below the status line.
    pub fn below(&self, record: &StepRecord) -> Vec<String> {
        if self.detail == Detail::Brief {
            return Vec::new();
        }
        let mut lines = Vec::new();
        if let Some(manual) = &record.manual {
            lines.extend(indented(&for_terminal(manual)));
        }
        if let Some(error) = &record.error {
            lines.extend(error_lines(error));
        }
        let dry_run = record
            .approval
            .as_ref()
            .is_some_and(|approval| approval.decision == Decided::DryRun);
        if dry_run {
            lines.push(would(record));
        }
        if dry_run || self.shows_rows(record) {
            lines.extend(fitted::table(
                &Rows {
                    columns: &record.columns,
                    rows: &record.rows,
                    row_count: record.row_count,
                },
                self.detail.max_rows(),
                self.width,
            ));
        } else if record.status == Status::Ok && record.rows.len() == 1 {
            lines.push(self.one_row(record));
        }
        if is_problem(record.status) {
            for advice in &record.recommendations {
                lines.extend(wrapped(&for_terminal_line(advice), self.width));
            }
        }
        lines
    }

    /// Whether the step's rows are shown as a table: in `--verbose` whenever it has some;
    /// else when it is not OK or lists sessions (a `pid` column).
    fn shows_rows(&self, record: &StepRecord) -> bool {
        if record.rows.is_empty() {
            return false;
        }
        let sessions = record.columns.iter().any(|column| column == "pid");
        self.detail == Detail::Verbose || sessions || is_problem(record.status)
    }

    /// An OK step's single row (counts, mostly) on one line: `total 8 · idle 5 · …`, cut to
    /// the width.
    fn one_row(&self, record: &StepRecord) -> String {
        let pairs: Vec<String> = record
            .columns
            .iter()
            .zip(&record.rows[0])
            .map(|(column, cell)| {
                let value = cell.shown().unwrap_or_default();
                format!(
                    "{} {}",
                    for_terminal_line(column),
                    for_terminal_line(&value)
                )
            })
            .collect();
        let line = format!("  {}", pairs.join(" · "));
        console::truncate_str(&line, self.width, "…").into_owned()
    }
}

/// What a step's status asks the responder to look at.
fn is_problem(status: Status) -> bool {
    matches!(
        status,
        Status::Warning | Status::Critical | Status::Unknown | Status::Stopped
    )
}

/// A dry run's action: what it would have done, and to how many (the preview's rows follow).
fn would(record: &StepRecord) -> String {
    let rows = record
        .approval
        .as_ref()
        .and_then(|approval| approval.preview_rows);
    let whom = |noun: &str| match rows {
        Some(1) => format!("this 1 {noun}"),
        Some(n) => format!("these {n} {noun}s"),
        None => format!("its {noun}s"),
    };
    match record.kind.as_str() {
        "terminate" => format!(
            "  would terminate {} (pg_terminate_backend):",
            whom("session")
        ),
        "cancel" => format!(
            "  would cancel the running query of {} (pg_cancel_backend):",
            whom("session")
        ),
        _ if rows.is_some() => format!("  would run its SQL on {}:", whom("preview row")),
        _ => "  would run its SQL (see the report)".to_owned(),
    }
}

/// A failed step's error, with the server's detail and hint.
fn error_lines(error: &super::record::ErrorRecord) -> Vec<String> {
    let mut lines = indented(&for_terminal(&format!("error: {}", error.message)));
    let extra = [("detail", &error.detail), ("hint", &error.hint)];
    for (name, text) in extra {
        if let Some(text) = text {
            lines.extend(indented(&for_terminal(&format!("{name}: {text}"))));
        }
    }
    lines
}

/// A recommendation as `  → words`, wrapped at spaces to `width` (a word longer than the
/// line stays whole), its next lines indented under the first word.
fn wrapped(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = "  →".to_owned();
    for word in text.split(' ').filter(|word| !word.is_empty()) {
        let fresh = line.trim().is_empty() || line == "  →";
        if !fresh
            && console::measure_text_width(&line) + 1 + console::measure_text_width(word) > width
        {
            lines.push(std::mem::replace(&mut line, "   ".to_owned()));
        }
        line.push(' ');
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// Each line of `text`, indented below the status line.
fn indented(text: &str) -> Vec<String> {
    text.trim_end()
        .lines()
        .map(|line| format!("  {line}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::record::{ApprovalRecord, Cell};

    fn screen(detail: Detail) -> Screen {
        Screen {
            detail,
            paint: Paint::Plain,
            width: 80,
        }
    }

    fn sessions(status: Status) -> StepRecord {
        let mut record = StepRecord::new("idle", "Idle sessions", "check", status);
        record.message = Some("2 idle".to_owned());
        record.columns = vec!["state".to_owned(), "pid".to_owned()];
        record.rows = vec![
            vec![Cell::Text("idle".to_owned()), Cell::Integer(41)],
            vec![Cell::Text("idle".to_owned()), Cell::Integer(42)],
        ];
        record.row_count = 2;
        record
    }

    #[test]
    fn a_step_listing_sessions_shows_them_by_pid_even_when_ok() {
        let lines = screen(Detail::Compact).below(&sessions(Status::Ok));
        assert_eq!(lines, ["  pid  state", "  41   idle", "  42   idle"]);
    }

    #[test]
    fn a_recommendation_is_wrapped_to_the_width() {
        assert_eq!(
            wrapped("have its application commit, or terminate it", 24),
            [
                "  → have its application",
                "    commit, or terminate",
                "    it"
            ]
        );
    }

    #[test]
    fn brief_shows_nothing_below_the_status_line() {
        assert!(
            screen(Detail::Brief)
                .below(&sessions(Status::Critical))
                .is_empty()
        );
    }

    #[test]
    fn an_ok_step_of_one_row_shows_it_on_one_line() {
        let mut record = StepRecord::new("overview", "Overview", "check", Status::Ok);
        record.columns = vec!["total".to_owned(), "idle".to_owned()];
        record.rows = vec![vec![Cell::Integer(8), Cell::Integer(5)]];
        record.row_count = 1;
        assert_eq!(
            screen(Detail::Compact).below(&record),
            ["  total 8 · idle 5"]
        );
        assert_eq!(
            screen(Detail::Verbose).below(&record),
            ["  total  idle", "  8      5"]
        );
    }

    #[test]
    fn a_manual_step_shows_its_text_and_no_empty_dash() {
        let mut record = StepRecord::new("after", "Afterwards", "manual", Status::Manual);
        record.manual = Some("Call the team.\nWrite it down.\x1b[2J\n".to_owned());
        let screen = screen(Detail::Compact);
        assert_eq!(screen.status_line(&record), "MANUAL Afterwards");
        assert_eq!(
            screen.below(&record),
            ["  Call the team.", "  Write it down.\\x1b[2J"]
        );
    }

    #[test]
    fn a_dry_run_says_what_the_action_would_do_and_to_whom() {
        let mut record = sessions(Status::Skipped);
        record.kind = "terminate".to_owned();
        record.approval = Some(ApprovalRecord {
            decision: Decided::DryRun,
            by: None,
            operator: "tester".to_owned(),
            role: "root".to_owned(),
            at: "2026-12-03T10:00:00Z".to_owned(),
            reason: None,
            preview_rows: Some(2),
        });
        let lines = screen(Detail::Compact).below(&record);
        assert_eq!(
            lines,
            [
                "  would terminate these 2 sessions (pg_terminate_backend):",
                "  pid  state",
                "  41   idle",
                "  42   idle"
            ]
        );
    }

    #[test]
    fn the_status_is_coloured_after_the_title_is_made_safe() {
        let mut record = StepRecord::new("x", "T\x1b[31m", "check", Status::Warning);
        record.message = Some("m".to_owned());
        let screen = Screen {
            paint: Paint::Colour,
            ..screen(Detail::Compact)
        };
        assert_eq!(
            screen.status_line(&record),
            "\x1b[33mWARNING\x1b[0m T\\x1b[31m — m"
        );
    }
}
