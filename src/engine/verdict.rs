//! The verdict of a run: its status and exit code, from its steps and how it ended. Stopped is
//! 4; a check that escaped its read-only transaction 2; a run that could not finish 3; else the
//! worst step decides: CRITICAL 2, a failed step 3, WARNING 1, OK 0 (a CRITICAL step wins over
//! a failed one).

use super::{Ending, RunError};
use crate::exit;
use crate::outputs::record::Status;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub status: Status,
    pub exit_code: u8,
}

pub(super) fn of(statuses: &[Status], ending: &Ending) -> Verdict {
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
    Verdict { status, exit_code }
}

fn worst(statuses: &[Status]) -> Status {
    let rank = |status: Status| match status {
        Status::Critical => 3,
        Status::Unknown => 2,
        Status::Warning => 1,
        _ => 0,
    };
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

    #[test]
    fn critical_beats_failed_beats_warning_and_stopping_beats_all() {
        let ending = Ending::default();
        let verdict = |statuses: &[Status]| of(statuses, &ending);
        assert_eq!(verdict(&[Status::Ok, Status::Skipped]).exit_code, 0);
        assert_eq!(verdict(&[Status::Warning, Status::Manual]).exit_code, 1);
        assert_eq!(verdict(&[Status::Unknown, Status::Warning]).exit_code, 3);
        assert_eq!(verdict(&[Status::Unknown, Status::Critical]).exit_code, 2);
        let stopped = Ending {
            stopped: true,
            ..Ending::default()
        };
        let verdict = of(&[Status::Critical], &stopped);
        assert_eq!((verdict.status, verdict.exit_code), (Status::Stopped, 4));
    }
}
