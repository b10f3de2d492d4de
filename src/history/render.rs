//! How `runbook history` shows its answer: a table for people (a metric's series each with a
//! sparkline, the shape of a week at a glance), JSON and CSV for machines, one row per run or
//! per value, with the times both as RFC 3339 and as milliseconds since the epoch.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;

use super::store::{Point, RunRow};
use crate::cli::HistoryFormat;
use crate::terminal_text::for_terminal_line;

/// What the store answered.
pub(super) enum Answer {
    /// Newest first.
    Runs(Vec<RunRow>),
    /// Oldest first.
    Points(Vec<Point>),
}

impl Answer {
    pub(super) fn is_empty(&self) -> bool {
        match self {
            Answer::Runs(runs) => runs.is_empty(),
            Answer::Points(points) => points.is_empty(),
        }
    }

    pub(super) fn is_series(&self) -> bool {
        matches!(self, Answer::Points(_))
    }
}

pub(super) fn render(answer: &Answer, format: HistoryFormat) -> String {
    match (answer, format) {
        (Answer::Runs(runs), HistoryFormat::Table) => runs_table(runs),
        (Answer::Points(points), HistoryFormat::Table) => points_table(points),
        (answer, HistoryFormat::Json) => json(answer),
        (Answer::Runs(runs), HistoryFormat::Csv) => csv(
            &[
                "started_at",
                "started_ms",
                "playbook",
                "target",
                "fleet_name",
                "status",
                "duration_ms",
                "why",
            ],
            runs.iter().map(|run| {
                vec![
                    stamp(run.started_ms),
                    run.started_ms.to_string(),
                    run.playbook.clone(),
                    run.target.clone(),
                    run.fleet_name.clone().unwrap_or_default(),
                    run.status.clone(),
                    run.duration_ms.to_string(),
                    run.why.clone().unwrap_or_default(),
                ]
            }),
        ),
        (Answer::Points(points), HistoryFormat::Csv) => csv(
            &[
                "at", "at_ms", "playbook", "target", "step", "metric", "labels", "value",
            ],
            points.iter().map(|point| {
                vec![
                    stamp(point.started_ms),
                    point.started_ms.to_string(),
                    point.playbook.clone(),
                    point.target.clone(),
                    point.step.clone(),
                    point.metric.clone(),
                    point.labels.clone(),
                    point.value.to_string(),
                ]
            }),
        ),
    }
}

/// RFC 3339, UTC, to the second.
fn stamp(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}

fn json(answer: &Answer) -> String {
    let value = match answer {
        Answer::Runs(runs) => json!({ "runs": runs.iter().map(|run| json!({
            "started_at": stamp(run.started_ms),
            "started_ms": run.started_ms,
            "playbook": run.playbook,
            "target": run.target,
            "fleet_name": run.fleet_name,
            "status": run.status,
            "duration_ms": run.duration_ms,
            "why": run.why,
        })).collect::<Vec<_>>() }),
        Answer::Points(points) => json!({ "points": points.iter().map(|point| json!({
            "at": stamp(point.started_ms),
            "at_ms": point.started_ms,
            "playbook": point.playbook,
            "target": point.target,
            "step": point.step,
            "metric": point.metric,
            "labels": serde_json::from_str::<serde_json::Value>(&point.labels)
                .unwrap_or_else(|_| json!({})),
            "value": point.value,
        })).collect::<Vec<_>>() }),
    };
    format!("{value:#}\n")
}

/// RFC 4180: a field with a comma, a quote, a line break or edge blanks is quoted, its quotes
/// doubled; lines end with CRLF.
fn csv(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let line = |fields: &[String]| {
        let quoted: Vec<String> = fields.iter().map(|field| csv_field(field)).collect();
        format!("{}\r\n", quoted.join(","))
    };
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let mut out = line(&header);
    for row in rows {
        out.push_str(&line(&row));
    }
    out
}

