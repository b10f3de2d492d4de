//! Judging parsed SQL: the statement count and kinds, then a walk over every node of a query.
//!
//! pg_query has no visitor over all of its ~270 node types, and a hand-written one would miss
//! the node type added next release. So each query's tree is serialized (it derives
//! `Serialize`) and walked generically, with an explicit stack: every `FuncCall`, field
//! selection, nested `SELECT` and data-modifying statement is found however it is nested, and
//! no input can recurse the walk into a stack overflow. What is found is located by the
//! node's own byte `location`, or for keywords the tree does not locate (`FOR UPDATE`, `INTO`,
//! `DELETE` inside a CTE) by PostgreSQL's scanner, each keyword attributed to one finding only.

use std::collections::HashSet;

use pg_query::NodeEnum;
use pg_query::protobuf::LockClauseStrength;
use serde_json::Value;

use super::Finding;
use super::blank::IDENT_PLACEHOLDER;
use super::functions::{OptIn, judge_call, judge_field};
use super::parse::{Statement, keywords};
use super::policy::{Concern, Effect, Verdict, action_concern, action_verdict, verdict};

/// What the SQL is judged as.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Role<'a> {
    /// A check or a preview: one query that only reads, calling only allowed functions.
    Query(OptIn<'a>),
    /// An action's SQL: anything that changes the server, except signalling sessions, running
    /// SQL text the judge cannot read, and ending the transaction it runs in. `single`: it
    /// runs outside a transaction block (`transaction: false`), as exactly one statement.
    Action { single: bool },
}

/// What judging a text found: every finding, in source order, and what it reads that
/// depends on the role's privileges.
pub(super) struct Judgment {
    pub findings: Vec<Finding>,
    /// The first statistics view (or function) it reads that hides other roles' sessions
    /// from a role without `pg_read_all_stats`' privileges.
    pub session_view: Option<&'static str>,
}

/// Judges `statements`, parsed from `text`, as `role`.
pub(super) fn judge(text: &str, statements: &[Statement], role: Role<'_>) -> Judgment {
    let mut judge = Judge {
        text,
        role,
        keywords: None,
        used: HashSet::new(),
        findings: Vec::new(),
        session_view: None,
    };
    let count = statements.len();
    if count == 0 {
        judge.push(Concern::NoStatement, 0);
    }
    for (i, statement) in statements.iter().enumerate() {
        if i > 0 {
            let index = i + 1;
            match role {
                Role::Query(_) => {
                    judge.push(Concern::SeveralStatements { index, count }, statement.start);
                }
                Role::Action { single: true } => {
                    let concern = Concern::SeveralOutsideTransaction { index, count };
                    judge.push(concern, statement.start);
                }
                Role::Action { single: false } => {}
            }
        }
        judge.statement(&statement.node, statement.start);
    }
    let mut findings = judge.findings;
    findings.sort_by_key(|f| f.offset);
    Judgment {
        findings,
        session_view: judge.session_view,
    }
}

struct Judge<'a> {
    text: &'a str,
    role: Role<'a>,
    /// The scanner's keywords, scanned only when a finding needs one.
    keywords: Option<Vec<(usize, String)>>,
    /// Keyword offsets already attributed to a finding.
    used: HashSet<usize>,
    findings: Vec<Finding>,
    session_view: Option<&'static str>,
}

