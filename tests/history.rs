//! The history's writing side: every run remembered in a real SQLite file (or the local
//! PostgreSQL), written whole even when runs overlap, pruned by age, never a failed check when
//! the store cannot be written, never holding a password. (`history_command` reads it back.)

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use runbook::history::store::{Access, Entry, MetricEntry, StepEntry, Store};

use crate::common::db::Database;
use crate::common::{Test, Unwritable, history_store};

/// Two checks with declared metrics, one labelled.
pub(crate) const PLAYBOOK: &str = r#"version: 1
name: hist
steps:
  - id: conns
    check: SELECT * FROM (VALUES ('active', 3), ('idle, old', 1)) AS t(state, n)
    metrics:
      n:
        labels: [state]
  - id: usage
    check: SELECT 42.5 AS used
    metrics:
      used:
        unit: "%"
"#;

pub(crate) const SUMMARY: &str = "hist: OK — 2 steps — report: report.json\n";

pub(crate) fn hist(db: &Database) -> Test {
    Test::new()
        .playbook("hist.yaml", PLAYBOOK)
        .args(["run", "hist.yaml"])
        .database(db)
        .json_report()
}

/// Runs `work` on a store through the library's own API.
pub(crate) fn with_store<T>(location: &str, work: impl AsyncFnOnce(&mut Store) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let location = runbook::history::store::Location::of(Some(location)).unwrap();
        let mut store = Store::open(&location, Access::Write).await.unwrap();
        let answer = work(&mut store).await;
        store.close().await;
        answer
    })
}

/// A run of `hist` on `target` that started `ago` before now, with `usage.used` = `used`.
pub(crate) fn entry(target: &str, ago: Duration, used: f64) -> Entry {
    let started = SystemTime::now() - ago;
    Entry {
        playbook: "hist".to_owned(),
        target: target.to_owned(),
        fleet_name: None,
        started_ms: started.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64,
        duration_ms: 12,
        mode: "live".to_owned(),
        status: "OK".to_owned(),
        exit_code: 0,
        why: None,
        steps: vec![StepEntry {
            id: "usage".to_owned(),
            status: "OK".to_owned(),
            message: None,
            duration_ms: 3,
        }],
        metrics: vec![MetricEntry {
            step: "usage".to_owned(),
            name: "used".to_owned(),
            unit: "%".to_owned(),
            labels: "{}".to_owned(),
            value: used,
        }],
    }
}

