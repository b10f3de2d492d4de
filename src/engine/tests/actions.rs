//! Actions: the lock, the decision heard before anything runs, the journal's veto, dry runs,
//! row limits and blast radius, decided before anyone is asked.

use super::*;
use crate::outputs::record::{Decided, Decider};

const ACTION: &str = r#"
version: 1
name: act
steps:
  - id: stuck
    action: UPDATE jobs SET state = 'cancelled' WHERE id = ANY({{ preview.rows | map(attribute='id') | list }})
    preview: SELECT id FROM jobs WHERE state = 'stuck'
    max_rows: 3
  - id: after
    check: SELECT count(*) AS n FROM jobs
"#;

fn jobs(ids: &[&str]) -> FakeTarget {
    jobs_with_lock(ids, true)
}

#[test]
fn another_responder_holding_the_lock_refuses_the_action_before_anyone_is_asked() {
    let playbook = playbook(ACTION);
    let mut target = jobs_with_lock(&["7"], false);
    let run = Run::new();
    let record = run.record(&playbook, &mut target, &mut Script::new(&run.log, vec![]));
    assert_eq!(
        statuses(&record)[0],
        (
            "stuck",
            Status::NotRun,
            "refused: another run of playbook `act` is acting on this server: pid 77 (application_name `runbook:act`) holds its advisory lock"
        )
    );
    assert!(run.log.borrow().is_empty());
    assert!(target.sent_containing("UPDATE").is_empty());
    assert_eq!(record.exit_code, 4);
}

#[test]
fn an_approved_action_runs_what_was_previewed_after_its_decision_is_heard() {
    let playbook = playbook(ACTION);
    let mut target = jobs(&["7", "9"]);
    let run = Run::new();
    let by = Decider::Operator;
    let record = run.record(
        &playbook,
        &mut target,
        &mut Script::new(&run.log, vec![Decision::Approved { by }]),
    );
    assert_eq!(record.steps[0].status, Status::Ok, "{:?}", record.steps[0]);
    assert_eq!(
        target.sent_containing("UPDATE jobs"),
        ["UPDATE jobs SET state = 'cancelled' WHERE id = ANY(ARRAY[7, 9])"]
    );
    let update = target
        .sent
        .iter()
        .position(|(sql, _)| sql.starts_with("UPDATE"));
    let lock = target
        .sent
        .iter()
        .position(|(sql, _)| sql.contains("pg_try_advisory_lock"));
    assert!(
        lock < update,
        "the lock is taken before the action: {:?}",
        target.sent
    );
    assert_eq!(target.sent[update.unwrap()].1, Wrap::Transaction);
    assert_eq!(
        *run.log.borrow(),
        [
            "asked stuck preview Some(2)",
            "decided stuck approved",
            "acted stuck Succeeded Some(0) None"
        ]
    );
    let approval = record.steps[0].approval.as_ref().unwrap();
    assert_eq!(
        (approval.role.as_str(), approval.preview_rows),
        ("dba", Some(2))
    );
    assert_eq!(record.exit_code, 0);
}

#[test]
fn an_approved_action_that_fails_or_loses_its_connection_is_told_as_such_once() {
    let playbook = playbook(ACTION);
    let by = Decider::Operator;
    let mut error = QueryError::plain("deadlock detected".to_owned());
    error.sqlstate = Some("40P01".to_owned());
    for (answer, acted) in [
        (
            Answer::Error(error),
            "acted stuck Failed None Some(\"40P01\")",
        ),
        (Answer::Lost, "acted stuck Interrupted None None"),
    ] {
        let mut target = jobs_on(server().on("UPDATE jobs", answer), &["7"], true);
        let run = Run::new();
        let approved = Decision::Approved { by };
        let record = run.record(
            &playbook,
            &mut target,
            &mut Script::new(&run.log, vec![approved]),
        );
        assert_eq!(record.steps[0].status, Status::Unknown);
        assert_eq!(record.steps[0].rows_affected, None);
        assert_eq!(
            *run.log.borrow(),
            [
                "asked stuck preview Some(1)",
                "decided stuck approved",
                acted
            ]
        );
    }
}

#[test]
fn a_dry_run_rehearses_without_lock_journal_entry_or_action() {
    let playbook = playbook(ACTION);
    let mut target = jobs(&["7"]);
    let run = Run::new();
    let mut dry_run = DryRun(Box::new(Script::new(&run.log, vec![])));
    let record = run.record(&playbook, &mut target, &mut dry_run);
    assert_eq!(
        statuses(&record)[0],
        (
            "stuck",
            Status::Skipped,
            "dry run: would have run the SQL below on 1 preview row"
        )
    );
    assert!(target.sent_containing("UPDATE").is_empty());
    assert!(target.sent_containing("advisory").is_empty());
    assert_eq!(
        *run.log.borrow(),
        Vec::<String>::new(),
        "the approver was not asked, and a rehearsal is no decision to journal"
    );
    let approval = record.steps[0].approval.as_ref().unwrap();
    assert_eq!((approval.decision, approval.by), (Decided::DryRun, None));
    assert_eq!(
        record.steps[0].sql.as_deref(),
        Some("UPDATE jobs SET state = 'cancelled' WHERE id = ANY(ARRAY[7])")
    );
}

