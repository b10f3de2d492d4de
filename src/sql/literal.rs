//! Template values written as PostgreSQL literals — the only way a value reaches
//! SQL text.
//!
//! Design choice: every value is written as a self-contained constant whose
//! meaning does not depend on session settings or on the text around it:
//!
//! * strings are `'...'` with quotes doubled; a string holding a backslash is
//!   written as `E'...'` with backslashes doubled, which PostgreSQL reads the
//!   same way whether `standard_conforming_strings` is on or off. The text is
//!   UTF-8 (it comes from Rust strings), so the connection's `client_encoding`
//!   must be UTF8 (sqlx and psql in a UTF-8 locale use it); NUL bytes, which
//!   PostgreSQL cannot store in text, are refused;
//! * integers are bare; negative numbers are parenthesised (`(-5)`) so that
//!   `now() -{{ n }}` cannot become a `--` comment and `{{ n }}::text` keeps its
//!   meaning (the price: `SET x = {{ n }}` only accepts non-negative numbers);
//! * finite floats are written bare in Rust's shortest round-trip form (`0.1`,
//!   `1e300`, `5e-324`) with no `::float8`: PostgreSQL reads such a constant as
//!   an exact `numeric`, which converts to exactly the same `float8` when the
//!   context needs one and compares exactly against `numeric` columns. `-0.0`
//!   therefore reads back as zero (`numeric` has no negative zero). NaN and the
//!   infinities have no numeric-constant spelling and become
//!   `'NaN'::float8`, `'Infinity'::float8`, `'-Infinity'::float8`;
//! * sequences are `ARRAY[a, b]` (nested lists give multi-dimensional arrays);
//!   the empty sequence is `'{}'`, an untyped literal that takes the array type
//!   the context asks for (`ARRAY[]` would need an explicit type);
//! * durations are interval literals (`interval '1 hour'`), bytes are
//!   `E'\\x...'::bytea`, none is `NULL`, booleans are `TRUE` / `FALSE`;
//! * safe strings (`Value::from_safe_string`, e.g. from the `ident` filter) are
//!   already SQL and are copied as they are;
//! * mappings, undefined values and other objects are errors: there is no
//!   single right SQL spelling for them.

use minijinja::Value;
use minijinja::value::ValueKind;

use crate::duration::Duration;

/// Deepest nesting of sequences accepted (PostgreSQL's `MAXDIM` is 6; this only
/// guards against runaway recursion through exotic objects).
const MAX_DEPTH: usize = 32;

/// PostgreSQL truncates identifiers longer than this (`NAMEDATALEN - 1`).
const MAX_IDENT_BYTES: usize = 63;

/// Why a value cannot become an SQL literal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiteralError {
    /// A string or identifier holds a NUL byte, which PostgreSQL cannot store in text.
    #[error("a string containing a NUL byte (`\\0`) cannot be sent to PostgreSQL")]
    NulByte,
    /// A mapping (for example a row) was interpolated.
    #[error(
        "a mapping cannot be interpolated into SQL; pick a column, e.g. `rows | map(attribute='pid') | list`"
    )]
    Map,
    /// An undefined value was interpolated.
    #[error("an undefined value cannot be interpolated into SQL")]
    Undefined,
    /// `quote_ident` was given an empty name.
    #[error("an empty string is not a valid SQL identifier")]
    EmptyIdentifier,
    /// `quote_ident` was given a name PostgreSQL would silently truncate.
    #[error("identifier `{name}` is {len} bytes long; PostgreSQL truncates names to 63 bytes")]
    IdentifierTooLong { name: String, len: usize },
    /// A value of a kind that has no SQL spelling (functions, macros, other objects).
    #[error("a value of type `{0}` cannot be interpolated into SQL")]
    Unsupported(String),
    /// Anything else (a value that failed to iterate, nesting too deep...).
    #[error("{0}")]
    Other(String),
}

/// Writes `value` as a PostgreSQL literal (see the module docs for the forms).
pub fn write_literal(out: &mut String, value: &Value) -> Result<(), LiteralError> {
    write_value(out, value, 0)
}

/// [`write_literal`] into a new string.
pub fn literal(value: &Value) -> Result<String, LiteralError> {
    let mut out = String::new();
    write_literal(&mut out, value)?;
    Ok(out)
}

