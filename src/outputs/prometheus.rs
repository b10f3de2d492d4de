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
//!
//! A fleet's metrics are one exposition of every target's ([`render_fleet`]), through the very
//! code a single run's take: the families are shared, `target` is the target's fleet name, and
//! `runbook_fleet_targets{playbook,status}` counts the targets by status.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::UNIX_EPOCH;

use super::file::Artifact;
use super::plain_number;
use super::record::{MetricRecord, RunRecord, Status, StepRecord};
use crate::fleet::report::{FleetRun, TargetCounts};

type Labels = Vec<(String, String)>;

struct Family {
    name: String,
    help: String,
    kind: &'static str,
    /// The (step, metric) it holds, for a declared metric: who may share it.
    owner: Option<(String, String)>,
    label_names: Vec<String>,
    samples: Vec<(Labels, f64)>,
    /// The label sets of `samples`, so that a fleet of thousands adds each in constant time.
    seen: HashSet<Labels>,
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
            seen: HashSet::new(),
        }
    }

    /// Adds a sample, unless one with the same labels is there already.
    fn sample(&mut self, labels: Labels, value: f64) {
        if self.seen.insert(labels.clone()) {
            self.samples.push((labels, value));
        }
    }
}

/// One run to export, and what its samples' `target` label says.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Where a single run connected (`user@host:port/db`), or a fleet target's name.
    pub target: &'a str,
    pub record: &'a RunRecord,
    /// The outputs of the run that could not be written, which make it UNKNOWN.
    pub lost: &'a [Artifact],
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
    render_all(&[Subject {
        target: &record.target,
        record,
        lost,
    }])
}

/// The metrics of several runs in one exposition: each family once, the runs' samples told
/// apart by their `target` label, the same declared metric of the same step one family for
/// all. A run that did not start (NOT RUN) has its `runbook_run_status`, 3, and nothing else.
pub fn render_all(subjects: &[Subject]) -> String {
    exposition(fixed_families(), subjects)
}

/// The metrics of a finished fleet: every target's, labelled by its fleet name, and
/// `runbook_fleet_targets`, how many targets ended with each status (every status, 0 too).
pub fn render_fleet(run: &FleetRun) -> String {
    let mut families = fixed_families();
    let counts = TargetCounts::of(run.results);
    for (status, n) in counts.by_status() {
        let labels = vec![
            ("playbook".to_owned(), run.playbook.to_owned()),
            ("status".to_owned(), status.label().replace(' ', "_")),
        ];
        families[FLEET_TARGETS].sample(labels, n as f64);
    }
    let subjects: Vec<Subject> = run
        .results
        .iter()
        .map(|result| Subject {
            target: &result.name,
            record: &result.record,
            lost: &[],
        })
        .collect();
    exposition(families, &subjects)
}

