//! A step's rows as a compact table that fits the terminal's width.
//!
//! At 3 a.m. the question is "which sessions?", so the columns that name a session come first
//! (pid, role, database, age, state, blocker) and the rest follow in the result's order. The
//! widest columns give way first, cut with `…`, but a header is cut only once no other column
//! can give more (a cut `idle_in_tr…` says less than a cut query); columns that still do not
//! fit are left out and counted, and so are rows past the limit: the report keeps them all. Every cell is made
//! safe for the terminal before it is measured.

use console::{measure_text_width, pad_str, truncate_str};

use super::record::Cell;
use crate::terminal_text::for_terminal_line;

/// What a table is made of: a step's columns, the rows it recorded, and how many the SQL
/// returned in all.
pub struct Rows<'a> {
    pub columns: &'a [String],
    pub rows: &'a [Vec<Cell>],
    pub row_count: u64,
}

/// Indent of a table below its status line.
const INDENT: &str = "  ";
/// Between two columns.
const GAP: &str = "  ";
/// No column is cut narrower than this.
const NARROWEST: usize = 6;
/// No column is wider than this, however long its values.
const WIDEST: usize = 40;

/// The lines of the table of `rows`: at most `max_rows` rows, within `width` columns.
pub fn table(rows: &Rows<'_>, max_rows: usize, width: usize) -> Vec<String> {
    let order = identities_first(rows.columns);
    let shown: Vec<Vec<String>> = rows
        .rows
        .iter()
        .take(max_rows)
        .map(|row| {
            order
                .iter()
                .map(|&k| row.get(k).map(text).unwrap_or_default())
                .collect()
        })
        .collect();
    let headers: Vec<String> = order
        .iter()
        .map(|&k| for_terminal_line(&rows.columns[k]).into_owned())
        .collect();
    let mut widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, header)| {
            let cells = shown.iter().map(|row| measure_text_width(&row[i]));
            cells
                .chain([measure_text_width(header)])
                .max()
                .unwrap_or(0)
                .min(WIDEST)
        })
        .collect();
    let header_widths: Vec<usize> = headers.iter().map(|h| measure_text_width(h)).collect();
    let kept = fit(
        &mut widths,
        &header_widths,
        width.saturating_sub(INDENT.len()),
    );
    let mut lines = vec![line(&headers, &widths[..kept])];
    lines.extend(shown.iter().map(|row| line(row, &widths[..kept])));
    let more_rows = rows.row_count.saturating_sub(shown.len() as u64);
    let more_columns = order.len() - kept;
    let mut more = Vec::new();
    if more_rows > 0 {
        more.push(count(more_rows, "more row"));
    }
    if more_columns > 0 {
        more.push(count(more_columns as u64, "more column"));
    }
    if !more.is_empty() {
        lines.push(format!("{INDENT}… {} (in the report)", more.join(", ")));
    }
    lines
}

