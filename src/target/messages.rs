//! The messages a statement is sent in, by how it is wrapped (`Wrap`), and the streaming of
//! its rows back.
//!
//! The simple query protocol parses a whole message before it runs any of it, and runs every
//! statement in it: so a check is sent alone, between a message that begins its READ ONLY
//! transaction with the limits (and the settings under which the server reads SQL as the judge
//! does) and one that proves the transaction intact and rolls it back; an action outside a
//! transaction block (`transaction: false`) is sent alone too, its limits set before and reset
//! after; a wrapped action is one message between `BEGIN` and `COMMIT`, after a message that
//! puts the reading settings back.

use futures_util::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Column, Either, PgConnection, Row as _, TypeInfo, ValueRef};

use super::rows::{ColumnKind, Columns};
use super::{Limits, Row, Summary, Wrap};

/// The settings under which the server reads SQL as the judge does, set before every action
/// (a check sets them for its own transaction).
pub(super) const READS_AS_JUDGED: &str =
    "SET standard_conforming_strings = on;\nSET client_encoding = 'UTF8';";

/// How a statement's streaming ended, when the server did not fail it.
pub(super) enum Streamed {
    Done(Summary),
    /// The row callback refused a row (the statement still ran to its end, so the connection
    /// stays usable).
    Refused(String),
    /// The read-only transaction was no longer there after the statement.
    Escaped,
}

/// `BEGIN READ ONLY` with the limits, the statement alone, then the proof that the
/// transaction is intact and its rollback.
pub(super) async fn read_only(
    connection: &mut PgConnection,
    sql: &str,
    limits: Limits,
    on_row: impl FnMut(&Columns, Row, bool) -> Result<(), String>,
) -> Result<Streamed, sqlx::Error> {
    let (statement_ms, lock_ms) = limits.millis();
    // `now()` is the start of the transaction: it names this transaction in the proof below.
    let begin = format!(
        "BEGIN READ ONLY;\nSET LOCAL statement_timeout = {statement_ms};\nSET LOCAL lock_timeout = {lock_ms};\nSET LOCAL standard_conforming_strings = on;\nSET LOCAL client_encoding = 'UTF8';\nSELECT pg_catalog.now()::text;"
    );
    let mut began = None;
    stream(connection, begin, |_, row, _| {
        began = row.into_iter().next().flatten();
        Ok(())
    })
    .await?;
    let Some(began) = began.filter(|t| !t.contains('\'')) else {
        return Ok(Streamed::Escaped);
    };
    let streamed = stream(connection, script(sql, Wrap::ReadOnly, limits), on_row).await?;
    if !matches!(streamed, Streamed::Done(_)) {
        return Ok(streamed);
    }
    // Still read-only, and still the transaction begun above: one the check began itself
    // (after ending ours) started later.
    let mut intact = false;
    let proof = format!(
        "SELECT pg_catalog.current_setting('transaction_read_only') = 'on' AND pg_catalog.now() = '{began}'::timestamptz;\nROLLBACK;"
    );
    stream(connection, proof, |_, row, _| {
        intact = row.first().cloned().flatten().as_deref() == Some("t");
        Ok(())
    })
    .await?;
    Ok(if intact { streamed } else { Streamed::Escaped })
}

/// The limits in a message of their own, the statement alone in the next, and the limits
/// reset in a third — also after the statement failed, so the next step does not inherit them.
/// PostgreSQL runs a message of several statements as one transaction block, which `VACUUM`
/// or `CREATE INDEX CONCURRENTLY` refuse (25001). A session whose limits could not be reset
/// fails the statement: what it would carry into the next step is unknown.
pub(super) async fn autocommit(
    connection: &mut PgConnection,
    sql: &str,
    limits: Limits,
    on_row: impl FnMut(&Columns, Row, bool) -> Result<(), String>,
) -> Result<Streamed, sqlx::Error> {
    let (statement_ms, lock_ms) = limits.millis();
    let set = format!(
        "{READS_AS_JUDGED}\nSET statement_timeout = {statement_ms};\nSET lock_timeout = {lock_ms};"
    );
    stream(connection, set, |_, _, _| Ok(())).await?;
    let streamed = stream(connection, script(sql, Wrap::Autocommit, limits), on_row).await;
    let reset = "RESET statement_timeout;\nRESET lock_timeout;".to_owned();
    let reset = stream(connection, reset, |_, _, _| Ok(())).await;
    let streamed = streamed?;
    reset.map(|_| streamed)
}

/// Sends the script and streams its rows; the callback's first error ends it as `Refused`.
pub(super) async fn stream(
    connection: &mut PgConnection,
    script: String,
    mut on_row: impl FnMut(&Columns, Row, bool) -> Result<(), String>,
) -> Result<Streamed, sqlx::Error> {
    let mut summary = Summary::default();
    let mut stream = sqlx::raw_sql(AssertSqlSafe(script)).fetch_many(&mut *connection);
    let mut set_complete = false;
    let mut callback_error = None;
    while let Some(item) = stream.try_next().await? {
        match item {
            Either::Left(done) => {
                summary.rows_affected += done.rows_affected();
                set_complete = summary.row_count > 0 || set_complete;
            }
            Either::Right(row) => {
                let new_set = set_complete || summary.columns.is_empty();
                if new_set {
                    // A new result set: only the last one is the step's result.
                    summary.columns = columns_of(&row);
                    summary.row_count = 0;
                    set_complete = false;
                }
                summary.row_count += 1;
                if callback_error.is_none()
                    && let Err(message) = on_row(&summary.columns, texts_of(&row), new_set)
                {
                    callback_error = Some(message);
                }
            }
        }
    }
    Ok(match callback_error {
        Some(message) => Streamed::Refused(message),
        None => Streamed::Done(summary),
    })
}

/// The message sent for a statement: for a transaction-wrapped action its wrapping and limits
/// around it, the SQL on lines of its own so a trailing `--` comment cannot swallow what
/// follows; otherwise the statement alone.
pub(super) fn script(sql: &str, wrap: Wrap, limits: Limits) -> String {
    let (statement_ms, lock_ms) = limits.millis();
    let sql = sql.trim_end();
    match wrap {
        // Alone in its message, between the messages `read_only` or `autocommit` send.
        Wrap::ReadOnly | Wrap::Autocommit => sql.to_owned(),
        Wrap::Transaction => format!(
            "BEGIN;\nSET LOCAL statement_timeout = {statement_ms};\nSET LOCAL lock_timeout = {lock_ms};\n{sql}\n;\nCOMMIT;"
        ),
    }
}

fn columns_of(row: &PgRow) -> Columns {
    Columns::new(
        row.columns()
            .iter()
            .map(|column| {
                (
                    column.name().to_owned(),
                    ColumnKind::of(column.type_info().name()),
                )
            })
            .collect(),
    )
}

fn texts_of(row: &PgRow) -> Row {
    (0..row.len())
        .map(|i| {
            let value = row.try_get_raw(i).ok()?;
            if value.is_null() {
                return None;
            }
            value.as_str().ok().map(str::to_owned)
        })
        .collect()
}
