//! Durations as playbooks write them (`30s`, `1h30m`), with one internal unit:
//! whole microseconds in an `i64`, the resolution of PostgreSQL's `interval`.
//!
//! Design choice: a single signed integer keeps comparison, hashing and the SQL
//! rendering exact (no floating point anywhere on the way to SQL). Calendar units
//! are deliberately absent from the playbook syntax: a day is always 24 hours
//! here, and the SQL literal never uses PostgreSQL's `days` field (which is a
//! calendar day, 23 or 25 hours across a daylight-saving change): `2d` and `48h`
//! both render as `interval '48 hours'`, elapsed time, which is what "idle for
//! more than 2d" means.
//!
//! A `Duration` is also a minijinja object: it renders as `1h 30m` in text
//! templates (as [`Duration::human`], the report's tables too), as `interval '1 hour 30 minutes'` in SQL templates (see
//! [`crate::sql::literal`]), compares with other durations in expressions, and is
//! false when zero.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use minijinja::Value;
use minijinja::value::{DynObject, Object, ObjectRepr};

const MICROS_PER_MILLI: i64 = 1_000;
const MICROS_PER_SEC: i64 = 1_000_000;
const MICROS_PER_MIN: i64 = 60 * MICROS_PER_SEC;
const MICROS_PER_HOUR: i64 = 60 * MICROS_PER_MIN;
const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;
const MICROS_PER_WEEK: i64 = 7 * MICROS_PER_DAY;
/// PostgreSQL's `DAYS_PER_MONTH` (30 days), used by `justify_days` and `extract(epoch ...)`.
const MICROS_PER_MONTH: i64 = 30 * MICROS_PER_DAY;
/// PostgreSQL's `DAYS_PER_YEAR` (365.25 days) in microseconds, used by `extract(epoch ...)`.
const MICROS_PER_YEAR: i64 = 36_525 * MICROS_PER_DAY / 100;

/// A unit used by [`Display`](fmt::Display) and [`Duration::to_sql_literal`].
#[derive(Clone, Copy)]
struct Unit {
    micros: u64,
    suffix: &'static str,
    singular: &'static str,
    plural: &'static str,
}

const fn unit(
    micros: i64,
    suffix: &'static str,
    singular: &'static str,
    plural: &'static str,
) -> Unit {
    Unit {
        micros: micros.unsigned_abs(),
        suffix,
        singular,
        plural,
    }
}

/// Largest first.
const UNITS: [Unit; 6] = [
    unit(MICROS_PER_DAY, "d", "day", "days"),
    unit(MICROS_PER_HOUR, "h", "hour", "hours"),
    unit(MICROS_PER_MIN, "m", "minute", "minutes"),
    unit(MICROS_PER_SEC, "s", "second", "seconds"),
    unit(MICROS_PER_MILLI, "ms", "millisecond", "milliseconds"),
    unit(1, "us", "microsecond", "microseconds"),
];

const HINT: &str = "use ms, s, m, h, d or w (for example `30s`, `15m`, `1h`, `2d`)";

/// A span of time as playbooks write it: `30s`, `15m`, `1h`, `2d`, `1h30m`, `500ms`, `1w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    micros: i64,
}

/// Why a playbook duration could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text was empty (or only a sign).
    #[error("invalid duration `{input}`: it is empty; {hint}", hint = HINT)]
    Empty { input: String },
    /// A number was followed by a unit that is not one of ms, s, m, h, d, w.
    #[error("invalid duration `{input}`: unknown unit `{unit}`; {hint}", hint = HINT)]
    UnknownUnit { input: String, unit: String },
    /// A number had no unit after it (`30`).
    #[error("invalid duration `{input}`: missing unit after `{number}`; {hint}", hint = HINT)]
    MissingUnit { input: String, number: String },
    /// A unit had no number before it (`h`, `1hm`).
    #[error("invalid duration `{input}`: missing number before `{unit}`; {hint}", hint = HINT)]
    MissingNumber { input: String, unit: String },
    /// A character that is neither a digit nor a unit letter (spaces, dots, signs).
    #[error(
        "invalid duration `{input}`: unexpected character `{ch}`; write whole numbers directly followed by their unit, without spaces, e.g. `1h30m`"
    )]
    UnexpectedChar { input: String, ch: char },
    /// The value does not fit (about ±292,000 years).
    #[error("invalid duration `{input}`: too large (at most about 292,000 years)")]
    Overflow { input: String },
}

