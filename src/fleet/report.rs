//! The combined outputs of a fleet run: one record of every target's outcome
//! ([`FleetRecord`]), rendered as the combined report (Markdown for the people on call, see
//! [`markdown`]; JSON for machines, following `schema/fleet-report.schema.json`, generated
//! from these types) and as the one summary line a cron mail shows.
//!
//! Like a single run's report, these only render: each target's status, exit code and why are
//! its own record's, and the fleet's status is [`super::status`]'s, so the combined report, the
//! summary line, `--nagios` and the exit code cannot disagree. The table keeps the fleet's
//! order; wherever targets are named for attention they come worst first ([`ATTENTION`]), and
//! an UNKNOWN one — a server that could not be reached or checked — is named however long the
//! list: check_postgres' trap, one host's UNKNOWN hidden behind another's OK, is what this
//! report exists to avoid.

use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::Serialize;

use super::{TargetResult, exit_code, fleet_status, status};
use crate::outputs::nagios::is_problem;
use crate::outputs::pretty;
use crate::outputs::record::{Mode, Status};
use crate::run::shortened;

pub use super::markdown::markdown;

/// The version of the combined report's shape, raised when a reader must change.
pub const FLEET_REPORT_VERSION: u32 = 1;

/// The order in which the targets that need attention are named: what is broken first, then
/// what could not be checked, what was stopped, what only warns, and last what never started.
pub const ATTENTION: [Status; 5] = [
    Status::Critical,
    Status::Unknown,
    Status::Stopped,
    Status::Warning,
    Status::NotRun,
];

/// How many targets a one-line answer names besides the UNKNOWN ones, which it always names;
/// the rest are counted (`and 12 more`), and the combined report has them all.
pub const NAMED: usize = 10;

/// How much of an UNKNOWN target's why the summary line shows.
const WHY_CHARS: usize = 80;

/// What the runner knows of a finished fleet run: the combined outputs are rendered from it.
#[derive(Debug, Clone)]
pub struct FleetRun<'a> {
    pub playbook: &'a str,
    pub title: &'a str,
    /// The OS user, or `--operator`.
    pub operator: &'a str,
    pub mode: Mode,
    /// Start, RFC 3339 UTC.
    pub started_at: String,
    pub duration_ms: u64,
    /// `--parallel`: how many targets ran at once at most.
    pub parallel: usize,
    /// `--shard K/N`, as given.
    pub shard: Option<String>,
    /// Things the reader must know about the whole fleet (`--max-failures` reached, an
    /// interruption).
    pub notes: Vec<String>,
    /// Every target, in the fleet's order.
    pub results: &'a [TargetResult],
}

/// Always `fleet`: what tells a combined report from a single run's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    /// The combined report of a fleet run.
    Fleet,
}

/// The combined report of a fleet run.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FleetRecord {
    /// Combined report format version: 1.
    pub report_version: u32,
    pub kind: ReportKind,
    /// The playbook's name (slug).
    pub playbook: String,
    pub title: String,
    /// Who ran it: the OS user, or `--operator`.
    pub operator: String,
    pub mode: Mode,
    /// Start, RFC 3339 UTC.
    pub started_at: String,
    /// How long the whole fleet took.
    pub duration_ms: u64,
    /// The worst target's status: CRITICAL > UNKNOWN > WARNING > OK, a stopped target above
    /// all (as for a single run); a target that did not run counts as UNKNOWN.
    pub status: Status,
    /// Exit code of the fleet run.
    pub exit_code: u8,
    /// How many targets ended with each status.
    pub counts: TargetCounts,
    /// `--parallel`: how many targets ran at once at most.
    pub parallel: usize,
    /// `--shard K/N`, when only a shard of the targets ran.
    pub shard: Option<String>,
    /// Things the reader must know about the whole fleet.
    pub notes: Vec<String>,
    /// Every target, in the fleet's order.
    pub targets: Vec<TargetSummary>,
}

/// How many targets ended with each status (a skipped or manual-only run counts as OK).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct TargetCounts {
    #[serde(rename = "OK")]
    pub ok: usize,
    #[serde(rename = "WARNING")]
    pub warning: usize,
    #[serde(rename = "CRITICAL")]
    pub critical: usize,
    #[serde(rename = "UNKNOWN")]
    pub unknown: usize,
    #[serde(rename = "STOPPED")]
    pub stopped: usize,
    #[serde(rename = "NOT_RUN")]
    pub not_run: usize,
}

