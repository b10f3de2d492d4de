//! Issue 14: what a senior DBA checks beyond session counts — the transaction horizon
//! (forgotten transactions, prepared transactions), the limits that really refuse connections
//! (per database, per role, server-wide), connection churn, the settings as the server and
//! each role see them, and TVIEW tables read only for the database they belong to.
//!
//! Each test opens real sessions in a database of its own and scopes the playbooks to it, as
//! `playbooks` does; the prepared transaction needs `max_prepared_transactions`, so it runs on
//! a private cluster.

use std::time::Duration;

use serde_json::Value;

use crate::common::Test;
use crate::common::cluster::{Cluster, PASSWORD};
use crate::common::db::{Database, Role, SOCKET, admin};
use crate::playbooks::{cell, column, run, step};

/// The age the tests pass for the transaction age thresholds, and how long they sleep past it.
const AGE: &str = "2s";
const PAST_AGE: Duration = Duration::from_millis(2500);

/// The pids `horizon` lists.
/// The pids `horizon` lists (a prepared transaction has none).
fn horizon_pids(report: &Value) -> Vec<i64> {
    column(step(report, "horizon"), "pid")
        .iter()
        .filter_map(Value::as_i64)
        .collect()
}

/// The summary line of a pool-optimization run with no client holding too many connections.
const POOL_OPTIMIZATION_OK: &str =
    "pool-optimization: OK — 7 steps, 1 skipped — report: report.json\n";

/// The summary line of a daily-monitoring run whose only warning is the horizon's.
const HORIZON_WARNING: &str =
    "daily-monitoring: WARNING — [..] — 7 steps, 1 warning, 1 skipped — report: report.json\n";

/// The `horizon` step of `report`, checked to be a WARNING naming `oldest` as the one open
/// transaction older than `AGE`.
fn horizon_warns_of<'a>(report: &'a Value, oldest: &str) -> &'a Value {
    let horizon = step(report, "horizon");
    assert_eq!(horizon["status"], "WARNING");
    let message = horizon["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "1 transaction open longer than {AGE}; the oldest: {oldest} for "
        )),
        "{message}"
    );
    horizon
}

/// The JSON report of `playbook` run on `db`, checked to end with `status` and `summary`.
fn report_of(db: &Database, playbook: &str, vars: &[String], status: i32, summary: &str) -> Value {
    run(db, playbook, vars, &[])
        .status(status)
        .stderr(summary)
        .run()
        .json()
}

#[test]
fn a_single_forgotten_transaction_idle_or_active_is_a_warning_naming_its_pid() {
    let db = Database::new();
    let idle = db.idle_in_transaction();
    let aborted = db.aborted_transaction();
    std::thread::sleep(PAST_AGE);
    let vars = [format!("transaction_age_warning={AGE}")];
    let report = report_of(&db, "daily-monitoring", &vars, 1, HORIZON_WARNING);
    horizon_warns_of(
        &report,
        &format!("pid {} (root, idle in transaction)", idle.pid),
    );
    let pids = horizon_pids(&report);
    assert!(pids.contains(&i64::from(idle.pid)));
    assert!(
        !pids.contains(&i64::from(aborted.pid)),
        "an aborted transaction holds no snapshot and no locks: not a horizon holder"
    );
    assert_eq!(
        step(&report, "overview")["status"],
        "OK",
        "one idle transaction is far below `idle_in_transaction_max`: only the horizon step sees it"
    );

    // The same forgotten transaction, active: a REPEATABLE READ snapshot held by a long query.
    let idle_pid = idle.pid;
    drop(idle);
    db.wait_gone(idle_pid);
    let active = db.session_in(
        "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT pg_sleep(60);",
        "active|Timeout",
    );
    std::thread::sleep(PAST_AGE);
    let report = report_of(&db, "daily-monitoring", &vars, 1, HORIZON_WARNING);
    let horizon = horizon_warns_of(&report, &format!("pid {} (root, active)", active.pid));
    let kinds = column(horizon, "kind");
    let row = column(horizon, "pid")
        .iter()
        .position(|pid| *pid == active.pid)
        .expect("the active transaction is listed");
    assert_eq!(kinds[row], "transaction");
    assert!(
        column(horizon, "xmin_age")[row].is_i64(),
        "its snapshot holds back xmin: `age(backend_xmin)` is shown"
    );

    // With the defaults (10m), a transaction of seconds is fine.
    let report = report_of(
        &db,
        "daily-monitoring",
        &[],
        0,
        "daily-monitoring: OK — 7 steps, 1 skipped — report: report.json\n",
    );
    assert_eq!(step(&report, "horizon")["status"], "OK");
    assert!(db.alive(active.pid), "a check terminates nothing");
}

