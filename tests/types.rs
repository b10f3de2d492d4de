//! Typed expressions: a comparison of two kinds that do not compare (an interval with a
//! number, a text with a number) is a validation error where the kinds are known, else the
//! step is UNKNOWN with both values — never silently true or false.

use crate::common::Test;
use crate::common::db::Database;

/// `runbook validate` of `yaml`, which must fail; its stderr.
fn refused(yaml: &str) -> String {
    Test::new()
        .playbook("p.yaml", yaml)
        .args(["validate", "p.yaml"])
        .status(1)
        .stderr_any("checked by the caller")
        .run()
        .stderr
}

/// `runbook run` of `yaml` against a fresh database, exiting `status`; its JSON report.
fn ran(yaml: &str, status: i32) -> serde_json::Value {
    let db = Database::new();
    Test::new()
        .playbook("p.yaml", yaml)
        .args(["run", "p.yaml"])
        .database(&db)
        .json_report()
        .status(status)
        .stderr_any("the summary line")
        .run()
        .json()
}

fn accepted(yaml: &str) {
    Test::new()
        .playbook("p.yaml", yaml)
        .args(["validate", "p.yaml"])
        .stdout_any("valid")
        .run();
}

#[test]
fn an_interval_compared_with_a_number_is_refused_where_it_is() {
    let yaml = "version: 1\nsteps:\n  - id: idle\n    check: SELECT pid, now() - state_change AS idle_for FROM pg_stat_activity\n    assess:\n      - warning: idle_for > 600\n";
    Test::new()
        .playbook("p.yaml", yaml)
        .args(["validate", "p.yaml"])
        .status(1)
        .stderr(
            "error: `idle_for > 600` in assessment 1 of step `idle` compares values of different kinds: `idle_for` is an interval (a duration) and `600` is a number; compare with a duration param, or use `idle_for.seconds > 600`\n --> p.yaml:6:18\n  |\n6 |       - warning: idle_for > 600\n  |                  ^^^^^^^^^^^^^^\n\np.yaml: invalid (1 error)\n",
        )
        .run();
}

#[test]
fn a_text_compared_with_a_number_is_refused() {
    for check in [
        "SELECT 'x'::text AS s",
        "SELECT state AS s FROM pg_stat_activity",
        "SELECT a.state AS s FROM pg_catalog.pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid",
    ] {
        let yaml = format!(
            "version: 1\nsteps:\n  - id: texts\n    check: {check}\n    assess:\n      - critical: s > 5\n"
        );
        let stderr = refused(&yaml);
        assert!(
            stderr.contains("`s > 5` in assessment 1 of step `texts` compares values of different kinds: `s` is a text and `5` is a number; cast the column to a number"),
            "{check}: {stderr}"
        );
    }
}

#[test]
fn params_facts_and_earlier_steps_have_kinds() {
    let stderr = refused(
        "version: 1\nparams:\n  d: { type: duration, default: 5m }\nsteps:\n  - id: a\n    when: params.d > 5\n    check: SELECT 1 AS n\n",
    );
    assert!(
        stderr.contains("error: `params.d > 5` in `when` of step `a` compares values of different kinds: `params.d` is an interval (a duration) and `5` is a number; compare with a duration param, or use `params.d.seconds > 5`\n --> p.yaml:6:11"),
        "{stderr}"
    );
    let stderr = refused(
        "version: 1\nsteps:\n  - id: a\n    when: facts.server_version > '14'\n    check: SELECT 1 AS n\n",
    );
    assert!(
        stderr.contains("`facts.server_version > '14'` in `when` of step `a` compares values of different kinds: `facts.server_version` is a number and `'14'` is a text"),
        "{stderr}"
    );
    let stderr = refused(
        "version: 1\nsteps:\n  - id: a\n    check: SELECT count(*) AS n FROM pg_stat_activity\n  - id: b\n    when: steps.a.n == 'many' or steps.a.status > 1\n    check: SELECT 1 AS one\n",
    );
    assert!(stderr.contains("`steps.a.n == 'many'`"), "{stderr}");
    assert!(stderr.contains("`steps.a.status > 1`"), "{stderr}");
    assert!(stderr.contains("p.yaml: invalid (2 errors)"), "{stderr}");
}

