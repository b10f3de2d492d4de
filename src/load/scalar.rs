//! Where a byte of a scalar's value sits in the file.
//!
//! A problem found inside a value (a function in SQL, a name in a template) is an offset into
//! the value as parsed, but the file holds it as written: escapes (`\"`, `''`), folded line
//! breaks and stripped indentation make the two differ. So the text of the scalar is read
//! again from its first character, side by side with the value: characters that agree advance
//! both, whitespace that the value folded away advances only the file, and a space the value
//! gained from a folded line break advances only the value. Every character that is not
//! whitespace is thus found where it is written, in every scalar style.

use super::spans::{Position, ScalarStyle};

/// One character of the value as written: what it means and where it starts.
#[derive(Debug, Clone, Copy)]
struct Written {
    /// The character of the value it gives; `None` for what the value drops.
    value: Option<char>,
    position: Position,
    /// How many characters of the file it takes (`\"` takes two).
    width: usize,
    /// Whitespace of the file that folding or indentation may drop.
    folds: bool,
}

/// The file's characters of one scalar, from its first, decoded as its style says.
struct Reader {
    lines: Vec<Vec<char>>,
    line: usize,
    column: usize,
    style: ScalarStyle,
    /// Block scalars: the indentation stripped from each line.
    indent: usize,
    first_line: usize,
}

impl Reader {
    fn new(text: &str, start: Position, style: ScalarStyle) -> Reader {
        let lines = text
            .lines()
            .skip(start.line.saturating_sub(1))
            .map(|line| line.chars().collect())
            .collect();
        let quoted = matches!(style, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted);
        Reader {
            lines,
            line: 0,
            column: start.column.saturating_sub(1) + usize::from(quoted),
            style,
            indent: start.column.saturating_sub(1),
            first_line: start.line,
        }
    }

    fn at(&self, line: usize, column: usize) -> Option<char> {
        let text = self.lines.get(line)?;
        match text.get(column) {
            Some(c) => Some(*c),
            None if line + 1 < self.lines.len() => Some('\n'),
            None => None,
        }
    }

    fn position(&self) -> Position {
        Position {
            line: self.first_line + self.line,
            column: self.column + 1,
        }
    }

    /// The next character of the value as written, without taking it.
    fn peek(&mut self) -> Option<Written> {
        let block = matches!(self.style, ScalarStyle::Literal | ScalarStyle::Folded);
        if block && self.line > 0 && self.column == 0 {
            // Indentation of a block scalar is not part of its value.
            let line = self.lines.get(self.line)?;
            let spaces = line.iter().take_while(|c| **c == ' ').count();
            self.column = spaces.min(self.indent);
        }
        let c = self.at(self.line, self.column)?;
        let plain = |value: char, width| Written {
            value: Some(value),
            position: self.position(),
            width,
            folds: matches!(value, ' ' | '\t' | '\n' | '\r'),
        };
        let written = match (self.style, c) {
            (ScalarStyle::SingleQuoted, '\'') => plain('\'', 2),
            (ScalarStyle::DoubleQuoted, '\\') => {
                let next = self.at(self.line, self.column + 1).unwrap_or('\\');
                let (value, width) = escape(next);
                Written {
                    value,
                    position: self.position(),
                    width,
                    folds: value.is_none(),
                }
            }
            (_, c) => plain(c, 1),
        };
        Some(written)
    }

    /// Takes the character `peek` gave.
    fn take(&mut self, written: Written) {
        for _ in 0..written.width {
            let line_ends = self
                .lines
                .get(self.line)
                .is_none_or(|text| self.column >= text.len());
            if line_ends {
                self.line += 1;
                self.column = 0;
            } else {
                self.column += 1;
            }
        }
    }
}

/// What a double-quoted `\` followed by `next` gives, and how many characters it takes; an
/// escaped line break gives nothing. The long escapes (`\x41`, `\u00e9`) give one character.
fn escape(next: char) -> (Option<char>, usize) {
    let value = match next {
        '0' => '\0',
        'a' => '\u{7}',
        'b' => '\u{8}',
        't' | '\t' => '\t',
        'n' => '\n',
        'v' => '\u{b}',
        'f' => '\u{c}',
        'r' => '\r',
        'e' => '\u{1b}',
        'N' => '\u{85}',
        '_' => '\u{a0}',
        'L' => '\u{2028}',
        'P' => '\u{2029}',
        'x' => return (Some('?'), 4),
        'u' => return (Some('?'), 6),
        'U' => return (Some('?'), 10),
        '\n' => return (None, 2),
        other => other,
    };
    (Some(value), 2)
}