#[test]
fn xmin_and_datfrozenxid_thresholds_name_the_holder_and_the_database() {
    let db = Database::new();
    let active = db.session_in(
        "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT pg_sleep(60);",
        "active|Timeout",
    );
    let vars = [
        "xmin_age_warning=-1".to_owned(),
        "freeze_warning_percent=-1".to_owned(),
    ];
    let report = report_of(&db, "daily-monitoring", &vars, 1, HORIZON_WARNING);
    let horizon = step(&report, "horizon");
    assert_eq!(horizon["status"], "WARNING");
    let message = horizon["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "xmin horizon held back by more than -1 transactions by 1 holder, among them pid {} (root, active) (",
            active.pid
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!("; database {}: age(datfrozenxid) ", db.name)),
        "{message}"
    );
    assert!(
        message.ends_with("% of autovacuum_freeze_max_age"),
        "{message}"
    );
}

#[test]
fn a_prepared_transaction_is_reported_with_its_age_though_it_has_no_session() {
    let cluster = Cluster::builder()
        .setting("max_prepared_transactions", "2")
        .start();
    cluster.psql("postgres", "CREATE TABLE t (x int)");
    cluster.psql(
        "postgres",
        "BEGIN; INSERT INTO t VALUES (1); PREPARE TRANSACTION 'forgotten_tx';",
    );
    std::thread::sleep(PAST_AGE);
    let report = Test::new()
        .args(["run", "daily-monitoring"])
        .var("transaction_age_warning", AGE)
        .database_url(&cluster.url("postgres", PASSWORD, "postgres"))
        .json_report()
        .status(1)
        .stderr(HORIZON_WARNING)
        .run()
        .json();
    let horizon = horizon_warns_of(&report, "prepared transaction 'forgotten_tx' (postgres)");
    assert_eq!(cell(horizon, "kind"), "prepared transaction");
    assert_eq!(cell(horizon, "state"), "prepared");
    assert_eq!(
        cluster.psql("postgres", "SELECT count(*) FROM pg_prepared_xacts"),
        "1",
        "a check commits and rolls back nothing"
    );
}

/// The report of daily-monitoring on `db`, checked to be CRITICAL for exactly one limit:
/// `limit_of` (`database x`, `role r`) with `counted` connections against `limit`.
fn at_connection_limit(db: &Database, limit_of: &str, counted: u32, limit: u32) -> Value {
    let report = report_of(
        db,
        "daily-monitoring",
        &[],
        2,
        "daily-monitoring: CRITICAL — [..] — 7 steps, 1 critical — report: report.json\n",
    );
    let pool = step(&report, "pool");
    assert_eq!(pool["status"], "CRITICAL");
    assert_eq!(
        pool["message"].as_str().unwrap(),
        format!(
            "at the connection limit of {limit_of}: {counted} of {limit} connections; new connections are refused (superusers' excepted)"
        )
    );
    report
}

