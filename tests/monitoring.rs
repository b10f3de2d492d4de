//! `--nagios` and `--metrics`, as a monitoring system reads them: the plugin answer through a
//! strict parser of the guidelines' syntax (`common::plugin`), the Prometheus text through
//! the Python client's own parser, both checked against the numbers of the JSON report; the
//! exit code of every outcome under `--nagios`; and the atomic write of the metrics file.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::db::Database;
use crate::common::plugin::{self, Perf};
use crate::common::{Outcome, Test, Unwritable};
use crate::report_schema::{fleet_results, fleet_run};

/// Two checks with declared metrics: one labelled by a text column over several rows (one
/// label value with a quote and a space), one with units and thresholds.
const PLAYBOOK: &str = r#"version: 1
name: mon
steps:
  - id: conns
    title: Connections by state
    check: SELECT * FROM (VALUES ('active', 3), ('idle in transaction', 1), ('it''s', 0)) AS t(state, n)
    metrics:
      n:
        labels: [state]
        warning: 10
        critical: "{{ params.critical }}"
        min: 0
  - id: usage
    check: SELECT interval '90.5 seconds' AS longest, 42.5 AS used, 1048576 AS size, 7 AS xacts
    metrics:
      longest:
      used:
        unit: "%"
        warning: "~:70"
        max: 100
      size:
        unit: B
      xacts:
        unit: c
params:
  critical:
    type: integer
    default: 20
"#;

/// What the plugin answer of a run of `PLAYBOOK` says.
const ANSWER: &str = "mon OK: 2 steps | 'conns.n.active'=3;10;20;0 'conns.n.idle in transaction'=1;10;20;0 'conns.n.it''s'=0;10;20;0 'usage.longest'=90.5s 'usage.used'=42.5%;~:70;;;100 'usage.size'=1048576B 'usage.xacts'=7c\n";

fn mon(db: &Database) -> Test {
    Test::new()
        .playbook("mon.yaml", PLAYBOOK)
        .args(["run", "mon.yaml"])
        .database(db)
}

/// The JSON report's metric values, as (perfdata label, value) in report order.
pub(crate) fn report_metrics(outcome: &Outcome) -> Vec<(String, f64)> {
    let report = outcome.json();
    let mut values = Vec::new();
    for step in report["steps"].as_array().expect("steps") {
        for metric in step["metrics"].as_array().expect("metrics") {
            let mut label = format!(
                "{}.{}",
                step["id"].as_str().unwrap(),
                metric["name"].as_str().unwrap()
            );
            for value in metric["labels"].as_object().unwrap().values() {
                label.push('.');
                label.push_str(value.as_str().unwrap());
            }
            values.push((label, metric["value"].as_f64().expect("a number")));
        }
    }
    values
}

#[test]
fn the_plugin_answer_parses_and_its_perfdata_are_the_reports_numbers() {
    let db = Database::new();
    let outcome = mon(&db).arg("--nagios").json_report().stdout(ANSWER).run();
    let answer = plugin::parse(&outcome.stdout).unwrap();
    assert_eq!(
        (answer.name.as_str(), answer.status.as_str()),
        ("mon", "OK")
    );
    let perfdata: Vec<(String, f64)> = answer
        .perfdata
        .iter()
        .map(|p: &Perf| (p.label.clone(), p.value.expect("a value")))
        .collect();
    let expected = report_metrics(&outcome);
    assert_eq!(expected.len(), 7, "{expected:?}");
    assert_eq!(perfdata, expected);
    assert!(answer.long.is_empty());
}

/// A one-step playbook whose check gives `n`, WARNING above 5 and CRITICAL above 10.
fn judged(n: i32) -> Test {
    let yaml = format!(
        "version: 1\nname: judged\nsteps:\n  - id: count\n    check: SELECT {n} AS n\n    metrics:\n      n:\n        warning: 5\n        critical: 10\n    assess:\n      - critical: n > 10\n        message: \"n is {{{{ n }}}}; above 10 | much\"\n      - warning: n > 5\n        message: \"n is {{{{ n }}}}, above 5\"\n"
    );
    Test::new()
        .playbook("judged.yaml", &yaml)
        .args(["run", "judged.yaml", "--nagios", "--quiet"])
}

