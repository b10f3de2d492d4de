//! An inventory (`--targets FILE`): a YAML list of targets, each `{name, url | service, vars}`.
//!
//! It is checked the way a playbook is, and its problems render the same way (`file:line:column`,
//! the line, a caret): every problem of every target at once, since an inventory of hundreds of
//! servers is edited in bulk. The text is parsed once into a generic YAML value and walked by
//! hand, because serde stops at a target's first problem; a target with none is then read into
//! [`RawTarget`], the type the JSON Schema (`schema/targets.schema.json`) is generated from, so
//! the schema and the checks cannot drift apart without a test seeing it.
//!
//! No message quotes a `url`: it may hold a password. The lines a message shows come from a
//! copy of the text with every password written over ([`masked`]), whatever the YAML around
//! it: a flow mapping puts a `url` on the very line of a mistake, and a syntax error can
//! point anywhere.

use std::collections::HashMap;
use std::fmt;
use std::path::Path as FilePath;

use serde_yaml::{Mapping, Value};

use crate::diagnostic::{Diagnostic, Location, did_you_mean};
use crate::fleet::{FleetTarget, TargetVar};
use crate::load::spans::{Path, Spans};
use crate::load::{Source, SourceError, describe_value, locate_key, syntax_error, value_location};
use crate::target::spec::service_conninfo;

use super::raw::{KEYS, RawTarget, item_problem, scalar_text, var_text};

/// What an empty inventory should hold.
const NEEDS: &str = "an inventory is a YAML list of targets, each `- name: NAME` with \
                     `url: CONNINFO` or `service: NAME`";

/// An inventory's targets, with its text (for messages about a target's vars).
#[derive(Debug)]
pub struct Inventory {
    pub source: Source,
    pub targets: Vec<FleetTarget>,
}

/// Why an inventory gave no targets.
#[derive(Debug)]
pub enum InventoryError {
    /// The file could not be read (missing, too large, not UTF-8): the message.
    Read(String),
    /// Its problems, each located in its text: render them with `Diagnostic::render(&source)`.
    Invalid {
        /// Boxed: a `Result` carrying it stays small.
        source: Box<Source>,
        diagnostics: Vec<Diagnostic>,
    },
}

impl InventoryError {
    /// Every problem rendered as a playbook's are, a blank line apart, then the summary line.
    pub fn render(&self) -> String {
        match self {
            InventoryError::Read(message) => format!("error: {message}\n"),
            InventoryError::Invalid {
                source,
                diagnostics,
            } => {
                let mut text: Vec<String> = diagnostics.iter().map(|d| d.render(source)).collect();
                text.push(format!("{self}\n"));
                text.join("\n")
            }
        }
    }
}

impl fmt::Display for InventoryError {
    /// The read error, or `FILE: invalid inventory (N errors)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InventoryError::Read(message) => f.write_str(message),
            InventoryError::Invalid {
                source,
                diagnostics,
            } => write!(
                f,
                "{}: invalid inventory ({})",
                source.name,
                count(diagnostics.len())
            ),
        }
    }
}

impl std::error::Error for InventoryError {}

fn count(errors: usize) -> String {
    match errors {
        1 => "1 error".to_owned(),
        n => format!("{n} errors"),
    }
}

/// Reads and checks the inventory at `path`.
pub fn inventory(path: &FilePath) -> Result<Inventory, InventoryError> {
    let shown = path.display().to_string();
    let source = Source::read(path, &shown).map_err(|error| {
        InventoryError::Read(match error {
            SourceError::TooLarge { path, size, max } => {
                format!("`{path}` is {size} bytes; inventories larger than {max} bytes are refused")
            }
            other => other.to_string(),
        })
    })?;
    parse(source)
}

/// Checks the inventory in `source`.
pub(crate) fn parse(source: Source) -> Result<Inventory, InventoryError> {
    let spans = Spans::of(&source.text);
    let mut checker = Checker {
        spans: &spans,
        diagnostics: Vec::new(),
    };
    let targets = match serde_yaml::from_str::<Value>(&source.text) {
        Ok(value) => checker.inventory(&value),
        Err(error) => {
            checker
                .diagnostics
                .push(syntax_error(&error, &spans, NEEDS));
            Vec::new()
        }
    };
    let source = source.with_text(masked(&source.text));
    if checker.diagnostics.is_empty() {
        Ok(Inventory { source, targets })
    } else {
        Err(InventoryError::Invalid {
            source: Box::new(source),
            diagnostics: checker.diagnostics,
        })
    }
}

