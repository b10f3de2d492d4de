//! The committed JSON Schemas of the report and of a fleet's combined report are the ones the
//! library generates, and JSON reports conform to them.
//!
//! Regenerate the schemas with `RUNBOOK_UPDATE_SCHEMA=1 cargo test --test integration report_schema::`.

use std::path::PathBuf;

use runbook::fleet::TargetResult;
use runbook::fleet::report::{self, FleetRecord, FleetRun};
use runbook::outputs::record::{
    ApprovalRecord, AssessmentRecord, Cell, ColumnKind, Decided, Decider, ErrorRecord, GuardRecord,
    MetricRecord, Mode, ParamRecord, PrivilegesRecord, REPORT_VERSION, RunRecord, SessionsRecord,
    Status, StepRecord,
};
use runbook::outputs::{Json, Output, schema_json};
use serde_json::{Value, json};

use crate::common::db::Database;
use crate::common::{Test, root};

const SCHEMA: &str = "schema/report.schema.json";
const FLEET_SCHEMA: &str = "schema/fleet-report.schema.json";

fn schema() -> Value {
    serde_json::from_str(&schema_json()).unwrap()
}

/// The problems the schema finds in a report.
fn violations(schema: &Value, report: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).unwrap();
    validator
        .iter_errors(report)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect()
}

fn step(id: &str, kind: &str, status: Status) -> StepRecord {
    StepRecord::new(id, id, kind, status)
}

/// A run record with a part of every kind (rows of each type, an error, an approval).
pub(crate) fn record() -> RunRecord {
    let mut check = step("idle_candidates", "check", Status::Warning);
    check.message = Some("2 idle connections".to_owned());
    check.duration_ms = 12;
    check.guards = vec![GuardRecord {
        guard: "server_version >= 13".to_owned(),
        passed: true,
        reason: "the server is PostgreSQL 15.4".to_owned(),
    }];
    check.sql = Some("SELECT pid, query FROM pg_stat_activity".to_owned());
    check.columns = vec!["pid".to_owned(), "query".to_owned()];
    check.column_types = vec![ColumnKind::Integer, ColumnKind::Text];
    check.rows = vec![
        vec![
            Cell::of(ColumnKind::Integer, Some("4242")),
            Cell::of(ColumnKind::Text, Some("a|b\nc<script>`x`")),
        ],
        vec![Cell::of(ColumnKind::Integer, Some("4243")), Cell::Null],
    ];
    check.row_count = 2;
    check.assessments = vec![AssessmentRecord {
        severity: Status::Warning,
        condition: "row_count > 0".to_owned(),
        held: true,
        matching_rows: Some(2),
        sessions: Some(SessionsRecord {
            pids: vec![4242, 4243],
            count: 2,
        }),
        message: Some("2 idle connections".to_owned()),
        recommendation: Some("Terminate them.".to_owned()),
    }];
    check.recommendations = vec!["Terminate them.".to_owned()];
    let mut action = step("terminate_idle", "action", Status::Unknown);
    action.sql = Some("SELECT pg_terminate_backend(4242)".to_owned());
    action.approval = Some(ApprovalRecord {
        decision: Decided::Approved,
        by: Some(Decider::Yes),
        operator: "alice".to_owned(),
        role: "app_admin".to_owned(),
        at: "2026-11-26T14:10:01Z".to_owned(),
        reason: None,
        preview_rows: Some(2),
    });
    action.error = Some(ErrorRecord {
        message: "cannot execute UPDATE in a read-only transaction".to_owned(),
        sqlstate: Some("25006".to_owned()),
        detail: None,
        hint: Some("Run the playbook against the primary.".to_owned()),
    });
    let mut manual = step("raise_limit", "manual", Status::Manual);
    manual.manual = Some("Increase `max_connections`.".to_owned());
    RunRecord {
        report_version: REPORT_VERSION,
        playbook: "connection-cleanup".to_owned(),
        title: "Connection Cleanup".to_owned(),
        description: None,
        source: "playbooks/connection-cleanup.yaml".to_owned(),
        target: "alice@db1.example.com:5432/app".to_owned(),
        operator: "alice".to_owned(),
        mode: Mode::DryRun,
        started_at: "2026-11-26T14:10:00.123456Z".to_owned(),
        duration_ms: 1234,
        waited_ms: 5000,
        status: Status::Unknown,
        exit_code: 3,
        why: Some("step `terminate_idle` failed".to_owned()),
        params: vec![ParamRecord {
            name: "database".to_owned(),
            value: None,
        }],
        facts: Some(json!({ "server_version_num": 150004, "in_recovery": false })),
        privileges: Some(PrivilegesRecord {
            role: "monitor".to_owned(),
            superuser: false,
            can_signal: false,
            can_read_all_stats: true,
        }),
        notes: vec!["a note".to_owned()],
        error: Some("step `terminate_idle` failed".to_owned()),
        steps: vec![check, action, manual],
    }
}

