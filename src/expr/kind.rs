//! The kinds of values an expression compares, and what is said when two do not go together.
//!
//! minijinja orders values of different kinds by an arbitrary kind order, silently: an interval
//! compared with a number, or a text with a number, is "true" or "false" on every row. Here a
//! comparison's two sides must be of one kind (integers and floats are both numbers); one side
//! `null` is judged by the comparison (see `compare`), one side `unknown` (only at validation)
//! is never an error.

use std::fmt;

use minijinja::Value;
use minijinja::value::ValueKind;

use crate::duration::Duration;

/// What a value is, as far as comparing it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Integers and floats, which compare with each other.
    Number,
    Text,
    Boolean,
    /// A PostgreSQL interval, a duration param: a [`Duration`].
    Duration,
    List,
    Map,
    /// SQL `NULL`, minijinja's `none`.
    Null,
    /// Not known before the expression runs (validation only).
    Unknown,
}

impl Kind {
    /// The kind of a value the engine holds.
    pub fn of(value: &Value) -> Kind {
        match value.kind() {
            ValueKind::Number => Kind::Number,
            ValueKind::String => Kind::Text,
            ValueKind::Bool => Kind::Boolean,
            ValueKind::None => Kind::Null,
            ValueKind::Seq | ValueKind::Iterable => Kind::List,
            ValueKind::Map => Kind::Map,
            _ if Duration::from_value(value).is_some() => Kind::Duration,
            _ => Kind::Unknown,
        }
    }

    /// "a number", "an interval (a duration)": for messages.
    pub fn described(self) -> &'static str {
        match self {
            Kind::Number => "a number",
            Kind::Text => "a text",
            Kind::Boolean => "a boolean",
            Kind::Duration => "an interval (a duration)",
            Kind::List => "a list",
            Kind::Map => "a map",
            Kind::Null => "null",
            Kind::Unknown => "of a kind not known before it runs",
        }
    }

    /// "the number", "the interval": before a value, for messages.
    fn the(self) -> &'static str {
        match self {
            Kind::Number => "the number",
            Kind::Text => "the text",
            Kind::Boolean => "the boolean",
            Kind::Duration => "the interval (a duration)",
            Kind::List => "the list",
            Kind::Map => "the map",
            Kind::Null | Kind::Unknown => "",
        }
    }

    /// Whether a value of this kind may be compared with one of `other` (for `==`, `<`...).
    pub fn compares_with(self, other: Kind) -> bool {
        self == other
            || [self, other]
                .iter()
                .any(|k| matches!(k, Kind::Null | Kind::Unknown))
    }
}

/// A comparison operator, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
    In,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Lte => "<=",
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::In => "in",
        }
    }

    pub fn from_symbol(symbol: &str) -> Option<Op> {
        [Op::Eq, Op::Ne, Op::Lt, Op::Lte, Op::Gt, Op::Gte, Op::In]
            .into_iter()
            .find(|op| op.symbol() == symbol)
    }

    /// `<`, `<=`, `>`, `>=`: what SQL's rule about `NULL` applies to.
    pub fn orders(self) -> bool {
        matches!(self, Op::Lt | Op::Lte | Op::Gt | Op::Gte)
    }
}

/// One side of a comparison: as written, its kind, and (when it ran) its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operand {
    pub source: String,
    pub kind: Kind,
    /// The value, as the report would show it; `None` at validation.
    pub value: Option<String>,
}

impl Operand {
    pub fn known(source: String, kind: Kind) -> Operand {
        Operand {
            source,
            kind,
            value: None,
        }
    }

    pub fn ran(source: String, value: &Value) -> Operand {
        let kind = Kind::of(value);
        let shown = match kind {
            Kind::Text => format!("'{value}'"),
            _ => value.to_string(),
        };
        Operand {
            source,
            kind,
            value: Some(shown),
        }
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) if self.kind != Kind::Null => {
                write!(f, "`{}` is {} {value}", self.source, self.kind.the())
            }
            _ => write!(f, "`{}` is {}", self.source, self.kind.described()),
        }
    }
}

