//! Finding a playbook's text: a path, `./playbooks/NAME[.yaml]`, or a built-in playbook.
//!
//! The lookup order lets a team override a built-in playbook by dropping a file of the same name
//! into `./playbooks`, while `runbook run daily-monitoring` works from any directory.

use std::path::{Path, PathBuf};
use std::{fs, io};

use thiserror::Error;

use crate::diagnostic::{did_you_mean, suggestion};

include!(concat!(env!("OUT_DIR"), "/builtin.rs"));

/// Playbook files larger than this are refused before parsing.
const MAX_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    BuiltIn,
}

/// A playbook's text and where it came from.
#[derive(Debug, Clone)]
pub struct Source {
    /// How errors name it: the path as given, or `built-in:NAME`.
    pub name: String,
    /// The file stem: the playbook's name unless it sets `name:`.
    pub stem: String,
    pub text: String,
    pub origin: Origin,
    line_starts: Vec<usize>,
}

#[derive(Debug, Error)]
pub enum SourceError {
    /// A name that names no playbook; `hint`: did-you-mean, or nothing.
    #[error(
        "playbook `{name}` not found: no such file, no `./playbooks/{name}.yaml`, and no built-in playbook of that name{hint} (built-in: {built_in})"
    )]
    NotFound {
        name: String,
        hint: String,
        built_in: String,
    },
    /// A path that names no file; `hint`: did-you-mean, or nothing.
    #[error("no such file `{path}`{hint}")]
    NoSuchFile { path: String, hint: String },
    #[error("`{path}` is a directory, not a playbook file")]
    NotAFile { path: String },
    #[error("cannot read `{path}`: {source}")]
    Read { path: String, source: io::Error },
    #[error("`{path}` is {size} bytes; playbooks larger than {max} bytes are refused")]
    TooLarge { path: String, size: u64, max: u64 },
    #[error("{path}:{line}:{column}: the file is not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 {
        path: String,
        line: usize,
        column: usize,
        offset: usize,
    },
}

impl SourceError {
    /// Whether the argument names no playbook at all: the command line's mistake (exit 64),
    /// where the other errors are the file's.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            SourceError::NotFound { .. }
                | SourceError::NoSuchFile { .. }
                | SourceError::NotAFile { .. }
        )
    }
}

/// Whether PLAYBOOK is a path rather than a name.
fn is_path(argument: &str) -> bool {
    argument.contains(['/', '\\']) || argument.ends_with(".yaml") || argument.ends_with(".yml")
}

/// The playbook files (`*.yaml`, `*.yml`) in `dir`, sorted; none when it cannot be read.
fn playbook_files(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    paths.sort();
    paths
}

/// The file stem of `path`, when it is text.
fn stem(path: &Path) -> Option<&str> {
    path.file_stem()?.to_str()
}

/// The names a playbook can be run by: the stems in `./playbooks`, then the built-ins.
fn known_names() -> Vec<String> {
    let local = playbook_files(Path::new("playbooks"));
    let local = local.iter().filter_map(|path| stem(path));
    let built_in = BUILT_IN.iter().map(|(name, _)| *name);
    local.chain(built_in).map(str::to_owned).collect()
}

/// Did-you-mean for a path that names no file: the playbook it names without `.yaml` (`run
/// daily-monitoring.yaml` in a directory without that file), else the closest playbook file
/// beside where it points, by stem (every candidate shares `.yaml`, which would make any two
/// names look alike).
fn path_hint(path: &Path) -> String {
    let wanted = stem(path).unwrap_or_default();
    let parent = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty());
    if parent.is_none() && known_names().iter().any(|name| name == wanted) {
        return format!("; did you mean the playbook `{wanted}`, without the extension?");
    }
    let siblings = playbook_files(parent.unwrap_or(Path::new(".")));
    let stems = siblings.iter().filter_map(|sibling| stem(sibling));
    let Some(closest) = suggestion(wanted, stems) else {
        return String::new();
    };
    let Some(found) = siblings
        .iter()
        .find(|sibling| stem(sibling) == Some(closest))
    else {
        return String::new();
    };
    let file_name = found.file_name().unwrap_or_default();
    let shown = parent.map_or_else(|| PathBuf::from(file_name), |p| p.join(file_name));
    format!("; did you mean `{}`?", shown.display())
}

impl Source {
    /// A source from text in memory (tests, built-ins).
    pub fn text(name: &str, text: &str) -> Source {
        let stem = Path::new(name)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(name)
            .to_owned();
        Source::new(name.to_owned(), stem, text.to_owned(), Origin::BuiltIn)
    }

    /// The same source with `text` instead, which must keep its lines and the characters on
    /// each (a copy for messages, with what they must not show written over).
    pub fn with_text(&self, text: String) -> Source {
        Source::new(
            self.name.clone(),
            self.stem.clone(),
            text,
            self.origin.clone(),
        )
    }

