//! Guards: `requires` (facts the step needs), then `when` (an expression). The first that
//! fails skips the step, and every decision taken is recorded with its reason (a `when` that
//! reads too little history skips it as "not enough history yet"). A step skipped
//! because the role lacks a privilege it requires (`superuser`, `roles`) says so apart: an
//! action that could not run for lack of privilege did not do its job, so it is UNKNOWN, not
//! skipped (see `Guard::Unprivileged`).

use super::{Engine, StepError};
use crate::outputs::record::GuardRecord;
use crate::playbook::Step;

/// What the guards decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Guard {
    Pass,
    /// A requirement or `when` does not hold: the step does not apply here.
    Skip,
    /// The role lacks a privilege the step requires.
    Unprivileged,
}

impl Engine<'_> {
    /// Whether the step runs; every decision is pushed onto `guards`.
    pub(super) fn guards(
        &self,
        step: &Step,
        guards: &mut Vec<GuardRecord>,
    ) -> Result<Guard, StepError> {
        for (guard, passed, reason, privilege) in self.requirements(step) {
            guards.push(GuardRecord {
                guard,
                passed,
                reason,
            });
            if !passed {
                return Ok(if privilege {
                    Guard::Unprivileged
                } else {
                    Guard::Skip
                });
            }
        }
        let Some(when) = &step.when else {
            return Ok(Guard::Pass);
        };
        let decision = self
            .scope
            .decide(when, &self.scope.value())
            .map_err(StepError::when)?;
        let reason = match decision.shortfall() {
            Some(shortfall) => shortfall,
            None if decision.held() => "the condition holds".to_owned(),
            None => "the condition is false".to_owned(),
        };
        let held = decision.held();
        guards.push(GuardRecord {
            guard: format!("`when: {when}`"),
            passed: held,
            reason,
        });
        Ok(if held { Guard::Pass } else { Guard::Skip })
    }

    /// Each `requires` entry as (guard, passed, reason, whether it is a privilege), in the
    /// order they are decided.
    fn requirements(&self, step: &Step) -> Vec<(String, bool, String, bool)> {
        let requires = &step.requires;
        let facts = &self.facts;
        let user = facts.text("current_user");
        let mut decided = Vec::new();
        if let Some(version) = requires.server_version {
            let server = facts.int("server_version");
            decided.push((
                format!("server_version >= {version}"),
                server >= i64::from(version),
                format!("requires PostgreSQL {version} or later; the server is {server}"),
                false,
            ));
        }
        if requires.superuser {
            let passed = facts.flag("superuser");
            let reason = if passed {
                format!("`{user}` is a superuser")
            } else {
                format!("requires a superuser; connected as `{user}`")
            };
            decided.push(("superuser".to_owned(), passed, reason, true));
        }
        for relation in &requires.relations {
            let passed = facts.relation_exists(relation);
            let verb = if passed { "exists" } else { "does not exist" };
            decided.push((
                format!("relation `{relation}`"),
                passed,
                format!("relation `{relation}` {verb}"),
                false,
            ));
        }
        let installed = facts.extensions();
        for extension in &requires.extensions {
            let passed = installed.iter().any(|e| e == extension);
            let verb = if passed { "is" } else { "is not" };
            decided.push((
                format!("extension `{extension}`"),
                passed,
                format!("extension `{extension}` {verb} installed"),
                false,
            ));
        }
        for role in &requires.roles {
            let passed = facts.flag("superuser") || facts.roles.iter().any(|r| r == role);
            let verb = if passed { "has" } else { "does not have" };
            decided.push((
                format!("role `{role}`"),
                passed,
                format!("`{user}` {verb} the privileges of `{role}`"),
                true,
            ));
        }
        decided
    }
}
