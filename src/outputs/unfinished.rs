//! Approvals of earlier runs that never got their outcome: what a run leaves in the journal
//! when it dies (a `kill -9`, a crash, a power cut) between approving an action and hearing
//! back from the server. Nobody can tell from the journal whether the SQL ran, so the next
//! live run of the playbook says so, and the operator checks the server.
//!
//! Reading earlier journals must never stop a run nor slow it down: only `*.journal.jsonl`
//! files in the journal's directory, the most recently modified first and only so many, the
//! last few MB of each; a line that does not parse (garbled, or of an older format) is
//! skipped. An approval is pointed out until a later run of the playbook, started after it,
//! has journaled anything: that run pointed it out already.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::journal::{DecisionEntry, Entry, What};
use super::record::Decided;

/// The journals read, most recently modified first.
const FILES: usize = 50;
/// What is read of each journal: its end, where the latest entries are.
const TAIL_BYTES: u64 = 4 << 20;
/// Notes beyond this are counted in one more note.
const NOTES: usize = 10;
/// The SQL shown, in characters of its first line.
const SQL_CHARS: usize = 120;

const SUFFIX: &str = ".journal.jsonl";

/// A note for each approved action of `playbook` that the journals beside `journal` hold no
/// outcome for, oldest first.
pub fn notes(journal: &Path, playbook: &str) -> Vec<String> {
    let directory = journal.parent().unwrap_or(Path::new(""));
    let mut entries = Vec::new();
    for path in journals(directory) {
        let Some(text) = tail(&path) else { continue };
        entries.extend(
            text.lines()
                .filter_map(|line| serde_json::from_str::<Entry>(line).ok())
                .filter(|entry| entry.playbook == playbook)
                .map(|entry| (path.clone(), entry)),
        );
    }
    let mut unfinished = unfinished(&entries);
    unfinished.sort_by(|a, b| a.1.at.cmp(&b.1.at));
    let more = unfinished.len().saturating_sub(NOTES);
    let mut notes: Vec<String> = unfinished[more..]
        .iter()
        .map(|(path, entry, decision)| note(path, entry, decision))
        .collect();
    if more > 0 {
        notes.insert(
            0,
            format!(
                "{more} more approved actions of earlier runs have no outcome in the journals in `{}`",
                listed(directory).display()
            ),
        );
    }
    notes
}

/// The approved decisions without an outcome of the same run and step, and not yet pointed
/// out by a later run.
fn unfinished(entries: &[(PathBuf, Entry)]) -> Vec<(&Path, &Entry, &DecisionEntry)> {
    let done: BTreeSet<(&str, &str)> = entries
        .iter()
        .filter(|(_, e)| matches!(e.what, What::Outcome(_)))
        .map(|(_, e)| (e.run.as_str(), e.step.as_str()))
        .collect();
    let starts: BTreeMap<&str, &str> = entries
        .iter()
        .map(|(_, e)| (e.run.as_str(), started(&e.run)))
        .collect();
    entries
        .iter()
        .filter_map(|(path, e)| match &e.what {
            What::Decision(d) if d.decision == Decided::Approved => Some((path.as_path(), e, d)),
            _ => None,
        })
        .filter(|(_, e, _)| !done.contains(&(e.run.as_str(), e.step.as_str())))
        .filter(|(_, e, _)| {
            !starts
                .iter()
                .any(|(run, start)| *run != e.run && *start > e.at.as_str())
        })
        .collect()
}

fn note(path: &Path, entry: &Entry, decision: &DecisionEntry) -> String {
    let (pid, start) = entry.run.split_once('@').unwrap_or(("?", &entry.run));
    format!(
        "an earlier run (pid {pid}, started {start}) approved step `{}` at {} (by {}, operator {}) on `{}`, but the journal `{}` has no outcome for it: that run ended (or is still running) after the approval, so `{}` may or may not have run — check the server",
        entry.step,
        entry.at,
        decision.by.map_or("nobody", |by| by.words()),
        decision.operator,
        entry.target,
        path.display(),
        first_line(&decision.sql)
    )
}

/// The start of a run, from its id (`<pid>@<start>`).
fn started(run: &str) -> &str {
    run.split_once('@').map_or("", |(_, start)| start)
}

/// The SQL's first line that says something, shortened; `…` when there is more.
fn first_line(sql: &str) -> String {
    let mut lines = sql.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default();
    let mut shown: String = first.chars().take(SQL_CHARS).collect();
    if shown.len() < first.len() || lines.next().is_some() {
        shown.push('…');
    }
    shown
}

/// The journals in `directory`, most recently modified first, at most `FILES`.
fn journals(directory: &Path) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(listed(directory)) else {
        return Vec::new();
    };
    let mut found: Vec<(SystemTime, PathBuf)> = read
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(SUFFIX))
        .filter_map(|entry| {
            let path = directory.join(entry.file_name());
            // Regular files only: opening a FIFO would wait for a writer.
            let metadata = std::fs::metadata(&path).ok().filter(|m| m.is_file())?;
            Some((metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH), path))
        })
        .collect();
    found.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    found
        .into_iter()
        .take(FILES)
        .map(|(_, path)| path)
        .collect()
}

