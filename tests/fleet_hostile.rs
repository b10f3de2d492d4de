//! Fleet runs against what an attacker of the feature tries: passwords that must not reach
//! any output, target names hostile to file names and terminals, stops while a target
//! connects or a prompt waits, approvals a fleet cannot give or must ask each target, and a
//! fleet larger than the server's connections.

use std::fs;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::common::cluster::Cluster;
use crate::common::db::Database;
use crate::common::pty::DOWN;
use crate::common::{Test, read_journal, read_json};
use crate::fleet::{
    LEVELS, VICTIMS, at_a_terminal, combined_markdown, entry, levels, nowhere, statuses,
};

/// The password of the inventories below, which no output may show.
const SECRET: &str = "Hunter2-fleet-secret";

#[test]
fn an_inventory_mistake_on_the_line_of_a_url_never_shows_its_password() {
    let mistakes = format!(
        "- {{name: a, url: \"postgres://u:{SECRET}@127.0.0.1:1/x\", bogus: 1}}\n\
         - {{name: b/c, url: \"host=127.0.0.1 password='{SECRET}' port=1\"}}\n"
    );
    // A var the playbook does not take: the plan renders that one, not the inventory's check.
    let var =
        format!("- {{name: a, url: \"postgres://u:{SECRET}@127.0.0.1:1/x\", vars: {{levl: 1}}}}\n");
    let cases = [
        (
            mistakes,
            &["targets.yaml:1:", "targets.yaml:2:", "1 | - {name: a, url:"][..],
        ),
        (var, &["targets.yaml:1:", "did you mean `level`"][..]),
    ];
    for (inventory, shown) in cases {
        let outcome = levels(&inventory)
            .status(3)
            .stderr_any("checked below: located, with the lines shown")
            .run();
        let stderr = outcome.stderr;
        for shown in shown {
            assert!(stderr.contains(shown), "{shown}:\n{stderr}");
        }
        assert!(!stderr.contains(SECRET), "{stderr}");
    }
}

#[test]
fn targets_named_summary_or_300_characters_long_run_and_keep_their_own_reports() {
    let db = Database::new();
    let long = "x".repeat(300);
    let names = ["summary", "Summary", long.as_str(), "pipe|semi;colon"];
    let inventory: String = names
        .iter()
        .map(|name| entry(&format!("'{name}'"), &db.url(), "level: 1"))
        .collect();
    let outcome = levels(&inventory)
        .args(["--report-dir", "fleet", "--format", "json"])
        .status(1)
        .stderr_any("the summary line")
        .run();
    let combined = read_json(&outcome.path("fleet/summary.json"));
    assert_eq!(combined["kind"], "fleet", "{combined}");
    let expected: Vec<(String, String)> = names
        .iter()
        .map(|name| ((*name).to_owned(), "WARNING".to_owned()))
        .collect();
    assert_eq!(statuses(&combined), expected);
    for target in combined["targets"].as_array().unwrap() {
        let report = target["report"].as_str().expect("a report for each target");
        let own = read_json(&outcome.path(report));
        assert_eq!(own["status"], "WARNING", "{}: {own}", target["name"]);
        assert_ne!(own["kind"], "fleet", "{report} is the target's own");
    }
}

#[test]
fn a_stop_while_a_target_connects_does_not_wait_for_its_connect_timeout() {
    // Listening, never accepting: the kernel completes the handshake and no answer comes.
    let silent = TcpListener::bind("127.0.0.1:0").expect("a listening port");
    let port = silent.local_addr().unwrap().port();
    let db = Database::new();
    let running = Test::new()
        .clean_connection_env()
        .env("PGCONNECT_TIMEOUT", "60")
        .playbook("levels.yaml", LEVELS)
        .args(["run", "levels.yaml", "--parallel", "1"])
        .args([
            "--target",
            &format!("postgres://nobody@127.0.0.1:{port}/none"),
        ])
        .args(["--target", &db.url()])
        .args(["--report-dir", "fleet", "--format", "json"])
        .status(4)
        .stderr_any("the notice of the signal, then the summary line")
        .spawn();
    std::thread::sleep(Duration::from_secs(1));
    let started = Instant::now();
    running.signal(libc::SIGTERM);
    let outcome = running.wait();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped at once, not after the 60 s connect timeout: {:?}",
        started.elapsed()
    );
    let combined = read_json(&outcome.path("fleet/summary.json"));
    let statuses: Vec<String> = statuses(&combined).into_iter().map(|(_, s)| s).collect();
    assert_eq!(statuses, ["STOPPED", "NOT_RUN"], "{combined}");
    let why = combined["targets"][0]["why"].as_str().unwrap_or_default();
    assert!(why.contains("SIGTERM"), "{why}");
    drop(silent);
}

