//! Text from the server and the playbook reaches the terminal escaped. A row value that would
//! retitle the window, clear the screen, turn the text red, start a C1 control sequence and
//! overwrite its own line is shown as the characters it holds: in the approval prompt's
//! title, SQL and preview, and in the server's error message on the progress display. So is
//! a description with an escape sequence written into the playbook.

use crate::common::db::Database;
use crate::common::pty::Pty;

/// `look` reads the hostile value; `bump` shows it in its title, SQL and preview; `broken`
/// fails with a server error that quotes it.
const PLAYBOOK: &str = r#"version: 1
name: hostile-text
steps:
  - id: look
    check: SELECT label FROM t
  - id: bump
    title: "Bump {{ steps.look.label }}"
    description: "Counts one up.\e]0;described\a"
    preview: SELECT id, label FROM t ORDER BY id
    action: UPDATE t SET n = n + 1 WHERE label = {{ steps.look.label }}
    approval: required
  - id: broken
    check: SELECT label::int AS n FROM t
"#;

/// The value, as SQL.
const VALUE: &str =
    r"E'\x1b]0;pwned\x07\x1b[2J\x1b[31mred' || chr(155) || '7m' || chr(13) || 'overwritten'";

/// The value as the terminal shows it.
const SHOWN: &str = r"\x1b]0;pwned\x07\x1b[2J\x1b[31mred\u{9b}7m\roverwritten";

/// What must never reach the terminal raw.
const OBEYED: &[&str] = &[
    "\x1b]0;pwned",
    "\x1b[2J",
    "\x1b[31m",
    "\u{9b}",
    "\roverwritten",
    "\x1b]0;described",
];

#[test]
fn control_characters_in_row_values_are_shown_escaped() {
    let db = Database::new();
    db.psql(&format!(
        "CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL, label text); \
         INSERT INTO t VALUES (1, 0, {VALUE})"
    ));
    let mut pty = Pty::run(&db, PLAYBOOK, &[]);
    pty.expect(&format!("== Action `bump`: Bump {SHOWN}\n"));
    pty.expect("Acts on 1 row:\n");
    pty.expect(&format!("1  | {SHOWN}\n"));
    pty.expect("SQL that will run (cut to the width; s shows it all):\n    UPDATE t SET n = n + 1 WHERE label = '\\x1b]0;pwned");
    pty.expect(r"Counts one up.\x1b]0;described\x07");
    pty.choose("Run this action?", &[], "skip this step");
    assert_eq!(
        pty.finish(),
        4,
        "the action was not approved (skipped): exit 4, before `broken` failing\n{}",
        pty.screen()
    );

    let raw = String::from_utf8_lossy(pty.raw()).into_owned();
    for sequence in OBEYED {
        assert!(
            !raw.contains(sequence),
            "the terminal was sent {sequence:?}:\n{raw:?}"
        );
    }
    let report = pty.report();
    assert_eq!(report["steps"][1]["approval"]["decision"], "declined");
    assert_eq!(db.psql("SELECT n FROM t"), "0");
    let message = report["steps"][2]["message"].as_str().unwrap();
    assert!(
        message.contains("\x1b]0;pwned\x07\x1b[2J"),
        "the report keeps the server's message as it is: {message:?}"
    );
}
