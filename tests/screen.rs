//! Issue 18, items 1 and 3: what a run shows at an 80-column terminal below each step's line
//! (the sessions by pid, a manual step's text, a dry run's targets), `--brief` and
//! `--verbose`, and colour: with `--color always`, never with `NO_COLOR` or in the report.

use console::measure_text_width;

use crate::common::db::{Database, Session};
use crate::common::pty::{COLUMNS, Pty};
use crate::common::{Test, built_in};
use crate::playbooks;

mod fleets;

/// A lock pile-up in the test's database: `holder` sits idle in the transaction whose row
/// lock `waiter` waits for; `idle` holds a transaction open too, blocking nobody.
pub(crate) struct Scene {
    pub db: Database,
    pub holder: Session,
    pub waiter: Session,
    pub idle: Session,
}

impl Scene {
    pub fn open() -> Scene {
        let db = Database::new();
        db.psql("CREATE TABLE t (id int PRIMARY KEY, x int); INSERT INTO t VALUES (1, 0)");
        let holder = db.session_in(
            "BEGIN; UPDATE t SET x = x + 100 WHERE id = 1;",
            "idle in transaction|Client",
        );
        let waiter = db.session_in("UPDATE t SET x = x + 1 WHERE id = 1;", "active|Lock");
        let idle = db.idle_in_transaction();
        Scene {
            db,
            holder,
            waiter,
            idle,
        }
    }

    /// An emergency `--dry-run` on the scene once its lock waiter has waited past
    /// `lock_wait_after`, to its end.
    pub fn emergency_dry_run(&self, env: &[(&str, &str)]) -> Pty {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let _turn = playbooks::live();
        let mut pty = self.run(
            "emergency",
            &["--dry-run", "--var", "lock_wait_after=1s"],
            env,
        );
        assert_eq!(pty.finish(), 1, "{}", pty.screen());
        pty
    }

    /// Runs the built-in `playbook` on the scene's database at the terminal.
    pub fn run(&self, playbook: &str, extra: &[&str], env: &[(&str, &str)]) -> Pty {
        let database = format!("database={}", self.db.name);
        let mut args = vec!["--var", &database];
        args.extend_from_slice(extra);
        Pty::run_with(&self.db, &built_in(playbook), &args, env)
    }
}

/// The lines of what the terminal shows, as a reader sees them.
fn lines(pty: &Pty) -> Vec<String> {
    pty.lines()
}

/// The lines of the table below the status line that starts with `status`: those up to the
/// next status line or the summary.
fn below(lines: &[String], status: &str) -> Vec<String> {
    let start = lines
        .iter()
        .position(|line| line.starts_with(status))
        .unwrap_or_else(|| panic!("no line starts with {status:?} in\n{}", lines.join("\n")));
    lines[start + 1..]
        .iter()
        .take_while(|line| line.starts_with("  ") && !line.starts_with("  ["))
        .cloned()
        .collect()
}

/// Whether a table holds a row of session `pid` (its first column).
fn shows_pid(table: &[String], pid: i32) -> bool {
    table
        .iter()
        .any(|line| line.starts_with(&format!("  {pid} ")))
}

/// The SGR (colour) sequences in what the binary wrote, e.g. `33` for `ESC [ 33 m`.
fn colours(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    text.split("\x1b[")
        .skip(1)
        .filter_map(|rest| {
            let end = rest.find(|c: char| !(c.is_ascii_digit() || c == ';'))?;
            rest[end..].starts_with('m').then(|| rest[..end].to_owned())
        })
        .collect()
}

