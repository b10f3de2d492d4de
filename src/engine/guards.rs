//! Guards: `requires` (facts the step needs), then `when` (an expression). The first that
//! fails skips the step, and every decision taken is recorded with its reason.

use super::{Engine, StepError};
use crate::outputs::record::GuardRecord;
use crate::playbook::Step;

impl Engine<'_> {
    /// `Ok(false)` skips the step.
    pub(super) fn guards(
        &self,
        step: &Step,
        guards: &mut Vec<GuardRecord>,
    ) -> Result<bool, StepError> {
        for (guard, passed, reason) in self.requirements(step) {
            guards.push(GuardRecord {
                guard,
                passed,
                reason,
            });
            if !passed {
                return Ok(false);
            }
        }
        let Some(when) = &step.when else {
            return Ok(true);
        };
        let held = self
            .scope
            .holds(when, &self.scope.value())
            .map_err(StepError::when)?;
        let reason = if held {
            "the condition holds"
        } else {
            "the condition is false"
        };
        guards.push(GuardRecord {
            guard: format!("`when: {when}`"),
            passed: held,
            reason: reason.to_owned(),
        });
        Ok(held)
    }

    /// Each `requires` entry as (guard, passed, reason), in the order they are decided.
    fn requirements(&self, step: &Step) -> Vec<(String, bool, String)> {
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
            ));
        }
        if requires.superuser {
            let passed = facts.flag("superuser");
            let reason = if passed {
                format!("`{user}` is a superuser")
            } else {
                format!("requires a superuser; connected as `{user}`")
            };
            decided.push(("superuser".to_owned(), passed, reason));
        }
        for relation in &requires.relations {
            let passed = facts.relation_exists(relation);
            let verb = if passed { "exists" } else { "does not exist" };
            decided.push((
                format!("relation `{relation}`"),
                passed,
                format!("relation `{relation}` {verb}"),
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
            ));
        }
        for role in &requires.roles {
            let passed = facts.flag("superuser") || facts.roles.iter().any(|r| r == role);
            let verb = if passed { "has" } else { "does not have" };
            decided.push((
                format!("role `{role}`"),
                passed,
                format!("`{user}` {verb} the privileges of `{role}`"),
            ));
        }
        decided
    }
}
