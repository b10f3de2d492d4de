//! Running a fleet: the targets planned before anything connects (`plan`), then at most `--parallel`
//! of them at once, each through `run::run_target` — the path a single run takes — in one
//! task of the engine's thread, so the approver and the screen need no locks across threads.
//!
//! What the fleet adds stays around that path: [`FleetApprover`] puts every target's questions
//! through the one approver, one prompt at a time and naming the target, and turns an abort
//! at any prompt into a stop of the whole fleet; the shared [`Stop`] (signals too) cancels
//! the queries in flight on their servers, and the targets not started yet end NOT RUN.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use futures_util::StreamExt as _;
use futures_util::future::LocalBoxFuture;
use futures_util::stream::FuturesUnordered;

use super::plan::{Plan, Planned};
use super::screen::Screen;
use super::{TargetResult, markdown, report};
use crate::approval::{Approver, Decision, Request, StepChoice};
use crate::clock::{Clock, SystemClock, millis_between};
use crate::config::{Closing, RunConfig};
use crate::count::count_usize;
use crate::exit;
use crate::history::Opened;
use crate::interrupt::{Cause, Interrupts, Stop};
use crate::outputs::file::{self, Destination};
use crate::outputs::record::Status;
use crate::outputs::{Artifact, Format, Recorder, Report, nagios, prometheus};
use crate::playbook::{Playbook, Step};
use crate::run::{self, Plan as TargetPlan, early, say};
use crate::terminal_text::{for_terminal, for_terminal_line};

/// Runs the fleet and says how it went: the targets' reports and journals in the run's
/// directory, the combined report, `--metrics`, and the summary line or the plugin answer.
pub async fn run(config: &RunConfig, playbook: &Playbook, plan: &Plan) -> u8 {
    let clock = SystemClock::new();
    let started_at = clock.stamp();
    let started = clock.elapsed();
    // Installed before anything can prompt (see `interrupt`).
    let mut interrupts = Interrupts::install();
    let prepared = directory(config, plan, playbook, &started_at).and_then(|directory| {
        let combined = combined(config, &directory, plan.report_dir.is_none())?;
        if let Some(Destination::File(path)) = &config.metrics {
            file::prepare(Artifact::Metrics, path, false)?;
        }
        Ok((directory, combined))
    });
    let (directory, combined) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => {
            let error = format!("{error}; nothing was run");
            eprintln!("error: {}", for_terminal(&error));
            return early(config, &playbook.name, exit::UNKNOWN, &error);
        }
    };
    let stop = interrupts.stop();
    let watcher = interrupts.watch();
    let fleet_run = Fleet {
        config,
        playbook,
        clock: &clock,
        stop: &stop,
        approver: Rc::new(tokio::sync::Mutex::new(
            config.approver(stop.interruption().flag()),
        )),
        screen: Rc::new(Screen::new(
            config.progress,
            plan.targets.len(),
            config.detail,
            config.paint,
        )),
        directory: &directory,
        metrics: config.closing == Closing::Nagios || config.metrics.is_some(),
        history: Opened::default(),
    };
    let results = fleet_run.all(plan).await;
    fleet_run.screen.clear();
    fleet_run.history.close().await;
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    let duration_ms = millis_between(started, clock.elapsed());
    let notes = stopped(&stop).into_iter().collect();
    let summary = report::FleetRun {
        playbook: &playbook.name,
        title: &playbook.title,
        operator: &config.operator,
        mode: config.mode,
        started_at,
        duration_ms,
        parallel: plan.parallel,
        shard: plan.shard.map(|shard| shard.to_string()),
        notes,
        results: &results,
    };
    finish(config, &summary, &combined)
}

