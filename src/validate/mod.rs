//! Raw playbook to checked model, reporting every problem at once.
//!
//! Validation is the only place that judges a playbook: ids, kinds, keys that do not apply,
//! types of defaults, templates that do not compile, names that are not in scope, and check SQL
//! that is not read-only. What comes out (`Playbook`) is what the executor may trust. Each
//! problem points at the exact spot in the file, inside multi-line SQL too.

use std::collections::{BTreeSet, HashMap};

use minijinja::Environment;

use crate::diagnostic::{Diagnostic, Location, did_you_mean};
use crate::duration::Duration;
use crate::facts;
use crate::load::Document;
use crate::load::raw::{RawAssessment, RawMaxRows, RawParam, RawRequires, RawStep};
use crate::load::spans::Path;
use crate::param::{Param, ParamType, ParamValue, check_choice};
use crate::playbook::{
    Action, Approval, Assessment, MaxRows, OnError, Playbook, Requirements, Scope, Severity, Step,
    StepKind, Transaction,
};
use crate::sql::{self, Analysis};
use crate::template::{self, TemplateKind};

/// Statement timeout when neither the step nor the playbook sets one.
const DEFAULT_TIMEOUT_SECS: i64 = 30;

/// What a step exposes to later steps besides its columns.
const STEP_ATTRIBUTES: &[&str] = &["rows", "row_count", "status", "severity", "message"];

/// Checks `document` and builds the model; the model is `None` when there is any error.
pub fn validate(document: &Document) -> (Option<Playbook>, Vec<Diagnostic>) {
    let mut validator = Validator::new(document);
    let playbook = validator.playbook();
    let diagnostics = validator.diagnostics;
    let failed = diagnostics.iter().any(Diagnostic::is_error);
    (playbook.filter(|_| !failed), diagnostics)
}

struct Validator<'a> {
    document: &'a Document,
    env: Environment<'static>,
    diagnostics: Vec<Diagnostic>,
    params: Vec<Param>,
    /// Steps seen so far, with their result columns where known.
    earlier: HashMap<String, Option<Vec<String>>>,
    /// Every step id with the line it is declared on, to say "defined later".
    declared: HashMap<String, usize>,
    globals: Vec<String>,
}

/// What the names of one template or expression may refer to.
struct NameScope<'s> {
    /// Where the name is used, for messages: "`when` of step `x`".
    place: String,
    /// Result columns (assessments): `Some(None)` means columns exist but are unknown.
    columns: Option<Option<&'s [String]>>,
    /// Whether `preview` (an action's preview rows) is in scope.
    preview: bool,
}