#[test]
fn committed_report_schemas_match_the_library() {
    for (file, generated) in [
        (SCHEMA, schema_json()),
        (FLEET_SCHEMA, report::schema_json()),
    ] {
        let path = root().join(file);
        if std::env::var_os("RUNBOOK_UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{file} is stale: regenerate it with `RUNBOOK_UPDATE_SCHEMA=1 cargo test --test integration report_schema::`"
        );
    }
}

/// Three targets of a fleet, slim as the runner leaves them: db1 WARNING (the record's check
/// with a metric), db7 UNKNOWN (unreachable), db9 NOT RUN.
pub(crate) fn fleet_results() -> Vec<TargetResult> {
    let slim = |status: Status, why: &str| {
        let mut record = record();
        record.status = status;
        record.exit_code = 3;
        record.why = Some(why.to_owned());
        record.facts = None;
        record.steps.clear();
        record
    };
    let mut db1 = slim(Status::Warning, "`idle_candidates`: 2 idle connections");
    db1.exit_code = 1;
    let mut check = record().steps.swap_remove(0);
    check.sql = None;
    check.rows.clear();
    check.metrics = vec![MetricRecord {
        name: "count".to_owned(),
        unit: String::new(),
        labels: [("state".to_owned(), "idle".to_owned())].into(),
        value: 2.0,
        warning: Some("0".to_owned()),
        critical: None,
        min: Some(0.0),
        max: None,
    }];
    db1.steps = vec![check];
    let target = |name: &str, record: RunRecord, report: Option<&str>| TargetResult {
        name: name.to_owned(),
        record,
        report: report.map(PathBuf::from),
        journal: None,
        unkept: None,
    };
    vec![
        target("db1", db1, Some("runbook-reports/run/db1.json")),
        target("db7", slim(Status::Unknown, "cannot connect"), None),
        target("db9", slim(Status::NotRun, "not started"), None),
    ]
}

/// The fleet run of `results`.
pub(crate) fn fleet_run(results: &[TargetResult]) -> FleetRun<'_> {
    FleetRun {
        playbook: "connection-cleanup",
        title: "Connection Cleanup",
        operator: "alice",
        mode: Mode::Live,
        started_at: "2026-11-26T14:10:00Z".to_owned(),
        duration_ms: 2500,
        parallel: 8,
        shard: None,
        notes: Vec::new(),
        results,
    }
}