fn csv_field(field: &str) -> String {
    let special =
        field.contains([',', '"', '\n', '\r']) || field.starts_with(' ') || field.ends_with(' ');
    if special {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// Columns padded to their widest cell; the last one is not padded.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        let mut line = String::new();
        for (at, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if at == last {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn runs_table(runs: &[RunRow]) -> String {
    if runs.is_empty() {
        return String::new();
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|run| {
            let target = match &run.fleet_name {
                Some(name) => format!("{name} ({})", run.target),
                None => run.target.clone(),
            };
            vec![
                stamp(run.started_ms),
                run.playbook.clone(),
                target,
                run.status.clone(),
                format!("{} ms", run.duration_ms),
                run.why.as_deref().map(one_line).unwrap_or_default(),
            ]
        })
        .map(|row| {
            row.into_iter()
                .map(|c| for_terminal_line(&c).into_owned())
                .collect()
        })
        .collect();
    table(
        &["STARTED", "PLAYBOOK", "TARGET", "STATUS", "DURATION", "WHY"],
        &rows,
    )
}

/// A series: one metric, with one set of labels, of one playbook on one target.
type SeriesKey<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str);

fn points_table(points: &[Point]) -> String {
    if points.is_empty() {
        return String::new();
    }
    let mut series: BTreeMap<SeriesKey<'_>, Vec<f64>> = BTreeMap::new();
    for point in points {
        let key = (
            point.playbook.as_str(),
            point.target.as_str(),
            point.step.as_str(),
            point.metric.as_str(),
            point.labels.as_str(),
        );
        series.entry(key).or_default().push(point.value);
    }
    let mut out = String::new();
    for ((playbook, target, step, metric, labels), values) in &series {
        let (min, max) = bounds(values);
        let last = values.last().copied().unwrap_or_default();
        let line = format!(
            "{step}.{metric}{} on {target} ({playbook}): {}  min {} max {} last {} ({} values)",
            labels_text(labels),
            sparkline(values),
            number(min),
            number(max),
            number(last),
            values.len()
        );
        out.push_str(&for_terminal_line(&line));
        out.push('\n');
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = points
        .iter()
        .map(|point| {
            vec![
                stamp(point.started_ms),
                point.target.clone(),
                format!("{}.{}", point.step, point.metric),
                labels_text(&point.labels),
                number(point.value),
            ]
        })
        .map(|row| {
            row.into_iter()
                .map(|c| for_terminal_line(&c).into_owned())
                .collect()
        })
        .collect();
    out.push_str(&table(
        &["TIME", "TARGET", "METRIC", "LABELS", "VALUE"],
        &rows,
    ));
    out
}

/// `{datname=app,state=idle}`, or nothing for no labels.
fn labels_text(labels: &str) -> String {
    let map: BTreeMap<String, String> = serde_json::from_str(labels).unwrap_or_default();
    if map.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", pairs.join(","))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A number as people read it: integers without a fraction.
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

fn bounds(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        })
}

/// How many of the latest values a sparkline shows: a terminal line's worth.
const SPARK_WIDTH: usize = 60;

/// The latest values as bars `▁`…`█`, scaled from their minimum to their maximum (all `▄`
/// when they are all equal).
pub(super) fn sparkline(values: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let shown = &values[values.len().saturating_sub(SPARK_WIDTH)..];
    let (min, max) = bounds(shown);
    shown
        .iter()
        .map(|value| {
            if max <= min {
                return BARS[3];
            }
            let level = ((value - min) / (max - min) * 7.0).round();
            BARS[(level as usize).min(7)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_spans_the_minimum_to_the_maximum() {
        assert_eq!(
            sparkline(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]),
            "▁▂▃▄▅▆▇█"
        );
        assert_eq!(sparkline(&[5.0, 5.0]), "▄▄");
        assert_eq!(sparkline(&[]), "");
        assert_eq!(sparkline(&vec![1.0; 100]).chars().count(), SPARK_WIDTH);
    }

    #[test]
    fn csv_quotes_what_needs_it_and_doubles_quotes() {
        let text = csv(
            &["a", "b"],
            [
                vec!["x, y".to_owned(), "say \"hi\"".to_owned()],
                vec![" lead".to_owned(), "plain".to_owned()],
            ]
            .into_iter(),
        );
        assert_eq!(
            text,
            "a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\r\n\" lead\",plain\r\n"
        );
    }
}
