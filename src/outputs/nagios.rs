//! The monitoring-plugin answer (`--nagios`): what Nagios, Icinga, Naemon or Sensu read from a
//! check's standard output and exit code, rendered from the finished run record.
//!
//! The syntax is the monitoring-plugins development guidelines': a first line
//! `<playbook> <STATUS>: <text> | <perfdata>`, then long output. Nagios splits the first line
//! on its first `|` and reads any later `|` as more perfdata, and a `;` in the text confuses
//! the graphers that split perfdata on it, so the text never holds either, and stays on one
//! line. Every declared metric becomes one perfdata item `'label'=value[UOM];warn;crit;min;max`,
//! its label `<step>.<metric>[.<label values>]`, made unique in the order of the record.
//!
//! The exit code stays within 0–3: a run stopped or not approved (4) is UNKNOWN here, and so
//! is a run whose report or metrics could not be written — STATUS and exit code always agree.
//!
//! A fleet gives one answer of the same shape ([`Answer::of_fleet`]): its status by the
//! fleet's precedence, its text the targets counted by status and the ones that need attention
//! named, every UNKNOWN one always; its perfdata every target's, each label prefixed by the
//! target's name (`db1/overview.used`) and unique across the fleet; its long output a line per
//! target that needs attention and per problem step. Single and fleet answers share every
//! piece: the verdict, the perfdata, the long output's lines.

use std::collections::HashSet;
use std::fmt::Write as _;

use super::file::Artifact;
use super::record::{MetricRecord, RunRecord, Status, StepRecord};
use super::{counts, plain_number};
use crate::exit;
use crate::fleet::report::{FleetRecord, FleetRun};
use crate::fleet::{exit_code, fleet_status, rank};
use crate::terminal_text::for_terminal_line;

/// A plugin answer: the text for standard output and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub text: String,
    pub exit_code: u8,
}

/// How many targets a fleet's first plugin line names at most; the long output names all.
const PLUGIN_NAMED: usize = 20;

impl Answer {
    /// The answer for a finished run; `lost`: the outputs that could not be written.
    pub fn of(record: &RunRecord, lost: &[Artifact]) -> Answer {
        let said = record.why.clone().unwrap_or_else(|| counts(&record.steps));
        let verdict = verdict("run", record.status, record.exit_code, said, lost);
        let mut long = String::new();
        for step in record.steps.iter().filter(|s| is_problem(s.status)) {
            long_line(&mut long, step.status, &step.id, step.message.as_deref());
        }
        answer(
            &record.playbook,
            verdict,
            &perfdata(&[(None, record.steps.as_slice())]),
            &long,
        )
    }

    /// The answer for a finished fleet; `lost`: the fleet's own outputs that could not be
    /// written (a target's lost outputs are in its status already). The status is the worst
    /// target's, a stopped or not run target read as UNKNOWN; the first line names the targets
    /// that need attention, every UNKNOWN one and the first
    /// [`NAMED`](crate::fleet::report::NAMED) others (`and N more`); the long output has a
    /// line for each of them and for each of their problem steps.
    pub fn of_fleet(run: &FleetRun, lost: &[Artifact]) -> Answer {
        let record = FleetRecord::of(run);
        let status = run
            .results
            .iter()
            .map(|result| monitored(result.record.status))
            .max_by_key(|status| rank(*status))
            .unwrap_or(Status::Ok);
        let mut said = record.counted();
        let attention = record.attention();
        // The first line stays within what a monitoring server keeps of it (Nagios Core: 8 KB,
        // perfdata included): past `PLUGIN_NAMED` targets, even UNKNOWN ones are counted
        // there, and each is still named, on its own line of the long output.
        let named = attention.named.len().min(PLUGIN_NAMED);
        let more = attention.more + attention.named.len() - named;
        if named > 0 {
            let named: Vec<String> = attention.named[..named]
                .iter()
                .map(|target| format!("{} {}", target.name, target.status.label()))
                .collect();
            let _ = write!(said, " — needs attention: {}", named.join(", "));
        }
        if more > 0 {
            let _ = write!(said, " and {more} more, each on a line below");
        }
        let verdict = verdict("fleet", status, exit_code(status), said, lost);
        let mut long = String::new();
        for target in record.needing_attention() {
            long_line(
                &mut long,
                target.status,
                &target.name,
                target.why.as_deref(),
            );
            for problem in &target.problems {
                let name = format!("{}{TARGET_SEPARATOR}{}", target.name, problem.step);
                long_line(&mut long, problem.status, &name, problem.message.as_deref());
            }
        }
        let runs: Vec<(Option<&str>, &[StepRecord])> = run
            .results
            .iter()
            .map(|result| (Some(result.name.as_str()), result.record.steps.as_slice()))
            .collect();
        answer(run.playbook, verdict, &perfdata(&runs), &long)
    }

