//! Prometheus metrics (`--metrics`): the run record in the text exposition format 0.0.4, the
//! one node_exporter's textfile collector reads.
//!
//! Each family has its `# HELP` and `# TYPE` once, then its samples. The run's status (the
//! plugin codes 0–3; stopped counts as 3), duration and start time; each step's status and
//! duration; then one family per declared metric, `runbook_<step>_<metric>` plus the base-unit
//! suffix (`_seconds`, `_percent` — 0 to 100, as declared —, `_bytes`; a counter `_total`).
//! Every sample is labelled `playbook` and `target`, a step's also `step` and its declared
//! label columns.
//!
//! The collector refuses a whole file for one inconsistent family, so names are made valid and
//! unique here rather than trusted: a metric family whose name is taken by one of another
//! type, another label set, a built-in family or another metric of the same step gets `_2`,
//! `_3`, … before its unit suffix; a label column named like a fixed label is `exported_…`
//! (Prometheus' own convention for clashing labels); a repeated row (the same label values)
//! keeps its first value.

use std::fmt::Write as _;
use std::time::UNIX_EPOCH;

use super::file::Artifact;
use super::plain_number;
use super::record::{MetricRecord, RunRecord, Status, StepRecord};

type Labels = Vec<(String, String)>;

struct Family {
    name: String,
    help: String,
    kind: &'static str,
    /// The (step, metric) it holds, for a declared metric: who may share it.
    owner: Option<(String, String)>,
    label_names: Vec<String>,
    samples: Vec<(Labels, f64)>,
}

impl Family {
    fn new(name: &str, help: &str, kind: &'static str) -> Family {
        Family {
            name: name.to_owned(),
            help: help.to_owned(),
            kind,
            owner: None,
            label_names: Vec::new(),
            samples: Vec::new(),
        }
    }

    /// Adds a sample, unless one with the same labels is there already.
    fn sample(&mut self, labels: Labels, value: f64) {
        if !self.samples.iter().any(|(held, _)| *held == labels) {
            self.samples.push((labels, value));
        }
    }
}

/// The status of a run or a step, as a number: the plugin codes, and a negative code for a
/// step that was not judged.
pub fn status_code(status: Status) -> i8 {
    match status {
        Status::Ok => 0,
        Status::Warning => 1,
        Status::Critical => 2,
        Status::Unknown | Status::Stopped => 3,
        Status::Skipped => -1,
        Status::NotRun => -2,
        Status::Manual => -3,
    }
}

/// The metrics of a finished run; `lost`: the outputs that could not be written, which make
/// the run UNKNOWN.
pub fn render(record: &RunRecord, lost: &[Artifact]) -> String {
    let run = vec![
        ("playbook".to_owned(), record.playbook.clone()),
        ("target".to_owned(), record.target.clone()),
    ];
    let mut families = run_families(record, lost, &run);
    for step in &record.steps {
        for metric in &step.metrics {
            declared(&mut families, &run, step, metric);
        }
    }
    let mut text = String::new();
    for family in families.iter().filter(|f| !f.samples.is_empty()) {
        let _ = writeln!(text, "# HELP {} {}", family.name, help(&family.help));
        let _ = writeln!(text, "# TYPE {} {}", family.name, family.kind);
        for (labels, value) in &family.samples {
            let labels: Vec<String> = labels
                .iter()
                .map(|(name, value)| format!("{name}=\"{}\"", label_value(value)))
                .collect();
            let _ = writeln!(
                text,
                "{}{{{}}} {}",
                family.name,
                labels.join(","),
                number(*value)
            );
        }
    }
    text
}

/// The run's and its steps' own families.
fn run_families(record: &RunRecord, lost: &[Artifact], run: &Labels) -> Vec<Family> {
    let mut status = Family::new(
        "runbook_run_status",
        "Status of the run: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also: stopped, not approved, an output not written).",
        "gauge",
    );
    let code = if lost.is_empty() {
        status_code(record.status)
    } else {
        3
    };
    status.sample(run.clone(), f64::from(code));
    let mut duration = Family::new(
        "runbook_run_duration_seconds",
        "How long the run took, without the time spent waiting for the operator.",
        "gauge",
    );
    duration.sample(run.clone(), seconds(record.duration_ms));
    let mut started = Family::new(
        "runbook_run_timestamp_seconds",
        "When the run started, in seconds since the Unix epoch.",
        "gauge",
    );
    if let Some(at) = unix_seconds(&record.started_at) {
        started.sample(run.clone(), at);
    }
    let mut step_status = Family::new(
        "runbook_step_status",
        "Status of the step: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (failed), -1 SKIPPED, -2 NOT RUN, -3 MANUAL.",
        "gauge",
    );
    let mut step_duration = Family::new(
        "runbook_step_duration_seconds",
        "How long the step took, without the time spent waiting for the operator.",
        "gauge",
    );
    for step in &record.steps {
        let labels = step_labels(run, step);
        step_status.sample(labels.clone(), f64::from(status_code(step.status)));
        step_duration.sample(labels, seconds(step.duration_ms));
    }
    vec![status, duration, started, step_status, step_duration]
}

