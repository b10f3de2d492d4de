//! The built-in playbooks against real sessions.
//!
//! Each test opens its sessions with psql in a database of its own and scopes the playbooks
//! to it (`--var database=<db>`): `pg_stat_activity` is cluster-wide and tests run in
//! parallel. Ages are shortened through the params (`--var idle_after=2s`), and the tests
//! sleep past them so the sessions they mean to be old are.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

use crate::common::db::{Database, Role, Session, admin, pids};
use crate::common::plugin;
use crate::common::{BUILT_INS, Test, built_in};
use crate::monitoring;

/// The age the tests pass for every age param.
const AGE: &str = "2s";
/// How long the tests sleep so that their old sessions are older than `AGE`.
const PAST_AGE: Duration = Duration::from_millis(2500);

/// A live run of a playbook with actions takes that playbook's advisory lock, which is
/// cluster-wide and keyed by the playbook's name: two tests running the same built-in
/// playbook live at once would refuse each other, so live runs take turns.
static LIVE: Mutex<()> = Mutex::new(());

pub(crate) fn live() -> MutexGuard<'static, ()> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Pids of the server's long-lived background processes (not client backends).
fn background_pids() -> BTreeSet<i32> {
    admin(
        "SELECT pid FROM pg_stat_activity WHERE backend_type IN ('checkpointer', 'background writer', 'walwriter', 'autovacuum launcher', 'logical replication launcher')",
    )
    .lines()
    .map(|pid| pid.parse().unwrap())
    .collect()
}

fn background_alive(pids: &BTreeSet<i32>) -> bool {
    pids.iter().all(|pid| {
        admin(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}"
        )) == "1"
    })
}

/// Sessions in every state the playbooks tell apart, in one database.
struct Scene {
    /// Idle, older than `AGE`.
    idle_old: [Session; 2],
    /// Idle, older than `AGE`, of the test's protected role.
    protected: Session,
    /// Idle, older than `AGE`, as `postgres` (protected by default).
    postgres: Session,
    /// `BEGIN; SELECT 1;`: idle in transaction.
    in_transaction: Session,
    /// `BEGIN; SELECT 1/0;`: idle in transaction (aborted).
    aborted: Session,
    /// `BEGIN; LOCK TABLE t;`: idle in transaction, holding the lock `waiter` waits for.
    holder: Session,
    /// `SELECT * FROM t`: active, waiting on a lock.
    waiter: Session,
    /// `SELECT pg_sleep(60)`: active, a long query.
    sleeper: Session,
    /// Idle since just before the run: younger than `AGE`.
    young: Session,
    /// With `tview`: idle, application_name `tview-refresher` (its last query does not say so).
    tview_worker: Option<Session>,
    /// With `tview`: active, a long query calling a TVIEW function (`REFRESH_TVIEW_ORDERS()`).
    refresher: Option<Session>,
}

impl Scene {
    fn open(db: &Database, role: &Role, tview: bool) -> Scene {
        db.psql("CREATE TABLE t (x int)");
        let idle_old = [db.session(), db.session()];
        let protected = db.session_as(&role.name);
        let postgres = db.session_as("postgres");
        let in_transaction = db.idle_in_transaction();
        let aborted = db.aborted_transaction();
        let holder = db.lock_holder("t");
        let waiter = db.lock_waiter("t");
        let sleeper = db.sleeper();
        let (tview_worker, refresher) = if tview {
            let (worker, refresher) = tview_sessions(db);
            (Some(worker), Some(refresher))
        } else {
            (None, None)
        };
        std::thread::sleep(PAST_AGE);
        let young = db.session();
        Scene {
            idle_old,
            protected,
            postgres,
            in_transaction,
            aborted,
            holder,
            waiter,
            sleeper,
            young,
            tview_worker,
            refresher,
        }
    }

    /// Makes `young` young again (its `state_change` now), right before a run that must see it
    /// so: waiting for a turn can take longer than `AGE`.
    fn freshen(&mut self) {
        assert_eq!(self.young.query("SELECT 1;"), "1");
    }

    fn all(&self) -> Vec<&Session> {
        let mut all: Vec<&Session> = self.idle_old.iter().collect();
        all.extend([
            &self.protected,
            &self.postgres,
            &self.in_transaction,
            &self.aborted,
            &self.holder,
            &self.waiter,
            &self.sleeper,
            &self.young,
        ]);
        all.extend(self.tview_worker.iter());
        all.extend(self.refresher.iter());
        all
    }

    fn assert_all_alive(&self, db: &Database) {
        for session in self.all() {
            assert!(db.alive(session.pid), "session {} survives", session.pid);
        }
    }

    /// `protected_roles` with the test's role added to the default ones.
    fn protected_roles(role: &Role) -> String {
        format!("protected_roles=postgres,pg_tviews_admin,{}", role.name)
    }
}

/// The TVIEW stand-ins: an idle session named `tview-refresher` (its last query does not say
/// so), and a long query calling a TVIEW refresh function, in capitals.
fn tview_sessions(db: &Database) -> (Session, Session) {
    db.psql(
        "CREATE FUNCTION refresh_tview_orders() RETURNS void LANGUAGE sql AS 'SELECT pg_sleep(60)'",
    );
    let worker = db.session_named("tview-refresher");
    let refresher = db.session_in("SELECT REFRESH_TVIEW_ORDERS();", "active|Timeout");
    (worker, refresher)
}

