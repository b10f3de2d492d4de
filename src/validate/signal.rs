//! `terminate:` / `cancel:` steps: the check they name, the columns their rows carry, and what
//! they say by default.

use crate::load::spans::Path;
use crate::playbook::{Assessment, Scope, SessionAction, Severity, Signal};

use super::Validator;
use super::error::Problem;
use super::steps::raw_kind;

impl Validator<'_> {
    /// `terminate: STEP` / `cancel: STEP`: STEP is an earlier check whose rows name sessions.
    pub(super) fn session_action(
        &mut self,
        path: &Path,
        signal: Signal,
        id: &str,
    ) -> Option<SessionAction> {
        let key = signal.key();
        let location = self.document.value_location(&path.key(key));
        if let Some(check) = self.checks.get(id) {
            let needed = signal.identity();
            let known = self.earlier.get(id).cloned().flatten();
            let missing: Vec<&'static str> = known.map_or_else(Vec::new, |columns| {
                let has = |c: &&str| columns.iter().any(|column| column == c);
                needed.iter().copied().filter(|c| !has(c)).collect()
            });
            if !missing.is_empty() {
                let id = id.to_owned();
                let problem = Problem::SourceLacksColumns {
                    key,
                    id,
                    missing,
                    needed,
                };
                self.report(problem, location);
                return None;
            }
            let source = check.clone();
            return Some(SessionAction { signal, source });
        }
        let raw = (self.document.steps.iter().flatten()).find(|s| s.id.as_deref() == Some(id));
        let problem = match (self.earlier.contains_key(id), raw) {
            // An earlier check with problems of its own, already reported.
            (true, Some(raw)) if raw.check.is_some() => return None,
            (true, Some(raw)) => Problem::SourceNotCheck {
                key,
                id: id.to_owned(),
                kind: raw_kind(raw),
            },
            (false, Some(_)) => Problem::SourceLater {
                key,
                id: id.to_owned(),
                line: self.declared.get(id).copied().unwrap_or(0),
            },
            _ => {
                let checks = self.checks.keys().map(String::as_str);
                let hint = crate::diagnostic::did_you_mean(id, checks);
                Problem::UnknownSource {
                    key,
                    id: id.to_owned(),
                    hint,
                }
            }
        };
        self.report(problem, location);
        None
    }
}

/// The result columns of a `terminate`/`cancel`: each approved session's identity, the
/// server's answer (`NULL` when it was not signalled), and why it was spared.
pub(super) fn signal_columns(signal: Signal) -> Vec<String> {
    let mut columns: Vec<String> = signal.identity().iter().map(|c| (*c).to_owned()).collect();
    columns.push(signal.answer_column().to_owned());
    columns.push("spared".to_owned());
    columns
}

/// "session" or "sessions", by `matching_rows`, in a message template.
const SESSIONS: &str = "session{{ '' if matching_rows == 1 else 's' }}";

/// What a `terminate`/`cancel` without assessments of its own says: every session the server
/// did not signal as asked is a warning.
pub(super) fn signal_assessments(signal: Signal) -> Vec<Assessment> {
    let answer = signal.answer_column();
    let row = |severity, condition: String, message: String| Assessment {
        severity,
        condition,
        message: Some(message),
        recommendation: None,
        scope: Scope::Row,
    };
    vec![
        row(
            Severity::Warning,
            format!("{answer} == false"),
            format!(
                "{{{{ matching_rows }}}} {SESSIONS} not {answer}: the server answered false (first: pid {{{{ pid }}}})"
            ),
        ),
        row(
            Severity::Ok,
            format!("{answer} == true"),
            format!("{{{{ matching_rows }}}} {SESSIONS} {answer}"),
        ),
        row(
            Severity::Ok,
            "spared is not none".to_owned(),
            "{{ matching_rows }} spared (first: pid {{ pid }}, {{ spared }})".to_owned(),
        ),
    ]
}
