//! The history functions of expressions (`history.previous(…)`, `history.change(…)`, …), as
//! arithmetic over a metric's samples: what each takes, and what it gives or why it cannot.
//!
//! The rules a DBA reads in the README live here, in one place. A window is `[now − window,
//! now]`, both ends included, so a run exactly one window ago counts. "This run's value" is the
//! metric as this run read it, when its step has run and read one value; it belongs to the
//! window (the last 7 days include now) for `avg` and `max`, and it is where `change` ends;
//! before its step has run, `change` ends at the latest earlier value. Too little history is
//! not a number: it is [`Recalled::Short`] with the samples found, which the expression sees
//! as a condition that does not hold.

use super::past::Sample;

/// A function of `history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// The latest earlier value.
    Previous,
    /// This run's value minus the oldest value within the window.
    Change,
    /// The average of the values within the window, this run's included.
    Avg,
    /// The greatest value within the window, this run's included.
    Max,
}

impl Function {
    pub const ALL: [Function; 4] = [
        Function::Previous,
        Function::Change,
        Function::Avg,
        Function::Max,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Function::Previous => "previous",
            Function::Change => "change",
            Function::Avg => "avg",
            Function::Max => "max",
        }
    }

    pub fn named(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether it takes a window after the metric.
    pub fn takes_window(self) -> bool {
        self != Function::Previous
    }

    /// How it is called, for messages: `history.change(metric, window)`.
    pub fn signature(self) -> String {
        let window = if self.takes_window() { ", window" } else { "" };
        format!("history.{}(metric{window})", self.name())
    }
}

/// What a history function found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Recalled {
    Value(f64),
    /// Too little history to tell: `samples` earlier values were found (in the window, for
    /// a function that takes one).
    Short {
        samples: usize,
    },
}

/// What a function reads: a metric's earlier samples (oldest first), the moment, this run's
/// value.
#[derive(Debug, Clone, Copy)]
pub struct Moment<'a> {
    pub series: &'a [Sample],
    /// Now, in milliseconds since the Unix epoch (the engine's clock).
    pub now_ms: i64,
    /// The metric as this run read it, if its step has run and read one value.
    pub current: Option<f64>,
}

impl Moment<'_> {
    /// `function` over this moment; `window_ms` for the functions that take one.
    pub fn recall(&self, function: Function, window_ms: i64) -> Recalled {
        let earlier = self.earlier();
        match function {
            Function::Previous => match earlier.last() {
                Some(sample) => Recalled::Value(sample.value),
                None => Recalled::Short { samples: 0 },
            },
            Function::Change => {
                let window = self.within(earlier, window_ms);
                let (Some(start), Some(end)) = (
                    window.first(),
                    self.current.or(window.last().map(|s| s.value)),
                ) else {
                    return Recalled::Short { samples: 0 };
                };
                // Without this run's value the change is between two earlier samples.
                if self.current.is_none() && window.len() < 2 {
                    return Recalled::Short {
                        samples: window.len(),
                    };
                }
                Recalled::Value(end - start.value)
            }
            Function::Avg | Function::Max => {
                let window = self.within(earlier, window_ms);
                if window.is_empty() {
                    return Recalled::Short { samples: 0 };
                }
                let values = window.iter().map(|s| s.value).chain(self.current);
                Recalled::Value(if function == Function::Avg {
                    let count = window.len() + usize::from(self.current.is_some());
                    values.sum::<f64>() / count as f64
                } else {
                    values.fold(f64::NEG_INFINITY, f64::max)
                })
            }
        }
    }

    /// The samples taken before now (a shared store's other hosts may run ahead of this
    /// clock: their future is not history).
    fn earlier(&self) -> &[Sample] {
        let end = self.series.partition_point(|s| s.at_ms <= self.now_ms);
        &self.series[..end]
    }

    /// The samples of `earlier` within `[now − window, now]`.
    fn within<'s>(&self, earlier: &'s [Sample], window_ms: i64) -> &'s [Sample] {
        let from = self.now_ms.saturating_sub(window_ms);
        &earlier[earlier.partition_point(|s| s.at_ms < from)..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 10_000_000;
    const HOUR: i64 = 3_600_000;

    fn samples(points: &[(i64, f64)]) -> Vec<Sample> {
        points
            .iter()
            .map(|&(ago, value)| Sample {
                at_ms: NOW - ago,
                value,
            })
            .collect()
    }

    fn recall(
        series: &[Sample],
        current: Option<f64>,
        function: Function,
        window: i64,
    ) -> Recalled {
        Moment {
            series,
            now_ms: NOW,
            current,
        }
        .recall(function, window)
    }

    #[test]
    fn each_function_over_known_samples() {
        // Three hours ago 10, two hours ago 20, an hour ago exactly 30, half an hour ago 40.
        let series = samples(&[
            (3 * HOUR, 10.0),
            (2 * HOUR, 20.0),
            (HOUR, 30.0),
            (HOUR / 2, 40.0),
        ]);
        let value = |function, current, window| recall(&series, current, function, window);
        assert_eq!(
            value(Function::Previous, Some(99.0), 0),
            Recalled::Value(40.0)
        );
        // The sample exactly at now − window is in the window.
        assert_eq!(
            value(Function::Change, Some(55.0), HOUR),
            Recalled::Value(25.0)
        );
        assert_eq!(value(Function::Change, None, HOUR), Recalled::Value(10.0));
        assert_eq!(
            value(Function::Change, Some(55.0), HOUR - 1),
            Recalled::Value(15.0)
        );
        assert_eq!(
            value(Function::Avg, Some(50.0), HOUR),
            Recalled::Value(40.0)
        );
        assert_eq!(value(Function::Avg, None, 2 * HOUR), Recalled::Value(30.0));
        assert_eq!(
            value(Function::Max, Some(5.0), 4 * HOUR),
            Recalled::Value(40.0)
        );
        assert_eq!(
            value(Function::Max, Some(45.0), HOUR),
            Recalled::Value(45.0)
        );
    }

    #[test]
    fn too_little_history_counts_what_it_found() {
        let short = |samples| Recalled::Short { samples };
        for function in Function::ALL {
            assert_eq!(
                recall(&[], Some(3.0), function, HOUR),
                short(0),
                "{function:?}"
            );
        }
        let one = samples(&[(HOUR / 2, 7.0)]);
        assert_eq!(recall(&one, None, Function::Change, HOUR), short(1));
        assert_eq!(
            recall(&one, Some(9.0), Function::Change, HOUR),
            Recalled::Value(2.0)
        );
        assert_eq!(
            recall(&one, None, Function::Avg, HOUR),
            Recalled::Value(7.0)
        );
        // Outside the window, a sample is no history of it.
        let old = samples(&[(2 * HOUR, 7.0)]);
        assert_eq!(recall(&old, Some(9.0), Function::Max, HOUR), short(0));
        assert_eq!(
            recall(&old, None, Function::Previous, 0),
            Recalled::Value(7.0)
        );
        // A sample after now is not an earlier one.
        let future = samples(&[(-1, 7.0)]);
        assert_eq!(recall(&future, None, Function::Previous, 0), short(0));
    }

    #[test]
    fn functions_are_known_by_name() {
        for function in Function::ALL {
            assert_eq!(Function::named(function.name()), Some(function));
        }
        assert_eq!(Function::named("average"), None);
        assert_eq!(
            Function::Change.signature(),
            "history.change(metric, window)"
        );
        assert_eq!(Function::Previous.signature(), "history.previous(metric)");
    }
}