fn step_labels(run: &Labels, step: &StepRecord) -> Labels {
    let mut labels = run.clone();
    labels.push(("step".to_owned(), step.id.clone()));
    labels
}

/// Adds one value of a declared metric to its family, made (or found) here.
fn declared(families: &mut Vec<Family>, run: &Labels, step: &StepRecord, metric: &MetricRecord) {
    let mut labels = step_labels(run, step);
    for (column, value) in &metric.labels {
        let name = label_name(column, &labels);
        labels.push((name, value.clone()));
    }
    let label_names: Vec<String> = labels.iter().map(|(name, _)| name.clone()).collect();
    let (kind, suffix) = match metric.unit.as_str() {
        "s" => ("gauge", "_seconds"),
        "%" => ("gauge", "_percent"),
        "B" => ("gauge", "_bytes"),
        "c" => ("counter", "_total"),
        _ => ("gauge", ""),
    };
    let base = metric_name(&format!("runbook_{}_{}", step.id, metric.name));
    let base = base.strip_suffix(suffix).unwrap_or(&base).to_owned();
    let owner = (step.id.clone(), metric.name.clone());
    let fits = |family: &Family| {
        family.kind == kind
            && family.label_names == label_names
            && family
                .owner
                .as_ref()
                .is_some_and(|(s, m)| *s != owner.0 || *m == owner.1)
    };
    let mut n = 1;
    let at = loop {
        let name = match n {
            1 => format!("{base}{suffix}"),
            n => format!("{base}_{n}{suffix}"),
        };
        match families.iter().position(|f| f.name == name) {
            Some(at) if fits(&families[at]) => break at,
            Some(_) => n += 1,
            None => {
                let help = format!(
                    "Metric `{}` of step `{}` ({}).",
                    metric.name, step.id, step.title
                );
                let mut family = Family::new(&name, &help, kind);
                family.owner = Some(owner.clone());
                family.label_names = label_names.clone();
                families.push(family);
                break families.len() - 1;
            }
        }
    };
    families[at].sample(labels, metric.value);
}

/// A label name for a label column: `[a-zA-Z_][a-zA-Z0-9_]*`, not `__…` (reserved), and not
/// one already given (`exported_` before it, then `_2`, … after it).
fn label_name(column: &str, given: &Labels) -> String {
    let mut name: String = column
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    if name.starts_with("__") {
        name.insert_str(0, "column");
    }
    let taken = |name: &str| given.iter().any(|(held, _)| held == name);
    if taken(&name) {
        name.insert_str(0, "exported_");
    }
    let mut unique = name.clone();
    let mut n = 2;
    while taken(&unique) {
        unique = format!("{name}_{n}");
        n += 1;
    }
    unique
}