#[test]
fn combined_reports_conform_to_the_fleet_schema() {
    let results = fleet_results();
    let text = report::json(&FleetRecord::of(&fleet_run(&results)));
    let report: Value = serde_json::from_str(&text).unwrap();
    let committed = std::fs::read_to_string(root().join(FLEET_SCHEMA)).unwrap();
    let schema = serde_json::from_str(&committed).unwrap();
    let errors = violations(&schema, &report);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(report["counts"]["NOT_RUN"], 1);
    let validator = jsonschema::validator_for(&schema).unwrap();
    let breakages: [(&str, Breakage); 3] = [
        ("a kind other than fleet", |r| r["kind"] = json!("run")),
        ("an unknown target status", |r| {
            r["targets"][0]["status"] = json!("FINE");
        }),
        ("a missing target list", |r| {
            r.as_object_mut().unwrap().remove("targets");
        }),
    ];
    for (what, breaks) in breakages {
        let mut broken = report.clone();
        breaks(&mut broken);
        assert!(!validator.is_valid(&broken), "{what} passed validation");
    }
}

#[test]
fn json_reports_conform_to_the_schema() {
    let report: Value = serde_json::from_str(&Json.render(&record())).unwrap();
    let errors = violations(&schema(), &report);
    assert!(errors.is_empty(), "{errors:#?}");
}

/// One value of each kind, and the numbers a double cannot hold.
const TYPED: &str = "version: 1
name: typed
steps:
  - id: values
    check: >-
      SELECT 1::int8 AS int8, 2.5::numeric AS numeric, 'NaN'::float8 AS nan, true AS bool,
      NULL::int AS nothing, interval '1 s' AS interval, '42'::text AS text,
      99999999999999999999999999999::numeric AS big
";

#[test]
fn a_run_types_its_values_by_column_and_its_report_conforms_to_the_committed_schema() {
    let db = Database::new();
    let outcome = Test::new()
        .playbook("typed.yaml", TYPED)
        .args(["run", "typed.yaml"])
        .database(&db)
        .json_report()
        .stderr("typed: OK — 1 step — report: report.json\n")
        .run();
    let report = outcome.json();
    assert_eq!(report["report_version"], REPORT_VERSION);
    let step = &report["steps"][0];
    assert_eq!(
        step["column_types"],
        json!([
            "integer", "number", "number", "boolean", "integer", "interval", "text", "number"
        ])
    );
    assert_eq!(
        step["rows"],
        json!([[
            1,
            2.5,
            "NaN",
            true,
            null,
            "00:00:01",
            "42",
            "99999999999999999999999999999"
        ]])
    );
    let committed = std::fs::read_to_string(root().join(SCHEMA)).unwrap();
    let errors = violations(&serde_json::from_str(&committed).unwrap(), &report);
    assert!(errors.is_empty(), "{errors:#?}");

    let markdown = outcome
        .again()
        .args(["run", "typed.yaml"])
        .database(&db)
        .markdown_report()
        .stderr("typed: OK — 1 step — report: report.md\n")
        .run()
        .markdown();
    assert!(
        markdown
            .contains("| 1 | 2.5 | NaN | t | _NULL_ | 1s | 42 | 99999999999999999999999999999 |\n"),
        "the Markdown shows the values as psql does, intervals as the messages write them:\n{markdown}"
    );
}

/// Breaks a valid report in one way.
type Breakage = fn(&mut Value);

#[test]
fn the_schema_rejects_broken_reports() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let report: Value = serde_json::from_str(&Json.render(&record())).unwrap();
    let breakages: [(&str, Breakage); 6] = [
        ("an unknown status", |r| r["status"] = json!("MAYBE")),
        ("an unknown step status", |r| {
            r["steps"][0]["status"] = json!("FINE");
        }),
        ("a mode in the wrong case", |r| r["mode"] = json!("dry_run")),
        ("a missing step list", |r| {
            r.as_object_mut().unwrap().remove("steps");
        }),
        ("a row value that is an object", |r| {
            r["steps"][0]["rows"][0][0] = json!({ "value": 4242 });
        }),
        ("an unknown column type", |r| {
            r["steps"][0]["column_types"][0] = json!("float");
        }),
    ];
    for (what, breaks) in breakages {
        let mut broken = report.clone();
        breaks(&mut broken);
        assert!(!validator.is_valid(&broken), "{what} passed validation");
    }
}
