//! `runbook run` against the local PostgreSQL: exit codes, guards, assessments, errors, the
//! one-connection rule and the report.

use std::fs;
use std::time::Duration;

use crate::common::db::{Database, Role, admin, wait_for};
use crate::common::{Test, root};

/// A playbook whose severity is set from the command line.
const THRESHOLDS: &str = r#"version: 1
name: thresholds
params:
  n: { type: integer, default: 0 }
steps:
  - id: value
    check: SELECT {{ params.n }}::int AS n
    assess:
      - critical: n > 2
        message: "n is {{ n }}, above 2"
      - warning: n > 1
        message: "n is {{ n }}, above 1"
"#;

/// `runbook run thresholds.yaml --var n=N` with a Markdown report.
fn thresholds(db: &Database, n: i32) -> Test {
    Test::new()
        .playbook("thresholds.yaml", THRESHOLDS)
        .args(["run", "thresholds.yaml"])
        .var("n", &n.to_string())
        .database(db)
        .markdown_report()
}

#[test]
fn exit_codes_follow_the_monitoring_plugin_convention() {
    let db = Database::new();
    thresholds(&db, 0)
        .stderr("thresholds: OK — 1 step — report: report.md\n")
        .run();
    thresholds(&db, 2)
        .status(1)
        .stderr("thresholds: WARNING — [..] — 1 step, 1 warning — report: report.md\n")
        .run();
    let critical = thresholds(&db, 3)
        .status(2)
        .stderr("thresholds: CRITICAL — [..] — 1 step, 1 critical — report: report.md\n")
        .run();
    let report = critical.markdown();
    assert!(report.starts_with("# thresholds — CRITICAL\n"), "{report}");
    assert!(
        report.contains("| 1 | `value` | check | **CRITICAL** |"),
        "{report}"
    );
    assert!(report.contains("n is 3, above 2"), "{report}");
    Test::new()
        .playbook(
            "broken.yaml",
            "version: 1\nsteps:\n  - id: boom\n    check: SELECT 1/0 AS x\n",
        )
        .args(["run", "broken.yaml"])
        .database(&db)
        .markdown_report()
        .status(3)
        .stderr("broken: UNKNOWN — [..] — 1 step, 1 failed — report: report.md\n")
        .run();
}

#[test]
fn a_failed_step_records_sqlstate_and_the_run_goes_on() {
    let db = Database::new();
    let yaml = "version: 1\nname: errors\nsteps:\n  - id: boom\n    check: SELECT 1/0 AS x\n  - id: after\n    check: SELECT 1 AS one\n";
    let outcome = Test::new()
        .playbook("errors.yaml", yaml)
        .args(["run", "errors.yaml"])
        .database(&db)
        .json_report()
        .status(3)
        .stderr("errors: UNKNOWN — [..] — 2 steps, 1 failed — report: report.json\n")
        .run();
    let report = outcome.json();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps[0]["status"], "UNKNOWN");
    assert_eq!(steps[0]["error"]["sqlstate"], "22012");
    assert_eq!(steps[0]["error"]["message"], "division by zero");
    assert!(steps[0]["sql"].as_str().unwrap().contains("SELECT 1/0"));
    assert_eq!(
        steps[1]["status"], "OK",
        "on_error: continue is the default for checks"
    );
    assert_eq!(report["exit_code"], 3);
}

#[test]
fn on_error_abort_stops_the_run() {
    let db = Database::new();
    let yaml = "version: 1\nsteps:\n  - id: boom\n    check: SELECT 1/0 AS x\n    on_error: abort\n  - id: after\n    check: SELECT 1 AS one\n";
    let outcome = Test::new()
        .playbook("abort.yaml", yaml)
        .args(["run", "abort.yaml"])
        .database(&db)
        .json_report()
        .status(3)
        .stderr(
            "error: step `boom` failed and has `on_error: abort`\n\
             abort: UNKNOWN — [..] — 2 steps, 1 failed, 1 not run — report: report.json\n",
        )
        .run();
    let report = outcome.json();
    assert_eq!(report["steps"][1]["status"], "NOT_RUN");
}