/// `text` with the password of every URL (`scheme://user:PASSWORD@host`) and the value of
/// every `password=` setting (keyword strings, URL parameters, `sslpassword` too) written
/// as `*`, one for each character: lines and columns stay where they were, so a diagnostic
/// still points at its place. Read lexically, since the text may not even be YAML; too much
/// hidden is harmless, too little is not.
pub(crate) fn masked(text: &str) -> String {
    text.split_inclusive('\n').map(masked_line).collect()
}

/// One line of [`masked`] (neither a URL nor a password spans lines).
fn masked_line(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut hidden = vec![false; chars.len()];
    for (start, end) in url_passwords(&chars).chain(setting_passwords(&chars)) {
        hidden[start..end].fill(true);
    }
    chars
        .iter()
        .zip(hidden)
        .map(|(c, hidden)| if hidden { '*' } else { *c })
        .collect()
}

/// Where the passwords of URLs are in `chars`, a line: after the `:` of the user info, up to
/// the last `@` before a quote or the line's end (not white space: a password may hold a
/// space it should not).
fn url_passwords(chars: &[char]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let ends = |c: &char| matches!(c, '"' | '\'' | '\n');
    (0..chars.len())
        .filter(|&at| chars[at..].starts_with(&[':', '/', '/']))
        .filter_map(move |at| {
            let start = at + 3;
            let end = chars[start..]
                .iter()
                .position(ends)
                .map_or(chars.len(), |n| start + n);
            let host = start + chars[start..end].iter().rposition(|c| *c == '@')?;
            let colon = start + chars[start..host].iter().position(|c| *c == ':')?;
            Some((colon + 1, host))
        })
}

/// Where the values of `password=` settings are in `chars` (spaces allowed around `=`; a
/// YAML `password:` too): a quoted value to its closing quote, else up to white space or `&`.
fn setting_passwords(chars: &[char]) -> impl Iterator<Item = (usize, usize)> + '_ {
    const WORD: [char; 8] = ['p', 'a', 's', 's', 'w', 'o', 'r', 'd'];
    let blank = |at: usize| chars.get(at).is_some_and(|c| *c == ' ' || *c == '\t');
    (0..chars.len())
        .filter(move |&at| {
            chars.len() - at >= WORD.len()
                && chars[at..at + WORD.len()]
                    .iter()
                    .zip(WORD)
                    .all(|(c, w)| c.to_ascii_lowercase() == w)
        })
        .filter_map(move |at| {
            let mut next = at + WORD.len();
            while blank(next) {
                next += 1;
            }
            if !matches!(chars.get(next), Some('=' | ':')) {
                return None;
            }
            next += 1;
            while blank(next) {
                next += 1;
            }
            let start = next;
            if chars.get(start) == Some(&'\'') {
                let mut end = start + 1;
                while end < chars.len() && chars[end] != '\'' && chars[end] != '\n' {
                    end += usize::from(chars[end] == '\\') + 1;
                }
                return Some((start + 1, end.min(chars.len())));
            }
            let end = chars[start..]
                .iter()
                .position(|c| c.is_whitespace() || *c == '&')
                .map_or(chars.len(), |n| start + n);
            Some((start, end))
        })
}

/// Walks the YAML value, collecting every problem.
struct Checker<'a> {
    spans: &'a Spans,
    diagnostics: Vec<Diagnostic>,
}

