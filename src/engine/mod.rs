//! Running a checked playbook against a target, step by step, and telling listeners.
//!
//! The engine decides and runs; it does not report. Each step ends in a `StepRecord` sent as
//! an event (see `events`), and the run record, the progress display and the journal are
//! listeners. Side effects sit behind seams: the [`Target`] (the server), the [`Approver`] (the
//! operator; a dry run is an approver that rehearses) and the [`Clock`], so the engine's
//! logic is unit-tested against fakes.
//!
//! [`Engine::run`] is the one way in: it takes the target as far as it was reached, reads the
//! facts, runs the steps and ends the run with its verdict, so no caller can run steps without
//! facts or forget to end the run.
//!
//! One file per stage of a step: `guards`, `check` (running a query and streaming its rows),
//! `assess`, `action` (preview → blast radius → lock → approval → journal → execute),
//! `session_action` and `signal` (`terminate:`/`cancel:` on that path, and the statement that
//! signals), `outcome`
//! (what an approved action did, journaled as soon as it returned), `lock`,
//! `recovery` (after a lost connection), `context` (what templates see), `history` (`history.*`
//! over the past the store gave, and a condition that too little history leaves undecided).

mod action;
mod assess;
mod check;
mod context;
mod error;
mod facts;
mod guards;
mod history;
mod lock;
mod metrics;
mod outcome;
mod recovery;
mod session_action;
mod signal;
#[cfg(test)]
mod tests;
mod verdict;
mod visibility;

use indexmap::IndexMap;
use minijinja::Value;

pub use error::{Refusal, RunError, StepError};
pub use facts::{Backend, Facts};
pub use outcome::{Ended, Outcome};
pub use verdict::Verdict;

use crate::approval::{Approver, StepChoice};
use crate::clock::{Clock, millis_between};
use crate::events::{Event, Listeners, Veto};
use crate::history::Past;
use crate::interrupt::{Cause, Interruption, Stop};
use crate::outputs::record::{ErrorRecord, Status, StepRecord};
use crate::param::ParamValue;
use crate::playbook::{OnError, Playbook, Step, StepKind};
use crate::target::Target;
use context::{Kept, Scope};
use guards::Guard;
use history::History;

/// Rows of a step kept for later steps' templates (`steps.x.rows`); beyond this a step's rows
/// are counted, not kept, so memory does not grow with the result.
pub const KEPT_ROWS: usize = 10_000;

/// Pids kept per assessment of the sessions it held for (see `SessionsRecord`): enough to name
/// them, bounded however many rows held.
pub const KEPT_PIDS: usize = 100;

/// How the run goes, from the command line.
pub struct Settings {
    /// `--only`: the steps to run; others are skipped.
    pub only: Option<Vec<String>>,
    /// Rows of each step shown in the report.
    pub report_rows: usize,
    pub pace: Pace,
    /// Who runs it, for the approval records.
    pub operator: String,
}

/// Whether the operator is asked before every step (`--step`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    Straight,
    StepByStep,
}

/// How the run ended, besides its step records.
#[derive(Debug, Default)]
pub struct Ending {
    /// The operator stopped the run (abort, Ctrl-C).
    pub stopped: bool,
    /// An action was refused (not approved, `max_rows`, another responder): exit 4.
    pub refused: bool,
    /// Why it stopped or what was refused first, for the summary line.
    pub reason: Option<String>,
    /// Steps that did not do their job though nothing failed (an action the role may not
    /// run): (step, why). They make the run UNKNOWN.
    pub unfinished: Vec<(String, String)>,
    /// What the report must say about the run as a whole (e.g. a reconnection).
    pub notes: Vec<String>,
    /// The run could not start, the connection was lost, or a step aborted the run.
    pub error: Option<RunError>,
}

impl Ending {
    /// The run stops here; the first reason given is the one the summary names.
    pub fn stop(&mut self, reason: impl Into<String>) {
        self.stopped = true;
        self.reason.get_or_insert_with(|| reason.into());
    }

    /// An action did not run though the run goes on (exit 4).
    pub fn refuse(&mut self, reason: impl Into<String>) {
        self.refused = true;
        self.reason.get_or_insert_with(|| reason.into());
    }
}