/// Two sides that may not be compared, or an `in` whose right side holds no such values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{comparison}` compares values of different kinds: {left} and {right}; {}", self.hint())]
pub struct Mismatch {
    /// The comparison, as written.
    pub comparison: String,
    pub op: Op,
    pub left: Operand,
    pub right: Operand,
}

impl Mismatch {
    /// How to compare them instead.
    pub fn hint(&self) -> String {
        let (left, right) = (&self.left, &self.right);
        if self.op == Op::In {
            return match right.kind {
                Kind::List | Kind::Map => format!(
                    "`in` looks for {} among values of another kind",
                    left.kind.described()
                ),
                _ => "`in` needs a list, a map or a text on its right, and a text on its left for a text"
                    .to_owned(),
            };
        }
        let op = self.op.symbol();
        let pair = (left.kind, right.kind);
        match pair {
            (Kind::Duration, Kind::Number) => format!(
                "compare with a duration param, or use `{}.seconds {op} {}`",
                left.source, right.source
            ),
            (Kind::Number, Kind::Duration) => format!(
                "compare with a duration param, or use `{} {op} {}.seconds`",
                left.source, right.source
            ),
            (Kind::Text, Kind::Number) | (Kind::Number, Kind::Text) => {
                "cast the column to a number in the check's SQL (`::int`, `::numeric`), or compare with a text (`'5'`)".to_owned()
            }
            (Kind::Text, Kind::Duration) | (Kind::Duration, Kind::Text) => {
                "cast the column to an interval in the check's SQL (`::interval`), or compare with a duration param".to_owned()
            }
            (Kind::Boolean, _) | (_, Kind::Boolean) => {
                "compare a boolean with `true` or `false`, or use it as the condition itself".to_owned()
            }
            _ => "compare values of one kind".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_have_kinds() {
        assert_eq!(Kind::of(&Value::from(1)), Kind::Number);
        assert_eq!(Kind::of(&Value::from(1.5)), Kind::Number);
        assert_eq!(Kind::of(&Value::from("x")), Kind::Text);
        assert_eq!(Kind::of(&Value::from(true)), Kind::Boolean);
        assert_eq!(Kind::of(&Value::from(())), Kind::Null);
        assert_eq!(Kind::of(&Value::from(vec![1])), Kind::List);
        let duration = Duration::from_secs(60).to_value();
        assert_eq!(Kind::of(&duration), Kind::Duration);
        assert!(Kind::Number.compares_with(Kind::Number));
        assert!(Kind::Number.compares_with(Kind::Null));
        assert!(Kind::Unknown.compares_with(Kind::Text));
        assert!(!Kind::Duration.compares_with(Kind::Number));
        assert!(!Kind::Text.compares_with(Kind::Number));
    }

    #[test]
    fn a_mismatch_shows_both_sides_and_how_to_compare() {
        let mismatch = Mismatch {
            comparison: "idle_for > 600".to_owned(),
            op: Op::Gt,
            left: Operand::ran("idle_for".to_owned(), &Duration::from_secs(900).to_value()),
            right: Operand::ran("600".to_owned(), &Value::from(600)),
        };
        assert_eq!(
            mismatch.to_string(),
            "`idle_for > 600` compares values of different kinds: `idle_for` is the interval (a duration) 15m and `600` is the number 600; compare with a duration param, or use `idle_for.seconds > 600`"
        );
        let mismatch = Mismatch {
            comparison: "s > 5".to_owned(),
            op: Op::Gt,
            left: Operand::known("s".to_owned(), Kind::Text),
            right: Operand::known("5".to_owned(), Kind::Number),
        };
        assert_eq!(
            mismatch.to_string(),
            "`s > 5` compares values of different kinds: `s` is a text and `5` is a number; cast the column to a number in the check's SQL (`::int`, `::numeric`), or compare with a text (`'5'`)"
        );
    }
}
