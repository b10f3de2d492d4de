//! A menu whose highlight never wraps around: at the approval prompt, one key too many must
//! not move "abort the run" onto "approve".
//!
//! dialoguer's `Select` wraps (Down on the last item highlights the first), so Down, Down,
//! Enter from "skip this step" approved the action. Here Up on the first item and Down on the
//! last do nothing, and the answer is the item highlighted when Enter is pressed. It draws what
//! `Select` drew (the prompt, the items with `>` before the highlighted one, then
//! `prompt: answer` in their place), so the screen reads as before.

use std::io;

use dialoguer::console::{Key, Term, measure_text_width};

use super::tty;

/// A question and its answers.
pub struct Menu<'a> {
    pub prompt: &'a str,
    pub items: &'a [&'a str],
    /// Highlighted when the menu opens: what Enter alone chooses.
    pub default: usize,
    /// What Esc (or `q`) chooses.
    pub on_escape: usize,
}

/// What a key does to the menu.
#[derive(Debug, PartialEq, Eq)]
enum Press {
    Move(usize),
    Choose(usize),
    Nothing,
}

impl Menu<'_> {
    /// The chosen item, or `None` when there is no terminal, it failed, or Ctrl-C was typed
    /// (console raises SIGINT for it, as the terminal would).
    pub fn choose(&self, term: &Term) -> Option<usize> {
        if !term.is_term() || self.items.is_empty() {
            return None;
        }
        let mode = tty::Mode::save();
        if let Some(mode) = &mode {
            mode.raw();
        }
        let answer = self.interact(term);
        if let Some(mode) = &mode {
            mode.restore();
        }
        let _ = term.show_cursor();
        answer.ok()
    }

    fn interact(&self, term: &Term) -> io::Result<usize> {
        let last = self.items.len() - 1;
        let prompt = format!("{}:", self.prompt);
        term.hide_cursor()?;
        term.write_line(&prompt)?;
        let mut highlighted = self.default.min(last);
        self.draw(term, highlighted)?;
        loop {
            match press(
                &term.read_key()?,
                highlighted,
                last,
                self.on_escape.min(last),
            ) {
                Press::Move(to) => {
                    term.clear_last_lines(self.height(term))?;
                    highlighted = to;
                    self.draw(term, highlighted)?;
                }
                Press::Choose(chosen) => {
                    term.clear_last_lines(rows(term, &prompt) + self.height(term))?;
                    term.write_line(&format!("{}: {}", self.prompt, self.items[chosen]))?;
                    return Ok(chosen);
                }
                Press::Nothing => {}
            }
        }
    }

    fn draw(&self, term: &Term, highlighted: usize) -> io::Result<()> {
        for line in self.lines(highlighted) {
            term.write_line(&line)?;
        }
        term.flush()
    }

    fn lines(&self, highlighted: usize) -> Vec<String> {
        self.items
            .iter()
            .enumerate()
            .map(|(i, item)| format!("{} {item}", if i == highlighted { ">" } else { " " }))
            .collect()
    }

    /// The terminal rows the items take, long ones wrapped.
    fn height(&self, term: &Term) -> usize {
        self.lines(0).iter().map(|line| rows(term, line)).sum()
    }
}

/// Up and Down stop at the ends; Enter chooses the highlighted item, Esc the escape item.
fn press(key: &Key, highlighted: usize, last: usize, on_escape: usize) -> Press {
    match key {
        Key::ArrowUp | Key::BackTab | Key::Char('k') if highlighted > 0 => {
            Press::Move(highlighted - 1)
        }
        Key::ArrowDown | Key::Tab | Key::Char('j') if highlighted < last => {
            Press::Move(highlighted + 1)
        }
        Key::Enter => Press::Choose(highlighted),
        Key::Escape | Key::Char('q') => Press::Choose(on_escape),
        _ => Press::Nothing,
    }
}

/// How many terminal rows `line` takes.
fn rows(term: &Term, line: &str) -> usize {
    let columns = usize::from(term.size().1).max(1);
    measure_text_width(line).div_ceil(columns).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// approve, skip this step, abort the run; Esc aborts.
    fn after(keys: &[Key], from: usize) -> Press {
        let mut highlighted = from;
        for key in keys {
            match press(key, highlighted, 2, 2) {
                Press::Move(to) => highlighted = to,
                chosen @ Press::Choose(_) => return chosen,
                Press::Nothing => {}
            }
        }
        Press::Nothing
    }

    #[test]
    fn down_stops_at_the_last_item() {
        assert_eq!(
            after(&[Key::ArrowDown, Key::ArrowDown, Key::Enter], 1),
            Press::Choose(2)
        );
        let mut many: Vec<Key> = (0..5)
            .flat_map(|_| [Key::ArrowDown, Key::Char('j'), Key::Tab])
            .collect();
        many.push(Key::Enter);
        assert_eq!(after(&many, 1), Press::Choose(2));
        assert_eq!(press(&Key::ArrowDown, 2, 2, 2), Press::Nothing);
    }

    #[test]
    fn up_stops_at_the_first_item() {
        assert_eq!(after(&[Key::ArrowUp, Key::Enter], 1), Press::Choose(0));
        assert_eq!(
            after(&[Key::ArrowUp, Key::ArrowUp, Key::Char('k'), Key::Enter], 1),
            Press::Choose(0)
        );
        assert_eq!(press(&Key::ArrowUp, 0, 2, 2), Press::Nothing);
        assert_eq!(press(&Key::BackTab, 0, 2, 2), Press::Nothing);
    }

    #[test]
    fn enter_chooses_the_default_and_escape_the_escape_item() {
        assert_eq!(after(&[Key::Enter], 1), Press::Choose(1));
        assert_eq!(after(&[Key::ArrowUp, Key::Escape], 1), Press::Choose(2));
        assert_eq!(after(&[Key::Char('q')], 0), Press::Choose(2));
    }

    #[test]
    fn other_keys_do_nothing() {
        for key in [
            Key::Char(' '),
            Key::Char('y'),
            Key::Home,
            Key::End,
            Key::ArrowLeft,
            Key::Unknown,
        ] {
            assert_eq!(press(&key, 1, 2, 2), Press::Nothing, "{key:?}");
        }
    }
}