#[test]
fn an_action_whose_decision_cannot_be_journaled_does_not_run() {
    let playbook = playbook(ACTION);
    let mut target = jobs(&["7"]);
    let mut run = Run::new();
    run.veto = true;
    let by = Decider::Yes;
    let record = run.record(
        &playbook,
        &mut target,
        &mut Script::new(&run.log, vec![Decision::Approved { by }]),
    );
    assert_eq!(
        statuses(&record)[0],
        (
            "stuck",
            Status::NotRun,
            "refused: cannot write the audit journal `j`: disk full; the action was not run without its audit trail"
        )
    );
    assert!(target.sent_containing("UPDATE").is_empty());
    assert_eq!(record.steps[1].status, Status::Ok, "the run goes on");
    assert_eq!((record.status, record.exit_code), (Status::Stopped, 4));
}

#[test]
fn a_templated_row_limit_is_read_when_the_action_is_about_to_be_approved() {
    let templated = ACTION.replace(
        "    max_rows: 3\n",
        "    max_rows: \"{{ params.share }}%\"\n",
    );
    let playbook = playbook(&format!(
        "{templated}params:\n  share: {{ type: number, default: 3 }}\n"
    ));
    let refused = |vars: &[&str], expected: &str| {
        let run = Run {
            vars: vars.iter().map(|v| (*v).to_owned()).collect(),
            ..Run::new()
        };
        let record = run.record(
            &playbook,
            &mut jobs(&["1", "2", "3", "4"]),
            &mut Script::new(&run.log, vec![]),
        );
        // Nobody was asked: the script has no decision to give.
        assert_eq!(statuses(&record)[0], ("stuck", Status::NotRun, expected));
    };
    // 100 usable connections (the fake's facts).
    refused(
        &[],
        "refused: the preview has 4 rows, more than `max_rows` allows (3: 3% of 100 usable connections)",
    );
    refused(
        &["share=0.5"],
        "refused: the preview has 4 rows, more than `max_rows` allows (0: 0.5% of 100 usable connections)",
    );
    refused(
        &["share=101"],
        "refused: `max_rows` `{{ params.share }}%` gives no row limit: it gives `101.0%`, which is \
         neither a count nor a percentage above 0% and at most 100%",
    );
}

#[test]
fn blast_radius_and_empty_previews_are_decided_before_anyone_is_asked() {
    let playbook = playbook(ACTION);
    let run = Run::new();
    let record = run.record(
        &playbook,
        &mut jobs(&["1", "2", "3", "4"]),
        &mut Script::new(&run.log, vec![]),
    );
    assert_eq!(
        statuses(&record)[0],
        (
            "stuck",
            Status::NotRun,
            "refused: the preview has 4 rows, more than `max_rows` allows (3)"
        )
    );
    let record = run.record(
        &playbook,
        &mut jobs(&[]),
        &mut Script::new(&run.log, vec![]),
    );
    assert_eq!(
        statuses(&record)[0],
        (
            "stuck",
            Status::Skipped,
            "the preview has no rows: nothing to act on"
        )
    );
    assert!(
        run.log.borrow().is_empty(),
        "nobody was asked: {:?}",
        run.log.borrow()
    );
}

#[test]
fn an_approval_given_as_ctrl_c_arrives_runs_nothing() {
    let playbook = playbook(ACTION);
    let mut target = jobs(&["7"]);
    let run = Run::new();
    let by = Decider::Operator;
    let mut script = Script::new(&run.log, vec![Decision::Approved { by }]);
    script.interrupts = Some(run.interrupted.clone());
    let record = run.record(&playbook, &mut target, &mut script);
    assert_eq!(
        statuses(&record),
        [
            (
                "stuck",
                Status::NotRun,
                "interrupted by the operator (Ctrl-C) at the prompt"
            ),
            ("after", Status::NotRun, "the run stopped before this step"),
        ]
    );
    assert!(target.sent_containing("UPDATE").is_empty());
    assert_eq!(
        *run.log.borrow(),
        ["asked stuck preview Some(1)", "decided stuck interrupted"]
    );
    assert_eq!(
        record.notes,
        ["the run was interrupted by the operator (Ctrl-C)"]
    );
    assert_eq!(record.exit_code, 4);
}
