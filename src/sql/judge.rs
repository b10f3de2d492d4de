//! Judging parsed SQL: a walk over sqlparser's AST that applies the read-only policy.
//!
//! The walk visits every statement, query, `SELECT`, table function and expression, so a
//! function call or a data-modifying CTE is found however deeply it is nested. What is found
//! is located back in the source through the lexed words: sqlparser's spans do not cover
//! every keyword (a locking clause has none), so the offending keyword is searched for in the
//! statement's own range, each occurrence attributed to one finding only.

use std::collections::HashSet;
use std::ops::{ControlFlow, Range};

use sqlparser::ast::{
    Expr, ObjectName, ObjectNamePart, Query, Select, Spanned, Statement, TableFactor, Visit,
    Visitor,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::Finding;
use super::blank::{Blanked, IDENT_PLACEHOLDER};
use super::lex::Lex;
use super::policy::{Concern, Verdict, listed_function, statement_name, verdict};

/// Parses like `Parser::parse_sql`, but also returns each statement's byte range.
pub(super) fn parse(
    blanked: &Blanked,
    tokens: Vec<TokenWithSpan>,
) -> Option<Vec<(Statement, Range<usize>)>> {
    let dialect = PostgreSqlDialect {};
    let mut parser = Parser::new(&dialect).with_tokens_with_locations(tokens);
    let mut statements = Vec::new();
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        let next = parser.peek_token_ref();
        if next.token == Token::EOF {
            return Some(statements);
        }
        let start = blanked.offset(next.span.start).unwrap_or(0);
        let statement = parser.parse_statement().ok()?;
        let next = parser.peek_token_ref();
        if !matches!(next.token, Token::SemiColon | Token::EOF) {
            return None;
        }
        let end = blanked
            .offset(next.span.start)
            .unwrap_or(blanked.text.len());
        statements.push((statement, start..end.max(start)));
    }
}

pub(super) fn findings(
    blanked: &Blanked,
    lex: &[Lex],
    statements: &[(Statement, Range<usize>)],
) -> Vec<Finding> {
    let mut checker = Checker {
        blanked,
        lex,
        range: 0..0,
        used: HashSet::new(),
        opaque: 0,
        findings: Vec::new(),
    };
    for (statement, range) in statements {
        checker.range = range.clone();
        let _ = statement.visit(&mut checker);
    }
    checker.findings
}

/// Walks one statement at a time, collecting findings.
struct Checker<'a> {
    blanked: &'a Blanked,
    lex: &'a [Lex],
    /// Byte range of the top-level statement being visited.
    range: Range<usize>,
    /// Keyword offsets already attributed to a finding.
    used: HashSet<usize>,
    /// Nesting depth inside a statement whose contents are not judged (denied or plain EXPLAIN).
    opaque: usize,
    findings: Vec<Finding>,
}

impl Checker<'_> {
    fn push(&mut self, concern: Concern, offset: Option<usize>) {
        self.findings.push(Finding { concern, offset });
    }

    /// Offset of the first unattributed word `keyword` in the current statement at or after `from`.
    fn locate(&mut self, keyword: &str, from: usize) -> Option<usize> {
        let found = self.lex.iter().find_map(|t| match t {
            Lex::Word {
                text,
                offset,
                quoted: false,
            } if self.range.contains(offset)
                && *offset >= from
                && !self.used.contains(offset)
                && text.eq_ignore_ascii_case(keyword) =>
            {
                Some(*offset)
            }
            _ => None,
        })?;
        self.used.insert(found);
        Some(found)
    }

    fn check_function(&mut self, name: &ObjectName) {
        let Some(ObjectNamePart::Identifier(ident)) = name.0.last() else {
            return;
        };
        let offset = self.blanked.offset(ident.span.start);
        if ident.value == IDENT_PLACEHOLDER {
            return self.push(Concern::TemplatedFunction, offset);
        }
        if let Some(concern) = listed_function(&ident.value, ident.quote_style.is_some()) {
            self.push(concern, offset);
        }
    }
}

