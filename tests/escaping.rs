//! Round trip of `sql_literal` through the real PostgreSQL: every literal is sent
//! with the `psql` binary and the value PostgreSQL reads is compared, byte for
//! byte, with the original.
//!
//! Design choice: `psql` through `std::process::Command` (the crate has no
//! database driver yet), one session per query. Each case also runs after
//! `SET standard_conforming_strings = off` sent as its own `-c` command: sent in
//! the same query string, the SET would come too late, because PostgreSQL lexes
//! the whole string before executing any of it. If `psql` or the server is not
//! available the tests fail with a message saying so; they never skip.

use std::process::Command;

use minijinja::Value;
use runbook::duration::Duration;
use runbook::sql::literal::literal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The server default, `standard_conforming_strings = on`.
    Standard,
    /// `standard_conforming_strings = off`, where backslashes in `'...'` escape.
    Legacy,
}

const MODES: [Mode; 2] = [Mode::Standard, Mode::Legacy];

/// Runs `sql` with psql in `mode`; returns stdout without the trailing newline.
fn psql(sql: &str, mode: Mode) -> String {
    let mut command = Command::new("psql");
    command.args([
        "-X",
        "-A",
        "-t",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "/var/run/postgresql",
        "-d",
        "postgres",
    ]);
    if mode == Mode::Legacy {
        command.args(["-c", "SET standard_conforming_strings = off"]);
    }
    command.args(["-c", sql]);
    let output = command.output().unwrap_or_else(|err| {
        panic!(
            "cannot run `psql` ({err}): these tests need the PostgreSQL client and a server on \
             /var/run/postgresql (start it with `pg_ctlcluster --skip-systemctl-redirect \
             $(ls /etc/postgresql) main start`)"
        )
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "psql failed ({}) in {mode:?} mode; is PostgreSQL running on /var/run/postgresql?\n\
         stderr: {stderr}\nsql: {sql}",
        output.status
    );
    stdout.strip_suffix('\n').unwrap_or(&stdout).to_string()
}

fn lit(value: impl Into<Value>) -> String {
    let value = value.into();
    literal(&value).unwrap_or_else(|err| panic!("no literal for {value:?}: {err}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A deterministic 10 KB string of printable ASCII, rich in quotes and backslashes.
fn long_ascii() -> String {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = String::with_capacity(10 * 1024);
    while out.len() < 10 * 1024 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let n = (state >> 33) % 100;
        out.push(match n {
            0..=7 => '\'',
            8..=15 => '\\',
            16..=18 => '$',
            19..=20 => '"',
            _ => char::from(b' ' + (n % 95) as u8),
        });
    }
    out
}

fn hostile_strings() -> Vec<String> {
    let mut strings: Vec<String> = [
        "'; DROP TABLE x; --",
        "$$",
        "$tag$",
        "$tag$ body $tag$",
        "E'\\\\'",
        "\\",
        "trailing\\",
        "\\'",
        "\\\\'",
        "''",
        "'",
        "o'brien",
        "é",
        "日本",
        "🦀🐘",
        "line\u{2028}separator",
        "a\nb",
        "a\r\nb",
        "\n",
        "\r",
        "\t",
        "tab\there",
        "\\x41\\n\\t\\u0041",
        ":foo :'bar' :\"baz\"",
        "/* not a comment */ -- nor this",
        "\u{7f}\u{1b}[31m",
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    strings.push(long_ascii());
    strings
}

#[test]
fn legacy_mode_is_really_in_effect() {
    // Proves the SET reaches the lexer: `'\x41'` is `A` only with the setting off.
    assert_eq!(
        psql(
            "SELECT current_setting('standard_conforming_strings') || '|' || '\\x41'",
            Mode::Legacy
        ),
        "off|A"
    );
    assert_eq!(
        psql(
            "SELECT current_setting('standard_conforming_strings') || '|' || '\\x41'",
            Mode::Standard
        ),
        "on|\\x41"
    );
}

#[test]
fn hostile_strings_round_trip() {
    for mode in MODES {
        for s in hostile_strings() {
            let sql = format!(
                "SELECT encode(convert_to({}, 'UTF8'), 'hex')",
                lit(s.as_str())
            );
            let got = psql(&sql, mode);
            assert_eq!(got, hex(s.as_bytes()), "{mode:?} mode, string {s:?}");
        }
    }
}

#[test]
fn nul_is_refused_before_reaching_the_server() {
    assert!(literal(&Value::from("a\0b")).is_err());
}

#[test]
fn hostile_strings_in_an_array_round_trip() {
    let strings = hostile_strings();
    let expected: Vec<String> = strings.iter().map(|s| hex(s.as_bytes())).collect();
    for mode in MODES {
        let sql = format!(
            "SELECT encode(convert_to(x, 'UTF8'), 'hex') \
             FROM unnest({}::text[]) WITH ORDINALITY AS t(x, n) ORDER BY n",
            lit(strings.clone())
        );
        let got = psql(&sql, mode);
        let got: Vec<&str> = got.split('\n').collect();
        assert_eq!(got, expected, "{mode:?} mode");
    }
}

#[test]
fn numbers_round_trip() {
    let cases: Vec<(Value, &str)> = vec![
        (Value::from(0), "0"),
        (Value::from(42), "42"),
        (Value::from(-5), "-5"),
        (Value::from(i64::MAX), "9223372036854775807"),
        (Value::from(i64::MIN), "-9223372036854775808"),
        (Value::from(u64::MAX), "18446744073709551615"),
        (Value::from(0.1), "0.1"),
        (Value::from(2.5), "2.5"),
        (Value::from(-2.5), "-2.5"),
        (Value::from(1.0), "1.0"),
        (Value::from(-0.0), "0.0"),
        (Value::from(0.1 + 0.2), "0.30000000000000004"),
        (Value::from(f64::NAN), "NaN"),
        (Value::from(f64::INFINITY), "Infinity"),
        (Value::from(f64::NEG_INFINITY), "-Infinity"),
    ];
    for mode in MODES {
        for (value, expected) in &cases {
            let sql = format!("SELECT ({})::text", lit(value.clone()));
            assert_eq!(psql(&sql, mode), *expected, "{mode:?} mode, {value:?}");
        }
    }
    // Floats read back as exactly the same float8 (PostgreSQL prints the
    // shortest exact form).
    let floats = [
        (0.1, "0.1"),
        (1e300, "1e+300"),
        (1e-7, "1e-07"),
        (5e-324, "5e-324"),
        (f64::MAX, "1.7976931348623157e+308"),
        (-1e-300, "-1e-300"),
        (123_456_789.125, "123456789.125"),
    ];
    for (value, expected) in floats {
        let sql = format!("SELECT ({})::float8::text", lit(value));
        assert_eq!(psql(&sql, Mode::Standard), expected, "{value:?}");
    }
    // A negative number after a minus sign must not open a `--` comment, and
    // keeps its meaning before a cast.
    let sql = format!("SELECT (1 -{})::text || '|' || {}::text", lit(-5), lit(-5));
    assert_eq!(psql(&sql, Mode::Standard), "6|-5");
}

#[test]
fn booleans_and_null_round_trip() {
    for mode in MODES {
        assert_eq!(psql(&format!("SELECT ({})::text", lit(true)), mode), "true");
        assert_eq!(
            psql(&format!("SELECT ({})::text", lit(false)), mode),
            "false"
        );
        assert_eq!(psql(&format!("SELECT ({}) IS NULL", lit(())), mode), "t");
    }
}

#[test]
fn arrays_round_trip() {
    for mode in MODES {
        let strings = lit(vec!["postgres", "o'brien", "back\\slash", "日本"]);
        assert_eq!(
            psql(&format!("SELECT array_to_json({strings})::text"), mode),
            r#"["postgres","o'brien","back\\slash","日本"]"#
        );
        let nested = lit(vec![vec![1, -2], vec![3, 4]]);
        assert_eq!(
            psql(&format!("SELECT array_to_json({nested})::text"), mode),
            "[[1,-2],[3,4]]"
        );
        let empty = lit(Vec::<String>::new());
        assert_eq!(psql(&format!("SELECT ({empty})::text[]::text"), mode), "{}");
        assert_eq!(
            psql(
                &format!(
                    "SELECT 'x'::name <> ALL({empty}) AND 1 = ANY({})",
                    lit(vec![1, 2])
                ),
                mode
            ),
            "t"
        );
        let mixed = lit(vec![Value::from("a"), Value::from(())]);
        assert_eq!(
            psql(&format!("SELECT array_to_json({mixed})::text"), mode),
            r#"["a",null]"#
        );
    }
}

fn epoch_text(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    format!("{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
}

#[test]
fn durations_round_trip() {
    let durations: Vec<Duration> = [
        "0",
        "1h",
        "1h30m",
        "2d",
        "1w",
        "500ms",
        "1s500ms",
        "-90m",
        "-1s",
        "5s123ms456us",
        "1us",
        "25h",
        "1d1h1m1s1ms1us",
    ]
    .iter()
    .map(|s| s.parse().unwrap_or_else(|err| panic!("{err}")))
    .chain([
        Duration::from_micros(i64::MAX),
        Duration::from_micros(i64::MIN),
    ])
    .collect();
    for mode in MODES {
        for duration in &durations {
            let sql = format!(
                "SELECT extract(epoch from {})::text",
                lit(duration.to_value())
            );
            assert_eq!(
                psql(&sql, mode),
                epoch_text(duration.as_micros()),
                "{mode:?} mode, {duration}"
            );
        }
    }
    // PostgreSQL's own text output parses back to the same duration.
    for duration in &durations {
        let text = psql(
            &format!("SELECT ({})::text", duration.to_sql_literal()),
            Mode::Standard,
        );
        assert_eq!(
            Duration::parse_postgres(&text),
            Some(*duration),
            "{duration} printed by PostgreSQL as {text:?}"
        );
    }
}

#[test]
fn parse_postgres_agrees_with_extract_epoch() {
    let intervals = [
        "interval '1 day' - interval '1 hour'",
        "interval '-1 day' + interval '2 hours 3 minutes'",
        "interval '1 mon 2 days 3 hours'",
        "interval '14 months'",
        "interval '2 years'",
        "interval '-1 year 1 day'",
        "interval '1 year -1 day'",
        "interval '-1 day -1 second'",
        "interval '5.123456 seconds'",
        "interval '0.5 seconds'",
        "interval '100 hours'",
        "interval '0'",
        "timestamptz '2024-01-01 00:00:00+00' - timestamptz '2023-12-30 22:59:58.5+00'",
    ];
    for interval in intervals {
        let got = psql(
            &format!("SELECT ({interval})::text || '|' || extract(epoch from {interval})::text"),
            Mode::Standard,
        );
        let (text, epoch) = got
            .split_once('|')
            .unwrap_or_else(|| panic!("unexpected psql output {got:?}"));
        let duration = Duration::parse_postgres(text)
            .unwrap_or_else(|| panic!("{interval}: cannot parse PostgreSQL's {text:?}"));
        assert_eq!(
            epoch_text(duration.as_micros()),
            epoch,
            "{interval} = {text:?}"
        );
    }
}