/// `runbook run PLAYBOOK [flags]` scoped to the test's database, with a JSON report.
pub(crate) fn run(db: &Database, playbook: &str, vars: &[String], flags: &[&str]) -> Test {
    let mut test = Test::new()
        .args(["run", playbook])
        .var("database", &db.name);
    for var in vars {
        test = test.arg("--var").arg(var);
    }
    test.args(flags.iter().copied()).database(db).json_report()
}

/// The same, connected as `user` (by default the OS user, a superuser here).
pub(crate) fn run_as(
    db: &Database,
    user: &str,
    playbook: &str,
    vars: &[String],
    flags: &[&str],
) -> Test {
    run(db, playbook, vars, flags).database_url(&db.url_as(user))
}

pub(crate) fn step<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step `{id}` in the report"))
}

/// The values of one column of a step's rows, as the report types them.
pub(crate) fn column(step: &Value, name: &str) -> Vec<Value> {
    let index = step["columns"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("step `{}` has no column `{name}`", step["id"]));
    step["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[index].clone())
        .collect()
}

/// A column of the step's first row, not NULL.
pub(crate) fn cell(step: &Value, name: &str) -> Value {
    column(step, name)
        .into_iter()
        .next()
        .filter(|value| !value.is_null())
        .unwrap_or_else(|| panic!("step `{}` has no value of `{name}`", step["id"]))
}

/// A value that must be text.
pub(crate) fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not text"))
        .to_owned()
}

/// A column's values that must be integers (counts, pids).
pub(crate) fn integers(step: &Value, name: &str) -> Vec<i64> {
    column(step, name)
        .iter()
        .map(|value| {
            value.as_i64().unwrap_or_else(|| {
                panic!(
                    "`{name}` of step `{}` is {value}, not an integer",
                    step["id"]
                )
            })
        })
        .collect()
}

pub(crate) fn pid_column(step: &Value) -> BTreeSet<i32> {
    integers(step, "pid")
        .into_iter()
        .map(|pid| i32::try_from(pid).unwrap())
        .collect()
}

fn ages() -> Vec<String> {
    [
        "stale_after",
        "idle_after",
        "idle_in_transaction_after",
        "long_query_after",
        "lock_wait_after",
    ]
    .iter()
    .map(|name| format!("{name}={AGE}"))
    .collect()
}

/// Only the age params a playbook has.
fn ages_for(names: &[&str]) -> Vec<String> {
    ages()
        .into_iter()
        .filter(|var| names.iter().any(|n| var.starts_with(&format!("{n}="))))
        .collect()
}

/// The value of the one metric `name` of a step whose labels include `labels`.
fn metric(step: &Value, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = step["metrics"]
        .as_array()
        .expect("the step has metrics")
        .iter()
        .filter(|m| m["name"] == name && labels.iter().all(|(k, v)| m["labels"][k] == *v))
        .map(|m| m["value"].as_f64().expect("a number"))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one `{name}` {labels:?} in {}",
        step["metrics"]
    );
    found[0]
}

/// No step reported the engine's own session.
fn engine_untouched(report: &Value) {
    let own = report["facts"]["backend_pid"].clone();
    for step in report["steps"].as_array().unwrap() {
        let has_pid = step["columns"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c == "pid"));
        if has_pid {
            assert!(
                !column(step, "pid").contains(&own),
                "step `{}` lists the engine's own session",
                step["id"]
            );
        }
    }
}

