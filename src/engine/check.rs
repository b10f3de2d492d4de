//! Running a query: a check (or a preview, or an action's SQL) sent through the target, its
//! rows streamed. Per-row assessments are evaluated while the rows stream, so a result of
//! millions of rows is judged without being held: only the first `KEPT_ROWS` are kept.

use std::collections::BTreeMap;

use minijinja::Value;

use super::history::{Decision, History};
use super::visibility::Read;
use super::{Engine, Finished, KEPT_PIDS, KEPT_ROWS, RunError, StepError, failed};
use crate::expr::Condition;
use crate::outputs::record::StepRecord;
use crate::playbook::{Assessment, Scope as AssessScope, Step};
use crate::sql;
use crate::target::rows::Columns;
use crate::target::{Limits, Row, Target, Wrap};

/// A query's rows as the engine keeps them.
pub(super) struct Queried {
    pub columns: Columns,
    pub kept: Vec<Row>,
    /// Per assessment (by index): the rows a per-row condition held for.
    pub matches: Vec<RowMatches>,
    pub row_count: u64,
    /// The command tags' count (see `Summary::rows_affected`).
    pub rows_affected: u64,
}

/// Per-row assessment results: how many rows held, the first that did, and the pids of the
/// first `KEPT_PIDS` that did; the samples found where too little history left a row
/// undecided (the first such row's).
#[derive(Default, Clone)]
pub(super) struct RowMatches {
    pub count: u64,
    pub first: Option<BTreeMap<String, Value>>,
    pub pids: Vec<i64>,
    pub short: Option<usize>,
}

impl Engine<'_> {
    pub(super) async fn check(
        &mut self,
        step: &Step,
        sql: &str,
        mut record: StepRecord,
        target: &mut impl Target,
    ) -> Finished {
        let ctx = self.scope.value();
        let rendered = match self.scope.sql(&format!("{}.check", step.id), sql, &ctx) {
            Ok(rendered) => rendered,
            Err(error) => return failed(record, &error).into(),
        };
        record.sql = Some(rendered.clone());
        if let Err(error) = self.judged_read(&read_of(step, "check"), &rendered) {
            return failed(record, &error).into();
        }
        let result = self
            .query(target, step, &step.assess, &rendered, Wrap::ReadOnly)
            .await;
        self.stop_if_escaped(step, &result);
        let metrics = match &result {
            Ok(queried) => self.metrics(step, queried),
            Err(_) => Vec::new(),
        };
        // Before the assessments: `history.change(…)` of this step ends at this run's value.
        self.scope.history().read(step, &metrics);
        let mut finished = self.assessed(step, record, result);
        finished.record.metrics = metrics;
        finished
    }

    /// A read-only statement that ended its transaction stops the run: nothing after it can
    /// be trusted to have run read-only.
    pub(super) fn stop_if_escaped(&mut self, step: &Step, result: &Result<Queried, StepError>) {
        if let Err(error) = result
            && error.escaped()
            && self.ending.error.is_none()
        {
            self.ending.error = Some(RunError::Escaped {
                step: step.id.clone(),
            });
        }
    }

    /// Runs a statement under the step's limits, keeping rows and evaluating `assess`'s
    /// per-row conditions as they stream.
    pub(super) async fn query(
        &self,
        target: &mut impl Target,
        step: &Step,
        assess: &[Assessment],
        sql: &str,
        wrap: Wrap,
    ) -> Result<Queried, StepError> {
        self.query_with(target, assess, sql, wrap, self.limits(step))
            .await
    }

    /// [`Engine::query`] under `limits`.
    pub(super) async fn query_with(
        &self,
        target: &mut impl Target,
        assess: &[Assessment],
        sql: &str,
        wrap: Wrap,
        limits: Limits,
    ) -> Result<Queried, StepError> {
        let per_row = assess
            .iter()
            .enumerate()
            .filter(|(_, a)| a.scope == AssessScope::Row)
            .map(|(i, a)| {
                let condition = self.scope.condition(&a.condition);
                Ok((
                    i,
                    condition.map_err(|f| StepError::assessment(&a.condition, f))?,
                ))
            })
            .collect::<Result<_, StepError>>()?;
        let judge = RowJudge {
            per_row,
            names: self.scope.names(),
            assess,
            history: self.scope.history(),
        };
        self.not_interrupted().await?;
        let mut queried = Queried {
            columns: Columns::default(),
            kept: Vec::new(),
            matches: vec![RowMatches::default(); assess.len()],
            row_count: 0,
            rows_affected: 0,
        };
        let mut row_error = None;
        let summary = target
            .run(sql, wrap, limits, |columns, row, new_set| {
                if new_set {
                    queried.columns = columns.clone();
                    queried.kept.clear();
                    queried.matches = vec![RowMatches::default(); assess.len()];
                }
                if let Err(error) = judge.row(columns, &row, &mut queried.matches) {
                    let message = error.to_string();
                    row_error = Some(error);
                    return Err(message);
                }
                if queried.kept.len() < KEPT_ROWS {
                    queried.kept.push(row);
                }
                Ok(())
            })
            .await;
        // The server's error wins: a row the callback refused ends as an error carrying the
        // assessment's words, but a timeout or a lost connection after it is what happened.
        match (summary, row_error) {
            (Err(source), _) => Err(StepError::Query { source }),
            (Ok(_), Some(error)) => Err(error),
            (Ok(summary), None) => {
                queried.row_count = summary.row_count;
                queried.rows_affected = summary.rows_affected;
                Ok(queried)
            }
        }
    }

    /// Lets a signal that came while the template rendered (rendering holds the thread) be
    /// heard, before anything is sent.
    async fn not_interrupted(&self) -> Result<(), StepError> {
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        if self.interrupted() {
            let by = self.interruption();
            return Err(StepError::Interrupted { by });
        }
        Ok(())
    }

    pub(super) fn limits(&self, step: &Step) -> Limits {
        let statement_timeout = step.timeout.unwrap_or(self.playbook.timeout).as_std();
        Limits {
            statement_timeout,
            lock_timeout: statement_timeout.min(std::time::Duration::from_secs(10)),
        }
    }
}

