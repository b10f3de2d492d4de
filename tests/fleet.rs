//! Fleet runs: one playbook on many targets at once — databases of the local server and
//! private clusters, one of them down — with the combined report, the exit code by
//! precedence, the bound on connections, `--max-failures`, `--shard`, the inventory's errors,
//! a stop that reaches every target, and approvals one target at a time at a terminal.

use std::collections::BTreeSet;
use std::fs;
use std::time::{Duration, Instant};

use crate::common::cluster::Cluster;
use crate::common::db::{Database, admin, wait_for};
use crate::common::plugin;
use crate::common::pty::{Pty, UP};
use crate::common::{Test, read_json};

/// A level for each target (`vars`): WARNING at 1, CRITICAL at 2; `divisor: 0` fails the
/// check (UNKNOWN). `nap` seconds of sleep first, for tests that watch a fleet run.
pub(crate) const LEVELS: &str = r#"version: 1
name: levels
params:
  level: { type: integer, default: 0 }
  divisor: { type: integer, default: 1 }
  nap: { type: integer, default: 0 }
steps:
  - id: nap
    check: SELECT pg_sleep({{ params.nap }}) AS slept
  - id: level
    check: SELECT {{ params.level }} / {{ params.divisor }} AS level
    metrics:
      level:
        warning: 0
        critical: 1
    assess:
      - critical: level >= 2
        message: "level {{ level }}"
      - warning: level >= 1
        message: "level {{ level }}"
"#;

/// An inventory entry.
pub(crate) fn entry(name: &str, url: &str, vars: &str) -> String {
    let vars = if vars.is_empty() {
        String::new()
    } else {
        format!("  vars: {{ {vars} }}\n")
    };
    format!("- name: {name}\n  url: \"{url}\"\n{vars}")
}

/// `runbook run levels.yaml --targets targets.yaml` on `inventory`, with no libpq variable
/// of the outer environment.
pub(crate) fn levels_fleet(inventory: &str) -> Test {
    Test::new()
        .clean_connection_env()
        .playbook("levels.yaml", LEVELS)
        .file("targets.yaml", inventory)
        .args(["run", "levels.yaml", "--targets", "targets.yaml"])
}

/// A URL nothing listens on (a port just freed), given up on after 1 s.
pub(crate) fn nowhere() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    format!("postgres://nobody@127.0.0.1:{port}/none?connect_timeout=1")
}

