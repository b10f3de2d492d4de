//! The command line of `run`, decided once: clap's [`RunArgs`] become a [`RunConfig`] here, and
//! nothing downstream reads clap types or asks whether stderr is a terminal again (ripgrep's
//! `LowArgs` → `HiArgs`).
//!
//! This is also the only place `--dry-run` is read: a dry run gets an approver that rehearses
//! (`approval::DryRun`) and no journal, and everything else takes the path of a live run.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use indexmap::IndexMap;

use crate::approval::{Approver, DryRun, Terminal, Unattended};
use crate::cli::{ColorChoice, ReportFormat, RunArgs};
use crate::engine::{Pace, Settings};
use crate::fleet::shard::Shard;
use crate::history::{self, store::Location};
use crate::outputs::Header;
use crate::outputs::paint::Paint;
use crate::outputs::record::Mode;
use crate::outputs::screen::Detail;
use crate::outputs::{self, Artifact, Destination, Format, Report};
use crate::param::ParamValue;
use crate::playbook::Playbook;

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
    /// What the progress display shows below each step (`--brief`, `--verbose`).
    pub detail: Detail,
    /// Whether statuses on stderr are coloured (`--color`, `NO_COLOR`, a terminal).
    pub paint: Paint,
    /// What the run says when it ends.
    pub closing: Closing,
    /// `--metrics`: where the Prometheus metrics go.
    pub metrics: Option<Destination>,
    /// A fleet run's targets and how they run; `None` for a single run.
    pub fleet: Option<FleetConfig>,
    /// Where runs are remembered; `None`: `--no-history`.
    pub history: Option<history::Settings>,
}

/// The command line of a fleet run (`--target`, `--targets`, `--service` and what goes with
/// them).
pub struct FleetConfig {
    /// `--target`, as given.
    pub targets: Vec<String>,
    /// `--targets FILE`.
    pub inventory: Option<PathBuf>,
    /// `--service GLOB`.
    pub service: Option<String>,
    pub parallel: usize,
    pub max_failures: Option<usize>,
    pub shard: Option<Shard>,
    /// `--report-dir`; `None`: a new directory under `runbook-reports/`.
    pub report_dir: Option<PathBuf>,
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
        if let (Some(report), Some(Destination::File(metrics))) = (&args.report, &metrics)
            && same_file(Path::new(report), metrics)
        {
            return Err(Usage(format!(
                "`--report` and `--metrics` name the same file `{}`: each needs its own",
                metrics.display()
            )));
        }
        let fleet = fleet_config(&args)?;
        // `DATABASE_URL` is the default of a single run's target; a fleet names its own.
        let database_url = match &fleet {
            None => args
                .database_url
                .or_else(|| std::env::var("DATABASE_URL").ok()),
            Some(_) => None,
        };
        Ok(RunConfig {
            playbook: args.playbook,
            database_url,
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
            detail: if args.brief {
                Detail::Brief
            } else if args.verbose {
                Detail::Verbose
            } else {
                Detail::Compact
            },
            paint: paint(args.color, stderr_terminal),
            closing: if args.nagios {
                Closing::Nagios
            } else if args.quiet {
                Closing::Quiet
            } else {
                Closing::Summary
            },
            metrics,
            fleet,
            history: (!args.history.no_history).then(|| history::Settings {
                location: Location::of(args.history.history.as_deref()),
                keep: std::time::Duration::from_secs(
                    u64::from(args.history.history_keep) * 24 * 60 * 60,
                ),
            }),
        })
    }

    /// Who runs what, for a target's record.
    pub fn header<'a>(
        &self,
        playbook: &'a Playbook,
        values: &'a IndexMap<String, ParamValue>,
    ) -> Header<'a> {
        Header {
            playbook,
            values,
            operator: self.operator.clone(),
            mode: self.mode,
        }
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
        Gate {
            approver: self.approver(interrupted),
            journal: self.journal_beside(&beside),
        }
    }

    /// Who approves: the operator at a terminal (a prompt is abandoned when `interrupted` is
    /// set), else nobody (`--yes` aside); for a dry run, a rehearsal.
    pub fn approver(&self, interrupted: Arc<AtomicBool>) -> Box<dyn Approver> {
        let answering: Box<dyn Approver> = if self.interactive {
            Box::new(Terminal::new(self.assume_yes, interrupted))
        } else {
            Box::new(Unattended {
                assume_yes: self.assume_yes,
            })
        };
        match self.mode {
            Mode::Live => answering,
            Mode::DryRun => Box::new(DryRun(answering)),
        }
    }

    /// The audit journal of the report at `report`, for a run that can decide anything (a
    /// dry run decides nothing).
    pub fn journal_beside(&self, report: &std::path::Path) -> Option<PathBuf> {
        match self.mode {
            Mode::Live => Some(outputs::file::beside(report)),
            Mode::DryRun => None,
        }
    }
}