impl<'a> Validator<'a> {
    fn new(document: &'a Document) -> Validator<'a> {
        let env = template::environment();
        let globals = env.globals().map(|(name, _)| name.to_owned()).collect();
        let mut declared = HashMap::new();
        for (index, step) in document.steps.iter().enumerate() {
            let Some(step) = step else { continue };
            let line = document
                .key_location(&Path::root().key("steps").index(index))
                .map_or(0, |location| location.line);
            declared.entry(step.id.clone()).or_insert(line);
        }
        Validator {
            document,
            env,
            diagnostics: Vec::new(),
            params: Vec::new(),
            earlier: HashMap::new(),
            declared,
            globals,
        }
    }

    fn error(&mut self, message: impl Into<String>, location: Option<Location>) {
        self.diagnostics.push(Diagnostic::error(message, location));
    }

    fn playbook(&mut self) -> Option<Playbook> {
        let raw = &self.document.playbook;
        let root = Path::root();
        if raw.version != 1 {
            let location = self.document.value_location(&root.key("version"));
            self.error(
                format!(
                    "unsupported playbook version `{}`; this runbook reads version 1",
                    raw.version
                ),
                location,
            );
        }
        let name = match &raw.name {
            Some(name) => {
                if !is_slug(name, true) {
                    let location = self.document.value_location(&root.key("name"));
                    self.error(
                        format!("invalid name `{name}`: use lower-case letters, digits, `-` and `_`, starting with a letter or digit"),
                        location,
                    );
                }
                name.clone()
            }
            None => slugify(&self.document.source.stem),
        };
        let timeout = match &raw.timeout {
            Some(text) => self.duration(&root.key("timeout"), text),
            None => Some(Duration::from_secs(DEFAULT_TIMEOUT_SECS)),
        };
        if let Some(title) = &raw.title {
            self.template(
                &root.key("title"),
                title,
                TemplateKind::Text,
                &NameScope::top("`title`"),
            );
        }
        if let Some(description) = &raw.description {
            let scope = NameScope::top("`description`");
            self.template(
                &root.key("description"),
                description,
                TemplateKind::Text,
                &scope,
            );
        }
        self.params = self
            .document
            .params
            .iter()
            .filter_map(|(name, raw)| self.param(name, raw.as_ref()?))
            .collect();
        if self.document.steps.is_empty() {
            let location = self.document.key_location(&root.key("steps"));
            self.error("the playbook has no steps", location);
        }
        let analyses = analyze_sql(&self.document.steps);
        let mut steps = Vec::new();
        for ((index, raw), analysis) in self.document.steps.iter().enumerate().zip(analyses) {
            let Some(raw) = raw else { continue };
            if let Some(step) = self.step(index, raw, analysis) {
                steps.push(step);
            }
            self.earlier.entry(raw.id.clone()).or_insert(None);
        }
        Some(Playbook {
            title: raw.title.clone().unwrap_or_else(|| name.clone()),
            name,
            description: raw.description.clone(),
            source: self.document.source.name.clone(),
            timeout: timeout?,
            params: std::mem::take(&mut self.params),
            steps,
        })
    }

    fn param(&mut self, name: &str, raw: &RawParam) -> Option<Param> {
        let path = Path::root().key("params").key(name);
        let mut ok = true;
        if !is_identifier(name) {
            let location = self.document.key_location(&path);
            self.error(
                format!("invalid param name `{name}`: use lower-case letters, digits and `_`, starting with a letter (templates read it as `params.{name}`)"),
                location,
            );
            ok = false;
        }
        let items = raw.items.unwrap_or(ParamType::String);
        if raw.items.is_some() && raw.kind != ParamType::List {
            let location = self.document.key_location(&path.key("items"));
            self.error(
                format!(
                    "`items` applies only to `type: list`; param `{name}` is a {}",
                    raw.kind.name()
                ),
                location,
            );
            ok = false;
        }
        if items == ParamType::List {
            let location = self.document.value_location(&path.key("items"));
            self.error(
                format!("param `{name}`: lists of lists are not supported"),
                location,
            );
            ok = false;
        }
        let typed = |key: &str, value: &serde_yaml::Value, validator: &mut Validator| {
            match ParamValue::from_yaml(raw.kind, items, value) {
                Ok(value) => Some(value),
                Err(error) => {
                    let location = validator.document.value_location(&path.key(key));
                    validator.error(
                        format!("invalid {key} for param `{name}`: {error}"),
                        location,
                    );
                    None
                }
            }
        };
        let default = raw
            .default
            .as_ref()
            .and_then(|value| typed("default", value, self));
        ok &= raw.default.is_none() || default.is_some();
        let choices: Vec<ParamValue> = raw
            .choices
            .iter()
            .flatten()
            .filter_map(|value| typed("choices", value, self))
            .collect();
        let param = Param {
            name: name.to_owned(),
            kind: raw.kind,
            items,
            default,
            required: raw.required,
            choices,
            description: raw.description.clone(),
        };
        if let Some(default) = &param.default {
            if let Err(error) = check_choice(&param, default) {
                let location = self.document.value_location(&path.key("default"));
                self.error(format!("invalid default: {error}"), location);
                ok = false;
            }
            if param.required {
                let location = self.document.key_location(&path.key("required"));
                self.diagnostics.push(Diagnostic::warning(
                    format!("param `{name}` is required and also has a default; the default is never used"),
                    location,
                ));
            }
        }
        ok.then_some(param)
    }

    fn step(&mut self, index: usize, raw: &RawStep, analysis: Option<Analysis>) -> Option<Step> {
        let path = Path::root().key("steps").index(index);
        let id = raw.id.as_str();
        let mut ok = self.step_id(&path, id);
        let kind = self.step_kind(&path, raw)?;
        ok &= self.keys_apply(&path, raw, &kind);
        let place = |what: &str| format!("`{what}` of step `{id}`");
        let is_manual = matches!(kind, StepKind::Manual { .. });
        let columns = analysis.as_ref().and_then(|a| a.columns.clone());
        let has_preview = matches!(
            &kind,
            StepKind::Action(Action {
                preview: Some(_),
                ..
            })
        );
        let plain = |what: &str| NameScope {
            place: place(what),
            columns: None,
            preview: false,
        };
        for (key, text) in [("title", &raw.title), ("description", &raw.description)] {
            if let Some(text) = text {
                ok &= self.template(&path.key(key), text, TemplateKind::Text, &plain(key));
            }
        }
        match &kind {
            StepKind::Check { sql } => {
                ok &= self.template(&path.key("check"), sql, TemplateKind::Sql, &plain("check"));
                let findings = analysis.map(|a| a.findings).unwrap_or_default();
                ok &= self.read_only(&path.key("check"), sql, "check", &findings);
            }
            StepKind::Action(action) => {
                if let Some(preview) = &action.preview {
                    ok &= self.template(
                        &path.key("preview"),
                        preview,
                        TemplateKind::Sql,
                        &plain("preview"),
                    );
                    let findings = sql::analyze(preview).findings;
                    ok &= self.read_only(&path.key("preview"), preview, "preview", &findings);
                }
                let scope = NameScope {
                    place: place("action"),
                    columns: None,
                    preview: has_preview,
                };
                ok &= self.template(&path.key("action"), &action.sql, TemplateKind::Sql, &scope);
                ok &= self.spares_own_session(&path.key("action"), action);
            }
            StepKind::Manual { text } => {
                ok &= self.template(
                    &path.key("manual"),
                    text,
                    TemplateKind::Text,
                    &plain("manual"),
                );
            }
        }
        if let Some(when) = &raw.when {
            ok &= self
                .expression(&path.key("when"), when, &plain("when"))
                .is_some();
        }
        let requires = self.requires(&path.key("requires"), raw.requires.as_ref());
        let assessment_columns = (!is_manual).then_some(columns.as_deref());
        let mut assess = Vec::new();
        for (i, raw_assessment) in raw.assess.iter().flatten().enumerate() {
            let scope = NameScope {
                place: format!("assessment {} of step `{id}`", i + 1),
                columns: assessment_columns,
                preview: has_preview,
            };
            match self.assessment(&path.key("assess").index(i), raw_assessment, &scope) {
                Some(assessment) => assess.push(assessment),
                None => ok = false,
            }
        }
        let timeout = match &raw.timeout {
            Some(text) => Some(self.duration(&path.key("timeout"), text)?),
            None => None,
        };
        let on_error = raw.on_error.unwrap_or(match kind {
            StepKind::Action(_) => OnError::Abort,
            _ => OnError::Continue,
        });
        self.earlier.insert(id.to_owned(), columns.clone());
        ok.then(|| Step {
            id: id.to_owned(),
            title: raw.title.clone(),
            description: raw.description.clone(),
            kind,
            when: raw.when.clone(),
            requires: requires.unwrap_or_default(),
            assess,
            timeout,
            on_error,
            columns,
        })
    }

    fn step_id(&mut self, path: &Path, id: &str) -> bool {
        let location = self.document.value_location(&path.key("id"));
        if !is_identifier(id) {
            self.error(
                format!("invalid step id `{id}`: use lower-case letters, digits and `_`, starting with a letter (later steps read it as `steps.{id}`)"),
                location,
            );
            return false;
        }
        if self.earlier.contains_key(id) {
            let first = self.declared.get(id).copied().unwrap_or(0);
            self.error(
                format!("duplicate step id `{id}` (first used on line {first})"),
                location,
            );
            return false;
        }
        true
    }

    fn step_kind(&mut self, path: &Path, raw: &RawStep) -> Option<StepKind> {
        let given: Vec<&str> = [
            ("check", &raw.check),
            ("action", &raw.action),
            ("manual", &raw.manual),
        ]
        .into_iter()
        .filter(|(_, text)| text.is_some())
        .map(|(key, _)| key)
        .collect();
        let id = &raw.id;
        match given.as_slice() {
            [] => {
                let location = self.document.key_location(path);
                self.error(format!("step `{id}` has none of `check`, `action`, `manual`; a step does exactly one of them"), location);
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
                self.error(format!("step `{id}` has both `{first}` and `{second}`; a step does exactly one of `check`, `action`, `manual`"), location);
                None
            }
        }
    }

    /// Keys that do not apply to the step's kind are errors, like unknown keys.
    fn keys_apply(&mut self, path: &Path, raw: &RawStep, kind: &StepKind) -> bool {
        let present = [
            ("preview", raw.preview.is_some()),
            ("approval", raw.approval.is_some()),
            ("max_rows", raw.max_rows.is_some()),
            ("assess", raw.assess.is_some()),
            ("timeout", raw.timeout.is_some()),
            ("on_error", raw.on_error.is_some()),
            ("transaction", raw.transaction.is_some()),
        ];
        let (kind_name, allowed): (&str, &[&str]) = match kind {
            StepKind::Check { .. } => ("check", &["assess", "timeout", "on_error"]),
            StepKind::Action(_) => (
                "action",
                &[
                    "preview",
                    "approval",
                    "max_rows",
                    "assess",
                    "timeout",
                    "on_error",
                    "transaction",
                ],
            ),
            StepKind::Manual { .. } => ("manual", &[]),
        };
        let mut ok = true;
        for (key, is_present) in present {
            if is_present && !allowed.contains(&key) {
                let location = self.document.key_location(&path.key(key));
                let why = match (kind_name, key) {
                    ("check", "transaction") => " (a check always runs in a READ ONLY transaction)",
                    ("check", _) => " (it applies to actions)",
                    ("manual", _) => " (a manual step runs nothing)",
                    _ => "",
                };
                self.error(
                    format!("`{key}` does not apply to a {kind_name} step{why}"),
                    location,
                );
                ok = false;
            }
        }
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
                        self.error(format!("invalid `max_rows` `{text}`: expected a number, or a percentage between 0% and 100% such as \"20%\""), location);
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
            self.error(
                format!("`server_version` is a major version such as `13`; `{version}` is not one"),
                location,
            );
        }
        let lists = [
            ("relations", &raw.relations),
            ("extensions", &raw.extensions),
            ("roles", &raw.roles),
        ];
        for (key, list) in lists {
            for (i, name) in list.iter().flatten().enumerate() {
                let valid = if key == "relations" {
                    is_relation_name(name)
                } else {
                    !name.trim().is_empty()
                };
                if !valid {
                    let location = self.document.value_location(&path.key(key).index(i));
                    let what = if key == "relations" {
                        "a relation name such as `pg_tviews_queue` or `schema.table`"
                    } else {
                        "a name"
                    };
                    self.error(
                        format!("`{name}` in `requires.{key}` is not {what}"),
                        location,
                    );
                }
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

    fn assessment(
        &mut self,
        path: &Path,
        raw: &RawAssessment,
        scope: &NameScope,
    ) -> Option<Assessment> {
        let given: Vec<(Severity, &str, &String)> = [
            (Severity::Critical, "critical", &raw.critical),
            (Severity::Warning, "warning", &raw.warning),
            (Severity::Ok, "ok", &raw.ok),
        ]
        .into_iter()
        .filter_map(|(severity, key, condition)| Some((severity, key, condition.as_ref()?)))
        .collect();
        let (severity, key, condition) = match given.as_slice() {
            [one] => *one,
            [] => {
                let location = self.document.key_location(path);
                self.error(format!("{} has none of `critical`, `warning`, `ok`; give exactly one, with a condition", scope.place), location);
                return None;
            }
            [(_, first, _), (_, second, _), ..] => {
                let location = self.document.key_location(&path.key(second));
                self.error(
                    format!(
                        "{} has both `{first}` and `{second}`; give exactly one",
                        scope.place
                    ),
                    location,
                );
                return None;
            }
        };
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

    fn duration(&mut self, path: &Path, text: &str) -> Option<Duration> {
        match text.parse::<Duration>() {
            Ok(duration) if duration.as_micros() > 0 => Some(duration),
            Ok(_) => {
                let location = self.document.value_location(path);
                self.error(format!("`{path}` must be longer than zero"), location);
                None
            }
            Err(error) => {
                let location = self.document.value_location(path);
                self.error(format!("{error}"), location);
                None
            }
        }
    }

    /// Compiles a template and checks its names; warns about raw interpolation into SQL.
    fn template(&mut self, path: &Path, text: &str, kind: TemplateKind, scope: &NameScope) -> bool {
        let names = match template::compile_names(&self.env, &path.to_string(), kind, text) {
            Ok(names) => names,
            Err(error) => {
                let location = self.template_error_location(path, text, &error);
                let message = template_message(&error);
                self.error(
                    format!("template error in {}: {message}", scope.place),
                    location,
                );
                return false;
            }
        };
        if kind == TemplateKind::Sql {
            for range in template::raw_interpolations(text) {
                let location = self.offset_location(path, text, range.start, range.len());
                self.diagnostics.push(Diagnostic::warning(
                    format!("raw interpolation (`|safe`) in {}: the value is pasted into the SQL unescaped; prefer the default literal escaping or `| ident`", scope.place),
                    location,
                ));
            }
        }
        self.names(path, text, &names, scope)
    }

    /// Compiles an expression and checks its names; returns them.
    fn expression(
        &mut self,
        path: &Path,
        text: &str,
        scope: &NameScope,
    ) -> Option<BTreeSet<String>> {
        match template::expression_names(&self.env, text) {
            Ok(names) => self.names(path, text, &names, scope).then_some(names),
            Err(error) => {
                let location = self.template_error_location(path, text, &error);
                self.error(
                    format!(
                        "invalid expression in {}: {}",
                        scope.place,
                        template_message(&error)
                    ),
                    location,
                );
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
            if let Err((message, hint)) = self.check_name(name, scope) {
                let offset = text.find(name.as_str()).unwrap_or(0);
                let width = name.split('.').take(3).collect::<Vec<_>>().join(".").len();
                let location = self.offset_location(path, text, offset, width);
                self.error(format!("{message} in {}{hint}", scope.place), location);
                ok = false;
            }
        }
        ok
    }

    fn is_column(&self, name: &str, scope: &NameScope) -> bool {
        let head = name.split('.').next().unwrap_or(name);
        scope.columns.is_some()
            && ![
                "params",
                "facts",
                "steps",
                "row_count",
                "rows",
                "matching_rows",
                "preview",
            ]
            .contains(&head)
            && !self.globals.iter().any(|g| g == head)
    }

    /// Whether a dotted name (`params.idle_after`, `steps.x.rows`) is in scope; if not, the
    /// problem and a did-you-mean hint.
    fn check_name(&self, name: &str, scope: &NameScope) -> Result<(), (String, String)> {
        let mut parts = name.split('.');
        let head = parts.next().unwrap_or(name);
        let second = parts.next();
        match head {
            "params" => match second {
                Some(param) if !self.document.params.iter().any(|(p, _)| p == param) => Err((
                    format!("unknown param `{param}`"),
                    did_you_mean(param, self.document.params.iter().map(|(p, _)| p.as_str())),
                )),
                _ => Ok(()),
            },
            "facts" => match second {
                Some(fact) if !facts::is_fact(fact) => Err((
                    format!("unknown fact `{fact}`"),
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
            _ if self.globals.iter().any(|g| g == head) => Ok(()),
            _ => match scope.columns {
                Some(None) => Ok(()),
                Some(Some(columns)) if columns.iter().any(|c| c == head) => Ok(()),
                Some(Some(columns)) => {
                    let mut candidates: Vec<&str> = columns.iter().map(String::as_str).collect();
                    candidates.extend(["params", "facts", "steps", "row_count"]);
                    Err((
                        format!(
                            "unknown name `{head}` (not a result column: {}; nor `params`, `facts`, `steps`, `row_count`)",
                            columns.join(", ")
                        ),
                        did_you_mean(head, candidates),
                    ))
                }
                None => Err((
                    format!("unknown name `{head}` (names are `params.*`, `facts.*`, `steps.*`)"),
                    did_you_mean(head, ["params", "facts", "steps"]),
                )),
            },
        }
    }

    fn check_step_name(&self, step: &str, attribute: Option<&str>) -> Result<(), (String, String)> {
        let Some(columns) = self.earlier.get(step) else {
            if let Some(line) = self.declared.get(step) {
                return Err((
                    format!(
                        "step `{step}` is used before it runs (it is declared on line {line}; a step sees only earlier steps)"
                    ),
                    String::new(),
                ));
            }
            let known: Vec<&str> = self.earlier.keys().map(String::as_str).collect();
            return Err((format!("unknown step `{step}`"), did_you_mean(step, known)));
        };
        match (attribute, columns) {
            (Some(attribute), Some(columns))
                if !STEP_ATTRIBUTES.contains(&attribute)
                    && !columns.iter().any(|c| c == attribute) =>
            {
                let mut candidates: Vec<&str> = STEP_ATTRIBUTES.to_vec();
                candidates.extend(columns.iter().map(String::as_str));
                Err((
                    format!(
                        "step `{step}` has no `{attribute}` (it has {}, and the columns {})",
                        STEP_ATTRIBUTES.join(", "),
                        columns.join(", ")
                    ),
                    did_you_mean(attribute, candidates),
                ))
            }
            _ => Ok(()),
        }
    }

    /// An action that signals sessions must visibly spare the engine's own: its SQL or its
    /// preview must exclude `pg_backend_pid()`.
    fn spares_own_session(&mut self, path: &Path, action: &Action) -> bool {
        let lower = action.sql.to_ascii_lowercase();
        let signals = ["pg_terminate_backend", "pg_cancel_backend"]
            .iter()
            .any(|f| lower.contains(f));
        let excluded = |sql: &str| sql.to_ascii_lowercase().contains("pg_backend_pid()");
        if !signals || excluded(&action.sql) || action.preview.as_deref().is_some_and(excluded) {
            return true;
        }
        let location = self.document.value_location(path);
        self.error(
            "an action that signals sessions must exclude the engine's own session: add `pid <> pg_backend_pid()` to the action or its preview",
            location,
        );
        false
    }

    /// Rejects SQL that writes or signals where only reading is allowed.
    fn read_only(&mut self, path: &Path, sql: &str, key: &str, findings: &[sql::Finding]) -> bool {
        for finding in findings {
            let offset = finding.offset.unwrap_or(0);
            let width = sql[offset.min(sql.len())..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
                .unwrap_or(0);
            let location = self.offset_location(path, sql, offset, width);
            let hint = if key == "check" {
                "; use an `action` step, which needs approval"
            } else {
                ""
            };
            self.error(
                format!("`{key}` must be read-only: {}{hint}", finding.concern),
                location,
            );
        }
        findings.is_empty()
    }

    fn template_error_location(
        &self,
        path: &Path,
        text: &str,
        error: &minijinja::Error,
    ) -> Option<Location> {
        match (error.range(), error.line()) {
            (Some(range), _) => self.offset_location(path, text, range.start, range.len()),
            (None, Some(line)) => {
                let offset = text
                    .split_inclusive('\n')
                    .take(line.saturating_sub(1))
                    .map(str::len)
                    .sum();
                self.offset_location(path, text, offset, 0)
            }
            (None, None) => self.document.value_location(path),
        }
    }

    /// The file position of byte `offset` inside the scalar at `path`.
    fn offset_location(
        &self,
        path: &Path,
        text: &str,
        offset: usize,
        width: usize,
    ) -> Option<Location> {
        let span = self.document.spans.value(path)?;
        let offset = offset.min(text.len());
        let before = text.get(..offset).unwrap_or("");
        let line_in_text = before.matches('\n').count();
        let column_in_line = before.rsplit('\n').next().unwrap_or("").chars().count();
        if span.block || line_in_text == 0 {
            let quoted = !span.block
                && self
                    .document
                    .source
                    .line(span.start.line)
                    .and_then(|l| l.chars().nth(span.start.column - 1))
                    .is_some_and(|c| c == '\'' || c == '"');
            let column = span.start.column + column_in_line + usize::from(quoted);
            return Some(Location {
                line: span.start.line + line_in_text,
                column,
                width,
            });
        }
        // A multi-line plain or quoted scalar: folded lines lose their indentation.
        let line = span.start.line + line_in_text;
        let indent = self
            .document
            .source
            .line(line)
            .map_or(0, |l| l.len() - l.trim_start().len());
        Some(Location {
            line,
            column: indent + 1,
            width,
        })
    }
}

impl NameScope<'_> {
    fn top(place: &str) -> NameScope<'static> {
        NameScope {
            place: format!("{place} of the playbook"),
            columns: None,
            preview: false,
        }
    }
}

/// Parses the SQL of every check and action (the costliest part of validation) on all cores.
fn analyze_sql(steps: &[Option<RawStep>]) -> Vec<Option<Analysis>> {
    fn sql(step: &Option<RawStep>) -> Option<&str> {
        let step = step.as_ref()?;
        step.check.as_deref().or(step.action.as_deref())
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let chunk = steps.len().div_ceil(threads).max(64);
    std::thread::scope(|scope| {
        let workers: Vec<_> = steps
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|s| sql(s).map(sql::analyze))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// minijinja's message without its own location suffix, which we replace with ours.
fn template_message(error: &minijinja::Error) -> String {
    let detail = error.detail().map(|d| format!(": {d}")).unwrap_or_default();
    format!("{}{detail}", error.kind())
}

/// `name` or `schema.name`, unquoted identifiers (what `to_regclass` reads without error).
fn is_relation_name(name: &str) -> bool {
    let part = |p: &str| {
        let mut chars = p.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    let parts: Vec<&str> = name.split('.').collect();
    (1..=2).contains(&parts.len()) && parts.iter().all(|p| part(p))
}

/// `a_b`: lower-case letters, digits and `_`, starting with a letter.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

/// `daily-monitoring`: lower-case letters, digits, `-` and `_`.
fn is_slug(name: &str, allow_dash: bool) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || (allow_dash && c == '-')
        })
        && name.len() <= 63
}

/// A file stem made into a name: `My Checks` becomes `my-checks`.
fn slugify(stem: &str) -> String {
    let slug: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        "playbook".to_owned()
    } else {
        slug.chars().take(63).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_slugs() {
        assert!(is_identifier("idle_candidates"));
        assert!(!is_identifier("Idle"));
        assert!(!is_identifier("idle-candidates"));
        assert!(!is_identifier("1abc"));
        assert!(is_slug("daily-monitoring", true));
        assert_eq!(slugify("My Checks.v2"), "my-checks-v2");
        assert_eq!(slugify("!!!"), "playbook");
    }
}
