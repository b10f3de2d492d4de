//! A run's side of the history: the store opened once for one target's run, the `Past` read
//! before it, the run written after it — and every way that fails turned into a warning, never
//! into the run's status or exit code. A check's result does not depend on whether a file in
//! the home directory could be written.

use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use super::Past;
use super::store::{Access, Entry, Location, Store, epoch_ms};
use crate::outputs::record::RunRecord;
use crate::playbook::Playbook;

/// `--history`, `--history-keep`; `--no-history` is no `Settings` at all.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The store, or why there is none (no default place for it).
    pub location: Result<Location, String>,
    /// How long runs are kept.
    pub keep: Duration,
}

impl Settings {
    /// When the oldest run kept started, for a run starting `now`.
    fn horizon(&self, now: SystemTime) -> i64 {
        epoch_ms(now.checked_sub(self.keep).unwrap_or(SystemTime::UNIX_EPOCH))
    }
}

/// One target's run's store, opened when its past is read.
pub(crate) struct Keeper<'a> {
    settings: Option<&'a Settings>,
    store: Option<Store>,
    /// What went wrong so far (the first failure to open ends the tries).
    problems: Vec<String>,
    /// Whose history it is (see [`series_target`]), once the target is resolved.
    target: Option<String>,
}

/// The target a run's history is kept under: the server as `user@host:port/db`, and the
/// databases its `database` params scope the checks to — a fleet that checks each database
/// of one server through one connection keeps one history per database, not one mixed.
pub(crate) fn series_target(display: &str, scoped: &[(String, String)]) -> String {
    if scoped.is_empty() {
        return display.to_owned();
    }
    let scope: Vec<String> = scoped.iter().map(|(p, db)| format!("{p}={db}")).collect();
    format!("{display} ({})", scope.join(", "))
}

impl<'a> Keeper<'a> {
    /// The history of a run with `settings` (`None`: `--no-history`).
    pub(crate) fn new(settings: Option<&'a Settings>) -> Keeper<'a> {
        Keeper {
            settings,
            store: None,
            problems: Vec::new(),
            target: None,
        }
    }

    /// Opens the store; a failure is kept as a problem, and nothing more is tried.
    async fn store(&mut self) -> Option<&mut Store> {
        let settings = self.settings?;
        if self.store.is_none() && self.problems.is_empty() {
            let opened = match &settings.location {
                Ok(location) => Store::open(location, Access::Write)
                    .await
                    .map_err(|error| error.to_string()),
                Err(why) => Err(why.clone()),
            };
            match opened {
                Ok(store) => self.store = Some(store),
                Err(problem) => self.problems.push(problem),
            }
        }
        self.store.as_mut()
    }

    /// The past of `playbook` on `target` (see [`series_target`]) within the retention
    /// window (none when the store cannot be read: the run goes on without it); the run is
    /// kept under `target` too.
    pub(crate) async fn past(&mut self, playbook: &Playbook, target: String) -> Past {
        let target = self.target.insert(target).clone();
        let Some(horizon) = self.settings.map(|s| s.horizon(SystemTime::now())) else {
            return Past::default();
        };
        // A playbook that reads no history asks nothing of the store before it runs.
        if playbook.remembered.is_empty() {
            return Past::default();
        }
        let Some(store) = self.store().await else {
            return Past::default();
        };
        match store
            .past(&playbook.name, &target, &playbook.remembered, horizon)
            .await
        {
            Ok(past) => past,
            Err(error) => {
                self.problems.push(error.to_string());
                Past::default()
            }
        }
    }

    /// Writes the finished run (`fleet_name`: its name in a fleet), and closes the store. What
    /// went wrong, read or write, comes back as one warning.
    pub(crate) async fn keep(
        mut self,
        record: &RunRecord,
        fleet_name: Option<&str>,
    ) -> Option<String> {
        self.settings?;
        let started =
            humantime::parse_rfc3339(&record.started_at).unwrap_or_else(|_| SystemTime::now());
        let target = self.target.take().unwrap_or_else(|| record.target.clone());
        let entry = Entry::of(record, &target, fleet_name, epoch_ms(started));
        if let Some(store) = self.store().await
            && let Err(error) = store.write(entry).await
        {
            self.problems.push(error.to_string());
        }
        if let Some(store) = self.store.take() {
            store.close().await;
        }
        (!self.problems.is_empty()).then(|| {
            format!(
                "the run is not in the history: {}",
                self.problems.join("; ")
            )
        })
    }
}

/// Retention, off the run's path: once the run is written and reported, a thread of its own
/// deletes the runs older than `--history-keep`, in one transaction. [`Pruning::finish`]
/// waits a moment for it; if the process ends first, the transaction is rolled back and the
/// next run prunes.
pub(crate) struct Pruning {
    done: Option<mpsc::Receiver<()>>,
}

impl Pruning {
    pub(crate) fn start(settings: Option<&Settings>) -> Pruning {
        let Some((location, settings)) =
            settings.and_then(|s| Some((s.location.clone().ok()?, s.clone())))
        else {
            return Pruning { done: None };
        };
        let (tell, done) = mpsc::channel();
        let started = std::thread::Builder::new()
            .name("runbook-history-prune".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(runtime) = runtime {
                    runtime.block_on(async {
                        // A store that cannot be opened here is the run's own warning already.
                        if let Ok(mut store) = Store::open(&location, Access::Write).await {
                            let _ = store.prune(settings.horizon(SystemTime::now())).await;
                            store.close().await;
                        }
                    });
                }
                let _ = tell.send(());
            });
        Pruning {
            done: started.ok().map(|_| done),
        }
    }

    /// Waits up to `bound` for the pruning to end.
    pub(crate) fn finish(self, bound: Duration) {
        if let Some(done) = self.done {
            let _ = done.recv_timeout(bound);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::series_target;

    #[test]
    fn a_scoped_run_is_kept_apart_from_the_servers_other_databases() {
        let server = "root@/var/run/postgresql:5432/postgres";
        assert_eq!(series_target(server, &[]), server);
        let scoped = [("database".to_owned(), "app".to_owned())];
        assert_eq!(
            series_target(server, &scoped),
            "root@/var/run/postgresql:5432/postgres (database=app)"
        );
    }
}
