//! `runbook validate`: the corpus of invalid playbooks, the built-in playbooks, and hostile
//! input that must never panic.

mod common;

use std::fs;
use std::time::Instant;

use common::{Test, root, runbook_in_root};

/// Every `tests/invalid/NAME.yaml` must fail with exactly `tests/invalid/NAME.stderr`.
/// `RUNBOOK_BLESS=1 cargo test` rewrites the expectations (review the diff!).
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
        let output = runbook_in_root(["validate", &relative]);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(
            output.status.code(),
            Some(1),
            "{relative} should be invalid:\n{stderr}"
        );
        assert!(output.stdout.is_empty(), "{relative}: nothing on stdout");
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
        .map(|p| format!("playbooks/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    names.sort();
    assert!(!names.is_empty());
    let mut args = vec!["validate".to_owned()];
    args.extend(names.iter().cloned());
    let output = runbook_in_root(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.is_empty(),
        "built-in playbooks validate without warnings:\n{stderr}"
    );
    for name in &names {
        let text = fs::read_to_string(root().join(name)).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schema/playbook.schema.json\n"),
            "{name} must start with the yaml-language-server schema line"
        );
    }
}

#[test]
fn valid_playbook_reports_ok_and_its_step_count() {
    Test::new()
        .playbook(
            "ok.yaml",
            "version: 1\nsteps:\n  - id: a\n    check: SELECT 1\n  - id: b\n    manual: Done.\n",
        )
        .args(["validate", "ok.yaml"])
        .run()
        .code(0)
        .stdout("ok.yaml: ok (2 steps)\n")
        .stderr("");
}

#[test]
fn raw_interpolation_is_a_warning_not_an_error() {
    let yaml = "version: 1\nparams:\n  table: { type: string, default: t }\nsteps:\n  - id: a\n    check: SELECT * FROM {{ params.table | safe }}\n";
    Test::new()
        .playbook("raw.yaml", yaml)
        .args(["validate", "raw.yaml"])
        .run()
        .code(0)
        .stdout("raw.yaml: ok (1 step, 1 warning)\n")
        .stderr(
            "warning: raw interpolation (`|safe`) in `check` of step `a`: the value is pasted into the SQL unescaped; prefer the default literal escaping or `| ident`\n --> raw.yaml:6:42\n  |\n6 |     check: SELECT * FROM {{ params.table | safe }}\n  |                                          ^^^^^^\n\n",
        );
}

#[test]
fn validates_several_playbooks_and_fails_if_any_is_invalid() {
    Test::new()
        .playbook(
            "good.yaml",
            "version: 1\nsteps:\n  - id: a\n    check: SELECT 1\n",
        )
        .playbook("bad.yaml", "version: 1\nsteps: []\n")
        .args(["validate", "good.yaml", "bad.yaml", "missing"])
        .run()
        .code(1)
        .stdout("good.yaml: ok (1 step)\n");
}

#[test]
fn missing_playbook_suggests_a_built_in() {
    let outcome = Test::new()
        .args(["validate", "daily-monitorin"])
        .run()
        .code(1);
    assert!(
        outcome.stderr.starts_with("error: playbook `daily-monitorin` not found: no such file, no `./playbooks/daily-monitorin.yaml`, and no built-in playbook of that name; did you mean `daily-monitoring`?"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn binary_garbage_is_rejected_with_its_position() {
    let test = Test::new();
    fs::write(
        test.dir().join("garbage.yaml"),
        b"version: 1\nsteps: \xff\xfe\x00\x01",
    )
    .unwrap();
    test.args(["validate", "garbage.yaml"])
        .run()
        .code(1)
        .stderr(
            "error: garbage.yaml:2:8: the file is not UTF-8 text (invalid byte at offset 18)\n",
        );
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
    let outcome = Test::new()
        .playbook("bomb.yaml", &yaml)
        .args(["validate", "bomb.yaml"])
        .run()
        .code(1);
    assert!(start.elapsed().as_secs() < 10);
    assert!(
        outcome
            .stderr
            .contains("error: invalid YAML: repetition limit exceeded"),
        "{}",
        outcome.stderr
    );
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
        .run()
        .code(0)
        .stdout("big.yaml: ok (1 step)\n");
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
        .run()
        .code(0)
        .stdout("many.yaml: ok (10000 steps)\n");
}

#[test]
fn usage_errors_exit_64() {
    Test::new().args(["validate"]).run().code(64);
    Test::new().args(["frobnicate"]).run().code(64);
    Test::new().args(["--version"]).run().code(0);
}
