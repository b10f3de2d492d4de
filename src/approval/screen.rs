//! What the approval prompt shows, fitted to the terminal: the title, then the rows the action
//! will act on, then the SQL folded, so that at 80×24 the whole question stays on one screen.
//!
//! An operator decides on the rows, not on the SQL: a `terminate:` statement carries every
//! pid and `backend_start` on one line (862 characters for 25 sessions), which used to push
//! the rows and the title off the screen. So the rows come first, identities first (pid,
//! role, database, age, state, blocker), each cell cut to fit the width and the rows to fit
//! the height, with a count of what is not shown; the SQL shows its first lines, and `s` at
//! the menu prints it in full. Every text is shown with its control characters escaped.

use std::fmt::Write as _;

use dialoguer::console::{measure_text_width, truncate_str};

use super::{Preview, Request};
use crate::playbook::Approval;
use crate::terminal_text::{for_terminal, for_terminal_line};

/// Lines of SQL shown before `s` is needed.
const SQL_LINES: usize = 3;

/// The fewest preview rows shown, however small the terminal.
const MIN_ROWS: usize = 3;

/// A column is never cut narrower than this (or its natural width, when smaller).
const MIN_WIDTH: usize = 6;

/// A column is never shown wider than this: a long value is cut, so more columns fit.
const MAX_WIDTH: usize = 32;

/// Lines around the rows and the text: the blank lines, `Acts on`, the header and its rule,
/// `… N more`, the hidden columns, the menu's prompt and three items, and the cursor's line.
const FRAME_LINES: usize = 13;

/// The column names that say whose session a row is, in the order they are shown: pid, role,
/// database, age, state, blocker. Other columns follow in the check's order.
fn identity_rank(name: &str) -> Option<usize> {
    let name = name.to_ascii_lowercase();
    let rank = match name.as_str() {
        "pid" => 0,
        "usename" | "rolname" | "role" | "user" | "username" => 1,
        "datname" | "database" | "db" => 2,
        "age" | "duration" | "longest_wait" => 3,
        n if n.ends_with("_age") || n.ends_with("_for") => 3,
        "state" => 4,
        "blocker" | "blocked_by" | "blocking_pids" | "blocks" | "blocked_sessions" => 5,
        _ => return None,
    };
    Some(rank)
}

/// The terminal's size as `(rows, columns)`.
pub type Size = (usize, usize);

/// The whole question above the menu, fitted to `size`; `naming` (a fleet's `== Target`)
/// comes first.
pub fn describe(request: &Request, naming: &str, size: Size) -> String {
    let (height, width) = (size.0.max(1), size.1.max(20));
    let mut head = naming.to_owned();
    // The title and the description wrap rather than lose words; the height counts them.
    let _ = writeln!(
        head,
        "\n== Action `{}`: {}",
        for_terminal_line(&request.step.id),
        for_terminal_line(request.title)
    );
    let mut tail = String::new();
    tail.push_str(&folded_sql(request.sql, width));
    if let Some(description) = &request.step.description {
        tail.push('\n');
        let _ = writeln!(tail, "{}", for_terminal(description.trim_end()));
    }
    if request.approval == Approval::Confirm {
        tail.push_str("This action needs confirmation.\n");
    }
    let Some(preview) = &request.preview else {
        return format!("{head}\n{tail}");
    };
    let used = rows_of(&head, width) + rows_of(&tail, width) + FRAME_LINES;
    let budget = height.saturating_sub(used).max(MIN_ROWS);
    format!(
        "{head}{}\n{tail}",
        rows_table(preview, request.max_rows, width, budget)
    )
}

/// The SQL in full, as `s` prints it.
pub fn full_sql(sql: &str) -> String {
    format!(
        "\nSQL that will run, in full:\n{}\n",
        indent(&for_terminal(sql.trim_end()))
    )
}

/// The first lines of the SQL, each cut to the width, and how many more `s` shows.
fn folded_sql(sql: &str, width: usize) -> String {
    let text = for_terminal(sql.trim_end());
    let all: Vec<&str> = text.lines().collect();
    let shown: Vec<String> = all
        .iter()
        .take(SQL_LINES)
        .map(|line| cut(&format!("    {line}"), width))
        .collect();
    let cut_any = shown
        .iter()
        .zip(&all)
        .any(|(shown, line)| measure_text_width(shown) < measure_text_width(line) + 4);
    let heading = if all.len() > SQL_LINES {
        format!(
            "SQL that will run (first {SQL_LINES} of {} lines; s shows it all):",
            all.len()
        )
    } else if cut_any {
        "SQL that will run (cut to the width; s shows it all):".to_owned()
    } else {
        "SQL that will run:".to_owned()
    };
    format!("{}\n{}\n", cut(&heading, width), shown.join("\n"))
}

