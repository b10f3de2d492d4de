//! The store's answers, against a real SQLite file: what a run's `Past` holds, what pruning
//! deletes, and a newer runbook's schema refused.

use rusqlite::Connection;

use super::{Access, Entry, Location, MetricEntry, Store, StoreError};

fn entry(target: &str, started_ms: i64, metrics: &[(&str, &str, f64)]) -> Entry {
    Entry {
        playbook: "p".to_owned(),
        target: target.to_owned(),
        fleet_name: None,
        started_ms,
        duration_ms: 1,
        mode: "live".to_owned(),
        status: "OK".to_owned(),
        exit_code: 0,
        why: None,
        steps: Vec::new(),
        metrics: metrics
            .iter()
            .map(|(name, labels, value)| MetricEntry {
                step: "s".to_owned(),
                name: (*name).to_owned(),
                unit: String::new(),
                labels: (*labels).to_owned(),
                value: *value,
            })
            .collect(),
    }
}

#[tokio::test]
async fn the_past_holds_this_targets_unlabelled_metrics_in_the_window_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::Sqlite(dir.path().join("h.sqlite"));
    let mut store = Store::open(&location, Access::Write).await.unwrap();
    for written in [
        entry(
            "a",
            300,
            &[("idle", "{}", 3.0), ("n", r#"{"db":"x"}"#, 9.0)],
        ),
        entry("a", 100, &[("idle", "{}", 1.0)]),
        entry("a", 200, &[("idle", "{}", 2.0)]),
        entry("a", 50, &[("idle", "{}", 0.5)]),
        entry("b", 250, &[("idle", "{}", 7.0)]),
    ] {
        store.write(written).await.unwrap();
    }
    let asked = ["s.idle".to_owned(), "s.n".to_owned()];
    let past = store.past("p", "a", &asked, 100).await.unwrap();
    let idle: Vec<(i64, f64)> = past
        .series("s.idle")
        .iter()
        .map(|s| (s.at_ms, s.value))
        .collect();
    assert_eq!(idle, [(100, 1.0), (200, 2.0), (300, 3.0)]);
    assert!(
        past.series("s.n").is_empty(),
        "labelled metrics are left out"
    );
    let unasked = store.past("p", "a", &asked[1..], 100).await.unwrap();
    assert!(unasked.is_empty(), "only the metrics asked for are read");
    assert_eq!(store.prune(200).await.unwrap(), 2, "the runs of 50 and 100");
    assert_eq!(
        store
            .past("p", "a", &asked, 0)
            .await
            .unwrap()
            .series("s.idle")
            .len(),
        2
    );
}

#[tokio::test]
async fn a_store_of_a_newer_runbook_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite");
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let location = Location::Sqlite(path);
    let error = Store::open(&location, Access::Write).await.err().unwrap();
    assert!(
        matches!(error, StoreError::Newer { found: 99, .. }),
        "{error}"
    );
}