pub struct Engine<'r> {
    playbook: &'r Playbook,
    settings: Settings,
    clock: &'r dyn Clock,
    approver: &'r mut dyn Approver,
    listeners: Listeners<'r>,
    /// Set by Ctrl-C, SIGTERM or SIGHUP: stop at the next opportunity.
    interrupted: Interruption,
    /// What stops the run from outside, and knows the run's own sessions (a fleet's, on
    /// every target), which the responder lock does not count as another responder's.
    stop: Stop,
    scope: Scope,
    facts: Facts,
    ending: Ending,
    /// Whether this run holds the playbook's advisory lock.
    locked: bool,
    /// The step whose connection was lost, while the loss is not yet explained.
    lost: Option<RunError>,
    /// The values of the `database`-typed params that are set: (param, database name).
    databases: Vec<(String, String)>,
    /// Time the current step has waited for the operator.
    waited: std::time::Duration,
    /// Every finished step: id, status and message, for the verdict.
    statuses: Vec<verdict::Finding>,
}

/// How far the run got in reaching its target.
pub enum Reach<'t, T> {
    /// The target could not even be named (e.g. an unparsable URL).
    Unresolved(RunError),
    /// Named (never with a password), but not reached.
    Unreachable {
        name: &'t str,
        error: RunError,
    },
    Reached {
        name: &'t str,
        target: &'t mut T,
    },
}

/// Whether a step gets past `--only` and its guards, with its record so far.
enum Gate {
    /// It runs (after `--step`'s question): the record holds the guards that passed.
    Open(StepRecord),
    /// It ends here (skipped, or its `when` failed), asking nothing.
    Closed(StepRecord),
}

/// A step's record, and the rows later steps see.
struct Finished {
    record: StepRecord,
    kept: Option<Kept>,
}

impl From<StepRecord> for Finished {
    fn from(record: StepRecord) -> Finished {
        Finished { record, kept: None }
    }
}

