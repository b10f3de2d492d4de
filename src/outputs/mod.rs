//! Everything a run leaves behind, built from the engine's events.
//!
//! [`Recorder`] listens to the events and builds the [`RunRecord`] — in one place; the
//! reports ([`Output`]: Markdown, JSON) only render it, the [`Journal`] makes every approval
//! decision durable before the action runs (and its outcome after), `unfinished` finds the
//! approvals of earlier runs that never got an outcome, and [`Progress`] shows the steps on a
//! terminal. For monitoring, `nagios` renders the plugin answer and `prometheus` the metrics,
//! from the same record.
//! Every file is written through `file`: atomically where it replaces, always owner-only.

mod cell;
pub(crate) mod file;
mod fitted;
mod journal;
mod json;
mod markdown;
pub mod nagios;
pub mod paint;
mod progress;
pub mod prometheus;
pub(crate) mod prose;
pub mod record;
mod recorder;
pub mod screen;
pub mod unfinished;

#[cfg(test)]
pub(crate) mod example;

use std::path::{Path, PathBuf};

pub use file::{Artifact, Destination, WriteError};
pub use journal::Journal;
pub(crate) use json::pretty;
pub use json::{Json, schema_json};
pub use markdown::Markdown;
pub(crate) use markdown::human_duration;
pub use progress::{Connecting, Progress};
use record::{RunRecord, Status, StepRecord};
pub use recorder::{Header, Recorder};

/// The directory reports go to when `--report` is not given.
const DEFAULT_DIRECTORY: &str = "runbook-reports";

/// A way of rendering a finished run.
pub trait Output {
    fn render(&self, record: &RunRecord) -> String;
    /// The extension of its files, without the dot.
    fn extension(&self) -> &'static str;
}

/// The report formats (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Json,
}

impl Format {
    pub fn output(self) -> Box<dyn Output> {
        match self {
            Format::Markdown => Box::new(Markdown),
            Format::Json => Box::new(Json),
        }
    }
}

/// A rendered output and where it goes.
pub struct Report {
    pub output: Box<dyn Output>,
    pub destination: Destination,
}

impl Report {
    pub fn write(&self, record: &RunRecord) -> Result<(), WriteError> {
        file::write(
            Artifact::Report,
            &self.output.render(record),
            &self.destination,
        )
    }

    /// [`Report::write`] without waiting on the disk on this thread (see
    /// [`file::write_aside`]).
    pub async fn write_aside(&self, record: &RunRecord) -> Result<(), WriteError> {
        let text = self.output.render(record);
        file::write_aside(Artifact::Report, text, self.destination.clone()).await
    }

    /// Where it went, for the summary line.
    pub fn shown_as(&self) -> String {
        match &self.destination {
            Destination::Stdout => "standard output".to_owned(),
            Destination::File(path) => path.display().to_string(),
        }
    }
}

/// `7 steps, 1 warning, 1 skipped`: what the summary line and the plugin answer say of the
/// steps.
pub fn counts(steps: &[StepRecord]) -> String {
    let mut parts = vec![crate::count::count_usize(steps.len(), "step")];
    for (status, word) in [
        (Status::Critical, "critical"),
        (Status::Unknown, "failed"),
        (Status::Warning, "warning"),
        (Status::Skipped, "skipped"),
        (Status::NotRun, "not run"),
    ] {
        let n = steps.iter().filter(|s| s.status == status).count();
        if n > 0 {
            let word = if n > 1 && status == Status::Warning {
                "warnings"
            } else {
                word
            };
            parts.push(format!("{n} {word}"));
        }
    }
    parts.join(", ")
}

/// A finite number as monitoring reads it: no exponent, no trailing zeros, and `0` for `-0`
/// (Rust's shortest round-trip form, which never uses an exponent).
fn plain_number(value: f64) -> String {
    if value == 0.0 {
        "0".to_owned()
    } else {
        value.to_string()
    }
}

/// `runbook-reports/<playbook>-<YYYYMMDDTHHMMSSZ>.<md|json>`, from when the run started.
pub fn default_path(playbook: &str, started_at: &str, output: &dyn Output) -> PathBuf {
    // `2026-11-26T14:10:00.123456Z`: the first 19 characters are the second it started.
    let stamp: String = started_at
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    let playbook = file_safe(playbook);
    Path::new(DEFAULT_DIRECTORY).join(format!("{playbook}-{stamp}Z.{}", output.extension()))
}

/// `text` with every character but `[A-Za-z0-9._-]` made a `-`: safe in a file name on any
/// file system, and never a path separator.
pub(crate) fn file_safe(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
            _ => '-',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use example::record;

    #[test]
    fn default_path_uses_the_start_to_the_second() {
        let mut record = record();
        assert_eq!(
            default_path(&record.playbook, &record.started_at, &Markdown),
            Path::new("runbook-reports/connection-cleanup-20261126T141000Z.md")
        );
        record.started_at = "2026-11-26T14:10:00.123456Z".to_owned();
        assert_eq!(
            default_path(&record.playbook, &record.started_at, &Json),
            Path::new("runbook-reports/connection-cleanup-20261126T141000Z.json")
        );
        record.playbook = "../etc/passwd".to_owned();
        assert_eq!(
            default_path(&record.playbook, &record.started_at, &Json),
            Path::new("runbook-reports/..-etc-passwd-20261126T141000Z.json")
        );
    }
}
