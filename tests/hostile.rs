//! The corpus of attacks (`tests/hostile/*.yaml`): checks and previews that try to write,
//! signal, lock or escape, actions that try to signal (approved with `--yes`: only the engine
//! stands in the way), `terminate:` checks that try to break out, and templates that try to
//! run away — each run against the real
//! server, live and as a dry run, and proven harmless there: the table keeps its rows, the
//! victim session lives, the engine's own session holds no advisory lock afterwards, and the
//! run does not end OK.
//!
//! Every playbook declares `victim` (the pid of a session no check may signal) and `expr` (a
//! value the attacker chooses with `--var`: here the call that would kill the victim). The test
//! appends a witness step that runs on the engine's connection after the attack and turns
//! CRITICAL if the attack left an advisory lock behind.

use std::fs;
use std::process::Stdio;

use crate::common::db::Database;
use crate::common::root;

const WITNESS: &str = r#"
  - id: witness
    check: SELECT count(*) AS held FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
    assess:
      - critical: held > 0
        message: the attack left an advisory lock behind
"#;

#[derive(Clone, Copy, Debug)]
enum Mode {
    Live,
    DryRun,
}

/// What one attack did.
struct Aftermath {
    code: i32,
    stderr: String,
    report: Option<serde_json::Value>,
}

fn attack(name: &str, mode: Mode) -> Aftermath {
    let db = Database::new();
    db.psql("CREATE TABLE t AS SELECT generate_series(1, 10) AS id");
    // Functions a team might have, that an attack would call in disguise; and the setting under
    // which the server reads `\'` inside a string as a quote (startup options win over it).
    db.psql(
        "CREATE FUNCTION public.kill(int) RETURNS bool LANGUAGE sql AS 'SELECT pg_terminate_backend($1)';
         CREATE FUNCTION public.json_array(int) RETURNS bool LANGUAGE sql AS 'SELECT pg_terminate_backend($1)';
         CREATE FUNCTION public.merge_action() RETURNS bool LANGUAGE sql AS 'SELECT pg_advisory_lock(99) IS NOT NULL';",
    );
    db.psql(&format!(
        "ALTER DATABASE {} SET standard_conforming_strings = off",
        db.name
    ));
    let victim = db.session_named("victim");
    let source = root().join("tests/hostile").join(format!("{name}.yaml"));
    let yaml = fs::read_to_string(&source).expect("the attack exists");
    // A name of this database's own: the responder's lock is server-wide, and attacks run in
    // parallel; one attack's lock must never be what stops another's action.
    let yaml = match yaml.lines().any(|line| line.starts_with("name:")) {
        true => yaml,
        false => yaml.replacen(
            "version: 1\n",
            &format!("version: 1\nname: {}\n", db.playbook_name("attack")),
            1,
        ),
    };
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("attack.yaml"),
        format!("{}{WITNESS}", yaml.trim_end()),
    )
    .unwrap();
    let mut command = crate::common::runbook_in(dir.path());
    command
        .args(["run", "attack.yaml", "--database-url", &db.url()])
        .args(["--var", &format!("victim={}", victim.pid)])
        .args([
            "--var",
            &format!("expr=pg_terminate_backend({})", victim.pid),
        ])
        .args(["--report", "r.json", "--format", "json", "--quiet"])
        // Every action an attack reaches is approved: only the engine stands in the way.
        .arg("--yes")
        .current_dir(dir.path())
        .stdin(Stdio::null());
    if let Mode::DryRun = mode {
        command.arg("--dry-run");
    }
    let output = command.output().expect("run the binary");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        db.alive(victim.pid),
        "{name} ({mode:?}) killed the victim:\n{stderr}"
    );
    assert_eq!(
        db.psql("SELECT count(*) FROM t"),
        "10",
        "{name} ({mode:?}) changed the table:\n{stderr}"
    );
    let report = fs::read_to_string(dir.path().join("r.json"))
        .ok()
        .map(|text| serde_json::from_str(&text).expect("the report is JSON"));
    Aftermath {
        code: output.status.code().unwrap_or(-1),
        stderr,
        report,
    }
}

/// The attack is refused — by `validate` (nothing runs) or by the engine (the step does not
/// end OK) — and leaves nothing behind, live and in a dry run.
fn refused(name: &str) {
    for mode in [Mode::Live, Mode::DryRun] {
        let after = attack(name, mode);
        let Aftermath { code, stderr, .. } = &after;
        assert_ne!(*code, 0, "{name} ({mode:?}) ended OK:\n{stderr}");
        refused_by_validation_or_the_engine(name, mode, after);
    }
}

/// The attack is defused — the hostile value reaches the server as a literal — and leaves
/// nothing behind; its step may end OK, since what ran was harmless.
fn defused(name: &str) {
    for mode in [Mode::Live, Mode::DryRun] {
        let after = attack(name, mode);
        let report = after.report.expect("a defused attack runs");
        let sql = report["steps"][0]["sql"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            sql.contains("'pg_terminate_backend("),
            "{name} ({mode:?}): the value is not a literal in {sql}"
        );
        assert_eq!(
            witness(&report)["status"],
            "OK",
            "{name} ({mode:?}): {report}"
        );
    }
}

