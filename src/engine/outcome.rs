//! What an approved action's statement did, told to the listeners the moment it returns and
//! before the engine assesses or reports anything: the journal puts it on disk beside the
//! approval, so an approval without an outcome means the run died while the action ran.

use serde::{Deserialize, Serialize};

use super::check::Queried;
use super::{Engine, StepError};
use crate::events::Event;
use crate::playbook::{Act, Action, Step, StepKind};
use crate::target::QueryError;

/// How an approved action's statement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ended {
    Succeeded,
    /// The server refused or failed it (a transaction-wrapped action was rolled back).
    Failed,
    /// An interruption (Ctrl-C, SIGTERM, SIGHUP), a timeout or a lost connection: the
    /// statement was cut short, and whether it took effect, or some of it, may be unknown
    /// (a cancelled `VACUUM` keeps what it did; a terminate may have signalled some sessions).
    Interrupted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub ended: Ended,
    /// When the statement returned, RFC 3339 UTC.
    pub at: String,
    /// The count of the command tags (`UPDATE 3` → 3), when it succeeded.
    pub rows_affected: Option<u64>,
    /// The rows it returned, when it succeeded.
    pub rows_returned: Option<u64>,
    /// For `terminate`/`cancel`: the sessions the server said it signalled.
    pub signalled: Option<u64>,
    pub sqlstate: Option<String>,
    pub message: Option<String>,
}

impl Outcome {
    /// The outcome of a statement that returned `result` at `at`; `interrupted`: the run was
    /// interrupted while it ran.
    pub(super) fn of(
        result: &Result<Queried, StepError>,
        interrupted: bool,
        at: String,
    ) -> Outcome {
        let error = match result {
            Ok(queried) => {
                return Outcome {
                    ended: Ended::Succeeded,
                    at,
                    rows_affected: Some(queried.rows_affected),
                    rows_returned: Some(queried.row_count),
                    signalled: None,
                    sqlstate: None,
                    message: None,
                };
            }
            Err(error) => error,
        };
        let query = error.query();
        let lost = query.is_some_and(|q| q.connection_lost());
        let timed_out = query.and_then(QueryError::timed_out_after);
        let unsent = matches!(error, StepError::Interrupted { .. });
        let ended = if interrupted || lost || unsent || timed_out.is_some() {
            Ended::Interrupted
        } else {
            Ended::Failed
        };
        let message = match timed_out {
            Some(after) => format!("timed out after {after}; the statement was cancelled"),
            None => error.to_string(),
        };
        Outcome {
            ended,
            at,
            rows_affected: None,
            rows_returned: None,
            signalled: None,
            sqlstate: query.and_then(|q| q.sqlstate.clone()),
            message: Some(message),
        }
    }
}

impl Engine<'_> {
    /// Tells the listeners what the approved action's statement did, the moment it returned.
    /// The action has run either way: an outcome the journal cannot keep is said in the report.
    pub(super) fn acted(&mut self, step: &Step, result: &Result<Queried, StepError>) -> Outcome {
        let mut outcome = Outcome::of(result, self.interrupted(), self.clock.stamp());
        if let (Ok(queried), Some(answer)) = (result, signal_answer(step)) {
            outcome.signalled = Some(signalled(queried, answer));
        }
        let event = Event::Acted {
            step,
            outcome: &outcome,
        };
        if let Err(veto) = self.listeners.emit(&event) {
            self.ending.notes.push(format!(
                "the outcome of step `{}` could not be journaled: {veto}",
                step.id
            ));
        }
        outcome
    }
}

/// The column of a session action's result that holds the server's answers.
fn signal_answer(step: &Step) -> Option<&'static str> {
    match &step.kind {
        StepKind::Action(Action {
            act: Act::Signal(action),
            ..
        }) => Some(action.signal.answer_column()),
        _ => None,
    }
}

/// How many of the rows say the server signalled the session (`t`); the engine keeps every
/// row of a session action (there are at most as many as the preview could show).
fn signalled(queried: &Queried, answer: &str) -> u64 {
    let Some(column) = queried.columns.names().iter().position(|c| c == answer) else {
        return 0;
    };
    let yes =
        |row: &&Vec<Option<String>>| row.get(column).cloned().flatten().as_deref() == Some("t");
    queried.kept.iter().filter(yes).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::rows::Columns;
    use crate::target::{Fault, Limits};

    #[test]
    fn an_outcome_says_what_the_statement_did_and_a_ctrl_c_is_an_interruption() {
        let queried = Queried {
            columns: Columns::default(),
            kept: Vec::new(),
            matches: Vec::new(),
            row_count: 0,
            rows_affected: 3,
        };
        let at = || "2026-11-26T14:00:02Z".to_owned();
        let done = Outcome::of(&Ok(queried), false, at());
        assert_eq!(
            (done.ended, done.rows_affected, done.rows_returned),
            (Ended::Succeeded, Some(3), Some(0))
        );
        let mut cancelled = QueryError::plain("canceling statement due to user request".into());
        cancelled.sqlstate = Some("57014".into());
        let source = cancelled.clone();
        let failed = Outcome::of(&Err(StepError::Query { source }), false, at());
        assert_eq!(failed.ended, Ended::Failed);
        let source = cancelled;
        let interrupted = Outcome::of(&Err(StepError::Query { source }), true, at());
        assert_eq!(
            (interrupted.ended, interrupted.sqlstate.as_deref()),
            (Ended::Interrupted, Some("57014"))
        );
        let by = "by the operator (Ctrl-C)";
        let unsent = Outcome::of(&Err(StepError::Interrupted { by }), true, at());
        assert_eq!(
            (unsent.ended, unsent.message.as_deref()),
            (
                Ended::Interrupted,
                Some("interrupted by the operator (Ctrl-C) before it was sent")
            )
        );
    }

    #[test]
    fn an_action_that_timed_out_was_cut_short_and_says_so() {
        let mut cancelled = QueryError::plain("canceling statement due to user request".into());
        cancelled.sqlstate = Some("57014".into());
        let source = cancelled.past(Limits::short(2, 1));
        assert_eq!(
            source.fault,
            Fault::TimedOut {
                after: std::time::Duration::from_secs(2)
            }
        );
        let outcome = Outcome::of(&Err(StepError::Query { source }), false, "at".into());
        assert_eq!(
            (
                outcome.ended,
                outcome.sqlstate.as_deref(),
                outcome.message.as_deref()
            ),
            (
                Ended::Interrupted,
                Some("57014"),
                Some("timed out after 2s; the statement was cancelled")
            )
        );
    }
}
