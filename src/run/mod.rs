//! `runbook run`: from the command line to a report and an exit code.
//!
//! Whatever happens after the playbook is known — a connection failure, a failed step, a lost
//! server — the run ends the same way: the engine's events have built the run record, it is
//! written as the report, and its exit code is returned. Only a playbook or variables that do
//! not validate end before that.

use std::path::Path;

use indexmap::IndexMap;

mod target;

pub(crate) use target::{Plan, run_target};

use crate::cli::RunArgs;
use crate::clock::SystemClock;
use crate::commands::Checked;
use crate::config::{Closing, RunConfig, Usage};
use crate::diagnostic::did_you_mean;
use crate::exit;
use crate::fleet;
use crate::history::{Opened, Pruning};
use crate::interrupt::Interrupts;
use crate::load::Source;
use crate::outputs::file::{self, Destination};
use crate::outputs::paint::Paint;
use crate::outputs::record::{RunRecord, Status};
use crate::outputs::{Artifact, Progress, Recorder, Report, counts, nagios, prometheus};
use crate::param::{self, ParamValue};
use crate::playbook::Playbook;
use crate::sql;
use crate::terminal_text::{for_terminal, for_terminal_line};

pub fn run(args: RunArgs) -> u8 {
    let nagios = args.nagios;
    let config = match RunConfig::new(args) {
        Ok(config) => config,
        Err(Usage(usage)) => {
            eprintln!("error: {usage}");
            return if nagios {
                nagios::Answer::unknown("runbook", &usage).print()
            } else {
                exit::USAGE
            };
        }
    };
    let playbook = match prepare(&config) {
        Ok(playbook) => playbook,
        Err(code) => return code,
    };
    // A single run's params, or a fleet's targets with each one's: all decided before anything
    // connects, so a mistake in any of them runs nothing.
    let work = match &config.fleet {
        None => param_values(&config, &playbook, &config.vars).map(Work::Single),
        Some(fleet) => fleet_vars(&config, &playbook)
            .and_then(|()| fleet::plan(&config, fleet, &playbook))
            .map(Work::Fleet),
    };
    let work = match work {
        Ok(work) => work,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let error = format!("cannot start the async runtime: {error}");
            eprintln!("error: {error}");
            return early(&config, &playbook.name, exit::UNKNOWN, &error);
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
                    runtime.block_on(async {
                        match &work {
                            Work::Single(values) => run_playbook(&config, &playbook, values).await,
                            Work::Fleet(plan) => fleet::run(&config, &playbook, plan).await,
                        }
                    })
                })
            })
            .map(|thread| thread.join())
    });
    let code = match engine_thread {
        Ok(Ok(code)) => code,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(error) => {
            let error = format!("cannot start the engine's thread: {error}");
            eprintln!("error: {error}");
            early(&config, &playbook.name, exit::UNKNOWN, &error)
        }
    };
    // A prompt abandoned on Ctrl-C may still be blocked reading the terminal: do not wait for it.
    runtime.shutdown_background();
    // Old runs are deleted once this one is written and reported, never before: started
    // beside the run, the pruner's connection and the run's opened the file at once, and one
    // slept in SQLite's busy handler (8 ms of a daily-monitoring run).
    Pruning::start(config.history.as_ref()).finish(PRUNING_WAIT);
    code
}

/// How long a run that is over waits for its pruning of the history (a store that hangs
/// must not hold a cron job).
const PRUNING_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// What the run does once the playbook is checked.
enum Work {
    /// One target, with its params' values.
    Single(IndexMap<String, ParamValue>),
    Fleet(fleet::Plan),
}

