//! A value of a step's result as the record keeps it: typed once, when the step is recorded,
//! by its column's PostgreSQL type.
//!
//! The JSON report gives machines JSON's own values where nothing is lost: an integer that
//! fits an `i64`, a float or numeric whose nearest `f64` is exactly the value psql shows, a
//! boolean, NULL. Everything else stays a string exactly as psql shows it: intervals,
//! timestamps, text (`'42'::text` too), and the numbers a float would change — `NaN`,
//! `Infinity`, a numeric too big or too precise — so a reader never holds a rounded number it
//! cannot tell from the real one. The Markdown report shows every value as psql does.

use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Serialize, Serializer};

use crate::target::rows::ColumnKind;

/// One value of a result row.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Cell {
    /// NULL.
    Null,
    /// A boolean column's value.
    Boolean(bool),
    /// An integer column's value (`int2`, `int4`, `int8`, `oid`).
    Integer(i64),
    /// A float or numeric column's value, when a float holds it exactly.
    Number(#[schemars(with = "f64")] Exact),
    /// Any other value, as psql shows it: intervals, timestamps, text, and the numbers a float
    /// cannot hold exactly (`NaN`, `Infinity`, a numeric too big or too precise).
    Text(String),
}

/// A number a float holds exactly, and how psql shows it (`2.50`, `1e+100`).
#[derive(Debug, Clone, PartialEq)]
pub struct Exact {
    value: f64,
    shown: String,
}

impl Serialize for Exact {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.value)
    }
}

impl Cell {
    /// The value of a column of `kind`, from its text as the server sent it (`None`: NULL).
    pub fn of(kind: ColumnKind, text: Option<&str>) -> Cell {
        let Some(text) = text else {
            return Cell::Null;
        };
        let typed = match kind {
            // Only the text the integer prints back as, so `shown` is what psql showed.
            ColumnKind::Integer => text
                .parse::<i64>()
                .ok()
                .filter(|integer| integer.to_string() == text)
                .map(Cell::Integer),
            ColumnKind::Number => exact(text).map(Cell::Number),
            ColumnKind::Boolean => match text {
                "t" => Some(Cell::Boolean(true)),
                "f" => Some(Cell::Boolean(false)),
                _ => None,
            },
            ColumnKind::Interval | ColumnKind::Text => None,
        };
        typed.unwrap_or_else(|| Cell::Text(text.to_owned()))
    }

    /// A row's values, each typed by the kind of its column.
    pub fn row(kinds: &[ColumnKind], texts: &[Option<String>]) -> Vec<Cell> {
        kinds
            .iter()
            .zip(texts)
            .map(|(kind, text)| Cell::of(*kind, text.as_deref()))
            .collect()
    }

    /// The value as psql shows it; `None` for NULL.
    pub fn shown(&self) -> Option<Cow<'_, str>> {
        match self {
            Cell::Null => None,
            Cell::Boolean(true) => Some(Cow::Borrowed("t")),
            Cell::Boolean(false) => Some(Cow::Borrowed("f")),
            Cell::Integer(integer) => Some(Cow::Owned(integer.to_string())),
            Cell::Number(number) => Some(Cow::Borrowed(&number.shown)),
            Cell::Text(text) => Some(Cow::Borrowed(text)),
        }
    }
}

/// The number `text` shows, when a float holds it exactly: the float's shortest form names
/// the same decimal (`0.1`, `2.50`, `1e+100`), not a neighbour of it
/// (`0.30000000000000001`, `9007199254740993`).
fn exact(text: &str) -> Option<Exact> {
    let value = text.parse::<f64>().ok().filter(|value| value.is_finite())?;
    let same = decimal(text)? == decimal(&format!("{value:e}"))?;
    same.then(|| Exact {
        value,
        shown: text.to_owned(),
    })
}

