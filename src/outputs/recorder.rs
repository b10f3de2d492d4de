//! The run record, built from the engine's events in one place: the header when the run is
//! set up, the target and facts as the engine reaches them, each step as it finishes, and the
//! verdict (status and exit code) when the run ends.

use indexmap::IndexMap;

use super::record::{Mode, ParamRecord, RunRecord, Status, StepRecord};
use crate::clock::{Clock, millis_between};
use crate::engine::{Ending, RunError};
use crate::events::{Event, Listener, Veto};
use crate::exit;
use crate::param::ParamValue;
use crate::playbook::Playbook;

pub struct Recorder<'c> {
    record: RunRecord,
    clock: &'c dyn Clock,
    started: std::time::Duration,
}

/// Who runs what, known before the run starts.
pub struct Header<'a> {
    pub playbook: &'a Playbook,
    pub values: &'a IndexMap<String, ParamValue>,
    pub operator: String,
    pub mode: Mode,
}

impl<'c> Recorder<'c> {
    pub fn new(header: Header, clock: &'c dyn Clock) -> Recorder<'c> {
        let playbook = header.playbook;
        let record = RunRecord {
            report_version: 1,
            playbook: playbook.name.clone(),
            title: playbook.title.clone(),
            description: playbook.description.clone(),
            source: playbook.source.clone(),
            target: String::new(),
            operator: header.operator,
            mode: header.mode,
            started_at: clock.stamp(),
            duration_ms: 0,
            status: Status::Unknown,
            exit_code: exit::UNKNOWN,
            params: playbook
                .params
                .iter()
                .map(|p| ParamRecord {
                    name: p.name.clone(),
                    value: header.values.get(&p.name).map(ToString::to_string),
                })
                .collect(),
            facts: None,
            notes: Vec::new(),
            error: None,
            steps: Vec::new(),
        };
        Recorder {
            record,
            clock,
            started: clock.elapsed(),
        }
    }

    /// The record so far (all of it, once the run finished).
    pub fn record(&self) -> &RunRecord {
        &self.record
    }
}

impl Listener for Recorder<'_> {
    fn on(&mut self, event: &Event) -> Result<(), Veto> {
        let record = &mut self.record;
        match event {
            Event::Target { name } => record.target = (*name).to_owned(),
            Event::FactsGathered { facts, notes } => {
                record.facts = Some(serde_json::Value::Object(facts.json.clone()));
                record.notes.extend(notes.iter().cloned());
            }
            Event::StepFinished { record: step } => record.steps.push((*step).clone()),
            Event::RunFinished { ending } => {
                record.notes.extend(ending.notes.iter().cloned());
                record.error = ending.error.as_ref().map(ToString::to_string);
                record.duration_ms = millis_between(self.started, self.clock.elapsed());
                (record.status, record.exit_code) = verdict(&record.steps, ending);
            }
            Event::StepStarted { .. } | Event::Asking | Event::Decided { .. } => {}
        }
        Ok(())
    }
}

/// The run's status and exit code: stopped 4; a check that escaped its read-only transaction
/// 2; a run that could not finish 3; else CRITICAL 2, a failed step 3, WARNING 1, OK 0.
fn verdict(steps: &[StepRecord], ending: &Ending) -> (Status, u8) {
    if ending.stopped || ending.refused {
        return (Status::Stopped, exit::STOPPED);
    }
    if matches!(ending.error, Some(RunError::Escaped { .. })) {
        return (Status::Critical, exit::CRITICAL);
    }
    if ending.error.is_some() {
        return (Status::Unknown, exit::UNKNOWN);
    }
    match worst(steps) {
        Status::Critical => (Status::Critical, exit::CRITICAL),
        Status::Unknown => (Status::Unknown, exit::UNKNOWN),
        Status::Warning => (Status::Warning, exit::WARNING),
        _ => (Status::Ok, exit::OK),
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
