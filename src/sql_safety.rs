//! Read-only checking of a `check` step's SQL.
//!
//! A check must not write, lock, signal or administer. Substring matching
//! cannot decide that: `SELECT 'DELETE'`, a `-- DROP` comment or a column
//! called `updated` all contain write words without writing, while
//! `SELECT pg_terminate_backend(pid)` writes nothing yet kills a session. So
//! the SQL is parsed with sqlparser's PostgreSQL dialect and the AST is judged:
//! only queries, `SHOW` and plain `EXPLAIN` are allowed, and inside queries
//! data-modifying CTEs, `SELECT INTO`, row-locking clauses and a list of
//! side-effecting functions are flagged.
//!
//! The input is a minijinja template. Tags are blanked out byte for byte
//! before parsing (`{{ x }}` becomes `NULL`, or an identifier for `| ident`;
//! `{% %}` and `{# #}` become spaces, keeping both branches of an `if`), so
//! byte offsets into the blanked text are offsets into the original source.
//!
//! sqlparser does not understand all of PostgreSQL. When it gives up, the
//! check is judged by tokens instead: any bare write/DDL/admin keyword or
//! listed function call is a finding. That fallback can only err on the side
//! of refusing, which is the right side for a safety check.

use std::collections::{HashMap, HashSet};
use std::ops::{ControlFlow, Range};
use std::sync::OnceLock;

use sqlparser::ast::{
    CopyTarget, DataType, Expr, Ident, ObjectName, ObjectNamePart, Query, Select, SelectItem,
    SetExpr, Spanned, Statement, TableFactor, Value, Visit, Visitor,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

/// Why a check's SQL is not read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was found, in lower case with names in backticks, e.g.
    /// "`DELETE` writes to the database" or "`pg_terminate_backend` signals another session".
    pub message: String,
    /// Byte offset into the ORIGINAL template source where the offending keyword/function name starts, when known.
    pub offset: Option<usize>,
}

/// What validation needs to know of one SQL template, from a single parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// Every reason the SQL is not read-only; empty when it is.
    pub findings: Vec<Finding>,
    /// The result columns of the last statement, when the parser can tell (see `result_columns`).
    pub columns: Option<Vec<String>>,
}

/// Judges `sql` (a minijinja template source) and names its result columns, parsing it once.
pub fn analyze(sql: &str) -> Analysis {
    let src = Source::new(blank_template(sql));
    let Some(tokens) = tokenize(&src.text) else {
        return Analysis {
            findings: fallback_findings(&scan(&src.text)),
            columns: None,
        };
    };
    let lex = lex_tokens(&tokens, &src);
    match parse_with_ranges(&src, tokens) {
        Some(statements) => Analysis {
            findings: ast_findings(&src, &lex, &statements),
            columns: match statements.last() {
                Some((Statement::Query(query), _)) => set_expr_columns(&query.body),
                _ => None,
            },
        },
        None => Analysis {
            findings: fallback_findings(&lex),
            columns: None,
        },
    }
}

/// Returns every reason `sql` (a minijinja template source) is not a read-only query.
/// Empty = read-only.
pub fn write_findings(sql: &str) -> Vec<Finding> {
    analyze(sql).findings
}

/// The result column names of the LAST statement of `sql`, when the parser can tell (no
/// `*`/`t.*` wildcard, parse succeeded). None when it cannot tell.
pub fn result_columns(sql: &str) -> Option<Vec<String>> {
    analyze(sql).columns
}

// ---------------------------------------------------------------------------
// Side-effecting functions

/// What a listed function does that a check must not.
#[derive(Debug, Clone, Copy)]
enum Effect {
    Signals,
    ServerState,
    Session,
    Writes,
    Files,
    Locks,
    Xid,
    Remote,
}

impl Effect {
    fn phrase(self) -> &'static str {
        match self {
            Effect::Signals => "signals another session",
            Effect::ServerState => "changes server state",
            Effect::Session => "changes session settings",
            Effect::Writes => "writes to the database",
            Effect::Files => "writes files on the server",
            Effect::Locks => "takes or releases an advisory lock",
            Effect::Xid => "assigns a transaction id",
            Effect::Remote => "runs SQL on another server",
        }
    }
}