/// The witness step's record.
fn witness(report: &serde_json::Value) -> &serde_json::Value {
    let steps = report["steps"].as_array().unwrap();
    steps.iter().find(|s| s["id"] == "witness").unwrap()
}

/// The attack runs, and the server reads it as the judge did: as harmless text (the victim
/// lives, the table is whole, and the witness sees no lock).
fn harmless(name: &str) {
    for mode in [Mode::Live, Mode::DryRun] {
        let after = attack(name, mode);
        let report = after.report.expect("a harmless attack runs");
        assert_eq!(
            witness(&report)["status"],
            "OK",
            "{name} ({mode:?}): {report}"
        );
    }
}

/// The attack is contained, whichever way the engine stops it (refused by `validate`, refused
/// at run time, or run as the judge read it): the victim lives and the table is whole (both
/// asserted by `attack`), and the engine never lost its own session. For attacks whose first
/// steps are harmless in themselves (an action that changes a setting, a check), so that a
/// step ending OK says nothing. The witness is not consulted: an approved action leaves the
/// engine's own responder lock (an advisory lock) held, which it would report.
fn contained(name: &str) {
    for mode in [Mode::Live, Mode::DryRun] {
        let after = attack(name, mode);
        let Some(report) = &after.report else {
            continue;
        };
        for step in report["steps"].as_array().into_iter().flatten() {
            let message = step["message"].as_str().unwrap_or_default();
            assert!(
                !message.contains("terminating connection")
                    && !message.contains("connection to the server was lost"),
                "{name} ({mode:?}): the engine lost its own session: {report}"
            );
        }
    }
}

fn refused_by_validation_or_the_engine(name: &str, mode: Mode, after: Aftermath) {
    let stderr = &after.stderr;
    let Some(report) = after.report else {
        assert!(
            stderr.contains("is not a valid playbook; nothing was run"),
            "{name} ({mode:?}): no report, and not refused by validation:\n{stderr}"
        );
        return;
    };
    let steps = report["steps"].as_array().unwrap();
    assert_ne!(steps[0]["status"], "OK", "{name} ({mode:?}): {report}");
    for step in &steps[1..] {
        if step["id"] != "witness" {
            assert_ne!(step["status"], "OK", "{name} ({mode:?}): {report}");
        }
    }
    let witness = witness(&report);
    if witness["status"] != "NOT_RUN" {
        assert_eq!(witness["status"], "OK", "{name} ({mode:?}): {report}");
    }
}

macro_rules! attacks {
    ($($outcome:ident: $name:ident),* $(,)?) => {
        const CORPUS: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                $outcome(&stringify!($name).replace('_', "-"));
            }
        )*
    };
}

attacks! {
    refused: action_commits_then_signals,
    // Red team (f25461e): calls the judge does not see as calls, and statements it lets by.
    refused: action_copies_to_a_program,
    refused: action_defines_an_operator,
    refused: action_defines_an_aggregate,
    refused: action_aliases_the_function_in_internal,
    refused: action_sql_body_signals,
    refused: action_procedure_signals,
    refused: action_prepares_a_signal,
    refused: action_signals_in_a_default,
    refused: action_signals_as_a_from_item,
    // An earlier action changes how the server reads later text.
    contained: action_unsets_standard_conforming_strings,
    contained: terminate_check_split_by_standard_conforming_strings,
    contained: check_split_by_client_encoding,
    // What the operator saw, and what the nested check may do.
    contained: terminate_check_hides_the_victim_past_the_shown_rows,
    contained: terminate_check_writes_when_nested,
    contained: terminate_check_pads_the_engine_pid,
    refused: action_do_block,
    refused: action_names_the_function_by_ident,
    refused: action_runs_sql_text,
    refused: action_signals_through_a_var,
    refused: action_terminates,
    refused: advisory_lock_outlives_the_check,
    refused: advisory_lock_through_sql_text,
    harmless: backslash_quote_splits_a_string,
    refused: field_selection_calls_a_team_function,
    refused: field_selection_in_a_dry_run_preview,
    refused: sql_json_syntax_calls_a_shadow,
    refused: attribute_notation,
    refused: cancel_in_a_dry_run_preview,
    refused: comment_splits_delete,
    refused: comment_splits_terminate,
    refused: commit_ends_the_read_only_transaction,
    refused: commit_in_a_preview,
    refused: copy_to_stdout,
    refused: data_modifying_cte,
    refused: do_block,
    defused: escape_filter_pastes_a_var,
    refused: explain_analyze_runs_it,
    defused: filter_block_safe,
    refused: functional_notation_on_a_column,
    refused: large_object_write,
    refused: locks_rows,
    refused: map_safe_pastes_a_var,
    refused: namespace_doubles_a_string,
    refused: nested_loops_hang,
    refused: notify,
    refused: pipe_safe_pastes_a_var,
    refused: plain_terminate,
    refused: query_to_xml_runs_sql_text,
    refused: quoted_name,
    refused: recursive_loop_doubles_a_string,
    refused: rendered_text_too_large,
    refused: safe_joins_a_function_name,
    refused: schema_qualified_name,
    refused: select_into,
    refused: set_config,
    refused: terminate_check_closes_its_subquery,
    refused: terminate_check_signals_itself,
    refused: ts_stat_runs_sql_text,
    refused: unicode_escaped_name,
    refused: var_becomes_sql_through_safe_in_a_preview,
    refused: whitespace_control_joins_words,
}

