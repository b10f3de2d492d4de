//! Running a checked playbook against a session, step by step, and telling listeners.
//!
//! The executor decides and runs; it does not report. Each step ends in a `StepRecord` sent
//! as an event, and the report, the progress display and (for actions) the journal are
//! listeners that never re-derive what happened. Side effects sit behind the `Session` and the
//! `Approver`; a dry run takes the same path and only the approver's answer differs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration as StdDuration, Instant};

use minijinja::{Environment, Value};

use crate::approval::{Approver, Decision, Preview, Request, StepChoice};
use crate::gather::Facts;
use crate::journal::{Entry, Journal};
use crate::outcome::{
    ApprovalRecord, AssessmentRecord, ErrorRecord, GuardRecord, Mode, Status, StepRecord,
};
use crate::playbook::{
    Action, Assessment, MaxRows, OnError, Playbook, Scope, Severity, Step, StepKind, Transaction,
};
use crate::rows::Columns;
use crate::target::{Limits, QueryError, Session, Wrap};
use crate::template::{self, TemplateKind};

/// Rows of a step kept for later steps' templates (`steps.x.rows`); beyond this a step's rows
/// are counted, not kept, so memory does not grow with the result.
pub const KEPT_ROWS: usize = 10_000;

/// Namespace of the session advisory lock that keeps two responders from acting at once
/// (`runb` in ASCII); the second key is `hashtext(<playbook name>)`.
const LOCK_NAMESPACE: i32 = 0x7275_6e62;

/// What the executor tells its listeners.
pub enum Event<'a> {
    StepStarted {
        index: usize,
        total: usize,
        step: &'a Step,
        title: &'a str,
    },
    /// The operator is about to be asked (a progress display must get out of the way).
    Asking,
    StepFinished {
        index: usize,
        record: &'a StepRecord,
    },
}

pub trait Listener {
    fn on(&mut self, event: &Event);
}

/// How the run goes, from the command line.
pub struct Settings {
    pub mode: Mode,
    /// `--only`: the steps to run; others are skipped.
    pub only: Option<Vec<String>>,
    /// Rows of each step shown in the report.
    pub report_rows: usize,
    /// `--step`: ask before every step.
    pub step_through: bool,
    /// Who runs it, for the journal.
    pub operator: String,
    pub target: String,
    /// Set by Ctrl-C: stop at the next opportunity.
    pub interrupted: Arc<AtomicBool>,
}

/// How the run ended, besides its step records.
#[derive(Debug, Default)]
pub struct Ending {
    /// The operator stopped the run (abort, Ctrl-C).
    pub stopped: bool,
    /// An action was refused (not approved, `max_rows`, another responder): exit 4.
    pub refused: bool,
    /// What the report must say about the run as a whole (e.g. a reconnection).
    pub notes: Vec<String>,
    /// The connection was lost or a step aborted the run.
    pub error: Option<String>,
}

pub struct Executor<'p> {
    playbook: &'p Playbook,
    settings: Settings,
    env: Environment<'static>,
    params: Value,
    facts: &'p Facts,
    facts_value: Value,
    steps: BTreeMap<String, Value>,
    /// Rows and first row of the step being finished, for `remember`.
    pending: Option<(Value, BTreeMap<String, Value>)>,
    journal: Option<Journal>,
    /// Whether this run holds the playbook's advisory lock.
    locked: bool,
    /// The step whose connection was lost, while the loss is not yet explained.
    lost: Option<String>,
}

/// A query's rows as the executor keeps them.
struct Collected {
    columns: Columns,
    kept: Vec<Vec<Option<String>>>,
    matches: Vec<RowMatches>,
}

/// Per-row assessment results: how many rows held, and the first that did.
#[derive(Default, Clone)]
struct RowMatches {
    count: u64,
    first: Option<BTreeMap<String, Value>>,
}