#[test]
fn daily_monitoring_counts_client_sessions_and_alerts_on_the_seed_thresholds() {
    let role = Role::new();
    let db = Database::new();
    let scene = Scene::open(&db, &role, false);

    let outcome = run(
        &db,
        "daily-monitoring",
        &[format!("long_query_after={AGE}")],
        &[],
    )
    .status(1)
    .stderr(
        "daily-monitoring: WARNING — [..] — 7 steps, 2 warnings, 1 skipped — report: report.json\n",
    )
    .run();
    let report = outcome.json();
    let blocking = step(&report, "blocking");
    assert_eq!(blocking["status"], "WARNING");
    assert_eq!(
        pid_column(blocking),
        pids([&scene.holder]),
        "the idle transaction holding the lock is the root blocker"
    );
    assert_eq!(cell(blocking, "blocked_sessions"), 1);
    let overview = step(&report, "overview");
    assert_eq!(overview["status"], "WARNING");
    for (name, expected) in [
        ("total_connections", 10),
        ("active", 2),
        ("idle", 5),
        ("idle_in_transaction", 3),
        ("waiting_on_lock", 1),
        ("long_running_queries", 2),
    ] {
        assert_eq!(cell(overview, name), expected, "{name}");
    }
    // The long-query warning names the pids, oldest first, and how long the oldest ran.
    let message = overview["message"].as_str().unwrap();
    let oldest_first = [
        format!(
            "(pids {}, {}; the oldest for ",
            scene.waiter.pid, scene.sleeper.pid
        ),
        format!(
            "(pids {}, {}; the oldest for ",
            scene.sleeper.pid, scene.waiter.pid
        ),
    ];
    assert!(
        message.starts_with("2 queries running longer than 2s (pids ")
            && oldest_first
                .iter()
                .any(|pids| message.contains(pids.as_str())),
        "{message}"
    );
    let by_client = step(&report, "by_client");
    let mut groups: Vec<(String, String, i64)> = column(by_client, "usename")
        .into_iter()
        .zip(column(by_client, "state"))
        .zip(integers(by_client, "connections"))
        .map(|((user, state), n)| (text(&user), text(&state), n))
        .collect();
    groups.sort();
    let mut expected = vec![
        ("postgres", "idle", 1),
        (role.name.as_str(), "idle", 1),
        ("root", "active", 2),
        ("root", "idle", 3),
        ("root", "idle in transaction", 2),
        ("root", "idle in transaction (aborted)", 1),
    ]
    .into_iter()
    .map(|(u, s, n)| (u.to_owned(), s.to_owned(), n))
    .collect::<Vec<_>>();
    expected.sort();
    assert_eq!(groups, expected);
    assert!(
        integers(by_client, "tview_connections")
            .iter()
            .all(|n| *n == 0),
        "no session does TVIEW work, and the engine's own query is not counted"
    );
    let pool = step(&report, "pool");
    assert_eq!(pool["status"], "OK");
    assert_eq!(cell(pool, "limit_of"), "the server's usable slots");
    assert!(
        cell(pool, "client_connections").as_i64().unwrap() >= 11,
        "server-wide: the scene's ten sessions, the engine's own, and other databases' sessions"
    );
    assert_eq!(step(&report, "raise_limits")["status"], "SKIPPED");
    // The metrics monitoring graphs are the numbers the report shows.
    for name in [
        "total_connections",
        "active",
        "idle",
        "idle_in_transaction",
        "waiting_on_lock",
        "long_running_queries",
    ] {
        let value = metric(overview, name, &[]);
        assert_eq!(Some(value), cell(overview, name).as_f64(), "{name}");
    }
    assert!(metric(overview, "longest_active", &[]) >= 2.0, "in seconds");
    assert!(metric(overview, "longest_lock_wait", &[]) > 0.0);
    let server = [("limit_of", "the server's usable slots")];
    let utilization = metric(pool, "utilization_percent", &server);
    assert_eq!(
        utilization,
        cell(pool, "utilization_percent").as_f64().unwrap()
    );
    let root_idle = [("usename", "root"), ("state", "idle")];
    assert_eq!(
        metric(by_client, "connections", &root_idle),
        3.0,
        "labelled"
    );

    // Monitoring reads the same numbers: the plugin answer's perfdata are its report's metrics.
    let age = [format!("long_query_after={AGE}")];
    let outcome = run(&db, "daily-monitoring", &age, &["--nagios"])
        .status(1)
        .stdout_contains("daily-monitoring WARNING: ")
        .run();
    let answer = plugin::parse(&outcome.stdout).expect("a plugin answer");
    assert_eq!(answer.status, "WARNING");
    assert_eq!(answer.long.len(), 2, "{:?}", answer.long);
    let perfdata: Vec<(String, f64)> = answer
        .perfdata
        .iter()
        .map(|p| (p.label.clone(), p.value.expect("a value")))
        .collect();
    assert!(perfdata.len() > 20, "{perfdata:?}");
    assert_eq!(perfdata, monitoring::report_metrics(&outcome));

    let outcome = run(
        &db,
        "daily-monitoring",
        &[
            "idle_in_transaction_max=2".to_owned(),
            "critical_percent=0".to_owned(),
        ],
        &[],
    )
    .status(2)
    .stderr("daily-monitoring: CRITICAL — [..] — 7 steps, 1 critical, 2 warnings — report: report.json\n")
    .run();
    let report = outcome.json();
    let overview = step(&report, "overview");
    assert_eq!(overview["status"], "WARNING");
    assert_eq!(
        overview["message"],
        "3 sessions idle in a transaction (more than 2)"
    );
    let pool = step(&report, "pool");
    assert_eq!(pool["status"], "CRITICAL");
    assert!(
        pool["message"]
            .as_str()
            .unwrap()
            .starts_with("the server's usable slots: "),
        "{}",
        pool["message"]
    );
    assert_eq!(step(&report, "raise_limits")["status"], "MANUAL");
    assert_eq!(report["exit_code"], 2);
    scene.assert_all_alive(&db);
}