/// One target's line in the combined report.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TargetSummary {
    /// The target's fleet name.
    pub name: String,
    /// Where it connected, as `user@host:port/database` — never with a password.
    pub target: String,
    /// OK, WARNING, CRITICAL, UNKNOWN, STOPPED or NOT_RUN.
    pub status: Status,
    /// Exit code of its run.
    pub exit_code: u8,
    pub duration_ms: u64,
    /// Why it is not OK: the worst message of its run, or why it did not run. `null` when OK.
    pub why: Option<String>,
    /// Where its report was written; `null` when it was not.
    pub report: Option<String>,
    /// Where its approval decisions were journaled, when an action was decided.
    pub journal: Option<String>,
    /// Its steps that are WARNING, CRITICAL, UNKNOWN or STOPPED, in the order they ran.
    pub problems: Vec<Problem>,
}

/// A step that made its target not OK.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Problem {
    /// The step's id.
    pub step: String,
    /// Its rendered title.
    pub title: String,
    pub status: Status,
    /// One line saying why the step has its status.
    pub message: Option<String>,
    /// The error that failed it, as the server said it.
    pub error: Option<String>,
}

impl FleetRecord {
    /// The combined report of a finished fleet.
    pub fn of(run: &FleetRun) -> FleetRecord {
        let status = status(run.results);
        FleetRecord {
            report_version: FLEET_REPORT_VERSION,
            kind: ReportKind::Fleet,
            playbook: run.playbook.to_owned(),
            title: run.title.to_owned(),
            operator: run.operator.to_owned(),
            mode: run.mode,
            started_at: run.started_at.clone(),
            duration_ms: run.duration_ms,
            status,
            exit_code: exit_code(status),
            counts: TargetCounts::of(run.results),
            parallel: run.parallel,
            shard: run.shard.clone(),
            notes: run.notes.clone(),
            targets: run.results.iter().map(TargetSummary::of).collect(),
        }
    }

    /// `10 targets: 6 OK, 2 WARNING, 1 CRITICAL, 1 UNKNOWN` (no count of none).
    pub fn counted(&self) -> String {
        let total = self.targets.len();
        let noun = if total == 1 { "target" } else { "targets" };
        let counts: Vec<String> = self
            .counts
            .by_status()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(status, n)| format!("{n} {}", status.label()))
            .collect();
        if counts.is_empty() {
            format!("{total} {noun}")
        } else {
            format!("{total} {noun}: {}", counts.join(", "))
        }
    }

    /// The targets that are not OK, worst first ([`ATTENTION`]), in the fleet's order within
    /// a status.
    pub fn needing_attention(&self) -> impl Iterator<Item = &TargetSummary> {
        ATTENTION
            .iter()
            .flat_map(|status| self.targets.iter().filter(|t| t.status == *status))
    }

    /// The targets a one-line answer names: every UNKNOWN one, and the first [`NAMED`] of the
    /// others, worst first.
    pub fn attention(&self) -> Attention<'_> {
        let mut attention = Attention::default();
        let mut others = 0;
        for target in self.needing_attention() {
            if target.status == Status::Unknown || others < NAMED {
                others += usize::from(target.status != Status::Unknown);
                attention.named.push(target);
            } else {
                attention.more += 1;
            }
        }
        attention
    }
}

/// The targets a one-line answer names, and how many it leaves out.
#[derive(Debug, Default)]
pub struct Attention<'a> {
    pub named: Vec<&'a TargetSummary>,
    pub more: usize,
}

impl TargetCounts {
    /// The targets of `results` counted by their fleet status.
    pub fn of(results: &[TargetResult]) -> TargetCounts {
        let mut counts = TargetCounts::default();
        for result in results {
            *counts.of_status(result.record.status) += 1;
        }
        counts
    }

    /// The counts in the order they are said: OK, WARNING, CRITICAL, UNKNOWN, STOPPED, NOT RUN.
    pub fn by_status(&self) -> [(Status, usize); 6] {
        [
            (Status::Ok, self.ok),
            (Status::Warning, self.warning),
            (Status::Critical, self.critical),
            (Status::Unknown, self.unknown),
            (Status::Stopped, self.stopped),
            (Status::NotRun, self.not_run),
        ]
    }

