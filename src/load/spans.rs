//! Where each key and value of a YAML document sits in its file.
//!
//! serde gives us typed values but forgets positions, and serde_yaml reports a position only for
//! the first error. So the loader reads the document a second time with yaml-rust2's event
//! parser, which yields a marker per node, and records `path → position` for every key and
//! value. Validation then points any problem at `file:line:column` through the problem's path.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

/// One step into a YAML document: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A path into a YAML document, such as `steps[2].assess[0].warning`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Path(Vec<Segment>);

impl Path {
    pub fn root() -> Path {
        Path(Vec::new())
    }

    pub fn key(&self, key: &str) -> Path {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_owned()));
        Path(segments)
    }

    pub fn index(&self, index: usize) -> Path {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        Path(segments)
    }

    pub fn parent(&self) -> Option<Path> {
        let (_, rest) = self.0.split_last()?;
        Some(Path(rest.to_vec()))
    }

    /// The last segment, when it is a mapping key.
    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Segment::Key(key)) => Some(key),
            _ => None,
        }
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A position in a file: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// How a value is written: what `scalar::locate` needs to find a character of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    /// `|`: marked where its text starts, on the line after the indicator, at its indentation.
    Literal,
    /// `>`: marked like a literal.
    Folded,
    /// A mapping, a sequence or an alias.
    NotScalar,
}

/// Where a value sits and how it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueSpan {
    pub start: Position,
    pub style: ScalarStyle,
    /// The characters it takes when it is all on its first line (a scalar, a flow sequence or
    /// mapping); 0 when it runs on, or is not known.
    pub width: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: Option<Position>,
    value: ValueSpan,
}

/// Positions of every key and value of a document, by path.
#[derive(Debug, Default)]
pub struct Spans {
    entries: HashMap<Path, Entry>,
    /// Keys given twice in one mapping: the second occurrence.
    duplicates: Vec<(Path, Position)>,
}

impl Spans {
    /// Records the positions in `text`. A document that the event parser cannot read yields
    /// whatever it recorded before the problem; positions are a help, never a requirement.
    pub fn of(text: &str) -> Spans {
        match Spans::record(text, &[]) {
            Ok(spans) => spans,
            // yaml-rust2 refuses a continuation line of a quoted scalar indented with a tab, or
            // less than its mapping, which serde_yaml reads. Read again with such lines indented
            // with spaces, deeper, and each position on them moved back.
            Err(_) if text.contains('\t') => {
                let (text, shifts) = tabs_as_spaces(text);
                Spans::record(&text, &shifts).unwrap_or_else(|spans| spans)
            }
            Err(spans) => spans,
        }
    }

    /// The positions of `text`, whose line `n` (0-based) was moved right by `shifts[n]`
    /// columns; `Err` with what was recorded when the parser stopped early.
    fn record(text: &str, shifts: &[usize]) -> Result<Spans, Spans> {
        let mut recorder = Recorder {
            lines: text.lines().collect(),
            ..Recorder::default()
        };
        let mut parser = Parser::new_from_str(text);
        let complete = loop {
            match parser.next_token() {
                Ok((Event::StreamEnd, _)) => break true,
                Ok((event, marker)) => {
                    let shift = marker.line().checked_sub(1).and_then(|n| shifts.get(n));
                    let shift = shift.copied().unwrap_or(0);
                    let position = Position {
                        line: marker.line(),
                        column: (marker.col() + 1).saturating_sub(shift),
                    };
                    recorder.event(event, position, shift);
                }
                Err(_) => break false,
            }
        };
        let spans = Spans {
            entries: recorder.entries,
            duplicates: recorder.duplicates,
        };
        if complete { Ok(spans) } else { Err(spans) }
    }

    /// The position of the value at `path`, or of its nearest recorded ancestor.
    pub fn value(&self, path: &Path) -> Option<ValueSpan> {
        let mut path = path.clone();
        loop {
            if let Some(entry) = self.entries.get(&path) {
                return Some(entry.value);
            }
            path = path.parent()?;
        }
    }

    /// Where a key is given a second time in the same mapping.
    pub fn duplicate(&self, key: &str) -> Option<(&Path, Position)> {
        self.duplicates
            .iter()
            .find(|(path, _)| path.last_key() == Some(key))
            .map(|(path, position)| (path, *position))
    }

    /// The position of the key that names `path`; falls back to the value's position.
    pub fn key(&self, path: &Path) -> Option<Position> {
        match self.entries.get(path) {
            Some(Entry { key: Some(key), .. }) => Some(*key),
            _ => self.value(path).map(|span| span.start),
        }
    }
}

