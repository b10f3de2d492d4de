//! Issue 14 with real sessions: a lock pile-up behind an idle transaction (who blocks whom,
//! the root blocker terminated after confirmation), protection by role membership, the
//! blast radius of the built-in actions, and what counts as TVIEW work.
//!
//! Each test opens its sessions in a database of its own and scopes the playbooks to it
//! (`--var database=<db>`), as `playbooks.rs` does; wait thresholds are shortened through
//! the params (`--var lock_wait_critical=1s`).

use std::time::Duration;

use serde_json::Value;

use crate::common::cluster::{Cluster, OS_USER};
use crate::common::db::{Database, Role, Session, admin, pids};
use crate::common::pty::Pty;
use crate::common::{Test, built_in};
use crate::playbooks::{self, cell, column, integers, pid_column, step, text};

/// Why the summary line on stderr is not checked.
const SUMMARY: &str = "the summary line; the report is what is checked";

/// How long a test sleeps so that a wait is older than the `1s` it passes as a threshold.
const PAST_A_SECOND: Duration = Duration::from_millis(1500);

/// A pile-up: `blocker` ran `BEGIN; UPDATE t …` and sits idle in its transaction; `first`
/// waits for its row lock, `second` waits behind `first`.
struct PileUp {
    blocker: Session,
    first: Session,
    second: Session,
}

impl PileUp {
    fn open(db: &Database) -> PileUp {
        db.psql("CREATE TABLE t (id int PRIMARY KEY, x int); INSERT INTO t VALUES (1, 0)");
        let blocker = db.session_in(
            "BEGIN; UPDATE t SET x = x + 100 WHERE id = 1;",
            "idle in transaction|Client",
        );
        let first = db.session_in("UPDATE t SET x = x + 1 WHERE id = 1;", "active|Lock");
        let second = db.session_in("UPDATE t SET x = x + 1 WHERE id = 1;", "active|Lock");
        PileUp {
            blocker,
            first,
            second,
        }
    }
}

/// `runbook run PLAYBOOK` scoped to the test's database, with a JSON report; the summary on
/// stderr is not checked, the report is.
fn run(db: &Database, playbook: &str, vars: &[&str], flags: &[&str]) -> Test {
    let vars: Vec<String> = vars.iter().map(|var| (*var).to_owned()).collect();
    playbooks::run(db, playbook, &vars, flags).stderr_any(SUMMARY)
}

fn message(step: &Value) -> &str {
    step["message"].as_str().unwrap_or_default()
}

#[test]
fn a_pile_up_behind_an_idle_transaction_warns_naming_the_blocker_and_turns_critical_when_long() {
    let db = Database::new();
    let pile = PileUp::open(&db);
    let blocker = pile.blocker.pid;

    let outcome = run(&db, "daily-monitoring", &[], &[]).status(1).run();
    let report = outcome.json();
    let blocking = step(&report, "blocking");
    assert_eq!(blocking["status"], "WARNING");
    assert_eq!(
        pid_column(blocking),
        pids([&pile.blocker]),
        "one root blocker"
    );
    assert_eq!(cell(blocking, "blocked_sessions"), 2);
    assert_eq!(cell(blocking, "state"), "idle in transaction");
    let said = message(blocking);
    assert!(
        said.starts_with(&format!(
            "session {blocker} (root) is idle in a transaction open for "
        )) && said.ends_with(" and blocks 2 sessions"),
        "{said}"
    );
    assert_eq!(step(&report, "overview")["status"], "OK");

    let outcome = run(&db, "troubleshooting", &[], &[]).status(1).run();
    let report = outcome.json();
    let contention = step(&report, "lock_contention");
    assert_eq!(contention["status"], "WARNING");
    assert_eq!(pid_column(contention), pids([&pile.blocker]));
    assert!(message(contention).starts_with(&format!("session {blocker} (root) is idle")));
    let chains = text(&cell(contention, "chains"));
    assert!(
        chains.contains(&format!(
            "{blocker} <- {} <- {}",
            pile.first.pid, pile.second.pid
        )),
        "the queue is shown blocker first: {chains}"
    );

    std::thread::sleep(PAST_A_SECOND);
    for (playbook, id) in [
        ("daily-monitoring", "blocking"),
        ("troubleshooting", "lock_contention"),
    ] {
        let outcome = run(&db, playbook, &["lock_wait_critical=1s"], &[])
            .status(2)
            .run();
        let report = outcome.json();
        let found = step(&report, id);
        assert_eq!(found["status"], "CRITICAL", "{playbook}");
        let said = message(found);
        assert!(
            said.starts_with(&format!(
                "session {blocker} (root, idle in transaction) blocks 2 sessions, one waiting for "
            )) && said.ends_with("(more than 1s)"),
            "{playbook}: {said}"
        );
    }
    for session in [&pile.blocker, &pile.first, &pile.second] {
        assert!(db.alive(session.pid), "monitoring changes nothing");
    }
}

