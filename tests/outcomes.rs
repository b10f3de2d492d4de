//! Honest outcomes: a check that cannot see what it counts is UNKNOWN, not OK; the summary line
//! says why a run is not OK and where its journal is; every run has a report of its own; a
//! journal is never appended through a link or into a file others can read; a report that
//! cannot be written at the end makes the run exit 3.

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;
use std::time::Duration;

use crate::common::Test;
use crate::common::db::{Database, Role, admin};

const BLIND: &str = "cannot see other roles' sessions in `pg_stat_activity`";

/// `daily-monitoring` on `db` as `user`, with a JSON report.
fn monitoring_as(db: &Database, user: &str) -> Test {
    Test::new()
        .args(["run", "daily-monitoring"])
        .var("database", &db.name)
        .database_url(&db.url_as(user))
        .json_report()
}

fn step<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    let steps = report["steps"].as_array().unwrap();
    steps.iter().find(|s| s["id"] == id).unwrap()
}

#[test]
fn a_role_that_cannot_see_other_roles_sessions_gets_unknown_not_a_low_count() {
    let role = Role::new();
    let db = Database::new();
    // Other roles' sessions, which the role would count as nothing.
    let _others: Vec<_> = (0..3).map(|_| db.session()).collect();
    let outcome = monitoring_as(&db, &role.name)
        .status(3)
        .stderr_any("the summary is checked below")
        .run();
    let report = outcome.json();
    assert_eq!(report["facts"]["can_read_all_stats"], false);
    let overview = step(&report, "overview");
    assert_eq!(overview["status"], "UNKNOWN", "{overview}");
    let message = overview["message"].as_str().unwrap();
    assert!(message.contains(BLIND), "{message}");
    assert!(
        message.contains(&format!("the role `{}`", role.name)),
        "{message}"
    );
    assert!(
        overview["rows"].as_array().unwrap().is_empty(),
        "nothing was sent, so nothing is counted"
    );
    let summary = outcome.stderr.lines().last().unwrap();
    assert!(
        summary.starts_with("daily-monitoring: UNKNOWN — `overview`: the check was not sent: "),
        "{summary}"
    );
    assert!(
        summary.contains("cannot see other roles' sessions"),
        "{summary}"
    );
    assert!(summary.ends_with("— report: report.json"), "{summary}");
}

#[test]
fn a_noinherit_member_of_pg_monitor_cannot_see_either_but_an_inheriting_one_can() {
    let db = Database::new();
    let _other = db.session();
    let noinherit = Role::new();
    admin(&format!("ALTER ROLE {} NOINHERIT", noinherit.name));
    admin(&format!("GRANT pg_monitor TO {}", noinherit.name));
    let outcome = monitoring_as(&db, &noinherit.name)
        .status(3)
        .stderr_any("the summary says UNKNOWN")
        .run();
    let report = outcome.json();
    assert_eq!(
        report["facts"]["can_read_all_stats"], false,
        "membership is not privilege"
    );
    let overview = step(&report, "overview");
    assert_eq!(overview["status"], "UNKNOWN");
    assert!(overview["message"].as_str().unwrap().contains(BLIND));

    let inheriting = Role::new();
    admin(&format!("GRANT pg_monitor TO {}", inheriting.name));
    let outcome = monitoring_as(&db, &inheriting.name)
        .stderr_any("checked in the report")
        .run();
    let report = outcome.json();
    assert_eq!(report["facts"]["can_read_all_stats"], true);
    let overview = step(&report, "overview");
    assert_ne!(overview["status"], "UNKNOWN", "{overview}");
    let total = &overview["rows"][0][0];
    assert!(
        total.as_i64().unwrap() >= 1,
        "the other session is counted: {total}"
    );
}

