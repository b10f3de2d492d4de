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

use std::collections::HashSet;
use std::fmt::Write as _;

use super::file::Artifact;
use super::record::{MetricRecord, RunRecord, Status, StepRecord};
use super::{counts, plain_number};
use crate::exit;
use crate::terminal_text::for_terminal_line;

/// A plugin answer: the text for standard output and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub text: String,
    pub exit_code: u8,
}

impl Answer {
    /// The answer for a finished run; `lost`: the outputs that could not be written.
    pub fn of(record: &RunRecord, lost: &[Artifact]) -> Answer {
        let said = record.why.clone().unwrap_or_else(|| counts(&record.steps));
        let (exit_code, message) = if !lost.is_empty() {
            let lost: Vec<String> = lost.iter().map(ToString::to_string).collect();
            let message = format!(
                "{} could not be written (the run was {}: {said})",
                lost.join(" and "),
                record.status.label()
            );
            (exit::UNKNOWN, message)
        } else if record.status == Status::Stopped || record.exit_code > exit::UNKNOWN {
            (exit::UNKNOWN, format!("the run stopped: {said}"))
        } else {
            (record.exit_code, said)
        };
        let mut text = format!(
            "{} {}: {}",
            one_line(&record.playbook),
            word(exit_code),
            one_line(&message)
        );
        let perfdata = perfdata(&record.steps);
        if !perfdata.is_empty() {
            text.push_str(" | ");
            text.push_str(&perfdata.join(" "));
        }
        text.push('\n');
        for step in record.steps.iter().filter(|s| is_problem(s.status)) {
            let message = step.message.as_deref().unwrap_or("no message");
            let _ = writeln!(
                text,
                "{} {}: {}",
                step.status.label(),
                one_line(&step.id),
                one_line(message)
            );
        }
        Answer { text, exit_code }
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

/// One perfdata item per metric value, labels unique: a repeated one gets `_2`, `_3`, ….
fn perfdata(steps: &[StepRecord]) -> Vec<String> {
    let mut taken = HashSet::new();
    let mut items = Vec::new();
    for step in steps {
        for metric in &step.metrics {
            let label = unique(&mut taken, label(step, metric));
            items.push(format!(
                "'{}'={}",
                label.replace('\'', "''"),
                fields(metric)
            ));
        }
    }
    items
}

/// `<step>.<metric>[.<label values, in the order of their column names>]`; `=` (which ends a
/// label for some parsers) and control characters become `_`.
fn label(step: &StepRecord, metric: &MetricRecord) -> String {
    let mut parts = vec![step.id.as_str(), metric.name.as_str()];
    parts.extend(metric.labels.values().map(String::as_str));
    parts
        .join(".")
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
    use crate::outputs::example::{metric, record, step};

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
}
