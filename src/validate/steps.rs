//! Steps: ids, the one kind each step has, and what it requires (the keys that apply to each
//! kind: `keys.rs`; assessments: `assess.rs`; `terminate:`/`cancel:`: `signal.rs`;
//! `requires:`: `requires.rs`).
//!
//! The raw step is a flat bag of optional keys (so the schema stays simple for authors); here
//! it becomes a `StepKind` whose variants hold exactly what that kind uses, and a key that does
//! not apply is an error rather than a silently ignored setting. What the other keys are judged
//! by is the step's `Shape`, told by its kind key alone: a step whose id, `wait` or named check
//! is wrong still has every other key judged, so one round shows all of its problems.

use crate::duration::Duration;
use crate::load::raw::{RawMaxRows, RawStep};
use crate::load::spans::Path;
use crate::param;
use crate::playbook::{
    Act, Action, Approval, MaxRows, OnError, RowLimit, Signal, SourceCheck, SqlAction, Step,
    StepKind, Transaction,
};
use crate::sql::{Analysis, Finding, opt_in_name};
use crate::template::{self, TemplateKind};

use super::Validator;
use super::error::Problem;
use super::ident::is_identifier;
use super::names::{NameScope, StepName};
use super::signal::{signal_assessments, signal_columns};
use super::sql::{SqlKey, StepAnalysis, parsed_findings};

/// The keys that give a step its kind; a step has exactly one.
const KINDS: [&str; 5] = ["check", "action", "terminate", "cancel", "manual"];

/// What a step does, as far as judging its other keys needs: known from its kind key before
/// (and whether or not) the check a `terminate`/`cancel` names resolves.
#[derive(Debug, Clone)]
pub(super) enum Shape<'r> {
    Check(&'r str),
    Action(SqlAction),
    Signal(Signal),
    Manual(&'r str),
}

impl Shape<'_> {
    /// An action of some kind, which `max_rows` and `approval` apply to.
    fn acts(&self) -> bool {
        matches!(self, Shape::Action(_) | Shape::Signal(_))
    }
}

