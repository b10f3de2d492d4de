//! Who approves an action: the seam between the executor and the operator.
//!
//! The executor asks; an `Approver` answers. Without a terminal the answer is no (fail
//! closed), `--yes` approves `required` actions but never `confirm` ones, and a dry run
//! answers "dry run" so the same path shows what would have run.

use crate::outcome::Mode;
use crate::playbook::{Approval, Step};

/// What the operator is asked to approve.
pub struct Request<'a> {
    pub step: &'a Step,
    pub title: &'a str,
    /// The rendered SQL that will run.
    pub sql: &'a str,
    /// Rows the preview returned, when there is a preview.
    pub preview_rows: Option<u64>,
    pub approval: Approval,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run it; `by` says how (`--yes`, or the operator at the prompt).
    Approved { by: String },
    /// The operator chose to skip it; the run goes on.
    Skipped { reason: String },
    /// Not approved: the action does not run and the run stops (exit 4).
    Refused { reason: String },
    /// A dry run: show what would have run.
    DryRun,
}

pub trait Approver {
    fn decide(&mut self, request: &Request, mode: Mode) -> Decision;
}

/// Approves without asking: `--yes` for `required` actions; nothing otherwise.
pub struct Unattended {
    pub assume_yes: bool,
}

impl Approver for Unattended {
    fn decide(&mut self, request: &Request, mode: Mode) -> Decision {
        if mode == Mode::DryRun {
            return Decision::DryRun;
        }
        match (request.approval, self.assume_yes) {
            (Approval::Required, true) => Decision::Approved {
                by: "--yes".to_owned(),
            },
            (Approval::Confirm, true) => Decision::Refused {
                reason: format!(
                    "not approved: `{}` needs `approval: confirm` (typing the step id at a terminal), which `--yes` never gives",
                    request.step.id
                ),
            },
            (_, false) => Decision::Refused {
                reason: "not approved: no terminal to ask and no `--yes`".to_owned(),
            },
        }
    }
}
