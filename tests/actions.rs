//! Actions against real sessions, without a terminal: `--yes`, failing closed, dry runs,
//! `max_rows`, the pid re-check, the advisory lock and the journal.

use std::time::Duration;

use crate::common::Test;
use crate::common::db::{Database, wait_for};

/// Terminates the sessions of one application_name: the check lists them, the terminate
/// step acts on exactly the rows it shows again at approval.
const TERMINATE: &str = r#"version: 1
name: terminate-app
params:
  app: { type: string, default: victim }
steps:
  - id: victims
    check: |
      SELECT pid, backend_start FROM pg_stat_activity
      WHERE application_name = {{ params.app }} AND datname = current_database()
  - id: terminate
    terminate: victims
    max_rows: 3
"#;

/// The playbook under a name of this test's own: the advisory lock is cluster-wide, keyed by
/// the playbook name, and tests run in parallel.
fn playbook(db: &Database) -> String {
    TERMINATE.replace("name: terminate-app", &format!("name: {}", db.name))
}

/// `runbook run terminate.yaml <extra>` with a JSON report; the caller states what it expects.
fn run(db: &Database, extra: &[&str]) -> Test {
    Test::new()
        .playbook("terminate.yaml", &playbook(db))
        .args(["run", "terminate.yaml"])
        .args(extra.iter().copied())
        .database(db)
        .json_report()
}

/// The summary line of a run of `playbook(db)` that decided an action (so it names the
/// journal); a run that is not OK says why (`[..]`: any text).
fn summary(db: &Database, status: &str, counts: &str) -> String {
    let why = if status == "OK" { "" } else { " — [..]" };
    format!(
        "{}: {status}{why} — {counts} — report: report.json — journal: report.journal.jsonl\n",
        db.name
    )
}

/// The same for a run that decided nothing.
fn summary_undecided(db: &Database, status: &str, counts: &str) -> String {
    summary(db, status, counts).replace(" — journal: report.journal.jsonl", "")
}