/// Whether `a` and `b` name one regular file (or one that does not exist yet): the output
/// written last would replace the other. A device or a FIFO may take both.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let plain = |path: &Path| -> PathBuf {
        path.components()
            .filter(|part| *part != std::path::Component::CurDir)
            .collect()
    };
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.is_file() && a.dev() == b.dev() && a.ino() == b.ino(),
        _ => plain(a) == plain(b),
    }
}

/// The fleet's part of the command line, when it names targets; a usage error when its options
/// cannot go together, or come without targets.
fn fleet_config(args: &RunArgs) -> Result<Option<FleetConfig>, Usage> {
    let is_fleet = !args.target.is_empty() || args.targets.is_some() || args.service.is_some();
    if !is_fleet {
        let given: Vec<&str> = [
            (args.parallel.is_some(), "`--parallel`"),
            (args.max_failures.is_some(), "`--max-failures`"),
            (args.shard.is_some(), "`--shard`"),
            (args.report_dir.is_some(), "`--report-dir`"),
        ]
        .into_iter()
        .filter_map(|(given, name)| given.then_some(name))
        .collect();
        if !given.is_empty() {
            return Err(Usage(format!(
                "{} only go with a fleet run: name its targets with `--target`, `--targets FILE` or `--service GLOB`",
                given.join(" and ")
            )));
        }
        return Ok(None);
    }
    let parallel = args.parallel.unwrap_or(DEFAULT_PARALLEL) as usize;
    if args.step && parallel > 1 {
        return Err(Usage(format!(
            "`--step` asks before every step of one target at a time: with several targets, give `--parallel 1` too (now {parallel})"
        )));
    }
    let shard = args
        .shard
        .as_deref()
        .map(|text| Shard::parse(text).map_err(|error| Usage(format!("`--shard {text}`: {error}"))))
        .transpose()?;
    Ok(Some(FleetConfig {
        targets: args.target.clone(),
        inventory: args.targets.as_deref().map(PathBuf::from),
        service: args.service.clone(),
        parallel,
        max_failures: args.max_failures.map(|n| n as usize),
        shard,
        report_dir: args.report_dir.as_deref().map(PathBuf::from),
    }))
}

/// Whether stderr gets colour: `--color always` or `never` as told; `auto` at a terminal
/// unless `NO_COLOR` holds anything (no-color.org: an empty value does not count).
fn paint(choice: ColorChoice, stderr_terminal: bool) -> Paint {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
    match choice {
        ColorChoice::Always => Paint::Colour,
        ColorChoice::Auto if stderr_terminal && !no_color => Paint::Colour,
        ColorChoice::Auto | ColorChoice::Never => Paint::Plain,
    }
}

/// How many targets of a fleet run at once without `--parallel`.
const DEFAULT_PARALLEL: u32 = 8;

/// The OS user running the engine.
fn os_user() -> String {
    whoami::username().unwrap_or_else(|_| "unknown".to_owned())
}