#[test]
fn control_characters_in_a_service_name_reach_no_output() {
    let db = Database::new();
    let services = format!(
        "[prod-\x1b]0;owned\x07\x1b[2J]\nhost=/var/run/postgresql\ndbname={}\n",
        db.name
    );
    let test = Test::new().clean_connection_env();
    let file = test.dir().join("services.conf").display().to_string();
    let outcome = test
        .file("services.conf", &services)
        .env("PGSERVICEFILE", &file)
        .playbook("levels.yaml", LEVELS)
        .args([
            "run",
            "levels.yaml",
            "--service",
            "prod-*",
            "--var",
            "level=1",
        ])
        .args(["--report-dir", "fleet", "--metrics", "fleet.prom"])
        .status(1)
        .stderr_any("checked below: no escape sequence")
        .run();
    let summary = fs::read_to_string(outcome.path("fleet/summary.md")).unwrap();
    let metrics = fs::read_to_string(outcome.path("fleet.prom")).unwrap();
    for (what, text) in [
        ("stderr", &outcome.stderr),
        ("the combined report", &summary),
        ("the metrics", &metrics),
    ] {
        assert!(
            !text.contains('\x1b') && !text.contains('\x07'),
            "{what}: {text:?}"
        );
    }
    assert!(summary.contains(r"prod-\\u{1b}]0;owned"), "{summary}");
}

/// The fleet tests' victims playbook named `name`, its action approved by `approval`.
fn victims(approval: &str, name: &str) -> String {
    VICTIMS
        .replace("name: victims", &format!("name: {name}"))
        .replace("approval: required", &format!("approval: {approval}"))
}

/// `runbook run victims.yaml --targets targets.yaml` with `playbook` and `inventory`, the
/// reports in `fleet/`, in JSON.
fn victims_fleet(playbook: &str, inventory: &str) -> Test {
    Test::new()
        .clean_connection_env()
        .playbook("victims.yaml", playbook)
        .file("targets.yaml", inventory)
        .args(["run", "victims.yaml", "--targets", "targets.yaml"])
        .args(["--report-dir", "fleet", "--format", "json"])
}

#[test]
fn a_fleet_without_a_terminal_or_with_yes_on_confirm_acts_on_no_target_and_journals_each() {
    let (one, two) = (Database::new(), Database::new());
    let (victim_one, victim_two) = (one.session_named("victim"), two.session_named("victim"));
    let inventory = [entry("one", &one.url(), ""), entry("two", &two.url(), "")].concat();
    for (approval, extra, refusal) in [
        ("required", None, "no terminal to ask and no `--yes`"),
        ("confirm", Some("--yes"), "which `--yes` never gives"),
    ] {
        let playbook = victims(approval, &one.playbook_name("v"));
        // One at a time: two databases of one server at once refuse each other's actions (see
        // `targets_on_one_server_do_not_refuse_each_others_actions`).
        let outcome = victims_fleet(&playbook, &inventory)
            .args(["--parallel", "1"])
            .args(extra)
            .status(4)
            .stderr_any("the summary line")
            .run();
        let combined = read_json(&outcome.path("fleet/summary.json"));
        let statuses: Vec<String> = statuses(&combined).into_iter().map(|(_, s)| s).collect();
        assert_eq!(statuses, ["STOPPED", "STOPPED"], "{approval}: {combined}");
        for name in ["one", "two"] {
            let journal = read_journal(&outcome.path(&format!("fleet/{name}.journal.jsonl")));
            let text = serde_json::to_string(&journal).unwrap();
            assert!(
                text.contains("refused") && text.contains(refusal),
                "{name}: {text}"
            );
        }
        assert!(
            one.alive(victim_one.pid) && two.alive(victim_two.pid),
            "{approval}"
        );
    }
}

