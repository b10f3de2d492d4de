//! History: every run remembered, so thresholds can speak of change over time.
//!
//! Two halves meet here. The store (`store`) records each run of a playbook on a target —
//! its steps' statuses and messages and every declared metric's values — and gives back,
//! before a run, the [`Past`] of that playbook on that target. The expressions read the
//! `Past` (as `history.previous(…)`, `history.change(…)`, …) and never the store: a run
//! whose store cannot be read or written has an empty past and a warning, never a failed
//! check.

pub(crate) mod command;
mod keeper;
pub mod past;
pub mod recall;
mod render;
pub mod store;

pub use keeper::Settings;
pub(crate) use keeper::{Keeper, Opened, Pruning, series_target};
pub use past::{Past, Sample};
pub use recall::{Function, Moment, Recalled};