/// A custom check reading `pg_stat_activity`: by default it needs every role's sessions;
/// `sees: own_sessions` says its own are enough.
#[test]
fn a_custom_check_needs_every_session_unless_it_says_its_own_are_enough() {
    let role = Role::new();
    let db = Database::new();
    let playbook = |sees: &str| {
        format!(
            "version: 1\nname: mine\nsteps:\n  - id: mine\n    check: SELECT count(*) AS n FROM pg_stat_activity WHERE usename = current_user\n{sees}"
        )
    };
    let outcome = Test::new()
        .playbook("mine.yaml", &playbook(""))
        .args(["run", "mine.yaml"])
        .database_url(&db.url_as(&role.name))
        .json_report()
        .status(3)
        .stderr("mine: UNKNOWN — `mine`: the check was not sent: it needs every role's sessions, and the role [..] — 1 step, 1 failed — report: report.json\n")
        .run();
    assert_eq!(step(&outcome.json(), "mine")["status"], "UNKNOWN");
    let outcome = Test::new()
        .playbook("mine.yaml", &playbook("    sees: own_sessions\n"))
        .args(["run", "mine.yaml"])
        .database_url(&db.url_as(&role.name))
        .json_report()
        .stderr("mine: OK — 1 step — report: report.json\n")
        .run();
    assert_eq!(step(&outcome.json(), "mine")["rows"][0][0], 1);
    // Declared, it holds even for SQL that reads no statistics view.
    let declared = "version: 1\nname: mine\nsteps:\n  - id: mine\n    check: SELECT 1 AS one\n    sees: all_sessions\n";
    Test::new()
        .playbook("mine.yaml", declared)
        .args(["run", "mine.yaml"])
        .database_url(&db.url_as(&role.name))
        .json_report()
        .status(3)
        .stderr_any("UNKNOWN")
        .run();
}

