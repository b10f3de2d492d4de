//! Whether SQL may be sent as a check, and the names of its result columns.
//!
//! A check must not write, lock, signal, administer or run SQL text. Substring matching cannot
//! decide that: `SELECT 'DELETE'` or a column called `updated` contain write words without
//! writing, while `SELECT pg_terminate_backend(pid)` writes nothing yet kills a session. So the
//! SQL is parsed by PostgreSQL's own parser (`parse`, libpg_query), which cannot disagree with
//! the server about what the text means, and its tree is judged (`judge`) against a policy kept
//! apart from the walk: exactly one statement, a query (or `SHOW`, or a plain `EXPLAIN` of an
//! acceptable query); no `SELECT INTO`, row locks or data-modifying CTEs; only allowed
//! functions (`functions`), and no denied one (`policy`), also spelt as a field selection.
//!
//! Two entry points. [`judge`] judges the exact text the engine is about to send, as a query
//! or as an action: that is the guarantee. [`analyze`] judges a template at validation time,
//! as an early warning that points at the file: its tags are blanked byte for byte (`blank`),
//! and a tag that would join two words when rendered is a finding of its own, so the template
//! judgment is never more permissive than the rendered one. One parse serves both the judgment and the column names
//! (`columns`).

mod blank;
mod columns;
mod functions;
mod judge;
mod kinds;
pub mod literal;
mod parse;
mod policy;
mod system_views;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

pub(crate) use functions::{OptIn, opt_in_name};
pub(crate) use judge::Role;
pub(crate) use parse::{PARSER_STACK, as_parser_thread};
pub(crate) use policy::Concern;

use blank::Blanked;

/// Why SQL may not be sent as a check, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub concern: Concern,
    /// Byte offset into the judged text (for [`analyze`], the ORIGINAL template source) where
    /// the offending keyword, function name or statement starts, when known.
    pub offset: Option<usize>,
}

impl fmt::Display for Finding {
    /// The concern alone ("`pg_terminate_backend` signals another session"); the offset is
    /// for pointing at the text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.concern.fmt(f)
    }
}

/// What validation needs to know of one SQL template, from a single parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Analysis {
    /// Every reason the SQL may not be sent as a check; empty when it may.
    pub findings: Vec<Finding>,
    /// The result columns of the last statement, when they can be told (no `*`/`t.*`
    /// wildcard, no templated name, the parse succeeded).
    pub columns: Option<Vec<String>>,
    /// The kinds of those columns, in the same order, where `columns` are known.
    pub kinds: Option<Vec<crate::expr::Kind>>,
}

/// Judges `sql`, the exact text about to be sent as a check or preview: `Ok` when it is one
/// read-only query that calls only allowed functions (built-in read-only ones and those in
/// `opt_in`), else every finding, with offsets into `sql`. Never panics, never recurses on
/// the input: deep, long or malformed SQL is a finding.
#[cfg(test)]
pub(crate) fn judge_query(sql: &str, opt_in: OptIn<'_>) -> Result<(), Vec<Finding>> {
    judge(sql, Role::Query(opt_in)).map(|_| ())
}

/// What the judge learnt of SQL it let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Judged {
    /// The first statistics view or function it reads that shows other roles' sessions only
    /// to a role with the privileges of `pg_read_all_stats` (`pg_stat_activity`, ...).
    pub session_view: Option<&'static str>,
}

/// Judges `sql` as what it is about to be sent as: a query, or an action's SQL.
///
/// The judgment is a function of the text and the role alone, so the engine's thread keeps
/// the last ones it made: a fleet sends the same rendered SQL to every target, and parsing it
/// again for each was most of a fleet's own work. The text is the key, byte for byte: SQL
/// that differs in anything is judged anew.
pub(crate) fn judge(sql: &str, role: Role<'_>) -> Result<Judged, Vec<Finding>> {
    let key = (sql.to_owned(), RoleKey::of(role));
    if let Some(judged) = JUDGED.with_borrow(|judged| judged.get(&key).cloned()) {
        return judged;
    }
    let judged = judge_anew(sql, role);
    JUDGED.with_borrow_mut(|remembered| {
        if remembered.len() >= REMEMBERED {
            remembered.clear();
        }
        remembered.insert(key, judged.clone());
    });
    judged
}