/// The run's directory: `--report-dir` (created if missing), else a new one of its own
/// beside where a single run's report would go (`runbook-reports/<name>-<UTC time>/`).
fn directory(
    config: &RunConfig,
    plan: &Plan,
    playbook: &Playbook,
    started_at: &str,
) -> Result<PathBuf, file::WriteError> {
    if let Some(directory) = &plan.report_dir {
        file::make_directory(Artifact::Report, directory, directory)?;
        return Ok(directory.clone());
    }
    let output = config.report.format.output();
    let single = crate::outputs::default_path(&playbook.name, started_at, output.as_ref());
    file::reserve_directory(&single.with_extension(""))
}

/// Where the combined report goes: `--report`, else `summary.<ext>` in the run's directory.
fn combined(config: &RunConfig, directory: &Path, new: bool) -> Result<Report, file::WriteError> {
    let mut report = config.report("summary", "");
    if config.default_report() {
        let name = format!("{}.{}", super::COMBINED, report.output.extension());
        report.destination = Destination::File(in_directory(&directory.join(name), new)?);
    } else if let Destination::File(path) = &report.destination {
        file::prepare(Artifact::Report, path, false)?;
    }
    Ok(report)
}

/// `path`, a report's in the run's directory, made sure it can be written: reserved in a
/// `new` directory (nothing else writes there), else replacing the last run's.
fn in_directory(path: &Path, new: bool) -> Result<PathBuf, file::WriteError> {
    let path = if new {
        file::reserve(path)?
    } else {
        path.to_owned()
    };
    file::prepare(Artifact::Report, &path, false)?;
    Ok(path)
}

/// What every target of the fleet shares.
struct Fleet<'a> {
    config: &'a RunConfig,
    playbook: &'a Playbook,
    clock: &'a SystemClock,
    stop: &'a Stop,
    /// The one approver: one prompt at a time.
    approver: Rc<tokio::sync::Mutex<Box<dyn Approver>>>,
    screen: Rc<Screen>,
    directory: &'a Path,
    /// Whether the targets' metrics are kept, for `--nagios` or `--metrics`.
    metrics: bool,
    /// The history store, opened once for every target.
    history: Opened,
}