/// A metric name: `[a-zA-Z0-9_]`, every other character `_` (`:` is for recording rules).
fn metric_name(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// `\` and a line break escaped, as HELP text wants.
fn help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// `\`, `"` and a line break escaped, as a label value wants.
fn label_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        plain_number(value)
    }
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// An RFC 3339 time as seconds since the epoch.
fn unix_seconds(rfc3339: &str) -> Option<f64> {
    let at = humantime::parse_rfc3339_weak(rfc3339).ok()?;
    Some(at.duration_since(UNIX_EPOCH).ok()?.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::example::{metric, record, step};

    fn run(steps: Vec<StepRecord>) -> RunRecord {
        let mut record = record();
        record.playbook = "daily".to_owned();
        record.target = "ops@db1:5432/app".to_owned();
        record.started_at = "2026-11-26T14:10:00Z".to_owned();
        record.duration_ms = 1250;
        record.status = Status::Warning;
        record.steps = steps;
        record
    }

    #[test]
    fn families_have_help_type_and_every_label() {
        let mut by_state = step("by_state", "By \"state\"\\", "check", Status::Warning);
        by_state.duration_ms = 12;
        by_state.metrics = vec![
            metric("n", "", 3.0, &[("state", "idle \"in\"\ntx\\")]),
            metric("n", "", 1.0, &[("state", "active")]),
            metric("n", "", 9.0, &[("state", "active")]),
            metric("waited", "s", 0.5, &[("step", "x"), ("2nd col", "y")]),
            metric("xacts_total", "c", 7.0, &[]),
        ];
        let skipped = step("tv", "TVIEW", "check", Status::Skipped);
        let text = render(&run(vec![by_state, skipped]), &[]);
        let run = r#"playbook="daily",target="ops@db1:5432/app""#;
        let expected = format!(
            "# HELP runbook_run_status Status of the run: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also: stopped, not approved, an output not written).\n\
             # TYPE runbook_run_status gauge\n\
             runbook_run_status{{{run}}} 1\n\
             # HELP runbook_run_duration_seconds How long the run took, without the time spent waiting for the operator.\n\
             # TYPE runbook_run_duration_seconds gauge\n\
             runbook_run_duration_seconds{{{run}}} 1.25\n\
             # HELP runbook_run_timestamp_seconds When the run started, in seconds since the Unix epoch.\n\
             # TYPE runbook_run_timestamp_seconds gauge\n\
             runbook_run_timestamp_seconds{{{run}}} 1795702200\n\
             # HELP runbook_step_status Status of the step: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (failed), -1 SKIPPED, -2 NOT RUN, -3 MANUAL.\n\
             # TYPE runbook_step_status gauge\n\
             runbook_step_status{{{run},step=\"by_state\"}} 1\n\
             runbook_step_status{{{run},step=\"tv\"}} -1\n\
             # HELP runbook_step_duration_seconds How long the step took, without the time spent waiting for the operator.\n\
             # TYPE runbook_step_duration_seconds gauge\n\
             runbook_step_duration_seconds{{{run},step=\"by_state\"}} 0.012\n\
             runbook_step_duration_seconds{{{run},step=\"tv\"}} 0\n\
             # HELP runbook_by_state_n Metric `n` of step `by_state` (By \"state\"\\\\).\n\
             # TYPE runbook_by_state_n gauge\n\
             runbook_by_state_n{{{run},step=\"by_state\",state=\"idle \\\"in\\\"\\ntx\\\\\"}} 3\n\
             runbook_by_state_n{{{run},step=\"by_state\",state=\"active\"}} 1\n\
             # HELP runbook_by_state_waited_seconds Metric `waited` of step `by_state` (By \"state\"\\\\).\n\
             # TYPE runbook_by_state_waited_seconds gauge\n\
             runbook_by_state_waited_seconds{{{run},step=\"by_state\",_2nd_col=\"y\",exported_step=\"x\"}} 0.5\n\
             # HELP runbook_by_state_xacts_total Metric `xacts_total` of step `by_state` (By \"state\"\\\\).\n\
             # TYPE runbook_by_state_xacts_total counter\n\
             runbook_by_state_xacts_total{{{run},step=\"by_state\"}} 7\n"
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn a_clashing_name_gets_a_number_before_its_unit() {
        let mut run_step = step("run", "Run", "check", Status::Ok);
        run_step.metrics = vec![
            metric("status", "", 1.0, &[]),
            metric("a-b", "B", 1.0, &[]),
            metric("a_b", "B", 2.0, &[]),
        ];
        let text = render(&run(vec![run_step]), &[Artifact::Metrics]);
        assert!(
            text.contains(
                "\nrunbook_run_status{playbook=\"daily\",target=\"ops@db1:5432/app\"} 3\n"
            ),
            "{text}"
        );
        for sample in [
            "runbook_run_status_2{playbook=\"daily\",target=\"ops@db1:5432/app\",step=\"run\"} 1\n",
            "runbook_run_a_b_bytes{playbook=\"daily\",target=\"ops@db1:5432/app\",step=\"run\"} 1\n",
            "runbook_run_a_b_2_bytes{playbook=\"daily\",target=\"ops@db1:5432/app\",step=\"run\"} 2\n",
        ] {
            assert!(text.contains(sample), "{sample}\n{text}");
        }
        assert_eq!(text.matches("# TYPE runbook_run_status ").count(), 1);
    }

    #[test]
    fn step_status_codes() {
        let codes: Vec<i8> = [
            Status::Ok,
            Status::Warning,
            Status::Critical,
            Status::Unknown,
            Status::Skipped,
            Status::NotRun,
            Status::Manual,
        ]
        .into_iter()
        .map(status_code)
        .collect();
        assert_eq!(codes, [0, 1, 2, 3, -1, -2, -3]);
    }
}

/// TEMPORARY
pub fn render_fleet(_playbook: &str, results: &[crate::fleet::TargetResult]) -> String {
    results.iter().map(|r| render(&r.record, &[])).collect()
}
