//! Issue 18: the whole screen of `runbook run daily-monitoring` and of an emergency `--dry-run`
//! at an 80-column terminal, compared with the snapshots in `tests/snapshots/`, so a changed
//! word, column or line on the responder's screen is seen in review.
//!
//! The screen is what a terminal shows once everything is drawn (a vt100 emulator obeys the
//! escape sequences, so spinners are gone), with what varies from run to run normalised
//! ([`normalise`]): the test's own sessions by their part in the scene, other pids, ages and
//! durations, timestamps, the runs of spaces that align columns whose widths follow them, and
//! where a cell fitted to the width was cut. The scene's sessions are the test's own, in its
//! own database (`--var database=NAME`), so what the playbooks find is the same every run.
//!
//! Regenerate the snapshots with
//! `RUNBOOK_UPDATE_SNAPSHOTS=1 cargo test --test integration screen_snapshots::`.

use std::path::PathBuf;

use crate::common::pty::Pty;
use crate::common::root;
use crate::screen::Scene;

/// The lines the run left on the terminal, as it wrote them (a line the terminal wraps at 80
/// columns is one line here, so a pid is never cut in two), without trailing empty ones.
fn whole_screen(pty: &Pty) -> String {
    let mut lines: Vec<String> = pty
        .lines()
        .into_iter()
        .map(|line| line.trim_end().to_owned())
        .collect();
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines.join("\n") + "\n"
}

/// What a snapshot names instead of what varies: the test's sessions by their part in the
/// scene, and its database by `<db>`.
struct Known<'a> {
    pids: &'a [(i32, &'a str)],
    texts: &'a [(String, &'a str)],
}

/// `screen` with what varies between runs replaced: the `known` texts and pids by their names
/// (`<db>`, `<holder>`), timestamps by `<time>`, durations and ages (`8s 616ms`, `12 ms`,
/// `1.2 s`, `2 min 5 s`, `00:00:08.6`) by `<age>`, other numbers of four or more digits by
/// `<n>`, and so every number of a table's line (xmin ages, counts server-wide) and of a line
/// about the whole server; a cell cut to fit (`UPDATE t SET…`) by `…`; and each run of spaces
/// between columns by two spaces.
fn normalise(screen: &str, known: &Known) -> String {
    screen
        .lines()
        .map(|line| {
            let mut line = line.to_owned();
            for (text, name) in known.texts {
                line = line.replace(text.as_str(), name);
            }
            let line = timestamps(&line);
            let line = durations(&line);
            // A status line cut to the width may have lost its "server-wide": its slots are.
            let everywhere =
                is_table(&line) || line.contains("server-wide") || line.contains(" usable");
            // A status line's `[5/6]` stays.
            let counter = match line.trim_start().starts_with('[') {
                true => line.find(']').map_or(0, |at| at + 1),
                false => 0,
            };
            let (counter, rest) = line.split_at(counter);
            let line = format!("{counter}{}", numbers(rest, known.pids, everywhere));
            let line = cuts(&line);
            spaces(&line)
        })
        .collect::<Vec<_>>()
        .join("\n")
        + if screen.ends_with('\n') { "\n" } else { "" }
}

/// A line of a table below a step's status line: its columns apart by two spaces or more,
/// or a one-row table's `name value · name value`.
fn is_table(line: &str) -> bool {
    let body = line.trim_start();
    !body.starts_with('[') && (body.contains("  ") || body.contains(" · "))
}

/// Splits `line` into runs of digits and runs of anything else.
fn runs(line: &str) -> Vec<&str> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut digits = None;
    for (at, c) in line.char_indices() {
        let is_digit = c.is_ascii_digit();
        if digits.is_some_and(|d| d != is_digit) {
            runs.push(&line[start..at]);
            start = at;
        }
        digits = Some(is_digit);
    }
    if start < line.len() {
        runs.push(&line[start..]);
    }
    runs
}

