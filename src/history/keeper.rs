//! A run's side of the history: the run's store opened once (and shared by a fleet's
//! targets), each target's `Past` read before it runs, its run written after — and every way that fails turned into a warning, never
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

/// The store of a run, opened by the first of its targets that needs it and shared by all
/// of them: a fleet's targets take turns on one connection instead of each opening the file
/// (100 targets opened it 100 times, each checking the schema). Closed by [`Opened::close`].
#[derive(Default)]
pub(crate) struct Opened(tokio::sync::Mutex<Slot>);

#[derive(Default)]
enum Slot {
    #[default]
    NotYet,
    Open(Store),
    /// Why it could not be opened: every target says so, none tries again.
    Failed(String),
}

impl Opened {
    pub(crate) async fn close(self) {
        if let Slot::Open(store) = self.0.into_inner() {
            store.close().await;
        }
    }
}

/// One target's run's side of the history: its past read, its run written, through the run's
/// [`Opened`] store.
pub(crate) struct Keeper<'a> {
    settings: Option<&'a Settings>,
    opened: &'a Opened,
    /// What went wrong so far.
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
    /// The history of a run with `settings` (`None`: `--no-history`) in the run's store.
    pub(crate) fn new(settings: Option<&'a Settings>, opened: &'a Opened) -> Keeper<'a> {
        Keeper {
            settings,
            opened,
            problems: Vec::new(),
            target: None,
        }
    }

    /// Runs `work` on the store, opening it first if no target has; a failure to open is
    /// kept as a problem.
    async fn with_store<T>(
        &mut self,
        work: impl AsyncFnOnce(&mut Store) -> Result<T, super::store::StoreError>,
    ) -> Option<T> {
        let settings = self.settings?;
        let mut slot = self.opened.0.lock().await;
        if matches!(*slot, Slot::NotYet) {
            let opened = match &settings.location {
                Ok(location) => Store::open(location, Access::Write)
                    .await
                    .map_err(|error| error.to_string()),
                Err(why) => Err(why.clone()),
            };
            *slot = match opened {
                Ok(store) => Slot::Open(store),
                Err(problem) => Slot::Failed(problem),
            };
        }
        match &mut *slot {
            Slot::Open(store) => match work(store).await {
                Ok(answer) => Some(answer),
                Err(error) => {
                    self.problems.push(error.to_string());
                    None
                }
            },
            // Said once, though the past and the write both ran into it.
            Slot::Failed(problem) => {
                if !self.problems.contains(problem) {
                    self.problems.push(problem.clone());
                }
                None
            }
            Slot::NotYet => None,
        }
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
        let metrics = &playbook.remembered;
        self.with_store(async |store: &mut Store| {
            store.past(&playbook.name, &target, metrics, horizon).await
        })
        .await
        .unwrap_or_default()
    }

    /// Writes the finished run (`fleet_name`: its name in a fleet). What went wrong, read or
    /// write, comes back as one warning.
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
        self.with_store(async |store: &mut Store| store.write(entry).await)
            .await;
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