#[test]
fn a_lock_wait_past_the_warning_threshold_warns_when_the_blocker_is_busy() {
    let db = Database::new();
    db.psql("CREATE TABLE t (id int PRIMARY KEY, x int); INSERT INTO t VALUES (1, 0)");
    // An active blocker: it holds a row lock inside a statement that sleeps. (A row lock, not
    // a table lock: other tests count the cluster's waiting relation locks.)
    let blocker = db.session_in(
        "BEGIN; UPDATE t SET x = 1 WHERE id = 1; SELECT pg_sleep(60);",
        "active|Timeout",
    );
    let waiter = db.session_in("UPDATE t SET x = 2 WHERE id = 1;", "active|Lock");
    let outcome = run(&db, "daily-monitoring", &[], &[]).status(0).run();
    let report = outcome.json();
    let blocking = step(&report, "blocking");
    assert_eq!(blocking["status"], "OK", "{}", message(blocking));
    assert!(message(blocking).starts_with("1 session blocking others, none for long"));

    std::thread::sleep(PAST_A_SECOND);
    let outcome = run(&db, "daily-monitoring", &["lock_wait_warning=1s"], &[])
        .status(1)
        .run();
    let report = outcome.json();
    let blocking = step(&report, "blocking");
    assert_eq!(blocking["status"], "WARNING");
    assert!(
        message(blocking).starts_with(&format!(
            "session {} (root, active) blocks 1 session, one waiting for ",
            blocker.pid
        )),
        "{}",
        message(blocking)
    );
    assert!(db.alive(waiter.pid));
}

#[test]
fn emergency_terminates_only_the_root_blocker_after_the_operator_types_its_id() {
    let db = Database::new();
    let pile = PileUp::open(&db);
    std::thread::sleep(PAST_A_SECOND);
    let database = format!("database={}", db.name);
    // Live runs of one built-in playbook take turns (its advisory lock: one responder).
    let _turn = playbooks::live();
    let mut pty = Pty::run(
        &db,
        &built_in("emergency"),
        &["--var", &database, "--var", "lock_wait_after=1s"],
    );
    pty.expect(&format!(
        "== Action `terminate_blockers`: Terminate the root blockers (databases: {})",
        db.name
    ));
    pty.expect(&pile.blocker.pid.to_string());
    pty.expect("This action needs confirmation.");
    let prompt = "Type `terminate_blockers` to run this action";
    pty.expect(prompt);
    assert!(db.alive(pile.blocker.pid), "nothing runs before the answer");
    pty.type_line("terminate_blockers");
    let code = pty.finish();

    db.wait_gone(pile.blocker.pid);
    for waiter in [&pile.first, &pile.second] {
        db.wait_state(waiter, "idle|Client");
    }
    assert_eq!(
        db.psql("SELECT x FROM t"),
        "2",
        "the blocker's update was rolled back, both waiters' went through"
    );
    let report = pty.report();
    assert_eq!(code, 0, "{}", pty.screen());
    let candidates = step(&report, "blocker_candidates");
    assert_eq!(pid_column(candidates), pids([&pile.blocker]));
    assert_eq!(cell(candidates, "blocked_sessions"), 2);
    assert!(column(candidates, "transaction_age")[0].is_string());
    let terminate = step(&report, "terminate_blockers");
    assert_eq!(terminate["status"], "OK");
    assert_eq!(terminate["message"], "1 session terminated");
    assert_eq!(pid_column(terminate), pids([&pile.blocker]));
    assert!(
        terminate["approval"]["by"]
            .as_str()
            .unwrap()
            .contains("typed")
    );
    let cancel = step(&report, "long_query_candidates");
    assert_eq!(cancel["row_count"], 0);
    let after = step(&report, "post_emergency");
    assert_eq!(after["status"], "OK", "{}", message(after));
    assert_eq!(cell(after, "waiting_on_lock"), 0);
}

