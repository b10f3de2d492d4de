//! The engine's decisions, against a scripted target, approver and listener: no server.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use futures_util::future::{self, LocalBoxFuture};

use super::{Engine, Pace, Reach, Settings};
use crate::approval::{Approver, Decision, DryRun, Request, StepChoice};
use crate::clock::FixedClock;
use crate::commands::Checked;
use crate::events::{Event, Listener, Listeners, Veto};
use crate::history::Past;
use crate::interrupt::{Cause, Interruption, Stop};
use crate::load::Source;
use crate::outputs::record::{Mode, RunRecord, Status};
use crate::outputs::{Header, Recorder};
use crate::playbook::{Playbook, Step};
use crate::target::fake::{Answer, FakeTarget, NULL};
use crate::target::rows::ColumnKind;
use crate::target::{QueryError, Wrap};

mod actions;
mod history;
mod signals;

/// What happened, in order, across the approver and the listeners.
type Log = Rc<RefCell<Vec<String>>>;

fn playbook(yaml: &str) -> Playbook {
    let checked = Checked::of(Source::text("test.yaml", yaml));
    let diagnostics = checked.render_diagnostics();
    checked.playbook.expect(&diagnostics)
}

/// A target that knows its facts: PostgreSQL 15, a superuser, 100 usable connections.
fn server() -> FakeTarget {
    server_of_version(15)
}

/// `server()` of another major version.
fn server_of_version(version: u32) -> FakeTarget {
    let facts = r#"{"server_version": VERSION, "current_user": "dba", "superuser": true,
        "usable_connections": 100, "backend_pid": 4242, "can_read_all_stats": true,
        "server_started": "2026-12-01 10:00:00+00", "roles": [], "relations": {}}"#;
    let facts = facts.replace("VERSION", &version.to_string());
    FakeTarget::new().on("json_build_object(", Answer::rows(&["facts"], &[&[&facts]]))
}

/// `server()` whose connection drops on `SELECT broken` because the server restarted (its
/// start time is another afterwards): the engine reconnects.
fn restarting() -> FakeTarget {
    let mut target = server().on("SELECT broken", Answer::Lost).on(
        "pg_postmaster_start_time()::text",
        Answer::rows(&["t"], &[&["2026-12-01 11:00:00+00"]]),
    );
    target.reconnects = true;
    target
}

/// `server()` with `rows` as the stuck jobs an action previews, and the lock free or not.
fn jobs_with_lock(ids: &[&str], lock_free: bool) -> FakeTarget {
    jobs_on(server(), ids, lock_free)
}

/// `target` (whose rules come first) answering as `jobs_with_lock`.
fn jobs_on(target: FakeTarget, ids: &[&str], lock_free: bool) -> FakeTarget {
    let rows: Vec<&[&str]> = ids.iter().map(std::slice::from_ref).collect();
    // The lock statement's answer: taken, and another holder (pid, app, database, here).
    let answer: &[&str] = if lock_free {
        &["t", NULL, NULL, NULL, NULL]
    } else {
        &["f", "77", "runbook:act", "app", "t"]
    };
    target
        .on(
            "pg_try_advisory_lock",
            Answer::rows(&["taken", "pid", "app", "datname", "here"], &[answer]),
        )
        .on(
            "FROM jobs WHERE state",
            Answer::typed(&[("id", ColumnKind::Integer)], &rows),
        )
        .on("UPDATE jobs", Answer::rows(&[], &[]))
}

/// Answers every action with the next scripted decision, and `--step` with the next choice.
struct Script {
    decisions: VecDeque<Decision>,
    choices: VecDeque<StepChoice>,
    log: Log,
    /// Set while answering, as a Ctrl-C during the prompt would.
    interrupts: Option<Interruption>,
}

impl Script {
    fn new(log: &Log, decisions: Vec<Decision>) -> Script {
        Script {
            decisions: decisions.into(),
            choices: VecDeque::new(),
            log: log.clone(),
            interrupts: None,
        }
    }
}