#[test]
fn under_nagios_ok_warning_and_critical_keep_their_exit_codes() {
    let db = Database::new();
    let ok = judged(1)
        .database(&db)
        .stdout("judged OK: 1 step | 'count.n'=1;5;10\n")
        .run();
    plugin::parse(&ok.stdout).unwrap();
    let warning = judged(7)
        .database(&db)
        .status(1)
        .stdout("judged WARNING: `count`: n is 7, above 5 | 'count.n'=7;5;10\nWARNING count: n is 7, above 5\n")
        .run();
    plugin::parse(&warning.stdout).unwrap();
    // The message's `;` and `|` would break the syntax: they are replaced.
    let critical = judged(12)
        .database(&db)
        .status(2)
        .stdout("judged CRITICAL: `count`: n is 12, above 10 / much | 'count.n'=12;5;10\nCRITICAL count: n is 12, above 10 / much\n")
        .run();
    plugin::parse(&critical.stdout).unwrap();
}

#[test]
fn under_nagios_a_server_not_listening_is_unknown_and_its_metrics_still_written() {
    let outcome = judged(1)
        .clean_connection_env()
        .database_url("postgres://nobody@127.0.0.1:1/x")
        .args(["--metrics", "m.prom"])
        .status(3)
        .stdout("judged UNKNOWN: cannot connect to `nobody@127.0.0.1:1/x`: error communicating with database: Connection refused (os error 111) (retried for [..] s)\n")
        .stderr("error: cannot connect to `nobody@127.0.0.1:1/x`: error communicating with database: Connection refused (os error 111) (retried for [..] s)\n")
        .run();
    let answer = plugin::parse(&outcome.stdout).unwrap();
    assert_eq!(answer.status, "UNKNOWN");
    let families = prometheus_families(&outcome.read("m.prom"));
    assert_eq!(
        sample(&families, "runbook_run_status", "runbook_run_status", &[]),
        3.0
    );
    assert_eq!(
        sample(
            &families,
            "runbook_step_status",
            "runbook_step_status",
            &[("step", "count")]
        ),
        -2.0,
        "the step did not run"
    );
}

#[test]
fn under_nagios_an_action_not_approved_is_unknown_not_4() {
    let db = Database::new();
    let yaml = "version: 1\nname: act\nsteps:\n  - id: act\n    action: SELECT 1 AS done\n";
    let outcome = Test::new()
        .playbook("act.yaml", yaml)
        .args(["run", "act.yaml", "--nagios"])
        .database(&db)
        .json_report()
        .status(3)
        .stdout("act UNKNOWN: the run stopped: `act`: not approved: no terminal to ask and no `--yes`\n")
        .run();
    assert_eq!(
        outcome.json()["exit_code"],
        4,
        "the report keeps the run's own code"
    );
    plugin::parse(&outcome.stdout).unwrap();
}

#[test]
fn under_nagios_a_usage_error_is_unknown_not_64() {
    let outcome = Test::new()
        .args(["run", "x.yaml", "--nagios", "--no-such-flag"])
        .status(3)
        .stdout("runbook UNKNOWN: unexpected argument '--no-such-flag' found\n")
        .stderr_any("clap's own usage text")
        .run();
    plugin::parse(&outcome.stdout).unwrap();
    Test::new()
        .args(["run", "x.yaml", "--no-such-flag"])
        .status(64)
        .stderr_any("clap's own usage text")
        .run();
    Test::new()
        .args(["run", "x.yaml", "--nagios", "--report", "-"])
        .status(3)
        .stdout("runbook UNKNOWN: `--nagios` and `--report -` cannot share standard output: give the others a path\n")
        .stderr("error: `--nagios` and `--report -` cannot share standard output: give the others a path\n")
        .run();
    Test::new()
        .playbook("mon.yaml", PLAYBOOK)
        .args(["run", "mon.yaml", "--nagios", "--only", "nope"])
        .status(3)
        .stdout(
            "mon UNKNOWN: `--only nope`: playbook `mon` has no step `nope` (steps: conns, usage)\n",
        )
        .stderr("error: `--only nope`: playbook `mon` has no step `nope` (steps: conns, usage)\n")
        .run();
}

/// A parsed metric family: name, type, and samples (name, labels, value).
#[derive(Debug, serde::Deserialize)]
struct Family {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    help: String,
    samples: Vec<Sample>,
}

