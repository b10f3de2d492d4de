//! The past of one playbook on one target, as the history store gave it: for each declared
//! metric (`step.metric`), the values of earlier runs, oldest first.

use std::collections::BTreeMap;

/// One value of a declared metric in an earlier run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// When the run that read it started, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub value: f64,
}

/// Earlier runs' values of the declared metrics, per `step.metric`, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Past {
    series: BTreeMap<String, Vec<Sample>>,
}

impl Past {
    /// Adds a value of `metric` (`step.metric`), kept in time order whatever order they come in.
    pub fn push(&mut self, metric: &str, sample: Sample) {
        let series = self.series.entry(metric.to_owned()).or_default();
        let at = series.partition_point(|s| s.at_ms <= sample.at_ms);
        series.insert(at, sample);
    }

    /// The values of `metric` (`step.metric`), oldest first; none when it has no history.
    pub fn series(&self, metric: &str) -> &[Sample] {
        self.series.get(metric).map_or(&[], Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_kept_oldest_first_per_metric() {
        let mut past = Past::default();
        for (metric, at_ms, value) in [("overview.idle", 20, 2.0), ("overview.idle", 10, 1.0)] {
            past.push(metric, Sample { at_ms, value });
        }
        past.push(
            "overview.total",
            Sample {
                at_ms: 5,
                value: 9.0,
            },
        );
        let idle: Vec<f64> = past
            .series("overview.idle")
            .iter()
            .map(|s| s.value)
            .collect();
        assert_eq!(idle, [1.0, 2.0]);
        assert_eq!(past.series("overview.total").len(), 1);
        assert!(past.series("overview.active").is_empty());
    }
}
