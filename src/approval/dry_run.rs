//! `--dry-run`: the approver that rehearses. Every action is answered "dry run", so the engine
//! renders, previews and reports it exactly as it would run, and runs nothing; `--step` is
//! still asked, by the approver it wraps.

use futures_util::future::{self, LocalBoxFuture};

use super::{Approver, Decision, Request, StepChoice};
use crate::playbook::Step;

pub struct DryRun(pub Box<dyn Approver>);

impl Approver for DryRun {
    fn decide<'a>(&'a mut self, _: &'a Request<'a>) -> LocalBoxFuture<'a, Decision> {
        Box::pin(future::ready(Decision::DryRun))
    }

    fn before_step<'a>(
        &'a mut self,
        step: &'a Step,
        title: &'a str,
    ) -> LocalBoxFuture<'a, StepChoice> {
        self.0.before_step(step, title)
    }

    fn may_act(&self) -> bool {
        false
    }

    fn for_target(&mut self, target: &str) {
        self.0.for_target(target);
    }
}
