//! What validation learns from the SQL of a step: whether it is read-only, and the names of
//! its result columns.
//!
//! A check must not write, lock, signal or administer. Substring matching cannot decide that:
//! `SELECT 'DELETE'`, a `-- DROP` comment or a column called `updated` all contain write
//! words without writing, while `SELECT pg_terminate_backend(pid)` writes nothing yet kills a
//! session. So the SQL is parsed with sqlparser's PostgreSQL dialect and the AST is judged
//! (`judge`) against a policy kept apart from the walk (`policy`): only queries, `SHOW` and
//! plain `EXPLAIN` are allowed, and inside queries data-modifying CTEs, `SELECT INTO`,
//! row-locking clauses and a list of side-effecting functions are findings.
//!
//! The input is a minijinja template. Its tags are blanked out byte for byte before parsing
//! (`blank`), so byte offsets into the parsed text are offsets into the original source and
//! every finding points at the spot in the file.
//!
//! sqlparser does not understand all of PostgreSQL. When it gives up, the SQL is judged by
//! tokens instead (`lex`): any bare write/DDL/admin keyword or listed function call is a
//! finding. That fallback can only err on the side of refusing, which is the right side for
//! a safety check. One parse serves both the judgement and the column names (`columns`),
//! since parsing is the costliest part of validation.

mod blank;
mod columns;
mod judge;
mod lex;
pub mod literal;
mod policy;

pub(crate) use policy::Concern;

use blank::Blanked;
use sqlparser::ast::Statement;

/// Why a check's SQL is not read-only, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub concern: Concern,
    /// Byte offset into the ORIGINAL template source where the offending keyword or function
    /// name starts, when known.
    pub offset: Option<usize>,
}

/// What validation needs to know of one SQL template, from a single parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Analysis {
    /// Every reason the SQL is not read-only; empty when it is.
    pub findings: Vec<Finding>,
    /// The result columns of the last statement, when the parser can tell (no `*`/`t.*`
    /// wildcard, no templated name, the parse succeeded).
    pub columns: Option<Vec<String>>,
}

/// Judges `sql` (a minijinja template source) and names its result columns, parsing it once.
pub(crate) fn analyze(sql: &str) -> Analysis {
    let blanked = Blanked::of(sql);
    let Some(tokens) = lex::tokenize(&blanked.text) else {
        return Analysis {
            findings: lex::findings(&lex::scan(&blanked.text)),
            columns: None,
        };
    };
    let words = lex::from_tokens(&tokens, &blanked);
    match judge::parse(&blanked, tokens) {
        Some(statements) => Analysis {
            findings: judge::findings(&blanked, &words, &statements),
            columns: match statements.last() {
                Some((Statement::Query(query), _)) => columns::of_query(&query.body),
                _ => None,
            },
        },
        None => Analysis {
            findings: lex::findings(&words),
            columns: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts the findings of `sql` as (message, offset) pairs, in order.
    pub(super) fn assert_findings(sql: &str, expected: &[(&str, usize)]) {
        let found: Vec<(String, Option<usize>)> = analyze(sql)
            .findings
            .into_iter()
            .map(|finding| (finding.concern.to_string(), finding.offset))
            .collect();
        let expected: Vec<(String, Option<usize>)> = expected
            .iter()
            .map(|(message, offset)| ((*message).to_owned(), Some(*offset)))
            .collect();
        assert_eq!(found, expected, "findings for {sql:?}");
    }

    /// Asserts a single finding at the first occurrence of `keyword`.
    pub(super) fn assert_one(sql: &str, message: &str, keyword: &str) {
        let offset = sql.find(keyword).unwrap();
        assert_findings(sql, &[(message, offset)]);
    }

    pub(super) fn fallback(name: &str) -> String {
        format!("check SQL could not be fully parsed and mentions `{name}`")
    }

    const SEED: &str = "SELECT pid, usename, state, now() - state_change AS idle_for
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND state = 'idle'
  AND state_change < now() - {{ params.idle_after }}
  AND usename <> ALL({{ params.protected_users }})
  AND pid <> pg_backend_pid()";

    #[test]
    fn seed_query_is_read_only_and_has_columns() {
        assert_findings(SEED, &[]);
        let expected = ["pid", "usename", "state", "idle_for"].map(str::to_owned);
        assert_eq!(analyze(SEED).columns, Some(expected.to_vec()));
    }
}