impl Checker<'_> {
    /// Notes a problem.
    fn error(&mut self, message: String, location: Option<Location>) {
        self.diagnostics.push(Diagnostic::error(message, location));
    }

    /// Where the value at `path` is (underlined to the end of its line).
    fn at_value(&self, path: &Path) -> Option<Location> {
        value_location(self.spans, path)
    }

    /// Where `value`, found at `path`, is; its key when it is empty: yaml-rust2 marks an empty
    /// value where the next token starts, often on the next line.
    fn at(&self, path: &Path, value: &Value) -> Option<Location> {
        match value {
            Value::Null => self.at_key(path),
            _ => self.at_value(path),
        }
    }

    /// Where the key naming `path` is (underlined).
    fn at_key(&self, path: &Path) -> Option<Location> {
        locate_key(self.spans, path)
    }

    /// Checks the whole document; the targets that have no problem.
    fn inventory(&mut self, value: &Value) -> Vec<FleetTarget> {
        let root = Path::root();
        // A document of comments alone has no node to point at: its start, then.
        let top = self.at_value(&root).or(Some(Location {
            line: 1,
            column: 1,
            width: 0,
        }));
        let entries = match value {
            Value::Sequence(entries) if !entries.is_empty() => entries,
            Value::Null => {
                self.error(format!("the inventory is empty; {NEEDS}"), top);
                return Vec::new();
            }
            Value::Sequence(_) => {
                self.error(format!("the inventory lists no targets; {NEEDS}"), top);
                return Vec::new();
            }
            other => {
                let found = describe_value(other);
                self.error(format!("{NEEDS}; found {found}"), top);
                return Vec::new();
            }
        };
        // Each name and where it was first given, to point a duplicate at the first.
        let mut first: HashMap<String, usize> = HashMap::new();
        let mut targets = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let path = root.index(index);
            let before = self.diagnostics.len();
            let name = self.target(index, &path, entry);
            if let Some(name) = &name {
                let at = self.at_value(&path.key("name"));
                let line = at.map_or(0, |at| at.line);
                match first.get(name) {
                    Some(line) => self.error(
                        format!("duplicate target name `{name}`: the target on line {line} has it already"),
                        at,
                    ),
                    None => {
                        first.insert(name.clone(), line);
                    }
                }
            }
            if self.diagnostics.len() == before {
                targets.extend(self.read(&path, entry));
            }
        }
        targets
    }

    /// Checks one target; returns its name when it has a valid one.
    fn target(&mut self, index: usize, path: &Path, entry: &Value) -> Option<String> {
        let Value::Mapping(mapping) = entry else {
            let found = describe_value(entry);
            self.error(
                format!(
                    "target #{} is {found}; a target is a mapping with `name` and `url` or `service`",
                    index + 1
                ),
                self.at_value(path),
            );
            return None;
        };
        let label = match mapping.get("name") {
            Some(Value::String(name)) if !name.is_empty() => format!("target `{name}`"),
            _ => format!("target #{}", index + 1),
        };
        self.keys(&label, path, mapping);
        self.connection(&label, path, mapping);
        self.name(&label, path, mapping)
    }

    /// Checks each key of the target `label` and its value.
    fn keys(&mut self, label: &str, path: &Path, mapping: &Mapping) {
        for (key, value) in mapping {
            let Some(key) = self.key_text(key, &format!("a key of {label}"), path) else {
                continue;
            };
            let key_path = path.key(key);
            match key {
                "name" | "url" | "service" => self.text(&key_path, value),
                "vars" => self.vars(label, &key_path, value),
                _ => {
                    let hint = did_you_mean(key, KEYS);
                    self.error(
                        format!("unknown key `{key}` in {label}{hint}"),
                        self.at_key(&key_path),
                    );
                }
            }
        }
    }

    /// Checks that the target names one place to connect to: a `url` or a `service`.
    fn connection(&mut self, label: &str, path: &Path, mapping: &Mapping) {
        match (mapping.get("url"), mapping.get("service")) {
            // At `service`: the line of a url may hold a password.
            (Some(_), Some(_)) => self.error(
                format!("{label} has both `url` and `service`; give one of them"),
                self.at_key(&path.key("service")),
            ),
            (None, None) => self.error(
                format!(
                    "{label} has neither `url` nor `service`; give one of them \
                     (`url: postgres://user@host/db` or `service: NAME`)"
                ),
                self.at_key(path),
            ),
            _ => {}
        }
    }

    /// The target's name, when it has a usable one (its type and emptiness are checked with
    /// the other keys).
    fn name(&mut self, label: &str, path: &Path, mapping: &Mapping) -> Option<String> {
        let Some(name) = mapping.get("name") else {
            self.error(format!("{label} has no `name`"), self.at_key(path));
            return None;
        };
        let name = name.as_str().filter(|name| !name.is_empty())?;
        let problem = if name.chars().any(char::is_control) {
            "a control character"
        } else if name.contains('/') {
            "`/`"
        } else {
            return Some(name.to_owned());
        };
        // Escaped, so a tab or an escape sequence shows as what it is.
        let name = name.escape_debug();
        self.error(
            format!(
                "target name `{name}` holds {problem}; a name is shown in every output and \
                 names the target's report file"
            ),
            self.at_value(&path.key("name")),
        );
        None
    }

    /// A mapping key as text; a key YAML reads as something else (`5:`, `[a]:`) is a problem of
    /// `what`, in the mapping at `path`.
    fn key_text<'v>(&mut self, key: &'v Value, what: &str, path: &Path) -> Option<&'v str> {
        if key.as_str().is_none() {
            let found = describe_value(key);
            self.error(
                format!("{what} is {found}; keys are text"),
                self.at_value(path),
            );
        }
        key.as_str()
    }

    /// Checks that the value at `path` is non-empty text.
    fn text(&mut self, path: &Path, value: &Value) {
        match value {
            Value::Null => self.error(format!("`{path}` is empty"), self.at(path, value)),
            Value::String(text) if text.is_empty() => {
                self.error(format!("`{path}` is empty"), self.at_value(path));
            }
            Value::String(_) => {}
            other => {
                let found = describe_value(other);
                self.error(
                    format!("invalid value for `{path}`: found {found}; expected a string"),
                    self.at_value(path),
                );
            }
        }
    }

    /// Checks a target's `vars`: text names, each a scalar or a list of scalars that `--var`
    /// reads back item for item.
    fn vars(&mut self, label: &str, path: &Path, value: &Value) {
        let vars = match value {
            Value::Mapping(vars) => vars,
            Value::Null => return,
            other => {
                let found = describe_value(other);
                self.error(
                    format!("invalid value for `{path}`: found {found}; expected a mapping of param names to values"),
                    self.at_value(path),
                );
                return;
            }
        };
        for (name, value) in vars {
            let Some(name) = self.key_text(name, &format!("a var name of {label}"), path) else {
                continue;
            };
            let var_path = path.key(name);
            if name.is_empty() || name.contains('=') {
                self.error(
                    format!("`{name}` is not a param name (in `vars` of {label})"),
                    self.at_key(&var_path),
                );
                continue;
            }
            let what = format!("var `{name}` of {label}");
            match value {
                Value::Sequence(items) => {
                    for (index, item) in items.iter().enumerate() {
                        let item_path = var_path.index(index);
                        if let Some(problem) = item_problem(item) {
                            self.error(
                                format!("item {} of {what} {problem}", index + 1),
                                self.at_value(&item_path),
                            );
                        }
                    }
                }
                other if scalar_text(other).is_none() => {
                    let found = match other {
                        Value::Null => "empty",
                        other => describe_value(other),
                    };
                    self.error(
                        format!(
                            "{what} is {found}; a var is a scalar (`15m`, `5`, `true`) or a list \
                             of scalars (`[a, b]`)"
                        ),
                        self.at(&var_path, other),
                    );
                }
                _ => {}
            }
        }
    }

    /// Reads a checked target into a fleet target (a problem serde still finds is reported).
    fn read(&mut self, path: &Path, entry: &Value) -> Option<FleetTarget> {
        let raw: RawTarget = match serde_yaml::from_value(entry.clone()) {
            Ok(raw) => raw,
            Err(error) => {
                self.error(format!("invalid target: {error}"), self.at_value(path));
                return None;
            }
        };
        let conninfo = match (raw.url, raw.service) {
            (Some(url), _) => url,
            (None, Some(service)) => service_conninfo(&service),
            (None, None) => return None,
        };
        let vars = raw
            .vars
            .unwrap_or_default()
            .iter()
            .map(|(name, value)| TargetVar {
                name: name.clone(),
                value: var_text(value),
                at: self.at_value(&path.key("vars").key(name)),
            })
            .collect();
        Some(FleetTarget {
            name: raw.name,
            conninfo,
            vars,
        })
    }
}

#[cfg(test)]
mod tests;
