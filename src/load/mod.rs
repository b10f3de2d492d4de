//! YAML text to raw serde types, with every problem located at `file:line:column`.
//!
//! The text is parsed once by serde_yaml (syntax errors, alias bombs, duplicate keys) into a
//! generic value, then the top level, each param and each step are deserialized separately
//! through `serde_path_to_error`, so one broken step does not hide the others. Within one
//! step, each rejected key is left out in turn, at whatever depth (`typed`), so one bad key
//! does not hide the next. Positions come from
//! `Spans`, and inside a scalar from `scalar`. serde_yaml is used only here: swapping it for a
//! maintained fork is a one-file change.

mod fields;
pub(crate) mod raw;
mod scalar;
mod source;
pub(crate) mod spans;
mod typed;

pub use source::{Origin, Source, SourceError};

use std::collections::HashSet;

use serde_yaml::Value;

use crate::diagnostic::{Diagnostic, Location, did_you_mean};
use raw::{RawParam, RawPlaybook, RawStep};
use spans::{Path, ScalarStyle, Spans};
use typed::deserialize;

/// A playbook read into raw types, with what is needed to point at any part of it.
#[derive(Debug)]
pub struct Document {
    pub source: Source,
    pub spans: Spans,
    pub playbook: RawPlaybook,
    /// Each param, `None` where it did not deserialize (already reported).
    pub params: Vec<(String, Option<RawParam>)>,
    /// Each step, `None` where it did not deserialize (already reported).
    pub steps: Vec<Option<RawStep>>,
    /// The keys left out of the raw types for an error already reported: validation must not
    /// report them missing too.
    pub rejected: HashSet<Path>,
}

impl Document {
    /// The position of the key naming `path` (underlining the key).
    pub fn key_location(&self, path: &Path) -> Option<Location> {
        locate_key(&self.spans, path)
    }

    /// The position of the value at `path` (underlining to the end of its line).
    pub fn value_location(&self, path: &Path) -> Option<Location> {
        value_location(&self.spans, path)
    }

    /// The position of byte `offset` of `text`, the value at `path`, underlining `width` bytes
    /// of it (to the end of the line when they run past it): where it is written, whatever the
    /// scalar's style, escapes and folded lines.
    pub fn offset_location(
        &self,
        path: &Path,
        text: &str,
        offset: usize,
        width: usize,
    ) -> Option<Location> {
        let span = self.spans.value(path)?;
        if span.style == ScalarStyle::NotScalar {
            // Only an ancestor of the scalar was recorded: point at it.
            return self.value_location(path);
        }
        let (start, width) = scalar::locate(
            &self.source.text,
            span.start,
            span.style,
            text,
            offset.min(text.len()),
            width,
        )?;
        Some(Location {
            line: start.line,
            column: start.column,
            width,
        })
    }
}

/// Reads `source` into a `Document`; `None` when the file is not a playbook at all.
pub fn load(source: Source) -> (Option<Document>, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let mut rejected = HashSet::new();
    // The two parses are independent; on a large playbook doing them at once halves the wait.
    let (parsed, spans) = std::thread::scope(|scope| {
        let spans = scope.spawn(|| Spans::of(&source.text));
        let parsed = serde_yaml::from_str::<Value>(&source.text);
        (parsed, spans.join().unwrap_or_default())
    });
    let value = match parsed {
        Ok(value) => value,
        Err(error) => {
            diagnostics.push(syntax_error(
                &error,
                &spans,
                "a playbook needs `version` and `steps`",
            ));
            return (None, diagnostics);
        }
    };
    let Value::Mapping(mapping) = &value else {
        let found = describe_value(&value);
        diagnostics.push(Diagnostic::error(
            format!("a playbook is a YAML mapping with `version` and `steps`; found {found}"),
            Some(Location {
                line: 1,
                column: 1,
                width: 0,
            }),
        ));
        return (None, diagnostics);
    };
    let playbook: Option<RawPlaybook> = deserialize(
        &value,
        &Path::root(),
        &spans,
        &mut diagnostics,
        &mut rejected,
    );
    let Some(playbook) = playbook else {
        // The top level is broken, but its steps can still be checked.
        if let Some(Value::Sequence(steps)) = mapping.get("steps") {
            deserialize_steps(steps, &spans, &mut diagnostics, &mut rejected);
        }
        return (None, diagnostics);
    };
    let steps = playbook.steps.as_deref().unwrap_or_default();
    let steps = deserialize_steps(steps, &spans, &mut diagnostics, &mut rejected);
    let params = playbook
        .params
        .iter()
        .map(|(name, value)| {
            let path = Path::root().key("params").key(name);
            let param = deserialize(value, &path, &spans, &mut diagnostics, &mut rejected);
            (name.clone(), param)
        })
        .collect();
    let document = Document {
        source,
        spans,
        playbook,
        params,
        steps,
        rejected,
    };
    (Some(document), diagnostics)
}

fn deserialize_steps(
    steps: &[Value],
    spans: &Spans,
    diagnostics: &mut Vec<Diagnostic>,
    rejected: &mut HashSet<Path>,
) -> Vec<Option<RawStep>> {
    steps
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let path = Path::root().key("steps").index(index);
            deserialize(value, &path, spans, diagnostics, rejected)
        })
        .collect()
}