/// `1 more row`, `3 more rows`.
fn count(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Narrows the widest columns until the table fits `room` — first none below its header, so
/// a header is cut only when shrinking the others cannot make room, then none below
/// [`NARROWEST`] — and leaves out the last columns while it still does not fit; returns how
/// many columns are kept.
fn fit(widths: &mut [usize], headers: &[usize], room: usize) -> usize {
    let total = |widths: &[usize]| -> usize {
        widths.iter().sum::<usize>() + GAP.len() * widths.len().saturating_sub(1)
    };
    let readable: Vec<usize> = headers.iter().map(|&h| h.max(NARROWEST)).collect();
    for floors in [readable, vec![NARROWEST; widths.len()]] {
        while total(widths) > room {
            let Some(widest) = (0..widths.len())
                .filter(|&i| widths[i] > floors[i])
                .max_by_key(|&i| (widths[i], usize::MAX - i))
            else {
                break;
            };
            widths[widest] -= 1;
        }
    }
    let mut kept = widths.len();
    while kept > 1 && total(&widths[..kept]) > room {
        kept -= 1;
    }
    kept
}

/// One line of cells, each cut or padded to its width.
fn line(cells: &[String], widths: &[usize]) -> String {
    let cells: Vec<String> = cells
        .iter()
        .zip(widths)
        .map(|(cell, &width)| {
            let cut = truncate_str(cell, width, "…");
            pad_str(&cut, width, console::Alignment::Left, None).into_owned()
        })
        .collect();
    format!("{INDENT}{}", cells.join(GAP).trim_end())
}

/// A cell as psql shows it (NULL empty), safe for one line of the terminal.
fn text(cell: &Cell) -> String {
    cell.shown()
        .map(|shown| for_terminal_line(&shown).into_owned())
        .unwrap_or_default()
}

/// The columns' indices, those that name a session first, in the order of [`IDENTITIES`].
fn identities_first(columns: &[String]) -> Vec<usize> {
    let rank = |name: &str| IDENTITIES.iter().position(|group| group(name));
    let mut order: Vec<usize> = (0..columns.len()).collect();
    order.sort_by_key(|&k| (rank(&columns[k]).unwrap_or(IDENTITIES.len()), k));
    order
}

/// The kinds of column that say which session a row is: pid, role, database, age, state,
/// blocker.
const IDENTITIES: [fn(&str) -> bool; 6] = [
    |name| name == "pid",
    |name| matches!(name, "usename" | "role" | "rolname" | "user" | "username"),
    |name| matches!(name, "datname" | "database"),
    |name| name == "age" || name.ends_with("_age") || name.contains("duration"),
    |name| name == "state",
    |name| name.starts_with("block"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    fn row(values: &[&str]) -> Vec<Cell> {
        values.iter().map(|v| Cell::Text((*v).to_owned())).collect()
    }

    /// The table of `rows` under `names`, of `row_count` rows in all, at most `max_rows`
    /// shown.
    fn shown(
        names: &[&str],
        rows: &[Vec<Cell>],
        counts: (u64, usize),
        width: usize,
    ) -> Vec<String> {
        let columns = columns(names);
        let (row_count, max_rows) = counts;
        let rows = Rows {
            columns: &columns,
            rows,
            row_count,
        };
        table(&rows, max_rows, width)
    }

    #[test]
    fn identities_come_first_then_the_rest_in_order() {
        let names = columns(&["query", "state", "datname", "xact_age", "pid", "usename"]);
        let order: Vec<&str> = identities_first(&names)
            .into_iter()
            .map(|k| names[k].as_str())
            .collect();
        assert_eq!(
            order,
            ["pid", "usename", "datname", "xact_age", "state", "query"]
        );
    }

    #[test]
    fn a_narrow_table_is_shown_as_it_is_with_the_rows_left_out_counted() {
        let rows = [row(&["idle", "101"]), row(&["active", "102"])];
        assert_eq!(
            shown(&["state", "pid"], &rows, (5, 1), 80),
            [
                "  pid  state",
                "  101  idle",
                "  … 4 more rows (in the report)"
            ]
        );
    }

    #[test]
    fn the_widest_column_is_cut_to_fit_the_width() {
        let long = "SELECT ".repeat(20);
        let lines = shown(&["pid", "query"], &[row(&["7", &long])], (1, 10), 30);
        assert_eq!(lines[1], "  7    SELECT SELECT SELECT S…");
        assert!(lines.iter().all(|line| measure_text_width(line) <= 30));
    }

    #[test]
    fn columns_that_cannot_fit_are_left_out_and_counted() {
        let names = ["pid", "a", "b", "c", "d", "e", "f", "g", "h"];
        let lines = shown(&names, &[row(&["1234567890"; 9])], (1, 10), 40);
        assert!(lines.iter().all(|line| measure_text_width(line) <= 40));
        assert_eq!(
            lines.last().map(String::as_str),
            Some("  … 4 more columns (in the report)")
        );
    }

    #[test]
    fn control_characters_in_cells_are_escaped() {
        let lines = shown(&["pid", "query"], &[row(&["1", "a\x1b[2Jb"])], (1, 10), 80);
        assert_eq!(lines[1], "  1    a\\x1b[2Jb");
    }

    #[test]
    fn a_header_is_cut_only_when_the_other_columns_cannot_give_way() {
        let query = "SELECT ".repeat(10);
        let names = ["pid", "idle_in_transaction", "query"];
        let lines = shown(&names, &[row(&["7", "2", &query])], (1, 10), 40);
        assert_eq!(lines[0], "  pid  idle_in_transaction  query");
        assert_eq!(lines[1], "  7    2                    SELECT SELE…");
        assert!(lines.iter().all(|line| measure_text_width(line) <= 40));
        // No room even with the query at its narrowest: the header is cut, marked with `…`.
        let lines = shown(&names, &[row(&["7", "2", &query])], (1, 10), 30);
        assert_eq!(lines[0], "  pid  idle_in_transa…  query");
        assert!(lines.iter().all(|line| measure_text_width(line) <= 30));
    }
}