impl Judge<'_> {
    fn push(&mut self, concern: Concern, offset: usize) {
        let offset = Some(offset);
        self.findings.push(Finding { concern, offset });
    }

    /// Offset of the first unattributed keyword sequence `words` at or after `from`.
    fn locate(&mut self, words: &[&str], from: usize) -> Option<usize> {
        let keywords = self.keywords.get_or_insert_with(|| keywords(self.text));
        let found = (0..keywords.len()).find(|&i| {
            let (offset, _) = keywords[i];
            offset >= from
                && !self.used.contains(&offset)
                && words
                    .iter()
                    .enumerate()
                    .all(|(j, word)| keywords.get(i + j).is_some_and(|(_, text)| text == word))
        })?;
        let offset = keywords[found].0;
        self.used.insert(offset);
        Some(offset)
    }

    /// The first keyword at or after `start`, in upper case.
    fn first_keyword(&mut self, start: usize) -> String {
        let keywords = self.keywords.get_or_insert_with(|| keywords(self.text));
        let first = keywords.iter().find(|(offset, _)| *offset >= start);
        first.map_or_else(|| "statement".to_owned(), |(_, word)| word.clone())
    }

    fn statement(&mut self, node: &NodeEnum, start: usize) {
        let verdict = match self.role {
            Role::Query(_) => verdict(node),
            Role::Action { .. } => action_verdict(node),
        };
        match verdict {
            Verdict::Query => self.tree(node, start),
            Verdict::Show => {}
            Verdict::Explain => {
                if let NodeEnum::ExplainStmt(explain) = node
                    && let Some(inner) = explain.query.as_ref().and_then(|q| q.node.as_ref())
                {
                    self.statement(inner, start);
                }
            }
            Verdict::ExplainAnalyze => self.push(Concern::ExplainAnalyze, start),
            Verdict::Denied { name, effect } => {
                let name = name.map_or_else(|| self.first_keyword(start), str::to_owned);
                let word = name.split(' ').next().unwrap_or("");
                let offset = self.locate(&[word], start).unwrap_or(start);
                self.push(Concern::Statement { name, effect }, offset);
            }
        }
    }

    /// Walks every node of a query, judging each node it finds.
    fn tree(&mut self, node: &NodeEnum, start: usize) {
        let Ok(tree) = serde_json::to_value(node) else {
            return self.push(Concern::TooDeep { levels: 0 }, start);
        };
        let mut stack: Vec<(&Value, usize)> = vec![(&tree, start)];
        while let Some((value, at)) = stack.pop() {
            match value {
                Value::Array(items) => stack.extend(items.iter().map(|item| (item, at))),
                Value::Object(fields) => {
                    let here = location(value).unwrap_or(at);
                    for (key, child) in fields {
                        if key.starts_with(|c: char| c.is_ascii_uppercase()) {
                            self.node(key, child, location(child).unwrap_or(here));
                        }
                        stack.push((child, here));
                    }
                }
                _ => {}
            }
        }
    }

    /// Judges one node of type `kind` (pg_query's name for it) located at `at`.
    fn node(&mut self, kind: &str, body: &Value, at: usize) {
        let Role::Query(opt_in) = self.role else {
            return self.action_node(kind, body, at);
        };
        self.note_session_view(kind, body);
        match kind {
            "FuncCall" => {
                let parts = strings(body.get("funcname"));
                let concern = if parts.last() == Some(&IDENT_PLACEHOLDER) {
                    Some(Concern::TemplatedFunction)
                } else {
                    judge_call(&parts, opt_in)
                };
                if let Some(concern) = concern {
                    self.push(concern, at);
                }
            }
            // `x.f` may be the call `f(x)`; the first field of a column reference is a name.
            "ColumnRef" => self.fields(strings(body.get("fields")).get(1..), at),
            // `(expr).f` is a field of a composite or the call `f(expr)`: judged as a call, so
            // a function off the allow-list needs its opt-in however it is written.
            "AIndirection" => {
                for name in strings(body.get("indirection")) {
                    if let Some(concern) = judge_call(&[name], opt_in) {
                        self.push(concern, at);
                    }
                }
            }
            // PostgreSQL 16+ syntax that older servers parse as a plain call by this name, looked
            // up on `search_path`, which this parser cannot judge as such: refused.
            kind if sql_json_call(kind).is_some() => {
                let name = sql_json_call(kind).unwrap_or_default().to_owned();
                self.push(Concern::UnknownFunction { name }, at);
            }
            "SelectStmt" => self.select(body, at),
            "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt" => {
                let name = kind.trim_end_matches("Stmt").to_ascii_uppercase();
                let offset = self.locate(&[&name], at).unwrap_or(at);
                let effect = Effect::Writes;
                self.push(Concern::Statement { name, effect }, offset);
            }
            _ => {}
        }
    }

    /// An action's node: only calls are judged, however they are spelt (`f(x)`, `x.f`,
    /// `(x).f`), and only for what an action may not do.
    fn action_node(&mut self, kind: &str, body: &Value, at: usize) {
        // Every name in the tree is a `String` node: a call's name however it is spelt
        // (`f(x)`, `x.f`, `(x).f`), and a function named without being called — by
        // `CREATE OPERATOR`, `CREATE AGGREGATE`, `CREATE CAST`, or as the `AS` symbol of an
        // internal or C function. String constants are not `String` nodes.
        let names: Vec<&str> = match kind {
            "String" => body
                .get("sval")
                .and_then(Value::as_str)
                .into_iter()
                .collect(),
            _ => return,
        };
        for name in names {
            if let Some(concern) = action_concern(name) {
                self.push(concern, at);
            }
        }
    }

    /// Notes a relation or call that shows other roles' sessions only to a role with the
    /// privileges of `pg_read_all_stats`.
    fn note_session_view(&mut self, kind: &str, body: &Value) {
        if self.session_view.is_some() {
            return;
        }
        let (schema, name) = match kind {
            "RangeVar" => (
                body.get("schemaname").and_then(Value::as_str).unwrap_or(""),
                body.get("relname").and_then(Value::as_str).unwrap_or(""),
            ),
            "FuncCall" => match strings(body.get("funcname")).as_slice() {
                [name] => ("", *name),
                [schema, name] => (*schema, *name),
                _ => return,
            },
            _ => return,
        };
        if schema.is_empty() || schema == "pg_catalog" {
            self.session_view = session_view(name);
        }
    }

    fn fields(&mut self, names: Option<&[&str]>, at: usize) {
        for name in names.unwrap_or_default() {
            if let Some(concern) = judge_field(name) {
                self.push(concern, at);
            }
        }
    }

    fn select(&mut self, body: &Value, at: usize) {
        if body.get("into_clause").is_some_and(|into| !into.is_null()) {
            let offset = self.locate(&["INTO"], at).unwrap_or(at);
            self.push(Concern::SelectInto, offset);
        }
        let clauses = body.get("locking_clause").and_then(Value::as_array);
        for clause in clauses.into_iter().flatten() {
            let strength = clause
                .pointer("/node/LockingClause/strength")
                .and_then(Value::as_i64)
                .and_then(|s| LockClauseStrength::try_from(i32::try_from(s).ok()?).ok());
            let lock = match strength {
                Some(LockClauseStrength::LcsForkeyshare) => "KEY SHARE",
                Some(LockClauseStrength::LcsForshare) => "SHARE",
                Some(LockClauseStrength::LcsFornokeyupdate) => "NO KEY UPDATE",
                _ => "UPDATE",
            };
            let mut words = vec!["FOR"];
            words.extend(lock.split(' '));
            let offset = self.locate(&words, at).unwrap_or(at);
            self.push(Concern::LocksRows { lock }, offset);
        }
    }
}