#[test]
fn daily_monitoring_shows_the_blocker_and_the_open_transactions_by_pid_within_80_columns() {
    let scene = Scene::open();
    let mut pty = scene.run("daily-monitoring", &[], &[]);
    assert_eq!(pty.finish(), 1, "{}", pty.screen());
    let lines = lines(&pty);

    let blocking = below(&lines, "  [2/7] WARNING Sessions blocking others");
    let header: Vec<&str> = blocking[0].split_whitespace().take(3).collect();
    assert_eq!(header, ["pid", "usename", "datname"], "identities first");
    assert!(shows_pid(&blocking, scene.holder.pid), "{blocking:#?}");
    assert!(
        blocking.iter().any(|line| line.starts_with("  → ")),
        "the recommendation: {blocking:#?}"
    );
    // OK, but it lists sessions: the lock waiter and both idle transactions, by pid.
    let horizon = below(&lines, "  [4/7] OK What holds back the transaction horizon");
    for session in [&scene.holder, &scene.waiter, &scene.idle] {
        assert!(shows_pid(&horizon, session.pid), "{horizon:#?}");
    }
    // OK with one row: its counts on one line.
    let overview = below(&lines, "  [1/7] OK Client connections by state");
    assert_eq!(overview.len(), 1, "{overview:#?}");
    assert!(
        overview[0]
            .starts_with("  total_connections 3 · active 1 · idle 0 · idle_in_transaction 2"),
        "{overview:#?}"
    );
    for line in blocking.iter().chain(&horizon).chain(&overview) {
        assert!(
            measure_text_width(line) <= usize::from(COLUMNS),
            "wider than the terminal: {line:?}"
        );
    }
}

#[test]
fn brief_shows_a_status_line_per_step_and_nothing_below() {
    let scene = Scene::open();
    let mut pty = scene.run("daily-monitoring", &["--brief"], &[]);
    assert_eq!(pty.finish(), 1, "{}", pty.screen());
    let lines = lines(&pty);
    let steps: Vec<&String> = lines
        .iter()
        .filter(|line| line.starts_with("  ["))
        .collect();
    assert_eq!(steps.len(), 7, "{lines:#?}");
    assert!(
        steps[1].starts_with("  [2/7] WARNING Sessions blocking others (root blockers) — session "),
        "{steps:#?}"
    );
    assert!(
        lines
            .iter()
            .all(|line| !line.starts_with("  ") || line.starts_with("  [")),
        "nothing but status lines: {lines:#?}"
    );
}

#[test]
fn verbose_shows_every_steps_rows_as_a_table() {
    let scene = Scene::open();
    let mut pty = scene.run("daily-monitoring", &["--verbose"], &[]);
    assert_eq!(pty.finish(), 1, "{}", pty.screen());
    let overview = below(&lines(&pty), "  [1/7] OK Client connections by state");
    // A header and the row; at 80 columns, what does not fit is counted below them.
    assert!(
        overview.len() == 2 || (overview.len() == 3 && overview[2].starts_with("  … ")),
        "a header and the row: {overview:#?}"
    );
    assert!(overview[1].starts_with("  3  "), "{overview:#?}");
}

#[test]
fn an_emergency_dry_run_says_what_each_action_would_do_to_whom_and_shows_the_manual_text() {
    let scene = Scene::open();
    let pty = scene.emergency_dry_run(&[]);
    let lines = lines(&pty);
    let terminate = below(&lines, "  [4/11] SKIPPED Terminate the root blockers");
    assert_eq!(
        terminate[0], "  would terminate this 1 session (pg_terminate_backend):",
        "{lines:#?}"
    );
    assert!(terminate[1].starts_with("  pid  "), "{terminate:#?}");
    assert!(shows_pid(&terminate, scene.holder.pid), "{terminate:#?}");
    assert!(
        scene.db.alive(scene.holder.pid),
        "a dry run terminates nobody"
    );
    let manual = below(&lines, "  [11/11] MANUAL Once the server breathes again (");
    assert_eq!(
        manual.first().map(String::as_str),
        Some(
            "  Keep the report: it lists every session terminated or cancelled, and who approved it."
        ),
        "{lines:#?}"
    );
    assert_eq!(manual.len(), 4, "{manual:#?}");
}

