//! Steps: ids, the one kind each step has, the keys that apply to it, and what it requires.
//!
//! The raw step is a flat bag of optional keys (so the schema stays simple for authors); here
//! it becomes a `StepKind` whose variants hold exactly what that kind uses, and a key that does
//! not apply is an error rather than a silently ignored setting.

use crate::load::raw::{RawAssessment, RawMaxRows, RawRequires, RawStep};
use crate::load::spans::Path;
use crate::playbook::{
    Action, Approval, Assessment, MaxRows, OnError, Requirements, Scope, Severity, Step, StepKind,
    Transaction,
};
use crate::sql::{Analysis, Finding, opt_in_name};
use crate::template::TemplateKind;

use super::Validator;
use super::error::Problem;
use super::ident::{is_identifier, is_relation_name};
use super::names::NameScope;
use super::sql::{SqlKey, StepAnalysis, parsed_findings};

/// The keys a step may have besides its kind, and the kinds they apply to.
const OPTIONAL_KEYS: [&str; 8] = [
    "preview",
    "approval",
    "max_rows",
    "assess",
    "timeout",
    "on_error",
    "transaction",
    "functions",
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
        let kind = self.step_kind(&path, raw)?;
        ok &= self.keys_apply(&path, raw, &kind);
        let columns = analysis.sql.as_ref().and_then(|a| a.columns.clone());
        ok &= self.step_texts(&path, raw, &kind, &analysis);
        let functions = self.functions(&path.key("functions"), raw.functions.as_deref());
        let requires = self.requires(&path.key("requires"), raw.requires.as_ref());
        let assess = self.assessments(&path, raw, &kind, columns.as_deref());
        let timeout = match &raw.timeout {
            Some(text) => Some(self.duration(&path.key("timeout"), text)?),
            None => None,
        };
        let on_error = raw.on_error.unwrap_or(match kind {
            StepKind::Action(_) => OnError::Abort,
            _ => OnError::Continue,
        });
        self.earlier.insert(id.to_owned(), columns);
        let assess = assess.filter(|_| ok)?;
        Some(Step {
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
        })
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
        let given: Vec<&'static str> = [
            ("check", &raw.check),
            ("action", &raw.action),
            ("manual", &raw.manual),
        ]
        .into_iter()
        .filter(|(_, text)| text.is_some())
        .map(|(key, _)| key)
        .collect();
        let id = raw.id.clone();
        match given.as_slice() {
            [] => {
                let location = self.document.key_location(path);
                self.report(Problem::StepWithoutKind { id }, location);
                None
            }
            [_] => Some(if let Some(sql) = &raw.check {
                StepKind::Check { sql: sql.clone() }
            } else if let Some(sql) = &raw.action {
                StepKind::Action(Action {
                    sql: sql.clone(),
                    preview: raw.preview.clone(),
                    approval: raw.approval.unwrap_or(Approval::Required),
                    max_rows: self.max_rows(&path.key("max_rows"), raw.max_rows.as_ref()),
                    transaction: match raw.transaction {
                        Some(false) => Transaction::Autocommit,
                        _ => Transaction::Wrapped,
                    },
                })
            } else {
                StepKind::Manual {
                    text: raw.manual.clone().unwrap_or_default(),
                }
            }),
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
        ];
        let (kind, allowed): (&'static str, &[&str]) = match kind {
            StepKind::Check { .. } => ("check", &["assess", "timeout", "on_error", "functions"]),
            StepKind::Action(_) => ("action", &OPTIONAL_KEYS),
            StepKind::Manual { .. } => ("manual", &[]),
        };
        let mut ok = true;
        for (key, is_present) in OPTIONAL_KEYS.into_iter().zip(present) {
            if is_present && !allowed.contains(&key) {
                let location = self.document.key_location(&path.key(key));
                let why = match (kind, key) {
                    ("check", "transaction") => " (a check always runs in a READ ONLY transaction)",
                    ("check", _) => " (it applies to actions)",
                    ("manual", _) => " (a manual step runs nothing)",
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
                ok &= compiled & self.read_only(&path.key("check"), sql, SqlKey::Check, &findings);
            }
            StepKind::Action(action) => {
                let preview = findings_of(&analysis.preview);
                ok &= self.action(path, id, action, preview);
            }
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

    /// An action's preview (read-only) and its SQL, which sees the preview's rows.
    fn action(&mut self, path: &Path, id: &str, action: &Action, findings: &[Finding]) -> bool {
        let mut ok = true;
        if let Some(preview) = &action.preview {
            let scope = NameScope::of_step(id, "preview");
            let compiled = self.template(&path.key("preview"), preview, TemplateKind::Sql, &scope);
            ok &= compiled;
            let findings = parsed_findings(findings, compiled);
            ok &= self.read_only(&path.key("preview"), preview, SqlKey::Preview, &findings);
        }
        let scope = NameScope {
            preview: action.preview.is_some(),
            ..NameScope::of_step(id, "action")
        };
        ok &= self.template(&path.key("action"), &action.sql, TemplateKind::Sql, &scope);
        ok &= self.spares_own_session(&path.key("action"), action);
        ok
    }

    fn max_rows(&mut self, path: &Path, raw: Option<&RawMaxRows>) -> Option<MaxRows> {
        match raw? {
            RawMaxRows::Count(count) => Some(MaxRows::Count(*count)),
            RawMaxRows::Percent(text) => {
                let percent = text
                    .strip_suffix('%')
                    .and_then(|n| n.trim().parse::<f64>().ok());
                match percent {
                    Some(p) if p > 0.0 && p <= 100.0 => Some(MaxRows::Percent(p)),
                    _ => {
                        let location = self.document.value_location(path);
                        let text = text.clone();
                        self.report(Problem::InvalidMaxRows { text }, location);
                        None
                    }
                }
            }
        }
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

    /// Every assessment of the step; `None` when any has an error (all are reported).
    fn assessments(
        &mut self,
        path: &Path,
        raw: &RawStep,
        kind: &StepKind,
        columns: Option<&[String]>,
    ) -> Option<Vec<Assessment>> {
        let has_preview = matches!(
            kind,
            StepKind::Action(Action {
                preview: Some(_),
                ..
            })
        );
        let columns = (!matches!(kind, StepKind::Manual { .. })).then_some(columns);
        let mut ok = true;
        let mut assess = Vec::new();
        for (i, raw_assessment) in raw.assess.iter().flatten().enumerate() {
            let scope = NameScope {
                place: format!("assessment {} of step `{}`", i + 1, raw.id),
                columns,
                preview: has_preview,
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

fn findings_of(analysis: &Option<Analysis>) -> &[Finding] {
    analysis.as_ref().map_or(&[], |a| a.findings.as_slice())
}
