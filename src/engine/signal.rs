//! `terminate:` and `cancel:`: the one statement that signals sessions, of the engine's making.
//!
//! What was approved is what runs, by construction: the statement takes the sessions shown
//! at the prompt as literals (pid and `backend_start`; for a cancel, also `query_start`), runs
//! the source check's own SQL again as a subquery, and signals a session only when that
//! check still selects the same session — same pid, same start, for a cancel the same query.
//! A pid alone names nothing: the session it named may be gone and the pid reused. Whatever
//! the check selects, the statement never signals the engine's own session, another `runbook:`
//! session, a process that is not a client backend, a superuser's session unless the engine is
//! a superuser, or a session the role may not signal (so the statement does not fail on one of
//! them and leave the others unsignalled). Each approved session gets a row: the server's
//! answer, or why it was spared.
//!
//! Every operator of the engine's part is written `OPERATOR(pg_catalog.x)` and every relation
//! and function is qualified, so no object on the `search_path` can change what it means.
//!
//! The check's text is nested exactly as judged, on lines of its own (a trailing `--`
//! comment ends at its newline), without the `;` after it (`sql::select_body`, from the
//! parse): a text that parses alone as one `SELECT` has balanced parentheses outside its
//! strings and comments, so it cannot close the subquery it is put in. It comes first in the
//! `WITH` list, so it sees none of the engine's names.

use std::fmt::Write as _;

use crate::playbook::Signal;
use crate::sql::literal::write_string;
use crate::target::Row;
use crate::target::rows::Columns;

/// One session shown at the prompt, as the server named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Session {
    pub pid: i32,
    pub backend_start: String,
    /// For a cancel: when the query shown began.
    pub query_start: Option<String>,
}

/// The sessions the rows of `columns` name; rows that name none (a NULL identity, which a
/// role without `pg_read_all_stats` sees for others' queries) are counted apart.
pub(super) struct Named {
    pub sessions: Vec<Session>,
    pub unnamed: u64,
}

