//! Blanking a template's tags so the SQL around them parses, without moving anything.
//!
//! Each tag is replaced by SQL of exactly its length (`{{ x }}` becomes `NULL`, or an
//! identifier for `| ident`; `{% %}` and `{# #}` become spaces, keeping both branches of an
//! `if`), so a byte offset into the blanked text is the same offset into the template source,
//! and findings point at the file without any mapping back.

use sqlparser::tokenizer::Location;

/// Stands in for `{{ x | ident }}`, so templated table names still parse.
pub(super) const IDENT_PLACEHOLDER: &str = "__tpl_id__";
/// Stands in for any other `{{ x }}`, which renders an SQL literal.
const VALUE_PLACEHOLDER: &str = "NULL";

/// The blanked SQL with a line index, to turn sqlparser locations into byte offsets.
pub(super) struct Blanked {
    pub(super) text: String,
    line_starts: Vec<usize>,
}

impl Blanked {
    pub(super) fn of(template: &str) -> Blanked {
        let text = blank_template(template);
        let newlines = text.match_indices('\n').map(|(i, _)| i + 1);
        let line_starts = std::iter::once(0).chain(newlines).collect();
        Blanked { text, line_starts }
    }

    /// Byte offset of a 1-based line/column (columns count characters).
    pub(super) fn offset(&self, location: Location) -> Option<usize> {
        let line = usize::try_from(location.line).ok()?.checked_sub(1)?;
        let column = usize::try_from(location.column).ok()?.checked_sub(1)?;
        let start = *self.line_starts.get(line)?;
        let rest = self.text.get(start..)?;
        let mut positions = rest.char_indices().map(|(i, _)| i).chain([rest.len()]);
        positions.nth(column).map(|i| start + i)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::tests::{assert_findings, assert_one, fallback};

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
    fn offsets_point_into_the_template_source() {
        let sql = "SELECT 'é', {{ 'ü' ~ \"}}\" }};\n  DELETE FROM t";
        assert_one(sql, "`DELETE` writes to the database", "DELETE");
        let sql = "SELECT 'é' IS DOCUMENT, {{ 'ü' }};\n  DELETE FROM t";
        assert_one(sql, &fallback("DELETE"), "DELETE");
    }
}
