//! The verdict of a run: its status and exit code, from its steps and how it ended. Stopped is
//! 4; a check that escaped its read-only transaction 2; a run that could not finish 3; else the
//! worst step decides: CRITICAL 2, a failed step 3, WARNING 1, OK 0 (a CRITICAL step wins over
//! a failed one). With the status comes why, when it is not OK: the reason the run stopped, the
//! error that ended it, or the worst step's message — what the summary line says.

use super::{Ending, RunError};
use crate::exit;
use crate::outputs::record::{Status, StepRecord};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: Status,
    pub exit_code: u8,
    /// Why the run is not OK: `None` when it is.
    pub why: Option<String>,
}

/// What a finished step tells the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Finding {
    pub id: String,
    pub status: Status,
    pub message: Option<String>,
}

impl Finding {
    pub fn of(record: &StepRecord) -> Finding {
        Finding {
            id: record.id.clone(),
            status: record.status,
            message: record.message.clone(),
        }
    }
}

pub(super) fn of(findings: &[Finding], ending: &Ending) -> Verdict {
    // A step that did not do its job counts as UNKNOWN, where it stands.
    let findings: Vec<Finding> = findings
        .iter()
        .map(
            |f| match ending.unfinished.iter().find(|(id, _)| *id == f.id) {
                Some((_, why)) => Finding {
                    id: f.id.clone(),
                    status: Status::Unknown,
                    message: Some(why.clone()),
                },
                None => f.clone(),
            },
        )
        .collect();
    let findings = findings.as_slice();
    let statuses: Vec<Status> = findings.iter().map(|f| f.status).collect();
    let (status, exit_code) = status_of(&statuses, ending);
    let why = match (status, &ending.error) {
        (Status::Ok, _) => None,
        (Status::Stopped, _) if ending.reason.is_some() => ending.reason.clone(),
        (_, Some(error)) => Some(error.to_string()),
        _ => worst_message(findings, status),
    };
    Verdict {
        status,
        exit_code,
        why,
    }
}

/// The first step of status `status` (or of the worst one), with its message, and how many
/// other steps are not OK.
fn worst_message(findings: &[Finding], status: Status) -> Option<String> {
    let wanted = if status == Status::Stopped {
        worst(&findings.iter().map(|f| f.status).collect::<Vec<_>>())
    } else {
        status
    };
    let first = findings.iter().find(|f| f.status == wanted)?;
    let others = findings
        .iter()
        .filter(|f| rank(f.status) > 0 && f.id != first.id)
        .count();
    let more = match others {
        0 => String::new(),
        1 => " (and 1 more problem)".to_owned(),
        n => format!(" (and {n} more problems)"),
    };
    let message = first.message.as_deref().unwrap_or("no message");
    Some(format!("`{}`: {message}{more}", first.id))
}

fn status_of(statuses: &[Status], ending: &Ending) -> (Status, u8) {
    let (status, exit_code) = if ending.stopped || ending.refused {
        (Status::Stopped, exit::STOPPED)
    } else if matches!(ending.error, Some(RunError::Escaped { .. })) {
        (Status::Critical, exit::CRITICAL)
    } else if ending.error.is_some() {
        (Status::Unknown, exit::UNKNOWN)
    } else {
        match worst(statuses) {
            Status::Critical => (Status::Critical, exit::CRITICAL),
            Status::Unknown => (Status::Unknown, exit::UNKNOWN),
            Status::Warning => (Status::Warning, exit::WARNING),
            _ => (Status::Ok, exit::OK),
        }
    };
    (status, exit_code)
}

fn rank(status: Status) -> u8 {
    match status {
        Status::Critical => 3,
        Status::Unknown => 2,
        Status::Warning => 1,
        _ => 0,
    }
}

fn worst(statuses: &[Status]) -> Status {
    statuses
        .iter()
        .copied()
        .max_by_key(|s| rank(*s))
        .filter(|s| rank(*s) > 0)
        .unwrap_or(Status::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(statuses: &[Status]) -> Vec<Finding> {
        statuses
            .iter()
            .enumerate()
            .map(|(i, status)| Finding {
                id: format!("s{i}"),
                status: *status,
                message: Some(format!("message {i}")),
            })
            .collect()
    }

    #[test]
    fn the_verdict_says_why_it_is_not_ok() {
        let ending = Ending::default();
        let why = |statuses: &[Status]| of(&findings(statuses), &ending).why;
        assert_eq!(why(&[Status::Ok, Status::Skipped]), None);
        assert_eq!(
            why(&[
                Status::Ok,
                Status::Warning,
                Status::Critical,
                Status::Unknown
            ]),
            Some("`s2`: message 2 (and 2 more problems)".to_owned())
        );
        assert_eq!(
            why(&[Status::Warning, Status::Ok]),
            Some("`s0`: message 0".to_owned())
        );
        let mut stopped = Ending::default();
        stopped.stop("aborted by the operator at `s1`");
        stopped.stop("a later reason is not the first");
        assert_eq!(
            of(&findings(&[Status::Ok, Status::NotRun]), &stopped).why,
            Some("aborted by the operator at `s1`".to_owned())
        );
        let failed = Ending {
            error: Some(RunError::Aborted {
                step: "s0".to_owned(),
            }),
            ..Ending::default()
        };
        assert_eq!(
            of(&findings(&[Status::Unknown]), &failed).why,
            Some("step `s0` failed and has `on_error: abort`".to_owned())
        );
    }

    #[test]
    fn critical_beats_failed_beats_warning_and_stopping_beats_all() {
        let ending = Ending::default();
        let verdict = |statuses: &[Status]| of(&findings(statuses), &ending);
        assert_eq!(verdict(&[Status::Ok, Status::Skipped]).exit_code, 0);
        assert_eq!(verdict(&[Status::Warning, Status::Manual]).exit_code, 1);
        assert_eq!(verdict(&[Status::Unknown, Status::Warning]).exit_code, 3);
        assert_eq!(verdict(&[Status::Unknown, Status::Critical]).exit_code, 2);
        let stopped = Ending {
            stopped: true,
            ..Ending::default()
        };
        let verdict = of(&findings(&[Status::Critical]), &stopped);
        assert_eq!((verdict.status, verdict.exit_code), (Status::Stopped, 4));
    }
}
