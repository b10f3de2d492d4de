//! Issue 18 in a fleet: as each target ends, the terminal shows its result the way a single
//! run shows its steps — a header line, the steps that need attention with their tables
//! (`--verbose`: every step; `--brief`: the header alone), coloured — above the progress bars,
//! every line fitted to the width so none wraps under them.

use console::measure_text_width;

use crate::common::db::Database;
use crate::common::pty::Pty;
use crate::fleet::entry;

/// A target's level (CRITICAL at 2) after a short nap, with a message longer than any
/// terminal is wide.
const LEVELS: &str = r#"version: 1
name: levels
params:
  level: { type: integer, default: 0 }
steps:
  - id: nap
    title: A short nap
    check: SELECT pg_sleep(0.3) AS slept
  - id: level
    title: The level of the target
    check: SELECT {{ params.level }} AS level, 'a long value to fit' AS idle_in_transaction_sessions
    assess:
      - critical: level >= 2
        message: "level {{ level }}: this message goes on and on, as the messages of a real check do when they name every session they found, much wider than a terminal of 160 columns is, so it must be cut"
"#;

/// `levels.yaml` on two new databases, `calm` (level 0) and `hot` (level 2), at a terminal
/// `columns` wide; the fleet ends CRITICAL (2). Returns the PTY once the run ended.
fn fleet(extra: &[&str], columns: u16) -> (Pty, [Database; 2]) {
    let dbs = [Database::new(), Database::new()];
    let inventory = [
        entry("calm", &dbs[0].url(), "level: 0"),
        entry("hot", &dbs[1].url(), "level: 2"),
    ]
    .concat();
    let mut args = vec!["run", "levels.yaml", "--targets", "targets.yaml"];
    args.extend(extra);
    let mut pty = Pty::command_at(
        &args,
        &[("levels.yaml", LEVELS), ("targets.yaml", &inventory)],
        columns,
    );
    assert_eq!(pty.finish(), 2, "{}", pty.screen());
    (pty, dbs)
}

/// What the terminal shows once the run ended (tall enough that nothing scrolls away).
fn shown(pty: &Pty, columns: u16) -> Vec<String> {
    let (lines, _) = pty.emulated(columns, 500);
    lines
}

/// The lines below the header of `target` up to the next header or the summary, blank ones
/// left out (a row of one empty value shows as nothing).
fn below(lines: &[String], target: &str, status: &str) -> Vec<String> {
    let header = format!("== {target}  {status}  ");
    let start = lines
        .iter()
        .position(|line| line.starts_with(&header))
        .unwrap_or_else(|| panic!("no {header:?} in\n{}", lines.join("\n")));
    lines[start + 1..]
        .iter()
        .take_while(|line| !line.starts_with("== ") && !line.starts_with("levels: "))
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.trim_end().to_owned())
        .collect()
}

/// No line the binary wrote above the bars is wider than the terminal: a wider one would wrap
/// and break their redraw. The summary line comes after them, and keeps the report's path
/// whole.
fn assert_fitted(pty: &Pty, columns: u16) {
    for line in pty
        .lines()
        .iter()
        .filter(|line| !line.starts_with("levels: "))
    {
        assert!(
            measure_text_width(line) <= usize::from(columns),
            "wider than {columns} columns: {line:?}"
        );
    }
}