impl Validator<'_> {
    /// The checked step, or `None` when it has an error (already reported).
    pub(super) fn step(
        &mut self,
        index: usize,
        raw: &RawStep,
        analysis: StepAnalysis,
    ) -> Option<Step> {
        let path = Path::root().key("steps").index(index);
        // A step without a usable id is named by its position.
        let name = StepName {
            id: raw.id.as_deref(),
            shown: match &raw.id {
                Some(id) => format!("step `{id}`"),
                None => format!("`{path}`"),
            },
        };
        let step = name.shown.clone();
        let mut ok = self.step_id(&path, raw.id.as_deref());
        let timeout = raw
            .timeout
            .as_ref()
            .map(|text| self.duration(&path.key("timeout"), text));
        // `wait` is a `terminate`'s (`keys_apply` says so of any other kind).
        let wait = raw.wait.as_ref().filter(|_| raw.terminate.is_some());
        let wait = wait.map(|text| self.duration(&path.key("wait"), text));
        ok &= !matches!(wait, Some(None));
        // A step with several kinds (reported) still has each kind's keys judged; its
        // assessments and metrics are judged as the first kind's.
        let shapes = self.shapes(&path, raw, &step, wait.flatten());
        ok &= shapes.len() == 1;
        if !shapes.is_empty() {
            ok &= self.keys_apply(&path, raw, &shapes);
        }
        let shape = shapes.first();
        let columns = match shape {
            Some(Shape::Signal(signal)) => Some(signal_columns(*signal)),
            _ => analysis.of(shape).and_then(|a| a.columns.clone()),
        };
        let kinds = match shape {
            Some(Shape::Signal(_)) => None,
            _ => analysis.of(shape).and_then(|a| a.kinds.clone()),
        };
        ok &= self.step_texts(&path, raw, &name, &shapes, &analysis);
        let functions = self.functions(&path.key("functions"), raw.functions.as_deref());
        let requires = self.requires(&path.key("requires"), raw.requires.as_ref());
        let (assess, metrics) = match shape {
            Some(shape) => {
                let scope = NameScope {
                    place: step.clone(),
                    columns: (!matches!(shape, Shape::Manual(_))).then_some(columns.as_deref()),
                    kinds: kinds.as_deref(),
                    preview: matches!(shape, Shape::Action(action) if action.preview.is_some()),
                    ..NameScope::of_step(&name, "")
                };
                let assess = self.assessments(&path, raw, &scope);
                let metrics = self.metrics(
                    &path,
                    &name,
                    raw.metrics.as_ref(),
                    columns.as_deref(),
                    kinds.as_deref(),
                );
                (assess, metrics)
            }
            None => (None, None),
        };
        let limited = shapes.iter().any(Shape::acts);
        let max_rows =
            limited.then(|| self.max_rows(&path.key("max_rows"), &name, raw.max_rows.as_ref()));
        let max_rows = max_rows.flatten();
        let kinds_judged: Vec<_> = (shapes.into_iter())
            .map(|shape| self.kind(&path, raw, shape, max_rows.clone()))
            .collect();
        let kind = match <[_; 1]>::try_from(kinds_judged) {
            Ok([kind]) => kind,
            Err(_) => None,
        };
        let timeout = match timeout {
            Some(duration) => Some(duration?),
            None => None,
        };
        let id = raw.id.as_deref()?;
        self.earlier.insert(id.to_owned(), columns);
        if let Some(kinds) = kinds {
            self.earlier_kinds.insert(id.to_owned(), kinds);
        }
        let kind = kind.filter(|_| ok)?;
        let on_error = raw.on_error.unwrap_or(match kind {
            StepKind::Action(_) => OnError::Abort,
            _ => OnError::Continue,
        });
        let metrics = metrics?;
        let assess = match (&kind, assess?) {
            (
                StepKind::Action(Action {
                    act: Act::Signal(action),
                    ..
                }),
                assess,
            ) if assess.is_empty() => signal_assessments(action.signal),
            (_, assess) => assess,
        };
        let step = Step {
            id: id.to_owned(),
            title: raw.title.clone(),
            description: raw.description.clone(),
            kind,
            when: raw.when.clone(),
            requires: requires.unwrap_or_default(),
            assess,
            timeout,
            on_error,
            functions,
            sql_at: self.sql_at(&path, raw),
            sees: raw.sees,
            metrics,
        };
        if let StepKind::Check { sql } = &step.kind {
            let check = SourceCheck {
                id: step.id.clone(),
                sql: sql.clone(),
                functions: step.functions.clone(),
                sql_at: step.sql_at.clone(),
                sees: step.sees,
            };
            self.checks.insert(step.id.clone(), check);
        }
        Some(step)
    }

    /// `file:line` of the check, or of an action's preview.
    fn sql_at(&self, path: &Path, raw: &RawStep) -> Option<String> {
        let key = if raw.check.is_some() {
            "check"
        } else if raw.preview.is_some() {
            "preview"
        } else {
            return None;
        };
        let location = self.document.value_location(&path.key(key))?;
        Some(format!("{}:{}", self.document.source.name, location.line))
    }

    /// The opted-in function names, as PostgreSQL resolves them.
    fn functions(&mut self, path: &Path, raw: Option<&[String]>) -> Vec<String> {
        let mut names = Vec::new();
        for (i, written) in raw.unwrap_or_default().iter().enumerate() {
            match opt_in_name(written) {
                Some(name) => names.push(name),
                None => {
                    let location = self.document.value_location(&path.index(i));
                    let name = written.clone();
                    self.report(Problem::InvalidFunctionName { name }, location);
                }
            }
        }
        names
    }

    /// The id is a slug not used before; a step without one (or with one that is no text,
    /// already reported) is checked all the same, but no later step can name it.
    fn step_id(&mut self, path: &Path, id: Option<&str>) -> bool {
        let Some(id) = id else {
            if !self.document.rejected.contains(&path.key("id")) {
                let location = self.document.key_location(path);
                let step = format!("`{path}`");
                self.report(Problem::StepWithoutId { step }, location);
            }
            return false;
        };
        let location = self.document.value_location(&path.key("id"));
        let id = id.to_owned();
        if !is_identifier(&id) {
            self.report(Problem::InvalidStepId { id }, location);
            return false;
        }
        if self.earlier.contains_key(&id) {
            let first = self.declared.get(&id).copied().unwrap_or(0);
            self.report(Problem::DuplicateStepId { id, first }, location);
            return false;
        }
        true
    }

    /// The shapes of the step's kind keys, with what judging the other keys needs: one, or
    /// none or several (reported). `wait` is a `terminate`'s, already judged.
    fn shapes<'r>(
        &mut self,
        path: &Path,
        raw: &'r RawStep,
        step: &str,
        wait: Option<Duration>,
    ) -> Vec<Shape<'r>> {
        let given: Vec<&'static str> = KINDS
            .into_iter()
            .zip([
                &raw.check,
                &raw.action,
                &raw.terminate,
                &raw.cancel,
                &raw.manual,
            ])
            .filter(|(_, text)| text.is_some())
            .map(|(key, _)| key)
            .collect();
        let step = step.to_owned();
        match given.as_slice() {
            [] if KINDS
                .iter()
                .any(|k| self.document.rejected.contains(&path.key(k))) => {}
            [] => {
                let location = self.document.key_location(path);
                self.report(Problem::StepWithoutKind { step }, location);
            }
            [_] => {}
            [first, second, ..] => {
                let location = self.document.key_location(&path.key(second));
                let (first, second) = (*first, *second);
                self.report(
                    Problem::StepWithTwoKinds {
                        step,
                        first,
                        second,
                    },
                    location,
                );
            }
        }
        let mut shapes = Vec::new();
        if let Some(sql) = &raw.check {
            shapes.push(Shape::Check(sql));
        }
        if let Some(sql) = &raw.action {
            shapes.push(Shape::Action(SqlAction {
                sql: sql.clone(),
                preview: raw.preview.clone(),
                transaction: match raw.transaction {
                    Some(false) => Transaction::Autocommit,
                    _ => Transaction::Wrapped,
                },
            }));
        }
        if raw.terminate.is_some() {
            shapes.push(Shape::Signal(Signal::Terminate { wait }));
        }
        if raw.cancel.is_some() {
            shapes.push(Shape::Signal(Signal::Cancel));
        }
        if let Some(text) = &raw.manual {
            shapes.push(Shape::Manual(text));
        }
        shapes
    }

    /// The step's kind: for an action, its row limit (judged) and, for `terminate`/`cancel`,
    /// the check it names; `None` when that has an error (reported).
    fn kind(
        &mut self,
        path: &Path,
        raw: &RawStep,
        shape: Shape,
        max_rows: Option<MaxRows>,
    ) -> Option<StepKind> {
        let act = match shape {
            Shape::Check(sql) => {
                return Some(StepKind::Check {
                    sql: sql.to_owned(),
                });
            }
            Shape::Manual(text) => {
                let text = text.to_owned();
                return Some(StepKind::Manual { text });
            }
            Shape::Action(action) => Act::Sql(action),
            Shape::Signal(signal) => {
                let source = match signal {
                    Signal::Terminate { .. } => raw.terminate.as_ref(),
                    Signal::Cancel => raw.cancel.as_ref(),
                };
                let source = source.map(|source| self.session_action(path, signal, source));
                Act::Signal(source.flatten()?)
            }
        };
        if max_rows.is_some() && matches!(&act, Act::Sql(sql) if sql.preview.is_none()) {
            let location = self.document.key_location(&path.key("max_rows"));
            self.report(Problem::MaxRowsWithoutCount, location);
        }
        Some(StepKind::Action(Action {
            act,
            approval: raw.approval.unwrap_or(Approval::Required),
            max_rows,
        }))
    }

    /// The step's templates and its `when`: they compile, their names are in scope, and the
    /// SQL that must only read does. Without a kind, only what every kind has.
    fn step_texts(
        &mut self,
        path: &Path,
        raw: &RawStep,
        step: &StepName,
        shapes: &[Shape],
        analysis: &StepAnalysis,
    ) -> bool {
        let mut ok = true;
        for (key, text) in [("title", &raw.title), ("description", &raw.description)] {
            if let Some(text) = text {
                let scope = NameScope::of_step(step, key);
                ok &= self.template(&path.key(key), text, TemplateKind::Text, &scope);
            }
        }
        for shape in shapes {
            match shape {
                Shape::Check(sql) => {
                    let scope = NameScope::of_step(step, "check");
                    let key = path.key("check");
                    let compiled = self.template(&key, sql, TemplateKind::Sql, &scope);
                    let findings = parsed_findings(findings_of(&analysis.check), compiled);
                    ok &= compiled & self.judged(&key, sql, SqlKey::Check, &findings);
                }
                Shape::Action(action) => {
                    let preview = findings_of(&analysis.preview);
                    ok &= self.action(path, step, action, findings_of(&analysis.action), preview);
                }
                // Its SQL is the engine's; the check it names was judged as a check.
                Shape::Signal(_) => {}
                Shape::Manual(text) => {
                    let scope = NameScope::of_step(step, "manual");
                    ok &= self.template(&path.key("manual"), text, TemplateKind::Text, &scope);
                }
            }
        }
        if let Some(when) = &raw.when {
            let scope = NameScope::of_step(step, "when");
            ok &= self.expression(&path.key("when"), when, &scope).is_some();
        }
        ok
    }

    /// An action's preview (read-only) and its SQL, which sees the preview's rows and may not
    /// signal sessions.
    fn action(
        &mut self,
        path: &Path,
        step: &StepName,
        action: &SqlAction,
        findings: &[Finding],
        preview_findings: &[Finding],
    ) -> bool {
        let mut ok = true;
        if let Some(preview) = &action.preview {
            let scope = NameScope::of_step(step, "preview");
            let compiled = self.template(&path.key("preview"), preview, TemplateKind::Sql, &scope);
            ok &= compiled;
            let findings = parsed_findings(preview_findings, compiled);
            ok &= self.judged(&path.key("preview"), preview, SqlKey::Preview, &findings);
        }
        let scope = NameScope {
            preview: action.preview.is_some(),
            ..NameScope::of_step(step, "action")
        };
        let key = path.key("action");
        let compiled = self.template(&key, &action.sql, TemplateKind::Sql, &scope);
        let findings = parsed_findings(findings, compiled);
        ok & compiled & self.judged(&key, &action.sql, SqlKey::Action, &findings)
    }

    /// A count, a percentage, or a text template: compiled with its names in scope and, where
    /// the params' defaults are enough to render it, rendered so that a default that gives no
    /// limit is an error here rather than a refusal at 3 a.m. Text with nothing to render is a
    /// fixed limit.
    fn max_rows(
        &mut self,
        path: &Path,
        step: &StepName,
        raw: Option<&RawMaxRows>,
    ) -> Option<MaxRows> {
        let text = match raw? {
            RawMaxRows::Count(count) => return Some(MaxRows::Limit(RowLimit::Count(*count))),
            RawMaxRows::Text(text) => text,
        };
        let scope = NameScope::of_step(step, "max_rows");
        if !self.template(path, text, TemplateKind::Text, &scope) {
            return None;
        }
        let Some(rendered) = self.with_defaults(text) else {
            return Some(MaxRows::Template(text.clone()));
        };
        match RowLimit::parse(&rendered) {
            Some(limit) if rendered == *text => Some(MaxRows::Limit(limit)),
            Some(_) => Some(MaxRows::Template(text.clone())),
            None => {
                let location = self.document.value_location(path);
                let gives = gives(text, &rendered);
                let text = text.clone();
                self.report(Problem::InvalidMaxRows { text, gives }, location);
                None
            }
        }
    }

    /// What a text template that compiled gives with the params' defaults; `None` when it
    /// needs what only a run has (facts, earlier steps): then it is judged then.
    pub(super) fn with_defaults(&self, source: &str) -> Option<String> {
        template::render_text(source, &param::defaults(&self.params)).ok()
    }
}

/// The kind a raw step has, for messages.
pub(super) fn raw_kind(raw: &RawStep) -> &'static str {
    [
        ("action", raw.action.is_some()),
        ("terminate", raw.terminate.is_some()),
        ("cancel", raw.cancel.is_some()),
        ("manual", raw.manual.is_some()),
    ]
    .into_iter()
    .find_map(|(kind, given)| given.then_some(kind))
    .unwrap_or("check")
}

fn findings_of(analysis: &Option<Analysis>) -> &[Finding] {
    analysis.as_ref().map_or(&[], |a| a.findings.as_slice())
}

/// ` (with the params' defaults, `…`)` for a template whose rendering is not its text; empty
/// for plain text, which says itself.
pub(super) fn gives(source: &str, rendered: &str) -> String {
    if rendered == source {
        String::new()
    } else {
        format!(" (with the params' defaults, `{rendered}`)")
    }
}