/// How many judgments the engine's thread keeps (then it starts again): a playbook's
/// statements, with room for the ones rendered differently per target.
const REMEMBERED: usize = 256;

type Remembered = HashMap<(String, RoleKey), Result<Judged, Vec<Finding>>>;

thread_local! {
    static JUDGED: RefCell<Remembered> = RefCell::new(HashMap::new());
}

/// A [`Role`] as a key: what of it the judgment depends on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum RoleKey {
    Query(Vec<String>),
    Action { single: bool },
}

impl RoleKey {
    fn of(role: Role<'_>) -> RoleKey {
        match role {
            Role::Query(OptIn(names)) => RoleKey::Query(names.to_vec()),
            Role::Action { single } => RoleKey::Action { single },
        }
    }
}

/// [`judge`], parsing `sql`.
fn judge_anew(sql: &str, role: Role<'_>) -> Result<Judged, Vec<Finding>> {
    let judged = parse::on_parser_stack(|| match parse::statements(sql) {
        Ok(statements) => judge::judge(sql, &statements, role),
        Err(concern) => judge::Judgment {
            findings: vec![unlocated(concern)],
            session_view: None,
        },
    });
    let judgment = judged.unwrap_or_else(|concern| judge::Judgment {
        findings: vec![unlocated(concern)],
        session_view: None,
    });
    if judgment.findings.is_empty() {
        Ok(Judged {
            session_view: judgment.session_view,
        })
    } else {
        Err(judgment.findings)
    }
}

/// The text of `sql`'s one statement, a `SELECT`, without what follows it (a `;`): what can
/// be nested in another statement as a subquery. `None` when `sql` is not exactly one
/// `SELECT`.
pub(crate) fn select_body(sql: &str) -> Option<String> {
    let body = parse::on_parser_stack(|| match parse::statements(sql).ok()?.as_slice() {
        [only] if matches!(only.node, pg_query::NodeEnum::SelectStmt(_)) => {
            sql.get(only.start..only.end).map(str::to_owned)
        }
        _ => None,
    });
    body.ok().flatten()
}

/// Judges `sql` (a minijinja template source) and names its result columns, parsing it once.
pub(crate) fn analyze(sql: &str, role: Role<'_>) -> Analysis {
    parse::on_parser_stack(|| analyze_here(sql, role)).unwrap_or_else(|concern| Analysis {
        findings: vec![unlocated(concern)],
        columns: None,
        kinds: None,
    })
}

fn analyze_here(sql: &str, role: Role<'_>) -> Analysis {
    let blanked = Blanked::of(sql);
    let splits = blanked.splits.iter().map(|(offset, word)| Finding {
        concern: Concern::TagSplitsWord { word: word.clone() },
        offset: Some(*offset),
    });
    let mut findings: Vec<Finding> = splits.collect();
    let (columns, kinds) = match parse::statements(&blanked.text) {
        Ok(statements) => {
            findings.extend(judge::judge(&blanked.text, &statements, role).findings);
            let last = statements.last();
            let columns = last.and_then(|s| columns::of_statement(&s.node));
            let kinds = last
                .and_then(|s| kinds::of_statement(&s.node))
                .filter(|kinds| Some(kinds.len()) == columns.as_ref().map(Vec::len));
            (columns, kinds)
        }
        // A split word is why blanked text does not parse: the syntax error would be an echo.
        Err(Concern::Syntax { .. }) if !findings.is_empty() => (None, None),
        Err(concern) => {
            findings.push(unlocated(concern));
            (None, None)
        }
    };
    findings.sort_by_key(|f| f.offset);
    Analysis {
        findings,
        columns,
        kinds,
    }
}

