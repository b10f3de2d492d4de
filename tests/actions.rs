//! Actions against real sessions, without a terminal: `--yes`, failing closed, dry runs,
//! `max_rows`, the pid re-check, the advisory lock and the journal.

mod common;

use std::fs;
use std::time::Duration;

use common::Test;
use common::db::{Database, Session, wait_for};

/// Terminates the sessions of one application_name, acting only on the rows it previewed and
/// re-checking pid and backend_start in the same statement.
const TERMINATE: &str = r#"version: 1
name: terminate-app
params:
  app: { type: string, default: victim }
steps:
  - id: terminate
    preview: |
      SELECT pid, backend_start FROM pg_stat_activity
      WHERE application_name = {{ params.app }} AND backend_type = 'client backend'
        AND datname = current_database() AND pid <> pg_backend_pid()
    action: |
      SELECT a.pid, pg_terminate_backend(a.pid) AS terminated
      FROM pg_stat_activity AS a
      JOIN unnest({{ preview.rows | map(attribute='pid') | list }}::int[],
                  {{ preview.rows | map(attribute='backend_start') | list }}::timestamptz[])
           AS p(pid, backend_start)
        ON a.pid = p.pid AND a.backend_start = p.backend_start
      WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
    max_rows: 3
"#;

fn named(db: &Database, app: &str) -> Session {
    let mut session = db.session();
    session.send(&format!("SET application_name = '{app}';"));
    session
}

fn alive(db: &Database, pid: i32) -> bool {
    db.psql(&format!(
        "SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}"
    )) == "1"
}

fn gone(db: &Database, pid: i32) {
    wait_for("the session to end", Duration::from_secs(10), || {
        !alive(db, pid)
    });
}

fn wait_named(db: &Database, app: &str, count: usize) {
    wait_for(
        "sessions to set their application_name",
        Duration::from_secs(10),
        || {
            db.psql(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}' AND datname = current_database()"
        )) == count.to_string()
        },
    );
}

/// The playbook under a name of this test's own: the advisory lock is cluster-wide, keyed by
/// the playbook name, and tests run in parallel.
fn playbook(db: &Database) -> String {
    TERMINATE.replace("name: terminate-app", &format!("name: {}", db.name))
}

fn run(db: &Database, extra: &[&str]) -> common::Outcome {
    Test::new()
        .playbook("terminate.yaml", &playbook(db))
        .args([
            "run",
            "terminate.yaml",
            "--database-url",
            &db.url(),
            "--report",
            "r.json",
            "--format",
            "json",
        ])
        .args(extra.iter().copied())
        .run()
}