/// A decimal's sign, significant digits and the exponent of its last digit, so that `-12.50`
/// and `-1.25e1` give the same; `None` for what is not a decimal.
fn decimal(text: &str) -> Option<(bool, String, i64)> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let significant = digits.trim_start_matches('0').trim_end_matches('0');
    if significant.is_empty() {
        return Some((negative, String::new(), 0));
    }
    let trailing_zeros = digits.len() - digits.trim_end_matches('0').len();
    let shift = i64::try_from(trailing_zeros).ok()? - i64::try_from(fraction.len()).ok()?;
    Some((
        negative,
        significant.to_owned(),
        exponent.checked_add(shift)?,
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn json_of(kind: ColumnKind, text: Option<&str>) -> Value {
        serde_json::to_value(Cell::of(kind, text)).unwrap()
    }

    #[test]
    fn integers_are_json_integers_while_they_fit_an_i64() {
        let integer = |text| json_of(ColumnKind::Integer, Some(text));
        assert_eq!(
            integer("9223372036854775807"),
            json!(9_223_372_036_854_775_807_i64)
        );
        assert_eq!(integer("-9223372036854775808"), json!(i64::MIN));
        assert_eq!(integer("0"), json!(0));
        assert_eq!(integer("4294967295"), json!(4_294_967_295_u32));
        assert_eq!(integer("9223372036854775808"), json!("9223372036854775808"));
        assert_eq!(integer("+7"), json!("+7"));
        assert_eq!(integer("007"), json!("007"));
    }

    #[test]
    fn numbers_are_json_numbers_only_when_a_float_holds_them_exactly() {
        let number = |text: &str| json_of(ColumnKind::Number, Some(text));
        assert_eq!(number("2.5"), json!(2.5));
        assert_eq!(number("2.50"), json!(2.5));
        assert_eq!(number("0.1"), json!(0.1));
        assert_eq!(number("-0.001"), json!(-0.001));
        assert_eq!(number("200.0"), json!(200.0));
        assert_eq!(number("1e+100"), json!(1e100));
        assert_eq!(number("1.5e-07"), json!(1.5e-7));
        assert_eq!(
            number("0.30000000000000004"),
            json!(0.300_000_000_000_000_04)
        );
        assert_eq!(number("3.4028235e+38"), json!(3.402_823_5e38));
        assert_eq!(number("0"), json!(0.0));
        assert_eq!(number("9007199254740992"), json!(9_007_199_254_740_992.0));
        for kept in [
            "NaN",
            "Infinity",
            "-Infinity",
            "0.30000000000000001",
            "9007199254740993",
            "123456789012345678901234567890",
            "99999999999999999999999999999",
            "0.1000000000000000000000000001",
        ] {
            assert_eq!(number(kept), json!(kept), "{kept}");
        }
        let huge = format!("1{}", "0".repeat(400));
        assert_eq!(number(&huge), json!(huge));
        let tiny = format!("0.{}1", "0".repeat(400));
        assert_eq!(number(&tiny), json!(tiny));
    }

    #[test]
    fn booleans_nulls_and_the_rest() {
        assert_eq!(json_of(ColumnKind::Boolean, Some("t")), json!(true));
        assert_eq!(json_of(ColumnKind::Boolean, Some("f")), json!(false));
        for kind in [
            ColumnKind::Integer,
            ColumnKind::Number,
            ColumnKind::Boolean,
            ColumnKind::Interval,
            ColumnKind::Text,
        ] {
            assert_eq!(json_of(kind, None), Value::Null, "{kind:?}");
        }
        assert_eq!(
            json_of(ColumnKind::Interval, Some("00:00:01")),
            json!("00:00:01")
        );
        assert_eq!(json_of(ColumnKind::Text, Some("42")), json!("42"));
        assert_eq!(json_of(ColumnKind::Text, Some("t")), json!("t"));
        assert_eq!(json_of(ColumnKind::Text, Some("1e3")), json!("1e3"));
    }

    #[test]
    fn every_value_is_shown_as_psql_shows_it() {
        for (kind, text) in [
            (ColumnKind::Integer, "-42"),
            (ColumnKind::Number, "2.50"),
            (ColumnKind::Number, "1e+100"),
            (ColumnKind::Number, "NaN"),
            (ColumnKind::Boolean, "t"),
            (ColumnKind::Boolean, "f"),
            (ColumnKind::Interval, "1 day 02:00:00"),
            (ColumnKind::Text, "a|b"),
        ] {
            assert_eq!(
                Cell::of(kind, Some(text)).shown().as_deref(),
                Some(text),
                "{kind:?}"
            );
        }
        assert_eq!(Cell::of(ColumnKind::Text, None).shown(), None);
    }

    #[test]
    fn decimals_compare_by_value() {
        assert_eq!(decimal("-12.50"), decimal("-1.25e1"));
        assert_eq!(decimal("0.0100"), decimal("1e-2"));
        assert_eq!(decimal("1200"), decimal("1.2e3"));
        assert_ne!(decimal("1200"), decimal("1.2e2"));
        assert_eq!(decimal("0.000"), Some((false, String::new(), 0)));
        assert_eq!(decimal("1e99999999999999999999"), None);
        assert_eq!(decimal("."), None);
        assert_eq!(decimal("1x"), None);
    }
}