/// `"my table"` — always double-quoted, inner quotes doubled; NUL, empty names and
/// names longer than 63 bytes (which PostgreSQL would truncate) are rejected.
pub fn quote_ident(name: &str) -> Result<String, LiteralError> {
    if name.is_empty() {
        return Err(LiteralError::EmptyIdentifier);
    }
    if name.contains('\0') {
        return Err(LiteralError::NulByte);
    }
    if name.len() > MAX_IDENT_BYTES {
        return Err(LiteralError::IdentifierTooLong {
            name: name.to_string(),
            len: name.len(),
        });
    }
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for ch in name.chars() {
        if ch == '"' {
            out.push('"');
        }
        out.push(ch);
    }
    out.push('"');
    Ok(out)
}

/// Writes `s` as a string constant: `'...'`, or `E'...'` when it holds a backslash.
pub fn write_string(out: &mut String, s: &str) -> Result<(), LiteralError> {
    if s.contains('\0') {
        return Err(LiteralError::NulByte);
    }
    let escape_backslashes = s.contains('\\');
    if escape_backslashes {
        out.push('E');
    }
    out.push('\'');
    for ch in s.chars() {
        match ch {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            _ => out.push(ch),
        }
    }
    out.push('\'');
    Ok(())
}

fn write_value(out: &mut String, value: &Value, depth: usize) -> Result<(), LiteralError> {
    if let Some(duration) = Duration::from_value(value) {
        out.push_str(&duration.to_sql_literal());
        return Ok(());
    }
    match value.kind() {
        ValueKind::Undefined => Err(LiteralError::Undefined),
        ValueKind::None => {
            out.push_str("NULL");
            Ok(())
        }
        ValueKind::Bool => {
            out.push_str(if value.is_true() { "TRUE" } else { "FALSE" });
            Ok(())
        }
        ValueKind::Number => write_number(out, value),
        ValueKind::String => match value.as_str() {
            Some(s) if value.is_safe() => {
                out.push_str(s);
                Ok(())
            }
            Some(s) => write_string(out, s),
            None => Err(LiteralError::Other(
                "a string value could not be read".to_string(),
            )),
        },
        ValueKind::Bytes => {
            let bytes = value.as_bytes().unwrap_or_default();
            out.push_str("E'\\\\x");
            for byte in bytes {
                out.push_str(&format!("{byte:02x}"));
            }
            out.push_str("'::bytea");
            Ok(())
        }
        ValueKind::Seq | ValueKind::Iterable => write_array(out, value, depth),
        ValueKind::Map => Err(LiteralError::Map),
        ValueKind::Invalid => Err(LiteralError::Other(format!(
            "an invalid value cannot be interpolated into SQL: {value:?}"
        ))),
        kind => Err(LiteralError::Unsupported(kind.to_string())),
    }
}

fn write_number(out: &mut String, value: &Value) -> Result<(), LiteralError> {
    if value.is_integer() {
        if let Ok(n) = i128::try_from(value.clone()) {
            if n < 0 {
                out.push_str(&format!("({n})"));
            } else {
                out.push_str(&n.to_string());
            }
            return Ok(());
        }
        if let Ok(n) = u128::try_from(value.clone()) {
            out.push_str(&n.to_string());
            return Ok(());
        }
    }
    let f = f64::try_from(value.clone())
        .map_err(|err| LiteralError::Other(format!("cannot read number `{value}`: {err}")))?;
    if f.is_nan() {
        out.push_str("'NaN'::float8");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 {
            "'Infinity'::float8"
        } else {
            "'-Infinity'::float8"
        });
    } else if f.is_sign_negative() {
        // `{:?}` is Rust's shortest round-trip form, switching to `1e300` for
        // very large or small magnitudes, which PostgreSQL reads as numeric.
        out.push_str(&format!("({f:?})"));
    } else {
        out.push_str(&format!("{f:?}"));
    }
    Ok(())
}

