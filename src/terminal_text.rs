//! Text from the server or the playbook, made harmless before it is printed at a terminal.
//!
//! A row value, a server's error message or a step's title can hold characters a terminal
//! obeys instead of showing: ESC starts sequences that retitle the window, clear the screen
//! or recolour what follows; U+009B is the same CSI in one character; a carriage return lets
//! the rest of a line overwrite its start; bidi controls reorder text so that the operator
//! reads something other than what is there. At a prompt that asks to approve an action,
//! any of these could hide what the action will do. So every such character is shown
//! escaped, in Rust's notation (`\x1b`, `\r`, `\u{9b}`, `\u{202e}`), and never emitted raw.
//!
//! Backslashes stay as they are: SQL is full of them, and the point is that nothing is
//! hidden, not that the escaping can be undone. Files (reports, journals) and data on
//! stdout keep the text exactly: this is for what a person reads at a terminal.

use std::borrow::Cow;
use std::fmt::Write as _;

/// A block of lines (SQL, a description, an error with its detail): line breaks and tabs
/// stay, every other control character is escaped.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    escape(text, |c| matches!(c, '\n' | '\t'))
}

/// Text that must stay on one line (a table cell, a title, a name): line breaks and tabs
/// are escaped too.
pub fn for_terminal_line(text: &str) -> Cow<'_, str> {
    escape(text, |_| false)
}

fn escape(text: &str, kept: impl Fn(char) -> bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| is_control(c) && !kept(c);
    let Some(first) = text.find(unsafe_char) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        if !unsafe_char(c) {
            out.push(c);
            continue;
        }
        let _ = match c {
            '\n' => write!(out, "\\n"),
            '\r' => write!(out, "\\r"),
            '\t' => write!(out, "\\t"),
            '\0'..='\x1f' | '\x7f' => write!(out, "\\x{:02x}", u32::from(c)),
            _ => write!(out, "\\u{{{:x}}}", u32::from(c)),
        };
    }
    Cow::Owned(out)
}

/// C0 controls, DEL, C1 controls, and the bidi controls that reorder what a line shows
/// (embeddings, overrides, isolates, and the implicit marks).
fn is_control(c: char) -> bool {
    matches!(
        c,
        '\0'..='\x1f'
            | '\x7f'..='\u{9f}'
            | '\u{61c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let text = "SELECT 'é', E'\\\\x41' -- ünïcode ✓";
        assert!(matches!(for_terminal(text), Cow::Borrowed(t) if t == text));
        assert!(matches!(for_terminal_line(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn escape_sequences_are_shown_not_obeyed() {
        assert_eq!(
            for_terminal("\x1b]0;pwned\x07\x1b[2J\x1b[31mred"),
            "\\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mred"
        );
        assert_eq!(for_terminal("a\u{9b}31m b\u{85}c"), "a\\u{9b}31m b\\u{85}c");
        assert_eq!(for_terminal("\0\x08\x7f"), "\\x00\\x08\\x7f");
    }

    #[test]
    fn a_carriage_return_cannot_overwrite_the_line() {
        assert_eq!(for_terminal("safe\rDROP"), "safe\\rDROP");
        assert_eq!(for_terminal("a\r\nb"), "a\\r\nb");
    }

    #[test]
    fn bidi_controls_cannot_reorder_the_line() {
        assert_eq!(
            for_terminal("a\u{202e}b\u{2066}c\u{2069}\u{200f}\u{61c}"),
            "a\\u{202e}b\\u{2066}c\\u{2069}\\u{200f}\\u{61c}"
        );
        // Right-to-left text itself is not a control.
        assert_eq!(for_terminal("שלום"), "שלום");
    }

    #[test]
    fn blocks_keep_their_lines_and_single_lines_do_not() {
        let text = "SELECT 1\n\tFROM t\x1b[A";
        assert_eq!(for_terminal(text), "SELECT 1\n\tFROM t\\x1b[A");
        assert_eq!(for_terminal_line(text), "SELECT 1\\n\\tFROM t\\x1b[A");
    }
}
