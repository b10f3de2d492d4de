//! `runbook history`: the runs a store remembers, or a metric's values over time, read-only —
//! it never creates a store, and says which one it looked at when there is none.

use std::io::Write as _;
use std::time::SystemTime;

use super::render::{self, Answer};
use super::store::{Access, Filter, Location, Store, epoch_ms};
use crate::cli::HistoryQuery;
use crate::exit;
use crate::terminal_text::for_terminal;

/// How many runs are listed when neither `--since` nor `--limit` says.
const DEFAULT_LIMIT: u64 = 50;

/// Exit code when the store cannot be read.
const UNREADABLE: u8 = 1;

pub fn history(query: &HistoryQuery) -> u8 {
    let filter = match filter(query, SystemTime::now()) {
        Ok(filter) => filter,
        Err(usage) => {
            eprintln!("error: {}", for_terminal(&usage));
            return exit::USAGE;
        }
    };
    let location = match Location::of(query.history.as_deref()) {
        Ok(location) => location,
        Err(error) => {
            eprintln!("error: {error}");
            return UNREADABLE;
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let answer = match runtime {
        Ok(runtime) => runtime.block_on(ask(&location, &filter)),
        Err(error) => Err(format!("cannot start the async runtime: {error}")),
    };
    let (store, answer) = match answer {
        Ok(answered) => answered,
        Err(error) => {
            eprintln!("error: {}", for_terminal(&error));
            return UNREADABLE;
        }
    };
    if answer.is_empty() {
        let what = if answer.is_series() {
            "no metric values"
        } else {
            "no runs"
        };
        let filtered = filter.playbook.is_some()
            || filter.target.is_some()
            || filter.since_ms.is_some()
            || answer.is_series();
        let matching = if filtered { " match" } else { "" };
        let verb = if filtered { "" } else { " yet" };
        eprintln!(
            "{}",
            for_terminal(&format!(
                "{what}{matching} in the history store `{store}`{verb}"
            ))
        );
    }
    let text = render::render(&answer, query.format);
    let mut out = std::io::stdout().lock();
    // A reader that stops early (`| head`) is no failure.
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    exit::OK
}

/// The store's name and its answer.
async fn ask(location: &Location, filter: &Filter) -> Result<(String, Answer), String> {
    let mut store = Store::open(location, Access::Read)
        .await
        .map_err(|error| error.to_string())?;
    let name = store.name();
    let answer = if filter.step.is_some() || filter.metric.is_some() {
        store.points(filter).await.map(Answer::Points)
    } else {
        store.runs(filter).await.map(Answer::Runs)
    };
    store.close().await;
    answer
        .map(|answer| (name, answer))
        .map_err(|error| error.to_string())
}

/// The store's question for `query`, asked at `now`; a usage error when its parts disagree.
fn filter(query: &HistoryQuery, now: SystemTime) -> Result<Filter, String> {
    let (step, metric) = match (&query.step, query.metric.as_deref()) {
        (step, Some(metric)) => match metric.split_once('.') {
            Some((of, _)) if step.as_deref().is_some_and(|step| step != of) => {
                return Err(format!(
                    "`--metric {metric}` is a metric of step `{of}`, but `--step` says `{}`",
                    step.as_deref().unwrap_or_default()
                ));
            }
            Some((of, name)) if !of.is_empty() && !name.is_empty() => {
                (Some(of.to_owned()), Some(name.to_owned()))
            }
            Some(_) => {
                return Err(format!(
                    "`--metric {metric}`: give `NAME` or `STEP.NAME`, e.g. `overview.idle`"
                ));
            }
            None => (step.clone(), Some(metric.to_owned())),
        },
        (step, None) => (step.clone(), None),
    };
    let since_ms = query.since.map(|since| {
        epoch_ms(
            now.checked_sub(since.as_std())
                .unwrap_or(SystemTime::UNIX_EPOCH),
        )
    });
    let limit = query
        .limit
        .or_else(|| since_ms.is_none().then_some(DEFAULT_LIMIT));
    Ok(Filter {
        playbook: query.playbook.clone(),
        target: query.target.clone(),
        since_ms,
        limit,
        step,
        metric,
    })
}