impl<'r> Engine<'r> {
    pub fn new(
        playbook: &'r Playbook,
        settings: Settings,
        values: &IndexMap<String, ParamValue>,
        clock: &'r dyn Clock,
        approver: &'r mut dyn Approver,
        listeners: Listeners<'r>,
        stop: Stop,
    ) -> Engine<'r> {
        Engine {
            playbook,
            settings,
            clock,
            approver,
            listeners,
            interrupted: stop.interruption(),
            stop,
            scope: Scope::new(
                params_value(playbook, values),
                History::new(Past::default(), clock.now()),
            ),
            facts: Facts::default(),
            ending: Ending::default(),
            locked: false,
            lost: None,
            statuses: Vec::new(),
            waited: std::time::Duration::ZERO,
            databases: database_params(playbook, values),
        }
    }

    /// Gives the run the history store's past of this playbook on this target, which
    /// `history.*` reads (earlier runs' metric values, measured from now).
    pub fn remembering(mut self, past: Past) -> Engine<'r> {
        self.scope.set_history(History::new(past, self.clock.now()));
        self
    }

    /// Runs the playbook as far as `reach` allows: reads the facts, runs the steps, and ends
    /// the run. Whatever happens, the listeners hear every step finish, then `RunFinished`.
    pub async fn run<T: Target>(mut self, reach: Reach<'_, T>) {
        match reach {
            Reach::Unresolved(error) => self.not_started(error),
            Reach::Unreachable { name, error } => {
                self.emit(&Event::Target { name });
                self.not_started(error);
            }
            Reach::Reached { name, target } => {
                self.emit(&Event::Target { name });
                match self.gather(target).await {
                    Ok(()) => self.steps(target).await,
                    Err(error) => self.not_started(error),
                }
            }
        }
        self.finish();
    }

    /// The run could not start: every step is NOT RUN (titled as written: nothing can be
    /// rendered without facts), and the run ends with `error`.
    fn not_started(&mut self, error: RunError) {
        let playbook = self.playbook;
        for step in &playbook.steps {
            let title = step.title.clone().unwrap_or_else(|| step.id.clone());
            let record = not_run(step, &title, "the run could not start");
            self.finished(&record);
        }
        self.ending.error = Some(error);
    }

    /// Runs every step in order.
    async fn steps(&mut self, target: &mut impl Target) {
        let total = self.playbook.steps.len();
        let playbook = self.playbook;
        for (index, step) in playbook.steps.iter().enumerate() {
            let title = self.title(step);
            self.emit(&Event::StepStarted {
                index,
                total,
                title: &title,
            });
            self.waited = std::time::Duration::ZERO;
            let started = self.clock.elapsed();
            let Finished { mut record, kept } = self.attempt(step, &title, target).await;
            let elapsed = millis_between(started, self.clock.elapsed());
            record.waited_ms = u64::try_from(self.waited.as_millis()).unwrap_or(u64::MAX);
            record.duration_ms = elapsed.saturating_sub(record.waited_ms);
            self.settle(step, &mut record, target.is_alive());
            self.scope.remember(&record, kept);
            self.finished(&record);
        }
        if let Some(lost) = self.lost.take() {
            self.ending.error = Some(lost);
        }
    }

    fn finished(&mut self, record: &StepRecord) {
        self.statuses.push(verdict::Finding::of(record));
        self.emit(&Event::StepFinished { record });
    }

    /// Ends the run: the interruption, if any, is noted, and the listeners hear the ending
    /// and its verdict.
    fn finish(mut self) {
        if self.interrupted() {
            let interrupted = format!("the run was interrupted {}", self.interruption());
            self.ending.stop(interrupted.clone());
            // Said before what else happened to the run as a whole (a reconnection).
            self.ending.notes.insert(0, interrupted);
        }
        let ending = std::mem::take(&mut self.ending);
        let verdict = verdict::of(&self.statuses, &ending);
        self.emit(&Event::RunFinished {
            ending: &ending,
            verdict,
        });
    }

    /// Whether the step can run at all, then `--step`'s question, then the step.
    async fn attempt(&mut self, step: &Step, title: &str, target: &mut impl Target) -> Finished {
        if self.interrupted() {
            let interrupted = format!("the run was interrupted {}", self.interruption());
            self.ending.stop(interrupted);
        }
        if !target.is_alive() && !self.ending.stopped {
            self.recover(target).await;
        }
        if !target.is_alive() {
            return not_run(step, title, "the connection to the server was lost").into();
        }
        if self.ending.stopped || self.ending.error.is_some() {
            return not_run(step, title, "the run stopped before this step").into();
        }
        // `--only` and the guards first: `--step` asks nothing about a step they skip.
        let record = match self.gate(step, title) {
            Gate::Open(record) => record,
            Gate::Closed(record) => return record.into(),
        };
        // Every answer but continue and skip stops the run here, for the reason it gives.
        let reason = match self.ask_before(step, title).await {
            StepChoice::Continue => return self.step(step, record, target).await,
            StepChoice::Skip => {
                return skipped(step, title, "skipped by the operator (`--step`)").into();
            }
            StepChoice::Abort => "aborted by the operator (`--step`)".to_owned(),
            StepChoice::Interrupted => {
                format!("interrupted {} at the `--step` prompt", self.interruption())
            }
            StepChoice::Refused { reason } => reason,
        };
        self.ending.stop(format!("`{}`: {reason}", step.id));
        not_run(step, title, &reason).into()
    }

    /// What a finished step means for the run: an interruption, `on_error: abort`, a lost
    /// connection.
    fn settle(&mut self, step: &Step, record: &mut StepRecord, alive: bool) {
        let by = self.interruption();
        let unsent = record.message.as_deref() == Some(&StepError::Interrupted { by }.to_string());
        if self.interrupted() && record.status == Status::Unknown && !unsent {
            let interrupted = format!("interrupted {by}; the query was cancelled");
            self.ending.stop(format!("`{}`: {interrupted}", step.id));
            record.message = Some(interrupted);
        }
        // In this order: a step that aborts the run is not a lost connection to recover from.
        if record.status == Status::Unknown && step.on_error == OnError::Abort && self.going() {
            self.ending.error = Some(RunError::Aborted {
                step: step.id.clone(),
            });
        }
        if let Some(error) = &record.error
            && !alive
            && self.going()
            && self.lost.is_none()
        {
            self.lost = Some(RunError::ConnectionLost {
                step: step.id.clone(),
                message: error.message.clone(),
            });
        }
    }

    fn interrupted(&self) -> bool {
        self.interrupted.is_raised()
    }

    /// What interrupted the run, as every message about it says it after "interrupted":
    /// `by SIGTERM`, `by the operator (Ctrl-C)`. Only asked once the run was interrupted.
    fn interruption(&self) -> &'static str {
        self.interrupted.cause().unwrap_or(Cause::CtrlC).by()
    }

    /// Neither stopped nor ended by an error so far.
    fn going(&self) -> bool {
        !self.ending.stopped && self.ending.error.is_none()
    }

    /// `--step`: continue, skip or abort before each step.
    async fn ask_before(&mut self, step: &Step, title: &str) -> StepChoice {
        if self.settings.pace == Pace::Straight {
            return StepChoice::Continue;
        }
        self.emit(&Event::Asking);
        let asked = self.clock.elapsed();
        let choice = self.approver.before_step(step, title).await;
        self.waited += self.clock.elapsed().saturating_sub(asked);
        match choice {
            _ if self.interrupted() => StepChoice::Interrupted,
            choice => choice,
        }
    }

    /// `--only`, then the guards: the step's blank record when it runs, or how it ended.
    fn gate(&mut self, step: &Step, title: &str) -> Gate {
        let mut record = blank(step, title);
        if let Some(only) = &self.settings.only
            && !only.iter().any(|id| id == &step.id)
        {
            return Gate::Closed(skipped(step, title, "not selected with `--only`"));
        }
        match self.guards(step, &mut record.guards) {
            Ok(Guard::Pass) => Gate::Open(record),
            Ok(guard) => {
                record.status = Status::Skipped;
                record.message = record
                    .guards
                    .iter()
                    .find(|g| !g.passed)
                    .map(|g| g.reason.clone());
                // An action the role may not run could not do its job: the run could not finish
                // as asked (UNKNOWN, exit 3), which a skip alone would hide. The step stays
                // skipped — nothing failed — and the run goes on.
                if guard == Guard::Unprivileged && matches!(step.kind, StepKind::Action(_)) {
                    let reason = record.message.clone().unwrap_or_default();
                    self.ending
                        .unfinished
                        .push((step.id.clone(), format!("not run: {reason}")));
                }
                Gate::Closed(record)
            }
            Err(error) => Gate::Closed(failed(record, &error)),
        }
    }

    /// The step's kind, once it passed its gate.
    async fn step(
        &mut self,
        step: &Step,
        mut record: StepRecord,
        target: &mut impl Target,
    ) -> Finished {
        match &step.kind {
            StepKind::Manual { text } => {
                record.status = Status::Manual;
                let ctx = self.scope.value();
                record.manual = Some(self.scope.text(&format!("{}.manual", step.id), text, &ctx));
                record.into()
            }
            StepKind::Check { sql } => self.check(step, sql, record, target).await,
            StepKind::Action(action) => self.action(step, action, record, target).await,
        }
    }

    fn title(&self, step: &Step) -> String {
        match &step.title {
            Some(title) => {
                let ctx = self.scope.value();
                self.scope.text(&format!("{}.title", step.id), title, &ctx)
            }
            None => step.id.clone(),
        }
    }

    /// Tells the listeners; only a `Decided` event can be vetoed, by `decided`.
    fn emit(&mut self, event: &Event) {
        let _ = self.listeners.emit(event);
    }

    fn decided(&mut self, event: &Event) -> Result<(), Veto> {
        self.listeners.emit(event)
    }
}

