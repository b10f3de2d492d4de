//! Small Markdown helpers shared by `show` and the report.
//!
//! Text from playbooks and from the server (query texts, role names) lands in tables and
//! inline code; these helpers make sure it cannot break a table or inject markup.

/// Text for a table cell: pipes escaped, line breaks as `<br>`, HTML neutralised.
pub fn cell(text: &str) -> String {
    escape(text, Gt::Escaped)
}

/// Text within a line of prose (a sentence, a list item, a message cell): like [`cell`], but
/// `>` stays as it reads — it starts a quote only at the start of a line, which
/// the report's `paragraph` guards — so `server_version >= 13` is not `&gt;=` in raw Markdown.
pub fn text(text: &str) -> String {
    escape(text, Gt::Kept)
}

/// Whether [`escape`] writes `>` as `&gt;`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Gt {
    Escaped,
    Kept,
}

fn escape(text: &str, gt: Gt) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\n' => out.push_str("<br>"),
            '\r' => {}
            '<' => out.push_str("&lt;"),
            '>' if gt == Gt::Escaped => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '`' => out.push_str("\\`"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out
}

/// Inline code that survives backticks inside: uses a longer fence than any run inside.
pub fn code(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// A fenced code block whose fence is longer than any backtick run inside.
pub fn fenced(language: &str, text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!(
        "{fence}{language}\n{}\n{fence}\n",
        text.trim_end_matches('\n')
    )
}

/// A Markdown table; every cell is escaped.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n", header.join(" | "));
    out.push_str(&format!("|{}\n", " --- |".repeat(header.len())));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_tables() {
        assert_eq!(cell("a|b\nc<script>"), "a\\|b<br>c&lt;script&gt;");
        assert_eq!(text("a >= 1 <b>"), "a >= 1 &lt;b>");
    }

    #[test]
    fn code_spans_survive_backticks() {
        assert_eq!(code("a"), "`a`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x`"), "`` `x` ``");
    }

    #[test]
    fn fences_outgrow_their_content() {
        assert_eq!(fenced("sql", "SELECT 1\n"), "```sql\nSELECT 1\n```\n");
        assert_eq!(fenced("", "````"), "`````\n````\n`````\n");
    }

    #[test]
    fn tables_escape_cells() {
        let rows = vec![vec!["a|b".to_owned(), "c".to_owned()]];
        assert_eq!(
            table(&["x", "y"], &rows),
            "| x | y |\n| --- | --- |\n| a\\|b | c |\n"
        );
    }
}
