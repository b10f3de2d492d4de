//! Where a report may go: a regular file is replaced atomically; anything else the path names
//! (a device, a FIFO) is written to as it is and stays what it was; a directory, a symbolic
//! link or a missing directory is refused before anything runs. Device nodes are made by the
//! test in its own temporary directory, never the machine's own.

use std::os::unix::fs::FileTypeExt as _;
use std::path::Path;

use crate::common::db::Database;
use crate::common::{Outcome, Test};

/// An action that would leave a mark in `t`, approved with `--yes`: whether the run acted.
fn marking(db: &Database) -> String {
    db.psql("CREATE TABLE t (n int)");
    format!(
        "version: 1\nname: {}\nsteps:\n  - id: mark\n    action: INSERT INTO t VALUES (1)\n",
        db.playbook_name("reports")
    )
}

fn marks(db: &Database) -> String {
    db.psql("SELECT count(*) FROM t")
}

fn mknod(path: &Path, kind: libc::mode_t, device: libc::dev_t) {
    let name = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path that outlives the call.
    let made = unsafe { libc::mknod(name.as_ptr(), kind | 0o666, device) };
    assert_eq!(
        made,
        0,
        "mknod {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

#[test]
fn a_report_to_a_null_device_is_written_to_and_the_device_stays() {
    let db = Database::new();
    let test = Test::new().playbook("p.yaml", &marking(&db));
    let null = test.dir().join("null");
    mknod(&null, libc::S_IFCHR, libc::makedev(1, 3));
    let outcome = test
        .args(["run", "p.yaml", "--yes", "--report"])
        .arg(null.display().to_string())
        .database(&db)
        .stderr(&format!(
            "{}: OK — 1 step — report: [TMP]/null — journal: runbook-reports/[..].journal.jsonl\n",
            db.playbook_name("reports")
        ))
        .run();
    let kind = std::fs::symlink_metadata(outcome.path("null"))
        .unwrap()
        .file_type();
    assert!(
        kind.is_char_device(),
        "the device is still a device: {kind:?}"
    );
    assert_eq!(marks(&db), "1");
    // The journal goes where the default report would, not beside the device.
    let reports = std::fs::read_dir(outcome.path("runbook-reports")).unwrap();
    let names: Vec<String> = reports
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with(".journal.jsonl"), "{names:?}");
}

#[test]
fn a_report_to_a_fifo_reaches_its_reader() {
    let db = Database::new();
    let test = Test::new().playbook("p.yaml", &marking(&db));
    let fifo = test.dir().join("fifo");
    mknod(&fifo, libc::S_IFIFO, 0);
    let (sent, received) = std::sync::mpsc::channel();
    {
        let fifo = fifo.clone();
        std::thread::spawn(move || sent.send(std::fs::read_to_string(fifo).unwrap()));
    }
    let outcome = test
        .args(["run", "p.yaml", "--yes", "--format", "json", "--report"])
        .arg(fifo.display().to_string())
        .database(&db)
        .stderr(&format!(
            "{}: OK — 1 step — report: [TMP]/fifo — journal: runbook-reports/[..].journal.jsonl\n",
            db.playbook_name("reports")
        ))
        .run();
    let Ok(text) = received.recv_timeout(std::time::Duration::from_secs(5)) else {
        // Unblock the reader (it waits for a writer that never came), then fail.
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .open(outcome.path("fifo"));
        panic!("the report never reached the FIFO's reader");
    };
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["steps"][0]["status"], "OK");
    let kind = std::fs::symlink_metadata(outcome.path("fifo"))
        .unwrap()
        .file_type();
    assert!(kind.is_fifo(), "the FIFO is still a FIFO: {kind:?}");
}

#[test]
fn a_report_path_that_cannot_be_a_report_stops_the_run_before_any_action() {
    for (setup, path, why) in [
        ("dir", "dir", "it is a directory"),
        (
            "link",
            "link",
            "it is a symbolic link; give the path it points to",
        ),
        ("", "missing/r.md", "`missing` is not an existing directory"),
    ] {
        let db = Database::new();
        let test = Test::new()
            .playbook("p.yaml", &marking(&db))
            .file("target.md", "someone else's notes\n");
        match setup {
            "dir" => std::fs::create_dir(test.dir().join("dir")).unwrap(),
            "link" => std::os::unix::fs::symlink("target.md", test.dir().join("link")).unwrap(),
            _ => {}
        }
        let outcome = test
            .args(["run", "p.yaml", "--yes", "--report", path])
            .database(&db)
            .status(3)
            .stderr(&format!(
                "error: cannot write the report to `{path}`: {why}; nothing was run\n"
            ))
            .run();
        assert_eq!(marks(&db), "0", "{path}: nothing ran");
        assert_eq!(outcome.read("target.md"), "someone else's notes\n");
        assert!(!outcome.path("missing").exists(), "no directory is made up");
    }
}