/// The checked playbook, or the exit code of why there is none.
fn prepare(config: &RunConfig) -> Result<Playbook, u8> {
    let source = Source::locate(&config.playbook).map_err(|error| {
        eprintln!("error: {}", for_terminal(&error.to_string()));
        let code = if error.is_usage() {
            exit::USAGE
        } else {
            exit::UNKNOWN
        };
        early(config, "runbook", code, &error.to_string())
    })?;
    let checked = Checked::of(source);
    if !checked.diagnostics.is_empty() {
        eprintln!("{}", checked.render_diagnostics());
    }
    let Some(playbook) = checked.playbook else {
        let error = format!(
            "`{}` is not a valid playbook; nothing was run",
            checked.source.name
        );
        eprintln!("error: {error}");
        return Err(early(config, &checked.source.name, exit::UNKNOWN, &error));
    };
    if let Some(only) = &config.only {
        let ids: Vec<&str> = playbook.steps.iter().map(|s| s.id.as_str()).collect();
        if let Some(id) = only.iter().find(|id| !ids.contains(&id.as_str())) {
            let error = format!(
                "`--only {id}`: playbook `{}` has no step `{id}`{} (steps: {})",
                playbook.name,
                did_you_mean(id, ids.iter().copied()),
                ids.join(", ")
            );
            eprintln!("error: {error}");
            return Err(early(config, &playbook.name, exit::USAGE, &error));
        }
    }
    Ok(playbook)
}

/// The params' values `vars` (`NAME=VALUE`, later ones winning) give, with the playbook's
/// defaults; or the exit code of why they do not. Each of its problems is the command line's:
/// a `--var` of no param, of a value its param does not take, a required param not set.
/// Usage errors all (64): the user fixes the command, as for a bad flag, not the playbook.
pub(crate) fn param_values(
    config: &RunConfig,
    playbook: &Playbook,
    vars: &[String],
) -> Result<IndexMap<String, ParamValue>, u8> {
    param::resolve(&playbook.params, vars).map_err(|errors| vars_refused(config, playbook, &errors))
}

/// The `--var`s of a fleet run, checked once against the playbook's params before any
/// target's own `vars` (an inventory's mistakes are the file's, UNKNOWN, reported at its
/// lines); or the exit code of why they are refused (64).
fn fleet_vars(config: &RunConfig, playbook: &Playbook) -> Result<(), u8> {
    let errors: Vec<String> = config
        .vars
        .iter()
        .filter_map(|var| param::check_var(&playbook.params, var).err())
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(vars_refused(config, playbook, &errors))
    }
}

/// Prints the problems of the `--var`s and returns the usage error's exit code.
fn vars_refused(config: &RunConfig, playbook: &Playbook, errors: &[String]) -> u8 {
    for error in errors {
        eprintln!("error: {}", for_terminal(error));
    }
    early(config, &playbook.name, exit::USAGE, &errors.join("; "))
}

async fn run_playbook(
    config: &RunConfig,
    playbook: &Playbook,
    values: &IndexMap<String, ParamValue>,
) -> u8 {
    let clock = SystemClock::new();
    let recorder = Recorder::new(config.header(playbook, values), &clock);
    let started_at = recorder.record().started_at.clone();
    let mut report = config.report(&playbook.name, &started_at);
    // Installed before anything can prompt: until a handler exists, SIGINT, SIGTERM or SIGHUP
    // kills the process without a report.
    let mut interrupts = Interrupts::install();
    // Every way the report or the metrics cannot be written is found now, before anything
    // runs.
    let destined =
        destined(&mut report, config.default_report()).and_then(|()| match &config.metrics {
            Some(Destination::File(path)) => {
                file::prepare(Artifact::Metrics, path, false).map(drop)
            }
            _ => Ok(()),
        });
    if let Err(error) = destined {
        let error = format!("{error}; nothing was run");
        eprintln!("error: {}", for_terminal(&error));
        return early(config, &playbook.name, exit::UNKNOWN, &error);
    }
    let stop = interrupts.stop();
    let mut gate = config.gate(
        &report,
        &playbook.name,
        &started_at,
        stop.interruption().flag(),
    );
    let watcher = interrupts.watch();
    let mut progress = Progress::new(config.progress, config.detail, config.paint);
    let history = Opened::default();
    let plan = Plan {
        conninfo: config.database_url.as_deref(),
        approver: gate.approver.as_mut(),
        journal: gate.journal.as_deref(),
        progress: &mut progress,
        connecting: config.progress,
        name: None,
        history: &history,
    };
    let ran = run_target(config, playbook, values, &clock, recorder, &stop, plan).await;
    history.close().await;
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    match ran {
        Ok(ran) => finish(
            ran.recorder.record(),
            config,
            &report,
            Left {
                journal: ran.journal.as_deref(),
                unkept: ran.unkept.as_deref(),
            },
        ),
        Err(error) => early(config, &playbook.name, exit::UNKNOWN, &error),
    }
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
    file::prepare(Artifact::Report, &path, default)?;
    report.destination = Destination::File(path);
    Ok(())
}