/// The position in `text` (the whole file) of byte `offset` of `value`, the scalar of `style`
/// that starts at `start`, and how many characters of the file the `width` bytes from there
/// take on its line (0 when they run past it). `None` when the two cannot be matched.
pub(crate) fn locate(
    text: &str,
    start: Position,
    style: ScalarStyle,
    value: &str,
    offset: usize,
    width: usize,
) -> Option<(Position, usize)> {
    let mut reader = Reader::new(text, start, style);
    let mut found = None;
    let mut last = None;
    let end = offset.saturating_add(width.max(1));
    for (index, c) in value.char_indices() {
        if index >= end {
            break;
        }
        let Some(written) = matching(&mut reader, c) else {
            break;
        };
        if index >= offset {
            found.get_or_insert(written.position);
            last = Some(written);
        }
    }
    let found = match found {
        Some(found) => found,
        // The offset is at the end of the value: just after its last character.
        None => reader.peek().map_or(reader.position(), |w| w.position),
    };
    let width = match last {
        Some(last) if last.position.line == found.line && width > 0 => {
            last.position.column + last.width - found.column
        }
        _ => 0,
    };
    Some((found, width))
}

/// Reads on to the written character that gives `c`, or `None` past the end of the file.
/// Whatever it meets first is dropped whitespace (a folded line break, indentation); a space
/// or line break of the value that the file does not have here came from folding.
fn matching(reader: &mut Reader, c: char) -> Option<Written> {
    loop {
        let written = reader.peek()?;
        if written.value == Some(c) {
            reader.take(written);
            return Some(written);
        }
        if written.folds {
            reader.take(written);
            continue;
        }
        if c.is_whitespace() {
            return Some(Written {
                value: Some(c),
                width: 0,
                ..written
            });
        }
        // Not what the value holds (a long escape): take it as this character.
        reader.take(written);
        return Some(written);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scalar in a file: the file's text, where the scalar starts, its style, its value,
    /// and where its `pg_x` is written (line, column, width).
    type Case = (
        &'static str,
        (usize, usize),
        ScalarStyle,
        &'static str,
        (usize, usize, usize),
    );

    const CASES: [Case; 7] = [
        (
            "c: SELECT pg_x()\n",
            (1, 4),
            ScalarStyle::Plain,
            "SELECT pg_x()",
            (1, 11, 4),
        ),
        (
            "c: SELECT a\n  FROM t\n    WHERE  pg_x()\n",
            (1, 4),
            ScalarStyle::Plain,
            "SELECT a FROM t WHERE  pg_x()",
            (3, 12, 4),
        ),
        (
            "c: \"a \\\"b\\\" \\x41 \\t pg_x\"\n",
            (1, 4),
            ScalarStyle::DoubleQuoted,
            "a \"b\" A \t pg_x",
            (1, 21, 4),
        ),
        (
            "c: \"a \\\n   pg_x\"\n",
            (1, 4),
            ScalarStyle::DoubleQuoted,
            "a pg_x",
            (2, 4, 4),
        ),
        (
            "c: 'a ''b'' pg_x'\n",
            (1, 4),
            ScalarStyle::SingleQuoted,
            "a 'b' pg_x",
            (1, 13, 4),
        ),
        (
            "c: >\n  a\n  b\n\n  c pg_x\n",
            (2, 3),
            ScalarStyle::Folded,
            "a b\nc pg_x\n",
            (5, 5, 4),
        ),
        (
            "c: |2\n     a\n   pg_x\n",
            (2, 3),
            ScalarStyle::Literal,
            "   a\n pg_x\n",
            (3, 4, 4),
        ),
    ];

    #[test]
    fn every_style_finds_a_character_where_it_is_written() {
        for (text, (line, column), style, value, expected) in CASES {
            let offset = value.find("pg_").unwrap();
            let start = Position { line, column };
            let (found, width) = locate(text, start, style, value, offset, 4).unwrap();
            assert_eq!((found.line, found.column, width), expected, "{text:?}");
        }
    }

    #[test]
    fn a_width_across_lines_runs_to_the_end_of_the_line() {
        let text = "c: a pg\n  _x\n";
        let (position, width) = locate(
            text,
            Position { line: 1, column: 4 },
            ScalarStyle::Plain,
            "a pg _x",
            2,
            5,
        )
        .unwrap();
        assert_eq!((position.line, position.column, width), (1, 6, 0));
    }

    #[test]
    fn positions_beyond_the_text_do_not_panic() {
        for (line, column) in [(0, 0), (9, 9), (1, 99)] {
            let _ = locate(
                "c: x\n",
                Position { line, column },
                ScalarStyle::DoubleQuoted,
                "x\\",
                0,
                3,
            );
        }
    }
}
