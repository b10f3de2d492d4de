//! `terminate:` / `cancel:` on the path every action takes: the source check runs again as
//! the preview (without the engine's own session, and never more sessions than can be shown),
//! the statement `signal` makes of exactly the sessions shown is what is approved, and it runs
//! read-only under a timeout that allows for `wait`.

use super::action::{Halt, pid_of, preview_error};
use super::check::Queried;
use super::signal::{self, Session};
use super::visibility::Read;
use super::{Engine, Finished, Refusal, StepError, failed};
use crate::outputs::record::{Status, StepRecord};
use crate::playbook::{Action, SessionAction, Signal, Step};
use crate::sql;
use crate::target::{Limits, Target, Wrap};

impl Engine<'_> {
    /// `terminate:` / `cancel:`: the source check again as the preview, then exactly the
    /// sessions shown, signalled if the check still selects them.
    pub(super) async fn signal(
        &mut self,
        step: &Step,
        action: &Action,
        session_action: &SessionAction,
        mut record: StepRecord,
        target: &mut impl Target,
    ) -> Finished {
        if let Signal::Terminate { wait: Some(_) } = session_action.signal {
            let version = self.facts.int("server_version");
            if version < 14 {
                let error = StepError::WaitNeedsVersion { version };
                return failed(record, &error).into();
            }
        }
        let source = &session_action.source;
        let (body, preview) = match self
            .source_rows(step, session_action, &mut record, target)
            .await
        {
            Ok(found) => found,
            Err(halt) => return self.halted(record, halt),
        };
        let named = match signal::sessions(
            session_action.signal,
            &preview.columns,
            &preview.kept,
            &source.id,
        ) {
            Ok(named) => named,
            Err(message) => return failed(record, &StepError::Sessions { message }).into(),
        };
        if named.sessions.is_empty() {
            record.status = Status::Skipped;
            record.message = Some(format!(
                "none of the {} of `{}` names a session (pid and backend_start are NULL): nothing to signal",
                crate::count::count(named.unnamed, "row"),
                source.id
            ));
            return record.into();
        }
        let statement = match signal::statement(session_action.signal, &body, &named.sessions) {
            Ok(statement) => statement,
            Err(message) => return failed(record, &StepError::Sessions { message }).into(),
        };
        record.sql = Some(statement.clone());
        let decision = match self
            .approve(
                step,
                action,
                &statement,
                Some(&preview),
                &mut record,
                target,
            )
            .await
        {
            Ok(decision) => decision,
            Err(refusal) => return self.halted(record, Halt::Refused(refusal)),
        };
        if let Some(halt) = self.unless_approved(decision, Some(&preview), &mut record) {
            return self.halted(record, halt);
        }
        let limits = signal_limits(self.limits(step), session_action.signal, &named.sessions);
        // Read-only: signals need no writing, and the check nested in it may not write either.
        let mut finished = self
            .execute(step, &statement, Wrap::ReadOnly, limits, record, target)
            .await;
        if named.unnamed > 0 && finished.record.status != Status::Unknown {
            let note = format!(
                "{} named no session (NULL pid or start) and {} not signalled",
                crate::count::count(named.unnamed, "row"),
                if named.unnamed == 1 { "was" } else { "were" }
            );
            let message = finished.record.message.take();
            finished.record.message = Some(match message {
                Some(message) => format!("{message}; {note}"),
                None => note,
            });
        }
        finished
    }

    /// The source check rendered, judged and run again: its `SELECT` (to nest in the signal
    /// statement) and its rows, without the engine's own session.
    async fn source_rows(
        &mut self,
        step: &Step,
        session_action: &SessionAction,
        record: &mut StepRecord,
        target: &mut impl Target,
    ) -> Result<(String, Queried), Halt> {
        let source = &session_action.source;
        let fail = |record: &StepRecord, error: &StepError| {
            Halt::Record(Box::new(failed(record.clone(), error)))
        };
        let ctx = self.scope.value();
        let rendered = self
            .scope
            .sql(&format!("{}.check", source.id), &source.sql, &ctx)
            .map_err(|error| fail(record, &error))?;
        let read = Read {
            what: "preview (the check it names)",
            functions: &source.functions,
            at: source.sql_at.as_deref(),
            sees: source.sees,
        };
        self.judged_read(&read, &rendered)
            .map_err(|error| fail(record, &error))?;
        let Some(body) = sql::select_body(&rendered) else {
            let message = format!(
                "check `{}` is not a `SELECT`, whose rows could name sessions",
                source.id
            );
            return Err(fail(record, &StepError::Sessions { message }));
        };
        let queried = self
            .query(target, step, &[], &rendered, Wrap::ReadOnly)
            .await;
        self.stop_if_escaped(step, &queried);
        let mut queried = queried.map_err(|error| fail(record, &preview_error(error)))?;
        // The engine's own session is never a candidate: shown, it would only mislead.
        let own = self.facts.int("backend_pid");
        if let Some(pid) = queried.columns.names().iter().position(|c| c == "pid") {
            let before = queried.kept.len();
            queried.kept.retain(|row| pid_of(row, pid) != Some(own));
            queried.row_count -= (before - queried.kept.len()) as u64;
        }
        // Every session that can be signalled is shown at the prompt and in the report.
        let shown = self.settings.report_rows as u64;
        if queried.row_count > shown {
            return Err(Halt::Refused(Refusal::MoreSessionsThanShown {
                row_count: queried.row_count,
                shown,
            }));
        }
        self.previewed(record, queried)
            .map(|queried| (body, queried))
    }
}

/// A terminate that waits may take its wait for each session, on top of the step's timeout.
fn signal_limits(limits: Limits, signal: Signal, sessions: &[Session]) -> Limits {
    let Signal::Terminate { wait: Some(wait) } = signal else {
        return limits;
    };
    let count = u32::try_from(sessions.len()).unwrap_or(u32::MAX);
    Limits {
        statement_timeout: limits.statement_timeout + wait.as_std().saturating_mul(count),
        ..limits
    }
}