    /// A UTF-8 byte order mark (some Windows editors write one) is dropped: it is no character
    /// of the playbook, and left in, serde_yaml reads it as the start of a second document.
    fn new(name: String, stem: String, text: String, origin: Origin) -> Source {
        let text = match text.strip_prefix('\u{feff}') {
            Some(rest) => rest.to_owned(),
            None => text,
        };
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Source {
            name,
            stem,
            text,
            origin,
            line_starts,
        }
    }

    /// Finds PLAYBOOK. A path (it has a `/` or ends in `.yaml`/`.yml`) is that file only, so a
    /// mistyped path is never reported as a missing `./playbooks/<path>`; a name is the file
    /// `NAME`, then `./playbooks/NAME.yaml`, `.yml` or `NAME`, then a built-in playbook.
    pub fn locate(argument: &str) -> Result<Source, SourceError> {
        let path = Path::new(argument);
        if is_path(argument) {
            return if path.is_file() {
                Source::read(path, argument)
            } else if path.is_dir() {
                Err(SourceError::NotAFile {
                    path: argument.to_owned(),
                })
            } else {
                Err(SourceError::NoSuchFile {
                    path: argument.to_owned(),
                    hint: path_hint(path),
                })
            };
        }
        if path.is_file() {
            return Source::read(path, argument);
        }
        if !argument.is_empty() {
            for candidate in [
                format!("playbooks/{argument}.yaml"),
                format!("playbooks/{argument}.yml"),
                format!("playbooks/{argument}"),
            ] {
                if Path::new(&candidate).is_file() {
                    return Source::read(Path::new(&candidate), &candidate);
                }
            }
            if let Some(source) = Source::built_in(argument) {
                return Ok(source);
            }
        }
        let names = known_names();
        Err(SourceError::NotFound {
            name: argument.to_owned(),
            hint: did_you_mean(argument, names.iter().map(String::as_str)),
            built_in: BUILT_IN
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    pub fn built_in(name: &str) -> Option<Source> {
        BUILT_IN
            .iter()
            .find(|(stem, _)| *stem == name)
            .map(|(stem, text)| {
                Source::new(
                    format!("built-in:{stem}"),
                    (*stem).to_owned(),
                    (*text).to_owned(),
                    Origin::BuiltIn,
                )
            })
    }

    pub fn read(path: &Path, shown_as: &str) -> Result<Source, SourceError> {
        let read_error = |source| SourceError::Read {
            path: shown_as.to_owned(),
            source,
        };
        let size = fs::metadata(path).map_err(read_error)?.len();
        if size > MAX_BYTES {
            return Err(SourceError::TooLarge {
                path: shown_as.to_owned(),
                size,
                max: MAX_BYTES,
            });
        }
        let bytes = fs::read(path).map_err(read_error)?;
        let text = String::from_utf8(bytes).map_err(|error| {
            let offset = error.utf8_error().valid_up_to();
            let before = &error.as_bytes()[..offset];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let line_start = before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            let column = String::from_utf8_lossy(&before[line_start..])
                .chars()
                .count()
                + 1;
            SourceError::NotUtf8 {
                path: shown_as.to_owned(),
                line,
                column,
                offset,
            }
        })?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("playbook")
            .to_owned();
        Ok(Source::new(
            shown_as.to_owned(),
            stem,
            text,
            Origin::File(path.to_owned()),
        ))
    }

    /// The text of a 1-based line, without its line break.
    pub fn line(&self, line: usize) -> Option<&str> {
        let start = *self.line_starts.get(line.checked_sub(1)?)?;
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |next| next - 1);
        self.text.get(start..end).map(|s| s.trim_end_matches('\r'))
    }

    /// Every playbook `list` shows: `./playbooks/*.yaml` first, then built-ins not overridden.
    pub fn all() -> Vec<Result<Source, SourceError>> {
        let mut found = Vec::new();
        let mut local = Vec::new();
        for path in playbook_files(Path::new("playbooks")) {
            local.extend(stem(&path).map(str::to_owned));
            found.push(Source::read(&path, &path.display().to_string()));
        }
        for (stem, _) in BUILT_IN {
            if !local.iter().any(|l| l == stem) {
                found.extend(Source::built_in(stem).map(Ok));
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based() {
        let source = Source::text("x.yaml", "a\r\nb\n\nc");
        assert_eq!(source.line(1), Some("a"));
        assert_eq!(source.line(2), Some("b"));
        assert_eq!(source.line(3), Some(""));
        assert_eq!(source.line(4), Some("c"));
        assert_eq!(source.line(5), None);
        assert_eq!(source.line(0), None);
    }

    #[test]
    fn built_ins_are_embedded() {
        assert!(Source::built_in("daily-monitoring").is_some());
        assert!(Source::built_in("nope").is_none());
    }
}