impl Approver for Script {
    fn decide<'a>(&'a mut self, request: &'a Request<'a>) -> LocalBoxFuture<'a, Decision> {
        let rows = request.preview.as_ref().map(|p| p.row_count);
        self.log
            .borrow_mut()
            .push(format!("asked {} preview {rows:?}", request.step.id));
        let decision = self.decisions.pop_front().expect("a scripted decision");
        if let Some(flag) = &self.interrupts {
            flag.raise(Cause::CtrlC);
        }
        Box::pin(future::ready(decision))
    }

    fn before_step<'a>(&'a mut self, step: &'a Step, _: &'a str) -> LocalBoxFuture<'a, StepChoice> {
        self.log.borrow_mut().push(format!("before {}", step.id));
        Box::pin(future::ready(
            self.choices.pop_front().unwrap_or(StepChoice::Continue),
        ))
    }
}

/// Logs decisions (as a journal would); can refuse to, like a journal on a full disk.
struct Audit {
    log: Log,
    veto: bool,
}

impl Listener for Audit {
    fn on(&mut self, event: &Event) -> Result<(), Veto> {
        if let Event::Acted { step, outcome } = event {
            self.log.borrow_mut().push(format!(
                "acted {} {:?} {:?} {:?}",
                step.id, outcome.ended, outcome.rows_affected, outcome.sqlstate
            ));
        }
        if let Event::Decided { step, approval, .. } = event {
            self.log
                .borrow_mut()
                .push(format!("decided {} {}", step.id, approval.decision.word()));
            if self.veto {
                return Err(Veto {
                    reason: "cannot write the audit journal `j`: disk full".to_owned(),
                });
            }
        }
        Ok(())
    }
}

struct Run {
    pace: Pace,
    only: Option<Vec<String>>,
    /// `--var NAME=VALUE`s.
    vars: Vec<String>,
    veto: bool,
    log: Log,
    interrupted: Interruption,
    /// What the history store would give the run.
    past: Past,
}

impl Run {
    fn new() -> Run {
        Run {
            pace: Pace::Straight,
            only: None,
            vars: Vec::new(),
            veto: false,
            log: Log::default(),
            interrupted: Interruption::default(),
            past: Past::default(),
        }
    }

    /// Runs the playbook to its end and returns the record the events built.
    fn record(
        &self,
        playbook: &Playbook,
        target: &mut FakeTarget,
        approver: &mut dyn Approver,
    ) -> RunRecord {
        let clock = FixedClock(SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_600_000));
        let values =
            crate::param::resolve(&playbook.params, &self.vars).expect("the vars are valid");
        let header = Header {
            playbook,
            values: &values,
            operator: "alice".to_owned(),
            mode: Mode::Live,
        };
        let mut recorder = Recorder::new(header, &clock);
        let mut audit = Audit {
            log: self.log.clone(),
            veto: self.veto,
        };
        let settings = Settings {
            only: self.only.clone(),
            report_rows: 50,
            pace: self.pace,
            operator: "alice".to_owned(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listeners: Vec<&mut dyn Listener> = vec![&mut recorder, &mut audit];
            let engine = Engine::new(
                playbook,
                settings,
                &values,
                &clock,
                approver,
                Listeners::new(listeners),
                Stop::new(self.interrupted.clone()),
            )
            .remembering(self.past.clone());
            let reach = Reach::Reached {
                name: "dba@fake:5432/app",
                target,
            };
            engine.run(reach).await;
        });
        recorder.record().clone()
    }
}

fn statuses(record: &RunRecord) -> Vec<(&str, Status, &str)> {
    record
        .steps
        .iter()
        .map(|s| (s.id.as_str(), s.status, s.message.as_deref().unwrap_or("")))
        .collect()
}

const CHECKS: &str = r#"
version: 1
name: checks
steps:
  - id: sessions
    check: SELECT pid, state FROM pg_stat_activity
    assess:
      - warning: row_count > 1
        message: "{{ row_count }} sessions"
      - critical: state == 'idle in transaction'
        message: "{{ matching_rows }} idle in transaction, first {{ pid }}"
  - id: follow_up
    when: steps.sessions.row_count > 5
    check: SELECT 1 AS one
  - id: new_server
    requires: { server_version: 16 }
    check: SELECT 2 AS two
"#;

