//! The audit journal: every approval decision, on disk before the action runs, and what came
//! of each approved action, on disk as soon as its statement returned.
//!
//! One JSON object per line, appended and `fsync`ed per entry, so a `kill -9` right after an
//! approval still leaves the decision on disk — and, with no outcome of the same run and step
//! after it, the trace that the run died while the action ran (which the next run points out,
//! see `unfinished`). The file is created readable by its owner only: it holds the SQL that
//! ran, with other users' data in it.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::file::{effective_uid, private};
use super::record::{Decided, Decider};
use crate::engine::{Ended, Outcome};
use crate::events::{Event, Listener, Veto};

/// One line of the journal. A decision and its outcome share `run` and `step`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The run that wrote it: `<pid>@<start>`, the start in RFC 3339 UTC.
    pub run: String,
    /// RFC 3339 UTC: when the decision was taken, or when the statement returned.
    pub at: String,
    pub playbook: String,
    pub step: String,
    pub target: String,
    /// `kind`: `decision` or `outcome`, and what it says.
    #[serde(flatten)]
    pub what: What,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum What {
    Decision(DecisionEntry),
    Outcome(OutcomeEntry),
}

/// An approval decision, on disk before the action runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionEntry {
    /// `approved`, `declined`, `refused`, `aborted`, `interrupted`.
    pub decision: Decided,
    /// Who decided: `operator`, `operator (typed the step id)` or `--yes`; `null` when nobody
    /// did (a refusal, an interruption: `reason` says why). Journals written before it was
    /// typed said `nobody`: read as `null`.
    #[serde(deserialize_with = "decider")]
    pub by: Option<Decider>,
    /// The OS user or `--operator`.
    pub operator: String,
    /// The database role the action runs as.
    pub role: String,
    pub sql: String,
    pub preview_rows: Option<u64>,
    pub reason: Option<String>,
}

/// `by` as any journal wrote it: a decider, `null`, or the words of older journals for nobody
/// (`nobody`, `--dry-run`), so a journal of an earlier version stays readable.
fn decider<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Decider>, D::Error> {
    let by: Option<String> = Option::deserialize(deserializer)?;
    Ok(by.and_then(|by| serde_json::from_value(serde_json::Value::String(by)).ok()))
}

/// What an approved action did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeEntry {
    /// `succeeded`, `failed` or `interrupted` (Ctrl-C, a lost connection).
    pub outcome: Ended,
    /// The count of its command tags (`UPDATE 3` → 3), when it succeeded.
    pub rows_affected: Option<u64>,
    /// The rows it returned, when it succeeded.
    pub rows_returned: Option<u64>,
    /// For `terminate`/`cancel`: the sessions the server said it signalled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signalled: Option<u64>,
    pub sqlstate: Option<String>,
    pub message: Option<String>,
}

impl From<&Outcome> for OutcomeEntry {
    fn from(outcome: &Outcome) -> OutcomeEntry {
        OutcomeEntry {
            outcome: outcome.ended,
            rows_affected: outcome.rows_affected,
            rows_returned: outcome.rows_returned,
            signalled: outcome.signalled,
            sqlstate: outcome.sqlstate.clone(),
            message: outcome.message.clone(),
        }
    }
}

#[derive(Debug, Error)]
#[error("cannot write the audit journal `{path}`: {source}")]
pub struct JournalError {
    pub path: String,
    pub source: std::io::Error,
}

pub struct Journal {
    file: File,
    path: PathBuf,
    playbook: String,
    /// This run, as its entries name it.
    run: String,
    /// The target, once the engine reached it.
    target: String,
}