    fn of_status(&mut self, status: Status) -> &mut usize {
        match fleet_status(status) {
            Status::Warning => &mut self.warning,
            Status::Critical => &mut self.critical,
            Status::Unknown => &mut self.unknown,
            Status::Stopped => &mut self.stopped,
            Status::NotRun => &mut self.not_run,
            Status::Ok | Status::Skipped | Status::Manual => &mut self.ok,
        }
    }
}

impl TargetSummary {
    fn of(result: &TargetResult) -> TargetSummary {
        let record = &result.record;
        let shown = |path: &std::path::PathBuf| path.display().to_string();
        TargetSummary {
            name: result.name.clone(),
            target: record.target.clone(),
            status: fleet_status(record.status),
            exit_code: record.exit_code,
            duration_ms: record.duration_ms,
            why: record.why.clone(),
            report: result.report.as_ref().map(shown),
            journal: result.journal.as_ref().map(shown),
            problems: record
                .steps
                .iter()
                .filter(|step| is_problem(step.status))
                .map(|step| Problem {
                    step: step.id.clone(),
                    title: step.title.clone(),
                    status: step.status,
                    message: step.message.clone(),
                    error: step.error.as_ref().map(|error| error.message.clone()),
                })
                .collect(),
        }
    }
}

/// The combined JSON report (pretty, trailing newline).
pub fn json(record: &FleetRecord) -> String {
    pretty(record)
}

/// The JSON Schema of the combined JSON report, pretty, trailing newline.
pub fn schema_json() -> String {
    pretty(&schemars::schema_for!(FleetRecord))
}

/// The line a fleet run ends with on standard error: `daily-monitoring: CRITICAL — 10 targets:
/// 6 OK, 2 WARNING, 1 CRITICAL, 1 UNKNOWN — needs attention: db3 (CRITICAL), db7 (UNKNOWN:
/// cannot connect …), db2, db5 (WARNING) — report: PATH`. `report_shown_as` is where the
/// combined report went (`None`: it could not be written). The caller makes it safe for a
/// terminal, as for a single run's.
pub fn summary_line(record: &FleetRecord, report_shown_as: Option<&str>) -> String {
    let mut parts = vec![
        format!("{}: {}", record.playbook, record.status.label()),
        record.counted(),
    ];
    let attention = record.attention();
    if !attention.named.is_empty() {
        parts.push(format!("needs attention: {}", grouped(&attention)));
    }
    parts.push(format!(
        "report: {}",
        report_shown_as.unwrap_or("NOT WRITTEN")
    ));
    parts.join(" — ")
}

