//! `history.*` in `when` and `assess`, against a past of known samples and the fixed clock:
//! the values, the windows' edges, this run's value, and too little history (which never
//! holds, skips a `when`, and says so).

use super::*;
use crate::history::Sample;
use crate::outputs::record::AssessmentRecord;

/// The fixed clock of `Run::record`, in milliseconds since the epoch.
const NOW_MS: i64 = 1_764_600_000_000;
const MINUTE_MS: i64 = 60_000;

const LEAKS: &str = r#"
version: 1
name: leaks
params:
  growth: { type: integer, default: 5 }
steps:
  - id: overview
    check: SELECT idle FROM pg_stat_activity
    metrics:
      idle: { min: 0 }
    assess:
      - warning: history.change('overview.idle', '1h') > params.growth
        message: "idle connections grew by {{ history.change('overview.idle', '1h') }} in 1h"
      - ok: row_count == 1
        message: "{{ idle }} idle"
  - id: trend
    check: SELECT 1 AS one
    assess:
      - ok: history.max('overview.idle', '1d') >= 0
        message: "previous {{ history.previous('overview.idle') }}, max {{ history.max('overview.idle', '1d') }}, average {{ history.avg('overview.idle', '1d') }}"
"#;

/// A target whose `overview` reads `idle` idle connections.
fn idle_now(idle: &str) -> FakeTarget {
    server().on(
        "SELECT idle FROM",
        Answer::typed(&[("idle", ColumnKind::Integer)], &[&[idle]]),
    )
}

/// A past of `overview.idle`: (minutes ago, value).
fn past(points: &[(i64, f64)]) -> Past {
    let mut past = Past::default();
    for &(minutes_ago, value) in points {
        let at_ms = NOW_MS - minutes_ago * MINUTE_MS;
        past.push("overview.idle", Sample { at_ms, value });
    }
    past
}

fn run_with(yaml: &str, past: Past, target: &mut FakeTarget) -> RunRecord {
    let playbook = playbook(yaml);
    let mut run = Run::new();
    run.past = past;
    let log = Log::default();
    run.record(&playbook, target, &mut Script::new(&log, vec![]))
}

fn assessment<'r>(record: &'r RunRecord, step: &str, index: usize) -> &'r AssessmentRecord {
    let step = record
        .steps
        .iter()
        .find(|s| s.id == step)
        .expect("the step");
    &step.assessments[index]
}

#[test]
fn each_function_reads_the_past_and_this_runs_value() {
    // 2h ago 1, 1h ago exactly 10 (the window's edge counts), 30m ago 20; now 30.
    let past = past(&[(120, 1.0), (60, 10.0), (30, 20.0)]);
    let record = run_with(LEAKS, past, &mut idle_now("30"));
    assert_eq!(
        statuses(&record),
        [
            (
                "overview",
                Status::Warning,
                "idle connections grew by 20 in 1h"
            ),
            ("trend", Status::Ok, "previous 20, max 30, average 15.25"),
        ]
    );
    assert_eq!((record.status, record.exit_code), (Status::Warning, 1));
}

#[test]
fn a_window_holds_the_sample_exactly_at_its_start_and_none_before() {
    let record = run_with(LEAKS, past(&[(60, 28.0)]), &mut idle_now("30"));
    assert_eq!(
        statuses(&record)[0],
        ("overview", Status::Ok, "30 idle"),
        "grew by 2, no more than 5"
    );
    let just_outside = {
        let mut past = Past::default();
        let at_ms = NOW_MS - 60 * MINUTE_MS - 1;
        past.push("overview.idle", Sample { at_ms, value: 1.0 });
        past
    };
    let record = run_with(LEAKS, just_outside, &mut idle_now("30"));
    assert_eq!(
        statuses(&record),
        [
            (
                "overview",
                Status::Ok,
                "30 idle; not enough history yet (0 samples)"
            ),
            ("trend", Status::Ok, "previous 1, max 30, average 15.5"),
        ]
    );
}

const SHORT: &str = r#"
version: 1
name: short
steps:
  - id: overview
    check: SELECT idle FROM pg_stat_activity
    metrics:
      idle: {}
    assess:
      - warning: history.change('overview.idle', '1h') > 5
        message: grew
      - critical: not (history.previous('overview.idle') > 100)
        message: never true without history
      - warning: history.avg('overview.idle', '1h') * 2 > 5
        message: none times two is no type error
      - warning: idle > history.max('overview.idle', '1h')
        message: per row
"#;

#[test]
fn with_no_history_nothing_holds_and_the_step_says_so() {
    let record = run_with(SHORT, Past::default(), &mut idle_now("30"));
    assert_eq!(
        statuses(&record),
        [("overview", Status::Ok, "not enough history yet (0 samples)")]
    );
    for index in 0..4 {
        let assessed = assessment(&record, "overview", index);
        assert!(!assessed.held, "assessment {index}");
        assert_eq!(
            assessed.message.as_deref(),
            Some("not enough history yet (0 samples)"),
            "assessment {index}"
        );
    }
    assert_eq!(record.exit_code, 0);
}

