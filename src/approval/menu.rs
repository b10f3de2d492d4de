//! A menu whose highlight never wraps around: at the approval prompt, one key too many must
//! not move "abort the run" onto "approve".
//!
//! dialoguer's `Select` wraps (Down on the last item highlights the first), so Down, Down,
//! Enter from "skip this step" approved the action. Here Up on the first item and Down on the
//! last do nothing, and the answer is the item highlighted when Enter is pressed. It draws what
//! `Select` drew (the prompt, the items with `>` before the highlighted one, then
//! `prompt: answer` in their place, or `prompt? answer` for a question), with the keys it
//! takes on the prompt's line. Esc chooses the escape item (skip, never abort), other keys
//! the caller names come back as [`Answer::Key`], and a Ctrl-C clears the menu to one line
//! saying so before it is raised as SIGINT, so nothing is left highlighted.
//!
//! A signal from outside (`kill -INT`, a supervisor's SIGTERM) ends the menu the same way: it
//! waits for a key only [`POLL`] at a time and looks at the run's interruption in between,
//! and it holds the terminal ([`crate::interrupt::hold_terminal`]) while it is drawn, so the
//! signal's notice is written after the menu's one line, never into the lines it clears.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dialoguer::console::{Key, Term, measure_text_width};

use super::tty;

/// How long the menu waits for a key before it looks at the run's interruption again.
const POLL: Duration = Duration::from_millis(50);

/// A question and its answers.
pub struct Menu<'a> {
    pub prompt: &'a str,
    pub items: &'a [&'a str],
    /// Highlighted when the menu opens: what Enter alone chooses.
    pub default: usize,
    /// What Esc (or `q`) chooses.
    pub on_escape: usize,
    /// The keys it takes, shown on the prompt's line.
    pub hints: &'a str,
    /// Other keys the caller acts on (`s` for the SQL): the menu closes and says which.
    pub keys: &'a [char],
    /// Set once the run is interrupted (by a signal): the menu closes, answering nothing.
    pub interrupted: &'a AtomicBool,
}

/// What the operator answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Item(usize),
    Key(char),
}

/// How the menu closed without an answer.
#[derive(Debug, PartialEq, Eq)]
enum Unanswered {
    /// Ctrl-C typed at the menu: read as a key, it is raised once the menu is cleared.
    CtrlC,
    /// The run was interrupted from outside: the signal already came.
    Signal,
}

/// What a key does to the menu.
#[derive(Debug, PartialEq, Eq)]
enum Press {
    Move(usize),
    Choose(usize),
    Key(char),
    /// Ctrl-C typed.
    Interrupt,
    /// No key: the run was interrupted from outside.
    Signalled,
    Nothing,
}

impl Menu<'_> {
    /// The chosen item (or key), or `None` when there is no terminal, it failed, Ctrl-C was
    /// typed (raised as SIGINT once the menu is cleared, as the terminal would) or the run was
    /// interrupted meanwhile.
    pub fn choose(&self, term: &Term) -> Option<Answer> {
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
        match answer {
            Ok(Ok(answer)) => Some(answer),
            Ok(Err(Unanswered::CtrlC)) => {
                // SAFETY: raise has no memory effects; the run's handler takes the signal.
                unsafe { libc::raise(libc::SIGINT) };
                None
            }
            Ok(Err(Unanswered::Signal)) | Err(_) => None,
        }
    }

    /// The answer, or why there is none, once the menu is replaced by its answer's line.
    fn interact(&self, term: &Term) -> io::Result<Result<Answer, Unanswered>> {
        let _terminal = crate::interrupt::hold_terminal();
        let last = self.items.len() - 1;
        let head = self.head(term);
        term.hide_cursor()?;
        for line in &head {
            term.write_line(line)?;
        }
        let drawn = head.iter().map(|line| rows(term, line)).sum::<usize>();
        let mut highlighted = self.default.min(last);
        self.draw(term, highlighted)?;
        loop {
            let pressed = match self.key(term)? {
                Some(key) => press(&key, highlighted, last, self.on_escape.min(last)),
                None => Press::Signalled,
            };
            let answer = match pressed {
                Press::Move(to) => {
                    term.clear_last_lines(self.height(term))?;
                    highlighted = to;
                    self.draw(term, highlighted)?;
                    continue;
                }
                Press::Nothing => continue,
                Press::Key(key) if self.keys.contains(&key) => Ok(Answer::Key(key)),
                Press::Key(_) => continue,
                Press::Choose(chosen) => Ok(Answer::Item(chosen)),
                Press::Interrupt => Err(Unanswered::CtrlC),
                Press::Signalled => Err(Unanswered::Signal),
            };
            term.clear_last_lines(drawn + self.height(term))?;
            let said = match &answer {
                Ok(Answer::Item(chosen)) => self.items[*chosen],
                Ok(Answer::Key(_)) => "…",
                Err(Unanswered::CtrlC) => "interrupted (Ctrl-C)",
                Err(Unanswered::Signal) => "interrupted",
            };
            term.write_line(&answered(self.prompt, said))?;
            term.flush()?;
            return Ok(answer);
        }
    }

    /// The next key, or `None` once the run is interrupted.
    fn key(&self, term: &Term) -> io::Result<Option<Key>> {
        loop {
            if self.interrupted.load(Ordering::SeqCst) {
                return Ok(None);
            }
            if tty::readable(POLL) {
                return term.read_key_raw().map(Some);
            }
        }
    }

    /// The prompt with its key hints on one line when they fit, else on a line of their own.
    fn head(&self, term: &Term) -> Vec<String> {
        if self.hints.is_empty() {
            return vec![answered(self.prompt, "").trim_end().to_owned()];
        }
        let one = format!("{} — {}", self.prompt, self.hints);
        if measure_text_width(&one) <= usize::from(term.size().1) {
            vec![one]
        } else {
            vec![self.prompt.to_owned(), format!("  {}", self.hints)]
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

/// `prompt: answer`, or `prompt? answer` for a question.
fn answered(prompt: &str, answer: &str) -> String {
    if prompt.ends_with('?') {
        format!("{prompt} {answer}")
    } else {
        format!("{prompt}: {answer}")
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
        Key::CtrlC => Press::Interrupt,
        Key::Char(c) => Press::Key(*c),
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

    /// approve, skip this step, abort the run; Esc skips.
    fn after(keys: &[Key], from: usize) -> Press {
        let mut highlighted = from;
        for key in keys {
            match press(key, highlighted, 2, 1) {
                Press::Move(to) => highlighted = to,
                Press::Nothing | Press::Key(_) => {}
                other => return other,
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
        assert_eq!(after(&[Key::ArrowUp, Key::Escape], 1), Press::Choose(1));
        assert_eq!(after(&[Key::ArrowDown, Key::Escape], 1), Press::Choose(1));
        assert_eq!(after(&[Key::Char('q')], 0), Press::Choose(1));
    }

    #[test]
    fn other_keys_do_nothing() {
        assert_eq!(press(&Key::Char('y'), 1, 2, 2), Press::Key('y'));
        assert_eq!(press(&Key::CtrlC, 1, 2, 2), Press::Interrupt);
        for key in [Key::Home, Key::End, Key::ArrowLeft, Key::Unknown] {
            assert_eq!(press(&key, 1, 2, 2), Press::Nothing, "{key:?}");
        }
    }
}