#[test]
fn yes_terminates_exactly_the_previewed_sessions() {
    let db = Database::new();
    let victims = [named(&db, "victim"), named(&db, "victim")];
    let bystander = named(&db, "bystander");
    wait_named(&db, "victim", 2);
    let outcome = run(&db, &["--yes"]).code(0);
    for victim in &victims {
        gone(&db, victim.pid);
    }
    assert!(alive(&db, bystander.pid), "the bystander survives");
    let report = outcome.json("r.json");
    let step = &report["steps"][0];
    assert_eq!(step["status"], "OK");
    assert_eq!(step["row_count"], 2);
    let mut terminated: Vec<(String, String)> = step["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row[0].as_str().unwrap().to_owned(),
                row[1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    terminated.sort();
    let mut expected: Vec<(String, String)> = victims
        .iter()
        .map(|v| (v.pid.to_string(), "t".to_owned()))
        .collect();
    expected.sort();
    assert_eq!(
        terminated, expected,
        "the report lists the pids terminated, with the server's answer"
    );
    assert_eq!(step["approval"]["decision"], "approved");
    assert_eq!(step["approval"]["by"], "--yes");
    assert_eq!(step["approval"]["preview_rows"], 2);
    let journal = fs::read_to_string(outcome.dir.join("r.journal.jsonl")).unwrap();
    let entry: serde_json::Value = serde_json::from_str(journal.lines().next().unwrap()).unwrap();
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
    let victim = named(&db, "victim");
    wait_named(&db, "victim", 1);
    let outcome = run(&db, &[]).code(4);
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(&db, victim.pid));
    let report = outcome.json("r.json");
    assert_eq!(report["steps"][0]["status"], "NOT_RUN");
    assert_eq!(
        report["steps"][0]["message"],
        "not approved: no terminal to ask and no `--yes`"
    );
    assert_eq!(report["steps"][0]["approval"]["decision"], "refused");
    let journal = fs::read_to_string(outcome.dir.join("r.journal.jsonl")).unwrap();
    assert!(
        journal.contains("\"decision\":\"refused\""),
        "refusals are journaled too"
    );
}

#[test]
fn yes_never_approves_a_confirm_action() {
    let db = Database::new();
    let victim = named(&db, "victim");
    wait_named(&db, "victim", 1);
    let yaml = playbook(&db).replace(
        "    max_rows: 3\n",
        "    max_rows: 3\n    approval: confirm\n",
    );
    let outcome = Test::new()
        .playbook("confirm.yaml", &yaml)
        .args([
            "run",
            "confirm.yaml",
            "--yes",
            "--database-url",
            &db.url(),
            "--report",
            "r.json",
            "--format",
            "json",
        ])
        .run()
        .code(4);
    assert!(alive(&db, victim.pid));
    assert!(
        outcome.json("r.json")["steps"][0]["message"]
            .as_str()
            .unwrap()
            .contains("which `--yes` never gives")
    );
}

#[test]
fn dry_run_terminates_nothing_and_says_what_would_have_run() {
    let db = Database::new();
    let victim = named(&db, "victim");
    wait_named(&db, "victim", 1);
    let outcome = run(&db, &["--dry-run", "--yes"]).code(0);
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(&db, victim.pid));
    let report = outcome.json("r.json");
    assert_eq!(report["mode"], "dry-run");
    let step = &report["steps"][0];
    assert_eq!(step["status"], "SKIPPED");
    assert_eq!(
        step["message"],
        "dry run: would have run the SQL below on the 1 preview rows"
    );
    assert!(
        step["sql"]
            .as_str()
            .unwrap()
            .contains(&format!("ARRAY[{}]", victim.pid))
    );
    assert_eq!(step["rows"][0][0], victim.pid.to_string());
    assert!(
        !outcome.dir.join("r.journal.jsonl").exists(),
        "a dry run approves nothing"
    );
}

#[test]
fn max_rows_refuses_a_larger_preview() {
    let db = Database::new();
    let victims: Vec<Session> = (0..4).map(|_| named(&db, "victim")).collect();
    wait_named(&db, "victim", 4);
    let outcome = run(&db, &["--yes"]).code(4);
    std::thread::sleep(Duration::from_millis(300));
    for victim in &victims {
        assert!(alive(&db, victim.pid));
    }
    assert_eq!(
        outcome.json("r.json")["steps"][0]["message"],
        "refused: the preview has 4 rows, more than `max_rows` allows (3)"
    );
}

#[test]
fn a_reused_pid_is_never_signalled() {
    let db = Database::new();
    let mut stranger = named(&db, "stranger");
    wait_named(&db, "stranger", 1);
    // The approved row names the stranger's pid with another session's start time: the pid
    // was reused by a new session after the operator saw it.
    let started = stranger.query("SELECT backend_start - interval '1 hour' FROM pg_stat_activity WHERE pid = pg_backend_pid();");
    let yaml = format!(
        r#"version: 1
name: reused
steps:
  - id: terminate
    preview: SELECT {pid}::int AS pid, '{started}'::timestamptz AS backend_start
    action: |
      SELECT a.pid, pg_terminate_backend(a.pid) AS terminated
      FROM pg_stat_activity AS a
      JOIN unnest({{{{ preview.rows | map(attribute='pid') | list }}}}::int[],
                  {{{{ preview.rows | map(attribute='backend_start') | list }}}}::timestamptz[])
           AS p(pid, backend_start)
        ON a.pid = p.pid AND a.backend_start = p.backend_start
      WHERE a.pid <> pg_backend_pid()
"#,
        pid = stranger.pid
    );
    let outcome = Test::new()
        .playbook("reused.yaml", &yaml)
        .args([
            "run",
            "reused.yaml",
            "--yes",
            "--database-url",
            &db.url(),
            "--report",
            "r.json",
            "--format",
            "json",
        ])
        .run()
        .code(0);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        alive(&db, stranger.pid),
        "the new session behind the reused pid survives"
    );
    assert_eq!(
        outcome.json("r.json")["steps"][0]["row_count"],
        0,
        "nothing was signalled"
    );
}