impl Fleet<'_> {
    /// Runs the targets, at most `--parallel` at once; none starts once the fleet is stopped
    /// or `--max-failures` targets ended UNKNOWN. The results come in the plan's order.
    async fn all(&self, plan: &Plan) -> Vec<TargetResult> {
        let mut results: Vec<Option<TargetResult>> = plan.targets.iter().map(|_| None).collect();
        let mut running = FuturesUnordered::new();
        let mut next = 0;
        let mut failed = 0;
        let mut held = None;
        let new = plan.report_dir.is_none();
        loop {
            while running.len() < plan.parallel && next < plan.targets.len() && held.is_none() {
                if let Some(why) = stopped(self.stop) {
                    held = Some(format!("not started: {why}"));
                    break;
                }
                let index = next;
                let target: LocalBoxFuture<'_, (usize, TargetResult)> =
                    Box::pin(async move { (index, self.one(&plan.targets[index], new).await) });
                running.push(target);
                next += 1;
            }
            let Some((index, mut result)) = running.next().await else {
                break;
            };
            self.screen.ended(&result);
            result.record = super::slim(result.record, self.metrics);
            if result.record.status == Status::Unknown {
                failed += 1;
                if let Some(max) = plan.max_failures.filter(|max| failed >= *max) {
                    held.get_or_insert_with(|| {
                        format!(
                            "not started: {} ended UNKNOWN (`--max-failures {max}`)",
                            count_usize(failed, "target")
                        )
                    });
                }
            }
            results[index] = Some(result);
        }
        let held = held.or_else(|| stopped(self.stop).map(|why| format!("not started: {why}")));
        results
            .into_iter()
            .zip(&plan.targets)
            .map(|(result, planned)| {
                result.unwrap_or_else(|| {
                    let why = held.clone().unwrap_or_else(|| "not started".to_owned());
                    self.not_run(planned, Status::NotRun, why)
                })
            })
            .collect()
    }

    /// One target, from its report's reservation to its record, whole: the screen shows its
    /// rows before [`Fleet::all`] slims it.
    async fn one(&self, planned: &Planned, new: bool) -> TargetResult {
        let config = self.config;
        let name = planned.target.name.as_str();
        let output = config.report.format.output();
        let path = self
            .directory
            .join(format!("{}.{}", planned.stem, output.extension()));
        let path = match in_directory(&path, new) {
            Ok(path) => path,
            Err(error) => {
                let why = format!("{error}; nothing was run on it");
                self.screen.say(format!(
                    "error: {}",
                    for_terminal(&format!("{name}: {why}"))
                ));
                return self.not_run(planned, Status::Unknown, why);
            }
        };
        let report = Report {
            output,
            destination: Destination::File(path.clone()),
        };
        let journal = config.journal_beside(&path);
        let mut approver = FleetApprover {
            shared: self.approver.clone(),
            screen: self.screen.clone(),
            stop: self.stop.clone(),
            target: name.to_owned(),
            may_act: config.mode == crate::outputs::record::Mode::Live,
        };
        let mut line = self.screen.line(name);
        let recorder = Recorder::new(config.header(self.playbook, &planned.values), self.clock);
        let target_plan = TargetPlan {
            conninfo: Some(&planned.target.conninfo),
            approver: &mut approver,
            journal: journal.as_deref(),
            progress: &mut line,
            connecting: false,
            name: Some(name),
            history: &self.history,
        };
        let ran = run::run_target(
            config,
            self.playbook,
            &planned.values,
            self.clock,
            recorder,
            self.stop,
            target_plan,
        )
        .await;
        drop(line);
        let ran = match ran {
            Ok(ran) => ran,
            Err(error) => return self.not_run(planned, Status::Unknown, error),
        };
        let mut record = ran.recorder.into_record();
        let written = report.write_aside(&record).await;
        if let Err(error) = &written {
            self.screen.say(format!(
                "error: {}",
                for_terminal(&format!("{name}: {error}"))
            ));
            record.why = Some(format!(
                "the report could not be written (the run was {}: {})",
                record.status.label(),
                record.why.as_deref().unwrap_or("no message")
            ));
            record.status = Status::Unknown;
            record.exit_code = exit::UNKNOWN;
        }
        if let Some(error) = &record.error {
            self.screen.say(format!(
                "error: {}",
                for_terminal(&format!("{name}: {error}"))
            ));
        }
        let decided = record.decided_an_action();
        TargetResult {
            name: name.to_owned(),
            record,
            report: written.is_ok().then_some(path),
            journal: ran.journal.filter(|_| decided),
            unkept: ran.unkept,
        }
    }

    /// The result of a target that did not run: `status` (NOT RUN, or UNKNOWN when it could
    /// not start), and why.
    fn not_run(&self, planned: &Planned, status: Status, why: String) -> TargetResult {
        let header = self.config.header(self.playbook, &planned.values);
        let mut record = Recorder::new(header, self.clock).into_record();
        record.status = status;
        record.exit_code = exit::UNKNOWN;
        record.error = (status == Status::Unknown).then(|| why.clone());
        record.why = Some(why);
        TargetResult {
            name: planned.target.name.clone(),
            record: super::slim(record, self.metrics),
            report: None,
            journal: None,
            unkept: None,
        }
    }
}

/// A target's approver: every question goes to the fleet's one approver, one at a time, named
/// after the target, with the screen out of the way; once the fleet is stopped nothing more
/// is asked, and an abort at any prompt stops the whole fleet.
struct FleetApprover {
    shared: Rc<tokio::sync::Mutex<Box<dyn Approver>>>,
    screen: Rc<Screen>,
    stop: Stop,
    target: String,
    may_act: bool,
}

