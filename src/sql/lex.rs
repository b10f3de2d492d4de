//! Judging SQL by its tokens, for the SQL sqlparser cannot parse.
//!
//! sqlparser does not know all of PostgreSQL (`IS DOCUMENT`, `ALTER SYSTEM`, `CHECKPOINT`...).
//! Rather than letting such SQL through, it is judged word by word: any bare write, DDL or
//! admin keyword, `SET` at the start of a statement, a share-locking clause or a listed
//! function call is a finding. This can only err on the side of refusing, which is the right
//! side for a safety check. When even sqlparser's tokenizer gives up (an unterminated string),
//! a small scanner of our own still finds the words, skipping strings, quoted identifiers,
//! dollar quotes and comments.

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use super::Finding;
use super::blank::Blanked;
use super::policy::{Concern, is_write_keyword, listed_function};

/// The little a token-level judgement needs to know about a token.
#[derive(Debug)]
pub(super) enum Lex {
    Word {
        text: String,
        offset: usize,
        quoted: bool,
    },
    Semi,
    LParen,
    Other,
}

pub(super) fn tokenize(text: &str) -> Option<Vec<TokenWithSpan>> {
    Tokenizer::new(&PostgreSqlDialect {}, text)
        .tokenize_with_location()
        .ok()
}

/// sqlparser's tokens reduced to what judging needs, with byte offsets into the source.
pub(super) fn from_tokens(tokens: &[TokenWithSpan], blanked: &Blanked) -> Vec<Lex> {
    let lex_one = |t: &TokenWithSpan| match &t.token {
        Token::Whitespace(_) | Token::EOF => None,
        Token::Word(w) => Some(word(
            &w.value,
            blanked.offset(t.span.start)?,
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
pub(super) fn scan(text: &str) -> Vec<Lex> {
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

/// Every finding of the token judgement.
pub(super) fn findings(lex: &[Lex]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut at_start = true;
    for (i, token) in lex.iter().enumerate() {
        if let Lex::Word { offset, .. } = token
            && let Some(name) = hit(lex, i, at_start)
        {
            findings.push(Finding {
                concern: Concern::Unparsed { name },
                offset: Some(*offset),
            });
        }
        at_start = matches!(token, Lex::Semi);
    }
    findings
}

/// What the word at `lex[i]` mentions that a check must not, if anything.
fn hit(lex: &[Lex], i: usize, at_start: bool) -> Option<String> {
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
        && let Some(Concern::Function { name, .. }) = listed_function(text, *quoted)
    {
        return Some(name.to_owned());
    }
    let upper = word(i)?;
    let share = |j: usize| word(j).as_deref() == Some("SHARE");
    match upper.as_str() {
        kw if is_write_keyword(kw) => Some(upper),
        "SET" if at_start => Some(upper),
        "FOR" if share(i + 1) => Some("FOR SHARE".to_owned()),
        "FOR" if word(i + 1).as_deref() == Some("KEY") && share(i + 2) => {
            Some("FOR KEY SHARE".to_owned())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::sql::tests::{assert_findings, assert_one, fallback};

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
}