#[test]
fn checks_are_read_only_assessed_per_row_and_guarded() {
    let playbook = playbook(CHECKS);
    let rows: &[&[&str]] = &[
        &["1", "idle"],
        &["2", "idle in transaction"],
        &["3", "idle in transaction"],
    ];
    let mut target = server().on(
        "pg_stat_activity",
        Answer::typed(
            &[("pid", ColumnKind::Integer), ("state", ColumnKind::Text)],
            rows,
        ),
    );
    let log = Log::default();
    let record = Run::new().record(&playbook, &mut target, &mut Script::new(&log, vec![]));
    assert_eq!(
        statuses(&record),
        [
            (
                "sessions",
                Status::Critical,
                "2 idle in transaction, first 2"
            ),
            ("follow_up", Status::Skipped, "the condition is false"),
            (
                "new_server",
                Status::Skipped,
                "requires PostgreSQL 16 or later; the server is 15"
            ),
        ]
    );
    let sessions = &record.steps[0];
    assert_eq!(sessions.row_count, 3);
    assert!(sessions.assessments[0].held);
    assert_eq!(sessions.assessments[1].matching_rows, Some(2));
    assert_eq!((record.status, record.exit_code), (Status::Critical, 2));
    assert_eq!(record.target, "dba@fake:5432/app");
    assert_eq!(record.started_at, "2025-12-01T14:40:00Z");
    let wraps: Vec<Wrap> = target.sent.iter().map(|(_, wrap)| *wrap).collect();
    assert_eq!(
        wraps,
        [Wrap::ReadOnly, Wrap::ReadOnly],
        "facts, then the one check that ran"
    );
}

#[test]
fn only_and_step_choices_skip_and_abort() {
    let playbook = playbook(CHECKS);
    let mut target = server();
    let log = Log::default();
    let mut run = Run::new();
    run.only = Some(vec!["follow_up".to_owned()]);
    let record = run.record(&playbook, &mut target, &mut Script::new(&log, vec![]));
    assert_eq!(
        record.steps[0].message.as_deref(),
        Some("not selected with `--only`")
    );
    assert_eq!(
        record.steps[1].status,
        Status::Skipped,
        "its guard was false"
    );

    // `follow_up` and `new_server` are skipped by their guards: `--step` asks only once.
    let mut script = Script::new(&log, vec![]);
    script.choices = VecDeque::from([StepChoice::Skip, StepChoice::Abort]);
    run.only = None;
    run.pace = Pace::StepByStep;
    let record = run.record(&playbook, &mut server(), &mut script);
    assert_eq!(
        statuses(&record),
        [
            (
                "sessions",
                Status::Skipped,
                "skipped by the operator (`--step`)"
            ),
            ("follow_up", Status::Skipped, "the condition is false"),
            (
                "new_server",
                Status::Skipped,
                "requires PostgreSQL 16 or later; the server is 15"
            ),
        ]
    );
    assert_eq!(script.choices, [StepChoice::Abort], "asked once");

    let mut script = Script::new(&log, vec![]);
    script.choices = VecDeque::from([StepChoice::Abort]);
    let record = run.record(&playbook, &mut server(), &mut script);
    assert_eq!(
        statuses(&record),
        [
            (
                "sessions",
                Status::NotRun,
                "aborted by the operator (`--step`)"
            ),
            (
                "follow_up",
                Status::NotRun,
                "the run stopped before this step"
            ),
            (
                "new_server",
                Status::NotRun,
                "the run stopped before this step"
            ),
        ]
    );
    assert_eq!((record.status, record.exit_code), (Status::Stopped, 4));
}

const ABORTING: &str = r#"
version: 1
name: abort
steps:
  - id: first
    check: SELECT broken
    on_error: abort
  - id: second
    check: SELECT 2 AS two
"#;

