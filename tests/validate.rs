//! `runbook validate`: the corpus of invalid playbooks, the built-in playbooks, and hostile
//! input that must never panic.

use std::fs;
use std::time::Instant;

use crate::common::{BUILT_INS, Test, root};

/// Every `tests/invalid/NAME.yaml` must fail with exactly `tests/invalid/NAME.stderr`.
/// `RUNBOOK_BLESS=1 cargo test --test integration validate::` rewrites the expectations (review the diff!).
#[test]
fn invalid_playbooks_report_their_problems_at_their_location() {
    let dir = root().join("tests/invalid");
    let mut cases: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 30,
        "the corpus has only {} playbooks",
        cases.len()
    );
    let bless = std::env::var_os("RUNBOOK_BLESS").is_some();
    let mut failures = Vec::new();
    for case in cases {
        let relative = case.strip_prefix(root()).unwrap().display().to_string();
        let outcome = Test::new()
            .in_root()
            .args(["validate", &relative])
            .status(1)
            .stderr_any("compared below with the .stderr file, every case before failing")
            .run();
        let stderr = outcome.stderr;
        assert!(
            stderr.contains(&format!(" --> {relative}:")),
            "{relative}: every problem needs a file:line:column:\n{stderr}"
        );
        assert!(
            !stderr.contains("panicked"),
            "{relative} panicked:\n{stderr}"
        );
        let expected_path = case.with_extension("stderr");
        if bless {
            fs::write(&expected_path, &stderr).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if stderr != expected {
            failures.push(format!(
                "--- {relative}\nexpected:\n{expected}\nactual:\n{stderr}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_built_in_playbook_is_valid() {
    let mut names: Vec<String> = fs::read_dir(root().join("playbooks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, BUILT_INS, "the built-in playbooks the tests know");
    Test::new()
        .in_root()
        .arg("validate")
        .args(
            BUILT_INS
                .iter()
                .map(|name| format!("playbooks/{name}.yaml")),
        )
        .stdout(
            "playbooks/connection-cleanup.yaml: ok (7 steps)\n\
             playbooks/daily-monitoring.yaml: ok (7 steps)\n\
             playbooks/emergency.yaml: ok (11 steps)\n\
             playbooks/pool-optimization.yaml: ok (7 steps)\n\
             playbooks/troubleshooting.yaml: ok (8 steps)\n\
             playbooks/tview-connections.yaml: ok (6 steps)\n",
        )
        .run();
}

#[test]
fn valid_playbook_reports_ok_and_its_step_count() {
    Test::new()
        .playbook(
            "ok.yaml",
            "version: 1\nsteps:\n  - id: a\n    check: SELECT 1\n  - id: b\n    manual: Done.\n",
        )
        .args(["validate", "ok.yaml"])
        .stdout("ok.yaml: ok (2 steps)\n")
        .run();
}

#[test]
fn raw_interpolation_is_a_warning_not_an_error() {
    let yaml = "version: 1\nparams:\n  table: { type: string, default: t }\nsteps:\n  - id: a\n    check: SELECT * FROM {{ params.table | safe }}\n";
    Test::new()
        .playbook("raw.yaml", yaml)
        .args(["validate", "raw.yaml"])
        .stdout("raw.yaml: ok (1 step, 1 warning)\n")
        .stderr(
            "warning: raw interpolation (`|safe`) in `check` of step `a`: the value is pasted into the SQL unescaped; prefer the default literal escaping or `| ident`\n --> raw.yaml:6:42\n  |\n6 |     check: SELECT * FROM {{ params.table | safe }}\n  |                                          ^^^^^^\n\n",
        )
        .run();
}

#[test]
fn validates_several_playbooks_and_a_missing_one_is_a_usage_error() {
    Test::new()
        .playbook(
            "good.yaml",
            "version: 1\nsteps:\n  - id: a\n    check: SELECT 1\n",
        )
        .playbook("bad.yaml", "version: 1\nsteps: []\n")
        .args(["validate", "good.yaml", "bad.yaml", "missing"])
        .status(64)
        .stdout("good.yaml: ok (1 step)\n")
        .stderr(
            "error: the playbook has no steps\n --> bad.yaml:2:1\n  |\n2 | steps: []\n  | ^^^^^\n\n\
             bad.yaml: invalid (1 error)\n\
             error: playbook `missing` not found: no such file, no `./playbooks/missing.yaml`, and no built-in playbook of that name (built-in: connection-cleanup, daily-monitoring, emergency, pool-optimization, troubleshooting, tview-connections)\n",
        )
        .run();
}

#[test]
fn missing_playbook_suggests_a_built_in() {
    Test::new()
        .args(["validate", "daily-monitorin"])
        .status(64)
        .stderr("error: playbook `daily-monitorin` not found: no such file, no `./playbooks/daily-monitorin.yaml`, and no built-in playbook of that name; did you mean `daily-monitoring`? (built-in: connection-cleanup, daily-monitoring, emergency, pool-optimization, troubleshooting, tview-connections)\n")
        .run();
}

#[test]
fn binary_garbage_is_rejected_with_its_position() {
    Test::new()
        .file("garbage.yaml", b"version: 1\nsteps: \xff\xfe\x00\x01")
        .args(["validate", "garbage.yaml"])
        .status(1)
        .stderr("error: garbage.yaml:2:8: the file is not UTF-8 text (invalid byte at offset 18)\n")
        .run();
}

#[test]
fn alias_bomb_is_refused_without_hanging() {
    let mut yaml = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = i - 1;
        yaml.push_str(&format!("a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"));
    }
    yaml.push_str("version: 1\nsteps: [*a11]\n");
    let start = Instant::now();
    Test::new()
        .playbook("bomb.yaml", &yaml)
        .args(["validate", "bomb.yaml"])
        .status(1)
        .stderr(
            "error: invalid YAML: repetition limit exceeded\n --> bomb.yaml\n\nbomb.yaml: invalid (1 error)\n"
        )
        .run();
    assert!(start.elapsed().as_secs() < 10);
}

#[test]
fn ten_megabyte_file_is_handled() {
    let mut yaml = String::from("version: 1\ndescription: |\n");
    let line = format!("  {}\n", "x".repeat(98));
    while yaml.len() < 10 * 1024 * 1024 {
        yaml.push_str(&line);
    }
    yaml.push_str("steps:\n  - id: a\n    check: SELECT 1\n");
    Test::new()
        .playbook("big.yaml", &yaml)
        .args(["validate", "big.yaml"])
        .stdout("big.yaml: ok (1 step)\n")
        .run();
}

#[test]
fn ten_thousand_steps_validate() {
    let mut yaml = String::from(
        "version: 1\nparams:\n  idle_after: { type: duration, default: 1h }\nsteps:\n",
    );
    for i in 0..10_000 {
        yaml.push_str(&format!(
            "  - id: s{i}\n    check: SELECT count(*) AS n FROM pg_stat_activity WHERE state_change < now() - {{{{ params.idle_after }}}}\n    assess:\n      - warning: n > {i}\n"
        ));
    }
    Test::new()
        .playbook("many.yaml", &yaml)
        .args(["validate", "many.yaml"])
        .stdout("many.yaml: ok (10000 steps)\n")
        .run();
}

#[test]
fn usage_errors_exit_64() {
    Test::new()
        .args(["validate"])
        .status(64)
        .stderr(
            "error: the following required arguments were not provided:\n  <PLAYBOOK>...\n\nUsage: runbook validate <PLAYBOOK>...\n\nFor more information, try '--help'.\n"
        )
        .run();
    Test::new()
        .args(["frobnicate"])
        .status(64)
        .stderr(
            "error: unrecognized subcommand 'frobnicate'\n\nUsage: runbook <COMMAND>\n\nFor more information, try '--help'.\n"
        )
        .run();
    Test::new()
        .args(["--version"])
        .stdout("runbook 0.1.0\n")
        .run();
}
