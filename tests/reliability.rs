//! Reliability: timeouts, locks, hostile variables and hostile server text.

use std::time::{Duration, Instant};

use crate::common::cluster::Cluster;
use crate::common::db::{Database, wait_for};
use crate::common::pty::{ENTER, Pty};
use crate::common::{Test, built_in};

#[test]
fn a_step_hitting_statement_timeout_fails_with_57014() {
    let db = Database::new();
    let yaml = "version: 1\nname: slow\nsteps:\n  - id: sleepy\n    check: SELECT pg_sleep(5) AS s\n    timeout: 1s\n  - id: after\n    check: SELECT 1 AS one\n";
    let start = Instant::now();
    let outcome = Test::new()
        .playbook("slow.yaml", yaml)
        .args(["run", "slow.yaml"])
        .database(&db)
        .json_report()
        .status(3)
        .stderr("slow: UNKNOWN — [..] — 2 steps, 1 failed — report: report.json\n")
        .run();
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "the timeout cut the sleep short: {:?}",
        start.elapsed()
    );
    let report = outcome.json();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps[0]["status"], "UNKNOWN");
    assert_eq!(steps[0]["error"]["sqlstate"], "57014", "{report}");
    assert_eq!(steps[1]["status"], "OK", "the next step still runs");
    assert_eq!(report["exit_code"], 3);
}

