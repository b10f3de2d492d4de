//! The advisory lock that keeps two responders from acting on one server at once: a session
//! lock per playbook, taken before the first approval is asked and held until the run ends.
//! Advisory locks are per database; a holder of the same key in any other database of the
//! server counts too (see [`Engine::lock`]).

use super::{Engine, Refusal};
use crate::sql::literal as sql_literal;
use crate::target::{Limits, Target, Wrap};

/// Namespace of the lock (`runb` in ASCII); the second key is `hashtext(<playbook name>)`.
const LOCK_NAMESPACE: i32 = 0x7275_6e62;

impl Engine<'_> {
    /// Takes the playbook's lock, once; says who holds it when it cannot.
    pub(super) async fn lock(&mut self, target: &mut impl Target) -> Result<(), Refusal> {
        if self.locked {
            return Ok(());
        }
        let playbook = self.playbook.name.clone();
        let name =
            sql_literal::literal(&minijinja::Value::from(playbook.as_str())).map_err(|error| {
                Refusal::LockFailed {
                    playbook: playbook.clone(),
                    reason: error.to_string(),
                }
            })?;
        let limits = Limits::short(5, 5);
        let fellows = self.fellows();
        // Advisory locks live in one database, a responder acts on the whole server: the lock is
        // taken here, then every database's holders of the same key are read (`pg_locks` is
        // cluster-wide). Another holder anywhere means another responder; two runs that take
        // their locks in two databases at once both see each other and both stand back.
        let sql = format!(
            "SELECT l.taken, h.pid, h.app, h.datname, h.datname = current_database() AS here \
             FROM (SELECT pg_try_advisory_lock({LOCK_NAMESPACE}, hashtext({name})) AS taken) AS l \
             LEFT JOIN LATERAL (SELECT k.pid, coalesce(a.application_name, '') AS app, d.datname \
               FROM pg_locks AS k LEFT JOIN pg_stat_activity AS a ON a.pid = k.pid \
               LEFT JOIN pg_database AS d ON d.oid = k.database \
               WHERE k.locktype = 'advisory' AND k.granted AND k.classid = {LOCK_NAMESPACE}::oid \
                 AND k.objid = hashtext({name})::oid AND k.objsubid = 2 AND k.pid <> pg_backend_pid() {fellows} \
               ORDER BY k.pid LIMIT 1) AS h ON true"
        );
        let mut answer: Vec<Option<String>> = Vec::new();
        target
            .run(&sql, Wrap::Autocommit, limits, |_, row, _| {
                answer = row;
                Ok(())
            })
            .await
            .map_err(|error| Refusal::LockFailed {
                playbook: playbook.clone(),
                reason: error.message,
            })?;
        let cell = |i: usize| answer.get(i).cloned().flatten();
        let taken = cell(0).as_deref() == Some("t");
        let Some(pid) = cell(1) else {
            if taken {
                self.locked = true;
                return Ok(());
            }
            return Err(Refusal::LockHeld {
                playbook,
                holder: "an unknown session".to_owned(),
            });
        };
        if taken {
            let unlock = format!("SELECT pg_advisory_unlock({LOCK_NAMESPACE}, hashtext({name}))");
            let _ = target
                .run(&unlock, Wrap::Autocommit, limits, |_, _, _| Ok(()))
                .await;
        }
        let app = cell(2).unwrap_or_default();
        let holder = match (cell(3), cell(4).as_deref()) {
            (Some(database), Some("f")) => {
                format!("pid {pid} (application_name `{app}`, database `{database}`)")
            }
            _ => format!("pid {pid} (application_name `{app}`)"),
        };
        Err(Refusal::LockHeld { playbook, holder })
    }

    /// The SQL that leaves this run's own other sessions out of the holders: a fleet is one
    /// responder, whose targets may be databases of one server. Each is named by its pid and
    /// `backend_start`, as a cancel names it (a pid alone may be another server's, or reused);
    /// a holder whose start cannot be seen is never left out.
    fn fellows(&self) -> String {
        let fellows: Vec<String> = self
            .stop
            .backends()
            .into_iter()
            .filter(|backend| !backend.started.contains('\''))
            .map(|backend| format!("({}, '{}'::timestamptz)", backend.pid, backend.started))
            .collect();
        if fellows.is_empty() {
            return String::new();
        }
        format!(
            "AND NOT coalesce((k.pid, a.backend_start) IN ({}), false)",
            fellows.join(", ")
        )
    }
}
