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
