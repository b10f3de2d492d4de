//! The operator at a terminal: the approval prompt, `approval: confirm`, `--yes` at a
//! terminal, `--step`, and Ctrl-C during a running query or at a prompt. Each test drives the
//! real binary in a PTY (so both stdin and stderr are terminals) against real sessions.

use std::time::{Duration, Instant};

use expectrl::ControlCode;

use crate::common::Test;
use crate::common::db::{Database, Session, wait_for};
use crate::common::pty::{DOWN, Pty, TIMEOUT, UP};

mod fit;
mod hostile_text;
mod menus;

/// Terminates the victim's session once approved; `candidates` guards it, `after` counts.
/// `pg_stat_activity` is cluster-wide and tests run in parallel, so every query is scoped to
/// the test's own database.
const PROMPTS: &str = r#"version: 1
name: prompts
params:
  app: { type: string, default: victim }
steps:
  - id: candidates
    check: |
      SELECT pid, backend_start, application_name FROM pg_stat_activity
      WHERE application_name = {{ params.app }} AND backend_type = 'client backend'
        AND datname = current_database()
  - id: terminate
    when: steps.candidates.row_count > 0
    terminate: candidates
    approval: required
  - id: after
    check: |
      SELECT count(*) AS left FROM pg_stat_activity
      WHERE application_name = {{ params.app }} AND datname = current_database()
"#;

/// Three checks, for `--step`.
const WALK: &str = r#"version: 1
name: walk
steps:
  - id: one
    title: First look
    check: SELECT 1 AS n
  - id: two
    title: Second look
    check: SELECT 2 AS n
  - id: three
    title: Third look
    check: SELECT 3 AS n
"#;

/// A check that sleeps on the server until it is cancelled.
const SLEEPY: &str = r#"version: 1
name: sleepy
steps:
  - id: nap
    check: SELECT pg_sleep(60) AS slept
  - id: later
    check: SELECT 1 AS one
"#;

fn confirm_playbook() -> String {
    PROMPTS.replace("approval: required", "approval: confirm")
}

/// Ctrl-C as the terminal sends it.
fn ctrl_c() -> &'static str {
    std::str::from_utf8(ControlCode::EndOfText.as_ref()).unwrap()
}

/// A database with a victim and a bystander session, idle.
fn scene() -> (Database, Session, Session) {
    let db = Database::new();
    let victim = db.session_named("victim");
    let bystander = db.session_named("bystander");
    (db, victim, bystander)
}

/// Waits for the approval prompt of `terminate` and checks what it shows: the one row it acts
/// on, then the rendered SQL's first lines (`s` shows the rest, see `fit`).
fn expect_action_shown(pty: &mut Pty, victim: &Session) {
    pty.expect("== Action `terminate`: terminate");
    pty.expect("Acts on 1 row:\n");
    pty.expect("pid");
    pty.expect("backend_start");
    pty.expect("application_name");
    pty.expect(&format!("{} ", victim.pid));
    pty.expect("victim");
    pty.expect("SQL that will run (first 3 of ");
    pty.expect("    WITH runbook_selected AS (\n");
}

/// The journal's decision line; for an approved action, its outcome follows (same run).
fn journal_of(pty: &Pty) -> serde_json::Value {
    let journal = pty.journal();
    let decision = journal.first().expect("a decision line").clone();
    assert_eq!(decision["kind"], "decision");
    if decision["decision"] == "approved" {
        assert_eq!(
            journal.len(),
            2,
            "the decision, then the outcome: {journal:?}"
        );
        assert_eq!(journal[1]["kind"], "outcome");
        assert_eq!(journal[1]["outcome"], "succeeded");
        assert_eq!(journal[1]["run"], decision["run"]);
    } else {
        assert_eq!(journal.len(), 1, "one decision, one line: {journal:?}");
    }
    decision
}

/// The run ends with exit 4 once the operator aborted at the approval prompt of `terminate`:
/// nobody is terminated, the step and the rest are not run, and the journal says so. Returns
/// the report.
fn assert_aborted_at_the_prompt(
    db: &Database,
    victim: &Session,
    bystander: &Session,
    pty: &mut Pty,
) -> serde_json::Value {
    let messages = ["aborted by the operator"];
    assert_stopped_at_the_prompt(db, victim, bystander, pty, "aborted", &messages)
}