#[test]
fn with_one_sample_a_change_needs_this_runs_value() {
    // Its own `when` runs before the step has read anything: the change is between earlier
    // samples, and one is not enough.
    let yaml = r#"
version: 1
name: own
steps:
  - id: overview
    when: history.change('overview.idle', '1h') >= 0
    check: SELECT idle FROM pg_stat_activity
    metrics:
      idle: {}
  - id: after
    when: history.change('overview.idle', '1h') == 30
    check: SELECT 1 AS one
"#;
    let one = || past(&[(30, 5.0)]);
    let record = run_with(yaml, one(), &mut idle_now("30"));
    assert_eq!(
        statuses(&record),
        [
            (
                "overview",
                Status::Skipped,
                "not enough history yet (1 sample)"
            ),
            (
                "after",
                Status::Skipped,
                "not enough history yet (1 sample)"
            ),
        ],
        "a skipped step read no value this run"
    );
    let guard = &record.steps[0].guards[0];
    assert_eq!(
        (guard.guard.as_str(), guard.passed),
        ("`when: history.change('overview.idle', '1h') >= 0`", false)
    );
    let two = past(&[(50, 0.0), (30, 5.0)]);
    let record = run_with(yaml, two, &mut idle_now("30"));
    assert_eq!(
        statuses(&record),
        [
            ("overview", Status::Ok, "1 row"),
            ("after", Status::Ok, "0 rows"),
        ],
        "5 between the earlier two; then 30 − 0 with this run's value"
    );
}

#[test]
fn a_when_without_enough_history_is_skipped_even_if_negated() {
    let yaml = r#"
version: 1
name: guarded
steps:
  - id: overview
    check: SELECT idle FROM pg_stat_activity
    metrics:
      idle: {}
  - id: calm
    when: not (history.avg('overview.idle', '1d') > 100)
    check: SELECT 1 AS one
"#;
    let record = run_with(yaml, Past::default(), &mut idle_now("30"));
    assert_eq!(
        statuses(&record)[1],
        (
            "calm",
            Status::Skipped,
            "not enough history yet (0 samples)"
        )
    );
    let record = run_with(yaml, past(&[(600, 50.0)]), &mut idle_now("30"));
    assert_eq!(
        statuses(&record)[1],
        ("calm", Status::Ok, "0 rows"),
        "average 40: it ran"
    );
}

#[test]
fn a_warning_says_what_is_wrong_and_its_record_what_was_undecided() {
    let yaml =
        format!("{SHORT}      - warning: idle > 10\n        message: \"{{{{ idle }}}} idle\"\n");
    let record = run_with(&yaml, Past::default(), &mut idle_now("30"));
    assert_eq!(
        statuses(&record),
        [("overview", Status::Warning, "30 idle")]
    );
    assert_eq!(
        assessment(&record, "overview", 0).message.as_deref(),
        Some("not enough history yet (0 samples)")
    );
}

/// `server()` whose `overview` of the built-in daily-monitoring counts `idle` idle sessions
/// (and nothing else of note); every other check finds no rows.
fn daily_overview(idle: &str) -> FakeTarget {
    let columns = [
        ("total_connections", ColumnKind::Integer),
        ("active", ColumnKind::Integer),
        ("idle", ColumnKind::Integer),
        ("idle_in_transaction", ColumnKind::Integer),
        ("waiting_on_lock", ColumnKind::Integer),
        ("long_running_queries", ColumnKind::Integer),
        ("long_running_pids", ColumnKind::Text),
        ("longest_active", ColumnKind::Interval),
        ("longest_idle_in_transaction", ColumnKind::Interval),
        ("longest_transaction", ColumnKind::Interval),
        ("longest_lock_wait", ColumnKind::Interval),
    ];
    let row: &[&str] = &[
        idle, "0", idle, "0", "0", "0", NULL, "00:00:00", "00:00:00", "00:00:00", "00:00:00",
    ];
    server().on("AS long_running_pids", Answer::typed(&columns, &[row]))
}

#[test]
fn the_built_in_daily_monitoring_warns_of_a_connection_leak_by_its_growth() {
    let yaml = include_str!("../../../playbooks/daily-monitoring.yaml");
    // An hour ago 10 idle, half an hour ago 40; now 70: grew by 60, more than 50.
    let record = run_with(
        yaml,
        past(&[(60, 10.0), (30, 40.0)]),
        &mut daily_overview("70"),
    );
    assert_eq!(
        statuses(&record)[0],
        (
            "overview",
            Status::Warning,
            "idle connections grew by 60 in 1h (more than 50; 70 now) — a connection leak?"
        )
    );
    // Grew by 40 only: OK, and nothing undecided to say.
    let record = run_with(yaml, past(&[(60, 30.0)]), &mut daily_overview("70"));
    assert_eq!(
        statuses(&record)[0],
        (
            "overview",
            Status::Ok,
            "70 client connections: 0 active, 70 idle, 0 idle in a transaction, 0 waiting on a lock"
        )
    );
}

#[test]
fn the_built_in_daily_monitoring_warns_of_utilization_rising_over_the_week() {
    let yaml = include_str!("../../../playbooks/daily-monitoring.yaml");
    let mut target = daily_overview("0").on(
        "AS utilization_percent",
        Answer::typed(
            &[
                ("client_connections", ColumnKind::Integer),
                ("utilization_percent", ColumnKind::Number),
            ],
            &[&["50", "50.0"]],
        ),
    );
    let mut past = Past::default();
    const DAY: i64 = 24 * 60;
    for (minutes_ago, value) in [(6 * DAY, 10.0), (5 * DAY, 10.0), (DAY / 2, 60.0)] {
        let at_ms = NOW_MS - minutes_ago * MINUTE_MS;
        past.push(
            "utilization_trend.utilization_percent",
            Sample { at_ms, value },
        );
    }
    let record = run_with(yaml, past, &mut target);
    let trend = record.steps.iter().find(|s| s.id == "utilization_trend");
    assert_eq!(
        trend.map(|s| (s.status, s.message.as_deref().unwrap_or(""))),
        Some((
            Status::Warning,
            "utilization averaged 55% over the last day, more than 20.0 points above the last 7 days' 32.5% (at most 60%)"
        )),
        "the last day (60, 50 now) against the week (10, 10, 60, 50)"
    );
}