fn write_array(out: &mut String, value: &Value, depth: usize) -> Result<(), LiteralError> {
    if depth >= MAX_DEPTH {
        return Err(LiteralError::Other(format!(
            "a sequence nested deeper than {MAX_DEPTH} levels cannot be interpolated into SQL"
        )));
    }
    let items = value
        .try_iter()
        .map_err(|err| LiteralError::Other(format!("cannot iterate over the value: {err}")))?;
    let start = out.len();
    out.push_str("ARRAY[");
    let mut empty = true;
    for item in items {
        if !empty {
            out.push_str(", ");
        }
        empty = false;
        write_value(out, &item, depth + 1)?;
    }
    if empty {
        out.truncate(start);
        out.push_str("'{}'");
    } else {
        out.push(']');
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit<T: Into<Value>>(v: T) -> String {
        literal(&v.into()).unwrap()
    }

    #[test]
    fn plain_strings() {
        assert_eq!(lit("hello"), "'hello'");
        assert_eq!(lit(""), "''");
        assert_eq!(lit("o'brien"), "'o''brien'");
        assert_eq!(lit("'"), "''''");
        assert_eq!(lit("'; DROP TABLE x; --"), "'''; DROP TABLE x; --'");
        assert_eq!(lit("$$"), "'$$'");
        assert_eq!(lit("$tag$ x $tag$"), "'$tag$ x $tag$'");
        assert_eq!(lit("\"quoted\""), "'\"quoted\"'");
        assert_eq!(lit("/* c */ --"), "'/* c */ --'");
    }

    #[test]
    fn backslashes_use_escape_strings() {
        assert_eq!(lit("\\"), "E'\\\\'");
        assert_eq!(lit("a\\"), "E'a\\\\'");
        assert_eq!(lit("\\'"), "E'\\\\'''");
        assert_eq!(lit("E'\\\\'"), "E'E''\\\\\\\\'''");
        assert_eq!(lit("C:\\temp\\new"), "E'C:\\\\temp\\\\new'");
        assert_eq!(lit("\\x41"), "E'\\\\x41'");
    }

    #[test]
    fn unicode_and_control_characters_pass_through() {
        assert_eq!(lit("é"), "'é'");
        assert_eq!(lit("日本"), "'日本'");
        assert_eq!(lit("🦀 ok"), "'🦀 ok'");
        assert_eq!(lit("a\u{2028}b"), "'a\u{2028}b'");
        assert_eq!(lit("line1\nline2"), "'line1\nline2'");
        assert_eq!(lit("a\r\nb"), "'a\r\nb'");
        assert_eq!(lit("a\tb"), "'a\tb'");
        assert_eq!(lit("\u{7f}\u{1b}[0m"), "'\u{7f}\u{1b}[0m'");
    }

    #[test]
    fn nul_is_refused() {
        assert_eq!(literal(&Value::from("a\0b")), Err(LiteralError::NulByte));
        assert_eq!(
            literal(&Value::from(vec!["ok", "\0"])),
            Err(LiteralError::NulByte)
        );
        assert_eq!(
            LiteralError::NulByte.to_string(),
            "a string containing a NUL byte (`\\0`) cannot be sent to PostgreSQL"
        );
    }

    #[test]
    fn integers() {
        assert_eq!(lit(0), "0");
        assert_eq!(lit(42), "42");
        assert_eq!(lit(-5), "(-5)");
        assert_eq!(lit(i64::MAX), "9223372036854775807");
        assert_eq!(lit(i64::MIN), "(-9223372036854775808)");
        assert_eq!(lit(u64::MAX), "18446744073709551615");
        assert_eq!(lit(i128::MIN), "(-170141183460469231731687303715884105728)");
        assert_eq!(lit(u128::MAX), "340282366920938463463374607431768211455");
    }

    #[test]
    fn floats() {
        assert_eq!(lit(0.1), "0.1");
        assert_eq!(lit(1.0), "1.0");
        assert_eq!(lit(2.5), "2.5");
        assert_eq!(lit(1e300), "1e300");
        assert_eq!(lit(1e-7), "1e-7");
        assert_eq!(lit(5e-324), "5e-324");
        assert_eq!(lit(f64::MAX), "1.7976931348623157e308");
        assert_eq!(lit(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(lit(-0.0), "(-0.0)");
        assert_eq!(lit(-2.5), "(-2.5)");
        assert_eq!(lit(f64::NAN), "'NaN'::float8");
        assert_eq!(lit(f64::INFINITY), "'Infinity'::float8");
        assert_eq!(lit(f64::NEG_INFINITY), "'-Infinity'::float8");
    }

    #[test]
    fn scalars() {
        assert_eq!(lit(true), "TRUE");
        assert_eq!(lit(false), "FALSE");
        assert_eq!(lit(()), "NULL");
        assert_eq!(literal(&Value::UNDEFINED), Err(LiteralError::Undefined));
        assert_eq!(
            lit(Value::from_bytes(vec![0xde, 0xad, 0x00])),
            "E'\\\\xdead00'::bytea"
        );
    }

    #[test]
    fn sequences() {
        assert_eq!(
            lit(vec!["postgres", "o'brien"]),
            "ARRAY['postgres', 'o''brien']"
        );
        assert_eq!(lit(Vec::<i64>::new()), "'{}'");
        assert_eq!(lit(vec![1, -2, 3]), "ARRAY[1, (-2), 3]");
        assert_eq!(
            lit(vec![vec![1, 2], vec![3, 4]]),
            "ARRAY[ARRAY[1, 2], ARRAY[3, 4]]"
        );
        assert_eq!(
            lit(vec![Value::from("a"), Value::from(()), Value::from("b\\")]),
            "ARRAY['a', NULL, E'b\\\\']"
        );
        assert_eq!(
            lit(vec![
                Duration::from_secs(60).to_value(),
                Duration::from_secs(-1).to_value()
            ]),
            "ARRAY[interval '1 minute', interval '-1 second']"
        );
        let iterable = Value::make_iterable(|| vec![1, 2].into_iter());
        assert_eq!(lit(iterable), "ARRAY[1, 2]");
    }

    #[test]
    fn durations() {
        assert_eq!(
            lit(Duration::from_secs(3600).to_value()),
            "interval '1 hour'"
        );
        assert_eq!(
            lit(Duration::from_secs(5400).to_value()),
            "interval '1 hour 30 minutes'"
        );
        assert_eq!(
            lit(Duration::from_micros(500_000).to_value()),
            "interval '500 milliseconds'"
        );
        assert_eq!(lit(Duration::ZERO.to_value()), "interval '0 seconds'");
    }

    #[test]
    fn safe_strings_are_copied() {
        assert_eq!(
            lit(Value::from_safe_string("\"my table\"".to_string())),
            "\"my table\""
        );
        assert_eq!(
            lit(vec![Value::from_safe_string("now()".to_string())]),
            "ARRAY[now()]"
        );
    }

    #[test]
    fn maps_and_objects_are_refused() {
        let row = Value::from_pairs([("pid", 1)]);
        assert_eq!(literal(&row), Err(LiteralError::Map));
        assert_eq!(
            LiteralError::Map.to_string(),
            "a mapping cannot be interpolated into SQL; pick a column, e.g. `rows | map(attribute='pid') | list`"
        );
        assert_eq!(literal(&Value::from(vec![row])), Err(LiteralError::Map));
        let function = Value::from_function(|| 1);
        assert_eq!(
            literal(&function),
            Err(LiteralError::Unsupported("plain object".to_string()))
        );
    }

    #[test]
    fn identifiers() {
        assert_eq!(quote_ident("my table").unwrap(), "\"my table\"");
        assert_eq!(quote_ident("users").unwrap(), "\"users\"");
        assert_eq!(quote_ident("Mixed").unwrap(), "\"Mixed\"");
        assert_eq!(quote_ident("a\"b").unwrap(), "\"a\"\"b\"");
        assert_eq!(
            quote_ident("\"; DROP TABLE x; --").unwrap(),
            "\"\"\"; DROP TABLE x; --\""
        );
        assert_eq!(quote_ident("o'brien").unwrap(), "\"o'brien\"");
        assert_eq!(quote_ident("日本").unwrap(), "\"日本\"");
        assert_eq!(quote_ident(""), Err(LiteralError::EmptyIdentifier));
        assert_eq!(quote_ident("a\0"), Err(LiteralError::NulByte));
        assert_eq!(quote_ident(&"x".repeat(63)).unwrap().len(), 65);
        assert!(matches!(
            quote_ident(&"x".repeat(64)),
            Err(LiteralError::IdentifierTooLong { len: 64, .. })
        ));
    }
}
