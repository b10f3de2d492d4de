//! Raw playbook to checked model, reporting every problem at once.
//!
//! Validation is the only place that judges a playbook: ids, kinds, keys that do not apply,
//! types of defaults, templates that do not compile, names that are not in scope, and check SQL
//! that is not read-only. What comes out (`Playbook`) is what the engine may trust. Each
//! problem is a `Problem` pointing at the exact spot in the file, inside multi-line SQL too.
//!
//! One `Validator` walks the document top to bottom, because what is in scope depends on the
//! order: a step sees only the steps before it. The concerns of the walk live in files of their
//! own: `params`, `steps`, `names` (what templates and expressions may refer to) and `sql`
//! (read-only judgement); positions inside a value come from the loader's `Document`.

mod assess;
mod error;
mod history;
mod ident;
mod keys;
mod metrics;
mod names;
mod params;
mod requires;
mod signal;
mod sql;
mod steps;

use error::Problem;

use std::collections::HashMap;

use minijinja::Environment;

use crate::diagnostic::{Diagnostic, Location};
use crate::duration::Duration;
use crate::load::Document;
use crate::load::spans::Path;
use crate::param::Param;
use crate::playbook::{Playbook, SourceCheck, Step};
use crate::template::{self, TemplateKind};
use names::NameScope;

/// Statement timeout when neither the step nor the playbook sets one.
const DEFAULT_TIMEOUT_SECS: i64 = 30;

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
    /// The kinds of those columns, in their order, where the SQL tells them.
    earlier_kinds: HashMap<String, Vec<crate::expr::Kind>>,
    /// The valid checks seen so far, which `terminate`/`cancel` may name.
    checks: HashMap<String, SourceCheck>,
    /// Every step id with the line it is declared on, to say "defined later".
    declared: HashMap<String, usize>,
    /// Every step's declared metrics, which `history.*` may read.
    declared_metrics: HashMap<String, history::DeclaredMetric>,
    /// The metrics `history.*` reads (`Playbook::remembered`).
    remembered: std::collections::BTreeSet<String>,
    globals: Vec<String>,
}

impl<'a> Validator<'a> {
    fn new(document: &'a Document) -> Validator<'a> {
        let env = template::environment();
        let globals = env.globals().map(|(name, _)| name.to_owned()).collect();
        let mut declared = HashMap::new();
        for (index, step) in document.steps.iter().enumerate() {
            let Some(id) = step.as_ref().and_then(|step| step.id.as_ref()) else {
                continue;
            };
            let line = document
                .key_location(&Path::root().key("steps").index(index))
                .map_or(0, |location| location.line);
            declared.entry(id.clone()).or_insert(line);
        }
        Validator {
            document,
            env,
            diagnostics: Vec::new(),
            params: Vec::new(),
            earlier: HashMap::new(),
            earlier_kinds: HashMap::new(),
            checks: HashMap::new(),
            declared,
            declared_metrics: history::declared_metrics(document),
            remembered: Default::default(),
            globals,
        }
    }

    fn report(&mut self, problem: Problem, location: Option<Location>) {
        let level = problem.level();
        self.diagnostics
            .push(Diagnostic::new(level, problem.to_string(), location));
    }

    fn playbook(&mut self) -> Option<Playbook> {
        let (name, timeout) = self.header();
        let raw = &self.document.playbook;
        self.params = self
            .document
            .params
            .iter()
            .filter_map(|(name, raw)| self.param(name, raw.as_ref()?))
            .collect();
        let steps = self.steps();
        Some(Playbook {
            title: raw.title.clone().unwrap_or_else(|| name.clone()),
            name,
            description: raw.description.clone(),
            source: self.document.source.name.clone(),
            timeout: timeout?,
            params: std::mem::take(&mut self.params),
            steps,
            remembered: std::mem::take(&mut self.remembered).into_iter().collect(),
        })
    }

    /// Checks the version, name, timeout, title and description; returns the name and the
    /// timeout (`None` when it is invalid).
    fn header(&mut self) -> (String, Option<Duration>) {
        let raw = &self.document.playbook;
        let root = Path::root();
        match raw.version {
            Some(1) => {}
            Some(version) => {
                let location = self.document.value_location(&root.key("version"));
                self.report(Problem::UnsupportedVersion { version }, location);
            }
            None => self.missing("version"),
        }
        let name = match &raw.name {
            Some(name) => {
                if !ident::is_slug(name) {
                    let location = self.document.value_location(&root.key("name"));
                    let name = name.clone();
                    self.report(Problem::InvalidName { name }, location);
                }
                name.clone()
            }
            None => ident::slugify(&self.document.source.stem),
        };
        let timeout = match &raw.timeout {
            Some(text) => self.duration(&root.key("timeout"), text),
            None => Some(Duration::from_secs(DEFAULT_TIMEOUT_SECS)),
        };
        for (key, text) in [("title", &raw.title), ("description", &raw.description)] {
            if let Some(text) = text {
                let scope = NameScope::top(&format!("`{key}`"));
                self.template(&root.key(key), text, TemplateKind::Text, &scope);
            }
        }
        (name, timeout)
    }

    /// Every step that checks out, in order; each sees the ones before it.
    fn steps(&mut self) -> Vec<Step> {
        match &self.document.playbook.steps {
            Some(steps) if steps.is_empty() => {
                let location = self.document.key_location(&Path::root().key("steps"));
                self.report(Problem::NoSteps, location);
            }
            Some(_) => {}
            None => self.missing("steps"),
        }
        let analyses = sql::analyze_all(&self.document.steps);
        let mut steps = Vec::new();
        for ((index, raw), analysis) in self.document.steps.iter().enumerate().zip(analyses) {
            let Some(raw) = raw else { continue };
            if let Some(step) = self.step(index, raw, analysis) {
                steps.push(step);
            }
            if let Some(id) = &raw.id {
                self.earlier.entry(id.clone()).or_insert(None);
            }
        }
        steps
    }

    /// A key the playbook must have, unless it was given and rejected (already reported).
    fn missing(&mut self, key: &'static str) {
        if !self.document.rejected.contains(&Path::root().key(key)) {
            let location = self.document.key_location(&Path::root());
            self.report(Problem::PlaybookWithout { key }, location);
        }
    }

    fn duration(&mut self, path: &Path, text: &str) -> Option<Duration> {
        let problem = match text.parse::<Duration>() {
            Ok(duration) if duration.as_micros() <= 0 => Problem::DurationNotPositive {
                path: path.to_string(),
            },
            // PostgreSQL's timeouts are an `int` of milliseconds.
            Ok(duration) if duration.as_micros() / 1000 > i64::from(i32::MAX) => {
                Problem::DurationTooLong {
                    path: path.to_string(),
                    text: text.to_owned(),
                }
            }
            Ok(duration) => return Some(duration),
            Err(error) => Problem::InvalidDuration { error },
        };
        let location = self.document.value_location(path);
        self.report(problem, location);
        None
    }
}