    /// The answer of a run that ended before it had a record (a usage error, a playbook that
    /// does not validate, an output that cannot be written): UNKNOWN, and why.
    pub fn unknown(name: &str, why: &str) -> Answer {
        Answer {
            text: format!("{} UNKNOWN: {}\n", one_line(name), one_line(why)),
            exit_code: exit::UNKNOWN,
        }
    }

    /// Prints the answer on standard output and gives its exit code. Standard output may be
    /// gone; the exit code still tells.
    pub fn print(&self) -> u8 {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let _ = stdout
            .write_all(self.text.as_bytes())
            .and_then(|()| stdout.flush());
        self.exit_code
    }
}

/// The exit code and the text of the first line: what the run says, unless an output could
/// not be written or the run stopped, which make it UNKNOWN (`what`: `run` or `fleet`).
fn verdict(
    what: &str,
    status: Status,
    exit_code: u8,
    said: String,
    lost: &[Artifact],
) -> (u8, String) {
    if !lost.is_empty() {
        let lost: Vec<String> = lost.iter().map(ToString::to_string).collect();
        let message = format!(
            "{} could not be written (the {what} was {}: {said})",
            lost.join(" and "),
            status.label()
        );
        (exit::UNKNOWN, message)
    } else if status == Status::Stopped || exit_code > exit::UNKNOWN {
        (exit::UNKNOWN, format!("the {what} stopped: {said}"))
    } else {
        (exit_code, said)
    }
}

/// The answer from its parts: `<name> <STATUS>: <message> | <perfdata>`, then the long output.
fn answer(
    name: &str,
    (exit_code, message): (u8, String),
    perfdata: &[String],
    long: &str,
) -> Answer {
    let mut text = format!(
        "{} {}: {}",
        one_line(name),
        word(exit_code),
        one_line(&message)
    );
    if !perfdata.is_empty() {
        text.push_str(" | ");
        text.push_str(&perfdata.join(" "));
    }
    text.push('\n');
    text.push_str(long);
    Answer { text, exit_code }
}

/// One line of long output: `CRITICAL bloat: 3 tables over 50%`.
fn long_line(text: &mut String, status: Status, name: &str, message: Option<&str>) {
    let _ = writeln!(
        text,
        "{} {}: {}",
        status.label(),
        one_line(name),
        one_line(message.unwrap_or("no message"))
    );
}

/// A target's status as monitoring reads it in a fleet: a stopped target, or one that did not
/// run, is UNKNOWN (nothing is known of it), as a stopped single run is.
fn monitored(status: Status) -> Status {
    match fleet_status(status) {
        Status::Stopped | Status::NotRun => Status::Unknown,
        other => other,
    }
}

/// The status word of a plugin exit code.
fn word(exit_code: u8) -> &'static str {
    match exit_code {
        exit::OK => "OK",
        exit::WARNING => "WARNING",
        exit::CRITICAL => "CRITICAL",
        _ => "UNKNOWN",
    }
}

/// The steps that get a line of long output: those that make a run not OK (and the ones a
/// fleet's combined report lists).
pub(crate) fn is_problem(status: Status) -> bool {
    matches!(
        status,
        Status::Warning | Status::Critical | Status::Unknown | Status::Stopped
    )
}

/// Text for the plugin answer: one line (runs of white space, line breaks included, become one
/// space), no `|` (`/`) and no `;` (`,`), other control characters escaped.
fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for_terminal_line(&joined)
        .replace('|', "/")
        .replace(';', ",")
}

/// What separates a target's name from the rest of its perfdata labels in a fleet's answer,
/// `db1/overview.used`: `.` already separates a label's parts, and target names are often
/// host names full of dots.
const TARGET_SEPARATOR: char = '/';

/// One perfdata item per metric value of every run (a fleet's named by their target), labels
/// unique across all: a repeated one gets `_2`, `_3`, ….
fn perfdata(runs: &[(Option<&str>, &[StepRecord])]) -> Vec<String> {
    let mut taken = HashSet::new();
    let mut items = Vec::new();
    for (target, steps) in runs {
        for step in *steps {
            for metric in &step.metrics {
                let label = unique(&mut taken, label(*target, step, metric));
                items.push(format!(
                    "'{}'={}",
                    label.replace('\'', "''"),
                    fields(metric)
                ));
            }
        }
    }
    items
}

