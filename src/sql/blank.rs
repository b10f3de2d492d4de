//! Blanking a template's tags so the SQL around them parses, without moving anything.
//!
//! Each tag is replaced by SQL of exactly its length (`{{ x }}` becomes `NULL`, or an
//! identifier for `| ident`; `{% %}` and `{# #}` become spaces, keeping both branches of an
//! `if`), so a byte offset into the blanked text is the same offset into the template source,
//! and findings point at the file without any mapping back.
//!
//! Blanking must never make the template look safer than what it renders. Rendering removes a
//! `{# #}` comment or a `{% %}` tag (and with `-`, the whitespace beside it), so `DEL{# #}ETE`
//! renders `DELETE`, and a loop body repeats, joining its last word to its first. So a tag
//! that has word characters on both sides once rendering has removed it (and the whitespace it
//! trims) is a finding of its own: the template judgment cannot see the word it makes.

/// Stands in for `{{ x | ident }}` (and `{{ x | safe }}`, raw SQL most often used as a
/// name), so templated table names still parse.
pub(super) const IDENT_PLACEHOLDER: &str = "__tpl_id__";
/// Stands in for any other `{{ x }}`, which renders an SQL literal.
const VALUE_PLACEHOLDER: &str = "NULL";

/// The blanked SQL, and the words its tags split (offset of the split, the joined word).
pub(super) struct Blanked {
    pub(super) text: String,
    pub(super) splits: Vec<(usize, String)>,
}

impl Blanked {
    pub(super) fn of(template: &str) -> Blanked {
        let (text, tags) = blank_template(template);
        let splits = split_words(template.as_bytes(), &tags);
        Blanked { text, splits }
    }
}

/// Where a tag is and what rendering does around it.
#[derive(Debug, Clone, Copy)]
struct Tag {
    start: usize,
    end: usize,
    trims_left: bool,
    trims_right: bool,
    /// `Some(true)` for `{% for %}`, `Some(false)` for `{% endfor %}`.
    for_loop: Option<bool>,
}

/// Replaces minijinja tags with same-length SQL (ASCII only), so offsets are preserved.
fn blank_template(src: &str) -> (String, Vec<Tag>) {
    let bytes = src.as_bytes();
    let mut out = bytes.to_vec();
    let mut tags = Vec::new();
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
        let body = src.get(i + 2..end - 2).unwrap_or("");
        let inner = body.trim_matches(['-', '+', ' ', '\t', '\n', '\r']);
        if raw && inner != "endraw" {
            i += 2;
            continue;
        }
        raw = close == b"%}" && inner == "raw";
        let keyword = inner.split_whitespace().next();
        tags.push(Tag {
            start: i,
            end,
            trims_left: body.starts_with('-'),
            trims_right: body.ends_with('-'),
            for_loop: match (close, keyword) {
                (b"%}", Some("for")) => Some(true),
                (b"%}", Some("endfor")) => Some(false),
                _ => None,
            },
        });
        let filler = placeholder_for(close, inner, end - i);
        out[i..end].fill(b' ');
        out[i..i + filler.len()].copy_from_slice(filler.as_bytes());
        i = end;
    }
    // Only whole tags (starting and ending at ASCII braces) were replaced by ASCII.
    let text = String::from_utf8(out).unwrap_or_else(|_| src.to_owned());
    (text, tags)
}

/// Words that rendering joins across tags: beside a tag, or across a loop's repetition.
fn split_words(src: &[u8], tags: &[Tag]) -> Vec<(usize, String)> {
    let mut splits: Vec<(usize, String)> = Vec::new();
    let mut loops = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        let (left, right) = (left_of(src, tags, i), right_of(src, tags, i));
        let mut join = |left: usize, right: usize| {
            if let Some((offset, word)) = word_across(src, left, right)
                && !splits.iter().any(|(o, _)| *o == offset)
            {
                splits.push((offset, word));
            }
        };
        join(left, right);
        match tag.for_loop {
            Some(true) => loops.push(right),
            Some(false) => {
                if let Some(body_start) = loops.pop() {
                    join(left, body_start);
                }
            }
            None => {}
        }
    }
    splits
}

