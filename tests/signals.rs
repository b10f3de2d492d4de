//! Signals and timeouts: what cancels the engine's running query (SIGTERM, SIGHUP, Ctrl-C after
//! a reconnection, a step's timeout) cancels it on the server, the run writes its report, and
//! nothing the run started is left running once it exits.

use std::time::{Duration, Instant};

use crate::common::cluster::Cluster;
use crate::common::db::{Database, wait_for};
use crate::common::{Outcome, Test};

/// A check that sleeps far longer than any test waits, then one that would run after it.
fn sleepy(name: &str) -> String {
    format!(
        "version: 1\nname: {name}\nsteps:\n  - id: nap\n    check: SELECT pg_sleep(30) AS slept\n  - id: later\n    check: SELECT 1 AS one\n"
    )
}

/// How many backends other than the asking one run `needle` in the database `db`.
fn running(db: &Database, needle: &str) -> String {
    db.psql(&format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE '%{needle}%'"
    ))
}

/// SIGTERM or SIGHUP while a check sleeps on the server: the query is cancelled there, the
/// report says which signal, and the run exits 4 within a few seconds.
fn a_signal_during_a_check_cancels_it_and_reports(signal: i32, name: &str) {
    let db = Database::new();
    let playbook = db.playbook_name("signalled");
    let running_test = Test::new()
        .playbook("p.yaml", &sleepy(&playbook))
        .args(["run", "p.yaml"])
        .database(&db)
        .json_report()
        .status(4)
        .stderr_any("checked below, line by line")
        .spawn();
    wait_for(
        "the check to sleep on the server",
        Duration::from_secs(20),
        || running(&db, "pg_sleep(30)") == "1",
    );
    let signalled = Instant::now();
    running_test.signal(signal);
    let outcome = running_test.wait();
    let took = signalled.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "exited {took:?} after {name}"
    );
    assert_eq!(
        running(&db, "pg_sleep(30)"),
        "0",
        "the query still runs after {name}"
    );
    assert!(
        outcome.stderr.contains(&format!(
            "interrupted by {name}: cancelling the running query (another signal to exit at once)\n"
        )),
        "{}",
        outcome.stderr
    );
    let report = outcome.json();
    assert_eq!(report["exit_code"], 4, "{report}");
    assert_eq!(
        report["notes"][0],
        format!("the run was interrupted by {name}"),
        "{report}"
    );
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps[0]["status"], "UNKNOWN", "{report}");
    assert_eq!(
        steps[0]["message"],
        format!("interrupted by {name}; the query was cancelled"),
        "{report}"
    );
    assert_eq!(steps[1]["status"], "NOT_RUN", "{report}");
}

#[test]
fn sigterm_during_a_check_cancels_it_writes_the_report_and_exits_4() {
    a_signal_during_a_check_cancels_it_and_reports(libc::SIGTERM, "SIGTERM");
}

#[test]
fn sighup_during_a_check_cancels_it_writes_the_report_and_exits_4() {
    a_signal_during_a_check_cancels_it_and_reports(libc::SIGHUP, "SIGHUP");
}

/// Runs playbook `name` of `db`, whose first step (`first`, SQL that mentions `needle`) runs
/// past its `timeout: 2s` and whose second is a plain check, with `extra` arguments; checks
/// what every timed-out step shows and returns the outcome.
fn timed_out_and_went_on(
    db: &Database,
    name: &str,
    first: &str,
    needle: &str,
    extra: &[&str],
) -> Outcome {
    let yaml = format!(
        "version: 1\nname: {name}\nsteps:\n  - id: first\n{first}    timeout: 2s\n    on_error: continue\n  - id: after\n    check: SELECT 1 AS one\n"
    );
    let started = Instant::now();
    let outcome = Test::new()
        .playbook("p.yaml", &yaml)
        .args(["run", "p.yaml"])
        .args(extra.iter().copied())
        .database(db)
        .json_report()
        .status(3)
        .stderr(&format!(
            "{name}: UNKNOWN — `first`: timed out after 2s; the query was cancelled on the server — 2 steps, 1 failed — report: report.json[..]\n"
        ))
        .run();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "the run took {took:?}");
    assert_eq!(
        running(db, needle),
        "0",
        "the query still runs after the run"
    );
    let report = outcome.json();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps[0]["status"], "UNKNOWN", "{report}");
    assert_eq!(
        steps[0]["message"], "timed out after 2s; the query was cancelled on the server",
        "{report}"
    );
    assert_eq!(steps[0]["error"]["sqlstate"], "57014", "{report}");
    let duration = steps[0]["duration_ms"].as_u64().unwrap();
    assert!(
        (1900..5000).contains(&duration),
        "the step took {duration} ms"
    );
    assert_eq!(steps[1]["status"], "OK", "the next step runs: {report}");
    assert!(report["error"].is_null(), "{}", report["error"]);
    outcome
}

