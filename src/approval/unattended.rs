//! Answers without asking: `--yes` approves `required` actions; nothing else is approved.

use futures_util::future::{self, LocalBoxFuture};

use super::{Approver, Decision, Request, StepChoice};
use crate::outputs::record::Decider;
use crate::playbook::{Approval, Step};

pub struct Unattended {
    pub assume_yes: bool,
}

impl Unattended {
    fn answer(&self, request: &Request) -> Decision {
        match (request.approval, self.assume_yes) {
            (Approval::Required, true) => Decision::Approved { by: Decider::Yes },
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

impl Approver for Unattended {
    fn decide<'a>(&'a mut self, request: &'a Request<'a>) -> LocalBoxFuture<'a, Decision> {
        Box::pin(future::ready(self.answer(request)))
    }

    fn before_step<'a>(&'a mut self, _: &'a Step, _: &'a str) -> LocalBoxFuture<'a, StepChoice> {
        // `--step` without a terminal cannot ask: stop rather than run unasked.
        Box::pin(future::ready(StepChoice::Refused {
            reason: "not run: `--step` asks before every step, and there is no terminal to ask at"
                .to_owned(),
        }))
    }
}
