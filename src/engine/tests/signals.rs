//! `terminate:`: the previewed sessions signalled, never the engine's own, never a row without
//! an identity; `wait` needs PostgreSQL 14.

use super::*;
use crate::outputs::record::Decider;

const TERMINATE: &str = r#"
version: 1
name: end
steps:
  - id: idle
    check: SELECT pid, backend_start FROM pg_stat_activity WHERE state = 'idle'
  - id: end_them
    terminate: idle
    max_rows: 2
"#;

/// `server()` whose idle sessions are `rows` (pid, backend_start), and whose signal
/// statement answers `answers` (pid, backend_start, terminated, spared).
fn idle_sessions(rows: &[&[&str]], answers: &[&[&str]]) -> FakeTarget {
    server()
        .on("pg_try_advisory_lock", Answer::rows(&["locked"], &[&["t"]]))
        .on(
            "WITH runbook_selected",
            Answer::typed(
                &[
                    ("pid", ColumnKind::Integer),
                    ("backend_start", ColumnKind::Text),
                    ("terminated", ColumnKind::Boolean),
                    ("spared", ColumnKind::Text),
                ],
                answers,
            ),
        )
        .on(
            "WHERE state = 'idle'",
            Answer::typed(
                &[
                    ("pid", ColumnKind::Integer),
                    ("backend_start", ColumnKind::Text),
                ],
                rows,
            ),
        )
}

#[test]
fn terminate_signals_the_previewed_sessions_but_never_the_engines_own() {
    let playbook = playbook(TERMINATE);
    let start = "2026-12-02 01:00:00+00";
    let mut target = idle_sessions(
        &[&["4242", start], &["7", start], &["9", start]],
        &[&["7", start, "t", NULL], &["9", start, NULL, "gone"]],
    );
    let run = Run::new();
    let by = Decider::Operator;
    let record = run.record(
        &playbook,
        &mut target,
        &mut Script::new(&run.log, vec![Decision::Approved { by }]),
    );
    // The engine's own pid (4242) is neither shown, nor counted against `max_rows`.
    assert_eq!(
        run.log.borrow()[0],
        "asked end_them preview Some(2)",
        "{:?}",
        statuses(&record)
    );
    let sent = target.sent_containing("WITH runbook_selected");
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].contains("ARRAY[7, 9]::pg_catalog.int4[]"),
        "{}",
        sent[0]
    );
    assert!(
        sent[0].contains("SELECT pid, backend_start FROM pg_stat_activity WHERE state = 'idle'\n)")
    );
    assert_eq!(record.steps[1].kind, "terminate");
    assert_eq!(record.steps[1].row_count, 2);
}

#[test]
fn terminate_with_wait_needs_postgresql_14() {
    let playbook = playbook(&TERMINATE.replace("    max_rows: 2\n", "    wait: 5s\n"));
    let mut target = server_of_version(13).on(
        "WHERE state = 'idle'",
        Answer::rows(&["pid", "backend_start"], &[&["7", "x"]]),
    );
    let run = Run::new();
    let record = run.record(&playbook, &mut target, &mut Script::new(&run.log, vec![]));
    assert_eq!(
        statuses(&record)[1],
        (
            "end_them",
            Status::Unknown,
            "`wait` needs PostgreSQL 14 or later (`pg_terminate_backend` with a timeout); this server is 13"
        )
    );
    assert!(target.sent_containing("runbook_selected").is_empty());
}

#[test]
fn rows_without_an_identity_are_never_signalled() {
    let playbook = playbook(TERMINATE);
    let mut target = server().on(
        "WHERE state = 'idle'",
        Answer::typed(
            &[
                ("pid", ColumnKind::Integer),
                ("backend_start", ColumnKind::Text),
            ],
            &[&["7", NULL]],
        ),
    );
    let run = Run::new();
    let record = run.record(&playbook, &mut target, &mut Script::new(&run.log, vec![]));
    assert_eq!(
        record.steps[1].status,
        Status::Skipped,
        "{:?}",
        statuses(&record)
    );
    assert!(run.log.borrow().is_empty(), "nobody is asked");
    assert!(target.sent_containing("runbook_selected").is_empty());
}