#[test]
fn sees_is_validated_and_applies_to_checks_and_previews() {
    let bad = "version: 1\nname: bad\nsteps:\n  - id: one\n    check: SELECT 1 AS one\n    sees: everything\n";
    let outcome = Test::new()
        .playbook("bad.yaml", bad)
        .args(["validate", "bad.yaml"])
        .status(1)
        .stderr_any("checked below")
        .run();
    assert!(outcome.stderr.contains("bad.yaml:6"), "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("all_sessions"),
        "{}",
        outcome.stderr
    );
    let manual =
        "version: 1\nname: bad\nsteps:\n  - id: one\n    manual: Look.\n    sees: all_sessions\n";
    let outcome = Test::new()
        .playbook("bad.yaml", manual)
        .args(["validate", "bad.yaml"])
        .status(1)
        .stderr_any("checked below")
        .run();
    assert!(
        outcome
            .stderr
            .contains("`sees` does not apply to a manual step"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn step_without_a_terminal_is_refused_and_says_so() {
    let db = Database::new();
    let yaml = "version: 1\nname: walk\nsteps:\n  - id: one\n    check: SELECT 1 AS one\n  - id: two\n    check: SELECT 2 AS two\n";
    let outcome = Test::new()
        .playbook("walk.yaml", yaml)
        .args(["run", "walk.yaml", "--step"])
        .database(&db)
        .json_report()
        .status(4)
        .stderr("walk: STOPPED — `one`: not run: `--step` asks before every step, and there is no terminal to ask at — 2 steps, 2 not run — report: report.json\n")
        .run();
    let report = outcome.json();
    assert_eq!(step(&report, "one")["status"], "NOT_RUN");
    assert_ne!(
        step(&report, "one")["message"],
        "aborted by the operator (`--step`)"
    );
}

#[test]
fn the_summary_line_says_why_a_run_is_not_ok() {
    let db = Database::new();
    let yaml = "version: 1\nname: why\nsteps:\n  - id: fine\n    check: SELECT 1 AS n\n  - id: high\n    check: SELECT 7 AS n\n    assess:\n      - warning: n > 5\n        message: \"n is {{ n }}, above 5\"\n  - id: broken\n    check: SELECT 1/0 AS n\n";
    Test::new()
        .playbook("why.yaml", yaml)
        .args(["run", "why.yaml"])
        .database(&db)
        .json_report()
        .status(3)
        .stderr("why: UNKNOWN — `broken`: division by zero (and 1 more problem) — 3 steps, 1 failed, 1 warning — report: report.json\n")
        .run();
}

#[test]
fn the_journal_is_named_on_the_summary_line_once_an_action_was_decided() {
    let db = Database::new();
    db.psql("CREATE TABLE t (n int)");
    let yaml = marking(&db);
    let outcome = Test::new()
        .playbook("act.yaml", &yaml)
        .args(["run", "act.yaml", "--yes", "--report", "r.md"])
        .database(&db)
        .stderr(&format!(
            "{}: OK — 1 step — report: r.md — journal: r.journal.jsonl\n",
            db.playbook_name("act")
        ))
        .run();
    assert!(outcome.path("r.journal.jsonl").is_file());
    // A run that decided nothing names no journal.
    let yaml = "version: 1\nname: look\nsteps:\n  - id: look\n    check: SELECT 1 AS n\n";
    Test::new()
        .playbook("look.yaml", yaml)
        .args(["run", "look.yaml", "--report", "r.md"])
        .database(&db)
        .stderr("look: OK — 1 step — report: r.md\n")
        .run();
}

#[test]
fn runs_started_in_the_same_second_write_reports_of_their_own() {
    let db = Database::new();
    let dir = tempfile::tempdir().unwrap();
    let yaml = "version: 1\nname: same\nsteps:\n  - id: look\n    check: SELECT 1 AS n\n";
    std::fs::write(dir.path().join("same.yaml"), yaml).unwrap();
    let children: Vec<_> = (0..5)
        .map(|_| {
            crate::common::runbook_in(dir.path())
                .args(["run", "same.yaml", "--database-url", &db.url()])
                .current_dir(dir.path())
                .stdin(std::process::Stdio::null())
                .output()
        })
        .collect();
    let mut shown = Vec::new();
    for child in children {
        let output = child.unwrap();
        assert!(output.status.success(), "{output:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        shown.push(stderr.trim().rsplit("report: ").next().unwrap().to_owned());
    }
    let reports: Vec<_> = std::fs::read_dir(dir.path().join("runbook-reports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(reports.len(), 5, "five reports: {reports:?}");
    for report in &reports {
        let text = std::fs::read_to_string(report).unwrap();
        assert!(
            text.starts_with("# "),
            "{}: a whole report",
            report.display()
        );
    }
    shown.sort();
    shown.dedup();
    assert_eq!(shown.len(), 5, "each run names its own report: {shown:?}");
}

/// A playbook whose one action leaves a mark in `t`, named for `db` (a responder's lock is
/// server-wide, and tests run in parallel).
fn marking(db: &Database) -> String {
    format!(
        "version: 1\nname: {}\nsteps:\n  - id: mark\n    action: INSERT INTO t VALUES (1)\n",
        db.playbook_name("act")
    )
}

/// A run that must journal, reporting to `r.md` in `test`'s directory.
fn acting(db: &Database) -> Test {
    db.psql("CREATE TABLE t (n int)");
    let yaml = marking(db);
    Test::new()
        .playbook("act.yaml", &yaml)
        .args(["run", "act.yaml", "--yes", "--report", "r.md"])
        .database(db)
}

#[test]
fn a_journal_is_never_appended_through_a_link_nor_to_a_file_others_can_read() {
    let db = Database::new();
    let test = acting(&db).file("public.txt", "world-readable\n");
    let public = test.dir().join("public.txt");
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&public, test.dir().join("r.journal.jsonl")).unwrap();
    let outcome = test
        .status(3)
        .stderr("error: cannot write the audit journal `r.journal.jsonl`: it is a symbolic link; a journal is never appended through one; nothing was run\n")
        .run();
    assert_eq!(outcome.read("public.txt"), "world-readable\n");
    assert_eq!(db.psql("SELECT count(*) FROM t"), "0");

    let db = Database::new();
    let test = acting(&db).file("r.journal.jsonl", "");
    let journal = test.dir().join("r.journal.jsonl");
    std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o644)).unwrap();
    test.status(3)
        .stderr("error: cannot write the audit journal `r.journal.jsonl`: others may read or write it (mode 644); make it 0600 (`chmod 600`) or move it away; nothing was run\n")
        .run();
    assert_eq!(db.psql("SELECT count(*) FROM t"), "0");
}

#[test]
fn a_report_name_longer_than_a_file_name_can_be_is_refused_before_anything_runs() {
    let db = Database::new();
    db.psql("CREATE TABLE t (n int)");
    let name = format!("{}.md", "r".repeat(300));
    let yaml = marking(&db);
    Test::new()
        .playbook("act.yaml", &yaml)
        .args(["run", "act.yaml", "--yes", "--report", &name])
        .database(&db)
        .status(3)
        .stderr("error: cannot write the report to `[..]`: File name too long (os error 36); nothing was run\n")
        .run();
    assert_eq!(db.psql("SELECT count(*) FROM t"), "0");
}

/// Another user's file in a sticky directory (like `/tmp`) cannot be replaced by the rename at
/// the end: found before anything runs. The run is made as `nobody` (root may replace it).
#[test]
fn another_users_file_in_a_sticky_directory_is_refused_before_anything_runs() {
    let db = Database::new();
    db.psql("CREATE TABLE t (n int)");
    db.psql("GRANT ALL ON t TO PUBLIC");
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let binary = dir.path().join("runbook");
    std::fs::copy(env!("CARGO_BIN_EXE_runbook"), &binary).unwrap();
    let yaml = marking(&db);
    std::fs::write(dir.path().join("act.yaml"), &yaml).unwrap();
    let sticky = dir.path().join("sticky");
    std::fs::create_dir(&sticky).unwrap();
    std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let theirs = sticky.join("r.md");
    std::fs::write(&theirs, "someone else's report\n").unwrap();
    // SAFETY: a NUL-terminated path; uid/gid 1 is `daemon`, neither root nor `nobody`.
    let path = std::ffi::CString::new(theirs.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::chown(path.as_ptr(), 1, 1) }, 0);
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o666)).unwrap();
    let role = Role::new();
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&binary)
        .args(["run", "act.yaml", "--yes", "--no-history", "--report"])
        .arg(&theirs)
        .args(["--database-url", &db.url_as(&role.name)])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .output()
        .expect("setpriv (util-linux) runs the binary as nobody");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("it belongs to another user (uid 1) in a sticky directory"),
        "{stderr}"
    );
    assert!(stderr.ends_with("; nothing was run\n"), "{stderr}");
    assert_eq!(db.psql("SELECT count(*) FROM t"), "0");
    assert_eq!(
        std::fs::read_to_string(&theirs).unwrap(),
        "someone else's report\n"
    );
}