/// `name` when it is a view or function that hides the state, query and type of other roles'
/// sessions from a role without the privileges of `pg_read_all_stats` (PostgreSQL's
/// `HAS_PGSTAT_PERMISSIONS`): what reads it counts only what the role may see.
fn session_view(name: &str) -> Option<&'static str> {
    const VIEWS: &[&str] = &[
        "pg_stat_activity",
        "pg_stat_replication",
        "pg_stat_ssl",
        "pg_stat_gssapi",
        "pg_stat_progress_vacuum",
        "pg_stat_progress_analyze",
        "pg_stat_progress_cluster",
        "pg_stat_progress_create_index",
        "pg_stat_progress_basebackup",
        "pg_stat_progress_copy",
        "pg_stat_get_activity",
        "pg_stat_get_progress_info",
        "pg_stat_get_backend_activity",
        "pg_stat_get_backend_activity_start",
        "pg_stat_get_backend_xact_start",
        "pg_stat_get_backend_wait_event",
        "pg_stat_get_backend_wait_event_type",
        "pg_stat_get_backend_client_addr",
        "pg_stat_get_backend_client_port",
        "pg_stat_get_backend_start",
    ];
    VIEWS.iter().copied().find(|view| *view == name)
}

/// The function a server before PostgreSQL 16 calls for this SQL/JSON (or `MERGE_ACTION`)
/// node, which this parser (PostgreSQL 18's) gives a node of its own.
fn sql_json_call(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "JsonArrayConstructor" | "JsonArrayQueryConstructor" => "JSON_ARRAY",
        "JsonObjectConstructor" => "JSON_OBJECT",
        "JsonArrayAgg" => "JSON_ARRAYAGG",
        "JsonObjectAgg" => "JSON_OBJECTAGG",
        "JsonFuncExpr" => "JSON_VALUE/JSON_QUERY/JSON_EXISTS",
        "JsonScalarExpr" => "JSON_SCALAR",
        "JsonSerializeExpr" => "JSON_SERIALIZE",
        "JsonParseExpr" => "JSON",
        "JsonTable" => "JSON_TABLE",
        "MergeSupportFunc" => "MERGE_ACTION",
        _ => return None,
    })
}

