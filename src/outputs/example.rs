//! A run record with every part filled in, and a fleet of slim ones, for the outputs' unit
//! tests.

use std::path::PathBuf;

use super::record::{
    ApprovalRecord, AssessmentRecord, Cell, ColumnKind, Decided, Decider, ErrorRecord, GuardRecord,
    MetricRecord, Mode, ParamRecord, PrivilegesRecord, REPORT_VERSION, RunRecord, SessionsRecord,
    Status, StepRecord,
};
use crate::fleet::report::FleetRun;
use crate::fleet::{TargetResult, exit_code};

/// A metric's value with its labels, and no unit conversions, bounds or thresholds.
pub fn metric(name: &str, unit: &str, value: f64, labels: &[(&str, &str)]) -> MetricRecord {
    MetricRecord {
        name: name.to_owned(),
        unit: unit.to_owned(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        value,
        warning: None,
        critical: None,
        min: None,
        max: None,
    }
}

pub fn step(id: &str, title: &str, kind: &str, status: Status) -> StepRecord {
    StepRecord::new(id, title, kind, status)
}

fn assessment(severity: Status, condition: &str, held: bool) -> AssessmentRecord {
    AssessmentRecord {
        severity,
        condition: condition.to_owned(),
        held,
        matching_rows: None,
        sessions: None,
        message: None,
        recommendation: None,
    }
}

fn idle_candidates() -> StepRecord {
    let mut step = step(
        "idle_candidates",
        "Idle connections older than 1h",
        "check",
        Status::Warning,
    );
    step.message = Some("3 idle connections older than 1h".to_owned());
    step.duration_ms = 12;
    step.guards = vec![GuardRecord {
        guard: "server_version >= 13".to_owned(),
        passed: true,
        reason: "the server is PostgreSQL 15.4".to_owned(),
    }];
    step.sql = Some(
        "SELECT pid, usename, query\nFROM pg_stat_activity\nWHERE state = 'idle'\n".to_owned(),
    );
    step.columns = vec!["pid".to_owned(), "usename".to_owned(), "query".to_owned()];
    let (integer, text) = (ColumnKind::Integer, ColumnKind::Text);
    step.column_types = vec![integer, text, text];
    step.rows = vec![
        vec![
            Cell::of(integer, Some("4242")),
            Cell::of(text, Some("app")),
            Cell::of(text, Some("a|b\nc<script>`x`")),
        ],
        vec![
            Cell::of(integer, Some("4243")),
            Cell::Null,
            Cell::of(text, Some("SELECT 1")),
        ],
    ];
    step.row_count = 3;
    step.rows_truncated = true;
    let mut any = assessment(Status::Warning, "row_count > 0", true);
    any.message = Some("3 idle connections older than 1h".to_owned());
    any.recommendation = Some("Terminate them with `terminate_idle`.".to_owned());
    // The engine keeps more rows than the report shows: the third session is named too.
    any.sessions = Some(SessionsRecord {
        pids: vec![4242, 4243, 4244],
        count: 3,
    });
    let mut per_row = assessment(Status::Warning, "usename IS NULL", true);
    per_row.matching_rows = Some(1);
    per_row.message = Some("a session without a user".to_owned());
    per_row.sessions = Some(SessionsRecord {
        pids: vec![4243],
        count: 1,
    });
    let mut critical = assessment(Status::Critical, "idle_for > interval '1 day'", false);
    critical.matching_rows = Some(0);
    step.assessments = vec![any, per_row, critical];
    step.recommendations = vec!["Terminate them with `terminate_idle`.".to_owned()];
    step
}

pub fn record() -> RunRecord {
    let mut queue = step(
        "queue_backlog",
        "pg_tviews queue backlog",
        "check",
        Status::Skipped,
    );
    queue.message = Some("relation `pg_tviews_queue` does not exist".to_owned());
    queue.guards = vec![GuardRecord {
        guard: "relation `pg_tviews_queue`".to_owned(),
        passed: false,
        reason: "no such relation in database `app`".to_owned(),
    }];
    let mut manual = step(
        "raise_limit",
        "Raise max_connections",
        "manual",
        Status::Manual,
    );
    manual.manual = Some(
        "Increase `max_connections` (requires a restart)\nif utilization stays above 80%.\n"
            .to_owned(),
    );
    let mut cancel = step(
        "cancel_jobs",
        "Cancel stuck jobs",
        "action",
        Status::Unknown,
    );
    cancel.message = Some("the step failed".to_owned());
    cancel.duration_ms = 3;
    cancel.sql = Some("UPDATE app.jobs SET state = 'cancelled'\nWHERE state = 'stuck'".to_owned());
    cancel.approval = Some(ApprovalRecord {
        decision: Decided::Approved,
        by: Some(Decider::Yes),
        operator: "alice".to_owned(),
        role: "app_admin".to_owned(),
        at: "2026-11-26T14:10:01Z".to_owned(),
        reason: None,
        preview_rows: Some(2),
    });
    cancel.error = Some(ErrorRecord {
        message: "cannot execute UPDATE in a read-only transaction".to_owned(),
        sqlstate: Some("25006".to_owned()),
        detail: Some("The server is a hot standby.".to_owned()),
        hint: Some("Run the playbook against the primary.".to_owned()),
    });
    let mut recheck = step("recheck", "recheck", "check", Status::NotRun);
    recheck.message = Some("the run stopped before this step".to_owned());
    RunRecord {
        report_version: REPORT_VERSION,
        playbook: "connection-cleanup".to_owned(),
        title: "Connection Cleanup".to_owned(),
        description: Some("Finds idle sessions and **terminates** them.\n".to_owned()),
        source: "playbooks/connection-cleanup.yaml".to_owned(),
        target: "alice@db1.example.com:5432/app".to_owned(),
        operator: "alice".to_owned(),
        mode: Mode::Live,
        started_at: "2026-11-26T14:10:00Z".to_owned(),
        duration_ms: 1234,
        waited_ms: 0,
        status: Status::Unknown,
        exit_code: 3,
        why: Some("`overview`: the check was not sent".to_owned()),
        params: vec![
            ParamRecord {
                name: "idle_after".to_owned(),
                value: Some("1h".to_owned()),
            },
            ParamRecord {
                name: "database".to_owned(),
                value: None,
            },
        ],
        privileges: Some(PrivilegesRecord {
            role: "app_admin".to_owned(),
            superuser: false,
            can_signal: false,
            can_read_all_stats: true,
        }),
        facts: Some(serde_json::json!({ "server_version_num": 150004 })),
        notes: vec![
            "`alice` is not a member of `pg_read_all_stats`: other users' query texts are hidden"
                .to_owned(),
        ],
        error: Some("step `cancel_jobs` failed and has `on_error: abort`".to_owned()),
        steps: vec![idle_candidates(), queue, manual, cancel, recheck],
    }
}

/// A target of a fleet as the runner leaves it: a slim record (no steps, rows, SQL or facts)
/// with `status` and `why`, its report in `runbook-reports/run/` unless it is UNKNOWN or NOT RUN.
pub fn target(name: &str, status: Status, why: Option<&str>) -> TargetResult {
    let mut record = record();
    record.playbook = "daily-monitoring".to_owned();
    record.target = format!("ops@{name}.example.com:5432/app");
    record.status = status;
    record.exit_code = exit_code(status);
    record.why = why.map(str::to_owned);
    record.facts = None;
    record.steps = Vec::new();
    let written = !matches!(status, Status::Unknown | Status::NotRun);
    TargetResult {
        name: name.to_owned(),
        record,
        report: written.then(|| PathBuf::from(format!("runbook-reports/run/{name}.md"))),
        journal: None,
        unkept: None,
    }
}

/// A slim step with a message, as a fleet keeps it.
fn slim(id: &str, title: &str, status: Status, message: &str) -> StepRecord {
    let mut step = step(id, title, "check", status);
    step.message = Some(message.to_owned());
    step.duration_ms = 7;
    step
}

/// Seven targets, one of each fleet status and two OK, in the fleet's order: db1 OK, db2
/// WARNING, db3 CRITICAL, db4 STOPPED (with a journal), db5 OK, db7 UNKNOWN (unreachable), db9
/// NOT RUN. Their steps carry metrics for the monitoring outputs.
pub fn fleet() -> Vec<TargetResult> {
    let idle = "3 idle connections older than 1h";
    let idle_step = || {
        let mut step = slim(
            "idle_candidates",
            "Idle connections older than 1h",
            Status::Warning,
            idle,
        );
        step.metrics = vec![metric("count", "", 3.0, &[])];
        step
    };
    let mut overview = slim("overview", "Overview", Status::Ok, "fine");
    overview.metrics = vec![metric("used", "%", 42.5, &[("db", "app")])];
    let mut db1 = target("db1", Status::Ok, None);
    db1.record.steps = vec![overview.clone()];
    let mut db2 = target(
        "db2",
        Status::Warning,
        Some(&format!("`idle_candidates`: {idle}")),
    );
    db2.record.steps = vec![overview.clone(), idle_step()];
    let mut db3 = target("db3", Status::Critical, Some("`bloat`: 3 tables over 50%"));
    let mut bloat = slim(
        "bloat",
        "Table bloat",
        Status::Critical,
        "3 tables over 50%",
    );
    bloat.error = Some(ErrorRecord {
        message: "a | b <i>".to_owned(),
        sqlstate: None,
        detail: None,
        hint: None,
    });
    db3.record.steps = vec![overview.clone(), idle_step(), bloat];
    let mut db4 = target("db4", Status::Stopped, Some("`act`: not approved"));
    db4.record.steps = vec![slim("act", "act", Status::Stopped, "not approved")];
    db4.journal = Some(PathBuf::from("runbook-reports/run/db4.journal"));
    let mut db5 = target("db5", Status::Ok, None);
    db5.record.steps = vec![overview];
    let why = "cannot connect to db7.example.com:5432: connection refused";
    let db7 = target("db7", Status::Unknown, Some(why));
    let db9 = target(
        "db9",
        Status::NotRun,
        Some("not started: `--max-failures 1` reached"),
    );
    vec![db1, db2, db3, db4, db5, db7, db9]
}

/// The fleet run of `results`: `daily-monitoring`, 12.3 s, `--parallel 8 --shard 2/4`, a note.
pub fn fleet_run(results: &[TargetResult]) -> FleetRun<'_> {
    FleetRun {
        playbook: "daily-monitoring",
        title: "Daily monitoring",
        operator: "alice",
        mode: Mode::Live,
        started_at: "2026-11-26T14:10:00Z".to_owned(),
        duration_ms: 12_345,
        parallel: 8,
        shard: Some("2/4".to_owned()),
        notes: vec!["`--max-failures 1` reached: 1 target not started".to_owned()],
        results,
    }
}