#[test]
fn yes_terminates_exactly_the_previewed_sessions() {
    let db = Database::new();
    let victims = db.sessions_named("victim", 2);
    let bystander = db.session_named("bystander");
    let outcome = run(&db, &["--yes"])
        .stderr(&summary(&db, "OK", "2 steps"))
        .run();
    for victim in &victims {
        db.wait_gone(victim.pid);
    }
    assert!(db.alive(bystander.pid), "the bystander survives");
    let report = outcome.json();
    let step = &report["steps"][1];
    assert_eq!(step["status"], "OK");
    assert_eq!(step["row_count"], 2);
    let mut terminated: Vec<(i64, bool)> = step["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row[0].as_i64().unwrap(), row[2].as_bool().unwrap()))
        .collect();
    terminated.sort();
    let mut expected: Vec<(i64, bool)> = victims.iter().map(|v| (i64::from(v.pid), true)).collect();
    expected.sort();
    assert_eq!(
        terminated, expected,
        "the report lists the pids terminated, with the server's answer"
    );
    assert_eq!(step["approval"]["decision"], "approved");
    assert_eq!(step["approval"]["by"], "--yes");
    assert_eq!(step["approval"]["preview_rows"], 2);
    let journal = outcome.journal();
    let entry = &journal[0];
    assert_eq!(entry["decision"], "approved");
    assert_eq!(entry["step"], "terminate");
    assert_eq!(entry["preview_rows"], 2);
    assert!(
        entry["sql"]
            .as_str()
            .unwrap()
            .contains("pg_terminate_backend")
    );
}

#[test]
fn without_a_terminal_and_without_yes_nothing_is_terminated() {
    let db = Database::new();
    let victim = db.session_named("victim");
    let outcome = run(&db, &[])
        .status(4)
        .stderr(&summary(&db, "STOPPED", "2 steps, 1 not run"))
        .run();
    std::thread::sleep(Duration::from_millis(300));
    assert!(db.alive(victim.pid));
    let report = outcome.json();
    assert_eq!(report["steps"][1]["status"], "NOT_RUN");
    assert_eq!(
        report["steps"][1]["message"],
        "not approved: no terminal to ask and no `--yes`"
    );
    assert_eq!(report["steps"][1]["approval"]["decision"], "refused");
    assert_eq!(
        outcome.journal()[0]["decision"],
        "refused",
        "refusals are journaled too"
    );
}

#[test]
fn yes_never_approves_a_confirm_action() {
    let db = Database::new();
    let victim = db.session_named("victim");
    let yaml = playbook(&db).replace(
        "    max_rows: 3\n",
        "    max_rows: 3\n    approval: confirm\n",
    );
    let outcome = Test::new()
        .playbook("confirm.yaml", &yaml)
        .args(["run", "confirm.yaml", "--yes"])
        .database(&db)
        .json_report()
        .status(4)
        .stderr(&summary(&db, "STOPPED", "2 steps, 1 not run"))
        .run();
    assert!(db.alive(victim.pid));
    assert!(
        outcome.json()["steps"][1]["message"]
            .as_str()
            .unwrap()
            .contains("which `--yes` never gives")
    );
}

#[test]
fn dry_run_terminates_nothing_and_says_what_would_have_run() {
    let db = Database::new();
    let victim = db.session_named("victim");
    let outcome = run(&db, &["--dry-run", "--yes"])
        .stderr(&summary_undecided(&db, "OK", "2 steps, 1 skipped"))
        .run();
    std::thread::sleep(Duration::from_millis(300));
    assert!(db.alive(victim.pid));
    let report = outcome.json();
    assert_eq!(report["mode"], "dry-run");
    let step = &report["steps"][1];
    assert_eq!(step["status"], "SKIPPED");
    assert_eq!(
        step["message"],
        "dry run: would have run the SQL below on 1 preview row"
    );
    assert!(
        step["sql"]
            .as_str()
            .unwrap()
            .contains(&format!("ARRAY[{}]", victim.pid))
    );
    assert_eq!(step["rows"][0][0], victim.pid);
    assert!(
        !outcome.path("report.journal.jsonl").exists(),
        "a dry run approves nothing"
    );
}

#[test]
fn max_rows_refuses_a_larger_preview() {
    let db = Database::new();
    let victims = db.sessions_named("victim", 4);
    let outcome = run(&db, &["--yes"])
        .status(4)
        .stderr(&summary_undecided(&db, "STOPPED", "2 steps, 1 not run"))
        .run();
    std::thread::sleep(Duration::from_millis(300));
    for victim in &victims {
        assert!(db.alive(victim.pid));
    }
    assert_eq!(
        outcome.json()["steps"][1]["message"],
        "refused: the preview has 4 rows, more than `max_rows` allows (3)"
    );
}

#[test]
fn a_second_responder_is_refused_by_the_advisory_lock() {
    let db = Database::new();
    let victim = db.session_named("victim");
    // Another run of the same playbook holds its lock (as the engine takes it).
    let mut holder = db.session_named(&format!("runbook:{}", db.name));
    let taken = holder.query(&format!(
        "SELECT pg_try_advisory_lock(1920298594, hashtext('{}'));",
        db.name
    ));
    assert_eq!(taken, "t");
    let outcome = run(&db, &["--yes"])
        .status(4)
        .stderr(&summary_undecided(&db, "STOPPED", "2 steps, 1 not run"))
        .run();
    assert!(db.alive(victim.pid));
    assert_eq!(
        outcome.json()["steps"][1]["message"],
        format!(
            "refused: another run of playbook `{name}` is acting on this server: pid {} (application_name `runbook:{name}`) holds its advisory lock",
            holder.pid,
            name = db.name
        )
    );
}

#[test]
fn an_unwritable_report_directory_stops_the_run_before_any_action() {
    let db = Database::new();
    let victim = db.session_named("victim");
    Test::new()
        .playbook("terminate.yaml", &playbook(&db))
        .file("blocker", "a file, not a directory")
        .args([
            "run",
            "terminate.yaml",
            "--yes",
            "--report",
            "blocker/r.json",
        ])
        .database(&db)
        .status(3)
        .stderr("error: cannot write the report to `blocker/r.json`: `blocker` is not an existing directory; nothing was run\n")
        .run();
    assert!(db.alive(victim.pid));
}

#[test]
fn two_concurrent_runs_one_is_refused_by_the_advisory_lock() {
    let db = Database::new();
    let name = db.playbook_name("lock");
    // The first run acts, then keeps its session (and the lock) while a check sleeps.
    let yaml = format!(
        "version: 1\nname: {name}\nsteps:\n  - id: act\n    action: SELECT 1 AS done\n  - id: linger\n    check: SELECT pg_sleep(4) AS slept\n"
    );
    let run = || {
        Test::new()
            .playbook("lock.yaml", &yaml)
            .args(["run", "lock.yaml", "--yes"])
            .database(&db)
            .json_report()
    };
    let first = run()
        .stderr(&format!(
            "{name}: OK — 2 steps — report: report.json — journal: report.journal.jsonl\n"
        ))
        .spawn();
    let lingering = format!(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'runbook:{name}' AND query LIKE '%pg_sleep%'"
    );
    wait_for(
        "the first run to hold the lock",
        Duration::from_secs(10),
        || !db.psql(&lingering).is_empty(),
    );
    let holder = db.psql(&lingering);
    let second = run()
        .status(4)
        .stderr(&format!(
            "{name}: STOPPED — `act`: refused: another run of playbook `{name}` is acting on this server: [..] holds its advisory lock — 2 steps, 1 not run — report: report.json\n"
        ))
        .run();
    assert_eq!(
        second.json()["steps"][0]["message"],
        format!(
            "refused: another run of playbook `{name}` is acting on this server: pid {holder} (application_name `runbook:{name}`) holds its advisory lock"
        )
    );
    let first = first.wait();
    assert_eq!(first.json()["steps"][0]["approval"]["decision"], "approved");
}

#[test]
fn a_run_killed_during_its_action_leaves_the_decision_which_the_next_run_points_out() {
    let db = Database::new();
    let name = db.playbook_name("killed");
    let yaml = format!(
        "version: 1\nname: {name}\nparams:\n  seconds: {{ type: integer, default: 30 }}\nsteps:\n  - id: slow\n    action: SELECT pg_sleep({{{{ params.seconds }}}}) AS slept\n"
    );
    let running = Test::new()
        .playbook("slow.yaml", &yaml)
        .args(["run", "slow.yaml", "--yes", "--quiet"])
        .database(&db)
        .json_report()
        .status(128 + libc::SIGKILL)
        .spawn();
    let sleeping = format!(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'runbook:{name}' AND query LIKE '%pg_sleep(30)%'"
    );
    wait_for("the action to run", Duration::from_secs(10), || {
        !db.psql(&sleeping).is_empty()
    });
    let outcome = running.kill(); // SIGKILL: no cleanup, no report
    // The killed run's backend sleeps on: cancel it, as a DBA would.
    assert_eq!(
        db.psql(&format!(
            "SELECT pg_cancel_backend(pid) FROM ({sleeping}) AS s"
        )),
        "t"
    );
    assert!(
        !outcome.path("report.json").exists(),
        "no report after SIGKILL"
    );
    let journal = outcome.journal();
    assert_eq!(
        journal.len(),
        1,
        "the decision, and no outcome: {journal:?}"
    );
    let entry = &journal[0];
    assert_eq!(entry["kind"], "decision");
    assert_eq!(entry["decision"], "approved");
    assert_eq!(entry["step"], "slow");
    assert_eq!(entry["by"], "--yes");
    let text = |key: &str| entry[key].as_str().unwrap().to_owned();
    let (at, operator, target, run) = (text("at"), text("operator"), text("target"), text("run"));
    let (pid, started) = run.split_once('@').unwrap();

    let note = format!(
        "an earlier run (pid {pid}, started {started}) approved step `slow` at {at} (by --yes, operator {operator}) on `{target}`, but the journal `report.journal.jsonl` has no outcome for it: that run ended (or is still running) after the approval, so `SELECT pg_sleep(30) AS slept` may or may not have run — check the server"
    );
    let next = outcome
        .again()
        .args(["run", "slow.yaml", "--yes", "--var", "seconds=0"])
        .database(&db)
        .json_report()
        .stderr(&format!(
            "note: {note}\n{name}: OK — 1 step — report: report.json — journal: report.journal.jsonl\n"
        ))
        .run();
    assert_eq!(next.json()["notes"], serde_json::json!([note]));
    // The next run's own action paired up: its decision and its outcome.
    let journal = next.journal();
    assert_eq!(journal.len(), 3, "{journal:?}");
    assert_eq!(journal[1]["run"], journal[2]["run"]);
    assert_ne!(journal[0]["run"], journal[1]["run"]);
}

/// The journal and the report of a run of `action` on a table `t` of 3 rows, with `--yes`;
/// `stderr` is what the run prints, given the playbook's name.
fn journal_of_an_action(
    db: &Database,
    action: &str,
    status: i32,
    stderr: impl FnOnce(&str) -> String,
) -> (Vec<serde_json::Value>, serde_json::Value) {
    db.psql("CREATE TABLE t (n int); INSERT INTO t VALUES (1), (2), (3)");
    let name = db.playbook_name("outcome");
    let yaml = format!("version: 1\nname: {name}\nsteps:\n  - id: bump\n    action: {action}\n");
    let outcome = Test::new()
        .playbook("bump.yaml", &yaml)
        .args(["run", "bump.yaml", "--yes"])
        .database(db)
        .json_report()
        .status(status)
        .stderr(&stderr(&name))
        .run();
    (outcome.journal(), outcome.json())
}

#[test]
fn an_approved_action_journals_its_decision_then_its_outcome() {
    let db = Database::new();
    let (journal, report) = journal_of_an_action(&db, "UPDATE t SET n = n + 1", 0, |name| {
        format!("{name}: OK — 1 step — report: report.json — journal: report.journal.jsonl\n")
    });
    assert_eq!(journal.len(), 2, "{journal:?}");
    let (decision, outcome) = (&journal[0], &journal[1]);
    assert_eq!(decision["kind"], "decision");
    assert_eq!(decision["decision"], "approved");
    assert_eq!(outcome["kind"], "outcome");
    assert_eq!(outcome["outcome"], "succeeded");
    assert_eq!(outcome["rows_affected"], 3);
    assert_eq!(outcome["rows_returned"], 0);
    assert_eq!(outcome["sqlstate"], serde_json::Value::Null);
    for key in ["run", "step", "playbook", "target"] {
        assert_eq!(decision[key], outcome[key], "{key} pairs them up");
    }
    assert_eq!(outcome["step"], "bump");
    assert_eq!(report["steps"][0]["rows_affected"], 3);
    assert_eq!(db.psql("SELECT sum(n) FROM t"), "9");
}

#[test]
fn a_failed_action_journals_its_sqlstate() {
    let db = Database::new();
    let (journal, report) = journal_of_an_action(&db, "UPDATE t SET n = n / 0", 3, |name| {
        format!(
            "error: step `bump` failed and has `on_error: abort`\n{name}: UNKNOWN — [..] — 1 step, 1 failed — report: report.json — journal: report.journal.jsonl\n"
        )
    });
    assert_eq!(journal.len(), 2, "{journal:?}");
    let outcome = &journal[1];
    assert_eq!(outcome["kind"], "outcome");
    assert_eq!(outcome["run"], journal[0]["run"]);
    assert_eq!(outcome["outcome"], "failed");
    assert_eq!(outcome["sqlstate"], "22012");
    assert_eq!(outcome["message"], "division by zero");
    assert_eq!(outcome["rows_affected"], serde_json::Value::Null);
    assert_eq!(report["steps"][0]["error"]["sqlstate"], "22012");
}

/// A playbook named for `db` with one `transaction: false` action, `sql`.
fn outside_a_transaction(db: &Database, prefix: &str, sql: &str) -> (String, String) {
    let name = db.playbook_name(prefix);
    let yaml = format!(
        "version: 1\nname: {name}\nsteps:\n  - id: maintain\n    action: {sql}\n    transaction: false\n"
    );
    (name, yaml)
}

/// Runs `yaml` with `--yes` and a JSON report; it must end OK with one step.
fn run_outside_a_transaction(db: &Database, name: &str, yaml: &str) -> crate::common::Outcome {
    Test::new()
        .playbook("maintain.yaml", yaml)
        .args(["run", "maintain.yaml", "--yes"])
        .database(db)
        .json_report()
        .stderr(&format!(
            "{name}: OK — 1 step — report: report.json — journal: report.journal.jsonl\n"
        ))
        .run()
}

#[test]
fn vacuum_runs_outside_a_transaction_block() {
    let db = Database::new();
    db.psql("CREATE TABLE t (n int); INSERT INTO t VALUES (1), (2), (3)");
    let (name, yaml) = outside_a_transaction(&db, "vacuum", "VACUUM t");
    let outcome = run_outside_a_transaction(&db, &name, &yaml);
    assert_eq!(outcome.json()["steps"][0]["status"], "OK");
    // The statistics collector reports the vacuum a moment after it ends.
    wait_for(
        "pg_stat_user_tables to show the vacuum",
        Duration::from_secs(10),
        || {
            db.psql("SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = 't'")
                == "t"
        },
    );
}

#[test]
fn create_index_concurrently_builds_a_valid_index() {
    let db = Database::new();
    db.psql("CREATE TABLE t (n int); INSERT INTO t VALUES (1), (2), (3)");
    let (name, yaml) = outside_a_transaction(&db, "cic", "CREATE INDEX CONCURRENTLY t_n ON t (n)");
    run_outside_a_transaction(&db, &name, &yaml);
    assert_eq!(
        db.psql("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_n'::regclass"),
        "t"
    );
}

#[test]
fn reindex_concurrently_runs_outside_a_transaction_block() {
    let db = Database::new();
    db.psql(
        "CREATE TABLE t (n int); INSERT INTO t VALUES (1), (2), (3); CREATE INDEX t_n ON t (n)",
    );
    let before = db.psql("SELECT 't_n'::regclass::oid");
    let (name, yaml) = outside_a_transaction(&db, "reindex", "REINDEX INDEX CONCURRENTLY t_n");
    run_outside_a_transaction(&db, &name, &yaml);
    // A concurrent reindex builds a new index and swaps it in: the name has a new oid.
    assert_ne!(db.psql("SELECT 't_n'::regclass::oid"), before);
    assert_eq!(
        db.psql("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_n'::regclass"),
        "t"
    );
}

#[test]
fn the_step_timeout_bounds_an_action_outside_a_transaction_and_ends_with_it() {
    let db = Database::new();
    let name = db.playbook_name("timeout");
    let yaml = format!(
        r#"version: 1
name: {name}
timeout: 7s
steps:
  - id: sleep
    action: SELECT pg_sleep(5)
    transaction: false
    timeout: 1s
    on_error: continue
  - id: after
    check: SELECT current_setting('statement_timeout') AS statement_timeout, current_setting('lock_timeout') AS lock_timeout
"#
    );
    let outcome = Test::new()
        .playbook("timeout.yaml", &yaml)
        .args(["run", "timeout.yaml", "--yes"])
        .database(&db)
        .json_report()
        .status(3)
        .stderr(&format!(
            "{name}: UNKNOWN — [..] — 2 steps, 1 failed — report: report.json — journal: report.journal.jsonl\n"
        ))
        .run();
    let report = outcome.json();
    let sleep = &report["steps"][0];
    assert_eq!(sleep["status"], "UNKNOWN");
    assert_eq!(sleep["error"]["sqlstate"], "57014");
    assert!(sleep["duration_ms"].as_u64().unwrap() < 4000, "{sleep}");
    let after = &report["steps"][1];
    assert_eq!(after["status"], "OK");
    assert_eq!(after["rows"][0], serde_json::json!(["7s", "7s"]));
}

#[test]
fn an_action_that_hits_more_rows_than_its_preview_showed_is_a_warning() {
    let db = Database::new();
    db.psql("CREATE TABLE jobs (id int, done bool); INSERT INTO jobs SELECT g, true FROM generate_series(1, 10) AS g");
    let name = db.playbook_name("unrelated");
    // The preview shows one row; the DELETE is not bound to it.
    let yaml = format!(
        "version: 1\nname: {name}\nsteps:\n  - id: purge\n    preview: SELECT id FROM jobs WHERE id = 1\n    action: DELETE FROM jobs WHERE done\n    max_rows: 1\n"
    );
    let outcome = Test::new()
        .playbook("purge.yaml", &yaml)
        .args(["run", "purge.yaml", "--yes"])
        .database(&db)
        .json_report()
        .status(1)
        .stderr(&format!(
            "{name}: WARNING — [..] — 1 step, 1 warning — report: report.json — journal: report.journal.jsonl\n"
        ))
        .run();
    let step = &outcome.json()["steps"][0];
    assert_eq!(step["status"], "WARNING");
    assert_eq!(step["rows_affected"], 10);
    assert!(
        step["message"]
            .as_str()
            .unwrap()
            .starts_with("the action affected 10 rows, more than the 1 its preview showed"),
        "{step}"
    );
}