#[test]
fn every_attack_in_the_corpus_has_its_test() {
    let mut files: Vec<String> = fs::read_dir(root().join("tests/hostile"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut named: Vec<String> = CORPUS
        .iter()
        .map(|name| format!("{}.yaml", name.replace('_', "-")))
        .collect();
    named.sort();
    assert_eq!(files, named);
}

/// Runs `runbook <args>` on a generated playbook; returns exit code and stderr.
fn runbook(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let output = crate::common::runbook_in(dir)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run the binary");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn long_sql_runs_and_deep_sql_is_a_clear_error_never_a_crash() {
    let db = Database::new();
    let dir = tempfile::tempdir().unwrap();
    let terms: Vec<String> = (0..3000).map(|i| format!("x = {i}")).collect();
    let long = format!(
        "version: 1\nname: long\nsteps:\n  - id: long\n    check: SELECT count(*) AS n FROM generate_series(1, 10) AS x WHERE {}\n",
        terms.join(" OR ")
    );
    fs::write(dir.path().join("long.yaml"), &long).unwrap();
    let url = db.url();
    let (code, stderr) = runbook(
        dir.path(),
        &[
            "run",
            "long.yaml",
            "--database-url",
            &url,
            "--report",
            "-",
            "--quiet",
        ],
    );
    assert_eq!(code, 0, "a 3,000-term OR is an ordinary query:\n{stderr}");

    let deep = format!(
        "version: 1\nname: deep\nsteps:\n  - id: deep\n    check: \"SELECT {}1{} AS x\"\n",
        "[".repeat(160_000),
        "]".repeat(160_000)
    );
    fs::write(dir.path().join("deep.yaml"), &deep).unwrap();
    let started = std::time::Instant::now();
    let (code, stderr) = runbook(dir.path(), &["validate", "deep.yaml"]);
    let head: String = stderr.chars().take(300).collect();
    assert_eq!(code, 1, "{head}");
    assert!(stderr.starts_with("error:"), "a clear error: {head}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "refused quickly, not after {:?}",
        started.elapsed()
    );
    let parens = format!(
        "version: 1\nname: parens\nsteps:\n  - id: parens\n    check: \"SELECT {}1{} AS x\"\n",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    fs::write(dir.path().join("parens.yaml"), &parens).unwrap();
    let (code, stderr) = runbook(dir.path(), &["validate", "parens.yaml"]);
    let head: String = stderr.chars().take(300).collect();
    assert_eq!(code, 1, "{head}");
    assert!(stderr.contains("nested too deeply"), "a clear error");
}

/// An action may set `search_path` and define operators, but the engine's own signal
/// statement must not be read through them: here `LIKE` (`~~` on text) is redefined on
/// `public`, put first on the path, as equality, so `application_name LIKE 'runbook:%'` no
/// longer spares another runbook's session. (The unqualified `=`, `IS DISTINCT FROM` and
/// `LIKE` of `signal::statement` are all open to this.)
#[test]
fn a_shadowed_operator_does_not_unguard_another_runbook_session() {
    let db = Database::new();
    let other = db.session_named("runbook:other");
    let dir = tempfile::tempdir().unwrap();
    let playbook = r#"version: 1
name: shadow
steps:
  - id: shadow
    action: |
      CREATE OPERATOR public.~~ (FUNCTION = pg_catalog.texteq, LEFTARG = text, RIGHTARG = text);
      SET search_path = public, pg_catalog
  - id: sessions
    check: |
      SELECT pid, backend_start, application_name FROM pg_stat_activity
      WHERE application_name = 'runbook:other' AND datname = current_database()
  - id: act
    terminate: sessions
"#;
    fs::write(dir.path().join("shadow.yaml"), playbook).unwrap();
    let url = db.url();
    let (_, stderr) = runbook(
        dir.path(),
        &[
            "run",
            "shadow.yaml",
            "--database-url",
            &url,
            "--yes",
            "--report",
            "r.json",
            "--format",
            "json",
            "--quiet",
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let report = fs::read_to_string(dir.path().join("r.json")).unwrap_or_default();
    assert!(
        db.alive(other.pid),
        "another runbook's session was terminated:\n{stderr}\n{report}"
    );
}