/// Functions a check may not call, matched on the last part of the name,
/// grouped by what they do. Each string holds space-separated names.
const FUNCTIONS: &[(Effect, &str)] = &[
    // Send a signal to another backend.
    (
        Effect::Signals,
        "pg_terminate_backend pg_cancel_backend pg_log_backend_memory_contexts",
    ),
    // Administer the server: configuration, logs, WAL and recovery; create,
    // drop or advance replication slots (reading a logical slot consumes it);
    // throw away statistics other tools rely on.
    (
        Effect::ServerState,
        "pg_reload_conf pg_rotate_logfile pg_switch_wal pg_create_restore_point pg_promote \
         pg_wal_replay_pause pg_wal_replay_resume \
         pg_create_physical_replication_slot pg_create_logical_replication_slot \
         pg_drop_replication_slot pg_replication_slot_advance \
         pg_copy_physical_replication_slot pg_copy_logical_replication_slot \
         pg_logical_slot_get_changes pg_logical_slot_get_binary_changes \
         pg_stat_reset pg_stat_reset_shared pg_stat_reset_slru \
         pg_stat_reset_single_table_counters pg_stat_reset_single_function_counters \
         pg_stat_reset_replication_slot pg_stat_reset_subscription_stats \
         pg_stat_statements_reset",
    ),
    // Change settings of the session (and so of the engine's transaction).
    (Effect::Session, "set_config"),
    // Write data even from a SELECT: sequences, large objects, WAL, catalogs.
    (
        Effect::Writes,
        "nextval setval lo_import lo_unlink lo_create lo_creat lo_from_bytea lo_put \
         pg_logical_emit_message pg_import_system_collations",
    ),
    // Write the server's file system (large-object export, adminpack).
    (
        Effect::Files,
        "lo_export pg_file_write pg_file_rename pg_file_unlink",
    ),
    // Advisory locks live outside the data but still block other sessions.
    (
        Effect::Locks,
        "pg_advisory_lock pg_advisory_lock_shared pg_advisory_xact_lock \
         pg_advisory_xact_lock_shared pg_try_advisory_lock pg_try_advisory_lock_shared \
         pg_try_advisory_xact_lock pg_try_advisory_xact_lock_shared \
         pg_advisory_unlock pg_advisory_unlock_shared pg_advisory_unlock_all",
    ),
    // Make the transaction take an xid, which a read-only check never needs.
    (Effect::Xid, "txid_current pg_current_xact_id"),
    // Remote side effects cannot be seen from here.
    (Effect::Remote, "dblink dblink_exec dblink_send_query"),
];

/// The listed function `name` refers to; quoted names match case-sensitively, as in PostgreSQL.
fn listed_function(name: &str, quoted: bool) -> Option<(&'static str, Effect)> {
    static BY_NAME: OnceLock<HashMap<&'static str, Effect>> = OnceLock::new();
    let by_name = BY_NAME.get_or_init(|| {
        FUNCTIONS
            .iter()
            .flat_map(|(effect, names)| names.split_whitespace().map(|name| (name, *effect)))
            .collect()
    });
    let lookup = |key: &str| {
        by_name
            .get_key_value(key)
            .map(|(name, effect)| (*name, *effect))
    };
    if quoted || !name.bytes().any(|b| b.is_ascii_uppercase()) {
        lookup(name)
    } else {
        lookup(&name.to_ascii_lowercase())
    }
}

// ---------------------------------------------------------------------------
// Template blanking

/// Stands in for `{{ x | ident }}`, so templated table names still parse.
const IDENT_PLACEHOLDER: &str = "__tpl_id__";
/// Stands in for any other `{{ x }}`, which renders an SQL literal.
const VALUE_PLACEHOLDER: &str = "NULL";

