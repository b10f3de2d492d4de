//! `history` as templates and expressions see it: an object whose methods are the history
//! functions (`crate::history::recall`) over the past the store gave the run, at the run's
//! start, with this run's values as its steps read them.
//!
//! Too little history is a shortfall the object records, and the value it gives is none (so
//! a comparison with it is false, by `expr::compare`'s NULL rule, never a type error). The
//! record is what decides: [`History::deciding`] evaluates a condition and, when a history
//! function came up short on the way, the condition is undecided — whatever it gave, so
//! `not (history.change(…) > 5)` does not hold either, and an error on the none (`none * 2`)
//! is no error. No caller looks for the shortfall in a message.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use minijinja::value::{Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};

use crate::count::count_usize;
use crate::duration::Duration;
use crate::expr::{Condition, Failure};
use crate::history::{Function, Moment, Past, Recalled};
use crate::outputs::record::MetricRecord;
use crate::playbook::Step;

/// What a `when` or an `assess` condition came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Holds,
    DoesNotHold,
    /// A history function it read had too little history: `samples` found. It does not hold.
    Undecided {
        samples: usize,
    },
}

impl Decision {
    pub fn held(self) -> bool {
        self == Decision::Holds
    }

    /// Why the condition could not be decided, as reports say it.
    pub fn shortfall(self) -> Option<String> {
        match self {
            Decision::Undecided { samples } => Some(not_enough_history(samples)),
            _ => None,
        }
    }
}

/// `not enough history yet (3 samples)`.
pub fn not_enough_history(samples: usize) -> String {
    format!(
        "not enough history yet ({})",
        count_usize(samples, "sample")
    )
}

/// The `history` of a run.
#[derive(Debug)]
pub struct History {
    past: Past,
    /// The run's start, in milliseconds since the Unix epoch: the store records the run at
    /// that moment too, so windows are measured between runs' starts.
    now_ms: i64,
    /// This run's values, per `step.metric`, as its steps read them.
    current: Mutex<BTreeMap<String, f64>>,
    /// The samples found by the first function that came up short, since the last decision
    /// began.
    short: Mutex<Option<usize>>,
}

impl History {
    pub fn new(past: Past, now: SystemTime) -> History {
        let since_epoch = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        History {
            past,
            now_ms: i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX),
            current: Mutex::default(),
            short: Mutex::default(),
        }
    }

    /// Remembers the values `step` read of its unlabelled metrics: the one value each, when it
    /// read exactly one (validation lets `history.*` name only unlabelled metrics).
    pub fn read(&self, step: &Step, metrics: &[MetricRecord]) {
        let mut current = locked(&self.current);
        for metric in step.metrics.iter().filter(|m| m.labels.is_empty()) {
            let mut values = metrics.iter().filter(|r| r.name == metric.column);
            if let (Some(record), None) = (values.next(), values.next()) {
                current.insert(format!("{}.{}", step.id, metric.column), record.value);
            }
        }
    }

    /// How `condition` comes out in `ctx`, whose `history` is this one.
    pub fn deciding(&self, condition: &Condition<'_>, ctx: &Value) -> Result<Decision, Failure> {
        *locked(&self.short) = None;
        let held = condition.holds(ctx);
        if let Some(samples) = *locked(&self.short) {
            return Ok(Decision::Undecided { samples });
        }
        Ok(if held? {
            Decision::Holds
        } else {
            Decision::DoesNotHold
        })
    }

    /// `history.<method>(args…)`.
    fn answer(&self, method: &str, args: &[Value]) -> Result<Value, Error> {
        let Some(function) = Function::named(method) else {
            let known: Vec<String> = Function::ALL.iter().map(|f| f.signature()).collect();
            return Err(Error::new(
                ErrorKind::UnknownMethod,
                format!(
                    "`history` has no function `{method}` (it has {})",
                    known.join(", ")
                ),
            ));
        };
        let wrong = |why: &str| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("`{}`: {why}", function.signature()),
            )
        };
        let arity = if function.takes_window() { 2 } else { 1 };
        if args.len() != arity {
            return Err(wrong(&format!(
                "takes {} arguments, not {}",
                arity,
                args.len()
            )));
        }
        let metric = args[0]
            .as_str()
            .ok_or_else(|| wrong("the metric is a text such as 'overview.idle'"))?;
        let window_ms = match args.get(1) {
            None => 0,
            Some(window) => window_ms(window).map_err(|why| wrong(&why))?,
        };
        let moment = Moment {
            series: self.past.series(metric),
            now_ms: self.now_ms,
            current: locked(&self.current).get(metric).copied(),
        };
        Ok(match moment.recall(function, window_ms) {
            Recalled::Value(value) => number(value),
            Recalled::Short { samples } => {
                locked(&self.short).get_or_insert(samples);
                Value::from(())
            }
        })
    }
}

impl Object for History {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call_method(
        self: &Arc<Self>,
        _: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        self.answer(method, args)
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("history")
    }
}

/// A window: a duration literal (`'1h'`) or a duration param.
fn window_ms(window: &Value) -> Result<i64, String> {
    let duration = match (Duration::from_value(window), window.as_str()) {
        (Some(duration), _) => duration,
        (None, Some(text)) => text.parse::<Duration>().map_err(|e| e.to_string())?,
        (None, None) => {
            return Err(format!(
                "the window is a duration such as '1h', not `{window}`"
            ));
        }
    };
    if duration.as_micros() <= 0 {
        return Err(format!("the window `{duration}` must be longer than zero"));
    }
    Ok(duration.as_micros() / 1000)
}

/// A whole number as an integer (a count's change reads `12`, not `12.0`).
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 2f64.powi(53) {
        Value::from(value as i64)
    } else {
        Value::from(value)
    }
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
