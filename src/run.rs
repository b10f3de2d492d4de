//! `runbook run`: from the command line to a report and an exit code.
//!
//! Whatever happens after the playbook is known — a connection failure, a failed step, a lost
//! server — the run ends the same way: the engine's events have built the run record, it is
//! written as the report, and its exit code is returned. Only a playbook or variables that do
//! not validate end before that.

use std::path::Path;

use indexmap::IndexMap;

use crate::cli::RunArgs;
use crate::clock::SystemClock;
use crate::commands::Checked;
use crate::config::RunConfig;
use crate::diagnostic::did_you_mean;
use crate::engine::{Engine, Reach, RunError};
use crate::events::{Listener, Listeners};
use crate::exit;
use crate::interrupt::Interrupts;
use crate::load::Source;
use crate::outputs::Header;
use crate::outputs::file::{self, Destination};
use crate::outputs::record::{RunRecord, Status, StepRecord};
use crate::outputs::{Journal, Progress, Recorder, Report, unfinished};
use crate::param::{self, ParamValue};
use crate::playbook::{Playbook, StepKind};
use crate::sql;
use crate::target::{Endpoint, Session};
use crate::terminal_text::{for_terminal, for_terminal_line};

pub fn run(args: RunArgs) -> u8 {
    let config = RunConfig::new(args);
    let (playbook, values) = match prepare(&config) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return exit::UNKNOWN;
        }
    };
    // The engine judges every check on the thread it runs on: give that thread the stack the
    // SQL parser needs, so no judgment has to start a thread of its own.
    let engine_thread = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("runbook-engine".to_owned())
            .stack_size(sql::PARSER_STACK)
            .spawn_scoped(scope, || {
                sql::as_parser_thread(|| {
                    runtime.block_on(run_playbook(&config, &playbook, &values))
                })
            })
            .map(|thread| thread.join())
    });
    let code = match engine_thread {
        Ok(Ok(code)) => code,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(error) => {
            eprintln!("error: cannot start the engine's thread: {error}");
            exit::UNKNOWN
        }
    };
    // A prompt abandoned on Ctrl-C may still be blocked reading the terminal: do not wait for it.
    runtime.shutdown_background();
    code
}

/// The checked playbook and its params' values, or the exit code of why there are none.
fn prepare(config: &RunConfig) -> Result<(Playbook, IndexMap<String, ParamValue>), u8> {
    let source = Source::locate(&config.playbook).map_err(|error| {
        eprintln!("error: {error}");
        exit::UNKNOWN
    })?;
    let checked = Checked::of(source);
    if !checked.diagnostics.is_empty() {
        eprintln!("{}", checked.render_diagnostics());
    }
    let Some(playbook) = checked.playbook else {
        eprintln!(
            "error: `{}` is not a valid playbook; nothing was run",
            checked.source.name
        );
        return Err(exit::UNKNOWN);
    };
    if let Some(only) = &config.only {
        let ids: Vec<&str> = playbook.steps.iter().map(|s| s.id.as_str()).collect();
        if let Some(id) = only.iter().find(|id| !ids.contains(&id.as_str())) {
            eprintln!(
                "error: `--only {id}`: playbook `{}` has no step `{id}`{} (steps: {})",
                playbook.name,
                did_you_mean(id, ids.iter().copied()),
                ids.join(", ")
            );
            return Err(exit::USAGE);
        }
    }
    let values = param::resolve(&playbook.params, &config.vars).map_err(|errors| {
        for error in errors {
            eprintln!("error: {}", for_terminal(&error.to_string()));
        }
        exit::UNKNOWN
    })?;
    Ok((playbook, values))
}

async fn run_playbook(
    config: &RunConfig,
    playbook: &Playbook,
    values: &IndexMap<String, ParamValue>,
) -> u8 {
    let clock = SystemClock::new();
    let header = Header {
        playbook,
        values,
        operator: config.operator.clone(),
        mode: config.mode,
    };
    let mut recorder = Recorder::new(header, &clock);
    let started_at = recorder.record().started_at.clone();
    let mut report = config.report(&playbook.name, &started_at);
    // Installed before anything can prompt: until a handler exists, SIGINT, SIGTERM or SIGHUP
    // kills the process without a report.
    let mut interrupts = Interrupts::install();
    // Every way the report cannot be written is found now, before anything runs.
    if let Err(error) = destined(&mut report, config.default_report()) {
        eprintln!(
            "error: {}; nothing was run",
            for_terminal(&error.to_string())
        );
        return exit::UNKNOWN;
    }
    let interruption = interrupts.interruption();
    let mut gate = config.gate(&report, &playbook.name, &started_at, interruption.flag());
    let Ok(mut journal) = journal(playbook, gate.journal.as_deref(), &started_at) else {
        return exit::UNKNOWN;
    };
    if let (Some(path), Some(_)) = (gate.journal.as_deref(), &journal) {
        for note in unfinished::notes(path, &playbook.name) {
            eprintln!("note: {note}");
            recorder.note(note);
        }
    }
    let mut progress = Progress::new(config.progress);
    {
        let mut listeners: Vec<&mut dyn Listener> = vec![&mut recorder, &mut progress];
        if let Some(journal) = journal.as_mut() {
            listeners.push(journal);
        }
        let engine = Engine::new(
            playbook,
            config.settings(),
            values,
            &clock,
            gate.approver.as_mut(),
            Listeners::new(listeners),
            interruption,
        );
        let application_name = format!("runbook:{}", playbook.name);
        match Endpoint::resolve(config.database_url.as_deref(), &application_name) {
            Err(error) => {
                let error = RunError::CannotConnect {
                    message: error.to_string(),
                };
                let reach: Reach<'_, Session> = Reach::Unresolved(error);
                engine.run(reach).await;
            }
            Ok(endpoint) => {
                for warning in &endpoint.warnings {
                    eprintln!("warning: {warning}");
                }
                drive(engine, &endpoint, &mut interrupts).await
            }
        }
    }
    let journal = journal.as_ref().and(gate.journal.as_deref());
    finish(recorder.record(), config, &report, journal)
}

