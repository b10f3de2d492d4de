//! Assessing a query's result: each assessment is evaluated (per-row ones already were, while
//! the rows streamed), the worst severity that held is the step's status, and the messages of
//! that severity are its message. Each assessment that held names the sessions it held for
//! (see [`sessions`]), so a report never names a session the condition did not hold for. An
//! assessment that too little history left undecided does not hold; its record says why, and
//! so does the message of a step that is OK.

use std::collections::BTreeMap;

use minijinja::Value;

use super::check::{Queried, RowMatches, pid_of};
use super::context::Kept;
use super::history::Decision;
use super::{Engine, Finished, KEPT_PIDS, StepError, failed};
use crate::outputs::record::{AssessmentRecord, Cell, SessionsRecord, Status, StepRecord};
use crate::playbook::{Assessment, Scope as AssessScope, Severity, Step};

impl Engine<'_> {
    /// Records a query's result and assesses it.
    pub(super) fn assessed(
        &self,
        step: &Step,
        mut record: StepRecord,
        result: Result<Queried, StepError>,
    ) -> Finished {
        let queried = match result {
            Ok(queried) => queried,
            Err(error) => return failed(record, &error).into(),
        };
        let row_count = queried.row_count;
        self.show_rows(&mut record, &queried);
        let kept = Kept::of(&queried.columns, &queried.kept);
        let mut aggregate = kept.first_row.clone();
        aggregate.insert("row_count".to_owned(), Value::from(row_count));
        aggregate.insert("rows".to_owned(), kept.rows.clone());
        let aggregate = self.scope.with(&aggregate);
        let mut worst: Option<Severity> = None;
        let mut shortfalls: Vec<String> = Vec::new();
        for (index, assessment) in step.assess.iter().enumerate() {
            match self.assess(step, index, assessment, &queried, &aggregate) {
                Ok((result, shortfall)) => {
                    if let Some(shortfall) = shortfall
                        && !shortfalls.contains(&shortfall)
                    {
                        shortfalls.push(shortfall);
                    }
                    if result.held {
                        worst = worst.max(Some(assessment.severity));
                        record.recommendations.extend(result.recommendation.clone());
                    }
                    record.assessments.push(result);
                }
                Err(error) => {
                    return Finished {
                        record: failed(record, &error),
                        kept: Some(kept),
                    };
                }
            }
        }
        record.status = status_of(worst.unwrap_or(Severity::Ok));
        let mut messages: Vec<String> = record
            .assessments
            .iter()
            .filter(|a| a.held && Some(severity_of(a.severity)) == worst)
            .filter_map(|a| a.message.clone())
            .collect();
        // An OK may hide what history cannot tell yet: say so. A warning says what is wrong,
        // and only that (the assessment's record says what was undecided).
        if worst.is_none_or(|w| w == Severity::Ok) {
            messages.extend(shortfalls);
        }
        record.message = Some(if messages.is_empty() {
            format!("{row_count} row{}", if row_count == 1 { "" } else { "s" })
        } else {
            messages.join("; ")
        });
        Finished {
            record,
            kept: Some(kept),
        }
    }

    /// The first `--report-rows` rows, typed for the report, and how many there were.
    pub(super) fn show_rows(&self, record: &mut StepRecord, queried: &Queried) {
        record.columns = queried.columns.names();
        record.column_types = queried.columns.kinds();
        record.row_count = queried.row_count;
        record.rows = queried
            .kept
            .iter()
            .take(self.settings.report_rows)
            .map(|row| Cell::row(&record.column_types, row))
            .collect();
        record.rows_truncated = (record.rows.len() as u64) < queried.row_count;
    }

    fn assess(
        &self,
        step: &Step,
        index: usize,
        assessment: &Assessment,
        queried: &Queried,
        aggregate: &Value,
    ) -> Result<(AssessmentRecord, Option<String>), StepError> {
        let matches = &queried.matches[index];
        let row_count = queried.row_count;
        let (decision, matching_rows, ctx) = match assessment.scope {
            AssessScope::Row => {
                let mut values: BTreeMap<String, Value> = matches.first.clone().unwrap_or_default();
                values.insert("row_count".to_owned(), Value::from(row_count));
                values.insert("matching_rows".to_owned(), Value::from(matches.count));
                let decision = match (matches.count, matches.short) {
                    (0, Some(samples)) => Decision::Undecided { samples },
                    (0, None) => Decision::DoesNotHold,
                    _ => Decision::Holds,
                };
                (decision, Some(matches.count), self.scope.with(&values))
            }
            AssessScope::Aggregate => {
                let decision = self
                    .scope
                    .decide(&assessment.condition, aggregate)
                    .map_err(|failure| StepError::assessment(&assessment.condition, failure))?;
                (decision, None, aggregate.clone())
            }
        };
        let held = decision.held();
        let render = |what: &str, text: &Option<String>| {
            text.as_ref().filter(|_| held).map(|t| {
                self.scope
                    .text(&format!("{}.assess.{index}.{what}", step.id), t, &ctx)
            })
        };
        let shortfall = decision.shortfall();
        let record = AssessmentRecord {
            severity: status_of(assessment.severity),
            condition: assessment.condition.clone(),
            held,
            matching_rows,
            sessions: sessions(assessment.scope, held, matches, queried),
            message: render("message", &assessment.message).or_else(|| shortfall.clone()),
            recommendation: render("recommendation", &assessment.recommendation),
        };
        Ok((record, shortfall))
    }
}

/// The sessions an assessment that held is about: the rows it held for, or every row for a
/// condition on the whole result — the one place that says which pids a finding names.
fn sessions(
    scope: AssessScope,
    held: bool,
    matches: &RowMatches,
    queried: &Queried,
) -> Option<SessionsRecord> {
    queried.columns.find("pid").filter(|_| held)?;
    Some(match scope {
        AssessScope::Row => SessionsRecord {
            pids: matches.pids.clone(),
            count: matches.count,
        },
        AssessScope::Aggregate => SessionsRecord {
            pids: queried
                .kept
                .iter()
                .filter_map(|row| pid_of(&queried.columns, row))
                .take(KEPT_PIDS)
                .collect(),
            count: queried.row_count,
        },
    })
}

fn status_of(severity: Severity) -> Status {
    match severity {
        Severity::Ok => Status::Ok,
        Severity::Warning => Status::Warning,
        Severity::Critical => Status::Critical,
    }
}

fn severity_of(status: Status) -> Severity {
    match status {
        Status::Critical => Severity::Critical,
        Status::Warning => Severity::Warning,
        _ => Severity::Ok,
    }
}