#[test]
fn cleanup_with_yes_terminates_exactly_the_old_idle_and_idle_in_transaction_sessions() {
    let role = Role::new();
    let db = Database::new();
    let mut scene = Scene::open(&db, &role, false);
    let background = background_pids();
    let mut vars = ages_for(&["stale_after", "idle_after", "idle_in_transaction_after"]);
    vars.push(Scene::protected_roles(&role));
    let outcome = {
        let _turn = live();
        scene.freshen();
        run(&db, "connection-cleanup", &vars, &["--yes"])
            .status(1)
            .stderr("connection-cleanup: WARNING — [..] — 7 steps, 2 warnings — report: report.json — journal: report.journal.jsonl\n")
            .run()
    };
    let report = outcome.json();

    let stale = step(&report, "stale_sessions");
    assert_eq!(stale["status"], "WARNING");
    assert_eq!(
        stale["message"],
        "7 sessions idle or idle in a transaction for more than 2s"
    );
    let mut expected_stale = pids(&scene.idle_old);
    expected_stale.extend(pids([
        &scene.protected,
        &scene.postgres,
        &scene.in_transaction,
        &scene.aborted,
        &scene.holder,
    ]));
    assert_eq!(pid_column(stale), expected_stale);
    assert_eq!(
        column(stale, "protected")
            .iter()
            .filter(|p| **p == true)
            .count(),
        2,
        "the protected sessions are listed, and said to be protected"
    );

    assert_eq!(
        pid_column(step(&report, "idle_candidates")),
        pids(&scene.idle_old)
    );
    let terminate_idle = step(&report, "terminate_idle");
    assert_eq!(terminate_idle["status"], "OK");
    assert_eq!(terminate_idle["message"], "2 sessions terminated");
    assert_eq!(terminate_idle["approval"]["decision"], "approved");
    assert_eq!(terminate_idle["approval"]["by"], "--yes");
    assert_eq!(terminate_idle["approval"]["preview_rows"], 2);
    assert_eq!(pid_column(terminate_idle), pids(&scene.idle_old));
    assert!(
        column(terminate_idle, "terminated")
            .iter()
            .all(|t| *t == true)
    );

    let in_transaction = pids([&scene.in_transaction, &scene.aborted, &scene.holder]);
    let long = step(&report, "long_transactions");
    assert_eq!(long["status"], "WARNING");
    assert_eq!(
        long["message"],
        "3 sessions idle in a transaction open for more than 2s"
    );
    assert_eq!(pid_column(long), in_transaction);
    assert_eq!(
        pid_column(step(&report, "idle_in_transaction_candidates")),
        in_transaction
    );
    let terminate = step(&report, "terminate_idle_in_transaction");
    assert_eq!(terminate["status"], "OK");
    assert_eq!(terminate["message"], "3 sessions terminated");
    assert_eq!(pid_column(terminate), in_transaction);
    assert!(column(terminate, "terminated").iter().all(|t| *t == true));
    let remedy = step(&report, "lasting_remedy");
    assert_eq!(remedy["status"], "MANUAL");
    assert!(
        remedy["manual"]
            .as_str()
            .unwrap()
            .contains("idle_in_transaction_session_timeout = 2000"),
        "{}",
        remedy["manual"]
    );
    assert_eq!(report["exit_code"], 1);
    engine_untouched(&report);

    for pid in pids(&scene.idle_old).union(&in_transaction) {
        db.wait_gone(*pid);
    }
    for survivor in [
        &scene.protected,
        &scene.postgres,
        &scene.young,
        &scene.sleeper,
        &scene.waiter,
    ] {
        assert!(db.alive(survivor.pid), "session {} survives", survivor.pid);
    }
    assert_eq!(
        db.activity(scene.sleeper.pid),
        "active|Timeout",
        "the long query was left alone"
    );
    assert!(
        background_alive(&background),
        "background processes survive"
    );
}

#[test]
fn cleanup_without_yes_and_without_a_terminal_terminates_nothing() {
    let role = Role::new();
    let db = Database::new();
    let mut scene = Scene::open(&db, &role, false);
    let mut vars = ages_for(&["stale_after", "idle_after", "idle_in_transaction_after"]);
    vars.push(Scene::protected_roles(&role));
    let outcome = {
        let _turn = live();
        scene.freshen();
        run(&db, "connection-cleanup", &vars, &[])
            .status(4)
            .stderr("connection-cleanup: STOPPED — [..] — 7 steps, 2 warnings, 2 not run — report: report.json — journal: report.journal.jsonl\n")
            .run()
    };
    let report = outcome.json();
    for id in ["terminate_idle", "terminate_idle_in_transaction"] {
        let action = step(&report, id);
        assert_eq!(action["status"], "NOT_RUN", "{id}");
        assert_eq!(
            action["message"], "not approved: no terminal to ask and no `--yes`",
            "{id}"
        );
        assert_eq!(action["approval"]["decision"], "refused");
    }
    std::thread::sleep(Duration::from_millis(300));
    scene.assert_all_alive(&db);
}

#[test]
fn cleanup_dry_run_previews_the_sessions_and_terminates_nothing() {
    let role = Role::new();
    let db = Database::new();
    let mut scene = Scene::open(&db, &role, false);
    let mut vars = ages_for(&["stale_after", "idle_after", "idle_in_transaction_after"]);
    vars.push(Scene::protected_roles(&role));
    scene.freshen();
    let outcome = run(&db, "connection-cleanup", &vars, &["--dry-run", "--yes"])
        .status(1)
        .stderr(
            "connection-cleanup: WARNING — [..] — 7 steps, 2 warnings, 2 skipped — report: report.json\n",
        )
        .run();
    let report = outcome.json();
    assert_eq!(report["mode"], "dry-run");
    let terminate_idle = step(&report, "terminate_idle");
    assert_eq!(terminate_idle["status"], "SKIPPED");
    assert_eq!(
        terminate_idle["message"],
        "dry run: would have run the SQL below on 2 preview rows"
    );
    assert_eq!(pid_column(terminate_idle), pids(&scene.idle_old));
    let sql = terminate_idle["sql"].as_str().unwrap();
    assert!(sql.contains("pg_terminate_backend"), "{sql}");
    for session in &scene.idle_old {
        assert!(sql.contains(&session.pid.to_string()), "{sql}");
    }
    let terminate = step(&report, "terminate_idle_in_transaction");
    assert_eq!(terminate["status"], "SKIPPED");
    assert_eq!(
        pid_column(terminate),
        pids([&scene.in_transaction, &scene.aborted, &scene.holder])
    );
    assert!(
        !outcome.path("report.journal.jsonl").exists(),
        "a dry run approves nothing"
    );
    std::thread::sleep(Duration::from_millis(300));
    scene.assert_all_alive(&db);
}