/// Makes sure the report can be written where it goes: a default name is reserved for this
/// run alone, and every destination is probed (see `file::prepare`).
fn destined(report: &mut Report, default: bool) -> Result<(), file::WriteError> {
    let Destination::File(path) = &report.destination else {
        return Ok(());
    };
    let path = if default {
        file::reserve(path)?
    } else {
        path.clone()
    };
    file::prepare(&path, default)?;
    report.destination = Destination::File(path);
    Ok(())
}

/// The audit journal, opened before anything can be approved: a run that would act without
/// its audit trail does not start.
fn journal(
    playbook: &Playbook,
    path: Option<&Path>,
    started_at: &str,
) -> Result<Option<Journal>, ()> {
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
            eprintln!("error: {error}; nothing was run");
        })
}

/// Connects and runs the engine. The signals are watched from the moment there is a session
/// whose query they would cancel (until then they wait, queued): the watcher cancels through
/// the session's own canceller, which follows it across a reconnection.
async fn drive(engine: Engine<'_>, endpoint: &Endpoint, interrupts: &mut Interrupts) {
    let name = endpoint.display.as_str();
    let mut session = match endpoint.connect().await {
        Ok(session) => session,
        Err(error) => {
            let error = RunError::CannotConnect {
                message: error.to_string(),
            };
            let reach: Reach<'_, Session> = Reach::Unreachable { name, error };
            return engine.run(reach).await;
        }
    };
    let watcher = interrupts.watch(session.canceller());
    let reach = Reach::Reached {
        name,
        target: &mut session,
    };
    engine.run(reach).await;
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    session.close().await;
}

/// Writes the report and the summary line; a report that cannot be written makes the run
/// UNKNOWN (exit 3), since its audit trail is lost. `journal`: where the decisions went.
fn finish(record: &RunRecord, config: &RunConfig, report: &Report, journal: Option<&Path>) -> u8 {
    let written = report.write(record);
    if let Err(error) = &written {
        say(&format!("error: {}", for_terminal(&error.to_string())));
    }
    if let Some(error) = &record.error {
        say(&format!("error: {}", for_terminal(error)));
    }
    if config.summary {
        let line = summary(record, written.is_ok().then(|| report.shown_as()), journal);
        say(&for_terminal_line(&line));
    }
    match written {
        Ok(()) => record.exit_code,
        Err(_) => exit::UNKNOWN,
    }
}

/// A line on stderr, which may be gone (a closed terminal sent SIGHUP): the report is
/// written by then, and the exit code still tells.
fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The summary line: `name: STATUS — why — 7 steps, 1 warning — report: PATH`, and the
/// journal's path when an action was decided. `report`: where it was written, `None` when it
/// could not be (the run is then UNKNOWN: its record is lost).
fn summary(record: &RunRecord, report: Option<String>, journal: Option<&Path>) -> String {
    let (status, why) = match &report {
        Some(_) => (record.status.label(), record.why.clone()),
        None => (
            Status::Unknown.label(),
            Some("the report could not be written".to_owned()),
        ),
    };
    let written = report.unwrap_or_else(|| "NOT WRITTEN".to_owned());
    let mut parts = vec![format!("{}: {status}", record.playbook)];
    parts.extend(why.as_deref().map(|why| shortened(why, WHY_CHARS)));
    parts.push(counts(&record.steps));
    parts.push(format!("report: {written}"));
    let decided = record
        .steps
        .iter()
        .filter_map(|step| step.approval.as_ref())
        .any(|approval| approval.decision != "dry-run");
    if let Some(journal) = journal.filter(|_| decided) {
        parts.push(format!("journal: {}", journal.display()));
    }
    parts.join(" — ")
}

/// How much of why a run is not OK the summary line shows; the report has all of it.
const WHY_CHARS: usize = 240;

fn shortened(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// `7 steps, 1 warning, 1 skipped`.
fn counts(steps: &[StepRecord]) -> String {
    let mut parts = vec![format!(
        "{} step{}",
        steps.len(),
        if steps.len() == 1 { "" } else { "s" }
    )];
    for (status, word) in [
        (Status::Critical, "critical"),
        (Status::Unknown, "failed"),
        (Status::Warning, "warning"),
        (Status::Skipped, "skipped"),
        (Status::NotRun, "not run"),
    ] {
        let n = steps.iter().filter(|s| s.status == status).count();
        if n > 0 {
            let word = if n > 1 && status == Status::Warning {
                "warnings"
            } else {
                word
            };
            parts.push(format!("{n} {word}"));
        }
    }
    parts.join(", ")
}
