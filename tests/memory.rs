//! A check returning 2,000,000 rows, each evaluated by a per-row assessment, runs in bounded
//! memory: rows are streamed, counted and assessed, and only a few are kept.
//!
//! The peak is the run's own (`VmHWM` of its pid, watched by the `Test` helper), so the other tests
//! running in this process at the same time do not count.

use std::time::Instant;

use crate::common::Test;
use crate::common::db::Database;

const ROWS: u64 = 2_000_000;

/// Peak resident set size (MB) allowed for the run.
const MAX_RSS_MB: f64 = 100.0;

#[test]
fn two_million_rows_are_streamed_in_bounded_memory() {
    let db = Database::new();
    // The server's statement_timeout runs while the client reads: a debug build evaluating an
    // assessment on 2,000,000 rows takes longer than the default 30 s on a busy machine, so
    // the step gets 10 minutes. This test is about memory; the duration is printed only.
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
    let started = Instant::now();
    let outcome = Test::new()
        .playbook("big.yaml", &yaml)
        .args(["run", "big.yaml", "--quiet"])
        .database(&db)
        .json_report()
        .status(1)
        .run();
    let elapsed = started.elapsed();
    let peak_mb = outcome.peak_rss_kb as f64 / 1024.0;
    println!(
        "{ROWS} rows in {:.1} s, peak RSS {peak_mb:.1} MB (debug build, dependencies at opt-level 2)",
        elapsed.as_secs_f64()
    );
    let report = outcome.json();
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
    assert_eq!(step["rows"][0][0], 1);
    assert_eq!(step["rows"][49][1], 100);
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
