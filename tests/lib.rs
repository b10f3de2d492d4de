//! The integration tests, in one binary: they drive the real `runbook` binary against the
//! local PostgreSQL (`common`), each module covering what its name says.

mod common;

mod actions;
mod commands;
mod connection;
mod escaping;
mod fleet;
mod fleet_hostile;
mod fuzz;
mod history;
mod history_command;
mod horizon;
mod hostile;
mod manual;
mod memory;
mod monitoring;
mod outcomes;
mod pileup;
mod playbooks;
mod prompts;
mod reliability;
mod report_schema;
mod reports;
mod run;
mod schema;
mod screen;
mod screen_snapshots;
mod sessions;
mod signals;
mod trends;
mod types;
mod usage;
mod validate;