/// `db3 (CRITICAL), db7 (UNKNOWN: cannot connect …), db2, db5 (WARNING) and 3 more`: the names
/// of a status together, the first [`NAMED`] UNKNOWN ones each with why. Every UNKNOWN one is
/// named, but only so many say why: 200 unreachable servers would make a line of 24 kB.
fn grouped(attention: &Attention) -> String {
    let mut out = String::new();
    let mut unknown = 0;
    for (at, target) in attention.named.iter().enumerate() {
        if at > 0 {
            out.push_str(", ");
        }
        out.push_str(&target.name);
        let last_of_its_status = attention
            .named
            .get(at + 1)
            .is_none_or(|next| next.status != target.status);
        if target.status == Status::Unknown {
            unknown += 1;
        }
        match (&target.why, target.status) {
            (Some(why), Status::Unknown) if unknown <= NAMED => {
                let _ = write!(out, " (UNKNOWN: {})", shortened(why, WHY_CHARS));
            }
            (None, Status::Unknown) if unknown <= NAMED => out.push_str(" (UNKNOWN)"),
            (_, status) if last_of_its_status => {
                let _ = write!(out, " ({})", status.label());
            }
            _ => {}
        }
    }
    if attention.more > 0 {
        let _ = write!(out, " and {} more", attention.more);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::example::{fleet, fleet_run, target};

    #[test]
    fn the_record_counts_names_and_lists_problems() {
        let results = fleet();
        let record = FleetRecord::of(&fleet_run(&results));
        assert_eq!(record.status, Status::Stopped);
        assert_eq!(record.exit_code, 4);
        assert_eq!(
            record.counted(),
            "7 targets: 2 OK, 1 WARNING, 1 CRITICAL, 1 UNKNOWN, 1 STOPPED, 1 NOT RUN"
        );
        let names: Vec<&str> = record
            .needing_attention()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(names, ["db3", "db7", "db4", "db2", "db9"]);
        let db3 = &record.targets[2];
        assert_eq!(db3.report.as_deref(), Some("runbook-reports/run/db3.md"));
        let problems: Vec<(&str, Status)> = db3
            .problems
            .iter()
            .map(|p| (p.step.as_str(), p.status))
            .collect();
        assert_eq!(
            problems,
            [
                ("idle_candidates", Status::Warning),
                ("bloat", Status::Critical)
            ]
        );
        assert_eq!(record.targets[5].report, None);
    }

    #[test]
    fn json_is_the_record() {
        let results = fleet();
        let text = json(&FleetRecord::of(&fleet_run(&results)));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["kind"], "fleet");
        assert_eq!(value["status"], "STOPPED");
        assert_eq!(value["counts"]["NOT_RUN"], 1);
        assert_eq!(value["counts"]["OK"], 2);
        assert_eq!(value["targets"][6]["status"], "NOT_RUN");
        assert_eq!(value["targets"][6]["report"], serde_json::Value::Null);
        assert_eq!(value["targets"][2]["problems"][1]["step"], "bloat");
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn the_summary_line_names_what_needs_attention_worst_first() {
        let results = fleet();
        let record = FleetRecord::of(&fleet_run(&results));
        assert_eq!(
            summary_line(&record, Some("runbook-reports/run/fleet.md")),
            "daily-monitoring: STOPPED — 7 targets: 2 OK, 1 WARNING, 1 CRITICAL, 1 UNKNOWN, 1 STOPPED, 1 NOT RUN — \
             needs attention: db3 (CRITICAL), db7 (UNKNOWN: cannot connect to db7.example.com:5432: connection refused), \
             db4 (STOPPED), db2 (WARNING), db9 (NOT RUN) — report: runbook-reports/run/fleet.md"
        );
        let one = [target("db1", Status::Ok, None)];
        assert_eq!(
            summary_line(&FleetRecord::of(&fleet_run(&one)), None),
            "daily-monitoring: OK — 1 target: 1 OK — report: NOT WRITTEN"
        );
        assert_eq!(
            summary_line(&FleetRecord::of(&fleet_run(&[])), None),
            "daily-monitoring: OK — 0 targets — report: NOT WRITTEN"
        );
    }

    #[test]
    fn an_unknown_target_is_never_cut_from_a_long_list() {
        let mut results: Vec<TargetResult> = (1..=14)
            .map(|n| target(&format!("w{n}"), Status::Warning, Some("slow")))
            .collect();
        let long = "x".repeat(200);
        results.push(target("lost1", Status::Unknown, Some(&long)));
        results.push(target("lost2", Status::Unknown, None));
        results.insert(0, target("crit", Status::Critical, Some("bad")));
        let record = FleetRecord::of(&fleet_run(&results));
        let attention = record.attention();
        assert_eq!(attention.named.len(), 12);
        assert_eq!(attention.more, 5);
        let line = summary_line(&record, Some("r.md"));
        let why = format!("{}…", "x".repeat(80));
        assert_eq!(
            line,
            format!(
                "daily-monitoring: CRITICAL — 17 targets: 14 WARNING, 1 CRITICAL, 2 UNKNOWN — \
                 needs attention: crit (CRITICAL), lost1 (UNKNOWN: {why}), lost2 (UNKNOWN), \
                 w1, w2, w3, w4, w5, w6, w7, w8, w9 (WARNING) and 5 more — report: r.md"
            )
        );
    }

    #[test]
    fn many_unknown_targets_are_all_named_but_only_the_first_say_why() {
        let results: Vec<TargetResult> = (1..=200)
            .map(|n| target(&format!("db{n}"), Status::Unknown, Some(&"x".repeat(100))))
            .collect();
        let line = summary_line(&FleetRecord::of(&fleet_run(&results)), Some("r.md"));
        let why = format!(" (UNKNOWN: {}…)", "x".repeat(80));
        assert_eq!(line.matches(&why).count(), NAMED, "{line}");
        assert!(line.contains(&format!("db10{why}, db11, db12,")), "{line}");
        assert!(
            line.contains(", db199, db200 (UNKNOWN) — report: r.md"),
            "{line}"
        );
        assert!(line.len() < 2_500, "{} bytes", line.len());
    }
}