/// A path that links to the run's own standard output (`/proc/self/fd/1`) names a pipe here:
/// the report goes down it, and the link stays a link.
#[test]
fn a_report_through_a_link_to_standard_output_is_written_to_it_and_the_link_stays() {
    let db = Database::new();
    let test = Test::new().playbook("p.yaml", &marking(&db));
    std::os::unix::fs::symlink("/proc/self/fd/1", test.dir().join("out")).unwrap();
    let outcome = test
        .args(["run", "p.yaml", "--yes", "--report", "out"])
        .database(&db)
        .stdout_contains("## Summary")
        .stderr_any("names the journal at the default place")
        .run();
    let kind = std::fs::symlink_metadata(outcome.path("out"))
        .unwrap()
        .file_type();
    assert!(kind.is_symlink(), "the link is still a link: {kind:?}");
    assert_eq!(marks(&db), "1");
}

/// Two idle sessions and a third of their own name, a check of each, an interval, a guard
/// with `>` and a description: everything the report for people orders and words.
fn attended(db: &Database, app: &str) -> String {
    format!(
        r#"version: 1
name: {}
description: Finds the sessions named `{app}`.
params:
  limit: {{ type: integer, default: 1 }}
steps:
  - id: idle
    title: Idle sessions named {app}
    when: params.limit > 0
    check: |
      SELECT pid, interval '8.616016 seconds' AS waited FROM pg_stat_activity
      WHERE application_name = '{app}' AND datname = current_database() ORDER BY pid
    assess:
      - warning: row_count > 1
        message: "{{{{ row_count | plural('session') }}}} idle, waited {{{{ waited }}}} (> 1s)"
      - ok: row_count == 0
        message: none
  - id: alone
    check: SELECT 1 AS n
    assess:
      - ok: n == 1
        message: "{{{{ n | plural('session') }}}} alone"
"#,
        db.playbook_name("attention")
    )
}

#[test]
fn the_report_opens_with_what_needs_attention_and_folds_the_sql_below_the_rows() {
    let db = Database::new();
    let app = format!("attended_{}", std::process::id());
    let sessions = db.sessions_named(&app, 2);
    let outcome = Test::new()
        .playbook("p.yaml", &attended(&db, &app))
        .args(["run", "p.yaml"])
        .database(&db)
        .markdown_report()
        .status(1)
        .stderr_any("the summary line is the terminal's, not this test's")
        .run();
    let report = outcome.markdown();
    let at = |text: &str| {
        report
            .find(text)
            .unwrap_or_else(|| panic!("no {text:?} in:\n{report}"))
    };
    // The status heads the first table: no empty header row.
    assert!(
        report.starts_with(&format!(
            "# {} — WARNING\n\n| Status | **WARNING** (exit 1) |\n| --- | --- |\n",
            db.playbook_name("attention")
        )),
        "{report}"
    );
    assert!(!report.contains("| | |"), "{report}");
    // Status and problems, then the summary, then the description, then the details.
    let order = [
        at("## What needs attention"),
        at("## Summary"),
        at("## About this playbook\n\nFinds the sessions named"),
        at("## Steps"),
    ];
    assert!(order.is_sorted(), "{order:?} in:\n{report}");
    let mut pids: Vec<i32> = sessions.iter().map(|s| s.pid).collect();
    pids.sort_unstable();
    assert!(report.contains(&format!(
        "## What needs attention\n\n- **WARNING** `idle` Idle sessions named {app}: \
         2 sessions idle, waited 8s 616ms (> 1s) — pids {}, {}\n\n## Summary",
        pids[0], pids[1]
    )));
    // Rows first, the SQL folded under them; both steps' SQL folded.
    let idle = &report[at("### 1. ")..at("### 2. ")];
    let rows = idle.find("| pid | waited |").expect("the rows");
    let sql = idle
        .find("<details><summary>SQL</summary>\n\n```sql\nSELECT pid")
        .expect("the SQL, folded");
    assert!(rows < sql, "{idle}");
    assert!(
        idle.contains(&format!("| {} | 8s 616ms |", pids[0])),
        "{idle}"
    );
    assert_eq!(report.matches("<details><summary>SQL</summary>").count(), 2);
    assert_eq!(report.matches("</details>").count(), 2);
    // One duration format, counts in agreement, `>` as it reads.
    assert!(!report.contains("00:00:08"), "{report}");
    assert!(report.contains("| `alone` | check | OK | "), "{report}");
    assert!(report.contains("1 session alone"), "{report}");
    assert!(!report.contains("1 sessions"), "{report}");
    assert!(
        report.contains(" | 2 sessions idle, waited 8s 616ms (> 1s) |\n"),
        "{report}"
    );
    assert!(!report.contains("&gt;"), "{report}");
    assert!(
        report.contains("- `row_count == 0` did not hold\n"),
        "{report}"
    );
    assert!(!report.contains("(would be OK)"), "{report}");
}

