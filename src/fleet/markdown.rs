//! The combined Markdown report of a fleet run, for the people on call: one table of every
//! target, then what needs attention, worst first.
//!
//! Target names come from inventories and users, messages and errors from servers: all of it
//! is escaped as the single run's report escapes it (`outputs::prose`), so nothing can break
//! the table or inject markup. The links to the targets' reports are relative to the combined
//! report's own directory, so the run directory can be moved, archived or served as a whole.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use super::report::{FleetRecord, TargetSummary};
use crate::markdown::{cell, code};
use crate::outputs::prose::{cell_code, heading, inline, paragraph};
use crate::outputs::{human_duration, record::Mode, record::Status};

/// The combined Markdown report; `base` is the directory it is written to, which its links to
/// the targets' reports are made relative to (`None`: the paths as they were written).
pub fn markdown(record: &FleetRecord, base: Option<&Path>) -> String {
    let mut blocks = vec![
        format!("# {} — {}\n", heading(&record.title), record.status.label()),
        overview(record),
        format!("**{}**\n", record.counted()),
    ];
    for note in &record.notes {
        blocks.push(format!("> **Note:** {}\n", inline(note)));
    }
    blocks.push("## Targets\n".to_owned());
    blocks.push(table(record, base));
    blocks.push("## Needs attention\n".to_owned());
    let mut attention = record.needing_attention().peekable();
    if attention.peek().is_none() {
        blocks.push("Every target is OK.\n".to_owned());
    }
    for target in attention {
        blocks.extend(attention_blocks(target, base));
    }
    blocks.join("\n")
}

/// `` `daily-monitoring` · started … · operator alice · live · parallel 8 · shard 2/4 · 12.3 s
/// · exit 2 ``.
fn overview(record: &FleetRecord) -> String {
    let mode = match record.mode {
        Mode::Live => "live",
        Mode::DryRun => "dry run — no action was run",
    };
    let mut parts = vec![
        cell_code(&record.playbook),
        format!("started {}", cell(&record.started_at)),
        format!("operator {}", cell(&record.operator)),
        mode.to_owned(),
        format!("parallel {}", record.parallel),
    ];
    parts.extend(
        record
            .shard
            .as_ref()
            .map(|shard| format!("shard {}", cell(shard))),
    );
    parts.push(human_duration(record.duration_ms));
    parts.push(format!("exit {}", record.exit_code));
    format!("{}\n", parts.join(" · "))
}

fn table(record: &FleetRecord, base: Option<&Path>) -> String {
    let mut out = "| Target | Status | Duration | Worst message | Report |\n".to_owned();
    out.push_str("| --- | --- | --- | --- | --- |\n");
    for target in &record.targets {
        let status = match target.status {
            Status::Ok => "OK".to_owned(),
            status => format!("**{}**", status.label()),
        };
        let duration = match target.status {
            Status::NotRun => "—".to_owned(),
            _ => human_duration(target.duration_ms),
        };
        let why = target.why.as_deref().map_or_else(|| "—".to_owned(), inline);
        let report = target
            .report
            .as_deref()
            .map_or_else(|| "—".to_owned(), |path| link(path, base));
        let _ = writeln!(
            out,
            "| {} | {status} | {duration} | {why} | {report} |",
            cell(&target.name)
        );
    }
    out
}

/// A target that is not OK: where it is, why, and its problem steps.
fn attention_blocks(target: &TargetSummary, base: Option<&Path>) -> Vec<String> {
    // A target that never started may not know where it would have connected.
    let mut line: Vec<String> = (!target.target.is_empty())
        .then(|| cell_code(&target.target))
        .into_iter()
        .collect();
    line.push(format!("exit {}", target.exit_code));
    if target.status != Status::NotRun {
        line.push(human_duration(target.duration_ms));
    }
    for (what, path) in [("report", &target.report), ("journal", &target.journal)] {
        if let Some(path) = path {
            line.push(format!("{what} {}", link(path, base)));
        }
    }
    let mut blocks = vec![
        format!(
            "### {} — {}\n",
            heading(&target.name),
            target.status.label()
        ),
        format!("{}\n", line.join(" · ")),
    ];
    if let Some(why) = &target.why {
        blocks.push(format!("{}\n", paragraph(why)));
    }
    if !target.problems.is_empty() {
        let mut list = String::new();
        for problem in &target.problems {
            let _ = write!(
                list,
                "- **{}** {}",
                problem.status.label(),
                code(&problem.step)
            );
            if problem.title != problem.step {
                let _ = write!(list, " {}", heading(&problem.title));
            }
            if let Some(message) = &problem.message {
                let _ = write!(list, ": {}", inline(message));
            }
            if let Some(error) = &problem.error {
                let _ = write!(list, " — error: {}", inline(error));
            }
            list.push('\n');
        }
        blocks.push(list);
    }
    blocks
}

/// A Markdown link to a report: its path relative to `base` when both are relative or both
/// absolute, as text and percent-encoded as the link.
fn link(path: &str, base: Option<&Path>) -> String {
    let path = Path::new(path);
    let relative = base
        .and_then(|base| relative_to(path, base))
        .unwrap_or_else(|| path.to_path_buf());
    let parts: Vec<String> = relative
        .components()
        .filter_map(|part| match part {
            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".to_owned()),
            _ => None,
        })
        .collect();
    let root = if relative.has_root() { "/" } else { "" };
    let shown = format!("{root}{}", parts.join("/"));
    let text = cell(&shown).replace('[', "\\[").replace(']', "\\]");
    format!("[{text}]({})", percent_encoded(&shown))
}