/// The same for a Ctrl-C or a signal at the prompt: the decision is `interrupted`, not an
/// abort; `messages`: what the step may say.
fn assert_interrupted_at_the_prompt(
    db: &Database,
    victim: &Session,
    bystander: &Session,
    pty: &mut Pty,
    messages: &[&str],
) -> serde_json::Value {
    assert_stopped_at_the_prompt(db, victim, bystander, pty, "interrupted", messages)
}

fn assert_stopped_at_the_prompt(
    db: &Database,
    victim: &Session,
    bystander: &Session,
    pty: &mut Pty,
    decision: &str,
    messages: &[&str],
) -> serde_json::Value {
    let code = pty.finish();
    assert_eq!(code, 4, "{}", pty.screen());
    assert!(db.alive(victim.pid), "the victim survives");
    assert!(db.alive(bystander.pid), "the bystander survives");
    let report = pty.report();
    assert_eq!(report["exit_code"], 4);
    let step = &report["steps"][1];
    assert_eq!(step["status"], "NOT_RUN");
    let message = step["message"].as_str().unwrap_or_default();
    assert!(
        messages.contains(&message),
        "{message:?} is none of {messages:?}"
    );
    assert_eq!(step["approval"]["decision"], decision);
    assert_eq!(report["steps"][2]["status"], "NOT_RUN");
    assert_eq!(journal_of(pty)["decision"], decision);
    report
}

#[test]
fn the_playbooks_validate() {
    let confirm = confirm_playbook();
    for (text, steps) in [(PROMPTS, 3), (confirm.as_str(), 3), (WALK, 3), (SLEEPY, 2)] {
        Test::new()
            .playbook("p.yaml", text)
            .args(["validate", "p.yaml"])
            .stdout(&format!("p.yaml: ok ({steps} steps)\n"))
            .run();
    }
}

#[test]
fn approving_at_the_prompt_terminates_the_previewed_session() {
    let (db, victim, bystander) = scene();
    let mut pty = Pty::run(&db, PROMPTS, &[]);
    expect_action_shown(&mut pty, &victim);
    pty.expect("Run this action?");
    pty.expect("  approve\n> skip this step\n  abort the run");
    // Up from the default "skip this step" to "approve".
    pty.send(UP);
    pty.expect("> approve\n  skip this step\n  abort the run");
    pty.choose("Run this action?", &[], "approve");
    pty.expect(&format!(
        "{}: OK — 3 steps — report: r.json",
        db.playbook_name("prompts")
    ));
    let code = pty.finish();
    assert!(
        !pty.screen().contains("bystander"),
        "the bystander is never shown:\n{}",
        pty.screen()
    );
    assert_eq!(code, 0, "{}", pty.screen());

    db.wait_gone(victim.pid);
    assert!(db.alive(bystander.pid), "the bystander survives");

    let report = pty.report();
    assert_eq!(report["exit_code"], 0);
    let step = &report["steps"][1];
    assert_eq!(step["id"], "terminate");
    assert_eq!(step["status"], "OK");
    assert_eq!(step["approval"]["decision"], "approved");
    assert_eq!(step["approval"]["by"], "operator");
    assert_eq!(step["approval"]["operator"], "tester");
    assert_eq!(step["approval"]["preview_rows"], 1);
    let rows = step["rows"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        1,
        "the action signalled the victim only: {rows:?}"
    );
    assert_eq!(rows[0][0], victim.pid);
    assert_eq!(rows[0][2], true, "the server's answer");

    let entry = journal_of(&pty);
    assert_eq!(entry["step"], "terminate");
    assert_eq!(entry["decision"], "approved");
    assert_eq!(entry["by"], "operator");
    assert_eq!(entry["operator"], "tester");
    assert_eq!(entry["preview_rows"], 1);
    assert_eq!(
        entry["sql"], step["sql"],
        "the journal holds the SQL that ran"
    );
    assert!(
        entry["sql"]
            .as_str()
            .unwrap()
            .contains(&format!("ARRAY[{}]::pg_catalog.int4[]", victim.pid))
    );
}