/// Replaces minijinja tags with same-length SQL (ASCII only), so offsets are preserved.
fn blank_template(src: &str) -> String {
    let bytes = src.as_bytes();
    let mut out = bytes.to_vec();
    let mut raw = false;
    let mut i = 0;
    while i + 1 < bytes.len() {
        let close: &[u8; 2] = match &bytes[i..i + 2] {
            b"{{" if !raw => b"}}",
            b"{%" => b"%}",
            b"{#" if !raw => b"#}",
            _ => {
                i += 1;
                continue;
            }
        };
        let Some(end) = tag_end(bytes, i + 2, close) else {
            break;
        };
        let inner = src
            .get(i + 2..end - 2)
            .unwrap_or("")
            .trim_matches(['-', '+', ' ', '\t', '\n', '\r']);
        if raw && inner != "endraw" {
            i += 2;
            continue;
        }
        raw = close == b"%}" && inner == "raw";
        let filler = placeholder_for(close, inner, end - i);
        out[i..end].fill(b' ');
        out[i..i + filler.len()].copy_from_slice(filler.as_bytes());
        i = end;
    }
    // Only whole tags (starting and ending at ASCII braces) were replaced by ASCII.
    String::from_utf8(out).unwrap_or_else(|_| src.to_owned())
}

/// The SQL that replaces a tag of `len` bytes.
fn placeholder_for(close: &[u8; 2], inner: &str, len: usize) -> &'static str {
    if close != b"}}" {
        return "";
    }
    let ident = inner
        .split('|')
        .skip(1)
        .any(|filter| filter.trim().split(['(', ' ']).next() == Some("ident"));
    if ident && len >= IDENT_PLACEHOLDER.len() {
        IDENT_PLACEHOLDER
    } else if len >= VALUE_PLACEHOLDER.len() {
        VALUE_PLACEHOLDER
    } else {
        ""
    }
}

/// Index just past the `close` delimiter of a tag opened before `from`, skipping quoted strings.
fn tag_end(bytes: &[u8], from: usize, close: &[u8; 2]) -> Option<usize> {
    let mut quote: Option<u8> = None;
    let mut i = from;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(_) if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if close != b"#}" && (b == b'\'' || b == b'"') => quote = Some(b),
            None if bytes[i..].starts_with(close) => return Some(i + 2),
            None => {}
        }
        i += 1;
    }
    None
}

// ---------------------------------------------------------------------------
// Source positions and tokens

/// The blanked SQL with a line index, to turn sqlparser locations into byte offsets.
struct Source {
    text: String,
    line_starts: Vec<usize>,
}

impl Source {
    fn new(text: String) -> Self {
        let newlines = text.match_indices('\n').map(|(i, _)| i + 1);
        let line_starts = std::iter::once(0).chain(newlines).collect();
        Source { text, line_starts }
    }

    /// Byte offset of a 1-based line/column (columns count characters).
    fn offset(&self, location: Location) -> Option<usize> {
        let line = usize::try_from(location.line).ok()?.checked_sub(1)?;
        let column = usize::try_from(location.column).ok()?.checked_sub(1)?;
        let start = *self.line_starts.get(line)?;
        let rest = self.text.get(start..)?;
        let mut positions = rest.char_indices().map(|(i, _)| i).chain([rest.len()]);
        positions.nth(column).map(|i| start + i)
    }
}

/// The little a token-level judgement needs to know about a token.
#[derive(Debug)]
enum Lex {
    Word {
        text: String,
        offset: usize,
        quoted: bool,
    },
    Semi,
    LParen,
    Other,
}

fn tokenize(text: &str) -> Option<Vec<TokenWithSpan>> {
    Tokenizer::new(&PostgreSqlDialect {}, text)
        .tokenize_with_location()
        .ok()
}

fn lex_tokens(tokens: &[TokenWithSpan], src: &Source) -> Vec<Lex> {
    let lex_one = |t: &TokenWithSpan| match &t.token {
        Token::Whitespace(_) | Token::EOF => None,
        Token::Word(w) => Some(word(
            &w.value,
            src.offset(t.span.start)?,
            w.quote_style.is_some(),
        )),
        Token::SemiColon => Some(Lex::Semi),
        Token::LParen => Some(Lex::LParen),
        _ => Some(Lex::Other),
    };
    tokens.iter().filter_map(lex_one).collect()
}