#[test]
fn cleanup_without_privileges_sees_nothing_signals_nobody_and_says_why() {
    let role = Role::new();
    let db = Database::new();
    let scene = Scene::open(&db, &role, false);
    let vars = ages_for(&["stale_after", "idle_after", "idle_in_transaction_after"]);
    let outcome = {
        let _turn = live();
        run_as(&db, &role.name, "connection-cleanup", &vars, &["--yes"])
            .status(3)
            .stderr("connection-cleanup: UNKNOWN — `stale_sessions`: the check was not sent: it needs every role's sessions, and the role [..] — 7 steps, 4 failed, 2 skipped — report: report.json\n")
            .run()
    };
    let report = outcome.json();
    // The checks that count other roles' sessions are not sent: they could only come out low.
    for id in ["stale_sessions", "idle_candidates"] {
        let check = step(&report, id);
        assert_eq!(check["status"], "UNKNOWN", "{id}");
        assert!(
            check["message"]
                .as_str()
                .unwrap()
                .contains("cannot see other roles' sessions in `pg_stat_activity`"),
            "{id}: {check}"
        );
    }
    for id in ["terminate_idle", "terminate_idle_in_transaction"] {
        let action = step(&report, id);
        assert_eq!(action["status"], "SKIPPED", "{id}");
        assert_eq!(
            action["message"].as_str().unwrap(),
            format!(
                "`{}` does not have the privileges of `pg_signal_backend`",
                role.name
            )
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    scene.assert_all_alive(&db);
}

#[test]
fn cleanup_as_a_non_superuser_with_pg_signal_backend_spares_superusers_sessions() {
    let operator = Role::new();
    admin(&format!(
        "GRANT pg_signal_backend, pg_read_all_stats TO {}",
        operator.name
    ));
    let plain = Role::new();
    let db = Database::new();
    let victim = db.session_as(&plain.name);
    let superuser = db.session();
    std::thread::sleep(PAST_AGE);
    let vars = ages_for(&["stale_after", "idle_after", "idle_in_transaction_after"]);
    let outcome = {
        let _turn = live();
        run_as(&db, &operator.name, "connection-cleanup", &vars, &["--yes"])
            .status(1)
            .stderr("connection-cleanup: WARNING — [..] — 7 steps, 1 warning, 1 skipped — report: report.json — journal: report.journal.jsonl\n")
            .run()
    };
    let report = outcome.json();
    assert_eq!(
        pid_column(step(&report, "stale_sessions")),
        pids([&victim, &superuser]),
        "both are listed"
    );
    assert_eq!(
        pid_column(step(&report, "idle_candidates")),
        pids([&victim]),
        "pg_signal_backend cannot signal a superuser's session: it is no candidate"
    );
    let terminate = step(&report, "terminate_idle");
    assert_eq!(terminate["status"], "OK");
    assert_eq!(terminate["message"], "1 session terminated");
    assert_eq!(pid_column(terminate), pids([&victim]));
    assert_eq!(report["notes"], serde_json::json!([]));
    db.wait_gone(victim.pid);
    assert!(db.alive(superuser.pid));
}

#[test]
fn emergency_dry_run_shows_which_sessions_would_be_terminated_and_cancelled() {
    let role = Role::new();
    let db = Database::new();
    let mut scene = Scene::open(&db, &role, true);
    let mut vars = ages_for(&["idle_after", "long_query_after", "lock_wait_after"]);
    vars.push(Scene::protected_roles(&role));
    scene.freshen();
    let outcome = run(&db, "emergency", &vars, &["--dry-run"])
        .status(1)
        .stderr(
            "emergency: WARNING — [..] — 11 steps, 1 warning, 5 skipped — report: report.json\n",
        )
        .run();
    let report = outcome.json();
    let assessment = step(&report, "critical_assessment");
    assert_eq!(assessment["status"], "OK");
    for (name, expected) in [
        ("client_connections", 13),
        ("active", 3),
        ("idle", 6),
        ("idle_in_transaction", 3),
        ("waiting_on_lock", 1),
    ] {
        assert_eq!(cell(assessment, name), expected, "{name}");
    }
    for id in ["pending_tview_refreshes", "post_pending_tview_refreshes"] {
        assert_eq!(step(&report, id)["status"], "SKIPPED");
        assert_eq!(
            step(&report, id)["message"],
            "relation `pg_tviews_queue` does not exist"
        );
    }
    let blockers = step(&report, "blocker_candidates");
    assert_eq!(pid_column(blockers), pids([&scene.holder]));
    assert_eq!(cell(blockers, "blocked_sessions"), 1);
    let terminate = step(&report, "terminate_blockers");
    assert_eq!(terminate["status"], "SKIPPED");
    assert_eq!(pid_column(terminate), pids([&scene.holder]));
    let worker = scene.tview_worker.as_ref().unwrap();
    let mut idle = pids(&scene.idle_old);
    idle.insert(worker.pid);
    assert_eq!(pid_column(step(&report, "idle_candidates")), idle);
    let terminate = step(&report, "terminate_idle");
    assert_eq!(terminate["status"], "SKIPPED");
    assert_eq!(
        terminate["message"],
        "dry run: would have run the SQL below on 3 preview rows"
    );
    assert_eq!(pid_column(terminate), idle);
    let long = pids([&scene.sleeper]);
    assert_eq!(
        pid_column(step(&report, "long_query_candidates")),
        long,
        "the TVIEW refresh, the lock waiter and the protected roles are never cancelled"
    );
    let cancel = step(&report, "cancel_long_queries");
    assert_eq!(cancel["status"], "SKIPPED");
    assert_eq!(
        cancel["message"],
        "dry run: would have run the SQL below on 1 preview row"
    );
    assert_eq!(pid_column(cancel), long);
    assert!(
        cancel["sql"]
            .as_str()
            .unwrap()
            .contains("pg_cancel_backend")
    );
    let after = step(&report, "post_emergency");
    assert_eq!(
        after["status"], "WARNING",
        "nothing was terminated: the waiter waits"
    );
    assert_eq!(after["message"], "1 session still waiting on a lock");
    assert_eq!(step(&report, "after_the_emergency")["status"], "MANUAL");
    engine_untouched(&report);
    std::thread::sleep(Duration::from_millis(300));
    scene.assert_all_alive(&db);
    assert_eq!(db.activity(scene.sleeper.pid), "active|Timeout");
}

#[test]
fn emergency_confirm_actions_are_refused_without_a_terminal_even_with_yes() {
    let role = Role::new();
    let db = Database::new();
    let mut scene = Scene::open(&db, &role, true);
    let mut vars = ages_for(&["idle_after", "long_query_after"]);
    vars.push(Scene::protected_roles(&role));
    let _turn = live();
    scene.freshen();
    let outcome = run(&db, "emergency", &vars, &[])
        .status(4)
        .stderr("emergency: STOPPED — [..] — 11 steps, 1 warning, 3 skipped, 2 not run — report: report.json — journal: report.journal.jsonl\n")
        .run();
    let report_plain = outcome.json();
    let outcome = run(&db, "emergency", &vars, &["--yes"])
        .status(4)
        .stderr("emergency: STOPPED — [..] — 11 steps, 1 warning, 3 skipped, 2 not run — report: report.json — journal: report.journal.jsonl\n")
        .run();
    let report_yes = outcome.json();
    for id in ["terminate_idle", "cancel_long_queries"] {
        let refused = step(&report_plain, id);
        assert_eq!(refused["status"], "NOT_RUN", "{id}");
        assert_eq!(
            refused["message"], "not approved: no terminal to ask and no `--yes`",
            "{id}"
        );
        let refused = step(&report_yes, id);
        assert_eq!(refused["status"], "NOT_RUN", "{id}");
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains("which `--yes` never gives"),
            "{}",
            refused["message"]
        );
    }
    assert_eq!(
        step(&report_yes, "post_emergency")["message"],
        "1 session still waiting on a lock"
    );
    std::thread::sleep(Duration::from_millis(300));
    scene.assert_all_alive(&db);
    assert_eq!(
        db.activity(scene.sleeper.pid),
        "active|Timeout",
        "nothing was cancelled"
    );
}

#[test]
fn pool_optimization_shows_patterns_settings_and_busy_clients() {
    let role = Role::new();
    let db = Database::new();
    let scene = Scene::open(&db, &role, false);
    let outcome = run(&db, "pool-optimization", &[], &[])
        .status(1)
        .stderr("pool-optimization: WARNING — [..] — 7 steps, 1 warning — report: report.json\n")
        .run();
    let report = outcome.json();
    let patterns = step(&report, "connection_patterns");
    assert_eq!(patterns["status"], "OK");
    let opened: i64 = integers(patterns, "connections_opened").iter().sum();
    assert_eq!(opened, 10, "the scene's sessions, all opened within 24h");
    let settings = step(&report, "connection_settings");
    assert!(column(settings, "name").contains(&Value::from("max_connections")));
    assert_eq!(step(&report, "pooler_configuration")["status"], "MANUAL");
    let busy = step(&report, "busy_clients");
    assert_eq!(busy["status"], "WARNING");
    assert_eq!(busy["row_count"], 1);
    assert_eq!(cell(busy, "usename"), "root");
    assert_eq!(cell(busy, "connections"), 8);
    assert_eq!(
        cell(busy, "states"),
        "active, idle, idle in transaction, idle in transaction (aborted)"
    );
    assert_eq!(
        busy["message"],
        "1 client holding more than 5 connections (most: root from the local socket, 8)"
    );
    assert_eq!(step(&report, "application_tuning")["status"], "MANUAL");

    let outcome = run(
        &db,
        "pool-optimization",
        &["connections_per_client_max=8".to_owned()],
        &[],
    )
    .stderr("pool-optimization: OK — 7 steps, 1 skipped — report: report.json\n")
    .run();
    let report = outcome.json();
    assert_eq!(step(&report, "busy_clients")["row_count"], 0);
    assert_eq!(step(&report, "application_tuning")["status"], "SKIPPED");
    scene.assert_all_alive(&db);
}

#[test]
fn troubleshooting_diagnoses_exhaustion_leaks_and_contention() {
    let role = Role::new();
    let db = Database::new();
    let scene = Scene::open(&db, &role, false);
    let outcome = run(
        &db,
        "troubleshooting",
        &[
            "critical_percent=0".to_owned(),
            "idle_per_client_max=2".to_owned(),
        ],
        &[],
    )
    .status(2)
    .stderr("troubleshooting: CRITICAL — [..] — 8 steps, 1 critical, 2 warnings, 2 skipped — report: report.json\n")
    .run();
    let report = outcome.json();
    let locks = step(&report, "lock_contention");
    assert_eq!(locks["status"], "WARNING");
    assert_eq!(pid_column(locks), pids([&scene.holder]));
    assert_eq!(
        cell(locks, "chains"),
        format!("{} <- {}", scene.holder.pid, scene.waiter.pid)
    );
    let exhaustion = step(&report, "pool_exhaustion");
    assert_eq!(exhaustion["status"], "CRITICAL");
    assert_eq!(cell(exhaustion, "limit_of"), "the server's usable slots");
    for (name, at_least) in [
        ("client_connections", 11),
        ("idle", 5),
        ("idle_in_transaction", 3),
    ] {
        let server_wide = cell(exhaustion, name).as_i64().unwrap();
        assert!(
            server_wide >= at_least,
            "{name}: the scene's and other databases' sessions"
        );
    }
    assert_eq!(
        step(&report, "pool_exhaustion_solutions")["status"],
        "MANUAL"
    );
    let leaks = step(&report, "connection_leaks");
    assert_eq!(leaks["status"], "WARNING");
    assert_eq!(leaks["row_count"], 1);
    assert_eq!(cell(leaks, "usename"), "root");
    assert_eq!(cell(leaks, "idle_count"), 3);
    assert_eq!(
        leaks["message"],
        "1 client holding more than 2 idle connections (most: root from the local socket, 3)"
    );
    assert_eq!(
        step(&report, "connection_leak_solutions")["status"],
        "MANUAL"
    );
    let contention = step(&report, "tview_contention");
    assert_eq!(cell(contention, "tview_connections"), 0);
    let pending = step(&report, "tview_pending_refreshes");
    assert_eq!(pending["status"], "SKIPPED");
    assert_eq!(
        pending["message"],
        "relation `pg_tviews_queue` does not exist"
    );
    assert_eq!(
        step(&report, "tview_contention_solutions")["status"],
        "SKIPPED"
    );

    let outcome = run(&db, "troubleshooting", &[], &[])
        .status(1)
        .stderr("troubleshooting: WARNING — [..] — 8 steps, 1 warning, 4 skipped — report: report.json\n")
        .run();
    let report = outcome.json();
    assert_eq!(step(&report, "pool_exhaustion")["status"], "OK");
    assert_eq!(step(&report, "connection_leaks")["row_count"], 0);
    scene.assert_all_alive(&db);
}

#[test]
fn tview_steps_are_skipped_without_the_tables_and_assessed_with_stand_ins() {
    let db = Database::new();
    let (worker, refresher) = tview_sessions(&db);
    let sleeper = db.sleeper();
    std::thread::sleep(PAST_AGE);

    let outcome = run(&db, "tview-connections", &[], &[])
        .status(0)
        .stderr("tview-connections: OK — 6 steps, 2 skipped — report: report.json\n")
        .run();
    let report = outcome.json();
    assert_eq!(
        pid_column(step(&report, "tview_sessions")),
        pids([&worker, &refresher]),
        "matched by application_name or, case-insensitively, by a TVIEW function call; never the engine"
    );
    for (id, relation) in [
        ("pending_refreshes", "pg_tviews_queue"),
        ("refresh_times", "pg_tviews_metadata"),
    ] {
        let skipped = step(&report, id);
        assert_eq!(skipped["status"], "SKIPPED", "{id}");
        assert_eq!(
            skipped["message"].as_str().unwrap(),
            format!("relation `{relation}` does not exist")
        );
    }
    let guidelines = step(&report, "guidelines");
    assert_eq!(guidelines["status"], "OK");
    assert_eq!(
        guidelines["message"],
        "connection usage is optimal for TVIEW work"
    );
    assert_eq!(cell(guidelines, "client_connections"), 3);
    assert_eq!(cell(guidelines, "active_tview_queries"), 1);

    db.psql(
        "CREATE TABLE pg_tviews_queue (processed_at timestamptz);
         INSERT INTO pg_tviews_queue SELECT NULL FROM generate_series(1, 150);
         INSERT INTO pg_tviews_queue SELECT now() FROM generate_series(1, 20);
         CREATE TABLE pg_tviews_metadata (last_refresh_duration_ms numeric, last_refreshed timestamptz);
         INSERT INTO pg_tviews_metadata VALUES (100, now() - interval '10 minutes'),
                                               (300, now() - interval '20 minutes'),
                                               (5000, now() - interval '2 hours');",
    );
    let outcome = run(
        &db,
        "tview-connections",
        &[
            "tview_query_age_max=1s".to_owned(),
            "pooler_connections_max=2".to_owned(),
            "pressure_percent=0".to_owned(),
        ],
        &[],
    )
    .status(1)
    .stderr("tview-connections: WARNING — [..] — 6 steps, 3 warnings — report: report.json\n")
    .run();
    let report = outcome.json();
    let pending = step(&report, "pending_refreshes");
    assert_eq!(pending["status"], "WARNING");
    assert_eq!(
        pending["message"],
        "150 TVIEW refreshes pending (more than 100)"
    );
    assert_eq!(
        pending["recommendations"][0],
        "Increase the TVIEW worker threads, and check that the workers get connections."
    );
    let times = step(&report, "refresh_times");
    assert_eq!(times["status"], "OK");
    assert_eq!(cell(times, "refreshed_tviews"), 2);
    assert_eq!(cell(times, "avg_refresh_time_ms"), 200.0);
    let pressure = step(&report, "connection_pressure");
    assert_eq!(pressure["status"], "WARNING");
    assert_eq!(cell(pressure, "active_connections"), 2);
    let guidelines = step(&report, "guidelines");
    assert_eq!(guidelines["status"], "WARNING");
    let message = guidelines["message"].as_str().unwrap();
    assert!(
        message
            .starts_with("3 client connections (more than 2); active TVIEW queries have run for "),
        "{message}"
    );
    assert_eq!(
        guidelines["recommendations"],
        serde_json::json!([
            "Use a connection pooler (pgbouncer).",
            "Reduce the TVIEW query timeout (`statement_timeout` of the refresh role) and look at why they run long."
        ])
    );

    let outcome = run(&db, "troubleshooting", &[], &[])
        .status(1)
        .stderr("troubleshooting: WARNING — [..] — 8 steps, 1 warning, 2 skipped — report: report.json\n")
        .run();
    let report = outcome.json();
    let contention = step(&report, "tview_contention");
    assert_eq!(cell(contention, "tview_connections"), 2);
    assert_eq!(cell(contention, "active"), 1);
    assert_eq!(
        step(&report, "tview_pending_refreshes")["status"],
        "WARNING"
    );
    assert_eq!(
        step(&report, "tview_contention_solutions")["status"],
        "MANUAL"
    );

    let outcome = run(&db, "emergency", &[], &["--dry-run"])
        .status(1)
        .stderr(
            "emergency: WARNING — [..] — 11 steps, 2 warnings, 3 skipped — report: report.json\n",
        )
        .run();
    let report = outcome.json();
    assert_eq!(
        step(&report, "pending_tview_refreshes")["message"],
        "150 TVIEW refreshes pending (more than 100)"
    );
    assert_eq!(
        step(&report, "post_pending_tview_refreshes")["status"],
        "WARNING"
    );
    for session in [&worker, &refresher, &sleeper] {
        assert!(db.alive(session.pid));
    }
}

#[test]
fn dry_run_of_every_playbook_terminates_nothing() {
    let role = Role::new();
    let db = Database::new();
    let scene = Scene::open(&db, &role, true);
    for (playbook, status, summary) in [
        (
            "connection-cleanup",
            1,
            "connection-cleanup: WARNING — [..] — 7 steps, 2 warnings, 2 skipped — report: report.json\n",
        ),
        (
            "daily-monitoring",
            1,
            "daily-monitoring: WARNING — [..] — 7 steps, 2 warnings, 1 skipped — report: report.json\n",
        ),
        (
            "emergency",
            1,
            "emergency: WARNING — [..] — 11 steps, 1 warning, 5 skipped — report: report.json\n",
        ),
        (
            "pool-optimization",
            1,
            "pool-optimization: WARNING — [..] — 7 steps, 1 warning — report: report.json\n",
        ),
        (
            "troubleshooting",
            1,
            "troubleshooting: WARNING — [..] — 8 steps, 2 warnings, 3 skipped — report: report.json\n",
        ),
        (
            "tview-connections",
            0,
            "tview-connections: OK — 6 steps, 2 skipped — report: report.json\n",
        ),
    ] {
        let vars = match playbook {
            "daily-monitoring" => ages_for(&["long_query_after"]),
            "connection-cleanup" => {
                ages_for(&["stale_after", "idle_after", "idle_in_transaction_after"])
            }
            "emergency" => ages_for(&["idle_after", "long_query_after", "lock_wait_after"]),
            _ => Vec::new(),
        };
        let outcome = run(&db, playbook, &vars, &["--dry-run", "--yes"])
            .status(status)
            .stderr(summary)
            .run();
        let report = outcome.json();
        assert_eq!(report["mode"], "dry-run");
        for step in report["steps"].as_array().unwrap() {
            if ["action", "terminate", "cancel"].contains(&step["kind"].as_str().unwrap()) {
                assert_eq!(step["status"], "SKIPPED", "{playbook}: {}", step["id"]);
            }
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    scene.assert_all_alive(&db);
    assert_eq!(db.activity(scene.sleeper.pid), "active|Timeout");
    assert_eq!(
        db.activity(scene.in_transaction.pid),
        "idle in transaction|Client"
    );
}

#[test]
fn every_playbook_shows_as_a_runbook() {
    for playbook in BUILT_INS {
        let text = built_in(playbook);
        let mut test = Test::new()
            .args(["show", playbook])
            .stdout_contains(&format!("from `built-in:{playbook}`"))
            .stdout_contains("| database | database |");
        for line in text.lines() {
            if let Some(id) = line.strip_prefix("  - id: ") {
                test = test.stdout_contains(&format!("step `{id}`"));
            }
        }
        let outcome = test.run();
        let title = text
            .lines()
            .find_map(|line| line.strip_prefix("title: "))
            .unwrap();
        assert!(
            outcome.stdout.starts_with(&format!("# {title}\n")),
            "{}",
            outcome.stdout
        );
    }
}

#[test]
fn every_playbook_names_the_seed_where_it_differs() {
    for playbook in BUILT_INS {
        let text = built_in(playbook);
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schema/playbook.schema.json\n"),
            "{playbook}"
        );
        assert!(
            text.contains("# Seed differs: "),
            "{playbook} notes where it deliberately differs from the seed"
        );
        let sql: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .collect();
        assert!(
            !sql.contains("pg_stat_bgwriter") && !sql.contains("'waiting'"),
            "{playbook} keeps none of the seed's broken SQL"
        );
    }
}