/// The read-only SQL of `step` (its check, or its preview), for [`Engine::judged_read`].
pub(super) fn read_of<'s>(step: &'s Step, what: &'static str) -> Read<'s> {
    Read {
        what,
        functions: &step.functions,
        at: step.sql_at.as_deref(),
        sees: step.sees,
    }
}

/// Judges the exact text about to be sent as `role`; a finding names `at`, the `file:line` of
/// the template that rendered it. What fails is never sent.
pub(super) fn judged_at(
    what: &'static str,
    rendered: &str,
    role: sql::Role<'_>,
    at: Option<&str>,
) -> Result<sql::Judged, StepError> {
    sql::judge(rendered, role).map_err(|findings| StepError::NotSent {
        what,
        findings,
        at: at.map(str::to_owned),
    })
}

/// The per-row conditions of a query, evaluated on each row as it streams.
struct RowJudge<'a, 'e> {
    per_row: Vec<(usize, Condition<'e>)>,
    /// `params`, `facts`, `steps`, `history`, which a row's columns extend.
    names: BTreeMap<String, Value>,
    assess: &'a [Assessment],
    history: &'e History,
}

impl RowJudge<'_, '_> {
    fn row(
        &self,
        columns: &Columns,
        row: &Row,
        matches: &mut [RowMatches],
    ) -> Result<(), StepError> {
        if self.per_row.is_empty() {
            return Ok(());
        }
        let values = columns.row_value(row);
        let pid = pid_of(columns, row);
        let mut scope = self.names.clone();
        scope.extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
        let ctx = Value::from(scope);
        for (i, condition) in &self.per_row {
            let decision = self
                .history
                .deciding(condition, &ctx)
                .map_err(|failure| StepError::assessment(&self.assess[*i].condition, failure))?;
            let matches = &mut matches[*i];
            match decision {
                Decision::Holds => {
                    matches.count += 1;
                    matches.first.get_or_insert_with(|| values.clone());
                    if matches.pids.len() < KEPT_PIDS {
                        matches.pids.extend(pid);
                    }
                }
                Decision::DoesNotHold => {}
                Decision::Undecided { samples } => {
                    matches.short.get_or_insert(samples);
                }
            }
        }
        Ok(())
    }
}

/// The session a row is about: its `pid` column, when it has one holding an integer.
pub(super) fn pid_of(columns: &Columns, row: &Row) -> Option<i64> {
    let (index, _) = columns.find("pid")?;
    row.get(index)?.as_deref()?.trim().parse().ok()
}