impl<'p> Executor<'p> {
    pub fn new(
        playbook: &'p Playbook,
        settings: Settings,
        params: Value,
        facts: &'p Facts,
        journal: Option<Journal>,
    ) -> Executor<'p> {
        let facts_value = Value::from(minijinja::value::Serde(&facts.json));
        Executor {
            playbook,
            settings,
            env: template::environment(),
            params,
            facts,
            facts_value,
            steps: BTreeMap::new(),
            pending: None,
            journal,
            locked: false,
            lost: None,
        }
    }

    /// Runs every step in order; returns their records and how the run ended.
    pub async fn run(
        &mut self,
        session: &mut Session,
        approver: &mut dyn Approver,
        listeners: &mut [&mut dyn Listener],
    ) -> (Vec<StepRecord>, Ending) {
        let mut records = Vec::new();
        let mut ending = Ending::default();
        let total = self.playbook.steps.len();
        for (index, step) in self.playbook.steps.iter().enumerate() {
            let title = self.title(step);
            for listener in listeners.iter_mut() {
                listener.on(&Event::StepStarted {
                    index,
                    total,
                    step,
                    title: &title,
                });
            }
            let started = Instant::now();
            if self.interrupted() {
                ending.stopped = true;
            }
            if !session.is_alive() && !ending.stopped {
                self.recover(session, &mut ending).await;
            }
            let mut record = if !session.is_alive() {
                not_run(step, &title, "the connection to the server was lost")
            } else if ending.stopped || ending.error.is_some() {
                not_run(step, &title, "the run stopped before this step")
            } else {
                match self.ask_before(step, &title, approver, listeners) {
                    StepChoice::Continue => {
                        self.step(step, &title, session, approver, listeners, &mut ending)
                            .await
                    }
                    StepChoice::Skip => skipped(step, &title, "skipped by the operator (`--step`)"),
                    StepChoice::Abort => {
                        ending.stopped = true;
                        not_run(step, &title, "aborted by the operator (`--step`)")
                    }
                }
            };
            record.duration_ms = elapsed_ms(started);
            if self.interrupted() && record.status == Status::Unknown {
                record.message = Some(
                    "interrupted by the operator (Ctrl-C); the query was cancelled".to_owned(),
                );
                ending.stopped = true;
            }
            if record.status == Status::Unknown
                && step.on_error == OnError::Abort
                && !ending.stopped
                && ending.error.is_none()
            {
                ending.error = Some(format!(
                    "step `{}` failed and has `on_error: abort`",
                    step.id
                ));
            }
            if let Some(error) = &record.error
                && !session.is_alive()
                && ending.error.is_none()
                && !ending.stopped
                && self.lost.is_none()
            {
                self.lost = Some(format!("step `{}`: {}", step.id, error.message));
            }
            self.remember(step, &record);
            for listener in listeners.iter_mut() {
                listener.on(&Event::StepFinished {
                    index,
                    record: &record,
                });
            }
            records.push(record);
        }
        if let Some(lost) = self.lost.take() {
            ending.error = Some(lost);
        }
        (records, ending)
    }

    /// After a lost connection: reconnect once, and go on only if the server restarted (its
    /// start time changed). The same start time means this run's own session was terminated
    /// from outside: the run stops there, as a DBA who killed it would expect. Actions are
    /// never retried: the step that failed stays failed.
    async fn recover(&mut self, session: &mut Session, ending: &mut Ending) {
        let Some(lost) = self.lost.take() else {
            return;
        };
        let before = self
            .facts
            .get("server_started")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let restarted = match session.reconnect().await {
            Ok(()) => {
                let mut started = None;
                let limits = Limits {
                    statement_timeout: StdDuration::from_secs(5),
                    lock_timeout: StdDuration::from_secs(1),
                };
                let sql = "SELECT pg_postmaster_start_time()::text";
                let query = session
                    .run(sql, Wrap::ReadOnly, limits, |_, row, _| {
                        started = row.into_iter().next().flatten();
                        Ok(())
                    })
                    .await;
                query.is_ok() && started.is_some() && started != before
            }
            Err(_) => false,
        };
        if restarted {
            self.locked = false;
            ending.notes.push(format!(
                "the connection was lost ({lost}); the server had restarted, so the run reconnected once and went on"
            ));
        } else {
            session.abandon();
            ending.error = Some(lost);
        }
    }

    fn interrupted(&self) -> bool {
        self.settings.interrupted.load(Ordering::SeqCst)
    }

    /// `--step`: continue, skip or abort before each step.
    fn ask_before(
        &self,
        step: &Step,
        title: &str,
        approver: &mut dyn Approver,
        listeners: &mut [&mut dyn Listener],
    ) -> StepChoice {
        if !self.settings.step_through {
            return StepChoice::Continue;
        }
        for listener in listeners.iter_mut() {
            listener.on(&Event::Asking);
        }
        approver.before_step(step, title)
    }

    async fn step(
        &mut self,
        step: &Step,
        title: &str,
        session: &mut Session,
        approver: &mut dyn Approver,
        listeners: &mut [&mut dyn Listener],
        ending: &mut Ending,
    ) -> StepRecord {
        let mut record = blank(step, title);
        if let Some(only) = &self.settings.only
            && !only.iter().any(|id| id == &step.id)
        {
            return skipped(step, title, "not selected with `--only`");
        }
        match self.guards(step, &mut record.guards) {
            Ok(true) => {}
            Ok(false) => {
                record.status = Status::Skipped;
                record.message = record
                    .guards
                    .iter()
                    .find(|g| !g.passed)
                    .map(|g| g.reason.clone());
                return record;
            }
            Err(message) => return failed(record, message, None),
        }
        match &step.kind {
            StepKind::Manual { text } => {
                let ctx = self.context(None);
                record.status = Status::Manual;
                record.manual = Some(self.render_text(&format!("{}.manual", step.id), text, &ctx));
                record
            }
            StepKind::Check { sql } => self.check(step, sql, record, session).await,
            StepKind::Action(action) => {
                let mut asked = Asked {
                    approver,
                    listeners,
                    ending,
                };
                self.action(step, action, record, session, &mut asked).await
            }
        }
    }

    async fn check(
        &mut self,
        step: &Step,
        sql: &str,
        mut record: StepRecord,
        session: &mut Session,
    ) -> StepRecord {
        let rendered =
            match self.render_sql(&format!("{}.check", step.id), sql, &self.context(None)) {
                Ok(rendered) => rendered,
                Err(message) => return failed(record, message, None),
            };
        record.sql = Some(rendered.clone());
        let result = self.query(step, &rendered, Wrap::ReadOnly, session).await;
        self.finish_query(step, record, result)
    }

    /// Runs a statement, keeping rows and evaluating per-row assessments as they stream.
    async fn query(
        &self,
        step: &Step,
        sql: &str,
        wrap: Wrap,
        session: &mut Session,
    ) -> Result<(Collected, u64), QueryError> {
        let per_row: Vec<(usize, minijinja::Expression<'_, '_>)> = step
            .assess
            .iter()
            .enumerate()
            .filter(|(_, a)| a.scope == Scope::Row)
            .filter_map(|(i, a)| {
                Some((
                    i,
                    self.env
                        .compile_expression_owned(a.condition.clone())
                        .ok()?,
                ))
            })
            .collect();
        let base = self.base();
        let mut collected = Collected {
            columns: Columns::default(),
            kept: Vec::new(),
            matches: vec![RowMatches::default(); step.assess.len()],
        };
        let mut row_error = None;
        let summary = session
            .run(sql, wrap, self.limits(step), |columns, row, new_set| {
                if new_set {
                    collected.columns = columns.clone();
                    collected.kept.clear();
                    collected.matches = vec![RowMatches::default(); step.assess.len()];
                }
                if !per_row.is_empty() {
                    let values = columns.row_value(&row);
                    let mut scope = base.clone();
                    scope.extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
                    let ctx = Value::from(scope);
                    for (i, expression) in &per_row {
                        match expression.eval(&ctx) {
                            Ok(held) if held.is_true() => {
                                let matches = &mut collected.matches[*i];
                                matches.count += 1;
                                if matches.first.is_none() {
                                    matches.first = Some(values.clone());
                                }
                            }
                            Ok(_) => {}
                            Err(error) => {
                                let message = format!(
                                    "assessment `{}`: {error:#}",
                                    step.assess[*i].condition
                                );
                                row_error = Some(message.clone());
                                return Err(message);
                            }
                        }
                    }
                }
                if collected.kept.len() < KEPT_ROWS {
                    collected.kept.push(row);
                }
                Ok(())
            })
            .await?;
        if let Some(message) = row_error {
            return Err(QueryError {
                message,
                sqlstate: None,
                detail: None,
                hint: None,
                connection_lost: false,
            });
        }
        Ok((collected, summary.row_count))
    }

    /// Records a query's result and assesses it.
    fn finish_query(
        &mut self,
        step: &Step,
        mut record: StepRecord,
        result: Result<(Collected, u64), QueryError>,
    ) -> StepRecord {
        let (collected, row_count) = match result {
            Ok(result) => result,
            Err(error) => {
                let record_error = error_record(&error);
                return failed(record, error.message, Some(record_error));
            }
        };
        record.columns = collected.columns.names();
        record.row_count = row_count;
        record.rows = collected
            .kept
            .iter()
            .take(self.settings.report_rows)
            .cloned()
            .collect();
        record.rows_truncated = (record.rows.len() as u64) < row_count;
        let rows_value = Value::from(
            collected
                .kept
                .iter()
                .map(|row| Value::from(collected.columns.row_value(row)))
                .collect::<Vec<_>>(),
        );
        let first_row = collected
            .kept
            .first()
            .map(|row| collected.columns.row_value(row))
            .unwrap_or_default();
        self.pending = Some((rows_value.clone(), first_row.clone()));
        let mut aggregate = first_row;
        aggregate.insert("row_count".to_owned(), Value::from(row_count));
        aggregate.insert("rows".to_owned(), rows_value.clone());
        let aggregate_ctx = merge(&self.context(None), &aggregate);
        let mut worst: Option<Severity> = None;
        for (index, assessment) in step.assess.iter().enumerate() {
            let evaluated = self.assess(
                step,
                index,
                assessment,
                &collected.matches[index],
                &aggregate_ctx,
                row_count,
            );
            match evaluated {
                Ok(result) => {
                    if result.held {
                        worst = worst.max(Some(assessment.severity));
                        if let Some(recommendation) = &result.recommendation {
                            record.recommendations.push(recommendation.clone());
                        }
                    }
                    record.assessments.push(result);
                }
                Err(message) => return failed(record, message, None),
            }
        }
        record.status = match worst {
            Some(Severity::Critical) => Status::Critical,
            Some(Severity::Warning) => Status::Warning,
            _ => Status::Ok,
        };
        let messages: Vec<String> = record
            .assessments
            .iter()
            .filter(|a| a.held && Some(severity_of(a.severity)) == worst)
            .filter_map(|a| a.message.clone())
            .collect();
        record.message = Some(if messages.is_empty() {
            format!("{row_count} row{}", if row_count == 1 { "" } else { "s" })
        } else {
            messages.join("; ")
        });
        record
    }

    fn assess(
        &self,
        step: &Step,
        index: usize,
        assessment: &Assessment,
        matches: &RowMatches,
        aggregate_ctx: &Value,
        row_count: u64,
    ) -> Result<AssessmentRecord, String> {
        let (held, matching_rows, ctx) = match assessment.scope {
            Scope::Row => {
                let mut values = matches.first.clone().unwrap_or_default();
                values.insert("row_count".to_owned(), Value::from(row_count));
                values.insert("matching_rows".to_owned(), Value::from(matches.count));
                (
                    matches.count > 0,
                    Some(matches.count),
                    merge(&self.context(None), &values),
                )
            }
            Scope::Aggregate => {
                let held = template::evaluate(&self.env, &assessment.condition, aggregate_ctx)
                    .map_err(|e| format!("assessment `{}`: {e:#}", assessment.condition))?;
                (held, None, aggregate_ctx.clone())
            }
        };
        let render = |what: &str, text: &Option<String>| {
            text.as_ref()
                .filter(|_| held)
                .map(|t| self.render_text(&format!("{}.assess.{index}.{what}", step.id), t, &ctx))
        };
        Ok(AssessmentRecord {
            severity: status_of(assessment.severity),
            condition: assessment.condition.clone(),
            held,
            matching_rows,
            message: render("message", &assessment.message),
            recommendation: render("recommendation", &assessment.recommendation),
        })
    }

    async fn action(
        &mut self,
        step: &Step,
        action: &Action,
        mut record: StepRecord,
        session: &mut Session,
        asked: &mut Asked<'_, '_>,
    ) -> StepRecord {
        let mut ctx = self.context(None);
        let mut preview = None;
        if let Some(preview_sql) = &action.preview {
            let rendered = match self.render_sql(&format!("{}.preview", step.id), preview_sql, &ctx)
            {
                Ok(rendered) => rendered,
                Err(message) => return failed(record, message, None),
            };
            let preview_step = Step {
                assess: Vec::new(),
                ..step.clone()
            };
            match self
                .query(&preview_step, &rendered, Wrap::ReadOnly, session)
                .await
            {
                Ok((collected, row_count)) => {
                    if row_count == 0 {
                        record.status = Status::Skipped;
                        record.message =
                            Some("the preview has no rows: nothing to act on".to_owned());
                        return record;
                    }
                    if row_count > KEPT_ROWS as u64 {
                        return refused(
                            record,
                            asked.ending,
                            format!(
                                "refused: the preview has {row_count} rows, more than the {KEPT_ROWS} an action can be shown and act on"
                            ),
                        );
                    }
                    let rows: Vec<Value> = collected
                        .kept
                        .iter()
                        .map(|r| Value::from(collected.columns.row_value(r)))
                        .collect();
                    let value = BTreeMap::from([
                        ("rows".to_owned(), Value::from(rows)),
                        ("row_count".to_owned(), Value::from(row_count)),
                    ]);
                    ctx = merge(
                        &ctx,
                        &BTreeMap::from([("preview".to_owned(), Value::from(value))]),
                    );
                    record.columns = collected.columns.names();
                    record.rows = collected
                        .kept
                        .iter()
                        .take(self.settings.report_rows)
                        .cloned()
                        .collect();
                    record.row_count = row_count;
                    record.rows_truncated = (record.rows.len() as u64) < row_count;
                    preview = Some((collected, row_count));
                }
                Err(error) => {
                    let detail = error_record(&error);
                    return failed(
                        record,
                        format!("preview failed: {}", error.message),
                        Some(detail),
                    );
                }
            }
        }
        let rendered = match self.render_sql(&format!("{}.action", step.id), &action.sql, &ctx) {
            Ok(rendered) => rendered,
            Err(message) => return failed(record, message, None),
        };
        record.sql = Some(rendered.clone());
        let allowed = action.max_rows.map(|limit| match limit {
            MaxRows::Count(n) => n,
            MaxRows::Percent(p) => ((self.client_connections() as f64) * p / 100.0).floor() as u64,
        });
        if let (Some(allowed), Some((_, row_count))) = (allowed, &preview)
            && *row_count > allowed
        {
            return refused(
                record,
                asked.ending,
                format!(
                    "refused: the preview has {row_count} rows, more than `max_rows` allows ({allowed})"
                ),
            );
        }
        if self.settings.mode == Mode::Live
            && let Err(reason) = self.lock(session).await
        {
            return refused(record, asked.ending, reason);
        }
        let preview_view = preview
            .as_ref()
            .map(|(collected, row_count)| (collected.columns.names(), collected, *row_count));
        let shown_rows: Vec<Vec<Option<String>>> = preview_view
            .as_ref()
            .map(|(_, collected, _)| {
                collected
                    .kept
                    .iter()
                    .take(self.settings.report_rows)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let request = Request {
            step,
            title: &record.title,
            sql: &rendered,
            preview: preview_view
                .as_ref()
                .map(|(columns, _, row_count)| Preview {
                    columns,
                    rows: &shown_rows,
                    row_count: *row_count,
                }),
            max_rows: allowed,
            approval: action.approval,
        };
        for listener in asked.listeners.iter_mut() {
            listener.on(&Event::Asking);
        }
        let decision = asked.approver.decide(&request, self.settings.mode);
        let preview_rows = preview.as_ref().map(|(_, n)| *n);
        record.approval = Some(self.approval_record(&decision, preview_rows));
        if !matches!(decision, Decision::DryRun)
            && let Err(error) = self.journal(step, &decision, &rendered, preview_rows)
        {
            return refused(
                record,
                asked.ending,
                format!("refused: {error}; the action was not run without its audit trail"),
            );
        }
        match decision {
            Decision::Approved { .. } => {}
            Decision::DryRun => {
                record.status = Status::Skipped;
                record.message = Some(match preview_rows {
                    Some(n) => {
                        format!("dry run: would have run the SQL below on the {n} preview rows")
                    }
                    None => "dry run: would have run the SQL below".to_owned(),
                });
                return record;
            }
            Decision::Skipped { reason } => {
                record.status = Status::Skipped;
                record.message = Some(reason);
                return record;
            }
            Decision::Refused { reason } => return refused(record, asked.ending, reason),
            Decision::Aborted { reason } => {
                asked.ending.stopped = true;
                record.status = Status::NotRun;
                record.message = Some(reason);
                return record;
            }
        }
        let wrap = match action.transaction {
            Transaction::Wrapped => Wrap::Transaction,
            Transaction::Autocommit => Wrap::Autocommit,
        };
        let result = self.query(step, &rendered, wrap, session).await;
        let (columns, rows, truncated) = (
            record.columns.clone(),
            record.rows.clone(),
            record.rows_truncated,
        );
        let mut record = self.finish_query(step, record, result);
        if record.status == Status::Unknown && record.columns.is_empty() {
            record.columns = columns;
            record.rows = rows;
            record.rows_truncated = truncated;
        }
        record
    }

    /// Takes the playbook's session advisory lock, once; says who holds it when it cannot.
    async fn lock(&mut self, session: &mut Session) -> Result<(), String> {
        if self.locked {
            return Ok(());
        }
        let name = crate::sql::literal::literal(&Value::from(self.playbook.name.as_str()))
            .map_err(|e| e.to_string())?;
        let limits = Limits {
            statement_timeout: StdDuration::from_secs(5),
            lock_timeout: StdDuration::from_secs(5),
        };
        let mut taken = false;
        session
            .run(
                &format!("SELECT pg_try_advisory_lock({LOCK_NAMESPACE}, hashtext({name}))"),
                Wrap::Autocommit,
                limits,
                |_, row, _| {
                    taken = row.first().cloned().flatten().as_deref() == Some("t");
                    Ok(())
                },
            )
            .await
            .map_err(|e| {
                format!(
                    "refused: cannot take the advisory lock of playbook `{}`: {}",
                    self.playbook.name, e.message
                )
            })?;
        if taken {
            self.locked = true;
            return Ok(());
        }
        let mut holder = String::from("an unknown session");
        let _ = session
            .run(
                &format!(
                    "SELECT l.pid, coalesce(a.application_name, '') FROM pg_locks AS l LEFT JOIN pg_stat_activity AS a ON a.pid = l.pid \
                     WHERE l.locktype = 'advisory' AND l.granted AND l.classid = {LOCK_NAMESPACE}::oid AND l.objid = hashtext({name})::oid AND l.objsubid = 2"
                ),
                Wrap::ReadOnly,
                limits,
                |_, row, _| {
                    let pid = row.first().cloned().flatten().unwrap_or_default();
                    let app = row.get(1).cloned().flatten().unwrap_or_default();
                    holder = format!("pid {pid} (application_name `{app}`)");
                    Ok(())
                },
            )
            .await;
        Err(format!(
            "refused: another run of playbook `{}` is acting on this server: {holder} holds its advisory lock",
            self.playbook.name
        ))
    }

    fn approval_record(&self, decision: &Decision, preview_rows: Option<u64>) -> ApprovalRecord {
        let (word, by, reason) = describe_decision(decision);
        ApprovalRecord {
            decision: word.to_owned(),
            by,
            operator: self.settings.operator.clone(),
            role: self.facts.text("current_user"),
            at: now(),
            reason,
            preview_rows,
        }
    }

    /// Appends the decision to the journal, on disk, before anything runs.
    fn journal(
        &mut self,
        step: &Step,
        decision: &Decision,
        sql: &str,
        preview_rows: Option<u64>,
    ) -> Result<(), String> {
        let Some(journal) = self.journal.as_mut() else {
            return Ok(());
        };
        let (word, by, reason) = describe_decision(decision);
        let entry = Entry {
            at: now(),
            playbook: self.playbook.name.clone(),
            step: step.id.clone(),
            decision: word.to_owned(),
            by,
            operator: self.settings.operator.clone(),
            role: self.facts.text("current_user"),
            target: self.settings.target.clone(),
            sql: sql.to_owned(),
            preview_rows,
            reason,
        };
        journal.append(&entry).map_err(|e| e.to_string())
    }

    fn client_connections(&self) -> i64 {
        self.facts.int("usable_connections").max(1)
    }

    /// `requires`, then `when`: `Ok(false)` skips the step; each decision is recorded.
    fn guards(&self, step: &Step, guards: &mut Vec<GuardRecord>) -> Result<bool, String> {
        let requires = &step.requires;
        let facts = self.facts;
        let mut push = |guard: String, passed: bool, reason: String| {
            guards.push(GuardRecord {
                guard,
                passed,
                reason,
            });
            passed
        };
        if let Some(version) = requires.server_version {
            let server = facts.int("server_version");
            let passed = server >= i64::from(version);
            let reason = format!("requires PostgreSQL {version} or later; the server is {server}");
            if !push(format!("server_version >= {version}"), passed, reason) {
                return Ok(false);
            }
        }
        if requires.superuser {
            let user = facts.text("current_user");
            let passed = facts.flag("superuser");
            let reason = if passed {
                format!("`{user}` is a superuser")
            } else {
                format!("requires a superuser; connected as `{user}`")
            };
            if !push("superuser".to_owned(), passed, reason) {
                return Ok(false);
            }
        }
        for relation in &requires.relations {
            let passed = facts.relation_exists(relation);
            let reason = if passed {
                format!("relation `{relation}` exists")
            } else {
                format!("relation `{relation}` does not exist")
            };
            if !push(format!("relation `{relation}`"), passed, reason) {
                return Ok(false);
            }
        }
        let installed = facts.extensions();
        for extension in &requires.extensions {
            let passed = installed.iter().any(|e| e == extension);
            let reason = if passed {
                format!("extension `{extension}` is installed")
            } else {
                format!("extension `{extension}` is not installed")
            };
            if !push(format!("extension `{extension}`"), passed, reason) {
                return Ok(false);
            }
        }
        let user = facts.text("current_user");
        for role in &requires.roles {
            let passed = facts.flag("superuser") || facts.roles.iter().any(|r| r == role);
            let reason = if passed {
                format!("`{user}` is a member of `{role}`")
            } else {
                format!("`{user}` is not a member of `{role}`")
            };
            if !push(format!("role `{role}`"), passed, reason) {
                return Ok(false);
            }
        }
        if let Some(when) = &step.when {
            let held = template::evaluate(&self.env, when, &self.context(None))
                .map_err(|e| format!("`when` could not be evaluated: {e:#}"))?;
            let reason = if held {
                "the condition holds"
            } else {
                "the condition is false"
            }
            .to_owned();
            push(format!("`when: {when}`"), held, reason);
            return Ok(held);
        }
        Ok(true)
    }

    fn limits(&self, step: &Step) -> Limits {
        let statement_timeout = step.timeout.unwrap_or(self.playbook.timeout).as_std();
        Limits {
            statement_timeout,
            lock_timeout: statement_timeout.min(StdDuration::from_secs(10)),
        }
    }

    /// `params`, `facts` and `steps`, as a map to extend per row.
    fn base(&self) -> BTreeMap<String, Value> {
        BTreeMap::from([
            ("params".to_owned(), self.params.clone()),
            ("facts".to_owned(), self.facts_value.clone()),
            ("steps".to_owned(), Value::from(self.steps.clone())),
        ])
    }

    /// `params`, `facts` and `steps`, plus `extra` names.
    fn context(&self, extra: Option<&BTreeMap<String, Value>>) -> Value {
        let mut map = BTreeMap::from([
            ("params".to_owned(), self.params.clone()),
            ("facts".to_owned(), self.facts_value.clone()),
            ("steps".to_owned(), Value::from(self.steps.clone())),
        ]);
        if let Some(extra) = extra {
            map.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Value::from(map)
    }

    fn title(&self, step: &Step) -> String {
        match &step.title {
            Some(title) => {
                self.render_text(&format!("{}.title", step.id), title, &self.context(None))
            }
            None => step.id.clone(),
        }
    }

    fn render_sql(&self, name: &str, source: &str, ctx: &Value) -> Result<String, String> {
        render(&self.env, name, TemplateKind::Sql, source, ctx)
            .map_err(|e| format!("the SQL template could not be rendered: {e:#}"))
    }

    /// A text template; on failure, the text as written (a message must never sink a step).
    fn render_text(&self, name: &str, source: &str, ctx: &Value) -> String {
        render(&self.env, name, TemplateKind::Text, source, ctx)
            .unwrap_or_else(|_| source.to_owned())
    }

    /// Makes the step's outcome visible to later steps as `steps.<id>`: its first row's
    /// columns, then `rows`, `row_count`, `status`, `severity` and `message` (which win over
    /// columns of the same name).
    fn remember(&mut self, step: &Step, record: &StepRecord) {
        let (rows, first_row) = self
            .pending
            .take()
            .unwrap_or_else(|| (Value::from(Vec::<Value>::new()), BTreeMap::new()));
        let mut outcome = first_row;
        outcome.insert("rows".to_owned(), rows);
        outcome.insert("row_count".to_owned(), Value::from(record.row_count));
        outcome.insert("status".to_owned(), Value::from(record.status.label()));
        outcome.insert("severity".to_owned(), Value::from(record.status.label()));
        outcome.insert("message".to_owned(), Value::from(record.message.clone()));
        self.steps.insert(step.id.clone(), Value::from(outcome));
    }
}

/// Renders a template without keeping it; the name's suffix decides SQL escaping.
fn render(
    env: &Environment<'static>,
    name: &str,
    kind: TemplateKind,
    source: &str,
    ctx: &Value,
) -> Result<String, minijinja::Error> {
    env.template_from_named_str(&template::template_name(name, kind), source)?
        .render(ctx)
}

/// What an action needs from the run to ask and to stop it.
struct Asked<'a, 'l> {
    approver: &'a mut dyn Approver,
    listeners: &'a mut [&'l mut dyn Listener],
    ending: &'a mut Ending,
}

fn describe_decision(decision: &Decision) -> (&'static str, String, Option<String>) {
    match decision {
        Decision::Approved { by } => ("approved", by.clone(), None),
        Decision::Skipped { reason } => ("skipped", "operator".to_owned(), Some(reason.clone())),
        Decision::Refused { reason } => ("refused", "nobody".to_owned(), Some(reason.clone())),
        Decision::Aborted { reason } => ("aborted", "operator".to_owned(), Some(reason.clone())),
        Decision::DryRun => ("dry-run", "--dry-run".to_owned(), None),
    }
}

fn refused(mut record: StepRecord, ending: &mut Ending, reason: String) -> StepRecord {
    ending.refused = true;
    record.status = Status::NotRun;
    record.message = Some(reason);
    record
}

fn skipped(step: &Step, title: &str, reason: &str) -> StepRecord {
    StepRecord {
        status: Status::Skipped,
        message: Some(reason.to_owned()),
        ..blank(step, title)
    }
}

fn error_record(error: &QueryError) -> ErrorRecord {
    ErrorRecord {
        message: error.message.clone(),
        sqlstate: error.sqlstate.clone(),
        detail: error.detail.clone(),
        hint: error.hint.clone(),
    }
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

fn merge(base: &Value, extra: &BTreeMap<String, Value>) -> Value {
    let mut map: BTreeMap<String, Value> = BTreeMap::new();
    if let Ok(keys) = base.try_iter() {
        for key in keys {
            if let Ok(value) = base.get_item(&key)
                && let Some(name) = key.as_str()
            {
                map.insert(name.to_owned(), value);
            }
        }
    }
    map.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    Value::from(map)
}

fn blank(step: &Step, title: &str) -> StepRecord {
    StepRecord::new(&step.id, title, step.kind_name(), Status::Ok)
}

fn not_run(step: &Step, title: &str, reason: &str) -> StepRecord {
    StepRecord {
        status: Status::NotRun,
        message: Some(reason.to_owned()),
        ..blank(step, title)
    }
}

fn failed(mut record: StepRecord, message: String, error: Option<ErrorRecord>) -> StepRecord {
    record.status = Status::Unknown;
    record.error = Some(error.unwrap_or(ErrorRecord {
        message: message.clone(),
        sqlstate: None,
        detail: None,
        hint: None,
    }));
    record.message = Some(message);
    record
}

fn status_of(severity: Severity) -> Status {
    match severity {
        Severity::Ok => Status::Ok,
        Severity::Warning => Status::Warning,
        Severity::Critical => Status::Critical,
    }
}

fn severity_of(status: Status) -> Severity {
    match status {
        Status::Critical => Severity::Critical,
        Status::Warning => Severity::Warning,
        _ => Severity::Ok,
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
