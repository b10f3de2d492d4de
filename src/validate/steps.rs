//! Steps: ids, the one kind each step has, the keys that apply to it, and what it requires
//! (assessments: `assess.rs`; `terminate:`/`cancel:`: `signal.rs`).
//!
//! The raw step is a flat bag of optional keys (so the schema stays simple for authors); here
//! it becomes a `StepKind` whose variants hold exactly what that kind uses, and a key that does
//! not apply is an error rather than a silently ignored setting.

use crate::load::raw::{RawMaxRows, RawRequires, RawStep};
use crate::load::spans::Path;
use crate::param;
use crate::playbook::{
    Act, Action, Approval, MaxRows, OnError, Requirements, RowLimit, Signal, SourceCheck,
    SqlAction, Step, StepKind, Transaction,
};
use crate::sql::{Analysis, Finding, opt_in_name};
use crate::template::{self, TemplateKind};

use super::Validator;
use super::error::Problem;
use super::ident::{is_identifier, is_relation_name};
use super::names::NameScope;
use super::signal::{signal_assessments, signal_columns};
use super::sql::{SqlKey, StepAnalysis, parsed_findings};

/// The keys that give a step its kind; a step has exactly one.
const KINDS: [&str; 5] = ["check", "action", "terminate", "cancel", "manual"];

/// The keys a step may have besides its kind, and the kinds they apply to.
const OPTIONAL_KEYS: [&str; 11] = [
    "preview",
    "approval",
    "max_rows",
    "assess",
    "timeout",
    "on_error",
    "transaction",
    "functions",
    "sees",
    "wait",
    "metrics",
];