/// `playbook` run with `flags` and a report of `kind` (`markdown_report` or `json_report`).
fn decided(playbook: &str, db: &Database, flags: &[&str], kind: fn(Test) -> Test) -> Outcome {
    kind(Test::new().playbook("p.yaml", playbook))
        .args(["run", "p.yaml"])
        .args(flags.iter().copied())
        .database(db)
        .status_any("the test asserts on the decision")
        .stderr_any("the summary line is the terminal's, not this test's")
        .run()
}

#[test]
fn approvals_in_the_report_say_who_decided_in_words() {
    let db = Database::new();
    let playbook = marking(&db);
    let report = decided(&playbook, &db, &[], Test::markdown_report).markdown();
    assert!(report.contains("**Approval:** refused at "), "{report}");
    assert!(!report.contains("by nobody"), "{report}");
    let report = decided(&playbook, &db, &["--dry-run"], Test::markdown_report).markdown();
    assert!(
        report.contains("**Approval:** not run: a dry run at "),
        "{report}"
    );
    assert!(!report.contains("dry-run by --dry-run"), "{report}");
    assert_eq!(marks(&db), "0");
}

/// Ten sessions listed, three of them named `{app}_late`: a per-row WARNING that held for those
/// three only, and a WARNING on the whole result below it, whose sessions are all ten.
fn matched(db: &Database, app: &str) -> String {
    format!(
        r#"version: 1
name: {}
steps:
  - id: late
    check: |
      SELECT pid, application_name FROM pg_stat_activity
      WHERE application_name LIKE '{app}%' AND datname = current_database() ORDER BY pid
    assess:
      - warning: application_name == '{app}_late'
        message: "{{{{ matching_rows }}}} of {{{{ row_count }}}} sessions late"
  - id: all
    check: |
      SELECT pid FROM pg_stat_activity
      WHERE application_name LIKE '{app}%' AND datname = current_database() ORDER BY pid
    assess:
      - critical: row_count > 9
        message: "{{{{ row_count }}}} sessions"
"#,
        db.playbook_name("matched")
    )
}