/// Last-resort lexer for text sqlparser cannot even tokenize: skips strings,
/// quoted identifiers, dollar quotes and comments, and reports words.
fn scan(text: &str) -> Vec<Lex> {
    let b = text.as_bytes();
    let after = |from: usize, needle: &str| {
        let found = text.get(from..).and_then(|rest| rest.find(needle));
        found.map_or(b.len(), |p| from + p + needle.len())
    };
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let rest = &b[i..];
        let next = if rest.starts_with(b"--") {
            after(i, "\n")
        } else if rest.starts_with(b"/*") {
            block_comment_end(b, i)
        } else if c == b'\'' {
            after(i + 1, "'")
        } else if c == b'"' {
            let end = after(i + 1, "\"");
            let name = text.get(i + 1..end.saturating_sub(1)).unwrap_or("");
            out.push(word(name, i, true));
            end
        } else if let Some(tag) = dollar_tag(text.get(i..).unwrap_or("")) {
            after(i + tag.len(), tag)
        } else if is_word_byte(c) && !c.is_ascii_digit() {
            let len = rest.iter().take_while(|c| is_word_byte(**c)).count();
            out.push(word(text.get(i..i + len).unwrap_or(""), i, false));
            i + len
        } else {
            match c {
                b';' => out.push(Lex::Semi),
                b'(' => out.push(Lex::LParen),
                c if !c.is_ascii_whitespace() => out.push(Lex::Other),
                _ => {}
            }
            i + 1
        };
        i = next.max(i + 1);
    }
    out
}