#[test]
fn at_80_columns_each_target_shows_its_header_and_the_steps_that_need_attention() {
    let (pty, _dbs) = fleet(&[], 80);
    let lines = shown(&pty, 80);
    assert!(below(&lines, "calm", "OK").is_empty(), "{lines:#?}");
    let hot = below(&lines, "hot", "CRITICAL");
    assert!(
        hot[0].starts_with("  [2/2] CRITICAL The level of the target — level 2: this message"),
        "{hot:#?}"
    );
    assert!(hot[0].ends_with("… (0s)"), "cut: {hot:#?}");
    assert_eq!(
        hot[1].split_whitespace().collect::<Vec<_>>(),
        ["level", "idle_in_transaction_sessions"],
        "its table, headers whole: {hot:#?}"
    );
    assert!(hot[2].starts_with("  2      a long value"), "{hot:#?}");
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("levels: CRITICAL — 2 targets")),
        "the summary line ends it: {lines:#?}"
    );
    assert_fitted(&pty, 80);
    let raw = String::from_utf8_lossy(pty.raw());
    assert!(raw.contains("== hot  \x1b[31mCRITICAL\x1b[0m  "), "{raw:?}");
    assert!(
        raw.contains("[2/2] \x1b[31mCRITICAL\x1b[0m The level"),
        "{raw:?}"
    );
}

#[test]
fn at_160_columns_verbose_shows_every_step_of_every_target_fitted() {
    let (pty, _dbs) = fleet(&["--verbose"], 160);
    let lines = shown(&pty, 160);
    let calm = below(&lines, "calm", "OK");
    assert!(
        calm[0].starts_with("  [1/2] OK A short nap — 1 row ("),
        "{calm:#?}"
    );
    assert!(
        calm.iter()
            .any(|line| line.starts_with("  [2/2] OK The level of the target — 1 row (")),
        "{calm:#?}"
    );
    let hot = below(&lines, "hot", "CRITICAL");
    let status = hot
        .iter()
        .find(|line| line.starts_with("  [2/2] CRITICAL "))
        .unwrap_or_else(|| panic!("{hot:#?}"));
    assert!(measure_text_width(status) > 80, "{status:?}");
    assert!(status.ends_with("… (0s)"), "{status:?}");
    assert_fitted(&pty, 160);
}

#[test]
fn brief_shows_each_target_as_its_header_alone_saying_why() {
    let (pty, _dbs) = fleet(&["--brief", "--color", "never"], 80);
    let lines = shown(&pty, 80);
    assert!(below(&lines, "calm", "OK").is_empty(), "{lines:#?}");
    assert!(below(&lines, "hot", "CRITICAL").is_empty(), "{lines:#?}");
    let hot = lines
        .iter()
        .find(|line| line.starts_with("== hot  CRITICAL  "))
        .expect("the header");
    assert!(hot.contains(" — `level`: level 2: this message"), "{hot:?}");
    assert!(hot.trim_end().ends_with('…'), "{hot:?}");
    assert!(!String::from_utf8_lossy(pty.raw()).contains("\x1b[31m"));
    assert_fitted(&pty, 80);
}

#[test]
fn a_targets_error_is_written_whole_above_the_bars_then_its_header() {
    let db = Database::new();
    // Listens and never answers: the error comes a second later, while the bars are drawn.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = silent.local_addr().expect("its address").port();
    let gone = format!("postgres://nobody@127.0.0.1:{port}/none?connect_timeout=1");
    let inventory = [entry("here", &db.url(), ""), entry("gone", &gone, "")].concat();
    let mut pty = Pty::command_at(
        &["run", "levels.yaml", "--targets", "targets.yaml"],
        &[("levels.yaml", LEVELS), ("targets.yaml", &inventory)],
        80,
    );
    assert_eq!(pty.finish(), 3, "{}", pty.screen());
    let lines = shown(&pty, 80);
    let error = lines
        .iter()
        .position(|line| line.starts_with("error: gone: cannot connect to `nobody@127.0.0.1:"))
        .unwrap_or_else(|| panic!("the error, on a line of its own:\n{}", lines.join("\n")));
    assert!(
        lines[error..].iter().any(
            |line| line.starts_with("== gone  UNKNOWN  ") && line.contains(" — cannot connect")
        ),
        "its header says why:\n{}",
        lines.join("\n")
    );
    let spinner = |c: char| ('\u{2800}'..='\u{28ff}').contains(&c);
    let text = lines.join("\n");
    assert!(
        !text.chars().any(spinner) && !text.contains("targets done"),
        "no bar is left torn on the screen:\n{text}"
    );
}