/// The sessions named by the source check's rows; an error names the missing column or the
/// malformed value.
pub(super) fn sessions(
    signal: Signal,
    columns: &Columns,
    rows: &[Row],
    source: &str,
) -> Result<Named, String> {
    let names = columns.names();
    let index = |name: &str| {
        names.iter().position(|c| c == name).ok_or_else(|| {
            format!(
                "the rows of check `{source}` have no `{name}` column; each must name its session with {}",
                signal
                    .identity()
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    };
    let pid = index("pid")?;
    let backend_start = index("backend_start")?;
    let query_start = match signal {
        Signal::Cancel => Some(index("query_start")?),
        Signal::Terminate { .. } => None,
    };
    let mut named = Named {
        sessions: Vec::with_capacity(rows.len()),
        unnamed: 0,
    };
    for row in rows {
        let cell = |i: usize| row.get(i).cloned().flatten();
        let (Some(pid_text), Some(started)) = (cell(pid), cell(backend_start)) else {
            named.unnamed += 1;
            continue;
        };
        let query_started = query_start.map(cell);
        if matches!(query_started, Some(None)) {
            named.unnamed += 1;
            continue;
        }
        let pid = pid_text
            .trim()
            .parse::<i32>()
            .map_err(|_| format!("check `{source}` gave `{pid_text}` as a pid"))?;
        named.sessions.push(Session {
            pid,
            backend_start: started,
            query_start: query_started.flatten(),
        });
    }
    Ok(named)
}

/// The statement signalling `sessions` that `check` (the source check's `SELECT`, as judged)
/// still selects; `wait_ms` for a terminate that waits.
pub(super) fn statement(
    signal: Signal,
    check: &str,
    sessions: &[Session],
) -> Result<String, String> {
    let cancel = signal == Signal::Cancel;
    let mut pids = Vec::with_capacity(sessions.len());
    let (mut starts, mut queries) = (Vec::new(), Vec::new());
    for session in sessions {
        pids.push(session.pid.to_string());
        starts.push(quoted(&session.backend_start)?);
        if cancel {
            queries.push(quoted(session.query_start.as_deref().unwrap_or_default())?);
        }
    }
    let mut arrays = format!(
        "pg_catalog.unnest(ARRAY[{}]::pg_catalog.int4[]), pg_catalog.unnest(ARRAY[{}]::pg_catalog.timestamptz[])",
        pids.join(", "),
        starts.join(", ")
    );
    let (mut identity, mut same_query, mut in_selected) =
        ("p.pid, p.backend_start", "", String::new());
    if cancel {
        let _ = write!(
            arrays,
            ", pg_catalog.unnest(ARRAY[{}]::pg_catalog.timestamptz[])",
            queries.join(", ")
        );
        identity = "p.pid, p.backend_start, p.query_start";
        same_query = "\n             WHEN a.query_start IS NULL OR NOT a.query_start OPERATOR(pg_catalog.=) p.query_start THEN 'another query'";
        in_selected =
            " AND s.query_start::pg_catalog.timestamptz OPERATOR(pg_catalog.=) a.query_start"
                .to_owned();
    }
    let call = match signal {
        Signal::Terminate { wait: Some(wait) } => format!(
            "pg_catalog.pg_terminate_backend(pid, {})",
            wait.as_std().as_millis().max(1)
        ),
        Signal::Terminate { wait: None } => "pg_catalog.pg_terminate_backend(pid)".to_owned(),
        Signal::Cancel => "pg_catalog.pg_cancel_backend(pid)".to_owned(),
    };
    let columns = if cancel {
        "pid, backend_start, query_start"
    } else {
        "pid, backend_start"
    };
    let approved = if cancel {
        "runbook_approved (pid, backend_start, query_start, ord)"
    } else {
        "runbook_approved (pid, backend_start, ord)"
    };
    let answer = signal.answer_column();
    Ok(format!(
        "WITH runbook_selected AS (
{check}
),
{approved} AS (
    SELECT * FROM ROWS FROM ({arrays}) WITH ORDINALITY
),
runbook_sessions AS (
    SELECT p.ord, {identity},
           CASE
             WHEN a.pid IS NULL THEN 'gone'
             WHEN a.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() THEN 'the engine''s own session'
             WHEN a.backend_type IS NULL OR a.backend_type OPERATOR(pg_catalog.<>) 'client backend' THEN 'not a client backend'
             WHEN a.application_name OPERATOR(pg_catalog.~~) 'runbook:%' THEN 'another runbook session'
             WHEN r.rolsuper AND NOT runbook_superuser THEN 'a superuser''s session'
             WHEN NOT (runbook_superuser OR pg_catalog.pg_has_role(a.usesysid, 'USAGE')
                       OR pg_catalog.pg_has_role('pg_signal_backend', 'USAGE')) THEN 'not permitted to signal it'{same_query}
             WHEN NOT EXISTS (SELECT FROM runbook_selected AS s
                              WHERE s.pid::pg_catalog.int4 OPERATOR(pg_catalog.=) a.pid
                                AND s.backend_start::pg_catalog.timestamptz OPERATOR(pg_catalog.=) a.backend_start{in_selected})
               THEN 'no longer selected'
           END AS spared
    FROM runbook_approved AS p
    CROSS JOIN (SELECT coalesce((SELECT rolsuper FROM pg_catalog.pg_roles
                                 WHERE rolname OPERATOR(pg_catalog.=) CURRENT_USER), false) AS runbook_superuser) AS me
    LEFT JOIN pg_catalog.pg_stat_activity AS a ON a.pid OPERATOR(pg_catalog.=) p.pid
                                               AND a.backend_start OPERATOR(pg_catalog.=) p.backend_start
    LEFT JOIN pg_catalog.pg_roles AS r ON r.oid OPERATOR(pg_catalog.=) a.usesysid
)
SELECT {columns},
       CASE WHEN spared IS NULL THEN {call} END AS {answer},
       spared
FROM runbook_sessions
ORDER BY ord"
    ))
}

fn quoted(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len() + 2);
    write_string(&mut out, text).map_err(|error| error.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::Duration;
    use crate::target::rows::ColumnKind;

    fn columns(names: &[&str]) -> Columns {
        Columns::new(
            names
                .iter()
                .map(|n| ((*n).to_owned(), ColumnKind::of("TEXT")))
                .collect(),
        )
    }

    fn row(cells: &[Option<&str>]) -> Row {
        cells.iter().map(|c| c.map(str::to_owned)).collect()
    }

    #[test]
    fn rows_name_sessions_by_pid_and_start() {
        let terminate = Signal::Terminate { wait: None };
        let cols = columns(&["usename", "pid", "backend_start"]);
        let rows = [
            row(&[Some("app"), Some("42"), Some("2026-12-02 01:00:00.1+00")]),
            row(&[Some("app"), None, Some("2026-12-02 01:00:00.1+00")]),
        ];
        let named = sessions(terminate, &cols, &rows, "idle").unwrap();
        assert_eq!(named.unnamed, 1);
        assert_eq!(
            named.sessions,
            vec![Session {
                pid: 42,
                backend_start: "2026-12-02 01:00:00.1+00".to_owned(),
                query_start: None
            }]
        );
        let missing = sessions(Signal::Cancel, &cols, &rows, "idle")
            .err()
            .unwrap();
        assert_eq!(
            missing,
            "the rows of check `idle` have no `query_start` column; each must name its session with `pid`, `backend_start`, `query_start`"
        );
        let bad = [row(&[Some("app"), Some("4x"), Some("now")])];
        let error = sessions(terminate, &cols, &bad, "idle").err().unwrap();
        assert_eq!(error, "check `idle` gave `4x` as a pid");
    }

    #[test]
    fn the_statement_holds_the_approved_sessions_as_literals_and_the_check_alone() {
        let session = Session {
            pid: 7,
            backend_start: "2026-12-02 01:00:00+00".to_owned(),
            query_start: Some("x'y".to_owned()),
        };
        let check = "SELECT pid, backend_start FROM pg_stat_activity -- idle ones";
        let wait = Some(Duration::from_secs(5));
        let sql = statement(
            Signal::Terminate { wait },
            check,
            std::slice::from_ref(&session),
        )
        .unwrap();
        assert!(sql.starts_with(&format!("WITH runbook_selected AS (\n{check}\n),")));
        assert!(sql.contains("ROWS FROM (pg_catalog.unnest(ARRAY[7]::pg_catalog.int4[]), pg_catalog.unnest(ARRAY['2026-12-02 01:00:00+00']::pg_catalog.timestamptz[])) WITH ORDINALITY"));
        assert!(sql.contains("pg_catalog.pg_terminate_backend(pid, 5000) END AS terminated"));
        assert!(!sql.contains("query_start"));
        let sql = statement(Signal::Cancel, check, &[session]).unwrap();
        assert!(sql.contains("ARRAY['x''y']::pg_catalog.timestamptz[]"));
        assert!(sql.contains("pg_catalog.pg_cancel_backend(pid) END AS cancelled"));
        assert!(sql.contains(
            "s.query_start::pg_catalog.timestamptz OPERATOR(pg_catalog.=) a.query_start"
        ));
    }
}