impl Duration {
    /// The zero duration.
    pub const ZERO: Duration = Duration { micros: 0 };

    pub fn from_micros(micros: i64) -> Self {
        Duration { micros }
    }

    /// Whole seconds; saturates at the `i64` microsecond range.
    pub fn from_secs(secs: i64) -> Self {
        Duration {
            micros: secs.saturating_mul(MICROS_PER_SEC),
        }
    }

    pub fn as_micros(self) -> i64 {
        self.micros
    }

    pub fn as_secs_f64(self) -> f64 {
        self.micros as f64 / MICROS_PER_SEC as f64
    }

    /// The standard library duration; negative durations saturate at zero.
    pub fn as_std(self) -> std::time::Duration {
        match u64::try_from(self.micros) {
            Ok(micros) => std::time::Duration::from_micros(micros),
            Err(_) => std::time::Duration::ZERO,
        }
    }

    pub fn is_zero(self) -> bool {
        self.micros == 0
    }

    /// `interval '1 hour 30 minutes'` — the SQL literal.
    ///
    /// Always valid PostgreSQL interval input, microsecond exact, whatever the
    /// `IntervalStyle` (the postgres-style unit words are accepted by every
    /// style) and whatever `standard_conforming_strings` (no backslashes). The
    /// value is split greedily into days, hours, minutes, seconds, milliseconds
    /// and microseconds, keeping only non-zero parts. A negative duration puts a
    /// `-` on every part (`interval '-1 hour -30 minutes'`), because PostgreSQL
    /// reads each part's sign separately. Zero is `interval '0 seconds'`.
    pub fn to_sql_literal(self) -> String {
        let mut out = String::from("interval '");
        if self.micros == 0 {
            out.push_str("0 seconds");
        } else {
            let sign = if self.micros < 0 { "-" } else { "" };
            let mut first = true;
            for (count, unit) in split_units(self.micros.unsigned_abs(), &UNITS[1..]) {
                if !first {
                    out.push(' ');
                }
                first = false;
                let word = if count == 1 {
                    unit.singular
                } else {
                    unit.plural
                };
                out.push_str(&format!("{sign}{count} {word}"));
            }
        }
        out.push('\'');
        out
    }

    /// Parses PostgreSQL's interval text output (`IntervalStyle` `postgres`, the
    /// default), as returned for `now() - state_change`: `00:00:05.123456`,
    /// `1 day 02:03:04`, `-00:00:01`, `3 days`, `1 mon 2 days 03:00:00`,
    /// `2 years`, `-1 days +02:03:00`.
    ///
    /// Months and years have no fixed length; they are converted the way
    /// PostgreSQL's `extract(epoch from ...)` does: a month is 30 days and a year
    /// is 365.25 days (months are first folded into years, 12 to a year). Hours
    /// may exceed 24 (`25:00:00`). Returns `None` for anything that is not such an
    /// interval (including PostgreSQL 17's `infinity`) or that overflows.
    pub fn parse_postgres(text: &str) -> Option<Duration> {
        let mut months: i64 = 0;
        let mut days: i64 = 0;
        let mut time: i64 = 0;
        let mut seen_any = false;
        let mut seen_time = false;
        let mut tokens = text.split_whitespace();
        while let Some(token) = tokens.next() {
            seen_any = true;
            if token.contains(':') {
                if seen_time {
                    return None;
                }
                seen_time = true;
                time = parse_pg_time(token)?;
                continue;
            }
            let number = parse_signed(token)?;
            let unit = tokens.next()?;
            match unit {
                "year" | "years" => months = months.checked_add(number.checked_mul(12)?)?,
                "mon" | "mons" => months = months.checked_add(number)?,
                "day" | "days" => days = days.checked_add(number)?,
                _ => return None,
            }
        }
        if !seen_any {
            return None;
        }
        let years_part = (months / 12).checked_mul(MICROS_PER_YEAR)?;
        let months_part = (months % 12).checked_mul(MICROS_PER_MONTH)?;
        let days_part = days.checked_mul(MICROS_PER_DAY)?;
        let micros = years_part
            .checked_add(months_part)?
            .checked_add(days_part)?
            .checked_add(time)?;
        Some(Duration { micros })
    }