#[derive(Debug, serde::Deserialize)]
struct Sample {
    name: String,
    labels: std::collections::BTreeMap<String, String>,
    value: f64,
}

const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
print(json.dumps([
    {"name": f.name, "type": f.type, "help": f.documentation,
     "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]}
    for f in text_string_to_metric_families(sys.stdin.read())
]))
"#;

/// The families of a Prometheus text, as `prometheus_client`'s parser reads them. Without
/// the module (`pip install prometheus-client==0.26.0`, as `.ci/run` does) this fails.
fn prometheus_families(text: &str) -> Vec<Family> {
    let mut child = Command::new("python3")
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3 (needed to check the Prometheus output)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the Prometheus parser failed (is `prometheus_client` installed? `pip install prometheus-client==0.26.0`):\n{}\n--- text\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the parser's JSON")
}

/// The value of the sample `name` of family `family` whose labels include `labels`.
fn sample(families: &[Family], family: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let family = families
        .iter()
        .find(|f| f.name == family)
        .unwrap_or_else(|| panic!("no family `{family}` in {families:#?}"));
    let found: Vec<&Sample> = family
        .samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?} in {family:#?}");
    found[0].value
}

#[test]
fn the_metrics_parse_with_prometheus_own_parser_and_are_the_reports_numbers() {
    let db = Database::new();
    let outcome = mon(&db)
        .args(["--metrics", "-", "--quiet"])
        .json_report()
        .stdout_any("parsed below by prometheus_client")
        .run();
    let families = prometheus_families(&outcome.stdout);
    let names: Vec<(&str, &str)> = families
        .iter()
        .map(|f| (f.name.as_str(), f.kind.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("runbook_run_status", "gauge"),
            ("runbook_run_duration_seconds", "gauge"),
            ("runbook_run_timestamp_seconds", "gauge"),
            ("runbook_step_status", "gauge"),
            ("runbook_step_duration_seconds", "gauge"),
            ("runbook_conns_n", "gauge"),
            ("runbook_usage_longest_seconds", "gauge"),
            ("runbook_usage_used_percent", "gauge"),
            ("runbook_usage_size_bytes", "gauge"),
            // The parser names a counter's family without its `_total`; the sample keeps it.
            ("runbook_usage_xacts", "counter"),
        ]
    );
    assert!(families.iter().all(|f| !f.help.is_empty()));
    let report = outcome.json();
    let target = report["target"].as_str().unwrap();
    for family in &families {
        for sample in &family.samples {
            assert_eq!(sample.labels["playbook"], "mon");
            assert_eq!(sample.labels["target"], target);
        }
    }
    assert_eq!(
        sample(&families, "runbook_run_status", "runbook_run_status", &[]),
        0.0
    );
    assert_eq!(
        sample(
            &families,
            "runbook_run_duration_seconds",
            "runbook_run_duration_seconds",
            &[]
        ),
        report["duration_ms"].as_f64().unwrap() / 1000.0
    );
    let started = report["started_at"].as_str().unwrap();
    let started = humantime::parse_rfc3339(started).unwrap();
    let started = started
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert_eq!(
        sample(
            &families,
            "runbook_run_timestamp_seconds",
            "runbook_run_timestamp_seconds",
            &[]
        ),
        started
    );
    for step in ["conns", "usage"] {
        assert_eq!(
            sample(
                &families,
                "runbook_step_status",
                "runbook_step_status",
                &[("step", step)]
            ),
            0.0
        );
    }
    let value = |family: &str, name: &str, labels: &[(&str, &str)]| {
        let mut labels = labels.to_vec();
        labels.push((
            "step",
            if family.contains("conns") {
                "conns"
            } else {
                "usage"
            },
        ));
        sample(&families, family, name, &labels)
    };
    let exported = vec![
        value("runbook_conns_n", "runbook_conns_n", &[("state", "active")]),
        value(
            "runbook_conns_n",
            "runbook_conns_n",
            &[("state", "idle in transaction")],
        ),
        value("runbook_conns_n", "runbook_conns_n", &[("state", "it's")]),
        value(
            "runbook_usage_longest_seconds",
            "runbook_usage_longest_seconds",
            &[],
        ),
        value(
            "runbook_usage_used_percent",
            "runbook_usage_used_percent",
            &[],
        ),
        value("runbook_usage_size_bytes", "runbook_usage_size_bytes", &[]),
        value("runbook_usage_xacts", "runbook_usage_xacts_total", &[]),
    ];
    let expected: Vec<f64> = report_metrics(&outcome)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(exported, expected);
}

/// The names in `directory`, sorted.
fn names(directory: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(directory)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_metrics_file_is_replaced_by_a_rename_readable_by_all() {
    let db = Database::new();
    let first = mon(&db)
        .file("metrics/keep", "")
        .args([
            "--metrics",
            "metrics/runbook.prom",
            "--quiet",
            "--report",
            "r.md",
        ])
        .run();
    let path = first.path("metrics/runbook.prom");
    let before = fs::metadata(&path).unwrap();
    assert_eq!(before.permissions().mode() & 0o777, 0o644);
    prometheus_families(&fs::read_to_string(&path).unwrap());
    let second = first
        .again()
        .playbook("mon.yaml", PLAYBOOK)
        .args([
            "run",
            "mon.yaml",
            "--metrics",
            "metrics/runbook.prom",
            "--quiet",
            "--report",
            "r.md",
        ])
        .database(&db)
        .run();
    let after = fs::metadata(second.path("metrics/runbook.prom")).unwrap();
    assert_ne!(
        before.ino(),
        after.ino(),
        "a new file renamed over the old one"
    );
    assert_eq!(after.permissions().mode() & 0o777, 0o644);
    assert_eq!(
        names(&second.path("metrics")),
        ["keep", "runbook.prom"],
        "no temporary file left behind"
    );
}

#[test]
fn an_unwritable_metrics_directory_is_named_and_leaves_the_old_file() {
    let db = Database::new();
    let test = mon(&db).file("metrics/runbook.prom", "old\n").args([
        "--metrics",
        "metrics/runbook.prom",
        "--quiet",
        "--report",
        "r.md",
    ]);
    let guard = Unwritable::new(&test.dir().join("metrics"));
    let outcome = test
        .status(3)
        .stderr(
            "error: cannot write the metrics to `metrics/runbook.prom`: [..]; nothing was run\n",
        )
        .run();
    drop(guard);
    assert_eq!(outcome.read("metrics/runbook.prom"), "old\n");
    assert_eq!(names(&outcome.path("metrics")), ["runbook.prom"]);
}

#[test]
fn a_symbolic_link_as_the_metrics_path_is_refused_like_a_reports() {
    let db = Database::new();
    let test = mon(&db).file("real.prom", "").args([
        "--metrics",
        "link.prom",
        "--nagios",
        "--report",
        "r.md",
    ]);
    std::os::unix::fs::symlink("real.prom", test.dir().join("link.prom")).unwrap();
    test.status(3)
        .stdout("mon UNKNOWN: cannot write the metrics to `link.prom`: it is a symbolic link, give the path it points to, nothing was run\n")
        .stderr("error: cannot write the metrics to `link.prom`: it is a symbolic link; give the path it points to; nothing was run\n")
        .run();
}

#[test]
fn a_fleet_exposition_parses_with_prometheus_own_parser() {
    let results = fleet_results();
    let text = runbook::outputs::prometheus::render_fleet(&fleet_run(&results));
    let families = prometheus_families(&text);
    let fleet = "runbook_fleet_targets";
    for (status, n) in [
        ("WARNING", 1.0),
        ("UNKNOWN", 1.0),
        ("NOT_RUN", 1.0),
        ("OK", 0.0),
    ] {
        assert_eq!(sample(&families, fleet, fleet, &[("status", status)]), n);
    }
    let status = "runbook_run_status";
    for (target, code) in [("db1", 1.0), ("db7", 3.0), ("db9", 3.0)] {
        let labels = [("playbook", "connection-cleanup"), ("target", target)];
        assert_eq!(sample(&families, status, status, &labels), code);
    }
    let count = "runbook_idle_candidates_count";
    let labels = [
        ("target", "db1"),
        ("step", "idle_candidates"),
        ("state", "idle"),
    ];
    assert_eq!(sample(&families, count, count, &labels), 2.0);
    let durations = families
        .iter()
        .find(|f| f.name == "runbook_run_duration_seconds")
        .map(|f| f.samples.len());
    assert_eq!(
        durations,
        Some(2),
        "a target that did not run has its status only"
    );
}
