//! Result rows as text, typed only where expressions need it.
//!
//! Rows arrive as text through the simple protocol and are kept as text: the report shows
//! exactly what psql would. Expressions and templates get typed values, decided by the
//! column's PostgreSQL type: integers and numerics become numbers (a numeric that does not
//! fit a float stays text), booleans booleans, intervals durations, and the rest text.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::Value;
use schemars::JsonSchema;
use serde::Serialize;

use crate::duration::Duration;

/// What a column holds, from its PostgreSQL type: how its text becomes a value for
/// expressions, a metric, and the JSON report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    /// `int2`, `int4`, `int8`, `oid`.
    Integer,
    /// `float4`, `float8`, `numeric`.
    Number,
    /// `bool`.
    Boolean,
    /// `interval`.
    Interval,
    /// Any other type: text, timestamps, names, arrays, ...
    Text,
}

impl ColumnKind {
    /// From the PostgreSQL type name sqlx reports (`INT4`, `NUMERIC`, `BOOL`, ...).
    pub fn of(type_name: &str) -> ColumnKind {
        match type_name.to_ascii_uppercase().as_str() {
            "INT2" | "INT4" | "INT8" | "OID" | "SMALLINT" | "INT" | "INTEGER" | "BIGINT" => {
                ColumnKind::Integer
            }
            "FLOAT4" | "FLOAT8" | "NUMERIC" | "REAL" | "DOUBLE PRECISION" => ColumnKind::Number,
            "BOOL" | "BOOLEAN" => ColumnKind::Boolean,
            "INTERVAL" => ColumnKind::Interval,
            _ => ColumnKind::Text,
        }
    }

    /// The number a metric reads from a cell of this kind: integers and numerics as they are,
    /// an interval in seconds, a boolean as 1 or 0; `None` for NULL, text, and what does not
    /// fit a float.
    pub fn number(self, text: Option<&str>) -> Option<f64> {
        let text = text?;
        let number = match self {
            ColumnKind::Integer | ColumnKind::Number => text.parse::<f64>().ok()?,
            ColumnKind::Boolean => match text {
                "t" | "true" => 1.0,
                "f" | "false" => 0.0,
                _ => return None,
            },
            ColumnKind::Interval => Duration::parse_postgres(text)?.as_secs_f64(),
            ColumnKind::Text => return None,
        };
        number.is_finite().then_some(number)
    }

    /// The value expressions see for a cell of this kind.
    pub fn value(self, text: Option<&str>) -> Value {
        let Some(text) = text else {
            return Value::from(());
        };
        match self {
            ColumnKind::Integer => text
                .parse::<i64>()
                .map_or_else(|_| Value::from(text), Value::from),
            ColumnKind::Number => match text.parse::<f64>() {
                Ok(number) if number.is_finite() => Value::from(number),
                _ => Value::from(text),
            },
            ColumnKind::Boolean => match text {
                "t" | "true" => Value::from(true),
                "f" | "false" => Value::from(false),
                other => Value::from(other),
            },
            ColumnKind::Interval => {
                Duration::parse_postgres(text).map_or_else(|| Value::from(text), Duration::to_value)
            }
            ColumnKind::Text => Value::from(text),
        }
    }
}

/// The columns of a result: names and kinds, shared by all its rows.
#[derive(Debug, Clone, Default)]
pub struct Columns(Arc<Vec<(String, ColumnKind)>>);

impl Columns {
    pub fn new(columns: Vec<(String, ColumnKind)>) -> Columns {
        Columns(Arc::new(columns))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The position and kind of the column named `name`.
    pub fn find(&self, name: &str) -> Option<(usize, ColumnKind)> {
        self.0
            .iter()
            .position(|(column, _)| column == name)
            .map(|index| (index, self.0[index].1))
    }

    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|(name, _)| name.clone()).collect()
    }

    pub fn kinds(&self) -> Vec<ColumnKind> {
        self.0.iter().map(|(_, kind)| *kind).collect()
    }

    /// A row as a map of column name to typed value.
    pub fn row_value(&self, row: &[Option<String>]) -> BTreeMap<String, Value> {
        self.0
            .iter()
            .zip(row)
            .map(|((name, kind), text)| (name.clone(), kind.value(text.as_deref())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_typed_by_their_column() {
        assert_eq!(ColumnKind::of("INT8").value(Some("42")), Value::from(42));
        assert_eq!(
            ColumnKind::of("NUMERIC").value(Some("12.50")),
            Value::from(12.5)
        );
        assert_eq!(
            ColumnKind::of("NUMERIC").value(Some("NaN")),
            Value::from("NaN")
        );
        assert_eq!(ColumnKind::of("BOOL").value(Some("t")), Value::from(true));
        assert_eq!(ColumnKind::of("TEXT").value(Some("t")), Value::from("t"));
        assert_eq!(ColumnKind::of("INT4").value(None), Value::from(()));
        let interval = ColumnKind::of("INTERVAL").value(Some("01:00:00"));
        assert_eq!(
            Duration::from_value(&interval),
            Some(Duration::from_secs(3600))
        );
    }
}
