//! What the engine says while it runs: its only output.
//!
//! The engine decides and runs; it does not report. The run record (and so every report), the
//! audit journal and the progress display are [`Listener`]s of these events, and none of them
//! re-derives what happened. A listener can veto one thing: a `Decided` event whose audit
//! entry it cannot make durable stops the action, because no action runs without its trail.
//! (An `Acted` outcome it cannot keep comes too late to stop anything: the report says so.)

use thiserror::Error;

use crate::engine::{Ending, Facts, Outcome, Verdict};
use crate::outputs::record::{ApprovalRecord, StepRecord};
use crate::playbook::Step;

pub enum Event<'a> {
    /// The target the run acts on, named as it is printed (never with a password).
    Target {
        name: &'a str,
    },
    /// The server's facts were read.
    FactsGathered {
        facts: &'a Facts,
    },
    StepStarted {
        index: usize,
        total: usize,
        title: &'a str,
    },
    /// The operator is about to be asked (a progress display must get out of the way).
    Asking,
    /// An action's approval was decided, before anything runs.
    Decided {
        step: &'a Step,
        /// The rendered SQL that runs if approved.
        sql: &'a str,
        approval: &'a ApprovalRecord,
    },
    /// An approved action's statement returned (or failed, or was interrupted): told before
    /// anything else happens, so the journal pairs the approval with what came of it.
    Acted {
        step: &'a Step,
        outcome: &'a Outcome,
    },
    StepFinished {
        record: &'a StepRecord,
    },
    /// No more events follow.
    RunFinished {
        ending: &'a Ending,
        verdict: Verdict,
    },
}

/// Why a listener refused what an event announces.
#[derive(Debug, Error)]
#[error("{reason}")]
pub struct Veto {
    pub reason: String,
}

pub trait Listener {
    fn on(&mut self, event: &Event) -> Result<(), Veto>;
}

/// The listeners of a run, told in order.
#[derive(Default)]
pub struct Listeners<'l>(Vec<&'l mut dyn Listener>);

impl<'l> Listeners<'l> {
    pub fn new(listeners: Vec<&'l mut dyn Listener>) -> Listeners<'l> {
        Listeners(listeners)
    }

    /// Tells every listener; the first veto is returned once all have heard the event.
    pub fn emit(&mut self, event: &Event) -> Result<(), Veto> {
        let mut veto = None;
        for listener in &mut self.0 {
            if let Err(refused) = listener.on(event) {
                veto.get_or_insert(refused);
            }
        }
        veto.map_or(Ok(()), Err)
    }
}