/// What a run left beside its record, for the summary line.
struct Left<'a> {
    /// Where the decisions went.
    journal: Option<&'a Path>,
    /// Why the run is not in the history: a warning, never a change of status.
    unkept: Option<&'a str>,
}

/// Writes the report, the metrics, and the summary line or the plugin answer. A report that
/// cannot be written makes the run UNKNOWN (exit 3), since its audit trail is lost; so do
/// metrics that cannot be written, since monitoring would read the previous run's as this
/// one's. A history that cannot be written is only a warning: the checks saw what they saw.
fn finish(record: &RunRecord, config: &RunConfig, report: &Report, left: Left<'_>) -> u8 {
    let mut lost = Vec::new();
    let written = report.write(record);
    if let Err(error) = &written {
        say(&format!("error: {}", for_terminal(&error.to_string())));
        lost.push(Artifact::Report);
    }
    if let Some(metrics) = &config.metrics {
        let text = prometheus::render(record, &lost);
        if let Err(error) = file::write(Artifact::Metrics, &text, metrics) {
            say(&format!("error: {}", for_terminal(&error.to_string())));
            lost.push(Artifact::Metrics);
        }
    }
    if let Some(error) = &record.error {
        say(&format!("error: {}", for_terminal(error)));
    }
    match config.closing {
        Closing::Nagios => return nagios::Answer::of(record, &lost).print(),
        Closing::Summary => {
            let line = summary(
                record,
                written.is_ok().then(|| report.shown_as()),
                &lost,
                &left,
                config.paint,
            );
            say(&line);
        }
        Closing::Quiet => {}
    }
    if lost.is_empty() {
        record.exit_code
    } else {
        exit::UNKNOWN
    }
}

/// How a run ends that has no record: with `--nagios`, the plugin answer says why on stdout
/// (named `name`) and the exit code is UNKNOWN; else `code`. The error is on stderr already.
pub(crate) fn early(config: &RunConfig, name: &str, code: u8, error: &str) -> u8 {
    match config.closing {
        Closing::Nagios => nagios::Answer::unknown(name, error).print(),
        Closing::Quiet | Closing::Summary => code,
    }
}

/// A line on stderr, which may be gone (a closed terminal sent SIGHUP): the report is
/// written by then, and the exit code still tells.
pub(crate) fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The summary line: `name: STATUS — why — 7 steps, 1 warning — report: PATH`, the
/// journal's path when an action was decided, and a warning when the history could not be
/// written. `report`: where it was written, `None` when it could not be (the run is then
/// UNKNOWN: its record is lost); `lost`: what could not be written.
fn summary(
    record: &RunRecord,
    report: Option<String>,
    lost: &[Artifact],
    left: &Left<'_>,
    paint: Paint,
) -> String {
    let (status, why) = match lost {
        [] => (record.status, record.why.clone()),
        lost => {
            let lost: Vec<String> = lost.iter().map(ToString::to_string).collect();
            let why = format!("{} could not be written", lost.join(" and "));
            (Status::Unknown, Some(why))
        }
    };
    let written = report.unwrap_or_else(|| "NOT WRITTEN".to_owned());
    let mut parts = vec![format!("{}: {}", record.playbook, status.label())];
    parts.extend(why.as_deref().map(|why| shortened(why, WHY_CHARS)));
    parts.push(counts(&record.steps));
    parts.push(format!("report: {written}"));
    if let Some(journal) = left.journal.filter(|_| record.decided_an_action()) {
        parts.push(format!("journal: {}", journal.display()));
    }
    if let Some(unkept) = left.unkept {
        parts.push(format!("warning: {}", shortened(unkept, WHY_CHARS)));
    }
    // Made safe first: the colour's codes are the only ones that reach the terminal.
    let line = for_terminal_line(&parts.join(" — ")).into_owned();
    let head = format!(
        "{}: {}",
        for_terminal_line(&record.playbook),
        status.label()
    );
    match line.strip_prefix(&head) {
        Some(rest) => format!(
            "{}: {}{rest}",
            for_terminal_line(&record.playbook),
            paint.label(status)
        ),
        None => line,
    }
}

/// How much of why a run is not OK the summary line shows; the report has all of it.
const WHY_CHARS: usize = 240;

pub(crate) fn shortened(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}