impl Journal {
    /// Opens (creating, 0600) the journal of the run started at `started_at` for appending;
    /// fails early so that no action runs without its audit trail.
    pub fn open(path: &Path, playbook: &str, started_at: &str) -> Result<Journal, JournalError> {
        let error = |source| JournalError {
            path: path.display().to_string(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(error)?;
        }
        let file = private()
            .create(true)
            .append(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(|source| match source.raw_os_error() {
                Some(libc::ELOOP) => error(std::io::Error::other(
                    "it is a symbolic link; a journal is never appended through one",
                )),
                _ => error(source),
            })?;
        private_to_us(&file).map_err(error)?;
        Ok(Journal {
            file,
            path: path.to_owned(),
            playbook: playbook.to_owned(),
            run: format!("{}@{started_at}", std::process::id()),
            target: String::new(),
        })
    }

    /// An entry of this run about `step`.
    fn entry(&self, step: &str, at: &str, what: What) -> Entry {
        Entry {
            run: self.run.clone(),
            at: at.to_owned(),
            playbook: self.playbook.clone(),
            step: step.to_owned(),
            target: self.target.clone(),
            what,
        }
    }

    /// Appends one entry and waits until it is on disk.
    fn append(&mut self, entry: &Entry) -> Result<(), Veto> {
        let error = |source: std::io::Error| Veto {
            reason: JournalError {
                path: self.path.display().to_string(),
                source,
            }
            .to_string(),
        };
        let mut line = serde_json::to_string(entry).map_err(|e| error(e.into()))?;
        line.push('\n');
        self.file.write_all(line.as_bytes()).map_err(error)?;
        self.file.sync_data().map_err(error)
    }
}

/// Refuses an existing journal that others could read or that is not the run's own: the SQL
/// appended to it holds other users' data.
fn private_to_us(file: &File) -> std::io::Result<()> {
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    let euid = effective_uid();
    if metadata.uid() != euid {
        return Err(std::io::Error::other(format!(
            "it belongs to another user (uid {}); a journal is only appended to by its owner",
            metadata.uid()
        )));
    }
    if metadata.mode() & 0o077 != 0 {
        return Err(std::io::Error::other(format!(
            "others may read or write it (mode {:o}); make it 0600 (`chmod 600`) or move it away",
            metadata.mode() & 0o777
        )));
    }
    Ok(())
}

impl Listener for Journal {
    /// An entry is on disk when this returns; if a decision cannot be, the action must not
    /// run. (A rehearsal decides nothing: the engine sends no `Decided` for it, and a dry run
    /// opens no journal at all.)
    fn on(&mut self, event: &Event) -> Result<(), Veto> {
        match event {
            Event::Target { name } => self.target = (*name).to_owned(),
            Event::Decided {
                step,
                sql,
                approval,
            } => {
                let decision = What::Decision(DecisionEntry {
                    decision: approval.decision,
                    by: approval.by,
                    operator: approval.operator.clone(),
                    role: approval.role.clone(),
                    sql: (*sql).to_owned(),
                    preview_rows: approval.preview_rows,
                    reason: approval.reason.clone(),
                });
                let entry = self.entry(&step.id, &approval.at, decision);
                self.append(&entry)?;
            }
            Event::Acted { step, outcome } => {
                let entry = self.entry(&step.id, &outcome.at, What::Outcome((*outcome).into()));
                self.append(&entry)?;
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(decision: Decided, sql: &str) -> What {
        What::Decision(DecisionEntry {
            decision,
            by: Some(Decider::Yes),
            operator: "alice".into(),
            role: "postgres".into(),
            sql: sql.into(),
            preview_rows: Some(2),
            reason: None,
        })
    }

    fn succeeded(rows: u64) -> What {
        What::Outcome(OutcomeEntry {
            outcome: Ended::Succeeded,
            rows_affected: Some(rows),
            rows_returned: Some(0),
            signalled: None,
            sqlstate: None,
            message: None,
        })
    }

    #[test]
    fn a_decision_and_its_outcome_are_json_lines_that_pair_up_readable_by_the_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit/run.journal.jsonl");
        let mut journal = Journal::open(&path, "cleanup", "2026-11-26T14:00:00Z").unwrap();
        journal.target = "postgres@/var/run/postgresql:5432/app".into();
        let approved = journal.entry(
            "terminate_idle",
            "2026-11-26T14:00:01Z",
            decision(Decided::Approved, "SELECT 1"),
        );
        let done = journal.entry("terminate_idle", "2026-11-26T14:00:02Z", succeeded(2));
        journal.append(&approved).unwrap();
        journal.append(&done).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let run = format!("{}@2026-11-26T14:00:00Z", std::process::id());
        assert_eq!(
            lines[0],
            format!(
                r#"{{"run":"{run}","at":"2026-11-26T14:00:01Z","playbook":"cleanup","step":"terminate_idle","target":"postgres@/var/run/postgresql:5432/app","kind":"decision","decision":"approved","by":"--yes","operator":"alice","role":"postgres","sql":"SELECT 1","preview_rows":2,"reason":null}}"#
            )
        );
        assert_eq!(
            lines[1],
            format!(
                r#"{{"run":"{run}","at":"2026-11-26T14:00:02Z","playbook":"cleanup","step":"terminate_idle","target":"postgres@/var/run/postgresql:5432/app","kind":"outcome","outcome":"succeeded","rows_affected":2,"rows_returned":0,"sqlstate":null,"message":null}}"#
            )
        );
        assert_eq!(lines.len(), 2);
        // What is written is read back as it was (the next run reads earlier journals).
        let read: Vec<Entry> = lines
            .iter()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(read, [approved, done]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn journals_of_earlier_versions_stay_readable_and_their_nobody_reads_as_null() {
        let line = |decision: &str, by: &str| {
            format!(
                r#"{{"run":"1@T","at":"T","playbook":"p","step":"s","target":"t","kind":"decision","decision":"{decision}","by":{by},"operator":"alice","role":"app","sql":"SELECT 1","preview_rows":null,"reason":null}}"#
            )
        };
        let by = |decision: &str, by: &str| match serde_json::from_str::<Entry>(&line(decision, by))
        {
            Ok(Entry {
                what: What::Decision(entry),
                ..
            }) => (entry.decision, entry.by),
            other => panic!("{decision} by {by}: {other:?}"),
        };
        assert_eq!(by("refused", r#""nobody""#), (Decided::Refused, None));
        assert_eq!(by("refused", "null"), (Decided::Refused, None));
        assert_eq!(
            by("approved", r#""operator (typed the step id)""#),
            (Decided::Approved, Some(Decider::OperatorTypedStepId))
        );
        assert_eq!(
            by("declined", r#""operator""#),
            (Decided::Declined, Some(Decider::Operator))
        );
        assert_eq!(
            by("approved", r#""--yes""#),
            (Decided::Approved, Some(Decider::Yes))
        );
        // What is written now says `null`.
        let entry: Entry = serde_json::from_str(&line("interrupted", "null")).unwrap();
        assert!(
            serde_json::to_string(&entry)
                .unwrap()
                .contains(r#""by":null"#)
        );
    }
}
