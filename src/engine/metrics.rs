//! A check's declared metrics, read from its rows once it ran: one value per metric and row,
//! with the row's label values, and the bounds and thresholds rendered with the run's params,
//! facts and earlier steps. What cannot be read is left out and said, never guessed: a NULL
//! or non-numeric cell gives no value; a threshold that renders to no range is dropped with a
//! note on the run (monitoring would misread it), the value still exported. `row_count`,
//! unless the result has a column of that name, is the number of rows the check returned.

use std::collections::BTreeMap;

use super::Engine;
use super::check::Queried;
use crate::outputs::record::MetricRecord;
use crate::playbook::{Metric, ROW_COUNT_METRIC, Step, Unit};
use crate::range;
use crate::target::rows::ColumnKind;

impl Engine<'_> {
    pub(super) fn metrics(&mut self, step: &Step, queried: &Queried) -> Vec<MetricRecord> {
        let mut records = Vec::new();
        for metric in &step.metrics {
            let column = queried.columns.find(&metric.column);
            if column.is_none() && metric.column == ROW_COUNT_METRIC {
                let value = queried.row_count as f64;
                records.push(self.record(step, metric, "", BTreeMap::new(), value));
                continue;
            }
            let Some((index, kind)) = column else {
                // No rows, no columns to read (the server describes them with the rows).
                if queried.kept.is_empty() {
                    continue;
                }
                self.ending.notes.push(format!(
                    "step `{}`: metric `{}` is not a column of its result: not exported",
                    step.id, metric.column
                ));
                continue;
            };
            let labels: Vec<(String, Option<usize>)> = metric
                .labels
                .iter()
                .map(|label| (label.clone(), queried.columns.find(label).map(|(i, _)| i)))
                .collect();
            let unit = match (metric.unit, kind) {
                (Some(unit), _) => unit.uom(),
                (None, ColumnKind::Interval) => Unit::Seconds.uom(),
                (None, _) => "",
            };
            let template = self.record(step, metric, unit, BTreeMap::new(), 0.0);
            for row in &queried.kept {
                let Some(value) = kind.number(row.get(index).and_then(Option::as_deref)) else {
                    continue;
                };
                let labels: BTreeMap<String, String> = labels
                    .iter()
                    .map(|(name, at)| {
                        let text = at.and_then(|i| row.get(i)?.clone());
                        (name.clone(), text.unwrap_or_default())
                    })
                    .collect();
                records.push(MetricRecord {
                    labels,
                    value,
                    ..template.clone()
                });
            }
        }
        records
    }

    /// A metric's record with its bounds and thresholds rendered.
    fn record(
        &mut self,
        step: &Step,
        metric: &Metric,
        unit: &str,
        labels: BTreeMap<String, String>,
        value: f64,
    ) -> MetricRecord {
        MetricRecord {
            name: metric.column.clone(),
            unit: unit.to_owned(),
            labels,
            value,
            min: self.rendered(step, metric, "min", metric.min.as_deref(), range::bound),
            max: self.rendered(step, metric, "max", metric.max.as_deref(), range::bound),
            warning: self.rendered(
                step,
                metric,
                "warning",
                metric.warning.as_deref(),
                range::threshold,
            ),
            critical: self.rendered(
                step,
                metric,
                "critical",
                metric.critical.as_deref(),
                range::threshold,
            ),
        }
    }

    /// A bound or threshold rendered and read by `read` (`range::bound`, `range::threshold`);
    /// `None`, with a note, when it does not render or is not what monitoring can read.
    fn rendered<T>(
        &mut self,
        step: &Step,
        metric: &Metric,
        key: &str,
        source: Option<&str>,
        read: fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let name = format!("{}.metrics.{}.{key}", step.id, metric.column);
        let ctx = self.scope.value();
        let why = match self.scope.exact_text(&name, source?, &ctx) {
            Ok(rendered) => match read(&rendered) {
                Ok(value) => return Some(value),
                Err(why) => format!("gives `{rendered}`: {why}"),
            },
            Err(error) => format!("could not be rendered: {error:#}"),
        };
        self.note_metric(step, metric, key, &why);
        None
    }

    fn note_metric(&mut self, step: &Step, metric: &Metric, key: &str, why: &str) {
        self.ending.notes.push(format!(
            "step `{}`, metric `{}`: `{key}` {why}; left out",
            step.id, metric.column
        ));
    }
}
