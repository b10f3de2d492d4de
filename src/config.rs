//! The command line of `run`, decided once: clap's [`RunArgs`] become a [`RunConfig`] here, and
//! nothing downstream reads clap types or asks whether stderr is a terminal again (ripgrep's
//! `LowArgs` → `HiArgs`).
//!
//! This is also the only place `--dry-run` is read: a dry run gets an approver that rehearses
//! (`approval::DryRun`) and no journal, and everything else takes the path of a live run.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::approval::{Approver, DryRun, Terminal, Unattended};
use crate::cli::{ReportFormat, RunArgs};
use crate::engine::{Pace, Settings};
use crate::outputs::record::Mode;
use crate::outputs::{self, Artifact, Destination, Format, Report};

pub struct RunConfig {
    /// The playbook's path or name.
    pub playbook: String,
    /// `--database-url` or `DATABASE_URL`; else libpq's conventions.
    pub database_url: Option<String>,
    /// `--var NAME=VALUE`, as given.
    pub vars: Vec<String>,
    pub mode: Mode,
    /// `--yes`.
    pub assume_yes: bool,
    pub pace: Pace,
    pub report: ReportConfig,
    pub only: Option<Vec<String>>,
    pub report_rows: usize,
    pub operator: String,
    /// Both standard input and standard error are terminals: the operator can be asked.
    pub interactive: bool,
    /// A progress display on stderr (a terminal, and not `--quiet`).
    pub progress: bool,
    /// What the run says when it ends.
    pub closing: Closing,
    /// `--metrics`: where the Prometheus metrics go.
    pub metrics: Option<Destination>,
}

/// What the run says when it ends, beside its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// `--quiet`: nothing but errors.
    Quiet,
    /// The summary line on stderr.
    Summary,
    /// `--nagios`: the monitoring-plugin answer on stdout, and an exit code within 0–3.
    Nagios,
}

/// A command line whose parts cannot go together (a usage error, exit 64).
#[derive(Debug)]
pub struct Usage(pub String);

/// `--report` and `--format`.
pub struct ReportConfig {
    pub path: ReportPath,
    pub format: Format,
}

pub enum ReportPath {
    /// `./runbook-reports/<name>-<UTC time>.<ext>`.
    Default,
    Stdout,
    File(PathBuf),
}

/// What `--dry-run` changes: who answers approvals, and whether decisions are journaled.
pub struct Gate {
    pub approver: Box<dyn Approver>,
    /// Where the audit journal goes, for a run that can decide anything.
    pub journal: Option<PathBuf>,
}

impl RunConfig {
    pub fn new(args: RunArgs) -> Result<RunConfig, Usage> {
        let stderr_terminal = std::io::stderr().is_terminal();
        let metrics = args.metrics.as_deref().map(|path| match path {
            "-" => Destination::Stdout,
            path => Destination::File(path.into()),
        });
        let on_stdout: Vec<&str> = [
            (args.nagios, "`--nagios`"),
            (args.report.as_deref() == Some("-"), "`--report -`"),
            (metrics == Some(Destination::Stdout), "`--metrics -`"),
        ]
        .into_iter()
        .filter_map(|(given, name)| given.then_some(name))
        .collect();
        if on_stdout.len() > 1 {
            return Err(Usage(format!(
                "{} cannot share standard output: give the others a path",
                on_stdout.join(" and ")
            )));
        }
        Ok(RunConfig {
            playbook: args.playbook,
            database_url: args.database_url,
            vars: args.vars,
            mode: if args.dry_run {
                Mode::DryRun
            } else {
                Mode::Live
            },
            assume_yes: args.yes,
            pace: if args.step {
                Pace::StepByStep
            } else {
                Pace::Straight
            },
            report: ReportConfig {
                path: match args.report.as_deref() {
                    None => ReportPath::Default,
                    Some("-") => ReportPath::Stdout,
                    Some(path) => ReportPath::File(path.into()),
                },
                format: match args.format {
                    ReportFormat::Markdown => Format::Markdown,
                    ReportFormat::Json => Format::Json,
                },
            },
            only: args.only,
            report_rows: args.report_rows,
            operator: args.operator.unwrap_or_else(os_user),
            interactive: std::io::stdin().is_terminal() && stderr_terminal,
            progress: !args.quiet && stderr_terminal,
            closing: if args.nagios {
                Closing::Nagios
            } else if args.quiet {
                Closing::Quiet
            } else {
                Closing::Summary
            },
            metrics,
        })
    }

    /// The engine's settings.
    pub fn settings(&self) -> Settings {
        Settings {
            only: self.only.clone(),
            report_rows: self.report_rows,
            pace: self.pace,
            operator: self.operator.clone(),
        }
    }

    /// The report of a run of `playbook` started at `started_at`.
    pub fn report(&self, playbook: &str, started_at: &str) -> Report {
        let output = self.report.format.output();
        let destination = match &self.report.path {
            ReportPath::Default => {
                Destination::File(outputs::default_path(playbook, started_at, output.as_ref()))
            }
            ReportPath::Stdout => Destination::Stdout,
            ReportPath::File(path) => Destination::File(path.clone()),
        };
        Report {
            output,
            destination,
        }
    }

    /// Whether the report goes to the default directory (which may be created).
    pub fn default_report(&self) -> bool {
        matches!(self.report.path, ReportPath::Default)
    }

    /// Who approves (a prompt is abandoned when `interrupted` is set), and where decisions are
    /// journaled: beside the report (for a report on stdout, beside where the default report
    /// would be).
    pub fn gate(
        &self,
        report: &Report,
        playbook: &str,
        started_at: &str,
        interrupted: Arc<AtomicBool>,
    ) -> Gate {
        let answering: Box<dyn Approver> = if self.interactive {
            Box::new(Terminal::new(self.assume_yes, interrupted))
        } else {
            Box::new(Unattended {
                assume_yes: self.assume_yes,
            })
        };
        // A report written in place (a device, a FIFO) has no directory of its own to hold the
        // journal: it goes where the default report would.
        let beside = match &report.destination {
            Destination::File(path)
                if outputs::file::kind_of(Artifact::Report, path).ok()
                    != Some(outputs::file::Kind::InPlace) =>
            {
                path.clone()
            }
            _ => outputs::default_path(playbook, started_at, report.output.as_ref()),
        };
        match self.mode {
            Mode::Live => Gate {
                approver: answering,
                journal: Some(outputs::file::beside(&beside)),
            },
            Mode::DryRun => Gate {
                approver: Box::new(DryRun(answering)),
                journal: None,
            },
        }
    }
}

/// The OS user running the engine.
fn os_user() -> String {
    whoami::username().unwrap_or_else(|_| "unknown".to_owned())
}
