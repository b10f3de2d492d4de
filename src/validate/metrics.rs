//! A check's `metrics`: each names a result column (where the parse tree tells the columns)
//! of a kind a number can be read from, its labels name columns too, and its bounds and
//! thresholds are templates that compile — and, where the params' defaults are enough to
//! render them, give a number and a monitoring-plugin range.

use indexmap::IndexMap;

use crate::diagnostic::did_you_mean;
use crate::expr::Kind;
use crate::load::raw::{RawMetric, RawNumber, Unit};
use crate::load::spans::Path;
use crate::playbook::{Metric, ROW_COUNT_METRIC};
use crate::range;
use crate::template::TemplateKind;

use super::Validator;
use super::error::Problem;
use super::names::{NameScope, StepName};
use super::steps::gives;

impl Validator<'_> {
    /// The step's metrics; `None` when any has an error (all are reported).
    pub(super) fn metrics(
        &mut self,
        path: &Path,
        name: &StepName,
        raw: Option<&IndexMap<String, Option<RawMetric>>>,
        columns: Option<&[String]>,
        kinds: Option<&[Kind]>,
    ) -> Option<Vec<Metric>> {
        let step = name.shown.as_str();
        let mut ok = true;
        let mut metrics = Vec::new();
        let empty = RawMetric::default();
        for (column, raw_metric) in raw.into_iter().flatten() {
            let path = path.key("metrics").key(column);
            let raw_metric = raw_metric.as_ref().unwrap_or(&empty);
            let kind = self.metric_column(&path, step, column, columns, kinds);
            ok &= kind.is_some();
            if kind == Some(Kind::Duration)
                && let Some(unit) = raw_metric.unit.filter(|unit| *unit != Unit::Seconds)
            {
                let location = self.document.value_location(&path.key("unit"));
                let (column, unit) = (column.clone(), unit.uom());
                self.report(Problem::IntervalMetricUnit { column, unit }, location);
                ok = false;
            }
            if counts_rows(column, columns)
                && raw_metric.labels.as_ref().is_some_and(|l| !l.is_empty())
            {
                let location = self.document.key_location(&path.key("labels"));
                self.report(Problem::RowCountLabels, location);
                ok = false;
            }
            let mut labels = Vec::new();
            for (i, label) in raw_metric.labels.iter().flatten().enumerate() {
                let at = path.key("labels").index(i);
                ok &= self.is_result_column(&at, step, label, columns);
                labels.push(label.clone());
            }
            let scope = NameScope::of_step(name, "metrics");
            let mut text = |key: &'static str, value: &Option<RawNumber>| {
                let source = value.as_ref().map(|value| match value {
                    RawNumber::Number(number) => number.to_string(),
                    RawNumber::Text(text) => text.clone(),
                })?;
                ok &= self.metric_value(&path.key(key), column, key, &source, &scope);
                Some(source)
            };
            let metric = Metric {
                column: column.clone(),
                unit: raw_metric.unit,
                min: text("min", &raw_metric.min),
                max: text("max", &raw_metric.max),
                warning: text("warning", &raw_metric.warning),
                critical: text("critical", &raw_metric.critical),
                labels,
            };
            metrics.push(metric);
        }
        ok.then_some(metrics)
    }

    /// The kind of the metric's column: `None` (reported) when it is no result column or of a
    /// kind no number can be read from; `Unknown` when the SQL does not tell.
    fn metric_column(
        &mut self,
        path: &Path,
        step: &str,
        column: &str,
        columns: Option<&[String]>,
        kinds: Option<&[Kind]>,
    ) -> Option<Kind> {
        if counts_rows(column, columns) {
            return Some(Kind::Number);
        }
        if !self.is_result_column(path, step, column, columns) {
            return None;
        }
        let index = columns.and_then(|columns| columns.iter().position(|c| c == column));
        let kind = index
            .and_then(|index| kinds?.get(index).copied())
            .unwrap_or(Kind::Unknown);
        match kind {
            Kind::Number | Kind::Duration | Kind::Boolean | Kind::Unknown | Kind::Null => {
                Some(kind)
            }
            Kind::Text | Kind::List | Kind::Map => {
                let location = self.document.key_location(path);
                let column = column.to_owned();
                let kind = kind.described();
                self.report(Problem::MetricNotNumeric { column, kind }, location);
                None
            }
        }
    }

    /// Whether `name` is a column of the step's result (or the columns are not known).
    fn is_result_column(
        &mut self,
        path: &Path,
        step: &str,
        name: &str,
        columns: Option<&[String]>,
    ) -> bool {
        let Some(columns) = columns else {
            return true;
        };
        if columns.iter().any(|c| c == name) {
            return true;
        }
        let location = self.document.key_location(path);
        let hint = did_you_mean(name, columns.iter().map(String::as_str));
        let problem = Problem::MetricNotAColumn {
            step: step.to_owned(),
            name: name.to_owned(),
            columns: columns.to_vec(),
            hint,
        };
        self.report(problem, location);
        false
    }

    /// A bound (`min`, `max`) or threshold (`warning`, `critical`): it compiles, its names are
    /// in scope, and what the params' defaults render it to is a number or a range.
    fn metric_value(
        &mut self,
        path: &Path,
        column: &str,
        key: &'static str,
        source: &str,
        scope: &NameScope,
    ) -> bool {
        if !self.template(path, source, TemplateKind::Text, scope) {
            return false;
        }
        let Some(rendered) = self.with_defaults(source) else {
            return true;
        };
        let Err(why) = metric_value(key, &rendered) else {
            return true;
        };
        let location = self.document.value_location(path);
        let gives = gives(source, &rendered);
        let problem = Problem::InvalidMetricValue {
            column: column.to_owned(),
            key,
            text: source.to_owned(),
            gives,
            why,
        };
        self.report(problem, location);
        false
    }
}

/// Whether a rendered bound is a number and a rendered threshold a range: the rules the
/// engine applies after a check (`crate::range`), so validation says what a run would.
fn metric_value(key: &str, rendered: &str) -> Result<(), String> {
    match key {
        "warning" | "critical" => range::threshold(rendered).map(drop),
        _ => range::bound(rendered).map(drop),
    }
}

/// Whether the metric is the count of rows: `row_count`, and no result column has that name.
fn counts_rows(column: &str, columns: Option<&[String]>) -> bool {
    column == ROW_COUNT_METRIC
        && columns.is_some_and(|columns| !columns.iter().any(|c| c == column))
}
