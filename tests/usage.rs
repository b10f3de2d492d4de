//! One exit code for the user's mistakes: a playbook not found, an unknown `--only` id, a
//! `--var` the playbook does not take, a bad flag — 64 in `run`, `show` and `validate`, each
//! with did-you-mean; 3 (UNKNOWN) under `--nagios`; and `help` never fails.

use crate::common::Test;

/// Where nothing listens: a run that got past its usage checks would fail to connect (3).
const NOWHERE: &str = "postgres://nobody@127.0.0.1:1/x";

const BUILT_IN: &str = "(built-in: connection-cleanup, daily-monitoring, emergency, \
                        pool-optimization, troubleshooting, tview-connections)";

const SMALL: &str = "version: 1\nname: small\nparams:\n  n: { type: integer, default: 0 }\n  \
                     level: { type: string, choices: [low, high], default: low }\n\
                     steps:\n  - id: value\n    check: SELECT {{ params.n }}::int AS n\n";

#[test]
fn an_unknown_playbook_name_is_a_usage_error_in_run_show_and_validate() {
    let error = format!(
        "error: playbook `daily-monitor` not found: no such file, no `./playbooks/daily-monitor.yaml`, \
         and no built-in playbook of that name; did you mean `daily-monitoring`? {BUILT_IN}\n"
    );
    Test::new()
        .args(["run", "daily-monitor"])
        .database_url(NOWHERE)
        .status(64)
        .stderr(&error)
        .run();
    Test::new()
        .args(["validate", "daily-monitor"])
        .status(64)
        .stderr(&error)
        .run();
    Test::new()
        .args(["show", "emergncy"])
        .status(64)
        .stderr(&format!(
            "error: playbook `emergncy` not found: no such file, no `./playbooks/emergncy.yaml`, \
             and no built-in playbook of that name; did you mean `emergency`? {BUILT_IN}\n"
        ))
        .run();
}

#[test]
fn did_you_mean_knows_the_local_playbooks() {
    Test::new()
        .playbook("playbooks/nightly-check.yaml", SMALL)
        .args(["show", "nightly-chek"])
        .status(64)
        .stderr(&format!(
            "error: playbook `nightly-chek` not found: no such file, no `./playbooks/nightly-chek.yaml`, \
             and no built-in playbook of that name; did you mean `nightly-check`? {BUILT_IN}\n"
        ))
        .run();
}

#[test]
fn a_path_is_looked_up_as_a_path_only() {
    Test::new()
        .args(["run", "./bad/nonexist.yaml"])
        .database_url(NOWHERE)
        .status(64)
        .stderr("error: no such file `./bad/nonexist.yaml`\n")
        .run();
    Test::new()
        .file("bad/nonexistent.yaml", SMALL)
        .args(["run", "./bad/nonexist.yaml"])
        .database_url(NOWHERE)
        .status(64)
        .stderr(
            "error: no such file `./bad/nonexist.yaml`; did you mean `./bad/nonexistent.yaml`?\n",
        )
        .run();
    // `small.yaml` is not `./playbooks/small.yaml`: the name is what finds that one.
    Test::new()
        .playbook("playbooks/small.yaml", SMALL)
        .args(["show", "small.yaml"])
        .status(64)
        .stderr("error: no such file `small.yaml`; did you mean the playbook `small`, without the extension?\n")
        .run();
    Test::new()
        .args(["validate", "daily-monitoring.yml"])
        .status(64)
        .stderr("error: no such file `daily-monitoring.yml`; did you mean the playbook `daily-monitoring`, without the extension?\n")
        .run();
    Test::new()
        .file("playbooks/keep", "")
        .args(["show", "playbooks/"])
        .status(64)
        .stderr("error: `playbooks/` is a directory, not a playbook file\n")
        .run();
}

#[test]
fn validate_of_a_missing_file_is_a_usage_error_and_still_checks_the_others() {
    Test::new()
        .playbook("good.yaml", SMALL)
        .playbook("bad.yaml", "version: 1\nsteps: []\n")
        .args(["validate", "good.yaml", "absent.yaml", "bad.yaml"])
        .status(64)
        .stdout("good.yaml: ok (1 step)\n")
        .stderr(
            "error: no such file `absent.yaml`\n\
             error: the playbook has no steps\n --> bad.yaml:2:1\n  |\n2 | steps: []\n  | ^^^^^\n\n\
             bad.yaml: invalid (1 error)\n",
        )
        .run();
}

