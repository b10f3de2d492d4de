//! Prompts that fit an 80×24 terminal with 25 sessions to act on: the title first, then the
//! rows (identities first, cut to the width, `… N more`), then the SQL folded behind `s`; key
//! hints on the menu's line; Esc skips (at the action menu and at `--step`'s), never aborts;
//! `--step` asks nothing about a step its guards skip; a Ctrl-C at a prompt leaves a clean
//! screen (cursor shown, the menu gone, the status line on a line of its own).

use super::{PROMPTS, WALK, ctrl_c};
use crate::common::db::{Database, Session};
use crate::common::pty::{ENTER, ESC, Pty};

const COLUMNS: u16 = 80;
const ROWS: u16 = 24;
const VICTIMS: usize = 25;

/// The menu's line, hints included.
const MENU: &str = "Run this action? — ↑/↓ move, Enter choose, Esc skip, s SQL";

/// `PROMPTS` with a wide check of the victims: a timestamp first, identities scattered.
fn wide() -> String {
    PROMPTS.replace(
        "SELECT pid, backend_start, application_name FROM pg_stat_activity",
        "SELECT backend_start, application_name, query_start, state_change, pid, usename, \
         datname, now() - state_change AS idle_for, state, left(query, 60) AS query \
         FROM pg_stat_activity",
    )
}

/// `two` is guarded off by `when`, `three` by `requires`: `--step` asks about neither.
const GUARDED: &str = r#"version: 1
name: guarded
steps:
  - id: one
    title: First look
    check: SELECT 1 AS n
  - id: two
    title: Never when
    when: steps.one.n > 5
    check: SELECT 2 AS n
  - id: three
    title: Never required
    requires: { extensions: [no_such_extension] }
    check: SELECT 3 AS n
  - id: four
    title: Fourth look
    check: SELECT 4 AS n
"#;

/// The database with 25 victims, and `wide()` running in an 80×24 terminal up to its menu.
fn at_the_menu() -> (Database, Vec<Session>, Pty) {
    let db = Database::new();
    let victims = db.sessions_named("victim", VICTIMS);
    let mut pty = Pty::run(&db, &wide(), &[]);
    pty.resize(COLUMNS, ROWS);
    pty.expect("== Action `terminate`: terminate\n");
    pty.expect(MENU);
    pty.expect("> skip this step");
    (db, victims, pty)
}

/// The prompt as shown, from its title to its menu's last item.
fn prompt_shown(pty: &Pty) -> String {
    let screen = pty.screen();
    let from = screen.find("== Action `terminate`").expect("the title");
    let to = screen[from..].find("  abort the run").expect("the menu") + from;
    screen[from..to + "  abort the run".len()].to_owned()
}

/// Nobody was terminated, the action was declined, and the run went on to `after`.
fn assert_skipped_and_went_on(db: &Database, victims: &[Session], pty: &mut Pty) {
    assert_eq!(pty.finish(), 4, "{}", pty.screen());
    for victim in victims {
        assert!(db.alive(victim.pid), "victim {} survives", victim.pid);
    }
    let report = pty.report();
    assert_eq!(report["steps"][1]["status"], "SKIPPED");
    assert_eq!(report["steps"][1]["approval"]["decision"], "declined");
    assert_eq!(report["steps"][2]["status"], "OK", "the run went on");
    assert_eq!(report["steps"][2]["rows"], serde_json::json!([[VICTIMS]]));
}

#[test]
fn the_approval_prompt_fits_80_columns_with_the_title_rows_then_sql() {
    let (db, victims, mut pty) = at_the_menu();
    let shown = prompt_shown(&pty);
    for line in shown.lines() {
        assert!(
            line.chars().count() <= usize::from(COLUMNS),
            "a line of {} columns:\n{line}\nin\n{shown}",
            line.chars().count()
        );
    }
    assert!(
        shown.lines().count() < usize::from(ROWS),
        "the title stays on the screen: {} lines\n{shown}",
        shown.lines().count()
    );
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines[1], "");
    assert_eq!(lines[2], format!("Acts on {VICTIMS} rows:"));
    let header = lines[3];
    let at = |name: &str| {
        header
            .find(name)
            .unwrap_or_else(|| panic!("{name} in {header}"))
    };
    assert!(header.starts_with("  pid "), "{header}");
    assert!(at("usename") < at("datname") && at("datname") < at("idle_for"));
    assert!(at("idle_for") < at("state"), "identities first: {header}");
    let is_row = |l: &&&str| {
        l.strip_prefix("  ")
            .is_some_and(|l| l.starts_with(|c: char| c.is_ascii_digit()))
    };
    let rows = lines.iter().filter(is_row).count();
    assert!(rows >= 3, "some rows are shown:\n{shown}");
    assert!(
        shown.contains(&format!("\n  … {} more\n", VICTIMS - rows)),
        "{shown}"
    );
    let sql = shown.find("SQL that will run (").expect("the SQL, folded");
    assert!(
        sql > shown.find("… ").unwrap(),
        "the rows come before the SQL"
    );
    assert!(shown.contains("; s shows it all):\n"), "{shown}");
    assert!(shown.contains(&format!("\n{MENU}\n")), "{shown}");
    assert!(!shown.contains("?:"), "{shown}");

    pty.send(ESC);
    pty.expect("Run this action? skip this step");
    assert_skipped_and_went_on(&db, &victims, &mut pty);
}