#[test]
fn a_check_cannot_write_even_through_a_function() {
    let db = Database::new();
    db.psql(
        "CREATE TABLE audit (note text);
         CREATE FUNCTION sneaky() RETURNS int LANGUAGE sql AS $$ INSERT INTO audit VALUES ('written'); SELECT 1 $$;",
    );
    let outcome = Test::new()
        .playbook(
            "sneaky.yaml",
            "version: 1\nsteps:\n  - id: sneaky\n    check: SELECT sneaky() AS result\n    functions: [sneaky]\n",
        )
        .args(["run", "sneaky.yaml"])
        .database(&db)
        .json_report()
        .status(3)
        .stderr("sneaky: UNKNOWN — [..] — 1 step, 1 failed — report: report.json\n")
        .run();
    let report = outcome.json();
    assert_eq!(
        report["steps"][0]["error"]["sqlstate"], "25006",
        "read_only_sql_transaction"
    );
    assert_eq!(db.psql("SELECT count(*) FROM audit"), "0");
}

#[test]
fn the_run_holds_exactly_one_connection() {
    let db = Database::new();
    let yaml = "version: 1\nname: one-connection\nsteps:\n  - id: sleep\n    check: SELECT pg_sleep(2) AS slept\n";
    let running = Test::new()
        .playbook("one.yaml", yaml)
        .args(["run", "one.yaml"])
        .database(&db)
        .markdown_report()
        .stderr("one-connection: OK — 1 step — report: report.md\n")
        .spawn();
    let count = || {
        db.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'runbook:one-connection'")
    };
    wait_for("the run to connect", Duration::from_secs(10), || {
        count() != "0"
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(), "1");
    running.wait();
}

#[test]
fn guards_skip_with_their_reason() {
    let db = Database::new();
    let yaml = r#"version: 1
name: guards
steps:
  - id: queue
    requires: { relations: [pg_tviews_queue] }
    check: SELECT count(*) AS pending FROM pg_tviews_queue
  - id: modern
    requires: { server_version: 99 }
    check: SELECT 1 AS one
  - id: counted
    check: SELECT 3 AS n
  - id: only_if_many
    when: steps.counted.n > 5
    check: SELECT 1 AS one
  - id: if_few
    when: steps.counted.n <= 5 and steps.queue.status == 'SKIPPED'
    check: SELECT 1 AS one
"#;
    let outcome = Test::new()
        .playbook("guards.yaml", yaml)
        .args(["run", "guards.yaml"])
        .database(&db)
        .json_report()
        .stderr("guards: OK — 5 steps, 3 skipped — report: report.json\n")
        .run();
    let report = outcome.json();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps[0]["status"], "SKIPPED");
    assert_eq!(
        steps[0]["message"],
        "relation `pg_tviews_queue` does not exist"
    );
    assert_eq!(steps[1]["status"], "SKIPPED");
    assert!(
        steps[1]["message"]
            .as_str()
            .unwrap()
            .starts_with("requires PostgreSQL 99 or later; the server is 1")
    );
    assert_eq!(steps[3]["status"], "SKIPPED");
    assert_eq!(steps[3]["guards"][0]["reason"], "the condition is false");
    assert_eq!(steps[4]["status"], "OK");

    db.psql("CREATE TABLE pg_tviews_queue (processed_at timestamptz)");
    let outcome = Test::new()
        .playbook("guards.yaml", yaml)
        .args(["run", "guards.yaml", "--only", "queue"])
        .database(&db)
        .json_report()
        .stderr("guards: OK — 5 steps, 4 skipped — report: report.json\n")
        .run();
    let report = outcome.json();
    assert_eq!(report["steps"][0]["status"], "OK");
    assert_eq!(report["steps"][1]["message"], "not selected with `--only`");
}

#[test]
fn unknown_only_id_is_a_usage_error() {
    Test::new()
        .playbook("t.yaml", THRESHOLDS)
        .args(["run", "t.yaml", "--only", "valeu"])
        .status(64)
        .stderr("error: `--only valeu`: playbook `thresholds` has no step `valeu`; did you mean `value`? (steps: value)\n")
        .run();
}