fn is_digits(run: &str) -> bool {
    !run.is_empty() && run.bytes().all(|b| b.is_ascii_digit())
}

/// `2026-12-03 12:36:03.031135+00`, `2026-12-03T12:36:10Z` → `<time>`.
fn timestamps(line: &str) -> String {
    let bytes = line.as_bytes();
    let shape = |at: usize, pattern: &str| {
        pattern.bytes().enumerate().all(|(i, p)| {
            bytes.get(at + i).is_some_and(|b| match p {
                b'9' => b.is_ascii_digit(),
                b'T' => *b == b'T' || *b == b' ',
                p => *b == p,
            })
        })
    };
    let mut out = String::new();
    let mut at = 0;
    while at < line.len() {
        if line.is_char_boundary(at) && shape(at, "9999-99-99T99:99:99") {
            let mut end = at + 19;
            let take = |end: &mut usize, f: &dyn Fn(u8) -> bool| {
                while bytes.get(*end).is_some_and(|b| f(*b)) {
                    *end += 1;
                }
            };
            if bytes.get(end) == Some(&b'.') {
                end += 1;
                take(&mut end, &|b| b.is_ascii_digit());
            }
            match bytes.get(end) {
                Some(b'Z') => end += 1,
                Some(b'+' | b'-') => {
                    end += 1;
                    take(&mut end, &|b| b.is_ascii_digit() || b == b':');
                }
                _ => {}
            }
            out.push_str("<time>");
            at = end;
            continue;
        }
        let c = line[at..].chars().next().unwrap_or_default();
        out.push(c);
        at += c.len_utf8().max(1);
    }
    out
}

/// The units a duration is written in, longest first so `ms` is not read as `m` then `s`.
const UNITS: [&str; 9] = ["min", "ms", "us", "µs", "h", "m", "s", "d", "y"];

/// The length of the duration `text` starts with (`8s 616ms`, `12 ms`, `00:00:08.616`), if any.
fn duration_at(text: &str) -> Option<usize> {
    let clock = clock_at(text);
    if clock.is_some() {
        return clock;
    }
    let mut end = 0;
    let mut rest = text;
    loop {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 || !rest.as_bytes()[0].is_ascii_digit() {
            break;
        }
        let after = &rest[digits..];
        let (gap, after) = match after.strip_prefix(' ') {
            Some(after) => (1, after),
            None => (0, after),
        };
        let unit = UNITS.iter().find(|unit| {
            after.starts_with(**unit)
                && !after[unit.len()..]
                    .chars()
                    .next()
                    .is_some_and(char::is_alphanumeric)
        })?;
        let length = digits + gap + unit.len();
        end += length;
        rest = &rest[length..];
        // Another part follows after one space (`8s 616ms`, `2 min 5 s`).
        match rest.strip_prefix(' ') {
            Some(next) if next.starts_with(|c: char| c.is_ascii_digit()) => {
                if duration_at_part(next) {
                    end += 1;
                    rest = next;
                    continue;
                }
                break;
            }
            _ => break,
        }
    }
    (end > 0).then_some(end)
}

/// Whether `text` starts with one number-and-unit part.
fn duration_at_part(text: &str) -> bool {
    let digits = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let after = &text[digits..];
    let after = after.strip_prefix(' ').unwrap_or(after);
    UNITS.iter().any(|unit| {
        after.starts_with(*unit)
            && !after[unit.len()..]
                .chars()
                .next()
                .is_some_and(char::is_alphanumeric)
    })
}

/// `00:00:08.616016` or `1 day 02:03:04`'s clock: `99:99:99` and an optional fraction.
fn clock_at(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let shape = "99:99:99";
    let fits = shape.bytes().enumerate().all(|(i, p)| {
        bytes.get(i).is_some_and(|b| {
            if p == b'9' {
                b.is_ascii_digit()
            } else {
                *b == p
            }
        })
    });
    if !fits {
        return None;
    }
    let mut end = shape.len();
    if bytes.get(end) == Some(&b'.') {
        end += 1;
        while bytes.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
    }
    Some(end)
}

