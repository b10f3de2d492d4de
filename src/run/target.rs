//! One target's run: what a single run and every target of a fleet share — the audit
//! journal opened before anything can be approved, the endpoint resolved, the target's past
//! read from the history, the session connected (a stop drops the attempt), the engine run
//! through it, the session closed, and the run written to the history.
//! What differs between the two callers comes in a [`Plan`]; nothing here knows which one
//! it serves.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::approval::Approver;
use crate::clock::SystemClock;
use crate::config::RunConfig;
use crate::engine::{Engine, Reach, RunError};
use crate::events::{Listener, Listeners};
use crate::history::{Keeper, Opened, Past, series_target};
use crate::interrupt::{Cause, Stop};
use crate::outputs::{Connecting, Journal, Recorder, unfinished};
use crate::param::ParamValue;
use crate::playbook::{Playbook, StepKind};
use crate::target::{Endpoint, Session};
use crate::terminal_text::for_terminal_line;

/// One target's run, as a single run and each target of a fleet take it: what differs
/// between them is given here, the rest is this one path.
pub(crate) struct Plan<'a> {
    /// What to connect to; `None`: libpq's conventions.
    pub conninfo: Option<&'a str>,
    pub approver: &'a mut dyn Approver,
    /// Where the decisions are journaled, for a run that may act.
    pub journal: Option<&'a Path>,
    /// What shows the run on the terminal.
    pub progress: &'a mut dyn Listener,
    /// Whether to show the connecting line (a single run on a terminal).
    pub connecting: bool,
    /// The target's fleet name, which its warnings start with.
    pub name: Option<&'a str>,
    /// The run's history store, shared by a fleet's targets.
    pub history: &'a Opened,
}

/// What a target's run left: its record, the journal its decisions went to when one was
/// opened, and whether the history has it.
pub(crate) struct Ran<'c> {
    pub recorder: Recorder<'c>,
    pub journal: Option<PathBuf>,
    /// Why the run is not in the history, when it could not be written there (or its past
    /// could not be read).
    pub unkept: Option<String>,
}

/// Runs `playbook` on one target through the engine; `recorder` was made when the target
/// started. An audit journal that cannot be opened runs nothing: the error (printed) comes
/// back.
pub(crate) async fn run_target<'c>(
    config: &RunConfig,
    playbook: &Playbook,
    values: &IndexMap<String, ParamValue>,
    clock: &SystemClock,
    mut recorder: Recorder<'c>,
    stop: &Stop,
    plan: Plan<'_>,
) -> Result<Ran<'c>, String> {
    let started_at = recorder.record().started_at.clone();
    let mut journal = journal(playbook, plan.journal, &started_at)?;
    if let (Some(path), Some(_)) = (plan.journal, &journal) {
        for note in unfinished::notes(path, &playbook.name) {
            eprintln!("note: {}", named(plan.name, &note));
            recorder.note(note);
        }
    }
    let application_name = format!("runbook:{}", playbook.name);
    let endpoint = Endpoint::resolve(plan.conninfo, &application_name);
    let mut keeper = Keeper::new(config.history.as_ref(), plan.history);
    let past = match &endpoint {
        Ok(endpoint) => {
            let scoped = crate::engine::database_params(playbook, values);
            let target = series_target(&endpoint.display, &scoped);
            keeper.past(playbook, target).await
        }
        Err(_) => Past::default(),
    };
    {
        let mut listeners: Vec<&mut dyn Listener> = vec![&mut recorder, plan.progress];
        if let Some(journal) = journal.as_mut() {
            listeners.push(journal);
        }
        let engine = Engine::new(
            playbook,
            config.settings(),
            values,
            clock,
            plan.approver,
            Listeners::new(listeners),
            stop.clone(),
        )
        .remembering(past);
        match endpoint {
            Err(error) => {
                let error = RunError::CannotConnect {
                    message: error.to_string(),
                };
                let reach: Reach<'_, Session> = Reach::Unresolved(error);
                engine.run(reach).await;
            }
            Ok(mut endpoint) => {
                for warning in &endpoint.warnings {
                    eprintln!("warning: {}", named(plan.name, warning));
                }
                let connecting = Connecting::start(plan.connecting, &endpoint.display);
                let told = connecting.clone();
                endpoint.on_retry(move |why| told.waiting(why));
                drive(engine, &endpoint, &connecting, stop).await
            }
        }
    }
    // Written before the report is, so a report can say the run is not in the history.
    let unkept = keeper.keep(recorder.record(), plan.name).await;
    if let Some(warning) = &unkept {
        recorder.note(warning.clone());
    }
    let journal = journal.and(plan.journal.map(Path::to_owned));
    Ok(Ran {
        recorder,
        journal,
        unkept,
    })
}

/// `text`, after the target's fleet name when it has one.
fn named(name: Option<&str>, text: &str) -> String {
    match name {
        Some(name) => format!("{}: {text}", for_terminal_line(name)),
        None => text.to_owned(),
    }
}

/// The audit journal, opened before anything can be approved: a run that would act without
/// its audit trail does not start (the error, printed, is given back).
fn journal(
    playbook: &Playbook,
    path: Option<&Path>,
    started_at: &str,
) -> Result<Option<Journal>, String> {
    let has_actions = playbook
        .steps
        .iter()
        .any(|s| matches!(s.kind, StepKind::Action(_)));
    let Some(path) = path.filter(|_| has_actions) else {
        return Ok(None);
    };
    Journal::open(path, &playbook.name, started_at)
        .map(Some)
        .map_err(|error| {
            let error = format!("{error}; nothing was run");
            eprintln!("error: {error}");
            error
        })
}

/// Connects and runs the engine. From the moment there is a session, a stop (a signal, an
/// abort at another target's prompt) cancels its query through the session's own canceller,
/// which follows it across a reconnection.
async fn drive(engine: Engine<'_>, endpoint: &Endpoint, connecting: &Connecting, stop: &Stop) {
    let name = endpoint.display.as_str();
    let interruption = stop.interruption();
    // A stop does not wait for the connect timeout (a server that does not answer, retries
    // while it refuses): the attempt is dropped, and the engine ends the run as stopped.
    let connected = tokio::select! {
        connected = endpoint.connect() => connected,
        () = interruption.raised() => {
            connecting.failed();
            let by = interruption.cause().map_or("", Cause::by);
            let error = RunError::CannotConnect {
                message: format!("not connected: the run was interrupted {by} while connecting"),
            };
            let reach: Reach<'_, Session> = Reach::Unreachable { name, error };
            return engine.run(reach).await;
        }
    };
    match &connected {
        Ok(_) => connecting.connected(),
        Err(_) => connecting.failed(),
    }
    let mut session = match connected {
        Ok(session) => session,
        Err(error) => {
            let error = RunError::CannotConnect {
                message: error.to_string(),
            };
            let reach: Reach<'_, Session> = Reach::Unreachable { name, error };
            return engine.run(reach).await;
        }
    };
    let registered = stop.register(session.canceller());
    let reach = Reach::Reached {
        name,
        target: &mut session,
    };
    engine.run(reach).await;
    drop(registered);
    session.close().await;
}