fn word(text: &str, offset: usize, quoted: bool) -> Lex {
    let text = text.to_owned();
    Lex::Word {
        text,
        offset,
        quoted,
    }
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// Index after a (possibly nested) `/* */` comment starting at `i`.
fn block_comment_end(b: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < b.len() {
        if b[i..].starts_with(b"/*") {
            depth += 1;
            i += 2;
        } else if b[i..].starts_with(b"*/") {
            depth = depth.saturating_sub(1);
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// `$tag$` (or `$$`) at the start of `rest`; `$1` parameters are not tags.
fn dollar_tag(rest: &str) -> Option<&str> {
    let body = rest.strip_prefix('$')?;
    if body.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let len = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
    body.get(len..)?
        .starts_with('$')
        .then(|| rest.get(..len + 2))?
}

// ---------------------------------------------------------------------------
// Token fallback

/// Words that start or mark a statement a check must not run, space-separated.
const WRITE_KEYWORDS: &str = "INSERT UPDATE DELETE MERGE TRUNCATE COPY CREATE ALTER DROP GRANT \
    REVOKE COMMENT VACUUM ANALYZE CLUSTER REINDEX REFRESH LOCK CALL DO NOTIFY LISTEN CHECKPOINT \
    LOAD PREPARE EXECUTE DISCARD RESET BEGIN COMMIT ROLLBACK SAVEPOINT SECURITY IMPORT";

fn fallback_findings(lex: &[Lex]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut at_start = true;
    for (i, token) in lex.iter().enumerate() {
        if let Lex::Word { offset, .. } = token
            && let Some(name) = fallback_hit(lex, i, at_start)
        {
            findings.push(Finding {
                message: format!("check SQL could not be fully parsed and mentions `{name}`"),
                offset: Some(*offset),
            });
        }
        at_start = matches!(token, Lex::Semi);
    }
    findings
}

/// What the word at `lex[i]` mentions that a check must not, if anything.
fn fallback_hit(lex: &[Lex], i: usize, at_start: bool) -> Option<String> {
    let word = |j: usize| match lex.get(j) {
        Some(Lex::Word {
            text,
            quoted: false,
            ..
        }) => Some(text.to_ascii_uppercase()),
        _ => None,
    };
    let Some(Lex::Word { text, quoted, .. }) = lex.get(i) else {
        return None;
    };
    if matches!(lex.get(i + 1), Some(Lex::LParen))
        && let Some((name, _)) = listed_function(text, *quoted)
    {
        return Some(name.to_owned());
    }
    let upper = word(i)?;
    let share = |j: usize| word(j).as_deref() == Some("SHARE");
    match upper.as_str() {
        kw if WRITE_KEYWORDS.split_whitespace().any(|w| w == kw) => Some(upper),
        "SET" if at_start => Some(upper),
        "FOR" if share(i + 1) => Some("FOR SHARE".to_owned()),
        "FOR" if word(i + 1).as_deref() == Some("KEY") && share(i + 2) => {
            Some("FOR KEY SHARE".to_owned())
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// AST judgement

/// Parses like `Parser::parse_sql`, but also returns each statement's byte range.
fn parse_with_ranges(
    src: &Source,
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
        let start = src.offset(next.span.start).unwrap_or(0);
        let statement = parser.parse_statement().ok()?;
        let next = parser.peek_token_ref();
        if !matches!(next.token, Token::SemiColon | Token::EOF) {
            return None;
        }
        let end = src.offset(next.span.start).unwrap_or(src.text.len());
        statements.push((statement, start..end.max(start)));
    }
}

fn ast_findings(
    src: &Source,
    lex: &[Lex],
    statements: &[(Statement, Range<usize>)],
) -> Vec<Finding> {
    let mut checker = Checker {
        src,
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

/// How a statement is judged.
enum Verdict {
    Allowed,
    /// Allowed, and its inner statements are not run either (plain `EXPLAIN`).
    Opaque,
    Denied(&'static str),
}

fn verdict(statement: &Statement) -> Verdict {
    use Statement as S;
    match statement {
        // PostgreSQL's only SHOW; sqlparser's other SHOW forms are rejected by the server anyway.
        S::Query(_) | S::ShowVariable { .. } => Verdict::Allowed,
        S::Copy {
            to: true,
            target: CopyTarget::Stdout,
            ..
        } => Verdict::Allowed,
        S::Explain {
            analyze, options, ..
        } => {
            let analyze_option = options.iter().flatten().any(|o| {
                o.name.value.eq_ignore_ascii_case("analyze")
                    && !o.arg.as_ref().is_some_and(|a| {
                        matches!(
                            a.to_string().to_ascii_lowercase().as_str(),
                            "false" | "off" | "0"
                        )
                    })
            });
            if *analyze || analyze_option {
                Verdict::Allowed
            } else {
                Verdict::Opaque
            }
        }
        S::StartTransaction { .. }
        | S::Commit { .. }
        | S::Rollback { .. }
        | S::Savepoint { .. }
        | S::ReleaseSavepoint { .. } => {
            Verdict::Denied("would escape the check's read-only transaction")
        }
        S::Set(_)
        | S::Reset(_)
        | S::Discard { .. }
        | S::Prepare { .. }
        | S::Deallocate { .. }
        | S::LISTEN { .. }
        | S::UNLISTEN { .. }
        | S::Declare { .. }
        | S::Fetch { .. }
        | S::Close { .. } => Verdict::Denied("changes session state"),
        S::NOTIFY { .. } | S::Kill { .. } => Verdict::Denied("signals another session"),
        S::Lock(_) | S::LockTables { .. } => Verdict::Denied("takes a lock"),
        S::Call(_) | S::Execute { .. } => Verdict::Denied("runs code that cannot be checked"),
        S::Copy { to: true, .. } => Verdict::Denied("writes files on the server"),
        _ => Verdict::Denied("writes to the database"),
    }
}

/// The statement's kind in upper case, as written (`DELETE`, `CREATE`, `START TRANSACTION`).
fn statement_name(statement: &Statement) -> String {
    if let Statement::StartTransaction { begin: false, .. } = statement {
        return "START TRANSACTION".to_owned();
    }
    let text = statement.to_string();
    text.split_whitespace()
        .next()
        .unwrap_or("statement")
        .to_ascii_uppercase()
}

/// Walks one statement at a time, collecting findings.
struct Checker<'a> {
    src: &'a Source,
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
    fn push(&mut self, message: String, offset: Option<usize>) {
        self.findings.push(Finding { message, offset });
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
        let offset = self.src.offset(ident.span.start);
        if ident.value == IDENT_PLACEHOLDER {
            let message = "a function name chosen by the template cannot be checked".to_owned();
            return self.push(message, offset);
        }
        if let Some((listed, effect)) = listed_function(&ident.value, ident.quote_style.is_some()) {
            self.push(format!("`{listed}` {}", effect.phrase()), offset);
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
            Verdict::Denied(why) => {
                let name = statement_name(statement);
                let keyword = name.split(' ').next().unwrap_or("");
                let offset = self
                    .locate(keyword, self.range.start)
                    .or(Some(self.range.start));
                self.push(format!("`{name}` {why}"), offset);
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
            let end = self.src.offset(query.span().end);
            let start = end.unwrap_or(self.range.start);
            for lock in &query.locks {
                let offset = self.locate("FOR", start);
                self.push(format!("`FOR {}` locks rows", lock.lock_type), offset);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
        if self.opaque == 0 && select.into.is_some() {
            let start = self
                .src
                .offset(select.select_token.0.span.start)
                .unwrap_or(self.range.start);
            let offset = self.locate("INTO", start);
            self.push("`SELECT INTO` creates a table".to_owned(), offset);
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

// ---------------------------------------------------------------------------
// Result columns

/// Column names of a query body; set operations take the left-most SELECT's names.
fn set_expr_columns(body: &SetExpr) -> Option<Vec<String>> {
    match body {
        SetExpr::Select(select) => select.projection.iter().map(item_name).collect(),
        SetExpr::Query(query) => set_expr_columns(&query.body),
        SetExpr::SetOperation { left, .. } => set_expr_columns(left),
        SetExpr::Values(values) => {
            let width = values.rows.first()?.content.len();
            Some((1..=width).map(|i| format!("column{i}")).collect())
        }
        _ => None,
    }
}

fn item_name(item: &SelectItem) -> Option<String> {
    match item {
        SelectItem::UnnamedExpr(expr) => {
            Some(expr_name(expr)?.map_or_else(|| "?column?".to_owned(), |n| n.0))
        }
        SelectItem::ExprWithAlias { alias, .. } => ident_name(alias),
        _ => None,
    }
}

/// The name PostgreSQL would give an expression's column and whether it is
/// "strong" (beats the type name of a cast around it). `Some(None)` stands for
/// `?column?`; `None` means it cannot be told (template placeholders, field access).
type ExprName = Option<Option<(String, bool)>>;

fn expr_name(expr: &Expr) -> ExprName {
    let strong = |name: &str| Some(Some((name.to_owned(), true)));
    let weak = |name: &str| Some(Some((name.to_owned(), false)));
    match expr {
        Expr::Identifier(ident) => Some(Some((ident_name(ident)?, true))),
        Expr::CompoundIdentifier(parts) => Some(Some((ident_name(parts.last()?)?, true))),
        Expr::Function(function) => match function.name.0.last()? {
            ObjectNamePart::Identifier(ident) => Some(Some((ident_name(ident)?, true))),
            ObjectNamePart::Function(_) => None,
        },
        Expr::Nested(inner) | Expr::Collate { expr: inner, .. } => expr_name(inner),
        Expr::Cast {
            expr: inner,
            data_type,
            ..
        } => match expr_name(inner)? {
            Some((name, true)) => strong(&name),
            _ => weak(&type_name(data_type)?),
        },
        Expr::Case { else_result, .. } => match else_result.as_deref().map(expr_name) {
            Some(Some(Some((name, true)))) => strong(&name),
            Some(None) => None,
            _ => weak("case"),
        },
        Expr::Value(value) if value.value == Value::Null => None,
        Expr::Interval(_) => weak("interval"),
        Expr::TypedString(typed) => weak(&type_name(&typed.data_type)?),
        Expr::Exists { .. } => strong("exists"),
        Expr::Array(_) => strong("array"),
        Expr::Extract { .. } => strong("extract"),
        Expr::AtTimeZone { .. } => strong("timezone"),
        Expr::Substring { .. } => strong("substring"),
        Expr::Position { .. } => strong("position"),
        Expr::Overlay { .. } => strong("overlay"),
        Expr::Subquery(query) => strong(set_expr_columns(&query.body)?.first()?),
        // PostgreSQL names these after a field or function this module does not model.
        Expr::CompoundFieldAccess { .. } | Expr::Trim { .. } => None,
        Expr::Ceil { .. } | Expr::Floor { .. } => None,
        _ => Some(None),
    }
}

/// PostgreSQL's name for an unquoted identifier is folded to lower case.
fn ident_name(ident: &Ident) -> Option<String> {
    if ident.value == IDENT_PLACEHOLDER {
        return None;
    }
    Some(match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_ascii_lowercase(),
    })
}

/// The column name PostgreSQL gives a cast of an unnamed expression: the type's own name.
fn type_name(data_type: &DataType) -> Option<String> {
    let text = data_type.to_string().to_ascii_lowercase();
    let base = text.split(['(', '[']).next().unwrap_or("").trim();
    let base = base.rsplit('.').next().unwrap_or(base);
    let canonical = match base {
        "int" | "integer" => "int4",
        "bigint" => "int8",
        "smallint" => "int2",
        "boolean" => "bool",
        "real" => "float4",
        "double precision" | "float" => "float8",
        "character varying" => "varchar",
        "character" | "char" => "bpchar",
        "decimal" => "numeric",
        "timestamp with time zone" => "timestamptz",
        "timestamp without time zone" => "timestamp",
        other if other.contains(char::is_whitespace) || other.contains(IDENT_PLACEHOLDER) => {
            return None;
        }
        "" => return None,
        other => other,
    };
    Some(canonical.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "SELECT pid, usename, state, now() - state_change AS idle_for
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND state = 'idle'
  AND state_change < now() - {{ params.idle_after }}
  AND usename <> ALL({{ params.protected_users }})
  AND pid <> pg_backend_pid()";

    fn assert_findings(sql: &str, expected: &[(&str, usize)]) {
        let expected: Vec<Finding> = expected
            .iter()
            .map(|(message, offset)| Finding {
                message: (*message).to_owned(),
                offset: Some(*offset),
            })
            .collect();
        assert_eq!(write_findings(sql), expected, "findings for {sql:?}");
    }

    fn assert_one(sql: &str, message: &str, keyword: &str) {
        let offset = sql.find(keyword).unwrap();
        assert_findings(sql, &[(message, offset)]);
    }

    fn fallback(name: &str) -> String {
        format!("check SQL could not be fully parsed and mentions `{name}`")
    }

    fn columns(names: &[&str]) -> Option<Vec<String>> {
        Some(names.iter().map(|n| (*n).to_owned()).collect())
    }

    #[test]
    fn seed_query_is_read_only_and_has_columns() {
        assert_findings(SEED, &[]);
        let expected = columns(&["pid", "usename", "state", "idle_for"]);
        assert_eq!(result_columns(SEED), expected);
    }

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
    fn templated_read_only_queries_pass() {
        for sql in [
            "SELECT usename FROM pg_stat_activity WHERE usename <> ALL({{ params.protected_roles }})",
            "SELECT pid FROM pg_stat_activity WHERE state = 'idle' \
             {% if params.database %} AND datname = {{ params.database }}{% endif %}",
            "SELECT pid FROM pg_stat_activity {# never {{ DELETE }} #} LIMIT {{ params.n }}",
            "SELECT n_live_tup FROM {{ params.schema | ident }}.{{ params.table | ident }}",
            "{% raw %}SELECT '{{ x }}'{% endraw %}",
        ] {
            assert_findings(sql, &[]);
        }
    }

    #[test]
    fn activity_columns_pass_the_token_fallback() {
        // `IS DOCUMENT` is PostgreSQL that sqlparser rejects, so this is judged by tokens.
        let sql = "SELECT pid, state, query, backend_start, usename, datname, wait_event_type, \
                   xact_start, state_change FROM pg_stat_activity WHERE query IS DOCUMENT";
        assert_eq!(result_columns(sql), None);
        assert_findings(sql, &[]);
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
    fn statements_sqlparser_rejects_fall_back_to_tokens() {
        for (sql, name) in [
            ("ALTER SYSTEM SET work_mem = '1MB'", "ALTER"),
            ("CHECKPOINT", "CHECKPOINT"),
            ("CLUSTER t", "CLUSTER"),
            ("REINDEX TABLE t", "REINDEX"),
            ("DO $$ BEGIN PERFORM 1; END $$", "DO"),
        ] {
            assert_findings(sql, &[(&fallback(name), 0)]);
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

    #[test]
    fn offsets_point_into_the_template_source() {
        let sql = "SELECT 'é', {{ 'ü' ~ \"}}\" }};\n  DELETE FROM t";
        assert_one(sql, "`DELETE` writes to the database", "DELETE");
        let sql = "SELECT 'é' IS DOCUMENT, {{ 'ü' }};\n  DELETE FROM t";
        assert_one(sql, &fallback("DELETE"), "DELETE");
    }

    #[test]
    fn unparsable_sql_is_judged_by_tokens() {
        let sql = "SELECT 1 FROM t WHERE x IS DOCUMENT; DELETE FROM y";
        assert_findings(sql, &[(&fallback("DELETE"), 37)]);
        let sql = "SELECT * FROM t FOR NO KEY UPDATE";
        assert_findings(sql, &[(&fallback("UPDATE"), 27)]);
        let sql = "SELECT * FROM t FOR KEY SHARE";
        assert_findings(sql, &[(&fallback("FOR KEY SHARE"), 16)]);
        let sql = "SELECT pg_catalog.pg_terminate_backend(pid) IS DOCUMENT";
        assert_findings(sql, &[(&fallback("pg_terminate_backend"), 18)]);
        let sql = "SET a = 1 IS DOCUMENT; SELECT 'SET' IS DOCUMENT";
        assert_findings(sql, &[(&fallback("SET"), 0)]);
        // A templated identifier where sqlparser wants a keyword-free name still parses.
        let sql = "SELECT FROM {{ params.t | ident }} WHERE x; DELETE FROM y";
        assert_findings(sql, &[("`DELETE` writes to the database", 44)]);
    }

    #[test]
    fn untokenizable_sql_is_scanned() {
        let sql =
            "SELECT $t$ DROP $t$, \"drop\" /* DROP /* x */ DROP */; DELETE FROM t; SELECT 'open";
        assert_one(sql, &fallback("DELETE"), "DELETE");
        let sql = "SELECT 'it''s', lo_unlink (1) -- DROP\n; 'open";
        assert_one(sql, &fallback("lo_unlink"), "lo_unlink");
    }

    #[test]
    fn templates_are_blanked_to_the_same_length() {
        let src = "a {{ x }} b {% if y %}c{% endif %} {# z #} {{ t | ident }} {{x}}";
        let blanked = blank_template(src);
        assert_eq!(blanked.len(), src.len());
        // Tag lengths: 7, 10, 11, 7, 15, 5.
        let expected = format!(
            "a {:7} b {:10}c{:11} {:7} {:15} {:5}",
            "NULL", "", "", "", "__tpl_id__", "NULL"
        );
        assert_eq!(blanked, expected);
    }

    #[test]
    fn result_columns_follow_postgres_naming() {
        let cases: &[(&str, &[&str])] = &[
            ("SELECT count(*) FROM t", &["count"]),
            ("SELECT count(*) AS n, max(x)", &["n", "max"]),
            ("SELECT a.b, \"MixedCase\", Foo", &["b", "MixedCase", "foo"]),
            ("SELECT x::int", &["x"]),
            ("SELECT 1", &["?column?"]),
            ("SELECT 1 UNION SELECT 2", &["?column?"]),
            ("SELECT a AS Foo, 2 AS \"Bar\"", &["foo", "Bar"]),
            ("VALUES (1, 2)", &["column1", "column2"]),
            (
                "SELECT CASE WHEN a THEN 1 END, CASE WHEN a THEN 1 ELSE b END",
                &["case", "b"],
            ),
            (
                "SELECT '1'::int, (now() - x)::interval, CAST(1 AS bigint)",
                &["int4", "interval", "int8"],
            ),
            (
                "SELECT (SELECT max(y) FROM t), EXISTS (SELECT 1), ARRAY[1]",
                &["max", "exists", "array"],
            ),
            ("SELECT 1; SELECT pid FROM pg_stat_activity", &["pid"]),
            (
                "SELECT x FROM {{ params.t | ident }} WHERE y > {{ params.min }}",
                &["x"],
            ),
            ("SELECT {{ params.n }} + 1 AS n", &["n"]),
        ];
        for (sql, expected) in cases {
            assert_eq!(result_columns(sql), columns(expected), "columns of {sql:?}");
        }
    }

    #[test]
    fn result_columns_are_none_when_unknown() {
        for sql in [
            "SELECT *",
            "SELECT t.* FROM t",
            "SELECT a, * FROM t",
            "SELECT {{ params.value }}",
            "SELECT {{ params.column | ident }} FROM t",
            "SELECT 1 IS DOCUMENT",
            "DELETE FROM t RETURNING id",
            "SHOW work_mem",
        ] {
            assert_eq!(result_columns(sql), None, "columns of {sql:?}");
        }
    }
}