#[test]
fn a_failed_step_with_on_error_abort_stops_the_run() {
    let playbook = playbook(ABORTING);
    let error = QueryError {
        sqlstate: Some("42703".to_owned()),
        ..QueryError::plain("column \"broken\" does not exist".to_owned())
    };
    let mut target = server().on("SELECT broken", Answer::Error(error));
    let run = Run::new();
    let record = run.record(&playbook, &mut target, &mut Script::new(&run.log, vec![]));
    assert_eq!(
        statuses(&record),
        [
            ("first", Status::Unknown, "column \"broken\" does not exist"),
            ("second", Status::NotRun, "the run stopped before this step"),
        ]
    );
    assert_eq!(
        record.steps[0].error.as_ref().unwrap().sqlstate.as_deref(),
        Some("42703")
    );
    assert_eq!(
        record.error.as_deref(),
        Some("step `first` failed and has `on_error: abort`")
    );
    assert_eq!(record.exit_code, 3);
}

#[test]
fn a_lost_connection_that_is_not_a_restart_ends_the_run() {
    let playbook = playbook(ABORTING.replace("    on_error: abort\n", "").as_str());
    let mut target = server().on("SELECT broken", Answer::Lost);
    let run = Run::new();
    let record = run.record(&playbook, &mut target, &mut Script::new(&run.log, vec![]));
    assert_eq!(
        statuses(&record)[1],
        (
            "second",
            Status::NotRun,
            "the connection to the server was lost"
        )
    );
    assert_eq!(
        record.error.as_deref(),
        Some("step `first`: the connection to the server was lost")
    );

    // The server restarted (another start time): reconnect once and go on.
    let mut target = restarting();
    let record = run.record(&playbook, &mut target, &mut Script::new(&run.log, vec![]));
    assert_eq!(record.steps[1].status, Status::Ok);
    assert!(
        record.notes[0].contains("the server had restarted"),
        "{:?}",
        record.notes
    );
}

#[test]
fn after_a_reconnection_the_facts_name_the_new_backend() {
    let playbook = playbook(
        r#"
version: 1
name: restarted
steps:
  - id: first
    check: SELECT broken
  - id: second
    check: SELECT {{ facts.backend_pid }} AS pid, {{ facts.backend_start }} AS started
"#,
    );
    let mut target = restarting();
    let run = Run::new();
    let record = run.record(&playbook, &mut target, &mut Script::new(&run.log, vec![]));
    assert_eq!(
        record.steps[1].status,
        Status::Ok,
        "{:?}",
        statuses(&record)
    );
    assert_eq!(
        target.sent_containing("AS pid"),
        ["SELECT 4243 AS pid, '2026-12-01 10:00:01+00' AS started"],
        "the fake's second connection is backend 4243"
    );
}

#[test]
fn a_run_that_cannot_read_its_facts_runs_nothing() {
    let playbook = playbook(CHECKS);
    let mut target = FakeTarget::new().on(
        "json_build_object(",
        Answer::Error(QueryError::plain("permission denied".to_owned())),
    );
    let run = Run::new();
    let record = run.record(&playbook, &mut target, &mut Script::new(&run.log, vec![]));
    assert!(record.steps.iter().all(|s| s.status == Status::NotRun));
    assert_eq!(
        record.error.as_deref(),
        Some("cannot read the server's facts: permission denied")
    );
    assert_eq!(target.sent.len(), 1);
}

#[test]
fn a_step_that_aborts_the_run_and_lost_its_connection_is_an_abort_not_a_loss() {
    let playbook = playbook(ABORTING);
    let mut target = restarting();
    let run = Run::new();
    let record = run.record(&playbook, &mut target, &mut Script::new(&run.log, vec![]));
    assert_eq!(
        record.error.as_deref(),
        Some("step `first` failed and has `on_error: abort`")
    );
    assert_eq!(
        record.steps[1].message.as_deref(),
        Some("the connection to the server was lost")
    );
    assert!(
        record.notes.is_empty(),
        "no reconnection: {:?}",
        record.notes
    );
    assert_eq!(
        target.sent.len(),
        2,
        "the facts, the failed step: {:?}",
        target.sent
    );
}

const RAW: &str = r#"
version: 1
name: raw
params:
  expr: { type: string, default: "pg_terminate_backend(42)" }
steps:
  - id: pasted
    check: SELECT {{ params.expr | safe }} AS x
  - id: previewed
    preview: SELECT {{ params.expr | safe }} AS pid
    action: SELECT 1 AS one
"#;

