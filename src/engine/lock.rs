//! The advisory lock that keeps two responders from acting on one server at once: a session
//! lock per playbook, taken before the first approval is asked and held until the run ends.

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
        let mut taken = false;
        target
            .run(
                &format!("SELECT pg_try_advisory_lock({LOCK_NAMESPACE}, hashtext({name}))"),
                Wrap::Autocommit,
                limits,
                |_, row, _| {
                    taken = row.first().cloned().flatten().as_deref() == Some("t");
                    Ok(())
                },
            )
            .await
            .map_err(|error| Refusal::LockFailed {
                playbook: playbook.clone(),
                reason: error.message,
            })?;
        if taken {
            self.locked = true;
            return Ok(());
        }
        let mut holder = String::from("an unknown session");
        let _ = target
            .run(
                &format!(
                    "SELECT l.pid, coalesce(a.application_name, '') FROM pg_locks AS l LEFT JOIN pg_stat_activity AS a ON a.pid = l.pid \
                     WHERE l.locktype = 'advisory' AND l.granted AND l.classid = {LOCK_NAMESPACE}::oid AND l.objid = hashtext({name})::oid AND l.objsubid = 2"
                ),
                Wrap::ReadOnly,
                limits,
                |_, row, _| {
                    let pid = row.first().cloned().flatten().unwrap_or_default();
                    let app = row.get(1).cloned().flatten().unwrap_or_default();
                    holder = format!("pid {pid} (application_name `{app}`)");
                    Ok(())
                },
            )
            .await;
        Err(Refusal::LockHeld { playbook, holder })
    }
}