impl Validator<'_> {
    /// The checked step, or `None` when it has an error (already reported).
    pub(super) fn step(
        &mut self,
        index: usize,
        raw: &RawStep,
        analysis: StepAnalysis,
    ) -> Option<Step> {
        let path = Path::root().key("steps").index(index);
        let id = raw.id.as_str();
        let mut ok = self.step_id(&path, id);
        // Judged before the kind, which may end the step's checks early.
        let timeout = raw
            .timeout
            .as_ref()
            .map(|text| self.duration(&path.key("timeout"), text));
        let kind = self.step_kind(&path, raw)?;
        ok &= self.keys_apply(&path, raw, &kind);
        let columns = match &kind {
            StepKind::Action(Action {
                act: Act::Signal(action),
                ..
            }) => Some(signal_columns(action.signal)),
            _ => analysis.sql.as_ref().and_then(|a| a.columns.clone()),
        };
        ok &= self.step_texts(&path, raw, &kind, &analysis);
        let functions = self.functions(&path.key("functions"), raw.functions.as_deref());
        let requires = self.requires(&path.key("requires"), raw.requires.as_ref());
        let kinds = match &kind {
            StepKind::Action(Action {
                act: Act::Signal(_),
                ..
            }) => None,
            _ => analysis.sql.as_ref().and_then(|a| a.kinds.clone()),
        };
        let assess = self.assessments(&path, raw, &kind, columns.as_deref(), kinds.as_deref());
        let metrics = self.metrics(
            &path,
            id,
            raw.metrics.as_ref(),
            columns.as_deref(),
            kinds.as_deref(),
        );
        let timeout = match timeout {
            Some(duration) => Some(duration?),
            None => None,
        };
        let on_error = raw.on_error.unwrap_or(match kind {
            StepKind::Action(_) => OnError::Abort,
            _ => OnError::Continue,
        });
        self.earlier.insert(id.to_owned(), columns);
        if let Some(kinds) = kinds {
            self.earlier_kinds.insert(id.to_owned(), kinds);
        }
        let metrics = metrics.filter(|_| ok)?;
        let assess = assess.filter(|_| ok)?;
        let assess = match &kind {
            StepKind::Action(Action {
                act: Act::Signal(action),
                ..
            }) if assess.is_empty() => signal_assessments(action.signal),
            _ => assess,
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

    fn step_id(&mut self, path: &Path, id: &str) -> bool {
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

    fn step_kind(&mut self, path: &Path, raw: &RawStep) -> Option<StepKind> {
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
        let id = raw.id.clone();
        match given.as_slice() {
            [] if KINDS
                .iter()
                .any(|k| self.document.rejected.contains(&path.key(k))) =>
            {
                None
            }
            [] => {
                let location = self.document.key_location(path);
                self.report(Problem::StepWithoutKind { id }, location);
                None
            }
            [_] => {
                let act = if let Some(sql) = &raw.check {
                    return Some(StepKind::Check { sql: sql.clone() });
                } else if let Some(sql) = &raw.action {
                    Act::Sql(SqlAction {
                        sql: sql.clone(),
                        preview: raw.preview.clone(),
                        transaction: match raw.transaction {
                            Some(false) => Transaction::Autocommit,
                            _ => Transaction::Wrapped,
                        },
                    })
                } else if let Some(source) = &raw.terminate {
                    let wait = match &raw.wait {
                        Some(text) => Some(self.duration(&path.key("wait"), text)?),
                        None => None,
                    };
                    let signal = Signal::Terminate { wait };
                    Act::Signal(self.session_action(path, signal, source)?)
                } else if let Some(source) = &raw.cancel {
                    Act::Signal(self.session_action(path, Signal::Cancel, source)?)
                } else {
                    let text = raw.manual.clone().unwrap_or_default();
                    return Some(StepKind::Manual { text });
                };
                let max_rows = self.max_rows(&path.key("max_rows"), &id, raw.max_rows.as_ref());
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
            [first, second, ..] => {
                let location = self.document.key_location(&path.key(second));
                let (first, second) = (*first, *second);
                self.report(Problem::StepWithTwoKinds { id, first, second }, location);
                None
            }
        }
    }

    /// Keys that do not apply to the step's kind are errors, like unknown keys.
    fn keys_apply(&mut self, path: &Path, raw: &RawStep, kind: &StepKind) -> bool {
        let present = [
            raw.preview.is_some(),
            raw.approval.is_some(),
            raw.max_rows.is_some(),
            raw.assess.is_some(),
            raw.timeout.is_some(),
            raw.on_error.is_some(),
            raw.transaction.is_some(),
            raw.functions.is_some(),
            raw.sees.is_some(),
            raw.wait.is_some(),
            raw.metrics.is_some(),
        ];
        const SIGNAL: [&str; 5] = ["approval", "max_rows", "assess", "timeout", "on_error"];
        let (kind, allowed): (&'static str, &[&str]) = match kind {
            StepKind::Check { .. } => (
                "check",
                &[
                    "assess",
                    "timeout",
                    "on_error",
                    "functions",
                    "sees",
                    "metrics",
                ],
            ),
            StepKind::Action(Action {
                act: Act::Sql(_), ..
            }) => ("action", &OPTIONAL_KEYS[..9]),
            StepKind::Action(Action {
                act: Act::Signal(action),
                ..
            }) => match action.signal {
                Signal::Terminate { .. } => (
                    "terminate",
                    &[
                        "approval", "max_rows", "assess", "timeout", "on_error", "wait",
                    ],
                ),
                Signal::Cancel => ("cancel", &SIGNAL),
            },
            StepKind::Manual { .. } => ("manual", &[]),
        };
        let mut ok = true;
        for (key, is_present) in OPTIONAL_KEYS.into_iter().zip(present) {
            if is_present && !allowed.contains(&key) {
                let location = self.document.key_location(&path.key(key));
                let why = match (kind, key) {
                    (_, "wait") if kind != "manual" => " (it applies to `terminate`)",
                    (_, "metrics") if kind != "manual" => " (it applies to checks)",
                    ("check", "transaction") => " (a check always runs in a READ ONLY transaction)",
                    ("check", _) => " (it applies to actions)",
                    ("manual", _) => " (a manual step runs nothing)",
                    (_, "preview") => {
                        " (the check it names runs again as its preview, at the moment it asks)"
                    }
                    (_, "transaction") => " (the engine runs its own statement)",
                    (_, "functions") => " (list them on the check it names)",
                    (_, "sees") => " (declare it on the check it names)",
                    _ => "",
                };
                self.report(Problem::KeyDoesNotApply { key, kind, why }, location);
                ok = false;
            }
        }
        ok
    }

    /// The step's templates and its `when`: they compile, their names are in scope, and the
    /// SQL that must only read does.
    fn step_texts(
        &mut self,
        path: &Path,
        raw: &RawStep,
        kind: &StepKind,
        analysis: &StepAnalysis,
    ) -> bool {
        let id = raw.id.as_str();
        let mut ok = true;
        for (key, text) in [("title", &raw.title), ("description", &raw.description)] {
            if let Some(text) = text {
                let scope = NameScope::of_step(id, key);
                ok &= self.template(&path.key(key), text, TemplateKind::Text, &scope);
            }
        }
        match kind {
            StepKind::Check { sql } => {
                let scope = NameScope::of_step(id, "check");
                let compiled = self.template(&path.key("check"), sql, TemplateKind::Sql, &scope);
                let findings = parsed_findings(findings_of(&analysis.sql), compiled);
                ok &= compiled & self.judged(&path.key("check"), sql, SqlKey::Check, &findings);
            }
            StepKind::Action(Action {
                act: Act::Sql(action),
                ..
            }) => {
                let preview = findings_of(&analysis.preview);
                ok &= self.action(path, id, action, findings_of(&analysis.sql), preview);
            }
            // Its SQL is the engine's; the check it names was judged as a check.
            StepKind::Action(_) => {}
            StepKind::Manual { text } => {
                let scope = NameScope::of_step(id, "manual");
                ok &= self.template(&path.key("manual"), text, TemplateKind::Text, &scope);
            }
        }
        if let Some(when) = &raw.when {
            let scope = NameScope::of_step(id, "when");
            ok &= self.expression(&path.key("when"), when, &scope).is_some();
        }
        ok
    }

    /// An action's preview (read-only) and its SQL, which sees the preview's rows and may not
    /// signal sessions.
    fn action(
        &mut self,
        path: &Path,
        id: &str,
        action: &SqlAction,
        findings: &[Finding],
        preview_findings: &[Finding],
    ) -> bool {
        let mut ok = true;
        if let Some(preview) = &action.preview {
            let scope = NameScope::of_step(id, "preview");
            let compiled = self.template(&path.key("preview"), preview, TemplateKind::Sql, &scope);
            ok &= compiled;
            let findings = parsed_findings(preview_findings, compiled);
            ok &= self.judged(&path.key("preview"), preview, SqlKey::Preview, &findings);
        }
        let scope = NameScope {
            preview: action.preview.is_some(),
            ..NameScope::of_step(id, "action")
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
    fn max_rows(&mut self, path: &Path, id: &str, raw: Option<&RawMaxRows>) -> Option<MaxRows> {
        let text = match raw? {
            RawMaxRows::Count(count) => return Some(MaxRows::Limit(RowLimit::Count(*count))),
            RawMaxRows::Text(text) => text,
        };
        let scope = NameScope::of_step(id, "max_rows");
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

    fn requires(&mut self, path: &Path, raw: Option<&RawRequires>) -> Option<Requirements> {
        let raw = raw?;
        if let Some(version) = raw.server_version
            && !(9..=99).contains(&version)
        {
            let location = self.document.value_location(&path.key("server_version"));
            self.report(Problem::InvalidServerVersion { version }, location);
        }
        let lists = [
            ("relations", &raw.relations),
            ("extensions", &raw.extensions),
            ("roles", &raw.roles),
        ];
        for (key, list) in lists {
            for (i, name) in list.iter().flatten().enumerate() {
                let name = name.clone();
                let problem = match key {
                    "relations" if !is_relation_name(&name) => Problem::InvalidRelation { name },
                    "relations" => continue,
                    _ if name.trim().is_empty() => Problem::BlankRequirement { name, key },
                    _ => continue,
                };
                let location = self.document.value_location(&path.key(key).index(i));
                self.report(problem, location);
            }
        }
        Some(Requirements {
            server_version: raw.server_version,
            superuser: raw.superuser.unwrap_or(false),
            relations: raw.relations.clone().unwrap_or_default(),
            extensions: raw.extensions.clone().unwrap_or_default(),
            roles: raw.roles.clone().unwrap_or_default(),
        })
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
