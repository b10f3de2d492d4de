//! What a finished step shows at a terminal: its status line, and below it what a responder
//! needs without opening the report — the sessions it found, why it is not OK, a manual
//! step's text, what a dry run's action would have done and to whom.
//!
//! One renderer for a single run and a fleet: the single run's progress display writes each
//! step here as it ends, a fleet writes each target here as it ends (its header, then its steps
//! the same way). It writes text into any writer from the records alone, so it is tested
//! without a terminal. Everything from the server or the playbook is made safe first, and
//! colour added after; every line is cut to the width, so none wraps under a progress bar.

use std::io::{self, Write};
use std::time::Duration;

use console::truncate_str;
use indicatif::HumanDuration;

use super::fitted::{self, Rows};
use super::paint::Paint;
use super::record::{Decided, RunRecord, Status, StepRecord};
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
    /// How finished steps are shown now, at the width the terminal has at this moment (it may
    /// have been resized since the last step); 80 columns when it cannot say.
    pub fn now(detail: Detail, paint: Paint) -> Screen {
        let (_, columns) = console::Term::stderr().size();
        Screen {
            detail,
            paint,
            width: match usize::from(columns) {
                narrow if narrow < 20 => 80,
                columns => columns,
            },
        }
    }

    /// A finished step: `  [3/9] STATUS title — message (2s)`, cut to the width with `…`
    /// before its time (the report keeps the whole message), then what [`Screen::below`] says.
    pub fn step(
        &self,
        out: &mut dyn Write,
        place: &str,
        record: &StepRecord,
        elapsed: Duration,
    ) -> io::Result<()> {
        let elapsed = format!(" ({})", took(elapsed));
        let line = format!("  [{place}] {}", self.status_line(record));
        let room = self
            .width
            .saturating_sub(console::measure_text_width(&elapsed));
        writeln!(out, "{}{elapsed}", truncate_str(&line, room, "…"))?;
        for line in self.below(record) {
            writeln!(out, "{line}")?;
        }
        Ok(())
    }

    /// A fleet's target as it ends: `== NAME  STATUS  12s`, then its steps as
    /// [`Screen::step`] shows them — those that need attention, every one with `--verbose`,
    /// none with `--brief`. When no step line says why the target is not OK (`--brief`, or it
    /// never ran a step), the header says it: `== db3  UNKNOWN  1s — cannot connect …`.
    pub fn target(
        &self,
        out: &mut dyn Write,
        name: &str,
        status: Status,
        record: &RunRecord,
    ) -> io::Result<()> {
        let shown: Vec<(usize, &StepRecord)> = record
            .steps
            .iter()
            .enumerate()
            .filter(|(_, step)| match self.detail {
                Detail::Brief => false,
                Detail::Compact => is_problem(step.status),
                Detail::Verbose => true,
            })
            .collect();
        let mut header = format!(
            "== {}  {}  {}",
            for_terminal_line(name),
            self.paint.label(status),
            took(Duration::from_millis(record.duration_ms))
        );
        let why = record.why.as_deref().filter(|why| !why.is_empty());
        if let Some(why) = why.filter(|_| shown.is_empty()) {
            header.push_str(" — ");
            header.push_str(&for_terminal_line(why));
        }
        writeln!(out, "{}", truncate_str(&header, self.width, "…"))?;
        let total = record.steps.len();
        for (index, step) in shown {
            let place = format!("{}/{total}", index + 1);
            self.step(out, &place, step, Duration::from_millis(step.duration_ms))?;
        }
        Ok(())
    }

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
        truncate_str(&line, self.width, "…").into_owned()
    }
}

/// How long a step or a target took, as every line of the screen says it: `0s`, `12s`, `3m`.
pub fn took(elapsed: Duration) -> String {
    format!("{:#}", HumanDuration(elapsed))
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

    /// What `write` wrote, line by line.
    fn written(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Vec<String> {
        let mut out = Vec::new();
        write(&mut out).expect("written into memory");
        String::from_utf8(out)
            .expect("UTF-8")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn a_long_status_line_is_cut_to_the_width_before_its_time() {
        let mut record = StepRecord::new("long", "Long", "check", Status::Warning);
        record.message = Some("very ".repeat(60));
        for width in [80, 160] {
            let screen = Screen {
                width,
                ..screen(Detail::Brief)
            };
            let lines = written(|out| screen.step(out, "1/2", &record, Duration::from_secs(2)));
            assert_eq!(lines.len(), 1, "{lines:?}");
            assert_eq!(console::measure_text_width(&lines[0]), width, "{lines:?}");
            assert!(lines[0].starts_with("  [1/2] WARNING Long — very very "));
            assert!(lines[0].ends_with("… (2s)"), "{lines:?}");
        }
        let short = written(|out| {
            screen(Detail::Brief).step(out, "2/2", &sessions(Status::Ok), Duration::ZERO)
        });
        assert_eq!(short, ["  [2/2] OK Idle sessions — 2 idle (0s)"]);
    }

    /// A fleet's target whose first step is OK and second CRITICAL.
    fn target() -> RunRecord {
        let mut record = crate::outputs::example::record();
        record.status = Status::Critical;
        record.duration_ms = 12_000;
        record.why = Some("`idle`: 2 idle".to_owned());
        record.steps = vec![
            StepRecord::new("nap", "Nap", "check", Status::Ok),
            sessions(Status::Critical),
        ];
        record
    }

    #[test]
    fn a_fleet_target_shows_its_header_then_the_steps_that_need_attention() {
        let record = target();
        let lines =
            written(|out| screen(Detail::Compact).target(out, "db1", Status::Critical, &record));
        assert_eq!(
            lines,
            [
                "== db1  CRITICAL  12s",
                "  [2/2] CRITICAL Idle sessions — 2 idle (0s)",
                "  pid  state",
                "  41   idle",
                "  42   idle"
            ]
        );
        let verbose =
            written(|out| screen(Detail::Verbose).target(out, "db1", Status::Critical, &record));
        assert_eq!(verbose[1], "  [1/2] OK Nap (0s)");
        assert_eq!(verbose[2], "  [2/2] CRITICAL Idle sessions — 2 idle (0s)");
    }

    #[test]
    fn a_brief_fleet_target_is_its_header_saying_why() {
        let record = target();
        let screen = Screen {
            paint: Paint::Colour,
            ..screen(Detail::Brief)
        };
        let lines = written(|out| screen.target(out, "db1\x1b", Status::Critical, &record));
        assert_eq!(
            lines,
            ["== db1\\x1b  \x1b[31mCRITICAL\x1b[0m  12s — `idle`: 2 idle"]
        );
    }
}