    /// This duration as a minijinja value (an object, see the module docs).
    pub fn to_value(self) -> Value {
        Value::from_object(self)
    }

    /// The duration inside a minijinja value made by [`Duration::to_value`].
    pub fn from_value(value: &Value) -> Option<Duration> {
        value.downcast_object_ref::<Duration>().copied()
    }

    /// As a person reads it, in messages and in the report's tables alike: the units of
    /// [`Display`](fmt::Display) spaced apart, humantime's way (`8s 616ms`, `1h 30m`, `2d 3h`),
    /// so an interval never reads `8s616ms16us` in one place and `00:00:08.616016` in another.
    ///
    /// Past a second it stops at milliseconds, past a minute at seconds: nobody on call acts
    /// on the microseconds of a five-minute wait.
    pub fn human(self) -> String {
        let magnitude = self.micros.unsigned_abs();
        let precision = match magnitude {
            0..1_000_000 => 1,
            1_000_000..60_000_000 => 1_000,
            _ => 1_000_000,
        };
        let shown = magnitude - magnitude % precision;
        if shown == 0 {
            return "0s".to_owned();
        }
        let parts: Vec<String> = split_units(shown, &UNITS)
            .into_iter()
            .map(|(count, unit)| format!("{count}{}", unit.suffix))
            .collect();
        let sign = if self.micros < 0 { "-" } else { "" };
        format!("{sign}{}", parts.join(" "))
    }
}

/// Splits an absolute number of microseconds into non-zero (count, unit) parts.
fn split_units(mut rest: u64, units: &[Unit]) -> Vec<(u64, Unit)> {
    let mut parts = Vec::new();
    for &unit in units {
        let count = rest / unit.micros;
        rest %= unit.micros;
        if count > 0 {
            parts.push((count, unit));
        }
    }
    parts
}

