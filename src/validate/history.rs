//! `history.*` in expressions and templates: a known function with its arguments, a metric
//! this playbook declares, unlabelled, of this step or an earlier one, and a window that is a
//! duration.
//!
//! Labelled metrics are refused rather than given a rule: the history keeps one value per
//! run of a metric (the store leaves labelled ones out), and "the change of `connections`"
//! over rows that come and go has no one meaning. A total is one more column away.

use std::collections::HashMap;

use crate::diagnostic::did_you_mean;
use crate::duration::Duration;
use crate::expr::{Argument, HistoryUse, history_uses};
use crate::history::Function;
use crate::load::Document;
use crate::load::spans::Path;
use crate::param::ParamType;
use crate::template::{TagCode, has_word, tag_code};

use super::Validator;
use super::error::{HistoryProblem, Problem};
use super::names::NameScope;

/// A metric some step declares, as `history.*` may name it (`step.metric`).
pub(super) struct DeclaredMetric {
    step: String,
    labelled: bool,
}

/// Every metric of the document's steps, by `step.metric`.
pub(super) fn declared_metrics(document: &Document) -> HashMap<String, DeclaredMetric> {
    let mut declared = HashMap::new();
    // A step without an id declares nothing `history` could name.
    for step in document.steps.iter().flatten() {
        let Some(id) = &step.id else {
            continue;
        };
        for (column, metric) in step.metrics.iter().flatten() {
            let labelled = metric
                .as_ref()
                .and_then(|m| m.labels.as_ref())
                .is_some_and(|labels| !labels.is_empty());
            declared
                .entry(format!("{id}.{column}"))
                .or_insert(DeclaredMetric {
                    step: id.clone(),
                    labelled,
                });
        }
    }
    declared
}

impl Validator<'_> {
    /// Checks the uses of `history` in an expression; whether they are all right.
    pub(super) fn history_in_expression(
        &mut self,
        path: &Path,
        text: &str,
        scope: &NameScope,
    ) -> bool {
        self.history_uses_at(path, text, 0, text, scope)
    }

    /// Checks the uses of `history` in a template's `{{ … }}` and `{% if … %}` tags; one in
    /// another statement tag cannot be read as an expression, and is refused.
    pub(super) fn history_in_template(
        &mut self,
        path: &Path,
        text: &str,
        scope: &NameScope,
    ) -> bool {
        let mut ok = true;
        for code in tag_code(text) {
            match code {
                TagCode::Expression(range) => {
                    ok &=
                        self.history_uses_at(path, text, range.start, &text[range.clone()], scope);
                }
                TagCode::Statement(range) if has_word(text, range.clone(), "history") => {
                    let location =
                        self.document
                            .offset_location(path, text, range.start, range.len());
                    let place = scope.place.clone();
                    let problem = HistoryProblem::InStatement;
                    self.report(Problem::History { problem, place }, location);
                    ok = false;
                }
                TagCode::Statement(_) => {}
            }
        }
        ok
    }

    /// The uses in `expression`, which starts at byte `at` of `text` (the value at `path`).
    fn history_uses_at(
        &mut self,
        path: &Path,
        text: &str,
        at: usize,
        expression: &str,
        scope: &NameScope,
    ) -> bool {
        let mut ok = true;
        for found in history_uses(expression) {
            let (offset, len, problem) = match found {
                HistoryUse::Other { offset, len } => (offset, len, Some(HistoryProblem::NotCalled)),
                HistoryUse::Call {
                    function,
                    args,
                    offset,
                    len,
                } => {
                    let problem = self.history_call(&function, &args, scope);
                    if let (None, Some(Argument::Text(metric))) = (&problem, args.first()) {
                        self.remembered.insert(metric.clone());
                    }
                    (offset, len, problem)
                }
            };
            if let Some(problem) = problem {
                let location = self.document.offset_location(path, text, at + offset, len);
                let place = scope.place.clone();
                self.report(Problem::History { problem, place }, location);
                ok = false;
            }
        }
        ok
    }

    /// What is wrong with `history.<name>(args)` where `scope` reads it, if anything.
    fn history_call(
        &self,
        name: &str,
        args: &[Argument],
        scope: &NameScope,
    ) -> Option<HistoryProblem> {
        let Some(function) = Function::named(name) else {
            let hint = did_you_mean(name, Function::ALL.map(Function::name));
            return Some(HistoryProblem::UnknownFunction {
                function: name.to_owned(),
                hint,
            });
        };
        let signature = function.signature();
        let arity = if function.takes_window() { 2 } else { 1 };
        if args.len() != arity {
            return Some(HistoryProblem::Arguments {
                signature,
                given: args.len(),
            });
        }
        let Argument::Text(metric) = &args[0] else {
            return Some(HistoryProblem::MetricNotText { signature });
        };
        if let Some(problem) = self.history_metric(metric, scope) {
            return Some(problem);
        }
        let why = match args.get(1) {
            None => return None,
            Some(Argument::Text(window)) => match window.parse::<Duration>() {
                Ok(duration) if duration.as_micros() > 0 => return None,
                Ok(_) => "a window must be longer than zero".to_owned(),
                Err(error) => error.to_string(),
            },
            Some(Argument::Name(name)) => match &name[..] {
                [params, param] if params == "params" => {
                    match self.params.iter().find(|p| &p.name == param) {
                        Some(p) if p.kind == ParamType::Duration => return None,
                        Some(p) => format!(
                            "`params.{param}` is of type {}, not a duration",
                            p.kind.name()
                        ),
                        // The name check reports an unknown param.
                        None => return None,
                    }
                }
                _ => "write it as a duration such as '1h', or a duration param".to_owned(),
            },
            Some(Argument::Other) => {
                "write it as a duration such as '1h', or a duration param".to_owned()
            }
        };
        Some(HistoryProblem::Window { signature, why })
    }

    /// What is wrong with `metric` (`step.metric`) where `scope` reads it, if anything.
    fn history_metric(&self, metric: &str, scope: &NameScope) -> Option<HistoryProblem> {
        let Some(declared) = self.declared_metrics.get(metric) else {
            let mut known: Vec<&str> = self.declared_metrics.keys().map(String::as_str).collect();
            known.sort_unstable();
            let hint = did_you_mean(metric, known.iter().copied());
            let known = known.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>();
            return Some(HistoryProblem::UnknownMetric {
                metric: metric.to_owned(),
                known: known.join(", "),
                hint,
            });
        };
        let visible =
            scope.step == Some(declared.step.as_str()) || self.earlier.contains_key(&declared.step);
        if !visible {
            let line = self.declared.get(&declared.step).copied().unwrap_or(0);
            return Some(HistoryProblem::MetricOfLaterStep {
                metric: metric.to_owned(),
                step: declared.step.clone(),
                line,
            });
        }
        declared.labelled.then(|| HistoryProblem::LabelledMetric {
            metric: metric.to_owned(),
        })
    }
}