/// Time at the prompt is the operator's, not the step's: the report keeps the two apart.
#[test]
fn the_time_spent_at_the_prompt_is_not_the_steps_duration() {
    let (db, victim, _bystander) = scene();
    let mut pty = Pty::run(&db, PROMPTS, &[]);
    expect_action_shown(&mut pty, &victim);
    pty.expect("> skip this step");
    std::thread::sleep(Duration::from_millis(2500));
    pty.choose("Run this action?", &[], "skip this step");
    assert_eq!(pty.finish(), 4, "{}", pty.screen());
    let report = pty.report();
    let step = &report["steps"][1];
    let waited = step["waited_ms"].as_u64().unwrap();
    let took = step["duration_ms"].as_u64().unwrap();
    assert!(waited >= 2500, "the wait is recorded: {step}");
    assert!(
        took < 2000,
        "the step's own duration leaves it out: {took} ms"
    );
    assert_eq!(
        report["waited_ms"].as_u64().unwrap(),
        waited,
        "the run's wait, in all"
    );
}

#[test]
fn enter_on_the_default_skips_the_action() {
    let (db, victim, bystander) = scene();
    let mut pty = Pty::run(&db, PROMPTS, &[]);
    expect_action_shown(&mut pty, &victim);
    pty.expect("> skip this step");
    pty.choose("Run this action?", &[], "skip this step");
    pty.expect(&format!(
        "{}: STOPPED — `terminate`: declined by the operator (skipped at the prompt) — 3 steps, 1 skipped — report: r.json — journal: r.journal.jsonl",
        db.playbook_name("prompts")
    ));
    let code = pty.finish();
    assert_eq!(
        code,
        4,
        "a skipped action was not approved: the run goes on and exits 4\n{}",
        pty.screen()
    );

    assert!(db.alive(victim.pid), "the victim survives");
    assert!(db.alive(bystander.pid), "the bystander survives");

    let report = pty.report();
    assert_eq!(report["exit_code"], 4);
    let step = &report["steps"][1];
    assert_eq!(step["status"], "SKIPPED");
    assert_eq!(
        step["message"],
        "declined by the operator (skipped at the prompt)"
    );
    assert_eq!(step["approval"]["decision"], "declined");
    assert_eq!(step["approval"]["by"], "operator");
    assert_eq!(report["steps"][2]["status"], "OK", "the run went on");
    assert_eq!(
        report["steps"][2]["rows"],
        serde_json::json!([[1]]),
        "the victim is still there when `after` counts"
    );
    let entry = journal_of(&pty);
    assert_eq!(entry["decision"], "declined");
}

#[test]
fn abort_at_the_prompt_stops_the_run_with_exit_4() {
    let (db, victim, bystander) = scene();
    let mut pty = Pty::run(&db, PROMPTS, &[]);
    expect_action_shown(&mut pty, &victim);
    pty.expect("> skip this step");
    pty.send(DOWN);
    pty.expect("  approve\n  skip this step\n> abort the run");
    pty.choose("Run this action?", &[], "abort the run");
    let report = assert_aborted_at_the_prompt(&db, &victim, &bystander, &mut pty);
    assert_eq!(
        report["steps"][2]["message"],
        "the run stopped before this step"
    );
}

#[test]
fn confirm_asks_again_after_a_wrong_id_and_runs_on_the_right_one() {
    let (db, victim, bystander) = scene();
    let mut pty = Pty::run(&db, &confirm_playbook(), &[]);
    expect_action_shown(&mut pty, &victim);
    pty.expect("This action needs confirmation.");
    let prompt = "Type `terminate` to run this action (empty to skip, `s` to show the SQL, `abort` to stop the run)";
    pty.expect(prompt);
    pty.type_line("wrong");
    pty.expect("`wrong` is not `terminate`; nothing was run.");
    assert!(
        db.alive(victim.pid),
        "a wrong answer runs nothing (the victim is still there while the prompt waits)"
    );
    pty.expect(prompt);
    pty.type_line("terminate");
    pty.expect(&format!("{prompt}: terminate"));
    let code = pty.finish();
    assert_eq!(code, 0, "{}", pty.screen());

    db.wait_gone(victim.pid);
    assert!(db.alive(bystander.pid), "the bystander survives");

    let report = pty.report();
    let step = &report["steps"][1];
    assert_eq!(step["status"], "OK");
    assert_eq!(step["approval"]["decision"], "approved");
    let by = step["approval"]["by"].as_str().unwrap();
    assert!(by.contains("typed"), "by: {by}");
    let entry = journal_of(&pty);
    assert_eq!(entry["decision"], "approved");
    assert_eq!(entry["by"], by);
}

