//! `terminate:` and `cancel:` against real sessions: exactly the approved sessions are
//! signalled, and only while their check still selects the same session (and, for a cancel,
//! the same query); the engine's own session, other runbook sessions and — for a role that is
//! not a superuser — superusers' sessions are spared, and each approved session's row says
//! what the server answered or why it was spared.

use std::time::Duration;

use crate::common::Test;
use crate::common::db::{Database, Role, Session, admin};
use crate::common::pty::{Pty, UP};

/// The sessions of this test's database that `app` names, terminated once approved.
fn terminate_playbook(db: &Database, app: &str, extra: &str) -> String {
    format!(
        r#"version: 1
name: {name}
steps:
  - id: victims
    check: |
      SELECT pid, backend_start, usename, application_name, state FROM pg_stat_activity
      WHERE datname = current_database() AND {app}
  - id: terminate
    terminate: victims
{extra}"#,
        name = db.playbook_name("sessions")
    )
}

fn run(db: &Database, yaml: &str) -> Test {
    Test::new()
        .playbook("p.yaml", yaml)
        .args(["run", "p.yaml", "--yes"])
        .database(db)
        .json_report()
}

/// The result rows of the step at `index`, as (pid, answer, spared).
fn answers(report: &serde_json::Value, index: usize) -> Vec<(i32, Option<bool>, Option<String>)> {
    let step = &report["steps"][index];
    let columns: Vec<&str> = step["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let at = |name: &str| columns.iter().position(|c| *c == name).unwrap();
    let (pid, spared) = (at("pid"), at("spared"));
    let answer = columns.len() - 2;
    let mut rows: Vec<_> = step["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let pid = row[pid].as_i64().and_then(|pid| i32::try_from(pid).ok());
            let spared = row[spared].as_str().map(str::to_owned);
            (pid.unwrap(), row[answer].as_bool(), spared)
        })
        .collect();
    rows.sort();
    rows
}

/// The summary line of a run of `playbook(db)` that decided an action (so it names the
/// journal); a run that is not OK says why (`[..]`: any text).
fn summary(db: &Database, status: &str, counts: &str) -> String {
    let why = if status == "OK" { "" } else { " — [..]" };
    format!(
        "{}: {status}{why} — {counts} — report: report.json — journal: report.journal.jsonl\n",
        db.playbook_name("sessions")
    )
}

/// The same for a run that decided nothing.
fn summary_undecided(db: &Database, status: &str, counts: &str) -> String {
    summary(db, status, counts).replace(" — journal: report.journal.jsonl", "")
}

#[test]
fn terminate_signals_exactly_the_approved_sessions_in_three_lines() {
    let db = Database::new();
    let victims = db.sessions_named("victim", 2);
    let bystander = db.session_named("bystander");
    let yaml = terminate_playbook(&db, "application_name = 'victim'", "");
    let outcome = run(&db, &yaml).stderr(&summary(&db, "OK", "2 steps")).run();
    for victim in &victims {
        db.wait_gone(victim.pid);
    }
    assert!(db.alive(bystander.pid), "the bystander survives");
    let report = outcome.json();
    let step = &report["steps"][1];
    assert_eq!(step["kind"], "terminate");
    assert_eq!(step["status"], "OK");
    assert_eq!(step["message"], "2 sessions terminated");
    assert_eq!(
        step["columns"],
        serde_json::json!(["pid", "backend_start", "terminated", "spared"])
    );
    let mut expected: Vec<_> = victims.iter().map(|v| (v.pid, Some(true), None)).collect();
    expected.sort();
    assert_eq!(answers(&report, 1), expected);
    assert_eq!(step["approval"]["preview_rows"], 2);
    let journal = outcome.journal();
    assert_eq!(journal[0]["step"], "terminate");
    assert_eq!(journal[1]["kind"], "outcome");
    assert_eq!(
        journal[1]["signalled"], 2,
        "the journal says how many were signalled"
    );
    let sql = journal[0]["sql"].as_str().unwrap();
    for victim in &victims {
        assert!(sql.contains(&victim.pid.to_string()), "{sql}");
    }
}