/// `text` with each line indented with a tab indented with spaces instead, one column deeper
/// than the line before it (counting a sequence's `- ` as indentation) when it was not already,
/// and how far each line moved right. Deeper is harmless where such a line can be: a quoted or
/// plain scalar's continuation, whose indentation is folded away.
fn tabs_as_spaces(text: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len());
    let mut shifts = Vec::new();
    let mut before = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_start_matches([' ', '\t']);
        let indent = line.len() - body.len();
        let mut shift = 0;
        if line[..indent].contains('\t') {
            let spaces = indent.max(before + 1);
            shift = spaces - indent;
            out.extend(std::iter::repeat_n(' ', spaces));
            out.push_str(body);
        } else {
            out.push_str(line);
        }
        if !body.trim().is_empty() {
            let written = &out[out.len() - line.len() - shift..];
            before = written.len() - written.trim_start_matches([' ', '-']).len();
        }
        shifts.push(shift);
    }
    (out, shifts)
}

/// Nesting depth below which positions are recorded (a playbook needs about six).
const MAX_DEPTH: usize = 32;

enum Frame {
    Mapping {
        path: Path,
        pending_key: Option<(String, Position)>,
    },
    Sequence {
        path: Path,
        next: usize,
    },
    /// A complex (non-scalar) mapping key: nothing under it is addressable.
    Ignored,
}

#[derive(Default)]
struct Recorder<'t> {
    /// The text read, by line, for how wide a value is.
    lines: Vec<&'t str>,
    entries: HashMap<Path, Entry>,
    stack: Vec<Frame>,
    mapping_starts_at_next_key: Option<Path>,
    duplicates: Vec<(Path, Position)>,
}

impl Recorder<'_> {
    /// `shift`: how far the text read moved the event's line right.
    fn event(&mut self, event: Event, position: Position, shift: usize) {
        match event {
            Event::Scalar(value, style, ..) => {
                if let Some(mapping) = self.mapping_starts_at_next_key.take()
                    && let Some(entry) = self.entries.get_mut(&mapping)
                {
                    entry.value.start = position;
                }
                let style = match style {
                    TScalarStyle::SingleQuoted => ScalarStyle::SingleQuoted,
                    TScalarStyle::DoubleQuoted => ScalarStyle::DoubleQuoted,
                    TScalarStyle::Literal => ScalarStyle::Literal,
                    TScalarStyle::Folded => ScalarStyle::Folded,
                    _ => ScalarStyle::Plain,
                };
                let rest = self.rest_of_line(position, shift);
                let width = scalar_width(rest, &value, style);
                if let Some(path) = self.node(Some(value), position, style) {
                    self.set_width(&path, width);
                }
            }
            Event::Alias(_) => {
                self.node(None, position, ScalarStyle::NotScalar);
            }
            Event::SequenceStart(..) => {
                let frame = match self.node(None, position, ScalarStyle::NotScalar) {
                    Some(path) => Frame::Sequence { path, next: 0 },
                    None => Frame::Ignored,
                };
                self.stack.push(frame);
            }
            Event::MappingStart(..) => {
                // A mapping that starts at a `{` is a flow mapping.
                let flow = self.rest_of_line(position, shift).starts_with('{');
                let frame = match self.node(None, position, ScalarStyle::NotScalar) {
                    Some(path) => {
                        // yaml-rust2 marks a block mapping after its first key; its first
                        // key's position is where a reader sees the mapping start. A flow
                        // mapping is marked at its `{`, where it starts.
                        if !flow {
                            self.mapping_starts_at_next_key = Some(path.clone());
                        }
                        Frame::Mapping {
                            path,
                            pending_key: None,
                        }
                    }
                    None => Frame::Ignored,
                };
                self.stack.push(frame);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                self.mapping_starts_at_next_key = None;
                let path = match self.stack.pop() {
                    Some(Frame::Sequence { path, .. } | Frame::Mapping { path, .. }) => path,
                    _ => return,
                };
                // A flow collection ends at its `]` or `}`: as wide as from its start to there.
                let closes = self.rest_of_line(position, shift).starts_with([']', '}']);
                let start = self.entries.get(&path).map(|entry| entry.value.start);
                if let Some(start) = start.filter(|start| closes && start.line == position.line) {
                    self.set_width(&path, position.column + 1 - start.column);
                }
            }
            _ => {}
        }
    }

    /// The line of `position` from its column on, as read (moved right by `shift`).
    fn rest_of_line(&self, position: Position, shift: usize) -> &str {
        let line = self.lines.get(position.line.wrapping_sub(1)).copied();
        let line = line.unwrap_or_default();
        let column = position.column + shift - 1;
        line.char_indices()
            .nth(column)
            .map_or("", |(at, _)| &line[at..])
    }

    fn set_width(&mut self, path: &Path, width: usize) {
        if let Some(entry) = self.entries.get_mut(path) {
            entry.value.width = width;
        }
    }

    /// Records a node; returns its path when it is a value (not a key, not under a complex key).
    /// Nothing deeper than `MAX_DEPTH` is recorded: no playbook key lives there, and copying
    /// ever longer paths would make hostile nesting cost quadratic time.
    fn node(
        &mut self,
        scalar: Option<String>,
        position: Position,
        style: ScalarStyle,
    ) -> Option<Path> {
        if self.stack.len() > MAX_DEPTH {
            return None;
        }
        let value = ValueSpan {
            start: position,
            style,
            width: 0,
        };
        let (path, key) = match self.stack.last_mut() {
            None => (Path::root(), None),
            Some(Frame::Ignored) => return None,
            Some(Frame::Sequence { path, next }) => {
                *next += 1;
                (path.index(*next - 1), None)
            }
            Some(Frame::Mapping { path, pending_key }) => match pending_key.take() {
                Some((key, key_position)) => (path.key(&key), Some(key_position)),
                None => {
                    match scalar {
                        Some(key) => *pending_key = Some((key, position)),
                        // A complex key: its value will follow; give it an unreachable name.
                        None => *pending_key = Some((String::new(), position)),
                    }
                    return None;
                }
            },
        };
        if let (Some(key), true) = (key, self.entries.contains_key(&path)) {
            self.duplicates.push((path.clone(), key));
        }
        self.entries
            .entry(path.clone())
            .or_insert(Entry { key, value });
        Some(path)
    }
}

