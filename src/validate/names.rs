//! What the names in a template or expression may refer to.
//!
//! minijinja's strict mode would catch a misspelt name only when the template renders, which
//! for an action is after approval. So every name a template or expression reads is checked
//! here, before anything runs, against what will be in scope at that spot: the params, the
//! facts, the steps that run earlier (and their columns), and for assessments the step's own
//! result columns. A miss names the closest candidate.

use std::collections::BTreeSet;

use crate::diagnostic::{Location, did_you_mean};
use crate::expr::{self, Kind};
use crate::facts;
use crate::load::spans::Path;
use crate::template::{self, TemplateKind};

use super::Validator;
use super::error::{NameProblem, Problem, STEP_ATTRIBUTES};

/// Names that are never result columns, though an assessment sees them.
const NOT_COLUMNS: &[&str] = &[
    "params",
    "facts",
    "steps",
    "row_count",
    "rows",
    "matching_rows",
    "preview",
    "history",
];

/// What the names of one template or expression may refer to.
pub(super) struct NameScope<'s> {
    /// Where the name is used, for messages: "`when` of step `x`".
    pub(super) place: String,
    /// Result columns (assessments): `Some(None)` means columns exist but are unknown.
    pub(super) columns: Option<Option<&'s [String]>>,
    /// The kinds of those columns, in their order, where the SQL tells them.
    pub(super) kinds: Option<&'s [Kind]>,
    /// Whether `preview` (an action's preview rows) is in scope.
    pub(super) preview: bool,
    /// The step whose key it is: `history.*` reads its metrics and earlier steps'. `None` at
    /// the playbook's own keys, where `history` is not in scope.
    pub(super) step: Option<&'s str>,
}

impl NameScope<'_> {
    /// A key of the playbook itself (`title`, `description`).
    pub(super) fn top(place: &str) -> NameScope<'static> {
        NameScope {
            place: format!("{place} of the playbook"),
            columns: None,
            kinds: None,
            preview: false,
            step: None,
        }
    }

    /// A key of `step` that sees neither columns nor a preview.
    pub(super) fn of_step<'i>(step: &StepName<'i>, key: &str) -> NameScope<'i> {
        NameScope {
            place: format!("`{key}` of {}", step.shown),
            columns: None,
            kinds: None,
            preview: false,
            // A step without a usable id still has `history` in scope; none of its own
            // metrics can be named.
            step: Some(step.id.unwrap_or_default()),
        }
    }
}

/// A step as validation names it: its id, when it has a usable one, and how messages say it
/// (`step `x``, or its position when it has no id).
pub(super) struct StepName<'a> {
    pub(super) id: Option<&'a str>,
    pub(super) shown: String,
}

/// A problem with a name, and the did-you-mean hint that goes with it.
type Miss = (NameProblem, String);

