//! TEMPORARY (replaced by the fleet-outputs branch).
use std::path::Path;

use super::TargetResult;
use crate::outputs::file::Artifact;
use crate::outputs::record::Mode;

pub struct FleetRun<'a> {
    pub playbook: &'a str,
    pub title: &'a str,
    pub operator: &'a str,
    pub mode: Mode,
    pub started_at: String,
    pub duration_ms: u64,
    pub parallel: usize,
    pub shard: Option<String>,
    pub notes: Vec<String>,
    pub results: &'a [TargetResult],
}

pub struct FleetRecord {
    pub exit_code: u8,
    pub text: String,
}

impl FleetRecord {
    pub fn of(run: &FleetRun) -> FleetRecord {
        let status = super::status(run.results);
        let mut text = format!("{} {}\n", run.playbook, status.label());
        for r in run.results {
            text.push_str(&format!("{} {} {:?} {:?}\n", r.name, r.record.status.label(), r.record.why, r.report));
        }
        FleetRecord { exit_code: super::exit_code(status), text }
    }
}

pub fn markdown(record: &FleetRecord, _base: Option<&Path>) -> String {
    record.text.clone()
}

pub fn json(record: &FleetRecord) -> String {
    record.text.clone()
}

pub fn summary_line(record: &FleetRecord, report: Option<&str>, _lost: &[Artifact]) -> String {
    format!("{} report: {:?}", record.text.replace('\n', " | "), report)
}