#[test]
fn emergency_cancels_no_lock_waiter_and_shows_what_each_long_query_waits_on() {
    let db = Database::new();
    let pile = PileUp::open(&db);
    let sleeper = db.sleeper();
    std::thread::sleep(PAST_A_SECOND);
    let outcome = run(
        &db,
        "emergency",
        &["long_query_after=1s", "lock_wait_after=1h"],
        &["--dry-run"],
    )
    .status(1)
    .run();
    let report = outcome.json();
    assert_eq!(step(&report, "blocker_candidates")["row_count"], 0);
    let long = step(&report, "long_query_candidates");
    assert_eq!(
        pid_column(long),
        pids([&sleeper]),
        "the waiters are not long queries: their blocker is the cause"
    );
    assert_eq!(cell(long, "wait_event_type"), "Timeout");
    assert_eq!(cell(long, "wait_event"), "PgSleep");
    assert_eq!(cell(long, "blocks"), 0);
    let after = step(&report, "post_emergency");
    assert_eq!(after["status"], "WARNING");
    assert_eq!(message(after), "2 sessions still waiting on a lock");
    for session in [&pile.blocker, &pile.first, &pile.second, &sleeper] {
        assert!(db.alive(session.pid));
    }
}

#[test]
fn a_member_of_a_protected_group_role_and_another_runbook_are_no_candidates() {
    let db = Database::new();
    let group = Role::new();
    let member = Role::new();
    admin(&format!(
        "ALTER ROLE {g} NOLOGIN; GRANT {g} TO {m}",
        g = group.name,
        m = member.name
    ));
    let protected = db.session_as(&member.name);
    let responder = db.session_named("runbook:emergency");
    let plain = db.session();
    std::thread::sleep(PAST_A_SECOND);
    let protected_roles = format!("protected_roles=postgres,{}", group.name);
    let outcome = run(
        &db,
        "connection-cleanup",
        &[&protected_roles, "stale_after=1s", "idle_after=1s"],
        &["--dry-run"],
    )
    .status(1)
    .run();
    let report = outcome.json();
    let stale = step(&report, "stale_sessions");
    let listed: Vec<(i64, Value)> = integers(stale, "pid")
        .into_iter()
        .zip(column(stale, "protected"))
        .collect();
    assert!(
        listed.contains(&(i64::from(protected.pid), Value::Bool(true))),
        "the member is listed as protected: {listed:?}"
    );
    assert_eq!(
        pid_column(step(&report, "idle_candidates")),
        pids([&plain]),
        "neither the group's member nor another runbook's session is a candidate"
    );

    let outcome = run(
        &db,
        "emergency",
        &[&protected_roles, "idle_after=1s"],
        &["--dry-run"],
    )
    .status(0)
    .run();
    let report = outcome.json();
    assert_eq!(pid_column(step(&report, "idle_candidates")), pids([&plain]));
    for session in [&protected, &responder, &plain] {
        assert!(db.alive(session.pid));
    }
}

