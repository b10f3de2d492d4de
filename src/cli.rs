//! The command line, as clap sees it. Doc comments here are the `--help` text.

use clap::{Parser, Subcommand};

/// A declarative runbook engine for PostgreSQL: playbooks of checks, guarded actions and
/// approvals, with a Markdown report of what was checked and done.
#[derive(Debug, Parser)]
#[command(name = "runbook", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check playbooks without a database: schema, names, templates, read-only checks.
    ///
    /// Exits 0 when every playbook is valid, 1 otherwise. Every problem is reported, each at
    /// file:line:column.
    Validate {
        /// Playbook paths or names (`./playbooks/NAME.yaml`, then built-in).
        #[arg(required = true, value_name = "PLAYBOOK")]
        playbooks: Vec<String>,
    },
    /// List the playbooks found: `./playbooks/*.yaml`, then the built-in ones.
    List,
    /// Print a playbook as a human-readable runbook (Markdown).
    Show {
        /// Playbook path or name.
        #[arg(value_name = "PLAYBOOK")]
        playbook: String,
    },
    /// Print the JSON Schema of the playbook format (for editor completion).
    Schema,
}