/// How many characters the scalar `value` takes where it is written (`rest`, its line from
/// its first character on), when that is all on the line; 0 when it runs on or cannot be told
/// (escapes).
fn scalar_width(rest: &str, value: &str, style: ScalarStyle) -> usize {
    let written = match style {
        ScalarStyle::Plain => value.to_owned(),
        ScalarStyle::SingleQuoted => format!("'{}'", value.replace('\'', "''")),
        ScalarStyle::DoubleQuoted if !value.contains(['"', '\\']) => format!("\"{value}\""),
        _ => return 0,
    };
    match rest.starts_with(&written) {
        true => written.chars().count(),
        false => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "version: 1\nsteps:\n  - id: a\n    check: |\n      SELECT 1\n  - id: b\n    manual: read it\n";

    #[test]
    fn records_keys_and_values() {
        let spans = Spans::of(DOC);
        let check = Path::root().key("steps").index(0).key("check");
        assert_eq!(spans.key(&check), Some(Position { line: 4, column: 5 }));
        let value = spans.value(&check).unwrap();
        assert_eq!(value.style, ScalarStyle::Literal);
        assert_eq!(value.start, Position { line: 5, column: 7 });
        let manual = Path::root().key("steps").index(1).key("manual");
        assert_eq!(
            spans.value(&manual).unwrap().start,
            Position {
                line: 7,
                column: 13
            }
        );
    }

    #[test]
    fn unknown_paths_fall_back_to_the_nearest_ancestor() {
        let spans = Spans::of(DOC);
        let missing = Path::root().key("steps").index(1).key("when");
        assert_eq!(
            spans.value(&missing).unwrap().start,
            Position { line: 6, column: 5 }
        );
    }

    #[test]
    fn values_on_one_line_have_their_width() {
        let text = "a: [x, 'it''s', \"q\", {b: c}, [d, e]]\nf: plain text\ng: \"esc\\tape\"\nh: [i,\n  j]\n";
        let spans = Spans::of(text);
        let width = |path: &Path| spans.value(path).unwrap().width;
        let a = Path::root().key("a");
        let widths: Vec<_> = (0..5).map(|i| width(&a.index(i))).collect();
        assert_eq!(widths, [1, 7, 3, 6, 6]);
        assert_eq!(width(&a), 33);
        assert_eq!(width(&Path::root().key("f")), 10);
        assert_eq!(width(&Path::root().key("g")), 0, "an escape: not told");
        assert_eq!(width(&Path::root().key("h")), 0, "runs on");
    }

    #[test]
    fn paths_display_like_javascript() {
        let path = Path::root().key("steps").index(2).key("assess").index(0);
        assert_eq!(path.to_string(), "steps[2].assess[0]");
    }

    #[test]
    fn a_flow_mapping_starts_at_its_brace() {
        let spans = Spans::of("a: 1\nb: {c: d}\ne:\n  f: g\n");
        let at = |key| spans.value(&Path::root().key(key)).unwrap().start;
        assert_eq!(at("b"), Position { line: 2, column: 4 });
        assert_eq!(at("e"), Position { line: 4, column: 3 });
    }

    #[test]
    fn a_tab_indenting_a_quoted_continuation_line_keeps_the_positions() {
        let spans = Spans::of("a:\n  b: \"x\n\ty\"\n  c: d\n  e: {h: \"z\n\tw\", f: 1}\n");
        let c = Path::root().key("a").key("c");
        assert_eq!(spans.key(&c), Some(Position { line: 4, column: 3 }));
        let b = spans.value(&Path::root().key("a").key("b")).unwrap();
        assert_eq!(b.start, Position { line: 2, column: 6 });
        assert_eq!(b.style, ScalarStyle::DoubleQuoted);
        // On a line read indented deeper, in its own column still.
        let f = Path::root().key("a").key("e").key("f");
        assert_eq!(spans.key(&f), Some(Position { line: 6, column: 6 }));
    }

    #[test]
    fn broken_documents_do_not_panic() {
        for text in [
            "",
            ":",
            "a: [",
            "{ a: b",
            "- - - ",
            "? [a]\n: b\n",
            "&a x: *a",
        ] {
            let _ = Spans::of(text);
        }
    }
}