#[test]
fn color_always_colours_the_statuses_on_the_terminal_but_not_in_the_report() {
    let scene = Scene::open();
    let mut pty = scene.run(
        "daily-monitoring",
        &["--color", "always"],
        &[("NO_COLOR", "1")],
    );
    assert_eq!(pty.finish(), 1, "{}", pty.screen());
    let raw = String::from_utf8_lossy(pty.raw()).into_owned();
    assert!(
        raw.contains("\x1b[32mOK\x1b[0m Client connections by state"),
        "{raw:?}"
    );
    assert!(
        raw.contains("\x1b[33mWARNING\x1b[0m Sessions blocking others"),
        "{raw:?}"
    );
    assert!(
        raw.contains(": \x1b[33mWARNING\x1b[0m — `blocking`"),
        "the summary line"
    );
    let report = std::fs::read_to_string(pty.path("r.json")).expect("the report");
    assert!(!report.contains('\x1b'), "no colour in the report");
}

#[test]
fn colour_is_on_at_a_terminal_and_off_with_no_color() {
    let scene = Scene::open();
    let mut pty = scene.run("daily-monitoring", &[], &[]);
    assert_eq!(pty.finish(), 1, "{}", pty.screen());
    assert!(
        colours(pty.raw()).contains(&"33".to_owned()),
        "WARNING in yellow"
    );

    let mut pty = scene.run("daily-monitoring", &[], &[("NO_COLOR", "1")]);
    assert_eq!(pty.finish(), 1, "{}", pty.screen());
    assert_eq!(colours(pty.raw()), Vec::<String>::new(), "{}", pty.screen());
    let mut pty = scene.run("daily-monitoring", &["--color", "never"], &[]);
    assert_eq!(pty.finish(), 1, "{}", pty.screen());
    assert_eq!(colours(pty.raw()), Vec::<String>::new(), "{}", pty.screen());
}

#[test]
fn off_a_terminal_only_the_summary_line_is_shown_coloured_only_with_color_always() {
    let db = Database::new();
    let one = "version: 1\nname: one\nsteps:\n  - id: one\n    check: SELECT 1 AS x\n";
    let run = |flags: &[&str]| {
        Test::new()
            .playbook("one.yaml", one)
            .args(["run", "one.yaml"])
            .args(flags.iter().copied())
            .database(&db)
            .json_report()
            .status(0)
    };
    run(&[])
        .stderr("one: OK — [..] — report: report.json\n")
        .run();
    run(&["--color", "always"])
        .stderr("one: \x1b[32mOK\x1b[0m — [..] — report: report.json\n")
        .run();
    run(&["--color", "always", "--brief"])
        .env("NO_COLOR", "1")
        .stderr("one: \x1b[32mOK\x1b[0m — [..] — report: report.json\n")
        .run();
}

/// One check whose message is wider than any terminal.
const LONG_MESSAGE: &str = r#"version: 1
name: long
steps:
  - id: long
    title: A check with a lot to say
    check: SELECT 1 AS n
    assess:
      - warning: n == 1
        message: "1 row: this message goes on and on, as the messages of a real check do when they name every session they found, much wider than a terminal of 160 columns is, so it must be cut"
"#;

#[test]
fn a_status_line_is_cut_to_the_width_and_the_report_keeps_the_whole_message() {
    let db = Database::new();
    for columns in [80_u16, 160] {
        let mut pty = Pty::run_at(&db, LONG_MESSAGE, &[], columns);
        assert_eq!(pty.finish(), 1, "{}", pty.screen());
        let lines = lines(&pty);
        let status = lines
            .iter()
            .find(|line| line.starts_with("  [1/1] WARNING A check with a lot to say — 1 row: "))
            .unwrap_or_else(|| panic!("the status line in {lines:#?}"));
        assert!(status.ends_with("… (0s)"), "{status:?}");
        assert_eq!(
            measure_text_width(status),
            usize::from(columns),
            "{status:?}"
        );
        let report = pty.report();
        assert!(
            report["steps"][0]["message"]
                .as_str()
                .is_some_and(|message| message.ends_with("so it must be cut")),
            "{report}"
        );
    }
}