#[test]
fn a_step_blocked_on_a_lock_hits_lock_timeout() {
    let db = Database::new();
    db.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (1)");
    let holder = db.lock_holder("t");
    assert_eq!(
        db.psql(&format!(
            "SELECT count(*) FROM pg_locks WHERE pid = {} AND mode = 'AccessExclusiveLock' AND granted",
            holder.pid
        )),
        "1",
        "the lock is held"
    );
    let yaml = "version: 1\nname: locked\nsteps:\n  - id: blocked\n    check: SELECT count(*) AS n FROM t\n    timeout: 3s\n  - id: after\n    check: SELECT 1 AS one\n";
    let start = Instant::now();
    let outcome = Test::new()
        .playbook("locked.yaml", yaml)
        .args(["run", "locked.yaml"])
        .database(&db)
        .json_report()
        .status(3)
        .stderr("locked: UNKNOWN — [..] — 2 steps, 1 failed — report: report.json\n")
        .run();
    let elapsed = start.elapsed();
    assert!(
        elapsed < Duration::from_secs(10),
        "failed quickly: {elapsed:?}"
    );
    let report = outcome.json();
    let steps = report["steps"].as_array().unwrap();
    let sqlstate = steps[0]["error"]["sqlstate"].as_str().unwrap_or_default();
    assert!(
        sqlstate == "55P03" || sqlstate == "57014",
        "lock or statement timeout, got {report}"
    );
    assert_eq!(steps[1]["status"], "OK");
    assert_eq!(
        db.psql(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'relation' AND NOT granted
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        "0",
        "the engine's waiting lock request is gone"
    );
    drop(holder);
}

#[test]
fn hostile_vars_never_change_the_sql_structure() {
    let db = Database::new();
    db.psql("CREATE TABLE t (x text); INSERT INTO t VALUES ('row')");
    let yaml = r#"version: 1
name: hostile
params:
  v: { type: string, default: "" }
steps:
  - id: lookup
    check: SELECT count(*) AS n FROM t WHERE x = {{ params.v }}
    assess:
      - ok: n == 0
        message: "no row equals {{ params.v }}"
      - warning: n != 0
        message: "a row equals {{ params.v }}"
"#;
    let hostile = [
        "'; DROP TABLE t; --",
        "$$",
        "\\'",
        "\\",
        "é日本",
        "line1\nline2",
        "') OR true OR ('",
        "row' OR 'a'='a",
    ];
    for value in hostile {
        let outcome = Test::new()
            .playbook("hostile.yaml", yaml)
            .args(["run", "hostile.yaml"])
            .database(&db)
            .json_report()
            .var("v", value)
            .stderr("hostile: OK — 1 step — report: report.json\n")
            .run();
        let report = outcome.json();
        let step = &report["steps"][0];
        assert_eq!(step["row_count"], 1, "value {value:?}: {report}");
        assert_eq!(step["rows"][0][0], 0, "value {value:?}: {report}");
        assert_eq!(step["status"], "OK", "value {value:?}: {report}");
        assert_eq!(db.psql("SELECT count(*) FROM t"), "1", "value {value:?}");
    }
}

#[test]
fn server_text_cannot_break_the_markdown_report() {
    let db = Database::new();
    let yaml = r#"version: 1
name: hostile-text
steps:
  - id: nasty
    check: |
      SELECT 'a|b' AS pipe, E'line1\nline2' AS nl, '`tick`' AS tick,
             chr(60) || 'script>alert(1)' || chr(60) || '/script>' AS html,
             E'x\n# heading' AS h
"#;
    let outcome = Test::new()
        .playbook("text.yaml", yaml)
        .args(["run", "text.yaml"])
        .database(&db)
        .markdown_report()
        .stderr("hostile-text: OK — 1 step — report: report.md\n")
        .run();
    let report = outcome.markdown();
    // The SQL builds the hostile strings on the server, so they appear only as server text.
    assert!(!report.contains("<script>"), "{report}");
    assert!(
        !report.lines().any(|line| line.starts_with("# heading")),
        "{report}"
    );
    let unescaped_pipes = |line: &str| {
        let chars: Vec<char> = line.chars().collect();
        (0..chars.len())
            .filter(|&i| chars[i] == '|' && (i == 0 || chars[i - 1] != '\\'))
            .count()
    };
    let header = report
        .lines()
        .find(|line| line.starts_with('|') && line.contains("pipe") && line.contains("html"))
        .unwrap_or_else(|| panic!("a row table header in\n{report}"));
    let columns = unescaped_pipes(header);
    assert_eq!(columns, 6, "five columns: {header}");
    let row = report
        .lines()
        .find(|line| line.starts_with('|') && line.contains("line1"))
        .unwrap_or_else(|| panic!("the row in\n{report}"));
    assert_eq!(unescaped_pipes(row), columns, "{row}\n{report}");
    assert!(
        row.contains("line2"),
        "the line break stays in the cell: {row}"
    );
}

#[test]
fn connection_exhaustion() {
    let cluster = Cluster::builder().setting("max_connections", "10").start();
    let app_password = "App-Pa55-for-the-test";
    cluster.psql(
        "postgres",
        &format!("CREATE ROLE app LOGIN PASSWORD '{app_password}'"),
    );
    assert_eq!(
        cluster.psql("postgres", "SHOW superuser_reserved_connections"),
        "3"
    );
    let sessions: Vec<_> = (0..7)
        .map(|_| cluster.session("app", app_password))
        .collect();

    // As `app`, every ordinary slot is taken: the run cannot connect, says why, and reports.
    let tiny = "version: 1\nname: tiny\nsteps:\n  - id: one\n    check: SELECT 1 AS one\n";
    let start = Instant::now();
    let app_url = cluster.url("app", app_password, "postgres");
    let tiny_as_app = || {
        Test::new()
            .playbook("tiny.yaml", tiny)
            .clean_connection_env()
            .args(["run", "tiny.yaml"])
            .database_url(&app_url)
            .markdown_report()
    };
    let refused = tiny_as_app().status(3).stderr(&format!(
            "error: cannot connect to `app@127.0.0.1:{}/postgres`: remaining connection slots are reserved for non-replication superuser connections (retried for [..] s). Every connection slot open to this role is taken; the last `superuser_reserved_connections` slots are kept for superusers (and `reserved_connections` ones for `pg_use_reserved_connections` members on PostgreSQL 16+): connect as a superuser to get in, e.g. to run the emergency playbook\n\
             tiny: UNKNOWN — [..] — 1 step, 1 not run — report: report.md\n",
            cluster.port()
        )).run();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "PGCONNECT_TIMEOUT bounds the retries: {:?}",
        start.elapsed()
    );
    assert!(!refused.stderr.contains(app_password), "{}", refused.stderr);
    let report = refused.markdown();
    assert!(report.starts_with("# tiny — UNKNOWN\n"), "{report}");
    assert!(
        report.contains("superuser_reserved_connections"),
        "{report}"
    );

    // The superuser gets in through a reserved slot and sees the emergency.
    std::thread::sleep(Duration::from_millis(1500));
    let url = cluster.url("postgres", cluster.password(), "postgres");
    let emergency = Test::new()
        .clean_connection_env()
        .args(["run", "emergency", "--dry-run"])
        .var("idle_after", "1s")
        .database_url(&url)
        .json_report()
        .status(2)
        .stderr(
            "emergency: CRITICAL — [..] — 11 steps, 2 critical, 5 skipped — report: report.json\n",
        )
        .run();
    let report = emergency.json();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps[0]["id"], "critical_assessment", "{report}");
    assert_eq!(steps[0]["status"], "CRITICAL", "{report}");
    let terminate = steps
        .iter()
        .find(|step| step["id"] == "terminate_idle")
        .expect("the terminate_idle step");
    let mut listed: Vec<i32> = terminate["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("preview rows in {terminate}"))
        .iter()
        .map(|row| i32::try_from(row[0].as_i64().unwrap()).unwrap())
        .collect();
    listed.sort_unstable();
    let mut expected: Vec<i32> = sessions.iter().map(|session| session.pid).collect();
    expected.sort_unstable();
    assert_eq!(listed, expected, "{terminate}");
    assert_eq!(
        cluster.psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app'"
        ),
        "7",
        "a dry run terminates nothing"
    );

    // Live, at a terminal: the responder types the step id, the idle sessions go, and the
    // ordinary role can connect again.
    let emergency = built_in("emergency");
    let mut pty = Pty::run_url(&url, &emergency, &["--var", "idle_after=1s"], &[]);
    pty.expect("Type `terminate_idle` to run this action");
    pty.send("terminate_idle");
    pty.send(ENTER);
    let code = pty.finish();
    assert!(
        code != 3 && code != 4,
        "the emergency run ended with {code}:\n{}",
        pty.screen()
    );
    let report = pty.report();
    let terminate = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["id"] == "terminate_idle")
        .expect("the terminate_idle step")
        .clone();
    assert_eq!(terminate["approval"]["decision"], "approved", "{terminate}");
    wait_for("the app sessions to go", Duration::from_secs(10), || {
        cluster.psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app'",
        ) == "0"
    });
    drop(sessions);
    tiny_as_app()
        .stderr("tiny: OK — 1 step — report: report.md\n")
        .run();
}