/// The combined JSON report's targets: name → (status, why).
pub(crate) fn statuses(report: &serde_json::Value) -> Vec<(String, String)> {
    report["targets"]
        .as_array()
        .expect("the combined report lists the targets")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_mixed_fleet_has_a_combined_report_and_the_worst_status_by_precedence() {
    let dbs: Vec<Database> = (0..4).map(|_| Database::new()).collect();
    let up = Cluster::start();
    let down = Cluster::start();
    down.stop();
    let password = up.password();
    let inventory = [
        entry("ok-db", &dbs[0].url(), ""),
        entry("warn-db", &dbs[1].url(), "level: 1"),
        entry("crit-db", &dbs[2].url(), "level: 2"),
        entry("failing-db", &dbs[3].url(), "divisor: 0"),
        entry("private", &up.url("postgres", password, "postgres"), ""),
        entry(
            "down",
            &format!(
                "{}?connect_timeout=1",
                down.url("postgres", password, "postgres")
            ),
            "",
        ),
    ]
    .concat();
    let outcome = Test::new()
        .clean_connection_env()
        .playbook("levels.yaml", LEVELS)
        .file("targets.yaml", &inventory)
        .args(["run", "levels.yaml", "--targets", "targets.yaml"])
        .args(["--report-dir", "fleet", "--format", "json"])
        .args(["--metrics", "fleet.prom"])
        .status(2)
        .stderr_any("checked below: the summary line names every target that is not OK")
        .run();
    let summary = outcome.stderr.lines().last().unwrap_or_default().to_owned();
    assert!(
        summary.starts_with("levels: CRITICAL — 6 targets"),
        "{summary}"
    );
    for (name, status) in [
        ("crit-db", "CRITICAL"),
        ("down", "UNKNOWN"),
        ("failing-db", "UNKNOWN"),
        ("warn-db", "WARNING"),
    ] {
        assert!(summary.contains(name), "{name} ({status}) named: {summary}");
    }
    assert!(
        !summary.contains("ok-db"),
        "an OK target is not named: {summary}"
    );
    assert!(
        !outcome.stderr.contains(password),
        "no password: {}",
        outcome.stderr
    );

    let report = read_json(&outcome.path("fleet/summary.json"));
    assert_eq!(report["status"], "CRITICAL");
    assert_eq!(report["exit_code"], 2);
    assert_eq!(
        statuses(&report),
        [
            ("ok-db", "OK"),
            ("warn-db", "WARNING"),
            ("crit-db", "CRITICAL"),
            ("failing-db", "UNKNOWN"),
            ("private", "OK"),
            ("down", "UNKNOWN"),
        ]
        .map(|(n, s)| (n.to_owned(), s.to_owned()))
    );
    let down_target = &report["targets"][5];
    assert!(
        down_target["why"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{down_target}"
    );
    // Every target that ran has its own report, with its own status.
    for (name, status) in [
        ("ok-db", "OK"),
        ("crit-db", "CRITICAL"),
        ("down", "UNKNOWN"),
    ] {
        let own = read_json(&outcome.path(&format!("fleet/{name}.json")));
        assert_eq!(own["status"], status, "{name}");
    }
    let all = fs::read_to_string(outcome.path("fleet/summary.json")).unwrap();
    assert!(
        !all.contains(password),
        "no password in the combined report"
    );
    let metrics = fs::read_to_string(outcome.path("fleet.prom")).unwrap();
    assert!(!metrics.contains(password), "no password in the metrics");
    assert!(
        metrics.contains("target=\"crit-db\""),
        "metrics are labelled by target:\n{metrics}"
    );
}

#[test]
fn nagios_gives_one_line_for_the_fleet_naming_the_targets_that_need_attention() {
    let dbs: Vec<Database> = (0..3).map(|_| Database::new()).collect();
    let inventory = [
        entry("alpha", &dbs[0].url(), ""),
        entry("beta", &dbs[1].url(), "level: 1"),
        entry("gamma", &dbs[2].url(), ""),
        entry("gone", &nowhere(), ""),
    ]
    .concat();
    let outcome = Test::new()
        .clean_connection_env()
        .playbook("levels.yaml", LEVELS)
        .file("targets.yaml", &inventory)
        .args([
            "run",
            "levels.yaml",
            "--targets",
            "targets.yaml",
            "--nagios",
        ])
        .status(3)
        .stdout_any("parsed below as a monitoring plugin's answer")
        .stderr_any("a fleet run's errors name their target; the plugin answer is on stdout")
        .run();
    let answer = plugin::parse(&outcome.stdout).expect("a plugin answer");
    let first = outcome.stdout.lines().next().unwrap();
    assert!(
        first.starts_with("levels UNKNOWN: "),
        "UNKNOWN outranks WARNING: {first}"
    );
    assert!(first.contains("gone") && first.contains("beta"), "{first}");
    let labels: Vec<&str> = answer.perfdata.iter().map(|p| p.label.as_str()).collect();
    for name in ["alpha", "beta", "gamma"] {
        assert!(
            labels.iter().any(|label| label.starts_with(name)),
            "perfdata of {name}: {labels:?}"
        );
    }
    let unique: BTreeSet<&&str> = labels.iter().collect();
    assert_eq!(unique.len(), labels.len(), "labels are unique: {labels:?}");
}

#[test]
fn parallel_bounds_the_connections_open_at_once() {
    let db = Database::new();
    let name = db.playbook_name("bounded");
    let playbook = LEVELS.replace("name: levels", &format!("name: {name}"));
    let inventory: String = (0..6)
        .map(|i| entry(&format!("t{i}"), &db.url(), "nap: 1"))
        .collect();
    let running = Test::new()
        .clean_connection_env()
        .playbook("bounded.yaml", &playbook)
        .file("targets.yaml", &inventory)
        .args([
            "run",
            "bounded.yaml",
            "--targets",
            "targets.yaml",
            "--parallel",
            "2",
        ])
        .stderr_any("a summary line with durations")
        .spawn();
    let count = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'runbook:{name}' AND backend_type = 'client backend'"
    );
    let mut most = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        let now: usize = admin(&count).trim().parse().unwrap_or(0);
        most = most.max(now);
        if most > 0 && now == 0 && start.elapsed() > Duration::from_secs(3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let outcome = running.wait();
    assert_eq!(
        most, 2,
        "at most --parallel 2 at once, and 2 seen: {}",
        outcome.stderr
    );
}

#[test]
fn max_failures_starts_no_more_targets_once_that_many_are_unknown() {
    let inventory: String = (0..5)
        .map(|i| entry(&format!("gone{i}"), &nowhere(), ""))
        .collect();
    let outcome = Test::new()
        .clean_connection_env()
        .playbook("levels.yaml", LEVELS)
        .file("targets.yaml", &inventory)
        .args([
            "run",
            "levels.yaml",
            "--targets",
            "targets.yaml",
            "--format",
            "json",
        ])
        .args([
            "--report",
            "fleet.json",
            "--parallel",
            "1",
            "--max-failures",
            "2",
        ])
        .status(3)
        .stderr_any("connection errors, then the summary line")
        .run();
    let report = read_json(&outcome.path("fleet.json"));
    let statuses: Vec<String> = statuses(&report).into_iter().map(|(_, s)| s).collect();
    assert_eq!(
        statuses,
        ["UNKNOWN", "UNKNOWN", "NOT_RUN", "NOT_RUN", "NOT_RUN"]
    );
    let why = report["targets"][2]["why"].as_str().unwrap();
    assert!(why.contains("--max-failures 2"), "{why}");
}

#[test]
fn shards_cover_every_target_exactly_once() {
    let db = Database::new();
    let names: Vec<String> = (0..12).map(|i| format!("db-{i:02}.example")).collect();
    let inventory: String = names.iter().map(|n| entry(n, &db.url(), "")).collect();
    for count in 1..=4 {
        let mut seen = Vec::new();
        for index in 0..count {
            let outcome = Test::new()
                .clean_connection_env()
                .playbook("levels.yaml", LEVELS)
                .file("targets.yaml", &inventory)
                .args(["run", "levels.yaml", "--targets", "targets.yaml", "--quiet"])
                .args(["--format", "json", "--report", "fleet.json"])
                .args(["--shard", &format!("{index}/{count}")])
                .run();
            let report = read_json(&outcome.path("fleet.json"));
            seen.extend(statuses(&report).into_iter().map(|(name, _)| name));
        }
        seen.sort();
        let mut all = names.clone();
        all.sort();
        assert_eq!(seen, all, "{count} shards: each target exactly once");
    }
}

#[test]
fn an_invalid_inventory_runs_nothing_and_says_where() {
    let db = Database::new();
    let inventory = format!(
        "- name: one\n  url: \"{}\"\n  vars: {{ levl: 1 }}\n- name: two\n  ulr: x\n- name: one\n  service: dup\n",
        db.url()
    );
    let outcome = Test::new()
        .clean_connection_env()
        .playbook("levels.yaml", LEVELS)
        .file("targets.yaml", &inventory)
        .args(["run", "levels.yaml", "--targets", "targets.yaml"])
        .status(3)
        .stderr_any("checked below: each problem at its line and column")
        .run();
    for at in ["targets.yaml:5:3", "targets.yaml:6:9"] {
        assert!(outcome.stderr.contains(at), "{at}:\n{}", outcome.stderr);
    }
    assert!(
        !outcome.path("runbook-reports").exists(),
        "nothing ran, nothing was written"
    );
}

#[test]
fn an_inventory_var_the_playbook_does_not_take_is_located() {
    let db = Database::new();
    let inventory = format!(
        "- name: one\n  url: \"{}\"\n  vars: {{ levl: 1 }}\n",
        db.url()
    );
    let outcome = Test::new()
        .clean_connection_env()
        .playbook("levels.yaml", LEVELS)
        .file("targets.yaml", &inventory)
        .args(["run", "levels.yaml", "--targets", "targets.yaml"])
        .status(3)
        .stderr_any("checked below")
        .run();
    assert!(
        outcome.stderr.contains("targets.yaml:3:"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("did you mean `level`"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn fleet_options_without_a_fleet_and_step_with_parallel_are_usage_errors() {
    Test::new()
        .args(["run", "daily-monitoring", "--parallel", "2"])
        .status(64)
        .stderr("error: `--parallel` only go with a fleet run: name its targets with `--target`, `--targets FILE` or `--service GLOB`\n")
        .run();
    Test::new()
        .args(["run", "daily-monitoring", "--target", "service=a", "--target", "service=b"])
        .arg("--step")
        .status(64)
        .stderr("error: `--step` asks before every step of one target at a time: with several targets, give `--parallel 1` too (now 8)\n")
        .run();
    Test::new()
        .args([
            "run",
            "daily-monitoring",
            "--target",
            "service=a",
            "--shard",
            "3/3",
        ])
        .status(64)
        .stderr_any("the shard's own words, checked by its unit tests")
        .run();
}

#[test]
fn service_glob_runs_every_matching_service_and_one_line_says_which_need_attention() {
    let dbs: Vec<Database> = (0..3).map(|_| Database::new()).collect();
    let services = format!(
        "[prod-a]\nhost=/var/run/postgresql\ndbname={}\n[prod-b]\nhost=/var/run/postgresql\ndbname={}\n[dev-c]\nhost=/var/run/postgresql\ndbname={}\n",
        dbs[0].name, dbs[1].name, dbs[2].name
    );
    let test = Test::new().clean_connection_env();
    let file = test.dir().join("services.conf").display().to_string();
    let outcome = test
        .file("services.conf", &services)
        .env("PGSERVICEFILE", &file)
        .args(["run", "daily-monitoring", "--service", "prod-*", "--nagios"])
        .args(["--var", "database=postgres"])
        .status_any("the local server's state decides OK or WARNING: checked below")
        .stdout_any("checked below")
        .stderr_any("nothing the test decides")
        .run();
    assert!(
        outcome.status <= 3,
        "a plugin's exit code: {}",
        outcome.status
    );
    let first = outcome.stdout.lines().next().unwrap();
    assert!(first.starts_with("daily-monitoring "), "{first}");
    assert!(
        first.contains("2 targets"),
        "only the prod-* services: {first}"
    );
    assert!(!first.contains("dev-c"), "{first}");
}

#[test]
fn sigterm_stops_the_whole_fleet_cancels_what_runs_and_writes_every_report() {
    let db = Database::new();
    let name = db.playbook_name("stopped");
    let playbook = LEVELS.replace("name: levels", &format!("name: {name}"));
    let inventory: String = (0..4)
        .map(|i| entry(&format!("t{i}"), &db.url(), "nap: 60"))
        .collect();
    let running = Test::new()
        .clean_connection_env()
        .playbook("stopped.yaml", &playbook)
        .file("targets.yaml", &inventory)
        .args([
            "run",
            "stopped.yaml",
            "--targets",
            "targets.yaml",
            "--parallel",
            "2",
        ])
        .args(["--report-dir", "fleet", "--format", "json"])
        .status(4)
        .stderr_any("the notice of the signal, then the summary line")
        .spawn();
    let sleeping = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'runbook:{name}' AND query LIKE '%pg_sleep%' AND state = 'active'"
    );
    wait_for(
        "both running targets to sleep",
        Duration::from_secs(15),
        || admin(&sleeping).trim() == "2",
    );
    let started = Instant::now();
    running.signal(libc::SIGTERM);
    let outcome = running.wait();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the sleeps were cancelled on the server, not waited for"
    );
    let report = read_json(&outcome.path("fleet/summary.json"));
    let statuses: Vec<String> = statuses(&report).into_iter().map(|(_, s)| s).collect();
    assert_eq!(statuses, ["STOPPED", "STOPPED", "NOT_RUN", "NOT_RUN"]);
    for name in ["t0", "t1"] {
        let own = read_json(&outcome.path(&format!("fleet/{name}.json")));
        assert_eq!(own["status"], "STOPPED", "{name}: {own}");
    }
    let why = report["targets"][3]["why"].as_str().unwrap();
    assert!(why.contains("SIGTERM"), "{why}");
}

/// `runbook run` at a terminal: `playbook` on the targets of `inventory`, with `args`.
pub(crate) fn at_a_terminal(playbook: &str, inventory: &str, args: &[&str]) -> Pty {
    let args: Vec<&str> = ["run", "playbook.yaml", "--targets", "targets.yaml"]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    Pty::command(
        &args,
        &[("playbook.yaml", playbook), ("targets.yaml", inventory)],
    )
}

/// The combined Markdown report of the one run in the PTY's working directory.
pub(crate) fn combined_markdown(pty: &Pty) -> String {
    let dir = fs::read_dir(pty.path("runbook-reports"))
        .expect("the run's directory")
        .next()
        .expect("one run directory")
        .unwrap()
        .path();
    fs::read_to_string(dir.join("summary.md")).expect("the combined report")
}

/// Terminates the victim of this database once approved (`required`), after `nap` seconds.
pub(crate) const VICTIMS: &str = r#"version: 1
name: victims
params:
  nap: { type: integer, default: 0 }
steps:
  - id: nap
    check: SELECT pg_sleep({{ params.nap }}) AS slept
  - id: candidates
    check: |
      SELECT pid, backend_start FROM pg_stat_activity
      WHERE application_name = 'victim' AND datname = current_database()
  - id: terminate
    when: steps.candidates.row_count > 0
    terminate: candidates
    approval: required
"#;

#[test]
fn at_a_terminal_each_target_is_asked_in_turn_and_named() {
    // `required` is a menu; `confirm` wants the step id typed, for each target anew.
    for approval in ["required", "confirm"] {
        let (one, two) = (Database::new(), Database::new());
        let (victim_one, victim_two) = (one.session_named("victim"), two.session_named("victim"));
        let inventory = [
            entry("first", &one.url(), ""),
            entry("second", &two.url(), ""),
        ]
        .concat();
        let playbook = VICTIMS
            .replace(
                "name: victims",
                &format!("name: {}", one.playbook_name("v")),
            )
            .replace("approval: required", &format!("approval: {approval}"));
        let mut pty = at_a_terminal(&playbook, &inventory, &["--parallel", "1"]);
        for (target, approve) in [("first", true), ("second", false)] {
            pty.expect(&format!("== Target {target}"));
            match (approval, approve) {
                ("required", true) => {
                    pty.expect("Run this action?");
                    pty.send(UP);
                    pty.choose("Run this action?", &[], "approve");
                }
                ("required", false) => pty.choose("Run this action?", &[], "skip this step"),
                (_, approve) => {
                    pty.expect("Type `terminate`");
                    pty.type_line(if approve { "terminate" } else { "" });
                }
            }
        }
        let code = pty.finish();
        assert_eq!(code, 4, "{approval}: one was declined: {}", pty.screen());
        one.wait_gone(victim_one.pid);
        assert!(
            two.alive(victim_two.pid),
            "{approval}: the declined target's victim lives"
        );
    }
}

#[test]
fn abort_ctrl_c_or_sighup_at_one_targets_prompt_stops_every_target() {
    for how in ["abort", "Ctrl-C", "SIGHUP"] {
        let (one, two, three) = (Database::new(), Database::new(), Database::new());
        let victim = one.session_named("victim");
        let name = one.playbook_name("v");
        let inventory = [
            entry("asks", &one.url(), ""),
            entry("sleeps", &two.url(), "nap: 60"),
            entry("waits", &three.url(), ""),
        ]
        .concat();
        let playbook = VICTIMS.replace("name: victims", &format!("name: {name}"));
        let mut pty = at_a_terminal(&playbook, &inventory, &["--parallel", "2"]);
        pty.expect("== Target asks");
        pty.expect("Run this action?");
        let sleeping = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'runbook:{name}' AND query LIKE '%pg_sleep(60)%' AND state = 'active'"
        );
        wait_for("the other target to sleep", Duration::from_secs(15), || {
            admin(&sleeping).trim() == "1"
        });
        let started = Instant::now();
        match how {
            "abort" => pty.choose("Run this action?", &["\x1b[B"], "abort the run"),
            "Ctrl-C" => pty.interrupt(),
            _ => pty.signal(libc::SIGHUP),
        }
        let code = pty.finish();
        assert_eq!(code, 4, "{how}: {}", pty.screen());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{how}: the sleep was cancelled"
        );
        assert!(one.alive(victim.pid), "{how}: nothing was terminated");
        let summary = combined_markdown(&pty);
        assert!(summary.contains("waits"), "{how}: {summary}");
        assert!(summary.contains("NOT RUN"), "{how}: {summary}");
        assert!(
            !summary.contains("| OK |"),
            "{how}: every report says it stopped: {summary}"
        );
    }
}
