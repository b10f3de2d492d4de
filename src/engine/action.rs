//! An action, in the order that keeps it safe: preview (what it will act on) → render → blast
//! radius (`max_rows`) → the advisory lock → approval → the decision on disk (listeners can
//! veto) → run. Whatever stops it on the way, the record says where and why.
//!
//! Two kinds share that path. An `action:` runs its author's SQL, judged again as rendered
//! (it may not signal sessions); its preview is its own SQL. A `terminate:`/`cancel:`
//! (`session_action`) runs its source check again as the preview, and on approval the
//! statement `signal` makes of exactly the sessions shown.

use std::collections::BTreeMap;

use minijinja::Value;

use super::check::{Queried, judged_at, read_of};
use super::context::Kept;
use super::{Engine, Finished, KEPT_ROWS, Refusal, StepError, failed};
use crate::approval::{Decision, Preview, Request};
use crate::events::Event;
use crate::outputs::record::{ApprovalRecord, Status, StepRecord};
use crate::playbook::{Act, Action, MaxRows, RowLimit, SqlAction, Step, Transaction};
use crate::sql::Role;
use crate::target::{Limits, Target, Wrap};

/// Where an action stopped before running, when it did.
pub(super) enum Halt {
    /// The step ends with this record (skipped, failed).
    Record(Box<StepRecord>),
    Refused(Refusal),
}