/// `the fleet was stopped by …`, once it was: why nothing more starts or is asked.
fn stopped(stop: &Stop) -> Option<String> {
    stop.interruption()
        .cause()
        .map(|cause| format!("the fleet was stopped {}", cause.by()))
}

impl Approver for FleetApprover {
    fn decide<'a>(&'a mut self, request: &'a Request<'a>) -> LocalBoxFuture<'a, Decision> {
        Box::pin(async move {
            let mut shared = self.shared.lock().await;
            if let Some(reason) = stopped(&self.stop) {
                return Decision::Interrupted { reason };
            }
            shared.for_target(&self.target);
            self.screen.hide();
            let decision = shared.decide(request).await;
            self.screen.show();
            if matches!(decision, Decision::Aborted { .. }) {
                self.stop.stop(Cause::Aborted).await;
            }
            decision
        })
    }

    fn before_step<'a>(
        &'a mut self,
        step: &'a Step,
        title: &'a str,
    ) -> LocalBoxFuture<'a, StepChoice> {
        Box::pin(async move {
            let mut shared = self.shared.lock().await;
            if stopped(&self.stop).is_some() {
                return StepChoice::Interrupted;
            }
            shared.for_target(&self.target);
            self.screen.hide();
            let choice = shared.before_step(step, title).await;
            self.screen.show();
            if choice == StepChoice::Abort {
                self.stop.stop(Cause::Aborted).await;
            }
            choice
        })
    }

    fn may_act(&self) -> bool {
        self.may_act
    }
}

/// ` — warning: 2 targets are not in the history (db1: …)`, when the history could not be
/// written for some; else nothing. Each target's report says why in full.
fn unkept(results: &[TargetResult]) -> String {
    let mut unkept = results
        .iter()
        .filter_map(|result| Some((&result.name, result.unkept.as_deref()?)));
    let Some((first, why)) = unkept.next() else {
        return String::new();
    };
    let count = 1 + unkept.count();
    let verb = if count == 1 { "is" } else { "are" };
    format!(
        " — warning: {} {verb} not in the history ({first}: {})",
        count_usize(count, "target"),
        run::shortened(why, 240)
    )
}

/// Writes the combined report and the metrics, then says the summary line or the plugin
/// answer; gives the fleet's exit code. An output that cannot be written makes the fleet
/// UNKNOWN, as it makes a single run.
fn finish(config: &RunConfig, summary: &report::FleetRun, combined: &Report) -> u8 {
    let mut record = report::FleetRecord::of(summary);
    let mut lost = Vec::new();
    let base = match &combined.destination {
        Destination::File(path) => path.parent(),
        Destination::Stdout => None,
    };
    let text = match config.report.format {
        Format::Markdown => markdown::markdown(&record, base),
        Format::Json => report::json(&record),
    };
    let written = file::write(Artifact::Report, &text, &combined.destination);
    if let Err(error) = &written {
        say(&format!("error: {}", for_terminal(&error.to_string())));
        lost.push(Artifact::Report);
    }
    if let Some(metrics) = &config.metrics {
        let text = prometheus::render_fleet(summary);
        if let Err(error) = file::write(Artifact::Metrics, &text, metrics) {
            say(&format!("error: {}", for_terminal(&error.to_string())));
            lost.push(Artifact::Metrics);
        }
    }
    if !lost.is_empty() {
        record.status = Status::Unknown;
        record.exit_code = exit::UNKNOWN;
    }
    match config.closing {
        Closing::Nagios => return nagios::Answer::of_fleet(summary, &lost).print(),
        Closing::Summary => {
            let shown = written.is_ok().then(|| combined.shown_as());
            let mut line = report::summary_line(&record, shown.as_deref());
            if lost.contains(&Artifact::Metrics) {
                line.push_str(" — the metrics could not be written");
            }
            line.push_str(&unkept(summary.results));
            say(&for_terminal_line(&line));
        }
        Closing::Quiet => {}
    }
    record.exit_code
}