#[test]
fn a_second_responder_is_refused_by_the_advisory_lock() {
    let db = Database::new();
    let victim = named(&db, "victim");
    wait_named(&db, "victim", 1);
    // Another run of the same playbook holds its lock (as the engine takes it).
    let mut holder = db.session();
    holder.send(&format!("SET application_name = 'runbook:{}';", db.name));
    let taken = holder.query(&format!(
        "SELECT pg_try_advisory_lock(1920298594, hashtext('{}'));",
        db.name
    ));
    assert_eq!(taken, "t");
    let outcome = run(&db, &["--yes"]).code(4);
    assert!(alive(&db, victim.pid));
    let message = outcome.json("r.json")["steps"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        message,
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
    let victim = named(&db, "victim");
    wait_named(&db, "victim", 1);
    let test = Test::new()
        .playbook("terminate.yaml", &playbook(&db))
        .file("blocker", "a file, not a directory");
    let outcome = test
        .args([
            "run",
            "terminate.yaml",
            "--yes",
            "--database-url",
            &db.url(),
            "--report",
            "blocker/r.json",
        ])
        .run()
        .code(3);
    assert!(
        outcome
            .stderr
            .contains("cannot write the audit journal `blocker/r.journal.jsonl`"),
        "{}",
        outcome.stderr
    );
    assert!(alive(&db, victim.pid));
}

#[test]
fn two_concurrent_runs_one_is_refused_by_the_advisory_lock() {
    let db = Database::new();
    let name = format!("lock-{}", db.name.replace('_', "-"));
    // The first run acts, then keeps its session (and the lock) while a check sleeps.
    let yaml = format!(
        "version: 1\nname: {name}\nsteps:\n  - id: act\n    action: SELECT 1 AS done\n  - id: linger\n    check: SELECT pg_sleep(4) AS slept\n"
    );
    let first = Test::new().playbook("lock.yaml", &yaml).args([
        "run",
        "lock.yaml",
        "--yes",
        "--database-url",
        &db.url(),
        "--report",
        "r.json",
        "--format",
        "json",
    ]);
    let first = std::thread::spawn(move || first.run());
    let lingering = format!(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'runbook:{name}' AND query LIKE '%pg_sleep%'"
    );
    wait_for(
        "the first run to hold the lock",
        Duration::from_secs(10),
        || !db.psql(&lingering).is_empty(),
    );
    let holder = db.psql(&lingering);
    let second = Test::new()
        .playbook("lock.yaml", &yaml)
        .args([
            "run",
            "lock.yaml",
            "--yes",
            "--database-url",
            &db.url(),
            "--report",
            "r.json",
            "--format",
            "json",
        ])
        .run()
        .code(4);
    assert_eq!(
        second.json("r.json")["steps"][0]["message"],
        format!(
            "refused: another run of playbook `{name}` is acting on this server: pid {holder} (application_name `runbook:{name}`) holds its advisory lock"
        )
    );
    let first = first.join().unwrap().code(0);
    assert_eq!(
        first.json("r.json")["steps"][0]["approval"]["decision"],
        "approved"
    );
}

#[test]
fn the_journal_entry_survives_a_kill_right_after_approval() {
    let db = Database::new();
    let name = format!("killed-{}", db.name.replace('_', "-"));
    let yaml = format!(
        "version: 1\nname: {name}\nsteps:\n  - id: slow\n    action: SELECT pg_sleep(30) AS slept\n"
    );
    let test = Test::new().playbook("slow.yaml", &yaml);
    let dir = test.dir().to_owned();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_runbook"))
        .args([
            "run",
            "slow.yaml",
            "--yes",
            "--quiet",
            "--database-url",
            &db.url(),
            "--report",
            "r.md",
        ])
        .current_dir(&dir)
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let running = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'runbook:{name}' AND query LIKE '%pg_sleep(30)%'"
    );
    wait_for("the action to run", Duration::from_secs(10), || {
        db.psql(&running) == "1"
    });
    child.kill().unwrap(); // SIGKILL: no cleanup, no report
    child.wait().unwrap();
    let journal = fs::read_to_string(dir.join("r.journal.jsonl")).unwrap();
    let entry: serde_json::Value = serde_json::from_str(journal.lines().next().unwrap()).unwrap();
    assert_eq!(entry["decision"], "approved");
    assert_eq!(entry["step"], "slow");
    assert_eq!(entry["by"], "--yes");
    drop(test);
}
