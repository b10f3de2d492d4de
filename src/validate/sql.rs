//! The SQL of a step: checks and previews must only read, an action may not signal sessions
//! (nor hide what it runs), and every problem inside SQL points at its line in the file.
//!
//! The SQL is parsed once per step (`crate::sql::analyze`), all steps at once on every core,
//! before the walk: parsing is the costliest part of validation, and the walk needs both the
//! findings and the result columns, in order.

use crate::load::raw::RawStep;
use crate::load::spans::Path;
use crate::sql::{self, Analysis, Concern, Finding, OptIn, Role};

use super::Validator;
use super::error::Problem;
use super::steps::Shape;

/// The keys whose SQL is judged, and so what as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SqlKey {
    Check,
    Preview,
    Action,
}

impl Validator<'_> {
    /// Reports every finding of the judge on SQL at `path`: SQL that writes or signals where
    /// only reading is allowed, an action that signals or runs what cannot be judged.
    pub(super) fn judged(
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
            let location = self.document.offset_location(path, sql, offset, width);
            let concern = finding.concern.clone();
            let problem = match key {
                SqlKey::Check => Problem::CheckNotReadOnly { concern },
                SqlKey::Preview => Problem::PreviewNotReadOnly { concern },
                SqlKey::Action if concern.signals() => Problem::ActionSignals { concern },
                SqlKey::Action => Problem::ActionNotJudged { concern },
            };
            self.report(problem, location);
        }
        findings.is_empty()
    }
}

/// The findings worth reporting: when the template itself does not compile (already
/// reported), its SQL's syntax error is only an echo of that.
pub(super) fn parsed_findings(findings: &[Finding], compiled: bool) -> Vec<Finding> {
    let echo = |f: &&Finding| !compiled && matches!(f.concern, Concern::Syntax { .. });
    findings.iter().filter(|f| !echo(f)).cloned().collect()
}

/// The functions `step` opts in to, as PostgreSQL resolves them (malformed names are reported
/// by the step's own validation).
pub(super) fn opted_in(step: &RawStep) -> Vec<String> {
    let names = step.functions.iter().flatten();
    names.filter_map(|name| sql::opt_in_name(name)).collect()
}

/// What the parser made of a step's SQL and of its preview.
#[derive(Debug, Default)]
pub(super) struct StepAnalysis {
    pub check: Option<Analysis>,
    pub action: Option<Analysis>,
    pub preview: Option<Analysis>,
}

impl StepAnalysis {
    /// Of the SQL a step of `shape` runs: its check, or its action.
    pub(super) fn of(&self, shape: Option<&Shape>) -> Option<&Analysis> {
        match shape {
            Some(Shape::Action(_)) => self.action.as_ref(),
            _ => self.check.as_ref(),
        }
    }
}

/// Parses the SQL of every step (the costliest part of validation) on all cores, on threads
/// with the stack the parser needs.
pub(super) fn analyze_all(steps: &[Option<RawStep>]) -> Vec<StepAnalysis> {
    fn analyze(step: &Option<RawStep>) -> StepAnalysis {
        let Some(step) = step.as_ref() else {
            return StepAnalysis::default();
        };
        let functions = opted_in(step);
        let query = Role::Query(OptIn(&functions));
        let action = Role::Action {
            single: step.transaction == Some(false),
        };
        let analyze = |sql: &Option<String>, role| Some(sql::analyze(sql.as_deref()?, role));
        StepAnalysis {
            check: analyze(&step.check, query),
            action: analyze(&step.action, action),
            preview: analyze(&step.preview, query),
        }
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let chunk = steps.len().div_ceil(threads).max(64);
    std::thread::scope(|scope| {
        let workers: Vec<_> = steps
            .chunks(chunk)
            .map(|part| {
                let worker = std::thread::Builder::new().stack_size(sql::PARSER_STACK);
                let parse =
                    move || sql::as_parser_thread(|| part.iter().map(analyze).collect::<Vec<_>>());
                worker.spawn_scoped(scope, parse)
            })
            .collect();
        workers
            .into_iter()
            .zip(steps.chunks(chunk))
            .flat_map(|(worker, part)| match worker {
                Ok(worker) => worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                // No thread to spare: each analysis starts its own parser thread.
                Err(_) => part.iter().map(analyze).collect::<Vec<_>>(),
            })
            .collect()
    })
}
