//! `runbook run`: from the command line to a report and an exit code.
//!
//! Whatever happens after the playbook is known — a connection failure, a failed step, a lost
//! server — the run ends the same way: a `RunRecord` is written as the report and its exit
//! code is returned. Only a playbook or variables that do not validate end before that.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Instant, SystemTime};

use minijinja::Value;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::approval::{Approver, Terminal, Unattended};
use crate::cli::{ReportFormat, RunArgs};
use crate::commands::Checked;
use crate::diagnostic::did_you_mean;
use crate::executor::{Ending, Executor, Listener, Settings};
use crate::gather::{self, Facts};
use crate::journal::{self, Journal};
use crate::load::Source;
use crate::outcome::{Mode, ParamRecord, RunRecord, Status, StepRecord};
use crate::param::{self, ParamValue};
use crate::playbook::Playbook;
use crate::playbook::StepKind;
use crate::progress::Progress;
use crate::report::{self, Destination, Format};
use crate::target::{Endpoint, Limits, Wrap};
use crate::{EXIT_UNKNOWN, EXIT_USAGE};

/// Exit code when an action was not approved or the operator stopped the run.
pub const EXIT_STOPPED: u8 = 4;

pub fn run(args: RunArgs) -> u8 {
    let source = match Source::locate(&args.playbook) {
        Ok(source) => source,
        Err(error) => {
            eprintln!("error: {error}");
            return EXIT_UNKNOWN;
        }
    };
    let checked = Checked::of(source);
    if !checked.diagnostics.is_empty() {
        eprintln!("{}", checked.render_diagnostics());
    }
    let Some(playbook) = checked.playbook else {
        eprintln!(
            "error: `{}` is not a valid playbook; nothing was run",
            checked.source.name
        );
        return EXIT_UNKNOWN;
    };
    if let Some(only) = &args.only {
        let ids: Vec<&str> = playbook.steps.iter().map(|s| s.id.as_str()).collect();
        for id in only {
            if !ids.contains(&id.as_str()) {
                eprintln!(
                    "error: `--only {id}`: playbook `{}` has no step `{id}`{} (steps: {})",
                    playbook.name,
                    did_you_mean(id, ids.iter().copied()),
                    ids.join(", ")
                );
                return EXIT_USAGE;
            }
        }
    }
    let values = match param::resolve(&playbook.params, &args.vars) {
        Ok(values) => values,
        Err(errors) => {
            for error in errors {
                eprintln!("error: {error}");
            }
            return EXIT_UNKNOWN;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return EXIT_UNKNOWN;
        }
    };
    runtime.block_on(run_playbook(&playbook, &args, &values))
}

async fn run_playbook(
    playbook: &Playbook,
    args: &RunArgs,
    values: &indexmap::IndexMap<String, ParamValue>,
) -> u8 {
    let started = Instant::now();
    let mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Live
    };
    let mut record = RunRecord {
        report_version: 1,
        playbook: playbook.name.clone(),
        title: playbook.title.clone(),
        description: playbook.description.clone(),
        source: playbook.source.clone(),
        target: String::new(),
        operator: args.operator.clone().unwrap_or_else(operator),
        mode,
        started_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        duration_ms: 0,
        status: Status::Unknown,
        exit_code: EXIT_UNKNOWN,
        params: playbook
            .params
            .iter()
            .map(|p| ParamRecord {
                name: p.name.clone(),
                value: values.get(&p.name).map(ToString::to_string),
            })
            .collect(),
        facts: None,
        notes: Vec::new(),
        error: None,
        steps: Vec::new(),
    };
    let application_name = format!("runbook:{}", playbook.name);
    let destination = destination(args, &record);
    // The audit trail must be writable before anything can be approved.
    let has_actions = playbook
        .steps
        .iter()
        .any(|s| matches!(s.kind, StepKind::Action(_)));
    let journal = if has_actions && mode == Mode::Live {
        match Journal::open(&journal_path(&destination, &record, args)) {
            Ok(journal) => Some(journal),
            Err(error) => {
                eprintln!("error: {error}; nothing was run");
                return EXIT_UNKNOWN;
            }
        }
    } else {
        None
    };
    let (steps, ending) = match Endpoint::resolve(args.database_url.as_deref(), &application_name) {
        Err(error) => (Vec::new(), failure(error.to_string())),
        Ok(endpoint) => {
            record.target = endpoint.display.clone();
            execute(
                playbook,
                args,
                mode,
                values,
                &endpoint,
                &mut record,
                journal,
            )
            .await
        }
    };
    record.steps = if steps.is_empty() {
        not_run(playbook, &ending)
    } else {
        steps
    };
    record.notes.extend(ending.notes.iter().cloned());
    record.error = ending.error.clone();
    record.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (status, code) = verdict(&record.steps, &ending);
    record.status = status;
    record.exit_code = code;
    finish(&record, args, &destination, code)
}