#[test]
fn an_unknown_only_id_is_a_usage_error_with_did_you_mean() {
    Test::new()
        .args(["run", "daily-monitoring", "--only", "overveiw"])
        .database_url(NOWHERE)
        .status(64)
        .stderr(
            "error: `--only overveiw`: playbook `daily-monitoring` has no step `overveiw`; did you mean \
             `overview`? (steps: overview, blocking, by_client, horizon, pool, utilization_trend, raise_limits)\n",
        )
        .run();
}

#[test]
fn an_unknown_var_is_a_usage_error_with_did_you_mean() {
    Test::new()
        .playbook("small.yaml", SMALL)
        .args(["run", "small.yaml"])
        .var("levl", "high")
        .database_url(NOWHERE)
        .status(64)
        .stderr(
            "error: unknown param `levl` in `--var`; did you mean `level`? (params: n, level)\n",
        )
        .run();
}

#[test]
fn an_invalid_value_of_a_known_var_is_a_usage_error_too() {
    Test::new()
        .playbook("small.yaml", SMALL)
        .args(["run", "small.yaml"])
        .var("n", "many")
        .var("level", "hihg")
        .arg("--var")
        .arg("n")
        .database_url(NOWHERE)
        .status(64)
        .stderr(
            "error: invalid value for param `n` (integer): `many` is not an integer\n\
             error: `hihg` is not a valid value for param `level`; choose one of `low`, `high`\n\
             error: `--var n` is not of the form NAME=VALUE\n",
        )
        .run();
    Test::new()
        .playbook(
            "needs.yaml",
            "version: 1\nparams:\n  app: { type: string, required: true }\nsteps:\n  - id: a\n    check: SELECT 1\n",
        )
        .args(["run", "needs.yaml"])
        .database_url(NOWHERE)
        .status(64)
        .stderr("error: param `app` is required: set it with `--var app=VALUE`\n")
        .run();
}

#[test]
fn a_fleet_runs_var_of_no_param_is_a_usage_error_once() {
    Test::new()
        .playbook("small.yaml", SMALL)
        .args(["run", "small.yaml"])
        .args(["--target", "postgres://nobody@127.0.0.1:1/x"])
        .args(["--target", "postgres://nobody@127.0.0.1:1/y"])
        .var("levl", "high")
        .status(64)
        .stderr(
            "error: unknown param `levl` in `--var`; did you mean `level`? (params: n, level)\n",
        )
        .run();
}

#[test]
fn under_nagios_a_usage_error_stays_an_unknown_answer() {
    Test::new()
        .args(["run", "./bad/nonexist.yaml", "--nagios"])
        .database_url(NOWHERE)
        .status(3)
        .stdout("runbook UNKNOWN: no such file `./bad/nonexist.yaml`\n")
        .stderr("error: no such file `./bad/nonexist.yaml`\n")
        .run();
    Test::new()
        .playbook("small.yaml", SMALL)
        .args(["run", "small.yaml", "--nagios"])
        .var("levl", "high")
        .database_url(NOWHERE)
        .status(3)
        .stdout_contains("small UNKNOWN: unknown param `levl` in `--var`")
        .stderr(
            "error: unknown param `levl` in `--var`; did you mean `level`? (params: n, level)\n",
        )
        .run();
}

#[test]
fn help_never_fails() {
    for args in [
        &["help", "--help"][..],
        &["help", "-h"],
        &["help", "help"],
        &["help"],
        &["--help"],
    ] {
        let outcome = Test::new()
            .args(args.iter().copied())
            .stdout_any("clap's help text")
            .run();
        assert!(
            outcome.stdout.contains("Usage: runbook"),
            "{args:?}: {}",
            outcome.stdout
        );
    }
    for args in [
        &["help", "run"][..],
        &["help", "run", "--help"],
        &["run", "--help"],
    ] {
        let outcome = Test::new()
            .args(args.iter().copied())
            .stdout_any("clap's help text")
            .run();
        assert!(
            outcome
                .stdout
                .contains("Usage: runbook run [OPTIONS] <PLAYBOOK>"),
            "{args:?}: {}",
            outcome.stdout
        );
    }
}
