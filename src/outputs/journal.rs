//! The audit journal: every approval decision, flushed to disk before the action runs.
//!
//! One JSON object per line, appended and `fsync`ed per decision, so a `kill -9` right after
//! an approval still leaves the decision on disk. The file is created readable by its owner
//! only: it holds the SQL that ran, with other users' data in it.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

use super::file::private;
use crate::events::{Event, Listener, Veto};

/// One decision, as it is journaled.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// RFC 3339 UTC.
    pub at: String,
    pub playbook: String,
    pub step: String,
    /// `approved`, `skipped`, `refused`, `aborted`.
    pub decision: String,
    /// Who decided: `operator`, `--yes`, or why nobody could.
    pub by: String,
    /// The OS user or `--operator`.
    pub operator: String,
    /// The database role the action runs as.
    pub role: String,
    pub target: String,
    pub sql: String,
    pub preview_rows: Option<u64>,
    pub reason: Option<String>,
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
    /// The target, once the engine reached it.
    target: String,
}

impl Journal {
    /// Opens (creating, 0600) the journal for appending; fails early so that no action runs
    /// without its audit trail.
    pub fn open(path: &Path, playbook: &str) -> Result<Journal, JournalError> {
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
            .open(path)
            .map_err(error)?;
        Ok(Journal {
            file,
            path: path.to_owned(),
            playbook: playbook.to_owned(),
            target: String::new(),
        })
    }

    /// Appends one decision and waits until it is on disk.
    fn append(&mut self, entry: &Entry) -> Result<(), JournalError> {
        let error = |source| JournalError {
            path: self.path.display().to_string(),
            source,
        };
        let mut line = serde_json::to_string(entry).map_err(|e| error(e.into()))?;
        line.push('\n');
        self.file.write_all(line.as_bytes()).map_err(error)?;
        self.file.sync_data().map_err(error)
    }
}

impl Listener for Journal {
    /// A decision is on disk when this returns; if it cannot be, the action must not run. (A
    /// rehearsal decides nothing: the engine sends no `Decided` for it, and a dry run opens no
    /// journal at all.)
    fn on(&mut self, event: &Event) -> Result<(), Veto> {
        match event {
            Event::Target { name } => self.target = (*name).to_owned(),
            Event::Decided {
                step,
                sql,
                approval,
            } => {
                let entry = Entry {
                    at: approval.at.clone(),
                    playbook: self.playbook.clone(),
                    step: step.id.clone(),
                    decision: approval.decision.clone(),
                    by: approval.by.clone(),
                    operator: approval.operator.clone(),
                    role: approval.role.clone(),
                    target: self.target.clone(),
                    sql: (*sql).to_owned(),
                    preview_rows: approval.preview_rows,
                    reason: approval.reason.clone(),
                };
                self.append(&entry).map_err(|error| Veto {
                    reason: error.to_string(),
                })?;
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_appended_as_json_lines_readable_by_the_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit/run.journal.jsonl");
        let entry = Entry {
            at: "2026-11-26T14:00:00Z".into(),
            playbook: "cleanup".into(),
            step: "terminate_idle".into(),
            decision: "approved".into(),
            by: "--yes".into(),
            operator: "alice".into(),
            role: "postgres".into(),
            target: "postgres@/var/run/postgresql:5432/app".into(),
            sql: "SELECT 1".into(),
            preview_rows: Some(2),
            reason: None,
        };
        let mut journal = Journal::open(&path, "cleanup").unwrap();
        journal.append(&entry).unwrap();
        journal.append(&entry).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["step"], "terminate_idle");
        assert_eq!(first["preview_rows"], 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}