fn sqlite(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

fn count(connection: &rusqlite::Connection, sql: &str) -> i64 {
    connection.query_row(sql, [], |row| row.get(0)).unwrap()
}

pub(crate) const DAY: Duration = Duration::from_secs(24 * 60 * 60);

#[test]
fn no_history_writes_nothing() {
    let db = Database::new();
    let outcome = hist(&db).arg("--no-history").stderr(SUMMARY).run();
    assert!(!history_store(&outcome.path("")).exists());
}

#[test]
fn overlapping_runs_and_a_fleet_on_one_store_lose_no_record_and_leave_none_half_written() {
    let db = Database::new();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("shared.sqlite");
    let at = store.display().to_string();
    let runs: Vec<_> = (0..8)
        .map(|_| {
            Test::new()
                .args(["run", "daily-monitoring", "--history", &at])
                .var("database", &db.name)
                .database(&db)
                .json_report()
                .status_any("eight at once on a shared server")
                .stderr_any("eight at once on a shared server")
                .spawn()
        })
        .collect();
    let targets = [Database::new(), Database::new(), Database::new()];
    let mut fleet = Test::new()
        .args(["run", "daily-monitoring", "--history", &at])
        .var("database", &db.name)
        .status_any("a shared server")
        .stderr_any("a fleet's summary");
    for target in &targets {
        fleet = fleet.args(["--target", &target.url()]);
    }
    let fleet = fleet.spawn();
    for run in runs {
        let outcome = run.wait();
        assert!(outcome.status < 3, "{}", outcome.stderr);
        assert!(!outcome.stderr.contains("history"), "{}", outcome.stderr);
    }
    let fleet = fleet.wait();
    assert!(!fleet.stderr.contains("history"), "{}", fleet.stderr);
    let connection = sqlite(&store);
    assert_eq!(count(&connection, "SELECT count(*) FROM runs"), 11);
    assert_eq!(
        count(
            &connection,
            "SELECT count(*) FROM runs WHERE fleet_name IS NOT NULL"
        ),
        3
    );
    // Every run whole: each has every step of the playbook and every unlabelled metric (the
    // labelled ones are one per row, and rows differ from run to run).
    let per_run = |rows: &str| {
        let sql = format!(
            "SELECT count(DISTINCT n) FROM (SELECT (SELECT count(*) FROM {rows} AND t.run_id = r.id) AS n FROM runs r)"
        );
        count(&connection, &sql)
    };
    assert_eq!(
        per_run("steps t WHERE true"),
        1,
        "every run has as many steps"
    );
    assert_eq!(
        per_run("metrics t WHERE t.labels = '{}'"),
        1,
        "every run has its unlabelled metrics"
    );
    assert!(
        count(
            &connection,
            "SELECT count(*) FROM metrics WHERE labels = '{}'"
        ) >= 11 * 5
    );
}

#[test]
fn runs_older_than_the_retention_are_pruned_by_a_later_run() {
    let db = Database::new();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("h.sqlite");
    let at = store.display().to_string();
    let target = "ops@old:5432/x";
    with_store(&at, async |store| {
        for days in [40, 31, 29, 1] {
            store.write(entry(target, DAY * days, 1.0)).await.unwrap();
        }
    });
    hist(&db).args(["--history", &at]).stderr(SUMMARY).run();
    let connection = sqlite(&store);
    let ages: Vec<i64> = connection
        .prepare("SELECT started_ms FROM runs WHERE target = ?1 ORDER BY started_ms")
        .unwrap()
        .query_map([target], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        ages.len(),
        2,
        "the runs of 29 and 1 days ago are kept: {ages:?}"
    );
    assert_eq!(count(&connection, "SELECT count(*) FROM runs"), 3);
    assert_eq!(
        count(
            &connection,
            "SELECT count(*) FROM metrics WHERE run_id NOT IN (SELECT id FROM runs)"
        ),
        0,
        "no metric outlives its run"
    );
    hist(&db)
        .args(["--history", &at, "--history-keep", "2"])
        .stderr(SUMMARY)
        .run();
    assert_eq!(count(&sqlite(&store), "SELECT count(*) FROM runs"), 3);
}

#[test]
fn a_corrupt_store_is_a_warning_and_is_left_as_it_was() {
    let db = Database::new();
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
    let outcome = hist(&db)
        .file("bad.sqlite", &garbage)
        .args(["--history", "bad.sqlite"])
        .stderr(
            "hist: OK — 2 steps — report: report.json — warning: the run is not in the history: \
             cannot open the history store `bad.sqlite`: file is not a database\n",
        )
        .run();
    assert_eq!(
        outcome.json()["notes"],
        serde_json::json!([
            "the run is not in the history: cannot open the history store `bad.sqlite`: file is not a database"
        ])
    );
    assert_eq!(std::fs::read(outcome.path("bad.sqlite")).unwrap(), garbage);
}

#[test]
fn a_store_locked_past_the_busy_timeout_is_a_warning_and_the_exit_code_stands() {
    let db = Database::new();
    let first = hist(&db)
        .args(["--history", "h.sqlite"])
        .stderr(SUMMARY)
        .run();
    let holder = sqlite(&first.path("h.sqlite"));
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let locked = first
        .again()
        .playbook("hist.yaml", &PLAYBOOK.replace("42.5 AS used", "99 AS used"))
        .args(["run", "hist.yaml", "--history", "h.sqlite"])
        .database(&db)
        .json_report()
        .env("RUNBOOK_HISTORY_BUSY_MS", "200")
        .stderr(
            "hist: OK — 2 steps — report: report.json — warning: the run is not in the history: \
             the history store `h.sqlite` failed: database is locked\n",
        )
        .run();
    holder.execute_batch("ROLLBACK").unwrap();
    let notes = locked.json()["notes"].clone();
    assert_eq!(
        notes[0],
        "the run is not in the history: the history store `h.sqlite` failed: database is locked"
    );
    let connection = sqlite(&locked.path("h.sqlite"));
    assert_eq!(count(&connection, "SELECT count(*) FROM runs"), 1);
    assert_eq!(
        count(&connection, "SELECT count(*) FROM metrics WHERE value = 99"),
        0
    );
}

#[test]
fn an_unwritable_directory_is_a_warning_that_names_it() {
    let db = Database::new();
    let test = hist(&db);
    let directory = test.dir().join("ro");
    std::fs::create_dir(&directory).unwrap();
    let guard = Unwritable::new(&directory);
    let outcome = test
        .args(["--history", "ro/h.sqlite"])
        .stderr(
            "hist: OK — 2 steps — report: report.json — warning: the run is not in the history: \
             cannot open the history store `ro/h.sqlite`: [..]\n",
        )
        .run();
    drop(guard);
    assert!(!outcome.path("ro/h.sqlite").exists());
}

#[test]
fn the_shared_postgres_store_is_created_once_by_runs_at_once_and_holds_no_password() {
    let db = Database::new();
    let store = Database::new();
    let secret = "s3cret-history-pw";
    let url = format!("postgres://root:{secret}@localhost:5432/{}", store.name);
    let runs: Vec<_> = (0..2)
        .map(|_| hist(&db).args(["--history", &url]).stderr(SUMMARY).spawn())
        .collect();
    for run in runs {
        run.wait();
    }
    assert_eq!(store.psql("SELECT count(*) FROM runbook_history.runs"), "2");
    assert_eq!(
        store.psql("SELECT version FROM runbook_history.version"),
        "1"
    );
    let everything = store.psql(
        "SELECT (SELECT string_agg(r::text, ' ') FROM runbook_history.runs r)
             || (SELECT string_agg(s::text, ' ') FROM runbook_history.steps s)
             || (SELECT string_agg(m::text, ' ') FROM runbook_history.metrics m)",
    );
    assert!(
        everything.contains("usage") && !everything.contains(secret),
        "{everything}"
    );
    let listed = Test::new()
        .args(["history", "--history", &url, "--format", "csv"])
        .stdout_any("checked below")
        .run();
    assert_eq!(
        listed.stdout.matches(",hist,").count(),
        2,
        "{}",
        listed.stdout
    );
    let unreachable = format!("postgres://root:{secret}@127.0.0.1:1/nowhere");
    let outcome = hist(&db)
        .args(["--history", &unreachable])
        .env("PGCONNECT_TIMEOUT", "1")
        .stderr(
            "hist: OK — 2 steps — report: report.json — warning: the run is not in the history: \
             cannot open the history store `root@127.0.0.1:1/nowhere`: [..]\n",
        )
        .run();
    assert!(!outcome.stderr.contains(secret));
    assert!(!outcome.read("report.json").contains(secret));
}

#[test]
fn a_fleet_whose_store_cannot_be_written_says_so_once_on_its_summary_line() {
    let targets = [Database::new(), Database::new()];
    let mut fleet = Test::new()
        .playbook("hist.yaml", PLAYBOOK)
        .file(
            "bad.sqlite",
            "not a database, not at all: garbage bytes ".repeat(100),
        )
        .args([
            "run",
            "hist.yaml",
            "--history",
            "bad.sqlite",
            "--report-dir",
            "out",
        ])
        .stderr_any("checked below");
    for target in &targets {
        fleet = fleet.args(["--target", &target.url()]);
    }
    let outcome = fleet.run();
    let summary = outcome.stderr.lines().last().unwrap_or_default();
    assert!(
        summary.ends_with(
            ": the run is not in the history: cannot open the history store `bad.sqlite`: \
             file is not a database)"
        ),
        "{}",
        outcome.stderr
    );
    assert!(
        summary.contains(" — warning: 2 targets are not in the history ("),
        "{summary}"
    );
    assert!(summary.starts_with("hist: OK"), "{summary}");
}

/// Both stores give a run the past of the metrics its playbook's `history.*` reads, and only
/// those: the shared PostgreSQL store too.
#[test]
fn the_postgres_store_gives_the_past_of_the_metrics_asked_for() {
    let store = Database::new();
    let url = format!("postgres://root@localhost:5432/{}", store.name);
    let asked = ["usage.used".to_owned()];
    let (series, unasked) = with_store(&url, async |store: &mut Store| {
        for (ago, used) in [(120, 40.0), (60, 45.0)] {
            let written = entry("t", Duration::from_secs(ago), used);
            store.write(written).await.unwrap();
        }
        let past = store.past("hist", "t", &asked, 0).await.unwrap();
        let series: Vec<f64> = past.series("usage.used").iter().map(|s| s.value).collect();
        let unasked = store.past("hist", "t", &[], 0).await.unwrap();
        (series, unasked.is_empty())
    });
    assert_eq!(series, [40.0, 45.0]);
    assert!(unasked);
}

/// A playbook that reads its history asks the store twice (its past, then its run): a store
/// that cannot be opened is still said once.
#[test]
fn a_store_that_cannot_be_opened_is_said_once_when_the_past_is_asked_too() {
    let db = Database::new();
    let remembering = PLAYBOOK.replace(
        "        unit: \"%\"\n",
        "        unit: \"%\"\n    assess:\n      - warning: history.previous('usage.used') > 90\n",
    );
    let outcome = Test::new()
        .playbook("hist.yaml", &remembering)
        .args(["run", "hist.yaml"])
        .database(&db)
        .json_report()
        .file(
            "bad.sqlite",
            b"not a database, not at all, not even close to one........",
        )
        .args(["--history", "bad.sqlite"])
        .stderr_any("checked below: the warning's text")
        .run();
    let notes = outcome.json()["notes"].clone();
    assert_eq!(
        notes,
        serde_json::json!([
            "the run is not in the history: cannot open the history store `bad.sqlite`: file is not a database"
        ]),
        "{notes}"
    );
}
