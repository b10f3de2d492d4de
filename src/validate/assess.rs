//! A step's assessments: each has exactly one severity, an expression whose names and kinds
//! are in scope, and templates that compile; per row or over the whole result, by what it names.

use crate::load::raw::{RawAssessment, RawStep};
use crate::load::spans::Path;
use crate::playbook::{Assessment, Scope, Severity};
use crate::template::TemplateKind;

use super::Validator;
use super::error::Problem;
use super::names::NameScope;

impl Validator<'_> {
    /// Every assessment of the step; `None` when any has an error (all are reported).
    /// `step` is what the assessments see, its place the step's name.
    pub(super) fn assessments(
        &mut self,
        path: &Path,
        raw: &RawStep,
        step: &NameScope,
    ) -> Option<Vec<Assessment>> {
        let mut ok = true;
        let mut assess = Vec::new();
        for (i, raw_assessment) in raw.assess.iter().flatten().enumerate() {
            let scope = NameScope {
                place: format!("assessment {} of {}", i + 1, step.place),
                ..*step
            };
            match self.assessment(&path.key("assess").index(i), raw_assessment, &scope) {
                Some(assessment) => assess.push(assessment),
                None => ok = false,
            }
        }
        ok.then_some(assess)
    }

    fn assessment(
        &mut self,
        path: &Path,
        raw: &RawAssessment,
        scope: &NameScope,
    ) -> Option<Assessment> {
        let (severity, key, condition) = self.severity(path, raw, scope)?;
        let names = self.expression(&path.key(key), condition, scope)?;
        let uses_columns = names.iter().any(|name| self.is_column(name, scope));
        let mut ok = true;
        for (key, text) in [
            ("message", &raw.message),
            ("recommendation", &raw.recommendation),
        ] {
            if let Some(text) = text {
                ok &= self.template(&path.key(key), text, TemplateKind::Text, scope);
            }
        }
        ok.then(|| Assessment {
            severity,
            condition: condition.clone(),
            message: raw.message.clone(),
            recommendation: raw.recommendation.clone(),
            scope: if uses_columns {
                Scope::Row
            } else {
                Scope::Aggregate
            },
        })
    }

    /// The one severity an assessment gives, with its key and condition.
    fn severity<'r>(
        &mut self,
        path: &Path,
        raw: &'r RawAssessment,
        scope: &NameScope,
    ) -> Option<(Severity, &'static str, &'r String)> {
        let given: Vec<(Severity, &'static str, &String)> = [
            (Severity::Critical, "critical", &raw.critical),
            (Severity::Warning, "warning", &raw.warning),
            (Severity::Ok, "ok", &raw.ok),
        ]
        .into_iter()
        .filter_map(|(severity, key, condition)| Some((severity, key, condition.as_ref()?)))
        .collect();
        let place = scope.place.clone();
        match given.as_slice() {
            [one] => Some(*one),
            // A severity left out for a problem already reported (or misspelt) is not missing.
            [] if ["critical", "warning", "ok"]
                .iter()
                .any(|key| self.document.rejected.contains(&path.key(key))) =>
            {
                None
            }
            [] => {
                let location = self.document.key_location(path);
                self.report(Problem::AssessmentWithoutSeverity { place }, location);
                None
            }
            [(_, first, _), (_, second, _), ..] => {
                let location = self.document.key_location(&path.key(second));
                let (first, second) = (*first, *second);
                let problem = Problem::AssessmentWithTwoSeverities {
                    place,
                    first,
                    second,
                };
                self.report(problem, location);
                None
            }
        }
    }
}
