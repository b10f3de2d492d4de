//! Escaping text from the server and the playbook for Markdown, wherever it lands: table
//! cells, headings, paragraphs, inline code. Balanced code spans stay code; everything else is
//! escaped, so nothing a session's query text holds can break the layout or inject markup.

use std::fmt::Write as _;

use crate::markdown::{code, text as prose_text};

/// Text on one line: line breaks become spaces.
pub(crate) fn single_line(text: &str) -> String {
    text.trim().replace("\r\n", " ").replace(['\n', '\r'], " ")
}

/// Heading text: prose on one line.
pub(crate) fn heading(text: &str) -> String {
    inline(&single_line(text))
}

/// Prose from the playbook or the server, safe anywhere, tables included: balanced code spans
/// stay code (names are written as `name`), everything else is escaped like a table cell but
/// for `>`, which reads as itself there. A code span holding a pipe or a line break is escaped
/// as text: no table cell can hold those.
pub(crate) fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text.trim();
    while let Some(start) = rest.find('`') {
        let fence = backtick_run(&rest[start..]);
        let after = &rest[start + fence..];
        match closing_run(after, fence) {
            Some(end) => {
                let span = &rest[start..start + fence + end + fence];
                out.push_str(&prose_text(&rest[..start]));
                if span.contains(['|', '\n', '\r']) {
                    out.push_str(&prose_text(span));
                } else {
                    out.push_str(span);
                }
                rest = &after[end + fence..];
            }
            None => {
                out.push_str(&prose_text(&rest[..start + fence]));
                rest = after;
            }
        }
    }
    out.push_str(&prose_text(rest));
    out
}

fn backtick_run(text: &str) -> usize {
    text.len() - text.trim_start_matches('`').len()
}

/// Where the run of exactly `fence` backticks that closes a code span starts.
fn closing_run(text: &str, fence: usize) -> Option<usize> {
    let mut offset = 0;
    while let Some(found) = text[offset..].find('`') {
        let at = offset + found;
        let run = backtick_run(&text[at..]);
        if run == fence {
            return Some(at);
        }
        offset = at + run;
    }
    None
}

/// Inline code inside a table cell, where a pipe would end the cell even inside code.
pub(crate) fn cell_code(text: &str) -> String {
    code(&single_line(text)).replace('|', "\\|")
}

/// Prose as a paragraph of its own, unable to start a heading, list, quote or rule.
pub(crate) fn paragraph(text: &str) -> String {
    let escaped = inline(text);
    if escaped.starts_with(['#', '-', '+', '*', '=', '_', '~', ':', '>']) {
        return format!("\\{escaped}");
    }
    let digits = escaped.len()
        - escaped
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .len();
    let rest = &escaped[digits..];
    let list_marker = rest.starts_with(['.', ')']) && rest[1..].is_empty()
        || rest.starts_with(". ")
        || rest.starts_with(") ");
    if (1..=9).contains(&digits) && list_marker {
        return format!("{}\\{rest}", &escaped[..digits]);
    }
    escaped
}

/// Markdown written by the playbook's author, as a blockquote.
pub(crate) fn quote(text: &str) -> String {
    let mut out = String::new();
    for line in text.trim().lines() {
        let line = line.trim_end();
        let _ = if line.is_empty() {
            writeln!(out, ">")
        } else {
            writeln!(out, "> {line}")
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_keeps_code_spans_and_escapes_everything_else() {
        assert_eq!(
            inline("role `app` <b>x</b> & a|b"),
            "role `app` &lt;b>x&lt;/b> &amp; a\\|b"
        );
        assert_eq!(inline("`<b>` and ``a`b``"), "`<b>` and ``a`b``");
        // A lone backtick cannot swallow what follows.
        assert_eq!(inline("a ` b"), "a \\` b");
        assert_eq!(inline("``a` b"), "\\`\\`a\\` b");
        // No code span in a table can hold a pipe or a line break.
        assert_eq!(inline("`a|b` `c\nd`"), "\\`a\\|b\\` \\`c<br>d\\`");
    }

    #[test]
    fn paragraphs_cannot_start_a_block() {
        assert_eq!(paragraph("# not a heading"), "\\# not a heading");
        assert_eq!(paragraph("- not a list"), "\\- not a list");
        assert_eq!(paragraph("> not a quote"), "\\> not a quote");
        assert_eq!(paragraph("a > b"), "a > b");
        assert_eq!(paragraph("12. not a list"), "12\\. not a list");
        assert_eq!(paragraph("3) not a list"), "3\\) not a list");
        assert_eq!(paragraph("3.5 s"), "3.5 s");
        assert_eq!(paragraph("  ---  "), "\\---");
    }
}
