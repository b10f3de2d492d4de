//! `runbook history`: the runs and metric series a store holds, filtered, as a table (with
//! sparklines), JSON and CSV; an empty store, a missing one, and usage mistakes.

use std::time::Duration;

use crate::common::Test;
use crate::common::db::Database;
use crate::history::{DAY, PLAYBOOK, SUMMARY, entry, hist, with_store};
use runbook::history::store::Store;

#[test]
fn a_run_is_remembered_and_history_lists_it_as_a_table_json_and_csv() {
    let db = Database::new();
    let first = hist(&db).stderr(SUMMARY).run();
    let second = first.again().playbook("hist.yaml", PLAYBOOK);
    let second = second
        .args(["run", "hist.yaml"])
        .database(&db)
        .json_report()
        .stderr(SUMMARY)
        .run();
    let target = second.json()["target"].as_str().unwrap().to_owned();
    let row = format!("  hist      {target}  OK      [..] ms");
    let table = second
        .again()
        .args(["history"])
        .stdout(&format!(
            "STARTED               PLAYBOOK  TARGET[..]STATUS  DURATION  WHY\n[..]{row}\n[..]{row}\n"
        ))
        .run();
    let json = table
        .again()
        .args([
            "history",
            "hist",
            "--metric",
            "usage.used",
            "--format",
            "json",
        ])
        .stdout_any("parsed below")
        .run();
    let points: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let points = points["points"].as_array().unwrap();
    assert_eq!(points.len(), 2, "{points:?}");
    for point in points {
        assert_eq!(point["value"], 42.5);
        assert_eq!(point["metric"], "used");
        assert_eq!(point["target"], target.as_str());
        assert_eq!(point["labels"], serde_json::json!({}));
    }
    let csv = json
        .again()
        .args(["history", "--step", "conns", "--format", "csv"])
        .stdout_any("checked below")
        .run();
    let lines: Vec<&str> = csv.stdout.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "at,at_ms,playbook,target,step,metric,labels,value"
    );
    assert_eq!(lines.len(), 6, "a header, 4 values and the end: {lines:?}");
    assert!(
        lines[1].ends_with(&format!(
            ",hist,{target},conns,n,\"{{\"\"state\"\":\"\"active\"\"}}\",3"
        )),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].ends_with(",conns,n,\"{\"\"state\"\":\"\"idle, old\"\"}\",1"),
        "{}",
        lines[2]
    );
    let sparkline = csv
        .again()
        .args(["history", "--metric", "conns.n"])
        .stdout_any("checked below")
        .run();
    assert!(
        sparkline.stdout.starts_with(&format!(
            "conns.n{{state=active}} on {target} (hist): ▄▄  min 3 max 3 last 3 (2 values)\n"
        )),
        "{}",
        sparkline.stdout
    );
}

#[test]
fn history_filters_by_playbook_target_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite");
    let at = path.display().to_string();
    with_store(&at, async |store| {
        store
            .write(entry("ops@a:5432/x", 3 * DAY, 1.0))
            .await
            .unwrap();
        store
            .write(entry("ops@a:5432/x", Duration::from_secs(60), 2.0))
            .await
            .unwrap();
        let mut other = entry("ops@b:5432/x", Duration::from_secs(30), 3.0);
        other.fleet_name = Some("db-b".to_owned());
        store.write(other).await.unwrap();
    });
    let runs = |args: &[&str]| -> Vec<serde_json::Value> {
        let outcome = Test::new()
            .args(["history", "--history", &at, "--format", "json"])
            .args(args.iter().copied())
            .stdout_any("parsed by the test")
            .stderr_any("an empty answer says so")
            .run();
        let json: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
        json["runs"].as_array().unwrap().clone()
    };
    let targets = |runs: Vec<serde_json::Value>| -> Vec<String> {
        runs.iter()
            .map(|run| run["target"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        targets(runs(&[])),
        ["ops@b:5432/x", "ops@a:5432/x", "ops@a:5432/x"],
        "newest first"
    );
    assert_eq!(
        targets(runs(&["--since", "1h"])),
        ["ops@b:5432/x", "ops@a:5432/x"]
    );
    assert_eq!(targets(runs(&["--target", "db-b"])), ["ops@b:5432/x"]);
    assert_eq!(
        targets(runs(&["--target", "ops@a:5432/x", "--limit", "1"])),
        ["ops@a:5432/x"]
    );
    assert!(runs(&["other-playbook"]).is_empty());
    Test::new()
        .args(["history", "other-playbook", "--history", &at])
        .stderr(&format!("no runs match in the history store `{at}`\n"))
        .run();
}

#[test]
fn history_names_the_store_it_looked_for_and_refuses_bad_usage() {
    let outcome = Test::new()
        .args(["history"])
        .status(1)
        .stderr(
            "error: no history store at `[TMP]/.state/runbook/history.sqlite`: no run has \
             written one there yet\n",
        )
        .run();
    let empty = outcome.path("empty.sqlite");
    with_store(&empty.display().to_string(), async |_: &mut Store| {});
    outcome
        .again()
        .args(["history", "--history", "empty.sqlite", "--format", "json"])
        .stdout("{\n  \"runs\": []\n}\n")
        .stderr("no runs in the history store `empty.sqlite` yet\n")
        .run()
        .again()
        .args(["history", "--step", "b", "--metric", "a.n"])
        .status(64)
        .stderr("error: `--metric a.n` is a metric of step `a`, but `--step` says `b`\n")
        .run()
        .again()
        .args(["history", "--since", "soon"])
        .status(64)
        .stderr_any("clap's own message")
        .run();
}
