//! The menus never wrap around: a key too many at the approval menu (or at `--step`'s) stays
//! on the item at the end it reached, so "abort the run" never turns into "approve". The
//! action here only counts, so a test sees whether it ran.

use super::WALK;
use crate::common::db::Database;
use crate::common::pty::{DOWN, Pty, UP};

/// `bump` adds one to the counter once approved; `after` reads it.
const COUNTER: &str = r#"version: 1
name: counter
steps:
  - id: bump
    preview: SELECT id, n FROM t ORDER BY id
    action: UPDATE t SET n = n + 1
    approval: required
  - id: after
    check: SELECT n FROM t
"#;

/// Presses `keys` at the approval menu of `bump`, then Enter, and checks the answer the menu
/// reports, the exit code, the decision recorded, and whether the counter moved.
fn answer_the_approval_menu(keys: &[&str], answer: &str, code: i32, decision: &str) {
    let db = Database::new();
    db.psql("CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL); INSERT INTO t VALUES (1, 0)");
    let mut pty = Pty::run(&db, COUNTER, &[]);
    pty.expect("== Action `bump`: bump");
    pty.expect(
        "Run this action? — ↑/↓ move, Enter choose, Esc skip, s SQL\n  approve\n> skip this step\n  abort the run",
    );
    pty.choose("Run this action?", keys, answer);
    assert_eq!(pty.finish(), code, "after {keys:?}:\n{}", pty.screen());
    let ran = decision == "approved";
    assert_eq!(
        db.psql("SELECT n FROM t"),
        if ran { "1" } else { "0" },
        "after {keys:?} the action {}",
        if ran { "runs" } else { "does not run" }
    );
    let report = pty.report();
    assert_eq!(report["exit_code"], code);
    assert_eq!(report["steps"][0]["approval"]["decision"], decision);
}

#[test]
fn down_down_enter_aborts_and_does_not_wrap_to_approve() {
    answer_the_approval_menu(&[DOWN, DOWN], "abort the run", 4, "aborted");
}

#[test]
fn many_downs_stay_on_abort() {
    answer_the_approval_menu(&[DOWN; 6], "abort the run", 4, "aborted");
}

#[test]
fn down_to_the_end_and_one_up_is_skip() {
    answer_the_approval_menu(&[DOWN, DOWN, DOWN, UP], "skip this step", 4, "declined");
}

#[test]
fn enter_alone_skips() {
    answer_the_approval_menu(&[], "skip this step", 4, "declined");
}

#[test]
fn one_up_from_the_default_approves() {
    answer_the_approval_menu(&[UP], "approve", 0, "approved");
}

#[test]
fn many_ups_stay_on_approve() {
    answer_the_approval_menu(&[UP, UP, UP], "approve", 0, "approved");
}

#[test]
fn the_step_menu_does_not_wrap_either() {
    let db = Database::new();
    let mut pty = Pty::run(&db, WALK, &["--step"]);
    let first = "Next: First look (check `one`)";
    pty.expect(&format!(
        "{first} — ↑/↓ move, Enter choose, Esc skip\n> continue\n  skip\n  abort"
    ));
    pty.choose(first, &[UP, UP], "continue");
    let second = "Next: Second look (check `two`)";
    pty.expect(&format!(
        "{second} — ↑/↓ move, Enter choose, Esc skip\n> continue\n  skip\n  abort"
    ));
    pty.choose(second, &[DOWN; 4], "abort");
    assert_eq!(pty.finish(), 4, "{}", pty.screen());
    let report = pty.report();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps[0]["status"], "OK");
    assert_eq!(steps[1]["status"], "NOT_RUN");
    assert_eq!(steps[1]["message"], "aborted by the operator (`--step`)");
    assert_eq!(steps[2]["status"], "NOT_RUN");
}