#[test]
fn rendered_sql_that_is_not_read_only_is_never_sent() {
    let playbook = playbook(RAW);
    let mut target = server();
    let run = Run::new();
    let record = run.record(&playbook, &mut target, &mut Script::new(&run.log, vec![]));
    assert_eq!(
        statuses(&record),
        [
            (
                "pasted",
                Status::Unknown,
                "the check was not sent: `pg_terminate_backend` signals another session (rendered from the template at test.yaml:8)"
            ),
            (
                "previewed",
                Status::Unknown,
                "the preview was not sent: `pg_terminate_backend` signals another session (rendered from the template at test.yaml:10)"
            ),
        ]
    );
    assert!(
        target
            .sent_containing("pg_terminate_backend(42)")
            .is_empty()
    );
    assert_eq!(
        record.steps[0].sql.as_deref(),
        Some("SELECT pg_terminate_backend(42) AS x")
    );
}

const METRICS: &str = r#"
version: 1
name: metrics
params:
  warning_percent: { type: number, default: 70 }
  critical_range: { type: string, default: "90" }
steps:
  - id: pool
    check: SELECT limit_of, used, longest, share, spare FROM limits
    metrics:
      used: { min: 0, max: "{{ facts.usable_connections }}", labels: [limit_of] }
      longest: { labels: [limit_of] }
      share: { unit: "%", warning: "{{ params.warning_percent }}", critical: "{{ params.critical_range }}", labels: [limit_of] }
      row_count: {}
"#;

#[test]
fn declared_metrics_are_read_from_the_rows_with_their_labels_and_rendered_thresholds() {
    let playbook = playbook(METRICS);
    let columns = [
        ("limit_of", ColumnKind::Text),
        ("used", ColumnKind::Integer),
        ("longest", ColumnKind::Interval),
        ("share", ColumnKind::Number),
        ("spare", ColumnKind::Boolean),
    ];
    let rows: &[&[&str]] = &[
        &["server", "17", "00:01:30.5", "17.5", "t"],
        &["role app", NULL, "1 day 00:00:01", "NaN", "f"],
    ];
    let answer = || Answer::typed(&columns, rows);
    let mut target = server().on("FROM limits", answer());
    let log = Log::default();
    let record = Run::new().record(&playbook, &mut target, &mut Script::new(&log, vec![]));
    let metrics = &record.steps[0].metrics;
    let read: Vec<(&str, Option<&str>, f64)> = metrics
        .iter()
        .map(|m| {
            let label = m.labels.get("limit_of").map(String::as_str);
            (m.name.as_str(), label, m.value)
        })
        .collect();
    assert_eq!(
        read,
        [
            ("used", Some("server"), 17.0),
            ("longest", Some("server"), 90.5),
            ("longest", Some("role app"), 86_401.0),
            ("share", Some("server"), 17.5),
            ("row_count", None, 2.0),
        ],
        "a NULL gives no value, nor does NaN; an interval is in seconds"
    );
    let used = &metrics[0];
    assert_eq!((used.min, used.max), (Some(0.0), Some(100.0)));
    assert_eq!(used.unit, "");
    assert_eq!(metrics[1].unit, "s", "an interval is exported in seconds");
    let share = &metrics[3];
    assert_eq!(share.unit, "%");
    assert_eq!(share.warning.as_deref(), Some("70"));
    assert_eq!(share.critical.as_deref(), Some("90"));
    assert!(record.notes.is_empty(), "{:?}", record.notes);

    // A threshold that renders to no range is left out and said; the values still count.
    let mut target = server().on("FROM limits", answer());
    let run = Run {
        vars: vec!["critical_range=lots".to_owned()],
        ..Run::new()
    };
    let record = run.record(&playbook, &mut target, &mut Script::new(&log, vec![]));
    let share = &record.steps[0].metrics[3];
    assert_eq!((share.value, share.critical.as_deref()), (17.5, None));
    assert_eq!(share.warning.as_deref(), Some("70"));
    let [note] = record.notes.as_slice() else {
        panic!("one note: {:?}", record.notes);
    };
    assert!(
        note.starts_with("step `pool`, metric `share`: `critical` gives `lots`: ")
            && note.ends_with("; left out"),
        "{note}"
    );
}