/// `12`, `-3`, `+4` as PostgreSQL prints the numeric part of `3 days`.
fn parse_signed(token: &str) -> Option<i64> {
    let (negative, digits) = match token.as_bytes().first()? {
        b'-' => (true, &token[1..]),
        b'+' => (false, &token[1..]),
        _ => (false, token),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i64 = digits.parse().ok()?;
    Some(if negative { -value } else { value })
}

/// `[+-]H+:MM:SS[.ffffff]` in microseconds.
fn parse_pg_time(token: &str) -> Option<i64> {
    let (negative, rest) = match token.as_bytes().first()? {
        b'-' => (true, &token[1..]),
        b'+' => (false, &token[1..]),
        _ => (false, token),
    };
    let mut fields = rest.split(':');
    let hours = fields.next()?;
    let minutes = fields.next()?;
    let seconds = fields.next()?;
    if fields.next().is_some() {
        return None;
    }
    let (whole_seconds, fraction) = match seconds.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (seconds, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(hours) || minutes.len() != 2 || !all_digits(minutes) {
        return None;
    }
    if whole_seconds.len() != 2 || !all_digits(whole_seconds) {
        return None;
    }
    let hours: i64 = hours.parse().ok()?;
    let minutes: i64 = minutes.parse().ok()?;
    let whole_seconds: i64 = whole_seconds.parse().ok()?;
    if minutes > 59 || whole_seconds > 59 {
        return None;
    }
    let mut micros: i64 = 0;
    if let Some(fraction) = fraction {
        if !all_digits(fraction) || fraction.len() > 6 {
            return None;
        }
        let scale = 10_i64.pow(6 - fraction.len() as u32);
        micros = fraction.parse::<i64>().ok()? * scale;
    }
    // In i128: the magnitude of i64::MIN itself does not fit an i64.
    let total = i128::from(hours) * i128::from(MICROS_PER_HOUR)
        + i128::from(minutes * MICROS_PER_MIN)
        + i128::from(whole_seconds * MICROS_PER_SEC)
        + i128::from(micros);
    i64::try_from(if negative { -total } else { total }).ok()
}

impl FromStr for Duration {
    type Err = DurationError;

    /// Playbook syntax: one or more `<integer><unit>` with units `ms`, `s`, `m`,
    /// `h`, `d`, `w` (and `us`, so that every [`Display`](fmt::Display) output
    /// parses back), no spaces, e.g. `1h30m`; a bare `0` is zero. A leading `-`
    /// negates the whole value. Parts add up, in any order.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let (negative, body) = match input.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, input),
        };
        if body.is_empty() {
            return Err(DurationError::Empty {
                input: input.to_string(),
            });
        }
        if body.bytes().all(|b| b.is_ascii_digit()) {
            if body.bytes().all(|b| b == b'0') {
                return Ok(Duration::ZERO);
            }
            return Err(DurationError::MissingUnit {
                input: input.to_string(),
                number: body.to_string(),
            });
        }
        // Accumulate the magnitude in i128 so that `-` can reach i64::MIN.
        let limit: i128 = if negative {
            i128::from(i64::MAX) + 1
        } else {
            i128::from(i64::MAX)
        };
        let overflow = || DurationError::Overflow {
            input: input.to_string(),
        };
        let mut total: i128 = 0;
        let mut rest = body;
        while !rest.is_empty() {
            let (digits, size, after) = next_part(input, rest)?;
            // More than 39 digits cannot fit an i128 and is far beyond the limit anyway.
            let count: i128 = digits.parse().map_err(|_| overflow())?;
            total = count
                .checked_mul(i128::from(size))
                .and_then(|part| total.checked_add(part))
                .filter(|t| *t <= limit)
                .ok_or_else(overflow)?;
            rest = after;
        }
        let signed = if negative { -total } else { total };
        let micros = i64::try_from(signed).map_err(|_| overflow())?;
        Ok(Duration { micros })
    }
}

/// The first `<integer><unit>` of `rest` (a part of `input`): its digits, the unit's size in
/// microseconds, and what follows.
fn next_part<'a>(input: &str, rest: &'a str) -> Result<(&'a str, i64, &'a str), DurationError> {
    let digits_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (digits, after) = rest.split_at(digits_len);
    let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
    let (unit, after) = after.split_at(unit_len);
    if digits.is_empty() {
        if unit.is_empty() {
            // Neither a digit nor a letter: report the character itself.
            let ch = rest.chars().next().unwrap_or(' ');
            return Err(DurationError::UnexpectedChar {
                input: input.to_string(),
                ch,
            });
        }
        return Err(DurationError::MissingNumber {
            input: input.to_string(),
            unit: unit.to_string(),
        });
    }
    if unit.is_empty() {
        if let Some(ch) = after.chars().next() {
            return Err(DurationError::UnexpectedChar {
                input: input.to_string(),
                ch,
            });
        }
        return Err(DurationError::MissingUnit {
            input: input.to_string(),
            number: digits.to_string(),
        });
    }
    let size = match unit {
        "us" => 1,
        "ms" => MICROS_PER_MILLI,
        "s" => MICROS_PER_SEC,
        "m" => MICROS_PER_MIN,
        "h" => MICROS_PER_HOUR,
        "d" => MICROS_PER_DAY,
        "w" => MICROS_PER_WEEK,
        _ => {
            return Err(DurationError::UnknownUnit {
                input: input.to_string(),
                unit: unit.to_string(),
            });
        }
    };
    Ok((digits, size, after))
}