#[test]
fn a_step_timeout_bounds_the_whole_step_cancels_it_on_the_server_and_the_run_goes_on() {
    let db = Database::new();
    let name = db.playbook_name("slow-rows");
    // Each row takes less than the timeout: only the whole step is longer.
    let check = "    check: SELECT pg_sleep(1.8) AS slept FROM generate_series(1, 12)\n";
    timed_out_and_went_on(&db, &name, check, "generate_series(1, 12)", &[]);
}

/// PostgreSQL (13+) times each statement of a message by itself: twelve statements of 1.8 s
/// under a 2 s `statement_timeout` never time out on the server. The step's timeout bounds
/// them together, the statement is cancelled on the server, the journal says the action was
/// cut short, and the next step runs on the same connection.
#[test]
fn a_step_timeout_bounds_an_action_of_many_statements_and_the_journal_says_so() {
    let db = Database::new();
    let name = db.playbook_name("slow-action");
    let sleeps = ["SELECT pg_sleep(1.8)"; 12].join("; ");
    let action = format!("    action: \"{sleeps}\"\n");
    let outcome = timed_out_and_went_on(&db, &name, &action, "pg_sleep(1.8)", &["--yes"]);
    let journal = outcome.journal();
    let acted = journal
        .iter()
        .find(|line| line["kind"] == "outcome")
        .unwrap_or_else(|| panic!("an outcome in {journal:?}"));
    assert_eq!(acted["outcome"], "interrupted", "{acted}");
    assert_eq!(
        acted["message"], "timed out after 2s; the statement was cancelled",
        "{acted}"
    );
}

#[test]
fn after_a_restart_facts_and_ctrl_c_follow_the_new_backend() {
    let cluster = Cluster::start();
    let url = cluster.url("postgres", cluster.password(), "postgres");
    let yaml = "version: 1\nname: followed\nsteps:\n  - id: restarted\n    check: SELECT pg_sleep(5) AS slept\n  - id: same\n    check: SELECT {{ facts.backend_pid }} = pg_backend_pid() AS same, pg_backend_pid() AS pid\n  - id: nap\n    check: SELECT pg_sleep(30) AS napping\n  - id: later\n    check: SELECT 1 AS one\n";
    let running_test = Test::new()
        .playbook("p.yaml", yaml)
        .clean_connection_env()
        .env("PGCONNECT_TIMEOUT", "20")
        .args(["run", "p.yaml"])
        .database_url(&url)
        .json_report()
        .status(4)
        .stderr_any("the notice and the summary; the report is checked")
        .spawn();
    let sleeping = |what: &str| {
        format!(
            "SELECT coalesce(string_agg(pid::text, ','), '') FROM pg_stat_activity \
             WHERE application_name = 'runbook:followed' AND state = 'active' AND query LIKE '%{what}%'"
        )
    };
    let mut old = String::new();
    wait_for("the first step to sleep", Duration::from_secs(20), || {
        old = cluster.psql("postgres", &sleeping("pg_sleep(5)"));
        !old.is_empty()
    });
    cluster.restart();
    let mut new = String::new();
    wait_for(
        "the run to reconnect and nap",
        Duration::from_secs(30),
        || {
            new = cluster.psql("postgres", &sleeping("pg_sleep(30)"));
            !new.is_empty()
        },
    );
    assert_ne!(old, new, "another backend after the restart");
    let interrupted = Instant::now();
    running_test.signal(libc::SIGINT);
    wait_for(
        "the new backend's query to be cancelled",
        Duration::from_secs(5),
        || {
            cluster
                .psql("postgres", &sleeping("pg_sleep(30)"))
                .is_empty()
        },
    );
    let outcome = running_test.wait();
    assert!(interrupted.elapsed() < Duration::from_secs(10));
    let report = outcome.json();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps[0]["status"], "UNKNOWN", "{report}");
    assert_eq!(steps[1]["status"], "OK", "{report}");
    assert_eq!(
        steps[1]["rows"][0][1],
        new.parse::<i64>().unwrap(),
        "{report}"
    );
    assert_eq!(
        steps[1]["rows"][0][0], true,
        "facts.backend_pid is the new backend's: {report}"
    );
    assert_eq!(
        steps[2]["message"], "interrupted by the operator (Ctrl-C); the query was cancelled",
        "{report}"
    );
    assert_eq!(steps[3]["status"], "NOT_RUN", "{report}");
    assert_eq!(
        report["notes"][0], "the run was interrupted by the operator (Ctrl-C)",
        "{report}"
    );
}