/// A node's own byte location, when the parser recorded one.
fn location(value: &Value) -> Option<usize> {
    let location = value.get("location")?.as_i64()?;
    usize::try_from(location).ok()
}

/// The `String` nodes of a list of nodes (names: `funcname`, `fields`, `indirection`).
fn strings(list: Option<&Value>) -> Vec<&str> {
    let items = list
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    items
        .iter()
        .filter_map(|item| item.pointer("/node/String/sval")?.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::sql::tests::{assert_findings, assert_one};

    const DB: &str = "writes to the database";
    const SIGNALS: &str = "signals another session";

    fn unknown(name: &str) -> String {
        format!(
            "`{name}` is not a built-in read-only function; if it only reads, list it in the step's `functions`"
        )
    }

    #[test]
    fn read_only_queries_pass() {
        for sql in [
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "SELECT pg_sleep(1)",
            "EXPLAIN SELECT 1",
            "EXPLAIN (ANALYZE false) SELECT 1",
            "SHOW max_connections",
            "SELECT 'DELETE FROM t'",
            "SELECT 1 -- DROP TABLE x",
            "SELECT 1 /* UPDATE t SET a = 1 */",
            "SELECT $$ TRUNCATE $$",
            "SELECT \"delete\" FROM t",
            "SELECT 1;",
            "VALUES (1, 2)",
            "TABLE pg_stat_activity",
            "SELECT 1 UNION SELECT 2",
            "SELECT pg_catalog.now(), information_schema._pg_expandarray(ARRAY[1])",
            "SELECT a.pid, (a.pid), s.x[1] FROM pg_stat_activity a, (SELECT ARRAY[1] AS x) s",
            "SELECT * FROM generate_series(1, 3) g WHERE g % 2 = 0",
        ] {
            assert_findings(sql, &[]);
        }
    }

    #[test]
    fn statement_kinds_are_findings() {
        let tx = "would escape the check's read-only transaction";
        let session = "changes session state";
        let unchecked = "runs code that cannot be checked";
        let server = "changes server state";
        for (sql, name, why) in [
            ("INSERT INTO t VALUES (1)", "INSERT", DB),
            ("UPDATE t SET a = 1", "UPDATE", DB),
            ("DELETE FROM t", "DELETE", DB),
            (
                "MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE",
                "MERGE",
                DB,
            ),
            ("TRUNCATE t", "TRUNCATE", DB),
            ("COPY t FROM STDIN", "COPY", DB),
            ("COPY t TO '/tmp/x'", "COPY", "writes files on the server"),
            (
                "COPY (SELECT 1) TO STDOUT",
                "COPY",
                "switches the connection to the COPY protocol",
            ),
            ("CREATE TABLE x (a int)", "CREATE", DB),
            ("ALTER TABLE t ADD COLUMN b int", "ALTER", DB),
            ("DROP TABLE x", "DROP", DB),
            ("COMMENT ON TABLE t IS 'x'", "COMMENT", DB),
            ("GRANT SELECT ON t TO u", "GRANT", DB),
            ("REVOKE ALL ON t FROM u", "REVOKE", DB),
            ("VACUUM", "VACUUM", DB),
            ("ANALYZE t", "ANALYZE", DB),
            ("CLUSTER t", "CLUSTER", DB),
            ("REINDEX TABLE t", "REINDEX", DB),
            ("REFRESH MATERIALIZED VIEW v", "REFRESH", DB),
            ("LOCK TABLE t", "LOCK", "takes a lock"),
            ("SET work_mem = '1MB'", "SET", session),
            ("RESET work_mem", "RESET", session),
            ("DISCARD ALL", "DISCARD", session),
            ("PREPARE p AS SELECT 1", "PREPARE", session),
            ("DEALLOCATE p", "DEALLOCATE", session),
            ("LISTEN c", "LISTEN", session),
            ("DECLARE c CURSOR FOR SELECT 1", "DECLARE", session),
            ("EXECUTE p", "EXECUTE", unchecked),
            ("CALL f()", "CALL", unchecked),
            ("DO $$ BEGIN PERFORM 1; END $$", "DO", unchecked),
            ("NOTIFY c", "NOTIFY", SIGNALS),
            ("CHECKPOINT", "CHECKPOINT", server),
            ("ALTER SYSTEM SET work_mem = '1MB'", "ALTER SYSTEM", server),
            ("BEGIN", "BEGIN", tx),
            ("COMMIT", "COMMIT", tx),
            ("ROLLBACK", "ROLLBACK", tx),
            ("SAVEPOINT s", "SAVEPOINT", tx),
            ("START TRANSACTION", "START TRANSACTION", tx),
            ("EXPLAIN DELETE FROM t", "DELETE", DB),
        ] {
            let offset = if name == "DELETE" {
                sql.find(name).unwrap()
            } else {
                0
            };
            assert_findings(sql, &[(&format!("`{name}` {why}"), offset)]);
        }
    }

    #[test]
    fn exactly_one_statement() {
        assert_findings("", &[("there is no SQL statement", 0)]);
        assert_findings(" ; -- nothing", &[("there is no SQL statement", 0)]);
        let sql = "SELECT 1; COMMIT; DELETE FROM t; COMMIT";
        let tx = "`COMMIT` would escape the check's read-only transaction";
        let several = |i| format!("a check is exactly one statement; this is statement {i} of 4");
        assert_findings(
            sql,
            &[
                (&several(2), 10),
                (tx, 10),
                (&several(3), 18),
                (&format!("`DELETE` {DB}"), 18),
                (&several(4), 33),
                (tx, 33),
            ],
        );
        // Both branches of an `if` are kept.
        let sql = "SELECT 1 {% if params.purge %}; DELETE FROM t{% endif %}";
        let at = sql.find("DELETE").unwrap();
        let several = "a check is exactly one statement; this is statement 2 of 2";
        assert_findings(sql, &[(several, at), (&format!("`DELETE` {DB}"), at)]);
    }

    #[test]
    fn data_modifying_cte_is_a_finding() {
        let sql = "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d";
        assert_findings(sql, &[(&format!("`DELETE` {DB}"), 11)]);
        let sql = "WITH d AS (SELECT 1) UPDATE t SET a = 1";
        assert_findings(sql, &[(&format!("`UPDATE` {DB}"), 21)]);
        let sql =
            "SELECT * FROM (WITH i AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM i) s";
        assert_one(sql, &format!("`INSERT` {DB}"), "INSERT");
    }

    #[test]
    fn side_effecting_functions_are_findings() {
        let sql = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity";
        assert_findings(sql, &[(&format!("`pg_terminate_backend` {SIGNALS}"), 7)]);
        let sql = "SELECT pg_catalog.PG_CANCEL_BACKEND(1)";
        assert_findings(sql, &[(&format!("`pg_cancel_backend` {SIGNALS}"), 7)]);
        let sql = "SELECT set_config('a','b',false)";
        assert_findings(sql, &[("`set_config` changes session settings", 7)]);
        let sql = "SELECT 1 FROM t WHERE id IN (SELECT nextval('s'))";
        assert_one(sql, &format!("`nextval` {DB}"), "nextval");
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
    fn every_spelling_of_a_call_is_judged() {
        let kill = format!("`pg_terminate_backend` {SIGNALS}");
        let cancel = format!("`pg_cancel_backend` {SIGNALS}");
        let sql = "SELECT U&\"\\0070g_terminate_backend\"(pid) FROM pg_stat_activity";
        assert_findings(sql, &[(&kill, 7)]);
        let sql = "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_stat_activity";
        assert_findings(sql, &[(&kill, 7)]);
        let sql = "SELECT \"pg_terminate_backend\"(pid) FROM pg_stat_activity";
        assert_findings(sql, &[(&kill, 7)]);
        let sql = "SELECT (a.pid).pg_terminate_backend FROM pg_stat_activity a";
        assert_findings(sql, &[(&kill, 7)]);
        let sql = "SELECT p.pg_cancel_backend FROM pg_backend_pid() p";
        assert_findings(sql, &[(&cancel, 7)]);
        let sql = "SELECT public.pg_terminate_backend(1), \"PG_TERMINATE_BACKEND\"(1)";
        assert_findings(sql, &[(&kill, 7), (&unknown("PG_TERMINATE_BACKEND"), 39)]);
    }

    #[test]
    fn sql_text_executors_and_advisory_locks_are_findings() {
        let text = "runs SQL text that cannot be checked";
        let lock = "takes or releases an advisory lock";
        for (sql, name, why) in [
            (
                "SELECT query_to_xml('DELETE FROM t RETURNING 1', true, false, '')",
                "query_to_xml",
                text,
            ),
            (
                "SELECT * FROM ts_stat('SELECT to_tsvector(x) FROM t')",
                "ts_stat",
                text,
            ),
            (
                "SELECT table_to_xml('t', true, false, '')",
                "table_to_xml",
                text,
            ),
            (
                "SELECT dblink_open('c', 'SELECT 1')",
                "dblink_open",
                "runs SQL on another server",
            ),
            (
                "SELECT dblink_exec('DELETE FROM t')",
                "dblink_exec",
                "runs SQL on another server",
            ),
            ("SELECT pg_advisory_lock(1)", "pg_advisory_lock", lock),
            (
                "SELECT pg_try_advisory_xact_lock(1)",
                "pg_try_advisory_xact_lock",
                lock,
            ),
            ("SELECT lo_import('/etc/passwd')", "lo_import", DB),
            (
                "SELECT pg_read_file('/etc/passwd')",
                "pg_read_file",
                "reads files on the server",
            ),
            ("SELECT pg_notify('c', 'x')", "pg_notify", SIGNALS),
        ] {
            assert_findings(
                sql,
                &[(&format!("`{name}` {why}"), sql.find(name).unwrap())],
            );
        }
    }

    #[test]
    fn functions_not_on_the_allow_list_are_findings() {
        let sql = "SELECT monitoring.bloat('t'), my_kill(1)";
        assert_findings(
            sql,
            &[(&unknown("monitoring.bloat"), 7), (&unknown("my_kill"), 30)],
        );
        let opted = ["monitoring.bloat".to_owned(), "my_kill".to_owned()];
        let judged = crate::sql::judge_query(sql, crate::sql::OptIn(&opted));
        assert_eq!(judged, Ok(()));
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
                ("`FOR UPDATE` locks rows", 31),
                ("`FOR SHARE` locks rows", 45),
            ],
        );
        let sql = "SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED";
        assert_findings(sql, &[("`FOR NO KEY UPDATE` locks rows", 16)]);
    }

    #[test]
    fn explain_analyze_is_a_finding() {
        let analyze = "`EXPLAIN ANALYZE` runs the statement it explains";
        assert_findings("EXPLAIN ANALYZE SELECT 1", &[(analyze, 0)]);
        assert_findings(
            "EXPLAIN (ANALYZE) SELECT pg_terminate_backend(1)",
            &[(analyze, 0)],
        );
        assert_findings("EXPLAIN (BUFFERS, ANALYZE on) SELECT 1", &[(analyze, 0)]);
        assert_findings("EXPLAIN SELECT 1", &[]);
        let sql = "EXPLAIN SELECT nextval('s')";
        assert_one(sql, &format!("`nextval` {DB}"), "nextval");
    }
}