/// `Acts on N rows`, then the rows as a table fitted to `width`, at most `budget` of them.
fn rows_table(preview: &Preview, max_rows: Option<u64>, width: usize, budget: usize) -> String {
    let limit = max_rows
        .map(|n| format!(" (max_rows {n})"))
        .unwrap_or_default();
    let count = preview.row_count;
    let mut out = format!(
        "\nActs on {count} row{}{limit}:\n",
        if count == 1 { "" } else { "s" }
    );
    let order = column_order(preview.columns);
    let header: Vec<String> = order
        .iter()
        .map(|&i| for_terminal_line(&preview.columns[i]).into_owned())
        .collect();
    let rows: Vec<Vec<String>> = preview
        .rows
        .iter()
        .take(budget)
        .map(|row| {
            order
                .iter()
                .map(|&i| {
                    let value = row.get(i).cloned().flatten();
                    for_terminal_line(value.as_deref().unwrap_or("NULL")).into_owned()
                })
                .collect()
        })
        .collect();
    let widths = fit(&header, &rows, width.saturating_sub(2));
    let kept = widths.len();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, &w)| {
                let cell = truncate_str(cell, w, "…");
                format!(
                    "{cell}{}",
                    " ".repeat(w.saturating_sub(measure_text_width(&cell)))
                )
            })
            .collect();
        format!("  {}\n", padded.join(" | ").trim_end())
    };
    out.push_str(&line(&header));
    out.push_str(&line(
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
    ));
    for row in &rows {
        out.push_str(&line(row));
    }
    let more = count.saturating_sub(rows.len() as u64);
    if more > 0 {
        let _ = writeln!(out, "  … {more} more");
    }
    if kept < header.len() {
        let hidden = header[kept..].join(", ");
        let note = format!("  ({} more columns: {hidden})", header.len() - kept);
        let _ = writeln!(out, "{}", cut(&note, width));
    }
    out
}

/// The preview's columns, identities first.
fn column_order(columns: &[String]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..columns.len()).collect();
    order.sort_by_key(|&i| (identity_rank(&columns[i]).unwrap_or(usize::MAX), i));
    order
}

/// The width of each column that fits in `room` (columns joined by ` | `): as many columns
/// as fit at their natural width (at most `MAX_WIDTH`), then the next one cut to what is
/// left if that is at least `MIN_WIDTH`; the rest are not shown. When all fit, the room left
/// widens the ones cut.
fn fit(header: &[String], rows: &[Vec<String>], room: usize) -> Vec<usize> {
    let natural: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|row| measure_text_width(&row[i]))
                .chain([measure_text_width(&header[i])])
                .max()
                .unwrap_or(0)
                .max(1)
        })
        .collect();
    let mut widths = Vec::new();
    let mut left = room;
    for i in 0..header.len() {
        let natural = natural[i].min(MAX_WIDTH);
        let gap = if widths.is_empty() { 0 } else { 3 };
        let fits = left.saturating_sub(gap);
        if natural <= fits {
            widths.push(natural);
            left = fits - natural;
        } else {
            if fits >= MIN_WIDTH.min(natural) || widths.is_empty() {
                widths.push(fits.max(1));
            }
            return widths;
        }
    }
    // Every column fits: what is left goes to the ones cut to `MAX_WIDTH`.
    for (width, natural) in widths.iter_mut().zip(&natural) {
        let more = (natural - *width).min(left);
        *width += more;
        left -= more;
    }
    widths
}

/// `text` cut to `width` columns, with `…` where it was cut.
fn cut(text: &str, width: usize) -> String {
    truncate_str(text, width, "…").into_owned()
}

/// The terminal rows `text` takes at `width` columns, long lines wrapped.
fn rows_of(text: &str, width: usize) -> usize {
    text.lines()
        .map(|line| measure_text_width(line).div_ceil(width).max(1))
        .sum()
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn identities_come_first_in_their_order() {
        let columns = strings(&[
            "backend_start",
            "state",
            "datname",
            "idle_for",
            "pid",
            "query",
            "usename",
        ]);
        let names: Vec<&str> = column_order(&columns)
            .into_iter()
            .map(|i| columns[i].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "pid",
                "usename",
                "datname",
                "idle_for",
                "state",
                "backend_start",
                "query"
            ]
        );
    }

    #[test]
    fn a_wide_table_is_cut_to_the_width_with_a_count_of_what_is_hidden() {
        let columns = strings(&["pid", "usename", "backend_start", "query"]);
        let rows: Vec<Vec<Option<String>>> = (0..25)
            .map(|i| {
                vec![
                    Some(format!("{}", 40000 + i)),
                    Some("a_rather_long_role_name".to_owned()),
                    Some("2026-12-03 10:11:12.123456+00".to_owned()),
                    Some("SELECT ".repeat(30)),
                ]
            })
            .collect();
        let preview = Preview {
            columns: &columns,
            rows: &rows,
            row_count: 30,
        };
        let table = rows_table(&preview, None, 40, 5);
        for line in table.lines() {
            assert!(measure_text_width(line) <= 40, "{line:?} in\n{table}");
        }
        assert!(table.starts_with("\nActs on 30 rows:\n  pid  "), "{table}");
        assert!(table.contains("  … 25 more\n"), "{table}");
        assert_eq!(table.lines().filter(|l| l.contains("4000")).count(), 5);
    }

    #[test]
    fn long_sql_is_folded_to_its_first_lines() {
        let sql = format!(
            "SELECT 1\nFROM t\nWHERE x = ANY({})\nAND y\nAND z",
            "9".repeat(900)
        );
        let folded = folded_sql(&sql, 80);
        assert_eq!(
            folded.lines().next(),
            Some("SQL that will run (first 3 of 5 lines; s shows it all):")
        );
        assert_eq!(folded.lines().count(), 4);
        assert!(folded.lines().all(|l| measure_text_width(l) <= 80));
        assert_eq!(
            folded_sql("SELECT 1", 80),
            "SQL that will run:\n    SELECT 1\n"
        );
    }
}
