//! Whether a check can see what it counts.
//!
//! A role without the privileges of `pg_read_all_stats` sees other roles' sessions in
//! `pg_stat_activity` with no state, query or backend type: a check filtering on those counts
//! them as nothing, and "0 client connections" is a lie told with exit 0. So the judge notes
//! which such statistics view the exact SQL about to be sent reads (`sql::Judged`), the step
//! may declare which sessions it must see (`sees`), and here the two meet the role's
//! privileges: a read that needs every role's sessions and cannot see them is not sent, and the
//! step is UNKNOWN with the reason. Every read-only statement the engine sends for a step (a
//! check, a preview, a `terminate`/`cancel`'s check) is judged through [`Engine::judged_read`].

use super::check::judged_at;
use super::{Engine, StepError};
use crate::playbook::Sees;
use crate::sql;

/// What a read-only statement is, for its judgment.
pub(super) struct Read<'a> {
    /// `check`, `preview`, ...: how messages name it.
    pub what: &'static str,
    /// The functions it opted in to.
    pub functions: &'a [String],
    /// `file:line` of its template.
    pub at: Option<&'a str>,
    /// Which sessions it must see; `None`: decided by what it reads.
    pub sees: Option<Sees>,
}

impl Engine<'_> {
    /// Judges `rendered`, about to be sent as `read`: a read-only query, and one that can see
    /// what it reads. What fails is never sent.
    pub(super) fn judged_read(&self, read: &Read<'_>, rendered: &str) -> Result<(), StepError> {
        let role = sql::Role::Query(sql::OptIn(read.functions));
        let judged = judged_at(read.what, rendered, role, read.at)?;
        let needs_all = match read.sees {
            Some(Sees::AllSessions) => true,
            Some(Sees::OwnSessions) => false,
            None => judged.session_view.is_some(),
        };
        if needs_all && !self.facts.flag("can_read_all_stats") {
            return Err(StepError::Blind {
                what: read.what,
                role: self.facts.text("current_user"),
                view: judged.session_view.unwrap_or("pg_stat_activity"),
            });
        }
        Ok(())
    }
}
