//! The SQL of a step: checks and previews must only read, an action that signals must spare
//! the engine's own session, and every problem inside SQL points at its line in the file.
//!
//! The SQL is parsed once per step (`crate::sql::analyze`), all steps at once on every core,
//! before the walk: parsing is the costliest part of validation, and the walk needs both the
//! findings and the result columns, in order.

use crate::diagnostic::Location;
use crate::load::raw::RawStep;
use crate::load::spans::Path;
use crate::playbook::Action;
use crate::sql::{self, Analysis, Finding};

use super::Validator;
use super::error::Problem;

/// The keys whose SQL must be read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SqlKey {
    Check,
    Preview,
}

impl Validator<'_> {
    /// Rejects SQL that writes or signals where only reading is allowed.
    pub(super) fn read_only(
        &mut self,
        path: &Path,
        sql: &str,
        key: SqlKey,
        findings: &[Finding],
    ) -> bool {
        for finding in findings {
            let offset = finding.offset.unwrap_or(0);
            let width = sql[offset.min(sql.len())..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
                .unwrap_or(0);
            let location = self.offset_location(path, sql, offset, width);
            let concern = finding.concern.clone();
            let problem = match key {
                SqlKey::Check => Problem::CheckNotReadOnly { concern },
                SqlKey::Preview => Problem::PreviewNotReadOnly { concern },
            };
            self.report(problem, location);
        }
        findings.is_empty()
    }

    /// An action that signals sessions must visibly spare the engine's own: its SQL or its
    /// preview must exclude `pg_backend_pid()`.
    pub(super) fn spares_own_session(&mut self, path: &Path, action: &Action) -> bool {
        let lower = action.sql.to_ascii_lowercase();
        let signals = ["pg_terminate_backend", "pg_cancel_backend"]
            .iter()
            .any(|f| lower.contains(f));
        let excluded = |sql: &str| sql.to_ascii_lowercase().contains("pg_backend_pid()");
        if !signals || excluded(&action.sql) || action.preview.as_deref().is_some_and(excluded) {
            return true;
        }
        let location = self.document.value_location(path);
        self.report(Problem::SignalsOwnSession, location);
        false
    }

    /// The file position of byte `offset` inside the scalar at `path`.
    pub(super) fn offset_location(
        &self,
        path: &Path,
        text: &str,
        offset: usize,
        width: usize,
    ) -> Option<Location> {
        let span = self.document.spans.value(path)?;
        let offset = offset.min(text.len());
        let before = text.get(..offset).unwrap_or("");
        let line_in_text = before.matches('\n').count();
        let column_in_line = before.rsplit('\n').next().unwrap_or("").chars().count();
        if span.block || line_in_text == 0 {
            let quoted = !span.block
                && self
                    .document
                    .source
                    .line(span.start.line)
                    .and_then(|l| l.chars().nth(span.start.column - 1))
                    .is_some_and(|c| c == '\'' || c == '"');
            let column = span.start.column + column_in_line + usize::from(quoted);
            return Some(Location {
                line: span.start.line + line_in_text,
                column,
                width,
            });
        }
        // A multi-line plain or quoted scalar: folded lines lose their indentation.
        let line = span.start.line + line_in_text;
        let indent = self
            .document
            .source
            .line(line)
            .map_or(0, |l| l.len() - l.trim_start().len());
        Some(Location {
            line,
            column: indent + 1,
            width,
        })
    }
}

/// Parses the SQL of every check and action (the costliest part of validation) on all cores.
pub(super) fn analyze_all(steps: &[Option<RawStep>]) -> Vec<Option<Analysis>> {
    fn step_sql(step: &Option<RawStep>) -> Option<&str> {
        let step = step.as_ref()?;
        step.check.as_deref().or(step.action.as_deref())
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let chunk = steps.len().div_ceil(threads).max(64);
    std::thread::scope(|scope| {
        let workers: Vec<_> = steps
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|s| step_sql(s).map(sql::analyze))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}
