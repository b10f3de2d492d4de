//! The run record, built from the engine's events in one place: the header when the run is
//! set up, the target and facts as the engine reaches them, each step as it finishes, and the
//! ending with the engine's verdict (status and exit code). It records; it decides nothing.

use indexmap::IndexMap;

use super::record::{Mode, ParamRecord, PrivilegesRecord, REPORT_VERSION, RunRecord, Status};
use crate::clock::{Clock, millis_between};
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
            report_version: REPORT_VERSION,
            playbook: playbook.name.clone(),
            title: playbook.title.clone(),
            description: playbook.description.clone(),
            source: playbook.source.clone(),
            target: String::new(),
            operator: header.operator,
            mode: header.mode,
            started_at: clock.stamp(),
            duration_ms: 0,
            waited_ms: 0,
            status: Status::Unknown,
            exit_code: exit::UNKNOWN,
            why: None,
            params: playbook
                .params
                .iter()
                .map(|p| ParamRecord {
                    name: p.name.clone(),
                    value: header.values.get(&p.name).map(ToString::to_string),
                })
                .collect(),
            facts: None,
            privileges: None,
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

    /// A note known before the engine starts (an earlier run's action without an outcome).
    pub fn note(&mut self, note: String) {
        self.record.notes.push(note);
    }

    /// The record so far (all of it, once the run finished).
    pub fn record(&self) -> &RunRecord {
        &self.record
    }

    pub fn into_record(self) -> RunRecord {
        self.record
    }
}

impl Listener for Recorder<'_> {
    fn on(&mut self, event: &Event) -> Result<(), Veto> {
        let record = &mut self.record;
        match event {
            Event::Target { name } => record.target = (*name).to_owned(),
            Event::FactsGathered { facts } => {
                record.facts = Some(serde_json::Value::Object(facts.json.clone()));
                record.privileges = Some(PrivilegesRecord {
                    role: facts.text("current_user"),
                    superuser: facts.flag("superuser"),
                    can_signal: facts.flag("can_signal_backend"),
                    can_read_all_stats: facts.flag("can_read_all_stats"),
                });
            }
            Event::StepFinished { record: step } => record.steps.push((*step).clone()),
            Event::RunFinished { ending, verdict } => {
                record.notes.extend(ending.notes.iter().cloned());
                record.error = ending.error.as_ref().map(ToString::to_string);
                record.waited_ms = record.steps.iter().map(|s| s.waited_ms).sum();
                let elapsed = millis_between(self.started, self.clock.elapsed());
                record.duration_ms = elapsed.saturating_sub(record.waited_ms);
                record.status = verdict.status;
                record.exit_code = verdict.exit_code;
                record.why = verdict.why.clone();
            }
            Event::StepStarted { .. }
            | Event::Asking
            | Event::Decided { .. }
            | Event::Acted { .. } => {}
        }
        Ok(())
    }
}