/// The set params of type `database`, each with the database it scopes the checks to (which
/// the server must have).
pub(crate) fn database_params(
    playbook: &Playbook,
    values: &IndexMap<String, ParamValue>,
) -> Vec<(String, String)> {
    playbook
        .params
        .iter()
        .filter(|p| p.kind == crate::load::raw::ParamType::Database)
        .filter_map(|p| match values.get(&p.name) {
            Some(ParamValue::String(name)) => Some((p.name.clone(), name.clone())),
            _ => None,
        })
        .collect()
}

/// The params as templates see them: every declared param, unset ones as none (NULL in SQL).
fn params_value(playbook: &Playbook, values: &IndexMap<String, ParamValue>) -> Value {
    let map: std::collections::BTreeMap<String, Value> = playbook
        .params
        .iter()
        .map(|p| {
            let value = values
                .get(&p.name)
                .map_or(Value::from(()), ParamValue::to_value);
            (p.name.clone(), value)
        })
        .collect();
    Value::from(map)
}

fn blank(step: &Step, title: &str) -> StepRecord {
    StepRecord::new(&step.id, title, step.kind_name(), Status::Ok)
}

fn skipped(step: &Step, title: &str, reason: &str) -> StepRecord {
    StepRecord {
        status: Status::Skipped,
        message: Some(reason.to_owned()),
        ..blank(step, title)
    }
}

fn not_run(step: &Step, title: &str, reason: &str) -> StepRecord {
    StepRecord {
        status: Status::NotRun,
        message: Some(reason.to_owned()),
        ..blank(step, title)
    }
}

/// The step failed: UNKNOWN (CRITICAL when it escaped its read-only transaction), with
/// PostgreSQL's error fields where the server sent them.
fn failed(mut record: StepRecord, error: &StepError) -> StepRecord {
    let message = error.to_string();
    record.status = if error.escaped() {
        Status::Critical
    } else {
        Status::Unknown
    };
    record.error = Some(match error.query() {
        Some(query) => ErrorRecord {
            message: query.message.clone(),
            sqlstate: query.sqlstate.clone(),
            detail: query.detail.clone(),
            hint: query.hint.clone(),
        },
        None => ErrorRecord {
            message: message.clone(),
            sqlstate: None,
            detail: None,
            hint: None,
        },
    });
    record.message = Some(message);
    record
}
