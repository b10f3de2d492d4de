//! Problems found in a playbook, rendered the way a compiler renders them.
//!
//! A diagnostic carries its position; rendering needs the source text to print the offending
//! line with a caret under the exact spot. Rendering is hand-written (a dozen lines) so its
//! output is plain, stable text that tests compare exactly.

use std::fmt::Write as _;

use crate::load::Source;
use crate::terminal_text::{for_terminal, for_terminal_line};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Warning,
    Error,
}

/// Where a problem is: 1-based line and column, and how many characters to underline
/// (0: up to the end of the line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
    pub width: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub level: Level,
    pub message: String,
    pub location: Option<Location>,
}

impl Diagnostic {
    pub fn new(level: Level, message: impl Into<String>, location: Option<Location>) -> Diagnostic {
        Diagnostic {
            level,
            message: message.into(),
            location,
        }
    }

    pub fn error(message: impl Into<String>, location: Option<Location>) -> Diagnostic {
        Diagnostic::new(Level::Error, message, location)
    }

    pub fn is_error(&self) -> bool {
        self.level == Level::Error
    }

    /// `error: message`, then ` --> file:line:column`, the line, and a caret under the spot.
    /// The playbook's text is shown with its control characters escaped (a YAML line can hold
    /// what a terminal would obey), and the caret stays under the spot as shown.
    pub fn render(&self, source: &Source) -> String {
        let label = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        let mut out = format!("{label}: {}\n", for_terminal(&self.message));
        let name = for_terminal_line(&source.name);
        let Some(location) = self.location else {
            let _ = writeln!(out, " --> {name}");
            return out;
        };
        let _ = writeln!(out, " --> {name}:{}:{}", location.line, location.column);
        let Some(text) = source.line(location.line) else {
            return out;
        };
        let number = location.line.to_string();
        let gutter = " ".repeat(number.len());
        let text: Vec<char> = text.replace('\t', " ").chars().collect();
        let trimmed = text.len() - text.iter().rev().take_while(|c| c.is_whitespace()).count();
        let before = location.column.saturating_sub(1).min(text.len());
        let width = match location.width {
            0 => trimmed.saturating_sub(before),
            width => width.min(text.len() - before),
        };
        let shown = |chars: &[char]| for_terminal_line(&String::from_iter(chars)).into_owned();
        let _ = writeln!(out, "{gutter} |");
        let _ = writeln!(out, "{number} | {}", shown(&text[..trimmed]));
        let _ = writeln!(
            out,
            "{gutter} | {}{}",
            " ".repeat(shown(&text[..before]).chars().count()),
            "^".repeat(shown(&text[before..before + width]).chars().count().max(1))
        );
        out
    }
}

/// "did you mean `x`?" for the closest candidate, when one is close enough to be a typo.
pub fn suggestion<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// `; did you mean `x`?` or nothing.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    suggestion(name, candidates)
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> Source {
        Source::text(
            "bad.yaml",
            "version: 1\nsteps:\n  - id: a\n    chek: SELECT 1\n",
        )
    }

    #[test]
    fn renders_the_line_and_a_caret() {
        let diagnostic = Diagnostic::error(
            "unknown key `chek` in step `a`; did you mean `check`?",
            Some(Location {
                line: 4,
                column: 5,
                width: 4,
            }),
        );
        assert_eq!(
            diagnostic.render(&source()),
            "error: unknown key `chek` in step `a`; did you mean `check`?\n --> bad.yaml:4:5\n  |\n4 |     chek: SELECT 1\n  |     ^^^^\n"
        );
    }

    #[test]
    fn width_zero_underlines_to_the_end_of_the_line() {
        let diagnostic = Diagnostic::new(
            Level::Warning,
            "w",
            Some(Location {
                line: 4,
                column: 11,
                width: 0,
            }),
        );
        assert!(
            diagnostic
                .render(&source())
                .ends_with("  |           ^^^^^^^^\n")
        );
    }

    #[test]
    fn control_characters_are_escaped_and_the_caret_follows() {
        let source = Source::text("bad.yaml", "a: 1\nb: \"\x1b[2J\" chek\n");
        let diagnostic = Diagnostic::error(
            "unknown key `\x1b[2J`",
            Some(Location {
                line: 2,
                column: 11,
                width: 4,
            }),
        );
        assert_eq!(
            diagnostic.render(&source),
            "error: unknown key `\\x1b[2J`\n --> bad.yaml:2:11\n  |\n2 | b: \"\\x1b[2J\" chek\n  |              ^^^^\n"
        );
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(suggestion("chek", ["check", "action"]), Some("check"));
        assert_eq!(suggestion("zzz", ["check", "action"]), None);
    }
}