/// serde's error at its path below `base`, in our words.
fn located_error(
    error: serde_path_to_error::Error<serde_yaml::Error>,
    base: &Path,
    context: &str,
    spans: &Spans,
) -> Diagnostic {
    let segments: Vec<_> = error.path().iter().cloned().collect();
    let path = typed::within(base, &segments);
    type_error(&error.into_inner().to_string(), &path, context, spans)
}

/// Turns serde's wording into ours, and finds where to point.
fn type_error(message: &str, path: &Path, context: &str, spans: &Spans) -> Diagnostic {
    let message = message.split(" at line ").next().unwrap_or(message);
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (key, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates = backticked(expected);
        let hint = did_you_mean(key, candidates.iter().map(String::as_str));
        // serde_path_to_error may already have stepped onto the unknown key.
        let path = match path.last_key() == Some(key) {
            true => path.parent().unwrap_or_default(),
            false => path.clone(),
        };
        return unknown_key(key, &hint, &path, context, spans);
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let key = rest.split('`').next().unwrap_or(rest);
        let where_ = if context.is_empty() {
            "the playbook".to_owned()
        } else {
            context.to_owned()
        };
        let location = locate_key(spans, path);
        return Diagnostic::error(format!("{where_} has no `{key}`"), location);
    }
    let field = if path.is_root() {
        "the playbook".to_owned()
    } else {
        format!("`{path}`")
    };
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (value, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates = backticked(expected);
        let hint = did_you_mean(value, candidates.iter().map(String::as_str));
        let choices = candidates
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        return Diagnostic::error(
            format!("`{value}` is not a valid value for {field} (expected one of {choices}){hint}"),
            value_location(spans, path),
        );
    }
    let detail = if message.starts_with("data did not match any variant of untagged enum RawNumber")
    {
        "expected a number, or a text template that gives one".to_owned()
    } else if message.starts_with("data did not match any variant of untagged enum") {
        "expected a number, or a percentage such as \"20%\"".to_owned()
    } else {
        message
            .strip_prefix("invalid type: ")
            .map(|rest| rest.replace(", expected", "; expected"))
            .map(|rest| format!("found {rest}"))
            .unwrap_or_else(|| message.to_owned())
            // serde's names of Rust's number types.
            .replace("; expected u32", "; expected a whole number")
            .replace("; expected u64", "; expected a whole number")
            .replace("; expected f64", "; expected a number")
    };
    Diagnostic::error(
        format!("invalid value for {field}: {detail}"),
        value_location(spans, path),
    )
}

/// "unknown key `x` in step `y`", at the key `key` of the mapping at `path`.
fn unknown_key(key: &str, hint: &str, path: &Path, context: &str, spans: &Spans) -> Diagnostic {
    let where_ = if context.is_empty() {
        String::new()
    } else {
        format!(" in {context}")
    };
    let location = locate_key(spans, &path.key(key));
    Diagnostic::error(format!("unknown key `{key}`{where_}{hint}"), location)
}

/// The position of the key naming `path`, underlining the key.
pub(crate) fn locate_key(spans: &Spans, path: &Path) -> Option<Location> {
    let width = match path.last_key() {
        Some(key) => key.chars().count(),
        None => 0,
    };
    spans.key(path).map(|position| Location {
        line: position.line,
        column: position.column,
        width,
    })
}

/// The position of the value at `path`, underlining to the end of its line.
pub(crate) fn value_location(spans: &Spans, path: &Path) -> Option<Location> {
    spans.value(path).map(|span| Location {
        line: span.start.line,
        column: span.start.column,
        width: span.width,
    })
}

/// "step `idle_candidates`" for a step, "param `x`" for a param, nothing at the top.
fn describe_context(path: &Path, value: &Value) -> String {
    let text = path.to_string();
    if text.starts_with("steps[") {
        match value.get("id").and_then(Value::as_str) {
            Some(id) => format!("step `{id}`"),
            None => format!("`{text}`"),
        }
    } else if let Some(name) = text.strip_prefix("params.") {
        format!("param `{name}`")
    } else {
        String::new()
    }
}

/// "a mapping", "a string": what a value is, for "found …".
pub(crate) fn describe_value(value: &Value) -> &'static str {
    match value {
        Value::Null => "an empty document",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a sequence",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// The names between backticks in serde's "expected one of `a`, `b`".
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// serde_yaml's syntax error at its position; a duplicate key at its second occurrence. An
/// empty file is said to be empty, then `needs` (what the file should hold).
pub(crate) fn syntax_error(error: &serde_yaml::Error, spans: &Spans, needs: &str) -> Diagnostic {
    let message = error.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message);
    let location = error.location().map(|location| Location {
        line: location.line(),
        column: location.column(),
        width: 1,
    });
    // serde_yaml points a duplicate key at its mapping; point at the second occurrence.
    if let Some((_, rest)) = message.split_once("duplicate entry with key \"")
        && let Some(key) = rest.strip_suffix('"')
        && let Some((path, position)) = spans.duplicate(key)
    {
        return Diagnostic::error(
            format!("duplicate key `{key}`: `{path}` is given twice"),
            Some(Location {
                line: position.line,
                column: position.column,
                width: key.chars().count(),
            }),
        );
    }
    let message = message
        .strip_prefix("EOF while parsing a value")
        .map(|_| format!("the file is empty; {needs}"))
        .unwrap_or_else(|| format!("invalid YAML: {message}"));
    Diagnostic::error(message, location)
}
