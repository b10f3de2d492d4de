//! PostgreSQL's own parser (libpg_query, through `pg_query`), bounded so that no input can
//! crash or stall the judge.
//!
//! What the server will parse is what is judged: there is no second grammar to disagree with
//! it. libpg_query checks its own stack depth (a too-deep input is a parse error, not a
//! crash), and the parse tree it hands over is decoded with prost's recursion limit, so a tree
//! deeper than that is refused as "too deeply nested" before any Rust code walks it. The walk
//! itself (`judge`) keeps an explicit stack.
//!
//! Bounded is not small, though: libpg_query allows itself 2 MB of stack, and decoding 100
//! levels of its tree (and dropping them) takes several MB in a debug build, more than a
//! 2 MiB tokio or scoped thread has. So all parsing runs on a thread of `PARSER_STACK` bytes:
//! a fresh one per call, unless the caller already is one (`as_parser_thread`: validation's
//! workers), whatever stack the caller has.

use std::cell::Cell;

use pg_query::protobuf::{ParseResult, Token};

use super::policy::Concern;

/// Longer SQL is refused before parsing. Real checks are a few KB; 3,000 `OR`ed conditions
/// are 40 KB.
pub(super) const MAX_SQL_BYTES: usize = 128 * 1024;

/// About how many levels of nesting the judge accepts (prost decodes at most 100 messages
/// deep, and each expression level is two messages).
const MAX_LEVELS: usize = 50;

/// The stack a parser thread gets: libpg_query's 2 MB, prost's 100 levels and room to spare.
pub(crate) const PARSER_STACK: usize = 32 * 1024 * 1024;

thread_local! {
    static IS_PARSER_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` as a parser thread: the caller promises the thread has `PARSER_STACK` bytes.
pub(crate) fn as_parser_thread<T>(f: impl FnOnce() -> T) -> T {
    IS_PARSER_THREAD.set(true);
    f()
}

/// Runs `f` on a parser thread: this one if it is one, else a new one.
pub(super) fn on_parser_stack<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, Concern> {
    if IS_PARSER_THREAD.get() {
        return Ok(f());
    }
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("sql-parser".to_owned())
            .stack_size(PARSER_STACK)
            .spawn_scoped(scope, || as_parser_thread(f));
        match thread {
            Ok(thread) => Ok(thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))),
            Err(error) => Err(Concern::Syntax {
                message: format!("no thread to parse it on: {error}"),
            }),
        }
    })
}

/// One statement of the input, with where it starts in the text that was parsed.
pub(super) struct Statement {
    pub node: pg_query::NodeEnum,
    pub start: usize,
    /// Where it ends: before its `;`, or at the end of the text.
    pub end: usize,
}

/// Parses `text` into its statements, or says why it cannot be judged.
pub(super) fn statements(text: &str) -> Result<Vec<Statement>, Concern> {
    if text.len() > MAX_SQL_BYTES {
        let (len, max) = (text.len(), MAX_SQL_BYTES);
        return Err(Concern::TooLong { len, max });
    }
    if text.contains('\0') {
        let message = "it contains a NUL byte".to_owned();
        return Err(Concern::Syntax { message });
    }
    let parsed = std::panic::catch_unwind(|| pg_query::parse(text, 0).map(|r| r.protobuf));
    match parsed {
        Ok(Ok(tree)) => Ok(split(text, tree)),
        Ok(Err(pg_query::Error::Decode(_))) => Err(too_deep()),
        Ok(Err(pg_query::Error::Parse(message))) if is_depth_error(&message) => Err(too_deep()),
        Ok(Err(pg_query::Error::Parse(message))) => Err(Concern::Syntax { message }),
        Ok(Err(other)) => Err(Concern::Syntax {
            message: other.to_string(),
        }),
        Err(_) => Err(Concern::Syntax {
            message: "the parser failed on it".to_owned(),
        }),
    }
}

fn too_deep() -> Concern {
    Concern::TooDeep { levels: MAX_LEVELS }
}

/// PostgreSQL's words for an input too deep for its stack or its grammar's stack.
fn is_depth_error(message: &str) -> bool {
    message.contains("stack depth limit exceeded") || message.contains("memory exhausted")
}

fn split(text: &str, tree: ParseResult) -> Vec<Statement> {
    let offset = |n: i32| usize::try_from(n).unwrap_or(0).min(text.len());
    tree.stmts
        .into_iter()
        .filter_map(|raw| {
            let node = raw.stmt?.node?;
            let start = offset(raw.stmt_location);
            // A length of 0 means "the rest of the text".
            let end = match raw.stmt_len {
                0 => text.len(),
                len => offset(raw.stmt_location.saturating_add(len)),
            };
            Some(Statement { node, start, end })
        })
        .collect()
}

/// The keyword tokens of `text` (start offset and upper-cased spelling), to point findings
/// at keywords the parse tree has no location for (`FOR UPDATE`, `INTO`, `DELETE` in a CTE).
pub(super) fn keywords(text: &str) -> Vec<(usize, String)> {
    let Ok(Ok(tokens)) = std::panic::catch_unwind(|| pg_query::scan_tokens(text)) else {
        return Vec::new();
    };
    tokens
        .iter()
        .filter(|t| t.keyword_kind != 0 && t.token != Token::Ident as i32)
        .filter_map(|t| {
            let start = usize::try_from(t.start).ok()?;
            let end = usize::try_from(t.end).ok()?;
            Some((start, text.get(start..end)?.to_ascii_uppercase()))
        })
        .collect()
}
