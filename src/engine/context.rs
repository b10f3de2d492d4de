//! What templates and expressions see: `params`, `facts`, `steps.<id>` and `history`, plus
//! the names of the moment (a row's columns, `row_count`, `preview`), and the one environment
//! that renders and evaluates them.
//!
//! A step's outcome becomes visible to later steps as `steps.<id>`: its first row's columns,
//! then `rows`, `row_count`, `status`, `severity` and `message` (which win over columns of the
//! same name). Rows are handed over as a value ([`Kept`]), never stashed between calls.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::{Environment, Value};

use super::error::StepError;
use super::history::{Decision, History};
use crate::expr::{Condition, Failure};
use crate::outputs::record::StepRecord;
use crate::target::rows::Columns;
use crate::template::{self, TemplateKind};

/// The most text one template may render: far more than SQL over 10,000 preview rows.
pub const OUTPUT_LIMIT: usize = 4 << 20;

/// A sink that refuses to grow past [`OUTPUT_LIMIT`].
#[derive(Default)]
struct Capped {
    text: Vec<u8>,
    exceeded: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.text.len() + buf.len() > OUTPUT_LIMIT {
            self.exceeded = true;
            return Err(std::io::Error::other("the rendered text is too large"));
        }
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Names in scope for every template of the run.
pub struct Scope {
    env: Environment<'static>,
    params: Value,
    facts: Value,
    steps: BTreeMap<String, Value>,
    history: Arc<History>,
}

/// A step's rows, as later steps see them.
pub struct Kept {
    pub rows: Value,
    pub first_row: BTreeMap<String, Value>,
}

impl Kept {
    /// Every kept row as a map of column name to typed value.
    pub fn of(columns: &Columns, rows: &[Vec<Option<String>>]) -> Kept {
        Kept {
            rows: Value::from(
                rows.iter()
                    .map(|row| Value::from(columns.row_value(row)))
                    .collect::<Vec<_>>(),
            ),
            first_row: rows
                .first()
                .map(|row| columns.row_value(row))
                .unwrap_or_default(),
        }
    }
}

impl Scope {
    pub fn new(params: Value, history: History) -> Scope {
        Scope {
            env: template::environment(),
            params,
            facts: Value::from(()),
            steps: BTreeMap::new(),
            history: Arc::new(history),
        }
    }

    /// The run's `history`, before anything has read it.
    pub fn set_history(&mut self, history: History) {
        self.history = Arc::new(history);
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    pub fn set_facts(&mut self, facts: Value) {
        self.facts = facts;
    }

    /// `params`, `facts`, `steps` and `history`, as a map to extend.
    pub fn names(&self) -> BTreeMap<String, Value> {
        BTreeMap::from([
            ("params".to_owned(), self.params.clone()),
            ("facts".to_owned(), self.facts.clone()),
            ("steps".to_owned(), Value::from(self.steps.clone())),
            (
                "history".to_owned(),
                Value::from_dyn_object(self.history.clone()),
            ),
        ])
    }

    /// `params`, `facts`, `steps` and `history`.
    pub fn value(&self) -> Value {
        Value::from(self.names())
    }

    /// `params`, `facts`, `steps` and `history`, plus `extra` names (which win).
    pub fn with(&self, extra: &BTreeMap<String, Value>) -> Value {
        let mut names = self.names();
        names.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        Value::from(names)
    }

    /// Renders an SQL template (every interpolation an SQL literal).
    pub fn sql(&self, name: &str, source: &str, ctx: &Value) -> Result<String, StepError> {
        self.render(name, TemplateKind::Sql, source, ctx)
            .map_err(|source| StepError::Render { source })
    }

    /// Renders a text template; on failure, the text as written (a message must never sink
    /// a step).
    pub fn text(&self, name: &str, source: &str, ctx: &Value) -> String {
        self.render(name, TemplateKind::Text, source, ctx)
            .unwrap_or_else(|_| source.to_owned())
    }

    /// Renders a text template whose failure matters (a row limit): the error, not the text
    /// as written.
    pub fn exact_text(
        &self,
        name: &str,
        source: &str,
        ctx: &Value,
    ) -> Result<String, minijinja::Error> {
        self.render(name, TemplateKind::Text, source, ctx)
    }

    /// How the expression comes out in `ctx` (made by this scope), every comparison in it
    /// typed, and undecided when the history it reads is too short.
    pub fn decide(&self, expression: &str, ctx: &Value) -> Result<Decision, Failure> {
        self.history.deciding(&self.condition(expression)?, ctx)
    }

    /// A compiled condition, for evaluating once per row.
    pub fn condition(&self, condition: &str) -> Result<Condition<'_>, Failure> {
        Condition::compile(&self.env, condition)
    }

    /// Renders a template without keeping it; the name's suffix decides SQL escaping. The work
    /// is bounded by the environment's fuel, the text by [`OUTPUT_LIMIT`].
    fn render(
        &self,
        name: &str,
        kind: TemplateKind,
        source: &str,
        ctx: &Value,
    ) -> Result<String, minijinja::Error> {
        let full_name = template::template_name(name, kind);
        let template = self.env.template_from_named_str(&full_name, source)?;
        let mut capped = Capped::default();
        let rendered = template
            .render_captured_to(ctx.clone(), &mut capped)
            .map(drop);
        if capped.exceeded {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!(
                    "`{name}` rendered more than {} MiB; rendering was stopped",
                    OUTPUT_LIMIT >> 20
                ),
            ));
        }
        rendered?;
        String::from_utf8(capped.text).map_err(|_| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("`{name}` rendered text that is not UTF-8"),
            )
        })
    }

    /// Makes a step's outcome visible to later steps as `steps.<id>`.
    pub fn remember(&mut self, record: &StepRecord, kept: Option<Kept>) {
        let kept = kept.unwrap_or(Kept {
            rows: Value::from(Vec::<Value>::new()),
            first_row: BTreeMap::new(),
        });
        let mut outcome = kept.first_row;
        outcome.insert("rows".to_owned(), kept.rows);
        outcome.insert("row_count".to_owned(), Value::from(record.row_count));
        outcome.insert("status".to_owned(), Value::from(record.status.label()));
        outcome.insert("severity".to_owned(), Value::from(record.status.label()));
        outcome.insert("message".to_owned(), Value::from(record.message.clone()));
        self.steps.insert(record.id.clone(), Value::from(outcome));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_that_renders_too_much_is_stopped_with_its_name() {
        let history = History::new(
            crate::history::Past::default(),
            std::time::SystemTime::now(),
        );
        let scope = Scope::new(Value::from(()), history);
        let ctx = scope.value();
        let huge = "{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}";
        let error = scope.sql("steps.big.check", huge, &ctx).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("`steps.big.check` rendered more than 4 MiB"),
            "{message}"
        );
        let fine = "{% for i in range(1000) %}{{ i }}{% endfor %}";
        assert!(scope.sql("steps.ok.check", fine, &ctx).is_ok());
    }
}
