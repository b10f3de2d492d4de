//! Fleet runs: one playbook on many targets at once — databases of the local server and
//! private clusters, one of them down — with the combined report, the exit code by
//! precedence, the bound on connections, `--max-failures`, `--shard`, the inventory's errors,
//! a stop that reaches every target, and approvals one target at a time at a terminal.

use std::collections::BTreeSet;
use std::fs;
use std::time::{Duration, Instant};

use crate::common::cluster::Cluster;
use crate::common::db::{Database, Session, admin, wait_for};
use crate::common::plugin;
use crate::common::pty::{DOWN, Pty, UP};
use crate::common::{Test, read_journal, read_json};

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

/// `runbook run levels.yaml --targets targets.yaml` with `inventory`, in a clean environment.
pub(crate) fn levels(inventory: &str) -> Test {
    Test::new()
        .clean_connection_env()
        .playbook("levels.yaml", LEVELS)
        .file("targets.yaml", inventory)
        .args(["run", "levels.yaml", "--targets", "targets.yaml"])
}

/// An inventory entry.
pub(crate) fn entry(name: &str, url: &str, vars: &str) -> String {
    let vars = if vars.is_empty() {
        String::new()
    } else {
        format!("  vars: {{ {vars} }}\n")
    };
    format!("- name: {name}\n  url: \"{url}\"\n{vars}")
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
    let outcome = levels(&inventory)
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
    let outcome = levels(&inventory)
        .args(["--nagios"])
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

/// A fleet of `count` targets, all one new database (given back, to live as long as the
/// test), each sleeping `nap` seconds, at most 2 at once; the playbook is named
/// `prefix-<database>` (its connections' name, after `runbook:`), given back too.
fn napping(prefix: &str, count: usize, nap: u32) -> (Database, String, Test) {
    let db = Database::new();
    let name = db.playbook_name(prefix);
    let playbook = LEVELS.replace("name: levels", &format!("name: {name}"));
    let inventory: String = (0..count)
        .map(|i| entry(&format!("t{i}"), &db.url(), &format!("nap: {nap}")))
        .collect();
    let test = Test::new()
        .clean_connection_env()
        .playbook("napping.yaml", &playbook)
        .file("targets.yaml", &inventory)
        .args(["run", "napping.yaml", "--targets", "targets.yaml"])
        .args(["--parallel", "2"]);
    (db, name, test)
}

#[test]
fn parallel_bounds_the_connections_open_at_once() {
    let (_db, name, test) = napping("bounded", 6, 1);
    let running = test.stderr_any("a summary line with durations").spawn();
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
    let outcome = levels(&inventory)
        .args(["--format", "json"])
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
            let outcome = levels(&inventory)
                .args(["--quiet"])
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
    let inventory =
        "- name: one\n  url: \"service=one\"\n- name: two\n  ulr: x\n- name: one\n  service: dup\n";
    let outcome = levels(inventory)
        .status(3)
        .stderr_any("checked below: each problem at its line and column")
        .run();
    for at in ["targets.yaml:4:3", "targets.yaml:5:9"] {
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
    let outcome = levels(&inventory)
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
    let (_db, name, test) = napping("stopped", 4, 60);
    let running = test
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
    fs::read_to_string(run_directory(pty).join("summary.md")).expect("the combined report")
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

/// Two databases, `first` and `second`, each with a victim session; `victims.yaml` (its
/// action's `approval` as given) run on both at a terminal with `extra` arguments.
struct Victims {
    one: Database,
    two: Database,
    victim_one: Session,
    victim_two: Session,
    pty: Pty,
}

impl Victims {
    fn run(approval: &str, extra: &[&str]) -> Victims {
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
        let pty = at_a_terminal(&playbook, &inventory, extra);
        Victims {
            one,
            two,
            victim_one,
            victim_two,
            pty,
        }
    }
}

#[test]
fn at_a_terminal_each_target_is_asked_in_turn_and_named() {
    // `required` is a menu; `confirm` wants the step id typed, for each target anew.
    for approval in ["required", "confirm"] {
        let Victims {
            one,
            two,
            victim_one,
            victim_two,
            mut pty,
        } = Victims::run(approval, &["--parallel", "1"]);
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
        // Each target's decision is in its own journal, beside its own report.
        let dir = run_directory(&pty);
        for (name, decision) in [("first", "approved"), ("second", "declined")] {
            let journal = read_journal(&dir.join(format!("{name}.journal.jsonl")));
            assert_eq!(
                journal[0]["decision"], decision,
                "{approval}, {name}: {journal:?}"
            );
            let report = fs::read_to_string(dir.join(format!("{name}.md"))).unwrap();
            assert!(report.contains("terminate"), "{name}'s own report");
        }
    }
}

/// The one run directory under `runbook-reports/` of a run in `pty`'s directory.
fn run_directory(pty: &Pty) -> std::path::PathBuf {
    let mut dirs: Vec<_> = fs::read_dir(pty.path("runbook-reports"))
        .expect("the run's directory")
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "one run, one directory: {dirs:?}");
    dirs.remove(0)
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
            "abort" => pty.choose("Run this action?", &[DOWN], "abort the run"),
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

#[test]
fn a_confirm_action_is_typed_out_for_each_target_even_with_yes() {
    let Victims {
        one,
        two,
        victim_one,
        victim_two,
        mut pty,
    } = Victims::run("confirm", &["--yes"]);
    // Parallel targets, one prompt at a time: whichever asks first, each is named.
    for _ in 0..2 {
        pty.expect("== Target ");
        pty.expect("Type `terminate` to run this action");
        pty.type_line("terminate");
    }
    let code = pty.finish();
    assert_eq!(code, 0, "{}", pty.screen());
    one.wait_gone(victim_one.pid);
    two.wait_gone(victim_two.pid);
}

/// `levels.yaml` at a terminal on two new databases named `names`, each with `vars`, with
/// `extra` arguments; the databases live as long as the test keeps them.
fn levels_at_a_terminal(names: [&str; 2], vars: &str, extra: &[&str]) -> ([Database; 2], Pty) {
    let dbs = [Database::new(), Database::new()];
    let inventory: String = names
        .iter()
        .zip(&dbs)
        .map(|(name, db)| entry(name, &db.url(), vars))
        .collect();
    let mut args = vec!["run", "levels.yaml", "--targets", "targets.yaml"];
    args.extend(extra);
    let pty = Pty::command(
        &args,
        &[("levels.yaml", LEVELS), ("targets.yaml", &inventory)],
    );
    (dbs, pty)
}

#[test]
fn step_on_a_fleet_of_one_at_a_time_names_the_target_and_abort_stops_the_rest() {
    let (_dbs, mut pty) =
        levels_at_a_terminal(["first", "second"], "", &["--step", "--parallel", "1"]);
    pty.expect("[first] Next: nap");
    pty.choose("[first] Next: nap (check `nap`)", &[], "continue");
    pty.expect("[first] Next: level");
    pty.choose(
        "[first] Next: level (check `level`)",
        &[DOWN, DOWN],
        "abort",
    );
    let code = pty.finish();
    assert_eq!(code, 4, "{}", pty.screen());
    let summary = fs::read_to_string(run_directory(&pty).join("summary.md")).unwrap();
    assert!(summary.contains("| second | **NOT RUN**"), "{summary}");
}

#[test]
fn on_a_terminal_each_running_target_has_a_line_and_the_fleet_a_total() {
    let (_dbs, mut pty) = levels_at_a_terminal(["first-target", "second-target"], "nap: 2", &[]);
    pty.expect("first-target");
    pty.expect("targets done");
    let code = pty.finish();
    assert_eq!(code, 0, "{}", pty.screen());
    let screen = pty.screen();
    assert!(screen.contains("second-target"), "{screen}");
    assert!(
        screen.contains("[1/2] nap"),
        "a running target shows its step: {screen}"
    );
    assert!(
        screen.contains("levels: OK — 2 targets: 2 OK"),
        "the summary line ends it: {screen}"
    );
}

#[test]
fn off_a_terminal_a_fleet_says_only_its_errors_and_its_summary_line() {
    let db = Database::new();
    let inventory = [entry("here", &db.url(), ""), entry("gone", &nowhere(), "")].concat();
    levels(&inventory)
        .args(["--report-dir", "out"])
        .status(3)
        .stderr(
            "error: gone: cannot connect to `nobody@127.0.0.1:[..]/none`: [..]\n\
             levels: UNKNOWN — 2 targets: 1 OK, 1 UNKNOWN — needs attention: gone (UNKNOWN: cannot connect to `nobody@127.0.0.1:[..]) — report: out/summary.md\n",
        )
        .run();
}
