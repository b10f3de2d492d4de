//! The command line, as clap sees it. Doc comments here are the `--help` text.

use std::ffi::OsString;

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
    /// Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (invalid playbook, connection
    /// failure, a step error), 4 stopped by the operator or an action not approved, 64 a usage
    /// error (no such playbook, an unknown `--only` id, a `--var` that is unknown or invalid, a
    /// required param not set, a bad flag; 3 with `--nagios`).
    Run(Box<RunArgs>),
    /// Check playbooks without a database: schema, names, templates, read-only checks.
    ///
    /// Exits 0 when every playbook is valid, 1 when one is not, 64 when an argument names no
    /// playbook (the others are still checked). Every problem is reported, each at
    /// file:line:column.
    Validate {
        /// Playbook paths or names (`./playbooks/NAME.yaml`, then built-in).
        #[arg(required = true, value_name = "PLAYBOOK")]
        playbooks: Vec<String>,
    },
    /// List the playbooks found: `./playbooks/*.yaml`, then the built-in ones.
    List,
    /// Print a playbook as a human-readable runbook (Markdown).
    ///
    /// Exits 1 when the playbook is invalid, 64 when there is no such playbook.
    Show {
        /// Playbook path or name.
        #[arg(value_name = "PLAYBOOK")]
        playbook: String,
    },
    /// Print the JSON Schema of the playbook format (for editor completion).
    Schema,
    /// List the runs the history remembers (newest first), or with `--step`/`--metric` a
    /// metric's values over time (with a sparkline per series in the table).
    ///
    /// Exits 0 (also when nothing matches: it says so), 1 when the store cannot be read (none
    /// at the path, a corrupt file, a server that cannot be reached), 64 on a usage error.
    History(HistoryQuery),
    /// Print the shell completion script, e.g. `runbook completions bash >
    /// ~/.local/share/bash-completion/completions/runbook`.
    Completions {
        /// The shell the script is for.
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `runbook man > ~/.local/share/man/man1/runbook.1`.
    Man,
}

/// The process's arguments, with `--help` after `help` dropped: clap reads `runbook help
/// --help` as help on a command named `--help` and fails, where a user asks how `help`
/// works (`runbook help help`) or, after a command, for that command's help.
pub fn arguments() -> Vec<OsString> {
    let mut arguments: Vec<OsString> = std::env::args_os().collect();
    let is_flag = |argument: &OsString| argument == "--help" || argument == "-h";
    if arguments.get(1).is_some_and(|first| first == "help")
        && arguments.iter().skip(2).any(is_flag)
    {
        arguments.retain(|argument| !is_flag(argument));
        if arguments.len() == 2 {
            arguments.push("help".into());
        }
    }
    arguments
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Playbook path or name (`./playbooks/NAME.yaml`, then built-in).
    #[arg(value_name = "PLAYBOOK")]
    pub playbook: String,
    /// Server to connect to, a libpq connection string: `postgres://user@host:port/db`,
    /// `host=db1 dbname=app`, or `service=NAME`. What it leaves out comes from PGSERVICE, the
    /// PG* variables, ~/.pgpass and the local socket, like psql. Default: `DATABASE_URL`.
    #[arg(long, value_name = "CONNINFO", conflicts_with_all = ["targets", "target", "service"])]
    pub database_url: Option<String>,
    /// Run on this target too (repeatable): a connection string as for `--database-url`.
    /// With several targets (`--target`, `--targets`, `--service`) the run is a fleet run.
    #[arg(long = "target", value_name = "CONNINFO")]
    pub target: Vec<String>,
    /// Run on the targets of a YAML inventory: a list of `{name, url | service, vars}`.
    #[arg(long, value_name = "FILE")]
    pub targets: Option<String>,
    /// Run on every service of the service file (`pg_service.conf`) whose name matches GLOB
    /// (`*`, `?`, `[abc]`), e.g. `--service 'prod-*'`.
    #[arg(long, value_name = "GLOB")]
    pub service: Option<String>,
    /// In a fleet run: how many targets run at once, one connection each. Default: 8.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub parallel: Option<u32>,
    /// In a fleet run: start no more targets once N of them ended UNKNOWN.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_failures: Option<u32>,
    /// In a fleet run: only the targets of shard K of N (K from 0 to N-1, like a Kubernetes
    /// Indexed Job's `JOB_COMPLETION_INDEX`), chosen by a stable hash of the target's name.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// In a fleet run: the directory of the targets' reports and journals.
    /// Default: `./runbook-reports/<name>-<UTC time>/`.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<String>,
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
    /// Where to write the report: a path, or `-` for standard output. In a fleet run, the
    /// combined report. Default: `./runbook-reports/<name>-<UTC time>.md` (in a fleet run,
    /// `summary.md` in the run's directory).
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
    /// At a terminal: every step's rows, and more of them (the report has all it keeps).
    #[arg(long, short, conflicts_with_all = ["brief", "quiet"])]
    pub verbose: bool,
    /// At a terminal: one status line per step, no rows, manual text or dry-run targets.
    #[arg(long, conflicts_with = "quiet")]
    pub brief: bool,
    /// Colour the statuses on standard error: `auto` at a terminal unless NO_COLOR is set,
    /// `always` even off one, `never`. Files and standard output never get colour.
    #[arg(long, value_enum, value_name = "WHEN", default_value = "auto")]
    pub color: ColorChoice,
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
    #[command(flatten)]
    pub history: HistoryArgs,
}

