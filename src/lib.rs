//! `runbook`: a declarative runbook engine for PostgreSQL operations.
//!
//! The data flows one way: command line → source → loader (YAML to raw types) → validate
//! (checked `Playbook`) → the commands.

pub mod approval;
pub mod cli;
mod commands;
mod diagnostic;
pub mod duration;
pub mod executor;
mod facts;
pub mod gather;
pub mod journal;
pub mod load;
mod markdown;
pub mod outcome;
mod param;
pub mod playbook;
pub mod progress;
pub mod report;
pub mod rows;
mod run;
mod show;
pub mod sql;
pub mod target;
mod template;
pub mod validate;

use std::process::ExitCode;

use clap::Parser as _;
use clap::error::ErrorKind;

use cli::{Cli, Command};

/// Exit code for command-line usage errors (sysexits' EX_USAGE).
pub const EXIT_USAGE: u8 = 64;

/// Exit code when a run could not finish as asked (monitoring plugins' UNKNOWN).
pub const EXIT_UNKNOWN: u8 = 3;

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return match error.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(EXIT_USAGE),
            };
        }
    };
    let code = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Validate { playbooks } => commands::validate(&playbooks),
        Command::List => commands::list(),
        Command::Show { playbook } => commands::show(&playbook),
        Command::Schema => commands::schema(),
    };
    ExitCode::from(code)
}