impl Visitor for Checker<'_> {
    type Break = ();

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        if self.opaque > 0 {
            self.opaque += 1;
            return ControlFlow::Continue(());
        }
        match verdict(statement) {
            Verdict::Allowed => {}
            Verdict::Opaque => self.opaque = 1,
            Verdict::Denied(effect) => {
                let name = statement_name(statement);
                let keyword = name.split(' ').next().unwrap_or("");
                let offset = self
                    .locate(keyword, self.range.start)
                    .or(Some(self.range.start));
                self.push(Concern::Statement { name, effect }, offset);
                self.opaque = 1;
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_statement(&mut self, _statement: &Statement) -> ControlFlow<()> {
        self.opaque = self.opaque.saturating_sub(1);
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if self.opaque == 0 {
            // `Query::span` stops before the locking clause, so its end is where `FOR` is searched from.
            let end = self.blanked.offset(query.span().end);
            let start = end.unwrap_or(self.range.start);
            for lock in &query.locks {
                let offset = self.locate("FOR", start);
                let lock = lock.lock_type.to_string();
                self.push(Concern::LocksRows { lock }, offset);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
        if self.opaque == 0 && select.into.is_some() {
            let start = self
                .blanked
                .offset(select.select_token.0.span.start)
                .unwrap_or(self.range.start);
            let offset = self.locate("INTO", start);
            self.push(Concern::SelectInto, offset);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. }
                if self.opaque == 0 =>
            {
                self.check_function(name);
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::Function(function) = expr
            && self.opaque == 0
        {
            self.check_function(&function.name);
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use crate::sql::tests::{assert_findings, assert_one};

    #[test]
    fn read_only_queries_pass() {
        for sql in [
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "SELECT pg_sleep(1)",
            "EXPLAIN SELECT 1",
            "EXPLAIN DELETE FROM t",
            "EXPLAIN SELECT nextval('s')",
            "SHOW max_connections",
            "SELECT 'DELETE FROM t'",
            "SELECT 1 -- DROP TABLE x",
            "SELECT 1 /* UPDATE t SET a = 1 */",
            "SELECT $$ TRUNCATE $$",
            "SELECT \"delete\" FROM t",
            "SELECT \"PG_TERMINATE_BACKEND\"(1)",
            "COPY (SELECT 1) TO STDOUT",
            "SELECT 1;",
            "",
            "VALUES (1, 2)",
            "SELECT 1 UNION SELECT 2",
        ] {
            assert_findings(sql, &[]);
        }
    }

    #[test]
    fn statement_kinds_are_findings() {
        let db = "writes to the database";
        let tx = "would escape the check's read-only transaction";
        let session = "changes session state";
        for (sql, name, why) in [
            ("INSERT INTO t VALUES (1)", "INSERT", db),
            ("UPDATE t SET a = 1", "UPDATE", db),
            ("DELETE FROM t", "DELETE", db),
            (
                "MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE",
                "MERGE",
                db,
            ),
            ("TRUNCATE t", "TRUNCATE", db),
            ("COPY t FROM STDIN", "COPY", db),
            ("COPY t TO '/tmp/x'", "COPY", "writes files on the server"),
            ("CREATE TABLE x (a int)", "CREATE", db),
            ("ALTER TABLE t ADD COLUMN b int", "ALTER", db),
            ("DROP TABLE x", "DROP", db),
            ("COMMENT ON TABLE t IS 'x'", "COMMENT", db),
            ("GRANT SELECT ON t TO u", "GRANT", db),
            ("REVOKE ALL ON t FROM u", "REVOKE", db),
            ("VACUUM", "VACUUM", db),
            ("ANALYZE t", "ANALYZE", db),
            ("REFRESH MATERIALIZED VIEW v", "REFRESH", db),
            ("LOCK TABLE t", "LOCK", "takes a lock"),
            ("SET work_mem = '1MB'", "SET", session),
            ("RESET work_mem", "RESET", session),
            ("DISCARD ALL", "DISCARD", session),
            ("PREPARE p AS SELECT 1", "PREPARE", session),
            ("DEALLOCATE p", "DEALLOCATE", session),
            ("LISTEN c", "LISTEN", session),
            ("EXECUTE p", "EXECUTE", "runs code that cannot be checked"),
            ("CALL f()", "CALL", "runs code that cannot be checked"),
            ("NOTIFY c", "NOTIFY", "signals another session"),
            ("BEGIN", "BEGIN", tx),
            ("COMMIT", "COMMIT", tx),
            ("ROLLBACK", "ROLLBACK", tx),
            ("SAVEPOINT s", "SAVEPOINT", tx),
            ("START TRANSACTION", "START TRANSACTION", tx),
        ] {
            assert_findings(sql, &[(&format!("`{name}` {why}"), 0)]);
        }
    }

    #[test]
    fn data_modifying_cte_is_a_finding() {
        let sql = "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d";
        assert_findings(sql, &[("`DELETE` writes to the database", 11)]);
        let sql = "WITH d AS (SELECT 1) UPDATE t SET a = 1";
        assert_findings(sql, &[("`UPDATE` writes to the database", 21)]);
    }

    #[test]
    fn side_effecting_functions_are_findings() {
        let sql = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity";
        assert_findings(
            sql,
            &[("`pg_terminate_backend` signals another session", 7)],
        );
        let sql = "SELECT pg_catalog.PG_CANCEL_BACKEND(1)";
        assert_findings(sql, &[("`pg_cancel_backend` signals another session", 18)]);
        let sql = "SELECT set_config('a','b',false)";
        assert_findings(sql, &[("`set_config` changes session settings", 7)]);
        let sql = "SELECT 1 FROM t WHERE id IN (SELECT nextval('s'))";
        assert_one(sql, "`nextval` writes to the database", "nextval");
        let sql = "SELECT pg_reload_conf(), txid_current()";
        assert_findings(
            sql,
            &[
                ("`pg_reload_conf` changes server state", 7),
                ("`txid_current` assigns a transaction id", 25),
            ],
        );
        let sql = "SELECT * FROM dblink('host=x', 'DELETE FROM t') AS r(a int)";
        assert_one(sql, "`dblink` runs SQL on another server", "dblink");
        let sql = "SELECT {{ params.fn | ident }}(1)";
        assert_one(
            sql,
            "a function name chosen by the template cannot be checked",
            "{{",
        );
    }

    #[test]
    fn select_into_and_locking_clauses_are_findings() {
        let sql = "SELECT * INTO t2 FROM t";
        assert_findings(sql, &[("`SELECT INTO` creates a table", 9)]);
        let sql = "SELECT * FROM t FOR UPDATE";
        assert_findings(sql, &[("`FOR UPDATE` locks rows", 16)]);
        let sql = "SELECT * FROM (SELECT * FROM t FOR UPDATE) s FOR SHARE";
        assert_findings(
            sql,
            &[
                ("`FOR SHARE` locks rows", 45),
                ("`FOR UPDATE` locks rows", 31),
            ],
        );
    }

    #[test]
    fn explain_analyze_is_judged_by_its_statement() {
        let sql = "EXPLAIN ANALYZE DELETE FROM t";
        assert_findings(sql, &[("`DELETE` writes to the database", 16)]);
        let sql = "EXPLAIN (ANALYZE, BUFFERS) SELECT nextval('s')";
        assert_one(sql, "`nextval` writes to the database", "nextval");
        assert_findings("EXPLAIN ANALYZE SELECT 1", &[]);
    }

    #[test]
    fn every_statement_is_checked() {
        let sql = "SELECT 1; DELETE FROM t";
        assert_findings(sql, &[("`DELETE` writes to the database", 10)]);
        // Both branches of an `if` are kept.
        let sql = "SELECT 1 {% if params.purge %}; DELETE FROM t{% endif %}";
        assert_one(sql, "`DELETE` writes to the database", "DELETE");
    }
}