#[test]
fn a_report_that_cannot_be_written_at_the_end_makes_the_run_exit_3_and_says_so() {
    let db = Database::new();
    let yaml = "version: 1\nname: late\nsteps:\n  - id: slow\n    check: SELECT pg_sleep(2) IS NULL AS slept\n";
    let test = Test::new().playbook("late.yaml", yaml);
    let out = test.dir().join("out");
    std::fs::create_dir(&out).unwrap();
    let running = test
        .args(["run", "late.yaml", "--report", "out/r.md"])
        .database(&db)
        .status(3)
        .stderr("error: cannot create the directory `out` for the report `out/r.md`: File exists (os error 17)\nlate: UNKNOWN — the report could not be written — 1 step — report: NOT WRITTEN\n")
        .spawn();
    std::thread::sleep(Duration::from_millis(800));
    // The directory gives way to a file: the report has nowhere to go.
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::write(&out, "not a directory\n").unwrap();
    running.wait();
}

/// Advisory locks live in one database; a responder is one per server. A run of the same
/// playbook holding its lock while connected to another database keeps this one from acting.
#[test]
fn a_responder_in_another_database_keeps_this_run_from_acting() {
    let db = Database::new();
    let other = Database::new();
    db.psql("CREATE TABLE t (n int)");
    let name = db.playbook_name("responder");
    let mut holder = other.session_named(&format!("runbook:{name}"));
    let taken = holder.query(&format!(
        "SELECT pg_try_advisory_lock(1920298594, hashtext('{name}'));"
    ));
    assert_eq!(taken, "t");
    let yaml = format!(
        "version: 1\nname: {name}\nsteps:\n  - id: mark\n    action: INSERT INTO t VALUES (1)\n"
    );
    let outcome = Test::new()
        .playbook("p.yaml", &yaml)
        .args(["run", "p.yaml", "--yes"])
        .database(&db)
        .json_report()
        .status(4)
        .stderr_any("the message is checked below")
        .run();
    assert_eq!(db.psql("SELECT count(*) FROM t"), "0", "nothing ran");
    assert_eq!(
        step(&outcome.json(), "mark")["message"],
        format!(
            "refused: another run of playbook `{name}` is acting on this server: pid {} (application_name `runbook:{name}`, database `{}`) holds its advisory lock",
            holder.pid, other.name
        )
    );
    // Once the other responder is done, this run may act.
    drop(holder);
    Test::new()
        .playbook("p.yaml", &yaml)
        .args(["run", "p.yaml", "--yes"])
        .database(&db)
        .json_report()
        .stderr_any("OK")
        .run();
    assert_eq!(db.psql("SELECT count(*) FROM t"), "1");
}