#[test]
fn invalid_vars_are_a_usage_error_before_connecting() {
    Test::new()
        .playbook("t.yaml", THRESHOLDS)
        .args(["run", "t.yaml"])
        .var("n", "many")
        .var("m", "1")
        .database_url("postgres://nobody@127.0.0.1:1/x")
        .status(64)
        .stderr("error: invalid value for param `n` (integer): `many` is not an integer\nerror: unknown param `m` in `--var` (params: n)\n")
        .run();
}

#[test]
fn per_row_assessments_count_matching_rows() {
    let db = Database::new();
    let yaml = r#"version: 1
steps:
  - id: series
    check: SELECT g AS n, (g % 2 = 0) AS even FROM generate_series(1, 10) AS g
    assess:
      - warning: even and n > 6
        message: "{{ matching_rows }} even rows above 6, first {{ n }}"
      - ok: row_count == 10
        message: all ten
"#;
    let outcome = Test::new()
        .playbook("rows.yaml", yaml)
        .args(["run", "rows.yaml", "--report-rows", "3"])
        .database(&db)
        .json_report()
        .status(1)
        .stderr("rows: WARNING — [..] — 1 step, 1 warning — report: report.json\n")
        .run();
    let report = outcome.json();
    let step = &report["steps"][0];
    assert_eq!(step["message"], "2 even rows above 6, first 8");
    assert_eq!(step["row_count"], 10);
    assert_eq!(step["rows"].as_array().unwrap().len(), 3);
    assert_eq!(step["rows_truncated"], true);
    assert_eq!(step["rows"][0], serde_json::json!([1, false]));
    assert_eq!(step["assessments"][0]["matching_rows"], 2);
    assert_eq!(step["assessments"][1]["held"], true);
}

#[test]
fn a_lost_connection_fails_the_step_marks_the_rest_not_run_and_keeps_the_report() {
    let db = Database::new();
    let name = db.playbook_name("lost");
    let yaml = format!(
        "version: 1\nname: {name}\nsteps:\n  - id: sleep\n    check: SELECT pg_sleep(5) AS slept\n  - id: after\n    check: SELECT 1 AS one\n"
    );
    let running = Test::new()
        .playbook("lost.yaml", &yaml)
        .args(["run", "lost.yaml"])
        .database(&db)
        .json_report()
        .status(3)
        .stderr(&format!(
            "error: step `sleep`: terminating connection due to administrator command\n\
             {name}: UNKNOWN — [..] — 2 steps, 1 failed, 1 not run — report: report.json\n"
        ))
        .spawn();
    let sleeping = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'runbook:{name}' AND query LIKE '%pg_sleep%'"
    );
    wait_for("the step to start", Duration::from_secs(10), || {
        db.psql(&sleeping) == "1"
    });
    db.psql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'runbook:{name}'"
    ));
    let outcome = running.wait();
    let report = outcome.json();
    assert_eq!(report["steps"][0]["status"], "UNKNOWN");
    assert_eq!(
        report["steps"][0]["error"]["sqlstate"], "57P01",
        "admin_shutdown"
    );
    assert_eq!(report["steps"][1]["status"], "NOT_RUN");
    assert_eq!(
        report["steps"][1]["message"],
        "the connection to the server was lost"
    );
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .starts_with("step `sleep`: terminating connection due to administrator command")
    );
}

/// Replaces what changes from run to run (times, durations) so a report compares exactly.
fn normalize(report: &str, db: &Database) -> String {
    let mut out = String::new();
    for line in report.lines() {
        let line = if line.starts_with("| Started |") {
            "| Started | <time> |".to_owned()
        } else if line.starts_with("| Duration |") {
            "| Duration | <duration> |".to_owned()
        } else {
            line.replace(&db.name, "<db>")
        };
        out.push_str(&mask_ms(&line));
        out.push('\n');
    }
    out
}

/// `12 ms` → `N ms`.
fn mask_ms(line: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if !digits.is_empty() {
            if c == ' ' && rest.starts_with("ms") {
                out.push('N');
            } else {
                out.push_str(&digits);
            }
            digits.clear();
        }
        out.push(c);
    }
    out.push_str(&digits);
    out
}

const REPORTED: &str = r#"version: 1
name: reported
title: Reported checks
params:
  limit: { type: integer, default: 1 }
