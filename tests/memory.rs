//! A check returning 2,000,000 rows, each evaluated by a per-row assessment, runs in bounded
//! memory: rows are streamed, counted and assessed, and only a few are kept.
//!
//! One test only in this file, so this process has no other children whose peak RSS
//! `RUSAGE_CHILDREN` could report (apart from the small psql that creates the database).

mod common;

use std::fs;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::db::Database;

const ROWS: u64 = 2_000_000;

/// Peak resident set size (MB) allowed for the run.
const MAX_RSS_MB: f64 = 100.0;

#[test]
fn two_million_rows_are_streamed_in_bounded_memory() {
    let db = Database::new();
    // The server's statement_timeout runs while the client reads: a debug build evaluating an
    // assessment on 2,000,000 rows takes longer than the default 30 s on a busy machine, so
    // the step gets 10 minutes. This test is about memory; the duration is printed only.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let yaml = format!(
        r#"version: 1
name: big
steps:
  - id: series
    timeout: 10m
    check: SELECT g AS n, g * 2 AS doubled, md5(g::text) AS hash, now() AS at FROM generate_series(1, {ROWS}) AS g
    assess:
      - warning: n > {}
        message: "{{{{ matching_rows }}}} of {{{{ row_count }}}} rows above {}"
"#,
        ROWS - 1,
        ROWS - 1
    );
    fs::write(dir.path().join("big.yaml"), yaml).expect("write the playbook");

    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_runbook"))
        .args(["run", "big.yaml", "--database-url", &db.url()])
        .args(["--report", "r.json", "--format", "json", "--quiet"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run the runbook binary");
    let elapsed = started.elapsed();
    let peak_mb = children_peak_rss_kb() as f64 / 1024.0;
    println!(
        "{ROWS} rows: exit {:?} in {:.1} s, peak RSS {peak_mb:.1} MB (debug build, dependencies at opt-level 2)",
        output.status.code(),
        elapsed.as_secs_f64()
    );

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a WARNING run exits 1\n--- stderr\n{stderr}"
    );
    let text = fs::read_to_string(dir.path().join("r.json")).expect("the JSON report");
    let report: serde_json::Value = serde_json::from_str(&text).expect("the report is JSON");
    let step = &report["steps"][0];
    assert_eq!(step["status"], "WARNING", "{step:#}");
    assert_eq!(step["row_count"], ROWS);
    assert_eq!(
        step["rows"].as_array().map(Vec::len),
        Some(50),
        "the report keeps the default 50 rows"
    );
    assert_eq!(step["rows_truncated"], true);
    assert_eq!(
        step["columns"],
        serde_json::json!(["n", "doubled", "hash", "at"])
    );
    assert_eq!(step["rows"][0][0], "1");
    assert_eq!(step["rows"][49][1], "100");
    assert_eq!(step["assessments"][0]["held"], true);
    assert_eq!(step["assessments"][0]["matching_rows"], 1);
    assert_eq!(
        step["message"],
        format!("1 of {ROWS} rows above {}", ROWS - 1)
    );
    assert_eq!(report["exit_code"], 1);

    assert!(
        peak_mb < MAX_RSS_MB,
        "peak RSS {peak_mb:.1} MB for {ROWS} rows; expected under {MAX_RSS_MB} MB"
    );
}

/// The largest peak RSS (kB on Linux) among the waited-for children of this process.
fn children_peak_rss_kb() -> i64 {
    // SAFETY: getrusage only writes the struct it is given, which is zero-initialised and
    // lives for the call.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage), 0);
        usage
    };
    usage.ru_maxrss
}
