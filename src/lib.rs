//! `runbook`: a declarative runbook engine for PostgreSQL operations.
//!
//! The data flows one way, and the modules are named after its stages:
//!
//! `cli` → `config` (the command line, decided once) → `load` (finding the YAML, raw types)
//! → `validate` (the checked `playbook`) → `engine` (steps against a `target`, asking the
//! `approval` seam) → `events` → `outputs` (the run record, reports, journal, progress).

mod approval;
mod cli;
mod clock;
mod commands;
mod config;
mod count;
mod diagnostic;
pub mod duration;
mod engine;
mod events;
mod exit;
mod expr;
mod facts;
pub mod fleet;
pub mod history;
mod interrupt;
pub mod load;
mod manual;
mod markdown;
pub mod outputs;
mod param;
pub mod playbook;
mod range;
mod run;
mod show;
pub mod sql;
mod target;
mod template;
mod terminal_text;
pub mod validate;

use std::process::ExitCode;

use clap::Parser as _;
use clap::error::ErrorKind;

use cli::{Cli, Command};

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(cli::arguments()) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return match error.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                // A monitoring system reads anything above 3 as CRITICAL, and only stdout.
                _ if std::env::args_os().any(|arg| arg == "--nagios") => ExitCode::from(
                    outputs::nagios::Answer::unknown("runbook", &usage(&error)).print(),
                ),
                _ => ExitCode::from(exit::USAGE),
            };
        }
    };
    let code = match cli.command {
        Command::Run(args) => run::run(*args),
        Command::Validate { playbooks } => commands::validate(&playbooks),
        Command::List => commands::list(),
        Command::Show { playbook } => commands::show(&playbook),
        Command::Schema => commands::schema(),
        Command::History(query) => history::command::history(&query),
        Command::Completions { shell } => manual::completions(shell),
        Command::Man => manual::man(),
    };
    ExitCode::from(code)
}

/// A clap error in one line: its first, without `error: ` and without colour.
fn usage(error: &clap::Error) -> String {
    let text = error.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}