steps:
  - id: numbers
    title: Numbers above {{ params.limit }}
    check: SELECT g AS n, CASE WHEN g = 2 THEN 'a|b' END AS note FROM generate_series(1, 3) AS g WHERE g > {{ params.limit }}
    assess:
      - warning: n > 2
        message: "{{ matching_rows }} number above 2"
        recommendation: Look at it.
  - id: queue
    requires: { relations: [pg_tviews_queue] }
    check: SELECT count(*) AS pending FROM pg_tviews_queue
  - id: advice
    manual: Use a pooler.
"#;

#[test]
fn the_markdown_report_of_a_real_run_reads_exactly_so() {
    let db = Database::new();
    let outcome = Test::new()
        .playbook("reported.yaml", REPORTED)
        .args(["run", "reported.yaml", "--operator", "alice"])
        .database(&db)
        .markdown_report()
        .status(1)
        .stderr("reported: WARNING — [..] — 3 steps, 1 warning, 1 skipped — report: report.md\n")
        .run();
    let report = outcome.markdown();
    assert_eq!(
        normalize(&report, &db),
        r#"# Reported checks — WARNING

| Status | **WARNING** (exit 1) |
| --- | --- |
| Why | `numbers`: 1 number above 2 |
| Playbook | `reported` (reported.yaml) |
| Target | root@/var/run/postgresql:5432/<db> |
| Operator | alice |
| Role | root: superuser |
| Mode | live |
| Started | <time> |
| Duration | <duration> |

## What needs attention

- **WARNING** `numbers` Numbers above 1: 1 number above 2

## Summary

| # | step | kind | status | duration | message |
| --- | --- | --- | --- | --- | --- |
| 1 | `numbers` Numbers above 1 | check | **WARNING** | N ms | 1 number above 2 |
| 2 | `queue` | check | SKIPPED | — | relation `pg_tviews_queue` does not exist |
| 3 | `advice` | manual | MANUAL | — |  |

## Parameters

| name | value |
| --- | --- |
| limit | 1 |

## Steps

### 1. Numbers above 1 — WARNING

`numbers` · check · N ms

1 number above 2

| n | note |
| --- | --- |
| 2 | a\|b |
| 3 | _NULL_ |

_2 rows_

Assessments:

- **WARNING** `n > 2` held (for 1 row): 1 number above 2 — Look at it.

<details><summary>SQL</summary>

```sql
SELECT g AS n, CASE WHEN g = 2 THEN 'a|b' END AS note FROM generate_series(1, 3) AS g WHERE g > 1
```

</details>

- 2. queue — SKIPPED · `queue`: relation `pg_tviews_queue` does not exist
- 3. advice — MANUAL · `advice`: its text is under Recommendations

## Recommendations

- `numbers`: Look at it.
- `advice`: Use a pooler.
"#
    );
}

#[test]
fn the_json_report_of_a_real_run_conforms_to_its_schema() {
    let db = Database::new();
    let outcome = Test::new()
        .playbook("reported.yaml", REPORTED)
        .args(["run", "reported.yaml"])
        .database(&db)
        .json_report()
        .status(1)
        .stderr("reported: WARNING — [..] — 3 steps, 1 warning, 1 skipped — report: report.json\n")
        .run();
    let report = outcome.json();
    let schema: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(root().join("schema/report.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(report["facts"]["current_user"], "root");
    assert_eq!(report["facts"]["database"], db.name);
}

#[test]
fn the_report_says_with_which_privileges_the_checks_ran() {
    let db = Database::new();
    let role = Role::new();
    admin(&format!("GRANT pg_monitor TO {}", role.name));
    let yaml = "version: 1\nname: privileges\nsteps:\n  - id: one\n    check: SELECT 1 AS one\n";
    let outcome = Test::new()
        .playbook("privileges.yaml", yaml)
        .args(["run", "privileges.yaml"])
        .database_url(&db.url_as(&role.name))
        .json_report()
        .stderr("privileges: OK — 1 step — report: report.json\n")
        .run();
    let privileges = &outcome.json()["privileges"];
    assert_eq!(privileges["role"], role.name.as_str());
    assert_eq!(privileges["superuser"], false);
    assert_eq!(
        privileges["can_read_all_stats"], true,
        "pg_monitor reads all statistics"
    );
    assert_eq!(privileges["can_signal"], false);
}