impl Engine<'_> {
    pub(super) async fn action(
        &mut self,
        step: &Step,
        action: &Action,
        record: StepRecord,
        target: &mut impl Target,
    ) -> Finished {
        match &action.act {
            Act::Sql(sql) => self.sql_action(step, action, sql, record, target).await,
            Act::Signal(signal) => self.signal(step, action, signal, record, target).await,
        }
    }

    async fn sql_action(
        &mut self,
        step: &Step,
        action: &Action,
        sql_action: &SqlAction,
        mut record: StepRecord,
        target: &mut impl Target,
    ) -> Finished {
        let preview = match self.preview(step, sql_action, &mut record, target).await {
            Ok(preview) => preview,
            Err(halt) => return self.halted(record, halt),
        };
        let mut ctx = self.scope.value();
        if let Some(preview) = &preview {
            let kept = Kept::of(&preview.columns, &preview.kept);
            let value = BTreeMap::from([
                ("rows".to_owned(), kept.rows),
                ("row_count".to_owned(), Value::from(preview.row_count)),
            ]);
            ctx = self.scope.with(&BTreeMap::from([(
                "preview".to_owned(),
                Value::from(value),
            )]));
        }
        let rendered = match self
            .scope
            .sql(&format!("{}.action", step.id), &sql_action.sql, &ctx)
        {
            Ok(rendered) => rendered,
            Err(error) => return failed(record, &error).into(),
        };
        record.sql = Some(rendered.clone());
        let single = sql_action.transaction == Transaction::Autocommit;
        if let Err(error) = judged_at("action", &rendered, Role::Action { single }, None) {
            return failed(record, &error).into();
        }
        let decision = match self
            .approve(
                step,
                action,
                &rendered,
                preview.as_ref(),
                &mut record,
                target,
            )
            .await
        {
            Ok(decision) => decision,
            Err(refusal) => return self.halted(record, Halt::Refused(refusal)),
        };
        if let Some(halt) = self.unless_approved(decision, preview.as_ref(), &mut record) {
            return self.halted(record, halt);
        }
        let wrap = match sql_action.transaction {
            Transaction::Wrapped => Wrap::Transaction,
            Transaction::Autocommit => Wrap::Autocommit,
        };
        let limits = self.limits(step);
        let preview_rows = preview.as_ref().map(|p| p.row_count);
        let mut finished = self
            .execute(step, &rendered, wrap, limits, record, target)
            .await;
        if let Some(previewed) = preview_rows {
            more_than_previewed(&mut finished.record, previewed);
        }
        finished
    }

    /// Runs the preview, if any: `Ok(None)` without one; a preview with no rows skips the
    /// action, one with more rows than can be shown refuses it, and so does one that lists the
    /// engine's own session.
    async fn preview(
        &mut self,
        step: &Step,
        action: &SqlAction,
        record: &mut StepRecord,
        target: &mut impl Target,
    ) -> Result<Option<Queried>, Halt> {
        let Some(preview_sql) = &action.preview else {
            return Ok(None);
        };
        let ctx = self.scope.value();
        let rendered = self
            .scope
            .sql(&format!("{}.preview", step.id), preview_sql, &ctx)
            .map_err(|error| Halt::Record(Box::new(failed(record.clone(), &error))))?;
        self.judged_read(&read_of(step, "preview"), &rendered)
            .map_err(|error| Halt::Record(Box::new(failed(record.clone(), &error))))?;
        let queried = self
            .query(target, step, &[], &rendered, Wrap::ReadOnly)
            .await;
        self.stop_if_escaped(step, &queried);
        let queried = queried.map_err(|error| {
            Halt::Record(Box::new(failed(record.clone(), &preview_error(error))))
        })?;
        let own = self.facts.int("backend_pid");
        if let Some(pid) = queried.columns.names().iter().position(|c| c == "pid")
            && queried.kept.iter().any(|row| pid_of(row, pid) == Some(own))
        {
            return Err(Halt::Refused(Refusal::OwnSession { pid: own }));
        }
        self.previewed(record, queried).map(Some)
    }

    /// A preview with no rows skips the action; one with more rows than can be shown
    /// refuses it; otherwise its rows are the record's until the action has its own.
    pub(super) fn previewed(
        &self,
        record: &mut StepRecord,
        queried: Queried,
    ) -> Result<Queried, Halt> {
        if queried.row_count == 0 {
            record.status = Status::Skipped;
            record.message = Some("the preview has no rows: nothing to act on".to_owned());
            return Err(Halt::Record(Box::new(record.clone())));
        }
        if queried.row_count > KEPT_ROWS as u64 {
            return Err(Halt::Refused(Refusal::PreviewTooLarge {
                row_count: queried.row_count,
                kept: KEPT_ROWS,
            }));
        }
        self.show_rows(record, &queried);
        Ok(queried)
    }

    /// Blast radius, lock, then the approver's answer, recorded and heard by the listeners
    /// before anything runs.
    pub(super) async fn approve(
        &mut self,
        step: &Step,
        action: &Action,
        rendered: &str,
        preview: Option<&Queried>,
        record: &mut StepRecord,
        target: &mut impl Target,
    ) -> Result<Decision, Refusal> {
        let allowed = match &action.max_rows {
            Some(max_rows) => Some(self.allowed(step, max_rows)?),
            None => None,
        };
        if let (Some((allowed, limit)), Some(preview)) = (&allowed, preview)
            && preview.row_count > *allowed
        {
            return Err(Refusal::MaxRows {
                row_count: preview.row_count,
                allowed: *allowed,
                limit: limit.clone(),
            });
        }
        let allowed = allowed.map(|(allowed, _)| allowed);
        // A rehearsal does not keep other responders out.
        if self.approver.may_act() {
            self.lock(target).await?;
        }
        let columns = preview.map(|p| p.columns.names()).unwrap_or_default();
        let shown: Vec<Vec<Option<String>>> = preview
            .map(|p| {
                p.kept
                    .iter()
                    .take(self.settings.report_rows)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let request = Request {
            step,
            title: &record.title,
            sql: rendered,
            preview: preview.map(|p| Preview {
                columns: &columns,
                rows: &shown,
                row_count: p.row_count,
            }),
            max_rows: allowed,
            approval: action.approval,
        };
        self.emit(&Event::Asking);
        let asked = self.clock.elapsed();
        let decision = self.approver.decide(&request).await;
        self.waited += self.clock.elapsed().saturating_sub(asked);
        let preview_rows = preview.map(|p| p.row_count);
        self.record_decision(step, rendered, decision, preview_rows, record)
    }

    /// Puts the decision in the record and tells the listeners, who keep it durably before
    /// anything runs; one that cannot refuses the action.
    fn record_decision(
        &mut self,
        step: &Step,
        rendered: &str,
        mut decision: Decision,
        preview_rows: Option<u64>,
        record: &mut StepRecord,
    ) -> Result<Decision, Refusal> {
        // Nothing is run after an interruption, whatever was answered at the same moment; a
        // prompt the signal abandoned was interrupted by it.
        if self.interrupted()
            && matches!(
                decision,
                Decision::Approved { .. } | Decision::Aborted { .. } | Decision::Interrupted { .. }
            )
        {
            decision = Decision::Interrupted {
                reason: format!("interrupted {} at the prompt", self.interruption()),
            };
        }
        let approval = self.approval_record(&decision, preview_rows);
        // A rehearsal decides nothing: there is no decision for an audit trail to keep.
        let heard = match decision {
            Decision::DryRun => Ok(()),
            _ => self.decided(&Event::Decided {
                step,
                sql: rendered,
                approval: &approval,
            }),
        };
        record.approval = Some(approval);
        heard.map_err(|veto| Refusal::NoAuditTrail {
            reason: veto.reason,
        })?;
        Ok(decision)
    }

    /// `None` when approved; otherwise how the step ends.
    pub(super) fn unless_approved(
        &mut self,
        decision: Decision,
        preview: Option<&Queried>,
        record: &mut StepRecord,
    ) -> Option<Halt> {
        let (status, message) = match decision {
            Decision::Approved { .. } => return None,
            Decision::Refused { reason } => {
                return Some(Halt::Refused(Refusal::NotApproved { reason }));
            }
            Decision::DryRun => (
                Status::Skipped,
                match preview {
                    Some(p) => format!(
                        "dry run: would have run the SQL below on {}",
                        crate::count::count(p.row_count, "preview row")
                    ),
                    None => "dry run: would have run the SQL below".to_owned(),
                },
            ),
            // Not approved: the run goes on, and exits 4 (the contract's "skipped at the prompt").
            Decision::Declined { reason } => {
                self.ending.refuse(format!("`{}`: {reason}", record.id));
                (Status::Skipped, reason)
            }
            Decision::Aborted { reason } | Decision::Interrupted { reason } => {
                self.ending.stop(format!("`{}`: {reason}", record.id));
                (Status::NotRun, reason)
            }
        };
        record.status = status;
        record.message = Some(message);
        Some(Halt::Record(Box::new(record.clone())))
    }

    /// Runs the approved SQL; the preview's rows stay in the record when the action failed
    /// without a result of its own.
    pub(super) async fn execute(
        &mut self,
        step: &Step,
        rendered: &str,
        wrap: Wrap,
        limits: Limits,
        record: StepRecord,
        target: &mut impl Target,
    ) -> Finished {
        let result = self
            .query_with(target, &step.assess, rendered, wrap, limits)
            .await;
        let outcome = self.acted(step, &result);
        let (columns, column_types, rows, truncated) = (
            record.columns.clone(),
            record.column_types.clone(),
            record.rows.clone(),
            record.rows_truncated,
        );
        let mut finished = self.assessed(step, record, result);
        let record = &mut finished.record;
        record.rows_affected = outcome.rows_affected;
        if record.status == Status::Unknown && record.columns.is_empty() {
            record.columns = columns;
            record.column_types = column_types;
            record.rows = rows;
            record.rows_truncated = truncated;
        }
        finished
    }

    /// The most rows `max_rows` lets the action act on, and how that number was reached
    /// (`"10% of 12 usable connections"`). A templated limit is rendered now, with the run's
    /// params and facts; one that gives no limit refuses the action.
    fn allowed(&self, step: &Step, max_rows: &MaxRows) -> Result<(u64, String), Refusal> {
        let limit = match max_rows {
            MaxRows::Limit(limit) => *limit,
            MaxRows::Template(source) => {
                let name = format!("{}.max_rows", step.id);
                let ctx = self.scope.value();
                let rendered = self
                    .scope
                    .exact_text(&name, source, &ctx)
                    .map_err(|error| Refusal::InvalidMaxRows {
                        template: source.clone(),
                        why: format!("it could not be rendered: {error:#}"),
                    })?;
                RowLimit::parse(&rendered).ok_or_else(|| Refusal::InvalidMaxRows {
                    template: source.clone(),
                    why: format!(
                        "it gives `{rendered}`, which is neither a count nor a percentage above 0% and at most 100%"
                    ),
                })?
            }
        };
        Ok(match limit {
            RowLimit::Count(n) => (n, n.to_string()),
            RowLimit::Percent(p) => {
                let usable = self.facts.int("usable_connections").max(1);
                let allowed = ((usable as f64) * p / 100.0).floor() as u64;
                (allowed, format!("{p}% of {usable} usable connections"))
            }
        })
    }

    pub(super) fn halted(&mut self, record: StepRecord, halt: Halt) -> Finished {
        match halt {
            Halt::Record(record) => (*record).into(),
            Halt::Refused(refusal) => {
                self.ending.refuse(format!("`{}`: {refusal}", record.id));
                StepRecord {
                    status: Status::NotRun,
                    message: Some(refusal.to_string()),
                    ..record
                }
                .into()
            }
        }
    }

    fn approval_record(&self, decision: &Decision, preview_rows: Option<u64>) -> ApprovalRecord {
        let (decided, by, reason) = decision.describe();
        ApprovalRecord {
            decision: decided,
            by,
            operator: self.settings.operator.clone(),
            role: self.facts.text("current_user"),
            at: self.clock.stamp(),
            reason,
            preview_rows,
        }
    }
}

/// The pid in column `index` of `row`, read as the number it is (`'007'` is pid 7).
pub(super) fn pid_of(row: &[Option<String>], index: usize) -> Option<i64> {
    row.get(index)?.as_deref()?.trim().parse().ok()
}

/// A preview's query error says it was the preview's.
pub(super) fn preview_error(error: StepError) -> StepError {
    match error {
        StepError::Query { source } => StepError::Preview { source },
        other => other,
    }
}

/// A generic action that affected or returned more rows than its preview showed acted on rows
/// nobody saw: a warning, with the counts.
fn more_than_previewed(record: &mut StepRecord, previewed: u64) {
    let (returned, affected) = (record.row_count, record.rows_affected.unwrap_or(0));
    if record.status == Status::Unknown || returned.max(affected) <= previewed {
        return;
    }
    let (what, count) = if affected > returned {
        ("affected", affected)
    } else {
        ("returned", returned)
    };
    let note = format!(
        "the action {what} {}, more than the {previewed} its preview showed",
        crate::count::count(count, "row")
    );
    record.status = record.status.max(Status::Warning);
    record.message = Some(match record.message.take() {
        Some(message) => format!("{note}; {message}"),
        None => note,
    });
}