#[test]
fn yes_at_a_terminal_still_asks_for_a_confirm_action() {
    let (db, victim, bystander) = scene();
    let mut pty = Pty::run(&db, &confirm_playbook(), &["--yes"]);
    expect_action_shown(&mut pty, &victim);
    assert!(
        db.alive(victim.pid),
        "`--yes` did not terminate anything before the prompt"
    );
    pty.expect("Type `terminate` to run this action");
    pty.type_line("");
    let code = pty.finish();
    assert_eq!(code, 4, "an empty answer skips: exit 4\n{}", pty.screen());

    assert!(db.alive(victim.pid), "the victim survives");
    assert!(db.alive(bystander.pid), "the bystander survives");
    let report = pty.report();
    let step = &report["steps"][1];
    assert_eq!(step["status"], "SKIPPED");
    assert_eq!(step["approval"]["decision"], "declined");
    assert_ne!(step["approval"]["by"], "--yes");
    assert_eq!(journal_of(&pty)["decision"], "declined");
}

#[test]
fn step_asks_before_every_step_and_skips_or_aborts() {
    let db = Database::new();

    let mut pty = Pty::run(&db, WALK, &["--step"]);
    pty.expect("Next: First look (check `one`)");
    pty.expect("> continue\n  skip\n  abort");
    pty.choose("Next: First look (check `one`)", &[], "continue");
    pty.expect("Next: Second look (check `two`)");
    pty.expect("> continue");
    pty.send(DOWN);
    pty.expect("  continue\n> skip\n  abort");
    pty.choose("Next: Second look (check `two`)", &[], "skip");
    pty.expect("Next: Third look (check `three`)");
    pty.choose("Next: Third look (check `three`)", &[], "continue");
    let code = pty.finish();
    assert_eq!(code, 0, "{}", pty.screen());
    let report = pty.report();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps[0]["status"], "OK");
    assert_eq!(steps[1]["status"], "SKIPPED");
    let message = steps[1]["message"].as_str().unwrap();
    assert!(message.contains("`--step`"), "message: {message}");
    assert_eq!(steps[2]["status"], "OK");
    assert_eq!(steps[2]["rows"], serde_json::json!([[3]]));
    assert!(
        !pty.path("r.journal.jsonl").exists(),
        "no actions, no journal"
    );

    let mut pty = Pty::run(&db, WALK, &["--step"]);
    pty.expect("Next: First look (check `one`)");
    pty.choose("Next: First look (check `one`)", &[], "continue");
    pty.expect("Next: Second look (check `two`)");
    pty.expect("> continue");
    pty.send(DOWN);
    pty.expect("> skip");
    pty.send(DOWN);
    pty.expect("  continue\n  skip\n> abort");
    pty.choose("Next: Second look (check `two`)", &[], "abort");
    let code = pty.finish();
    assert_eq!(code, 4, "{}", pty.screen());
    assert!(
        !pty.screen().contains("Third look (check"),
        "nothing is asked after an abort:\n{}",
        pty.screen()
    );
    let report = pty.report();
    assert_eq!(report["exit_code"], 4);
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps[0]["status"], "OK");
    assert_eq!(steps[1]["status"], "NOT_RUN");
    assert!(
        steps[1]["message"].as_str().unwrap().contains("`--step`"),
        "{}",
        steps[1]["message"]
    );
    assert_eq!(steps[2]["status"], "NOT_RUN");
}