#[test]
fn a_built_in_termination_refuses_more_sessions_than_its_share_of_the_connections() {
    // 20 connections, 3 reserved for superusers: 17 usable, of which `max_rows: 10%` is 1.
    let cluster = Cluster::builder().setting("max_connections", "20").start();
    let password = "app-Pa55";
    cluster.psql(
        "postgres",
        &format!("CREATE ROLE app LOGIN PASSWORD '{password}'"),
    );
    let mut sessions: Vec<Session> = (0..2).map(|_| cluster.session("app", password)).collect();
    for session in &mut sessions {
        assert_eq!(session.query("BEGIN; SELECT 'open';"), "open");
    }
    std::thread::sleep(PAST_A_SECOND);
    let url = cluster.url(OS_USER, cluster.password(), "postgres");
    let outcome = Test::new()
        .args(["run", "connection-cleanup", "--yes"])
        .args(["--var", "idle_in_transaction_after=1s"])
        .database_url(&url)
        .json_report()
        .stderr_any(SUMMARY)
        .status(4)
        .run();
    let report = outcome.json();
    assert_eq!(
        step(&report, "idle_in_transaction_candidates")["row_count"],
        2
    );
    let terminate = step(&report, "terminate_idle_in_transaction");
    assert_eq!(terminate["status"], "NOT_RUN");
    assert_eq!(
        terminate["message"],
        "refused: the preview has 2 rows, more than `max_rows` allows (1: 10% of 17 usable connections)"
    );
    assert!(
        terminate["title"]
            .as_str()
            .unwrap()
            .ends_with(" (databases: all)"),
        "the action says it spans all databases: {}",
        terminate["title"]
    );
    let alive = |pid: i32| {
        cluster.psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}"),
        ) == "1"
    };
    for session in &sessions {
        assert!(alive(session.pid), "nothing was terminated");
    }

    // The share is a param; one that gives no limit refuses the action, saying why.
    let cleanup = |share: &str| {
        Test::new()
            .args(["run", "connection-cleanup", "--yes"])
            .args(["--var", "idle_in_transaction_after=1s"])
            .args(["--var", &format!("idle_in_transaction_max_percent={share}")])
            .database_url(&url)
            .json_report()
            .stderr_any(SUMMARY)
    };
    let outcome = cleanup("0").status(4).run();
    let report = outcome.json();
    let terminate = step(&report, "terminate_idle_in_transaction");
    assert_eq!(terminate["status"], "NOT_RUN");
    assert_eq!(
        terminate["message"],
        "refused: `max_rows` `{{ params.idle_in_transaction_max_percent }}%` gives no row limit: \
         it gives `0.0%`, which is neither a count nor a percentage above 0% and at most 100%"
    );
    for session in &sessions {
        assert!(alive(session.pid), "nothing was terminated");
    }

    // 20% of 17 is 3: both go.
    let outcome = cleanup("20").status(0).run();
    let report = outcome.json();
    let terminate = step(&report, "terminate_idle_in_transaction");
    assert_eq!(terminate["status"], "OK", "{terminate}");
    assert_eq!(pid_column(terminate), pids(&sessions));
    for session in &sessions {
        assert!(!alive(session.pid), "pid {} was terminated", session.pid);
    }
}

#[test]
fn a_long_query_that_mentions_refresh_is_cancelled_and_a_tview_refresh_is_not() {
    let db = Database::new();
    db.psql(
        "CREATE TABLE refresh_tokens (token text);
         CREATE FUNCTION refresh_tview_orders() RETURNS void LANGUAGE sql AS 'SELECT pg_sleep(60)'",
    );
    let tokens = db.session_in(
        "SELECT pg_sleep(60), count(*) FROM refresh_tokens;",
        "active|Timeout",
    );
    let tview = db.session_in("SELECT refresh_tview_orders();", "active|Timeout");
    let mut worker = db.session_named("tview-refresh-worker");
    worker.send("SELECT pg_sleep(60);");
    db.wait_state(&worker, "active|Timeout");
    std::thread::sleep(PAST_A_SECOND);

    let outcome = run(&db, "emergency", &["long_query_after=1s"], &["--dry-run"])
        .status(0)
        .run();
    let report = outcome.json();
    assert_eq!(
        pid_column(step(&report, "long_query_candidates")),
        pids([&tokens]),
        "`FROM refresh_tokens` is no TVIEW work; a TVIEW function call and a named worker are"
    );

    let outcome = run(&db, "tview-connections", &[], &[]).run();
    let report = outcome.json();
    assert_eq!(
        pid_column(step(&report, "tview_sessions")),
        pids([&tview, &worker])
    );

    // The monitoring playbooks count TVIEW work by the same rule.
    let outcome = run(&db, "daily-monitoring", &[], &[]).run();
    let report = outcome.json();
    let counted: i64 = integers(step(&report, "by_client"), "tview_connections")
        .iter()
        .sum();
    assert_eq!(
        counted, 2,
        "daily-monitoring counts the call and the worker"
    );
    let outcome = run(&db, "troubleshooting", &[], &[]).run();
    let report = outcome.json();
    assert_eq!(
        cell(step(&report, "tview_contention"), "tview_connections"),
        2,
        "troubleshooting counts the call and the worker"
    );
    for session in [&tokens, &tview, &worker] {
        assert!(db.alive(session.pid));
    }
}