impl fmt::Display for Duration {
    /// Canonical compact form: `1h30m`, `2d`, `500ms`, `0s`, `-1h30m`; weeks are
    /// written as days (`14d`), sub-millisecond rests as `us`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.micros == 0 {
            return f.write_str("0s");
        }
        if self.micros < 0 {
            f.write_str("-")?;
        }
        for (count, unit) in split_units(self.micros.unsigned_abs(), &UNITS) {
            write!(f, "{count}{}", unit.suffix)?;
        }
        Ok(())
    }
}

impl serde::Serialize for Duration {
    /// The [`Display`](fmt::Display) string (`1h30m`); when minijinja converts a
    /// serde value into a template value, the duration object itself, so that a
    /// params struct holding durations keeps them comparable and renders them
    /// as intervals in SQL templates.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if minijinja::value::serializing_for_value() {
            self.to_value().serialize(serializer)
        } else {
            serializer.collect_str(self)
        }
    }
}

impl Object for Duration {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    /// `seconds` (float) and `milliseconds` (integer, truncated toward zero; handy
    /// for `SET statement_timeout = {{ d.milliseconds }}`).
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "seconds" => Some(Value::from(self.as_secs_f64())),
            "milliseconds" => Some(Value::from(self.micros / MICROS_PER_MILLI)),
            _ => None,
        }
    }

    fn is_true(self: &Arc<Self>) -> bool {
        self.micros != 0
    }

    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        let other = other.downcast_ref::<Duration>()?;
        Some(self.micros.cmp(&other.micros))
    }

    /// In text templates (titles, messages): [`Duration::human`].
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.human())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Duration {
        s.parse().unwrap()
    }

    #[test]
    fn parses_playbook_syntax() {
        assert_eq!(d("30s"), Duration::from_secs(30));
        assert_eq!(d("15m"), Duration::from_secs(900));
        assert_eq!(d("1h"), Duration::from_secs(3600));
        assert_eq!(d("2d"), Duration::from_secs(172_800));
        assert_eq!(d("1w"), Duration::from_secs(604_800));
        assert_eq!(d("1h30m"), Duration::from_secs(5400));
        assert_eq!(d("500ms"), Duration::from_micros(500_000));
        assert_eq!(d("7us"), Duration::from_micros(7));
        assert_eq!(d("0"), Duration::ZERO);
        assert_eq!(d("0s"), Duration::ZERO);
        assert_eq!(d("-1h30m"), Duration::from_secs(-5400));
        assert_eq!(d("30m1h"), Duration::from_secs(5400));
        assert_eq!(d("1m1ms"), Duration::from_micros(60_001_000));
    }

    #[test]
    fn rejects_bad_input_with_clear_messages() {
        let err = |s: &str| s.parse::<Duration>().unwrap_err().to_string();
        assert_eq!(
            err("5x"),
            "invalid duration `5x`: unknown unit `x`; use ms, s, m, h, d or w (for example `30s`, `15m`, `1h`, `2d`)"
        );
        assert!(err("").starts_with("invalid duration ``: it is empty;"));
        assert!(err("-").starts_with("invalid duration `-`: it is empty;"));
        assert!(err("30").starts_with("invalid duration `30`: missing unit after `30`;"));
        assert!(err("h").starts_with("invalid duration `h`: missing number before `h`;"));
        assert!(err("1hm").contains("unknown unit `hm`"));
        assert!(err("m1").starts_with("invalid duration `m1`: missing number before `m`;"));
        assert!(err("1h 30m").starts_with("invalid duration `1h 30m`: unexpected character ` `"));
        assert!(err(" 1h").contains("unexpected character ` `"));
        assert!(err("1.5h").contains("unexpected character `.`"));
        assert!(err("+1h").contains("unexpected character `+`"));
        assert!(err("1H").contains("unknown unit `H`"));
        assert!(err("1sec").contains("unknown unit `sec`"));
        assert!(err("10").contains("missing unit after `10`"));
        assert!(err("1h30").contains("missing unit after `30`"));
        assert_eq!(
            err("99999999999999999999d"),
            "invalid duration `99999999999999999999d`: too large (at most about 292,000 years)"
        );
        assert!(err("15250285w").contains("too large"));
        assert!(err(&"9".repeat(60)).contains("missing unit"));
        assert!(err(&format!("{}s", "9".repeat(60))).contains("too large"));
    }

    #[test]
    fn overflow_edges() {
        assert_eq!(d("9223372036854775807us"), Duration::from_micros(i64::MAX));
        assert!("9223372036854775808us".parse::<Duration>().is_err());
        assert_eq!(d("-9223372036854775808us"), Duration::from_micros(i64::MIN));
        assert!("-9223372036854775809us".parse::<Duration>().is_err());
    }

    #[test]
    fn display_is_canonical_and_round_trips() {
        let cases = [
            (Duration::from_secs(5400), "1h30m"),
            (Duration::from_secs(172_800), "2d"),
            (Duration::from_secs(1_209_600), "14d"),
            (Duration::from_micros(500_000), "500ms"),
            (Duration::ZERO, "0s"),
            (Duration::from_secs(-5400), "-1h30m"),
            (Duration::from_micros(5_123_456), "5s123ms456us"),
            (Duration::from_secs(90_061), "1d1h1m1s"),
            (Duration::from_micros(i64::MAX), "106751991d4h54s775ms807us"),
            (
                Duration::from_micros(i64::MIN),
                "-106751991d4h54s775ms808us",
            ),
        ];
        for (duration, text) in cases {
            assert_eq!(duration.to_string(), text);
            assert_eq!(d(text), duration, "{text} round trip");
        }
    }

    #[test]
    fn sql_literals() {
        assert_eq!(d("1h").to_sql_literal(), "interval '1 hour'");
        assert_eq!(d("1h30m").to_sql_literal(), "interval '1 hour 30 minutes'");
        assert_eq!(d("2d").to_sql_literal(), "interval '48 hours'");
        assert_eq!(d("1w").to_sql_literal(), "interval '168 hours'");
        assert_eq!(d("24h").to_sql_literal(), "interval '24 hours'");
        assert_eq!(d("500ms").to_sql_literal(), "interval '500 milliseconds'");
        assert_eq!(d("0").to_sql_literal(), "interval '0 seconds'");
        assert_eq!(d("1s").to_sql_literal(), "interval '1 second'");
        assert_eq!(d("1m").to_sql_literal(), "interval '1 minute'");
        assert_eq!(d("1d").to_sql_literal(), "interval '24 hours'");
        assert_eq!(
            d("-1h30m").to_sql_literal(),
            "interval '-1 hour -30 minutes'"
        );
        assert_eq!(
            Duration::from_micros(1_001).to_sql_literal(),
            "interval '1 millisecond 1 microsecond'"
        );
        assert_eq!(
            Duration::from_micros(i64::MIN).to_sql_literal(),
            "interval '-2562047788 hours -54 seconds -775 milliseconds -808 microseconds'"
        );
    }

    #[test]
    fn parses_postgres_output() {
        let p = |s: &str| Duration::parse_postgres(s);
        assert_eq!(p("00:00:05.123456"), Some(Duration::from_micros(5_123_456)));
        assert_eq!(p("00:00:05.5"), Some(Duration::from_micros(5_500_000)));
        assert_eq!(p("1 day 02:03:04"), Some(Duration::from_secs(93_784)));
        assert_eq!(p("-00:00:01"), Some(Duration::from_secs(-1)));
        assert_eq!(p("3 days"), Some(Duration::from_secs(3 * 86_400)));
        assert_eq!(p("-1 days"), Some(Duration::from_secs(-86_400)));
        assert_eq!(
            p("1 mon 2 days 03:00:00"),
            Some(Duration::from_secs(32 * 86_400 + 3 * 3600))
        );
        assert_eq!(p("2 years"), Some(Duration::from_secs(2 * 31_557_600)));
        assert_eq!(
            p("1 year 2 mons"),
            Some(Duration::from_secs(31_557_600 + 60 * 86_400))
        );
        // 14 months are folded into 1 year 2 months, as PostgreSQL's epoch does.
        assert_eq!(p("14 mons"), p("1 year 2 mons"));
        assert_eq!(
            p("-1 days +02:03:00"),
            Some(Duration::from_secs(-86_400 + 2 * 3600 + 3 * 60))
        );
        assert_eq!(p("25:00:00"), Some(Duration::from_secs(25 * 3600)));
        assert_eq!(p("00:00:00"), Some(Duration::ZERO));
        assert_eq!(p("  00:01:00 \n"), Some(Duration::from_secs(60)));
        for bad in [
            "",
            "   ",
            "1h",
            "3",
            "3 weeks",
            "infinity",
            "00:00",
            "00:60:00",
            "00:00:05.1234567",
            "00:00:05.",
            "1 day 00:00:00 00:00:00",
            "x day",
            "@ 1 hour",
            "99999999999999 years",
        ] {
            assert_eq!(p(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn std_conversion_saturates() {
        assert_eq!(d("1h30m").as_std(), std::time::Duration::from_secs(5400));
        assert_eq!(d("-1s").as_std(), std::time::Duration::ZERO);
        assert_eq!(d("1500ms").as_secs_f64(), 1.5);
        assert_eq!(Duration::from_secs(i64::MAX).as_micros(), i64::MAX);
    }

    #[test]
    fn serializes_as_display_string() {
        assert_eq!(serde_json::to_string(&d("1h30m")).unwrap(), "\"1h30m\"");
        // Into a minijinja value it stays an object.
        let value = Value::from(minijinja::value::Serde(d("1h")));
        assert_eq!(Duration::from_value(&value), Some(d("1h")));
        #[derive(serde::Serialize)]
        struct Params {
            idle_after: Duration,
        }
        let value = Value::from(minijinja::value::Serde(Params {
            idle_after: d("2m"),
        }));
        let inner = value.get_attr("idle_after").unwrap();
        assert_eq!(Duration::from_value(&inner), Some(d("2m")));
    }

    #[test]
    fn minijinja_object_behaviour() {
        let env = minijinja::Environment::new();
        let ctx = minijinja::context! {
            a => d("2h").to_value(),
            b => d("1h").to_value(),
            c => d("1h").to_value(),
            z => Duration::ZERO.to_value(),
        };
        let eval = |expr: &str| {
            env.compile_expression(expr)
                .unwrap()
                .eval(ctx.clone())
                .unwrap()
        };
        assert!(eval("a > b").is_true());
        assert!(!eval("b > a").is_true());
        assert!(eval("b == c").is_true());
        assert!(eval("b >= c").is_true());
        assert!(!eval("z").is_true());
        assert!(eval("a").is_true());
        assert_eq!(eval("a.seconds"), Value::from(7200.0));
        assert_eq!(eval("a.milliseconds"), Value::from(7_200_000));
        let text = env
            .render_str("older than {{ b }} ({{ a.seconds }}s)", ctx.clone())
            .unwrap();
        assert_eq!(text, "older than 1h (7200.0s)");
        assert_eq!(Duration::from_value(&Value::from(5)), None);
    }

    #[test]
    fn people_read_durations_spaced_and_the_server_interval_alike() {
        assert_eq!(d("1h30m").human(), "1h 30m");
        assert_eq!(Duration::ZERO.human(), "0s");
        assert_eq!(d("-1h30m").human(), "-1h 30m");
        assert_eq!(Duration::from_micros(1_016).human(), "1ms 16us");
        assert_eq!(Duration::from_micros(125_500_000).human(), "2m 5s");
        let interval = Duration::parse_postgres("00:00:08.616016").unwrap();
        assert_eq!(interval.human(), "8s 616ms");
        let env = minijinja::Environment::new();
        let ctx = minijinja::context! { waited => interval.to_value() };
        let text = env.render_str("waited {{ waited }}", ctx).unwrap();
        assert_eq!(text, "waited 8s 616ms");
    }
}