/// `path` as seen from the directory `base`; `None` when that cannot be said from the paths
/// alone (one absolute and one not, or `..` in `base` beyond what they share).
fn relative_to(path: &Path, base: &Path) -> Option<PathBuf> {
    if path.is_absolute() != base.is_absolute() {
        return None;
    }
    fn plain(path: &Path) -> Vec<Component<'_>> {
        path.components()
            .filter(|c| *c != Component::CurDir)
            .collect()
    }
    let (path, base) = (plain(path), plain(base));
    let shared = path.iter().zip(&base).take_while(|(a, b)| a == b).count();
    if base[shared..].contains(&Component::ParentDir) {
        return None;
    }
    let mut relative: PathBuf = base[shared..].iter().map(|_| "..").collect();
    relative.extend(&path[shared..]);
    Some(relative)
}

/// A path as a link target: every byte but `A-Z a-z 0-9 - . _ ~ /` percent-encoded, so a
/// space, a parenthesis or a pipe cannot end the link or the table cell.
fn percent_encoded(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(char::from(byte));
            }
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::example::{fleet, fleet_run, target};

    const EXPECTED: &str = "\
# Daily monitoring — STOPPED

`daily-monitoring` · started 2026-11-26T14:10:00Z · operator alice · live · parallel 8 · shard 2/4 · 12.3 s · exit 4

**7 targets: 2 OK, 1 WARNING, 1 CRITICAL, 1 UNKNOWN, 1 STOPPED, 1 NOT RUN**

> **Note:** `--max-failures 1` reached: 1 target not started

## Targets

| Target | Status | Duration | Worst message | Report |
| --- | --- | --- | --- | --- |
| db1 | OK | 1.2 s | — | [db1.md](db1.md) |
| db2 | **WARNING** | 1.2 s | `idle_candidates`: 3 idle connections older than 1h | [db2.md](db2.md) |
| db3 | **CRITICAL** | 1.2 s | `bloat`: 3 tables over 50% | [db3.md](db3.md) |
| db4 | **STOPPED** | 1.2 s | `act`: not approved | [db4.md](db4.md) |
| db5 | OK | 1.2 s | — | [db5.md](db5.md) |
| db7 | **UNKNOWN** | 1.2 s | cannot connect to db7.example.com:5432: connection refused | — |
| db9 \\| &lt;b&gt; | **NOT RUN** | — | not started: `--max-failures 1` reached | — |

## Needs attention

### db3 — CRITICAL

`ops@db3.example.com:5432/app` · exit 2 · 1.2 s · report [db3.md](db3.md)

`bloat`: 3 tables over 50%

- **WARNING** `idle_candidates` Idle connections older than 1h: 3 idle connections older than 1h
- **CRITICAL** `bloat` Table bloat: 3 tables over 50% — error: a \\| b &lt;i>

### db7 — UNKNOWN

`ops@db7.example.com:5432/app` · exit 3 · 1.2 s

cannot connect to db7.example.com:5432: connection refused

### db4 — STOPPED

`ops@db4.example.com:5432/app` · exit 4 · 1.2 s · report [db4.md](db4.md) · journal [db4.journal](db4.journal)

`act`: not approved

- **STOPPED** `act`: not approved

### db2 — WARNING

`ops@db2.example.com:5432/app` · exit 1 · 1.2 s · report [db2.md](db2.md)

`idle_candidates`: 3 idle connections older than 1h

- **WARNING** `idle_candidates` Idle connections older than 1h: 3 idle connections older than 1h

### db9 \\| &lt;b> — NOT RUN

`ops@db9.example.com:5432/app` · exit 3

not started: `--max-failures 1` reached
";

    #[test]
    fn the_combined_report_lists_every_target_then_the_worst_first() {
        let mut results = fleet();
        results[6].name = "db9 | <b>".to_owned();
        let record = FleetRecord::of(&fleet_run(&results));
        let text = markdown(&record, Some(Path::new("runbook-reports/run")));
        assert_eq!(text, EXPECTED);
    }

    #[test]
    fn an_all_ok_fleet_says_so() {
        let results = [target("db1", Status::Ok, None)];
        let text = markdown(&FleetRecord::of(&fleet_run(&results)), None);
        assert!(
            text.ends_with("## Needs attention\n\nEvery target is OK.\n"),
            "{text}"
        );
        assert!(
            text.contains("| db1 | OK | 1.2 s | — | [runbook-reports/run/db1.md](runbook-reports/run/db1.md) |"),
            "{text}"
        );
    }

    #[test]
    fn a_target_that_never_connected_is_not_shown_an_empty_server() {
        let mut results = [target("db9", Status::NotRun, Some("not started"))];
        results[0].record.target.clear();
        let text = markdown(&FleetRecord::of(&fleet_run(&results)), None);
        assert!(
            text.ends_with("### db9 — NOT RUN\n\nexit 3\n\nnot started\n"),
            "{text}"
        );
    }

    #[test]
    fn links_are_relative_to_the_combined_report_and_encoded() {
        let at = |path: &str, base: &str| link(path, Some(Path::new(base)));
        assert_eq!(at("r/run/db1.md", "r/run"), "[db1.md](db1.md)");
        assert_eq!(at("./r/run/db1.md", "r/run/"), "[db1.md](db1.md)");
        assert_eq!(at("r/a/db1.md", "r/b"), "[../a/db1.md](../a/db1.md)");
        assert_eq!(
            at("/srv/r/db1.md", "/srv/out"),
            "[../r/db1.md](../r/db1.md)"
        );
        assert_eq!(at("/srv/r/db1.md", "out"), "[/srv/r/db1.md](/srv/r/db1.md)");
        assert_eq!(at("r/db1.md", "../up"), "[r/db1.md](r/db1.md)");
        assert_eq!(
            at("r/a b|(c)[d].md", "r"),
            "[a b\\|(c)\\[d\\].md](a%20b%7C%28c%29%5Bd%5D.md)"
        );
    }
}