#[test]
fn ctrl_c_cancels_the_running_query_and_exits_4() {
    let db = Database::new();
    let mut pty = Pty::run(&db, SLEEPY, &[]);
    let app = format!("runbook:{}", db.playbook_name("sleepy"));
    let sleeping = || {
        db.psql(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}' \
             AND state = 'active' AND query LIKE '%pg_sleep%' AND datname = current_database()"
        ))
    };
    wait_for("the check to sleep on the server", TIMEOUT, || {
        pty.pump();
        sleeping() == "1"
    });
    let interrupted = Instant::now();
    pty.send(ctrl_c());
    wait_for(
        "the sleeping query to be cancelled",
        Duration::from_secs(2),
        || sleeping() == "0",
    );
    let cancelled_after = interrupted.elapsed();
    pty.expect("interrupted by the operator (Ctrl-C): cancelling the running query");
    let code = pty.finish();
    assert_eq!(code, 4, "{}", pty.screen());
    assert!(
        interrupted.elapsed() < Duration::from_secs(10),
        "the run ended {:?} after Ctrl-C (the query was cancelled after {cancelled_after:?})",
        interrupted.elapsed()
    );

    let report = pty.report();
    assert_eq!(report["exit_code"], 4);
    let step = &report["steps"][0];
    assert_eq!(step["status"], "UNKNOWN");
    let message = step["message"].as_str().unwrap();
    assert!(message.contains("interrupted"), "message: {message}");
    assert_eq!(
        report["steps"][1]["status"], "NOT_RUN",
        "nothing runs after"
    );
    let notes = report["notes"].to_string();
    assert!(notes.contains("Ctrl-C"), "notes: {notes}");
}

#[test]
fn ctrl_c_at_the_approval_prompt_is_an_interruption_and_runs_nothing() {
    let (db, victim, bystander) = scene();
    let mut pty = Pty::run(&db, PROMPTS, &[]);
    expect_action_shown(&mut pty, &victim);
    pty.expect("> skip this step");
    pty.send(ctrl_c());
    // The menu reads a Ctrl-C as a key once it holds the terminal raw; before, the terminal
    // delivers it as SIGINT, which the run names.
    let either = [
        "interrupted at the prompt (Ctrl-C)",
        "interrupted by the operator (Ctrl-C) at the prompt",
    ];
    assert_interrupted_at_the_prompt(&db, &victim, &bystander, &mut pty, &either);
}

#[test]
fn sigint_while_the_approval_prompt_waits_is_an_interruption_and_runs_nothing() {
    let (db, victim, bystander) = scene();
    let mut pty = Pty::run(&db, PROMPTS, &[]);
    expect_action_shown(&mut pty, &victim);
    pty.expect("> skip this step");
    pty.interrupt();
    pty.expect("interrupted by the operator (Ctrl-C): cancelling the running query");
    let report = assert_interrupted_at_the_prompt(
        &db,
        &victim,
        &bystander,
        &mut pty,
        &["interrupted by the operator (Ctrl-C) at the prompt"],
    );
    assert_eq!(
        report["notes"][0], "the run was interrupted by the operator (Ctrl-C)",
        "{report}"
    );
}

#[test]
fn sigterm_while_the_approval_prompt_waits_is_an_interruption_and_runs_nothing() {
    let (db, victim, bystander) = scene();
    let mut pty = Pty::run(&db, PROMPTS, &[]);
    expect_action_shown(&mut pty, &victim);
    pty.expect("> skip this step");
    pty.signal(libc::SIGTERM);
    pty.expect("interrupted by SIGTERM: cancelling the running query");
    let report = assert_interrupted_at_the_prompt(
        &db,
        &victim,
        &bystander,
        &mut pty,
        &["interrupted by SIGTERM at the prompt"],
    );
    assert_eq!(
        report["notes"][0], "the run was interrupted by SIGTERM",
        "{report}"
    );
}

#[test]
fn sigint_while_a_step_prompt_waits_is_an_interruption_with_a_report() {
    let db = Database::new();
    let mut pty = Pty::run(&db, WALK, &["--step"]);
    pty.expect("Next: First look (check `one`)");
    pty.expect("> continue\n  skip\n  abort");
    pty.interrupt();
    assert_eq!(pty.finish(), 4, "{}", pty.screen());
    let report = pty.report();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps[0]["status"], "NOT_RUN");
    assert_eq!(
        steps[0]["message"],
        "interrupted by the operator (Ctrl-C) at the `--step` prompt"
    );
    assert_eq!(
        report["why"],
        "`one`: interrupted by the operator (Ctrl-C) at the `--step` prompt"
    );
}

