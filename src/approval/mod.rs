//! Who approves an action, and who says whether to go on: the seam between the engine and the
//! operator.
//!
//! The engine asks; an [`Approver`] answers. Without a terminal the answer is no (fail closed,
//! [`Unattended`]), `--yes` approves `required` actions but never `confirm` ones, and at a
//! terminal the operator sees the preview rows and the rendered SQL before choosing
//! ([`Terminal`]). A dry run is [`DryRun`] wrapped around either: it is the only code that
//! knows about dry runs, and the engine takes the same path whatever the answer.
//!
//! Answers are futures, so a prompt (which blocks on the terminal) runs on a blocking thread
//! and never stalls the runtime, and several targets can later share one prompt. A Ctrl-C
//! while a prompt waits aborts it, as a Ctrl-C typed into it always did.

mod dry_run;
mod menu;
mod screen;
mod terminal;
mod tty;
mod unattended;

use futures_util::future::LocalBoxFuture;

pub use dry_run::DryRun;
pub use terminal::Terminal;
pub use unattended::Unattended;

use crate::outputs::record::{Decided, Decider};
use crate::playbook::{Approval, Step};

/// What the operator is asked to approve.
pub struct Request<'a> {
    pub step: &'a Step,
    pub title: &'a str,
    /// The rendered SQL that will run.
    pub sql: &'a str,
    /// The preview's columns and first rows, and how many rows it returned in all.
    pub preview: Option<Preview<'a>>,
    /// The most rows the action may act on, when it says.
    pub max_rows: Option<u64>,
    pub approval: Approval,
}

pub struct Preview<'a> {
    pub columns: &'a [String],
    pub rows: &'a [Vec<Option<String>>],
    pub row_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run it; `by` says who (`--yes`, or the operator at the prompt).
    Approved { by: Decider },
    /// The operator declined it (skipped it at the prompt); the run goes on, and exits 4.
    Declined { reason: String },
    /// Not approved (no terminal, or `--yes` on a `confirm` action): the action does not
    /// run, the run goes on, and exits 4.
    Refused { reason: String },
    /// The operator aborted the run: nothing more runs; exit 4.
    Aborted { reason: String },
    /// A Ctrl-C (or a signal) came while the operator was asked: nothing more runs; exit 4.
    Interrupted { reason: String },
    /// A rehearsal: show what would have run.
    DryRun,
}

impl Decision {
    /// What the journal and the report record of it: the decision, who took it (nobody, for
    /// a refusal, a dry run or an interruption), and why.
    pub fn describe(&self) -> (Decided, Option<Decider>, Option<String>) {
        let operator = Some(Decider::Operator);
        match self {
            Decision::Approved { by } => (Decided::Approved, Some(*by), None),
            Decision::Declined { reason } => (Decided::Declined, operator, Some(reason.clone())),
            Decision::Refused { reason } => (Decided::Refused, None, Some(reason.clone())),
            Decision::Aborted { reason } => (Decided::Aborted, operator, Some(reason.clone())),
            Decision::Interrupted { reason } => (Decided::Interrupted, None, Some(reason.clone())),
            Decision::DryRun => (Decided::DryRun, None, None),
        }
    }
}

/// The answer to `--step`'s question before a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepChoice {
    Continue,
    Skip,
    Abort,
    /// A Ctrl-C (or a signal) came while the operator was asked.
    Interrupted,
    /// Nobody could be asked (no terminal): the step does not run, nor any after it; exit 4.
    Refused {
        reason: String,
    },
}

pub trait Approver {
    fn decide<'a>(&'a mut self, request: &'a Request<'a>) -> LocalBoxFuture<'a, Decision>;

    /// With `--step`: asked before every step.
    fn before_step<'a>(
        &'a mut self,
        step: &'a Step,
        title: &'a str,
    ) -> LocalBoxFuture<'a, StepChoice>;

    /// False for a rehearsal (a dry run): whatever it answers, no action runs, so the engine
    /// takes no advisory lock against other responders for it.
    fn may_act(&self) -> bool {
        true
    }

    /// In a fleet run, before each question: the target it is about (its fleet name and
    /// where it connected), which a prompt names first.
    fn for_target(&mut self, _target: &str) {}
}