/// `runbook history`: which runs, and how to show them.
#[derive(Debug, clap::Args)]
pub struct HistoryQuery {
    /// Only the runs of this playbook (its name, e.g. `daily-monitoring`).
    #[arg(value_name = "PLAYBOOK")]
    pub playbook: Option<String>,
    /// Only the runs on this target: `user@host:port/db` as the report names it, or a fleet
    /// target's name.
    #[arg(long, value_name = "T")]
    pub target: Option<String>,
    /// Show the metric values of this step (all its metrics, or `--metric`'s).
    #[arg(long, value_name = "ID")]
    pub step: Option<String>,
    /// Show the values of this metric: `NAME` (with `--step`, or of any step) or `STEP.NAME`.
    #[arg(long, value_name = "NAME")]
    pub metric: Option<String>,
    /// Only runs started within this long before now, e.g. `1h`, `7d`. Without it (and
    /// without `--limit`) the last 50 runs.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<crate::duration::Duration>,
    /// At most this many runs (the newest).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Output format: `table` for people, `json` or `csv` for machines.
    #[arg(long, value_enum, default_value = "table")]
    pub format: HistoryFormat,
    /// The history store to read: an SQLite file or a `postgres://` URL. Default: the one
    /// `run` writes, `$XDG_STATE_HOME/runbook/history.sqlite`.
    #[arg(long, value_name = "PATH|URL")]
    pub history: Option<String>,
}

/// `runbook history --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HistoryFormat {
    Table,
    Json,
    Csv,
}

/// A duration as playbooks write it (`30m`, `7d`), for `--since`.
fn parse_duration(text: &str) -> Result<crate::duration::Duration, String> {
    let duration: crate::duration::Duration = text.parse().map_err(|e| format!("{e}"))?;
    if duration.as_micros() <= 0 {
        return Err("give a positive duration, e.g. `7d`".to_owned());
    }
    Ok(duration)
}

/// Where runs are remembered, for `run`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Remember the run in this history store: an SQLite file, or a shared PostgreSQL
    /// database (`postgres://…`, schema `runbook_history`, created on first use). Default:
    /// `$XDG_STATE_HOME/runbook/history.sqlite` (else `~/.local/state/runbook/…`).
    #[arg(long, value_name = "PATH|URL", conflicts_with = "no_history")]
    pub history: Option<String>,
    /// Do not remember the run (and give `history` expressions no past).
    #[arg(long)]
    pub no_history: bool,
    /// Keep runs for this many days; older ones are deleted in the background of a run.
    #[arg(long, value_name = "DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub history_keep: u32,
}

/// `--color`: when the statuses on standard error are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// At a terminal, unless NO_COLOR is set to anything but the empty string.
    Auto,
    /// Always, even off a terminal (standard error only).
    Always,
    /// Never.
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Markdown,
    Json,
}