/// A check whose template takes a while to render (well within its fuel), then a plain one.
const SLOW_RENDER: &str = r#"version: 1
name: slow
steps:
  - id: slow
    title: Slow to render
    check: "SELECT {% for i in range(100000) %}{% for j in range(50) %}{% endfor %}{% endfor %}1 AS one"
  - id: later
    check: SELECT 2 AS two
"#;

#[test]
fn ctrl_c_while_a_template_renders_sends_nothing_after_it() {
    let db = Database::new();
    let mut pty = Pty::run(&db, SLOW_RENDER, &[]);
    pty.expect("Slow to render");
    pty.interrupt();
    assert_eq!(pty.finish(), 4, "{}", pty.screen());
    let report = pty.report();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(
        steps[0]["message"], "interrupted by the operator (Ctrl-C) before it was sent",
        "{report}"
    );
    assert_eq!(steps[1]["status"], "NOT_RUN");
}

#[test]
fn ctrl_c_at_a_later_step_prompt_interrupts_with_a_report() {
    let db = Database::new();
    let mut pty = Pty::run(&db, WALK, &["--step"]);
    pty.expect("Next: First look (check `one`)");
    pty.choose("Next: First look (check `one`)", &[], "continue");
    pty.expect("Next: Second look (check `two`)");
    pty.expect("> continue\n  skip\n  abort");
    pty.send(ctrl_c());
    let code = pty.finish();
    assert_eq!(code, 4, "{}", pty.screen());
    let report = pty.report();
    assert_eq!(report["exit_code"], 4);
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps[0]["status"], "OK");
    assert_eq!(steps[1]["status"], "NOT_RUN");
    assert_eq!(
        steps[1]["message"],
        "interrupted by the operator (Ctrl-C) at the `--step` prompt"
    );
    assert_eq!(steps[2]["status"], "NOT_RUN");
}

#[test]
fn ctrl_c_at_the_first_step_prompt_interrupts_with_a_report() {
    let db = Database::new();
    let mut pty = Pty::run(&db, WALK, &["--step"]);
    pty.expect("Next: First look (check `one`)");
    pty.expect("> continue\n  skip\n  abort");
    pty.send(ctrl_c());
    let code = pty.finish();
    assert_eq!(code, 4, "{}", pty.screen());
    assert!(pty.path("r.json").exists(), "the report is written");
    let report = pty.report();
    assert_eq!(report["exit_code"], 4);
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps[0]["status"], "NOT_RUN");
    assert_eq!(
        steps[0]["message"],
        "interrupted by the operator (Ctrl-C) at the `--step` prompt"
    );
    assert_eq!(steps[1]["status"], "NOT_RUN");
    assert_eq!(steps[2]["status"], "NOT_RUN");
}

/// What the operator reads must be what the data is: a check's cells, and the check's own text
/// in the SQL shown, may carry terminal escape sequences (here `ESC[8m`, conceal, which hides
/// everything after it; `ESC[1A ESC[2K` would erase the victim's row). They must reach the
/// terminal escaped, never as control characters. (Red team of f25461e; `text_table` only
/// replaces `\n`, `\r` and `\t`, and the SQL is shown as it is.)
#[test]
fn escape_sequences_from_the_check_never_reach_the_terminal() {
    let (db, victim, _bystander) = scene();
    let playbook = PROMPTS.replace(
        "SELECT pid, backend_start, application_name FROM pg_stat_activity",
        "SELECT pid, backend_start, application_name, chr(27) || '[8m' AS note /* {{ \"\\u001b[8m\" }} */ FROM pg_stat_activity",
    );
    let mut pty = Pty::run(&db, &playbook, &[]);
    pty.expect("Run this action?");
    pty.choose("Run this action?", &[], "skip this step");
    pty.finish();
    assert!(db.alive(victim.pid), "the victim survives");
    let shown = pty.raw();
    let concealed = shown.windows(4).filter(|w| *w == b"\x1b[8m").count();
    assert_eq!(
        concealed,
        0,
        "the check's escape sequence reached the terminal:\n{}",
        String::from_utf8_lossy(shown).escape_debug()
    );
}