/// Connects, gathers facts and runs the steps; connection failures end as an `Ending`.
async fn execute(
    playbook: &Playbook,
    args: &RunArgs,
    mode: Mode,
    values: &indexmap::IndexMap<String, ParamValue>,
    endpoint: &Endpoint,
    record: &mut RunRecord,
    journal: Option<Journal>,
) -> (Vec<StepRecord>, Ending) {
    // Installed before anything can prompt: until a handler exists, SIGINT kills the process
    // without a report.
    let sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    let mut session = match endpoint.connect().await {
        Ok(session) => session,
        Err(error) => return (Vec::new(), failure(error.to_string())),
    };
    let facts = match gather::gather(&mut session, playbook).await {
        Ok(facts) => facts,
        Err(error) => {
            session.close().await;
            return (
                Vec::new(),
                failure(endpoint.redact(&format!("cannot read the server's facts: {error}"))),
            );
        }
    };
    record.facts = Some(serde_json::Value::Object(facts.json.clone()));
    record.notes.extend(privilege_notes(playbook, &facts));
    let interrupted = Arc::new(AtomicBool::new(false));
    let watcher = sigint.ok().map(|sigint| {
        tokio::spawn(watch_interrupts(
            sigint,
            interrupted.clone(),
            endpoint.clone(),
            facts.int("backend_pid"),
        ))
    });
    let settings = Settings {
        mode,
        only: args.only.clone(),
        report_rows: args.report_rows,
        step_through: args.step,
        operator: record.operator.clone(),
        target: record.target.clone(),
        interrupted: interrupted.clone(),
    };
    let mut executor = Executor::new(
        playbook,
        settings,
        params_value(playbook, values),
        &facts,
        journal,
    );
    let mut terminal;
    let mut unattended;
    let approver: &mut dyn Approver = match Terminal::detect(args.yes) {
        Some(found) => {
            terminal = found;
            &mut terminal
        }
        None => {
            unattended = Unattended {
                assume_yes: args.yes,
            };
            &mut unattended
        }
    };
    let mut progress = Progress::new(!args.quiet && std::io::stderr().is_terminal());
    let mut listeners: [&mut dyn Listener; 1] = [&mut progress];
    let (steps, mut ending) = executor.run(&mut session, approver, &mut listeners).await;
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    if interrupted.load(Ordering::SeqCst) {
        ending.stopped = true;
        record
            .notes
            .push("the run was interrupted by the operator (Ctrl-C)".to_owned());
    }
    session.close().await;
    (steps, ending)
}

/// First Ctrl-C: flag the run and cancel the engine's running query from a short side
/// connection (sqlx cannot send a cancel request). Second Ctrl-C: exit at once; the journal
/// is already on disk.
async fn watch_interrupts(
    mut sigint: tokio::signal::unix::Signal,
    interrupted: Arc<AtomicBool>,
    endpoint: Endpoint,
    backend_pid: i64,
) {
    loop {
        if sigint.recv().await.is_none() {
            return;
        }
        if interrupted.swap(true, Ordering::SeqCst) {
            eprintln!("\ninterrupted again: exiting now");
            std::process::exit(i32::from(EXIT_STOPPED));
        }
        eprintln!("\ninterrupted: cancelling the running query (Ctrl-C again to exit at once)");
        if let Ok(mut side) = endpoint.connect().await {
            let limits = Limits {
                statement_timeout: std::time::Duration::from_secs(5),
                lock_timeout: std::time::Duration::from_secs(1),
            };
            let sql = format!("SELECT pg_cancel_backend({backend_pid})");
            let _ = side
                .run(&sql, Wrap::Autocommit, limits, |_, _, _| Ok(()))
                .await;
            side.close().await;
        }
    }
}

/// The journal beside the report (for a report on stdout, where the default report would be).
fn journal_path(
    destination: &Destination,
    record: &RunRecord,
    args: &RunArgs,
) -> std::path::PathBuf {
    match destination {
        Destination::File(path) => journal::beside(path),
        Destination::Stdout => journal::beside(&report::default_path(record, format(args))),
    }
}