/// A finding about the whole text (it does not parse, it is too long or too deep).
fn unlocated(concern: Concern) -> Finding {
    Finding {
        concern,
        offset: Some(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts the findings of `sql` as (message, offset) pairs, in order.
    pub(super) fn assert_findings(sql: &str, expected: &[(&str, usize)]) {
        let found: Vec<(String, Option<usize>)> = analyze(sql, Role::Query(OptIn::default()))
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

    /// The messages of `judge_query`'s findings on `sql`, with their offsets.
    pub(super) fn judged(sql: &str) -> Vec<(String, Option<usize>)> {
        match judge_query(sql, OptIn::default()) {
            Ok(()) => Vec::new(),
            Err(findings) => findings
                .into_iter()
                .map(|f| (f.to_string(), f.offset))
                .collect(),
        }
    }

    #[test]
    fn a_remembered_judgment_is_the_same_judgment_for_the_same_text_and_role_only() {
        let read = "SELECT count(*) FROM pg_stat_activity";
        let write = "SELECT count(*) FROM pg_stat_activity; DELETE FROM t";
        let signal = "SELECT pg_terminate_backend(1)";
        for _ in 0..3 {
            assert_eq!(judged(read), Vec::new());
            assert!(
                !judged(write).is_empty(),
                "a text differing in anything is judged anew"
            );
            assert!(!judged(signal).is_empty());
        }
        // The same text under another role keeps that role's judgment.
        let opted = [String::from("pg_terminate_backend")];
        assert!(
            judge(signal, Role::Query(OptIn(&opted))).is_err(),
            "a signal is never opted in"
        );
        let tables = "CREATE TABLE x (i int)";
        assert!(judge(tables, Role::Query(OptIn::default())).is_err());
        assert!(judge(tables, Role::Action { single: false }).is_ok());
        assert!(judge(tables, Role::Query(OptIn::default())).is_err());
        // Past `REMEMBERED` texts, it starts again, and still judges right.
        for n in 0..REMEMBERED + 10 {
            assert!(judge(&format!("SELECT {n}"), Role::Query(OptIn::default())).is_ok());
        }
        assert!(!judged(write).is_empty());
        assert!(JUDGED.with_borrow(HashMap::len) <= REMEMBERED);
    }

    const SEED: &str = "SELECT pid, usename, state, now() - state_change AS idle_for
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND state = 'idle'
  AND state_change < now() - {{ params.idle_after }}
  AND usename <> ALL({{ params.protected_users }})
  AND pid <> pg_backend_pid()";

    #[test]
    fn the_judge_notes_the_statistics_views_that_hide_other_roles_sessions() {
        let view = |sql: &str| judge(sql, Role::Query(OptIn::default())).map(|j| j.session_view);
        for sql in [
            SEED,
            "TABLE pg_stat_activity",
            "SELECT count(*) FROM pg_catalog.pg_stat_activity",
            "WITH a AS (SELECT * FROM (SELECT pid FROM pg_stat_activity) s) SELECT * FROM a",
            "SELECT 1 WHERE EXISTS (SELECT FROM pg_stat_activity WHERE state = 'idle')",
        ] {
            let sql = sql
                .replace("{{ params.idle_after }}", "'1h'")
                .replace("{{ params.protected_users }}", "ARRAY['x']");
            assert_eq!(view(&sql), Ok(Some("pg_stat_activity")), "{sql}");
        }
        assert_eq!(
            view("SELECT * FROM pg_stat_get_activity(NULL)"),
            Ok(Some("pg_stat_get_activity"))
        );
        assert_eq!(
            view("SELECT * FROM pg_stat_replication"),
            Ok(Some("pg_stat_replication"))
        );
        for sql in [
            "SELECT 1",
            "SELECT count(*) FROM pg_locks",
            "SELECT 'pg_stat_activity'",
            "SELECT * FROM myschema.pg_stat_activity",
            "SELECT pg_stat_activity FROM t",
        ] {
            assert_eq!(view(sql), Ok(None), "{sql}");
        }
    }

    #[test]
    fn seed_query_is_read_only_and_has_columns() {
        assert_findings(SEED, &[]);
        let expected = ["pid", "usename", "state", "idle_for"].map(str::to_owned);
        assert_eq!(
            analyze(SEED, Role::Query(OptIn::default())).columns,
            Some(expected.to_vec())
        );
    }

    /// Runs `f` on a thread with a small stack, as proof that the judge never recurses on
    /// its caller's stack, however deep the input.
    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let thread = std::thread::Builder::new().stack_size(256 * 1024).spawn(f);
        thread.unwrap().join().unwrap()
    }

    #[test]
    fn long_or_chains_are_judged_without_recursion() {
        let terms: Vec<String> = (0..3000).map(|i| format!("pid = {i}")).collect();
        let sql = format!(
            "SELECT pid FROM pg_stat_activity WHERE {}",
            terms.join(" OR ")
        );
        assert!(sql.len() > 30_000);
        let sql2 = sql.clone();
        let start = std::time::Instant::now();
        assert_eq!(on_small_stack(move || judged(&sql2)), vec![]);
        // A bound against blow-ups (quadratic or worse), not a speed target: the machine may be
        // loaded; the figures are in `benches/`.
        assert!(start.elapsed().as_millis() < 5_000, "{:?}", start.elapsed());
        let analysis = on_small_stack(move || analyze(&sql, Role::Query(OptIn::default())));
        assert_eq!(analysis.findings, vec![]);
        // A left-deep tree of 40 levels needs MBs of stack in a debug build, never the caller's.
        let sums = format!("SELECT 1{} AS n", " + 1".repeat(40));
        assert_eq!(on_small_stack(move || judged(&sums)), vec![]);
    }

    #[test]
    fn deep_sql_is_a_finding_fast_and_without_a_crash() {
        let too_deep = "the SQL is nested too deeply to be judged (more than about 50 levels)";
        let brackets = format!("SELECT ARRAY{}1{}", "[".repeat(80_000), "]".repeat(80_000));
        let parens = format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000));
        let sums = format!("SELECT 1{}", " + 1".repeat(200));
        let open = format!("SELECT {}", "[".repeat(160 * 1024));
        for (sql, expected) in [
            (
                brackets,
                "the SQL is 160013 bytes long; the engine judges at most 131072 bytes",
            ),
            (
                open,
                "the SQL is 163847 bytes long; the engine judges at most 131072 bytes",
            ),
            (parens, too_deep),
            (sums, too_deep),
        ] {
            let start = std::time::Instant::now();
            let found = on_small_stack(move || judged(&sql));
            assert_eq!(found, vec![(expected.to_owned(), Some(0))]);
            assert!(start.elapsed().as_millis() < 2_000, "{:?}", start.elapsed());
        }
    }

    #[test]
    fn observed_routes_are_findings() {
        let split = |w: &str| {
            format!("a template tag splits the word `{w}`; rendering would join its parts")
        };
        // The template judgment, and the judgment of what it renders.
        for (template, rendered, word, finding) in [
            (
                "DEL{# #}ETE FROM t",
                "DELETE FROM t",
                "DELETE",
                "`DELETE` writes to the database",
            ),
            (
                "SELECT pg_termi{# #}nate_backend(pid) FROM pg_stat_activity",
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
                "pg_terminate_backend",
                "`pg_terminate_backend` signals another session",
            ),
        ] {
            let found = analyze(template, Role::Query(OptIn::default())).findings;
            assert_eq!(found.first().map(|f| f.to_string()), Some(split(word)));
            assert_eq!(
                judged(rendered).first().map(|f| f.0.as_str()),
                Some(finding)
            );
        }
        let sql = "SELECT 1; COMMIT; DELETE FROM t; COMMIT";
        assert_eq!(judged(sql).len(), 6);
        let sql = "SELECT pg_advisory_lock(42)";
        let lock = "`pg_advisory_lock` takes or releases an advisory lock";
        assert_eq!(judged(sql), vec![(lock.to_owned(), Some(7))]);
    }
}