/// Issue 18, item 7: "What needs attention" names the sessions each assessment held for — the
/// three late ones, not the ten rows shown — and past eight pids, how many more.
#[test]
fn attention_names_the_pids_of_the_rows_the_assessment_held_for() {
    let db = Database::new();
    let app = format!("matched_{}", std::process::id());
    let early = db.sessions_named(&app, 7);
    let late = db.sessions_named(&format!("{app}_late"), 3);
    let playbook = matched(&db, &app);
    let outcome = decided(&playbook, &db, &[], Test::markdown_report);
    assert_eq!(outcome.status, 2, "{}", outcome.stderr);
    let report = outcome.markdown();
    let sorted = |sessions: &[&crate::common::db::Session]| {
        let mut pids: Vec<i32> = sessions.iter().map(|s| s.pid).collect();
        pids.sort_unstable();
        pids.iter().map(i32::to_string).collect::<Vec<_>>()
    };
    let late_pids = sorted(&late.iter().collect::<Vec<_>>());
    assert!(
        report.contains(&format!(
            "- **WARNING** `late`: 3 of 10 sessions late — pids {}\n",
            late_pids.join(", ")
        )),
        "{report}"
    );
    let all = sorted(&early.iter().chain(&late).collect::<Vec<_>>());
    assert!(
        report.contains(&format!(
            "- **CRITICAL** `all`: 10 sessions — pids {} (and 2 more)\n",
            all[..8].join(", ")
        )),
        "{report}"
    );
    // The JSON report carries them, with how many there were.
    let json = decided(&playbook, &db, &[], Test::json_report).json();
    let sessions = &json["steps"][0]["assessments"][0]["sessions"];
    assert_eq!(sessions["count"], 3, "{sessions}");
    let pids: Vec<String> = sessions["pids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pid| pid.to_string())
        .collect();
    assert_eq!(pids, late_pids);
}

/// Issue 18, item 7: a decision nobody took is `by: null` in the JSON report and the journal
/// — `decision` says why (`refused`, `dry-run`) — never a made-up `nobody` or `--dry-run`.
#[test]
fn decisions_nobody_took_are_by_null_in_the_json_report_and_the_journal() {
    let db = Database::new();
    let playbook = marking(&db);
    let refused = decided(&playbook, &db, &[], Test::json_report);
    assert_eq!(refused.status, 4, "{}", refused.stderr);
    let approval = &refused.json()["steps"][0]["approval"];
    assert_eq!(approval["decision"], "refused", "{approval}");
    assert_eq!(approval["by"], serde_json::Value::Null, "{approval}");
    assert_eq!(
        approval["reason"], "not approved: no terminal to ask and no `--yes`",
        "{approval}"
    );
    let journal = refused.journal();
    assert_eq!(journal.len(), 1, "{journal:?}");
    assert_eq!(journal[0]["decision"], "refused");
    assert_eq!(journal[0]["by"], serde_json::Value::Null, "{journal:?}");
    let dry = decided(&playbook, &db, &["--dry-run"], Test::json_report);
    let approval = &dry.json()["steps"][0]["approval"];
    assert_eq!(approval["decision"], "dry-run", "{approval}");
    assert_eq!(approval["by"], serde_json::Value::Null, "{approval}");
    let approved = decided(&playbook, &db, &["--yes"], Test::json_report);
    assert_eq!(approved.json()["steps"][0]["approval"]["by"], "--yes");
    assert_eq!(approved.journal()[0]["by"], "--yes");
    assert_eq!(marks(&db), "1");
}

/// Issue 18, item 7: an emergency dry run on a busy database is light enough to read at 3 a.m.
/// with no fact lost — a skipped step is one line, tables stop at ten rows and say the JSON
/// report has them all, an action names the check whose SQL it wraps and whose sessions it
/// lists instead of repeating them.
#[test]
fn an_emergency_dry_run_report_says_each_thing_once() {
    let db = Database::new();
    db.psql("CREATE TABLE t (id int PRIMARY KEY, x int); INSERT INTO t VALUES (1, 0)");
    let idle = db.sessions_named(&format!("busy_{}", std::process::id()), 12);
    let _holder = db.session_in(
        "BEGIN; UPDATE t SET x = x + 100 WHERE id = 1;",
        "idle in transaction|Client",
    );
    let _waiter = db.session_in("UPDATE t SET x = x + 1 WHERE id = 1;", "active|Lock");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let database = format!("database={}", db.name);
    let flags = ["--dry-run", "--var", &database, "--var", "idle_after=1s"];
    let flags = [&flags[..], &["--var", "lock_wait_after=1s"]].concat();
    let outcome = decided(
        &crate::common::built_in("emergency"),
        &db,
        &flags,
        Test::markdown_report,
    );
    assert_eq!(outcome.status, 1, "{}", outcome.stderr);
    let report = outcome.markdown();
    assert!(
        report.contains(
            "\n- 2. Pending TVIEW refreshes — SKIPPED · `pending_tview_refreshes`: relation `pg_tviews_queue` does not exist\n"
        ),
        "{report}"
    );
    assert!(
        report.contains("\n- 11. Once the server breathes again — MANUAL · `after_the_emergency`: its text is under Recommendations\n"),
        "{report}"
    );
    assert!(
        report.contains("\n_showing first 10 of 12 rows; all 12 in the JSON report_\n"),
        "{report}"
    );
    assert!(
        report.contains("\n_its 12 rows are the sessions step 5 (`idle_candidates`) lists above, by the same pids in the same order_\n"),
        "{report}"
    );
    for (number, check) in [(3, "blocker_candidates"), (5, "idle_candidates")] {
        assert!(
            report.contains(&format!(
                "WITH runbook_selected AS (\n-- the SQL of step {number} ({check}), shown above\n),"
            )),
            "{report}"
        );
    }
    // Each session is in one table, once: the check's (the action says it lists the same).
    let pid = idle.iter().map(|s| s.pid).min().unwrap();
    assert_eq!(
        report.matches(&format!("\n| {pid} | ")).count(),
        1,
        "{report}"
    );
}