impl Validator<'_> {
    /// Compiles a template and checks its names; warns about raw interpolation into SQL.
    pub(super) fn template(
        &mut self,
        path: &Path,
        text: &str,
        kind: TemplateKind,
        scope: &NameScope,
    ) -> bool {
        let names = match template::compile_names(&self.env, &path.to_string(), kind, text) {
            Ok(names) => names,
            Err(error) => {
                let location = self.template_error_location(path, text, &error);
                let (place, message) = (scope.place.clone(), template_message(&error));
                self.report(Problem::Template { place, message }, location);
                return false;
            }
        };
        if kind == TemplateKind::Sql {
            for range in template::raw_interpolations(text) {
                let location = self
                    .document
                    .offset_location(path, text, range.start, range.len());
                let place = scope.place.clone();
                self.report(Problem::RawInterpolation { place }, location);
            }
        }
        let recursive = template::recursive_loops(text);
        for range in &recursive {
            let location = self
                .document
                .offset_location(path, text, range.start, range.len());
            let place = scope.place.clone();
            self.report(Problem::RecursiveLoop { place }, location);
        }
        let named = self.names(path, text, &names, scope);
        let history = named && self.history_in_template(path, text, scope);
        named && history && recursive.is_empty()
    }

    /// Compiles an expression and checks its names; returns them.
    pub(super) fn expression(
        &mut self,
        path: &Path,
        text: &str,
        scope: &NameScope,
    ) -> Option<BTreeSet<String>> {
        match template::expression_names(&self.env, text) {
            Ok(names) => {
                let named = self.names(path, text, &names, scope);
                let history = named && self.history_in_expression(path, text, scope);
                (history && self.compared_kinds(path, text, scope)).then_some(names)
            }
            Err(error) => {
                let location = self.template_error_location(path, text, &error);
                let (place, message) = (scope.place.clone(), template_message(&error));
                self.report(Problem::InvalidExpression { place, message }, location);
                None
            }
        }
    }

    fn names(
        &mut self,
        path: &Path,
        text: &str,
        names: &BTreeSet<String>,
        scope: &NameScope,
    ) -> bool {
        let mut ok = true;
        for name in names {
            if let Err((problem, hint)) = self.check_name(name, scope) {
                let offset = text.find(name.as_str()).unwrap_or(0);
                let width = name.split('.').take(3).collect::<Vec<_>>().join(".").len();
                let location = self.document.offset_location(path, text, offset, width);
                let place = scope.place.clone();
                self.report(
                    Problem::Name {
                        problem,
                        place,
                        hint,
                    },
                    location,
                );
                ok = false;
            }
        }
        ok
    }

    /// Reports each comparison in the expression whose sides are known to be of kinds that do
    /// not compare; whether there is none.
    fn compared_kinds(&mut self, path: &Path, text: &str, scope: &NameScope) -> bool {
        let found = expr::mismatches(text, &|name| self.kind_of(name, scope));
        for found in &found {
            let location = self
                .document
                .offset_location(path, text, found.offset, found.len);
            let (place, mismatch) = (scope.place.clone(), found.mismatch.clone());
            self.report(Problem::KindMismatch { place, mismatch }, location);
        }
        found.is_empty()
    }

    /// What validation knows of the kind of a dotted name in scope; `Unknown` otherwise.
    fn kind_of(&self, name: &[&str], scope: &NameScope) -> Kind {
        let known = match name {
            ["params", param] => self
                .params
                .iter()
                .find(|p| p.name == *param)
                .map(|p| expr::param_kind(p.kind)),
            ["facts", fact] => expr::fact_kind(fact),
            ["steps", step, attribute] => expr::step_attribute_kind(attribute).or_else(|| {
                let columns = self.earlier.get(*step)?.as_deref();
                column_kind(
                    columns,
                    self.earlier_kinds.get(*step).map(Vec::as_slice),
                    attribute,
                )
            }),
            ["row_count" | "matching_rows"] if scope.columns.is_some() => Some(Kind::Number),
            ["rows"] if scope.columns.is_some() => Some(Kind::List),
            ["preview"] if scope.preview => Some(Kind::List),
            [column] if self.is_column(column, scope) => {
                column_kind(scope.columns.flatten(), scope.kinds, column)
            }
            _ => None,
        };
        known.unwrap_or(Kind::Unknown)
    }

    /// Whether `name` (as an assessment reads it) is one of the step's result columns.
    pub(super) fn is_column(&self, name: &str, scope: &NameScope) -> bool {
        let head = name.split('.').next().unwrap_or(name);
        scope.columns.is_some()
            && !NOT_COLUMNS.contains(&head)
            && !self.globals.iter().any(|g| g == head)
    }

    /// Whether a dotted name (`params.idle_after`, `steps.x.rows`) is in scope; if not, the
    /// problem and a did-you-mean hint.
    fn check_name(&self, name: &str, scope: &NameScope) -> Result<(), Miss> {
        let mut parts = name.split('.');
        let head = parts.next().unwrap_or(name);
        let second = parts.next();
        let params = || self.document.params.iter().map(|(p, _)| p.as_str());
        match head {
            "params" => match second {
                Some(param) if !params().any(|p| p == param) => Err((
                    NameProblem::UnknownParam {
                        param: param.to_owned(),
                    },
                    did_you_mean(param, params()),
                )),
                _ => Ok(()),
            },
            "facts" => match second {
                Some(fact) if !facts::is_fact(fact) => Err((
                    NameProblem::UnknownFact {
                        fact: fact.to_owned(),
                    },
                    did_you_mean(fact, facts::names()),
                )),
                _ => Ok(()),
            },
            "steps" => match second {
                None => Ok(()),
                Some(step) => self.check_step_name(step, parts.next()),
            },
            "row_count" | "rows" | "matching_rows" if scope.columns.is_some() => Ok(()),
            "preview" if scope.preview => Ok(()),
            // Its functions and their arguments are checked by `history_call`.
            "history" if scope.step.is_some() => Ok(()),
            "history" => Err((NameProblem::HistoryOutsideSteps, String::new())),
            _ if self.globals.iter().any(|g| g == head) => Ok(()),
            _ => check_column(head, scope.columns),
        }
    }

    fn check_step_name(&self, step: &str, attribute: Option<&str>) -> Result<(), Miss> {
        let Some(columns) = self.earlier.get(step) else {
            let step_name = step.to_owned();
            if let Some(&line) = self.declared.get(step) {
                let problem = NameProblem::StepUsedBeforeItRuns {
                    step: step_name,
                    line,
                };
                return Err((problem, String::new()));
            }
            let known = self.earlier.keys().map(String::as_str);
            let hint = did_you_mean(step, known);
            return Err((NameProblem::UnknownStep { step: step_name }, hint));
        };
        match (attribute, columns) {
            (Some(attribute), Some(columns))
                if !STEP_ATTRIBUTES.contains(&attribute)
                    && !columns.iter().any(|c| c == attribute) =>
            {
                let mut candidates: Vec<&str> = STEP_ATTRIBUTES.to_vec();
                candidates.extend(columns.iter().map(String::as_str));
                let hint = did_you_mean(attribute, candidates);
                let problem = NameProblem::NoSuchStepAttribute {
                    step: step.to_owned(),
                    attribute: attribute.to_owned(),
                    columns: columns.clone(),
                };
                Err((problem, hint))
            }
            _ => Ok(()),
        }
    }

    fn template_error_location(
        &self,
        path: &Path,
        text: &str,
        error: &minijinja::Error,
    ) -> Option<Location> {
        match (error.range(), error.line()) {
            (Some(range), _) => self
                .document
                .offset_location(path, text, range.start, range.len()),
            (None, Some(line)) => {
                let offset = text
                    .split_inclusive('\n')
                    .take(line.saturating_sub(1))
                    .map(str::len)
                    .sum();
                self.document.offset_location(path, text, offset, 0)
            }
            (None, None) => self.document.value_location(path),
        }
    }
}