/// Offset just past the text rendering puts before tag `i` (skipping adjacent tags and
/// trimmed whitespace).
fn left_of(src: &[u8], tags: &[Tag], mut i: usize) -> usize {
    loop {
        let start = tags[i].start;
        let trimmed = start
            - src[..start]
                .iter()
                .rev()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
        match i.checked_sub(1).filter(|&j| tags[j].end == trimmed) {
            Some(j) if trimmed == start || tags[i].trims_left || tags[j].trims_right => i = j,
            _ if tags[i].trims_left => return trimmed,
            _ => return start,
        }
    }
}

/// Offset of the text rendering puts after tag `i`.
fn right_of(src: &[u8], tags: &[Tag], mut i: usize) -> usize {
    loop {
        let end = tags[i].end;
        let trimmed = end
            + src[end..]
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
        match Some(i + 1).filter(|&j| tags.get(j).is_some_and(|t| t.start == trimmed)) {
            Some(j) if trimmed == end || tags[i].trims_right || tags[j].trims_left => i = j,
            _ if tags[i].trims_right => return trimmed,
            _ => return end,
        }
    }
}

/// Where the word made of the word characters before `left` and from `right` on starts, and
/// the word; `None` unless both sides have some.
fn word_across(src: &[u8], left: usize, right: usize) -> Option<(usize, String)> {
    let is_word = |b: &&u8| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'$' || **b >= 0x80;
    let before = src[..left].iter().rev().take_while(is_word).count();
    let after = src[right..].iter().take_while(is_word).count();
    if before == 0 || after == 0 {
        return None;
    }
    let mut word = src[left - before..left].to_vec();
    word.extend_from_slice(&src[right..right + after]);
    Some((left - before, String::from_utf8_lossy(&word).into_owned()))
}

/// The SQL that replaces a tag of `len` bytes.
fn placeholder_for(close: &[u8; 2], inner: &str, len: usize) -> &'static str {
    if close != b"}}" {
        return "";
    }
    let ident = inner.split('|').skip(1).any(|filter| {
        matches!(
            filter.trim().split(['(', ' ']).next(),
            Some("ident" | "safe")
        )
    });
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
    use crate::sql::tests::assert_findings;

    #[test]
    fn templates_are_blanked_to_the_same_length() {
        let src = "a {{ x }} b {% if y %}c{% endif %} {# z #} {{ t | ident }} {{x}}";
        let (blanked, _) = blank_template(src);
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
        let at = sql.find("DELETE").unwrap();
        let several = "a check is exactly one statement; this is statement 2 of 2";
        assert_findings(
            sql,
            &[(several, at), ("`DELETE` writes to the database", at)],
        );
    }

    #[test]
    fn a_tag_that_splits_a_word_is_a_finding() {
        let split = |word: &str| {
            format!("a template tag splits the word `{word}`; rendering would join its parts")
        };
        for (sql, word, at) in [
            ("DEL{# #}ETE FROM t", "DELETE", 0),
            (
                "SELECT pg_termi{# #}nate_backend(pid) FROM pg_stat_activity",
                "pg_terminate_backend",
                7,
            ),
            ("DEL {#- x -#} ETE FROM t", "DELETE", 0),
            ("DEL {%- if x %}{% endif -%}\n ETE FROM t", "DELETE", 0),
            ("DEL{% if x %}{% endif %}ETE FROM t", "DELETE", 0),
            ("SELECT 1 AS a{% for x in xs %}b{% endfor %}", "ab", 12),
            ("SELECT 1 {% for x in xs %}DEL{% endfor %}", "DELDEL", 26),
        ] {
            let found =
                crate::sql::analyze(sql, crate::sql::Role::Query(crate::sql::OptIn::default()))
                    .findings;
            assert_eq!(
                found.first().map(|f| (f.to_string(), f.offset)),
                Some((split(word), Some(at))),
                "{sql:?}"
            );
        }
        // Whitespace that rendering keeps still separates the words.
        for sql in [
            "SELECT 1 {# c #} FROM t",
            "SELECT 1 {%- if x %} AS n{% endif %}",
            "SELECT x FROM {{ s | ident }}.{{ t | ident }}",
            "SELECT 1 {% for x in xs %} , 2 {% endfor %}",
        ] {
            assert_findings(sql, &[]);
        }
    }
}
