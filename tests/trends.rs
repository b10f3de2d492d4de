//! The built-in playbooks' history checks (a growing idle count, the utilization trend, the
//! connection-opening rate) on a server with no history yet: they do not alert, and say so.

use crate::common::db::Database;
use crate::playbooks::{run, step};

const NOT_YET: &str = "not enough history yet (0 samples)";

#[test]
fn without_history_the_built_ins_stay_ok_and_say_not_enough_history_yet() {
    let db = Database::new();
    let report = run(&db, "daily-monitoring", &[], &[])
        .status(0)
        .stderr("daily-monitoring: OK — 7 steps, 1 skipped — report: report.json\n")
        .run()
        .json();
    let overview = step(&report, "overview");
    assert_eq!(
        overview["message"],
        format!(
            "0 client connections: 0 active, 0 idle, 0 idle in a transaction, 0 waiting on a lock; {NOT_YET}"
        )
    );
    let leak = &overview["assessments"][2];
    assert_eq!(
        (&leak["held"], &leak["message"]),
        (&false.into(), &NOT_YET.into()),
        "{leak}"
    );
    let trend = step(&report, "utilization_trend");
    assert_eq!(trend["status"], "OK");
    let message = trend["message"].as_str().unwrap();
    assert!(
        message.ends_with(&format!("% of the usable slots in use now; {NOT_YET}")),
        "{message}"
    );

    let report = run(&db, "pool-optimization", &[], &[])
        .status(0)
        .stderr("pool-optimization: OK — 7 steps, 1 skipped — report: report.json\n")
        .run()
        .json();
    let rate = step(&report, "opening_rate");
    assert_eq!(
        rate["message"],
        format!("0.0 connections opened per minute over the last 10m; {NOT_YET}")
    );
}

/// Done-when of the history issue: a cron job of daily-monitoring alerts on a connection leak
/// by its growth. The first run finds nothing idle (its record is then dated 40 minutes back,
/// as if cron had run it then); five sessions are left idle; the next run says they grew.
/// Each database's history is its own: every run connects to `a` (as a fleet checking each
/// database of a server through one connection does) and is scoped by `--var database`; `b`
/// has no history yet — `a`'s would make its idle sessions a growth.
#[test]
fn a_cron_job_alerts_on_idle_connections_growing_and_keeps_each_databases_history_apart() {
    let (a, b) = (Database::new(), Database::new());
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("history.sqlite");
    let history = ["--history", store.to_str().unwrap()];
    let vars = ["idle_growth_warning=3".to_owned()];
    let cron =
        |scope: &Database| run(scope, "daily-monitoring", &vars, &history).database_url(&a.url());
    cron(&a)
        .status(0)
        .stderr_any("the first run: the step counts are checked elsewhere")
        .run();
    let sqlite = rusqlite::Connection::open(&store).unwrap();
    sqlite
        .execute(
            "UPDATE runs SET started_ms = started_ms - 40 * 60 * 1000",
            [],
        )
        .unwrap();
    let target: String = sqlite
        .query_row("SELECT target FROM runs", [], |row| row.get(0))
        .unwrap();
    assert!(
        target.ends_with(&format!(" (database={})", a.name)),
        "{target}"
    );
    let _idle_a = a.sessions_named("leaking-app", 5);
    let _idle_b = b.sessions_named("leaking-app", 5);

    let report = cron(&b)
        .status(0)
        .stderr_any("b's run: OK, checked below")
        .run()
        .json();
    let overview = step(&report, "overview");
    assert_eq!(overview["status"], "OK", "{overview}");
    assert!(
        overview["message"].as_str().unwrap().ends_with(NOT_YET),
        "{overview}"
    );

    let report = cron(&a)
        .status(1)
        .stderr_any("a's run: WARNING, checked below")
        .run()
        .json();
    let overview = step(&report, "overview");
    assert_eq!(overview["status"], "WARNING", "{overview}");
    let message = overview["message"].as_str().unwrap();
    assert!(
        message.starts_with("idle connections grew by 5 in 1h (more than 3; 5 now)"),
        "{message}"
    );
}
