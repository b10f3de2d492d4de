//! `show`, `list` and `schema` on real files and on the built-in playbooks.

use crate::common::Test;

const SMALL: &str = r#"# yaml-language-server: $schema=../schema/playbook.schema.json
version: 1
name: small
title: Idle sessions
description: Finds idle sessions.
params:
  idle_after: { type: duration, default: 1h, description: Idle time before termination }
  roles: { type: list, default: [postgres] }
steps:
  - id: idle
    title: Idle longer than {{ params.idle_after }}
    check: |
      SELECT pid, backend_start FROM pg_stat_activity
      WHERE state = 'idle' AND state_change < now() - {{ params.idle_after }}
    assess:
      - warning: row_count > 0
        message: "{{ row_count }} idle sessions"
  - id: terminate
    when: steps.idle.row_count > 0
    requires: { server_version: 13, roles: [pg_signal_backend] }
    terminate: idle
    approval: confirm
    max_rows: 5
  - id: advice
    manual: Set `idle_session_timeout`.
"#;

#[test]
fn show_renders_a_readable_runbook() {
    Test::new()
        .playbook("small.yaml", SMALL)
        .args(["show", "small.yaml"])
        .stdout(
            r#"# Idle sessions

Finds idle sessions.

Playbook `small` from `small.yaml` · 3 steps · statement timeout 30s

## Parameters

| name | type | default | description |
| --- | --- | --- | --- |
| idle_after | duration | 1h | Idle time before termination |
| roles | list of string | [postgres] |  |

Set with `--var NAME=VALUE`.

## Steps

### 1. Idle longer than 1h

Read-only check, step `idle`

```sql
SELECT pid, backend_start FROM pg_stat_activity
WHERE state = 'idle' AND state_change < now() - {{ params.idle_after }}
```

Assessment:

- **WARNING** when `row_count > 0`: {{ row_count }} idle sessions

### 2. terminate

**Terminate** (ends sessions), step `terminate`

- **Runs only when** `steps.idle.row_count > 0`
- **Requires** PostgreSQL 13 or later; membership in `pg_signal_backend`

Terminates each session that step `idle` lists. At approval the check runs again and its rows are shown; approved, a session is signalled only while that check still selects the same session (pid, `backend_start`). Never this engine's own session, another `runbook:` session, a process that is not a client backend, or a superuser's session unless the engine runs as a superuser.

- **Approval** confirm — type `terminate` at the prompt; `--yes` does not approve it
- **Refuses to run** when it would signal more than 5 sessions

Assessment:

- **WARNING** for any row when `terminated == false`: {{ matching_rows }} session{{ '' if matching_rows == 1 else 's' }} not terminated: the server answered false (first: pid {{ pid }})
- **OK** for any row when `terminated == true`: {{ matching_rows }} session{{ '' if matching_rows == 1 else 's' }} terminated
- **OK** for any row when `spared is not none`: {{ matching_rows }} spared (first: pid {{ pid }}, {{ spared }})

### 3. advice

Manual step `advice`

> Set `idle_session_timeout`.
"#,
        )
        .run();
}

#[test]
fn show_gives_a_templated_row_limit_with_the_params_defaults() {
    Test::new()
        .args(["show", "emergency"])
        .stdout_contains(
            "- **Refuses to run** when it would signal more than 10% of the usable connections \
             by default (`max_rows: {{ params.blockers_max_percent }}%`)\n",
        )
        .run();
}

#[test]
fn show_lists_a_checks_metrics_with_their_thresholds_by_default() {
    Test::new()
        .args(["show", "daily-monitoring"])
        .stdout_contains(
            "| metric | unit | labels | warning | critical | min | max |\n\
             | --- | --- | --- | --- | --- | --- | --- |\n\
             | client_connections |  | limit_of |  |  | 0 |  |\n\
             | connection_limit |  | limit_of |  |  | 0 |  |\n\
             | free_slots |  | limit_of |  |  |  |  |\n\
             | utilization_percent | % | limit_of | 70 | 90 | 0 |  |\n",
        )
        .stdout_contains("| longest_transaction | s |  | 600 | 3600 | 0 |  |\n")
        .stdout_contains("| row_count (the number of rows) |  |  |  |  | 0 |  |\n")
        .run();
}

#[test]
fn show_of_an_invalid_playbook_fails_with_its_errors() {
    Test::new()
        .playbook("bad.yaml", "version: 1\nsteps: []\n")
        .args(["show", "bad.yaml"])
        .status(1)
        .stderr("error: the playbook has no steps\n --> bad.yaml:2:1\n  |\n2 | steps: []\n  | ^^^^^\n\n")
        .run();
}

#[test]
fn list_shows_local_playbooks_first_and_built_ins_not_overridden() {
    Test::new()
        .playbook("playbooks/small.yaml", SMALL)
        .playbook("playbooks/broken.yaml", "version: 1\n")
        .args(["list"])
        .stdout(
            "NAME                SOURCE                 STEPS  TITLE\n\
             broken              playbooks/broken.yaml      -  (invalid: run `runbook validate`)\n\
             small               playbooks/small.yaml       3  Idle sessions\n\
             connection-cleanup  built-in                   7  Connection cleanup\n\
             daily-monitoring    built-in                   7  Daily connection monitoring\n\
             emergency           built-in                  11  Emergency connection management\n\
             pool-optimization   built-in                   7  Connection pool optimization\n\
             troubleshooting     built-in                   8  Connection troubleshooting\n\
             tview-connections   built-in                   6  TVIEW connection issues\n",
        )
        .run();
}

#[test]
fn a_local_playbook_overrides_the_built_in_of_the_same_name() {
    let local = SMALL.replace("name: small", "name: daily-monitoring");
    let outcome = Test::new()
        .playbook("playbooks/daily-monitoring.yaml", &local)
        .args(["show", "daily-monitoring"])
        .stdout_contains(
            "Playbook `daily-monitoring` from `playbooks/daily-monitoring.yaml` · 3 steps",
        )
        .run();
    assert!(
        outcome.stdout.starts_with("# Idle sessions\n"),
        "{}",
        outcome.stdout
    );
}