/// `[<target>/]<step>.<metric>[.<label values, in the order of their column names>]`; `=`
/// (which ends a label for some parsers) and control characters become `_`.
fn label(target: Option<&str>, step: &StepRecord, metric: &MetricRecord) -> String {
    let mut parts = vec![step.id.as_str(), metric.name.as_str()];
    parts.extend(metric.labels.values().map(String::as_str));
    let label = parts.join(".");
    let label = match target {
        Some(target) => format!("{target}{TARGET_SEPARATOR}{label}"),
        None => label,
    };
    label
        .chars()
        .map(|c| if c == '=' || c.is_control() { '_' } else { c })
        .collect()
}

fn unique(taken: &mut HashSet<String>, label: String) -> String {
    if taken.insert(label.clone()) {
        return label;
    }
    let mut n = 2;
    loop {
        let candidate = format!("{label}_{n}");
        if taken.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

/// `value[UOM];warn;crit;min;max`, empty trailing fields left out; a value that is not a finite
/// number is `U` (undetermined).
fn fields(metric: &MetricRecord) -> String {
    let value = if metric.value.is_finite() {
        format!("{}{}", plain_number(metric.value), metric.unit)
    } else {
        "U".to_owned()
    };
    let mut fields = vec![
        value,
        metric.warning.clone().unwrap_or_default(),
        metric.critical.clone().unwrap_or_default(),
        metric.min.map(plain_number).unwrap_or_default(),
        metric.max.map(plain_number).unwrap_or_default(),
    ];
    while fields.last().is_some_and(String::is_empty) {
        fields.pop();
    }
    fields.join(";")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::TargetResult;
    use crate::outputs::example::{fleet, fleet_run, metric, record, step, target};

    fn run(steps: Vec<StepRecord>, status: Status, exit_code: u8, why: Option<&str>) -> RunRecord {
        let mut record = record();
        record.playbook = "daily".to_owned();
        record.steps = steps;
        record.status = status;
        record.exit_code = exit_code;
        record.why = why.map(str::to_owned);
        record
    }

    #[test]
    fn an_ok_run_says_its_counts_and_every_metric() {
        let mut overview = step("overview", "Overview", "check", Status::Ok);
        let mut used = metric("used_percent", "%", 42.5, &[]);
        used.warning = Some("70".to_owned());
        used.critical = Some("90".to_owned());
        used.min = Some(0.0);
        used.max = Some(100.0);
        overview.metrics = vec![
            used,
            metric("longest", "s", 12.0, &[]),
            metric("waiters", "", 0.0, &[]),
        ];
        let answer = Answer::of(&run(vec![overview], Status::Ok, 0, None), &[]);
        assert_eq!(
            answer.text,
            "daily OK: 1 step | 'overview.used_percent'=42.5%;70;90;0;100 'overview.longest'=12s 'overview.waiters'=0\n"
        );
        assert_eq!(answer.exit_code, 0);
    }

    #[test]
    fn labels_are_quoted_escaped_and_unique() {
        let mut by_state = step("by_state", "By state", "check", Status::Warning);
        by_state.message = Some("a | b; c\nd".to_owned());
        by_state.metrics = vec![
            metric("n", "", 3.0, &[("state", "idle in transaction")]),
            metric("n", "", 1.0, &[("state", "it's=odd")]),
            metric("n", "", 2.0, &[("state", "idle in transaction")]),
            metric("n", "c", f64::NAN, &[("state", "x")]),
        ];
        let why = "`by_state`: a | b; c\nd";
        let answer = Answer::of(&run(vec![by_state], Status::Warning, 1, Some(why)), &[]);
        assert_eq!(
            answer.text,
            "daily WARNING: `by_state`: a / b, c d | 'by_state.n.idle in transaction'=3 'by_state.n.it''s_odd'=1 'by_state.n.idle in transaction_2'=2 'by_state.n.x'=U\n\
             WARNING by_state: a / b, c d\n"
        );
        assert_eq!(answer.exit_code, 1);
    }

    #[test]
    fn values_have_no_exponent_and_no_trailing_zeros() {
        let mut m = metric("big", "B", 1e21, &[]);
        m.min = Some(-0.0);
        m.max = Some(0.000_000_1);
        assert_eq!(fields(&m), "1000000000000000000000B;;;0;0.0000001");
        assert_eq!(fields(&metric("half", "", 2.50, &[])), "2.5");
    }

    #[test]
    fn a_stopped_run_and_a_lost_output_are_unknown() {
        let why = Some("`act`: not approved: no terminal to ask");
        let stopped = run(Vec::new(), Status::Stopped, 4, why);
        let answer = Answer::of(&stopped, &[]);
        assert_eq!(
            answer.text,
            "daily UNKNOWN: the run stopped: `act`: not approved: no terminal to ask\n"
        );
        assert_eq!(answer.exit_code, 3);
        let critical = run(Vec::new(), Status::Critical, 2, Some("`x`: bad"));
        let answer = Answer::of(&critical, &[Artifact::Report, Artifact::Metrics]);
        assert_eq!(
            answer.text,
            "daily UNKNOWN: the report and the metrics could not be written (the run was CRITICAL: `x`: bad)\n"
        );
        assert_eq!(answer.exit_code, 3);
    }

    #[test]
    fn an_early_end_is_unknown_on_one_line() {
        let answer = Answer::unknown("runbook", "unexpected argument '--nope' found\n\ntip: |");
        assert_eq!(
            answer.text,
            "runbook UNKNOWN: unexpected argument '--nope' found tip: /\n"
        );
        assert_eq!(answer.exit_code, 3);
    }

    #[test]
    fn a_fleet_answers_in_one_line_naming_every_target_that_needs_attention() {
        let results = fleet();
        let answer = Answer::of_fleet(&fleet_run(&results), &[]);
        assert_eq!(
            answer.text,
            "daily-monitoring CRITICAL: 7 targets: 2 OK, 1 WARNING, 1 CRITICAL, 1 UNKNOWN, 1 STOPPED, 1 NOT RUN \
             — needs attention: db3 CRITICAL, db7 UNKNOWN, db4 STOPPED, db2 WARNING, db9 NOT RUN \
             | 'db1/overview.used.app'=42.5% 'db2/overview.used.app'=42.5% 'db2/idle_candidates.count'=3 \
             'db3/overview.used.app'=42.5% 'db3/idle_candidates.count'=3 'db5/overview.used.app'=42.5%\n\
             CRITICAL db3: `bloat`: 3 tables over 50%\n\
             WARNING db3/idle_candidates: 3 idle connections older than 1h\n\
             CRITICAL db3/bloat: 3 tables over 50%\n\
             UNKNOWN db7: cannot connect to db7.example.com:5432: connection refused\n\
             STOPPED db4: `act`: not approved\n\
             STOPPED db4/act: not approved\n\
             WARNING db2: `idle_candidates`: 3 idle connections older than 1h\n\
             WARNING db2/idle_candidates: 3 idle connections older than 1h\n\
             NOT RUN db9: not started: `--max-failures 1` reached\n"
        );
        assert_eq!(answer.exit_code, 2);
    }

    #[test]
    fn a_stopped_or_unreached_target_makes_the_fleet_unknown_within_0_to_3() {
        let warned = target("db2", Status::Warning, Some("slow"));
        let results = [warned.clone(), target("db4", Status::Stopped, Some("no"))];
        let answer = Answer::of_fleet(&fleet_run(&results), &[]);
        assert_eq!(
            answer.text,
            "daily-monitoring UNKNOWN: 2 targets: 1 WARNING, 1 STOPPED — needs attention: db4 STOPPED, db2 WARNING\n\
             STOPPED db4: no\n\
             WARNING db2: slow\n"
        );
        assert_eq!(answer.exit_code, 3);
        let results = [warned, target("db;7|x", Status::NotRun, None)];
        let answer = Answer::of_fleet(&fleet_run(&results), &[Artifact::Report]);
        assert_eq!(
            answer.text,
            "daily-monitoring UNKNOWN: the report could not be written (the fleet was UNKNOWN: 2 targets: \
             1 WARNING, 1 NOT RUN — needs attention: db2 WARNING, db,7/x NOT RUN)\n\
             WARNING db2: slow\n\
             NOT RUN db,7/x: no message\n"
        );
        assert_eq!(answer.exit_code, 3);
        let ok = [target("db1", Status::Ok, None)];
        let answer = Answer::of_fleet(&fleet_run(&ok), &[]);
        assert_eq!(answer.text, "daily-monitoring OK: 1 target: 1 OK\n");
        assert_eq!(answer.exit_code, 0);
    }

    #[test]
    fn fleet_labels_are_prefixed_by_target_and_unique_across_the_fleet() {
        let with = |name: &str, step_id: &str, metric_name: &str| -> TargetResult {
            let mut result = target(name, Status::Ok, None);
            let mut one = step(step_id, step_id, "check", Status::Ok);
            one.metrics = vec![metric(metric_name, "", 1.0, &[])];
            result.record.steps = vec![one];
            result
        };
        let results = [
            with("a/b", "c", "d"),
            with("a", "b/c", "d"),
            with("it's", "x", "y"),
        ];
        let answer = Answer::of_fleet(&fleet_run(&results), &[]);
        assert_eq!(
            answer.text,
            "daily-monitoring OK: 3 targets: 3 OK | 'a/b/c.d'=1 'a/b/c.d_2'=1 'it''s/x.y'=1\n"
        );
    }
}