#[test]
fn a_dry_run_fleet_acts_on_no_target_and_journals_nothing() {
    let (one, two) = (Database::new(), Database::new());
    let (victim_one, victim_two) = (one.session_named("victim"), two.session_named("victim"));
    let inventory = [entry("one", &one.url(), ""), entry("two", &two.url(), "")].concat();
    let playbook = victims("required", &one.playbook_name("v"));
    let outcome = victims_fleet(&playbook, &inventory)
        .args(["--dry-run", "--yes"])
        .stderr_any("the summary line")
        .run();
    let combined = read_json(&outcome.path("fleet/summary.json"));
    assert_eq!(combined["mode"], "dry-run", "{combined}");
    let files: Vec<String> = fs::read_dir(outcome.path("fleet"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!files.iter().any(|f| f.contains("journal")), "{files:?}");
    assert!(one.alive(victim_one.pid) && two.alive(victim_two.pid));
}

#[test]
fn targets_on_one_server_do_not_refuse_each_others_actions() {
    let (one, two) = (Database::new(), Database::new());
    let (victim_one, victim_two) = (one.session_named("victim"), two.session_named("victim"));
    let inventory = [entry("one", &one.url(), ""), entry("two", &two.url(), "")].concat();
    // The lock is held from the action to the end of the run: 2 s later.
    let playbook = format!(
        "{}  - id: linger\n    check: SELECT pg_sleep(2) AS slept\n",
        victims("required", &one.playbook_name("v"))
    );
    let outcome = victims_fleet(&playbook, &inventory)
        .args(["--parallel", "2", "--yes"])
        .stderr_any("the summary line")
        .run();
    let combined = read_json(&outcome.path("fleet/summary.json"));
    assert_eq!(
        statuses(&combined),
        [("one", "OK"), ("two", "OK")].map(|(n, s)| (n.to_owned(), s.to_owned())),
        "{combined}"
    );
    one.wait_gone(victim_one.pid);
    two.wait_gone(victim_two.pid);
}

#[test]
fn the_report_and_the_metrics_cannot_share_a_path() {
    let db = Database::new();
    Test::new()
        .clean_connection_env()
        .playbook("levels.yaml", LEVELS)
        .args(["run", "levels.yaml", "--target", &db.url(), "--target", &nowhere()])
        .args(["--report", "out.txt", "--metrics", "./out.txt"])
        .status(64)
        .stderr("error: `--report` and `--metrics` name the same file `./out.txt`: each needs its own\n")
        .run();
}

#[test]
fn three_hundred_targets_at_64_at_once_on_a_server_of_20_connections_all_end_and_are_reported() {
    let cluster = Cluster::builder()
        .setting("max_connections", "20")
        .setting("superuser_reserved_connections", "3")
        .start();
    let url = cluster.url("postgres", cluster.password(), "postgres");
    let inventory: String = (0..300)
        .map(|i| entry(&format!("t{i:03}"), &url, ""))
        .collect();
    let outcome = levels(&inventory)
        .env("PGCONNECT_TIMEOUT", "5")
        .args([
            "--parallel",
            "64",
            "--report-dir",
            "fleet",
            "--format",
            "json",
            "--quiet",
        ])
        .status_any("OK, or UNKNOWN where the server ran out of connections: checked below")
        .stderr_any("the targets refused for too many connections say so")
        .run();
    let combined = read_json(&outcome.path("fleet/summary.json"));
    let targets = combined["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 300);
    for target in targets {
        match target["status"].as_str().unwrap() {
            "OK" => {}
            "UNKNOWN" => {
                // Refused for too many connections, or (on a busy machine, where SCRAM
                // handshakes queue) not answered within the connect timeout: either way
                // the target ended, and says why.
                let why = target["why"].as_str().unwrap_or_default();
                assert!(
                    why.contains("too many") || why.contains("no answer within"),
                    "{target}"
                );
            }
            other => panic!("{other}: {target}"),
        }
        assert!(target["report"].is_string(), "{target}");
    }
    assert!(!outcome.stderr.contains(cluster.password()));
    assert!(
        outcome.peak_rss_kb < 64 * 1024,
        "peak RSS {} kB",
        outcome.peak_rss_kb
    );
}

#[test]
fn abort_at_the_first_step_prompt_of_a_fleet_stops_it_and_asks_no_other_target() {
    let (one, two) = (Database::new(), Database::new());
    let inventory = [
        entry("first", &one.url(), ""),
        entry("second", &two.url(), ""),
    ]
    .concat();
    let mut pty = at_a_terminal(LEVELS, &inventory, &["--step", "--parallel", "1"]);
    pty.expect("[first] Next:");
    pty.choose("[first] Next: nap (check `nap`)", &[DOWN, DOWN], "abort");
    let code = pty.finish();
    assert_eq!(code, 4, "{}", pty.screen());
    assert!(!pty.screen().contains("[second]"), "{}", pty.screen());
    let summary = combined_markdown(&pty);
    assert!(
        summary.contains("STOPPED") && summary.contains("NOT RUN"),
        "{summary}"
    );
}

#[test]
fn a_parallel_beyond_the_open_file_limit_runs_fewer_at_once_and_loses_no_target() {
    let silent = TcpListener::bind("127.0.0.1:0").expect("a listening port");
    let url = format!(
        "postgres://nobody@127.0.0.1:{}/none",
        silent.local_addr().unwrap().port()
    );
    let inventory: String = (0..200)
        .map(|i| entry(&format!("s{i:03}"), &url, ""))
        .collect();
    let dir = tempfile::tempdir().expect("a temporary directory");
    fs::write(dir.path().join("levels.yaml"), LEVELS).unwrap();
    fs::write(dir.path().join("targets.yaml"), inventory).unwrap();
    // A limit as low as cron's or systemd's can be, below what `--parallel` asks for.
    let output = std::process::Command::new("sh")
        .args(["-c", "ulimit -n 256 && exec \"$@\"", "sh"])
        .arg(env!("CARGO_BIN_EXE_runbook"))
        .args(["run", "levels.yaml", "--targets", "targets.yaml"])
        .env("XDG_STATE_HOME", crate::common::state_home(dir.path()))
        .args([
            "--parallel",
            "300",
            "--report-dir",
            "fleet",
            "--format",
            "json",
        ])
        .current_dir(dir.path())
        .env("PGCONNECT_TIMEOUT", "1")
        .output()
        .expect("run the binary under a lower open-file limit");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("targets at once, not 300"), "{stderr}");
    assert!(!stderr.contains("Too many open files"), "{stderr}");
    let combined = read_json(&dir.path().join("fleet/summary.json"));
    let targets = combined["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 200);
    for target in targets {
        let why = target["why"].as_str().unwrap_or_default();
        assert!(why.contains("no answer within"), "{target}");
        assert!(target["report"].is_string(), "{target}");
    }
    drop(silent);
}

/// 300 unreachable targets with host-like names, at 64 at once.
fn unreachable_fleet() -> Test {
    let gone = nowhere();
    let inventory: String = (0..300)
        .map(|i| entry(&format!("db-{i:03}.prod.example.com"), &gone, ""))
        .collect();
    levels(&inventory)
        .env("PGCONNECT_TIMEOUT", "1")
        .args(["--parallel", "64"])
        .status(3)
}

#[test]
fn the_summary_line_of_300_unreachable_targets_names_each_in_a_bounded_line() {
    let outcome = unreachable_fleet()
        .stderr_any("each target's error, then the summary line")
        .run();
    let line = outcome.stderr.lines().last().unwrap_or_default();
    assert!(
        line.contains("db-000.prod.example.com (UNKNOWN: cannot connect"),
        "{line}"
    );
    assert!(
        line.contains(", db-299.prod.example.com (UNKNOWN) — report:"),
        "{line}"
    );
    assert!(line.len() < 12_000, "{} bytes", line.len());
}

#[test]
fn the_plugin_line_of_300_unreachable_targets_fits_nagios_output_buffer() {
    let outcome = unreachable_fleet()
        .arg("--nagios")
        .stdout_any("the plugin answer, measured below")
        .stderr_any("each target's error")
        .run();
    let first = outcome.stdout.lines().next().unwrap_or_default();
    assert!(first.len() < 8_192, "{} bytes", first.len());
    assert!(
        first.contains("and 280 more, each on a line below"),
        "{first}"
    );
    for i in 0..300 {
        let line = format!("\nUNKNOWN db-{i:03}.prod.example.com: cannot connect");
        assert!(
            outcome.stdout.contains(&line),
            "every unreachable target is named: {line}"
        );
    }
}
