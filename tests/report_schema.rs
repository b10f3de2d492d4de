//! The committed JSON Schema of the report is the one the library generates, and JSON reports
//! conform to it.
//!
//! Regenerate the schema with `RUNBOOK_UPDATE_SCHEMA=1 cargo test --test integration report_schema::`.

use runbook::outputs::record::{
    ApprovalRecord, AssessmentRecord, ErrorRecord, GuardRecord, Mode, ParamRecord,
    PrivilegesRecord, RunRecord, Status, StepRecord,
};
use runbook::outputs::{Json, Output, schema_json};
use serde_json::{Value, json};

use crate::common::root;

const SCHEMA: &str = "schema/report.schema.json";

fn schema() -> Value {
    serde_json::from_str(&schema_json()).unwrap()
}

fn step(id: &str, kind: &str, status: Status) -> StepRecord {
    StepRecord::new(id, id, kind, status)
}

fn record() -> RunRecord {
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
    check.rows = vec![
        vec![
            Some("4242".to_owned()),
            Some("a|b\nc<script>`x`".to_owned()),
        ],
        vec![Some("4243".to_owned()), None],
    ];
    check.row_count = 2;
    check.assessments = vec![AssessmentRecord {
        severity: Status::Warning,
        condition: "row_count > 0".to_owned(),
        held: true,
        matching_rows: Some(2),
        message: Some("2 idle connections".to_owned()),
        recommendation: Some("Terminate them.".to_owned()),
    }];
    check.recommendations = vec!["Terminate them.".to_owned()];
    let mut action = step("terminate_idle", "action", Status::Unknown);
    action.sql = Some("SELECT pg_terminate_backend(4242)".to_owned());
    action.approval = Some(ApprovalRecord {
        decision: "approved".to_owned(),
        by: "--yes".to_owned(),
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
        report_version: 1,
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
fn committed_report_schema_matches_the_library() {
    let path = root().join(SCHEMA);
    let generated = schema_json();
    if std::env::var_os("RUNBOOK_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schema/report.schema.json is stale: regenerate it with `RUNBOOK_UPDATE_SCHEMA=1 cargo test --test integration report_schema::`"
    );
}

#[test]
fn json_reports_conform_to_the_schema() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let report: Value = serde_json::from_str(&Json.render(&record())).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

/// Breaks a valid report in one way.
type Breakage = fn(&mut Value);

#[test]
fn the_schema_rejects_broken_reports() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let report: Value = serde_json::from_str(&Json.render(&record())).unwrap();
    let breakages: [(&str, Breakage); 4] = [
        ("an unknown status", |r| r["status"] = json!("MAYBE")),
        ("an unknown step status", |r| {
            r["steps"][0]["status"] = json!("FINE");
        }),
        ("a mode in the wrong case", |r| r["mode"] = json!("dry_run")),
        ("a missing step list", |r| {
            r.as_object_mut().unwrap().remove("steps");
        }),
    ];
    for (what, breaks) in breakages {
        let mut broken = report.clone();
        breaks(&mut broken);
        assert!(!validator.is_valid(&broken), "{what} passed validation");
    }
}