/// The kind of `column` among `columns` whose kinds are `kinds` (in the same order).
fn column_kind(columns: Option<&[String]>, kinds: Option<&[Kind]>, column: &str) -> Option<Kind> {
    let index = columns?.iter().position(|c| c == column)?;
    kinds?.get(index).copied()
}

/// A bare name: a result column where columns are in scope, else nothing.
fn check_column(head: &str, columns: Option<Option<&[String]>>) -> Result<(), Miss> {
    let name = head.to_owned();
    match columns {
        Some(None) => Ok(()),
        Some(Some(columns)) if columns.iter().any(|c| c == head) => Ok(()),
        Some(Some(columns)) => {
            let mut candidates: Vec<&str> = columns.iter().map(String::as_str).collect();
            candidates.extend(["params", "facts", "steps", "row_count", "history"]);
            let hint = did_you_mean(head, candidates);
            let columns = columns.to_vec();
            Err((NameProblem::NotAColumn { name, columns }, hint))
        }
        None => Err((
            NameProblem::UnknownName { name },
            did_you_mean(head, ["params", "facts", "steps", "history"]),
        )),
    }
}

/// minijinja's message without its own location suffix, which we replace with ours.
fn template_message(error: &minijinja::Error) -> String {
    let detail = error.detail().map(|d| format!(": {d}")).unwrap_or_default();
    format!("{}{detail}", error.kind())
}