#[test]
fn the_engines_own_session_and_other_runbook_sessions_are_never_signalled() {
    let db = Database::new();
    let victim = db.session_named("victim");
    let other_run = db.session_named("runbook:another-playbook");
    // The check selects every session of the database: the engine's own included.
    let yaml = format!(
        "{}  - id: after\n    check: SELECT 1 AS still_connected\n",
        terminate_playbook(&db, "true", "")
    );
    let outcome = run(&db, &yaml).stderr(&summary(&db, "OK", "3 steps")).run();
    db.wait_gone(victim.pid);
    std::thread::sleep(Duration::from_millis(300));
    assert!(db.alive(other_run.pid), "another runbook session survives");
    let report = outcome.json();
    assert_eq!(
        answers(&report, 1),
        vec![
            (victim.pid, Some(true), None),
            (
                other_run.pid,
                None,
                Some("another runbook session".to_owned())
            ),
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    let own = &report["facts"]["backend_pid"];
    let step = &report["steps"][1];
    assert!(
        !step["rows"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap())
            .any(|cell| cell == own),
        "the engine's own session is not even shown: {step}"
    );
    assert_eq!(report["steps"][2]["status"], "OK", "the engine lives on");
    assert_eq!(
        step["message"],
        "1 session terminated; 1 spared (first: pid ".to_owned()
            + &other_run.pid.to_string()
            + ", another runbook session)"
    );
}

#[test]
fn a_session_that_reconnected_with_the_same_pid_is_spared() {
    let db = Database::new();
    let mut stranger = db.session_named("stranger");
    // The approved row names the stranger's pid with another start: the session the operator
    // saw is gone and a new one got its pid.
    let started = stranger.query(
        "SELECT backend_start - interval '1 hour' FROM pg_stat_activity WHERE pid = pg_backend_pid();",
    );
    let yaml = format!(
        "version: 1\nname: {name}\nsteps:\n  - id: seen\n    check: SELECT {pid}::int AS pid, '{started}'::timestamptz AS backend_start\n  - id: terminate\n    terminate: seen\n",
        name = db.playbook_name("sessions"),
        pid = stranger.pid
    );
    let outcome = run(&db, &yaml).stderr(&summary(&db, "OK", "2 steps")).run();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        db.alive(stranger.pid),
        "the session behind the reused pid survives"
    );
    assert_eq!(
        answers(&outcome.json(), 1),
        vec![(stranger.pid, None, Some("gone".to_owned()))]
    );
}

#[test]
fn a_session_that_became_active_before_approval_is_spared() {
    let db = Database::new();
    let mut busy = db.session_named("victim");
    let idle = db.session_named("victim");
    let yaml = terminate_playbook(&db, "application_name = 'victim' AND state = 'idle'", "");
    let mut pty = Pty::run(&db, &yaml, &[]);
    pty.expect("Run this action?");
    // Between what the operator saw and the approval, one victim starts working.
    busy.send("SELECT pg_sleep(30);");
    db.wait_state(&busy, "active|Timeout");
    pty.choose("Run this action?", &[UP], "approve");
    assert_eq!(pty.finish(), 0, "{}", pty.screen());
    db.wait_gone(idle.pid);
    assert!(
        db.alive(busy.pid),
        "the session that became active survives"
    );
    let mut expected = vec![
        (idle.pid, Some(true), None),
        (busy.pid, None, Some("no longer selected".to_owned())),
    ];
    expected.sort();
    assert_eq!(answers(&pty.report(), 1), expected);
}

#[test]
fn a_role_that_is_not_a_superuser_spares_superusers_sessions_and_terminates_the_rest() {
    let db = Database::new();
    let operator = Role::new();
    let user = Role::new();
    admin(&format!(
        "GRANT pg_signal_backend, pg_read_all_stats TO {op}; GRANT CONNECT ON DATABASE {db} TO {op}, {user}",
        op = operator.name,
        user = user.name,
        db = db.name
    ));
    let superuser = db.session_named("victim");
    let mut ordinary = db.session_as(&user.name);
    assert_eq!(
        ordinary.query("SET application_name = 'victim'; SELECT 'ready';"),
        "ready"
    );
    let yaml = terminate_playbook(&db, "application_name = 'victim'", "");
    let outcome = Test::new()
        .playbook("p.yaml", &yaml)
        .args(["run", "p.yaml", "--yes"])
        .database_url(&db.url_as(&operator.name))
        .json_report()
        .stderr(&summary(&db, "OK", "2 steps"))
        .run();
    db.wait_gone(ordinary.pid);
    assert!(db.alive(superuser.pid), "the superuser's session survives");
    let mut expected = vec![
        (ordinary.pid, Some(true), None),
        (
            superuser.pid,
            None,
            Some("a superuser's session".to_owned()),
        ),
    ];
    expected.sort();
    assert_eq!(answers(&outcome.json(), 1), expected);
}

#[test]
fn wait_returns_once_the_session_is_gone() {
    let db = Database::new();
    let victim = db.session_named("victim");
    let yaml = terminate_playbook(&db, "application_name = 'victim'", "    wait: 10s\n");
    let outcome = run(&db, &yaml).stderr(&summary(&db, "OK", "2 steps")).run();
    // No polling: `terminated` means gone.
    assert!(
        !db.alive(victim.pid),
        "the session is gone when the run ends"
    );
    assert_eq!(
        answers(&outcome.json(), 1),
        vec![(victim.pid, Some(true), None)]
    );
    let sql = outcome.json()["steps"][1]["sql"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(sql.contains("pg_terminate_backend(pid, 10000)"), "{sql}");
}

/// Cancels the long queries of this database's `sleeper` sessions.
fn cancel_playbook(db: &Database, query_start: &str) -> String {
    format!(
        r#"version: 1
name: {name}
steps:
  - id: long_queries
    check: |
      SELECT pid, backend_start, {query_start} AS query_start, left(query, 40) AS query
      FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = 'sleeper' AND state = 'active'
  - id: cancel
    cancel: long_queries
"#,
        name = db.playbook_name("sessions")
    )
}

fn sleeper(db: &Database) -> Session {
    let mut session = db.session_named("sleeper");
    session.send("SELECT pg_sleep(60);");
    db.wait_state(&session, "active|Timeout");
    session
}

#[test]
fn cancel_ends_the_query_and_keeps_the_session() {
    let db = Database::new();
    let sleeping = sleeper(&db);
    let outcome = run(&db, &cancel_playbook(&db, "query_start"))
        .stderr(&summary(&db, "OK", "2 steps"))
        .run();
    crate::common::db::wait_for("the query to end", Duration::from_secs(10), || {
        db.activity(sleeping.pid) == "idle|Client"
    });
    assert_eq!(
        answers(&outcome.json(), 1),
        vec![(sleeping.pid, Some(true), None)]
    );
    assert_eq!(outcome.json()["steps"][1]["message"], "1 session cancelled");
}

#[test]
fn cancel_spares_a_session_running_another_query() {
    let db = Database::new();
    let sleeping = sleeper(&db);
    // The approved row names a query that started a second before the one running now.
    let outcome = run(
        &db,
        &cancel_playbook(&db, "query_start - interval '1 second'"),
    )
    .stderr(&summary(&db, "OK", "2 steps"))
    .run();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        db.activity(sleeping.pid),
        "active|Timeout",
        "the query runs on"
    );
    assert_eq!(
        answers(&outcome.json(), 1),
        vec![(sleeping.pid, None, Some("another query".to_owned()))]
    );
}

#[test]
fn a_dry_run_shows_the_statement_and_signals_nobody() {
    let db = Database::new();
    let victim = db.session_named("victim");
    let yaml = terminate_playbook(&db, "application_name = 'victim'", "");
    let outcome = Test::new()
        .playbook("p.yaml", &yaml)
        .args(["run", "p.yaml", "--dry-run"])
        .database(&db)
        .json_report()
        .stderr(&summary_undecided(&db, "OK", "2 steps, 1 skipped"))
        .run();
    std::thread::sleep(Duration::from_millis(300));
    assert!(db.alive(victim.pid));
    let step = &outcome.json()["steps"][1];
    assert_eq!(step["status"], "SKIPPED");
    assert!(
        step["sql"]
            .as_str()
            .unwrap()
            .contains(&format!("ARRAY[{}]::pg_catalog.int4[]", victim.pid))
    );
}

#[test]
fn an_action_that_signals_is_refused_even_when_its_name_is_rendered() {
    let db = Database::new();
    let victim = db.session_named("victim");
    // `| ident` hides the function's name from validation; the rendered SQL is judged.
    let yaml = format!(
        r#"version: 1
name: {name}
params:
  fn: {{ type: string, default: pg_terminate_backend }}
steps:
  - id: kill
    action: |
      SELECT {{{{ params.fn | ident }}}}(pid) FROM pg_stat_activity
      WHERE application_name = 'victim' AND datname = current_database()
"#,
        name = db.playbook_name("sessions")
    );
    let outcome = run(&db, &yaml)
        .status(3)
        .stderr(&format!(
            "error: step `kill` failed and has `on_error: abort`\n{}",
            summary_undecided(&db, "UNKNOWN", "1 step, 1 failed")
        ))
        .run();
    std::thread::sleep(Duration::from_millis(300));
    assert!(db.alive(victim.pid));
    assert_eq!(
        outcome.json()["steps"][0]["message"],
        "the action was not sent: `pg_terminate_backend` signals another session"
    );
}

#[test]
fn a_preview_listing_the_engines_own_session_refuses_the_action() {
    let db = Database::new();
    let yaml = format!(
        "version: 1\nname: {name}\nsteps:\n  - id: act\n    preview: SELECT pg_backend_pid() AS pid\n    action: SELECT 1 AS done\n",
        name = db.playbook_name("sessions")
    );
    let outcome = run(&db, &yaml)
        .status(4)
        .stderr(&summary_undecided(&db, "STOPPED", "1 step, 1 not run"))
        .run();
    let report = outcome.json();
    assert_eq!(
        report["steps"][0]["message"],
        format!(
            "refused: the preview lists the engine's own session (pid {}); an action never acts on it",
            report["facts"]["backend_pid"]
        )
    );
}
