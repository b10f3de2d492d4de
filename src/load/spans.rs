//! Where each key and value of a YAML document sits in its file.
//!
//! serde gives us typed values but forgets positions, and serde_yaml reports a position only for
//! the first error. So the loader reads the document a second time with yaml-rust2's event
//! parser, which yields a marker per node, and records `path → position` for every key and
//! value. Validation then points any problem at `file:line:column` through the problem's path.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

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
        let mut recorder = Recorder::default();
        let mut parser = Parser::new_from_str(text);
        while let Ok((event, marker)) = parser.next_token() {
            if event == Event::StreamEnd {
                break;
            }
            recorder.event(event, marker);
        }
        Spans {
            entries: recorder.entries,
            duplicates: recorder.duplicates,
        }
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
struct Recorder {
    entries: HashMap<Path, Entry>,
    stack: Vec<Frame>,
    mapping_starts_at_next_key: Option<Path>,
    duplicates: Vec<(Path, Position)>,
}

impl Recorder {
    fn event(&mut self, event: Event, marker: Marker) {
        let position = Position {
            line: marker.line(),
            column: marker.col() + 1,
        };
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
                self.node(Some(value), position, style);
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
                let frame = match self.node(None, position, ScalarStyle::NotScalar) {
                    Some(path) => {
                        // yaml-rust2 marks a block mapping after its first key; its first
                        // key's position is where a reader sees the mapping start.
                        self.mapping_starts_at_next_key = Some(path.clone());
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
                self.stack.pop();
            }
            _ => {}
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
    fn paths_display_like_javascript() {
        let path = Path::root().key("steps").index(2).key("assess").index(0);
        assert_eq!(path.to_string(), "steps[2].assess[0]");
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