fn durations(line: &str) -> String {
    let mut out = String::new();
    let mut at = 0;
    let mut previous: Option<char> = None;
    while at < line.len() {
        let starts_word = !previous.is_some_and(|c| c.is_alphanumeric() || c == '.');
        if starts_word && let Some(length) = duration_at(&line[at..]) {
            out.push_str("<age>");
            at += length;
            previous = Some('>');
            continue;
        }
        let c = line[at..].chars().next().unwrap_or_default();
        out.push(c);
        previous = Some(c);
        at += c.len_utf8().max(1);
    }
    out
}

/// Known pids by their names; other numbers of four or more digits, or all of them when
/// `everywhere`, by `<n>`.
fn numbers(line: &str, named: &[(i32, &str)], everywhere: bool) -> String {
    runs(line)
        .iter()
        .map(|run| {
            if !is_digits(run) {
                return (*run).to_owned();
            }
            match named.iter().find(|(pid, _)| pid.to_string() == *run) {
                Some((_, name)) => format!("<{name}>"),
                None if everywhere || run.len() >= 4 => "<n>".to_owned(),
                None => (*run).to_owned(),
            }
        })
        .collect()
}

/// A cell cut to fit the width ends in `…`: where it is cut follows the widths of the other
/// columns, so a table's cut cell (its columns are apart by two spaces) is `…` alone, and in
/// other lines only the `…` of a cut word is kept.
fn cuts(line: &str) -> String {
    if is_table(line) {
        let cell = |cell: &str| if cell.contains('…') { "…" } else { cell }.to_owned();
        return line
            .split("  ")
            .map(|cells| cells.split(" · ").map(cell).collect::<Vec<_>>().join(" · "))
            .collect::<Vec<_>>()
            .join("  ");
    }
    line.split(' ')
        .map(|word| match word.find('…') {
            Some(at) if at > 0 => format!("…{}", &word[at + '…'.len_utf8()..]),
            _ => word.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs of two or more spaces between columns as two: a column's width follows its widest
/// value. An indentation of up to four spaces is kept; a deeper one is a table row whose first
/// cells are empty, as wide as the values above, and reads `  _  `.
fn spaces(line: &str) -> String {
    let body = line.trim_start_matches(' ');
    let indentation = line.len() - body.len();
    let mut out = match indentation {
        0..=4 => line[..indentation].to_owned(),
        _ => "  _  ".to_owned(),
    };
    let mut run = 0;
    for c in body.chars() {
        if c == ' ' {
            run += 1;
            continue;
        }
        out.push_str(&"  "[..run.min(2)]);
        run = 0;
        out.push(c);
    }
    out
}

/// Compares `actual` with `tests/snapshots/<name>`, or writes it there with
/// `RUNBOOK_UPDATE_SNAPSHOTS=1`.
fn assert_snapshot(name: &str, actual: &str) {
    let path: PathBuf = root().join("tests/snapshots").join(name);
    if std::env::var_os("RUNBOOK_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "read {}: {e}; write it with RUNBOOK_UPDATE_SNAPSHOTS=1\n--- the screen:\n{actual}",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "the screen differs from {} from line {}:\n--- expected\n{}\n--- actual\n{}\n--- the whole screen:\n{actual}",
            path.display(),
            first + 1,
            expected
                .lines()
                .skip(first)
                .take(5)
                .collect::<Vec<_>>()
                .join("\n"),
            actual
                .lines()
                .skip(first)
                .take(5)
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
}

/// `screen` normalised for the scene: its sessions by their part, its database by `<db>`.
fn normalised(screen: &str, scene: &Scene) -> String {
    let pids = [
        (scene.holder.pid, "holder"),
        (scene.waiter.pid, "waiter"),
        (scene.idle.pid, "idle"),
    ];
    let texts = [
        (scene.db.name.clone(), "<db>"),
        (scene.db.playbook_name(""), "-<db>"),
    ];
    normalise(
        screen,
        &Known {
            pids: &pids,
            texts: &texts,
        },
    )
}

#[test]
fn the_daily_monitoring_screen_at_80_columns_is_its_snapshot() {
    let scene = Scene::open();
    let mut pty = scene.run("daily-monitoring", &[], &[("NO_COLOR", "1")]);
    assert_eq!(pty.finish(), 1, "{}", pty.screen());
    let screen = normalised(&whole_screen(&pty), &scene);
    assert_snapshot("daily-monitoring.txt", &screen);
}

#[test]
fn the_screen_of_an_emergency_dry_run_at_80_columns_is_its_snapshot() {
    let scene = Scene::open();
    let pty = scene.emergency_dry_run(&[("NO_COLOR", "1")]);
    let screen = normalised(&whole_screen(&pty), &scene);
    assert_snapshot("emergency-dry-run.txt", &screen);
}

#[test]
fn the_normaliser_replaces_what_varies_and_keeps_what_does_not() {
    let known = Known {
        pids: &[(24343, "holder")],
        texts: &[("runbook_test_1_2".to_owned(), "<db>")],
    };
    let cases = [
        (
            "  24343  root  idle in transaction  10s 881ms  2026-12-03 11:54:15.350822+00",
            "  <holder>  root  idle in transaction  <age>  <time>",
        ),
        (
            "  [1/6] OK Client connections by state (12 ms) — 3 of 97 slots",
            "  [1/6] OK Client connections by state (<age>) — 3 of 97 slots",
        ),
        (
            "run at 2026-12-03T12:36:10Z for 1.2 s, then 2 min 5 s; waited 00:00:08.616016",
            "run at <time> for <age>, then <age>; waited <age>",
        ),
        (
            "  pid 31337 of 4 sessions, 5 rows, 120 ms in runbook_test_1_2",
            "  pid <n> of 4 sessions, 5 rows, <age> in <db>",
        ),
        (
            "  [5/6] OK 35 of 97 usable slots in use server-wide (36.08%)",
            "  [5/6] OK <n> of <n> usable slots in use server-wide (<n>.<n>%)",
        ),
        ("  total 3 · active 1", "  total <n> · active <n>"),
        (
            "  total 3 · active 1 · idle in…",
            "  total <n> · active <n> · …",
        ),
        ("  UPDATE t SET x = x…  (1 more)", "  …  (<n> more)"),
        ("  1  idle in…  x", "  <n>  …  x"),
        (
            "see UPDATE t SET x = x… (cut)",
            "see UPDATE t SET x = … (cut)",
        ),
        ("                 8811  database", "  _  <n>  database"),
        ("    application commit", "    application commit"),
        ("a 1s-old x1s", "a <age>-old x1s"),
        ("idle_after=1s, 3 sessions", "idle_after=<age>, 3 sessions"),
    ];
    for (line, normalised) in cases {
        assert_eq!(normalise(line, &known), normalised, "{line}");
    }
}

#[test]
fn a_changed_screen_fails_its_snapshot() {
    if std::env::var_os("RUNBOOK_UPDATE_SNAPSHOTS").is_some() {
        return;
    }
    let dir = root().join("tests/snapshots");
    let Ok(expected) = std::fs::read_to_string(dir.join("daily-monitoring.txt")) else {
        panic!("no snapshot of daily-monitoring in {}", dir.display());
    };
    let changed = expected.replacen("WARNING", "WARN", 1);
    let failed = std::panic::catch_unwind(|| assert_snapshot("daily-monitoring.txt", &changed));
    assert!(failed.is_err(), "a changed word is seen");
    assert!(
        std::panic::catch_unwind(|| assert_snapshot("daily-monitoring.txt", &expected)).is_ok()
    );
}