/// The last `TAIL_BYTES` of a file, from its first whole line.
fn tail(path: &Path) -> Option<String> {
    let mut file = File::open(path).ok()?;
    let skipped = file.metadata().ok()?.len().saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(skipped)).ok()?;
    let mut bytes = Vec::new();
    file.take(TAIL_BYTES).read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    Some(match text.split_once('\n') {
        Some((_, rest)) if skipped > 0 => rest.to_owned(),
        _ => text.into_owned(),
    })
}

/// The directory to list: `.` for a journal named without one.
fn listed(directory: &Path) -> &Path {
    if directory.as_os_str().is_empty() {
        Path::new(".")
    } else {
        directory
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: &str = "root@/var/run/postgresql:5432/app";

    fn decision(run: &str, at: &str, playbook: &str, step: &str, decision: &str) -> String {
        format!(
            r#"{{"run":"{run}","at":"{at}","playbook":"{playbook}","step":"{step}","target":"{TARGET}","kind":"decision","decision":"{decision}","by":"--yes","operator":"alice","role":"root","sql":"\n  UPDATE jobs SET state = 'cancelled'\n  WHERE stuck","preview_rows":null,"reason":null}}"#
        )
    }

    fn outcome(run: &str, at: &str, step: &str) -> String {
        format!(
            r#"{{"run":"{run}","at":"{at}","playbook":"cleanup","step":"{step}","target":"{TARGET}","kind":"outcome","outcome":"succeeded","rows_affected":3,"rows_returned":0,"sqlstate":null,"message":null}}"#
        )
    }

    fn write(dir: &Path, name: &str, lines: &[String]) {
        std::fs::write(dir.join(name), lines.join("\n") + "\n").unwrap();
    }

    #[test]
    fn an_approval_without_its_outcome_is_pointed_out_until_a_later_run_journals() {
        let dir = tempfile::tempdir().unwrap();
        let first = "41@2026-11-26T14:00:00Z";
        write(
            dir.path(),
            "cleanup-1.journal.jsonl",
            &[
                decision(first, "2026-11-26T14:00:01Z", "cleanup", "done", "approved"),
                outcome(first, "2026-11-26T14:00:02Z", "done"),
                decision(first, "2026-11-26T14:00:05Z", "cleanup", "stuck", "approved"),
                decision(first, "2026-11-26T14:00:06Z", "cleanup", "later", "declined"),
                decision(first, "2026-11-26T14:00:07Z", "other", "stuck", "approved"),
                "{garbled".to_owned(),
                r#"{"at":"2026-11-01T00:00:00Z","playbook":"cleanup","step":"old","decision":"approved"}"#.to_owned(),
            ],
        );
        write(
            dir.path(),
            "unrelated.jsonl",
            &[decision(first, "x", "cleanup", "x", "approved")],
        );
        let journal = dir.path().join("cleanup-2.journal.jsonl");
        let notes = notes(&journal, "cleanup");
        assert_eq!(
            notes,
            [format!(
                "an earlier run (pid 41, started 2026-11-26T14:00:00Z) approved step `stuck` at 2026-11-26T14:00:05Z (by --yes, operator alice) on `{TARGET}`, but the journal `{}` has no outcome for it: that run ended (or is still running) after the approval, so `UPDATE jobs SET state = 'cancelled'…` may or may not have run — check the server",
                dir.path().join("cleanup-1.journal.jsonl").display()
            )]
        );

        // A run that started earlier could not have seen it; one that started later did.
        let earlier = "42@2026-11-26T14:00:04Z";
        write(
            dir.path(),
            "cleanup-2.journal.jsonl",
            &[decision(
                earlier,
                "2026-11-26T14:00:09Z",
                "cleanup",
                "done",
                "refused",
            )],
        );
        assert_eq!(super::notes(&journal, "cleanup").len(), 1);
        let later = "43@2026-11-26T15:00:00Z";
        write(
            dir.path(),
            "cleanup-3.journal.jsonl",
            &[decision(
                later,
                "2026-11-26T15:00:01Z",
                "cleanup",
                "done",
                "declined",
            )],
        );
        assert_eq!(super::notes(&journal, "cleanup"), Vec::<String>::new());
    }

    #[test]
    fn only_the_end_of_a_large_journal_is_read_and_a_fifo_is_not_opened() {
        let dir = tempfile::tempdir().unwrap();
        let run = "7@2026-11-26T14:00:00Z";
        let mut text = "x".repeat(TAIL_BYTES as usize + 10);
        text.push('\n');
        text.push_str(&decision(
            run,
            "2026-11-26T14:00:01Z",
            "cleanup",
            "stuck",
            "approved",
        ));
        text.push('\n');
        std::fs::write(dir.path().join("big.journal.jsonl"), text).unwrap();
        #[cfg(unix)]
        {
            let fifo =
                std::ffi::CString::new(dir.path().join("fifo.journal.jsonl").to_str().unwrap())
                    .unwrap();
            // SAFETY: mkfifo reads the NUL-terminated path it is given, which outlives the call.
            assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        }
        let notes = notes(&dir.path().join("this.journal.jsonl"), "cleanup");
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("step `stuck`"), "{notes:?}");
    }

    #[test]
    fn the_first_line_of_the_sql_is_shown_shortened() {
        assert_eq!(first_line("\n  VACUUM t\n"), "VACUUM t");
        assert_eq!(first_line("SELECT 1\nFROM t"), "SELECT 1…");
        let long = "é".repeat(SQL_CHARS + 1);
        assert_eq!(first_line(&long), "é".repeat(SQL_CHARS) + "…");
    }
}