/// The samples of `subjects` added to `families`, then the text.
fn exposition(mut families: Vec<Family>, subjects: &[Subject]) -> String {
    for subject in subjects {
        let run = vec![
            ("playbook".to_owned(), subject.record.playbook.clone()),
            ("target".to_owned(), subject.target.to_owned()),
        ];
        run_samples(&mut families, subject, &run);
        for step in &subject.record.steps {
            for metric in &step.metrics {
                declared(&mut families, &run, step, metric);
            }
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

/// Where [`fixed_families`] puts each family.
const FLEET_TARGETS: usize = 0;
const RUN_STATUS: usize = 1;
const RUN_DURATION: usize = 2;
const RUN_STARTED: usize = 3;
const STEP_STATUS: usize = 4;
const STEP_DURATION: usize = 5;

/// The built-in families, empty. `runbook_fleet_targets` is there for a single run too, never
/// shown (it has no samples), so that a declared metric is named the same in a single and a
/// fleet run.
fn fixed_families() -> Vec<Family> {
    vec![
        Family::new(
            "runbook_fleet_targets",
            "How many targets of the fleet run ended with each status.",
            "gauge",
        ),
        Family::new(
            "runbook_run_status",
            "Status of the run: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also: stopped, not approved, an output not written).",
            "gauge",
        ),
        Family::new(
            "runbook_run_duration_seconds",
            "How long the run took, without the time spent waiting for the operator.",
            "gauge",
        ),
        Family::new(
            "runbook_run_timestamp_seconds",
            "When the run started, in seconds since the Unix epoch.",
            "gauge",
        ),
        Family::new(
            "runbook_step_status",
            "Status of the step: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (failed), -1 SKIPPED, -2 NOT RUN, -3 MANUAL.",
            "gauge",
        ),
        Family::new(
            "runbook_step_duration_seconds",
            "How long the step took, without the time spent waiting for the operator.",
            "gauge",
        ),
    ]
}

/// The run's and its steps' own samples.
fn run_samples(families: &mut [Family], subject: &Subject, run: &Labels) {
    let record = subject.record;
    if record.status == Status::NotRun {
        families[RUN_STATUS].sample(run.clone(), 3.0);
        return;
    }
    let code = if subject.lost.is_empty() {
        status_code(record.status)
    } else {
        3
    };
    families[RUN_STATUS].sample(run.clone(), f64::from(code));
    families[RUN_DURATION].sample(run.clone(), seconds(record.duration_ms));
    if let Some(at) = unix_seconds(&record.started_at) {
        families[RUN_STARTED].sample(run.clone(), at);
    }
    for step in &record.steps {
        let labels = step_labels(run, step);
        families[STEP_STATUS].sample(labels.clone(), f64::from(status_code(step.status)));
        families[STEP_DURATION].sample(labels, seconds(step.duration_ms));
    }
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
    use crate::outputs::example::{fleet, fleet_run, metric, record, step, target};

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

    #[test]
    fn a_fleet_shares_every_family_and_labels_samples_by_target() {
        let mut db1 = target("db1", Status::Ok, None);
        let mut overview = step("overview", "Overview", "check", Status::Ok);
        overview.duration_ms = 7;
        overview.metrics = vec![metric("used", "%", 42.5, &[("db", "app")])];
        db1.record.steps = vec![overview];
        let results = [db1, target("db9", Status::NotRun, Some("not started"))];
        let text = render_fleet(&fleet_run(&results));
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        let db1 = r#"playbook="daily-monitoring",target="db1""#;
        let counted = |status: &str, n: u8| {
            format!(
                "runbook_fleet_targets{{playbook=\"daily-monitoring\",status=\"{status}\"}} {n}"
            )
        };
        let expected = [
            counted("OK", 1),
            counted("WARNING", 0),
            counted("CRITICAL", 0),
            counted("UNKNOWN", 0),
            counted("STOPPED", 0),
            counted("NOT_RUN", 1),
            format!("runbook_run_status{{{db1}}} 0"),
            r#"runbook_run_status{playbook="daily-monitoring",target="db9"} 3"#.to_owned(),
            format!("runbook_run_duration_seconds{{{db1}}} 1.234"),
            format!("runbook_run_timestamp_seconds{{{db1}}} 1795702200"),
            format!("runbook_step_status{{{db1},step=\"overview\"}} 0"),
            format!("runbook_step_duration_seconds{{{db1},step=\"overview\"}} 0.007"),
            format!("runbook_overview_used_percent{{{db1},step=\"overview\",db=\"app\"}} 42.5"),
        ];
        assert_eq!(samples, expected);
        assert!(
            text.starts_with(
                "# HELP runbook_fleet_targets How many targets of the fleet run ended with each status.\n\
                 # TYPE runbook_fleet_targets gauge\n"
            ),
            "{text}"
        );
        assert_eq!(text.matches("# HELP ").count(), 7, "{text}");
        assert_eq!(text.matches("# TYPE ").count(), 7, "{text}");
    }

    #[test]
    fn targets_share_the_family_of_a_step_s_metric() {
        let results = fleet();
        let text = render_fleet(&fleet_run(&results));
        assert_eq!(
            text.matches("# TYPE runbook_overview_used_percent gauge\n")
                .count(),
            1
        );
        let targets: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("runbook_overview_used_percent{"))
            .filter_map(|l| l.split("target=\"").nth(1)?.split('"').next())
            .collect();
        assert_eq!(targets, ["db1", "db2", "db3", "db5"]);
    }

    #[test]
    fn a_single_run_shows_no_fleet_family_and_its_name_stays_reserved() {
        let mut fleet_step = step("fleet", "Fleet", "check", Status::Ok);
        fleet_step.metrics = vec![metric("targets", "", 5.0, &[])];
        let text = render(&run(vec![fleet_step]), &[]);
        assert!(!text.contains("# TYPE runbook_fleet_targets "), "{text}");
        assert!(
            text.contains("# TYPE runbook_fleet_targets_2 gauge\n"),
            "{text}"
        );
    }
}
