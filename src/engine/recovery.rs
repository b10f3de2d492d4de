//! After a lost connection: reconnect once, and go on only if the server restarted (its start
//! time changed). The same start time means this run's own session was terminated from
//! outside: the run stops there, as a DBA who killed it would expect. Actions are never
//! retried: the step that failed stays failed. The new connection is another backend: the
//! facts that name the engine's own session follow it (the target's canceller already does).

use super::Engine;
use crate::target::{Limits, Target, Wrap};

impl Engine<'_> {
    pub(super) async fn recover(&mut self, target: &mut impl Target) {
        let Some(lost) = self.lost.take() else {
            return;
        };
        let before = self
            .facts
            .get("server_started")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let restarted = match target.reconnect().await {
            Ok(()) => {
                let mut started = None;
                let sql = "SELECT pg_postmaster_start_time()::text";
                let query = target
                    .run(sql, Wrap::ReadOnly, Limits::short(5, 1), |_, row, _| {
                        started = row.into_iter().next().flatten();
                        Ok(())
                    })
                    .await;
                query.is_ok() && started.is_some() && started != before
            }
            Err(_) => false,
        };
        if restarted {
            self.locked = false;
            if let Some(backend) = target.backend() {
                self.follow_backend(&backend);
            }
            self.ending.notes.push(format!(
                "the connection was lost ({lost}); the server had restarted, so the run reconnected once and went on"
            ));
        } else {
            target.abandon();
            self.ending.error = Some(lost);
        }
    }
}