#[test]
fn s_at_the_menu_prints_the_sql_in_full_and_asks_again() {
    let (db, victims, mut pty) = at_the_menu();
    pty.send("s");
    pty.expect("SQL that will run, in full:\n");
    pty.expect(MENU);
    let screen = pty.screen();
    let full = &screen[screen.rfind("SQL that will run, in full:").unwrap()..];
    for victim in &victims {
        assert!(
            full.contains(&victim.pid.to_string()),
            "pid {} in the full SQL:\n{full}",
            victim.pid
        );
    }
    assert!(
        full.contains("pg_catalog.pg_terminate_backend(pid)"),
        "{full}"
    );
    pty.send(ENTER);
    pty.expect("Run this action? skip this step");
    assert_skipped_and_went_on(&db, &victims, &mut pty);
}

#[test]
fn esc_at_the_step_menu_skips_the_step_and_the_run_goes_on() {
    let db = Database::new();
    let mut pty = Pty::run(&db, WALK, &["--step"]);
    pty.resize(COLUMNS, ROWS);
    let first = "Next: First look (check `one`)";
    pty.expect(&format!(
        "{first} — ↑/↓ move, Enter choose, Esc skip\n> continue"
    ));
    pty.choose(first, &[], "continue");
    pty.expect("Next: Second look (check `two`) — ↑/↓ move");
    pty.send(ESC);
    pty.expect("Next: Second look (check `two`): skip");
    pty.choose("Next: Third look (check `three`)", &[], "continue");
    assert_eq!(pty.finish(), 0, "{}", pty.screen());
    let report = pty.report();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps[1]["status"], "SKIPPED");
    assert_eq!(steps[1]["message"], "skipped by the operator (`--step`)");
    assert_eq!(steps[2]["status"], "OK");
}

#[test]
fn step_asks_nothing_about_a_step_its_guards_skip() {
    let db = Database::new();
    let mut pty = Pty::run(&db, GUARDED, &["--step"]);
    pty.choose("Next: First look (check `one`)", &[], "continue");
    pty.choose("Next: Fourth look (check `four`)", &[], "continue");
    assert_eq!(pty.finish(), 0, "{}", pty.screen());
    let screen = pty.screen();
    for asked in ["check `two`", "check `three`"] {
        assert!(!screen.contains(asked), "{asked} was asked:\n{screen}");
    }
    let report = pty.report();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps[1]["status"], "SKIPPED");
    assert_eq!(steps[1]["message"], "the condition is false");
    assert_eq!(steps[2]["status"], "SKIPPED");
    assert_eq!(
        steps[2]["message"],
        "extension `no_such_extension` is not installed"
    );
    assert_eq!(steps[3]["rows"], serde_json::json!([[4]]));
}

#[test]
fn ctrl_c_at_the_approval_prompt_leaves_a_clean_screen() {
    let (db, victims, mut pty) = at_the_menu();
    pty.send(ctrl_c());
    assert_clean_after_the_interruption(&db, &victims, &mut pty, "interrupted (Ctrl-C)");
}

#[test]
fn sigint_from_outside_at_the_approval_prompt_leaves_a_clean_screen() {
    let (db, victims, mut pty) = at_the_menu();
    pty.interrupt();
    assert_clean_after_the_interruption(&db, &victims, &mut pty, "interrupted");
}

/// The run ends (4) with nobody terminated, and the screen as the operator sees it is clean:
/// the cursor shown, the menu replaced by one line, `Run this action? <answer>`, no spinner
/// left, the step's status line on a line of its own.
fn assert_clean_after_the_interruption(
    db: &Database,
    victims: &[Session],
    pty: &mut Pty,
    answer: &str,
) {
    assert_eq!(pty.finish(), 4, "{}", pty.screen());
    for victim in victims {
        assert!(db.alive(victim.pid), "victim {} survives", victim.pid);
    }
    // Tall enough that nothing scrolls away: what is left is what the operator sees.
    let (lines, cursor_shown) = pty.emulated(COLUMNS, 500);
    let text = lines.join("\n");
    assert!(cursor_shown, "the cursor is shown again:\n{text}");
    let replaced = format!("Run this action? {answer}");
    assert!(
        lines.contains(&replaced),
        "the menu is replaced by {replaced:?}:\n{text}"
    );
    for item in ["> skip this step", "  approve", "  abort the run", MENU] {
        assert!(
            !lines.iter().any(|l| l == item),
            "{item:?} is left:\n{text}"
        );
    }
    let spinner = |c: char| ('\u{2800}'..='\u{28ff}').contains(&c);
    assert!(
        !text.chars().any(spinner),
        "a spinner is left on the screen:\n{text}"
    );
    let status = lines
        .iter()
        .find(|l| l.contains("terminate —"))
        .unwrap_or_else(|| panic!("the step's status line:\n{text}"));
    assert!(
        status.starts_with("  [2/3] NOT RUN terminate —"),
        "the status line is a line of its own: {status:?}\n{text}"
    );
}