/// Whether `role` can open a session in `db` now (psql's error when it cannot).
fn connects(db: &Database, role: &str) -> Result<(), String> {
    let output = std::process::Command::new("psql")
        .args([
            "-X", "-q", "-A", "-t", "-h", SOCKET, "-U", role, "-d", &db.name,
        ])
        .args(["-c", "SELECT 1"])
        .output()
        .expect("psql runs");
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[test]
fn a_database_at_its_connection_limit_is_critical_though_the_server_has_room() {
    let db = Database::new();
    let sessions = db.sessions_named("limited", 3);
    admin(&format!("ALTER DATABASE {} CONNECTION LIMIT 3", db.name));
    let ordinary = Role::new();
    let refused = connects(&db, &ordinary.name).expect_err("the database is full for its role");
    assert!(
        refused.contains("too many connections for database"),
        "{refused}"
    );
    // The engine (a superuser here) still gets in, and counts: 3 sessions and its own.
    let report = at_connection_limit(&db, &format!("database {}", db.name), 4, 3);
    let pool = step(&report, "pool");
    let limits = column(pool, "limit_of");
    assert_eq!(
        limits[0], "the server's usable slots",
        "the server-wide utilization comes first, also with `database` set"
    );
    let server_connections = cell(pool, "client_connections").as_i64().unwrap();
    assert!(
        server_connections >= 4,
        "server-wide: every database's sessions"
    );
    assert!(limits.contains(&Value::from(format!("database {}", db.name))));
    assert!(column(pool, "free_slots")[0].is_i64());

    let report = report_of(
        &db,
        "troubleshooting",
        &[],
        2,
        "troubleshooting: CRITICAL — [..] — 8 steps, 1 critical, 3 skipped — report: report.json\n",
    );
    let exhaustion = step(&report, "pool_exhaustion");
    assert_eq!(exhaustion["status"], "CRITICAL");
    assert!(
        exhaustion["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("at the connection limit of database {}:", db.name))
    );
    drop(sessions);
}

#[test]
fn a_role_at_its_connection_limit_is_critical_naming_the_role() {
    let db = Database::new();
    let role = Role::new();
    admin(&format!("ALTER ROLE {} CONNECTION LIMIT 1", role.name));
    let _session = db.session_as(&role.name);
    let refused = connects(&db, &role.name).expect_err("the role is at its limit");
    assert!(
        refused.contains("too many connections for role"),
        "{refused}"
    );
    at_connection_limit(&db, &format!("role {}", role.name), 1, 1);
}

#[test]
fn settings_are_shown_as_the_server_and_each_role_see_them_not_as_the_engine_does() {
    let db = Database::new();
    let role = Role::new();
    admin(&format!(
        "ALTER ROLE {} SET idle_in_transaction_session_timeout = '1h'",
        role.name
    ));
    let report = report_of(&db, "pool-optimization", &[], 0, POOL_OPTIMIZATION_OK);
    let settings = step(&report, "connection_settings");
    let texts = |name| -> Vec<Option<String>> {
        column(settings, name)
            .iter()
            .map(|value| value.as_str().map(str::to_owned))
            .collect()
    };
    let rows: Vec<(Option<String>, Option<String>, Option<String>)> = texts("applies_to")
        .into_iter()
        .zip(texts("name"))
        .zip(texts("value"))
        .map(|((scope, name), value)| (scope, name, value))
        .collect();
    assert!(
        rows.contains(&(
            Some(format!("role {}", role.name)),
            Some("idle_in_transaction_session_timeout".to_owned()),
            Some("1h".to_owned())
        )),
        "{rows:?}"
    );
    let server_timeout = rows
        .iter()
        .find(|(scope, name, _)| {
            scope.as_deref() == Some("server") && name.as_deref() == Some("statement_timeout")
        })
        .expect("statement_timeout is shown");
    assert_eq!(
        server_timeout.2.as_deref(),
        Some("0"),
        "the server's statement_timeout, not the engine's own (30s)"
    );
    let message = settings["message"].as_str().unwrap();
    assert!(
        message.contains("roles or databases that set their own are listed"),
        "{message}"
    );
}

#[test]
fn connection_churn_comes_from_the_session_counters_of_pg_stat_database() {
    let db = Database::new();
    let victim = db.session();
    let pid = victim.pid;
    admin(&format!("SELECT pg_terminate_backend({pid})"));
    db.wait_gone(pid);
    let report = report_of(&db, "pool-optimization", &[], 0, POOL_OPTIMIZATION_OK);
    let churn = step(&report, "connection_churn");
    assert_eq!(churn["status"], "OK");
    assert_eq!(cell(churn, "datname"), db.name);
    assert_eq!(cell(churn, "sessions_killed"), 1);
    let sessions = cell(churn, "sessions").as_i64().unwrap();
    assert!(sessions >= 1, "{sessions}");
}

#[test]
fn tview_tables_of_the_connected_database_are_not_attributed_to_another() {
    let connected = Database::new();
    let other = Database::new();
    connected.psql(
        "CREATE TABLE pg_tviews_queue (processed_at timestamptz);
         INSERT INTO pg_tviews_queue SELECT NULL FROM generate_series(1, 150);
         CREATE TABLE pg_tviews_metadata (last_refresh_duration_ms numeric, last_refreshed timestamptz);",
    );
    let scoped_elsewhere = |playbook: &str, summary: &str| {
        Test::new()
            .args(["run", playbook])
            .var("database", &other.name)
            .database(&connected)
            .json_report()
            .stderr(summary)
            .run()
            .json()
    };
    let report = scoped_elsewhere(
        "tview-connections",
        "tview-connections: OK — 6 steps, 2 skipped — report: report.json\n",
    );
    for id in ["pending_refreshes", "refresh_times"] {
        let skipped = step(&report, id);
        assert_eq!(skipped["status"], "SKIPPED", "{id}");
        let guards = skipped["guards"].to_string();
        assert!(guards.contains("facts.database"), "{id}: {guards}");
    }
    let report = scoped_elsewhere(
        "troubleshooting",
        "troubleshooting: OK — 8 steps, 4 skipped — report: report.json\n",
    );
    assert_eq!(
        step(&report, "tview_pending_refreshes")["status"],
        "SKIPPED"
    );
    let report = Test::new()
        .args(["run", "emergency", "--dry-run"])
        .var("database", &other.name)
        .database(&connected)
        .json_report()
        .stderr_any("the TVIEW steps are checked below")
        .run()
        .json();
    for id in ["pending_tview_refreshes", "post_pending_tview_refreshes"] {
        let skipped = step(&report, id);
        assert_eq!(skipped["status"], "SKIPPED", "{id}: {skipped}");
        assert!(
            skipped["guards"].to_string().contains("facts.database"),
            "{id}"
        );
    }
}