/// A misspelt `--var database=…` scoped every query to a database that does not exist, and every
/// count came out 0: all green. A `database` param names a database the server has, or the run
/// cannot start.
#[test]
fn a_database_param_naming_no_database_is_unknown_not_ok() {
    let db = Database::new();
    let misspelt = format!("{}x", db.name);
    let outcome = Test::new()
        .args(["run", "daily-monitoring"])
        .var("database", &misspelt)
        .database(&db)
        .json_report()
        .status(3)
        .stderr_any("checked below")
        .run();
    let report = outcome.json();
    let error = report["error"].as_str().unwrap();
    assert_eq!(
        error,
        format!(
            "`--var database={misspelt}`: the server has no database named `{misspelt}` (did you mean `{}`?)",
            db.name
        )
    );
    for step in report["steps"].as_array().unwrap() {
        assert_eq!(step["status"], "NOT_RUN", "{step}");
    }
    assert!(
        outcome
            .stderr
            .contains("daily-monitoring: UNKNOWN — `--var database=")
    );
}

/// `connection-cleanup --yes` as a role that sees every session but may not signal them: the
/// terminations cannot run, and the run says so with exit 3 — not the exit 1 of a run that did
/// its job with a warning.
#[test]
fn an_action_the_role_may_not_run_makes_the_run_unknown() {
    let role = Role::new();
    admin(&format!("GRANT pg_read_all_stats TO {}", role.name));
    let db = Database::new();
    let outcome = Test::new()
        .args(["run", "connection-cleanup", "--yes"])
        .var("database", &db.name)
        .database_url(&db.url_as(&role.name))
        .json_report()
        .status(3)
        .stderr_any("checked below")
        .run();
    let report = outcome.json();
    let message = format!(
        "`{}` does not have the privileges of `pg_signal_backend`",
        role.name
    );
    for id in ["terminate_idle", "terminate_idle_in_transaction"] {
        let action = step(&report, id);
        assert_eq!(action["status"], "SKIPPED", "{id}: {action}");
        assert_eq!(action["message"], message.as_str());
    }
    assert_eq!(report["status"], "UNKNOWN");
    let message = format!("not run: {message}");
    assert!(
        outcome.stderr.contains(&format!(
            "connection-cleanup: UNKNOWN — `terminate_idle`: {message} (and 1 more problem)"
        )),
        "{}",
        outcome.stderr
    );
}