/// The params as templates see them: every declared param, unset ones as none (NULL in SQL).
fn params_value(playbook: &Playbook, values: &indexmap::IndexMap<String, ParamValue>) -> Value {
    let map: BTreeMap<String, Value> = playbook
        .params
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                values
                    .get(&p.name)
                    .map_or(Value::from(()), ParamValue::to_value),
            )
        })
        .collect();
    Value::from(map)
}

/// Notes for the report when the role cannot see what the checks count.
fn privilege_notes(playbook: &Playbook, facts: &Facts) -> Vec<String> {
    let mut notes = Vec::new();
    if facts.flag("can_read_all_stats") {
        return notes;
    }
    let readers: Vec<String> = playbook
        .steps
        .iter()
        .filter(|step| match &step.kind {
            crate::playbook::StepKind::Check { sql } => sql.contains("pg_stat_activity"),
            _ => false,
        })
        .map(|step| format!("`{}`", step.id))
        .collect();
    if !readers.is_empty() {
        notes.push(format!(
            "the role `{}` is not a member of `pg_read_all_stats`: other roles' sessions show no state or query, so the counts of {} come out low",
            facts.text("current_user"),
            readers.join(", ")
        ));
    }
    notes
}

fn failure(message: String) -> Ending {
    Ending {
        error: Some(message),
        ..Ending::default()
    }
}

/// Every step marked not run, when the run ended before its first step.
fn not_run(playbook: &Playbook, ending: &Ending) -> Vec<StepRecord> {
    let reason = if ending.error.is_some() {
        "the run could not start"
    } else {
        "not run"
    };
    playbook
        .steps
        .iter()
        .map(|step| StepRecord {
            message: Some(reason.to_owned()),
            ..StepRecord::new(
                &step.id,
                step.title.as_deref().unwrap_or(&step.id),
                step.kind_name(),
                Status::NotRun,
            )
        })
        .collect()
}

/// The run's status and exit code: stopped 4; a run that could not finish 3; else CRITICAL 2,
/// a failed step 3, WARNING 1, OK 0.
fn verdict(steps: &[StepRecord], ending: &Ending) -> (Status, u8) {
    if ending.stopped || ending.refused {
        return (Status::Stopped, EXIT_STOPPED);
    }
    if ending.error.is_some() {
        return (Status::Unknown, EXIT_UNKNOWN);
    }
    match worst(steps) {
        Status::Critical => (Status::Critical, 2),
        Status::Unknown => (Status::Unknown, EXIT_UNKNOWN),
        Status::Warning => (Status::Warning, 1),
        _ => (Status::Ok, 0),
    }
}

fn worst(steps: &[StepRecord]) -> Status {
    let rank = |status: Status| match status {
        Status::Critical => 3,
        Status::Unknown => 2,
        Status::Warning => 1,
        _ => 0,
    };
    steps
        .iter()
        .map(|s| s.status)
        .max_by_key(|s| rank(*s))
        .filter(|s| rank(*s) > 0)
        .unwrap_or(Status::Ok)
}

fn destination(args: &RunArgs, record: &RunRecord) -> Destination {
    match args.report.as_deref() {
        Some("-") => Destination::Stdout,
        Some(path) => Destination::File(path.into()),
        None => Destination::File(report::default_path(record, format(args))),
    }
}

fn format(args: &RunArgs) -> Format {
    match args.format {
        ReportFormat::Markdown => Format::Markdown,
        ReportFormat::Json => Format::Json,
    }
}

/// Writes the report and the summary line; a report that cannot be written makes the run
/// UNKNOWN, since its audit trail is lost.
fn finish(record: &RunRecord, args: &RunArgs, destination: &Destination, code: u8) -> u8 {
    let text = report::render(record, format(args));
    let (written, code) = match report::write(&text, destination) {
        Ok(()) => (
            match destination {
                Destination::Stdout => "standard output".to_owned(),
                Destination::File(path) => path.display().to_string(),
            },
            code,
        ),
        Err(error) => {
            eprintln!("error: {error}");
            ("not written".to_owned(), code.max(EXIT_UNKNOWN))
        }
    };
    if let Some(error) = &record.error {
        eprintln!("error: {error}");
    }
    if !args.quiet {
        eprintln!(
            "{}: {} — {} — report: {written}",
            record.playbook,
            record.status.label(),
            counts(&record.steps)
        );
    }
    code
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

/// The OS user running the engine.
fn operator() -> String {
    whoami::username().unwrap_or_else(|_| "unknown".to_owned())
}