#[test]
fn a_comparison_hidden_in_a_list_or_a_test_is_refused_too() {
    let stderr = refused(
        "version: 1\nsteps:\n  - id: a\n    check: SELECT 'x'::text AS s\n    assess:\n      - warning: \"[s > 5] | first\"\n      - warning: s is gt(5)\n",
    );
    assert!(stderr.contains("`s > 5` in assessment 1"), "{stderr}");
    assert!(stderr.contains("`s > 5` in assessment 2"), "{stderr}");
}

#[test]
fn same_and_unknown_kinds_are_accepted() {
    accepted(
        r#"version: 1
params:
  idle_after: { type: duration, default: 1h }
  limit: { type: integer, default: 5 }
steps:
  - id: idle
    check: SELECT pid, now() - state_change AS idle_for, state FROM pg_stat_activity
    assess:
      - warning: idle_for > params.idle_after and idle_for.seconds > 600 and state == 'idle'
  - id: counted
    check: SELECT count(*) AS n FROM pg_stat_activity
    assess:
      - warning: n > 5 and n > params.limit and facts.server_version >= 13
  - id: anything
    when: steps.counted.n > 0 and steps.idle.row_count > 0 and steps.idle.status != 'OK'
    check: SELECT * FROM (SELECT 'x'::text AS s) t
    assess:
      - warning: s > 5
"#,
    );
}

/// A check whose columns validation cannot see (`SELECT *` from a subquery), compared across
/// kinds: that step is UNKNOWN with both values, their kinds and how to compare; the run
/// goes on, and exits 3.
#[test]
fn a_mismatch_seen_only_when_it_runs_makes_the_step_unknown_and_the_run_goes_on() {
    let yaml = r#"version: 1
name: kinds
steps:
  - id: texts
    check: SELECT * FROM (SELECT 'x'::text AS s, 3 AS n) t
    assess:
      - ok: n > 5
      - critical: n > 1 and s > 5
  - id: intervals
    check: SELECT * FROM (SELECT interval '10 minutes' AS idle_for) t
    assess:
      - warning: idle_for > 600
  - id: seen
    check: SELECT * FROM (SELECT 'x'::text AS s) t
  - id: guarded
    when: steps.seen.s > 5
    check: SELECT 1 AS one
  - id: hidden
    check: SELECT * FROM (SELECT interval '10 minutes' AS idle_for) t
    assess:
      - warning: rows | selectattr('idle_for', 'gt', 600) | list | length > 0
  - id: after
    check: SELECT 2 AS two
    assess:
      - warning: two == 2
        message: later steps run
"#;
    let report = ran(yaml, 3);
    let steps = report["steps"].as_array().unwrap();
    let error = |i: usize| {
        assert_eq!(steps[i]["status"], "UNKNOWN", "{}", steps[i]);
        steps[i]["error"]["message"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        error(0),
        "assessment `n > 1 and s > 5`: `s > 5` compares values of different kinds: `s` is the text 'x' and `5` is the number 5; cast the column to a number in the check's SQL (`::int`, `::numeric`), or compare with a text (`'5'`)"
    );
    assert_eq!(
        error(1),
        "assessment `idle_for > 600`: `idle_for > 600` compares values of different kinds: `idle_for` is the interval (a duration) 10m and `600` is the number 600; compare with a duration param, or use `idle_for.seconds > 600`"
    );
    assert_eq!(steps[2]["status"], "OK");
    assert!(error(3).starts_with("`when`: `steps.seen.s > 5` compares values of different kinds: `steps.seen.s` is the text 'x'"), "{}", error(3));
    assert!(error(4).contains("is the number 600"), "{}", error(4));
    assert_eq!(steps[5]["status"], "WARNING");
    assert_eq!(steps[5]["message"], "later steps run");
    assert_eq!(report["exit_code"], 3);
}

/// SQL's rule: an ordering comparison with NULL does not hold, so a check over no rows
/// (`max(...)` is NULL) is OK, not an error.
#[test]
fn an_ordering_comparison_with_null_does_not_hold() {
    let yaml = r#"version: 1
name: nulls
steps:
  - id: empty
    check: SELECT max(now() - state_change) AS oldest, max(pid) AS pid FROM pg_stat_activity WHERE false
    assess:
      - warning: oldest > params.limit or pid > 5
      - ok: oldest is none and pid == none
        message: nothing to see
params:
  limit: { type: duration, default: 1h }
"#;
    let report = ran(yaml, 0);
    assert_eq!(report["steps"][0]["status"], "OK", "{}", report["steps"][0]);
    assert_eq!(report["steps"][0]["message"], "nothing to see");
}
