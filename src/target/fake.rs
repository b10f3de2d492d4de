//! A scripted target for the engine's unit tests: answers by the first rule whose text the SQL
//! contains, and remembers every statement it was sent.

use super::rows::{ColumnKind, Columns};
use super::{ConnectError, Limits, QueryError, Row, Summary, Target, Wrap};
use crate::engine::Backend;

/// The fake's first backend pid (as its scripted facts say); each reconnection is the next.
pub const FIRST_PID: i64 = 4242;

/// A cell of a scripted row that is NULL.
pub const NULL: &str = "∅";

/// What a rule answers.
#[derive(Clone)]
pub enum Answer {
    Rows {
        columns: Vec<(String, ColumnKind)>,
        rows: Vec<Row>,
    },
    Error(QueryError),
    /// The connection drops while the statement runs.
    Lost,
}

impl Answer {
    /// Rows of text columns, e.g. `Answer::rows(&["pid"], &[&["42"]])`.
    pub fn rows(columns: &[&str], rows: &[&[&str]]) -> Answer {
        Answer::typed(
            &columns
                .iter()
                .map(|name| (*name, ColumnKind::Text))
                .collect::<Vec<_>>(),
            rows,
        )
    }

    /// Rows of typed columns; a cell [`NULL`] is SQL's NULL.
    pub fn typed(columns: &[(&str, ColumnKind)], rows: &[&[&str]]) -> Answer {
        Answer::Rows {
            columns: columns
                .iter()
                .map(|(name, kind)| ((*name).to_owned(), *kind))
                .collect(),
            rows: rows
                .iter()
                .map(|row| {
                    let cell = |cell: &&str| (*cell != NULL).then(|| (*cell).to_owned());
                    row.iter().map(cell).collect()
                })
                .collect(),
        }
    }
}

#[derive(Default)]
pub struct FakeTarget {
    rules: Vec<(String, Answer)>,
    /// Every statement sent, with its wrapping.
    pub sent: Vec<(String, Wrap)>,
    alive: bool,
    /// Whether `reconnect` succeeds.
    pub reconnects: bool,
    /// Connections opened so far after the first.
    reconnected: i64,
}

impl FakeTarget {
    pub fn new() -> FakeTarget {
        FakeTarget {
            alive: true,
            ..FakeTarget::default()
        }
    }

    /// Answers statements containing `needle` (the first matching rule wins).
    pub fn on(mut self, needle: &str, answer: Answer) -> FakeTarget {
        self.rules.push((needle.to_owned(), answer));
        self
    }

    /// The statements sent that contain `needle`.
    pub fn sent_containing(&self, needle: &str) -> Vec<&str> {
        self.sent
            .iter()
            .map(|(sql, _)| sql.as_str())
            .filter(|sql| sql.contains(needle))
            .collect()
    }
}

impl Target for FakeTarget {
    fn is_alive(&self) -> bool {
        self.alive
    }

    fn backend(&self) -> Option<Backend> {
        self.alive.then(|| Backend {
            pid: FIRST_PID + self.reconnected,
            started: format!("2026-12-01 10:00:0{}+00", self.reconnected),
        })
    }

    async fn run(
        &mut self,
        sql: &str,
        wrap: Wrap,
        _limits: Limits,
        mut on_row: impl FnMut(&Columns, Row, bool) -> Result<(), String>,
    ) -> Result<Summary, QueryError> {
        if !self.alive {
            return Err(QueryError::lost("the connection to the server was lost"));
        }
        self.sent.push((sql.to_owned(), wrap));
        let answer = self
            .rules
            .iter()
            .find(|(needle, _)| sql.contains(needle.as_str()))
            .map(|(_, answer)| answer.clone());
        match answer {
            None => Ok(Summary::default()),
            Some(Answer::Error(error)) => Err(error),
            Some(Answer::Lost) => {
                self.alive = false;
                Err(QueryError::lost("the connection to the server was lost"))
            }
            Some(Answer::Rows { columns, rows }) => {
                let columns = Columns::new(columns);
                let mut summary = Summary {
                    columns: columns.clone(),
                    ..Summary::default()
                };
                // Like the real session: every row streams; the first refusal fails it.
                let mut refused = None;
                for (index, row) in rows.into_iter().enumerate() {
                    summary.row_count += 1;
                    if refused.is_none() {
                        refused = on_row(&columns, row, index == 0).err();
                    }
                }
                // A `SELECT n` tag counts its rows, as the server's would.
                summary.rows_affected = summary.row_count;
                match refused {
                    Some(message) => Err(QueryError::plain(message)),
                    None => Ok(summary),
                }
            }
        }
    }

    async fn reconnect(&mut self) -> Result<(), ConnectError> {
        if self.reconnects {
            self.alive = true;
            self.reconnected += 1;
            return Ok(());
        }
        Err(ConnectError {
            target: "fake".to_owned(),
            reason: "refused".to_owned(),
        })
    }

    fn abandon(&mut self) {
        self.alive = false;
    }
}
