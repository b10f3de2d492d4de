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
    /// Run a playbook against a server: checks, guards, assessments, approved actions, and a
    /// report of what was checked and done.
    ///
    /// Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (invalid playbook or variables,
    /// connection failure, a step error), 4 stopped by the operator or an action not approved.
    Run(RunArgs),
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

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Playbook path or name (`./playbooks/NAME.yaml`, then built-in).
    #[arg(value_name = "PLAYBOOK")]
    pub playbook: String,
    /// Server to connect to, a libpq connection string: `postgres://user@host:port/db`,
    /// `host=db1 dbname=app`, or `service=NAME`. What it leaves out comes from PGSERVICE, the
    /// PG* variables, ~/.pgpass and the local socket, like psql. Default: `DATABASE_URL`.
    #[arg(
        long,
        value_name = "CONNINFO",
        env = "DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Set a playbook param, e.g. `--var idle_after=15m --var database=app`.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Run checks and previews only; never run an action. The report says what would have run.
    #[arg(long)]
    pub dry_run: bool,
    /// Approve `approval: required` actions without asking (never `confirm` ones).
    #[arg(long)]
    pub yes: bool,
    /// Ask before every step: continue, skip or abort (stepping through an incident).
    #[arg(long)]
    pub step: bool,
    /// Where to write the report: a path, or `-` for standard output.
    /// Default: `./runbook-reports/<name>-<UTC time>.md`.
    #[arg(long, value_name = "PATH")]
    pub report: Option<String>,
    /// Report format.
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: ReportFormat,
    /// Run only these steps (comma-separated ids); the others are skipped.
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    pub only: Option<Vec<String>>,
    /// No progress display and no summary line.
    #[arg(long, short)]
    pub quiet: bool,
    /// Answer as a monitoring plugin (Nagios, Icinga, Naemon): on standard output a status
    /// line with perfdata for every declared metric, then a line per step that is not OK;
    /// the exit code stays within 0–3 (a stopped run, a refused action or a usage error is 3,
    /// UNKNOWN). No summary line.
    #[arg(long)]
    pub nagios: bool,
    /// Write Prometheus metrics (text format) to PATH, replaced atomically, for
    /// node_exporter's textfile collector; `-` for standard output.
    #[arg(long, value_name = "PATH")]
    pub metrics: Option<String>,
    /// Rows of each step shown in the report.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub report_rows: usize,
    /// Name recorded as the operator in the report and journal. Default: the OS user.
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Markdown,
    Json,
}