#[test]
fn hostile_row_values_carried_into_later_sql_stay_literals() {
    let db = Database::new();
    db.psql("CREATE TABLE t (x text); INSERT INTO t VALUES ('row')");
    // The first step's rows come from the server; the second interpolates them into its SQL.
    let yaml = r#"version: 1
name: hostile-rows
steps:
  - id: source
    check: |
      SELECT v FROM (VALUES ($q$'; DROP TABLE t; --$q$), ($q$') OR true OR ('$q$), ($q$$$ $q$),
                            (E'back\\slash'), ('é日本')) AS s(v)
  - id: use
    check: SELECT count(*) AS n FROM t WHERE x = ANY({{ steps.source.rows | map(attribute='v') | list }})
  - id: first
    check: SELECT {{ steps.source.v }}::text AS echoed
"#;
    let outcome = Test::new()
        .playbook("rows.yaml", yaml)
        .args(["run", "rows.yaml"])
        .database(&db)
        .json_report()
        .stderr("hostile-rows: OK — 3 steps — report: report.json\n")
        .run();
    let report = outcome.json();
    assert_eq!(
        report["steps"][1]["rows"][0][0], 0,
        "no row matched; the values stayed literals"
    );
    assert_eq!(
        report["steps"][2]["rows"][0][0], "'; DROP TABLE t; --",
        "the value came back unchanged"
    );
    assert_eq!(
        db.psql("SELECT count(*) FROM t"),
        "1",
        "the table is intact"
    );
}

#[test]
fn after_a_server_restart_checks_reconnect_once_and_go_on() {
    let cluster = Cluster::start();
    let url = cluster.url("postgres", cluster.password(), "postgres");
    let yaml = "version: 1\nname: restarted\nsteps:\n  - id: sleep\n    check: SELECT pg_sleep(5) AS slept\n  - id: after\n    check: SELECT 1 AS one\n";
    let running = Test::new()
        .playbook("restart.yaml", yaml)
        .clean_connection_env()
        .env("PGCONNECT_TIMEOUT", "20")
        .args(["run", "restart.yaml"])
        .database_url(&url)
        .json_report()
        .status(3)
        .stderr("restarted: UNKNOWN — [..] — 2 steps, 1 failed — report: report.json\n")
        .spawn();
    let sleeping = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'runbook:restarted' AND query LIKE '%pg_sleep%'";
    wait_for("the step to start", Duration::from_secs(20), || {
        cluster.psql("postgres", sleeping) == "1"
    });
    cluster.restart();
    let outcome = running.wait();
    let report = outcome.json();
    assert_eq!(
        report["steps"][0]["status"], "UNKNOWN",
        "the interrupted step is not retried"
    );
    assert_eq!(
        report["steps"][1]["status"], "OK",
        "the next check ran on a new connection"
    );
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("the server had restarted, so the run reconnected once"),
        "{notes}"
    );
    assert!(report["error"].is_null(), "{}", report["error"]);
}

#[test]
fn the_password_is_in_neither_the_report_nor_the_journal_of_an_approved_action() {
    let cluster = Cluster::start();
    let password = cluster.password();
    let url = cluster.url("postgres", password, "postgres");
    let yaml = "version: 1\nname: journaled\nsteps:\n  - id: act\n    action: SELECT 1 AS done\n";
    let outcome = Test::new()
        .playbook("act.yaml", yaml)
        .clean_connection_env()
        .args(["run", "act.yaml", "--yes"])
        .database_url(&url)
        .markdown_report()
        .stderr("journaled: OK — 1 step — report: report.md — journal: report.journal.jsonl\n")
        .run();
    let journal = outcome.read("report.journal.jsonl");
    let report = outcome.markdown();
    assert!(journal.contains("\"decision\":\"approved\""), "{journal}");
    assert!(
        journal.contains(&format!("postgres@127.0.0.1:{}/postgres", cluster.port())),
        "{journal}"
    );
    for (what, text) in [
        ("journal", &journal),
        ("report", &report),
        ("stdout", &outcome.stdout),
        ("stderr", &outcome.stderr),
    ] {
        assert!(!text.contains(password), "the password is in the {what}");
    }
}
